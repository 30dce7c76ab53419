//! Gemma 3 without the download. The three block formats the real Q4_K_M file adds
//! to the ones SmolLM2 uses (Q4_K, Q5_0, Q6_K) are checked on blocks built by hand
//! against values worked out here, and against decoders written in this file from
//! ggml's block layouts. A tiny gemma3 GGUF (SentencePiece vocabulary, norms stored
//! as 1 + w, hand-built quantized tensors) is imported and run: its weights decode
//! as the layouts say, its norms lose the +1, its tokenizer merges as SentencePiece
//! does, and the oracle's gemma3 agrees with candle-transformers' f32 gemma3 (an
//! implementation that is not ours) on the imported checkpoint.

use candle_core::quantized::{ggml_file::qtensor_from_ggml, gguf_file, GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use oracle_gen::generate::argmax;
use oracle_gen::gguf::import_gguf;
use oracle_gen::loader::ModelDir;
use std::collections::HashMap;
use std::path::Path;

// ---------------------------------------------------------------- the block layouts

/// An f16 of the normal range, decoded from its fields.
fn f16(bits: u16) -> f32 {
    let sign = if bits >> 15 == 1 { -1.0 } else { 1.0 };
    let exp = ((bits >> 10) & 0x1f) as i32;
    assert!(exp > 0 && exp < 31, "test blocks use normal f16 only");
    sign * (1.0 + (bits & 0x3ff) as f32 / 1024.0) * 2f32.powi(exp - 15)
}

fn le16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

/// Q5_0, 22 bytes per 32 values: d (f16), qh (32 high bits, LE), qs (16 bytes: value
/// i < 16 in the low nibble of qs[i], value i ≥ 16 in the high nibble of qs[i−16]);
/// value i = (low | high bit i << 4) − 16, times d.
fn q5_0_block(b: &[u8]) -> Vec<f32> {
    let d = f16(le16(b));
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    let qs = &b[6..22];
    (0..32)
        .map(|i| {
            let low = if i < 16 { qs[i] & 15 } else { qs[i - 16] >> 4 } as i32;
            let high = ((qh >> i) & 1) as i32;
            ((low | high << 4) - 16) as f32 * d
        })
        .collect()
}

/// Q4_K, 144 bytes per 256 values: d, dmin (f16), 12 bytes of 6-bit scales and mins
/// for 8 sub-blocks of 32, 128 bytes of nibbles (each 32 bytes: one sub-block in the
/// low nibbles, the next in the high ones); value = d·sc·q − dmin·m.
fn q4_k_block(b: &[u8]) -> Vec<f32> {
    let (d, dmin) = (f16(le16(&b[0..2])), f16(le16(&b[2..4])));
    let s = &b[4..16];
    let qs = &b[16..144];
    let scale_min = |j: usize| -> (u8, u8) {
        if j < 4 {
            (s[j] & 63, s[j + 4] & 63)
        } else {
            ((s[j + 4] & 15) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4))
        }
    };
    (0..256)
        .map(|i| {
            let sub = i / 32;
            let byte = qs[(i / 64) * 32 + i % 32];
            let q = if sub % 2 == 0 { byte & 15 } else { byte >> 4 };
            let (sc, m) = scale_min(sub);
            d * sc as f32 * q as f32 - dmin * m as f32
        })
        .collect()
}

/// Q6_K, 210 bytes per 256 values: ql (128), qh (64), 16 signed 8-bit scales, d (f16).
/// Each half of 128 values: quarter k of 32 takes its low 4 bits from ql (low nibbles
/// for k < 2, high for k ≥ 2; bytes l or l + 32 by k's parity), its top 2 bits from
/// bits 2k of qh, its scale from scales[l/16 + 2k]; value = d·scale·(q − 32).
fn q6_k_block(b: &[u8]) -> Vec<f32> {
    let (ql, qh, scales) = (&b[0..128], &b[128..192], &b[192..208]);
    let d = f16(le16(&b[208..210]));
    (0..256)
        .map(|i| {
            let (half, j) = (i / 128, i % 128);
            let (quarter, l) = (j / 32, j % 32);
            let low_byte = ql[64 * half + l + 32 * (quarter % 2)];
            let low = if quarter < 2 { low_byte & 15 } else { low_byte >> 4 };
            let high = (qh[32 * half + l] >> (2 * quarter)) & 3;
            let q = (low | high << 4) as i32 - 32;
            let scale = scales[8 * half + l / 16 + 2 * quarter] as i8;
            d * scale as f32 * q as f32
        })
        .collect()
}

