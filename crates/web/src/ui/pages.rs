//! The foundation's routes: the stylesheet, the home page, the language switch, and the 404 page.

use std::sync::LazyLock;

use askama::Template;
use axum::Router;
use axum::extract::Form;
use axum::extract::rejection::FormRejection;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::i18n::{LANG_COOKIE, Locale};
use super::{PageCtx, csrf, headers, paths, render, render_status};

/// The stylesheet, compiled in.
const STYLESHEET: &str = include_str!("../../static/app.css");
const STYLESHEET_PATH: &str = "/static/app.css";
/// How long the language choice is remembered: a year.
const LANG_COOKIE_MAX_AGE: i64 = 365 * 24 * 60 * 60;
/// The longest `next` the language switch accepts.
const MAX_NEXT_LEN: usize = 2048;

static STYLESHEET_HREF: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(STYLESHEET.as_bytes());
    format!("{STYLESHEET_PATH}?v={}", &hex::encode(digest)[..16])
});

/// The stylesheet's URL; its query changes with the content, so it can be cached for long.
pub fn stylesheet_href() -> &'static str {
    STYLESHEET_HREF.as_str()
}

/// The foundation's routes, to be merged into the public router.
pub fn foundation_routes() -> Router<crate::AppState> {
    routes()
}

fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let pages = Router::new()
        .route(paths::HOME, get(home))
        .route(paths::LANG, post(switch_language));
    Router::new()
        .route(STYLESHEET_PATH, get(stylesheet))
        .merge(page_layers(pages))
}

/// Wraps a router of HTML pages with what every page needs: the anonymous CSRF cookie
/// ([`csrf::ensure_csrf_cookie`]) and the security headers ([`headers::page_security_headers`]).
/// Session middleware that inserts [`csrf::SessionCsrf`] and [`super::UserNav`] goes outside
/// (layered after) this.
pub fn page_layers<S: Clone + Send + Sync + 'static>(pages: Router<S>) -> Router<S> {
    pages
        .layer(middleware::from_fn(csrf::ensure_csrf_cookie))
        .layer(middleware::from_fn(headers::page_security_headers))
}

async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        STYLESHEET,
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    ctx: PageCtx,
}

async fn home(ctx: PageCtx) -> Response {
    render(&HomePage { ctx })
}

/// A page that says what went wrong (400, 404, …).
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub ctx: PageCtx,
    /// Already translated.
    pub title: String,
    /// Already translated.
    pub message: String,
}

/// An error page with `status`, title key and message key.
pub fn error_page(ctx: PageCtx, status: StatusCode, title_key: ErrorKey, message_key: ErrorKey) -> Response {
    let title = ctx.t(title_key.0);
    let message = ctx.t(message_key.0);
    render_status(status, &ErrorPage { ctx, title, message })
}

