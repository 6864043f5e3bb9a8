//! Online care's pure core (互联网诊疗): what partners send about a consultation, in what order, which
//! rules it must follow, and what the supervision of it computes.
//!
//! - [`event`]: the wire format of consultation events (`docs/care-events.md`), parsed.
//! - [`consultation`]: a consultation's state and the order of its events.
//! - [`rules`]: compliance rules as data — versioned rule sets per jurisdiction with effective dates.
//! - [`redflag`]: red-flag terms matched on Chinese text without tokenising (NEG-LIST).
//! - [`supervision`]: refunds (seed 000) and supervision metrics (SUP-METRICS).
//!
//! [`evaluate`] puts them together for one event. **This crate does no I/O** and reads no clock.

pub mod consultation;
pub mod event;
pub mod redflag;
pub mod rules;
pub mod supervision;

use serde::Serialize;
use tianping_identity::role::OrgKind;

use consultation::{Consultation, EventFact};
use event::{Body, EventError, Incoming, Party};
use rules::{Facts, Finding, RuleBook, Severity};

/// A red flag raised by an event: what the person on duty must answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RaisedFlag {
    pub label: String,
    pub severity: Severity,
    pub ack_minutes: u32,
    pub zh: String,
    pub en: String,
}

/// The result of accepting one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The consultation after the event.
    pub state: Consultation,
    /// What the store keeps about the event.
    pub fact: EventFact,
    pub findings: Vec<Finding>,
    pub flags: Vec<RaisedFlag>,
}

/// Accept (or refuse) event `e` of a consultation whose state is `state` (`None` when unknown), sent by
/// an organisation of kind `org_kind`. The rule set is the one in force where and when the consultation
/// started. Refusals leave everything as it was.
pub fn evaluate(
    book: &RuleBook,
    state: Option<&Consultation>,
    e: &Incoming,
    org_kind: OrgKind,
    facts: &Facts,
) -> Result<Evaluation, EventError> {
    let occurred_ms = e.occurred_ms.unwrap_or(facts.now_ms);
    let mut next = match (&e.body, state) {
        (Body::Start(s), None) => Consultation::begin(s, org_kind, occurred_ms),
        (Body::Start(_), Some(_)) => return Err(EventError::ConsultationExists),
        (_, None) => return Err(EventError::UnknownConsultation),
        (_, Some(c)) => {
            c.check(e)?;
            c.clone()
        }
    };
    let set = book.in_force(&next.jurisdiction, next.started_ms);
    let flags: Vec<RaisedFlag> = match (&e.body, set) {
        // Only the patient's words raise flags: a doctor asking "any chest pain?" is not an emergency.
        (
            Body::Message {
                from: Party::Patient,
                text,
            },
            Some(set),
        ) => set
            .matcher()
            .hits(&next.department, text)
            .into_iter()
            .map(|l| RaisedFlag {
                label: l.label.clone(),
                severity: l.severity,
                ack_minutes: l.ack_minutes,
                zh: l.zh.clone(),
                en: l.en.clone(),
            })
            .collect(),
        _ => vec![],
    };
    let fact = EventFact::of(e, occurred_ms, flags.len() as u32);
    if !matches!(e.body, Body::Start(_)) {
        next.apply(&fact);
    }
    let mut findings = Vec::new();
    if let Some(set) = set {
        findings.extend(set.on_event(&next, e, facts));
        if matches!(e.body, Body::End) {
            findings.extend(set.at_end(&next));
        }
    }
    Ok(Evaluation {
        state: next,
        fact,
        findings,
        flags,
    })
}

#[cfg(test)]
mod tests;
