//! Storage for SQLite and PostgreSQL through sqlx's `Any` driver: one SQL text with `$N`
//! placeholders for both backends, one migrations folder per backend with the same versions.
//!
//! This crate speaks in rows of primitive values (integers, bytes, text). It knows nothing of
//! Merkle trees or signatures; the service crate gives the rows their meaning.
//!
//! Architecture invariant: every write that belongs together is one transaction, and the functions
//! here that take a [`Tx`] or a connection, or add to a [`Script`], never commit it themselves.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

pub mod care;
pub mod identity;
pub mod log;
pub mod native;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tokens;
pub mod vault;
mod wal_writes;

pub use log::{CheckpointRow, EntryRow, LogParams, NewContent, NewEntry, TileRow};
pub use native::NativeWriter;
pub use sqlx::{AnyConnection, Connection};
pub use tokens::TokenRow;

pub type Tx<'c> = sqlx::Transaction<'c, sqlx::Any>;

/// A pooled connection held for a while: the sequencer's writer connection on PostgreSQL.
pub type Conn = sqlx::pool::PoolConnection<sqlx::Any>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Native(#[from] rusqlite::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL (expected sqlite: or postgres:)")]
    UnsupportedUrl,
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("file error: {0}")]
    Io(std::io::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database is behind the pool. Chosen once from the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A connection pool plus the backend it talks to.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// The SQLite database file (None for PostgreSQL and in-memory databases).
    file: Option<PathBuf>,
}

impl Db {
    /// Connect to `url`. SQLite databases are created when missing and run in WAL mode with
    /// `synchronous=FULL`, so that a committed transaction has reached the disk (fsync) — except on
    /// the log sequencer's connection of [`Db::writer_connection`].
    pub async fn connect(url: &str) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let file = match backend {
            Backend::Sqlite => {
                let sqlite = sqlx::sqlite::SqliteConnectOptions::from_str(&url)?;
                let name = sqlite.get_filename();
                (!url.contains(":memory:") && !name.as_os_str().is_empty()).then(|| name.to_owned())
            }
            Backend::Postgres => None,
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool_options = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(30));
        let pool_options = match backend {
            Backend::Sqlite => pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    let file = [
                        // 4 KiB pages: every commit rewrites each page it touches in the write-ahead log, and
                        // with 16 KiB pages the vault's scattered index pages made that write volume
                        // 1.7 times slower in measurements (docs/benchmarks.md).
                        "PRAGMA page_size = 4096",
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = FULL",
                    ];
                    for pragma in file.iter().chain(&native::PRAGMAS) {
                        sqlx::query(*pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            }),
            Backend::Postgres => pool_options,
        };
        let pool = pool_options.connect_with(options).await?;
        Ok(Db { pool, backend, file })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Is the log's writer connection a [`NativeWriter`] (an SQLite file), whose statements block
    /// the thread that runs them?
    pub fn native_writer(&self) -> bool {
        self.file.is_some()
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Apply the embedded migrations of this backend (forward only).
    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&self.pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&self.pool).await?,
        }
        Ok(())
    }

    pub async fn begin(&self) -> Result<Tx<'static>> {
        Ok(self.pool.begin().await?)
    }

    /// The connection of the log's single writer, and what makes its commits durable when they are
    /// not durable by themselves.
    ///
    /// For an SQLite file: a [`NativeWriter`] that commits without waiting for the disk, and the
    /// [`WalSync`] that makes its commits durable afterwards: group commit with the fsync taken off
    /// the writer's path. In WAL mode with `synchronous = NORMAL`, a commit appends its frames to
    /// the write-ahead log without an fsync, while checkpoints still sync the log before copying it
    /// into the database and the database after. Every commit that returned before
    /// [`WalSync::sync`] starts is durable once it returns; the caller acknowledges nothing before
    /// that.
    ///
    /// For PostgreSQL: a connection that commits with `synchronous_commit = off` (its commits
    /// return without waiting for the server's WAL flush), and the [`ServerSync`] that makes them
    /// durable afterwards, the same pipeline with the server's flush in place of the fsync.
    ///
    /// For in-memory SQLite: a connection of the pool, and nothing to make durable.
    pub async fn writer_connection(&self) -> Result<(WriterConn, Option<Durability>)> {
        let Some(file) = &self.file else {
            if self.backend == Backend::Sqlite {
                // In memory: nothing to make durable.
                let mut conn = self.pool.acquire().await?;
                conn.close_on_drop();
                return Ok((WriterConn::Sqlx(conn), None));
            }
            // The syncer's connection first: it must be older than every commit it will make
            // durable (see [`ServerSync`]).
            let sync = ServerSync::open(self).await?;
            let mut conn = self.pool.acquire().await?;
            // The sequencer lets it go only after a failure (state unknown) or at shutdown: it is
            // closed then, never returned to the pool with this setting.
            conn.close_on_drop();
            sqlx::query(
                "SELECT set_config('synchronous_commit', 'off', false), set_config('application_name', $1, false)",
            )
            .bind(WRITER_APPLICATION_NAME)
            .execute(&mut *conn)
            .await?;
            return Ok((WriterConn::Sqlx(conn), Some(Durability::Server(sync))));
        };
        let writer = {
            let file = file.clone();
            tokio::task::spawn_blocking(move || NativeWriter::open(&file))
                .await
                .map_err(|e| StoreError::Corrupt(format!("opening the writer connection failed: {e}")))??
        };
        let mut wal = file.clone().into_os_string();
        wal.push("-wal");
        Ok((
            WriterConn::Native(writer),
            Some(Durability::Wal(WalSync {
                path: wal.into(),
                file: Mutex::new(None),
                db: file.clone(),
                checkpointer: Mutex::default(),
            })),
        ))
    }

    /// Make every transaction committed so far on this database durable, whichever connection
    /// committed it: on PostgreSQL a synchronous commit of its own on a pooled connection (see
    /// [`ServerSync`]); on SQLite nothing, since the pool's connections commit with
    /// `synchronous = FULL` and the log's writer has its [`WalSync`].
    pub async fn sync_committed(&self) -> Result<()> {
        if self.backend == Backend::Postgres {
            let mut conn = self.pool.acquire().await?;
            ServerSync::run(&mut conn).await?;
        }
        Ok(())
    }

    /// Cheap liveness query for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Table name → sorted column names of the application schema, for the parity test and
    /// for operators comparing deployments.
    pub async fn schema(&self) -> Result<Vec<(String, Vec<String>)>> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%' \
                 ORDER BY m.name, p.name"
            }
            Backend::Postgres => {
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name NOT LIKE '_sqlx%' \
                 ORDER BY table_name, column_name"
            }
        };
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for row in rows {
            let table: String = row.try_get(0)?;
            let column: String = row.try_get(1)?;
            match out.last_mut() {
                Some((t, cols)) if *t == table => cols.push(column),
                _ => out.push((table, vec![column])),
            }
        }
        Ok(out)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// What makes the commits of [`Db::writer_connection`]'s connection durable after the fact.
