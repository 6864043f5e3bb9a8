//! The sequencer: the single writer of the log. See the module docs of `log` for the protocol.

use std::sync::Arc;
use std::time::Instant;

use tianping_log::checkpoint::Checkpoint;
use tianping_log::note::NoteSigner;
use tianping_log::{Hash, HashAlg};
use tianping_store::{Conn, Connection, Db, NewContent, NewEntry, StoreError, TileRow, log as rows};
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

        let (entries, contents): (Vec<NewEntry>, Vec<NewContent>) = jobs
            .iter_mut()
            .enumerate()
            .map(|(i, j)| {
                let idx = first + i as u64;
                let entry = NewEntry {
                    idx,
                    leaf_hash: j.entry.leaf_hash,
                    envelope: std::mem::take(&mut j.entry.envelope),
                };
                let content = NewContent {
                    idx,
                    salt: *j.entry.salt,
                    content: std::mem::take(&mut j.entry.content),
                };
                (entry, content)
            })
            .unzip();
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
        rows::insert_contents(&mut tx, &contents).await?;
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
