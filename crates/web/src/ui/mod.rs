//! The server-rendered web application: askama templates in `crates/web/templates`, Fluent
//! translations in `crates/web/locales`, one small stylesheet in `crates/web/static`.
//!
//! Pages run no JavaScript at all (the content security policy forbids scripts): every action is a
//! plain HTML form that POSTs, checks its CSRF field, and redirects (303) to a page (POST-redirect-GET).
//!
//! # Writing a page
//!
//! ```ignore
//! #[derive(askama::Template)]
//! #[template(path = "my_page.html")]      // {% extends "layout.html" %}
//! struct MyPage { ctx: PageCtx, /* the page's own data */ }
//!
//! async fn my_page(ctx: PageCtx) -> Response {
//!     render(&MyPage { ctx })
//! }
//! ```
//!
//! [`PageCtx`] is an extractor: it negotiates the language, carries the CSRF token for the page's
//! forms, the signed-in user's navigation (a [`UserNav`] request extension, if the session
//! middleware put one there) and the current path. Page routers are wrapped with [`page_layers`].

pub mod csrf;
pub mod headers;
pub mod i18n;
pub mod pages;

use std::convert::Infallible;

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub use i18n::{Locale, t, t_args};
pub use pages::{foundation_routes, not_found, not_found_page, page_layers};

/// The paths of the pages the layout links to, in one place.
pub mod paths {
    pub const HOME: &str = "/";
    pub const LANG: &str = "/lang";
    pub const LOGIN: &str = "/login";
    pub const SIGNUP: &str = "/signup";
    pub const LOGOUT: &str = "/logout";
    pub const PRIVACY: &str = "/privacy";
    pub const VERIFICATION_QUEUE: &str = "/operator/verifications";
    pub const BLACKLIST: &str = "/operator/blacklist";
    pub const DUTY: &str = "/duty";
    pub const CONSULTATIONS: &str = "/consultations";
    pub const REFUNDS: &str = "/refunds";
    pub const SUPERVISION: &str = "/regulator/supervision";
}

/// The signed-in user, as the navigation needs them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserNav {
    /// Shown as "signed in as …".
    pub display_name: String,
    /// The role code (`patient`, `operator`, …).
    pub role: String,
    /// Show the link to the verification queue.
    pub verification_queue: bool,
    /// Show the link to the blacklist.
    pub blacklist: bool,
    /// Show the link to the 24/7 duty queue of red-flag alerts.
    pub duty: bool,
    /// Show the links to the patient's consultations and refunds.
    pub consultations: bool,
    /// Show the link to the supervision metrics.
    pub supervision: bool,
}

impl UserNav {
    /// Navigation for a user of `role`: operators see the verification queue and the blacklist;
    /// people on duty (institution staff, doctors, operators, regulators) the duty queue; patients
    /// their consultations and refunds; regulators and operators the supervision metrics.
    pub fn new(display_name: impl Into<String>, role: impl Into<String>) -> UserNav {
        let role = role.into();
        let operator = role == "operator";
        let regulator = role == "regulator";
        UserNav {
            display_name: display_name.into(),
            verification_queue: operator,
            blacklist: operator,
            duty: operator || regulator || role == "institution_staff" || role == "doctor",
            consultations: role == "patient",
            supervision: operator || regulator,
            role,
        }
    }
}

/// One `<option>` of the `select_input` macro.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectOption {
    pub value: String,
    /// Already translated.
    pub label: String,
    pub selected: bool,
}

/// What every page template holds as its field `ctx`; the layout reads it.
#[derive(Clone, Debug)]
pub struct PageCtx {
    pub locale: Locale,
    /// The token for the hidden `csrf` field of every form on the page; empty when there is none,
    /// and then the layout leaves out its forms (sign-out, language switch).
    pub csrf: String,
    pub user: Option<UserNav>,
    /// The current path and query, where the language switch returns to.
    pub path: String,
    /// A one-off message shown above the content (already translated).
    pub flash: Option<String>,
}

impl PageCtx {
    /// A context with no user, no flash.
    pub fn anonymous(locale: Locale, csrf: impl Into<String>, path: impl Into<String>) -> PageCtx {
        PageCtx {
            locale,
            csrf: csrf.into(),
            user: None,
            path: path.into(),
            flash: None,
        }
    }

    /// The message `key` in the page's language (templates: `{{ ctx.t("key") }}`).
    pub fn t(&self, key: &str) -> String {
        i18n::t(self.locale, key)
    }

    /// The message `key` with variables (templates: `{{ ctx.t_args("key", [("name", x.clone())]) }}`;
    /// askama passes the array by reference).
    pub fn t_args(&self, key: &str, args: &[(&str, String)]) -> String {
        i18n::t_args(self.locale, key, args)
    }

