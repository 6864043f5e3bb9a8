//! Large records in an S3-compatible bucket, through the `tianping` binary: `serve` and
//! `vault audit` configured for S3 against a local moto server. moto is installed on first use
//! into `<workspace>/.s3-moto` (by `support/moto-setup.sh`, under a file lock), or taken from
//! `TIANPING_MOTO_SERVER` (the path of a `moto_server` executable). Nothing is skipped: without
//! moto this test fails.

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::json;
use support::{spawn_server, status_of, stdout, terminate, tianping};

const BUCKET: &str = "tianping-blobs";
const PREFIX: &str = "tenant-a/prod";
const ACCESS_KEY_ID: &str = "tianping-test";
const SECRET_ACCESS_KEY: &str = "s3-test-secret-never-logged";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `moto_server` executable: `TIANPING_MOTO_SERVER`, or installed into `<workspace>/.s3-moto`.
fn moto_server() -> PathBuf {
    if let Some(exe) = std::env::var_os("TIANPING_MOTO_SERVER").filter(|p| !p.is_empty()) {
        return exe.into();
    }
    let dir = workspace().join(".s3-moto");
    std::fs::create_dir_all(&dir).expect("create .s3-moto");
    // Test processes run in parallel: one installs, the others wait for it.
    let lock = File::create(dir.join(".setup.lock")).expect("create the setup lock");
    lock.lock().expect("lock .s3-moto");
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto-setup.sh"))
        .arg(&dir)
        .output()
        .expect("run moto-setup.sh");
    assert!(
        out.status.success(),
        "installing moto (PyPI: moto[server]) failed:\n{}",
        report(&out)
    );
    dir.join("venv/bin/moto_server")
}

fn report(out: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A moto server on a free loopback port, killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
    log: tempfile::NamedTempFile,
}

impl Moto {
    async fn start() -> Moto {
        let exe = moto_server();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Its request log goes to a file: an undrained pipe would fill up and stall it.
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(&exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", exe.display()));
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = moto.child.try_wait().unwrap() {
                panic!("moto_server exited ({status}):\n{}", moto.log());
            }
            let probe = http.get(format!("{}/moto-api/", moto.endpoint)).send().await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer within 60 s:\n{}",
                moto.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let created = http
            .put(format!("{}/{BUCKET}", moto.endpoint))
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success(), "creating the bucket: {created:?}");
        moto
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// The bucket as the test sees it (no prefix).
    fn bucket(&self) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_bucket_name(BUCKET)
            .with_region("us-east-1")
            .with_access_key_id(ACCESS_KEY_ID)
            .with_secret_access_key(SECRET_ACCESS_KEY)
            .build()
            .unwrap()
    }

