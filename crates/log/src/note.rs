//! C2SP signed notes (`c2sp.org/signed-note@v1.0.0`), verifier and signer keys, and timestamped
//! witness cosignatures (`c2sp.org/tlog-cosignature@v1.0.1`, `cosignature/v1`).
//!
//! A signed note is a text ending in a newline, a blank line, and one or more signature lines
//! `— <name> base64(key id || signature)`. The key id is the first four bytes of
//! `SHA-256(name || 0x0A || key material)`, where the key material is the signature type byte
//! followed by the public key (for type `0xff`, the type byte, an identifier, then the key).
//!
//! # Supported signature types
//!
//! * [`SIG_ED25519`] (`0x01`): Ed25519 over the note text (RFC 8032).
//! * [`SIG_COSIGNATURE_V1`] (`0x04`): witness cosignatures. [`Note::verify`] skips these keys;
//!   use [`verify_cosignature`].
//! * [`SIG_OTHER`] (`0xff`) followed by [`SM2_SIG_IDENTIFIER`]: Tianping's SM2 note signatures for
//!   the national suite. The signature is SM2 (GB/T 32918.2) with SM3, computed over the note
//!   text with the default distinguishing ID `1234567812345678`, and encoded as the 64 bytes
//!   `r || s` (each a 32-byte big-endian integer). The public key is the 65-byte uncompressed SEC1
//!   point `0x04 || x || y` on the recommended curve. So the key material is
//!   `0xff || "tianping.org/sm2-sm3/v1" || 0x04 || x || y`, the key ID is
//!   `SHA-256(name || 0x0A || 0xff || identifier || public key)[:4]`, and the vkey is
//!   `name+hex(key id)+base64(0xff || identifier || public key)`. When parsing, the identifier
//!   must be followed by exactly one 65-byte uncompressed point, so an identifier that merely
//!   starts with ours is not mistaken for it. Signer keys (`skey`) carry
//!   `0xff || identifier || 32-byte secret scalar`. Our signatures use a deterministic nonce
//!   (the `sm2` crate derives it per RFC 6979 with SM3). Verification works for any valid
//!   nonce.
//!
//! # Ed25519 verification rule
//!
//! Every Ed25519 check in this module (note signatures of type `0x01` and cosignatures of type
//! `0x04`) goes through [`ed25519_verify`], which uses ed25519-dalek's `verify_strict`:
//!
//! * `s` must be canonical (`s < ℓ`);
//! * `R` must decode, and the `R` we recompute must have the same encoding as the one in the
//!   signature, so non-canonical encodings of `R` fail;
//! * `A` (the public key) and `R` must not be of small order;
//! * the check is the cofactorless equation `[s]B = R + [k]A`, so signatures whose low-order
//!   parts only cancel out after multiplying by the cofactor fail.
//!
//! Why: honest signers never produce small-order keys or `R` values, so being strict costs no
//! interoperability with real keys. It also rules out a "weak" key, such as the identity
//! point, whose signatures verify for every message. A log or a witness must never be
//! persuaded that such a key signed a checkpoint. For the same reason [`VerifierKey::parse`]
//! rejects Ed25519 keys of small order. With the C2SP/CCTV edge-case vectors, this rule
//! accepts exactly the vectors whose only flags are `low_order_component_A` and
//! `low_order_component_R` (points with a low-order component that cannot be blocklisted but
//! whose equation holds without the cofactor), and rejects every vector flagged `low_order_A`,
//! `low_order_R`, `non_canonical_A`, `non_canonical_R`, `low_order_residue` or `reencoded_k`.
//! Over the 914 vectors that is 43 accepted (one vector without flags and 42 with only
//! low-order-component flags) and 871 rejected. The test
//! `ed25519_edge_cases_follow_documented_rule` in `tests/note_vectors.rs` checks this over the
//! whole file.
//!
//! # Secrets
//!
//! [`NoteSigner`] and [`CosignatureSigner`] hold their private keys only in types that wipe
//! themselves on drop (`ed25519_dalek::SigningKey`, `sm2::SecretKey`). Their `Debug` output shows
//! only the public side. Encoded private keys are returned in [`zeroize::Zeroizing`] strings.
//! While an SM2 signature is being made, the `sm2` crate holds a copy of the scalar on the stack
//! that it does not wipe. This module cannot prevent that.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::Signer as _;
use sha2::{Digest as _, Sha256};
use sm2::dsa::signature::Verifier as _;
use sm2::elliptic_curve::sec1::ToEncodedPoint as _;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Signature type identifier byte: Ed25519 note signature.
pub const SIG_ED25519: u8 = 0x01;
/// Signature type identifier byte: timestamped Ed25519 witness cosignature (`cosignature/v1`).
pub const SIG_COSIGNATURE_V1: u8 = 0x04;
/// Signature type identifier byte: "other". It is followed by a longer identifier.
pub const SIG_OTHER: u8 = 0xff;

