//! GGUF → HF model directory in f32: config.json and generation_config.json from the
//! `llama.*`/`qwen2.*`/`gemma3.*` metadata, model.safetensors with every tensor
//! dequantized and renamed to HF's names with the GGUF writer's conventions undone
//! (llama's q/k rows un-permuted from GGUF's rotary layout; gemma3's norm weights
//! stored as 1 + w, back to HF's w), tokenizer.json rebuilt from `tokenizer.ggml.*`,
//! and gguf-import.json recording what was done. The directory is built beside the
//! target and renamed into place, so a failed import never leaves a half-written
//! model directory.

use super::tokenizer::tokenizer_json_from_gguf;
use super::{hf_name_for, open_gguf, rotary_part, unpermute_qk, GgufArch, Meta, SourceArch};
use crate::staging::Staging;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

/// The name of the provenance record written into the imported directory.
pub const REPORT_FILE: &str = "gguf-import.json";

/// What an import read and wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportReport {
    /// File name of the GGUF (not its full path, so the record is machine-independent).
    pub source: String,
    pub source_sha256: String,
    pub source_bytes: u64,
    pub architecture: String,
    pub tensor_count: usize,
    /// GGML dtype name → number of tensors stored in it.
    pub dtypes: BTreeMap<String, usize>,
    /// q/k projections whose rows were un-permuted from GGUF's rotary layout.
    pub unpermuted: usize,
    /// Norm weights stored as 1 + w (llama.cpp's convert for gemma) turned back into w.
    #[serde(default)]
    pub norms_unshifted: usize,
    pub tie_word_embeddings: bool,
    pub vocab_size: usize,
    pub parameters: usize,
    pub tokenizer_pre: String,
    pub add_bos_token: bool,
    /// Added tokens written to tokenizer.json (control, unknown and user-defined types).
    pub added_tokens: usize,
    /// sha256 of each file written, by name (this record excluded).
    pub files: BTreeMap<String, String>,
}

/// Hyperparameters read from GGUF metadata.
#[derive(Debug, Clone)]
struct Hparams {
    arch: SourceArch,
    layers: usize,
    hidden: usize,
    intermediate: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    rope_theta: f64,
    rms_eps: f64,
    context: usize,
    vocab: usize,
    bos: Option<u64>,
    eos: Option<u64>,
    pad: Option<u64>,
    /// gemma3: the sliding-window length of its local-attention layers.
    sliding_window: Option<usize>,
}

/// llama.cpp's gemma3 loader fixes these rather than reading them from the GGUF:
/// every 6th layer attends globally, the others through the sliding window with
/// rope base 10000.
const GEMMA3_SLIDING_WINDOW_PATTERN: usize = 6;
const GEMMA3_LOCAL_ROPE_BASE: f64 = 10000.0;

fn hparams(meta: &Meta, embed_rows: Option<usize>) -> Result<Hparams> {
    let path = meta.path;
    let arch_name = meta.string("general.architecture")?;
    let arch = SourceArch::parse(arch_name).with_context(|| {
        format!("{}: GGUF architecture {arch_name:?} is not supported (supported: llama, qwen2, gemma3)", path.display())
    })?;
    let p = arch.prefix();
    let k = |s: &str| format!("{p}.{s}");
    let heads = meta.usize(&k("attention.head_count"))?;
    let hidden = meta.usize(&k("embedding_length"))?;
    let kv_heads = meta.opt_u64(&k("attention.head_count_kv"))?.map(|n| n as usize).unwrap_or(heads);
    if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 {
        bail!("{}: {heads} attention heads cannot share {kv_heads} kv heads", path.display());
    }
    let head_dim = meta.opt_u64(&k("attention.key_length"))?.map(|n| n as usize).unwrap_or(hidden / heads);
    if let Some(v) = meta.opt_u64(&k("attention.value_length"))? {
        if v as usize != head_dim {
            bail!("{}: value length {v} ≠ key length {head_dim} is not supported", path.display());
        }
    }
    if let Some(rope_dim) = meta.opt_u64(&k("rope.dimension_count"))? {
        if rope_dim as usize != head_dim {
            bail!("{}: partial rotary ({p}.rope.dimension_count {rope_dim} ≠ head dim {head_dim}) is not supported", path.display());
        }
    }
    if let Some(v) = meta.get(&k("rope.scaling.type")) {
        let t = v.to_string().map(|s| s.as_str()).unwrap_or("?");
        if t != "none" {
            bail!("{}: rope scaling {t:?} is not supported", path.display());
        }
    }
    let tokens = meta.get("tokenizer.ggml.tokens").and_then(|v| v.to_vec().ok()).map(|v| v.len());
    let vocab = match (meta.opt_u64(&k("vocab_size"))?, tokens, embed_rows) {
        (Some(v), _, _) => v as usize,
        (None, Some(n), _) => n,
        (None, None, Some(rows)) => rows,
        (None, None, None) => bail!("{}: cannot tell the vocabulary size", path.display()),
    };
    Ok(Hparams {
        arch,
        layers: meta.usize(&k("block_count"))?,
        hidden,
        intermediate: meta.usize(&k("feed_forward_length"))?,
        heads,
        kv_heads,
        head_dim,
        // llama.cpp's default when the key is absent (GGUF spec: optional, 10000).
        rope_theta: meta.opt_f64(&k("rope.freq_base"))?.unwrap_or(10000.0),
        rms_eps: meta
            .opt_f64(&k("attention.layer_norm_rms_epsilon"))?
            .with_context(|| format!("{}: GGUF metadata has no `{p}.attention.layer_norm_rms_epsilon`", path.display()))?,
        context: meta.usize(&k("context_length"))?,
        vocab,
        bos: meta.opt_u64("tokenizer.ggml.bos_token_id")?,
        eos: meta.opt_u64("tokenizer.ggml.eos_token_id")?,
        pad: meta.opt_u64("tokenizer.ggml.padding_token_id")?,
        sliding_window: match arch {
            SourceArch::Gemma3 => Some(meta.usize(&k("attention.sliding_window"))?),
            SourceArch::Family(_) => None,
        },
    })
}

