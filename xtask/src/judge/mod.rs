//! Judging: pure functions from (goldens, runtime observations, the source model's truth,
//! tolerances) to outcomes, each carrying its evidence. No processes, no files: the
//! harness gathers a `ModelEvidence`, the judges here say PASS/FAIL/BLOCKED/SKIP.
//! Never PASS by default: a missing observation is BLOCKED, an unparsed one is FAIL.

// An Outcome is the error of `take`: it is what the caller returns, not a failure path.
#![allow(clippy::result_large_err)]

pub mod cross_runtime;
pub mod divergence;
pub mod inference;
pub mod logprobs;
pub mod precision;
pub mod structure;
pub mod tokenizer;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tmgt_schema::{Generation, Golden, Invocation, Score, StopReason};

#[allow(unused_imports)]
pub use structure::{structure_calls, StructureCall};

/// The seed's 20 suites (same names), then ours.
pub const SUITES: &[&str] = &[
    "canary",
    "token-parity",
    "quant-drift",
    "roundtrip",
    "ppl",
    "inspect",
    "validate",
    "tensors",
    "lint",
    "selftest",
    "diff",
    "tree",
    "oracle-id",
    "hex",
    "debug",
    "bench",
    "qa",
    "list",
    "rosetta-diff",
    "parity-gpu",
    "tokenizer",
    "divergence",
    "logprobs",
    "reference-ppl",
    "cross-runtime",
    "precision",
];

/// The runtime under test; other runtimes (candle, llama.cpp) appear in cross-runtime.
pub const APR: &str = "apr";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Fail,
    Blocked,
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Blocked => "BLOCKED",
            Status::Skip => "SKIP",
        }
    }

    /// FAIL and BLOCKED make a run unsuccessful; SKIP does not.
    pub fn is_problem(self) -> bool {
        matches!(self, Status::Fail | Status::Blocked)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub expected: Option<String>,
    pub actual: Option<String>,
    /// Structured extras: token lists, divergence, raw JSON.
    #[serde(default)]
    pub details: serde_json::Value,
    #[serde(default)]
    pub invocations: Vec<Invocation>,
    /// Exact command lines that reproduce the observation.
    #[serde(default)]
    pub reproduce: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub suite: String,
    pub model: String,
    /// What within the suite, e.g. "int8/completion".
    pub subject: String,
    pub status: Status,
    /// Short, one line.
    pub note: String,
    /// Root-cause signature for FAIL/BLOCKED (suite- and model-independent where the
    /// cause is shared, so the ticket can group e.g. one empty field across suites).
    #[serde(default)]
    pub signature: String,
    pub evidence: Evidence,
}

impl Outcome {
    pub fn key(&self) -> (String, String, String) {
        (self.suite.clone(), self.model.clone(), self.subject.clone())
    }
}

/// Builds outcomes for one (suite, model, subject).
#[derive(Debug, Clone)]
pub struct Ctx {
    pub suite: String,
    pub model: String,
    pub subject: String,
}

impl Ctx {
    pub fn new(suite: &str, model: &str, subject: impl Into<String>) -> Ctx {
        Ctx { suite: suite.into(), model: model.into(), subject: subject.into() }
    }

    fn outcome(&self, status: Status, note: String, signature: String, evidence: Evidence) -> Outcome {
        Outcome {
            suite: self.suite.clone(),
            model: self.model.clone(),
            subject: self.subject.clone(),
            status,
            note: one_line(&note, 160),
            signature,
            evidence,
        }
    }

    pub fn pass(&self, note: impl Into<String>, evidence: Evidence) -> Outcome {
        self.outcome(Status::Pass, note.into(), String::new(), evidence)
    }

    /// A FAIL; `signature` is the root-cause key the ticket groups by.
    pub fn fail(&self, note: impl Into<String>, signature: impl Into<String>, evidence: Evidence) -> Outcome {
        self.outcome(Status::Fail, note.into(), signature.into(), evidence)
    }

