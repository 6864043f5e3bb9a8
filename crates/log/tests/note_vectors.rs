//! Signed notes, checkpoints and cosignatures against the shared vectors in `../shared/vectors`.
//! The vectors are read where they lie; none are copied into the repository.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tianping_log::checkpoint::{Checkpoint, CheckpointError, open_checkpoint};
use tianping_log::note::{
    CosignatureSigner, MAX_SIGNATURES, Note, NoteError, NoteSignature, NoteSigner, SIG_COSIGNATURE_V1,
    SIG_ED25519, SIG_OTHER, SM2_SIG_IDENTIFIER, VerifierKey, cosigned_message, ed25519_verify,
    verify_cosignature,
};
use tianping_log::{Hash, HashAlg};

macro_rules! vector_path {
    ($rel:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/", $rel)
    };
}

fn read_json(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string field")
}

fn sumdb() -> Value {
    read_json(vector_path!("golang-mod-sumdb/note_vectors.json"))
}

fn spec() -> Value {
    read_json(vector_path!("c2sp-spec-examples/spec_examples.json"))
}

fn selfgen() -> Value {
    read_json(vector_path!("self-generated/cosignature_v1_selfgen.json"))
}

fn seed(hex_str: &str) -> [u8; 32] {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

// ---------------------------------------------------------------------------------------------
// golang.org/x/mod/sumdb/note vectors

#[test]
fn golden_note_is_reproduced_byte_for_byte() {
    let v = sumdb();
    let peter = &v["keys"]["PeterNeumann"];
    let signer = NoteSigner::parse(s(&peter["skey"])).unwrap();
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.verifier().to_string(), s(&peter["vkey"]));
    assert_eq!(signer.verifier(), VerifierKey::parse(s(&peter["vkey"])).unwrap());
    assert_eq!(signer.to_skey().as_str(), s(&peter["skey"]));

    let signed = Note::sign(s(&v["note_text"]), &[&signer]).unwrap();
    assert_eq!(signed, s(&v["signed_note_peter"]));
    assert_eq!(
        signed.lines().last().unwrap(),
        s(&v["signature_lines"]["PeterNeumann"])
    );

    let note = Note::parse(&signed).unwrap();
    assert_eq!(note.text, s(&v["note_text"]));
    assert_eq!(note.to_text(), signed);
    assert_eq!(
        note.verify(&[signer.verifier()]).unwrap(),
        vec![signer.verifier()]
    );
}

#[test]
fn two_signature_note_verifies_with_each_and_both_keys() {
    let v = sumdb();
    let peter = VerifierKey::parse(s(&v["keys"]["PeterNeumann"]["vkey"])).unwrap();
    let enoch = VerifierKey::parse(s(&v["keys"]["EnochRoot"]["vkey"])).unwrap();
    assert_eq!(peter.sig_type(), SIG_ED25519);
    assert_eq!(peter.key_id(), [0xc7, 0x4f, 0x20, 0xa3]);
    assert_eq!(enoch.name(), "EnochRoot");

    let text = s(&v["signed_note_peter_enoch"]);
    let note = Note::parse(text).unwrap();
    assert_eq!(note.signatures.len(), 2);
    assert_eq!(note.to_text(), text);
    assert_eq!(
        note.verify(std::slice::from_ref(&peter)).unwrap(),
        vec![peter.clone()]
    );
    assert_eq!(
        note.verify(std::slice::from_ref(&enoch)).unwrap(),
        vec![enoch.clone()]
    );
    assert_eq!(
        note.verify(&[enoch.clone(), peter.clone()]).unwrap(),
        vec![peter.clone(), enoch.clone()]
    );
    assert_eq!(note.verify(&[]), Err(NoteError::UnverifiedNote));

    // Each signature is over the text alone.
    assert!(peter.verify(note.text.as_bytes(), &note.signatures[0].signature));
    assert!(enoch.verify(note.text.as_bytes(), &note.signatures[1].signature));
    assert!(!enoch.verify(note.text.as_bytes(), &note.signatures[0].signature));
}