#[derive(Debug)]
pub enum Durability {
    /// An SQLite file: an fsync of its write-ahead log.
    Wal(WalSync),
    /// PostgreSQL: a synchronous commit on a connection of its own.
    Server(ServerSync),
}

/// Makes the commits of the PostgreSQL writer connection, which commits with
/// `synchronous_commit = off`, durable: an update of the one row of `log_sync`, committed
/// synchronously on a connection of its own. The server answers that commit only once its WAL is
/// flushed up to the commit's record, which comes after the record of every transaction committed
/// before it; so every batch the writer committed before [`ServerSync::sync`] started is durable
/// once it returns.
///
/// The connection is opened before the writer's and never replaced. If the server restarted, the
/// batches committed before it were possibly lost with its WAL buffers; the restart also ended
/// this connection, so the next sync fails and nothing of them is acknowledged. (A sync on a
/// fresh connection would have succeeded and acknowledged them.)
pub struct ServerSync {
    conn: tokio::sync::Mutex<Conn>,
}

impl std::fmt::Debug for ServerSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSync").finish_non_exhaustive()
    }
}

/// The `application_name` of the log syncer's PostgreSQL connection, so that operators (and the
/// tests) can tell it in `pg_stat_activity`.
pub const SYNC_APPLICATION_NAME: &str = "tianping-log-sync";

/// The `application_name` of the log sequencer's PostgreSQL connection.
pub const WRITER_APPLICATION_NAME: &str = "tianping-log-writer";

impl ServerSync {
    async fn open(db: &Db) -> Result<ServerSync> {
        let mut conn = db.pool.acquire().await?;
        // Never returned to the pool: a pooled connection could be older or newer than the
        // writer's, and the application name would stay on it.
        conn.close_on_drop();
        sqlx::query("SELECT set_config('application_name', $1, false)")
            .bind(SYNC_APPLICATION_NAME)
            .execute(&mut *conn)
            .await?;
        Ok(ServerSync {
            conn: tokio::sync::Mutex::new(conn),
        })
    }

    /// Make every commit of the writer connection that returned before this call durable.
    pub async fn sync(&self) -> Result<()> {
        let mut conn = self.conn.lock().await;
        ServerSync::run(&mut conn).await
    }

