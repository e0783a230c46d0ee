//! Registration in the customer cabinet (issue 20) through the program's flow, on both stores:
//! a new phone gets the same first answer as a known one, registers after the right code by the
//! Loymax program's steps, and then signs in through Loymax's API as the same customer; a
//! registration begun through Loymax is finished in the cabinet; the codes quota and wrong
//! codes; a blocked customer.

use crate::common::kupikupi::{no_redirects, six_digits};
use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The demo Loymax customer (registered, password 111111).
const KNOWN: &str = "79161234567";

async fn ask_code(app: &TestApp, phone: &str) -> (StatusCode, String) {
    let response = no_redirects()
        .post(app.url("/cabinet/code"))
        .header("accept-language", "en")
        .form(&[("phone", phone)])
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn last_code(app: &TestApp, phone: &str) -> String {
    let sms = app.sms_to(phone).await;
    six_digits(sms[0]["body"].as_str().expect("an SMS"))
}

/// Signs in with `code`: the redirect's target and the session cookie, or the page.
async fn sign_in(app: &TestApp, phone: &str, code: &str) -> Result<(String, String), String> {
    let response = no_redirects()
        .post(app.url("/cabinet/signin"))
        .header("accept-language", "en")
        .form(&[("phone", phone), ("code", code)])
        .send()
        .await
        .unwrap();
    if response.status() != StatusCode::SEE_OTHER {
        return Err(response.text().await.unwrap());
    }
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    let session = cookie.split(';').next().unwrap().to_string();
    Ok((location, session))
}

async fn page(app: &TestApp, session: &str, path: &str) -> (StatusCode, String, Option<String>) {
    let response = no_redirects()
        .get(app.url(path))
        .header("cookie", session)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    answer(response).await
}

/// A response's status, body and where it redirects.
async fn answer(response: reqwest::Response) -> (StatusCode, String, Option<String>) {
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    (status, response.text().await.unwrap(), location)
}

/// The registration form's hidden token.
fn token(html: &str) -> String {
    let at = html.find("name=\"token\" value=\"").expect("a token") + 20;
    html[at..].split('"').next().unwrap().to_string()
}

async fn register(
    app: &TestApp,
    session: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String, Option<String>) {
    let (_, form, _) = page(app, session, "/cabinet/register").await;
    let mut fields: Vec<(&str, String)> = fields.iter().map(|(k, v)| (*k, v.to_string())).collect();
    fields.push(("token", token(&form)));
    let response = no_redirects()
        .post(app.url("/cabinet/register"))
        .header("cookie", session)
        .header("accept-language", "en")
        .form(&fields)
        .send()
        .await
        .unwrap();
    answer(response).await
}

/// The page's text with the masked phone left out: what tells one phone's answer from another's.
fn without_phone(html: &str) -> String {
    let main = html.split("<main").nth(1).expect("a page");
    let main = main.split("name=\"phone\" value=\"").next().unwrap();
    main.replace(char::is_numeric, "")
}

both_stores!(a_new_phone_registers_in_the_cabinet_and_signs_in_through_loymax);
async fn a_new_phone_registers_in_the_cabinet_and_signs_in_through_loymax(app: TestApp) {
    // A welcome bonus on registration.
    let program = app.demo_loymax_program().await["id"].as_i64().unwrap();
    let welcome = json!({
        "id": 70, "version": 1, "name": "Welcome", "effective_from": 0, "cumulative": true,
        "triggers": ["registration"],
        "actions": [{"type": "accrue", "points": {"by": "fixed", "points": 10_000}}],
    });
    let (status, answer) = app
        .post(&format!("/v1/programs/{program}/offers"), welcome)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    let phone = "79005550101";
    let (status, new) = ask_code(&app, phone).await;
    let (_, known) = ask_code(&app, KNOWN).await;
    assert_eq!(status, StatusCode::OK);
    // The first answer is the same page for a new and a registered phone.
    assert_eq!(without_phone(&new), without_phone(&known));
    assert!(new.contains("id=\"code\""), "{new}");

    let code = last_code(&app, phone).await;
    let (next, session) = sign_in(&app, phone, &code).await.unwrap();
    assert_eq!(next, "/cabinet/register");
    // Until registered the cabinet shows only the registration.
    let (status, _, location) = page(&app, &session, "/cabinet").await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/cabinet/register"))
    );
    let (_, form, _) = page(&app, &session, "/cabinet/register").await;
    for field in [
        "autocomplete=\"new-password\"",
        "type=\"date\"",
        "autocomplete=\"bday\"",
        "<select",
        "type=\"email\"",
        "name=\"offer\"",
    ] {
        assert!(form.contains(field), "{field}: {form}");
    }

    // Errors: nothing written, what was typed kept.
    let (status, again, _) = register(
        &app,
        &session,
        &[
            ("password", "secret1"),
            ("q2", "Иванова"),
            ("q7", "2030-01-01"),
            ("q5", "2"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        again.contains("accept its terms") && again.contains("value=\"Иванова\""),
        "{again}"
    );
    assert!(again.contains("<option value=\"2\" selected>"), "{again}");
    assert!(again.contains("id=\"q7-error\""), "{again}");
    let customer = app.customer_by_phone(phone).await;
    assert_eq!(customer["state"], "registering", "{customer}");
    assert_eq!(customer["profile"].get("LastName"), None, "{customer}");

    let (status, _, location) = register(
        &app,
        &session,
        &[
            ("password", "secret1"),
            ("q2", "Иванова"),
            ("q7", "1990-05-17"),
            ("q5", "2"),
            ("offer", "on"),
        ],
    )
    .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/cabinet?registered=1"))
    );
    let (_, home, _) = page(&app, &session, "/cabinet?registered=1").await;
    assert!(
        home.contains("id=\"registered\"") && home.contains("id=\"balance\">100.00<"),
        "{home}"
    );

    // One customer: Loymax's password grant signs the same one in, its registration complete.
    let (_, found) = app.get(&format!("/v1/customers?phone={phone}")).await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
    let id = found["items"][0]["id"].clone();
    assert_eq!(found["items"][0]["state"], "active");
    let (status, grant) = app
        .loymax()
        .password_grant(phone, "secret1", "demo-pos-secret")
        .await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    let user = app
        .loymax()
        .get(grant["access_token"].as_str().unwrap(), "/User")
        .await
        .ok();
    assert_eq!(user["id"], id, "{user}");
    assert_eq!(user["lastName"], "Иванова", "{user}");
    // Registration gave the virtual card the program issues by default.
    let (_, cards) = app.get(&format!("/v1/cards?customer_id={id}")).await;
    assert_eq!(cards.as_array().unwrap().len(), 1, "{cards}");

    // A known phone keeps signing in as before.
    let code = last_code(&app, KNOWN).await;
    let (next, _) = sign_in(&app, KNOWN, &code).await.unwrap();
    assert_eq!(next, "/cabinet");
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(a_registration_begun_through_loymax_is_finished_in_the_cabinet);
async fn a_registration_begun_through_loymax_is_finished_in_the_cabinet(app: TestApp) {
    let phone = "79005550202";
    let lm = app.loymax();
    // Half done in the app: begun, the offer accepted, the phone's code never entered.
    let stranger = lm.begin_token(phone).await;
    lm.accept_tender_offer(&stranger).await.ok();
    let (status, _) = ask_code(&app, phone).await;
    assert_eq!(status, StatusCode::OK);
    let code = last_code(&app, phone).await;
    let (next, session) = sign_in(&app, phone, &code).await.unwrap();
    assert_eq!(next, "/cabinet/register");
    // The offer is done already: the page asks only for what is open.
    let (_, form, _) = page(&app, &session, "/cabinet/register").await;
    assert!(
        !form.contains("name=\"offer\"") && form.contains("name=\"password\""),
        "{form}"
    );
    let (status, _, location) = register(
        &app,
        &session,
        &[
            ("password", "secret2"),
            ("q2", "Петров"),
            ("q7", "1985-01-02"),
        ],
    )
    .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/cabinet?registered=1"))
    );
    let (_, found) = app.get(&format!("/v1/customers?phone={phone}")).await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["items"][0]["state"], "active");
    // The token that waited for the phone's code is dead; the password signs in.
    let (status, _) = lm.get_raw(Some(&stranger), "/user/actions").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, grant) = lm.password_grant(phone, "secret2", "demo-pos-secret").await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    app.stop().await;
}

