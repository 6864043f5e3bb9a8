//! The vault's cryptography, pure: AEAD sealing with AES-256-GCM or SM4-GCM ([`aead`]), key wrapping, and
//! chunked STREAM encryption of large blobs ([`stream`]). No I/O here except randomness from the operating
//! system; storage of keys and sealed records lives in other crates.
//!
//! Secrets are held in [`Zeroizing`] buffers ([`SecretKey`], opened plaintext) and wiped on drop, and their
//! `Debug` output never shows their bytes.

pub mod aead;
pub mod retention;
pub mod stream;

pub use aead::{Cipher, CryptoError, NONCE_LEN, SecretKey, TAG_LEN, aad};
pub use stream::{CHUNK_SIZE, NONCE_PREFIX_LEN, StreamKey, random_nonce_prefix};
pub use zeroize::Zeroizing;

/// `N` random bytes from the operating system, wiped on drop.
///
/// # Panics
/// If the operating system cannot provide randomness.
pub fn random_bytes<const N: usize>() -> Zeroizing<[u8; N]> {
    let mut b = Zeroizing::new([0u8; N]);
    getrandom::fill(b.as_mut()).expect("the operating system provides randomness");
    b
}
