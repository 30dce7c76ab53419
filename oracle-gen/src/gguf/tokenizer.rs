//! tokenizer.json ⇄ `tokenizer.ggml.*`: rebuilds an HF tokenizer from GGUF metadata
//! (byte-level BPE here: vocab, merges, token types, the `pre` name that selects the
//! pre-tokenizer; SentencePiece in spm.rs) and, for export, turns a byte-level BPE
//! tokenizer.json back into that metadata.
//! The same JSON is written to tokenizer.json and loaded by the GGUF runtime, so the
//! reference directory and the runtime tokenize identically.

use super::{as_u64, Meta};
use anyhow::{bail, Context, Result};
use candle_core::quantized::gguf_file::{Content, Value};
use serde_json::{json, Map, Value as Json};
use std::collections::HashMap;
use std::path::Path;
use tokenizers::Tokenizer;

/// GGUF token types (llama.cpp's `llama_token_type`).
pub const TOKEN_NORMAL: u32 = 1;
pub const TOKEN_UNKNOWN: u32 = 2;
pub const TOKEN_CONTROL: u32 = 3;
pub const TOKEN_USER_DEFINED: u32 = 4;
pub const TOKEN_UNUSED: u32 = 5;

const REGEX_QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const REGEX_LLAMA3: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn byte_level(add_prefix_space: bool, trim_offsets: bool, use_regex: bool) -> Json {
    json!({"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": trim_offsets, "use_regex": use_regex})
}

fn split_regex(regex: &str) -> Json {
    json!({"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false})
}

/// The HF pipeline (normalizer, pre_tokenizer, post_processor, decoder) that a
/// `tokenizer.ggml.pre` name stands for, as the upstream tokenizer.json files write it.
struct Pipeline {
    normalizer: Json,
    pre_tokenizer: Json,
    post_processor: Json,
    decoder: Json,
}

fn pipeline(pre: &str) -> Option<Pipeline> {
    Some(match pre {
        // HuggingFaceTB/SmolLM*: digits split one by one, then GPT-2's byte-level regex.
        "smollm" => Pipeline {
            normalizer: Json::Null,
            pre_tokenizer: json!({"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": true},
                byte_level(false, true, true),
            ]}),
            post_processor: byte_level(true, false, true),
            decoder: byte_level(true, true, true),
        },
        "gpt2" => Pipeline {
            normalizer: Json::Null,
            pre_tokenizer: byte_level(false, true, true),
            post_processor: byte_level(true, false, true),
            decoder: byte_level(true, true, true),
        },
        "qwen2" => Pipeline {
            normalizer: json!({"type": "NFC"}),
            pre_tokenizer: json!({"type": "Sequence", "pretokenizers": [
                split_regex(REGEX_QWEN2),
                byte_level(false, false, false),
            ]}),
            post_processor: byte_level(false, false, false),
            decoder: byte_level(false, false, false),
        },
        "llama-bpe" | "llama3" | "smaug-bpe" => Pipeline {
            normalizer: Json::Null,
            pre_tokenizer: json!({"type": "Sequence", "pretokenizers": [
                split_regex(REGEX_LLAMA3),
                byte_level(false, true, false),
            ]}),
            post_processor: byte_level(true, false, true),
            decoder: byte_level(true, true, true),
        },
        _ => return None,
    })
}

const SUPPORTED_PRE: &str = "smollm, gpt2, qwen2, llama-bpe";

/// Builds the tokenizer.json value from a GGUF's `tokenizer.ggml.*` metadata:
/// byte-level BPE for `tokenizer.ggml.model = gpt2`, SentencePiece BPE (see spm.rs)
/// for `llama`.
pub fn tokenizer_json_from_gguf(content: &Content, path: &Path) -> Result<Json> {
    let meta = Meta { content, path };
    match meta.string("tokenizer.ggml.model")? {
        "gpt2" => byte_level_json(&meta),
        "llama" => super::spm::tokenizer_json(&meta),
        model => {
            bail!("{}: tokenizer.ggml.model is {model:?}; supported: byte-level BPE (\"gpt2\"), SentencePiece (\"llama\")", path.display())
        }
    }
}

/// `tokenizer.ggml.tokens`, every entry a string.
pub(crate) fn gguf_tokens<'a>(meta: &Meta<'a>) -> Result<Vec<&'a str>> {
    meta.array("tokenizer.ggml.tokens")?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.to_string()
                .map(|s| s.as_str())
                .map_err(|_| anyhow::anyhow!("{}: tokenizer.ggml.tokens[{i}] is not a string", meta.path.display()))
        })
        .collect()
}

