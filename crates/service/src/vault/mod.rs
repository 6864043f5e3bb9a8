//! The encrypted vault: every log entry's content is a vault record, stored encrypted and committed
//! to the evidence log in the same transaction (the sequencer applies the record as an effect of its
//! entry), so a record is acknowledged only when both are durable and a crash leaves neither half.
//!
//! Keys: each record has its own content key, wrapped by its subject's key, wrapped by a
//! key-encryption key from the [`KeyProvider`]. Associated data binds every ciphertext and wrapped
//! key to its record id and subject pseudonym. Records of `inline_max_bytes` or more are stored as
//! encrypted chunks in object storage ([`blob`]). Lifecycle (holds, retention, erasure, shredding)
//! is in [`lifecycle`], the integrity check in [`audit`].

mod audit;
pub mod blob;
pub mod keyring;
mod lifecycle;
mod subject_keys;

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tianping_log::envelope::{self, EnvelopeError, Kind, SALT_LEN, Source, Subject};
use tianping_log::{Hash, HashAlg};
use tianping_store::vault::{self as rows, Effect, RecordRow};
use tianping_store::{Db, StoreError};
use tianping_vault::retention::{self, HoldScope, ReadRefusal, RecordFacts, RecordState};
use tianping_vault::{Cipher, CryptoError, SecretKey, Zeroizing};

use crate::config::VaultSettings;
use crate::identity::access::Permit;
use crate::keys::Suite;
use crate::log::{AppendError, EntryHeader, Log, ReadError, Receipt, now_ms};

pub use audit::{VaultAuditReport, audit};
pub use blob::BlobStore;
pub use keyring::{KeyProvider, LocalKeyring, Rotation, rotate};
pub use lifecycle::{HoldRequest, RetentionReport, ShredScope};
use subject_keys::SubjectKeys;

/// The subject under which the vault's own events (holds, tombstones, erasure requests) are kept.
pub const SYSTEM_SUBJECT: &str = "tianping:vault";
pub const JSON: &str = "application/json";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Invalid(#[from] EnvelopeError),
    #[error("content is {size} bytes; at most {max} are accepted here")]
    ContentTooLarge { size: usize, max: usize },
    #[error("unknown retention class {0:?}")]
    UnknownClass(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("not found")]
    NotFound,
    #[error("the record has been shredded")]
    Shredded,
    #[error("the record is in storage-only state (PIPL-47) and no legal hold covers it")]
    StorageOnly,
    #[error("{0}")]
    Conflict(String),
    #[error("a legal hold covers it")]
    Held,
    #[error("stored data failed its integrity check: {0}")]
    Integrity(String),
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error("storage failed: {0}")]
    Storage(String),
}

impl From<StoreError> for VaultError {
    fn from(e: StoreError) -> Self {
        VaultError::Storage(e.to_string())
    }
}
impl From<ReadError> for VaultError {
    fn from(e: ReadError) -> Self {
        VaultError::Storage(e.to_string())
    }
}
impl From<anyhow::Error> for VaultError {
    fn from(e: anyhow::Error) -> Self {
        VaultError::Storage(format!("{e:#}"))
    }
}
impl From<object_store::Error> for VaultError {
    fn from(e: object_store::Error) -> Self {
        VaultError::Storage(e.to_string())
    }
}
impl From<CryptoError> for VaultError {
    fn from(e: CryptoError) -> Self {
        VaultError::Integrity(e.to_string())
    }
}

pub type Result<T, E = VaultError> = std::result::Result<T, E>;

/// Content of a new record.
pub enum Content<'a> {
    /// Stored as canonical JSON (`application/json`).
    Json(&'a Value),
    /// Opaque bytes of the given media type.
    Bytes { media_type: &'a str, bytes: &'a [u8] },
}

/// A record to store.
pub struct NewRecord<'a> {
    pub kind: &'a str,
    pub subject: &'a str,
    /// Who sends it (the API token's name).
    pub source: &'a str,
    pub occurred_ms: Option<u64>,
    pub content: Content<'a>,
    /// Retention class; defaults by kind (`vault.kind_class`).
    pub retention_class: Option<&'a str>,
    pub consultation: Option<&'a str>,
}

