//! HL7 FHIR R5 resources for consents and access records, as JSON: [`consent_resource`] (a `Consent`) and
//! [`audit_event`] (an `AuditEvent`, recorded for every decision, permit or refusal, IDM-24).
//!
//! Ids are used as FHIR logical ids and in references (`Patient/{id}`), so they must match FHIR's id syntax
//! `[A-Za-z0-9\-\.]{1,64}` (UUIDs do). Tianping's own codes live in `urn:tianping:*` systems, the same
//! namespace as its problem types. Terminology used:
//!
//! - purposes: HL7 v3 ActReason PurposeOfUse ([`Purpose::fhir_purpose_of_use`]);
//! - consent category: LOINC `59284-0` (patient consent); recipient role: v3 ParticipationType `IRCP`
//!   (information recipient); provision action: consentaction `access`; sensitivity: v3 Confidentiality
//!   `R` (restricted, PIPL-28 sensitive data) or `N` (normal);
//! - audit event category: DICOM `110110` (Patient Record); code: FHIR restful-interaction `read` or
//!   `search`, or DICOM `110106` (Export); outcome: `http://hl7.org/fhir/issue-severity` `success` or
//!   `error` (the R5 AuditEventOutcome value set); entity role: object-role `1` (Patient); source type:
//!   security-source-type `4` (Application Server).

use serde_json::{Value, json};

use crate::consent::{Consent, DataCategory, Notice, Purpose};
use crate::policy::{AccessRequest, Action, Decision, LegalBasis, Reason};
use crate::role::Role;
use crate::time::{format_date, format_instant};

/// Identifier system of Tianping consent ids.
pub const CONSENT_ID_SYSTEM: &str = "urn:tianping:consent";
/// Identifier system of notices; the value is `{notice id}|{version}`.
pub const NOTICE_SYSTEM: &str = "urn:tianping:notice";
/// Identifier system of positions in the evidence log (the leaf index of the entry that records a resource).
pub const LOG_INDEX_SYSTEM: &str = "urn:tianping:log-index";
/// Code system of [`DataCategory`] codes.
pub const DATA_CATEGORY_SYSTEM: &str = "urn:tianping:data-category";
/// Code system of [`Role`] codes.
pub const ROLE_SYSTEM: &str = "urn:tianping:role";
/// Code system of [`Reason`] codes.
pub const REASON_SYSTEM: &str = "urn:tianping:access-reason";
/// Code system of [`LegalBasis`] codes.
pub const LEGAL_BASIS_SYSTEM: &str = "urn:tianping:legal-basis";
/// Code system of the rule ids of `RULES.md` (e.g. `PIPL-29`).
pub const RULE_SYSTEM: &str = "urn:tianping:rule";

const LOINC: &str = "http://loinc.org";
const DICOM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const CONFIDENTIALITY: &str = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";
const PARTICIPATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
const CONSENT_ACTION: &str = "http://terminology.hl7.org/CodeSystem/consentaction";
const RESTFUL_INTERACTION: &str = "http://hl7.org/fhir/restful-interaction";
const ISSUE_SEVERITY: &str = "http://hl7.org/fhir/issue-severity";
const OBJECT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";
const SECURITY_SOURCE_TYPE: &str = "http://terminology.hl7.org/CodeSystem/security-source-type";

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({ "system": system, "code": code, "display": display })
}

fn concept(system: &str, code: &str, display: &str) -> Value {
    json!({ "coding": [coding(system, code, display)] })
}

fn reference(kind: &str, id: &str) -> Value {
    json!({ "reference": format!("{kind}/{id}") })
}

fn purpose_coding(p: Purpose) -> Value {
    let (system, code, display) = p.fhir_purpose_of_use();
    coding(system, code, display)
}

fn category_concept(c: DataCategory) -> Value {
    concept(DATA_CATEGORY_SYSTEM, c.as_str(), c.display_en())
}

/// v3 Confidentiality: restricted for sensitive personal information (PIPL-28), normal otherwise.
fn confidentiality(c: DataCategory) -> Value {
    if c.is_sensitive() {
        coding(CONFIDENTIALITY, "R", "restricted")
    } else {
        coding(CONFIDENTIALITY, "N", "normal")
    }
}

