//! The candle GGUF runtime on the test's own tiny llama GGUF: greedy output is
//! deterministic and survives an import → export round trip, teacher-forced scores
//! agree with the logprobs greedy decoding saw, and the prompt is encoded by the
//! tokenizer rebuilt from the GGUF's metadata.

mod gguf_common;

use candle_core::quantized::GgmlDType;
use gguf_common::*;
use oracle_gen::generate::{greedy, score, GreedySettings};
use oracle_gen::gguf::{export_gguf, import_gguf, load_gguf_model, run_gguf, score_gguf, Quant};

const PROMPT: &str = "The cat sat on the mat";

#[test]
fn gguf_runtime_greedy_is_deterministic_and_survives_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let gguf = tmp.path().join("tiny.gguf");
    write_tiny_gguf(&gguf, &SPEC, GgmlDType::F32, 21);
    let first = run_gguf(&gguf, PROMPT, 12, 3).unwrap();
    let (tokens, _) = vocab();
    let id = |t: &str| tokens.iter().position(|x| x == t).unwrap() as u32;
    assert_eq!(first.prompt_tokens.as_deref(), Some(&[id("The"), id("Ġcat"), id("Ġsat"), id("Ġon"), id("Ġthe"), id("Ġmat")][..]));
    let generated = first.tokens.clone().unwrap();
    assert!(!generated.is_empty() && generated.len() <= 12);
    match first.finish_reason.as_deref() {
        Some("length") => assert_eq!(generated.len(), 12),
        Some("eos") => assert_eq!(*generated.last().unwrap(), 2),
        other => panic!("finish reason {other:?}"),
    }
    let top = first.top_logprobs.clone().unwrap();
    assert_eq!(top.len(), generated.len());
    for (step, (t, k)) in generated.iter().zip(&top).enumerate() {
        assert_eq!(k.len(), 3);
        assert_eq!(k[0].id, *t, "step {step}: greedy token is not the top-1");
    }
    assert!(first.tokens_per_second.unwrap() > 0.0);

    let again = run_gguf(&gguf, PROMPT, 12, 3).unwrap();
    assert_eq!(again.tokens, first.tokens);
    assert_eq!(again.top_logprobs, first.top_logprobs, "bit-identical on rerun");

    // GGUF → HF → GGUF (F32) runs the same.
    let dir = tmp.path().join("ref");
    import_gguf(&gguf, &dir).unwrap();
    let back = tmp.path().join("back.gguf");
    export_gguf(&dir, &back, Quant::F32).unwrap();
    let round = run_gguf(&back, PROMPT, 12, 3).unwrap();
    assert_eq!(round.tokens, first.tokens);
    assert_eq!(round.text, first.text);
    assert_eq!(round.top_logprobs, first.top_logprobs);
}

#[test]
fn gguf_runtime_runs_qwen2_and_its_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let gguf = tmp.path().join("qwen2.gguf");
    write_tiny_gguf(&gguf, &Spec { qwen2: true, ..SPEC }, GgmlDType::F32, 23);
    let first = run_gguf(&gguf, PROMPT, 8, 2).unwrap();
    assert_eq!(first.prompt_tokens.as_ref().map(|p| p.len()), Some(6));
    let dir = tmp.path().join("ref");
    import_gguf(&gguf, &dir).unwrap();
    let back = tmp.path().join("back.gguf");
    export_gguf(&dir, &back, Quant::F32).unwrap();
    let round = run_gguf(&back, PROMPT, 8, 2).unwrap();
    assert_eq!(round.tokens, first.tokens);
    assert_eq!(round.top_logprobs, first.top_logprobs);
}

#[test]
fn gguf_runtime_scores_agree_with_greedy_logprobs() {
    let tmp = tempfile::tempdir().unwrap();
    let gguf = tmp.path().join("tiny.gguf");
    write_tiny_gguf(&gguf, &SPEC, GgmlDType::Q8_0, 22);
    let mut model = load_gguf_model(&gguf).unwrap();
    let prompt = model.encode(PROMPT).unwrap();
    let settings = GreedySettings { max_new_tokens: 6, eos_ids: vec![], ignore_eos: false, top_k: 1 };
    let out = greedy(&mut model, &prompt, &settings).unwrap();
    // Scoring prompt + continuation one token at a time must see the same
    // distributions that batched prefill + cached decoding saw.
    let mut all = prompt.clone();
    all.extend(&out.tokens);
    let scored = score(&mut model, &all).unwrap();
    for (step, top) in out.top_logprobs.iter().enumerate() {
        let teacher = scored.token_logprobs[prompt.len() - 1 + step];
        assert!((teacher - top[0].logprob).abs() < 1e-3, "step {step}: teacher-forced {teacher} vs greedy {}", top[0].logprob);
    }
    let s = score_gguf(&gguf, "the cat sat on the mat in the mat").unwrap();
    assert!(s.perplexity.is_finite() && s.perplexity > 1.0);
    assert!((s.perplexity - s.mean_nll.unwrap().exp()).abs() < 1e-9 * s.perplexity);
    assert_eq!(s.token_count, Some(model.encode("the cat sat on the mat in the mat").unwrap().len() - 1));
}

#[test]
fn gguf_runtime_error_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("broken.gguf");
    std::fs::write(&bad, b"GGUF but not really").unwrap();
    let err = format!("{:#}", run_gguf(&bad, "hi", 1, 1).unwrap_err());
    assert!(err.contains("broken.gguf"), "{err}");
}

/// A GGUF whose pre-tokenizer candle cannot rebuild (apr's exports write "default")
/// still scores given ids: the KLD windows need weights, not a tokenizer. Encoding
/// text is where it fails, naming the metadata.
#[test]
fn gguf_runtime_scores_ids_without_a_tokenizer_it_cannot_build() {
    let tmp = tempfile::tempdir().unwrap();
    let gguf = tmp.path().join("tiny.gguf");
    write_tiny_gguf(&gguf, &SPEC, GgmlDType::F32, 24);
    // Same-length rewrite of the length-prefixed value "smollm" of tokenizer.ggml.pre.
    let mut bytes = std::fs::read(&gguf).unwrap();
    let needle = [&6u64.to_le_bytes()[..], b"smollm"].concat();
    let at = bytes.windows(needle.len()).position(|w| w == needle).expect("tokenizer.ggml.pre in the file");
    bytes[at + 8..at + 14].copy_from_slice(b"foobar");
    std::fs::write(&gguf, &bytes).unwrap();

    let mut model = load_gguf_model(&gguf).unwrap();
    let err = format!("{:#}", model.encode(PROMPT).unwrap_err());
    assert!(err.contains("foobar") && err.contains("not supported"), "{err}");
    let err = format!("{:#}", run_gguf(&gguf, PROMPT, 2, 1).unwrap_err());
    assert!(err.contains("foobar"), "{err}");
    let rows = oracle_gen::kld::window_rows(&mut model, &[1, 5, 6, 7, 8], 1).unwrap();
    assert_eq!(rows.len(), 3, "positions 1..4 of a 5-id window");
    for row in &rows {
        let total: f64 = row.iter().map(|&l| (l as f64).exp()).sum();
        assert!((total - 1.0).abs() < 1e-4, "a log-softmax row sums to 1 in probability: {total}");
    }
}
