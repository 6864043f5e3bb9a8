//! Identity values, parsed once at the edge so that the rest of the code can only hold valid ones ("parse,
//! don't validate"): [`ResidentId`], [`Phone`], [`LicenceNumber`], [`LoginName`], [`DisplayName`] and
//! [`Password`]. None of them shows personal data in its `Debug` output, and none implements `Display`, so
//! that personal data reaches a log line or a message only on purpose (through `as_str`, `masked`).
//!
//! Every error of this crate has a stable `code()` (snake_case, for APIs and problem documents) and a
//! `message_key()` (a Fluent message id for the zh-CN and en-US translation files). Messages never contain
//! the rejected value. These are all the Fluent message ids the crate uses:
//!
//! Parse errors ([`ParseError`]):
//! `error-invalid-resident-id`, `error-invalid-phone`, `error-invalid-licence`, `error-invalid-login-name`,
//! `error-invalid-display-name`, `error-weak-password`, `error-unknown-role`, `error-unknown-org-kind`,
//! `error-unknown-purpose`, `error-unknown-category`, `error-unknown-action`, `error-unknown-legal-basis`,
//! `error-unknown-reason`, `error-invalid-totp-secret`.
//!
//! Consent errors ([`crate::ConsentError`]):
//! `error-consent-stale-notice`, `error-consent-category-not-in-notice`, `error-consent-guardian-required`,
//! `error-consent-not-guardian-of-adult`, `error-consent-separate-required`,
//! `error-consent-already-withdrawn`.
//!
//! Access decisions ([`crate::Reason`]):
//! `access-own-data`, `access-entrusted-source`, `access-oversight-duty`, `access-guardian-of-subject`, `access-consent-covers`, `access-supervision-duty`,
//! `access-actor-suspended`, `access-doctor-not-verified`, `access-no-consent`,
//! `access-operator-no-health-data`, `access-purpose-not-allowed-for-role`.
//!
//! Legal bases ([`crate::LegalBasis`]):
//! `legal-basis-data-subject`, `legal-basis-guardian`, `legal-basis-consent`, `legal-basis-legal-duty`, `legal-basis-entrusted`.
//!
//! Names of values ([`crate::Role`], [`crate::OrgKind`], [`crate::Purpose`], [`crate::DataCategory`],
//! [`crate::Action`]):
//! `role-patient`, `role-guardian`, `role-relative`, `role-doctor`, `role-institution-staff`,
//! `role-integration`, `role-mediator`, `role-legal-aid-lawyer`, `role-medical-expert`,
//! `role-insurer-adjuster`, `role-regulator`, `role-operator`;
//! `org-kind-medical-institution`, `org-kind-internet-hospital`, `org-kind-consultation-platform`,
//! `org-kind-insurer`, `org-kind-mediation-committee`, `org-kind-legal-aid-body`, `org-kind-regulator`;
//! `purpose-treatment`, `purpose-dispute`, `purpose-insurance-claim`, `purpose-supervision`,
//! `purpose-research`, `purpose-quality-improvement`;
//! `data-category-identity`, `data-category-contact`, `data-category-consultation-record`,
//! `data-category-prescription`, `data-category-recording`, `data-category-payment`,
//! `data-category-health-profile`;
//! `action-read`, `action-export`, `action-list`.

use std::fmt;

use zeroize::Zeroizing;

use crate::time;