/// The acknowledgement of a stored record.
#[derive(Debug, Clone)]
pub struct RecordReceipt {
    pub record_id: String,
    pub receipt: Receipt,
    /// The commitment salt (it is also stored, encrypted, with the record).
    pub salt: [u8; SALT_LEN],
    pub envelope: Vec<u8>,
}

/// A decrypted record.
pub struct Opened {
    pub row: RecordRow,
    pub salt: Zeroizing<[u8; SALT_LEN]>,
    /// The content for inline records; `None` for blob records (stream them with [`Vault::blob_reader`]).
    pub content: Option<Zeroizing<Vec<u8>>>,
    pub content_key: SecretKey,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("record", &self.row.id)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub log: Log,
    pub db: Db,
    pub alg: HashAlg,
    pub cipher: Cipher,
    pub settings: VaultSettings,
    /// Largest JSON content accepted (canonical bytes; `log.max_content_bytes`).
    pub max_json: usize,
    pub provider: Arc<dyn KeyProvider>,
    pub keys: SubjectKeys,
    pub blobs: BlobStore,
    /// Serialises lifecycle operations (holds, retention runs, erasure, shredding) so their
    /// decisions and effects see the same holds.
    pub lifecycle: tokio::sync::Mutex<()>,
    pub uploads: blob::UploadLocks,
}

/// Handle to the vault. Cheap to clone.
#[derive(Clone)]
pub struct Vault {
    pub(crate) inner: Arc<Inner>,
}

/// The cipher of a crypto suite: AES-256-GCM for `intl`, SM4-GCM for `sm`.
pub fn cipher_of(suite: Suite) -> Cipher {
    match suite {
        Suite::Intl => Cipher::Aes256Gcm,
        Suite::Sm => Cipher::Sm4Gcm,
    }
}

pub(crate) fn record_aad(record_id: &str, subject: &str) -> Vec<u8> {
    tianping_vault::aad(&[b"tianping.record/v1", record_id.as_bytes(), subject.as_bytes()])
}

