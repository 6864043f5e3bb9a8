//! C2SP tlog-tiles: tile paths, where each tree node lives, and tiles as a [`NodeSource`].
//!
//! A tile at tile level `k` is a subtree of height 8 whose bottom row is 256 consecutive nodes at
//! tree level `8k`: leaf hashes for `k = 0`, roots of full level-0 tiles for `k = 1`, and so on.
//! C2SP serves only a tile's bottom row; an [`ExpandedTile`] also keeps the nodes above it (and
//! the tile's root once it is full), so that any perfect-subtree node of the tree can be answered
//! from exactly one tile (see [`locate`]).
//!
//! Proof and root computations in [`crate::merkle`] request nodes by size and index only, so a
//! [`TileRecorder`] run tells which tiles (and how wide) a computation needs before any is fetched.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use crate::hash::{Hash, HashAlg};
use crate::merkle::{MissingNode, NodeSource};

/// Height of a tile: each tile covers 8 levels of the tree.
pub const TILE_HEIGHT: u8 = 8;
/// Number of hashes in a full tile's bottom row.
pub const TILE_WIDTH: u64 = 256;

/// Highest tile level a C2SP path may name.
const MAX_PATH_LEVEL: u64 = 63;
const HASH_LEN: usize = 32;
/// Rows an expanded tile keeps: heights 0 to 8 inclusive.
const ROWS: usize = TILE_HEIGHT as usize + 1;

/// The "x001/x234/067" encoding of a tile index (tlog-tiles §"Merkle Tree"): groups of three
/// digits, all but the last prefixed by `x`, with as few groups as the number needs.
pub fn encode_index(n: u64) -> String {
    let mut groups = Vec::new();
    let mut rest = n;
    loop {
        groups.push(rest % 1000);
        rest /= 1000;
        if rest == 0 {
            break;
        }
    }
    let mut out = String::with_capacity(groups.len() * 5);
    for (i, g) in groups.iter().rev().enumerate() {
        if i > 0 {
            out.push('/');
        }
        if i + 1 < groups.len() {
            out.push('x');
        }
        out.push_str(&format!("{g:03}"));
    }
    out
}

/// Parses a tile index written as [`encode_index`] writes it, and nothing else: no missing or
/// extra `x`, no short or long groups, no leading all-zero group, no value above `u64::MAX`.
pub fn parse_index(s: &str) -> Option<u64> {
    let groups: Vec<&str> = s.split('/').collect();
    let last = groups.len() - 1;
    let mut n: u64 = 0;
    for (i, group) in groups.iter().enumerate() {
        let digits = if i < last { group.strip_prefix('x')? } else { group };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value: u64 = digits.parse().ok()?;
        if i == 0 && last > 0 && value == 0 {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(value)?;
    }
    Some(n)
}

/// A decimal number with no sign and no leading zeros ("0" itself is fine).
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// A tile resource of a tiled log, as named by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TileRef {
    /// `<level>/<index>[.p/<width>]`: Merkle tree hashes.
    Hashes { level: u8, index: u64, width: u16 },
    /// `entries/<index>[.p/<width>]`: an entry bundle.
    Entries { index: u64, width: u16 },
}

impl TileRef {
    /// The resource path after `<prefix>/tile/`: `0/x001/234`, `1/005.p/7`, `entries/000.p/3`.
    /// `width` should be 1..=256; 256 is a full tile and gets no `.p/` suffix.
    pub fn path(&self) -> String {
        let (head, index, width) = match *self {
            TileRef::Hashes { level, index, width } => (level.to_string(), index, width),
            TileRef::Entries { index, width } => ("entries".to_owned(), index, width),
        };
        debug_assert!((1..=256).contains(&width), "tile width {width}");
        let mut path = format!("{head}/{}", encode_index(index));
        if width < 256 {
            path.push_str(&format!(".p/{width}"));
        }
        path
    }

    pub fn index(&self) -> u64 {
        match *self {
            TileRef::Hashes { index, .. } | TileRef::Entries { index, .. } => index,
        }
    }

    pub fn width(&self) -> u16 {
        match *self {
            TileRef::Hashes { width, .. } | TileRef::Entries { width, .. } => width,
        }
    }

    /// Whether this is a full (256 wide) tile.
    pub fn is_full(&self) -> bool {
        u64::from(self.width()) == TILE_WIDTH
    }
}

impl fmt::Display for TileRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// Why a tile path was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TilePathError {
    #[error("tile path needs a level (or \"entries\") and an index")]
    Incomplete,
    #[error("tile level must be a decimal number from 0 to 63 without leading zeros")]
    Level,
    #[error(
        "tile index must be groups of three digits, all but the last prefixed by \"x\", without a leading zero group"
    )]
    Index,
    #[error("partial tile width must be a decimal number from 1 to 255 without leading zeros")]
    Width,
}

