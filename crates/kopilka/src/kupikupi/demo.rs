//! The demo platform (the seed's example keys) and a demo shop that pays with Kupi-Kupi points
//! at `/demo/shop/kupikupi`, served only by `kopilka demo`.

use crate::http::html::{render, Chrome, Page};
use crate::http::i18n::Lang;
use crate::secrets::Sealer;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::Router;
use kopilka_domain::ids::MerchantId;
use kopilka_domain::kupikupi::{token, TokenValue};
use kopilka_store::kupikupi::PlatformUrls;
use kopilka_store::SharedStore;
use serde::Deserialize;
use std::sync::Arc;
use std::sync::Mutex;

/// `[[kupikupi]]` in demo.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoPlatform {
    /// The merchant's name in `[[merchants]]`.
    pub merchant: String,
    pub uid: String,
    pub secret_key: String,
    pub dev_secret_key: String,
    /// Paths starting with `/` resolve against kopilka's own address.
    pub site: String,
    pub success_url: String,
    pub fail_url: String,
    pub notification_url: String,
}

pub async fn seed(
    store: &SharedStore,
    sealer: &Sealer,
    platforms: &[DemoPlatform],
    merchants: &[(String, i64)],
) -> anyhow::Result<()> {
    for p in platforms {
        let merchant_id = merchants
            .iter()
            .find(|(name, _)| *name == p.merchant)
            .map(|(_, id)| *id)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "kupikupi platform {}: unknown merchant {}",
                    p.uid,
                    p.merchant
                )
            })?;
        let urls = PlatformUrls {
            site: p.site.clone(),
            success_url: p.success_url.clone(),
            fail_url: p.fail_url.clone(),
            notification_url: p.notification_url.clone(),
        };
        super::admin::register(
            store,
            sealer,
            MerchantId(merchant_id),
            p.uid.clone(),
            urls,
            (&p.secret_key, &p.dev_secret_key),
        )
        .await?;
    }
    Ok(())
}

/// Notifications the demo shop received, newest first (the demo is one process).
static RECEIVED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The demo shop, signing with `platform` (the first `[[kupikupi]]` entry of the demo file).
pub fn shop_router(platform: Option<DemoPlatform>) -> Router<AppState> {
    let routes = Router::new()
        .route("/demo/shop/kupikupi", get(shop))
        .route("/demo/shop/kupikupi/pay", post(pay))
        .route("/demo/shop/kupikupi/notify", post(notify))
        .route("/demo/shop/kupikupi/success", get(|| result_page(true)))
        .route("/demo/shop/kupikupi/fail", get(|| result_page(false)))
        .layer(Extension(Arc::new(platform)));
    crate::http::html::customer_pages(routes)
}

#[derive(Template)]
#[template(path = "demo/kupikupi.html")]
struct ShopView {
    page: Chrome,
    /// How the payment ended.
    result: Option<&'static str>,
    error: Option<String>,
    received: Vec<String>,
}

impl Page for ShopView {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

/// The shop's page (the demo shop is Russian, as the protocol's shops are).
fn shop_page(result: Option<&'static str>, error: Option<String>) -> Response {
    let view = ShopView {
        page: Chrome::new(Lang::Ru, result.unwrap_or("Demo Shop"))
            .brand("Demo Shop")
            // The form's answer redirects to the transfer form's address.
            .forms_anywhere(),
        result,
        error,
        received: RECEIVED.lock().map(|r| r.clone()).unwrap_or_default(),
    };
    render(StatusCode::OK, &view)
}

async fn shop() -> Response {
    shop_page(None, None)
}

#[derive(Deserialize)]
struct PayForm {
    phone: String,
    amount: String,
    #[serde(default)]
    test: Option<String>,
}

/// What the shop's backend does: sign an `init` and send the customer to `transferURL`.
async fn pay(
    State(state): State<AppState>,
    Extension(platform): Extension<Arc<Option<DemoPlatform>>>,
    Form(form): Form<PayForm>,
) -> Response {
    let Some(platform) = platform.as_ref() else {
        return shop_page(None, Some("No demo platform configured.".into()));
    };
    let secret = if form.test.is_some() {
        &platform.dev_secret_key
    } else {
        &platform.secret_key
    };
    let order_id = format!("demo-{}", crate::secrets::random_token(4));
    let fields = vec![
        ("platformUid".to_string(), TokenValue::text(&platform.uid)),
        ("phone".to_string(), TokenValue::text(form.phone.trim())),
        ("orderId".to_string(), TokenValue::text(&order_id)),
        ("amount".to_string(), TokenValue::text(form.amount.trim())),
    ];
    let request = serde_json::json!({
        "platformUid": platform.uid,
        "phone": form.phone.trim(),
        "orderId": order_id,
        "amount": form.amount.trim(),
        "token": token(&fields, secret),
    });
    let answer = reqwest::Client::new()
        .post(format!("{}/api/v1/transfer/init", state.public_url))
        .json(&request)
        .send()
        .await;
    let answer: serde_json::Value = match answer {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(e) => serde_json::json!({"message": e.to_string()}),
    };
    match answer["transferURL"].as_str() {
        Some(url) => Redirect::to(url).into_response(),
        None => shop_page(None, Some(answer.to_string())),
    }
}

/// The shop's NotificationURL handler: remembers the body and answers exactly `OK`.
async fn notify(body: String) -> &'static str {
    if let Ok(mut received) = RECEIVED.lock() {
        received.insert(0, body);
        received.truncate(20);
    }
    "OK"
}

async fn result_page(success: bool) -> Response {
    let title = if success {
        "Оплата прошла"
    } else {
        "Оплата не прошла"
    };
    shop_page(Some(title), None)
}
