//! The evidence log service: durable appends through one sequencer with group commit, and reads
//! (proofs, tiles, checkpoints) from storage.
//!
//! Append path: callers (the vault) [`Log::prepare`] an entry on their own task (envelope, leaf
//! hash; the vault has already encrypted the content and computed its commitment — the CPU work
//! happens in parallel), then [`Log::append`] hands it to the sequencer. The sequencer takes
//! everything queued (up to `max_batch`), extends the right edge of the tree, signs a checkpoint
//! for the new size and writes entries, their vault effects (records, holds, shredding…), changed
//! tiles and the checkpoint in one transaction. Only once that transaction is durable (the syncer's
//! fsync of the write-ahead log on SQLite, its synchronous commit on PostgreSQL) are the callers
//! answered, each with its index, leaf hash and that checkpoint.

mod audit;
mod edge;
mod reader;
mod writer;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tianping_log::checkpoint::Checkpoint;
use tianping_log::envelope::{self, Envelope, Kind, Source, Subject};
use tianping_log::merkle::ProofError;
use tianping_log::note::VerifierKey;
use tianping_log::proof::TlogProof;
use tianping_log::tile::ExpandedTile;
use tianping_log::{Hash, HashAlg};
use tianping_store::vault::Effect;
use tianping_store::{Db, Script, StoreError, log as rows};
use tokio::sync::{mpsc, oneshot, watch};
use zeroize::Zeroizing;

use crate::config::LogSettings;
use crate::keys::{LogKeys, Suite};

pub use audit::{AuditReport, audit};
pub use edge::{RightEdge, TouchedTile};
pub use reader::TreeReader;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The latest committed and signed state of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub size: u64,
    pub root: Hash,
    /// The signed checkpoint note for `size`.
    pub note: Arc<str>,
    /// The partial tiles of the tree at `size` (one per tile level at most). Proofs read them here
    /// instead of from storage; they stay valid for every smaller size too.
    pub edge: Vec<EdgeTile>,
}

/// A partial tile of a head: `(tile level, tile index, tile)`.
pub type EdgeTile = (u8, u64, Arc<ExpandedTile>);

impl Head {
    fn new(edge: &RightEdge, root: Hash, note: Arc<str>) -> Head {
        Head {
            size: edge.size(),
            root,
            note,
            edge: edge
                .partial_tiles()
                .map(|(l, i, t)| (l, i, Arc::new(t.clone())))
                .collect(),
        }
    }
}

/// The right edge of the stored tree of `size` leaves, rebuilt from its partial tiles, and its root.
async fn load_edge(db: &Db, alg: HashAlg, size: u64) -> anyhow::Result<(RightEdge, Hash)> {
    let incomplete = |e: &dyn std::fmt::Display| anyhow::anyhow!("stored tree is incomplete: {e}");
    let tiles = reader::stored_tiles(db, alg, &RightEdge::tiles_needed(size)).await?;
    let edge = RightEdge::from_tiles(alg, size, tiles).map_err(|e| incomplete(&e))?;
    let root = edge.root().map_err(|e| incomplete(&e))?;
    Ok((edge, root))
}

/// What an append gives back once the entry is durable.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub index: u64,
    pub leaf_hash: Hash,
    /// Signed checkpoint of the batch that committed the entry; it covers `index`.
    pub checkpoint: Arc<str>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("the log is shutting down")]
    Unavailable,
    /// The entry's record was encrypted under a subject key that was shredded meanwhile;
    /// encrypting again under the subject's new key succeeds.
    #[error("the subject key was shredded while the entry was prepared")]
    KeyShredded,
    #[error("storage failed: {0}")]
    Storage(String),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    #[error("size {size} is beyond the tree (size {tree_size})")]
    SizeBeyondTree { size: u64, tree_size: u64 },
    #[error(transparent)]
    Proof(#[from] ProofError),
    #[error("not found")]
    NotFound,
    #[error("stored log is inconsistent: {0}")]
    Corrupt(String),
    #[error("storage failed: {0}")]
    Backend(String),
}

impl From<StoreError> for ReadError {
    fn from(e: StoreError) -> Self {
        ReadError::Backend(e.to_string())
    }
}

/// An entry in the sequencer's queue.
pub struct Queued(oneshot::Receiver<Result<Receipt, AppendError>>);

impl Queued {
    /// Resolves once the entry is durable and covered by a signed checkpoint.
    pub async fn wait(self) -> Result<Receipt, AppendError> {
        self.0.await.map_err(|_| AppendError::Unavailable)?
    }
}

/// An entry ready for the sequencer, with the state changes to commit together with it.
pub struct Prepared {
    envelope: Vec<u8>,
    leaf_hash: Hash,
    effects: Vec<Effect>,
}

impl Prepared {
    pub fn envelope(&self) -> &[u8] {
        &self.envelope
    }
    pub fn leaf_hash(&self) -> &Hash {
        &self.leaf_hash
    }
}

