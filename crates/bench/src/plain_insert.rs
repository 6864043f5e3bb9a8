//! The yardstick of `tianping-bench log`: the rows an append stores, inserted the plainest way SQLite
//! allows, so that the append rate can be stated as a fraction of what the database itself does.
//!
//! What is inserted: exactly the rows the timed appends wrote, read back from the benchmark's
//! database — each append's `log_entries` row and its `vault_records` row (the encrypted content).
//! Where: a fresh database file with the same schema and indexes (the migrations), in WAL mode with
//! `synchronous = FULL`, so every commit is durable as an acknowledged append is. How: one
//! connection, statements prepared once, one transaction per 1,000 appends' rows. What it leaves
//! out is what makes an append an append: hashing, encryption, the tree's tiles, the signed
//! checkpoint, and 64 concurrent callers each waiting for its own acknowledgement.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use rusqlite::types::Value;

/// Appends' rows per transaction.
pub const BATCH: usize = 1000;

/// The tables an append writes one row to, each with the column holding the entry's log index.
const TABLES: [(&str, &str); 2] = [("log_entries", "idx"), ("vault_records", "log_idx")];

/// What the plain insert did.
pub struct PlainRun {
    pub appends: u64,
    pub rows: u64,
    pub elapsed: Duration,
}

/// Copy the rows of log entries `[from, to)` from the SQLite file `source` into a fresh database at
/// `target` (created through the store's migrations), then remove that database. Rows are read one
/// transaction's worth at a time, so memory stays small; only the inserts and commits are timed.
pub async fn run(source: &Path, target: &Path, from: u64, to: u64) -> anyhow::Result<PlainRun> {
    let db = tianping_store::Db::connect(&format!("sqlite://{}", target.display()))
        .await
        .context("creating the plain-insert database")?;
    db.migrate().await?;
    db.close().await;
    let (source, copied_to) = (source.to_owned(), target.to_owned());
    let run = tokio::task::spawn_blocking(move || copy(&source, &copied_to, from, to)).await?;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = target.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
    run
}

fn copy(source: &Path, target: &Path, from: u64, to: u64) -> anyhow::Result<PlainRun> {
    let source = rusqlite::Connection::open_with_flags(source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let target = rusqlite::Connection::open(target)?;
    target
        .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY")?;
    let mut run = PlainRun {
        appends: to - from,
        rows: 0,
        elapsed: Duration::ZERO,
    };
    // Per table: the query reading one transaction's rows from the source, and the insert.
    let mut statements = Vec::with_capacity(TABLES.len());
    for (name, key) in TABLES {
        let select = format!("SELECT * FROM {name} WHERE {key} >= ?1 AND {key} < ?2 ORDER BY {key}");
        let columns = source.prepare_cached(&select)?.column_count();
        let insert = format!("INSERT INTO {name} VALUES ({})", vec!["?"; columns].join(", "));
        statements.push((name, select, columns, insert));
    }
    let mut at = from;
    while at < to {
        let end = (at + BATCH as u64).min(to);
        let mut batch = Vec::with_capacity(statements.len());
        for (name, select, columns, insert) in &statements {
            let rows = source
                .prepare_cached(select)?
                .query_map([i64::try_from(at)?, i64::try_from(end)?], |row| {
                    (0..*columns).map(|i| row.get::<_, Value>(i)).collect()
                })?
                .collect::<Result<Vec<Vec<Value>>, _>>()?;
            anyhow::ensure!(
                rows.len() as u64 == end - at,
                "{name} holds {} rows for the {} appends from {at}",
                rows.len(),
                end - at
            );
            batch.push((insert, rows));
        }
        let started = Instant::now();
        let tx = target.unchecked_transaction()?;
        for (sql, rows) in &batch {
            let mut stmt = tx.prepare_cached(sql)?;
            for row in rows {
                stmt.execute(rusqlite::params_from_iter(row.iter()))?;
                run.rows += 1;
            }
        }
        tx.commit()?;
        run.elapsed += started.elapsed();
        at = end;
    }
    Ok(run)
}
