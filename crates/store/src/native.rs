//! The log sequencer's own connection to an SQLite file, driven through SQLite's C interface
//! (rusqlite) directly on the sequencer's thread instead of through sqlx.
//!
//! Why: the sequencer is the only writer of the log, so its connection bounds how fast the whole
//! platform can append. Through sqlx every batch was sent as one statement text that changed with
//! the batch's mix (so SQLite parsed thousands of placeholders again for each batch), and every value
//! was converted and copied twice on the way. Here each statement is prepared once and kept, and
//! values are bound straight from the [`Statement`] without a copy (`SQLITE_STATIC`; see
//! `Connection`). The SQL text is the same as everywhere else: `$N` placeholders become SQLite's
//! numbered `?N`. The connection is opened on the `wal_writes` VFS, which writes each commit's
//! write-ahead-log frames in one system call.
//!
//! The statements run on the calling thread: [`NativeWriter::run`] blocks until they are done. Its
//! one user, the log's sequencer, runs on a thread of its own for that reason (see
//! `service/src/log/writer.rs`): handing each batch to another thread and waking the sequencer's
//! task again cost about 90 µs a batch, a fifth of the writer's time (docs/benchmarks.md).
//!
//! Other connections (sqlx's pool) keep reading and writing the same file; SQLite's write-ahead
//! log lets them read while this one writes, and its locks order the writers.

use std::collections::HashMap;
use std::ffi::c_int;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Mutex;

use rusqlite::ffi;

use crate::{Result, Statement, Value};

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

/// The write-ahead log's size, in pages, at which the writer checkpoints it itself. Most pages are
/// copied into the database file before that by passive checkpoints on a thread of their own (see
/// [`crate::WalSync::checkpoint`]); the writer's checkpoint copies the rest, which lets the log
/// restart from its beginning instead of growing. (SQLite's default is 1,000 pages, each
/// checkpoint in the commit that crosses it: with an fsync of the database file in it, that commit
/// held up every append behind it for several milliseconds; docs/benchmarks.md.)
pub(crate) const WAL_BACKSTOP_PAGES: u32 = 4000;

/// Distinct statement texts kept prepared; beyond this many, all are dropped and prepared again as
/// needed. The log's batches use a few dozen.
const PREPARED_STATEMENTS: usize = 128;

/// A connection to an SQLite file whose statements run on the caller's thread. Commits on it are
/// not synced to the disk (`synchronous = NORMAL`): its owner makes them durable with
/// [`crate::WalSync`] before acknowledging anything. Dropping it closes the connection (rolling
/// back any open transaction).
pub struct NativeWriter {
    /// Only ever locked by its owner, one call at a time; the mutex makes the writer shareable
    /// between the owner's await points (a `rusqlite::Connection` is `Send` but not `Sync`).
    conn: Mutex<Connection>,
}

/// The connection and its prepared statements, by text. The statements are SQLite's own
/// (`sqlite3_stmt`) rather than rusqlite's so that values can be bound without SQLite copying
/// them (`SQLITE_STATIC`): a batch's texts and blobs are the records' ciphertexts, and that copy
/// was a sixteenth of the sequencer's time (docs/benchmarks.md). Fields drop in order: the
/// statements are finalized before the connection closes.
struct Connection {
    statements: HashMap<String, Prepared>,
    conn: rusqlite::Connection,
}

/// A prepared statement of the writer's connection, finalized on drop.
struct Prepared(NonNull<ffi::sqlite3_stmt>);

// SAFETY: a statement is used only through its connection's `Connection`, which the writer's
// mutex hands to one thread at a time; SQLite allows that for a connection opened with
// SQLITE_OPEN_NO_MUTEX (multi-thread mode).
unsafe impl Send for Prepared {}

impl Drop for Prepared {
    fn drop(&mut self) {
        // SAFETY: the statement came from sqlite3_prepare_v3 and is finalized once, here.
        unsafe { ffi::sqlite3_finalize(self.0.as_ptr()) };
    }
}

impl std::fmt::Debug for NativeWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeWriter").finish_non_exhaustive()
    }
}