both_stores!(cabinet_codes_keep_their_quota_and_wrong_codes_lock_nobody_out);
async fn cabinet_codes_keep_their_quota_and_wrong_codes_lock_nobody_out(app: TestApp) {
    let phone = "79005550303";
    ask_code(&app, phone).await;
    let code = last_code(&app, phone).await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        let page = sign_in(&app, phone, wrong).await.unwrap_err();
        assert!(
            page.contains("Wrong code") || page.contains("Too many attempts"),
            "{page}"
        );
    }
    // Nothing was registered by guessing; a new code lets the holder in.
    let (_, none) = app.get(&format!("/v1/customers?phone={phone}")).await;
    assert_eq!(none["items"], json!([]));
    ask_code(&app, phone).await;
    let code = last_code(&app, phone).await;
    assert_eq!(
        sign_in(&app, phone, &code).await.unwrap().0,
        "/cabinet/register"
    );
    // Five codes an hour per phone, registered or not.
    for _ in 0..3 {
        assert_eq!(ask_code(&app, phone).await.0, StatusCode::OK);
    }
    let (status, page) = ask_code(&app, phone).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{page}");
    assert_eq!(app.sms_to(phone).await.len(), 5);
    app.stop().await;
}

both_stores!(a_blocked_customer_learns_it_only_after_the_right_code);
async fn a_blocked_customer_learns_it_only_after_the_right_code(app: TestApp) {
    let id = app.customer_by_phone(KNOWN).await["id"].as_i64().unwrap();
    let (status, answer): (StatusCode, Value) = app
        .post(
            &format!("/v1/customers/{id}/block"),
            json!({"reason": "test"}),
        )
        .await;
    assert!(status.is_success(), "{answer}");
    let (status, first) = ask_code(&app, KNOWN).await;
    assert_eq!(status, StatusCode::OK);
    assert!(first.contains("id=\"code\""), "{first}");
    let code = last_code(&app, KNOWN).await;
    let page = sign_in(&app, KNOWN, &code).await.unwrap_err();
    assert!(page.contains("blocked"), "{page}");
    app.stop().await;
}
