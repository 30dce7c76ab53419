//! The source model's facts, read from the reference checkpoint itself: config.json
//! and the safetensors header (tensor names, shapes, parameter count). Structure
//! checks compare apr's output against these, never against constants.

use crate::judge::ModelTruth;
use anyhow::{bail, Context, Result};
use camino::Utf8Path;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use tmgt_schema::Arch;

/// Tensor name → shape from a safetensors file's header (reads only the header).
pub fn safetensors_header(path: &Utf8Path) -> Result<BTreeMap<String, Vec<usize>>> {
    let mut file = std::fs::File::open(path).with_context(|| format!("{path}: cannot open"))?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).with_context(|| format!("{path}: truncated safetensors (no header length)"))?;
    let len = u64::from_le_bytes(len);
    let size = file.metadata()?.len();
    if len == 0 || len > 100 << 20 || len + 8 > size {
        bail!("{path}: corrupt safetensors header length {len} (file is {size} bytes)");
    }
    let mut header = vec![0u8; len as usize];
    file.read_exact(&mut header).with_context(|| format!("{path}: truncated safetensors header"))?;
    let header: BTreeMap<String, Value> =
        serde_json::from_slice(&header).with_context(|| format!("{path}: safetensors header is not JSON"))?;
    let mut tensors = BTreeMap::new();
    for (name, info) in header {
        if name == "__metadata__" {
            continue;
        }
        let shape = info["shape"]
            .as_array()
            .with_context(|| format!("{path}: tensor {name} has no shape"))?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize).with_context(|| format!("{path}: tensor {name}: bad dim {d}")))
            .collect::<Result<Vec<usize>>>()?;
        tensors.insert(name, shape);
    }
    Ok(tensors)
}

fn field(config: &Value, names: &[&str], path: &Utf8Path) -> Result<usize> {
    names
        .iter()
        .find_map(|n| config.get(*n).and_then(Value::as_u64))
        .map(|v| v as usize)
        .with_context(|| format!("{path}: none of {names:?} is set"))
}

