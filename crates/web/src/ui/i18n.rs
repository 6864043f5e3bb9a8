//! Translations: every user-facing string of the web pages is a Fluent message in
//! `crates/web/locales/{zh-CN,en-US}/main.ftl`. Chinese is the default, English the second language.
//!
//! # The key convention (checked by a test)
//!
//! A message id is written as a string literal directly in the call that translates it, so a plain
//! text scan finds every key in use:
//!
//! - Rust under `crates/web/src/`: `t(locale, "key")`, `t_args(locale, "key", &[...])`,
//!   `ctx.t("key")`, `ctx.t_args("key", ...)` (any path prefix, e.g. `i18n::t(`, is fine);
//! - templates under `crates/web/templates/`: `ctx.t("key")`, `ctx.t_args("key", ...)`.
//!
//! The test `every_referenced_key_exists` fails when such a literal names no message in both files.
//! A key computed at run time (say from an error code) escapes that scan: keep such keys in a
//! `const` table and check it with [`has_key`] in a test beside it.

use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

/// Name of the cookie that records an explicit language choice.
pub const LANG_COOKIE: &str = "tp_lang";

/// A language the pages are translated into.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Locale {
    /// Simplified Chinese, the default.
    ZhCn,
    /// English.
    EnUs,
}

impl Locale {
    /// Every supported locale, default first.
    pub const ALL: [Locale; 2] = [Locale::ZhCn, Locale::EnUs];

    /// The BCP 47 tag, as stored in the `tp_lang` cookie and sent by the language switch.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::ZhCn => "zh-CN",
            Locale::EnUs => "en-US",
        }
    }

    /// The value of `<html lang>`.
    pub fn html_lang(self) -> &'static str {
        self.tag()
    }

    /// The locale named by `tag` (case-insensitive, `_` accepted for `-`); only exact supported tags.
    pub fn from_tag(tag: &str) -> Option<Locale> {
        let tag = tag.trim().replace('_', "-");
        Locale::ALL
            .into_iter()
            .find(|l| l.tag().eq_ignore_ascii_case(&tag))
    }

    /// The other locale (there are two).
    pub fn other(self) -> Locale {
        match self {
            Locale::ZhCn => Locale::EnUs,
            Locale::EnUs => Locale::ZhCn,
        }
    }

    fn source(self) -> &'static str {
        match self {
            Locale::ZhCn => include_str!("../../locales/zh-CN/main.ftl"),
            Locale::EnUs => include_str!("../../locales/en-US/main.ftl"),
        }
    }
}

/// Picks the page language: an explicit choice in the `tp_lang` cookie wins; otherwise the
/// supported language the browser's `Accept-Language` ranks highest (q-values honoured, `q=0`
/// excluded, ties going to the one listed first); Chinese when neither says anything usable.
/// Any `en…` tag counts as English, any `zh…` tag as Chinese.
pub fn negotiate(cookie: Option<&str>, accept_language: Option<&str>) -> Locale {
    if let Some(l) = cookie.and_then(Locale::from_tag) {
        return l;
    }
    accept_language
        .and_then(from_accept_language)
        .unwrap_or(Locale::ZhCn)
}

fn from_accept_language(header: &str) -> Option<Locale> {
    let mut best: Option<(u16, Locale)> = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1000u16;
        for p in parts {
            if let Some((k, v)) = p.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q = parse_qvalue(v.trim()).unwrap_or(0);
            }
        }
        let locale = if range == "en" || range.starts_with("en-") {
            Locale::EnUs
        } else if range == "zh" || range.starts_with("zh-") {
            Locale::ZhCn
        } else {
            continue;
        };
        if q > 0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, locale));
        }
    }
    best.map(|(_, l)| l)
}

/// An RFC 9110 qvalue in thousandths (`0`, `0.5`, `1.000`); `None` when malformed.
fn parse_qvalue(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let mut thousandths = 0u16;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    let q = whole + thousandths;
    (q <= 1000).then_some(q)
}

type Bundle = FluentBundle<FluentResource>;

struct Bundles {
    zh: Bundle,
    en: Bundle,
}

static BUNDLES: LazyLock<Bundles> = LazyLock::new(|| Bundles {
    zh: build_bundle(Locale::ZhCn),
    en: build_bundle(Locale::EnUs),
});

