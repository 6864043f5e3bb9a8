//! API tokens, stored as hashes only.

use sqlx::Row;

use crate::{Db, Result, Tx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
    /// Space-separated scopes; `*` for the unscoped tokens of the first release.
    pub scopes: String,
    /// The partner organisation the token acts for.
    pub org_id: Option<String>,
}

pub async fn insert(tx: &mut Tx<'_>, row: &TokenRow, token_hash: &[u8]) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, name, token_hash, created_ms, scopes, org_id) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(row.id.clone())
    .bind(row.name.clone())
    .bind(token_hash.to_vec())
    .bind(row.created_ms)
    .bind(row.scopes.clone())
    .bind(row.org_id.clone())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Is there a token with this name, revoked or not?
pub async fn name_taken(db: &Db, name: &str) -> Result<bool> {
    let row = sqlx::query("SELECT 1 FROM api_tokens WHERE name = $1")
        .bind(name)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

/// The active (unrevoked) token with this hash, if any.
pub async fn find_active(db: &Db, token_hash: &[u8]) -> Result<Option<TokenRow>> {
    let row = sqlx::query(
        "SELECT id, name, created_ms, revoked_ms, scopes, org_id FROM api_tokens \
         WHERE token_hash = $1 AND revoked_ms IS NULL",
    )
    .bind(token_hash.to_vec())
    .fetch_optional(db.pool())
    .await?;
    row.map(token_row).transpose()
}

fn token_row(r: sqlx::any::AnyRow) -> Result<TokenRow> {
    Ok(TokenRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        created_ms: r.try_get(2)?,
        revoked_ms: r.try_get(3)?,
        scopes: r.try_get(4)?,
        org_id: r.try_get(5)?,
    })
}

/// Revoke by name; returns whether an active token was revoked.
pub async fn revoke(tx: &mut Tx<'_>, name: &str, now_ms: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE api_tokens SET revoked_ms = $1 WHERE name = $2 AND revoked_ms IS NULL")
        .bind(now_ms)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn list(db: &Db) -> Result<Vec<TokenRow>> {
    sqlx::query(
        "SELECT id, name, created_ms, revoked_ms, scopes, org_id FROM api_tokens ORDER BY created_ms, name",
    )
    .fetch_all(db.pool())
    .await?
    .into_iter()
    .map(token_row)
    .collect()
}