    pub fn blocked(&self, note: impl Into<String>, signature: impl Into<String>, evidence: Evidence) -> Outcome {
        self.outcome(Status::Blocked, note.into(), signature.into(), evidence)
    }

    pub fn skip(&self, note: impl Into<String>) -> Outcome {
        self.outcome(Status::Skip, note.into(), String::new(), Evidence::default())
    }
}

/// One observation by the harness. A missing key is BLOCKED "no observation".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observed<T> {
    Ok { value: T, invocation: Invocation },
    /// The runtime crashed, timed out, or printed what did not parse: FAIL with evidence.
    Failed { error: String, invocation: Invocation },
    /// An upstream step failed (e.g. the conversion that makes the artifact).
    Blocked { step: String, reason: String },
    Skipped { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GenKey {
    pub runtime: String,
    pub artifact: String,
    pub prompt: String,
}

impl GenKey {
    pub fn new(runtime: &str, artifact: &str, prompt: &str) -> GenKey {
        GenKey { runtime: runtime.into(), artifact: artifact.into(), prompt: prompt.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StructureKey {
    pub suite: String,
    /// An artifact key (int4, int8, int4-gguf, …), or "int8~int4" for pairwise calls,
    /// or "global" for calls on no artifact (list).
    pub artifact: String,
}

impl StructureKey {
    pub fn new(suite: &str, artifact: &str) -> StructureKey {
        StructureKey { suite: suite.into(), artifact: artifact.into() }
    }
}

/// The source model's facts, read from config.json and the safetensors header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelTruth {
    /// config.json `model_type`: llama, qwen2, gpt2.
    pub arch: String,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub hidden_size: usize,
    pub vocab_size: usize,
    /// Sum of the element counts of every tensor in the safetensors header.
    pub param_count: u64,
    /// HF tensor name -> shape, from the safetensors header.
    pub tensors: BTreeMap<String, Vec<usize>>,
}

/// Everything the judges see for one model. Built by the harness, judged here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelEvidence {
    pub slug: String,
    pub truth: Option<ModelTruth>,
    pub ppl_ceiling: f64,
    /// f32 goldens by prompt name (arithmetic, code, completion, greeting).
    pub goldens: BTreeMap<String, Golden>,
    /// Reduced-precision goldens: dtype ("bf16", "f16") -> prompt -> golden.
    #[serde(default)]
    pub precision_goldens: BTreeMap<String, BTreeMap<String, Golden>>,
    /// The reduced-precision goldens the oracle computed on this machine in this run
    /// (dtype -> prompt -> golden), to verify the committed ones against.
    #[serde(default)]
    pub host_goldens: BTreeMap<String, BTreeMap<String, Golden>>,
    #[serde(default, with = "as_entries")]
    pub generations: BTreeMap<GenKey, Observed<Generation>>,
    /// (runtime, artifact) -> PPL over the reference text.
    #[serde(default, with = "as_entries")]
    pub scores: BTreeMap<(String, String), Observed<Score>>,
    /// The oracle's PPL over the same text.
    pub reference_score: Option<Score>,
    #[serde(default, with = "as_entries")]
    pub structure: BTreeMap<StructureKey, Observed<serde_json::Value>>,
    /// Decoded pieces (token id -> text) the harness could decode with the model's
    /// tokenizer; used to show divergent tokens. May be empty.
    #[serde(default)]
    pub vocab: BTreeMap<u32, String>,
}

impl ModelEvidence {
    pub fn new(slug: &str) -> ModelEvidence {
        ModelEvidence { slug: slug.into(), ..Default::default() }
    }
}

/// Pre-registered bounds (SPEC §4) plus the bounds of our own suites. Every field has
/// a default, so roster.toml can carry any subset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tolerances {
    pub int4_max_mismatches: usize,
    pub int8_max_mismatches: usize,
    /// quant-drift: int8 mismatches ≤ int4 mismatches + drift_slack.
    pub drift_slack: usize,
    /// ppl: |PPL(int4) − PPL(int8)| < this.
    pub ppl_int4_int8_max_diff: f64,
    pub bf16_max_mismatches: usize,
    pub f16_max_mismatches: usize,
    pub bf16_vs_f16_max_mismatches: usize,
    /// divergence: a runtime token within this many nats of the oracle's top-1 (and in
    /// its top-k) is a near-tie, not a likely bug site.
    pub near_tie_margin: f32,
    /// logprobs: mean |Δ logprob| of the oracle's token over compared steps (nats).
    pub logprob_mean_abs_max: f32,
    /// logprobs: mean KL(oracle ‖ runtime) over the shared top-k support (nats).
    pub logprob_kl_max: f32,
    /// reference-ppl: runtime PPL / oracle PPL must lie within [1/r, r], r by artifact
    /// key; "default" for artifacts not named.
    pub ref_ppl_max_ratio: BTreeMap<String, f64>,
    /// cross-runtime: token mismatches allowed between two runtimes on the same GGUF.
    pub cross_runtime_max_mismatches: usize,
    /// Verifying a golden on this machine: largest |Δ logprob| against the committed
    /// one, by dtype (f32, bf16, f16). A precision's rounding error.
    pub golden_logprob: BTreeMap<String, f32>,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            int4_max_mismatches: 5,
            int8_max_mismatches: 3,
            drift_slack: 1,
            ppl_int4_int8_max_diff: 0.5,
            bf16_max_mismatches: 3,
            f16_max_mismatches: 5,
            bf16_vs_f16_max_mismatches: 3,
            near_tie_margin: 0.5,
            logprob_mean_abs_max: 0.5,
            logprob_kl_max: 0.25,
            ref_ppl_max_ratio: BTreeMap::from([
                ("int8".to_string(), 1.10),
                ("int4".to_string(), 1.30),
                ("default".to_string(), 1.30),
            ]),
            cross_runtime_max_mismatches: 0,
            golden_logprob: BTreeMap::from([
                ("f32".to_string(), 1e-3),
                ("bf16".to_string(), 0.5),
                ("f16".to_string(), 0.0625),
            ]),
        }
    }
}