impl NativeWriter {
    /// Open `file` (which must exist, migrated) with the settings of the sequencer's connection.
    pub fn open(file: &Path) -> Result<NativeWriter> {
        // SQLite's automatic checkpoints stay on, at a higher threshold, as the backstop of the
        // passive checkpoints run on a thread of their own: they run inside the commit that crosses
        // it, so they always finish and the write-ahead log is reused from its start instead of
        // growing (passive checkpoints alone rarely caught up with the writer). docs/benchmarks.md.
        // Each commit's write-ahead-log frames go to the operating system in one write
        // (`wal_writes`).
        let vfs = crate::wal_writes::register()
            .map_err(|rc| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rc), None))?;
        let conn = open_unsynced(file, WAL_BACKSTOP_PAGES, Some(vfs))?;
        Ok(NativeWriter {
            conn: Mutex::new(Connection {
                statements: HashMap::new(),
                conn,
            }),
        })
    }

    /// Execute `statements` in order, on this thread (it blocks: call it only from a thread that
    /// may block, as the sequencer's own); returns the rows changed by the last one. Stops at the
    /// first error (what ran before it stays in the open transaction, for the caller to roll back).
    /// `async` so that it fits [`crate::Writer`], whose other kind of connection must be awaited.
    pub async fn run(&self, statements: Vec<Statement>) -> Result<u64> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        Ok(statements.into_iter().try_fold(0, |_, s| conn.execute(s))?)
    }
}

/// A connection to `file` for passive checkpoints (see [`crate::WalSync::checkpoint`]); it never
/// commits, so it never checkpoints on its own.
pub(crate) fn open_checkpointer(file: &Path) -> Result<rusqlite::Connection> {
    open_unsynced(file, 0, None)
}

/// A connection to `file` with `synchronous = NORMAL`: commits are not synced (the owner syncs the
/// write-ahead log itself), checkpoints sync the log before copying from it and the database file
/// after. `autocheckpoint`: the log's size in pages at which a commit checkpoints (0: never).
/// `vfs`: the SQLite VFS to open it with, if not the default.
fn open_unsynced(
    file: &Path,
    autocheckpoint: u32,
    vfs: Option<&std::ffi::CStr>,
) -> Result<rusqlite::Connection> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = match vfs {
        Some(vfs) => rusqlite::Connection::open_with_flags_and_vfs(file, flags, vfs)?,
        None => rusqlite::Connection::open_with_flags(file, flags)?,
    };
    for pragma in PRAGMAS.iter().chain(&["PRAGMA synchronous = NORMAL"]) {
        conn.execute_batch(pragma)?;
    }
    conn.pragma_update(None, "wal_autocheckpoint", autocheckpoint)?;
    Ok(conn)
}

impl Connection {
    /// Run `s`: once, or once per row for a row-at-a-time insert (see [`crate::insert_rows`]);
    /// returns the rows changed.
    fn execute(&mut self, s: Statement) -> rusqlite::Result<u64> {
        let sql = if s.anonymous {
            std::borrow::Cow::Borrowed(&*s.sql)
        } else {
            std::borrow::Cow::Owned(numbered_placeholders(&s.sql))
        };
        let stmt = self.prepared(&sql)?;
        // SAFETY: `db` is this connection's handle, used on this thread only.
        let db = unsafe { self.conn.handle() };
        let width = s.row_width.unwrap_or(s.values.len()).max(1);
        let run = || -> rusqlite::Result<u64> {
            let mut changed = 0;
            if s.values.is_empty() {
                return step(db, stmt);
            }
            for row in s.values.chunks(width) {
                for (i, v) in row.iter().enumerate() {
                    bind(db, stmt, i as c_int + 1, v)?;
                }
                changed += step(db, stmt)?;
            }
            Ok(changed)
        };
        let result = run();
        // The values are about to be dropped: no binding may outlive them.
        // SAFETY: `stmt` is a live statement of this connection.
        unsafe { ffi::sqlite3_clear_bindings(stmt) };
        result
    }

