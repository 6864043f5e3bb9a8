//! Proofs and tiles served from storage. A proof is computed in two passes: a dry run with a
//! recording node source tells which tiles the proof touches; those are fetched in one query (full
//! tiles from a bounded cache), and the proof is computed over them. Nothing of the tree is kept in
//! memory beyond the cache, so memory stays flat as the log grows.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tianping_log::merkle::{self, NodeSource, ProofError};
use tianping_log::tile::{ExpandedTile, TILE_WIDTH, TileRecorder, TileSet};
use tianping_log::{Hash, HashAlg};
use tianping_store::{Db, log as rows};

use tokio::sync::{mpsc, oneshot, watch};

use super::{Head, ReadError};

type Loaded = Vec<((u8, u64), Arc<ExpandedTile>)>;
type LoadRequest = (Vec<(u8, u64)>, oneshot::Sender<Result<Loaded, ReadError>>);

/// Loader tasks: queries in flight at once, so that page reads overlap on several connections.
const LOADERS: usize = 2;

/// The tile loader: a few tasks that read tiles for every reader, each taking all requests queued
/// while it was busy and answering them with one query (the read-side twin of group commit). Under
/// load this turns many small round trips to the database into a few larger ones.
fn spawn_loader(db: Db, alg: HashAlg) -> mpsc::Sender<LoadRequest> {
    let (tx, rx) = mpsc::channel::<LoadRequest>(1024);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    for _ in 0..LOADERS {
        tokio::spawn(load_loop(db.clone(), alg, rx.clone()));
    }
    tx
}

async fn load_loop(db: Db, alg: HashAlg, rx: Arc<tokio::sync::Mutex<mpsc::Receiver<LoadRequest>>>) {
    let mut batch = Vec::new();
    loop {
        if rx.lock().await.recv_many(&mut batch, 256).await == 0 {
            return;
        }
        let requests = std::mem::take(&mut batch);
        let mut keys: Vec<(u8, u64)> = requests.iter().flat_map(|r| r.0.iter().copied()).collect();
        keys.sort_unstable();
        keys.dedup();
        let loaded = load(&db, alg, &keys).await;
        for (want, respond) in requests {
            let answer = match &loaded {
                Ok(tiles) => Ok(want
                    .iter()
                    .filter_map(|k| tiles.get(k).map(|t| (*k, t.clone())))
                    .collect()),
                Err(e) => Err(e.clone()),
            };
            let _ = respond.send(answer);
        }
    }
}

async fn load(
    db: &Db,
    alg: HashAlg,
    keys: &[(u8, u64)],
) -> Result<HashMap<(u8, u64), Arc<ExpandedTile>>, ReadError> {
    Ok(stored_tiles(db, alg, keys)
        .await?
        .into_iter()
        .map(|(level, index, tile)| ((level, index), Arc::new(tile)))
        .collect())
}

/// The tiles among `keys` that storage holds, as `(level, index, tile)`.
///
/// Level-0 tiles are stored only once full: a partial level-0 tile is nothing but the leaf hashes of
/// the entries after the last full tile, which `log_entries` already holds, so the sequencer does not
/// rewrite it with every batch. It is rebuilt here from those leaf hashes, as wide as the committed
/// entries make it. (Logs written before this stored partial level-0 tiles; migration 0007 removed
/// them.)
pub(super) async fn stored_tiles(
    db: &Db,
    alg: HashAlg,
    keys: &[(u8, u64)],
) -> Result<Vec<(u8, u64, ExpandedTile)>, ReadError> {
    let mut out = Vec::with_capacity(keys.len());
    let mut found = HashSet::with_capacity(keys.len());
    for row in rows::tiles(db, keys).await? {
        let tile = ExpandedTile::from_bytes(row.width, &row.nodes)
            .map_err(|e| ReadError::Corrupt(format!("tile {}/{}: {e}", row.level, row.idx)))?;
        found.insert((row.level, row.idx));
        out.push((row.level, row.idx, tile));
    }
    for &(level, index) in keys {
        if level > 0 || found.contains(&(level, index)) {
            continue;
        }
        let Some(from) = index.checked_mul(TILE_WIDTH) else {
            continue;
        };
        let leaves = rows::leaf_hashes(db, from, from.saturating_add(TILE_WIDTH)).await?;
        let mut bottom = Vec::with_capacity(leaves.len());
        for (expected, (idx, hash)) in (from..).zip(leaves) {
            let hash = Hash::try_from(hash.as_slice())
                .ok()
                .filter(|_| idx == expected)
                .ok_or_else(|| {
                    ReadError::Corrupt(format!("entry {expected}: missing or malformed leaf hash"))
                })?;
            bottom.push(hash);
        }
        if !bottom.is_empty() {
            out.push((level, index, ExpandedTile::new(alg, &bottom)));
        }
    }
    Ok(out)
}

