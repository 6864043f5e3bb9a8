//! The one decision point for reads of personal and health data.
//!
//! A handler that wants a record's content, or a subject's export, asks [`Identity::authorize_record`]
//! or [`Identity::authorize_export`]. The decision — permit or deny, with its reason and legal basis
//! (PIPL-13) — is made by the pure `tianping_identity::policy::decide` and committed to the log as an
//! `access.decision` entry before the answer is returned, refusals included. The vault's reading
//! functions take a [`Permit`], and a `Permit` can only be made here: its fields are private to this
//! module. So "every read is decided and recorded" is a property of the types, not a convention.

use serde_json::json;
use tianping_identity::consent::{Consent, DataCategory, Purpose};
use tianping_identity::policy::{self, AccessRequest, Action, Actor, Resource};
use tianping_identity::role::Role;
use tianping_store::identity::{self as rows, AccessEventRow, AccountRow, IdentityEffect};
use tianping_store::vault::{self as vault_rows, Effect};

use super::{Identity, IdentityError, Result, new_id};
use crate::log::now_ms;
use crate::tokens::ApiClient;

/// Who is asking: a signed-in person or an integration's API token.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Account id, or `token:<name>` for an integration.
    pub id: String,
    /// Shown in the subject's access log: a person's display name or the token's name.
    pub name: String,
    pub role: Role,
    pub orgs: Vec<String>,
    /// Accounts this person is the guardian of.
    pub guardian_of: Vec<String>,
    pub verified_doctor: bool,
    pub suspended: bool,
    /// For integrations: the source name their submissions carry.
    pub source: Option<String>,
}

/// Permission to read one record or one subject's export, granted (and already recorded) by the
/// decision point. Only this module can make one.
#[derive(Debug, Clone)]
pub struct Permit {
    target: Target,
    /// When set, only records submitted by these sources may be opened.
    sources: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
enum Target {
    Record(String),
    /// A subject's pseudonym (hex).
    Subject(String),
}

impl Permit {
    pub fn covers_record(&self, id: &str) -> bool {
        matches!(&self.target, Target::Record(r) if r == id)
    }

    pub fn covers_subject(&self, pseudonym: &str) -> bool {
        matches!(&self.target, Target::Subject(s) if s == pseudonym)
    }

    pub fn sources(&self) -> Option<&[String]> {
        self.sources.as_deref()
    }
}

/// The data category a record of this kind belongs to.
pub fn category_of_kind(kind: &str) -> DataCategory {
    let first = kind.split('.').next().unwrap_or("");
    if kind.starts_with("consultation.recording") {
        DataCategory::Recording
    } else if kind.starts_with("consultation.prescription") || first == "prescription" {
        DataCategory::Prescription
    } else if first == "payment" {
        DataCategory::Payment
    } else if first == "identity" {
        DataCategory::Identity
    } else if first == "consultation" {
        DataCategory::ConsultationRecord
    } else {
        DataCategory::HealthProfile
    }
}

/// A stored consent as the rules see it; `None` for a row whose codes this version does not know.
pub(super) fn consent_of(r: &rows::ConsentRow) -> Option<Consent> {
    Some(Consent {
        id: r.id.clone(),
        subject: r.subject_id.clone(),
        granted_by: r.granted_by.clone(),
        by_guardian: r.by_guardian,
        notice_id: r.notice_id.clone(),
        notice_version: u32::try_from(r.notice_version).ok()?,
        purpose: r.purpose.parse().ok()?,
        category: r.category.parse().ok()?,
        recipient: r.recipient.clone(),
        granted_ms: u64::try_from(r.granted_ms).ok()?,
        withdrawn_ms: r.withdrawn_ms.and_then(|m| u64::try_from(m).ok()),
    })
}

impl Identity {
    /// The principal of a signed-in account.
    pub async fn principal(&self, a: &AccountRow) -> Result<Principal> {
        let db = self.db();
        let role: Role = a.role.parse()?;
        let verified_doctor = match role {
            Role::Doctor => rows::doctor(db, &a.id)
                .await?
                .is_some_and(|d| d.status == "verified" && d.expires_ms.is_none_or(|e| e > now_ms() as i64)),
            _ => false,
        };
        Ok(Principal {
            id: a.id.clone(),
            name: a.display_name.clone(),
            role,
            // Only organisations in good standing: a sanctioned organisation's consents stop working.
            orgs: rows::active_memberships(db, &a.id).await?,
            guardian_of: rows::wards(db, &a.id).await?,
            verified_doctor,
            suspended: a.status != "active",
            source: None,
        })
    }

