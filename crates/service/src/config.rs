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
}

const DEFAULTS: &str = r#"
data_dir = "data"
database_url = ""
listen = "127.0.0.1:8080"
metrics_listen = "127.0.0.1:9464"

[log]
origin = "tianping.localhost/log"
suite = "intl"
max_batch = 2048
max_content_bytes = 65536
tile_cache = 2048
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

        std::fs::write(dir.path().join("bad.toml"), "no_such_key = 1\n").unwrap();
        assert!(Settings::load(Some(&dir.path().join("bad.toml")), None).is_err());
    }
}
