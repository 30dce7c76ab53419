//! Judging: pure functions from (goldens, observations, the source model's truth,
//! tolerances) to outcomes, each carrying its evidence and its subject (whom the
//! claim is about: the runtime under test, a comparator, the reference, the harness).
//! No processes, no files: the harness gathers a `ModelEvidence`, the judges here say
//! PASS/FAIL/BLOCKED/SKIP. Never PASS by default: a missing observation is BLOCKED, an
//! unparsed one is FAIL. The suites are listed once, in `suites::SUITES`.

// An Outcome is the error of `take`: it is what the caller returns, not a failure path.
#![allow(clippy::result_large_err)]

pub use failure_text::*;

pub mod attribution;
pub mod bad_file;
pub mod battery;
pub mod conversions;
pub mod corrupt;
pub mod cross_runtime;
pub mod divergence;
pub mod failure_text;
pub mod inference;
pub mod kld;
pub mod ladder;
pub mod logprobs;
pub mod perplexity;
pub mod precision;
pub mod safetensors;
pub mod structure;
pub mod subject;
pub mod suites;
pub mod tensor_error;
pub mod tokenizer;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
pub use subject::{Part, Section, Subject};
pub use suites::SUITES;
use tmgt_schema::{Generation, Golden, Invocation, Score, StopReason};

/// The runtime under test; other runtimes (candle, llama.cpp) are comparators.
pub const APR: &str = "apr";
/// The llama.cpp comparator's runtime name.
pub const LLAMACPP: &str = "llama.cpp";

/// The Harness health row of a model judged without a comparator (`why`: the
/// runtime's "unavailable" reason, as the receipt records it): attribution then rests
/// on the comparators that ran.
pub fn comparator_missing(model: &str, runtime: &str, why: &str) -> Outcome {
    let why = why.strip_prefix("unavailable: ").unwrap_or(why);
    let note = if why.contains("=off)") {
        format!("{runtime} off by {}: attribution limited to candle", why.rsplit_once('(').map_or("", |(_, v)| v.trim_end_matches("=off)")))
    } else {
        format!("{runtime} not available ({}): attribution limited to candle", first_line(why))
    };
    let mut o = Case::new("comparator", model, runtime, Subject::Harness).skip(note.clone());
    o.signature = note;
    o
}

/// Is this artifact (a name like "int4-gguf", or a file name like "int4.gguf") a GGUF?
/// The one test for it.
pub fn is_gguf(artifact: &str) -> bool {
    artifact.ends_with("gguf")
}

/// What an outcome says of its claim (contract §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Fail,
    Blocked,
    Skip,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Blocked => "BLOCKED",
            Verdict::Skip => "SKIP",
        }
    }

    /// FAIL and BLOCKED make a run unsuccessful; SKIP does not.
    pub fn is_problem(self) -> bool {
        matches!(self, Verdict::Fail | Verdict::Blocked)
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
    pub case: String,
    /// Whom the claim is about.
    pub subject: Subject,
    pub status: Verdict,
    /// Short, one line.
    pub note: String,
    /// Root-cause signature for FAIL/BLOCKED (suite-, model- and prompt-independent
    /// where the cause is shared): the ticket's group. A BLOCKED outcome carries the
    /// signature of the failure that blocked it.
    #[serde(default)]
    pub signature: String,
    pub evidence: Evidence,
}

impl Outcome {
    pub fn key(&self) -> (String, String, String) {
        (self.suite.clone(), self.model.clone(), self.case.clone())
    }
}

/// Builds the outcomes of one case: (suite, model, case) about a subject.
#[derive(Debug, Clone)]
pub struct Case {
    pub suite: String,
    pub model: String,
    pub case: String,
    pub subject: Subject,
}

impl Case {
    pub fn new(suite: &str, model: &str, case: impl Into<String>, subject: Subject) -> Case {
        Case { suite: suite.into(), model: model.into(), case: case.into(), subject }
    }

    /// The same case about another subject (attribution decided after judging).
    pub fn about(&self, subject: Subject) -> Case {
        Case { subject, ..self.clone() }
    }

    fn outcome(&self, status: Verdict, note: String, signature: String, evidence: Evidence) -> Outcome {
        Outcome {
            suite: self.suite.clone(),
            model: self.model.clone(),
            case: self.case.clone(),
            subject: self.subject.clone(),
            status,
            note: one_line(&portable_paths(&note), 160),
            signature,
            evidence,
        }
    }

    pub fn pass(&self, note: impl Into<String>, evidence: Evidence) -> Outcome {
        self.outcome(Verdict::Pass, note.into(), String::new(), evidence)
    }

