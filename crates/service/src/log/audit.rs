//! `tianping log audit`: recompute everything from storage and stop at the first divergence.
//!
//! In order: each stored checkpoint's signature and body; every entry up to it (envelope decodes,
//! leaf hash recomputed); every tile that the recomputed tree
//! completes, byte for byte; the checkpoint's root against the recomputed root; and a consistency
//! proof, generated from the stored tiles, from the previous checkpoint to this one. Finally nothing
//! may lie beyond the latest checkpoint, and the right-edge tiles must match. Contents are the
//! vault's: `tianping vault audit` checks each record against its entry's commitment.

use std::collections::HashMap;

use tianping_log::checkpoint::open_checkpoint;
use tianping_log::envelope::Envelope;
use tianping_log::merkle::verify_consistency;
use tianping_log::note::VerifierKey;
use tianping_log::{Hash, HashAlg};
use tianping_store::{Db, log as rows};

use super::{RightEdge, TreeReader};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub entries: u64,
    pub checkpoints: u64,
    pub tiles: u64,
    /// The first divergence found, if any. The audit stops there.
    pub divergence: Option<String>,
}

const CHUNK: u64 = 4096;

/// Audit the log in `db` with the log's verifier keys.
pub async fn audit(db: &Db, alg: HashAlg, verifiers: &[VerifierKey]) -> anyhow::Result<AuditReport> {
    let mut report = AuditReport::default();
    let divergence = run(db, alg, verifiers, &mut report).await?;
    report.divergence = divergence;
    Ok(report)
}

async fn run(
    db: &Db,
    alg: HashAlg,
    verifiers: &[VerifierKey],
    report: &mut AuditReport,
) -> anyhow::Result<Option<String>> {
    let reader = TreeReader::new(db.clone(), alg, 4096);
    let mut edge = RightEdge::empty(alg);
    let mut prev: Option<(u64, Hash)> = None;
    let mut next_size = 0u64;
    loop {
        let page = rows::checkpoints_from(db, next_size, 512).await?;
        if page.is_empty() {
            break;
        }
        for row in page {
            next_size = row.size + 1;
            let cp = match open_checkpoint(&row.note, verifiers) {
                Ok((cp, _)) => cp,
                Err(e) => return Ok(Some(format!("checkpoint {}: {e}", row.size))),
            };
            if cp.size != row.size || cp.root.as_slice() != row.root.as_slice() {
                return Ok(Some(format!(
                    "checkpoint {}: signed body (size {}) differs from its stored row",
                    row.size, cp.size
                )));
            }
            while edge.size() < cp.size {
                let from = edge.size();
                let to = (from + CHUNK).min(cp.size);
                if let Some(d) = entries(db, alg, &mut edge, from, to, report).await? {
                    return Ok(Some(d));
                }
            }
            if edge.root()? != cp.root {
                return Ok(Some(format!(
                    "checkpoint {}: its root differs from the root recomputed from the entries",
                    cp.size
                )));
            }
            if let Some((size1, root1)) = prev
                && size1 > 0
                && size1 < cp.size
            {
                let proof = reader.consistency_proof(size1, cp.size).await?;
                if let Err(e) = verify_consistency(alg, size1, cp.size, &proof, &root1, &cp.root) {
                    return Ok(Some(format!(
                        "checkpoints {size1} and {}: consistency proof from stored tiles fails: {e}",
                        cp.size
                    )));
                }
            }
            prev = Some((cp.size, cp.root));
            report.checkpoints += 1;
        }
    }
    let size = edge.size();
    if !rows::entries(db, size, size + 1).await?.is_empty() {
        return Ok(Some(format!("entry {size} lies beyond the latest checkpoint")));
    }
    // A partial level-0 tile is not stored (the entries just checked are its hashes).
    for (level, index, tile) in edge.partial_tiles().filter(|t| t.0 > 0) {
        let stored = rows::tiles(db, &[(level, index)]).await?;
        match stored.first() {
            Some(t) if t.width == tile.width() && t.nodes == tile.to_bytes() => report.tiles += 1,
            _ => {
                return Ok(Some(format!(
                    "partial tile {level}/{index} differs from the recomputed tree"
                )));
            }
        }
    }
    Ok(None)
}

/// Check entries `[from, to)` and append them to `edge`, comparing every tile they complete.
async fn entries(
    db: &Db,
    alg: HashAlg,
    edge: &mut RightEdge,
    from: u64,
    to: u64,
    report: &mut AuditReport,
) -> anyhow::Result<Option<String>> {
    let rows_ = rows::entries(db, from, to).await?;
    let mut leaves = Vec::with_capacity(rows_.len());
    for (expected, row) in (from..to).zip(rows_.iter().map(Some).chain(std::iter::repeat(None))) {
        let Some(row) = row.filter(|r| r.idx == expected) else {
            return Ok(Some(format!("entry {expected} is missing")));
        };
        if let Err(e) = Envelope::decode(&row.envelope) {
            return Ok(Some(format!("entry {expected}: envelope does not decode: {e}")));
        }
        let leaf = alg.leaf_hash(&row.envelope);
        if leaf.as_slice() != row.leaf_hash.as_slice() {
            return Ok(Some(format!(
                "entry {expected}: stored leaf hash differs from its envelope's"
            )));
        }
        leaves.push(leaf);
        report.entries += 1;
    }
    let full: Vec<_> = edge
        .append(&leaves)
        .into_iter()
        .filter(|t| t.tile.root().is_some())
        .collect();
    if !full.is_empty() {
        let keys: Vec<(u8, u64)> = full.iter().map(|t| (t.level, t.index)).collect();
        let stored: HashMap<(u8, u64), _> = rows::tiles(db, &keys)
            .await?
            .into_iter()
            .map(|t| ((t.level, t.idx), t))
            .collect();
        for t in full {
            match stored.get(&(t.level, t.index)) {
                Some(s) if s.width == t.tile.width() && s.nodes == t.tile.to_bytes() => report.tiles += 1,
                _ => {
                    return Ok(Some(format!(
                        "tile {}/{} differs from the tree recomputed from the entries",
                        t.level, t.index
                    )));
                }
            }
        }
    }
    Ok(None)
}
