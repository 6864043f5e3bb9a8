//! `/api/v1/log/…`: appends and proofs.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use tianping_service::vault::{Content, NewRecord, RecordReceipt};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::{ApiError, AppState, Problem};
use tianping_service::tokens::Scope;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/log/entries", post(append))
        .route("/api/v1/log/proof/inclusion", get(inclusion))
        .route("/api/v1/log/proof/consistency", get(consistency))
        .route("/api/v1/log/entries/{index}/proof", get(entry_proof))
}

/// An entry to append. The content is stored encrypted in the vault as a record; only a salted
/// commitment to it enters the log leaf.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendRequest {
    /// Dotted lowercase name, for example `consultation.message`.
    #[schema(example = "consultation.message")]
    pub kind: String,
    /// The data subject as the source names it; only its keyed pseudonym enters the log.
    pub subject: String,
    /// Any JSON value.
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
    /// When the event happened according to the source (Unix milliseconds, UTC); defaults to the
    /// time of receipt.
    #[serde(default)]
    pub occurred_at_ms: Option<u64>,
    /// Retention class (`vault.retention`); defaults by kind.
    #[serde(default)]
    pub retention_class: Option<String>,
    /// The consultation the record belongs to (legal holds and retention use it).
    #[serde(default)]
    pub consultation: Option<String>,
}

/// The receipt: the record and its entry are durable and covered by the signed checkpoint.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AppendResponse {
    /// The vault record holding the (encrypted) content.
    pub record_id: String,
    pub index: u64,
    /// RFC 9162 leaf hash of the envelope, base64.
    pub leaf_hash: String,
    /// Signed checkpoint (C2SP tlog-checkpoint note) of a tree that includes the entry.
    pub checkpoint: String,
    /// The salt of the content commitment, base64; with the content it lets anyone check the
    /// commitment (`tianping verify --content FILE --salt SALT`). Keep it with the content.
    pub commitment_salt: String,
    /// The entry envelope (the leaf data), base64.
    pub envelope: String,
}

/// Append an entry to the evidence log; its content becomes an encrypted vault record. (Also
/// served as `POST /api/v1/vault/records`.)
#[utoipa::path(post, path = "/api/v1/log/entries", tag = "log", request_body = AppendRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, body = AppendResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json")))]
pub async fn append(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<AppendRequest>,
) -> Result<(StatusCode, axum::Json<AppendResponse>), ApiError> {
    let client = caller.integration(Scope::EventsWrite)?;
    let receipt = s
        .vault
        .write(NewRecord {
            kind: &req.kind,
            subject: &req.subject,
            source: &client.name,
            occurred_ms: req.occurred_at_ms,
            content: Content::Json(&req.content),
            retention_class: req.retention_class.as_deref(),
            consultation: req.consultation.as_deref(),
        })
        .await?;
    Ok((StatusCode::CREATED, axum::Json(receipt_response(receipt))))
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub(crate) fn receipt_response(r: RecordReceipt) -> AppendResponse {
    AppendResponse {
        record_id: r.record_id,
        index: r.receipt.index,
        leaf_hash: B64.encode(r.receipt.leaf_hash),
        checkpoint: r.receipt.checkpoint.to_string(),
        commitment_salt: B64.encode(r.salt),
        envelope: B64.encode(&r.envelope),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct InclusionQuery {
    pub index: u64,
    pub size: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InclusionResponse {
    pub index: u64,
    pub size: u64,
    /// RFC 9162 audit path, base64 hashes from the leaf's sibling upwards.
    pub proof: Vec<String>,
}

/// Inclusion proof of entry `index` in the tree of size `size`.
#[utoipa::path(get, path = "/api/v1/log/proof/inclusion", tag = "log", params(InclusionQuery),
    responses((status = 200, body = InclusionResponse), (status = 400, body = Problem, content_type = "application/problem+json")))]
pub async fn inclusion(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<InclusionQuery>,
) -> Result<axum::Json<InclusionResponse>, ApiError> {
    let proof = s.log.inclusion_proof(q.index, q.size).await?;
    Ok(axum::Json(InclusionResponse {
        index: q.index,
        size: q.size,
        proof: proof.iter().map(|h| B64.encode(h)).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ConsistencyQuery {
    pub from: u64,
    pub to: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyResponse {
    pub from: u64,
    pub to: u64,
    pub proof: Vec<String>,
}

/// Consistency proof between tree sizes `from` and `to` (0 < from <= to).
#[utoipa::path(get, path = "/api/v1/log/proof/consistency", tag = "log", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyResponse), (status = 400, body = Problem, content_type = "application/problem+json")))]
pub async fn consistency(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<axum::Json<ConsistencyResponse>, ApiError> {
    if q.from == 0 || q.from > q.to {
        return Err(ApiError::InvalidRange(format!(
            "a consistency proof needs 0 < from <= to (got from={}, to={})",
            q.from, q.to
        )));
    }
    let proof = s.log.consistency_proof(q.from, q.to).await?;
    Ok(axum::Json(ConsistencyResponse {
        from: q.from,
        to: q.to,
        proof: proof.iter().map(|h| B64.encode(h)).collect(),
    }))
}

/// A self-contained `c2sp.org/tlog-proof@v1` for entry `index` against the latest checkpoint. Its
/// `extra` line carries the entry envelope.
#[utoipa::path(get, path = "/api/v1/log/entries/{index}/proof", tag = "log",
    params(("index" = u64, Path, description = "entry index")),
    responses((status = 200, description = "tlog-proof text", content_type = "text/plain", body = String),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn entry_proof(
    State(s): State<AppState>,
    ApiPath(index): ApiPath<u64>,
) -> Result<impl IntoResponse, ApiError> {
    let head = s.log.head();
    if index >= head.size {
        return Err(ApiError::NotFound(format!(
            "entry {index} does not exist (the log has {} entries)",
            head.size
        )));
    }
    let proof = s.log.entry_proof(index).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        proof.to_text(),
    ))
}
