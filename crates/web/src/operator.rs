//! The operator's pages: the doctor verification queue (IDM-25) and the blacklist (suspensions and
//! blacklistings of accounts and organisations). Every decision is a log entry.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{Extensions, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use tianping_identity::role::Role;
use tianping_identity::time::format_instant;
use tianping_service::identity::IdentityError;
use tianping_service::identity::access::Principal;
use tianping_service::identity::oversight::{
    EVIDENCE_MAX_BYTES, EVIDENCE_TYPES, EvidenceItem, Measure, Verdict,
};

use crate::AppState;
use crate::account::{CsrfOnly, Posted, Signed, form_status, has_csrf, see_other};
use crate::ui::csrf;
use crate::ui::pages::{ErrorKey, error_page};
use crate::ui::{PageCtx, SelectOption, paths, render_status, t};

/// The doctor's own page: the application's state and the evidence submitted for it.
pub const DOCTOR_EVIDENCE: &str = "/doctor/evidence";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            DOCTOR_EVIDENCE,
            get(evidence_page)
                .post(upload_evidence)
                .layer(axum::extract::DefaultBodyLimit::max(
                    EVIDENCE_MAX_BYTES + 64 * 1024,
                )),
        )
        .route("/operator/evidence/{record}", get(view_evidence))
        .route(paths::VERIFICATION_QUEUE, get(queue_page))
        .route("/operator/verifications/{account}", post(decide))
        .route(paths::BLACKLIST, get(blacklist_page).post(sanction))
        .route("/operator/blacklist/{id}/lift", post(lift))
}

/// The operator behind this request, or the response to give instead (sign in, or 403).
async fn operator(s: &AppState, ctx: &PageCtx, ext: &Extensions) -> Result<Principal, Response> {
    signed_as(s, ctx, ext, &[Role::Operator], ErrorKey::OPERATORS_ONLY).await
}

/// The signed-in person when their role is one of `roles`; else the response to give instead:
/// sign in first, or a 403 page saying `refusal`. The one role guard of the pages.
pub(crate) async fn signed_as(
    s: &AppState,
    ctx: &PageCtx,
    ext: &Extensions,
    roles: &[Role],
    refusal: ErrorKey,
) -> Result<Principal, Response> {
    let Some(Signed(info)) = ext.get::<Signed>().cloned() else {
        return Err(see_other(paths::LOGIN));
    };
    match s.identity.principal(&info.account).await {
        Ok(p) if roles.contains(&p.role) => Ok(p),
        Ok(_) => Err(error_page(
            ctx.clone(),
            StatusCode::FORBIDDEN,
            ErrorKey::ACCESS_DENIED,
            refusal,
        )),
        Err(e) => {
            tracing::error!(error = %e, "principal lookup failed");
            Err(crate::ui::internal_error_page())
        }
    }
}

pub struct EvidenceLine {
    pub record: String,
    pub media_type: String,
    pub size_kib: i64,
    pub submitted: String,
}

fn evidence_lines(items: Vec<EvidenceItem>) -> Vec<EvidenceLine> {
    items
        .into_iter()
        .map(|e| EvidenceLine {
            record: e.record_id,
            media_type: e.media_type,
            size_kib: (e.size + 1023) / 1024,
            submitted: format_instant(u64::try_from(e.submitted_ms).unwrap_or(0)),
        })
        .collect()
}

pub struct QueueLine {
    pub evidence: Vec<EvidenceLine>,
    pub account: String,
    pub name: String,
    pub licence: String,
    pub institution: String,
    pub specialty: String,
    pub years: i64,
    pub submitted: String,
}

#[derive(Template)]
#[template(path = "verifications.html")]
struct QueuePage {
    ctx: PageCtx,
    lines: Vec<QueueLine>,
    form_error: String,
}

