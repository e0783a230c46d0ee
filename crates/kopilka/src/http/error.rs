//! The native API's error: a status and a JSON body naming the code and, for bad input, the field.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kopilka_domain::DomainError;
use kopilka_store::StoreError;
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub field: Option<String>,
    pub message: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: String,
    /// The request field at fault, for invalid input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            field: None,
            message: message.into(),
        }
    }

    /// A query parameter that does not parse or contradicts another (400, `invalid_field`).
    pub fn bad_parameter(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_field",
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_field",
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid admin token is required (Authorization: Bearer …)",
        )
    }

    pub fn forbidden(message: &str) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        let id = uuid::Uuid::new_v4();
        tracing::error!(error_id = %id, "internal error: {error}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error {id}"),
        )
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        let message = error.to_string();
        let (status, code) = match &error {
            DomainError::InvalidAmount(_) => {
                return ApiError::invalid("amount", message);
            }
            DomainError::Invalid { field, .. } => return ApiError::invalid(*field, message),
            DomainError::InsufficientFunds { .. } => (StatusCode::CONFLICT, "insufficient_funds"),
            DomainError::IdempotencyConflict => (StatusCode::CONFLICT, "idempotency_conflict"),
            DomainError::OperationNotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            DomainError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            DomainError::ForeignOperation(_) => (StatusCode::FORBIDDEN, "foreign_operation"),
            DomainError::NotReversible { .. } => (StatusCode::CONFLICT, "not_reversible"),
            DomainError::AlreadyReversed { .. } => (StatusCode::CONFLICT, "already_reversed"),
            DomainError::ReversalTooLarge { .. } => (StatusCode::CONFLICT, "reversal_too_large"),
            DomainError::HoldNotPending { .. } => (StatusCode::CONFLICT, "hold_not_pending"),
            DomainError::MerchantFundsShort { .. } => {
                (StatusCode::CONFLICT, "merchant_funds_short")
            }
            DomainError::AlreadyExists { .. } => (StatusCode::CONFLICT, "already_exists"),
            DomainError::CustomerBlocked => (StatusCode::CONFLICT, "customer_blocked"),
            DomainError::CustomerMerged { .. } => (StatusCode::CONFLICT, "customer_merged"),
            DomainError::CustomerAnonymised => (StatusCode::CONFLICT, "customer_anonymised"),
        };
        ApiError::new(status, code, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Domain(e) => e.into(),
            StoreError::Duplicate(m) => ApiError::new(StatusCode::CONFLICT, "already_exists", m),
            StoreError::Unavailable(e) => {
                tracing::warn!("database unavailable: {e}");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable for a moment (a restart or failover); \
                     repeat the request with the same idempotency key",
                )
            }
            other => ApiError::internal(other),
        }
    }
}

/// Makes `$error`, an error that a `StoreError` converts to, the refusal of jobs that may
/// refuse: `?` on it inside a job refuses the job (its writes roll back), and `?` on the job's
/// end answers its refusal or failure as `$error`.
macro_rules! job_refusal {
    ($error:ty) => {
        impl From<kopilka_store::JobError<$error>> for $error {
            fn from(error: kopilka_store::JobError<$error>) -> Self {
                error.refusal().unwrap_or_else(<$error>::from)
            }
        }

        impl From<$error> for kopilka_store::JobError<$error> {
            fn from(error: $error) -> Self {
                kopilka_store::JobError::Refused(error)
            }
        }
    };
}
pub(crate) use job_refusal;

job_refusal!(ApiError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        use super::edge::{clip, ECHO_MAX_CHARS};
        crate::observability::record_refusal("native", self.code);
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                field: self.field.map(|f| clip(&f, ECHO_MAX_CHARS).to_string()),
                message: clip(&self.message, ECHO_MAX_CHARS).to_string(),
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The native API's words for a refusal of the edge ([`super::edge`]).
pub fn native_refusal(refused: &super::edge::Refused) -> Response {
    let code = match refused.status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "busy",
        StatusCode::REQUEST_TIMEOUT => "body_timeout",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "invalid_field",
    };
    ApiError {
        status: refused.status,
        code,
        field: Some(refused.place.to_string()),
        message: refused.message.to_string(),
    }
    .into_response()
}
