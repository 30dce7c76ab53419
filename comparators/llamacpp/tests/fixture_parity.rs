//! The comparator against the oracle on the tiny llama and qwen2 fixtures: oracle-gen
//! writes the fixture and exports it to an f32 GGUF; llama.cpp must then encode every
//! prompt to the golden's prompt ids, generate the golden's tokens and text, give
//! top-k logprobs within 1e-3 of the golden's, and score `data/ppl.txt` to the
//! oracle's perplexity. Also: `tokenize`, `--logprobs-out` and `quantize` end to end.
//!
//! Needs oracle-gen: $TMGT_ORACLE_GEN, else the workspace's target/debug/oracle-gen
//! (built here with `cargo build --package oracle-gen` when missing).

use llamacpp_comparator::read_logprobs;
use std::path::{Path, PathBuf};
use std::process::Command;
use tmgt_schema::{Generation, Golden, Score};

const COMPARATOR: &str = env!("CARGO_BIN_EXE_llamacpp-comparator");
const LOGPROB_TOLERANCE: f32 = 1e-3;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn oracle_gen() -> PathBuf {
    if let Ok(p) = std::env::var("TMGT_ORACLE_GEN") {
        return PathBuf::from(p);
    }
    let root = root();
    let bin = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target")).join("debug/oracle-gen");
    if !bin.is_file() {
        let status = Command::new("cargo")
            .args(["build", "--quiet", "--package", "oracle-gen"])
            .current_dir(&root)
            .env_remove("CARGO_TARGET_DIR")
            .status()
            .expect("cargo starts");
        assert!(status.success(), "cargo build --package oracle-gen failed in {}", root.display());
    }
    assert!(bin.is_file(), "{}: no oracle-gen binary", bin.display());
    bin
}

/// Runs a command, panics with its command line, exit code and stderr on failure.
fn run(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{}: cannot start: {e}", program.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "`{} {}` exited with {:?}:\n{stderr}", program.display(), args.join(" "), out.status.code());
    String::from_utf8(out.stdout).expect("UTF-8 stdout")
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("llamacpp-comparator-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn goldens(slug: &str) -> Vec<Golden> {
    let dir = root().join("goldens").join(slug);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no goldens", dir.display());
    files.iter().map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap()).collect()
}

/// Writes the fixture and its f32 GGUF; checks the goldens were made from these bytes.
fn fixture_gguf(arch: &str, tmp: &Path, goldens: &[Golden]) -> (PathBuf, PathBuf) {
    let og = oracle_gen();
    let dir = tmp.join(arch);
    run(&og, &["fixture", "--arch", arch, "--out", dir.to_str().unwrap()]);
    for g in goldens {
        for (file, want) in &g.inputs.files {
            let got = tmgt_schema::sha256_file(&dir.join(file)).unwrap();
            assert_eq!(&got, want, "goldens/{}: {file} differs from today's fixture: regenerate the goldens", g.model_slug);
        }
    }
    let gguf = tmp.join(format!("{arch}-f32.gguf"));
    run(&og, &["export-gguf", dir.to_str().unwrap(), "--out", gguf.to_str().unwrap(), "--quant", "f32"]);
    (dir, gguf)
}

fn assert_matches_golden(g: &Golden, got: &Generation) {
    let what = format!("{}/{}", g.model_slug, g.prompt_file);
    assert_eq!(got.prompt_tokens.as_ref(), Some(&g.prompt_tokens), "{what}: prompt ids");
    assert_eq!(got.tokens.as_ref(), Some(&g.tokens), "{what}: generated ids");
    assert_eq!(got.text, g.text, "{what}: text");
    let eos = matches!(g.stop_reason, tmgt_schema::StopReason::Eos);
    assert_eq!(got.finish_reason.as_deref(), Some(if eos { "eos" } else { "length" }), "{what}: finish reason");
    let top = got.top_logprobs.as_ref().expect("top_logprobs");
    assert_eq!(top.len(), g.top_logprobs.len(), "{what}: steps with logprobs");
    for (step, (mine, theirs)) in top.iter().zip(&g.top_logprobs).enumerate() {
        assert_eq!(mine.len(), theirs.len(), "{what} step {step}: k");
        assert_eq!(mine[0].id, theirs[0].id, "{what} step {step}: top-1");
        let kth = mine.last().unwrap().logprob;
        for t in theirs {
            match mine.iter().find(|m| m.id == t.id) {
                Some(m) => assert!(
                    (m.logprob - t.logprob).abs() <= LOGPROB_TOLERANCE,
                    "{what} step {step} id {}: llama.cpp {} vs oracle {}",
                    t.id,
                    m.logprob,
                    t.logprob
                ),
                // Only a near-tie at the k-th place may swap an id out of the list.
                None => assert!((t.logprob - kth).abs() <= LOGPROB_TOLERANCE, "{what} step {step}: oracle's id {} missing", t.id),
            }
        }
    }
}

