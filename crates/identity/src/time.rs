//! Calendar arithmetic on Unix milliseconds (UTC), proleptic Gregorian calendar.
//!
//! The crate reads no clock; these functions only convert the times callers pass in. Days are counted from
//! 1970-01-01; the conversion uses the usual era decomposition (400-year eras of 146 097 days, years starting
//! on 1 March so that the leap day is the last day of the year).

/// Milliseconds in a UTC day (no leap seconds, as in Unix time).
pub const MS_PER_DAY: u64 = 86_400_000;

/// Whether `year` is a Gregorian leap year.
pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The number of days in `month` (1–12) of `year`; 0 for a month outside 1–12.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Whether (`year`, `month`, `day`) is a real calendar date.
pub fn is_valid_date(year: i32, month: u32, day: u32) -> bool {
    day >= 1 && day <= days_in_month(year, month)
}

/// Days since 1970-01-01 of a valid date (negative before 1970).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    // Shift the year to start on 1 March.
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400; // 0..=399
    let shifted_month = i64::from((month + 9) % 12); // March = 0 … February = 11
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1; // 0..=365
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date (year, month 1–12, day 1–31) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097; // 0..=146_096
    // 0..=399: subtract the leap days before `day_of_era` so that every year counts 365 days.
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // 0..=365
    let shifted_month = (5 * day_of_year + 2) / 153; // 0..=11, March = 0
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Every `u64` millisecond count is within ±2^31 years, so the narrowing cannot truncate.
    (year as i32, month as u32, day as u32)
}

/// The UTC date of a Unix time in milliseconds.
pub fn utc_date(ms: u64) -> (i32, u32, u32) {
    civil_from_days((ms / MS_PER_DAY) as i64)
}

/// A FHIR `date` (`YYYY-MM-DD`) of the UTC day containing `ms`.
pub fn format_date(ms: u64) -> String {
    let (y, m, d) = utc_date(ms);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A FHIR `instant` / RFC 3339 timestamp in UTC with milliseconds: `YYYY-MM-DDThh:mm:ss.sssZ`.
///
/// Valid FHIR for years up to 9999, i.e. any `ms` below 253 402 300 800 000.
pub fn format_instant(ms: u64) -> String {
    let in_day = ms % MS_PER_DAY;
    let (h, min, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1_000 % 60,
        in_day % 1_000,
    );
    format!("{}T{h:02}:{min:02}:{s:02}.{milli:03}Z", format_date(ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        // 2000 is a leap year (divisible by 400), 1900 is not (divisible by 100).
        assert_eq!(civil_from_days(days_from_civil(2000, 2, 28) + 1), (2000, 2, 29));
        assert_eq!(civil_from_days(days_from_civil(1900, 2, 28) + 1), (1900, 3, 1));
        assert_eq!(days_from_civil(2001, 1, 1) - days_from_civil(2000, 1, 1), 366);
        assert_eq!(days_from_civil(1901, 1, 1) - days_from_civil(1900, 1, 1), 365);
        // 1 000 000 000 s after the epoch is 2001-09-09T01:46:40Z (a well-known Unix time).
        assert_eq!(format_instant(1_000_000_000_000), "2001-09-09T01:46:40.000Z");
        assert_eq!(format_instant(1_234_567_890_123), "2009-02-13T23:31:30.123Z");
        assert_eq!(format_instant(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_date(MS_PER_DAY - 1), "1970-01-01");
        assert_eq!(format_date(MS_PER_DAY), "1970-01-02");
    }

    #[test]
    fn walking_day_by_day_agrees_with_month_lengths() {
        // From 1800-01-01 to 2200-12-31, each day count is the previous plus one, and the dates advance
        // exactly as the month lengths say.
        let (mut y, mut m, mut d) = (1800, 1, 1);
        let mut n = days_from_civil(y, m, d);
        while y <= 2200 {
            assert_eq!(civil_from_days(n), (y, m, d));
            assert_eq!(days_from_civil(y, m, d), n);
            n += 1;
            d += 1;
            if d > days_in_month(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn validity() {
        assert!(is_valid_date(2024, 2, 29));
        assert!(!is_valid_date(2023, 2, 29));
        assert!(!is_valid_date(2023, 4, 31));
        assert!(!is_valid_date(2023, 13, 1));
        assert!(!is_valid_date(2023, 0, 1));
        assert!(!is_valid_date(2023, 1, 0));
    }

    proptest! {
        #[test]
        fn round_trip(days in -1_000_000i64..3_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!(is_valid_date(y, m, d));
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