    /// The `<html lang>` value.
    pub fn lang(&self) -> &'static str {
        self.locale.html_lang()
    }

    /// The language the switch offers.
    pub fn other_locale(&self) -> Locale {
        self.locale.other()
    }

    /// The name of the language the switch offers, in that language.
    pub fn other_language_name(&self) -> String {
        let other = self.locale.other();
        match other {
            Locale::ZhCn => i18n::t(other, "language-zh-CN"),
            Locale::EnUs => i18n::t(other, "language-en-US"),
        }
    }

    /// Whether `path` is the current page (for `aria-current`).
    pub fn is_current(&self, path: &str) -> bool {
        self.path.split(['?', '#']).next() == Some(path)
    }

    /// The stylesheet's URL, with a version that changes with its content.
    pub fn stylesheet(&self) -> &'static str {
        pages::stylesheet_href()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageCtx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let cookie = csrf::cookie_value(&parts.headers, i18n::LANG_COOKIE);
        let accept = parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        let locale = i18n::negotiate(cookie.as_deref(), accept);
        let token = if let Some(csrf::SessionCsrf(t)) = parts.extensions.get() {
            t.clone()
        } else if let Some(csrf::AnonCsrf(t)) = parts.extensions.get() {
            t.clone()
        } else {
            tracing::warn!(path = %parts.uri.path(), "page served without the CSRF middleware; forms left out");
            String::new()
        };
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        Ok(PageCtx {
            locale,
            csrf: token,
            user: parts.extensions.get::<UserNav>().cloned(),
            path,
            flash: None,
        })
    }
}

/// Renders a page with status 200.
pub fn render<T: Template>(page: &T) -> Response {
    render_status(StatusCode::OK, page)
}

/// Renders a page with `status`; a template error becomes a bare 500 page (details only in the log).
pub fn render_status<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => html_response(status, html),
        Err(e) => {
            tracing::error!(error = %e, "page template failed to render");
            internal_error_page()
        }
    }
}

/// An HTML response; it carries the page security headers itself, so a page is safe even where
/// [`page_layers`] was forgotten.
fn html_response(status: StatusCode, html: String) -> Response {
    let mut resp = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        html,
    )
        .into_response();
    headers::apply(resp.headers_mut());
    resp
}

/// A minimal page for when a template cannot be rendered: both languages, no template involved.
pub fn internal_error_page() -> Response {
    let mut body = String::from("<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">");
    body.push_str(&format!(
        "<title>{}</title></head><body>",
        escape(&t(Locale::ZhCn, "error-internal-title"))
    ));
    for l in Locale::ALL {
        body.push_str(&format!(
            "<section lang=\"{}\"><h1>{}</h1><p>{}</p></section>",
            l.html_lang(),
            escape(&t(l, "error-internal-title")),
            escape(&t(l, "error-internal-body")),
        ));
    }
    body.push_str("</body></html>\n");
    html_response(StatusCode::INTERNAL_SERVER_ERROR, body)
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;

    use super::*;

    #[derive(Template)]
    #[template(source = "{{ self.fail()? }}", ext = "html")]
    struct Broken;

    impl Broken {
        fn fail(&self) -> Result<String, std::fmt::Error> {
            Err(std::fmt::Error)
        }
    }

    async fn body(resp: Response) -> String {
        String::from_utf8(to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_failing_template_gives_a_bare_500_page() {
        let resp = render(&Broken);
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
        let html = body(resp).await;
        assert!(html.contains(&t(Locale::ZhCn, "error-internal-title")), "{html}");
        assert!(html.contains(&t(Locale::EnUs, "error-internal-body")), "{html}");
        assert!(!html.to_lowercase().contains("format"), "no details leak: {html}");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn user_nav_flags_follow_the_role() {
        let op = UserNav::new("王芳", "operator");
        assert!(op.verification_queue && op.blacklist);
        let patient = UserNav::new("李雷", "patient");
        assert!(!patient.verification_queue && !patient.blacklist);
        assert!(patient.consultations && !patient.duty && !patient.supervision);
        assert!(op.duty && op.supervision && !op.consultations);
        let staff = UserNav::new("张三", "institution_staff");
        assert!(staff.duty && !staff.supervision && !staff.consultations);
        let regulator = UserNav::new("赵六", "regulator");
        assert!(regulator.duty && regulator.supervision);
    }

    #[test]
    fn current_path() {
        let ctx = PageCtx::anonymous(Locale::ZhCn, "", "/login?next=%2F");
        assert!(ctx.is_current("/login"));
        assert!(!ctx.is_current("/"));
        assert_eq!(ctx.t("nav-login"), t(Locale::ZhCn, "nav-login"));
    }
}
