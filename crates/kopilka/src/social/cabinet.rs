//! The cabinet's social pages: linking a VK ID or Facebook profile (the seed's "привязка
//! профиля", processed at once: `profile_linked` applies its offers), and signing in — or
//! registering — through a linked network. The OAuth `state` is single-use and bound to the
//! browser that started the flow: the cabinet session when linking, a flow cookie when
//! signing in; the PKCE verifier is sealed in the store.

use super::oauth::{self, Callback};
use super::utc_offset_minutes;
use crate::cabinet::{self, Customer};
use crate::http::edge::{self, Refused};
use crate::http::html::{self, Chrome, Message, Page};
use crate::http::i18n::{self, Asked, Lang, CUSTOMER};
use crate::secrets;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use kopilka_domain::ids::{CustomerId, ProgramId};
use kopilka_domain::offers::Network;
use kopilka_store::social::{
    link_identity, register_with_identity, Linked, OAuthClient, OAuthFlow,
};
use kopilka_store::{JobError, StoreError};
use serde::Deserialize;

/// The cookie binding a sign-in flow to the browser that started it.
const FLOW_COOKIE: &str = "kopilka_social_flow";
/// How long a flow may take at the network.
const FLOW_MS: i64 = 10 * 60 * 1000;
const LINK: &str = "link";
const SIGN_IN: &str = "signin";

pub fn router() -> Router<AppState> {
    let pages = Router::new()
        .route("/cabinet/social", get(linked))
        .route("/cabinet/social/{network}/link", post(start_link))
        .route("/cabinet/social/{network}/callback", get(callback))
        .route("/cabinet/social/signin/{program}", get(sign_in_page))
        .route(
            "/cabinet/social/signin/{program}/{network}",
            post(start_sign_in),
        )
        .layer(axum::middleware::from_fn_with_state(
            edge::Edge::new(edge_refusal, edge::FORM_BODY_LIMIT),
            edge::guard,
        ));
    html::customer_pages(pages)
}

fn edge_refusal(refused: &Refused) -> Response {
    html::refused_page(CUSTOMER[0], refused)
}

/// The networks the cabinet links, as paths and pages name them.
const NETWORKS: [(Network, &str, &str); 2] = [
    (Network::Vk, "vk", "VK ID"),
    (Network::Facebook, "facebook", "Facebook"),
];

fn network_of(code: &str) -> Option<Network> {
    NETWORKS.iter().find(|n| n.1 == code).map(|n| n.0)
}

fn code_of(network: Network) -> &'static str {
    NETWORKS.iter().find(|n| n.0 == network).map_or("", |n| n.1)
}

/// The redirect URI of a network's flows, to register with the network.
pub fn redirect_uri(state: &AppState, network: Network) -> String {
    format!(
        "{}/cabinet/social/{}/callback",
        state.public_url,
        code_of(network)
    )
}

struct NetworkRow {
    code: &'static str,
    name: &'static str,
    account: Option<String>,
    available: bool,
}

#[derive(Template)]
#[template(path = "social/linked.html")]
struct LinkedPage {
    page: Chrome,
    note: Option<String>,
    networks: Vec<NetworkRow>,
}

impl Page for LinkedPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

#[derive(Template)]
#[template(path = "social/signin.html")]
struct SignInPage {
    page: Chrome,
    program_id: i64,
    networks: Vec<NetworkRow>,
}

impl Page for SignInPage {
    fn chrome(&self) -> &Chrome {
        &self.page
    }
}

/// A page saying what happened (message `text`), with a way `back`.
fn note(lang: Lang, status: StatusCode, text: &str, back: &str) -> Response {
    let mut message = Message::new(lang, "social-title", i18n::text(lang, text, None))
        .link(i18n::text(lang, "social-back", None), back);
    if status != StatusCode::OK {
        message.text_id = "error";
    }
    message.answer(status)
}

