//! The one table of suites: each suite's name, whom it is about, its claim as a
//! sentence built from the roster's tolerance values, the observations it needs and
//! its judge. Everything else (planning, the status table, `--suite`) reads it here
//! instead of matching suite names as strings.

use super::subject::{Subject, CONVERTER, EITHER, RUNTIME};
use super::*;

/// What a suite's judge reads from `ModelEvidence` (the harness makes only the
/// observations the suites asked for need).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    Conversions,
    Goldens,
    Generations,
    Scores,
    ReferenceScore,
    /// apr's structure subcommands (the suite's own `StructureSpec`).
    Structure,
    Truth,
    PrecisionGoldens,
    /// The KLD text scored by every full-logit runtime against the oracle's base file.
    Kld,
    /// The tokenizer battery, its reference ids and every runtime's.
    Battery,
    /// apr on files broken on purpose (`crate::corrupt`'s recipes).
    Corrupt,
    /// apr's int8/int4 and the correct quantizers' files dequantized, each compared
    /// with the reference checkpoint tensor by tensor.
    TensorError,
    /// apr's inspections of the reference model.safetensors, the harness's own reading
    /// of that file, and apr's f32 APR exported back to safetensors.
    Safetensors,
}

/// Whom a suite's outcomes are about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum About {
    /// Always this subject (structure suites, the precision ladder).
    Fixed(Subject),
    /// The runtime that made each observation: apr's runs are the runtime under
    /// test's, a comparator's runs are evidence (divergence, logprobs, tokenizer, …).
    EachRuntime,
    /// apr's converter for a command that writes a file (import), its runtime for
    /// the others (corrupt-input).
    EachCommand,
}

pub struct Suite {
    pub name: &'static str,
    pub about: About,
    /// The claim, built from the pre-registered tolerances.
    pub claim: fn(&Tolerances) -> String,
    pub needs: &'static [Need],
    pub judge: fn(&ModelEvidence, &Tolerances) -> Vec<Outcome>,
    /// apr's subcommand and its parser, for the structure suites.
    pub structure: Option<&'static structure::StructureSpec>,
}

impl std::fmt::Debug for Suite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suite").field("name", &self.name).field("about", &self.about).finish()
    }
}

macro_rules! structure_suite {
    ($name:literal, $subject:expr, $claim:literal, $spec:path) => {
        Suite {
            name: $name,
            about: About::Fixed($subject),
            claim: |_| $claim.to_string(),
            needs: &[Need::Structure, Need::Truth],
            judge: |ev, tol| structure::judge(&$spec, ev, tol),
            structure: Some(&$spec),
        }
    };
}

