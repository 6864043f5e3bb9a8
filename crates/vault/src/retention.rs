//! Retention, legal holds and lawful deletion as plain decisions over plain data.
//!
//! A record is kept at least until its retention deadline: `years` calendar years (UTC) after the
//! start date its class names (IDS-19, REC-OUT / REC-IN, ECL-31). Nothing under an active legal
//! hold is ever purged. A deletion request or a consent withdrawal while retention still runs
//! moves a record to *storage-only* (PIPL-47): kept and secured, not read except under a legal hold.
//! After the deadline, and with no hold, a record is crypto-shredded.

use serde::{Deserialize, Serialize};

const MS_PER_DAY: i64 = 86_400_000;

/// Which date a class's retention period counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartBasis {
    /// The time of the recorded event itself (a payment, a document).
    Event,
    /// The end of the consultation the record belongs to (chat, recordings, online-care
    /// records: kept N years after the care episode, not after each message). Until the
    /// consultation is closed the deadline is unknown and the record is not purgeable; a record
    /// that names no consultation counts from its event time.
    ConsultationEnd,
}

/// A retention class as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionClass {
    /// Minimum retention in calendar years; 0 keeps the record until it is deleted explicitly.
    pub years: u32,
    pub start: StartBasis,
    /// The rule IDs (RULES.md) the period comes from; cited in tombstones.
    pub basis: Vec<String>,
}

/// Lifecycle state of a stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordState {
    Active,
    /// Deletion requested while retention runs (PIPL-47): stored, not processed.
    StorageOnly,
    /// Keys destroyed; only the log's commitment and the tombstone remain.
    Shredded,
}

impl RecordState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::Active => "active",
            RecordState::StorageOnly => "storage_only",
            RecordState::Shredded => "shredded",
        }
    }
    pub fn parse(s: &str) -> Option<RecordState> {
        match s {
            "active" => Some(RecordState::Active),
            "storage_only" => Some(RecordState::StorageOnly),
            "shredded" => Some(RecordState::Shredded),
            _ => None,
        }
    }
}

/// What a legal hold covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "scope", content = "target", rename_all = "snake_case")]
pub enum HoldScope {
    /// Every record of a subject, named by pseudonym (hex).
    Subject(String),
    /// Every record of a consultation.
    Consultation(String),
    /// Every record attached to a dispute case.
    Case(String),
}

impl HoldScope {
    pub fn kind(&self) -> &'static str {
        match self {
            HoldScope::Subject(_) => "subject",
            HoldScope::Consultation(_) => "consultation",
            HoldScope::Case(_) => "case",
        }
    }
    pub fn target(&self) -> &str {
        match self {
            HoldScope::Subject(t) | HoldScope::Consultation(t) | HoldScope::Case(t) => t,
        }
    }
    pub fn from_parts(kind: &str, target: String) -> Option<HoldScope> {
        match kind {
            "subject" => Some(HoldScope::Subject(target)),
            "consultation" => Some(HoldScope::Consultation(target)),
            "case" => Some(HoldScope::Case(target)),
            _ => None,
        }
    }
}

/// What the decisions need to know about a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFacts {
    pub state: RecordState,
    /// `None` while the start date is not yet known, or for classes kept until deleted.
    pub retain_until_ms: Option<i64>,
    /// Subject pseudonym, hex.
    pub subject: String,
    pub consultation: Option<String>,
    pub case: Option<String>,
}

impl RecordFacts {
    /// Does an active hold with this scope cover the record?
    pub fn is_covered_by(&self, scope: &HoldScope) -> bool {
        match scope {
            HoldScope::Subject(s) => *s == self.subject,
            HoldScope::Consultation(c) => self.consultation.as_deref() == Some(c.as_str()),
            HoldScope::Case(c) => self.case.as_deref() == Some(c.as_str()),
        }
    }

    fn held(&self, active_holds: &[HoldScope]) -> bool {
        active_holds.iter().any(|h| self.is_covered_by(h))
    }

    fn expired(&self, now_ms: i64) -> bool {
        self.retain_until_ms.is_some_and(|t| t <= now_ms)
    }
}

/// Outcome of the purge job for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeDecision {
    Shred,
    Keep(KeepReason),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepReason {
    AlreadyShredded,
    /// Retention runs until this time (or its start is not known yet: `None`).
    RetentionRuns(Option<i64>),
    /// An active legal hold covers it.
    Held,
}

/// May the purge job shred this record now? Holds win over everything.
pub fn purge_decision(r: &RecordFacts, active_holds: &[HoldScope], now_ms: i64) -> PurgeDecision {
    if r.state == RecordState::Shredded {
        PurgeDecision::Keep(KeepReason::AlreadyShredded)
    } else if r.held(active_holds) {
        PurgeDecision::Keep(KeepReason::Held)
    } else if !r.expired(now_ms) {
        PurgeDecision::Keep(KeepReason::RetentionRuns(r.retain_until_ms))
    } else {
        PurgeDecision::Shred
    }
}

