//! GGUF ↔ HF tensor names for llama-family models (llama, qwen2): one table, read
//! both ways, shared by the oracle's GGUF import/export and the harness's structure
//! checks.

/// Whole-model tensors: (GGUF name, HF name).
const GLOBAL: [(&str, &str); 3] = [
    ("token_embd.weight", "model.embed_tokens.weight"),
    ("output_norm.weight", "model.norm.weight"),
    ("output.weight", "lm_head.weight"),
];

/// Per-block parts: (GGUF `blk.N.<part>`, HF `model.layers.N.<part>`).
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

/// Maps `name` through the tables: `forward` GGUF→HF, else HF→GGUF.
fn map(name: &str, forward: bool) -> Option<String> {
    let pick = |pair: &(&'static str, &'static str)| if forward { (pair.0, pair.1) } else { (pair.1, pair.0) };
    if let Some((_, to)) = GLOBAL.iter().map(pick).find(|(from, _)| *from == name) {
        return Some(to.to_string());
    }
    let (from_prefix, to_prefix) = if forward { ("blk.", "model.layers.") } else { ("model.layers.", "blk.") };
    let (layer, rest) = name.strip_prefix(from_prefix)?.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (part, suffix) = rest.rsplit_once('.')?;
    let (_, to) = BLOCK.iter().map(pick).find(|(from, _)| *from == part)?;
    Some(format!("{to_prefix}{layer}.{to}.{suffix}"))
}

/// GGUF tensor name → HF tensor name.
pub fn hf_name(gguf: &str) -> Option<String> {
    map(gguf, true)
}

/// HF tensor name → GGUF tensor name (the inverse of [`hf_name`]).
pub fn gguf_name(hf: &str) -> Option<String> {
    map(hf, false)
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
}
