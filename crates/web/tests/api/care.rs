//! Online care through the API partners, people on duty, patients and regulators use: events with
//! receipts and idempotency keys, the compliance findings they raise, bad input refused with nothing
//! stored, the duty queue with escalation, refunds (seed 000), ratings and supervision metrics.

use reqwest::Method;
use serde_json::{Value, json};
use tianping_identity::ids::{DisplayName, LicenceNumber, LoginName, Password, ResidentId};
use tianping_identity::role::{OrgKind, Role};
use tianping_service::identity::oversight::{Measure, Verdict};
use tianping_service::identity::{DoctorApplication, SignUp};
use tianping_store::testing::TestDb;

use super::Server;
use super::identity::{Browser, PASSWORD, licence, operator, org, resident_id, staff, staff_browser};

/// A partner's token: `events:write` for organisation `org`.
pub(super) async fn partner_token(server: &Server, name: &str, org: &str) -> String {
    tianping_service::tokens::create_scoped(&server.db, name, &["events:write".into()], Some(org))
        .await
        .unwrap()
        .to_string()
}

/// A doctor of `org`, verified by an operator; returns (account, licence).
pub(super) async fn verified_doctor(server: &Server, login: &str, n: u32, org: &str) -> (String, String) {
    let l = LoginName::parse(login).unwrap();
    let lic = licence(n);
    let id = server
        .identity
        .register(SignUp {
            password: Password::parse(PASSWORD, Some(&l)).unwrap(),
            login: l,
            display_name: DisplayName::parse("颜医生").unwrap(),
            role: Role::Doctor,
            resident_id: Some(ResidentId::parse(&resident_id(n)).unwrap()),
            phone: None,
            doctor: Some(DoctorApplication {
                licence: LicenceNumber::parse(&lic).unwrap(),
                institution_id: org.to_owned(),
                specialty: "精神科".into(),
                practice_years: 8,
                evidence: vec![],
            }),
            orgs: vec![org.to_owned()],
        })
        .await
        .unwrap();
    let ops = operator_principal(server, &format!("ops.{login}")).await;
    server
        .identity
        .decide_doctor(&ops, &id, Verdict::Verify, "执业证书核验通过")
        .await
        .unwrap();
    (id, lic)
}

async fn operator_principal(server: &Server, login: &str) -> tianping_service::identity::access::Principal {
    let id = staff(server, Role::Operator, login, vec![]).await;
    let a = server.identity.account(&id).await.unwrap();
    server.identity.principal(&a).await.unwrap()
}

/// A patient who signed up (so records about them land in their privacy centre); returns the
/// account id and resident ID.
pub(super) async fn patient(server: &Server, login: &str, n: u32) -> (String, String, Browser) {
    let mut b = Browser::new(server);
    b.sign_up("patient", login, n, None).await;
    let (_, me) = b.api(Method::GET, "/api/v1/identity/me", None).await;
    (me["id"].as_str().unwrap().to_owned(), resident_id(n), b)
}

pub(super) struct Partner<'a> {
    pub(super) server: &'a Server,
    pub(super) token: String,
}

impl Partner<'_> {
    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .server
            .http
            .post(self.server.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }
    pub(super) async fn event(&self, e: &Value) -> (u16, Value) {
        self.post("/api/v1/care/events", e).await
    }
    pub(super) async fn batch(&self, events: &[Value]) -> Vec<Value> {
        let (status, body) = self
            .post("/api/v1/care/events/batch", &json!({ "events": events }))
            .await;
        assert_eq!(status, 200, "{body}");
        body["results"].as_array().unwrap().clone()
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .server
            .http
            .get(self.server.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }
}

fn now_ms() -> u64 {
    tianping_service::log::now_ms()
}

pub(super) fn start(c: &str, patient_id: &str, doctor_licence: &str, department: &str) -> Value {
    json!({
        "idempotency_key": format!("{c}:0"), "consultation": c, "seq": 0, "type": "start",
        "patient_id_number": patient_id, "doctor_licence": doctor_licence, "department": department,
        "visit": "follow_up", "channel": "text", "jurisdiction": "CN-11",
        "prior_records": [{"institution": "北京安定医院", "record_ref": "MZ-2010-0412", "diagnosis": "精神分裂症"}],
        "doctor_check": {"method": "face", "at_ms": now_ms() - 60_000}
    })
}

