//! The fake's artifacts. A fake `.apr` is JSON written by `import`: the quantization,
//! the reference directory it came from (absolute), the checkpoint's config values
//! and its tensor names (GGUF-style, as apr spells APR tensors) and shapes. A `.gguf`
//! is a real GGUF file; `View` is what the structure subcommands print from either.

use crate::defect::Defect;
use crate::gguf::{self, Gguf};
use crate::safetensors;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The checkpoint facts the structure subcommands report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub model_type: String,
    pub num_layers: u64,
    pub num_heads: u64,
    pub num_kv_heads: u64,
    pub hidden_size: u64,
    pub vocab_size: u64,
    pub intermediate_size: u64,
    pub max_position_embeddings: Option<u64>,
    pub rope_theta: Option<f64>,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
}

fn ids_of(v: Option<&Value>) -> Vec<u32> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(|n| vec![n as u32]).unwrap_or_default(),
        Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_u64()).map(|n| n as u32).collect(),
        _ => Vec::new(),
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))
}

impl Config {
    /// From an HF config.json (llama, qwen2, gpt2 key spellings) and, when present,
    /// generation_config.json's EOS ids.
    pub fn from_reference(dir: &Path) -> Result<Config> {
        let path = dir.join("config.json");
        let c = read_json(&path)?;
        let u = |keys: &[&str]| keys.iter().find_map(|k| c.get(*k).and_then(Value::as_u64));
        let need = |keys: &[&str]| u(keys).with_context(|| format!("{}: no {} (a whole number)", path.display(), keys.join(" / ")));
        let model_type =
            c.get("model_type").and_then(Value::as_str).with_context(|| format!("{}: no string model_type", path.display()))?.to_string();
        let num_heads = need(&["num_attention_heads", "n_head"])?;
        let hidden_size = need(&["hidden_size", "n_embd", "d_model"])?;
        let rope_theta = c
            .get("rope_theta")
            .and_then(Value::as_f64)
            .or_else(|| c.get("rope_parameters").and_then(|r| r.get("rope_theta")).and_then(Value::as_f64))
            .or((model_type != "gpt2").then_some(10000.0));
        let mut eos_token_ids = ids_of(c.get("eos_token_id"));
        let gen_path = dir.join("generation_config.json");
        let mut bos = ids_of(c.get("bos_token_id")).first().copied();
        if gen_path.exists() {
            let g = read_json(&gen_path)?;
            for id in ids_of(g.get("eos_token_id")) {
                if !eos_token_ids.contains(&id) {
                    eos_token_ids.push(id);
                }
            }
            bos = bos.or_else(|| ids_of(g.get("bos_token_id")).first().copied());
        }
        Ok(Config {
            num_layers: need(&["num_hidden_layers", "n_layer"])?,
            num_heads,
            num_kv_heads: u(&["num_key_value_heads"]).unwrap_or(num_heads),
            hidden_size,
            vocab_size: need(&["vocab_size"])?,
            intermediate_size: u(&["intermediate_size", "n_inner"]).unwrap_or(4 * hidden_size),
            max_position_embeddings: u(&["max_position_embeddings", "n_positions"]),
            rope_theta,
            bos_token_id: bos,
            eos_token_ids,
            model_type,
        })
    }

