//! Pieces shared by the benchmarks: synthetic content, latency statistics, a small PRNG, process
//! memory, and the one-line summary.

use std::fmt::Display;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

/// Mixed Chinese and ASCII clinical-sounding text. Nothing in it needs a JSON escape, so its bytes
/// appear unchanged in canonical JSON (which writes non-ASCII characters as raw UTF-8).
const PHRASE: &str = "患者主诉头痛三天，伴轻度发热与咳嗽；查体：体温37.8℃，咽部充血。\
    Patient reports headache for 3 days with mild fever and cough. \
    处理：建议多饮水、休息，必要时复诊。Advice: rest, fluids, follow-up if worse. ";

/// What the canonical form `{"seq":N,"text":"…"}` costs besides the digits of N and the text.
const FRAME_BYTES: usize = r#"{"seq":,"text":""}"#.len();

/// Builds entry contents whose canonical JSON is close to a target size.
pub struct ContentMaker {
    target: usize,
    filler: String,
}

impl ContentMaker {
    pub fn new(target: usize) -> Self {
        let mut filler = String::with_capacity(target + PHRASE.len());
        while filler.len() < target {
            filler.push_str(PHRASE);
        }
        ContentMaker { target, filler }
    }

    /// `{"seq": seq, "text": …}`, with the text sized so that the canonical JSON is `target`
    /// bytes whenever the target leaves room for the frame.
    pub fn make(&self, seq: u64) -> Value {
        let want = self.target.saturating_sub(FRAME_BYTES + decimal_digits(seq));
        let mut cut = want.min(self.filler.len());
        while !self.filler.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut text = String::with_capacity(want);
        text.push_str(&self.filler[..cut]);
        // A multi-byte character may not fit at the end: make up the difference in ASCII.
        while text.len() < want {
            text.push('.');
        }
        json!({ "seq": seq, "text": text })
    }
}

fn decimal_digits(mut n: u64) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// xorshift64* — plenty for picking uniformly spread indices; not for anything secret.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        // Spread small seeds out and keep the state non-zero.
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift rather than modulo to avoid its bias.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Latencies in microseconds, sorted once for the percentile queries.
pub struct Latencies(Vec<u64>);

impl Latencies {
    pub fn from_unsorted(mut us: Vec<u64>) -> Self {
        us.sort_unstable();
        Latencies(us)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Nearest-rank percentile (`p` in 0..=100) in milliseconds, or "na" when there are no
    /// samples.
    pub fn percentile_ms(&self, p: f64) -> String {
        if self.0.is_empty() {
            return "na".into();
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        let i = rank.clamp(1, self.0.len()) - 1;
        ms(self.0[i])
    }

    /// Arithmetic mean in milliseconds, or "na" when there are no samples.
    pub fn mean_ms(&self) -> String {
        if self.0.is_empty() {
            return "na".into();
        }
        ms(self.0.iter().sum::<u64>() / self.0.len() as u64)
    }

    pub fn max_ms(&self) -> String {
        self.0.last().map_or_else(|| "na".into(), |&us| ms(us))
    }
}

fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `count / seconds` with one decimal, or "na" for an empty interval.
pub fn rate(count: u64, d: Duration) -> String {
    let s = d.as_secs_f64();
    if s > 0.0 {
        format!("{:.1}", count as f64 / s)
    } else {
        "na".into()
    }
}

/// Resident set size now and its peak (VmRSS, VmHWM) in MiB, from /proc/self/status.
pub fn memory_mb() -> anyhow::Result<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| -> anyhow::Result<f64> {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .ok_or_else(|| anyhow::anyhow!("/proc/self/status has no {name}"))?;
        let kb: f64 = line
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("cannot parse {name}{line}"))?;
        Ok(kb / 1024.0)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// A fresh temporary data directory, under `parent` if given (else the system's temp dir).
pub fn temp_data_dir(parent: Option<&Path>) -> anyhow::Result<tempfile::TempDir> {
    let builder = tempfile::Builder::new().prefix("tianping-bench-").to_owned();
    Ok(match parent {
        Some(p) => builder.tempdir_in(p)?,
        None => builder.tempdir()?,
    })
}

/// A node on a fresh temporary data directory (under `tmp_dir` if given), on `database_url` if
/// given (else SQLite in that directory), with a new log of `suite`. Keep the directory alive as
/// long as the node.
pub async fn open_node(
    tmp_dir: Option<&Path>,
    database_url: Option<&str>,
    suite: &str,
) -> anyhow::Result<(tempfile::TempDir, tianping_service::Node)> {
    use anyhow::Context;
    let data_dir = temp_data_dir(tmp_dir)?;
    let mut settings =
        tianping_service::Settings::load(None, Some(data_dir.path())).context("loading settings")?;
    if let Some(url) = database_url {
        settings.database_url = url.to_owned();
    }
    settings.log.suite = suite.to_owned();
    let node = tianping_service::Node::open(settings)
        .await
        .context("opening the node")?;
    Ok((data_dir, node))
}

/// The final `key=value …` line. Values never contain spaces (they are replaced by `_`).
#[derive(Default)]
pub struct Summary(Vec<(&'static str, String)>);

impl Summary {
    pub fn add(&mut self, key: &'static str, value: impl Display) -> &mut Self {
        let v = value.to_string().replace(char::is_whitespace, "_");
        self.0.push((key, if v.is_empty() { "na".into() } else { v }));
        self
    }

    /// Print the line on stdout; it must be the last thing the command writes there.
    pub fn print(&self) {
        let line: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("{}", line.join(" "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tianping_log::envelope::canonical_json;

    #[test]
    fn content_hits_the_target_size() {
        for target in [64, 100, 1024, 4096] {
            let maker = ContentMaker::new(target);
            for seq in [0, 7, 12_345, u64::MAX] {
                assert_eq!(canonical_json(&maker.make(seq)).len(), target, "{target} {seq}");
            }
        }
        // Too small for the frame: as small as it gets.
        let tiny = canonical_json(&ContentMaker::new(3).make(5));
        assert_eq!(tiny, br#"{"seq":5,"text":""}"#);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let l = Latencies::from_unsorted((1..=100).rev().map(|ms| ms * 1000).collect());
        assert_eq!(l.percentile_ms(50.0), "50.000");
        assert_eq!(l.percentile_ms(99.0), "99.000");
        assert_eq!(l.max_ms(), "100.000");
        assert_eq!(Latencies::from_unsorted(vec![]).percentile_ms(50.0), "na");
    }

    #[test]
    fn prng_stays_in_range() {
        let mut r = XorShift::new(0);
        assert!((0..10_000).all(|_| r.below(7) < 7));
    }
}
