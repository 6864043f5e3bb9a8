//! Cross-site request forgery protection for the HTML forms, and cookie helpers.
//!
//! Every form carries a hidden field `csrf`. For an anonymous visitor its expected value is the
//! double-submit cookie `tp_csrf` (32 random bytes, hex), which [`ensure_csrf_cookie`] sets on the
//! first page; a cross-site page can neither read that cookie nor set it (`SameSite=Strict`,
//! `HttpOnly`). For a signed-in user the session middleware puts the session's token into the
//! request as a [`SessionCsrf`] extension, and that token is expected instead.
//!
//! A POST handler checks the field with [`check`] before doing anything else.

use axum::extract::Request;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// Name of the anonymous double-submit cookie.
pub const CSRF_COOKIE: &str = "tp_csrf";
/// Name of the hidden form field.
pub const CSRF_FIELD: &str = "csrf";

/// The CSRF token of a signed-in user's session; inserted into the request extensions by the
/// session middleware. When present it replaces the anonymous cookie.
#[derive(Clone, Debug)]
pub struct SessionCsrf(pub String);

/// The anonymous token of this request (from the cookie, or freshly made by
/// [`ensure_csrf_cookie`]), for the page's forms.
#[derive(Clone, Debug)]
pub struct AnonCsrf(pub String);

/// Whether cookies get the `Secure` attribute; insert it as a request extension (e.g. with
/// `axum::Extension(CookieSecurity(true))`) when the site is served over HTTPS. Absent: not secure.
#[derive(Clone, Copy, Debug, Default)]
pub struct CookieSecurity(pub bool);

impl CookieSecurity {
    /// Whether this request's cookies get `Secure`.
    pub fn of(extensions: &axum::http::Extensions) -> bool {
        extensions.get::<CookieSecurity>().copied().unwrap_or_default().0
    }
}

/// A fresh token: 32 random bytes as 64 lowercase hex digits.
pub fn new_token() -> String {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).expect("the operating system's random number generator works");
    hex::encode(bytes.as_ref())
}

/// Whether `s` has the shape of a token made by [`new_token`].
pub fn is_token(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Compares two tokens in time independent of where they differ; never true for an empty one.
pub fn tokens_match(expected: &str, given: &str) -> bool {
    if expected.is_empty() || given.is_empty() || expected.len() != given.len() {
        return false;
    }
    let diff = expected
        .bytes()
        .zip(given.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(diff) == 0
}

/// The value of cookie `name` from the request's `Cookie` header(s); `None` when absent, or when the
/// header is not visible ASCII. With several cookies of that name the first one counts.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    for header in headers.get_all(COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        if !text.is_ascii() {
            continue;
        }
        for pair in text.split(';') {
            let Some((k, v)) = pair.split_once('=') else {
                continue;
            };
            if k.trim() != name {
                continue;
            }
            let v = v.trim();
            let v = v.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(v);
            if v.bytes().all(is_cookie_octet) {
                return Some(v.to_owned());
            }
            return None;
        }
    }
    None
}

/// RFC 6265 `cookie-octet`: visible ASCII except `"`, `,`, `;` and `\`.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// A `Set-Cookie` value: `HttpOnly; SameSite=Strict; Path=/`, with `Max-Age` when given (`Some(0)`
/// clears the cookie) and `Secure` when asked.
///
/// # Panics
/// When `name` is not a cookie token or `value` contains bytes a cookie cannot carry; callers pass
/// constants and hex or tags.
pub fn set_cookie(name: &str, value: &str, max_age_secs: Option<i64>, secure: bool) -> HeaderValue {
    assert!(
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "cookie name {name:?}"
    );
    assert!(
        value.bytes().all(is_cookie_octet),
        "cookie value for {name} has forbidden bytes"
    );
    let mut s = format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/");
    if let Some(age) = max_age_secs {
        s.push_str(&format!("; Max-Age={}", age.max(0)));
    }
    if secure {
        s.push_str("; Secure");
    }
    HeaderValue::from_str(&s).expect("checked cookie bytes form a valid header")
}

/// The token a form posted in this request must carry: the session's, else the `tp_csrf` cookie's.
pub fn expected_token(extensions: &axum::http::Extensions, headers: &HeaderMap) -> Option<String> {
    if let Some(SessionCsrf(t)) = extensions.get::<SessionCsrf>() {
        return Some(t.clone());
    }
    cookie_value(headers, CSRF_COOKIE).filter(|t| is_token(t))
}

/// Whether the form field `given` carries the token this request must carry.
pub fn check(extensions: &axum::http::Extensions, headers: &HeaderMap, given: &str) -> bool {
    expected_token(extensions, headers).is_some_and(|expected| tokens_match(&expected, given))
}

/// Middleware for page routes: makes sure an anonymous visitor has a `tp_csrf` cookie. The request
/// gets the token as an [`AnonCsrf`] extension (for [`super::PageCtx`]); when the cookie was missing or
/// malformed, a new token is made and the response sets it. Checking a posted form is separate
/// ([`check`] reads the cookie that came with the request, never the token made here).
pub async fn ensure_csrf_cookie(mut req: Request, next: Next) -> Response {
    let existing = cookie_value(req.headers(), CSRF_COOKIE).filter(|t| is_token(t));
    let secure = CookieSecurity::of(req.extensions());
    let (token, fresh) = match existing {
        Some(t) => (t, false),
        None => (new_token(), true),
    };
    req.extensions_mut().insert(AnonCsrf(token.clone()));
    let mut resp = next.run(req).await;
    if fresh {
        resp.headers_mut()
            .append(SET_COOKIE, set_cookie(CSRF_COOKIE, &token, None, secure));
    }
    resp
}