    /// A FAIL; `signature` is the root-cause key the ticket groups by.
    pub fn fail(&self, note: impl Into<String>, signature: impl Into<String>, evidence: Evidence) -> Outcome {
        self.outcome(Verdict::Fail, note.into(), signature.into(), evidence)
    }

    pub fn blocked(&self, note: impl Into<String>, signature: impl Into<String>, evidence: Evidence) -> Outcome {
        self.outcome(Verdict::Blocked, note.into(), signature.into(), evidence)
    }

    pub fn skip(&self, note: impl Into<String>) -> Outcome {
        self.outcome(Verdict::Skip, note.into(), String::new(), Evidence::default())
    }
}

/// One observation by the harness. A missing key is BLOCKED "no observation".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observed<T> {
    Ok {
        value: T,
        invocation: Invocation,
    },
    /// The runtime crashed, timed out, or printed what did not parse: FAIL with evidence.
    Failed {
        error: String,
        invocation: Invocation,
    },
    /// An upstream step failed (e.g. the conversion that makes the artifact):
    /// `signature` is that failure's, so the blocked checks join its ticket group.
    Blocked {
        step: String,
        reason: String,
        #[serde(default)]
        signature: String,
    },
    Skipped {
        reason: String,
    },
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
    /// config.json `model_type`.
    pub arch: tmgt_schema::Arch,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub hidden_size: usize,
    pub vocab_size: usize,
    /// The MLP's inner width (config.json `intermediate_size`, gpt2: `n_inner` or 4×).
    #[serde(default)]
    pub intermediate_size: Option<usize>,
    /// Rotary base (none for gpt2's learned positions).
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// End-of-sequence ids (config.json / generation_config.json `eos_token_id`).
    #[serde(default)]
    pub eos_ids: Vec<u32>,
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
    /// How each artifact was made (artifact name -> conversion).
    #[serde(default)]
    pub conversions: BTreeMap<String, conversions::Conversion>,
    /// The GPU this machine has (`nvidia-smi -L`'s first line), if any.
    #[serde(default)]
    pub gpu: Option<String>,
    /// (runtime, artifact) -> its drift from the oracle over the KLD text.
    #[serde(default, with = "as_entries")]
    pub kld: BTreeMap<(String, String), Observed<kld::KldReport>>,
    /// The tokenizer battery's strings, in file order (empty: no battery).
    #[serde(default)]
    pub battery: Vec<tmgt_schema::tokenize::BatteryString>,
    /// The reference tokenizer's (tokenizer.json) answers to the battery.
    #[serde(default)]
    pub battery_reference: Option<Observed<tmgt_schema::tokenize::BatteryRun>>,
    /// (runtime, artifact) -> that runtime's answers to the battery.
    #[serde(default, with = "as_entries")]
    pub battery_runs: BTreeMap<(String, String), Observed<tmgt_schema::tokenize::BatteryRun>>,
    /// (corrupt-file recipe, apr command) -> what apr did with that file.
    #[serde(default, with = "as_entries")]
    pub corrupt: BTreeMap<corrupt::CorruptKey, Observed<corrupt::CorruptRun>>,
    /// Quantized artifact -> its dequantized tensors against the reference checkpoint's
    /// (apr's int8/int4 through `apr export`, the correct quantizers' GGUFs through
    /// `oracle-gen import-gguf`): the tensor-error suite.
    #[serde(default)]
    pub tensor_errors: BTreeMap<String, Observed<tensor_error::TensorErrors>>,
    /// The reference model.safetensors as the harness reads it (header, per-tensor
    /// statistics of its data): the safetensors suite's truth.
    #[serde(default)]
    pub safetensors: Option<Observed<safetensors::Checkpoint>>,
    /// apr's f32 APR exported back to safetensors, compared with the checkpoint.
    #[serde(default)]
    pub safetensors_export: Option<Observed<safetensors::RoundTrip>>,
}

impl ModelEvidence {
    pub fn new(slug: &str) -> ModelEvidence {
        ModelEvidence { slug: slug.into(), ..Default::default() }
    }