/// Why a value could not be parsed. The message never includes the rejected value.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParseError {
    /// Not an 18-character GB 11643-1999 citizen identity number with a valid birth date and check character.
    #[error("not a valid resident identity number")]
    InvalidResidentId,
    /// Not a mainland China mobile number.
    #[error("not a valid mainland mobile number")]
    InvalidPhone,
    /// Not a 15-digit doctor's practising certificate number.
    #[error("not a valid practising certificate number")]
    InvalidLicence,
    /// Not 3 to 32 characters of a–z, 0–9, `_`, `.`, `-` starting with a letter or digit.
    #[error("login name must be 3 to 32 letters, digits, '_', '.' or '-', starting with a letter or digit")]
    InvalidLoginName,
    /// Empty, longer than 40 characters, or containing control characters.
    #[error("display name must be 1 to 40 characters without control characters")]
    InvalidDisplayName,
    /// Shorter than 10 or longer than 128 characters, one repeated character, or the login name.
    #[error("password must be 10 to 128 characters, not one repeated character and not the login name")]
    WeakPassword,
    /// Not one of the role codes.
    #[error("unknown role")]
    UnknownRole,
    /// Not one of the organisation kind codes.
    #[error("unknown organisation kind")]
    UnknownOrgKind,
    /// Not one of the purpose codes.
    #[error("unknown purpose")]
    UnknownPurpose,
    /// Not one of the data category codes.
    #[error("unknown data category")]
    UnknownCategory,
    /// Not one of the action codes.
    #[error("unknown action")]
    UnknownAction,
    /// Not one of the legal basis codes.
    #[error("unknown legal basis")]
    UnknownLegalBasis,
    /// Not one of the access reason codes.
    #[error("unknown access reason")]
    UnknownReason,
    /// A TOTP secret that is not 20 bytes (or not base32).
    #[error("not a valid TOTP secret")]
    InvalidTotpSecret,
}

impl ParseError {
    /// The stable snake_case code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::InvalidResidentId => "invalid_resident_id",
            ParseError::InvalidPhone => "invalid_phone",
            ParseError::InvalidLicence => "invalid_licence",
            ParseError::InvalidLoginName => "invalid_login_name",
            ParseError::InvalidDisplayName => "invalid_display_name",
            ParseError::WeakPassword => "weak_password",
            ParseError::UnknownRole => "unknown_role",
            ParseError::UnknownOrgKind => "unknown_org_kind",
            ParseError::UnknownPurpose => "unknown_purpose",
            ParseError::UnknownCategory => "unknown_category",
            ParseError::UnknownAction => "unknown_action",
            ParseError::UnknownLegalBasis => "unknown_legal_basis",
            ParseError::UnknownReason => "unknown_reason",
            ParseError::InvalidTotpSecret => "invalid_totp_secret",
        }
    }

    /// The Fluent message id of this error.
    pub fn message_key(&self) -> &'static str {
        match self {
            ParseError::InvalidResidentId => "error-invalid-resident-id",
            ParseError::InvalidPhone => "error-invalid-phone",
            ParseError::InvalidLicence => "error-invalid-licence",
            ParseError::InvalidLoginName => "error-invalid-login-name",
            ParseError::InvalidDisplayName => "error-invalid-display-name",
            ParseError::WeakPassword => "error-weak-password",
            ParseError::UnknownRole => "error-unknown-role",
            ParseError::UnknownOrgKind => "error-unknown-org-kind",
            ParseError::UnknownPurpose => "error-unknown-purpose",
            ParseError::UnknownCategory => "error-unknown-category",
            ParseError::UnknownAction => "error-unknown-action",
            ParseError::UnknownLegalBasis => "error-unknown-legal-basis",
            ParseError::UnknownReason => "error-unknown-reason",
            ParseError::InvalidTotpSecret => "error-invalid-totp-secret",
        }
    }

    /// Every error, for tests and translation-file checks.
    pub const ALL: [ParseError; 14] = [
        ParseError::InvalidResidentId,
        ParseError::InvalidPhone,
        ParseError::InvalidLicence,
        ParseError::InvalidLoginName,
        ParseError::InvalidDisplayName,
        ParseError::WeakPassword,
        ParseError::UnknownRole,
        ParseError::UnknownOrgKind,
        ParseError::UnknownPurpose,
        ParseError::UnknownCategory,
        ParseError::UnknownAction,
        ParseError::UnknownLegalBasis,
        ParseError::UnknownReason,
        ParseError::InvalidTotpSecret,
    ];
}