#[cfg(test)]
mod tests {
    use axum::http::Extensions;
    use proptest::prelude::*;

    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(COOKIE, HeaderValue::from_str(c).unwrap());
        }
        h
    }

    #[test]
    fn tokens_are_random_hex() {
        let a = new_token();
        let b = new_token();
        assert!(is_token(&a), "{a}");
        assert!(is_token(&b));
        assert_ne!(a, b);
        assert!(!is_token(&a.to_uppercase()));
        assert!(!is_token(&a[1..]));
        assert!(!is_token(""));
    }

    #[test]
    fn matching() {
        let a = new_token();
        assert!(tokens_match(&a, &a.clone()));
        assert!(!tokens_match(&a, &new_token()));
        assert!(!tokens_match(&a, &a[..63]));
        assert!(!tokens_match(&a, ""));
        assert!(!tokens_match("", ""));
        assert!(!tokens_match("", &a));
        let mut flipped = a.clone().into_bytes();
        flipped[63] = if flipped[63] == b'0' { b'1' } else { b'0' };
        assert!(!tokens_match(&a, &String::from_utf8(flipped).unwrap()));
    }

    #[test]
    fn cookie_parsing() {
        let h = headers(&["a=1; tp_csrf=abc; tp_lang=en-US"]);
        assert_eq!(cookie_value(&h, "tp_csrf").as_deref(), Some("abc"));
        assert_eq!(cookie_value(&h, "tp_lang").as_deref(), Some("en-US"));
        assert_eq!(cookie_value(&h, "a").as_deref(), Some("1"));
        assert_eq!(cookie_value(&h, "b"), None);
        // A name that is the suffix or prefix of another is not confused with it.
        let h = headers(&["xtp_lang=zh-CN; tp_lang_old=zh-CN"]);
        assert_eq!(cookie_value(&h, "tp_lang"), None);
        // Several Cookie headers (HTTP/2 sends one per cookie); the first occurrence wins.
        let h = headers(&["a=1", "tp_lang=en-US", "tp_lang=zh-CN"]);
        assert_eq!(cookie_value(&h, "tp_lang").as_deref(), Some("en-US"));
        // Quoted values, spaces, empty values, pairs without `=`.
        let h = headers(&[r#"  junk; q="v1" ; e=; x = y "#]);
        assert_eq!(cookie_value(&h, "q").as_deref(), Some("v1"));
        assert_eq!(cookie_value(&h, "e").as_deref(), Some(""));
        assert_eq!(cookie_value(&h, "x").as_deref(), Some("y"));
        // Values with bytes a cookie cannot hold are refused.
        let h = headers(&["a=b\\c; d=e\"f"]);
        assert_eq!(cookie_value(&h, "a"), None);
        assert_eq!(cookie_value(&h, "d"), None);
    }

    #[test]
    fn non_ascii_cookie_headers_are_ignored() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_bytes("tp_lang=中文".as_bytes()).unwrap(),
        );
        h.append(COOKIE, HeaderValue::from_bytes(b"tp_csrf=\xff\xfe").unwrap());
        assert_eq!(cookie_value(&h, "tp_lang"), None);
        assert_eq!(cookie_value(&h, "tp_csrf"), None);
        h.append(COOKIE, HeaderValue::from_static("tp_lang=en-US"));
        assert_eq!(cookie_value(&h, "tp_lang").as_deref(), Some("en-US"));
    }

    #[test]
    fn set_cookie_attributes() {
        assert_eq!(
            set_cookie("tp_csrf", "ab", None, false),
            "tp_csrf=ab; HttpOnly; SameSite=Strict; Path=/"
        );
        assert_eq!(
            set_cookie("tp_lang", "en-US", Some(31_536_000), true),
            "tp_lang=en-US; HttpOnly; SameSite=Strict; Path=/; Max-Age=31536000; Secure"
        );
        assert_eq!(
            set_cookie("tp_lang", "", Some(0), false),
            "tp_lang=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
        );
    }

    #[test]
    fn expected_token_prefers_the_session() {
        let cookie_token = new_token();
        let h = headers(&[&format!("tp_csrf={cookie_token}")]);
        let mut ext = Extensions::new();
        assert_eq!(expected_token(&ext, &h).as_deref(), Some(cookie_token.as_str()));
        assert!(check(&ext, &h, &cookie_token));
        assert!(!check(&ext, &h, ""));
        assert!(!check(&ext, &HeaderMap::new(), &cookie_token));
        // A malformed cookie is no token at all.
        let bad = headers(&["tp_csrf=short"]);
        assert!(!check(&ext, &bad, "short"));
        let session = new_token();
        ext.insert(SessionCsrf(session.clone()));
        assert!(check(&ext, &h, &session));
        assert!(
            !check(&ext, &h, &cookie_token),
            "the cookie no longer counts once signed in"
        );
    }

    proptest! {
        #[test]
        fn cookie_value_never_panics_and_round_trips(name in "[a-z_]{1,8}", value in "[!#-+\\--:<-\\[\\]-~]{0,20}", noise in "[ -~]{0,40}") {
            let header = format!("{noise}; {name}={value}");
            if let Ok(hv) = HeaderValue::from_str(&header) {
                let mut h = HeaderMap::new();
                h.insert(COOKIE, hv);
                let got = cookie_value(&h, &name);
                // The noise may itself hold the name first; otherwise the value round-trips.
                if !noise.contains(name.as_str()) {
                    prop_assert_eq!(got.as_deref(), Some(value.as_str()));
                }
            }
        }

        #[test]
        fn tokens_match_is_equality(a in "[0-9a-f]{0,8}", b in "[0-9a-f]{0,8}") {
            prop_assert_eq!(tokens_match(&a, &b), !a.is_empty() && a == b);
        }
    }
}
