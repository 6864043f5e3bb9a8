//! The `c2sp.org/tlog-proof@v1` text format: a self-contained proof that an entry is in a log.
//!
//! A proof carries optional opaque extra data, the entry's index, a Merkle inclusion proof and the
//! signed checkpoint it is relative to. This module only handles the text format. The checkpoint is
//! kept as opaque verbatim text: checking its signatures, cosignatures and the inclusion proof
//! against its root hash happens elsewhere.
//!
//! Layout, one item per line, every line ending in `\n`:
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64>            (optional)
//! index <decimal>
//! <base64 hash>             (zero or more, each 32 bytes)
//!                           (empty line)
//! <checkpoint note, verbatim>
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::hash::Hash;

/// First line of every tlog proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Most inclusion-proof hashes accepted. A tree with fewer than 2^64 leaves never needs more
/// than 63, so anything longer is malformed.
pub const MAX_PROOF_HASHES: usize = 64;

const EXTRA_PREFIX: &str = "extra ";
const INDEX_PREFIX: &str = "index ";

/// A parsed `c2sp.org/tlog-proof@v1` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque, unauthenticated application data from the `extra` line. When present it is
    /// non-empty (an empty `extra` line is not allowed).
    pub extra: Option<Vec<u8>>,
    /// Zero-based index of the entry in the log.
    pub index: u64,
    /// Inclusion proof, from the leaf's sibling up to the root's child.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim. Non-empty, first line non-empty, ends in `\n`.
    pub checkpoint: String,
}

/// Why a tlog proof was rejected. Line numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogProofError {
    #[error("line {line}: carriage return (U+000D) is not allowed in a tlog proof")]
    CarriageReturn { line: usize },
    #[error("line 1: expected header {TLOG_PROOF_HEADER:?}")]
    BadHeader,
    #[error("line {line}: unexpected end of proof, expected {expected}")]
    Truncated { line: usize, expected: &'static str },
    #[error("line {line}: extra data is not canonical, padded, non-empty standard base64")]
    BadExtra { line: usize },
    #[error("line {line}: expected \"index <decimal>\"")]
    MissingIndex { line: usize },
    #[error("line {line}: index must be a decimal number without leading zeros that fits in 64 bits")]
    BadIndex { line: usize },
    #[error("line {line}: proof hash is not canonical standard base64 of exactly 32 bytes")]
    BadHash { line: usize },
    #[error("line {line}: more than {MAX_PROOF_HASHES} inclusion proof hashes")]
    TooManyHashes { line: usize },
    #[error("line {line}: the checkpoint after the empty line is missing or starts with an empty line")]
    EmptyCheckpoint { line: usize },
    #[error("line {line}: the checkpoint does not end with a newline")]
    CheckpointNotTerminated { line: usize },
}

/// Decodes canonical, padded standard base64: re-encoding the bytes must give back `s` exactly.
fn decode_canonical(s: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD.decode(s).ok()?;
    if STANDARD.encode(&bytes) == s {
        Some(bytes)
    } else {
        None
    }
}

/// Parses a decimal `u64` written without sign and without leading zeros (except `0` itself).
fn parse_index(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) || (b.len() > 1 && b[0] == b'0') {
        return None;
    }
    s.parse().ok()
}

/// Splits off the next `\n`-terminated line at `pos`, returning it without the newline and the
/// position after it. `None` when no complete line remains.
fn next_line(text: &str, pos: usize) -> Option<(&str, usize)> {
    let rest = &text[pos..];
    let end = rest.find('\n')?;
    Some((&rest[..end], pos + end + 1))
}