/// Parses the part of a tile URL after `tile/`, strictly: exactly the paths [`TileRef::path`]
/// produces for levels 0 to 63.
pub fn parse_tile_path(path: &str) -> Result<TileRef, TilePathError> {
    let (head, rest) = path.split_once('/').ok_or(TilePathError::Incomplete)?;
    let level = if head == "entries" {
        None
    } else {
        let level = parse_decimal(head)
            .filter(|&l| l <= MAX_PATH_LEVEL)
            .ok_or(TilePathError::Level)?;
        Some(level as u8)
    };
    let (index_part, width) = match rest.rsplit_once(".p/") {
        Some((index_part, width)) => {
            let width = parse_decimal(width)
                .filter(|w| (1..TILE_WIDTH).contains(w))
                .ok_or(TilePathError::Width)?;
            (index_part, width as u16)
        }
        None => (rest, TILE_WIDTH as u16),
    };
    let index = parse_index(index_part).ok_or(TilePathError::Index)?;
    Ok(match level {
        Some(level) => TileRef::Hashes { level, index, width },
        None => TileRef::Entries { index, width },
    })
}

/// Split an entry bundle (`tile/entries/…`) into its entries: each is a big-endian u16 length
/// followed by that many bytes. `None` if the bundle is truncated.
pub fn split_entry_bundle(mut bundle: &[u8]) -> Option<Vec<&[u8]>> {
    let mut entries = Vec::new();
    while !bundle.is_empty() {
        let (len, rest) = bundle.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        if rest.len() < len {
            return None;
        }
        let (entry, rest) = rest.split_at(len);
        entries.push(entry);
        bundle = rest;
    }
    Some(entries)
}

/// Which tile holds the perfect-subtree node `(level, index)` of the tree, and where in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLocation {
    pub tile_level: u8,
    pub tile_index: u64,
    /// Height of the node inside the tile, 0..8 (0 is the tile's bottom row).
    pub height: u8,
    /// Index of the node among the tile's nodes at that height.
    pub offset: u64,
}

impl NodeLocation {
    /// The narrowest tile width that contains this node.
    pub fn min_width(&self) -> u16 {
        ((self.offset + 1) << self.height) as u16
    }
}

/// Locates a node: it lives in the tile at level `level / 8`, at height `level % 8`. (A full
/// tile's root, at height 8, is also the bottom of the tile above; this always names the latter.)
pub fn locate(level: u8, index: u64) -> NodeLocation {
    let height = level % TILE_HEIGHT;
    let per_tile_bits = TILE_HEIGHT - height;
    NodeLocation {
        tile_level: level / TILE_HEIGHT,
        tile_index: index >> per_tile_bits,
        height,
        offset: index & ((1 << per_tile_bits) - 1),
    }
}

/// Number of complete nodes at tree level `8 * tile_level` in a tree of `size` leaves: the
/// length of that tile level's bottom row, across all its tiles.
fn row_len(size: u64, tile_level: u8) -> u64 {
    let shift = 8 * u32::from(tile_level);
    if shift >= 64 { 0 } else { size >> shift }
}

/// Width of the rightmost, partial tile at `tile_level` for a tree of `size` leaves:
/// `floor(size / 256^l) mod 256`. 0 means there is no partial tile at that level.
pub fn partial_width(size: u64, tile_level: u8) -> u16 {
    (row_len(size, tile_level) % TILE_WIDTH) as u16
}

/// Number of full tiles at `tile_level` for a tree of `size` leaves.
pub fn full_tiles(size: u64, tile_level: u8) -> u64 {
    row_len(size, tile_level) / TILE_WIDTH
}

/// Every hash tile (full and partial) of a tree of `size` leaves, by level then index. Entry
/// bundles match the level-0 tiles one for one.
pub fn tiles_for_size(size: u64) -> impl Iterator<Item = TileRef> {
    (0..TILE_HEIGHT).flat_map(move |level| {
        let full = full_tiles(size, level);
        let partial = partial_width(size, level);
        (0..full)
            .map(move |index| TileRef::Hashes {
                level,
                index,
                width: TILE_WIDTH as u16,
            })
            .chain((partial > 0).then_some(TileRef::Hashes {
                level,
                index: full,
                width: partial,
            }))
    })
}

