//! Online care at the edge: partners' consultation events in, receipts out.
//!
//! [`Care::ingest`] takes a partner's events in order. For each consultation it holds that
//! consultation's slot (its state, rebuilt from storage when not in memory) while it checks the
//! idempotency key, evaluates the event with the pure rules (`tianping_care::evaluate`), encrypts the
//! event as a vault record and queues it for the log together with its effects (the event row,
//! findings, alerts, the consultation's start or end). Queuing is in order and does not wait, so a
//! batch of events of one consultation shares the sequencer's group commit; the receipts are
//! returned once everything is durable. A refused event changes nothing.
//!
//! The duty queue is in [`alerts`], refunds, ratings and supervision metrics in [`supervision`].

pub mod alerts;
pub mod supervision;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tianping_care::consultation::{Consultation, EventFact};
use tianping_care::event::{Body, EventError, EventType, Incoming, Party, Start};
use tianping_care::rules::{Facts, Finding, RuleBook};
use tianping_care::{Evaluation, evaluate};
use tianping_identity::ids::ResidentId;
use tianping_identity::role::{OrgKind, Role};
use tianping_log::envelope::canonical_json;
use tianping_store::care::{self as rows, AlertRow, CareEffect, ConsultationRow, EventRow, FindingRow};
use tianping_store::identity as id_rows;
use tianping_store::vault::Effect;
use tianping_store::{Db, StoreError};

use crate::config::CareSettings;
use crate::identity::access::Principal;
use crate::identity::{Identity, IdentityError};
use crate::log::now_ms;
use crate::vault::{Content, NewRecord, PendingRecord, Vault, VaultError, new_id};

#[derive(Debug, thiserror::Error)]
pub enum CareError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("no verified doctor holds practising licence {0}")]
    UnknownDoctor(String),
    #[error("the attending doctor's verification is pending, rejected or expired (IDS-13, IDM-25)")]
    DoctorNotVerified,
    #[error("the attending doctor is suspended or blacklisted")]
    DoctorSuspended,
    #[error("this API token acts for no organisation, or its organisation is not in good standing")]
    NoOrganisation,
    #[error("idempotency key {0:?} was used before for a different event")]
    KeyReused(String),
    #[error("an event with idempotency key {0:?} is being stored right now; retry shortly")]
    KeyInFlight(String),
    #[error("no record {0:?} submitted by this partner")]
    UnknownRecord(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("storage failed: {0}")]
    Storage(String),
}

impl From<StoreError> for CareError {
    fn from(e: StoreError) -> Self {
        CareError::Storage(e.to_string())
    }
}

impl From<crate::log::AppendError> for CareError {
    fn from(e: crate::log::AppendError) -> Self {
        CareError::Vault(VaultError::Append(e))
    }
}

pub type Result<T, E = CareError> = std::result::Result<T, E>;

/// The partner organisation an integration token acts for.
#[derive(Debug, Clone)]
pub struct Partner {
    pub org_id: String,
    pub org_kind: OrgKind,
    /// The token's name: the source of every envelope the partner submits.
    pub source: String,
}

/// A finding as receipts and pages show it.
#[derive(Debug, Clone, Serialize)]
pub struct FindingView {
    pub rule: String,
    pub severity: String,
    pub citation: String,
    pub explanation: Explanation,
    pub rule_set: String,
    /// The event (sequence number) that broke the rule.
    pub seq: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    #[serde(rename = "zh-CN")]
    pub zh: String,
    #[serde(rename = "en-US")]
    pub en: String,
}

impl From<&FindingRow> for FindingView {
    fn from(f: &FindingRow) -> Self {
        FindingView {
            rule: f.rule_id.clone(),
            severity: f.severity.clone(),
            citation: f.citation.clone(),
            explanation: Explanation {
                zh: f.zh.clone(),
                en: f.en.clone(),
            },
            rule_set: f.rule_set.clone(),
            seq: f.seq,
        }
    }
}