/// `tokenizer.ggml.token_type` (all normal when absent), one per token.
pub(crate) fn gguf_token_types(meta: &Meta, n_tokens: usize) -> Result<Vec<u32>> {
    let path = meta.path;
    let types: Vec<u32> = match meta.get("tokenizer.ggml.token_type") {
        Some(_) => meta
            .array("tokenizer.ggml.token_type")?
            .iter()
            .map(|v| as_u64(v).map(|n| n as u32))
            .collect::<Result<_>>()
            .with_context(|| format!("{}: bad tokenizer.ggml.token_type", path.display()))?,
        None => vec![TOKEN_NORMAL; n_tokens],
    };
    if types.len() != n_tokens {
        bail!("{}: {} token types for {} tokens in tokenizer.ggml.*", path.display(), types.len(), n_tokens);
    }
    Ok(types)
}

/// token → id over the whole vocabulary; a token listed twice is an error.
pub(crate) fn vocab_object(tokens: &[&str], path: &Path) -> Result<Map<String, Json>> {
    let mut vocab = Map::new();
    for (id, tok) in tokens.iter().enumerate() {
        if let Some(prev) = vocab.insert(tok.to_string(), json!(id)) {
            bail!("{}: token {tok:?} appears twice in tokenizer.ggml.tokens (ids {prev} and {id})", path.display());
        }
    }
    Ok(vocab)
}

/// tokenizer.json's added_tokens: control and unknown tokens as special, user-defined
/// ones as plain added tokens, all matched on the raw text (llama.cpp partitions the
/// text on them before the model runs, transformers' SentencePiece converters add
/// them the same way).
pub(crate) fn added_tokens(tokens: &[&str], types: &[u32]) -> Vec<Json> {
    let mut added = Vec::new();
    for (id, (&tok, &ty)) in tokens.iter().zip(types).enumerate() {
        let special = match ty {
            TOKEN_CONTROL | TOKEN_UNKNOWN => true,
            TOKEN_USER_DEFINED => false,
            _ => continue,
        };
        added.push(json!({
            "id": id, "content": tok, "single_word": false, "lstrip": false, "rstrip": false,
            "normalized": false, "special": special,
        }));
    }
    added
}

/// The unknown token named by `tokenizer.ggml.unknown_token_id`, or null.
pub(crate) fn unk_token(meta: &Meta, tokens: &[&str]) -> Result<Json> {
    Ok(meta.opt_u64("tokenizer.ggml.unknown_token_id")?.and_then(|id| tokens.get(id as usize)).map(|t| json!(t)).unwrap_or(Json::Null))
}

