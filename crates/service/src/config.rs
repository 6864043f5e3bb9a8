//! Layered configuration: built-in defaults, then a TOML file, then `TIANPING__…` environment
//! variables (for example `TIANPING__LOG__ORIGIN`), then command-line flags (applied by the CLI).
//! There is no global configuration: a [`Settings`] value is passed to whatever needs it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where the embedded database, keys and files live.
    pub data_dir: PathBuf,
    /// Empty means the embedded SQLite database `<data_dir>/tianping.db`.
    pub database_url: String,
    /// Address of the public HTTP listener.
    pub listen: String,
    /// Address of the private Prometheus metrics listener; empty disables it.
    pub metrics_listen: String,
    pub log: LogSettings,
    pub vault: VaultSettings,
    pub identity: IdentitySettings,
    pub care: CareSettings,
}

/// Online care: ingestion, compliance rules, the duty queue.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CareSettings {
    /// A TOML rule book replacing the compiled-in one (`crates/care/rules/cn.toml`); empty: the default.
    pub rules_file: String,
    /// First-visit pilots (IDM-17) added to every rule set: `[[care.first_visit_pilots]]` with
    /// `jurisdiction` and `department`.
    pub first_visit_pilots: Vec<tianping_care::rules::Pilot>,
    /// Most events in one batch request.
    pub max_batch_events: usize,
    /// How often the duty clock looks for alerts past their acknowledgement deadline, in seconds.
    pub duty_clock_seconds: u64,
}

/// Accounts, sessions and login protection.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IdentitySettings {
    /// A session ends this many minutes after sign-in.
    pub session_minutes: u64,
    /// Failed password or second-factor attempts before the account is locked.
    pub max_failed_logins: i64,
    /// How long a locked account stays locked.
    pub lockout_minutes: u64,
    /// Mark cookies `Secure` (set when the server is reached over TLS, e.g. behind a proxy).
    pub secure_cookies: bool,
    /// Issuer shown in authenticator apps.
    pub totp_issuer: String,
    /// How long a doctor's verification holds before it must be renewed, in days.
    pub verification_days: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VaultSettings {
    /// Records of this many bytes or more live in object storage as encrypted chunks; smaller
    /// ones in the database.
    pub inline_max_bytes: usize,
    /// Where large records' chunks live: `local` (the directory `blob_dir`) or `s3` (the bucket of
    /// `[vault.s3]`; only in a build with the cargo feature `s3`).
    pub blob_store: BlobBackend,
    /// The local directory for large records; empty means `<data_dir>/blobs`.
    pub blob_dir: String,
    /// The S3-compatible bucket used when `blob_store = "s3"`.
    pub s3: S3Settings,
    /// Unwrapped subject keys kept in memory.
    pub key_cache: usize,
    /// Uploads left unfinished this long are removed by `tianping retention run`.
    pub upload_expiry_hours: u64,
    /// Retention classes by name (defaults from RULES.md: IDS-19, REC-OUT / REC-IN, ECL-31).
    pub retention: std::collections::BTreeMap<String, tianping_vault::retention::RetentionClass>,
    /// Class of a record whose kind matches no `kind_class` prefix.
    pub default_class: String,
    /// Kind prefix → retention class; the longest matching prefix (whole dotted segments) wins.
    pub kind_class: Vec<KindClass>,
}

/// The object store behind the vault's large records.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BlobBackend {
    /// Files under `vault.blob_dir`.
    Local,
    /// An S3-compatible bucket (`[vault.s3]`).
    S3,
}

