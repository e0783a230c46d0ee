//! The admin API's OpenAPI document as tools take it: every admin route in it and served,
//! `openapi-spec-validator` accepts it, `openapi-python-client` generates a client with an
//! operation for each route, and that client works against the server. `/v1/docs` shows it
//! without any other host.

use crate::common::{run_browser, Backend, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// Sign-in: the one admin route open without a token (its password is the credential).
pub const SIGN_IN: (&str, &str) = ("post", "/v1/sign-in");

/// Every admin route, as an operator reads them in docs/admin-api.md. A route served but missing
/// here or in the document fails `every_admin_route_is_documented_and_protected`.
pub const ADMIN_ROUTES: &[(&str, &str)] = &[
    ("get", "/v1/programs"),
    ("post", "/v1/programs"),
    ("get", "/v1/programs/{id}"),
    ("put", "/v1/programs/{id}"),
    ("get", "/v1/programs/{id}/analytics"),
    ("get", "/v1/programs/{id}/templates"),
    ("put", "/v1/programs/{id}/templates/{name}/{language}"),
    ("delete", "/v1/programs/{id}/templates/{name}/{language}"),
    ("get", "/v1/programs/{id}/liability/export.csv"),
    ("get", "/v1/programs/{id}/liability/export.xlsx"),
    ("get", "/v1/programs/{id}/offers"),
    ("post", "/v1/programs/{id}/offers"),
    ("post", "/v1/programs/{id}/events"),
    ("get", "/v1/programs/{id}/social"),
    ("put", "/v1/programs/{id}/social"),
    ("get", "/v1/offers/{id}/versions"),
    ("get", "/v1/offers/{id}/explain"),
    ("get", "/v1/customers/{id}/counters"),
    ("get", "/v1/merchants"),
    ("post", "/v1/merchants"),
    ("get", "/v1/merchants/{id}"),
    ("put", "/v1/merchants/{id}"),
    ("get", "/v1/merchants/{id}/credentials"),
    ("post", "/v1/merchants/{id}/credentials"),
    ("post", "/v1/merchants/{id}/webhook-secret"),
    ("get", "/v1/customers"),
    ("get", "/v1/customers/export.csv"),
    ("get", "/v1/customers/export.xlsx"),
    ("post", "/v1/customers"),
    ("get", "/v1/customers/{id}"),
    ("patch", "/v1/customers/{id}"),
    ("post", "/v1/customers/{id}/block"),
    ("post", "/v1/customers/{id}/unblock"),
    ("post", "/v1/customers/{id}/anonymise"),
    ("post", "/v1/customers/merge"),
    ("put", "/v1/customers/{id}/pin"),
    ("get", "/v1/customers/{id}/balances"),
    ("get", "/v1/customers/{id}/lots"),
    ("get", "/v1/customers/{id}/identities"),
    ("get", "/v1/cards"),
    ("post", "/v1/cards"),
    ("get", "/v1/cards/{id}"),
    ("get", "/v1/operations"),
    ("get", "/v1/operations/export.csv"),
    ("get", "/v1/operations/export.xlsx"),
    ("post", "/v1/operations"),
    ("get", "/v1/operations/{id}"),
    ("post", "/v1/operations/{id}/confirm"),
    ("post", "/v1/operations/{id}/void"),
    ("post", "/v1/operations/{id}/reverse"),
    ("get", "/v1/ledger/audit"),
    ("get", "/v1/messages"),
    ("get", "/v1/messages/queues"),
    ("get", "/v1/messages/{id}"),
    ("get", "/v1/messages/{id}/attempts"),
    ("post", "/v1/messages/{id}/resend"),
    ("get", "/v1/adjustments"),
    ("get", "/v1/adjustments/{id}"),
    ("post", "/v1/adjustments/{id}/approve"),
    ("post", "/v1/adjustments/{id}/reject"),
    ("post", "/v1/sign-in"),
    ("get", "/v1/me"),
    ("post", "/v1/me/totp"),
    ("post", "/v1/me/totp/confirm"),
    ("get", "/v1/me/tokens"),
    ("delete", "/v1/me/tokens/{id}"),
    ("get", "/v1/operators"),
    ("post", "/v1/operators"),
    ("get", "/v1/operators/{id}"),
    ("put", "/v1/operators/{id}"),
    ("get", "/v1/operators/{id}/tokens"),
    ("delete", "/v1/operators/{id}/tokens/{token_id}"),
    ("get", "/v1/audit"),
    ("get", "/v1/ecommpay/projects"),
    ("post", "/v1/ecommpay/projects"),
    ("get", "/v1/ecommpay/projects/{id}"),
    ("put", "/v1/ecommpay/projects/{id}"),
    ("post", "/v1/ecommpay/projects/{id}/secret"),
    ("post", "/v1/ecommpay/projects/{id}/disable"),
    ("post", "/v1/ecommpay/terminals"),
    ("get", "/v1/ecommpay/payments"),
    ("get", "/v1/ecommpay/payments/{id}"),
    ("get", "/v1/ecommpay/payments/{id}/callbacks"),
    ("get", "/v1/ecommpay/payments/export.csv"),
    ("get", "/v1/ecommpay/payments/export.xlsx"),
    ("get", "/v1/loymax/applications"),
    ("post", "/v1/loymax/applications"),
    ("post", "/v1/loymax/applications/{client_id}/secret"),
    ("post", "/v1/loymax/applications/{client_id}/disable"),
    ("post", "/v1/loymax/applications/{client_id}/tokens"),
    ("post", "/v1/loymax/notifications"),
    ("put", "/v1/loymax/cards/{card_id}/secrets"),
    ("post", "/v1/loymax/batch-keys"),
    ("get", "/v1/kupikupi/platforms"),
    ("post", "/v1/kupikupi/platforms"),
    ("get", "/v1/kupikupi/platforms/{uid}"),
    ("put", "/v1/kupikupi/platforms/{uid}"),
    ("post", "/v1/kupikupi/platforms/{uid}/keys"),
    ("post", "/v1/kupikupi/platforms/{uid}/disable"),
];

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// (method, path, operation) of every operation in the document.
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((method.to_string(), path.clone(), operation.clone()));
            }
        }
    }
    found
}