/// Identifier after [`SIG_OTHER`] for Tianping's SM2 note signatures (national suite).
///
/// SM2 signature (GB/T 32918.2) with SM3 and the default distinguishing ID `1234567812345678`,
/// over the note text; signature = 64 bytes `r || s`; public key = 65-byte uncompressed SEC1
/// point; key ID = `SHA-256(name || 0x0A || 0xff || identifier || public key)[:4]`;
/// vkey = `name+hex(keyid)+base64(0xff || identifier || pubkey)`.
pub const SM2_SIG_IDENTIFIER: &[u8] = b"tianping.org/sm2-sm3/v1";

/// The SM2 distinguishing identifier used for every Tianping SM2 signature (GM/T 0009 default).
pub const SM2_DISTINGUISHING_ID: &str = "1234567812345678";

/// Most signature lines [`Note::parse`] accepts (the spec requires at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// Length of an uncompressed SEC1 SM2 public key.
const SM2_PUBLIC_KEY_LEN: usize = 65;
/// Length of the `cosignature/v1` signature: 8-byte timestamp plus 64-byte Ed25519 signature.
const COSIGNATURE_LEN: usize = 72;
/// Prefix of a signature line: em dash and space.
const SIG_LINE_PREFIX: &str = "\u{2014} ";
/// Prefix of a signer key string.
const SKEY_PREFIX: &str = "PRIVATE+KEY+";

/// Errors from parsing, signing and verifying notes and keys.
///
/// No variant ever carries private key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum NoteError {
    #[error("invalid key name {0:?}: must be non-empty, without spaces, '+' or control characters")]
    InvalidName(String),
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(&'static str),
    #[error("malformed signer key: {0}")]
    MalformedSignerKey(&'static str),
    #[error("unsupported signature type 0x{0:02x}")]
    UnsupportedSignatureType(u8),
    #[error("unrecognised identifier after signature type 0xff")]
    UnsupportedIdentifier,
    #[error("key id {found} does not match the key (expected {expected})")]
    KeyIdMismatch { expected: String, found: String },
    #[error("invalid public key: {0}")]
    InvalidPublicKey(&'static str),
    #[error("invalid private key: {0}")]
    InvalidSecretKey(&'static str),
    #[error("malformed note: {0}")]
    MalformedNote(&'static str),
    #[error("invalid note text: {0}")]
    MalformedText(String),
    #[error("too many signatures: {count} (at most {max})")]
    TooManySignatures { count: usize, max: usize },
    #[error("no signers given")]
    NoSigners,
    #[error("signature by known key {name}+{key_id} does not verify")]
    BadSignature { name: String, key_id: String },
    #[error("note is not signed by any known key")]
    UnverifiedNote,
    #[error("wrong key type: expected 0x{expected:02x}, found 0x{found:02x}")]
    WrongKeyType { expected: u8, found: u8 },
    #[error("signature line {name}+{key_id} is not from this key")]
    KeyMismatch { name: String, key_id: String },
    #[error("signature has wrong length {found} (expected {expected})")]
    BadSignatureLength { expected: usize, found: usize },
    #[error("cosignature timestamp {0} exceeds 2^63-1")]
    TimestampOutOfRange(u64),
}

/// A key name is valid if it is non-empty and has no Unicode white space, no `+` and no control
/// characters.
fn check_name(name: &str) -> Result<(), NoteError> {
    let bad = name.is_empty()
        || name
            .chars()
            .any(|c| c == '+' || c.is_whitespace() || c.is_control());
    if bad {
        Err(NoteError::InvalidName(name.to_owned()))
    } else {
        Ok(())
    }
}

/// True if `s` holds a character below U+0020 other than newline.
fn has_forbidden_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 && b != b'\n')
}

/// Checks that `text` can be the text of a signed note: it ends in a newline and holds no control
/// characters other than newline.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::MalformedText("text must end with a newline".into()));
    }
    if has_forbidden_control(text) {
        return Err(NoteError::MalformedText(
            "text must not contain control characters other than newline".into(),
        ));
    }
    Ok(())
}

/// `SHA-256(name || 0x0A || material)[:4]`, where `material` starts with the type byte.
fn compute_key_id(name: &str, material: &[u8]) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n'])
        .chain_update(material)
        .finalize();
    let mut id = [0u8; 4];
    id.copy_from_slice(&digest[..4]);
    id
}

fn hex4(id: [u8; 4]) -> String {
    format!("{:08x}", u32::from_be_bytes(id))
}

/// Parses exactly eight lowercase hex digits.
fn parse_hex4(s: &str) -> Option<[u8; 4]> {
    if s.len() != 8
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u32::from_str_radix(s, 16).ok().map(u32::to_be_bytes)
}

