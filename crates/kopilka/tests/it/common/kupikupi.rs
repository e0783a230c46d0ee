//! A Kupi-Kupi client: requests signed as the public PHP class signs them, a shop's platform
//! with its notification receiver, the transfer form and the demo customer's codes.

use super::TestApp;
use axum::routing::{get, post};
use kopilka::secrets::Sealer;
use kopilka_domain::kupikupi::{token, TokenValue};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub const PHONE: &str = "79000000000";
pub const DEMO_UID: &str = "M2hULcD58iYGkmS7";
pub const DEMO_SECRET: &str = "yIKirCvplm8N1D9g";
pub const DEMO_DEV: &str = "kopilka-demo-dev";
/// A receiver that never answers `OK`: tests settling notifications by hand stay in charge even
/// with the delivery worker running.
pub const NEVER_OK: usize = usize::MAX;

/// Signs `body` as the public PHP class does and adds `token`.
pub fn signed(mut body: Value, secret: &str) -> Value {
    let fields: Vec<(String, TokenValue)> = body
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => TokenValue::text(s.clone()),
                Value::Bool(b) => TokenValue::boolean(*b),
                Value::Null => TokenValue::null(),
                Value::Array(_) | Value::Object(_) => TokenValue::Skip,
                n => TokenValue::text(n.to_string()),
            };
            (k.clone(), value)
        })
        .collect();
    body["token"] = Value::String(token(&fields, secret));
    body
}

/// A shop's NotificationURL and return pages on 127.0.0.1: answers 500 `failures` times, then
/// `OK`, and remembers every body.
pub struct Receiver {
    pub base: String,
    pub bodies: Arc<Mutex<Vec<String>>>,
}