async fn queue_view(s: &AppState, ctx: PageCtx, who: &Principal, form_error: String) -> Response {
    let queue = match s.identity.verification_queue(who).await {
        Ok(q) => q,
        Err(e) => {
            tracing::error!(error = %e, "verification queue failed");
            return crate::ui::internal_error_page();
        }
    };
    let orgs = s.identity.orgs().await.unwrap_or_default();
    let mut lines = Vec::new();
    for d in queue {
        let name = s
            .identity
            .account(&d.account_id)
            .await
            .map(|a| a.display_name)
            .unwrap_or_default();
        let evidence = evidence_lines(s.identity.evidence_of(&d.account_id).await.unwrap_or_default());
        lines.push(QueueLine {
            evidence,
            institution: orgs
                .iter()
                .find(|o| o.id == d.institution_id)
                .map_or_else(|| d.institution_id.clone(), |o| o.name.clone()),
            account: d.account_id,
            name,
            licence: d.licence_no,
            specialty: d.specialty,
            years: d.practice_years,
            submitted: format_instant(u64::try_from(d.submitted_ms).unwrap_or(0)),
        });
    }
    render_status(
        form_status(&form_error),
        &QueuePage {
            ctx,
            lines,
            form_error,
        },
    )
}

async fn queue_page(State(s): State<AppState>, ctx: PageCtx, ext: Extensions) -> Response {
    match operator(&s, &ctx, &ext).await {
        Ok(who) => queue_view(&s, ctx, &who, String::new()).await,
        Err(r) => r,
    }
}

#[derive(Deserialize, Default)]
pub struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
}

async fn decide(
    State(s): State<AppState>,
    ctx: PageCtx,
    ext: Extensions,
    Path(account): Path<String>,
    Posted(f): Posted<DecisionForm>,
) -> Response {
    let who = match operator(&s, &ctx, &ext).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let verdict = match f.decision.as_str() {
        "verify" => Verdict::Verify,
        "reject" => Verdict::Reject,
        _ => {
            let msg = ctx.t("form-invalid");
            return queue_view(&s, ctx, &who, msg).await;
        }
    };
    match s.identity.decide_doctor(&who, &account, verdict, &f.note).await {
        Ok(()) => see_other(paths::VERIFICATION_QUEUE),
        Err(IdentityError::BadRequest(_) | IdentityError::NotFound) => {
            let msg = ctx.t("verify-decision-invalid");
            queue_view(&s, ctx, &who, msg).await
        }
        Err(e) => {
            tracing::error!(error = %e, "verification decision failed");
            crate::ui::internal_error_page()
        }
    }
}

pub struct SanctionLine {
    pub id: String,
    pub target: String,
    pub kind: String,
    pub measure: String,
    pub reason: String,
    pub decided: String,
    pub lifted: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "blacklist.html")]
struct BlacklistPage {
    ctx: PageCtx,
    lines: Vec<SanctionLine>,
    kinds: Vec<SelectOption>,
    measures: Vec<SelectOption>,
    form_error: String,
}

async fn blacklist_view(s: &AppState, ctx: PageCtx, who: &Principal, form_error: String) -> Response {
    let rows = s.identity.sanctions(false).await.unwrap_or_default();
    let orgs = s.identity.orgs().await.unwrap_or_default();
    let mut lines = Vec::new();
    for r in rows {
        let target = if r.target_kind == "organisation" {
            orgs.iter()
                .find(|o| o.id == r.target)
                .map_or_else(|| r.target.clone(), |o| o.name.clone())
        } else if r.lifted_ms.is_none() && s.identity.authorize_listing(who, &r.target).await.is_ok() {
            // Shown through the decision point (a recorded listing). A lifted sanction's person is
            // no longer under oversight and appears by account id only.
            s.identity.account(&r.target).await.map_or_else(
                |_| r.target.clone(),
                |a| format!("{} ({})", a.display_name, a.login),
            )
        } else {
            r.target.clone()
        };
        lines.push(SanctionLine {
            kind: t(
                ctx.locale,
                if r.target_kind == "organisation" {
                    "sanction-kind-organisation"
                } else {
                    "sanction-kind-account"
                },
            ),
            measure: t(
                ctx.locale,
                if r.measure == "blacklist" {
                    "sanction-measure-blacklist"
                } else {
                    "sanction-measure-suspend"
                },
            ),
            decided: format_instant(u64::try_from(r.decided_ms).unwrap_or(0)),
            lifted: r
                .lifted_ms
                .map(|m| format_instant(u64::try_from(m).unwrap_or(0)))
                .unwrap_or_default(),
            active: r.lifted_ms.is_none(),
            reason: r.reason,
            id: r.id,
            target,
        });
    }
    let kinds = vec![
        SelectOption {
            value: "account".into(),
            label: ctx.t("sanction-kind-account"),
            selected: true,
        },
        SelectOption {
            value: "organisation".into(),
            label: ctx.t("sanction-kind-organisation"),
            selected: false,
        },
    ];
    let measures = vec![
        SelectOption {
            value: "suspend".into(),
            label: ctx.t("sanction-measure-suspend"),
            selected: false,
        },
        SelectOption {
            value: "blacklist".into(),
            label: ctx.t("sanction-measure-blacklist"),
            selected: true,
        },
    ];
    render_status(
        form_status(&form_error),
        &BlacklistPage {
            ctx,
            lines,
            kinds,
            measures,
            form_error,
        },
    )
}