/// Splits `name+hexid+base64` into its three parts. The base64 part may itself contain `+`.
fn split_key_string(s: &str) -> Option<(&str, &str, &str)> {
    let (name, rest) = s.split_once('+')?;
    let (id, b64) = rest.split_once('+')?;
    Some((name, id, b64))
}

/// Verifies an Ed25519 signature under the module's documented rule (ed25519-dalek
/// `verify_strict`; see the module documentation). Returns false for malformed input.
pub fn ed25519_verify(public_key: &[u8; 32], msg: &[u8], sig: &[u8]) -> bool {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    ed25519_verify_with(&key, msg, sig)
}

fn ed25519_verify_with(key: &ed25519_dalek::VerifyingKey, msg: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
        return false;
    };
    key.verify_strict(msg, &sig).is_ok()
}

/// The public half of a verifier key, decoded.
#[derive(Clone)]
enum PublicKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    Sm2(sm2::dsa::VerifyingKey),
}

/// A verifier key (the `vkey` format: `<name>+<hex keyid>+<base64(type||key)>`).
#[derive(Clone)]
pub struct VerifierKey {
    name: String,
    key_id: [u8; 4],
    /// Type byte, identifier for type 0xff, then the public key.
    material: Vec<u8>,
    public: PublicKey,
}

impl PartialEq for VerifierKey {
    fn eq(&self, other: &Self) -> bool {
        // The key material determines the decoded public key.
        self.name == other.name && self.key_id == other.key_id && self.material == other.material
    }
}

impl Eq for VerifierKey {}

impl std::hash::Hash for VerifierKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.key_id.hash(state);
        self.material.hash(state);
    }
}

/// Decodes key material (type byte onward) into a public key, checking length and validity.
fn decode_public(material: &[u8]) -> Result<PublicKey, NoteError> {
    let (&ty, key) = material
        .split_first()
        .ok_or(NoteError::MalformedVerifierKey("empty key material"))?;
    match ty {
        SIG_ED25519 | SIG_COSIGNATURE_V1 => {
            let bytes: &[u8; 32] = key
                .try_into()
                .map_err(|_| NoteError::InvalidPublicKey("Ed25519 public key must be 32 bytes"))?;
            let vk = ed25519_dalek::VerifyingKey::from_bytes(bytes)
                .map_err(|_| NoteError::InvalidPublicKey("not a valid Ed25519 point"))?;
            if vk.is_weak() {
                return Err(NoteError::InvalidPublicKey("Ed25519 public key has small order"));
            }
            Ok(PublicKey::Ed25519(vk))
        }
        SIG_OTHER => {
            let point = key
                .strip_prefix(SM2_SIG_IDENTIFIER)
                .ok_or(NoteError::UnsupportedIdentifier)?;
            if point.len() != SM2_PUBLIC_KEY_LEN || point[0] != 0x04 {
                return Err(NoteError::InvalidPublicKey(
                    "SM2 public key must be a 65-byte uncompressed point",
                ));
            }
            let vk = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DISTINGUISHING_ID, point)
                .map_err(|_| NoteError::InvalidPublicKey("not a valid SM2 point"))?;
            Ok(PublicKey::Sm2(vk))
        }
        other => Err(NoteError::UnsupportedSignatureType(other)),
    }
}

impl VerifierKey {
    /// Builds a verifier key from a name and key material (type byte, identifier for `0xff`,
    /// public key), computing the key ID.
    pub fn new(name: &str, key_material: &[u8]) -> Result<Self, NoteError> {
        check_name(name)?;
        let public = decode_public(key_material)?;
        Ok(VerifierKey {
            name: name.to_owned(),
            key_id: compute_key_id(name, key_material),
            material: key_material.to_vec(),
            public,
        })
    }

    /// Parses a `vkey` string. Rejects bad names, malformed hex or base64, unknown types, keys
    /// of the wrong length or not on the curve, small-order Ed25519 keys, and key IDs that do
    /// not match the key.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let (name, id, b64) =
            split_key_string(vkey).ok_or(NoteError::MalformedVerifierKey("expected name+keyid+key"))?;
        check_name(name)?;
        let id = parse_hex4(id).ok_or(NoteError::MalformedVerifierKey(
            "key id must be 8 lowercase hex digits",
        ))?;
        let material = B64
            .decode(b64)
            .map_err(|_| NoteError::MalformedVerifierKey("key is not valid base64"))?;
        let key = VerifierKey::new(name, &material)?;
        if key.key_id != id {
            return Err(NoteError::KeyIdMismatch {
                expected: hex4(key.key_id),
                found: hex4(id),
            });
        }
        Ok(key)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key ID.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The signature type byte (`0x01`, `0x04` or `0xff`).
    pub fn sig_type(&self) -> u8 {
        self.material[0]
    }

