//! HF llama/qwen2 model directory → GGUF, the project's second converter (independent
//! of apr): `llama.*`/`qwen2.*` metadata from config.json, tokenizer metadata from
//! tokenizer.json (`tokenizer.ggml.pre` named as llama.cpp names it: smollm, qwen2,
//! gpt-2, llama-bpe), llama's q/k rows permuted into GGUF's rotary layout, 2-D weights
//! quantized with candle (`QTensor::quantize`), norms and biases kept in f32. The file
//! is written to a temp name beside `out` and renamed into place.

use super::tokenizer::gguf_tokenizer_metadata;
use super::{gguf_name, permute_qk, rotary_part, GgufArch};
use crate::config::{generation_eos_ids, ids_of, LlamaConfig, ModelConfig};
use anyhow::{bail, Context, Result};
use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The weight formats the exporter writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quant {
    F32,
    F16,
    Q8_0,
    Q4_0,
}

impl Quant {
    pub fn ggml(self) -> GgmlDType {
        match self {
            Quant::F32 => GgmlDType::F32,
            Quant::F16 => GgmlDType::F16,
            Quant::Q8_0 => GgmlDType::Q8_0,
            Quant::Q4_0 => GgmlDType::Q4_0,
        }
    }

    /// llama.cpp's `general.file_type` (LLAMA_FTYPE_*).
    pub fn file_type(self) -> u32 {
        match self {
            Quant::F32 => 0,
            Quant::F16 => 1,
            Quant::Q4_0 => 2,
            Quant::Q8_0 => 7,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Quant::F32 => "f32",
            Quant::F16 => "f16",
            Quant::Q8_0 => "q8_0",
            Quant::Q4_0 => "q4_0",
        }
    }

    pub fn parse(s: &str) -> Option<Quant> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Some(Quant::F32),
            "f16" => Some(Quant::F16),
            "q8_0" | "q8" | "int8" => Some(Quant::Q8_0),
            "q4_0" | "q4" | "int4" => Some(Quant::Q4_0),
            _ => None,
        }
    }
}

impl std::str::FromStr for Quant {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Quant> {
        Quant::parse(s).with_context(|| format!("unknown GGUF quantization {s:?} (f32, f16, q8_0, q4_0)"))
    }
}