    /// Every process invocation the evidence holds, of every kind of observation. The
    /// destructuring names every field (no `..`): a new kind of observation does not
    /// compile until it is listed here, so nothing that bounds or walks the evidence's
    /// processes can forget it.
    pub fn invocations_mut(&mut self) -> Vec<&mut tmgt_schema::Invocation> {
        fn of<T>(o: &mut Observed<T>) -> Option<&mut tmgt_schema::Invocation> {
            match o {
                Observed::Ok { invocation, .. } | Observed::Failed { invocation, .. } => Some(invocation),
                Observed::Blocked { .. } | Observed::Skipped { .. } => None,
            }
        }
        let ModelEvidence {
            slug: _,
            truth: _,
            ppl_ceiling: _,
            goldens: _,
            precision_goldens: _,
            host_goldens: _,
            generations,
            scores,
            reference_score: _,
            structure,
            vocab: _,
            conversions,
            gpu: _,
            kld,
            battery: _,
            battery_reference,
            battery_runs,
            corrupt,
            tensor_errors,
            safetensors,
            safetensors_export,
        } = self;
        let mut all: Vec<&mut tmgt_schema::Invocation> = Vec::new();
        all.extend(generations.values_mut().filter_map(of));
        all.extend(scores.values_mut().filter_map(of));
        all.extend(structure.values_mut().filter_map(of));
        all.extend(conversions.values_mut().filter_map(|c| of(&mut c.observed)));
        all.extend(kld.values_mut().filter_map(of));
        all.extend(battery_reference.iter_mut().filter_map(of));
        all.extend(battery_runs.values_mut().filter_map(of));
        all.extend(corrupt.values_mut().filter_map(of));
        all.extend(tensor_errors.values_mut().filter_map(of));
        all.extend(safetensors.iter_mut().filter_map(of));
        all.extend(safetensors_export.iter_mut().filter_map(of));
        all
    }
}

/// Pre-registered bounds (docs/contract.md §4) plus the bounds of our own suites, read from the
/// roster only: every field is required there (no code defaults), unknown keys are
/// refused, and `validate` refuses NaN, negative and empty values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// Two runtimes' PPLs on the same GGUF agree when their ratio lies within [1/r, r].
    pub cross_runtime_ppl_max_ratio: f64,
    /// Verifying a golden on this machine: largest |Δ logprob| against the committed
    /// one, by dtype (f32, bf16, f16). A precision's rounding error.
    pub golden_logprob: BTreeMap<String, f32>,
    /// kld: mean KL(oracle ‖ runtime) over the KLD text's scored positions (nats), by
    /// quantization (`KLD_QUANTS`).
    pub kld_mean_max: BTreeMap<String, f64>,
    /// kld: the 99th percentile of the per-position KLD, by quantization.
    pub kld_p99_max: BTreeMap<String, f64>,
    /// kld: the fraction of positions where both put the same id on top, by quantization.
    pub kld_same_top1_min: BTreeMap<String, f64>,
    /// kld on a top-k lower bound (apr): a bound fails only beyond this many standard errors.
    pub kld_topk_sigmas: f64,
    /// cross-runtime: two runtimes part at a near tie when one of them saw the other's
    /// token within this many nats below the token it chose.
    pub runtime_tie_margin: f32,
    /// reference-ppl: a runtime that scores this many tokens more or fewer than the
    /// oracle over the same text is named (a BOS prepended, an end not scored) and still
    /// judged; more, and the texts are not the same.
    pub ppl_token_count_slack: usize,
    /// Attribution on a PPL: apr is no worse than the best correct engine when within
    /// this relative slack of it.
    pub ppl_engine_slack: f64,
    /// selftest: the fewest stages `apr check` must run to say anything.
    pub selftest_min_stages: usize,
    /// inspect/debug: a float apr reports equals the checkpoint's within this relative error.
    pub config_float_rel_tol: f64,
    /// One bad file: apr's GGUF whose full-vocabulary KLD (for a correct engine) is at
    /// least this many times the same engine's on the best correct equivalent…
    pub bad_file_kld_ratio: f64,
    /// …and above it by more than this many combined standard errors.
    pub bad_file_kld_sigmas: f64,
    /// ladder: the largest |Δ logprob| (nats) of apr's token on an f32 rung against the
    /// oracle's, over the steps both took alike.
    pub ladder_f32_logprob_max: f32,
    /// corrupt-input: the longest one apr command may take on a corrupt file before it
    /// is a hang (seconds; also the runner's limit for those calls).
    pub corrupt_timeout_s: f64,
    /// tensor-error: apr's RMSE on a tensor (dequantized against the reference) may be
    /// at most this many times the best correct quantizer's of the same width…
    pub tensor_error_max_ratio: f64,
    /// …and, where a correct quantizer keeps the tensor exact, at most this × the
    /// reference tensor's RMS (f32 rounding, not a coarser storage type).
    pub tensor_error_exact_rel_max: f64,
    /// safetensors: apr's mean and std of a checkpoint tensor (`apr hex --stats`) may
    /// differ from the harness's (f64 over the data) by at most this × the tensor's RMS.
    pub safetensors_stats_rel_max: f64,
}

/// The quantizations the kld bounds are kept for (`judge::kld::quant_of`).
pub const KLD_QUANTS: [&str; 7] = ["f32", "native", "q8_0", "int8", "q4_k", "q4_0", "int4"];

