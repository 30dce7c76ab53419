//! `apr run`, as pure functions: a generation to replay (the oracle's golden, or a
//! correct engine's output), cut to `-n`, the one defect applied, then rendered as
//! apr 0.72.3's run JSON (`logprobs` block on GGUF, `null` on APR).

use crate::defect::Defect;
use crate::detok::Decoder;
use serde_json::{json, Value};
use tmgt_schema::{Generation, Golden, StopReason, TokenLogprob};

/// Inserted into the text where a defect changed a token the decoder cannot spell.
pub const MARKER: char = '¤';

#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// Generated ids; the EOS id is the last one when `eos` is true.
    pub tokens: Vec<u32>,
    /// Untrimmed, special tokens skipped.
    pub text: String,
    pub prompt_ids: Vec<u32>,
    /// Per step top-k (may be shorter than `tokens`, or empty).
    pub top: Vec<Vec<TokenLogprob>>,
    /// Stopped at EOS (else: reached the token budget).
    pub eos: bool,
}

impl Replay {
    pub fn from_golden(g: &Golden) -> Replay {
        Replay {
            tokens: g.tokens.clone(),
            text: g.text.clone(),
            prompt_ids: g.prompt_tokens.clone(),
            top: g.top_logprobs.clone(),
            eos: g.stop_reason == StopReason::Eos,
        }
    }

    pub fn from_generation(g: &Generation) -> Replay {
        Replay {
            tokens: g.tokens.clone().unwrap_or_default(),
            text: g.text.clone(),
            prompt_ids: g.prompt_tokens.clone().unwrap_or_default(),
            top: g.top_logprobs.clone().unwrap_or_default(),
            eos: g.finish_reason.as_deref() == Some("eos"),
        }
    }

    pub fn finish_reason(&self) -> &'static str {
        if self.eos {
            "eos"
        } else {
            "length"
        }
    }
}

/// What a defect needs to know of the model.
pub struct Vocab<'a> {
    pub vocab_size: u32,
    pub eos_ids: Vec<u32>,
    pub bos_id: Option<u32>,
    pub decoder: Option<&'a Decoder>,
}

impl Vocab<'_> {
    /// The decoder, when it spells `r`'s tokens as `r`'s text (so it can respell them).
    fn faithful(&self, r: &Replay) -> Option<&Decoder> {
        self.decoder.filter(|d| d.knows(&r.tokens) && d.decode(&r.tokens) == r.text)
    }

    fn eos(&self, r: &Replay) -> u32 {
        self.eos_ids.first().copied().or(if r.eos { r.tokens.last().copied() } else { None }).unwrap_or(2)
    }

    /// `id + 1` modulo the vocabulary, skipping EOS ids.
    fn other_id(&self, id: u32) -> u32 {
        let n = self.vocab_size.max(2) as u64;
        (1..n).map(|i| ((id as u64 + i) % n) as u32).find(|c| !self.eos_ids.contains(c)).unwrap_or(id)
    }
}

/// Keeps at most `n` tokens (a shorter `-n` than the golden's budget).
pub fn truncate(r: &Replay, n: usize, vocab: &Vocab) -> Replay {
    if r.tokens.len() <= n {
        return r.clone();
    }
    let mut out = r.clone();
    out.tokens.truncate(n);
    out.top.truncate(n);
    out.eos = false;
    if let Some(d) = vocab.faithful(r) {
        out.text = d.decode(&out.tokens);
    } else {
        eprintln!("fake-apr: warning: -n {n} is shorter than the replayed generation and no tokenizer spells it: text kept whole");
    }
    out
}

/// The char index where the text of step `k` starts, by the decoder when it agrees
/// with the text, else `min(k, chars)`.
fn char_pos(r: &Replay, k: usize, vocab: &Vocab) -> usize {
    if let Some(d) = vocab.decoder {
        let prefix = d.decode(&r.tokens[..k.min(r.tokens.len())]);
        if r.text.starts_with(&prefix) {
            return prefix.chars().count();
        }
    }
    k.min(r.text.chars().count())
}

fn insert_at(text: &str, pos: usize, s: &str) -> String {
    let byte = text.char_indices().nth(pos).map(|(b, _)| b).unwrap_or(text.len());
    format!("{}{s}{}", &text[..byte], &text[byte..])
}

