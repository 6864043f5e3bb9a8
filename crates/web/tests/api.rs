//! HTTP API tests: a real server on a loopback port per test, on SQLite and (when
//! TIANPING_TEST_DATABASE_URL is set) PostgreSQL.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use tianping_log::checkpoint::open_checkpoint;
use tianping_log::merkle::{MemoryTree, verify_consistency, verify_inclusion};
use tianping_log::note::VerifierKey;
use tianping_log::tile::{TILE_WIDTH, TileRef, split_entry_bundle};
use tianping_log::{Hash, HashAlg};
use tianping_service::{Node, Settings, tokens};
use tianping_store::testing::TestDb;
use tianping_web::AppState;
use tokio::sync::oneshot;

const MAX_CONTENT: usize = 4096;

#[path = "api/care.rs"]
mod care;
#[path = "api/care_pages.rs"]
mod care_pages;
#[path = "../../identity/tests/support/fhir_validator.rs"]
mod fhir_validator;
#[path = "api/identity.rs"]
mod identity;

struct Server {
    base: String,
    token: String,
    http: reqwest::Client,
    node_log: tianping_service::log::Log,
    vault: tianping_service::vault::Vault,
    identity: tianping_service::identity::Identity,
    care: tianping_service::care::Care,
    db: tianping_store::Db,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(db: &TestDb, suite: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::load(None, Some(dir.path())).unwrap();
        settings.database_url = db.url.clone();
        settings.log.suite = suite.into();
        settings.log.origin = "test.tianping.example/log".into();
        settings.log.max_content_bytes = MAX_CONTENT;
        // Merge new records into the subject index every few entries (not every 4,096), so exports,
        // erasure and shredding here find a subject's records in both the merged index and the tail.
        settings.log.subject_merge_every = 3;
        let node = Node::open(settings).await.unwrap();
        let token = tokens::create(&node.db, "partner-a").await.unwrap().to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(
            node.vault.clone(),
            node.identity.clone(),
            node.care.clone(),
            node.db.clone(),
            MAX_CONTENT,
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            tianping_web::serve(listener, None, state, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Server {
            base,
            token,
            http: reqwest::Client::new(),
            node_log: node.log,
            vault: node.vault,
            identity: node.identity,
            care: node.care,
            db: node.db,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn append(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url("/api/v1/log/entries"))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    async fn vkey(&self) -> VerifierKey {
        let text = self.get("/log/vkey").await.text().await.unwrap();
        VerifierKey::parse(text.trim_end()).unwrap()
    }
}

fn b64hashes(v: &Value) -> Vec<Vec<u8>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| B64.decode(h.as_str().unwrap()).unwrap())
        .collect()
}

async fn expect_problem(resp: reqwest::Response, status: u16, code: &str) {
    assert_eq!(resp.status().as_u16(), status, "expected {code}");
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/problem+json",
        "{code}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert!(!body["detail"].as_str().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_are_provable_from_proofs_and_tiles() {
    for (db, suite, alg) in [
        (TestDb::sqlite(), "intl", HashAlg::Sha256),
        (TestDb::sqlite(), "sm", HashAlg::Sm3),
    ]
    .into_iter()
    .chain(TestDb::postgres().await.map(|db| (db, "intl", HashAlg::Sha256)))
    {
        let server = Arc::new(Server::start(&db, suite).await);
        let vkey = server.vkey().await;
        let mut tasks = Vec::new();
        for t in 0..16 {
            let s = server.clone();
            tasks.push(tokio::spawn(async move {
                let mut receipts = Vec::new();
                for i in 0..40 {
                    let resp = s
                        .append(
                            &json!({"kind": "consultation.message", "subject": format!("patient-{t}"),
                                        "content": {"text": format!("第{i}条消息"), "seq": i}}),
                        )
                        .await;
                    assert_eq!(resp.status().as_u16(), 201);
                    receipts.push(resp.json::<Value>().await.unwrap());
                }
                receipts
            }));
        }
        let mut receipts = Vec::new();
        for t in tasks {
            receipts.extend(t.await.unwrap());
        }
        let mut indices: Vec<u64> = receipts.iter().map(|r| r["index"].as_u64().unwrap()).collect();
        indices.sort();
        assert_eq!(indices, (0..640).collect::<Vec<_>>(), "every index exactly once");

        // Each receipt: its checkpoint is signed by the log, covers its index, and proves it.
        let mut sizes = Vec::new();
        for r in &receipts {
            let (cp, _) =
                open_checkpoint(r["checkpoint"].as_str().unwrap(), std::slice::from_ref(&vkey)).unwrap();
            let index = r["index"].as_u64().unwrap();
            assert!(index < cp.size);
            let leaf = B64.decode(r["leaf_hash"].as_str().unwrap()).unwrap();
            let envelope = B64.decode(r["envelope"].as_str().unwrap()).unwrap();
            assert_eq!(alg.leaf_hash(&envelope).to_vec(), leaf);
            let p: Value = server
                .get(&format!(
                    "/api/v1/log/proof/inclusion?index={index}&size={}",
                    cp.size
                ))
                .await
                .json()
                .await
                .unwrap();
            verify_inclusion(alg, index, cp.size, &leaf, &b64hashes(&p["proof"]), &cp.root).unwrap();
            sizes.push((cp.size, cp.root));
        }
        sizes.sort();
        sizes.dedup();
        for w in sizes.windows(2) {
            let ((m, r1), (n, r2)) = (w[0], w[1]);
            let p: Value = server
                .get(&format!("/api/v1/log/proof/consistency?from={m}&to={n}"))
                .await
                .json()
                .await
                .unwrap();
            verify_consistency(alg, m, n, &b64hashes(&p["proof"]), &r1, &r2).unwrap();
        }

        // An independent recomputation: the tree from the entry bundles equals the checkpoint,
        // and every served tile matches that tree.
        let text = server.get("/log/checkpoint").await.text().await.unwrap();
        let (cp, _) = open_checkpoint(&text, std::slice::from_ref(&vkey)).unwrap();
        assert_eq!(cp.size, 640);
        let mut tree = MemoryTree::new(alg);
        let mut level0: Vec<Hash> = Vec::new();
        for n in 0..cp.size.div_ceil(TILE_WIDTH) {
            let width = (cp.size - n * TILE_WIDTH).min(TILE_WIDTH) as u16;
            let bundle = server
                .get(&format!(
                    "/log/tile/{}",
                    TileRef::Entries { index: n, width }.path()
                ))
                .await
                .bytes()
                .await
                .unwrap();
            for entry in split_entry_bundle(&bundle).unwrap() {
                let leaf = alg.leaf_hash(entry);
                tree.push(leaf);
                level0.push(leaf);
            }
            let tile = server
                .get(&format!(
                    "/log/tile/{}",
                    TileRef::Hashes {
                        level: 0,
                        index: n,
                        width
                    }
                    .path()
                ))
                .await
                .bytes()
                .await
                .unwrap();
            let expect: Vec<u8> = level0[(n * TILE_WIDTH) as usize..]
                .iter()
                .flatten()
                .copied()
                .collect();
            assert_eq!(tile.to_vec(), expect, "level-0 tile {n}");
        }
        assert_eq!(tree.size(), cp.size);
        assert_eq!(tree.root(), cp.root);
        let level1 = server
            .get(&format!(
                "/log/tile/{}",
                TileRef::Hashes {
                    level: 1,
                    index: 0,
                    width: 2
                }
                .path()
            ))
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(level1.len(), 64, "two full level-0 tiles give two level-1 hashes");

        // Storage holds only full level-0 tiles; the partial one (640 = 2 × 256 + 128) is rebuilt
        // from the entries' leaf hashes, which the audit (reading storage, not the live head) and
        // its consistency proofs between every pair of checkpoints rely on.
        let mut stored: Vec<(u64, u16)> = tianping_store::log::tiles(&server.db, &[(0, 0), (0, 1), (0, 2)])
            .await
            .unwrap()
            .iter()
            .map(|t| (t.idx, t.width))
            .collect();
        stored.sort();
        assert_eq!(stored, vec![(0, 256), (1, 256)]);
        let audit = tianping_service::log::audit(&server.db, alg, std::slice::from_ref(&vkey))
            .await
            .unwrap();
        assert_eq!(audit.divergence, None);
        assert_eq!(audit.entries, 640);

        let proof_text = server
            .get("/api/v1/log/entries/5/proof")
            .await
            .text()
            .await
            .unwrap();
        let policy = format!("log {vkey}\nquorum none\n");
        let report = tianping_log::verify::verify(&policy, &proof_text, None);
        assert!(report.valid(), "{}", report.render());

        let server = Arc::into_inner(server).unwrap();
        server.stop().await;
    }
}

#[tokio::test]
async fn an_exported_proof_and_its_content_verify_and_any_changed_byte_is_caught() {
    let db = TestDb::sqlite();
    let server = Server::start(&db, "intl").await;
    let content = json!({"message": "医生：建议线下就诊", "attachments": [1, 2]});
    let mut last = Value::Null;
    for i in 0..5 {
        last = server
            .append(&json!({"kind": "consultation.message", "subject": "p-1", "content": content, "occurred_at_ms": 1_700_000_000_000u64 + i}))
            .await
            .json()
            .await
            .unwrap();
    }
    let index = last["index"].as_u64().unwrap();
    let salt: [u8; 32] = B64
        .decode(last["commitment_salt"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let proof = server
        .get(&format!("/api/v1/log/entries/{index}/proof"))
        .await
        .text()
        .await
        .unwrap();
    let policy = format!("log {}\nquorum none\n", server.vkey().await);
    let pretty = serde_json::to_vec_pretty(&content).unwrap();
    let check = |proof: &str, content: &[u8]| {
        tianping_log::verify::verify(
            &policy,
            proof,
            Some(tianping_log::verify::ContentCheck { content, salt }),
        )
    };
    let report = check(&proof, &pretty);
    assert!(report.valid(), "{}", report.render());
    assert!(report.render().contains("内容与条目中的承诺一致"));
    assert!(!check(&proof, br#"{"message":"other"}"#).valid());
    let bytes = proof.as_bytes();
    for i in 0..bytes.len() {
        let mut b = bytes.to_vec();
        b[i] ^= 0x01;
        if let Ok(text) = String::from_utf8(b) {
            assert!(!check(&text, &pretty).valid(), "byte {i} changed and still valid");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_problem_and_writes_nothing() {
    for db in TestDb::all().await {
        let server = Server::start(&db, "intl").await;
        let ok = json!({"kind": "log.test", "subject": "s", "content": {"a": 1}});
        assert_eq!(server.append(&ok).await.status().as_u16(), 201);
        let size_before = server.node_log.head().size;
        let post = |body: &'static str, ctype: &'static str| {
            server
                .http
                .post(server.url("/api/v1/log/entries"))
                .bearer_auth(&server.token)
                .header("content-type", ctype)
                .body(body)
                .send()
        };
        expect_problem(
            post("{\"kind\":", "application/json").await.unwrap(),
            400,
            "invalid_json",
        )
        .await;
        expect_problem(post("[]", "application/json").await.unwrap(), 400, "invalid_body").await;
        expect_problem(
            post("{}", "text/plain").await.unwrap(),
            415,
            "unsupported_media_type",
        )
        .await;
        expect_problem(
            post(r#"{"kind":"log.test","subject":"s"}"#, "application/json")
                .await
                .unwrap(),
            400,
            "invalid_body",
        )
        .await;
        expect_problem(
            post(
                r#"{"kind":"log.test","subject":"s","content":1,"extra":2}"#,
                "application/json",
            )
            .await
            .unwrap(),
            400,
            "invalid_body",
        )
        .await;
        for kind in ["Consultation.Message", "message", "a..b", "", "咨询.消息"] {
            let r = server
                .append(&json!({"kind": kind, "subject": "s", "content": 1}))
                .await;
            expect_problem(r, 400, "invalid_kind").await;
        }
        for subject in ["", " padded", "a\u{0}b"] {
            let r = server
                .append(&json!({"kind": "log.test", "subject": subject, "content": 1}))
                .await;
            expect_problem(r, 400, "invalid_subject").await;
        }
        let big = "字".repeat(MAX_CONTENT);
        let r = server
            .append(&json!({"kind": "log.test", "subject": "s", "content": big}))
            .await;
        expect_problem(r, 413, "content_too_large").await;
        let huge = "x".repeat(MAX_CONTENT * 8);
        let r = server
            .append(&json!({"kind": "log.test", "subject": "s", "content": huge}))
            .await;
        expect_problem(r, 413, "payload_too_large").await;

        let anon = server
            .http
            .post(server.url("/api/v1/log/entries"))
            .json(&ok)
            .send()
            .await
            .unwrap();
        assert_eq!(anon.headers()["www-authenticate"], "Bearer");
        expect_problem(anon, 401, "unauthorized").await;
        let forged = server
            .http
            .post(server.url("/api/v1/log/entries"))
            .bearer_auth("tp_forged")
            .json(&ok)
            .send()
            .await
            .unwrap();
        expect_problem(forged, 401, "unauthorized").await;

        let size = server.node_log.head().size;
        assert_eq!(size, size_before, "nothing was written by bad requests");
        for (path, status, code) in [
            ("/api/v1/log/proof/inclusion?index=0", 400, "invalid_query"),
            ("/api/v1/log/proof/inclusion?index=x&size=1", 400, "invalid_query"),
            (
                "/api/v1/log/proof/inclusion?index=0&size=99",
                400,
                "size_beyond_tree",
            ),
            (
                "/api/v1/log/proof/inclusion?index=1&size=1",
                400,
                "index_out_of_range",
            ),
            (
                "/api/v1/log/proof/inclusion?index=0&size=0",
                400,
                "index_out_of_range",
            ),
            ("/api/v1/log/proof/consistency?from=0&to=1", 400, "invalid_range"),
            ("/api/v1/log/proof/consistency?from=2&to=1", 400, "invalid_range"),
            (
                "/api/v1/log/proof/consistency?from=1&to=99",
                400,
                "size_beyond_tree",
            ),
            ("/api/v1/log/proof/consistency?from=-1&to=1", 400, "invalid_query"),
            ("/api/v1/log/entries/99/proof", 404, "not_found"),
            ("/api/v1/log/entries/abc/proof", 400, "invalid_path"),
            ("/log/tile/0/x001", 400, "invalid_tile_path"),
            ("/log/tile/0/000.p/0", 400, "invalid_tile_path"),
            ("/log/tile/0/000.p/256", 400, "invalid_tile_path"),
            ("/log/tile/0/1", 400, "invalid_tile_path"),
            ("/log/tile/entries/000.p/", 400, "invalid_tile_path"),
            ("/log/tile/0/000", 404, "not_found"),
            ("/log/tile/0/000.p/2", 404, "not_found"),
            ("/log/tile/entries/001", 404, "not_found"),
            ("/log/tile/5/000.p/1", 404, "not_found"),
            ("/no/such/route", 404, "not_found"),
            ("/log/tile/0/x018/x446/x744/x073/x709/x551/615", 404, "not_found"),
            (
                "/log/tile/entries/x018/x446/x744/x073/x709/x551/615",
                404,
                "not_found",
            ),
            ("/log/tile/entries/x072/x057/x594/x037/x927/935", 404, "not_found"),
            (
                "/log/tile/0/x018/x446/x744/x073/x709/x551/616",
                400,
                "invalid_tile_path",
            ),
            ("/api/v1/log/entries/18446744073709551615/proof", 404, "not_found"),
            (
                "/api/v1/log/entries/18446744073709551616/proof",
                400,
                "invalid_path",
            ),
            (
                "/api/v1/log/proof/inclusion?index=18446744073709551615&size=18446744073709551615",
                400,
                "size_beyond_tree",
            ),
            (
                "/api/v1/log/proof/consistency?from=1&to=18446744073709551615",
                400,
                "size_beyond_tree",
            ),
        ] {
            let resp = server.get(path).await;
            assert_eq!(resp.status().as_u16(), status, "{path}");
            expect_problem(resp, status, code).await;
        }
        let put = server
            .http
            .put(server.url("/log/checkpoint"))
            .send()
            .await
            .unwrap();
        expect_problem(put, 405, "method_not_allowed").await;
        // The one good append is served.
        assert_eq!(
            server
                .get("/log/tile/0/000.p/1")
                .await
                .bytes()
                .await
                .unwrap()
                .len(),
            32
        );
        assert_eq!(
            server.get("/log/tile/entries/000.p/1").await.status().as_u16(),
            200
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn revoked_tokens_stop_working_at_once() {
    let db = TestDb::sqlite();
    let server = Server::start(&db, "intl").await;
    let ok = json!({"kind": "log.test", "subject": "s", "content": null});
    assert_eq!(server.append(&ok).await.status().as_u16(), 201);
    tokens::revoke(server.node_log.db(), "partner-a").await.unwrap();
    expect_problem(server.append(&ok).await, 401, "unauthorized").await;
    server.stop().await;
}

/// When the write-ahead log cannot be made durable (its fsync fails; here its path leads nowhere, so
/// the syncer cannot open it), the batch is not acknowledged, its entry is never published, and the log
/// stops taking appends until a restart recovers from storage.
#[tokio::test]
async fn a_failed_sync_acknowledges_nothing_and_stops_the_log() {
    let db = TestDb::sqlite();
    let server = Server::start(&db, "intl").await;
    let entry = json!({"kind": "log.test", "subject": "s", "content": 1});
    assert_eq!(server.append(&entry).await.status().as_u16(), 201);
    let published = server.get("/log/checkpoint").await.text().await.unwrap();
    // SQLite keeps writing through the file it has open; the path now points into a missing directory.
    let wal = format!("{}-wal", db.url.trim_start_matches("sqlite://"));
    std::fs::remove_file(&wal).unwrap();
    std::os::unix::fs::symlink("/nonexistent-tianping-test/wal", &wal).unwrap();
    expect_problem(server.append(&entry).await, 500, "internal").await;
    expect_problem(server.append(&entry).await, 503, "unavailable").await;
    assert_eq!(server.get("/readyz").await.status().as_u16(), 503);
    assert_eq!(
        server.get("/log/checkpoint").await.text().await.unwrap(),
        published,
        "nothing past the last durable batch is published"
    );
    server.stop().await;
}

/// On PostgreSQL the sequencer commits without waiting for the server's WAL flush and the syncer
/// makes the batches durable with a synchronous commit on a connection of its own. When that commit
/// fails (here the server ends the syncer's connection, as a restart would), or the sequencer's own
/// connection is lost, the batch is not acknowledged; the log then starts over from storage with a
/// new connection and syncer and goes on taking appends, every acknowledged entry is where its
/// receipt says, and the audit passes.
#[tokio::test]
async fn a_lost_connection_on_postgres_acknowledges_nothing_and_the_log_goes_on() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let server = Server::start(&db, "intl").await;
    let vkey = server.vkey().await;
    let mut acknowledged = Vec::new();
    let mut append = async |n: u32| {
        let resp = server
            .append(&json!({"kind": "log.test", "subject": "s", "content": n}))
            .await;
        match resp.status().as_u16() {
            201 => {
                let r: Value = resp.json().await.unwrap();
                acknowledged.push((
                    r["index"].as_u64().unwrap(),
                    B64.decode(r["leaf_hash"].as_str().unwrap()).unwrap(),
                ));
                true
            }
            _ => {
                expect_problem(resp, 500, "internal").await;
                false
            }
        }
    };
    use tianping_store::testing::{connections_named, end_connections_named};
    use tianping_store::{SYNC_APPLICATION_NAME as SYNC, WRITER_APPLICATION_NAME as WRITER};
    let one_connection_each = async |when: &str| {
        for name in [WRITER, SYNC] {
            assert_eq!(
                connections_named(&server.db, name).await,
                1,
                "one {name} connection {when}"
            );
        }
    };
    assert!(append(0).await);
    one_connection_each("at first").await;

    // First the syncer's connection ends (its synchronous commit fails), then the writer's (its next
    // batch fails); each time the log starts over the same way.
    let mut n = 1;
    for name in [SYNC, WRITER] {
        assert_eq!(end_connections_named(&server.db, name).await, 1);
        assert!(
            !append(n).await,
            "the batch on the ended {name} connection is not acknowledged"
        );
        for n in n + 1..n + 10 {
            assert!(append(n).await, "appends go on after the log started over");
        }
        n += 10;
        one_connection_each("after starting over").await;
    }
    assert_eq!(server.get("/readyz").await.status().as_u16(), 200);
    for (index, leaf) in &acknowledged {
        let stored = tianping_store::log::entries(&server.db, *index, index + 1)
            .await
            .unwrap();
        assert_eq!(&stored[0].leaf_hash, leaf, "entry {index} is as acknowledged");
    }
    let audit = tianping_service::log::audit(&server.db, HashAlg::Sha256, std::slice::from_ref(&vkey))
        .await
        .unwrap();
    assert_eq!(audit.divergence, None);
    server.stop().await;
}

#[tokio::test]
async fn health_readiness_and_openapi() {
    let db = TestDb::sqlite();
    let server = Server::start(&db, "intl").await;
    assert_eq!(server.get("/healthz").await.status().as_u16(), 200);
    assert_eq!(server.get("/readyz").await.text().await.unwrap(), "ready\n");
    let doc: Value = server.get("/api/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/log/entries",
        "/api/v1/log/proof/inclusion",
        "/log/tile/{path}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json"))
        .unwrap_or_default();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json"),
            tianping_web::openapi::document(),
        )
        .unwrap();
    } else {
        assert_eq!(
            committed,
            tianping_web::openapi::document(),
            "docs/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo nextest run -p tianping-web health_readiness_and_openapi`"
        );
    }
    let metrics = tianping_web::metrics_handle().render();
    assert!(metrics.contains("tianping_http_request_seconds"), "{metrics}");
    server.stop().await;
}

impl Server {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// The vault's life cycle through the API on every backend and both suites: records and a blob,
/// holds blocking shredding (checked again inside the store's transaction), consultation closing
/// setting deadlines, the purge job with tombstones, erasure to storage-only, explicit shredding,
/// and the integrity audit staying clean throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_lifecycle_on_every_backend() {
    use reqwest::Method;
    for (db, suite) in [(TestDb::sqlite(), "intl"), (TestDb::sqlite(), "sm")]
        .into_iter()
        .chain(TestDb::postgres().await.map(|db| (db, "intl")))
    {
        let s = Server::start(&db, suite).await;
        let rec = |subject: &str, kind: &str, consultation: Option<&str>, text: &str| json!({"kind": kind, "subject": subject, "consultation": consultation, "content": {"text": text}});
        let mut chat = Vec::new();
        for i in 0..3 {
            let (code, r) = s
                .send(
                    Method::POST,
                    "/api/v1/vault/records",
                    Some(rec(
                        "p1",
                        "consultation.message",
                        Some("c9"),
                        &format!("头痛 {i}"),
                    )),
                )
                .await;
            assert_eq!(code, 201, "{r}");
            chat.push(r["record_id"].as_str().unwrap().to_owned());
        }
        let (code, r) = s
            .send(
                Method::POST,
                "/api/v1/vault/records",
                Some(rec("p1", "payment.fee", None, "¥30")),
            )
            .await;
        assert_eq!(code, 201);
        let fee = r["record_id"].as_str().unwrap().to_owned();
        let (code, r) = s
            .send(Method::GET, &format!("/api/v1/vault/records/{fee}"), None)
            .await;
        assert_eq!(
            (code, r["retention_class"].as_str()),
            (200, Some("transaction")),
            "{r}"
        );
        assert!(
            r["retain_until_ms"].as_i64().unwrap() > 0,
            "ECL-31 counts from the event"
        );
        let (_, r) = s
            .send(Method::GET, &format!("/api/v1/vault/records/{}", chat[0]), None)
            .await;
        assert_eq!(r["retain_until_ms"], Value::Null, "no deadline while c9 is open");
        assert_eq!(r["content"]["text"], "头痛 0");

        // A blob through the upload API (just over the inline limit).
        let (code, up) = s
            .send(
                Method::POST,
                "/api/v1/vault/uploads",
                Some(
                    json!({"kind": "consultation.attachment", "subject": "p1", "consultation": "c9",
                            "media_type": "image/png"}),
                ),
            )
            .await;
        assert_eq!(code, 201, "{up}");
        let id = up["upload_id"].as_str().unwrap().to_owned();
        let image: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
        let resp = s
            .http
            .patch(s.url(&format!("/api/v1/vault/uploads/{id}")))
            .bearer_auth(&s.token)
            .header("upload-offset", "0")
            .body(image.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["upload-offset"], "70000");
        let (code, _) = s
            .send(
                Method::POST,
                &format!("/api/v1/vault/uploads/{id}/complete"),
                None,
            )
            .await;
        assert_eq!(code, 201);
        let (code, again) = s
            .send(
                Method::POST,
                &format!("/api/v1/vault/uploads/{id}/complete"),
                None,
            )
            .await;
        assert_eq!(
            (code, again["code"].as_str()),
            (409, Some("conflict")),
            "completed once"
        );

        // Hold c9, close it in 2020: expired but held; explicit shredding is refused too.
        let (code, hold) = s
            .send(
                Method::POST,
                "/api/v1/vault/holds",
                Some(json!({"scope": "consultation", "target": "c9", "reason": "调解中"})),
            )
            .await;
        assert_eq!(code, 201);
        let hold = hold["hold_id"].as_str().unwrap().to_owned();
        let (code, _) = s
            .send(
                Method::POST,
                "/api/v1/vault/consultations/c9/close",
                Some(json!({"ended_at_ms": 1_580_000_000_000u64})),
            )
            .await;
        assert_eq!(code, 204);
        let (code, _) = s
            .send(
                Method::POST,
                "/api/v1/vault/consultations/c9/close",
                Some(json!({"ended_at_ms": 1_580_000_000_000u64})),
            )
            .await;
        assert_eq!(code, 409, "closed once");
        let (code, e) = s
            .send(
                Method::POST,
                "/api/v1/vault/shred",
                Some(json!({"record": chat[0], "basis": "test"})),
            )
            .await;
        assert_eq!((code, e["code"].as_str()), (409, Some("legal_hold")), "{e}");
        let (_, report) = s
            .send(Method::POST, "/api/v1/vault/retention/run", Some(json!({})))
            .await;
        assert_eq!(
            (report["held"].as_u64(), report["shredded"].as_u64()),
            (Some(4), Some(0)),
            "{report}"
        );
        let (code, _) = s
            .send(Method::DELETE, &format!("/api/v1/vault/holds/{hold}"), None)
            .await;
        assert_eq!(code, 204);
        let (_, report) = s
            .send(
                Method::POST,
                "/api/v1/vault/retention/run",
                Some(json!({"dry_run": true})),
            )
            .await;
        assert_eq!(report["shredded"].as_u64(), Some(4), "{report}");
        let (_, report) = s
            .send(Method::POST, "/api/v1/vault/retention/run", Some(json!({})))
            .await;
        assert_eq!(
            (report["shredded"].as_u64(), report["blobs_deleted"].as_u64()),
            (Some(4), Some(1)),
            "{report}"
        );
        assert_eq!(
            report["subject_keys_destroyed"].as_u64(),
            Some(0),
            "the fee still needs p1's key"
        );
        let (code, e) = s
            .send(
                Method::GET,
                &format!("/api/v1/vault/records/{}/content", chat[1]),
                None,
            )
            .await;
        assert_eq!((code, e["code"].as_str()), (410, Some("shredded")));

        // Erasure while the fee's retention runs: storage-only; then shredding it needs an override.
        let (_, er) = s
            .send(
                Method::POST,
                "/api/v1/vault/subjects/p1/erasure",
                Some(json!({"reason": "撤回同意"})),
            )
            .await;
        assert_eq!(er["storage_only"].as_u64(), Some(1), "{er}");
        let (code, _) = s
            .send(Method::GET, &format!("/api/v1/vault/records/{fee}"), None)
            .await;
        assert_eq!(code, 451);
        let (code, e) = s
            .send(
                Method::POST,
                "/api/v1/vault/shred",
                Some(json!({"subject": "p1", "basis": "PIPL-47"})),
            )
            .await;
        assert_eq!((code, e["code"].as_str()), (409, Some("conflict")), "{e}");
        let (code, r) = s
            .send(
                Method::POST,
                "/api/v1/vault/shred",
                Some(json!({"subject": "p1", "basis": "court order 2026-88", "override_retention": true})),
            )
            .await;
        assert_eq!((code, r["shredded"].as_u64()), (200, Some(1)), "{r}");
        let (_, export) = s
            .send(Method::GET, "/api/v1/vault/subjects/p1/export", None)
            .await;
        let records = export["records"].as_array().unwrap();
        assert_eq!(records.len(), 5);
        assert!(
            records
                .iter()
                .all(|r| r["state"] == "shredded" && r["content"].is_null())
        );
        assert!(
            records
                .iter()
                .all(|r| r["proof"].as_str().unwrap().starts_with("c2sp.org/tlog-proof@v1"))
        );

        // New records of p1 get a new subject key; bad input is refused.
        let (code, _) = s
            .send(
                Method::POST,
                "/api/v1/vault/records",
                Some(rec("p1", "consultation.message", None, "再来")),
            )
            .await;
        assert_eq!(code, 201);
        for (body, code) in [
            (
                json!({"kind": "a.b", "subject": "p", "content": 1, "retention_class": "forever"}),
                "unknown_retention_class",
            ),
            (
                json!({"kind": "a.b", "subject": "p", "content": 1, "consultation": "has space"}),
                "invalid_body",
            ),
        ] {
            let (status, e) = s.send(Method::POST, "/api/v1/vault/records", Some(body)).await;
            assert_eq!((status, e["code"].as_str()), (400, Some(code)), "{e}");
        }
        let (status, e) = s
            .send(
                Method::POST,
                "/api/v1/vault/uploads",
                Some(json!({"kind": "a.b", "subject": "p", "media_type": "not a type"})),
            )
            .await;
        assert_eq!((status, e["code"].as_str()), (400, Some("invalid_body")));

        let audit = tianping_service::vault::audit(&s.vault).await.unwrap();
        assert_eq!(audit.findings, Vec::<String>::new());
        assert_eq!(audit.shredded, 5);
        s.stop().await;
    }
}

/// The checkpointer copies the write-ahead log in the background, below the priority of the
/// threads every append waits for (the sequencer and the syncer), so that on a small machine it
/// does not take their processor time (docs/benchmarks.md).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_checkpointer_runs_below_the_threads_appends_wait_for() {
    /// Nice value of each thread of this process whose name starts with `prefix`.
    fn nice_of(prefix: &str) -> Vec<i64> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|task| {
                let path = task.unwrap().path();
                let name = std::fs::read_to_string(path.join("comm")).ok()?;
                let stat = std::fs::read_to_string(path.join("stat")).ok()?;
                // After "pid (comm) ": state is field 3, nice field 19.
                let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
                name.starts_with(prefix).then(|| fields[16].parse().unwrap())
            })
            .collect()
    }
    let db = TestDb::sqlite();
    let server = Server::start(&db, "intl").await;
    // The first append opens the writer's connection, which starts the syncer and checkpointer.
    let entry = json!({"kind": "log.test", "subject": "s", "content": 1});
    assert_eq!(server.append(&entry).await.status().as_u16(), 201);
    let (sequencer, syncer, checkpointer) = (
        nice_of("tianping-sequen"),
        nice_of("tianping-syncer"),
        nice_of("tianping-checkp"),
    );
    assert_eq!((sequencer.len(), syncer.len(), checkpointer.len()), (1, 1, 1));
    assert_eq!(syncer, sequencer);
    assert_eq!(checkpointer[0], (sequencer[0] + 10).min(19));
    server.stop().await;
}