pub(crate) fn content_key_aad(record_id: &str, subject: &str) -> Vec<u8> {
    tianping_vault::aad(&[
        b"tianping.content-key/v1",
        record_id.as_bytes(),
        subject.as_bytes(),
    ])
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Vault {
    pub fn open(
        log: Log,
        db: Db,
        settings: VaultSettings,
        max_json: usize,
        provider: Arc<dyn KeyProvider>,
        blobs: BlobStore,
    ) -> anyhow::Result<Vault> {
        for (name, class) in &settings.retention {
            if class.years > 200 {
                anyhow::bail!("retention class {name}: {} years is not plausible", class.years);
            }
        }
        for name in
            std::iter::once(&settings.default_class).chain(settings.kind_class.iter().map(|k| &k.class))
        {
            if !settings.retention.contains_key(name) {
                anyhow::bail!("retention class {name} is used but not defined under [vault.retention]");
            }
        }
        let cipher = cipher_of(log.suite());
        Ok(Vault {
            inner: Arc::new(Inner {
                alg: log.alg(),
                keys: SubjectKeys::new(settings.key_cache),
                log,
                db,
                cipher,
                settings,
                max_json,
                provider,
                blobs,
                lifecycle: tokio::sync::Mutex::new(()),
                uploads: Default::default(),
            }),
        })
    }

    pub fn log(&self) -> &Log {
        &self.inner.log
    }
    pub fn cipher(&self) -> Cipher {
        self.inner.cipher
    }
    pub fn settings(&self) -> &VaultSettings {
        &self.inner.settings
    }

    /// The keyed pseudonym of a subject, as the log's envelopes carry it.
    fn pseudonym_of(&self, subject: &str) -> Result<Hash> {
        Ok(self.inner.log.pseudonym(&Subject::parse(subject)?))
    }

    /// Pseudonym (hex) of a subject, as the vault's tables name it.
    pub fn subject_id(&self, subject: &str) -> Result<String> {
        Ok(hex::encode(self.pseudonym_of(subject)?))
    }

    pub(crate) fn class(&self, name: &str) -> Result<&retention::RetentionClass> {
        self.inner
            .settings
            .retention
            .get(name)
            .ok_or_else(|| VaultError::UnknownClass(name.to_owned()))
    }

    /// The retention deadline of a new record.
    pub(crate) async fn deadline(
        &self,
        class: &retention::RetentionClass,
        event_ms: i64,
        consultation: Option<&str>,
    ) -> Result<Option<i64>> {
        let end = match (class.start, consultation) {
            (retention::StartBasis::ConsultationEnd, Some(c)) => {
                rows::consultation_end(&self.inner.db, c).await?
            }
            _ => None,
        };
        Ok(retention::retain_until(class, event_ms, consultation, end))
    }

    /// Store a record: encrypt, commit to the log, acknowledge when both are durable.
    pub async fn write(&self, r: NewRecord<'_>) -> Result<RecordReceipt> {
        let (media_type, bytes): (&str, std::borrow::Cow<'_, [u8]>) = match r.content {
            Content::Json(v) => {
                let bytes = envelope::canonical_json(v);
                if bytes.len() > self.inner.max_json {
                    return Err(VaultError::ContentTooLarge {
                        size: bytes.len(),
                        max: self.inner.max_json,
                    });
                }
                (JSON, bytes.into())
            }
            Content::Bytes { media_type, bytes } => (media_type, bytes.into()),
        };
        if bytes.len() >= self.inner.settings.inline_max_bytes {
            return self.write_blob_from_slice(&r, media_type, &bytes).await;
        }
        let pseudonym = self.pseudonym_of(r.subject)?;
        let class_name = r
            .retention_class
            .unwrap_or_else(|| self.inner.settings.class_for_kind(r.kind));
        // A record prepared under a subject key that is shredded meanwhile is refused by the
        // sequencer; the second attempt uses the subject's new key.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let prepared = self
                .seal_inline(&r, pseudonym, class_name, media_type, &bytes, false)
                .await?;
            match self.commit(prepared).await {
                Err(VaultError::Append(AppendError::KeyShredded)) if attempt < 3 => continue,
                other => return other,
            }
        }
    }

    /// Encrypt a record for the log. `consultation_open`: the caller knows the record's consultation
    /// has not ended (so no deadline counted from its end can be known yet; saves a query).
    async fn seal_inline(
        &self,
        r: &NewRecord<'_>,
        pseudonym: Hash,
        class_name: &str,
        media_type: &str,
        bytes: &[u8],
        consultation_open: bool,
    ) -> Result<SealedRecord> {
        let kind = Kind::parse(r.kind)?;
        let source = Source::parse(r.source)?;
        let subject = &hex::encode(pseudonym);
        validate_media_type(media_type)?;
        let consultation = r.consultation.map(validate_ref).transpose()?;
        let class = self.class(class_name)?;
        let received_ms = now_ms();
        let occurred_ms = r.occurred_ms.unwrap_or(received_ms);
        let event_ms =
            i64::try_from(occurred_ms).map_err(|_| VaultError::BadRequest("time out of range".into()))?;
        let retain_until_ms = if consultation_open {
            retention::retain_until(class, event_ms, consultation, None)
        } else {
            self.deadline(class, event_ms, consultation).await?
        };
        let key = self.inner.keys.get_or_create(self, subject).await?;

        let id = new_id();
        let cipher = self.inner.cipher;
        let content_key = cipher.generate_key();
        let salt = tianping_vault::random_bytes::<SALT_LEN>();
        let mut plain = Zeroizing::new(Vec::with_capacity(SALT_LEN + bytes.len()));
        plain.extend_from_slice(&*salt);
        plain.extend_from_slice(bytes);
        let ciphertext = cipher.seal(&content_key, &record_aad(&id, subject), &plain);
        let wrapped_key = cipher.wrap_key(&key.key, &content_key_aad(&id, subject), &content_key);
        let commitment = envelope::commitment(self.inner.alg, &salt, bytes);
        let record = RecordRow {
            id: id.clone(),
            log_idx: 0,
            subject: subject.to_owned(),
            kind: kind.as_str().to_owned(),
            media_type: media_type.to_owned(),
            consultation: consultation.map(str::to_owned),
            case_id: None,
            retention_class: class_name.to_owned(),
            event_ms,
            retain_until_ms,
            state: RecordState::Active.as_str().into(),
            subject_key_id: Some(key.id.clone()),
            wrapped_key: Some(wrapped_key),
            ciphertext: Some(ciphertext),
            blob_chunks: None,
            size: bytes.len() as i64,
            created_ms: received_ms as i64,
            shredded_ms: None,
        };
        Ok(SealedRecord {
            header: Header {
                kind,
                source,
                pseudonym,
                received_ms,
                occurred_ms,
                commitment,
            },
            salt: *salt,
            effect: Effect::Record {
                record: Box::new(record),
                new_key: key.new_row,
                upload: None,
            },
            extra: vec![],
            key_id: key.id,
        })
    }

    /// Append a sealed record (and any extra effects) to the log.
    pub(crate) async fn commit(&self, s: SealedRecord) -> Result<RecordReceipt> {
        self.submit(s).await?.wait().await
    }

    /// Seal a JSON record of a consultation that has not ended, for [`Vault::submit`]. The content is
    /// `Content::Bytes` holding JSON already in canonical form (the caller has it: it hashed it for
    /// idempotency), or `Content::Json`.
    pub(crate) async fn seal_open_consultation_json(
        &self,
        r: &NewRecord<'_>,
        extra: Vec<Effect>,
    ) -> Result<SealedRecord> {
        let canonical: std::borrow::Cow<'_, [u8]> = match r.content {
            Content::Json(v) => envelope::canonical_json(v).into(),
            Content::Bytes {
                media_type: JSON,
                bytes,
            } => bytes.into(),
            Content::Bytes { .. } => {
                return Err(VaultError::BadRequest("a consultation event is JSON".into()));
            }
        };
        let max = self.inner.max_json.min(self.inner.settings.inline_max_bytes - 1);
        if canonical.len() > max {
            return Err(VaultError::ContentTooLarge {
                size: canonical.len(),
                max,
            });
        }
        let pseudonym = self.pseudonym_of(r.subject)?;
        let class_name = r
            .retention_class
            .unwrap_or_else(|| self.inner.settings.class_for_kind(r.kind));
        let mut sealed = self
            .seal_inline(r, pseudonym, class_name, JSON, &canonical, true)
            .await?;
        sealed.extra = extra;
        Ok(sealed)
    }

    /// Queue a sealed record (and its extra effects) for the log without waiting; records
    /// submitted one after the other by one task commit in that order.
    pub(crate) async fn submit(&self, s: SealedRecord) -> Result<PendingRecord> {
        let Effect::Record { record, .. } = &s.effect else {
            unreachable!("a sealed record carries its record effect")
        };
        let record_id = record.id.clone();
        let carried_new_key = matches!(&s.effect, Effect::Record { new_key: Some(_), .. });
        let mut effects = vec![s.effect];
        effects.extend(s.extra);
        let prepared = self.inner.log.prepare(
            EntryHeader {
                kind: &s.header.kind,
                subject_pseudonym: s.header.pseudonym,
                source: &s.header.source,
                received_ms: s.header.received_ms,
                occurred_ms: s.header.occurred_ms,
                commitment: s.header.commitment,
            },
            effects,
        );
        let envelope = prepared.envelope().to_vec();
        let queued = self.inner.log.enqueue(prepared).await?;
        Ok(PendingRecord {
            vault: self.clone(),
            record_id,
            salt: s.salt,
            envelope,
            key_id: s.key_id,
            carried_new_key,
            queued,
        })
    }

    /// Record a vault event (hold, tombstone, erasure, access) under the system subject, with the
    /// effects that must commit together with it.
    pub(crate) async fn event(
        &self,
        kind: &str,
        source: &str,
        content: &Value,
        extra: Vec<Effect>,
    ) -> Result<RecordReceipt> {
        let bytes = envelope::canonical_json(content);
        let pseudonym = self.pseudonym_of(SYSTEM_SUBJECT)?;
        let class = self.inner.settings.class_for_kind(kind);
        let r = NewRecord {
            kind,
            subject: SYSTEM_SUBJECT,
            source,
            occurred_ms: None,
            content: Content::Json(content),
            retention_class: Some(class),
            consultation: None,
        };
        let mut sealed = self
            .seal_inline(&r, pseudonym, class, JSON, &bytes, false)
            .await?;
        sealed.extra = extra;
        self.commit(sealed).await
    }

    /// Load a record row and decide whether its content may be read at all.
    async fn readable_row(&self, id: &str) -> Result<RecordRow> {
        let row = rows::record(&self.inner.db, id)
            .await?
            .ok_or(VaultError::NotFound)?;
        let holds = self.active_hold_scopes().await?;
        match retention::readable(&facts(&row), &holds) {
            Ok(()) => Ok(row),
            Err(ReadRefusal::Shredded) => Err(VaultError::Shredded),
            Err(ReadRefusal::StorageOnly) => Err(VaultError::StorageOnly),
        }
    }

    pub(crate) async fn active_hold_scopes(&self) -> Result<Vec<HoldScope>> {
        Ok(rows::active_holds(&self.inner.db)
            .await?
            .into_iter()
            .filter_map(|h| HoldScope::from_parts(&h.scope, h.target))
            .collect())
    }

    /// Decrypt a record row (no access checks: callers are [`Vault::read`], export and audit).
    pub(crate) async fn open_row(&self, row: RecordRow) -> Result<Opened> {
        let (Some(key_id), Some(wrapped), Some(ciphertext)) = (
            row.subject_key_id.as_deref(),
            row.wrapped_key.as_deref(),
            row.ciphertext.as_deref(),
        ) else {
            return Err(VaultError::Shredded);
        };
        let subject_key = self.inner.keys.by_id(self, key_id).await?;
        let cipher = self.inner.cipher;
        let content_key =
            cipher.unwrap_key(&subject_key, &content_key_aad(&row.id, &row.subject), wrapped)?;
        let plain = cipher.open(&content_key, &record_aad(&row.id, &row.subject), ciphertext)?;
        if plain.len() < SALT_LEN {
            return Err(VaultError::Integrity(
                "sealed record is shorter than its salt".into(),
            ));
        }
        let mut salt = Zeroizing::new([0u8; SALT_LEN]);
        salt.copy_from_slice(&plain[..SALT_LEN]);
        let content = if row.blob_chunks.is_some() {
            if plain.len() != SALT_LEN {
                return Err(VaultError::Integrity(
                    "blob record seals more than its salt".into(),
                ));
            }
            None
        } else {
            Some(Zeroizing::new(plain[SALT_LEN..].to_vec()))
        };
        Ok(Opened {
            row,
            salt,
            content,
            content_key,
        })
    }

    /// Read a record under a permit of the access decision point (which recorded the access).
    /// Inline content only; blob records return their metadata and are streamed with
    /// [`Vault::blob_reader`].
    /// A permit for the record's subject (an export) covers it too, within the permit's sources.
    pub async fn read(&self, id: &str, permit: &Permit) -> Result<Opened> {
        let row = self.readable_row(id).await?;
        let covered = permit.covers_record(id)
            || (permit.covers_subject(&row.subject)
                && match permit.sources() {
                    None => true,
                    Some(sources) => sources.contains(&self.source_of(row.log_idx).await?),
                });
        if !covered {
            return Err(VaultError::BadRequest(
                "the permit is for another resource".into(),
            ));
        }
        self.open_row(row).await
    }

    /// The source (API token name) that submitted the record at this log index.
    pub(crate) async fn source_of(&self, log_idx: u64) -> Result<String> {
        let entry = tianping_store::log::entries(&self.inner.db, log_idx, log_idx + 1)
            .await?
            .pop()
            .ok_or_else(|| VaultError::Integrity(format!("record at index {log_idx} has no log entry")))?;
        let env = envelope::Envelope::decode(&entry.envelope)
            .map_err(|e| VaultError::Integrity(format!("entry {log_idx}: {e}")))?;
        Ok(env.source.as_str().to_owned())
    }

    /// Seal a small secret (an identity number, a TOTP seed) under a fresh key wrapped by the
    /// active key-encryption key. `label` binds the ciphertext to its use. Format:
    /// `u16 len ‖ kek id ‖ u16 len ‖ wrapped key ‖ sealed`.
    pub async fn seal_secret(&self, label: &str, plain: &[u8]) -> Result<Vec<u8>> {
        let cipher = self.inner.cipher;
        let key = cipher.generate_key();
        let aad = tianping_vault::aad(&[b"tianping.secret/v1", label.as_bytes()]);
        let (kek_id, wrapped) = self.inner.provider.wrap(&aad, &key).await?;
        let sealed = cipher.seal(&key, &aad, plain);
        let mut out = Vec::with_capacity(4 + kek_id.len() + wrapped.len() + sealed.len());
        for part in [kek_id.as_bytes(), &wrapped] {
            let len = u16::try_from(part.len()).map_err(|_| VaultError::Storage("key id too long".into()))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(part);
        }
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Open what [`Vault::seal_secret`] sealed with the same label.
    pub async fn open_secret(&self, label: &str, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        fn take<'a>(b: &mut &'a [u8]) -> Result<&'a [u8]> {
            let (len, rest) = b
                .split_first_chunk::<2>()
                .ok_or_else(|| VaultError::Integrity("sealed secret truncated".into()))?;
            let len = usize::from(u16::from_be_bytes(*len));
            if rest.len() < len {
                return Err(VaultError::Integrity("sealed secret truncated".into()));
            }
            let (part, rest) = rest.split_at(len);
            *b = rest;
            Ok(part)
        }
        let mut rest = bytes;
        let kek_id = std::str::from_utf8(take(&mut rest)?)
            .map_err(|_| VaultError::Integrity("sealed secret: key id".into()))?;
        let wrapped = take(&mut rest)?;
        let aad = tianping_vault::aad(&[b"tianping.secret/v1", label.as_bytes()]);
        let key = self.inner.provider.unwrap(kek_id, &aad, wrapped).await?;
        Ok(self.inner.cipher.open(&key, &aad, rest)?)
    }

    /// Right of access (PIPL-45): every record of a subject, decrypted, each with an inclusion
    /// proof. Records that may not be read (storage-only, shredded) are listed without content.
    pub async fn export_subject(&self, subject: &str, permit: &Permit) -> Result<SubjectExport> {
        let subject_id = self.subject_id(subject)?;
        if !permit.covers_subject(&subject_id) {
            return Err(VaultError::BadRequest(
                "the permit is for another resource".into(),
            ));
        }
        let all = rows::records_of_subject(&self.inner.db, &subject_id).await?;
        let holds = self.active_hold_scopes().await?;
        let mut checked = Vec::with_capacity(all.len());
        for r in all {
            let mut ok = retention::readable(&facts(&r), &holds).is_ok();
            // A permit limited to sources (a partner reading back what it submitted) opens only those.
            if ok && let Some(sources) = permit.sources() {
                ok = sources.contains(&self.source_of(r.log_idx).await?);
            }
            checked.push((r, ok));
        }
        let all = checked;
        // One head for the whole export: every proof is against the checkpoint it names.
        let head = self.inner.log.head();
        let mut records = Vec::with_capacity(all.len());
        for (row, readable) in all {
            let proof = self.inner.log.entry_proof_in(row.log_idx, &head).await?;
            let state = row.state.clone();
            let mut item = ExportedRecord {
                id: row.id.clone(),
                kind: row.kind.clone(),
                media_type: row.media_type.clone(),
                log_index: row.log_idx,
                event_ms: row.event_ms,
                retention_class: row.retention_class.clone(),
                retain_until_ms: row.retain_until_ms,
                state,
                size: row.size,
                blob: row.blob_chunks.is_some(),
                commitment_salt: None,
                content: None,
                content_base64: None,
                proof: proof.to_text(),
            };
            if readable {
                let opened = self.open_row(row).await?;
                item.commitment_salt = Some(b64(&*opened.salt));
                if let Some(content) = &opened.content {
                    if opened.row.media_type == JSON {
                        item.content = serde_json::from_slice(content).ok();
                    } else {
                        item.content_base64 = Some(b64(content));
                    }
                }
            }
            records.push(item);
        }
        Ok(SubjectExport {
            subject: subject_id,
            exported_ms: now_ms(),
            checkpoint: head.note.to_string(),
            records,
        })
    }
}

