//! `/api/v1/vault/…`: records, resumable uploads of large records, the right of access (export),
//! legal holds, consultation closing, erasure requests, retention runs and shredding.
//!
//! Every route needs a bearer token; the token's name is the actor recorded in the log. (Roles
//! and the full access decision point come with identity; until then any valid token may call
//! these, and every read is still recorded as a `vault.access` entry.)

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tianping_service::vault::blob::{NewUpload, UploadStatus};
use tianping_service::vault::{HoldRequest, Opened, ShredScope, SubjectExport};
use utoipa::{IntoParams, ToSchema};

use crate::api::{AppendResponse, receipt_response};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::{ApiError, AppState, Problem};
use tianping_identity::consent::Purpose;
use tianping_identity::role::Role;
use tianping_service::tokens::Scope;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/vault/records", post(crate::api::append))
        .route("/api/v1/vault/records/{id}", get(read_record))
        .route("/api/v1/vault/records/{id}/content", get(read_content))
        .route("/api/v1/vault/uploads", post(begin_upload))
        .route(
            "/api/v1/vault/uploads/{id}",
            get(upload_status)
                .patch(append_upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/vault/uploads/{id}/complete", post(complete_upload))
        .route("/api/v1/vault/subjects/{subject}/export", get(export_subject))
        .route("/api/v1/vault/subjects/{subject}/erasure", post(request_erasure))
        .route("/api/v1/vault/holds", post(place_hold).get(list_holds))
        .route("/api/v1/vault/holds/{id}", delete(release_hold))
        .route("/api/v1/vault/consultations/{id}/close", post(close_consultation))
        .route("/api/v1/vault/retention/run", post(run_retention))
        .route("/api/v1/vault/shred", post(shred))
}

/// Why data is read; recorded with the access.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PurposeQuery {
    /// Purpose of the access, recorded in the log: `treatment` (the default), `dispute`,
    /// `insurance_claim`, `supervision`, `research` or `quality_improvement`.
    #[serde(default)]
    pub purpose: Option<String>,
}

fn purpose(q: &PurposeQuery) -> Result<Purpose, ApiError> {
    match q.purpose.as_deref() {
        None => Ok(Purpose::Treatment),
        Some(p) => p.parse().map_err(|_| {
            ApiError::InvalidQuery(
                "purpose is one of treatment, dispute, insurance_claim, supervision, research, \
                 quality_improvement"
                    .into(),
            )
        }),
    }
}

/// Read a record: the decision point decides (and records) first; the vault opens under its permit.
async fn open(s: &AppState, caller: &Caller, id: &str, q: &PurposeQuery) -> Result<Opened, ApiError> {
    let purpose = purpose(q)?;
    let permit = s
        .identity
        .authorize_record(caller.principal(), id, purpose)
        .await?;
    Ok(s.vault.read(id, &permit).await?)
}

/// The name recorded as the actor of a vault operation: the token's name, or the account id.
fn actor(caller: &Caller) -> String {
    match caller {
        Caller::Token(c, _) => c.name.clone(),
        Caller::Person(_, p) => p.id.clone(),
    }
}

/// A decrypted record.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecordResponse {
    pub id: String,
    pub kind: String,
    pub media_type: String,
    pub log_index: u64,
    pub event_ms: i64,
    pub retention_class: String,
    pub retain_until_ms: Option<i64>,
    pub state: String,
    pub size: i64,
    /// Large record: fetch the bytes from `/api/v1/vault/records/{id}/content`.
    pub blob: bool,
    pub commitment_salt: String,
    #[schema(value_type = Object)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_base64: Option<String>,
}

/// Read one record (decrypted). The access is recorded in the log first.
#[utoipa::path(get, path = "/api/v1/vault/records/{id}", tag = "vault", params(("id" = String, Path), PurposeQuery),
    security(("bearer" = [])),
    responses((status = 200, body = RecordResponse),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "shredded", body = Problem, content_type = "application/problem+json"),
        (status = 451, description = "storage-only (PIPL-47)", body = Problem, content_type = "application/problem+json")))]
