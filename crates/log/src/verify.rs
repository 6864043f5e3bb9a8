//! Offline verification of an exported entry proof against a trust policy: no network, no database.
//!
//! Steps, each reported in Chinese and English: parse the policy and the `c2sp.org/tlog-proof@v1`;
//! verify the checkpoint's signature with a log key of the policy whose name is the checkpoint's
//! origin; verify the witnesses' cosignatures and evaluate the quorum; decode the entry envelope
//! carried in the proof's `extra` line; check the inclusion proof of its leaf hash against the
//! checkpoint's root (the log's hash is SHA-256 or SM3; both are tried and the one that matches is
//! named); optionally check content and salt against the envelope's commitment.

use std::fmt::Write as _;

use crate::checkpoint::open_checkpoint;
use crate::envelope::{Envelope, SALT_LEN, canonical_json};
use crate::hash::HashAlg;
use crate::merkle::verify_inclusion;
use crate::note::{VerifierKey, verify_cosignature};
use crate::policy::Policy;
use crate::proof::TlogProof;

/// One step of the verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub ok: bool,
    pub zh: String,
    pub en: String,
}

/// What was checked, and whether everything held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn valid(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }

    fn pass(&mut self, zh: impl Into<String>, en: impl Into<String>) {
        self.checks.push(Check {
            ok: true,
            zh: zh.into(),
            en: en.into(),
        });
    }

    fn fail(mut self, zh: impl Into<String>, en: impl Into<String>) -> Self {
        self.checks.push(Check {
            ok: false,
            zh: zh.into(),
            en: en.into(),
        });
        self
    }

    /// Bilingual text, one line per check, then the verdict.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let mark = if c.ok { "✓" } else { "✗" };
            let _ = writeln!(out, "{mark} {}\n  {}", c.zh, c.en);
        }
        if self.valid() {
            out.push_str("结果：证明有效。\nResult: the proof is VALID.\n");
        } else {
            out.push_str("结果：证明无效。\nResult: the proof is INVALID.\n");
        }
        out
    }
}

/// Content to check against the commitment, with its salt.
pub struct ContentCheck<'a> {
    pub content: &'a [u8],
    pub salt: [u8; SALT_LEN],
}