pub async fn receiver(failures: usize) -> Receiver {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let (b, c) = (bodies.clone(), calls.clone());
    let app = axum::Router::new()
        .route(
            "/notify",
            post(move |body: String| {
                let (b, c) = (b.clone(), c.clone());
                async move {
                    b.lock().unwrap().push(body);
                    if c.fetch_add(1, Ordering::SeqCst) < failures {
                        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "try later")
                    } else {
                        (axum::http::StatusCode::OK, "OK")
                    }
                }
            }),
        )
        .route("/success", get(|| async { "shop: success" }))
        .route("/fail", get(|| async { "shop: fail" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { base, bodies }
}

pub struct Shop {
    pub uid: String,
    pub secret: String,
    pub dev: String,
    pub receiver: Receiver,
}

/// Registers a platform on the demo merchant whose URLs point at a fresh receiver.
pub async fn shop(app: &TestApp, failures: usize) -> Shop {
    let receiver = receiver(failures).await;
    let (status, created) = app
        .post(
            "/v1/kupikupi/platforms",
            json!({
                "merchant_id": 1,
                "site": receiver.base,
                "success_url": format!("{}/success", receiver.base),
                "fail_url": format!("{}/fail", receiver.base),
                "notification_url": format!("{}/notify", receiver.base),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    Shop {
        uid: created["uid"].as_str().unwrap().into(),
        secret: created["secret_key"].as_str().unwrap().into(),
        dev: created["dev_secret_key"].as_str().unwrap().into(),
        receiver,
    }
}

pub async fn call(app: &TestApp, method: &str, body: Value) -> Value {
    serde_json::from_str(&call_raw(app, method, body).await).unwrap()
}

/// The answer's text, to see numbers as written.
pub async fn call_raw(app: &TestApp, method: &str, body: Value) -> String {
    let response = app
        .http
        .post(app.url(&format!("/api/v1/transfer/{method}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

impl Shop {
    pub async fn call(&self, app: &TestApp, method: &str, mut body: Value, dev: bool) -> Value {
        body["platformUid"] = json!(self.uid);
        call(
            app,
            method,
            signed(body, if dev { &self.dev } else { &self.secret }),
        )
        .await
    }

    /// Asserts that the shop's `checkout` of `order` finds its transfer `expected`.
    pub async fn assert_transfer(
        &self,
        app: &TestApp,
        order: &str,
        amount: i64,
        dev: bool,
        expected: &str,
    ) {
        let answer = self.checkout(app, order, amount, dev).await;
        assert_eq!(answer["transferStatus"], expected, "{order}: {answer}");
    }

    /// `balance` for `phone`, the answer's text as sent (to see how its numbers are written).
    pub async fn balance_text(&self, app: &TestApp, phone: u64, dev: bool) -> String {
        let body = json!({"platformUid": self.uid, "phone": phone});
        let secret = if dev { &self.dev } else { &self.secret };
        call_raw(app, "balance", signed(body, secret)).await
    }

    pub async fn init(&self, app: &TestApp, order: &str, amount: i64) -> Value {
        self.call(
            app,
            "init",
            json!({"phone": 79000000000u64, "orderId": order, "amount": amount}),
            false,
        )
        .await
    }

    /// Starts a transfer and opens its form as the customer would: its payment id and form URL.
    pub async fn opened(&self, app: &TestApp, order: &str, amount: i64) -> (i64, String) {
        let init = self.init(app, order, amount).await;
        let payment_id = init["paymentId"].as_i64().unwrap();
        let form = init["transferURL"].as_str().unwrap().to_string();
        app.http.get(&form).send().await.unwrap();
        (payment_id, form)
    }

    /// The shop's own confirmation of the demo customer's transfer with `code`.
    pub async fn confirm(&self, app: &TestApp, code: &str) -> Value {
        self.call(
            app,
            "confirmation",
            json!({"phone": 79000000000u64, "code": code}),
            false,
        )
        .await
    }

    pub async fn checkout(&self, app: &TestApp, order: &str, amount: i64, dev: bool) -> Value {
        self.call(
            app,
            "checkout",
            json!({"orderId": order, "amount": amount}),
            dev,
        )
        .await
    }
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Posts a code to the form; returns the status and where it redirects.
pub async fn submit_code(url: &str, code: &str) -> (StatusCode, String, String) {
    let response = no_redirects()
        .post(url)
        .form(&[("code", code)])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, response.text().await.unwrap())
}

/// A code that is not `code`.
pub fn wrong_code(code: &str) -> &'static str {
    if code == "123456" {
        "654321"
    } else {
        "123456"
    }
}

/// The code of a transfer, as the customer sees it in the cabinet.
pub async fn code_of(app: &TestApp, payment_id: i64) -> String {
    let transfer = app
        .store
        .read(move |tx| Box::pin(async move { tx.kupikupi_transfer(payment_id).await }))
        .await
        .unwrap()
        .unwrap();
    Sealer::from_hex(&app.seal_key)
        .unwrap()
        .unseal(&transfer.sealed_code)
        .unwrap()
}

/// The newest SMS to the demo customer.
pub async fn last_sms(app: &TestApp) -> String {
    let (status, messages) = app
        .get(&format!("/v1/messages?recipient={PHONE}&kind=sms"))
        .await;
    assert_eq!(status, StatusCode::OK, "{messages}");
    messages["items"][0]["body"].as_str().unwrap().to_string()
}

pub fn six_digits(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap_or_else(|| panic!("no code in {text}"))
        .to_string()
}

/// Runs the form-expiry job's pass at `now`: how many transfers it canceled.
pub async fn expire_forms(app: &TestApp, now: i64) -> usize {
    let sealer = Sealer::from_hex(&app.seal_key).unwrap();
    kopilka::kupikupi::expire_forms(&app.store, &sealer, &app.base, now)
        .await
        .unwrap()
}

/// A transfer's status as kopilka keeps it (`HELD` while the points wait for the shop).
pub async fn stored_status(app: &TestApp, payment_id: i64) -> &'static str {
    app.store
        .read(move |tx| Box::pin(async move { tx.kupikupi_transfer(payment_id).await }))
        .await
        .unwrap()
        .unwrap()
        .status
        .as_str()
}

/// A notification's body without its `token`, after checking the token signs it with `key`.
pub fn verified_notification(body: &str, key: &str) -> Value {
    let mut body: Value = serde_json::from_str(body).unwrap();
    let token = body
        .as_object_mut()
        .unwrap()
        .remove("token")
        .expect("the notification is signed");
    assert_eq!(signed(body.clone(), key)["token"], token, "{body}");
    body
}

/// Runs `tests/it/kupikupi_shop.php` (a shop's PHP backend making requests as the public
/// KupiKupiPayApi class makes them) against the app: the decoded answer.
pub async fn php(app: &TestApp, uid: &str, key: &str, args: &[&str]) -> Value {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/kupikupi_shop.php");
    let output = tokio::process::Command::new("php")
        .arg(script)
        .args([app.base.as_str(), uid, key])
        .args(args)
        .output()
        .await
        .expect("php-cli with curl is installed (scripts/test installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "php {args:?}: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("php {args:?}: {e}: {stdout}"))
}
