//! RFC 9162 Merkle tree: roots, inclusion and consistency proofs, and their verification.
//!
//! Nothing here holds the whole tree. Roots and proofs are assembled from hashes of *perfect
//! subtrees* — complete, aligned subtrees of `2^level` leaves — which a [`NodeSource`] provides:
//! `node(level, index)` is the hash of leaves `[index << level, (index + 1) << level)`. A source may
//! be a [`MemoryTree`], a set of tiles ([`crate::tile::TileSet`]), or anything the service builds
//! over its database.
//!
//! # Architecture invariant: node requests depend on sizes only
//!
//! [`root`], [`subtree_root`], [`inclusion_proof`], [`consistency_proof`] and
//! [`CompactRange::from_source`] decide which nodes to request, and in which order, from the sizes
//! and indices they are given, never from the hash values the source returns. The service relies
//! on this: it runs an algorithm once against a recording source that answers every request with a
//! dummy hash (see [`crate::tile::TileRecorder`]) to learn which nodes — hence which tiles — it
//! will need, fetches exactly those from the database, and runs the algorithm again for real. The
//! second run makes the same requests as the first, so it finds everything it needs. A test in this
//! module checks that a recording source and a real one see identical request sequences.
//!
//! Verification ([`verify_inclusion`], [`verify_consistency`]) follows the algorithms of
//! RFC 9162 §2.1.3.2 and §2.1.4.2, and is stricter than they require in one way: a proof must have
//! exactly the length the sizes call for, and every hash in it must be 32 bytes.

use std::fmt;

use crate::hash::{Hash, HashAlg};

/// A perfect subtree hash could not be provided by the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("node at level {level} index {index} is not available")]
pub struct MissingNode {
    pub level: u8,
    pub index: u64,
}

/// Source of hashes of perfect (complete, aligned) subtrees: `node(level, index)` is the hash of
/// leaves `[index << level, (index + 1) << level)`. Level 0 nodes are leaf hashes.
pub trait NodeSource {
    fn node(&self, level: u8, index: u64) -> Result<Hash, MissingNode>;
}

/// Why a proof could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error(
        "no consistency proof from tree size {from} to tree size {to}: sizes must satisfy 0 < from <= to"
    )]
    BadSizes { from: u64, to: u64 },
    #[error(transparent)]
    Missing(#[from] MissingNode),
}

/// Which hash of a verification input had the wrong length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashRole {
    /// The leaf hash whose inclusion is proved.
    LeafHash,
    /// The root an inclusion proof is checked against.
    Root,
    /// The root of the smaller tree in a consistency proof.
    OldRoot,
    /// The root of the larger tree in a consistency proof.
    NewRoot,
    /// The proof hash at this position (0-based).
    ProofHash(usize),
}

impl fmt::Display for HashRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashRole::LeafHash => f.write_str("leaf hash"),
            HashRole::Root => f.write_str("root"),
            HashRole::OldRoot => f.write_str("old root"),
            HashRole::NewRoot => f.write_str("new root"),
            HashRole::ProofHash(i) => write!(f, "proof hash {i}"),
        }
    }
}

/// Why a proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error(
        "cannot check consistency from tree size {from} to tree size {to}: sizes must satisfy 0 < from <= to"
    )]
    BadSizes { from: u64, to: u64 },
    #[error("proof has {got} hashes, but these tree sizes need exactly {expected}")]
    WrongProofLength { expected: usize, got: usize },
    #[error("{role} is {len} bytes long, expected 32")]
    BadHashLength { role: HashRole, len: usize },
    #[error("inclusion proof does not lead to the expected root")]
    RootMismatch,
    #[error("two trees of the same size {size} have different roots")]
    SameSizeDifferentRoots { size: u64 },
    #[error("consistency proof does not reproduce the old root")]
    OldRootMismatch,
    #[error("consistency proof does not reproduce the new root")]
    NewRootMismatch,
}

/// Largest power of two strictly less than `n` (the RFC 9162 split point `k`). `n` must be >= 2.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Root of the tree of the first `size` leaves. Size 0 gives [`HashAlg::empty_root`].
///
/// Requests one perfect subtree per set bit of `size`, left to right.
pub fn root<S: NodeSource + ?Sized>(alg: HashAlg, size: u64, src: &S) -> Result<Hash, MissingNode> {
    subtree_root(alg, 0, size, src)
}

