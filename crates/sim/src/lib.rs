//! A partner simulator: realistic online-consultation sessions as care events, in exactly the wire format of
//! `docs/care-events.md` (`POST /api/v1/care/events`), for tests, demos and load generation.
//!
//! [`Simulator::session`] produces one consultation at a time: a `start`, 3–12 messages alternating
//! patient/doctor in Simplified Chinese, optionally an attachment and a recording, often a diagnosis and a
//! prescription with its pharmacist review, payments, occasionally a termination and referral, and an `end`.
//! Every event carries `idempotency_key = "<consultation>:<seq>"` and an `occurred_ms`; seq numbers run from
//! 0 without gaps. A share of sessions ([`SimConfig::red_flag_rate`]) contains a red-flag phrase in a patient
//! message ([`red_flag_terms`]), another share ([`SimConfig::violation_rate`]) exactly one compliance
//! violation ([`Violation`]); each [`Session`] says which, so tests can compare findings with the truth.
//!
//! The builders [`start_event`], [`message_event`], [`payment_event`], [`prescription_event`] and
//! [`end_event`] make single events for hand-crafted situations.
//!
//! **Pure and reproducible**: no I/O, no clock, no system randomness. A [`SimConfig::seed`] fixes every
//! byte of the output (a SplitMix64 generator of its own).

#![warn(missing_docs)]

mod bank;
mod events;
mod rng;

use serde_json::{Value, json};
use tianping_identity::ids::ResidentId;

use crate::bank::{Condition, Department};
pub use crate::events::{
    end_event, idempotency_key, message_event, payment_event, prescription_event, start_event,
};
use crate::rng::Rng;

/// Event time of the first session's base: 2026-09-21 UTC, in Unix milliseconds. Sessions start after it
/// and follow each other.
pub const BASE_TIME_MS: u64 = 1_790_000_000_000;

/// The departments sessions are drawn from (the contract's `department` codes).
pub const DEPARTMENTS: &[&str] = &[
    "psychiatry",
    "cardiology",
    "general",
    "pediatrics",
    "dermatology",
    "endocrinology",
];

/// Every red-flag term any department uses.
pub const RED_FLAG_TERMS: &[&str] = &[
    "不想活了",
    "想自杀",
    "轻生",
    "胸痛",
    "胸口压榨样疼痛",
    "呼吸困难",
    "高烧不退",
    "抽搐",
    "昏迷",
    "大出血",
];

/// The red-flag terms the simulator uses for `department`: psychiatry 不想活了 / 想自杀 / 轻生, cardiology
/// 胸痛 / 胸口压榨样疼痛 / 呼吸困难, pediatrics 高烧不退 / 抽搐, every other department 昏迷 / 大出血.
pub fn red_flag_terms(department: &str) -> &'static [&'static str] {
    match department {
        "psychiatry" => bank::PSYCHIATRY_TERMS,
        "cardiology" => bank::CARDIOLOGY_TERMS,
        "pediatrics" => bank::PEDIATRICS_TERMS,
        _ => bank::GENERAL_TERMS,
    }
}

/// What the simulator generates.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Seed of the generator: the same configuration gives the same sessions, byte for byte.
    pub seed: u64,
    /// Practising licence numbers (15 digits) of the attending doctors; sessions pick one at random. When
    /// empty, the default doctors are used.
    pub doctors: Vec<String>,
    /// Number of distinct patients (indices `0..patients` of [`Simulator::patient`]); 0 counts as 1.
    pub patients: usize,
    /// `jurisdiction` of every `start` (ISO 3166-2:CN, e.g. `CN-11`).
    pub jurisdiction: String,
    /// Probability that a session contains a red-flag phrase in a patient message (then the doctor urges an
    /// emergency visit, terminates and refers).
    pub red_flag_rate: f64,
    /// Probability that a session contains exactly one compliance violation ([`Violation`]).
    pub violation_rate: f64,
    /// A vault record id (completed upload) to name in `recording` events; without one, sessions carry no
    /// recordings. Voice and video sessions then often have one.
    pub recording_record: Option<String>,
}

