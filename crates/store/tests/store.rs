//! Storage tests, run on SQLite and (when TIANPING_TEST_DATABASE_URL is set) PostgreSQL.

use tianping_store::log::{self as rows, CheckpointRow, LogParams, NewContent, NewEntry, TileRow};
use tianping_store::testing::TestDb;
use tianping_store::{Backend, Durability, Script, Statement, Writer, tokens};

#[tokio::test]
async fn both_schemas_have_the_same_tables_and_columns() {
    let sqlite = TestDb::sqlite().connect().await.schema().await.unwrap();
    assert!(sqlite.iter().any(|(t, _)| t == "log_entries"), "{sqlite:?}");
    match TestDb::postgres().await {
        Some(pg) => {
            let pg = pg.connect().await.schema().await.unwrap();
            assert_eq!(sqlite, pg);
        }
        None => eprintln!("TIANPING_TEST_DATABASE_URL not set: PostgreSQL schema not compared"),
    }
}

#[tokio::test]
async fn migrations_have_the_same_versions_on_both_backends() {
    let names = |dir: &str| {
        let mut v: Vec<String> =
            std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
        v.sort();
        v
    };
    assert_eq!(names("sqlite"), names("postgres"));
    assert!(!names("sqlite").is_empty());
}

/// A transaction's statements run in order whatever the backend does with them (on PostgreSQL,
/// consecutive independent inserts become one statement): a statement that reads sees the rows of
/// those before it, and a failure anywhere leaves nothing of the transaction.
#[tokio::test]
async fn a_scripts_statements_see_the_rows_before_them_and_fail_as_one() {
    for t in TestDb::all().await {
        let db = t.connect().await;
        let entries = |from: u64| -> Vec<NewEntry> {
            (from..from + 3)
                .map(|i| NewEntry {
                    idx: i,
                    leaf_hash: [i as u8; 32],
                    envelope: vec![i as u8],
                })
                .collect()
        };
        let checkpoint = |size: u64| CheckpointRow {
            size,
            root: vec![0; 32],
            note: format!("n{size}"),
            created_ms: 1,
        };
        let begin = || {
            Statement::new(match db.backend() {
                Backend::Sqlite => "BEGIN IMMEDIATE",
                Backend::Postgres => "BEGIN",
            })
        };
        let mut conn = db.pool().acquire().await.unwrap();
        let mut script = Script::new(db.backend());
        script.add(begin());
        rows::insert_entries(&mut script, entries(0)).unwrap();
        rows::insert_checkpoint(&mut script, &checkpoint(3)).unwrap();
        // Reads what the two inserts before it wrote.
        script.add(Statement::new(
            "INSERT INTO log_contents (idx, salt, content) SELECT e.idx, e.leaf_hash, e.envelope \
             FROM log_entries e, log_checkpoints c WHERE c.size = 3",
        ));
        rows::insert_entries(&mut script, entries(3)).unwrap();
        script.add(Statement::new("COMMIT"));
        script.flush(&mut *conn).await.unwrap();
        assert_eq!(rows::entries(&db, 0, 100).await.unwrap().len(), 6);
        let contents = rows::contents(&db, 0, 100).await.unwrap();
        assert_eq!(
            contents.len(),
            3,
            "the read saw the three entries inserted before it"
        );

        // A duplicate entry in the last insert: nothing of the transaction stays.
        let mut script = Script::new(db.backend());
        script.add(begin());
        rows::insert_checkpoint(&mut script, &checkpoint(9)).unwrap();
        rows::insert_entries(&mut script, entries(5)).unwrap();
        script.add(Statement::new("COMMIT"));
        assert!(script.flush(&mut *conn).await.is_err());
        let _ = Statement::new("ROLLBACK").execute(&mut *conn).await;
        assert_eq!(rows::entries(&db, 0, 100).await.unwrap().len(), 6);
        assert!(rows::checkpoint(&db, 9).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn log_rows_round_trip_in_one_transaction() {
    for t in TestDb::all().await {
        let db = t.connect().await;
        assert_eq!(db.backend(), t.backend);
        let mut tx = db.begin().await.unwrap();
        rows::insert_params(
            &mut tx,
            &LogParams {
                origin: "o/log".into(),
                suite: "intl".into(),
                hash_alg: "sha256".into(),
                created_ms: 5,
            },
        )
        .await
        .unwrap();
        // More values than SQLite takes in one statement (32,766): sent in several.
        const N: u64 = 12_000;
        let entries: Vec<NewEntry> = (0..N)
            .map(|i| NewEntry {
                idx: i,
                leaf_hash: [i as u8; 32],
                envelope: vec![1, 2, i as u8],
            })
            .collect();
        // Many statements, one round trip on SQLite: the script's multi-statement text.
        let mut script = Script::new(db.backend());
        rows::insert_entries(&mut script, entries).unwrap();
        let contents: Vec<NewContent> = (0..N)
            .map(|i| NewContent {
                idx: i,
                salt: [7; 32],
                content: format!("{{\"i\":{i}}}").into_bytes(),
            })
            .collect();
        rows::insert_contents(&mut script, contents).unwrap();
        rows::upsert_tiles(
            &mut script,
            &[TileRow {
                level: 0,
                idx: 1,
                width: 1,
                nodes: vec![1; 32],
            }],
        )
        .unwrap();
        rows::upsert_tiles(
            &mut script,
            &[TileRow {
                level: 0,
                idx: 1,
                width: 2,
                nodes: vec![2; 96],
            }],
        )
        .unwrap();
        rows::insert_checkpoint(
            &mut script,
            &CheckpointRow {
                size: N,
                root: vec![3; 32],
                note: "n".into(),
                created_ms: 9,
            },
        )
        .unwrap();
        script.flush(&mut tx).await.unwrap();
        tx.commit().await.unwrap();

        assert_eq!(rows::params(&db).await.unwrap().unwrap().origin, "o/log");
        let got = rows::entries(&db, N - 2, N + 2000).await.unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].idx, N - 1);
        assert_eq!(got[1].envelope, vec![1, 2, ((N - 1) as u8)]);
        let c = rows::contents(&db, 10, 11).await.unwrap();
        assert_eq!(c[0].2, b"{\"i\":10}".to_vec());
        let tiles = rows::tiles(&db, &[(0, 1), (0, 2)]).await.unwrap();
        assert_eq!(
            tiles,
            vec![TileRow {
                level: 0,
                idx: 1,
                width: 2,
                nodes: vec![2; 96]
            }]
        );
        assert_eq!(rows::latest_checkpoint(&db).await.unwrap().unwrap().size, N);
        assert_eq!(rows::checkpoints_from(&db, N + 1, 10).await.unwrap().len(), 0);
        db.close().await;
    }
}

#[tokio::test]
async fn a_failed_transaction_leaves_nothing() {
    for t in TestDb::all().await {
        let db = t.connect().await;
        let mut tx = db.begin().await.unwrap();
        let entry = NewEntry {
            idx: 0,
            leaf_hash: [0; 32],
            envelope: vec![0],
        };
        let mut script = Script::new(db.backend());
        rows::insert_entries(&mut script, vec![entry.clone()]).unwrap();
        script.flush(&mut tx).await.unwrap();
        // Duplicate key: the statement fails, and the whole transaction is abandoned.
        rows::insert_entries(&mut script, vec![entry]).unwrap();
        let dup = script.flush(&mut tx).await;
        assert!(dup.is_err());
        drop(tx);
        assert!(
            rows::entries(&db, 0, 10).await.unwrap().is_empty(),
            "{:?}",
            t.backend
        );
    }
}

#[tokio::test]
async fn tokens_are_found_by_hash_until_revoked() {
    for t in TestDb::all().await {
        let db = t.connect().await;
        let mut tx = db.begin().await.unwrap();
        let row = tokens::TokenRow {
            id: "id1".into(),
            name: "partner".into(),
            created_ms: 1,
            revoked_ms: None,
            scopes: "events:write".into(),
            org_id: Some("org-1".into()),
        };
        tokens::insert(&mut tx, &row, &[1; 32]).await.unwrap();
        tx.commit().await.unwrap();
        assert!(tokens::name_taken(&db, "partner").await.unwrap());
        let found = tokens::find_active(&db, &[1; 32]).await.unwrap().unwrap();
        assert_eq!(found, row);
        assert!(tokens::find_active(&db, &[2; 32]).await.unwrap().is_none());
        let mut tx = db.begin().await.unwrap();
        assert!(tokens::revoke(&mut tx, "partner", 2).await.unwrap());
        tx.commit().await.unwrap();
        assert!(tokens::find_active(&db, &[1; 32]).await.unwrap().is_none());
        assert_eq!(tokens::list(&db).await.unwrap()[0].revoked_ms, Some(2));
        if t.backend == Backend::Postgres {
            eprintln!("ran on PostgreSQL");
        }
    }
}

#[tokio::test]
async fn a_script_runs_its_statements_in_order_whatever_their_placeholders() {
    for t in TestDb::all().await {
        let db = t.connect().await;
        let mut tx = db.begin().await.unwrap();
        let mut script = Script::new(db.backend());
        let checkpoint = |size: u64, note: &str| CheckpointRow {
            size,
            root: vec![size as u8; 32],
            note: note.into(),
            created_ms: 1,
        };
        rows::insert_checkpoint(&mut script, &checkpoint(1, "first")).unwrap();
        // `$1` twice: cannot join SQLite's multi-statement text, runs on its own, still in order.
        script.add(
            Statement::new("UPDATE log_checkpoints SET note = $1 WHERE size = $2 AND note <> $1")
                .bind("renamed")
                .bind(1i64),
        );
        rows::insert_checkpoint(&mut script, &checkpoint(2, "second")).unwrap();
        script.add(
            Statement::new("UPDATE log_checkpoints SET created_ms = $1 WHERE size = $2")
                .bind(7i64)
                .bind(2i64),
        );
        assert!(!script.is_empty());
        script.flush(&mut tx).await.unwrap();
        assert!(script.is_empty());
        tx.commit().await.unwrap();
        let one = rows::checkpoint(&db, 1).await.unwrap().unwrap();
        assert_eq!(one.note, "renamed", "{:?}", t.backend);
        let two = rows::checkpoint(&db, 2).await.unwrap().unwrap();
        assert_eq!(
            (two.note.as_str(), two.created_ms),
            ("second", 7),
            "{:?}",
            t.backend
        );
        db.close().await;
    }
}

/// A record of `subject` for log entry `idx`, encrypted under subject key `k-<subject>`.
fn record_of(subject: &str, idx: u64) -> tianping_store::vault::RecordRow {
    tianping_store::vault::RecordRow {
        id: format!("r{idx}"),
        log_idx: idx,
        subject: subject.into(),
        kind: "consultation.message".into(),
        media_type: "application/json".into(),
        consultation: None,
        case_id: None,
        retention_class: "chat".into(),
        event_ms: idx as i64,
        retain_until_ms: None,
        state: "live".into(),
        subject_key_id: Some(format!("k-{subject}")),
        wrapped_key: Some(vec![1; 8]),
        ciphertext: Some(vec![2; 16]),
        blob_chunks: None,
        size: 16,
        created_ms: 1,
        shredded_ms: None,
    }
}

/// Records of log entries `range`, subjects in turn a, b, c, committed in one transaction; merged into
/// the subject index up to `merge_to` in the same transaction when given.
async fn commit_records(db: &tianping_store::Db, range: std::ops::Range<u64>, merge_to: Option<u64>) {
    commit_and_merge(db, range, merge_to.map(|to| (to, None))).await
}

/// `(subject, log index)` of records, as the log's sequencer keeps them between merges.
type KeptSubjects = Vec<(String, u64)>;

/// [`commit_records`], merging up to `to` either by reading the subjects back from storage (`None`)
/// or from the rows given.
async fn commit_and_merge(
    db: &tianping_store::Db,
    range: std::ops::Range<u64>,
    merge: Option<(u64, Option<KeptSubjects>)>,
) {
    use tianping_store::vault::{self as v, Effect, SubjectKeyRow};
    let effects = range
        .map(|idx| {
            let subject = ["a", "b", "c"][idx as usize % 3];
            let new_key = Some(SubjectKeyRow {
                id: format!("k-{subject}"),
                subject: subject.into(),
                kek_id: "kek".into(),
                wrapped: Some(vec![3; 8]),
                created_ms: 1,
            });
            let effect = Effect::Record {
                record: Box::new(record_of(subject, idx)),
                new_key,
                upload: None,
            };
            (idx, effect)
        })
        .collect();
    let mut tx = db.begin().await.unwrap();
    let mut script = Script::new(db.backend());
    v::apply(&mut Writer::from(&mut tx), &mut script, effects)
        .await
        .unwrap();
    match merge {
        Some((to, None)) => v::merge_subjects(&mut script, to).unwrap(),
        Some((to, Some(kept))) => v::merge_subject_rows(&mut script, kept, to).unwrap(),
        None => {}
    }
    script.flush(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn merging_kept_subjects_indexes_exactly_what_reading_them_back_does() {
    let subject_of = |idx: u64| ["a", "b", "c"][idx as usize % 3].to_owned();
    for t in TestDb::all().await {
        let db = t.connect().await;
        // 0..10 merged from storage; 10..25 committed in three batches and merged with the last one
        // from the subjects kept meanwhile (the sequencer's way); 25..30 stay in the tail.
        commit_and_merge(&db, 0..10, Some((10, None))).await;
        commit_and_merge(&db, 10..15, None).await;
        commit_and_merge(&db, 15..20, None).await;
        let kept: KeptSubjects = (10..25).map(|i| (subject_of(i), i)).collect();
        commit_and_merge(&db, 20..25, Some((25, Some(kept)))).await;
        commit_and_merge(&db, 25..30, None).await;
        let index: Vec<(String, i64)> =
            sqlx::query_as("SELECT subject, log_idx FROM vault_subject_index ORDER BY subject, log_idx")
                .fetch_all(db.pool())
                .await
                .unwrap();
        let mut expected: Vec<(String, i64)> = (0..25).map(|i| (subject_of(i), i as i64)).collect();
        expected.sort();
        assert_eq!(index, expected, "{:?}", t.backend);
        assert_eq!(
            tianping_store::vault::subjects_merged_upto(&db).await.unwrap(),
            25
        );
        let b: Vec<u64> = tianping_store::vault::records_of_subject(&db, "b")
            .await
            .unwrap()
            .iter()
            .map(|r| r.log_idx)
            .collect();
        assert_eq!(b, (0..30).filter(|i| i % 3 == 1).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn a_passive_checkpoint_copies_the_writers_commits_into_the_database_file() {
    let t = TestDb::sqlite();
    let db = t.connect().await;
    let (mut conn, wal) = db.writer_connection().await.unwrap();
    let Some(Durability::Wal(wal)) = wal else {
        panic!("an SQLite file has a write-ahead log to sync");
    };
    let mut script = Script::new(db.backend());
    script.add(Statement::new("BEGIN IMMEDIATE"));
    // Enough pages (over 1,000) that the checkpoint also syncs the database file itself.
    let entries: Vec<NewEntry> = (0..20_000u64)
        .map(|i| NewEntry {
            idx: i,
            leaf_hash: [i as u8; 32],
            envelope: vec![7; 200],
        })
        .collect();
    rows::insert_entries(&mut script, entries).unwrap();
    script.add(Statement::new("COMMIT"));
    script.flush(conn.writer()).await.unwrap();
    let file = std::path::PathBuf::from(t.url.trim_start_matches("sqlite://"));
    let file_len = |f: &std::path::Path| std::fs::metadata(f).unwrap().len();
    let before = file_len(&file);
    let wal = std::sync::Arc::new(wal);
    let (done, again) = tokio::task::spawn_blocking({
        let wal = wal.clone();
        move || {
            wal.sync().unwrap();
            (wal.checkpoint().unwrap(), wal.checkpoint().unwrap())
        }
    })
    .await
    .unwrap();
    assert!(
        done.frames > 1000,
        "20,000 entries of 200 bytes are over a thousand pages: {done:?}"
    );
    assert_eq!(
        done.copied, done.frames,
        "nothing else writes: everything is copied"
    );
    assert_eq!(again, done, "a second checkpoint finds nothing new");
    // The pages went into the database file (which grew by the new ones), and the rows read back.
    assert!(
        file_len(&file) >= before + 1000 * 4096,
        "database file {} bytes before the checkpoint, {} after",
        before,
        file_len(&file)
    );
    drop(conn);
    assert_eq!(rows::entries(&db, 19_990, 20_010).await.unwrap().len(), 10);
}

#[tokio::test]
async fn a_subjects_records_are_found_before_and_after_their_merge_into_the_subject_index() {
    use tianping_store::vault as v;
    for t in TestDb::all().await {
        let db = t.connect().await;
        let indexed = |db: &tianping_store::Db| {
            let pool = db.pool().clone();
            async move {
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM vault_subject_index")
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        let of = |subject: &'static str| {
            let db = db.clone();
            async move {
                v::records_of_subject(&db, subject)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.log_idx)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(v::subjects_merged_upto(&db).await.unwrap(), 0);
        // Entries 0..12 merged with their own batch; 12..20 stay in the tail.
        commit_records(&db, 0..12, Some(12)).await;
        commit_records(&db, 12..20, None).await;
        assert_eq!(v::subjects_merged_upto(&db).await.unwrap(), 12, "{:?}", t.backend);
        assert_eq!(indexed(&db).await, 12);
        let a: Vec<u64> = (0..20).filter(|i| i % 3 == 0).collect();
        assert_eq!(
            of("a").await,
            a,
            "merged part and tail, in log order ({:?})",
            t.backend
        );
        assert_eq!(of("c").await, (0..20).filter(|i| i % 3 == 2).collect::<Vec<_>>());
        assert!(of("nobody").await.is_empty());
        assert!(v::key_in_use(&db, "k-b", &[]).await.unwrap());
        let all_b: Vec<String> = (0..20).filter(|i| i % 3 == 1).map(|i| format!("r{i}")).collect();
        assert!(
            !v::key_in_use(&db, "k-b", &all_b).await.unwrap(),
            "{:?}",
            t.backend
        );
        // A merge never moves the mark back nor indexes a record twice.
        commit_records(&db, 20..21, Some(5)).await;
        assert_eq!(v::subjects_merged_upto(&db).await.unwrap(), 12);
        commit_records(&db, 21..22, Some(22)).await;
        assert_eq!(v::subjects_merged_upto(&db).await.unwrap(), 22);
        assert_eq!(indexed(&db).await, 22, "{:?}", t.backend);
        assert_eq!(of("a").await, (0..22).filter(|i| i % 3 == 0).collect::<Vec<_>>());
        db.close().await;
    }
}

/// Migration 0008 rebuilds `vault_records` on SQLite with the log index as the table's key (one index
/// fewer to write per record) and indexes consultations only for the records that have one, on both
/// backends. Records stored before it come through unchanged and are still found by id, log index
/// and consultation.
#[tokio::test]
async fn records_stored_before_migration_0008_come_through_it_unchanged() {
    use sqlx::Row;
    for t in TestDb::all().await {
        let db = tianping_store::Db::connect(&t.url).await.unwrap();
        let dir = match t.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let migrations = format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR"));
        sqlx::migrate::Migrator::new(std::path::Path::new(&migrations))
            .await
            .unwrap()
            .run_to(7, db.pool())
            .await
            .unwrap();
        let insert = |id: &'static str,
                      idx: i64,
                      subject: &'static str,
                      consultation: Option<&'static str>,
                      until: Option<i64>,
                      ciphertext: Vec<u8>| {
            sqlx::query(
                "INSERT INTO vault_records (id, log_idx, subject, kind, media_type, consultation, case_id, \
                 retention_class, event_ms, retain_until_ms, state, subject_key_id, wrapped_key, ciphertext, \
                 blob_chunks, size, created_ms, shredded_ms) \
                 VALUES ($1, $2, $3, 'a.b', 'application/json', $4, NULL, 'chat_av', $5, $6, 'active', 'k1', $7, $8, \
                 NULL, 3, $5, NULL)",
            )
            .bind(id)
            .bind(idx)
            .bind(subject)
            .bind(consultation)
            .bind(1000 + idx)
            .bind(until)
            .bind(vec![9u8; 4])
            .bind(ciphertext)
            .execute(db.pool())
        };
        // Stored out of id order on purpose: the copy must keep each row whole, not its position.
        let stored = [
            ("rec-b", 7i64, "s1", Some("c-1"), Some(99i64), vec![1u8, 2, 3]),
            ("rec-a", 9, "s2", None, None, vec![4, 5]),
        ];
        for (id, idx, subject, consultation, until, ciphertext) in &stored {
            insert(id, *idx, subject, *consultation, *until, ciphertext.clone())
                .await
                .unwrap();
        }

        db.migrate().await.unwrap();

        let rows = sqlx::query(
            "SELECT id, log_idx, subject, consultation, event_ms, retain_until_ms, ciphertext, state \
             FROM vault_records ORDER BY log_idx",
        )
        .fetch_all(db.pool())
        .await
        .unwrap();
        assert_eq!(rows.len(), stored.len(), "{}", t.url);
        for (row, (id, idx, subject, consultation, until, ciphertext)) in rows.iter().zip(&stored) {
            assert_eq!(row.get::<String, _>(0), *id);
            assert_eq!(row.get::<i64, _>(1), *idx);
            assert_eq!(row.get::<String, _>(2), *subject);
            assert_eq!(row.get::<Option<String>, _>(3).as_deref(), *consultation);
            assert_eq!(row.get::<i64, _>(4), 1000 + idx);
            assert_eq!(row.get::<Option<i64>, _>(5), *until);
            assert_eq!(row.get::<Vec<u8>, _>(6), *ciphertext);
            assert_eq!(row.get::<String, _>(7), "active");
        }
        let by_consultation: Vec<String> =
            sqlx::query_scalar("SELECT id FROM vault_records WHERE consultation = $1")
                .bind("c-1")
                .fetch_all(db.pool())
                .await
                .unwrap();
        assert_eq!(by_consultation, ["rec-b"]);
        // Ids stay unique, and so do log indexes.
        for duplicate in [("rec-a", 10i64), ("rec-c", 9)] {
            let refused = insert(duplicate.0, duplicate.1, "s3", None, None, vec![1u8]).await;
            assert!(refused.is_err(), "{duplicate:?} accepted on {}", t.url);
        }
        let consultation_index: String = match t.backend {
            Backend::Sqlite => {
                // log_idx is the rowid: the table has no index of its own for it.
                let rowid: i64 = sqlx::query_scalar("SELECT rowid FROM vault_records WHERE id = 'rec-a'")
                    .fetch_one(db.pool())
                    .await
                    .unwrap();
                assert_eq!(rowid, 9);
                let indexes: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_index_list('vault_records') ORDER BY name")
                        .fetch_all(db.pool())
                        .await
                        .unwrap();
                assert_eq!(
                    indexes,
                    [
                        "sqlite_autoindex_vault_records_1",
                        "vault_records_consultation",
                        "vault_records_deadline"
                    ]
                );
                sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = 'vault_records_consultation'")
                    .fetch_one(db.pool())
                    .await
                    .unwrap()
            }
            Backend::Postgres => sqlx::query_scalar(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'vault_records_consultation'",
            )
            .fetch_one(db.pool())
            .await
            .unwrap(),
        };
        assert!(
            consultation_index.contains("consultation IS NOT NULL"),
            "{consultation_index}"
        );
        db.close().await;
    }
}
