//! The FHIR R5 resources this crate emits pass the independent offline validator in
//! `../shared/tools/fhir` (four engines: the `fhir.resources` models, required code bindings, the official
//! JSON schema and the FHIRPath invariants), and the validator does reject a broken resource, so this test
//! can fail.
//!
//! The validator lives in `<workspace>/.fhir-validator` (or `$TIANPING_FHIR_VALIDATOR`); when it is missing,
//! this test installs it with `../shared/tools/fhir/setup.sh` (needs PyPI and the npm registry).

#[path = "support/fhir_validator.rs"]
mod fhir_validator;

use std::path::PathBuf;

use fhir_validator::{report, validate, write};

use serde_json::Value;
use tianping_identity::{
    AccessRequest, Action, Actor, AuditInfo, Consent, DataCategory, LegalBasis, Notice, Purpose, Reason,
    Resource, Role, audit_event, consent_resource, decide,
};

const T0: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn notice() -> Notice {
    Notice {
        id: "notice-treatment".into(),
        version: 3,
        purpose: Purpose::Treatment,
        categories: vec![
            DataCategory::ConsultationRecord,
            DataCategory::Contact,
            DataCategory::Recording,
        ],
        text_zh: "为互联网复诊，接诊医院将查阅您的问诊记录、联系方式和音视频。".into(),
        text_en: "For your online follow-up, the hospital will read your records, contacts and recordings."
            .into(),
    }
}

fn consent(id: &str) -> Consent {
    Consent {
        id: id.into(),
        subject: "0190a5c4-7c1e-7a3b-9a52-3f1d2e4b5c6d".into(),
        granted_by: "0190a5c4-7c1e-7a3b-9a52-3f1d2e4b5c6d".into(),
        by_guardian: false,
        notice_id: "notice-treatment".into(),
        notice_version: 3,
        purpose: Purpose::Treatment,
        category: DataCategory::ConsultationRecord,
        recipient: "org-hospital-1".into(),
        granted_ms: T0,
        withdrawn_ms: None,
    }
}

/// Consents: active, withdrawn, granted by a guardian, one per purpose and one per category.
fn consents() -> Vec<(String, Value)> {
    let n = notice();
    let mut out = vec![(
        "consent-active".to_owned(),
        consent_resource(&consent("c-active"), &n, Some(12)),
    )];
    let mut withdrawn = consent("c-withdrawn");
    withdrawn.withdrawn_ms = Some(T0 + 86_400_123);
    out.push(("consent-withdrawn".into(), consent_resource(&withdrawn, &n, None)));
    let mut guardian = consent("c-guardian");
    guardian.by_guardian = true;
    guardian.granted_by = "guardian-7".into();
    guardian.category = DataCategory::Contact;
    out.push((
        "consent-guardian".into(),
        consent_resource(&guardian, &n, Some(13)),
    ));
    for p in Purpose::ALL {
        let mut c = consent(&format!("c-purpose-{}", p.as_str().replace('_', "-")));
        c.purpose = p;
        out.push((format!("consent-purpose-{p}"), consent_resource(&c, &n, None)));
    }
    for cat in DataCategory::ALL {
        let mut c = consent(&format!("c-category-{}", cat.as_str().replace('_', "-")));
        c.category = cat;
        out.push((format!("consent-category-{cat}"), consent_resource(&c, &n, None)));
    }
    out
}

