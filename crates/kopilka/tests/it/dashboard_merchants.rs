//! The dashboard's merchants pages (docs/dashboard.md, merchants): who may create a protocol
//! credential or a new webhook secret (the API's rule, through the API), the secret shown on
//! the answer page once and never again; and in Chromium (`e2e/dashboard-merchants.mjs`) the
//! pages in uk/ru/en at 1280 and 390 px under axe-core.

use crate::common::{self, Backend, TestApp};
use crate::dashboard::{client, create_operator, csrf, page, sign_in, PASSWORD};
use reqwest::header;
use reqwest::StatusCode;

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
    let response = client()
        .post(app.url("/admin/merchants/1/credentials"))
        .header(header::COOKIE, &admin)
        .form(&[
            ("csrf", token.as_str()),
            ("protocol", "incust"),
            ("login", "till-7"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let html = response.text().await.unwrap();
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
    for kind in ["/ecommpay/", "/kupikupi/"] {
        let (_, html) = page(&app, &admin, "/admin/merchants/1").await;
        let at = html
            .find(&format!("action=\"/admin/merchants/1{kind}"))
            .unwrap_or_else(|| panic!("{kind} rotation offered: {html}"))
            + 8;
        let action = html[at..].split('"').next().unwrap().to_string();
        let (status, html) = submit(&app, &admin, &token, &action, &[]).await;
        assert_eq!(status, StatusCode::CREATED, "{kind}: {html}");
        let secret = shown_secret(&html);
        assert!(secret.len() >= 16, "{kind}: {secret}");
        let (_, again) = page(&app, &admin, "/admin/merchants/1").await;
        assert!(!again.contains(&secret), "{kind}");
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
    }
    let (_, listed) = app.get("/v1/merchants/1/credentials").await;
    assert!(!listed.to_string().contains("sneaky"), "{listed}");
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
