//! Consent to process personal information: purposes, data categories, notices, consents and the rules for
//! granting one (PIPL-13 to PIPL-16, PIPL-23, PIPL-28/29, PIPL-31).
//!
//! A consent is **one purpose, one data category, one recipient**, granted under one version of a structured
//! [`Notice`] (PIPL-17). A changed purpose or data type needs a new notice version and so a new consent
//! (PIPL-14). Withdrawal is effective immediately for new access and does not undo earlier processing
//! (PIPL-15). Recipients other than the platform are named in the consent (PIPL-23).

use serde::{Deserialize, Serialize};

code_enum! {
    /// Why personal information is processed (PIPL-14, PIPL-17).
    pub enum Purpose [6] (unknown: UnknownPurpose) {
        /// Diagnosis and treatment, including online follow-up care.
        Treatment = "treatment" => "purpose-treatment",
        /// Handling a medical dispute: negotiation, mediation, appraisal, litigation (MDR-22).
        Dispute = "dispute" => "purpose-dispute",
        /// An insurance claim (INS).
        InsuranceClaim = "insurance_claim" => "purpose-insurance-claim",
        /// Supervision by a regulator under its legal duty (PIPL-13(3), IDM-24).
        Supervision = "supervision" => "purpose-supervision",
        /// Research.
        Research = "research" => "purpose-research",
        /// Quality improvement of care.
        QualityImprovement = "quality_improvement" => "purpose-quality-improvement",
    }
}

/// The HL7 v3 ActReason code system, whose PurposeOfUse codes FHIR uses for purposes.
pub const ACT_REASON_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";

impl Purpose {
    /// The HL7 PurposeOfUse coding (system, code, display) from the v3 ActReason code system:
    /// treatment → `TREAT` "treatment", dispute → `HLEGAL` "legal", insurance claim → `CLMATTCH` "claim
    /// attachment", supervision → `HCOMPL` "health compliance", research → `HRESCH` "healthcare research",
    /// quality improvement → `HQUALIMP` "health quality improvement".
    pub fn fhir_purpose_of_use(self) -> (&'static str, &'static str, &'static str) {
        let (code, display) = match self {
            Purpose::Treatment => ("TREAT", "treatment"),
            Purpose::Dispute => ("HLEGAL", "legal"),
            Purpose::InsuranceClaim => ("CLMATTCH", "claim attachment"),
            Purpose::Supervision => ("HCOMPL", "health compliance"),
            Purpose::Research => ("HRESCH", "healthcare research"),
            Purpose::QualityImprovement => ("HQUALIMP", "health quality improvement"),
        };
        (ACT_REASON_SYSTEM, code, display)
    }
}

code_enum! {
    /// A category of personal information, the unit of consent.
    pub enum DataCategory [7] (unknown: UnknownCategory) {
        /// Identity documents: name, citizen identity number, real-name verification results.
        Identity = "identity" => "data-category-identity",
        /// Contact details: mobile number, address for service.
        Contact = "contact" => "data-category-contact",
        /// Consultation records: complaints, histories, diagnoses, chat.
        ConsultationRecord = "consultation_record" => "data-category-consultation-record",
        /// Prescriptions and pharmacist reviews.
        Prescription = "prescription" => "data-category-prescription",
        /// Audio and video recordings of consultations.
        Recording = "recording" => "data-category-recording",
        /// Payments, fees and financial accounts.
        Payment = "payment" => "data-category-payment",
        /// The health profile: conditions, allergies, medications.
        HealthProfile = "health_profile" => "data-category-health-profile",
    }
}

impl DataCategory {
    /// Sensitive personal information (PIPL-28): medical and health data (consultation records,
    /// prescriptions, recordings, the health profile), identity documents and financial accounts. Processing
    /// it needs a separate consent (PIPL-29). Contact details are not sensitive.
    pub fn is_sensitive(self) -> bool {
        !matches!(self, DataCategory::Contact)
    }

