//! The sequencer: the single writer of the log. See the module docs of `log` for the protocol.
//!
//! The sequencer commits without waiting for the disk and hands each committed batch to the syncer,
//! which makes it durable, then publishes the head and answers the batch's callers: on SQLite an
//! fsync of the write-ahead log (a thread), on PostgreSQL a synchronous commit on a connection of
//! its own (a task; see `tianping_store::ServerSync`). So the next batch is written while the
//! previous one becomes durable, and nothing is acknowledged or published before it is. The
//! sequencer takes its next batch only when the syncer has room for it (see `Sequencer::run`).
//! In-memory SQLite has no syncer: the sequencer answers directly.
//!
//! On an SQLite file the sequencer runs on a thread of its own (with a single-threaded runtime for
//! its few awaits) and executes its statements there, blocking: the writer's time per batch is
//! what bounds every append, and as a task among the appenders' tasks it waited for a runtime
//! worker after each hand-over to a database thread and back (about 90 µs a batch, measured). The
//! syncer is a thread too, so that a finished fsync is acknowledged at once, not when the sequencer
//! next yields.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use std::collections::HashSet;
use tianping_log::checkpoint::Checkpoint;
use tianping_log::note::NoteSigner;
use tianping_log::{Hash, HashAlg};

use tianping_store::vault::{self as vault_rows, Effect};
use tianping_store::{
    Backend, Db, Durability, NewEntry, Script, ServerSync, Statement, StoreError, TileRow, WalSync,
    WriterConn, log as rows,
};
use tokio::sync::{mpsc, oneshot, watch};

use super::{AppendError, Head, Prepared, Receipt, RightEdge, now_ms};

pub(super) struct Job {
    pub entry: Prepared,
    pub respond: oneshot::Sender<Result<Receipt, AppendError>>,
}

