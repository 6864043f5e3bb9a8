//! The right edge of the tree: the rightmost tile of every tile level. It is all the sequencer needs
//! to append leaves and compute the new root, so the sequencer's memory does not grow with the log.

use tianping_log::merkle::{self, MissingNode, NodeSource};
use tianping_log::tile::{ExpandedTile, TILE_WIDTH, full_tiles, locate, partial_width};
use tianping_log::{Hash, HashAlg};

/// A tile that changed in an append, in its new state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TouchedTile {
    pub level: u8,
    pub index: u64,
    pub tile: ExpandedTile,
}

#[derive(Debug, Clone)]
pub struct RightEdge {
    alg: HashAlg,
    size: u64,
    /// `partial[l]` is the rightmost, not yet full tile of tile level `l`, if it has any hashes.
    partial: Vec<Option<ExpandedTile>>,
}

/// Index of the rightmost (partial) tile at `level` in a tree of `size` leaves.
fn edge_index(size: u64, level: u8) -> u64 {
    full_tiles(size, level)
}

impl RightEdge {
    pub fn empty(alg: HashAlg) -> Self {
        RightEdge {
            alg,
            size: 0,
            partial: Vec::new(),
        }
    }

    /// Rebuild from the stored partial tiles of a tree of `size` leaves. `tiles` must hold, for every
    /// tile level with a non-zero partial width, the rightmost tile of that level.
    pub fn from_tiles(alg: HashAlg, size: u64, tiles: Vec<(u8, u64, ExpandedTile)>) -> Result<Self, String> {
        let mut edge = RightEdge::empty(alg);
        edge.size = size;
        for (level, index, tile) in tiles {
            let want = u64::from(partial_width(size, level));
            if want == 0 || index != edge_index(size, level) {
                continue;
            }
            if u64::from(tile.width()) < want {
                return Err(format!(
                    "tile {level}/{index} has width {} but the tree needs {want}",
                    tile.width()
                ));
            }
            let tile = if u64::from(tile.width()) == want {
                tile
            } else {
                ExpandedTile::new(alg, &tile.bottom()[..want as usize])
            };
            edge.set(level, Some(tile));
        }
        for level in edge.levels() {
            let want = u64::from(partial_width(size, level));
            let have = edge
                .partial
                .get(level as usize)
                .and_then(|t| t.as_ref())
                .map_or(0, |t| u64::from(t.width()));
            if want != have {
                return Err(format!(
                    "missing tile {level}/{} for tree size {size}",
                    edge_index(size, level)
                ));
            }
        }
        Ok(edge)
    }

    /// Tile levels that can hold a partial tile for this size.
    fn levels(&self) -> impl Iterator<Item = u8> + use<> {
        let size = self.size;
        (0u8..8).take_while(move |&l| size >> (8 * u32::from(l)) > 0)
    }