/// RFC 9162 `MTH(D[start:end])`, the hash of the leaves `[start, end)` taken as a tree of their
/// own. An empty range (`end <= start`) gives [`HashAlg::empty_root`].
///
/// The ranges the RFC recursion produces have `start` a multiple of the largest power of two not
/// above `end - start`; such a range splits into at most 64 perfect subtrees, and only those are
/// requested from `src`. Other ranges still get the correct hash, but built from smaller
/// subtrees, possibly down to single leaves; callers that take ranges from untrusted input should
/// check alignment first.
pub fn subtree_root<S: NodeSource + ?Sized>(
    alg: HashAlg,
    start: u64,
    end: u64,
    src: &S,
) -> Result<Hash, MissingNode> {
    if end <= start {
        return Ok(alg.empty_root());
    }
    let n = end - start;
    if n.is_power_of_two() && start & (n - 1) == 0 {
        let level = n.trailing_zeros();
        return src.node(level as u8, start >> level);
    }
    let mid = start + split_point(n);
    let left = subtree_root(alg, start, mid, src)?;
    let right = subtree_root(alg, mid, end, src)?;
    Ok(alg.node_hash(&left, &right))
}

/// The ranges `[start, end)` whose hashes form the audit path of leaf `index` in a tree of `size`
/// (RFC 9162 §2.1.3.1 `PATH`), ordered from the leaf up. Requires `index < size`.
fn inclusion_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let mut ranges = Vec::new();
    let (mut start, mut end) = (0, size);
    // Walk from the root down to the leaf, noting the sibling of each subtree we descend into.
    while end - start > 1 {
        let mid = start + split_point(end - start);
        if index < mid {
            ranges.push((mid, end));
            end = mid;
        } else {
            ranges.push((start, mid));
            start = mid;
        }
    }
    ranges.reverse();
    ranges
}

/// The ranges `[start, end)` whose hashes form the consistency proof from `from` to `to`
/// (RFC 9162 §2.1.4.1 `SUBPROOF`), in proof order. Requires `0 < from < to`.
fn consistency_ranges(from: u64, to: u64) -> Vec<(u64, u64)> {
    let mut ranges = Vec::new();
    let (mut start, mut end) = (0, to);
    // Leaves of the old tree still inside [start, end); always at least 1.
    let mut old = from;
    // Whether [start, end) is a left edge of the old tree, whose hash the verifier already has.
    let mut known = true;
    loop {
        if old == end - start {
            if !known {
                ranges.push((start, end));
            }
            break;
        }
        let mid = start + split_point(end - start);
        if old <= mid - start {
            ranges.push((mid, end));
            end = mid;
        } else {
            ranges.push((start, mid));
            old -= mid - start;
            start = mid;
            known = false;
        }
    }
    ranges.reverse();
    ranges
}

fn hashes_of<S: NodeSource + ?Sized>(
    alg: HashAlg,
    ranges: &[(u64, u64)],
    src: &S,
) -> Result<Vec<Hash>, ProofError> {
    ranges
        .iter()
        .map(|&(start, end)| subtree_root(alg, start, end, src).map_err(ProofError::from))
        .collect()
}

/// Inclusion proof (audit path) of leaf `index` in the tree of the first `size` leaves, ordered
/// from the leaf up, as RFC 9162 §2.1.3.1 defines it.
pub fn inclusion_proof<S: NodeSource + ?Sized>(
    alg: HashAlg,
    index: u64,
    size: u64,
    src: &S,
) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    hashes_of(alg, &inclusion_ranges(index, size), src)
}

/// Consistency proof from the tree of size `from` to the tree of size `to` (RFC 9162 §2.1.4.1).
///
/// `from == 0` is refused (there is nothing to prove about the empty tree, and verifiers reject
/// it), as is `from > to`. `from == to` gives an empty proof.
pub fn consistency_proof<S: NodeSource + ?Sized>(
    alg: HashAlg,
    from: u64,
    to: u64,
    src: &S,
) -> Result<Vec<Hash>, ProofError> {
    if from == 0 || from > to {
        return Err(ProofError::BadSizes { from, to });
    }
    if from == to {
        return Ok(Vec::new());
    }
    hashes_of(alg, &consistency_ranges(from, to), src)
}