pub(super) struct Sequencer {
    pub db: Db,
    /// The writer's own connection (opened on first use, closed after a failure).
    pub conn: Option<WriterConn>,
    pub alg: HashAlg,
    pub origin: String,
    pub signers: Vec<NoteSigner>,
    pub edge: RightEdge,
    pub head: Arc<watch::Sender<Arc<Head>>>,
    pub max_batch: usize,
    /// Set up with the connection: the syncer's queue when commits are made durable after the fact.
    pub syncer: Option<Syncer>,
    /// Set when the syncer failed to make commits durable: the sequencer stops.
    pub failed: Arc<AtomicBool>,
    /// Subject keys destroyed since this sequencer started. An entry whose record was encrypted
    /// under one of them (prepared before the shred committed) is refused, never stored.
    pub shredded_keys: HashSet<String>,
    /// Records of log entries before this index are in the merged subject index (see
    /// `vault_rows::merge_subjects`); the sequencer merges once the tail is this long.
    pub subjects_merged: u64,
    pub subject_merge_every: u64,
    /// The `(subject, log index)` of every record committed at or after `subjects_merged`, when
    /// this sequencer knows them all: then a merge inserts them from here. `None` after a start or a
    /// failed batch, until the next merge, which reads them back from storage instead.
    pub unmerged: Option<Vec<(String, u64)>>,
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

/// The running sequencer: a task of the caller's runtime, or a thread of its own when its writer
/// connection blocks (an SQLite file).
pub(super) enum Running {
    Task(tokio::task::JoinHandle<()>),
    Thread(oneshot::Receiver<()>),
}

impl Running {
    /// Wait until the sequencer has stopped.
    pub async fn join(self) {
        match self {
            Running::Task(task) => {
                let _ = task.await;
            }
            Running::Thread(stopped) => {
                let _ = stopped.await;
            }
        }
    }
}

impl Sequencer {
    pub fn spawn(self, queue: mpsc::Receiver<Job>) -> anyhow::Result<Running> {
        if !self.db.native_writer() {
            return Ok(Running::Task(tokio::spawn(self.run(queue))));
        }
        let (stopped, on_stop) = oneshot::channel();
        std::thread::Builder::new()
            .name("tianping-sequencer".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime.block_on(self.run(queue)),
                    // The queue is dropped with `self`: every append is refused as unavailable.
                    Err(e) => tracing::error!(error = %e, "cannot start the sequencer's runtime"),
                }
                let _ = stopped.send(());
            })?;
        Ok(Running::Thread(on_stop))
    }

    async fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        let mut batch: Vec<Job> = Vec::with_capacity(self.max_batch);
        loop {
            // With a syncer, a batch is taken only once the syncer has room for it, i.e. once
            // it has started syncing the batch before: a batch committed earlier would wait for
            // the same sync as the next one, so it is better left to grow in the queue (fewer,
            // larger commits; each commit rewrites the right-hand pages of every table it touches).
            let permit = match &self.syncer {
                Some(syncer) => match syncer.queue.clone().reserve_owned().await {
                    Ok(permit) => Some(permit),
                    Err(_) => {
                        if self.syncer_stopped().await {
                            continue;
                        }
                        break;
                    }
                },
                None => None,
            };
            // recv_many waits for at least one job and takes whatever else is already queued.
            if queue.recv_many(&mut batch, self.max_batch).await == 0 {
                break;
            }
            if self.failed.load(Ordering::Acquire) {
                // The batch is refused below, once the queue is closed.
                break;
            }
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
                Ok((first, note, head)) => {
                    metrics::histogram!("tianping_log_batch_size").record(n as f64);
                    metrics::histogram!("tianping_log_commit_seconds")
                        .record(started.elapsed().as_secs_f64());
                    let done = Committed {
                        jobs,
                        first,
                        note,
                        head,
                        started,
                    };
                    match (permit, &self.syncer) {
                        (Some(permit), _) => {
                            permit.send(done);
                        }
                        // The first batch of a connection, whose commit opened it and started the
                        // syncer.
                        (None, Some(syncer)) => {
                            if let Err(mpsc::error::SendError(done)) = syncer.queue.send(done).await {
                                done.fail(|| AppendError::Unavailable);
                                if !self.syncer_stopped().await {
                                    break;
                                }
                            }
                        }
                        (None, None) => done.publish(&self.head),
                    }
                }
                Err(e) => {
                    metrics::counter!("tianping_log_append_failures_total").increment(n as u64);
                    tracing::error!(error = %e, batch = n, "log batch failed; nothing of it was acknowledged");
                    for job in jobs {
                        let _ = job.respond.send(Err(AppendError::Storage(e.to_string())));
                    }
                    // The transaction may or may not have reached the disk (a lost connection
                    // during COMMIT). The syncer's room goes first: a syncer that stops waits for
                    // every sender of its queue to be gone.
                    drop(permit);
                    if !self.start_over().await {
                        break;
                    }
                }
            }
        }
        // Stopped (the syncer failed, or every handle is gone): close the queue first, so that the
        // log reports itself stopped (readiness) no later than the first refusal, then refuse what
        // was taken or is still queued.
        queue.close();
        for job in batch.drain(..) {
            let _ = job.respond.send(Err(AppendError::Unavailable));
        }
        while let Ok(job) = queue.try_recv() {
            let _ = job.respond.send(Err(AppendError::Unavailable));
        }
        self.finish().await;
    }

    /// Commit one batch; returns its first index and signed checkpoint. The entries' bytes move
    /// into the statements; the jobs keep their leaf hashes and reply channels.
    async fn commit(&mut self, jobs: &mut [Job]) -> anyhow::Result<(u64, Arc<str>, Arc<Head>)> {
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
        // The batch's subjects, kept for the next merge while every one since the last is known.
        let mut subjects: Vec<(String, u64)> = match self.unmerged {
            Some(_) => effects
                .iter()
                .filter_map(|(idx, e)| match e {
                    Effect::Record { record, .. } => Some((record.subject.clone(), *idx)),
                    _ => None,
                })
                .collect(),
            None => Vec::new(),
        };
        // A partial level-0 tile is not stored: it is the leaf hashes of the entries written
        // here (see `reader::stored_tiles`).
        let tiles: Vec<TileRow> = touched
            .iter()
            .filter(|t| t.level > 0 || t.tile.root().is_some())
            .map(|t| TileRow {
                level: t.level,
                idx: t.index,
                width: t.tile.width(),
                nodes: t.tile.to_bytes(),
            })
            .collect();
        let backend = self.db.backend();
        let merge = size.saturating_sub(self.subjects_merged) >= self.subject_merge_every;
        // Taken for the merge: if the batch fails they are gone, and the next merge reads back.
        let mut kept = if merge { self.unmerged.take() } else { None };
        let conn = self.connection().await?;
        // The whole batch is one transaction, sent as few statements as possible (one round trip
        // on SQLite unless an effect needs a result on the way): BEGIN … COMMIT are part of the
        // script rather than separate calls.
        let mut script = Script::new(backend);
        script.add(Statement::new(match backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }));
        let mut writer = conn.writer();
        let written = async {
            rows::insert_entries(&mut script, entries)?;
            let applied = vault_rows::apply(&mut writer, &mut script, effects).await?;
            if merge {
                match kept.take() {
                    Some(mut kept) => {
                        kept.append(&mut subjects);
                        vault_rows::merge_subject_rows(&mut script, kept, size)?
                    }
                    None => vault_rows::merge_subjects(&mut script, size)?,
                }
            }
            rows::upsert_tiles(&mut script, &tiles)?;
            rows::insert_checkpoint(
                &mut script,
                &rows::CheckpointRow {
                    size,
                    root: root.to_vec(),
                    note: note.clone(),
                    created_ms: now_ms() as i64,
                },
            )?;
            script.add(Statement::new("COMMIT"));
            script.flush(writer.reborrow()).await?;
            Ok::<_, StoreError>(applied)
        }
        .await;
        let applied = match written {
            Ok(applied) => applied,
            Err(e) => {
                // Leave no transaction open on the connection (the caller drops it too).
                let _ = writer.execute(Statement::new("ROLLBACK")).await;
                return Err(e.into());
            }
        };

        let note: Arc<str> = note.into();
        let head = Arc::new(Head::new(&edge, root, note.clone()));
        self.edge = edge;
        self.shredded_keys.extend(applied.destroyed_keys);
        if merge {
            self.subjects_merged = size;
            self.unmerged = Some(Vec::new());
        } else if let Some(kept) = &mut self.unmerged {
            kept.extend(subjects);
        }
        Ok((first, note, head))
    }

    /// The writer's connection; on first use (and after a failure) a new one, set up for deferred
    /// syncing where the backend allows it, with the syncer started for it.
    async fn connection(&mut self) -> anyhow::Result<&mut WriterConn> {
        if self.conn.is_none() {
            let (conn, durability) = self.db.writer_connection().await?;
            if self.syncer.is_none() {
                self.syncer = match durability {
                    Some(Durability::Wal(wal)) => {
                        Some(Syncer::spawn_wal(wal, self.head.clone(), self.failed.clone())?)
                    }
                    Some(Durability::Server(sync)) => Some(Syncer::spawn_server(sync, self.head.clone())),
                    None => None,
                };
            }
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("connection set above"))
    }

    /// Start over after a failure: let the writer's connection go (its state is unknown) and
    /// rebuild the edge from storage; the next batch opens a fresh connection. On PostgreSQL the
    /// syncer goes with the connection, once it has synced or failed the batches committed on it:
    /// a syncer's connection must be older than the commits it makes durable (see `ServerSync`),
    /// so the next connection comes with a new one. On SQLite the syncer belongs to the file and
    /// stays. False when storage cannot be read: the sequencer stops.
    async fn start_over(&mut self) -> bool {
        self.conn = None;
        if let Some(syncer) = self.syncer.take_if(|s| matches!(s.durable, Durable::Server)) {
            syncer.stop().await;
        }
        match self.reload().await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "cannot reload the log state; the sequencer stops");
                false
            }
        }
    }

    /// The syncer stopped taking batches. After a failed fsync (SQLite) the log stops: false.
    /// After a failed synchronous commit (PostgreSQL: a lost connection, a restarted server) the
    /// sequencer starts over: true once it has.
    async fn syncer_stopped(&mut self) -> bool {
        let server = matches!(self.syncer.as_ref().map(|s| &s.durable), Some(Durable::Server));
        server && !self.failed.load(Ordering::Acquire) && self.start_over().await
    }

    async fn reload(&mut self) -> anyhow::Result<()> {
        // What storage holds may not be durable yet: make it so before reading what to publish.
        match self.syncer.as_ref().map(|s| &s.durable) {
            Some(Durable::Wal(wal)) => {
                let wal = wal.clone();
                tokio::task::spawn_blocking(move || wal.sync()).await??;
            }
            // PostgreSQL: a synchronous commit on a pooled connection, made after the lost
            // connection's commits (which it flushes, if the server still has them).
            _ => self.db.sync_committed().await?,
        }
        let latest = rows::latest_checkpoint(&self.db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no checkpoint"))?;
        let (edge, root) = super::load_edge(&self.db, self.alg, latest.size).await?;
        self.subjects_merged = vault_rows::subjects_merged_upto(&self.db).await?;
        self.unmerged = None;
        self.edge = edge;
        let head = Arc::new(Head::new(&self.edge, root, latest.note.into()));
        advance(&self.head, head);
        Ok(())
    }

    /// Stop: the syncer finishes the batches handed to it, then this returns.
    async fn finish(self) {
        if let Some(syncer) = self.syncer {
            syncer.stop().await;
        }
    }
}

