//! The oracle on the deterministic fixtures: KV-cache decoding equals full
//! recomputation, goldens are byte-stable with a cache key that moves with every
//! input, and bad inputs fail naming the file without leaving a partial golden.

use candle_core::{DType, Device, Tensor};
use oracle_gen::config::Arch;
use oracle_gen::generate::{greedy, score, GreedySettings};
use oracle_gen::golden::{make_golden, GoldenRequest};
use oracle_gen::loader::ModelDir;
use std::path::{Path, PathBuf};
use tmgt_schema::{Settings, StopReason};

const ARCHS: [Arch; 3] = [Arch::Llama, Arch::Qwen2, Arch::Gpt2];

fn fixture(arch: Arch) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(arch.as_str());
    oracle_gen::fixture::write(arch, &dir).unwrap();
    (tmp, dir)
}

fn settings() -> Settings {
    Settings { max_new_tokens: 12, ignore_eos: true, top_k: 5, dtype: "f32".into(), device: "cpu".into() }
}

fn golden_bytes(dir: &Path, prompt: &str) -> Vec<u8> {
    let model_dir = ModelDir::open(dir).unwrap();
    let hashes = model_dir.hash_inputs().unwrap();
    let mut model = model_dir.load_model(DType::F32, &Device::Cpu).unwrap();
    let req = GoldenRequest { slug: "tiny", model_id: "fixture", prompt_file: "prompts/x.txt", prompt, settings: settings() };
    make_golden(&model_dir, model.as_mut(), &hashes, &req).unwrap().to_bytes()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

#[test]
fn kv_cache_decoding_equals_full_recomputation() {
    for arch in ARCHS {
        let (_tmp, dir) = fixture(arch);
        let model_dir = ModelDir::open(&dir).unwrap();
        let mut model = model_dir.load_model(DType::F32, &Device::Cpu).unwrap();
        let prompt = model_dir.encode("The capital of France is").unwrap();
        let out =
            greedy(model.as_mut(), &prompt, &GreedySettings { max_new_tokens: 16, eos_ids: vec![], ignore_eos: true, top_k: 5 }).unwrap();
        // Step by step with the cache, versus the whole sequence at once without it.
        let all: Vec<u32> = prompt.iter().chain(&out.tokens).copied().collect();
        model.clear_cache();
        let mut cached = vec![model.forward(&prompt, 0, true).unwrap()];
        for (i, &t) in out.tokens[..out.tokens.len() - 1].iter().enumerate() {
            cached.push(model.forward(&[t], prompt.len() + i, true).unwrap());
        }
        let cached = Tensor::cat(&cached, 0).unwrap();
        model.clear_cache();
        let full = model.forward(&all[..all.len() - 1], 0, true).unwrap();
        assert_eq!(cached.dims(), full.dims());
        let diff = max_abs_diff(&cached, &full);
        assert!(diff < 1e-4, "{}: cached vs full logits differ by {diff}", arch.as_str());
        // And greedy's recorded top-1 is the argmax of the full recomputation.
        let p = prompt.len();
        for (step, top) in out.top_logprobs.iter().enumerate() {
            let row = full.get(p - 1 + step).unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(oracle_gen::generate::argmax(&row), top[0].id, "{} step {step}", arch.as_str());
        }
    }
}

#[test]
fn fixtures_are_decisive_and_not_degenerate() {
    for arch in ARCHS {
        let (_tmp, dir) = fixture(arch);
        let g: tmgt_schema::Golden = serde_json::from_slice(&golden_bytes(&dir, "Hello, my name is")).unwrap();
        let margins: Vec<f32> = g.top_logprobs.iter().map(|t| t[0].logprob - t[1].logprob).collect();
        let min = margins.iter().copied().fold(f32::INFINITY, f32::min);
        assert!(min > 0.05, "{}: near-tie in fixture greedy decoding, margins {margins:?}", arch.as_str());
        assert_eq!(g.token_count, 12);
        assert_eq!(g.stop_reason, StopReason::Length);
    }
}

#[test]
fn fixture_bytes_are_identical_on_every_run() {
    for arch in ARCHS {
        let (_a, d1) = fixture(arch);
        let (_b, d2) = fixture(arch);
        for f in ["config.json", "model.safetensors", "tokenizer.json", "generation_config.json"] {
            assert_eq!(std::fs::read(d1.join(f)).unwrap(), std::fs::read(d2.join(f)).unwrap(), "{} {f}", arch.as_str());
        }
    }
}

#[test]
fn same_inputs_same_bytes_and_changed_inputs_change_the_key() {
    let (_tmp, dir) = fixture(Arch::Llama);
    let a = golden_bytes(&dir, "The capital of France is");
    assert_eq!(a, golden_bytes(&dir, "The capital of France is"));
    let key = |b: &[u8]| serde_json::from_slice::<tmgt_schema::Golden>(b).unwrap().inputs.cache_key;
    let other_prompt = golden_bytes(&dir, "Hello, my name is");
    assert_ne!(key(&a), key(&other_prompt));
    // Perturb one weight value: the safetensors hash, hence the key, must change.
    let path = dir.join("model.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    assert_ne!(key(&a), key(&golden_bytes(&dir, "The capital of France is")));
}

#[test]
fn eos_stops_and_is_kept_and_ignore_eos_masks_it() {
    let (_tmp, dir) = fixture(Arch::Llama);
    let model_dir = ModelDir::open(&dir).unwrap();
    let mut model = model_dir.load_model(DType::F32, &Device::Cpu).unwrap();
    let prompt = model_dir.encode("def fibonacci(n):").unwrap();
    let free =
        greedy(model.as_mut(), &prompt, &GreedySettings { max_new_tokens: 8, eos_ids: vec![], ignore_eos: false, top_k: 3 }).unwrap();
    // Declare the token greedy picks at step 3 to be EOS: decoding must stop there, keeping it.
    let eos = free.tokens[3];
    let first = free.tokens.iter().position(|&t| t == eos).unwrap();
    let stopped =
        greedy(model.as_mut(), &prompt, &GreedySettings { max_new_tokens: 8, eos_ids: vec![eos], ignore_eos: false, top_k: 3 }).unwrap();
    assert_eq!(stopped.stop_reason, StopReason::Eos);
    assert_eq!(stopped.tokens, free.tokens[..=first].to_vec());
    let masked =
        greedy(model.as_mut(), &prompt, &GreedySettings { max_new_tokens: 8, eos_ids: vec![eos], ignore_eos: true, top_k: 3 }).unwrap();
    assert_eq!(masked.stop_reason, StopReason::Length);
    assert_eq!(masked.tokens.len(), 8);
    assert!(!masked.tokens.contains(&eos));
    assert!(masked.top_logprobs.iter().flatten().all(|t| t.id != eos));
}

#[test]
fn score_matches_greedy_logprobs() {
    let (_tmp, dir) = fixture(Arch::Qwen2);
    let model_dir = ModelDir::open(&dir).unwrap();
    let mut model = model_dir.load_model(DType::F32, &Device::Cpu).unwrap();
    let prompt = model_dir.encode("Hello, my name is").unwrap();
    let out = greedy(model.as_mut(), &prompt, &GreedySettings { max_new_tokens: 6, eos_ids: vec![], ignore_eos: true, top_k: 1 }).unwrap();
    let all: Vec<u32> = prompt.iter().chain(&out.tokens).copied().collect();
    let scored = score(model.as_mut(), &all).unwrap();
    let tail = &scored.token_logprobs[prompt.len() - 1..];
    for (step, (s, top)) in tail.iter().zip(&out.top_logprobs).enumerate() {
        assert!((s - top[0].logprob).abs() < 1e-4, "step {step}: score {s} vs greedy {}", top[0].logprob);
    }
    assert!(scored.perplexity.is_finite() && scored.perplexity >= 1.0);
}

#[test]
fn reduced_precisions_run_and_stay_close() {
    let (_tmp, dir) = fixture(Arch::Llama);
    let model_dir = ModelDir::open(&dir).unwrap();
    let prompt = model_dir.encode("The capital of France is").unwrap();
    let mut f32_model = model_dir.load_model(DType::F32, &Device::Cpu).unwrap();
    let reference = f32_model.forward(&prompt, 0, true).unwrap();
    for dtype in [DType::BF16, DType::F16] {
        let mut m = model_dir.load_model(dtype, &Device::Cpu).unwrap();
        let logits = m.forward(&prompt, 0, true).unwrap();
        let diff = max_abs_diff(&reference, &logits);
        assert!(diff > 0.0 && diff < 1.0, "{dtype:?}: max |Δlogit| {diff}");
    }
}
