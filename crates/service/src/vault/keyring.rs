//! Key-encryption keys (KEKs) behind the [`KeyProvider`] interface. The default provider is a local
//! keyring file, `<data_dir>/keys/keyring.json` (mode 0600), created at first start. An external KMS
//! implements the same two operations: wrap with the active key, unwrap with a named key.
//!
//! Rotation (`tianping keys rotate`) adds a new active KEK and re-wraps every subject key under
//! it; content is never re-encrypted (content keys are wrapped by subject keys, which do not
//! change). Retired KEKs stay in the file, marked, so backups taken before a rotation remain
//! readable; a running server notices the new active key by the file's modification time.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::RwLock;
use std::time::SystemTime;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use tianping_store::{Db, vault as rows};
use tianping_vault::{Cipher, SecretKey, Zeroizing};

use crate::keys::{keys_dir, write_secret_file};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where key-encryption keys live. Wrapped keys name the KEK that wrapped them.
pub trait KeyProvider: Send + Sync {
    /// Wrap `key` under the active KEK; returns that KEK's id and the wrapped bytes.
    fn wrap<'a>(
        &'a self,
        aad: &'a [u8],
        key: &'a SecretKey,
    ) -> BoxFuture<'a, anyhow::Result<(String, Vec<u8>)>>;
    /// Unwrap bytes wrapped by KEK `kek_id`.
    fn unwrap<'a>(
        &'a self,
        kek_id: &'a str,
        aad: &'a [u8],
        wrapped: &'a [u8],
    ) -> BoxFuture<'a, anyhow::Result<SecretKey>>;
    /// Id of the KEK new wraps use.
    fn active_id(&self) -> anyhow::Result<String>;
}

const KEYRING_FILE: &str = "keyring.json";

#[derive(Serialize, Deserialize)]
struct KeyringFile {
    version: u32,
    cipher: String,
    active: String,
    keys: Vec<KekEntry>,
}

#[derive(Serialize, Deserialize)]
struct KekEntry {
    id: String,
    created_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retired_ms: Option<u64>,
    /// base64 of the key bytes.
    key: String,
}

impl Drop for KekEntry {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

struct Loaded {
    cipher: Cipher,
    active: String,
    keys: Vec<(String, SecretKey)>,
    mtime: Option<SystemTime>,
}

/// The local keyring file.
pub struct LocalKeyring {
    path: PathBuf,
    state: RwLock<Loaded>,
}

impl std::fmt::Debug for LocalKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeyring")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn new_kek_id() -> String {
    format!("kek-{}", uuid::Uuid::now_v7().simple())
}

impl LocalKeyring {
    pub fn path(data_dir: &Path) -> PathBuf {
        keys_dir(data_dir).join(KEYRING_FILE)
    }

    /// Open the keyring of `data_dir`, creating it with one KEK for `cipher` if it does not exist.
    /// Returns whether it was created.
    pub fn open_or_create(data_dir: &Path, cipher: Cipher) -> anyhow::Result<(LocalKeyring, bool)> {
        let path = Self::path(data_dir);
        let created = !path.exists();
        if created {
            let id = new_kek_id();
            let key = cipher.generate_key();
            let file = KeyringFile {
                version: 1,
                cipher: cipher.name().into(),
                active: id.clone(),
                keys: vec![KekEntry {
                    id,
                    created_ms: crate::log::now_ms(),
                    retired_ms: None,
                    key: B64.encode(key.as_bytes()),
                }],
            };
            save(&path, &file)?;
        }
        let loaded = load(&path)?;
        if loaded.cipher != cipher {
            bail!(
                "the keyring uses {} but this deployment's suite needs {}",
                loaded.cipher.name(),
                cipher.name()
            );
        }
        Ok((
            LocalKeyring {
                path,
                state: RwLock::new(loaded),
            },
            created,
        ))
    }

    /// Re-read the file if it changed since it was loaded.
    fn refresh(&self) -> anyhow::Result<()> {
        let now = mtime(&self.path);
        let stale = self.state.read().expect("keyring lock").mtime != now;
        if stale {
            let loaded = load(&self.path)?;
            *self.state.write().expect("keyring lock") = loaded;
        }
        Ok(())
    }

    fn key(&self, id: &str) -> anyhow::Result<(Cipher, SecretKey)> {
        let find = |s: &Loaded| {
            s.keys
                .iter()
                .find(|(k, _)| k == id)
                .map(|(_, key)| (s.cipher, key.clone()))
        };
        if let Some(k) = find(&self.state.read().expect("keyring lock")) {
            return Ok(k);
        }
        self.refresh()?;
        find(&self.state.read().expect("keyring lock"))
            .ok_or_else(|| anyhow::anyhow!("key-encryption key {id} is not in the keyring"))
    }

    /// Add a new active KEK, retiring the current one. Returns the new id.
    pub fn add_active(&self) -> anyhow::Result<String> {
        let mut file: KeyringFile = serde_json::from_slice(&std::fs::read(&self.path)?)?;
        let cipher = Cipher::parse(&file.cipher).context("keyring cipher")?;
        let now = crate::log::now_ms();
        for k in &mut file.keys {
            if k.retired_ms.is_none() {
                k.retired_ms = Some(now);
            }
        }
        let id = new_kek_id();
        let key = cipher.generate_key();
        file.keys.push(KekEntry {
            id: id.clone(),
            created_ms: now,
            retired_ms: None,
            key: B64.encode(key.as_bytes()),
        });
        file.active = id.clone();
        save(&self.path, &file)?;
        *self.state.write().expect("keyring lock") = load(&self.path)?;
        Ok(id)
    }
}

