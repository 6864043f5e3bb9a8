//! Consultation events as partners send them (`docs/care-events.md`), parsed into values that can only
//! hold valid data. [`Incoming::parse`] is the one way in: a JSON value becomes an [`Incoming`] or an
//! [`EventError`] with a stable code.

use serde::Deserialize;
use serde_json::Value;
use tianping_identity::ids::{LicenceNumber, ParseError, ResidentId};

/// Longest message, diagnosis or free text, in characters.
pub const MAX_TEXT_CHARS: usize = 4_000;
/// Most items on one prescription.
pub const MAX_ITEMS: usize = 50;
/// Most prior-diagnosis records named by one start event.
pub const MAX_PRIOR_RECORDS: usize = 20;

/// Why an event is refused. Each variant has a stable code ([`EventError::code`]); nothing of a refused
/// event is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("malformed event: {0}")]
    Malformed(String),
    #[error("{field}: {error}")]
    Field { field: &'static str, error: ParseError },
    #[error("{field} is {chars} characters; at most {max} are accepted")]
    TooLarge {
        field: &'static str,
        chars: usize,
        max: usize,
    },
    #[error("consultation is not known here; it must begin with a start event (seq 0)")]
    UnknownConsultation,
    #[error("the consultation has already been started")]
    ConsultationExists,
    #[error("the consultation has ended; no further events are accepted")]
    ConsultationEnded,
    #[error("sequence number {got} is out of order; the next expected is {expected}")]
    OutOfOrder { expected: u32, got: u64 },
    #[error("the prescriber is not the consultation's attending doctor")]
    PrescriberNotAttending,
    #[error("prescription {0:?} is not part of this consultation")]
    UnknownPrescription(String),
    #[error("prescription {0:?} was already issued in this consultation")]
    DuplicatePrescription(String),
}

impl EventError {
    /// The stable code of the problem document.
    pub fn code(&self) -> &'static str {
        match self {
            EventError::Malformed(_) => "invalid_event",
            EventError::Field { error, .. } => error.code(),
            EventError::TooLarge { .. } => "event_too_large",
            EventError::UnknownConsultation => "unknown_consultation",
            EventError::ConsultationExists => "consultation_exists",
            EventError::ConsultationEnded => "consultation_ended",
            EventError::OutOfOrder { .. } => "out_of_order",
            EventError::PrescriberNotAttending => "prescriber_not_attending",
            EventError::UnknownPrescription(_) => "unknown_prescription",
            EventError::DuplicatePrescription(_) => "duplicate_prescription",
        }
    }
}

/// A partner's reference (consultation id, idempotency key, prescription id): 1–128 of `[A-Za-z0-9._:-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ref(String);

impl Ref {
    pub fn parse(field: &'static str, s: &str) -> Result<Ref, EventError> {
        let ok = (1..=128).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if ok {
            Ok(Ref(s.to_owned()))
        } else {
            Err(EventError::Malformed(format!(
                "{field} must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'"
            )))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Declares a closed set of wire codes as an enum with `as_str` and serde by code.
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($v:ident = $code:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
        pub enum $name { $( #[serde(rename = $code)] $v, )+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $code,)+ }
            }
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($code => Some($name::$v),)+ _ => None }
            }
        }
    };
}

