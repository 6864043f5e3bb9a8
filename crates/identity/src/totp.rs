//! Time-based one-time passwords (RFC 6238) for staff sign-in ([`crate::Role::is_staff`]): HMAC-SHA-1, six
//! digits, 30-second steps, computed by the `totp-rs` crate. The caller passes the time; this module keeps
//! no state, so the caller stores the last accepted step per account and passes it back to stop replay
//! (RFC 6238 §5.2: a code is accepted once).

use std::fmt;

use totp_rs::{Algorithm, Builder, Totp};
use zeroize::Zeroizing;

use crate::ids::ParseError;

/// Length of a secret in bytes (160 bits, as RFC 4226 §4 recommends).
pub const SECRET_LEN: usize = 20;
/// Digits in a code.
pub const DIGITS: usize = 6;
/// Seconds in a time step.
pub const STEP_SECONDS: u64 = 30;

/// A TOTP shared secret of [`SECRET_LEN`] bytes, wiped on drop; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// A secret from exactly [`SECRET_LEN`] bytes (from the operating system's random source when new).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ParseError> {
        if bytes.len() == SECRET_LEN {
            Ok(TotpSecret(Zeroizing::new(bytes.to_vec())))
        } else {
            Err(ParseError::InvalidTotpSecret)
        }
    }

    /// A secret from its RFC 4648 base32 form (upper case, unpadded, as [`TotpSecret::to_base32`] writes).
    pub fn from_base32(s: &str) -> Result<Self, ParseError> {
        let secret = totp_rs::Secret::try_from_base32(s).map_err(|_| ParseError::InvalidTotpSecret)?;
        Self::from_bytes(secret.as_bytes())
    }

    /// The secret's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret in RFC 4648 base32 without padding, as authenticator apps expect.
    pub fn to_base32(&self) -> String {
        totp_rs::Secret::from(self.as_bytes()).to_base32()
    }

    /// The generator for this secret with no skew: skew is handled step by step in [`verify`].
    fn totp(&self) -> Totp {
        // SHA-1, 6 digits, 30 s and a 20-byte secret are all RFC-compliant, so the unchecked build is exact.
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS as u8)
            .with_step_duration(STEP_SECONDS)
            .with_skew(0)
            .with_secret(self.as_bytes())
            .build_noncompliant()
    }
}

/// The time step containing `now_ms`: whole 30-second periods since the Unix epoch.
pub fn step_at(now_ms: u64) -> u64 {
    now_ms / 1000 / STEP_SECONDS
}

/// The code for the step containing `now_ms` (for tests and the browser test helper).
pub fn code_at(secret: &TotpSecret, now_ms: u64) -> String {
    secret.totp().generate(now_ms / 1000).to_string()
}

/// Checks `code` (six digits; spaces are ignored) at `now_ms`. Accepts the current step and one step either
/// side for clock skew (RFC 6238 §5.2), but never a step at or before `last_used_step`, so that a code, or
/// an older one, cannot be replayed. Returns the matched step, which the caller stores as the new
/// `last_used_step`.
pub fn verify(secret: &TotpSecret, code: &str, now_ms: u64, last_used_step: Option<u64>) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = secret.totp();
    let now = step_at(now_ms);
    [now.checked_sub(1), Some(now), now.checked_add(1)]
        .into_iter()
        .flatten()
        .filter(|step| last_used_step.is_none_or(|last| *step > last))
        .find(|step| totp.check(&code, step * STEP_SECONDS).is_some())
}

/// An `otpauth://totp/…` URI (the Key URI format of Google Authenticator) for enrolling `account` of
/// `issuer` in an authenticator app, usually shown as a QR code. The label and the issuer are
/// percent-encoded; a colon in either, which the format reserves as the separator, becomes `-`.
pub fn otpauth_uri(secret: &TotpSecret, issuer: &str, account: &str) -> String {
    let issuer = percent_encode(&issuer.replace(':', "-"));
    let account = percent_encode(&account.replace(':', "-"));
    let secret = secret.to_base32();
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}"
    )
}

