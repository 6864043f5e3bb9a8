//! `tianping-bench ingest`: consultation events from the partner simulator through the batch HTTP
//! API (`POST /api/v1/care/events/batch`) on loopback, against an in-process server; and, first, the
//! rate of the compliance rules and red-flag matching alone (parse + evaluate, no I/O).
//!
//! Each connection runs its own simulator (seeded by its number) and sends batches of whole sessions
//! (every event of a consultation in order, many consultations per batch). A request's latency is
//! the receipt latency of every event in it: the receipts come back when all are durable.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tianping_care::event::Incoming;
use tianping_care::rules::{Facts, RuleBook};
use tianping_identity::ids::{DisplayName, LicenceNumber, LoginName, Password};
use tianping_identity::role::{OrgKind, Role};
use tianping_service::Node;
use tianping_service::identity::oversight::Verdict;
use tianping_service::identity::{DoctorApplication, SignUp};
use tianping_sim::{SimConfig, Simulator};

use crate::common::{Latencies, Summary, micros, rate};
use crate::http_bench::{Prepare, ServerOpts, start_in_process};

const BATCH_PATH: &str = "/api/v1/care/events/batch";
const ERRORS_SHOWN: u64 = 5;

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Database URL (sqlite:… or postgres://…). Default: SQLite in a fresh temporary data
    /// directory. A PostgreSQL database must be empty.
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, default_value = "intl", value_parser = ["intl", "sm"])]
    suite: String,
    /// Concurrent connections (partners' senders), each with its own simulator. Three requests of
    /// 200 events in flight is the load of the target (10,000 events/s at p99 ≤ 100 ms); more in
    /// flight raises throughput a little and latency in proportion (docs/benchmarks.md).
    #[arg(long, default_value_t = 3)]
    connections: usize,
    /// Events per batch request (whole sessions are added until the batch holds at least this many).
    #[arg(long, default_value_t = 200)]
    batch: usize,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    #[arg(long, default_value_t = 3)]
    warmup_seconds: u64,
    /// Verified doctors the simulated sessions are spread over.
    #[arg(long, default_value_t = 20)]
    doctors: usize,
    /// Worker threads of the server's runtime.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
    /// Events for the rules-alone measurement (0 skips it).
    #[arg(long, default_value_t = 200_000)]
    rules_events: usize,
    /// Where to create the temporary data directory.
    #[arg(long)]
    tmp_dir: Option<std::path::PathBuf>,
}

fn licences(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{:015}", 310_000_000_000_000u64 + i as u64))
        .collect()
}

/// The simulator's events, parsed and evaluated by the rules with no I/O: events/s of the rules
/// and red-flag matching alone.
fn rules_alone(events: usize, doctors: &[String]) -> (u64, Duration, u64, u64) {
    let mut sim = Simulator::new(SimConfig {
        seed: 7,
        doctors: doctors.to_vec(),
        ..SimConfig::default()
    });
    let mut all: Vec<Value> = Vec::with_capacity(events + 32);
    while all.len() < events {
        all.extend(sim.session().events);
    }
    let book = RuleBook::default_book();
    let started = Instant::now();
    let (mut findings, mut flags) = (0u64, 0u64);
    let mut state = None;
    for v in &all {
        let e = Incoming::parse(v).expect("simulated events parse");
        let facts = Facts {
            now_ms: e.occurred_ms.unwrap_or(tianping_sim::BASE_TIME_MS),
            liability_cover: None,
        };
        let out = tianping_care::evaluate(
            &book,
            if e.seq == 0 { None } else { state.as_ref() },
            &e,
            OrgKind::InternetHospital,
            &facts,
        )
        .expect("simulated sessions are in order");
        findings += out.findings.len() as u64;
        flags += out.flags.len() as u64;
        state = Some(out.state);
    }
    (all.len() as u64, started.elapsed(), findings, flags)
}