/// Every tensor an HF checkpoint of this shape holds, with its shape.
fn expected_shapes(h: &Hparams, tied: bool) -> BTreeMap<String, Vec<usize>> {
    let mut m = BTreeMap::new();
    let (q, kv) = (h.heads * h.head_dim, h.kv_heads * h.head_dim);
    m.insert("model.embed_tokens.weight".into(), vec![h.vocab, h.hidden]);
    m.insert("model.norm.weight".into(), vec![h.hidden]);
    if !tied {
        m.insert("lm_head.weight".into(), vec![h.vocab, h.hidden]);
    }
    for l in 0..h.layers {
        let mut put = |name: &str, shape: Vec<usize>| m.insert(format!("model.layers.{l}.{name}"), shape);
        put("self_attn.q_proj.weight", vec![q, h.hidden]);
        put("self_attn.k_proj.weight", vec![kv, h.hidden]);
        put("self_attn.v_proj.weight", vec![kv, h.hidden]);
        put("self_attn.o_proj.weight", vec![h.hidden, q]);
        put("mlp.gate_proj.weight", vec![h.intermediate, h.hidden]);
        put("mlp.up_proj.weight", vec![h.intermediate, h.hidden]);
        put("mlp.down_proj.weight", vec![h.hidden, h.intermediate]);
        put("input_layernorm.weight", vec![h.hidden]);
        put("post_attention_layernorm.weight", vec![h.hidden]);
        if h.arch == SourceArch::Gemma3 {
            put("self_attn.q_norm.weight", vec![h.head_dim]);
            put("self_attn.k_norm.weight", vec![h.head_dim]);
            put("pre_feedforward_layernorm.weight", vec![h.hidden]);
            put("post_feedforward_layernorm.weight", vec![h.hidden]);
        }
        if h.arch == SourceArch::Family(GgufArch::Qwen2) {
            put("self_attn.q_proj.bias", vec![q]);
            put("self_attn.k_proj.bias", vec![kv]);
            put("self_attn.v_proj.bias", vec![kv]);
        }
    }
    m
}

fn config_json(h: &Hparams, tied: bool) -> serde_json::Value {
    let family = match h.arch {
        SourceArch::Family(family) => family,
        SourceArch::Gemma3 => return gemma3_config_json(h, tied),
    };
    let mut c = json!({
        "architectures": [match family { GgufArch::Llama => "LlamaForCausalLM", GgufArch::Qwen2 => "Qwen2ForCausalLM" }],
        "model_type": h.arch.prefix(),
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "intermediate_size": h.intermediate,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "num_key_value_heads": h.kv_heads,
        "head_dim": h.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": h.context,
        "rms_norm_eps": h.rms_eps,
        "rope_theta": h.rope_theta,
        "rope_scaling": null,
        "tie_word_embeddings": tied,
        "initializer_range": 0.02,
        "attention_dropout": 0.0,
        "use_cache": true,
        "torch_dtype": "float32",
    });
    let obj = c.as_object_mut().expect("object");
    match family {
        GgufArch::Llama => {
            obj.insert("attention_bias".into(), json!(false));
            obj.insert("mlp_bias".into(), json!(false));
            obj.insert("pretraining_tp".into(), json!(1));
        }
        GgufArch::Qwen2 => {
            obj.insert("use_sliding_window".into(), json!(false));
            obj.insert("sliding_window".into(), json!(h.context));
            obj.insert("max_window_layers".into(), json!(h.layers));
        }
    }
    insert_special_ids(obj, h);
    c
}

