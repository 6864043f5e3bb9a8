//! The state of one consultation and the order its events must come in. [`Consultation`] holds only
//! what the rules and the sequence check need — never message text — and can be rebuilt from the
//! [`EventFact`]s the store keeps for each accepted event.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tianping_identity::role::OrgKind;

use crate::event::{Body, EventError, EventType, Incoming, Party, ReviewDecision, Start, Visit};

/// A prescription's state within its consultation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxState {
    pub signed: bool,
    /// A pharmacist approved it (IDM-18).
    pub approved: bool,
}

/// One consultation as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consultation {
    /// The kind of the partner organisation that runs it (HCP-000).
    pub org_kind: OrgKind,
    pub jurisdiction: String,
    pub department: String,
    pub visit: Visit,
    /// The attending doctor's practising licence.
    pub doctor_licence: String,
    /// The patient's age in whole years when it started (IDM-19).
    pub patient_age: u32,
    pub started_ms: u64,
    /// The sequence number the next event must carry.
    pub next_seq: u64,
    pub ended: bool,
    pub prescriptions: BTreeMap<String, RxState>,
    /// Red-flag lists matched so far.
    pub red_flags: u32,
    pub terminated: bool,
    pub referred: bool,
    pub first_patient_ms: Option<u64>,
    pub first_doctor_ms: Option<u64>,
}

/// What the store keeps about an accepted event (no content), enough to replay the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFact {
    pub seq: u64,
    pub event_type: EventType,
    /// Who wrote a message or sent an attachment.
    pub party: Option<Party>,
    /// The prescription a prescription or review event is about; a payment's purpose.
    pub reference: Option<String>,
    /// A prescription's signature, or a review's approval.
    pub flag: Option<bool>,
    pub occurred_ms: u64,
    /// Red-flag lists the event matched.
    pub red_flags: u32,
    /// A payment's amount in fen.
    pub fee_fen: Option<i64>,
}

impl EventFact {
    pub fn of(e: &Incoming, occurred_ms: u64, red_flags: u32) -> EventFact {
        let (party, reference, flag, fee_fen) = match &e.body {
            Body::Message { from, .. } | Body::Attachment { from } => (Some(*from), None, None, None),
            Body::Prescription(p) => (None, Some(p.id.as_str().to_owned()), Some(p.signed), None),
            Body::PharmacistReview {
                prescription,
                decision,
            } => (
                None,
                Some(prescription.as_str().to_owned()),
                Some(*decision == ReviewDecision::Approved),
                None,
            ),
            Body::Payment { fee, purpose } => {
                (None, Some(purpose.as_str().to_owned()), None, Some(fee.get()))
            }
            _ => (None, None, None, None),
        };
        EventFact {
            seq: e.seq,
            event_type: e.body.event_type(),
            party,
            reference,
            flag,
            occurred_ms,
            red_flags,
            fee_fen,
        }
    }
}

impl Consultation {
    /// A consultation right after its start event.
    pub fn begin(s: &Start, org_kind: OrgKind, started_ms: u64) -> Consultation {
        Consultation {
            org_kind,
            jurisdiction: s.jurisdiction.as_str().to_owned(),
            department: s.department.as_str().to_owned(),
            visit: s.visit,
            doctor_licence: s.doctor.as_str().to_owned(),
            patient_age: s.patient.age_at_ms(started_ms),
            started_ms,
            next_seq: 1,
            ended: false,
            prescriptions: BTreeMap::new(),
            red_flags: 0,
            terminated: false,
            referred: false,
            first_patient_ms: None,
            first_doctor_ms: None,
        }
    }

    /// Whether `e` may be the next event of this consultation.
    pub fn check(&self, e: &Incoming) -> Result<(), EventError> {
        if matches!(e.body, Body::Start(_)) {
            return Err(EventError::ConsultationExists);
        }
        if self.ended {
            return Err(EventError::ConsultationEnded);
        }
        if e.seq != self.next_seq {
            return Err(EventError::OutOfOrder {
                expected: u32::try_from(self.next_seq).unwrap_or(u32::MAX),
                got: e.seq,
            });
        }
        match &e.body {
            Body::Prescription(p) => {
                if p.prescriber.as_str() != self.doctor_licence {
                    return Err(EventError::PrescriberNotAttending);
                }
                if self.prescriptions.contains_key(p.id.as_str()) {
                    return Err(EventError::DuplicatePrescription(p.id.as_str().to_owned()));
                }
            }
            Body::PharmacistReview { prescription, .. }
                if !self.prescriptions.contains_key(prescription.as_str()) =>
            {
                return Err(EventError::UnknownPrescription(prescription.as_str().to_owned()));
            }
            _ => {}
        }
        Ok(())
    }

    /// Take an accepted event into account.
    pub fn apply(&mut self, f: &EventFact) {
        self.next_seq = f.seq + 1;
        self.red_flags += f.red_flags;
        match f.event_type {
            EventType::Message => match f.party {
                Some(Party::Patient) => {
                    self.first_patient_ms.get_or_insert(f.occurred_ms);
                }
                Some(Party::Doctor) => {
                    self.first_doctor_ms.get_or_insert(f.occurred_ms);
                }
                None => {}
            },
            EventType::Prescription => {
                if let Some(r) = &f.reference {
                    self.prescriptions.insert(
                        r.clone(),
                        RxState {
                            signed: f.flag.unwrap_or(false),
                            approved: false,
                        },
                    );
                }
            }
            EventType::PharmacistReview => {
                if let Some(rx) = f.reference.as_ref().and_then(|r| self.prescriptions.get_mut(r)) {
                    rx.approved = f.flag.unwrap_or(false);
                }
            }
            EventType::Termination => self.terminated = true,
            EventType::Referral => self.referred = true,
            EventType::End => self.ended = true,
            _ => {}
        }
    }

    /// The doctor's first response time: from the patient's first message to the doctor's first reply.
    pub fn response_ms(&self) -> Option<u64> {
        match (self.first_patient_ms, self.first_doctor_ms) {
            (Some(p), Some(d)) if d >= p => Some(d - p),
            _ => None,
        }
    }
}
