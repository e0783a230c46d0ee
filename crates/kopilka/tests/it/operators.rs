//! Operators, roles, tokens, TOTP, the audit log and approved adjustments (docs/operators.md):
//! the role matrix over every admin route, sign-in with and without a second factor, replays
//! and throttles refused, revocation at once (across two processes on PostgreSQL), audit rows
//! with before and after and no secret, and the approval of manual adjustments.

use crate::common::process::{postgres_schema, Server};
use crate::common::{answer, Backend, TestApp, ADMIN_TOKEN};
use crate::openapi::{ADMIN_ROUTES, SIGN_IN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery";

/// A request with `token` (none: no header), from `client` when the test runs behind a proxy.
async fn send(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.http.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    answer(request.send().await.expect("request")).await
}

/// Creates an operator through the bootstrap token and answers its id.
async fn create_operator(app: &TestApp, login: &str, role: &str) -> i64 {
    let (status, operator) = app
        .post(
            "/v1/operators",
            json!({"login": login, "display_name": login, "role": role, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{operator}");
    assert_eq!(operator["role"], role);
    assert!(operator.get("password").is_none() && operator.get("password_hash").is_none());
    operator["id"].as_i64().unwrap()
}

async fn sign_in_with(app: &TestApp, body: Value) -> (StatusCode, Value) {
    send(app, None, Method::POST, "/v1/sign-in", Some(body)).await
}

/// Signs `login` in and answers its token.
async fn sign_in(app: &TestApp, login: &str) -> String {
    let (status, signed_in) =
        sign_in_with(app, json!({"login": login, "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::CREATED, "{signed_in}");
    signed_in["token"].as_str().unwrap().to_string()
}

/// What each role may do, written from the words rather than from the server's rule.
fn allowed(role: &str, method: &str, path: &str) -> bool {
    let area = path.trim_start_matches("/v1/").split('/').next().unwrap();
    match (role, area) {
        (_, "me") => true,
        ("administrator", _) => true,
        (_, "operators") => false,
        ("program_manager", _) => true,
        (_, _) if path.contains("/export.") => role == "finance",
        (_, _) if method == "get" => true,
        ("support", _) => path.ends_with("/resend"),
        _ => false,
    }
}

/// A concrete path no entity has: refused or allowed, nothing changes.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "999999" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

both_stores!(every_admin_route_answers_each_role_as_the_role_table_says);
async fn every_admin_route_answers_each_role_as_the_role_table_says(app: TestApp) {
    let mut tokens = Vec::new();
    for role in ["administrator", "program_manager", "support", "finance"] {
        create_operator(&app, role, role).await;
        tokens.push((role, sign_in(&app, role).await));
    }
    for (method, path) in ADMIN_ROUTES {
        if (*method, *path) == SIGN_IN {
            continue;
        }
        let concrete = concrete(path);
        let http_method: Method = method.to_uppercase().parse().unwrap();
        let body = (*method != "get").then(|| json!({}));
        let (status, refused) = send(
            &app,
            Some("not-a-token"),
            http_method.clone(),
            &concrete,
            body.clone(),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {refused}"
        );
        for (role, token) in &tokens {
            let (status, answer) = send(
                &app,
                Some(token),
                http_method.clone(),
                &concrete,
                body.clone(),
            )
            .await;
            if allowed(role, method, path) {
                assert!(
                    ![StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED].contains(&status)
                        && !status.is_server_error(),
                    "{role} {method} {path}: {status} {answer}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} {method} {path}: {answer}"
                );
                assert_eq!(answer["error"]["code"], "forbidden");
            }
        }
        let (status, answer) = send(&app, Some(ADMIN_TOKEN), http_method, &concrete, body).await;
        assert!(
            ![StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED].contains(&status)
                && !status.is_server_error(),
            "bootstrap {method} {path}: {status} {answer}"
        );
    }
    app.stop().await;
}

/// The code of `secret` (base32) for the time step `step`.
fn code(secret: &str, login: &str, step: i64) -> String {
    kopilka::http::operator::totp(secret, login)
        .unwrap()
        .generate((step * 30) as u64)
}

fn current_step() -> i64 {
    kopilka_store::now_ms() / 30_000
}

both_stores!(sign_in_takes_a_totp_code_once);
async fn sign_in_takes_a_totp_code_once(app: TestApp) {
    create_operator(&app, "anna", "support").await;
    let token = sign_in(&app, "anna").await;
    let (status, me) = send(&app, Some(&token), Method::GET, "/v1/me", None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["operator"]["login"], "anna");
    assert_eq!(me["role"], "support");
    let (_, me) = app.get("/v1/me").await;
    assert_eq!(me["actor"], "bootstrap");
    assert_eq!(me["role"], "administrator");

    let (status, enrolment) = send(&app, Some(&token), Method::POST, "/v1/me/totp", None).await;
    assert_eq!(status, StatusCode::CREATED, "{enrolment}");
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let secret = enrolment["secret"].as_str().unwrap().to_string();
    assert!(uri.contains(&secret));
    // Until a code confirms it, sign-in asks for none.
    sign_in(&app, "anna").await;
    let confirm = |totp: String| {
        send(
            &app,
            Some(&token),
            Method::POST,
            "/v1/me/totp/confirm",
            Some(json!({"totp": totp})),
        )
    };
    let (status, wrong) = confirm("000000".into()).await;
    let step = current_step();
    if code(&secret, "anna", step) != "000000" {
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{wrong}");
    }
    let (status, confirmed) = confirm(code(&secret, "anna", step)).await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    assert_eq!(confirmed["totp_enabled"], true);

    let (status, refused) =
        sign_in_with(&app, json!({"login": "anna", "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["error"]["code"], "totp_required");
    // The confirming code was taken: the same code signs nobody in.
    let used = code(&secret, "anna", step);
    let (status, replayed) = sign_in_with(
        &app,
        json!({"login": "anna", "password": PASSWORD, "totp": used}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{replayed}");
    assert_eq!(replayed["error"]["code"], "wrong_credentials");
    // The next step's code (a clock a little ahead) signs in, once.
    let next = code(&secret, "anna", step + 1);
    let body = json!({"login": "anna", "password": PASSWORD, "totp": next, "token_name": "laptop"});
    let (status, signed_in) = sign_in_with(&app, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{signed_in}");
    assert_eq!(signed_in["token_info"]["name"], "laptop");
    let (status, replayed) = sign_in_with(&app, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{replayed}");
    // A wrong password with the right code is wrong too.
    let (status, _) = sign_in_with(
        &app,
        json!({"login": "anna", "password": "wrong password!", "totp": code(&secret, "anna", step + 1)}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An administrator removes a lost second factor.
    let (_, operators) = app.get("/v1/operators").await;
    let id = operators[0]["id"].as_i64().unwrap();
    let (status, removed) = app
        .send_put(
            &format!("/v1/operators/{id}"),
            &json!({"remove_totp": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(removed["totp_enabled"], false);
    sign_in(&app, "anna").await;
    app.stop().await;
}

both_stores!(
    wrong_sign_ins_wait_by_address_and_the_owner_signs_in_from_another,
    Backend
);
async fn wrong_sign_ins_wait_by_address_and_the_owner_signs_in_from_another(backend: Backend) {
    let app = TestApp::start_with(backend, false, |config| {
        config.trusted_proxies =
            kopilka::config::TrustedProxies::parse_list(["127.0.0.1", "::1"]).unwrap();
    })
    .await;
    create_operator(&app, "boris", "finance").await;
    let attempt = |address: &'static str, password: &'static str| {
        let request = app
            .http
            .post(app.url("/v1/sign-in"))
            .header("x-forwarded-for", address)
            .json(&json!({"login": "boris", "password": password}));
        async move { answer(request.send().await.unwrap()).await }
    };
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(attempt("203.0.113.7", "guess guess guess").await.0);
    }
    assert_eq!(
        statuses[..3],
        [StatusCode::UNAUTHORIZED; 3],
        "three free guesses: {statuses:?}"
    );
    assert!(
        statuses[3..].contains(&StatusCode::TOO_MANY_REQUESTS),
        "then the address waits: {statuses:?}"
    );
    let (status, refused) = attempt("203.0.113.7", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password: {refused}"
    );
    assert_eq!(refused["error"]["code"], "too_many_attempts");
    // The owner, elsewhere, is not locked out.
    let (status, signed_in) = attempt("198.51.100.2", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{signed_in}");
    // An unknown login is answered as a wrong password.
    let (status, unknown) =
        sign_in_with(&app, json!({"login": "nobody", "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown["error"]["code"], "wrong_credentials");
    app.stop().await;
}

both_stores!(a_revoked_token_and_a_disabled_operator_are_refused_at_once);
async fn a_revoked_token_and_a_disabled_operator_are_refused_at_once(app: TestApp) {
    let id = create_operator(&app, "vera", "program_manager").await;
    let (status, short) = sign_in_with(
        &app,
        json!({"login": "vera", "password": PASSWORD, "expires_in_secs": 59}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{short}");
    let asked = kopilka_store::now_ms();
    let (status, expiring) = sign_in_with(
        &app,
        json!({"login": "vera", "password": PASSWORD, "expires_in_secs": 3600, "token_name": "script"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{expiring}");
    let expires_at = expiring["token_info"]["expires_at"].as_i64().unwrap();
    assert!((asked + 3_600_000..asked + 3_660_000).contains(&expires_at));
    let expiring_id = expiring["token_info"]["id"].as_i64().unwrap();
    let (status, _) = app
        .http
        .delete(app.url(&format!("/v1/operators/{id}/tokens/{expiring_id}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT);
    let first = sign_in(&app, "vera").await;
    let second = sign_in(&app, "vera").await;
    let (status, tokens) = send(&app, Some(&first), Method::GET, "/v1/me/tokens", None).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        tokens.as_array().unwrap().len(),
        3,
        "the revoked one listed too"
    );
    assert!(
        !tokens.to_string().contains(&first),
        "a token is shown once"
    );
    assert!(tokens[0]["revoked_at"].is_i64());
    let second_id = tokens[2]["id"].as_i64().unwrap();
    let (status, _) = send(
        &app,
        Some(&first),
        Method::DELETE,
        &format!("/v1/me/tokens/{second_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(&app, Some(&second), Method::GET, "/v1/programs", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(&app, Some(&first), Method::GET, "/v1/programs", None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = app.get(&format!("/v1/operators/{id}/tokens")).await;
    assert!(listed[2]["revoked_at"].is_i64(), "{listed}");
    assert!(listed[1]["last_used_at"].is_i64(), "{listed}");

    let (status, _) = app
        .send_put(&format!("/v1/operators/{id}"), &json!({"disabled": true}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(&app, Some(&first), Method::GET, "/v1/programs", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = sign_in_with(&app, json!({"login": "vera", "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // An administrator revokes any operator's token.
    app.send_put(&format!("/v1/operators/{id}"), &json!({"disabled": false}))
        .await;
    let third = sign_in(&app, "vera").await;
    let (_, listed) = app.get(&format!("/v1/operators/{id}/tokens")).await;
    let third_id = listed[3]["id"].as_i64().unwrap();
    let response = app
        .http
        .delete(app.url(&format!("/v1/operators/{id}/tokens/{third_id}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _) = send(&app, Some(&third), Method::GET, "/v1/programs", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn a_token_revoked_on_one_process_is_refused_by_the_other() {
    let (url, _, store) = postgres_schema("ops").await;
    store.close().await;
    let dir = tempfile::tempdir().unwrap();
    let one = Server::start(&url, dir.path()).await;
    let other = Server::start(&url, dir.path()).await;
    let (status, _) = one
        .post(
            "/v1/operators",
            json!({"login": "gleb", "display_name": "Gleb", "role": "support", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let http = reqwest::Client::new();
    let (status, signed_in) = answer(
        http.post(format!("{}/v1/sign-in", one.base))
            .json(&json!({"login": "gleb", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{signed_in}");
    let token = signed_in["token"].as_str().unwrap();
    let token_id = signed_in["token_info"]["id"].as_i64().unwrap();
    let on_other = || async {
        http.get(format!("{}/v1/programs", other.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(on_other().await, StatusCode::OK);
    let revoked = http
        .delete(format!("{}/v1/me/tokens/{token_id}", one.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(on_other().await, StatusCode::UNAUTHORIZED);
    one.terminate().await;
    other.terminate().await;
}

async fn operate(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    send(app, Some(token), Method::POST, "/v1/operations", Some(body)).await
}

/// The audit rows of `query` (`/v1/audit?…`).
async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, page) = app.get(&format!("/v1/audit?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

both_stores!(the_audit_log_keeps_who_what_before_and_after_and_no_secret);
async fn the_audit_log_keeps_who_what_before_and_after_and_no_secret(app: TestApp) {
    let started = kopilka_store::now_ms();
    let manager_id = create_operator(&app, "dina", "program_manager").await;
    let token = sign_in(&app, "dina").await;
    let (status, program) = send(
        &app,
        Some(&token),
        Method::POST,
        "/v1/programs",
        Some(json!({"code": "audit", "name": "Before"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{program}");
    let program_id = program["id"].as_i64().unwrap();
    let (status, _) = send(
        &app,
        Some(&token),
        Method::PUT,
        &format!("/v1/programs/{program_id}"),
        Some(json!({"code": "audit", "name": "After"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, merchant) = send(
        &app,
        Some(&token),
        Method::POST,
        "/v1/merchants",
        Some(json!({"program_id": program_id, "name": "Shop"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{merchant}");
    let merchant_id = merchant["id"].as_i64().unwrap();
    let (status, credential) = send(
        &app,
        Some(&token),
        Method::POST,
        &format!("/v1/merchants/{merchant_id}/credentials"),
        Some(json!({"protocol": "incust", "login": "shop-login", "secret": "very-secret-shop-password"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{credential}");
    let (status, webhook) = send(
        &app,
        Some(&token),
        Method::POST,
        &format!("/v1/merchants/{merchant_id}/webhook-secret"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{webhook}");
    let webhook_secret = webhook["secret"].as_str().unwrap().to_string();
    // Reads are not audited; exports are.
    send(&app, Some(&token), Method::GET, "/v1/programs", None).await;
    let export = app
        .http
        .get(app.url("/v1/ecommpay/payments/export.csv?status=success"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    // A failed sign-in acts for nobody: no row.
    let (status, _) = sign_in_with(
        &app,
        json!({"login": "dina", "password": "not her password"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let rows = audit(
        &app,
        &format!("entity_kind=programs&entity_id={program_id}"),
    )
    .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (update, create) = (&rows[0], &rows[1]);
    assert_eq!(update["method"], "PUT");
    assert_eq!(update["route"], "/v1/programs/{id}");
    assert_eq!(update["actor"], "operator");
    assert_eq!(update["operator_id"], manager_id);
    assert!(update["token_id"].is_i64());
    assert_eq!(update["status"], 200);
    assert_eq!(update["before"]["name"], "Before");
    assert_eq!(update["after"]["name"], "After");
    assert_eq!(create["method"], "POST");
    assert!(create["before"].is_null());
    assert_eq!(create["after"]["name"], "Before");

    let everything = audit(&app, "limit=500").await;
    let text = serde_json::to_string(&everything).unwrap();
    for secret in [
        PASSWORD,
        "very-secret-shop-password",
        webhook_secret.as_str(),
        token.as_str(),
        ADMIN_TOKEN,
    ] {
        assert!(
            !text.contains(secret),
            "the audit log holds a secret: {text}"
        );
    }
    let bootstrap = audit(&app, "actor=bootstrap").await;
    assert_eq!(bootstrap.len(), 1, "the operator's creation: {bootstrap:?}");
    assert_eq!(bootstrap[0]["request"]["body"]["password"], "[redacted]");
    assert_eq!(bootstrap[0]["after"]["login"], "dina");
    let sign_ins: Vec<&Value> = everything
        .iter()
        .filter(|row| row["route"] == "/v1/sign-in")
        .collect();
    assert_eq!(sign_ins.len(), 1, "the failed one left no row");
    assert_eq!(sign_ins[0]["operator_id"], manager_id);
    let exports: Vec<&Value> = everything
        .iter()
        .filter(|row| row["route"] == "/v1/ecommpay/payments/export.csv")
        .collect();
    assert_eq!(exports.len(), 1, "{text}");
    assert_eq!(exports[0]["request"]["query"]["status"], "success");
    assert!(!everything
        .iter()
        .any(|row| row["method"] == "GET" && row["route"] == "/v1/programs"));

    // Filters and paging.
    let mine = audit(&app, &format!("operator_id={manager_id}")).await;
    assert!(mine.iter().all(|row| row["operator_id"] == manager_id));
    assert_eq!(mine.len(), everything.len() - 1);
    let (_, first) = app.get("/v1/audit?limit=2").await;
    let cursor = first["next_cursor"].as_i64().unwrap();
    let (_, rest) = app
        .get(&format!("/v1/audit?limit=500&cursor={cursor}"))
        .await;
    assert_eq!(
        rest["items"].as_array().unwrap().len(),
        everything.len() - 2
    );
    let started = chrono::DateTime::from_timestamp_millis(started)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    assert!(audit(&app, &format!("to={started}")).await.is_empty());
    assert_eq!(
        audit(&app, &format!("from={started}")).await.len(),
        everything.len()
    );
    for (query, field) in [
        ("from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "to"),
        ("from=1764547200000", "from"),
        ("to=yesterday", "to"),
    ] {
        let (status, refused) = app.get(&format!("/v1/audit?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {refused}");
        assert_eq!(refused["error"]["code"], "invalid_field", "{refused}");
        assert_eq!(refused["error"]["field"], field, "{refused}");
    }
    app.stop().await;
}

both_stores!(a_large_manual_adjustment_waits_for_another_operator);
async fn a_large_manual_adjustment_waits_for_another_operator(app: TestApp) {
    create_operator(&app, "maker", "program_manager").await;
    create_operator(&app, "checker", "program_manager").await;
    create_operator(&app, "helper", "support").await;
    let maker = sign_in(&app, "maker").await;
    let checker = sign_in(&app, "checker").await;
    let helper = sign_in(&app, "helper").await;
    let (status, program) = app
        .post(
            "/v1/programs",
            json!({"code": "adj", "name": "Adj", "settings": {"adjustment_approval_above": "10.00"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{program}");
    let (status, bad) = app
        .post(
            "/v1/programs",
            json!({"code": "adj2", "name": "Adj", "settings": {"adjustment_approval_above": "1.005"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    let (status, customer) = app
        .post(
            "/v1/customers",
            json!({"program_id": program["id"], "opening_balance": "100.00"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{customer}");
    let customer_id = customer["id"].as_i64().unwrap();
    let balance = || async {
        let (_, balances) = app
            .get(&format!("/v1/customers/{customer_id}/balances"))
            .await;
        balances.to_string()
    };

    let (status, missing) = operate(
        &app,
        &maker,
        json!({"kind": "accrue", "customer_id": customer_id, "amount": "5.00"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{missing}");
    assert_eq!(missing["error"]["field"], "reason");
    let (status, small) = operate(
        &app,
        &maker,
        json!({"kind": "accrue", "customer_id": customer_id, "amount": "10.00", "reason": "goodwill"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{small}");
    assert_eq!(small["reason"], "goodwill");
    let (_, shown) = app.get(&format!("/v1/operations/{}", small["id"])).await;
    assert_eq!(shown["reason"], "goodwill");

    let before = balance().await;
    let large = json!({"kind": "withdraw", "customer_id": customer_id, "amount": "60.00",
        "reason": "chargeback", "idempotency_key": "adj-1"});
    let (status, pending) = operate(&app, &maker, large.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{pending}");
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["amount_minor"], 6000);
    assert_eq!(
        balance().await,
        before,
        "a pending adjustment moves nothing"
    );
    let (status, repeated) = operate(&app, &maker, large).await;
    assert_eq!(status, StatusCode::OK, "{repeated}");
    assert_eq!(repeated["id"], pending["id"]);
    assert_eq!(repeated["replayed"], true);
    let (status, conflict) = operate(
        &app,
        &maker,
        json!({"kind": "withdraw", "customer_id": customer_id, "amount": "61.00",
            "reason": "chargeback", "idempotency_key": "adj-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    let id = pending["id"].as_i64().unwrap();
    let approve = format!("/v1/adjustments/{id}/approve");

    let (status, own) = send(&app, Some(&maker), Method::POST, &approve, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{own}");
    let (status, _) = send(&app, Some(&helper), Method::POST, &approve, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "support approves nothing");
    assert_eq!(balance().await, before);

    // Two approvals at once: one operation.
    let (a, b) = tokio::join!(
        send(&app, Some(&checker), Method::POST, &approve, None),
        send(&app, Some(ADMIN_TOKEN), Method::POST, &approve, None)
    );
    assert_eq!(a.0, StatusCode::OK, "{}", a.1);
    assert_eq!(b.0, StatusCode::OK, "{}", b.1);
    assert_eq!(a.1["operation_id"], b.1["operation_id"]);
    assert_eq!(a.1["status"], "approved");
    let operation_id = a.1["operation_id"].as_i64().unwrap();
    let (_, operation) = app.get(&format!("/v1/operations/{operation_id}")).await;
    assert_eq!(operation["kind"], "withdraw");
    assert_eq!(operation["amount_minor"], 6000);
    assert_eq!(operation["reason"], "chargeback");
    assert_eq!(operation["adjustment_id"], id);
    let (_, balances) = app
        .get(&format!("/v1/customers/{customer_id}/balances"))
        .await;
    assert!(
        balances.to_string().contains("5000"),
        "100 + 10 − 60 = 50: {balances}"
    );
    let (status, again) = send(&app, Some(&checker), Method::POST, &approve, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["operation_id"], operation_id);
    let (status, _) = send(
        &app,
        Some(&checker),
        Method::POST,
        &format!("/v1/adjustments/{id}/reject"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Rejected by its maker: nothing moves.
    let (_, other) = operate(
        &app,
        &maker,
        json!({"kind": "accrue", "customer_id": customer_id, "amount": "20.00", "reason": "typo"}),
    )
    .await;
    let after_approval = balance().await;
    let (status, rejected) = send(
        &app,
        Some(&maker),
        Method::POST,
        &format!("/v1/adjustments/{}/reject", other["id"]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(balance().await, after_approval);
    let (_, pending_list) = app.get("/v1/adjustments?status=pending").await;
    assert_eq!(pending_list["items"], json!([]));

    let approvals = audit(&app, &format!("entity_kind=adjustments&entity_id={id}")).await;
    assert!(approvals.len() >= 3, "{approvals:?}");
    assert!(approvals.iter().any(|row| row["status"] == 403));
    assert!(approvals
        .iter()
        .any(|row| row["status"] == 200 && row["after"]["status"] == "approved"));
    let (status, ledger) = app.get("/v1/ledger/audit").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ledger["mismatched_accounts"], json!([]));
    app.stop().await;
}

both_stores!(operators_limited_to_programs_see_and_change_only_theirs);
/// Each role limited to a second program: its program's customers, operations, exports and
/// analytics as the role allows, lists filtered to it, another program's entities not found
/// (404, not 403: their ids do not leak), global routes refused; the audit row names the scope.
async fn operators_limited_to_programs_see_and_change_only_theirs(app: TestApp) {
    let (_, first) = app.get("/v1/programs/1").await;
    let (status, second) = app
        .post(
            "/v1/programs",
            json!({"code": "second", "name": "Second", "rules": first["rules"], "settings": first["settings"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let (theirs, other) = (second["id"].as_i64().unwrap(), 1);
    let customer_of = |program: i64, phone: &str| {
        app.create_customer(json!({"program_id": program, "phone": phone}))
    };
    let in_scope = customer_of(theirs, "380675550101").await["id"]
        .as_i64()
        .unwrap();
    let outside = customer_of(other, "380675550102").await["id"]
        .as_i64()
        .unwrap();
    let accrue = |customer: i64| json!({"kind": "accrue", "customer_id": customer, "reason": "test", "amount": "1.00"});
    let their_op = app.create("/v1/operations", accrue(in_scope)).await["id"]
        .as_i64()
        .unwrap();
    let other_op = app.create("/v1/operations", accrue(outside)).await["id"]
        .as_i64()
        .unwrap();

    let (status, refused) = app
        .post(
            "/v1/operators",
            json!({"login": "boss", "display_name": "boss", "role": "administrator", "password": PASSWORD, "program_ids": [theirs]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["field"], "program_ids");

    for role in ["program_manager", "support", "finance"] {
        let login = format!("{role}-limited");
        let (status, created) = app
            .post(
                "/v1/operators",
                json!({"login": login, "display_name": login, "role": role, "password": PASSWORD, "program_ids": [theirs]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["program_ids"], json!([theirs]));
        let token = sign_in(&app, &login).await;
        let get = |path: String| {
            let token = token.clone();
            let app = &app;
            async move { send(app, Some(&token), Method::GET, &path, None).await }
        };
        let (status, programs) = get("/v1/programs".into()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(programs.as_array().unwrap().len(), 1, "{role}: {programs}");
        assert_eq!(programs[0]["id"], theirs);
        for (path, found) in [
            (format!("/v1/programs/{theirs}/analytics"), true),
            (format!("/v1/programs/{other}/analytics"), false),
            (format!("/v1/programs/{other}"), false),
            (format!("/v1/customers/{in_scope}"), true),
            (format!("/v1/customers/{outside}"), false),
            (format!("/v1/customers/{in_scope}/lots"), true),
            (format!("/v1/customers/{outside}/lots"), false),
            (format!("/v1/customers/{in_scope}/identities"), true),
            (format!("/v1/customers/{outside}/identities"), false),
            (format!("/v1/operations/{their_op}"), true),
            (format!("/v1/operations/{other_op}"), false),
            (format!("/v1/customers?program_id={other}"), false),
            (format!("/v1/operations?program_id={other}"), false),
        ] {
            let (status, answer) = get(path.clone()).await;
            let expected = if found {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(status, expected, "{role} {path}: {answer}");
        }
        // A list without a program: the operator's only one.
        for (list, field, value) in [
            ("/v1/customers", "program_id", theirs),
            ("/v1/operations", "customer_id", in_scope),
        ] {
            let (status, page) = get(list.into()).await;
            assert_eq!(status, StatusCode::OK, "{role} {list}: {page}");
            let items = page["items"].as_array().unwrap();
            assert!(!items.is_empty(), "{role} {list}");
            assert!(
                items.iter().all(|item| item[field] == value),
                "{role} {list}: {page}"
            );
        }
        let exports = role != "support";
        for (program, found) in [(theirs, true), (other, false)] {
            let (status, _) = get(format!("/v1/operations/export.csv?program_id={program}")).await;
            let expected = match (exports, found) {
                (false, _) => StatusCode::FORBIDDEN,
                (true, true) => StatusCode::OK,
                (true, false) => StatusCode::NOT_FOUND,
            };
            assert_eq!(status, expected, "{role} export of {program}");
        }
        let (status, _) = get("/v1/audit".into()).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{role}: the audit log is global"
        );

        let changes = role == "program_manager";
        for (customer, found) in [(outside, false), (in_scope, true)] {
            let (status, answer) = send(
                &app,
                Some(&token),
                Method::POST,
                "/v1/operations",
                Some(accrue(customer)),
            )
            .await;
            let expected = match (changes, found) {
                (false, _) => StatusCode::FORBIDDEN,
                (true, true) => StatusCode::CREATED,
                (true, false) => StatusCode::UNPROCESSABLE_ENTITY,
            };
            assert_eq!(status, expected, "{role} accrues to {customer}: {answer}");
            let (status, answer) = send(
                &app,
                Some(&token),
                Method::PATCH,
                &format!("/v1/customers/{customer}"),
                Some(json!({"name": "Renamed"})),
            )
            .await;
            let expected = match (changes, found) {
                (false, _) => StatusCode::FORBIDDEN,
                (true, true) => StatusCode::OK,
                (true, false) => StatusCode::NOT_FOUND,
            };
            assert_eq!(status, expected, "{role} renames {customer}: {answer}");
        }
        if changes {
            let (status, answer) = send(
                &app,
                Some(&token),
                Method::POST,
                "/v1/customers",
                Some(json!({"program_id": other, "phone": "380675550103"})),
            )
            .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
            assert_eq!(answer["error"]["field"], "program_id");
            let id = created["id"].as_i64().unwrap();
            let (_, rows) = app.get(&format!("/v1/audit?operator_id={id}")).await;
            let rows = rows["items"].as_array().unwrap();
            assert!(!rows.is_empty());
            assert!(
                rows.iter()
                    .all(|row| row["request"]["operator_programs"] == json!([theirs])),
                "{rows:?}"
            );
        }
    }
    app.stop().await;
}