impl Tolerances {
    /// contract §4 values and ours, as in roster.toml: for the judges' unit tests.
    #[cfg(test)]
    pub fn spec() -> Tolerances {
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
                ("safetensors".to_string(), 1.01),
                ("f32".to_string(), 1.01),
                ("f32-gguf".to_string(), 1.01),
            ]),
            cross_runtime_max_mismatches: 0,
            cross_runtime_ppl_max_ratio: 1.01,
            golden_logprob: BTreeMap::from([("f32".to_string(), 1e-3), ("bf16".to_string(), 0.5), ("f16".to_string(), 0.0625)]),
            kld_mean_max: Self::kld_map([0.0005, 0.02, 0.02, 0.02, 0.3, 0.5, 0.5]),
            kld_p99_max: Self::kld_map([0.005, 0.2, 0.2, 0.2, 3.0, 4.0, 4.0]),
            kld_same_top1_min: Self::kld_map([0.99, 0.95, 0.95, 0.95, 0.75, 0.70, 0.70]),
            kld_topk_sigmas: 2.0,
            runtime_tie_margin: 0.5,
            ppl_token_count_slack: 1,
            ppl_engine_slack: 0.01,
            selftest_min_stages: 7,
            config_float_rel_tol: 1e-6,
            bad_file_kld_ratio: 2.0,
            bad_file_kld_sigmas: 2.0,
            ladder_f32_logprob_max: 0.02,
            corrupt_timeout_s: 60.0,
            tensor_error_max_ratio: 2.0,
            tensor_error_exact_rel_max: 1e-6,
            safetensors_stats_rel_max: 1e-4,
        }
    }

    /// The kld bounds' table (f32, native, q8_0, int8, q4_k, q4_0, int4).
    #[cfg(test)]
    fn kld_map(values: [f64; 7]) -> BTreeMap<String, f64> {
        KLD_QUANTS.iter().zip(values).map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// Every value a bound can be: finite, not negative; ratios ≥ 1; the maps hold
    /// what the judges look up. Each problem names its key.
    pub fn validate(&self) -> Result<(), String> {
        let mut bad = Vec::new();
        let mut real = |key: &str, v: f64| {
            if !v.is_finite() || v < 0.0 {
                bad.push(format!("{key} = {v}: must be a finite number ≥ 0"));
            }
        };
        real("ppl_int4_int8_max_diff", self.ppl_int4_int8_max_diff);
        real("near_tie_margin", self.near_tie_margin as f64);
        real("logprob_mean_abs_max", self.logprob_mean_abs_max as f64);
        real("logprob_kl_max", self.logprob_kl_max as f64);
        real("kld_topk_sigmas", self.kld_topk_sigmas);
        real("runtime_tie_margin", self.runtime_tie_margin as f64);
        real("ppl_engine_slack", self.ppl_engine_slack);
        real("config_float_rel_tol", self.config_float_rel_tol);
        real("bad_file_kld_sigmas", self.bad_file_kld_sigmas);
        real("ladder_f32_logprob_max", self.ladder_f32_logprob_max as f64);
        real("tensor_error_exact_rel_max", self.tensor_error_exact_rel_max);
        real("safetensors_stats_rel_max", self.safetensors_stats_rel_max);
        for (k, v) in &self.golden_logprob {
            real(&format!("golden_logprob.{k}"), *v as f64);
        }
        for (k, v) in &self.ref_ppl_max_ratio {
            if !v.is_finite() || *v < 1.0 {
                bad.push(format!("ref_ppl_max_ratio.{k} = {v}: a ratio bound must be finite and ≥ 1"));
            }
        }
        if !self.bad_file_kld_ratio.is_finite() || self.bad_file_kld_ratio < 1.0 {
            bad.push(format!("bad_file_kld_ratio = {}: a ratio bound must be finite and ≥ 1", self.bad_file_kld_ratio));
        }
        if !self.corrupt_timeout_s.is_finite() || self.corrupt_timeout_s <= 0.0 {
            bad.push(format!("corrupt_timeout_s = {}: a time limit must be finite and > 0", self.corrupt_timeout_s));
        }
        if !self.tensor_error_max_ratio.is_finite() || self.tensor_error_max_ratio < 1.0 {
            bad.push(format!("tensor_error_max_ratio = {}: a ratio bound must be finite and ≥ 1", self.tensor_error_max_ratio));
        }
        if !self.cross_runtime_ppl_max_ratio.is_finite() || self.cross_runtime_ppl_max_ratio < 1.0 {
            bad.push(format!("cross_runtime_ppl_max_ratio = {}: a ratio bound must be finite and ≥ 1", self.cross_runtime_ppl_max_ratio));
        }
        if !self.ref_ppl_max_ratio.contains_key("default") {
            bad.push("ref_ppl_max_ratio has no \"default\" entry".into());
        }
        for dtype in ["f32", "bf16", "f16"] {
            if !self.golden_logprob.contains_key(dtype) {
                bad.push(format!("golden_logprob has no {dtype:?} entry"));
            }
        }
        for (name, map) in
            [("kld_mean_max", &self.kld_mean_max), ("kld_p99_max", &self.kld_p99_max), ("kld_same_top1_min", &self.kld_same_top1_min)]
        {
            for quant in KLD_QUANTS {
                if !map.contains_key(quant) {
                    bad.push(format!("{name} has no {quant:?} entry"));
                }
            }
            for (k, v) in map {
                if !KLD_QUANTS.contains(&k.as_str()) {
                    bad.push(format!("{name}.{k}: not a quantization the kld suite knows ({})", KLD_QUANTS.join(", ")));
                }
                let fraction = name == "kld_same_top1_min";
                if !v.is_finite() || *v < 0.0 || (fraction && *v > 1.0) {
                    bad.push(format!("{name}.{k} = {v}: must be a finite number ≥ 0{}", if fraction { " and ≤ 1" } else { "" }));
                }
            }
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad.join("; "))
        }
    }

    pub fn golden_logprob_for(&self, dtype: &str) -> Option<f32> {
        self.golden_logprob.get(dtype).copied()
    }

    /// The artifact's ratio bound, else the roster's "default" (`validate` ensures one).
    pub fn ref_ppl_ratio_for(&self, artifact: &str) -> Option<f64> {
        self.ref_ppl_max_ratio.get(artifact).or_else(|| self.ref_ppl_max_ratio.get("default")).copied()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSuite(pub String);

impl std::fmt::Display for UnknownSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown suite {:?}; known: {}", self.0, suites::names().collect::<Vec<_>>().join(", "))
    }
}