/// Everything the vault holds about a subject.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct SubjectExport {
    /// The subject's pseudonym (hex), as it appears in the log.
    pub subject: String,
    pub exported_ms: u64,
    /// The latest checkpoint; every proof below is against it.
    pub checkpoint: String,
    pub records: Vec<ExportedRecord>,
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ExportedRecord {
    pub id: String,
    pub kind: String,
    pub media_type: String,
    pub log_index: u64,
    pub event_ms: i64,
    pub retention_class: String,
    pub retain_until_ms: Option<i64>,
    pub state: String,
    pub size: i64,
    /// A large record: its content is fetched separately (`/api/v1/vault/records/{id}/content`).
    pub blob: bool,
    pub commitment_salt: Option<String>,
    /// JSON content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    /// Other inline content, base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_base64: Option<String>,
    /// `c2sp.org/tlog-proof@v1` of the record's entry against `checkpoint`.
    pub proof: String,
}

pub(crate) struct Header {
    pub kind: Kind,
    pub source: Source,
    pub pseudonym: Hash,
    pub received_ms: u64,
    pub occurred_ms: u64,
    pub commitment: Hash,
}

/// A record sealed and ready to commit.
/// A record in the log's queue.
pub(crate) struct PendingRecord {
    vault: Vault,
    record_id: String,
    salt: [u8; SALT_LEN],
    envelope: Vec<u8>,
    key_id: String,
    carried_new_key: bool,
    queued: crate::log::Queued,
}

