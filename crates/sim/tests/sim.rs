//! The simulator's output against the wire contract (`docs/care-events.md`) and its own promises.

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use tianping_identity::ids::ResidentId;
use tianping_sim::{
    DEPARTMENTS, RED_FLAG_TERMS, Session, SimConfig, Simulator, Violation, end_event, message_event,
    payment_event, prescription_event, red_flag_terms, start_event,
};

const DRUG_CLASSES: &[&str] = &[
    "rx",
    "otc",
    "antibiotic",
    "narcotic",
    "psychotropic",
    "toxic",
    "radioactive",
];

fn sessions(config: SimConfig, n: usize) -> Vec<Session> {
    let mut sim = Simulator::new(config);
    (0..n).map(|_| sim.session()).collect()
}

fn config(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        recording_record: Some("rec-0001".into()),
        ..SimConfig::default()
    }
}

fn kind(e: &Value) -> &str {
    e["type"].as_str().expect("type")
}

fn of_kind<'a>(s: &'a Session, k: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    s.events.iter().filter(move |e| kind(e) == k)
}

fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

fn key_chars_ok(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:_-".contains(&b))
}

#[test]
fn same_seed_same_sessions_other_seed_other_sessions() {
    let a = sessions(config(42), 60);
    let b = sessions(config(42), 60);
    assert_eq!(a, b);
    let bytes = |s: &[Session]| serde_json::to_vec(&s.iter().map(|s| &s.events).collect::<Vec<_>>()).unwrap();
    assert_eq!(bytes(&a), bytes(&b));
    let c = sessions(config(43), 60);
    assert_ne!(bytes(&a), bytes(&c));

    // A patient's number depends on seed and index only, not on what was generated before.
    let mut fresh = Simulator::new(config(42));
    let mut used = Simulator::new(config(42));
    for _ in 0..10 {
        used.session();
    }
    for i in 0..20 {
        assert_eq!(fresh.patient(i), used.patient(i));
    }
    assert_ne!(Simulator::new(config(43)).patient(0), fresh.patient(0));
}

#[test]
fn seq_is_contiguous_keys_unique_times_increase() {
    let all = sessions(config(7), 200);
    let mut keys = HashSet::new();
    let mut consultations = HashSet::new();
    let mut last_time = 0;
    for s in &all {
        assert!(
            consultations.insert(s.consultation.clone()),
            "duplicate {}",
            s.consultation
        );
        assert!(s.consultation.starts_with("sim-7-"));
        assert!(key_chars_ok(&s.consultation));
        assert_eq!(kind(&s.events[0]), "start");
        assert_eq!(kind(s.events.last().unwrap()), "end");
        assert_eq!(of_kind(s, "start").count(), 1);
        assert_eq!(of_kind(s, "end").count(), 1);
        for (i, e) in s.events.iter().enumerate() {
            assert_eq!(e["seq"].as_u64(), Some(i as u64), "{}", s.consultation);
            assert_eq!(e["consultation"].as_str(), Some(s.consultation.as_str()));
            let key = e["idempotency_key"].as_str().expect("idempotency_key");
            assert_eq!(key, format!("{}:{i}", s.consultation));
            assert!(key_chars_ok(key), "{key}");
            assert!(keys.insert(key.to_owned()), "duplicate key {key}");
            let t = e["occurred_ms"].as_u64().expect("occurred_ms");
            assert!(t > last_time, "time does not increase at {key}");
            assert!(t >= tianping_sim::BASE_TIME_MS);
            last_time = t;
        }
        let messages: Vec<&Value> = of_kind(s, "message").collect();
        assert!((3..=12).contains(&messages.len()), "{} messages", messages.len());
        for (i, m) in messages.iter().enumerate() {
            let expected = if i % 2 == 0 { "patient" } else { "doctor" };
            assert_eq!(m["from"].as_str(), Some(expected));
        }
    }
    assert_eq!(keys.len(), all.iter().map(|s| s.events.len()).sum::<usize>());
}

