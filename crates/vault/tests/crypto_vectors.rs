//! The vault's cryptography against peer vectors in `../shared/vectors` (read where they lie; none are copied
//! into the repository), against published known answers, and against its own rules: wrong key, wrong
//! associated data, truncation, reordering and splicing all fail, and never with partial plaintext.
//!
//! Every vector file is counted per algorithm, so a parser bug cannot silently skip vectors.

use std::collections::BTreeMap;

use sm2::elliptic_curve::PrimeField as _;
use sm2::elliptic_curve::ops::Reduce as _;
use sm2::pkcs8::DecodePrivateKey as _;
use sm3::{Digest as _, Sm3};
use sm4::Sm4;
use sm4::cipher::{Block, BlockDecrypt as _, BlockEncrypt as _, KeyInit as _};
use tianping_vault::{
    CHUNK_SIZE, Cipher, CryptoError, NONCE_PREFIX_LEN, SecretKey, StreamKey, aad, random_bytes,
    random_nonce_prefix,
};

macro_rules! vector_path {
    ($rel:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/", $rel)
    };
}

// ---------------------------------------------------------------------------------------------
// OpenSSL's evp test file format (test/README.md there): stanzas of `Key = Value` lines separated by blank
// lines, `#` comment lines, `Title = …` stanzas naming the tests that follow, and PEM blocks under
// `PrivateKey = NAME`.

#[derive(Debug)]
struct Stanza {
    line: usize,
    title: String,
    fields: Vec<(String, String)>,
    pem: Option<String>,
}

impl Stanza {
    /// The test's keyword (`Cipher`, `Digest`, `Verify`, …): the first key other than `Availablein`.
    fn kind(&self) -> &str {
        self.fields
            .iter()
            .map(|(k, _)| k.as_str())
            .find(|k| *k != "Availablein")
            .unwrap_or("")
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn req(&self, key: &str) -> &str {
        self.get(key)
            .unwrap_or_else(|| panic!("stanza at line {} has no {key}", self.line))
    }

    /// A value as bytes: `"quoted text"` literally, anything else as hex.
    fn bytes(&self, key: &str) -> Vec<u8> {
        let v = self.req(key);
        if let Some(text) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            text.as_bytes().to_vec()
        } else {
            hex::decode(v).unwrap_or_else(|e| panic!("stanza at line {}: {key} is not hex: {e}", self.line))
        }
    }

    fn assert_keys_within(&self, allowed: &[&str]) {
        for (k, _) in &self.fields {
            assert!(
                allowed.contains(&k.as_str()),
                "stanza at line {} has unexpected key {k}",
                self.line
            );
        }
    }
}

fn parse_evp(path: &str) -> Vec<Stanza> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let mut out = Vec::new();
    let mut title = String::new();
    let mut current: Option<Stanza> = None;
    let mut finish = |current: &mut Option<Stanza>, title: &mut String| {
        if let Some(mut st) = current.take() {
            if let Some(pos) = st.fields.iter().position(|(k, _)| k == "Title") {
                *title = st.fields.remove(pos).1;
            }
            if !st.fields.is_empty() {
                st.title = title.clone();
                out.push(st);
            }
        }
    };
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let line = line.trim_end();
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            finish(&mut current, &mut title);
            continue;
        }
        let st = current.get_or_insert_with(|| Stanza {
            line: n + 1,
            title: String::new(),
            fields: Vec::new(),
            pem: None,
        });
        if line.starts_with("-----BEGIN ") {
            let mut pem = format!("{line}\n");
            loop {
                let (_, l) = lines
                    .next()
                    .unwrap_or_else(|| panic!("{path}:{}: unterminated PEM", n + 1));
                pem.push_str(l.trim_end());
                pem.push('\n');
                if l.starts_with("-----END ") {
                    break;
                }
            }
            st.pem = Some(pem);
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{path}:{}: no '=' in {line:?}", n + 1));
        st.fields.push((k.trim().to_string(), v.trim().to_string()));
    }
    finish(&mut current, &mut title);
    out
}

fn count_by(stanzas: &[Stanza], kind: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for st in stanzas.iter().filter(|st| st.kind() == kind) {
        *counts.entry(st.req(kind).to_ascii_uppercase()).or_default() += 1;
    }
    counts
}

fn flip(bytes: &[u8], i: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[i] ^= 1 << (i % 8);
    b
}

// ---------------------------------------------------------------------------------------------
// SM4: openssl-shangmi/evpciph_sm4.txt

fn sm4_stanzas() -> Vec<Stanza> {
    parse_evp(vector_path!("openssl-shangmi/evpciph_sm4.txt"))
}

const SM4_KEYS: &[&str] = &[
    "Cipher",
    "Key",
    "IV",
    "Plaintext",
    "Ciphertext",
    "AAD",
    "Tag",
    "XTSStandard",
];