#[test]
fn known_key_with_bad_signature_rejects_whole_note() {
    let v = sumdb();
    let peter = VerifierKey::parse(s(&v["keys"]["PeterNeumann"]["vkey"])).unwrap();
    let enoch = VerifierKey::parse(s(&v["keys"]["EnochRoot"]["vkey"])).unwrap();
    let mut note = Note::parse(s(&v["signed_note_peter_enoch"])).unwrap();
    note.signatures[1].signature[5] ^= 0x01;
    // Enoch is known and his signature fails: the note is rejected although Peter's verifies.
    assert_eq!(
        note.verify(&[peter.clone(), enoch.clone()]),
        Err(NoteError::BadSignature {
            name: "EnochRoot".into(),
            key_id: "af0cfe78".into()
        })
    );
    // If Enoch is unknown his line is ignored.
    assert_eq!(
        note.verify(std::slice::from_ref(&peter)).unwrap(),
        vec![peter.clone()]
    );
    assert_eq!(
        note.verify(&[enoch]),
        Err(NoteError::BadSignature {
            name: "EnochRoot".into(),
            key_id: "af0cfe78".into()
        })
    );

    // The same applies after a round trip through text.
    let reparsed = Note::parse(&note.to_text()).unwrap();
    assert!(matches!(
        reparsed.verify(&[peter]),
        Ok(keys) if keys.len() == 1
    ));
}

#[test]
fn unknown_key_signatures_are_ignored() {
    let v = sumdb();
    let peter = VerifierKey::parse(s(&v["keys"]["PeterNeumann"]["vkey"])).unwrap();
    let base = s(&v["signed_note_peter"]);
    // Same name as Peter, other key id; other name, Peter's key id; garbage signature bytes.
    let same_name = format!("— PeterNeumann {}\n", B64.encode([1u8; 68]));
    let mut same_id_raw = peter.key_id().to_vec();
    same_id_raw.extend_from_slice(&[2u8; 64]);
    let same_id = format!("— SomeoneElse {}\n", B64.encode(same_id_raw));
    let text = format!("{base}{same_name}{same_id}");
    let note = Note::parse(&text).unwrap();
    assert_eq!(note.signatures.len(), 3);
    assert_eq!(note.verify(std::slice::from_ref(&peter)).unwrap(), vec![peter]);
}

#[test]
fn malformed_verifier_keys_are_rejected() {
    let v = sumdb();
    let bad = v["bad_keys_must_reject"].as_array().unwrap();
    assert_eq!(bad.len(), 2);
    for key in bad {
        assert!(VerifierKey::parse(s(key)).is_err(), "accepted {key}");
    }
    // Trailing bytes after the key: here the base64 padding is already wrong.
    assert!(matches!(
        VerifierKey::parse(s(&bad[0])),
        Err(NoteError::MalformedVerifierKey(_))
    ));
    assert_eq!(
        VerifierKey::parse(s(&bad[1])),
        Err(NoteError::UnsupportedSignatureType(0x65))
    );

    let good = s(&v["keys"]["PeterNeumann"]["vkey"]);
    assert!(VerifierKey::parse(good).is_ok());
    let more_bad = [
        good.replace("c74f20a3", "c74f20a4"),          // key id does not match
        good.replace("c74f20a3", "C74F20A3"),          // uppercase hex
        good.replace("c74f20a3", "c74f20a"),           // short id
        good.replace("PeterNeumann", "Peter Neumann"), // space in name
        good.replace("PeterNeumann+", "+"),            // empty name
        good.replace("+ARpc", "+ ARpc"),               // bad base64
        "PeterNeumann+c74f20a3".to_string(),           // no key
        "PeterNeumann".to_string(),                    // nothing
    ];
    for key in &more_bad {
        assert!(VerifierKey::parse(key).is_err(), "accepted {key}");
    }
    assert!(matches!(
        VerifierKey::parse(&more_bad[0]),
        Err(NoteError::KeyIdMismatch { .. })
    ));

    // Keys with a correct key id but bad material: an Ed25519 key with a byte too many or too
    // few, and a small-order Ed25519 key (the identity point).
    let vkey_for = |name: &str, material: &[u8]| {
        let id: [u8; 4] = Sha256::new()
            .chain_update(name.as_bytes())
            .chain_update(b"\n")
            .chain_update(material)
            .finalize()[..4]
            .try_into()
            .unwrap();
        format!("{name}+{}+{}", hex::encode(id), B64.encode(material))
    };
    let peter = VerifierKey::parse(good).unwrap();
    assert_eq!(vkey_for("PeterNeumann", peter.key_material()), good);
    let mut long = peter.key_material().to_vec();
    long.push(0);
    let short = &peter.key_material()[..32];
    let mut weak = vec![SIG_ED25519, 1];
    weak.extend_from_slice(&[0u8; 31]);
    for material in [&long[..], short, &weak[..]] {
        assert!(matches!(
            VerifierKey::parse(&vkey_for("PeterNeumann", material)),
            Err(NoteError::InvalidPublicKey(_))
        ));
    }
}