/// The layout's decoder over a whole tensor of consecutive blocks.
fn decode(dtype: GgmlDType, raw: &[u8]) -> Vec<f32> {
    type Decode = fn(&[u8]) -> Vec<f32>;
    let (bytes, f): (usize, Decode) = match dtype {
        GgmlDType::Q5_0 => (22, q5_0_block),
        GgmlDType::Q4K => (144, q4_k_block),
        GgmlDType::Q6K => (210, q6_k_block),
        other => panic!("no test decoder for {other:?}"),
    };
    assert_eq!(raw.len() % bytes, 0);
    raw.chunks(bytes).flat_map(f).collect()
}

/// What the import does with a quantized tensor: candle's GGML reader and dequantizer.
fn dequantize(dtype: GgmlDType, raw: &[u8], dims: &[usize]) -> Vec<f32> {
    let q = qtensor_from_ggml(dtype, raw, dims.to_vec(), &Device::Cpu).unwrap();
    q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn q5_0_block_by_hand() {
    let mut b = [0u8; 22];
    b[0..2].copy_from_slice(&0x3800u16.to_le_bytes()); // d = 0.5
    b[2..6].copy_from_slice(&0x8000_0001u32.to_le_bytes()); // high bits of values 0 and 31
    b[6] = 0x21; // value 0 low 1, value 16 low 2
    b[21] = 0xF0; // value 31 low 15
    let y = dequantize(GgmlDType::Q5_0, &b, &[32]);
    assert_eq!(y[0], 0.5); // (1 | 16) − 16 = 1
    assert_eq!(y[1], -8.0); // 0 − 16
    assert_eq!(y[16], -7.0); // 2 − 16
    assert_eq!(y[31], 7.5); // (15 | 16) − 16 = 15
    assert_eq!(bits(&y), bits(&q5_0_block(&b)));
}

#[test]
fn q4_k_block_by_hand() {
    let mut b = [0u8; 144];
    b[0..2].copy_from_slice(&0x3C00u16.to_le_bytes()); // d = 1
    b[2..4].copy_from_slice(&0x3800u16.to_le_bytes()); // dmin = 0.5
    let s = &mut b[4..16];
    s[0] = 2 | 1 << 6; // sub-block 0: scale 2; its top bits are sub-block 4's scale's
    s[4] = 3; // sub-block 0: min 3
    s[1] = 5; // sub-block 1: scale 5
    s[5] = 1; // sub-block 1: min 1
    s[8] = 0x21; // sub-block 4: scale low 1 (| 1 << 4 = 17), min 2
    b[16] = 0x97; // value 0 (sub-block 0) q = 7, value 32 (sub-block 1) q = 9
    b[16 + 64] = 0x0A; // value 128 (sub-block 4) q = 10
    let y = dequantize(GgmlDType::Q4K, &b, &[256]);
    assert_eq!(y[0], 12.5); // 1·2·7 − 0.5·3
    assert_eq!(y[1], -1.5); // 1·2·0 − 0.5·3
    assert_eq!(y[32], 44.5); // 1·5·9 − 0.5·1
    assert_eq!(y[128], 169.0); // 1·17·10 − 0.5·2
    assert_eq!(y[255], 0.0); // sub-block 7: scale 0, min 0
    assert_eq!(bits(&y), bits(&q4_k_block(&b)));
}

#[test]
fn q6_k_block_by_hand() {
    let mut b = [0u8; 210];
    b[0] = 0x15; // value 0 low 5, value 64 low 1
    b[128] = 2 | 3 << 2 | 1 << 4 | 2 << 6; // top bits: value 0: 2, 32: 3, 64: 1, 96: 2
    let scales = [4i8, 1, -3, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    for (i, s) in scales.iter().enumerate() {
        b[192 + i] = *s as u8;
    }
    b[208..210].copy_from_slice(&0x3400u16.to_le_bytes()); // d = 0.25
    let y = dequantize(GgmlDType::Q6K, &b, &[256]);
    assert_eq!(y[0], 5.0); // 0.25·4·((5 | 2 << 4) − 32)
    assert_eq!(y[1], -32.0); // 0.25·4·(0 − 32)
    assert_eq!(y[16], -8.0); // scale 1: 0.25·1·(−32)
    assert_eq!(y[32], -12.0); // scale −3: 0.25·(−3)·((0 | 3 << 4) − 32)
    assert_eq!(y[64], -7.5); // scale 2: 0.25·2·((1 | 1 << 4) − 32)
    assert_eq!(y[96], 0.0); // scale 0
    assert_eq!(bits(&y), bits(&q6_k_block(&b)));
}

// ---------------------------------------------------------------- a tiny gemma3 GGUF

/// xorshift64*, the same numbers on every machine.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
    /// A positive normal f16 in [2^(e−15), 2^(e−14)).
    fn f16(&mut self, e: u16) -> [u8; 2] {
        ((e << 10) | (self.next() >> 54) as u16).to_le_bytes()
    }
}

/// Random blocks with scales kept small (weights of order 0.1).
fn random_blocks(rng: &mut Rng, dtype: GgmlDType, n_blocks: usize) -> Vec<u8> {
    let mut raw = Vec::new();
    for _ in 0..n_blocks {
        match dtype {
            GgmlDType::Q5_0 => {
                raw.extend(rng.f16(8));
                raw.extend((0..20).map(|_| rng.byte()));
            }
            GgmlDType::Q4K => {
                raw.extend(rng.f16(5));
                raw.extend(rng.f16(5));
                raw.extend((0..140).map(|_| rng.byte()));
            }
            GgmlDType::Q6K => {
                raw.extend((0..192).map(|_| rng.byte()));
                raw.extend((0..16).map(|_| (rng.byte() % 33) as i8 as u8).map(|s| s.wrapping_sub(16)));
                raw.extend(rng.f16(4));
            }
            other => panic!("{other:?}"),
        }
    }
    raw
}

const HIDDEN: usize = 256;
const INTER: usize = 256;
const HEADS: usize = 2;
const HEAD_DIM: usize = 128;
const LAYERS: usize = 6;

/// SentencePiece pieces after the control, user-defined and byte pieces, in score order.
const PIECES: [&str; 40] = [
    "▁", "e", "t", "a", "o", "n", "i", "s", "h", "r", "c", "l", "d", "T", "W", "m", "y", "w", ".", "?", "▁t", "he", "▁the", "at", "▁c",
    "▁cat", "in", "▁s", "▁sat", "on", "▁on", "▁m", "▁mat", "▁The", "Th", "The", "er", "▁a", "an", "▁an",
];

fn vocab() -> (Vec<String>, Vec<i32>, Vec<f32>) {
    let mut tokens: Vec<String> = ["<pad>", "<eos>", "<bos>", "<unk>", "\n"].map(String::from).to_vec();
    let mut types = vec![3, 3, 3, 2, 4];
    let mut scores = vec![-1000.0; 5];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
        scores.push(0.0);
    }
    for (i, p) in PIECES.iter().enumerate() {
        tokens.push(p.to_string());
        types.push(1);
        scores.push(-(i as f32));
    }
    (tokens, types, scores)
}

