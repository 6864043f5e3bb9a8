//! `tianping-bench log`: the library stack without HTTP. Concurrent appenders through the sequencer
//! (timed), growth of the log to a large size, then random inclusion proofs served from the stored
//! tiles.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tianping_log::envelope::canonical_json;
use tianping_log::merkle::verify_inclusion;
use tianping_service::Node;
use tianping_service::log::Log;
use tianping_service::vault::{Content, NewRecord, Vault};
use tianping_store::log as rows;

use crate::common::{ContentMaker, Latencies, Summary, XorShift, memory_mb, micros, open_node, rate};
use crate::plain_insert;

/// One proof in this many is checked against the head's root (and its leaf against the stored
/// envelope), so that fast garbage cannot pass for proofs.
const VERIFY_EVERY: u64 = 1000;

/// Growth progress is reported each time the log passes a multiple of this.
const PROGRESS_STEP: u64 = 1_000_000;

#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// Database URL (sqlite:… or postgres://…). Default: SQLite in a fresh temporary data
    /// directory. A PostgreSQL database must be empty: the log keys are generated afresh.
    #[arg(long)]
    database_url: Option<String>,
    /// Crypto suite of the new log.
    #[arg(long, default_value = "intl", value_parser = ["intl", "sm"])]
    suite: String,
    /// Concurrent appending tasks.
    #[arg(long, default_value_t = 64)]
    appenders: usize,
    /// Target size of each entry's content, in bytes of canonical JSON.
    #[arg(long, default_value_t = 1024)]
    content_bytes: usize,
    /// Entries appended in the timed phase.
    #[arg(long, default_value_t = 200_000)]
    appends: u64,
    /// Total entries in the log for the proof phase (the log is grown to this size first).
    #[arg(long, default_value_t = 10_000_000)]
    log_size: u64,
    /// Inclusion proofs in the proof phase.
    #[arg(long, default_value_t = 200_000)]
    proofs: u64,
    /// Concurrent proof tasks (like concurrent proof requests to a server; the tile loader
    /// answers those in flight together).
    #[arg(long, default_value_t = 32)]
    proof_tasks: usize,
    /// Stop after the growth phase.
    #[arg(long)]
    skip_proofs: bool,
    /// Where to create the temporary data directory (default: $TMPDIR or /tmp). A 10M-entry
    /// SQLite log of 1 KiB contents needs well over 10 GB.
    #[arg(long)]
    tmp_dir: Option<PathBuf>,
}

/// What a run of the appenders did.
pub(crate) struct AppendRun {
    pub appended: u64,
    pub elapsed: Duration,
    /// Per-append latency (encrypt + store + commit) in µs; empty unless recorded.
    pub latencies_us: Vec<u64>,
    /// Sum of canonical content sizes; zero unless recorded.
    pub content_bytes: u64,
}