/// Audit events: a permit on consent, a refusal, own data, a regulator, every role and action.
fn audit_events() -> Vec<(String, Value)> {
    let subject = "0190a5c4-7c1e-7a3b-9a52-3f1d2e4b5c6d";
    let resource = Resource {
        subject: subject.into(),
        category: DataCategory::ConsultationRecord,
        source: Some("partner-a".into()),
        under_oversight: false,
    };
    let consents = [consent("c-active")];
    let mut out = vec![];
    for (i, role) in Role::ALL.into_iter().enumerate() {
        let actor = Actor {
            account: if role == Role::Patient {
                subject.into()
            } else {
                format!("acc-{}", role.as_str().replace('_', "-"))
            },
            role,
            orgs: vec!["org-hospital-1".into()],
            guardian_of: vec![],
            verified_doctor: i % 2 == 0,
            suspended: false,
            source: (role == Role::Integration).then(|| "partner-a".into()),
        };
        for action in Action::ALL {
            for purpose in [Purpose::Treatment, Purpose::Supervision] {
                let req = AccessRequest {
                    actor: &actor,
                    action,
                    resource: &resource,
                    purpose,
                    at_ms: T0 + 1_234,
                };
                let decision = decide(&req, &consents);
                let mut info = AuditInfo::new(
                    format!("ae-{role}-{action}-{purpose}").replace('_', "-"),
                    &req,
                    &decision,
                );
                info.log_index = decision.permit.then_some(100 + i as u64);
                out.push((format!("audit-{role}-{action}-{purpose}"), audit_event(&info)));
            }
        }
    }
    out
}

#[test]
fn generated_resources_are_valid_fhir_r5() {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let resources: Vec<(String, Value)> = consents().into_iter().chain(audit_events()).collect();
    // The set covers both outcomes and both consent states.
    let statuses: Vec<&str> = resources
        .iter()
        .filter_map(|(_, v)| v["status"].as_str())
        .collect();
    assert!(statuses.contains(&"active") && statuses.contains(&"inactive"));
    let outcomes: Vec<&str> = resources
        .iter()
        .filter_map(|(_, v)| v["outcome"]["code"]["code"].as_str())
        .collect();
    assert!(outcomes.contains(&"success") && outcomes.contains(&"error"));

    let files: Vec<PathBuf> = resources
        .iter()
        .map(|(name, v)| write(tmp.path(), name, v))
        .collect();
    let out = validate(&files);
    assert!(
        out.status.success(),
        "the validator rejected a generated resource:\n{}",
        report(&out)
    );
    // Shown with `--no-capture`: which engines ran on which file, and any invariant the validator skipped.
    eprintln!("{}", report(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Four engines report on every file.
    assert_eq!(stdout.matches(": OK").count(), 4 * files.len(), "{stdout}");
}

#[test]
fn the_validator_rejects_broken_resources() {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let good = consent_resource(&consent("c-broken"), &notice(), None);
    let info = AuditInfo {
        id: "ae-broken".into(),
        at_ms: T0,
        actor_account: "p-1".into(),
        actor_role: Role::Patient,
        action: Action::Read,
        subject: "p-1".into(),
        category: DataCategory::Recording,
        purpose: Purpose::Treatment,
        permit: true,
        reason: Reason::OwnData,
        basis: Some(LegalBasis::DataSubject),
        consent_id: None,
        log_index: Some(1),
    };
    let good_audit = audit_event(&info);

    let mut broken: Vec<(&str, Value)> = vec![];
    let mut v = good.clone();
    v.as_object_mut().expect("object").remove("status");
    broken.push(("consent-without-status", v));
    let mut v = good.clone();
    v["status"] = "withdrawn".into();
    broken.push(("consent-unknown-status", v));
    let mut v = good.clone();
    v["date"] = "2026-01-01T00:00:00Z".into();
    broken.push(("consent-date-with-time", v));
    let mut v = good_audit.clone();
    v.as_object_mut().expect("object").remove("code");
    broken.push(("audit-without-code", v));
    let mut v = good_audit.clone();
    v["action"] = "X".into();
    broken.push(("audit-unknown-action", v));
    let mut v = good_audit.clone();
    v["recorded"] = "2026-01-01T00:00:00".into();
    broken.push(("audit-instant-without-zone", v));

    // The unbroken originals pass, so each rejection below is due to its one change.
    let originals = [
        write(tmp.path(), "good-consent", &good),
        write(tmp.path(), "good-audit", &good_audit),
    ];
    let out = validate(&originals);
    assert!(out.status.success(), "{}", report(&out));
    for (name, v) in &broken {
        let file = write(tmp.path(), name, v);
        let out = validate(&[file]);
        assert!(
            !out.status.success(),
            "the validator accepted {name}:\n{}",
            report(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("error(s)"),
            "{name}: {}",
            report(&out)
        );
    }
}