pub async fn read_record(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PurposeQuery>,
) -> Result<axum::Json<RecordResponse>, ApiError> {
    let opened = open(&s, &caller, &id, &q).await?;
    let row = &opened.row;
    let (mut content, mut content_base64) = (None, None);
    if let Some(c) = &opened.content {
        if row.media_type == tianping_service::vault::JSON {
            content = serde_json::from_slice(c).ok();
        } else {
            content_base64 = Some(crate::api::b64(c));
        }
    }
    Ok(axum::Json(RecordResponse {
        id: row.id.clone(),
        kind: row.kind.clone(),
        media_type: row.media_type.clone(),
        log_index: row.log_idx,
        event_ms: row.event_ms,
        retention_class: row.retention_class.clone(),
        retain_until_ms: row.retain_until_ms,
        state: row.state.clone(),
        size: row.size,
        blob: row.blob_chunks.is_some(),
        commitment_salt: crate::api::b64(&*opened.salt),
        content,
        content_base64,
    }))
}

/// The record's content as stored bytes, with its media type. A large record is checked whole
/// (every chunk authenticated) before the first byte is sent, so a damaged blob gives an error,
/// never partial content.
#[utoipa::path(get, path = "/api/v1/vault/records/{id}/content", tag = "vault", params(("id" = String, Path), PurposeQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "the content"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 410, body = Problem, content_type = "application/problem+json"),
        (status = 451, body = Problem, content_type = "application/problem+json")))]
pub async fn read_content(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PurposeQuery>,
) -> Result<Response, ApiError> {
    let opened = open(&s, &caller, &id, &q).await?;
    let media = HeaderValue::from_str(&opened.row.media_type).map_err(|_| ApiError::Internal)?;
    let len = opened.row.size;
    if let Some(c) = &opened.content {
        return Ok(([(header::CONTENT_TYPE, media)], c.to_vec()).into_response());
    }
    s.vault.for_each_chunk(&opened, |_| Ok(())).await?;
    let stream = s
        .vault
        .blob_stream(opened)
        .map(|r| r.map_err(std::io::Error::other));
    Ok((
        [
            (header::CONTENT_TYPE, media),
            (header::CONTENT_LENGTH, HeaderValue::from(len)),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// A large record to upload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BeginUploadRequest {
    #[schema(example = "consultation.recording")]
    pub kind: String,
    pub subject: String,
    #[schema(example = "audio/ogg")]
    pub media_type: String,
    #[serde(default)]
    pub occurred_at_ms: Option<u64>,
    #[serde(default)]
    pub retention_class: Option<String>,
    #[serde(default)]
    pub consultation: Option<String>,
}

/// Where an upload stands: append from `offset`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadResponse {
    pub upload_id: String,
    pub offset: u64,
    pub chunk_size: usize,
}

impl From<UploadStatus> for UploadResponse {
    fn from(u: UploadStatus) -> Self {
        UploadResponse {
            upload_id: u.upload_id,
            offset: u.offset,
            chunk_size: u.chunk_size,
        }
    }
}

fn upload_response(status: StatusCode, u: UploadStatus) -> Response {
    let offset = u.offset;
    let mut resp = (status, axum::Json(UploadResponse::from(u))).into_response();
    resp.headers_mut()
        .insert("upload-offset", HeaderValue::from(offset));
    resp
}

/// Start a resumable upload of a large record (recording, image).
#[utoipa::path(post, path = "/api/v1/vault/uploads", tag = "vault", request_body = BeginUploadRequest,
    security(("bearer" = [])),
    responses((status = 201, body = UploadResponse), (status = 400, body = Problem, content_type = "application/problem+json")))]
pub async fn begin_upload(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<BeginUploadRequest>,
) -> Result<Response, ApiError> {
    let client = caller.integration(Scope::EventsWrite)?;
    let status = s
        .vault
        .begin_upload(NewUpload {
            kind: &req.kind,
            subject: &req.subject,
            source: &client.name,
            media_type: &req.media_type,
            occurred_ms: req.occurred_at_ms,
            retention_class: req.retention_class.as_deref(),
            consultation: req.consultation.as_deref(),
        })
        .await?;
    Ok(upload_response(StatusCode::CREATED, status))
}

/// The durable offset of an upload (where to resume).
#[utoipa::path(get, path = "/api/v1/vault/uploads/{id}", tag = "vault", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = UploadResponse), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn upload_status(
    State(s): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    Ok(upload_response(StatusCode::OK, s.vault.upload_status(&id).await?))
}