pub async fn run(args: LogArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.appenders > 0, "--appenders must be at least 1");
    anyhow::ensure!(args.proof_tasks > 0, "--proof-tasks must be at least 1");

    let (data_dir, node) =
        open_node(args.tmp_dir.as_deref(), args.database_url.as_deref(), &args.suite).await?;
    let Node {
        log,
        vault,
        identity,
        care,
        sequencer,
        db,
        ..
    } = node;
    // Only the log and the vault are used; the rest would keep the sequencer alive at the end.
    drop((identity, care));
    let backend = db.backend().name();
    let start_size = log.head().size;
    eprintln!(
        "log bench: backend {backend}, suite {}, data dir {}, log starts at {start_size} entries",
        log.suite().name(),
        data_dir.path().display()
    );

    let maker = Arc::new(ContentMaker::new(args.content_bytes));
    let mut summary = Summary::default();
    summary
        .add("bench", "log")
        .add("backend", backend)
        .add("suite", log.suite().name())
        .add("appenders", args.appenders)
        .add("content_bytes", args.content_bytes);

    // Timed phase.
    eprintln!(
        "timed phase: {} appends from {} tasks",
        args.appends, args.appenders
    );
    let timed = append_many(&vault, &maker, args.appenders, start_size, args.appends, true).await?;
    let latencies = Latencies::from_unsorted(timed.latencies_us);
    let avg_content = if timed.appended > 0 {
        format!("{:.1}", timed.content_bytes as f64 / timed.appended as f64)
    } else {
        "na".into()
    };
    eprintln!(
        "timed phase: {} appends in {:.2} s = {}/s, mean {} ms, p50 {} ms, p99 {} ms, content {avg_content} B",
        timed.appended,
        timed.elapsed.as_secs_f64(),
        rate(timed.appended, timed.elapsed),
        latencies.mean_ms(),
        latencies.percentile_ms(50.0),
        latencies.percentile_ms(99.0),
    );
    summary
        .add("content_avg_bytes", &avg_content)
        .add("appends", timed.appended)
        .add("seconds", format!("{:.3}", timed.elapsed.as_secs_f64()))
        .add("appends_per_s", rate(timed.appended, timed.elapsed))
        // With a fixed number of appenders, the rate is appenders / mean latency: the mean says
        // how much of it the slow tail costs.
        .add("append_mean_ms", latencies.mean_ms())
        .add("append_p50_ms", latencies.percentile_ms(50.0))
        .add("append_p99_ms", latencies.percentile_ms(99.0))
        .add("append_max_ms", latencies.max_ms());
    drop(latencies);

    // The yardstick, in the same run: the timed appends' rows inserted plainly (SQLite only), right
    // after the timed phase, so that both are measured on the same machine in the same state. (Run
    // last, after growing the log to millions of entries, it was slowed by the operating system
    // still writing the growth's pages back, and the ratio came out flattering: 0.63 against 0.39
    // measured this way; docs/benchmarks.md.) Its database is gone before the growth starts.
    let (plain_per_s, ratio) = if args.database_url.is_none() && timed.appended > 0 {
        let plain = plain_insert::run(
            &data_dir.path().join("tianping.db"),
            &data_dir.path().join("plain-insert.db"),
            start_size,
            start_size + timed.appended,
        )
        .await
        .context("plain insert")?;
        let appends_per_s = timed.appended as f64 / timed.elapsed.as_secs_f64();
        let plain_per_s = plain.appends as f64 / plain.elapsed.as_secs_f64();
        let ratio = appends_per_s / plain_per_s;
        eprintln!(
            "plain insert of the same {} rows, {} appends a transaction: {:.2} s = {plain_per_s:.1} appends/s; ratio {ratio:.3}",
            plain.rows,
            plain_insert::BATCH,
            plain.elapsed.as_secs_f64(),
        );
        (format!("{plain_per_s:.1}"), format!("{ratio:.3}"))
    } else {
        ("na".to_owned(), "na".to_owned())
    };

    // Growth phase: same appenders, nothing recorded per entry so the memory stays the server's.
    let size = log.head().size;
    if args.log_size > size {
        let grow = args.log_size - size;
        eprintln!("growth phase: {grow} more entries to reach {}", args.log_size);
        let monitor = tokio::spawn(report_growth(log.clone(), size, args.log_size));
        let run = append_many(&vault, &maker, args.appenders, size, grow, false).await;
        monitor.abort();
        let run = run?;
        eprintln!(
            "growth phase: {} entries in {:.1} s = {}/s",
            run.appended,
            run.elapsed.as_secs_f64(),
            rate(run.appended, run.elapsed)
        );
        summary
            .add("grow_entries", run.appended)
            .add("grow_s", format!("{:.3}", run.elapsed.as_secs_f64()))
            .add("grow_per_s", rate(run.appended, run.elapsed));
    } else {
        eprintln!("growth phase skipped: the log already has {size} entries");
        summary
            .add("grow_entries", 0)
            .add("grow_s", "na")
            .add("grow_per_s", "na");
    }
    let head = log.head();
    let (rss, hwm) = memory_mb()?;
    eprintln!(
        "log size {}; process memory: rss {rss:.1} MB, peak {hwm:.1} MB",
        head.size
    );
    summary
        .add("log_size", head.size)
        .add("rss_mb", format!("{rss:.1}"))
        .add("hwm_mb", format!("{hwm:.1}"));

    // Proof phase.
    if args.skip_proofs || args.proofs == 0 || head.size == 0 {
        eprintln!("proof phase skipped");
        summary
            .add("proofs", 0)
            .add("proof_tasks", args.proof_tasks)
            .add("proofs_per_s", "na")
            .add("proof_p50_ms", "na")
            .add("proof_p99_ms", "na")
            .add("proofs_per_s_warm", "na")
            .add("proof_p99_ms_warm", "na")
            .add("verified", 0);
    } else {
        eprintln!(
            "proof phase: {} inclusion proofs at random indices in size {} from {} tasks",
            args.proofs, head.size, args.proof_tasks
        );
        let (elapsed, latencies_us, verified) = prove_many(&log, args.proofs, args.proof_tasks).await?;
        let latencies = Latencies::from_unsorted(latencies_us);
        eprintln!(
            "proof phase: {} proofs in {:.2} s = {}/s, p50 {} ms, p99 {} ms, {verified} verified",
            latencies.len(),
            elapsed.as_secs_f64(),
            rate(args.proofs, elapsed),
            latencies.percentile_ms(50.0),
            latencies.percentile_ms(99.0),
        );
        // A second pass over the same random distribution: the first one has brought the tiles
        // into the operating system's page cache, as a serving log's would be.
        let (warm_elapsed, warm_us, warm_verified) = prove_many(&log, args.proofs, args.proof_tasks).await?;
        let warm = Latencies::from_unsorted(warm_us);
        eprintln!(
            "proof phase, second pass: {}/s, p50 {} ms, p99 {} ms",
            rate(args.proofs, warm_elapsed),
            warm.percentile_ms(50.0),
            warm.percentile_ms(99.0),
        );
        summary
            .add("proofs", args.proofs)
            .add("proof_tasks", args.proof_tasks)
            .add("proofs_per_s", rate(args.proofs, elapsed))
            .add("proof_p50_ms", latencies.percentile_ms(50.0))
            .add("proof_p99_ms", latencies.percentile_ms(99.0))
            .add("proofs_per_s_warm", rate(args.proofs, warm_elapsed))
            .add("proof_p99_ms_warm", warm.percentile_ms(99.0))
            .add("verified", verified + warm_verified);
    }

    summary
        .add("plain_insert_per_s", plain_per_s)
        .add("ratio_to_plain_insert", ratio);

    // Let the sequencer finish and close the pool before the data directory goes away.
    drop(log);
    drop(vault);
    sequencer.join().await;
    db.close().await;
    eprintln!("removing {}", data_dir.path().display());
    drop(data_dir);

    summary.print();
    Ok(ExitCode::SUCCESS)
}