/// A FHIR R5 `Consent` for `c`, granted under `notice` (whose id and version are `c.notice_id` and
/// `c.notice_version`), optionally naming the evidence-log index of the entry that records it.
///
/// Status is `active`, or `inactive` once withdrawn; the provision's period runs from the grant to the
/// withdrawal. The grantor is the patient, or a `RelatedPerson` when a guardian granted it (PIPL-31); the
/// grantee and provision actor is `Organization/{recipient}` (PIPL-23). The regulatory basis is PIPL, with
/// the rule ids that apply.
pub fn consent_resource(c: &Consent, notice: &Notice, log_index: Option<u64>) -> Value {
    let mut identifier = vec![json!({ "system": CONSENT_ID_SYSTEM, "value": c.id })];
    if let Some(i) = log_index {
        identifier.push(json!({ "system": LOG_INDEX_SYSTEM, "value": i.to_string() }));
    }
    let mut period = json!({ "start": format_instant(c.granted_ms) });
    if let Some(w) = c.withdrawn_ms {
        period["end"] = json!(format_instant(w));
    }
    let grantor = if c.by_guardian { "RelatedPerson" } else { "Patient" };
    let mut rules = vec!["PIPL-13", "PIPL-14", "PIPL-15", "PIPL-23"];
    if c.category.is_sensitive() {
        rules.push("PIPL-29");
    }
    if c.by_guardian {
        rules.push("PIPL-31");
    }
    let rule_codings: Vec<Value> = rules
        .iter()
        .map(|r| json!({ "system": RULE_SYSTEM, "code": r }))
        .collect();
    json!({
        "resourceType": "Consent",
        "id": c.id,
        "identifier": identifier,
        "status": if c.withdrawn_ms.is_some() { "inactive" } else { "active" },
        "category": [{
            "coding": [{ "system": LOINC, "code": "59284-0" }],
            "text": "Patient consent"
        }],
        "subject": reference("Patient", &c.subject),
        "date": format_date(c.granted_ms),
        "period": period,
        "grantor": [reference(grantor, &c.granted_by)],
        "grantee": [reference("Organization", &c.recipient)],
        "regulatoryBasis": [{
            "coding": rule_codings,
            "text": "PIPL"
        }],
        "policyText": [{
            "type": "DocumentReference",
            "identifier": {
                "system": NOTICE_SYSTEM,
                "value": format!("{}|{}", notice.id, notice.version)
            },
            "display": format!("Notice {} version {}", notice.id, notice.version)
        }],
        "decision": "permit",
        "provision": [{
            "period": period,
            "actor": [{
                "role": concept(PARTICIPATION_TYPE, "IRCP", "information recipient"),
                "reference": reference("Organization", &c.recipient)
            }],
            "action": [concept(CONSENT_ACTION, "access", "Access")],
            "securityLabel": [confidentiality(c.category)],
            "purpose": [purpose_coding(c.purpose)],
            "code": [category_concept(c.category)]
        }]
    })
}

/// What an [`audit_event`] records: one access decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditInfo {
    /// Id of the audit record.
    pub id: String,
    /// When the access was decided (Unix ms, UTC).
    pub at_ms: u64,
    /// The actor's account id.
    pub actor_account: String,
    /// The actor's role.
    pub actor_role: Role,
    /// What the actor wanted to do.
    pub action: Action,
    /// Account id of the person the data is about.
    pub subject: String,
    /// The category of data.
    pub category: DataCategory,
    /// The purpose given.
    pub purpose: Purpose,
    /// Whether access was permitted.
    pub permit: bool,
    /// Why.
    pub reason: Reason,
    /// The legal basis, when permitted.
    pub basis: Option<LegalBasis>,
    /// The consent relied on, if any.
    pub consent_id: Option<String>,
    /// The evidence-log index of the entry that records this event, once known.
    pub log_index: Option<u64>,
}

impl AuditInfo {
    /// The record of `decision` on `req`, not yet in the log.
    pub fn new(id: impl Into<String>, req: &AccessRequest, decision: &Decision) -> Self {
        AuditInfo {
            id: id.into(),
            at_ms: req.at_ms,
            actor_account: req.actor.account.clone(),
            actor_role: req.actor.role,
            action: req.action,
            subject: req.resource.subject.clone(),
            category: req.resource.category,
            purpose: req.purpose,
            permit: decision.permit,
            reason: decision.reason,
            basis: decision.basis,
            consent_id: decision.consent_id.clone(),
            log_index: None,
        }
    }
}

/// The FHIR resource type that represents an actor of `role`: the patient, a related person (guardian,
/// relative), a device (a partner system) or a practitioner (everyone acting professionally).
pub fn agent_resource_type(role: Role) -> &'static str {
    match role {
        Role::Patient => "Patient",
        Role::Guardian | Role::Relative => "RelatedPerson",
        Role::Integration => "Device",
        Role::Doctor
        | Role::InstitutionStaff
        | Role::Mediator
        | Role::LegalAidLawyer
        | Role::MedicalExpert
        | Role::InsurerAdjuster
        | Role::Regulator
        | Role::Operator => "Practitioner",
    }
}

