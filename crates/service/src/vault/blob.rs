//! Large records (recordings, images) in object storage, encrypted in chunks as a stream, with
//! resumable uploads.
//!
//! A blob record `R` is the objects `records/R/00000000`, `…/00000001`, …: data chunks of at most
//! [`CHUNK_SIZE`] plaintext bytes, then one empty *final* chunk. Each object is a fresh random
//! 7-byte nonce prefix followed by the chunk sealed with nonce `prefix ‖ index ‖ last-flag` and
//! associated data binding record id, subject, index and flag (the STREAM construction), so
//! reordering, truncation, and chunks moved between records are all detected. A fresh prefix per
//! object means a chunk rewritten after a crash never reuses a nonce.
//!
//! Uploads: `begin` creates the content key and commitment salt; each `append` seals and stores
//! chunks, fsyncs them, then records the new durable offset in one small transaction; `complete`
//! writes the final chunk and commits the record and its log entry in one transaction. Until then
//! nothing is visible as a record; an interrupted upload resumes at its durable offset, and
//! abandoned ones are removed by the retention job.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tianping_log::envelope::{CommitmentHasher, Kind, SALT_LEN, Source};
use tianping_store::vault::{self as rows, Effect, RecordRow, UploadRow};
use tianping_vault::retention::RecordState;
use tianping_vault::{CHUNK_SIZE, Cipher, NONCE_PREFIX_LEN, SecretKey, StreamKey, Zeroizing};

use super::{
    Header, NewRecord, RecordReceipt, Result, SealedRecord, Vault, VaultError, content_key_aad, new_id,
    parse_pseudonym, record_aad, validate_media_type, validate_ref,
};
use crate::config::{BlobBackend, S3Settings, VaultSettings};
use crate::log::now_ms;

/// Object storage for blob chunks: the local filesystem, or an S3-compatible bucket (cargo feature
/// `s3`). On the local filesystem, chunks are fsynced before an upload offset is acknowledged; on
/// S3 a completed PUT is already durable, so there is nothing to sync.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    local_root: Option<PathBuf>,
}

impl BlobStore {
    /// Local filesystem storage under `dir` (created if missing).
    pub fn local(dir: PathBuf) -> anyhow::Result<BlobStore> {
        std::fs::create_dir_all(&dir)?;
        let dir = dir.canonicalize()?;
        Ok(BlobStore {
            store: Arc::new(LocalFileSystem::new_with_prefix(&dir)?),
            local_root: Some(dir),
        })
    }

    /// The store `settings` choose (an empty `blob_dir` means `<data_dir>/blobs`).
    pub fn open(settings: &VaultSettings, data_dir: &Path) -> anyhow::Result<BlobStore> {
        match settings.blob_store {
            BlobBackend::Local if settings.blob_dir.is_empty() => BlobStore::local(data_dir.join("blobs")),
            BlobBackend::Local => BlobStore::local(settings.blob_dir.clone().into()),
            BlobBackend::S3 => BlobStore::s3(&settings.s3),
        }
    }

