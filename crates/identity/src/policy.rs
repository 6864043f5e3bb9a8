//! The access decision: whether an actor may read, export or list one category of a person's data for a
//! purpose, and on which legal basis (PIPL-13). Pure: the caller loads the actor, the subject's consents and
//! the time, calls [`decide`], records the [`Decision`] (on permit and on refusal, see
//! [`crate::fhir::audit_event`]) and only then serves or refuses.

use serde::Serialize;

use crate::consent::{Consent, DataCategory, Purpose};
use crate::role::Role;

code_enum! {
    /// What the actor wants to do with the data.
    pub enum Action [3] (unknown: UnknownAction) {
        /// Read it on screen.
        Read = "read" => "action-read",
        /// Export it (download, evidence package).
        Export = "export" => "action-export",
        /// List it (search results, overviews).
        List = "list" => "action-list",
    }
}

code_enum! {
    /// The legal basis on which access is permitted (PIPL-13).
    pub enum LegalBasis [5] (unknown: UnknownLegalBasis) {
        /// The person's own data: their right to know, consult and copy (PIPL-45, MDR-16).
        DataSubject = "data_subject" => "legal-basis-data-subject",
        /// A guardian acting for a minor (PIPL-31).
        Guardian = "guardian" => "legal-basis-guardian",
        /// The subject's consent (PIPL-13(1)).
        Consent = "consent" => "legal-basis-consent",
        /// A legal duty, e.g. a regulator's supervision (PIPL-13(3), IDM-24).
        LegalDuty = "legal_duty" => "legal-basis-legal-duty",
        /// The partner that entrusted the data to the platform reads back what it submitted (PIPL-21).
        Entrusted = "entrusted" => "legal-basis-entrusted",
    }
}

impl LegalBasis {
    /// The rule id of `../shared/design/RULES.md` this basis rests on.
    pub fn rule_id(self) -> &'static str {
        match self {
            LegalBasis::DataSubject => "PIPL-45",
            LegalBasis::Guardian => "PIPL-31",
            LegalBasis::Consent => "PIPL-13(1)",
            LegalBasis::LegalDuty => "PIPL-13(3)",
            LegalBasis::Entrusted => "PIPL-21",
        }
    }
}

code_enum! {
    /// Why access was permitted or refused.
    pub enum Reason [11] (unknown: UnknownReason) {
        /// Permitted: an operator supervising the people on the platform — checking a doctor's
        /// application and evidence (IDS-13, IDM-25) or keeping a sanction in force (seeds 000, 004).
        OversightDuty = "oversight_duty" => "access-oversight-duty",
        /// Permitted: an integration reads back a record it submitted itself.
        EntrustedSource = "entrusted_source" => "access-entrusted-source",
        /// Permitted: the actor is the subject.
        OwnData = "own_data" => "access-own-data",
        /// Permitted: the actor is the subject's guardian.
        GuardianOfSubject = "guardian_of_subject" => "access-guardian-of-subject",
        /// Permitted: an active consent of the subject covers the access.
        ConsentCovers = "consent_covers" => "access-consent-covers",
        /// Permitted: a regulator supervising under its legal duty.
        SupervisionDuty = "supervision_duty" => "access-supervision-duty",
        /// Refused: the actor's account is suspended.
        ActorSuspended = "actor_suspended" => "access-actor-suspended",
        /// Refused: the doctor has not been verified (IDS-13, IDM-25).
        DoctorNotVerified = "doctor_not_verified" => "access-doctor-not-verified",
        /// Refused: no active consent covers the access.
        NoConsent = "no_consent" => "access-no-consent",
        /// Refused: operators never see sensitive data.
        OperatorNoHealthData = "operator_no_health_data" => "access-operator-no-health-data",
        /// Refused: the role may not act for this purpose.
        PurposeNotAllowedForRole = "purpose_not_allowed_for_role" => "access-purpose-not-allowed-for-role",
    }
}

/// Who asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The actor's account id.
    pub account: String,
    /// The actor's role.
    pub role: Role,
    /// Ids of the organisations the actor acts for.
    pub orgs: Vec<String>,
    /// Account ids of the people the actor is guardian of (PIPL-31).
    pub guardian_of: Vec<String>,
    /// Whether the actor is a verified doctor (real name, licence, IDM-25); meaningful for doctors only.
    pub verified_doctor: bool,
    /// Whether the account is suspended.
    pub suspended: bool,
    /// For integrations: the source name their submissions carry.
    pub source: Option<String>,
}

