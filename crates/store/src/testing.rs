//! Fresh databases for tests: a SQLite file in a temporary directory always, and a freshly created
//! PostgreSQL database when `TIANPING_TEST_DATABASE_URL` is set. Each is dropped after the test.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Executor;

/// Environment variable naming a PostgreSQL server for the PostgreSQL half of the suite.
pub const PG_ENV: &str = "TIANPING_TEST_DATABASE_URL";

pub struct TestDb {
    pub url: String,
    pub backend: crate::Backend,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestDb({})", self.backend.name())
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        TestDb {
            url,
            backend: crate::Backend::Sqlite,
            _dir: Some(dir),
            pg: None,
        }
    }

    /// A new, empty PostgreSQL database, or `None` when the variable is not set.
    pub async fn postgres() -> Option<TestDb> {
        let admin = std::env::var(PG_ENV).ok().filter(|s| !s.is_empty())?;
        let name = format!(
            "tianping_t_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("{PG_ENV} is set but PostgreSQL is unreachable: {e}"));
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create test database");
        Some(TestDb {
            url: with_database(&admin, &name),
            backend: crate::Backend::Postgres,
            _dir: None,
            pg: Some((admin, name)),
        })
    }

    /// SQLite always, plus PostgreSQL when configured.
    pub async fn all() -> Vec<TestDb> {
        let mut v = vec![TestDb::sqlite()];
        v.extend(TestDb::postgres().await);
        v
    }

    pub async fn connect(&self) -> crate::Db {
        let db = crate::Db::connect(&self.url).await.expect("connect");
        db.migrate().await.expect("migrate");
        db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg.take() {
            // Drop on a thread of its own: Drop may run inside a runtime that must not block.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
                        .await
                        .ok()?;
                    conn.execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .await
                    .ok()
                })
            })
            .join();
        }
    }
}

/// PostgreSQL: how many connections to this database carry `application_name` (the log's are
/// [`crate::WRITER_APPLICATION_NAME`] and [`crate::SYNC_APPLICATION_NAME`]).
pub async fn connections_named(db: &crate::Db, application_name: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(application_name.to_owned())
    .fetch_one(db.pool())
    .await
    .expect("pg_stat_activity")
}

/// PostgreSQL: end the connections to this database that carry `application_name`, as a server
/// restart would; returns how many were ended. Each is gone when this returns (the server waits up
/// to 10 s for it; PostgreSQL 14 and later).
pub async fn end_connections_named(db: &crate::Db, application_name: &str) -> usize {
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity \
         WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(application_name.to_owned())
    .fetch_all(db.pool())
    .await
    .expect("pg_terminate_backend");
    ended.into_iter().filter(|e| *e).count()
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            super::with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            super::with_database("postgres://h/test?sslmode=disable", "y"),
            "postgres://h/y?sslmode=disable"
        );
        assert_eq!(super::with_database("postgres://h", "z"), "postgres://h/z");
    }
}