/// `base` followed by a TemplateProcessing that adds BOS/EOS as
/// `tokenizer.ggml.add_bos_token`/`add_eos_token` say; `base` alone when neither is
/// set (a null `base` is dropped from the sequence).
pub(crate) fn with_special_template(meta: &Meta, tokens: &[&str], base: Json) -> Result<Json> {
    let path = meta.path;
    let add_bos = meta.opt_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(false);
    let add_eos = meta.opt_bool("tokenizer.ggml.add_eos_token")?.unwrap_or(false);
    if !add_bos && !add_eos {
        return Ok(base);
    }
    let named = |key: &str| -> Result<(u64, String)> {
        let id = meta.u64(key)?;
        let tok = tokens
            .get(id as usize)
            .with_context(|| format!("{}: {key} = {id} is outside the {}-token vocabulary", path.display(), tokens.len()))?;
        Ok((id, tok.to_string()))
    };
    let mut single = Vec::new();
    let mut pair = Vec::new();
    let mut specials = Map::new();
    let bos = if add_bos { Some(named("tokenizer.ggml.bos_token_id")?) } else { None };
    let eos = if add_eos { Some(named("tokenizer.ggml.eos_token_id")?) } else { None };
    for (type_id, seq) in [(0, "A"), (1, "B")] {
        if let Some((_, tok)) = &bos {
            pair.push(json!({"SpecialToken": {"id": tok, "type_id": type_id}}));
        }
        pair.push(json!({"Sequence": {"id": seq, "type_id": type_id}}));
        if let Some((_, tok)) = &eos {
            pair.push(json!({"SpecialToken": {"id": tok, "type_id": type_id}}));
        }
    }
    if let Some((id, tok)) = &bos {
        single.push(json!({"SpecialToken": {"id": tok, "type_id": 0}}));
        specials.insert(tok.clone(), json!({"id": tok, "ids": [id], "tokens": [tok]}));
    }
    single.push(json!({"Sequence": {"id": "A", "type_id": 0}}));
    if let Some((id, tok)) = &eos {
        single.push(json!({"SpecialToken": {"id": tok, "type_id": 0}}));
        specials.insert(tok.clone(), json!({"id": tok, "ids": [id], "tokens": [tok]}));
    }
    let template = json!({"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials});
    Ok(if base.is_null() { template } else { json!({"type": "Sequence", "processors": [base, template]}) })
}

/// Byte-level BPE (`tokenizer.ggml.model = gpt2`): vocab and merges as stored, the
/// pipeline the `pre` name stands for.
fn byte_level_json(meta: &Meta) -> Result<Json> {
    let path = meta.path;
    let pre = meta.get("tokenizer.ggml.pre").and_then(|v| v.to_string().ok()).map(|s| s.as_str()).unwrap_or("gpt2");
    let pipe = pipeline(pre)
        .with_context(|| format!("{}: tokenizer.ggml.pre {pre:?} is not supported (supported: {SUPPORTED_PRE})", path.display()))?;
    let tokens = gguf_tokens(meta)?;
    let types = gguf_token_types(meta, tokens.len())?;
    let merges: Vec<Json> = meta
        .array("tokenizer.ggml.merges")?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let m = v.to_string().map_err(|_| anyhow::anyhow!("{}: tokenizer.ggml.merges[{i}] is not a string", path.display()))?;
            let (a, b) =
                m.split_once(' ').with_context(|| format!("{}: tokenizer.ggml.merges[{i}] = {m:?} is not \"a b\"", path.display()))?;
            Ok(json!([a, b]))
        })
        .collect::<Result<_>>()?;
    let vocab = vocab_object(&tokens, path)?;
    let added = added_tokens(&tokens, &types);
    let unk = unk_token(meta, &tokens)?;
    let post = with_special_template(meta, &tokens, pipe.post_processor)?;
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": pipe.normalizer,
        "pre_tokenizer": pipe.pre_tokenizer,
        "post_processor": post,
        "decoder": pipe.decoder,
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": unk,
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": false,
            "vocab": vocab,
            "merges": merges,
        },
    }))
}

/// A tokenizer built from a tokenizer.json value; errors name `path`.
pub fn tokenizer_from_json(value: &Json, path: &Path) -> Result<Tokenizer> {
    let bytes = serde_json::to_vec(value).expect("JSON value serializes");
    Tokenizer::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{}: cannot build tokenizer: {e}", path.display()))
}

/// The tokenizer a GGUF's metadata describes.
pub fn tokenizer_from_gguf(content: &Content, path: &Path) -> Result<Tokenizer> {
    tokenizer_from_json(&tokenizer_json_from_gguf(content, path)?, path)
}

/// Which `tokenizer.ggml.pre` a tokenizer.json's pre-tokenizer corresponds to.
pub fn detect_pre(tokenizer: &Json, path: &Path) -> Result<&'static str> {
    let pre = tokenizer.get("pre_tokenizer").unwrap_or(&Json::Null);
    for name in ["smollm", "gpt2", "qwen2", "llama-bpe"] {
        let known = pipeline(name).expect("known pre").pre_tokenizer;
        if same_pre_tokenizer(pre, &known) {
            return Ok(name);
        }
    }
    bail!("{}: pre_tokenizer {} matches none of the GGUF pre-tokenizers this exporter knows ({SUPPORTED_PRE})", path.display(), pre)
}

/// Structural equality on the fields that change tokenization (trim_offsets and
/// add_prefix_space of a ByteLevel that only maps bytes do not split differently,
/// but add_prefix_space does, so it is compared; trim_offsets is not).
fn same_pre_tokenizer(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().filter(|k| k.as_str() != "trim_offsets").all(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => same_pre_tokenizer(p, q),
                _ => false,
            })
        }
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_pre_tokenizer(p, q)),
        _ => a == b,
    }
}

/// What a post-processor adds around a single sequence: (adds a token before, after).
fn template_adds(post: &Json) -> (bool, bool) {
    match post.get("type").and_then(|t| t.as_str()) {
        Some("Sequence") => post
            .get("processors")
            .and_then(|p| p.as_array())
            .map(|ps| ps.iter().map(template_adds).fold((false, false), |a, b| (a.0 || b.0, a.1 || b.1)))
            .unwrap_or((false, false)),
        Some("TemplateProcessing") => {
            let single = post.get("single").and_then(|s| s.as_array()).cloned().unwrap_or_default();
            let seq_at = single.iter().position(|p| p.get("Sequence").is_some()).unwrap_or(0);
            let special = |p: &Json| p.get("SpecialToken").is_some();
            (single[..seq_at].iter().any(special), single[seq_at..].iter().any(special))
        }
        _ => (false, false),
    }
}

