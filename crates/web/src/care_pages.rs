//! The pages of online care: the 24/7 duty queue of red-flag alerts (acknowledge, resolve), a
//! patient's consultations with their ratings, a patient's refund of one doctor's consultation fees
//! (seed 000), and the supervision metrics regulators read. The service decides who may see and do
//! what ([`tianping_service::care`]); these handlers only guard by role, show and post forms.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{Extensions, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use tianping_identity::role::Role;
use tianping_identity::time::format_instant;
use tianping_service::care::CareError;
use tianping_service::care::alerts::{AlertAction, MAX_LEVEL};
use tianping_service::identity::IdentityError;
use tianping_service::identity::access::Principal;
use tianping_store::care::AlertRow;

use crate::AppState;
use crate::account::{Posted, form_status, has_csrf, see_other};
use crate::ui::pages::{ErrorKey, error_page};
use crate::ui::{Locale, PageCtx, SelectOption, paths, render, render_status};

/// Shown for a value that does not exist (yet): no rating, no response time, no assignee.
const NONE: &str = "—";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::DUTY, get(duty_page))
        .route("/duty/{id}/acknowledge", post(acknowledge))
        .route("/duty/{id}/resolve", post(resolve))
        .route(paths::CONSULTATIONS, get(consultations_page))
        .route("/consultations/{id}/rating", post(rate))
        .route(paths::REFUNDS, get(refunds_page))
        .route(paths::SUPERVISION, get(supervision_page))
}

/// People on duty: they see the queue. Regulators see it too but do not act on alerts.
const ON_DUTY: [Role; 4] = [
    Role::InstitutionStaff,
    Role::Doctor,
    Role::Operator,
    Role::Regulator,
];
const PATIENTS: [Role; 1] = [Role::Patient];
const SUPERVISORS: [Role; 2] = [Role::Regulator, Role::Operator];

/// The signed-in person when their role is one of `roles`; else sign in first, or the 403 page.
async fn signed_in(
    s: &AppState,
    ctx: &PageCtx,
    ext: &Extensions,
    roles: &[Role],
) -> Result<Principal, Response> {
    crate::operator::signed_as(s, ctx, ext, roles, ErrorKey::ACCESS_DENIED_BODY).await
}

fn denied(ctx: PageCtx) -> Response {
    error_page(
        ctx,
        StatusCode::FORBIDDEN,
        ErrorKey::ACCESS_DENIED,
        ErrorKey::ACCESS_DENIED_BODY,
    )
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "online care page failed");
    crate::ui::internal_error_page()
}

/// A refusal by the service that is about the person, not the input: the 403 page.
fn is_refusal(e: &CareError) -> bool {
    matches!(
        e,
        CareError::Forbidden(_) | CareError::Identity(IdentityError::Denied(_) | IdentityError::Forbidden(_))
    )
}

/// An amount in fen as yuan with two decimals: 8000 → `¥80.00`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}¥{}.{:02}", abs / 100, abs % 100)
}

fn when(ms: i64) -> String {
    format_instant(u64::try_from(ms).unwrap_or(0))
}

/// A UTC date-time as [`format_instant`] writes it (`2026-01-02T03:04:05.678Z`), in two parts so that
/// a narrow column may break the line after the date (the page joins them with `<wbr>`).
pub struct When {
    /// The date and the `T`.
    pub day: String,
    pub time: String,
}

impl When {
    fn of(ms: i64) -> When {
        let text = when(ms);
        match text.split_once('T') {
            Some((day, time)) => When {
                day: format!("{day}T"),
                time: time.to_owned(),
            },
            None => When {
                day: text,
                time: String::new(),
            },
        }
    }
}

/// An open alert past its acknowledgement deadline (an acknowledged one has stopped the clock).
pub fn is_overdue(status: &str, deadline_ms: i64, now_ms: i64) -> bool {
    status == "open" && deadline_ms < now_ms
}

fn severity_label(ctx: &PageCtx, code: &str) -> String {
    match code {
        "critical" => ctx.t("care-severity-critical"),
        "high" => ctx.t("care-severity-high"),
        "medium" => ctx.t("care-severity-medium"),
        "low" => ctx.t("care-severity-low"),
        other => other.to_owned(),
    }
}