#[test]
fn resident_ids_are_valid_and_ages_spread() {
    let mut sim = Simulator::new(config(9));
    let mut numbers = HashSet::new();
    let (mut under6, mut under14, mut adults) = (0, 0, 0);
    for i in 0..300 {
        let id = sim.patient(i);
        assert!(ResidentId::parse(&id).is_ok(), "{id}");
        assert!(numbers.insert(id.clone()), "duplicate number for patient {i}");
        let year: u32 = id[6..10].parse().unwrap();
        assert!((1940..=2024).contains(&year), "{id}");
        // Sessions happen from 2026-09-21 on; a birth year after 2020 is under 6, after 2012 under 14.
        match year {
            2021.. => under6 += 1,
            2013.. => under14 += 1,
            _ => adults += 1,
        }
    }
    assert!(
        under6 > 20 && under14 > 20 && adults > 150,
        "{under6} {under14} {adults}"
    );

    let mut guardians = 0;
    for s in sessions(config(9), 200) {
        assert!(
            ResidentId::parse(&s.patient_id_number).is_ok(),
            "{}",
            s.patient_id_number
        );
        assert_eq!(
            s.events[0]["patient_id_number"].as_str(),
            Some(s.patient_id_number.as_str())
        );
        let year: u32 = s.patient_id_number[6..10].parse().unwrap();
        if s.department == "pediatrics" {
            assert!(year >= 2013, "pediatrics patient born {year}");
        }
        if year >= 2013 {
            assert_eq!(s.events[0]["guardian_present"], Value::Bool(true));
            guardians += 1;
        } else if year <= 2011 {
            assert!(s.events[0].get("guardian_present").is_none());
        }
    }
    assert!(guardians > 0);
}

#[test]
fn event_sizes_are_mixed_and_bounded() {
    let all = sessions(config(11), 200);
    let sizes: Vec<usize> = all
        .iter()
        .flat_map(|s| &s.events)
        .map(|e| serde_json::to_vec(e).unwrap().len())
        .collect();
    let inside = sizes.iter().filter(|n| (150..=2600).contains(*n)).count();
    assert!(
        inside * 100 >= sizes.len() * 95,
        "{inside} of {} in 150..=2600",
        sizes.len()
    );
    assert!(
        sizes.iter().all(|n| *n <= 2600),
        "max {}",
        sizes.iter().max().unwrap()
    );
    let short = sizes.iter().filter(|n| **n < 400).count();
    let long = sizes.iter().filter(|n| **n > 1200).count();
    assert!(short * 10 >= sizes.len(), "{short} short of {}", sizes.len());
    assert!(long * 20 >= sizes.len(), "{long} long of {}", sizes.len());
    let messages: Vec<usize> = all
        .iter()
        .flat_map(|s| of_kind(s, "message"))
        .map(|e| serde_json::to_vec(e).unwrap().len())
        .collect();
    assert!(messages.iter().any(|n| *n < 300) && messages.iter().any(|n| *n > 1500));
}

fn texts(s: &Session) -> String {
    s.events.iter().map(|e| e.to_string()).collect()
}

#[test]
fn red_flag_rate_one_flags_every_session_zero_none() {
    for s in sessions(
        SimConfig {
            red_flag_rate: 1.0,
            ..config(5)
        },
        200,
    ) {
        let term = s.red_flag.as_deref().expect("red flag");
        assert!(
            red_flag_terms(&s.department).contains(&term),
            "{term} in {}",
            s.department
        );
        let flagged = of_kind(&s, "message")
            .filter(|m| m["from"] == "patient")
            .any(|m| m["text"].as_str().unwrap().contains(term));
        assert!(flagged, "{}: no patient message holds {term}", s.consultation);
        assert_eq!(of_kind(&s, "termination").count(), 1);
        assert_eq!(of_kind(&s, "referral").count(), 1);
    }
    for s in sessions(
        SimConfig {
            red_flag_rate: 0.0,
            ..config(5)
        },
        200,
    ) {
        assert_eq!(s.red_flag, None);
        let all = texts(&s);
        for term in RED_FLAG_TERMS {
            assert!(!all.contains(term), "{}: {term} without red flag", s.consultation);
        }
    }
    // The default rate flags some sessions, not all.
    let flagged = sessions(
        SimConfig {
            red_flag_rate: 0.2,
            ..config(5)
        },
        200,
    )
    .iter()
    .filter(|s| s.red_flag.is_some())
    .count();
    assert!((15..=70).contains(&flagged), "{flagged}");
}