/// Publish `head` unless a newer one is already published (the head never moves back).
fn advance(sender: &watch::Sender<Arc<Head>>, head: Arc<Head>) {
    sender.send_if_modified(|current| {
        if head.size >= current.size {
            *current = head;
            true
        } else {
            false
        }
    });
}

/// A batch committed to storage, waiting to be acknowledged.
pub(super) struct Committed {
    jobs: Vec<Job>,
    first: u64,
    note: Arc<str>,
    head: Arc<Head>,
    started: Instant,
}

impl Committed {
    /// The batch is durable: publish its head, then answer its callers.
    fn publish(self, head: &watch::Sender<Arc<Head>>) {
        let n = self.jobs.len();
        advance(head, self.head);
        metrics::counter!("tianping_log_appends_total").increment(n as u64);
        metrics::histogram!("tianping_log_durable_seconds").record(self.started.elapsed().as_secs_f64());
        for (i, job) in self.jobs.into_iter().enumerate() {
            let receipt = Receipt {
                index: self.first + i as u64,
                leaf_hash: job.entry.leaf_hash,
                checkpoint: self.note.clone(),
            };
            let _ = job.respond.send(Ok(receipt));
        }
    }

    fn fail(self, error: impl Fn() -> AppendError) {
        metrics::counter!("tianping_log_append_failures_total").increment(self.jobs.len() as u64);
        for job in self.jobs {
            let _ = job.respond.send(Err(error()));
        }
    }
}

