//! The evidence log's pure core. Nothing in this crate does I/O: it turns bytes into hashes, proofs,
//! signatures and text formats, and back. Storage, sequencing and HTTP live in other crates.
//!
//! Architecture invariant: an [`envelope::Envelope`] is the only thing that becomes a log leaf, and it
//! holds metadata and a salted commitment, never content.

pub mod checkpoint;
pub mod envelope;
pub mod hash;
pub mod merkle;
pub mod note;
pub mod policy;
pub mod proof;
pub mod tile;
pub mod verify;

pub use hash::{Hash, HashAlg};
