//! Identity's pure core: who someone is, what they agreed to, and whether they may see a piece of data.
//!
//! - [`role`]: the platform's roles ([`Role`]) and kinds of organisation ([`OrgKind`]; HCP-000: a
//!   consultation platform is not a medical institution).
//! - [`ids`]: parsed identity values ("parse, don't validate"): the GB 11643-1999 citizen identity number
//!   ([`ResidentId`]), mobile numbers, doctors' practising certificate numbers (IDM-25), login and display
//!   names, passwords, and the one [`ParseError`] they share.
//! - [`consent`]: purposes, data categories, structured notices and consents, and the grant rules (PIPL-14,
//!   PIPL-15, PIPL-23, PIPL-28/29, PIPL-31).
//! - [`policy`]: **the** access decision ([`decide`]): every read, export or listing of personal data is
//!   permitted or refused here, naming its legal basis (PIPL-13, PIPL-45).
//! - [`totp`] and [`recovery`]: RFC 6238 one-time codes for staff and their recovery codes.
//! - [`fhir`]: HL7 FHIR R5 `Consent` and `AuditEvent` resources as JSON.
//! - [`time`]: the calendar arithmetic the rest needs (Unix milliseconds to UTC dates and FHIR instants).
//!
//! **This crate does no I/O** and reads no clock: callers pass every time as Unix milliseconds (UTC, `u64`),
//! and randomness (TOTP secrets, recovery codes) as bytes. Nothing here can fail for I/O reasons, and every
//! rule is tested with plain data. Values that hold personal data never show it in their `Debug` output.

/// Declares a fieldless enum with a stable snake_case code per variant (`as_str`, `FromStr`, `Display` and
/// serde all use that code, so they cannot drift apart), a Fluent message id per variant and `ALL`.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident [$count:literal] (unknown: $err:ident) {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $key:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; $count] = [$($name::$variant),+];

            /// The stable code used in APIs, the database and serde.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            /// The Fluent message id of this value's human-readable name.
            pub fn message_key(self) -> &'static str {
                match self {
                    $($name::$variant => $key,)+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::ids::ParseError;

            /// Parses the exact code returned by `as_str`.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($code => Ok($name::$variant),)+
                    _ => Err($crate::ids::ParseError::$err),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}

pub mod consent;
pub mod fhir;
pub mod ids;
pub mod policy;
pub mod recovery;
pub mod role;
pub mod time;
pub mod totp;

pub use consent::{Consent, ConsentError, DataCategory, GrantRequest, Notice, Purpose, check_grant};
pub use fhir::{AuditInfo, audit_event, consent_resource};
pub use ids::{DisplayName, LicenceNumber, LoginName, ParseError, Password, Phone, ResidentId};
pub use policy::{AccessRequest, Action, Actor, Decision, LegalBasis, Reason, Resource, decide};
pub use recovery::{format_recovery_code, normalise_recovery_code};
pub use role::{OrgKind, Role};
pub use totp::TotpSecret;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code enum: codes are unique, round-trip through `FromStr` and serde, and message keys are
    /// distinct, lower-case and hyphenated.
    fn check_codes<T>(all: &[T], code: fn(&T) -> &'static str, key: fn(&T) -> &'static str)
    where
        T: std::str::FromStr<Err = ParseError> + serde::Serialize + serde::de::DeserializeOwned,
        T: PartialEq + std::fmt::Debug + std::fmt::Display,
    {
        let mut codes = std::collections::HashSet::new();
        let mut keys = std::collections::HashSet::new();
        for v in all {
            assert!(codes.insert(code(v)), "duplicate code {}", code(v));
            assert!(keys.insert(key(v)), "duplicate key {}", key(v));
            assert_eq!(code(v).parse::<T>().as_ref(), Ok(v));
            assert_eq!(v.to_string(), code(v));
            let json = serde_json::to_string(v).expect("serialises");
            assert_eq!(json, format!("\"{}\"", code(v)));
            assert_eq!(&serde_json::from_str::<T>(&json).expect("deserialises"), v);
            assert!(
                code(v).bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                code(v)
            );
            assert!(
                key(v).bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{}",
                key(v)
            );
        }
        assert!("no-such-code".parse::<T>().is_err());
        assert!(serde_json::from_str::<T>("\"no-such-code\"").is_err());
    }

    #[test]
    fn code_enums_round_trip() {
        check_codes(&Role::ALL, |v| v.as_str(), |v| v.message_key());
        check_codes(&OrgKind::ALL, |v| v.as_str(), |v| v.message_key());
        check_codes(&Purpose::ALL, |v| v.as_str(), |v| v.message_key());
        check_codes(&DataCategory::ALL, |v| v.as_str(), |v| v.message_key());
        check_codes(&Action::ALL, |v| v.as_str(), |v| v.message_key());
        check_codes(&LegalBasis::ALL, |v| v.as_str(), |v| v.message_key());
        check_codes(&Reason::ALL, |v| v.as_str(), |v| v.message_key());
    }

    #[test]
    fn unknown_codes_name_their_type() {
        assert_eq!("x".parse::<Role>(), Err(ParseError::UnknownRole));
        assert_eq!("x".parse::<OrgKind>(), Err(ParseError::UnknownOrgKind));
        assert_eq!("x".parse::<Purpose>(), Err(ParseError::UnknownPurpose));
        assert_eq!("x".parse::<DataCategory>(), Err(ParseError::UnknownCategory));
        assert_eq!("x".parse::<Action>(), Err(ParseError::UnknownAction));
        assert_eq!("x".parse::<LegalBasis>(), Err(ParseError::UnknownLegalBasis));
        assert_eq!("x".parse::<Reason>(), Err(ParseError::UnknownReason));
    }
}
