//! Rows of the vault: subject keys, records, legal holds, closed consultations, uploads, and the
//! [`Effect`]s the log's sequencer applies in the same transaction as the entry that records them.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Db, Result, Script, Statement, Value, Writer, insert_rows, log::to_i64};

/// SQL for "the record belongs to subject `$s`" (an SQL expression) through the merged subject index
/// (records before the mark) and a scan of the tail by log index (records since): see migration 0006.
macro_rules! of_subject {
    ($s:literal) => {
        concat!(
            "log_idx IN (SELECT log_idx FROM vault_subject_index WHERE subject = ",
            $s,
            " UNION ALL SELECT log_idx FROM vault_records WHERE subject = ",
            $s,
            " AND log_idx >= (SELECT upto FROM vault_subject_merged))"
        )
    };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectKeyRow {
    pub id: String,
    /// Subject pseudonym, hex.
    pub subject: String,
    pub kek_id: String,
    /// `None` once shredded.
    pub wrapped: Option<Vec<u8>>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    pub id: String,
    pub log_idx: u64,
    pub subject: String,
    pub kind: String,
    pub media_type: String,
    pub consultation: Option<String>,
    pub case_id: Option<String>,
    pub retention_class: String,
    pub event_ms: i64,
    pub retain_until_ms: Option<i64>,
    pub state: String,
    pub subject_key_id: Option<String>,
    pub wrapped_key: Option<Vec<u8>>,
    pub ciphertext: Option<Vec<u8>>,
    /// Data chunks of a blob record (the final marker chunk not counted); `None` for inline records.
    pub blob_chunks: Option<i64>,
    pub size: i64,
    pub created_ms: i64,
    pub shredded_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRow {
    pub id: String,
    pub scope: String,
    pub target: String,
    pub reason: String,
    pub placed_by: String,
    pub placed_ms: i64,
    pub placed_idx: u64,
    pub released_by: Option<String>,
    pub released_ms: Option<i64>,
    pub released_idx: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    pub id: String,
    pub subject: String,
    pub source: String,
    pub kind: String,
    pub media_type: String,
    pub consultation: Option<String>,
    pub retention_class: String,
    pub event_ms: i64,
    pub subject_key_id: String,
    pub wrapped_key: Vec<u8>,
    pub sealed_salt: Vec<u8>,
    pub received: i64,
    pub chunks: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A change of vault state, committed in the same transaction as the log entry that records it.
/// `log_idx` / `placed_idx` / … fields are filled in by [`apply`] from the entry's index.
#[derive(Debug, Clone)]
pub enum Effect {
    /// A new record, with its subject's key when that key is not yet known to be stored, and the
    /// upload it completes.
    Record {
        record: Box<RecordRow>,
        new_key: Option<SubjectKeyRow>,
        upload: Option<String>,
    },
    PlaceHold(HoldRow),
    ReleaseHold {
        id: String,
        by: String,
        ms: i64,
    },
    /// A consultation ended: set the deadlines of its records, per retention class.
    CloseConsultation {
        id: String,
        ended_ms: i64,
        deadlines: Vec<(String, i64)>,
    },
    /// Crypto-shred records (destroy their content keys and ciphertexts), and the subject keys
    /// listed when no live record uses them any more. Records under an active hold are skipped.
    Shred {
        records: Vec<String>,
        subject_keys: Vec<String>,
        ms: i64,
    },
    /// Move records to storage-only (PIPL-47).
    StorageOnly {
        records: Vec<String>,
    },
    /// Identity, consent and access decisions (see [`crate::identity`]).
    Identity(crate::identity::IdentityEffect),
    /// Online care: consultations, events, findings, alerts, ratings (see [`crate::care`]).
    Care(crate::care::CareEffect),
}

/// What [`apply`] changed beyond the obvious: the subject keys it destroyed and the records it
/// actually shredded (holds can make it skip some).
#[derive(Debug, Default)]
pub struct Applied {
    pub destroyed_keys: Vec<String>,
    pub shredded_records: Vec<String>,
}

const RECORD_COLUMNS: &str = "id, log_idx, subject, kind, media_type, consultation, case_id, retention_class, \
     event_ms, retain_until_ms, state, subject_key_id, wrapped_key, ciphertext, blob_chunks, \
     size, created_ms, shredded_ms";

/// Apply effects (each with the index of its log entry) inside the batch's transaction: most
/// become statements of `script` (executed at its next flush, by the caller or here before a
/// statement whose result is needed).
pub async fn apply(w: &mut Writer<'_>, script: &mut Script, effects: Vec<(u64, Effect)>) -> Result<Applied> {
    let mut applied = Applied::default();
    let mut records = Vec::new();
    let mut keys = Vec::new();
    let mut uploads = Vec::new();
    let mut care_events = Vec::new();
    let mut others = Vec::new();
    for (idx, e) in effects {
        match e {
            Effect::Record {
                mut record,
                new_key,
                upload,
            } => {
                record.log_idx = idx;
                records.push(*record);
                keys.extend(new_key);
                uploads.extend(upload);
            }
            Effect::Care(crate::care::CareEffect::Event(row)) => care_events.push((idx, row)),
            other => others.push((idx, other)),
        }
    }
    // The same new key may ride on several records of a batch (or have been stored by an
    // earlier batch): storing it is idempotent.
    keys.sort_by(|a, b| a.id.cmp(&b.id));
    keys.dedup_by(|a, b| a.id == b.id);
    for k in &keys {
        script.add(insert_subject_key(k));
    }
    insert_records(script, records)?;
    crate::care::insert_events(script, care_events)?;
    for id in uploads {
        script.add(Statement::new("DELETE FROM vault_uploads WHERE id = $1").bind(id));
    }
    for (idx, e) in others {
        apply_one(w, script, idx, e, &mut applied).await?;
    }
    Ok(applied)
}

fn insert_subject_key(k: &SubjectKeyRow) -> Statement {
    Statement::new(
        "INSERT INTO vault_subject_keys (id, subject, kek_id, wrapped, created_ms) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(k.id.clone())
    .bind(k.subject.clone())
    .bind(k.kek_id.clone())
    .bind(k.wrapped.clone())
    .bind(k.created_ms)
}

/// Store a subject key on its own (uploads need it before their record commits).
pub async fn store_subject_key(db: &Db, k: &SubjectKeyRow) -> Result<()> {
    insert_subject_key(k).execute(db.pool()).await?;
    Ok(())
}

async fn apply_one(
    w: &mut Writer<'_>,
    script: &mut Script,
    idx: u64,
    e: Effect,
    applied: &mut Applied,
) -> Result<()> {
    match e {
        Effect::Record { .. } => unreachable!("records are inserted in bulk"),
        Effect::PlaceHold(h) => script.add(
            Statement::new(
                "INSERT INTO vault_holds (id, scope, target, reason, placed_by, placed_ms, placed_idx) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(h.id)
            .bind(h.scope)
            .bind(h.target)
            .bind(h.reason)
            .bind(h.placed_by)
            .bind(h.placed_ms)
            .bind(to_i64(idx)?),
        ),
        Effect::ReleaseHold { id, by, ms } => script.add(
            Statement::new(
                "UPDATE vault_holds SET released_by = $1, released_ms = $2, released_idx = $3 \
                 WHERE id = $4 AND released_ms IS NULL",
            )
            .bind(by)
            .bind(ms)
            .bind(to_i64(idx)?)
            .bind(id),
        ),
        Effect::CloseConsultation {
            id,
            ended_ms,
            deadlines,
        } => {
            script.add(
                Statement::new(
                    "INSERT INTO vault_consultations (id, ended_ms, closed_idx) VALUES ($1, $2, $3)",
                )
                .bind(&id)
                .bind(ended_ms)
                .bind(to_i64(idx)?),
            );
            for (class, until) in deadlines {
                script.add(
                    Statement::new(
                        "UPDATE vault_records SET retain_until_ms = $1 \
                         WHERE consultation = $2 AND retention_class = $3 AND retain_until_ms IS NULL",
                    )
                    .bind(until)
                    .bind(&id)
                    .bind(class),
                );
            }
        }
        Effect::Shred {
            records,
            subject_keys,
            ms,
        } => {
            // What is shredded depends on the rows: run what came before first.
            script.flush(w.reborrow()).await?;
            for id in records {
                // The hold check is repeated here, inside the transaction, so a hold placed after
                // the purge job decided still wins.
                let done = w.execute(Statement::new(
                    "UPDATE vault_records SET state = 'shredded', wrapped_key = NULL, ciphertext = NULL, \
                     shredded_ms = $1 WHERE id = $2 AND state <> 'shredded' AND NOT EXISTS ( \
                       SELECT 1 FROM vault_holds h WHERE h.released_ms IS NULL AND ( \
                         (h.scope = 'subject' AND h.target = vault_records.subject) OR \
                         (h.scope = 'consultation' AND h.target = vault_records.consultation) OR \
                         (h.scope = 'case' AND h.target = vault_records.case_id)))",
                )
                .bind(ms)
                .bind(&id))
                .await?;
                if done == 1 {
                    applied.shredded_records.push(id);
                }
            }
            for key in subject_keys {
                let done = w
                    .execute(
                        Statement::new(concat!(
                            "UPDATE vault_subject_keys SET wrapped = NULL, shredded_ms = $1 \
                     WHERE id = $2 AND shredded_ms IS NULL AND NOT EXISTS ( \
                       SELECT 1 FROM vault_records WHERE subject_key_id = $2 AND state <> 'shredded' AND ",
                            of_subject!("vault_subject_keys.subject"),
                            ") AND NOT EXISTS (SELECT 1 FROM vault_uploads u WHERE u.subject_key_id = $2)"
                        ))
                        .bind(ms)
                        .bind(&key),
                    )
                    .await?;
                if done == 1 {
                    applied.destroyed_keys.push(key);
                }
            }
        }
        Effect::Identity(e) => crate::identity::apply(script, idx, e)?,
        Effect::Care(e) => crate::care::apply(w, script, idx, e).await?,
        Effect::StorageOnly { records } => {
            for id in records {
                script.add(
                    Statement::new(
                        "UPDATE vault_records SET state = 'storage_only' WHERE id = $1 AND state = 'active'",
                    )
                    .bind(id),
                );
            }
        }
    }
    Ok(())
}

fn insert_records(script: &mut Script, rows: Vec<RecordRow>) -> Result<()> {
    let mut values: Vec<Value> = Vec::with_capacity(rows.len() * 18);
    for r in rows {
        values.extend([
            r.id.into(),
            to_i64(r.log_idx)?.into(),
            r.subject.into(),
            r.kind.into(),
            r.media_type.into(),
            r.consultation.into(),
            r.case_id.into(),
            r.retention_class.into(),
            r.event_ms.into(),
            r.retain_until_ms.into(),
            r.state.into(),
            r.subject_key_id.into(),
            r.wrapped_key.into(),
            r.ciphertext.into(),
            r.blob_chunks.into(),
            r.size.into(),
            r.created_ms.into(),
            r.shredded_ms.into(),
        ]);
    }
    insert_rows(
        script,
        "vault_records (id, log_idx, subject, kind, media_type, consultation, case_id, retention_class, \
         event_ms, retain_until_ms, state, subject_key_id, wrapped_key, ciphertext, blob_chunks, \
         size, created_ms, shredded_ms)",
        18,
        values,
    );
    Ok(())
}

fn record_row(r: &AnyRow) -> Result<RecordRow> {
    Ok(RecordRow {
        id: r.try_get(0)?,
        log_idx: crate::log::get_u64(r, 1)?,
        subject: r.try_get(2)?,
        kind: r.try_get(3)?,
        media_type: r.try_get(4)?,
        consultation: r.try_get(5)?,
        case_id: r.try_get(6)?,
        retention_class: r.try_get(7)?,
        event_ms: r.try_get(8)?,
        retain_until_ms: r.try_get(9)?,
        state: r.try_get(10)?,
        subject_key_id: r.try_get(11)?,
        wrapped_key: r.try_get(12)?,
        ciphertext: r.try_get(13)?,
        blob_chunks: r.try_get(14)?,
        size: r.try_get(15)?,
        created_ms: r.try_get(16)?,
        shredded_ms: r.try_get(17)?,
    })
}

async fn select_records(db: &Db, filter: &'static str, bind: &[Bind<'_>]) -> Result<Vec<RecordRow>> {
    let sql = format!("SELECT {RECORD_COLUMNS} FROM vault_records WHERE {filter}");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in bind {
        q = match b {
            Bind::Text(t) => q.bind(t.to_string()),
            Bind::Int(i) => q.bind(*i),
        };
    }
    q.fetch_all(db.pool()).await?.iter().map(record_row).collect()
}

enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}

pub async fn record(db: &Db, id: &str) -> Result<Option<RecordRow>> {
    Ok(select_records(db, "id = $1", &[Bind::Text(id)]).await?.pop())
}

pub async fn record_by_index(db: &Db, idx: u64) -> Result<Option<RecordRow>> {
    Ok(select_records(db, "log_idx = $1", &[Bind::Int(to_i64(idx)?)])
        .await?
        .pop())
}

/// Every record of a subject, in log order.
pub async fn records_of_subject(db: &Db, subject: &str) -> Result<Vec<RecordRow>> {
    select_records(
        db,
        concat!(of_subject!("$1"), " ORDER BY log_idx"),
        &[Bind::Text(subject)],
    )
    .await
}

/// Merge into the subject index the records of every log entry committed since the last merge
/// and before `to` (one insert in index order, which writes each index page it touches once), and
/// move the mark to `to`. Part of a batch's transaction; a no-op when the mark is already there.
pub fn merge_subjects(script: &mut Script, to: u64) -> Result<()> {
    let to = to_i64(to)?;
    script.add(
        Statement::new(
            "INSERT INTO vault_subject_index (subject, log_idx) \
             SELECT subject, log_idx FROM vault_records \
             WHERE log_idx >= (SELECT upto FROM vault_subject_merged) AND log_idx < $1 \
             ORDER BY subject, log_idx",
        )
        .bind(to),
    );
    advance_merged(script, to);
    Ok(())
}

/// Move the merge mark to `to`, never back.
fn advance_merged(script: &mut Script, to: i64) {
    script.add(
        Statement::new("UPDATE vault_subject_merged SET upto = $1 WHERE upto < $2")
            .bind(to)
            .bind(to),
    );
}

/// [`merge_subjects`] from subjects the caller kept instead of read back from `vault_records`:
/// `rows` must be the `(subject, log index)` of every record committed since the last merge and
/// before `to` (the log's sequencer keeps them as it commits; reading them back meant reading a few
/// thousand whole records, ciphertext and all, in the middle of a batch).
pub fn merge_subject_rows(script: &mut Script, mut rows: Vec<(String, u64)>, to: u64) -> Result<()> {
    // In index order, so that each index page is written once. Sorted where they are: a merge
    // takes thousands of rows, and a copy of them cost more than inserting them (page faults).
    rows.sort_unstable();
    let mut values = Vec::with_capacity(rows.len() * 2);
    for (subject, idx) in rows {
        values.extend([subject.into(), to_i64(idx)?.into()]);
    }
    insert_rows(script, "vault_subject_index (subject, log_idx)", 2, values);
    advance_merged(script, to_i64(to)?);
    Ok(())
}

/// The first log index whose record may not be in the subject index yet.
pub async fn subjects_merged_upto(db: &Db) -> Result<u64> {
    let upto: i64 = sqlx::query_scalar("SELECT upto FROM vault_subject_merged")
        .fetch_one(db.pool())
        .await?;
    Ok(upto as u64)
}

/// Records with log index ≥ `from`, in log order, at most `limit`.
pub async fn records_from(db: &Db, from: u64, limit: i64) -> Result<Vec<RecordRow>> {
    select_records(
        db,
        "log_idx >= $1 ORDER BY log_idx LIMIT $2",
        &[Bind::Int(to_i64(from)?), Bind::Int(limit)],
    )
    .await
}

/// Records whose deadline has passed (`retain_until_ms <= now`) and that are not shredded, in log
/// order after index `after`, at most `limit`.
pub async fn expired_records(db: &Db, now_ms: i64, after: i64, limit: i64) -> Result<Vec<RecordRow>> {
    select_records(
        db,
        "retain_until_ms <= $1 AND state <> 'shredded' AND log_idx > $2 ORDER BY log_idx LIMIT $3",
        &[Bind::Int(now_ms), Bind::Int(after), Bind::Int(limit)],
    )
    .await
}

/// Does any record not yet shredded still use this subject key?
pub async fn key_in_use(db: &Db, key_id: &str, except: &[String]) -> Result<bool> {
    let rows = sqlx::query(concat!(
        "SELECT id FROM vault_records WHERE subject_key_id = $1 AND state <> 'shredded' AND ",
        of_subject!("(SELECT subject FROM vault_subject_keys WHERE id = $1)")
    ))
    .bind(key_id)
    .fetch_all(db.pool())
    .await?;
    for r in rows {
        let id: String = r.try_get(0)?;
        if !except.contains(&id) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn key_row(r: &AnyRow) -> Result<SubjectKeyRow> {
    Ok(SubjectKeyRow {
        id: r.try_get(0)?,
        subject: r.try_get(1)?,
        kek_id: r.try_get(2)?,
        wrapped: r.try_get(3)?,
        created_ms: r.try_get(4)?,
    })
}

/// The live (not shredded) key of a subject.
pub async fn live_subject_key(db: &Db, subject: &str) -> Result<Option<SubjectKeyRow>> {
    sqlx::query(
        "SELECT id, subject, kek_id, wrapped, created_ms FROM vault_subject_keys \
         WHERE subject = $1 AND shredded_ms IS NULL",
    )
    .bind(subject)
    .fetch_optional(db.pool())
    .await?
    .as_ref()
    .map(key_row)
    .transpose()
}

pub async fn subject_key(db: &Db, id: &str) -> Result<Option<SubjectKeyRow>> {
    sqlx::query("SELECT id, subject, kek_id, wrapped, created_ms FROM vault_subject_keys WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(key_row)
        .transpose()
}

/// Does the vault hold any wrapped subject key (live or not)?
pub async fn any_subject_key(db: &Db) -> Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM vault_subject_keys LIMIT 1")
        .fetch_optional(db.pool())
        .await?
        .is_some())
}

/// Live subject keys wrapped by another key-encryption key than `kek_id`, at most `limit`.
pub async fn keys_not_wrapped_by(db: &Db, kek_id: &str, limit: i64) -> Result<Vec<SubjectKeyRow>> {
    sqlx::query(
        "SELECT id, subject, kek_id, wrapped, created_ms FROM vault_subject_keys \
         WHERE kek_id <> $1 AND shredded_ms IS NULL ORDER BY id LIMIT $2",
    )
    .bind(kek_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(key_row)
    .collect()
}

/// Replace the wrapping of subject keys (key rotation), in one transaction. A key is only
/// updated if it is still wrapped by the key-encryption key it was read with.
pub async fn rewrap_keys(db: &Db, rows: &[(SubjectKeyRow, String, Vec<u8>)]) -> Result<u64> {
    let mut tx = db.begin().await?;
    let mut n = 0;
    for (old, kek_id, wrapped) in rows {
        n += sqlx::query(
            "UPDATE vault_subject_keys SET kek_id = $1, wrapped = $2 \
             WHERE id = $3 AND kek_id = $4 AND shredded_ms IS NULL",
        )
        .bind(kek_id)
        .bind(wrapped.clone())
        .bind(&old.id)
        .bind(&old.kek_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    Ok(n)
}

fn hold_row(r: &AnyRow) -> Result<HoldRow> {
    let released_idx: Option<i64> = r.try_get(9)?;
    Ok(HoldRow {
        id: r.try_get(0)?,
        scope: r.try_get(1)?,
        target: r.try_get(2)?,
        reason: r.try_get(3)?,
        placed_by: r.try_get(4)?,
        placed_ms: r.try_get(5)?,
        placed_idx: crate::log::get_u64(r, 6)?,
        released_by: r.try_get(7)?,
        released_ms: r.try_get(8)?,
        released_idx: released_idx.map(|i| i as u64),
    })
}

const HOLD_COLUMNS: &str =
    "id, scope, target, reason, placed_by, placed_ms, placed_idx, released_by, released_ms, released_idx";

pub async fn active_holds(db: &Db) -> Result<Vec<HoldRow>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {HOLD_COLUMNS} FROM vault_holds WHERE released_ms IS NULL ORDER BY placed_idx"
    )))
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(hold_row)
    .collect()
}

pub async fn hold(db: &Db, id: &str) -> Result<Option<HoldRow>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {HOLD_COLUMNS} FROM vault_holds WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .as_ref()
    .map(hold_row)
    .transpose()
}

/// When the consultation ended, if it is closed.
pub async fn consultation_end(db: &Db, id: &str) -> Result<Option<i64>> {
    Ok(
        sqlx::query("SELECT ended_ms FROM vault_consultations WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?
            .map(|r| r.try_get(0))
            .transpose()?,
    )
}

const UPLOAD_COLUMNS: &str = "id, subject, source, kind, media_type, consultation, retention_class, event_ms, \
     subject_key_id, wrapped_key, sealed_salt, received, chunks, created_ms, updated_ms";

pub async fn insert_upload(db: &Db, u: &UploadRow) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO vault_uploads ({UPLOAD_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    )))
    .bind(&u.id)
    .bind(&u.subject)
    .bind(&u.source)
    .bind(&u.kind)
    .bind(&u.media_type)
    .bind(u.consultation.clone())
    .bind(&u.retention_class)
    .bind(u.event_ms)
    .bind(&u.subject_key_id)
    .bind(u.wrapped_key.clone())
    .bind(u.sealed_salt.clone())
    .bind(u.received)
    .bind(u.chunks)
    .bind(u.created_ms)
    .bind(u.updated_ms)
    .execute(db.pool())
    .await?;
    Ok(())
}

fn upload_row(r: &AnyRow) -> Result<UploadRow> {
    Ok(UploadRow {
        id: r.try_get(0)?,
        subject: r.try_get(1)?,
        source: r.try_get(2)?,
        kind: r.try_get(3)?,
        media_type: r.try_get(4)?,
        consultation: r.try_get(5)?,
        retention_class: r.try_get(6)?,
        event_ms: r.try_get(7)?,
        subject_key_id: r.try_get(8)?,
        wrapped_key: r.try_get(9)?,
        sealed_salt: r.try_get(10)?,
        received: r.try_get(11)?,
        chunks: r.try_get(12)?,
        created_ms: r.try_get(13)?,
        updated_ms: r.try_get(14)?,
    })
}

pub async fn upload(db: &Db, id: &str) -> Result<Option<UploadRow>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {UPLOAD_COLUMNS} FROM vault_uploads WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .as_ref()
    .map(upload_row)
    .transpose()
}

/// Record upload progress, only if nobody else moved it since `from_received` was read.
pub async fn advance_upload(
    db: &Db,
    id: &str,
    from_received: i64,
    received: i64,
    chunks: i64,
    now_ms: i64,
) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE vault_uploads SET received = $1, chunks = $2, updated_ms = $3 WHERE id = $4 AND received = $5",
    )
    .bind(received)
    .bind(chunks)
    .bind(now_ms)
    .bind(id)
    .bind(from_received)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Uploads not touched since `before_ms`.
pub async fn stale_uploads(db: &Db, before_ms: i64) -> Result<Vec<UploadRow>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {UPLOAD_COLUMNS} FROM vault_uploads WHERE updated_ms < $1 ORDER BY id"
    )))
    .bind(before_ms)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(upload_row)
    .collect()
}

pub async fn delete_upload(db: &Db, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM vault_uploads WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}
