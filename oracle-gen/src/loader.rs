//! Opens an HF model directory (config.json, model.safetensors or a sharded index,
//! tokenizer.json, generation_config.json) and builds the model it describes. Every
//! failure names the file it came from; nothing here writes.

use crate::config::{generation_eos_ids, Config, ModelConfig};
use crate::generate::CausalLm;
use crate::models::{gemma3::Gemma3, gpt2::Gpt2, llama::Llama, qwen2, Weights};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

pub struct ModelDir {
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub config: Config,
    pub weight_files: Vec<PathBuf>,
    pub tokenizer_path: PathBuf,
    pub tokenizer: Tokenizer,
    pub eos_ids: Vec<u32>,
}

fn require(path: PathBuf) -> Result<PathBuf> {
    if !path.is_file() {
        bail!("{}: missing file", path.display());
    }
    Ok(path)
}

/// model.safetensors, or the shards listed in model.safetensors.index.json.
fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join("model.safetensors.index.json");
    if !index.is_file() {
        bail!("{}: missing file (nor is there {})", single.display(), index.display());
    }
    let text = std::fs::read_to_string(&index).with_context(|| format!("{}: cannot read", index.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", index.display()))?;
    let map = value.get("weight_map").and_then(|m| m.as_object()).with_context(|| format!("{}: no weight_map object", index.display()))?;
    let mut shards: Vec<String> = map.values().filter_map(|v| v.as_str().map(String::from)).collect();
    shards.sort();
    shards.dedup();
    if shards.is_empty() {
        bail!("{}: weight_map names no shard", index.display());
    }
    shards.into_iter().map(|s| require(dir.join(s))).collect()
}

impl ModelDir {
    pub fn open(dir: &Path) -> Result<ModelDir> {
        if !dir.is_dir() {
            bail!("{}: not a model directory", dir.display());
        }
        let config_path = require(dir.join("config.json"))?;
        let config = Config::from_file(&config_path)?;
        let weight_files = weight_files(dir)?;
        let tokenizer_path = require(dir.join("tokenizer.json"))?;
        let tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| anyhow::anyhow!("{}: cannot load tokenizer: {e}", tokenizer_path.display()))?;
        let eos_ids = match generation_eos_ids(&dir.join("generation_config.json"))? {
            Some(ids) if !ids.is_empty() => ids,
            _ => config.eos_ids(),
        };
        Ok(ModelDir { dir: dir.to_path_buf(), config_path, config, weight_files, tokenizer_path, tokenizer, eos_ids })
    }

    /// Every file the golden depends on, by file name.
    pub fn input_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.config_path.clone(), self.tokenizer_path.clone()];
        files.extend(self.weight_files.iter().cloned());
        let gen = self.dir.join("generation_config.json");
        if gen.is_file() {
            files.push(gen);
        }
        files
    }

    pub fn hash_inputs(&self) -> Result<BTreeMap<String, String>> {
        let mut hashes = BTreeMap::new();
        for path in self.input_files() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            hashes.insert(name, tmgt_schema::sha256_file(&path)?);
        }
        Ok(hashes)
    }

    /// Loads every tensor of every weight file (validating each header first).
    pub fn load_weights(&self, dtype: DType, device: &Device) -> Result<Weights> {
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for path in &self.weight_files {
            let file = std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
            // SAFETY: read-only map of a file we do not modify while it is mapped.
            let mmap = unsafe { memmap2::Mmap::map(&file) }.with_context(|| format!("{}: cannot map", path.display()))?;
            safetensors::SafeTensors::deserialize(&mmap)
                .map_err(|e| anyhow::anyhow!("{}: corrupt or truncated safetensors: {e}", path.display()))?;
            let loaded = candle_core::safetensors::load_buffer(&mmap, &Device::Cpu)
                .with_context(|| format!("{}: cannot read tensors", path.display()))?;
            for (name, t) in loaded {
                if tensors.insert(name.clone(), t).is_some() {
                    bail!("{}: tensor {name} appears in more than one shard", path.display());
                }
            }
        }
        let source = self.weight_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
        Ok(Weights::new(tensors, source, dtype, device.clone()))
    }

    pub fn load_model(&self, dtype: DType, device: &Device) -> Result<Box<dyn CausalLm>> {
        let w = self.load_weights(dtype, device)?;
        Ok(match &self.config {
            Config::Family(ModelConfig::Llama(c)) => {
                let bias = c.attention_bias.unwrap_or(false);
                Box::new(Llama::load(c, c.rope_theta(&self.config_path)?, bias, &w)?)
            }
            Config::Family(ModelConfig::Qwen2(c)) => Box::new(qwen2::load(c, c.rope_theta(&self.config_path)?, &w)?),
            Config::Family(ModelConfig::Gpt2(c)) => Box::new(Gpt2::load(c, &w)?),
            Config::Gemma3(c) => Box::new(Gemma3::load(c, &self.config_path, &w)?),
        })
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc =
            self.tokenizer.encode(text, true).map_err(|e| anyhow::anyhow!("{}: cannot encode: {e}", self.tokenizer_path.display()))?;
        Ok(enc.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer.decode(ids, true).map_err(|e| anyhow::anyhow!("{}: cannot decode: {e}", self.tokenizer_path.display()))
    }
}

pub fn parse_dtype(name: &str) -> Result<DType> {
    Ok(match name {
        "f32" | "float32" => DType::F32,
        "bf16" | "bfloat16" => DType::BF16,
        "f16" | "float16" => DType::F16,
        other => bail!("unknown dtype {other:?} (f32, bf16, f16)"),
    })
}

pub fn parse_device(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" => {
            #[cfg(feature = "cuda")]
            {
                Ok(Device::new_cuda(0)?)
            }
            #[cfg(not(feature = "cuda"))]
            {
                bail!("device cuda: this oracle-gen was built without the `cuda` feature")
            }
        }
        other => bail!("unknown device {other:?} (cpu, cuda)"),
    }
}
