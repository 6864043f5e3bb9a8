//! C2SP transparency log trust policy (tlog-policy): which logs are accepted, which witnesses are
//! known, and the quorum rule deciding whether a set of witness cosignatures is strong enough.
//!
//! This module parses and checks the policy text and evaluates the quorum given which witnesses
//! cosigned. It verifies no signatures: vkeys are kept as text, and their key material is decoded
//! only to detect duplicate logs and witnesses.
//!
//! Syntax summary (one definition per line, fields separated by spaces and tabs):
//!
//! ```text
//! log <vkey> [<url>]
//! witness <name> <vkey> [<url>]
//! group <name> all|any|<k> <name>...
//! quorum <name>|none
//! # comment
//! ```

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Most `log` lines accepted (the spec recommends supporting at least 32).
pub const MAX_LOGS: usize = 256;
/// Most `witness` lines accepted.
pub const MAX_WITNESSES: usize = 256;
/// Most `group` lines accepted.
pub const MAX_GROUPS: usize = 256;

/// The predefined name meaning "no cosignatures required"; only valid on the quorum line.
pub const NONE_NAME: &str = "none";

/// A log whose checkpoints the policy accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLog {
    /// The log's verifier key, `<origin>+<key id>+<base64(type || key)>`, as written.
    pub vkey: String,
    pub url: Option<String>,
}

/// A named witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWitness {
    /// Name used by groups and the quorum line; an opaque string local to the policy file.
    pub name: String,
    /// The witness' verifier key, as written.
    pub vkey: String,
    pub url: Option<String>,
}

/// How many members of a group must have witnessed a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// Every member (`all`).
    All,
    /// At least one member (`any`).
    Any,
    /// At least this many members, `1 <= k <= n`.
    AtLeast(usize),
}

/// A named group of witnesses and/or earlier groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyGroup {
    pub name: String,
    pub threshold: Threshold,
    /// Names of witnesses or groups defined before this group; non-empty, no repeats.
    pub members: Vec<String>,
}

impl PolicyGroup {
    /// The numeric threshold: how many members must have witnessed.
    pub fn k(&self) -> usize {
        match self.threshold {
            Threshold::All => self.members.len(),
            Threshold::Any => 1,
            Threshold::AtLeast(k) => k,
        }
    }
}

/// The policy's quorum rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quorum {
    /// `quorum none`: no cosignatures required.
    None,
    /// The named witness or group must have witnessed the checkpoint.
    Name(String),
}

/// A parsed and checked trust policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Accepted logs, in file order.
    pub logs: Vec<PolicyLog>,
    /// Known witnesses, in file order.
    pub witnesses: Vec<PolicyWitness>,
    /// Groups, in file order; each refers only to witnesses and groups defined before it.
    pub groups: Vec<PolicyGroup>,
    pub quorum: Quorum,
}

/// Why a policy was rejected. Line numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("line {line}: byte 0x{byte:02x} is not allowed (only tab, newline, 0x20-0x7e and 0x80-0xff)")]
    ForbiddenByte { line: usize, byte: u8 },
    #[error("line {line}: unknown keyword {keyword:?}")]
    UnknownKeyword { line: usize, keyword: String },
    #[error("line {line}: wrong number of fields, expected {expected:?}")]
    WrongFieldCount { line: usize, expected: &'static str },
    #[error("line {line}: invalid vkey: {reason}")]
    BadVkey { line: usize, reason: &'static str },
    #[error("line {line}: log key duplicates the log on line {first_line}")]
    DuplicateLog { line: usize, first_line: usize },
    #[error("line {line}: witness key duplicates the witness on line {first_line}")]
    DuplicateWitness { line: usize, first_line: usize },
    #[error("line {line}: the name \"none\" is reserved for \"quorum none\"")]
    ReservedName { line: usize },
    #[error("line {line}: name {name:?} is already defined on line {first_line}")]
    DuplicateName {
        line: usize,
        name: String,
        first_line: usize,
    },
    #[error("line {line}: group {group:?} has no members")]
    EmptyGroup { line: usize, group: String },
    #[error("line {line}: \"none\" cannot be a group member")]
    NoneAsMember { line: usize },
    #[error("line {line}: name {name:?} is not defined on an earlier line")]
    UndefinedName { line: usize, name: String },
    #[error("line {line}: {name:?} is listed more than once in the group")]
    DuplicateMember { line: usize, name: String },
    #[error(
        "line {line}: threshold {threshold:?} is not \"all\", \"any\" or a decimal k with 1 <= k <= {members}"
    )]
    BadThreshold {
        line: usize,
        threshold: String,
        members: usize,
    },
    #[error("line {line}: second quorum line (the first is on line {first_line})")]
    DuplicateQuorum { line: usize, first_line: usize },
    #[error("the policy has no quorum line")]
    MissingQuorum,
    #[error("line {line}: more than {max} {what}")]
    TooMany {
        line: usize,
        what: &'static str,
        max: usize,
    },
}