#[test]
fn every_start_has_the_contract_fields() {
    let cfg = SimConfig {
        violation_rate: 0.0,
        jurisdiction: "CN-31".into(),
        ..config(3)
    };
    let doctors = cfg.doctors.clone();
    let all = sessions(cfg, 200);
    let mut follow_ups = 0;
    let mut channels = HashSet::new();
    let mut departments = HashSet::new();
    for s in &all {
        let start = &s.events[0];
        let id = start["patient_id_number"].as_str().expect("patient_id_number");
        assert_eq!(id.len(), 18);
        let licence = start["doctor_licence"].as_str().expect("doctor_licence");
        assert!(
            licence.len() == 15 && licence.bytes().all(|b| b.is_ascii_digit()),
            "{licence}"
        );
        assert!(doctors.iter().any(|d| d == licence));
        assert_eq!(licence, s.doctor_licence);
        let department = start["department"].as_str().expect("department");
        assert!(DEPARTMENTS.contains(&department));
        assert_eq!(department, s.department);
        departments.insert(department.to_owned());
        let visit = start["visit"].as_str().expect("visit");
        assert!(["first_visit", "follow_up"].contains(&visit), "{visit}");
        let channel = start["channel"].as_str().expect("channel");
        assert!(["text", "voice", "video"].contains(&channel), "{channel}");
        channels.insert(channel.to_owned());
        assert_eq!(start["jurisdiction"], "CN-31");
        let prior = start["prior_records"].as_array().expect("prior_records");
        for r in prior {
            for field in ["institution", "record_ref", "diagnosis"] {
                assert!(!r[field].as_str().expect(field).is_empty());
            }
        }
        assert_eq!(
            prior.len(),
            1,
            "without violations every session rests on a prior record"
        );
        if visit == "follow_up" {
            follow_ups += 1;
        }
        let check = start["doctor_check"].as_object().expect("doctor_check");
        assert_eq!(check["method"], "face");
        let at = check["at_ms"].as_u64().unwrap();
        let occurred = start["occurred_ms"].as_u64().unwrap();
        assert!(at < occurred && occurred - at <= 5 * 60_000, "{at} {occurred}");
    }
    assert!(
        (150..=190).contains(&follow_ups),
        "{follow_ups} follow-ups of 200"
    );
    assert_eq!(channels.len(), 3);
    assert_eq!(departments.len(), DEPARTMENTS.len());
}

#[test]
fn every_event_follows_the_contract() {
    let all = sessions(config(21), 200);
    let mut seen = HashSet::new();
    for s in &all {
        let channel = s.events[0]["channel"].as_str().unwrap();
        for e in &s.events {
            let k = kind(e);
            seen.insert(k.to_owned());
            match k {
                "start" | "end" => {}
                "message" => {
                    assert!(["patient", "doctor"].contains(&e["from"].as_str().unwrap()));
                    let n = e["text"].as_str().unwrap().chars().count();
                    assert!((1..=4000).contains(&n));
                }
                "attachment" => {
                    assert_eq!(e["media_type"], "image/jpeg");
                    assert!(e["name"].as_str().unwrap().ends_with(".jpg"));
                    assert!(e["size"].as_u64().unwrap() > 0);
                    let sha = e["sha256"].as_str().unwrap();
                    assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()));
                }
                "recording" => {
                    assert_eq!(e["record"], "rec-0001");
                    assert_ne!(channel, "text");
                    assert!(
                        e["media_type"]
                            .as_str()
                            .unwrap()
                            .starts_with(if channel == "voice" { "audio/" } else { "video/" })
                    );
                    assert!(e["duration_s"].as_u64().unwrap() > 0);
                }
                "diagnosis" => {
                    assert!(e["text"].as_str().unwrap().chars().any(is_cjk));
                    assert!(
                        e["icd10"]
                            .as_str()
                            .unwrap()
                            .chars()
                            .next()
                            .unwrap()
                            .is_ascii_uppercase()
                    );
                }
                "prescription" => {
                    assert_eq!(e["prescriber_licence"].as_str(), Some(s.doctor_licence.as_str()));
                    assert!(!e["prescription_id"].as_str().unwrap().is_empty());
                    if let Some(sig) = e["signature"].as_str() {
                        assert_eq!(STANDARD.decode(sig).unwrap().len(), 64);
                    } else {
                        assert!(e["signature"].is_null());
                    }
                    let items = e["items"].as_array().unwrap();
                    assert!((1..=50).contains(&items.len()));
                    for item in items {
                        assert!(item["drug"].as_str().unwrap().chars().any(is_cjk));
                        assert!(DRUG_CLASSES.contains(&item["drug_class"].as_str().unwrap()));
                        assert!(!item["dose"].as_str().unwrap().is_empty());
                        assert!(item["quantity"].as_u64().unwrap() >= 1);
                    }
                }
                "pharmacist_review" => {
                    assert_eq!(e["decision"], "approved");
                    assert!(!e["pharmacist"].as_str().unwrap().is_empty());
                }
                "payment" => {
                    assert!(e["fee_fen"].as_i64().unwrap() > 0);
                    assert!(["consultation_fee", "drug"].contains(&e["purpose"].as_str().unwrap()));
                }
                "termination" => assert!(e["reason"].as_str().unwrap().chars().any(is_cjk)),
                "referral" => {
                    assert!(e["to"].as_str().unwrap().chars().any(is_cjk));
                    assert!(e["reason"].as_str().unwrap().chars().any(is_cjk));
                }
                other => panic!("unknown event type {other}"),
            }
        }
    }
    for k in [
        "start",
        "message",
        "attachment",
        "recording",
        "diagnosis",
        "prescription",
        "pharmacist_review",
        "payment",
        "termination",
        "referral",
        "end",
    ] {
        assert!(seen.contains(k), "no {k} in 200 sessions");
    }
    // Without a record to name, no recordings.
    let none = sessions(
        SimConfig {
            recording_record: None,
            ..config(21)
        },
        100,
    );
    assert!(none.iter().all(|s| of_kind(s, "recording").next().is_none()));
}

