//! Tensor names and shapes: one canonical spelling for HF, GGUF and APR names, and
//! how a listed set of tensors compares with the checkpoint's.

use crate::judge::ModelTruth;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One tensor name in a canonical form shared by HF, GGUF and APR spellings: the HF
/// name without its leading "model." (llama/qwen2) or "transformer." (gpt2).
pub fn canonical_tensor_name(name: &str) -> String {
    let hf = tmgt_schema::tensor_names::hf_name(name).unwrap_or_else(|| name.to_string());
    hf.strip_prefix("model.").or_else(|| hf.strip_prefix("transformer.")).unwrap_or(&hf).to_string()
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
    let expected: BTreeMap<String, &Vec<usize>> = truth.tensors.iter().map(|(n, s)| (canonical_tensor_name(n), s)).collect();
    let mut seen = BTreeMap::new();
    let mut d = TensorDiff { expected_count: expected.len(), found_count: found.len(), ..Default::default() };
    for (name, shape) in found {
        let c = canonical_tensor_name(name);
        match expected.get(&c) {
            Some(truth_shape) => {
                if let Some(shape) = shape {
                    if !shape_matches(truth_shape, shape) {
                        d.wrong_shape.push((c.clone(), truth_shape.to_vec(), shape.clone()));
                    }
                }
            }
            None if c == "lm_head.weight" && expected.contains_key("embed_tokens.weight") => {
                let emb = expected["embed_tokens.weight"];
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