impl Tolerances {
    pub fn golden_logprob_for(&self, dtype: &str) -> Option<f32> {
        self.golden_logprob.get(dtype).copied()
    }

    pub fn ref_ppl_ratio_for(&self, artifact: &str) -> f64 {
        self.ref_ppl_max_ratio
            .get(artifact)
            .or_else(|| self.ref_ppl_max_ratio.get("default"))
            .copied()
            .unwrap_or(1.30)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSuite(pub String);

impl std::fmt::Display for UnknownSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown suite {:?}; known: {}", self.0, SUITES.join(", "))
    }
}

impl std::error::Error for UnknownSuite {}

/// Every suite for one model, in `SUITES` order.
pub fn judge_model(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    SUITES.iter().flat_map(|s| judge_suite(s, ev, tol).expect("SUITES are all known")).collect()
}

pub fn judge_suite(suite: &str, ev: &ModelEvidence, tol: &Tolerances) -> Result<Vec<Outcome>, UnknownSuite> {
    Ok(match suite {
        "canary" => inference::canary(ev),
        "token-parity" => inference::token_parity(ev, tol),
        "quant-drift" => inference::quant_drift(ev, tol),
        "roundtrip" => inference::roundtrip(ev),
        "ppl" => inference::ppl(ev, tol),
        "reference-ppl" => inference::reference_ppl(ev, tol),
        "tokenizer" => tokenizer::judge(ev),
        "divergence" => divergence::judge(ev, tol),
        "logprobs" => logprobs::judge(ev, tol),
        "cross-runtime" => cross_runtime::judge(ev, tol),
        "precision" => precision::judge(ev, tol),
        s if structure::STRUCTURE_SUITES.contains(&s) => structure::judge(s, ev),
        other => return Err(UnknownSuite(other.to_string())),
    })
}

