//! Greedy decoding with a KV cache and teacher-forced scoring, over any causal LM.
//! EOS semantics follow transformers' `generate`: the EOS id is kept as the last token
//! and stops decoding; `ignore_eos` masks every EOS id (logit −∞) so the full count
//! is produced (transformers' `min_new_tokens`, llama.cpp's `--ignore-eos`).

use anyhow::{ensure, Context, Result};
use candle_core::{DType, Tensor, D};
use tmgt_schema::{StopReason, TokenLogprob};

/// A causal language model with an internal KV cache.
pub trait CausalLm {
    /// Appends `ids` at positions `pos..pos + ids.len()` to the cache and returns f32
    /// logits of shape [n, vocab]: n = ids.len() when `all_positions`, else 1 (the last).
    fn forward(&mut self, ids: &[u32], pos: usize, all_positions: bool) -> Result<Tensor>;
    fn clear_cache(&mut self);
}

#[derive(Debug, Clone, PartialEq)]
pub struct GreedyOutput {
    pub prompt_tokens: Vec<u32>,
    pub tokens: Vec<u32>,
    pub stop_reason: StopReason,
    pub top_logprobs: Vec<Vec<TokenLogprob>>,
}

#[derive(Debug, Clone)]
pub struct GreedySettings {
    pub max_new_tokens: usize,
    pub eos_ids: Vec<u32>,
    pub ignore_eos: bool,
    pub top_k: usize,
}

/// log-softmax over the full vocabulary, in f32 (computed in f64 accumulation for the sum).
pub fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| ((l - max) as f64).exp()).sum();
    let log_z = max as f64 + sum.ln();
    logits.iter().map(|&l| (l as f64 - log_z) as f32).collect()
}

/// The k best (id, logprob), best first; ties broken by the lower id (like argmax).
pub fn top_k(logprobs: &[f32], k: usize) -> Vec<TokenLogprob> {
    let mut idx: Vec<u32> = (0..logprobs.len() as u32).collect();
    let k = k.min(idx.len());
    let cmp = |a: &u32, b: &u32| logprobs[*b as usize].total_cmp(&logprobs[*a as usize]).then(a.cmp(b));
    if k > 0 && k < idx.len() {
        idx.select_nth_unstable_by(k - 1, cmp);
    }
    idx.truncate(k);
    idx.sort_by(cmp);
    idx.into_iter().map(|id| TokenLogprob { id, logprob: logprobs[id as usize] }).collect()
}

/// Index of the greatest finite-or-not value; the lowest index wins ties.
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u32
}

fn last_row(logits: &Tensor) -> Result<Vec<f32>> {
    let logits = logits.to_dtype(DType::F32)?;
    let n = logits.dim(0)?;
    Ok(logits.get(n - 1)?.to_vec1::<f32>()?)
}

/// NaN or +∞ logits (a model overflowing its compute dtype, as Gemma 3 does in f16)
/// make no golden: stop with the step rather than write null logprobs.
fn ensure_finite(logits: &[f32], step: usize) -> Result<()> {
    if let Some(i) = logits.iter().position(|l| l.is_nan() || *l == f32::INFINITY) {
        anyhow::bail!("step {step}: logit {i} is {} (the model overflows its compute dtype); no golden from this run", logits[i]);
    }
    Ok(())
}

pub fn greedy(model: &mut dyn CausalLm, prompt: &[u32], settings: &GreedySettings) -> Result<GreedyOutput> {
    ensure!(!prompt.is_empty(), "empty prompt: nothing to condition on");
    model.clear_cache();
    let mut logits = last_row(&model.forward(prompt, 0, false).context("prefill")?)?;
    let mut tokens = Vec::with_capacity(settings.max_new_tokens);
    let mut top = Vec::with_capacity(settings.max_new_tokens);
    let mut stop_reason = StopReason::Length;
    for step in 0..settings.max_new_tokens {
        ensure_finite(&logits, step)?;
        if settings.ignore_eos {
            for &eos in &settings.eos_ids {
                if let Some(l) = logits.get_mut(eos as usize) {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
        let logprobs = log_softmax(&logits);
        let next = argmax(&logits);
        top.push(top_k(&logprobs, settings.top_k));
        tokens.push(next);
        if !settings.ignore_eos && settings.eos_ids.contains(&next) {
            stop_reason = StopReason::Eos;
            break;
        }
        if step + 1 == settings.max_new_tokens {
            break;
        }
        let pos = prompt.len() + step;
        logits = last_row(&model.forward(&[next], pos, false).with_context(|| format!("decode step {step}"))?)?;
    }
    Ok(GreedyOutput { prompt_tokens: prompt.to_vec(), tokens, stop_reason, top_logprobs: top })
}

/// Teacher-forced log-probabilities of `ids[1..]` given their prefixes, and perplexity.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub token_logprobs: Vec<f32>,
    pub mean_nll: f64,
    pub perplexity: f64,
}

pub fn score(model: &mut dyn CausalLm, ids: &[u32]) -> Result<Scored> {
    ensure!(ids.len() >= 2, "scoring needs at least 2 tokens, got {}", ids.len());
    model.clear_cache();
    let logits = model.forward(&ids[..ids.len() - 1], 0, true)?.to_dtype(DType::F32)?;
    let logprobs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let rows = logprobs.to_vec2::<f32>()?;
    let token_logprobs: Vec<f32> = rows.iter().zip(&ids[1..]).map(|(row, &id)| row[id as usize]).collect();
    let mean_nll = -token_logprobs.iter().map(|&l| l as f64).sum::<f64>() / token_logprobs.len() as f64;
    Ok(Scored { token_logprobs, mean_nll, perplexity: mean_nll.exp() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_softmax_normalizes() {
        let lp = log_softmax(&[1.0, 2.0, 3.0]);
        let total: f32 = lp.iter().map(|l| l.exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert!(lp[2] > lp[1] && lp[1] > lp[0]);
    }

    struct Overflowing;
    impl CausalLm for Overflowing {
        fn forward(&mut self, _ids: &[u32], _pos: usize, _all: bool) -> Result<Tensor> {
            Ok(Tensor::new(&[[0.0f32, f32::NAN, 1.0]], &candle_core::Device::Cpu)?)
        }
        fn clear_cache(&mut self) {}
    }

    #[test]
    fn nan_logits_stop_the_run() {
        let settings = GreedySettings { max_new_tokens: 2, eos_ids: vec![], ignore_eos: false, top_k: 1 };
        let err = greedy(&mut Overflowing, &[1], &settings).unwrap_err().to_string();
        assert!(err.contains("step 0") && err.contains("NaN") && err.contains("overflows"), "{err}");
    }

    #[test]
    fn top_k_orders_and_breaks_ties_by_id() {
        let t = top_k(&[-1.0, -0.5, -0.5, -3.0], 3);
        assert_eq!(t.iter().map(|t| t.id).collect::<Vec<_>>(), vec![1, 2, 0]);
        assert_eq!(argmax(&[0.0, 2.0, 2.0]), 1);
    }
}