#[test]
fn sm4_vector_file_holds_the_expected_stanzas() {
    let stanzas = sm4_stanzas();
    assert!(
        stanzas.iter().all(|st| st.kind() == "Cipher"),
        "only Cipher stanzas are expected"
    );
    let counts = count_by(&stanzas, "Cipher");
    let expected: BTreeMap<String, usize> = [
        ("SM4-CBC", 4),
        ("SM4-CCM", 1),
        ("SM4-CFB", 1),
        ("SM4-CTR", 1),
        ("SM4-ECB", 1),
        ("SM4-GCM", 1),
        ("SM4-OFB", 1),
        ("SM4-XTS", 4),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(
        counts, expected,
        "every cipher in the file is covered by a test below"
    );
    for st in &stanzas {
        st.assert_keys_within(SM4_KEYS);
    }
}

fn sm4(key: &[u8]) -> Sm4 {
    Sm4::new_from_slice(key).expect("SM4 keys are 16 bytes")
}

fn sm4_enc(c: &Sm4, b: [u8; 16]) -> [u8; 16] {
    let mut block = Block::<Sm4>::from(b);
    c.encrypt_block(&mut block);
    block.into()
}

fn sm4_dec(c: &Sm4, b: [u8; 16]) -> [u8; 16] {
    let mut block = Block::<Sm4>::from(b);
    c.decrypt_block(&mut block);
    block.into()
}

fn xor16(a: [u8; 16], b: [u8; 16]) -> [u8; 16] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

fn block_at(data: &[u8], i: usize) -> [u8; 16] {
    data[16 * i..16 * i + 16].try_into().unwrap()
}

/// SM4 in a classic mode, written out here so the `sm4` block cipher itself is what the vectors check.
/// CFB is CFB128 and CTR increments the whole 128-bit counter block, as OpenSSL does.
fn sm4_mode(mode: &str, key: &[u8], iv: Option<&[u8]>, input: &[u8], encrypt: bool) -> Vec<u8> {
    let c = sm4(key);
    let iv: Option<[u8; 16]> = iv.map(|iv| iv.try_into().expect("16-byte IV"));
    let mut out = Vec::with_capacity(input.len());
    match mode {
        "SM4-ECB" | "SM4-CBC" => {
            assert_eq!(input.len() % 16, 0, "{mode} takes whole blocks");
            let mut prev = iv.unwrap_or([0; 16]);
            for i in 0..input.len() / 16 {
                let block = block_at(input, i);
                let o = match (mode, encrypt) {
                    ("SM4-ECB", true) => sm4_enc(&c, block),
                    ("SM4-ECB", false) => sm4_dec(&c, block),
                    (_, true) => {
                        prev = sm4_enc(&c, xor16(block, prev));
                        prev
                    }
                    (_, false) => {
                        let p = xor16(sm4_dec(&c, block), prev);
                        prev = block;
                        p
                    }
                };
                out.extend_from_slice(&o);
            }
        }
        "SM4-OFB" | "SM4-CFB" | "SM4-CTR" => {
            let mut state = iv.expect("stream modes take an IV");
            for chunk in input.chunks(16) {
                let keystream = match mode {
                    "SM4-OFB" => {
                        state = sm4_enc(&c, state);
                        state
                    }
                    "SM4-CFB" => sm4_enc(&c, state),
                    _ => {
                        let ks = sm4_enc(&c, state);
                        state = u128::from_be_bytes(state).wrapping_add(1).to_be_bytes();
                        ks
                    }
                };
                let o: Vec<u8> = chunk.iter().zip(keystream).map(|(a, k)| a ^ k).collect();
                if mode == "SM4-CFB" && chunk.len() == 16 {
                    // The feedback is the ciphertext block.
                    let ct = if encrypt { &o[..] } else { chunk };
                    state = ct.try_into().unwrap();
                }
                out.extend_from_slice(&o);
            }
        }
        _ => panic!("no mode loop for {mode}"),
    }
    out
}

#[test]
fn sm4_ecb_cbc_ofb_cfb_ctr_match_openssl_vectors() {
    let mut checked: BTreeMap<&str, usize> = BTreeMap::new();
    for st in sm4_stanzas() {
        const MODES: [&str; 5] = ["SM4-ECB", "SM4-CBC", "SM4-OFB", "SM4-CFB", "SM4-CTR"];
        let Some(mode) = MODES
            .into_iter()
            .find(|m| st.req("Cipher").eq_ignore_ascii_case(m))
        else {
            continue;
        };
        let key = st.bytes("Key");
        let iv = st.get("IV").map(|_| st.bytes("IV"));
        let pt = st.bytes("Plaintext");
        let ct = st.bytes("Ciphertext");
        let what = format!("{mode} at line {} ({})", st.line, st.title);
        assert_eq!(
            hex::encode(sm4_mode(mode, &key, iv.as_deref(), &pt, true)),
            hex::encode(&ct),
            "{what}"
        );
        assert_eq!(
            hex::encode(sm4_mode(mode, &key, iv.as_deref(), &ct, false)),
            hex::encode(&pt),
            "{what}"
        );
        *checked.entry(mode).or_default() += 1;
    }
    let expected: BTreeMap<&str, usize> = [
        ("SM4-CBC", 4),
        ("SM4-CFB", 1),
        ("SM4-CTR", 1),
        ("SM4-ECB", 1),
        ("SM4-OFB", 1),
    ]
    .into();
    assert_eq!(checked, expected);
}

fn nonce12(b: &[u8]) -> [u8; 12] {
    b.try_into().expect("12-byte nonce")
}

#[test]
fn sm4_gcm_rfc8998_vector_through_cipher_and_every_flip_fails() {
    let mut checked = 0;
    for st in sm4_stanzas()
        .iter()
        .filter(|st| st.req("Cipher").eq_ignore_ascii_case("SM4-GCM"))
    {
        let key = SecretKey::from_bytes(&st.bytes("Key"));
        let nonce = nonce12(&st.bytes("IV"));
        let aad = st.bytes("AAD");
        let pt = st.bytes("Plaintext");
        let mut expected = st.bytes("Ciphertext");
        expected.extend_from_slice(&st.bytes("Tag"));

        let sealed = Cipher::Sm4Gcm.seal_with_nonce(&key, &nonce, &aad, &pt);
        assert_eq!(
            hex::encode(&sealed),
            hex::encode(&expected),
            "SM4-GCM ciphertext || tag"
        );
        let opened = Cipher::Sm4Gcm
            .open_with_nonce(&key, &nonce, &aad, &sealed)
            .unwrap();
        assert_eq!(opened.as_slice(), pt.as_slice());

        let auth = Err(CryptoError::Authentication);
        let mut flips = 0;
        for i in 0..sealed.len() {
            assert_eq!(
                Cipher::Sm4Gcm.open_with_nonce(&key, &nonce, &aad, &flip(&sealed, i)),
                auth,
                "ct/tag {i}"
            );
            flips += 1;
        }
        for i in 0..aad.len() {
            assert_eq!(
                Cipher::Sm4Gcm.open_with_nonce(&key, &nonce, &flip(&aad, i), &sealed),
                auth,
                "aad {i}"
            );
            flips += 1;
        }
        for i in 0..nonce.len() {
            let n = nonce12(&flip(&nonce, i));
            assert_eq!(
                Cipher::Sm4Gcm.open_with_nonce(&key, &n, &aad, &sealed),
                auth,
                "nonce {i}"
            );
            flips += 1;
        }
        assert_eq!(flips, pt.len() + 16 + aad.len() + 12);
        // Truncated or extended inputs and a missing AAD fail too.
        assert_eq!(
            Cipher::Sm4Gcm.open_with_nonce(&key, &nonce, &aad, &sealed[..sealed.len() - 1]),
            auth
        );
        assert_eq!(
            Cipher::Sm4Gcm.open_with_nonce(&key, &nonce, &aad, &[&sealed[..], &[0]].concat()),
            auth
        );
        assert_eq!(Cipher::Sm4Gcm.open_with_nonce(&key, &nonce, b"", &sealed), auth);
        assert!(matches!(
            Cipher::Sm4Gcm.open_with_nonce(&key, &nonce, &aad, &sealed[..15]),
            Err(CryptoError::Malformed(_))
        ));
        checked += 1;
    }
    assert_eq!(checked, 1, "evpciph_sm4.txt holds one SM4-GCM vector");
}

#[test]
fn sm4_ccm_rfc8998_vector() {
    use ccm::aead::{Aead as _, KeyInit as _, Payload};
    use ccm::consts::{U12, U16};
    type Sm4Ccm = ccm::Ccm<Sm4, U16, U12>;

    let mut checked = 0;
    for st in sm4_stanzas()
        .iter()
        .filter(|st| st.req("Cipher").eq_ignore_ascii_case("SM4-CCM"))
    {
        let c = Sm4Ccm::new_from_slice(&st.bytes("Key")).unwrap();
        let nonce = ccm::Nonce::<U12>::from(nonce12(&st.bytes("IV")));
        let aad = st.bytes("AAD");
        let pt = st.bytes("Plaintext");
        let mut expected = st.bytes("Ciphertext");
        expected.extend_from_slice(&st.bytes("Tag"));
        let sealed = c.encrypt(&nonce, Payload { msg: &pt, aad: &aad }).unwrap();
        assert_eq!(
            hex::encode(&sealed),
            hex::encode(&expected),
            "SM4-CCM ciphertext || tag"
        );
        assert_eq!(
            c.decrypt(
                &nonce,
                Payload {
                    msg: &sealed,
                    aad: &aad
                }
            )
            .unwrap(),
            pt
        );
        assert!(
            c.decrypt(
                &nonce,
                Payload {
                    msg: &flip(&sealed, 0),
                    aad: &aad
                }
            )
            .is_err()
        );
        checked += 1;
    }
    assert_eq!(checked, 1, "evpciph_sm4.txt holds one SM4-CCM vector");
}

/// Multiplies the XTS tweak by the primitive element α. IEEE 1619 reads the tweak little-endian and reduces
/// by x^128 + x^7 + x^2 + x + 1 (0x87); GB/T 17964-2021 reads it the way GCM does (bit-reflected,
/// big-endian), so doubling is a right shift with 0xE1 folded into the first byte.
fn xts_mul_alpha(t: &mut [u8; 16], gb: bool) {
    if gb {
        let lsb = t[15] & 1;
        for i in (1..16).rev() {
            t[i] = (t[i] >> 1) | (t[i - 1] << 7);
        }
        t[0] >>= 1;
        if lsb == 1 {
            t[0] ^= 0xe1;
        }
    } else {
        let msb = t[15] >> 7;
        for i in (1..16).rev() {
            t[i] = (t[i] << 1) | (t[i - 1] >> 7);
        }
        t[0] <<= 1;
        if msb == 1 {
            t[0] ^= 0x87;
        }
    }
}

/// SM4-XTS of one data unit with ciphertext stealing (IEEE 1619 §5.3, the same in GB/T 17964-2021).
fn sm4_xts(key: &[u8], iv: &[u8], input: &[u8], encrypt: bool, gb: bool) -> Vec<u8> {
    assert!(key.len() == 32 && input.len() >= 16);
    let (data, tweak) = (sm4(&key[..16]), sm4(&key[16..]));
    let xex = |t: [u8; 16], b: [u8; 16]| {
        let x = xor16(b, t);
        xor16(
            if encrypt {
                sm4_enc(&data, x)
            } else {
                sm4_dec(&data, x)
            },
            t,
        )
    };
    let mut t = sm4_enc(&tweak, iv.try_into().expect("16-byte tweak"));
    let (full, r) = (input.len() / 16, input.len() % 16);
    let plain_blocks = if r == 0 { full } else { full - 1 };
    let mut out = vec![0u8; input.len()];
    for j in 0..plain_blocks {
        out[16 * j..16 * j + 16].copy_from_slice(&xex(t, block_at(input, j)));
        xts_mul_alpha(&mut t, gb);
    }
    if r != 0 {
        let m = full - 1;
        let mut t_next = t;
        xts_mul_alpha(&mut t_next, gb);
        let tail = &input[16 * full..];
        // Encrypting, the last full block goes under T_m-1 and the stolen block under T_m; decrypting, the
        // other way round.
        let (first, second) = if encrypt { (t, t_next) } else { (t_next, t) };
        let cc = xex(first, block_at(input, m));
        let mut stolen = cc;
        stolen[..r].copy_from_slice(tail);
        out[16 * m..16 * m + 16].copy_from_slice(&xex(second, stolen));
        out[16 * full..].copy_from_slice(&cc[..r]);
    }
    out
}

#[test]
fn sm4_xts_gb_and_ieee_vectors() {
    let mut checked: BTreeMap<String, usize> = BTreeMap::new();
    for st in sm4_stanzas()
        .iter()
        .filter(|st| st.req("Cipher").eq_ignore_ascii_case("SM4-XTS"))
    {
        // OpenSSL's SM4-XTS defaults to the GB/T 17964-2021 tweak arithmetic.
        let standard = st.get("XTSStandard").unwrap_or("GB").to_ascii_uppercase();
        let gb = match standard.as_str() {
            "GB" => true,
            "IEEE" => false,
            s => panic!("unknown XTSStandard {s}"),
        };
        let (key, iv) = (st.bytes("Key"), st.bytes("IV"));
        let (pt, ct) = (st.bytes("Plaintext"), st.bytes("Ciphertext"));
        let what = format!("SM4-XTS ({standard}) at line {} ({})", st.line, st.title);
        assert_eq!(
            hex::encode(sm4_xts(&key, &iv, &pt, true, gb)),
            hex::encode(&ct),
            "{what}"
        );
        assert_eq!(
            hex::encode(sm4_xts(&key, &iv, &ct, false, gb)),
            hex::encode(&pt),
            "{what}"
        );
        *checked.entry(standard).or_default() += 1;
    }
    assert_eq!(checked, [("GB".to_string(), 3), ("IEEE".to_string(), 1)].into());
}

// ---------------------------------------------------------------------------------------------
// SM3: openssl-shangmi/evpmd_sm3.txt and rustcrypto-sm3/sm3_kat.{blb,decoded.txt}

#[test]
fn sm3_openssl_digests() {
    let stanzas = parse_evp(vector_path!("openssl-shangmi/evpmd_sm3.txt"));
    let (mut checked, mut other) = (0, Vec::new());
    for st in stanzas.iter().filter(|st| st.kind() == "Digest") {
        st.assert_keys_within(&["Digest", "Input", "Output"]);
        if !st.req("Digest").eq_ignore_ascii_case("SM3") {
            other.push(st.req("Digest").to_string());
            continue;
        }
        let digest = Sm3::digest(st.bytes("Input"));
        assert_eq!(
            hex::encode(digest),
            hex::encode(st.bytes("Output")),
            "SM3 at line {}",
            st.line
        );
        checked += 1;
    }
    assert_eq!(checked, 8, "evpmd_sm3.txt holds eight SM3 vectors");
    // The file's two case-insensitivity tests are for other digests, which are not the vault's business.
    assert_eq!(other, ["Sha3-256", "shA512"]);
    assert_eq!(stanzas.len(), 10, "nothing but Digest stanzas");
}

/// Decodes RustCrypto's blobby format (blobby 0.4): a git-flavoured VLQ count of blobs, a VLQ count of
/// de-duplicated blobs and those blobs (VLQ length, bytes), then each blob as a VLQ `n` where an odd `n`
/// refers to de-duplicated blob `n >> 1` and an even `n` is followed by `n >> 1` bytes.
fn blobby(data: &[u8]) -> Vec<Vec<u8>> {
    let mut pos = 0;
    let vlq = |pos: &mut usize| {
        let mut b = data[*pos];
        *pos += 1;
        let mut v = usize::from(b & 0x7f);
        while b & 0x80 != 0 {
            b = data[*pos];
            *pos += 1;
            v = ((v + 1) << 7) | usize::from(b & 0x7f);
        }
        v
    };
    let total = vlq(&mut pos);
    let mut dedup = Vec::new();
    for _ in 0..vlq(&mut pos) {
        let len = vlq(&mut pos);
        dedup.push(data[pos..pos + len].to_vec());
        pos += len;
    }
    let mut out = Vec::with_capacity(total);
    for _ in 0..total {
        let n = vlq(&mut pos);
        if n & 1 == 1 {
            out.push(dedup[n >> 1].clone());
        } else {
            out.push(data[pos..pos + (n >> 1)].to_vec());
            pos += n >> 1;
        }
    }
    assert_eq!(pos, data.len(), "blobby data ends after its last blob");
    out
}

#[test]
fn sm3_rustcrypto_known_answers_blobby_and_decoded() {
    let blb = std::fs::read(vector_path!("rustcrypto-sm3/sm3_kat.blb")).unwrap();
    let blobs = blobby(&blb);
    assert_eq!(blobs.len(), 10, "five (input, digest) pairs");
    let pairs: Vec<(&[u8], &[u8])> = blobs.chunks(2).map(|p| (&p[0][..], &p[1][..])).collect();
    for (input, digest) in &pairs {
        assert_eq!(
            hex::encode(Sm3::digest(input)),
            hex::encode(digest),
            "input {input:?}"
        );
    }

    let text = std::fs::read_to_string(vector_path!("rustcrypto-sm3/sm3_kat.decoded.txt")).unwrap();
    let mut decoded = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (input, digest) = line.split_once('\t').expect("input<TAB>digest");
        let input = match input.strip_prefix("b'").and_then(|s| s.strip_suffix('\'')) {
            Some(text) => {
                assert!(!text.contains('\\'), "escapes are not expected: {line}");
                text.as_bytes().to_vec()
            }
            None => hex::decode(input).unwrap(),
        };
        assert_eq!(hex::encode(Sm3::digest(&input)), digest.trim(), "input {input:?}");
        assert_eq!(
            pairs[decoded],
            (&input[..], &hex::decode(digest.trim()).unwrap()[..])
        );
        decoded += 1;
    }
    assert_eq!(decoded, 5, "the decoded text holds the same five answers");
}

