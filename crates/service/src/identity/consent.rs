//! Dynamic consent (PIPL-14/15/16/23/29/31): versioned notices whose exact text is committed to
//! the log, consents per purpose × data category × recipient, withdrawal effective at once, the full
//! history kept, and FHIR R5 `Consent` / `AuditEvent` exports.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tianping_identity::consent::{self as rules, DataCategory, GrantRequest, Notice, Purpose};
use tianping_identity::fhir;
use tianping_store::identity::{self as rows, ConsentRow, IdentityEffect, NoticeRow};
use tianping_store::vault::Effect;

use super::access::Principal;
use super::{Identity, IdentityError, Result, new_id};
use crate::log::now_ms;

fn notice_of(r: &NoticeRow) -> Result<Notice> {
    Ok(Notice {
        id: r.id.clone(),
        version: u32::try_from(r.version).map_err(|_| IdentityError::Storage("notice version".into()))?,
        purpose: r.purpose.parse()?,
        categories: r
            .categories
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()?,
        text_zh: r.text_zh.clone(),
        text_en: r.text_en.clone(),
    })
}

/// The notices a new deployment starts with (operators publish new versions as the texts change).
fn default_notices() -> Vec<Notice> {
    use DataCategory::*;
    vec![
        Notice {
            id: "care".into(),
            version: 1,
            purpose: Purpose::Treatment,
            categories: vec![
                ConsultationRecord,
                Prescription,
                Recording,
                HealthProfile,
                Contact,
            ],
            text_zh: "为了让您选择的医疗机构及其医生为您诊疗，天平将向该机构提供您勾选的问诊记录、处方、\
                      录音录像或健康档案。每一次查阅都会记录在案并可在隐私中心查看。您可随时撤回同意，\
                      撤回后对方不能再查阅；撤回不影响撤回前已进行的处理。"
                .into(),
            text_en: "So that the medical institution you choose and its doctors can treat you, Tianping \
                      gives that institution the consultation records, prescriptions, recordings or health \
                      profile you tick. Every access is recorded and shown in your privacy centre. You may \
                      withdraw at any time; afterwards the institution can no longer read them. Withdrawal \
                      does not affect processing that took place before it."
                .into(),
        },
        Notice {
            id: "dispute".into(),
            version: 1,
            purpose: Purpose::Dispute,
            categories: vec![ConsultationRecord, Prescription, Recording, Payment],
            text_zh: "为了调解或处理您提出的医疗纠纷，天平将向您选定的调解组织、法律援助机构或鉴定专家\
                      提供您勾选的记录。每一次查阅都会记录在案。您可随时撤回同意。"
                .into(),
            text_en: "To mediate or handle the medical dispute you raised, Tianping gives the mediation \
                      committee, legal-aid body or medical expert you choose the records you tick. Every \
                      access is recorded. You may withdraw at any time."
                .into(),
        },
        Notice {
            id: "insurance".into(),
            version: 1,
            purpose: Purpose::InsuranceClaim,
            categories: vec![ConsultationRecord, Prescription, Payment, Identity],
            text_zh: "为了处理您的保险理赔，天平将向您选定的保险公司提供您勾选的记录。每一次查阅都会记录\
                      在案。您可随时撤回同意，撤回可能使理赔无法继续。"
                .into(),
            text_en: "To handle your insurance claim, Tianping gives the insurer you choose the records you \
                      tick. Every access is recorded. You may withdraw at any time; the claim may then be \
                      unable to proceed."
                .into(),
        },
    ]
}

impl Identity {
    /// The current notices, publishing the defaults first when there are none yet (the first time
    /// anyone needs them, so a new log does not start with entries nobody asked for).
    async fn current_notices(&self) -> Result<Vec<NoticeRow>> {
        let rows = rows::current_notices(self.db()).await?;
        if !rows.is_empty() {
            return Ok(rows);
        }
        let _one = self.inner.notices.lock().await;
        if rows::current_notices(self.db()).await?.is_empty() {
            for n in default_notices() {
                self.publish_locked(n, "system").await?;
            }
        }
        Ok(rows::current_notices(self.db()).await?)
    }

