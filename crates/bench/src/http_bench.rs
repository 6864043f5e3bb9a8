//! `tianping-bench http`: appends through the HTTP API on loopback. The server runs in this
//! process on its own runtime and OS thread, the load generator on another runtime, each
//! connection a task with a client of its own (one keep-alive connection each).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;
use tianping_service::{Node, Settings, tokens};
use tianping_web::AppState;
use tokio::sync::oneshot;

use crate::common::{ContentMaker, Latencies, Summary, micros, rate, temp_data_dir};

const APPEND_PATH: &str = "/api/v1/log/entries";
/// Name of the API token the benchmark creates; it is also the entries' source.
const TOKEN_NAME: &str = "bench";
/// One successful response in this many has its body parsed and checked.
const CHECK_EVERY: u64 = 1000;
/// Failures described on stderr (the rest are only counted).
const ERRORS_SHOWN: u64 = 5;

#[derive(Debug, clap::Args)]
pub struct HttpArgs {
    /// Database URL (sqlite:… or postgres://…). Default: SQLite in a fresh temporary data
    /// directory. A PostgreSQL database must be empty: the log keys are generated afresh.
    #[arg(long)]
    database_url: Option<String>,
    /// Crypto suite of the new log.
    #[arg(long, default_value = "intl", value_parser = ["intl", "sm"])]
    suite: String,
    /// Concurrent connections (one task and one keep-alive connection each).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Length of the measured interval.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Load before the measured interval; not counted.
    #[arg(long, default_value_t = 3)]
    warmup_seconds: u64,
    /// Target size of each entry's content, in bytes of canonical JSON.
    #[arg(long, default_value_t = 1024)]
    content_bytes: usize,
    /// Worker threads of the server's runtime.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
    /// Worker threads of the load generator's runtime (0: one per available core).
    #[arg(long, default_value_t = 0)]
    pub client_threads: usize,
    /// Address the server listens on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Only start the server, print a wrk command line for it, and serve until Ctrl-C.
    #[arg(long)]
    print_wrk: bool,
    /// Where to create the temporary data directory (default: $TMPDIR or /tmp).
    #[arg(long)]
    tmp_dir: Option<PathBuf>,
}

/// The running in-process server.
pub(crate) struct Server {
    /// Base URL (`http://addr`).
    pub base: String,
    /// Full URL of the append endpoint.
    url: String,
    pub token: String,
    pub backend: &'static str,
    pub suite: &'static str,
    stop: oneshot::Sender<()>,
    /// Resolves to the log size after shutdown.
    thread: std::thread::JoinHandle<anyhow::Result<u64>>,
}

/// What the server thread reports once it accepts connections.
struct Ready {
    base: String,
    token: String,
    backend: &'static str,
    suite: &'static str,
}

/// How the in-process server is started.
pub(crate) struct ServerOpts {
    pub database_url: Option<String>,
    pub suite: String,
    pub listen: String,
    pub tmp_dir: Option<PathBuf>,
    pub threads: usize,
}

/// Prepares the freshly opened node for the load; returns the API token the load generator uses.
pub(crate) type Prepare = Box<
    dyn for<'a> FnOnce(
            &'a Node,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = anyhow::Result<String>> + Send + 'a>,
        > + Send,
>;

/// The plain benchmark's preparation: one API token with every scope.
fn plain_token() -> Prepare {
    Box::new(|node: &Node| {
        Box::pin(async move {
            let token = tokens::create(&node.db, TOKEN_NAME)
                .await
                .context("creating the API token")?;
            Ok(token.as_str().to_owned())
        })
    })
}

impl Server {
    /// Stop accepting, finish requests in flight, drain the sequencer; returns the log size.
    pub(crate) async fn stop(self) -> anyhow::Result<u64> {
        let _ = self.stop.send(());
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| anyhow::anyhow!("server thread panicked"))?
    }
}

async fn start_server(args: &HttpArgs) -> anyhow::Result<Server> {
    start_in_process(
        ServerOpts {
            database_url: args.database_url.clone(),
            suite: args.suite.clone(),
            listen: args.listen.clone(),
            tmp_dir: args.tmp_dir.clone(),
            threads: args.server_threads,
        },
        plain_token(),
    )
    .await
}

/// Start a server on its own runtime and OS thread, prepared by `prepare`.
pub(crate) async fn start_in_process(opts: ServerOpts, prepare: Prepare) -> anyhow::Result<Server> {
    anyhow::ensure!(opts.threads > 0, "--server-threads must be at least 1");
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let threads = opts.threads;
    let thread = std::thread::Builder::new()
        .name("bench-server".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("bench-server-rt")
                .enable_all()
                .build()
                .context("building the server runtime")?;
            rt.block_on(server_main(opts, prepare, ready_tx, stop_rx))
        })
        .context("spawning the server thread")?;
    match ready_rx.await {
        Ok(Ok(ready)) => Ok(Server {
            url: format!("{}{APPEND_PATH}", ready.base),
            base: ready.base,
            token: ready.token,
            backend: ready.backend,
            suite: ready.suite,
            stop: stop_tx,
            thread,
        }),
        Ok(Err(e)) => Err(e.context("starting the server")),
        Err(_) => match thread.join() {
            Ok(Err(e)) => Err(e.context("starting the server")),
            Ok(Ok(_)) => anyhow::bail!("the server stopped before it was ready"),
            Err(_) => anyhow::bail!("the server thread panicked"),
        },
    }
}