fn status_label(ctx: &PageCtx, code: &str) -> String {
    match code {
        "open" => ctx.t("care-status-open"),
        "acknowledged" => ctx.t("care-status-acknowledged"),
        "resolved" => ctx.t("care-status-resolved"),
        other => other.to_owned(),
    }
}

/// Display names of accounts, looked up once each.
struct Names<'a> {
    s: &'a AppState,
    known: HashMap<String, String>,
}

impl<'a> Names<'a> {
    fn new(s: &'a AppState) -> Self {
        Names {
            s,
            known: HashMap::new(),
        }
    }

    async fn of(&mut self, account: &str) -> String {
        if let Some(n) = self.known.get(account) {
            return n.clone();
        }
        let name = self
            .s
            .identity
            .account(account)
            .await
            .map_or_else(|_| account.to_owned(), |a| a.display_name);
        self.known.insert(account.to_owned(), name.clone());
        name
    }
}

// ---- the duty queue

pub struct AlertLine {
    pub id: String,
    pub severity: String,
    /// The severity code, for the row's CSS class.
    pub severity_code: String,
    /// What the red flag signals, from the rule book in the page's language.
    pub signal: String,
    pub org: String,
    pub consultation: String,
    pub raised: When,
    pub deadline: When,
    pub overdue: bool,
    pub level: i64,
    pub assignee: String,
    pub status: String,
    pub open: bool,
}

#[derive(Template)]
#[template(path = "care_duty.html")]
struct DutyPage {
    ctx: PageCtx,
    lines: Vec<AlertLine>,
    /// Whether the person may acknowledge and resolve (everyone on duty but regulators).
    can_act: bool,
    form_error: String,
}

async fn alert_lines(s: &AppState, ctx: &PageCtx, alerts: Vec<AlertRow>) -> Vec<AlertLine> {
    let now = tianping_service::log::now_ms() as i64;
    let orgs = s.identity.orgs().await.unwrap_or_default();
    let mut names = Names::new(s);
    let mut lines = Vec::with_capacity(alerts.len());
    for a in alerts {
        // At the last level the alert is everyone's on duty, whoever it was assigned to before.
        let assignee = match &a.assignee {
            _ if a.level >= MAX_LEVEL => ctx.t("care-duty-assignee-all"),
            Some(acc) => names.of(acc).await,
            None => NONE.to_owned(),
        };
        lines.push(AlertLine {
            severity: severity_label(ctx, &a.severity),
            signal: if ctx.locale == Locale::ZhCn {
                a.zh.clone()
            } else {
                a.en.clone()
            },
            org: orgs
                .iter()
                .find(|o| o.id == a.org_id)
                .map_or_else(|| a.org_id.clone(), |o| o.name.clone()),
            raised: When::of(a.raised_ms),
            deadline: When::of(a.deadline_ms),
            overdue: is_overdue(&a.status, a.deadline_ms, now),
            level: a.level,
            assignee,
            status: status_label(ctx, &a.status),
            open: a.status == "open",
            consultation: a.consultation_id,
            severity_code: a.severity,
            id: a.id,
        });
    }
    lines
}

async fn duty_view(s: &AppState, ctx: PageCtx, who: &Principal, form_error: String) -> Response {
    let alerts = match s.care.duty_queue(who).await {
        Ok(a) => a,
        Err(e) if is_refusal(&e) => return denied(ctx),
        Err(e) => return internal(e),
    };
    let lines = alert_lines(s, &ctx, alerts).await;
    render_status(
        form_status(&form_error),
        &DutyPage {
            ctx,
            lines,
            can_act: who.role != Role::Regulator,
            form_error,
        },
    )
}

async fn duty_page(State(s): State<AppState>, ctx: PageCtx, ext: Extensions) -> Response {
    match signed_in(&s, &ctx, &ext, &ON_DUTY).await {
        Ok(who) => duty_view(&s, ctx, &who, String::new()).await,
        Err(r) => r,
    }
}

#[derive(Deserialize, Default)]
pub struct NoteForm {
    #[serde(default)]
    csrf: String,
    /// Kept encrypted in the action's log entry.
    #[serde(default)]
    note: String,
}