#[test]
fn note_parsing_rejects_malformed_notes() {
    let v = sumdb();
    let good = s(&v["signed_note_peter"]);
    let sig_line = s(&v["signature_lines"]["PeterNeumann"]);
    let text = s(&v["note_text"]);
    assert!(Note::parse(good).is_ok());

    let cases = vec![
        ("no blank line", format!("{text}{sig_line}\n")),
        ("no signatures", format!("{text}\n")),
        ("no final newline", good.trim_end_matches('\n').to_string()),
        (
            "control character",
            good.replacen("cryptography", "crypto\tgraphy", 1),
        ),
        ("carriage return", good.replacen("problem,\n", "problem,\r\n", 1)),
        ("space in name", good.replacen("PeterNeumann", "Peter Neumann", 1)),
        ("plus in name", good.replacen("PeterNeumann", "Peter+Neumann", 1)),
        ("trailing junk line", format!("{good}junk\n")),
        ("hyphen not em dash", good.replacen('—', "-", 1)),
        ("bad base64", good.replacen(" x08go", " x08g!", 1)),
        (
            "short signature",
            format!("{text}\n— PeterNeumann {}\n", B64.encode([1u8; 4])),
        ),
        ("empty name", format!("{text}\n—  {}\n", B64.encode([1u8; 68]))),
    ];
    for (what, note) in cases {
        assert!(Note::parse(&note).is_err(), "{what}: accepted {note:?}");
    }

    // Up to MAX_SIGNATURES lines are accepted, one more is not.
    let filler = format!("— other {}\n", B64.encode([3u8; 68]));
    let at_max = format!("{good}{}", filler.repeat(MAX_SIGNATURES - 1));
    assert_eq!(Note::parse(&at_max).unwrap().signatures.len(), MAX_SIGNATURES);
    let over = format!("{good}{}", filler.repeat(MAX_SIGNATURES));
    assert_eq!(
        Note::parse(&over),
        Err(NoteError::TooManySignatures {
            count: MAX_SIGNATURES + 1,
            max: MAX_SIGNATURES
        })
    );

    // The text may contain blank lines: the last blank line separates it from the signatures.
    let signer = NoteSigner::parse(s(&v["keys"]["PeterNeumann"]["skey"])).unwrap();
    for t in ["a\n\nb\n", "a\n\n", "\n", "x\n\n\n"] {
        let signed = Note::sign(t, &[&signer]).unwrap();
        let note = Note::parse(&signed).unwrap();
        assert_eq!(note.text, t);
        assert_eq!(note.verify(&[signer.verifier()]).unwrap().len(), 1);
    }
}

#[test]
fn note_signing_rejects_bad_text() {
    let v = sumdb();
    let signer = NoteSigner::parse(s(&v["keys"]["PeterNeumann"]["skey"])).unwrap();
    assert!(matches!(
        Note::sign("no newline", &[&signer]),
        Err(NoteError::MalformedText(_))
    ));
    assert!(matches!(
        Note::sign("tab\there\n", &[&signer]),
        Err(NoteError::MalformedText(_))
    ));
    assert!(matches!(
        Note::sign("", &[&signer]),
        Err(NoteError::MalformedText(_))
    ));
    assert_eq!(Note::sign("ok\n", &[]), Err(NoteError::NoSigners));
    assert!(matches!(
        NoteSigner::generate_ed25519("bad name", [1; 32]),
        Err(NoteError::InvalidName(_))
    ));
    assert!(matches!(
        NoteSigner::generate_ed25519("", [1; 32]),
        Err(NoteError::InvalidName(_))
    ));
    assert!(matches!(
        NoteSigner::generate_ed25519("a+b", [1; 32]),
        Err(NoteError::InvalidName(_))
    ));
}

#[test]
fn signer_keys_are_validated() {
    let v = sumdb();
    let skey = s(&v["keys"]["PeterNeumann"]["skey"]);
    assert!(NoteSigner::parse(skey).is_ok());
    let bad = [
        skey.replace("c74f20a3", "c74f20a4"),
        skey.replace("PRIVATE+KEY+", ""),
        skey.replace("+AYEK", "+BYEK"), // type 0x05
        skey.replace("PeterNeumann", "Peter Neumann"),
    ];
    for k in &bad {
        assert!(NoteSigner::parse(k).is_err());
    }
    assert!(matches!(
        NoteSigner::parse(&bad[0]),
        Err(NoteError::KeyIdMismatch { .. })
    ));
    // Errors about signer keys never repeat the key.
    for k in &bad {
        let msg = NoteSigner::parse(k).unwrap_err().to_string();
        assert!(!msg.contains("AYEKFALV") && !msg.contains("BYEKFALV"), "{msg}");
    }
}