    /// The prepared statement of `sql`, prepared now if it is not yet.
    fn prepared(&mut self, sql: &str) -> rusqlite::Result<*mut ffi::sqlite3_stmt> {
        if let Some(p) = self.statements.get(sql) {
            return Ok(p.0.as_ptr());
        }
        if self.statements.len() >= PREPARED_STATEMENTS {
            self.statements.clear();
        }
        // SAFETY: `db` is this connection's handle; `sql` is valid for its length; SQLite writes
        // the statement and the tail pointer.
        let stmt = unsafe {
            let db = self.conn.handle();
            let mut stmt = std::ptr::null_mut();
            let mut tail = std::ptr::null();
            let len = c_int::try_from(sql.len()).map_err(|_| rusqlite::Error::InvalidQuery)?;
            let rc = ffi::sqlite3_prepare_v3(
                db,
                sql.as_ptr().cast(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT as _,
                &mut stmt,
                &mut tail,
            );
            if rc != ffi::SQLITE_OK {
                return Err(error(db, rc));
            }
            let Some(stmt) = NonNull::new(stmt) else {
                return Err(rusqlite::Error::InvalidQuery);
            };
            let prepared = Prepared(stmt);
            let used = (tail as usize).saturating_sub(sql.as_ptr() as usize);
            if !sql[used.min(sql.len())..].trim().is_empty() {
                return Err(rusqlite::Error::MultipleStatement);
            }
            prepared
        };
        let ptr = stmt.0.as_ptr();
        self.statements.insert(sql.to_owned(), stmt);
        Ok(ptr)
    }
}

/// Bind `v` to parameter `at` of `stmt` without a copy: the value outlives every step of the
/// statement, and its bindings are cleared before the value is dropped (`Connection::execute`).
fn bind(db: *mut ffi::sqlite3, stmt: *mut ffi::sqlite3_stmt, at: c_int, v: &Value) -> rusqlite::Result<()> {
    // SAFETY: `stmt` is a live statement of `db`; text and blob pointers are valid for their
    // lengths until the bindings are cleared.
    let rc = unsafe {
        match v {
            Value::Int(Some(n)) => ffi::sqlite3_bind_int64(stmt, at, *n),
            Value::Text(Some(t)) => ffi::sqlite3_bind_text64(
                stmt,
                at,
                t.as_ptr().cast(),
                t.len() as ffi::sqlite3_uint64,
                ffi::SQLITE_STATIC(),
                ffi::SQLITE_UTF8 as _,
            ),
            // An empty blob is bound as one (a null pointer would bind NULL).
            Value::Blob(Some(b)) if b.is_empty() => ffi::sqlite3_bind_zeroblob(stmt, at, 0),
            Value::Blob(Some(b)) => ffi::sqlite3_bind_blob64(
                stmt,
                at,
                b.as_ptr().cast(),
                b.len() as ffi::sqlite3_uint64,
                ffi::SQLITE_STATIC(),
            ),
            Value::Int(None) | Value::Text(None) | Value::Blob(None) => ffi::sqlite3_bind_null(stmt, at),
        }
    };
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(error(db, rc))
    }
}

/// Step `stmt` to completion and reset it; returns the rows it changed.
fn step(db: *mut ffi::sqlite3, stmt: *mut ffi::sqlite3_stmt) -> rusqlite::Result<u64> {
    // SAFETY: `stmt` is a live statement of `db`, whose bound values are alive.
    unsafe {
        let rc = ffi::sqlite3_step(stmt);
        let result = match rc {
            ffi::SQLITE_DONE => Ok(ffi::sqlite3_changes64(db) as u64),
            ffi::SQLITE_ROW => Err(rusqlite::Error::ExecuteReturnedResults),
            _ => Err(error(db, rc)),
        };
        ffi::sqlite3_reset(stmt);
        result
    }
}

/// The connection's error for result code `rc`, with SQLite's message.
fn error(db: *mut ffi::sqlite3, rc: c_int) -> rusqlite::Error {
    // SAFETY: `db` is a live connection; its message is copied before the next call.
    let message = unsafe {
        let m = ffi::sqlite3_errmsg(db);
        (!m.is_null()).then(|| std::ffi::CStr::from_ptr(m).to_string_lossy().into_owned())
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(rc), message)
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