    /// From a GGUF's metadata (`<arch>.block_count`, …, `tokenizer.ggml.*`).
    pub fn from_gguf(g: &Gguf, path: &Path) -> Result<Config> {
        let arch = g.architecture().with_context(|| format!("{}: no general.architecture", path.display()))?.to_string();
        let need = |k: &str| g.arch_u64(k).with_context(|| format!("{}: no {arch}.{k}", path.display()));
        let num_heads = need("attention.head_count")?;
        let vocab_size = g.arch_u64("vocab_size").or_else(|| match g.get("tokenizer.ggml.tokens") {
            Some(gguf::Value::Array(a)) => Some(a.len() as u64),
            _ => None,
        });
        let hidden_size = need("embedding_length")?;
        Ok(Config {
            num_layers: need("block_count")?,
            num_heads,
            num_kv_heads: g.arch_u64("attention.head_count_kv").unwrap_or(num_heads),
            hidden_size,
            vocab_size: vocab_size.with_context(|| format!("{}: no {arch}.vocab_size nor tokenizer.ggml.tokens", path.display()))?,
            intermediate_size: g.arch_u64("feed_forward_length").unwrap_or(4 * hidden_size),
            max_position_embeddings: g.arch_u64("context_length"),
            rope_theta: g.get(&format!("{arch}.rope.freq_base")).and_then(gguf::Value::as_f64),
            bos_token_id: g.get("tokenizer.ggml.bos_token_id").and_then(gguf::Value::as_u64).map(|n| n as u32),
            eos_token_ids: g.get("tokenizer.ggml.eos_token_id").and_then(gguf::Value::as_u64).map(|n| vec![n as u32]).unwrap_or_default(),
            model_type: arch,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AprTensor {
    /// As apr prints it: GGUF-style where the HF name has a GGUF name.
    pub name: String,
    /// Shape in HF order (as apr prints APR shapes).
    pub shape: Vec<usize>,
}

impl AprTensor {
    pub fn elements(&self) -> u64 {
        self.shape.iter().map(|&d| d as u64).product()
    }
}

/// The content of a fake `.apr` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AprFile {
    pub fake_apr: u32,
    /// int8, int4 or f32.
    pub quant: String,
    /// Absolute reference directory (config.json, model.safetensors, tokenizer.json),
    /// when known; a `.apr` re-imported from a GGUF records the one that GGUF recorded.
    pub reference: Option<String>,
    /// Absolute path of what was imported.
    pub from: String,
    /// A GGUF that records no reference: `run`/`eval` delegate to it.
    pub source_gguf: Option<String>,
    pub config: Config,
    pub tensors: Vec<AprTensor>,
}

pub fn normalize_quant(q: &str) -> Result<&'static str> {
    Ok(match q.to_ascii_lowercase().as_str() {
        "int8" | "q8" | "q8_0" | "i8" => "int8",
        "int4" | "q4" | "q4_0" | "q4_k" | "i4" => "int4",
        "f32" | "fp32" | "float32" | "none" => "f32",
        other => bail!("--quantize {other:?}: this fake knows int8, int4, f32"),
    })
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).with_context(|| format!("{}: cannot resolve (does it exist?)", p.display()))
}

/// The safetensors files of a reference directory, sorted.
pub fn safetensors_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{}: no .safetensors file in the reference directory", dir.display());
    }
    Ok(files)
}

/// HF tensor name → the name apr prints for an APR tensor.
pub fn apr_tensor_name(model_type: &str, hf: &str) -> String {
    // Gemma 3's norms are named per architecture (its post-attention norm is not
    // llama's ffn_norm); the architecture's own table, as apr prints them.
    let arch = tmgt_schema::Arch::from_model_type(model_type).map_or("llama", |a| a.as_str());
    tmgt_schema::tensor_names::gguf_name_for(arch, hf).unwrap_or_else(|| hf.to_string())
}

/// The renamed-tensor defect: `blk.0.attn_q.weight` (or else the first tensor)
/// gets the last letter of its second-to-last part doubled: `blk.0.attn_qq.weight`.
pub fn rename_one(tensors: &mut [AprTensor]) {
    let i = tensors.iter().position(|t| t.name == "blk.0.attn_q.weight").unwrap_or(0);
    if let Some(t) = tensors.get_mut(i) {
        t.name = match t.name.rsplit_once('.') {
            Some((head, tail)) if !head.is_empty() => format!("{head}{}.{tail}", head.chars().last().unwrap_or('x')),
            _ => format!("{}x", t.name),
        };
    }
}

impl AprFile {
    /// Import of a reference directory.
    pub fn from_reference(dir: &Path, quant: &str, from: &Path, defect: Defect) -> Result<AprFile> {
        let dir = absolute(dir)?;
        let config = Config::from_reference(&dir)?;
        let mut tensors = Vec::new();
        for file in safetensors_files(&dir)? {
            for (name, info) in safetensors::read_header(&file)?.tensors {
                tensors.push(AprTensor { name: apr_tensor_name(&config.model_type, &name), shape: info.shape });
            }
        }
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        if defect == Defect::RenamedTensor {
            rename_one(&mut tensors);
        }
        Ok(AprFile {
            fake_apr: 1,
            quant: quant.to_string(),
            reference: Some(dir.to_string_lossy().into_owned()),
            from: absolute(from)?.to_string_lossy().into_owned(),
            source_gguf: None,
            config,
            tensors,
        })
    }

    /// Import of a GGUF: through the reference it records, or from its own header.
    pub fn from_gguf(path: &Path, quant: Option<&str>, defect: Defect) -> Result<AprFile> {
        let g = gguf::read(path)?;
        let quant = match quant {
            Some(q) => q.to_string(),
            None => match g.quantization().as_str() {
                "Q8_0" => "int8".into(),
                "F32" => "f32".into(),
                _ => "int4".into(),
            },
        };
        if let Some(reference) = g.reference().filter(|r| Path::new(r).join("config.json").exists()) {
            return AprFile::from_reference(Path::new(reference), &quant, path, defect);
        }
        let mut tensors: Vec<AprTensor> = g
            .tensors
            .iter()
            .map(|t| AprTensor { name: t.name.clone(), shape: t.dims.iter().rev().map(|&d| d as usize).collect() })
            .collect();
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        if defect == Defect::RenamedTensor {
            rename_one(&mut tensors);
        }
        let abs = absolute(path)?.to_string_lossy().into_owned();
        Ok(AprFile {
            fake_apr: 1,
            quant,
            reference: None,
            from: abs.clone(),
            source_gguf: Some(abs),
            config: Config::from_gguf(&g, path)?,
            tensors,
        })
    }