/// Implements serde for a parsed string type through its `parse` and `as_str`.
macro_rules! serde_via_str {
    ($name:ident) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Writes `Name(<redacted>)`.
macro_rules! redacted_debug {
    ($name:ident) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

/// ISO 7064 MOD 11-2 weights of the 17 digits of a GB 11643-1999 number.
const RESIDENT_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each value of the weighted sum modulo 11.
const RESIDENT_CHECK: [u8; 11] = *b"10X98765432";

/// A citizen identity number (公民身份号码, GB 11643-1999): six digits of the address code, the birth date
/// `YYYYMMDD` (year ≥ 1900, a real calendar date), a three-digit sequence code whose last digit is odd for
/// men and even for women, and an ISO 7064 MOD 11-2 check character (`0`–`9` or `X`).
///
/// Parsing trims surrounding whitespace and accepts a lower-case `x`; the stored form uses `X`. Personal
/// data: `Debug` is redacted; use [`ResidentId::masked`] for display.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResidentId(String);

redacted_debug!(ResidentId);
serde_via_str!(ResidentId);

impl ResidentId {
    /// Parses and checks a citizen identity number.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let b = s.trim().as_bytes();
        if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) || b[0] == b'0' {
            return Err(ParseError::InvalidResidentId);
        }
        let check = match b[17] {
            b'x' => b'X',
            c => c,
        };
        if Self::check_byte(&b[..17]) != check {
            return Err(ParseError::InvalidResidentId);
        }
        let (year, month, day) = (digits(&b[6..10]), digits(&b[10..12]), digits(&b[12..14]));
        let year = i32::try_from(year).map_err(|_| ParseError::InvalidResidentId)?;
        if year < 1900 || !time::is_valid_date(year, month, day) {
            return Err(ParseError::InvalidResidentId);
        }
        let mut id = String::with_capacity(18);
        id.push_str(&s.trim()[..17]);
        id.push(char::from(check));
        Ok(ResidentId(id))
    }

    /// The check character (`0`–`9` or `X`) for the first 17 digits of a number, or `None` if `first17` is
    /// not exactly 17 ASCII digits. Useful to build valid test numbers.
    pub fn check_character(first17: &str) -> Option<char> {
        let b = first17.as_bytes();
        (b.len() == 17 && b.iter().all(u8::is_ascii_digit)).then(|| char::from(Self::check_byte(b)))
    }

    fn check_byte(first17: &[u8]) -> u8 {
        let sum: u32 = first17
            .iter()
            .zip(RESIDENT_WEIGHTS)
            .map(|(d, w)| u32::from(d - b'0') * w)
            .sum();
        RESIDENT_CHECK[(sum % 11) as usize]
    }

    /// The number, 18 characters, check character upper case.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with the birth date and sequence hidden (`110105********123X` style: the first six and the
    /// last four characters), for showing to the person it belongs to.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }

    /// The birth date (year, month, day) encoded in the number.
    pub fn birth_date(&self) -> (i32, u32, u32) {
        let b = self.0.as_bytes();
        // Parsing checked that these are digits forming a date with a year of four digits.
        (digits(&b[6..10]) as i32, digits(&b[10..12]), digits(&b[12..14]))
    }

    /// Age in full years on the given date; 0 before the birth date. Someone born on 29 February becomes a
    /// year older on 1 March in common years.
    pub fn age_on(&self, year: i32, month: u32, day: u32) -> u32 {
        let (by, bm, bd) = self.birth_date();
        let years = year
            .saturating_sub(by)
            .saturating_sub(i32::from((month, day) < (bm, bd)));
        u32::try_from(years).unwrap_or(0)
    }

    /// Age in full years on the UTC date of `ms` (Unix milliseconds). The date is UTC: near midnight it can
    /// differ by one day from the date in Beijing (UTC+8); add 8 hours to `ms` to use Beijing's date.
    pub fn age_at_ms(&self, ms: u64) -> u32 {
        let (y, m, d) = time::utc_date(ms);
        self.age_on(y, m, d)
    }

    /// Whether the sequence code (17th digit) is even, which GB 11643 assigns to women.
    pub fn is_female(&self) -> bool {
        (self.0.as_bytes()[16] - b'0').is_multiple_of(2)
    }
}

/// The value of a run of ASCII digits (at most 9, so it fits).
fn digits(b: &[u8]) -> u32 {
    b.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
}

/// A mainland China mobile number: 11 digits starting with `1` and then `3`–`9`.
///
/// Parsing ignores spaces and hyphens and an optional `+86`, `0086` or `86` country prefix; the stored form
/// is the 11 digits. Personal data: `Debug` is redacted; use [`Phone::masked`] for display.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

