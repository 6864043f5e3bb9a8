//! `tianping`: the one binary. Subcommands parse their arguments, open what they need and call the
//! service and web crates; no logic of its own lives here.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use clap::{Args, Parser, Subcommand};
use tianping_log::envelope::{SALT_LEN, canonical_json};
use tianping_service::log::{Log, audit};
use tianping_service::{LogKeys, Node, Settings, Suite, open_db, tokens};
use tianping_web::AppState;

/// mimalloc instead of the C library's allocator, in this binary and in `tianping-bench` alike: the
/// log's appenders allocate records on the runtime's threads and the sequencer frees them on its
/// own, and glibc's arenas made those frees wait on each other's locks (measured: appends 10–15%
/// faster with mimalloc, docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tianping",
    version,
    about = "天平 Tianping: evidence log and risk-sharing platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where configuration and data come from. Flags override the TOML file and `TIANPING__…` variables.
#[derive(Args, Clone)]
struct Common {
    /// TOML configuration file (default: `<data-dir>/tianping.toml` when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory: embedded database, keys, files.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL (`sqlite://…` or `postgres://…`); default: SQLite in the data directory.
    #[arg(long, global = true)]
    database_url: Option<String>,
}

impl Common {
    fn settings(&self) -> anyhow::Result<Settings> {
        let mut s = Settings::load(self.config.as_deref(), self.data_dir.as_deref())
            .context("loading configuration")?;
        if let Some(url) = &self.database_url {
            s.database_url = url.clone();
        }
        Ok(s)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Start the server (creating the database and keys on first start).
    Serve {
        #[command(flatten)]
        common: Common,
        /// Public HTTP address.
        #[arg(long)]
        listen: Option<String>,
        /// Private metrics address; empty string disables it.
        #[arg(long)]
        metrics_listen: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// Generate the log's keys in the data directory (refuses to overwrite) and print the vkeys.
    Keygen {
        #[command(flatten)]
        common: Common,
        /// Log origin, also the key name.
        #[arg(long)]
        origin: Option<String>,
        /// Crypto suite: intl or sm.
        #[arg(long)]
        suite: Option<String>,
    },
    /// API tokens for integrations.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Verify an exported tlog-proof against a trust policy, offline. Exit 0 valid, 1 invalid.
    Verify {
        /// Trust policy in the c2sp.org/tlog-policy format.
        #[arg(long)]
        policy: PathBuf,
        /// The proof file (c2sp.org/tlog-proof@v1).
        proof: PathBuf,
        /// Content file to check against the entry's commitment (JSON is canonicalised first).
        #[arg(long, requires = "salt")]
        content: Option<PathBuf>,
        /// The commitment salt (base64), as returned when the entry was appended.
        #[arg(long, requires = "content")]
        salt: Option<String>,
    },
    /// Evidence-log maintenance.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// Key-encryption keys of the vault.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Retention of vault records.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Right of access (PIPL-45): export what the vault holds.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// The encrypted vault.
    Vault {
        #[command(subcommand)]
        command: VaultCommand,
    },
    /// Organisations (medical institutions, platforms, insurers, …).
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Accounts created by an operator (staff roles; people sign up themselves on the web).
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Online care: consultations partners report.
    Care {
        #[command(subcommand)]
        command: CareCommand,
    },
}

#[derive(Subcommand)]
enum CareCommand {
    /// The fees a patient paid for one doctor's consultations, with the receipt (log index) of each
    /// payment (seed 000), at the patient's request: prints one line per payment, then the total in
    /// fen as the last line. The access is recorded in the patient's access log.
    Refund {
        #[command(flatten)]
        common: Common,
        /// The patient's account id.
        #[arg(long)]
        patient: String,
        /// The doctor's account id.
        #[arg(long)]
        doctor: String,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organisation; prints its id as the last line.
    Create {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        name: String,
        /// medical_institution, internet_hospital, consultation_platform, insurer,
        /// mediation_committee, legal_aid_body or regulator.
        #[arg(long)]
        kind: String,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account; the password is read from the environment variable TIANPING_PASSWORD
    /// (never from the command line). Prints the account id as the last line. Staff roles enrol
    /// TOTP at their first sign-in.
    Create {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        login: String,
        #[arg(long)]
        name: String,
        /// One of the roles (patient, doctor, operator, regulator, mediator, …).
        #[arg(long)]
        role: String,
        /// Organisation ids the account belongs to (repeatable).
        #[arg(long)]
        org: Vec<String>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a new key-encryption key active and re-wrap every subject key under it (content is
    /// not re-encrypted).
    Rotate {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Crypto-shred every record past its retention deadline that no legal hold covers, with a
    /// tombstone entry citing the legal basis; remove abandoned uploads.
    Run {
        #[command(flatten)]
        common: Common,
        /// Report what would be shredded without changing anything.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Every record of a subject, decrypted, each with its inclusion proof: writes
    /// `export.json`, one `<id>.tlog-proof` and one `<id>.content` file per readable record.
    Subject {
        #[command(flatten)]
        common: Common,
        /// The subject as the sources name it.
        #[arg(long)]
        subject: String,
        /// Output directory (created; must be empty or absent).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum VaultCommand {
    /// Decrypt and check every record and blob against its log commitment. Exit 1 on any finding.
    Audit {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; the secret is printed once, as the last line.
    Create {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        name: String,
        /// Limit the token to these scopes (repeatable): events:write, records:read,
        /// holds:manage, lifecycle:manage. Without any, the token has every scope.
        #[arg(long)]
        scope: Vec<String>,
        /// The partner organisation the token acts for.
        #[arg(long)]
        org: Option<String>,
    },
    /// Revoke the token with this name.
    Revoke {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        name: String,
    },
    /// List tokens (names and dates, never secrets).
    List {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum LogCommand {
    /// Recompute every hash from storage and check each checkpoint against the next. Exit 1 on
    /// the first divergence.
    Audit {
        #[command(flatten)]
        common: Common,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TIANPING_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("错误 / error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            common,
            listen,
            metrics_listen,
        } => {
            let mut settings = common.settings()?;
            if let Some(l) = listen {
                settings.listen = l;
            }
            if let Some(m) = metrics_listen {
                settings.metrics_listen = m;
            }
            serve(settings).await?;
        }
        Command::Migrate { common } => {
            let settings = common.settings()?;
            let db = open_db(&settings).await?;
            println!("migrations applied ({})", db.backend().name());
        }
        Command::Keygen {
            common,
            origin,
            suite,
        } => {
            let settings = common.settings()?;
            tianping_service::ensure_data_dir(&settings.data_dir)?;
            let origin = origin.unwrap_or(settings.log.origin);
            let suite = Suite::parse(&suite.unwrap_or(settings.log.suite))?;
            let keys = LogKeys::create(&settings.data_dir, &origin, suite)?;
            for v in keys.verifiers() {
                println!("{v}");
            }
        }
        Command::Token { command } => match command {
            TokenCommand::Create {
                common,
                name,
                scope,
                org,
            } => {
                let db = open_db(&common.settings()?).await?;
                if let Some(o) = &org
                    && tianping_store::identity::org(&db, o).await?.is_none()
                {
                    bail!("no organisation with id {o}");
                }
                let secret = tokens::create_scoped(&db, &name, &scope, org.as_deref()).await?;
                println!("token {name:?} created; it is shown only once:");
                println!("{}", secret.as_str());
            }
            TokenCommand::Revoke { common, name } => {
                let db = open_db(&common.settings()?).await?;
                tokens::revoke(&db, &name).await?;
                println!("token {name:?} revoked");
            }
            TokenCommand::List { common } => {
                let db = open_db(&common.settings()?).await?;
                for t in tokens::list(&db).await? {
                    let state = if t.revoked_ms.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!("{}\t{}\tcreated_ms={}", t.name, state, t.created_ms);
                }
            }
        },
        Command::Org {
            command: OrgCommand::Create { common, name, kind },
        } => {
            let node = Node::open(common.settings()?).await?;
            let kind: tianping_identity::role::OrgKind = kind.parse()?;
            let org = node.identity.create_org(&name, kind).await?;
            println!("organisation {:?} created ({}):", org.name, org.kind);
            println!("{}", org.id);
        }
        Command::Account {
            command:
                AccountCommand::Create {
                    common,
                    login,
                    name,
                    role,
                    org,
                },
        } => {
            use tianping_identity::ids::{DisplayName, LoginName, Password};
            let password = zeroize::Zeroizing::new(
                std::env::var("TIANPING_PASSWORD")
                    .context("set TIANPING_PASSWORD to the new account's password")?,
            );
            let login = LoginName::parse(&login)?;
            let node = Node::open(common.settings()?).await?;
            let id = node
                .identity
                .register(tianping_service::identity::SignUp {
                    password: Password::parse(&password, Some(&login))?,
                    login,
                    display_name: DisplayName::parse(&name)?,
                    role: role.parse()?,
                    resident_id: None,
                    phone: None,
                    doctor: None,
                    orgs: org,
                })
                .await?;
            println!("account created:");
            println!("{id}");
        }
        Command::Verify {
            policy,
            proof,
            content,
            salt,
        } => return verify(policy, proof, content, salt),
        Command::Log {
            command: LogCommand::Audit { common },
        } => return audit_log(common).await,
        Command::Keys {
            command: KeysCommand::Rotate { common },
        } => {
            let node = Node::open(common.settings()?).await?;
            let r = tianping_service::vault::rotate(&node.keyring, &node.db).await?;
            println!(
                "new key-encryption key {}; subject keys re-wrapped: {}",
                r.new_kek, r.rewrapped
            );
            println!("rewrapped={} kek={}", r.rewrapped, r.new_kek);
        }
        Command::Retention {
            command: RetentionCommand::Run { common, dry_run },
        } => {
            let node = Node::open(common.settings()?).await?;
            let now = tianping_service::log::now_ms() as i64;
            let r = node.vault.run_retention(now, dry_run, "tianping-cli").await?;
            let verb = if dry_run { "would shred" } else { "shredded" };
            println!(
                "保留期清理{}：过期 {}，{} {}，因法律冻结保留 {}。\nretention run{}: {} expired, {verb} {}, kept under legal hold {}.",
                if dry_run { "（演练）" } else { "" },
                r.expired,
                if dry_run { "将销毁" } else { "已销毁" },
                r.shredded,
                r.held,
                if dry_run { " (dry run)" } else { "" },
                r.expired,
                r.shredded,
                r.held
            );
            println!(
                "dry_run={} expired={} shredded={} held={} subject_keys_destroyed={} blobs_deleted={} stale_uploads_removed={}",
                r.dry_run,
                r.expired,
                r.shredded,
                r.held,
                r.subject_keys_destroyed,
                r.blobs_deleted,
                r.stale_uploads_removed
            );
        }
        Command::Export {
            command: ExportCommand::Subject { common, subject, out },
        } => export_subject(common, &subject, &out).await?,
        Command::Vault {
            command: VaultCommand::Audit { common },
        } => return audit_vault(common).await,
        Command::Care {
            command:
                CareCommand::Refund {
                    common,
                    patient,
                    doctor,
                },
        } => refund(common, &patient, &doctor).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    // Metrics are an aid, not a reason to refuse service: a busy metrics port is only a warning.
    let metrics = if settings.metrics_listen.is_empty() {
        None
    } else {
        match tokio::net::TcpListener::bind(&settings.metrics_listen).await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(address = %settings.metrics_listen, error = %e, "metrics listener not started");
                None
            }
        }
    };
    let max_content = settings.log.max_content_bytes;
    let node = Node::open(settings).await?;
    if node.keys_created {
        tracing::info!(dir = %node.settings.data_dir.display(), "generated new log keys");
    }
    tracing::info!(
        listen = %listener.local_addr()?,
        metrics = ?metrics.as_ref().and_then(|m| m.local_addr().ok()),
        database = node.db.backend().name(),
        origin = node.log.origin(),
        suite = node.log.suite().name(),
        size = node.log.head().size,
        "tianping serving"
    );
    println!("vkey {}", node.log.vkey());
    if let Some(m) = &metrics {
        println!("metrics on http://{}/metrics", m.local_addr()?);
    }
    println!("listening on http://{}", listener.local_addr()?);
    let state = AppState::new(
        node.vault.clone(),
        node.identity.clone(),
        node.care.clone(),
        node.db.clone(),
        max_content,
    );
    let Node {
        log,
        vault,
        identity,
        care,
        sequencer,
        db,
        _writer_lock,
        ..
    } = node;
    // Every handle on the log must go with the router, or the sequencer never learns to stop.
    drop::<Log>(log);
    drop(vault);
    drop(identity);
    // The duty clock escalates overdue red-flag alerts while the server runs.
    let duty_clock = tokio::spawn(care.run_duty_clock());
    tianping_web::serve(listener, metrics, state, shutdown_signal()).await?;
    duty_clock.abort();
    let _ = duty_clock.await;
    // The router and its state are gone: the sequencer drains what was queued, then stops.
    sequencer.join().await;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
}

fn verify(
    policy: PathBuf,
    proof: PathBuf,
    content: Option<PathBuf>,
    salt: Option<String>,
) -> anyhow::Result<ExitCode> {
    let policy = std::fs::read_to_string(&policy).with_context(|| format!("reading {}", policy.display()))?;
    let proof = std::fs::read(&proof).with_context(|| format!("reading {}", proof.display()))?;
    let content = content
        .map(|p| std::fs::read(&p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    let salt = match salt {
        Some(s) => {
            let bytes = B64.decode(s.trim()).context("--salt is not base64")?;
            let Ok(salt) = <[u8; SALT_LEN]>::try_from(bytes.as_slice()) else {
                bail!("--salt must be {SALT_LEN} bytes");
            };
            Some(salt)
        }
        None => None,
    };
    let report = match String::from_utf8(proof) {
        Ok(text) => tianping_log::verify::verify(
            &policy,
            &text,
            content
                .as_deref()
                .zip(salt)
                .map(|(content, salt)| tianping_log::verify::ContentCheck { content, salt }),
        ),
        Err(_) => {
            println!("✗ 证明文件不是 UTF-8 文本\n  the proof file is not UTF-8 text");
            println!("结果：证明无效。\nResult: the proof is INVALID.");
            return Ok(ExitCode::from(1));
        }
    };
    print!("{}", report.render());
    Ok(if report.valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn refund(common: Common, patient: &str, doctor: &str) -> anyhow::Result<()> {
    let node = Node::open(common.settings()?).await?;
    let who = node.identity.subject_request_principal(patient).await?;
    let r = node.care.refund(&who, patient, doctor).await?;
    println!("consultation\toccurred_ms\tfee_fen\tlog_index");
    for l in &r.lines {
        println!(
            "{}\t{}\t{}\t{}",
            l.consultation, l.occurred_ms, l.fee_fen, l.log_index
        );
    }
    eprintln!(
        "paid to all doctors: {} fen; topped up: {} fen; refund for this doctor's consultations:",
        r.paid_all_doctors_fen, r.topped_up_fen
    );
    println!("{}", r.total_fen);
    Ok(())
}

async fn export_subject(common: Common, subject: &str, out: &std::path::Path) -> anyhow::Result<()> {
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        bail!("{} is not empty", out.display());
    }
    std::fs::create_dir_all(out)?;
    let node = Node::open(common.settings()?).await?;
    let who = node.identity.subject_request_principal(subject).await?;
    let permit = node
        .identity
        .authorize_export(&who, subject, tianping_identity::consent::Purpose::Treatment)
        .await?;
    let export = node.vault.export_subject(subject, &permit).await?;
    for r in &export.records {
        std::fs::write(out.join(format!("{}.tlog-proof", r.id)), &r.proof)?;
        if r.commitment_salt.is_none() {
            continue;
        }
        let path = out.join(format!("{}.content", r.id));
        // The exact bytes committed to: inline content is already in the export (JSON is stored in
        // canonical form); a blob is read and written chunk by chunk, every chunk authenticated,
        // and the file removed if any chunk fails.
        if let Some(json) = &r.content {
            std::fs::write(&path, canonical_json(json))?;
        } else if let Some(b64) = &r.content_base64 {
            std::fs::write(&path, B64.decode(b64)?)?;
        } else if r.blob {
            use std::io::Write;
            let opened = node.vault.read(&r.id, &permit).await?;
            let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
            let written = node
                .vault
                .for_each_chunk(&opened, |chunk| {
                    f.write_all(chunk)
                        .map_err(|e| tianping_service::vault::VaultError::Storage(e.to_string()))
                })
                .await;
            if let Err(e) = written.map_err(anyhow::Error::from).and_then(|_| Ok(f.flush()?)) {
                drop(f);
                std::fs::remove_file(&path)?;
                return Err(e);
            }
        }
    }
    std::fs::write(out.join("export.json"), serde_json::to_vec_pretty(&export)?)?;
    println!(
        "导出 {} 条记录 / exported {} records to {}",
        export.records.len(),
        export.records.len(),
        out.display()
    );
    Ok(())
}

async fn audit_vault(common: Common) -> anyhow::Result<ExitCode> {
    let node = Node::open(common.settings()?).await?;
    let started = std::time::Instant::now();
    let report = tianping_service::vault::audit(&node.vault).await?;
    for f in &report.findings {
        println!("finding: {f}");
    }
    println!(
        "records={} blobs={} shredded={} findings={} seconds={:.1}",
        report.records,
        report.blobs,
        report.shredded,
        report.findings_total,
        started.elapsed().as_secs_f64()
    );
    if report.findings_total == 0 {
        println!(
            "保险库审计通过：所有密文可解密且与日志承诺一致。\nvault audit passed: every ciphertext decrypts and matches its log commitment."
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "保险库审计失败 / vault audit FAILED: {} findings",
            report.findings_total
        );
        Ok(ExitCode::from(1))
    }
}

async fn audit_log(common: Common) -> anyhow::Result<ExitCode> {
    let settings = common.settings()?;
    let db = open_db(&settings).await?;
    let keys = LogKeys::load(&settings.data_dir).context("loading the log keys")?;
    let started = std::time::Instant::now();
    let report = audit(&db, keys.suite.hash(), &keys.verifiers()).await?;
    println!(
        "entries={} checkpoints={} tiles={} seconds={:.1}",
        report.entries,
        report.checkpoints,
        report.tiles,
        started.elapsed().as_secs_f64()
    );
    match &report.divergence {
        None => {
            println!(
                "审计通过：存储中的日志与所有检查点一致。\naudit passed: the stored log matches every checkpoint."
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(d) => {
            println!("审计失败，首个不一致处 / audit FAILED, first divergence: {d}");
            Ok(ExitCode::from(1))
        }
    }
}
