//! GPT-2: learned position embeddings, pre-LayerNorm blocks, fused qkv and all
//! projections stored as Conv1D ([in, out], transposed relative to nn.Linear),
//! gelu_new (tanh approximation) MLP, head tied to the token embedding.

use super::{attention, select_logits, LayerCache, LayerNorm, Linear, Weights};
use crate::config::Gpt2Config;
use crate::generate::CausalLm;
use anyhow::{ensure, Result};
use candle_core::{DType, Device, Tensor};

struct Block {
    ln_1: LayerNorm,
    c_attn: Linear,
    c_proj: Linear,
    ln_2: LayerNorm,
    c_fc: Linear,
    mlp_proj: Linear,
    cache: LayerCache,
}

pub struct Gpt2 {
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    lm_head: Linear,
    heads: usize,
    n_embd: usize,
    device: Device,
}

impl Gpt2 {
    pub fn load(cfg: &Gpt2Config, w: &Weights) -> Result<Gpt2> {
        // Checkpoints saved from GPT2Model have bare names; from GPT2LMHeadModel, "transformer.".
        let prefix = if w.contains("transformer.wte.weight") { "transformer." } else { "" };
        let e = cfg.n_embd;
        let inner = cfg.n_inner.unwrap_or(4 * e);
        let conv = |name: &str, inp: usize, out: usize| -> Result<Linear> {
            Linear::from_conv1d(
                w.get(&format!("{prefix}{name}.weight"), &[inp, out])?,
                Some(w.get(&format!("{prefix}{name}.bias"), &[out])?),
            )
        };
        let ln = |name: &str| -> Result<LayerNorm> {
            LayerNorm::new(
                w.get(&format!("{prefix}{name}.weight"), &[e])?,
                w.get(&format!("{prefix}{name}.bias"), &[e])?,
                cfg.layer_norm_epsilon,
            )
        };
        let mut blocks = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            blocks.push(Block {
                ln_1: ln(&format!("h.{i}.ln_1"))?,
                c_attn: conv(&format!("h.{i}.attn.c_attn"), e, 3 * e)?,
                c_proj: conv(&format!("h.{i}.attn.c_proj"), e, e)?,
                ln_2: ln(&format!("h.{i}.ln_2"))?,
                c_fc: conv(&format!("h.{i}.mlp.c_fc"), e, inner)?,
                mlp_proj: conv(&format!("h.{i}.mlp.c_proj"), inner, e)?,
                cache: LayerCache::default(),
            });
        }
        let wte = w.get(&format!("{prefix}wte.weight"), &[cfg.vocab_size, e])?;
        let head = if w.contains("lm_head.weight") && !cfg.tie_word_embeddings {
            w.get("lm_head.weight", &[cfg.vocab_size, e])?
        } else {
            wte.clone()
        };
        Ok(Gpt2 {
            wpe: w.get(&format!("{prefix}wpe.weight"), &[cfg.n_positions, e])?,
            wte,
            blocks,
            ln_f: ln("ln_f")?,
            lm_head: Linear::new(head, None)?,
            heads: cfg.n_head,
            n_embd: e,
            device: w.device.clone(),
        })
    }
}

impl CausalLm for Gpt2 {
    fn forward(&mut self, ids: &[u32], pos: usize, all_positions: bool) -> Result<Tensor> {
        let t = ids.len();
        ensure!(pos + t <= self.wpe.dim(0)?, "position {} beyond n_positions {}", pos + t, self.wpe.dim(0)?);
        let ids_t = Tensor::new(ids, &self.device)?;
        let positions = Tensor::arange(pos as u32, (pos + t) as u32, &self.device)?;
        let mut x = (self.wte.index_select(&ids_t, 0)? + self.wpe.index_select(&positions, 0)?)?;
        let (heads, e) = (self.heads, self.n_embd);
        let hd = e / heads;
        for block in &mut self.blocks {
            let h = block.ln_1.forward(&x)?;
            let qkv = block.c_attn.forward(&h)?; // [t, 3e]
            let split =
                |i: usize| -> Result<Tensor> { Ok(qkv.narrow(1, i * e, e)?.reshape((t, heads, hd))?.transpose(0, 1)?.contiguous()?) };
            let (q, k, v) = (split(0)?, split(1)?, split(2)?);
            let past = block.cache.len();
            ensure!(past == pos, "KV cache holds {past} positions, forward asked for position {pos}");
            let (k, v) = block.cache.append(k, v)?;
            let attn = attention(&q, &k, &v, past)?.transpose(0, 1)?.reshape((t, e))?;
            x = (x + block.c_proj.forward(&attn)?)?;
            let h = block.ln_2.forward(&x)?;
            let h = block.c_fc.forward(&h)?.gelu()?; // tanh approximation = gelu_new
            x = (x + block.mlp_proj.forward(&h)?)?;
        }
        let x = select_logits(&x, all_positions)?;
        let x = self.ln_f.forward(&x)?;
        Ok(self.lm_head.forward(&x)?.to_dtype(DType::F32)?)
    }

    fn clear_cache(&mut self) {
        for block in &mut self.blocks {
            block.cache.clear();
        }
    }
}