fn insert_special_ids(obj: &mut serde_json::Map<String, serde_json::Value>, h: &Hparams) {
    for (key, v) in [("bos_token_id", h.bos), ("eos_token_id", h.eos), ("pad_token_id", h.pad)] {
        if let Some(v) = v {
            obj.insert(key.into(), json!(v));
        }
    }
}

/// transformers' Gemma3TextConfig (Gemma3ForCausalLM) for what the GGUF holds, with
/// the values llama.cpp's gemma3 graph fixes instead of reading: the local rope base
/// and layer pattern, the query scale (1/√head_dim except for the 62-layer 27B:
/// 1/√(hidden/heads)), no logit soft-capping.
fn gemma3_config_json(h: &Hparams, tied: bool) -> serde_json::Value {
    let layer_types: Vec<&str> =
        (0..h.layers).map(|i| if (i + 1) % GEMMA3_SLIDING_WINDOW_PATTERN == 0 { "full_attention" } else { "sliding_attention" }).collect();
    let query_pre_attn_scalar = if h.layers == 62 { h.hidden / h.heads } else { h.head_dim };
    let mut c = json!({
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "intermediate_size": h.intermediate,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "num_key_value_heads": h.kv_heads,
        "head_dim": h.head_dim,
        "hidden_activation": "gelu_pytorch_tanh",
        "max_position_embeddings": h.context,
        "rms_norm_eps": h.rms_eps,
        "rope_theta": h.rope_theta,
        "rope_local_base_freq": GEMMA3_LOCAL_ROPE_BASE,
        "rope_scaling": null,
        "sliding_window": h.sliding_window,
        "sliding_window_pattern": GEMMA3_SLIDING_WINDOW_PATTERN,
        "layer_types": layer_types,
        "query_pre_attn_scalar": query_pre_attn_scalar,
        "final_logit_softcapping": null,
        "attn_logit_softcapping": null,
        "attention_bias": false,
        "attention_dropout": 0.0,
        "use_bidirectional_attention": false,
        "tie_word_embeddings": tied,
        "initializer_range": 0.02,
        "use_cache": true,
        "torch_dtype": "float32",
    });
    insert_special_ids(c.as_object_mut().expect("object"), h);
    c
}

fn generation_config_json(h: &Hparams) -> serde_json::Value {
    let mut g = serde_json::Map::new();
    for (key, v) in [("bos_token_id", h.bos), ("eos_token_id", h.eos), ("pad_token_id", h.pad)] {
        if let Some(v) = v {
            g.insert(key.into(), json!(v));
        }
    }
    serde_json::Value::Object(g)
}

fn dtype_name(d: candle_core::quantized::GgmlDType) -> String {
    format!("{d:?}").to_uppercase()
}