/// Reads the stored tree. Cheap to clone.
#[derive(Clone)]
pub struct TreeReader {
    db: Db,
    loader: mpsc::Sender<LoadRequest>,
    alg: HashAlg,
    cache: Arc<TileCache>,
    /// The live head, whose partial tiles are read from memory.
    head: Option<watch::Receiver<Arc<Head>>>,
}

/// A bounded cache of full tiles of level 1 and above (they never change, and every proof in their
/// span reads them). Level-0 tiles are not cached: random reads over a large log would only churn
/// the cache. When full it is emptied and refilled: crude, but bounded and lock-light; a log of
/// 2^32 entries has about 65,800 tiles above level 0.
struct TileCache {
    capacity: usize,
    map: Mutex<HashMap<(u8, u64), Arc<ExpandedTile>>>,
}

impl TreeReader {
    pub fn new(db: Db, alg: HashAlg, cache_capacity: usize) -> Self {
        TreeReader {
            loader: spawn_loader(db.clone(), alg),
            db,
            alg,
            cache: Arc::new(TileCache {
                capacity: cache_capacity,
                map: Mutex::new(HashMap::new()),
            }),
            head: None,
        }
    }

    /// Read the partial tiles of the live head from memory rather than from storage.
    pub fn following(mut self, head: watch::Receiver<Arc<Head>>) -> Self {
        self.head = Some(head);
        self
    }

    /// Fetch `keys` (cache first, then one query for the rest).
    pub async fn fetch(&self, keys: &BTreeSet<(u8, u64)>) -> Result<TileSet, ReadError> {
        let mut found = TileSet::new();
        let mut missing = Vec::new();
        {
            let head = self.head.as_ref().map(|h| h.borrow().clone());
            let edge = head.as_ref().map_or(&[][..], |h| &h.edge[..]);
            let cache = self.cache.map.lock().expect("cache lock");
            for k in keys {
                let live = edge.iter().find(|(l, i, _)| (*l, *i) == *k).map(|e| &e.2);
                match live.or_else(|| cache.get(k)) {
                    Some(t) => {
                        found.insert(k.0, k.1, t.clone());
                    }
                    None => missing.push(*k),
                }
            }
        }
        if !missing.is_empty() {
            let (respond, answer) = oneshot::channel();
            self.loader
                .send((missing, respond))
                .await
                .map_err(|_| ReadError::Backend("tile loader stopped".into()))?;
            let fetched = answer
                .await
                .map_err(|_| ReadError::Backend("tile loader stopped".into()))??;
            let mut newly_full = Vec::new();
            for (key, tile) in fetched {
                if key.0 > 0 && u64::from(tile.width()) == TILE_WIDTH {
                    newly_full.push((key, tile.clone()));
                }
                found.insert(key.0, key.1, tile);
            }
            if !newly_full.is_empty() && self.cache.capacity > 0 {
                let mut cache = self.cache.map.lock().expect("cache lock");
                if cache.len() + newly_full.len() > self.cache.capacity {
                    cache.clear();
                }
                cache.extend(newly_full);
            }
        }
        Ok(found)
    }

