//! llama.cpp, when `llama-completion` or `llama-cli` is on PATH: greedy text from a
//! GGUF (no token ids; judged on text). Absent: every observation is SKIP.

use super::Runtime;
use camino::Utf8Path;
use tmgt_schema::{Generation, Score};

pub struct LlamaCpp {
    pub program: Option<String>,
}

impl LlamaCpp {
    pub fn detect() -> LlamaCpp {
        let on_path = |name: &str| {
            std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
                .unwrap_or(false)
        };
        let program = ["llama-completion", "llama-cli"].into_iter().find(|n| on_path(n)).map(String::from);
        LlamaCpp { program }
    }
}

impl Runtime for LlamaCpp {
    fn name(&self) -> &'static str {
        "llama.cpp"
    }

    fn version(&self) -> Result<String, String> {
        match &self.program {
            Some(p) => Ok(format!("llama.cpp ({p})")),
            None => Err("llama.cpp not on PATH (llama-completion / llama-cli)".into()),
        }
    }

    fn accepts(&self, artifact: &str) -> bool {
        artifact.ends_with("gguf")
    }

    fn generate_argv(&self, artifact: &Utf8Path, prompt: &str, max_new: usize, _top_k: usize) -> Vec<String> {
        let program = self.program.clone().unwrap_or_else(|| "llama-cli".into());
        vec![
            program,
            "-m".into(),
            artifact.to_string(),
            "-p".into(),
            prompt.into(),
            "-n".into(),
            max_new.to_string(),
            "--temp".into(),
            "0".into(),
            "--no-display-prompt".into(),
            "-no-cnv".into(),
            "--simple-io".into(),
        ]
    }

    fn parse_generation(&self, stdout: &str) -> Result<Generation, String> {
        Ok(Generation { text: stdout.to_string(), ..Default::default() })
    }

    fn score_argv(&self, _artifact: &Utf8Path, _text_file: &Utf8Path, _text: &str) -> Option<Vec<String>> {
        None
    }

    fn parse_score(&self, _stdout: &str) -> Result<Score, String> {
        Err("llama.cpp scoring is not wired".into())
    }
}