impl Default for SimConfig {
    /// Seed 1, four doctors, 50 patients, Beijing (`CN-11`), 5 % red flags, 10 % violations, no recordings.
    fn default() -> Self {
        SimConfig {
            seed: 1,
            doctors: [
                "110110000012345",
                "110440100023456",
                "210310000034567",
                "110330100045678",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            patients: 50,
            jurisdiction: "CN-11".into(),
            red_flag_rate: 0.05,
            violation_rate: 0.1,
            recording_record: None,
        }
    }
}

/// A compliance violation the simulator can put into a session (at most one per session).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Violation {
    /// The prescription's `signature` is `null`.
    UnsignedPrescription,
    /// The prescription has a `psychotropic` or `narcotic` item.
    ControlledDrug,
    /// `visit` is `first_visit`, `prior_records` is empty, and the doctor still diagnoses and prescribes.
    FirstVisitWithoutRecords,
    /// A prescription without any `pharmacist_review`.
    MissingPharmacistReview,
    /// The `start` has no `doctor_check`.
    NoDoctorCheck,
}

impl Violation {
    /// Every violation, in the order the simulator draws them.
    pub const ALL: [Violation; 5] = [
        Violation::UnsignedPrescription,
        Violation::ControlledDrug,
        Violation::FirstVisitWithoutRecords,
        Violation::MissingPharmacistReview,
        Violation::NoDoctorCheck,
    ];

    /// A stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Violation::UnsignedPrescription => "unsigned_prescription",
            Violation::ControlledDrug => "controlled_drug",
            Violation::FirstVisitWithoutRecords => "first_visit_without_records",
            Violation::MissingPharmacistReview => "missing_pharmacist_review",
            Violation::NoDoctorCheck => "no_doctor_check",
        }
    }

    /// Whether the violation needs a prescription in the session.
    fn needs_prescription(self) -> bool {
        !matches!(self, Violation::NoDoctorCheck)
    }
}

/// One generated consultation.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// The consultation id, `sim-<seed>-<n>` with `n` counting from 1.
    pub consultation: String,
    /// The patient's resident ID number (the `start`'s `patient_id_number`).
    pub patient_id_number: String,
    /// The attending doctor's licence (the `start`'s `doctor_licence`, also the prescriber).
    pub doctor_licence: String,
    /// The department code.
    pub department: String,
    /// The events in order, seq 0.. without gaps, each a JSON object ready to post.
    pub events: Vec<Value>,
    /// The red-flag term put into a patient message, if any (ground truth for tests).
    pub red_flag: Option<String>,
    /// The violation put into the session, if any (ground truth for tests).
    pub violation: Option<Violation>,
}

/// Generates sessions; see the crate documentation.
#[derive(Clone, Debug)]
pub struct Simulator {
    config: SimConfig,
    rng: Rng,
    /// Sessions generated so far.
    count: u64,
    /// Time of the previous session's last event.
    clock_ms: u64,
}

impl Simulator {
    /// A simulator for `config`, positioned before its first session.
    pub fn new(mut config: SimConfig) -> Self {
        if config.doctors.is_empty() {
            config.doctors = SimConfig::default().doctors;
        }
        config.patients = config.patients.max(1);
        let rng = Rng::derived(config.seed, 0);
        Simulator {
            config,
            rng,
            count: 0,
            clock_ms: BASE_TIME_MS,
        }
    }

