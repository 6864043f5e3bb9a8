//! Transparency log checkpoints (`c2sp.org/tlog-checkpoint@v1.0.0`): a signed note whose text is
//! the origin line, the decimal tree size, the base64 root hash, and optional extension lines.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::hash::Hash;
use crate::note::{Note, NoteError, NoteSigner, VerifierKey};

/// A checkpoint body: the tree head a log commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Log identity. Non-empty. Usually a schema-less URL, but clients must not rely on that.
    pub origin: String,
    /// Number of leaves in the tree.
    pub size: u64,
    /// RFC 6962 / RFC 9162 Merkle tree root at `size`.
    pub root: Hash,
    /// Opaque, non-empty extension lines (without newlines). Not recommended by the spec.
    pub extensions: Vec<String>,
}

/// Errors from parsing and opening checkpoints.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum CheckpointError {
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error("checkpoint text must end with a newline")]
    MissingFinalNewline,
    #[error("checkpoint text contains control characters other than newline")]
    ControlCharacter,
    #[error("checkpoint needs origin, size and root lines")]
    MissingLines,
    #[error("checkpoint origin is empty")]
    EmptyOrigin,
    #[error("invalid tree size {0:?}: must be decimal without leading zeros")]
    InvalidSize(String),
    #[error("invalid root hash {0:?}: must be base64 of 32 bytes")]
    InvalidRoot(String),
    #[error("checkpoint extension lines must be non-empty")]
    EmptyExtension,
    #[error("no log key named after the origin {0:?}")]
    NoKeyForOrigin(String),
}

fn parse_size(s: &str) -> Result<u64, CheckpointError> {
    let bad = || CheckpointError::InvalidSize(s.to_owned());
    // `u64::from_str` would also take a leading '+'; allow digits only, and "0" as the only
    // number starting with 0.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return Err(bad());
    }
    s.parse::<u64>().map_err(|_| bad())
}