wire_enum!(
    /// 首诊 / 复诊.
    Visit { FirstVisit = "first_visit", FollowUp = "follow_up" }
);
wire_enum!(
    /// How the consultation is held.
    Channel { Text = "text", Voice = "voice", Video = "video" }
);
wire_enum!(
    /// Who wrote a message or sent an attachment.
    Party { Patient = "patient", Doctor = "doctor" }
);
wire_enum!(
    /// The class of a drug; the rule set decides which classes may not be prescribed online (IDM-19).
    DrugClass {
        Rx = "rx", Otc = "otc", Antibiotic = "antibiotic", Narcotic = "narcotic",
        Psychotropic = "psychotropic", Toxic = "toxic", Radioactive = "radioactive",
    }
);
wire_enum!(
    /// A pharmacist's review decision (审方).
    ReviewDecision { Approved = "approved", Rejected = "rejected" }
);
wire_enum!(
    /// What a payment was for.
    PaymentPurpose { ConsultationFee = "consultation_fee", Drug = "drug", TopUp = "top_up" }
);
wire_enum!(
    /// How the doctor's real name was checked just before the consultation (IDS-13).
    CheckMethod { Face = "face", Password = "password", Certificate = "certificate" }
);
wire_enum!(
    /// The type of an event; its log kind is `consultation.<type>` (payments: `payment.consultation`), the
    /// kinds the vault's retention classes and the data categories of access decisions know.
    EventType {
        Start = "start", Message = "message", Attachment = "attachment", Recording = "recording",
        Diagnosis = "diagnosis", Prescription = "prescription", PharmacistReview = "pharmacist_review",
        Termination = "termination", Referral = "referral", Payment = "payment", End = "end",
    }
);

impl EventType {
    /// The log entry kind of events of this type.
    pub fn kind(self) -> &'static str {
        match self {
            EventType::Start => "consultation.start",
            EventType::Message => "consultation.message",
            EventType::Attachment => "consultation.attachment",
            EventType::Recording => "consultation.recording",
            EventType::Diagnosis => "consultation.diagnosis",
            EventType::Prescription => "consultation.prescription",
            EventType::PharmacistReview => "consultation.pharmacist_review",
            EventType::Termination => "consultation.termination",
            EventType::Referral => "consultation.referral",
            EventType::Payment => "payment.consultation",
            EventType::End => "consultation.end",
        }
    }
}

/// An amount of money in fen (分), strictly positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fen(i64);

