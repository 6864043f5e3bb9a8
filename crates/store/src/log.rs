//! Rows of the evidence log: entries, contents, expanded tiles, checkpoints, parameters.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Db, MAX_PARAMS, Result, Script, Statement, StoreError, Tx, insert_rows, values_placeholders};

// Dynamic SQL below (wrapped in AssertSqlSafe) only ever adds numbered `$N` placeholders; no value
// is ever spliced into the text.

#[derive(Debug, Clone)]
pub struct NewEntry {
    pub idx: u64,
    pub leaf_hash: [u8; 32],
    pub envelope: Vec<u8>,
}

pub struct NewContent {
    pub idx: u64,
    pub salt: [u8; 32],
    pub content: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    pub idx: u64,
    pub leaf_hash: Vec<u8>,
    pub envelope: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileRow {
    pub level: u8,
    pub idx: u64,
    pub width: u16,
    pub nodes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    pub size: u64,
    pub root: Vec<u8>,
    pub note: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogParams {
    pub origin: String,
    pub suite: String,
    pub hash_alg: String,
    pub created_ms: i64,
}

pub(crate) fn to_i64(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{v} exceeds the SQL integer range")))
}

pub(crate) fn get_u64(row: &AnyRow, col: usize) -> Result<u64> {
    let v: i64 = row.try_get(col)?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative value {v}")))
}

pub async fn insert_params(tx: &mut Tx<'_>, p: &LogParams) -> Result<()> {
    sqlx::query(
        "INSERT INTO log_params (id, origin, suite, hash_alg, created_ms) VALUES (1, $1, $2, $3, $4)",
    )
    .bind(&p.origin)
    .bind(&p.suite)
    .bind(&p.hash_alg)
    .bind(p.created_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn params(db: &Db) -> Result<Option<LogParams>> {
    let row = sqlx::query("SELECT origin, suite, hash_alg, created_ms FROM log_params WHERE id = 1")
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| {
        Ok(LogParams {
            origin: r.try_get(0)?,
            suite: r.try_get(1)?,
            hash_alg: r.try_get(2)?,
            created_ms: r.try_get(3)?,
        })
    })
    .transpose()
}

/// Insert entries (see `insert_rows` in `lib.rs`).
pub fn insert_entries(script: &mut Script, rows: Vec<NewEntry>) -> Result<()> {
    let mut values = Vec::with_capacity(rows.len() * 3);
    for r in rows {
        values.extend([
            to_i64(r.idx)?.into(),
            r.leaf_hash.to_vec().into(),
            r.envelope.into(),
        ]);
    }
    insert_rows(script, "log_entries (idx, leaf_hash, envelope)", 3, values);
    Ok(())
}

pub fn insert_contents(script: &mut Script, rows: Vec<NewContent>) -> Result<()> {
    let mut values = Vec::with_capacity(rows.len() * 3);
    for r in rows {
        values.extend([to_i64(r.idx)?.into(), r.salt.to_vec().into(), r.content.into()]);
    }
    insert_rows(script, "log_contents (idx, salt, content)", 3, values);
    Ok(())
}

/// Insert or replace tiles (a tile only ever grows; the caller guarantees that). The log stores
/// level-0 tiles only once they are full (see `tianping_service::log::reader::stored_tiles`).
pub fn upsert_tiles(script: &mut Script, rows: &[TileRow]) -> Result<()> {
    for chunk in rows.chunks(MAX_PARAMS / 4) {
        let sql = format!(
            "INSERT INTO log_tiles (level, idx, width, nodes) VALUES {} \
             ON CONFLICT (level, idx) DO UPDATE SET width = excluded.width, nodes = excluded.nodes",
            values_placeholders(chunk.len(), 4)
        );
        let mut q = Statement::dynamic(sql);
        for r in chunk {
            q = q
                .bind(i64::from(r.level))
                .bind(to_i64(r.idx)?)
                .bind(i64::from(r.width))
                .bind(r.nodes.clone());
        }
        script.add(q);
    }
    Ok(())
}

pub fn insert_checkpoint(script: &mut Script, c: &CheckpointRow) -> Result<()> {
    script.add(
        Statement::new("INSERT INTO log_checkpoints (size, root, note, created_ms) VALUES ($1, $2, $3, $4)")
            .bind(to_i64(c.size)?)
            .bind(c.root.clone())
            .bind(&c.note)
            .bind(c.created_ms)
            // A plain insert: a second checkpoint of the same size fails either way.
            .independent(),
    );
    Ok(())
}

fn checkpoint_row(r: AnyRow) -> Result<CheckpointRow> {
    Ok(CheckpointRow {
        size: get_u64(&r, 0)?,
        root: r.try_get(1)?,
        note: r.try_get(2)?,
        created_ms: r.try_get(3)?,
    })
}

pub async fn latest_checkpoint(db: &Db) -> Result<Option<CheckpointRow>> {
    sqlx::query("SELECT size, root, note, created_ms FROM log_checkpoints ORDER BY size DESC LIMIT 1")
        .fetch_optional(db.pool())
        .await?
        .map(checkpoint_row)
        .transpose()
}

pub async fn checkpoint(db: &Db, size: u64) -> Result<Option<CheckpointRow>> {
    sqlx::query("SELECT size, root, note, created_ms FROM log_checkpoints WHERE size = $1")
        .bind(to_i64(size)?)
        .fetch_optional(db.pool())
        .await?
        .map(checkpoint_row)
        .transpose()
}

/// Checkpoints with size >= `from`, in increasing size, at most `limit`.
pub async fn checkpoints_from(db: &Db, from: u64, limit: u32) -> Result<Vec<CheckpointRow>> {
    sqlx::query(
        "SELECT size, root, note, created_ms FROM log_checkpoints WHERE size >= $1 \
         ORDER BY size LIMIT $2",
    )
    .bind(to_i64(from)?)
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?
    .into_iter()
    .map(checkpoint_row)
    .collect()
}

fn tile_row(r: AnyRow) -> Result<TileRow> {
    let level: i64 = r.try_get(0)?;
    let width: i64 = r.try_get(2)?;
    Ok(TileRow {
        level: u8::try_from(level).map_err(|_| StoreError::Corrupt("tile level".into()))?,
        idx: get_u64(&r, 1)?,
        width: u16::try_from(width).map_err(|_| StoreError::Corrupt("tile width".into()))?,
        nodes: r.try_get(3)?,
    })
}

/// The stored tiles among `keys` (absent ones are simply missing from the result).
pub async fn tiles(db: &Db, keys: &[(u8, u64)]) -> Result<Vec<TileRow>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(MAX_PARAMS / 2) {
        let mut sql = String::from("SELECT level, idx, width, nodes FROM log_tiles WHERE ");
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(" OR ");
            }
            sql.push_str(&format!("(level = ${} AND idx = ${})", 2 * i + 1, 2 * i + 2));
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (level, idx) in chunk {
            q = q.bind(i64::from(*level)).bind(to_i64(*idx)?);
        }
        for r in q.fetch_all(db.pool()).await? {
            out.push(tile_row(r)?);
        }
    }
    Ok(out)
}

/// Tiles of one level with index in `[from, from + limit)`, in order.
pub async fn tiles_of_level(db: &Db, level: u8, from: u64, limit: u32) -> Result<Vec<TileRow>> {
    sqlx::query(
        "SELECT level, idx, width, nodes FROM log_tiles WHERE level = $1 AND idx >= $2 \
         ORDER BY idx LIMIT $3",
    )
    .bind(i64::from(level))
    .bind(to_i64(from)?)
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?
    .into_iter()
    .map(tile_row)
    .collect()
}

/// Entries with index in `[from, to)`, in order.
pub async fn entries(db: &Db, from: u64, to: u64) -> Result<Vec<EntryRow>> {
    sqlx::query("SELECT idx, leaf_hash, envelope FROM log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx")
        .bind(to_i64(from)?)
        .bind(to_i64(to)?)
        .fetch_all(db.pool())
        .await?
        .into_iter()
        .map(|r| {
            Ok(EntryRow {
                idx: get_u64(&r, 0)?,
                leaf_hash: r.try_get(1)?,
                envelope: r.try_get(2)?,
            })
        })
        .collect()
}

/// Leaf hashes of the entries with index in `[from, to)`, in order.
pub async fn leaf_hashes(db: &Db, from: u64, to: u64) -> Result<Vec<(u64, Vec<u8>)>> {
    sqlx::query("SELECT idx, leaf_hash FROM log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx")
        .bind(to_i64(from)?)
        .bind(to_i64(to)?)
        .fetch_all(db.pool())
        .await?
        .into_iter()
        .map(|r| Ok((get_u64(&r, 0)?, r.try_get(1)?)))
        .collect()
}

/// Salt and content of entries with index in `[from, to)`, in order.
pub async fn contents(db: &Db, from: u64, to: u64) -> Result<Vec<(u64, Vec<u8>, Vec<u8>)>> {
    sqlx::query("SELECT idx, salt, content FROM log_contents WHERE idx >= $1 AND idx < $2 ORDER BY idx")
        .bind(to_i64(from)?)
        .bind(to_i64(to)?)
        .fetch_all(db.pool())
        .await?
        .into_iter()
        .map(|r| Ok((get_u64(&r, 0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}