redacted_debug!(Phone);
serde_via_str!(Phone);

impl Phone {
    /// Parses a mobile number.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let compact: String = s.chars().filter(|c| !matches!(c, ' ' | '-' | '\t')).collect();
        let digits = if let Some(rest) = compact.strip_prefix("+86") {
            rest
        } else if let Some(rest) = compact.strip_prefix("0086") {
            rest
        } else if compact.len() == 13 {
            compact.strip_prefix("86").ok_or(ParseError::InvalidPhone)?
        } else {
            &compact
        };
        let b = digits.as_bytes();
        let valid = b.len() == 11
            && b.iter().all(u8::is_ascii_digit)
            && b[0] == b'1'
            && (b'3'..=b'9').contains(&b[1]);
        if valid {
            Ok(Phone(digits.to_owned()))
        } else {
            Err(ParseError::InvalidPhone)
        }
    }

    /// The 11 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with the middle four digits hidden: `138****5678`.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

/// A doctor's practising certificate number (医师执业证书编码): exactly 15 digits (IDM-25).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LicenceNumber(String);

redacted_debug!(LicenceNumber);
serde_via_str!(LicenceNumber);

impl LicenceNumber {
    /// Parses a certificate number, trimming surrounding whitespace.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        if s.len() == 15 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(LicenceNumber(s.to_owned()))
        } else {
            Err(ParseError::InvalidLicence)
        }
    }

    /// The 15 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A login name: 3 to 32 characters of `a`–`z`, `0`–`9`, `_`, `.` and `-`, starting with a letter or a
/// digit. Parsing trims surrounding whitespace and lower-cases ASCII letters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LoginName(String);

redacted_debug!(LoginName);
serde_via_str!(LoginName);

impl LoginName {
    /// Parses a login name.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim().to_ascii_lowercase();
        let b = s.as_bytes();
        let valid = (3..=32).contains(&b.len())
            && b[0].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_.-".contains(c));
        if valid {
            Ok(LoginName(s))
        } else {
            Err(ParseError::InvalidLoginName)
        }
    }

    /// The lower-cased name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A name shown to others: 1 to 40 Unicode scalar values after trimming, with no control characters and no
/// bidirectional-override characters (which could make a name display as something else).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

redacted_debug!(DisplayName);
serde_via_str!(DisplayName);

impl DisplayName {
    /// Parses a display name.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        let n = s.chars().count();
        let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        if (1..=40).contains(&n) && !s.chars().any(|c| c.is_control() || bidi(c)) {
            Ok(DisplayName(s.to_owned()))
        } else {
            Err(ParseError::InvalidDisplayName)
        }
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed, before hashing: 10 to 128 characters, not one character repeated, and not the login
/// name (compared ignoring ASCII case). Held in a buffer that is wiped on drop; `Debug` is redacted.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

redacted_debug!(Password);

impl Password {
    /// Parses a password; `login` is the account's login name when there is one.
    pub fn parse(s: &str, login: Option<&LoginName>) -> Result<Self, ParseError> {
        let n = s.chars().count();
        let mut chars = s.chars();
        let first = chars.next();
        let all_same = chars.all(|c| Some(c) == first);
        let is_login = login.is_some_and(|l| s.eq_ignore_ascii_case(l.as_str()));
        if !(10..=128).contains(&n) || all_same || is_login {
            return Err(ParseError::WeakPassword);
        }
        Ok(Password(Zeroizing::new(s.to_owned())))
    }

    /// The password, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A valid number from a 17-digit prefix, with the check character computed here from the standard's
    /// weights (independently of `ResidentId::check_character`).
    fn with_check(first17: &str) -> String {
        let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        let sum: u32 = first17
            .chars()
            .zip(weights)
            .map(|(c, w)| c.to_digit(10).expect("digit") * w)
            .sum();
        let check = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'][(sum % 11) as usize];
        format!("{first17}{check}")
    }

