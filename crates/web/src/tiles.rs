//! The C2SP tlog-tiles read API under `/log/`, and the log's verifier key.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tianping_log::tile::{TILE_WIDTH, TileRef, parse_tile_path};

use crate::extract::ApiPath;
use crate::{ApiError, AppState, Problem};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/log/checkpoint", get(checkpoint))
        .route("/log/vkey", get(vkey))
        .route("/log/tile/{*path}", get(tile))
}

fn text(body: String, cache: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

/// The latest signed checkpoint.
#[utoipa::path(get, path = "/log/checkpoint", tag = "tiles",
    responses((status = 200, description = "signed checkpoint note", content_type = "text/plain", body = String)))]
pub async fn checkpoint(State(s): State<AppState>) -> Response {
    text(s.log.head().note.to_string(), "no-cache")
}

/// The log's verifier key, one line in the signed-note vkey format.
#[utoipa::path(get, path = "/log/vkey", tag = "tiles",
    responses((status = 200, description = "vkey line", content_type = "text/plain", body = String)))]
pub async fn vkey(State(s): State<AppState>) -> Response {
    text(format!("{}\n", s.log.vkey()), "max-age=3600")
}

/// A Merkle tile (`<L>/<N>[.p/<W>]`) or an entry bundle (`entries/<N>[.p/<W>]`).
#[utoipa::path(get, path = "/log/tile/{path}", tag = "tiles",
    params(("path" = String, Path, description = "tile path per c2sp.org/tlog-tiles")),
    responses((status = 200, description = "tile bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn tile(State(s): State<AppState>, ApiPath(path): ApiPath<String>) -> Result<Response, ApiError> {
    let tref = parse_tile_path(&path).map_err(|e| ApiError::InvalidTilePath(format!("{path:?}: {e}")))?;
    let (body, width) = match tref {
        TileRef::Hashes { level, index, width } => {
            (s.log.reader().tile_hashes(level, index, width).await?, width)
        }
        TileRef::Entries { index, width } => (s.log.reader().entry_bundle(index, width).await?, width),
    };
    let body = body.ok_or_else(|| ApiError::NotFound(format!("tile {path} does not exist")))?;
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let cache = if u64::from(width) == TILE_WIDTH {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Ok(r)
}
