//! What every admin route (native `/v1` and the protocols' admin routes) passes through, in
//! one place: the principal of its bearer token, its role checked against the route's action
//! (`kopilka_domain::operator::classify`, from the method and the route's template), and the
//! audit log of every change and export, written before the answer goes out (docs/operators.md).

use super::error::ApiError;
use super::operator::{self, Principal};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use kopilka_domain::operator::{
    classify, is_audited, program_route, redact, Action, ProgramRoute, Scope,
};
use kopilka_store::operators::AuditEntry;
use std::collections::BTreeSet;
use std::sync::Arc;
use tower::ServiceExt;

/// The method and template of the request's route, once routed.
fn route_of(request: &Request) -> Option<(String, String)> {
    let template = request
        .extensions()
        .get::<MatchedPath>()?
        .as_str()
        .to_string();
    Some((request.method().as_str().to_string(), template))
}

/// Middleware: the principal of the bearer token (401 without one), allowed the route's
/// action by its role (403 otherwise, and for a route no rule classifies), goes into the
/// request's extensions for the handler and the audit log.
pub async fn require_admin(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let action = route_of(&request).and_then(|(method, template)| classify(&method, &template));
    let Some(action) = action else {
        return ApiError::forbidden("this route is not open to any role").into_response();
    };
    if action == Action::SignIn {
        return next.run(request).await;
    }
    let principal = match operator::principal(&state, request.headers()).await {
        Ok(principal) => principal,
        Err(refused) => return refused.into_response(),
    };
    if !principal.role().permits(action) {
        return ApiError::forbidden(&format!(
            "the role {} may not do this",
            principal.role().as_str()
        ))
        .into_response();
    }
    if principal.scope() != &Scope::AllPrograms {
        if let Err(refused) = limit_to_programs(&state, &principal, &mut request).await {
            return refused.into_response();
        }
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

/// A program-limited operator's request checked against its scope, as the route's
/// `program_route` says: another program's entity is not found (404, ids do not leak); a list
/// names a program in scope (the only one when it names none); a global route is refused.
async fn limit_to_programs(
    state: &AppState,
    principal: &Principal,
    request: &mut Request,
) -> Result<(), ApiError> {
    let Some((method, template)) = route_of(request) else {
        return Err(ApiError::forbidden("this route is not open to any role"));
    };
    match program_route(&method, &template) {
        ProgramRoute::Own | ProgramRoute::Programs | ProgramRoute::InBody => Ok(()),
        ProgramRoute::Global => Err(ApiError::forbidden(
            "an operator limited to programs may not do this",
        )),
        ProgramRoute::Entity(entity) => {
            let id = path_id(&template, request.uri().path());
            let program = match id {
                Some(id) => {
                    state
                        .store
                        .read(move |tx| Box::pin(async move { tx.program_of(entity, id).await }))
                        .await?
                }
                None => None,
            };
            match program {
                Some(program) => principal.may_see(program, entity.as_str()),
                None => Err(ApiError::not_found(entity.as_str())),
            }
        }
        ProgramRoute::Listed(parameter) => {
            let query = request.uri().query().unwrap_or_default().to_string();
            let named = form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == parameter)
                .map(|(_, value)| value.into_owned());
            if let Some(named) = named {
                let program = named
                    .parse()
                    .map_err(|_| ApiError::bad_parameter(parameter, "a program's id"))?;
                return principal.may_see(program, "program");
            }
            let programs = principal.scope().programs().unwrap_or_default();
            let [only] = programs.as_slice() else {
                return Err(ApiError::bad_parameter(
                    parameter,
                    "an operator limited to several programs names one",
                ));
            };
            let separator = if query.is_empty() { "" } else { "&" };
            let uri = format!(
                "{}?{query}{separator}{parameter}={only}",
                request.uri().path()
            );
            *request.uri_mut() = uri
                .parse()
                .map_err(|_| ApiError::bad_parameter(parameter, "a program's id"))?;
            Ok(())
        }
    }
}

/// The id in the path at the template's first `{…}` segment, when it is a number.
fn path_id(template: &str, path: &str) -> Option<i64> {
    let at = template.split('/').position(|s| s.starts_with('{'))?;
    path.split('/').nth(at)?.parse().ok()
}

/// What the audit layer needs: the store, and the admin routes themselves (unguarded) to read
/// an entity as the API shows it before and after a change.
#[derive(Clone)]
pub struct Auditor {
    state: AppState,
    routes: Router,
    /// Templates of every `GET` admin route.
    reads: Arc<BTreeSet<String>>,
}

impl Auditor {
    pub fn new(state: AppState, routes: Router<AppState>, reads: BTreeSet<String>) -> Auditor {
        Auditor {
            routes: routes.with_state(state.clone()),
            state,
            reads: Arc::new(reads),
        }
    }

    /// The entity at `path` as its `GET` answers it, secrets redacted.
    async fn read(&self, path: &str) -> Option<serde_json::Value> {
        let request = Request::get(path).body(Body::empty()).ok()?;
        let response = self.routes.clone().oneshot(request).await.ok()?;
        if response.status() != StatusCode::OK {
            return None;
        }
        let bytes = axum::body::to_bytes(response.into_body(), BODY_MAX)
            .await
            .ok()?;
        let mut value = serde_json::from_slice(&bytes).ok()?;
        redact(&mut value);
        Some(value)
    }
}

/// The audit row of a change as the audit layer drafted it, in the request's extensions for a
/// handler that writes it in the change's own transaction (a ledger operation: one commit per
/// operation instead of two). The handler sets the status, the entity's id and the after, and
/// marks its answer [`Audited`].
#[derive(Clone)]
pub struct AuditDraft(pub AuditEntry);

/// In an answer's extensions: its audit row was written in the change's own transaction.
#[derive(Clone, Copy)]
pub struct Audited;

/// The most of an entity's answer the audit log reads.
const BODY_MAX: usize = 1 << 20;

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The entity a route changes: its kind (the path before its id, `kupikupi/platforms`), its
/// id, and the `GET` path that shows it, when there is one.
#[derive(Debug, Default, PartialEq, Eq)]
struct Entity {
    kind: Option<String>,
    id: Option<String>,
    read_path: Option<String>,
    /// A creation: the new entity's id is in the answer, under the `GET` at `{path}/{id}`.
    created_under: Option<String>,
}

fn entity_of(template: &str, path: &str, reads: &BTreeSet<String>) -> Entity {
    let template_segments: Vec<&str> = template.trim_start_matches("/v1/").split('/').collect();
    let path_segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    match template_segments.iter().position(|s| s.starts_with('{')) {
        Some(at) if path_segments.len() == template_segments.len() => {
            let entity_template = format!("/v1/{}", template_segments[..=at].join("/"));
            let entity_path = format!("/v1/{}", path_segments[..=at].join("/"));
            Entity {
                kind: Some(template_segments[..at].join("/")),
                id: Some(path_segments[at].to_string()),
                read_path: reads.contains(&entity_template).then_some(entity_path),
                created_under: None,
            }
        }
        Some(_) => Entity::default(),
        None => {
            let prefix = format!("{template}/{{");
            let readable = reads
                .iter()
                .any(|read| read.starts_with(&prefix) && !read[prefix.len()..].contains('/'));
            Entity {
                kind: Some(template_segments.join("/")),
                id: None,
                read_path: None,
                created_under: readable.then(|| path.to_string()),
            }
        }
    }
}

/// The id an answer to a creation names: `id`, `uid` or `project_id`.
fn created_id(answer: &serde_json::Value) -> Option<String> {
    ["id", "uid", "project_id"]
        .iter()
        .find_map(|name| match answer.get(name)? {
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::String(s) => Some(s.clone()),
            _ => None,
        })
}

/// The request as the audit log keeps it: its query and JSON body, secrets redacted.
fn request_record(query: Option<&str>, body: &[u8]) -> Option<serde_json::Value> {
    let mut record = serde_json::Map::new();
    if let Some(query) = query {
        let fields: serde_json::Map<String, serde_json::Value> =
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
                .collect();
        record.insert("query".into(), fields.into());
    }
    if !body.iter().all(u8::is_ascii_whitespace) {
        let body = serde_json::from_slice(body)
            .unwrap_or_else(|_| serde_json::json!({"not_json_bytes": body.len()}));
        record.insert("body".into(), body);
    }
    let mut record = serde_json::Value::Object(record);
    redact(&mut record);
    Some(record).filter(|r| r.as_object().is_some_and(|o| !o.is_empty()))
}

/// Names in the request's record the programs the operator was limited to when it acted.
fn record_scope(principal: &Principal, request_json: &mut Option<serde_json::Value>) {
    if let Some(programs) = principal.scope().programs() {
        let record = request_json.get_or_insert_with(|| serde_json::json!({}));
        record["operator_programs"] = programs.into();
    }
}

/// Middleware inside the edge: every change and export gets its audit row before its answer
/// goes out; when the row cannot be written the answer is a 500 (the change may have been
/// made: docs/operators.md).
pub async fn audit(State(auditor): State<Auditor>, request: Request, next: Next) -> Response {
    let Some((method, template)) = route_of(&request) else {
        return next.run(request).await;
    };
    let audited = classify(&method, &template).is_some_and(|action| is_audited(&method, action));
    if !audited {
        return next.run(request).await;
    }
    let principal = request.extensions().get::<Principal>().cloned();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let entity = entity_of(&template, &path, &auditor.reads);
    let before = match &entity.read_path {
        Some(read_path) => auditor.read(read_path).await,
        None => None,
    };
    // The edge read the body within its limit: it is in memory already.
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut request_json = request_record(query.as_deref(), &body);
    let mut parts = parts;
    if let Some(principal) = &principal {
        record_scope(principal, &mut request_json);
        parts.extensions.insert(AuditDraft(audit_entry(
            principal,
            &method,
            &template,
            entity.kind.clone(),
            request_json.clone(),
        )));
    }
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    if response.extensions().get::<Audited>().is_some() {
        return response;
    }
    let status = response.status();
    // Sign-in names its operator in the answer's extensions. A failed sign-in acts for
    // nobody: it is counted by the throttle, and a stranger's guesses write no audit rows.
    let Some(principal) = principal.or_else(|| response.extensions().get::<Principal>().cloned())
    else {
        return response;
    };
    record_scope(&principal, &mut request_json);
    let (response, entity_id, after) = match (&entity.created_under, &entity.read_path) {
        // A creation: the new entity's id is in the answer (a JSON value built in memory),
        // and the answer is its after, as a read of it would show it right after.
        (Some(_), _)
            if method != Method::GET.as_str() && status.is_success() && is_json(&response) =>
        {
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let mut answer = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
            let id = answer.as_ref().and_then(created_id);
            if let Some(answer) = &mut answer {
                redact(answer);
            }
            (Response::from_parts(parts, Body::from(bytes)), id, answer)
        }
        (None, Some(read_path)) if method != Method::GET.as_str() => {
            let after = auditor.read(read_path).await;
            (response, entity.id.clone(), after)
        }
        _ => (response, entity.id.clone(), None),
    };
    let entry = AuditEntry {
        entity_id,
        status: i64::from(status.as_u16()),
        before,
        after,
        ..audit_entry(&principal, &method, &template, entity.kind, request_json)
    };
    let written = auditor
        .state
        .store
        .write(move |tx| Box::pin(async move { tx.record_audit(&entry).await }))
        .await;
    match written {
        Ok(_) => response,
        Err(error) => {
            ApiError::internal(format!("the audit row was not written: {error}")).into_response()
        }
    }
}

/// An audit row of `principal`'s request, without what its answer tells.
fn audit_entry(
    principal: &Principal,
    method: &str,
    template: &str,
    entity_kind: Option<String>,
    request: Option<serde_json::Value>,
) -> AuditEntry {
    let (actor, operator_id, token_id) = match principal {
        Principal::Operator { id, token_id, .. } => ("operator", Some(*id), Some(*token_id)),
        Principal::Bootstrap => ("bootstrap", None, None),
    };
    AuditEntry {
        id: 0,
        at: kopilka_store::now_ms(),
        actor: actor.into(),
        operator_id,
        token_id,
        method: method.into(),
        route: template.into(),
        entity_kind,
        entity_id: None,
        status: 0,
        before: None,
        after: None,
        request,
    }
}

/// Admin routes as every surface mounts them: the principal and its role checked first
/// (before any extractor reads the body), then the edge in the native error format, then the
/// audit log.
pub fn admin_routes(
    routes: Router<AppState>,
    state: AppState,
    auditor: Auditor,
) -> Router<AppState> {
    routes
        .layer(axum::middleware::from_fn_with_state(auditor, audit))
        .layer(axum::middleware::from_fn_with_state(
            super::edge::Edge::new(super::error::native_refusal, super::edge::JSON_BODY_LIMIT),
            super::edge::guard,
        ))
        .route_layer(axum::middleware::from_fn_with_state(state, require_admin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entity_of_a_route() {
        let reads: BTreeSet<String> = [
            "/v1/programs/{id}",
            "/v1/kupikupi/platforms/{uid}",
            "/v1/operations/{id}",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let put = entity_of("/v1/programs/{id}", "/v1/programs/7", &reads);
        assert_eq!(put.kind.as_deref(), Some("programs"));
        assert_eq!(put.id.as_deref(), Some("7"));
        assert_eq!(put.read_path.as_deref(), Some("/v1/programs/7"));
        let reverse = entity_of(
            "/v1/operations/{id}/reverse",
            "/v1/operations/9/reverse",
            &reads,
        );
        assert_eq!(reverse.read_path.as_deref(), Some("/v1/operations/9"));
        let create = entity_of("/v1/kupikupi/platforms", "/v1/kupikupi/platforms", &reads);
        assert_eq!(create.kind.as_deref(), Some("kupikupi/platforms"));
        assert_eq!(
            create.created_under.as_deref(),
            Some("/v1/kupikupi/platforms")
        );
        let secrets = entity_of(
            "/v1/loymax/cards/{card_id}/secrets",
            "/v1/loymax/cards/5/secrets",
            &reads,
        );
        assert_eq!(secrets.kind.as_deref(), Some("loymax/cards"));
        assert_eq!(secrets.read_path, None);
        assert_eq!(
            request_record(Some("a=1"), br#"{"password": "x", "login": "y"}"#),
            Some(
                serde_json::json!({"query": {"a": "1"}, "body": {"password": "[redacted]", "login": "y"}})
            )
        );
    }
}