    #[test]
    fn resident_id_accepts_valid_numbers() {
        // Address 110105, born 1990-03-07, sequence 123 (odd: male).
        let s = with_check("11010519900307123");
        let id = ResidentId::parse(&s).expect("valid");
        assert_eq!(id.as_str(), s);
        assert_eq!(id.birth_date(), (1990, 3, 7));
        assert!(!id.is_female());
        assert_eq!(id.masked(), format!("110105********{}", &s[14..]));
        assert_eq!(ResidentId::check_character("11010519900307123"), s.chars().last());

        // Surrounding whitespace is trimmed.
        assert_eq!(ResidentId::parse(&format!("  {s}\n")), Ok(id.clone()));

        // A leap day is a real date in 2000 and 2024.
        assert!(ResidentId::parse(&with_check("44030420000229002")).is_ok());
        assert!(
            ResidentId::parse(&with_check("44030420240229002"))
                .expect("valid")
                .is_female()
        );
    }

    #[test]
    fn resident_id_normalises_lower_case_x() {
        // Find a sequence code whose check character is X, then give it in lower case.
        let s = (0..1000)
            .map(|n| with_check(&format!("32010219851111{n:03}")))
            .find(|s| s.ends_with('X'))
            .expect("one in eleven numbers ends in X");
        let lower = s.to_ascii_lowercase();
        let id = ResidentId::parse(&lower).expect("lower-case x accepted");
        assert_eq!(id.as_str(), s);
        assert!(id.as_str().ends_with('X'));
    }

    #[test]
    fn resident_id_rejects_bad_numbers() {
        let bad = |s: &str| assert_eq!(ResidentId::parse(s), Err(ParseError::InvalidResidentId), "{s}");
        let good = with_check("11010519900307123");
        bad(&good[..17]);
        bad(&format!("{good}0"));
        bad("");
        bad(&good.replace('1', "１")); // full-width digit
        bad(&with_check("01010519900307123")); // leading zero
        bad(&with_check("11010518991231123")); // before 1900
        bad(&with_check("11010519900230123")); // 30 February
        bad(&with_check("11010519000229123")); // 1900 is not a leap year
        bad(&with_check("11010519901301123")); // month 13
        bad(&with_check("11010519900100123")); // day 0
        let mut wrong_check = good[..17].to_owned();
        wrong_check.push(if good.ends_with('0') { '1' } else { '0' });
        bad(&wrong_check);
        bad(&format!("{}Y", &good[..17]));
    }

    #[test]
    fn every_single_character_change_is_rejected() {
        let good = with_check("11010519900307123");
        assert!(ResidentId::parse(&good).is_ok());
        for pos in 0..18 {
            for c in "0123456789X".chars() {
                let mut chars: Vec<char> = good.chars().collect();
                if chars[pos] == c {
                    continue;
                }
                chars[pos] = c;
                let changed: String = chars.into_iter().collect();
                assert!(ResidentId::parse(&changed).is_err(), "{changed} accepted");
            }
        }
    }

    #[test]
    fn ages() {
        let id = ResidentId::parse(&with_check("11010520100615123")).expect("valid");
        assert_eq!(id.age_on(2024, 6, 14), 13);
        assert_eq!(id.age_on(2024, 6, 15), 14);
        assert_eq!(id.age_on(2028, 6, 15), 18);
        assert_eq!(id.age_on(2000, 1, 1), 0); // before birth
        assert_eq!(id.age_on(i32::MIN, 1, 1), 0);
        assert_eq!(
            id.age_on(i32::MAX, 12, 31),
            u32::try_from(i32::MAX - 2010).expect("fits")
        );
        // 2024-06-14T23:59:59.999Z and 2024-06-15T00:00:00.000Z.
        let midnight = crate::time::days_from_civil(2024, 6, 15) as u64 * crate::time::MS_PER_DAY;
        assert_eq!(id.age_at_ms(midnight - 1), 13);
        assert_eq!(id.age_at_ms(midnight), 14);

        let leap = ResidentId::parse(&with_check("11010520000229123")).expect("valid");
        assert_eq!(leap.age_on(2018, 2, 28), 17);
        assert_eq!(leap.age_on(2018, 3, 1), 18);
        assert_eq!(leap.age_on(2020, 2, 29), 20);
    }

