//! Tensor names and shapes: one canonical spelling for HF, GGUF and APR names, and
//! how a listed set of tensors compares with the checkpoint's.

use crate::judge::ModelTruth;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tmgt_schema::Arch;

/// GPT-2's GGUF names (llama.cpp's convention) and their HF names, whole-model then
/// per block (`blk.N.<gguf>` ↔ `h.N.<hf>`).
const GPT2_GLOBAL: [(&str, &str); 5] = [
    ("token_embd.weight", "wte.weight"),
    ("position_embd.weight", "wpe.weight"),
    ("output_norm.weight", "ln_f.weight"),
    ("output_norm.bias", "ln_f.bias"),
    ("output.weight", "lm_head.weight"),
];
const GPT2_BLOCK: [(&str, &str); 6] = [
    ("attn_norm", "ln_1"),
    ("attn_qkv", "attn.c_attn"),
    ("attn_output", "attn.c_proj"),
    ("ffn_norm", "ln_2"),
    ("ffn_up", "mlp.c_fc"),
    ("ffn_down", "mlp.c_proj"),
];

fn gpt2_hf_name(gguf: &str) -> Option<String> {
    if let Some((_, hf)) = GPT2_GLOBAL.iter().find(|(g, _)| *g == gguf) {
        return Some(hf.to_string());
    }
    let (layer, rest) = gguf.strip_prefix("blk.")?.split_once('.')?;
    let (part, suffix) = rest.rsplit_once('.')?;
    let (_, hf) = GPT2_BLOCK.iter().find(|(g, _)| *g == part)?;
    Some(format!("h.{}.{hf}.{suffix}", layer.parse::<usize>().ok()?))
}

/// One tensor name in a canonical form shared by HF, GGUF and APR spellings for the
/// architecture `arch`: the HF name without its leading "model." (llama, qwen2,
/// gemma3) or "transformer." (gpt2).
pub fn canonical_tensor_name(arch: Arch, name: &str) -> String {
    let hf = match arch {
        Arch::Gpt2 => gpt2_hf_name(name),
        _ => tmgt_schema::tensor_names::hf_name_for(arch.as_str(), name),
    }
    .unwrap_or_else(|| name.to_string());
    hf.strip_prefix("model.").or_else(|| hf.strip_prefix("transformer.")).unwrap_or(&hf).to_string()
}

/// The canonical name of the token embedding a tied head shares.
pub fn embedding_name(arch: Arch) -> &'static str {
    match arch {
        Arch::Gpt2 => "wte.weight",
        _ => "embed_tokens.weight",
    }
}

/// GGUF lists dims innermost first; HF outermost first. Either order matches.
pub fn shape_matches(truth: &[usize], found: &[usize]) -> bool {
    truth == found || truth.iter().rev().eq(found.iter())
}

/// How a list of (name, shape) compares with the checkpoint's tensors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TensorDiff {
    pub expected_count: usize,
    pub found_count: usize,
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
    /// name, expected shape, found shape
    pub wrong_shape: Vec<(String, Vec<usize>, Vec<usize>)>,
    /// lm_head present in the artifact while the checkpoint ties it to the embedding.
    pub materialized_tied_head: bool,
}

impl TensorDiff {
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("{} tensors (checkpoint {})", self.found_count, self.expected_count)];
        if !self.missing.is_empty() {
            parts.push(format!("{} missing (e.g. {})", self.missing.len(), self.missing[0]));
        }
        if !self.unexpected.is_empty() {
            parts.push(format!("{} unexpected (e.g. {})", self.unexpected.len(), self.unexpected[0]));
        }
        if let Some((n, e, f)) = self.wrong_shape.first() {
            parts.push(format!("{} wrong shapes (e.g. {n}: {e:?} vs {f:?})", self.wrong_shape.len()));
        }
        if self.materialized_tied_head {
            parts.push("lm_head materialized from tied embedding".into());
        }
        parts.join("; ")
    }
}

/// Compares found tensors (any naming) with the truth. Shapes are checked when given.
pub fn compare_tensors(truth: &ModelTruth, found: &[(String, Option<Vec<usize>>)]) -> TensorDiff {
    let arch = truth.arch;
    let embedding = embedding_name(arch);
    let expected: BTreeMap<String, &Vec<usize>> = truth.tensors.iter().map(|(n, s)| (canonical_tensor_name(arch, n), s)).collect();
    let mut seen = BTreeMap::new();
    let mut d = TensorDiff { expected_count: expected.len(), found_count: found.len(), ..Default::default() };
    for (name, shape) in found {
        let c = canonical_tensor_name(arch, name);
        match expected.get(&c) {
            Some(truth_shape) => {
                if let Some(shape) = shape {
                    if !shape_matches(truth_shape, shape) {
                        d.wrong_shape.push((c.clone(), truth_shape.to_vec(), shape.clone()));
                    }
                }
            }
            None if c == "lm_head.weight" && expected.contains_key(embedding) => {
                let emb = expected[embedding];
                match shape {
                    Some(s) if !shape_matches(emb, s) => d.wrong_shape.push((c.clone(), emb.to_vec(), s.clone())),
                    _ => d.materialized_tied_head = true,
                }
            }
            None => d.unexpected.push(name.clone()),
        }
        seen.insert(c, ());
    }
    d.missing = expected.keys().filter(|k| !seen.contains_key(*k)).cloned().collect();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt2_and_gemma3_names_are_canonical_too() {
        assert_eq!(canonical_tensor_name(Arch::Gpt2, "blk.3.attn_qkv.weight"), "h.3.attn.c_attn.weight");
        assert_eq!(canonical_tensor_name(Arch::Gpt2, "transformer.h.3.attn.c_attn.weight"), "h.3.attn.c_attn.weight");
        assert_eq!(canonical_tensor_name(Arch::Gpt2, "token_embd.weight"), canonical_tensor_name(Arch::Gpt2, "transformer.wte.weight"));
        assert_eq!(canonical_tensor_name(Arch::Gpt2, "output_norm.bias"), "ln_f.bias");
        assert_eq!(canonical_tensor_name(Arch::Gpt2, "blk.x.ffn_up.weight"), "blk.x.ffn_up.weight", "unknown names stay as they are");
        assert_eq!(embedding_name(Arch::Gpt2), "wte.weight");
        assert_eq!(canonical_tensor_name(Arch::Llama, "blk.0.ffn_norm.weight"), "layers.0.post_attention_layernorm.weight");
        // gemma3's ffn_norm is the norm before the MLP, not llama's post-attention norm
        assert_ne!(
            canonical_tensor_name(Arch::Gemma3, "blk.0.ffn_norm.weight"),
            canonical_tensor_name(Arch::Llama, "blk.0.ffn_norm.weight")
        );
    }

    #[test]
    fn a_tied_gpt2_head_materialized_is_noted_not_unexpected() {
        let truth = ModelTruth {
            arch: Arch::Gpt2,
            num_layers: 1,
            num_heads: 1,
            num_kv_heads: 1,
            hidden_size: 4,
            vocab_size: 8,
            intermediate_size: Some(16),
            rope_theta: None,
            eos_ids: vec![],
            param_count: 32,
            tensors: BTreeMap::from([("transformer.wte.weight".to_string(), vec![8, 4])]),
        };
        let d = compare_tensors(&truth, &[("token_embd.weight".into(), Some(vec![4, 8])), ("output.weight".into(), Some(vec![4, 8]))]);
        assert!(d.materialized_tied_head && d.unexpected.is_empty() && d.missing.is_empty(), "{d:?}");
    }
}