pub(super) fn ev(c: &str, seq: u64, body: Value) -> Value {
    let mut v = body;
    v["idempotency_key"] = json!(format!("{c}:{seq}"));
    v["consultation"] = json!(c);
    v["seq"] = json!(seq);
    v
}

pub(super) fn msg(c: &str, seq: u64, from: &str, text: &str) -> Value {
    ev(c, seq, json!({"type": "message", "from": from, "text": text}))
}

pub(super) fn pay(c: &str, seq: u64, fee_fen: i64, purpose: &str) -> Value {
    ev(
        c,
        seq,
        json!({"type": "payment", "fee_fen": fee_fen, "purpose": purpose}),
    )
}

fn rules_of(receipt: &Value) -> Vec<String> {
    let mut r: Vec<String> = receipt["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_owned())
        .collect();
    r.sort();
    r
}

/// A partner's consultation end to end: receipts whose proofs check out, idempotent retries, the
/// findings of the rules, alerts from red flags, and every kind of bad input refused with nothing
/// stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_get_receipts_findings_and_bad_input_stores_nothing() {
    for db in TestDb::all().await {
        let server = Server::start(&db, "intl").await;
        let hospital = org(&server, "好医生互联网医院", OrgKind::InternetHospital).await;
        let p = Partner {
            server: &server,
            token: partner_token(&server, "hospital-a", &hospital.id).await,
        };
        let (_doctor, lic) = verified_doctor(&server, "dr.yan", 1, &hospital.id).await;
        let (_patient, pid, _) = patient(&server, "liu.gao", 2).await;

        // The start: a receipt whose inclusion proof verifies against its checkpoint.
        let first = start("c-1", &pid, &lic, "psychiatry");
        let (status, r) = p.event(&first).await;
        assert_eq!(status, 201, "{r}");
        assert!(rules_of(&r).is_empty(), "{r}");
        let index = r["index"].as_u64().unwrap();
        let (status, proof) = server
            .get(&format!("/api/v1/log/entries/{index}/proof"))
            .await
            .text()
            .await
            .map(|t| (200, t))
            .unwrap();
        assert_eq!(status, 200);
        assert!(proof.starts_with("c2sp.org/tlog-proof@v1"), "{proof}");
        assert!(proof.contains(&format!("index {index}")), "{proof}");

        // A retry with the same key and body: the same receipt, nothing stored twice.
        let size = server.node_log.head().size;
        let (status, again) = p.event(&first).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["replayed"], true);
        assert_eq!(again["index"], r["index"]);
        assert_eq!(again["leaf_hash"], r["leaf_hash"]);
        assert_eq!(server.node_log.head().size, size);
        // The same key with another body is refused.
        let mut other = first.clone();
        other["department"] = json!("cardiology");
        let (status, body) = p.event(&other).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("idempotency_key_reused"))
        );

        // A batch: a red flag, an unsigned psychotropic prescription, payments and the end.
        let rx = ev(
            "c-1",
            4,
            json!({"type": "prescription", "prescription_id": "rx-1", "prescriber_licence": lic,
            "signature": null, "items": [{"drug": "奥氮平片", "drug_class": "psychotropic", "dose": "5mg qn", "quantity": 14}]}),
        );
        let results = p
            .batch(&[
                msg(
                    "c-1",
                    1,
                    "patient",
                    "医生，我最近睡不着，觉得活着没意思，不想活了",
                ),
                msg("c-1", 2, "doctor", "请您今天就去医院精神科急诊，并告诉家人陪同"),
                pay("c-1", 3, 3000, "consultation_fee"),
                rx,
                ev("c-1", 5, json!({"type": "end"})),
            ])
            .await;
        for r in &results {
            assert_eq!(r["status"], 201, "{r}");
        }
        let alerts = results[0]["receipt"]["alerts"].as_array().unwrap();
        assert_eq!(alerts.len(), 1, "a red flag raised one alert");
        assert!(results[1]["receipt"]["alerts"].as_array().unwrap().is_empty());
        assert_eq!(rules_of(&results[3]["receipt"]), vec!["IDM-19", "IDS-21"]);
        assert_eq!(rules_of(&results[4]["receipt"]), vec!["IDM-18", "NEG-LIST"]);
        let f = &results[3]["receipt"]["findings"][0];
        assert!(
            f["explanation"]["zh-CN"].as_str().unwrap().contains("处方"),
            "{f}"
        );
        assert!(!f["explanation"]["en-US"].as_str().unwrap().is_empty());
        assert!(f["citation"].as_str().unwrap().contains("第"), "{f}");
        let first_batch = results.clone();
        // The batch's entries are consecutive and in order.
        let idx: Vec<u64> = results
            .iter()
            .map(|r| r["receipt"]["index"].as_u64().unwrap())
            .collect();
        assert!(idx.windows(2).all(|w| w[0] < w[1]), "{idx:?}");

        // Bad input: a clear code each, and nothing stored.
        let size = server.node_log.head().size;
        let cases: Vec<(Value, u16, &str)> = vec![
            (msg("c-1", 6, "patient", "还在吗"), 409, "consultation_ended"),
            (msg("c-nope", 1, "patient", "你好"), 422, "unknown_consultation"),
            (msg("c-1", 9, "patient", "你好"), 409, "consultation_ended"),
            (
                {
                    let mut v = msg("c-x", 1, "patient", &"痛".repeat(4001));
                    v["idempotency_key"] = json!("big");
                    v
                },
                413,
                "event_too_large",
            ),
            (
                json!({"idempotency_key": "k", "consultation": "c-1", "seq": 1, "type": "teleport"}),
                400,
                "invalid_event",
            ),
            (
                start("c-2", "110105194912310021", &lic, "general"),
                400,
                "invalid_resident_id",
            ),
            (start("c-2", &pid, &licence(99), "general"), 422, "unknown_doctor"),
        ];
        for (e, status, code) in &cases {
            let (s, body) = p.event(e).await;
            assert_eq!((s, body["code"].as_str()), (*status, Some(*code)), "{e} → {body}");
            assert_eq!(body["status"], *status);
        }
        // A second consultation to test order and the prescriber.
        let (s, _) = p.event(&start("c-2", &pid, &lic, "general")).await;
        assert_eq!(s, 201);
        let size2 = server.node_log.head().size;
        assert_eq!(size2, size + 1, "only the good start was stored");
        let (s, body) = p.event(&msg("c-2", 2, "patient", "跳号了")).await;
        assert_eq!((s, body["code"].as_str()), (409, Some("out_of_order")));
        let not_attending = ev(
            "c-2",
            1,
            json!({"type": "prescription", "prescription_id": "rx-9",
            "prescriber_licence": licence(7), "signature": "c2ln",
            "items": [{"drug": "布洛芬缓释胶囊", "drug_class": "otc", "dose": "0.3g bid", "quantity": 10}]}),
        );
        let (s, body) = p.event(&not_attending).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (422, Some("prescriber_not_attending"))
        );
        assert_eq!(
            server.node_log.head().size,
            size2,
            "refused events leave no trace in the log"
        );
        // In a batch, refusals are per event and the good ones go through.
        let results = p
            .batch(&[
                msg("c-2", 1, "patient", "胸口闷"),
                msg("c-2", 3, "patient", "跳号"),
                msg("c-2", 2, "doctor", "请描述"),
            ])
            .await;
        let statuses: Vec<u64> = results.iter().map(|r| r["status"].as_u64().unwrap()).collect();
        assert_eq!(statuses, vec![201, 409, 201]);
        assert_eq!(results[1]["problem"]["code"], "out_of_order");

        // The partner sees the consultation: the facts of each event with its log entry, and the findings.
        let (s, view) = p
            .get(&format!("/api/v1/care/consultations/{}/c-1", hospital.id))
            .await;
        assert_eq!(s, 200, "{view}");
        assert_eq!(view["events"].as_array().unwrap().len(), 6);
        // The partner's findings list: the four of c-1, each with its consultation.
        let (s, list) = p.get("/api/v1/care/findings").await;
        assert_eq!(s, 200, "{list}");
        let mut of_c1: Vec<&str> = list["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["consultation"] == "c-1")
            .map(|f| f["finding"]["rule"].as_str().unwrap())
            .collect();
        of_c1.sort();
        assert_eq!(of_c1, vec!["IDM-18", "IDM-19", "IDS-21", "NEG-LIST"]);
        // Each event names the vault record it became and its log entry.
        assert_eq!(
            view["events"][3]["record_id"],
            first_batch[2]["receipt"]["record_id"]
        );
        assert_eq!(view["events"][3]["index"], first_batch[2]["receipt"]["index"]);
        assert_eq!(view["findings"].as_array().unwrap().len(), 4);
        assert!(view["ended_ms"].is_i64());
        assert_eq!(view["response_ms"].as_i64().map(|v| v >= 0), Some(true));
        // Another partner does not.
        let other_org = org(&server, "另一家医院", OrgKind::InternetHospital).await;
        let q = Partner {
            server: &server,
            token: partner_token(&server, "hospital-b", &other_org.id).await,
        };
        let (s, body) = q
            .get(&format!("/api/v1/care/consultations/{}/c-1", hospital.id))
            .await;
        assert_eq!((s, body["code"].as_str()), (403, Some("access_denied")));
        // Keys are per partner: the other partner's "c-1:0" is its own.
        let (s, _) = q.event(&start("c-1", &pid, &lic, "psychiatry")).await;
        assert_eq!(s, 201);
        server.stop().await;
    }
}