impl TlogProof {
    /// Parses a tlog proof strictly. Everything up to and including the empty line that ends the
    /// inclusion proof is checked exactly; what follows is taken verbatim as the checkpoint.
    pub fn parse(text: &str) -> Result<Self, TlogProofError> {
        if let Some(cr) = text.find('\r') {
            let line = 1 + text[..cr].bytes().filter(|&b| b == b'\n').count();
            return Err(TlogProofError::CarriageReturn { line });
        }

        let mut line_no = 1;
        let mut pos = 0;

        // Header.
        let (header, after) = next_line(text, pos).ok_or(TlogProofError::BadHeader)?;
        if header != TLOG_PROOF_HEADER {
            return Err(TlogProofError::BadHeader);
        }
        pos = after;
        line_no += 1;

        // Optional extra line, then the index line.
        let (mut line, mut after) = next_line(text, pos).ok_or(TlogProofError::Truncated {
            line: line_no,
            expected: "an index line",
        })?;
        let mut extra = None;
        if let Some(encoded) = line.strip_prefix(EXTRA_PREFIX) {
            let bytes = decode_canonical(encoded)
                .filter(|b| !b.is_empty())
                .ok_or(TlogProofError::BadExtra { line: line_no })?;
            extra = Some(bytes);
            pos = after;
            line_no += 1;
            (line, after) = next_line(text, pos).ok_or(TlogProofError::Truncated {
                line: line_no,
                expected: "an index line",
            })?;
        } else if line == "extra" {
            return Err(TlogProofError::BadExtra { line: line_no });
        }
        let digits = line
            .strip_prefix(INDEX_PREFIX)
            .ok_or(TlogProofError::MissingIndex { line: line_no })?;
        let index = parse_index(digits).ok_or(TlogProofError::BadIndex { line: line_no })?;
        pos = after;
        line_no += 1;

        // Inclusion proof hashes, up to the empty line.
        let mut proof = Vec::new();
        loop {
            let (line, after) = next_line(text, pos).ok_or(TlogProofError::Truncated {
                line: line_no,
                expected: "a proof hash or the empty line before the checkpoint",
            })?;
            pos = after;
            if line.is_empty() {
                line_no += 1;
                break;
            }
            if proof.len() == MAX_PROOF_HASHES {
                return Err(TlogProofError::TooManyHashes { line: line_no });
            }
            let hash: Hash = decode_canonical(line)
                .and_then(|b| b.try_into().ok())
                .ok_or(TlogProofError::BadHash { line: line_no })?;
            proof.push(hash);
            line_no += 1;
        }

        // The checkpoint, verbatim.
        let checkpoint = &text[pos..];
        if checkpoint.is_empty() || checkpoint.starts_with('\n') {
            return Err(TlogProofError::EmptyCheckpoint { line: line_no });
        }
        if !checkpoint.ends_with('\n') {
            let last = line_no + checkpoint.bytes().filter(|&b| b == b'\n').count();
            return Err(TlogProofError::CheckpointNotTerminated { line: last });
        }

        Ok(TlogProof {
            extra,
            index,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }

    /// Serializes the proof. For any value produced by [`TlogProof::parse`] this gives back the
    /// parsed text byte for byte. Values built by hand must respect the field invariants (non-empty
    /// `extra` when present, at most [`MAX_PROOF_HASHES`] hashes, a well-formed checkpoint) for
    /// the output to parse again.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(64 + 45 * self.proof.len() + self.checkpoint.len());
        out.push_str(TLOG_PROOF_HEADER);
        out.push('\n');
        if let Some(extra) = &self.extra {
            out.push_str(EXTRA_PREFIX);
            out.push_str(&STANDARD.encode(extra));
            out.push('\n');
        }
        out.push_str(INDEX_PREFIX);
        out.push_str(&self.index.to_string());
        out.push('\n');
        for hash in &self.proof {
            out.push_str(&STANDARD.encode(hash));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_example() -> String {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/vectors/c2sp-spec-examples/spec_examples.json"
        );
        let raw = std::fs::read_to_string(path).expect("spec example vectors are readable");
        let json: serde_json::Value = serde_json::from_str(&raw).expect("vector file is JSON");
        json["tlog_proof_example"]["text"]
            .as_str()
            .expect("tlog_proof_example.text is a string")
            .to_owned()
    }

    const CHECKPOINT: &str =
        "example.com/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} example.com/log AAAA\n";

    fn sample() -> TlogProof {
        TlogProof {
            extra: Some(b"some extra data".to_vec()),
            index: 2,
            proof: vec![[0x11; 32], [0x22; 32]],
            checkpoint: CHECKPOINT.to_owned(),
        }
    }

    #[test]
    fn spec_example_parses() {
        let text = spec_example();
        let p = TlogProof::parse(&text).expect("spec example parses");
        assert_eq!(p.index, 73894);
        assert_eq!(p.proof.len(), 5);
        let extra = p.extra.as_deref().expect("extra present");
        assert!(extra.starts_with(b"age-v1.2.1-darwin-arm64.tar.gz"));
        assert_eq!(
            STANDARD.encode(p.proof[0]),
            "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ="
        );
        assert!(p.checkpoint.starts_with("example.com/fancylog\n109482\n"));
        assert!(p.checkpoint.ends_with("3oEcROGLFQ==\n"));
        assert_eq!(p.to_text(), text);
    }

    #[test]
    fn round_trips() {
        for p in [
            sample(),
            TlogProof {
                extra: None,
                index: 0,
                proof: vec![],
                checkpoint: CHECKPOINT.to_owned(),
            },
            TlogProof {
                extra: Some(vec![0xff]),
                index: u64::MAX,
                proof: vec![[0xab; 32]; MAX_PROOF_HASHES],
                checkpoint: CHECKPOINT.to_owned(),
            },
        ] {
            let text = p.to_text();
            let parsed = TlogProof::parse(&text).expect("serialized proof parses");
            assert_eq!(parsed, p);
            assert_eq!(parsed.to_text(), text);
        }
    }

    #[test]
    fn layout_is_exact() {
        let text = sample().to_text();
        let expected = format!(
            "c2sp.org/tlog-proof@v1\nextra c29tZSBleHRyYSBkYXRh\nindex 2\n{}\n{}\n\n{}",
            STANDARD.encode([0x11; 32]),
            STANDARD.encode([0x22; 32]),
            CHECKPOINT
        );
        assert_eq!(text, expected);
    }

    fn parse_err(text: &str) -> TlogProofError {
        TlogProof::parse(text).expect_err("must be rejected")
    }

    #[test]
    fn rejects_bad_header() {
        let good = sample().to_text();
        let text = good.replacen("@v1", "@v2", 1);
        assert_eq!(parse_err(&text), TlogProofError::BadHeader);
        let text = format!(" {good}");
        assert_eq!(parse_err(&text), TlogProofError::BadHeader);
        assert_eq!(parse_err(""), TlogProofError::BadHeader);
        assert_eq!(parse_err(TLOG_PROOF_HEADER), TlogProofError::BadHeader);
    }

    #[test]
    fn rejects_bad_index() {
        let good = sample().to_text();
        for bad in [
            "index 02",
            "index 00",
            "index +2",
            "index -2",
            "index ",
            "index 2 ",
            "index  2",
            "index 18446744073709551616",
            "index 0x2",
        ] {
            let text = good.replacen("index 2", bad, 1);
            assert_eq!(parse_err(&text), TlogProofError::BadIndex { line: 3 }, "{bad}");
        }
        let text = good.replacen("index 2", "Index 2", 1);
        assert_eq!(parse_err(&text), TlogProofError::MissingIndex { line: 3 });
        let text = good.replacen("index 2\n", "", 1);
        assert_eq!(parse_err(&text), TlogProofError::MissingIndex { line: 3 });
    }

    #[test]
    fn rejects_bad_hashes() {
        let good = sample().to_text();
        let first = STANDARD.encode([0x11; 32]);
        // 31 and 33 bytes.
        for bad in [STANDARD.encode([0x11; 31]), STANDARD.encode([0x11; 33])] {
            let text = good.replacen(&first, &bad, 1);
            assert_eq!(parse_err(&text), TlogProofError::BadHash { line: 4 });
        }
        // Unpadded, non-canonical trailing bits, URL-safe alphabet, trailing space.
        let unpadded = first.trim_end_matches('=').to_owned();
        let mut noncanonical = first.clone();
        noncanonical.replace_range(42..43, "F"); // last data char of [0x11;32] is 'E'
        let urlsafe = STANDARD.encode([0xfb; 32]).replace('+', "-").replace('/', "_");
        for bad in [unpadded, noncanonical, urlsafe, format!("{first} ")] {
            let text = good.replacen(&first, &bad, 1);
            assert_eq!(parse_err(&text), TlogProofError::BadHash { line: 4 }, "{bad}");
        }
    }

    #[test]
    fn rejects_too_many_hashes() {
        let mut p = sample();
        p.proof = vec![[7; 32]; MAX_PROOF_HASHES + 1];
        assert_eq!(
            parse_err(&p.to_text()),
            TlogProofError::TooManyHashes {
                line: 4 + MAX_PROOF_HASHES
            }
        );
    }

    #[test]
    fn rejects_bad_extra() {
        let good = sample().to_text();
        let enc = STANDARD.encode(b"some extra data");
        for bad in [
            "extra ".to_owned(),
            "extra".to_owned(),
            format!("extra  {enc}"),
            format!("extra {enc}="),
            "extra eA".to_owned(),   // "x" without its padding
            "extra AB==".to_owned(), // non-zero trailing bits
            "extra @@@@".to_owned(),
        ] {
            let text = good.replacen(&format!("extra {enc}"), &bad, 1);
            assert_eq!(parse_err(&text), TlogProofError::BadExtra { line: 2 }, "{bad}");
        }
        // An extra line after the index is not a hash.
        let text = good.replacen(
            &format!("extra {enc}\nindex 2\n"),
            &format!("index 2\nextra {enc}\n"),
            1,
        );
        assert_eq!(parse_err(&text), TlogProofError::BadHash { line: 3 });
    }

    #[test]
    fn rejects_missing_blank_line_and_checkpoint() {
        let p = sample();
        let good = p.to_text();
        // No empty line between the proof and the checkpoint: the checkpoint's origin line is
        // then read as a proof hash.
        let text = good.replacen("\n\nexample.com/log", "\nexample.com/log", 1);
        assert_eq!(parse_err(&text), TlogProofError::BadHash { line: 6 });
        // Text stops after the hashes.
        let cut = good.find("\n\nexample.com/log").unwrap() + 1;
        assert!(matches!(
            parse_err(&good[..cut]),
            TlogProofError::Truncated { line: 6, .. }
        ));
        // Empty line present, checkpoint absent or starting with an empty line.
        assert_eq!(
            parse_err(&good[..cut + 1]),
            TlogProofError::EmptyCheckpoint { line: 7 }
        );
        let text = good.replacen("\n\nexample.com/log", "\n\n\nexample.com/log", 1);
        assert_eq!(parse_err(&text), TlogProofError::EmptyCheckpoint { line: 7 });
        // Checkpoint without its final newline.
        assert_eq!(
            parse_err(&good[..good.len() - 1]),
            TlogProofError::CheckpointNotTerminated { line: 11 }
        );
        // Header only, header and extra only.
        assert!(matches!(
            parse_err("c2sp.org/tlog-proof@v1\n"),
            TlogProofError::Truncated { line: 2, .. }
        ));
        let enc = STANDARD.encode(b"x");
        assert!(matches!(
            parse_err(&format!("c2sp.org/tlog-proof@v1\nextra {enc}\n")),
            TlogProofError::Truncated { line: 3, .. }
        ));
    }

    #[test]
    fn rejects_carriage_returns() {
        let good = sample().to_text();
        let text = good.replacen("index 2\n", "index 2\r\n", 1);
        assert_eq!(parse_err(&text), TlogProofError::CarriageReturn { line: 3 });
        let text = good.replace('\n', "\r\n");
        assert_eq!(parse_err(&text), TlogProofError::CarriageReturn { line: 1 });
        // Also inside the otherwise opaque checkpoint.
        let text = good.replacen("example.com/log\n3", "example.com/log\r\n3", 1);
        assert_eq!(parse_err(&text), TlogProofError::CarriageReturn { line: 7 });
    }

    #[test]
    fn spec_example_corruptions() {
        let good = spec_example();
        assert!(TlogProof::parse(&good).is_ok());
        let text = good.replacen("index 73894", "index 073894", 1);
        assert_eq!(parse_err(&text), TlogProofError::BadIndex { line: 3 });
        let text = good.replacen(
            "AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=\n\n",
            "AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=\n",
            1,
        );
        assert_eq!(parse_err(&text), TlogProofError::BadHash { line: 9 });
        let text = good.replacen("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof", 1);
        assert_eq!(parse_err(&text), TlogProofError::BadHeader);
    }
}
