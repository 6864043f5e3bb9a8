//! The independent FHIR R5 validator of `../shared/tools/fhir`, installed on first use; shared by the
//! identity crate's tests and the web API tests (included with `#[path]`).

#![allow(dead_code)]

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn shared_fhir_tools() -> PathBuf {
    workspace().join("../shared/tools/fhir")
}

/// The validator's directory, installed on first use. A file lock keeps concurrent test processes from
/// installing it twice.
pub fn validator_dir() -> PathBuf {
    let dir = std::env::var_os("TIANPING_FHIR_VALIDATOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".fhir-validator"));
    let ready = |d: &Path| {
        d.join("venv/bin/python").exists() && d.join("defs/package/openapi/fhir.schema.json").exists()
    };
    if !ready(&dir) {
        fs::create_dir_all(&dir).expect("create the validator directory");
        let lock = File::create(dir.join(".setup.lock")).expect("create the setup lock");
        lock.lock().expect("lock the validator directory");
        if !ready(&dir) {
            let out = Command::new("bash")
                .arg(shared_fhir_tools().join("setup.sh"))
                .arg(&dir)
                .output()
                .expect("run setup.sh");
            assert!(out.status.success(), "setup.sh failed:\n{}", report(&out));
        }
    }
    dir
}

pub fn report(out: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs the validator on `files`.
pub fn validate(files: &[PathBuf]) -> Output {
    let dir = validator_dir();
    Command::new(dir.join("venv/bin/python"))
        .arg(dir.join("validate_fhir.py"))
        .arg("--defs")
        .arg(dir.join("defs/package"))
        .args(files)
        .output()
        .expect("run the validator")
}

pub fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let path = dir.join(format!("{name}.json"));
    fs::write(&path, serde_json::to_vec_pretty(v).expect("serialise")).expect("write resource");
    path
}