/// A FHIR R5 `AuditEvent` recording one access decision.
///
/// Read and export are action `R`, list is `E` (a query). The outcome is `success` for a permit and `error`
/// for a refusal, with the reason and the legal basis as outcome details; the purpose is the authorization;
/// the actor is the requesting agent; the patient, the consent relied on and the log entry are entities.
pub fn audit_event(a: &AuditInfo) -> Value {
    let (code, action) = match a.action {
        Action::Read => (coding(RESTFUL_INTERACTION, "read", "read"), "R"),
        Action::List => (coding(RESTFUL_INTERACTION, "search", "search"), "E"),
        Action::Export => (coding(DICOM, "110106", "Export"), "R"),
    };
    let outcome = if a.permit {
        coding(ISSUE_SEVERITY, "success", "Operation Successful")
    } else {
        coding(ISSUE_SEVERITY, "error", "Error")
    };
    let mut detail = vec![concept(REASON_SYSTEM, a.reason.as_str(), a.reason.as_str())];
    if let Some(b) = a.basis {
        detail.push(concept(LEGAL_BASIS_SYSTEM, b.as_str(), b.rule_id()));
    }
    let mut entity = vec![json!({
        "what": reference("Patient", &a.subject),
        "role": concept(OBJECT_ROLE, "1", "Patient"),
        "securityLabel": [{ "coding": [confidentiality(a.category)] }],
        "detail": [{
            "type": { "text": "data category" },
            "valueCodeableConcept": category_concept(a.category)
        }]
    })];
    if let Some(consent) = &a.consent_id {
        entity.push(json!({ "what": reference("Consent", consent) }));
    }
    if let Some(i) = a.log_index {
        entity.push(json!({
            "what": {
                "identifier": { "system": LOG_INDEX_SYSTEM, "value": i.to_string() },
                "display": "Tianping evidence log entry"
            }
        }));
    }
    json!({
        "resourceType": "AuditEvent",
        "id": a.id,
        "category": [concept(DICOM, "110110", "Patient Record")],
        "code": { "coding": [code] },
        "action": action,
        "severity": if a.permit { "informational" } else { "notice" },
        "recorded": format_instant(a.at_ms),
        "outcome": { "code": outcome, "detail": detail },
        "authorization": [{ "coding": [purpose_coding(a.purpose)] }],
        "patient": reference("Patient", &a.subject),
        "agent": [{
            "type": concept(PARTICIPATION_TYPE, "IRCP", "information recipient"),
            "role": [concept(ROLE_SYSTEM, a.actor_role.as_str(), a.actor_role.as_str())],
            "who": reference(agent_resource_type(a.actor_role), &a.actor_account),
            "requestor": true
        }],
        "source": {
            "observer": { "display": "Tianping" },
            "type": [concept(SECURITY_SOURCE_TYPE, "4", "Application Server")]
        },
        "entity": entity
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Actor, Resource, decide};

    fn notice() -> Notice {
        Notice {
            id: "notice-treatment".into(),
            version: 2,
            purpose: Purpose::Treatment,
            categories: vec![DataCategory::ConsultationRecord],
            text_zh: "诊疗".into(),
            text_en: "Treatment".into(),
        }
    }

    fn consent() -> Consent {
        Consent {
            id: "c-1".into(),
            subject: "p-1".into(),
            granted_by: "p-1".into(),
            by_guardian: false,
            notice_id: "notice-treatment".into(),
            notice_version: 2,
            purpose: Purpose::Treatment,
            category: DataCategory::ConsultationRecord,
            recipient: "org-1".into(),
            granted_ms: 1_700_000_000_000,
            withdrawn_ms: None,
        }
    }

    #[test]
    fn consent_fields() {
        let v = consent_resource(&consent(), &notice(), Some(41));
        assert_eq!(v["resourceType"], "Consent");
        assert_eq!(v["status"], "active");
        assert_eq!(v["subject"]["reference"], "Patient/p-1");
        assert_eq!(v["date"], "2023-11-14");
        assert_eq!(
            v["provision"][0]["period"],
            json!({ "start": "2023-11-14T22:13:20.000Z" })
        );
        assert_eq!(v["grantor"][0]["reference"], "Patient/p-1");
        assert_eq!(v["grantee"][0]["reference"], "Organization/org-1");
        assert_eq!(v["provision"][0]["purpose"][0]["code"], "TREAT");
        assert_eq!(
            v["provision"][0]["code"][0]["coding"][0]["code"],
            "consultation_record"
        );
        assert_eq!(v["provision"][0]["securityLabel"][0]["code"], "R");
        assert_eq!(v["policyText"][0]["identifier"]["value"], "notice-treatment|2");
        assert_eq!(
            v["identifier"][1],
            json!({ "system": LOG_INDEX_SYSTEM, "value": "41" })
        );
        assert_eq!(v["regulatoryBasis"][0]["text"], "PIPL");
        let rules: Vec<&str> = v["regulatoryBasis"][0]["coding"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["code"].as_str())
            .collect();
        assert!(
            rules.contains(&"PIPL-29") && !rules.contains(&"PIPL-31"),
            "{rules:?}"
        );
    }

    #[test]
    fn withdrawn_and_guardian_consents() {
        let mut c = consent();
        c.withdrawn_ms = Some(1_700_000_060_000);
        c.by_guardian = true;
        c.granted_by = "g-1".into();
        c.category = DataCategory::Contact;
        let v = consent_resource(&c, &notice(), None);
        assert_eq!(v["status"], "inactive");
        assert_eq!(v["period"]["end"], "2023-11-14T22:14:20.000Z");
        assert_eq!(v["provision"][0]["period"]["end"], "2023-11-14T22:14:20.000Z");
        assert_eq!(v["grantor"][0]["reference"], "RelatedPerson/g-1");
        assert_eq!(v["provision"][0]["securityLabel"][0]["code"], "N");
        assert_eq!(v["identifier"].as_array().map(Vec::len), Some(1));
        let rules = v["regulatoryBasis"][0]["coding"].to_string();
        assert!(rules.contains("PIPL-31") && !rules.contains("PIPL-29"), "{rules}");
    }

    #[test]
    fn audit_events_follow_the_decision() {
        let actor = Actor {
            account: "d-1".into(),
            role: Role::Doctor,
            orgs: vec!["org-1".into()],
            guardian_of: vec![],
            verified_doctor: true,
            suspended: false,
            source: None,
        };
        let resource = Resource {
            subject: "p-1".into(),
            category: DataCategory::ConsultationRecord,
            source: None,
            under_oversight: false,
        };
        let req = AccessRequest {
            actor: &actor,
            action: Action::Export,
            resource: &resource,
            purpose: Purpose::Treatment,
            at_ms: 1_700_000_000_001,
        };
        let permit = decide(&req, &[consent()]);
        let mut info = AuditInfo::new("ae-1", &req, &permit);
        info.log_index = Some(7);
        let v = audit_event(&info);
        assert_eq!(v["resourceType"], "AuditEvent");
        assert_eq!(v["recorded"], "2023-11-14T22:13:20.001Z");
        assert_eq!(v["action"], "R");
        assert_eq!(v["code"]["coding"][0]["code"], "110106");
        assert_eq!(v["outcome"]["code"]["code"], "success");
        assert_eq!(v["outcome"]["detail"][0]["coding"][0]["code"], "consent_covers");
        assert_eq!(v["outcome"]["detail"][1]["coding"][0]["display"], "PIPL-13(1)");
        assert_eq!(v["agent"][0]["who"]["reference"], "Practitioner/d-1");
        assert_eq!(v["entity"][1]["what"]["reference"], "Consent/c-1");
        assert_eq!(v["entity"][2]["what"]["identifier"]["value"], "7");
        assert_eq!(v["authorization"][0]["coding"][0]["code"], "TREAT");

        let deny = decide(&req, &[]);
        let v = audit_event(&AuditInfo::new(
            "ae-2",
            &AccessRequest {
                action: Action::List,
                ..req
            },
            &deny,
        ));
        assert_eq!(v["action"], "E");
        assert_eq!(v["outcome"]["code"]["code"], "error");
        assert_eq!(v["outcome"]["detail"].as_array().map(Vec::len), Some(1));
        assert_eq!(v["outcome"]["detail"][0]["coding"][0]["code"], "no_consent");
        assert_eq!(v["entity"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn agents_by_role() {
        assert_eq!(agent_resource_type(Role::Patient), "Patient");
        assert_eq!(agent_resource_type(Role::Guardian), "RelatedPerson");
        assert_eq!(agent_resource_type(Role::Relative), "RelatedPerson");
        assert_eq!(agent_resource_type(Role::Integration), "Device");
        assert!(
            Role::ALL
                .into_iter()
                .filter(|r| r.is_staff())
                .all(|r| agent_resource_type(r) == "Practitioner")
        );
    }
}