/// What is asked for: one category of one person's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// Account id of the person the data is about.
    pub subject: String,
    /// The category of data.
    pub category: DataCategory,
    /// Who submitted it (an integration's source name), when known.
    pub source: Option<String>,
    /// The subject is under the platform's oversight: a doctor whose verification awaits an
    /// operator's decision, or an account under a sanction in force.
    pub under_oversight: bool,
}

/// One access request.
#[derive(Clone, Copy, Debug)]
pub struct AccessRequest<'a> {
    /// Who asks.
    pub actor: &'a Actor,
    /// What they want to do.
    pub action: Action,
    /// Which data.
    pub resource: &'a Resource,
    /// For what purpose.
    pub purpose: Purpose,
    /// When (Unix ms, UTC).
    pub at_ms: u64,
}

/// The outcome of [`decide`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether access is permitted.
    pub permit: bool,
    /// Why.
    pub reason: Reason,
    /// The legal basis, when permitted.
    pub basis: Option<LegalBasis>,
    /// The consent relied on, when the basis is consent.
    pub consent_id: Option<String>,
}

impl Decision {
    fn permit(reason: Reason, basis: LegalBasis) -> Self {
        Decision {
            permit: true,
            reason,
            basis: Some(basis),
            consent_id: None,
        }
    }

    fn deny(reason: Reason) -> Self {
        Decision {
            permit: false,
            reason,
            basis: None,
            consent_id: None,
        }
    }
}