/// Append the request body to an upload. The `Upload-Offset` header must equal the upload's
/// durable offset; the answer carries the new one. Any size; streamed, never held whole.
#[utoipa::path(patch, path = "/api/v1/vault/uploads/{id}", tag = "vault",
    params(("id" = String, Path), ("Upload-Offset" = u64, Header, description = "where this body starts")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    security(("bearer" = [])),
    responses((status = 200, body = UploadResponse),
        (status = 409, description = "wrong offset", body = Problem, content_type = "application/problem+json")))]
pub async fn append_upload(
    State(s): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let offset = headers
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            ApiError::InvalidBody("the Upload-Offset header (a byte offset) is required".into())
        })?;
    let status = s
        .vault
        .append_upload(&id, offset, body.into_data_stream())
        .await?;
    Ok(upload_response(StatusCode::OK, status))
}

/// Finish an upload: the record and its log entry commit together.
#[utoipa::path(post, path = "/api/v1/vault/uploads/{id}/complete", tag = "vault", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 201, body = AppendResponse), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn complete_upload(
    State(s): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, axum::Json<AppendResponse>), ApiError> {
    let receipt = s.vault.complete_upload(&id).await?;
    Ok((StatusCode::CREATED, axum::Json(receipt_response(receipt))))
}

/// Right of access (PIPL-45): all of a subject's records, decrypted, each with its inclusion proof.
#[utoipa::path(get, path = "/api/v1/vault/subjects/{subject}/export", tag = "vault",
    params(("subject" = String, Path), PurposeQuery), security(("bearer" = [])),
    responses((status = 200, description = "the export", body = Object)))]
