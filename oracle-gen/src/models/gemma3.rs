//! Gemma 3 text decoder (transformers' Gemma3ForCausalLM): embeddings scaled by
//! √hidden in the compute dtype, RMSNorms that multiply by (1 + w), q/k RMSNorm per
//! head before the rotary embedding, a norm before and after both the attention and
//! the MLP, GELU-tanh gated MLP, grouped-query attention scaled by
//! 1/√query_pre_attn_scalar, sliding-window layers with their own (local) rope base
//! and full-attention layers with the global one, tied head.

use super::{attention_windowed, select_logits, LayerCache, Linear, RmsNorm, Rope, Weights};
use crate::config::Gemma3Config;
use crate::generate::CausalLm;
use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use std::path::Path;

struct Layer {
    input_norm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    post_attn_norm: RmsNorm,
    pre_ffn_norm: RmsNorm,
    post_ffn_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
    /// Some(window) on sliding-attention layers.
    window: Option<usize>,
    cache: LayerCache,
}

pub struct Gemma3 {
    embed: Tensor,
    /// √hidden as transformers holds it: an f32 scalar cast to the weights' dtype.
    embed_scale: Tensor,
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    scale: f64,
    rope_global: Rope,
    rope_local: Rope,
    device: Device,
}

/// Gemma's RMSNorm: x / rms(x) · (1 + w), the 1 + w formed in f32 as transformers does.
fn gemma_norm(w: &Weights, name: &str, dim: usize, eps: f64) -> Result<RmsNorm> {
    let weight = w.get_as(&format!("{name}.weight"), &[dim], DType::F32)?;
    RmsNorm::new((weight + 1.0)?, eps)
}

impl Gemma3 {
    pub fn load(cfg: &Gemma3Config, config_path: &Path, w: &Weights) -> Result<Gemma3> {
        let (hidden, inter) = (cfg.hidden_size, cfg.intermediate_size);
        let (heads, kv_heads, head_dim) = (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim);
        let eps = cfg.rms_norm_eps;
        let lin =
            |name: &str, out: usize, inp: usize| -> Result<Linear> { Linear::new(w.get(&format!("{name}.weight"), &[out, inp])?, None) };
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("model.layers.{i}");
            layers.push(Layer {
                input_norm: gemma_norm(w, &format!("{p}.input_layernorm"), hidden, eps)?,
                q: lin(&format!("{p}.self_attn.q_proj"), heads * head_dim, hidden)?,
                k: lin(&format!("{p}.self_attn.k_proj"), kv_heads * head_dim, hidden)?,
                v: lin(&format!("{p}.self_attn.v_proj"), kv_heads * head_dim, hidden)?,
                o: lin(&format!("{p}.self_attn.o_proj"), hidden, heads * head_dim)?,
                q_norm: gemma_norm(w, &format!("{p}.self_attn.q_norm"), head_dim, eps)?,
                k_norm: gemma_norm(w, &format!("{p}.self_attn.k_norm"), head_dim, eps)?,
                post_attn_norm: gemma_norm(w, &format!("{p}.post_attention_layernorm"), hidden, eps)?,
                pre_ffn_norm: gemma_norm(w, &format!("{p}.pre_feedforward_layernorm"), hidden, eps)?,
                post_ffn_norm: gemma_norm(w, &format!("{p}.post_feedforward_layernorm"), hidden, eps)?,
                gate: lin(&format!("{p}.mlp.gate_proj"), inter, hidden)?,
                up: lin(&format!("{p}.mlp.up_proj"), inter, hidden)?,
                down: lin(&format!("{p}.mlp.down_proj"), hidden, inter)?,
                window: cfg.is_sliding(i).then_some(cfg.sliding_window),
                cache: LayerCache::default(),
            });
        }
        let embed = w.get("model.embed_tokens.weight", &[cfg.vocab_size, hidden])?;
        let head_weight = if cfg.tie_word_embeddings && !w.contains("lm_head.weight") {
            embed.clone()
        } else {
            w.get("lm_head.weight", &[cfg.vocab_size, hidden])?
        };
        // torch.tensor(hidden ** 0.5) is f32; forward casts it to the weight dtype.
        let embed_scale = Tensor::new((hidden as f64).sqrt() as f32, &w.device)?.to_dtype(w.dtype)?;
        let (theta_global, theta_local) = cfg.rope_thetas(config_path)?;
        Ok(Gemma3 {
            embed,
            embed_scale,
            layers,
            norm: gemma_norm(w, "model.norm", hidden, eps)?,
            lm_head: Linear::new(head_weight, None)?,
            heads,
            kv_heads,
            head_dim,
            scale: 1.0 / cfg.query_pre_attn_scalar.sqrt(),
            rope_global: Rope::new(theta_global, head_dim, w.dtype, &w.device)?,
            rope_local: Rope::new(theta_local, head_dim, w.dtype, &w.device)?,
            device: w.device.clone(),
        })
    }
}

impl CausalLm for Gemma3 {
    fn forward(&mut self, ids: &[u32], pos: usize, all_positions: bool) -> Result<Tensor> {
        let t = ids.len();
        let ids_t = Tensor::new(ids, &self.device)?;
        let mut x = self.embed.index_select(&ids_t, 0)?.broadcast_mul(&self.embed_scale)?; // [t, hidden]
        let (heads, kv_heads, hd) = (self.heads, self.kv_heads, self.head_dim);
        for i in 0..self.layers.len() {
            let layer = &self.layers[i];
            let h = layer.input_norm.forward(&x)?;
            // q/k normed per head over head_dim, then rotated.
            let q = layer.q_norm.forward(&layer.q.forward(&h)?.reshape((t, heads, hd))?)?.transpose(0, 1)?;
            let k = layer.k_norm.forward(&layer.k.forward(&h)?.reshape((t, kv_heads, hd))?)?.transpose(0, 1)?;
            let v = layer.v.forward(&h)?.reshape((t, kv_heads, hd))?.transpose(0, 1)?.contiguous()?;
            let window = layer.window;
            let rope = if window.is_some() { &mut self.rope_local } else { &mut self.rope_global };
            let q = rope.apply(&q, pos)?;
            let k = rope.apply(&k, pos)?;
            let layer = &mut self.layers[i];
            let past = layer.cache.len();
            anyhow::ensure!(past == pos, "KV cache holds {past} positions, forward asked for position {pos}");
            let (k, v) = layer.cache.append(k, v)?;
            let attn = attention_windowed(&q, &k, &v, past, self.scale, window)?; // [heads, t, hd]
            let attn = attn.transpose(0, 1)?.reshape((t, heads * hd))?;
            x = (x + layer.post_attn_norm.forward(&layer.o.forward(&attn)?)?)?;
            let h = layer.pre_ffn_norm.forward(&x)?;
            let mlp = (layer.gate.forward(&h)?.gelu()? * layer.up.forward(&h)?)?;
            x = (x + layer.post_ffn_norm.forward(&layer.down.forward(&mlp)?)?)?;
        }
        let x = select_logits(&x, all_positions)?;
        let x = self.norm.forward(&x)?;
        Ok(self.lm_head.forward(&x)?.to_dtype(DType::F32)?)
    }

    fn clear_cache(&mut self) {
        for layer in &mut self.layers {
            layer.cache.clear();
        }
    }
}
