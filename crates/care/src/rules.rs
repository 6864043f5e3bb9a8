//! Compliance rules as data: a [`RuleBook`] holds versioned [`RuleSet`]s per jurisdiction, each with the
//! date it took effect, its source, its rules (each a parameterised [`Check`] with a rule ID from
//! `RULES.md`, a severity, a citation and an explanation in Chinese and English), the first-visit pilots
//! and the red-flag term lists. A consultation is judged by the set in force in its jurisdiction when it
//! started ([`RuleBook::in_force`]), so a later change of the rules never re-judges the past.
//!
//! The default book is `rules/cn.toml`, compiled in; a deployment may replace it (`care.rules_file`).

use serde::{Deserialize, Serialize};
use tianping_identity::role::OrgKind;
use tianping_identity::time::{days_from_civil, is_valid_date};

use crate::consultation::Consultation;
use crate::event::{Body, DrugClass, EventType, Incoming, Jurisdiction, Visit};
use crate::redflag::{Matcher, RedFlagList};

/// The rule book compiled into the binary.
pub const DEFAULT_BOOK: &str = include_str!("../rules/cn.toml");

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
    pub fn parse(s: &str) -> Option<Severity> {
        [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// What a rule checks, with its parameters. The set of checks is closed (each is code); which ones
/// apply, with which parameters, severities and texts, is data.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum Check {
    /// IDS-13: the start carries the doctor's real-name check, made at most `max_age_minutes` before.
    DoctorCheck { max_age_minutes: u64 },
    /// IDM-17 / IDS-18: online care is for follow-ups of an offline diagnosis, with its record; a first
    /// visit only where a pilot allows it.
    FollowUpOnly,
    /// NEG-LIST: a consultation that raised a red flag must end in termination or referral.
    RedFlagReferral,
    /// IDS-21: a prescription carries the doctor's electronic signature (none suggests a machine made it).
    SignedPrescription,
    /// IDM-18: every prescription gets a pharmacist's approval before the consultation ends.
    PharmacistReview,
    /// IDM-19: drug classes that may not be prescribed online.
    ForbiddenDrugClasses { classes: Vec<DrugClass> },
    /// IDM-19: a child under `under_age` needs a guardian present.
    ChildGuardian { under_age: u32 },
    /// HCP-000: an organisation that is not a medical institution may not diagnose or prescribe.
    AdviceOnlyPlatform,
    /// IHM-INS: the doctor is covered by an active liability policy (known once insurance is in place).
    LiabilityCover,
}

impl Check {
    /// The check's name, as the rule book spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Check::DoctorCheck { .. } => "doctor_check",
            Check::FollowUpOnly => "follow_up_only",
            Check::RedFlagReferral => "red_flag_referral",
            Check::SignedPrescription => "signed_prescription",
            Check::PharmacistReview => "pharmacist_review",
            Check::ForbiddenDrugClasses { .. } => "forbidden_drug_classes",
            Check::ChildGuardian { .. } => "child_guardian",
            Check::AdviceOnlyPlatform => "advice_only_platform",
            Check::LiabilityCover => "liability_cover",
        }
    }
}

/// One rule of a set. (serde cannot refuse unknown fields of a struct with a flattened part; a
/// misspelt parameter shows up as a missing one instead.)
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rule {
    /// The rule's ID in `RULES.md`, e.g. `IDM-19`.
    pub id: String,
    pub severity: Severity,
    pub citation: String,
    pub zh: String,
    pub en: String,
    #[serde(flatten)]
    pub check: Check,
}

/// A department of a jurisdiction where first visits online are allowed as a pilot.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pilot {
    pub jurisdiction: String,
    pub department: String,
}

/// The rules of one jurisdiction from one date on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    pub jurisdiction: String,
    pub version: String,
    /// `YYYY-MM-DD`, from midnight Beijing time.
    pub effective_from: String,
    /// Where the rules come from.
    pub source: String,
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub first_visit_pilots: Vec<Pilot>,
    #[serde(default)]
    pub red_flags: Vec<RedFlagList>,
    #[serde(skip)]
    effective_ms: u64,
    #[serde(skip)]
    matcher: Matcher,
}

/// A rule broken by an event or by a consultation as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub citation: String,
    pub zh: String,
    pub en: String,
    /// The rule set (jurisdiction and version) that judged it.
    pub rule_set: String,
}

/// What the rules may need to know beyond the consultation and the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// When the event was received (Unix ms UTC).
    pub now_ms: u64,
    /// Whether an active liability policy covers the attending doctor; `None` while unknown.
    pub liability_cover: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleBookError {
    #[error("rule book: {0}")]
    Syntax(String),
    #[error("rule set {set}: {problem}")]
    Invalid { set: String, problem: String },
}

/// Every rule set known, of every jurisdiction and version.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleBook {
    sets: Vec<RuleSet>,
}