pub async fn export_subject(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(subject): ApiPath<String>,
    ApiQuery(q): ApiQuery<PurposeQuery>,
) -> Result<axum::Json<SubjectExport>, ApiError> {
    let purpose = purpose(&q)?;
    let permit = s
        .identity
        .authorize_export(caller.principal(), &subject, purpose)
        .await?;
    Ok(axum::Json(s.vault.export_subject(&subject, &permit).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErasureResponse {
    /// Records kept but no longer processed, because retention still runs or a hold applies.
    pub storage_only: u64,
    pub shredded: u64,
}

/// A deletion request or consent withdrawal (PIPL-47).
#[utoipa::path(post, path = "/api/v1/vault/subjects/{subject}/erasure", tag = "vault",
    params(("subject" = String, Path)), request_body = ErasureRequest, security(("bearer" = [])),
    responses((status = 200, body = ErasureResponse)))]
pub async fn request_erasure(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(subject): ApiPath<String>,
    ApiJson(req): ApiJson<ErasureRequest>,
) -> Result<axum::Json<ErasureResponse>, ApiError> {
    own_subject_or_operator(&caller, &subject)?;
    let actor = actor(&caller);
    let r = s.vault.request_erasure(&subject, &req.reason, &actor).await?;
    Ok(axum::Json(ErasureResponse {
        storage_only: r.storage_only,
        shredded: r.shredded,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequestBody {
    /// `subject`, `consultation` or `case`.
    pub scope: String,
    /// The subject (as the source names it), consultation id or case id.
    pub target: String,
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HoldResponse {
    pub hold_id: String,
}

/// Place a legal hold: nothing under it is purged until it is released.
#[utoipa::path(post, path = "/api/v1/vault/holds", tag = "vault", request_body = HoldRequestBody,
    security(("bearer" = [])), responses((status = 201, body = HoldResponse)))]
pub async fn place_hold(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<HoldRequestBody>,
) -> Result<(StatusCode, axum::Json<HoldResponse>), ApiError> {
    let actor = actor(&caller);
    let scope = match req.scope.as_str() {
        "subject" => HoldRequest::Subject(&req.target),
        "consultation" => HoldRequest::Consultation(&req.target),
        "case" => HoldRequest::Case(&req.target),
        _ => {
            return Err(ApiError::InvalidBody(
                "scope is subject, consultation or case".into(),
            ));
        }
    };
    let id = s.vault.place_hold(scope, &req.reason, &actor).await?;
    Ok((StatusCode::CREATED, axum::Json(HoldResponse { hold_id: id })))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HoldView {
    pub id: String,
    pub scope: String,
    /// Subject pseudonym (hex), consultation id or case id.
    pub target: String,
    pub reason: String,
    pub placed_by: String,
    pub placed_ms: i64,
    pub placed_index: u64,
}

/// Active legal holds.
#[utoipa::path(get, path = "/api/v1/vault/holds", tag = "vault", security(("bearer" = [])),
    responses((status = 200, body = Vec<HoldView>)))]
pub async fn list_holds(
    State(s): State<AppState>,
    _caller: Caller,
) -> Result<axum::Json<Vec<HoldView>>, ApiError> {
    Ok(axum::Json(
        s.vault
            .holds()
            .await?
            .into_iter()
            .map(|h| HoldView {
                id: h.id,
                scope: h.scope,
                target: h.target,
                reason: h.reason,
                placed_by: h.placed_by,
                placed_ms: h.placed_ms,
                placed_index: h.placed_idx,
            })
            .collect(),
    ))
}

/// Release a legal hold.
#[utoipa::path(delete, path = "/api/v1/vault/holds/{id}", tag = "vault", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn release_hold(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let actor = actor(&caller);
    s.vault.release_hold(&id, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    pub ended_at_ms: u64,
}

/// A consultation ended: retention of its chat and recordings counts from `ended_at_ms`.
#[utoipa::path(post, path = "/api/v1/vault/consultations/{id}/close", tag = "vault",
    params(("id" = String, Path)), request_body = CloseRequest, security(("bearer" = [])),
    responses((status = 204), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn close_consultation(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<CloseRequest>,
) -> Result<StatusCode, ApiError> {
    let actor = actor(&caller);
    s.vault.close_consultation(&id, req.ended_at_ms, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionRunRequest {
    #[serde(default)]
    pub dry_run: bool,
}

/// Run the purge job now (what `tianping retention run` does).
#[utoipa::path(post, path = "/api/v1/vault/retention/run", tag = "vault", request_body = RetentionRunRequest,
    security(("bearer" = [])), responses((status = 200, description = "the report", body = Object)))]
pub async fn run_retention(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<RetentionRunRequest>,
) -> Result<axum::Json<tianping_service::vault::RetentionReport>, ApiError> {
    let actor = actor(&caller);
    let now = tianping_service::log::now_ms() as i64;
    Ok(axum::Json(s.vault.run_retention(now, req.dry_run, &actor).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShredRequest {
    #[serde(default)]
    pub record: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    /// The legal basis, recorded in the tombstone.
    pub basis: String,
    /// Shred even though retention still runs (a court order or other overriding basis).
    #[serde(default)]
    pub override_retention: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShredResponse {
    pub shredded: u64,
}

/// Crypto-shred one record or a whole subject. Refused under a legal hold.
#[utoipa::path(post, path = "/api/v1/vault/shred", tag = "vault", request_body = ShredRequest,
    security(("bearer" = [])), responses((status = 200, body = ShredResponse),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn shred(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ShredRequest>,
) -> Result<axum::Json<ShredResponse>, ApiError> {
    let actor = actor(&caller);
    let scope = match (&req.record, &req.subject) {
        (Some(r), None) => ShredScope::Record(r),
        (None, Some(s)) => ShredScope::Subject(s),
        _ => {
            return Err(ApiError::InvalidBody(
                "name exactly one of record and subject".into(),
            ));
        }
    };
    let n = s
        .vault
        .shred(scope, &req.basis, req.override_retention, &actor)
        .await?;
    Ok(axum::Json(ShredResponse { shredded: n }))
}

/// People may ask for the erasure of their own data (or their ward's); operators for anyone's.
fn own_subject_or_operator(caller: &Caller, subject: &str) -> Result<(), ApiError> {
    match caller {
        Caller::Token(..) => Ok(()),
        Caller::Person(_, p)
            if p.role == Role::Operator || p.id == subject || p.guardian_of.iter().any(|w| w == subject) =>
        {
            Ok(())
        }
        Caller::Person(..) => Err(ApiError::Forbidden(
            "only the person, their guardian or an operator".into(),
        )),
    }
}
