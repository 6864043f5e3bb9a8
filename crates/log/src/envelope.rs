//! Entry envelopes: the only bytes that ever become a log leaf.
//!
//! An envelope records *that* something of a given kind, about a given (pseudonymous) subject, arrived
//! from a given source at a given time, and commits to its content with a salted hash. The content
//! and the salt are stored apart from the log. Anyone holding both can prove that the content is the
//! one committed to; anyone holding only the log learns nothing about it.
//!
//! Encoding, version 1 (all integers big-endian, see ARCHITECTURE.md "Entry envelope"):
//!
//! ```text
//! u8      version = 0x01
//! u8      len(kind), then kind           ASCII, dotted lowercase name, 3..=64 bytes
//! [32]    subject pseudonym              HMAC-H(pseudonym key, subject)
//! u8      len(source), then source       ASCII [A-Za-z0-9._-], 1..=64 bytes
//! u64     received_ms                    server receipt time, Unix ms UTC
//! u64     occurred_ms                    when the event happened per the source, Unix ms UTC
//! [32]    commitment                     H("tianping.commitment/v1\0" || salt[32] || canonical content)
//! ```
//!
//! `H` is the log's hash (SHA-256 or SM3). The leaf hash is the RFC 9162 `H(0x00 || envelope)`.

use hmac::{Mac, SimpleHmac};
use serde_json::Value;

use crate::hash::{Hash, HashAlg};

pub const ENVELOPE_VERSION: u8 = 1;
const COMMITMENT_DOMAIN: &[u8] = b"tianping.commitment/v1\0";
pub const SALT_LEN: usize = 32;
pub const MAX_KIND_LEN: usize = 64;
pub const MAX_SOURCE_LEN: usize = 64;
pub const MAX_SUBJECT_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("kind must be a dotted lowercase name such as consultation.message (3 to 64 characters)")]
    BadKind,
    #[error("subject must be 1 to 256 bytes without control characters or surrounding spaces")]
    BadSubject,
    #[error("source must be 1 to 64 characters from A-Z a-z 0-9 . _ -")]
    BadSource,
    #[error("envelope bytes are malformed: {0}")]
    Malformed(&'static str),
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(u8),
}

/// A validated entry kind: two or more segments of `[a-z][a-z0-9_]*` joined by dots.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Kind(String);

