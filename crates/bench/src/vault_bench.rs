//! `tianping-bench vault`: the vault through its library API (what the HTTP handlers call).
//!
//! 1. A large recording (default 1 GiB) streamed into a resumable upload in 8 MiB request bodies,
//!    encrypted in chunks, fsynced, committed; read back and checked. Its peak resident memory is
//!    measured against the process's resident memory when idle (node open, nothing done yet), so
//!    this phase runs first.
//! 2. 1 KiB JSON records from concurrent writers: encrypt, store and commit, each acknowledged
//!    only when durable.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tianping_service::Node;
use tianping_service::identity::Identity;
use tianping_service::identity::access::Principal;
use tianping_service::vault::Vault;
use tianping_service::vault::blob::NewUpload;

use crate::common::{ContentMaker, Latencies, Summary, XorShift, memory_mb, open_node, rate};
use crate::log_bench::append_many;

#[derive(Debug, clap::Args)]
pub struct VaultArgs {
    /// Database URL (sqlite:… or postgres://…). Default: SQLite in a fresh temporary data
    /// directory. A PostgreSQL database must be empty.
    #[arg(long)]
    database_url: Option<String>,
    /// Crypto suite: intl (AES-256-GCM, SHA-256) or sm (SM4-GCM, SM3).
    #[arg(long, default_value = "intl", value_parser = ["intl", "sm"])]
    suite: String,
    /// Concurrent record writers.
    #[arg(long, default_value_t = 64)]
    writers: usize,
    /// Records written in the timed phase.
    #[arg(long, default_value_t = 200_000)]
    records: u64,
    /// Target size of each record, in bytes of canonical JSON.
    #[arg(long, default_value_t = 1024)]
    content_bytes: usize,
    /// Size of the recording, in MiB (0 skips the phase).
    #[arg(long, default_value_t = 1024)]
    blob_mib: u64,
    /// Where to create the temporary data directory.
    #[arg(long)]
    tmp_dir: Option<PathBuf>,
}

/// Request body size of the upload phase (a client sends the recording in parts of this size).
const PART: usize = 8 << 20;

pub async fn run(args: VaultArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.writers > 0, "--writers must be at least 1");
    let (data_dir, node) =
        open_node(args.tmp_dir.as_deref(), args.database_url.as_deref(), &args.suite).await?;
    let vault = node.vault.clone();
    let backend = node.db.backend().name();
    let (idle_rss, _) = memory_mb()?;
    eprintln!(
        "vault bench: backend {backend}, suite {}, cipher {}, idle rss {idle_rss:.1} MiB",
        args.suite,
        vault.cipher().name()
    );
    let mut summary = Summary::default();
    summary
        .add("bench", "vault")
        .add("backend", backend)
        .add("suite", &args.suite)
        .add("cipher", vault.cipher().name());

    if args.blob_mib > 0 {
        let (ingest_s, read_s, peak) = blob_phase(&vault, &node.identity, args.blob_mib).await?;
        let mib = args.blob_mib as f64;
        eprintln!(
            "recording: {mib} MiB ingested in {ingest_s:.2} s = {:.1} MiB/s, read back and checked in {read_s:.2} s = {:.1} MiB/s; peak rss {peak:.1} MiB = idle + {:.1} MiB",
            mib / ingest_s,
            mib / read_s,
            peak - idle_rss
        );
        summary
            .add("blob_mib", args.blob_mib)
            .add("blob_ingest_mib_per_s", format!("{:.1}", mib / ingest_s))
            .add("blob_read_mib_per_s", format!("{:.1}", mib / read_s))
            .add("idle_rss_mib", format!("{idle_rss:.1}"))
            .add("blob_peak_rss_over_idle_mib", format!("{:.1}", peak - idle_rss));
    }

    if args.records > 0 {
        let maker = Arc::new(ContentMaker::new(args.content_bytes));
        let start = vault.log().head().size;
        let run = append_many(&vault, &maker, args.writers, start, args.records, true).await?;
        let lat = Latencies::from_unsorted(run.latencies_us);
        eprintln!(
            "records: {} in {:.2} s = {}/s, p50 {} ms, p99 {} ms",
            run.appended,
            run.elapsed.as_secs_f64(),
            rate(run.appended, run.elapsed),
            lat.percentile_ms(50.0),
            lat.percentile_ms(99.0)
        );
        summary
            .add("writers", args.writers)
            .add("records", run.appended)
            .add("records_per_s", rate(run.appended, run.elapsed))
            .add("record_p50_ms", lat.percentile_ms(50.0))
            .add("record_p99_ms", lat.percentile_ms(99.0));
    }
    // Every handle on the log must be gone before the sequencer can finish.
    let Node {
        log,
        vault: v2,
        identity,
        care,
        sequencer,
        db,
        ..
    } = node;
    drop((log, v2, vault, identity, care));
    sequencer.join().await;
    db.close().await;
    drop(data_dir);
    summary.print();
    Ok(ExitCode::SUCCESS)
}

/// Stream a recording of `mib` MiB of pseudo-random bytes into the vault and read it back.
/// Returns (ingest seconds, read seconds, peak rss MiB).
async fn blob_phase(vault: &Vault, identity: &Identity, mib: u64) -> anyhow::Result<(f64, f64, f64)> {
    let total = mib << 20;
    let started = Instant::now();
    let up = vault
        .begin_upload(NewUpload {
            kind: "consultation.recording",
            subject: "bench-patient",
            source: "bench",
            media_type: "audio/ogg",
            occurred_ms: None,
            retention_class: None,
            consultation: Some("bench-consultation"),
        })
        .await?;
    let mut offset = 0u64;
    let mut rng = XorShift::new(7);
    while offset < total {
        let len = (total - offset).min(PART as u64) as usize;
        // The body arrives in 64 KiB pieces, as an HTTP body does.
        let pieces: Vec<Result<Bytes, std::convert::Infallible>> = (0..len.div_ceil(65536))
            .map(|i| {
                let n = (len - i * 65536).min(65536);
                let mut b = vec![0u8; n];
                for w in b.chunks_mut(8) {
                    let x = rng.next_u64().to_le_bytes();
                    w.copy_from_slice(&x[..w.len()]);
                }
                Ok(Bytes::from(b))
            })
            .collect();
        let st = vault
            .append_upload(&up.upload_id, offset, futures_util::stream::iter(pieces))
            .await?;
        offset = st.offset;
    }
    let receipt = vault.complete_upload(&up.upload_id).await?;
    let ingest = started.elapsed().as_secs_f64();
    let (_, peak) = memory_mb()?;

    let started = Instant::now();
    // The reader is the partner that uploaded it: the decision point permits and records it.
    let partner = Principal {
        id: "token:bench".into(),
        name: "bench".into(),
        role: tianping_identity::role::Role::Integration,
        orgs: vec![],
        guardian_of: vec![],
        verified_doctor: false,
        suspended: false,
        source: Some("bench".into()),
    };
    let permit = identity
        .authorize_record(
            &partner,
            &receipt.record_id,
            tianping_identity::consent::Purpose::Treatment,
        )
        .await?;
    let opened = vault.read(&receipt.record_id, &permit).await?;
    let mut read = 0u64;
    vault
        .for_each_chunk(&opened, |c| {
            read += c.len() as u64;
            Ok(())
        })
        .await?;
    anyhow::ensure!(read == total, "read back {read} of {total} bytes");
    Ok((ingest, started.elapsed().as_secs_f64(), peak))
}