#[test]
fn secrets_are_not_in_debug_output() {
    fn wipes_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    wipes_on_drop::<NoteSigner>();
    wipes_on_drop::<CosignatureSigner>();
    // Signers and keys are shared across threads by the service.
    fn shareable<T: Send + Sync>() {}
    shareable::<NoteSigner>();
    shareable::<CosignatureSigner>();
    shareable::<VerifierKey>();

    let v = sumdb();
    let skey = s(&v["keys"]["PeterNeumann"]["skey"]);
    let signer = NoteSigner::parse(skey).unwrap();
    // PRIVATE+KEY+name+id+base64, where the base64 may itself contain '+'.
    let secret_b64 = skey.splitn(5, '+').nth(4).unwrap();
    let seed_bytes = B64.decode(secret_b64).unwrap()[1..].to_vec();
    let debug = format!("{signer:?} {:#?}", signer);
    assert!(debug.contains("PeterNeumann"));
    assert!(!debug.contains(secret_b64));
    assert!(!debug.contains(&hex::encode(&seed_bytes)));
    assert!(!debug.contains(&format!("{:?}", seed_bytes)));

    let sm2 = NoteSigner::generate_sm2("sm2.example", [0x11; 32]).unwrap();
    let debug = format!("{sm2:?}");
    assert!(!debug.contains(&hex::encode([0x11u8; 32])));
    assert!(!debug.contains("17, 17, 17"));
    let sm2_skey = sm2.to_skey();
    assert!(!debug.contains(sm2_skey.splitn(5, '+').nth(4).unwrap()));

    let witness = CosignatureSigner::new("w.example", [0x22; 32]).unwrap();
    let debug = format!("{witness:?}");
    assert!(!debug.contains("34, 34, 34"));
    assert!(!debug.contains(&hex::encode([0x22u8; 32])));
}

// ---------------------------------------------------------------------------------------------
// C2SP spec examples

#[test]
fn spec_signed_note_example_verifies_and_detects_tampering() {
    let v = spec();
    let ex = &v["signed_note_example"];
    let key = VerifierKey::parse(s(&ex["vkey"])).unwrap();
    assert_eq!(key.to_string(), s(&ex["vkey"]));
    let text = s(&ex["note"]);
    let note = Note::parse(text).unwrap();
    assert_eq!(note.text, "This is an example message.\n");
    assert_eq!(
        note.verify(std::slice::from_ref(&key)).unwrap(),
        vec![key.clone()]
    );

    // One byte of the text changed.
    let changed_text = text.replacen("example message", "example messagE", 1);
    assert!(matches!(
        Note::parse(&changed_text)
            .unwrap()
            .verify(std::slice::from_ref(&key)),
        Err(NoteError::BadSignature { .. })
    ));
    // Every single byte of the signature, changed one at a time.
    for i in 0..note.signatures[0].signature.len() {
        let mut n = note.clone();
        n.signatures[0].signature[i] ^= 0x80;
        let reparsed = Note::parse(&n.to_text()).unwrap();
        assert!(
            matches!(
                reparsed.verify(std::slice::from_ref(&key)),
                Err(NoteError::BadSignature { .. })
            ),
            "byte {i}"
        );
    }
    // A changed key id makes the line unknown, so nothing verifies.
    let mut n = note.clone();
    n.signatures[0].key_id[0] ^= 1;
    assert_eq!(n.verify(&[key]), Err(NoteError::UnverifiedNote));
}

#[test]
fn spec_checkpoint_example_parses() {
    let v = spec();
    let note = Note::parse(s(&v["checkpoint_example"]["note"])).unwrap();
    assert_eq!(note.signatures.len(), 1);
    assert_eq!(note.signatures[0].name, "example.com/behind-the-sofa");
    let cp = Checkpoint::parse_body(&note.text).unwrap();
    assert_eq!(cp.origin, "example.com/behind-the-sofa");
    assert_eq!(cp.size, 20852163);
    assert_eq!(
        B64.encode(cp.root),
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    );
    assert!(cp.extensions.is_empty());
    assert_eq!(cp.body(), note.text);

    // The log key is unpublished; a key of ours with the same name has another key id, so the
    // signature is ignored and the checkpoint is not trusted.
    let ours = NoteSigner::generate_ed25519("example.com/behind-the-sofa", [5; 32]).unwrap();
    assert_eq!(
        open_checkpoint(s(&v["checkpoint_example"]["note"]), &[ours.verifier()]),
        Err(CheckpointError::Note(NoteError::UnverifiedNote))
    );
}

#[test]
fn cosignature_message_matches_spec_example() {
    let v = spec();
    let body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let checkpoint_note = Note::parse(s(&v["checkpoint_example"]["note"])).unwrap();
    assert_eq!(checkpoint_note.text, body);
    assert_eq!(
        cosigned_message(body, 1679315147),
        s(&v["cosignature_v1_signed_message_example"])
    );
}

