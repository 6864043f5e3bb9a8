//! The log's keys, kept as files in `<data_dir>/keys/` (directory 0700, files 0600), generated on
//! first start. Secret bytes live in zeroizing buffers and are never logged.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use tianping_log::HashAlg;
use tianping_log::note::{NoteSigner, VerifierKey};
use zeroize::Zeroizing;

/// Crypto suite of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// SHA-256, Ed25519.
    Intl,
    /// SM3, SM2 (plus an Ed25519 line on checkpoints for interoperability).
    Sm,
}

impl Suite {
    pub fn parse(s: &str) -> anyhow::Result<Suite> {
        match s {
            "intl" => Ok(Suite::Intl),
            "sm" => Ok(Suite::Sm),
            other => bail!("unknown crypto suite {other:?} (expected intl or sm)"),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Suite::Intl => "intl",
            Suite::Sm => "sm",
        }
    }
    pub fn hash(self) -> HashAlg {
        match self {
            Suite::Intl => HashAlg::Sha256,
            Suite::Sm => HashAlg::Sm3,
        }
    }
}

const ED25519_FILE: &str = "log-ed25519.skey";
const SM2_FILE: &str = "log-sm2.skey";
const PSEUDONYM_FILE: &str = "pseudonym.key";

pub struct LogKeys {
    pub suite: Suite,
    /// Checkpoint signers: Ed25519 first, then SM2 for the national suite.
    pub signers: Vec<NoteSigner>,
    /// HMAC key for subject pseudonyms.
    pub pseudonym_key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for LogKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKeys")
            .field("suite", &self.suite)
            .field("verifiers", &self.verifiers())
            .finish_non_exhaustive()
    }
}

pub fn keys_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("keys")
}

pub fn random_bytes<const N: usize>() -> Zeroizing<[u8; N]> {
    let mut b = Zeroizing::new([0u8; N]);
    getrandom::fill(b.as_mut()).expect("the operating system provides randomness");
    b
}

impl LogKeys {
    pub fn exist(data_dir: &Path) -> bool {
        keys_dir(data_dir).join(ED25519_FILE).exists()
    }

    /// Generate new keys for `origin`; refuses to overwrite existing keys.
    pub fn create(data_dir: &Path, origin: &str, suite: Suite) -> anyhow::Result<LogKeys> {
        let dir = keys_dir(data_dir);
        if dir.join(ED25519_FILE).exists() {
            bail!("keys already exist in {}", dir.display());
        }
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        let mut signers = vec![NoteSigner::generate_ed25519(origin, *random_bytes::<32>())?];
        if suite == Suite::Sm {
            // A random 256-bit value is a valid SM2 scalar with overwhelming probability; retry
            // on the rare rejection.
            let sm2 = loop {
                if let Ok(s) = NoteSigner::generate_sm2(origin, *random_bytes::<32>()) {
                    break s;
                }
            };
            signers.push(sm2);
        }
        let pseudonym_key = Zeroizing::new(random_bytes::<32>().to_vec());
        // The pseudonym key first, the Ed25519 key (whose presence means "keys exist") last.
        write_secret(&dir.join(PSEUDONYM_FILE), hex::encode(&*pseudonym_key).as_bytes())?;
        if let Some(sm2) = signers.get(1) {
            write_secret(&dir.join(SM2_FILE), sm2.to_skey().as_bytes())?;
        }
        write_secret(&dir.join(ED25519_FILE), signers[0].to_skey().as_bytes())?;
        sync_dir(&dir)?;
        Ok(LogKeys {
            suite,
            signers,
            pseudonym_key,
        })
    }

    pub fn load(data_dir: &Path) -> anyhow::Result<LogKeys> {
        let dir = keys_dir(data_dir);
        let ed = read_secret(&dir.join(ED25519_FILE))?;
        let mut signers = vec![NoteSigner::parse(ed.trim())?];
        let sm2_path = dir.join(SM2_FILE);
        let suite = if sm2_path.exists() {
            let sm2 = read_secret(&sm2_path)?;
            signers.push(NoteSigner::parse(sm2.trim())?);
            Suite::Sm
        } else {
            Suite::Intl
        };
        let hexkey = read_secret(&dir.join(PSEUDONYM_FILE))?;
        let pseudonym_key = Zeroizing::new(hex::decode(hexkey.trim()).context("pseudonym key is not hex")?);
        if pseudonym_key.len() != 32 {
            bail!("pseudonym key must be 32 bytes");
        }
        Ok(LogKeys {
            suite,
            signers,
            pseudonym_key,
        })
    }

    pub fn load_or_create(data_dir: &Path, origin: &str, suite: Suite) -> anyhow::Result<(LogKeys, bool)> {
        if Self::exist(data_dir) {
            Ok((Self::load(data_dir)?, false))
        } else {
            Ok((Self::create(data_dir, origin, suite)?, true))
        }
    }

    pub fn origin(&self) -> &str {
        self.signers[0].name()
    }

    pub fn verifiers(&self) -> Vec<VerifierKey> {
        self.signers.iter().map(NoteSigner::verifier).collect()
    }
}

fn write_secret(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    Ok(())
}

fn read_secret(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    check_secret_file(path)?;
    Ok(Zeroizing::new(
        fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    ))
}

/// Write a secret file atomically (a 0600 temporary file, fsync, rename, fsync of the directory),
/// replacing any previous version.
pub fn write_secret_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("secret file has no directory")?;
    if !dir.exists() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    sync_dir(dir)
}

/// Refuse a secret file that others may read.
pub fn check_secret_file(path: &Path) -> anyhow::Result<()> {
    let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{} is readable by others (mode {:o}); it must be 0600",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_once_with_private_modes_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let (k, created) = LogKeys::load_or_create(dir.path(), "example.org/log", Suite::Sm).unwrap();
        assert!(created);
        assert_eq!(k.signers.len(), 2);
        for f in [ED25519_FILE, SM2_FILE, PSEUDONYM_FILE] {
            let mode = fs::metadata(keys_dir(dir.path()).join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        let (again, created) = LogKeys::load_or_create(dir.path(), "other/log", Suite::Intl).unwrap();
        assert!(!created);
        assert_eq!(again.suite, Suite::Sm);
        assert_eq!(again.origin(), "example.org/log");
        assert_eq!(again.verifiers(), k.verifiers());
        assert_eq!(*again.pseudonym_key, *k.pseudonym_key);
        assert!(LogKeys::create(dir.path(), "example.org/log", Suite::Intl).is_err());
        assert!(!format!("{k:?}").contains("PRIVATE"));
    }

    #[test]
    fn loose_permissions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        LogKeys::create(dir.path(), "example.org/log", Suite::Intl).unwrap();
        let p = keys_dir(dir.path()).join(ED25519_FILE);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(LogKeys::load(dir.path()).is_err());
    }
}
