//! Supervision of the people on the platform: an operator verifies doctors (licence, institution,
//! specialty, years of independent practice, IDM-25) and suspends or blacklists doctors,
//! organisations and people. Every decision is a log entry; a takedown ends the target's sessions
//! and refuses its new activity at once; a blacklisted person cannot register again.

use serde_json::json;
use tianping_identity::role::Role;
use tianping_store::identity::{self as rows, DoctorRow, IdentityEffect, SanctionRow};
use tianping_store::vault::Effect;

use super::access::Principal;
use super::{Identity, IdentityError, Result, new_id};
use crate::log::now_ms;

/// A verification decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Verify,
    Reject,
}

/// Suspension (temporary) or blacklisting (the person may not come back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Suspend,
    Blacklist,
}

impl Measure {
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Suspend => "suspend",
            Measure::Blacklist => "blacklist",
        }
    }

    pub fn parse(s: &str) -> Option<Measure> {
        match s {
            "suspend" => Some(Measure::Suspend),
            "blacklist" => Some(Measure::Blacklist),
            _ => None,
        }
    }
}

fn require_operator(who: &Principal) -> Result<()> {
    if who.role == Role::Operator && !who.suspended {
        Ok(())
    } else {
        Err(IdentityError::Forbidden("only an operator may do this".into()))
    }
}

fn check_reason(reason: &str) -> Result<&str> {
    let r = reason.trim();
    if r.is_empty() || r.chars().count() > 500 {
        return Err(IdentityError::BadRequest(
            "a reason of 1 to 500 characters is required".into(),
        ));
    }
    Ok(r)
}

/// Kind of the records holding a doctor's verification evidence (licence, certificates).
pub const EVIDENCE_KIND: &str = "identity.licence_evidence";

/// Media types accepted as evidence: documents and photos, nothing a browser would run.
pub const EVIDENCE_TYPES: [&str; 3] = ["application/pdf", "image/png", "image/jpeg"];

/// Largest evidence file, in bytes.
pub const EVIDENCE_MAX_BYTES: usize = 8 * 1024 * 1024;

/// A piece of evidence, as the verification queue lists it (metadata only; the content is read
/// through the decision point).
#[derive(Debug, Clone)]
pub struct EvidenceItem {
    pub record_id: String,
    pub media_type: String,
    pub size: i64,
    pub submitted_ms: i64,
}

impl Identity {
    /// A doctor adds a document to their pending application: a vault record (encrypted, in the
    /// log) filed under the doctor's own subject.
    pub async fn add_evidence(&self, doctor: &Principal, media_type: &str, bytes: &[u8]) -> Result<String> {
        if doctor.role != Role::Doctor || doctor.suspended {
            return Err(IdentityError::Forbidden(
                "only a doctor adds verification evidence".into(),
            ));
        }
        let application = rows::doctor(self.db(), &doctor.id)
            .await?
            .ok_or(IdentityError::NotFound)?;
        if application.status != "pending" {
            return Err(IdentityError::BadRequest(
                "the application was already decided".into(),
            ));
        }
        if !EVIDENCE_TYPES.contains(&media_type) {
            return Err(IdentityError::BadRequest(
                "evidence is a PDF, PNG or JPEG file".into(),
            ));
        }
        if bytes.is_empty() || bytes.len() > EVIDENCE_MAX_BYTES {
            return Err(IdentityError::BadRequest("evidence is 1 byte to 8 MiB".into()));
        }
        let receipt = self
            .vault()
            .write(crate::vault::NewRecord {
                kind: EVIDENCE_KIND,
                subject: &doctor.id,
                source: "web",
                occurred_ms: None,
                content: crate::vault::Content::Bytes { media_type, bytes },
                retention_class: None,
                consultation: None,
            })
            .await?;
        Ok(receipt.record_id)
    }

    /// The evidence a doctor submitted, oldest first.
    pub async fn evidence_of(&self, doctor: &str) -> Result<Vec<EvidenceItem>> {
        let subject = self.vault().subject_id(doctor)?;
        Ok(tianping_store::vault::records_of_subject(self.db(), &subject)
            .await?
            .into_iter()
            .filter(|r| r.kind == EVIDENCE_KIND && r.state == "active")
            .map(|r| EvidenceItem {
                record_id: r.id,
                media_type: r.media_type,
                size: r.size,
                submitted_ms: r.event_ms,
            })
            .collect())
    }