fn failure(lang: Lang, error: impl std::fmt::Display) -> Response {
    let id = uuid::Uuid::new_v4();
    tracing::error!(error_id = %id, "cabinet social: {error}");
    let values = [("id", fluent_bundle::FluentValue::from(id.to_string()))];
    let text = i18n::text(lang, "common-error-text", Some(&i18n::args(&values)));
    let mut message = Message::new(lang, "common-error", text)
        .link(i18n::text(lang, "social-back", None), "/cabinet");
    message.text_id = "error";
    message.answer(StatusCode::INTERNAL_SERVER_ERROR)
}

fn secure(state: &AppState) -> &'static str {
    if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

async fn linked(State(state): State<AppState>, customer: Result<Customer, Response>) -> Response {
    let customer = match customer {
        Ok(c) => c,
        Err(page) => return page,
    };
    linked_page(&state, &customer, None).await
}

async fn linked_page(state: &AppState, customer: &Customer, note_id: Option<&str>) -> Response {
    let lang = customer.lang;
    let (customer_id, program_id) = (customer.customer.id, customer.customer.program_id);
    let found = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let accounts = tx.social_identities_of(customer_id).await?;
                let clients = tx.oauth_clients(program_id).await?;
                Ok((accounts, clients))
            })
        })
        .await;
    let (accounts, clients) = match found {
        Ok(found) => found,
        Err(error) => return failure(lang, error),
    };
    let networks = NETWORKS
        .iter()
        .map(|&(network, code, name)| NetworkRow {
            code,
            name,
            account: accounts
                .iter()
                .find(|linked| linked.network == network)
                .map(|linked| linked.network_user_id.clone()),
            available: clients.iter().any(|c| c.network == network),
        })
        .collect();
    let page = LinkedPage {
        page: cabinet::chrome(customer, "/cabinet/social", "social-title"),
        note: note_id.map(|id| i18n::text(lang, id, None)),
        networks,
    };
    html::render(StatusCode::OK, &page)
}

/// Starts a flow: the state and verifier kept, the browser sent to the network.
async fn start(
    state: &AppState,
    lang: Lang,
    program_id: ProgramId,
    network: Network,
    purpose: &'static str,
    customer_id: Option<CustomerId>,
    binding: &str,
) -> Result<Redirect, Response> {
    let clients = state
        .store
        .read(move |tx| Box::pin(async move { tx.oauth_clients(program_id).await }))
        .await
        .map_err(|e| failure(lang, e))?;
    let Some(client) = clients.into_iter().find(|c| c.network == network) else {
        return Err(note(
            lang,
            StatusCode::NOT_FOUND,
            "social-not-configured",
            "/cabinet",
        ));
    };
    let flow_state = secrets::random_token(32);
    let verifier = secrets::random_token(32);
    let url = oauth::authorize_url(
        &client,
        &redirect_uri(state, network),
        &flow_state,
        &verifier,
    )
    .map_err(|e| failure(lang, e))?;
    let flow = OAuthFlow {
        program_id,
        network,
        purpose: purpose.to_string(),
        customer_id,
        session_digest: Some(secrets::token_digest(binding)),
        sealed_code_verifier: state.sealer.seal(&verifier),
    };
    let digest = secrets::token_digest(&flow_state);
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let expires = tx.now() + FLOW_MS;
                tx.create_oauth_flow(&digest, &flow, expires).await
            })
        })
        .await
        .map_err(|e| failure(lang, e))?;
    Ok(Redirect::to(&url))
}

async fn start_link(
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    customer: Result<Customer, Response>,
) -> Response {
    let customer = match customer {
        Ok(c) => c,
        Err(page) => return page,
    };
    let lang = customer.lang;
    let Some(network) = network_of(&code) else {
        return note(
            lang,
            StatusCode::NOT_FOUND,
            "social-no-network",
            "/cabinet/social",
        );
    };
    // Signed in means the session cookie is there: the flow is bound to it.
    let session = cabinet::session_token(&headers).unwrap_or_default();
    match start(
        &state,
        lang,
        customer.customer.program_id,
        network,
        LINK,
        Some(customer.customer.id),
        &session,
    )
    .await
    {
        Ok(redirect) => redirect.into_response(),
        Err(page) => page,
    }
}