/// A message id for [`error_page`], made only from the constants below so the key scan sees them.
#[derive(Clone, Copy, Debug)]
pub struct ErrorKey(&'static str);

impl ErrorKey {
    pub const BAD_REQUEST: ErrorKey = ErrorKey("error-bad-request-title");
    pub const CSRF: ErrorKey = ErrorKey("error-csrf");
    pub const LANG_INPUT: ErrorKey = ErrorKey("error-lang-input");
    pub const NOT_FOUND: ErrorKey = ErrorKey("error-not-found-title");
    pub const NOT_FOUND_BODY: ErrorKey = ErrorKey("error-not-found-body");
    pub const ACCESS_DENIED: ErrorKey = ErrorKey("error-access-denied-title");
    pub const ACCESS_DENIED_BODY: ErrorKey = ErrorKey("error-access-denied-body");
    pub const OPERATORS_ONLY: ErrorKey = ErrorKey("error-operators-only");
    /// Every key, for the test that they are translated.
    pub const ALL: [ErrorKey; 8] = [
        ErrorKey::BAD_REQUEST,
        ErrorKey::CSRF,
        ErrorKey::LANG_INPUT,
        ErrorKey::NOT_FOUND,
        ErrorKey::NOT_FOUND_BODY,
        ErrorKey::ACCESS_DENIED,
        ErrorKey::ACCESS_DENIED_BODY,
        ErrorKey::OPERATORS_ONLY,
    ];
}

/// The 404 page for a request that went through [`page_layers`] (a fallback handler).
pub async fn not_found(ctx: PageCtx) -> Response {
    error_page(
        ctx,
        StatusCode::NOT_FOUND,
        ErrorKey::NOT_FOUND,
        ErrorKey::NOT_FOUND_BODY,
    )
}

/// The 404 page in `locale`, usable anywhere (it has no forms: no CSRF token is at hand).
pub fn not_found_page(locale: Locale) -> Response {
    let ctx = PageCtx::anonymous(locale, "", paths::HOME);
    error_page(
        ctx,
        StatusCode::NOT_FOUND,
        ErrorKey::NOT_FOUND,
        ErrorKey::NOT_FOUND_BODY,
    )
}

/// The language switch's form. Fields default to empty so a missing one is answered with our
/// own 400 page rather than the extractor's rejection.
#[derive(Deserialize, Default)]
#[serde(default)]
struct LangForm {
    lang: String,
    next: String,
    csrf: String,
}

/// Whether `next` is a path on this site: starts with one `/` (not `//` or `/\`, which browsers
/// read as another host), visible ASCII only, bounded length.
pub fn is_local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.len() <= MAX_NEXT_LEN
        && next.bytes().all(|b| b.is_ascii_graphic())
}

