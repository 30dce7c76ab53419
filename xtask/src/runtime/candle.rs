//! The candle runtime: oracle-gen running a GGUF through candle-transformers'
//! quantized llama/qwen2 (gpt2 has no quantized model there: SKIP). It makes the
//! whole pipeline testable without apr and is a second opinion in cross-runtime.

use super::{strict_json, Runtime};
use camino::{Utf8Path, Utf8PathBuf};
use tmgt_schema::Arch;
use tmgt_schema::{Generation, Score};

pub struct Candle {
    pub oracle_gen: Utf8PathBuf,
    /// Identity for content hashes: oracle-gen's source hash.
    pub source_hash: String,
    /// candle's version, as Cargo.lock pins it.
    pub candle: String,
    /// Threads each KLD scoring gets (cores / parallel jobs, as for llama.cpp).
    pub threads: usize,
    /// The KLD text's windows candle scores (the roster's `kld_candle_windows`; None:
    /// every window). See `kld_argv`.
    pub kld_windows: Option<usize>,
}

impl Runtime for Candle {
    fn name(&self) -> &'static str {
        "candle"
    }

    fn version(&self) -> Result<String, String> {
        Ok(format!(
            "oracle-gen {} candle {} (source {})",
            env!("CARGO_PKG_VERSION"),
            self.candle,
            &self.source_hash[..12.min(self.source_hash.len())]
        ))
    }

    fn accepts(&self, artifact: &str) -> bool {
        crate::judge::is_gguf(artifact)
    }

    fn supports(&self, arch: Arch) -> Result<(), String> {
        match arch {
            Arch::Gpt2 => Err("candle has no quantized gpt2 model".into()),
            _ => Ok(()),
        }
    }

    fn generate_argv(&self, artifact: &Utf8Path, prompt: &str, max_new: usize, top_k: usize) -> Vec<String> {
        vec![
            self.oracle_gen.to_string(),
            "run-gguf".into(),
            artifact.to_string(),
            "--prompt".into(),
            prompt.into(),
            "--max-new-tokens".into(),
            max_new.to_string(),
            "--top-k".into(),
            top_k.to_string(),
        ]
    }

    fn parse_generation(&self, stdout: &str) -> Result<Generation, String> {
        serde_json::from_value(strict_json(stdout)?).map_err(|e| format!("not a Generation: {e}"))
    }

    fn score_argv(&self, artifact: &Utf8Path, text_file: &Utf8Path, _text: &str) -> Option<Vec<String>> {
        Some(vec![self.oracle_gen.to_string(), "score-gguf".into(), artifact.to_string(), "--text-file".into(), text_file.to_string()])
    }

    fn parse_score(&self, stdout: &str) -> Result<Score, String> {
        serde_json::from_value(strict_json(stdout)?).map_err(|e| format!("not a Score: {e}"))
    }

    /// The first `kld_windows` windows of the KLD text (the real roster: 1):
    /// candle-transformers' quantized models give the last position's logits only, so
    /// candle decodes the text one token a step, and it has no SIMD kernel for Q4_1
    /// (the native GGUF): the whole text took longer than the 600 s a check may on a
    /// two-core machine. Its report's `n` says how many positions it scored.
    fn kld_argv(&self, artifact: &Utf8Path, base: &Utf8Path) -> Option<Vec<String>> {
        let mut argv = vec![self.oracle_gen.to_string(), "kld-gguf".into(), artifact.to_string(), "--base".into(), base.to_string()];
        if let Some(windows) = self.kld_windows {
            argv.extend(["--windows".into(), windows.to_string()]);
        }
        argv.extend(["--threads".into(), self.threads.to_string()]);
        Some(argv)
    }

    fn battery_argv(&self, artifact: &Utf8Path, battery: &Utf8Path) -> Option<Vec<String>> {
        Some(vec![
            self.oracle_gen.to_string(),
            "tokenize".into(),
            "--gguf".into(),
            artifact.to_string(),
            "--battery".into(),
            battery.to_string(),
        ])
    }
}
