//! The browser tests in `browser/tests/*.test.mjs`: playwright-core drives Debian's Chromium against
//! the real `tianping` binary. This test installs the npm packages when they are missing, runs
//! `node --test` over the test files and fails when any of them fails.
//!
//! Chromium is required, not optional: without it this test fails and says how to install it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/cli sits two levels below the workspace root")
        .to_path_buf()
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// The test files, sorted; given to node explicitly so no runner version's discovery rules matter.
fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".test.mjs"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn browser_tests_pass() {
    let root = workspace_root();
    let browser_dir = root.join("browser");

    let chromium = chromium();
    assert!(
        chromium.is_file(),
        "Chromium is needed for the browser tests and was not found at {}.\n\
         Install Debian's package: `apt-get install -y --no-install-recommends chromium fonts-noto-cjk` \
         (or point CHROMIUM at a Chromium binary). .ci/run installs it.",
        chromium.display()
    );
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        node_ok,
        "node is needed for the browser tests and was not found on PATH (Debian: apt-get install nodejs npm)"
    );

    if !browser_dir.join("node_modules/playwright-core").is_dir() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&browser_dir)
            .status()
            .expect("running npm ci in browser/");
        assert!(status.success(), "npm ci in browser/ failed: {status}");
    }

    let files = test_files(&browser_dir.join("tests"));
    assert!(!files.is_empty(), "no browser/tests/*.test.mjs files");

    // Output is inherited, so the runner's report lands in this test's output as it happens.
    let status = Command::new("node")
        .arg("--test")
        .arg("--test-concurrency=1")
        .arg("--test-timeout=120000")
        .args(&files)
        .current_dir(&root)
        .env("TIANPING_BIN", env!("CARGO_BIN_EXE_tianping"))
        .env("CHROMIUM", &chromium)
        .status()
        .expect("running node --test");
    assert!(
        status.success(),
        "browser tests failed ({status}); their report is above"
    );
}