impl Fen {
    pub fn new(v: i64) -> Option<Fen> {
        (v > 0).then_some(Fen(v))
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

/// A department (科室) slug: 1–32 of `[a-z0-9_]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Department(String);

impl Department {
    pub fn parse(s: &str) -> Result<Department, EventError> {
        let ok = (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        ok.then(|| Department(s.to_owned()))
            .ok_or_else(|| EventError::Malformed("department must be 1 to 32 of a-z, 0-9, '_'".into()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A jurisdiction: `CN` or an ISO 3166-2:CN subdivision such as `CN-11` (Beijing) or `CN-SH`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jurisdiction(String);

impl Jurisdiction {
    pub fn parse(s: &str) -> Result<Jurisdiction, EventError> {
        let ok = s == "CN"
            || s.strip_prefix("CN-").is_some_and(|r| {
                (2..=3).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            });
        ok.then(|| Jurisdiction(s.to_owned()))
            .ok_or_else(|| EventError::Malformed("jurisdiction must be CN or an ISO 3166-2:CN code".into()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A record of the offline diagnosis a follow-up visit rests on (IDM-17).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorRecord {
    pub institution: String,
    pub record_ref: String,
    pub diagnosis: String,
}

/// The doctor's real-name check just before the consultation (IDS-13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoctorCheck {
    pub method: CheckMethod,
    pub at_ms: u64,
}

/// A consultation's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    pub patient: ResidentId,
    pub doctor: LicenceNumber,
    pub department: Department,
    pub visit: Visit,
    pub channel: Channel,
    pub jurisdiction: Jurisdiction,
    pub prior_records: Vec<PriorRecord>,
    pub doctor_check: Option<DoctorCheck>,
    pub guardian_present: bool,
}

/// One line of a prescription.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub drug: String,
    pub drug_class: DrugClass,
    pub dose: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prescription {
    pub id: Ref,
    pub prescriber: LicenceNumber,
    /// The doctor's electronic signature; `None` when none was made (a machine-made prescription, IDS-21).
    pub signed: bool,
    pub items: Vec<Item>,
}

/// What an event says, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Start(Box<Start>),
    Message {
        from: Party,
        text: String,
    },
    Attachment {
        from: Party,
    },
    Recording {
        record: Ref,
    },
    Diagnosis {
        text: String,
    },
    Prescription(Prescription),
    PharmacistReview {
        prescription: Ref,
        decision: ReviewDecision,
    },
    Termination,
    Referral,
    Payment {
        fee: Fen,
        purpose: PaymentPurpose,
    },
    End,
}

impl Body {
    pub fn event_type(&self) -> EventType {
        match self {
            Body::Start(_) => EventType::Start,
            Body::Message { .. } => EventType::Message,
            Body::Attachment { .. } => EventType::Attachment,
            Body::Recording { .. } => EventType::Recording,
            Body::Diagnosis { .. } => EventType::Diagnosis,
            Body::Prescription(_) => EventType::Prescription,
            Body::PharmacistReview { .. } => EventType::PharmacistReview,
            Body::Termination => EventType::Termination,
            Body::Referral => EventType::Referral,
            Body::Payment { .. } => EventType::Payment,
            Body::End => EventType::End,
        }
    }
}

/// A parsed event. The JSON it came from is what the vault stores (encrypted); this is what the rules
/// and the state machine look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    pub idempotency_key: Ref,
    pub consultation: Ref,
    pub seq: u64,
    pub occurred_ms: Option<u64>,
    pub body: Body,
}

#[derive(Deserialize)]
struct Wire {
    idempotency_key: String,
    consultation: String,
    seq: u64,
    #[serde(default)]
    occurred_ms: Option<u64>,
    #[serde(flatten)]
    body: WireBody,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBody {
    Start {
        patient_id_number: String,
        doctor_licence: String,
        department: String,
        visit: Visit,
        channel: Channel,
        jurisdiction: String,
        prior_records: Vec<PriorRecord>,
        #[serde(default)]
        doctor_check: Option<DoctorCheck>,
        #[serde(default)]
        guardian_present: bool,
    },
    Message {
        from: Party,
        text: String,
    },
    Attachment {
        from: Party,
        media_type: String,
        name: String,
        #[allow(dead_code)] // required on the wire; kept only in the stored event
        size: u64,
        sha256: String,
        #[serde(default)]
        record: Option<String>,
    },
    Recording {
        record: String,
        media_type: String,
        #[allow(dead_code)] // required on the wire; kept only in the stored event
        duration_s: u64,
    },
    Diagnosis {
        text: String,
        #[serde(default)]
        icd10: Option<String>,
    },
    Prescription {
        prescription_id: String,
        prescriber_licence: String,
        signature: Option<String>,
        items: Vec<Item>,
    },
    PharmacistReview {
        prescription_id: String,
        pharmacist: String,
        decision: ReviewDecision,
    },
    Termination {
        reason: String,
    },
    Referral {
        to: String,
        reason: String,
    },
    Payment {
        fee_fen: i64,
        purpose: PaymentPurpose,
    },
    End {
        #[serde(default)]
        summary: Option<String>,
    },
}

fn text(field: &'static str, s: &str, min: usize) -> Result<(), EventError> {
    let chars = s.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(EventError::TooLarge {
            field,
            chars,
            max: MAX_TEXT_CHARS,
        });
    }
    if chars < min
        || s.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(EventError::Malformed(format!(
            "{field} must be {min} to {MAX_TEXT_CHARS} characters without control characters"
        )));
    }
    Ok(())
}

fn licence(field: &'static str, s: &str) -> Result<LicenceNumber, EventError> {
    LicenceNumber::parse(s).map_err(|error| EventError::Field { field, error })
}

impl Incoming {
    /// Parse one event of the wire format.
    pub fn parse(v: &Value) -> Result<Incoming, EventError> {
        let w = Wire::deserialize(v).map_err(|e| EventError::Malformed(e.to_string()))?;
        let body = match w.body {
            WireBody::Start {
                patient_id_number,
                doctor_licence,
                department,
                visit,
                channel,
                jurisdiction,
                prior_records,
                doctor_check,
                guardian_present,
            } => {
                if prior_records.len() > MAX_PRIOR_RECORDS {
                    return Err(EventError::Malformed(format!(
                        "at most {MAX_PRIOR_RECORDS} prior records are accepted"
                    )));
                }
                for r in &prior_records {
                    text("prior_records.institution", &r.institution, 1)?;
                    text("prior_records.record_ref", &r.record_ref, 1)?;
                    text("prior_records.diagnosis", &r.diagnosis, 1)?;
                }
                Body::Start(Box::new(Start {
                    patient: ResidentId::parse(&patient_id_number).map_err(|error| EventError::Field {
                        field: "patient_id_number",
                        error,
                    })?,
                    doctor: licence("doctor_licence", &doctor_licence)?,
                    department: Department::parse(&department)?,
                    visit,
                    channel,
                    jurisdiction: Jurisdiction::parse(&jurisdiction)?,
                    prior_records,
                    doctor_check,
                    guardian_present,
                }))
            }
            WireBody::Message { from, text: t } => {
                text("text", &t, 1)?;
                Body::Message { from, text: t }
            }
            WireBody::Attachment {
                from,
                media_type,
                name,
                sha256,
                record,
                ..
            } => {
                text("media_type", &media_type, 3)?;
                text("name", &name, 1)?;
                if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(EventError::Malformed("sha256 must be 64 hex digits".into()));
                }
                if let Some(r) = &record {
                    Ref::parse("record", r)?;
                }
                Body::Attachment { from }
            }
            WireBody::Recording {
                record, media_type, ..
            } => {
                text("media_type", &media_type, 3)?;
                Body::Recording {
                    record: Ref::parse("record", &record)?,
                }
            }
            WireBody::Diagnosis { text: t, icd10 } => {
                text("text", &t, 1)?;
                if let Some(c) = &icd10 {
                    text("icd10", c, 1)?;
                }
                Body::Diagnosis { text: t }
            }
            WireBody::Prescription {
                prescription_id,
                prescriber_licence,
                signature,
                items,
            } => {
                if items.is_empty() || items.len() > MAX_ITEMS {
                    return Err(EventError::Malformed(format!(
                        "a prescription has 1 to {MAX_ITEMS} items"
                    )));
                }
                for i in &items {
                    text("items.drug", &i.drug, 1)?;
                    text("items.dose", &i.dose, 1)?;
                }
                let signed = match signature.as_deref() {
                    None => false,
                    Some("") => false,
                    Some(s) => {
                        text("signature", s, 1)?;
                        true
                    }
                };
                Body::Prescription(Prescription {
                    id: Ref::parse("prescription_id", &prescription_id)?,
                    prescriber: licence("prescriber_licence", &prescriber_licence)?,
                    signed,
                    items,
                })
            }
            WireBody::PharmacistReview {
                prescription_id,
                pharmacist,
                decision,
            } => {
                text("pharmacist", &pharmacist, 1)?;
                Body::PharmacistReview {
                    prescription: Ref::parse("prescription_id", &prescription_id)?,
                    decision,
                }
            }
            WireBody::Termination { reason } => {
                text("reason", &reason, 1)?;
                Body::Termination
            }
            WireBody::Referral { to, reason } => {
                text("to", &to, 1)?;
                text("reason", &reason, 1)?;
                Body::Referral
            }
            WireBody::Payment { fee_fen, purpose } => Body::Payment {
                fee: Fen::new(fee_fen).ok_or_else(|| {
                    EventError::Malformed("fee_fen must be a positive number of fen".into())
                })?,
                purpose,
            },
            WireBody::End { summary } => {
                if let Some(s) = &summary {
                    text("summary", s, 0)?;
                }
                Body::End
            }
        };
        if matches!(body, Body::Start(_)) != (w.seq == 0) {
            return Err(EventError::Malformed(
                "seq 0 is the start event, and only the start event has seq 0".into(),
            ));
        }
        Ok(Incoming {
            idempotency_key: Ref::parse("idempotency_key", &w.idempotency_key)?,
            consultation: Ref::parse("consultation", &w.consultation)?,
            seq: w.seq,
            occurred_ms: w.occurred_ms,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn start_json() -> Value {
        json!({
            "idempotency_key": "c1:0", "consultation": "c1", "seq": 0, "type": "start",
            "patient_id_number": "11010519491231002X", "doctor_licence": "110000000000001",
            "department": "psychiatry", "visit": "follow_up", "channel": "text", "jurisdiction": "CN-11",
            "prior_records": [{"institution": "北京某医院", "record_ref": "MZ-1", "diagnosis": "抑郁症"}],
            "doctor_check": {"method": "face", "at_ms": 1000}
        })
    }

    #[test]
    fn parses_a_start_event() {
        let e = Incoming::parse(&start_json()).unwrap();
        let Body::Start(s) = &e.body else {
            panic!("not a start")
        };
        assert_eq!(s.department.as_str(), "psychiatry");
        assert_eq!(s.visit, Visit::FollowUp);
        assert_eq!(s.prior_records.len(), 1);
        assert_eq!(e.body.event_type().kind(), "consultation.start");
    }

    #[test]
    fn bad_fields_have_stable_codes() {
        let mut v = start_json();
        v["patient_id_number"] = json!("110105194912310021");
        assert_eq!(Incoming::parse(&v).unwrap_err().code(), "invalid_resident_id");
        let mut v = start_json();
        v["doctor_licence"] = json!("12345");
        assert_eq!(Incoming::parse(&v).unwrap_err().code(), "invalid_licence");
        let mut v = start_json();
        v["visit"] = json!("second");
        assert_eq!(Incoming::parse(&v).unwrap_err().code(), "invalid_event");
        let mut v = start_json();
        v["seq"] = json!(1);
        assert_eq!(Incoming::parse(&v).unwrap_err().code(), "invalid_event");
        let mut v = start_json();
        v["consultation"] = json!("has space");
        assert_eq!(Incoming::parse(&v).unwrap_err().code(), "invalid_event");
        let v = json!({"idempotency_key": "k", "consultation": "c", "seq": 1, "type": "teleport"});
        assert_eq!(Incoming::parse(&v).unwrap_err().code(), "invalid_event");
    }

    #[test]
    fn oversized_and_empty_messages_are_refused() {
        let long = "痛".repeat(MAX_TEXT_CHARS + 1);
        let v = json!({"idempotency_key": "k", "consultation": "c", "seq": 1, "type": "message", "from": "patient", "text": long});
        assert_eq!(Incoming::parse(&v).unwrap_err().code(), "event_too_large");
        let fits = "痛".repeat(MAX_TEXT_CHARS);
        let v = json!({"idempotency_key": "k", "consultation": "c", "seq": 1, "type": "message", "from": "patient", "text": fits});
        assert!(Incoming::parse(&v).is_ok());
        let v = json!({"idempotency_key": "k", "consultation": "c", "seq": 1, "type": "message", "from": "patient", "text": ""});
        assert_eq!(Incoming::parse(&v).unwrap_err().code(), "invalid_event");
    }

    #[test]
    fn prescriptions_payments_and_references() {
        let v = json!({"idempotency_key": "k", "consultation": "c", "seq": 4, "type": "prescription",
            "prescription_id": "rx-1", "prescriber_licence": "110000000000001", "signature": null,
            "items": [{"drug": "奥氮平片", "drug_class": "psychotropic", "dose": "5mg qd", "quantity": 14}]});
        let Body::Prescription(p) = Incoming::parse(&v).unwrap().body else {
            panic!()
        };
        assert!(!p.signed);
        assert_eq!(p.items[0].drug_class, DrugClass::Psychotropic);
        let v = json!({"idempotency_key": "k", "consultation": "c", "seq": 4, "type": "payment", "fee_fen": 0, "purpose": "top_up"});
        assert_eq!(Incoming::parse(&v).unwrap_err().code(), "invalid_event");
        let v = json!({"idempotency_key": "k", "consultation": "c", "seq": 4, "type": "payment", "fee_fen": 2500, "purpose": "consultation_fee"});
        assert!(matches!(Incoming::parse(&v).unwrap().body, Body::Payment { fee, .. } if fee.get() == 2500));
        assert!(Jurisdiction::parse("CN-11").is_ok() && Jurisdiction::parse("CN-SH").is_ok());
        assert!(Jurisdiction::parse("US-CA").is_err() && Jurisdiction::parse("CN-").is_err());
    }
}