    pub fn read(path: &Path) -> Result<AprFile> {
        let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let rec: AprFile = serde_json::from_slice(&bytes).with_context(|| {
            format!("{}: not a fake-apr .apr file (the fake reads only the JSON its own import writes)", path.display())
        })?;
        if rec.fake_apr != 1 {
            bail!("{}: fake_apr format {} (this build reads 1)", path.display(), rec.fake_apr);
        }
        Ok(rec)
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        tmgt_schema::write_atomic(path, &bytes)
    }

    pub fn reference_dir(&self) -> Option<&Path> {
        self.reference.as_deref().map(Path::new)
    }
}

/// What kind of file a path holds, by its first bytes.
pub enum Artifact {
    Apr(AprFile),
    Gguf(Gguf),
}

pub fn open(path: &Path) -> Result<Artifact> {
    if !path.exists() {
        bail!("{}: no such file", path.display());
    }
    if gguf::is_gguf(path) {
        Ok(Artifact::Gguf(gguf::read(path)?))
    } else if is_safetensors(path) {
        // A raw HF checkpoint: read as the f32 APR file its import would write.
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Ok(Artifact::Apr(AprFile::from_reference(dir, "f32", path, Defect::Perfect)?))
    } else {
        Ok(Artifact::Apr(AprFile::read(path)?))
    }
}

/// A `.safetensors` file (the reference checkpoint itself).
pub fn is_safetensors(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "safetensors")
}

/// Element dtype of a tensor as the structure subcommands print it.
#[derive(Debug, Clone, PartialEq)]
pub enum DType {
    F32,
    AprQ8,
    AprQ4,
    /// A GGUF tensor: its ggml type name.
    Ggml(String),
}

