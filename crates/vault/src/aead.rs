//! Authenticated encryption for the vault: AES-256-GCM and SM4-GCM (RFC 8998), one-shot sealing with a
//! random nonce, explicit-nonce sealing for the STREAM construction, and key wrapping.
//!
//! Sealed format of [`Cipher::seal`]: `nonce (12) || ciphertext || tag (16)`. The nonce is 96 random bits, so
//! one key may seal up to about 2^32 messages before the chance of a nonce collision matters (NIST SP 800-38D
//! §8.3); keys that seal more than that must be rotated.
//!
//! Plaintext only ever lives in [`Zeroizing`] buffers here: opening copies the ciphertext into a zeroizing
//! buffer, checks the tag and only then decrypts in place, so a failed open yields no plaintext at all.
//!
//! A key of the wrong length is an error ([`CryptoError::KeyLength`]) on every opening path. The sealing
//! paths have infallible signatures: keys that seal come from [`Cipher::generate_key`] or
//! [`Cipher::unwrap_key`], which give the right length, so sealing with any other key is a programming
//! error and panics; the `try_` variants return the error instead.

use std::fmt;

use aes_gcm::aead::consts::U12;
use aes_gcm::{AeadInPlace, Aes256Gcm, AesGcm, KeyInit, Nonce, Tag};
use zeroize::Zeroizing;

/// SM4-GCM as specified by RFC 8998: GCM over the SM4 block cipher, 96-bit nonce, 128-bit tag.
type Sm4Gcm = AesGcm<sm4::Sm4, U12>;

/// Bytes of nonce in front of a sealed message.
pub const NONCE_LEN: usize = 12;
/// Bytes of authentication tag at the end of a sealed message.
pub const TAG_LEN: usize = 16;

/// The vault's AEAD suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    /// AES-256 in Galois/Counter Mode (NIST SP 800-38D).
    Aes256Gcm,
    /// SM4 in Galois/Counter Mode (GB/T 32907 block cipher, RFC 8998).
    Sm4Gcm,
}

/// Secret key bytes, zeroized on drop. `Debug` shows only the length.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<Vec<u8>>);

