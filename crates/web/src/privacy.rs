//! The patient's privacy centre: who accessed my data, when, why and on what basis; my consents,
//! with grant and withdraw; download my data (the vault's export, through the decision point). And
//! the record page a doctor or staff member opens, which passes the same decision point.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{Extensions, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tianping_identity::consent::{DataCategory, Purpose};
use tianping_identity::policy::{Action, LegalBasis, Reason};
use tianping_identity::role::Role;
use tianping_identity::time::format_instant;
use tianping_service::identity::IdentityError;
use tianping_service::identity::access::Principal;

use crate::AppState;
use crate::account::{CsrfOnly, Posted, Signed, form_status, has_csrf, see_other};
use crate::ui::pages::{ErrorKey, error_page};
use crate::ui::{PageCtx, SelectOption, paths, render, render_status, t};

pub const EXPORT: &str = "/privacy/export";
pub const CONSENTS: &str = "/privacy/consents";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::PRIVACY, get(privacy_page))
        .route(EXPORT, get(export))
        .route(CONSENTS, post(grant))
        .route("/privacy/consents/{id}/withdraw", post(withdraw))
        .route("/records/{id}", get(record_page))
}

/// One line of the access log, ready to show.
pub struct AccessLine {
    pub when: String,
    pub who: String,
    pub role: String,
    pub action: String,
    pub category: String,
    pub purpose: String,
    pub outcome: String,
    pub permit: bool,
    pub basis: String,
    pub log_index: u64,
}

pub struct ConsentLine {
    pub id: String,
    pub notice: String,
    pub purpose: String,
    pub category: String,
    pub recipient: String,
    pub granted: String,
    pub withdrawn: String,
    pub active: bool,
    pub by_guardian: bool,
}

#[derive(Template)]
#[template(path = "privacy.html")]
struct PrivacyPage {
    ctx: PageCtx,
    accesses: Vec<AccessLine>,
    consents: Vec<ConsentLine>,
    notices: Vec<SelectOption>,
    categories: Vec<SelectOption>,
    recipients: Vec<SelectOption>,
    subjects: Vec<SelectOption>,
    form_error: String,
    notice_texts: Vec<(String, String)>,
}

fn signed(ext: &Extensions) -> Option<Signed> {
    ext.get::<Signed>().cloned()
}

/// The translated name of a stored code (role, category, purpose, reason, basis); the code itself
/// if it is unknown. The message keys come from `tianping_identity` (`message_key()`).
fn label<T: std::str::FromStr + Copy>(ctx: &PageCtx, code: &str, key: fn(T) -> &'static str) -> String {
    code.parse::<T>()
        .map_or_else(|_| code.to_owned(), |v| t(ctx.locale, key(v)))
}

