//! Llama-family decoder (SmolLM, SmolLM2): RMSNorm, rotary embeddings in HF's
//! half-split layout, grouped-query attention, SwiGLU MLP, optional tied head.
//! Qwen2 is this model with q/k/v biases (see qwen2.rs).

use super::{attention, select_logits, LayerCache, Linear, RmsNorm, Rope, Weights};
use crate::config::LlamaConfig;
use crate::generate::CausalLm;
use anyhow::Result;
use candle_core::{DType, Device, Tensor};

struct Layer {
    input_norm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    post_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
    cache: LayerCache,
}

pub struct Llama {
    embed: Tensor,
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    rope: Rope,
    device: Device,
}

impl Llama {
    pub fn load(cfg: &LlamaConfig, rope_theta: f64, qkv_bias: bool, w: &Weights) -> Result<Llama> {
        let (hidden, inter) = (cfg.hidden_size, cfg.intermediate_size);
        let (heads, kv_heads, head_dim) = (cfg.num_attention_heads, cfg.kv_heads(), cfg.head_dim());
        let lin = |name: &str, out: usize, inp: usize, bias: bool| -> Result<Linear> {
            let weight = w.get(&format!("{name}.weight"), &[out, inp])?;
            let bias = if bias { Some(w.get(&format!("{name}.bias"), &[out])?) } else { None };
            Linear::new(weight, bias)
        };
        let norm = |name: &str| RmsNorm::new(w.get(&format!("{name}.weight"), &[hidden])?, cfg.rms_norm_eps);
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("model.layers.{i}");
            layers.push(Layer {
                input_norm: norm(&format!("{p}.input_layernorm"))?,
                q: lin(&format!("{p}.self_attn.q_proj"), heads * head_dim, hidden, qkv_bias)?,
                k: lin(&format!("{p}.self_attn.k_proj"), kv_heads * head_dim, hidden, qkv_bias)?,
                v: lin(&format!("{p}.self_attn.v_proj"), kv_heads * head_dim, hidden, qkv_bias)?,
                o: lin(&format!("{p}.self_attn.o_proj"), hidden, heads * head_dim, false)?,
                post_norm: norm(&format!("{p}.post_attention_layernorm"))?,
                gate: lin(&format!("{p}.mlp.gate_proj"), inter, hidden, false)?,
                up: lin(&format!("{p}.mlp.up_proj"), inter, hidden, false)?,
                down: lin(&format!("{p}.mlp.down_proj"), hidden, inter, false)?,
                cache: LayerCache::default(),
            });
        }
        let embed = w.get("model.embed_tokens.weight", &[cfg.vocab_size, hidden])?;
        let head_weight = if cfg.tie_word_embeddings && !w.contains("lm_head.weight") {
            embed.clone()
        } else {
            w.get("lm_head.weight", &[cfg.vocab_size, hidden])?
        };
        Ok(Llama {
            embed,
            layers,
            norm: norm("model.norm")?,
            lm_head: Linear::new(head_weight, None)?,
            heads,
            kv_heads,
            head_dim,
            rope: Rope::new(rope_theta, head_dim, w.dtype, &w.device)?,
            device: w.device.clone(),
        })
    }
}

impl CausalLm for Llama {
    fn forward(&mut self, ids: &[u32], pos: usize, all_positions: bool) -> Result<Tensor> {
        let t = ids.len();
        let ids_t = Tensor::new(ids, &self.device)?;
        let mut x = self.embed.index_select(&ids_t, 0)?; // [t, hidden]
        let (heads, kv_heads, hd) = (self.heads, self.kv_heads, self.head_dim);
        for i in 0..self.layers.len() {
            let h = self.layers[i].input_norm.forward(&x)?;
            let layer = &self.layers[i];
            let q = layer.q.forward(&h)?.reshape((t, heads, hd))?.transpose(0, 1)?;
            let k = layer.k.forward(&h)?.reshape((t, kv_heads, hd))?.transpose(0, 1)?;
            let v = layer.v.forward(&h)?.reshape((t, kv_heads, hd))?.transpose(0, 1)?.contiguous()?;
            let q = self.rope.apply(&q, pos)?;
            let k = self.rope.apply(&k, pos)?;
            let layer = &mut self.layers[i];
            let past = layer.cache.len();
            anyhow::ensure!(past == pos, "KV cache holds {past} positions, forward asked for position {pos}");
            let (k, v) = layer.cache.append(k, v)?;
            let attn = attention(&q, &k, &v, past)?; // [heads, t, hd]
            let attn = attn.transpose(0, 1)?.reshape((t, heads * hd))?;
            x = (x + layer.o.forward(&attn)?)?;
            let h = layer.post_norm.forward(&x)?;
            let mlp = (candle_nn::ops::silu(&layer.gate.forward(&h)?)? * layer.up.forward(&h)?)?;
            x = (x + layer.down.forward(&mlp)?)?;
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
