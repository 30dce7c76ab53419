//! Hand-built goldens and observations for the judges' unit tests.

use super::*;
use tmgt_schema::{GoldenInputs, OracleInfo, Settings, TokenLogprob};

pub const EOS: u32 = 2;

/// A 32-token greedy golden for `prompt` whose tokens are 100+i, with top-2 logprobs:
/// the chosen token at -0.1, a runner-up (id 900+i) at `-0.1 - gap(i)`.
pub fn golden(prompt: &str, tokens: Vec<u32>) -> Golden {
    golden_with(prompt, tokens, StopReason::Length, |_| 3.0)
}

pub fn golden_with(prompt: &str, tokens: Vec<u32>, stop: StopReason, gap: impl Fn(usize) -> f32) -> Golden {
    let settings = Settings { max_new_tokens: 32, ignore_eos: false, top_k: 2, dtype: "f32".into(), device: "cpu".into() };
    let oracle = OracleInfo {
        name: "oracle-gen".into(),
        version: "0.1.0".into(),
        candle_version: "0.11.1".into(),
        dtype: "f32".into(),
        device: "cpu".into(),
    };
    let top = tokens
        .iter()
        .enumerate()
        .map(|(i, &t)| vec![TokenLogprob { id: t, logprob: -0.1 }, TokenLogprob { id: 900 + i as u32, logprob: -0.1 - gap(i) }])
        .collect();
    Golden {
        schema_version: 1,
        model: "test/model".into(),
        model_slug: "tiny".into(),
        prompt: format!("prompt {prompt}"),
        prompt_file: format!("prompts/{prompt}.txt"),
        runtime: "oracle-gen".into(),
        format: "float32".into(),
        token_count: tokens.len(),
        text: text_of(&tokens),
        tokens,
        max_new_tokens: 32,
        do_sample: false,
        prompt_tokens: vec![10, 11, 12],
        stop_reason: stop,
        top_logprobs: top,
        oracle,
        inputs: GoldenInputs { files: BTreeMap::new(), prompt_sha256: String::new(), settings, cache_key: String::new() },
        host: None,
    }
}

/// A fake detokenizer: each id becomes "<id>", EOS becomes nothing.
pub fn text_of(tokens: &[u32]) -> String {
    tokens.iter().filter(|&&t| t != EOS).map(|t| format!("<{t}>")).collect()
}

pub fn seq(n: usize) -> Vec<u32> {
    (0..n as u32).map(|i| 100 + i).collect()
}

/// `base` with the first `k` positions replaced by other ids.
pub fn with_mismatches(base: &[u32], k: usize) -> Vec<u32> {
    base.iter().enumerate().map(|(i, &t)| if i < k { 5000 + i as u32 } else { t }).collect()
}

pub fn gen(tokens: Vec<u32>) -> Generation {
    Generation {
        text: text_of(&tokens),
        tokens: Some(tokens),
        prompt_tokens: Some(vec![10, 11, 12]),
        prompt_token_count: None,
        top_logprobs: None,
        finish_reason: None,
        tokens_per_second: Some(10.0),
    }
}

pub fn inv(args: &[&str], stdout: &str) -> Invocation {
    Invocation {
        command: args.iter().map(|s| s.to_string()).collect(),
        exit_code: Some(0),
        duration_s: 1.0,
        timed_out: false,
        stdout: stdout.into(),
        stderr: String::new(),
        cwd: None,
        ..Default::default()
    }
}

pub fn ok<T>(value: T) -> Observed<T> {
    Observed::Ok { value, invocation: inv(&["apr", "run", "x.apr", "--json"], "{}") }
}

pub const PROMPTS: [&str; 4] = ["arithmetic", "code", "completion", "greeting"];

/// Evidence with 32-token goldens for the four prompts and no observations.
pub fn evidence() -> ModelEvidence {
    let mut ev = ModelEvidence::new("tiny");
    ev.ppl_ceiling = 20.0;
    for p in PROMPTS {
        ev.goldens.insert(p.into(), golden(p, seq(32)));
    }
    ev
}

/// Sets the apr generation of `artifact` on every prompt to `tokens`.
pub fn set_all(ev: &mut ModelEvidence, runtime: &str, artifact: &str, tokens: &[u32]) {
    for p in PROMPTS {
        ev.generations.insert(GenKey::new(runtime, artifact, p), ok(gen(tokens.to_vec())));
    }
}

pub fn find<'a>(outs: &'a [Outcome], case: &str) -> &'a Outcome {
    outs.iter().find(|o| o.case == case).unwrap_or_else(|| panic!("no outcome {case} in {outs:#?}"))
}

/// How `tool` made an artifact from `from` at `bits` (a successful conversion).
pub fn conversion(tool: &str, from: &str, bits: u8) -> super::conversions::Conversion {
    super::conversions::Conversion {
        tool: tool.into(),
        from: from.into(),
        bits,
        observed: Observed::Ok {
            value: super::conversions::Made { file: "f".into(), bytes: 1, sha256: String::new(), gguf: None },
            invocation: inv(&["x"], ""),
        },
    }
}