async fn acknowledge(
    State(s): State<AppState>,
    ctx: PageCtx,
    ext: Extensions,
    Path(id): Path<String>,
    Posted(f): Posted<NoteForm>,
) -> Response {
    act(&s, ctx, &ext, &id, AlertAction::Acknowledge, &f.note).await
}

async fn resolve(
    State(s): State<AppState>,
    ctx: PageCtx,
    ext: Extensions,
    Path(id): Path<String>,
    Posted(f): Posted<NoteForm>,
) -> Response {
    act(&s, ctx, &ext, &id, AlertAction::Resolve, &f.note).await
}

async fn act(
    s: &AppState,
    ctx: PageCtx,
    ext: &Extensions,
    id: &str,
    action: AlertAction,
    note: &str,
) -> Response {
    let who = match signed_in(s, &ctx, ext, &ON_DUTY).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let note = Some(note.trim()).filter(|n| !n.is_empty());
    match s.care.act_on_alert(&who, id, action, note).await {
        Ok(_) => see_other(paths::DUTY),
        Err(e) if is_refusal(&e) => denied(ctx),
        Err(CareError::Conflict(_)) => {
            let msg = ctx.t("care-duty-conflict");
            duty_view(s, ctx, &who, msg).await
        }
        Err(CareError::NotFound) => {
            let msg = ctx.t("care-duty-not-found");
            duty_view(s, ctx, &who, msg).await
        }
        Err(CareError::BadRequest(_)) => {
            let msg = ctx.t("care-note-too-long");
            duty_view(s, ctx, &who, msg).await
        }
        Err(e) => internal(e),
    }
}

// ---- a patient's consultations and ratings

pub struct ConsultationLine {
    pub id: String,
    pub institution: String,
    pub doctor: String,
    /// The doctor's account, for the refund link.
    pub doctor_account: String,
    pub started: String,
    pub ended: String,
    pub rateable: bool,
    pub rated: bool,
}

#[derive(Template)]
#[template(path = "care_consultations.html")]
struct ConsultationsPage {
    ctx: PageCtx,
    lines: Vec<ConsultationLine>,
    scores: Vec<SelectOption>,
    form_error: String,
}

async fn consultations_view(s: &AppState, ctx: PageCtx, who: &Principal, form_error: String) -> Response {
    let list = match s.care.my_consultations(who).await {
        Ok(l) => l,
        Err(e) if is_refusal(&e) => return denied(ctx),
        Err(e) => return internal(e),
    };
    let lines = list
        .into_iter()
        .map(|c| ConsultationLine {
            rateable: c.ended_ms.is_some() && !c.rated,
            rated: c.rated,
            started: when(c.started_ms),
            ended: c.ended_ms.map(when).unwrap_or_default(),
            institution: c.org_name,
            doctor: c.doctor_name,
            doctor_account: c.doctor,
            id: c.id,
        })
        .collect();
    // Best first: a person reading down meets the top score before the lowest.
    let scores = (1..=5)
        .rev()
        .map(|n: i64| SelectOption {
            value: n.to_string(),
            label: n.to_string(),
            selected: false,
        })
        .collect();
    render_status(
        form_status(&form_error),
        &ConsultationsPage {
            ctx,
            lines,
            scores,
            form_error,
        },
    )
}

async fn consultations_page(State(s): State<AppState>, ctx: PageCtx, ext: Extensions) -> Response {
    match signed_in(&s, &ctx, &ext, &PATIENTS).await {
        Ok(who) => consultations_view(&s, ctx, &who, String::new()).await,
        Err(r) => r,
    }
}

#[derive(Deserialize, Default)]
pub struct RatingForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    doctor_score: String,
    #[serde(default)]
    institution_score: String,
    /// Kept encrypted in the rating's log entry.
    #[serde(default)]
    comment: String,
}