impl std::error::Error for UnknownSuite {}

/// Every suite for one model, in `SUITES` order; then one file, one finding
/// (`bad_file`): what fails on a file apr wrote that correct engines convict is its
/// converter's.
pub fn judge_model(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    let mut outs: Vec<Outcome> = SUITES.iter().flat_map(|s| (s.judge)(ev, tol)).collect();
    ladder::reattribute(ev, tol, &mut outs);
    bad_file::reattribute(ev, tol, &mut outs);
    outs
}

pub fn judge_suite(name: &str, ev: &ModelEvidence, tol: &Tolerances) -> Result<Vec<Outcome>, UnknownSuite> {
    let mut outs = (suites::suite(name)?.judge)(ev, tol);
    ladder::reattribute(ev, tol, &mut outs);
    bad_file::reattribute(ev, tol, &mut outs);
    Ok(outs)
}

// ---------------------------------------------------------------- counting rules

/// contract §4: position-by-position differences plus the length difference.
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

/// An observation that can be judged, or the outcome saying why it cannot. The
/// suite that owns the observation FAILs a failed run; the others BLOCK on it under
/// the same signature (one crash, one ticket group, counted once as a FAIL).
pub fn take<'a, T>(obs: Option<&'a Observed<T>>, case: &Case, what: &str, owner: bool) -> Result<(&'a T, &'a Invocation), Outcome> {
    match obs {
        Some(Observed::Ok { value, invocation }) => Ok((value, invocation)),
        Some(Observed::Failed { error, invocation }) if owner => Err(failed_outcome(case, what, error, invocation)),
        Some(Observed::Failed { error, invocation }) => Err(case.blocked(
            format!("{what} failed: {}", telling_line(error, invocation)),
            failure_signature(error, invocation),
            evidence_from(invocation, None, Some(raw_output(invocation)), serde_json::json!({ "error": error })),
        )),
        Some(Observed::Blocked { step, reason, signature }) => Err(case.blocked(
            format!("{what}: blocked by {step}: {}", first_line(reason)),
            if signature.is_empty() { format!("blocked by {step}") } else { signature.clone() },
            Evidence { actual: Some(reason.clone()), ..Default::default() },
        )),
        Some(Observed::Skipped { reason }) => Err(case.skip(format!("{what}: {reason}"))),
        None => Err(case.about(Subject::Harness).blocked(
            format!("no observation for {what}"),
            "the harness made no observation",
            Evidence::default(),
        )),
    }
}