    /// Publish the next version of notice `n.id` (`n.version` is set here, under the lock): its
    /// exact text is committed to the log (the entry's content is the notice; the row keeps a digest
    /// of the canonical encoding). Versions count up from 1.
    pub async fn publish_notice(&self, n: Notice, by: &str) -> Result<Notice> {
        let _one = self.inner.notices.lock().await;
        self.publish_locked(n, by).await
    }

    async fn publish_locked(&self, mut n: Notice, by: &str) -> Result<Notice> {
        let current = rows::current_notices(self.db())
            .await?
            .into_iter()
            .find(|r| r.id == n.id)
            .map_or(0, |r| r.version);
        n.version =
            u32::try_from(current + 1).map_err(|_| IdentityError::Storage("notice version".into()))?;
        if n.categories.is_empty() || n.text_zh.trim().is_empty() || n.text_en.trim().is_empty() {
            return Err(IdentityError::BadRequest(
                "a notice names at least one category and has both texts".into(),
            ));
        }
        let row = NoticeRow {
            id: n.id.clone(),
            version: i64::from(n.version),
            purpose: n.purpose.as_str().to_owned(),
            categories: n
                .categories
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            text_zh: n.text_zh.clone(),
            text_en: n.text_en.clone(),
            digest: Sha256::digest(n.text_digest_input()).to_vec(),
            published_ms: now_ms() as i64,
        };
        let content = json!({
            "notice": n.id, "version": n.version, "purpose": row.purpose, "categories": row.categories,
            "text_zh": n.text_zh, "text_en": n.text_en, "digest": hex::encode(&row.digest),
        });
        self.record(
            "consent.notice",
            by,
            &content,
            vec![Effect::Identity(IdentityEffect::Notice(row))],
        )
        .await?;
        Ok(n)
    }

    pub async fn notices(&self) -> Result<Vec<Notice>> {
        self.current_notices().await?.iter().map(notice_of).collect()
    }

    /// May `who` act on the consents of `subject`: the subject, or a guardian of the subject?
    fn acts_for(who: &Principal, subject: &str) -> Option<bool> {
        if who.id == subject {
            Some(false)
        } else if who.guardian_of.iter().any(|w| w == subject) {
            Some(true)
        } else {
            None
        }
    }

    /// Grant a consent on the current version of a notice. `seen_version` is the version the
    /// person was shown: if the notice changed since, the grant is refused (PIPL-14, -17: consent
    /// to the text actually read). Sensitive categories need the separate acknowledgement
    /// (PIPL-29); under-14s need their guardian (PIPL-31).
    #[allow(clippy::too_many_arguments)]
    pub async fn grant(
        &self,
        who: &Principal,
        subject: &str,
        notice_id: &str,
        seen_version: Option<u32>,
        category: DataCategory,
        recipient: &str,
        separate_acknowledgement: bool,
    ) -> Result<ConsentRow> {
        let by_guardian = Self::acts_for(who, subject).ok_or_else(|| {
            IdentityError::Forbidden("only the person or their guardian can consent".into())
        })?;
        let current = self
            .current_notices()
            .await?
            .into_iter()
            .find(|r| r.id == notice_id)
            .ok_or(IdentityError::NotFound)?;
        let current_version = notice_of(&current)?.version;
        let notice = match seen_version {
            Some(v) if v != current_version => notice_of(
                &rows::notice(self.db(), notice_id, i64::from(v))
                    .await?
                    .ok_or(IdentityError::NotFound)?,
            )?,
            _ => notice_of(&current)?,
        };
        if rows::org(self.db(), recipient).await?.is_none() {
            return Err(IdentityError::BadRequest(
                "the recipient organisation does not exist".into(),
            ));
        }
        let account = self.account(subject).await?;
        let age = match self.resident_id(&account).await? {
            Some(id) => id.age_at_ms(now_ms()),
            // Without an identity document the age is unknown: a guardian link set by an operator
            // stands for minority, otherwise the person is taken as an adult.
            None if by_guardian => 0,
            None => 18,
        };
        rules::check_grant(&GrantRequest {
            subject_age: age,
            by_guardian,
            notice: &notice,
            current_notice_version: current_version,
            category,
            separate_acknowledgement,
        })?;
        let row = ConsentRow {
            id: new_id(),
            subject_id: subject.to_owned(),
            granted_by: who.id.clone(),
            by_guardian,
            notice_id: notice.id.clone(),
            notice_version: i64::from(notice.version),
            purpose: notice.purpose.as_str().to_owned(),
            category: category.as_str().to_owned(),
            recipient: recipient.to_owned(),
            granted_ms: now_ms() as i64,
            granted_idx: 0,
            withdrawn_by: None,
            withdrawn_ms: None,
        };
        let content = json!({
            "consent": row.id, "subject": row.subject_id, "granted_by": row.granted_by,
            "by_guardian": by_guardian, "notice": row.notice_id, "version": row.notice_version,
            "notice_digest": hex::encode(&current.digest), "purpose": row.purpose,
            "category": row.category, "recipient": row.recipient,
        });
        let idx = self
            .record(
                "consent.granted",
                &who.id,
                &content,
                vec![Effect::Identity(IdentityEffect::Grant(row.clone()))],
            )
            .await?;
        Ok(ConsentRow {
            granted_idx: idx,
            ..row
        })
    }

