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

/// Rows of one table, in log order.
struct TableRows {
    name: &'static str,
    columns: usize,
    rows: Vec<Vec<Value>>,
}

/// What the plain insert did.
pub struct PlainRun {
    pub appends: u64,
    pub rows: u64,
    pub elapsed: Duration,
}

/// Copy the rows of log entries `[from, to)` from the SQLite file `source` into a fresh database at
/// `target` (created through the store's migrations), timing only the inserts.
pub async fn run(source: &Path, target: &Path, from: u64, to: u64) -> anyhow::Result<PlainRun> {
    let tables = {
        let source = source.to_owned();
        tokio::task::spawn_blocking(move || read(&source, from, to)).await??
    };
    let db = tianping_store::Db::connect(&format!("sqlite://{}", target.display()))
        .await
        .context("creating the plain-insert database")?;
    db.migrate().await?;
    db.close().await;
    let target = target.to_owned();
    tokio::task::spawn_blocking(move || insert(&target, &tables, to - from)).await?
}

fn read(source: &Path, from: u64, to: u64) -> anyhow::Result<Vec<TableRows>> {
    let conn = rusqlite::Connection::open_with_flags(source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let (from, to) = (i64::try_from(from)?, i64::try_from(to)?);
    TABLES
        .iter()
        .map(|&(name, key)| {
            let mut stmt = conn.prepare(&format!(
                "SELECT * FROM {name} WHERE {key} >= ?1 AND {key} < ?2 ORDER BY {key}"
            ))?;
            let columns = stmt.column_count();
            let rows = stmt
                .query_map([from, to], |row| {
                    (0..columns).map(|i| row.get::<_, Value>(i)).collect()
                })?
                .collect::<Result<Vec<Vec<Value>>, _>>()?;
            anyhow::ensure!(
                rows.len() as i64 == to - from,
                "{name} holds {} rows for {} appends",
                rows.len(),
                to - from
            );
            Ok(TableRows { name, columns, rows })
        })
        .collect()
}

fn insert(target: &Path, tables: &[TableRows], appends: u64) -> anyhow::Result<PlainRun> {
    let conn = rusqlite::Connection::open(target)?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY")?;
    let sql: Vec<String> = tables
        .iter()
        .map(|t| {
            let marks = vec!["?"; t.columns].join(", ");
            format!("INSERT INTO {} VALUES ({marks})", t.name)
        })
        .collect();
    let started = Instant::now();
    let mut rows = 0u64;
    let mut at = 0usize;
    while at < appends as usize {
        let end = (at + BATCH).min(appends as usize);
        let tx = conn.unchecked_transaction()?;
        for (table, sql) in tables.iter().zip(&sql) {
            let mut stmt = tx.prepare_cached(sql)?;
            for row in &table.rows[at..end] {
                stmt.execute(rusqlite::params_from_iter(row.iter()))?;
                rows += 1;
            }
        }
        tx.commit()?;
        at = end;
    }
    Ok(PlainRun {
        appends,
        rows,
        elapsed: started.elapsed(),
    })
}
