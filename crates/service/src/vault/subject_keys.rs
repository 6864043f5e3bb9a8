//! Per-subject keys: created on a subject's first record, wrapped by the key provider, cached
//! unwrapped (in zeroizing memory) for the hot path.
//!
//! A new key is *pending* until a record carrying it commits: every record sealed under a pending
//! key carries the key's row, which the sequencer stores (idempotently) in the record's
//! transaction. So a key is stored exactly when the first record using it is, and concurrent
//! writers for a new subject share one key.

use std::collections::HashMap;
use std::sync::Mutex;

use tianping_store::vault::{self as rows, SubjectKeyRow};
use tianping_vault::SecretKey;

use super::keyring::subject_key_aad;
use super::{Result, Vault, VaultError};
use crate::log::now_ms;

struct Cached {
    id: String,
    key: SecretKey,
    /// The key's row, while no record carrying it has committed.
    pending: Option<SubjectKeyRow>,
}

impl Cached {
    fn handle(&self) -> SubjectKey {
        SubjectKey {
            id: self.id.clone(),
            key: self.key.clone(),
            new_row: self.pending.clone(),
        }
    }
}

/// A subject's key as the write path needs it.
pub(crate) struct SubjectKey {
    pub id: String,
    pub key: SecretKey,
    /// The key's row, to be stored with the record (first records of a subject).
    pub new_row: Option<SubjectKeyRow>,
}

pub(crate) struct SubjectKeys {
    capacity: usize,
    by_subject: Mutex<Maps>,
}

#[derive(Default)]
struct Maps {
    /// subject pseudonym (hex) → its live key.
    keys: HashMap<String, Cached>,
    /// key id → subject pseudonym.
    ids: HashMap<String, String>,
}

impl Maps {
    fn get(&self, subject: &str) -> Option<&Cached> {
        self.keys.get(subject)
    }
    fn by_id(&self, id: &str) -> Option<&Cached> {
        self.ids.get(id).and_then(|s| self.keys.get(s))
    }
    fn len(&self) -> usize {
        self.keys.len()
    }
    fn insert(&mut self, subject: String, c: Cached) {
        self.ids.insert(c.id.clone(), subject.clone());
        self.keys.insert(subject, c);
    }
    fn retain(&mut self, keep: impl Fn(&Cached) -> bool) {
        self.keys.retain(|_, c| keep(c));
        let keys = &self.keys;
        self.ids.retain(|_, s| keys.contains_key(s));
    }
}

impl SubjectKeys {
    pub fn new(capacity: usize) -> Self {
        SubjectKeys {
            capacity: capacity.max(16),
            by_subject: Mutex::new(Maps::default()),
        }
    }

    fn lookup(&self, subject: &str) -> Option<SubjectKey> {
        let map = self.by_subject.lock().expect("key cache lock");
        map.get(subject).map(Cached::handle)
    }

    fn insert(&self, subject: &str, c: Cached) -> SubjectKey {
        let mut map = self.by_subject.lock().expect("key cache lock");
        if let Some(existing) = map.get(subject) {
            // Someone else got here first: share their key.
            return existing.handle();
        }
        if map.len() >= self.capacity {
            // Drop stored keys (never pending ones); they are read back from storage on demand.
            map.retain(|c| c.pending.is_some());
        }
        let out = c.handle();
        map.insert(subject.to_owned(), c);
        out
    }

    /// The live key of `subject`, creating it (pending) if the subject has none.
    pub async fn get_or_create(&self, vault: &Vault, subject: &str) -> Result<SubjectKey> {
        if let Some(k) = self.lookup(subject) {
            return Ok(k);
        }
        let inner = &vault.inner;
        if let Some(row) = rows::live_subject_key(&inner.db, subject).await? {
            let key = unwrap_row(vault, &row).await?;
            return Ok(self.insert(
                subject,
                Cached {
                    id: row.id,
                    key,
                    pending: None,
                },
            ));
        }
        let id = super::new_id();
        let key = inner.cipher.generate_key();
        let (kek_id, wrapped) = inner.provider.wrap(&subject_key_aad(&id, subject), &key).await?;
        let row = SubjectKeyRow {
            id: id.clone(),
            subject: subject.to_owned(),
            kek_id,
            wrapped: Some(wrapped),
            created_ms: now_ms() as i64,
        };
        Ok(self.insert(
            subject,
            Cached {
                id,
                key,
                pending: Some(row),
            },
        ))
    }

    /// A key by id (for reading records), from the cache or storage.
    pub async fn by_id(&self, vault: &Vault, id: &str) -> Result<SecretKey> {
        {
            let map = self.by_subject.lock().expect("key cache lock");
            if let Some(c) = map.by_id(id) {
                return Ok(c.key.clone());
            }
        }
        let row = rows::subject_key(&vault.inner.db, id)
            .await?
            .ok_or(VaultError::Shredded)?;
        unwrap_row(vault, &row).await
    }

    /// A record carrying this key committed: the key is stored.
    pub fn mark_stored(&self, id: &str) {
        let mut map = self.by_subject.lock().expect("key cache lock");
        if let Some(subject) = map.ids.get(id).cloned()
            && let Some(c) = map.keys.get_mut(&subject)
        {
            c.pending = None;
        }
    }

    /// The key was shredded: forget it, so the subject's next record gets a new key.
    pub fn forget_key(&self, id: &str) {
        self.by_subject
            .lock()
            .expect("key cache lock")
            .retain(|c| c.id != id);
    }
}

async fn unwrap_row(vault: &Vault, row: &SubjectKeyRow) -> Result<SecretKey> {
    let wrapped = row.wrapped.as_deref().ok_or(VaultError::Shredded)?;
    Ok(vault
        .inner
        .provider
        .unwrap(&row.kek_id, &subject_key_aad(&row.id, &row.subject), wrapped)
        .await?)
}