/// Checks a vkey's shape and returns the public key it wraps (the key bytes after the signature
/// type byte), which is what duplicate detection compares.
fn vkey_key_material(vkey: &str, line: usize) -> Result<Vec<u8>, PolicyError> {
    let bad = |reason| PolicyError::BadVkey { line, reason };
    // The key name cannot contain '+' and the key id is hex, so the first two '+' delimit the
    // fields; the base64 key after them may itself contain '+'.
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected <name>+<key id>+<base64 key>"));
    };
    if name.is_empty() {
        return Err(bad("empty key name"));
    }
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("key id is not 8 hex digits"));
    }
    let decoded = STANDARD
        .decode(key)
        .ok()
        .filter(|d| STANDARD.encode(d) == key)
        .ok_or_else(|| bad("key is not canonical standard base64"))?;
    match decoded.split_first() {
        Some((_type, material)) if !material.is_empty() => Ok(material.to_vec()),
        _ => Err(bad("key has no key material after the signature type byte")),
    }
}

/// The optional URL field of `log` and `witness` lines.
fn optional_url(field: Option<&&str>) -> Option<String> {
    field.map(|s| (*s).to_owned())
}

/// Accumulates definitions while the policy is read line by line.
#[derive(Default)]
struct Parser {
    logs: Vec<PolicyLog>,
    witnesses: Vec<PolicyWitness>,
    groups: Vec<PolicyGroup>,
    quorum: Option<(Quorum, usize)>,
    /// Witness and group names, with the line defining each.
    names: HashMap<String, usize>,
    log_keys: HashMap<Vec<u8>, usize>,
    witness_keys: HashMap<Vec<u8>, usize>,
}

impl Parser {
    fn line(&mut self, line: usize, fields: &[&str]) -> Result<(), PolicyError> {
        match fields[0] {
            "log" => self.log(line, fields),
            "witness" => self.witness(line, fields),
            "group" => self.group(line, fields),
            "quorum" => self.quorum(line, fields),
            other => Err(PolicyError::UnknownKeyword {
                line,
                keyword: other.to_owned(),
            }),
        }
    }

    /// Checks that `name` may be defined now.
    fn new_name(&self, line: usize, name: &str) -> Result<(), PolicyError> {
        if name == NONE_NAME {
            return Err(PolicyError::ReservedName { line });
        }
        if let Some(&first_line) = self.names.get(name) {
            return Err(PolicyError::DuplicateName {
                line,
                name: name.to_owned(),
                first_line,
            });
        }
        Ok(())
    }

    fn log(&mut self, line: usize, fields: &[&str]) -> Result<(), PolicyError> {
        if !(2..=3).contains(&fields.len()) {
            return Err(PolicyError::WrongFieldCount {
                line,
                expected: "log <vkey> [<url>]",
            });
        }
        if self.logs.len() == MAX_LOGS {
            return Err(PolicyError::TooMany {
                line,
                what: "logs",
                max: MAX_LOGS,
            });
        }
        let key = vkey_key_material(fields[1], line)?;
        if let Some(&first_line) = self.log_keys.get(&key) {
            return Err(PolicyError::DuplicateLog { line, first_line });
        }
        self.log_keys.insert(key, line);
        self.logs.push(PolicyLog {
            vkey: fields[1].to_owned(),
            url: optional_url(fields.get(2)),
        });
        Ok(())
    }