/// Every suite, in the order the status table shows them: the conversions, the
/// seed's 20, then ours.
pub static SUITES: &[Suite] = &[
    Suite {
        name: "convert",
        about: About::EachRuntime,
        claim: |_| "Every conversion runs and writes its artifact".into(),
        needs: &[Need::Conversions],
        judge: |ev, _| conversions::judge(ev),
        structure: None,
    },
    Suite {
        name: "canary",
        about: About::Fixed(EITHER),
        claim: |_| "Int8 text == oracle text, exactly".into(),
        needs: &[Need::Goldens, Need::Generations],
        judge: |ev, _| inference::canary(ev),
        structure: None,
    },
    Suite {
        name: "token-parity",
        about: About::Fixed(EITHER),
        claim: |t| format!("Int4 ≤ {}, Int8 ≤ {} token mismatches per prompt", t.int4_max_mismatches, t.int8_max_mismatches),
        needs: &[Need::Goldens, Need::Generations],
        judge: inference::token_parity,
        structure: None,
    },
    Suite {
        name: "quant-drift",
        about: About::Fixed(EITHER),
        claim: |t| format!("Int8 mismatches ≤ Int4 mismatches + {}", t.drift_slack),
        needs: &[Need::Goldens, Need::Generations],
        judge: inference::quant_drift,
        structure: None,
    },
    Suite {
        name: "roundtrip",
        about: About::Fixed(CONVERTER),
        claim: |_| "APR→GGUF→APR keeps the int4 tokens".into(),
        needs: &[Need::Goldens, Need::Generations, Need::Structure],
        judge: inference::roundtrip,
        structure: None,
    },
    Suite {
        name: "ppl",
        about: About::Fixed(EITHER),
        claim: |t| format!("PPL under the model's ceiling, |Int4 − Int8| < {}", t.ppl_int4_int8_max_diff),
        needs: &[Need::Scores],
        judge: perplexity::ppl,
        structure: None,
    },
    structure_suite!("inspect", CONVERTER, "Metadata matches config.json; quantized files say so", structure::INSPECT),
    structure_suite!("validate", CONVERTER, "Validation runs its checks and passes", structure::VALIDATE),
    structure_suite!("tensors", CONVERTER, "Tensor names and shapes match the checkpoint", structure::TENSORS),
    structure_suite!("lint", CONVERTER, "No lint errors", structure::LINT),
    structure_suite!("selftest", RUNTIME, "apr check runs its stages and passes", structure::SELFTEST),
    structure_suite!("diff", CONVERTER, "Int4 vs Int8: tensor dtype differences only", structure::DIFF),
    structure_suite!("tree", CONVERTER, "Tensor tree matches the checkpoint", structure::TREE),
    structure_suite!("oracle-id", RUNTIME, "Architecture and size identified", structure::ORACLE_ID),
    structure_suite!("hex", CONVERTER, "Finite, non-constant tensor data", structure::HEX),
    structure_suite!("debug", RUNTIME, "Health OK, counts match the checkpoint", structure::DEBUG),
    structure_suite!("bench", RUNTIME, "Throughput > 0", structure::BENCH),
    structure_suite!("qa", RUNTIME, "QA gates pass", structure::QA),
    structure_suite!("list", RUNTIME, "Cache listing works", structure::LIST),
    structure_suite!("rosetta-diff", CONVERTER, "No layout mismatches", structure::ROSETTA),
    structure_suite!("parity-gpu", RUNTIME, "GPU/CPU parity", structure::PARITY_GPU),
    Suite {
        name: "tokenizer",
        about: About::EachRuntime,
        claim: |_| "Prompt ids (or their count) identical to the oracle's".into(),
        needs: &[Need::Goldens, Need::Generations],
        judge: |ev, _| tokenizer::judge(ev),
        structure: None,
    },
    Suite {
        name: "divergence",
        about: About::EachRuntime,
        claim: |t| format!("No divergence where the oracle is confident (top-2 gap > {} nats); no token after EOS", t.near_tie_margin),
        needs: &[Need::Goldens, Need::Generations],
        judge: divergence::judge,
        structure: None,
    },
    Suite {
        name: "logprobs",
        about: About::EachRuntime,
        claim: |t| {
            format!("Top-1 agrees off near-ties; mean |Δlogprob| ≤ {}; mean top-k KL ≤ {}", t.logprob_mean_abs_max, t.logprob_kl_max)
        },
        needs: &[Need::Goldens, Need::Generations],
        judge: logprobs::judge,
        structure: None,
    },
    Suite {
        name: "reference-ppl",
        about: About::EachRuntime,
        claim: |t| {
            let ratios: Vec<String> = t.ref_ppl_max_ratio.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
            format!("PPL within the oracle's × bound ({})", ratios.join(", "))
        },
        needs: &[Need::Scores, Need::ReferenceScore],
        judge: perplexity::reference_ppl,
        structure: None,
    },
    Suite {
        name: "cross-runtime",
        about: About::Fixed(RUNTIME),
        claim: |t| format!("apr ≤ {} token mismatches from each comparator on the same GGUF", t.cross_runtime_max_mismatches),
        needs: &[Need::Goldens, Need::Generations],
        judge: cross_runtime::judge,
        structure: None,
    },
    Suite {
        name: "precision",
        about: About::Fixed(Subject::Reference),
        claim: |t| {
            format!(
                "BF16 ≤ {}, FP16 ≤ {}, BF16~FP16 ≤ {} mismatches; BF16 drift ≤ FP16 drift; goldens hold here",
                t.bf16_max_mismatches, t.f16_max_mismatches, t.bf16_vs_f16_max_mismatches
            )
        },
        needs: &[Need::Goldens, Need::PrecisionGoldens],
        judge: precision::judge,
        structure: None,
    },
    Suite {
        name: "kld",
        about: About::EachRuntime,
        claim: |t| {
            let q = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(f64::NAN);
            format!(
                "Full-vocabulary KLD from the oracle within the quantization's bound (mean: f32 ≤ {}, q8_0 ≤ {}, q4_0 ≤ {}; 99% and same top-1 too)",
                q(&t.kld_mean_max, "f32"),
                q(&t.kld_mean_max, "q8_0"),
                q(&t.kld_mean_max, "q4_0")
            )
        },
        // apr: what its top-k allows, from its generations against the goldens.
        needs: &[Need::Kld, Need::Goldens, Need::Generations, Need::Conversions],
        judge: kld::judge,
        structure: None,
    },
    Suite {
        name: "tokenizer-battery",
        about: About::EachRuntime,
        claim: |_| "Every battery string encodes to the reference tokenizer's ids; decode(encode(s)) == s".into(),
        needs: &[Need::Battery],
        judge: |ev, _| battery::judge(ev),
        structure: None,
    },
    Suite {
        name: "ladder",
        // apr's runtime or apr (runtime or container), by the stage the rung adds.
        about: About::Fixed(EITHER),
        claim: |t| {
            format!(
                "apr on f32 (a correct f32 GGUF, the raw checkpoint, its own unquantized APR) = the golden off near ties, |Δlogprob| ≤ {}, PPL ×{}; the first rung to break names the stage",
                t.ladder_f32_logprob_max,
                t.ref_ppl_ratio_for("f32").unwrap_or(f64::NAN)
            )
        },
        needs: &[Need::Goldens, Need::Generations, Need::Scores, Need::ReferenceScore],
        judge: ladder::judge,
        structure: None,
    },
    Suite {
        name: "corrupt-input",
        about: About::EachCommand,
        claim: |t| {
            format!("Corrupt files: non-zero exit with an error, no panic, no hang (≤ {}s), nothing left behind", t.corrupt_timeout_s)
        },
        needs: &[Need::Corrupt],
        judge: corrupt::judge,
        structure: None,
    },
    Suite {
        name: "tensor-error",
        about: About::Fixed(CONVERTER),
        claim: |t| {
            format!(
                "Per tensor, apr's int8/int4 RMSE ≤ {}× the best correct quantizer's of the same bits (≤ {:e} × RMS where it keeps the tensor exact)",
                t.tensor_error_max_ratio, t.tensor_error_exact_rel_max
            )
        },
        needs: &[Need::TensorError, Need::Conversions],
        judge: tensor_error::judge,
        structure: None,
    },
    Suite {
        name: "safetensors",
        // apr's runtime for what it prints about the checkpoint, its converter for the
        // export round trip.
        about: About::EachCommand,
        claim: |t| {
            format!(
                "apr tensors/inspect/validate/debug/tree on the raw checkpoint = its header; hex --stats = its data (min/max exact, mean/std ≤ {:e} × RMS); f32.apr → safetensors bit-identical",
                t.safetensors_stats_rel_max
            )
        },
        needs: &[Need::Safetensors, Need::Truth, Need::Conversions],
        judge: safetensors::judge,
        structure: None,
    },
];