// ---------------------------------------------------------------- counting rules

/// SPEC §4: position-by-position differences plus the length difference.
pub fn count_mismatches(a: &[u32], b: &[u32]) -> usize {
    let positional = a.iter().zip(b).filter(|(x, y)| x != y).count();
    positional + a.len().abs_diff(b.len())
}

/// The first index where the sequences differ, or where one ends and the other not.
pub fn first_divergence<T: PartialEq>(a: &[T], b: &[T]) -> Option<usize> {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => Some(i),
        None if a.len() != b.len() => Some(a.len().min(b.len())),
        None => None,
    }
}

/// quant-drift: the higher-precision artifact may not drift more than the lower one
/// plus `slack`.
pub fn drift_ok(int8_mismatches: usize, int4_mismatches: usize, slack: usize) -> bool {
    int8_mismatches <= int4_mismatches + slack
}

/// The golden's EOS id, when it stopped at EOS (kept as its last token).
pub fn golden_eos(g: &Golden) -> Option<u32> {
    (g.stop_reason == StopReason::Eos).then(|| g.tokens.last().copied()).flatten()
}

/// Drops one trailing `eos` from `tokens`: a runtime that stops at EOS may or may not
/// list it, and either is the same generation.
pub fn strip_eos(tokens: &[u32], eos: Option<u32>) -> &[u32] {
    match (tokens.last(), eos) {
        (Some(&last), Some(e)) if last == e => &tokens[..tokens.len() - 1],
        _ => tokens,
    }
}

/// How a runtime's generation compares to a reference token list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Comparison {
    Tokens {
        expected: Vec<u32>,
        actual: Vec<u32>,
        /// After dropping a trailing EOS (the reference's) from both.
        mismatches: usize,
        first_divergence: Option<usize>,
    },
    /// The runtime reported no token ids: only the texts can be compared.
    TextOnly { expected: String, actual: String, equal: bool, first_char_divergence: Option<usize> },
}

impl Comparison {
    pub fn between(expected_tokens: &[u32], expected_text: &str, eos: Option<u32>, actual: &Generation) -> Comparison {
        match &actual.tokens {
            Some(ids) => {
                let e = strip_eos(expected_tokens, eos);
                let a = strip_eos(ids, eos);
                Comparison::Tokens {
                    expected: expected_tokens.to_vec(),
                    actual: ids.clone(),
                    mismatches: count_mismatches(e, a),
                    first_divergence: first_divergence(e, a),
                }
            }
            None => {
                let ec: Vec<char> = expected_text.chars().collect();
                let ac: Vec<char> = actual.text.chars().collect();
                Comparison::TextOnly {
                    expected: expected_text.to_string(),
                    actual: actual.text.clone(),
                    equal: expected_text == actual.text,
                    first_char_divergence: first_divergence(&ec, &ac),
                }
            }
        }
    }

    pub fn to_golden(g: &Golden, actual: &Generation) -> Comparison {
        Comparison::between(&g.tokens, &g.text, golden_eos(g), actual)
    }

    pub fn details(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("comparison serializes")
    }

    pub fn expected_actual(&self) -> (String, String) {
        match self {
            Comparison::Tokens { expected, actual, .. } => (format!("{expected:?}"), format!("{actual:?}")),
            Comparison::TextOnly { expected, actual, .. } => (format!("{expected:?}"), format!("{actual:?}")),
        }
    }
}

// ---------------------------------------------------------------- observation access

