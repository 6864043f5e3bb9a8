//! Legal holds, consultation closing, the retention job, erasure requests and explicit shredding.
//! Every one of them is a log entry whose effects commit in the same transaction, and all of them
//! run one at a time (the vault's lifecycle lock), so a decision and its effect see the same holds.
//! The store re-checks holds inside the shredding transaction as well.

use serde::Serialize;
use serde_json::json;
use tianping_store::vault::{self as rows, Effect, HoldRow, RecordRow};
use tianping_vault::retention::{self, ErasureOutcome, HoldScope, PurgeDecision, StartBasis};

use super::{Result, Vault, VaultError, facts, new_id, validate_ref};
use crate::log::now_ms;

/// What a hold covers, as a caller names it (subjects by their own reference).
pub enum HoldRequest<'a> {
    Subject(&'a str),
    Consultation(&'a str),
    Case(&'a str),
}

/// What to shred explicitly.
pub enum ShredScope<'a> {
    Record(&'a str),
    Subject(&'a str),
}

/// What a retention run did (or, with `dry_run`, would do).
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct RetentionReport {
    pub dry_run: bool,
    /// Records past their deadline that were examined.
    pub expired: u64,
    pub shredded: u64,
    /// Expired but kept because a legal hold covers them.
    pub held: u64,
    pub subject_keys_destroyed: u64,
    pub blobs_deleted: u64,
    pub stale_uploads_removed: u64,
}

/// Records shredded per tombstone entry at most.
const SHRED_BATCH: usize = 256;

impl Vault {
    /// Place a legal hold. Returns the hold id.
    pub async fn place_hold(&self, scope: HoldRequest<'_>, reason: &str, actor: &str) -> Result<String> {
        let reason = reason.trim();
        if reason.is_empty() || reason.len() > 1000 {
            return Err(VaultError::BadRequest(
                "a hold needs a reason of 1 to 1000 bytes".into(),
            ));
        }
        let scope = match scope {
            HoldRequest::Subject(s) => HoldScope::Subject(self.subject_id(s)?),
            HoldRequest::Consultation(c) => HoldScope::Consultation(validate_ref(c)?.to_owned()),
            HoldRequest::Case(c) => HoldScope::Case(validate_ref(c)?.to_owned()),
        };
        let _guard = self.inner.lifecycle.lock().await;
        let id = new_id();
        let now = now_ms() as i64;
        let content = json!({
            "hold": id, "scope": scope.kind(), "target": scope.target(), "reason": reason, "by": actor,
        });
        let row = HoldRow {
            id: id.clone(),
            scope: scope.kind().into(),
            target: scope.target().into(),
            reason: reason.into(),
            placed_by: actor.into(),
            placed_ms: now,
            placed_idx: 0,
            released_by: None,
            released_ms: None,
            released_idx: None,
        };
        self.event(
            "vault.hold_placed",
            &super::source_name(actor),
            &content,
            vec![Effect::PlaceHold(row)],
        )
        .await?;
        Ok(id)
    }

    /// Release a legal hold.
    pub async fn release_hold(&self, id: &str, actor: &str) -> Result<()> {
        let _guard = self.inner.lifecycle.lock().await;
        let hold = rows::hold(&self.inner.db, id)
            .await?
            .ok_or(VaultError::NotFound)?;
        if hold.released_ms.is_some() {
            return Err(VaultError::Conflict(format!("hold {id} is already released")));
        }
        let content = json!({ "hold": id, "by": actor });
        let effect = Effect::ReleaseHold {
            id: id.into(),
            by: actor.into(),
            ms: now_ms() as i64,
        };
        self.event(
            "vault.hold_released",
            &super::source_name(actor),
            &content,
            vec![effect],
        )
        .await?;
        Ok(())
    }

    pub async fn holds(&self) -> Result<Vec<HoldRow>> {
        Ok(rows::active_holds(&self.inner.db).await?)
    }

    /// The effect that gives a consultation's records their deadlines, counted from its end.
    pub(crate) fn close_effect(&self, id: &str, ended: i64) -> Effect {
        let deadlines: Vec<(String, i64)> = self
            .inner
            .settings
            .retention
            .iter()
            .filter(|(_, c)| c.start == StartBasis::ConsultationEnd && c.years > 0)
            .map(|(name, c)| (name.clone(), retention::add_years_ms(ended, c.years)))
            .collect();
        Effect::CloseConsultation {
            id: id.into(),
            ended_ms: ended,
            deadlines,
        }
    }

    /// A consultation ended: its chat, recordings and records now have their deadlines.
    pub async fn close_consultation(&self, id: &str, ended_ms: u64, actor: &str) -> Result<()> {
        validate_ref(id)?;
        let ended =
            i64::try_from(ended_ms).map_err(|_| VaultError::BadRequest("time out of range".into()))?;
        let _guard = self.inner.lifecycle.lock().await;
        if rows::consultation_end(&self.inner.db, id).await?.is_some() {
            return Err(VaultError::Conflict(format!(
                "consultation {id} is already closed"
            )));
        }
        let effect = self.close_effect(id, ended);
        let Effect::CloseConsultation { deadlines, .. } = &effect else {
            unreachable!("close_effect makes a CloseConsultation")
        };
        let content = json!({ "consultation": id, "ended_ms": ended, "deadlines": deadlines });
        self.event(
            "vault.consultation_closed",
            &super::source_name(actor),
            &content,
            vec![effect],
        )
        .await?;
        Ok(())
    }

    /// The purge job: crypto-shred every record past its deadline that no hold covers, with a
    /// tombstone entry citing the legal basis; destroy subject keys no live record needs; delete
    /// blobs; remove abandoned uploads.
    pub async fn run_retention(&self, now_ms: i64, dry_run: bool, actor: &str) -> Result<RetentionReport> {
        let _guard = self.inner.lifecycle.lock().await;
        let holds = self.active_hold_scopes().await?;
        let mut report = RetentionReport {
            dry_run,
            ..Default::default()
        };
        let mut after = -1i64;
        loop {
            let page = rows::expired_records(&self.inner.db, now_ms, after, SHRED_BATCH as i64).await?;
            let Some(last) = page.last() else { break };
            after = last.log_idx as i64;
            report.expired += page.len() as u64;
            let mut doomed = Vec::new();
            for r in page {
                match retention::purge_decision(&facts(&r), &holds, now_ms) {
                    PurgeDecision::Shred => doomed.push(r),
                    PurgeDecision::Keep(retention::KeepReason::Held) => report.held += 1,
                    PurgeDecision::Keep(_) => {}
                }
            }
            if doomed.is_empty() {
                continue;
            }
            if dry_run {
                report.shredded += doomed.len() as u64;
                continue;
            }
            let done = self.shred_rows(doomed, "retention_expired", None, actor).await?;
            report.shredded += done.records;
            report.subject_keys_destroyed += done.keys;
            report.blobs_deleted += done.blobs;
        }
        report.stale_uploads_removed = self.remove_stale_uploads(now_ms, dry_run).await? as u64;
        Ok(report)
    }

    /// A deletion request or consent withdrawal (PIPL-47): records whose retention still runs, or
    /// that a hold covers, become storage-only; the others are shredded.
    pub async fn request_erasure(&self, subject: &str, reason: &str, actor: &str) -> Result<ErasureReport> {
        let subject_id = self.subject_id(subject)?;
        let _guard = self.inner.lifecycle.lock().await;
        let holds = self.active_hold_scopes().await?;
        let now = now_ms() as i64;
        let mut storage_only = Vec::new();
        let mut doomed = Vec::new();
        for r in rows::records_of_subject(&self.inner.db, &subject_id).await? {
            match retention::erasure_outcome(&facts(&r), &holds, now) {
                ErasureOutcome::StorageOnly => storage_only.push(r.id),
                ErasureOutcome::Shred => doomed.push(r),
                ErasureOutcome::Unchanged => {}
            }
        }
        let content = json!({
            "subject": subject_id, "reason": reason, "basis": ["PIPL-47"], "by": actor,
            "storage_only": storage_only, "to_shred": doomed.iter().map(|r| &r.id).collect::<Vec<_>>(),
        });
        let n_storage = storage_only.len() as u64;
        self.event(
            "vault.erasure_requested",
            &super::source_name(actor),
            &content,
            vec![Effect::StorageOnly {
                records: storage_only,
            }],
        )
        .await?;
        let done = self
            .shred_rows(doomed, "erasure_requested", Some(reason), actor)
            .await?;
        Ok(ErasureReport {
            storage_only: n_storage,
            shredded: done.records,
        })
    }

    /// Shred one record or every record of a subject now. Refused for anything a hold covers;
    /// records whose retention still runs are refused unless `override_retention` (a court order
    /// or another basis, named in `basis`).
    pub async fn shred(
        &self,
        scope: ShredScope<'_>,
        basis: &str,
        override_retention: bool,
        actor: &str,
    ) -> Result<u64> {
        if basis.trim().is_empty() {
            return Err(VaultError::BadRequest("shredding needs a legal basis".into()));
        }
        let _guard = self.inner.lifecycle.lock().await;
        let targets = match scope {
            ShredScope::Record(id) => vec![
                rows::record(&self.inner.db, id)
                    .await?
                    .ok_or(VaultError::NotFound)?,
            ],
            ShredScope::Subject(s) => rows::records_of_subject(&self.inner.db, &self.subject_id(s)?).await?,
        };
        let holds = self.active_hold_scopes().await?;
        let now = now_ms() as i64;
        let mut doomed = Vec::new();
        for r in targets {
            match retention::purge_decision(&facts(&r), &holds, now) {
                PurgeDecision::Shred => doomed.push(r),
                PurgeDecision::Keep(retention::KeepReason::Held) => return Err(VaultError::Held),
                PurgeDecision::Keep(retention::KeepReason::RetentionRuns(until)) if !override_retention => {
                    return Err(VaultError::Conflict(format!(
                        "record {} must be kept until {} ({}); shredding it needs an overriding basis",
                        r.id,
                        until.map_or("its consultation ends and its period runs out".into(), |t| t
                            .to_string()),
                        r.retention_class
                    )));
                }
                PurgeDecision::Keep(retention::KeepReason::RetentionRuns(_)) => doomed.push(r),
                PurgeDecision::Keep(retention::KeepReason::AlreadyShredded) => {}
            }
        }
        Ok(self
            .shred_rows(doomed, "shred_ordered", Some(basis), actor)
            .await?
            .records)
    }

    /// Shred rows in batches: one tombstone entry per batch, whose effect destroys the records'
    /// keys and ciphertexts (and the subject keys no longer needed); then delete their blobs.
    async fn shred_rows(
        &self,
        doomed: Vec<RecordRow>,
        reason: &str,
        basis_text: Option<&str>,
        actor: &str,
    ) -> Result<Shredded> {
        let mut done = Shredded::default();
        for batch in doomed.chunks(SHRED_BATCH) {
            let ids: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
            let mut key_ids: Vec<String> = batch.iter().filter_map(|r| r.subject_key_id.clone()).collect();
            key_ids.sort();
            key_ids.dedup();
            let mut subject_keys = Vec::new();
            for k in key_ids {
                if !rows::key_in_use(&self.inner.db, &k, &ids).await? {
                    subject_keys.push(k);
                }
            }
            let records: Vec<_> = batch
                .iter()
                .map(|r| {
                    let basis = self
                        .inner
                        .settings
                        .retention
                        .get(&r.retention_class)
                        .map(|c| c.basis.clone())
                        .unwrap_or_default();
                    json!({
                        "record": r.id, "log_index": r.log_idx, "subject": r.subject,
                        "retention_class": r.retention_class, "retain_until_ms": r.retain_until_ms,
                        "basis": basis,
                    })
                })
                .collect();
            let content = json!({
                "reason": reason, "basis_text": basis_text, "by": actor, "records": records,
                "subject_keys_destroyed": subject_keys,
            });
            let effect = Effect::Shred {
                records: ids.clone(),
                subject_keys: subject_keys.clone(),
                ms: now_ms() as i64,
            };
            self.event(
                "vault.tombstone",
                &super::source_name(actor),
                &content,
                vec![effect],
            )
            .await?;
            for k in &subject_keys {
                self.inner.keys.forget_key(k);
            }
            done.records += batch.len() as u64;
            done.keys += subject_keys.len() as u64;
            for r in batch.iter().filter(|r| r.blob_chunks.is_some()) {
                match self.inner.blobs.delete_record(&r.id).await {
                    Ok(_) => done.blobs += 1,
                    // The key is gone, so the chunks are unreadable already; a later run may
                    // delete them.
                    Err(e) => tracing::warn!(record = %r.id, error = %e, "could not delete a shredded blob"),
                }
            }
        }
        Ok(done)
    }
}

#[derive(Default)]
struct Shredded {
    records: u64,
    keys: u64,
    blobs: u64,
}

/// What an erasure request did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErasureReport {
    pub storage_only: u64,
    pub shredded: u64,
}