/// What makes committed batches durable and acknowledges them: a thread that fsyncs the
/// write-ahead log (SQLite), or a task that commits synchronously on a connection of its own
/// (PostgreSQL, see `ServerSync`).
pub(super) struct Syncer {
    queue: mpsc::Sender<Committed>,
    durable: Durable,
    running: SyncerRunning,
}

enum Durable {
    Wal(Arc<WalSync>),
    Server,
}

enum SyncerRunning {
    Thread(std::thread::JoinHandle<()>),
    Task(tokio::task::JoinHandle<()>),
}

/// Committed batches waiting for the syncer at most (besides the one it is syncing): the
/// sequencer takes its next batch only when there is room (see `Sequencer::run`).
const SYNC_QUEUE: usize = 1;

/// The syncer asks for a passive checkpoint after this many synced batches (about 120 pages at
/// the benchmark's batches; 2, 4, 8 and 16 measured alike, docs/benchmarks.md).
const CHECKPOINT_EVERY: u64 = 4;

/// How much lower the checkpointer's priority is than the thread that starts it (added to its nice
/// value). Its copying can wait; the sequencer's and the syncer's work is what every append waits
/// for, and on a two-core machine the checkpointer (a sixth of a core at full load) otherwise took
/// the processor from them: the sequencer spent a fifth of the run ready to run but waiting for a
/// core (`/proc/…/schedstat`, docs/benchmarks.md).
const CHECKPOINTER_NICE: i32 = 10;

/// Lower the calling thread's scheduling priority by `by` (its nice value plus `by`, at most 19;
/// Linux, where the nice value belongs to the thread; elsewhere nothing). Raising it back would need
/// privileges, so only threads that start no others call this. A failure leaves the priority as it
/// was.
fn lower_priority(by: i32) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid, getpriority and setpriority take no pointers and have no memory effects.
        let failed = unsafe {
            let tid = libc::gettid() as libc::id_t;
            // For the calling thread getpriority cannot fail, so -1 is a nice value, not an error.
            let current = libc::getpriority(libc::PRIO_PROCESS, tid);
            libc::setpriority(libc::PRIO_PROCESS, tid, (current + by).min(19)) != 0
        };
        if failed {
            tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower the thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = by;
}