#[test]
fn tree_note_vector_parses_as_checkpoint_body() {
    let v = read_json(vector_path!("golang-mod-sumdb/tree_note_vector.json"));
    let cp = Checkpoint::parse_body(s(&v["tree_note_text"])).unwrap();
    assert_eq!(cp.origin, "go.sum database tree");
    assert_eq!(cp.size, v["tree_size"].as_u64().unwrap());
    assert_eq!(cp.size, 123456789012);
    let expected: Hash = HashAlg::Sha256.leaf_hash(b"hello world");
    assert_eq!(cp.root, expected);
    assert_eq!(cp.body(), s(&v["tree_note_text"]));
}

// ---------------------------------------------------------------------------------------------
// Self-generated log signature + cosignature

#[test]
fn selfgen_log_signature_and_cosignature_verify() {
    let v = selfgen();
    let log_key = VerifierKey::parse(s(&v["log_vkey"])).unwrap();
    let witness_key = VerifierKey::parse(s(&v["witness_vkey"])).unwrap();
    assert_eq!(witness_key.sig_type(), SIG_COSIGNATURE_V1);
    let full = s(&v["checkpoint_with_log_sig_and_cosig"]);
    let body = s(&v["checkpoint_text"]);
    let ts = v["cosignature_timestamp"].as_u64().unwrap();
    assert_eq!(cosigned_message(body, ts), s(&v["cosigned_message"]));

    // Keys rebuilt from the seeds match the published vkeys.
    let log_signer =
        NoteSigner::generate_ed25519("example.com/evidence-log", seed(s(&v["log_seed_hex"]))).unwrap();
    assert_eq!(log_signer.verifier(), log_key);
    let witness = CosignatureSigner::new("witness.example/test1", seed(s(&v["witness_seed_hex"]))).unwrap();
    assert_eq!(witness.verifier(), witness_key);
    assert_eq!(witness.verifier().to_string(), s(&v["witness_vkey"]));

    // The log signature.
    let (cp, note) = open_checkpoint(full, std::slice::from_ref(&log_key)).unwrap();
    assert_eq!(cp.origin, "example.com/evidence-log");
    assert_eq!(cp.size, 8);
    assert_eq!(hex::encode(cp.root)[..8], *"5dc9da79");
    assert_eq!(note.text, body);
    // Cosignature keys are skipped by Note::verify: alone they verify nothing.
    assert_eq!(
        note.verify(std::slice::from_ref(&witness_key)),
        Err(NoteError::UnverifiedNote)
    );
    assert_eq!(
        note.verify(&[witness_key.clone(), log_key.clone()]).unwrap(),
        vec![log_key.clone()]
    );

    // The cosignature.
    let line = note
        .signatures
        .iter()
        .find(|sig| sig.name == witness_key.name() && sig.key_id == witness_key.key_id())
        .unwrap();
    assert_eq!(verify_cosignature(&witness_key, &note.text, line), Ok(ts));

    // Reproduced byte for byte: the checkpoint signed by the log, then cosigned by the witness.
    let mut rebuilt = cp.sign(&[&log_signer]).unwrap();
    let cosig = witness.cosign(&cp.body(), ts);
    assert_eq!(&cosig, line);
    rebuilt.push_str(&cosig.to_line());
    assert_eq!(rebuilt, full);
}

#[test]
fn selfgen_tampering_is_detected() {
    let v = selfgen();
    let log_key = VerifierKey::parse(s(&v["log_vkey"])).unwrap();
    let witness_key = VerifierKey::parse(s(&v["witness_vkey"])).unwrap();
    let full = s(&v["checkpoint_with_log_sig_and_cosig"]);
    let note = Note::parse(full).unwrap();
    let cosig = note.signatures[1].clone();
    let log_sig = note.signatures[0].clone();

    // Another tree size in the body breaks both signatures.
    let tampered_body = note.text.replacen("\n8\n", "\n9\n", 1);
    assert_ne!(tampered_body, note.text);
    assert!(matches!(
        open_checkpoint(
            &full.replacen("\n8\n", "\n9\n", 1),
            std::slice::from_ref(&log_key)
        ),
        Err(CheckpointError::Note(NoteError::BadSignature { .. }))
    ));
    assert!(matches!(
        verify_cosignature(&witness_key, &tampered_body, &cosig),
        Err(NoteError::BadSignature { .. })
    ));

    // Another timestamp, or any flipped signature byte.
    let mut t = cosig.clone();
    t.signature[7] ^= 1;
    assert!(matches!(
        verify_cosignature(&witness_key, &note.text, &t),
        Err(NoteError::BadSignature { .. })
    ));
    for i in 8..72 {
        let mut t = cosig.clone();
        t.signature[i] ^= 0x10;
        assert!(
            verify_cosignature(&witness_key, &note.text, &t).is_err(),
            "byte {i}"
        );
    }
    let mut t = cosig.clone();
    t.signature[0] = 0x80; // timestamp above 2^63-1
    assert!(matches!(
        verify_cosignature(&witness_key, &note.text, &t),
        Err(NoteError::TimestampOutOfRange(_))
    ));
    let mut t = cosig.clone();
    t.signature.pop();
    assert_eq!(
        verify_cosignature(&witness_key, &note.text, &t),
        Err(NoteError::BadSignatureLength {
            expected: 72,
            found: 71
        })
    );
    // Wrong key type, or a line from another key.
    assert!(matches!(
        verify_cosignature(&log_key, &note.text, &cosig),
        Err(NoteError::WrongKeyType { .. })
    ));
    assert!(matches!(
        verify_cosignature(&witness_key, &note.text, &log_sig),
        Err(NoteError::KeyMismatch { .. })
    ));
    // Flipped log signature byte.
    let mut n = note.clone();
    n.signatures[0].signature[0] ^= 1;
    assert!(matches!(
        n.verify(&[log_key]),
        Err(NoteError::BadSignature { .. })
    ));
}