/// Append `count` entries from `tasks` concurrent tasks; sequence numbers start at `first_seq`.
/// With `record`, each append's latency and content size are kept.
pub(crate) async fn append_many(
    vault: &Vault,
    maker: &Arc<ContentMaker>,
    tasks: usize,
    first_seq: u64,
    count: u64,
    record: bool,
) -> anyhow::Result<AppendRun> {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for task in 0..tasks {
        let vault = vault.clone();
        let maker = maker.clone();
        let next = next.clone();
        handles.push(tokio::spawn(async move {
            let subject = format!("patient-{task}");
            let mut latencies = Vec::new();
            let mut done = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let content = maker.make(first_seq + i);
                let t0 = Instant::now();
                vault
                    .write(NewRecord {
                        kind: "bench.append",
                        subject: &subject,
                        source: "bench",
                        occurred_ms: None,
                        content: Content::Json(&content),
                        retention_class: None,
                        consultation: None,
                    })
                    .await?;
                if record {
                    latencies.push(micros(t0.elapsed()));
                }
                done += 1;
            }
            anyhow::Ok((done, latencies))
        }));
    }
    let mut run = AppendRun {
        appended: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::with_capacity(if record { count as usize } else { 0 }),
        content_bytes: 0,
    };
    for h in handles {
        let (done, latencies) = h.await.context("appender task panicked")??;
        run.appended += done;
        run.latencies_us.extend(latencies);
    }
    run.elapsed = started.elapsed();
    if record {
        // The contents are a function of their sequence numbers: their canonical sizes are
        // worked out again here, after the clock stopped, so that the appenders' tasks do no work
        // of the benchmark's own while they are timed (on two cores it would slow them).
        run.content_bytes = (first_seq..first_seq + run.appended)
            .map(|seq| canonical_json(&maker.make(seq)).len() as u64)
            .sum();
    }
    Ok(run)
}