async fn privacy_view(s: &AppState, ctx: PageCtx, who: &Principal, form_error: String) -> Response {
    let log = match s.identity.access_log(&who.id, 200).await {
        Ok(l) => l,
        Err(e) => return internal(e),
    };
    let orgs = s.identity.orgs().await.unwrap_or_default();
    let org_name = |id: &str| {
        orgs.iter()
            .find(|o| o.id == id)
            .map_or_else(|| id.to_owned(), |o| o.name.clone())
    };
    let accesses = log
        .into_iter()
        .map(|a| AccessLine {
            when: format_instant(u64::try_from(a.at_ms).unwrap_or(0)),
            who: a.actor_name,
            role: label(&ctx, &a.actor_role, Role::message_key),
            action: label(&ctx, &a.action, Action::message_key),
            category: label(&ctx, &a.category, DataCategory::message_key),
            purpose: label(&ctx, &a.purpose, Purpose::message_key),
            outcome: label(&ctx, &a.reason, Reason::message_key),
            permit: a.permit,
            basis: a
                .basis
                .map(|b| label(&ctx, &b, LegalBasis::message_key))
                .unwrap_or_default(),
            log_index: a.log_idx,
        })
        .collect();
    let mut consents = Vec::new();
    for subject in std::iter::once(&who.id).chain(who.guardian_of.iter()) {
        for c in s.identity.consents(subject).await.unwrap_or_default() {
            consents.push(ConsentLine {
                notice: format!("{} v{}", c.notice_id, c.notice_version),
                purpose: label(&ctx, &c.purpose, Purpose::message_key),
                category: label(&ctx, &c.category, DataCategory::message_key),
                recipient: org_name(&c.recipient),
                granted: format_instant(u64::try_from(c.granted_ms).unwrap_or(0)),
                withdrawn: c
                    .withdrawn_ms
                    .map(|m| format_instant(u64::try_from(m).unwrap_or(0)))
                    .unwrap_or_default(),
                active: c.withdrawn_ms.is_none(),
                by_guardian: c.by_guardian,
                id: c.id,
            });
        }
    }
    let notices = s.identity.notices().await.unwrap_or_default();
    let notice_texts = notices
        .iter()
        .map(|n| {
            let text = if ctx.locale == crate::ui::Locale::ZhCn {
                &n.text_zh
            } else {
                &n.text_en
            };
            (
                format!(
                    "{} v{} · {}",
                    n.id,
                    n.version,
                    t(ctx.locale, n.purpose.message_key())
                ),
                text.clone(),
            )
        })
        .collect();
    let notice_opts = notices
        .iter()
        .map(|n| SelectOption {
            value: format!("{}:{}", n.id, n.version),
            label: format!("{} · {}", n.id, t(ctx.locale, n.purpose.message_key())),
            selected: false,
        })
        .collect();
    let categories = DataCategory::ALL
        .into_iter()
        .map(|c| SelectOption {
            value: c.as_str().to_owned(),
            label: t(ctx.locale, c.message_key()),
            selected: false,
        })
        .collect();
    let recipients = orgs
        .iter()
        .filter(|o| o.status == "active")
        .map(|o| SelectOption {
            value: o.id.clone(),
            label: o.name.clone(),
            selected: false,
        })
        .collect();
    let mut subjects = vec![SelectOption {
        value: who.id.clone(),
        label: ctx.t("privacy-subject-self"),
        selected: true,
    }];
    for w in &who.guardian_of {
        let name = s
            .identity
            .account(w)
            .await
            .map(|a| a.display_name)
            .unwrap_or_else(|_| w.clone());
        subjects.push(SelectOption {
            value: w.clone(),
            label: name,
            selected: false,
        });
    }
    render_status(
        form_status(&form_error),
        &PrivacyPage {
            ctx,
            accesses,
            consents,
            notices: notice_opts,
            categories,
            recipients,
            subjects,
            form_error,
            notice_texts,
        },
    )
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "privacy centre failed");
    crate::ui::internal_error_page()
}

async fn principal_of(s: &AppState, ext: &Extensions) -> Option<Principal> {
    let Signed(info) = signed(ext)?;
    s.identity.principal(&info.account).await.ok()
}

async fn privacy_page(State(s): State<AppState>, ctx: PageCtx, ext: Extensions) -> Response {
    let Some(who) = principal_of(&s, &ext).await else {
        return see_other(paths::LOGIN);
    };
    privacy_view(&s, ctx, &who, String::new()).await
}

/// Download my data: the vault's export of my records (each with its proof), through the decision
/// point like every other read.
async fn export(State(s): State<AppState>, ext: Extensions) -> Response {
    let Some(who) = principal_of(&s, &ext).await else {
        return see_other(paths::LOGIN);
    };
    let result = async {
        let permit = s
            .identity
            .authorize_export(&who, &who.id, Purpose::Treatment)
            .await?;
        Ok::<_, IdentityError>(s.vault.export_subject(&who.id, &permit).await?)
    }
    .await;
    match result {
        Ok(export) => (
            [
                (header::CONTENT_TYPE, "application/json".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"tianping-my-data.json\"".to_owned(),
                ),
            ],
            serde_json::to_vec_pretty(&export).unwrap_or_default(),
        )
            .into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize, Default)]
pub struct GrantForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    notice: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    recipient: String,
    /// The separate consent box for sensitive data (PIPL-29); present when ticked.
    #[serde(default)]
    separate: Option<String>,
}