    async fn run(conn: &mut sqlx::AnyConnection) -> Result<()> {
        // A transaction that writes is flushed at commit (unless the server is configured with
        // synchronous_commit = off: then nothing the server commits is durable at once).
        sqlx::query("UPDATE log_sync SET n = n + 1 WHERE id = 1")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

/// Makes the commits of the writer connection of [`Db::writer_connection`] durable: an fsync of the
/// database's write-ahead log file. Also copies committed pages from the log into the database file
/// ([`WalSync::checkpoint`]) on a connection of its own. Blocking; call it off the async runtime.
pub struct WalSync {
    path: PathBuf,
    /// The open log file, reopened when SQLite has replaced it (a new inode at the path).
    file: Mutex<Option<File>>,
    /// The database file, and what checkpoints it (opened on first use).
    db: PathBuf,
    checkpointer: Mutex<Checkpointer>,
}

/// The checkpointing side of a [`WalSync`], used by one checkpoint at a time.
#[derive(Default)]
struct Checkpointer {
    /// The connection that runs the checkpoints.
    conn: Option<rusqlite::Connection>,
    /// The database file, to sync what passive checkpoints copied into it.
    file: Option<File>,
    /// The log's frames copied when the file was last synced.
    copied_at_sync: i64,
}

impl std::fmt::Debug for WalSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalSync")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Frames copied by passive checkpoints after which [`WalSync::checkpoint`] syncs the database
/// file (4 MiB of 4 KiB pages): often enough that the writer's own checkpoint has little left to
/// flush, rarely enough not to compete with the syncer's fsyncs for the device (syncing after every
/// checkpoint cut the worst append from 15–31 ms to 8–10 ms but the rate by a few percent).
const SYNC_COPIED_FRAMES: i64 = 1000;

/// What a [`WalSync::checkpoint`] found and did, in write-ahead log frames (pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpointed {
    /// Frames in the write-ahead log.
    pub frames: i64,
    /// Of those, the frames now copied into the database file.
    pub copied: i64,
}

impl WalSync {
    /// Copy the committed pages of the write-ahead log into the database file, without waiting for
    /// (or holding up) the writer: an SQLite `PASSIVE` checkpoint. SQLite syncs the log before
    /// copying, so nothing reaches the database file before it is durable in the log. It syncs the
    /// database file only when a checkpoint has copied the whole log, which one running beside the
    /// writer rarely does; so this syncs the file itself once `SYNC_COPIED_FRAMES` (1,000) more frames
    /// have been copied.
    /// Otherwise they stayed dirty in the operating system until the writer's own checkpoint (at
    /// `native::WAL_BACKSTOP_PAGES`, which copies what is left and lets the log restart) synced the
    /// file inside a commit: flushing megabytes there held every append up for 7–27 ms
    /// (docs/benchmarks.md).
    pub fn checkpoint(&self) -> Result<Checkpointed> {
        let mut guard = self.checkpointer.lock().unwrap_or_else(|e| e.into_inner());
        let c = &mut *guard;
        if c.conn.is_none() {
            c.conn = Some(native::open_checkpointer(&self.db)?);
        }
        let done =
            c.conn
                .as_ref()
                .expect("opened above")
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok(Checkpointed {
                        frames: r.get(1)?,
                        copied: r.get(2)?,
                    })
                })?;
        if done.copied < c.copied_at_sync {
            // The log restarted after a complete checkpoint, which synced the file.
            c.copied_at_sync = 0;
        }
        if done.copied - c.copied_at_sync >= SYNC_COPIED_FRAMES {
            if c.file.is_none() {
                c.file = Some(File::open(&self.db).map_err(StoreError::Io)?);
            }
            c.file
                .as_ref()
                .expect("opened above")
                .sync_data()
                .map_err(StoreError::Io)?;
            c.copied_at_sync = done.copied;
        }
        Ok(done)
    }

    /// Flush every write made to the write-ahead log so far to the disk.
    pub fn sync(&self) -> std::io::Result<()> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let current = std::fs::metadata(&self.path)?;
        let same = match file.as_ref() {
            Some(f) => {
                let open = f.metadata()?;
                open.ino() == current.ino() && open.dev() == current.dev()
            }
            None => false,
        };
        if !same {
            *file = Some(File::open(&self.path)?);
        }
        file.as_ref().expect("opened above").sync_data()
    }
}

/// Most bind parameters put in one statement (SQLite allows 32766, PostgreSQL 65535).
pub(crate) const MAX_PARAMS: usize = 30_000;

/// Most bind parameters in one multi-row insert. Binding is linear in the parameter count on both
/// backends thanks to positional placeholders on SQLite (below), so statements are large and a batch
/// of a thousand records takes a handful of them.
const MAX_INSERT_PARAMS: usize = 8192;

