//! A Loymax client: the public API (registration, profile, cards, history) under a bearer
//! token, the OAuth token endpoint, the processing API a shop calls and the batch balance API.

use super::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const API: &str = "/api/v1.1";
/// The demo's batch API key.
pub const BATCH_KEY: &str = "kopilka-demo-batch";
/// The batch API's main path.
pub const BATCH_PATH: &str = "/batchoperations/v1/requests";

#[derive(Clone, Copy)]
pub struct Loymax<'a> {
    app: &'a TestApp,
}

/// A public API answer (HTTP 200 with a `result` envelope).
pub struct Answer {
    path: String,
    pub body: Value,
}

impl Answer {
    /// A successful answer's `data`.
    pub fn ok(self) -> Value {
        let (path, answer) = (&self.path, &self.body);
        assert_eq!(answer["result"]["state"], "Success", "{path}: {answer}");
        assert_eq!(answer["result"]["httpCode"], 200);
        self.body["data"].clone()
    }

    /// A refusal (`state: Error`, `httpCode` 400): the whole answer.
    pub fn refused(self) -> Value {
        let (path, answer) = (&self.path, &self.body);
        assert_eq!(answer["result"]["state"], "Error", "{path}: {answer}");
        assert_eq!(answer["result"]["httpCode"], 400);
        self.body
    }
}

impl TestApp {
    pub fn loymax(&self) -> Loymax<'_> {
        Loymax { app: self }
    }
}

