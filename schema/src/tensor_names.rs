//! GGUF ↔ HF tensor names: one table per family, read both ways, shared by the
//! oracle's GGUF import/export and the harness's structure checks. The llama family
//! (llama, qwen2) is the default; gemma3 names its four block norms differently
//! (`ffn_norm` is gemma3's pre-FFN norm, not llama's post-attention norm), so its
//! block table is its own.

/// Whole-model tensors: (GGUF name, HF name).
const GLOBAL: [(&str, &str); 3] =
    [("token_embd.weight", "model.embed_tokens.weight"), ("output_norm.weight", "model.norm.weight"), ("output.weight", "lm_head.weight")];

/// Per-block parts of the llama family: (GGUF `blk.N.<part>`, HF `model.layers.N.<part>`).
const BLOCK: [(&str, &str); 9] = [
    ("attn_q", "self_attn.q_proj"),
    ("attn_k", "self_attn.k_proj"),
    ("attn_v", "self_attn.v_proj"),
    ("attn_output", "self_attn.o_proj"),
    ("ffn_gate", "mlp.gate_proj"),
    ("ffn_up", "mlp.up_proj"),
    ("ffn_down", "mlp.down_proj"),
    ("attn_norm", "input_layernorm"),
    ("ffn_norm", "post_attention_layernorm"),
];

/// Per-block parts of gemma3 (llama.cpp's gguf-py tensor map for GEMMA3 against
/// transformers' Gemma3DecoderLayer): q/k norms and a norm on each side of both
/// sub-layers.
const BLOCK_GEMMA3: [(&str, &str); 13] = [
    ("attn_q", "self_attn.q_proj"),
    ("attn_k", "self_attn.k_proj"),
    ("attn_v", "self_attn.v_proj"),
    ("attn_output", "self_attn.o_proj"),
    ("attn_q_norm", "self_attn.q_norm"),
    ("attn_k_norm", "self_attn.k_norm"),
    ("ffn_gate", "mlp.gate_proj"),
    ("ffn_up", "mlp.up_proj"),
    ("ffn_down", "mlp.down_proj"),
    ("attn_norm", "input_layernorm"),
    ("post_attention_norm", "post_attention_layernorm"),
    ("ffn_norm", "pre_feedforward_layernorm"),
    ("post_ffw_norm", "post_feedforward_layernorm"),
];

/// The block table for a GGUF `general.architecture` (or HF model_type): gemma3's
/// for `gemma3`/`gemma3_text`, the llama family's otherwise.
fn block_table(arch: &str) -> &'static [(&'static str, &'static str)] {
    match arch {
        "gemma3" | "gemma3_text" => &BLOCK_GEMMA3,
        _ => &BLOCK,
    }
}

/// Maps `name` through the tables: `forward` GGUF→HF, else HF→GGUF.
fn map(block: &[(&'static str, &'static str)], name: &str, forward: bool) -> Option<String> {
    let pick = |pair: &(&'static str, &'static str)| if forward { (pair.0, pair.1) } else { (pair.1, pair.0) };
    if let Some((_, to)) = GLOBAL.iter().map(pick).find(|(from, _)| *from == name) {
        return Some(to.to_string());
    }
    let (from_prefix, to_prefix) = if forward { ("blk.", "model.layers.") } else { ("model.layers.", "blk.") };
    let (layer, rest) = name.strip_prefix(from_prefix)?.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (part, suffix) = rest.rsplit_once('.')?;
    let (_, to) = block.iter().map(pick).find(|(from, _)| *from == part)?;
    Some(format!("{to_prefix}{layer}.{to}.{suffix}"))
}

/// GGUF tensor name → HF tensor name (llama family).
pub fn hf_name(gguf: &str) -> Option<String> {
    map(&BLOCK, gguf, true)
}

/// HF tensor name → GGUF tensor name (llama family; the inverse of [`hf_name`]).
pub fn gguf_name(hf: &str) -> Option<String> {
    map(&BLOCK, hf, false)
}

/// GGUF tensor name → HF tensor name for the architecture `arch`.
pub fn hf_name_for(arch: &str, gguf: &str) -> Option<String> {
    map(block_table(arch), gguf, true)
}

/// HF tensor name → GGUF tensor name for the architecture `arch`.
pub fn gguf_name_for(arch: &str, hf: &str) -> Option<String> {
    map(block_table(arch), hf, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ways() {
        assert_eq!(hf_name("blk.3.attn_q.bias").as_deref(), Some("model.layers.3.self_attn.q_proj.bias"));
        assert_eq!(hf_name("output.weight").as_deref(), Some("lm_head.weight"));
        assert_eq!(gguf_name("model.layers.12.post_attention_layernorm.weight").as_deref(), Some("blk.12.ffn_norm.weight"));
        assert_eq!(hf_name("blk.x.attn_q.weight"), None);
        assert_eq!(hf_name("blk.0.attn_q_norm.weight"), None);
        for (g, _) in GLOBAL {
            assert_eq!(gguf_name(&hf_name(g).unwrap()).as_deref(), Some(g));
        }
        for (part, _) in BLOCK {
            let g = format!("blk.7.{part}.weight");
            assert_eq!(gguf_name(&hf_name(&g).unwrap()), Some(g));
        }
    }

    #[test]
    fn gemma3_norms_are_not_llamas() {
        // The one GGUF name both families use for different HF tensors.
        assert_eq!(hf_name_for("gemma3", "blk.2.ffn_norm.weight").as_deref(), Some("model.layers.2.pre_feedforward_layernorm.weight"));
        assert_eq!(hf_name_for("llama", "blk.2.ffn_norm.weight").as_deref(), Some("model.layers.2.post_attention_layernorm.weight"));
        assert_eq!(
            hf_name_for("gemma3", "blk.0.post_attention_norm.weight").as_deref(),
            Some("model.layers.0.post_attention_layernorm.weight")
        );
        assert_eq!(
            hf_name_for("gemma3", "blk.17.post_ffw_norm.weight").as_deref(),
            Some("model.layers.17.post_feedforward_layernorm.weight")
        );
        assert_eq!(hf_name_for("gemma3", "blk.1.attn_k_norm.weight").as_deref(), Some("model.layers.1.self_attn.k_norm.weight"));
        assert_eq!(hf_name_for("gemma3_text", "token_embd.weight").as_deref(), Some("model.embed_tokens.weight"));
        assert_eq!(hf_name_for("llama", "blk.0.post_ffw_norm.weight"), None);
        for (part, _) in BLOCK_GEMMA3 {
            let g = format!("blk.4.{part}.weight");
            assert_eq!(gguf_name_for("gemma3", &hf_name_for("gemma3", &g).unwrap()), Some(g));
        }
    }
}