/// The answer to an accepted event: proof that it was preserved.
#[derive(Debug, Clone, Serialize)]
pub struct EventReceipt {
    pub consultation: String,
    pub seq: u64,
    #[serde(rename = "type")]
    pub event_type: &'static str,
    pub record_id: String,
    pub index: u64,
    pub leaf_hash: String,
    pub checkpoint: String,
    /// The commitment's salt (base64); absent when the receipt is replayed for a retried key.
    pub commitment_salt: Option<String>,
    pub replayed: bool,
    pub findings: Vec<FindingView>,
    pub alerts: Vec<String>,
}

/// A consultation as the rules left it, in memory.
struct Loaded {
    id: String,
    doctor_id: String,
    /// The vault subject of the consultation's records: the patient.
    subject: String,
    state: Consultation,
}

/// One consultation's place in memory; its lock orders the consultation's events.
type Slot = Arc<tokio::sync::Mutex<Option<Loaded>>>;

struct Inner {
    db: Db,
    vault: Vault,
    identity: Identity,
    book: RuleBook,
    settings: CareSettings,
    slots: Mutex<HashMap<(String, String), Slot>>,
    /// Idempotency keys `(org, key)` whose events are queued but not yet durable.
    in_flight: Mutex<HashSet<(String, String)>>,
    /// Serialises ratings and alert actions (each checks, then writes).
    writes: tokio::sync::Mutex<()>,
}

/// Handle to online care. Cheap to clone.
#[derive(Clone)]
pub struct Care {
    inner: Arc<Inner>,
}

/// A parsed event and its canonical JSON (stored encrypted; its SHA-256 is what idempotency compares).
type Parsed = (Incoming, Vec<u8>);

/// What an event in a batch turned into before its record is durable.
enum Step {
    Done(Result<EventReceipt>),
    Pending {
        pending: PendingRecord,
        receipt: EventReceipt,
        slot: Slot,
        key: (String, String),
    },
}

/// What a batch looked up once for all its events: the events already stored under its
/// idempotency keys, and for its consultation starts the attending doctors' standing and the
/// patients' accounts (one query each instead of several per new consultation).
struct BatchLookups {
    stored: HashMap<String, EventRow>,
    /// By licence: the doctor, their account's status, whether a sanction in force names them.
    doctors: HashMap<String, (id_rows::DoctorRow, Option<String>, bool)>,
    /// The vault subject of each patient the starts name: their account when they have one here
    /// (so they see the records in their privacy centre), else `patient:<keyed hash of the ID>`.
    patients: HashMap<ResidentId, String>,
    now: u64,
}

impl Care {
    pub fn new(identity: Identity, settings: CareSettings) -> anyhow::Result<Care> {
        let book = if settings.rules_file.is_empty() {
            RuleBook::default_book()
        } else {
            let text = std::fs::read_to_string(&settings.rules_file)
                .map_err(|e| anyhow::anyhow!("reading rule book {}: {e}", settings.rules_file))?;
            RuleBook::parse(&text)?
        }
        .with_pilots(&settings.first_visit_pilots);
        Ok(Care {
            inner: Arc::new(Inner {
                db: identity.db().clone(),
                vault: identity.vault().clone(),
                identity,
                book,
                settings,
                slots: Mutex::new(HashMap::new()),
                in_flight: Mutex::new(HashSet::new()),
                writes: tokio::sync::Mutex::new(()),
            }),
        })
    }

    pub fn book(&self) -> &RuleBook {
        &self.inner.book
    }