    fn witness(&mut self, line: usize, fields: &[&str]) -> Result<(), PolicyError> {
        if !(3..=4).contains(&fields.len()) {
            return Err(PolicyError::WrongFieldCount {
                line,
                expected: "witness <name> <vkey> [<url>]",
            });
        }
        if self.witnesses.len() == MAX_WITNESSES {
            return Err(PolicyError::TooMany {
                line,
                what: "witnesses",
                max: MAX_WITNESSES,
            });
        }
        let name = fields[1];
        self.new_name(line, name)?;
        let key = vkey_key_material(fields[2], line)?;
        if let Some(&first_line) = self.witness_keys.get(&key) {
            return Err(PolicyError::DuplicateWitness { line, first_line });
        }
        self.witness_keys.insert(key, line);
        self.names.insert(name.to_owned(), line);
        self.witnesses.push(PolicyWitness {
            name: name.to_owned(),
            vkey: fields[2].to_owned(),
            url: optional_url(fields.get(3)),
        });
        Ok(())
    }

    fn group(&mut self, line: usize, fields: &[&str]) -> Result<(), PolicyError> {
        if fields.len() < 3 {
            return Err(PolicyError::WrongFieldCount {
                line,
                expected: "group <name> all|any|<k> <name>...",
            });
        }
        if self.groups.len() == MAX_GROUPS {
            return Err(PolicyError::TooMany {
                line,
                what: "groups",
                max: MAX_GROUPS,
            });
        }
        let name = fields[1];
        self.new_name(line, name)?;
        let member_fields = &fields[3..];
        if member_fields.is_empty() {
            return Err(PolicyError::EmptyGroup {
                line,
                group: name.to_owned(),
            });
        }
        let mut members: Vec<String> = Vec::with_capacity(member_fields.len());
        for &member in member_fields {
            if member == NONE_NAME {
                return Err(PolicyError::NoneAsMember { line });
            }
            if !self.names.contains_key(member) {
                return Err(PolicyError::UndefinedName {
                    line,
                    name: member.to_owned(),
                });
            }
            if members.iter().any(|m| m == member) {
                return Err(PolicyError::DuplicateMember {
                    line,
                    name: member.to_owned(),
                });
            }
            members.push(member.to_owned());
        }
        let n = members.len();
        let threshold = match fields[2] {
            "all" => Threshold::All,
            "any" => Threshold::Any,
            digits => {
                let k = Some(digits)
                    .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|d| d.parse::<usize>().ok())
                    .filter(|k| (1..=n).contains(k));
                match k {
                    Some(k) => Threshold::AtLeast(k),
                    None => {
                        return Err(PolicyError::BadThreshold {
                            line,
                            threshold: digits.to_owned(),
                            members: n,
                        });
                    }
                }
            }
        };
        self.names.insert(name.to_owned(), line);
        self.groups.push(PolicyGroup {
            name: name.to_owned(),
            threshold,
            members,
        });
        Ok(())
    }

    fn quorum(&mut self, line: usize, fields: &[&str]) -> Result<(), PolicyError> {
        if fields.len() != 2 {
            return Err(PolicyError::WrongFieldCount {
                line,
                expected: "quorum <name>",
            });
        }
        if let Some((_, first_line)) = self.quorum {
            return Err(PolicyError::DuplicateQuorum { line, first_line });
        }
        let name = fields[1];
        let quorum = if name == NONE_NAME {
            Quorum::None
        } else if self.names.contains_key(name) {
            Quorum::Name(name.to_owned())
        } else {
            return Err(PolicyError::UndefinedName {
                line,
                name: name.to_owned(),
            });
        };
        self.quorum = Some((quorum, line));
        Ok(())
    }
}

fn is_allowed_byte(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x20..=0x7e | 0x80..=0xff)
}