/// What a deletion request (or consent withdrawal) does to one record (PIPL-47).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErasureOutcome {
    /// Retention is over and no hold applies: shred now.
    Shred,
    /// Retention still runs, or a hold applies: stop processing, keep stored.
    StorageOnly,
    /// Nothing to do (already storage-only or shredded).
    Unchanged,
}

pub fn erasure_outcome(r: &RecordFacts, active_holds: &[HoldScope], now_ms: i64) -> ErasureOutcome {
    match r.state {
        RecordState::Shredded => ErasureOutcome::Unchanged,
        _ if !r.held(active_holds) && r.expired(now_ms) => ErasureOutcome::Shred,
        RecordState::StorageOnly => ErasureOutcome::Unchanged,
        RecordState::Active => ErasureOutcome::StorageOnly,
    }
}

/// Why a read is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadRefusal {
    /// Storage-only and no legal hold covers it (PIPL-47).
    StorageOnly,
    Shredded,
}

/// May the record's content be read at all (before any role or consent check)?
pub fn readable(r: &RecordFacts, active_holds: &[HoldScope]) -> Result<(), ReadRefusal> {
    match r.state {
        RecordState::Active => Ok(()),
        RecordState::StorageOnly if r.held(active_holds) => Ok(()),
        RecordState::StorageOnly => Err(ReadRefusal::StorageOnly),
        RecordState::Shredded => Err(ReadRefusal::Shredded),
    }
}

/// The retention deadline of a record of `class`, given its event time and, for classes counted
/// from the consultation's end, whether it names a consultation and when that ended.
pub fn retain_until(
    class: &RetentionClass,
    event_ms: i64,
    consultation: Option<&str>,
    consultation_end_ms: Option<i64>,
) -> Option<i64> {
    if class.years == 0 {
        return None;
    }
    let start = match (class.start, consultation) {
        (StartBasis::Event, _) | (StartBasis::ConsultationEnd, None) => event_ms,
        (StartBasis::ConsultationEnd, Some(_)) => consultation_end_ms?,
    };
    Some(add_years_ms(start, class.years))
}