fn parse_root(s: &str) -> Result<Hash, CheckpointError> {
    let bad = || CheckpointError::InvalidRoot(s.to_owned());
    let bytes = B64.decode(s).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

impl Checkpoint {
    /// The note text: `origin\nsize\nbase64(root)\n`, then each extension line and a newline.
    pub fn body(&self) -> String {
        let mut out = format!("{}\n{}\n{}\n", self.origin, self.size, B64.encode(self.root));
        for ext in &self.extensions {
            out.push_str(ext);
            out.push('\n');
        }
        out
    }

    /// Parses a checkpoint body strictly: it ends with a newline and has no control characters
    /// other than newline; the origin is non-empty; the size is decimal with no leading zeros;
    /// the root is canonical base64 of exactly 32 bytes; any extension lines are non-empty.
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let content = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        if text.bytes().any(|b| b < 0x20 && b != b'\n') {
            return Err(CheckpointError::ControlCharacter);
        }
        let mut lines = content.split('\n');
        let origin = lines.next().ok_or(CheckpointError::MissingLines)?;
        let size = lines.next().ok_or(CheckpointError::MissingLines)?;
        let root = lines.next().ok_or(CheckpointError::MissingLines)?;
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let size = parse_size(size)?;
        let root = parse_root(root)?;
        let extensions = lines
            .map(|l| {
                if l.is_empty() {
                    Err(CheckpointError::EmptyExtension)
                } else {
                    Ok(l.to_owned())
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// Signs the checkpoint and returns the signed note text. The checkpoint must be
    /// well-formed: its body must parse back to the same checkpoint. Otherwise the error is
    /// [`NoteError::MalformedText`].
    pub fn sign(&self, signers: &[&NoteSigner]) -> Result<String, NoteError> {
        let body = self.body();
        match Checkpoint::parse_body(&body) {
            Ok(ref back) if back == self => {}
            Ok(_) => {
                return Err(NoteError::MalformedText(
                    "checkpoint fields contain newlines".into(),
                ));
            }
            Err(e) => return Err(NoteError::MalformedText(e.to_string())),
        }
        Note::sign(&body, signers)
    }
}

/// Opens a signed checkpoint: parses the note, verifies it with the log keys whose name equals
/// the checkpoint origin (other keys, and all unknown signatures, are ignored; a bad signature by
/// one of those keys rejects the note), and parses the body.
///
/// Witness cosignatures are not checked here; see [`crate::note::verify_cosignature`].
pub fn open_checkpoint(
    note_text: &str,
    log_keys: &[VerifierKey],
) -> Result<(Checkpoint, Note), CheckpointError> {
    let note = Note::parse(note_text)?;
    // The body is parsed only to learn which keys apply. Nothing from it is returned unless the
    // signature checks pass.
    let checkpoint = Checkpoint::parse_body(&note.text)?;
    let keys: Vec<VerifierKey> = log_keys
        .iter()
        .filter(|k| k.name() == checkpoint.origin)
        .cloned()
        .collect();
    if keys.is_empty() {
        return Err(CheckpointError::NoKeyForOrigin(checkpoint.origin));
    }
    note.verify(&keys)?;
    Ok((checkpoint, note))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp() -> Checkpoint {
        Checkpoint {
            origin: "example.com/log".into(),
            size: 42,
            root: [7u8; 32],
            extensions: vec![],
        }
    }

    #[test]
    fn body_round_trips() {
        let mut c = cp();
        assert_eq!(Checkpoint::parse_body(&c.body()).unwrap(), c);
        c.extensions = vec!["ext one".into(), "ext two".into()];
        let body = c.body();
        assert!(body.ends_with("ext one\next two\n"));
        assert_eq!(Checkpoint::parse_body(&body).unwrap(), c);
    }

    #[test]
    fn strict_body_parsing() {
        let root = B64.encode([7u8; 32]);
        let ok = format!("o\n0\n{root}\n");
        assert_eq!(Checkpoint::parse_body(&ok).unwrap().size, 0);
        let cases: Vec<(String, CheckpointError)> = vec![
            (format!("o\n0\n{root}"), CheckpointError::MissingFinalNewline),
            (format!("\n1\n{root}\n"), CheckpointError::EmptyOrigin),
            ("o\n1\n".into(), CheckpointError::MissingLines),
            (
                format!("o\n01\n{root}\n"),
                CheckpointError::InvalidSize("01".into()),
            ),
            (
                format!("o\n+1\n{root}\n"),
                CheckpointError::InvalidSize("+1".into()),
            ),
            (format!("o\n\n{root}\n"), CheckpointError::InvalidSize("".into())),
            (
                format!("o\n18446744073709551616\n{root}\n"),
                CheckpointError::InvalidSize("18446744073709551616".into()),
            ),
            (
                format!("o\n1\n{}\n", B64.encode([7u8; 31])),
                CheckpointError::InvalidRoot(B64.encode([7u8; 31])),
            ),
            (format!("o\n1\n{root}\n\n"), CheckpointError::EmptyExtension),
            (format!("o\n1\n{root}\r\n"), CheckpointError::ControlCharacter),
        ];
        for (text, want) in cases {
            assert_eq!(Checkpoint::parse_body(&text), Err(want), "{text:?}");
        }
        // Non-canonical base64: same 32 bytes, but the unused low bits of the last character
        // set ('c' = 011100 becomes 'd' = 011101).
        assert_eq!(&root[42..], "c=");
        let bad_root = format!("{}d=", &root[..42]);
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n1\n{bad_root}\n")),
            Err(CheckpointError::InvalidRoot(bad_root.clone()))
        );
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n18446744073709551615\n{root}\n"))
                .unwrap()
                .size,
            u64::MAX
        );
    }

    #[test]
    fn sign_and_open() {
        let signer = NoteSigner::generate_ed25519("example.com/log", [9u8; 32]).unwrap();
        let other = NoteSigner::generate_ed25519("example.com/other", [8u8; 32]).unwrap();
        let c = cp();
        let text = c.sign(&[&signer]).unwrap();
        let (opened, note) = open_checkpoint(&text, &[signer.verifier()]).unwrap();
        assert_eq!(opened, c);
        assert_eq!(note.text, c.body());
        // A key whose name is not the origin is not used, even if it signed.
        let text2 = c.sign(&[&other]).unwrap();
        assert_eq!(
            open_checkpoint(&text2, &[other.verifier()]),
            Err(CheckpointError::NoKeyForOrigin("example.com/log".into()))
        );
        // A tampered size fails verification.
        let tampered = text.replacen("\n42\n", "\n43\n", 1);
        assert!(matches!(
            open_checkpoint(&tampered, &[signer.verifier()]),
            Err(CheckpointError::Note(NoteError::BadSignature { .. }))
        ));
    }

    #[test]
    fn sign_rejects_malformed_checkpoint() {
        let signer = NoteSigner::generate_ed25519("example.com/log", [9u8; 32]).unwrap();
        let mut c = cp();
        c.origin = "a\nb".into();
        assert!(matches!(c.sign(&[&signer]), Err(NoteError::MalformedText(_))));
        let mut c = cp();
        c.extensions = vec![String::new()];
        assert!(matches!(c.sign(&[&signer]), Err(NoteError::MalformedText(_))));
    }
}
