//! The native `/v1` API as the admin uses it: programs, merchants, customers, operations,
//! balances, messages and the ledger audit.

use super::{TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};

impl TestApp {
    /// POSTs to an admin collection and returns what it created.
    pub async fn create(&self, path: &str, body: Value) -> Value {
        let (status, created) = self.post(path, body).await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {created}");
        created
    }

    pub async fn create_program(&self, body: Value) -> Value {
        self.create("/v1/programs", body).await
    }

    pub async fn create_merchant(&self, body: Value) -> Value {
        self.create("/v1/merchants", body).await
    }

    pub async fn create_customer(&self, body: Value) -> Value {
        self.create("/v1/customers", body).await
    }

    /// A customer of the demo program (id 1) holding `balance` (a decimal string).
    pub async fn customer_with(&self, balance: &str) -> i64 {
        let body = json!({"program_id": 1, "opening_balance": balance});
        self.create_customer(body).await["id"].as_i64().unwrap()
    }

    /// The first customer whose phone matches.
    pub async fn customer_by_phone(&self, phone: &str) -> Value {
        let phone: String = form_urlencoded::byte_serialize(phone.as_bytes()).collect();
        let (status, page) = self.get(&format!("/v1/customers?phone={phone}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"][0].clone()
    }

    pub async fn operation(&self, body: Value) -> (StatusCode, Value) {
        self.post("/v1/operations", body).await
    }

    /// A hold's confirm or void with an `Idempotency-Key`.
    pub async fn resolve_with_key(
        &self,
        operation: &Value,
        action: &str,
        key: &str,
    ) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/v1/operations/{operation}/{action}")))
            .bearer_auth(ADMIN_TOKEN)
            .header("idempotency-key", key)
            .send()
            .await
            .unwrap()
    }

    /// The customer's first balance row.
    pub async fn balance(&self, customer: i64) -> Value {
        let (status, body) = self
            .get(&format!("/v1/customers/{customer}/balances"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body[0].clone()
    }

    /// The customer's balance and held amount, as decimal strings.
    pub async fn balance_and_held(&self, customer: i64) -> (String, String) {
        let b = self.balance(customer).await;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        (text(&b["balance"]), text(&b["held"]))
    }

    pub async fn audit_is_clean(&self) {
        let (status, audit) = self.get("/v1/ledger/audit").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            audit["mismatched_accounts"],
            json!([]),
            "{:?}",
            self.backend
        );
    }

    /// Messages from the outbox, newest first; `query` is `/v1/messages`' query string.
    pub async fn messages(&self, query: &str) -> Vec<Value> {
        let (status, page) = self.get(&format!("/v1/messages?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"].as_array().cloned().unwrap_or_default()
    }

    /// The SMS sent to `phone`, newest first.
    pub async fn sms_to(&self, phone: &str) -> Vec<Value> {
        self.messages(&format!("recipient={phone}&kind=sms")).await
    }

    /// Every item of a listing, page after page.
    pub async fn all_pages(&self, path: &str) -> Vec<Value> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<i64> = None;
        loop {
            let page_path = match cursor {
                Some(c) => format!("{path}{separator}limit=500&cursor={c}"),
                None => format!("{path}{separator}limit=500"),
            };
            let (status, page) = self.get(&page_path).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_i64() {
                Some(next) => cursor = Some(next),
                None => return items,
            }
        }
    }

    /// The id of the merchant called `name`.
    pub async fn merchant_named(&self, name: &str) -> i64 {
        let (_, merchants) = self.get("/v1/merchants").await;
        let list = merchants
            .as_array()
            .cloned()
            .or_else(|| merchants["items"].as_array().cloned())
            .unwrap();
        let merchant = list.iter().find(|m| m["name"] == name);
        merchant.unwrap_or_else(|| panic!("no merchant {name}"))["id"]
            .as_i64()
            .unwrap()
    }

    /// The demo's "Demo Loymax" program, as the admin API lists it.
    pub async fn demo_loymax_program(&self) -> Value {
        let (_, programs) = self.get("/v1/programs").await;
        let list = programs.as_array().expect("programs");
        let program = list.iter().find(|p| p["code"] == "demo-loymax");
        program.expect("the demo's Loymax program").clone()
    }
}

/// The items of an operations page that are of `kind`.
pub fn of_kind<'a>(page: &'a Value, kind: &str) -> Vec<&'a Value> {
    let items = page["items"].as_array().expect("items");
    items.iter().filter(|o| o["kind"] == kind).collect()
}
