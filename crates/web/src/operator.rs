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
use tianping_service::identity::oversight::{Measure, Verdict};

use crate::AppState;
use crate::account::{CsrfOnly, Posted, Signed, form_status, has_csrf, see_other};
use crate::ui::pages::{ErrorKey, error_page};
use crate::ui::{PageCtx, SelectOption, paths, render_status, t};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::VERIFICATION_QUEUE, get(queue_page))
        .route("/operator/verifications/{account}", post(decide))
        .route(paths::BLACKLIST, get(blacklist_page).post(sanction))
        .route("/operator/blacklist/{id}/lift", post(lift))
}

/// The operator behind this request, or the response to give instead (sign in, or 403).
async fn operator(s: &AppState, ctx: &PageCtx, ext: &Extensions) -> Result<Principal, Response> {
    let Some(Signed(info)) = ext.get::<Signed>().cloned() else {
        return Err(see_other(paths::LOGIN));
    };
    match s.identity.principal(&info.account).await {
        Ok(p) if p.role == Role::Operator => Ok(p),
        Ok(_) => Err(error_page(
            ctx.clone(),
            StatusCode::FORBIDDEN,
            ErrorKey::ACCESS_DENIED,
            ErrorKey::OPERATORS_ONLY,
        )),
        Err(e) => {
            tracing::error!(error = %e, "operator lookup failed");
            Err(crate::ui::internal_error_page())
        }
    }
}

pub struct QueueLine {
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

async fn queue_view(s: &AppState, ctx: PageCtx, form_error: String) -> Response {
    let queue = s.identity.verification_queue().await.unwrap_or_default();
    let orgs = s.identity.orgs().await.unwrap_or_default();
    let mut lines = Vec::new();
    for d in queue {
        let name = s
            .identity
            .account(&d.account_id)
            .await
            .map(|a| a.display_name)
            .unwrap_or_default();
        lines.push(QueueLine {
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
    if let Err(r) = operator(&s, &ctx, &ext).await {
        return r;
    }
    queue_view(&s, ctx, String::new()).await
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
            return queue_view(&s, ctx, msg).await;
        }
    };
    match s.identity.decide_doctor(&who, &account, verdict, &f.note).await {
        Ok(()) => see_other(paths::VERIFICATION_QUEUE),
        Err(IdentityError::BadRequest(_) | IdentityError::NotFound) => {
            let msg = ctx.t("verify-decision-invalid");
            queue_view(&s, ctx, msg).await
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

async fn blacklist_view(s: &AppState, ctx: PageCtx, form_error: String) -> Response {
    let rows = s.identity.sanctions(false).await.unwrap_or_default();
    let orgs = s.identity.orgs().await.unwrap_or_default();
    let mut lines = Vec::new();
    for r in rows {
        let target = if r.target_kind == "organisation" {
            orgs.iter()
                .find(|o| o.id == r.target)
                .map_or_else(|| r.target.clone(), |o| o.name.clone())
        } else {
            s.identity.account(&r.target).await.map_or_else(
                |_| r.target.clone(),
                |a| format!("{} ({})", a.display_name, a.login),
            )
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
    if let Err(r) = operator(&s, &ctx, &ext).await {
        return r;
    }
    blacklist_view(&s, ctx, String::new()).await
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
        return blacklist_view(&s, ctx, msg).await;
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
        return blacklist_view(&s, ctx, msg).await;
    };
    match s
        .identity
        .sanction(&who, &f.target_kind, &target_id, measure, &f.reason)
        .await
    {
        Ok(_) => see_other(paths::BLACKLIST),
        Err(IdentityError::BadRequest(_) | IdentityError::NotFound) => {
            let msg = ctx.t("sanction-invalid");
            blacklist_view(&s, ctx, msg).await
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
            blacklist_view(&s, ctx, msg).await
        }
        Err(e) => {
            tracing::error!(error = %e, "lifting a sanction failed");
            crate::ui::internal_error_page()
        }
    }
}

has_csrf!(DecisionForm, SanctionForm);