/// A value bound to a [`Statement`]. NULLs keep their type: PostgreSQL needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Blob(Option<Vec<u8>>),
}

macro_rules! value_from {
    ($($t:ty => $variant:ident, $conv:expr;)*) => {
        $(impl From<$t> for Value {
            fn from(v: $t) -> Value {
                let f: fn($t) -> _ = $conv;
                Value::$variant(f(v))
            }
        })*
    };
}

value_from! {
    i64 => Int, Some;
    Option<i64> => Int, |v| v;
    String => Text, Some;
    Option<String> => Text, |v| v;
    &str => Text, |v| Some(v.to_owned());
    &String => Text, |v| Some(v.clone());
    Option<&str> => Text, |v| v.map(str::to_owned);
    Vec<u8> => Blob, Some;
    Option<Vec<u8>> => Blob, |v| v;
    &[u8] => Blob, |v| Some(v.to_vec());
}

impl Value {
    /// A NULL of this value's type.
    fn null_of_same_type(&self) -> Value {
        match self {
            Value::Int(_) => Value::Int(None),
            Value::Text(_) => Value::Text(None),
            Value::Blob(_) => Value::Blob(None),
        }
    }
}

/// One write statement with its values, for a [`Script`]. Placeholders are `$1`, `$2`, … (or, in
/// the multi-row inserts built here for SQLite, anonymous `?`).
#[derive(Debug)]
pub struct Statement {
    sql: std::borrow::Cow<'static, str>,
    values: Vec<Value>,
    /// The text's placeholders are anonymous `?`, bound in order (SQLite only).
    anonymous: bool,
    /// `Some(n)`: the text inserts one row of `n` values and `values` holds several rows; the
    /// statement runs once per row (SQLite only; see [`insert_rows`]).
    row_width: Option<usize>,
    /// See [`Statement::independent`].
    independent: bool,
}

impl Statement {
    pub fn new(sql: &'static str) -> Statement {
        Statement {
            sql: sql.into(),
            values: Vec::new(),
            anonymous: false,
            row_width: None,
            independent: false,
        }
    }

    /// A statement whose text is built at run time (placeholders only; never values).
    pub(crate) fn dynamic(sql: String) -> Statement {
        Statement {
            sql: sql.into(),
            values: Vec::new(),
            anonymous: false,
            row_width: None,
            independent: false,
        }
    }

    pub fn bind(mut self, v: impl Into<Value>) -> Statement {
        self.values.push(v.into());
        self
    }

    /// Declare that this statement reads no row that another statement of its transaction writes,
    /// and writes none that another reads or writes: an insert of given values, say, or an update of
    /// a row nothing else in the transaction touches. On PostgreSQL consecutive independent
    /// statements then run as one (see [`Script::flush`]).
    pub fn independent(mut self) -> Statement {
        self.independent = true;
        self
    }

    /// This statement as statement texts for sqlx's connections: a row-at-a-time insert becomes
    /// multi-row `VALUES` lists with a `(?, …)` group per row, each of at most
    /// [`MAX_INSERT_PARAMS`] values (SQLite refuses more than 32,766 in one statement).
    fn texts(self) -> Vec<Statement> {
        let Some(width) = self.row_width else {
            return vec![self];
        };
        let (head, row) = self
            .sql
            .split_once(" VALUES ")
            .expect("a row statement is an INSERT … VALUES (…)");
        let width = width.max(1);
        let per_statement = (MAX_INSERT_PARAMS / width).max(1) * width;
        let mut values = self.values.into_iter();
        let mut out = Vec::new();
        loop {
            let chunk: Vec<Value> = values.by_ref().take(per_statement).collect();
            if chunk.is_empty() {
                break;
            }
            let sql = format!("{head} VALUES {}", vec![row; chunk.len() / width].join(", "));
            out.push(Statement {
                sql: sql.into(),
                values: chunk,
                anonymous: true,
                row_width: None,
                independent: self.independent,
            });
        }
        out
    }

    /// Execute on its own (outside a [`Script`]); returns the rows affected.
    pub async fn execute<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(self, exec: E) -> Result<u64> {
        debug_assert!(self.row_width.is_none(), "row inserts run through a Script");
        Ok(bound(self.sql.into_owned(), self.values)
            .execute(exec)
            .await?
            .rows_affected())
    }
}

/// Values bound to one merged PostgreSQL statement at most (see [`merged_for_postgres`]). A
/// batch's entries, records and checkpoint (a few hundred values) merge; a subject merge's thousands
/// of rows run alone: merged with them, the statement took four times as long (33 ms against 8 ms
/// and the rest, measured; docs/benchmarks.md). Also well below the 65,535 PostgreSQL takes at all.
const PG_MERGE_MAX_VALUES: usize = 8_192;