/// `POST /lang`: remember the chosen language for a year and go back to `next` (303).
async fn switch_language(
    ctx: PageCtx,
    extensions: Extensions,
    headers: HeaderMap,
    form: Result<Form<LangForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(
            ctx,
            StatusCode::BAD_REQUEST,
            ErrorKey::BAD_REQUEST,
            ErrorKey::LANG_INPUT,
        );
    };
    if !csrf::check(&extensions, &headers, &form.csrf) {
        return error_page(ctx, StatusCode::FORBIDDEN, ErrorKey::BAD_REQUEST, ErrorKey::CSRF);
    }
    let (Some(locale), true) = (Locale::from_tag(&form.lang), is_local_path(&form.next)) else {
        return error_page(
            ctx,
            StatusCode::BAD_REQUEST,
            ErrorKey::BAD_REQUEST,
            ErrorKey::LANG_INPUT,
        );
    };
    let Ok(location) = HeaderValue::from_str(&form.next) else {
        return error_page(
            ctx,
            StatusCode::BAD_REQUEST,
            ErrorKey::BAD_REQUEST,
            ErrorKey::LANG_INPUT,
        );
    };
    let secure = csrf::CookieSecurity::of(&extensions);
    let cookie = csrf::set_cookie(LANG_COOKIE, locale.tag(), Some(LANG_COOKIE_MAX_AGE), secure);
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, location), (SET_COOKIE, cookie)],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    use super::super::{SelectOption, UserNav, i18n::t};
    use super::*;

    async fn send(req: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let app = routes::<()>().fallback(not_found);
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    fn get_req(path: &str, headers: &[(&str, &str)]) -> Request<Body> {
        let mut b = Request::get(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    fn post_form(path: &str, body: &str, cookie: Option<&str>) -> Request<Body> {
        let mut b = Request::post(path).header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            b = b.header("cookie", c);
        }
        b.body(Body::from(body.to_owned())).unwrap()
    }

    fn csrf_cookie_of(h: &HeaderMap) -> Option<String> {
        h.get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("tp_csrf="))
            .map(|v| v.split(';').next().unwrap().to_owned())
    }

    fn hidden_csrf(html: &str) -> String {
        let marker = r#"name="csrf" value=""#;
        let i = html.find(marker).expect("a csrf field") + marker.len();
        html[i..i + html[i..].find('"').unwrap()].to_owned()
    }

    #[tokio::test]
    async fn home_page_is_chinese_by_default_and_sets_the_csrf_cookie() {
        let (status, h, html) = send(get_req("/", &[])).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(h[CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        assert!(html.contains(r#"<html lang="zh-CN">"#));
        assert!(html.contains(&t(Locale::ZhCn, "home-heading")));
        assert!(html.contains(r#"<main id="main""#));
        assert!(html.contains(r##"href="#main""##), "skip link");
        assert!(!html.to_lowercase().contains("<script"), "no scripts");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .starts_with("default-src 'none'")
        );
        let token = csrf_cookie_of(&h).expect("a tp_csrf cookie");
        assert!(csrf::is_token(&token));
        let set = h[SET_COOKIE].to_str().unwrap();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"),
            "{set}"
        );
        assert_eq!(hidden_csrf(&html), token, "the form carries the cookie's token");
        // Signed out: login and sign-up links, the language switch, no sign-out.
        assert!(html.contains(r#"href="/login""#) && html.contains(r#"href="/signup""#));
        assert!(html.contains(r#"action="/lang""#));
        assert!(html.contains(r#"name="lang" value="en-US""#));
        assert!(!html.contains(r#"action="/logout""#));
        assert!(html.contains(stylesheet_href()));
    }

    #[tokio::test]
    async fn an_existing_cookie_is_kept_and_english_is_negotiated() {
        let token = csrf::new_token();
        let cookie = format!("tp_csrf={token}");
        let (status, h, html) = send(get_req(
            "/",
            &[
                ("cookie", &cookie),
                ("accept-language", "en-GB,en;q=0.9,zh;q=0.5"),
            ],
        ))
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(h.get(SET_COOKIE).is_none(), "no new cookie");
        assert_eq!(hidden_csrf(&html), token);
        assert!(html.contains(r#"<html lang="en-US">"#));
        assert!(html.contains(&t(Locale::EnUs, "home-heading")));
        assert!(html.contains(r#"name="lang" value="zh-CN""#));
        // The explicit choice beats the browser's.
        let cookie = format!("tp_csrf={token}; tp_lang=zh-CN");
        let (_, _, html) = send(get_req("/", &[("cookie", &cookie), ("accept-language", "en")])).await;
        assert!(html.contains(r#"<html lang="zh-CN">"#));
    }

    #[tokio::test]
    async fn switching_language_sets_the_cookie_and_redirects() {
        let token = csrf::new_token();
        let cookie = format!("tp_csrf={token}");
        let body = format!("lang=en-US&next=%2Fprivacy%3Ftab%3D2&csrf={token}");
        let (status, h, _) = send(post_form("/lang", &body, Some(&cookie))).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(h[LOCATION], "/privacy?tab=2");
        let set: Vec<_> = h
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert!(
            set.iter()
                .any(|c| c == "tp_lang=en-US; HttpOnly; SameSite=Strict; Path=/; Max-Age=31536000"),
            "{set:?}"
        );
        assert_eq!(h["cache-control"], "no-store");
    }

    #[tokio::test]
    async fn bad_language_switches_are_refused_with_a_translated_page() {
        let token = csrf::new_token();
        let cookie = format!("tp_csrf={token}");
        let other = csrf::new_token();
        let cases: Vec<(String, Option<&str>, &str)> = vec![
            // No csrf field, a wrong one, one without a cookie to match.
            ("lang=en-US&next=%2F".into(), Some(&cookie), "error-csrf"),
            (
                format!("lang=en-US&next=%2F&csrf={other}"),
                Some(&cookie),
                "error-csrf",
            ),
            (format!("lang=en-US&next=%2F&csrf={token}"), None, "error-csrf"),
            (
                "lang=en-US&next=%2F&csrf=".to_owned(),
                Some("tp_csrf="),
                "error-csrf",
            ),
            // Bad language or target.
            (
                format!("lang=fr&next=%2F&csrf={token}"),
                Some(&cookie),
                "error-lang-input",
            ),
            (
                format!("next=%2F&csrf={token}"),
                Some(&cookie),
                "error-lang-input",
            ),
            (
                format!("lang=en-US&csrf={token}"),
                Some(&cookie),
                "error-lang-input",
            ),
            (
                format!("lang=en-US&next=%2F%2Fevil.example&csrf={token}"),
                Some(&cookie),
                "error-lang-input",
            ),
            (
                format!("lang=en-US&next=%2F%5Cevil.example&csrf={token}"),
                Some(&cookie),
                "error-lang-input",
            ),
            (
                format!("lang=en-US&next=https%3A%2F%2Fevil.example&csrf={token}"),
                Some(&cookie),
                "error-lang-input",
            ),
            (
                format!("lang=en-US&next=%2Fa%0D%0ASet-Cookie%3Ax&csrf={token}"),
                Some(&cookie),
                "error-lang-input",
            ),
        ];
        for (body, cookie, key) in cases {
            let (status, h, html) = send(post_form("/lang", &body, cookie)).await;
            // A missing or wrong CSRF token is refused (403); bad input is a bad request (400).
            let expected = if key == "error-csrf" {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::BAD_REQUEST
            };
            assert_eq!(status, expected, "{body}");
            assert!(h.get(LOCATION).is_none());
            assert!(
                !h.get_all(SET_COOKIE)
                    .iter()
                    .any(|c| c.to_str().unwrap().starts_with("tp_lang=")),
                "{body}"
            );
            assert_eq!(h[CONTENT_TYPE], "text/html; charset=utf-8");
            assert!(html.contains(&t(Locale::ZhCn, key)), "{body}: {html}");
            assert!(html.contains(&t(Locale::ZhCn, "error-bad-request-title")));
        }
        // A body that is not a form at all.
        let req = Request::post("/lang")
            .header(CONTENT_TYPE, "application/json")
            .header("cookie", &cookie)
            .body(Body::from("{}"))
            .unwrap();
        let (status, _, html) = send(req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(html.contains(&t(Locale::ZhCn, "error-lang-input")));
    }

    #[tokio::test]
    async fn the_stylesheet_is_served_for_long_caching() {
        let (status, h, css) = send(get_req(stylesheet_href(), &[])).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(h[CONTENT_TYPE], "text/css; charset=utf-8");
        assert!(h[CACHE_CONTROL].to_str().unwrap().contains("max-age=31536000"));
        assert!(css.contains(":focus-visible"), "visible focus");
        assert!(css.contains("PingFang SC") && css.contains("Noto Sans CJK SC"));
        assert!(stylesheet_href().starts_with("/static/app.css?v="));
    }

    #[tokio::test]
    async fn unknown_pages_get_a_translated_404() {
        let (status, h, html) = send(get_req("/nowhere", &[("accept-language", "en")])).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(html.contains(&t(Locale::EnUs, "error-not-found-title")), "{html}");
        assert_eq!(h[CONTENT_TYPE], "text/html; charset=utf-8");
        let resp = not_found_page(Locale::ZhCn);
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert!(resp.headers().contains_key("content-security-policy"));
        let html = String::from_utf8(to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
        assert!(html.contains(&t(Locale::ZhCn, "error-not-found-body")));
        assert!(!html.contains(r#"action="/lang""#), "no token, no forms");
    }

    #[test]
    fn error_keys_are_translated() {
        for k in ErrorKey::ALL {
            assert!(super::super::i18n::has_key(k.0), "{}", k.0);
        }
    }

    #[test]
    fn local_paths() {
        for ok in ["/", "/privacy", "/a?b=c&d=%2F", "/operator/blacklist#x"] {
            assert!(is_local_path(ok), "{ok}");
        }
        let long = format!("/{}", "a".repeat(MAX_NEXT_LEN));
        for bad in [
            "",
            "privacy",
            "//evil.example",
            "/\\evil.example",
            "/a\\b",
            "https://x",
            "/a b",
            "/中文",
            "/a\n",
            &long,
        ] {
            assert!(!is_local_path(bad), "{bad}");
        }
    }

    fn signed_in_ctx(locale: Locale, role: &str, path: &str) -> PageCtx {
        PageCtx {
            locale,
            csrf: csrf::new_token(),
            user: Some(UserNav::new("<李雷>", role)),
            path: path.into(),
            flash: Some("已保存 & done".into()),
        }
    }

    #[test]
    fn the_navigation_follows_the_user() {
        for locale in Locale::ALL {
            let ctx = signed_in_ctx(locale, "operator", paths::BLACKLIST);
            let token = ctx.csrf.clone();
            let html = HomePage { ctx }.render().unwrap();
            assert!(html.contains(&format!(r#"<html lang="{}">"#, locale.tag())));
            assert!(html.contains(r#"href="/privacy""#));
            assert!(html.contains(r#"href="/operator/verifications""#));
            assert!(
                html.contains(r#"href="/operator/blacklist" aria-current="page""#),
                "{html}"
            );
            assert!(html.contains(r#"action="/logout""#));
            assert!(html.contains(&format!(r#"name="csrf" value="{token}""#)));
            assert!(html.contains("&#60;李雷&#62;"), "the name is escaped: {html}");
            assert!(!html.contains("<李雷>"));
            assert!(
                html.contains(r#"<p class="flash" role="status">已保存 &#38; done</p>"#),
                "flash, escaped"
            );
            assert!(!html.contains(r#"href="/login""#));
            assert!(html.contains(&t(locale, "nav-sign-out")));

            let html = HomePage {
                ctx: signed_in_ctx(locale, "patient", "/"),
            }
            .render()
            .unwrap();
            assert!(html.contains(r#"href="/privacy""#));
            assert!(!html.contains("/operator/"));
        }
    }

    #[derive(Template)]
    #[template(
        ext = "html",
        source = r#"{% import "macros.html" as m %}
{{ m::text_input(ctx, "email", "email", "Email", value = "a\"b", error = ctx.t("error-lang-input"), hint = "We write to it", autocomplete = "email", kind = "email") }}
{{ m::text_input(ctx, "nick", "nick", "Nick", required = false) }}
{{ m::password_input(ctx, "pw", "password", "Password", hint = "12+", autocomplete = "new-password") }}
{{ m::select_input(ctx, "role", "role", "Role", options, placeholder = "Choose", error = "Pick one") }}
{{ m::csrf_field(ctx) }}
{{ m::submit_button("Go") }}"#
    )]
    struct FormDemo {
        ctx: PageCtx,
        options: Vec<SelectOption>,
    }

    #[test]
    fn form_macros_are_accessible() {
        let ctx = PageCtx::anonymous(Locale::EnUs, "tok", "/");
        let options = vec![
            SelectOption {
                value: "patient".into(),
                label: "Patient".into(),
                selected: false,
            },
            SelectOption {
                value: "doctor".into(),
                label: "Doctor".into(),
                selected: true,
            },
        ];
        let html = FormDemo { ctx, options }.render().unwrap();
        let one_line = html.split_whitespace().collect::<Vec<_>>().join(" ");
        // A text input with hint and error.
        assert!(
            one_line.contains(r#"<label for="email">Email</label>"#),
            "{one_line}"
        );
        assert!(one_line.contains(r#"<p class="hint" id="email-hint">We write to it</p>"#));
        assert!(one_line.contains(&format!(
            r#"<p class="field-error" id="email-error"><span class="error-prefix">Error: </span>{}</p>"#,
            t(Locale::EnUs, "error-lang-input")
        )));
        assert!(one_line.contains(
            r#"<input type="email" id="email" name="email" value="a&#34;b" autocomplete="email" required aria-invalid="true" aria-describedby="email-hint email-error">"#
        ), "{one_line}");
        // An optional input, no error, no hint.
        assert!(
            one_line.contains(r#"<label for="nick">Nick <span class="optional">(optional)</span></label>"#)
        );
        assert!(
            one_line.contains(r#"<input type="text" id="nick" name="nick" value="" autocomplete="off">"#),
            "{one_line}"
        );
        // A password is never echoed.
        assert!(one_line.contains(
            r#"<input type="password" id="pw" name="password" autocomplete="new-password" required aria-describedby="pw-hint">"#
        ), "{one_line}");
        // A select with placeholder, selection and error.
        assert!(one_line.contains(
            r#"<select id="role" name="role" autocomplete="off" required aria-invalid="true" aria-describedby="role-error"> <option value="">Choose</option> <option value="patient">Patient</option> <option value="doctor" selected>Doctor</option> </select>"#
        ), "{one_line}");
        assert!(one_line.contains(r#"<input type="hidden" name="csrf" value="tok">"#));
        assert!(one_line.contains(r#"<button type="submit" class="button button-primary">Go</button>"#));
    }
}
