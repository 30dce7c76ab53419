//! Deterministic tiny models for tests: HF layout (config.json, model.safetensors,
//! tokenizer.json, generation_config.json) for llama, qwen2 and gpt2, identical bytes
//! on every run. Weights come from a seeded generator and are scaled so greedy
//! decoding is decisive (wide top-1/top-2 margins), not a coin toss. Each fixture's
//! tokenizer has its architecture's real pipeline (llama as SmolLM's: single digits,
//! then GPT-2's byte-level regex; qwen2 as Qwen2's: its split regex, NFC; gpt2 as
//! GPT-2's), over one small byte-level BPE vocabulary, so a runtime that picks its
//! pre-tokenizer by architecture (llama.cpp's `tokenizer.ggml.pre`, transformers'
//! Qwen2 tokenizer) splits text as the fixture's goldens do.

use crate::config::Arch;
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, DecoderWrapper, ModelWrapper, PostProcessorWrapper, PreTokenizerWrapper, Tokenizer};

/// Text the fixture tokenizer is trained on: the four prompts and a little more.
const CORPUS: &str = "What is 2+2? Answer: 4. What is 3+5? Answer: 8.
def fibonacci(n):
    if n < 2:
        return n
    return fibonacci(n - 1) + fibonacci(n - 2)
The capital of France is Paris. The capital of Italy is Rome.
The capital of Germany is Berlin, and the capital of Spain is Madrid.
Hello, my name is Alice. Hello, my name is Bob, and I like to write code.
A tiny model is a model with few parameters; it answers quickly and often wrongly.
The quick brown fox jumps over the lazy dog while the cat sleeps in the sun.
";

pub const SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// splitmix64: a small seeded generator with a fixed output on every platform.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f32 {
        let (u1, u2) = (self.uniform(), self.uniform());
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }
}

/// Qwen2's pre-tokenizer split, as Qwen/Qwen2-0.5B's tokenizer.json writes it: one
/// digit per piece (`\p{N}`), unlike GPT-2's ` ?\p{N}+`.
pub const QWEN2_SPLIT_REGEX: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn byte_level(add_prefix_space: bool, trim_offsets: bool, use_regex: bool) -> serde_json::Value {
    json!({"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": trim_offsets, "use_regex": use_regex})
}

/// (normalizer, pre_tokenizer, post_processor, decoder) of `arch`'s real tokenizer.json:
/// llama as HuggingFaceTB/SmolLM's, qwen2 as Qwen/Qwen2's, gpt2 as openai-community/gpt2's.
pub fn pipeline(arch: Arch) -> Result<[serde_json::Value; 4]> {
    Ok(match arch {
        Arch::Llama => [
            serde_json::Value::Null,
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": true},
                byte_level(false, true, true),
            ]}),
            byte_level(true, false, true),
            byte_level(true, true, true),
        ],
        Arch::Qwen2 => [
            json!({"type": "NFC"}),
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT_REGEX}, "behavior": "Isolated", "invert": false},
                byte_level(false, false, false),
            ]}),
            byte_level(false, false, false),
            byte_level(false, false, false),
        ],
        Arch::Gpt2 => [serde_json::Value::Null, byte_level(false, true, true), byte_level(true, false, true), byte_level(true, true, true)],
        Arch::Gemma3 => bail!("no gemma3 fixture (fixtures: {})", FIXTURE_ARCHS.map(Arch::as_str).join(", ")),
    })
}

/// The architectures with a fixture model.
pub const FIXTURE_ARCHS: [Arch; 3] = [Arch::Llama, Arch::Qwen2, Arch::Gpt2];

/// The fixture tokenizer of `arch`: the shared vocabulary ([`vocabulary`]) under the
/// architecture's own normalizer, pre-tokenizer, post-processor and decoder.
pub fn tokenizer(arch: Arch) -> Result<Tokenizer> {
    let trained = vocabulary()?;
    let text = trained.to_string(false).map_err(|e| anyhow::anyhow!("serializing the fixture tokenizer: {e}"))?;
    let mut value: serde_json::Value = serde_json::from_str(&text).context("the fixture tokenizer's JSON")?;
    let [normalizer, pre_tokenizer, post_processor, decoder] = pipeline(arch)?;
    value["normalizer"] = normalizer;
    value["pre_tokenizer"] = pre_tokenizer;
    value["post_processor"] = post_processor;
    value["decoder"] = decoder;
    Tokenizer::from_bytes(serde_json::to_vec(&value)?).map_err(|e| anyhow::anyhow!("building the {} fixture tokenizer: {e}", arch.as_str()))
}

