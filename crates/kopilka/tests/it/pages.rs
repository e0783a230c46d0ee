//! The pages a person sees: each customer page in each of its languages at 1280 and 390 px in
//! Chromium under axe-core (`e2e/pages.mjs`), and how a page picks its language and sends its
//! security headers.

use crate::common::{self, Backend, TestApp, ADMIN_TOKEN};
use reqwest::header;

/// The demo's Kupi-Kupi customer (also a customer the cabinet signs in).
const PHONE: &str = "79000000000";

#[tokio::test]
async fn every_customer_page_passes_axe_in_each_language_on_a_phone_and_a_desktop() {
    let app = TestApp::start(Backend::Sqlite, true).await;
    common::run_browser("pages.mjs", &app.base, &[ADMIN_TOKEN, PHONE]).await;
    app.stop().await;
}

both_stores!(
    a_page_speaks_the_switch_then_the_browser_then_the_program,
    Backend
);
async fn a_page_speaks_the_switch_then_the_browser_then_the_program(backend: Backend) {
    let app = TestApp::start(backend, true).await;
    let client = reqwest::Client::new();
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut request = client.get(app.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    // No preference: the first of the cabinet's languages.
    let page = get("/cabinet", &[]).await.unwrap();
    let headers = page.headers().clone();
    let html = page.text().await.unwrap();
    assert!(html.contains("<html lang=\"uk\">") && html.contains("Особистий кабінет"));
    assert!(!headers.contains_key(header::SET_COOKIE));
    // Every page: its own nonce for its style and scripts, never framed, never stored.
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap();
    assert!(
        html.contains(&format!("<style nonce=\"{nonce}\">")),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    let again = get("/cabinet", &[]).await.unwrap();
    assert_ne!(
        again.headers()[header::CONTENT_SECURITY_POLICY],
        headers[header::CONTENT_SECURITY_POLICY],
        "a nonce serves one answer"
    );

    let html = get(
        "/cabinet",
        &[("accept-language", "de-AT, en;q=0.8, ru;q=0.5")],
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(html.contains("<html lang=\"en\">") && html.contains("Personal account"));

    // The switch: kept in a cookie, and ahead of the browser's wish.
    let switched = get("/cabinet?lang=ru", &[("accept-language", "en")])
        .await
        .unwrap();
    let cookie = switched.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.starts_with("kopilka_lang=ru;") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(switched.text().await.unwrap().contains("Личный кабинет"));
    let kept = get(
        "/cabinet",
        &[("accept-language", "en"), ("cookie", "kopilka_lang=ru")],
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(kept.contains("<html lang=\"ru\">"));
    assert!(kept.contains("href=\"/cabinet?lang=uk\"") && kept.contains("aria-current=\"true\""));

    // CashtoCode's pages speak English or German only: Ukrainian asked for gives English.
    let html = get("/payment?project_id=35", &[("cookie", "kopilka_lang=uk")])
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<html lang=\"en\">") && html.contains("data-code="));
    let html = get("/payment?project_id=35&language_code=de", &[])
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<html lang=\"de\">") && html.contains("Fehler"),
        "{html}"
    );
    app.stop().await;
}

/// The value of the hidden input `name` in `html` (the first one).
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

both_stores!(
    incust_hosted_pages_speak_the_browser_then_the_switch,
    Backend
);
async fn incust_hosted_pages_speak_the_browser_then_the_switch(backend: Backend) {
    let app = TestApp::start(backend, true).await;
    let client = reqwest::Client::new();
    // The demo shop's form, as the customer's browser posts it, in Ukrainian.
    let shop = client
        .get(app.url("/demo/shop"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form: Vec<(String, String)> = [
        "returnurl",
        "phone",
        "password",
        "cardphone",
        "amount",
        "comment",
    ]
    .iter()
    .map(|name| (name.to_string(), hidden(&shop, name)))
    .collect();
    let page = client
        .post(app.url("/app/redeem/"))
        .header("accept-language", "uk-UA, ru;q=0.9")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(!page.headers().contains_key(header::SET_COOKIE));
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<html lang=\"uk\">")
            && html.contains("Оплата бонусами")
            && html.contains("Сторінка відкрита до"),
        "{html}"
    );
    // The switch posts the page's token: the same page in English, kept in the cookie.
    let token = hidden(&html, "token");
    let switched = client
        .post(app.url("/app/confirm/"))
        .header("accept-language", "uk")
        .form(&[
            ("token", token.as_str()),
            ("action", "language"),
            ("lang", "en"),
        ])
        .send()
        .await
        .unwrap();
    let cookie = switched.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("kopilka_lang=en;"), "{cookie}");
    let html = switched.text().await.unwrap();
    assert!(
        html.contains("<html lang=\"en\">") && html.contains("Spend password"),
        "{html}"
    );
    // The old token is spent; the new one cancels, and the shop gets its status in the
    // protocol's language (the demo program's: Russian) while the customer reads English.
    let token = hidden(&html, "token");
    let back = client
        .post(app.url("/app/confirm/"))
        .header("cookie", "kopilka_lang=en")
        .form(&[("token", token.as_str()), ("action", "cancel")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        back.contains("You cancelled the operation.")
            && back.contains("value=\"Операция отменена покупателем\""),
        "{back}"
    );
    app.stop().await;
}