impl<'a> Loymax<'a> {
    /// Any request to any path, its status and body as they come.
    pub async fn call(
        self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.app.http.request(method, self.app.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        super::answer(request.send().await.expect("request")).await
    }

    /// [`Loymax::call`] with extra headers (`X-Forwarded-For`, `Forwarded`).
    pub async fn call_with(
        self,
        headers: &[(&str, &str)],
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.app.http.request(method, self.app.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        super::answer(request.send().await.expect("request")).await
    }

    /// BeginRegistration sent with `headers`: the whole answer.
    pub async fn begin_registration_with(
        self,
        headers: &[(&str, &str)],
        login: &str,
        password: &str,
    ) -> Value {
        let body = json!({"login": login, "password": password});
        let path = format!("{API}/Registration/BeginRegistration");
        let (status, answer) = self
            .call_with(headers, Method::POST, &path, None, Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer
    }

    /// A password grant for the demo POS application from a client behind the proxy
    /// (`X-Forwarded-For: client`).
    pub async fn password_grant_from(
        self,
        client: &str,
        username: &str,
        password: &str,
    ) -> (StatusCode, Value) {
        let form = [
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
            ("client_id", "demo-pos"),
            ("client_secret", "demo-pos-secret"),
        ];
        let url = self.app.url("/authorizationService/token");
        let request = self.app.http.post(url).form(&form);
        let response = request.header("x-forwarded-for", client).send();
        let response = response.await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// The status and body of a GET under [`API`], whatever they are.
    pub async fn get_raw(self, token: Option<&str>, path: &str) -> (StatusCode, Value) {
        let path = format!("{API}{path}");
        self.call(Method::GET, &path, token, None).await
    }

    /// A public API method under [`API`].
    pub async fn api(
        self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let full = format!("{API}{path}");
        let (status, body) = self.call(method, &full, token, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        Answer {
            path: path.into(),
            body,
        }
    }

    pub async fn get(self, token: &str, path: &str) -> Answer {
        self.api(Method::GET, path, Some(token), None).await
    }

    pub async fn post(self, token: &str, path: &str, body: Value) -> Answer {
        self.api(Method::POST, path, Some(token), Some(body)).await
    }

    /// A POST without a token (password reset).
    pub async fn post_anonymous(self, path: &str, body: Value) -> Answer {
        self.api(Method::POST, path, None, Some(body)).await
    }

    pub async fn post_empty(self, token: &str, path: &str) -> Answer {
        self.api(Method::POST, path, Some(token), None).await
    }

    pub async fn begin_registration(self, login: &str, password: &str) -> Value {
        let body = json!({"login": login, "password": password});
        let path = "/Registration/BeginRegistration";
        self.api(Method::POST, path, None, Some(body)).await.body
    }

    /// Begins a registration without a password: the token it hands out.
    pub async fn begin_token(self, login: &str) -> String {
        let answer = self.begin_registration(login, "").await;
        assert_eq!(answer["data"]["state"], "Success", "{answer}");
        answer["data"]["authToken"].as_str().unwrap().to_string()
    }

    /// `user/actions` as (type, state, done) triples.
    pub async fn actions(self, token: &str) -> Vec<(String, String, bool)> {
        let data = self.get(token, "/user/actions").await.ok();
        let text = |v: &Value| v.as_str().unwrap().to_string();
        let list = data["actions"].as_array().unwrap().iter();
        list.map(|a| {
            let done = a["isDone"].as_bool().unwrap();
            (text(&a["userActionType"]), text(&a["actionState"]), done)
        })
        .collect()
    }

    /// Which of `user/actions` are done, in order.
    pub async fn done(self, token: &str) -> Vec<bool> {
        let actions = self.actions(token).await;
        actions.into_iter().map(|a| a.2).collect()
    }

    pub async fn accept_tender_offer(self, token: &str) -> Answer {
        self.post_empty(token, "/User/AcceptTenderOffer").await
    }

    pub async fn send_phone_code(self, token: &str) -> Answer {
        self.post_empty(token, "/User/PhoneNumber/SendConfirmCode")
            .await
    }

    pub async fn confirm_phone_code(self, token: &str, code: &str) -> Answer {
        let body = json!({"confirmCode": code});
        self.post(token, "/User/PhoneNumber/Confirm", body).await
    }

    /// Confirms the phone with the code last sent to it: the new token.
    pub async fn confirm_phone(self, token: &str, phone: &str) -> String {
        let code = self.code(phone).await;
        let data = self.confirm_phone_code(token, &code).await.ok();
        data["authToken"].as_str().unwrap().to_string()
    }

    pub async fn set_password(self, token: &str, password: &str) -> Answer {
        let body = json!({"password": password});
        self.post(token, "/User/Password/Set", body).await
    }

    /// Sets the password the tests use: the new token.
    pub async fn set_test_password(self, token: &str) -> String {
        let data = self.set_password(token, "352678").await.ok();
        data["authToken"].as_str().unwrap().to_string()
    }

    pub async fn answers(self, token: &str, answers: Value) -> Answer {
        self.post(token, "/User/Answers", answers).await
    }

    pub async fn try_finish_registration(self, token: &str) -> Answer {
        self.post_empty(token, "/Registration/TryFinishRegistration")
            .await
    }

    pub async fn cards(self, token: &str) -> Answer {
        self.get(token, "/Cards").await
    }

    pub async fn set_card(self, token: &str, number: &str) -> Answer {
        let body = json!({"cardNumber": number});
        self.post(token, "/Cards/Set", body).await
    }

    /// Whether a virtual card may be issued.
    pub async fn virtual_card_emission(self, token: &str) -> Answer {
        self.get(token, "/Cards/EmitVirtual").await
    }

    pub async fn emit_virtual_card(self, token: &str) -> Answer {
        let path = "/Cards/EmitVirtual";
        self.api(Method::PUT, path, Some(token), None).await
    }

    /// The latest code sent to a phone or an address, read from the outbox.
    pub async fn code(self, recipient: &str) -> String {
        let page = self
            .app
            .messages(&format!("recipient={recipient}&limit=1"))
            .await;
        let body = page
            .first()
            .and_then(|m| m["body"].as_str())
            .unwrap_or_else(|| panic!("no message to {recipient}"));
        body.chars().filter(char::is_ascii_digit).take(6).collect()
    }

    /// Replaces keys of the demo Loymax program's `loymax` settings.
    pub async fn configure(self, patch: Value) {
        let program = self.app.demo_loymax_program().await;
        let mut settings = program["settings"].clone();
        for (k, v) in patch.as_object().unwrap() {
            settings["loymax"][k] = v.clone();
        }
        let body = json!({"code": "demo-loymax", "name": program["name"], "rules": program["rules"], "settings": settings});
        let path = format!("/v1/programs/{}", program["id"]);
        let (status, answer) = self.app.send_put(&path, &body).await;
        assert!(status.is_success(), "{answer}");
    }

    /// The OAuth token endpoint.
    pub async fn oauth(self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let url = self.app.url("/authorizationService/token");
        let response = self.app.http.post(url).form(form).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// A password grant for the demo POS application.
    pub async fn password_grant(
        self,
        username: &str,
        password: &str,
        client_secret: &str,
    ) -> (StatusCode, Value) {
        self.oauth(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
            ("client_id", "demo-pos"),
            ("client_secret", client_secret),
        ])
        .await
    }

    /// A refresh grant for application `client_id`.
    pub async fn refresh_grant(
        self,
        refresh_token: &str,
        client_id: &str,
        client_secret: &str,
    ) -> (StatusCode, Value) {
        self.oauth(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
            ("client_secret", client_secret),
        ])
        .await
    }

    /// The demo customer's access token.
    pub async fn demo_token(self) -> String {
        let (status, tokens) = self
            .password_grant("79161234567", "111111", "demo-pos-secret")
            .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        tokens["access_token"].as_str().unwrap().to_string()
    }

    /// The processing and batch tests' customer in the demo's "Demo Loymax" program
    /// (+79001234567, member 012345, 1000.00 points), created on first use.
    pub async fn customer(self) -> i64 {
        let found = self.app.customer_by_phone("+79001234567").await;
        if let Some(id) = found["id"].as_i64() {
            return id;
        }
        let program = self.app.demo_loymax_program().await["id"].clone();
        let body = json!({"program_id": program, "phone": "79001234567", "member_no": "012345", "opening_balance": "1000.00"});
        self.app.create_customer(body).await["id"].as_i64().unwrap()
    }

    /// A shop of the demo Loymax merchant with a processing token for [`Loymax::customer`].
    pub async fn shop(self) -> Shop {
        let merchant = self.app.merchant_named("Demo Loymax Shop").await;
        let body = json!({"merchant_id": merchant});
        let application = self.app.create("/v1/loymax/applications", body).await;
        let customer = self.customer().await;
        let client = application["client_id"].as_str().unwrap();
        let path = format!("/v1/loymax/applications/{client}/tokens");
        let token = self
            .app
            .create(&path, json!({"customer_id": customer}))
            .await;
        Shop {
            http: self.app.http.clone(),
            base: self.app.base.clone(),
            token: token["access_token"].as_str().unwrap().to_string(),
            customer,
        }
    }

    /// A shop of merchant `merchant` (a new application of it) with a processing token for
    /// [`Loymax::customer`].
    pub async fn shop_of(self, merchant: i64) -> Shop {
        let body = json!({"merchant_id": merchant});
        let application = self.app.create("/v1/loymax/applications", body).await;
        let customer = self.customer().await;
        let client = application["client_id"].as_str().unwrap();
        let path = format!("/v1/loymax/applications/{client}/tokens");
        let body = json!({"customer_id": customer});
        let token = self.app.create(&path, body).await;
        Shop {
            http: self.app.http.clone(),
            base: self.app.base.clone(),
            token: token["access_token"].as_str().unwrap().to_string(),
            customer,
        }
    }

    /// A batch request to [`BATCH_PATH`] with the demo key.
    pub async fn send_batch(self, body: impl ToString) -> (StatusCode, Value) {
        self.batch(BATCH_PATH, BATCH_KEY, body.to_string()).await
    }

    /// A batch request with API key `key`.
    pub async fn batch(self, path: &str, key: &str, body: String) -> (StatusCode, Value) {
        let url = self.app.url(path);
        let response = super::post_json_text(&self.app.http, url, Some(key), body).await;
        let status = response.status();
        (status, response.json().await.unwrap())
    }
}

/// A shop calling the processing API with its token.
pub struct Shop {
    http: reqwest::Client,
    base: String,
    pub token: String,
    pub customer: i64,
}

impl Shop {
    /// A processing call: HTTP 200 and the answer.
    pub async fn call(&self, path: &str, body: &str) -> Value {
        let url = format!("{}{path}", self.base);
        let token = Some(self.token.as_str());
        let response = super::post_json_text(&self.http, url, token, body.into()).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// A purchase method (`Calculate`, `Pay`, …) on purchase `id`.
    pub async fn purchase(&self, id: &str, method: &str, body: &str) -> Value {
        self.call(&purchase_path(id, method), body).await
    }

    /// The processing balance: `balance` and `availableAmount`.
    pub async fn balance(&self) -> (Value, Value) {
        let url = format!("{}/api/Processing/Balance", self.base);
        let response = self.http.get(url).bearer_auth(&self.token).send();
        let body: Value = response.await.unwrap().json().await.unwrap();
        let row = &body["data"][0];
        (row["balance"].clone(), row["availableAmount"].clone())
    }
}

pub fn purchase_path(id: &str, method: &str) -> String {
    format!("/publicapi/v1.2/Processing/Purchases/{id}/{method}")
}

/// A processing answer's first code.
pub fn code(answer: &Value) -> &str {
    answer["data"][0]["code"].as_str().unwrap_or("?")
}

/// Cheques, history and the program's processing settings (issue 15's cheque part).
impl Loymax<'_> {
    /// Replaces the demo Loymax program's rules and settings with what `change` makes of them.
    pub async fn change_program(self, change: impl FnOnce(&mut Value, &mut Value)) {
        let program = self.app.demo_loymax_program().await;
        let (mut rules, mut settings) = (program["rules"].clone(), program["settings"].clone());
        change(&mut rules, &mut settings);
        let body = json!({"code": "demo-loymax", "name": program["name"], "rules": rules, "settings": settings});
        let path = format!("/v1/programs/{}", program["id"]);
        let (status, answer) = self.app.send_put(&path, &body).await;
        assert!(status.is_success(), "{answer}");
    }

    /// A card of the processing tests' customer.
    pub async fn add_card(self, number: &str) -> i64 {
        let program = self.app.demo_loymax_program().await["id"].clone();
        let customer = self.customer().await;
        let body = json!({"program_id": program, "number": number, "kind": "physical", "customer_id": customer});
        self.app.create("/v1/cards", body).await["id"]
            .as_i64()
            .unwrap()
    }
}

impl Shop {
    /// `GET {prefix}/History?{query}` with the shop's customer token: the whole answer.
    pub async fn history(&self, prefix: &str, query: &str) -> Value {
        self.get_with_token(&format!("{prefix}/History?{query}"))
            .await
    }

    /// `GET path` with the shop's customer token: the whole answer.
    pub async fn get_with_token(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.base);
        let response = self.http.get(url).bearer_auth(&self.token).send();
        response.await.unwrap().json().await.unwrap()
    }
}