#[test]
fn cosignature_signer_round_trips_and_clamps() {
    let w = CosignatureSigner::new("witness.example/w", [0x42; 32]).unwrap();
    let skey = w.to_skey();
    let w2 = CosignatureSigner::parse(&skey).unwrap();
    assert_eq!(w2.verifier(), w.verifier());
    assert_eq!(w.name(), "witness.example/w");
    // A 0x01 skey is not a witness key.
    let v = sumdb();
    assert!(matches!(
        CosignatureSigner::parse(s(&v["keys"]["PeterNeumann"]["skey"])),
        Err(NoteError::WrongKeyType { .. })
    ));
    // And a witness skey is not a note signer key.
    assert_eq!(
        NoteSigner::parse(&skey).unwrap_err(),
        NoteError::UnsupportedSignatureType(SIG_COSIGNATURE_V1)
    );

    let body = "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    let sig = w.cosign(body, u64::MAX);
    assert_eq!(sig.signature[..8], (i64::MAX as u64).to_be_bytes());
    assert_eq!(verify_cosignature(&w.verifier(), body, &sig), Ok(i64::MAX as u64));
    let sig = w.cosign(body, 0);
    assert_eq!(verify_cosignature(&w.verifier(), body, &sig), Ok(0));
    // The 0x04 key does not verify plain signatures over the body.
    assert!(!w.verifier().verify(body.as_bytes(), &sig.signature[8..]));
}

// ---------------------------------------------------------------------------------------------
// Ed25519 edge cases (C2SP/CCTV)

#[test]
fn ed25519_edge_cases_follow_documented_rule() {
    let v = read_json(vector_path!("c2sp-cctv-ed25519/ed25519vectors.json"));
    let vectors = v.as_array().unwrap();
    assert_eq!(vectors.len(), 914);
    // Documented rule (verify_strict): accept exactly when the only flags are low-order
    // components that cancel without the cofactor.
    let tolerated = ["low_order_component_A", "low_order_component_R"];
    let (mut accepted, mut rejected) = (0usize, 0usize);
    let mut accepted_with_flags = 0usize;
    for vec in vectors {
        let key: [u8; 32] = hex::decode(s(&vec["key"])).unwrap().try_into().unwrap();
        let sig = hex::decode(s(&vec["sig"])).unwrap();
        let msg = s(&vec["msg"]).as_bytes();
        let flags: Vec<&str> = vec["flags"]
            .as_array()
            .map(|a| a.iter().map(s).collect())
            .unwrap_or_default();
        let expect = flags.iter().all(|f| tolerated.contains(f));
        let got = ed25519_verify(&key, msg, &sig);
        assert_eq!(got, expect, "vector {} flags {flags:?}", vec["number"]);
        if got {
            accepted += 1;
            if !flags.is_empty() {
                accepted_with_flags += 1;
            }
            // Keys with a low-order component but not of small order are ordinary vkeys.
            let mut material = vec![SIG_ED25519];
            material.extend_from_slice(&key);
            let vk = VerifierKey::new("edge.example", &material).unwrap();
            assert!(vk.verify(msg, &sig));
        } else {
            rejected += 1;
        }
        // Small-order keys never make a verifier key.
        if flags.contains(&"low_order_A") {
            let mut material = vec![SIG_ED25519];
            material.extend_from_slice(&key);
            assert!(VerifierKey::new("edge.example", &material).is_err());
        }
    }
    assert_eq!((accepted, rejected), (43, 871));
    assert_eq!(accepted_with_flags, 42);
}

// ---------------------------------------------------------------------------------------------
// SM2 note signatures

