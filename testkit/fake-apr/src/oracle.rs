//! The correct engine the fake delegates to for real work: `oracle-gen`, named by
//! `FAKE_APR_ORACLE_GEN` (run-gguf, score, score-gguf, export-gguf); and for the GGUFs
//! of architectures candle does not run correctly (Gemma 3), the llama.cpp comparator
//! named by `FAKE_APR_LLAMACPP` (its `generate`).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use tmgt_schema::{Generation, Score};

pub fn program() -> Option<PathBuf> {
    std::env::var_os("FAKE_APR_ORACLE_GEN").filter(|p| !p.is_empty()).map(PathBuf::from)
}

/// The oracle-gen binary, or an error saying what needed it.
pub fn require(what: &str) -> Result<PathBuf> {
    program()
        .with_context(|| format!("FAKE_APR_ORACLE_GEN is not set: {what} needs oracle-gen (the correct engine this fake delegates to)"))
}

/// Architectures oracle-gen runs and exports as GGUF.
pub fn gguf_capable(arch: &str) -> bool {
    matches!(arch, "llama" | "qwen2")
}

fn call(args: &[String], about: &Path) -> Result<String> {
    let prog = require(&format!("{} on {}", args.first().map(String::as_str).unwrap_or("?"), about.display()))?;
    let out = Command::new(&prog).args(args).output().with_context(|| format!("{}: cannot start oracle-gen", prog.display()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
        bail!("{}: oracle-gen {} failed ({}): {}", about.display(), args.join(" "), out.status, tail.join(" | "));
    }
    String::from_utf8(out.stdout).with_context(|| format!("{}: oracle-gen printed non-UTF-8", about.display()))
}

fn parse<T: serde::de::DeserializeOwned>(stdout: &str, what: &str, about: &Path) -> Result<T> {
    serde_json::from_str(stdout.trim())
        .with_context(|| format!("{}: oracle-gen {what} printed no JSON: {:?}", about.display(), stdout.trim()))
}

pub fn run_gguf(gguf: &Path, prompt: &str, max_new: usize, top_k: usize) -> Result<Generation> {
    let args = vec![
        "run-gguf".into(),
        gguf.display().to_string(),
        "--prompt".into(),
        prompt.into(),
        "--max-new-tokens".into(),
        max_new.to_string(),
        "--top-k".into(),
        top_k.to_string(),
    ];
    parse(&call(&args, gguf)?, "run-gguf", gguf)
}

/// The llama.cpp comparator, when `FAKE_APR_LLAMACPP` names one.
pub fn llamacpp() -> Option<PathBuf> {
    std::env::var_os("FAKE_APR_LLAMACPP").filter(|p| !p.is_empty()).map(PathBuf::from)
}

/// llama.cpp's greedy run on a GGUF (its JSON is a `Generation`).
pub fn run_gguf_llamacpp(program: &Path, gguf: &Path, prompt: &str, max_new: usize, top_k: usize) -> Result<Generation> {
    let out = Command::new(program)
        .args(["generate", "--gguf"])
        .arg(gguf)
        .args(["--prompt", prompt, "--max-new-tokens", &max_new.to_string(), "--top-k", &top_k.to_string()])
        .output()
        .with_context(|| format!("{}: cannot start the llama.cpp comparator", program.display()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!("{}: llamacpp-comparator generate failed ({}): {}", gguf.display(), out.status, stderr.lines().last().unwrap_or(""));
    }
    parse(&String::from_utf8_lossy(&out.stdout), "generate", gguf)
}

pub fn score(reference: &Path, text_file: &Path) -> Result<Score> {
    let args =
        vec!["score".into(), "--model-dir".into(), reference.display().to_string(), "--text-file".into(), text_file.display().to_string()];
    parse(&call(&args, reference)?, "score", reference)
}

pub fn score_gguf(gguf: &Path, text_file: &Path) -> Result<Score> {
    let args = vec!["score-gguf".into(), gguf.display().to_string(), "--text-file".into(), text_file.display().to_string()];
    parse(&call(&args, gguf)?, "score-gguf", gguf)
}

/// `quant`: f32, q8_0, q4_0.
pub fn export_gguf(reference: &Path, quant: &str, out: &Path) -> Result<()> {
    let args = vec![
        "export-gguf".into(),
        reference.display().to_string(),
        "--quant".into(),
        quant.into(),
        "--out".into(),
        out.display().to_string(),
    ];
    call(&args, reference).map(|_| ())
}