impl DType {
    /// `apr tensors` on APR: q8, q4, f32; on GGUF the ggml name.
    pub fn short(&self) -> String {
        match self {
            DType::F32 => "f32".into(),
            DType::AprQ8 => "q8".into(),
            DType::AprQ4 => "q4".into(),
            DType::Ggml(n) => n.clone(),
        }
    }
    /// `apr hex`: AprQ8, AprQ4, F32.
    pub fn hex(&self) -> String {
        match self {
            DType::F32 => "F32".into(),
            DType::AprQ8 => "AprQ8".into(),
            DType::AprQ4 => "AprQ4".into(),
            DType::Ggml(n) => n.clone(),
        }
    }
    /// `apr diff`: APR_Q8, APR_Q4, F32.
    pub fn diff(&self) -> String {
        match self {
            DType::F32 => "F32".into(),
            DType::AprQ8 => "APR_Q8".into(),
            DType::AprQ4 => "APR_Q4".into(),
            DType::Ggml(n) => n.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ViewTensor {
    pub name: String,
    /// As printed: HF order for APR, ggml order for GGUF.
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub elements: u64,
    pub size_bytes: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    Apr,
    Gguf,
}

/// One artifact as the structure subcommands see it.
pub struct View {
    /// The path as given on the command line.
    pub label: String,
    /// The file stem without the harness's `.tmp-` prefix: apr's metadata name.
    pub name: String,
    pub format: Format,
    pub config: Config,
    /// Sorted by name.
    pub tensors: Vec<ViewTensor>,
    pub quantized: bool,
    /// APR: bytes the described tensors would take (64-byte aligned, plus a
    /// header); GGUF: the file's size.
    pub size_bytes: u64,
    pub gguf: Option<Gguf>,
    pub apr: Option<AprFile>,
}

fn apr_dtype(quant: &str, t: &AprTensor) -> DType {
    match (quant, t.shape.len()) {
        ("int8", 2) => DType::AprQ8,
        ("int4", 2) => DType::AprQ4,
        _ => DType::F32,
    }
}

fn apr_size(d: &DType, elements: u64) -> u64 {
    match d {
        DType::AprQ8 => elements + 4,
        DType::AprQ4 => elements.div_ceil(2) + 4,
        _ => elements * 4,
    }
}

pub const APR_HEADER_BYTES: u64 = 64;

pub fn align64(n: u64) -> u64 {
    n.div_ceil(64) * 64
}

impl View {
    pub fn open(path: &Path, label: &str) -> Result<View> {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default().trim_start_matches(".tmp-").to_string();
        Ok(match open(path)? {
            Artifact::Apr(rec) => {
                let mut tensors: Vec<ViewTensor> = rec
                    .tensors
                    .iter()
                    .map(|t| {
                        let dtype = apr_dtype(&rec.quant, t);
                        let elements = t.elements();
                        ViewTensor { name: t.name.clone(), shape: t.shape.clone(), size_bytes: apr_size(&dtype, elements), dtype, elements }
                    })
                    .collect();
                tensors.sort_by(|a, b| a.name.cmp(&b.name));
                let size_bytes = APR_HEADER_BYTES + tensors.iter().map(|t| align64(t.size_bytes)).sum::<u64>();
                View {
                    label: label.to_string(),
                    name,
                    format: Format::Apr,
                    config: rec.config.clone(),
                    tensors,
                    quantized: rec.quant != "f32",
                    size_bytes,
                    gguf: None,
                    apr: Some(rec),
                }
            }
            Artifact::Gguf(g) => {
                let mut tensors: Vec<ViewTensor> = g
                    .tensors
                    .iter()
                    .map(|t| ViewTensor {
                        name: t.name.clone(),
                        shape: t.dims.iter().map(|&d| d as usize).collect(),
                        dtype: DType::Ggml(t.type_name()),
                        elements: t.elements(),
                        size_bytes: t.size_bytes().unwrap_or(0),
                    })
                    .collect();
                tensors.sort_by(|a, b| a.name.cmp(&b.name));
                View {
                    label: label.to_string(),
                    name,
                    format: Format::Gguf,
                    config: Config::from_gguf(&g, path)?,
                    tensors,
                    quantized: g.quantization() != "F32",
                    size_bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
                    gguf: Some(g),
                    apr: None,
                }
            }
        })
    }

    pub fn param_count(&self) -> u64 {
        self.tensors.iter().map(|t| t.elements).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_one_doubles_the_last_letter() {
        let mut t = vec![
            AprTensor { name: "blk.0.attn_k.weight".into(), shape: vec![2] },
            AprTensor { name: "blk.0.attn_q.weight".into(), shape: vec![2] },
        ];
        rename_one(&mut t);
        assert_eq!(t[1].name, "blk.0.attn_qq.weight");
        assert_eq!(t[0].name, "blk.0.attn_k.weight");
        let mut g = vec![AprTensor { name: "h.0.attn.c_attn.bias".into(), shape: vec![2] }];
        rename_one(&mut g);
        assert_eq!(g[0].name, "h.0.attn.c_attnn.bias");
    }

    #[test]
    fn quant_names() {
        assert_eq!(normalize_quant("INT8").unwrap(), "int8");
        assert_eq!(normalize_quant("q4_0").unwrap(), "int4");
        assert!(normalize_quant("int3").unwrap_err().to_string().contains("int3"));
    }

    #[test]
    fn config_from_a_gpt2_and_a_llama_config() {
        let dir = crate::testutil::temp_dir("cfg");
        std::fs::write(dir.join("config.json"), r#"{"model_type":"gpt2","vocab_size":400,"n_embd":64,"n_layer":2,"n_head":4,"n_positions":128,"eos_token_id":0,"bos_token_id":0}"#).unwrap();
        let c = Config::from_reference(&dir).unwrap();
        assert_eq!((c.num_layers, c.num_heads, c.num_kv_heads, c.hidden_size, c.intermediate_size), (2, 4, 4, 64, 256));
        assert_eq!((c.rope_theta, c.max_position_embeddings, c.eos_token_ids.clone()), (None, Some(128), vec![0]));
        std::fs::write(dir.join("config.json"), r#"{"model_type":"llama","vocab_size":400,"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"intermediate_size":128,"rope_parameters":{"rope_theta":100000.0},"eos_token_id":2,"bos_token_id":1}"#).unwrap();
        std::fs::write(dir.join("generation_config.json"), r#"{"eos_token_id":[2,7]}"#).unwrap();
        let c = Config::from_reference(&dir).unwrap();
        assert_eq!((c.num_kv_heads, c.rope_theta, c.eos_token_ids.clone(), c.bos_token_id), (2, Some(100000.0), vec![2, 7], Some(1)));
        std::fs::write(dir.join("config.json"), r#"{"model_type":"llama"}"#).unwrap();
        let err = Config::from_reference(&dir).unwrap_err().to_string();
        assert!(err.contains("config.json") && err.contains("num_attention_heads"), "{err}");
    }
}