    /// The configuration in use (with defaults filled in).
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Patient `i`'s resident ID number: a valid GB 11643 number (check character included) that depends only
    /// on the seed and `i`. Birth dates spread over 1940–2024: every sixth patient (`i % 6 == 1`) is born
    /// 2021–2024 (under 6 when the sessions happen), every sixth (`i % 6 == 4`) 2013–2019 (6 to 13), the
    /// others 1940–2010. The sequence code is derived from `i`, so numbers of different patients differ.
    pub fn patient(&mut self, i: usize) -> String {
        patient_id(self.config.seed, i)
    }

    /// The next session. Consultation ids are unique per simulator (`sim-<seed>-<n>`), idempotency keys
    /// unique (`<consultation>:<seq>`), and each session's events happen after the previous session's.
    pub fn session(&mut self) -> Session {
        self.count += 1;
        let consultation = format!("sim-{}-{}", self.config.seed, self.count);
        let rng = &mut self.rng;

        // Decide what happens.
        let violation = rng
            .chance(self.config.violation_rate)
            .then(|| *rng.pick(&Violation::ALL));
        let red_flag = rng.chance(self.config.red_flag_rate);
        let dep: &'static Department = rng.pick(bank::DEPARTMENTS);
        let cond: &'static Condition = rng.pick(dep.conditions);
        let patient = pick_patient(rng, self.config.patients, dep.children);
        let doctor = rng.pick(&self.config.doctors).clone();
        let needs_rx = violation.is_some_and(Violation::needs_prescription);
        // A first visit only prescribes as the first-visit violation: other violations keep to follow-ups.
        let first_visit =
            violation == Some(Violation::FirstVisitWithoutRecords) || (!needs_rx && rng.chance(0.15));
        let with_record = violation != Some(Violation::FirstVisitWithoutRecords);
        let channel = *rng.pick(&["text", "text", "text", "voice", "video"]);
        let offline_referral = !red_flag && !first_visit && !needs_rx && rng.chance(0.05);
        let (diagnosis, prescription) = if red_flag {
            (needs_rx, needs_rx)
        } else if first_visit && with_record {
            (rng.chance(0.5), false)
        } else if offline_referral {
            (false, false)
        } else {
            let diagnosis = needs_rx || rng.chance(0.85);
            (diagnosis, needs_rx || (diagnosis && rng.chance(0.8)))
        };
        let referral = red_flag || offline_referral || (first_visit && with_record && rng.chance(0.5));
        let termination = red_flag || offline_referral;

        let patient_id_number = patient_id(self.config.seed, patient);
        let start_ms = self.clock_ms + rng.range(60_000, 1_200_000);
        let ctx = Ctx {
            dx: cond.name,
            drug: cond.drugs[0].name,
            inst: rng.pick_str(dep.institutions),
            dur: rng.pick_str(bank::DURATIONS),
            referral: rng.pick_str(dep.referrals),
        };

        // The conversation.
        let closing = if prescription {
            "好的，这次给您开{drug}，处方需要药师审核，审核通过后药品会配送到家，请按医嘱服用。"
        } else if offline_referral || (first_visit && referral) {
            "线上能做的判断有限，您的情况建议尽快到{ref}线下面诊，做进一步的检查。"
        } else if diagnosis {
            "根据目前的情况，考虑是{dx}，先按我说的调整生活方式，注意观察，有变化随时复诊。"
        } else {
            "先按我说的注意观察，如果没有好转，建议到医院线下就诊。"
        };
        let opener = if !with_record {
            if dep.children {
                "医生您好，孩子这个情况之前没去医院看过，想先在网上问问。"
            } else {
                "医生您好，我是第一次看这个问题，之前没有去医院看过。"
            }
        } else if first_visit {
            "医生您好，我第一次在这个平台问诊，之前在{inst}看过，诊断是{dx}。"
        } else if dep.children {
            "医生您好，我是孩子的家长，孩子之前在{inst}诊断为{dx}，今天来复诊。"
        } else {
            "医生您好，我是来复诊的，之前在{inst}确诊了{dx}，一直在吃{drug}。"
        };
        let applicable = |sentences: &[&'static str]| -> Vec<&'static str> {
            sentences
                .iter()
                .filter_map(|s| bank::for_condition(s, cond.icd10))
                .collect()
        };
        let mut patient_pool = applicable(dep.patient);
        if !dep.children {
            patient_pool.extend(bank::GENERIC_PATIENT.iter().chain(bank::PATIENT_QUESTIONS));
        }
        let mut doctor_pool = bank::DOCTOR_OPENERS.to_vec();
        doctor_pool.extend(applicable(dep.doctor));
        doctor_pool.extend(bank::GENERIC_DOCTOR);
        if !dep.children {
            doctor_pool.extend(bank::ADULT_DOCTOR);
        }
        let n = rng.range(3, 12) as usize;
        let last_doctor = if n.is_multiple_of(2) { n - 1 } else { n - 2 };
        let last_patient = if n.is_multiple_of(2) { n - 2 } else { n - 1 };
        let mut used = Vec::new();
        let mut messages: Vec<(&str, String)> = Vec::with_capacity(n);
        for i in 0..n {
            let from = if i % 2 == 0 { "patient" } else { "doctor" };
            let (pool, short) = if i % 2 == 0 {
                (&patient_pool, bank::SHORT_PATIENT)
            } else {
                (&doctor_pool, bank::SHORT_DOCTOR)
            };
            let size = match rng.below(100) {
                _ if i == 0 && rng.chance(0.4) => Size::Long,
                _ if i == 0 => Size::Medium,
                0..35 => Size::Short,
                35..75 => Size::Medium,
                _ => Size::Long,
            };
            let mut text = match i {
                0 => ctx.render(opener),
                1 if rng.chance(0.6) => rng.pick_str(bank::DOCTOR_GREETINGS).to_owned(),
                _ => String::new(),
            };
            text = match size {
                _ if i == last_patient && i > 0 && rng.chance(0.5) => ctx.render(rng.pick_str(short)),
                Size::Short if i > 0 => {
                    let sentence = fresh(rng, short, &mut used).unwrap_or_else(|| rng.pick_str(short));
                    text + &ctx.render(sentence)
                }
                Size::Short | Size::Medium => {
                    let target = rng.range(50, 180) as usize;
                    compose(rng, &ctx, &mut used, pool, text, target)
                }
                Size::Long => {
                    let target = rng.range(380, 600) as usize;
                    compose(rng, &ctx, &mut used, pool, text, target)
                }
            };
            if text.is_empty() {
                text = ctx.render(rng.pick_str(short));
            }
            if i == last_doctor {
                text.push_str(&ctx.render(closing));
            }
            messages.push((from, text));
        }
        let red_term = if red_flag {
            let k = 2 * rng.below(((n - 3) / 2 + 1) as u64) as usize;
            let sentence = *rng.pick(dep.red_flags);
            if k == 0 {
                messages[0].1.push_str(sentence);
            } else {
                messages[k].1 = format!("医生，{sentence}");
            }
            messages[k + 1].1 = dep.urgent_reply.to_owned();
            messages[k + 2] = ("patient", rng.pick(bank::RED_FLAG_ACKS).to_string());
            messages.truncate(k + 3);
            dep.terms
                .iter()
                .find(|t| sentence.contains(*t))
                .map(|t| t.to_string())
        } else {
            None
        };
        let attach_chance = if dep.code == "dermatology" { 0.7 } else { 0.3 };
        let attach_after = rng
            .chance(attach_chance)
            .then(|| 2 * rng.below(messages.len().div_ceil(2) as u64) as usize);

        // The events.
        let mut out = Events {
            consultation: &consultation,
            events: Vec::new(),
            t: start_ms,
        };
        let visit = if first_visit { "first_visit" } else { "follow_up" };
        let mut start = start_event(
            &consultation,
            &patient_id_number,
            &doctor,
            dep.code,
            visit,
            start_ms,
        );
        {
            let m = start.as_object_mut().expect("start is an object");
            m.insert("channel".into(), json!(channel));
            m.insert("jurisdiction".into(), json!(self.config.jurisdiction));
            let prior = if with_record {
                let record_ref = format!("MZ{}", rng.range(1_000_000_000, 9_999_999_999));
                vec![events::prior_record(ctx.inst, &record_ref, cond.name)]
            } else {
                Vec::new()
            };
            m.insert("prior_records".into(), Value::Array(prior));
            if violation == Some(Violation::NoDoctorCheck) {
                m.remove("doctor_check");
            } else {
                let at = start_ms - rng.range(60_000, 300_000);
                m.insert("doctor_check".into(), events::doctor_check(at));
            }
            if age_at(&patient_id_number, start_ms) < 14 {
                m.insert("guardian_present".into(), json!(true));
            }
            m.insert("occurred_ms".into(), json!(start_ms));
        }
        out.events.push(start);
        for (i, (from, text)) in messages.iter().enumerate() {
            out.push(rng, |c, seq| message_event(c, seq, from, text));
            if attach_after == Some(i) {
                let name = *rng.pick(dep.attachments);
                let size = rng.range(80_000, 4_000_000);
                let sha256 = hex::encode(rng.bytes(32));
                out.push(rng, |c, seq| {
                    let mut m = events::common(c, seq, "attachment");
                    m.insert("from".into(), json!("patient"));
                    m.insert("media_type".into(), json!("image/jpeg"));
                    m.insert("name".into(), json!(name));
                    m.insert("size".into(), json!(size));
                    m.insert("sha256".into(), json!(sha256));
                    Value::Object(m)
                });
            }
        }
        if let Some(record) = &self.config.recording_record
            && channel != "text"
            && rng.chance(0.7)
        {
            let media_type = if channel == "voice" {
                "audio/ogg"
            } else {
                "video/mp4"
            };
            let duration_s = rng.range(120, 1_800);
            out.push(rng, |c, seq| {
                let mut m = events::common(c, seq, "recording");
                m.insert("record".into(), json!(record));
                m.insert("media_type".into(), json!(media_type));
                m.insert("duration_s".into(), json!(duration_s));
                Value::Object(m)
            });
        }
        if diagnosis {
            let text = format!("{}{}", cond.name, rng.pick(bank::DIAGNOSIS_QUALIFIERS));
            out.push(rng, |c, seq| {
                let mut m = events::common(c, seq, "diagnosis");
                m.insert("text".into(), json!(text));
                m.insert("icd10".into(), json!(cond.icd10));
                Value::Object(m)
            });
        }
        if prescription {
            let prescription_id = format!("rx-{}-{}", self.config.seed, self.count);
            let count = rng.range(1, cond.drugs.len().min(3) as u64) as usize;
            let offset = rng.below(cond.drugs.len() as u64) as usize;
            let mut chosen: Vec<(&str, &str, &str)> = (0..count)
                .map(|j| &cond.drugs[(offset + j) % cond.drugs.len()])
                .map(|d| (d.name, d.class, d.dose))
                .collect();
            if violation == Some(Violation::ControlledDrug) {
                let d = rng.pick(dep.controlled);
                chosen.retain(|(name, _, _)| *name != d.name);
                chosen.push((d.name, d.class, d.dose));
            }
            let items: Vec<Value> = chosen
                .into_iter()
                .map(|(name, class, dose)| events::item(name, class, dose, rng.range(1, 3)))
                .collect();
            let signature =
                (violation != Some(Violation::UnsignedPrescription)).then(|| events::signature(rng));
            out.push(rng, |c, seq| {
                events::prescription(c, seq, &prescription_id, &doctor, signature, items)
            });
            if violation != Some(Violation::MissingPharmacistReview) {
                let pharmacist = *rng.pick(bank::PHARMACISTS);
                out.push(rng, |c, seq| {
                    let mut m = events::common(c, seq, "pharmacist_review");
                    m.insert("prescription_id".into(), json!(prescription_id));
                    m.insert("pharmacist".into(), json!(pharmacist));
                    m.insert("decision".into(), json!("approved"));
                    Value::Object(m)
                });
            }
        }
        if rng.chance(0.92) {
            let fee = rng.range(20, 300) as i64 * 100;
            out.push(rng, |c, seq| payment_event(c, seq, fee, "consultation_fee"));
        }
        if prescription && rng.chance(0.6) {
            let fee = rng.range(15, 600) as i64 * 100;
            out.push(rng, |c, seq| payment_event(c, seq, fee, "drug"));
        }
        if termination {
            let reason = if red_flag {
                "患者出现危急情况，不适宜继续互联网诊疗，已建议立即线下急诊。"
            } else {
                "病情需要线下体格检查和辅助检查，不适宜继续互联网诊疗。"
            };
            out.push(rng, |c, seq| {
                let mut m = events::common(c, seq, "termination");
                m.insert("reason".into(), json!(reason));
                Value::Object(m)
            });
        }
        if referral {
            let (to, reason) = if red_flag {
                (format!("{}急诊科", ctx.inst), "危急情况，转线下急诊处理")
            } else if offline_referral {
                (ctx.referral.to_owned(), "需线下面诊，进一步检查明确诊断")
            } else {
                (
                    ctx.referral.to_owned(),
                    "首次在本平台就诊，建议线下面诊评估后再行互联网复诊",
                )
            };
            out.push(rng, |c, seq| {
                let mut m = events::common(c, seq, "referral");
                m.insert("to".into(), json!(to));
                m.insert("reason".into(), json!(reason));
                Value::Object(m)
            });
        }
        let summary = if red_flag {
            "患者出现危急情况，已终止线上诊疗并建议立即线下急诊。"
        } else if prescription {
            "复诊结束，已开具电子处方并经药师审核，嘱按时服药，按期复诊。"
        } else if referral {
            "建议线下面诊进一步检查，本次线上问诊结束。"
        } else {
            "问诊结束，已给予健康指导，嘱注意观察病情变化。"
        };
        out.push(rng, |c, seq| {
            let mut m = events::common(c, seq, "end");
            m.insert("summary".into(), json!(summary));
            Value::Object(m)
        });

        self.clock_ms = out.t;
        Session {
            consultation: consultation.clone(),
            patient_id_number,
            doctor_licence: doctor,
            department: dep.code.to_owned(),
            events: out.events,
            red_flag: red_term,
            violation,
        }
    }
}

/// The events of a session under construction, with its clock.
struct Events<'a> {
    consultation: &'a str,
    events: Vec<Value>,
    /// Time of the last event.
    t: u64,
}

