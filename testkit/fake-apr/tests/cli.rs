//! The fake-apr binary end to end, as the harness calls it: import a hand-made
//! reference, run/inspect the .apr from the model folder with bare names, export to
//! GGUF and re-import it, and one check per defect. No oracle-gen is needed: the
//! `.apr` paths replay goldens, and where a delegation is exercised a tiny shell
//! script stands in for oracle-gen.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use tmgt_schema::{Golden, GoldenInputs, OracleInfo, Settings, StopReason, TokenLogprob};

const BIN: &str = env!("CARGO_BIN_EXE_fake-apr");
const FRANCE: &str = "The capital of France is";
const HELLO: &str = "Hello, my name is";

struct World {
    root: PathBuf,
    reference: PathBuf,
    model_dir: PathBuf,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn temp_root(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("fake-apr-it-{}-{}-{name}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// safetensors by hand: 8-byte header length, JSON header, f32 data.
fn write_safetensors(path: &Path, tensors: &[(String, Vec<usize>)]) {
    let mut header = serde_json::Map::new();
    let mut data: Vec<u8> = Vec::new();
    for (name, shape) in tensors {
        let start = data.len();
        for i in 0..shape.iter().product::<usize>() {
            data.extend_from_slice(&((i as f32 * 0.61).cos()).to_le_bytes());
        }
        header.insert(name.clone(), json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}));
    }
    let mut h = serde_json::to_vec(&Value::Object(header)).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut bytes = (h.len() as u64).to_le_bytes().to_vec();
    bytes.extend(h);
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap();
}

fn golden(prompt: &str, name: &str, tokens: Vec<u32>, text: &str, stop: StopReason) -> Golden {
    let settings = Settings { max_new_tokens: tokens.len(), ignore_eos: false, top_k: 2, dtype: "f32".into(), device: "cpu".into() };
    let oracle = OracleInfo {
        name: "oracle-gen".into(),
        version: "0.1.0".into(),
        candle_version: "0.11.1".into(),
        dtype: "f32".into(),
        device: "cpu".into(),
    };
    Golden {
        schema_version: 1,
        model: "hand-made".into(),
        model_slug: "tiny".into(),
        prompt: prompt.into(),
        prompt_file: format!("prompts/{name}.txt"),
        runtime: "candle".into(),
        format: "float32".into(),
        token_count: tokens.len(),
        max_new_tokens: tokens.len(),
        top_logprobs: tokens.iter().map(|&t| vec![TokenLogprob { id: t, logprob: -0.25 }, TokenLogprob { id: 0, logprob: -3.0 }]).collect(),
        tokens,
        text: text.into(),
        do_sample: false,
        prompt_tokens: vec![1, 4, 5],
        stop_reason: stop,
        oracle,
        inputs: GoldenInputs { files: BTreeMap::new(), prompt_sha256: "p".into(), settings, cache_key: "k".into() },
        host: None,
    }
}

/// `<root>/models/tiny/reference` (llama, 2 layers, hidden 32, vocab 64, tied) and
/// `<root>/goldens/tiny/{completion,greeting}.json`.
fn world(name: &str) -> World {
    let root = temp_root(name);
    let reference = root.join("models/tiny/reference");
    std::fs::create_dir_all(&reference).unwrap();
    std::fs::write(
        reference.join("config.json"),
        r#"{"model_type":"llama","vocab_size":64,"hidden_size":32,"intermediate_size":64,"num_hidden_layers":2,
            "num_attention_heads":4,"num_key_value_heads":2,"max_position_embeddings":128,"rope_theta":10000.0,
            "tie_word_embeddings":true,"bos_token_id":1,"eos_token_id":2}"#,
    )
    .unwrap();
    let mut tensors = vec![("model.embed_tokens.weight".to_string(), vec![64, 32]), ("model.norm.weight".into(), vec![32])];
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
            tensors.push((format!("model.layers.{i}.{part}.weight"), shape));
        }
    }
    write_safetensors(&reference.join("model.safetensors"), &tensors);
    let tokenizer = json!({
        "added_tokens": [{"id": 1, "content": "<s>", "special": true}, {"id": 2, "content": "</s>", "special": true}],
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "Ġ": 3, "P": 4, "aris": 5, ".": 6, "Ċ": 7, "Ġis": 8}}
    });
    std::fs::write(reference.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    let goldens = root.join("goldens/tiny");
    std::fs::create_dir_all(&goldens).unwrap();
    golden(FRANCE, "completion", vec![3, 4, 5, 6, 2], " Paris.", StopReason::Eos).write(&goldens.join("completion.json")).unwrap();
    golden(HELLO, "greeting", vec![8, 8, 8, 8], " is is is is", StopReason::Length).write(&goldens.join("greeting.json")).unwrap();
    let model_dir = root.join("models/tiny");
    World { root, reference, model_dir }
}

