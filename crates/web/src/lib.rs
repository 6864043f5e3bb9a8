//! The HTTP edge: the JSON API under `/api/v1`, the C2SP tlog-tiles read API under `/log/`, health
//! checks, the OpenAPI document and (on a separate listener) Prometheus metrics.
//!
//! Handlers parse requests into domain values, call the service, and map errors through the one
//! table in [`error`]. They never touch SQL.

pub mod account;
pub mod api;
pub mod care;
pub mod care_pages;
pub mod error;
pub mod extract;
pub mod identity;
pub mod openapi;
pub mod operator;
pub mod privacy;
pub mod tiles;
pub mod ui;
pub mod vault;

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tianping_service::care::Care;
use tianping_service::identity::Identity;
use tianping_service::log::Log;
use tianping_service::vault::Vault;
use tianping_store::Db;
use tokio::net::TcpListener;

pub use error::{ApiError, Problem};

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    pub log: Log,
    pub vault: Vault,
    pub identity: Identity,
    pub care: Care,
    pub db: Db,
    /// Largest request body accepted, in bytes.
    pub max_body: usize,
    /// Sign-in attempts per client address (password and second factor).
    pub login_throttle: account::Throttle,
}

impl AppState {
    pub fn new(vault: Vault, identity: Identity, care: Care, db: Db, max_content_bytes: usize) -> Self {
        AppState {
            log: vault.log().clone(),
            vault,
            identity,
            care,
            db,
            // Room for the JSON around the content and for escapes that canonical form drops.
            max_body: max_content_bytes * 2 + 16 * 1024,
            login_throttle: account::Throttle::new(LOGIN_ATTEMPTS_PER_MINUTE),
        }
    }
}

/// Sign-in attempts (password or second factor) one client address may make per minute, whatever
/// accounts they name; the per-account lockout (`identity.max_failed_logins`) is the other half.
pub const LOGIN_ATTEMPTS_PER_MINUTE: u32 = 30;

/// The public router.
pub fn router(state: AppState) -> Router {
    let max_body = state.max_body;
    // The web application: pages behind the session middleware (which puts the signed-in person,
    // the session's CSRF token and the navigation into each request).
    let pages = ui::page_layers(
        Router::new()
            .merge(account::routes())
            .merge(privacy::routes())
            .merge(operator::routes())
            .merge(care_pages::routes()),
    )
    .merge(ui::foundation_routes())
    .layer(middleware::from_fn_with_state(
        state.clone(),
        account::session_layer,
    ));
    Router::new()
        .merge(api::routes())
        .merge(vault::routes())
        .merge(identity::routes())
        .merge(care::routes())
        .merge(tiles::routes())
        .merge(pages)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/openapi.json", get(openapi::serve))
        .fallback(|| async { ApiError::NotFound("no such resource".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(observe))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::Internal.into_response()
        }))
        .with_state(state)
}

/// Count and time every request by route; add security headers.
async fn observe(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let started = Instant::now();
    let mut resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::histogram!("tianping_http_request_seconds", "route" => route, "method" => method, "status" => status)
        .record(started.elapsed().as_secs_f64());
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive")))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the database answers and the sequencer runs.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready"), (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn readyz(State(s): State<AppState>) -> Result<&'static str, ApiError> {
    let db_ok = tokio::time::timeout(Duration::from_secs(2), s.db.ping())
        .await
        .is_ok_and(|r| r.is_ok());
    if db_ok && s.log.is_running() {
        Ok("ready\n")
    } else {
        Err(ApiError::NotReady)
    }
}

/// The process-wide Prometheus recorder (metrics macros use a global recorder).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder is installed");
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .expect("spawn metrics upkeep");
            handle
        })
        .clone()
}

/// The private metrics router (`GET /metrics`).
pub fn metrics_router() -> Router {
    let handle = metrics_handle();
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    )
}

/// Serve the public router on `listener` (and metrics on `metrics`) until `shutdown` resolves;
/// requests in flight are completed.
pub async fn serve(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    metrics_handle();
    let metrics_task = metrics.map(|l| {
        tokio::spawn(async move {
            let _ = axum::serve(l, metrics_router()).await;
        })
    });
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let result = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    if let Some(t) = metrics_task {
        t.abort();
    }
    result
}