impl Events<'_> {
    /// Appends the event `build(consultation, seq)` a few seconds to minutes after the previous one.
    fn push(&mut self, rng: &mut Rng, build: impl FnOnce(&str, u64) -> Value) {
        self.t += rng.range(5_000, 180_000);
        let mut event = build(self.consultation, self.events.len() as u64);
        event
            .as_object_mut()
            .expect("events are objects")
            .insert("occurred_ms".into(), json!(self.t));
        self.events.push(event);
    }
}

/// How long a message should be.
enum Size {
    Short,
    Medium,
    Long,
}

/// The longest message, in characters (about 2.1 KB of UTF-8).
const MAX_CHARS: usize = 700;

/// Per-session values of the placeholders.
struct Ctx {
    dx: &'static str,
    drug: &'static str,
    inst: &'static str,
    dur: &'static str,
    referral: &'static str,
}

impl Ctx {
    fn render(&self, s: &str) -> String {
        s.replace("{dx}", self.dx)
            .replace("{drug}", self.drug)
            .replace("{inst}", self.inst)
            .replace("{dur}", self.dur)
            .replace("{ref}", self.referral)
    }
}

/// A sentence of `pool` not used yet in this session.
fn fresh(rng: &mut Rng, pool: &[&'static str], used: &mut Vec<&'static str>) -> Option<&'static str> {
    fresh_index(rng, pool, used).map(|i| pool[i])
}

