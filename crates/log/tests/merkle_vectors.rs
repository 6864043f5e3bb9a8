//! RFC 6962 / RFC 9162 proof vectors from transparency-dev/merkle, read where they lie in the
//! shared vectors folder (never copied into the repository), run against `tianping_log::merkle`.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use tianping_log::hash::{Hash, HashAlg};
use tianping_log::merkle::{self, MemoryTree, NodeSource as _};

const TESTDATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/vectors/transparency-dev-merkle/testdata"
);

/// The 8-leaf test tree of Certificate Transparency, as hex.
const CT_LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InclusionVector {
    #[serde(rename = "leafIdx")]
    leaf_idx: u64,
    #[serde(rename = "treeSize")]
    tree_size: u64,
    root: String,
    #[serde(rename = "leafHash")]
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    #[serde(rename = "wantErr")]
    want_err: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyVector {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    desc: String,
    #[serde(rename = "wantErr")]
    want_err: bool,
}

/// Every `.json` file under `dir`, recursively, sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot read {}: {e}", d.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|x| x == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn b64(s: &str) -> Vec<u8> {
    STANDARD
        .decode(s)
        .unwrap_or_else(|e| panic!("bad base64 {s:?}: {e}"))
}

fn b64_list(list: &Option<Vec<String>>) -> Vec<Vec<u8>> {
    list.iter().flatten().map(|s| b64(s)).collect()
}

fn ct_tree() -> MemoryTree {
    let mut tree = MemoryTree::new(HashAlg::Sha256);
    for hex_leaf in CT_LEAVES {
        tree.push(HashAlg::Sha256.leaf_hash(&hex::decode(hex_leaf).unwrap()));
    }
    tree
}

fn as_vecs(hashes: &[Hash]) -> Vec<Vec<u8>> {
    hashes.iter().map(|h| h.to_vec()).collect()
}

#[test]
fn inclusion_vectors() {
    let alg = HashAlg::Sha256;
    let tree = ct_tree();
    let files = json_files(&Path::new(TESTDATA).join("inclusion"));
    assert!(
        files.len() > 90,
        "only {} inclusion vectors found under {TESTDATA}",
        files.len()
    );
    let (mut accepted, mut rejected, mut compared) = (0, 0, 0);
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        let v: InclusionVector =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let root = b64(&v.root);
        let leaf = b64(&v.leaf_hash);
        let proof = b64_list(&v.proof);
        let result = merkle::verify_inclusion(alg, v.leaf_idx, v.tree_size, &leaf, &proof, &root);
        if v.want_err {
            assert!(result.is_err(), "{} ({}) was accepted", file.display(), v.desc);
            rejected += 1;
            continue;
        }
        assert_eq!(result, Ok(()), "{} ({})", file.display(), v.desc);
        accepted += 1;
        // Happy paths over the CT tree: our own proofs and roots must be the vector's.
        if v.desc == "happy path" {
            let our_root = merkle::root(alg, v.tree_size, &tree).unwrap();
            assert_eq!(our_root.to_vec(), root, "{}", file.display());
            assert_eq!(tree.node(0, v.leaf_idx).unwrap().to_vec(), leaf);
            let ours = merkle::inclusion_proof(alg, v.leaf_idx, v.tree_size, &tree).unwrap();
            assert_eq!(as_vecs(&ours), proof, "{}", file.display());
            compared += 1;
        }
    }
    assert_eq!(accepted + rejected, files.len());
    assert!(accepted >= 6, "only {accepted} happy inclusion vectors");
    assert!(rejected > 80, "only {rejected} failing inclusion vectors");
    assert!(compared >= 5, "only {compared} inclusion proofs compared");
}

#[test]
fn consistency_vectors() {
    let alg = HashAlg::Sha256;
    let tree = ct_tree();
    let files = json_files(&Path::new(TESTDATA).join("consistency"));
    assert!(
        files.len() > 90,
        "only {} consistency vectors found under {TESTDATA}",
        files.len()
    );
    let (mut accepted, mut rejected, mut compared) = (0, 0, 0);
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        let v: ConsistencyVector =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let root1 = b64(&v.root1);
        let root2 = b64(&v.root2);
        let proof = b64_list(&v.proof);
        let result = merkle::verify_consistency(alg, v.size1, v.size2, &proof, &root1, &root2);
        if v.want_err {
            assert!(result.is_err(), "{} ({}) was accepted", file.display(), v.desc);
            rejected += 1;
            continue;
        }
        assert_eq!(result, Ok(()), "{} ({})", file.display(), v.desc);
        accepted += 1;
        if v.desc == "happy path" {
            assert_eq!(
                merkle::root(alg, v.size1, &tree).unwrap().to_vec(),
                root1,
                "{}",
                file.display()
            );
            assert_eq!(
                merkle::root(alg, v.size2, &tree).unwrap().to_vec(),
                root2,
                "{}",
                file.display()
            );
            let ours = merkle::consistency_proof(alg, v.size1, v.size2, &tree).unwrap();
            assert_eq!(as_vecs(&ours), proof, "{}", file.display());
            compared += 1;
        }
    }
    assert_eq!(accepted + rejected, files.len());
    assert!(accepted >= 6, "only {accepted} happy consistency vectors");
    assert!(rejected > 80, "only {rejected} failing consistency vectors");
    assert!(compared >= 5, "only {compared} consistency proofs compared");
}

/// Every proof our code generates over the CT tree verifies, and matches the root the vectors
/// give for the whole tree.
#[test]
fn ct_tree_proofs_verify() {
    let alg = HashAlg::Sha256;
    let tree = ct_tree();
    assert_eq!(
        STANDARD.encode(tree.root()),
        "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="
    );
    for size in 1..=8u64 {
        let root = merkle::root(alg, size, &tree).unwrap();
        for index in 0..size {
            let leaf = tree.node(0, index).unwrap();
            let proof = merkle::inclusion_proof(alg, index, size, &tree).unwrap();
            assert_eq!(
                merkle::verify_inclusion(alg, index, size, &leaf, &proof, &root),
                Ok(())
            );
            assert_eq!(
                merkle::root_from_inclusion_proof(alg, index, size, &leaf, &proof),
                Ok(root)
            );
        }
        for from in 1..=size {
            let old = merkle::root(alg, from, &tree).unwrap();
            let proof = merkle::consistency_proof(alg, from, size, &tree).unwrap();
            assert_eq!(
                merkle::verify_consistency(alg, from, size, &proof, &old, &root),
                Ok(())
            );
        }
    }
}