async fn blacklist_page(State(s): State<AppState>, ctx: PageCtx, ext: Extensions) -> Response {
    match operator(&s, &ctx, &ext).await {
        Ok(who) => blacklist_view(&s, ctx, &who, String::new()).await,
        Err(r) => r,
    }
}

#[derive(Deserialize, Default)]
pub struct SanctionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    target_kind: String,
    /// A login name (accounts) or an organisation's id or exact name.
    #[serde(default)]
    target: String,
    #[serde(default)]
    measure: String,
    #[serde(default)]
    reason: String,
}

async fn sanction(
    State(s): State<AppState>,
    ctx: PageCtx,
    ext: Extensions,
    Posted(f): Posted<SanctionForm>,
) -> Response {
    let who = match operator(&s, &ctx, &ext).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(measure) = Measure::parse(&f.measure) else {
        let msg = ctx.t("form-invalid");
        return blacklist_view(&s, ctx, &who, msg).await;
    };
    let target = f.target.trim();
    let target_id = match f.target_kind.as_str() {
        "account" => s
            .identity
            .account_by_login(&target.to_ascii_lowercase())
            .await
            .ok()
            .flatten()
            .map(|a| a.id),
        "organisation" => s
            .identity
            .orgs()
            .await
            .unwrap_or_default()
            .into_iter()
            .find(|o| o.id == target || o.name == target)
            .map(|o| o.id),
        _ => None,
    };
    let Some(target_id) = target_id else {
        let msg = ctx.t("sanction-target-unknown");
        return blacklist_view(&s, ctx, &who, msg).await;
    };
    match s
        .identity
        .sanction(&who, &f.target_kind, &target_id, measure, &f.reason)
        .await
    {
        Ok(_) => see_other(paths::BLACKLIST),
        Err(IdentityError::BadRequest(_) | IdentityError::NotFound) => {
            let msg = ctx.t("sanction-invalid");
            blacklist_view(&s, ctx, &who, msg).await
        }
        Err(e) => {
            tracing::error!(error = %e, "sanction failed");
            crate::ui::internal_error_page()
        }
    }
}

async fn lift(
    State(s): State<AppState>,
    ctx: PageCtx,
    ext: Extensions,
    Path(id): Path<String>,
    Posted(_): Posted<CsrfOnly>,
) -> Response {
    let who = match operator(&s, &ctx, &ext).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match s.identity.lift_sanction(&who, &id).await {
        Ok(()) => see_other(paths::BLACKLIST),
        Err(IdentityError::NotFound) => {
            let msg = ctx.t("form-invalid");
            blacklist_view(&s, ctx, &who, msg).await
        }
        Err(e) => {
            tracing::error!(error = %e, "lifting a sanction failed");
            crate::ui::internal_error_page()
        }
    }
}

has_csrf!(DecisionForm, SanctionForm);

// ---- evidence

#[derive(Template)]
#[template(path = "evidence.html")]
struct EvidencePage {
    ctx: PageCtx,
    status: String,
    pending: bool,
    lines: Vec<EvidenceLine>,
    form_error: String,
}

/// The signed-in doctor, or the response to give instead.
async fn doctor(s: &AppState, ctx: &PageCtx, ext: &Extensions) -> Result<Principal, Response> {
    signed_as(s, ctx, ext, &[Role::Doctor], ErrorKey::ACCESS_DENIED_BODY).await
}

async fn evidence_view(s: &AppState, ctx: PageCtx, who: &Principal, form_error: String) -> Response {
    let application = s.identity.doctor(&who.id).await.ok().flatten();
    let state = application.map(|d| d.status).unwrap_or_default();
    let status = match state.as_str() {
        "verified" => ctx.t("evidence-status-verified"),
        "rejected" => ctx.t("evidence-status-rejected"),
        _ => ctx.t("evidence-status-pending"),
    };
    let lines = evidence_lines(s.identity.evidence_of(&who.id).await.unwrap_or_default());
    render_status(
        form_status(&form_error),
        &EvidencePage {
            ctx,
            status,
            pending: state == "pending",
            lines,
            form_error,
        },
    )
}