/// `ms` plus `years` calendar years in UTC. 29 February maps to 1 March of a common year, so a
/// deadline is never earlier than the full period.
pub fn add_years_ms(ms: i64, years: u32) -> i64 {
    let days = ms.div_euclid(MS_PER_DAY);
    let time_of_day = ms.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let y = y + i64::from(years);
    let (m, d) = if m == 2 && d == 29 && !is_leap(y) {
        (3, 1)
    } else {
        (m, d)
    };
    days_from_civil(y, m, d) * MS_PER_DAY + time_of_day
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in month `m` (1-based) of year `y`.
fn month_len(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date. Counts whole 400-year eras (146,097 days
/// each) from 0000-03-01, then years and months within the era with March as the first month, so
/// the leap day falls at the end of the counted year.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    // Days before month m (March-based) within a year: 306 days in 10 months, by the 153/5 rule.
    let day_of_year = (153 * i64::from(m) + 2) / 5 + i64::from(d) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Inverse of [`days_from_civil`], found by walking from a year estimate (simple and exact).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let mut y = 1970 + days.div_euclid(366);
    while days_from_civil(y + 1, 1, 1) <= days {
        y += 1;
    }
    while days_from_civil(y, 1, 1) > days {
        y -= 1;
    }
    let mut rest = days - days_from_civil(y, 1, 1);
    let mut m = 1;
    while rest >= i64::from(month_len(y, m)) {
        rest -= i64::from(month_len(y, m));
        m += 1;
    }
    (y, m, rest as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(y: i64, m: u32, d: u32) -> i64 {
        days_from_civil(y, m, d) * MS_PER_DAY
    }

    #[test]
    fn civil_dates_match_known_unix_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        // 2026-11-22 is Unix day 20,779.
        assert_eq!(days_from_civil(2026, 11, 22), 20_779);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        for days in [-800_000, -1, 0, 59, 11_016, 11_017, 20_779, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn years_are_calendar_years_and_leap_days_never_shorten_the_period() {
        let t = ms(2026, 11, 22) + 3_600_000;
        assert_eq!(add_years_ms(t, 3), ms(2029, 11, 22) + 3_600_000);
        assert_eq!(add_years_ms(ms(2024, 2, 29), 1), ms(2025, 3, 1));
        assert_eq!(add_years_ms(ms(2024, 2, 29), 4), ms(2028, 2, 29));
        assert_eq!(add_years_ms(ms(2023, 12, 31), 30), ms(2053, 12, 31));
    }

    fn chat() -> RetentionClass {
        RetentionClass {
            years: 3,
            start: StartBasis::ConsultationEnd,
            basis: vec!["IDS-19".into()],
        }
    }

    #[test]
    fn deadline_counts_from_the_right_start() {
        let event = ms(2026, 1, 10);
        let end = ms(2026, 2, 1);
        // IDS-19: chat of a consultation is kept 3 years after the consultation ends…
        assert_eq!(
            retain_until(&chat(), event, Some("c1"), Some(end)),
            Some(ms(2029, 2, 1))
        );
        // …and has no deadline while the consultation is open.
        assert_eq!(retain_until(&chat(), event, Some("c1"), None), None);
        // Without a consultation it counts from the event.
        assert_eq!(retain_until(&chat(), event, None, None), Some(ms(2029, 1, 10)));
        // ECL-31: transactions from the event; REC-IN: 30 years.
        let tx = RetentionClass {
            years: 3,
            start: StartBasis::Event,
            basis: vec!["ECL-31".into()],
        };
        assert_eq!(retain_until(&tx, event, Some("c1"), None), Some(ms(2029, 1, 10)));
        let keep = RetentionClass { years: 0, ..tx };
        assert_eq!(retain_until(&keep, event, None, None), None);
    }

    fn facts(state: RecordState, until: Option<i64>) -> RecordFacts {
        RecordFacts {
            state,
            retain_until_ms: until,
            subject: "ab".into(),
            consultation: Some("c1".into()),
            case: None,
        }
    }

    #[test]
    fn holds_block_purge_and_expiry_allows_it() {
        let now = ms(2030, 1, 1);
        let expired = facts(RecordState::Active, Some(ms(2029, 1, 1)));
        assert_eq!(purge_decision(&expired, &[], now), PurgeDecision::Shred);
        for hold in [
            HoldScope::Subject("ab".into()),
            HoldScope::Consultation("c1".into()),
        ] {
            assert_eq!(
                purge_decision(&expired, std::slice::from_ref(&hold), now),
                PurgeDecision::Keep(KeepReason::Held)
            );
        }
        // A hold on something else does not apply.
        let other = [HoldScope::Subject("cd".into()), HoldScope::Case("k".into())];
        assert_eq!(purge_decision(&expired, &other, now), PurgeDecision::Shred);
        let running = facts(RecordState::Active, Some(ms(2031, 1, 1)));
        assert_eq!(
            purge_decision(&running, &[], now),
            PurgeDecision::Keep(KeepReason::RetentionRuns(Some(ms(2031, 1, 1))))
        );
        let open = facts(RecordState::StorageOnly, None);
        assert_eq!(
            purge_decision(&open, &[], now),
            PurgeDecision::Keep(KeepReason::RetentionRuns(None))
        );
        let gone = facts(RecordState::Shredded, Some(0));
        assert_eq!(
            purge_decision(&gone, &[], now),
            PurgeDecision::Keep(KeepReason::AlreadyShredded)
        );
    }

    #[test]
    fn erasure_during_retention_means_storage_only_and_reads_stop() {
        let now = ms(2027, 1, 1);
        let running = facts(RecordState::Active, Some(ms(2029, 1, 1)));
        assert_eq!(erasure_outcome(&running, &[], now), ErasureOutcome::StorageOnly);
        let expired = facts(RecordState::Active, Some(ms(2026, 1, 1)));
        assert_eq!(erasure_outcome(&expired, &[], now), ErasureOutcome::Shred);
        let held = [HoldScope::Consultation("c1".into())];
        assert_eq!(erasure_outcome(&expired, &held, now), ErasureOutcome::StorageOnly);

        let stored = facts(RecordState::StorageOnly, Some(ms(2029, 1, 1)));
        assert_eq!(erasure_outcome(&stored, &[], now), ErasureOutcome::Unchanged);
        assert_eq!(readable(&stored, &[]), Err(ReadRefusal::StorageOnly));
        assert_eq!(readable(&stored, &held), Ok(()));
        assert_eq!(readable(&running, &[]), Ok(()));
        assert_eq!(
            readable(&facts(RecordState::Shredded, None), &held),
            Err(ReadRefusal::Shredded)
        );
    }

    #[test]
    fn names_round_trip() {
        for s in [
            RecordState::Active,
            RecordState::StorageOnly,
            RecordState::Shredded,
        ] {
            assert_eq!(RecordState::parse(s.as_str()), Some(s));
        }
        let scope = HoldScope::Consultation("c9".into());
        assert_eq!(
            HoldScope::from_parts(scope.kind(), scope.target().into()),
            Some(scope)
        );
        assert_eq!(HoldScope::from_parts("planet", "x".into()), None);
    }
}
