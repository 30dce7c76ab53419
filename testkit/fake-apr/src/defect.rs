//! The one defect a fake-apr process injects, read from `FAKE_APR_DEFECT` (unset or
//! `perfect`: none), and the step it applies at (`FAKE_APR_STEP`, default 1).

use anyhow::{bail, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    Perfect,
    WrongToken,
    TrimText,
    Bos,
    EosThenMore,
    CrashImport,
    CrashRun,
    Hang,
    NonJson,
    JsonNonzero,
    NanPpl,
    EmptyStages,
    RenamedTensor,
    F32Export,
    LogprobShift,
    PplHigh,
    CoarseExport,
    ExportNoBosFlag,
    F32Runtime,
    F32Container,
    CoarseTensor,
    PanicTruncatedHeader,
    F32CorruptTensor,
}

/// (name, defect, what it does): the `--help` text and the error for an unknown name.
pub const DEFECTS: &[(&str, Defect, &str)] = &[
    ("perfect", Defect::Perfect, "no defect (also when FAKE_APR_DEFECT is unset or empty)"),
    ("wrong-token", Defect::WrongToken, "run (.apr and .gguf): the token at step FAKE_APR_STEP becomes another id, the text changes there"),
    ("trim-text", Defect::TrimText, "run: text is trimmed of leading/trailing whitespace, tokens unchanged"),
    ("bos", Defect::Bos, "run: a BOS id is prepended to the prompt ids (GGUF: logprobs.prompt_token_ids; APR: prompt_tokens + 1)"),
    ("eos-then-more", Defect::EosThenMore, "run: an EOS id at step FAKE_APR_STEP, then more tokens up to -n"),
    ("crash-import", Defect::CrashImport, "import panics (exit 101, Rust panic message, no output file)"),
    ("crash-run", Defect::CrashRun, "run and eval panic (exit 101)"),
    ("hang", Defect::Hang, "run sleeps forever"),
    ("non-json", Defect::NonJson, "run prints a log line on stdout before its JSON"),
    ("json-nonzero", Defect::JsonNonzero, "structure subcommands print their perfect JSON but exit 3"),
    ("nan-ppl", Defect::NanPpl, "eval prints \"perplexity\": null (what serde_json writes for f64::NAN)"),
    ("empty-stages", Defect::EmptyStages, "check prints \"stages\": [], validate \"checks\": [] with checks_ran 0"),
    ("renamed-tensor", Defect::RenamedTensor, "import records one tensor under another name (blk.0.attn_q.weight -> blk.0.attn_qq.weight)"),
    ("f32-export", Defect::F32Export, "export writes an F32 GGUF instead of Q4_0/Q8_0"),
    ("logprob-shift", Defect::LogprobShift, "run: every reported logprob is 0.6 nats lower, tokens and text unchanged"),
    ("ppl-high", Defect::PplHigh, "eval: the perplexity is 20% high (cross-entropy + ln 1.2)"),
    (
        "coarse-export",
        Defect::CoarseExport,
        "export of an int4 file: every weight matrix rounded to 4 bits with one scale per tensor before the Q4_0 write (a quantizer worse than Q4_0's one scale per 32 values)",
    ),
    (
        "export-no-bos-flag",
        Defect::ExportNoBosFlag,
        "export drops tokenizer.ggml.add_bos_token; run on a GGUF without that key prepends BOS (as apr 0.72.3 does)",
    ),
    (
        "f32-runtime",
        Defect::F32Runtime,
        "run on f32 weights (an all-F32 GGUF, a .safetensors checkpoint, an f32 .apr): the token at step FAKE_APR_STEP becomes another id",
    ),
    (
        "f32-container",
        Defect::F32Container,
        "run on an unquantized .apr (apr import without --quantize): the token at step FAKE_APR_STEP becomes another id; every other file is right",
    ),
    (
        "coarse-tensor",
        Defect::CoarseTensor,
        "export --format safetensors of an int8 file: its first weight matrix (by name) comes back rounded to 4 bits with one scale per tensor (a quantizer far worse than Q8_0 on that tensor alone)",
    ),
    (
        "panic-truncated-header",
        Defect::PanicTruncatedHeader,
        "any command given a .safetensors file shorter than its 8-byte length and the header it declares panics (exit 101) instead of refusing it",
    ),
    (
        "f32-corrupt-tensor",
        Defect::F32CorruptTensor,
        "export --format safetensors of an unquantized .apr: the first tensor's (by name) first value is negated; every other file is right",
    ),
];

impl Defect {
    pub fn parse(name: &str) -> Result<Defect> {
        let name = name.trim();
        if name.is_empty() {
            return Ok(Defect::Perfect);
        }
        match DEFECTS.iter().find(|(n, _, _)| *n == name) {
            Some((_, d, _)) => Ok(*d),
            None => bail!(
                "FAKE_APR_DEFECT={name:?} is not a defect this fake knows ({})",
                DEFECTS.iter().map(|(n, _, _)| *n).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    pub fn name(self) -> &'static str {
        DEFECTS.iter().find(|(_, d, _)| *d == self).map(|(n, _, _)| *n).expect("every defect is listed")
    }

    pub fn from_env() -> Result<Defect> {
        Defect::parse(&std::env::var("FAKE_APR_DEFECT").unwrap_or_default())
    }
}

/// The generation step a step defect applies at: `FAKE_APR_STEP`, default 1.
pub fn step_from_env() -> Result<usize> {
    match std::env::var("FAKE_APR_STEP") {
        Err(_) => Ok(1),
        Ok(s) if s.trim().is_empty() => Ok(1),
        Ok(s) => match s.trim().parse() {
            Ok(n) => Ok(n),
            Err(_) => bail!("FAKE_APR_STEP={s:?} is not a step number"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_an_error() {
        for (name, d, _) in DEFECTS {
            assert_eq!(Defect::parse(name).unwrap(), *d);
            assert_eq!(d.name(), *name);
        }
        assert_eq!(Defect::parse("").unwrap(), Defect::Perfect);
        let err = Defect::parse("wrong_token").unwrap_err().to_string();
        assert!(err.contains("wrong_token") && err.contains("wrong-token"), "{err}");
    }
}