/// A PostgreSQL flush's statements with each run of consecutive [`Statement::independent`] ones
/// merged into one statement: one round trip instead of one each. A whole transaction of them
/// (`BEGIN`, independent statements, `COMMIT`) becomes that one statement alone, which is a
/// transaction by itself. Merged statements are data-modifying `WITH` queries, which PostgreSQL runs
/// on one snapshot without seeing each other's rows: hence only independent ones. A statement that
/// is not independent runs alone, after the run before it and before the run after it, so it sees
/// the transaction's rows as it would have.
fn merged_for_postgres(mut statements: Vec<Statement>) -> Vec<Statement> {
    let whole = statements.len() > 2
        && statements[0].sql == "BEGIN"
        && statements[statements.len() - 1].sql == "COMMIT"
        && statements[1..statements.len() - 1].iter().all(|s| s.independent)
        && statements.iter().map(|s| s.values.len()).sum::<usize>() <= PG_MERGE_MAX_VALUES;
    // Otherwise BEGIN and COMMIT stay, and the runs between them merge.
    if whole {
        statements.pop();
        statements.remove(0);
    }
    let mut out = Vec::with_capacity(statements.len());
    let mut run: Vec<Statement> = Vec::new();
    let mut run_values = 0;
    for s in statements {
        if !s.independent || run_values + s.values.len() > PG_MERGE_MAX_VALUES {
            out.extend(merge_run(std::mem::take(&mut run)));
            run_values = 0;
        }
        if s.independent {
            run_values += s.values.len();
            run.push(s);
        } else {
            out.push(s);
        }
    }
    out.extend(merge_run(run));
    out
}

/// `run` as one statement: each statement but the last in a `WITH` clause, its placeholders
/// renumbered after the values of those before it.
fn merge_run(mut run: Vec<Statement>) -> Option<Statement> {
    if run.len() < 2 {
        return run.pop();
    }
    let mut texts = Vec::with_capacity(run.len());
    let mut values = Vec::with_capacity(run.iter().map(|s| s.values.len()).sum());
    for s in run {
        texts.push(shift_placeholders(&s.sql, values.len()));
        values.extend(s.values);
    }
    let primary = texts.pop().expect("two statements or more");
    let with: Vec<String> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| format!("w{i} AS ({t})"))
        .collect();
    let mut merged = Statement::dynamic(format!("WITH {} {primary}", with.join(", ")));
    merged.values = values;
    merged.independent = true;
    Some(merged)
}

/// `sql` with each numbered placeholder `$n` outside quoted text and identifiers made `$(n + by)`.
fn shift_placeholders(sql: &str, by: usize) -> String {
    if by == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + sql.len() / 8);
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '$') if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut n = 0usize;
                while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                    n = n * 10 + d as usize;
                    chars.next();
                }
                out.push_str(&(n + by).to_string());
            }
            (None, _) => {}
        }
    }
    out
}

/// A query of `sql` with `values` bound in order (moved, not copied: they hold record ciphertexts).
fn bound(sql: String, values: Vec<Value>) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for v in values {
        q = bind_value(q, v);
    }
    q
}

fn bind_value(
    q: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>,
    v: Value,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    match v {
        Value::Int(v) => q.bind(v),
        Value::Text(v) => q.bind(v),
        Value::Blob(v) => q.bind(v),
    }
}

/// The write statements of one transaction, gathered so that they reach the database in as few
/// round trips as possible. On SQLite, whose connection runs on a worker thread of its own, every
/// round trip is two thread wake-ups (a few hundred microseconds each on a busy two-core virtual
/// machine, measured), so [`Script::flush`] sends consecutive statements as one multi-statement
/// text with anonymous `?` placeholders bound in order across the statements. PostgreSQL gets the
/// statements one by one, as before. Nothing is executed until `flush`; a statement whose result
/// is needed (rows affected) is executed after a flush, directly on the transaction.
#[derive(Debug)]
pub struct Script {
    sqlite: bool,
    statements: Vec<Statement>,
}

impl Script {
    pub fn new(backend: Backend) -> Script {
        Script {
            sqlite: backend == Backend::Sqlite,
            statements: Vec::new(),
        }
    }