/// Body of the server thread: open the node in a fresh data directory, create a token, serve
/// until told to stop.
async fn server_main(
    opts: ServerOpts,
    prepare: Prepare,
    ready: oneshot::Sender<anyhow::Result<Ready>>,
    stop: oneshot::Receiver<()>,
) -> anyhow::Result<u64> {
    let setup = async {
        let data_dir = temp_data_dir(opts.tmp_dir.as_deref())?;
        let mut settings = Settings::load(None, Some(data_dir.path())).context("loading settings")?;
        if let Some(url) = opts.database_url {
            settings.database_url = url;
        }
        settings.log.suite = opts.suite;
        let max_content = settings.log.max_content_bytes;
        let node = Node::open(settings).await.context("opening the node")?;
        let token = prepare(&node).await?;
        let listener = tokio::net::TcpListener::bind(&opts.listen)
            .await
            .with_context(|| format!("binding {}", opts.listen))?;
        eprintln!(
            "server: backend {}, suite {}, data dir {}, log starts at {} entries",
            node.db.backend().name(),
            node.log.suite().name(),
            data_dir.path().display(),
            node.log.head().size
        );
        let ready = Ready {
            base: format!("http://{}", listener.local_addr()?),
            token,
            backend: node.db.backend().name(),
            suite: node.log.suite().name(),
        };
        anyhow::Ok((data_dir, node, listener, max_content, ready))
    };
    let (data_dir, node, listener, max_content, info) = match setup.await {
        Ok(v) => v,
        Err(e) => {
            let _ = ready.send(Err(e));
            anyhow::bail!("server setup failed");
        }
    };
    let Node {
        log,
        vault,
        identity,
        care,
        sequencer,
        db,
        ..
    } = node;
    let state = AppState::new(vault, identity, care, db.clone(), max_content);
    let _ = ready.send(Ok(info));
    let shutdown = async {
        let _ = stop.await;
    };
    let served = tianping_web::serve(listener, None, state, shutdown).await;
    let size = log.head().size;
    drop(log);
    sequencer.join().await;
    db.close().await;
    drop(data_dir);
    served.context("serving HTTP")?;
    Ok(size)
}