    pub fn settings(&self) -> &CareSettings {
        &self.inner.settings
    }

    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }

    pub(crate) fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// The partner an integration principal acts for.
    pub async fn partner(&self, who: &Principal) -> Result<Partner> {
        let (Role::Integration, Some(source), Some(org_id)) = (who.role, &who.source, who.orgs.first())
        else {
            return Err(CareError::NoOrganisation);
        };
        let org = id_rows::org(&self.inner.db, org_id)
            .await?
            .filter(|o| o.status == "active")
            .ok_or(CareError::NoOrganisation)?;
        Ok(Partner {
            org_id: org.id,
            org_kind: org.kind.parse().map_err(|_| CareError::NoOrganisation)?,
            source: source.clone(),
        })
    }

    fn slot(&self, org: &str, consultation: &str) -> Slot {
        let mut slots = self.inner.slots.lock().expect("slots lock");
        slots
            .entry((org.to_owned(), consultation.to_owned()))
            .or_default()
            .clone()
    }

    fn forget_slot(&self, org: &str, consultation: &str) {
        self.inner
            .slots
            .lock()
            .expect("slots lock")
            .remove(&(org.to_owned(), consultation.to_owned()));
    }

    /// Rebuild a consultation's state from storage: its state at the start (sealed) and the facts of
    /// every event since.
    async fn load(&self, org: &str, reference: &str) -> Result<Option<Loaded>> {
        let Some(row) = rows::consultation_by_ref(&self.inner.db, org, reference).await? else {
            return Ok(None);
        };
        let plain = self
            .inner
            .vault
            .open_secret(STATE_LABEL, &row.state_sealed)
            .await?;
        let mut state: Consultation = serde_json::from_slice(&plain)
            .map_err(|e| CareError::Storage(format!("consultation state: {e}")))?;
        for e in rows::events_of(&self.inner.db, &row.id).await? {
            if e.seq > 0 {
                state.apply(&fact_of_row(&e)?);
            }
        }
        Ok(Some(Loaded {
            id: row.id,
            doctor_id: row.doctor_id,
            subject: row.patient_subject,
            state,
        }))
    }

    /// Store a partner's events, in order; one result per event.
    pub async fn ingest(&self, p: &Partner, events: &[Value]) -> Vec<Result<EventReceipt>> {
        let now = now_ms();
        let parsed: Vec<Result<Parsed>> = events
            .iter()
            .map(|v| {
                let e = Incoming::parse(v)?;
                Ok((e, canonical_json(v)))
            })
            .collect();
        let lookups = match self.lookups(p, &parsed, now).await {
            Ok(l) => l,
            Err(e) => {
                let msg = e.to_string();
                return events
                    .iter()
                    .map(|_| Err(CareError::Storage(msg.clone())))
                    .collect();
            }
        };
        let mut steps: Vec<Option<Step>> = (0..events.len()).map(|_| None).collect();
        let mut parsed: Vec<Option<Result<Parsed>>> = parsed.into_iter().map(Some).collect();
        // Group by consultation, keeping each group's order.
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        let mut group_of: HashMap<String, usize> = HashMap::new();
        for i in 0..parsed.len() {
            match &parsed[i] {
                Some(Ok((e, _))) => {
                    let c = e.consultation.as_str().to_owned();
                    let g = *group_of.entry(c.clone()).or_insert_with(|| {
                        groups.push((c, vec![]));
                        groups.len() - 1
                    });
                    groups[g].1.push(i);
                }
                _ => {
                    if let Some(Err(e)) = parsed[i].take() {
                        steps[i] = Some(Step::Done(Err(e)));
                    }
                }
            }
        }
        for (consultation, indices) in groups {
            let slot = self.slot(&p.org_id, &consultation);
            let mut guard = slot.lock().await;
            for i in indices {
                let Some(Ok((e, canonical))) = parsed[i].take() else {
                    unreachable!()
                };
                let step = self.accept(p, &mut guard, &slot, e, &canonical, &lookups).await;
                steps[i] = Some(step.unwrap_or_else(|e| Step::Done(Err(e))));
            }
        }
        let mut out = Vec::with_capacity(events.len());
        for step in steps {
            out.push(match step.expect("every event has a step") {
                Step::Done(r) => r,
                Step::Pending {
                    pending,
                    mut receipt,
                    slot,
                    key,
                } => {
                    let r = pending.wait().await;
                    self.inner.in_flight.lock().expect("in-flight lock").remove(&key);
                    match r {
                        Ok(rr) => {
                            receipt.record_id = rr.record_id;
                            receipt.index = rr.receipt.index;
                            receipt.leaf_hash = B64.encode(rr.receipt.leaf_hash);
                            receipt.checkpoint = rr.receipt.checkpoint.to_string();
                            receipt.commitment_salt = Some(B64.encode(rr.salt));
                            if receipt.event_type == EventType::End.as_str() {
                                self.forget_slot(&key.0, &receipt.consultation);
                            }
                            Ok(receipt)
                        }
                        Err(e) => {
                            // What is in memory may be ahead of storage now: rebuild it next time.
                            *slot.lock().await = None;
                            Err(e.into())
                        }
                    }
                }
            });
        }
        out
    }

    /// One round of lookups for the whole batch (see [`BatchLookups`]).
    async fn lookups(&self, p: &Partner, parsed: &[Result<Parsed>], now: u64) -> Result<BatchLookups> {
        let events = || parsed.iter().filter_map(|r| r.as_ref().ok()).map(|(e, _)| e);
        let keys: Vec<&str> = events().map(|e| e.idempotency_key.as_str()).collect();
        let stored = rows::events_by_keys(&self.inner.db, &p.org_id, &keys).await?;
        let starts: Vec<&Start> = events()
            .filter_map(|e| match &e.body {
                Body::Start(s) => Some(&**s),
                _ => None,
            })
            .collect();
        let (mut doctors, mut patients) = (HashMap::new(), HashMap::new());
        if !starts.is_empty() {
            let licences: Vec<&str> = starts.iter().map(|s| s.doctor.as_str()).collect();
            for d in id_rows::doctors_standing(&self.inner.db, &licences).await? {
                doctors.insert(d.0.licence_no.clone(), d);
            }
            let hashes: HashMap<Vec<u8>, &ResidentId> = starts
                .iter()
                .map(|s| (self.inner.identity.resident_id_hash(&s.patient), &s.patient))
                .collect();
            let keys: Vec<&[u8]> = hashes.keys().map(Vec::as_slice).collect();
            let accounts: HashMap<Vec<u8>, String> = id_rows::accounts_by_id_hashes(&self.inner.db, &keys)
                .await?
                .into_iter()
                .filter_map(|a| Some((a.id_hash?, a.id)))
                .collect();
            for (hash, patient) in &hashes {
                let subject = match accounts.get(hash) {
                    Some(account) => account.clone(),
                    None => format!("patient:{}", hex::encode(hash)),
                };
                patients.insert((*patient).clone(), subject);
            }
        }
        Ok(BatchLookups {
            stored: stored.into_iter().map(|r| (r.idem_key.clone(), r)).collect(),
            doctors,
            patients,
            now,
        })
    }

    /// Check and queue one event of a consultation whose slot the caller holds.
    #[allow(clippy::too_many_arguments)]
    async fn accept(
        &self,
        p: &Partner,
        loaded: &mut Option<Loaded>,
        slot: &Slot,
        e: Incoming,
        canonical: &[u8],
        lookups: &BatchLookups,
    ) -> Result<Step> {
        let body_hash = Sha256::digest(canonical).to_vec();
        let key = (p.org_id.clone(), e.idempotency_key.as_str().to_owned());
        if let Some(prev) = lookups.stored.get(&key.1) {
            return if prev.body_hash == body_hash {
                Ok(Step::Done(self.replay(prev, e.consultation.as_str()).await))
            } else {
                Err(CareError::KeyReused(key.1))
            };
        }
        if !self
            .inner
            .in_flight
            .lock()
            .expect("in-flight lock")
            .insert(key.clone())
        {
            return Err(CareError::KeyInFlight(key.1));
        }
        let result = self
            .queue(p, loaded, slot, e, canonical, body_hash, lookups, &key)
            .await;
        if result.is_err() {
            self.inner.in_flight.lock().expect("in-flight lock").remove(&key);
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn queue(
        &self,
        p: &Partner,
        loaded: &mut Option<Loaded>,
        slot: &Slot,
        e: Incoming,
        canonical: &[u8],
        body_hash: Vec<u8>,
        lookups: &BatchLookups,
        key: &(String, String),
    ) -> Result<Step> {
        let now = lookups.now;
        if loaded.is_none() {
            *loaded = self.load(&p.org_id, e.consultation.as_str()).await?;
        }
        let facts = Facts {
            now_ms: now,
            liability_cover: None,
        };
        // A new consultation: its attending doctor must be verified and in good standing (IDS-13).
        let start = match &e.body {
            Body::Start(s) if loaded.is_none() => Some(self.resolve_start(s, lookups)?),
            _ => None,
        };
        let ev = evaluate(
            &self.inner.book,
            loaded.as_ref().map(|l| &l.state),
            &e,
            p.org_kind,
            &facts,
        )?;
        if let Body::Recording { record } = &e.body {
            self.check_recording(p, record.as_str()).await?;
        }
        let (consultation_id, doctor_id, subject) = match (&start, loaded.as_ref()) {
            (Some((doctor, subject)), _) => (new_id(), doctor.clone(), subject.clone()),
            (None, Some(l)) => (l.id.clone(), l.doctor_id.clone(), l.subject.clone()),
            (None, None) => return Err(EventError::UnknownConsultation.into()),
        };
        let occurred = ev.fact.occurred_ms;
        let mut effects = Vec::new();
        let mut alert_ids = Vec::new();
        if start.is_some() {
            let sealed_state = self
                .inner
                .vault
                .seal_secret(
                    STATE_LABEL,
                    &serde_json::to_vec(&ev.state).expect("state serialises"),
                )
                .await?;
            effects.push(Effect::Care(CareEffect::Start(Box::new(ConsultationRow {
                id: consultation_id.clone(),
                org_id: p.org_id.clone(),
                reference: e.consultation.as_str().to_owned(),
                patient_subject: subject.clone(),
                doctor_id: doctor_id.clone(),
                started_ms: occurred as i64,
                ended_ms: None,
                response_ms: None,
                terminated: false,
                referred: false,
                state_sealed: sealed_state,
                start_idx: 0,
            }))));
        }
        effects.push(Effect::Care(CareEffect::Event(Box::new(event_row(
            p,
            key,
            &consultation_id,
            &ev.fact,
            body_hash,
        )))));
        // The rows are stored with the event; the receipt shows the same findings.
        let findings: Vec<FindingView> = ev
            .findings
            .iter()
            .map(|f| {
                let row = finding_row(f, &consultation_id, &p.org_id, &doctor_id, e.seq as i64, now);
                let view = FindingView::from(&row);
                effects.push(Effect::Care(CareEffect::Finding(Box::new(row))));
                view
            })
            .collect();
        if !ev.flags.is_empty() {
            let on_duty = rows::duty(&self.inner.db, &p.org_id).await?;
            for flag in &ev.flags {
                let id = new_id();
                alert_ids.push(id.clone());
                effects.push(Effect::Care(CareEffect::Alert(Box::new(AlertRow {
                    id,
                    consultation_id: consultation_id.clone(),
                    org_id: p.org_id.clone(),
                    seq: e.seq as i64,
                    record_id: String::new(),
                    label: flag.label.clone(),
                    severity: flag.severity.as_str().into(),
                    zh: flag.zh.clone(),
                    en: flag.en.clone(),
                    raised_ms: now as i64,
                    ack_minutes: i64::from(flag.ack_minutes),
                    deadline_ms: now as i64 + i64::from(flag.ack_minutes) * 60_000,
                    level: 1,
                    assignee: on_duty.first().cloned(),
                    status: "open".into(),
                    acked_by: None,
                    acked_ms: None,
                    resolved_by: None,
                    resolved_ms: None,
                    log_idx: 0,
                }))));
            }
        }
        if matches!(e.body, Body::End) {
            effects.push(Effect::Care(CareEffect::End {
                consultation_id: consultation_id.clone(),
                ended_ms: occurred as i64,
                response_ms: ev.state.response_ms().map(|v| v as i64),
                terminated: ev.state.terminated,
                referred: ev.state.referred,
            }));
            effects.push(self.inner.vault.close_effect(&consultation_id, occurred as i64));
        }
        let event_type = e.body.event_type();
        let record = NewRecord {
            kind: event_type.kind(),
            subject: &subject,
            source: &p.source,
            occurred_ms: Some(occurred),
            // This event's JSON in canonical form.
            content: Content::Bytes {
                media_type: crate::vault::JSON,
                bytes: canonical,
            },
            retention_class: None,
            consultation: Some(&consultation_id),
        };
        let mut sealed = self
            .inner
            .vault
            .seal_open_consultation_json(&record, effects)
            .await?;
        // The event row and the alerts name the record the event became (its id is drawn when sealing).
        let record_id = sealed.record_id().to_owned();
        for e in &mut sealed.extra {
            match e {
                Effect::Care(CareEffect::Event(row)) => row.record_id.clone_from(&record_id),
                Effect::Care(CareEffect::Alert(a)) => a.record_id.clone_from(&record_id),
                _ => {}
            }
        }
        let pending = self.inner.vault.submit(sealed).await?;
        let Evaluation { state, .. } = ev;
        *loaded = Some(Loaded {
            id: consultation_id,
            doctor_id,
            subject,
            state,
        });
        Ok(Step::Pending {
            pending,
            receipt: EventReceipt {
                consultation: e.consultation.as_str().to_owned(),
                seq: e.seq,
                event_type: event_type.as_str(),
                record_id: String::new(),
                index: 0,
                leaf_hash: String::new(),
                checkpoint: String::new(),
                commitment_salt: None,
                replayed: false,
                findings,
                alerts: alert_ids,
            },
            slot: slot.clone(),
            key: key.clone(),
        })
    }

    /// The attending doctor's account and the patient's vault subject of a new consultation.
    fn resolve_start(&self, s: &Start, lookups: &BatchLookups) -> Result<(String, String)> {
        let licence = s.doctor.as_str();
        let Some((doctor, Some(account_status), sanctioned)) = lookups.doctors.get(licence) else {
            return Err(CareError::UnknownDoctor(licence.to_owned()));
        };
        if account_status != "active" || *sanctioned {
            return Err(CareError::DoctorSuspended);
        }
        if doctor.status != "verified" || doctor.expires_ms.is_some_and(|e| e <= lookups.now as i64) {
            return Err(CareError::DoctorNotVerified);
        }
        let subject = lookups
            .patients
            .get(&s.patient)
            .expect("every start's patient is looked up");
        Ok((doctor.account_id.clone(), subject.clone()))
    }

    async fn check_recording(&self, p: &Partner, record: &str) -> Result<()> {
        let row = tianping_store::vault::record(&self.inner.db, record)
            .await?
            .ok_or_else(|| CareError::UnknownRecord(record.to_owned()))?;
        if self.inner.vault.source_of(row.log_idx).await? != p.source {
            return Err(CareError::UnknownRecord(record.to_owned()));
        }
        Ok(())
    }

    /// The receipt of an event stored before under the same key and body.
    async fn replay(&self, prev: &EventRow, consultation: &str) -> Result<EventReceipt> {
        let entry = tianping_store::log::entries(&self.inner.db, prev.log_idx, prev.log_idx + 1)
            .await?
            .pop()
            .ok_or(CareError::NotFound)?;
        let findings = rows::findings_of(&self.inner.db, &prev.consultation_id)
            .await?
            .iter()
            .filter(|f| f.seq == prev.seq)
            .map(FindingView::from)
            .collect();
        Ok(EventReceipt {
            consultation: consultation.to_owned(),
            seq: prev.seq as u64,
            event_type: EventType::parse(&prev.event_type)
                .map(EventType::as_str)
                .unwrap_or("unknown"),
            record_id: prev.record_id.clone(),
            index: prev.log_idx,
            leaf_hash: B64.encode(&entry.leaf_hash),
            checkpoint: self.inner.vault.log().head().note.to_string(),
            commitment_salt: None,
            replayed: true,
            findings,
            alerts: vec![],
        })
    }

    /// A consultation of organisation `org` by the partner's reference, with its findings.
    pub async fn consultation(
        &self,
        who: &Principal,
        org: &str,
        reference: &str,
    ) -> Result<ConsultationView> {
        self.may_see_org(who, org)?;
        let row = rows::consultation_by_ref(&self.inner.db, org, reference)
            .await?
            .ok_or(CareError::NotFound)?;
        let findings = rows::findings_of(&self.inner.db, &row.id)
            .await?
            .iter()
            .map(FindingView::from)
            .collect();
        let events = rows::events_of(&self.inner.db, &row.id).await?;
        Ok(ConsultationView {
            consultation: row.reference,
            org_id: row.org_id,
            doctor: row.doctor_id,
            started_ms: row.started_ms,
            ended_ms: row.ended_ms,
            response_ms: row.response_ms,
            terminated: row.terminated,
            referred: row.referred,
            events: events
                .iter()
                .map(|e| EventView {
                    seq: e.seq,
                    event_type: e.event_type.clone(),
                    index: e.log_idx,
                    record_id: e.record_id.clone(),
                    occurred_ms: e.occurred_ms,
                })
                .collect(),
            findings,
        })
    }

    /// The latest findings an actor may see: a partner or institution its own, a regulator all.
    pub async fn findings(&self, who: &Principal, limit: i64) -> Result<Vec<(String, FindingRow)>> {
        let org = match who.role {
            Role::Regulator | Role::Operator => None,
            _ => Some(who.orgs.first().cloned().ok_or(CareError::NoOrganisation)?),
        };
        Ok(rows::findings(&self.inner.db, org.as_deref(), limit.clamp(1, 1000)).await?)
    }

    /// Partners, institution staff and doctors see their own organisations; regulators and operators
    /// every one (IDM-24: a data interface for the regulator).
    pub(crate) fn may_see_org(&self, who: &Principal, org: &str) -> Result<()> {
        match who.role {
            Role::Regulator | Role::Operator => Ok(()),
            _ if who.orgs.iter().any(|o| o == org) => Ok(()),
            _ => Err(CareError::Forbidden(
                "only the organisation itself and regulators see its consultations".into(),
            )),
        }
    }
}

/// A consultation as partners, institutions and regulators see it: no content, only the facts of its
/// events (each with its log entry), and its findings.
#[derive(Debug, Clone, Serialize)]
pub struct ConsultationView {
    pub consultation: String,
    pub org_id: String,
    pub doctor: String,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub response_ms: Option<i64>,
    pub terminated: bool,
    pub referred: bool,
    pub events: Vec<EventView>,
    pub findings: Vec<FindingView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub seq: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub index: u64,
    pub record_id: String,
    pub occurred_ms: i64,
}

/// The label under which consultation states are sealed.
const STATE_LABEL: &str = "care.consultation_state";

fn event_row(
    p: &Partner,
    key: &(String, String),
    consultation_id: &str,
    f: &EventFact,
    body_hash: Vec<u8>,
) -> EventRow {
    EventRow {
        org_id: p.org_id.clone(),
        idem_key: key.1.clone(),
        consultation_id: consultation_id.to_owned(),
        seq: f.seq as i64,
        event_type: f.event_type.as_str().into(),
        party: f.party.map(|p| p.as_str().to_owned()),
        reference: f.reference.clone(),
        flag: f.flag,
        red_flags: i64::from(f.red_flags),
        fee_fen: f.fee_fen,
        occurred_ms: f.occurred_ms as i64,
        body_hash,
        log_idx: 0,
        record_id: String::new(),
    }
}

fn fact_of_row(e: &EventRow) -> Result<EventFact> {
    let bad = || CareError::Storage(format!("event {} of {} is unreadable", e.seq, e.consultation_id));
    Ok(EventFact {
        seq: u64::try_from(e.seq).map_err(|_| bad())?,
        event_type: EventType::parse(&e.event_type).ok_or_else(bad)?,
        party: e
            .party
            .as_deref()
            .map(|p| Party::parse(p).ok_or_else(bad))
            .transpose()?,
        reference: e.reference.clone(),
        flag: e.flag,
        occurred_ms: u64::try_from(e.occurred_ms).map_err(|_| bad())?,
        red_flags: u32::try_from(e.red_flags).map_err(|_| bad())?,
        fee_fen: e.fee_fen,
    })
}

fn finding_row(
    f: &Finding,
    consultation_id: &str,
    org: &str,
    doctor: &str,
    seq: i64,
    now: u64,
) -> FindingRow {
    FindingRow {
        id: new_id(),
        consultation_id: consultation_id.to_owned(),
        org_id: org.to_owned(),
        doctor_id: doctor.to_owned(),
        seq,
        rule_id: f.rule.clone(),
        rule_set: f.rule_set.clone(),
        severity: f.severity.as_str().into(),
        citation: f.citation.clone(),
        zh: f.zh.clone(),
        en: f.en.clone(),
        at_ms: now as i64,
        log_idx: 0,
    }
}

/// The content of a log entry recording an action of the duty queue or a rating.
pub(crate) fn action_content(kind: &str, fields: Value) -> Value {
    json!({ "action": kind, "details": fields })
}