// ---------------------------------------------------------------------------------------------
// SM2: openssl-shangmi/evppkey_sm2.txt

/// An ECDSA-style DER signature `SEQUENCE { INTEGER r, INTEGER s }` as the `sm2` crate's fixed-size form.
fn sm2_signature_from_der(der: &[u8]) -> sm2::dsa::Signature {
    assert_eq!(der[0], 0x30, "SEQUENCE");
    assert_eq!(usize::from(der[1]) + 2, der.len(), "short-form length");
    let mut pos = 2;
    let mut int = || {
        assert_eq!(der[pos], 0x02, "INTEGER");
        let len = usize::from(der[pos + 1]);
        let mut v = &der[pos + 2..pos + 2 + len];
        pos += 2 + len;
        while v.len() > 32 && v[0] == 0 {
            v = &v[1..];
        }
        let mut out = [0u8; 32];
        out[32 - v.len()..].copy_from_slice(v);
        out
    };
    let (r, s) = (int(), int());
    assert_eq!(pos, der.len());
    sm2::dsa::Signature::from_scalars(r, s).expect("r and s in [1, n-1]")
}

/// The digest e as the 32 bytes the `sm2` crate's prehash verifier takes. Its `verify_prehash` accepts only
/// 32-byte digests; OpenSSL takes e of any length as an integer and reduces it mod n (`BN_mod_add(e, x1)`),
/// so a 64-byte SHA-512 e is reduced here the same way: e mod n = hi·2^256 + lo (mod n).
fn sm2_prehash(e: &[u8]) -> [u8; 32] {
    match e.len() {
        32 => e.try_into().unwrap(),
        64 => {
            let reduce = |b: &[u8]| {
                sm2::Scalar::reduce_bytes(&sm2::FieldBytes::from(<[u8; 32]>::try_from(b).unwrap()))
            };
            let two_256 = reduce(&[0xff; 32]) + sm2::Scalar::ONE;
            let e = reduce(&e[..32]) * two_256 + reduce(&e[32..]);
            e.to_repr().into()
        }
        n => panic!("no prehash rule for a {n}-byte digest"),
    }
}

