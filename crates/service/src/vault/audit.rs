//! `tianping vault audit`: decrypt every stored record and blob (any changed byte fails
//! authentication), recompute each commitment and compare it with the record's log entry, and
//! check that every log entry has its record and shredded records hold no key material.

use serde::Serialize;
use tianping_log::envelope::{Envelope, commitment};
use tianping_store::log as log_rows;
use tianping_store::vault as rows;

use super::{Result, Vault, VaultError};

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct VaultAuditReport {
    pub records: u64,
    pub blobs: u64,
    pub shredded: u64,
    /// Every problem found (at most 100 listed), each naming the record and log index.
    pub findings: Vec<String>,
    pub findings_total: u64,
}

const PAGE: i64 = 512;
const MAX_LISTED: usize = 100;

impl VaultAuditReport {
    fn find(&mut self, s: String) {
        self.findings_total += 1;
        if self.findings.len() < MAX_LISTED {
            self.findings.push(s);
        }
    }
}

/// Audit every record of the vault.
pub async fn audit(vault: &Vault) -> Result<VaultAuditReport> {
    let db = &vault.inner.db;
    let alg = vault.inner.alg;
    let mut report = VaultAuditReport::default();
    let size = vault.inner.log.head().size;
    let mut next = 0u64;
    while next < size {
        let page = rows::records_from(db, next, PAGE).await?;
        let to = page.last().map_or(size, |r| r.log_idx + 1).min(size);
        let entries = log_rows::entries(db, next, to).await?;
        let mut entries = entries.into_iter().peekable();
        let mut expected = next;
        for row in page {
            if row.log_idx >= size {
                report.find(format!(
                    "record {} points beyond the log (index {})",
                    row.id, row.log_idx
                ));
                continue;
            }
            while expected < row.log_idx {
                report.find(format!("log entry {expected} has no record"));
                expected += 1;
            }
            expected = row.log_idx + 1;
            let entry = loop {
                match entries.peek() {
                    Some(e) if e.idx < row.log_idx => {
                        entries.next();
                    }
                    Some(e) if e.idx == row.log_idx => break entries.next(),
                    _ => break None,
                }
            };
            let Some(entry) = entry else {
                report.find(format!("record {}: log entry {} is missing", row.id, row.log_idx));
                continue;
            };
            let envelope = match Envelope::decode(&entry.envelope) {
                Ok(e) => e,
                Err(e) => {
                    report.find(format!("log entry {}: {e}", row.log_idx));
                    continue;
                }
            };
            if hex::encode(envelope.subject_pseudonym) != row.subject || envelope.kind.as_str() != row.kind {
                report.find(format!(
                    "record {} (entry {}): subject or kind differs from its log entry",
                    row.id, row.log_idx
                ));
            }
            if row.state == "shredded" {
                report.shredded += 1;
                if row.wrapped_key.is_some() || row.ciphertext.is_some() {
                    report.find(format!(
                        "record {} is marked shredded but still holds key material",
                        row.id
                    ));
                }
                continue;
            }
            report.records += 1;
            let (id, idx, is_blob) = (row.id.clone(), row.log_idx, row.blob_chunks.is_some());
            let computed = match vault.open_row(row).await {
                Ok(opened) if is_blob => {
                    report.blobs += 1;
                    vault.for_each_chunk(&opened, |_| Ok(())).await
                }
                Ok(opened) => Ok(commitment(
                    alg,
                    &opened.salt,
                    opened.content.as_deref().map_or(&[][..], |c| c.as_slice()),
                )),
                Err(e) => Err(e),
            };
            match computed {
                Ok(c) if c == envelope.commitment => {}
                Ok(_) => report.find(format!(
                    "record {id} (entry {idx}): content does not match the log's commitment"
                )),
                Err(VaultError::Storage(e)) => return Err(VaultError::Storage(e)),
                Err(e) => report.find(format!("record {id} (entry {idx}): {e}")),
            }
        }
        while expected < to {
            report.find(format!("log entry {expected} has no record"));
            expected += 1;
        }
        next = to;
    }
    Ok(report)
}