/// An observation that can be judged, or the outcome saying why it cannot.
pub fn take<'a, T>(obs: Option<&'a Observed<T>>, ctx: &Ctx, what: &str) -> Result<(&'a T, &'a Invocation), Outcome> {
    match obs {
        Some(Observed::Ok { value, invocation }) => Ok((value, invocation)),
        Some(Observed::Failed { error, invocation }) => Err(failed_outcome(ctx, what, error, invocation)),
        Some(Observed::Blocked { step, reason }) => Err(ctx.blocked(
            format!("{what}: blocked by {step}: {}", first_line(reason)),
            format!("blocked by {step}: {}", normalize_error(reason)),
            Evidence { actual: Some(reason.clone()), ..Default::default() },
        )),
        Some(Observed::Skipped { reason }) => Err(ctx.skip(format!("{what}: {reason}"))),
        None => Err(ctx.blocked(
            format!("no observation for {what}"),
            "no observation".to_string(),
            Evidence::default(),
        )),
    }
}

/// FAIL for a runtime that crashed, timed out or printed what did not parse.
pub fn failed_outcome(ctx: &Ctx, what: &str, error: &str, inv: &Invocation) -> Outcome {
    let how = if inv.timed_out {
        "timed out".to_string()
    } else {
        match inv.exit_code {
            Some(0) => "exit 0".to_string(),
            Some(c) => format!("exit {c}"),
            None => "killed".to_string(),
        }
    };
    ctx.fail(
        format!("{what}: {} ({how})", telling_line(error, inv)),
        // Grouped by program and the telling line: one panic hit by several
        // subcommands is one root cause.
        format!(
            "{}: {}",
            inv.command.first().map(|p| p.rsplit('/').next().unwrap_or(p)).unwrap_or("?"),
            normalize_error(&telling_line(error, inv))
        ),
        evidence_from(inv, None, Some(raw_output(inv)), serde_json::json!({ "error": error })),
    )
}

/// The line that says what went wrong: the last stderr line naming an error or a
/// panic, else the error's own first line unless that is only the command line.
pub fn telling_line(error: &str, inv: &Invocation) -> String {
    let lines: Vec<&str> = inv.stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    // A Rust panic: "thread 'main' panicked at FILE:LINE:COL:" then the message.
    if let Some(i) = lines.iter().rposition(|l| l.contains("panicked at")) {
        if let Some(message) = lines.get(i + 1) {
            return format!("panic: {message}");
        }
    }
    let named = lines.iter().rev().find(|l| {
        let lower = l.to_lowercase();
        lower.contains("error") || lower.contains("panicked") || lower.contains("failed")
    });
    match named {
        Some(line) => line.to_string(),
        None if !error.starts_with('`') => first_line(error),
        None => lines.last().map(|l| l.to_string()).unwrap_or_else(|| first_line(error)),
    }
}

/// Evidence around one invocation.
pub fn evidence_from(inv: &Invocation, expected: Option<String>, actual: Option<String>, details: serde_json::Value) -> Evidence {
    Evidence {
        expected,
        actual,
        details,
        invocations: vec![inv.clone()],
        reproduce: if inv.command.is_empty() { vec![] } else { vec![inv.command_line()] },
    }
}

/// What a process printed, for evidence: stdout, then stderr's tail.
pub fn raw_output(inv: &Invocation) -> String {
    let mut s = truncate(&inv.stdout, 4000);
    let tail = inv.stderr_tail(20);
    if !tail.is_empty() {
        if !s.is_empty() {
            s.push('\n');
        }
        s.push_str("[stderr] ");
        s.push_str(&tail);
    }
    s
}

pub fn first_line(s: &str) -> String {
    s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").to_string()
}

pub fn one_line(s: &str, max: usize) -> String {
    let joined = s.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&joined, max)
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// An error message with the run-specific parts (paths, numbers) masked, so the same
/// failure on different models and artifacts has the same signature.
pub fn normalize_error(s: &str) -> String {
    let line = first_line(s);
    let mut out = String::new();
    for word in line.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        let bare = word.trim_matches(|c: char| "\"'`()[]{},;:".contains(c));
        if bare.contains('/') && bare.len() > 1 {
            out.push_str("<path>");
        } else {
            let mut last_digit = false;
            for c in word.chars() {
                if c.is_ascii_digit() {
                    if !last_digit {
                        out.push('#');
                    }
                    last_digit = true;
                } else {
                    out.push(c);
                    last_digit = false;
                }
            }
        }
    }
    truncate(&out, 120)
}