/// The fixtures' one vocabulary: byte-level BPE trained on CORPUS (deterministic),
/// pre-tokenized with GPT-2's regex while training.
pub fn vocabulary() -> Result<Tokenizer> {
    let mut tokenizer = Tokenizer::new(ModelWrapper::BPE(BPE::default()));
    tokenizer.with_pre_tokenizer(Some(PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true))));
    tokenizer.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevel::default())));
    tokenizer.with_post_processor(Some(PostProcessorWrapper::ByteLevel(ByteLevel::new(false, true, false))));
    let specials: Vec<AddedToken> = SPECIAL_TOKENS.iter().map(|s| AddedToken::from(*s, true)).collect();
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(400)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(specials)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    tokenizer
        .train(&mut trainer, CORPUS.lines().map(|l| format!("{l}\n")))
        .map_err(|e| anyhow::anyhow!("training the fixture tokenizer: {e}"))?;
    Ok(tokenizer)
}

struct Builder {
    rng: Rng,
    tensors: BTreeMap<String, Tensor>,
}

impl Builder {
    fn normal(&mut self, name: &str, shape: &[usize], std: f32) -> Result<()> {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| self.rng.normal() * std).collect();
        self.tensors.insert(name.to_string(), Tensor::from_vec(data, shape, &Device::Cpu)?);
        Ok(())
    }

    /// Norm weights near 1 (with a little noise so a swapped norm is caught).
    fn near_one(&mut self, name: &str, n: usize) -> Result<()> {
        let data: Vec<f32> = (0..n).map(|_| 1.0 + 0.1 * self.rng.normal()).collect();
        self.tensors.insert(name.to_string(), Tensor::from_vec(data, n, &Device::Cpu)?);
        Ok(())
    }
}

/// Writes a fixture model of `arch` into `out` (replacing it atomically).
pub fn write(arch: Arch, out: &Path) -> Result<()> {
    let tok = tokenizer(arch)?;
    let vocab = tok.get_vocab_size(true);
    let (hidden, layers, heads, kv_heads, inter) = (64usize, 2usize, 4usize, 2usize, 128usize);
    let hd = hidden / heads;
    let mut b = Builder { rng: Rng(0x5EED_0000 + arch as u64), tensors: BTreeMap::new() };
    let w_std = |fan_in: usize| 1.0 / (fan_in as f32).sqrt();
    let eos: u32 = if arch == Arch::Gpt2 { 0 } else { 2 };
    let config = match arch {
        Arch::Llama | Arch::Qwen2 => {
            let qwen = arch == Arch::Qwen2;
            b.normal("model.embed_tokens.weight", &[vocab, hidden], 1.0)?;
            for i in 0..layers {
                let p = format!("model.layers.{i}");
                b.near_one(&format!("{p}.input_layernorm.weight"), hidden)?;
                b.near_one(&format!("{p}.post_attention_layernorm.weight"), hidden)?;
                for (name, out_dim) in [("q", heads * hd), ("k", kv_heads * hd), ("v", kv_heads * hd)] {
                    b.normal(&format!("{p}.self_attn.{name}_proj.weight"), &[out_dim, hidden], 2.0 * w_std(hidden))?;
                    if qwen {
                        b.normal(&format!("{p}.self_attn.{name}_proj.bias"), &[out_dim], 0.5)?;
                    }
                }
                b.normal(&format!("{p}.self_attn.o_proj.weight"), &[hidden, hidden], w_std(hidden))?;
                b.normal(&format!("{p}.mlp.gate_proj.weight"), &[inter, hidden], w_std(hidden))?;
                b.normal(&format!("{p}.mlp.up_proj.weight"), &[inter, hidden], w_std(hidden))?;
                b.normal(&format!("{p}.mlp.down_proj.weight"), &[hidden, inter], w_std(inter))?;
            }
            b.near_one("model.norm.weight", hidden)?;
            if qwen {
                b.normal("lm_head.weight", &[vocab, hidden], 1.0)?;
            }
            let mut c = serde_json::json!({
                "architectures": [if qwen { "Qwen2ForCausalLM" } else { "LlamaForCausalLM" }],
                "model_type": arch.as_str(),
                "vocab_size": vocab,
                "hidden_size": hidden,
                "intermediate_size": inter,
                "num_hidden_layers": layers,
                "num_attention_heads": heads,
                "num_key_value_heads": kv_heads,
                "max_position_embeddings": 256,
                "rms_norm_eps": 1e-5,
                "hidden_act": "silu",
                "tie_word_embeddings": !qwen,
                "bos_token_id": 1,
                "eos_token_id": eos,
                "torch_dtype": "float32",
            });
            // One fixture in each config.json generation: llama as transformers ≥ 5 writes it.
            if qwen {
                c["rope_theta"] = serde_json::json!(1000000.0);
            } else {
                c["rope_parameters"] = serde_json::json!({"rope_theta": 100000.0, "rope_type": "default"});
            }
            c
        }
        Arch::Gpt2 => {
            b.normal("wte.weight", &[vocab, hidden], 1.0)?;
            b.normal("wpe.weight", &[128, hidden], 0.5)?;
            for i in 0..layers {
                let p = format!("h.{i}");
                for ln in ["ln_1", "ln_2"] {
                    b.near_one(&format!("{p}.{ln}.weight"), hidden)?;
                    b.normal(&format!("{p}.{ln}.bias"), &[hidden], 0.1)?;
                }
                for (name, inp, out_dim) in [
                    ("attn.c_attn", hidden, 3 * hidden),
                    ("attn.c_proj", hidden, hidden),
                    ("mlp.c_fc", hidden, 4 * hidden),
                    ("mlp.c_proj", 4 * hidden, hidden),
                ] {
                    let scale = if name == "attn.c_attn" { 2.0 } else { 1.0 };
                    b.normal(&format!("{p}.{name}.weight"), &[inp, out_dim], scale * w_std(inp))?;
                    b.normal(&format!("{p}.{name}.bias"), &[out_dim], 0.1)?;
                }
            }
            b.near_one("ln_f.weight", hidden)?;
            b.normal("ln_f.bias", &[hidden], 0.1)?;
            serde_json::json!({
                "architectures": ["GPT2LMHeadModel"],
                "model_type": "gpt2",
                "vocab_size": vocab,
                "n_embd": hidden,
                "n_layer": layers,
                "n_head": heads,
                "n_positions": 128,
                "n_ctx": 128,
                "layer_norm_epsilon": 1e-5,
                "activation_function": "gelu_new",
                "bos_token_id": eos,
                "eos_token_id": eos,
                "torch_dtype": "float32",
            })
        }
        Arch::Gemma3 => bail!("no gemma3 fixture"),
    };
    let generation = serde_json::json!({ "bos_token_id": config["bos_token_id"], "eos_token_id": eos, "do_sample": false });
    let safetensors = safetensors::serialize(b.tensors.iter().map(|(k, v)| (k.clone(), v)), None).context("serializing fixture weights")?;
    let tokenizer_json = tok.to_string(true).map_err(|e| anyhow::anyhow!("serializing fixture tokenizer: {e}"))?;

    write_dir_atomically(out, |dir| {
        std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(&config)? + "\n")?;
        std::fs::write(dir.join("generation_config.json"), serde_json::to_string_pretty(&generation)? + "\n")?;
        std::fs::write(dir.join("model.safetensors"), &safetensors)?;
        std::fs::write(dir.join("tokenizer.json"), &tokenizer_json)?;
        Ok(())
    })
}