    /// The principal of an integration's API token.
    pub fn token_principal(&self, c: &ApiClient) -> Principal {
        Principal {
            id: format!("token:{}", c.name),
            name: c.name.clone(),
            role: Role::Integration,
            orgs: c.org_id.iter().cloned().collect(),
            guardian_of: vec![],
            verified_doctor: false,
            suspended: false,
            source: Some(c.name.clone()),
        }
    }

    /// The principal for a data subject's own request (PIPL-45) carried out by an operator at
    /// the console (`tianping export subject`): it acts as the subject, and the access log says
    /// it came from the console.
    pub async fn subject_request_principal(&self, subject: &str) -> Result<Principal> {
        let pseudonym = self.vault().subject_id(subject)?;
        Ok(Principal {
            id: self.subject_account(&pseudonym).await?,
            name: "console: subject's request".into(),
            role: Role::Patient,
            orgs: vec![],
            guardian_of: vec![],
            verified_doctor: false,
            suspended: false,
            source: None,
        })
    }

    /// Decide whether `who` may read record `record_id` for `purpose`; the decision is recorded
    /// in the log either way. An integration may always read back what it submitted itself (it
    /// entrusted the data to the platform, PIPL-21).
    pub async fn authorize_record(
        &self,
        who: &Principal,
        record_id: &str,
        purpose: Purpose,
    ) -> Result<Permit> {
        let row = vault_rows::record(self.db(), record_id)
            .await?
            .ok_or(IdentityError::NotFound)?;
        let source = self.vault().source_of(row.log_idx).await?;
        let category = category_of_kind(&row.kind);
        let subject = self.subject_account(&row.subject).await?;
        let under_oversight = category == DataCategory::Identity && self.under_oversight(&subject).await?;
        let decision = self
            .decide(
                who,
                Action::Read,
                &subject,
                category,
                purpose,
                Some(&source),
                under_oversight,
            )
            .await?;
        self.log_decision(
            who,
            Action::Read,
            &subject,
            record_id,
            category,
            purpose,
            &decision,
        )
        .await?;
        if decision.permit {
            Ok(Permit {
                target: Target::Record(record_id.to_owned()),
                sources: None,
            })
        } else {
            Err(IdentityError::Denied(decision.reason))
        }
    }

    /// Decide whether `who` may export everything about vault subject `subject` (right of access,
    /// PIPL-45). Integrations get a permit limited to the records they submitted.
    pub async fn authorize_export(&self, who: &Principal, subject: &str, purpose: Purpose) -> Result<Permit> {
        let pseudonym = self.vault().subject_id(subject)?;
        let subject_account = self.subject_account(&pseudonym).await?;
        // An integration asks for the records it submitted itself; only those open under its permit.
        let sources =
            (who.role == Role::Integration).then(|| who.source.clone().into_iter().collect::<Vec<_>>());
        let decision = self
            .decide(
                who,
                Action::Export,
                &subject_account,
                DataCategory::HealthProfile,
                purpose,
                sources.as_ref().and_then(|s| s.first()).map(String::as_str),
                false,
            )
            .await?;
        self.log_decision(
            who,
            Action::Export,
            &subject_account,
            &format!("subject:{pseudonym}"),
            DataCategory::HealthProfile,
            purpose,
            &decision,
        )
        .await?;
        if decision.permit {
            Ok(Permit {
                target: Target::Subject(pseudonym),
                sources,
            })
        } else {
            Err(IdentityError::Denied(decision.reason))
        }
    }

    /// Is the person a doctor awaiting verification, or under a sanction in force?
    async fn under_oversight(&self, account: &str) -> Result<bool> {
        if rows::doctor(self.db(), account)
            .await?
            .is_some_and(|d| d.status == "pending")
        {
            return Ok(true);
        }
        Ok(rows::under_sanction(self.db(), account).await?)
    }

