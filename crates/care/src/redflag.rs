//! Red-flag terms (NEG-LIST): per-department lists of words and phrases that signal a condition unsuitable
//! for online care, matched on message text as it arrives. Chinese has no spaces between words, so the
//! text is not tokenised: all terms of a rule set are compiled into one Aho-Corasick automaton and found
//! as substrings in one pass over the text (whitespace removed and ASCII lower-cased first, so
//! "胸 痛" and "Chest Pain" still match).

use aho_corasick::{AhoCorasick, MatchKind};
use serde::Deserialize;

use crate::rules::Severity;

/// One list of red-flag terms.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedFlagList {
    /// Stable code of what the terms signal, e.g. `suicide_risk`.
    pub label: String,
    /// The department it applies to, or `*` for every department.
    pub department: String,
    pub severity: Severity,
    /// Minutes the person on duty has to acknowledge an alert before it is escalated.
    pub ack_minutes: u32,
    pub zh: String,
    pub en: String,
    pub terms: Vec<String>,
}

/// The compiled terms of a rule set.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    automaton: Option<AhoCorasick>,
    /// For each pattern, the index of its list.
    list_of: Vec<usize>,
    lists: Vec<RedFlagList>,
}

fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl Matcher {
    pub fn new(lists: &[RedFlagList]) -> Result<Matcher, String> {
        let mut patterns = Vec::new();
        let mut list_of = Vec::new();
        for (i, l) in lists.iter().enumerate() {
            if l.label.is_empty() || l.terms.is_empty() || l.ack_minutes == 0 {
                return Err(format!(
                    "red-flag list {:?} needs a label, terms and ack_minutes > 0",
                    l.label
                ));
            }
            for t in &l.terms {
                let t = normalise(t);
                if t.is_empty() {
                    return Err(format!("red-flag list {:?} has an empty term", l.label));
                }
                patterns.push(t);
                list_of.push(i);
            }
        }
        let automaton = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(&patterns)
                    .map_err(|e| e.to_string())?,
            )
        };
        Ok(Matcher {
            automaton,
            list_of,
            lists: lists.to_vec(),
        })
    }

    /// The lists (at most once each, in list order) with a term in `text`, for a consultation of
    /// `department`.
    pub fn hits(&self, department: &str, text: &str) -> Vec<&RedFlagList> {
        let Some(ac) = &self.automaton else {
            return vec![];
        };
        let mut seen = vec![false; self.lists.len()];
        let norm = normalise(text);
        for m in ac.find_overlapping_iter(&norm) {
            let i = self.list_of[m.pattern().as_usize()];
            let l = &self.lists[i];
            if l.department == "*" || l.department == department {
                seen[i] = true;
            }
        }
        self.lists
            .iter()
            .zip(seen)
            .filter_map(|(l, s)| s.then_some(l))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(label: &str, department: &str, terms: &[&str]) -> RedFlagList {
        RedFlagList {
            label: label.into(),
            department: department.into(),
            severity: Severity::Critical,
            ack_minutes: 15,
            zh: "z".into(),
            en: "e".into(),
            terms: terms.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn finds_chinese_terms_inside_running_text() {
        let m = Matcher::new(&[
            list("suicide_risk", "*", &["不想活", "轻生"]),
            list("fever", "pediatrics", &["高烧不退"]),
        ])
        .unwrap();
        let hits = m.hits("psychiatry", "医生，我最近总觉得不想活了，晚上睡不着");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].label, "suicide_risk");
        // Spaces and case do not hide a term.
        assert_eq!(m.hits("general", "有时 不 想 活").len(), 1);
        // A department-specific list only applies to its department.
        assert!(m.hits("general", "孩子高烧不退两天").is_empty());
        assert_eq!(m.hits("pediatrics", "孩子高烧不退两天")[0].label, "fever");
        // Each list at most once, however many of its terms appear.
        assert_eq!(m.hits("general", "不想活，想轻生，不想活").len(), 1);
        assert!(m.hits("general", "最近睡眠还可以，食欲正常").is_empty());
    }

    #[test]
    fn one_text_can_raise_several_lists() {
        let m = Matcher::new(&[
            list("cardiac", "*", &["胸痛", "胸口压榨"]),
            list("breathing", "*", &["呼吸困难", "喘不上气"]),
        ])
        .unwrap();
        let hits: Vec<&str> = m
            .hits("cardiology", "突然胸痛，喘不上气，出冷汗")
            .iter()
            .map(|l| l.label.as_str())
            .collect();
        assert_eq!(hits, vec!["cardiac", "breathing"]);
    }

    #[test]
    fn ascii_terms_ignore_case() {
        let m = Matcher::new(&[list("cardiac", "*", &["Chest Pain"])]).unwrap();
        assert_eq!(m.hits("general", "sudden CHEST pain since morning").len(), 1);
    }

    #[test]
    fn empty_lists_are_refused() {
        assert!(Matcher::new(&[list("x", "*", &[])]).is_err());
        assert!(Matcher::new(&[list("x", "*", &["  "])]).is_err());
        assert!(Matcher::new(&[]).unwrap().hits("general", "不想活").is_empty());
    }
}
