//! API tokens for integrations: random secrets shown once, stored only as SHA-256 hashes, revocable,
//! limited to scopes and bound to the partner organisation they act for. Tokens of the first release
//! have the scope `*` (everything an integration may do) and no organisation; they keep working.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use tianping_log::envelope::Source;
use tianping_store::{Db, StoreError, tokens};
use zeroize::Zeroizing;

use crate::keys::random_bytes;
use crate::log::now_ms;

pub const TOKEN_PREFIX: &str = "tp_";

/// The authenticated caller of an API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub token_id: String,
    /// The token's name; it is also the `source` recorded in the envelopes the client submits.
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The partner organisation the token acts for.
    pub org_id: Option<String>,
}

impl ApiClient {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// What an integration token may do. Reads still pass the access decision point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Submit entries, records and uploads.
    EventsWrite,
    /// Read records and exports (each read is decided and recorded).
    RecordsRead,
    /// Place and release legal holds.
    HoldsManage,
    /// Close consultations, request erasure, run retention, shred.
    LifecycleManage,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::EventsWrite,
        Scope::RecordsRead,
        Scope::HoldsManage,
        Scope::LifecycleManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::EventsWrite => "events:write",
            Scope::RecordsRead => "records:read",
            Scope::HoldsManage => "holds:manage",
            Scope::LifecycleManage => "lifecycle:manage",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// The stored form: `*` (every scope) or the scope names, space-separated.
fn parse_scopes(stored: &str) -> Vec<Scope> {
    if stored.trim() == "*" {
        return Scope::ALL.to_vec();
    }
    stored.split_whitespace().filter_map(Scope::parse).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token name must be 1 to 64 characters from A-Z a-z 0-9 . _ -")]
    BadName,
    #[error("a token named {0:?} already exists")]
    NameTaken(String),
    #[error("unknown scope {0:?} (known: events:write records:read holds:manage lifecycle:manage)")]
    BadScope(String),
    #[error("no active token named {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Create an unscoped token (every scope, no organisation); returns the secret, which is never stored.
pub async fn create(db: &Db, name: &str) -> Result<Zeroizing<String>, TokenError> {
    create_scoped(db, name, &[], None).await
}

/// Create a token limited to `scopes` (names as in [`Scope::as_str`]; none means every scope) acting
/// for the organisation `org`; returns the secret, which is never stored.
pub async fn create_scoped(
    db: &Db,
    name: &str,
    scopes: &[String],
    org: Option<&str>,
) -> Result<Zeroizing<String>, TokenError> {
    Source::parse(name).map_err(|_| TokenError::BadName)?;
    for s in scopes {
        Scope::parse(s).ok_or_else(|| TokenError::BadScope(s.clone()))?;
    }
    let stored_scopes = if scopes.is_empty() {
        "*".to_owned()
    } else {
        scopes.join(" ")
    };
    if tokens::name_taken(db, name).await? {
        return Err(TokenError::NameTaken(name.to_owned()));
    }
    let secret = Zeroizing::new(format!(
        "{TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(*random_bytes::<32>())
    ));
    let id = hex::encode(*random_bytes::<16>());
    let mut tx = db.begin().await?;
    let row = tokens::TokenRow {
        id,
        name: name.to_owned(),
        created_ms: now_ms() as i64,
        revoked_ms: None,
        scopes: stored_scopes,
        org_id: org.map(str::to_owned),
    };
    tokens::insert(&mut tx, &row, &hash(&secret)).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(secret)
}

pub async fn revoke(db: &Db, name: &str) -> Result<(), TokenError> {
    let mut tx = db.begin().await?;
    let done = tokens::revoke(&mut tx, name, now_ms() as i64).await?;
    tx.commit().await.map_err(StoreError::from)?;
    if done {
        Ok(())
    } else {
        Err(TokenError::NotFound(name.to_owned()))
    }
}

/// Who holds this bearer token, if it is valid and not revoked.
pub async fn authenticate(db: &Db, bearer: &str) -> Result<Option<ApiClient>, StoreError> {
    if !bearer.starts_with(TOKEN_PREFIX) || bearer.len() > 128 {
        return Ok(None);
    }
    Ok(tokens::find_active(db, &hash(bearer))
        .await?
        .map(|row| ApiClient {
            scopes: parse_scopes(&row.scopes),
            token_id: row.id,
            name: row.name,
            org_id: row.org_id,
        }))
}

pub async fn list(db: &Db) -> Result<Vec<tokens::TokenRow>, StoreError> {
    tokens::list(db).await
}