/// Applies `defect` to the generation (defects that are not about generation leave it as is).
/// `step` is FAKE_APR_STEP; `n` the `-n` budget.
/// How far `logprob-shift` moves every reported logprob (nats): past the logprobs
/// suite's mean |Δ| bound (0.5), well inside a near tie of nothing.
pub const LOGPROB_SHIFT: f32 = 0.6;

pub fn apply_defect(defect: Defect, step: usize, r: &Replay, n: usize, vocab: &Vocab) -> Replay {
    let mut out = r.clone();
    match defect {
        Defect::WrongToken if !r.tokens.is_empty() => {
            let k = step.min(r.tokens.len() - 1);
            let old = r.tokens[k];
            out.tokens[k] = vocab.other_id(old);
            if vocab.eos_ids.contains(&old) || (r.eos && k + 1 == r.tokens.len()) {
                out.eos = false;
            }
            out.text = match vocab.faithful(r) {
                Some(d) => d.decode(&out.tokens),
                None => r.text.clone(),
            };
            if out.text == r.text {
                out.text = insert_at(&r.text, char_pos(r, k, vocab), &MARKER.to_string());
            }
        }
        Defect::TrimText => out.text = r.text.trim().to_string(),
        Defect::LogprobShift => out.top.iter_mut().flatten().for_each(|t| t.logprob -= LOGPROB_SHIFT),
        Defect::Bos => out.prompt_ids.insert(0, vocab.bos_id.unwrap_or(1)),
        Defect::EosThenMore => {
            let eos = vocab.eos(r);
            let mut base = r.tokens.clone();
            let mut top = r.top.clone();
            if r.eos && !base.is_empty() {
                base.pop();
                top.truncate(base.len());
            }
            let n = n.max(2);
            let k = step.min(base.len()).min(n - 2);
            let filler = base.last().copied().filter(|t| !vocab.eos_ids.contains(t) && *t != eos).unwrap_or_else(|| vocab.other_id(eos));
            let mut tokens: Vec<u32> = base[..k].to_vec();
            tokens.push(eos);
            tokens.extend_from_slice(&base[k..]);
            while tokens.len() < n {
                tokens.push(filler);
            }
            tokens.truncate(n);
            top.truncate(k);
            top.push(vec![TokenLogprob { id: eos, logprob: -0.01 }]);
            top.extend(r.top.iter().skip(k).take(base.len() - k).cloned());
            while top.len() < tokens.len() {
                top.push(vec![TokenLogprob { id: tokens[top.len()], logprob: -0.5 }]);
            }
            let extra = tokens.len() - k - 1 - (base.len() - k).min(tokens.len() - k - 1);
            out.text = match vocab.faithful(r) {
                Some(d) => d.decode(&tokens),
                None => format!("{}{}", r.text, MARKER.to_string().repeat(extra.max(1))),
            };
            out.tokens = tokens;
            out.top = top;
            out.eos = false;
        }
        _ => {}
    }
    out
}

/// Everything of `apr run --json` that does not come from the generation.
pub struct RunMeta {
    /// The model path as given.
    pub model: String,
    pub max_tokens: usize,
    /// `--logprobs K` on a GGUF: the logprobs block; None: `"logprobs": null`.
    pub logprobs_k: Option<usize>,
    /// GGUF: the context length from its metadata; APR: null (as apr 0.72.3).
    pub context_length: Option<u64>,
    pub digest: String,
    pub commit: String,
}

fn step_json(step: usize, chosen: u32, top: &[TokenLogprob], k: usize) -> Value {
    let chosen_logprob = top
        .iter()
        .find(|t| t.id == chosen)
        .map(|t| t.logprob as f64)
        .unwrap_or_else(|| top.iter().map(|t| t.logprob as f64).fold(0.0, f64::min) - 1.0);
    // The fake has no logits: it reports logit = logprob (logsumexp_full = 0).
    let top: Vec<Value> =
        top.iter().take(k).map(|t| json!({"token_id": t.id, "logit": t.logprob as f64, "logprob": t.logprob as f64})).collect();
    json!({"step": step, "chosen": chosen, "chosen_logprob": chosen_logprob, "top": top, "logsumexp_full": 0.0})
}

