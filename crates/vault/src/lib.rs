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

/// Fill `buf` with cryptographically secure random bytes: the thread's ChaCha12 generator of `rand`
/// (`rand::rng()`), seeded from the operating system and reseeded from it after every 64 KiB of
/// output. Every key, nonce and salt of the vault comes from here.
///
/// Why not a system call per draw: a record draws five values (content key, salt, two nonces, the
/// record id), and on the log's append path those `getrandom` calls were a measurable share of
/// the appenders' CPU (docs/benchmarks.md). The generator is the one `rand` documents as
/// cryptographically secure; it never leaves the thread that uses it.
///
/// # Panics
/// If the operating system cannot provide the seed.
pub fn fill_random(buf: &mut [u8]) {
    use rand::Rng;
    rand::rng().fill_bytes(buf);
}

/// `N` random bytes (see [`fill_random`]), wiped on drop.
///
/// # Panics
/// If the operating system cannot provide the seed.
pub fn random_bytes<const N: usize>() -> Zeroizing<[u8; N]> {
    let mut b = Zeroizing::new([0u8; N]);
    fill_random(b.as_mut());
    b
}