/// A stand-in observation (blocked, skipped) as one of another kind: what is not
/// there for one kind of observation is not there for the others either.
pub fn recast<T>(obs: &Observed<()>) -> Observed<T> {
    match obs {
        Observed::Blocked { step, reason, signature } => {
            Observed::Blocked { step: step.clone(), reason: reason.clone(), signature: signature.clone() }
        }
        Observed::Skipped { reason } => Observed::Skipped { reason: reason.clone() },
        Observed::Ok { invocation, .. } | Observed::Failed { invocation, .. } => {
            Observed::Failed { error: "internal: unexpected observation".into(), invocation: invocation.clone() }
        }
    }
}

/// FAIL for a runtime that crashed, timed out or printed what did not parse.
pub fn failed_outcome(case: &Case, what: &str, error: &str, inv: &Invocation) -> Outcome {
    case.fail(
        format!("{what}: {} ({})", telling_line(error, inv), how_it_ended(inv)),
        failure_signature(error, inv),
        evidence_from(inv, None, Some(raw_output(inv)), serde_json::json!({ "error": error })),
    )
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
    vec![Case::new(suite, &ev.slug, "goldens", Subject::Harness).blocked(
        "no goldens for this model (oracle step failed or not run)",
        "no goldens",
        Evidence::default(),
    )]
}

/// The suite that FAILs a failed generation of `runtime` on `artifact` (the others
/// BLOCK on it): token-parity for apr's int8/int4, roundtrip for the re-import,
/// divergence for every GGUF and every comparator.
pub fn generation_owner(runtime: &str, artifact: &str) -> &'static str {
    match (runtime == APR, artifact) {
        (true, "int8" | "int4") => "token-parity",
        (true, "roundtrip") => "roundtrip",
        _ => "divergence",
    }
}

/// The suite that FAILs a failed score: ppl for apr's int8/int4, reference-ppl else.
pub fn score_owner(runtime: &str, artifact: &str) -> &'static str {
    match (runtime == APR, artifact) {
        (true, "int8" | "int4") => "ppl",
        _ => "reference-ppl",
    }
}

/// The tokenizer finding behind a run, when the prompt it encoded differs from the
/// golden's: its signature, which the dependent outcomes of that run carry instead
/// of opening groups of their own, and a note.
pub fn tokenizer_cause(ev: &ModelEvidence, key: &GenKey) -> Option<(String, String)> {
    let Some(Observed::Ok { value, .. }) = ev.generations.get(key) else { return None };
    let g = ev.goldens.get(&key.prompt)?;
    let why = tokenizer::difference(&g.prompt_tokens, value)?;
    Some((tokenizer::signature(&key.runtime, &why), format!("prompt encoded differently ({why})")))
}

/// The signature every check shares that saw `runtime` generate other tokens than
/// the oracle: one defect, one ticket group, whatever the artifact or the claim
/// (canary, token-parity, divergence, cross-runtime alike; the group lists them).
pub fn wrong_output_signature(runtime: &str) -> String {
    format!("{runtime}: generates other tokens than the oracle")
}

/// What made a run wrong when another finding explains it: the prompt encoded
/// differently (the tokenizer suite's finding) or tokens generated after an EOS (the
/// divergence suite's). Its signature and a note.
pub fn run_cause(ev: &ModelEvidence, key: &GenKey) -> Option<(String, String)> {
    if let Some(cause) = tokenizer_cause(ev, key) {
        return Some(cause);
    }
    let Some(Observed::Ok { value, .. }) = ev.generations.get(key) else { return None };
    let g = ev.goldens.get(&key.prompt)?;
    let (at, extra) = past_eos(value.tokens.as_deref()?, &eos_ids(ev, g))?;
    Some((divergence::past_eos_signature(&key.runtime), format!("EOS at step {at}, then {extra} more token(s)")))
}

/// The outcome of a wrong generation: under the finding that explains the run when
/// there is one (`run_cause`), else under the wrong-output signature.
pub fn wrong_output(ev: &ModelEvidence, case: &Case, key: &GenKey, note: String, evidence: Evidence) -> Outcome {
    match run_cause(ev, key) {
        Some((sig, why)) => case.fail(format!("{note} ({why})"), sig, evidence),
        None => case.fail(note, wrong_output_signature(&key.runtime), evidence),
    }
}

/// Every EOS id known for the model: the truth's, and the golden's own EOS.
pub fn eos_ids(ev: &ModelEvidence, g: &Golden) -> Vec<u32> {
    let mut ids: Vec<u32> = ev.truth.as_ref().map(|t| t.eos_ids.clone()).unwrap_or_default();
    if let Some(e) = golden_eos(g) {
        if !ids.contains(&e) {
            ids.push(e);
        }
    }
    ids
}

