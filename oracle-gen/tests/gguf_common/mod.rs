//! Shared by the gguf_* tests: writes a tiny llama GGUF with candle's own writer —
//! seeded random weights in HF layout, q/k permuted by an index formula written here
//! (independent of the code under test), a small byte-level BPE vocabulary and merges.
#![allow(dead_code)]

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use std::collections::BTreeMap;
use std::path::Path;

pub const SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
pub const USER_DEFINED: &str = "<tool>";
/// Merges in priority order; each result is added to the vocabulary.
pub const MERGES: [(&str, &str); 17] = [
    ("Ġ", "t"),
    ("h", "e"),
    ("Ġt", "he"),
    ("Ġ", "c"),
    ("a", "t"),
    ("Ġc", "at"),
    ("T", "he"),
    ("Ġ", "s"),
    ("Ġs", "at"),
    ("o", "n"),
    ("Ġ", "on"),
    ("m", "at"),
    ("Ġ", "mat"),
    ("i", "n"),
    ("Ġ", "in"),
    ("e", "r"),
    ("Ġ", "er"),
];

#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub intermediate: usize,
    pub tied: bool,
    /// qwen2 instead of llama: q/k/v biases, NEOX rope (no q/k permutation), qwen2 pre-tokenizer.
    pub qwen2: bool,
}

pub const SPEC: Spec = Spec { layers: 2, hidden: 64, heads: 4, kv_heads: 2, intermediate: 128, tied: true, qwen2: false };

/// GPT-2's byte → printable char table.
pub fn bytes_to_unicode() -> Vec<char> {
    let mut bs: Vec<u32> = (b'!' as u32..=b'~' as u32).chain(0xA1..=0xAC).chain(0xAE..=0xFF).collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    let mut table = vec![' '; 256];
    for (b, c) in bs.into_iter().zip(cs) {
        table[b as usize] = char::from_u32(c).unwrap();
    }
    table
}

/// Tokens and their GGUF types: 3 control tokens, 256 byte tokens, merge results, one
/// user-defined token.
pub fn vocab() -> (Vec<String>, Vec<i32>) {
    let mut tokens: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
    let mut types = vec![3; SPECIALS.len()];
    for c in bytes_to_unicode() {
        tokens.push(c.to_string());
        types.push(1);
    }
    for (a, b) in MERGES {
        tokens.push(format!("{a}{b}"));
        types.push(1);
    }
    tokens.push(USER_DEFINED.to_string());
    types.push(4);
    (tokens, types)
}

pub fn vocab_size() -> usize {
    vocab().0.len()
}

/// xorshift64*, so weights are the same on every machine.
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1)
    }
    pub fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545F4914F6CDD1D);
        ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// A tensor in HF layout: name, shape, row-major values.
#[derive(Debug, Clone)]
pub struct Weight {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Seeded weights for `spec`, HF names and layout.
pub fn hf_weights(spec: &Spec, seed: u64) -> Vec<Weight> {
    let mut rng = Rng::new(seed);
    let head_dim = spec.hidden / spec.heads;
    let (v, h, i) = (vocab_size(), spec.hidden, spec.intermediate);
    let mut shapes: Vec<(String, Vec<usize>)> = vec![("model.embed_tokens.weight".into(), vec![v, h])];
    for l in 0..spec.layers {
        let p = format!("model.layers.{l}");
        shapes.push((format!("{p}.self_attn.q_proj.weight"), vec![spec.heads * head_dim, h]));
        shapes.push((format!("{p}.self_attn.k_proj.weight"), vec![spec.kv_heads * head_dim, h]));
        shapes.push((format!("{p}.self_attn.v_proj.weight"), vec![spec.kv_heads * head_dim, h]));
        shapes.push((format!("{p}.self_attn.o_proj.weight"), vec![h, spec.heads * head_dim]));
        shapes.push((format!("{p}.mlp.gate_proj.weight"), vec![i, h]));
        shapes.push((format!("{p}.mlp.up_proj.weight"), vec![i, h]));
        shapes.push((format!("{p}.mlp.down_proj.weight"), vec![h, i]));
        if spec.qwen2 {
            shapes.push((format!("{p}.self_attn.q_proj.bias"), vec![spec.heads * head_dim]));
            shapes.push((format!("{p}.self_attn.k_proj.bias"), vec![spec.kv_heads * head_dim]));
            shapes.push((format!("{p}.self_attn.v_proj.bias"), vec![spec.kv_heads * head_dim]));
        }
        shapes.push((format!("{p}.input_layernorm.weight"), vec![h]));
        shapes.push((format!("{p}.post_attention_layernorm.weight"), vec![h]));
    }
    shapes.push(("model.norm.weight".into(), vec![h]));
    if !spec.tied {
        shapes.push(("lm_head.weight".into(), vec![v, h]));
    }
    shapes
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let is_norm = name.contains("norm");
            let values = (0..n).map(|_| if is_norm { 1.0 + 0.1 * rng.next_f32() } else { 0.5 * rng.next_f32() }).collect();
            Weight { name, shape, values }
        })
        .collect()
}