    /// Type byte (plus identifier for `0xff`) followed by the public key; two keys with equal
    /// material are the same key.
    pub fn key_material(&self) -> &[u8] {
        &self.material
    }

    /// Verifies `sig` over `msg`, for type `0x01` (Ed25519) and SM2 keys. Always returns false
    /// for `0x04` keys: a cosignature signs a derived message, see [`verify_cosignature`].
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match (&self.public, self.sig_type()) {
            (PublicKey::Ed25519(vk), SIG_ED25519) => ed25519_verify_with(vk, msg, sig),
            (PublicKey::Sm2(vk), _) => match sm2::dsa::Signature::from_slice(sig) {
                Ok(sig) => vk.verify(msg, &sig).is_ok(),
                Err(_) => false,
            },
            _ => false,
        }
    }

    /// True if this key is the one named in a signature line.
    fn matches(&self, sig: &NoteSignature) -> bool {
        self.name == sig.name && self.key_id == sig.key_id
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex4(self.key_id),
            B64.encode(&self.material)
        )
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

/// The private half of a note signer.
enum SecretKey {
    /// Zeroized on drop by ed25519-dalek (feature `zeroize`).
    Ed25519(ed25519_dalek::SigningKey),
    /// Zeroized on drop by `elliptic-curve`.
    Sm2(sm2::SecretKey),
}

/// A note signer (private key) for Ed25519 (`0x01`) or SM2 (`0xff`). The private key is wiped
/// on drop and never shown by `Debug`.
pub struct NoteSigner {
    secret: SecretKey,
    verifier: VerifierKey,
}

// Both variants of `SecretKey` wipe themselves when dropped; the rest is public.
impl ZeroizeOnDrop for NoteSigner {}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

/// Material of an Ed25519 public key: type byte then the 32 key bytes.
fn ed25519_material(ty: u8, key: &ed25519_dalek::SigningKey) -> Vec<u8> {
    let mut m = Vec::with_capacity(33);
    m.push(ty);
    m.extend_from_slice(key.verifying_key().as_bytes());
    m
}

/// Builds an SM2 secret key, rejecting 0, values >= n, and n-1 (for which `1 + d` has no inverse,
/// so GB/T 32918.2 cannot sign).
fn sm2_secret(scalar: &[u8; 32]) -> Result<sm2::SecretKey, NoteError> {
    let secret = sm2::SecretKey::from_bytes(scalar.into())
        .map_err(|_| NoteError::InvalidSecretKey("SM2 scalar must be in [1, n-2]"))?;
    let d: sm2::Scalar = *secret.to_nonzero_scalar();
    if bool::from((d + sm2::Scalar::ONE).is_zero()) {
        return Err(NoteError::InvalidSecretKey("SM2 scalar must be in [1, n-2]"));
    }
    Ok(secret)
}

fn sm2_material(secret: &sm2::SecretKey) -> Vec<u8> {
    let point = secret.public_key().to_encoded_point(false);
    let mut m = Vec::with_capacity(1 + SM2_SIG_IDENTIFIER.len() + SM2_PUBLIC_KEY_LEN);
    m.push(SIG_OTHER);
    m.extend_from_slice(SM2_SIG_IDENTIFIER);
    m.extend_from_slice(point.as_bytes());
    m
}

/// The parts of a `PRIVATE+KEY+name+hexid+base64` string.
struct SkeyParts<'a> {
    name: &'a str,
    key_id: [u8; 4],
    /// Type byte and secret; wiped on drop.
    bytes: Zeroizing<Vec<u8>>,
}

/// Splits and decodes a `PRIVATE+KEY+name+hexid+base64` string.
fn split_skey(skey: &str) -> Result<SkeyParts<'_>, NoteError> {
    let rest = skey
        .strip_prefix(SKEY_PREFIX)
        .ok_or(NoteError::MalformedSignerKey("missing PRIVATE+KEY+ prefix"))?;
    let (name, id, b64) =
        split_key_string(rest).ok_or(NoteError::MalformedSignerKey("expected name+keyid+key"))?;
    check_name(name)?;
    let key_id = parse_hex4(id).ok_or(NoteError::MalformedSignerKey(
        "key id must be 8 lowercase hex digits",
    ))?;
    let bytes = Zeroizing::new(
        B64.decode(b64)
            .map_err(|_| NoteError::MalformedSignerKey("key is not valid base64"))?,
    );
    if bytes.is_empty() {
        return Err(NoteError::MalformedSignerKey("empty key"));
    }
    Ok(SkeyParts { name, key_id, bytes })
}