fn to_hash(bytes: &[u8], role: HashRole) -> Result<Hash, VerifyError> {
    Hash::try_from(bytes).map_err(|_| VerifyError::BadHashLength {
        role,
        len: bytes.len(),
    })
}

fn proof_hashes<P: AsRef<[u8]>>(proof: &[P], expected: usize) -> Result<Vec<Hash>, VerifyError> {
    if proof.len() != expected {
        return Err(VerifyError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    proof
        .iter()
        .enumerate()
        .map(|(i, p)| to_hash(p.as_ref(), HashRole::ProofHash(i)))
        .collect()
}

/// Runs the index bookkeeping of the RFC 9162 verification loops (`fn`, `sn`) from the given
/// starting values, without any hashes, and returns one flag per proof hash the loop consumes:
/// `true` where the proof hash is a left sibling (the "LSB(fn) set or fn == sn" branch).
fn sibling_sides(mut f: u64, mut s: u64) -> Vec<bool> {
    let mut sides = Vec::new();
    while s != 0 {
        let left = f & 1 == 1 || f == s;
        sides.push(left);
        if left {
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        }
        f >>= 1;
        s >>= 1;
    }
    sides
}

/// The root that an inclusion proof for `leaf_hash` at `index` in a tree of `size` leads to
/// (RFC 9162 §2.1.3.2 without the final comparison). Checks that the index is in the tree, that
/// the leaf hash and every proof hash are 32 bytes, and that the proof has exactly the length the
/// index and size call for.
pub fn root_from_inclusion_proof<P: AsRef<[u8]>>(
    alg: HashAlg,
    index: u64,
    size: u64,
    leaf_hash: &[u8],
    proof: &[P],
) -> Result<Hash, VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let leaf = to_hash(leaf_hash, HashRole::LeafHash)?;
    let sides = sibling_sides(index, size - 1);
    let proof = proof_hashes(proof, sides.len())?;
    let mut r = leaf;
    for (p, left) in proof.iter().zip(sides) {
        r = if left {
            alg.node_hash(p, &r)
        } else {
            alg.node_hash(&r, p)
        };
    }
    Ok(r)
}

/// Checks an inclusion proof against a root. See [`root_from_inclusion_proof`] for the checks made
/// on the inputs; `root` must be 32 bytes as well.
pub fn verify_inclusion<P: AsRef<[u8]>>(
    alg: HashAlg,
    index: u64,
    size: u64,
    leaf_hash: &[u8],
    proof: &[P],
    root: &[u8],
) -> Result<(), VerifyError> {
    let computed = root_from_inclusion_proof(alg, index, size, leaf_hash, proof)?;
    let root = to_hash(root, HashRole::Root)?;
    if computed == root {
        Ok(())
    } else {
        Err(VerifyError::RootMismatch)
    }
}

/// Checks a consistency proof between the tree of `size1` leaves with root `root1` and the tree of
/// `size2` leaves with root `root2` (RFC 9162 §2.1.4.2).
///
/// - `size1 == 0` is rejected even with an empty proof (the witness protocol deals with an old
///   size of 0 itself), and so is `size1 > size2`.
/// - Equal sizes need an empty proof and byte-for-byte equal roots. The roots' lengths are not
///   checked in this case, as the peer vectors require; nothing is hashed.
/// - Otherwise both roots and every proof hash must be 32 bytes, and the proof must have exactly
///   the length the two sizes call for.
pub fn verify_consistency<P: AsRef<[u8]>>(
    alg: HashAlg,
    size1: u64,
    size2: u64,
    proof: &[P],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), VerifyError> {
    if size1 == 0 || size1 > size2 {
        return Err(VerifyError::BadSizes {
            from: size1,
            to: size2,
        });
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(VerifyError::WrongProofLength {
                expected: 0,
                got: proof.len(),
            });
        }
        if root1 != root2 {
            return Err(VerifyError::SameSizeDifferentRoots { size: size1 });
        }
        return Ok(());
    }
    let old_root = to_hash(root1, HashRole::OldRoot)?;
    let new_root = to_hash(root2, HashRole::NewRoot)?;

    // When the old tree is a perfect subtree its root is the first node of the path, and the
    // proof leaves it out.
    let old_is_perfect = size1.is_power_of_two();
    let mut f = size1 - 1;
    let mut s = size2 - 1;
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let sides = sibling_sides(f, s);
    let expected = sides.len() + usize::from(!old_is_perfect);
    let proof = proof_hashes(proof, expected)?;

    let (first, rest) = if old_is_perfect {
        (old_root, &proof[..])
    } else {
        (proof[0], &proof[1..])
    };
    let mut fr = first;
    let mut sr = first;
    for (c, left) in rest.iter().zip(sides) {
        if left {
            fr = alg.node_hash(c, &fr);
            sr = alg.node_hash(c, &sr);
        } else {
            sr = alg.node_hash(&sr, c);
        }
    }
    if fr != old_root {
        return Err(VerifyError::OldRootMismatch);
    }
    if sr != new_root {
        return Err(VerifyError::NewRootMismatch);
    }
    Ok(())
}