#[test]
fn sm2_openssl_prehash_verify_vectors() {
    use sm2::dsa::signature::hazmat::PrehashVerifier as _;

    let stanzas = parse_evp(vector_path!("openssl-shangmi/evppkey_sm2.txt"));
    let key = stanzas
        .iter()
        .find(|st| st.kind() == "PrivateKey" && st.req("PrivateKey") == "SM2_key1");
    let pem = key.and_then(|st| st.pem.as_deref()).expect("SM2_key1 in PEM");
    let secret = sm2::SecretKey::from_pkcs8_pem(pem).expect("PKCS#8 SM2 key");
    // The distinguishing ID enters only Z_A, which a prehash verification does not compute.
    let vk = sm2::dsa::VerifyingKey::new("1234567812345678", secret.public_key()).unwrap();

    let mut by_digest: BTreeMap<String, usize> = BTreeMap::new();
    for st in stanzas.iter().filter(|st| st.kind() == "Verify") {
        assert_eq!(st.req("Verify"), "SM2_key1");
        st.assert_keys_within(&["Verify", "Ctrl", "Input", "Output", "Result"]);
        let e = st.bytes("Input");
        let sig = sm2_signature_from_der(&st.bytes("Output"));
        let result = vk.verify_prehash(&sm2_prehash(&e), &sig);
        match st.get("Result") {
            None => assert!(result.is_ok(), "SM2 verify at line {} must pass", st.line),
            Some(expected) => assert!(
                result.is_err(),
                "SM2 verify at line {} must fail ({expected})",
                st.line
            ),
        }
        if st.get("Result").is_none() {
            // Derived failures: another digest, or another signature, must not verify.
            assert!(
                vk.verify_prehash(&sm2_prehash(&flip(&e, e.len() - 1)), &sig)
                    .is_err()
            );
            let other = sm2::dsa::Signature::from_scalars(sig.s_bytes(), sig.r_bytes()).unwrap();
            assert!(vk.verify_prehash(&sm2_prehash(&e), &other).is_err());
        }
        let digest = st
            .req("Ctrl")
            .strip_prefix("digest:")
            .expect("digest control")
            .to_string();
        *by_digest.entry(digest).or_default() += 1;
    }
    assert_eq!(
        by_digest,
        [("SHA512".to_string(), 1), ("SM3".to_string(), 2)].into()
    );

    // The rest of the file is not checked: SM2 encryption (two `Decrypt` stanzas) is not in sm2 0.13 and not
    // used by the vault, the one `Sign` stanza is OpenSSL's own "fake" test (KEYOP_MISMATCH) and the `KeyGen`
    // stanzas only ask for a key to be made.
    let kinds = stanzas.iter().fold(BTreeMap::<&str, usize>::new(), |mut m, st| {
        *m.entry(st.kind()).or_default() += 1;
        m
    });
    assert_eq!(
        kinds,
        [
            ("Decrypt", 2),
            ("KeyGen", 2),
            ("PrivateKey", 1),
            ("Sign", 1),
            ("Verify", 3)
        ]
        .into()
    );
}