/// HCP-000 (seed 000): a consultation platform is not a medical institution; a suspended doctor
/// cannot attend; a doctor not yet verified cannot either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_may_not_prescribe_and_doctors_must_be_in_good_standing() {
    let db = TestDb::sqlite();
    let server = Server::start(&db, "intl").await;
    let platform = org(&server, "好大夫在线", OrgKind::ConsultationPlatform).await;
    let hospital = org(&server, "北京某医院", OrgKind::MedicalInstitution).await;
    let p = Partner {
        server: &server,
        token: partner_token(&server, "haodf", &platform.id).await,
    };
    let (doctor, lic) = verified_doctor(&server, "dr.yan2", 11, &hospital.id).await;
    let (_, pid, _) = patient(&server, "jiakui", 12).await;
    let (s, _) = p.event(&start("h-1", &pid, &lic, "psychiatry")).await;
    assert_eq!(s, 201);
    let (s, r) = p
        .event(&ev(
            "h-1",
            1,
            json!({"type": "diagnosis", "text": "精神分裂症，建议继续服用奥氮平"}),
        ))
        .await;
    assert_eq!((s, rules_of(&r)), (201, vec!["HCP-000".to_owned()]));

    // A suspended doctor cannot start a consultation.
    let ops = operator_principal(&server, "ops.sanction").await;
    server
        .identity
        .sanction(&ops, "account", &doctor, Measure::Suspend, "违规开具处方")
        .await
        .unwrap();
    let (s, body) = p.event(&start("h-2", &pid, &lic, "psychiatry")).await;
    assert_eq!((s, body["code"].as_str()), (422, Some("doctor_suspended")));
    // Nor one whose verification is pending.
    let l = LoginName::parse("dr.new").unwrap();
    server
        .identity
        .register(SignUp {
            password: Password::parse(PASSWORD, Some(&l)).unwrap(),
            login: l,
            display_name: DisplayName::parse("新医生").unwrap(),
            role: Role::Doctor,
            resident_id: Some(ResidentId::parse(&resident_id(13)).unwrap()),
            phone: None,
            doctor: Some(DoctorApplication {
                licence: LicenceNumber::parse(&licence(13)).unwrap(),
                institution_id: hospital.id.clone(),
                specialty: "全科".into(),
                practice_years: 5,
                evidence: vec![],
            }),
            orgs: vec![hospital.id.clone()],
        })
        .await
        .unwrap();
    let (s, body) = p.event(&start("h-3", &pid, &licence(13), "general")).await;
    assert_eq!((s, body["code"].as_str()), (422, Some("doctor_not_verified")));
    server.stop().await;
}