    /// An English name, used as the display of FHIR codings.
    pub fn display_en(self) -> &'static str {
        match self {
            DataCategory::Identity => "identity",
            DataCategory::Contact => "contact details",
            DataCategory::ConsultationRecord => "consultation record",
            DataCategory::Prescription => "prescription",
            DataCategory::Recording => "recording",
            DataCategory::Payment => "payment",
            DataCategory::HealthProfile => "health profile",
        }
    }
}

/// A notice shown before consent (PIPL-17): one purpose and the data categories it covers, in Chinese and
/// English. Notices are versioned; a changed purpose, method or data type is a new version (PIPL-14).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Stable id of the notice across versions.
    pub id: String,
    /// Version, increasing.
    pub version: u32,
    /// The one purpose this notice asks consent for.
    pub purpose: Purpose,
    /// The data categories it covers.
    pub categories: Vec<DataCategory>,
    /// The text shown in Chinese.
    pub text_zh: String,
    /// The text shown in English.
    pub text_en: String,
}

/// Domain-separation tag at the start of [`Notice::text_digest_input`].
const NOTICE_DIGEST_TAG: &[u8] = b"tianping/notice/v1";

impl Notice {
    /// Whether the notice lists `category`.
    pub fn lists(&self, category: DataCategory) -> bool {
        self.categories.contains(&category)
    }

    /// An unambiguous byte encoding of everything the person was shown, for the caller to hash and commit
    /// to the evidence log (PIPL-17): a tag, then id, version, purpose code, the number of categories and
    /// each category code, the Chinese and the English text. Strings are length-prefixed (u64 big-endian byte
    /// length), numbers big-endian, so two different notices never encode to the same bytes.
    pub fn text_digest_input(&self) -> Vec<u8> {
        fn field(out: &mut Vec<u8>, bytes: &[u8]) {
            out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        let mut out = Vec::with_capacity(128 + self.id.len() + self.text_zh.len() + self.text_en.len());
        field(&mut out, NOTICE_DIGEST_TAG);
        field(&mut out, self.id.as_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
        field(&mut out, self.purpose.as_str().as_bytes());
        out.extend_from_slice(&(self.categories.len() as u64).to_be_bytes());
        for c in &self.categories {
            field(&mut out, c.as_str().as_bytes());
        }
        field(&mut out, self.text_zh.as_bytes());
        field(&mut out, self.text_en.as_bytes());
        out
    }
}

/// One consent: the subject (or their guardian) lets `recipient` process one category of the subject's data
/// for one purpose, from `granted_ms` until withdrawn (PIPL-14, PIPL-15, PIPL-23).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Id of this consent.
    pub id: String,
    /// Account id of the person the data is about.
    pub subject: String,
    /// Account id of who granted it: the subject, or their guardian.
    pub granted_by: String,
    /// Whether a guardian granted it for the subject (PIPL-31).
    pub by_guardian: bool,
    /// The notice it was granted under.
    pub notice_id: String,
    /// The version of that notice.
    pub notice_version: u32,
    /// The purpose.
    pub purpose: Purpose,
    /// The data category.
    pub category: DataCategory,
    /// Who may process the data: an organisation id or an account id.
    pub recipient: String,
    /// When it was granted (Unix ms, UTC).
    pub granted_ms: u64,
    /// When it was withdrawn, if it was (Unix ms, UTC).
    pub withdrawn_ms: Option<u64>,
}

impl Consent {
    /// Whether the consent is in force at `ms`: granted at or before `ms` and not withdrawn at or before
    /// `ms`. Withdrawal at `t` refuses access at `t` and later (PIPL-15).
    pub fn is_active_at(&self, ms: u64) -> bool {
        self.granted_ms <= ms && self.withdrawn_ms.is_none_or(|w| ms < w)
    }

    /// Whether the consent lets `recipient` process its category for `purpose` at `ms`. It does not check
    /// the subject: the caller matches that ([`crate::policy::decide`] does).
    pub fn covers(&self, purpose: Purpose, category: DataCategory, recipient: &str, ms: u64) -> bool {
        self.purpose == purpose
            && self.category == category
            && self.recipient == recipient
            && self.is_active_at(ms)
    }

