//! Helpers for the unit tests: fresh temporary folders and small goldens.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use tmgt_schema::{Golden, GoldenInputs, OracleInfo, Settings, StopReason, TokenLogprob};

/// A folder removed when dropped.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A new empty folder under the system temp dir, unique per process and call.
pub fn temp_dir(name: &str) -> TempDir {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("fake-apr-unit-{}-{}-{name}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    TempDir(dir)
}

/// A golden for `prompt` with prompt ids [1, 2] and a top-2 list for step 0 only.
pub fn sample_golden(prompt: &str, tokens: Vec<u32>, text: &str, eos: bool) -> Golden {
    let settings = Settings { max_new_tokens: 32, ignore_eos: false, top_k: 2, dtype: "f32".into(), device: "cpu".into() };
    let oracle = OracleInfo {
        name: "oracle-gen".into(),
        version: "0.1.0".into(),
        candle_version: "0.11.1".into(),
        dtype: "f32".into(),
        device: "cpu".into(),
    };
    let first = tokens.first().copied().unwrap_or(0);
    Golden {
        schema_version: tmgt_schema::golden::SCHEMA_VERSION,
        model: "test".into(),
        model_slug: "tiny".into(),
        prompt: prompt.into(),
        prompt_file: "prompts/x.txt".into(),
        runtime: "candle".into(),
        format: "float32".into(),
        token_count: tokens.len(),
        tokens,
        text: text.into(),
        max_new_tokens: 32,
        do_sample: false,
        prompt_tokens: vec![1, 2],
        stop_reason: if eos { StopReason::Eos } else { StopReason::Length },
        top_logprobs: vec![vec![TokenLogprob { id: first, logprob: -0.1 }, TokenLogprob { id: 7, logprob: -2.5 }]],
        oracle,
        inputs: GoldenInputs { files: BTreeMap::new(), prompt_sha256: "p".into(), settings, cache_key: "k".into() },
        host: None,
    }
}

/// A tiny llama reference checkpoint at `<root>/models/tiny/reference` (config.json,
/// model.safetensors, tokenizer.json): 2 layers, hidden 32, vocab 64, tied.
pub fn tiny_reference(root: &std::path::Path) -> PathBuf {
    let dir = root.join("models/tiny/reference");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        r#"{"model_type":"llama","vocab_size":64,"hidden_size":32,"intermediate_size":64,"num_hidden_layers":2,
            "num_attention_heads":4,"num_key_value_heads":2,"max_position_embeddings":128,"rope_theta":10000.0,
            "tie_word_embeddings":true,"bos_token_id":1,"eos_token_id":2}"#,
    )
    .unwrap();
    let mut shapes: Vec<(String, Vec<usize>)> =
        vec![("model.embed_tokens.weight".into(), vec![64, 32]), ("model.norm.weight".into(), vec![32])];
    for i in 0..2 {
        for (part, shape) in [
            ("input_layernorm", vec![32]),
            ("post_attention_layernorm", vec![32]),
            ("self_attn.q_proj", vec![32, 32]),
            ("self_attn.k_proj", vec![16, 32]),
            ("self_attn.v_proj", vec![16, 32]),
            ("self_attn.o_proj", vec![32, 32]),
            ("mlp.gate_proj", vec![64, 32]),
            ("mlp.up_proj", vec![64, 32]),
            ("mlp.down_proj", vec![32, 64]),
        ] {
            shapes.push((format!("model.layers.{i}.{part}.weight"), shape));
        }
    }
    let tensors: Vec<(&str, Vec<usize>, Vec<f32>)> = shapes
        .iter()
        .map(|(n, s)| (n.as_str(), s.clone(), (0..s.iter().product::<usize>()).map(|i| (i as f32 * 0.37).sin()).collect()))
        .collect();
    crate::safetensors::write_f32(&dir.join("model.safetensors"), &tensors).unwrap();
    std::fs::write(dir.join("tokenizer.json"), crate::detok::tests_support::tiny_byte_level().to_string()).unwrap();
    dir
}

/// The captured apr 0.72.3 output `name` (xtask/tests/fixtures/apr-0.72.3/).
pub fn apr_fixture(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../xtask/tests/fixtures/apr-0.72.3").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// Where `ours` does not have `fixture`'s shape: object keys (same set, same order),
/// arrays by their first elements, scalars by JSON type (null matches anything).
pub fn shape_differences(fixture: &serde_json::Value, ours: &serde_json::Value, at: &str, skip: &[&str]) -> Vec<String> {
    use serde_json::Value as V;
    if skip.contains(&at) {
        return Vec::new();
    }
    match (fixture, ours) {
        (V::Null, _) | (_, V::Null) => Vec::new(),
        (V::Object(f), V::Object(o)) => {
            let (fk, ok): (Vec<&String>, Vec<&String>) = (f.keys().collect(), o.keys().collect());
            if fk != ok {
                return vec![format!("{at}: keys {fk:?} vs ours {ok:?}")];
            }
            f.iter().flat_map(|(k, v)| shape_differences(v, &o[k], &format!("{at}.{k}"), skip)).collect()
        }
        (V::Array(f), V::Array(o)) => match (f.first(), o.first()) {
            (Some(a), Some(b)) => shape_differences(a, b, &format!("{at}[0]"), skip),
            _ => Vec::new(),
        },
        (V::Number(_), V::Number(_)) | (V::String(_), V::String(_)) | (V::Bool(_), V::Bool(_)) => Vec::new(),
        (f, o) => vec![format!("{at}: {f} vs ours {o}")],
    }
}
