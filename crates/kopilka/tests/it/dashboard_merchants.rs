//! The dashboard's merchants pages (docs/dashboard.md, merchants): who may create a protocol
//! credential or a new webhook secret (the API's rule, through the API), the secret shown on
//! the answer page once and never again; an ECommPay project, a Kupi-Kupi platform and a
//! Loymax application made, rotated and disabled from the page and used with their protocols;
//! and in Chromium (`e2e/dashboard-merchants.mjs`) the pages in uk/ru/en at 1280 and 390 px
//! under axe-core.

use crate::common::ecommpay::{sale, signed_request};
use crate::common::kupikupi;
use crate::common::{self, Backend, TestApp};
use crate::dashboard::{client, create_operator, csrf, page, sign_in, PASSWORD};
use reqwest::header;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Posts `fields` (with the page's form token) to `path` as `session`; answers status and body.
async fn submit(
    app: &TestApp,
    session: &str,
    token: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut form = vec![("csrf", token)];
    form.extend_from_slice(fields);
    let response = client()
        .post(app.url(path))
        .header(header::COOKIE, session)
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

/// Posts a form that makes a secret: answered `201` by a page no cache keeps; its HTML.
async fn made_once(
    app: &TestApp,
    session: &str,
    token: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> String {
    let response = client()
        .post(app.url(path))
        .header(header::COOKIE, session)
        .form(&[[("csrf", token)].as_slice(), fields].concat())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "{path}");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    response.text().await.unwrap()
}

/// The item of an API's list whose `field` is `value`.
fn item<'a>(list: &'a Value, field: &str, value: &str) -> &'a Value {
    let items = list.as_array().expect("a list");
    items.iter().find(|i| i[field] == value).expect("listed")
}

/// The secret shown on an answer page.
fn shown_secret(html: &str) -> String {
    let at = html.find("id=\"secret-value\">").expect("a secret shown") + 18;
    html[at..].split('<').next().unwrap().to_string()
}