/// Streaming right edge of a tree ("compact range" from 0): append leaf hashes, get the root at
/// any time. Holds one hash per set bit of the size, so O(log n) memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactRange {
    alg: HashAlg,
    size: u64,
    /// Roots of the perfect subtrees the tree splits into, largest (leftmost) first: one per set
    /// bit of `size`.
    peaks: Vec<Hash>,
}

impl CompactRange {
    /// The empty tree.
    pub fn new(alg: HashAlg) -> Self {
        CompactRange {
            alg,
            size: 0,
            peaks: Vec::new(),
        }
    }

    /// The right edge of the tree of the first `size` leaves, taken from a node source. Requests
    /// one perfect subtree per set bit of `size`, left to right (as [`root`] does).
    pub fn from_source<S: NodeSource + ?Sized>(
        alg: HashAlg,
        size: u64,
        src: &S,
    ) -> Result<Self, MissingNode> {
        let mut peaks = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size >> level & 1 == 1 {
                peaks.push(src.node(level as u8, start >> level)?);
                start += 1 << level;
            }
        }
        Ok(CompactRange { alg, size, peaks })
    }

    pub fn alg(&self) -> HashAlg {
        self.alg
    }

    /// Number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Roots of the perfect subtrees making up the tree, leftmost (largest) first.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Appends one leaf hash.
    pub fn append(&mut self, leaf_hash: Hash) {
        let mut h = leaf_hash;
        // Each trailing 1 bit of the old size is a peak of the same height as the subtree being
        // carried, so the two merge.
        for _ in 0..self.size.trailing_ones() {
            let Some(left) = self.peaks.pop() else {
                debug_assert!(false, "compact range holds fewer peaks than its size needs");
                break;
            };
            h = self.alg.node_hash(&left, &h);
        }
        self.peaks.push(h);
        self.size += 1;
    }

    /// Root of the tree so far; [`HashAlg::empty_root`] when empty.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(&last) = peaks.next() else {
            return self.alg.empty_root();
        };
        peaks.fold(last, |right, left| self.alg.node_hash(left, &right))
    }
}