/// A token id shown with its decoded piece when known: `5465 " Paris"`.
pub fn show_token(id: Option<u32>, vocab: &BTreeMap<u32, String>) -> String {
    match id {
        None => "(end)".to_string(),
        Some(id) => match vocab.get(&id) {
            Some(piece) => format!("{id} {:?}", display_piece(piece)),
            None => id.to_string(),
        },
    }
}

/// Byte-level BPE pieces use Ġ for space and Ċ for newline; show them as such.
pub fn display_piece(piece: &str) -> String {
    piece.replace('Ġ', " ").replace('Ċ', "\n").replace('ĉ', "\t")
}

/// Prompts judged for a model: the golden's, in name order.
pub fn prompts(ev: &ModelEvidence) -> Vec<&str> {
    ev.goldens.keys().map(String::as_str).collect()
}

/// One BLOCKED outcome when a model has no goldens at all.
pub fn no_goldens(suite: &str, ev: &ModelEvidence) -> Vec<Outcome> {
    vec![Ctx::new(suite, &ev.slug, "goldens").blocked(
        "no goldens for this model (oracle step failed or not run)",
        "no goldens",
        Evidence::default(),
    )]
}

/// Serde for maps whose keys are not strings: a list of [key, value] pairs.
pub mod as_entries {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(map: &BTreeMap<K, V>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        let entries: Vec<(K, V)> = Vec::deserialize(d)?;
        Ok(entries.into_iter().collect())
    }
}