    /// The tiles a tree of `size` needs to rebuild its right edge.
    pub fn tiles_needed(size: u64) -> Vec<(u8, u64)> {
        (0u8..8)
            .filter(|&l| partial_width(size, l) > 0)
            .map(|l| (l, edge_index(size, l)))
            .collect()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    fn set(&mut self, level: u8, tile: Option<ExpandedTile>) {
        let l = level as usize;
        if self.partial.len() <= l {
            self.partial.resize(l + 1, None);
        }
        self.partial[l] = tile;
    }

    /// Append leaf hashes; returns every tile that changed, in its new state (full tiles that
    /// completed, and the new partial tiles).
    pub fn append(&mut self, leaves: &[Hash]) -> Vec<TouchedTile> {
        let mut touched = Vec::new();
        let mut pending: Vec<Hash> = leaves.to_vec();
        let mut level = 0u8;
        while !pending.is_empty() {
            let mut index = edge_index(self.size, level);
            let mut completed = Vec::new();
            let mut rest = &pending[..];
            let l = level as usize;
            if self.partial.len() <= l {
                self.partial.resize(l + 1, None);
            }
            let mut changed = false;
            while !rest.is_empty() {
                let width = self.partial[l].as_ref().map_or(0, |t| usize::from(t.width()));
                let take = (TILE_WIDTH as usize - width).min(rest.len());
                match &mut self.partial[l] {
                    Some(t) => t.extend(self.alg, &rest[..take]),
                    None => self.partial[l] = Some(ExpandedTile::new(self.alg, &rest[..take])),
                }
                changed = true;
                rest = &rest[take..];
                let full = self.partial[l].as_ref().and_then(ExpandedTile::root);
                if let Some(root) = full {
                    completed.push(root);
                    let tile = self.partial[l].take().expect("tile present");
                    touched.push(TouchedTile { level, index, tile });
                    index += 1;
                    changed = false;
                }
            }
            if changed && let Some(t) = &self.partial[l] {
                touched.push(TouchedTile {
                    level,
                    index,
                    tile: t.clone(),
                });
            }
            pending = completed;
            level += 1;
        }
        self.size += leaves.len() as u64;
        touched
    }

    /// The partial tiles, as `(level, index, tile)`.
    pub fn partial_tiles(&self) -> impl Iterator<Item = (u8, u64, &ExpandedTile)> {
        self.partial.iter().enumerate().filter_map(|(l, t)| {
            let level = l as u8;
            t.as_ref().map(|t| (level, edge_index(self.size, level), t))
        })
    }

    /// Root of the tree. Every node of the right-edge decomposition lies in a partial tile.
    pub fn root(&self) -> Result<Hash, MissingNode> {
        merkle::root(self.alg, self.size, self)
    }
}

impl NodeSource for RightEdge {
    fn node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        let loc = locate(level, index);
        self.partial
            .get(loc.tile_level as usize)
            .and_then(|t| t.as_ref())
            .filter(|_| loc.tile_index == edge_index(self.size, loc.tile_level))
            .and_then(|t| t.node(loc.height, loc.offset))
            .ok_or(MissingNode { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tianping_log::merkle::MemoryTree;

    fn leaf(i: u64) -> Hash {
        HashAlg::Sha256.leaf_hash(&i.to_be_bytes())
    }

    #[test]
    fn roots_match_a_full_tree_across_tile_boundaries() {
        let alg = HashAlg::Sha256;
        let mut edge = RightEdge::empty(alg);
        let mut tree = MemoryTree::new(alg);
        let mut next = 0u64;
        // Batches of awkward sizes crossing 256 and 65,536.
        for batch in [1u64, 2, 253, 1, 300, 511, 1024, 64_000, 3, 255, 256, 257] {
            let leaves: Vec<Hash> = (next..next + batch).map(leaf).collect();
            next += batch;
            edge.append(&leaves);
            for l in &leaves {
                tree.push(*l);
            }
            assert_eq!(edge.size(), tree.size());
            assert_eq!(edge.root().unwrap(), tree.root(), "size {}", edge.size());
        }
    }

    #[test]
    fn touched_tiles_rebuild_the_edge() {
        let alg = HashAlg::Sm3;
        let mut edge = RightEdge::empty(alg);
        let mut store = std::collections::HashMap::new();
        for chunk in (0..70_000u64).collect::<Vec<_>>().chunks(997) {
            let leaves: Vec<Hash> = chunk.iter().map(|&i| leaf(i)).collect();
            for t in edge.append(&leaves) {
                store.insert((t.level, t.index), t.tile);
            }
            let size = edge.size();
            let tiles = RightEdge::tiles_needed(size)
                .into_iter()
                .map(|k| (k.0, k.1, store[&k].clone()))
                .collect();
            let rebuilt = RightEdge::from_tiles(alg, size, tiles).unwrap();
            assert_eq!(rebuilt.root().unwrap(), edge.root().unwrap());
        }
        // 70,000 = 273 full level-0 tiles + 112, 1 full level-1 tile + 17, level 2 width 1.
        assert_eq!(store.keys().filter(|k| k.0 == 0).count(), 274);
        assert_eq!(store[&(1, 1)].width(), 17);
        assert_eq!(store[&(2, 0)].width(), 1);
        assert!(RightEdge::from_tiles(alg, 70_001, vec![]).is_err());
    }
}