    #[test]
    fn phones() {
        for s in [
            "13800138000",
            "+8613800138000",
            "0086 138 0013 8000",
            "86-138-0013-8000",
            " 138 0013 8000 ",
        ] {
            assert_eq!(
                Phone::parse(s).map(|p| p.as_str().to_owned()),
                Ok("13800138000".to_owned()),
                "{s}"
            );
        }
        assert_eq!(
            Phone::parse("19912345678").expect("valid").masked(),
            "199****5678"
        );
        for s in [
            "",
            "1380013800",
            "138001380000",
            "12800138000",
            "23800138000",
            "+1 13800138000",
            "1380013800a",
        ] {
            assert_eq!(Phone::parse(s), Err(ParseError::InvalidPhone), "{s}");
        }
        // A 13-digit number is accepted only with the 86 prefix.
        assert_eq!(Phone::parse("8713800138000"), Err(ParseError::InvalidPhone));
    }

    #[test]
    fn licences() {
        assert_eq!(
            LicenceNumber::parse(" 110110000123456 ").map(|l| l.as_str().len()),
            Ok(15)
        );
        for s in ["11011000012345", "1101100001234567", "11011000012345X", ""] {
            assert_eq!(LicenceNumber::parse(s), Err(ParseError::InvalidLicence), "{s}");
        }
    }

    #[test]
    fn login_names() {
        assert_eq!(
            LoginName::parse(" Zhang.San_01 ").map(|l| l.as_str().to_owned()),
            Ok("zhang.san_01".into())
        );
        assert!(LoginName::parse("abc").is_ok());
        assert!(LoginName::parse(&"a".repeat(32)).is_ok());
        for s in [
            "ab",
            &"a".repeat(33),
            "_abc",
            ".abc",
            "-abc",
            "zhang san",
            "张三abc",
            "abc!",
        ] {
            assert_eq!(LoginName::parse(s), Err(ParseError::InvalidLoginName), "{s}");
        }
    }

    #[test]
    fn display_names() {
        assert_eq!(
            DisplayName::parse("  张三  ").map(|d| d.as_str().to_owned()),
            Ok("张三".into())
        );
        assert!(DisplayName::parse(&"名".repeat(40)).is_ok());
        for s in [
            "",
            "   ",
            &"名".repeat(41),
            "a\u{0007}b",
            "a\nb",
            "abc\u{202E}def",
        ] {
            assert_eq!(
                DisplayName::parse(s),
                Err(ParseError::InvalidDisplayName),
                "{s:?}"
            );
        }
    }

    #[test]
    fn passwords() {
        let login = LoginName::parse("zhangsan01").expect("valid");
        let p = Password::parse("correct horse battery", Some(&login)).expect("valid");
        assert_eq!(p.expose(), "correct horse battery");
        assert_eq!(format!("{p:?}"), "Password(<redacted>)");
        assert!(Password::parse(&"密".repeat(10), None).is_err()); // one repeated character
        assert!(Password::parse("密码密码密码密码密码", None).is_ok()); // ten characters, not bytes
        assert!(Password::parse(&"ab".repeat(64), None).is_ok());
        for s in ["short", "aaaaaaaaaaaa", &"ab".repeat(65), "ZhangSan01"] {
            assert_eq!(
                Password::parse(s, Some(&login)).err(),
                Some(ParseError::WeakPassword),
                "{s}"
            );
        }
        assert!(Password::parse("ZhangSan01", None).is_ok());
    }

    #[test]
    fn debug_output_is_redacted() {
        let id = ResidentId::parse(&with_check("11010519900307123")).expect("valid");
        let phone = Phone::parse("13800138000").expect("valid");
        let licence = LicenceNumber::parse("110110000123456").expect("valid");
        let login = LoginName::parse("zhangsan").expect("valid");
        let name = DisplayName::parse("张三").expect("valid");
        let all = format!("{id:?} {phone:?} {licence:?} {login:?} {name:?}");
        for secret in ["19900307", "13800138000", "110110000123456", "zhangsan", "张三"] {
            assert!(!all.contains(secret), "{all}");
        }
        assert_eq!(format!("{id:?}"), "ResidentId(<redacted>)");
    }