    /// The server's configuration for this bucket, as `TIANPING__…` environment variables.
    fn config(&self) -> Vec<(&'static str, String)> {
        [
            ("TIANPING__VAULT__BLOB_STORE", "s3"),
            ("TIANPING__VAULT__S3__BUCKET", BUCKET),
            ("TIANPING__VAULT__S3__ENDPOINT", &self.endpoint),
            ("TIANPING__VAULT__S3__REGION", "us-east-1"),
            ("TIANPING__VAULT__S3__ALLOW_HTTP", "true"),
            ("TIANPING__VAULT__S3__ACCESS_KEY_ID", ACCESS_KEY_ID),
            ("TIANPING__VAULT__S3__SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
            ("TIANPING__VAULT__S3__PREFIX", PREFIX),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tianping ARGS --data-dir DIR` configured for the bucket, without any `AWS_*` variable of the
/// caller's environment.
fn tianping_s3(moto: &Moto, dir: &Path, args: &[&str]) -> Command {
    let mut c = tianping();
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| k.starts_with("AWS_")) {
            c.env_remove(k);
        }
    }
    c.args(args).arg("--data-dir").arg(dir).envs(moto.config());
    c
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A recording uploaded through the API lands in the bucket as ciphertext chunks under the
/// configured prefix, reads back decrypted, and a flipped byte in the bucket is caught by the
/// read and by `tianping vault audit`.
#[tokio::test]
async fn large_records_live_encrypted_in_an_s3_bucket() {
    let moto = Moto::start().await;
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let o = tianping_s3(&moto, dir, &["token", "create", "--name", "hospital-a"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", report(&o));
    let token = stdout(&o).lines().last().unwrap().to_owned();
    let (mut child, base, _) = spawn_server(&mut tianping_s3(
        &moto,
        dir,
        &["serve", "--listen", "127.0.0.1:0", "--metrics-listen", ""],
    ));
    let http = reqwest::Client::new();
    let auth = format!("Bearer {token}");

    // 2.5 MiB of recognisable plaintext: three data chunks.
    let marker = "患者-S3 录音明文 plaintext marker ";
    let recording: Vec<u8> = (0..)
        .flat_map(|i| format!("{marker}{i:07}\n").into_bytes())
        .take(5 << 19)
        .collect();
    let (code, up) = status_of(
        http.post(format!("{base}/api/v1/vault/uploads"))
            .header("authorization", &auth)
            .json(&json!({"kind": "consultation.recording", "subject": "患者-S3", "media_type": "audio/ogg"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 201, "{up}");
    let id = up["upload_id"].as_str().unwrap().to_owned();
    let chunk_size = up["chunk_size"].as_u64().unwrap() as usize;
    let (code, st) = status_of(
        http.patch(format!("{base}/api/v1/vault/uploads/{id}"))
            .header("authorization", &auth)
            .header("upload-offset", "0")
            .body(recording.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (code, st["offset"].as_u64()),
        (200, Some(recording.len() as u64)),
        "{st}"
    );
    let (code, done) = status_of(
        http.post(format!("{base}/api/v1/vault/uploads/{id}/complete"))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 201, "{done}");
    let content = format!("{base}/api/v1/vault/records/{id}/content");
    let read = || http.get(&content).header("authorization", &auth).send();
    let got = read().await.unwrap();
    assert_eq!(got.status(), 200);
    assert!(
        got.bytes().await.unwrap()[..] == recording[..],
        "the recording reads back"
    );

    // In the bucket: the data chunks and the empty final chunk under the prefix, and nothing
    // else anywhere; none of them holds plaintext. Nothing went to the local disk.
    let bucket = moto.bucket();
    let record_dir = ObjectPath::from(format!("{PREFIX}/records/{id}"));
    let listed = bucket.list_with_delimiter(Some(&record_dir)).await.unwrap();
    let mut names: Vec<String> = listed
        .objects
        .iter()
        .map(|m| m.location.filename().unwrap().to_owned())
        .collect();
    names.sort();
    let chunks = recording.len().div_ceil(chunk_size) + 1;
    let expected: Vec<String> = (0..chunks).map(|i| format!("{i:08}")).collect();
    assert_eq!(names, expected);
    let top = bucket.list_with_delimiter(None).await.unwrap();
    assert!(top.objects.is_empty(), "{:?}", top.objects);
    assert_eq!(top.common_prefixes, [ObjectPath::from("tenant-a")]);
    let chunk_path = |i: usize| ObjectPath::from(format!("{PREFIX}/records/{id}/{i:08}"));
    for i in 0..chunks {
        let object = bucket.get(&chunk_path(i)).await.unwrap().bytes().await.unwrap();
        assert!(!contains(&object, marker.as_bytes()), "chunk {i} holds plaintext");
    }
    assert!(!dir.join("blobs").exists(), "no local blob directory");

    // One flipped byte in the bucket: the read fails as an integrity failure, no partial content.
    let original = bucket.get(&chunk_path(1)).await.unwrap().bytes().await.unwrap();
    let mut flipped = original.to_vec();
    flipped[1000] ^= 0x80;
    bucket
        .put(&chunk_path(1), PutPayload::from(flipped))
        .await
        .unwrap();
    let (code, err) = status_of(read().await.unwrap()).await;
    assert_eq!(
        (code, err["code"].as_str()),
        (500, Some("integrity_failure")),
        "{err}"
    );
    assert_eq!(terminate(&mut child).code(), Some(0));

    // Logging everything, so the check below sees whatever the configuration might leak.
    let audit = || {
        tianping_s3(&moto, dir, &["vault", "audit"])
            .env("TIANPING_LOG", "debug")
            .output()
            .unwrap()
    };
    let o = audit();
    assert_eq!(o.status.code(), Some(1), "{}", report(&o));
    let finding = stdout(&o);
    assert!(
        finding
            .lines()
            .any(|l| l.contains(&format!("record {id}")) && l.contains("chunk 1")),
        "{}",
        report(&o)
    );
    bucket
        .put(&chunk_path(1), PutPayload::from(original))
        .await
        .unwrap();
    let o = audit();
    assert_eq!(o.status.code(), Some(0), "restored: {}", report(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("large records in S3"));
    for out in [&o.stdout, &o.stderr] {
        assert!(
            !contains(out, SECRET_ACCESS_KEY.as_bytes()),
            "the secret is never printed"
        );
    }
}

/// A bucket that does not exist stops every command at startup with a clear error, before anything
/// is written (rather than failing the first recording).
#[tokio::test]
async fn a_missing_bucket_is_refused_at_startup() {
    let moto = Moto::start().await;
    let data = tempfile::tempdir().unwrap();
    let o = tianping_s3(&moto, data.path(), &["vault", "audit"])
        .env("TIANPING__VAULT__S3__BUCKET", "no-such-bucket")
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", report(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the object store for large records does not answer"),
        "{}",
        report(&o)
    );
    assert!(
        !err.contains(SECRET_ACCESS_KEY),
        "the secret stays out of the error"
    );
    // The same command against the real bucket runs.
    let o = tianping_s3(&moto, data.path(), &["vault", "audit"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", report(&o));
}