struct Tiny {
    /// HF name → the values the import must produce.
    expected: HashMap<String, Vec<f32>>,
    dtypes: HashMap<&'static str, usize>,
}

/// Writes the tiny gemma3 GGUF: norms as 1 + w (w on a 1/256 grid, so both are exact),
/// layer 0's q, v and down projections as hand-built Q4_K, Q5_0 and Q6_K blocks, the
/// embedding in Q8_0 (its expected values read back through candle, the path SmolLM2
/// already checks), the rest F32.
fn write_tiny(path: &Path) -> Tiny {
    let mut rng = Rng(0x6E33_0270);
    let (tokens, types, scores) = vocab();
    let vocab = tokens.len();
    let mut expected = HashMap::new();
    let mut dtypes = HashMap::new();
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    let f32_tensor = |shape: Vec<usize>, values: &[f32]| {
        QTensor::quantize(&Tensor::from_slice(values, shape, &Device::Cpu).unwrap(), GgmlDType::F32).unwrap()
    };
    let norm = |rng: &mut Rng, n: usize| -> (Vec<f32>, Vec<f32>) {
        let w: Vec<f32> = (0..n).map(|_| ((rng.next() % 201) as i32 - 100) as f32 / 256.0).collect();
        let stored = w.iter().map(|w| 1.0 + w).collect();
        (w, stored)
    };

    let embed: Vec<f32> = (0..vocab * HIDDEN).map(|_| rng.f32()).collect();
    let embed_q = QTensor::quantize(&Tensor::from_vec(embed, (vocab, HIDDEN), &Device::Cpu).unwrap(), GgmlDType::Q8_0).unwrap();
    expected
        .insert("model.embed_tokens.weight".into(), embed_q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap());
    tensors.push(("token_embd.weight".into(), embed_q));
    let (w, stored) = norm(&mut rng, HIDDEN);
    tensors.push(("output_norm.weight".into(), f32_tensor(vec![HIDDEN], &stored)));
    expected.insert("model.norm.weight".into(), w);

    let (q, kv) = (HEADS * HEAD_DIM, HEAD_DIM);
    for l in 0..LAYERS {
        let g = |part: &str| format!("blk.{l}.{part}.weight");
        let h = |part: &str| format!("model.layers.{l}.{part}.weight");
        for (gguf, hf, rows, cols) in [
            ("attn_q", "self_attn.q_proj", q, HIDDEN),
            ("attn_k", "self_attn.k_proj", kv, HIDDEN),
            ("attn_v", "self_attn.v_proj", kv, HIDDEN),
            ("attn_output", "self_attn.o_proj", HIDDEN, q),
            ("ffn_gate", "mlp.gate_proj", INTER, HIDDEN),
            ("ffn_up", "mlp.up_proj", INTER, HIDDEN),
            ("ffn_down", "mlp.down_proj", HIDDEN, INTER),
        ] {
            let hand = match (l, gguf) {
                (0, "attn_q") => Some(GgmlDType::Q4K),
                (0, "attn_v") => Some(GgmlDType::Q5_0),
                (0, "ffn_down") => Some(GgmlDType::Q6K),
                _ => None,
            };
            match hand {
                Some(dtype) => {
                    let n_blocks = rows * cols / dtype.block_size();
                    let raw = random_blocks(&mut rng, dtype, n_blocks);
                    expected.insert(h(hf), decode(dtype, &raw));
                    tensors.push((g(gguf), qtensor_from_ggml(dtype, &raw, vec![rows, cols], &Device::Cpu).unwrap()));
                }
                None => {
                    let scale = 1.0 / (cols as f32).sqrt();
                    let values: Vec<f32> = (0..rows * cols).map(|_| rng.f32() * scale).collect();
                    tensors.push((g(gguf), f32_tensor(vec![rows, cols], &values)));
                    expected.insert(h(hf), values);
                }
            }
        }
        for (gguf, hf, n) in [
            ("attn_norm", "input_layernorm", HIDDEN),
            ("attn_q_norm", "self_attn.q_norm", HEAD_DIM),
            ("attn_k_norm", "self_attn.k_norm", HEAD_DIM),
            ("post_attention_norm", "post_attention_layernorm", HIDDEN),
            ("ffn_norm", "pre_feedforward_layernorm", HIDDEN),
            ("post_ffw_norm", "post_feedforward_layernorm", HIDDEN),
        ] {
            let (w, stored) = norm(&mut rng, n);
            tensors.push((g(gguf), f32_tensor(vec![n], &stored)));
            expected.insert(h(hf), w);
        }
    }
    for (_, t) in &tensors {
        *dtypes.entry(dtype_name(t.dtype())).or_insert(0) += 1;
    }

    use gguf_file::Value as V;
    let s = |x: &str| V::String(x.into());
    let metadata: Vec<(&str, V)> = vec![
        ("general.architecture", s("gemma3")),
        ("gemma3.context_length", V::U32(64)),
        ("gemma3.embedding_length", V::U32(HIDDEN as u32)),
        ("gemma3.block_count", V::U32(LAYERS as u32)),
        ("gemma3.feed_forward_length", V::U32(INTER as u32)),
        ("gemma3.attention.head_count", V::U32(HEADS as u32)),
        ("gemma3.attention.head_count_kv", V::U32(1)),
        ("gemma3.attention.key_length", V::U32(HEAD_DIM as u32)),
        ("gemma3.attention.value_length", V::U32(HEAD_DIM as u32)),
        ("gemma3.attention.layer_norm_rms_epsilon", V::F32(1e-6)),
        ("gemma3.rope.freq_base", V::F32(1e6)),
        ("gemma3.attention.sliding_window", V::U32(512)),
        ("tokenizer.ggml.model", s("llama")),
        ("tokenizer.ggml.pre", s("default")),
        ("tokenizer.ggml.tokens", V::Array(tokens.iter().map(|t| s(t)).collect())),
        ("tokenizer.ggml.scores", V::Array(scores.into_iter().map(V::F32).collect())),
        ("tokenizer.ggml.token_type", V::Array(types.into_iter().map(V::I32).collect())),
        ("tokenizer.ggml.bos_token_id", V::U32(2)),
        ("tokenizer.ggml.eos_token_id", V::U32(1)),
        ("tokenizer.ggml.unknown_token_id", V::U32(3)),
        ("tokenizer.ggml.padding_token_id", V::U32(0)),
        ("tokenizer.ggml.add_bos_token", V::Bool(true)),
        ("tokenizer.ggml.add_eos_token", V::Bool(false)),
        ("tokenizer.ggml.add_space_prefix", V::Bool(false)),
    ];
    let md: Vec<(&str, &V)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut file, &md, &ts).unwrap();
    Tiny { expected, dtypes }
}

