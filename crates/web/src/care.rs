//! `/api/v1/care/…`: consultation events from partners (one or a batch, with idempotency keys and
//! receipts; wire format in `docs/care-events.md`), consultations and their findings, the duty queue of
//! red-flag alerts, refunds, ratings and supervision metrics.

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tianping_care::event::EventError;
use tianping_service::care::alerts::AlertAction;
use tianping_service::care::supervision::{report_csv, report_fhir};
use tianping_service::care::{CareError, EventReceipt, FindingView};
use tianping_store::care::{AlertActionRow, AlertRow};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::{ApiError, AppState, Problem};

/// Largest batch request body: 1,000 events of up to 4,000 characters each, with room for JSON.
pub const MAX_BATCH_BODY: usize = 16 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/care/events", post(ingest_one))
        .route(
            "/api/v1/care/events/batch",
            post(ingest_batch).layer(DefaultBodyLimit::max(MAX_BATCH_BODY)),
        )
        .route(
            "/api/v1/care/consultations/{org}/{consultation}",
            get(consultation),
        )
        .route("/api/v1/care/findings", get(findings))
        .route("/api/v1/care/alerts", get(alerts))
        .route("/api/v1/care/alerts/escalate", post(escalate))
        .route("/api/v1/care/alerts/{id}", get(alert))
        .route("/api/v1/care/alerts/{id}/{action}", post(act))
        .route("/api/v1/care/duty/{org}", post(set_duty))
        .route("/api/v1/care/refunds", get(refund))
        .route("/api/v1/care/me/consultations", get(my_consultations))
        .route("/api/v1/care/ratings", post(rate))
        .route("/api/v1/care/supervision", get(supervision))
}

impl From<CareError> for ApiError {
    fn from(e: CareError) -> Self {
        use StatusCode as S;
        let rejected = |status: StatusCode, code: &'static str, detail: String| ApiError::Rejected {
            status,
            code,
            detail,
        };
        match e {
            CareError::Event(ev) => {
                let status = match &ev {
                    EventError::Malformed(_) | EventError::Field { .. } => S::BAD_REQUEST,
                    EventError::TooLarge { .. } => S::PAYLOAD_TOO_LARGE,
                    EventError::ConsultationExists
                    | EventError::ConsultationEnded
                    | EventError::OutOfOrder { .. } => S::CONFLICT,
                    EventError::UnknownConsultation
                    | EventError::PrescriberNotAttending
                    | EventError::UnknownPrescription(_)
                    | EventError::DuplicatePrescription(_) => S::UNPROCESSABLE_ENTITY,
                };
                rejected(status, ev.code(), ev.to_string())
            }
            CareError::UnknownDoctor(_) => rejected(S::UNPROCESSABLE_ENTITY, "unknown_doctor", e.to_string()),
            CareError::DoctorNotVerified => {
                rejected(S::UNPROCESSABLE_ENTITY, "doctor_not_verified", e.to_string())
            }
            CareError::DoctorSuspended => {
                rejected(S::UNPROCESSABLE_ENTITY, "doctor_suspended", e.to_string())
            }
            // The token may call the route; it just cannot be used for this (no partner behind it).
            CareError::NoOrganisation => rejected(S::UNPROCESSABLE_ENTITY, "no_organisation", e.to_string()),
            CareError::KeyReused(_) => rejected(S::CONFLICT, "idempotency_key_reused", e.to_string()),
            CareError::KeyInFlight(_) => rejected(S::CONFLICT, "idempotency_key_in_flight", e.to_string()),
            CareError::UnknownRecord(_) => rejected(S::UNPROCESSABLE_ENTITY, "unknown_record", e.to_string()),
            CareError::NotFound => ApiError::NotFound("no such consultation, alert or account".into()),
            // Past the route's gate, a refusal is about the data (another organisation's, another
            // patient's): the same code as the access decision point's.
            CareError::Forbidden(m) => rejected(S::FORBIDDEN, "access_denied", m),
            CareError::Conflict(m) => ApiError::Conflict(m),
            CareError::BadRequest(m) => ApiError::InvalidBody(m),
            CareError::Vault(v) => v.into(),
            CareError::Identity(i) => i.into(),
            CareError::Storage(detail) => {
                tracing::error!(%detail, "care storage failure");
                ApiError::Internal
            }
        }
    }
}