/// What an entry's envelope says, before encoding.
pub struct EntryHeader<'a> {
    pub kind: &'a Kind,
    pub subject_pseudonym: Hash,
    pub source: &'a Source,
    pub received_ms: u64,
    pub occurred_ms: u64,
    pub commitment: Hash,
}

struct Shared {
    db: Db,
    alg: HashAlg,
    suite: Suite,
    origin: String,
    verifiers: Vec<VerifierKey>,
    pseudonym_key: Zeroizing<Vec<u8>>,
    queue: mpsc::Sender<writer::Job>,
    head: watch::Receiver<Arc<Head>>,
    reader: TreeReader,
}

/// Handle to the log. Cheap to clone; all clones share one sequencer.
#[derive(Clone)]
pub struct Log {
    shared: Arc<Shared>,
}

/// Joins the sequencer (a task, or a thread of its own on an SQLite file) once the last [`Log`]
/// handle is gone.
pub struct SequencerHandle(writer::Running);

impl SequencerHandle {
    /// Wait for the sequencer to finish the batches already queued.
    pub async fn join(self) {
        self.0.join().await;
    }
}

impl Log {
    /// Open the log stored in `db`, creating it (parameters and the signed empty checkpoint) on
    /// first use, and start the sequencer. Fails if the keys do not belong to this log.
    pub async fn open(
        db: Db,
        keys: LogKeys,
        settings: &LogSettings,
    ) -> anyhow::Result<(Log, SequencerHandle)> {
        let origin = keys.origin().to_owned();
        let suite = keys.suite;
        let alg = suite.hash();
        let params = match rows::params(&db).await? {
            Some(p) => p,
            None => {
                let p = rows::LogParams {
                    origin: origin.clone(),
                    suite: suite.name().into(),
                    hash_alg: alg.name().into(),
                    created_ms: now_ms() as i64,
                };
                let empty = Checkpoint {
                    origin: origin.clone(),
                    size: 0,
                    root: alg.empty_root(),
                    extensions: vec![],
                };
                let signers: Vec<_> = keys.signers.iter().collect();
                let note = empty.sign(&signers)?;
                let mut tx = db.begin().await?;
                rows::insert_params(&mut tx, &p).await?;
                let mut script = Script::new(db.backend());
                rows::insert_checkpoint(
                    &mut script,
                    &rows::CheckpointRow {
                        size: 0,
                        root: empty.root.to_vec(),
                        note,
                        created_ms: p.created_ms,
                    },
                )?;
                script.flush(&mut tx).await?;
                tx.commit().await.map_err(StoreError::from)?;
                p
            }
        };
        if params.origin != origin || params.suite != suite.name() || params.hash_alg != alg.name() {
            anyhow::bail!(
                "the keys (origin {origin}, suite {}) do not belong to this log (origin {}, suite {})",
                suite.name(),
                params.origin,
                params.suite
            );
        }
        let latest = rows::latest_checkpoint(&db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("log has parameters but no checkpoint"))?;
        let verifiers = keys.verifiers();
        let (cp, _) = tianping_log::checkpoint::open_checkpoint(&latest.note, &verifiers)
            .map_err(|e| anyhow::anyhow!("latest checkpoint does not verify with the log keys: {e}"))?;
        let (edge, root) = load_edge(&db, alg, cp.size).await?;
        if root != cp.root {
            anyhow::bail!(
                "stored tree root does not match the latest checkpoint (size {})",
                cp.size
            );
        }
        let head = Arc::new(Head::new(&edge, root, latest.note.into()));
        let (head_tx, head_rx) = watch::channel(head);
        let reader = TreeReader::new(db.clone(), alg, settings.tile_cache).following(head_rx.clone());
        let (queue_tx, queue_rx) = mpsc::channel(settings.max_batch.max(1) * 4);
        let pseudonym_key = keys.pseudonym_key.clone();
        let task = writer::Sequencer {
            db: db.clone(),
            conn: None,
            alg,
            origin: origin.clone(),
            signers: keys.signers,
            edge,
            head: Arc::new(head_tx),
            max_batch: settings.max_batch.max(1),
            syncer: None,
            failed: Default::default(),
            shredded_keys: Default::default(),
            subjects_merged: tianping_store::vault::subjects_merged_upto(&db).await?,
            subject_merge_every: settings.subject_merge_every.max(1),
            unmerged: None,
        }
        .spawn(queue_rx)?;
        let log = Log {
            shared: Arc::new(Shared {
                db,
                alg,
                suite,
                origin,
                verifiers,
                pseudonym_key,
                queue: queue_tx,
                head: head_rx,
                reader,
            }),
        };
        Ok((log, SequencerHandle(task)))
    }