#[test]
fn messages_are_chinese() {
    for s in sessions(config(13), 100) {
        for m in of_kind(&s, "message") {
            let text = m["text"].as_str().unwrap();
            let cjk = text.chars().filter(|c| is_cjk(*c)).count();
            assert!(cjk * 2 >= text.chars().count(), "mostly Chinese: {text}");
            assert!(
                !text.contains(['{', '}', '|']),
                "unfilled placeholder or condition tag: {text}"
            );
        }
    }
}

fn prescriptions(s: &Session) -> Vec<&Value> {
    of_kind(s, "prescription").collect()
}

fn reviewed(s: &Session, rx: &Value) -> bool {
    of_kind(s, "pharmacist_review").any(|r| r["prescription_id"] == rx["prescription_id"])
}

fn controlled(rx: &Value) -> bool {
    rx["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| ["psychotropic", "narcotic"].contains(&i["drug_class"].as_str().unwrap()))
}

#[test]
fn violations_appear_exactly_when_drawn() {
    let mut kinds = HashSet::new();
    for s in sessions(
        SimConfig {
            violation_rate: 1.0,
            ..config(17)
        },
        200,
    ) {
        let v = s.violation.expect("every session has a violation");
        kinds.insert(v);
        let start = &s.events[0];
        let rxs = prescriptions(&s);
        let signed = |rx: &&Value| rx["signature"].is_string();
        match v {
            Violation::UnsignedPrescription => assert!(rxs.iter().any(|rx| !signed(rx))),
            Violation::ControlledDrug => assert!(rxs.iter().any(|rx| controlled(rx))),
            Violation::FirstVisitWithoutRecords => {
                assert_eq!(start["visit"], "first_visit");
                assert!(start["prior_records"].as_array().unwrap().is_empty());
                assert!(!rxs.is_empty());
            }
            Violation::MissingPharmacistReview => assert!(rxs.iter().any(|rx| !reviewed(&s, rx))),
            Violation::NoDoctorCheck => assert!(start.get("doctor_check").is_none()),
        }
        // Only the drawn violation is present.
        assert_eq!(rxs.iter().all(signed), v != Violation::UnsignedPrescription);
        assert_eq!(
            rxs.iter().any(|rx| controlled(rx)),
            v == Violation::ControlledDrug
        );
        assert_eq!(
            rxs.iter().all(|rx| reviewed(&s, rx)),
            v != Violation::MissingPharmacistReview
        );
        assert_eq!(start.get("doctor_check").is_none(), v == Violation::NoDoctorCheck);
        let no_records = start["prior_records"].as_array().unwrap().is_empty();
        assert_eq!(no_records, v == Violation::FirstVisitWithoutRecords);
        if !rxs.is_empty() && v != Violation::FirstVisitWithoutRecords {
            assert_eq!(start["visit"], "follow_up");
        }
    }
    assert_eq!(kinds.len(), Violation::ALL.len());

    let mut prescribed = 0;
    for s in sessions(
        SimConfig {
            violation_rate: 0.0,
            ..config(17)
        },
        200,
    ) {
        assert_eq!(s.violation, None);
        let start = &s.events[0];
        assert!(start["doctor_check"].is_object());
        assert!(!start["prior_records"].as_array().unwrap().is_empty());
        for rx in prescriptions(&s) {
            prescribed += 1;
            assert!(rx["signature"].is_string());
            assert!(!controlled(rx));
            assert!(reviewed(&s, rx));
            assert_eq!(
                start["visit"], "follow_up",
                "clean first visits get no prescription"
            );
        }
    }
    assert!(
        prescribed > 80,
        "{prescribed} prescriptions in 200 clean sessions"
    );
}

#[test]
fn builders_make_contract_events() {
    let now = 1_800_000_000_000;
    let id = {
        let first17 = "11010519900307123";
        format!("{first17}{}", ResidentId::check_character(first17).unwrap())
    };
    let start = start_event("c-1", &id, "110110000012345", "cardiology", "follow_up", now);
    assert_eq!(start["seq"], 0);
    assert_eq!(start["type"], "start");
    assert_eq!(start["idempotency_key"], "c-1:0");
    assert_eq!(start["patient_id_number"], id.as_str());
    assert_eq!(start["channel"], "text");
    assert_eq!(start["jurisdiction"], "CN-11");
    assert_eq!(start["visit"], "follow_up");
    assert_eq!(start["prior_records"].as_array().unwrap().len(), 1);
    assert_eq!(start["doctor_check"]["method"], "face");
    assert_eq!(start["doctor_check"]["at_ms"], now - 60_000);
    assert!(start.get("occurred_ms").is_none());
    let first = start_event("c-2", &id, "110110000012345", "general", "first_visit", now);
    assert!(first["prior_records"].as_array().unwrap().is_empty());

    let m = message_event("c-1", 1, "patient", "医生您好");
    assert_eq!(
        (m["seq"].as_u64(), m["type"].as_str()),
        (Some(1), Some("message"))
    );
    assert_eq!(
        (m["from"].as_str(), m["text"].as_str()),
        (Some("patient"), Some("医生您好"))
    );
    assert_eq!(m["idempotency_key"], "c-1:1");

    let p = payment_event("c-1", 2, 5000, "consultation_fee");
    assert_eq!(
        (p["fee_fen"].as_i64(), p["purpose"].as_str()),
        (Some(5000), Some("consultation_fee"))
    );
    assert_eq!(p["type"], "payment");

    let items = [
        ("硝苯地平控释片", "rx"),
        ("奥氮平片", "psychotropic"),
        ("某新药", "otc"),
    ];
    let rx = prescription_event("c-1", 3, "rx-1", "110110000012345", true, &items);
    assert_eq!(rx["type"], "prescription");
    assert_eq!(rx["prescriber_licence"], "110110000012345");
    assert_eq!(
        STANDARD.decode(rx["signature"].as_str().unwrap()).unwrap().len(),
        64
    );
    assert_eq!(
        rx,
        prescription_event("c-1", 3, "rx-1", "110110000012345", true, &items)
    );
    let other = prescription_event("c-1", 3, "rx-2", "110110000012345", true, &items);
    assert_ne!(rx["signature"], other["signature"]);
    let got: Vec<(&str, &str, &str)> = rx["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["drug"].as_str().unwrap(),
                i["drug_class"].as_str().unwrap(),
                i["dose"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("硝苯地平控释片", "rx", "30mg 每日1次"),
            ("奥氮平片", "psychotropic", "5mg 每晚1次"),
            ("某新药", "otc", "遵医嘱")
        ]
    );
    let unsigned = prescription_event("c-1", 3, "rx-1", "110110000012345", false, &items[..1]);
    assert!(unsigned["signature"].is_null());
    assert_eq!(unsigned["items"].as_array().unwrap().len(), 1);

    let end = end_event("c-1", 4);
    assert_eq!(
        (end["type"].as_str(), end["seq"].as_u64()),
        (Some("end"), Some(4))
    );
    assert_eq!(end["idempotency_key"], "c-1:4");
}
