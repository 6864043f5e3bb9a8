//! Response headers for HTML pages: a content security policy that allows no script at all, no
//! framing, no referrer, no powerful features, no caching of pages that may hold personal data.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The pages' content security policy: our own stylesheet and images, forms posting only to us,
/// nothing else (in particular `script-src` falls back to `default-src 'none'`).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Every header [`page_security_headers`] sets, with its value.
pub const PAGE_HEADERS: [(&str, &str); 7] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
    ("cache-control", "no-store"),
    ("cross-origin-opener-policy", "same-origin"),
    ("x-content-type-options", "nosniff"),
];

/// Middleware for HTML page routes: sets (replacing) every header in [`PAGE_HEADERS`].
pub async fn page_security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    apply(resp.headers_mut());
    resp
}

/// Sets the page headers on `h` (used by [`super::render`] too).
pub(crate) fn apply(h: &mut axum::http::HeaderMap) {
    for (name, value) in PAGE_HEADERS {
        h.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    // A page is never served as anything else.
    if !h.contains_key(header::CONTENT_TYPE) {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn pages_get_the_security_headers() {
        let app = Router::new()
            .route(
                "/",
                get(|| async { ([(header::CACHE_CONTROL, "max-age=60")], "<p>hi</p>").into_response() }),
            )
            .layer(axum::middleware::from_fn(page_security_headers));
        let resp = app
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none';"), "{csp}");
        assert!(!csp.contains("script-src"), "scripts fall back to 'none': {csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        for directive in [
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'none'",
            "style-src 'self'",
        ] {
            assert!(csp.contains(directive), "{directive} in {csp}");
        }
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(
            h["permissions-policy"],
            "camera=(), microphone=(), geolocation=()"
        );
        assert_eq!(
            h["cache-control"], "no-store",
            "the handler's caching is overridden"
        );
        assert_eq!(h.get_all("cache-control").iter().count(), 1);
        assert_eq!(h["cross-origin-opener-policy"], "same-origin");
        assert_eq!(h["x-content-type-options"], "nosniff");
    }
}