impl Policy {
    /// Parses and checks a policy file. Lines end in `\n` (a missing newline after the last line
    /// is tolerated); spaces and tabs separate fields; blank lines and `#` comment lines are
    /// ignored.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let mut parser = Parser::default();
        for (i, raw) in text.split('\n').enumerate() {
            let line = i + 1;
            if let Some(&byte) = raw.as_bytes().iter().find(|&&b| !is_allowed_byte(b)) {
                return Err(PolicyError::ForbiddenByte { line, byte });
            }
            let fields: Vec<&str> = raw.split([' ', '\t']).filter(|f| !f.is_empty()).collect();
            match fields.first() {
                None => continue,
                Some(first) if first.starts_with('#') => continue,
                Some(_) => parser.line(line, &fields)?,
            }
        }
        let (quorum, _) = parser.quorum.ok_or(PolicyError::MissingQuorum)?;
        Ok(Policy {
            logs: parser.logs,
            witnesses: parser.witnesses,
            groups: parser.groups,
            quorum,
        })
    }

    /// The witness with this policy name, if any.
    pub fn witness(&self, name: &str) -> Option<&PolicyWitness> {
        self.witnesses.iter().find(|w| w.name == name)
    }

    /// The group with this policy name, if any.
    pub fn group(&self, name: &str) -> Option<&PolicyGroup> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Is the quorum met, given which witnesses (by policy name) produced a valid cosignature?
    ///
    /// `cosigned` is asked about each witness at most once. Groups are evaluated in file order,
    /// which is a valid evaluation order because groups only refer to earlier definitions.
    pub fn quorum_met(&self, cosigned: &dyn Fn(&str) -> bool) -> bool {
        let target = match &self.quorum {
            Quorum::None => return true,
            Quorum::Name(name) => name.as_str(),
        };
        if self.witness(target).is_some() {
            return cosigned(target);
        }
        let mut witnessed: HashMap<&str, bool> = HashMap::new();
        for w in &self.witnesses {
            witnessed.insert(&w.name, cosigned(&w.name));
        }
        for g in &self.groups {
            let count = g
                .members
                .iter()
                .filter(|m| witnessed.get(m.as_str()).copied().unwrap_or(false))
                .count();
            let ok = count >= g.k();
            if g.name == target {
                return ok;
            }
            witnessed.insert(&g.name, ok);
        }
        // Unreachable for a parsed policy: the quorum names a defined witness or group. A
        // hand-built policy naming something undefined is never satisfied.
        false
    }

    /// A short human-readable description of the quorum rule, for logs and error messages.
    pub fn quorum_description(&self) -> String {
        let name = match &self.quorum {
            Quorum::None => return NONE_NAME.to_owned(),
            Quorum::Name(name) => name,
        };
        if let Some(g) = self.group(name) {
            let rule = match g.threshold {
                Threshold::All => "all".to_owned(),
                Threshold::Any => "any".to_owned(),
                Threshold::AtLeast(k) => k.to_string(),
            };
            format!("group {}: {} of [{}]", g.name, rule, g.members.join(", "))
        } else if self.witness(name).is_some() {
            format!("witness {name}")
        } else {
            format!("undefined {name}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-formed Ed25519-style vkey whose key bytes are all `seed`.
    fn vkey(name: &str, seed: u8) -> String {
        let mut raw = vec![0x01];
        raw.extend_from_slice(&[seed; 32]);
        format!(
            "{name}+{:08x}+{}",
            u32::from(seed) * 0x0101_0101,
            STANDARD.encode(raw)
        )
    }

    fn example_policy() -> String {
        format!(
            "log {}\n\
             \n\
             witness X1 {}\n\
             witness X2 {}\n\
             witness X3 {}\n\
             group X-witnesses 2 X1 X2 X3\n\
             \n\
             witness Y1 {}\n\
             witness Y2 {}\n\
             witness Y3 {}\n\
             group Y-witnesses any Y1 Y2 Y3\n\
             \n\
             group X-and-Y all X-witnesses Y-witnesses\n\
             quorum X-and-Y\n",
            vkey("example.com/log", 1),
            vkey("x1.example", 11),
            vkey("x2.example", 12),
            vkey("x3.example", 13),
            vkey("y1.example", 21),
            vkey("y2.example", 22),
            vkey("y3.example", 23),
        )
    }

    fn met(policy: &Policy, names: &[&str]) -> bool {
        policy.quorum_met(&|n: &str| names.contains(&n))
    }

    fn err(text: &str) -> PolicyError {
        Policy::parse(text).expect_err("policy must be rejected")
    }

    #[test]
    fn spec_example_structure() {
        let p = Policy::parse(&example_policy()).expect("example parses");
        assert_eq!(p.logs.len(), 1);
        assert_eq!(p.logs[0].vkey, vkey("example.com/log", 1));
        assert_eq!(p.logs[0].url, None);
        let names: Vec<&str> = p.witnesses.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["X1", "X2", "X3", "Y1", "Y2", "Y3"]);
        assert_eq!(p.witness("Y2").unwrap().vkey, vkey("y2.example", 22));
        assert_eq!(p.groups.len(), 3);
        assert_eq!(p.group("X-witnesses").unwrap().threshold, Threshold::AtLeast(2));
        assert_eq!(p.group("Y-witnesses").unwrap().k(), 1);
        assert_eq!(p.group("X-and-Y").unwrap().k(), 2);
        assert_eq!(p.quorum, Quorum::Name("X-and-Y".to_owned()));
        assert_eq!(
            p.quorum_description(),
            "group X-and-Y: all of [X-witnesses, Y-witnesses]"
        );
    }

    #[test]
    fn spec_example_quorum() {
        let p = Policy::parse(&example_policy()).unwrap();
        assert!(met(&p, &["X1", "X2", "Y1"]));
        assert!(met(&p, &["X2", "X3", "Y3"]));
        assert!(met(&p, &["X1", "X2", "X3", "Y1", "Y2", "Y3"]));
        assert!(!met(&p, &["X1"]));
        assert!(!met(&p, &["X1", "X2"]));
        assert!(!met(&p, &["X1", "Y1", "Y2", "Y3"]));
        assert!(!met(&p, &["Y1", "Y2", "Y3"]));
        assert!(!met(&p, &[]));
        // Names that are not witnesses (groups, unknown names) do not count as cosigners.
        assert!(!met(&p, &["X-witnesses", "Y-witnesses", "X-and-Y"]));
    }

    #[test]
    fn quorum_none_and_single_witness() {
        let p = Policy::parse("quorum none\n").unwrap();
        assert_eq!(p.quorum, Quorum::None);
        assert!(p.logs.is_empty() && p.witnesses.is_empty());
        assert!(met(&p, &[]));
        assert_eq!(p.quorum_description(), "none");

        let text = format!("witness W {}\nwitness V {}\nquorum W", vkey("w", 1), vkey("v", 2));
        let p = Policy::parse(&text).unwrap();
        assert!(met(&p, &["W"]));
        assert!(!met(&p, &["V"]));
        assert_eq!(p.quorum_description(), "witness W");
    }

    #[test]
    fn whitespace_comments_and_urls() {
        let text = format!(
            "# a policy\n\
             \t  # indented comment\n\
             \x20\t\n\
             \tlog\t{}  https://log.example/  \n\
             witness  W1 {} https://w1.example/add\n\
             witness W2\t{}\n\
             group  G \t 02  W1 W2 \n\
             quorum G   \n",
            vkey("example.com/log", 1),
            vkey("w1", 2),
            vkey("w2", 3)
        );
        let p = Policy::parse(&text).unwrap();
        assert_eq!(p.logs[0].url.as_deref(), Some("https://log.example/"));
        assert_eq!(p.witnesses[0].url.as_deref(), Some("https://w1.example/add"));
        assert_eq!(p.witnesses[1].url, None);
        assert_eq!(p.group("G").unwrap().threshold, Threshold::AtLeast(2));
        assert_eq!(p.quorum_description(), "group G: 2 of [W1, W2]");
        assert!(met(&p, &["W1", "W2"]));
        assert!(!met(&p, &["W2"]));
    }

    #[test]
    fn names_are_opaque_bytes() {
        // "K" and the Kelvin sign are different names; non-ASCII is allowed in names and URLs.
        let text = format!(
            "witness K {}\nwitness \u{212A} {} https://b\u{fc}cher.example/\ngroup \u{00e9}quipe all K \u{212A}\nquorum \u{00e9}quipe\n",
            vkey("k", 1),
            vkey("kelvin", 2)
        );
        let p = Policy::parse(&text).unwrap();
        assert!(!met(&p, &["K"]));
        assert!(met(&p, &["K", "\u{212A}"]));
    }

    #[test]
    fn forbidden_bytes() {
        let base = "quorum none\n";
        for (text, line, byte) in [
            ("quorum none\r\n", 1, b'\r'),
            ("# ok\nquorum\x0bnone\n", 2, 0x0b),
            ("quorum none\n\x7f\n", 2, 0x7f),
            ("\0quorum none\n", 1, 0),
            ("quorum none\n# comment \x1b[0m\n", 2, 0x1b),
        ] {
            assert_eq!(err(text), PolicyError::ForbiddenByte { line, byte }, "{text:?}");
        }
        assert!(Policy::parse(base).is_ok());
    }

    #[test]
    fn structural_errors() {
        assert_eq!(err(""), PolicyError::MissingQuorum);
        assert_eq!(err("# only a comment\n"), PolicyError::MissingQuorum);
        assert_eq!(
            err("quorum none\nquorum none\n"),
            PolicyError::DuplicateQuorum {
                line: 2,
                first_line: 1
            }
        );
        assert_eq!(
            err("Quorum none\n"),
            PolicyError::UnknownKeyword {
                line: 1,
                keyword: "Quorum".to_owned()
            }
        );
        assert!(matches!(
            err("quorum\n"),
            PolicyError::WrongFieldCount { line: 1, .. }
        ));
        assert!(matches!(
            err("quorum none # trailing comment\n"),
            PolicyError::WrongFieldCount { line: 1, .. }
        ));
        assert!(matches!(
            err("log\nquorum none\n"),
            PolicyError::WrongFieldCount { line: 1, .. }
        ));
        let text = format!("log {} url extra\nquorum none\n", vkey("l", 1));
        assert!(matches!(err(&text), PolicyError::WrongFieldCount { line: 1, .. }));
        let text = format!("witness {}\nquorum none\n", vkey("w", 1));
        assert!(matches!(err(&text), PolicyError::WrongFieldCount { line: 1, .. }));
        let text = format!("witness W {} url extra\nquorum none\n", vkey("w", 1));
        assert!(matches!(err(&text), PolicyError::WrongFieldCount { line: 1, .. }));
        assert!(matches!(
            err("group G\nquorum none\n"),
            PolicyError::WrongFieldCount { line: 1, .. }
        ));
    }

    #[test]
    fn bad_vkeys() {
        let good_key = STANDARD.encode([[1u8].as_slice(), &[9; 32]].concat());
        for (vk, reason_part) in [
            ("name+01020304".to_owned(), "expected"),
            (format!("na+me+01020304+{good_key}"), "8 hex"),
            (format!("+01020304+{good_key}"), "empty key name"),
            (format!("name+0102030+{good_key}"), "8 hex"),
            (format!("name+0102030g+{good_key}"), "8 hex"),
            (format!("name+01020304+{}", &good_key[..43]), "base64"),
            (format!("name+01020304+{good_key}+"), "base64"),
            (format!("name+01020304+{good_key}=="), "base64"),
            ("name+01020304+AQ==".to_owned(), "key material"),
            ("name+01020304+".to_owned(), "key material"),
        ] {
            let text = format!("witness W {vk}\nquorum none\n");
            match err(&text) {
                PolicyError::BadVkey { line: 1, reason } => {
                    assert!(reason.contains(reason_part), "{vk}: {reason}")
                }
                other => panic!("{vk}: unexpected {other:?}"),
            }
            let text = format!("quorum none\nlog {vk}\n");
            assert!(matches!(err(&text), PolicyError::BadVkey { line: 2, .. }), "{vk}");
        }
    }

    #[test]
    fn vkey_base64_may_contain_plus() {
        // 0xfb bytes encode to base64 full of '+' and '/'.
        let raw = [[1u8].as_slice(), &[0xfb; 32]].concat();
        let encoded = STANDARD.encode(&raw);
        assert!(encoded.contains('+'));
        let vk = format!("plus.example+0badc0de+{encoded}");
        let p = Policy::parse(&format!("witness P {vk}\nquorum P\n")).unwrap();
        assert_eq!(p.witnesses[0].vkey, vk);
        assert_eq!(vkey_key_material(&vk, 1).unwrap(), raw[1..]);
        // The signed-note specification's example vkey.
        let spec = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
        assert_eq!(vkey_key_material(spec, 1).unwrap().len(), 32);
    }

    #[test]
    fn duplicate_keys() {
        // Same key material under a different key name and key id is still a duplicate.
        let text = format!(
            "log {}\nlog {}\nquorum none\n",
            vkey("a.example", 5),
            vkey("b.example", 5).replace("+05050505+", "+deadbeef+")
        );
        assert_eq!(
            err(&text),
            PolicyError::DuplicateLog {
                line: 2,
                first_line: 1
            }
        );
        let text = format!(
            "witness A {}\n# c\nwitness B {}\nquorum none\n",
            vkey("a", 7),
            vkey("b", 7)
        );
        assert_eq!(
            err(&text),
            PolicyError::DuplicateWitness {
                line: 3,
                first_line: 1
            }
        );
        // The same public key wrapped with another signature type byte is the same key.
        let mut raw = vec![0x04];
        raw.extend_from_slice(&[7; 32]);
        let cosig_vkey = format!("a+01020304+{}", STANDARD.encode(raw));
        let text = format!(
            "witness A {}\nwitness B {cosig_vkey}\nquorum none\n",
            vkey("a", 7)
        );
        assert!(matches!(
            err(&text),
            PolicyError::DuplicateWitness { line: 2, .. }
        ));
        // A log and a witness are separate sets.
        let text = format!("log {}\nwitness A {}\nquorum A\n", vkey("l", 7), vkey("w", 7));
        assert!(Policy::parse(&text).is_ok());
    }

    #[test]
    fn name_rules() {
        let w = |name: &str, seed: u8| format!("witness {name} {}\n", vkey("k", seed));
        // Duplicate names across witnesses and groups.
        let text = format!("{}{}quorum none\n", w("A", 1), w("A", 2));
        assert_eq!(
            err(&text),
            PolicyError::DuplicateName {
                line: 2,
                name: "A".to_owned(),
                first_line: 1
            }
        );
        let text = format!("{}group A any A\nquorum none\n", w("A", 1));
        assert!(matches!(err(&text), PolicyError::DuplicateName { line: 2, .. }));
        let text = format!("{}group G any A\n{}quorum none\n", w("A", 1), w("G", 2));
        assert!(matches!(err(&text), PolicyError::DuplicateName { line: 3, .. }));
        // `none` is reserved.
        let text = format!("{}quorum none\n", w("none", 1));
        assert_eq!(err(&text), PolicyError::ReservedName { line: 1 });
        let text = format!("{}group none any A\nquorum none\n", w("A", 1));
        assert_eq!(err(&text), PolicyError::ReservedName { line: 2 });
        let text = format!("{}group G any A none\nquorum G\n", w("A", 1));
        assert_eq!(err(&text), PolicyError::NoneAsMember { line: 2 });
        // Names are case-sensitive, so `None` is an ordinary name.
        let text = format!("{}quorum None\n", w("None", 1));
        assert!(Policy::parse(&text).is_ok());
    }

    #[test]
    fn references_must_be_earlier() {
        let w = |name: &str, seed: u8| format!("witness {name} {}\n", vkey("k", seed));
        let undefined = |line, name: &str| PolicyError::UndefinedName {
            line,
            name: name.to_owned(),
        };
        // Forward reference to a witness.
        let text = format!("group G any A\n{}quorum G\n", w("A", 1));
        assert_eq!(err(&text), undefined(1, "A"));
        // Quorum before the witness it names.
        let text = format!("quorum A\n{}", w("A", 1));
        assert_eq!(err(&text), undefined(1, "A"));
        // Self reference.
        let text = format!("{}group G any A G\nquorum G\n", w("A", 1));
        assert_eq!(err(&text), undefined(2, "G"));
        // Forward reference to a group.
        let text = format!("{}group G1 any A G2\ngroup G2 any A\nquorum G1\n", w("A", 1));
        assert_eq!(err(&text), undefined(2, "G2"));
        // Quorum naming nothing.
        assert_eq!(err("quorum nobody\n"), undefined(1, "nobody"));
        // Repeated member.
        let text = format!("{}{}group G 2 A B A\nquorum G\n", w("A", 1), w("B", 2));
        assert_eq!(
            err(&text),
            PolicyError::DuplicateMember {
                line: 3,
                name: "A".to_owned()
            }
        );
    }

    #[test]
    fn thresholds() {
        let head = format!(
            "witness A {}\nwitness B {}\nwitness C {}\n",
            vkey("a", 1),
            vkey("b", 2),
            vkey("c", 3)
        );
        for bad in [
            "0",
            "4",
            "-1",
            "+1",
            "ALL",
            "Any",
            "two",
            "1.0",
            "0x2",
            "99999999999999999999999",
        ] {
            let text = format!("{head}group G {bad} A B C\nquorum G\n");
            assert_eq!(
                err(&text),
                PolicyError::BadThreshold {
                    line: 4,
                    threshold: bad.to_owned(),
                    members: 3
                },
                "{bad}"
            );
        }
        let text = format!("{head}group G all\nquorum none\n");
        assert_eq!(
            err(&text),
            PolicyError::EmptyGroup {
                line: 4,
                group: "G".to_owned()
            }
        );
        for (k, expect) in [("1", 1), ("2", 2), ("3", 3), ("any", 1), ("all", 3)] {
            let text = format!("{head}group G {k} A B C\nquorum G\n");
            let p = Policy::parse(&text).unwrap();
            assert_eq!(p.group("G").unwrap().k(), expect, "{k}");
            let enough = ["A", "B", "C"];
            assert!(met(&p, &enough[..expect]), "{k}");
            assert!(!met(&p, &enough[..expect - 1]), "{k}");
        }
    }

    #[test]
    fn limits() {
        let mut text = String::new();
        for i in 0..MAX_WITNESSES {
            text.push_str(&format!(
                "witness w{i} w+00000000+{}\n",
                STANDARD.encode([[1u8].as_slice(), &(i as u64).to_be_bytes()].concat())
            ));
        }
        text.push_str("quorum w0\n");
        assert_eq!(Policy::parse(&text).unwrap().witnesses.len(), MAX_WITNESSES);
        text.push_str("witness extra extra+00000000+AQE=\n");
        assert_eq!(
            err(&text),
            PolicyError::TooMany {
                line: MAX_WITNESSES + 2,
                what: "witnesses",
                max: MAX_WITNESSES
            }
        );

        let mut text = String::new();
        for i in 0..=MAX_LOGS {
            text.push_str(&format!(
                "log l+00000000+{}\n",
                STANDARD.encode([[1u8].as_slice(), &(i as u64).to_be_bytes()].concat())
            ));
        }
        text.push_str("quorum none\n");
        assert!(matches!(err(&text), PolicyError::TooMany { what: "logs", .. }));

        let mut text = format!("witness A {}\n", vkey("a", 1));
        for i in 0..=MAX_GROUPS {
            text.push_str(&format!("group g{i} any A\n"));
        }
        text.push_str("quorum g0\n");
        assert!(matches!(err(&text), PolicyError::TooMany { what: "groups", .. }));
    }

    #[test]
    fn deep_shared_groups_evaluate_quickly() {
        // Each group refers to the two before it; naive recursive evaluation would take
        // exponential time, in-order evaluation is linear.
        let mut text = format!("witness A {}\nwitness B {}\n", vkey("a", 1), vkey("b", 2));
        text.push_str("group g0 all A\ngroup g1 all B\n");
        for i in 2..MAX_GROUPS {
            text.push_str(&format!("group g{i} all g{} g{}\n", i - 1, i - 2));
        }
        text.push_str(&format!("quorum g{}\n", MAX_GROUPS - 1));
        let p = Policy::parse(&text).unwrap();
        let calls = std::cell::Cell::new(0);
        let cosigned = |n: &str| {
            calls.set(calls.get() + 1);
            n == "A" || n == "B"
        };
        assert!(p.quorum_met(&cosigned));
        assert_eq!(calls.get(), 2);
        assert!(!met(&p, &["A"]));
    }
}