    pub fn add(&mut self, s: Statement) {
        self.statements.push(s);
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// Execute the gathered statements in order inside the writer's open transaction.
    pub async fn flush<'w>(&mut self, writer: impl Into<Writer<'w>>) -> Result<()> {
        let statements = std::mem::take(&mut self.statements);
        let tx = match writer.into() {
            Writer::Native(native) => {
                // Prepared once and kept, each statement as written, run on this thread.
                if !statements.is_empty() {
                    native.run(statements).await?;
                }
                return Ok(());
            }
            Writer::Sqlx(tx) => tx,
        };
        if !self.sqlite {
            for s in merged_for_postgres(statements) {
                s.execute(&mut *tx).await?;
            }
            return Ok(());
        }
        let mut text = String::new();
        let mut values: Vec<Value> = Vec::new();
        for mut s in statements.into_iter().flat_map(Statement::texts) {
            if !s.anonymous {
                match anonymize(&s.sql) {
                    Some(sql) => s.sql = sql.into(),
                    None => {
                        run_merged(tx, &mut text, &mut values).await?;
                        s.execute(&mut *tx).await?;
                        continue;
                    }
                }
            }
            if !text.is_empty() {
                text.push_str(";\n");
            }
            text.push_str(&s.sql);
            values.extend(s.values);
        }
        run_merged(tx, &mut text, &mut values).await
    }
}

/// The log writer's connection (see [`Db::writer_connection`]).
#[derive(Debug)]
pub enum WriterConn {
    Sqlx(Conn),
    Native(NativeWriter),
}

impl WriterConn {
    pub fn writer(&mut self) -> Writer<'_> {
        match self {
            WriterConn::Sqlx(c) => Writer::Sqlx(c),
            WriterConn::Native(n) => Writer::Native(n),
        }
    }
}

/// Where the statements of a transaction run: a sqlx connection (PostgreSQL, and every transaction
/// outside the log's sequencer) or the sequencer's [`NativeWriter`] on an SQLite file. Code that
/// writes inside the log's batch transaction takes a `Writer` and so runs on either.
#[derive(Debug)]
pub enum Writer<'a> {
    Sqlx(&'a mut sqlx::AnyConnection),
    Native(&'a NativeWriter),
}

impl<'a> From<&'a mut sqlx::AnyConnection> for Writer<'a> {
    fn from(c: &'a mut sqlx::AnyConnection) -> Writer<'a> {
        Writer::Sqlx(c)
    }
}

impl<'a, 'c> From<&'a mut Tx<'c>> for Writer<'a> {
    fn from(tx: &'a mut Tx<'c>) -> Writer<'a> {
        Writer::Sqlx(tx)
    }
}

impl Writer<'_> {
    /// The same connection, borrowed for a shorter while.
    pub fn reborrow(&mut self) -> Writer<'_> {
        match self {
            Writer::Sqlx(c) => Writer::Sqlx(c),
            Writer::Native(n) => Writer::Native(n),
        }
    }

    /// Execute one statement now; returns the rows it changed.
    pub async fn execute(&mut self, s: Statement) -> Result<u64> {
        match self {
            Writer::Sqlx(c) => s.execute(&mut **c).await,
            Writer::Native(n) => n.run(vec![s]).await,
        }
    }
}

async fn run_merged(tx: &mut sqlx::AnyConnection, text: &mut String, values: &mut Vec<Value>) -> Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    bound(std::mem::take(text), std::mem::take(values))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// `sql` with its `$1`, `$2`, … placeholders made anonymous `?`, when each appears once and in
/// order (so that binding in order gives the same result); otherwise `None`.
fn anonymize(sql: &str) -> Option<String> {
    let mut out = String::with_capacity(sql.len());
    let mut next = 1u32;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        let n: u32 = rest[at + 1..at + 1 + digits].parse().ok()?;
        if n != next {
            return None;
        }
        next += 1;
        out.push('?');
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
    Some(out)
}