fn dtype_name(d: GgmlDType) -> &'static str {
    match d {
        GgmlDType::F32 => "F32",
        GgmlDType::Q8_0 => "Q8_0",
        GgmlDType::Q5_0 => "Q5_0",
        GgmlDType::Q4K => "Q4K",
        GgmlDType::Q6K => "Q6K",
        other => panic!("{other:?}"),
    }
}

fn token_id(piece: &str) -> u32 {
    vocab().0.iter().position(|t| t == piece).unwrap() as u32
}

#[test]
fn tiny_gemma3_imports_as_the_layouts_say() {
    let tmp = tempfile::tempdir().unwrap();
    let gguf = tmp.path().join("tiny-gemma3.gguf");
    let tiny = write_tiny(&gguf);
    let out = tmp.path().join("ref");
    let report = import_gguf(&gguf, &out).unwrap();

    assert_eq!(report.architecture, "gemma3");
    assert_eq!(report.tensor_count, 2 + LAYERS * 13);
    assert_eq!(report.norms_unshifted, 1 + LAYERS * 6);
    assert_eq!(report.unpermuted, 0, "gemma3 keeps HF's q/k layout (NEOX rope)");
    assert!(report.tie_word_embeddings);
    for (dtype, n) in &tiny.dtypes {
        assert_eq!(report.dtypes.get(*dtype), Some(n), "{dtype}: {:?}", report.dtypes);
    }

    // Every tensor: quantized ones as the block layouts decode, norms without the +1.
    let loaded = candle_core::safetensors::load(out.join("model.safetensors"), &Device::Cpu).unwrap();
    assert_eq!(loaded.len(), tiny.expected.len());
    for (name, want) in &tiny.expected {
        let got: Vec<f32> = loaded[name].flatten_all().unwrap().to_vec1().unwrap();
        assert!(bits(&got) == bits(want), "{name} differs from the values the GGUF encodes");
    }

    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model_type"], "gemma3_text");
    assert_eq!(config["architectures"][0], "Gemma3ForCausalLM");
    assert_eq!(config["head_dim"], HEAD_DIM);
    assert_eq!(config["query_pre_attn_scalar"], HEAD_DIM);
    assert_eq!(config["rope_theta"].as_f64(), Some(1e6));
    assert_eq!(config["rope_local_base_freq"].as_f64(), Some(10000.0));
    assert_eq!(config["rms_norm_eps"].as_f64(), Some(1e-6));
    assert_eq!(config["sliding_window"], 512);
    let layer_types: Vec<&str> = config["layer_types"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(layer_types, ["sliding_attention"; 5].iter().copied().chain(["full_attention"]).collect::<Vec<_>>());
    assert!(config["final_logit_softcapping"].is_null() && config["attn_logit_softcapping"].is_null());

    // SentencePiece: no prefix space, pieces merged by score, "\n" on the raw text,
    // BOS prepended; "é" is not a piece: its UTF-8 bytes.
    let dir = ModelDir::open(&out).unwrap();
    let ids = dir.encode("The cat sat\non the mat?é").unwrap();
    let mut want: Vec<u32> = ["<bos>", "The", "▁cat", "▁sat", "\n", "on", "▁the", "▁mat", "?"].iter().map(|p| token_id(p)).collect();
    want.extend("é".bytes().map(|b| token_id(&format!("<0x{b:02X}>"))));
    assert_eq!(ids, want);
    assert_eq!(dir.decode(&ids).unwrap(), "The cat sat\non the mat?é");
    assert_eq!(dir.eos_ids, vec![1]);
}

/// candle-transformers' f32 gemma3 on the imported folder (its own config reader,
/// RMSNorm, rope, masks): the oracle's logits must match it.
#[test]
fn tiny_gemma3_oracle_agrees_with_candle_f32_gemma3() {
    use candle_transformers::models::gemma3;
    let tmp = tempfile::tempdir().unwrap();
    let gguf = tmp.path().join("tiny-gemma3.gguf");
    write_tiny(&gguf);
    let out = tmp.path().join("ref");
    import_gguf(&gguf, &out).unwrap();

    let dir = ModelDir::open(&out).unwrap();
    let mut oracle = dir.load_model(DType::F32, &Device::Cpu).unwrap();
    let cfg: gemma3::Config = serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    let vb = unsafe { candle_nn::VarBuilder::from_mmaped_safetensors(&[out.join("model.safetensors")], DType::F32, &Device::Cpu).unwrap() };
    let mut candle = gemma3::Model::new(false, &cfg, vb).unwrap();

    let mut ids = dir.encode("The cat sat on the mat").unwrap();
    let prompt = ids.len();
    let mut max_diff = 0f32;
    for step in 0..6 {
        let (ctx, pos) = if step == 0 { (&ids[..], 0) } else { (&ids[ids.len() - 1..], ids.len() - 1) };
        let ours: Vec<f32> = oracle.forward(ctx, pos, false).unwrap().squeeze(0).unwrap().to_vec1().unwrap();
        let input = Tensor::new(ctx, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let theirs: Vec<f32> = candle.forward(&input, pos).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let scale = theirs.iter().fold(0f32, |m, x| m.max(x.abs()));
        for (a, b) in ours.iter().zip(&theirs) {
            max_diff = max_diff.max((a - b).abs() / scale);
        }
        assert_eq!(argmax(&ours), argmax(&theirs), "step {step}: greedy tokens differ");
        ids.push(argmax(&ours));
    }
    eprintln!("tiny gemma3: oracle vs candle f32 gemma3, max |Δlogit| / max |logit| = {max_diff:.2e}; tokens {:?}", &ids[prompt..]);
    assert!(max_diff < 1e-4, "logits differ by {max_diff:.2e} of their scale");
}

/// The GGUF itself through candle's quantized gemma3 (the comparator runtime): it
/// loads, tokenizes as the reference does and decodes.
#[test]
fn tiny_gemma3_runs_on_the_candle_gguf_runtime() {
    let tmp = tempfile::tempdir().unwrap();
    let gguf = tmp.path().join("tiny-gemma3.gguf");
    write_tiny(&gguf);
    let g = oracle_gen::gguf::run_gguf(&gguf, "The cat sat", 4, 3).unwrap();
    let want: Vec<u32> = ["<bos>", "The", "▁cat", "▁sat"].iter().map(|p| token_id(p)).collect();
    assert_eq!(g.prompt_tokens.as_deref(), Some(&want[..]));
    assert!(!g.tokens.unwrap().is_empty());
}