/// The index of a sentence of `pool` not used yet in this session, now marked used.
fn fresh_index(rng: &mut Rng, pool: &[&'static str], used: &mut Vec<&'static str>) -> Option<usize> {
    let candidates: Vec<usize> = (0..pool.len()).filter(|i| !used.contains(&pool[*i])).collect();
    if candidates.is_empty() {
        return None;
    }
    let i = *rng.pick(&candidates);
    used.push(pool[i]);
    Some(i)
}

/// `text` extended with unused sentences of `pool` until it has `target` characters (or the pool runs dry,
/// or the next sentence would pass [`MAX_CHARS`]). The sentences keep the pool's order (symptoms before
/// circumstances before questions; greetings before advice before warnings), so a long message reads in order.
fn compose(
    rng: &mut Rng,
    ctx: &Ctx,
    used: &mut Vec<&'static str>,
    pool: &[&'static str],
    mut text: String,
    target: usize,
) -> String {
    let mut chars = text.chars().count();
    let mut chosen: Vec<(usize, String)> = Vec::new();
    while chars < target {
        let Some(i) = fresh_index(rng, pool, used) else {
            break;
        };
        let sentence = ctx.render(pool[i]);
        let n = sentence.chars().count();
        if chars + n > MAX_CHARS {
            break;
        }
        chars += n;
        chosen.push((i, sentence));
    }
    chosen.sort_by_key(|(i, _)| *i);
    for (_, sentence) in chosen {
        text.push_str(&sentence);
    }
    text
}

/// Whether patient `i` is a child (see [`Simulator::patient`]).
fn is_child(i: usize) -> bool {
    matches!(i % 6, 1 | 4)
}

/// A patient index in `0..patients`, a child when `child` (or an adult otherwise) if one can be found.
fn pick_patient(rng: &mut Rng, patients: usize, child: bool) -> usize {
    let mut i = rng.below(patients as u64) as usize;
    for _ in 0..32 {
        if is_child(i) == child {
            break;
        }
        i = rng.below(patients as u64) as usize;
    }
    i
}

/// Patient `i`'s resident ID number for `seed`.
fn patient_id(seed: u64, i: usize) -> String {
    let mut rng = Rng::derived(seed, 0x7061_7469_656e_7400 ^ i as u64);
    let region = rng.pick(bank::REGIONS);
    let (from, to) = match i % 6 {
        1 => (2021, 2024),
        4 => (2013, 2019),
        _ => (1940, 2010),
    };
    let year = rng.range(from, to);
    let month = rng.range(1, 12);
    let day = rng.range(1, 28);
    let sequence = i % 999 + 1;
    let first17 = format!("{region}{year:04}{month:02}{day:02}{sequence:03}");
    let check = ResidentId::check_character(&first17).expect("17 digits");
    format!("{first17}{check}")
}

/// Age in whole years, at `at_ms`, of the holder of a (valid) resident ID number.
fn age_at(id: &str, at_ms: u64) -> u32 {
    let num = |r: std::ops::Range<usize>| id[r].parse::<u32>().unwrap_or(0);
    let (by, bm, bd) = (num(6..10), num(10..12), num(12..14));
    let (y, m, d) = civil_from_days((at_ms / 86_400_000) as i64);
    let years = y.saturating_sub(by);
    if (m, d) < (bm, bd) {
        years.saturating_sub(1)
    } else {
        years
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (u32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as u32, m as u32, d as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        // BASE_TIME_MS is 2026-09-21.
        assert_eq!(civil_from_days((BASE_TIME_MS / 86_400_000) as i64), (2026, 9, 21));
    }

    #[test]
    fn ages() {
        let id = patient_id(1, 1);
        assert!(age_at(&id, BASE_TIME_MS) < 6, "{id}");
        let id = patient_id(1, 4);
        assert!((6..14).contains(&age_at(&id, BASE_TIME_MS)), "{id}");
        let id = patient_id(1, 0);
        assert!(age_at(&id, BASE_TIME_MS) >= 14, "{id}");
        // Birthday boundary: born 2000-09-21 is 26 on 2026-09-21, 25 the day before.
        let first17 = "11010120000921001";
        let id = format!("{first17}{}", ResidentId::check_character(first17).unwrap());
        assert_eq!(age_at(&id, BASE_TIME_MS), 26);
        assert_eq!(age_at(&id, BASE_TIME_MS - 86_400_000), 25);
    }

    #[test]
    fn condition_tags_name_conditions_of_their_department() {
        for dep in bank::DEPARTMENTS {
            for s in dep.patient.iter().chain(dep.doctor) {
                if let Some((codes, _)) = s.split_once('|') {
                    for code in codes.split(',') {
                        let known = dep.conditions.iter().any(|c| c.icd10.starts_with(code));
                        assert!(known, "{}: {code} in {s}", dep.code);
                    }
                }
            }
            for cond in dep.conditions {
                let count = |sentences: &[&'static str]| {
                    sentences
                        .iter()
                        .filter_map(|s| bank::for_condition(s, cond.icd10))
                        .count()
                };
                assert!(
                    count(dep.patient) >= 3,
                    "{} {}: too few patient sentences",
                    dep.code,
                    cond.icd10
                );
                assert!(
                    count(dep.doctor) >= 3,
                    "{} {}: too few doctor sentences",
                    dep.code,
                    cond.icd10
                );
            }
        }
        assert_eq!(bank::for_condition("E11,E05|口渴", "E05.9"), Some("口渴"));
        assert_eq!(bank::for_condition("E11,E05|口渴", "E03.9"), None);
        assert_eq!(bank::for_condition("口渴", "E03.9"), Some("口渴"));
    }

    #[test]
    fn only_red_flag_sentences_hold_red_flag_terms() {
        for dep in bank::DEPARTMENTS {
            assert_eq!(red_flag_terms(dep.code), dep.terms);
            assert!(DEPARTMENTS.contains(&dep.code));
            for sentence in dep.red_flags {
                assert!(dep.terms.iter().any(|t| sentence.contains(t)), "{sentence}");
            }
            let others = dep.patient.iter().chain(dep.doctor).chain([&dep.urgent_reply]);
            let generic = bank::GENERIC_PATIENT
                .iter()
                .chain(bank::PATIENT_QUESTIONS)
                .chain(bank::GENERIC_DOCTOR)
                .chain(bank::ADULT_DOCTOR);
            let short = bank::SHORT_PATIENT
                .iter()
                .chain(bank::SHORT_DOCTOR)
                .chain(bank::DOCTOR_OPENERS);
            for s in others
                .chain(generic)
                .chain(short)
                .chain(bank::DOCTOR_GREETINGS)
                .chain(bank::RED_FLAG_ACKS)
            {
                assert!(!RED_FLAG_TERMS.iter().any(|t| s.contains(t)), "{s}");
            }
            for cond in dep.conditions {
                assert!(
                    cond.drugs
                        .iter()
                        .all(|d| ["rx", "otc", "antibiotic"].contains(&d.class))
                );
            }
            assert!(
                dep.controlled
                    .iter()
                    .all(|d| ["psychotropic", "narcotic"].contains(&d.class))
            );
        }
        for term in RED_FLAG_TERMS {
            assert!(
                bank::DEPARTMENTS.iter().any(|dep| dep.terms.contains(term)),
                "{term}"
            );
        }
    }
}