/// Verify `proof_text` under `policy_text`.
pub fn verify(policy_text: &str, proof_text: &str, content: Option<ContentCheck<'_>>) -> Report {
    let mut r = Report::default();
    let policy = match Policy::parse(policy_text) {
        Ok(p) => p,
        Err(e) => {
            return r.fail(
                format!("信任策略无法解析：{e}"),
                format!("trust policy does not parse: {e}"),
            );
        }
    };
    let mut log_keys = Vec::new();
    for log in &policy.logs {
        match VerifierKey::parse(&log.vkey) {
            Ok(k) => log_keys.push(k),
            Err(e) => {
                return r.fail(
                    format!("策略中的日志公钥无效：{e}"),
                    format!("a log key in the policy is invalid: {e}"),
                );
            }
        }
    }
    r.pass(
        format!(
            "信任策略已解析：{} 个日志，{} 个见证人",
            policy.logs.len(),
            policy.witnesses.len()
        ),
        format!(
            "trust policy parsed: {} log(s), {} witness(es)",
            policy.logs.len(),
            policy.witnesses.len()
        ),
    );

    let proof = match TlogProof::parse(proof_text) {
        Ok(p) => p,
        Err(e) => return r.fail(format!("证明格式错误：{e}"), format!("proof is malformed: {e}")),
    };
    r.pass(
        format!("证明格式正确（c2sp.org/tlog-proof@v1，条目序号 {}）", proof.index),
        format!(
            "proof is well formed (c2sp.org/tlog-proof@v1, entry index {})",
            proof.index
        ),
    );

    let (checkpoint, note) = match open_checkpoint(&proof.checkpoint, &log_keys) {
        Ok(x) => x,
        Err(e) => {
            return r.fail(
                format!("检查点签名未通过策略中日志公钥的验证：{e}"),
                format!("checkpoint is not validly signed by a log key of the policy: {e}"),
            );
        }
    };
    r.pass(
        format!(
            "检查点签名有效：日志 {}，树大小 {}",
            checkpoint.origin, checkpoint.size
        ),
        format!(
            "checkpoint signature valid: log {}, tree size {}",
            checkpoint.origin, checkpoint.size
        ),
    );

    let body = checkpoint.body();
    let mut cosigned: Vec<&str> = Vec::new();
    for w in &policy.witnesses {
        let Ok(key) = VerifierKey::parse(&w.vkey) else {
            return r.fail(
                format!("见证人 {} 的公钥无效", w.name),
                format!("the key of witness {} is invalid", w.name),
            );
        };
        let valid = note
            .signatures
            .iter()
            .filter(|s| s.name == key.name() && s.key_id == key.key_id())
            .any(|s| verify_cosignature(&key, &body, s).is_ok());
        if valid {
            cosigned.push(&w.name);
        }
    }
    let quorum = policy.quorum_description();
    if !policy.quorum_met(&|name| cosigned.contains(&name)) {
        return r.fail(
            format!("见证人联署不足：有效联署 {:?}，法定要求 {quorum}", cosigned),
            format!(
                "witness quorum not met: valid cosignatures {:?}, quorum {quorum}",
                cosigned
            ),
        );
    }
    r.pass(
        format!("见证人法定数已满足（{quorum}；有效联署 {:?}）", cosigned),
        format!("witness quorum met ({quorum}; valid cosignatures {:?})", cosigned),
    );

    let Some(extra) = proof.extra.as_deref() else {
        return r.fail(
            "证明缺少 extra 行（条目信封）",
            "proof has no extra line (the entry envelope)",
        );
    };
    let envelope = match Envelope::decode(extra) {
        Ok(e) => e,
        Err(e) => {
            return r.fail(
                format!("条目信封无法解码：{e}"),
                format!("entry envelope does not decode: {e}"),
            );
        }
    };
    r.pass(
        format!(
            "条目信封已解码：类型 {}，来源 {}，接收时间 {} ms（UTC）",
            envelope.kind.as_str(),
            envelope.source.as_str(),
            envelope.received_ms
        ),
        format!(
            "entry envelope decoded: kind {}, source {}, received at {} ms (UTC)",
            envelope.kind.as_str(),
            envelope.source.as_str(),
            envelope.received_ms
        ),
    );

    let matched = [HashAlg::Sha256, HashAlg::Sm3].into_iter().find(|&alg| {
        let leaf = alg.leaf_hash(extra);
        verify_inclusion(
            alg,
            proof.index,
            checkpoint.size,
            &leaf,
            &proof.proof,
            &checkpoint.root,
        )
        .is_ok()
    });
    let Some(alg) = matched else {
        return r.fail(
            format!(
                "包含证明无效：条目 {} 不在大小为 {} 的树中",
                proof.index, checkpoint.size
            ),
            format!(
                "inclusion proof invalid: entry {} is not in the tree of size {}",
                proof.index, checkpoint.size
            ),
        );
    };
    r.pass(
        format!(
            "包含证明有效（哈希算法 {}）：条目 {} 在已签名的树中",
            alg.name(),
            proof.index
        ),
        format!(
            "inclusion proof valid (hash {}): entry {} is in the signed tree",
            alg.name(),
            proof.index
        ),
    );

    if let Some(c) = content {
        let canonical = serde_json::from_slice::<serde_json::Value>(c.content)
            .ok()
            .map(|v| canonical_json(&v));
        let ok = envelope.commits_to(alg, &c.salt, c.content)
            || canonical.is_some_and(|bytes| envelope.commits_to(alg, &c.salt, &bytes));
        if !ok {
            return r.fail(
                "内容与条目中的承诺不符（内容或盐值不正确）",
                "content does not match the entry's commitment (wrong content or salt)",
            );
        }
        r.pass("内容与条目中的承诺一致", "content matches the entry's commitment");
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::envelope::{Kind, Source, commitment};
    use crate::merkle::{MemoryTree, inclusion_proof};
    use crate::note::{CosignatureSigner, NoteSigner};

    struct Fixture {
        proof: TlogProof,
        body: String,
        log_vkey: String,
        salt: [u8; SALT_LEN],
        content: Vec<u8>,
    }

    /// A 5-entry log; the proof is for entry 3.
    fn fixture(alg: HashAlg) -> Fixture {
        let signer = NoteSigner::generate_ed25519("test.example/log", [1; 32]).unwrap();
        let salt = [9u8; SALT_LEN];
        let content = br#"{"a":1}"#.to_vec();
        let mut tree = MemoryTree::new(alg);
        let mut envelopes = Vec::new();
        for i in 0..5u64 {
            let e = Envelope {
                kind: Kind::parse("log.test").unwrap(),
                subject_pseudonym: [i as u8; 32],
                source: Source::parse("t").unwrap(),
                received_ms: i,
                occurred_ms: i,
                commitment: commitment(alg, &salt, &content),
            }
            .encode();
            tree.push(alg.leaf_hash(&e));
            envelopes.push(e);
        }
        let cp = Checkpoint {
            origin: "test.example/log".into(),
            size: 5,
            root: tree.root(),
            extensions: vec![],
        };
        let proof = TlogProof {
            extra: Some(envelopes[3].clone()),
            index: 3,
            proof: inclusion_proof(alg, 3, 5, &tree).unwrap(),
            checkpoint: cp.sign(&[&signer]).unwrap(),
        };
        Fixture {
            proof,
            body: cp.body(),
            log_vkey: signer.verifier().to_string(),
            salt,
            content,
        }
    }

    #[test]
    fn witness_quorum_decides() {
        let f = fixture(HashAlg::Sha256);
        let w1 = CosignatureSigner::new("w1.example", [2; 32]).unwrap();
        let w2 = CosignatureSigner::new("w2.example", [3; 32]).unwrap();
        let policy = format!(
            "log {}\nwitness A {}\nwitness B {}\ngroup both all A B\nquorum both\n",
            f.log_vkey,
            w1.verifier(),
            w2.verifier()
        );
        let mut one = f.proof.clone();
        one.checkpoint
            .push_str(&w1.cosign(&f.body, 1_700_000_000).to_line());
        let report = verify(&policy, &one.to_text(), None);
        assert!(!report.valid());
        assert!(
            report.render().contains("witness quorum not met"),
            "{}",
            report.render()
        );

        let mut both = one.clone();
        both.checkpoint
            .push_str(&w2.cosign(&f.body, 1_700_000_001).to_line());
        let report = verify(&policy, &both.to_text(), None);
        assert!(report.valid(), "{}", report.render());

        // A cosignature over another body does not count.
        let mut forged = one.clone();
        forged
            .checkpoint
            .push_str(&w2.cosign("other/log\n1\nAAAA\n", 5).to_line());
        assert!(!verify(&policy, &forged.to_text(), None).valid());
    }

    #[test]
    fn sm3_logs_verify_and_report_their_hash() {
        let f = fixture(HashAlg::Sm3);
        let policy = format!("log {}\nquorum none\n", f.log_vkey);
        let report = verify(
            &policy,
            &f.proof.to_text(),
            Some(ContentCheck {
                content: &f.content,
                salt: f.salt,
            }),
        );
        assert!(report.valid(), "{}", report.render());
        assert!(report.render().contains("sm3"));
    }

    #[test]
    fn each_failure_is_reported_in_both_languages() {
        let f = fixture(HashAlg::Sha256);
        let policy = format!("log {}\nquorum none\n", f.log_vkey);
        let other = NoteSigner::generate_ed25519("test.example/log", [7; 32]).unwrap();
        let cases = [
            ("quorum maybe\n".to_owned(), f.proof.to_text()),
            (policy.clone(), "not a proof".to_owned()),
            (
                format!("log {}\nquorum none\n", other.verifier()),
                f.proof.to_text(),
            ),
            (
                policy.clone(),
                TlogProof {
                    extra: None,
                    ..f.proof.clone()
                }
                .to_text(),
            ),
            (
                policy.clone(),
                TlogProof {
                    index: 2,
                    ..f.proof.clone()
                }
                .to_text(),
            ),
        ];
        for (policy, proof) in cases {
            let r = verify(&policy, &proof, None);
            assert!(!r.valid());
            let last = r.checks.last().unwrap();
            assert!(!last.ok && !last.zh.is_empty() && !last.en.is_empty());
            assert!(r.render().contains("INVALID") && r.render().contains("无效"));
        }
        let wrong = verify(
            &policy,
            &f.proof.to_text(),
            Some(ContentCheck {
                content: b"{\"a\":2}",
                salt: f.salt,
            }),
        );
        assert!(!wrong.valid());
        let pretty = verify(
            &policy,
            &f.proof.to_text(),
            Some(ContentCheck {
                content: b"{ \"a\" : 1 }\n",
                salt: f.salt,
            }),
        );
        assert!(pretty.valid(), "{}", pretty.render());
    }
}