/// HF row r of a q/k projection sits at GGUF row `gguf_row(r)`: llama.cpp's convert
/// reshapes rows to (n_head, 2, half, ·) and swaps axes 1 and 2.
pub fn gguf_row(r: usize, rows: usize, n_head: usize) -> usize {
    let d = rows / n_head;
    let half = d / 2;
    let (head, within) = (r / d, r % d);
    let (j, i) = (within / half, within % half);
    head * d + 2 * i + j
}

/// HF layout → GGUF layout for a [rows, cols] matrix (or [rows] vector).
pub fn permute_rows(values: &[f32], rows: usize, n_head: usize) -> Vec<f32> {
    let cols = values.len() / rows;
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        let g = gguf_row(r, rows, n_head);
        out[g * cols..(g + 1) * cols].copy_from_slice(&values[r * cols..(r + 1) * cols]);
    }
    out
}

/// GGUF layout → HF layout.
pub fn unpermute_rows(values: &[f32], rows: usize, n_head: usize) -> Vec<f32> {
    let cols = values.len() / rows;
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        let g = gguf_row(r, rows, n_head);
        out[r * cols..(r + 1) * cols].copy_from_slice(&values[g * cols..(g + 1) * cols]);
    }
    out
}

pub fn gguf_tensor_name(hf: &str) -> String {
    let map = [
        ("self_attn.q_proj", "attn_q"),
        ("self_attn.k_proj", "attn_k"),
        ("self_attn.v_proj", "attn_v"),
        ("self_attn.o_proj", "attn_output"),
        ("mlp.gate_proj", "ffn_gate"),
        ("mlp.up_proj", "ffn_up"),
        ("mlp.down_proj", "ffn_down"),
        ("post_attention_layernorm", "ffn_norm"),
        ("input_layernorm", "attn_norm"),
    ];
    match hf {
        "model.embed_tokens.weight" => return "token_embd.weight".into(),
        "model.norm.weight" => return "output_norm.weight".into(),
        "lm_head.weight" => return "output.weight".into(),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.").unwrap();
    let (layer, rest) = rest.split_once('.').unwrap();
    for (from, to) in map {
        if let Some(suffix) = rest.strip_prefix(from) {
            return format!("blk.{layer}.{to}{suffix}");
        }
    }
    panic!("no GGUF name for {hf}")
}

/// Which head count permutes this HF tensor's rows, if it is a q/k projection.
pub fn rotary_heads(spec: &Spec, hf: &str) -> Option<usize> {
    if spec.qwen2 {
        return None;
    }
    if hf.contains("q_proj") {
        Some(spec.heads)
    } else if hf.contains("k_proj") {
        Some(spec.kv_heads)
    } else {
        None
    }
}

/// The GGUF-layout tensors, quantized: 2-D weights in `dtype`, norms in F32.
pub fn gguf_tensors(spec: &Spec, weights: &[Weight], dtype: GgmlDType) -> Vec<(String, QTensor)> {
    weights
        .iter()
        .map(|w| {
            let values = match rotary_heads(spec, &w.name) {
                Some(n) => permute_rows(&w.values, w.shape[0], n),
                None => w.values.clone(),
            };
            let t = Tensor::from_vec(values, w.shape.clone(), &Device::Cpu).unwrap();
            let dt = if w.shape.len() == 2 { dtype } else { GgmlDType::F32 };
            (gguf_tensor_name(&w.name), QTensor::quantize(&t, dt).unwrap())
        })
        .collect()
}

pub fn metadata(spec: &Spec) -> Vec<(String, gguf_file::Value)> {
    use gguf_file::Value as V;
    let (tokens, types) = vocab();
    let arch = if spec.qwen2 { "qwen2" } else { "llama" };
    let merges: Vec<V> = MERGES.iter().map(|(a, b)| V::String(format!("{a} {b}"))).collect();
    vec![
        ("general.architecture".into(), V::String(arch.into())),
        ("general.name".into(), V::String("tiny-test".into())),
        (format!("{arch}.block_count"), V::U32(spec.layers as u32)),
        (format!("{arch}.context_length"), V::U32(256)),
        (format!("{arch}.embedding_length"), V::U32(spec.hidden as u32)),
        (format!("{arch}.feed_forward_length"), V::U32(spec.intermediate as u32)),
        (format!("{arch}.attention.head_count"), V::U32(spec.heads as u32)),
        (format!("{arch}.attention.head_count_kv"), V::U32(spec.kv_heads as u32)),
        (format!("{arch}.rope.freq_base"), V::F32(100000.0)),
        (format!("{arch}.attention.layer_norm_rms_epsilon"), V::F32(1e-5)),
        (format!("{arch}.vocab_size"), V::U32(tokens.len() as u32)),
        (format!("{arch}.rope.dimension_count"), V::U32((spec.hidden / spec.heads) as u32)),
        ("tokenizer.ggml.model".into(), V::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), V::String(if spec.qwen2 { "qwen2" } else { "smollm" }.into())),
        ("tokenizer.ggml.tokens".into(), V::Array(tokens.into_iter().map(V::String).collect())),
        ("tokenizer.ggml.token_type".into(), V::Array(types.into_iter().map(V::I32).collect())),
        ("tokenizer.ggml.merges".into(), V::Array(merges)),
        ("tokenizer.ggml.bos_token_id".into(), V::U32(1)),
        ("tokenizer.ggml.eos_token_id".into(), V::U32(2)),
        ("tokenizer.ggml.unknown_token_id".into(), V::U32(0)),
        ("tokenizer.ggml.add_bos_token".into(), V::Bool(false)),
    ]
}