// ---------------------------------------------------------------------------------------------
// AES-256-GCM known answers: test cases 13–16 of McGrew and Viega, "The Galois/Counter Mode of Operation
// (GCM)", revised submission to NIST (2005), Appendix B (the 256-bit-key cases).

#[test]
fn aes256gcm_mcgrew_viega_known_answers() {
    const K15: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
    const IV15: &str = "cafebabefacedbaddecaf888";
    const P15: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                       1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
    const C15: &str = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
                       8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";
    let cases: [(&str, &str, &str, &str, &str, &str, &str); 4] = [
        // (case, K, IV, P, A, C, T)
        (
            "13",
            &"00".repeat(32),
            &"00".repeat(12),
            "",
            "",
            "",
            "530f8afbc74536b9a963b4f1c4cb738b",
        ),
        (
            "14",
            &"00".repeat(32),
            &"00".repeat(12),
            &"00".repeat(16),
            "",
            "cea7403d4d606b6e074ec5d3baf39d18",
            "d0d1c8a799996bf0265b98b5d48ab919",
        ),
        ("15", K15, IV15, P15, "", C15, "b094dac5d93471bdec1a502270e3cc6c"),
        (
            "16",
            K15,
            IV15,
            &P15[..120],
            "feedfacedeadbeeffeedfacedeadbeefabaddad2",
            &C15[..120],
            "76fc6ece0f4e1768cddf8853bb2d551b",
        ),
    ];
    for (case, k, iv, p, a, c, t) in cases {
        let key = SecretKey::from_bytes(&hex::decode(k).unwrap());
        let nonce = nonce12(&hex::decode(iv).unwrap());
        let (p, a) = (hex::decode(p).unwrap(), hex::decode(a).unwrap());
        let sealed = Cipher::Aes256Gcm.seal_with_nonce(&key, &nonce, &a, &p);
        assert_eq!(hex::encode(&sealed), format!("{c}{t}"), "test case {case}");
        assert_eq!(
            Cipher::Aes256Gcm
                .open_with_nonce(&key, &nonce, &a, &sealed)
                .unwrap()
                .as_slice(),
            &p[..]
        );
        for i in 0..sealed.len() {
            assert_eq!(
                Cipher::Aes256Gcm.open_with_nonce(&key, &nonce, &a, &flip(&sealed, i)),
                Err(CryptoError::Authentication),
                "test case {case}, byte {i}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The sealing API

const CIPHERS: [Cipher; 2] = [Cipher::Aes256Gcm, Cipher::Sm4Gcm];

#[test]
fn cipher_names_parse_and_key_lengths() {
    for c in CIPHERS {
        assert_eq!(Cipher::parse(c.name()), Some(c));
        assert_eq!(c.to_string(), c.name());
        let k = c.generate_key();
        assert_eq!(k.len(), c.key_len());
        assert_ne!(k.as_bytes(), c.generate_key().as_bytes(), "keys are random");
    }
    assert_eq!(Cipher::Aes256Gcm.name(), "aes-256-gcm");
    assert_eq!(Cipher::Sm4Gcm.name(), "sm4-gcm");
    assert_eq!((Cipher::Aes256Gcm.key_len(), Cipher::Sm4Gcm.key_len()), (32, 16));
    for bad in ["", "AES-256-GCM", "aes-128-gcm", "sm4", "sm4-gcm "] {
        assert_eq!(Cipher::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn seal_open_round_trip_and_fresh_nonces() {
    for c in CIPHERS {
        let key = c.generate_key();
        for len in [0, 1, 15, 16, 17, 1000] {
            let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let sealed = c.seal(&key, b"record 7", &pt);
            assert_eq!(sealed.len(), 12 + len + 16);
            assert_eq!(c.open(&key, b"record 7", &sealed).unwrap().as_slice(), &pt[..]);
            let again = c.seal(&key, b"record 7", &pt);
            assert_ne!(sealed[..12], again[..12], "a fresh nonce each time");
            assert_ne!(sealed, again);
        }
    }
}

#[test]
fn wrong_key_aad_or_truncation_fail_without_plaintext() {
    let auth = Err(CryptoError::Authentication);
    for c in CIPHERS {
        let key = c.generate_key();
        let sealed = c.seal(&key, b"aad", b"secret health data");
        assert_eq!(c.open(&c.generate_key(), b"aad", &sealed), auth, "{c}: wrong key");
        assert_eq!(c.open(&key, b"aaD", &sealed), auth, "{c}: wrong aad");
        assert_eq!(c.open(&key, b"", &sealed), auth, "{c}: missing aad");
        for cut in 1..=sealed.len() - 28 {
            assert_eq!(
                c.open(&key, b"aad", &sealed[..sealed.len() - cut]),
                auth,
                "{c}: cut {cut}"
            );
        }
        for short in [0, 1, 12, 27] {
            assert!(
                matches!(
                    c.open(&key, b"aad", &sealed[..short]),
                    Err(CryptoError::Malformed(_))
                ),
                "{c}: {short} bytes"
            );
        }
        for i in 0..sealed.len() {
            assert_eq!(c.open(&key, b"aad", &flip(&sealed, i)), auth, "{c}: byte {i}");
        }
    }
    // The same bytes under the other suite (with a key of its length) do not open either.
    let aes_key = Cipher::Aes256Gcm.generate_key();
    let sealed = Cipher::Aes256Gcm.seal(&aes_key, b"", b"x");
    let sm4_key = SecretKey::from_bytes(&aes_key.as_bytes()[..16]);
    assert_eq!(Cipher::Sm4Gcm.open(&sm4_key, b"", &sealed), auth);
}

#[test]
fn keys_of_the_wrong_length_are_errors_not_panics() {
    for c in CIPHERS {
        let sealed = c.seal(&c.generate_key(), b"", b"x");
        for len in [0, 1, 15, 17, 24, 31, 33, 64] {
            if len == c.key_len() {
                continue;
            }
            let key = SecretKey::from_bytes(&vec![7; len]);
            let want = CryptoError::KeyLength {
                got: len,
                want: c.key_len(),
            };
            assert_eq!(c.open(&key, b"", &sealed).unwrap_err(), want);
            assert_eq!(
                c.open_with_nonce(&key, &[0; 12], b"", &sealed[12..]).unwrap_err(),
                want
            );
            assert_eq!(c.unwrap_key(&key, b"", &sealed).unwrap_err(), want);
            assert_eq!(c.try_seal(&key, b"", b"x").unwrap_err(), want);
            assert_eq!(
                c.try_seal_with_nonce(&key, &[0; 12], b"", b"x").unwrap_err(),
                want
            );
            assert_eq!(c.try_wrap_key(&key, b"", &c.generate_key()).unwrap_err(), want);
            // Short inputs with a bad key: the key is reported first.
            assert_eq!(c.open(&key, b"", b"").unwrap_err(), want);
            let panicked = std::panic::catch_unwind(|| c.seal(&key, b"", b"x"));
            assert!(panicked.is_err(), "the infallible seal refuses a bad key loudly");
        }
    }
}

#[test]
fn aad_is_length_prefixed_and_unambiguous() {
    assert_eq!(aad(&[b"ab", b"c"]), [0, 0, 0, 2, b'a', b'b', 0, 0, 0, 1, b'c']);
    assert_ne!(aad(&[b"ab", b"c"]), aad(&[b"a", b"bc"]));
    assert_ne!(aad(&[b"ab"]), aad(&[b"ab", b""]));
    assert_eq!(aad(&[]), Vec::<u8>::new());
    assert_eq!(aad(&[b""]), [0, 0, 0, 0]);
}

#[test]
fn wrap_unwrap_round_trip_and_failures() {
    let auth = Err(CryptoError::Authentication);
    for c in CIPHERS {
        let (kek, key) = (c.generate_key(), c.generate_key());
        let label = aad(&[b"tianping/vault/dek/v1", b"record 42"]);
        let wrapped = c.wrap_key(&kek, &label, &key);
        assert_eq!(wrapped.len(), 12 + c.key_len() + 16);
        assert_eq!(
            c.unwrap_key(&kek, &label, &wrapped).unwrap().as_bytes(),
            key.as_bytes()
        );
        assert_eq!(
            c.unwrap_key(&c.generate_key(), &label, &wrapped).map(|_| ()),
            auth,
            "{c}: wrong KEK"
        );
        let other = aad(&[b"tianping/vault/dek/v1", b"record 43"]);
        assert_eq!(
            c.unwrap_key(&kek, &other, &wrapped).map(|_| ()),
            auth,
            "{c}: wrong aad"
        );
        assert_eq!(
            c.unwrap_key(&kek, &label, &flip(&wrapped, 20)).map(|_| ()),
            auth,
            "{c}: flipped"
        );

        // A sealed payload of the wrong length is no key of this suite.
        let short = c.seal(&kek, &label, &[1; 8]);
        let want = Err(CryptoError::KeyLength {
            got: 8,
            want: c.key_len(),
        });
        assert_eq!(c.unwrap_key(&kek, &label, &short).map(|_| ()), want);
        // Wrapping a key of the wrong length is refused up front.
        let odd = SecretKey::from_bytes(&[1; 8]);
        assert_eq!(
            c.try_wrap_key(&kek, &label, &odd),
            Err(CryptoError::KeyLength {
                got: 8,
                want: c.key_len()
            })
        );
    }
    // A key wrapped for one suite does not unwrap as the other.
    let kek = Cipher::Aes256Gcm.generate_key();
    let wrapped = Cipher::Aes256Gcm.wrap_key(&kek, b"", &Cipher::Aes256Gcm.generate_key());
    let sm4_kek = SecretKey::from_bytes(&kek.as_bytes()[..16]);
    assert_eq!(
        Cipher::Sm4Gcm.unwrap_key(&sm4_kek, b"", &wrapped).map(|_| ()),
        auth
    );
}

#[test]
fn secret_key_debug_shows_no_key_bytes() {
    let key = SecretKey::from_bytes(&[0xab; 32]);
    assert_eq!(format!("{key:?}"), "SecretKey(32 bytes)");
    assert_eq!(format!("{key:#?}"), "SecretKey(32 bytes)");
    let sk = StreamKey::new(Cipher::Aes256Gcm, key.clone(), [0; 7], b"base".to_vec());
    let shown = format!("{sk:?}");
    assert!(shown.contains("SecretKey(32 bytes)"), "{shown}");
    assert!(
        !shown.contains("171") && !shown.to_ascii_lowercase().contains("abab"),
        "{shown}"
    );
    let cloned = key.clone();
    assert_eq!(cloned.as_bytes(), key.as_bytes());
    assert!(!key.is_empty());
}

#[test]
fn random_bytes_are_random() {
    let (a, b) = (random_bytes::<32>(), random_bytes::<32>());
    assert_ne!(*a, *b);
    assert_eq!(random_bytes::<7>().len(), 7);
    assert_ne!(random_nonce_prefix(), random_nonce_prefix());
}

// ---------------------------------------------------------------------------------------------
// STREAM

fn seal_blob(sk: &StreamKey, data: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    if data.is_empty() {
        return vec![sk.seal_chunk(0, true, b"")];
    }
    let n = data.len().div_ceil(chunk);
    data.chunks(chunk)
        .enumerate()
        .map(|(i, c)| sk.seal_chunk(i as u32, i + 1 == n, c))
        .collect()
}

/// Opens chunks in order, the last one as final; the first failure wins and no plaintext is returned.
fn open_blob(sk: &StreamKey, chunks: &[Vec<u8>]) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        out.extend_from_slice(&sk.open_chunk(i as u32, i + 1 == chunks.len(), c)?);
    }
    Ok(out)
}

fn base_aad() -> Vec<u8> {
    aad(&[b"tianping/vault/blob/v1", b"rec-1"])
}

fn blob_key(c: Cipher) -> StreamKey {
    StreamKey::new(c, c.generate_key(), random_nonce_prefix(), base_aad())
}

#[test]
fn stream_round_trip_across_full_size_chunks() {
    let data: Vec<u8> = (0..CHUNK_SIZE * 5 / 2)
        .map(|i| (i * 31 + i / 977) as u8)
        .collect();
    for c in CIPHERS {
        let sk = blob_key(c);
        let chunks = seal_blob(&sk, &data, CHUNK_SIZE);
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0].len(), StreamKey::sealed_len(CHUNK_SIZE));
        assert_eq!(chunks[2].len(), StreamKey::sealed_len(CHUNK_SIZE / 2));
        assert_eq!(open_blob(&sk, &chunks).unwrap(), data);

        // An exact multiple of the chunk size ends with a full final chunk.
        let two = seal_blob(&sk, &data[..2 * CHUNK_SIZE], CHUNK_SIZE);
        assert_eq!(two.len(), 2);
        assert_eq!(open_blob(&sk, &two).unwrap(), &data[..2 * CHUNK_SIZE]);

        // Tampering in a full-size chunk: first, middle and last plaintext bytes, first and last tag bytes.
        // (Every byte of every chunk is flipped in the small-chunk test below.)
        let last = chunks[1].len() - 1;
        for i in [0, CHUNK_SIZE / 2, CHUNK_SIZE - 1, CHUNK_SIZE, last] {
            let bad = flip(&chunks[1], i);
            assert_eq!(
                sk.open_chunk(1, false, &bad).err(),
                Some(CryptoError::Authentication),
                "{c}: byte {i}"
            );
        }
    }
}

#[test]
fn stream_empty_blob_is_one_empty_final_chunk() {
    for c in CIPHERS {
        let sk = blob_key(c);
        let chunks = seal_blob(&sk, b"", CHUNK_SIZE);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].len(), StreamKey::sealed_len(0));
        assert_eq!(open_blob(&sk, &chunks).unwrap(), b"");
        assert_eq!(
            sk.open_chunk(0, false, &chunks[0]),
            Err(CryptoError::Authentication)
        );
        assert!(matches!(
            sk.open_chunk(0, true, &chunks[0][..15]),
            Err(CryptoError::Malformed(_))
        ));
    }
}

#[test]
fn stream_chunk_layout_is_prefix_index_flag() {
    let key = Cipher::Sm4Gcm.generate_key();
    let prefix = [1, 2, 3, 4, 5, 6, 7];
    let sk = StreamKey::new(Cipher::Sm4Gcm, key.clone(), prefix, b"base".to_vec());
    assert_eq!(sk.nonce_prefix(), prefix);
    assert_eq!(sk.cipher(), Cipher::Sm4Gcm);
    assert_eq!(NONCE_PREFIX_LEN, 7);
    let sealed = sk.seal_chunk(0x0102_0304, true, b"chunk");
    let nonce = [1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 1];
    let aad = [&b"base"[..], &[1, 2, 3, 4, 1]].concat();
    let opened = Cipher::Sm4Gcm
        .open_with_nonce(&key, &nonce, &aad, &sealed)
        .unwrap();
    assert_eq!(opened.as_slice(), b"chunk");
}

#[test]
fn stream_reordering_truncation_splicing_and_flips_fail() {
    let auth = Err(CryptoError::Authentication);
    // Small chunks make exhaustive byte flips cheap; the construction does not depend on the chunk size.
    let data: Vec<u8> = (0..100u8).collect();
    for c in CIPHERS {
        let key = c.generate_key();
        let sk = StreamKey::new(c, key.clone(), random_nonce_prefix(), base_aad());
        let chunks = seal_blob(&sk, &data, 32);
        assert_eq!(chunks.len(), 4);
        assert_eq!(open_blob(&sk, &chunks).unwrap(), data);

        // Reordering two chunks.
        let mut swapped = chunks.clone();
        swapped.swap(0, 1);
        assert_eq!(open_blob(&sk, &swapped), auth, "{c}: swapped");
        // Dropping the last chunk: the new last one was not sealed as final.
        assert_eq!(open_blob(&sk, &chunks[..3]), auth, "{c}: truncated");
        // Opening the real last chunk as non-final, or a middle chunk as final.
        assert_eq!(
            sk.open_chunk(3, false, &chunks[3]).err(),
            Some(CryptoError::Authentication)
        );
        assert_eq!(
            sk.open_chunk(1, true, &chunks[1]).err(),
            Some(CryptoError::Authentication)
        );
        // Appending a duplicate of the last chunk.
        let mut extended = chunks.clone();
        extended.push(chunks[3].clone());
        assert_eq!(open_blob(&sk, &extended), auth, "{c}: extended");

        // A chunk from another blob: same key and aad but another prefix; same key and prefix but another
        // aad; another key.
        let other_prefix = StreamKey::new(c, key.clone(), random_nonce_prefix(), base_aad());
        let other_aad = StreamKey::new(
            c,
            key,
            sk.nonce_prefix(),
            aad(&[b"tianping/vault/blob/v1", b"rec-2"]),
        );
        let other_key = StreamKey::new(c, c.generate_key(), sk.nonce_prefix(), base_aad());
        for other in [&other_prefix, &other_aad, &other_key] {
            let foreign = seal_blob(other, &data, 32);
            assert_eq!(open_blob(other, &foreign).unwrap(), data);
            for i in 0..4 {
                let mut spliced = chunks.clone();
                spliced[i] = foreign[i].clone();
                assert_eq!(open_blob(&sk, &spliced), auth, "{c}: chunk {i} from another blob");
            }
        }

        // Every single-byte flip in every chunk.
        for (ci, chunk) in chunks.iter().enumerate() {
            for i in 0..chunk.len() {
                let mut bad = chunks.clone();
                bad[ci] = flip(chunk, i);
                assert_eq!(open_blob(&sk, &bad), auth, "{c}: chunk {ci} byte {i}");
            }
        }
    }
}