    /// Doctors waiting for verification, oldest first, as `who` may see them: each application
    /// shown is an access to the doctor's identity data, decided and recorded by the decision point
    /// (an operator's `oversight_duty`); applications the decision refuses are left out.
    pub async fn verification_queue(&self, who: &Principal) -> Result<Vec<DoctorRow>> {
        require_operator(who)?;
        let mut shown = Vec::new();
        for d in rows::doctors_with_status(self.db(), "pending").await? {
            match self.authorize_listing(who, &d.account_id).await {
                Ok(()) => shown.push(d),
                Err(IdentityError::Denied(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(shown)
    }

    pub async fn doctor(&self, account: &str) -> Result<Option<DoctorRow>> {
        Ok(rows::doctor(self.db(), account).await?)
    }

    /// An operator's decision on a doctor; verification holds for the configured period.
    pub async fn decide_doctor(
        &self,
        who: &Principal,
        doctor: &str,
        verdict: Verdict,
        note: &str,
    ) -> Result<()> {
        require_operator(who)?;
        let d = rows::doctor(self.db(), doctor)
            .await?
            .ok_or(IdentityError::NotFound)?;
        if d.status != "pending" {
            return Err(IdentityError::BadRequest(
                "this application was already decided".into(),
            ));
        }
        let note = note.trim();
        if note.chars().count() > 500 {
            return Err(IdentityError::BadRequest(
                "a note is at most 500 characters".into(),
            ));
        }
        if verdict == Verdict::Reject && note.is_empty() {
            return Err(IdentityError::BadRequest("a rejection needs a reason".into()));
        }
        let ms = now_ms() as i64;
        let (status, expires_ms) = match verdict {
            Verdict::Verify => (
                "verified",
                Some(ms + (self.settings().verification_days * 86_400_000) as i64),
            ),
            Verdict::Reject => ("rejected", None),
        };
        let content = json!({
            "doctor": doctor, "status": status, "licence": d.licence_no, "institution": d.institution_id,
            "specialty": d.specialty, "practice_years": d.practice_years, "evidence": d.evidence,
            "note": note, "by": who.id, "expires_ms": expires_ms,
        });
        self.record(
            "identity.doctor_verification",
            &who.id,
            &content,
            vec![Effect::Identity(IdentityEffect::DoctorDecision {
                account_id: doctor.to_owned(),
                status: status.to_owned(),
                note: (!note.is_empty()).then(|| note.to_owned()),
                by: who.id.clone(),
                ms,
                expires_ms,
            })],
        )
        .await?;
        Ok(())
    }

    /// Suspend or blacklist an account or an organisation. For accounts, the person's identifiers
    /// (ID hash, licence number, phone hash) are kept with the sanction so that a blacklisted
    /// person cannot register again under a new account.
    pub async fn sanction(
        &self,
        who: &Principal,
        target_kind: &str,
        target: &str,
        measure: Measure,
        reason: &str,
    ) -> Result<SanctionRow> {
        require_operator(who)?;
        let reason = check_reason(reason)?;
        let mut row = SanctionRow {
            id: new_id(),
            target_kind: target_kind.to_owned(),
            target: target.to_owned(),
            measure: measure.as_str().to_owned(),
            reason: reason.to_owned(),
            id_hash: None,
            licence_no: None,
            phone_hash: None,
            decided_by: who.id.clone(),
            decided_ms: now_ms() as i64,
            lifted_ms: None,
        };
        match target_kind {
            "account" => {
                let a = self.account(target).await?;
                if a.id == who.id {
                    return Err(IdentityError::BadRequest(
                        "an operator cannot sanction themselves".into(),
                    ));
                }
                row.id_hash = a.id_hash;
                row.phone_hash = a.phone_hash;
                row.licence_no = rows::doctor(self.db(), target).await?.map(|d| d.licence_no);
            }
            "organisation" => {
                rows::org(self.db(), target)
                    .await?
                    .ok_or(IdentityError::NotFound)?;
            }
            _ => {
                return Err(IdentityError::BadRequest(
                    "target_kind is account or organisation".into(),
                ));
            }
        }
        let content = json!({
            "sanction": row.id, "target_kind": row.target_kind, "target": row.target,
            "measure": row.measure, "reason": row.reason, "by": who.id,
        });
        self.record(
            "identity.sanction",
            &who.id,
            &content,
            vec![Effect::Identity(IdentityEffect::Sanction(row.clone()))],
        )
        .await?;
        Ok(row)
    }

    /// Lift a sanction.
    pub async fn lift_sanction(&self, who: &Principal, id: &str) -> Result<()> {
        require_operator(who)?;
        let active = rows::sanctions(self.db(), true).await?;
        if !active.iter().any(|s| s.id == id) {
            return Err(IdentityError::NotFound);
        }
        let content = json!({ "sanction": id, "lifted_by": who.id });
        self.record(
            "identity.sanction_lifted",
            &who.id,
            &content,
            vec![Effect::Identity(IdentityEffect::LiftSanction {
                id: id.to_owned(),
                by: who.id.clone(),
                ms: now_ms() as i64,
            })],
        )
        .await?;
        Ok(())
    }

    pub async fn sanctions(&self, active_only: bool) -> Result<Vec<SanctionRow>> {
        Ok(rows::sanctions(self.db(), active_only).await?)
    }
}
