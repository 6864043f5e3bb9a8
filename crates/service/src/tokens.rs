//! API tokens for integrations: random secrets shown once, stored only as SHA-256 hashes, revocable.
//! (Scoped tokens and full identity come with the identity capability; these keep working then.)

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
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token name must be 1 to 64 characters from A-Z a-z 0-9 . _ -")]
    BadName,
    #[error("a token named {0:?} already exists")]
    NameTaken(String),
    #[error("no active token named {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Create a token; returns the secret, which is never stored.
pub async fn create(db: &Db, name: &str) -> Result<Zeroizing<String>, TokenError> {
    Source::parse(name).map_err(|_| TokenError::BadName)?;
    if tokens::name_taken(db, name).await? {
        return Err(TokenError::NameTaken(name.to_owned()));
    }
    let secret = Zeroizing::new(format!(
        "{TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(*random_bytes::<32>())
    ));
    let id = hex::encode(*random_bytes::<16>());
    let mut tx = db.begin().await?;
    tokens::insert(&mut tx, &id, name, &hash(&secret), now_ms() as i64).await?;
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
            token_id: row.id,
            name: row.name,
        }))
}

pub async fn list(db: &Db) -> Result<Vec<tokens::TokenRow>, StoreError> {
    tokens::list(db).await
}