/// Imports `gguf` into the HF model directory `out_dir` (replaced if it exists).
pub fn import_gguf(gguf: &Path, out_dir: &Path) -> Result<ImportReport> {
    let mut file = open_gguf(gguf)?;
    let content = &file.content;
    let meta = Meta { content, path: gguf };
    let embed_rows = content.tensor_infos.get("token_embd.weight").map(|t| t.shape.dims()[0]);
    let h = hparams(&meta, embed_rows)?;
    let tied = !content.tensor_infos.contains_key("output.weight");
    let expected = expected_shapes(&h, tied);

    // Names first, so a foreign or incomplete file fails before any dequantization.
    let mut names: Vec<(&String, String)> = Vec::new();
    for name in content.tensor_infos.keys() {
        let hf = hf_name_for(h.arch.prefix(), name).with_context(|| format!("{}: unexpected tensor {name:?}", gguf.display()))?;
        if !expected.contains_key(&hf) {
            bail!("{}: tensor {name:?} does not belong to a {} model of this shape", gguf.display(), h.arch.prefix());
        }
        names.push((name, hf));
    }
    names.sort();
    let have: std::collections::BTreeSet<&String> = names.iter().map(|(_, hf)| hf).collect();
    if let Some(missing) = expected.keys().find(|k| !have.contains(k)) {
        bail!("{}: missing tensor for {missing}", gguf.display());
    }

    let tok_json = tokenizer_json_from_gguf(content, gguf)?;
    let added_tokens = tok_json["added_tokens"].as_array().map(|a| a.len()).unwrap_or(0);

    let mut dtypes = BTreeMap::new();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(names.len());
    let mut unpermuted = 0;
    let mut norms_unshifted = 0;
    let mut parameters = 0;
    for (name, hf) in &names {
        let info = &content.tensor_infos[*name];
        *dtypes.entry(dtype_name(info.ggml_dtype)).or_insert(0) += 1;
        let q = info
            .read(&mut file.reader, content.tensor_data_offset, &Device::Cpu)
            .map_err(|e| anyhow::anyhow!("{}: cannot read tensor {name}: {e}", gguf.display()))?;
        let mut t: Tensor = q
            .dequantize(&Device::Cpu)
            .and_then(|t| t.to_dtype(DType::F32))
            .map_err(|e| anyhow::anyhow!("{}: cannot dequantize tensor {name}: {e}", gguf.display()))?;
        if h.arch.permutes_qk() {
            if let Some(is_q) = rotary_part(name) {
                let n = if is_q { h.heads } else { h.kv_heads };
                t = unpermute_qk(&t, n).with_context(|| format!("{}: tensor {name}", gguf.display()))?;
                unpermuted += 1;
            }
        }
        if h.arch == SourceArch::Gemma3 && hf.ends_with("norm.weight") {
            // HF's Gemma RMSNorm multiplies by (1 + w); convert_hf_to_gguf stores 1 + w
            // (in f32, from bf16 w: exact, and so is this subtraction).
            t = t.affine(1.0, -1.0).with_context(|| format!("{}: tensor {name}", gguf.display()))?;
            norms_unshifted += 1;
        }
        let shape = t.dims().to_vec();
        if shape != expected[hf] {
            bail!("{}: tensor {name} has shape {shape:?}, expected {:?} for {hf}", gguf.display(), expected[hf]);
        }
        parameters += t.elem_count();
        let values = t.flatten_all()?.to_vec1::<f32>()?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            bail!("{}: tensor {name} holds a non-finite value ({}) at flat index {i}", gguf.display(), values[i]);
        }
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((hf.clone(), shape, bytes));
    }

    let staging = Staging::new(out_dir)?;
    let dir = staging.path.clone();
    let write_json = |name: &str, value: &serde_json::Value| -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(value).expect("JSON serializes");
        bytes.push(b'\n');
        let p = dir.join(name);
        std::fs::write(&p, bytes).with_context(|| format!("{}: cannot write", p.display()))
    };
    write_json("config.json", &config_json(&h, tied))?;
    write_json("generation_config.json", &generation_config_json(&h))?;
    write_json("tokenizer.json", &tok_json)?;
    let st_path = dir.join("model.safetensors");
    let views = tensors
        .iter()
        .map(|(n, s, b)| Ok((n.as_str(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()
        .map_err(|e| anyhow::anyhow!("{}: {e}", st_path.display()))?;
    let st_meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize_to_file(views, Some(st_meta), &st_path)
        .map_err(|e| anyhow::anyhow!("{}: cannot write safetensors: {e}", st_path.display()))?;
    drop(tensors);

    let mut files = BTreeMap::new();
    for name in ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json"] {
        files.insert(name.to_string(), tmgt_schema::sha256_file(&dir.join(name))?);
    }
    let report = ImportReport {
        source: gguf.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        source_sha256: tmgt_schema::sha256_file(gguf)?,
        source_bytes: std::fs::metadata(gguf).with_context(|| format!("{}: cannot stat", gguf.display()))?.len(),
        architecture: h.arch.prefix().to_string(),
        tensor_count: names.len(),
        dtypes,
        unpermuted,
        norms_unshifted,
        tie_word_embeddings: tied,
        vocab_size: h.vocab,
        parameters,
        tokenizer_pre: meta.get("tokenizer.ggml.pre").and_then(|v| v.to_string().ok()).cloned().unwrap_or_else(|| "gpt2".into()),
        add_bos_token: meta.opt_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(false),
        added_tokens,
        files,
    };
    write_json(REPORT_FILE, &serde_json::to_value(&report).expect("report serializes"))?;
    staging.commit()?;
    Ok(report)
}
