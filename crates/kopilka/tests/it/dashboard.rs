//! The operators' dashboard (docs/dashboard.md): sign-in with and without a second factor,
//! the session cookie's flags, forms refused without the session's token or from another
//! site, sign-out revoking the token; and in Chromium (`e2e/dashboard.mjs`) every page per
//! role in uk/ru/en at 1280 and 390 px under axe-core.

use crate::common::{answer, TestApp};
use reqwest::header;
use reqwest::StatusCode;
use serde_json::{json, Value};

pub const PASSWORD: &str = "correct horse battery";

/// Creates an operator through the bootstrap token and answers its id.
pub async fn create_operator(app: &TestApp, login: &str, role: &str) -> i64 {
    let (status, operator) = app
        .post(
            "/v1/operators",
            json!({"login": login, "display_name": login, "role": role, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{operator}");
    operator["id"].as_i64().unwrap()
}

/// A browser-like client: no redirects followed, cookies kept by hand.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Posts the sign-in form; answers the response.
async fn post_sign_in(app: &TestApp, fields: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(app.url("/admin/sign-in"))
        .header("origin", app.base.clone())
        .form(fields)
        .send()
        .await
        .unwrap()
}

/// Signs `login` in through the form; answers the session cookie (`name=value`).
pub async fn sign_in(app: &TestApp, login: &str) -> String {
    let response = post_sign_in(app, &[("login", login), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    session_of(&response)
}

fn session_of(response: &reqwest::Response) -> String {
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

pub async fn page(app: &TestApp, session: &str, path: &str) -> (StatusCode, String) {
    let response = client()
        .get(app.url(path))
        .header(header::COOKIE, session)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

/// The form token of a page (`name="csrf" value="…"`).
pub fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form token") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

both_stores!(signing_in_sets_a_strict_http_only_cookie_and_signing_out_revokes_it);
async fn signing_in_sets_a_strict_http_only_cookie_and_signing_out_revokes_it(app: TestApp) {
    create_operator(&app, "olena", "program_manager").await;
    // Nobody signed in: the sign-in page, coming back to where the person was going.
    let response = client()
        .get(app.url("/admin?program=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/admin/sign-in?next=%2Fadmin%3Fprogram%3D1"
    );
    let wrong = post_sign_in(&app, &[("login", "olena"), ("password", "wrong password!")]).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(!wrong.headers().contains_key(header::SET_COOKIE));

    let response = post_sign_in(
        &app,
        &[
            ("login", "olena"),
            ("password", PASSWORD),
            ("next", "/admin/audit"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/admin/audit");
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    for flag in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/admin",
        "Max-Age=43200",
    ] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    // Served over http here: not `Secure` (an https public URL makes it so).
    assert!(!cookie.contains("Secure"), "{cookie}");
    let session = session_of(&response);
    // The session is an operator token named `dashboard`, expiring with the cookie.
    let (_, tokens) = app.get("/v1/operators/1/tokens").await;
    assert_eq!(tokens[0]["name"], "dashboard", "{tokens}");
    assert!(tokens[0]["expires_at"].is_string() || tokens[0]["expires_at"].is_number());

    let (status, html) = page(&app, &session, "/admin").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("olena"), "{html}");
    let token = csrf(&html);

    // A form without the session's token, with another's, or from another site: refused.
    let post = |fields: Vec<(&'static str, String)>, origin: &'static str| {
        client()
            .post(app.url("/admin/sign-out"))
            .header(header::COOKIE, session.clone())
            .header("origin", origin)
            .form(&fields)
            .send()
    };
    let own = app.base.clone();
    let own: &'static str = Box::leak(own.into_boxed_str());
    for (fields, origin) in [
        (vec![], own),
        (vec![("csrf", "0".repeat(64))], own),
        (vec![("csrf", token.clone())], "http://evil.example"),
    ] {
        let refused = post(fields, origin).await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }
    let (status, _) = page(&app, &session, "/admin").await;
    assert_eq!(status, StatusCode::OK, "still signed in");

    let out = post(vec![("csrf", token)], own).await.unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let cleared = out.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The token is revoked: the old cookie signs nobody in.
    let (status, _) = page(&app, &session, "/admin").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, audit) = app.get("/v1/audit?operator_id=1").await;
    let routes: Vec<&str> = audit["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|e| e["route"].as_str()).collect())
        .unwrap_or_default();
    assert!(routes.contains(&"/v1/sign-in"), "{audit}");
    app.stop().await;
}

both_stores!(an_operator_with_a_second_factor_gives_its_code);
async fn an_operator_with_a_second_factor_gives_its_code(app: TestApp) {
    create_operator(&app, "taras", "support").await;
    let (status, signed) = answer(
        app.http
            .post(app.url("/v1/sign-in"))
            .json(&json!({"login": "taras", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = signed["token"].as_str().unwrap();
    let enrol = |path: &'static str, body: Value| {
        app.http
            .post(app.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let (_, enrolled) = answer(enrol("/v1/me/totp", json!({})).await.unwrap()).await;
    let secret = enrolled["secret"].as_str().unwrap().to_string();
    let code = |step: i64| {
        kopilka::http::operator::totp(&secret, "taras")
            .unwrap()
            .generate((step * 30) as u64)
    };
    let step = kopilka_store::now_ms() / 30_000;
    let (status, confirmed) = answer(
        enrol("/v1/me/totp/confirm", json!({"totp": code(step - 1)}))
            .await
            .unwrap(),
    )
    .await;
    assert!(status.is_success(), "{confirmed}");

    // The password alone asks for the code.
    let asked = post_sign_in(&app, &[("login", "taras"), ("password", PASSWORD)]).await;
    assert_eq!(asked.status(), StatusCode::UNAUTHORIZED);
    let html = asked.text().await.unwrap();
    assert!(
        html.contains("id=\"totp\"") && html.contains("required autofocus"),
        "{html}"
    );
    let now = code(step);
    let signed_in = post_sign_in(
        &app,
        &[("login", "taras"), ("password", PASSWORD), ("totp", &now)],
    )
    .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    // The same code again is a replay: refused.
    let replayed = post_sign_in(
        &app,
        &[("login", "taras"), ("password", PASSWORD), ("totp", &now)],
    )
    .await;
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

/// Posts a dashboard form from `path`'s page (its form token) to `action`.
async fn post_form(
    app: &TestApp,
    session: &str,
    path: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (_, html) = page(app, session, path).await;
    let token = csrf(&html);
    let mut fields: Vec<(&str, &str)> = fields.to_vec();
    fields.push(("csrf", &token));
    client()
        .post(app.url(action))
        .header(header::COOKIE, session)
        .header("origin", app.base.clone())
        .form(&fields)
        .send()
        .await
        .unwrap()
}

/// The demo's first customer with the phone `phone`: its id.
async fn customer_id(app: &TestApp, phone: &str) -> i64 {
    let (_, found) = app.get(&format!("/v1/customers?phone=%2B{phone}")).await;
    found["items"][0]["id"].as_i64().unwrap()
}

both_stores!(each_role_sees_and_does_on_a_customer_what_the_api_allows_it);
async fn each_role_sees_and_does_on_a_customer_what_the_api_allows_it(app: TestApp) {
    for (login, role) in [
        ("manager", "program_manager"),
        ("helpdesk", "support"),
        ("books", "finance"),
    ] {
        create_operator(&app, login, role).await;
    }
    let id = customer_id(&app, "380671111111").await;
    let here = format!("/admin/customers/{id}");

    // The program manager finds the customer, accrues with a reason, and blocks.
    let manager = sign_in(&app, "manager").await;
    let (status, html) = page(&app, &manager, "/admin/customers?by=phone&q=0671111111").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&format!("href=\"{here}\"")), "{html}");
    let (_, html) = page(&app, &manager, &here).await;
    assert!(html.contains("id=\"adjust\"") && html.contains("id=\"block\""));
    let before = app.get(&format!("/v1/customers/{id}/balances")).await.1[0]["balance_minor"]
        .as_i64()
        .unwrap();
    // No reason: refused beside the form, nothing moved.
    let refused = post_form(
        &app,
        &manager,
        &here,
        &format!("{here}/adjust"),
        &[("kind", "accrue"), ("amount", "5"), ("reason", " ")],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("id=\"error\""));
    let done = post_form(
        &app,
        &manager,
        &here,
        &format!("{here}/adjust"),
        &[("kind", "accrue"), ("amount", "5"), ("reason", "goodwill")],
    )
    .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        done.headers()[header::LOCATION],
        format!("{here}?done=accrued").as_str()
    );
    let after = app.get(&format!("/v1/customers/{id}/balances")).await.1[0]["balance_minor"]
        .as_i64()
        .unwrap();
    let (_, program) = app.get("/v1/programs").await;
    let places = program[0]["rules"]["decimals"].as_u64().unwrap() as u32;
    assert_eq!(after - before, 5 * 10i64.pow(places));
    let (_, html) = page(&app, &manager, &format!("{here}?done=accrued")).await;
    assert!(
        html.contains("id=\"notice\"") && html.contains("goodwill"),
        "{html}"
    );
    // The points with their expiry: each lot of the API's first page, linked to its operation.
    let (_, lots) = app.get(&format!("/v1/customers/{id}/lots?limit=25")).await;
    let lots = lots["items"].as_array().unwrap();
    assert!(
        !lots.is_empty() && html.contains("id=\"lot-table\""),
        "{html}"
    );
    for lot in lots {
        let link = format!("href=\"/admin/operations/{}\"", lot["operation_id"]);
        assert!(html.contains(&link), "{link}: {html}");
    }
    assert!(html.contains("id=\"no-identities\""), "{html}");
    let blocked = post_form(
        &app,
        &manager,
        &here,
        &format!("{here}/block"),
        &[("reason", "lost card")],
    )
    .await;
    assert_eq!(blocked.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(&format!("/v1/customers/{id}")).await.1["state"],
        "blocked"
    );
    // The audit log names the operator for each change, as for the API.
    let (_, audit) = app.get("/v1/audit?entity_kind=customers").await;
    assert!(audit.to_string().contains("lost card"), "{audit}");

    // Support reads but may not accrue or block: no forms, and a forged post is refused.
    let support = sign_in(&app, "helpdesk").await;
    let (status, html) = page(&app, &support, &here).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("id=\"adjust\"") && !html.contains("id=\"unblock\""));
    let forged = post_form(
        &app,
        &support,
        &here,
        &format!("{here}/adjust"),
        &[("kind", "accrue"), ("amount", "5"), ("reason", "why not")],
    )
    .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    // Finance neither.
    let finance = sign_in(&app, "books").await;
    let forged = post_form(&app, &finance, &here, &format!("{here}/unblock"), &[]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.get(&format!("/v1/customers/{id}")).await.1["state"],
        "blocked"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_dashboard_passes_axe_per_role_in_each_language_on_a_phone_and_a_desktop() {
    let app = TestApp::start(crate::common::Backend::Sqlite, true).await;
    for (login, role) in [
        ("manager", "program_manager"),
        ("helpdesk", "support"),
        ("books", "finance"),
        ("guarded", "administrator"),
    ] {
        create_operator(&app, login, role).await;
    }
    // The demo's points now live 10 days: an accrual's lot is marked "expires soon".
    let (_, program) = app.get("/v1/programs/1").await;
    let mut rules = program["rules"].clone();
    rules["lifetime_days"] = json!(10);
    let body = json!({"code": program["code"], "name": program["name"], "rules": rules, "settings": program["settings"]});
    let (status, updated) = app.send_put("/v1/programs/1", &body).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let accrual =
        json!({"kind": "accrue", "customer_id": 1, "amount": "7", "reason": "expires soon"});
    let (status, accrued) = app.post("/v1/operations", accrual).await;
    assert_eq!(status, StatusCode::CREATED, "{accrued}");
    // The demo's customer has a VK profile linked, for the customer's page.
    app.store
        .write(|tx| {
            Box::pin(async move {
                let program_id = kopilka_domain::ids::ProgramId(1);
                let program = tx.program(program_id).await?.unwrap();
                let customer = tx
                    .customer_by_phone(program_id, "380671111111")
                    .await?
                    .unwrap();
                let vk = kopilka_domain::offers::Network::Vk;
                kopilka_store::social::link_identity(
                    tx,
                    program.rules,
                    0,
                    customer.id,
                    vk,
                    "id5551111",
                )
                .await
            })
        })
        .await
        .unwrap();
    // `guarded` has a second factor.
    let (status, signed) = answer(
        app.http
            .post(app.url("/v1/sign-in"))
            .json(&json!({"login": "guarded", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = signed["token"].as_str().unwrap();
    let (_, enrolled) = answer(
        app.http
            .post(app.url("/v1/me/totp"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let secret = enrolled["secret"].as_str().unwrap().to_string();
    // Confirmed with the step before, so the browser's code of this step is still fresh.
    let step = kopilka_store::now_ms() / 30_000 - 1;
    let code = kopilka::http::operator::totp(&secret, "guarded")
        .unwrap()
        .generate((step * 30) as u64);
    let (status, confirmed) = answer(
        app.http
            .post(app.url("/v1/me/totp/confirm"))
            .bearer_auth(token)
            .json(&json!({"totp": code}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(status.is_success(), "{confirmed}");
    crate::common::run_browser("dashboard.mjs", &app.base, &[PASSWORD, "guarded", &secret]).await;
    app.stop().await;
}