    /// Decide (and record) whether `who` may see the identity data of the person with account
    /// `subject` in a listing (an application in the verification queue, a sanctioned account on
    /// the blacklist).
    pub async fn authorize_listing(&self, who: &Principal, subject: &str) -> Result<()> {
        let under_oversight = self.under_oversight(subject).await?;
        let category = DataCategory::Identity;
        let purpose = Purpose::Supervision;
        let decision = self
            .decide(
                who,
                Action::List,
                subject,
                category,
                purpose,
                None,
                under_oversight,
            )
            .await?;
        self.log_decision(
            who,
            Action::List,
            subject,
            &format!("account:{subject}"),
            category,
            purpose,
            &decision,
        )
        .await?;
        if decision.permit {
            Ok(())
        } else {
            Err(IdentityError::Denied(decision.reason))
        }
    }

    /// The account a vault subject (pseudonym) belongs to, or `pseudonym:<hex>` when the subject
    /// has no account here (a partner's patient who never signed up).
    async fn subject_account(&self, pseudonym: &str) -> Result<String> {
        Ok(rows::account_by_subject(self.db(), pseudonym)
            .await?
            .map_or_else(|| format!("pseudonym:{pseudonym}"), |a| a.id))
    }

    #[allow(clippy::too_many_arguments)]
    async fn decide(
        &self,
        who: &Principal,
        action: Action,
        subject: &str,
        category: DataCategory,
        purpose: Purpose,
        record_source: Option<&str>,
        under_oversight: bool,
    ) -> Result<policy::Decision> {
        let consents: Vec<Consent> = if subject.starts_with("pseudonym:") {
            vec![]
        } else {
            rows::consents_of(self.db(), subject)
                .await?
                .iter()
                .filter_map(consent_of)
                .collect()
        };
        let actor = Actor {
            account: who.id.clone(),
            role: who.role,
            orgs: who.orgs.clone(),
            guardian_of: who.guardian_of.clone(),
            verified_doctor: who.verified_doctor,
            suspended: who.suspended,
            source: who.source.clone(),
        };
        let resource = Resource {
            subject: subject.to_owned(),
            category,
            source: record_source.map(str::to_owned),
            under_oversight,
        };
        Ok(policy::decide(
            &AccessRequest {
                actor: &actor,
                action,
                resource: &resource,
                purpose,
                at_ms: now_ms(),
            },
            &consents,
        ))
    }

    /// Commit an access decision to the log (and the subject's access log) before answering.
    #[allow(clippy::too_many_arguments)]
    async fn log_decision(
        &self,
        who: &Principal,
        action: Action,
        subject: &str,
        resource: &str,
        category: DataCategory,
        purpose: Purpose,
        d: &policy::Decision,
    ) -> Result<()> {
        let row = AccessEventRow {
            id: new_id(),
            subject_id: subject.to_owned(),
            actor_id: who.id.clone(),
            actor_role: who.role.as_str().to_owned(),
            actor_name: who.name.clone(),
            action: action.as_str().to_owned(),
            resource: resource.to_owned(),
            category: category.as_str().to_owned(),
            purpose: purpose.as_str().to_owned(),
            permit: d.permit,
            reason: d.reason.as_str().to_owned(),
            basis: d.basis.map(|b| b.as_str().to_owned()),
            at_ms: now_ms() as i64,
            log_idx: 0,
        };
        let content = json!({
            "id": row.id,
            "subject": row.subject_id,
            "actor": row.actor_id,
            "role": row.actor_role,
            "action": row.action,
            "resource": row.resource,
            "category": row.category,
            "purpose": row.purpose,
            "permit": row.permit,
            "reason": row.reason,
            "basis": row.basis,
            "consent": d.consent_id,
        });
        self.record(
            "access.decision",
            &who.id,
            &content,
            vec![Effect::Identity(IdentityEffect::Access(row))],
        )
        .await?;
        Ok(())
    }

    /// A subject's access log, newest first.
    pub async fn access_log(&self, subject_account: &str, limit: i64) -> Result<Vec<AccessEventRow>> {
        Ok(rows::access_events_of(self.db(), subject_account, limit).await?)
    }
}