fn build_bundle(locale: Locale) -> Bundle {
    let langid: LanguageIdentifier = locale.tag().parse().expect("supported tags are valid");
    let mut bundle = FluentBundle::new_concurrent(vec![langid]);
    // No Unicode isolation marks around placeables: the pages are not bidirectional, and the marks
    // would end up inside attribute values and tests' string comparisons.
    bundle.set_use_isolating(false);
    let resource = match FluentResource::try_new(locale.source().to_owned()) {
        Ok(r) => r,
        Err((r, errors)) => {
            // The `ftl_files_parse` test keeps this from happening; keep what parsed.
            tracing::error!(
                locale = locale.tag(),
                ?errors,
                "translation file has syntax errors"
            );
            r
        }
    };
    if let Err(errors) = bundle.add_resource(resource) {
        tracing::error!(
            locale = locale.tag(),
            ?errors,
            "translation file defines a message twice"
        );
    }
    bundle
}

fn bundle(locale: Locale) -> &'static Bundle {
    match locale {
        Locale::ZhCn => &BUNDLES.zh,
        Locale::EnUs => &BUNDLES.en,
    }
}

/// Whether `key` names a message with a value in both languages.
pub fn has_key(key: &str) -> bool {
    Locale::ALL
        .into_iter()
        .all(|l| bundle(l).get_message(key).is_some_and(|m| m.value().is_some()))
}

/// The message `key` in `locale`. A missing key yields the key itself (and a warning in the log).
pub fn t(locale: Locale, key: &str) -> String {
    format(locale, key, None)
}

/// The message `key` in `locale` with the variables `args` (`{ $name }` in the message).
pub fn t_args(locale: Locale, key: &str, args: &[(&str, String)]) -> String {
    let mut fargs = FluentArgs::with_capacity(args.len());
    for (name, value) in args {
        fargs.set(*name, FluentValue::from(value.as_str()));
    }
    format(locale, key, Some(&fargs))
}