/// An S3-compatible bucket for large records. Empty values are left to object_store's usual `AWS_*`
/// environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
/// `AWS_DEFAULT_REGION`, `AWS_ENDPOINT`, …) and then to its defaults; values set here win.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    pub bucket: String,
    /// The endpoint URL of an S3-compatible store (e.g. `http://127.0.0.1:9000`); empty: AWS's
    /// endpoint for the region. Requests are path-style (`ENDPOINT/BUCKET/KEY`).
    pub endpoint: String,
    /// Empty: from the environment, else `us-east-1`.
    pub region: String,
    /// Permit an `http://` endpoint (a store on a trusted network only: chunks are encrypted, but
    /// requests and credentials' signatures would travel in the clear).
    pub allow_http: bool,
    pub access_key_id: String,
    /// Never logged: `Debug` shows only whether it is set.
    pub secret_access_key: String,
    /// Every object's key starts with this (e.g. `tianping/prod`), so deployments can share a
    /// bucket; empty: none.
    pub prefix: String,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = if self.secret_access_key.is_empty() {
            ""
        } else {
            "<redacted>"
        };
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("allow_http", &self.allow_http)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &secret)
            .field("prefix", &self.prefix)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KindClass {
    pub prefix: String,
    pub class: String,
}

impl VaultSettings {
    /// The retention class of a record of `kind` (unless the source names one).
    pub fn class_for_kind(&self, kind: &str) -> &str {
        self.kind_class
            .iter()
            .filter(|k| kind == k.prefix || kind.strip_prefix(&k.prefix).is_some_and(|r| r.starts_with('.')))
            .max_by_key(|k| k.prefix.len())
            .map_or(self.default_class.as_str(), |k| k.class.as_str())
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// The log's origin line (a schema-less URL); also the name of its signing key.
    pub origin: String,
    /// Crypto suite chosen when the log is created: `intl` (SHA-256, Ed25519) or `sm`
    /// (SM3, SM2 + Ed25519). Ignored afterwards: the suite is recorded with the log.
    pub suite: String,
    /// Most entries committed in one transaction.
    pub max_batch: usize,
    /// Largest accepted content, in bytes of canonical JSON.
    pub max_content_bytes: usize,
    /// Full tiles kept in the proof cache (each at most 16 KiB).
    pub tile_cache: usize,
    /// Log entries between merges of new records into the index of records by subject (one sorted
    /// insert per merge instead of an index entry per record; migration 0006).
    pub subject_merge_every: u64,
}

const DEFAULTS: &str = r#"
data_dir = "data"
database_url = ""
listen = "127.0.0.1:8080"
metrics_listen = "127.0.0.1:9464"

[identity]
session_minutes = 720
max_failed_logins = 5
lockout_minutes = 15
secure_cookies = false
totp_issuer = "Tianping"
verification_days = 1095

[care]
rules_file = ""
first_visit_pilots = []
max_batch_events = 1000
duty_clock_seconds = 30

[log]
origin = "tianping.localhost/log"
suite = "intl"
max_batch = 2048
max_content_bytes = 65536
tile_cache = 2048
subject_merge_every = 4096

[vault]
inline_max_bytes = 65536
blob_store = "local"
blob_dir = ""
key_cache = 100000
upload_expiry_hours = 72
default_class = "outpatient_record"

[vault.s3]
bucket = ""
endpoint = ""
region = ""
allow_http = false
access_key_id = ""
secret_access_key = ""
prefix = ""

# IDS-19: chat and audio/video of internet diagnosis >= 3 years.
[vault.retention.chat_av]
years = 3
start = "consultation_end"
basis = ["IDS-19"]

# IDS-19, REC-OUT: internet diagnosis records are outpatient records, >= 15 years.
[vault.retention.outpatient_record]
years = 15
start = "consultation_end"
basis = ["IDS-19", "REC-OUT"]

# REC-IN: inpatient records >= 30 years (counted from the end of the episode).
[vault.retention.inpatient_record]
years = 30
start = "consultation_end"
basis = ["REC-IN"]

# ECL-31: service and transaction records >= 3 years after completion.
[vault.retention.transaction]
years = 3
start = "event"
basis = ["ECL-31"]

# The vault's own events (holds, tombstones, accesses, erasure requests): kept until deleted.
[vault.retention.vault_event]
years = 0
start = "event"
basis = []

[[vault.kind_class]]
prefix = "consultation.message"
class = "chat_av"

[[vault.kind_class]]
prefix = "consultation.recording"
class = "chat_av"

[[vault.kind_class]]
prefix = "consultation.attachment"
class = "chat_av"

[[vault.kind_class]]
prefix = "payment"
class = "transaction"

[[vault.kind_class]]
prefix = "vault"
class = "vault_event"
"#;

impl Settings {
    /// Load defaults, then `file` (if given; else `<data_dir>/tianping.toml` when it exists for
    /// the `data_dir` given), then the environment.
    pub fn load(file: Option<&Path>, data_dir: Option<&Path>) -> Result<Settings, config::ConfigError> {
        let mut builder =
            config::Config::builder().add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        let implicit = data_dir.map(|d| d.join("tianping.toml"));
        match (file, implicit) {
            (Some(f), _) => builder = builder.add_source(config::File::from(f).required(true)),
            (None, Some(f)) if f.exists() => {
                builder = builder.add_source(config::File::from(f).required(true))
            }
            _ => {}
        }
        builder = builder.add_source(
            config::Environment::with_prefix("TIANPING")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        if let Some(d) = data_dir {
            builder = builder.set_override("data_dir", d.to_string_lossy().into_owned())?;
        }
        builder.build()?.try_deserialize()
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("tianping.db").display())
        } else {
            self.database_url.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load(None, Some(dir.path())).unwrap();
        assert_eq!(s.log.suite, "intl");
        assert_eq!(s.data_dir, dir.path());
        assert!(s.database_url().starts_with("sqlite://"));

        std::fs::write(
            dir.path().join("tianping.toml"),
            "listen = \"0.0.0.0:9\"\n[log]\norigin = \"example.org/log\"\n",
        )
        .unwrap();
        let s = Settings::load(None, Some(dir.path())).unwrap();
        assert_eq!(s.listen, "0.0.0.0:9");
        assert_eq!(s.log.origin, "example.org/log");
        assert_eq!(s.log.max_batch, 2048, "untouched defaults survive");
        assert_eq!(s.vault.retention["chat_av"].years, 3);
        assert_eq!(s.vault.retention["inpatient_record"].years, 30);
        assert_eq!(s.vault.class_for_kind("consultation.message"), "chat_av");
        assert_eq!(s.vault.class_for_kind("consultation.message.edit"), "chat_av");
        assert_eq!(
            s.vault.class_for_kind("consultation.messages"),
            "outpatient_record"
        );
        assert_eq!(s.vault.class_for_kind("payment.refund"), "transaction");
        assert_eq!(s.vault.class_for_kind("vault.tombstone"), "vault_event");

        std::fs::write(dir.path().join("bad.toml"), "no_such_key = 1\n").unwrap();
        assert!(Settings::load(Some(&dir.path().join("bad.toml")), None).is_err());
    }

    #[test]
    fn blob_store_is_local_unless_s3_is_chosen_and_the_secret_is_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load(None, Some(dir.path())).unwrap();
        assert_eq!(s.vault.blob_store, BlobBackend::Local);
        std::fs::write(
            dir.path().join("tianping.toml"),
            "[vault]\nblob_store = \"s3\"\n[vault.s3]\nbucket = \"records\"\n\
             secret_access_key = \"wJalrXUtnFEMI-K7MDENG\"\n",
        )
        .unwrap();
        let s = Settings::load(None, Some(dir.path())).unwrap();
        assert_eq!(s.vault.blob_store, BlobBackend::S3);
        assert_eq!(
            (s.vault.s3.bucket.as_str(), s.vault.s3.region.as_str()),
            ("records", "")
        );
        let shown = format!("{s:?}");
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert!(shown.contains("secret_access_key: \"<redacted>\""), "{shown}");

        std::fs::write(dir.path().join("bad.toml"), "[vault]\nblob_store = \"gcs\"\n").unwrap();
        let err = Settings::load(Some(&dir.path().join("bad.toml")), None).unwrap_err();
        assert!(err.to_string().contains("gcs"), "{err}");
    }
}
