//! Services over storage: configuration, keys, the evidence log (sequencer, reader, audit) and
//! API tokens. Everything here is usable as a library (the benchmarks use it so) and knows nothing
//! of HTTP.

pub mod care;
pub mod config;
pub mod identity;
pub mod keys;
pub mod log;
pub mod tokens;
pub mod vault;

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
    pub vault: vault::Vault,
    pub identity: identity::Identity,
    pub care: care::Care,
    pub keyring: std::sync::Arc<vault::LocalKeyring>,
    pub sequencer: log::SequencerHandle,
    /// Whether this start generated the log's keys.
    pub keys_created: bool,
    /// Held while this process may write the log (one writer per data directory).
    pub _writer_lock: std::fs::File,
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

/// Take the data directory's writer lock (`<data_dir>/writer.lock`), so that two processes never
/// both sequence the same log (for example `tianping retention run` while the server runs).
pub fn writer_lock(dir: &Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("writer.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another tianping process (the server?) is writing {}; stop it first or use its HTTP API",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
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
    /// Open the database (migrating it), load or generate the keys and the keyring, open the log
    /// and the vault. Fails if another process already writes this data directory.
    pub async fn open(settings: Settings) -> anyhow::Result<Node> {
        ensure_data_dir(&settings.data_dir)?;
        let writer_lock = writer_lock(&settings.data_dir)?;
        // First, so a blob store this build cannot serve stops everything before it starts.
        let blobs = vault::BlobStore::open(&settings.vault, &settings.data_dir)?;
        blobs.check().await?;
        let db = open_db(&settings).await?;
        let suite = Suite::parse(&settings.log.suite)?;
        let (keys, keys_created) = LogKeys::load_or_create(&settings.data_dir, &settings.log.origin, suite)?;
        let (log, sequencer) = log::Log::open(db.clone(), keys, &settings.log).await?;
        // A missing keyring must not be replaced by a new one while wrapped keys exist: every
        // record would become unreadable and new ones would be written under a different KEK.
        let keyring_path = vault::LocalKeyring::path(&settings.data_dir);
        if !keyring_path.exists() && tianping_store::vault::any_subject_key(&db).await? {
            anyhow::bail!(
                "the vault's keyring {} is missing but the database holds keys wrapped by it; \
                 restore it from backup",
                keyring_path.display()
            );
        }
        let (keyring, _) =
            vault::LocalKeyring::open_or_create(&settings.data_dir, vault::cipher_of(log.suite()))?;
        let keyring = std::sync::Arc::new(keyring);
        let vault = vault::Vault::open(
            log.clone(),
            db.clone(),
            settings.vault.clone(),
            settings.log.max_content_bytes,
            keyring.clone(),
            blobs,
        )?;
        let identity = identity::Identity::new(db.clone(), vault.clone(), settings.identity.clone());
        let care = care::Care::new(identity.clone(), settings.care.clone())?;
        Ok(Node {
            care,
            settings,
            db,
            log,
            identity,
            vault,
            keyring,
            sequencer,
            keys_created,
            _writer_lock: writer_lock,
        })
    }
}