/// Add inserts into `target` (`"table (c1, c2, …)"`, `cols` columns) to `script`: `values` holds
/// the rows one after the other, `cols` values each, moved into the statements (they may hold
/// record ciphertexts). Dynamic SQL here only ever adds placeholders.
///
/// On SQLite this is one single-row statement that runs once per row: the log's writer binds each
/// row to the same prepared statement and steps it (see `native.rs`), as a plain insert loop does.
/// The multi-row form used before (`INSERT … SELECT … FROM (VALUES …)`, padded) made SQLite copy
/// every value once more through the `VALUES` co-routine, and building its text and padding rows
/// took as long as running it (docs/benchmarks.md). Outside the log's writer, [`Script::flush`]
/// sends the rows as multi-row `VALUES` texts with anonymous `?` placeholders, at most
/// [`MAX_INSERT_PARAMS`] values each.
///
/// On PostgreSQL the rows go in multi-row statements, one round trip each, whose text depends only
/// on the row count rounded up to a power of two: padding rows of typed NULLs (the type of each
/// column taken from the first row) are filtered out, so a dozen texts cover every batch size and
/// stay prepared. (PostgreSQL names the columns of a `VALUES` list `column1`, `column2`, ….)
pub(crate) fn insert_rows(script: &mut Script, target: &'static str, cols: usize, values: Vec<Value>) {
    debug_assert!(
        cols > 0 && values.len().is_multiple_of(cols),
        "whole rows of {cols} values"
    );
    if values.is_empty() {
        return;
    }
    if script.sqlite {
        script.add(Statement {
            sql: format!("INSERT INTO {target} VALUES ({})", vec!["?"; cols].join(", ")).into(),
            values,
            anonymous: true,
            row_width: Some(cols),
            independent: true,
        });
        return;
    }
    let padding: Vec<Value> = values[..cols].iter().map(Value::null_of_same_type).collect();
    let max_rows = (MAX_INSERT_PARAMS / cols + 1).next_power_of_two() / 2;
    let columns: Vec<String> = (1..=cols).map(|c| format!("column{c}")).collect();
    let mut values = values.into_iter();
    let mut rows = values.len() / cols;
    while rows > 0 {
        let chunk = rows.min(max_rows);
        rows -= chunk;
        let padded = chunk.next_power_of_two();
        let sql = format!(
            "INSERT INTO {target} SELECT {} FROM (VALUES {}) AS v WHERE column1 IS NOT NULL",
            columns.join(", "),
            values_placeholders(padded, cols),
        );
        let mut bound = Vec::with_capacity(padded * cols);
        bound.extend(values.by_ref().take(chunk * cols));
        for _ in chunk..padded {
            bound.extend(padding.iter().cloned());
        }
        script.add(Statement {
            sql: sql.into(),
            values: bound,
            anonymous: false,
            row_width: None,
            independent: true,
        });
    }
}

/// `n` numbered placeholders from `$first`, comma-separated (for `IN (…)` lists): the only text ever
/// spliced into SQL besides fixed fragments.
pub(crate) fn numbered(first: usize, n: usize) -> String {
    let mut out = String::with_capacity(n * 5);
    for i in first..first + n {
        if i > first {
            out.push_str(", ");
        }
        out.push('$');
        out.push_str(&i.to_string());
    }
    out
}