/// The `tokenizer.ggml.*` metadata for a tokenizer.json (byte-level BPE only), over
/// `vocab_size` ids: ids the tokenizer does not define become `[PAD{id}]` (unused), as
/// llama.cpp's convert writes them.
pub fn gguf_tokenizer_metadata(
    tokenizer: &Json,
    vocab_size: usize,
    bos: Option<u32>,
    eos: Option<u32>,
    path: &Path,
) -> Result<Vec<(String, Value)>> {
    let model = tokenizer.get("model").with_context(|| format!("{}: no model", path.display()))?;
    let kind = model.get("type").and_then(|t| t.as_str()).unwrap_or("");
    if kind != "BPE" {
        bail!("{}: tokenizer model {kind:?} is not supported for GGUF export (byte-level BPE only)", path.display());
    }
    let pre = detect_pre(tokenizer, path)?;
    let mut tokens: Vec<Option<String>> = vec![None; vocab_size];
    let mut types = vec![TOKEN_UNUSED as i32; vocab_size];
    let mut place = |tok: &str, id: u64, ty: u32| -> Result<()> {
        let slot = tokens
            .get_mut(id as usize)
            .with_context(|| format!("{}: token {tok:?} has id {id}, outside vocab_size {vocab_size}", path.display()))?;
        *slot = Some(tok.to_string());
        types[id as usize] = ty as i32;
        Ok(())
    };
    let vocab =
        model.get("vocab").and_then(|v| v.as_object()).with_context(|| format!("{}: model.vocab is not an object", path.display()))?;
    for (tok, id) in vocab {
        let id = id.as_u64().with_context(|| format!("{}: vocab id of {tok:?} is not an integer", path.display()))?;
        place(tok, id, TOKEN_NORMAL)?;
    }
    for added in tokenizer.get("added_tokens").and_then(|a| a.as_array()).into_iter().flatten() {
        let tok = added.get("content").and_then(|c| c.as_str()).unwrap_or_default();
        let id = added.get("id").and_then(|i| i.as_u64()).with_context(|| format!("{}: added token without id", path.display()))?;
        let special = added.get("special").and_then(|s| s.as_bool()).unwrap_or(false);
        place(tok, id, if special { TOKEN_CONTROL } else { TOKEN_USER_DEFINED })?;
    }
    let tokens: Vec<Value> = tokens.into_iter().enumerate().map(|(i, t)| Value::String(t.unwrap_or_else(|| format!("[PAD{i}]")))).collect();
    let mut merges = Vec::new();
    for m in model.get("merges").and_then(|m| m.as_array()).into_iter().flatten() {
        let text = match m {
            Json::String(s) => s.clone(),
            Json::Array(pair) if pair.len() == 2 => {
                format!("{} {}", pair[0].as_str().unwrap_or_default(), pair[1].as_str().unwrap_or_default())
            }
            other => bail!("{}: merge {other} is neither \"a b\" nor [a, b]", path.display()),
        };
        merges.push(Value::String(text));
    }
    let ids: HashMap<&str, u64> = vocab.iter().filter_map(|(t, id)| id.as_u64().map(|id| (t.as_str(), id))).collect();
    let (add_bos, add_eos) = template_adds(tokenizer.get("post_processor").unwrap_or(&Json::Null));

    let mut md = vec![
        ("tokenizer.ggml.model".to_string(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".to_string(), Value::String(pre.into())),
        ("tokenizer.ggml.tokens".to_string(), Value::Array(tokens)),
        ("tokenizer.ggml.token_type".to_string(), Value::Array(types.into_iter().map(Value::I32).collect())),
        ("tokenizer.ggml.merges".to_string(), Value::Array(merges)),
    ];
    if let Some(bos) = bos {
        md.push(("tokenizer.ggml.bos_token_id".into(), Value::U32(bos)));
    }
    if let Some(eos) = eos {
        md.push(("tokenizer.ggml.eos_token_id".into(), Value::U32(eos)));
    }
    if let Some(unk) = model.get("unk_token").and_then(|u| u.as_str()).and_then(|u| ids.get(u)) {
        md.push(("tokenizer.ggml.unknown_token_id".into(), Value::U32(*unk as u32)));
    }
    md.push(("tokenizer.ggml.add_bos_token".into(), Value::Bool(add_bos)));
    md.push(("tokenizer.ggml.add_eos_token".into(), Value::Bool(add_eos)));
    Ok(md)
}