/// The safetensors files of a model directory: model.safetensors, or the shards named
/// by model.safetensors.index.json.
fn safetensors_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    if single.exists() {
        return Ok(vec![single]);
    }
    let index = dir.join("model.safetensors.index.json");
    let text = std::fs::read_to_string(&index).with_context(|| format!("{}: no model.safetensors and no readable index", dir.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", index.display()))?;
    let files: BTreeSet<&str> = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .with_context(|| format!("{}: no weight_map", index.display()))?
        .values()
        .filter_map(|v| v.as_str())
        .collect();
    Ok(files.into_iter().map(|f| dir.join(f)).collect())
}

/// `tokenizer.ggml.pre` as llama.cpp spells it (llama-vocab.cpp refuses a name it does
/// not know): GPT-2's byte-level regex is "gpt-2" there; smollm, qwen2 and llama-bpe
/// are spelled alike.
pub fn llama_cpp_pre_name(pre: &str) -> &str {
    match pre {
        "gpt2" => "gpt-2",
        other => other,
    }
}

/// Sort key that lays tensors out as llama.cpp does: embeddings, blocks in order, head.
fn order_key(gguf: &str) -> (usize, String) {
    if gguf.starts_with("token_embd") {
        return (0, gguf.to_string());
    }
    if let Some(rest) = gguf.strip_prefix("blk.") {
        let layer: usize = rest.split('.').next().and_then(|l| l.parse().ok()).unwrap_or(0);
        return (1 + layer, gguf.to_string());
    }
    (usize::MAX, gguf.to_string())
}

/// Exports the HF model directory `model_dir` (llama or qwen2) to the GGUF file `out`.
pub fn export_gguf(model_dir: &Path, out: &Path, quant: Quant) -> Result<()> {
    let config_path = model_dir.join("config.json");
    let (arch, cfg): (GgufArch, LlamaConfig) = match ModelConfig::from_file(&config_path)? {
        ModelConfig::Llama(c) => (GgufArch::Llama, c),
        ModelConfig::Qwen2(c) => (GgufArch::Qwen2, c),
        ModelConfig::Gpt2(_) => {
            bail!("{}: gpt2 is not supported by the GGUF exporter (llama and qwen2 only)", config_path.display())
        }
    };
    let p = arch.prefix();
    let head_dim = cfg.head_dim();
    let tied = cfg.tie_word_embeddings;

    let tok_path = model_dir.join("tokenizer.json");
    let tok_text = std::fs::read_to_string(&tok_path).with_context(|| format!("{}: cannot read", tok_path.display()))?;
    let tok_json: serde_json::Value = serde_json::from_str(&tok_text).with_context(|| format!("{}: not valid JSON", tok_path.display()))?;
    let eos = match generation_eos_ids(&model_dir.join("generation_config.json"))? {
        Some(ids) if !ids.is_empty() => ids,
        _ => cfg.eos_token_id.as_ref().map(ids_of).unwrap_or_default(),
    };
    let bos = cfg.bos_token_id.as_ref().map(ids_of).and_then(|ids| ids.first().copied());
    let mut tok_md = gguf_tokenizer_metadata(&tok_json, cfg.vocab_size, bos, eos.first().copied(), &tok_path)?;
    for (key, value) in tok_md.iter_mut() {
        if key == "tokenizer.ggml.pre" {
            if let Ok(name) = value.to_string().cloned() {
                *value = gguf_file::Value::String(llama_cpp_pre_name(&name).into());
            }
        }
    }
    let raw_config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config_path).with_context(|| format!("{}: cannot read", config_path.display()))?)
            .with_context(|| format!("{}: not valid JSON", config_path.display()))?;
    if let Some(pad) = raw_config.get("pad_token_id").and_then(|v| v.as_u64()) {
        tok_md.push(("tokenizer.ggml.padding_token_id".into(), gguf_file::Value::U32(pad as u32)));
    }

    let mut weights: Vec<(String, QTensor)> = Vec::new();
    let mut seen = BTreeSet::new();
    for file in safetensors_files(model_dir)? {
        let tensors = candle_core::safetensors::load(&file, &Device::Cpu)
            .map_err(|e| anyhow::anyhow!("{}: cannot read safetensors: {e}", file.display()))?;
        let mut names: Vec<&String> = tensors.keys().collect();
        names.sort();
        for name in names {
            if name.ends_with("rotary_emb.inv_freq") || (tied && name == "lm_head.weight") {
                continue;
            }
            let g = gguf_name(name).with_context(|| format!("{}: tensor {name:?} has no GGUF name", file.display()))?;
            let mut t: Tensor = tensors[name].to_dtype(DType::F32)?;
            if arch.permutes_qk() {
                if let Some(is_q) = rotary_part(&g) {
                    let n = if is_q { cfg.num_attention_heads } else { cfg.kv_heads() };
                    t = permute_qk(&t, n).with_context(|| format!("{}: tensor {name}", file.display()))?;
                }
            }
            let dtype = match t.rank() {
                2 if t.dim(1)? % quant.ggml().block_size() == 0 => quant.ggml(),
                _ => GgmlDType::F32,
            };
            let q = QTensor::quantize(&t, dtype)
                .map_err(|e| anyhow::anyhow!("{}: cannot quantize {name} to {dtype:?}: {e}", file.display()))?;
            seen.insert(g.clone());
            weights.push((g, q));
        }
    }
    for required in ["token_embd.weight", "output_norm.weight"] {
        if !seen.contains(required) {
            bail!("{}: no tensor for {required}", model_dir.display());
        }
    }
    if !tied && !seen.contains("output.weight") {
        bail!("{}: tie_word_embeddings is false but there is no lm_head.weight", model_dir.display());
    }
    weights.sort_by_key(|(n, _)| order_key(n));

    let name = model_dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "model".into());
    let rope_theta = cfg.rope_theta(&config_path)?;
    let context = cfg.max_position_embeddings.unwrap_or(match arch {
        // transformers' defaults for a config.json that names none.
        GgufArch::Llama => 2048,
        GgufArch::Qwen2 => 32768,
    });
    use gguf_file::Value as V;
    let mut md: Vec<(String, V)> = vec![
        ("general.architecture".into(), V::String(p.into())),
        ("general.name".into(), V::String(name)),
        ("general.file_type".into(), V::U32(quant.file_type())),
        ("general.quantization_version".into(), V::U32(2)),
        (format!("{p}.context_length"), V::U32(context as u32)),
        (format!("{p}.embedding_length"), V::U32(cfg.hidden_size as u32)),
        (format!("{p}.block_count"), V::U32(cfg.num_hidden_layers as u32)),
        (format!("{p}.feed_forward_length"), V::U32(cfg.intermediate_size as u32)),
        (format!("{p}.attention.head_count"), V::U32(cfg.num_attention_heads as u32)),
        (format!("{p}.attention.head_count_kv"), V::U32(cfg.kv_heads() as u32)),
        (format!("{p}.rope.freq_base"), V::F32(rope_theta as f32)),
        (format!("{p}.attention.layer_norm_rms_epsilon"), V::F32(cfg.rms_norm_eps as f32)),
        (format!("{p}.rope.dimension_count"), V::U32(head_dim as u32)),
        (format!("{p}.vocab_size"), V::U32(cfg.vocab_size as u32)),
    ];
    if head_dim * cfg.num_attention_heads != cfg.hidden_size {
        md.push((format!("{p}.attention.key_length"), V::U32(head_dim as u32)));
        md.push((format!("{p}.attention.value_length"), V::U32(head_dim as u32)));
    }
    md.extend(tok_md);

    let md_refs: Vec<(&str, &V)> = md.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = weights.iter().map(|(k, v)| (k.as_str(), v)).collect();
    tmgt_schema::write_file_atomic(out, |w| {
        gguf_file::write(w, &md_refs, &t_refs).map_err(|e| anyhow::anyhow!("{}: GGUF write failed: {e}", out.display()))
    })
}