/// Why stored tile bytes were not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileBytesError {
    #[error("tile width {0} is more than 256")]
    Width(u16),
    #[error("a stored tile of width {width} is {expected} bytes, got {got}")]
    Length { width: u16, expected: usize, got: usize },
    #[error("a tile is a whole number of 32-byte hashes, at most 256 of them; got {0} bytes")]
    BottomLength(usize),
}

/// A tile with all its internal nodes. For width `w` (0..=256) it holds, for each height
/// `r = 0..=8`, the `w >> r` complete nodes at that height. Height 0 is the tile's own row of
/// hashes (what C2SP serves); height 8 exists only when the tile is full and is its root, the
/// hash of the whole 256-wide subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandedTile {
    /// `rows[r]` are the complete nodes at height `r`; always [`ROWS`] rows.
    rows: Vec<Vec<Hash>>,
}

impl ExpandedTile {
    /// A tile over the given bottom row. At most 256 hashes: debug builds assert this, release
    /// builds ignore any beyond the 256th.
    pub fn new(alg: HashAlg, bottom: &[Hash]) -> Self {
        let mut tile = ExpandedTile {
            rows: vec![Vec::new(); ROWS],
        };
        tile.extend(alg, bottom);
        tile
    }

    /// Appends bottom hashes, computing only the nodes they complete. The total stays at most 256:
    /// debug builds assert this, release builds ignore the excess.
    pub fn extend(&mut self, alg: HashAlg, more: &[Hash]) {
        let room = TILE_WIDTH as usize - self.rows[0].len();
        debug_assert!(
            more.len() <= room,
            "tile would grow past 256 hashes ({} + {})",
            self.rows[0].len(),
            more.len()
        );
        self.rows[0].extend_from_slice(&more[..more.len().min(room)]);
        for r in 1..ROWS {
            let (lower, upper) = self.rows.split_at_mut(r);
            let below = &lower[r - 1];
            let row = &mut upper[0];
            while row.len() < below.len() / 2 {
                let i = row.len();
                row.push(alg.node_hash(&below[2 * i], &below[2 * i + 1]));
            }
        }
    }

    /// Number of bottom hashes, 0..=256.
    pub fn width(&self) -> u16 {
        self.rows[0].len() as u16
    }

    /// The bottom row.
    pub fn bottom(&self) -> &[Hash] {
        &self.rows[0]
    }

    /// The node at `height` (0..=8) and `offset` within the tile, if the tile is wide enough to
    /// hold it.
    pub fn node(&self, height: u8, offset: u64) -> Option<Hash> {
        let row = self.rows.get(usize::from(height))?;
        row.get(usize::try_from(offset).ok()?).copied()
    }

    /// The hash of the whole 256-wide subtree; `Some` only when the tile is full.
    pub fn root(&self) -> Option<Hash> {
        self.rows[ROWS - 1].first().copied()
    }

    /// Size in bytes of the storage form ([`to_bytes`](Self::to_bytes)) of a tile of `width`.
    pub fn stored_len(width: u16) -> usize {
        (0..ROWS).map(|r| usize::from(width) >> r).sum::<usize>() * HASH_LEN
    }

    /// Storage form: every node, by height then offset, concatenated.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::stored_len(self.width()));
        for h in self.rows.iter().flatten() {
            out.extend_from_slice(h);
        }
        out
    }

    /// Reads the storage form of a tile of `width`. The length must match exactly. The nodes are
    /// taken as stored, not recomputed; use [`is_consistent`](Self::is_consistent) to check them.
    pub fn from_bytes(width: u16, bytes: &[u8]) -> Result<Self, TileBytesError> {
        if u64::from(width) > TILE_WIDTH {
            return Err(TileBytesError::Width(width));
        }
        let expected = Self::stored_len(width);
        if bytes.len() != expected {
            return Err(TileBytesError::Length {
                width,
                expected,
                got: bytes.len(),
            });
        }
        let mut hashes = bytes.chunks_exact(HASH_LEN).map(|c| {
            let mut h = [0u8; HASH_LEN];
            h.copy_from_slice(c);
            h
        });
        let rows = (0..ROWS)
            .map(|r| hashes.by_ref().take(usize::from(width) >> r).collect())
            .collect();
        Ok(ExpandedTile { rows })
    }

    /// A tile from a C2SP tile body (its bottom row only), computing the nodes above.
    pub fn from_bottom_bytes(alg: HashAlg, bytes: &[u8]) -> Result<Self, TileBytesError> {
        if !bytes.len().is_multiple_of(HASH_LEN) || bytes.len() > TILE_WIDTH as usize * HASH_LEN {
            return Err(TileBytesError::BottomLength(bytes.len()));
        }
        let bottom: Vec<Hash> = bytes
            .chunks_exact(HASH_LEN)
            .map(|c| {
                let mut h = [0u8; HASH_LEN];
                h.copy_from_slice(c);
                h
            })
            .collect();
        Ok(Self::new(alg, &bottom))
    }

    /// The first `width` bottom hashes, concatenated: the body of the C2SP tile of that width.
    /// `None` if `width` is 0 (empty tiles are never served) or wider than this tile.
    pub fn bottom_bytes(&self, width: u16) -> Option<Vec<u8>> {
        if width == 0 || width > self.width() {
            return None;
        }
        Some(self.rows[0][..usize::from(width)].concat())
    }

    /// Whether every stored node is the hash of its children under `alg`.
    pub fn is_consistent(&self, alg: HashAlg) -> bool {
        *self == Self::new(alg, self.bottom())
    }
}

