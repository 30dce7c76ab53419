//! config.json, deserialized straight into one struct per architecture family, and the
//! generation_config.json EOS ids. Reads both config generations: transformers ≥ 5
//! (`rope_parameters: {rope_theta, …}`, per layer type for gemma3) and older files
//! (top-level `rope_theta`, gemma3's `rope_local_base_freq`).

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::Path;

/// The architectures, one enum for the workspace (`tmgt_schema::Arch`).
pub use tmgt_schema::Arch;

/// The architecture of the llama family or GPT-2 `model_type` names (`ModelConfig`);
/// None for Gemma 3 (its own `Gemma3Config`) and for what the oracle does not implement.
fn family(model_type: &str) -> Option<Arch> {
    Arch::from_model_type(model_type).filter(|a| *a != Arch::Gemma3)
}

#[derive(Debug, Clone, Deserialize)]
pub struct RopeParameters {
    pub rope_theta: Option<f64>,
    pub rope_type: Option<String>,
}

/// Llama and Qwen2 share this shape; Qwen2 adds q/k/v biases.
#[derive(Debug, Clone, Deserialize)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: Option<usize>,
    pub rms_norm_eps: f64,
    pub rope_theta: Option<f64>,
    pub rope_parameters: Option<RopeParameters>,
    pub rope_scaling: Option<serde_json::Value>,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    pub max_position_embeddings: Option<usize>,
    pub head_dim: Option<usize>,
    pub attention_bias: Option<bool>,
    pub bos_token_id: Option<serde_json::Value>,
    pub eos_token_id: Option<serde_json::Value>,
}

impl LlamaConfig {
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden_size / self.num_attention_heads)
    }

    /// The model's rope theta; an error when config.json names none (no silent 10000).
    pub fn rope_theta(&self, path: &Path) -> Result<f64> {
        if let Some(theta) = self.rope_parameters.as_ref().and_then(|p| p.rope_theta) {
            return Ok(theta);
        }
        self.rope_theta.with_context(|| format!("{}: neither rope_parameters.rope_theta nor rope_theta is set", path.display()))
    }
}

/// transformers' Gemma3TextConfig (model_type `gemma3_text`), the fields the oracle
/// reads. Sliding-window layers use the local rope base, the others the global one.
#[derive(Debug, Clone, Deserialize)]
pub struct Gemma3Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub query_pre_attn_scalar: f64,
    pub sliding_window: usize,
    /// "sliding_attention" / "full_attention" per layer (transformers ≥ 4.53).
    pub layer_types: Option<Vec<String>>,
    /// Older configs: every n-th layer is global.
    #[serde(alias = "_sliding_window_pattern")]
    pub sliding_window_pattern: Option<usize>,
    pub rope_theta: Option<f64>,
    pub rope_local_base_freq: Option<f64>,
    /// transformers ≥ 5: `{full_attention: {rope_theta, rope_type}, sliding_attention: {…}}`.
    pub rope_parameters: Option<serde_json::Value>,
    pub rope_scaling: Option<serde_json::Value>,
    pub hidden_activation: Option<String>,
    pub final_logit_softcapping: Option<f64>,
    pub attn_logit_softcapping: Option<f64>,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    pub max_position_embeddings: Option<usize>,
    pub bos_token_id: Option<serde_json::Value>,
    pub eos_token_id: Option<serde_json::Value>,
}

impl Gemma3Config {
    /// Whether layer `i` attends through the sliding window (else: full attention).
    pub fn is_sliding(&self, i: usize) -> bool {
        match &self.layer_types {
            Some(types) => types.get(i).map(|t| t == "sliding_attention").unwrap_or(false),
            None => !(i + 1).is_multiple_of(self.sliding_window_pattern.unwrap_or(6)),
        }
    }

    /// (global, local) rope bases; an error when config.json names neither form.
    pub fn rope_thetas(&self, path: &Path) -> Result<(f64, f64)> {
        let nested =
            |kind: &str| self.rope_parameters.as_ref().and_then(|p| p.get(kind)).and_then(|p| p.get("rope_theta")).and_then(|t| t.as_f64());
        let global = nested("full_attention")
            .or(self.rope_theta)
            .with_context(|| format!("{}: neither rope_parameters.full_attention.rope_theta nor rope_theta is set", path.display()))?;
        let local = nested("sliding_attention").or(self.rope_local_base_freq).with_context(|| {
            format!("{}: neither rope_parameters.sliding_attention.rope_theta nor rope_local_base_freq is set", path.display())
        })?;
        Ok((global, local))
    }