fn format(locale: Locale, key: &str, args: Option<&FluentArgs>) -> String {
    let bundle = bundle(locale);
    let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
        tracing::warn!(locale = locale.tag(), key, "missing translation");
        return key.to_owned();
    };
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, args, &mut errors);
    if !errors.is_empty() {
        tracing::warn!(
            locale = locale.tag(),
            key,
            ?errors,
            "translation formatted with errors"
        );
    }
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    use super::*;

    /// Message ids defined in an FTL text, each with the variables its value and attributes use.
    /// Fluent starts every message at column 0 with an identifier followed by `=`; comments start
    /// with `#`, terms with `-`, continuation lines with whitespace.
    fn messages(source: &str) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in source.lines() {
            let first = line.chars().next();
            if first.is_some_and(|c| c.is_ascii_alphabetic()) {
                let (id, _) = line.split_once('=').expect("a message line has `=`");
                let id = id.trim().to_owned();
                assert!(is_message_id(&id), "bad message id {id:?}");
                assert!(
                    out.insert(id.clone(), BTreeSet::new()).is_none(),
                    "{id} defined twice"
                );
                current = Some(id);
            } else if first.is_some_and(|c| c == '#' || c == '-') {
                current = None;
            }
            if let Some(id) = &current {
                let vars = out.get_mut(id).expect("current message is recorded");
                let mut rest = line;
                while let Some(i) = rest.find('$') {
                    rest = &rest[i + 1..];
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                        .collect();
                    vars.insert(name);
                }
            }
        }
        out
    }

    fn is_message_id(s: &str) -> bool {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }

    #[test]
    fn ftl_files_parse() {
        for l in Locale::ALL {
            if let Err((_, errors)) = FluentResource::try_new(l.source().to_owned()) {
                panic!("{} has syntax errors: {errors:?}", l.tag());
            }
            let langid: LanguageIdentifier = l.tag().parse().unwrap();
            let mut b = FluentBundle::new_concurrent(vec![langid]);
            b.add_resource(FluentResource::try_new(l.source().to_owned()).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e:?}", l.tag()));
        }
    }

    #[test]
    fn both_languages_define_the_same_messages_with_the_same_variables() {
        let zh = messages(Locale::ZhCn.source());
        let en = messages(Locale::EnUs.source());
        assert!(zh.len() > 20, "the scan found the messages");
        let zh_ids: BTreeSet<_> = zh.keys().collect();
        let en_ids: BTreeSet<_> = en.keys().collect();
        assert_eq!(
            zh_ids.symmetric_difference(&en_ids).collect::<Vec<_>>(),
            Vec::<&&String>::new(),
            "ids defined in only one language"
        );
        for (id, vars) in &zh {
            assert_eq!(vars, &en[id], "{id}: the languages use different variables");
        }
    }

    #[test]
    fn every_message_has_a_non_empty_value() {
        for l in Locale::ALL {
            let ids = messages(l.source());
            for (id, vars) in ids {
                assert!(has_key(&id), "{id} has no value in both languages");
                let args: Vec<(&str, String)> = vars.iter().map(|v| (v.as_str(), "x".to_owned())).collect();
                let text = t_args(l, &id, &args);
                assert!(!text.trim().is_empty(), "{}: {id} is empty", l.tag());
                assert_ne!(text, id, "{}: {id} did not resolve", l.tag());
            }
        }
    }

    #[test]
    fn the_line_scan_agrees_with_fluent() {
        // Every id the scan finds is a message Fluent knows; and a message Fluent knows that the
        // scan missed would show up as a difference in this count of top-level `=` lines.
        for l in Locale::ALL {
            let ids = messages(l.source());
            for id in ids.keys() {
                assert!(bundle(l).has_message(id), "{}: {id}", l.tag());
            }
            let resource = FluentResource::try_new(l.source().to_owned()).unwrap();
            let message_entries = resource
                .entries()
                .filter(|e| format!("{e:?}").starts_with("Message("))
                .count();
            assert_eq!(message_entries, ids.len(), "{}", l.tag());
        }
    }

    #[test]
    fn translations_resolve_and_substitute_variables() {
        assert_eq!(t(Locale::ZhCn, "brand"), "天平 Tianping");
        assert_eq!(t(Locale::EnUs, "brand"), "天平 Tianping");
        assert_eq!(t(Locale::EnUs, "nav-home"), "Home");
        assert_eq!(t(Locale::ZhCn, "nav-home"), "首页");
        let text = t_args(Locale::EnUs, "nav-signed-in-as", &[("name", "Li Lei".to_owned())]);
        assert!(text.contains("Li Lei"), "{text}");
        assert!(!text.contains('\u{2068}'), "no isolation marks");
        let text = t_args(Locale::ZhCn, "nav-signed-in-as", &[("name", "李雷".to_owned())]);
        assert!(text.contains("李雷"), "{text}");
    }

    #[test]
    fn a_missing_key_yields_the_key() {
        let missing = ["no", "such", "message"].join("-");
        assert_eq!(t(Locale::ZhCn, &missing), missing);
        assert_eq!(t_args(Locale::EnUs, &missing, &[]), missing);
        assert!(!has_key(&missing));
        assert!(has_key("brand"));
    }

    #[test]
    fn negotiation() {
        use Locale::{EnUs, ZhCn};
        let cases: &[(Option<&str>, Option<&str>, Locale)] = &[
            (None, None, ZhCn),
            (None, Some(""), ZhCn),
            (None, Some("fr-FR, de;q=0.5"), ZhCn),
            (None, Some("*"), ZhCn),
            (None, Some("en"), EnUs),
            (None, Some("en-GB,en;q=0.9"), EnUs),
            (None, Some("EN-us"), EnUs),
            (None, Some("zh-CN,zh;q=0.9,en;q=0.8"), ZhCn),
            (None, Some("zh-TW"), ZhCn),
            (None, Some("fr, en;q=0.5, zh;q=0.4"), EnUs),
            (None, Some("zh;q=0.4, en;q=0.5"), EnUs),
            (None, Some("zh;q=0.9, en;q=1"), EnUs),
            (None, Some("en;q=0.9, zh"), ZhCn),
            (None, Some("en;q=0, fr"), ZhCn),
            (None, Some("en;q=0.000"), ZhCn),
            (None, Some("en;q=abc"), ZhCn),
            (None, Some("en;q=1.5"), ZhCn),
            (None, Some("en; q=0.8 , zh ; q = 0.7"), EnUs),
            (None, Some("english"), ZhCn),
            (None, Some("en,zh"), EnUs),
            (None, Some("zh,en"), ZhCn),
            (Some("en-US"), Some("zh-CN"), EnUs),
            (Some("zh-CN"), Some("en-US"), ZhCn),
            (Some("en-us"), None, EnUs),
            (Some("EN_US"), None, EnUs),
            (Some("klingon"), Some("en"), EnUs),
            (Some(""), None, ZhCn),
            (Some("en"), Some("zh"), ZhCn),
        ];
        for (cookie, accept, want) in cases {
            assert_eq!(
                negotiate(*cookie, *accept),
                *want,
                "cookie {cookie:?}, accept {accept:?}"
            );
        }
    }

    #[test]
    fn tags() {
        assert_eq!(Locale::ZhCn.tag(), "zh-CN");
        assert_eq!(Locale::EnUs.html_lang(), "en-US");
        for l in Locale::ALL {
            assert_eq!(Locale::from_tag(l.tag()), Some(l));
            assert_ne!(l.other(), l);
        }
        assert_eq!(Locale::from_tag("fr"), None);
    }

    // ---- every key used in templates and Rust sources exists ----

    /// Keys named by `t(` / `t_args(` calls in `text`: the first string literal inside the call, when
    /// nothing but plain argument tokens (`ctx.`, `locale, `, `self.locale, `) stands before it.
    fn referenced_keys(text: &str) -> Vec<String> {
        // Comments (`//`, `///`, `//!` lines) may show the convention with made-up keys.
        let text: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .flat_map(|l| [l, "\n"])
            .collect();
        let text = text.as_str();
        let mut keys = Vec::new();
        for name in ["t(", "t_args("] {
            let mut from = 0;
            while let Some(i) = text[from..].find(name) {
                let at = from + i;
                from = at + name.len();
                let before = text[..at].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '"') {
                    continue;
                }
                let rest = &text[from..];
                let Some(q) = rest.find('"') else { continue };
                let prefix = &rest[..q];
                if !prefix.chars().all(|c| {
                    c.is_alphanumeric() || matches!(c, '_' | '.' | ',' | ' ' | ':' | '&' | '*' | '\n')
                }) {
                    continue;
                }
                let lit = &rest[q + 1..];
                let end = lit.find('"').unwrap_or(lit.len());
                keys.push(lit[..end].to_owned());
            }
        }
        keys
    }

    fn files_under(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files_under(&path, ext, out);
            } else if path.extension().is_some_and(|e| e == ext) {
                out.push(path);
            }
        }
    }

    #[test]
    fn the_key_scan_finds_calls() {
        // Written with `T` so that this file's own scan does not see these made-up keys.
        let text = r#"{{ ctx.T("a-b") }} T(locale, "c") i18n::T(self.locale, "d") ctx.T_args("e", x)
            T_args(
                Locale::EnUs,
                "f",
                &[]) format(x, "no") T(locale, &key) "g" sorT("no") ctx.T(key) + "no"
            // T(locale, "in-a-comment")
            ["T(", "no"]"#
            .replace("T(", "t(")
            .replace("T_args(", "t_args(");
        assert_eq!(referenced_keys(&text), ["a-b", "c", "d", "e", "f"]);
    }

    #[test]
    fn every_referenced_key_exists() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        files_under(&root.join("templates"), "html", &mut files);
        let templates = files.len();
        files_under(&root.join("src"), "rs", &mut files);
        assert!(templates >= 4, "templates found");
        let mut seen = 0;
        let mut missing: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            for key in referenced_keys(&text) {
                seen += 1;
                if !is_message_id(&key) || !has_key(&key) {
                    let file = f.strip_prefix(root).unwrap().display().to_string();
                    missing.entry(key).or_default().insert(file);
                }
            }
        }
        assert!(seen > 20, "the scan found the keys in use ({seen})");
        let report: Vec<String> = missing
            .iter()
            .map(|(k, files)| {
                format!(
                    "{k:?} in {}",
                    files.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        assert!(
            missing.is_empty(),
            "{} keys are used but not defined in both locales/*/main.ftl:\n{}",
            missing.len(),
            report.join("\n")
        );
    }
}