/// apr 0.72.3's `run --json` object for a (possibly defective) generation.
pub fn run_json(r: &Replay, meta: &RunMeta) -> Value {
    let n = r.tokens.len();
    let logprobs = match meta.logprobs_k {
        None => Value::Null,
        Some(k) => json!({
            "top_k": k,
            "prompt_token_ids": r.prompt_ids,
            "steps": r.tokens.iter().enumerate()
                .map(|(i, &t)| step_json(i, t, r.top.get(i).map(Vec::as_slice).unwrap_or(&[]), k))
                .collect::<Vec<_>>(),
        }),
    };
    let tok_per_sec = 100.0;
    let generation_ms = n as u64 * 10;
    json!({
        "model": meta.model,
        "text": r.text,
        "tokens": r.tokens,
        "tokens_generated": n,
        "max_tokens": meta.max_tokens,
        "tok_per_sec": tok_per_sec,
        "inference_time_ms": generation_ms as f64 + 5.0,
        "used_gpu": false,
        "cached": true,
        "prompt_tokens": r.prompt_ids.len(),
        "completion_tokens": n,
        "finish_reason": r.finish_reason(),
        "context_length": meta.context_length,
        "generation_ms": generation_ms,
        "setup_ms": 0,
        "logprobs": logprobs,
        "backend": {"requested": "default", "ran": "cpu", "fell_back": false},
        "refusal": null,
        "status": "ok",
        "error": null,
        "apr_version": crate::APR_VERSION,
        "apr_commit": meta.commit,
        "model_digest": meta.digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::sample_golden;

    fn vocab(decoder: Option<&Decoder>) -> Vocab<'_> {
        Vocab { vocab_size: 10, eos_ids: vec![2], bos_id: Some(1), decoder }
    }

    fn replay(tokens: Vec<u32>, text: &str, eos: bool) -> Replay {
        Replay::from_golden(&sample_golden("Hi", tokens, text, eos))
    }

    fn meta(k: Option<usize>) -> RunMeta {
        RunMeta {
            model: "int8.apr".into(),
            max_tokens: 32,
            logprobs_k: k,
            context_length: None,
            digest: "d".into(),
            commit: "fake-perfect".into(),
        }
    }

    #[test]
    fn perfect_replays_the_golden_exactly() {
        let r = replay(vec![5, 6, 2], " ab\n", true);
        let p = apply_defect(Defect::Perfect, 1, &r, 32, &vocab(None));
        assert_eq!(p, r);
        let v = run_json(&p, &meta(None));
        assert_eq!(v["tokens"], json!([5, 6, 2]), "EOS listed as in the golden");
        assert_eq!(v["text"], " ab\n");
        assert_eq!(v["finish_reason"], "eos");
        assert_eq!(v["prompt_tokens"], 2);
        assert_eq!(v["completion_tokens"], 3);
        assert_eq!((v["status"].clone(), v["error"].clone(), v["logprobs"].clone()), (json!("ok"), Value::Null, Value::Null));
        let l = run_json(&replay(vec![5, 6], "ab", false), &meta(Some(2)));
        assert_eq!(l["finish_reason"], "length");
        assert_eq!(l["logprobs"]["prompt_token_ids"], json!([1, 2]));
        assert_eq!(l["logprobs"]["steps"][0]["top"][0], json!({"token_id": 5, "logit": -0.1f32 as f64, "logprob": -0.1f32 as f64}));
        assert_eq!(l["logprobs"]["steps"][0]["chosen"], 5);
        assert_eq!(l["logprobs"]["steps"][1]["top"], json!([]));
    }

    #[test]
    fn run_json_has_apr_0_72_3_shapes() {
        use crate::testutil::{apr_fixture, shape_differences};
        let r = replay(vec![5, 6, 2], "ab", true);
        let d = shape_differences(&apr_fixture("run-int8.json"), &run_json(&r, &meta(None)), "", &[]);
        assert!(d.is_empty(), "{d:#?}");
        let g = replay(vec![5, 6], "ab", false);
        let d = shape_differences(&apr_fixture("run-gguf.json"), &run_json(&g, &meta(Some(2))), "", &[]);
        assert!(d.is_empty(), "{d:#?}");
    }

    #[test]
    fn wrong_token_changes_one_step_and_the_text() {
        let r = replay(vec![5, 6, 7, 8], "abcd", false);
        let w = apply_defect(Defect::WrongToken, 1, &r, 32, &vocab(None));
        assert_eq!(w.tokens, vec![5, 7, 7, 8]);
        assert_eq!(w.text, format!("a{MARKER}bcd"));
        // The step is clamped to the last token, and never turned into EOS.
        let w = apply_defect(Defect::WrongToken, 9, &replay(vec![1], "x", false), 32, &vocab(None));
        assert_eq!(w.tokens, vec![3], "1+1 = 2 is EOS, skipped");
        // An EOS-only golden: the EOS is replaced, the generation no longer stops at EOS.
        let w = apply_defect(Defect::WrongToken, 1, &replay(vec![2], "", true), 32, &vocab(None));
        assert_eq!((w.tokens.clone(), w.eos), (vec![3], false));
        assert_ne!(w.text, "");
    }

    #[test]
    fn wrong_token_respells_the_text_with_a_faithful_tokenizer() {
        let d = Decoder::from_json(&crate::detok::tests_support::tiny_byte_level()).unwrap();
        // ids: 1 "Ġ", 2 "P", 3 "aris", 4 "Ġis", 5 "Ċ", 6 "."
        let r = Replay { tokens: vec![1, 2, 3, 6], text: " Paris.".into(), prompt_ids: vec![], top: vec![], eos: false };
        let v = Vocab { vocab_size: 7, eos_ids: vec![0], bos_id: None, decoder: Some(&d) };
        let w = apply_defect(Defect::WrongToken, 2, &r, 32, &v);
        assert_eq!(w.tokens, vec![1, 2, 4, 6]);
        assert_eq!(w.text, " P is.");
    }

    #[test]
    fn trim_text_and_bos() {
        let r = replay(vec![5, 6], " ab\n", false);
        let t = apply_defect(Defect::TrimText, 1, &r, 32, &vocab(None));
        assert_eq!((t.text.as_str(), t.tokens.clone()), ("ab", r.tokens.clone()));
        let b = apply_defect(Defect::Bos, 1, &r, 32, &vocab(None));
        assert_eq!(b.prompt_ids, vec![1, 1, 2]);
        assert_eq!((b.tokens.clone(), b.text.clone()), (r.tokens.clone(), r.text.clone()));
        assert_eq!(run_json(&b, &meta(None))["prompt_tokens"], 3);
        assert_eq!(run_json(&b, &meta(Some(1)))["logprobs"]["prompt_token_ids"], json!([1, 1, 2]));
    }

    #[test]
    fn eos_then_more_goes_on_after_eos() {
        let r = replay(vec![5, 6, 7], "abc", false);
        let e = apply_defect(Defect::EosThenMore, 1, &r, 6, &vocab(None));
        assert_eq!(e.tokens, vec![5, 2, 6, 7, 7, 7]);
        assert_eq!(e.top.len(), 6);
        assert!(!e.eos);
        assert_eq!(run_json(&e, &meta(None))["finish_reason"], "length");
        assert!(e.text.starts_with("abc") && e.text.len() > 3, "{:?}", e.text);
        // An EOS-at-step-0 golden: EOS, then tokens that are not EOS, up to n.
        let e = apply_defect(Defect::EosThenMore, 1, &replay(vec![2], "", true), 4, &vocab(None));
        assert_eq!(e.tokens[0], 2);
        assert_eq!(e.tokens.len(), 4);
        assert!(e.tokens[1..].iter().all(|&t| t != 2), "{:?}", e.tokens);
    }

    #[test]
    fn non_generation_defects_leave_it_alone_and_truncate_cuts() {
        let r = replay(vec![5, 6, 2], "ab", true);
        for d in [Defect::CrashRun, Defect::Hang, Defect::NonJson, Defect::RenamedTensor, Defect::NanPpl] {
            assert_eq!(apply_defect(d, 1, &r, 32, &vocab(None)), r);
        }
        let t = truncate(&r, 2, &vocab(None));
        assert_eq!((t.tokens.clone(), t.eos), (vec![5, 6], false));
        assert_eq!(truncate(&r, 3, &vocab(None)), r);
    }
}
