//! Chunked streaming encryption for large blobs (recordings).
//!
//! A blob is a sequence of chunks of [`CHUNK_SIZE`] plaintext bytes (the last may be shorter; it is empty only
//! when the whole blob is empty), each sealed on its own, so a 1 GiB recording is never held whole in memory.
//! This is the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár, "Online Authenticated-Encryption
//! and its Nonce-Reuse Misuse-Resistance" (CRYPTO 2015, §7): chunk `i` is sealed under the nonce
//! `prefix (7) || i (u32 big-endian) || last flag (0x00 / 0x01)`, so
//!
//! - reordering chunks fails (the index is in the nonce and in the associated data),
//! - truncation fails (only the real final chunk opens with `last = true`; a reader that runs out of chunks
//!   without having opened one with `last = true` must report the blob as truncated),
//! - splicing chunks from another blob fails (another blob has another random prefix and another `aad`).
//!
//! The associated data of chunk `i` is `aad base || i (u32 BE) || last flag`; the base binds the blob to its
//! record and is passed by the caller (build it with [`crate::aad`]).
//!
//! The nonce prefix is random per blob and stored with its record. With one key shared by `n` blobs, two
//! prefixes of 56 bits collide with probability about `n² / 2^57`; a fresh data key per blob (or per record)
//! makes this moot and is the intended use.
//!
//! Reading a sealed blob: read [`StreamKey::sealed_len`]`(CHUNK_SIZE)` bytes at a time; a shorter read is the
//! final chunk, which is opened with `last = true`.

use zeroize::Zeroizing;

use crate::aead::{Cipher, CryptoError, NONCE_LEN, SecretKey, TAG_LEN};

/// Plaintext bytes per chunk. Every chunk but the last has exactly this many; the last has at most this many
/// and is empty only when the whole blob is.
pub const CHUNK_SIZE: usize = 1 << 20;

/// Bytes of the random per-blob nonce prefix.
pub const NONCE_PREFIX_LEN: usize = 7;

/// The key, suite, nonce prefix and associated-data base of one blob.
#[derive(Debug, Clone)]
pub struct StreamKey {
    cipher: Cipher,
    key: SecretKey,
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    aad: Vec<u8>,
}

impl StreamKey {
    /// `nonce_prefix` is random per blob (stored with the record, see [`random_nonce_prefix`]); `aad` binds
    /// the blob to its record.
    pub fn new(
        cipher: Cipher,
        key: SecretKey,
        nonce_prefix: [u8; NONCE_PREFIX_LEN],
        aad: Vec<u8>,
    ) -> StreamKey {
        StreamKey {
            cipher,
            key,
            nonce_prefix,
            aad,
        }
    }

    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    pub fn nonce_prefix(&self) -> [u8; NONCE_PREFIX_LEN] {
        self.nonce_prefix
    }

    /// Seals chunk `index` (`ciphertext || tag`). `last` is true for the final chunk only.
    ///
    /// # Panics
    /// If the key does not have the suite's key length (a programming error: keys come from
    /// [`Cipher::generate_key`] or [`Cipher::unwrap_key`]).
    pub fn seal_chunk(&self, index: u32, last: bool, plaintext: &[u8]) -> Vec<u8> {
        self.cipher.seal_with_nonce(
            &self.key,
            &self.nonce(index, last),
            &self.chunk_aad(index, last),
            plaintext,
        )
    }

    /// Opens chunk `index`. Any change to the chunk, its position, its final flag, the prefix or the
    /// associated data gives [`CryptoError::Authentication`] and no plaintext.
    pub fn open_chunk(
        &self,
        index: u32,
        last: bool,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < TAG_LEN {
            return Err(CryptoError::Malformed("chunk shorter than its tag"));
        }
        self.cipher.open_with_nonce(
            &self.key,
            &self.nonce(index, last),
            &self.chunk_aad(index, last),
            sealed,
        )
    }

    /// Sealed size of a chunk of `plaintext_len` bytes (the tag adds 16).
    pub fn sealed_len(plaintext_len: usize) -> usize {
        plaintext_len + TAG_LEN
    }

    fn nonce(&self, index: u32, last: bool) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..NONCE_PREFIX_LEN].copy_from_slice(&self.nonce_prefix);
        nonce[NONCE_PREFIX_LEN..NONCE_LEN - 1].copy_from_slice(&index.to_be_bytes());
        nonce[NONCE_LEN - 1] = u8::from(last);
        nonce
    }

    fn chunk_aad(&self, index: u32, last: bool) -> Vec<u8> {
        let mut aad = Vec::with_capacity(self.aad.len() + 5);
        aad.extend_from_slice(&self.aad);
        aad.extend_from_slice(&index.to_be_bytes());
        aad.push(u8::from(last));
        aad
    }
}

/// A fresh random nonce prefix for a new blob.
///
/// # Panics
/// If the operating system cannot provide randomness.
pub fn random_nonce_prefix() -> [u8; NONCE_PREFIX_LEN] {
    let mut prefix = [0u8; NONCE_PREFIX_LEN];
    crate::fill_random(&mut prefix);
    prefix
}
