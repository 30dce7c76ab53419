//! config.json, deserialized straight into one struct per architecture family, and the
//! generation_config.json EOS ids. Reads both config generations: transformers ≥ 5
//! (`rope_parameters: {rope_theta, …}`) and older files (top-level `rope_theta`).

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::Path;

/// The architecture named by `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Qwen2,
    Gpt2,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Gpt2 => "gpt2",
        }
    }

    pub fn parse(name: &str) -> Option<Arch> {
        match name {
            "llama" => Some(Arch::Llama),
            "qwen2" => Some(Arch::Qwen2),
            "gpt2" => Some(Arch::Gpt2),
            _ => None,
        }
    }
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
        self.rope_theta.with_context(|| {
            format!("{}: neither rope_parameters.rope_theta nor rope_theta is set", path.display())
        })
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
        let value: serde_json::Value =
            serde_json::from_str(text).with_context(|| format!("{}: not valid JSON", path.display()))?;
        let model_type = value
            .get("model_type")
            .and_then(|v| v.as_str())
            .with_context(|| format!("{}: no model_type", path.display()))?;
        let bad = |e: serde_json::Error| anyhow::anyhow!("{}: bad {model_type} config: {e}", path.display());
        let config = match Arch::parse(model_type) {
            Some(Arch::Llama) => ModelConfig::Llama(serde_json::from_value(value.clone()).map_err(bad)?),
            Some(Arch::Qwen2) => ModelConfig::Qwen2(serde_json::from_value(value.clone()).map_err(bad)?),
            Some(Arch::Gpt2) => ModelConfig::Gpt2(serde_json::from_value(value.clone()).map_err(bad)?),
            None => bail!("{}: unknown model_type {model_type:?} (supported: llama, qwen2, gpt2)", path.display()),
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
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))?;
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

    #[test]
    fn eos_ids_number_or_list() {
        assert_eq!(ids_of(&serde_json::json!(2)), vec![2]);
        assert_eq!(ids_of(&serde_json::json!([2, 7])), vec![2, 7]);
    }
}
