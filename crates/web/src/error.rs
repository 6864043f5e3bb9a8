//! Every error leaves as `application/problem+json` (RFC 9457) with a stable `code`. This file is the
//! one table from error to code and status; the codes are part of the API and never change meaning.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tianping_log::merkle::ProofError;
use tianping_service::log::{AppendError, ReadError};
use tianping_service::vault::VaultError;
use utoipa::ToSchema;

/// The problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:tianping:problem:<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code; the UI translates it.
    pub code: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidBody(String),
    #[error("request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("kind must be a dotted lowercase name such as consultation.message")]
    InvalidKind,
    #[error("subject must be 1 to 256 bytes without control characters or surrounding spaces")]
    InvalidSubject,
    #[error("content is {size} bytes in canonical form; at most {max} are accepted")]
    ContentTooLarge { size: usize, max: usize },
    #[error("a valid bearer token is required")]
    Unauthorized,
    #[error("{0}")]
    InvalidQuery(String),
    #[error("{0}")]
    InvalidPath(String),
    #[error("size {size} is beyond the tree (size {tree_size})")]
    SizeBeyondTree { size: u64, tree_size: u64 },
    #[error("index {index} is not below the tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("{0}")]
    InvalidRange(String),
    #[error("{0}")]
    InvalidTilePath(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("the service is not ready")]
    NotReady,
    #[error("the log is shutting down; retry")]
    Unavailable,
    #[error("unknown retention class {0:?}")]
    UnknownRetentionClass(String),
    #[error("the record has been shredded; only its commitment and tombstone remain in the log")]
    Shredded,
    #[error("the record is in storage-only state (PIPL-47) and no legal hold covers it")]
    StorageOnly,
    #[error("{0}")]
    Conflict(String),
    #[error("a legal hold covers it; nothing under a hold is deleted")]
    LegalHold,
    #[error("stored data failed its integrity check; nothing of it is returned")]
    Integrity,
    #[error("{detail}")]
    InvalidField { code: &'static str, detail: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("the token lacks the scope {0}")]
    MissingScope(&'static str),
    #[error("access denied ({0})")]
    AccessDenied(&'static str),
    #[error("wrong login name or password")]
    BadCredentials,
    #[error("wrong or reused second-factor code")]
    BadSecondFactor,
    #[error("too many failed attempts; try again later")]
    Locked,
    #[error("the account is suspended or blacklisted")]
    Suspended,
    #[error("this person, licence or phone number is blacklisted")]
    Blacklisted,
    #[error("the CSRF token is missing or wrong")]
    Csrf,
    /// A refusal with its own code and status (online care's event checks).
    #[error("{detail}")]
    Rejected {
        status: StatusCode,
        code: &'static str,
        detail: String,
    },
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            InvalidJson(_) => "invalid_json",
            InvalidBody(_) => "invalid_body",
            UnsupportedMediaType => "unsupported_media_type",
            PayloadTooLarge(_) => "payload_too_large",
            InvalidKind => "invalid_kind",
            InvalidSubject => "invalid_subject",
            ContentTooLarge { .. } => "content_too_large",
            Unauthorized => "unauthorized",
            InvalidQuery(_) => "invalid_query",
            InvalidPath(_) => "invalid_path",
            SizeBeyondTree { .. } => "size_beyond_tree",
            IndexOutOfRange { .. } => "index_out_of_range",
            InvalidRange(_) => "invalid_range",
            InvalidTilePath(_) => "invalid_tile_path",
            NotFound(_) => "not_found",
            MethodNotAllowed => "method_not_allowed",
            NotReady => "not_ready",
            Unavailable => "unavailable",
            UnknownRetentionClass(_) => "unknown_retention_class",
            Shredded => "shredded",
            StorageOnly => "storage_only",
            Conflict(_) => "conflict",
            LegalHold => "legal_hold",
            Integrity => "integrity_failure",
            InvalidField { code, .. } => code,
            Forbidden(_) => "forbidden",
            MissingScope(_) => "missing_scope",
            AccessDenied(_) => "access_denied",
            BadCredentials => "bad_credentials",
            BadSecondFactor => "bad_second_factor",
            Locked => "account_locked",
            Suspended => "account_suspended",
            Blacklisted => "blacklisted",
            Csrf => "csrf",
            Rejected { code, .. } => code,
            Internal => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            InvalidJson(_)
            | InvalidBody(_)
            | InvalidKind
            | InvalidSubject
            | InvalidQuery(_)
            | InvalidPath(_)
            | SizeBeyondTree { .. }
            | IndexOutOfRange { .. }
            | InvalidRange(_)
            | InvalidTilePath(_)
            | UnknownRetentionClass(_)
            | InvalidField { .. } => StatusCode::BAD_REQUEST,
            Forbidden(_) | MissingScope(_) | AccessDenied(_) | Suspended | Blacklisted | Csrf => {
                StatusCode::FORBIDDEN
            }
            BadCredentials | BadSecondFactor => StatusCode::UNAUTHORIZED,
            Locked => StatusCode::TOO_MANY_REQUESTS,
            Shredded => StatusCode::GONE,
            StorageOnly => StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
            Conflict(_) | LegalHold => StatusCode::CONFLICT,
            Integrity => StatusCode::INTERNAL_SERVER_ERROR,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PayloadTooLarge(_) | ContentTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Unauthorized => StatusCode::UNAUTHORIZED,
            NotFound(_) => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            NotReady | Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Rejected { status, .. } => *status,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        Problem {
            type_: format!("urn:tianping:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: self.code().to_owned(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if matches!(self, ApiError::Internal) {
            metrics::counter!("tianping_http_internal_errors_total").increment(1);
        }
        let mut resp = (self.status(), Json(self.problem())).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if matches!(self, ApiError::Unauthorized) {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<AppendError> for ApiError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::Unavailable | AppendError::KeyShredded => ApiError::Unavailable,
            AppendError::Storage(detail) => {
                // The detail may name tables or values: keep it in the server log only.
                tracing::error!(%detail, "append failed in storage");
                ApiError::Internal
            }
        }
    }
}

impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> Self {
        use tianping_log::envelope::EnvelopeError;
        match e {
            VaultError::Invalid(EnvelopeError::BadKind) => ApiError::InvalidKind,
            VaultError::Invalid(EnvelopeError::BadSubject) => ApiError::InvalidSubject,
            VaultError::Invalid(other) => ApiError::InvalidBody(other.to_string()),
            VaultError::ContentTooLarge { size, max } => ApiError::ContentTooLarge { size, max },
            VaultError::UnknownClass(c) => ApiError::UnknownRetentionClass(c),
            VaultError::BadRequest(m) => ApiError::InvalidBody(m),
            VaultError::NotFound => ApiError::NotFound("no such record, upload or hold".into()),
            VaultError::Shredded => ApiError::Shredded,
            VaultError::StorageOnly => ApiError::StorageOnly,
            VaultError::Conflict(m) => ApiError::Conflict(m),
            VaultError::Held => ApiError::LegalHold,
            VaultError::Integrity(detail) => {
                tracing::error!(%detail, "vault integrity failure");
                metrics::counter!("tianping_vault_integrity_failures_total").increment(1);
                ApiError::Integrity
            }
            VaultError::Append(e) => e.into(),
            VaultError::Storage(detail) => {
                tracing::error!(%detail, "vault storage failure");
                ApiError::Internal
            }
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::SizeBeyondTree { size, tree_size } => ApiError::SizeBeyondTree { size, tree_size },
            ReadError::Proof(ProofError::IndexOutOfRange { index, size }) => {
                ApiError::IndexOutOfRange { index, size }
            }
            ReadError::Proof(ProofError::BadSizes { from, to }) => ApiError::InvalidRange(format!(
                "a consistency proof needs 0 < from <= to (got from={from}, to={to})"
            )),
            ReadError::NotFound => ApiError::NotFound("not found".into()),
            other => {
                tracing::error!(error = %other, "read failed");
                ApiError::Internal
            }
        }
    }
}

impl From<tianping_service::identity::IdentityError> for ApiError {
    fn from(e: tianping_service::identity::IdentityError) -> Self {
        use tianping_service::identity::IdentityError as E;
        match e {
            E::Invalid(p) => p.into(),
            E::Consent(c) => ApiError::InvalidField {
                code: c.code(),
                detail: c.to_string(),
            },
            E::BadRequest(m) => ApiError::InvalidBody(m),
            E::LoginTaken => ApiError::Conflict("this login name is taken".into()),
            E::IdentityTaken => {
                ApiError::Conflict("an account with this identity document or phone number exists".into())
            }
            E::LicenceTaken => {
                ApiError::Conflict("this licence number is registered to another account".into())
            }
            E::Blacklisted => ApiError::Blacklisted,
            E::BadCredentials => ApiError::BadCredentials,
            E::Locked => ApiError::Locked,
            E::BadSecondFactor => ApiError::BadSecondFactor,
            E::Suspended => ApiError::Suspended,
            E::NotFound => ApiError::NotFound("no such account, record, consent or sanction".into()),
            E::Forbidden(m) => ApiError::Forbidden(m),
            E::Denied(reason) => ApiError::AccessDenied(reason.as_str()),
            E::Vault(v) => v.into(),
            E::Storage(detail) => {
                tracing::error!(%detail, "identity storage failure");
                ApiError::Internal
            }
        }
    }
}

/// A value that did not parse (a resident ID, a role, a category, …): its own stable code.
impl From<tianping_identity::ids::ParseError> for ApiError {
    fn from(e: tianping_identity::ids::ParseError) -> Self {
        ApiError::InvalidField {
            code: e.code(),
            detail: e.to_string(),
        }
    }
}
