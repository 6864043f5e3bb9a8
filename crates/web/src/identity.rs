//! `/api/v1/identity/…`: the signed-in person's account, access log and consents (with FHIR R5
//! exports), notices, organisations, and the operator's doctor verification and sanctions.
//!
//! People call these with their session cookie (and the `X-CSRF-Token` header on writes); the
//! pages under `/` use the same service calls.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tianping_identity::consent::DataCategory;
use tianping_identity::role::{OrgKind, Role};
use tianping_service::identity::oversight::{Measure, Verdict};
use tianping_store::identity::{AccessEventRow, ConsentRow, DoctorRow, OrgRow, SanctionRow};
use utoipa::ToSchema;

use crate::extract::{ApiJson, ApiPath, Caller};
use crate::{ApiError, AppState, Problem};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/identity/me", get(me))
        .route("/api/v1/identity/me/access-log", get(access_log))
        .route("/api/v1/identity/me/access-log/fhir", get(access_log_fhir))
        .route("/api/v1/identity/me/consents", get(my_consents))
        .route("/api/v1/identity/notices", get(notices).post(publish_notice))
        .route("/api/v1/identity/consents", post(grant))
        .route("/api/v1/identity/consents/{id}/withdraw", post(withdraw))
        .route("/api/v1/identity/consents/{id}/fhir", get(consent_fhir))
        .route("/api/v1/identity/organisations", get(list_orgs).post(create_org))
        .route("/api/v1/identity/guardianships", post(link_guardian))
        .route("/api/v1/identity/verifications", get(verification_queue))
        .route(
            "/api/v1/identity/verifications/{account}/decision",
            post(decide_doctor),
        )
        .route("/api/v1/identity/sanctions", get(list_sanctions).post(sanction))
        .route("/api/v1/identity/sanctions/{id}/lift", post(lift_sanction))
}