/// An internet hospital, an operator who verifies `doctors` doctors, and the hospital's token.
fn prepare(doctors: Vec<String>) -> Prepare {
    Box::new(move |node: &Node| {
        Box::pin(async move {
            let id = &node.identity;
            let org = id.create_org("模拟互联网医院", OrgKind::InternetHospital).await?;
            let password = "bench password 1";
            let signup = |login: &str, role: Role, doctor: Option<DoctorApplication>| {
                let l = LoginName::parse(login).expect("login");
                SignUp {
                    password: Password::parse(password, Some(&l)).expect("password"),
                    login: l,
                    display_name: DisplayName::parse("基准").expect("name"),
                    role,
                    resident_id: None,
                    phone: None,
                    doctor,
                    orgs: vec![org.id.clone()],
                }
            };
            let ops = id.register(signup("bench.ops", Role::Operator, None)).await?;
            let ops = id.principal(&id.account(&ops).await?).await?;
            for (i, lic) in doctors.iter().enumerate() {
                let app = DoctorApplication {
                    licence: LicenceNumber::parse(lic).expect("licence"),
                    institution_id: org.id.clone(),
                    specialty: "全科".into(),
                    practice_years: 10,
                    evidence: vec![],
                };
                let d = id
                    .register(signup(&format!("bench.dr{i}"), Role::Doctor, Some(app)))
                    .await?;
                id.decide_doctor(&ops, &d, Verdict::Verify, "bench").await?;
            }
            let token = tianping_service::tokens::create_scoped(
                &node.db,
                "bench-partner",
                &["events:write".into()],
                Some(&org.id),
            )
            .await
            .context("creating the partner token")?;
            Ok(token.as_str().to_owned())
        })
    })
}

#[derive(Default)]
struct Load {
    latencies_us: Vec<u64>,
    /// Events accepted in the measured interval.
    events: u64,
    bytes: u64,
    refused: u64,
    errors: u64,
    total_ok: u64,
}

async fn generate(args: &IngestArgs, url: &str, token: &str, doctors: &[String]) -> anyhow::Result<Load> {
    let errors = Arc::new(AtomicU64::new(0));
    let oks = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let measure_start = started + Duration::from_secs(args.warmup_seconds);
    let measure_end = measure_start + Duration::from_secs(args.seconds);
    let mut handles = Vec::new();
    for conn in 0..args.connections {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(60))
            .build()?;
        let (url, token) = (url.to_owned(), token.to_owned());
        let (errors, oks) = (errors.clone(), oks.clone());
        let batch = args.batch;
        let mut sim = Simulator::new(SimConfig {
            seed: 1000 + conn as u64,
            doctors: doctors.to_vec(),
            patients: 200,
            ..SimConfig::default()
        });
        handles.push(tokio::spawn(async move {
            let mut out = Load::default();
            while Instant::now() < measure_end {
                let mut events: Vec<Value> = Vec::with_capacity(batch + 16);
                while events.len() < batch {
                    events.extend(sim.session().events);
                }
                let body = serde_json::to_vec(&json!({ "events": events })).expect("JSON");
                let len = body.len() as u64;
                let t0 = Instant::now();
                let r = send(&client, &url, &token, body).await;
                let t1 = Instant::now();
                match r {
                    Ok((accepted, refused)) => {
                        oks.fetch_add(accepted, Ordering::Relaxed);
                        out.total_ok += accepted;
                        out.refused += refused;
                        if refused > 0 && errors.fetch_add(1, Ordering::Relaxed) < ERRORS_SHOWN {
                            eprintln!("  {refused} events refused in a batch");
                        }
                        if t1 >= measure_start && t1 < measure_end {
                            out.latencies_us.push(micros(t1 - t0));
                            out.events += accepted;
                            out.bytes += len;
                        }
                    }
                    Err(e) => {
                        out.errors += 1;
                        if errors.fetch_add(1, Ordering::Relaxed) < ERRORS_SHOWN {
                            eprintln!("  request failed: {e:#}");
                        }
                    }
                }
            }
            out
        }));
    }
    let mut all = Load::default();
    for h in handles {
        let l = h.await.context("connection task panicked")?;
        all.latencies_us.extend(l.latencies_us);
        all.events += l.events;
        all.bytes += l.bytes;
        all.refused += l.refused;
        all.errors += l.errors;
        all.total_ok += l.total_ok;
    }
    Ok(all)
}