/// Decides an access request against the subject's consents (consents of other subjects are ignored). The
/// rules, first match wins:
///
/// 1. a suspended actor is refused (`actor_suspended`);
/// 2. the subject's own data is permitted (`own_data`, PIPL-45);
/// 3. a guardian of the subject is permitted (`guardian_of_subject`, PIPL-31); an integration reading a
///    record it submitted itself is permitted (`entrusted_source`, PIPL-21: the partner entrusted it);
/// 4. a regulator is permitted for supervision (`supervision_duty`, PIPL-13(3)) and refused for any other
///    purpose (`purpose_not_allowed_for_role`);
/// 5. an operator is permitted the identity data of a person under oversight (a doctor awaiting
///    verification, an account under a sanction) for supervision (`oversight_duty`, IDS-13, IDM-25),
///    and refused every other sensitive category
///    (`operator_no_health_data`, PIPL-28);
/// 6. an unverified doctor is refused (`doctor_not_verified`, IDS-13, IDM-25);
/// 7. everyone else is permitted only if an active consent of the subject covers the purpose, the category
///    and a recipient that is the actor's account or one of its organisations at `at_ms` (`consent_covers`,
///    PIPL-13(1), PIPL-23); otherwise refused (`no_consent`). A consent withdrawn at `t` no longer covers
///    access at `t` or later (PIPL-15).
pub fn decide(req: &AccessRequest, consents: &[Consent]) -> Decision {
    let actor = req.actor;
    let subject = req.resource.subject.as_str();
    let category = req.resource.category;

    if actor.suspended {
        return Decision::deny(Reason::ActorSuspended);
    }
    if actor.account == subject {
        return Decision::permit(Reason::OwnData, LegalBasis::DataSubject);
    }
    if actor.guardian_of.iter().any(|g| g == subject) {
        return Decision::permit(Reason::GuardianOfSubject, LegalBasis::Guardian);
    }
    if actor.role == Role::Integration && actor.source.is_some() && actor.source == req.resource.source {
        return Decision::permit(Reason::EntrustedSource, LegalBasis::Entrusted);
    }
    match actor.role {
        Role::Regulator if req.purpose == Purpose::Supervision => {
            return Decision::permit(Reason::SupervisionDuty, LegalBasis::LegalDuty);
        }
        Role::Regulator => return Decision::deny(Reason::PurposeNotAllowedForRole),
        Role::Operator
            if req.purpose == Purpose::Supervision
                && category == DataCategory::Identity
                && req.resource.under_oversight =>
        {
            return Decision::permit(Reason::OversightDuty, LegalBasis::LegalDuty);
        }
        Role::Operator if category.is_sensitive() => return Decision::deny(Reason::OperatorNoHealthData),
        Role::Doctor if !actor.verified_doctor => return Decision::deny(Reason::DoctorNotVerified),
        _ => {}
    }
    let recipients = std::iter::once(&actor.account).chain(&actor.orgs);
    consents
        .iter()
        .find(|c| {
            c.subject == subject
                && recipients
                    .clone()
                    .any(|r| c.covers(req.purpose, category, r, req.at_ms))
        })
        .map_or_else(
            || Decision::deny(Reason::NoConsent),
            |c| Decision {
                consent_id: Some(c.id.clone()),
                ..Decision::permit(Reason::ConsentCovers, LegalBasis::Consent)
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    fn actor(role: Role) -> Actor {
        Actor {
            account: "acc-actor".into(),
            role,
            orgs: vec!["org-hospital".into()],
            guardian_of: vec![],
            verified_doctor: true,
            suspended: false,
            source: None,
        }
    }

    fn consent(id: &str, recipient: &str) -> Consent {
        Consent {
            id: id.into(),
            subject: "acc-patient".into(),
            granted_by: "acc-patient".into(),
            by_guardian: false,
            notice_id: "n".into(),
            notice_version: 1,
            purpose: Purpose::Treatment,
            category: DataCategory::ConsultationRecord,
            recipient: recipient.into(),
            granted_ms: T0,
            withdrawn_ms: None,
        }
    }

    fn resource(category: DataCategory) -> Resource {
        Resource {
            subject: "acc-patient".into(),
            category,
            source: Some("partner-a".into()),
            under_oversight: false,
        }
    }

    fn run(a: &Actor, r: &Resource, purpose: Purpose, at_ms: u64, consents: &[Consent]) -> Decision {
        decide(
            &AccessRequest {
                actor: a,
                action: Action::Read,
                resource: r,
                purpose,
                at_ms,
            },
            consents,
        )
    }

    fn treat(a: &Actor, consents: &[Consent]) -> Decision {
        run(
            a,
            &resource(DataCategory::ConsultationRecord),
            Purpose::Treatment,
            T0 + 1,
            consents,
        )
    }

    #[test]
    fn suspended_actor_is_refused_even_for_own_data() {
        let mut a = actor(Role::Patient);
        a.account = "acc-patient".into();
        a.suspended = true;
        assert_eq!(treat(&a, &[]), Decision::deny(Reason::ActorSuspended));
    }

    #[test]
    fn own_data() {
        let mut a = actor(Role::Patient);
        a.account = "acc-patient".into();
        let d = treat(&a, &[]);
        assert!(d.permit);
        assert_eq!(
            (d.reason, d.basis),
            (Reason::OwnData, Some(LegalBasis::DataSubject))
        );
        assert_eq!(d.basis.map(LegalBasis::rule_id), Some("PIPL-45"));
        // Even an unverified doctor or an operator sees their own sensitive data.
        for role in [Role::Doctor, Role::Operator] {
            let mut a = actor(role);
            a.account = "acc-patient".into();
            a.verified_doctor = false;
            assert_eq!(treat(&a, &[]).reason, Reason::OwnData);
        }
    }

    #[test]
    fn guardian() {
        let mut a = actor(Role::Guardian);
        a.guardian_of = vec!["acc-other-child".into(), "acc-patient".into()];
        let d = treat(&a, &[]);
        assert_eq!(
            d,
            Decision::permit(Reason::GuardianOfSubject, LegalBasis::Guardian)
        );
        assert_eq!(d.basis.map(LegalBasis::rule_id), Some("PIPL-31"));
        // Guardian of someone else only: falls through to consent, and there is none.
        a.guardian_of = vec!["acc-other-child".into()];
        assert_eq!(treat(&a, &[]), Decision::deny(Reason::NoConsent));
    }

    #[test]
    fn an_integration_reads_back_only_what_it_submitted() {
        let mut a = actor(Role::Integration);
        a.source = Some("partner-a".into());
        let d = treat(&a, &[]);
        assert_eq!(
            d,
            Decision::permit(Reason::EntrustedSource, LegalBasis::Entrusted)
        );
        assert_eq!(d.basis.map(LegalBasis::rule_id), Some("PIPL-21"));
        // Another partner's record, or no source at all: consent is needed, and there is none.
        a.source = Some("partner-b".into());
        assert_eq!(treat(&a, &[]), Decision::deny(Reason::NoConsent));
        a.source = None;
        assert_eq!(treat(&a, &[]), Decision::deny(Reason::NoConsent));
        // A person's account never counts as a source, whatever it is named.
        let mut d = actor(Role::Doctor);
        d.source = Some("partner-a".into());
        assert_eq!(treat(&d, &[]), Decision::deny(Reason::NoConsent));
    }

    #[test]
    fn an_operator_sees_a_pending_doctors_documents_and_nothing_else() {
        let a = actor(Role::Operator);
        let mut r = resource(DataCategory::Identity);
        r.under_oversight = true;
        let d = run(&a, &r, Purpose::Supervision, T0, &[]);
        assert_eq!(d, Decision::permit(Reason::OversightDuty, LegalBasis::LegalDuty));
        // Another purpose, another category, or a decided application: refused.
        assert_eq!(
            run(&a, &r, Purpose::Treatment, T0, &[]),
            Decision::deny(Reason::OperatorNoHealthData)
        );
        let mut other = resource(DataCategory::ConsultationRecord);
        other.under_oversight = true;
        assert_eq!(
            run(&a, &other, Purpose::Supervision, T0, &[]),
            Decision::deny(Reason::OperatorNoHealthData)
        );
        r.under_oversight = false;
        assert_eq!(
            run(&a, &r, Purpose::Supervision, T0, &[]),
            Decision::deny(Reason::OperatorNoHealthData)
        );
        // Nobody else gains from it.
        let mut r = resource(DataCategory::Identity);
        r.under_oversight = true;
        assert_eq!(
            run(&actor(Role::InstitutionStaff), &r, Purpose::Supervision, T0, &[]),
            Decision::deny(Reason::NoConsent)
        );
    }

    #[test]
    fn regulator() {
        let a = actor(Role::Regulator);
        let r = resource(DataCategory::Recording);
        let d = run(&a, &r, Purpose::Supervision, T0, &[]);
        assert_eq!(
            d,
            Decision::permit(Reason::SupervisionDuty, LegalBasis::LegalDuty)
        );
        assert_eq!(d.basis.map(LegalBasis::rule_id), Some("PIPL-13(3)"));
        for p in Purpose::ALL.into_iter().filter(|p| *p != Purpose::Supervision) {
            // Not even a consent lets a regulator act outside supervision.
            let mut c = consent("c", "acc-actor");
            c.purpose = p;
            c.category = DataCategory::Recording;
            assert_eq!(
                run(&a, &r, p, T0 + 1, &[c]),
                Decision::deny(Reason::PurposeNotAllowedForRole),
                "{p}"
            );
        }
    }

    #[test]
    fn operator() {
        let a = actor(Role::Operator);
        for cat in DataCategory::ALL.into_iter().filter(|c| c.is_sensitive()) {
            let mut c = consent("c", "acc-actor");
            c.category = cat;
            let d = run(&a, &resource(cat), Purpose::Treatment, T0 + 1, &[c]);
            assert_eq!(d, Decision::deny(Reason::OperatorNoHealthData), "{cat}");
        }
        // Contact details: like everyone else, only with consent.
        let contact = resource(DataCategory::Contact);
        assert_eq!(
            run(&a, &contact, Purpose::Treatment, T0 + 1, &[]),
            Decision::deny(Reason::NoConsent)
        );
        let mut c = consent("c-contact", "acc-actor");
        c.category = DataCategory::Contact;
        let d = run(&a, &contact, Purpose::Treatment, T0 + 1, &[c]);
        assert_eq!(
            (d.permit, d.reason, d.consent_id.as_deref()),
            (true, Reason::ConsentCovers, Some("c-contact"))
        );
    }

    #[test]
    fn unverified_doctor() {
        let mut a = actor(Role::Doctor);
        a.verified_doctor = false;
        assert_eq!(
            treat(&a, &[consent("c", "org-hospital")]),
            Decision::deny(Reason::DoctorNotVerified)
        );
        a.verified_doctor = true;
        assert!(treat(&a, &[consent("c", "org-hospital")]).permit);
    }

    #[test]
    fn consent_of_the_actors_organisation_or_account() {
        let a = actor(Role::Doctor);
        let d = treat(&a, &[consent("c-org", "org-hospital")]);
        assert_eq!(
            d,
            Decision {
                permit: true,
                reason: Reason::ConsentCovers,
                basis: Some(LegalBasis::Consent),
                consent_id: Some("c-org".into())
            }
        );
        assert_eq!(d.basis.map(LegalBasis::rule_id), Some("PIPL-13(1)"));
        assert_eq!(
            treat(&a, &[consent("c-acc", "acc-actor")]).consent_id.as_deref(),
            Some("c-acc")
        );
        // The first covering consent is named.
        let d = treat(
            &a,
            &[
                consent("x", "org-other"),
                consent("c1", "org-hospital"),
                consent("c2", "acc-actor"),
            ],
        );
        assert_eq!(d.consent_id.as_deref(), Some("c1"));
    }

    #[test]
    fn consent_based_roles() {
        for role in [
            Role::Patient,
            Role::Guardian,
            Role::Relative,
            Role::Doctor,
            Role::InstitutionStaff,
            Role::Integration,
            Role::Mediator,
            Role::LegalAidLawyer,
            Role::MedicalExpert,
            Role::InsurerAdjuster,
        ] {
            let a = actor(role);
            assert_eq!(treat(&a, &[]), Decision::deny(Reason::NoConsent), "{role}");
            assert_eq!(
                treat(&a, &[consent("c", "org-hospital")]).reason,
                Reason::ConsentCovers,
                "{role}"
            );
        }
    }

    #[test]
    fn consents_that_do_not_cover() {
        let a = actor(Role::Mediator);
        // Another organisation's consent.
        assert_eq!(
            treat(&a, &[consent("c", "org-insurer")]),
            Decision::deny(Reason::NoConsent)
        );
        // Another subject's consent, even to this organisation.
        let mut other = consent("c", "org-hospital");
        other.subject = "acc-someone-else".into();
        assert_eq!(treat(&a, &[other]), Decision::deny(Reason::NoConsent));
        // Another purpose.
        let mut p = consent("c", "org-hospital");
        p.purpose = Purpose::Research;
        assert_eq!(treat(&a, &[p]), Decision::deny(Reason::NoConsent));
        // Another category.
        let mut cat = consent("c", "org-hospital");
        cat.category = DataCategory::Recording;
        assert_eq!(treat(&a, &[cat]), Decision::deny(Reason::NoConsent));
        // Granted later than the access.
        let r = resource(DataCategory::ConsultationRecord);
        assert_eq!(
            run(
                &a,
                &r,
                Purpose::Treatment,
                T0 - 1,
                &[consent("c", "org-hospital")]
            )
            .reason,
            Reason::NoConsent
        );
    }

    #[test]
    fn withdrawal_is_effective_immediately() {
        let a = actor(Role::InsurerAdjuster);
        let mut c = consent("c", "org-hospital");
        c.withdrawn_ms = Some(T0 + 500);
        let r = resource(DataCategory::ConsultationRecord);
        assert!(run(&a, &r, Purpose::Treatment, T0 + 499, std::slice::from_ref(&c)).permit);
        assert_eq!(
            run(&a, &r, Purpose::Treatment, T0 + 500, std::slice::from_ref(&c)).reason,
            Reason::NoConsent
        );
        assert_eq!(
            run(&a, &r, Purpose::Treatment, T0 + 10_000, &[c]).reason,
            Reason::NoConsent
        );
    }

    #[test]
    fn action_does_not_widen_access() {
        let a = actor(Role::MedicalExpert);
        let r = resource(DataCategory::ConsultationRecord);
        for action in Action::ALL {
            let req = AccessRequest {
                actor: &a,
                action,
                resource: &r,
                purpose: Purpose::Treatment,
                at_ms: T0,
            };
            assert_eq!(decide(&req, &[]).reason, Reason::NoConsent);
            assert_eq!(
                decide(&req, &[consent("c", "org-hospital")]).reason,
                Reason::ConsentCovers
            );
        }
    }

    #[test]
    fn decision_serialises_with_codes() {
        let json =
            serde_json::to_value(Decision::permit(Reason::OwnData, LegalBasis::DataSubject)).expect("ser");
        let expected = serde_json::json!({
            "permit": true, "reason": "own_data", "basis": "data_subject", "consent_id": null
        });
        assert_eq!(json, expected);
    }
}