/// The suite named `name`, or the error listing the known ones.
pub fn suite(name: &str) -> Result<&'static Suite, UnknownSuite> {
    SUITES.iter().find(|s| s.name == name).ok_or_else(|| UnknownSuite(name.to_string()))
}

pub fn names() -> impl Iterator<Item = &'static str> {
    SUITES.iter().map(|s| s.name)
}

/// The structure suites (those with an apr subcommand).
pub fn structure_suites() -> impl Iterator<Item = &'static Suite> {
    SUITES.iter().filter(|s| s.structure.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lookup_works() {
        let mut names: Vec<&str> = names().collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate suite name");
        assert_eq!(suite("canary").unwrap().name, "canary");
        assert!(suite("nope").unwrap_err().to_string().contains("canary"));
        assert_eq!(structure_suites().count(), 15);
    }

    #[test]
    fn claims_are_built_from_the_tolerances() {
        let mut t = Tolerances::spec();
        assert_eq!((suite("token-parity").unwrap().claim)(&t), "Int4 ≤ 5, Int8 ≤ 3 token mismatches per prompt");
        t.int4_max_mismatches = 7;
        t.drift_slack = 2;
        assert!((suite("token-parity").unwrap().claim)(&t).starts_with("Int4 ≤ 7,"));
        assert!((suite("quant-drift").unwrap().claim)(&t).ends_with("+ 2"));
        assert!((suite("precision").unwrap().claim)(&t).contains("BF16 ≤ 3, FP16 ≤ 5"));
        t.corrupt_timeout_s = 30.0;
        assert_eq!(
            (suite("corrupt-input").unwrap().claim)(&t),
            "Corrupt files: non-zero exit with an error, no panic, no hang (≤ 30s), nothing left behind"
        );
        t.tensor_error_max_ratio = 3.0;
        assert!((suite("tensor-error").unwrap().claim)(&t).contains("≤ 3× the best correct quantizer's"));
        assert!((suite("tensor-error").unwrap().claim)(&t).contains("≤ 1e-6 × RMS"));
        t.safetensors_stats_rel_max = 1e-3;
        assert!((suite("safetensors").unwrap().claim)(&t).contains("mean/std ≤ 1e-3 × RMS"));
    }
}