/// One batch; returns (accepted, refused) events. Every receipt is checked for an index.
async fn send(client: &reqwest::Client, url: &str, token: &str, body: Vec<u8>) -> anyhow::Result<(u64, u64)> {
    let resp = client
        .post(url)
        .bearer_auth(token)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await?;
    let status = resp.status();
    let bytes = resp.bytes().await?;
    anyhow::ensure!(
        status == reqwest::StatusCode::OK,
        "status {status}: {}",
        String::from_utf8_lossy(&bytes)
            .chars()
            .take(300)
            .collect::<String>()
    );
    let v: Value = serde_json::from_slice(&bytes).context("batch answer is not JSON")?;
    let results = v["results"].as_array().context("no results")?;
    let mut ok = 0;
    let mut refused = 0;
    for r in results {
        if r["status"] == 201 && r["receipt"]["index"].is_u64() {
            ok += 1;
        } else {
            refused += 1;
            if refused == 1 {
                eprintln!("  refused: {}", r["problem"]);
            }
        }
    }
    Ok((ok, refused))
}

pub async fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.connections > 0 && args.batch > 0 && args.seconds > 0,
        "bad arguments"
    );
    let doctors = licences(args.doctors.max(1));
    let mut summary = Summary::default();
    summary.add("bench", "ingest");
    if args.rules_events > 0 {
        let (n, took, findings, flags) = rules_alone(args.rules_events, &doctors);
        eprintln!(
            "rules alone: {n} events parsed and evaluated in {:.2} s = {}/s on one core ({findings} findings, {flags} red flags)",
            took.as_secs_f64(),
            rate(n, took)
        );
        summary.add("rules_events_per_s", rate(n, took));
    }
    let server = start_in_process(
        ServerOpts {
            database_url: args.database_url.clone(),
            suite: args.suite.clone(),
            listen: "127.0.0.1:0".into(),
            tmp_dir: args.tmp_dir.clone(),
            threads: args.server_threads,
        },
        prepare(doctors.clone()),
    )
    .await?;
    eprintln!(
        "load: {} connections, batches of ≥{} events, {} s warm-up, {} s measured",
        args.connections, args.batch, args.warmup_seconds, args.seconds
    );
    let url = format!("{}{BATCH_PATH}", server.base);
    let load = generate(&args, &url, &server.token, &doctors).await;
    let (backend, suite) = (server.backend, server.suite);
    let log_size = server.stop().await;
    let load = load?;
    let log_size = log_size?;
    let window = Duration::from_secs(args.seconds);
    let lat = Latencies::from_unsorted(load.latencies_us);
    let mean_event = load.bytes.checked_div(load.events.max(1)).unwrap_or(0);
    eprintln!(
        "measured: {} events in {} requests in {} s = {} events/s, receipt latency p50 {} ms p99 {} ms max {} ms; \
         ~{mean_event} B per event on the wire; {} refused, {} failed requests; log size {log_size}",
        load.events,
        lat.len(),
        args.seconds,
        rate(load.events, window),
        lat.percentile_ms(50.0),
        lat.percentile_ms(99.0),
        lat.max_ms(),
        load.refused,
        load.errors
    );
    summary
        .add("backend", backend)
        .add("suite", suite)
        .add("connections", args.connections)
        .add("batch", args.batch)
        .add("seconds", args.seconds)
        .add("events", load.events)
        .add("events_per_s", rate(load.events, window))
        .add("requests", lat.len())
        .add("p50_ms", lat.percentile_ms(50.0))
        .add("p99_ms", lat.percentile_ms(99.0))
        .add("max_ms", lat.max_ms())
        .add("refused", load.refused)
        .add("errors", load.errors)
        .add("accepted_total", load.total_ok)
        .add("log_size", log_size);
    summary.print();
    if load.errors > 0 || load.refused > 0 || load.events == 0 {
        eprintln!(
            "FAILED: {} failed requests, {} refused events",
            load.errors, load.refused
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