/// `($1, $2, $3), ($4, $5, $6), …` for `rows` rows of `cols` columns.
pub(crate) fn values_placeholders(rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(r * cols + c + 1).to_string());
        }
        s.push(')');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_placeholders_count_from_the_first() {
        assert_eq!(numbered(2, 3), "$2, $3, $4");
        assert_eq!(numbered(1, 1), "$1");
        assert_eq!(numbered(1, 0), "");
    }

    #[test]
    fn placeholders_are_numbered_row_major() {
        assert_eq!(values_placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(values_placeholders(1, 1), "($1)");
    }

    #[test]
    fn row_inserts_run_per_row_on_sqlite_and_as_padded_multi_row_statements_on_postgres() {
        let rows = |n: i64| -> Vec<Value> {
            (0..n)
                .flat_map(|i| [Value::from(i), Value::from(format!("r{i}"))])
                .collect()
        };
        let mut sqlite = Script::new(Backend::Sqlite);
        insert_rows(&mut sqlite, "t (a, b)", 2, rows(3));
        insert_rows(&mut sqlite, "t (a, b)", 2, Vec::new());
        assert_eq!(sqlite.statements.len(), 1, "nothing added for no rows");
        let s = sqlite.statements.remove(0);
        assert_eq!(s.sql, "INSERT INTO t (a, b) VALUES (?, ?)");
        assert_eq!(s.row_width, Some(2));
        // Outside the log's writer: one text with a group per row, the values in order.
        let texts = s.texts();
        assert_eq!(texts.len(), 1);
        assert_eq!(texts[0].sql, "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?)");
        assert_eq!((&texts[0].values, texts[0].row_width), (&rows(3), None));
        // Many rows: texts of at most MAX_INSERT_PARAMS values, whole rows each, in order.
        let many = MAX_INSERT_PARAMS as i64;
        insert_rows(&mut sqlite, "t (a, b)", 2, rows(many));
        let texts = sqlite.statements.remove(0).texts();
        assert_eq!(texts.len(), 2);
        assert!(texts.iter().all(|t| t.values.len() <= MAX_INSERT_PARAMS));
        let joined: Vec<Value> = texts.into_iter().flat_map(|t| t.values).collect();
        assert_eq!(joined, rows(many));

        let mut pg = Script::new(Backend::Postgres);
        insert_rows(&mut pg, "t (a, b)", 2, rows(3));
        let s = &pg.statements[0];
        assert_eq!(
            s.sql,
            "INSERT INTO t (a, b) SELECT column1, column2 FROM (VALUES ($1, $2), ($3, $4), ($5, $6), \
             ($7, $8)) AS v WHERE column1 IS NOT NULL"
        );
        assert_eq!(s.values[..6], rows(3)[..]);
        assert_eq!(
            s.values[6..],
            [Value::Int(None), Value::Text(None)],
            "typed NULL padding"
        );
    }

    #[test]
    fn placeholders_become_anonymous_only_when_each_appears_once_in_order() {
        assert_eq!(
            anonymize("INSERT INTO t (a, b) VALUES ($1, $2)").as_deref(),
            Some("INSERT INTO t (a, b) VALUES (?, ?)")
        );
        assert_eq!(
            anonymize("UPDATE t SET a = $1 WHERE id = $10").as_deref(),
            None,
            "$10 after $1 is out of order"
        );
        assert_eq!(anonymize("UPDATE t SET a = $2 WHERE b = $1"), None);
        assert_eq!(anonymize("UPDATE t SET a = $1 WHERE b = $1"), None);
        assert_eq!(anonymize("SELECT 1").as_deref(), Some("SELECT 1"));
        assert_eq!(anonymize("SELECT $x"), None);
    }

    #[test]
    fn placeholders_shift_outside_quotes_only() {
        assert_eq!(
            shift_placeholders("VALUES ($1, $2), ($10)", 3),
            "VALUES ($4, $5), ($13)"
        );
        assert_eq!(
            shift_placeholders("SET a = '$1', \"$2\" = $2", 5),
            "SET a = '$1', \"$2\" = $7"
        );
        assert_eq!(shift_placeholders("SELECT $1, $x", 0), "SELECT $1, $x");
        assert_eq!(shift_placeholders("SELECT $x, $2", 1), "SELECT $x, $3");
    }

    #[test]
    fn independent_postgres_statements_run_as_one_and_others_alone_in_order() {
        let insert = |t: &'static str, n: i64| Statement::new(t).bind(n).bind(n + 1).independent();
        let reads = || Statement::new("INSERT INTO c SELECT * FROM a WHERE x > $1").bind(0);
        let whole = merged_for_postgres(vec![
            Statement::new("BEGIN"),
            insert("INSERT INTO a VALUES ($1, $2)", 1),
            insert("INSERT INTO b VALUES ($1, $2)", 3),
            insert("UPDATE m SET x = $1 WHERE x < $2", 5),
            Statement::new("COMMIT"),
        ]);
        assert_eq!(
            whole.len(),
            1,
            "a whole transaction of independent statements is one statement"
        );
        assert_eq!(
            whole[0].sql,
            "WITH w0 AS (INSERT INTO a VALUES ($1, $2)), w1 AS (INSERT INTO b VALUES ($3, $4)) \
             UPDATE m SET x = $5 WHERE x < $6"
        );
        assert_eq!(whole[0].values, (1..=6).map(Value::from).collect::<Vec<_>>());

        // A statement that reads what others write splits the runs and keeps the transaction.
        let split = merged_for_postgres(vec![
            Statement::new("BEGIN"),
            insert("INSERT INTO a VALUES ($1, $2)", 1),
            insert("INSERT INTO b VALUES ($1, $2)", 3),
            reads(),
            insert("INSERT INTO d VALUES ($1, $2)", 5),
            Statement::new("COMMIT"),
        ]);
        let texts: Vec<&str> = split.iter().map(|s| &*s.sql).collect();
        assert_eq!(
            texts,
            [
                "BEGIN",
                "WITH w0 AS (INSERT INTO a VALUES ($1, $2)) INSERT INTO b VALUES ($3, $4)",
                "INSERT INTO c SELECT * FROM a WHERE x > $1",
                "INSERT INTO d VALUES ($1, $2)",
                "COMMIT",
            ]
        );

        // More values than one statement may bind: several statements, none over the limit.
        let big = |n: i64| {
            let mut s = Statement::new("INSERT INTO a VALUES ($1)").independent();
            s.values = vec![Value::from(n); PG_MERGE_MAX_VALUES / 2 + 1];
            s
        };
        let many = merged_for_postgres(vec![
            Statement::new("BEGIN"),
            big(1),
            big(2),
            Statement::new("COMMIT"),
        ]);
        assert_eq!(many.len(), 4);
        assert!(many.iter().all(|s| s.values.len() <= PG_MERGE_MAX_VALUES));
    }

    #[test]
    fn backend_is_chosen_from_the_url() {
        assert_eq!(Backend::from_url("sqlite:///x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::from_url("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert!(Backend::from_url("mysql://x").is_err());
    }
}
