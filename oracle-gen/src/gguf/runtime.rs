//! The candle GGUF runtime: a GGUF run through candle-transformers' quantized llama /
//! qwen2 / gemma3 models, tokenized by the tokenizer rebuilt from its own metadata,
//! driven by the same `generate::greedy` / `generate::score` as the f32 oracle. Those
//! models return last-position logits only, so teacher-forced scoring feeds one token
//! at a time. candle's results are evidence, not the reference: its quantized_gemma3
//! (0.11.1) gates the MLP with SiLU where Gemma 3 uses GELU-tanh
//! (huggingface/candle#3745) and does not slide its window over the KV cache.

use super::{open_gguf, tokenizer::tokenizer_from_gguf, GgufArch, Meta, SourceArch};
use crate::generate::{greedy, score, CausalLm, GreedySettings};
use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use candle_transformers::models::{quantized_gemma3, quantized_llama, quantized_qwen2};
use std::path::Path;
use std::time::Instant;
use tmgt_schema::{Generation, Score, StopReason};
use tokenizers::Tokenizer;

enum Weights {
    Llama(quantized_llama::ModelWeights),
    Qwen2(quantized_qwen2::ModelWeights),
    Gemma3(quantized_gemma3::ModelWeights),
}

/// A GGUF model loaded for inference, with its tokenizer and EOS ids. A tokenizer
/// that cannot be built from the metadata is an error only when text is encoded or
/// decoded: scoring given ids (the KLD windows) needs none.
pub struct GgufModel {
    weights: Weights,
    tokenizer: std::result::Result<Tokenizer, String>,
    pub eos_ids: Vec<u32>,
    pub arch: SourceArch,
    device: Device,
}

impl GgufModel {
    fn step(&mut self, ids: &[u32], pos: usize) -> Result<Tensor> {
        let input = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
        let logits = match &mut self.weights {
            Weights::Llama(m) => m.forward(&input, pos)?,
            Weights::Qwen2(m) => m.forward(&input, pos)?,
            Weights::Gemma3(m) => m.forward(&input, pos)?,
        };
        Ok(logits)
    }

    /// Prompt ids as this model's tokenizer encodes them (special tokens as the GGUF's
    /// add_bos/add_eos flags say).
    pub fn tokenizer(&self) -> Result<&Tokenizer> {
        self.tokenizer.as_ref().map_err(|e| anyhow::anyhow!("{e}"))
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.tokenizer()?.encode(text, true).map_err(|e| anyhow::anyhow!("cannot tokenize {text:?}: {e}"))?;
        Ok(enc.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer()?.decode(ids, true).map_err(|e| anyhow::anyhow!("cannot decode {ids:?}: {e}"))
    }
}

impl CausalLm for GgufModel {
    fn forward(&mut self, ids: &[u32], pos: usize, all_positions: bool) -> Result<Tensor> {
        if !all_positions {
            return self.step(ids, pos);
        }
        let mut rows = Vec::with_capacity(ids.len());
        for (i, &id) in ids.iter().enumerate() {
            rows.push(self.step(&[id], pos + i)?);
        }
        Ok(Tensor::cat(&rows, 0)?)
    }

    fn clear_cache(&mut self) {
        match &mut self.weights {
            Weights::Llama(m) => m.clear_kv_cache(),
            Weights::Qwen2(m) => m.clear_kv_cache(),
            // Its cache restarts whenever a forward begins at position 0.
            Weights::Gemma3(_) => {}
        }
    }
}

/// Loads a llama, qwen2 or gemma3 GGUF on the CPU.
pub fn load_gguf_model(gguf: &Path) -> Result<GgufModel> {
    let file = open_gguf(gguf)?;
    let (content, mut reader) = (file.content, file.reader);
    let meta = Meta { content: &content, path: gguf };
    let arch_name = meta.string("general.architecture")?.to_string();
    let arch = SourceArch::parse(&arch_name)
        .with_context(|| format!("{}: the candle GGUF runtime runs llama, qwen2 and gemma3, not {arch_name:?}", gguf.display()))?;
    let tokenizer = tokenizer_from_gguf(&content, gguf).map_err(|e| format!("{e:#}"));
    let eos_ids: Vec<u32> = meta.opt_u64("tokenizer.ggml.eos_token_id")?.map(|id| vec![id as u32]).unwrap_or_default();
    let device = Device::Cpu;
    let load_err = |e: candle_core::Error| anyhow::anyhow!("{}: candle cannot load the {arch_name} GGUF: {e}", gguf.display());
    let weights = match arch {
        SourceArch::Family(GgufArch::Llama) => {
            Weights::Llama(quantized_llama::ModelWeights::from_gguf(content, &mut reader, &device).map_err(load_err)?)
        }
        SourceArch::Family(GgufArch::Qwen2) => {
            Weights::Qwen2(quantized_qwen2::ModelWeights::from_gguf(content, &mut reader, &device).map_err(load_err)?)
        }
        SourceArch::Gemma3 => Weights::Gemma3(quantized_gemma3::ModelWeights::from_gguf(content, &mut reader, &device).map_err(load_err)?),
    };
    Ok(GgufModel { weights, tokenizer, eos_ids, arch, device })
}

/// Greedy generation on a loaded model; `tokens_per_second` is new tokens over the
/// wall time of prefill plus decode.
pub fn generate(model: &mut GgufModel, prompt: &str, settings: &GreedySettings) -> Result<Generation> {
    let prompt_ids = model.encode(prompt)?;
    let start = Instant::now();
    let out = greedy(model, &prompt_ids, settings)?;
    let secs = start.elapsed().as_secs_f64();
    Ok(Generation {
        text: model.decode(&out.tokens)?,
        tokens_per_second: (secs > 0.0).then(|| out.tokens.len() as f64 / secs),
        tokens: Some(out.tokens),
        prompt_tokens: Some(out.prompt_tokens),
        prompt_token_count: None,
        top_logprobs: Some(out.top_logprobs),
        finish_reason: Some(
            match out.stop_reason {
                StopReason::Eos => "eos",
                StopReason::Length => "length",
            }
            .to_string(),
        ),
    })
}

/// Loads `gguf` and decodes `max_new` tokens greedily after `prompt`, stopping at EOS.
pub fn run_gguf(gguf: &Path, prompt: &str, max_new: usize, top_k: usize) -> Result<Generation> {
    let mut model = load_gguf_model(gguf)?;
    let settings = GreedySettings { max_new_tokens: max_new, eos_ids: model.eos_ids.clone(), ignore_eos: false, top_k };
    generate(&mut model, prompt, &settings).with_context(|| format!("{}: generation failed", gguf.display()))
}

/// Teacher-forced perplexity of `text` under `gguf`.
pub fn score_gguf(gguf: &Path, text: &str) -> Result<Score> {
    let mut model = load_gguf_model(gguf)?;
    let ids = model.encode(text)?;
    let scored = score(&mut model, &ids).with_context(|| format!("{}: scoring failed", gguf.display()))?;
    Ok(Score { perplexity: scored.perplexity, token_count: Some(scored.token_logprobs.len()), mean_nll: Some(scored.mean_nll) })
}
