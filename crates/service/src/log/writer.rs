//! The sequencer: the single writer of the log. See the module docs of `log` for the protocol.

use std::sync::Arc;
use std::time::Instant;

use std::collections::HashSet;
use tianping_log::checkpoint::Checkpoint;
use tianping_log::note::NoteSigner;
use tianping_log::{Hash, HashAlg};

use tianping_store::vault::{self as vault_rows, Effect};
use tianping_store::{Conn, Connection, Db, NewEntry, StoreError, TileRow, log as rows};
use tokio::sync::{mpsc, oneshot, watch};

use super::{AppendError, Head, Prepared, Receipt, RightEdge, now_ms};

pub(super) struct Job {
    pub entry: Prepared,
    pub respond: oneshot::Sender<Result<Receipt, AppendError>>,
}

pub(super) struct Sequencer {
    pub db: Db,
    /// The writer's own connection (acquired on first use, dropped after a failure).
    pub conn: Option<Conn>,
    pub alg: HashAlg,
    pub origin: String,
    pub signers: Vec<NoteSigner>,
    pub edge: RightEdge,
    pub head: watch::Sender<Arc<Head>>,
    pub max_batch: usize,
    /// Subject keys destroyed since this sequencer started. An entry whose record was encrypted
    /// under one of them (prepared before the shred committed) is refused, never stored.
    pub shredded_keys: HashSet<String>,
}

fn uses_shredded_key(job: &Job, shredded: &HashSet<String>) -> bool {
    !shredded.is_empty()
        && job.entry.effects.iter().any(|e| match e {
            Effect::Record { record, .. } => record
                .subject_key_id
                .as_ref()
                .is_some_and(|k| shredded.contains(k)),
            _ => false,
        })
}

impl Sequencer {
    pub fn spawn(self, queue: mpsc::Receiver<Job>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run(queue))
    }

    async fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        let mut batch: Vec<Job> = Vec::with_capacity(self.max_batch);
        // recv_many waits for at least one job and takes whatever else is already queued.
        while queue.recv_many(&mut batch, self.max_batch).await > 0 {
            let started = Instant::now();
            let mut jobs = std::mem::take(&mut batch);
            if !self.shredded_keys.is_empty() {
                let (stale, fresh): (Vec<Job>, Vec<Job>) = jobs
                    .into_iter()
                    .partition(|j| uses_shredded_key(j, &self.shredded_keys));
                for job in stale {
                    let _ = job.respond.send(Err(AppendError::KeyShredded));
                }
                jobs = fresh;
                if jobs.is_empty() {
                    continue;
                }
            }
            let n = jobs.len();
            match self.commit(&mut jobs).await {
                Ok((first, note)) => {
                    metrics::counter!("tianping_log_appends_total").increment(n as u64);
                    metrics::histogram!("tianping_log_batch_size").record(n as f64);
                    metrics::histogram!("tianping_log_commit_seconds")
                        .record(started.elapsed().as_secs_f64());
                    for (i, job) in jobs.into_iter().enumerate() {
                        let receipt = Receipt {
                            index: first + i as u64,
                            leaf_hash: job.entry.leaf_hash,
                            checkpoint: note.clone(),
                        };
                        let _ = job.respond.send(Ok(receipt));
                    }
                }
                Err(e) => {
                    metrics::counter!("tianping_log_append_failures_total").increment(n as u64);
                    tracing::error!(error = %e, batch = n, "log batch failed; nothing of it was acknowledged");
                    for job in jobs {
                        let _ = job.respond.send(Err(AppendError::Storage(e.to_string())));
                    }
                    // The transaction may or may not have reached the disk (a lost connection
                    // during COMMIT). Start over with a fresh connection and rebuild the edge
                    // from storage before going on.
                    self.conn = None;
                    if let Err(e) = self.reload().await {
                        tracing::error!(error = %e, "cannot reload the log state; the sequencer stops");
                        return;
                    }
                }
            }
        }
    }

    /// Commit one batch; returns its first index and signed checkpoint. The entries' bytes move
    /// into the statements; the jobs keep their leaf hashes and reply channels.
    async fn commit(&mut self, jobs: &mut [Job]) -> anyhow::Result<(u64, Arc<str>)> {
        let first = self.edge.size();
        let leaves: Vec<Hash> = jobs.iter().map(|j| j.entry.leaf_hash).collect();
        let mut edge = self.edge.clone();
        let touched = edge.append(&leaves);
        let root = edge.root()?;
        let size = edge.size();
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
            extensions: vec![],
        };
        let signers: Vec<&NoteSigner> = self.signers.iter().collect();
        let note = checkpoint.sign(&signers)?;

        let mut entries = Vec::with_capacity(jobs.len());
        let mut effects = Vec::with_capacity(jobs.len());
        for (i, j) in jobs.iter_mut().enumerate() {
            let idx = first + i as u64;
            entries.push(NewEntry {
                idx,
                leaf_hash: j.entry.leaf_hash,
                envelope: std::mem::take(&mut j.entry.envelope),
            });
            effects.extend(j.entry.effects.drain(..).map(|e| (idx, e)));
        }
        let tiles: Vec<TileRow> = touched
            .iter()
            .map(|t| TileRow {
                level: t.level,
                idx: t.index,
                width: t.tile.width(),
                nodes: t.tile.to_bytes(),
            })
            .collect();
        if self.conn.is_none() {
            self.conn = Some(self.db.acquire().await?);
        }
        let conn = self.conn.as_mut().expect("connection acquired above");
        let mut tx = conn.begin().await.map_err(StoreError::from)?;
        rows::insert_entries(&mut tx, &entries).await?;
        let applied = vault_rows::apply(&mut tx, effects).await?;
        rows::upsert_tiles(&mut tx, &tiles).await?;
        rows::insert_checkpoint(
            &mut tx,
            &rows::CheckpointRow {
                size,
                root: root.to_vec(),
                note: note.clone(),
                created_ms: now_ms() as i64,
            },
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;

        let note: Arc<str> = note.into();
        self.head
            .send_replace(Arc::new(Head::new(&edge, root, note.clone())));
        self.edge = edge;
        self.shredded_keys.extend(applied.destroyed_keys);
        Ok((first, note))
    }

    async fn reload(&mut self) -> anyhow::Result<()> {
        let latest = rows::latest_checkpoint(&self.db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no checkpoint"))?;
        let (edge, root) = super::load_edge(&self.db, self.alg, latest.size).await?;
        self.edge = edge;
        self.head
            .send_replace(Arc::new(Head::new(&self.edge, root, latest.note.into())));
        Ok(())
    }
}