    /// Withdraws the consent at `at_ms` (one click, effective immediately, PIPL-15). A time before the
    /// grant is taken as the grant time. A consent can be withdrawn once.
    pub fn withdraw(&mut self, at_ms: u64) -> Result<(), ConsentError> {
        if self.withdrawn_ms.is_some() {
            return Err(ConsentError::AlreadyWithdrawn);
        }
        self.withdrawn_ms = Some(at_ms.max(self.granted_ms));
        Ok(())
    }
}

/// Below this age only a guardian may consent for the subject (PIPL-31).
pub const GUARDIAN_CONSENT_AGE: u32 = 14;
/// From this age the subject is an adult, for whom a guardian does not consent.
pub const ADULT_AGE: u32 = 18;

/// A request to grant consent, checked by [`check_grant`].
#[derive(Clone, Copy, Debug)]
pub struct GrantRequest<'a> {
    /// The subject's age in full years now.
    pub subject_age: u32,
    /// Whether the grantor is the subject's guardian rather than the subject.
    pub by_guardian: bool,
    /// The notice the grantor was shown.
    pub notice: &'a Notice,
    /// The current version of that notice.
    pub current_notice_version: u32,
    /// The category being consented to.
    pub category: DataCategory,
    /// Whether the grantor acknowledged this category separately (PIPL-29), e.g. ticked its own box.
    pub separate_acknowledgement: bool,
}

/// Why a consent cannot be granted or changed.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsentError {
    /// The notice shown is not the current version (PIPL-14).
    #[error("the notice shown is not the current version")]
    StaleNotice,
    /// The notice does not list the category (PIPL-14, PIPL-17).
    #[error("the notice does not cover this category of data")]
    CategoryNotInNotice,
    /// The subject is under 14, so a guardian must consent (PIPL-31).
    #[error("the subject is under 14: a guardian must consent")]
    GuardianRequired,
    /// A guardian may not consent for an adult subject.
    #[error("a guardian cannot consent for an adult")]
    NotGuardianOfAdult,
    /// Sensitive data needs a separate acknowledgement (PIPL-29).
    #[error("sensitive personal information needs a separate consent")]
    SeparateConsentRequired,
    /// The consent has already been withdrawn.
    #[error("the consent has already been withdrawn")]
    AlreadyWithdrawn,
}

impl ConsentError {
    /// Every error, for tests and translation-file checks.
    pub const ALL: [ConsentError; 6] = [
        ConsentError::StaleNotice,
        ConsentError::CategoryNotInNotice,
        ConsentError::GuardianRequired,
        ConsentError::NotGuardianOfAdult,
        ConsentError::SeparateConsentRequired,
        ConsentError::AlreadyWithdrawn,
    ];

    /// The stable snake_case code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ConsentError::StaleNotice => "consent_stale_notice",
            ConsentError::CategoryNotInNotice => "consent_category_not_in_notice",
            ConsentError::GuardianRequired => "consent_guardian_required",
            ConsentError::NotGuardianOfAdult => "consent_not_guardian_of_adult",
            ConsentError::SeparateConsentRequired => "consent_separate_required",
            ConsentError::AlreadyWithdrawn => "consent_already_withdrawn",
        }
    }

    /// The Fluent message id of this error.
    pub fn message_key(&self) -> &'static str {
        match self {
            ConsentError::StaleNotice => "error-consent-stale-notice",
            ConsentError::CategoryNotInNotice => "error-consent-category-not-in-notice",
            ConsentError::GuardianRequired => "error-consent-guardian-required",
            ConsentError::NotGuardianOfAdult => "error-consent-not-guardian-of-adult",
            ConsentError::SeparateConsentRequired => "error-consent-separate-required",
            ConsentError::AlreadyWithdrawn => "error-consent-already-withdrawn",
        }
    }
}