pub fn read(reference: &Utf8Path) -> Result<ModelTruth> {
    let config_path = reference.join("config.json");
    let config: Value = serde_json::from_slice(&std::fs::read(&config_path).with_context(|| format!("{config_path}: cannot read"))?)
        .with_context(|| format!("{config_path}: not valid JSON"))?;
    let model_type = config["model_type"].as_str().with_context(|| format!("{config_path}: no model_type"))?;
    let arch = Arch::from_model_type(model_type)
        .with_context(|| format!("{config_path}: model_type {model_type:?} is not an architecture the oracle implements"))?;
    let num_heads = field(&config, &["num_attention_heads", "n_head"], &config_path)?;
    let mut tensors = BTreeMap::new();
    for f in crate::util::files_under(reference, &["safetensors"]) {
        tensors.extend(safetensors_header(&f)?);
    }
    if tensors.is_empty() {
        bail!("{reference}: no safetensors weights");
    }
    let param_count = tensors.values().map(|s| s.iter().product::<usize>() as u64).sum();
    let hidden_size = field(&config, &["hidden_size", "n_embd"], &config_path)?;
    let intermediate_size = match arch {
        // GPT-2's MLP is 4 × n_embd unless n_inner says otherwise.
        Arch::Gpt2 => Some(config.get("n_inner").and_then(Value::as_u64).map_or(4 * hidden_size, |v| v as usize)),
        _ => config.get("intermediate_size").and_then(Value::as_u64).map(|v| v as usize),
    };
    let rope_theta =
        config.get("rope_theta").and_then(Value::as_f64).or_else(|| config.pointer("/rope_parameters/rope_theta").and_then(Value::as_f64));
    let generation_config: Value =
        std::fs::read(reference.join("generation_config.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
    Ok(ModelTruth {
        intermediate_size,
        rope_theta,
        eos_ids: eos_ids(&config).into_iter().chain(eos_ids(&generation_config)).fold(Vec::new(), |mut v, id| {
            if !v.contains(&id) {
                v.push(id);
            }
            v
        }),
        num_layers: field(&config, &["num_hidden_layers", "n_layer"], &config_path)?,
        num_kv_heads: field(&config, &["num_key_value_heads"], &config_path).unwrap_or(num_heads),
        num_heads,
        hidden_size,
        vocab_size: field(&config, &["vocab_size"], &config_path)?,
        param_count,
        tensors,
        arch,
    })
}

/// `eos_token_id` as a number or a list of numbers.
fn eos_ids(config: &Value) -> Vec<u32> {
    match config.get("eos_token_id") {
        Some(Value::Number(n)) => n.as_u64().map(|n| vec![n as u32]).unwrap_or_default(),
        Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_u64().map(|n| n as u32)).collect(),
        _ => Vec::new(),
    }
}

/// Byte-level BPE pieces → display text (GPT-2's byte↔unicode map reversed).
pub fn byte_level_decode(piece: &str) -> String {
    let mut table = std::collections::HashMap::new();
    let mut n = 0u32;
    for b in 0..=255u32 {
        let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        let ch = if printable {
            b
        } else {
            n += 1;
            255 + n
        };
        table.insert(char::from_u32(ch).unwrap(), b as u8);
    }
    let bytes: Vec<u8> = piece.chars().map(|c| table.get(&c).copied().unwrap_or(b'?')).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// SentencePiece pieces → display text (`▁` is a space).
pub fn sentencepiece_decode(piece: &str) -> String {
    piece.replace('\u{2581}', " ")
}

/// id → readable piece for the ids asked, from tokenizer.json's BPE vocab and added
/// tokens (byte-level BPE pieces, or SentencePiece ones when the model falls back to
/// bytes).
pub fn vocab_pieces(tokenizer_json: &Utf8Path, wanted: &std::collections::BTreeSet<u32>) -> Result<BTreeMap<u32, String>> {
    let value: Value = serde_json::from_slice(&std::fs::read(tokenizer_json).with_context(|| format!("{tokenizer_json}: cannot read"))?)
        .with_context(|| format!("{tokenizer_json}: not valid JSON"))?;
    let sentencepiece = value["model"]["byte_fallback"].as_bool() == Some(true);
    let mut out = BTreeMap::new();
    if let Some(vocab) = value["model"]["vocab"].as_object() {
        for (piece, id) in vocab {
            if let Some(id) = id.as_u64().map(|i| i as u32).filter(|i| wanted.contains(i)) {
                out.insert(id, if sentencepiece { sentencepiece_decode(piece) } else { byte_level_decode(piece) });
            }
        }
    }
    for added in value["added_tokens"].as_array().into_iter().flatten() {
        if let (Some(id), Some(content)) = (added["id"].as_u64(), added["content"].as_str()) {
            if wanted.contains(&(id as u32)) {
                out.insert(id as u32, content.to_string());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_pieces() {
        assert_eq!(byte_level_decode("ĠParis"), " Paris");
        assert_eq!(byte_level_decode("Ċ"), "\n");
        assert_eq!(sentencepiece_decode("\u{2581}Paris"), " Paris");
    }

    #[test]
    fn gemma3_text_is_gemma3() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(tmp.path()).unwrap();
        std::fs::write(
            dir.join("config.json"),
            r#"{"model_type":"gemma3_text","num_attention_heads":4,"num_key_value_heads":1,"num_hidden_layers":18,"hidden_size":640,"vocab_size":262144}"#,
        )
        .unwrap();
        let header = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&[0u8; 8]);
        std::fs::write(dir.join("model.safetensors"), &bytes).unwrap();
        let t = read(dir).unwrap();
        assert_eq!((t.arch, t.num_layers, t.num_kv_heads), (Arch::Gemma3, 18, 1));
    }

    #[test]
    fn header_of_a_written_file_and_refusal_of_garbage() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(tmp.path()).unwrap();
        let header = br#"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"__metadata__":{"format":"pt"}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&[0u8; 24]);
        std::fs::write(dir.join("m.safetensors"), &bytes).unwrap();
        let t = safetensors_header(&dir.join("m.safetensors")).unwrap();
        assert_eq!(t["a"], vec![2, 3]);
        std::fs::write(dir.join("bad.safetensors"), u64::MAX.to_le_bytes()).unwrap();
        let err = safetensors_header(&dir.join("bad.safetensors")).unwrap_err().to_string();
        assert!(err.contains("bad.safetensors"), "{err}");
    }
}