/// Unix ms of midnight Beijing time (UTC+8) at the start of `YYYY-MM-DD`.
fn beijing_midnight_ms(date: &str) -> Option<u64> {
    let mut parts = date.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !is_valid_date(y, m, d) {
        return None;
    }
    let ms = days_from_civil(y, m, d) * 86_400_000 - 8 * 3_600_000;
    u64::try_from(ms).ok()
}

impl RuleBook {
    /// Parse and check a rule book in TOML.
    pub fn parse(toml_text: &str) -> Result<RuleBook, RuleBookError> {
        let mut book: RuleBook =
            toml::from_str(toml_text).map_err(|e| RuleBookError::Syntax(e.to_string()))?;
        for s in &mut book.sets {
            let name = format!("{}/{}", s.jurisdiction, s.version);
            let bad = |problem: String| RuleBookError::Invalid {
                set: name.clone(),
                problem,
            };
            Jurisdiction::parse(&s.jurisdiction).map_err(|e| bad(e.to_string()))?;
            s.effective_ms = beijing_midnight_ms(&s.effective_from)
                .ok_or_else(|| bad(format!("effective_from {:?} is not a date", s.effective_from)))?;
            // One rule ID may have several checks (IDM-19: drug classes and young children), each once.
            let mut ids: Vec<(&str, &str)> =
                s.rules.iter().map(|r| (r.id.as_str(), r.check.name())).collect();
            ids.sort_unstable();
            if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
                return Err(bad(format!("rule {} has check {} twice", w[0].0, w[0].1)));
            }
            if s.rules
                .iter()
                .any(|r| r.id.is_empty() || r.zh.is_empty() || r.en.is_empty())
            {
                return Err(bad("every rule needs an id and explanations in zh and en".into()));
            }
            s.matcher = Matcher::new(&s.red_flags).map_err(bad)?;
        }
        let mut keys: Vec<(String, u64)> = book
            .sets
            .iter()
            .map(|s| (s.jurisdiction.clone(), s.effective_ms))
            .collect();
        keys.sort_unstable();
        if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
            return Err(RuleBookError::Invalid {
                set: w[0].0.clone(),
                problem: "two sets take effect on the same day".into(),
            });
        }
        Ok(book)
    }

    /// The compiled-in default book.
    pub fn default_book() -> RuleBook {
        RuleBook::parse(DEFAULT_BOOK).expect("the default rule book is valid (tested)")
    }

    /// Add first-visit pilots from configuration to every set.
    pub fn with_pilots(mut self, pilots: &[Pilot]) -> RuleBook {
        for s in &mut self.sets {
            s.first_visit_pilots.extend(pilots.iter().cloned());
        }
        self
    }

    pub fn sets(&self) -> &[RuleSet] {
        &self.sets
    }

    /// The set that judges a consultation in `jurisdiction` started at `at_ms`: the latest set of that
    /// exact jurisdiction already in force, else the latest national (`CN`) one; `None` before any.
    pub fn in_force(&self, jurisdiction: &str, at_ms: u64) -> Option<&RuleSet> {
        let latest = |j: &str| {
            self.sets
                .iter()
                .filter(|s| s.jurisdiction == j && s.effective_ms <= at_ms)
                .max_by_key(|s| s.effective_ms)
        };
        latest(jurisdiction).or_else(|| latest("CN"))
    }
}

impl RuleSet {
    /// `jurisdiction/version`, as findings name it.
    pub fn name(&self) -> String {
        format!("{}/{}", self.jurisdiction, self.version)
    }

    pub fn effective_ms(&self) -> u64 {
        self.effective_ms
    }

    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    fn finding(&self, r: &Rule) -> Finding {
        Finding {
            rule: r.id.clone(),
            severity: r.severity,
            citation: r.citation.clone(),
            zh: r.zh.clone(),
            en: r.en.clone(),
            rule_set: self.name(),
        }
    }

    fn pilot_allows(&self, c: &Consultation) -> bool {
        self.first_visit_pilots
            .iter()
            .any(|p| p.jurisdiction == c.jurisdiction && p.department == c.department)
    }

    /// Findings of one accepted event, judged against the consultation as it is after the event
    /// (`c`, see [`Consultation::accept`]).
    pub fn on_event(&self, c: &Consultation, e: &Incoming, facts: &Facts) -> Vec<Finding> {
        let mut out = Vec::new();
        for r in &self.rules {
            let broken = match (&r.check, &e.body) {
                (Check::DoctorCheck { max_age_minutes }, Body::Start(s)) => match s.doctor_check {
                    None => true,
                    Some(chk) => {
                        let started = e.occurred_ms.unwrap_or(facts.now_ms);
                        chk.at_ms > started || started - chk.at_ms > max_age_minutes * 60_000
                    }
                },
                (Check::FollowUpOnly, Body::Start(s)) => match s.visit {
                    Visit::FirstVisit => !self.pilot_allows(c),
                    Visit::FollowUp => s.prior_records.is_empty(),
                },
                (Check::ChildGuardian { under_age }, Body::Start(s)) => {
                    c.patient_age < *under_age && !s.guardian_present
                }
                (Check::LiabilityCover, Body::Start(_)) => facts.liability_cover == Some(false),
                (Check::SignedPrescription, Body::Prescription(p)) => !p.signed,
                (Check::ForbiddenDrugClasses { classes }, Body::Prescription(p)) => {
                    p.items.iter().any(|i| classes.contains(&i.drug_class))
                }
                (Check::AdviceOnlyPlatform, Body::Prescription(_) | Body::Diagnosis { .. }) => {
                    c.org_kind == OrgKind::ConsultationPlatform
                }
                _ => false,
            };
            if broken {
                out.push(self.finding(r));
            }
        }
        out
    }

