//! Services over storage: configuration, keys, the evidence log (sequencer, reader, audit) and
//! API tokens. Everything here is usable as a library (the benchmarks use it so) and knows nothing
//! of HTTP.

pub mod config;
pub mod keys;
pub mod log;
pub mod tokens;

use std::path::Path;

use anyhow::Context;
use tianping_store::Db;

pub use config::Settings;
pub use keys::{LogKeys, Suite};

/// Everything a running node needs, opened from settings.
pub struct Node {
    pub settings: Settings,
    pub db: Db,
    pub log: log::Log,
    pub sequencer: log::SequencerHandle,
    /// Whether this start generated the log's keys.
    pub keys_created: bool,
}

/// Create the data directory (mode 0700) if needed.
pub fn ensure_data_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if !dir.exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Connect to the configured database and apply migrations.
pub async fn open_db(settings: &Settings) -> anyhow::Result<Db> {
    ensure_data_dir(&settings.data_dir)?;
    let db = Db::connect(&settings.database_url())
        .await
        .context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    Ok(db)
}

impl Node {
    /// Open the database (migrating it), load or generate the keys, open the log.
    pub async fn open(settings: Settings) -> anyhow::Result<Node> {
        let db = open_db(&settings).await?;
        let suite = Suite::parse(&settings.log.suite)?;
        let (keys, keys_created) = LogKeys::load_or_create(&settings.data_dir, &settings.log.origin, suite)?;
        let (log, sequencer) = log::Log::open(db.clone(), keys, &settings.log).await?;
        Ok(Node {
            settings,
            db,
            log,
            sequencer,
            keys_created,
        })
    }
}