/// Tokens a runtime generated after an EOS id it listed: (step of the EOS, how many after).
pub fn past_eos(tokens: &[u32], eos: &[u32]) -> Option<(usize, usize)> {
    let at = tokens.iter().position(|t| eos.contains(t))?;
    let after = tokens.len() - at - 1;
    (after > 0).then_some((at, after))
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
    #[test]
    fn a_missing_comparator_is_one_cause_in_harness_health() {
        let off = super::comparator_missing("m", "llama.cpp", "unavailable: llama.cpp comparator off (TMGT_LLAMACPP=off)");
        assert_eq!(off.note, "llama.cpp off by TMGT_LLAMACPP: attribution limited to candle");
        assert_eq!((off.status, &off.subject, &off.signature), (super::Verdict::Skip, &super::Subject::Harness, &off.note));
        let gone = super::comparator_missing("m", "llama.cpp", "llama.cpp comparator not built (x missing): run `cargo build`\nmore");
        assert_eq!(
            gone.note,
            "llama.cpp not available (llama.cpp comparator not built (x missing): run `cargo build`): attribution limited to candle"
        );
    }

    #[test]
    fn notes_carry_no_path_of_the_machine() {
        use super::portable_paths;
        assert_eq!(
            portable_paths("oracle-gen tokenize /work/main/models/smollm2/reference/tokenizer.json: bad (see /root/.cache/tiny-model-ground-truth/x.log)."),
            "oracle-gen tokenize models/smollm2/reference/tokenizer.json: bad (see ~/.cache/tiny-model-ground-truth/x.log)."
        );
        assert_eq!(portable_paths("\"/tmp/.tmpAbc/run/int8.apr\" missing"), "\"int8.apr\" missing");
        assert_eq!(portable_paths("/home/ci/src/x.rs:3"), "~/src/x.rs:3");
        // Relative paths, ratios, URLs' paths and lone slashes stay as they are.
        for kept in ["models/m/int8.apr", "31/32 mismatches", "a / b", "https://example.org/a/b", "/usr/lib/x.so", "n/a"] {
            assert_eq!(portable_paths(kept), kept);
        }
    }

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
        let case = Case::new("canary", "m", "int8/completion", subject::EITHER);
        let none: Option<&Observed<Generation>> = None;
        let out = take(none, &case, "apr on int8", true).unwrap_err();
        assert_eq!((out.status, &out.subject), (Verdict::Blocked, &Subject::Harness));
        assert!(out.note.contains("no observation"));
    }

    fn crashed() -> Invocation {
        Invocation {
            command: vec!["/usr/bin/apr".into(), "run".into(), "int8.apr".into(), "-p".into(), "Hello, my name is".into()],
            exit_code: Some(101),
            stderr: "loading int8.apr\nthread 'main' (9839) panicked at src/a.rs:105:24:\nrange end index 576 out of range for slice of length 240\nstack backtrace:\n   0: __rustc::rust_begin_unwind\n   3: realizar::error_path::forward\n".into(),
            ..Default::default()
        }
    }

    #[test]
    fn one_failure_one_signature_owner_fails_others_block() {
        let inv = crashed();
        let obs: Observed<Generation> =
            Observed::Failed { error: "`apr run …` exited with code 101; stderr tail:".into(), invocation: inv.clone() };
        let case = Case::new("token-parity", "m", "int8/greeting", subject::EITHER);
        let owner = take(Some(&obs), &case, "apr run on int8", true).unwrap_err();
        assert_eq!(owner.status, Verdict::Fail);
        assert_eq!(owner.signature, "apr: panic: range end index # out of range for slice of length #");
        assert!(owner.note.contains("panic: range end index 576") && owner.note.contains("exit 101"), "{}", owner.note);
        let other = take(Some(&obs), &Case::new("canary", "m2", "int8/code", subject::EITHER), "apr run on int8", false).unwrap_err();
        assert_eq!((other.status, &other.signature), (Verdict::Blocked, &owner.signature), "no prompt, path or model in the signature");
        // with RUST_BACKTRACE set, the panic message is still the telling line, not a frame
        let mut noisy = inv.clone();
        noisy.stderr =
            "thread 'main' panicked at src/a.rs:1:2:\nboom 7\nstack backtrace:\n   4: core::result::unwrap_failed_error\n".into();
        assert_eq!(telling_line("", &noisy), "panic: boom 7");
        let mut plain = inv.clone();
        plain.stderr = "Error: model file is truncated\n   0: backtrace frame error\n".into();
        assert_eq!(telling_line("", &plain), "Error: model file is truncated");
        let mut silent = inv;
        silent.stderr.clear();
        assert_eq!(telling_line("`apr run x` exited with code 101", &silent), "exit 101 with nothing on stderr");
        silent.timed_out = true;
        silent.exit_code = None;
        assert_eq!(failure_signature("x", &silent), "apr: timed out");
        // a blocked observation carries the blocking failure's signature
        let blocked: Observed<Generation> =
            Observed::Blocked { step: "convert int8".into(), reason: "crash".into(), signature: "apr: panic: x".into() };
        let b = take(Some(&blocked), &case, "apr run on int8", true).unwrap_err();
        assert_eq!((b.status, b.signature.as_str()), (Verdict::Blocked, "apr: panic: x"));
    }

    #[test]
    fn tolerances_come_only_from_the_roster_and_are_validated() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("roster.toml");
        let roster: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let t: Tolerances = roster["tolerances"].clone().try_into().unwrap();
        assert_eq!(t, Tolerances::spec(), "the roster's bounds are contract §4's and ours");
        assert!(t.validate().is_ok());
        let err = toml::from_str::<Tolerances>("int4_max_mismatches = 6").unwrap_err().to_string();
        assert!(err.contains("missing field"), "no code defaults: {err}");
        let mut bad = Tolerances::spec();
        bad.logprob_kl_max = f32::NAN;
        bad.near_tie_margin = -0.5;
        bad.ref_ppl_max_ratio.insert("int8".into(), 0.9);
        bad.golden_logprob.remove("bf16");
        bad.kld_mean_max.remove("q4_k");
        bad.kld_same_top1_min.insert("int4".into(), 1.5);
        bad.kld_p99_max.insert("q3".into(), 1.0);
        let why = bad.validate().unwrap_err();
        for key in [
            "logprob_kl_max = NaN",
            "near_tie_margin = -0.5",
            "ref_ppl_max_ratio.int8 = 0.9",
            "golden_logprob has no \"bf16\"",
            "kld_mean_max has no \"q4_k\"",
            "kld_same_top1_min.int4 = 1.5",
            "kld_p99_max.q3",
        ] {
            assert!(why.contains(key), "{key} not named in {why}");
        }
        // A ratio bound: ≥ 1 and finite; exactly 1 is a bound.
        let ratio = |r: f64| Tolerances { bad_file_kld_ratio: r, ..Tolerances::spec() }.validate();
        assert!(ratio(1.0).is_ok());
        for r in [0.99, f64::NAN, f64::INFINITY] {
            assert!(ratio(r).unwrap_err().contains(&format!("bad_file_kld_ratio = {r}")), "{r}");
        }
        // A time limit: finite and > 0.
        let limit = |s: f64| Tolerances { corrupt_timeout_s: s, ..Tolerances::spec() }.validate();
        assert!(limit(0.5).is_ok());
        for s in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(limit(s).unwrap_err().contains(&format!("corrupt_timeout_s = {s}")), "{s}");
        }
        let tensor = |r: f64| Tolerances { tensor_error_max_ratio: r, ..Tolerances::spec() }.validate();
        assert!(tensor(1.0).is_ok());
        for r in [0.99, f64::NAN, f64::INFINITY] {
            assert!(tensor(r).unwrap_err().contains(&format!("tensor_error_max_ratio = {r}")), "{r}");
        }
        let exact = |v: f64| Tolerances { tensor_error_exact_rel_max: v, ..Tolerances::spec() }.validate();
        assert!(exact(0.0).is_ok());
        assert!(exact(-1e-6).unwrap_err().contains("tensor_error_exact_rel_max = -0.000001"));
    }

    #[test]
    fn model_evidence_round_trips_through_json() {
        let mut ev = testutil::evidence();
        ev.scores.insert((APR.into(), "int8".into()), Observed::Failed { error: "bad".into(), invocation: Invocation::default() });
        ev.structure.insert(
            StructureKey::new("hex", "int4"),
            Observed::Blocked { step: "convert int4".into(), reason: "r".into(), signature: "s".into() },
        );
        ev.structure.insert(StructureKey::new("inspect", "int8"), Observed::Skipped { reason: "x".into() });
        let json = serde_json::to_string(&ev).unwrap();
        let back: ModelEvidence = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn judge_model_covers_every_suite_and_never_passes_on_nothing() {
        let ev = ModelEvidence::new("empty");
        let outs = judge_model(&ev, &Tolerances::spec());
        for suite in SUITES.iter().filter(|s| s.name != "list") {
            assert!(outs.iter().any(|o| o.suite == suite.name), "no outcome for {}", suite.name);
        }
        assert!(outs.iter().all(|o| o.status != Verdict::Pass), "{:#?}", outs.iter().find(|o| o.status == Verdict::Pass));
        assert!(judge_suite("nope", &ev, &Tolerances::spec()).is_err());
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