/// Whole tree in memory, for tests and small tools: built from leaf hashes, implements
/// [`NodeSource`] for every perfect subtree of the leaves pushed so far. Uses about two hashes of
/// memory per leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryTree {
    alg: HashAlg,
    /// `levels[l][i]` is `node(l, i)`; `levels[0]` are the leaf hashes.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    pub fn new(alg: HashAlg) -> Self {
        MemoryTree {
            alg,
            levels: vec![Vec::new()],
        }
    }

    pub fn alg(&self) -> HashAlg {
        self.alg
    }

    /// Appends one leaf hash, completing whatever perfect subtrees it closes.
    pub fn push(&mut self, leaf_hash: Hash) {
        self.levels[0].push(leaf_hash);
        let mut level = 0;
        while self.levels[level].len().is_multiple_of(2) {
            let nodes = &self.levels[level];
            let parent = self
                .alg
                .node_hash(&nodes[nodes.len() - 2], &nodes[nodes.len() - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(parent);
            level += 1;
        }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Root of the whole tree; [`HashAlg::empty_root`] when empty.
    pub fn root(&self) -> Hash {
        root(self.alg, self.size(), self).expect("a memory tree holds every perfect subtree of its leaves")
    }
}

impl NodeSource for MemoryTree {
    fn node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        let missing = MissingNode { level, index };
        let nodes = self.levels.get(usize::from(level)).ok_or(missing)?;
        let i = usize::try_from(index).map_err(|_| missing)?;
        nodes.get(i).copied().ok_or(missing)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    const ALGS: [HashAlg; 2] = [HashAlg::Sha256, HashAlg::Sm3];

    fn leaf(alg: HashAlg, i: u64) -> Hash {
        alg.leaf_hash(&i.to_be_bytes())
    }

    fn tree(alg: HashAlg, size: u64) -> MemoryTree {
        let mut t = MemoryTree::new(alg);
        for i in 0..size {
            t.push(leaf(alg, i));
        }
        t
    }

    /// MTH straight from the RFC 9162 definition, over a list of leaf hashes.
    fn reference_mth(alg: HashAlg, leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => alg.empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                alg.node_hash(
                    &reference_mth(alg, &leaves[..k]),
                    &reference_mth(alg, &leaves[k..]),
                )
            }
        }
    }

    /// Records every request and forwards it to an inner source.
    struct Recording<'a, S: ?Sized> {
        inner: &'a S,
        seen: RefCell<Vec<(u8, u64)>>,
    }

    impl<'a, S: NodeSource + ?Sized> Recording<'a, S> {
        fn new(inner: &'a S) -> Self {
            Recording {
                inner,
                seen: RefCell::new(Vec::new()),
            }
        }
        fn take(&self) -> Vec<(u8, u64)> {
            self.seen.take()
        }
    }

    impl<S: NodeSource + ?Sized> NodeSource for Recording<'_, S> {
        fn node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
            self.seen.borrow_mut().push((level, index));
            self.inner.node(level, index)
        }
    }

    /// Answers every request with the same dummy hash.
    struct Dummy;

    impl NodeSource for Dummy {
        fn node(&self, _level: u8, _index: u64) -> Result<Hash, MissingNode> {
            Ok([0xa5; 32])
        }
    }

    #[test]
    fn split_point_is_largest_power_of_two_below() {
        for n in 2u64..2000 {
            let k = split_point(n);
            assert!(k.is_power_of_two() && k < n && 2 * k >= n, "n={n} k={k}");
        }
        assert_eq!(split_point(u64::MAX), 1 << 63);
        assert_eq!(split_point((1 << 63) + 1), 1 << 63);
    }

    #[test]
    fn roots_match_the_rfc_definition() {
        for alg in ALGS {
            let leaves: Vec<Hash> = (0..300).map(|i| leaf(alg, i)).collect();
            let t = tree(alg, 300);
            for size in 0..=300u64 {
                let want = reference_mth(alg, &leaves[..size as usize]);
                assert_eq!(root(alg, size, &t).unwrap(), want, "size {size}");
            }
            assert_eq!(t.root(), reference_mth(alg, &leaves));
            assert_eq!(MemoryTree::new(alg).root(), alg.empty_root());
        }
    }

    #[test]
    fn subtree_root_handles_any_range() {
        let alg = HashAlg::Sha256;
        let leaves: Vec<Hash> = (0..40).map(|i| leaf(alg, i)).collect();
        let t = tree(alg, 40);
        for start in 0..40u64 {
            for end in start..=40u64 {
                let want = reference_mth(alg, &leaves[start as usize..end as usize]);
                assert_eq!(
                    subtree_root(alg, start, end, &t).unwrap(),
                    want,
                    "[{start}, {end})"
                );
            }
        }
        assert_eq!(subtree_root(alg, 5, 3, &t).unwrap(), alg.empty_root());
    }

    #[test]
    fn aligned_subtree_root_asks_only_for_the_perfect_subtrees() {
        let t = tree(HashAlg::Sha256, 64);
        let rec = Recording::new(&t);
        // [32, 45): 8 + 4 + 1 leaves.
        subtree_root(HashAlg::Sha256, 32, 45, &rec).unwrap();
        assert_eq!(rec.take(), vec![(3, 4), (2, 10), (0, 44)]);
        root(HashAlg::Sha256, 64, &rec).unwrap();
        assert_eq!(rec.take(), vec![(6, 0)]);
        root(HashAlg::Sha256, 0, &rec).unwrap();
        assert_eq!(rec.take(), vec![]);
    }

    #[test]
    fn proof_ranges_have_rfc_shape() {
        // RFC 9162 §2.1.5 examples, tree of 7 leaves: d0..d6.
        assert_eq!(inclusion_ranges(0, 7), vec![(1, 2), (2, 4), (4, 7)]);
        assert_eq!(inclusion_ranges(3, 7), vec![(2, 3), (0, 2), (4, 7)]);
        assert_eq!(inclusion_ranges(4, 7), vec![(5, 6), (6, 7), (0, 4)]);
        assert_eq!(inclusion_ranges(6, 7), vec![(4, 6), (0, 4)]);
        // Consistency examples from the same section.
        assert_eq!(consistency_ranges(3, 7), vec![(2, 3), (3, 4), (0, 2), (4, 7)]);
        assert_eq!(consistency_ranges(4, 7), vec![(4, 7)]);
        assert_eq!(consistency_ranges(6, 7), vec![(4, 6), (6, 7), (0, 4)]);
    }

    #[test]
    fn requests_do_not_depend_on_hash_values() {
        for alg in ALGS {
            let t = tree(alg, 40);
            let real = Recording::new(&t);
            let dummy = Recording::new(&Dummy);
            for size in 0..=40u64 {
                root(alg, size, &real).unwrap();
                root(alg, size, &dummy).unwrap();
                assert_eq!(real.take(), dummy.take(), "root {size}");

                CompactRange::from_source(alg, size, &real).unwrap();
                CompactRange::from_source(alg, size, &dummy).unwrap();
                assert_eq!(real.take(), dummy.take(), "compact range {size}");

                for index in 0..size {
                    inclusion_proof(alg, index, size, &real).unwrap();
                    inclusion_proof(alg, index, size, &dummy).unwrap();
                    let (r, d) = (real.take(), dummy.take());
                    assert!(size == 1 || !r.is_empty());
                    assert_eq!(r, d, "inclusion {index} {size}");
                }
                for from in 1..=size {
                    consistency_proof(alg, from, size, &real).unwrap();
                    consistency_proof(alg, from, size, &dummy).unwrap();
                    assert_eq!(real.take(), dummy.take(), "consistency {from} {size}");
                }
            }
        }
    }

    #[test]
    fn every_proof_verifies_and_every_flipped_bit_is_rejected() {
        for alg in ALGS {
            let t = tree(alg, 70);
            for size in 1..=70u64 {
                let r = root(alg, size, &t).unwrap();
                for index in 0..size {
                    let lh = leaf(alg, index);
                    let proof = inclusion_proof(alg, index, size, &t).unwrap();
                    assert_eq!(proof.len(), sibling_sides(index, size - 1).len());
                    verify_inclusion(alg, index, size, &lh, &proof, &r).unwrap();
                    for i in 0..proof.len() {
                        let mut bad = proof.clone();
                        bad[i][(index as usize + i) % 32] ^= 1 << (i % 8);
                        assert_eq!(
                            verify_inclusion(alg, index, size, &lh, &bad, &r),
                            Err(VerifyError::RootMismatch)
                        );
                    }
                    let mut bad_leaf = lh;
                    bad_leaf[31] ^= 0x80;
                    assert_eq!(
                        verify_inclusion(alg, index, size, &bad_leaf, &proof, &r),
                        Err(VerifyError::RootMismatch)
                    );
                    let mut bad_root = r;
                    bad_root[0] ^= 1;
                    assert_eq!(
                        verify_inclusion(alg, index, size, &lh, &proof, &bad_root),
                        Err(VerifyError::RootMismatch)
                    );
                }
                for from in 1..=size {
                    let old = root(alg, from, &t).unwrap();
                    let proof = consistency_proof(alg, from, size, &t).unwrap();
                    verify_consistency(alg, from, size, &proof, &old, &r).unwrap();
                    for i in 0..proof.len() {
                        let mut bad = proof.clone();
                        bad[i][(from as usize * 7 + i) % 32] ^= 1 << ((i + 3) % 8);
                        assert!(
                            matches!(
                                verify_consistency(alg, from, size, &bad, &old, &r),
                                Err(VerifyError::OldRootMismatch | VerifyError::NewRootMismatch)
                            ),
                            "{from} -> {size} element {i}"
                        );
                    }
                    let mut bad_old = old;
                    bad_old[5] ^= 4;
                    let mut bad_new = r;
                    bad_new[9] ^= 2;
                    if from < size {
                        // When the old tree is perfect its root seeds both computations, so a
                        // wrong old root shows up as a new-root mismatch.
                        let want = if from.is_power_of_two() {
                            VerifyError::NewRootMismatch
                        } else {
                            VerifyError::OldRootMismatch
                        };
                        assert_eq!(
                            verify_consistency(alg, from, size, &proof, &bad_old, &r),
                            Err(want)
                        );
                        assert_eq!(
                            verify_consistency(alg, from, size, &proof, &old, &bad_new),
                            Err(VerifyError::NewRootMismatch)
                        );
                    } else {
                        assert_eq!(
                            verify_consistency(alg, from, size, &proof, &old, &bad_new),
                            Err(VerifyError::SameSizeDifferentRoots { size })
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn proofs_do_not_verify_for_other_positions() {
        let alg = HashAlg::Sha256;
        let t = tree(alg, 20);
        for size in 2..=20u64 {
            let r = root(alg, size, &t).unwrap();
            for index in 0..size {
                let proof = inclusion_proof(alg, index, size, &t).unwrap();
                let lh = leaf(alg, index);
                for other in 0..size {
                    if other != index {
                        assert!(verify_inclusion(alg, other, size, &lh, &proof, &r).is_err());
                    }
                }
            }
        }
    }

    #[test]
    fn generation_rejects_bad_arguments() {
        let alg = HashAlg::Sha256;
        let t = tree(alg, 10);
        assert_eq!(
            inclusion_proof(alg, 10, 10, &t),
            Err(ProofError::IndexOutOfRange { index: 10, size: 10 })
        );
        assert_eq!(
            inclusion_proof(alg, 0, 0, &t),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            consistency_proof(alg, 0, 0, &t),
            Err(ProofError::BadSizes { from: 0, to: 0 })
        );
        assert_eq!(
            consistency_proof(alg, 0, 5, &t),
            Err(ProofError::BadSizes { from: 0, to: 5 })
        );
        assert_eq!(
            consistency_proof(alg, 6, 5, &t),
            Err(ProofError::BadSizes { from: 6, to: 5 })
        );
        assert_eq!(consistency_proof(alg, 7, 7, &t), Ok(vec![]));
        // Beyond what the tree holds: the missing node is reported.
        assert!(matches!(
            inclusion_proof(alg, 3, 12, &t),
            Err(ProofError::Missing(MissingNode { .. }))
        ));
        assert!(root(alg, 11, &t).is_err());
    }

    #[test]
    fn verification_checks_lengths_and_sizes() {
        let alg = HashAlg::Sha256;
        let t = tree(alg, 10);
        let r = t.root();
        let lh = leaf(alg, 3);
        let proof = inclusion_proof(alg, 3, 10, &t).unwrap();
        let n = proof.len();

        let mut long = proof.clone();
        long.push(r);
        assert_eq!(
            verify_inclusion(alg, 3, 10, &lh, &long, &r),
            Err(VerifyError::WrongProofLength {
                expected: n,
                got: n + 1
            })
        );
        assert_eq!(
            verify_inclusion(alg, 3, 10, &lh, &proof[..n - 1], &r),
            Err(VerifyError::WrongProofLength {
                expected: n,
                got: n - 1
            })
        );
        let mut short: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
        short[1].pop();
        assert_eq!(
            verify_inclusion(alg, 3, 10, &lh, &short, &r),
            Err(VerifyError::BadHashLength {
                role: HashRole::ProofHash(1),
                len: 31
            })
        );
        assert_eq!(
            verify_inclusion(alg, 3, 10, &lh[..31], &proof, &r),
            Err(VerifyError::BadHashLength {
                role: HashRole::LeafHash,
                len: 31
            })
        );
        assert_eq!(
            verify_inclusion(alg, 3, 10, &lh, &proof, &[0u8; 33]),
            Err(VerifyError::BadHashLength {
                role: HashRole::Root,
                len: 33
            })
        );
        assert_eq!(
            verify_inclusion(alg, 10, 10, &lh, &proof, &r),
            Err(VerifyError::IndexOutOfRange { index: 10, size: 10 })
        );

        let old = root(alg, 4, &t).unwrap();
        let cproof = consistency_proof(alg, 4, 10, &t).unwrap();
        let none: [Hash; 0] = [];
        assert_eq!(
            verify_consistency(alg, 0, 0, &none, &old, &old),
            Err(VerifyError::BadSizes { from: 0, to: 0 })
        );
        assert_eq!(
            verify_consistency(alg, 0, 10, &cproof, &old, &r),
            Err(VerifyError::BadSizes { from: 0, to: 10 })
        );
        assert_eq!(
            verify_consistency(alg, 11, 10, &cproof, &old, &r),
            Err(VerifyError::BadSizes { from: 11, to: 10 })
        );
        assert_eq!(
            verify_consistency(alg, 10, 10, &cproof, &r, &r),
            Err(VerifyError::WrongProofLength {
                expected: 0,
                got: cproof.len()
            })
        );
        assert_eq!(verify_consistency(alg, 10, 10, &none, &r, &r), Ok(()));
        assert_eq!(
            verify_consistency(alg, 4, 10, &cproof, &old[..5], &r),
            Err(VerifyError::BadHashLength {
                role: HashRole::OldRoot,
                len: 5
            })
        );
        assert_eq!(
            verify_consistency(alg, 4, 10, &cproof, &old, &[]),
            Err(VerifyError::BadHashLength {
                role: HashRole::NewRoot,
                len: 0
            })
        );
        assert!(matches!(
            verify_consistency(alg, 4, 10, &cproof[1..], &old, &r),
            Err(VerifyError::WrongProofLength { .. })
        ));
    }

    #[test]
    fn compact_range_matches_memory_tree() {
        for alg in ALGS {
            let mut cr = CompactRange::new(alg);
            let mut t = MemoryTree::new(alg);
            assert_eq!(cr.root(), alg.empty_root());
            for i in 0..600u64 {
                let lh = leaf(alg, i);
                cr.append(lh);
                t.push(lh);
                assert_eq!(cr.size(), t.size());
                assert_eq!(cr.peaks().len(), cr.size().count_ones() as usize);
                assert_eq!(cr.root(), t.root(), "size {}", i + 1);
            }
            for size in [0u64, 1, 2, 3, 255, 256, 257, 511, 600] {
                let from = CompactRange::from_source(alg, size, &t).unwrap();
                assert_eq!(from.size(), size);
                assert_eq!(from.root(), root(alg, size, &t).unwrap());
                // Appending after resuming gives the same as building from scratch.
                let mut resumed = from.clone();
                let mut fresh = CompactRange::new(alg);
                for i in 0..size + 5 {
                    fresh.append(leaf(alg, i));
                }
                for i in size..size + 5 {
                    resumed.append(leaf(alg, i));
                }
                assert_eq!(resumed, fresh);
            }
        }
    }

    #[test]
    fn memory_tree_nodes_are_perfect_subtrees() {
        let alg = HashAlg::Sm3;
        let leaves: Vec<Hash> = (0..100).map(|i| leaf(alg, i)).collect();
        let t = tree(alg, 100);
        for level in 0..8u8 {
            let width = 1usize << level;
            for index in 0..(100 / width) {
                let want = reference_mth(alg, &leaves[index * width..(index + 1) * width]);
                assert_eq!(t.node(level, index as u64), Ok(want));
            }
            let beyond = (100 / width) as u64;
            assert_eq!(t.node(level, beyond), Err(MissingNode { level, index: beyond }));
        }
        assert!(t.node(7, 0).is_err());
        assert!(t.node(200, 0).is_err());
    }

    #[test]
    fn errors_have_readable_messages() {
        assert_eq!(
            MissingNode { level: 3, index: 9 }.to_string(),
            "node at level 3 index 9 is not available"
        );
        assert_eq!(
            VerifyError::BadHashLength {
                role: HashRole::ProofHash(2),
                len: 0
            }
            .to_string(),
            "proof hash 2 is 0 bytes long, expected 32"
        );
        assert_eq!(
            ProofError::from(MissingNode { level: 0, index: 1 }).to_string(),
            "node at level 0 index 1 is not available"
        );
    }
}
