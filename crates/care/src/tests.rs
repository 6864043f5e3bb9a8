//! `evaluate` over plain data: each rule of the default book, the order of events, and refusals that
//! leave the state as it was.

use serde_json::{Value, json};
use tianping_identity::role::OrgKind;

use super::*;
use crate::event::EventError;

/// 2026-11-23T00:00:00Z.
const NOW: u64 = 1_795_392_000_000;
const DOCTOR: &str = "110000000000001";

fn start(visit: &str, prior: bool) -> Value {
    let prior_records = if prior {
        json!([{"institution": "北京安定医院", "record_ref": "MZ-2016-88", "diagnosis": "精神分裂症"}])
    } else {
        json!([])
    };
    json!({
        "idempotency_key": "c1:0", "consultation": "c1", "seq": 0, "type": "start",
        "patient_id_number": "11010519491231002X", "doctor_licence": DOCTOR,
        "department": "psychiatry", "visit": visit, "channel": "text", "jurisdiction": "CN-11",
        "prior_records": prior_records, "doctor_check": {"method": "face", "at_ms": NOW - 60_000},
        "occurred_ms": NOW
    })
}

fn ev(seq: u64, body: Value) -> Value {
    let mut v = body;
    v["idempotency_key"] = json!(format!("c1:{seq}"));
    v["consultation"] = json!("c1");
    v["seq"] = json!(seq);
    v["occurred_ms"] = json!(NOW + seq * 1000);
    v
}

fn facts() -> Facts {
    Facts {
        now_ms: NOW,
        liability_cover: None,
    }
}

struct Run {
    book: RuleBook,
    org: OrgKind,
    state: Option<Consultation>,
}

impl Run {
    fn new(org: OrgKind) -> Run {
        Run {
            book: RuleBook::default_book(),
            org,
            state: None,
        }
    }
    fn send(&mut self, v: Value) -> Result<Evaluation, EventError> {
        let e = Incoming::parse(&v)?;
        let out = evaluate(&self.book, self.state.as_ref(), &e, self.org, &facts())?;
        self.state = Some(out.state.clone());
        Ok(out)
    }
    fn rules(&mut self, v: Value) -> Vec<String> {
        self.send(v)
            .unwrap()
            .findings
            .into_iter()
            .map(|f| f.rule)
            .collect()
    }
}

#[test]
fn a_clean_follow_up_has_no_findings() {
    let mut r = Run::new(OrgKind::InternetHospital);
    assert!(r.rules(start("follow_up", true)).is_empty());
    assert!(
        r.rules(ev(
            1,
            json!({"type": "message", "from": "patient", "text": "最近睡眠还可以，想继续开药"})
        ))
        .is_empty()
    );
    assert!(
        r.rules(ev(
            2,
            json!({"type": "message", "from": "doctor", "text": "好的，按原方案继续"})
        ))
        .is_empty()
    );
    let rx = json!({"type": "prescription", "prescription_id": "rx1", "prescriber_licence": DOCTOR,
        "signature": "c2lnbmF0dXJl", "items": [{"drug": "硝苯地平控释片", "drug_class": "rx", "dose": "30mg qd", "quantity": 28}]});
    assert!(r.rules(ev(3, rx)).is_empty());
    assert!(r.rules(ev(4, json!({"type": "pharmacist_review", "prescription_id": "rx1", "pharmacist": "王药师", "decision": "approved"}))).is_empty());
    assert!(r.rules(ev(5, json!({"type": "end"}))).is_empty());
    let s = r.state.as_ref().unwrap();
    assert!(s.ended);
    assert_eq!(s.response_ms(), Some(1000));
}

#[test]
fn first_visits_and_missing_records_break_the_follow_up_rule() {
    let mut r = Run::new(OrgKind::InternetHospital);
    assert_eq!(r.rules(start("first_visit", false)), vec!["IDM-17"]);
    let mut r = Run::new(OrgKind::InternetHospital);
    assert_eq!(r.rules(start("follow_up", false)), vec!["IDM-17"]);
    // A pilot for the jurisdiction and department allows first visits.
    let mut r = Run::new(OrgKind::InternetHospital);
    r.book = RuleBook::default_book().with_pilots(&[rules::Pilot {
        jurisdiction: "CN-11".into(),
        department: "psychiatry".into(),
    }]);
    assert!(r.rules(start("first_visit", false)).is_empty());
}