/// Checks a grant, in this order: the notice is the current version (PIPL-14); it lists the category; a
/// subject under 14 is consented for by a guardian (PIPL-31), and a guardian does not consent for an adult
/// (18 or older; between 14 and 17 either may); a sensitive category is acknowledged separately (PIPL-29).
pub fn check_grant(r: &GrantRequest) -> Result<(), ConsentError> {
    if r.notice.version != r.current_notice_version {
        return Err(ConsentError::StaleNotice);
    }
    if !r.notice.lists(r.category) {
        return Err(ConsentError::CategoryNotInNotice);
    }
    if r.subject_age < GUARDIAN_CONSENT_AGE && !r.by_guardian {
        return Err(ConsentError::GuardianRequired);
    }
    if r.subject_age >= ADULT_AGE && r.by_guardian {
        return Err(ConsentError::NotGuardianOfAdult);
    }
    if r.category.is_sensitive() && !r.separate_acknowledgement {
        return Err(ConsentError::SeparateConsentRequired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice {
            id: "notice-dispute".into(),
            version: 3,
            purpose: Purpose::Dispute,
            categories: vec![DataCategory::ConsultationRecord, DataCategory::Contact],
            text_zh: "为处理医疗纠纷，调解委员会将查阅您的问诊记录和联系方式。".into(),
            text_en: "To handle the dispute, the mediation committee will read your records and contacts."
                .into(),
        }
    }

    fn consent() -> Consent {
        Consent {
            id: "c1".into(),
            subject: "patient-1".into(),
            granted_by: "patient-1".into(),
            by_guardian: false,
            notice_id: "notice-dispute".into(),
            notice_version: 3,
            purpose: Purpose::Dispute,
            category: DataCategory::ConsultationRecord,
            recipient: "org-mediation".into(),
            granted_ms: 1_000,
            withdrawn_ms: None,
        }
    }

    #[test]
    fn purposes_map_to_distinct_act_reason_codes() {
        let codes: Vec<_> = Purpose::ALL.iter().map(|p| p.fhir_purpose_of_use().1).collect();
        assert_eq!(
            codes,
            ["TREAT", "HLEGAL", "CLMATTCH", "HCOMPL", "HRESCH", "HQUALIMP"]
        );
        assert!(
            Purpose::ALL
                .iter()
                .all(|p| p.fhir_purpose_of_use().0 == ACT_REASON_SYSTEM)
        );
    }

    #[test]
    fn sensitivity() {
        let sensitive: Vec<_> = DataCategory::ALL
            .into_iter()
            .filter(|c| c.is_sensitive())
            .collect();
        assert_eq!(
            sensitive,
            [
                DataCategory::Identity,
                DataCategory::ConsultationRecord,
                DataCategory::Prescription,
                DataCategory::Recording,
                DataCategory::Payment,
                DataCategory::HealthProfile
            ]
        );
        assert!(!DataCategory::Contact.is_sensitive());
    }

    #[test]
    fn digest_input_is_unambiguous() {
        let n = notice();
        assert_eq!(n.text_digest_input(), notice().text_digest_input());
        assert!(
            n.text_digest_input()
                .starts_with(&(NOTICE_DIGEST_TAG.len() as u64).to_be_bytes())
        );
        let mut variants = vec![n.clone()];
        let mut v = n.clone();
        v.version = 4;
        variants.push(v);
        let mut v = n.clone();
        v.purpose = Purpose::Treatment;
        variants.push(v);
        let mut v = n.clone();
        v.categories.reverse();
        variants.push(v);
        let mut v = n.clone();
        v.categories.pop();
        variants.push(v);
        // Moving bytes between adjacent fields changes the encoding.
        let mut v = n.clone();
        v.text_en = format!("{}{}", v.text_zh, v.text_en);
        v.text_zh = String::new();
        variants.push(v);
        let mut v = n.clone();
        v.id = "notice-".into();
        v.text_zh = format!("dispute{}", v.text_zh);
        variants.push(v);
        let encodings: std::collections::HashSet<_> =
            variants.iter().map(|v| v.text_digest_input()).collect();
        assert_eq!(encodings.len(), variants.len());
    }

    #[test]
    fn activity_and_withdrawal() {
        let mut c = consent();
        assert!(!c.is_active_at(999));
        assert!(c.is_active_at(1_000));
        assert!(c.is_active_at(u64::MAX));
        c.withdraw(5_000).expect("first withdrawal");
        assert!(c.is_active_at(4_999));
        assert!(!c.is_active_at(5_000), "withdrawal is effective at once");
        assert_eq!(c.withdraw(6_000), Err(ConsentError::AlreadyWithdrawn));
        assert_eq!(c.withdrawn_ms, Some(5_000));

        let mut early = consent();
        early.withdraw(10).expect("first withdrawal");
        assert_eq!(early.withdrawn_ms, Some(1_000));
        assert!(!early.is_active_at(1_000));
    }

    #[test]
    fn covers_checks_every_field() {
        let c = consent();
        let (p, cat) = (Purpose::Dispute, DataCategory::ConsultationRecord);
        assert!(c.covers(p, cat, "org-mediation", 2_000));
        assert!(!c.covers(Purpose::Treatment, cat, "org-mediation", 2_000));
        assert!(!c.covers(p, DataCategory::Recording, "org-mediation", 2_000));
        assert!(!c.covers(p, cat, "org-insurer", 2_000));
        assert!(!c.covers(p, cat, "org-mediation", 500));
        let mut w = c.clone();
        w.withdrawn_ms = Some(2_000);
        assert!(!w.covers(p, cat, "org-mediation", 2_000));
        assert!(w.covers(p, cat, "org-mediation", 1_999));
    }

    #[test]
    fn serde_round_trip() {
        let c = consent();
        let json = serde_json::to_value(&c).expect("serialises");
        assert_eq!(json["purpose"], "dispute");
        assert_eq!(json["category"], "consultation_record");
        assert_eq!(serde_json::from_value::<Consent>(json).expect("deserialises"), c);
        let n = notice();
        let back: Notice = serde_json::from_str(&serde_json::to_string(&n).expect("ser")).expect("de");
        assert_eq!(back, n);
    }

    fn grant(n: &Notice) -> GrantRequest<'_> {
        GrantRequest {
            subject_age: 30,
            by_guardian: false,
            notice: n,
            current_notice_version: 3,
            category: DataCategory::ConsultationRecord,
            separate_acknowledgement: true,
        }
    }

    #[test]
    fn grant_rules() {
        let n = notice();
        assert_eq!(check_grant(&grant(&n)), Ok(()));
        assert_eq!(
            check_grant(&GrantRequest {
                current_notice_version: 4,
                ..grant(&n)
            }),
            Err(ConsentError::StaleNotice)
        );
        assert_eq!(
            check_grant(&GrantRequest {
                category: DataCategory::Recording,
                ..grant(&n)
            }),
            Err(ConsentError::CategoryNotInNotice)
        );
        assert_eq!(
            check_grant(&GrantRequest {
                separate_acknowledgement: false,
                ..grant(&n)
            }),
            Err(ConsentError::SeparateConsentRequired)
        );
        // Contact details are not sensitive: no separate acknowledgement needed.
        let contact = GrantRequest {
            category: DataCategory::Contact,
            separate_acknowledgement: false,
            ..grant(&n)
        };
        assert_eq!(check_grant(&contact), Ok(()));
    }

    #[test]
    fn guardian_rules_by_age() {
        let n = notice();
        let at = |age, by_guardian| {
            check_grant(&GrantRequest {
                subject_age: age,
                by_guardian,
                ..grant(&n)
            })
        };
        assert_eq!(at(0, false), Err(ConsentError::GuardianRequired));
        assert_eq!(at(13, false), Err(ConsentError::GuardianRequired));
        assert_eq!(at(13, true), Ok(()));
        assert_eq!(at(14, false), Ok(()));
        assert_eq!(at(14, true), Ok(()));
        assert_eq!(at(17, true), Ok(()));
        assert_eq!(at(18, true), Err(ConsentError::NotGuardianOfAdult));
        assert_eq!(at(18, false), Ok(()));
    }

    #[test]
    fn error_codes_and_keys() {
        let mut seen = std::collections::HashSet::new();
        for e in ConsentError::ALL {
            assert!(seen.insert(e.code()));
            assert_eq!(e.message_key(), format!("error-{}", e.code().replace('_', "-")));
        }
    }
}