async fn sign_in_page(
    State(state): State<AppState>,
    Path(program): Path<i64>,
    asked: Asked,
) -> Response {
    let lang = asked.pick(None, CUSTOMER);
    let found = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let clients = tx.oauth_clients(ProgramId(program)).await?;
                Ok((tx.program(ProgramId(program)).await?, clients))
            })
        })
        .await;
    let (program, clients): (_, Vec<OAuthClient>) = match found {
        Ok((Some(program), clients)) => (program, clients),
        Ok((None, _)) => return note(lang, StatusCode::NOT_FOUND, "social-no-program", "/cabinet"),
        Err(error) => return failure(lang, error),
    };
    let lang = asked.pick(Some(&program.rules.language), CUSTOMER);
    let networks = NETWORKS
        .iter()
        .filter(|n| clients.iter().any(|c| c.network == n.0))
        .map(|&(_, code, name)| NetworkRow {
            code,
            name,
            account: None,
            available: true,
        })
        .collect();
    let path = format!("/cabinet/social/signin/{}", program.id.0);
    let page = SignInPage {
        page: Chrome::titled(lang, "social-signin-title")
            .brand(program.name)
            .switch(&asked, &path, CUSTOMER),
        program_id: program.id.0,
        networks,
    };
    html::render(StatusCode::OK, &page)
}

async fn start_sign_in(
    State(state): State<AppState>,
    Path((program, code)): Path<(i64, String)>,
    asked: Asked,
) -> Response {
    let lang = asked.pick(None, CUSTOMER);
    let Some(network) = network_of(&code) else {
        return note(lang, StatusCode::NOT_FOUND, "social-no-network", "/cabinet");
    };
    let binding = secrets::random_token(32);
    match start(
        &state,
        lang,
        ProgramId(program),
        network,
        SIGN_IN,
        None,
        &binding,
    )
    .await
    {
        Ok(redirect) => {
            let cookie = format!(
                "{FLOW_COOKIE}={binding}; Path=/cabinet/social; HttpOnly; SameSite=Lax; Max-Age={}{}",
                FLOW_MS / 1000,
                secure(&state)
            );
            ([(header::SET_COOKIE, cookie)], redirect).into_response()
        }
        Err(page) => page,
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    device_id: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// The network sends the browser back: the flow is taken (once), checked against the browser,
/// the code exchanged, and the account linked or signed in.
async fn callback(
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    asked: Asked,
    signed_in: Result<Customer, Response>,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let lang = asked.pick(None, CUSTOMER);
    let refused = |id: &str| note(lang, StatusCode::BAD_REQUEST, id, "/cabinet/social");
    let Some(network) = network_of(&code) else {
        return refused("social-no-network");
    };
    let Some(flow_state) = query.state.as_deref().filter(|s| s.len() <= 200) else {
        return refused("social-link-incomplete");
    };
    let digest = secrets::token_digest(flow_state);
    let flow = state
        .store
        .write(move |tx| Box::pin(async move { tx.take_oauth_flow(&digest).await }))
        .await;
    let flow = match flow {
        Ok(Some(flow)) if flow.network == network => flow,
        Ok(_) => return refused("social-link-stale"),
        Err(error) => return failure(lang, error),
    };
    let binding = match flow.purpose.as_str() {
        LINK => cabinet::session_token(&headers),
        _ => html::cookie(&headers, FLOW_COOKIE),
    };
    let bound = match (&binding, &flow.session_digest) {
        (Some(binding), Some(expected)) => {
            secrets::constant_time_eq(&secrets::token_digest(binding), expected)
        }
        _ => false,
    };
    if !bound {
        return note(
            lang,
            StatusCode::FORBIDDEN,
            "social-other-browser",
            "/cabinet/social",
        );
    }
    if query.error.is_some() {
        return refused("social-network-refused");
    }
    let Some(code) = query
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 1000)
    else {
        return refused("social-no-code");
    };
    let program_id = flow.program_id;
    let loaded = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let program = tx.program(program_id).await?;
                let clients = tx.oauth_clients(program_id).await?;
                Ok((program, clients))
            })
        })
        .await;
    let (rules, client) = match loaded {
        Ok((Some(program), clients)) => match clients.into_iter().find(|c| c.network == network) {
            Some(client) => (program.rules, client),
            None => return refused("social-not-configured"),
        },
        Ok((None, _)) => return refused("social-no-program"),
        Err(error) => return failure(lang, error),
    };
    let (Ok(secret), Ok(verifier)) = (
        state.sealer.unseal(&client.sealed_client_secret),
        state.sealer.unseal(&flow.sealed_code_verifier),
    ) else {
        return failure(lang, "a sealed OAuth secret does not unseal");
    };
    let account = oauth::account(
        &client,
        &secret,
        &redirect_uri(&state, network),
        &verifier,
        Callback {
            code,
            device_id: query.device_id.as_deref(),
            state: flow_state,
        },
    )
    .await;
    let account = match account {
        Ok(account) => account,
        Err(error) => {
            tracing::warn!(?network, "OAuth flow failed: {error}");
            return note(
                lang,
                StatusCode::BAD_GATEWAY,
                "social-network-failed",
                "/cabinet/social",
            );
        }
    };
    let offset = utc_offset_minutes(&rules, super::now_ms());
    match (flow.purpose.as_str(), flow.customer_id) {
        (LINK, Some(customer_id)) => {
            let linked = state
                .store
                .write_retrying(|| {
                    let (rules, account) = (rules.clone(), account.clone());
                    move |tx| {
                        Box::pin(async move {
                            link_identity(tx, rules, offset, customer_id, network, &account).await
                        })
                    }
                })
                .await;
            let text = match linked {
                Ok(Linked::New) => "social-linked-new",
                Ok(Linked::Already) => "social-linked-already",
                Ok(Linked::TakenByAnother) => "social-linked-taken",
                Ok(Linked::CustomerHasAnother) => "social-linked-other",
                Err(error) => return failure(lang, error),
            };
            // The flow is bound to this session, so its customer is the one linked.
            match signed_in {
                Ok(customer) => linked_page(&state, &customer, Some(text)).await,
                Err(page) => page,
            }
        }
        _ => sign_in(&state, lang, program_id, rules, offset, network, account).await,
    }
}