/// Writes the tiny GGUF; returns the HF-layout source weights it was made from.
pub fn write_tiny_gguf(path: &Path, spec: &Spec, dtype: GgmlDType, seed: u64) -> Vec<Weight> {
    let weights = hf_weights(spec, seed);
    let tensors = gguf_tensors(spec, &weights, dtype);
    let md = metadata(spec);
    let md_refs: Vec<(&str, &gguf_file::Value)> = md.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut file, &md_refs, &t_refs).unwrap();
    weights
}

/// All tensors of a safetensors file as (shape, f32 values), by name.
pub fn read_safetensors(path: &Path) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name} is not f32");
            let values = view.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
            (name, (view.shape().to_vec(), values))
        })
        .collect()
}

/// Per-element error bound of `dtype` for GGUF-layout values (blocks of 32 along a row):
/// one quantization step of the block (Q4_0: amax/8, Q4_1: (max−min)/15, Q8_0:
/// amax/127), plus slack for the f16 scale; f16: half an ulp at 11 bits.
pub fn quant_bound(values: &[f32], dtype: GgmlDType) -> Vec<f32> {
    match dtype {
        GgmlDType::F32 => vec![0.0; values.len()],
        GgmlDType::F16 => values.iter().map(|v| v.abs() * 2f32.powi(-11) + 1e-7).collect(),
        _ => values
            .chunks(32)
            .flat_map(|block| {
                let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
                let (lo, hi) = block.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
                let step = match dtype {
                    GgmlDType::Q4_0 => amax / 8.0,
                    GgmlDType::Q4_1 => (hi - lo) / 15.0,
                    GgmlDType::Q8_0 => amax / 127.0,
                    other => panic!("no bound for {other:?}"),
                };
                std::iter::repeat_n(step * 1.01 + 1e-6, block.len())
            })
            .collect(),
    }
}