/// Fills a sibling staging folder and renames it over `out`, so `out` is never half-written.
pub fn write_dir_atomically(out: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let staging = crate::staging::Staging::new(out)?;
    fill(&staging.path).with_context(|| format!("writing {}", out.display()))?;
    staging.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::tokenizer::detect_pre;

    fn pieces(arch: Arch, text: &str) -> Vec<String> {
        let enc = tokenizer(arch).unwrap().encode(text, true).unwrap();
        enc.get_tokens().to_vec()
    }

    #[test]
    fn qwen2_and_llama_fixtures_split_digits_one_by_one() {
        // Qwen2's regex (\p{N}) and SmolLM's Digits(individual) both isolate each digit:
        // "What", " is", " ", "2", "+", "2", "?", " Answer", ":" (byte-level spelling: Ġ = space).
        for arch in [Arch::Qwen2, Arch::Llama] {
            let p = pieces(arch, "What is 2+2? Answer:");
            assert_eq!(p, ["What", "Ġis", "Ġ", "2", "+", "2", "?", "ĠAnswer", ":"], "{}", arch.as_str());
        }
        // Multi-digit numbers too: "12" is two pieces.
        for arch in [Arch::Qwen2, Arch::Llama] {
            assert!(pieces(arch, "x 12").ends_with(&["1".to_string(), "2".to_string()]), "{}", arch.as_str());
        }
        // GPT-2's regex keeps the space with the number (" ?\p{N}+"): "Ġ2".
        let p = pieces(Arch::Gpt2, "What is 2+2? Answer:");
        assert_eq!(p[2], "Ġ2", "{p:?}");
    }

    #[test]
    fn fixtures_share_one_vocabulary_and_name_their_gguf_pre_tokenizer() {
        let vocab = vocabulary().unwrap().get_vocab(true);
        for (arch, pre) in [(Arch::Llama, "smollm"), (Arch::Qwen2, "qwen2"), (Arch::Gpt2, "gpt2")] {
            let tok = tokenizer(arch).unwrap();
            assert_eq!(tok.get_vocab(true), vocab, "{}", arch.as_str());
            let json: serde_json::Value = serde_json::from_str(&tok.to_string(false).unwrap()).unwrap();
            assert_eq!(detect_pre(&json, Path::new("tokenizer.json")).unwrap(), pre, "{}", arch.as_str());
        }
        assert_eq!(crate::gguf::export::llama_cpp_pre_name("gpt2"), "gpt-2");
        assert_eq!(crate::gguf::export::llama_cpp_pre_name("qwen2"), "qwen2");
    }
}