async fn grant(
    State(s): State<AppState>,
    ctx: PageCtx,
    ext: Extensions,
    Posted(f): Posted<GrantForm>,
) -> Response {
    let Some(who) = principal_of(&s, &ext).await else {
        return see_other(paths::LOGIN);
    };
    let Ok(category) = f.category.parse::<DataCategory>() else {
        let msg = ctx.t("privacy-category-invalid");
        return privacy_view(&s, ctx, &who, msg).await;
    };
    // The option names the version shown: `id:version`.
    let (notice, seen) = match f.notice.split_once(':') {
        Some((id, v)) => (id.to_owned(), v.parse::<u32>().ok()),
        None => (f.notice.clone(), None),
    };
    let subject = if f.subject.is_empty() {
        who.id.clone()
    } else {
        f.subject.clone()
    };
    match s
        .identity
        .grant(
            &who,
            &subject,
            &notice,
            seen,
            category,
            &f.recipient,
            f.separate.is_some(),
        )
        .await
    {
        Ok(_) => see_other(paths::PRIVACY),
        Err(IdentityError::Consent(e)) => {
            let msg = t(ctx.locale, e.message_key());
            privacy_view(&s, ctx, &who, msg).await
        }
        Err(IdentityError::NotFound | IdentityError::BadRequest(_) | IdentityError::Forbidden(_)) => {
            let msg = ctx.t("form-invalid");
            privacy_view(&s, ctx, &who, msg).await
        }
        Err(e) => internal(e),
    }
}

async fn withdraw(
    State(s): State<AppState>,
    ctx: PageCtx,
    ext: Extensions,
    Path(id): Path<String>,
    Posted(_): Posted<CsrfOnly>,
) -> Response {
    let Some(who) = principal_of(&s, &ext).await else {
        return see_other(paths::LOGIN);
    };
    match s.identity.withdraw(&who, &id).await {
        Ok(()) => see_other(paths::PRIVACY),
        Err(IdentityError::NotFound | IdentityError::BadRequest(_) | IdentityError::Forbidden(_)) => {
            let msg = ctx.t("form-invalid");
            privacy_view(&s, ctx, &who, msg).await
        }
        Err(e) => internal(e),
    }
}

#[derive(Template)]
#[template(path = "record.html")]
struct RecordPage {
    ctx: PageCtx,
    id: String,
    kind: String,
    when: String,
    log_index: u64,
    content: String,
}

#[derive(Deserialize, Default)]
pub struct PurposeQuery {
    #[serde(default)]
    purpose: Option<String>,
}

/// A record, for a person entitled to it (the decision point decides and records first).
async fn record_page(
    State(s): State<AppState>,
    ctx: PageCtx,
    ext: Extensions,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<PurposeQuery>,
) -> Response {
    let Some(who) = principal_of(&s, &ext).await else {
        return see_other(paths::LOGIN);
    };
    let purpose = q
        .purpose
        .as_deref()
        .and_then(|p| p.parse().ok())
        .unwrap_or(Purpose::Treatment);
    let opened = async {
        let permit = s.identity.authorize_record(&who, &id, purpose).await?;
        Ok::<_, IdentityError>(s.vault.read(&id, &permit).await?)
    }
    .await;
    match opened {
        Ok(o) => {
            let content = match &o.content {
                Some(c) if o.row.media_type == tianping_service::vault::JSON => {
                    serde_json::from_slice::<serde_json::Value>(c)
                        .ok()
                        .and_then(|v| serde_json::to_string_pretty(&v).ok())
                        .unwrap_or_default()
                }
                _ => ctx.t("record-binary"),
            };
            render(&RecordPage {
                id,
                kind: o.row.kind.clone(),
                when: format_instant(u64::try_from(o.row.event_ms).unwrap_or(0)),
                log_index: o.row.log_idx,
                content,
                ctx,
            })
        }
        Err(IdentityError::Denied(_)) => error_page(
            ctx,
            StatusCode::FORBIDDEN,
            ErrorKey::ACCESS_DENIED,
            ErrorKey::ACCESS_DENIED_BODY,
        ),
        Err(IdentityError::NotFound) => crate::ui::pages::not_found(ctx).await,
        Err(e) => internal(e),
    }
}

has_csrf!(GrantForm);