fn load(path: &Path) -> anyhow::Result<Loaded> {
    crate::keys::check_secret_file(path)?;
    let mtime = mtime(path);
    let bytes = Zeroizing::new(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?);
    let file: KeyringFile =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not a keyring", path.display()))?;
    if file.version != 1 {
        bail!("unsupported keyring version {}", file.version);
    }
    let cipher =
        Cipher::parse(&file.cipher).with_context(|| format!("unknown keyring cipher {}", file.cipher))?;
    let mut keys = Vec::new();
    for k in &file.keys {
        let raw = Zeroizing::new(B64.decode(&k.key).context("keyring key is not base64")?);
        if raw.len() != cipher.key_len() {
            bail!(
                "keyring key {} has {} bytes, {} expected",
                k.id,
                raw.len(),
                cipher.key_len()
            );
        }
        keys.push((k.id.clone(), SecretKey::from_bytes(&raw)));
    }
    if !keys.iter().any(|(id, _)| *id == file.active) {
        bail!("the keyring's active key {} is missing", file.active);
    }
    Ok(Loaded {
        cipher,
        active: file.active.clone(),
        keys,
        mtime,
    })
}

fn save(path: &Path, file: &KeyringFile) -> anyhow::Result<()> {
    let json = Zeroizing::new(serde_json::to_vec_pretty(file)?);
    write_secret_file(path, &json)
}

impl KeyProvider for LocalKeyring {
    fn wrap<'a>(
        &'a self,
        aad: &'a [u8],
        key: &'a SecretKey,
    ) -> BoxFuture<'a, anyhow::Result<(String, Vec<u8>)>> {
        Box::pin(async move {
            self.refresh()?;
            let id = self.state.read().expect("keyring lock").active.clone();
            let (cipher, kek) = self.key(&id)?;
            Ok((id, cipher.wrap_key(&kek, aad, key)))
        })
    }

    fn unwrap<'a>(
        &'a self,
        kek_id: &'a str,
        aad: &'a [u8],
        wrapped: &'a [u8],
    ) -> BoxFuture<'a, anyhow::Result<SecretKey>> {
        Box::pin(async move {
            let (cipher, kek) = self.key(kek_id)?;
            cipher
                .unwrap_key(&kek, aad, wrapped)
                .map_err(|e| anyhow::anyhow!("cannot unwrap a key with {kek_id}: {e}"))
        })
    }

    fn active_id(&self) -> anyhow::Result<String> {
        self.refresh()?;
        Ok(self.state.read().expect("keyring lock").active.clone())
    }
}

/// Associated data of a subject key wrapped by a KEK: binds it to its id and subject.
pub fn subject_key_aad(key_id: &str, subject: &str) -> Vec<u8> {
    tianping_vault::aad(&[b"tianping.subject-key/v1", key_id.as_bytes(), subject.as_bytes()])
}

/// Outcome of [`rotate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub new_kek: String,
    pub rewrapped: u64,
}

/// Make a new KEK active and re-wrap every live subject key under it.
pub async fn rotate(keyring: &LocalKeyring, db: &Db) -> anyhow::Result<Rotation> {
    let new_kek = keyring.add_active()?;
    let mut rewrapped = 0;
    loop {
        let batch = rows::keys_not_wrapped_by(db, &new_kek, 500).await?;
        if batch.is_empty() {
            break;
        }
        let mut updates = Vec::with_capacity(batch.len());
        for row in batch {
            let Some(wrapped) = row.wrapped.as_deref() else {
                continue;
            };
            let aad = subject_key_aad(&row.id, &row.subject);
            let key = keyring.unwrap(&row.kek_id, &aad, wrapped).await?;
            let (kek, wrapped) = keyring.wrap(&aad, &key).await?;
            if kek != new_kek {
                bail!("the keyring changed during rotation; run it again");
            }
            updates.push((row, kek, wrapped));
        }
        rewrapped += rows::rewrap_keys(db, &updates).await?;
    }
    Ok(Rotation { new_kek, rewrapped })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn keyring_is_private_checked_and_rotates_without_losing_old_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (ring, created) = LocalKeyring::open_or_create(dir.path(), Cipher::Sm4Gcm).unwrap();
        assert!(created);
        let path = LocalKeyring::path(dir.path());
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!format!("{ring:?}").contains("key\""), "no key material in Debug");

        let key = Cipher::Sm4Gcm.generate_key();
        let (old_id, wrapped) = block_on(ring.wrap(b"aad", &key)).unwrap();
        let new_id = ring.add_active().unwrap();
        assert_ne!(old_id, new_id);
        assert_eq!(ring.active_id().unwrap(), new_id);
        let back = block_on(ring.unwrap(&old_id, b"aad", &wrapped)).unwrap();
        assert_eq!(back.as_bytes(), key.as_bytes(), "retired keys still unwrap");
        assert!(
            block_on(ring.unwrap(&old_id, b"other", &wrapped)).is_err(),
            "aad is bound"
        );
        assert!(block_on(ring.unwrap("kek-unknown", b"aad", &wrapped)).is_err());

        let (again, created) = LocalKeyring::open_or_create(dir.path(), Cipher::Sm4Gcm).unwrap();
        assert!(!created);
        assert_eq!(again.active_id().unwrap(), new_id);
        assert!(
            LocalKeyring::open_or_create(dir.path(), Cipher::Aes256Gcm).is_err(),
            "suite mismatch"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            LocalKeyring::open_or_create(dir.path(), Cipher::Sm4Gcm).is_err(),
            "loose mode refused"
        );
    }
}