/// A [`NodeSource`] over expanded tiles keyed by `(tile_level, tile_index)`. A node is missing when
/// its tile is absent or too narrow to hold it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TileSet {
    tiles: HashMap<(u8, u64), Arc<ExpandedTile>>,
}

impl TileSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a tile, returning the one it replaced. Tiles are shared, not copied.
    pub fn insert(
        &mut self,
        tile_level: u8,
        tile_index: u64,
        tile: impl Into<Arc<ExpandedTile>>,
    ) -> Option<Arc<ExpandedTile>> {
        self.tiles.insert((tile_level, tile_index), tile.into())
    }

    pub fn get(&self, tile_level: u8, tile_index: u64) -> Option<&ExpandedTile> {
        self.tiles.get(&(tile_level, tile_index)).map(|t| &**t)
    }

    pub fn remove(&mut self, tile_level: u8, tile_index: u64) -> Option<Arc<ExpandedTile>> {
        self.tiles.remove(&(tile_level, tile_index))
    }

    pub fn contains(&self, tile_level: u8, tile_index: u64) -> bool {
        self.tiles.contains_key(&(tile_level, tile_index))
    }

    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }

    /// The `(tile_level, tile_index)` keys held, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = (u8, u64)> + '_ {
        self.tiles.keys().copied()
    }
}

impl FromIterator<((u8, u64), ExpandedTile)> for TileSet {
    fn from_iter<I: IntoIterator<Item = ((u8, u64), ExpandedTile)>>(iter: I) -> Self {
        TileSet {
            tiles: iter.into_iter().map(|(k, t)| (k, Arc::new(t))).collect(),
        }
    }
}

impl NodeSource for TileSet {
    fn node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        let loc = locate(level, index);
        self.tiles
            .get(&(loc.tile_level, loc.tile_index))
            .and_then(|tile| tile.node(loc.height, loc.offset))
            .ok_or(MissingNode { level, index })
    }
}

/// A [`NodeSource`] that answers every request with a dummy hash and records which tiles the
/// requests touched, and how wide each must be. Run a computation from [`crate::merkle`] against it
/// first, fetch the recorded tiles, then run the computation for real over a [`TileSet`].
#[derive(Debug, Default)]
pub struct TileRecorder {
    needed: RefCell<BTreeMap<(u8, u64), u16>>,
}

impl TileRecorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The `(tile_level, tile_index)` of every tile touched so far.
    pub fn tiles(&self) -> BTreeSet<(u8, u64)> {
        self.needed.borrow().keys().copied().collect()
    }

    /// For every tile touched so far, the narrowest width that holds all the nodes requested
    /// from it; a partial tile at least this wide will do.
    pub fn widths(&self) -> BTreeMap<(u8, u64), u16> {
        self.needed.borrow().clone()
    }

    /// Forgets what was recorded.
    pub fn clear(&self) {
        self.needed.borrow_mut().clear();
    }
}

impl NodeSource for TileRecorder {
    fn node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        let loc = locate(level, index);
        let mut needed = self.needed.borrow_mut();
        let width = needed.entry((loc.tile_level, loc.tile_index)).or_insert(0);
        *width = (*width).max(loc.min_width());
        Ok([0; HASH_LEN])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_bundles_split_and_truncation_is_refused() {
        let bundle = [0u8, 2, b'a', b'b', 0, 0, 0, 1, b'c'];
        let entries = split_entry_bundle(&bundle).unwrap();
        assert_eq!(entries, vec![&b"ab"[..], &b""[..], &b"c"[..]]);
        assert!(split_entry_bundle(&bundle[..8]).is_none());
        assert!(split_entry_bundle(&bundle[..1]).is_none());
        assert_eq!(split_entry_bundle(&[]).unwrap().len(), 0);
    }
    use crate::merkle::{self, MemoryTree};