impl SecretKey {
    /// Copies `b` into a new key. The caller stays responsible for wiping its own copy.
    pub fn from_bytes(b: &[u8]) -> SecretKey {
        SecretKey(Zeroizing::new(b.to_vec()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({} bytes)", self.0.len())
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The tag did not verify: wrong key, wrong associated data, wrong nonce or altered bytes. Deliberately
    /// one error for all of them.
    #[error("wrong key or tampered ciphertext")]
    Authentication,
    #[error("malformed ciphertext: {0}")]
    Malformed(&'static str),
    #[error("key has {got} bytes; {want} expected")]
    KeyLength { got: usize, want: usize },
}

impl fmt::Display for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Cipher {
    /// The suite's stable name, as stored next to sealed records.
    pub fn name(self) -> &'static str {
        match self {
            Cipher::Aes256Gcm => "aes-256-gcm",
            Cipher::Sm4Gcm => "sm4-gcm",
        }
    }

    /// The inverse of [`Cipher::name`] (exact match).
    pub fn parse(s: &str) -> Option<Cipher> {
        match s {
            "aes-256-gcm" => Some(Cipher::Aes256Gcm),
            "sm4-gcm" => Some(Cipher::Sm4Gcm),
            _ => None,
        }
    }

    /// Key length in bytes: 32 for AES-256-GCM, 16 for SM4-GCM.
    pub fn key_len(self) -> usize {
        match self {
            Cipher::Aes256Gcm => 32,
            Cipher::Sm4Gcm => 16,
        }
    }

    /// A fresh random key (see [`crate::fill_random`]).
    ///
    /// # Panics
    /// If the operating system cannot provide randomness.
    pub fn generate_key(self) -> SecretKey {
        let mut key = Zeroizing::new(vec![0u8; self.key_len()]);
        crate::fill_random(&mut key);
        SecretKey(key)
    }

    /// Seals `plaintext` under a fresh random nonce: `nonce (12) || ciphertext || tag (16)`.
    ///
    /// # Panics
    /// If `key` does not have [`Cipher::key_len`] bytes (see [`Cipher::try_seal`]), or if the operating
    /// system cannot provide randomness.
    pub fn seal(self, key: &SecretKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        self.try_seal(key, aad, plaintext)
            .unwrap_or_else(|e| panic!("sealing with {self}: {e}"))
    }

    /// [`Cipher::seal`] that reports a key of the wrong length instead of panicking.
    pub fn try_seal(self, key: &SecretKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        crate::fill_random(&mut nonce);
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self.seal_in_place(key, &nonce, aad, &mut out[NONCE_LEN..])?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Opens the output of [`Cipher::seal`].
    pub fn open(self, key: &SecretKey, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.check_key(key)?;
        let Some((nonce, ct_and_tag)) = sealed.split_first_chunk::<NONCE_LEN>() else {
            return Err(CryptoError::Malformed("shorter than nonce and tag"));
        };
        if ct_and_tag.len() < TAG_LEN {
            return Err(CryptoError::Malformed("shorter than nonce and tag"));
        }
        self.open_with_nonce(key, nonce, aad, ct_and_tag)
    }

    /// Seals under a caller-chosen nonce, returning `ciphertext || tag (16)`. The caller must never use a
    /// nonce twice with one key.
    ///
    /// # Panics
    /// If `key` does not have [`Cipher::key_len`] bytes (see [`Cipher::try_seal_with_nonce`]).
    pub fn seal_with_nonce(
        self,
        key: &SecretKey,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Vec<u8> {
        self.try_seal_with_nonce(key, nonce, aad, plaintext)
            .unwrap_or_else(|e| panic!("sealing with {self}: {e}"))
    }

    /// [`Cipher::seal_with_nonce`] that reports a key of the wrong length instead of panicking.
    pub fn try_seal_with_nonce(
        self,
        key: &SecretKey,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
        out.extend_from_slice(plaintext);
        let tag = self.seal_in_place(key, nonce, aad, &mut out)?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Opens `ciphertext || tag` sealed under `nonce`. Returns the plaintext only if the tag verifies.
    pub fn open_with_nonce(
        self,
        key: &SecretKey,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ct_and_tag: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.check_key(key)?;
        let Some((ct, tag)) = ct_and_tag.split_last_chunk::<TAG_LEN>() else {
            return Err(CryptoError::Malformed("shorter than the tag"));
        };
        let mut buf = Zeroizing::new(ct.to_vec());
        let nonce = Nonce::<U12>::from(*nonce);
        let tag = Tag::from(*tag);
        // aes-gcm checks the tag before it decrypts; on failure `buf` still holds only ciphertext.
        let result = match self {
            Cipher::Aes256Gcm => {
                aes256(key)?.decrypt_in_place_detached(&nonce, aad, buf.as_mut_slice(), &tag)
            }
            Cipher::Sm4Gcm => sm4gcm(key)?.decrypt_in_place_detached(&nonce, aad, buf.as_mut_slice(), &tag),
        };
        result.map_err(|_| CryptoError::Authentication)?;
        Ok(buf)
    }

    /// Wraps (seals) `key` under the key-encryption key `kek`, binding it to `aad`. `key` is a key of this
    /// same suite.
    ///
    /// # Panics
    /// If `kek` or `key` does not have [`Cipher::key_len`] bytes (see [`Cipher::try_wrap_key`]).
    pub fn wrap_key(self, kek: &SecretKey, aad: &[u8], key: &SecretKey) -> Vec<u8> {
        self.try_wrap_key(kek, aad, key)
            .unwrap_or_else(|e| panic!("wrapping a key with {self}: {e}"))
    }

    /// [`Cipher::wrap_key`] that reports a key of the wrong length instead of panicking.
    pub fn try_wrap_key(self, kek: &SecretKey, aad: &[u8], key: &SecretKey) -> Result<Vec<u8>, CryptoError> {
        self.check_key(key)?;
        self.try_seal(kek, aad, key.as_bytes())
    }

    /// Unwraps a key made by [`Cipher::wrap_key`]; the unwrapped key must have [`Cipher::key_len`] bytes.
    pub fn unwrap_key(self, kek: &SecretKey, aad: &[u8], wrapped: &[u8]) -> Result<SecretKey, CryptoError> {
        let bytes = self.open(kek, aad, wrapped)?;
        let key = SecretKey(bytes);
        self.check_key(&key)?;
        Ok(key)
    }

    fn check_key(self, key: &SecretKey) -> Result<(), CryptoError> {
        if key.len() == self.key_len() {
            Ok(())
        } else {
            Err(CryptoError::KeyLength {
                got: key.len(),
                want: self.key_len(),
            })
        }
    }

    /// Encrypts `buf` in place and returns the tag.
    fn seal_in_place(
        self,
        key: &SecretKey,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        self.check_key(key)?;
        let nonce = Nonce::<U12>::from(*nonce);
        let tag = match self {
            Cipher::Aes256Gcm => aes256(key)?.encrypt_in_place_detached(&nonce, aad, buf),
            Cipher::Sm4Gcm => sm4gcm(key)?.encrypt_in_place_detached(&nonce, aad, buf),
        };
        // The only failure is a plaintext above 2^36 bytes or associated data above 2^61 bytes.
        let tag = tag.map_err(|_| CryptoError::Malformed("plaintext or associated data too long for GCM"))?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(&tag);
        Ok(out)
    }
}

fn aes256(key: &SecretKey) -> Result<Aes256Gcm, CryptoError> {
    Aes256Gcm::new_from_slice(key.as_bytes()).map_err(|_| CryptoError::KeyLength {
        got: key.len(),
        want: 32,
    })
}

fn sm4gcm(key: &SecretKey) -> Result<Sm4Gcm, CryptoError> {
    Sm4Gcm::new_from_slice(key.as_bytes()).map_err(|_| CryptoError::KeyLength {
        got: key.len(),
        want: 16,
    })
}

/// Unambiguous associated data: each part as its length (u32 big-endian) followed by its bytes. Callers pass
/// a domain label as the first part, e.g. `aad(&[b"tianping/vault/content/v1", record_id])`.
///
/// # Panics
/// If a part is 4 GiB or longer.
pub fn aad(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| 4 + p.len()).sum());
    for part in parts {
        let len = u32::try_from(part.len()).expect("an associated-data part is shorter than 4 GiB");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}