/// Copies a 32-byte secret out of `bytes`, into a buffer that is wiped on drop.
fn secret32(bytes: &[u8]) -> Result<Zeroizing<[u8; 32]>, NoteError> {
    if bytes.len() != 32 {
        return Err(NoteError::MalformedSignerKey("secret must be 32 bytes"));
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(bytes);
    Ok(out)
}

fn check_skey_id(verifier: &VerifierKey, id: [u8; 4]) -> Result<(), NoteError> {
    if verifier.key_id != id {
        return Err(NoteError::KeyIdMismatch {
            expected: hex4(verifier.key_id),
            found: hex4(id),
        });
    }
    Ok(())
}

/// Encodes `PRIVATE+KEY+name+hexid+base64(ty || prefix || secret)`, keeping every temporary
/// copy of the secret in wiped buffers.
fn encode_skey(name: &str, key_id: [u8; 4], prefix: &[u8], secret: &[u8]) -> Zeroizing<String> {
    let mut raw = Zeroizing::new(Vec::with_capacity(prefix.len() + secret.len()));
    raw.extend_from_slice(prefix);
    raw.extend_from_slice(secret);
    // Encode straight into a wiped buffer (the engine's string helpers go through an internal
    // stack buffer that nobody wipes).
    let mut encoded = Zeroizing::new(vec![0u8; raw.len().div_ceil(3) * 4]);
    let written = B64
        .encode_slice(&*raw, &mut encoded[..])
        .expect("buffer sized for padded base64");
    // Reserve everything up front so the string never reallocates and leaves no unwiped copy.
    let mut out = Zeroizing::new(String::with_capacity(
        SKEY_PREFIX.len() + name.len() + 10 + written,
    ));
    out.push_str(SKEY_PREFIX);
    out.push_str(name);
    out.push('+');
    out.push_str(&hex4(key_id));
    out.push('+');
    out.push_str(std::str::from_utf8(&encoded[..written]).expect("base64 is ASCII"));
    out
}

impl NoteSigner {
    /// Parses `PRIVATE+KEY+<name>+<hex keyid>+<base64(type||secret)>`. Ed25519 (`0x01`): the
    /// secret is the 32-byte seed. SM2 (`0xff`): the identifier then the 32-byte scalar. The key
    /// id must match the public key derived from the secret.
    pub fn parse(skey: &str) -> Result<Self, NoteError> {
        let SkeyParts {
            name,
            key_id: id,
            bytes,
        } = split_skey(skey)?;
        let signer = match bytes[0] {
            SIG_ED25519 => {
                let seed = secret32(&bytes[1..])?;
                NoteSigner::generate_ed25519(name, *seed)?
            }
            SIG_OTHER => {
                let scalar = bytes[1..]
                    .strip_prefix(SM2_SIG_IDENTIFIER)
                    .ok_or(NoteError::UnsupportedIdentifier)?;
                let scalar = secret32(scalar)?;
                NoteSigner::generate_sm2(name, *scalar)?
            }
            other => return Err(NoteError::UnsupportedSignatureType(other)),
        };
        check_skey_id(&signer.verifier, id)?;
        Ok(signer)
    }

    /// Encodes the signer key in the `PRIVATE+KEY+...` format. The returned string is wiped on
    /// drop.
    pub fn to_skey(&self) -> Zeroizing<String> {
        let (prefix, secret): (Vec<u8>, Zeroizing<[u8; 32]>) = match &self.secret {
            SecretKey::Ed25519(k) => (vec![SIG_ED25519], Zeroizing::new(k.to_bytes())),
            SecretKey::Sm2(k) => {
                let mut p = vec![SIG_OTHER];
                p.extend_from_slice(SM2_SIG_IDENTIFIER);
                let mut fb = k.to_bytes();
                let mut s = Zeroizing::new([0u8; 32]);
                s.copy_from_slice(&fb);
                Zeroize::zeroize(&mut fb[..]);
                (p, s)
            }
        };
        encode_skey(&self.verifier.name, self.verifier.key_id, &prefix, &*secret)
    }

    /// Makes an Ed25519 signer from a 32-byte seed, which the caller must draw from a secure
    /// random source.
    pub fn generate_ed25519(name: &str, seed: [u8; 32]) -> Result<Self, NoteError> {
        let mut seed = Zeroizing::new(seed);
        check_name(name)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        seed.zeroize();
        let verifier = VerifierKey::new(name, &ed25519_material(SIG_ED25519, &key))?;
        Ok(NoteSigner {
            secret: SecretKey::Ed25519(key),
            verifier,
        })
    }

    /// Makes an SM2 signer from a big-endian secret scalar, which must be in `[1, n-2]`.
    pub fn generate_sm2(name: &str, scalar: [u8; 32]) -> Result<Self, NoteError> {
        let scalar = Zeroizing::new(scalar);
        check_name(name)?;
        let secret = sm2_secret(&scalar)?;
        let verifier = VerifierKey::new(name, &sm2_material(&secret))?;
        Ok(NoteSigner {
            secret: SecretKey::Sm2(secret),
            verifier,
        })
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> VerifierKey {
        self.verifier.clone()
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.verifier.name
    }

    /// The key ID.
    pub fn key_id(&self) -> [u8; 4] {
        self.verifier.key_id
    }

    /// Signs `msg` and returns the raw signature (without key ID): 64 bytes for both Ed25519 and
    /// SM2 (`r || s`). Both are deterministic.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match &self.secret {
            SecretKey::Ed25519(k) => k.sign(msg).to_bytes().to_vec(),
            SecretKey::Sm2(k) => {
                // The crate's signing key does not wipe itself, so it lives only for this call.
                // Construction cannot fail: the scalar was checked and the ID is 16 bytes.
                let signing = sm2::dsa::SigningKey::new(SM2_DISTINGUISHING_ID, k).expect("validated SM2 key");
                // Signing fails only for an invalid scalar (excluded at construction) or with
                // negligible probability; neither can happen here.
                let sig: sm2::dsa::Signature = signing.sign(msg);
                sig.to_bytes().to_vec()
            }
        }
    }

    fn signature_line(&self, text: &str) -> String {
        let mut raw = self.verifier.key_id.to_vec();
        raw.extend_from_slice(&self.sign(text.as_bytes()));
        format!("{SIG_LINE_PREFIX}{} {}\n", self.verifier.name, B64.encode(raw))
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: [u8; 4],
    /// The signature bytes after the key ID.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The line as it appears in a note, with its final newline.
    pub fn to_line(&self) -> String {
        let mut raw = self.key_id.to_vec();
        raw.extend_from_slice(&self.signature);
        format!("{SIG_LINE_PREFIX}{} {}\n", self.name, B64.encode(raw))
    }

    /// Parses one signature line, without its newline.
    fn parse_line(line: &str) -> Result<Self, NoteError> {
        let rest = line
            .strip_prefix(SIG_LINE_PREFIX)
            .ok_or(NoteError::MalformedNote(
                "signature line must start with an em dash and a space",
            ))?;
        let (name, b64) = rest.split_once(' ').ok_or(NoteError::MalformedNote(
            "signature line must be a name, a space and a signature",
        ))?;
        check_name(name).map_err(|_| NoteError::MalformedNote("invalid key name in signature"))?;
        let raw = B64
            .decode(b64)
            .map_err(|_| NoteError::MalformedNote("signature is not valid base64"))?;
        if raw.len() < 5 {
            return Err(NoteError::MalformedNote("signature too short"));
        }
        let mut key_id = [0u8; 4];
        key_id.copy_from_slice(&raw[..4]);
        Ok(NoteSignature {
            name: name.to_owned(),
            key_id,
            signature: raw[4..].to_vec(),
        })
    }
}

/// A parsed note: text plus signature lines. Parsing does not verify: use [`Note::verify`]
/// before trusting the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The note text, including its final newline.
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note: a text ending in a newline, a blank line, then one to
    /// [`MAX_SIGNATURES`] signature lines `— <name> base64(keyid||sig)`, each ending in a newline.
    /// The text is separated from the signatures by the last blank line.
    pub fn parse(s: &str) -> Result<Self, NoteError> {
        if has_forbidden_control(s) {
            return Err(NoteError::MalformedNote("control characters other than newline"));
        }
        if !s.ends_with('\n') {
            return Err(NoteError::MalformedNote("note must end with a newline"));
        }
        let blank = s.rfind("\n\n").ok_or(NoteError::MalformedNote(
            "no blank line between text and signatures",
        ))?;
        let text = &s[..blank + 1];
        let sig_block = &s[blank + 2..];
        let Some(sig_block) = sig_block.strip_suffix('\n') else {
            return Err(NoteError::MalformedNote("no signature lines"));
        };
        // No blank line follows the last one, so every line here is non-empty.
        let count = sig_block.split('\n').count();
        if count > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                count,
                max: MAX_SIGNATURES,
            });
        }
        let signatures = sig_block
            .split('\n')
            .map(NoteSignature::parse_line)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Signs `text` with each signer and returns the signed note. The text must end in a
    /// newline and contain no control characters other than newline.
    pub fn sign(text: &str, signers: &[&NoteSigner]) -> Result<String, NoteError> {
        check_text(text)?;
        if signers.is_empty() {
            return Err(NoteError::NoSigners);
        }
        if signers.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                count: signers.len(),
                max: MAX_SIGNATURES,
            });
        }
        let mut out = String::with_capacity(text.len() + 1 + signers.len() * 110);
        out.push_str(text);
        out.push('\n');
        for signer in signers {
            out.push_str(&signer.signature_line(text));
        }
        Ok(out)
    }

    /// Serialises the note: text, blank line, signature lines.
    pub fn to_text(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for sig in &self.signatures {
            out.push_str(&sig.to_line());
        }
        out
    }

    /// Verifies the note against known keys and returns the keys whose signatures verified,
    /// each once, in order of first appearance.
    ///
    /// Signature lines whose name and key ID do not both match a known key are ignored. A line
    /// that matches a known key but does not verify rejects the whole note. Cosignature keys
    /// (type `0x04`) are skipped here; check them with [`verify_cosignature`]. If no known key
    /// verified, the error is [`NoteError::UnverifiedNote`].
    pub fn verify(&self, known: &[VerifierKey]) -> Result<Vec<VerifierKey>, NoteError> {
        let mut verified: Vec<VerifierKey> = Vec::new();
        for sig in &self.signatures {
            let candidates: Vec<&VerifierKey> = known
                .iter()
                .filter(|k| k.matches(sig) && k.sig_type() != SIG_COSIGNATURE_V1)
                .collect();
            if candidates.is_empty() {
                continue;
            }
            // Name and key ID should identify one key; if the caller configured colliding keys,
            // the line stands if one of them verifies it.
            let good = candidates
                .into_iter()
                .find(|k| k.verify(self.text.as_bytes(), &sig.signature));
            match good {
                Some(k) => {
                    if !verified.contains(k) {
                        verified.push(k.clone());
                    }
                }
                None => {
                    return Err(NoteError::BadSignature {
                        name: sig.name.clone(),
                        key_id: hex4(sig.key_id),
                    });
                }
            }
        }
        if verified.is_empty() {
            Err(NoteError::UnverifiedNote)
        } else {
            Ok(verified)
        }
    }
}