async fn evidence_page(State(s): State<AppState>, ctx: PageCtx, ext: Extensions) -> Response {
    match doctor(&s, &ctx, &ext).await {
        Ok(who) => evidence_view(&s, ctx, &who, String::new()).await,
        Err(r) => r,
    }
}

/// Upload evidence (a multipart form: the `csrf` field, then one or more `evidence` files). The
/// CSRF token is checked before anything is stored.
async fn upload_evidence(
    State(s): State<AppState>,
    ctx: PageCtx,
    ext: Extensions,
    headers: axum::http::HeaderMap,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let who = match doctor(&s, &ctx, &ext).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Ok(mut multipart) = multipart else {
        return crate::account::bad_csrf(ctx);
    };
    let mut token_ok = false;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_owned();
                let media_type = field.content_type().unwrap_or("").to_owned();
                let Ok(bytes) = field.bytes().await else {
                    let msg = ctx.t("evidence-invalid");
                    return evidence_view(&s, ctx, &who, msg).await;
                };
                if name == "csrf" {
                    token_ok = csrf::check(&ext, &headers, std::str::from_utf8(&bytes).unwrap_or(""));
                } else if name == "evidence" && !bytes.is_empty() {
                    if !token_ok {
                        return crate::account::bad_csrf(ctx);
                    }
                    files.push((media_type, bytes.to_vec()));
                }
            }
            Ok(None) => break,
            Err(_) => {
                let msg = ctx.t("evidence-invalid");
                return evidence_view(&s, ctx, &who, msg).await;
            }
        }
    }
    if !token_ok {
        return crate::account::bad_csrf(ctx);
    }
    if files.is_empty()
        || files
            .iter()
            .any(|(t, b)| !EVIDENCE_TYPES.contains(&t.as_str()) || b.len() > EVIDENCE_MAX_BYTES)
    {
        let msg = ctx.t("evidence-invalid");
        return evidence_view(&s, ctx, &who, msg).await;
    }
    for (media_type, bytes) in files {
        match s.identity.add_evidence(&who, &media_type, &bytes).await {
            Ok(_) => {}
            Err(IdentityError::BadRequest(_) | IdentityError::Forbidden(_) | IdentityError::NotFound) => {
                let msg = ctx.t("evidence-invalid");
                return evidence_view(&s, ctx, &who, msg).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "storing evidence failed");
                return crate::ui::internal_error_page();
            }
        }
    }
    see_other(DOCTOR_EVIDENCE)
}

/// An operator opens a piece of evidence: decided (and recorded) like every read, then sent as a
/// download (never rendered inline).
async fn view_evidence(
    State(s): State<AppState>,
    ctx: PageCtx,
    ext: Extensions,
    Path(record): Path<String>,
) -> Response {
    let who = match operator(&s, &ctx, &ext).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let opened = async {
        let permit = s
            .identity
            .authorize_record(&who, &record, tianping_identity::consent::Purpose::Supervision)
            .await?;
        let opened = s.vault.read(&record, &permit).await?;
        let bytes = match &opened.content {
            Some(c) => c.to_vec(),
            None => {
                let mut out = Vec::new();
                s.vault
                    .for_each_chunk(&opened, |c| {
                        out.extend_from_slice(c);
                        Ok(())
                    })
                    .await?;
                out
            }
        };
        Ok::<_, IdentityError>((opened.row.media_type.clone(), bytes))
    }
    .await;
    match opened {
        Ok((media_type, bytes)) if opened_is_evidence(&media_type) => {
            use axum::response::IntoResponse;
            (
                [
                    (axum::http::header::CONTENT_TYPE, media_type),
                    (
                        axum::http::header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"evidence-{record}\""),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Ok(_) | Err(IdentityError::Denied(_)) => error_page(
            ctx,
            StatusCode::FORBIDDEN,
            ErrorKey::ACCESS_DENIED,
            ErrorKey::ACCESS_DENIED_BODY,
        ),
        Err(IdentityError::NotFound) => crate::ui::pages::not_found(ctx).await,
        Err(e) => {
            tracing::error!(error = %e, "reading evidence failed");
            crate::ui::internal_error_page()
        }
    }
}

fn opened_is_evidence(media_type: &str) -> bool {
    EVIDENCE_TYPES.contains(&media_type)
}
