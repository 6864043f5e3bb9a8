//! Storage for SQLite and PostgreSQL through sqlx's `Any` driver: one SQL text with `$N`
//! placeholders for both backends, one migrations folder per backend with the same versions.
//!
//! This crate speaks in rows of primitive values (integers, bytes, text). It knows nothing of
//! Merkle trees or signatures; the service crate gives the rows their meaning.
//!
//! Architecture invariant: every write that belongs together is one transaction, and the functions
//! here that take a [`Tx`] never commit it themselves.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

pub mod care;
pub mod identity;
pub mod log;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tokens;
pub mod vault;

pub use log::{CheckpointRow, EntryRow, LogParams, NewContent, NewEntry, TileRow};
pub use sqlx::Connection;
pub use tokens::TokenRow;

pub type Tx<'c> = sqlx::Transaction<'c, sqlx::Any>;

/// A connection held for a while, such as the sequencer's dedicated writer connection.
pub type Conn = sqlx::pool::PoolConnection<sqlx::Any>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL (expected sqlite: or postgres:)")]
    UnsupportedUrl,
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
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
}

impl Db {
    /// Connect to `url`. SQLite databases are created when missing and run in WAL mode with
    /// `synchronous=FULL`, so that a committed transaction has reached the disk (fsync).
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
                    for pragma in [
                        "PRAGMA page_size = 16384",
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = FULL",
                        "PRAGMA busy_timeout = 10000",
                        "PRAGMA foreign_keys = ON",
                        "PRAGMA cache_size = -4000",
                        // Statement journals (multi-row inserts into indexed tables) stay in memory
                        // instead of a temporary file created and deleted for every batch.
                        "PRAGMA temp_store = MEMORY",
                    ] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            }),
            Backend::Postgres => pool_options,
        };
        let pool = pool_options.connect_with(options).await?;
        Ok(Db { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
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

    /// A connection of its own, for a single writer that keeps its page cache warm.
    pub async fn acquire(&self) -> Result<Conn> {
        Ok(self.pool.acquire().await?)
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

/// A query of the `Any` driver, as the binders of [`insert_padded`] see it.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Most bind parameters put in one statement (SQLite allows 32766, PostgreSQL 65535).
pub(crate) const MAX_PARAMS: usize = 30_000;

/// Most bind parameters in one multi-row insert. Binding is linear in the parameter count on both
/// backends thanks to positional placeholders on SQLite (below), so statements are large and a batch
/// of a thousand records takes a handful of them.
const MAX_INSERT_PARAMS: usize = 8192;

/// Insert `rows` into `target` (`"table (c1, c2, …)"`, `cols` columns) with multi-row statements.
/// The statement text depends only on the row count rounded up to a power of two — `bind` is
/// called with `None` for the padding rows, which must bind a NULL first column and are filtered
/// out — so a dozen texts cover every batch size and stay in the prepared-statement cache instead
/// of being parsed again for each batch. (Both SQLite and PostgreSQL name the columns of a
/// `VALUES` list `column1`, `column2`, ….) Dynamic SQL here only ever adds placeholders.
///
/// The one place where the SQL text differs by backend: on SQLite the placeholders are anonymous
/// `?` (bound in order) instead of `$N`. sqlx's SQLite driver asks SQLite for each parameter's name,
/// and SQLite finds a name by scanning the list of all of them, so `$N` costs grow with the square
/// of the parameter count (13–25% of all instructions in profiles of batch inserts); anonymous
/// parameters have no names to scan.
pub(crate) async fn insert_padded<R>(
    tx: &mut Tx<'_>,
    target: &'static str,
    cols: usize,
    rows: &[R],
    bind: impl for<'q> Fn(AnyQuery<'q>, Option<&R>) -> AnyQuery<'q>,
) -> Result<()> {
    let positional = tx.backend_name() == "SQLite";
    let max_rows = (MAX_INSERT_PARAMS / cols + 1).next_power_of_two() / 2;
    for chunk in rows.chunks(max_rows) {
        let padded = chunk.len().next_power_of_two();
        let columns: Vec<String> = (1..=cols).map(|c| format!("column{c}")).collect();
        let values = if positional {
            anonymous_placeholders(padded, cols)
        } else {
            values_placeholders(padded, cols)
        };
        let sql = format!(
            "INSERT INTO {target} SELECT {} FROM (VALUES {values}) AS v WHERE column1 IS NOT NULL",
            columns.join(", "),
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            q = bind(q, Some(r));
        }
        for _ in chunk.len()..padded {
            q = bind(q, None);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// `(?, ?, ?), (?, ?, ?), …` for `rows` rows of `cols` columns (SQLite, bound in order).
fn anonymous_placeholders(rows: usize, cols: usize) -> String {
    let row = format!("({})", vec!["?"; cols].join(", "));
    vec![row; rows].join(", ")
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
    fn placeholders_are_numbered_row_major() {
        assert_eq!(values_placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(values_placeholders(1, 1), "($1)");
        assert_eq!(anonymous_placeholders(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(anonymous_placeholders(1, 1), "(?)");
    }

    #[test]
    fn backend_is_chosen_from_the_url() {
        assert_eq!(Backend::from_url("sqlite:///x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::from_url("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert!(Backend::from_url("mysql://x").is_err());
    }
}
