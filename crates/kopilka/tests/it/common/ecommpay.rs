//! An ECommPay client: Gate requests signed with the project's secret, the cash terminal, the
//! callbacks queued for a payment, and the official Python SDK as a second client.

use super::TestApp;
use kopilka_domain::ecommpay as domain;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::OnceLock;

pub const PROJECT: i64 = 35;
pub const SECRET: &str = "kopilka-demo-35";
pub const TERMINAL: (&str, &str) = ("demo-terminal-1", "kopilka-demo-terminal");

/// A virtualenv under target/ with the official SDK from PyPI; a failed install fails the test.
pub fn sdk_python() -> &'static PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join("target"));
        let venv = target.join("ecommpay-venv");
        let python = venv.join("bin/python");
        let installed = std::process::Command::new(&python)
            .args(["-c", "import payment_page_sdk"])
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            let made = std::process::Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 runs");
            assert!(made.success(), "python3 -m venv failed");
            let pip = std::process::Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "ecommpay-sdk==1.0.6"])
                .status()
                .expect("pip runs");
            assert!(pip.success(), "pip install ecommpay-sdk failed");
        }
        python
    })
}

/// Runs the Python SDK's script (`tests/it/ecommpay_sdk.py`): whether it succeeded, and what
/// it printed.
pub fn sdk(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/ecommpay_sdk.py");
    let mut command = std::process::Command::new(sdk_python());
    command.arg(script);
    run_sdk(command, args, stdin)
}

/// Runs the JavaScript SDK's script (`e2e/ecommpay-sdk.mjs`, npm `ecommpay` installed by
/// `npm ci --prefix e2e`): whether it succeeded, and what it printed.
pub fn js_sdk(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let e2e = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../e2e");
    let mut command = std::process::Command::new("node");
    command.arg(e2e.join("ecommpay-sdk.mjs")).current_dir(&e2e);
    run_sdk(command, args, stdin)
}

fn run_sdk(
    mut command: std::process::Command,
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String) {
    use std::io::Write;
    let mut child = command
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the SDK script starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or("").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text.trim().to_string())
}

pub fn signed_request(mut request: Value, secret: &str) -> Value {
    request["general"]["signature"] = json!(domain::sign(secret, &request));
    request
}

/// A Payment Page query string with `params` signed with the demo project's secret.
pub fn signed_query(params: &[(&str, &str)]) -> String {
    let signable: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let signature = domain::sign(SECRET, &Value::Object(signable));
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .append_pair("signature", &signature)
        .finish()
}

pub fn sale_request(payment_id: &str, amount: i64, country: &str) -> Value {
    signed_request(
        json!({
            "general": {"project_id": PROJECT, "payment_id": payment_id},
            "customer": {"id": "customer1", "ip_address": "185.123.111.222", "first_name": "John", "last_name": "Doe", "day_of_birth": "02-10-2002", "country": country},
            "payment": {"amount": amount, "currency": "EUR"},
        }),
        SECRET,
    )
}

/// A Gate sale request.
pub async fn sale(app: &TestApp, request: &Value) -> (StatusCode, Value) {
    post_json(app, "/v2/payment/cash/cashtocode/sale", request).await
}

/// A signed Gate status request for the demo project's payment.
pub async fn payment_status(app: &TestApp, payment_id: &str) -> (StatusCode, Value) {
    let request = json!({"general": {"project_id": PROJECT, "payment_id": payment_id}});
    post_json(app, "/v2/payment/status", &signed_request(request, SECRET)).await
}

pub async fn post_json(app: &TestApp, path: &str, body: &Value) -> (StatusCode, Value) {
    let r = app
        .http
        .post(app.url(path))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// ECommPay callbacks queued for the project, oldest first, as parsed bodies.
pub async fn callbacks(app: &TestApp, payment_id: &str) -> Vec<Value> {
    let (status, page) = app.get("/v1/messages?kind=callback&limit=500").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let mut found: Vec<Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| serde_json::from_str::<Value>(m["body"].as_str().unwrap()).unwrap())
        .filter(|b| b["payment"]["id"] == payment_id)
        .collect();
    found.reverse();
    found
}

pub async fn payment_row(app: &TestApp, payment_id: &str) -> Value {
    let (status, page) = app
        .get(&format!("/v1/ecommpay/payments?payment_id={payment_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"][0].clone()
}

pub async fn terminal(app: &TestApp, action: &str, code: &str, amount: Option<i64>) -> Value {
    let mut body = json!({"terminal_id": TERMINAL.0, "terminal_key": TERMINAL.1, "code": code});
    if let Some(a) = amount {
        body["amount"] = json!(a);
    }
    let (status, answer) = post_json(app, &format!("/cashtocode/terminal/{action}"), &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

pub fn assert_signed(callback: &Value) {
    let signature = callback["signature"].as_str().expect("signed");
    assert!(
        domain::verify(SECRET, callback, signature),
        "callback signature: {callback}"
    );
}

/// A merchant's callback receiver on loopback: answers each callback with what `answer` says
/// about its body, and records what came (payment id, payment status, the answer's status).
pub struct CallbackReceiver {
    pub url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String, u16)>>>,
}

impl CallbackReceiver {
    pub async fn start(answer: fn(&Value) -> StatusCode) -> CallbackReceiver {
        let seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String, u16)>>> = Default::default();
        let log = seen.clone();
        let app = axum::Router::new().route(
            "/callback",
            axum::routing::post(move |body: String| {
                let log = log.clone();
                async move {
                    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let status = answer(&body);
                    log.lock().unwrap().push((
                        body["payment"]["id"].as_str().unwrap_or("").to_string(),
                        body["payment"]["status"].as_str().unwrap_or("").to_string(),
                        status.as_u16(),
                    ));
                    status
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/callback", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        CallbackReceiver { url, seen }
    }

    /// Every callback received so far, in order.
    pub fn seen(&self) -> Vec<(String, String, u16)> {
        self.seen.lock().unwrap().clone()
    }

    /// The statuses of `payment_id`'s callbacks this receiver acknowledged, in order.
    pub fn accepted(&self, payment_id: &str) -> Vec<String> {
        self.seen()
            .into_iter()
            .filter(|(id, _, answered)| id == payment_id && *answered == 200)
            .map(|(_, status, _)| status)
            .collect()
    }

    /// Waits up to `within` for `done` to hold of what was received.
    pub async fn wait_for(
        &self,
        within: std::time::Duration,
        done: impl Fn(&CallbackReceiver) -> bool,
    ) -> bool {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if done(self) {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        done(self)
    }
}

/// A Gate sale whose callbacks go to `url`.
pub fn sale_request_to(payment_id: &str, amount: i64, country: &str, url: &str) -> Value {
    let mut request = sale_request(payment_id, amount, country);
    request["general"]["merchant_callback_url"] = json!(url);
    signed_request(request, SECRET)
}

/// The voucher code of the demo project's payment.
pub async fn voucher_code(app: &TestApp, payment_id: &str) -> String {
    payment_row(app, payment_id).await["voucher_code"]
        .as_str()
        .expect("a voucher")
        .to_string()
}
