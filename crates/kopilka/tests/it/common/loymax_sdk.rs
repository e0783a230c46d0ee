//! The Loymax public API 1.2 as the public SDK (15web/loymax-php) calls it: paths under
//! `/publicapi/v1.2`, the token endpoint without client credentials, and the SDK replay script.

use super::{TestApp, ADMIN_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const API_1_2: &str = "/publicapi/v1.2";

#[derive(Clone, Copy)]
pub struct PublicSdk<'a> {
    app: &'a TestApp,
}

impl TestApp {
    pub fn public_sdk(&self) -> PublicSdk<'_> {
        PublicSdk { app: self }
    }
}

impl<'a> PublicSdk<'a> {
    /// A 1.2 method: its HTTP status and envelope as they come.
    pub async fn call(
        self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let path = format!("{API_1_2}{path}");
        self.app.loymax().call(method, &path, token, body).await
    }

    /// A 1.2 method answered with HTTP 200: the envelope.
    pub async fn envelope(
        self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let (status, answer) = self.call(method, path, token, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        answer
    }

    /// A successful 1.2 method's `data`.
    pub async fn data(
        self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let answer = self.envelope(method, path, token, body).await;
        assert_eq!(answer["result"]["state"], "Success", "{path}: {answer}");
        answer["data"].clone()
    }

    pub async fn get(self, token: &str, path: &str) -> Value {
        self.data(Method::GET, path, Some(token), None).await
    }

    pub async fn post(self, token: &str, path: &str, body: Value) -> Value {
        self.data(Method::POST, path, Some(token), Some(body)).await
    }

    /// The token endpoint with a form as the SDK sends it (no client credentials).
    pub async fn token(self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        self.app.loymax().oauth(form).await
    }

    /// The demo customer's access token from the public client's password grant.
    pub async fn demo_token(self) -> String {
        let (status, tokens) = self
            .token(&[
                ("grant_type", "password"),
                ("username", "79161234567"),
                ("password", "111111"),
            ])
            .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        tokens["access_token"].as_str().unwrap().to_string()
    }

    /// Runs `scripts/loymax-sdk-replay.py` against this server: whether it passed, and what it
    /// printed.
    pub async fn replay(self) -> (bool, String) {
        replay(&self.app.base).await
    }
}

/// Runs `scripts/loymax-sdk-replay.py` against `base` (on a blocking thread, the server
/// answering meanwhile): whether it passed, and what it printed.
pub async fn replay(base: &str) -> (bool, String) {
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/loymax-sdk-replay.py");
    let mut command = std::process::Command::new("python3");
    command.arg(script).arg(base).arg(ADMIN_TOKEN);
    let out = tokio::task::spawn_blocking(move || command.output().expect("python3 runs"))
        .await
        .expect("the replay finishes");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Starts the real `kopilka demo` on port 0 (its own temporary database): the child and its
/// address.
pub async fn spawn_demo() -> (tokio::process::Child, String) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kopilka"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .env("KOPILKA_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("KOPILKA_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the kopilka binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(addr) = line.strip_prefix("kopilka demo listening on ") {
                return addr.trim().to_string();
            }
        }
        panic!("kopilka demo exited before listening");
    })
    .await
    .expect("kopilka demo listens within 60 s");
    // Keep reading, so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}