/// A path with each `{parameter}` filled in: a number, or a text for a string parameter.
pub fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{id}" | "{card_id}" => "1",
            s if s.starts_with('{') => "nothing",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_admin_route_is_documented_and_protected() {
    let app = TestApp::start(Backend::Sqlite, true).await;
    let response = app
        .http
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the document needs no token"
    );
    let document: Value = response.json().await.unwrap();
    let documented: BTreeSet<(String, String)> = operations(&document)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let expected: BTreeSet<(String, String)> = ADMIN_ROUTES
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(
        documented
            .symmetric_difference(&expected)
            .collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented and expected admin routes differ"
    );
    assert!(document["components"]["securitySchemes"]["admin"]["scheme"] == "bearer");

    let mut ids = BTreeSet::new();
    for (method, path, operation) in operations(&document) {
        let id = operation["operationId"].as_str().expect("an operationId");
        assert!(ids.insert(id.to_string()), "{id} repeated");
        let tags = operation["tags"].as_array().expect("tags");
        assert_eq!(tags.len(), 1, "{method} {path}: {tags:?}");
        let area = tags[0].as_str().unwrap();
        assert!(id.starts_with(&format!("{area}_")), "{id} not in {area}");
        assert!(!area.contains(':'), "{area}");
        if (method.as_str(), path.as_str()) == SIGN_IN {
            assert_eq!(
                operation["security"],
                Value::Array(vec![]),
                "sign-in is open"
            );
            continue;
        }
        assert_eq!(operation["security"][0]["admin"], Value::Array(vec![]));
        let unauthorized = &operation["responses"]["401"]["content"]["application/json"];
        assert_eq!(
            unauthorized["schema"]["$ref"], "#/components/schemas/ErrorBody",
            "{method} {path}"
        );
        for name in path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        {
            let declared = operation["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true)
            });
            assert!(declared, "{method} {path}: {{{name}}} undeclared");
        }
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] == "path" {
                let name = parameter["name"].as_str().unwrap();
                assert!(
                    path.contains(&format!("{{{name}}}")),
                    "{method} {path}: {name}"
                );
            }
        }

        // Served, and refused without the admin token before anything else.
        let request = app.http.request(
            method.to_uppercase().parse().unwrap(),
            app.url(&concrete(&path)),
        );
        let refused = request.send().await.unwrap();
        assert_eq!(
            refused.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized", "{method} {path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_admin_paths_and_methods_answer_in_the_native_format() {
    let app = TestApp::start(Backend::Sqlite, false).await;
    let (status, body) = app.get("/v1/nothing/here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let response = app
        .http
        .delete(app.url("/v1/programs"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    app.stop().await;
}

/// Runs a program, panicking with its output unless it succeeds.
fn run(command: &mut std::process::Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?} runs (./scripts/test installs it): {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

both_stores!(the_validator_accepts_the_document_and_its_generated_client_works);
async fn the_validator_accepts_the_document_and_its_generated_client_works(app: TestApp) {
    let (_, document) = app.get("/v1/openapi.json").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, document.to_string()).unwrap();
    run(std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file));

    let client = dir.path().join("client");
    // The workbook export is a file download to the client, like any binary answer.
    let config = dir.path().join("client.json");
    let xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    let overrides =
        serde_json::json!({"content_type_overrides": {xlsx: "application/octet-stream"}});
    std::fs::write(&config, overrides.to_string()).unwrap();
    run(std::process::Command::new("openapi-python-client")
        .args([
            "generate",
            "--meta",
            "none",
            "--fail-on-warning",
            "--config",
        ])
        .arg(&config)
        .arg("--path")
        .arg(&file)
        .arg("--output-path")
        .arg(&client));
    // One module per operation, under its tag: api/<area>/<operationId>.py.
    for (method, path, operation) in operations(&document) {
        let area = operation["tags"][0].as_str().unwrap();
        let id = operation["operationId"].as_str().unwrap();
        let module = client.join("api").join(area).join(format!("{id}.py"));
        assert!(
            Path::new(&module).exists(),
            "{method} {path}: no {}",
            module.display()
        );
    }

    // Off the runtime's thread: the server answering the client runs on it.
    let mut client_run = std::process::Command::new("python3");
    client_run
        .arg("-c")
        .arg(include_str!("openapi_client.py"))
        .arg(dir.path())
        .arg(&app.base)
        .arg(ADMIN_TOKEN);
    let out = tokio::task::spawn_blocking(move || run(&mut client_run))
        .await
        .unwrap();
    assert!(out.contains("client ok"), "{out}");
    app.stop().await;
}

#[tokio::test]
async fn the_reference_page_loads_from_kopilka_alone() {
    let app = TestApp::start(Backend::Sqlite, false).await;
    let page = app.http.get(app.url("/v1/docs")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.starts_with("default-src 'self'"), "{policy}");
    let html = page.text().await.unwrap();
    for attribute in ["src=\"", "href=\""] {
        for (at, _) in html.match_indices(attribute) {
            let url = &html[at + attribute.len()..];
            let shown: String = url.chars().take(60).collect();
            assert!(url.starts_with('/'), "an external asset: {shown}");
        }
    }
    for (asset, kind) in [
        ("/v1/docs/swagger-ui-bundle.js", "text/javascript"),
        ("/v1/docs/init.js", "text/javascript"),
        ("/v1/docs/swagger-ui.css", "text/css"),
    ] {
        assert!(html.contains(asset), "{asset}");
        let response = app.http.get(app.url(asset)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(content_type.starts_with(kind), "{asset}: {content_type}");
    }
    // In Chromium: every operation rendered, no request to another host.
    run_browser("api-docs.mjs", &app.base, &[]).await;
    app.stop().await;
}