impl PendingRecord {
    /// Resolves once the record and its log entry are durable.
    pub(crate) async fn wait(self) -> Result<RecordReceipt> {
        let keys = &self.vault.inner.keys;
        match self.queued.wait().await {
            Ok(receipt) => {
                if self.carried_new_key {
                    keys.mark_stored(&self.key_id);
                }
                Ok(RecordReceipt {
                    record_id: self.record_id,
                    receipt,
                    salt: self.salt,
                    envelope: self.envelope,
                })
            }
            Err(AppendError::KeyShredded) => {
                keys.forget_key(&self.key_id);
                Err(AppendError::KeyShredded.into())
            }
            Err(e) => Err(e.into()),
        }
    }
}

pub(crate) struct SealedRecord {
    pub header: Header,
    pub salt: [u8; SALT_LEN],
    pub effect: Effect,
    pub extra: Vec<Effect>,
    pub key_id: String,
}

impl SealedRecord {
    /// The id of the record being stored.
    pub(crate) fn record_id(&self) -> &str {
        match &self.effect {
            Effect::Record { record, .. } => &record.id,
            _ => unreachable!("a sealed record carries its record effect"),
        }
    }
}

pub(crate) fn facts(r: &RecordRow) -> RecordFacts {
    RecordFacts {
        state: RecordState::parse(&r.state).unwrap_or(RecordState::Active),
        retain_until_ms: r.retain_until_ms,
        subject: r.subject.clone(),
        consultation: r.consultation.clone(),
        case: r.case_id.clone(),
    }
}

pub(crate) fn parse_pseudonym(hex_str: &str) -> Result<Hash> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(hex_str, &mut h)
        .map_err(|_| VaultError::Integrity("bad subject pseudonym".into()))?;
    Ok(h)
}

pub(crate) fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// An envelope source from an actor name (token names already are valid sources).
pub(crate) fn source_name(actor: &str) -> String {
    let s: String = actor
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if s.is_empty() { "unknown".into() } else { s }
}

/// Consultation and case references: 1..=128 printable ASCII characters, no spaces.
pub(crate) fn validate_ref(s: &str) -> Result<&str> {
    if s.is_empty() || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(VaultError::BadRequest(
            "a consultation or case reference is 1 to 128 printable ASCII characters".into(),
        ));
    }
    Ok(s)
}

/// A media type such as `audio/ogg` (type/subtype, token characters).
pub(crate) fn validate_media_type(s: &str) -> Result<()> {
    let token = |t: &str| {
        !t.is_empty()
            && t.len() <= 64
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match s.split_once('/') {
        Some((a, b)) if token(a) && token(b) => Ok(()),
        _ => Err(VaultError::BadRequest(format!(
            "{s:?} is not a media type such as audio/ogg"
        ))),
    }
}
