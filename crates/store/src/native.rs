//! The log sequencer's own connection to an SQLite file, driven through SQLite's C interface
//! (rusqlite) on a thread of its own instead of through sqlx.
//!
//! Why: the sequencer is the only writer of the log, so its connection bounds how fast the whole
//! platform can append. Through sqlx every batch was sent as one statement text that changed with
//! the batch's mix (so SQLite parsed thousands of placeholders again for each batch), and every value
//! was converted and copied twice on the way. Here each statement is prepared once and kept
//! (`prepare_cached`), values are bound straight from the [`Statement`], and a whole batch still
//! costs one hand-over between threads. The SQL text is the same as everywhere else: `$N`
//! placeholders become SQLite's numbered `?N`.
//!
//! Other connections (sqlx's pool) keep reading and writing the same file; SQLite's write-ahead
//! log lets them read while this one writes, and its locks order the writers.

use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;

use rusqlite::types::Null;
use tokio::sync::oneshot;

use crate::{Result, Statement, StoreError, Value};

/// Settings of every SQLite connection (sqlx's pool applies the same list, plus the page size and
/// journal mode that belong to the file).
pub(crate) const PRAGMAS: [&str; 4] = [
    "PRAGMA busy_timeout = 10000",
    "PRAGMA foreign_keys = ON",
    "PRAGMA cache_size = -4000",
    // Statement journals (multi-row inserts into indexed tables) stay in memory
    // instead of a temporary file created and deleted for every batch.
    "PRAGMA temp_store = MEMORY",
];

/// Distinct statement texts kept prepared. The log's batches use a few dozen (the multi-row inserts
/// come in power-of-two sizes).
const PREPARED_STATEMENTS: usize = 128;

/// Statements to execute in order, and where to send the rows changed by the last one.
struct Run {
    statements: Vec<Statement>,
    reply: oneshot::Sender<Result<u64>>,
}

/// A connection to an SQLite file owned by a thread of its own. Commits on it are not synced to
/// the disk (`synchronous = NORMAL`): its owner makes them durable with [`crate::WalSync`] before
/// acknowledging anything. Dropping it closes the connection (rolling back any open transaction)
/// and waits for the thread to end.
#[derive(Debug)]
pub struct NativeWriter {
    commands: Option<std_mpsc::Sender<Run>>,
    thread: Option<JoinHandle<()>>,
}

impl NativeWriter {
    /// Open `file` (which must exist, migrated) with the settings of the sequencer's connection.
    pub fn open(file: &Path) -> Result<NativeWriter> {
        // SQLite's automatic checkpoints stay on: they run inside the commit that crosses the
        // threshold, so they always finish and the write-ahead log is reused from its start instead
        // of growing. (Passive checkpoints on a thread of their own were measured: they rarely
        // caught up with the writer, the log grew by hundreds of MiB, and appends were no faster.)
        let conn = rusqlite::Connection::open_with_flags(
            file,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        for pragma in PRAGMAS.iter().chain(&["PRAGMA synchronous = NORMAL"]) {
            conn.execute_batch(pragma)?;
        }
        conn.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
        let (commands, queue) = std_mpsc::channel::<Run>();
        let thread = std::thread::Builder::new()
            .name("tianping-sqlite-writer".into())
            .spawn(move || serve(conn, queue))
            .map_err(|e| StoreError::Corrupt(format!("cannot start the SQLite writer thread: {e}")))?;
        Ok(NativeWriter {
            commands: Some(commands),
            thread: Some(thread),
        })
    }

    /// Execute `statements` in order; returns the rows changed by the last one. Stops at the
    /// first error (what ran before it stays in the open transaction, for the caller to roll back).
    pub async fn run(&self, statements: Vec<Statement>) -> Result<u64> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .as_ref()
            .expect("present until dropped")
            .send(Run { statements, reply })
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }
}