    #[test]
    fn serde_parses() {
        let s = with_check("11010519900307123");
        let id: ResidentId = serde_json::from_str(&format!("\"{s}\"")).expect("valid");
        assert_eq!(
            serde_json::to_string(&id).expect("serialises"),
            format!("\"{s}\"")
        );
        assert!(serde_json::from_str::<ResidentId>("\"110105199003071230\"").is_err());
        assert!(serde_json::from_str::<Phone>("\"+86 13800138000\"").is_ok());
        assert!(serde_json::from_str::<LoginName>("\"a\"").is_err());
    }

    #[test]
    fn error_codes_and_keys() {
        let mut seen = std::collections::HashSet::new();
        for e in ParseError::ALL {
            assert!(seen.insert(e.code()));
            assert_eq!(e.message_key(), format!("error-{}", e.code().replace('_', "-")));
        }
    }

    #[test]
    fn module_docs_list_every_message_key() {
        let docs: String = include_str!("ids.rs")
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut keys: Vec<&str> = ParseError::ALL.iter().map(|e| e.message_key()).collect();
        keys.extend(crate::ConsentError::ALL.iter().map(|e| e.message_key()));
        keys.extend(crate::Reason::ALL.iter().map(|r| r.message_key()));
        keys.extend(crate::LegalBasis::ALL.iter().map(|r| r.message_key()));
        keys.extend(crate::Role::ALL.iter().map(|r| r.message_key()));
        keys.extend(crate::OrgKind::ALL.iter().map(|r| r.message_key()));
        keys.extend(crate::Purpose::ALL.iter().map(|r| r.message_key()));
        keys.extend(crate::DataCategory::ALL.iter().map(|r| r.message_key()));
        keys.extend(crate::Action::ALL.iter().map(|r| r.message_key()));
        for key in &keys {
            assert!(
                docs.contains(&format!("`{key}`")),
                "{key} missing from the module docs"
            );
        }
        // Conversely, every key-shaped name the docs list exists.
        let listed: Vec<&str> = docs
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|t| t.contains('-') && t.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
            .collect();
        for key in &listed {
            assert!(
                keys.contains(key),
                "the docs list {key}, which the crate does not use"
            );
        }
        assert_eq!(listed.len(), keys.len());
    }

    proptest! {
        #[test]
        fn generated_numbers_parse(
            area in 110000u32..660000,
            days in 0i64..45_000,
            seq in 0u32..1000,
        ) {
            let (y, m, d) = crate::time::civil_from_days(days - 25_567); // 1900-01-01 ..
            let first17 = format!("{area:06}{y:04}{m:02}{d:02}{seq:03}");
            let s = with_check(&first17);
            let id = ResidentId::parse(&s);
            prop_assert!(id.is_ok(), "{}", s);
            let id = id.expect("checked");
            prop_assert_eq!(id.birth_date(), (y, m, d));
            prop_assert_eq!(id.is_female(), seq % 2 == 0);
            prop_assert_eq!(ResidentId::check_character(&first17), s.chars().last());
        }

        #[test]
        fn parsing_is_idempotent(s in "\\PC{0,40}") {
            // Whatever is accepted, its stored form parses again to the same value.
            if let Ok(v) = ResidentId::parse(&s) {
                prop_assert_eq!(ResidentId::parse(v.as_str()), Ok(v.clone()));
            }
            if let Ok(v) = Phone::parse(&s) {
                prop_assert_eq!(Phone::parse(v.as_str()), Ok(v.clone()));
            }
            if let Ok(v) = LicenceNumber::parse(&s) {
                prop_assert_eq!(LicenceNumber::parse(v.as_str()), Ok(v.clone()));
            }
            if let Ok(v) = LoginName::parse(&s) {
                prop_assert_eq!(LoginName::parse(v.as_str()), Ok(v.clone()));
            }
            if let Ok(v) = DisplayName::parse(&s) {
                prop_assert_eq!(DisplayName::parse(v.as_str()), Ok(v.clone()));
            }
            if let Ok(v) = Password::parse(&s, None) {
                prop_assert_eq!(v.expose(), s.as_str());
            }
        }
    }
}