async fn rate(
    State(s): State<AppState>,
    ctx: PageCtx,
    ext: Extensions,
    Path(id): Path<String>,
    Posted(f): Posted<RatingForm>,
) -> Response {
    let who = match signed_in(&s, &ctx, &ext, &PATIENTS).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let score = |v: &str| v.trim().parse::<i64>().ok().filter(|n| (1..=5).contains(n));
    let (Some(doctor_score), Some(org_score)) = (score(&f.doctor_score), score(&f.institution_score)) else {
        let msg = ctx.t("care-rating-invalid");
        return consultations_view(&s, ctx, &who, msg).await;
    };
    let comment = Some(f.comment.trim()).filter(|c| !c.is_empty());
    match s.care.rate(&who, &id, doctor_score, org_score, comment).await {
        Ok(_) => see_other(paths::CONSULTATIONS),
        Err(e) if is_refusal(&e) => denied(ctx),
        Err(CareError::Conflict(_)) => {
            let msg = ctx.t("care-rating-conflict");
            consultations_view(&s, ctx, &who, msg).await
        }
        Err(CareError::BadRequest(_) | CareError::NotFound) => {
            let msg = ctx.t("care-rating-invalid");
            consultations_view(&s, ctx, &who, msg).await
        }
        Err(e) => internal(e),
    }
}

// ---- a patient's refund (seed 000)

pub struct RefundLine {
    pub consultation: String,
    pub when: String,
    pub amount: String,
    pub log_index: u64,
}

/// The refund for the chosen doctor, ready to show.
pub struct RefundView {
    pub doctor: String,
    pub total: String,
    pub lines: Vec<RefundLine>,
    pub paid_all: String,
    pub topped_up: String,
}

#[derive(Template)]
#[template(path = "care_refunds.html")]
struct RefundsPage {
    ctx: PageCtx,
    doctors: Vec<SelectOption>,
    refund: Option<RefundView>,
    form_error: String,
}

#[derive(Deserialize, Default)]
pub struct RefundQuery {
    #[serde(default)]
    doctor: Option<String>,
}

async fn refunds_page(
    State(s): State<AppState>,
    ctx: PageCtx,
    ext: Extensions,
    query: Result<Query<RefundQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    // A query that is not ours (say the doctor named twice) is treated as no choice yet.
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let who = match signed_in(&s, &ctx, &ext, &PATIENTS).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let list = match s.care.my_consultations(&who).await {
        Ok(l) => l,
        Err(e) if is_refusal(&e) => return denied(ctx),
        Err(e) => return internal(e),
    };
    let chosen = q.doctor.as_deref().map(str::trim).filter(|d| !d.is_empty());
    // The doctors of my consultations, each once, in the order first met (newest consultation first).
    let mut doctors: Vec<SelectOption> = Vec::new();
    for c in &list {
        if !doctors.iter().any(|d| d.value == c.doctor) {
            doctors.push(SelectOption {
                selected: chosen == Some(c.doctor.as_str()),
                label: c.doctor_name.clone(),
                value: c.doctor.clone(),
            });
        }
    }
    let mut form_error = String::new();
    let mut refund = None;
    match chosen {
        None => {}
        Some(d) if !doctors.iter().any(|o| o.value == d) => form_error = ctx.t("care-refund-doctor-unknown"),
        Some(d) => match s.care.refund(&who, &who.id, d).await {
            Ok(r) => {
                let name = doctors
                    .iter()
                    .find(|o| o.value == d)
                    .map(|o| o.label.clone())
                    .unwrap_or_default();
                refund = Some(RefundView {
                    doctor: name,
                    total: yuan(r.total_fen),
                    lines: r
                        .lines
                        .iter()
                        .map(|p| RefundLine {
                            consultation: p.consultation.clone(),
                            when: format_instant(p.occurred_ms),
                            amount: yuan(p.fee_fen),
                            log_index: p.log_index,
                        })
                        .collect(),
                    paid_all: yuan(r.paid_all_doctors_fen),
                    topped_up: yuan(r.topped_up_fen),
                });
            }
            Err(e) if is_refusal(&e) => return denied(ctx),
            Err(CareError::NotFound) => form_error = ctx.t("care-refund-doctor-unknown"),
            Err(e) => return internal(e),
        },
    }
    render_status(
        form_status(&form_error),
        &RefundsPage {
            ctx,
            doctors,
            refund,
            form_error,
        },
    )
}