#[test]
fn the_doctor_must_be_checked_just_before() {
    let mut v = start("follow_up", true);
    v.as_object_mut().unwrap().remove("doctor_check");
    assert_eq!(Run::new(OrgKind::InternetHospital).rules(v), vec!["IDS-13"]);
    let mut v = start("follow_up", true);
    v["doctor_check"]["at_ms"] = json!(NOW - 31 * 60_000);
    assert_eq!(Run::new(OrgKind::InternetHospital).rules(v), vec!["IDS-13"]);
    let mut v = start("follow_up", true);
    v["doctor_check"]["at_ms"] = json!(NOW + 1);
    assert_eq!(Run::new(OrgKind::InternetHospital).rules(v), vec!["IDS-13"]);
}

#[test]
fn rules_are_those_in_force_when_the_consultation_started() {
    // In 2020 IDS-13 did not exist yet: no doctor check needed.
    let mut v = start("follow_up", true);
    v.as_object_mut().unwrap().remove("doctor_check");
    v["occurred_ms"] = json!(1_590_000_000_000u64);
    let out = Run::new(OrgKind::InternetHospital).send(v).unwrap();
    assert!(out.findings.is_empty());
}

#[test]
fn prescriptions_unsigned_forbidden_or_unreviewed() {
    let mut r = Run::new(OrgKind::InternetHospital);
    r.send(start("follow_up", true)).unwrap();
    let rx = json!({"type": "prescription", "prescription_id": "rx1", "prescriber_licence": DOCTOR,
        "signature": null, "items": [{"drug": "奥氮平片", "drug_class": "psychotropic", "dose": "5mg qn", "quantity": 14}]});
    let mut got = r.rules(ev(1, rx));
    got.sort();
    assert_eq!(got, vec!["IDM-19", "IDS-21"]);
    // Ending without the pharmacist's approval.
    assert_eq!(r.rules(ev(2, json!({"type": "end"}))), vec!["IDM-18"]);
}

#[test]
fn a_prescription_by_someone_else_or_a_review_of_nothing_is_refused() {
    let mut r = Run::new(OrgKind::InternetHospital);
    r.send(start("follow_up", true)).unwrap();
    let rx = json!({"type": "prescription", "prescription_id": "rx1", "prescriber_licence": "110000000000002",
        "signature": "c2ln", "items": [{"drug": "布洛芬缓释胶囊", "drug_class": "otc", "dose": "0.3g bid", "quantity": 10}]});
    let before = r.state.clone();
    assert_eq!(r.send(ev(1, rx)).unwrap_err(), EventError::PrescriberNotAttending);
    assert_eq!(r.state, before);
    let review = json!({"type": "pharmacist_review", "prescription_id": "rx9", "pharmacist": "王药师", "decision": "approved"});
    assert_eq!(r.send(ev(1, review)).unwrap_err().code(), "unknown_prescription");
}

#[test]
fn a_consultation_platform_may_not_diagnose_or_prescribe() {
    let mut r = Run::new(OrgKind::ConsultationPlatform);
    r.send(start("follow_up", true)).unwrap();
    assert_eq!(
        r.rules(ev(1, json!({"type": "diagnosis", "text": "精神分裂症复发"}))),
        vec!["HCP-000"]
    );
    let rx = json!({"type": "prescription", "prescription_id": "rx1", "prescriber_licence": DOCTOR,
        "signature": "c2ln", "items": [{"drug": "布洛芬缓释胶囊", "drug_class": "otc", "dose": "0.3g bid", "quantity": 10}]});
    assert_eq!(r.rules(ev(2, rx)), vec!["HCP-000"]);
    // The same at an internet hospital is fine.
    let mut r = Run::new(OrgKind::InternetHospital);
    r.send(start("follow_up", true)).unwrap();
    assert!(
        r.rules(ev(1, json!({"type": "diagnosis", "text": "精神分裂症复发"})))
            .is_empty()
    );
}

#[test]
fn young_children_need_a_guardian() {
    // Born 2023-01-01: under 6 in 2026.
    let id = {
        let first17 = "11010520230101001";
        format!(
            "{first17}{}",
            tianping_identity::ids::ResidentId::check_character(first17).unwrap()
        )
    };
    let mut v = start("follow_up", true);
    v["patient_id_number"] = json!(id);
    assert_eq!(
        Run::new(OrgKind::InternetHospital).rules(v.clone()),
        vec!["IDM-19"]
    );
    v["guardian_present"] = json!(true);
    assert!(Run::new(OrgKind::InternetHospital).rules(v).is_empty());
}