fn apr(w: &World, defect: &str, args: &[&str]) -> Output {
    apr_env(w, defect, args, &[])
}

fn apr_env(w: &World, defect: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).current_dir(&w.model_dir).env_remove("FAKE_APR_ORACLE_GEN").env_remove("FAKE_APR_STEP");
    c.env("FAKE_APR_DEFECT", defect).env("FAKE_APR_GOLDENS", w.root.join("goldens"));
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout {}\nstderr {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// As the harness converts: to `.tmp-<name>`, renamed on success.
fn import(w: &World, defect: &str, quant: &str) -> Output {
    let tmp = format!(".tmp-{quant}.apr");
    let out = apr(w, defect, &["import", w.reference.to_str().unwrap(), "--quantize", quant, "-o", &tmp, "--offline"]);
    if out.status.success() {
        std::fs::rename(w.model_dir.join(&tmp), w.model_dir.join(format!("{quant}.apr"))).unwrap();
    }
    out
}

fn run(w: &World, defect: &str, file: &str, prompt: &str, n: usize) -> Output {
    apr(w, defect, &["run", file, "-p", prompt, "-n", &n.to_string(), "--json", "--offline"])
}

#[test]
fn version_names_the_defect() {
    let w = world("version");
    let out = apr(&w, "", &["--version"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "apr 0.72.3 (fake-perfect)");
    let out = apr(&w, "wrong-token", &["--version"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "apr 0.72.3 (fake-wrong-token)");
    let out = apr(&w, "no-such-defect", &["--version"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no-such-defect"));
    let help = apr(&w, "", &["--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("eos-then-more"));
}

#[test]
fn perfect_import_run_inspect_export_roundtrip() {
    let w = world("perfect");
    for q in ["int8", "int4"] {
        let out = import(&w, "perfect", q);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let r = ok_json(&run(&w, "perfect", "int8.apr", FRANCE, 32));
    assert_eq!(r["tokens"], json!([3, 4, 5, 6, 2]));
    assert_eq!(r["text"], " Paris.");
    assert_eq!((r["finish_reason"].clone(), r["prompt_tokens"].clone(), r["logprobs"].clone()), (json!("eos"), json!(3), Value::Null));
    assert_eq!((r["status"].clone(), r["error"].clone()), (json!("ok"), Value::Null));
    let r = ok_json(&run(&w, "perfect", "int4.apr", HELLO, 4));
    assert_eq!(
        (r["tokens"].clone(), r["text"].clone(), r["finish_reason"].clone()),
        (json!([8, 8, 8, 8]), json!(" is is is is"), json!("length"))
    );

    let i = ok_json(&apr(&w, "perfect", &["inspect", "int4.apr", "--json"]));
    assert_eq!((i["architecture"].clone(), i["num_layers"].clone(), i["tensor_count"].clone()), (json!("llama"), json!(2), json!(20)));
    assert_eq!((i["flags"]["quantized"].clone(), i["metadata"]["name"].clone()), (json!(true), json!("int4")));
    for args in [
        &["validate", "int8.apr", "--json"][..],
        &["tensors", "int8.apr", "--json"],
        &["lint", "int8.apr", "--json"],
        &["check", "int8.apr", "--json"],
        &["tree", "int8.apr", "--json"],
        &["oracle", "int8.apr", "--json"],
        &["hex", "int8.apr", "--stats", "--limit", "4", "--json"],
        &["debug", "int8.apr", "--json"],
        &["bench", "int8.apr", "--json", "--iterations", "1", "--warmup", "0", "--max-tokens", "8"],
        &[
            "qa",
            "int8.apr",
            "--json",
            "--skip-ollama",
            "--skip-gpu-speedup",
            "--skip-ptx-parity",
            "--skip-gpu-state",
            "--skip-capability",
            "--iterations",
            "1",
            "--warmup",
            "0",
            "--max-tokens",
            "8",
        ],
        &["diff", "int8.apr", "int4.apr", "--json"],
        &["rosetta", "diff-tensors", "int8.apr", "int4.apr", "--json"],
        &["parity", "int8.apr", "--assert", "--json", "--some-future-flag"],
    ] {
        ok_json(&apr(&w, "perfect", args));
    }
    let l = ok_json(&apr(&w, "perfect", &["list", "--json"]));
    assert_eq!(l["total"], 2);
    assert_eq!(l["models"].as_array().unwrap().len(), 2);

    // export int4 → GGUF (the fake's own writer: no oracle-gen here), then re-import.
    let out = apr(&w, "perfect", &["export", "int4.apr", "--format", "gguf", "-o", ".tmp-int4.gguf", "--offline"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::rename(w.model_dir.join(".tmp-int4.gguf"), w.model_dir.join("int4.gguf")).unwrap();
    let g = ok_json(&apr(&w, "perfect", &["inspect", "int4.gguf", "--json"]));
    assert_eq!((g["format"].clone(), g["quantization"].clone(), g["tensor_count"].clone()), (json!("GGUF"), json!("Q4_0"), json!(20)));
    assert_eq!(g["metadata"]["fake_apr.reference"], json!(std::fs::canonicalize(&w.reference).unwrap().to_str().unwrap()));
    let t = ok_json(&apr(&w, "perfect", &["tensors", "int4.gguf", "--json"]));
    assert_eq!(t["format_version"], "GGUF v3");
    let gguf_abs = w.model_dir.join("int4.gguf");
    let out = apr(&w, "perfect", &["import", gguf_abs.to_str().unwrap(), "-o", "roundtrip.apr", "--offline"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rt = ok_json(&run(&w, "perfect", "roundtrip.apr", FRANCE, 32));
    assert_eq!(rt["tokens"], json!([3, 4, 5, 6, 2]), "the roundtrip replays the same golden");
    // run on the GGUF without oracle-gen: the golden, with apr's logprobs block.
    let out = apr(&w, "perfect", &["run", "int4.gguf", "-p", FRANCE, "-n", "32", "--json", "--offline", "--logprobs", "2"]);
    let gr = ok_json(&out);
    assert_eq!(gr["logprobs"]["prompt_token_ids"], json!([1, 4, 5]));
    assert_eq!(gr["logprobs"]["steps"][0]["top"][0]["token_id"], 3);
    assert_eq!(gr["context_length"], 128);
}

#[test]
fn generation_defects() {
    let w = world("gen-defects");
    assert!(import(&w, "perfect", "int8").status.success());
    let wrong = ok_json(&run(&w, "wrong-token", "int8.apr", FRANCE, 32));
    assert_eq!(wrong["tokens"], json!([3, 5, 5, 6, 2]), "step 1: 4 -> 5");
    assert_eq!(wrong["text"], " arisaris.", "respelled through tokenizer.json");
    let trimmed = ok_json(&run(&w, "trim-text", "int8.apr", FRANCE, 32));
    assert_eq!((trimmed["text"].clone(), trimmed["tokens"].clone()), (json!("Paris."), json!([3, 4, 5, 6, 2])));
    let bos = ok_json(&run(&w, "bos", "int8.apr", FRANCE, 32));
    assert_eq!((bos["prompt_tokens"].clone(), bos["tokens"].clone()), (json!(4), json!([3, 4, 5, 6, 2])));
    let more = ok_json(&run(&w, "eos-then-more", "int8.apr", FRANCE, 8));
    let tokens: Vec<u64> = more["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap()).collect();
    assert_eq!(tokens.len(), 8);
    assert_eq!(tokens[1], 2, "EOS at step 1");
    assert!(tokens[2..].iter().all(|&t| t != 2), "{tokens:?}");
    assert_eq!(more["finish_reason"], "length");
    let non_json = run(&w, "non-json", "int8.apr", FRANCE, 32);
    assert!(non_json.status.success());
    let stdout = String::from_utf8_lossy(&non_json.stdout).to_string();
    assert!(serde_json::from_str::<Value>(&stdout).is_err());
    assert!(serde_json::from_str::<Value>(stdout.split_once('\n').unwrap().1).is_ok(), "the JSON follows the log line");
    let crash = run(&w, "crash-run", "int8.apr", FRANCE, 32);
    assert_eq!(crash.status.code(), Some(101));
    assert!(String::from_utf8_lossy(&crash.stderr).contains("panicked at src/apr_transformer/"));
    // FAKE_APR_STEP moves the defect.
    let mut c = Command::new(BIN);
    c.args(["run", "int8.apr", "-p", FRANCE, "-n", "32", "--json"]).current_dir(&w.model_dir).env_remove("FAKE_APR_ORACLE_GEN");
    c.env("FAKE_APR_DEFECT", "wrong-token").env("FAKE_APR_STEP", "3").env("FAKE_APR_GOLDENS", w.root.join("goldens/tiny"));
    assert_eq!(ok_json(&c.output().unwrap())["tokens"], json!([3, 4, 5, 7, 2]));
}

#[test]
fn hang_never_returns() {
    let w = world("hang");
    assert!(import(&w, "perfect", "int8").status.success());
    let mut child = Command::new(BIN)
        .args(["run", "int8.apr", "-p", FRANCE, "-n", "32", "--json"])
        .current_dir(&w.model_dir)
        .env("FAKE_APR_DEFECT", "hang")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert!(child.try_wait().unwrap().is_none(), "still running");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn conversion_and_structure_defects() {
    let w = world("conv-defects");
    let out = import(&w, "crash-import", "int8");
    assert_eq!(out.status.code(), Some(101));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("thread 'main' (") && err.contains(") panicked at src/format/converter.rs:42:9:\n"), "{err}");
    assert!(!w.model_dir.join(".tmp-int8.apr").exists() && !w.model_dir.join("int8.apr").exists());

    assert!(import(&w, "renamed-tensor", "int8").status.success());
    let t = ok_json(&apr(&w, "perfect", &["tensors", "int8.apr", "--json"]));
    let names: Vec<&str> = t["tensors"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"blk.0.attn_qq.weight") && !names.contains(&"blk.0.attn_q.weight"));
    assert_eq!(t["tensor_count"], 20);

    assert!(import(&w, "perfect", "int4").status.success());
    let out = apr(&w, "json-nonzero", &["inspect", "int4.apr", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap()["tensor_count"], 20);
    let c = ok_json(&apr(&w, "empty-stages", &["check", "int4.apr", "--json"]));
    assert_eq!(c["stages"], json!([]));
    let v = ok_json(&apr(&w, "empty-stages", &["validate", "int4.apr", "--json"]));
    assert_eq!((v["checks"].clone(), v["checks_ran"].clone()), (json!([]), json!(0)));

    let out = apr(&w, "f32-export", &["export", "int4.apr", "--format", "gguf", "-o", "int4.gguf"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let g = ok_json(&apr(&w, "perfect", &["inspect", "int4.gguf", "--json"]));
    assert_eq!(g["quantization"], "F32");
}

/// A stand-in for oracle-gen: prints fixed Score / Generation JSON.
fn fake_oracle(w: &World) -> PathBuf {
    let path = w.root.join("oracle-gen.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\ncase \"$1\" in\n\
         score) echo '{\"perplexity\": 12.5, \"token_count\": 10, \"mean_nll\": 2.5257}';;\n\
         score-gguf) echo '{\"perplexity\": 13.5, \"token_count\": 10, \"mean_nll\": 2.6027}';;\n\
         run-gguf) echo '{\"tokens\":[8,8,2],\"text\":\" is is\",\"prompt_tokens\":[1,4,5],\"top_logprobs\":[[{\"id\":8,\"logprob\":-0.5}],[{\"id\":8,\"logprob\":-0.6}],[{\"id\":2,\"logprob\":-0.1}]],\"finish_reason\":\"eos\",\"tokens_per_second\":9.0}';;\n\
         *) echo \"oracle-gen: error: $1 not faked\" >&2; exit 1;;\nesac\n",
    )
    .unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
    path
}

#[test]
fn eval_and_gguf_run_delegate_to_oracle_gen() {
    let w = world("delegate");
    assert!(import(&w, "perfect", "int8").status.success());
    let oracle = fake_oracle(&w);
    let env = [("FAKE_APR_ORACLE_GEN", oracle.as_path())];
    let eval_args = ["eval", "int8.apr", "--dataset", "custom", "--text", "Some text.", "--threshold", "1000000", "--json", "--offline"];
    let e = ok_json(&apr_env(&w, "perfect", &eval_args, &env));
    assert_eq!(
        (e["perplexity"].clone(), e["cross_entropy"].clone(), e["tokens_evaluated"].clone()),
        (json!(12.5), json!(2.5257), json!(10))
    );
    let nan = ok_json(&apr_env(&w, "nan-ppl", &eval_args, &env));
    assert_eq!(nan["perplexity"], Value::Null);
    let crash = apr_env(&w, "crash-run", &eval_args, &env);
    assert_eq!(crash.status.code(), Some(101));
    let above = apr_env(&w, "perfect", &["eval", "int8.apr", "--text", "x", "--threshold", "10", "--json"], &env);
    assert_eq!(above.status.code(), Some(5), "apr exits 5 above its threshold");
    // apr 0.72.3 parses the threshold as f32: one that overflows to inf is refused.
    let inf = apr_env(&w, "perfect", &["eval", "int8.apr", "--text", "x", "--threshold", "1e300", "--json"], &env);
    assert!(!inf.status.success() && String::from_utf8_lossy(&inf.stderr).contains("invalid value '1e300'"));
    let no_oracle = apr(&w, "perfect", &eval_args);
    assert!(!no_oracle.status.success() && String::from_utf8_lossy(&no_oracle.stderr).contains("FAKE_APR_ORACLE_GEN"));

    // A GGUF oracle-gen runs (llama): the fake's own export here, oracle-gen faked.
    assert!(import(&w, "perfect", "int4").status.success());
    assert!(apr(&w, "perfect", &["export", "int4.apr", "-o", "int4.gguf"]).status.success());
    let run_args = ["run", "int4.gguf", "-p", HELLO, "-n", "32", "--json", "--offline", "--logprobs", "1"];
    let g = ok_json(&apr_env(&w, "perfect", &run_args, &env));
    assert_eq!((g["tokens"].clone(), g["text"].clone(), g["finish_reason"].clone()), (json!([8, 8, 2]), json!(" is is"), json!("eos")));
    assert_eq!(g["logprobs"]["steps"][1]["chosen_logprob"], json!(-0.6f32 as f64));
    let bos = ok_json(&apr_env(&w, "bos", &run_args, &env));
    assert_eq!(bos["logprobs"]["prompt_token_ids"], json!([1, 1, 4, 5]));
    let wrong = ok_json(&apr_env(&w, "wrong-token", &run_args, &env));
    assert_eq!(wrong["tokens"], json!([8, 9, 2]));
}

#[test]
fn errors_name_the_file_and_the_reason() {
    let w = world("errors");
    let out = apr(&w, "perfect", &["inspect", "missing.apr", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.apr: no such file"));
    std::fs::write(w.model_dir.join("real.apr"), b"APR\0binary").unwrap();
    let out = apr(&w, "perfect", &["inspect", "real.apr", "--json"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("real.apr: not a fake-apr .apr file"));
    assert!(import(&w, "perfect", "int8").status.success());
    let out = run(&w, "perfect", "int8.apr", "an unknown prompt", 32);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no golden for the prompt \"an unknown prompt\"") && err.contains("goldens/tiny"),
        "{err}"
    );
    let out = apr(&w, "perfect", &["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}