    /// Findings of a consultation as a whole, when it ends.
    pub fn at_end(&self, c: &Consultation) -> Vec<Finding> {
        let mut out = Vec::new();
        for r in &self.rules {
            let broken = match &r.check {
                Check::RedFlagReferral => c.red_flags > 0 && !c.terminated && !c.referred,
                Check::PharmacistReview => c.prescriptions.values().any(|p| !p.approved),
                _ => false,
            };
            if broken {
                out.push(self.finding(r));
            }
        }
        out
    }

    /// Whether a rule ID of this set is evaluated for events of `t` (for documentation and tests).
    pub fn checks_event_type(&self, rule_id: &str, t: EventType) -> bool {
        self.rules.iter().filter(|r| r.id == rule_id).any(|r| {
            matches!(
                (&r.check, t),
                (
                    Check::DoctorCheck { .. }
                        | Check::FollowUpOnly
                        | Check::ChildGuardian { .. }
                        | Check::LiabilityCover,
                    EventType::Start
                ) | (
                    Check::SignedPrescription | Check::ForbiddenDrugClasses { .. },
                    EventType::Prescription
                ) | (
                    Check::AdviceOnlyPlatform,
                    EventType::Prescription | EventType::Diagnosis
                ) | (Check::RedFlagReferral | Check::PharmacistReview, EventType::End)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_book_parses_and_covers_the_internet_diagnosis_rules() {
        let book = RuleBook::default_book();
        let now = beijing_midnight_ms("2026-11-23").unwrap();
        let set = book.in_force("CN-11", now).unwrap();
        for (id, t) in [
            ("IDS-13", EventType::Start),
            ("IDM-17", EventType::Start),
            ("IDM-18", EventType::End),
            ("IDS-21", EventType::Prescription),
            ("IDM-19", EventType::Prescription),
            ("IDM-19", EventType::Start),
            ("HCP-000", EventType::Prescription),
            ("HCP-000", EventType::Diagnosis),
            ("NEG-LIST", EventType::End),
            ("IHM-INS", EventType::Start),
        ] {
            assert!(set.checks_event_type(id, t), "{id} on {t:?}");
        }
        assert!(!set.red_flags.is_empty());
    }

    #[test]
    fn the_set_in_force_depends_on_the_date_and_jurisdiction() {
        let book = RuleBook::default_book();
        let before_2018 = beijing_midnight_ms("2017-01-01").unwrap();
        assert!(book.in_force("CN-11", before_2018).is_none());
        let in_2020 = book
            .in_force("CN-11", beijing_midnight_ms("2020-05-01").unwrap())
            .unwrap();
        let in_2023 = book
            .in_force("CN-11", beijing_midnight_ms("2023-05-01").unwrap())
            .unwrap();
        assert_ne!(in_2020.version, in_2023.version);
        // IDS-13 (2022) did not yet exist in 2020.
        assert!(!in_2020.checks_event_type("IDS-13", EventType::Start));
        assert!(in_2023.checks_event_type("IDS-13", EventType::Start));
    }

    #[test]
    fn a_provincial_set_overrides_the_national_one() {
        let text = format!(
            "{DEFAULT_BOOK}\n[[sets]]\njurisdiction = \"CN-33\"\nversion = \"zj-1\"\neffective_from = \"2024-01-01\"\n\
             source = \"test\"\nrules = []\n"
        );
        let book = RuleBook::parse(&text).unwrap();
        let at = beijing_midnight_ms("2025-01-01").unwrap();
        assert_eq!(book.in_force("CN-33", at).unwrap().version, "zj-1");
        assert_eq!(book.in_force("CN-11", at).unwrap().jurisdiction, "CN");
    }

    #[test]
    fn broken_books_are_refused() {
        assert!(RuleBook::parse("sets = 3").is_err());
        let dup = format!("{DEFAULT_BOOK}\n{DEFAULT_BOOK}");
        assert!(RuleBook::parse(&dup).is_err());
        let bad_date = DEFAULT_BOOK.replacen("2018-07-17", "2018-02-30", 1);
        assert!(matches!(
            RuleBook::parse(&bad_date),
            Err(RuleBookError::Invalid { .. })
        ));
    }

    #[test]
    fn beijing_midnight() {
        // 2022-02-08 00:00 +08:00 = 2022-02-07T16:00:00Z.
        assert_eq!(beijing_midnight_ms("2022-02-08"), Some(1_644_249_600_000));
        assert_eq!(beijing_midnight_ms("2022-2-8"), None);
    }
}