/// Print a line each time the log passes a multiple of [`PROGRESS_STEP`]. Runs until aborted.
async fn report_growth(log: Log, from: u64, to: u64) {
    let started = Instant::now();
    let mut next_mark = (from / PROGRESS_STEP + 1) * PROGRESS_STEP;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let size = log.head().size;
        if size >= next_mark && size < to {
            let elapsed = started.elapsed();
            eprintln!(
                "  {size} / {to} entries, {:.0} s, {}/s",
                elapsed.as_secs_f64(),
                rate(size - from, elapsed)
            );
            next_mark = (size / PROGRESS_STEP + 1) * PROGRESS_STEP;
        }
    }
}

/// `count` inclusion proofs at uniformly random indices against the current head, from `tasks`
/// concurrent tasks. Returns the elapsed time, the latencies (µs) and how many were verified.
async fn prove_many(log: &Log, count: u64, tasks: usize) -> anyhow::Result<(Duration, Vec<u64>, u64)> {
    let head = log.head();
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for task in 0..tasks {
        let log = log.clone();
        let head = head.clone();
        let next = next.clone();
        handles.push(tokio::spawn(async move {
            let mut rng = XorShift::new(task as u64 + 1);
            let mut latencies = Vec::new();
            let mut verified = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let index = rng.below(head.size);
                let t0 = Instant::now();
                let proof = log
                    .inclusion_proof(index, head.size)
                    .await
                    .with_context(|| format!("inclusion proof of {index} in {}", head.size))?;
                latencies.push(micros(t0.elapsed()));
                if i.is_multiple_of(VERIFY_EVERY) {
                    check_proof(&log, index, head.size, &proof, &head.root).await?;
                    verified += 1;
                }
            }
            anyhow::Ok((latencies, verified))
        }));
    }
    let mut all = Vec::with_capacity(count as usize);
    let mut verified = 0;
    for h in handles {
        let (latencies, v) = h.await.context("proof task panicked")??;
        all.extend(latencies);
        verified += v;
    }
    Ok((started.elapsed(), all, verified))
}

/// Check a served proof end to end: the stored envelope hashes to the stored leaf hash, and the
/// proof leads from that leaf to the head's root.
async fn check_proof(
    log: &Log,
    index: u64,
    size: u64,
    proof: &[tianping_log::Hash],
    root: &tianping_log::Hash,
) -> anyhow::Result<()> {
    let entry = rows::entries(log.db(), index, index + 1)
        .await?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("entry {index} is missing"))?;
    let leaf = log.alg().leaf_hash(&entry.envelope);
    anyhow::ensure!(
        entry.leaf_hash == leaf,
        "entry {index}: stored leaf hash does not match its envelope"
    );
    verify_inclusion(log.alg(), index, size, &leaf, proof, root)
        .map_err(|e| anyhow::anyhow!("proof of entry {index} in size {size} does not verify: {e}"))
}