#[test]
fn red_flags_raise_alerts_and_need_a_referral() {
    let mut r = Run::new(OrgKind::InternetHospital);
    r.send(start("follow_up", true)).unwrap();
    let out = r
        .send(ev(
            1,
            json!({"type": "message", "from": "patient", "text": "医生，我最近觉得活着没意思，不想活了"}),
        ))
        .unwrap();
    assert_eq!(out.flags.len(), 1);
    assert_eq!(out.flags[0].label, "suicide_risk");
    // The doctor's words never raise a flag.
    let out = r
        .send(ev(
            2,
            json!({"type": "message", "from": "doctor", "text": "有没有胸痛或者想自杀的念头？"}),
        ))
        .unwrap();
    assert!(out.flags.is_empty());
    assert_eq!(r.rules(ev(3, json!({"type": "end"}))), vec!["NEG-LIST"]);
    // With a referral, no NEG-LIST finding.
    let mut r = Run::new(OrgKind::InternetHospital);
    r.send(start("follow_up", true)).unwrap();
    r.send(ev(
        1,
        json!({"type": "message", "from": "patient", "text": "胸痛两个小时了"}),
    ))
    .unwrap();
    r.send(ev(
        2,
        json!({"type": "referral", "to": "北京朝阳医院急诊", "reason": "疑似急性冠脉综合征"}),
    ))
    .unwrap();
    assert!(r.rules(ev(3, json!({"type": "end"}))).is_empty());
}

#[test]
fn the_order_of_events_is_enforced() {
    let mut r = Run::new(OrgKind::InternetHospital);
    let msg = |seq| ev(seq, json!({"type": "message", "from": "patient", "text": "你好"}));
    assert_eq!(r.send(msg(1)).unwrap_err(), EventError::UnknownConsultation);
    r.send(start("follow_up", true)).unwrap();
    assert_eq!(
        r.send(start("follow_up", true)).unwrap_err(),
        EventError::ConsultationExists
    );
    assert_eq!(r.send(msg(2)).unwrap_err().code(), "out_of_order");
    r.send(msg(1)).unwrap();
    assert_eq!(r.send(msg(1)).unwrap_err().code(), "out_of_order");
    r.send(ev(2, json!({"type": "end"}))).unwrap();
    assert_eq!(r.send(msg(3)).unwrap_err(), EventError::ConsultationEnded);
}

#[test]
fn liability_cover_is_checked_once_known() {
    let book = RuleBook::default_book();
    let e = Incoming::parse(&start("follow_up", true)).unwrap();
    let uncovered = Facts {
        now_ms: NOW,
        liability_cover: Some(false),
    };
    let out = evaluate(&book, None, &e, OrgKind::InternetHospital, &uncovered).unwrap();
    assert_eq!(
        out.findings.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
        vec!["IHM-INS"]
    );
    assert!(out.findings[0].zh.contains("医疗责任保险"));
}

#[test]
fn replaying_the_facts_rebuilds_the_state() {
    let mut r = Run::new(OrgKind::InternetHospital);
    let first = r.send(start("follow_up", true)).unwrap();
    let mut facts = vec![];
    for v in [
        ev(
            1,
            json!({"type": "message", "from": "patient", "text": "不想活了"}),
        ),
        ev(
            2,
            json!({"type": "message", "from": "doctor", "text": "请马上联系家人"}),
        ),
        ev(
            3,
            json!({"type": "prescription", "prescription_id": "rx1", "prescriber_licence": DOCTOR,
            "signature": "c2ln", "items": [{"drug": "硝苯地平控释片", "drug_class": "rx", "dose": "30mg", "quantity": 7}]}),
        ),
        ev(
            4,
            json!({"type": "pharmacist_review", "prescription_id": "rx1", "pharmacist": "王", "decision": "approved"}),
        ),
        ev(5, json!({"type": "termination", "reason": "转线下"})),
    ] {
        facts.push(r.send(v).unwrap().fact);
    }
    let mut rebuilt = first.state.clone();
    for f in &facts {
        rebuilt.apply(f);
    }
    assert_eq!(Some(rebuilt), r.state);
}