    /// Rejects what this oracle does not implement, naming the file.
    fn validate(&self, path: &Path) -> Result<()> {
        self.rope_thetas(path)?;
        let unsupported = |what: String| -> Result<()> { bail!("{}: {what} is not supported by this oracle", path.display()) };
        if let Some(scaling) = self.rope_scaling.as_ref().filter(|s| !s.is_null()) {
            let default = scaling.get("rope_type").and_then(|t| t.as_str()) == Some("default");
            if !default {
                unsupported(format!("rope_scaling {scaling}"))?;
            }
        }
        if let Some(params) = self.rope_parameters.as_ref().and_then(|p| p.as_object()) {
            for (kind, p) in params {
                match p.get("rope_type").and_then(|t| t.as_str()) {
                    None | Some("default") => {}
                    Some(other) => unsupported(format!("rope_parameters.{kind}.rope_type {other:?}"))?,
                }
            }
        }
        if let Some(cap) = self.final_logit_softcapping {
            unsupported(format!("final_logit_softcapping {cap}"))?;
        }
        if let Some(cap) = self.attn_logit_softcapping {
            unsupported(format!("attn_logit_softcapping {cap}"))?;
        }
        if self.attention_bias {
            unsupported("attention_bias true".into())?;
        }
        match self.hidden_activation.as_deref() {
            None | Some("gelu_pytorch_tanh") => {}
            Some(other) => unsupported(format!("hidden_activation {other:?}"))?,
        }
        if let Some(types) = &self.layer_types {
            if types.len() != self.num_hidden_layers {
                bail!("{}: {} layer_types for {} layers", path.display(), types.len(), self.num_hidden_layers);
            }
            if let Some(t) = types.iter().find(|t| *t != "sliding_attention" && *t != "full_attention") {
                unsupported(format!("layer type {t:?}"))?;
            }
        }
        if self.num_key_value_heads == 0 || !self.num_attention_heads.is_multiple_of(self.num_key_value_heads) {
            bail!("{}: {} attention heads cannot share {} kv heads", path.display(), self.num_attention_heads, self.num_key_value_heads);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Gpt2Config {
    pub vocab_size: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_positions: usize,
    pub n_inner: Option<usize>,
    #[serde(default = "default_ln_eps")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    pub bos_token_id: Option<serde_json::Value>,
    pub eos_token_id: Option<serde_json::Value>,
}

fn default_ln_eps() -> f64 {
    1e-5
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone)]
pub enum ModelConfig {
    Llama(LlamaConfig),
    Qwen2(LlamaConfig),
    Gpt2(Gpt2Config),
}

impl ModelConfig {
    pub fn arch(&self) -> Arch {
        match self {
            ModelConfig::Llama(_) => Arch::Llama,
            ModelConfig::Qwen2(_) => Arch::Qwen2,
            ModelConfig::Gpt2(_) => Arch::Gpt2,
        }
    }

    pub fn vocab_size(&self) -> usize {
        match self {
            ModelConfig::Llama(c) | ModelConfig::Qwen2(c) => c.vocab_size,
            ModelConfig::Gpt2(c) => c.vocab_size,
        }
    }

    /// EOS ids named by config.json itself (generation_config.json wins when present).
    pub fn eos_ids(&self) -> Vec<u32> {
        let v = match self {
            ModelConfig::Llama(c) | ModelConfig::Qwen2(c) => c.eos_token_id.as_ref(),
            ModelConfig::Gpt2(c) => c.eos_token_id.as_ref(),
        };
        v.map(ids_of).unwrap_or_default()
    }

    /// Parses config.json; every error names the file.
    pub fn from_file(path: &Path) -> Result<ModelConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        Self::from_json(&text, path)
    }

    pub fn from_json(text: &str, path: &Path) -> Result<ModelConfig> {
        let value: serde_json::Value = serde_json::from_str(text).with_context(|| format!("{}: not valid JSON", path.display()))?;
        let model_type = value.get("model_type").and_then(|v| v.as_str()).with_context(|| format!("{}: no model_type", path.display()))?;
        let bad = |e: serde_json::Error| anyhow::anyhow!("{}: bad {model_type} config: {e}", path.display());
        let config = match family(model_type) {
            Some(Arch::Llama) => ModelConfig::Llama(serde_json::from_value(value.clone()).map_err(bad)?),
            Some(Arch::Qwen2) => ModelConfig::Qwen2(serde_json::from_value(value.clone()).map_err(bad)?),
            Some(Arch::Gpt2) => ModelConfig::Gpt2(serde_json::from_value(value.clone()).map_err(bad)?),
            Some(Arch::Gemma3) | None => bail!("{}: unknown model_type {model_type:?} (supported: llama, qwen2, gpt2)", path.display()),
        };
        if let ModelConfig::Llama(c) | ModelConfig::Qwen2(c) = &config {
            c.rope_theta(path)?;
            if let Some(scaling) = &c.rope_scaling {
                if !scaling.is_null() {
                    bail!("{}: rope_scaling {scaling} is not supported by this oracle", path.display());
                }
            }
            if let Some(rope_type) = c.rope_parameters.as_ref().and_then(|p| p.rope_type.as_deref()) {
                if rope_type != "default" {
                    bail!("{}: rope_type {rope_type:?} is not supported by this oracle", path.display());
                }
            }
        }
        Ok(config)
    }
}

/// Any config.json the oracle loads: one of the [`ModelConfig`] families (llama,
/// qwen2, gpt2: those the GGUF exporter also reads) or gemma3 (`gemma3_text`).
#[derive(Debug, Clone)]
pub enum Config {
    Family(ModelConfig),
    Gemma3(Gemma3Config),
}

impl Config {
    /// Parses config.json; every error names the file.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        Self::from_json(&text, path)
    }