/// Store one consultation event and return its receipt (`200` and the first receipt when the
/// idempotency key was seen with the same body). Wire format: `docs/care-events.md`.
#[utoipa::path(post, path = "/api/v1/care/events", tag = "care", security(("bearer" = [])),
    request_body(content = Object, description = "One event (docs/care-events.md)"),
    responses(
        (status = 201, description = "Receipt: index, leaf hash, checkpoint, findings, alerts"),
        (status = 200, description = "Receipt of the same event stored before under this idempotency key"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn ingest_one(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(event): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let partner = s.care.partner(caller.principal()).await?;
    let result = s
        .care
        .ingest(&partner, std::slice::from_ref(&event))
        .await
        .pop()
        .expect("one result per event")?;
    let status = if result.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(result)).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Batch {
    /// 1 to `care.max_batch_events` events, processed in order.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Value>,
}

fn batch_result(r: Result<EventReceipt, CareError>) -> Value {
    match r {
        Ok(receipt) => {
            let status = if receipt.replayed { 200 } else { 201 };
            json!({ "status": status, "receipt": receipt })
        }
        Err(e) => {
            let problem = ApiError::from(e).problem();
            json!({ "status": problem.status, "problem": problem })
        }
    }
}

/// Store a batch of events; one result per event, in order (`{"status": 201, "receipt": …}` or
/// `{"status": 4xx, "problem": …}`).
#[utoipa::path(post, path = "/api/v1/care/events/batch", tag = "care", security(("bearer" = [])),
    request_body = Batch,
    responses(
        (status = 200, description = "One result per event: a receipt or a problem"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json")))]
pub async fn ingest_batch(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(batch): ApiJson<Batch>,
) -> Result<axum::Json<Value>, ApiError> {
    let max = s.care.settings().max_batch_events;
    if batch.events.is_empty() || batch.events.len() > max {
        return Err(ApiError::Rejected {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_batch",
            detail: format!("a batch holds 1 to {max} events"),
        });
    }
    let partner = s.care.partner(caller.principal()).await?;
    let results: Vec<Value> = s
        .care
        .ingest(&partner, &batch.events)
        .await
        .into_iter()
        .map(batch_result)
        .collect();
    Ok(axum::Json(json!({ "results": results })))
}

/// A consultation's events (facts and log entries, no content) and findings: for its organisation's
/// token and people, and for regulators.
#[utoipa::path(get, path = "/api/v1/care/consultations/{org}/{consultation}", tag = "care",
    params(("org" = String, Path), ("consultation" = String, Path, description = "the partner's consultation id")),
    responses((status = 200, description = "The consultation, its events and findings"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn consultation(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((org, reference)): ApiPath<(String, String)>,
) -> Result<axum::Json<Value>, ApiError> {
    let view = s.care.consultation(caller.principal(), &org, &reference).await?;
    Ok(axum::Json(
        serde_json::to_value(view).map_err(|_| ApiError::Internal)?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct FindingsQuery {
    /// At most this many, newest first (default 100, at most 1,000).
    pub limit: Option<i64>,
}

/// The latest findings: an organisation's own, or every organisation's for regulators.
#[utoipa::path(get, path = "/api/v1/care/findings", tag = "care", params(FindingsQuery),
    responses((status = 200, description = "Findings, newest first"),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn findings(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<FindingsQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let rows = s
        .care
        .findings(caller.principal(), q.limit.unwrap_or(100))
        .await?;
    let out: Vec<Value> = rows
        .into_iter()
        .map(|(reference, f)| {
            json!({ "consultation": reference, "org_id": f.org_id, "doctor": f.doctor_id,
                    "at_ms": f.at_ms, "log_index": f.log_idx, "finding": FindingView::from(&f) })
        })
        .collect();
    Ok(axum::Json(json!({ "findings": out })))
}

pub(crate) fn alert_json(a: &AlertRow) -> Value {
    json!({
        "id": a.id, "consultation_id": a.consultation_id, "org_id": a.org_id, "seq": a.seq,
        "label": a.label, "severity": a.severity,
        "explanation": { "zh-CN": a.zh, "en-US": a.en },
        "raised_ms": a.raised_ms, "deadline_ms": a.deadline_ms, "level": a.level,
        "assignee": a.assignee, "status": a.status,
        "acknowledged_by": a.acked_by, "acknowledged_ms": a.acked_ms,
        "resolved_by": a.resolved_by, "resolved_ms": a.resolved_ms,
        "log_index": a.log_idx,
    })
}

fn action_json(a: &AlertActionRow) -> Value {
    json!({ "at_ms": a.at_ms, "action": a.action, "by": a.by_account, "assignee": a.assignee,
            "log_index": a.log_idx })
}

/// The duty queue: alerts not yet resolved, most urgent first.
#[utoipa::path(get, path = "/api/v1/care/alerts", tag = "care",
    responses((status = 200, description = "Open and acknowledged alerts"),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn alerts(State(s): State<AppState>, caller: Caller) -> Result<axum::Json<Value>, ApiError> {
    let rows = s.care.duty_queue(caller.principal()).await?;
    Ok(axum::Json(
        json!({ "alerts": rows.iter().map(alert_json).collect::<Vec<_>>() }),
    ))
}

/// One alert and every action taken on it.
#[utoipa::path(get, path = "/api/v1/care/alerts/{id}", tag = "care", params(("id" = String, Path)),
    responses((status = 200, description = "The alert and its actions"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn alert(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let (a, actions) = s.care.alert(caller.principal(), &id).await?;
    let mut v = alert_json(&a);
    v["actions"] = actions.iter().map(action_json).collect();
    Ok(axum::Json(v))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ActRequest {
    /// Kept encrypted in the action's log entry.
    pub note: Option<String>,
}

/// Acknowledge (`acknowledge`) or resolve (`resolve`) an alert; each is a log entry.
#[utoipa::path(post, path = "/api/v1/care/alerts/{id}/{action}", tag = "care",
    params(("id" = String, Path), ("action" = String, Path, description = "acknowledge | resolve")),
    request_body = ActRequest,
    responses((status = 200, description = "The alert after the action"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn act(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((id, action)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<ActRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    let action = AlertAction::parse(&action)
        .ok_or_else(|| ApiError::InvalidPath("the action is acknowledge or resolve".into()))?;
    let a = s
        .care
        .act_on_alert(caller.principal(), &id, action, req.note.as_deref())
        .await?;
    Ok(axum::Json(alert_json(&a)))
}

/// Run the duty clock now: escalate every alert past its acknowledgement deadline (the server also
/// does this every `care.duty_clock_seconds`).
#[utoipa::path(post, path = "/api/v1/care/alerts/escalate", tag = "care",
    responses((status = 200, description = "The alerts escalated")))]
pub async fn escalate(State(s): State<AppState>, _caller: Caller) -> Result<axum::Json<Value>, ApiError> {
    let now = tianping_service::log::now_ms() as i64;
    let ids = s.care.escalate_overdue(now).await?;
    Ok(axum::Json(json!({ "escalated": ids })))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DutyRequest {
    /// Accounts in order: first on duty, then the escalation.
    pub accounts: Vec<String>,
}

/// Set an organisation's duty roster.
#[utoipa::path(post, path = "/api/v1/care/duty/{org}", tag = "care", params(("org" = String, Path)),
    request_body = DutyRequest,
    responses((status = 204, description = "Roster set"),
        (status = 400, body = Problem, content_type = "application/problem+json")))]
pub async fn set_duty(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
    ApiJson(req): ApiJson<DutyRequest>,
) -> Result<StatusCode, ApiError> {
    s.care.set_duty(caller.principal(), &org, &req.accounts).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RefundQuery {
    /// The patient's account.
    pub patient: String,
    /// The doctor's account.
    pub doctor: String,
}

/// The consultation fees a patient paid to one doctor, with the receipt of each payment (seed 000).
#[utoipa::path(get, path = "/api/v1/care/refunds", tag = "care", params(RefundQuery),
    responses((status = 200, description = "Refund: total in fen and the payments with their log entries"),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn refund(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RefundQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let r = s.care.refund(caller.principal(), &q.patient, &q.doctor).await?;
    Ok(axum::Json(
        serde_json::to_value(r).map_err(|_| ApiError::Internal)?,
    ))
}

/// The signed-in patient's consultations.
#[utoipa::path(get, path = "/api/v1/care/me/consultations", tag = "care",
    responses((status = 200, description = "Consultations, newest first")))]
pub async fn my_consultations(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Value>, ApiError> {
    let list = s.care.my_consultations(caller.principal()).await?;
    Ok(axum::Json(json!({ "consultations": list })))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RateRequest {
    /// The consultation's id here (`id` of `/api/v1/care/me/consultations`).
    pub consultation_id: String,
    /// 1 to 5.
    pub doctor_score: i64,
    /// 1 to 5.
    pub institution_score: i64,
    pub comment: Option<String>,
}

/// Rate the doctor and institution of one of my ended consultations, once.
#[utoipa::path(post, path = "/api/v1/care/ratings", tag = "care", request_body = RateRequest,
    responses((status = 201, description = "Rating stored"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn rate(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<RateRequest>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let r = s
        .care
        .rate(
            caller.principal(),
            &req.consultation_id,
            req.doctor_score,
            req.institution_score,
            req.comment.as_deref(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(
            json!({ "consultation_id": r.consultation_id, "doctor_score": r.doctor_score,
                           "institution_score": r.org_score, "log_index": r.log_idx }),
        ),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SupervisionQuery {
    /// `json` (default), `csv` or `fhir` (a Bundle of FHIR R5 MeasureReport).
    pub format: Option<String>,
}

/// Supervision metrics per institution and per doctor (SUP-METRICS): response time, termination and
/// referral rates, findings per 100 consultations, rating.
#[utoipa::path(get, path = "/api/v1/care/supervision", tag = "care", params(SupervisionQuery),
    responses((status = 200, description = "JSON, CSV (text/csv) or FHIR (application/fhir+json)"),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn supervision(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SupervisionQuery>,
) -> Result<Response, ApiError> {
    let report = s.care.supervision(caller.principal()).await?;
    Ok(match q.format.as_deref().unwrap_or("json") {
        "json" => axum::Json(report).into_response(),
        "csv" => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"supervision.csv\"",
                ),
            ],
            report_csv(&report),
        )
            .into_response(),
        "fhir" => (
            [(header::CONTENT_TYPE, "application/fhir+json")],
            axum::Json(report_fhir(&report)),
        )
            .into_response(),
        _ => return Err(ApiError::InvalidQuery("format is json, csv or fhir".into())),
    })
}