    /// The bucket of `s3`, under its key prefix if it has one. Settings left empty come from
    /// object_store's `AWS_*` environment variables.
    #[cfg(feature = "s3")]
    pub fn s3(s3: &S3Settings) -> anyhow::Result<BlobStore> {
        use anyhow::Context;
        use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey as Key};
        anyhow::ensure!(
            !s3.bucket.is_empty(),
            "vault.blob_store is \"s3\" but vault.s3.bucket is not set"
        );
        let explicit = [
            (Key::Endpoint, &s3.endpoint),
            // `AWS_ENDPOINT_URL_S3` would otherwise take precedence over the configured endpoint.
            (Key::S3Endpoint, &s3.endpoint),
            (Key::Region, &s3.region),
            (Key::AccessKeyId, &s3.access_key_id),
            (Key::SecretAccessKey, &s3.secret_access_key),
        ];
        let mut builder = explicit.into_iter().filter(|(_, value)| !value.is_empty()).fold(
            AmazonS3Builder::from_env().with_bucket_name(&s3.bucket),
            |b, (key, value)| b.with_config(key, value),
        );
        if s3.allow_http {
            builder = builder.with_allow_http(true);
        }
        let bucket = builder.build().context("configuring the S3 blob store")?;
        let store: Arc<dyn ObjectStore> = if s3.prefix.is_empty() {
            Arc::new(bucket)
        } else {
            let prefix = ObjectPath::parse(&s3.prefix).context("vault.s3.prefix")?;
            Arc::new(object_store::prefix::PrefixStore::new(bucket, prefix))
        };
        tracing::info!(bucket = %s3.bucket, endpoint = %s3.endpoint, prefix = %s3.prefix, "large records in S3");
        Ok(BlobStore::other(store))
    }

    /// Without the `s3` feature there is no S3 client: refuse rather than store elsewhere.
    #[cfg(not(feature = "s3"))]
    pub fn s3(_: &S3Settings) -> anyhow::Result<BlobStore> {
        anyhow::bail!(
            "vault.blob_store is \"s3\" but this tianping was built without S3 support; rebuild it \
             with `--features s3` (cargo build --release -p tianping --features s3)"
        )
    }

    /// Make sure the store answers, so that a missing bucket or refused credentials stop the server
    /// at startup rather than fail the first recording. The local directory was checked on opening.
    pub async fn check(&self) -> anyhow::Result<()> {
        if self.local_root.is_some() {
            return Ok(());
        }
        match self.store.list(None).next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(anyhow::anyhow!(
                "the object store for large records does not answer: {e}"
            )),
        }
    }

    /// Any other object store (S3-compatible, in-memory…); durability is the store's.
    pub fn other(store: Arc<dyn ObjectStore>) -> BlobStore {
        BlobStore {
            store,
            local_root: None,
        }
    }

    pub fn chunk_path(record: &str, index: u64) -> ObjectPath {
        ObjectPath::from(format!("records/{record}/{index:08}"))
    }

    async fn put(&self, record: &str, index: u64, bytes: Vec<u8>) -> Result<()> {
        self.store
            .put(&Self::chunk_path(record, index), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// Make chunks `[from, to)` of `record` durable (fsync of each file and of the directory).
    /// Only the local filesystem needs it: object stores acknowledge a PUT once it is durable.
    async fn sync(&self, record: &str, from: u64, to: u64) -> Result<()> {
        let Some(root) = self.local_root.clone() else {
            return Ok(());
        };
        let record = record.to_owned();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let dir = root.join("records").join(&record);
            for i in from..to {
                std::fs::File::open(dir.join(format!("{i:08}")))?.sync_all()?;
            }
            std::fs::File::open(&dir)?.sync_all()?;
            std::fs::File::open(root.join("records"))?.sync_all()
        })
        .await
        .map_err(|e| VaultError::Storage(e.to_string()))?
        .map_err(|e| VaultError::Storage(format!("syncing chunks: {e}")))
    }

    async fn get(&self, record: &str, index: u64) -> Result<Bytes> {
        match self.store.get(&Self::chunk_path(record, index)).await {
            Ok(r) => Ok(r.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => Err(VaultError::Integrity(format!(
                "chunk {index} of record {record} is missing"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete every chunk of a record; returns how many there were.
    pub async fn delete_record(&self, record: &str) -> Result<usize> {
        let prefix = ObjectPath::from(format!("records/{record}"));
        let paths: Vec<ObjectPath> = self
            .store
            .list(Some(&prefix))
            .map(|m| m.map(|m| m.location))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        for p in &paths {
            self.store.delete(p).await?;
        }
        if let Some(root) = &self.local_root {
            let _ = std::fs::remove_dir(root.join("records").join(record));
        }
        Ok(paths.len())
    }
}

fn blob_aad(record: &str, subject: &str) -> Vec<u8> {
    tianping_vault::aad(&[b"tianping.blob/v1", record.as_bytes(), subject.as_bytes()])
}

fn seal_chunk(
    cipher: Cipher,
    key: &SecretKey,
    aad: &[u8],
    index: u64,
    last: bool,
    plain: &[u8],
) -> Result<Vec<u8>> {
    let index = u32::try_from(index).map_err(|_| VaultError::BadRequest("blob is too large".into()))?;
    let prefix = tianping_vault::random_nonce_prefix();
    let sealed = StreamKey::new(cipher, key.clone(), prefix, aad.to_vec()).seal_chunk(index, last, plain);
    let mut out = Vec::with_capacity(NONCE_PREFIX_LEN + sealed.len());
    out.extend_from_slice(&prefix);
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn open_chunk(
    cipher: Cipher,
    key: &SecretKey,
    aad: &[u8],
    index: u64,
    last: bool,
    object: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let index = u32::try_from(index).map_err(|_| VaultError::Integrity("chunk index out of range".into()))?;
    if object.len() < NONCE_PREFIX_LEN {
        return Err(VaultError::Integrity(format!("chunk {index} is truncated")));
    }
    let (prefix, sealed) = object.split_at(NONCE_PREFIX_LEN);
    let prefix: [u8; NONCE_PREFIX_LEN] = prefix.try_into().expect("split at the prefix length");
    StreamKey::new(cipher, key.clone(), prefix, aad.to_vec())
        .open_chunk(index, last, sealed)
        .map_err(|e| VaultError::Integrity(format!("chunk {index}: {e}")))
}

/// Where an upload stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UploadStatus {
    pub upload_id: String,
    /// Plaintext bytes durably stored; the next append starts here.
    pub offset: u64,
    pub chunk_size: usize,
}

/// A new large record.
pub struct NewUpload<'a> {
    pub kind: &'a str,
    pub subject: &'a str,
    pub source: &'a str,
    pub media_type: &'a str,
    pub occurred_ms: Option<u64>,
    pub retention_class: Option<&'a str>,
    pub consultation: Option<&'a str>,
}

/// How many bytes an upload has hashed so far in this process, and the hash state.
type Progress = Option<(i64, CommitmentHasher)>;

/// One in-process lock per upload, with the commitment hash of what it has stored so far.
#[derive(Default)]
pub(crate) struct UploadLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<Progress>>>>);

impl UploadLocks {
    fn get(&self, id: &str) -> Arc<tokio::sync::Mutex<Progress>> {
        self.0
            .lock()
            .expect("upload locks")
            .entry(id.to_owned())
            .or_default()
            .clone()
    }
    fn remove(&self, id: &str) {
        self.0.lock().expect("upload locks").remove(id);
    }
}

/// Data chunks an upload has stored so far, and the commitment hash over them.
struct Written {
    chunks: u64,
    received: i64,
    hasher: CommitmentHasher,
}

/// Keys of an upload in progress.
struct UploadKeys {
    content_key: SecretKey,
    salt: Zeroizing<[u8; SALT_LEN]>,
    aad: Vec<u8>,
}

impl Vault {
    /// Start a resumable upload of a large record.
    pub async fn begin_upload(&self, u: NewUpload<'_>) -> Result<UploadStatus> {
        Kind::parse(u.kind)?;
        Source::parse(u.source)?;
        validate_media_type(u.media_type)?;
        let consultation = u.consultation.map(validate_ref).transpose()?;
        let class = u
            .retention_class
            .unwrap_or_else(|| self.inner.settings.class_for_kind(u.kind));
        self.class(class)?;
        let subject = self.subject_id(u.subject)?;
        let key = self.inner.keys.get_or_create(self, &subject).await?;
        if let Some(row) = &key.new_row {
            rows::store_subject_key(&self.inner.db, row).await?;
            self.inner.keys.mark_stored(&key.id);
        }
        let id = new_id();
        let cipher = self.inner.cipher;
        let content_key = cipher.generate_key();
        let salt = tianping_vault::random_bytes::<SALT_LEN>();
        let now = now_ms() as i64;
        let occurred = u.occurred_ms.map_or(now, |t| t as i64);
        rows::insert_upload(
            &self.inner.db,
            &UploadRow {
                id: id.clone(),
                subject: subject.clone(),
                source: u.source.to_owned(),
                kind: u.kind.to_owned(),
                media_type: u.media_type.to_owned(),
                consultation: consultation.map(str::to_owned),
                retention_class: class.to_owned(),
                event_ms: occurred,
                subject_key_id: key.id.clone(),
                wrapped_key: cipher.wrap_key(&key.key, &content_key_aad(&id, &subject), &content_key),
                sealed_salt: cipher.seal(&content_key, &record_aad(&id, &subject), &*salt),
                received: 0,
                chunks: 0,
                created_ms: now,
                updated_ms: now,
            },
        )
        .await?;
        Ok(UploadStatus {
            upload_id: id,
            offset: 0,
            chunk_size: CHUNK_SIZE,
        })
    }

    async fn upload_row(&self, id: &str) -> Result<UploadRow> {
        match rows::upload(&self.inner.db, id).await? {
            Some(row) => Ok(row),
            None if rows::record(&self.inner.db, id).await?.is_some() => {
                Err(VaultError::Conflict(format!("upload {id} is already complete")))
            }
            None => Err(VaultError::NotFound),
        }
    }

    pub async fn upload_status(&self, id: &str) -> Result<UploadStatus> {
        let row = self.upload_row(id).await?;
        Ok(UploadStatus {
            upload_id: row.id,
            offset: row.received as u64,
            chunk_size: CHUNK_SIZE,
        })
    }

    async fn upload_keys(&self, row: &UploadRow) -> Result<UploadKeys> {
        let subject_key = self.inner.keys.by_id(self, &row.subject_key_id).await?;
        let cipher = self.inner.cipher;
        let content_key = cipher.unwrap_key(
            &subject_key,
            &content_key_aad(&row.id, &row.subject),
            &row.wrapped_key,
        )?;
        let plain = cipher.open(&content_key, &record_aad(&row.id, &row.subject), &row.sealed_salt)?;
        let salt: [u8; SALT_LEN] = plain
            .as_slice()
            .try_into()
            .map_err(|_| VaultError::Integrity("sealed salt has the wrong length".into()))?;
        Ok(UploadKeys {
            content_key,
            salt: Zeroizing::new(salt),
            aad: blob_aad(&row.id, &row.subject),
        })
    }

    /// The commitment hash over what the upload has stored: kept in memory between appends, or
    /// recomputed from the stored chunks (after a restart, when the in-memory state is gone).
    async fn resume_hash(
        &self,
        state: &mut Progress,
        row: &UploadRow,
        keys: &UploadKeys,
    ) -> Result<CommitmentHasher> {
        if let Some((at, h)) = state.take()
            && at == row.received
        {
            return Ok(h);
        }
        let id = &row.id;
        let mut h = CommitmentHasher::new(self.inner.alg, &keys.salt);
        for i in 0..row.chunks as u64 {
            let object = self.inner.blobs.get(id, i).await?;
            h.update(&open_chunk(
                self.inner.cipher,
                &keys.content_key,
                &keys.aad,
                i,
                false,
                &object,
            )?);
        }
        Ok(h)
    }

    /// Seal and store the next data chunk of an upload.
    async fn put_data_chunk(&self, id: &str, keys: &UploadKeys, w: &mut Written, plain: &[u8]) -> Result<()> {
        let object = seal_chunk(
            self.inner.cipher,
            &keys.content_key,
            &keys.aad,
            w.chunks,
            false,
            plain,
        )?;
        self.inner.blobs.put(id, w.chunks, object).await?;
        w.hasher.update(plain);
        w.received += plain.len() as i64;
        w.chunks += 1;
        Ok(())
    }

    /// Append bytes to an upload at `offset` (which must be its durable offset). Chunks are stored
    /// and synced before the new offset is recorded; if the body breaks off, what was stored in
    /// whole chunks is kept and the error says so.
    pub async fn append_upload<S, E>(&self, id: &str, offset: u64, mut body: S) -> Result<UploadStatus>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let lock = self.inner.uploads.get(id);
        let mut state = lock.lock().await;
        let row = self.upload_row(id).await?;
        if offset != row.received as u64 {
            return Err(VaultError::Conflict(format!(
                "the upload's offset is {}, not {offset}",
                row.received
            )));
        }
        let keys = self.upload_keys(&row).await?;
        let mut w = Written {
            chunks: row.chunks as u64,
            received: row.received,
            hasher: self.resume_hash(&mut state, &row, &keys).await?,
        };
        let mut buf: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(CHUNK_SIZE));
        let mut failure = None;
        loop {
            let piece = match body.next().await {
                Some(Ok(b)) => b,
                Some(Err(e)) => {
                    failure = Some(format!("the upload body broke off: {e}"));
                    buf.clear();
                    break;
                }
                None => break,
            };
            let mut piece = &piece[..];
            while !piece.is_empty() {
                let take = (CHUNK_SIZE - buf.len()).min(piece.len());
                buf.extend_from_slice(&piece[..take]);
                piece = &piece[take..];
                if buf.len() == CHUNK_SIZE {
                    self.put_data_chunk(id, &keys, &mut w, &buf).await?;
                    buf.clear();
                }
            }
        }
        if !buf.is_empty() {
            self.put_data_chunk(id, &keys, &mut w, &buf).await?;
        }
        let Written {
            chunks,
            received,
            hasher,
        } = w;
        if chunks > row.chunks as u64 {
            self.inner.blobs.sync(id, row.chunks as u64, chunks).await?;
            if !rows::advance_upload(
                &self.inner.db,
                id,
                row.received,
                received,
                chunks as i64,
                now_ms() as i64,
            )
            .await?
            {
                return Err(VaultError::Conflict("the upload moved on meanwhile".into()));
            }
        }
        *state = Some((received, hasher));
        if let Some(f) = failure {
            return Err(VaultError::BadRequest(format!(
                "{f}; {received} bytes are stored, resume from there"
            )));
        }
        Ok(UploadStatus {
            upload_id: id.to_owned(),
            offset: received as u64,
            chunk_size: CHUNK_SIZE,
        })
    }

    /// Finish an upload: write the final chunk, then commit the record and its log entry in one
    /// transaction.
    pub async fn complete_upload(&self, id: &str) -> Result<RecordReceipt> {
        let lock = self.inner.uploads.get(id);
        let mut state = lock.lock().await;
        let row = self.upload_row(id).await?;
        let keys = self.upload_keys(&row).await?;
        let hasher = self.resume_hash(&mut state, &row, &keys).await?;
        let final_index = row.chunks as u64;
        let object = seal_chunk(
            self.inner.cipher,
            &keys.content_key,
            &keys.aad,
            final_index,
            true,
            &[],
        )?;
        self.inner.blobs.put(id, final_index, object).await?;
        self.inner.blobs.sync(id, final_index, final_index + 1).await?;

        let class = self.class(&row.retention_class)?.clone();
        let retain_until_ms = self
            .deadline(&class, row.event_ms, row.consultation.as_deref())
            .await?;
        let received_ms = now_ms();
        let header = Header {
            kind: Kind::parse(&row.kind)?,
            source: Source::parse(&row.source)?,
            pseudonym: parse_pseudonym(&row.subject)?,
            received_ms,
            occurred_ms: row.event_ms as u64,
            commitment: hasher.finalize(),
        };
        let record = RecordRow {
            id: row.id.clone(),
            log_idx: 0,
            subject: row.subject.clone(),
            kind: row.kind.clone(),
            media_type: row.media_type.clone(),
            consultation: row.consultation.clone(),
            case_id: None,
            retention_class: row.retention_class.clone(),
            event_ms: row.event_ms,
            retain_until_ms,
            state: RecordState::Active.as_str().into(),
            subject_key_id: Some(row.subject_key_id.clone()),
            wrapped_key: Some(row.wrapped_key.clone()),
            ciphertext: Some(row.sealed_salt.clone()),
            blob_chunks: Some(row.chunks),
            size: row.received,
            created_ms: received_ms as i64,
            shredded_ms: None,
        };
        let receipt = self
            .commit(SealedRecord {
                header,
                salt: *keys.salt,
                effect: Effect::Record {
                    record: Box::new(record),
                    new_key: None,
                    upload: Some(row.id.clone()),
                },
                extra: vec![],
                key_id: row.subject_key_id.clone(),
            })
            .await?;
        drop(state);
        self.inner.uploads.remove(id);
        Ok(receipt)
    }

    /// Store large content given whole (the write path for records ≥ `inline_max_bytes`).
    pub(crate) async fn write_blob_from_slice(
        &self,
        r: &NewRecord<'_>,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<RecordReceipt> {
        let status = self
            .begin_upload(NewUpload {
                kind: r.kind,
                subject: r.subject,
                source: r.source,
                media_type,
                occurred_ms: r.occurred_ms,
                retention_class: r.retention_class,
                consultation: r.consultation,
            })
            .await?;
        let pieces = bytes
            .chunks(CHUNK_SIZE)
            .map(|c| Ok::<_, std::convert::Infallible>(Bytes::copy_from_slice(c)));
        self.append_upload(&status.upload_id, 0, futures_util::stream::iter(pieces))
            .await?;
        self.complete_upload(&status.upload_id).await
    }

    /// Decrypt every chunk of a blob record in order, handing each plaintext chunk to `sink`, and
    /// return the commitment over the content. Detects missing, reordered, moved, truncated and
    /// altered chunks.
    pub async fn for_each_chunk(
        &self,
        opened: &super::Opened,
        mut sink: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<tianping_log::Hash> {
        let row = &opened.row;
        let chunks = row
            .blob_chunks
            .ok_or_else(|| VaultError::BadRequest("not a blob record".into()))? as u64;
        let aad = blob_aad(&row.id, &row.subject);
        let mut hasher = CommitmentHasher::new(self.inner.alg, &opened.salt);
        let mut size = 0i64;
        for i in 0..=chunks {
            let object = self.inner.blobs.get(&row.id, i).await?;
            let plain = open_chunk(
                self.inner.cipher,
                &opened.content_key,
                &aad,
                i,
                i == chunks,
                &object,
            )?;
            if i == chunks && !plain.is_empty() {
                return Err(VaultError::Integrity("the final chunk is not empty".into()));
            }
            size += plain.len() as i64;
            hasher.update(&plain);
            sink(&plain)?;
        }
        if size != row.size {
            return Err(VaultError::Integrity(format!(
                "blob holds {size} bytes, the record says {}",
                row.size
            )));
        }
        Ok(hasher.finalize())
    }

    /// The decrypted content of a blob record as a stream of chunks. Every chunk is
    /// authenticated before it is yielded; call [`Vault::for_each_chunk`] first to check the
    /// whole blob when no partial output is acceptable.
    pub fn blob_stream(&self, opened: super::Opened) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
        let vault = self.clone();
        let chunks = opened.row.blob_chunks.unwrap_or(0) as u64;
        let aad = blob_aad(&opened.row.id, &opened.row.subject);
        futures_util::stream::unfold(Some(0u64), move |next| {
            let vault = vault.clone();
            let id = opened.row.id.clone();
            let key = opened.content_key.clone();
            let aad = aad.clone();
            async move {
                let i = next?;
                if i > chunks {
                    return None;
                }
                // The final (empty) chunk is checked too, so a truncated blob ends in an error.
                let last = i == chunks;
                let item = async {
                    let object = vault.inner.blobs.get(&id, i).await?;
                    let plain = open_chunk(vault.inner.cipher, &key, &aad, i, last, &object)?;
                    if last && !plain.is_empty() {
                        return Err(VaultError::Integrity("the final chunk is not empty".into()));
                    }
                    Ok(Bytes::copy_from_slice(&plain))
                }
                .await;
                let next = if item.is_ok() && !last { Some(i + 1) } else { None };
                Some((item, next))
            }
        })
    }

    /// Remove uploads untouched for `upload_expiry_hours` and their chunks.
    pub(crate) async fn remove_stale_uploads(&self, now_ms: i64, dry_run: bool) -> Result<usize> {
        let expiry = self.inner.settings.upload_expiry_hours as i64 * 3_600_000;
        let stale = rows::stale_uploads(&self.inner.db, now_ms - expiry).await?;
        if !dry_run {
            for u in &stale {
                self.inner.blobs.delete_record(&u.id).await?;
                rows::delete_upload(&self.inner.db, &u.id).await?;
                self.inner.uploads.remove(&u.id);
            }
        }
        Ok(stale.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3_settings(bucket: &str) -> VaultSettings {
        let dir = tempfile::tempdir().unwrap();
        let mut v = crate::config::Settings::load(None, Some(dir.path()))
            .unwrap()
            .vault;
        v.blob_store = BlobBackend::S3;
        v.s3.bucket = bucket.into();
        v
    }

    /// A build without the feature never falls back to the local disk.
    #[cfg(not(feature = "s3"))]
    #[test]
    fn s3_without_the_feature_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = BlobStore::open(&s3_settings("records"), dir.path())
            .err()
            .unwrap();
        assert!(format!("{err}").contains("--features s3"), "{err}");
        assert!(!dir.path().join("blobs").exists());
    }

    #[cfg(feature = "s3")]
    #[test]
    fn s3_needs_a_bucket_and_a_valid_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let err = BlobStore::open(&s3_settings(""), dir.path()).err().unwrap();
        assert!(format!("{err}").contains("vault.s3.bucket"), "{err}");
        let mut v = s3_settings("records");
        v.s3.prefix = "a//b".into();
        let err = BlobStore::open(&v, dir.path()).err().unwrap();
        assert!(format!("{err:#}").contains("vault.s3.prefix"), "{err:#}");
        v.s3.prefix = "tianping/prod/".into();
        assert!(BlobStore::open(&v, dir.path()).is_ok());
        assert!(!dir.path().join("blobs").exists());
    }
}