const PERSON: &[Role] = &[];

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: String,
    pub login: String,
    pub display_name: String,
    pub role: String,
    pub organisations: Vec<String>,
    pub guardian_of: Vec<String>,
    /// For doctors: pending, verified or rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<String>,
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/identity/me", tag = "identity",
    responses((status = 200, body = Me), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn me(State(s): State<AppState>, caller: Caller) -> Result<axum::Json<Me>, ApiError> {
    let session = caller.person(PERSON)?;
    let p = caller.principal();
    let a = &session.account;
    let verification = s.identity.doctor(&a.id).await?.map(|d| d.status);
    Ok(axum::Json(Me {
        id: a.id.clone(),
        login: a.login.clone(),
        display_name: a.display_name.clone(),
        role: a.role.clone(),
        organisations: p.orgs.clone(),
        guardian_of: p.guardian_of.clone(),
        verification,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessEvent {
    pub id: String,
    pub at_ms: i64,
    pub actor_id: String,
    pub actor_name: String,
    pub actor_role: String,
    pub action: String,
    pub resource: String,
    pub category: String,
    pub purpose: String,
    pub permit: bool,
    pub reason: String,
    pub basis: Option<String>,
    /// The log entry that records the decision.
    pub log_index: u64,
}

impl From<AccessEventRow> for AccessEvent {
    fn from(r: AccessEventRow) -> Self {
        AccessEvent {
            id: r.id,
            at_ms: r.at_ms,
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            actor_role: r.actor_role,
            action: r.action,
            resource: r.resource,
            category: r.category,
            purpose: r.purpose,
            permit: r.permit,
            reason: r.reason,
            basis: r.basis,
            log_index: r.log_idx,
        }
    }
}

/// Who accessed my data, when, why and on what basis (refusals included), newest first.
#[utoipa::path(get, path = "/api/v1/identity/me/access-log", tag = "identity",
    responses((status = 200, body = [AccessEvent]), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn access_log(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Vec<AccessEvent>>, ApiError> {
    let session = caller.person(PERSON)?;
    let rows = s.identity.access_log(&session.account.id, 500).await?;
    Ok(axum::Json(rows.into_iter().map(AccessEvent::from).collect()))
}

/// The access log as a FHIR R5 `Bundle` (type `collection`) of `AuditEvent` resources.
#[utoipa::path(get, path = "/api/v1/identity/me/access-log/fhir", tag = "identity",
    responses((status = 200, description = "FHIR R5 Bundle of AuditEvent", content_type = "application/fhir+json")))]
pub async fn access_log_fhir(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<axum::response::Response, ApiError> {
    let session = caller.person(PERSON)?;
    let rows = s.identity.access_log(&session.account.id, 500).await?;
    let entries: Vec<Value> = rows
        .iter()
        .filter_map(|r| tianping_service::identity::consent::audit_event_fhir(r).ok())
        .map(|resource| json!({ "resource": resource }))
        .collect();
    Ok(fhir_response(json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": entries,
    })))
}

fn fhir_response(v: Value) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/fhir+json")],
        serde_json::to_vec(&v).unwrap_or_default(),
    )
        .into_response()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    pub id: String,
    pub subject: String,
    pub granted_by: String,
    pub by_guardian: bool,
    pub notice: String,
    pub notice_version: i64,
    pub purpose: String,
    pub category: String,
    pub recipient: String,
    pub granted_ms: i64,
    pub withdrawn_ms: Option<i64>,
    pub log_index: u64,
}

impl From<ConsentRow> for ConsentView {
    fn from(c: ConsentRow) -> Self {
        ConsentView {
            id: c.id,
            subject: c.subject_id,
            granted_by: c.granted_by,
            by_guardian: c.by_guardian,
            notice: c.notice_id,
            notice_version: c.notice_version,
            purpose: c.purpose,
            category: c.category,
            recipient: c.recipient,
            granted_ms: c.granted_ms,
            withdrawn_ms: c.withdrawn_ms,
            log_index: c.granted_idx,
        }
    }
}

/// My consents and those of the people I am guardian of, withdrawn ones included.
#[utoipa::path(get, path = "/api/v1/identity/me/consents", tag = "identity",
    responses((status = 200, body = [ConsentView]), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn my_consents(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Vec<ConsentView>>, ApiError> {
    let p = caller.principal();
    let mut out = Vec::new();
    for subject in std::iter::once(&p.id).chain(p.guardian_of.iter()) {
        out.extend(
            s.identity
                .consents(subject)
                .await?
                .into_iter()
                .map(ConsentView::from),
        );
    }
    Ok(axum::Json(out))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeView {
    pub id: String,
    pub version: u32,
    pub purpose: String,
    pub categories: Vec<String>,
    pub text_zh: String,
    pub text_en: String,
}

impl From<tianping_identity::consent::Notice> for NoticeView {
    fn from(n: tianping_identity::consent::Notice) -> Self {
        NoticeView {
            categories: n.categories.iter().map(|c| c.as_str().to_owned()).collect(),
            id: n.id,
            version: n.version,
            purpose: n.purpose.as_str().to_owned(),
            text_zh: n.text_zh,
            text_en: n.text_en,
        }
    }
}

/// The current version of every notice.
#[utoipa::path(get, path = "/api/v1/identity/notices", tag = "identity",
    responses((status = 200, body = [NoticeView])))]
pub async fn notices(State(s): State<AppState>) -> Result<axum::Json<Vec<NoticeView>>, ApiError> {
    Ok(axum::Json(
        s.identity
            .notices()
            .await?
            .into_iter()
            .map(NoticeView::from)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    /// The person the data is about; defaults to the caller (a guardian names their ward).
    #[serde(default)]
    pub subject: Option<String>,
    pub notice: String,
    /// The version of the notice the person was shown; refused if the notice changed since.
    #[serde(default)]
    pub notice_version: Option<u32>,
    pub category: String,
    /// The organisation that may access the data.
    pub recipient: String,
    /// Separate consent for a sensitive category (PIPL-29).
    #[serde(default)]
    pub separate_acknowledgement: bool,
}

/// Grant a consent on the current version of a notice.
#[utoipa::path(post, path = "/api/v1/identity/consents", tag = "identity", request_body = GrantRequest,
    responses((status = 201, body = ConsentView), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn grant(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<GrantRequest>,
) -> Result<(StatusCode, axum::Json<ConsentView>), ApiError> {
    let p = caller.principal();
    let category: DataCategory = req.category.parse()?;
    let subject = req.subject.clone().unwrap_or_else(|| p.id.clone());
    let c = s
        .identity
        .grant(
            p,
            &subject,
            &req.notice,
            req.notice_version,
            category,
            &req.recipient,
            req.separate_acknowledgement,
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(c.into())))
}

/// Withdraw a consent; effective at once for new access.
#[utoipa::path(post, path = "/api/v1/identity/consents/{id}/withdraw", tag = "identity", params(("id" = String, Path)),
    responses((status = 204, description = "withdrawn"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn withdraw(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    s.identity.withdraw(caller.principal(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A consent as an HL7 FHIR R5 `Consent` resource (the person's own, or their ward's).
#[utoipa::path(get, path = "/api/v1/identity/consents/{id}/fhir", tag = "identity", params(("id" = String, Path)),
    responses((status = 200, description = "FHIR R5 Consent", content_type = "application/fhir+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn consent_fhir(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::response::Response, ApiError> {
    let p = caller.principal();
    let mine = std::iter::once(&p.id).chain(p.guardian_of.iter());
    for subject in mine {
        if let Some(c) = s
            .identity
            .consents(subject)
            .await?
            .into_iter()
            .find(|c| c.id == id)
        {
            return Ok(fhir_response(s.identity.consent_fhir(&c).await?));
        }
    }
    Err(ApiError::NotFound("no such consent of yours".into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub status: String,
}

impl From<OrgRow> for OrgView {
    fn from(o: OrgRow) -> Self {
        OrgView {
            id: o.id,
            name: o.name,
            kind: o.kind,
            status: o.status,
        }
    }
}

/// Organisations (recipients of consents, institutions of doctors).
#[utoipa::path(get, path = "/api/v1/identity/organisations", tag = "identity",
    responses((status = 200, body = [OrgView]), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn list_orgs(
    State(s): State<AppState>,
    _caller: Caller,
) -> Result<axum::Json<Vec<OrgView>>, ApiError> {
    Ok(axum::Json(
        s.identity.orgs().await?.into_iter().map(OrgView::from).collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    pub name: String,
    pub kind: String,
}

/// Register an organisation (operators).
#[utoipa::path(post, path = "/api/v1/identity/organisations", tag = "identity", request_body = NewOrg,
    responses((status = 201, body = OrgView), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn create_org(
    State(s): State<AppState>,
    _caller: Caller,
    ApiJson(req): ApiJson<NewOrg>,
) -> Result<(StatusCode, axum::Json<OrgView>), ApiError> {
    let kind: OrgKind = req.kind.parse()?;
    let o = s.identity.create_org(&req.name, kind).await?;
    Ok((StatusCode::CREATED, axum::Json(o.into())))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DoctorView {
    pub account: String,
    pub licence: String,
    pub institution: String,
    pub specialty: String,
    pub practice_years: i64,
    pub evidence: Vec<String>,
    pub status: String,
    pub submitted_ms: i64,
}

impl From<DoctorRow> for DoctorView {
    fn from(d: DoctorRow) -> Self {
        DoctorView {
            evidence: serde_json::from_str(&d.evidence).unwrap_or_default(),
            account: d.account_id,
            licence: d.licence_no,
            institution: d.institution_id,
            specialty: d.specialty,
            practice_years: d.practice_years,
            status: d.status,
            submitted_ms: d.submitted_ms,
        }
    }
}

/// Doctors waiting for verification (operators).
#[utoipa::path(get, path = "/api/v1/identity/verifications", tag = "identity",
    responses((status = 200, body = [DoctorView]), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn verification_queue(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Vec<DoctorView>>, ApiError> {
    Ok(axum::Json(
        s.identity
            .verification_queue(caller.principal())
            .await?
            .into_iter()
            .map(DoctorView::from)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// `verify` or `reject`.
    pub decision: String,
    #[serde(default)]
    pub note: String,
}

/// Decide on a doctor's verification (operators); the decision is a log entry.
#[utoipa::path(post, path = "/api/v1/identity/verifications/{account}/decision", tag = "identity",
    params(("account" = String, Path)), request_body = DecisionRequest,
    responses((status = 204, description = "decided"), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn decide_doctor(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(account): ApiPath<String>,
    ApiJson(req): ApiJson<DecisionRequest>,
) -> Result<StatusCode, ApiError> {
    let verdict = match req.decision.as_str() {
        "verify" => Verdict::Verify,
        "reject" => Verdict::Reject,
        _ => return Err(ApiError::InvalidBody("decision is verify or reject".into())),
    };
    s.identity
        .decide_doctor(caller.principal(), &account, verdict, &req.note)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SanctionView {
    pub id: String,
    pub target_kind: String,
    pub target: String,
    pub measure: String,
    pub reason: String,
    pub decided_by: String,
    pub decided_ms: i64,
    pub lifted_ms: Option<i64>,
}

impl From<SanctionRow> for SanctionView {
    fn from(r: SanctionRow) -> Self {
        SanctionView {
            id: r.id,
            target_kind: r.target_kind,
            target: r.target,
            measure: r.measure,
            reason: r.reason,
            decided_by: r.decided_by,
            decided_ms: r.decided_ms,
            lifted_ms: r.lifted_ms,
        }
    }
}

/// Suspensions and blacklistings, newest first (operators).
#[utoipa::path(get, path = "/api/v1/identity/sanctions", tag = "identity",
    responses((status = 200, body = [SanctionView]), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list_sanctions(
    State(s): State<AppState>,
    _caller: Caller,
) -> Result<axum::Json<Vec<SanctionView>>, ApiError> {
    Ok(axum::Json(
        s.identity
            .sanctions(false)
            .await?
            .into_iter()
            .map(SanctionView::from)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SanctionRequest {
    /// `account` or `organisation`.
    pub target_kind: String,
    pub target: String,
    /// `suspend` or `blacklist`.
    pub measure: String,
    pub reason: String,
}

/// Suspend or blacklist an account or organisation (operators); effective at once.
#[utoipa::path(post, path = "/api/v1/identity/sanctions", tag = "identity", request_body = SanctionRequest,
    responses((status = 201, body = SanctionView), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn sanction(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<SanctionRequest>,
) -> Result<(StatusCode, axum::Json<SanctionView>), ApiError> {
    let measure = Measure::parse(&req.measure)
        .ok_or_else(|| ApiError::InvalidBody("measure is suspend or blacklist".into()))?;
    let row = s
        .identity
        .sanction(
            caller.principal(),
            &req.target_kind,
            &req.target,
            measure,
            &req.reason,
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(row.into())))
}

/// Lift a sanction (operators).
#[utoipa::path(post, path = "/api/v1/identity/sanctions/{id}/lift", tag = "identity", params(("id" = String, Path)),
    responses((status = 204, description = "lifted"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn lift_sanction(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    s.identity.lift_sanction(caller.principal(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardianshipRequest {
    /// The guardian's login name.
    pub guardian: String,
    /// The ward's login name.
    pub ward: String,
}

/// Record a guardianship (operators, after checking the documents; PIPL-31); a log entry.
#[utoipa::path(post, path = "/api/v1/identity/guardianships", tag = "identity", request_body = GuardianshipRequest,
    responses((status = 204, description = "linked"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn link_guardian(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<GuardianshipRequest>,
) -> Result<StatusCode, ApiError> {
    let id_of = async |login: &str| -> Result<String, ApiError> {
        s.identity
            .account_by_login(&login.trim().to_ascii_lowercase())
            .await?
            .map(|a| a.id)
            .ok_or_else(|| ApiError::NotFound("no account with this login name".into()))
    };
    let (guardian, ward) = (id_of(&req.guardian).await?, id_of(&req.ward).await?);
    s.identity
        .add_guardianship(&caller.principal().id, &guardian, &ward)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNotice {
    /// The notice's id; publishing under an existing id makes its next version.
    pub id: String,
    pub purpose: String,
    pub categories: Vec<String>,
    pub text_zh: String,
    pub text_en: String,
}

/// Publish a notice (operators): its next version, whose exact text is committed to the log.
#[utoipa::path(post, path = "/api/v1/identity/notices", tag = "identity", request_body = NewNotice,
    responses((status = 201, body = NoticeView), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn publish_notice(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewNotice>,
) -> Result<(StatusCode, axum::Json<NoticeView>), ApiError> {
    let id = req.id.trim();
    if id.is_empty()
        || id.len() > 40
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(ApiError::InvalidBody(
            "a notice id is 1 to 40 characters of a-z 0-9 -".into(),
        ));
    }
    let draft = tianping_identity::consent::Notice {
        id: id.to_owned(),
        version: 0,
        purpose: req.purpose.parse()?,
        categories: req
            .categories
            .iter()
            .map(|c| c.parse())
            .collect::<Result<_, _>>()?,
        text_zh: req.text_zh,
        text_en: req.text_en,
    };
    let published = s.identity.publish_notice(draft, &caller.principal().id).await?;
    Ok((StatusCode::CREATED, axum::Json(published.into())))
}