impl Drop for NativeWriter {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has finished the batch in hand (if any).
        drop(self.commands.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(conn: rusqlite::Connection, queue: std_mpsc::Receiver<Run>) {
    while let Ok(Run { statements, reply }) = queue.recv() {
        let outcome = statements
            .into_iter()
            .try_fold(0, |_, s| execute(&conn, s))
            .map_err(StoreError::from);
        let _ = reply.send(outcome);
    }
}

fn execute(conn: &rusqlite::Connection, s: Statement) -> rusqlite::Result<u64> {
    let mut stmt = if s.anonymous {
        conn.prepare_cached(&s.sql)?
    } else {
        conn.prepare_cached(&numbered_placeholders(&s.sql))?
    };
    for (i, v) in s.values.iter().enumerate() {
        let at = i + 1;
        match v {
            Value::Int(Some(n)) => stmt.raw_bind_parameter(at, n)?,
            Value::Text(Some(t)) => stmt.raw_bind_parameter(at, t.as_str())?,
            Value::Blob(Some(b)) => stmt.raw_bind_parameter(at, b.as_slice())?,
            Value::Int(None) | Value::Text(None) | Value::Blob(None) => stmt.raw_bind_parameter(at, Null)?,
        }
    }
    Ok(stmt.raw_execute()? as u64)
}

/// `sql` with PostgreSQL-style `$N` placeholders written as SQLite's `?N`, which bind to index N
/// whatever their order in the text (`$N` is a *named* parameter to SQLite, numbered in order of
/// first appearance).
fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_placeholders_become_numbered() {
        assert_eq!(
            numbered_placeholders("UPDATE t SET a = $2 WHERE id = $10 AND b = $2"),
            "UPDATE t SET a = ?2 WHERE id = ?10 AND b = ?2"
        );
        assert_eq!(numbered_placeholders("SELECT '$x', $1"), "SELECT '$x', ?1");
    }

    fn temp_db() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.db");
        let c = rusqlite::Connection::open(&file).unwrap();
        c.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (a INTEGER, b TEXT, c BLOB)")
            .unwrap();
        (dir, file)
    }

    #[tokio::test]
    async fn statements_run_in_order_and_report_the_rows_changed_by_the_last() {
        let (_dir, file) = temp_db();
        let w = NativeWriter::open(&file).unwrap();
        let changed = w
            .run(vec![
                Statement::new("BEGIN IMMEDIATE"),
                Statement::new("INSERT INTO t (a, b, c) VALUES ($1, $2, $3)")
                    .bind(1i64)
                    .bind("x")
                    .bind(vec![1u8, 2]),
                Statement::new("INSERT INTO t (a, b, c) VALUES ($1, $2, $3)")
                    .bind(2i64)
                    .bind(None::<String>)
                    .bind(None::<Vec<u8>>),
                // Out of order in the text: bound by number, not by position.
                Statement::new("UPDATE t SET b = $2 WHERE a >= $1")
                    .bind(1i64)
                    .bind("y"),
            ])
            .await
            .unwrap();
        assert_eq!(changed, 2);
        // Not committed yet: another connection sees nothing.
        let reader = rusqlite::Connection::open(&file).unwrap();
        let count = |r: &rusqlite::Connection| -> i64 {
            r.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap()
        };
        assert_eq!(count(&reader), 0);
        w.run(vec![Statement::new("COMMIT")]).await.unwrap();
        assert_eq!(count(&reader), 2);
        let (b, c): (String, Option<Vec<u8>>) = reader
            .query_row("SELECT b, c FROM t WHERE a = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((b.as_str(), c), ("y", Some(vec![1, 2])));
    }

    #[tokio::test]
    async fn an_error_stops_the_run_and_dropping_the_writer_rolls_back() {
        let (_dir, file) = temp_db();
        let w = NativeWriter::open(&file).unwrap();
        let err = w
            .run(vec![
                Statement::new("BEGIN IMMEDIATE"),
                Statement::new("INSERT INTO t (a) VALUES ($1)").bind(1i64),
                Statement::new("INSERT INTO missing (a) VALUES ($1)").bind(2i64),
                Statement::new("COMMIT"),
            ])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        drop(w);
        let reader = rusqlite::Connection::open(&file).unwrap();
        let n: i64 = reader
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            n, 0,
            "the open transaction was rolled back when the writer closed"
        );
    }
}