#[test]
fn version_is_json_with_the_vendored_sources_named() {
    let v: serde_json::Value = serde_json::from_str(&run(Path::new(COMPARATOR), &["version"])).unwrap();
    assert_eq!(v["llama_cpp_2"], "0.1.160");
    assert_eq!(v["llama_cpp_sys_2"], "0.1.161");
    let sha = v["llama_cpp_sources_sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64, "the vendored sources were not found at build time: {v}");
    assert!(v["summary"].as_str().unwrap().contains(&sha[..12]));
}

#[test]
fn llama_and_qwen2_fixtures_reproduce_their_goldens() {
    let tmp = TempDir::new("fixtures");
    for arch in ["llama", "qwen2"] {
        let gs = goldens(&format!("tiny-{arch}"));
        let (dir, gguf) = fixture_gguf(arch, &tmp.0, &gs);
        let gguf_s = gguf.to_str().unwrap();
        for g in &gs {
            let out = run(
                Path::new(COMPARATOR),
                &[
                    "generate",
                    "--gguf",
                    gguf_s,
                    "--prompt",
                    &g.prompt,
                    "--max-new-tokens",
                    &g.max_new_tokens.to_string(),
                    "--top-k",
                    &g.inputs.settings.top_k.to_string(),
                ],
            );
            assert_matches_golden(g, &serde_json::from_str(&out).unwrap());
        }

        // tokenize: llama.cpp's own tokenizer, as the oracle encodes (no BOS here).
        let ids: Vec<u32> =
            serde_json::from_str(&run(Path::new(COMPARATOR), &["tokenize", "--gguf", gguf_s, "--text", &gs[0].prompt, "--add-special"]))
                .unwrap();
        assert_eq!(ids, gs[0].prompt_tokens, "{arch}: tokenize");

        // score: the oracle's perplexity on the same text, and the logprobs matrix.
        let text = root().join("data/ppl.txt");
        let lp_path = tmp.0.join(format!("{arch}.logprobs"));
        let mine: Score = serde_json::from_str(&run(
            Path::new(COMPARATOR),
            &["score", "--gguf", gguf_s, "--text-file", text.to_str().unwrap(), "--logprobs-out", lp_path.to_str().unwrap()],
        ))
        .unwrap();
        let oracle: Score = serde_json::from_str(&run(
            &oracle_gen(),
            &["score", "--model-dir", dir.to_str().unwrap(), "--text-file", text.to_str().unwrap()],
        ))
        .unwrap();
        assert_eq!(mine.token_count, oracle.token_count, "{arch}: scored positions");
        let (a, b) = (mine.mean_nll.unwrap(), oracle.mean_nll.unwrap());
        assert!((a - b).abs() < 1e-3, "{arch}: mean NLL llama.cpp {a} vs oracle {b}");
        let (header, data) = read_logprobs(&lp_path).unwrap();
        assert_eq!(Some(header.n_positions), mine.token_count);
        assert_eq!(data.len(), header.n_positions * header.n_vocab);
        let mut nll = 0.0f64;
        for (i, row) in data.chunks(header.n_vocab).enumerate() {
            let total: f64 = row.iter().map(|&l| (l as f64).exp()).sum();
            assert!((total - 1.0).abs() < 1e-4, "{arch}: row {i} sums to {total}");
            nll -= row[header.token_ids[i + 1] as usize] as f64;
        }
        assert!((nll / header.n_positions as f64 - a).abs() < 1e-5, "{arch}: the matrix disagrees with the score");
    }
}

#[test]
fn quantize_writes_a_gguf_llama_cpp_runs() {
    let tmp = TempDir::new("quantize");
    let gs = goldens("tiny-llama");
    let (_dir, gguf) = fixture_gguf("llama", &tmp.0, &gs);
    let out = tmp.0.join("q8_0.gguf");
    let report: serde_json::Value = serde_json::from_str(&run(
        Path::new(COMPARATOR),
        &["quantize", "--in", gguf.to_str().unwrap(), "--out", out.to_str().unwrap(), "--type", "q8_0"],
    ))
    .unwrap();
    assert_eq!(report["type"], "q8_0");
    assert!(out.is_file() && std::fs::metadata(&out).unwrap().len() < std::fs::metadata(&gguf).unwrap().len());
    let leftovers: Vec<_> =
        std::fs::read_dir(&tmp.0).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".tmp")).collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    let g: Generation = serde_json::from_str(&run(
        Path::new(COMPARATOR),
        &["generate", "--gguf", out.to_str().unwrap(), "--prompt", &gs[0].prompt, "--max-new-tokens", "8"],
    ))
    .unwrap();
    assert_eq!(g.prompt_tokens.as_ref(), Some(&gs[0].prompt_tokens));
    assert!(!g.tokens.unwrap().is_empty());

    // Errors name the file.
    let bad = Command::new(COMPARATOR).args(["generate", "--gguf", "/nonexistent.gguf", "--prompt", "x"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/nonexistent.gguf"));
    let bad = Command::new(COMPARATOR)
        .args(["quantize", "--in", gguf.to_str().unwrap(), "--out", out.to_str().unwrap(), "--type", "q3_xx"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("q3_xx"));
}