/// The thread that copies the write-ahead log into the database file (SQLite), so that the
/// sequencer's commits do not: a checkpoint syncs the database file, and inside a commit that held
/// up every append behind it for milliseconds. Runs a passive checkpoint each time the syncer asks
/// (asks made while one runs are folded into the next); stops when the syncer drops its end.
fn spawn_checkpointer(
    wal: Arc<WalSync>,
) -> std::io::Result<(std::sync::mpsc::SyncSender<()>, std::thread::JoinHandle<()>)> {
    let (ask, asked) = std::sync::mpsc::sync_channel::<()>(1);
    let (up, is_up) = std::sync::mpsc::sync_channel::<()>(0);
    let thread = std::thread::Builder::new()
        .name("tianping-checkpointer".into())
        .spawn(move || {
            lower_priority(CHECKPOINTER_NICE);
            drop(up);
            while asked.recv().is_ok() {
                let started = Instant::now();
                match wal.checkpoint() {
                    Ok(done) => {
                        metrics::histogram!("tianping_log_wal_checkpoint_seconds")
                            .record(started.elapsed().as_secs_f64());
                        metrics::gauge!("tianping_log_wal_frames").set(done.frames as f64);
                    }
                    // Nothing is lost: the pages stay in the log, and the writer's own checkpoint
                    // copies them.
                    Err(e) => tracing::warn!(error = %e, "passive checkpoint failed"),
                }
            }
        })?;
    // Returns once the thread runs at its priority.
    let _ = is_up.recv();
    Ok((ask, thread))
}

impl Syncer {
    /// Close its queue and wait until it has answered every batch handed to it.
    async fn stop(self) {
        drop(self.queue);
        match self.running {
            SyncerRunning::Thread(thread) => {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
            SyncerRunning::Task(task) => {
                let _ = task.await;
            }
        }
    }

    fn spawn_server(sync: ServerSync, head: Arc<watch::Sender<Arc<Head>>>) -> Syncer {
        let (queue, mut rx) = mpsc::channel::<Committed>(SYNC_QUEUE);
        let task = tokio::spawn(async move {
            let mut batches = Vec::with_capacity(SYNC_QUEUE);
            while rx.recv_many(&mut batches, SYNC_QUEUE).await > 0 {
                match sync.sync().await {
                    Ok(()) => {
                        for done in batches.drain(..) {
                            done.publish(&head);
                        }
                    }
                    Err(e) => {
                        // Whether the batches are durable is unknown (the server may have lost
                        // them with its WAL buffers): none is acknowledged. The sequencer starts
                        // over from storage with a new connection and a new syncer.
                        tracing::error!(error = %e, "the log's synchronous commit failed; its batches are not acknowledged");
                        for done in batches.drain(..) {
                            done.fail(|| {
                                AppendError::Storage("the database did not confirm the commit".into())
                            });
                        }
                        rx.close();
                        while let Some(done) = rx.recv().await {
                            done.fail(|| AppendError::Unavailable);
                        }
                        break;
                    }
                }
            }
        });
        Syncer {
            queue,
            durable: Durable::Server,
            running: SyncerRunning::Task(task),
        }
    }

    fn spawn_wal(
        wal: WalSync,
        head: Arc<watch::Sender<Arc<Head>>>,
        failed: Arc<AtomicBool>,
    ) -> anyhow::Result<Syncer> {
        let wal = Arc::new(wal);
        let (queue, mut rx) = mpsc::channel::<Committed>(SYNC_QUEUE);
        let file = wal.clone();
        let (checkpoint, checkpointer) = spawn_checkpointer(wal.clone())?;
        let thread = std::thread::Builder::new()
            .name("tianping-syncer".into())
            .spawn(move || {
                let mut batches = Vec::with_capacity(SYNC_QUEUE);
                let mut synced = 0u64;
                while rx.blocking_recv_many(&mut batches, SYNC_QUEUE) > 0 {
                    match file.sync() {
                        Ok(()) => {
                            for done in batches.drain(..) {
                                done.publish(&head);
                            }
                            synced += 1;
                            if synced.is_multiple_of(CHECKPOINT_EVERY) {
                                // Full: a checkpoint is asked for already.
                                let _ = checkpoint.try_send(());
                            }
                        }
                        Err(e) => {
                            // Whether the batches reached the disk is unknown: none is
                            // acknowledged, and the log stops taking appends (as PostgreSQL stops
                            // after a failed fsync) until the server restarts and recovers from
                            // storage.
                            tracing::error!(error = %e, "fsync of the write-ahead log failed; the log stops");
                            failed.store(true, Ordering::Release);
                            for done in batches.drain(..) {
                                done.fail(|| {
                                    AppendError::Storage("the disk did not confirm the write".into())
                                });
                            }
                            rx.close();
                            while let Some(done) = rx.blocking_recv() {
                                done.fail(|| AppendError::Unavailable);
                            }
                            break;
                        }
                    }
                }
                drop(checkpoint);
                let _ = checkpointer.join();
            })?;
        Ok(Syncer {
            queue,
            durable: Durable::Wal(wal),
            running: SyncerRunning::Thread(thread),
        })
    }
}