    /// Run `f` over the tiles it needs: first a dry run to learn them, then for real.
    async fn over_tiles<T>(
        &self,
        f: impl Fn(&dyn NodeSource) -> Result<T, ProofError>,
    ) -> Result<T, ReadError> {
        let recorder = TileRecorder::new();
        // The dry run's result is meaningless (dummy hashes); only the access pattern matters.
        let _ = f(&recorder);
        let tiles = self.fetch(&recorder.tiles()).await?;
        f(&tiles).map_err(|e| match e {
            ProofError::Missing(m) => ReadError::Corrupt(format!("stored tree lacks {m}")),
            other => ReadError::Proof(other),
        })
    }

    /// Inclusion proof of `index` in the tree of `size` (the caller checks `size` is committed).
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ReadError> {
        let alg = self.alg;
        self.over_tiles(|src| merkle::inclusion_proof(alg, index, size, src))
            .await
    }

    /// Consistency proof from `from` to `to` (the caller checks `to` is committed).
    pub async fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, ReadError> {
        let alg = self.alg;
        self.over_tiles(|src| merkle::consistency_proof(alg, from, to, src))
            .await
    }

    /// Does the live head cover tile `level/index` of `width`? Storage may hold a batch whose
    /// commit is not yet durable (SQLite's fsync follows the commit); nothing of it is served
    /// before the head, published once it is durable, covers it. A reader not following a head
    /// (the audit) reads what storage holds.
    fn published(&self, level: u8, index: u64, width: u16) -> bool {
        let Some(head) = &self.head else {
            return true;
        };
        within(level, index, width, head.borrow().size)
    }

    /// The first `width` hashes of stored tile `level/index`, if that many exist and are published.
    pub async fn tile_hashes(&self, level: u8, index: u64, width: u16) -> Result<Option<Vec<u8>>, ReadError> {
        if i64::try_from(index).is_err() || !self.published(level, index, width) {
            return Ok(None);
        }
        let tiles = self.fetch(&BTreeSet::from([(level, index)])).await?;
        Ok(tiles.get(level, index).and_then(|t| t.bottom_bytes(width)))
    }

    /// Entry bundle `index` with `width` entries: each entry as a big-endian u16 length and its bytes.
    pub async fn entry_bundle(&self, index: u64, width: u16) -> Result<Option<Vec<u8>>, ReadError> {
        let Some(from) = index
            .checked_mul(TILE_WIDTH)
            .filter(|f| i64::try_from(*f).is_ok())
        else {
            return Ok(None);
        };
        if !self.published(0, index, width) {
            return Ok(None);
        }
        let entries = rows::entries(&self.db, from, from + u64::from(width)).await?;
        if entries.len() != usize::from(width) {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(entries.iter().map(|e| e.envelope.len() + 2).sum());
        for e in entries {
            let len = u16::try_from(e.envelope.len())
                .map_err(|_| ReadError::Corrupt(format!("entry {} is too long", e.idx)))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&e.envelope);
        }
        Ok(Some(out))
    }
}

/// Is tile `level/index` of `width` part of the tree of `size` leaves? It covers the leaves up to
/// `(index * 256 + width) * 256^level`.
fn within(level: u8, index: u64, width: u16, size: u64) -> bool {
    index
        .checked_mul(TILE_WIDTH)
        .and_then(|n| n.checked_add(u64::from(width)))
        .and_then(|n| n.checked_mul(1u64.checked_shl(8 * u32::from(level))?))
        .is_some_and(|leaves| leaves <= size)
}

#[cfg(test)]
mod tests {
    use super::within;

    #[test]
    fn a_tile_is_served_only_when_the_head_covers_it() {
        assert!(within(0, 0, 256, 256));
        assert!(!within(0, 0, 256, 255));
        assert!(within(0, 1, 44, 300));
        assert!(!within(0, 1, 45, 300));
        // Level 1: each hash stands for 256 leaves.
        assert!(within(1, 0, 2, 512));
        assert!(!within(1, 0, 2, 511));
        assert!(within(2, 0, 1, 65_536));
        assert!(!within(2, 0, 1, 65_535));
        // Absurd coordinates overflow and are refused, never wrapped.
        assert!(!within(8, 1, 256, u64::MAX));
        assert!(!within(0, u64::MAX, 256, u64::MAX));
    }
}
