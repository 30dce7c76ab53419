//! The runtimes a check can feed an artifact to: `apr` (the runtime under test),
//! `candle` (oracle-gen over candle's quantized models) and `llama.cpp` (when on
//! PATH). Each turns one process run into an `Observed` value with its evidence.

pub mod apr;
pub mod candle;
pub mod llamacpp;

use crate::judge::Observed;
use crate::runner::{self, RunOptions};
use std::time::Duration;
use tmgt_schema::{Generation, Invocation, Score};

/// Default limit for one runtime process; `TMGT_TIMEOUT_S` overrides it.
pub fn default_timeout() -> Duration {
    let secs = std::env::var("TMGT_TIMEOUT_S").ok().and_then(|s| s.parse().ok()).unwrap_or(600);
    Duration::from_secs(secs)
}

pub trait Runtime: Sync {
    fn name(&self) -> &'static str;
    /// A version string for content hashes; Err(reason) when the runtime is absent.
    fn version(&self) -> Result<String, String>;
    /// Which artifact kinds this runtime can run (e.g. only GGUF).
    fn accepts(&self, artifact: &str) -> bool;
    /// Can it run a model of this architecture at all? Err: why not (its checks SKIP).
    fn supports(&self, _arch: tmgt_schema::Arch) -> Result<(), String> {
        Ok(())
    }
    /// Run from the artifact's folder with a bare file name (apr reads meaning into
    /// the path it is given: an instruct/chat name turns on a chat template).
    fn runs_in_model_dir(&self) -> bool {
        false
    }
    /// The prefixes of the environment variables the runtime reads (its knobs): they
    /// are in the cache key of its observations, and only of its own.
    fn env_knobs(&self) -> &'static [&'static str] {
        &[]
    }
    fn generate_argv(&self, artifact: &camino::Utf8Path, prompt: &str, max_new: usize, top_k: usize) -> Vec<String>;
    fn parse_generation(&self, stdout: &str) -> Result<Generation, String>;
    fn score_argv(&self, artifact: &camino::Utf8Path, text_file: &camino::Utf8Path, text: &str) -> Option<Vec<String>>;
    fn parse_score(&self, stdout: &str) -> Result<Score, String>;
    /// The command that scores the KLD base file's windows on `artifact` with the full
    /// vocabulary and prints `KldReport` JSON; None: this runtime gives no full logits.
    fn kld_argv(&self, _artifact: &camino::Utf8Path, _base: &camino::Utf8Path) -> Option<Vec<String>> {
        None
    }
    /// The command that encodes the tokenizer battery with the tokenizer `artifact`
    /// carries and prints `BatteryRun` JSON; None: this runtime cannot be asked.
    fn battery_argv(&self, _artifact: &camino::Utf8Path, _battery: &camino::Utf8Path) -> Option<Vec<String>> {
        None
    }
}

/// Parses stdout as one JSON value of type `T`.
pub fn parse_json<T: serde::de::DeserializeOwned>(stdout: &str) -> Result<T, String> {
    serde_json::from_value(strict_json(stdout)?).map_err(|e| format!("not the {} asked for: {e}", std::any::type_name::<T>()))
}

/// Runs `argv` and parses its stdout; every way of going wrong is `Failed` with evidence.
pub fn observe<T>(argv: Vec<String>, opts: &RunOptions, parse: impl Fn(&str) -> Result<T, String>) -> Observed<T> {
    let invocation = runner::run(&argv, opts);
    observe_invocation(invocation, parse)
}

pub fn observe_invocation<T>(invocation: Invocation, parse: impl Fn(&str) -> Result<T, String>) -> Observed<T> {
    if let Err(failure) = runner::check(&invocation) {
        return Observed::Failed { error: failure.to_string(), invocation };
    }
    match parse(&invocation.stdout) {
        Ok(value) => Observed::Ok { value, invocation },
        Err(error) => Observed::Failed { error, invocation },
    }
}

/// Parses stdout as exactly one JSON value (nothing before or after it).
pub fn strict_json(stdout: &str) -> Result<serde_json::Value, String> {
    let trimmed = stdout.trim();
    if trimmed.is_empty() {
        return Err("no output where JSON was asked for".into());
    }
    serde_json::from_str(trimmed)
        .map_err(|e| format!("not the JSON asked for ({e}); output starts {:?}", crate::judge::truncate(trimmed, 120)))
}