    /// Withdraw a consent; effective for every access decided after this returns.
    pub async fn withdraw(&self, who: &Principal, consent_id: &str) -> Result<()> {
        let c = rows::consent(self.db(), consent_id)
            .await?
            .ok_or(IdentityError::NotFound)?;
        Self::acts_for(who, &c.subject_id).ok_or_else(|| {
            IdentityError::Forbidden("only the person or their guardian can withdraw".into())
        })?;
        if c.withdrawn_ms.is_some() {
            return Err(IdentityError::BadRequest(
                "the consent is already withdrawn".into(),
            ));
        }
        let ms = now_ms() as i64;
        let content = json!({ "consent": c.id, "subject": c.subject_id, "withdrawn_by": who.id });
        self.record(
            "consent.withdrawn",
            &who.id,
            &content,
            vec![Effect::Identity(IdentityEffect::Withdraw {
                id: c.id,
                by: who.id.clone(),
                ms,
            })],
        )
        .await?;
        Ok(())
    }

    /// Every consent of a subject, withdrawn ones included.
    pub async fn consents(&self, subject: &str) -> Result<Vec<ConsentRow>> {
        Ok(rows::consents_of(self.db(), subject).await?)
    }

    /// A consent as an HL7 FHIR R5 `Consent` resource.
    pub async fn consent_fhir(&self, c: &ConsentRow) -> Result<Value> {
        let notice = rows::notice(self.db(), &c.notice_id, c.notice_version)
            .await?
            .ok_or(IdentityError::NotFound)?;
        let consent = super::access::consent_of(c)
            .ok_or_else(|| IdentityError::Storage(format!("consent {} has unknown codes", c.id)))?;
        Ok(fhir::consent_resource(
            &consent,
            &notice_of(&notice)?,
            Some(c.granted_idx),
        ))
    }
}

/// A FHIR id from one of ours: FHIR ids are `[A-Za-z0-9-.]{1,64}`, so `token:name` becomes
/// `token-name` and anything longer is cut.
fn fhir_id(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect()
}

/// An access event as an HL7 FHIR R5 `AuditEvent` resource.
pub fn audit_event_fhir(r: &tianping_store::identity::AccessEventRow) -> Result<Value> {
    let info = fhir::AuditInfo {
        id: fhir_id(&r.id),
        at_ms: u64::try_from(r.at_ms).unwrap_or(0),
        actor_account: fhir_id(&r.actor_id),
        actor_role: r.actor_role.parse()?,
        action: r.action.parse()?,
        subject: fhir_id(&r.subject_id),
        category: r.category.parse()?,
        purpose: r.purpose.parse()?,
        permit: r.permit,
        reason: r.reason.parse()?,
        basis: r.basis.as_deref().map(str::parse).transpose()?,
        consent_id: None,
        log_index: Some(r.log_idx),
    };
    Ok(fhir::audit_event(&info))
}