    pub fn from_json(text: &str, path: &Path) -> Result<Config> {
        let value: serde_json::Value = serde_json::from_str(text).with_context(|| format!("{}: not valid JSON", path.display()))?;
        match value.get("model_type").and_then(|v| v.as_str()) {
            Some("gemma3_text") => {
                let c: Gemma3Config =
                    serde_json::from_value(value).map_err(|e| anyhow::anyhow!("{}: bad gemma3_text config: {e}", path.display()))?;
                c.validate(path)?;
                Ok(Config::Gemma3(c))
            }
            Some("gemma3") => {
                bail!("{}: model_type \"gemma3\" is the multimodal Gemma 3; the oracle reads the text-only \"gemma3_text\"", path.display())
            }
            Some(other) if family(other).is_none() => {
                bail!("{}: unknown model_type {other:?} (supported: llama, qwen2, gpt2, gemma3_text)", path.display())
            }
            _ => Ok(Config::Family(ModelConfig::from_json(text, path)?)),
        }
    }

    /// The architecture's name (`gemma3` for gemma3_text).
    pub fn arch_name(&self) -> &'static str {
        match self {
            Config::Family(c) => c.arch().as_str(),
            Config::Gemma3(_) => "gemma3",
        }
    }

    pub fn vocab_size(&self) -> usize {
        match self {
            Config::Family(c) => c.vocab_size(),
            Config::Gemma3(c) => c.vocab_size,
        }
    }

    /// EOS ids named by config.json itself (generation_config.json wins when present).
    pub fn eos_ids(&self) -> Vec<u32> {
        match self {
            Config::Family(c) => c.eos_ids(),
            Config::Gemma3(c) => c.eos_token_id.as_ref().map(ids_of).unwrap_or_default(),
        }
    }
}

/// EOS ids from a JSON value that is a number or a list of numbers.
pub fn ids_of(value: &serde_json::Value) -> Vec<u32> {
    match value {
        serde_json::Value::Number(n) => n.as_u64().map(|n| vec![n as u32]).unwrap_or_default(),
        serde_json::Value::Array(items) => items.iter().flat_map(ids_of).collect(),
        _ => Vec::new(),
    }
}