    fn leaf(alg: HashAlg, i: u64) -> Hash {
        alg.leaf_hash(&i.to_le_bytes())
    }

    #[test]
    fn index_encoding_examples() {
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(7), "007");
        assert_eq!(encode_index(999), "999");
        assert_eq!(encode_index(1000), "x001/000");
        assert_eq!(encode_index(1234067), "x001/x234/067");
        assert_eq!(encode_index(u64::MAX), "x018/x446/x744/x073/x709/x551/615");
    }

    #[test]
    fn index_encoding_round_trips() {
        let mut samples: Vec<u64> = (0..3000).collect();
        for p in 0..64 {
            let x = 1u64 << p;
            samples.extend([x - 1, x, x + 1]);
        }
        for d in 1..20u32 {
            let x = 10u64.pow(d);
            samples.extend([x - 1, x, x + 1]);
        }
        samples.push(u64::MAX);
        for n in samples {
            let s = encode_index(n);
            assert_eq!(parse_index(&s), Some(n), "{s}");
        }
    }

    #[test]
    fn index_parsing_is_strict() {
        for bad in [
            "",
            "1",
            "01",
            "0000",
            "x000",
            "x001",
            "x000/000",
            "x000/x001/000",
            "001/000",
            "x001/x000",
            "x01/000",
            "x0001/000",
            "x001/",
            "/001",
            "x001//000",
            "X001/000",
            "+01",
            "-01",
            " 01",
            "0a1",
            "x018/x446/x744/x073/x709/x551/616",
            "x999/x999/x999/x999/x999/x999/x999/999",
        ] {
            assert_eq!(parse_index(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tile_paths_match_the_spec_examples() {
        let cases = [
            (
                TileRef::Hashes {
                    level: 0,
                    index: 1234,
                    width: 256,
                },
                "0/x001/234",
            ),
            (
                TileRef::Hashes {
                    level: 1,
                    index: 5,
                    width: 7,
                },
                "1/005.p/7",
            ),
            (TileRef::Entries { index: 0, width: 3 }, "entries/000.p/3"),
            (
                TileRef::Entries {
                    index: 1234067,
                    width: 256,
                },
                "entries/x001/x234/067",
            ),
            (
                TileRef::Hashes {
                    level: 63,
                    index: 0,
                    width: 255,
                },
                "63/000.p/255",
            ),
        ];
        for (tile, path) in cases {
            assert_eq!(tile.path(), path);
            assert_eq!(tile.to_string(), path);
            assert_eq!(parse_tile_path(path), Ok(tile));
        }
    }

    #[test]
    fn tile_paths_round_trip() {
        for level in [0u8, 1, 2, 9, 10, 63] {
            for index in [0u64, 1, 999, 1000, 65535, 1 << 40, u64::MAX] {
                for width in [1u16, 2, 100, 255, 256] {
                    for tile in [
                        TileRef::Hashes { level, index, width },
                        TileRef::Entries { index, width },
                    ] {
                        assert_eq!(parse_tile_path(&tile.path()), Ok(tile));
                        assert_eq!(tile.is_full(), width == 256);
                        assert_eq!((tile.index(), tile.width()), (index, width));
                    }
                }
            }
        }
    }

    #[test]
    fn junk_tile_paths_are_rejected() {
        for bad in [
            "",
            "0",
            "0/",
            "/000",
            "x1/002",
            "001",
            "0/x001",
            "0/1.p/0",
            "0/001.p/0",
            "0/001.p/256",
            "0/001.p/07",
            "0/001.p/+7",
            "0/001.p/7/",
            "0/001.p/7a",
            "0/001.p/",
            "0/001.p",
            "0/001/",
            "0//001",
            "0/0001",
            "0/x000/001",
            "0/x001/x002",
            "0/000.p/5.p/3",
            "-1/000",
            "+1/000",
            "00/000",
            "01/000",
            "64/000",
            "99/000",
            "256/000",
            "entries/000.p/",
            "entries/",
            "entries",
            "Entries/000",
            "entries/x000/000",
            "tile/0/000",
            "0/000 ",
            " 0/000",
            "0/000\n",
        ] {
            assert!(parse_tile_path(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(parse_tile_path("99/000"), Err(TilePathError::Level));
        assert_eq!(parse_tile_path("0/001.p/07"), Err(TilePathError::Width));
        assert_eq!(parse_tile_path("0/x001"), Err(TilePathError::Index));
        assert_eq!(parse_tile_path("001"), Err(TilePathError::Incomplete));
    }

    #[test]
    fn locate_examples() {
        let at = |tile_level, tile_index, height, offset| NodeLocation {
            tile_level,
            tile_index,
            height,
            offset,
        };
        assert_eq!(locate(0, 0), at(0, 0, 0, 0));
        assert_eq!(locate(0, 300), at(0, 1, 0, 44));
        assert_eq!(locate(3, 100), at(0, 3, 3, 4));
        assert_eq!(locate(7, 5), at(0, 2, 7, 1));
        assert_eq!(locate(8, 5), at(1, 0, 0, 5));
        assert_eq!(locate(8, 300), at(1, 1, 0, 44));
        assert_eq!(locate(17, 3), at(2, 0, 1, 3));
        assert_eq!(locate(17, 300), at(2, 2, 1, 44));
        assert_eq!(locate(63, 1), at(7, 0, 7, 1));
        assert_eq!(locate(3, 100).min_width(), 40);
        assert_eq!(locate(7, 4).min_width(), 128);
        assert_eq!(locate(7, 5).min_width(), 256);
        assert_eq!(locate(0, 255).min_width(), 256);
    }

    #[test]
    fn locate_is_a_bijection_within_tiles() {
        // Every node of a 256-leaf subtree below height 8 lands in tile 0 of level 0 at a distinct
        // (height, offset), and offsets stay under that height's row length.
        let mut seen = BTreeSet::new();
        for level in 0..8u8 {
            for index in 0..(256u64 >> level) {
                let loc = locate(level, index);
                assert_eq!((loc.tile_level, loc.tile_index), (0, 0));
                assert!(loc.offset < 256 >> loc.height);
                assert!(seen.insert((loc.height, loc.offset)));
            }
        }
        assert_eq!(seen.len(), 510);
    }

    #[test]
    fn tiles_for_the_spec_examples() {
        // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level
        // 0 tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and
        // one partial level 2 tile of width 1."
        let tiles: Vec<TileRef> = tiles_for_size(70_000).collect();
        assert_eq!(tiles.len(), 277);
        let count = |level: u8, width: u16| {
            tiles
                .iter()
                .filter(
                    |t| matches!(t, TileRef::Hashes { level: l, width: w, .. } if *l == level && *w == width),
                )
                .count()
        };
        assert_eq!(count(0, 256), 273);
        assert_eq!(count(0, 112), 1);
        assert_eq!(count(1, 256), 1);
        assert_eq!(count(1, 17), 1);
        assert_eq!(count(2, 1), 1);
        assert_eq!(partial_width(70_000, 0), 112);
        assert_eq!(partial_width(70_000, 1), 17);
        assert_eq!(partial_width(70_000, 2), 1);
        assert_eq!(partial_width(70_000, 3), 0);
        assert_eq!(full_tiles(70_000, 0), 273);
        // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1
        // tile of width 1."
        assert_eq!(
            tiles_for_size(256).collect::<Vec<_>>(),
            vec![
                TileRef::Hashes {
                    level: 0,
                    index: 0,
                    width: 256
                },
                TileRef::Hashes {
                    level: 1,
                    index: 0,
                    width: 1
                },
            ]
        );
        assert_eq!(tiles_for_size(0).count(), 0);
        assert_eq!(partial_width(u64::MAX, 7), 255);
        assert_eq!(partial_width(u64::MAX, 8), 0);
        assert_eq!(partial_width(u64::MAX, 255), 0);
    }

    #[test]
    fn expanded_tile_nodes_are_the_subtree_nodes() {
        for alg in [HashAlg::Sha256, HashAlg::Sm3] {
            let leaves: Vec<Hash> = (0..256).map(|i| leaf(alg, i)).collect();
            let mut tree = MemoryTree::new(alg);
            for &l in &leaves {
                tree.push(l);
            }
            for width in [1usize, 2, 3, 100, 128, 255, 256] {
                let tile = ExpandedTile::new(alg, &leaves[..width]);
                assert_eq!(usize::from(tile.width()), width);
                assert_eq!(tile.bottom(), &leaves[..width]);
                for height in 0..=8u8 {
                    let row = (width >> height) as u64;
                    for offset in 0..row {
                        assert_eq!(
                            tile.node(height, offset),
                            Some(tree.node(height, offset).unwrap())
                        );
                    }
                    assert_eq!(tile.node(height, row), None);
                }
                assert_eq!(tile.node(9, 0), None);
                assert_eq!(tile.root().is_some(), width == 256);
                assert!(tile.is_consistent(alg));
            }
            let full = ExpandedTile::new(alg, &leaves);
            assert_eq!(full.root(), Some(tree.root()));
        }
    }

    #[test]
    fn extending_equals_building_at_once() {
        let alg = HashAlg::Sha256;
        let leaves: Vec<Hash> = (0..256).map(|i| leaf(alg, i)).collect();
        for total in [1usize, 2, 7, 64, 129, 200, 256] {
            let whole = ExpandedTile::new(alg, &leaves[..total]);
            for split in 0..=total {
                let mut grown = ExpandedTile::new(alg, &leaves[..split]);
                grown.extend(alg, &leaves[split..total]);
                assert_eq!(grown, whole, "total {total} split {split}");
            }
        }
        // One hash at a time.
        let mut grown = ExpandedTile::new(alg, &[]);
        assert_eq!(grown.width(), 0);
        for (i, l) in leaves.iter().enumerate() {
            grown.extend(alg, std::slice::from_ref(l));
            assert_eq!(grown, ExpandedTile::new(alg, &leaves[..=i]));
        }
    }

    #[test]
    fn storage_form_round_trips() {
        let alg = HashAlg::Sm3;
        let leaves: Vec<Hash> = (0..256).map(|i| leaf(alg, i)).collect();
        assert_eq!(ExpandedTile::stored_len(256), 511 * 32);
        assert_eq!(ExpandedTile::stored_len(1), 32);
        assert_eq!(ExpandedTile::stored_len(3), 4 * 32);
        for width in [0u16, 1, 2, 3, 17, 112, 255, 256] {
            let tile = ExpandedTile::new(alg, &leaves[..usize::from(width)]);
            let bytes = tile.to_bytes();
            assert_eq!(bytes.len(), ExpandedTile::stored_len(width));
            assert_eq!(ExpandedTile::from_bytes(width, &bytes), Ok(tile.clone()));
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(matches!(
                ExpandedTile::from_bytes(width, &longer),
                Err(TileBytesError::Length { .. })
            ));
            if width > 0 {
                assert!(ExpandedTile::from_bytes(width, &bytes[..bytes.len() - 1]).is_err());
                assert!(ExpandedTile::from_bytes(width - 1, &bytes).is_err());
                let body = tile.bottom_bytes(width).unwrap();
                assert_eq!(body, leaves[..usize::from(width)].concat());
                assert_eq!(ExpandedTile::from_bottom_bytes(alg, &body), Ok(tile.clone()));
                assert_eq!(tile.bottom_bytes(1).unwrap(), leaves[0].to_vec());
            }
            assert_eq!(tile.bottom_bytes(width + 1), None);
            assert_eq!(tile.bottom_bytes(0), None);
        }
        assert_eq!(
            ExpandedTile::from_bytes(257, &[]),
            Err(TileBytesError::Width(257))
        );
        assert!(ExpandedTile::from_bottom_bytes(alg, &[0; 33]).is_err());
        assert!(ExpandedTile::from_bottom_bytes(alg, &vec![0; 257 * 32]).is_err());
        // A stored tile with a corrupted inner node is read back but is not consistent.
        let mut bytes = ExpandedTile::new(alg, &leaves).to_bytes();
        bytes[300 * 32] ^= 1;
        let damaged = ExpandedTile::from_bytes(256, &bytes).unwrap();
        assert!(!damaged.is_consistent(alg));
    }

    /// Tiles for the first `leaves.len()` leaves, built the way a log does: level-0 tiles from leaf
    /// hashes, then each level from the roots of the full tiles below.
    fn build_tiles(alg: HashAlg, leaves: &[Hash]) -> TileSet {
        let mut set = TileSet::new();
        let mut row = leaves.to_vec();
        let mut level = 0u8;
        while !row.is_empty() {
            let mut roots = Vec::new();
            for (index, chunk) in row.chunks(TILE_WIDTH as usize).enumerate() {
                let tile = ExpandedTile::new(alg, chunk);
                roots.extend(tile.root());
                set.insert(level, index as u64, tile);
            }
            row = roots;
            level += 1;
        }
        set
    }

    /// The computations the service runs against tiles, for one tree size.
    fn computations(
        alg: HashAlg,
        size: u64,
        src: &dyn NodeSource,
    ) -> Result<Vec<Vec<Hash>>, merkle::ProofError> {
        let mut out = vec![vec![merkle::root(alg, size, src)?]];
        for index in [0, 1, 255, 256, 257, 65535, 65536, size / 3, size - 1] {
            if index < size {
                out.push(merkle::inclusion_proof(alg, index, size, src)?);
            }
        }
        for from in [1, 2, 100, 256, 257, 4096, 65536, 65537, size / 2 + 1, size] {
            if from <= size {
                out.push(merkle::consistency_proof(alg, from, size, src)?);
            }
        }
        Ok(out)
    }

    #[test]
    fn tiles_serve_the_same_roots_and_proofs_as_the_whole_tree() {
        let alg = HashAlg::Sha256;
        let total = 70_000u64;
        let leaves: Vec<Hash> = (0..total).map(|i| leaf(alg, i)).collect();
        let mut tree = MemoryTree::new(alg);
        for &l in &leaves {
            tree.push(l);
        }
        let tiles = build_tiles(alg, &leaves);

        // The tiles built are exactly the ones the spec lists for this size.
        let mut built: Vec<TileRef> = tiles
            .keys()
            .map(|(level, index)| TileRef::Hashes {
                level,
                index,
                width: tiles.get(level, index).unwrap().width(),
            })
            .collect();
        built.sort();
        let mut listed: Vec<TileRef> = tiles_for_size(total).collect();
        listed.sort();
        assert_eq!(built, listed);

        let sizes = [
            1u64, 2, 3, 255, 256, 257, 511, 512, 513, 4095, 4096, 4097, 65535, 65536, 65537, 65792, 69_999,
            70_000,
        ];
        for size in sizes {
            let want = computations(alg, size, &tree).unwrap();
            assert_eq!(want[0][0], merkle::root(alg, size, &tree).unwrap());
            assert_eq!(computations(alg, size, &tiles).unwrap(), want, "size {size}");

            // The recorder names the tiles needed: those alone suffice, at the recorded widths...
            let recorder = TileRecorder::new();
            computations(alg, size, &recorder).unwrap();
            let needed = recorder.widths();
            assert_eq!(needed.keys().copied().collect::<BTreeSet<_>>(), recorder.tiles());
            let narrow: TileSet = needed
                .iter()
                .map(|(&(level, index), &width)| {
                    let full = tiles.get(level, index).expect("recorded tile exists");
                    let bottom = &full.bottom()[..usize::from(width)];
                    ((level, index), ExpandedTile::new(alg, bottom))
                })
                .collect();
            assert_eq!(computations(alg, size, &narrow).unwrap(), want, "size {size}");
            // ...and each of them is needed: without it the computation fails, as it does when
            // the tile is one hash narrower than recorded.
            for (&(level, index), &width) in &needed {
                let mut without = narrow.clone();
                let tile = without.remove(level, index).unwrap();
                assert!(computations(alg, size, &without).is_err());
                let shorter = ExpandedTile::new(alg, &tile.bottom()[..usize::from(width) - 1]);
                without.insert(level, index, shorter);
                assert!(computations(alg, size, &without).is_err());
            }
            // Every recorded tile exists for this size, no wider than the tree allows.
            let existing: BTreeMap<(u8, u64), u16> = tiles_for_size(size)
                .map(|t| match t {
                    TileRef::Hashes { level, index, width } => ((level, index), width),
                    TileRef::Entries { .. } => unreachable!(),
                })
                .collect();
            for (key, width) in &needed {
                assert!(existing.get(key).is_some_and(|w| w >= width), "{key:?}");
            }
        }
    }

    #[test]
    fn tile_set_reports_missing_nodes() {
        let alg = HashAlg::Sha256;
        let leaves: Vec<Hash> = (0..300).map(|i| leaf(alg, i)).collect();
        let tiles = build_tiles(alg, &leaves);
        assert_eq!(tiles.len(), 3);
        assert!(tiles.contains(1, 0));
        assert!(tiles.node(0, 299).is_ok());
        assert_eq!(tiles.node(0, 300), Err(MissingNode { level: 0, index: 300 }));
        // Level 8 node 0 is the root of level-0 tile 0, served by the level-1 tile.
        assert_eq!(tiles.node(8, 0), Ok(tiles.get(0, 0).unwrap().root().unwrap()));
        assert!(tiles.node(8, 1).is_err());
        assert!(TileSet::new().node(0, 0).is_err());
        assert!(TileSet::new().is_empty());
    }

    #[test]
    fn recorder_can_be_cleared() {
        let recorder = TileRecorder::new();
        merkle::root(HashAlg::Sha256, 70_000, &recorder).unwrap();
        // 65536 + 4096 + 256 + 112: the level-2 tile, the level-1 tile 1 (a height-4 node and a
        // bottom hash), and level-0 tile 273.
        assert_eq!(
            recorder.widths(),
            BTreeMap::from([((0, 273), 112), ((1, 1), 17), ((2, 0), 1)])
        );
        recorder.clear();
        assert!(recorder.tiles().is_empty());
    }
}