/// Percent-encodes everything but the RFC 3986 unreserved characters, as UTF-8 bytes.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 6238 Appendix B test secret for HMAC-SHA-1: the ASCII bytes "12345678901234567890".
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890").expect("20 bytes")
    }

    #[test]
    fn rfc6238_appendix_b_sha1() {
        // RFC 6238 Appendix B, SHA-1 rows: time in seconds and the 8-digit TOTP. A 6-digit code is the same
        // truncated value modulo 10^6, i.e. its last six digits.
        let vectors: [(u64, &str); 6] = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        let secret = rfc_secret();
        for (t, eight) in vectors {
            let code = code_at(&secret, t * 1000);
            assert_eq!(code, &eight[2..], "T = {t}");
            assert_eq!(verify(&secret, &code, t * 1000, None), Some(t / 30), "T = {t}");
        }
    }

    #[test]
    fn skew_of_one_step_is_accepted_two_is_not() {
        let secret = rfc_secret();
        let now = 1_111_111_111_000;
        let step = step_at(now);
        let at_step = |s: u64| code_at(&secret, s * 30_000);
        assert_eq!(verify(&secret, &at_step(step - 1), now, None), Some(step - 1));
        assert_eq!(verify(&secret, &at_step(step + 1), now, None), Some(step + 1));
        assert_eq!(verify(&secret, &at_step(step - 2), now, None), None);
        assert_eq!(verify(&secret, &at_step(step + 2), now, None), None);
    }

    #[test]
    fn replay_is_refused() {
        let secret = rfc_secret();
        let now = 1_234_567_890_000;
        let code = code_at(&secret, now);
        let used = verify(&secret, &code, now, None).expect("fresh code accepted");
        assert_eq!(verify(&secret, &code, now, Some(used)), None, "same code twice");
        assert_eq!(
            verify(&secret, &code, now + 30_000, Some(used)),
            None,
            "same code in the next step"
        );
        // The previous step's code is refused once a later step was used.
        let previous = code_at(&secret, now - 30_000);
        assert_eq!(verify(&secret, &previous, now, Some(used)), None);
        // The next step's code is still fine.
        let next = code_at(&secret, now + 30_000);
        assert_eq!(verify(&secret, &next, now + 30_000, Some(used)), Some(used + 1));
    }

    #[test]
    fn malformed_codes_are_refused() {
        let secret = rfc_secret();
        let now = 59_000;
        let code = code_at(&secret, now);
        assert_eq!(
            verify(&secret, &format!(" {} {} ", &code[..3], &code[3..]), now, None),
            Some(1)
        );
        for bad in ["", "12345", "1234567", "+28708", "28708a", "２８７０８２"] {
            assert_eq!(verify(&secret, bad, now, None), None, "{bad}");
        }
        let other = TotpSecret::from_bytes(&[7; 20]).expect("20 bytes");
        assert_ne!(code_at(&other, now), code);
        assert_eq!(verify(&other, &code, now, None), None);
    }

    #[test]
    fn secrets() {
        assert_eq!(
            TotpSecret::from_bytes(&[0; 19]),
            Err(ParseError::InvalidTotpSecret)
        );
        assert_eq!(
            TotpSecret::from_bytes(&[0; 21]),
            Err(ParseError::InvalidTotpSecret)
        );
        let s = rfc_secret();
        // RFC 4648 base32 of "12345678901234567890".
        assert_eq!(s.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(TotpSecret::from_base32(&s.to_base32()), Ok(s.clone()));
        assert_eq!(
            TotpSecret::from_base32("not base32!"),
            Err(ParseError::InvalidTotpSecret)
        );
        assert_eq!(
            TotpSecret::from_base32("GEZDGNBV"),
            Err(ParseError::InvalidTotpSecret)
        );
        assert_eq!(format!("{s:?}"), "TotpSecret(<redacted>)");
    }

    #[test]
    fn otpauth_uri_is_read_back_by_totp_rs() {
        let s = rfc_secret();
        let uri = otpauth_uri(&s, "天平 Tianping", "doctor:li@example");
        assert!(uri.starts_with("otpauth://totp/%E5%A4%A9%E5%B9%B3%20Tianping:doctor-li%40example?secret="));
        assert!(uri.contains("&issuer=%E5%A4%A9%E5%B9%B3%20Tianping&"));
        let parsed = Totp::from_url(&uri).expect("totp-rs parses the URI");
        assert_eq!(parsed.secret().as_bytes(), s.as_bytes());
        assert_eq!(parsed.issuer(), Some("天平 Tianping"));
        assert_eq!(parsed.account_name(), "doctor-li@example");
        assert_eq!((parsed.digits(), parsed.step()), (6, 30));
        assert_eq!(parsed.generate(59).to_string(), code_at(&s, 59_000));
    }
}
