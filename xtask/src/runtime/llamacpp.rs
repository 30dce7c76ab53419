//! llama.cpp as a comparator: `llamacpp-comparator` (comparators/llamacpp, llama.cpp
//! vendored by the pinned llama-cpp-2 crate and built from source) runs a GGUF and
//! answers in the harness's own JSON (Generation, Score): prompt ids, generated ids,
//! per-step top-k logprobs. Found at $TMGT_LLAMACPP or where its build leaves it
//! (`crate::comparator`); absent, every observation is SKIP with the command that
//! builds it.

use super::{strict_json, Runtime};
use crate::runner::{self, RunOptions};
use camino::{Utf8Path, Utf8PathBuf};
use std::time::Duration;
use tmgt_schema::{Generation, Score};

pub struct LlamaCpp {
    /// The comparator binary; None when it is not built.
    pub program: Option<String>,
    /// llama.cpp threads per process: the machine's cores shared by the parallel jobs.
    /// ggml's workers spin while they wait, so two 2-thread processes on 2 cores ran
    /// about 10× slower than two 1-thread ones.
    pub threads: usize,
}

impl LlamaCpp {
    pub fn detect(parallel_jobs: usize) -> LlamaCpp {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        LlamaCpp { program: crate::comparator::find_bin(&root()).map(|p| p.to_string()), threads: threads_per_job(cores, parallel_jobs) }
    }

    /// `llamacpp-comparator version`, whole (for evidence): crate versions, ggml's
    /// version, the vendored sources' sha256, the numeric settings.
    pub fn version_json(&self) -> Result<serde_json::Value, String> {
        let program = self.program.clone().ok_or_else(|| crate::comparator::not_built_reason(&root()))?;
        let inv = runner::run(&[program.clone(), "version".into()], &RunOptions::with_timeout(Duration::from_secs(30)));
        runner::check(&inv).map_err(|e| e.to_string())?;
        strict_json(&inv.stdout).map_err(|e| format!("`{program} version`: {e}"))
    }
}

fn root() -> Utf8PathBuf {
    crate::project::Project::locate().map(|p| p.root).unwrap_or_else(|_| Utf8PathBuf::from("."))
}

/// The one-line identity from `version` JSON: its `summary`, plus the comparator's own
/// source hash so a change to the comparator invalidates cached observations.
pub fn version_line(v: &serde_json::Value) -> Result<String, String> {
    let summary = v.get("summary").and_then(|s| s.as_str()).ok_or_else(|| format!("version JSON has no `summary`: {v}"))?;
    let own = v.get("comparator_source_sha256").and_then(|s| s.as_str()).unwrap_or("unknown");
    Ok(format!("{summary}; comparator {} (source {})", v.get("version").and_then(|s| s.as_str()).unwrap_or("?"), &own[..own.len().min(12)]))
}

impl Runtime for LlamaCpp {
    fn name(&self) -> &'static str {
        crate::judge::LLAMACPP
    }

    fn version(&self) -> Result<String, String> {
        version_line(&self.version_json()?)
    }

    fn accepts(&self, artifact: &str) -> bool {
        crate::judge::is_gguf(artifact)
    }

    fn generate_argv(&self, artifact: &Utf8Path, prompt: &str, max_new: usize, top_k: usize) -> Vec<String> {
        vec![
            self.program.clone().unwrap_or_else(|| crate::comparator::BIN_NAME.into()),
            "generate".into(),
            "--gguf".into(),
            artifact.to_string(),
            "--prompt".into(),
            prompt.into(),
            "--max-new-tokens".into(),
            max_new.to_string(),
            "--top-k".into(),
            top_k.to_string(),
            "--threads".into(),
            self.threads.to_string(),
        ]
    }

    fn parse_generation(&self, stdout: &str) -> Result<Generation, String> {
        parse_generation(stdout)
    }

    fn score_argv(&self, artifact: &Utf8Path, text_file: &Utf8Path, _text: &str) -> Option<Vec<String>> {
        Some(vec![
            self.program.clone().unwrap_or_else(|| crate::comparator::BIN_NAME.into()),
            "score".into(),
            "--gguf".into(),
            artifact.to_string(),
            "--text-file".into(),
            text_file.to_string(),
            "--threads".into(),
            self.threads.to_string(),
        ])
    }

    fn kld_argv(&self, artifact: &Utf8Path, base: &Utf8Path) -> Option<Vec<String>> {
        let program = self.program.clone().unwrap_or_else(|| crate::comparator::BIN_NAME.into());
        Some(vec![program, "kld".into(), "--gguf".into(), artifact.to_string(), "--base".into(), base.to_string()])
    }

    fn battery_argv(&self, artifact: &Utf8Path, battery: &Utf8Path) -> Option<Vec<String>> {
        let program = self.program.clone().unwrap_or_else(|| crate::comparator::BIN_NAME.into());
        Some(vec![program, "battery".into(), "--gguf".into(), artifact.to_string(), "--battery".into(), battery.to_string()])
    }

    fn parse_score(&self, stdout: &str) -> Result<Score, String> {
        parse_score(stdout)
    }
}