pub async fn run(args: HttpArgs, client_threads: usize) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(args.seconds > 0, "--seconds must be at least 1");
    let server = start_server(&args).await?;
    if args.print_wrk {
        return serve_for_wrk(&args, server).await;
    }
    eprintln!(
        "to measure the same with wrk instead: `tianping-bench http --print-wrk` and follow its instructions"
    );
    eprintln!(
        "load: {} connections, {} s warm-up, {} s measured, ~{} B contents, server {} threads, client {} threads",
        args.connections,
        args.warmup_seconds,
        args.seconds,
        args.content_bytes,
        args.server_threads,
        client_threads
    );

    let outcome = generate_load(&args, &server.url, &server.token).await;
    let (backend, suite) = (server.backend, server.suite);
    let log_size = server.stop().await;
    let load = outcome?;
    let log_size = log_size?;

    let latencies = Latencies::from_unsorted(load.latencies_us);
    let requests = latencies.len() as u64;
    let window = Duration::from_secs(args.seconds);
    eprintln!(
        "measured: {requests} requests in {} s = {}/s, p50 {} ms, p99 {} ms, max {} ms, {} errors; \
         {} entries appended in all (warm-up included), log size {log_size}",
        args.seconds,
        rate(requests, window),
        latencies.percentile_ms(50.0),
        latencies.percentile_ms(99.0),
        latencies.max_ms(),
        load.errors,
        load.total_ok,
    );
    let mut summary = Summary::default();
    summary
        .add("bench", "http")
        .add("backend", backend)
        .add("suite", suite)
        .add("connections", args.connections)
        .add("seconds", args.seconds)
        .add("warmup_seconds", args.warmup_seconds)
        .add("server_threads", args.server_threads)
        .add("client_threads", client_threads)
        .add("content_bytes", args.content_bytes)
        .add("requests", requests)
        .add("rps", rate(requests, window))
        .add("p50_ms", latencies.percentile_ms(50.0))
        .add("p99_ms", latencies.percentile_ms(99.0))
        .add("max_ms", latencies.max_ms())
        .add("errors", load.errors)
        .add("log_size", log_size);
    summary.print();
    if load.errors > 0 || requests == 0 {
        eprintln!(
            "FAILED: {} errors, {requests} successful requests measured",
            load.errors
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

struct LoadResult {
    /// Latencies (µs) of the 201 responses that arrived in the measured interval.
    latencies_us: Vec<u64>,
    /// Failed requests (transport errors, statuses other than 201, bad bodies) over the whole
    /// run, warm-up included.
    errors: u64,
    /// 201 responses over the whole run.
    total_ok: u64,
}

async fn generate_load(args: &HttpArgs, url: &str, token: &str) -> anyhow::Result<LoadResult> {
    let maker = Arc::new(ContentMaker::new(args.content_bytes));
    let seqs = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let oks = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let measure_start = started + Duration::from_secs(args.warmup_seconds);
    let measure_end = measure_start + Duration::from_secs(args.seconds);

    let ticker = tokio::spawn({
        let (oks, errors) = (oks.clone(), errors.clone());
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            tick.tick().await;
            loop {
                tick.tick().await;
                let phase = if Instant::now() < measure_start {
                    "warm-up"
                } else {
                    "measuring"
                };
                eprintln!(
                    "  {:.0} s ({phase}): {} ok, {} errors",
                    started.elapsed().as_secs_f64(),
                    oks.load(Ordering::Relaxed),
                    errors.load(Ordering::Relaxed)
                );
            }
        }
    });

    let mut handles = Vec::with_capacity(args.connections);
    for conn in 0..args.connections {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(30))
            .build()
            .context("building an HTTP client")?;
        let (url, token) = (url.to_owned(), token.to_owned());
        let (maker, seqs, errors, oks) = (maker.clone(), seqs.clone(), errors.clone(), oks.clone());
        handles.push(tokio::spawn(async move {
            let subject = format!("patient-{conn}");
            let mut latencies = Vec::new();
            while Instant::now() < measure_end {
                let seq = seqs.fetch_add(1, Ordering::Relaxed);
                let body = serde_json::to_vec(&json!({
                    "kind": "bench.append",
                    "subject": subject,
                    "content": maker.make(seq),
                }))
                .expect("JSON values serialise");
                let t0 = Instant::now();
                let outcome = post(&client, &url, &token, body, seq.is_multiple_of(CHECK_EVERY)).await;
                let t1 = Instant::now();
                match outcome {
                    Ok(()) => {
                        oks.fetch_add(1, Ordering::Relaxed);
                        if t1 >= measure_start && t1 < measure_end {
                            latencies.push(micros(t1 - t0));
                        }
                    }
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < ERRORS_SHOWN {
                            eprintln!("  request failed: {e:#}");
                        }
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies_us = Vec::new();
    for h in handles {
        latencies_us.extend(h.await.context("connection task panicked")?);
    }
    ticker.abort();
    Ok(LoadResult {
        latencies_us,
        errors: errors.load(Ordering::Relaxed),
        total_ok: oks.load(Ordering::Relaxed),
    })
}

/// One append. The body is always read to the end so the connection can be reused; with `check`
/// it is also parsed and must look like a receipt.
async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: Vec<u8>,
    check: bool,
) -> anyhow::Result<()> {
    let resp = client
        .post(url)
        .bearer_auth(token)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await?;
    let status = resp.status();
    let bytes = resp.bytes().await?;
    if status != StatusCode::CREATED {
        let text = String::from_utf8_lossy(&bytes);
        anyhow::bail!("status {status}: {}", text.chars().take(200).collect::<String>());
    }
    if check {
        let v: serde_json::Value = serde_json::from_slice(&bytes).context("receipt is not JSON")?;
        anyhow::ensure!(
            v["index"].is_u64() && v["checkpoint"].is_string() && v["leaf_hash"].is_string(),
            "receipt lacks index, checkpoint or leaf_hash"
        );
    }
    Ok(())
}

/// The wrk script, found relative to this crate when the binary runs where it was built.
fn wrk_script() -> String {
    let candidate = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/append.lua");
    match candidate.canonicalize() {
        Ok(p) => p.display().to_string(),
        Err(_) => "bench/append.lua".into(),
    }
}

async fn serve_for_wrk(args: &HttpArgs, server: Server) -> anyhow::Result<ExitCode> {
    let script = wrk_script();
    eprintln!("serving {} (token name {TOKEN_NAME:?})", server.url);
    eprintln!("token: {}", server.token);
    eprintln!("run wrk from another shell:");
    eprintln!();
    eprintln!(
        "  TIANPING_TOKEN={} wrk -t2 -c{} -d{}s --latency -s {script} {}",
        server.token, args.connections, args.seconds, server.url
    );
    eprintln!();
    eprintln!("press Ctrl-C to stop the server");
    let started = Instant::now();
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    eprintln!("stopping");
    let (url, backend, suite) = (server.url.clone(), server.backend, server.suite);
    let log_size = server.stop().await?;
    let mut summary = Summary::default();
    summary
        .add("bench", "http")
        .add("mode", "wrk-server")
        .add("backend", backend)
        .add("suite", suite)
        .add("server_threads", args.server_threads)
        .add("url", url)
        .add("served_s", format!("{:.1}", started.elapsed().as_secs_f64()))
        .add("log_size", log_size);
    summary.print();
    Ok(ExitCode::SUCCESS)
}