/// generation_config.json's eos_token_id, if the file exists.
pub fn generation_eos_ids(path: &Path) -> Result<Option<Vec<u32>>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))?;
    Ok(value.get("eos_token_id").map(ids_of))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LLAMA_V4: &str = r#"{"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":16,
        "num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"rms_norm_eps":1e-5,
        "rope_theta":100000.0,"tie_word_embeddings":true}"#;

    #[test]
    fn reads_both_rope_generations() {
        let p = Path::new("config.json");
        let ModelConfig::Llama(old) = ModelConfig::from_json(LLAMA_V4, p).unwrap() else { panic!() };
        assert_eq!(old.rope_theta(p).unwrap(), 100000.0);
        let v5 = LLAMA_V4.replace(r#""rope_theta":100000.0"#, r#""rope_parameters":{"rope_theta":100000.0,"rope_type":"default"}"#);
        let ModelConfig::Llama(new) = ModelConfig::from_json(&v5, p).unwrap() else { panic!() };
        assert_eq!(new.rope_theta(p).unwrap(), 100000.0);
    }

    #[test]
    fn missing_theta_is_an_error_not_a_default() {
        let text = LLAMA_V4.replace(r#""rope_theta":100000.0,"#, "");
        let err = ModelConfig::from_json(&text, Path::new("/m/config.json")).unwrap_err().to_string();
        assert!(err.contains("/m/config.json") && err.contains("rope_theta"), "{err}");
    }

    #[test]
    fn unknown_model_type_names_file() {
        let err = ModelConfig::from_json(r#"{"model_type":"mamba"}"#, Path::new("/m/config.json")).unwrap_err();
        assert!(err.to_string().contains("/m/config.json") && err.to_string().contains("mamba"));
    }

    const GEMMA3: &str = r#"{"model_type":"gemma3_text","vocab_size":10,"hidden_size":8,"intermediate_size":16,
        "num_hidden_layers":7,"num_attention_heads":2,"num_key_value_heads":1,"head_dim":4,"rms_norm_eps":1e-6,
        "query_pre_attn_scalar":4,"sliding_window":3,"sliding_window_pattern":6,"rope_theta":1000000.0,
        "rope_local_base_freq":10000.0,"rope_scaling":null,"final_logit_softcapping":null,
        "attn_logit_softcapping":null,"hidden_activation":"gelu_pytorch_tanh"}"#;

    #[test]
    fn gemma3_layer_types_and_rope_bases() {
        let p = Path::new("config.json");
        let Config::Gemma3(c) = Config::from_json(GEMMA3, p).unwrap() else { panic!() };
        let sliding: Vec<bool> = (0..7).map(|i| c.is_sliding(i)).collect();
        assert_eq!(sliding, [true, true, true, true, true, false, true]);
        assert_eq!(c.rope_thetas(p).unwrap(), (1000000.0, 10000.0));
        assert!(c.tie_word_embeddings);
        // transformers 5 writes both as rope_parameters per layer type, and layer_types.
        let v5 = GEMMA3
            .replace(r#""rope_theta":1000000.0,"#, "")
            .replace(r#""rope_local_base_freq":10000.0,"#, r#""rope_parameters":{"full_attention":{"rope_theta":5.0,"rope_type":"default"},"sliding_attention":{"rope_theta":7.0,"rope_type":"default"}},"layer_types":["full_attention","sliding_attention","full_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention"],"#);
        let Config::Gemma3(c) = Config::from_json(&v5, p).unwrap() else { panic!() };
        assert_eq!(c.rope_thetas(p).unwrap(), (5.0, 7.0));
        assert_eq!((0..3).map(|i| c.is_sliding(i)).collect::<Vec<_>>(), [false, true, false]);
    }

    #[test]
    fn gemma3_refuses_what_it_does_not_implement() {
        let p = Path::new("/m/config.json");
        for (from, to, says) in [
            (r#""final_logit_softcapping":null"#, r#""final_logit_softcapping":30.0"#, "final_logit_softcapping"),
            (r#""rope_scaling":null"#, r#""rope_scaling":{"rope_type":"linear","factor":8.0}"#, "rope_scaling"),
            (r#""hidden_activation":"gelu_pytorch_tanh""#, r#""hidden_activation":"silu""#, "silu"),
            (r#""rope_local_base_freq":10000.0,"#, "", "rope_local_base_freq"),
            (r#""model_type":"gemma3_text""#, r#""model_type":"gemma3""#, "multimodal"),
        ] {
            let text = GEMMA3.replace(from, to);
            assert_ne!(text, GEMMA3, "{from}");
            let err = Config::from_json(&text, p).unwrap_err().to_string();
            assert!(err.contains("/m/config.json") && err.contains(says), "{err}");
        }
    }

    #[test]
    fn config_reads_every_family() {
        let p = Path::new("config.json");
        assert_eq!(Config::from_json(LLAMA_V4, p).unwrap().arch_name(), "llama");
        assert_eq!(Config::from_json(GEMMA3, p).unwrap().arch_name(), "gemma3");
        assert_eq!(Config::from_json(GEMMA3, p).unwrap().vocab_size(), 10);
    }

    #[test]
    fn eos_ids_number_or_list() {
        assert_eq!(ids_of(&serde_json::json!(2)), vec![2]);
        assert_eq!(ids_of(&serde_json::json!([2, 7])), vec![2, 7]);
    }
}