// ---- supervision metrics (SUP-METRICS)

pub struct MetricsLine {
    pub id: String,
    pub name: String,
    pub consultations: i64,
    pub ended: i64,
    pub mean_response_s: String,
    pub termination: String,
    pub referral: String,
    pub findings_per_100: String,
    pub rating: String,
    pub ratings: i64,
}

/// One of the page's two tables: institutions or doctors.
pub struct MetricsTable {
    /// The table's element id.
    pub id: &'static str,
    pub heading: String,
    /// The header of the first column.
    pub col_name: String,
    pub lines: Vec<MetricsLine>,
}

#[derive(Template)]
#[template(path = "care_supervision.html")]
struct SupervisionPage {
    ctx: PageCtx,
    generated: String,
    tables: Vec<MetricsTable>,
}

fn fixed(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| NONE.to_owned(), |x| format!("{x:.decimals$}"))
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| NONE.to_owned(), |x| format!("{:.1}%", x * 100.0))
}

fn metrics_lines(rows: Vec<tianping_service::care::supervision::MetricsRow>) -> Vec<MetricsLine> {
    rows.into_iter()
        .map(|r| {
            let m = r.metrics;
            MetricsLine {
                name: if r.name.is_empty() { r.id.clone() } else { r.name },
                id: r.id,
                consultations: m.consultations,
                ended: m.ended,
                mean_response_s: fixed(m.mean_response_s, 1),
                termination: percent(m.termination_rate),
                referral: percent(m.referral_rate),
                findings_per_100: fixed(m.findings_per_100, 1),
                rating: fixed(m.mean_rating, 2),
                ratings: m.ratings,
            }
        })
        .collect()
}

async fn supervision_page(State(s): State<AppState>, ctx: PageCtx, ext: Extensions) -> Response {
    let who = match signed_in(&s, &ctx, &ext, &SUPERVISORS).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match s.care.supervision(&who).await {
        Ok(report) => {
            let tables = vec![
                MetricsTable {
                    id: "metrics-institutions",
                    heading: ctx.t("care-supervision-institutions"),
                    col_name: ctx.t("care-supervision-col-institution"),
                    lines: metrics_lines(report.institutions),
                },
                MetricsTable {
                    id: "metrics-doctors",
                    heading: ctx.t("care-supervision-doctors"),
                    col_name: ctx.t("care-supervision-col-doctor"),
                    lines: metrics_lines(report.doctors),
                },
            ];
            render(&SupervisionPage {
                generated: when(report.generated_ms),
                tables,
                ctx,
            })
        }
        Err(e) if is_refusal(&e) => denied(ctx),
        Err(e) => internal(e),
    }
}

has_csrf!(NoteForm, RatingForm);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fen_are_shown_as_yuan() {
        assert_eq!(yuan(8000), "¥80.00");
        assert_eq!(yuan(0), "¥0.00");
        assert_eq!(yuan(5), "¥0.05");
        assert_eq!(yuan(123_456), "¥1234.56");
        assert_eq!(yuan(-250), "-¥2.50");
        assert_eq!(yuan(i64::MIN), "-¥92233720368547758.08");
    }

    #[test]
    fn times_split_after_the_date() {
        let w = When::of(1_767_323_045_678);
        assert_eq!(format!("{}{}", w.day, w.time), format_instant(1_767_323_045_678));
        assert_eq!(
            (w.day.as_str(), w.time.as_str()),
            ("2026-01-02T", "03:04:05.678Z")
        );
    }

    #[test]
    fn only_open_alerts_past_their_deadline_are_overdue() {
        assert!(is_overdue("open", 1_000, 1_001));
        assert!(!is_overdue("open", 1_000, 1_000));
        assert!(!is_overdue("open", 2_000, 1_000));
        assert!(!is_overdue("acknowledged", 1_000, 5_000));
    }

    #[test]
    fn metrics_show_a_dash_when_there_is_nothing_to_average() {
        assert_eq!(fixed(None, 1), NONE);
        assert_eq!(fixed(Some(12.345), 1), "12.3");
        assert_eq!(percent(Some(0.25)), "25.0%");
        assert_eq!(percent(None), NONE);
    }
}