/// The message a `cosignature/v1` signs: `"cosignature/v1\ntime <T>\n"` then the checkpoint
/// body (with its final newline, without signature lines).
pub fn cosigned_message(checkpoint_body: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_body}")
}

/// Largest timestamp a cosignature may carry.
const MAX_COSIGNATURE_TIME: u64 = i64::MAX as u64;

/// A witness key making `cosignature/v1` signatures (type `0x04`). The private key is wiped on
/// drop and never shown by `Debug`.
pub struct CosignatureSigner {
    key: ed25519_dalek::SigningKey,
    verifier: VerifierKey,
}

// `ed25519_dalek::SigningKey` wipes itself when dropped; the rest is public.
impl ZeroizeOnDrop for CosignatureSigner {}

impl fmt::Debug for CosignatureSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosignatureSigner")
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

impl CosignatureSigner {
    /// Makes a witness key from a 32-byte Ed25519 seed (from a secure random source).
    pub fn new(name: &str, seed: [u8; 32]) -> Result<Self, NoteError> {
        let mut seed = Zeroizing::new(seed);
        check_name(name)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        seed.zeroize();
        let verifier = VerifierKey::new(name, &ed25519_material(SIG_COSIGNATURE_V1, &key))?;
        Ok(CosignatureSigner { key, verifier })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex keyid>+<base64(0x04||seed)>` (Tianping's own encoding
    /// of a witness key: the signed-note skey layout with type byte `0x04`).
    pub fn parse(skey: &str) -> Result<Self, NoteError> {
        let SkeyParts {
            name,
            key_id: id,
            bytes,
        } = split_skey(skey)?;
        if bytes[0] != SIG_COSIGNATURE_V1 {
            return Err(NoteError::WrongKeyType {
                expected: SIG_COSIGNATURE_V1,
                found: bytes[0],
            });
        }
        let seed = secret32(&bytes[1..])?;
        let signer = CosignatureSigner::new(name, *seed)?;
        check_skey_id(&signer.verifier, id)?;
        Ok(signer)
    }

    /// Encodes the key in the format [`CosignatureSigner::parse`] reads; wiped on drop.
    pub fn to_skey(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(self.key.to_bytes());
        encode_skey(
            &self.verifier.name,
            self.verifier.key_id,
            &[SIG_COSIGNATURE_V1],
            &*seed,
        )
    }

    /// The witness's verifier key (type `0x04`).
    pub fn verifier(&self) -> VerifierKey {
        self.verifier.clone()
    }

    /// The witness name.
    pub fn name(&self) -> &str {
        &self.verifier.name
    }

    /// Cosigns a checkpoint body at `timestamp` (POSIX seconds). The spec caps timestamps at
    /// 2^63-1; larger values, which no real clock produces, are clamped to it so the output is
    /// always valid. The returned line carries the timestamp actually signed.
    pub fn cosign(&self, checkpoint_body: &str, timestamp: u64) -> NoteSignature {
        let timestamp = timestamp.min(MAX_COSIGNATURE_TIME);
        let msg = cosigned_message(checkpoint_body, timestamp);
        let mut signature = Vec::with_capacity(COSIGNATURE_LEN);
        signature.extend_from_slice(&timestamp.to_be_bytes());
        signature.extend_from_slice(&self.key.sign(msg.as_bytes()).to_bytes());
        NoteSignature {
            name: self.verifier.name.clone(),
            key_id: self.verifier.key_id,
            signature,
        }
    }
}

/// Verifies a cosignature line against a `0x04` witness key and returns its timestamp.
///
/// The line's name and key ID must be the key's. The signature must be 72 bytes, its timestamp
/// at most 2^63-1, and the Ed25519 signature must verify (under the module's rule) over
/// [`cosigned_message`]. Whether the timestamp is acceptably recent is the caller's policy.
pub fn verify_cosignature(
    key: &VerifierKey,
    checkpoint_body: &str,
    sig: &NoteSignature,
) -> Result<u64, NoteError> {
    if key.sig_type() != SIG_COSIGNATURE_V1 {
        return Err(NoteError::WrongKeyType {
            expected: SIG_COSIGNATURE_V1,
            found: key.sig_type(),
        });
    }
    if !key.matches(sig) {
        return Err(NoteError::KeyMismatch {
            name: sig.name.clone(),
            key_id: hex4(sig.key_id),
        });
    }
    if sig.signature.len() != COSIGNATURE_LEN {
        return Err(NoteError::BadSignatureLength {
            expected: COSIGNATURE_LEN,
            found: sig.signature.len(),
        });
    }
    let (ts, ed_sig) = sig.signature.split_at(8);
    let timestamp = u64::from_be_bytes(ts.try_into().expect("8 bytes"));
    if timestamp > MAX_COSIGNATURE_TIME {
        return Err(NoteError::TimestampOutOfRange(timestamp));
    }
    let PublicKey::Ed25519(vk) = &key.public else {
        // A 0x04 key always decodes to Ed25519.
        return Err(NoteError::WrongKeyType {
            expected: SIG_COSIGNATURE_V1,
            found: key.sig_type(),
        });
    };
    let msg = cosigned_message(checkpoint_body, timestamp);
    if ed25519_verify_with(vk, msg.as_bytes(), ed_sig) {
        Ok(timestamp)
    } else {
        Err(NoteError::BadSignature {
            name: sig.name.clone(),
            key_id: hex4(sig.key_id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_follow_the_spec() {
        for good in ["a", "example.com/log", "日志.example", "a-b_c.d/e~f"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "a b",
            "a+b",
            "a\tb",
            "a\u{a0}b",
            "a\u{2003}b",
            "a\u{85}b",
            "a\u{7f}",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_ids_are_eight_lowercase_hex_digits() {
        assert_eq!(parse_hex4("c74f20a3"), Some([0xc7, 0x4f, 0x20, 0xa3]));
        assert_eq!(hex4([0xc7, 0x4f, 0x20, 0xa3]), "c74f20a3");
        assert_eq!(hex4([0, 0, 0, 1]), "00000001");
        for bad in ["C74F20A3", "c74f20a", "c74f20a30", "+74f20a3", "g74f20a3", ""] {
            assert_eq!(parse_hex4(bad), None, "{bad}");
        }
    }

    #[test]
    fn key_strings_split_on_the_first_two_pluses() {
        assert_eq!(
            split_key_string("n+0011aabb+ab+c/d="),
            Some(("n", "0011aabb", "ab+c/d="))
        );
        assert_eq!(split_key_string("n+0011aabb"), None);
    }

    #[test]
    fn verify_rejects_other_key_types_and_lengths() {
        let signer = NoteSigner::generate_ed25519("k.example", [3; 32]).unwrap();
        let msg = b"m\n";
        let sig = signer.sign(msg);
        assert!(signer.verifier().verify(msg, &sig));
        assert!(!signer.verifier().verify(msg, &sig[..63]));
        let mut long = sig.clone();
        long.push(0);
        assert!(!signer.verifier().verify(msg, &long));
        // The same key as a cosignature key refuses plain verification.
        let mut material = signer.verifier().key_material().to_vec();
        material[0] = SIG_COSIGNATURE_V1;
        let cosig_key = VerifierKey::new("k.example", &material).unwrap();
        assert_ne!(cosig_key.key_id(), signer.key_id());
        assert!(!cosig_key.verify(msg, &sig));
    }

    #[test]
    fn errors_render_readably() {
        let e = NoteError::BadSignature {
            name: "a".into(),
            key_id: "00000001".into(),
        };
        assert_eq!(e.to_string(), "signature by known key a+00000001 does not verify");
        assert_eq!(
            NoteError::UnsupportedSignatureType(5).to_string(),
            "unsupported signature type 0x05"
        );
    }
}
