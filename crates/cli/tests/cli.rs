//! The `tianping` binary driven as a user would: real processes, real ports, SIGKILL.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use support::{spawn_server, status_of, stdout, terminate, tianping};
use tianping_log::checkpoint::open_checkpoint;
use tianping_log::note::VerifierKey;
use tianping_log::tile::{TILE_WIDTH, TileRef, split_entry_bundle};
use tianping_store::testing::TestDb;
use tokio::sync::{Mutex, Notify};

fn run(args: &[&str]) -> Output {
    tianping().args(args).output().unwrap()
}

/// Where a test's data lives and which database it uses.
struct Target {
    dir: tempfile::TempDir,
    db_url: Option<String>,
}

impl Target {
    fn new(db: &TestDb) -> Target {
        let dir = tempfile::tempdir().unwrap();
        let db_url = (db.backend == tianping_store::Backend::Postgres).then(|| db.url.clone());
        Target { dir, db_url }
    }

    fn data_dir(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    /// `--data-dir DIR [--database-url URL]`.
    fn args(&self) -> Vec<String> {
        let mut v = vec!["--data-dir".to_owned(), self.data_dir().to_owned()];
        if let Some(u) = &self.db_url {
            v.push("--database-url".into());
            v.push(u.clone());
        }
        v
    }

    fn cmd(&self, sub: &[&str]) -> Output {
        let mut args: Vec<String> = sub.iter().map(|s| s.to_string()).collect();
        args.extend(self.args());
        tianping().args(&args).output().unwrap()
    }

    fn token(&self, name: &str) -> String {
        let o = self.cmd(&["token", "create", "--name", name]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        stdout(&o).lines().last().unwrap().to_owned()
    }

    /// Start `tianping serve` on a free port; returns the process and its base URL.
    fn serve(&self, envs: &[(&str, &str)]) -> (Child, String) {
        let (child, base, _) = self.serve_with(envs, "");
        (child, base)
    }

    /// Start `tianping serve` with a metrics address; also returns the metrics URL, if any.
    fn serve_with(&self, envs: &[(&str, &str)], metrics: &str) -> (Child, String, Option<String>) {
        let mut args = vec!["serve".to_owned(), "--listen".into(), "127.0.0.1:0".into()];
        args.extend(["--metrics-listen".to_owned(), metrics.to_owned()]);
        args.extend(self.args());
        spawn_server(tianping().args(&args).envs(envs.iter().copied()))
    }
}

async fn get_text(http: &reqwest::Client, url: String) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}

async fn append(http: &reqwest::Client, base: &str, token: &str, body: &Value) -> reqwest::Result<Value> {
    http.post(format!("{base}/api/v1/log/entries"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
}

#[test]
fn token_create_prints_the_token_last_and_names_are_unique() {
    let db = TestDb::sqlite();
    let t = Target::new(&db);
    let token = t.token("partner-a");
    assert!(token.starts_with("tp_") && token.len() > 40, "{token}");
    let again = t.cmd(&["token", "create", "--name", "partner-a"]);
    assert!(!again.status.success());
    let bad = t.cmd(&["token", "create", "--name", "has space"]);
    assert!(!bad.status.success());
    assert!(
        t.cmd(&["token", "revoke", "--name", "partner-a"])
            .status
            .success()
    );
    assert!(stdout(&t.cmd(&["token", "list"])).contains("partner-a\trevoked"));
    assert!(!t.cmd(&["token", "revoke", "--name", "nobody"]).status.success());
}

#[test]
fn keygen_makes_private_keys_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let o = run(&[
        "keygen",
        "--data-dir",
        d,
        "--suite",
        "sm",
        "--origin",
        "sm.example/log",
    ]);
    assert!(o.status.success());
    let vkeys: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    assert_eq!(vkeys.len(), 2, "Ed25519 and SM2 keys");
    for v in &vkeys {
        assert!(VerifierKey::parse(v).unwrap().name() == "sm.example/log");
    }
    for f in std::fs::read_dir(dir.path().join("keys")).unwrap() {
        let mode = f.unwrap().metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        !run(&["keygen", "--data-dir", d]).status.success(),
        "keys are never overwritten"
    );
}

#[tokio::test]
async fn serve_append_export_and_verify_offline() {
    for db in TestDb::all().await {
        let t = Target::new(&db);
        let token = t.token("partner-a");
        let (mut child, base) = t.serve(&[("TIANPING__LOG__ORIGIN", "evidence.example.cn/log")]);
        let http = reqwest::Client::new();
        let vkey = get_text(&http, format!("{base}/log/vkey")).await;
        assert!(
            vkey.starts_with("evidence.example.cn/log+"),
            "environment layer applied: {vkey}"
        );
        let content = json!({"处方": {"药品": "舍曲林", "剂量": "50mg"}, "医生": "D-17"});
        let mut receipt = Value::Null;
        for _ in 0..3 {
            receipt = append(
                &http,
                &base,
                &token,
                &json!({"kind": "consultation.prescription", "subject": "患者-1", "content": content}),
            )
            .await
            .unwrap();
        }
        let index = receipt["index"].as_u64().unwrap();
        let proof = get_text(&http, format!("{base}/api/v1/log/entries/{index}/proof")).await;
        assert_eq!(terminate(&mut child).code(), Some(0), "graceful stop on SIGTERM");

        let dir = t.dir.path();
        std::fs::write(dir.join("policy"), format!("log {vkey}quorum none\n")).unwrap();
        std::fs::write(dir.join("entry.tlog-proof"), &proof).unwrap();
        std::fs::write(
            dir.join("content.json"),
            serde_json::to_vec_pretty(&content).unwrap(),
        )
        .unwrap();
        let verify = |proof: &Path, extra: &[&str]| {
            let mut args = vec![
                "verify",
                "--policy",
                dir.join("policy").to_str().unwrap().to_owned().leak(),
            ];
            args.push(proof.to_str().unwrap().to_owned().leak());
            args.extend_from_slice(extra);
            run(&args)
        };
        let ok = verify(&dir.join("entry.tlog-proof"), &[]);
        assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
        assert!(stdout(&ok).contains("证明有效") && stdout(&ok).contains("VALID"));
        let salt = receipt["commitment_salt"].as_str().unwrap();
        let content_path = dir.join("content.json");
        let with_content = verify(
            &dir.join("entry.tlog-proof"),
            &["--content", content_path.to_str().unwrap(), "--salt", salt],
        );
        assert_eq!(with_content.status.code(), Some(0), "{}", stdout(&with_content));
        let wrong_salt = B64.encode([0u8; 32]);
        let bad_content = verify(
            &dir.join("entry.tlog-proof"),
            &["--content", content_path.to_str().unwrap(), "--salt", &wrong_salt],
        );
        assert_eq!(bad_content.status.code(), Some(1));

        // Any single changed byte makes the proof invalid.
        let bytes = proof.as_bytes();
        let tampered = dir.join("tampered.tlog-proof");
        for i in 0..bytes.len() {
            let mut b = bytes.to_vec();
            b[i] ^= 0x01;
            std::fs::write(&tampered, &b).unwrap();
            let o = verify(&tampered, &[]);
            assert_eq!(o.status.code(), Some(1), "byte {i} changed: {}", stdout(&o));
            assert!(stdout(&o).contains("INVALID"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_appends_survive_sigkill() {
    for db in TestDb::all().await {
        let t = Target::new(&db);
        let token = t.token("crash");
        let acked: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
        for round in 1..=4usize {
            let (mut child, base) = t.serve(&[]);
            let count = Arc::new(AtomicUsize::new(0));
            let progress = Arc::new(Notify::new());
            let mut tasks = Vec::new();
            for w in 0..16 {
                let (base, token, acked, count, progress) = (
                    base.clone(),
                    token.clone(),
                    acked.clone(),
                    count.clone(),
                    progress.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    let http = reqwest::Client::new();
                    for i in 0.. {
                        let body = json!({"kind": "crash.test", "subject": format!("s{w}"), "content": {"round": round, "i": i}});
                        let Ok(r) = append(&http, &base, &token, &body).await else { break };
                        acked.lock().await.push((r["index"].as_u64().unwrap(), r["leaf_hash"].as_str().unwrap().to_owned()));
                        count.fetch_add(1, Ordering::SeqCst);
                        progress.notify_one();
                    }
                }));
            }
            // Kill once this round has had a few hundred acknowledgements, mid-load.
            while count.load(Ordering::SeqCst) < 200 {
                progress.notified().await;
            }
            child.kill().unwrap();
            child.wait().unwrap();
            for task in tasks {
                task.await.unwrap();
            }
        }

        let audit = t.cmd(&["log", "audit"]);
        assert_eq!(
            audit.status.code(),
            Some(0),
            "{}{}",
            stdout(&audit),
            String::from_utf8_lossy(&audit.stderr)
        );
        assert!(stdout(&audit).contains("audit passed"));

        let (mut child, base) = t.serve(&[]);
        let http = reqwest::Client::new();
        let vkey = get_text(&http, format!("{base}/log/vkey")).await;
        let note = get_text(&http, format!("{base}/log/checkpoint")).await;
        let (cp, _) = open_checkpoint(&note, &[VerifierKey::parse(vkey.trim()).unwrap()]).unwrap();
        let mut leaves = Vec::new();
        for n in 0..cp.size.div_ceil(TILE_WIDTH) {
            let width = (cp.size - n * TILE_WIDTH).min(TILE_WIDTH) as u16;
            let url = format!("{base}/log/tile/{}", TileRef::Entries { index: n, width }.path());
            let bundle = http.get(url).send().await.unwrap().bytes().await.unwrap();
            for entry in split_entry_bundle(&bundle).unwrap() {
                leaves.push(B64.encode(tianping_log::HashAlg::Sha256.leaf_hash(entry)));
            }
        }
        let acked = acked.lock().await;
        assert!(acked.len() >= 800);
        let mut seen = std::collections::HashSet::new();
        for (index, leaf) in acked.iter() {
            assert!(seen.insert(*index), "index {index} acknowledged twice");
            assert!(
                *index < cp.size,
                "acknowledged index {index} lost (size {})",
                cp.size
            );
            assert_eq!(&leaves[*index as usize], leaf, "entry {index} changed");
        }
        terminate(&mut child);
    }
}

#[tokio::test]
async fn audit_reports_the_first_divergence() {
    let db = TestDb::sqlite();
    let t = Target::new(&db);
    let token = t.token("p");
    let (mut child, base) = t.serve(&[]);
    let http = reqwest::Client::new();
    for i in 0..300 {
        append(
            &http,
            &base,
            &token,
            &json!({"kind": "log.test", "subject": "s", "content": i}),
        )
        .await
        .unwrap();
    }
    terminate(&mut child);
    assert_eq!(t.cmd(&["log", "audit"]).status.code(), Some(0));

    let url = format!("sqlite://{}", t.dir.path().join("tianping.db").display());
    let store = tianping_store::Db::connect(&url).await.unwrap();
    let exec = |sql: &'static str| {
        let pool = store.pool().clone();
        async move { sqlx::query(sql).execute(&pool).await.unwrap() }
    };
    exec("UPDATE log_tiles SET nodes = zeroblob(length(nodes)) WHERE level = 0 AND idx = 0").await;
    let o = t.cmd(&["log", "audit"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("tile"), "{}", stdout(&o));

    exec("DELETE FROM log_entries WHERE idx = 299").await;
    let o = t.cmd(&["log", "audit"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("first divergence"), "{}", stdout(&o));
    store.close().await;
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener() {
    let db = TestDb::sqlite();
    let t = Target::new(&db);
    let token = t.token("m");
    let (mut child, base, metrics) = t.serve_with(&[], "127.0.0.1:0");
    let metrics = metrics.expect("metrics listener announced");
    let http = reqwest::Client::new();
    append(
        &http,
        &base,
        &token,
        &json!({"kind": "log.test", "subject": "s", "content": 1}),
    )
    .await
    .unwrap();
    let text = get_text(&http, metrics).await;
    assert!(text.contains("tianping_log_appends_total 1"), "{text}");
    assert!(text.contains("tianping_http_request_seconds"), "{text}");
    let public = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(
        public.status().as_u16(),
        404,
        "metrics are not on the public listener"
    );
    terminate(&mut child);
}

fn kv(out: &str, key: &str) -> u64 {
    out.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} missing in {out}"))
        .parse()
        .unwrap()
}

/// The vault end to end through the binary and its API: records and a resumable large upload,
/// reads, the subject export verified offline, holds blocking the purge job, lawful deletion with
/// tombstones (the log still audits), storage-only after an erasure request, tampering detected
/// by `tianping vault audit`, and key rotation without re-encryption.
#[tokio::test]
async fn vault_lifecycle_through_the_binary() {
    let db = TestDb::sqlite();
    let t = Target::new(&db);
    let token = t.token("hospital-a");
    let (mut child, base) = t.serve(&[]);
    // No pooled connections: the server restarts below, possibly on the same port.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let auth = format!("Bearer {token}");
    let get = |base: &str, path: &str| {
        http.get(format!("{base}{path}"))
            .header("authorization", &auth)
            .send()
    };
    let post = |base: &str, path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .header("authorization", &auth)
            .json(&body)
            .send()
    };
    // Chat of consultation c1 (retention counts from the consultation's end: IDS-19).
    let mut chat = Vec::new();
    for i in 0..3 {
        let r = append(
            &http,
            &base,
            &token,
            &json!({"kind": "consultation.message", "subject": "患者-1", "consultation": "c1",
                    "content": {"text": format!("胸痛 {i}")}}),
        )
        .await
        .unwrap();
        chat.push(r["record_id"].as_str().unwrap().to_owned());
    }
    // A recording of 2.5 MiB, uploaded in two parts with a wrong-offset attempt in between.
    let recording: Vec<u8> = (0..(5u32 << 19)).map(|i| (i % 251) as u8).collect();
    let (code, up) = status_of(
        post(
            &base,
            "/api/v1/vault/uploads",
            json!({"kind": "consultation.recording", "subject": "患者-1", "consultation": "c1",
                   "media_type": "audio/ogg"}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 201, "{up}");
    let upload = up["upload_id"].as_str().unwrap().to_owned();
    let patch = |offset: u64, body: Vec<u8>| {
        http.patch(format!("{base}/api/v1/vault/uploads/{upload}"))
            .header("authorization", &auth)
            .header("upload-offset", offset.to_string())
            .body(body)
            .send()
    };
    let first = 1_500_000usize;
    let (code, st) = status_of(patch(0, recording[..first].to_vec()).await.unwrap()).await;
    assert_eq!((code, st["offset"].as_u64()), (200, Some(first as u64)), "{st}");
    let (code, err) = status_of(patch(0, recording[first..first + 10].to_vec()).await.unwrap()).await;
    assert_eq!((code, err["code"].as_str()), (409, Some("conflict")), "{err}");
    let (code, st) = status_of(
        get(&base, &format!("/api/v1/vault/uploads/{upload}"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((code, st["offset"].as_u64()), (200, Some(first as u64)));
    let (code, _) = status_of(patch(first as u64, recording[first..].to_vec()).await.unwrap()).await;
    assert_eq!(code, 200);
    let (code, done) = status_of(
        post(
            &base,
            &format!("/api/v1/vault/uploads/{upload}/complete"),
            json!(null),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 201, "{done}");
    assert_eq!(done["record_id"].as_str(), Some(upload.as_str()));
    let got = http
        .get(format!("{base}/api/v1/vault/records/{upload}/content"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(got.headers()["content-type"], "audio/ogg");
    assert!(
        got.bytes().await.unwrap()[..] == recording[..],
        "the recording reads back"
    );

    // Outpatient records of another subject (15 years from the consultation's end).
    let rx = append(
        &http,
        &base,
        &token,
        &json!({"kind": "consultation.prescription", "subject": "患者-2", "content": {"药品": "舍曲林"}}),
    )
    .await
    .unwrap();
    let rx_id = rx["record_id"].as_str().unwrap().to_owned();

    // The export of 患者-1: every record with a proof that verifies offline, content included.
    let export: Value = http
        .get(format!("{base}/api/v1/vault/subjects/患者-1/export"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let records = export["records"].as_array().unwrap();
    assert_eq!(records.len(), 4, "{export}");
    assert_eq!(records[0]["content"]["text"], "胸痛 0");
    assert_eq!(records[3]["blob"], true);
    let vkey = get_text(&http, format!("{base}/log/vkey")).await;
    let dir = t.dir.path();
    std::fs::write(dir.join("policy"), format!("log {vkey}quorum none\n")).unwrap();
    std::fs::write(dir.join("r0.tlog-proof"), records[0]["proof"].as_str().unwrap()).unwrap();
    std::fs::write(dir.join("r0.json"), b"{\"text\": \"\xe8\x83\xb8\xe7\x97\x9b 0\"}").unwrap();
    let o = run(&[
        "verify",
        "--policy",
        dir.join("policy").to_str().unwrap(),
        dir.join("r0.tlog-proof").to_str().unwrap(),
        "--content",
        dir.join("r0.json").to_str().unwrap(),
        "--salt",
        records[0]["commitment_salt"].as_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));

    // A hold on c1, then c1 closes long ago: its chat is past retention but held.
    let (code, hold) = status_of(
        post(
            &base,
            "/api/v1/vault/holds",
            json!({"scope": "consultation", "target": "c1", "reason": "纠纷 2026-17"}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 201, "{hold}");
    let hold_id = hold["hold_id"].as_str().unwrap().to_owned();
    let (code, _) = status_of(
        post(
            &base,
            "/api/v1/vault/consultations/c1/close",
            json!({"ended_at_ms": 1_577_836_800_000u64}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 204);
    // The erasure request of 患者-2 during retention: storage-only, no reads (PIPL-47).
    let (code, er) = status_of(
        post(
            &base,
            "/api/v1/vault/subjects/患者-2/erasure",
            json!({"reason": "用户注销"}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((code, er["storage_only"].as_u64()), (200, Some(1)), "{er}");
    let (code, err) = status_of(
        get(&base, &format!("/api/v1/vault/records/{rx_id}"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((code, err["code"].as_str()), (451, Some("storage_only")), "{err}");
    terminate(&mut child);

    let dry = stdout(&t.cmd(&["retention", "run", "--dry-run"]));
    assert_eq!((kv(&dry, "held"), kv(&dry, "shredded")), (4, 0), "{dry}");

    let (mut child, base) = t.serve(&[]);
    let released = http
        .delete(format!("{base}/api/v1/vault/holds/{hold_id}"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(released.status().as_u16(), 204);
    terminate(&mut child);

    let dry = stdout(&t.cmd(&["retention", "run", "--dry-run"]));
    assert_eq!((kv(&dry, "held"), kv(&dry, "shredded")), (0, 4), "{dry}");
    let o = t.cmd(&["retention", "run"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(kv(&out, "shredded"), 4, "{out}");
    assert_eq!(kv(&out, "blobs_deleted"), 1, "{out}");
    assert_eq!(kv(&out, "subject_keys_destroyed"), 1, "{out}");
    assert!(
        !dir.join("blobs/records").join(&upload).exists(),
        "blob chunks deleted"
    );
    let o = t.cmd(&["log", "audit"]);
    assert_eq!(o.status.code(), Some(0), "the log still verifies: {}", stdout(&o));
    let o = t.cmd(&["vault", "audit"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(kv(&stdout(&o), "shredded"), 4);

    let (mut child, base) = t.serve(&[]);
    for id in &chat {
        let (code, err) = status_of(get(&base, &format!("/api/v1/vault/records/{id}")).await.unwrap()).await;
        assert_eq!((code, err["code"].as_str()), (410, Some("shredded")));
    }
    // Under a hold on the subject, the storage-only record may be read again.
    let (code, _) = status_of(
        post(
            &base,
            "/api/v1/vault/holds",
            json!({"scope": "subject", "target": "患者-2", "reason": "诉讼保全"}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 201);
    let (code, rec) = status_of(
        get(&base, &format!("/api/v1/vault/records/{rx_id}?purpose=dispute"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (code, rec["content"]["药品"].as_str()),
        (200, Some("舍曲林")),
        "{rec}"
    );
    // A fresh recording for the tampering checks below.
    let (_, up) = status_of(
        post(
            &base,
            "/api/v1/vault/uploads",
            json!({"kind": "consultation.recording", "subject": "患者-3", "media_type": "video/mp4"}),
        )
        .await
        .unwrap(),
    )
    .await;
    let upload2 = up["upload_id"].as_str().unwrap().to_owned();
    let patch2 = |base: &str, offset: usize, body: &[u8]| {
        http.patch(format!("{base}/api/v1/vault/uploads/{upload2}"))
            .header("authorization", &auth)
            .header("upload-offset", offset.to_string())
            .body(body.to_vec())
            .send()
    };
    let (code, _) = status_of(patch2(&base, 0, &recording[..1 << 20]).await.unwrap()).await;
    assert_eq!(code, 200);
    // kill -9 in the middle of the upload: no record appears, and the upload resumes where its
    // durable offset says.
    child.kill().unwrap();
    child.wait().unwrap();
    let (mut child, base) = t.serve(&[]);
    let (_, export) = status_of(get(&base, "/api/v1/vault/subjects/患者-3/export").await.unwrap()).await;
    assert_eq!(
        export["records"].as_array().map(Vec::len),
        Some(0),
        "no orphan record: {export}"
    );
    let (code, st) = status_of(
        get(&base, &format!("/api/v1/vault/uploads/{upload2}"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((code, st["offset"].as_u64()), (200, Some(1 << 20)), "{st}");
    let (code, _) = status_of(patch2(&base, 1 << 20, &recording[1 << 20..]).await.unwrap()).await;
    assert_eq!(code, 200);
    let (code, _) = status_of(
        post(
            &base,
            &format!("/api/v1/vault/uploads/{upload2}/complete"),
            json!(null),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 201);
    terminate(&mut child);
    assert_eq!(t.cmd(&["vault", "audit"]).status.code(), Some(0));

    // Key rotation re-wraps subject keys; everything still decrypts.
    let o = t.cmd(&["keys", "rotate"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(kv(&stdout(&o), "rewrapped") >= 2, "{}", stdout(&o));
    let mode = std::fs::metadata(dir.join("keys/keyring.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        t.cmd(&["vault", "audit"]).status.code(),
        Some(0),
        "after rotation"
    );

    // Tampering: one byte of a stored ciphertext, then one byte of a blob chunk.
    let url = format!("sqlite://{}", dir.join("tianping.db").display());
    let store = tianping_store::Db::connect(&url).await.unwrap();
    let rec = tianping_store::vault::record(&store, &rx_id)
        .await
        .unwrap()
        .unwrap();
    let mut ct = rec.ciphertext.clone().unwrap();
    ct[20] ^= 0x01;
    sqlx::query("UPDATE vault_records SET ciphertext = $1 WHERE id = $2")
        .bind(ct)
        .bind(&rx_id)
        .execute(store.pool())
        .await
        .unwrap();
    let o = t.cmd(&["vault", "audit"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains(&format!("record {rx_id} (entry {})", rec.log_idx)),
        "{}",
        stdout(&o)
    );
    sqlx::query("UPDATE vault_records SET ciphertext = $1 WHERE id = $2")
        .bind(rec.ciphertext.clone())
        .bind(&rx_id)
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;
    assert_eq!(t.cmd(&["vault", "audit"]).status.code(), Some(0), "restored");

    let chunk = dir.join("blobs/records").join(&upload2).join("00000001");
    let original = std::fs::read(&chunk).unwrap();
    let mut flipped = original.clone();
    flipped[1000] ^= 0x80;
    std::fs::write(&chunk, &flipped).unwrap();
    let o = t.cmd(&["vault", "audit"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("chunk 1"), "{}", stdout(&o));
    let (mut child, base) = t.serve(&[]);
    let (code, err) = status_of(
        get(&base, &format!("/api/v1/vault/records/{upload2}/content"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (code, err["code"].as_str()),
        (500, Some("integrity_failure")),
        "no partial content"
    );
    terminate(&mut child);
    std::fs::remove_file(&chunk).unwrap();
    let o = t.cmd(&["vault", "audit"]);
    assert!(
        stdout(&o).contains("chunk 1 of record"),
        "a missing chunk: {}",
        stdout(&o)
    );
    std::fs::write(&chunk, &original).unwrap();
    assert_eq!(t.cmd(&["vault", "audit"]).status.code(), Some(0), "restored");

    // The export command writes the content and proofs of every readable record.
    let out = dir.join("export");
    let o = t.cmd(&[
        "export",
        "subject",
        "--subject",
        "患者-3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(out.join(format!("{upload2}.content"))).unwrap(),
        recording
    );
    assert!(out.join(format!("{upload2}.tlog-proof")).exists());
}

#[tokio::test]
async fn a_missing_keyring_is_refused_not_replaced() {
    let db = TestDb::sqlite();
    let t = Target::new(&db);
    let token = t.token("k");
    let (mut child, base) = t.serve(&[]);
    let http = reqwest::Client::new();
    append(
        &http,
        &base,
        &token,
        &json!({"kind": "consultation.message", "subject": "s", "content": "x"}),
    )
    .await
    .unwrap();
    terminate(&mut child);
    let keyring = t.dir.path().join("keys/keyring.json");
    let saved = std::fs::read(&keyring).unwrap();
    std::fs::remove_file(&keyring).unwrap();
    let o = t.cmd(&["vault", "audit"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("keyring"), "{o:?}");
    assert!(!keyring.exists(), "no new keyring was made");
    std::fs::write(&keyring, saved).unwrap();
    std::fs::set_permissions(&keyring, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        t.cmd(&["vault", "audit"]).status.code(),
        Some(0),
        "restored from backup"
    );
}

/// Seed 000 at the console: a patient's fees for one doctor's consultations, computed from what a
/// partner sent to the running server, with each payment's receipt.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn care_refund_prints_one_doctors_fees_with_their_receipts() {
    use tianping_identity::ids::{DisplayName, LicenceNumber, LoginName, Password, ResidentId};
    use tianping_identity::role::{OrgKind, Role};
    use tianping_service::identity::oversight::Verdict;
    use tianping_service::identity::{DoctorApplication, SignUp};

    let db = TestDb::sqlite();
    let t = Target::new(&db);
    // The people and the partner, set up through the library on the same data directory.
    let id_number = |n: u32| {
        let first17 = format!("1101011985060{n}00{n}");
        let check = ResidentId::check_character(&first17).unwrap();
        format!("{first17}{check}")
    };
    let (token, patient, yan, yan_lic, li_lic) = {
        let settings = tianping_service::Settings::load(None, Some(t.dir.path())).unwrap();
        let node = tianping_service::Node::open(settings).await.unwrap();
        let id = &node.identity;
        let hospital = id
            .create_org("北京安定医院", OrgKind::MedicalInstitution)
            .await
            .unwrap();
        let platform = id
            .create_org("好大夫在线", OrgKind::ConsultationPlatform)
            .await
            .unwrap();
        let signup = |login: &str, role: Role, n: Option<u32>, lic: Option<&str>| {
            let l = LoginName::parse(login).unwrap();
            SignUp {
                password: Password::parse("a long enough password", Some(&l)).unwrap(),
                login: l,
                display_name: DisplayName::parse("测试").unwrap(),
                role,
                resident_id: n.map(|n| ResidentId::parse(&id_number(n)).unwrap()),
                phone: None,
                doctor: lic.map(|lic| DoctorApplication {
                    licence: LicenceNumber::parse(lic).unwrap(),
                    institution_id: hospital.id.clone(),
                    specialty: "精神科".into(),
                    practice_years: 9,
                    evidence: vec![],
                }),
                orgs: vec![],
            }
        };
        let ops = id
            .register(signup("ops", Role::Operator, None, None))
            .await
            .unwrap();
        let ops = id.principal(&id.account(&ops).await.unwrap()).await.unwrap();
        let (yan_lic, li_lic) = ("110000000000301".to_owned(), "110000000000302".to_owned());
        let yan = id
            .register(signup("dr.yan", Role::Doctor, Some(1), Some(&yan_lic)))
            .await
            .unwrap();
        let li = id
            .register(signup("dr.li", Role::Doctor, Some(2), Some(&li_lic)))
            .await
            .unwrap();
        for d in [&yan, &li] {
            id.decide_doctor(&ops, d, Verdict::Verify, "核验通过")
                .await
                .unwrap();
        }
        let patient = id
            .register(signup("jiakui", Role::Patient, Some(3), None))
            .await
            .unwrap();
        let token = tianping_service::tokens::create_scoped(
            &node.db,
            "haodf",
            &["events:write".into()],
            Some(&platform.id),
        )
        .await
        .unwrap()
        .to_string();
        let tianping_service::Node {
            log,
            vault,
            identity,
            care,
            sequencer,
            db,
            _writer_lock,
            ..
        } = node;
        drop((log, vault, identity, care));
        sequencer.join().await;
        db.close().await;
        drop(_writer_lock);
        (token, patient, yan, yan_lic, li_lic)
    };
    let (mut child, base) = t.serve(&[]);
    let http = reqwest::Client::new();
    let mut expected = vec![];
    for (c, lic, fees) in [
        (
            "c-1",
            &yan_lic,
            vec![(541_000, "top_up"), (3000, "consultation_fee")],
        ),
        ("c-2", &li_lic, vec![(4000, "consultation_fee")]),
        ("c-3", &yan_lic, vec![(5000, "consultation_fee"), (2000, "drug")]),
    ] {
        let mut events = vec![json!({
            "idempotency_key": format!("{c}:0"), "consultation": c, "seq": 0, "type": "start",
            "patient_id_number": id_number(3), "doctor_licence": lic, "department": "psychiatry",
            "visit": "follow_up", "channel": "voice", "jurisdiction": "CN-11",
            "prior_records": [{"institution": "北京安定医院", "record_ref": "MZ-1", "diagnosis": "精神分裂症"}]
        })];
        for (i, (fee, purpose)) in fees.iter().enumerate() {
            events.push(
                json!({"idempotency_key": format!("{c}:{}", i + 1), "consultation": c, "seq": i + 1,
                "type": "payment", "fee_fen": fee, "purpose": purpose}),
            );
        }
        let resp: Value = http
            .post(format!("{base}/api/v1/care/events/batch"))
            .bearer_auth(&token)
            .json(&json!({ "events": events }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for (i, (fee, purpose)) in fees.iter().enumerate() {
            let r = &resp["results"][i + 1];
            assert_eq!(r["status"], 201, "{r}");
            if lic == &yan_lic && *purpose == "consultation_fee" {
                expected.push((r["receipt"]["index"].as_u64().unwrap(), *fee));
            }
        }
    }
    assert_eq!(terminate(&mut child).code(), Some(0));
    let out = t.cmd(&["care", "refund", "--patient", &patient, "--doctor", &yan]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert_eq!(text.lines().last(), Some("8000"), "{text}");
    let lines: Vec<(u64, i64)> = text
        .lines()
        .skip(1)
        .filter(|l| l.contains('\t'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[3].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect();
    assert_eq!(lines, expected, "{text}");
    // An unknown patient is an error, not an empty refund.
    let out = t.cmd(&["care", "refund", "--patient", "nobody", "--doctor", &yan]);
    assert!(!out.status.success());
}