    pub fn alg(&self) -> HashAlg {
        self.shared.alg
    }
    pub fn suite(&self) -> Suite {
        self.shared.suite
    }
    pub fn origin(&self) -> &str {
        &self.shared.origin
    }
    pub fn verifiers(&self) -> &[VerifierKey] {
        &self.shared.verifiers
    }
    pub fn db(&self) -> &Db {
        &self.shared.db
    }
    pub fn reader(&self) -> &TreeReader {
        &self.shared.reader
    }

    /// The latest committed head.
    pub fn head(&self) -> Arc<Head> {
        self.shared.head.borrow().clone()
    }

    /// Is the sequencer still running?
    pub fn is_running(&self) -> bool {
        !self.shared.queue.is_closed()
    }

    /// A keyed hash for identifiers that must be matched but never stored in the clear (identity
    /// numbers, phone numbers): HMAC with the pseudonym key over `tianping.keyed/v1 NUL domain NUL
    /// data`. Subjects cannot contain NUL, so these never equal a subject's pseudonym.
    pub fn keyed_hash(&self, domain: &str, data: &[u8]) -> Hash {
        let mut msg = Vec::with_capacity(20 + domain.len() + data.len());
        msg.extend_from_slice(b"tianping.keyed/v1\0");
        msg.extend_from_slice(domain.as_bytes());
        msg.push(0);
        msg.extend_from_slice(data);
        envelope::keyed_hash(self.shared.alg, &self.shared.pseudonym_key, &msg)
    }

    /// The keyed pseudonym of a subject (HMAC with the log's pseudonym key).
    pub fn pseudonym(&self, subject: &Subject) -> Hash {
        envelope::pseudonym(self.shared.alg, &self.shared.pseudonym_key, subject)
    }

    /// Encode an entry and attach the state changes that must commit with it. Pure CPU work,
    /// safe to run on many tasks at once.
    pub fn prepare(&self, h: EntryHeader<'_>, effects: Vec<Effect>) -> Prepared {
        let env = Envelope {
            kind: h.kind.clone(),
            subject_pseudonym: h.subject_pseudonym,
            source: h.source.clone(),
            received_ms: h.received_ms,
            occurred_ms: h.occurred_ms,
            commitment: h.commitment,
        };
        let bytes = env.encode();
        Prepared {
            leaf_hash: self.shared.alg.leaf_hash(&bytes),
            envelope: bytes,
            effects,
        }
    }

    /// Append a prepared entry; resolves once it is durable and covered by a signed checkpoint.
    pub async fn append(&self, entry: Prepared) -> Result<Receipt, AppendError> {
        self.enqueue(entry).await?.wait().await
    }

    /// Queue a prepared entry for the sequencer without waiting for it to commit. Entries queued one
    /// after the other by one task are committed in that order.
    pub async fn enqueue(&self, entry: Prepared) -> Result<Queued, AppendError> {
        let (tx, rx) = oneshot::channel();
        self.shared
            .queue
            .send(writer::Job { entry, respond: tx })
            .await
            .map_err(|_| AppendError::Unavailable)?;
        Ok(Queued(rx))
    }

    fn check_size(&self, size: u64) -> Result<(), ReadError> {
        let tree_size = self.head().size;
        if size > tree_size {
            return Err(ReadError::SizeBeyondTree { size, tree_size });
        }
        Ok(())
    }

    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ReadError> {
        self.check_size(size)?;
        self.shared.reader.inclusion_proof(index, size).await
    }

    pub async fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, ReadError> {
        self.check_size(to)?;
        self.shared.reader.consistency_proof(from, to).await
    }

    /// A `c2sp.org/tlog-proof@v1` for entry `index` against the latest checkpoint; its `extra`
    /// carries the entry's envelope so the proof is self-contained.
    pub async fn entry_proof(&self, index: u64) -> Result<TlogProof, ReadError> {
        self.entry_proof_in(index, &self.head()).await
    }

    /// A `c2sp.org/tlog-proof@v1` for entry `index` against the checkpoint of `head` (so that
    /// several proofs can share one checkpoint).
    pub async fn entry_proof_in(&self, index: u64, head: &Head) -> Result<TlogProof, ReadError> {
        if index >= head.size {
            return Err(ReadError::Proof(ProofError::IndexOutOfRange {
                index,
                size: head.size,
            }));
        }
        let proof = self.shared.reader.inclusion_proof(index, head.size).await?;
        let entry = rows::entries(&self.shared.db, index, index + 1)
            .await?
            .pop()
            .ok_or_else(|| ReadError::Corrupt(format!("entry {index} is missing")))?;
        Ok(TlogProof {
            extra: Some(entry.envelope),
            index,
            proof,
            checkpoint: head.note.to_string(),
        })
    }

    /// The verifier key of the log's primary (Ed25519) signing key, in vkey format.
    pub fn vkey(&self) -> String {
        self.shared.verifiers[0].to_string()
    }
}
