//! Builders for single events in the wire format of `docs/care-events.md`.
//!
//! Every builder sets the common fields `consultation`, `seq`, `type` and `idempotency_key`
//! (`"<consultation>:<seq>"`) and leaves `occurred_ms` out (the receiver then uses its receipt time); insert
//! it into the returned object when a test needs a fixed event time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::bank;
use crate::rng::Rng;

/// The idempotency key of event `seq` of `consultation`: `"<consultation>:<seq>"`.
pub fn idempotency_key(consultation: &str, seq: u64) -> String {
    format!("{consultation}:{seq}")
}

/// An event object with the common fields set.
pub(crate) fn common(consultation: &str, seq: u64, kind: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("consultation".into(), json!(consultation));
    m.insert("seq".into(), json!(seq));
    m.insert("type".into(), json!(kind));
    m.insert(
        "idempotency_key".into(),
        json!(idempotency_key(consultation, seq)),
    );
    m
}

/// A `start` event (seq 0) on channel `text` in jurisdiction `CN-11`, with a doctor check by face one minute
/// before `now_ms` (`doctor_check.at_ms = now_ms - 60_000`). When `visit` is `"follow_up"`, `prior_records`
/// holds one offline record of the department's first condition; otherwise it is empty.
pub fn start_event(
    consultation: &str,
    patient_id_number: &str,
    doctor_licence: &str,
    department: &str,
    visit: &str,
    now_ms: u64,
) -> Value {
    let prior = if visit == "follow_up" {
        let dep = bank::department(department).unwrap_or(&bank::DEPARTMENTS[2]);
        vec![prior_record(
            dep.institutions[0],
            "MZ2026000001",
            dep.conditions[0].name,
        )]
    } else {
        Vec::new()
    };
    let mut m = common(consultation, 0, "start");
    m.insert("patient_id_number".into(), json!(patient_id_number));
    m.insert("doctor_licence".into(), json!(doctor_licence));
    m.insert("department".into(), json!(department));
    m.insert("visit".into(), json!(visit));
    m.insert("channel".into(), json!("text"));
    m.insert("jurisdiction".into(), json!("CN-11"));
    m.insert("prior_records".into(), Value::Array(prior));
    m.insert("doctor_check".into(), doctor_check(now_ms.saturating_sub(60_000)));
    Value::Object(m)
}

/// One entry of `prior_records`.
pub(crate) fn prior_record(institution: &str, record_ref: &str, diagnosis: &str) -> Value {
    json!({"institution": institution, "record_ref": record_ref, "diagnosis": diagnosis})
}

/// A `doctor_check` by face at `at_ms`.
pub(crate) fn doctor_check(at_ms: u64) -> Value {
    json!({"method": "face", "at_ms": at_ms})
}

/// A `message` event; `from` is `"patient"` or `"doctor"`.
pub fn message_event(consultation: &str, seq: u64, from: &str, text: &str) -> Value {
    let mut m = common(consultation, seq, "message");
    m.insert("from".into(), json!(from));
    m.insert("text".into(), json!(text));
    Value::Object(m)
}

/// A `payment` event; `purpose` is `"consultation_fee"`, `"drug"` or `"top_up"`.
pub fn payment_event(consultation: &str, seq: u64, fee_fen: i64, purpose: &str) -> Value {
    let mut m = common(consultation, seq, "payment");
    m.insert("fee_fen".into(), json!(fee_fen));
    m.insert("purpose".into(), json!(purpose));
    Value::Object(m)
}

/// A `prescription` event by `prescriber_licence` with one item per `(drug, drug_class)`. Dose and quantity
/// come from the simulator's drug list (`"遵医嘱"` and 1 for drugs it does not know). When `signed`, the
/// signature is base64 of 64 bytes derived from `prescription_id` (deterministic); otherwise `null`.
pub fn prescription_event(
    consultation: &str,
    seq: u64,
    prescription_id: &str,
    prescriber_licence: &str,
    signed: bool,
    items: &[(&str, &str)],
) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|(drug, class)| {
            let dose = bank::drug(drug).map_or("遵医嘱", |d| d.dose);
            item(drug, class, dose, 1)
        })
        .collect();
    let signature = signed.then(|| signature(&mut Rng::new(fnv1a(prescription_id.as_bytes()))));
    prescription(
        consultation,
        seq,
        prescription_id,
        prescriber_licence,
        signature,
        items,
    )
}

/// One prescription item.
pub(crate) fn item(drug: &str, class: &str, dose: &str, quantity: u64) -> Value {
    json!({"drug": drug, "drug_class": class, "dose": dose, "quantity": quantity})
}

/// A `prescription` event from ready items and signature.
pub(crate) fn prescription(
    consultation: &str,
    seq: u64,
    prescription_id: &str,
    prescriber_licence: &str,
    signature: Option<String>,
    items: Vec<Value>,
) -> Value {
    let mut m = common(consultation, seq, "prescription");
    m.insert("prescription_id".into(), json!(prescription_id));
    m.insert("prescriber_licence".into(), json!(prescriber_licence));
    m.insert("signature".into(), signature.map_or(Value::Null, Value::String));
    m.insert("items".into(), Value::Array(items));
    Value::Object(m)
}

/// A made-up electronic signature: base64 of 64 random bytes.
pub(crate) fn signature(rng: &mut Rng) -> String {
    STANDARD.encode(rng.bytes(64))
}

/// An `end` event without summary.
pub fn end_event(consultation: &str, seq: u64) -> Value {
    Value::Object(common(consultation, seq, "end"))
}

/// FNV-1a, to turn a string into a seed.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