/// A red flag goes to the first person on duty; unacknowledged past its deadline, the duty clock
/// escalates it to the second; acknowledging and resolving are log entries; the queue empties.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn red_flags_reach_the_duty_queue_and_escalate_to_a_second_person() {
    for db in TestDb::all().await {
        let server = Server::start(&db, "intl").await;
        let hospital = org(&server, "值班医院", OrgKind::InternetHospital).await;
        let p = Partner {
            server: &server,
            token: partner_token(&server, "duty-hospital", &hospital.id).await,
        };
        let (_, lic) = verified_doctor(&server, "dr.duty", 21, &hospital.id).await;
        let (_, pid, _) = patient(&server, "duty.patient", 22).await;
        let first = staff(
            &server,
            Role::InstitutionStaff,
            "duty.first",
            vec![hospital.id.clone()],
        )
        .await;
        let second = staff(
            &server,
            Role::InstitutionStaff,
            "duty.second",
            vec![hospital.id.clone()],
        )
        .await;
        let mut ops = operator(&server, "ops.duty").await;
        let (s, body) = ops
            .api(
                Method::POST,
                &format!("/api/v1/care/duty/{}", hospital.id),
                Some(json!({"accounts": [first, second]})),
            )
            .await;
        assert_eq!(s, 204, "{body}");

        p.event(&start("d-1", &pid, &lic, "cardiology")).await;
        let (s, r) = p
            .event(&msg("d-1", 1, "patient", "突然胸痛，喘不上气，出冷汗"))
            .await;
        assert_eq!(s, 201, "{r}");
        let ids: Vec<String> = r["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 2, "chest pain and breathing difficulty: {r}");
        let alert = ids[0].clone();

        let mut a = staff_browser(&server, "duty.first").await;
        let mut b = staff_browser(&server, "duty.second").await;
        let (s, queue) = a.api(Method::GET, "/api/v1/care/alerts", None).await;
        assert_eq!(s, 200, "{queue}");
        let mine: Vec<&Value> = queue["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["id"] == alert.as_str())
            .collect();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0]["assignee"], first.as_str());
        assert_eq!(mine[0]["level"], 1);
        // The alert names the red-flag list, never the patient's words.
        assert!(!queue.to_string().contains("冷汗"));
        // A patient has no duty queue.
        let (_, _, mut patient_browser) = patient(&server, "duty.other", 23).await;
        let (s, _) = patient_browser
            .api(Method::GET, "/api/v1/care/alerts", None)
            .await;
        assert_eq!(s, 403);

        // Nobody acknowledged within the deadline: the duty clock escalates (its entry point, given
        // a time past the deadline), once.
        let deadline = mine[0]["deadline_ms"].as_i64().unwrap();
        let escalated = server.care.escalate_overdue(deadline + 1).await.unwrap();
        // The cardiac alert (15 minutes) is overdue; the breathing one (30 minutes) not yet.
        assert_eq!(escalated, vec![alert.clone()]);
        assert!(
            server
                .care
                .escalate_overdue(deadline + 1)
                .await
                .unwrap()
                .is_empty(),
            "once per level"
        );
        let (s, detail) = b
            .api(Method::GET, &format!("/api/v1/care/alerts/{alert}"), None)
            .await;
        assert_eq!(s, 200, "{detail}");
        assert_eq!(detail["level"], 2);
        assert_eq!(detail["assignee"], second.as_str());
        assert_eq!(detail["actions"][0]["action"], "escalate");
        assert!(detail["actions"][0]["log_index"].as_u64().is_some());

        // The second person acknowledges; acknowledging again is refused; then resolves.
        let (s, acked) = b
            .api(
                Method::POST,
                &format!("/api/v1/care/alerts/{alert}/acknowledge"),
                Some(json!({"note": "已电话联系患者"})),
            )
            .await;
        assert_eq!(
            (s, acked["status"].as_str()),
            (200, Some("acknowledged")),
            "{acked}"
        );
        assert_eq!(acked["acknowledged_by"], second.as_str());
        let (s, body) = a
            .api(
                Method::POST,
                &format!("/api/v1/care/alerts/{alert}/acknowledge"),
                Some(json!({})),
            )
            .await;
        assert_eq!((s, body["code"].as_str()), (409, Some("conflict")));
        // An acknowledged alert no longer escalates; the other one, never acknowledged, goes to the
        // second person.
        let breathing = ids[1].clone();
        let later = deadline + 60 * 60_000;
        let escalated = server.care.escalate_overdue(later).await.unwrap();
        assert_eq!(escalated, vec![breathing.clone()]);
        let (s, _) = b
            .api(
                Method::POST,
                &format!("/api/v1/care/alerts/{alert}/resolve"),
                Some(json!({"note": "已转急诊"})),
            )
            .await;
        assert_eq!(s, 200);
        let (_, detail) = b
            .api(Method::GET, &format!("/api/v1/care/alerts/{alert}"), None)
            .await;
        let actions: Vec<&str> = detail["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, vec!["escalate", "acknowledge", "resolve"]);
        let (_, queue) = a.api(Method::GET, "/api/v1/care/alerts", None).await;
        assert!(
            queue["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x["id"] != alert.as_str())
        );
        // Then, still unacknowledged past the second deadline, to everyone on duty.
        let (_, d) = a
            .api(Method::GET, &format!("/api/v1/care/alerts/{breathing}"), None)
            .await;
        assert_eq!(
            (d["level"].as_i64(), d["assignee"].as_str()),
            (Some(2), Some(second.as_str()))
        );
        assert!(
            server
                .care
                .escalate_overdue(later + 31 * 60_000)
                .await
                .unwrap()
                .contains(&breathing)
        );
        let (_, d) = a
            .api(Method::GET, &format!("/api/v1/care/alerts/{breathing}"), None)
            .await;
        assert_eq!(d["level"], 3);
        assert!(d["assignee"].is_null(), "level 3 is everyone on duty: {d}");
        assert!(
            server
                .care
                .escalate_overdue(later + 120 * 60_000)
                .await
                .unwrap()
                .is_empty(),
            "3 is the top"
        );
        // The operator's manual run of the duty clock through the API works too.
        let (s, body) = ops
            .api(Method::POST, "/api/v1/care/alerts/escalate", Some(json!({})))
            .await;
        assert_eq!(s, 200, "{body}");
        server.stop().await;
    }
}

/// Seed 000: a patient consulted several doctors over years, paying from topped-up balance; the
/// court refunded only the fees paid for the named doctor's consultations. Ratings come once per
/// ended consultation, and the regulator's metrics show them, as JSON, CSV and FHIR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_only_the_named_doctors_fees_and_ratings_feed_the_metrics() {
    for db in TestDb::all().await {
        let server = Server::start(&db, "intl").await;
        let platform = org(&server, "健康咨询平台", OrgKind::ConsultationPlatform).await;
        let hospital = org(&server, "安定医院", OrgKind::MedicalInstitution).await;
        let p = Partner {
            server: &server,
            token: partner_token(&server, "platform", &platform.id).await,
        };
        let (yan, yan_lic) = verified_doctor(&server, "dr.yanww", 31, &hospital.id).await;
        let (li, li_lic) = verified_doctor(&server, "dr.li", 32, &hospital.id).await;
        let (patient_id, pid, mut patient_browser) = patient(&server, "jiakui.liu", 33).await;

        let yan_fee_indexes: Vec<(u64, i64)> = seed_000_payments(&p, &pid, &yan_lic, &li_lic)
            .await
            .into_iter()
            .filter(|f| f.doctor_licence == yan_lic && f.purpose == "consultation_fee")
            .map(|f| (f.index, f.fee_fen))
            .collect();
        let (s, refund) = patient_browser
            .api(
                Method::GET,
                &format!("/api/v1/care/refunds?patient={patient_id}&doctor={yan}"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{refund}");
        assert_eq!(refund["total_fen"], 8000);
        let lines: Vec<(u64, i64)> = refund["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["log_index"].as_u64().unwrap(), l["fee_fen"].as_i64().unwrap()))
            .collect();
        assert_eq!(lines, yan_fee_indexes, "each refunded fee with its receipt");
        assert_eq!(refund["topped_up_fen"], 100_000);
        assert_eq!(refund["paid_all_doctors_fen"], 14_000);
        let (_, li_refund) = patient_browser
            .api(
                Method::GET,
                &format!("/api/v1/care/refunds?patient={patient_id}&doctor={li}"),
                None,
            )
            .await;
        assert_eq!(li_refund["total_fen"], 4000);
        // Someone else may not see the patient's payments; the refusal is recorded.
        let (_, _, mut stranger) = patient(&server, "stranger", 34).await;
        let (s, body) = stranger
            .api(
                Method::GET,
                &format!("/api/v1/care/refunds?patient={patient_id}&doctor={yan}"),
                None,
            )
            .await;
        assert_eq!((s, body["code"].as_str()), (403, Some("access_denied")));

        // Ratings: only the patient, only after the end, only once.
        let (s, mine) = patient_browser
            .api(Method::GET, "/api/v1/care/me/consultations", None)
            .await;
        assert_eq!(s, 200);
        let list = mine["consultations"].as_array().unwrap();
        assert_eq!(list.len(), 3);
        let y1 = list.iter().find(|c| c["consultation"] == "y-1").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let rating =
            json!({"consultation_id": y1, "doctor_score": 2, "institution_score": 3, "comment": "回复太慢"});
        let (s, body) = stranger
            .api(Method::POST, "/api/v1/care/ratings", Some(rating.clone()))
            .await;
        assert_eq!((s, body["code"].as_str()), (403, Some("access_denied")));
        let (s, body) = patient_browser
            .api(Method::POST, "/api/v1/care/ratings", Some(rating.clone()))
            .await;
        assert_eq!(s, 201, "{body}");
        let (s, body) = patient_browser
            .api(Method::POST, "/api/v1/care/ratings", Some(rating))
            .await;
        assert_eq!((s, body["code"].as_str()), (409, Some("conflict")));
        // A consultation still running cannot be rated.
        p.event(&start("y-3", &pid, &yan_lic, "psychiatry")).await;
        let (_, mine) = patient_browser
            .api(Method::GET, "/api/v1/care/me/consultations", None)
            .await;
        let y3 = mine["consultations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["consultation"] == "y-3")
            .unwrap()["id"]
            .clone();
        let (s, _) = patient_browser
            .api(
                Method::POST,
                "/api/v1/care/ratings",
                Some(json!({"consultation_id": y3, "doctor_score": 5, "institution_score": 5})),
            )
            .await;
        assert_eq!(s, 409);

        // The regulator's metrics.
        staff(&server, Role::Regulator, "regulator.bj", vec![]).await;
        let mut reg = staff_browser(&server, "regulator.bj").await;
        let (s, report) = reg.api(Method::GET, "/api/v1/care/supervision", None).await;
        assert_eq!(s, 200, "{report}");
        let inst = report["institutions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == platform.id.as_str())
            .unwrap();
        assert_eq!(inst["consultations"], 4);
        assert_eq!(inst["ended"], 3);
        assert_eq!(inst["mean_rating"], 3.0);
        let doc = report["doctors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == yan.as_str())
            .unwrap();
        assert_eq!(doc["consultations"], 3);
        assert_eq!(doc["mean_rating"], 2.0);
        let csv = reg_get_text(&server, &mut reg, "/api/v1/care/supervision?format=csv").await;
        assert!(csv.starts_with("level,id,name,consultations"), "{csv}");
        assert!(
            csv.lines()
                .any(|l| l.starts_with(&format!("doctor,{yan},")) && l.contains(",3,")),
            "{csv}"
        );
        let (s, fhir) = reg
            .api(Method::GET, "/api/v1/care/supervision?format=fhir", None)
            .await;
        assert_eq!(s, 200);
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<_> = fhir["entry"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, e)| super::fhir_validator::write(dir.path(), &format!("measure-{i}"), &e["resource"]))
            .collect();
        assert!(!files.is_empty());
        let out = super::fhir_validator::validate(&files);
        assert!(out.status.success(), "{}", super::fhir_validator::report(&out));
        // Patients do not see the supervision report.
        let (s, _) = patient_browser
            .api(Method::GET, "/api/v1/care/supervision", None)
            .await;
        assert_eq!(s, 403);
        server.stop().await;
    }
}

/// A payment the seed-000 setup made, with its receipt's index.
pub(super) struct SeedPayment {
    pub doctor_licence: String,
    pub purpose: &'static str,
    pub fee_fen: i64,
    pub index: u64,
}

/// Seed 000's payments: three ended consultations of one patient — with doctor Yan a top-up and a
/// fee, with doctor Li a fee, with Yan again a fee and a drug — each accepted with a receipt.
pub(super) async fn seed_000_payments(
    p: &Partner<'_>,
    patient_id: &str,
    yan_lic: &str,
    li_lic: &str,
) -> Vec<SeedPayment> {
    let mut out = vec![];
    for (c, lic, fees) in [
        (
            "y-1",
            yan_lic,
            vec![(100_000, "top_up"), (3000, "consultation_fee")],
        ),
        ("l-1", li_lic, vec![(4000, "consultation_fee")]),
        ("y-2", yan_lic, vec![(5000, "consultation_fee"), (2000, "drug")]),
    ] {
        let mut events = vec![start(c, patient_id, lic, "psychiatry")];
        for (i, (fee, purpose)) in fees.iter().enumerate() {
            events.push(pay(c, i as u64 + 1, *fee, purpose));
        }
        events.push(ev(c, fees.len() as u64 + 1, json!({"type": "end"})));
        let results = p.batch(&events).await;
        for (i, (fee, purpose)) in fees.into_iter().enumerate() {
            assert_eq!(results[i + 1]["status"], 201, "{}", results[i + 1]);
            out.push(SeedPayment {
                doctor_licence: lic.to_owned(),
                purpose,
                fee_fen: fee,
                index: results[i + 1]["receipt"]["index"].as_u64().unwrap(),
            });
        }
    }
    out
}

async fn reg_get_text(server: &Server, b: &mut Browser, path: &str) -> String {
    let resp = server
        .http
        .get(server.url(path))
        .header(reqwest::header::COOKIE, b.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    resp.text().await.unwrap()
}

/// The partner simulator's sessions through the batch API: every event is accepted, every violation
/// the simulator planted comes back as a finding of its rule, and every red flag raises an alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_sessions_get_the_findings_of_their_planted_violations() {
    use tianping_sim::{SimConfig, Simulator, Violation};
    let db = TestDb::sqlite();
    let server = Server::start(&db, "intl").await;
    let hospital = org(&server, "模拟医院", OrgKind::InternetHospital).await;
    let p = Partner {
        server: &server,
        token: partner_token(&server, "sim-partner", &hospital.id).await,
    };
    let mut doctors = vec![];
    for n in 0..3 {
        doctors.push(
            verified_doctor(&server, &format!("sim.dr{n}"), 40 + n, &hospital.id)
                .await
                .1,
        );
    }
    let mut sim = Simulator::new(SimConfig {
        seed: 2026,
        doctors,
        red_flag_rate: 0.3,
        violation_rate: 0.6,
        ..SimConfig::default()
    });
    let (mut planted, mut flagged) = (0, 0);
    for _ in 0..40 {
        let s = sim.session();
        let results = p.batch(&s.events).await;
        let mut rules = std::collections::BTreeSet::new();
        let mut alerts = 0;
        for r in &results {
            assert_eq!(r["status"], 201, "{} {r}", s.consultation);
            rules.extend(rules_of(&r["receipt"]));
            alerts += r["receipt"]["alerts"].as_array().unwrap().len();
        }
        if let Some(v) = s.violation {
            planted += 1;
            let rule = match v {
                Violation::UnsignedPrescription => "IDS-21",
                Violation::ControlledDrug => "IDM-19",
                Violation::FirstVisitWithoutRecords => "IDM-17",
                Violation::MissingPharmacistReview => "IDM-18",
                Violation::NoDoctorCheck => "IDS-13",
            };
            assert!(
                rules.contains(rule),
                "{} planted {v:?}, found {rules:?}",
                s.consultation
            );
        }
        if s.red_flag.is_some() {
            flagged += 1;
            assert!(alerts > 0, "{}: a red flag without an alert", s.consultation);
            // The simulated doctor stops and refers: no NEG-LIST finding.
            assert!(!rules.contains("NEG-LIST"), "{}: {rules:?}", s.consultation);
        }
    }
    assert!(
        planted >= 10 && flagged >= 5,
        "the run exercised the rules: {planted} {flagged}"
    );
    server.stop().await;
}