both_stores!(an_administrator_makes_a_credential_whose_secret_is_shown_once_and_others_may_not);
async fn an_administrator_makes_a_credential_whose_secret_is_shown_once_and_others_may_not(
    app: TestApp,
) {
    for (login, role) in [
        ("adm", "administrator"),
        ("sup", "support"),
        ("fin", "finance"),
    ] {
        create_operator(&app, login, role).await;
    }
    let admin = sign_in(&app, "adm").await;
    let (status, html) = page(&app, &admin, "/admin/merchants?lang=en").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("href=\"/admin/merchants/1\""), "{html}");
    assert!(html.contains("href=\"/admin/merchants\" aria-current=\"page\""));

    let (status, html) = page(&app, &admin, "/admin/merchants/1?lang=en").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("action=\"/admin/merchants/1/credentials\""));
    assert!(html.contains("action=\"/admin/merchants/1/webhook-secret\""));
    let token = csrf(&html);

    // A new credential: its generated secret on the answer page, which no cache keeps.
    let credential = [("protocol", "incust"), ("login", "till-7")];
    let path = "/admin/merchants/1/credentials";
    let html = made_once(&app, &admin, &token, path, &credential).await;
    let secret = shown_secret(&html);
    assert!(secret.len() >= 16, "{secret}");
    assert!(html.contains("till-7"));
    // Never again: the merchant's page lists the credential with a masked hint only.
    let (_, again) = page(&app, &admin, "/admin/merchants/1").await;
    assert!(again.contains("till-7"));
    assert!(!again.contains(&secret));
    assert!(!again.contains("id=\"secret-value\""));
    let (_, listed) = app.get("/v1/merchants/1/credentials").await;
    assert!(!listed.to_string().contains(&secret), "{listed}");

    // A wrong protocol: the API's message beside the form.
    let (status, html) = submit(
        &app,
        &admin,
        &token,
        "/admin/merchants/1/credentials",
        &[("protocol", "fax"), ("login", "x")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"refused\""), "{html}");

    // A new webhook secret, shown once.
    let (status, html) = submit(
        &app,
        &admin,
        &token,
        "/admin/merchants/1/webhook-secret",
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let webhook = shown_secret(&html);
    assert!(webhook.starts_with("whsec_"), "{webhook}");
    let (_, again) = page(&app, &admin, "/admin/merchants/1").await;
    assert!(!again.contains(&webhook));

    // The protocols' own secrets: an ECommPay project's and a Kupi-Kupi platform's, each once.
    for action in ["/ecommpay/35/secret", "/kupikupi/M2hULcD58iYGkmS7/keys"] {
        let (_, html) = page(&app, &admin, "/admin/merchants/1").await;
        let action = format!("/admin/merchants/1{action}");
        assert!(html.contains(&format!("action=\"{action}\"")), "{html}");
        let (status, html) = submit(&app, &admin, &token, &action, &[]).await;
        assert_eq!(status, StatusCode::CREATED, "{action}: {html}");
        let secret = shown_secret(&html);
        assert!(secret.len() >= 16, "{action}: {secret}");
        let (_, again) = page(&app, &admin, "/admin/merchants/1").await;
        assert!(!again.contains(&secret), "{action}");
    }

    // Support and finance: no forms, and the API refuses the posts whatever the page showed.
    for login in ["sup", "fin"] {
        let session = sign_in(&app, login).await;
        let (status, html) = page(&app, &session, "/admin/merchants/1").await;
        if status == StatusCode::OK {
            assert!(!html.contains("/credentials\""), "{login}");
            assert!(!html.contains("/webhook-secret\""), "{login}");
            assert!(!html.contains("/secret\""), "{login}");
            assert!(!html.contains("/keys\""), "{login}");
            assert!(!html.contains("/disable\""), "{login}");
            for form in ["/ecommpay\"", "/kupikupi\"", "/loymax\""] {
                assert!(!html.contains(form), "{login}: {form}");
            }
        } else {
            assert_eq!(status, StatusCode::FORBIDDEN, "{login}");
        }
        let (_, home) = page(&app, &session, "/admin/customers").await;
        let token = csrf(&home);
        let (status, html) = submit(
            &app,
            &session,
            &token,
            "/admin/merchants/1/credentials",
            &[("protocol", "incust"), ("login", "sneaky")],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{login}: {html}");
        let (status, _) = submit(
            &app,
            &session,
            &token,
            "/admin/merchants/1/webhook-secret",
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{login}");
        let made = [
            ("/admin/merchants/1/ecommpay", vec![("name", "sneaky")]),
            ("/admin/merchants/1/kupikupi", platform_urls()),
            ("/admin/merchants/1/loymax", vec![("client_id", "sneaky")]),
            ("/admin/merchants/1/ecommpay/35/disable", vec![]),
            (
                "/admin/merchants/1/kupikupi/M2hULcD58iYGkmS7/disable",
                vec![],
            ),
        ];
        for (path, fields) in made {
            let (status, _) = submit(&app, &session, &token, path, &fields).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{login}: {path}");
        }
    }
    let (_, listed) = app.get("/v1/merchants/1/credentials").await;
    assert!(!listed.to_string().contains("sneaky"), "{listed}");
    let (_, listed) = app.get("/v1/loymax/applications").await;
    assert!(!listed.to_string().contains("sneaky"), "{listed}");
    let (_, project) = app.get("/v1/ecommpay/projects/35").await;
    assert_eq!(project["disabled_at"], Value::Null, "{project}");
    app.stop().await;
}

/// A Kupi-Kupi platform's addresses as the form takes them.
fn platform_urls() -> Vec<(&'static str, &'static str)> {
    vec![
        ("site", "https://shop.example"),
        ("success_url", "https://shop.example/ok"),
        ("fail_url", "https://shop.example/fail"),
        ("notification_url", "https://shop.example/notify"),
    ]
}

/// A Gate sale for ECommPay project `project` signed with `secret`: the answer's status, and
/// its code when refused.
async fn gate_sale(app: &TestApp, project: i64, secret: &str, payment: &str) -> (String, String) {
    let request = json!({
        "general": {"project_id": project, "payment_id": payment},
        "customer": {"id": "c1", "ip_address": "185.123.111.222", "first_name": "John", "last_name": "Doe", "day_of_birth": "02-10-2002", "country": "AT"},
        "payment": {"amount": 2500, "currency": "EUR"},
    });
    let (_, answer) = sale(app, &signed_request(request, secret)).await;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (text(&answer["status"]), text(&answer["code"]))
}

/// A Kupi-Kupi balance request of platform `uid` signed with `key`: its errorCode. The test
/// key sees the seed's sandbox customers only, the live key the program's.
async fn platform_balance(app: &TestApp, uid: &str, key: &str, phone: u64) -> String {
    let body = json!({"platformUid": uid, "phone": phone});
    let answer = kupikupi::call(app, "balance", kupikupi::signed(body, key)).await;
    answer["errorCode"].as_str().unwrap_or_default().to_string()
}

/// Kupi-Kupi's errorCode for an unknown platform.
const UNKNOWN_PLATFORM: &str = "2";
/// A sandbox customer (the test key's) and the demo program's customer (the live key's).
const SANDBOX: u64 = 79000000001;
const CUSTOMER: u64 = 79000000000;

/// A Loymax password grant of the demo customer through application `client_id`.
async fn loymax_grant(app: &TestApp, client_id: &str, secret: &str) -> (StatusCode, Value) {
    app.loymax()
        .oauth(&[
            ("grant_type", "password"),
            ("username", "79161234567"),
            ("password", "111111"),
            ("client_id", client_id),
            ("client_secret", secret),
        ])
        .await
}

both_stores!(each_protocols_credential_made_on_the_page_works_until_rotated_or_disabled);
async fn each_protocols_credential_made_on_the_page_works_until_rotated_or_disabled(app: TestApp) {
    create_operator(&app, "adm", "administrator").await;
    let admin = sign_in(&app, "adm").await;
    let (_, html) = page(&app, &admin, "/admin/merchants/1?lang=en").await;
    for form in ["ecommpay", "kupikupi", "loymax"] {
        assert!(
            html.contains(&format!("action=\"/admin/merchants/1/{form}\"")),
            "{html}"
        );
    }
    let token = csrf(&html);

    // ECommPay: a callback over plain http to another host is refused beside its field, the
    // form keeping what was typed; then the project, its secret once, a Gate sale signed with it.
    let mut project = vec![
        ("name", "Kiosk"),
        ("callback_url", "http://shop.example/callback"),
        ("return_hosts", "shop.example, localhost"),
    ];
    let path = "/admin/merchants/1/ecommpay";
    let (status, html) = submit(&app, &admin, &token, path, &project).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("id=\"project-callback_url-error\""), "{html}");
    assert!(html.contains("value=\"Kiosk\""), "{html}");
    project[1].1 = "https://shop.example/callback";
    let html = made_once(&app, &admin, &token, path, &project).await;
    let secret = shown_secret(&html);
    let (_, projects) = app.get("/v1/ecommpay/projects").await;
    let made = item(&projects, "name", "Kiosk");
    let id = made["project_id"].as_i64().unwrap();
    assert_eq!(made["callback_url"], "https://shop.example/callback");
    assert!(html.contains(&format!("ecommpay {id}")), "{html}");
    assert_eq!(gate_sale(&app, id, &secret, "dash-1").await.0, "success");
    // The same project id again: refused beside that field.
    let taken = id.to_string();
    let again = [("name", "Again"), ("project_id", taken.as_str())];
    let (status, html) = submit(&app, &admin, &token, path, &again).await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("id=\"project-project_id-error\""), "{html}");
    // A new secret: the old one is refused, the new one taken.
    let rotate = format!("/admin/merchants/1/ecommpay/{id}/secret");
    let (status, html) = submit(&app, &admin, &token, &rotate, &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{html}");
    let rotated = shown_secret(&html);
    assert_ne!(gate_sale(&app, id, &secret, "dash-2").await.0, "success");
    assert_eq!(gate_sale(&app, id, &rotated, "dash-3").await.0, "success");

    // Kupi-Kupi: a platform, both keys once, a balance request signed with each.
    let path = "/admin/merchants/1/kupikupi";
    let mut urls = platform_urls();
    urls[2].1 = "ftp://shop.example/fail";
    let (status, html) = submit(&app, &admin, &token, path, &urls).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("id=\"platform-fail_url-error\""), "{html}");
    let (status, html) = submit(&app, &admin, &token, path, &platform_urls()).await;
    assert_eq!(status, StatusCode::CREATED, "{html}");
    let keys = shown_secret(&html);
    let (live, dev) = keys.split_once(" · ").expect("two keys");
    let (_, platforms) = app.get("/v1/kupikupi/platforms").await;
    let platform = item(&platforms, "site", "https://shop.example");
    let uid = platform["uid"].as_str().unwrap().to_string();
    assert_eq!(platform_balance(&app, &uid, live, CUSTOMER).await, "0");
    assert_eq!(platform_balance(&app, &uid, dev, SANDBOX).await, "0");

    // Loymax: an application of the Loymax merchant, its secret once; the demo customer signs
    // in through it.
    let (_, merchants) = app.get("/v1/merchants").await;
    let merchant = item(&merchants, "name", "Demo Loymax Shop")["id"]
        .as_i64()
        .unwrap();
    let path = format!("/admin/merchants/{merchant}/loymax");
    let (status, html) = submit(&app, &admin, &token, &path, &[("client_id", "partner app")]).await;
    assert_eq!(status, StatusCode::CREATED, "{html}");
    let client_secret = shown_secret(&html);
    assert!(html.contains("loymax partner app"), "{html}");
    let (status, tokens) = loymax_grant(&app, "partner app", &client_secret).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    app.loymax().get(&access, "/User").await.ok();
    let (status, _) = submit(&app, &admin, &token, &path, &[("client_id", "partner app")]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Listed by merchant and by program, never with its secret.
    let (_, listed) = app
        .get(&format!("/v1/loymax/applications?merchant_id={merchant}"))
        .await;
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["demo-pos", "partner app"], "{listed}");
    assert!(!listed.to_string().contains(&client_secret));
    let (_, other) = app.get("/v1/loymax/applications?merchant_id=1").await;
    assert_eq!(other, json!([]));
    let program = listed[0]["program_id"].as_i64().unwrap();
    let (_, by_program) = app
        .get(&format!("/v1/loymax/applications?program_id={program}"))
        .await;
    assert_eq!(by_program.as_array().unwrap().len(), 2, "{by_program}");
    // The merchant's page lists it with its actions; a new secret replaces the old at once.
    let (_, html) = page(&app, &admin, &format!("/admin/merchants/{merchant}")).await;
    let rotate = format!("/admin/merchants/{merchant}/loymax/partner%20app/secret");
    assert!(html.contains(&format!("action=\"{rotate}\"")), "{html}");
    let (status, html) = submit(&app, &admin, &token, &rotate, &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{html}");
    let rotated_secret = shown_secret(&html);
    let (status, refused) = loymax_grant(&app, "partner app", &client_secret).await;
    assert_eq!(
        (status, &refused["error"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_client"))
    );
    let (status, _) = loymax_grant(&app, "partner app", &rotated_secret).await;
    assert_eq!(status, StatusCode::OK);

    // Disabled, each is unknown to its protocol from then on; its row says so, without actions.
    let disable = [
        "/admin/merchants/1/kupikupi/UID/disable".replace("UID", &uid),
        format!("/admin/merchants/1/ecommpay/{id}/disable"),
        format!("/admin/merchants/{merchant}/loymax/partner%20app/disable"),
    ];
    for action in &disable {
        let (status, html) = submit(&app, &admin, &token, action, &[]).await;
        assert_eq!(status, StatusCode::OK, "{action}: {html}");
        assert!(!html.contains(&format!("action=\"{action}\"")), "{action}");
        assert!(
            html.contains("Disabled") || html.contains("Вимкнено") || html.contains("Отключён")
        );
    }
    assert_eq!(gate_sale(&app, id, &rotated, "dash-4").await.1, "2442");
    let balance = platform_balance(&app, &uid, live, CUSTOMER).await;
    assert_eq!(balance, UNKNOWN_PLATFORM);
    let (status, refused) = loymax_grant(&app, "partner app", &rotated_secret).await;
    assert_eq!(
        (status, &refused["error"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_client"))
    );
    let (status, _) = app.loymax().get_raw(Some(&access), "/User").await;
    assert_ne!(status, StatusCode::OK, "its tokens ended");
    // A disabled credential gets no new secret.
    let (status, _) = app
        .post(&format!("/v1/ecommpay/projects/{id}/secret"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // The demo's own credentials still work.
    assert_eq!(
        platform_balance(&app, kupikupi::DEMO_UID, kupikupi::DEMO_DEV, SANDBOX).await,
        "0"
    );

    // The audit log has every change, and none of the secrets shown.
    let (_, audit) = app.get("/v1/audit?limit=100").await;
    let audit = audit.to_string();
    for secret in [
        &secret,
        &rotated,
        live,
        dev,
        &client_secret,
        &rotated_secret,
    ] {
        assert!(!audit.contains(secret), "a secret in the audit log");
    }
    for route in [
        "/v1/ecommpay/projects/{id}/disable",
        "/v1/loymax/applications",
        "/v1/kupikupi/platforms",
    ] {
        assert!(audit.contains(route), "{route} audited: {audit}");
    }
    app.stop().await;
}

both_stores!(a_programs_message_templates_are_listed_with_a_preview_in_each_language);
async fn a_programs_message_templates_are_listed_with_a_preview_in_each_language(app: TestApp) {
    let (status, listed) = app.get("/v1/programs/1/templates").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let earned = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "incust.earned")
        .expect("incust.earned listed");
    assert_eq!(earned["texts"][0]["language"], "ru");
    assert_eq!(
        earned["texts"][1]["preview"],
        "Demo Shop: 25 bonuses earned. Balance: 310"
    );
    let (status, _) = app.get("/v1/programs/999/templates").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    create_operator(&app, "sup", "support").await;
    let support = sign_in(&app, "sup").await;
    let (status, html) = page(&app, &support, "/admin/templates?program=1&lang=en").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("href=\"/admin/templates\" aria-current=\"page\""));
    assert!(html.contains("incust.earned"));
    assert!(html.contains("Demo Shop: 25 bonuses earned. Balance: 310"));
    app.stop().await;
}

#[tokio::test]
async fn the_merchants_pages_pass_axe_in_each_language_on_a_phone_and_a_desktop() {
    let app = TestApp::start(Backend::Sqlite, true).await;
    create_operator(&app, "admin2", "administrator").await;
    common::run_browser("dashboard-merchants.mjs", &app.base, &["admin2", PASSWORD]).await;
    app.stop().await;
}