fn sm2_annex_a() -> std::collections::HashMap<String, String> {
    let text = std::fs::read_to_string(vector_path!("openssl-shangmi/sm2_gmt0003.5_annexA.txt")).unwrap();
    let mut out = std::collections::HashMap::new();
    let mut in_section = false;
    for line in text.lines() {
        if line.starts_with('[') {
            in_section = line.starts_with("[Signature, Annex A]");
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some((k, rest)) = line.split_once('=') {
            let value = rest.split_whitespace().next().unwrap_or("");
            out.insert(k.trim().to_string(), value.to_string());
        }
    }
    out
}

#[test]
fn sm2_verifies_gmt_0003_annex_a_example() {
    let a = sm2_annex_a();
    assert_eq!(hex::decode(&a["ID"]).unwrap(), b"1234567812345678");
    let msg = hex::decode(&a["Message"]).unwrap();
    assert_eq!(msg, b"message digest");
    let d: [u8; 32] = hex::decode(&a["d (priv)"]).unwrap().try_into().unwrap();
    let mut point = vec![0x04];
    point.extend(hex::decode(&a["P.x"]).unwrap());
    point.extend(hex::decode(&a["P.y"]).unwrap());
    let mut sig = hex::decode(&a["r"]).unwrap();
    sig.extend(hex::decode(&a["s"]).unwrap());
    assert_eq!(sig.len(), 64);

    // The public key derived from d is the standard's P.
    let signer = NoteSigner::generate_sm2("annex-a.example", d).unwrap();
    let verifier = signer.verifier();
    assert_eq!(verifier.sig_type(), SIG_OTHER);
    assert!(verifier.key_material().ends_with(&point));

    // The standard's signature (made with its fixed k) verifies under our SM2 rule.
    let mut material = vec![SIG_OTHER];
    material.extend_from_slice(SM2_SIG_IDENTIFIER);
    material.extend_from_slice(&point);
    let key = VerifierKey::new("annex-a.example", &material).unwrap();
    assert_eq!(key, verifier);
    assert!(key.verify(&msg, &sig));
    let mut bad = sig.clone();
    bad[63] ^= 1;
    assert!(!key.verify(&msg, &bad));
    assert!(!key.verify(b"message digesT", &sig));
    // Our deterministic signature is different from the standard's (other k) but also verifies.
    let ours = signer.sign(&msg);
    assert_ne!(ours, sig);
    assert!(key.verify(&msg, &ours));
}

#[test]
fn sm2_sign_verify_and_key_round_trips() {
    let signer = NoteSigner::generate_sm2("sm2.example/log", [0x5a; 32]).unwrap();
    let vk = signer.verifier();
    assert_eq!(vk.sig_type(), SIG_OTHER);
    assert_eq!(vk.key_material().len(), 1 + SM2_SIG_IDENTIFIER.len() + 65);
    assert_eq!(
        &vk.key_material()[1..1 + SM2_SIG_IDENTIFIER.len()],
        SM2_SIG_IDENTIFIER
    );

    // Key id = SHA-256(name || 0x0A || 0xff || identifier || public key)[:4].
    let digest = Sha256::new()
        .chain_update(b"sm2.example/log\n")
        .chain_update(vk.key_material())
        .finalize();
    assert_eq!(vk.key_id(), digest[..4]);

    // vkey and skey round trips.
    let vkey = vk.to_string();
    assert_eq!(
        vkey,
        format!(
            "sm2.example/log+{}+{}",
            hex::encode(vk.key_id()),
            B64.encode(vk.key_material())
        )
    );
    assert_eq!(VerifierKey::parse(&vkey).unwrap(), vk);
    let skey = signer.to_skey();
    let again = NoteSigner::parse(&skey).unwrap();
    assert_eq!(again.verifier(), vk);
    assert_eq!(again.to_skey(), skey);

    // Sign / verify, deterministic.
    let msg = b"tianping\n";
    let sig = signer.sign(msg);
    assert_eq!(sig.len(), 64);
    assert_eq!(again.sign(msg), sig);
    assert!(vk.verify(msg, &sig));
    assert!(!vk.verify(b"tianpinG\n", &sig));
    for i in [0, 31, 32, 63] {
        let mut bad = sig.clone();
        bad[i] ^= 0x01;
        assert!(!vk.verify(msg, &bad), "byte {i}");
    }
    assert!(!vk.verify(msg, &sig[..63]));
    assert!(!vk.verify(msg, &[0u8; 64]));

    // Through a note, alongside an Ed25519 signature.
    let ed = NoteSigner::generate_ed25519("ed.example/log", [0x33; 32]).unwrap();
    let signed = Note::sign("hello\n", &[&signer, &ed]).unwrap();
    let note = Note::parse(&signed).unwrap();
    assert_eq!(
        note.verify(&[ed.verifier(), vk.clone()]).unwrap(),
        vec![vk.clone(), ed.verifier()]
    );
    let mut tampered = note.clone();
    tampered.signatures[0].signature[10] ^= 4;
    assert!(matches!(
        tampered.verify(&[ed.verifier(), vk.clone()]),
        Err(NoteError::BadSignature { .. })
    ));

    // Key id checks.
    let wrong_id = vkey.replacen(&hex::encode(vk.key_id()), "00000000", 1);
    assert!(matches!(
        VerifierKey::parse(&wrong_id),
        Err(NoteError::KeyIdMismatch { .. })
    ));
    let wrong_sid = skey.replacen(&hex::encode(vk.key_id()), "00000000", 1);
    assert!(matches!(
        NoteSigner::parse(&wrong_sid),
        Err(NoteError::KeyIdMismatch { .. })
    ));

    // The same key under another name has another key id.
    let renamed = NoteSigner::generate_sm2("sm2.example/other", [0x5a; 32]).unwrap();
    assert_ne!(renamed.verifier().key_id(), vk.key_id());
    assert_eq!(renamed.verifier().key_material(), vk.key_material());
}

#[test]
fn sm2_identifier_and_keys_are_checked_exactly() {
    let vk = NoteSigner::generate_sm2("sm2.example", [7; 32])
        .unwrap()
        .verifier();
    let material = vk.key_material().to_vec();
    let id_len = SM2_SIG_IDENTIFIER.len();
    let point = &material[1 + id_len..];

    let with_material = |m: &[u8]| {
        let id: [u8; 4] = Sha256::new()
            .chain_update(b"sm2.example\n")
            .chain_update(m)
            .finalize()[..4]
            .try_into()
            .unwrap();
        format!("sm2.example+{}+{}", hex::encode(id), B64.encode(m))
    };
    assert_eq!(VerifierKey::parse(&with_material(&material)).unwrap(), vk);

    // Other identifier (last character changed).
    let mut other = material.clone();
    other[id_len] = b'2';
    assert_eq!(
        VerifierKey::parse(&with_material(&other)),
        Err(NoteError::UnsupportedIdentifier)
    );
    // Longer identifier starting with ours.
    let mut longer = vec![SIG_OTHER];
    longer.extend_from_slice(SM2_SIG_IDENTIFIER);
    longer.push(b'0');
    longer.extend_from_slice(point);
    assert!(VerifierKey::parse(&with_material(&longer)).is_err());
    // Compressed point, truncated point, point not on the curve.
    let mut prefix = vec![SIG_OTHER];
    prefix.extend_from_slice(SM2_SIG_IDENTIFIER);
    let mut compressed = prefix.clone();
    compressed.push(0x02 | (point[64] & 1));
    compressed.extend_from_slice(&point[1..33]);
    assert!(VerifierKey::parse(&with_material(&compressed)).is_err());
    let mut truncated = prefix.clone();
    truncated.extend_from_slice(&point[..64]);
    assert!(VerifierKey::parse(&with_material(&truncated)).is_err());
    let mut off_curve = prefix.clone();
    off_curve.extend_from_slice(point);
    *off_curve.last_mut().unwrap() ^= 1;
    assert!(matches!(
        VerifierKey::parse(&with_material(&off_curve)),
        Err(NoteError::InvalidPublicKey(_))
    ));
}

#[test]
fn sm2_rejects_invalid_scalars() {
    let n = hex::decode("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123").unwrap();
    let n: [u8; 32] = n.try_into().unwrap();
    let minus = |k: u8| {
        let mut x = n;
        x[31] -= k;
        x
    };
    for bad in [[0u8; 32], n, minus(1), [0xff; 32]] {
        assert!(matches!(
            NoteSigner::generate_sm2("sm2.example", bad),
            Err(NoteError::InvalidSecretKey(_))
        ));
    }
    // n-2 and 1 are the extremes of the valid range.
    let mut one = [0u8; 32];
    one[31] = 1;
    for good in [minus(2), one] {
        let signer = NoteSigner::generate_sm2("sm2.example", good).unwrap();
        let sig = signer.sign(b"x\n");
        assert!(signer.verifier().verify(b"x\n", &sig));
    }
}

#[test]
fn note_signature_line_round_trip() {
    let sig = NoteSignature {
        name: "a.example".into(),
        key_id: [1, 2, 3, 4],
        signature: vec![9; 64],
    };
    let line = sig.to_line();
    assert!(line.starts_with("— a.example AQIDBA"));
    let note = Note::parse(&format!("t\n\n{line}")).unwrap();
    assert_eq!(note.signatures, vec![sig]);
}