/// Signs in the customer the account is linked to, or registers one with it.
async fn sign_in(
    state: &AppState,
    lang: Lang,
    program_id: ProgramId,
    rules: kopilka_domain::program::ProgramRules,
    offset: i32,
    network: Network,
    account: String,
) -> Response {
    let session = secrets::random_token(32);
    let session_digest = secrets::token_digest(&session);
    let signed_in = state
        .store
        .write_retrying_refusing(|| {
            let (rules, account, session_digest) =
                (rules.clone(), account.clone(), session_digest.clone());
            move |tx| {
                Box::pin(async move {
                    let customer = match tx.social_identity(program_id, network, &account).await? {
                        Some(customer) => customer,
                        None => {
                            register_with_identity(tx, program_id, rules, offset, network, &account)
                                .await
                                .map_err(|e| match e {
                                    StoreError::Duplicate(_) => JobError::Refused(()),
                                    other => JobError::Store(other),
                                })?
                        }
                    };
                    let now = tx.now();
                    tx.create_cabinet_session(customer, &session_digest, now + cabinet::SESSION_MS)
                        .await?;
                    Ok(())
                })
            }
        })
        .await;
    match signed_in {
        Ok(()) => {
            let flow_gone =
                format!("{FLOW_COOKIE}=; Path=/cabinet/social; HttpOnly; SameSite=Lax; Max-Age=0");
            (
                AppendHeaders([
                    (header::SET_COOKIE, cabinet::session_cookie(state, &session)),
                    (header::SET_COOKIE, flow_gone),
                ]),
                Redirect::to("/cabinet"),
            )
                .into_response()
        }
        Err(JobError::Refused(()) | JobError::RefusedKeeping(())) => note(
            lang,
            StatusCode::CONFLICT,
            "social-just-registered",
            "/cabinet",
        ),
        Err(JobError::Store(error)) => failure(lang, error),
    }
}