impl Kind {
    pub fn parse(s: &str) -> Result<Self, EnvelopeError> {
        let ok_segment = |seg: &str| {
            let mut chars = seg.chars();
            matches!(chars.next(), Some('a'..='z')) && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        };
        let segments = s.split('.').count();
        if s.len() > MAX_KIND_LEN || segments < 2 || !s.split('.').all(ok_segment) {
            return Err(EnvelopeError::BadKind);
        }
        Ok(Kind(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated subject reference as the source names it (for example a patient id at the partner).
/// It never enters the log: only its pseudonym does.
#[derive(Clone, PartialEq, Eq)]
pub struct Subject(String);

impl Subject {
    pub fn parse(s: &str) -> Result<Self, EnvelopeError> {
        if s.is_empty() || s.len() > MAX_SUBJECT_LEN || s.trim() != s || s.chars().any(char::is_control) {
            return Err(EnvelopeError::BadSubject);
        }
        Ok(Subject(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Subject {
    // A subject may identify a person: keep it out of debug output and logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subject(<redacted>)")
    }
}

/// A validated source name (the API client that submitted the entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source(String);

impl Source {
    pub fn parse(s: &str) -> Result<Self, EnvelopeError> {
        let valid = !s.is_empty()
            && s.len() <= MAX_SOURCE_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if valid {
            Ok(Source(s.to_owned()))
        } else {
            Err(EnvelopeError::BadSource)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Pseudonym of a subject under the log's pseudonym key: `HMAC-H(key, subject)`.
pub fn pseudonym(alg: HashAlg, key: &[u8], subject: &Subject) -> Hash {
    keyed_hash(alg, key, subject.as_str().as_bytes())
}

/// HMAC of `msg` under `key` with the log's hash (truncated to 32 bytes).
pub fn keyed_hash(alg: HashAlg, key: &[u8], msg: &[u8]) -> Hash {
    fn mac<D>(key: &[u8], msg: &[u8]) -> Hash
    where
        D: hmac::digest::Digest + hmac::digest::core_api::BlockSizeUser,
    {
        let mut m = SimpleHmac::<D>::new_from_slice(key).expect("HMAC accepts any key length");
        m.update(msg);
        let out = m.finalize().into_bytes();
        let mut h = [0u8; 32];
        h.copy_from_slice(&out[..32]);
        h
    }
    match alg {
        HashAlg::Sha256 => mac::<sha2::Sha256>(key, msg),
        HashAlg::Sm3 => mac::<sm3::Sm3>(key, msg),
    }
}

/// Canonical bytes of a JSON content value: compact, object keys sorted by their UTF-8 bytes,
/// strings and numbers as serde_json writes them. Independent of serde_json's map ordering feature.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(k).expect("strings serialise"));
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        scalar => out.extend(serde_json::to_vec(scalar).expect("scalars serialise")),
    }
}

/// Salted commitment to content bytes.
pub fn commitment(alg: HashAlg, salt: &[u8; SALT_LEN], content: &[u8]) -> Hash {
    alg.digest(&[COMMITMENT_DOMAIN, salt, content])
}

/// Salted commitment computed over content that arrives in pieces; equal to [`commitment`] over
/// the concatenation.
#[derive(Clone)]
pub struct CommitmentHasher(crate::hash::Hasher);

impl CommitmentHasher {
    pub fn new(alg: HashAlg, salt: &[u8; SALT_LEN]) -> Self {
        let mut h = alg.hasher();
        h.update(COMMITMENT_DOMAIN);
        h.update(salt);
        CommitmentHasher(h)
    }
    pub fn update(&mut self, content: &[u8]) {
        self.0.update(content);
    }
    pub fn finalize(self) -> Hash {
        self.0.finalize()
    }
}

/// The leaf payload. Holds no content, only metadata and a commitment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub kind: Kind,
    pub subject_pseudonym: Hash,
    pub source: Source,
    pub received_ms: u64,
    pub occurred_ms: u64,
    pub commitment: Hash,
}

impl Envelope {
    /// Canonical encoding (version 1). Injective: distinct envelopes have distinct encodings.
    pub fn encode(&self) -> Vec<u8> {
        let kind = self.kind.as_str().as_bytes();
        let source = self.source.as_str().as_bytes();
        let mut out = Vec::with_capacity(1 + 1 + kind.len() + 32 + 1 + source.len() + 16 + 32);
        out.push(ENVELOPE_VERSION);
        out.push(kind.len() as u8);
        out.extend_from_slice(kind);
        out.extend_from_slice(&self.subject_pseudonym);
        out.push(source.len() as u8);
        out.extend_from_slice(source);
        out.extend_from_slice(&self.received_ms.to_be_bytes());
        out.extend_from_slice(&self.occurred_ms.to_be_bytes());
        out.extend_from_slice(&self.commitment);
        out
    }

    /// Strict decoding: every field valid, no trailing bytes, and `decode(b).encode() == b`.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != ENVELOPE_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(version));
        }
        let kind_len = r.u8()? as usize;
        let kind = std::str::from_utf8(r.take(kind_len)?).map_err(|_| EnvelopeError::BadKind)?;
        let kind = Kind::parse(kind)?;
        let subject_pseudonym = r.hash()?;
        let source_len = r.u8()? as usize;
        let source = std::str::from_utf8(r.take(source_len)?).map_err(|_| EnvelopeError::BadSource)?;
        let source = Source::parse(source)?;
        let received_ms = r.u64()?;
        let occurred_ms = r.u64()?;
        let commitment = r.hash()?;
        if !r.0.is_empty() {
            return Err(EnvelopeError::Malformed("trailing bytes"));
        }
        Ok(Envelope {
            kind,
            subject_pseudonym,
            source,
            received_ms,
            occurred_ms,
            commitment,
        })
    }

    /// Does `content` (canonical bytes) under `salt` match this envelope's commitment?
    pub fn commits_to(&self, alg: HashAlg, salt: &[u8; SALT_LEN], content: &[u8]) -> bool {
        commitment(alg, salt, content) == self.commitment
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EnvelopeError> {
        if self.0.len() < n {
            return Err(EnvelopeError::Malformed("truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, EnvelopeError> {
        Ok(self.take(1)?[0])
    }
    fn u64(&mut self) -> Result<u64, EnvelopeError> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn hash(&mut self) -> Result<Hash, EnvelopeError> {
        Ok(self.take(32)?.try_into().expect("32 bytes"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn streaming_commitment_equals_one_shot() {
        let salt = [9u8; SALT_LEN];
        for alg in [HashAlg::Sha256, HashAlg::Sm3] {
            let mut h = CommitmentHasher::new(alg, &salt);
            h.update(b"recording ");
            h.update(b"");
            h.update(b"bytes");
            assert_eq!(h.finalize(), commitment(alg, &salt, b"recording bytes"));
            assert_ne!(
                CommitmentHasher::new(alg, &[0u8; SALT_LEN]).finalize(),
                commitment(alg, &salt, b"")
            );
        }
    }

    use super::*;
    use serde_json::json;

    fn sample() -> Envelope {
        Envelope {
            kind: Kind::parse("consultation.message").unwrap(),
            subject_pseudonym: [7; 32],
            source: Source::parse("partner-a").unwrap(),
            received_ms: 1_763_800_000_000,
            occurred_ms: 1_763_799_999_000,
            commitment: [9; 32],
        }
    }

    #[test]
    fn kinds_are_dotted_lowercase_names() {
        for good in ["consultation.message", "log.test", "a.b.c", "consent.v2_grant"] {
            assert!(Kind::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "message",
            "Consultation.message",
            "consultation..message",
            ".a.b",
            "a.b.",
            "a.1b",
            "咨询.消息",
            "a b.c",
            &"a.".repeat(40),
        ] {
            assert_eq!(Kind::parse(bad), Err(EnvelopeError::BadKind), "{bad}");
        }
    }

    #[test]
    fn subjects_reject_empty_and_control_characters() {
        assert!(Subject::parse("patient-42").is_ok());
        assert!(Subject::parse("患者-王某").is_ok());
        for bad in ["", " x", "x ", "a\nb", &"x".repeat(257)] {
            assert!(Subject::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            format!("{:?}", Subject::parse("secret").unwrap()),
            "Subject(<redacted>)"
        );
    }

    #[test]
    fn encoding_round_trips_and_is_strict() {
        let e = sample();
        let bytes = e.encode();
        assert_eq!(bytes[0], 1);
        assert_eq!(Envelope::decode(&bytes).unwrap(), e);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Envelope::decode(&longer).is_err());
        for cut in 0..bytes.len() {
            assert!(Envelope::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert_eq!(Envelope::decode(&v2), Err(EnvelopeError::UnsupportedVersion(2)));
    }

    #[test]
    fn envelope_holds_no_content_or_subject_text() {
        let subject = Subject::parse("patient-张三-110101199003074514").unwrap();
        let content = canonical_json(&json!({"text": "我想自杀", "dose": "10mg"}));
        let salt = [3u8; 32];
        let e = Envelope {
            subject_pseudonym: pseudonym(HashAlg::Sha256, b"key", &subject),
            commitment: commitment(HashAlg::Sha256, &salt, &content),
            ..sample()
        };
        let bytes = e.encode();
        let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(!contains(subject.as_str().as_bytes()));
        assert!(!contains("我想自杀".as_bytes()));
        assert!(!contains(b"10mg"));
        assert!(e.commits_to(HashAlg::Sha256, &salt, &content));
        assert!(!e.commits_to(HashAlg::Sha256, &[4u8; 32], &content));
        assert!(!e.commits_to(HashAlg::Sm3, &salt, &content));
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"d":[1,{"z":0,"y":"中"}],"c":null}}"#).unwrap();
        assert_eq!(
            String::from_utf8(canonical_json(&a)).unwrap(),
            r#"{"a":{"c":null,"d":[1,{"y":"中","z":0}]},"b":1}"#
        );
        let pretty = serde_json::to_string_pretty(&a).unwrap();
        let b: Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
    }

    #[test]
    fn pseudonyms_depend_on_key_and_suite() {
        let s = Subject::parse("p1").unwrap();
        let a = pseudonym(HashAlg::Sha256, b"k1", &s);
        assert_ne!(a, pseudonym(HashAlg::Sha256, b"k2", &s));
        assert_ne!(a, pseudonym(HashAlg::Sm3, b"k1", &s));
        assert_eq!(a, pseudonym(HashAlg::Sha256, b"k1", &s));
    }
}