#[cfg(test)]
pub mod testutil;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mismatches_count_positions_and_length() {
        assert_eq!(count_mismatches(&[1, 2, 3], &[1, 2, 3]), 0);
        assert_eq!(count_mismatches(&[1, 2, 3], &[1, 9, 3]), 1);
        assert_eq!(count_mismatches(&[1, 2, 3], &[1]), 2);
        assert_eq!(count_mismatches(&[], &[4, 5]), 2);
        assert_eq!(count_mismatches(&[1, 2], &[2, 1, 7]), 3);
    }

    #[test]
    fn first_divergence_finds_difference_or_end() {
        assert_eq!(first_divergence(&[1, 2, 3], &[1, 2, 3]), None);
        assert_eq!(first_divergence(&[1, 2, 3], &[1, 5, 3]), Some(1));
        assert_eq!(first_divergence(&[1, 2], &[1, 2, 3]), Some(2));
    }

    #[test]
    fn eos_is_stripped_once_from_both_sides() {
        assert_eq!(strip_eos(&[5, 6, 2], Some(2)), &[5, 6]);
        assert_eq!(strip_eos(&[5, 6], Some(2)), &[5, 6]);
        assert_eq!(strip_eos(&[5, 2, 2], Some(2)), &[5, 2]);
        assert_eq!(strip_eos(&[5, 6, 2], None), &[5, 6, 2]);
    }

    #[test]
    fn error_signatures_mask_paths_and_numbers() {
        let a = normalize_error("error: tensor 'model.layers.3.w' not found in /tmp/a/int8.apr (exit 3)");
        let b = normalize_error("error: tensor 'model.layers.17.w' not found in /x/y/int4.apr (exit 3)");
        assert_eq!(a, b);
        assert!(a.contains("<path>"), "{a}");
        assert_ne!(a, normalize_error("error: out of memory"));
    }

    #[test]
    fn missing_observation_is_blocked_never_pass() {
        let ctx = Ctx::new("canary", "m", "int8/completion");
        let none: Option<&Observed<Generation>> = None;
        let out = take(none, &ctx, "apr on int8").unwrap_err();
        assert_eq!(out.status, Status::Blocked);
        assert!(out.note.contains("no observation"));
    }

    #[test]
    fn tolerances_default_to_spec_and_parse_partial_toml() {
        let t: Tolerances = toml::from_str("int4_max_mismatches = 6").unwrap();
        assert_eq!(t.int4_max_mismatches, 6);
        assert_eq!(t.int8_max_mismatches, 3);
        assert_eq!(t.drift_slack, 1);
        assert_eq!(t.ppl_int4_int8_max_diff, 0.5);
        assert_eq!((t.bf16_max_mismatches, t.f16_max_mismatches, t.bf16_vs_f16_max_mismatches), (3, 5, 3));
        assert!(toml::from_str::<Tolerances>("int4_max = 6").is_err(), "typos are rejected");
    }

    #[test]
    fn model_evidence_round_trips_through_json() {
        let mut ev = testutil::evidence();
        ev.scores.insert(
            (APR.into(), "int8".into()),
            Observed::Failed { error: "bad".into(), invocation: Invocation::default() },
        );
        ev.structure.insert(StructureKey::new("inspect", "int8"), Observed::Skipped { reason: "x".into() });
        let json = serde_json::to_string(&ev).unwrap();
        let back: ModelEvidence = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn judge_model_covers_every_suite_and_never_passes_on_nothing() {
        let ev = ModelEvidence::new("empty");
        let outs = judge_model(&ev, &Tolerances::default());
        for suite in SUITES {
            assert!(outs.iter().any(|o| o.suite == *suite), "no outcome for {suite}");
        }
        assert!(outs.iter().all(|o| o.status != Status::Pass), "{:#?}", outs.iter().find(|o| o.status == Status::Pass));
        assert!(judge_suite("nope", &ev, &Tolerances::default()).is_err());
    }

    proptest! {
        #[test]
        fn mismatches_are_symmetric(a in proptest::collection::vec(0u32..6, 0..40), b in proptest::collection::vec(0u32..6, 0..40)) {
            prop_assert_eq!(count_mismatches(&a, &b), count_mismatches(&b, &a));
        }

        #[test]
        fn mismatches_zero_iff_equal(a in proptest::collection::vec(0u32..4, 0..40), b in proptest::collection::vec(0u32..4, 0..40)) {
            prop_assert_eq!(count_mismatches(&a, &b) == 0, a == b);
            prop_assert_eq!(count_mismatches(&a, &a), 0);
        }

        #[test]
        fn mismatches_count_length_difference(a in proptest::collection::vec(0u32..100, 0..40), extra in proptest::collection::vec(0u32..100, 0..40)) {
            let mut b = a.clone();
            b.extend(&extra);
            prop_assert_eq!(count_mismatches(&a, &b), extra.len());
            prop_assert!(count_mismatches(&a, &b) >= a.len().abs_diff(b.len()));
            prop_assert!(count_mismatches(&a, &b) <= a.len().max(b.len()));
        }

        #[test]
        fn drift_rule_is_monotone(m8 in 0usize..40, m4 in 0usize..40, slack in 0usize..4, d in 0usize..5) {
            if drift_ok(m8, m4, slack) {
                // more int4 drift, less int8 drift, more slack: still ok
                prop_assert!(drift_ok(m8, m4 + d, slack));
                prop_assert!(drift_ok(m8.saturating_sub(d), m4, slack));
                prop_assert!(drift_ok(m8, m4, slack + d));
            } else {
                prop_assert!(!drift_ok(m8 + d, m4, slack));
                prop_assert!(!drift_ok(m8, m4.saturating_sub(d), slack));
            }
        }

        #[test]
        fn first_divergence_agrees_with_mismatches(a in proptest::collection::vec(0u32..3, 0..20), b in proptest::collection::vec(0u32..3, 0..20)) {
            prop_assert_eq!(first_divergence(&a, &b).is_none(), count_mismatches(&a, &b) == 0);
        }
    }
}