/// The cores each of `parallel_jobs` concurrent processes may use (at least one).
pub fn threads_per_job(cores: usize, parallel_jobs: usize) -> usize {
    (cores / parallel_jobs.max(1)).max(1)
}

/// Generation JSON, strictly: ids, prompt ids, one top-k list per generated token and
/// a finish reason of "eos" or "length" are all required of this comparator.
pub fn parse_generation(stdout: &str) -> Result<Generation, String> {
    let g: Generation = serde_json::from_value(strict_json(stdout)?).map_err(|e| format!("not a Generation: {e}"))?;
    let tokens = g.tokens.as_ref().ok_or("Generation without `tokens`")?;
    g.prompt_tokens.as_ref().ok_or("Generation without `prompt_tokens`")?;
    let top = g.top_logprobs.as_ref().ok_or("Generation without `top_logprobs`")?;
    if top.len() != tokens.len() {
        return Err(format!("{} top-k lists for {} tokens", top.len(), tokens.len()));
    }
    match g.finish_reason.as_deref() {
        Some("eos") | Some("length") => Ok(g),
        other => Err(format!("finish_reason {other:?} is neither \"eos\" nor \"length\"")),
    }
}

/// Score JSON with a finite perplexity.
pub fn parse_score(stdout: &str) -> Result<Score, String> {
    let s: Score = serde_json::from_value(strict_json(stdout)?).map_err(|e| format!("not a Score: {e}"))?;
    if !s.perplexity.is_finite() {
        return Err(format!("perplexity is not finite: {}", s.perplexity));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_parsed_strictly() {
        let ok = r#"{"tokens":[5,2],"text":" x","prompt_tokens":[1,2,3],"top_logprobs":[[{"id":5,"logprob":-0.1}],[{"id":2,"logprob":-0.2}]],"finish_reason":"eos","tokens_per_second":50.0}"#;
        let g = parse_generation(ok).unwrap();
        assert_eq!(g.tokens, Some(vec![5, 2]));
        assert_eq!(g.prompt_tokens, Some(vec![1, 2, 3]));
        assert!(parse_generation(&ok.replace(r#""finish_reason":"eos""#, r#""finish_reason":"stop""#))
            .unwrap_err()
            .contains("finish_reason"));
        assert!(parse_generation(&ok.replace(r#","prompt_tokens":[1,2,3]"#, "")).unwrap_err().contains("prompt_tokens"));
        assert!(parse_generation(&ok.replace(r#",[{"id":2,"logprob":-0.2}]"#, "")).unwrap_err().contains("top-k"));
        assert!(parse_generation("llama_model_load: error\n").is_err());
    }

    #[test]
    fn score_and_version() {
        let s = parse_score(r#"{"perplexity":12.5,"token_count":43,"mean_nll":2.52}"#).unwrap();
        assert_eq!((s.perplexity, s.token_count), (12.5, Some(43)));
        assert!(parse_score(r#"{"perplexity":null}"#).is_err());
        let v = serde_json::json!({"summary": "llama.cpp via llama-cpp-sys-2 0.1.161 (ggml 0.26.0, sources sha256 0123456789ab)", "version": "0.1.0", "comparator_source_sha256": "fedcba9876543210"});
        assert_eq!(
            version_line(&v).unwrap(),
            "llama.cpp via llama-cpp-sys-2 0.1.161 (ggml 0.26.0, sources sha256 0123456789ab); comparator 0.1.0 (source fedcba987654)"
        );
        assert!(version_line(&serde_json::json!({})).is_err());
    }

    #[test]
    fn absent_comparator_says_how_to_build_it() {
        let rt = LlamaCpp { program: None, threads: 1 };
        let why = rt.version().unwrap_err();
        assert!(why.contains("cargo build --release --locked --manifest-path comparators/llamacpp/Cargo.toml"), "{why}");
        let argv = rt.generate_argv(Utf8Path::new("m.gguf"), "Hi", 4, 5);
        assert_eq!(argv[1..5], ["generate", "--gguf", "m.gguf", "--prompt"]);
        assert_eq!(argv[argv.len() - 2..], ["--threads", "1"]);
    }

    #[test]
    fn parallel_jobs_share_the_cores() {
        assert_eq!(threads_per_job(2, 2), 1);
        assert_eq!(threads_per_job(16, 4), 4);
        assert_eq!(threads_per_job(2, 8), 1);
        assert_eq!(threads_per_job(8, 0), 8);
    }
}
