//! `tianping-bench`: throughput and latency of the evidence log, through the library (`log`) and
//! through HTTP (`http`). Progress goes to stderr; the last line on stdout is one summary of
//! space-separated `key=value` pairs, for scripts to collect.

mod common;
mod http_bench;
mod ingest_bench;
mod log_bench;
mod plain_insert;
mod vault_bench;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The allocator of the `tianping` binary (see there), so that the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "tianping-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Appends, growth to a large log and inclusion proofs through the library, without HTTP.
    Log(log_bench::LogArgs),
    /// Appends through the HTTP API on loopback against an in-process server.
    Http(http_bench::HttpArgs),
    /// Consultation events from the partner simulator through the batch HTTP API, and the rules alone.
    Ingest(ingest_bench::IngestArgs),
    /// Encrypted records (1 KiB, concurrent writers) and a streamed large recording through the
    /// vault.
    Vault(vault_bench::VaultArgs),
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn runtime(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Log(args) => runtime(cores()).and_then(|rt| rt.block_on(log_bench::run(args))),
        Command::Ingest(args) => runtime(cores()).and_then(|rt| rt.block_on(ingest_bench::run(args))),
        Command::Vault(args) => runtime(cores()).and_then(|rt| rt.block_on(vault_bench::run(args))),
        Command::Http(args) => {
            let workers = match args.client_threads {
                0 => cores(),
                n => n,
            };
            runtime(workers).and_then(|rt| rt.block_on(http_bench::run(args, workers)))
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
