//! `apr`, the runtime under test: its version, generation (`apr run --json`),
//! perplexity (`apr eval --json`) and the inspection subcommands the structure suites
//! read (`inspection_argv`). Output is parsed strictly; what does not parse is a
//! failed observation with the raw output kept.

use super::{strict_json, Runtime};
use crate::judge::structure::Inspection;
use crate::runner::{self, RunOptions};
use camino::Utf8Path;
use serde_json::Value;
use std::time::Duration;
use tmgt_schema::{Generation, Score, TokenLogprob};

pub const PINNED_VERSION: &str = "0.72.3";

/// The environment apr reads (APR_*), and the test fake's FAKE_APR_*.
pub const ENV_KNOBS: &[&str] = &["APR_", "FAKE_APR_"];

pub struct Apr {
    pub program: String,
}

impl Default for Apr {
    fn default() -> Self {
        Apr { program: std::env::var("TMGT_APR").unwrap_or_else(|_| "apr".into()) }
    }
}

/// The identity observations are keyed by: "apr 0.72.3 (9c34b9a91)".
pub fn version_line(version: &str, commit: Option<&str>) -> String {
    match commit {
        Some(c) => format!("apr {version} ({c})"),
        None => format!("apr {version}"),
    }
}

/// (version, commit) from `apr --version`: "apr 0.72.3 (9c34b9a91)".
pub fn parse_version(stdout: &str) -> Option<(String, Option<String>)> {
    let line = stdout.lines().find(|l| l.starts_with("apr "))?;
    let mut parts = line.split_whitespace().skip(1);
    let version = parts.next()?.to_string();
    let commit = parts.next().map(|c| c.trim_matches(|ch| ch == '(' || ch == ')').to_string());
    Some((version, commit))
}

impl Apr {
    pub fn version_info(&self) -> Result<(String, Option<String>), String> {
        let inv = runner::run(&[self.program.clone(), "--version".into()], &RunOptions::with_timeout(Duration::from_secs(30)));
        runner::check(&inv).map_err(|e| e.to_string())?;
        parse_version(&inv.stdout).ok_or_else(|| format!("`{} --version` printed {:?}", self.program, inv.stdout.trim()))
    }
}

impl Runtime for Apr {
    fn name(&self) -> &'static str {
        "apr"
    }

    fn version(&self) -> Result<String, String> {
        self.version_info().map(|(v, c)| version_line(&v, c.as_deref()))
    }

    fn accepts(&self, _artifact: &str) -> bool {
        true
    }

    fn runs_in_model_dir(&self) -> bool {
        true
    }

    fn env_knobs(&self) -> &'static [&'static str] {
        ENV_KNOBS
    }

    fn generate_argv(&self, artifact: &Utf8Path, prompt: &str, max_new: usize, top_k: usize) -> Vec<String> {
        let mut argv: Vec<String> = vec![
            self.program.clone(),
            "run".into(),
            artifact.to_string(),
            "-p".into(),
            prompt.into(),
            "-n".into(),
            max_new.to_string(),
            "--json".into(),
            "--offline".into(),
        ];
        // apr records per-step logprobs (and the prompt ids it encoded) only on GGUF.
        if crate::judge::is_gguf(artifact.as_str()) {
            argv.extend(["--logprobs".into(), top_k.to_string()]);
        }
        argv
    }

    fn parse_generation(&self, stdout: &str) -> Result<Generation, String> {
        parse_run_json(&strict_json(stdout)?)
    }

    fn score_argv(&self, artifact: &Utf8Path, _text_file: &Utf8Path, text: &str) -> Option<Vec<String>> {
        Some(vec![
            self.program.clone(),
            "eval".into(),
            artifact.to_string(),
            "--dataset".into(),
            "custom".into(),
            "--text".into(),
            text.into(),
            // apr exits non-zero above its own threshold; the ceiling is ours to judge.
            // apr parses it as f32 and refuses inf: 1e38 is the largest round finite one.
            "--threshold".into(),
            "1e38".into(),
            "--json".into(),
            "--offline".into(),
        ])
    }

    fn parse_score(&self, stdout: &str) -> Result<Score, String> {
        parse_eval_json(&strict_json(stdout)?)
    }
}

/// The command line of one inspection on `files` (bare names: apr runs from the
/// model folder).
pub fn inspection_argv(program: &str, inspection: Inspection, files: &[&str]) -> Vec<String> {
    let args: &[&str] = match inspection {
        Inspection::Inspect => &["inspect", "{}", "--json"],
        Inspection::Validate => &["validate", "{}", "--json"],
        Inspection::Tensors => &["tensors", "{}", "--json"],
        Inspection::Lint => &["lint", "{}", "--json"],
        Inspection::Check => &["check", "{}", "--json"],
        Inspection::Tree => &["tree", "{}", "--json"],
        Inspection::Oracle => &["oracle", "{}", "--json"],
        Inspection::Hex => &["hex", "{}", "--stats", "--limit", "4", "--json"],
        Inspection::Debug => &["debug", "{}", "--json"],
        Inspection::Bench => &["bench", "{}", "--json", "--iterations", "1", "--warmup", "0", "--max-tokens", "8"],
        Inspection::Qa => &[
            "qa",
            "{}",
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
        Inspection::List => &["list", "--json"],
        Inspection::Diff => &["diff", "{}", "{}", "--json"],
        Inspection::RosettaDiff => &["rosetta", "diff-tensors", "{}", "{}", "--json"],
        Inspection::Parity => &["parity", "{}", "--assert", "--json"],
    };
    let mut next = files.iter();
    std::iter::once(program.to_string())
        .chain(args.iter().map(|a| if *a == "{}" { next.next().map(|f| f.to_string()).unwrap_or_default() } else { a.to_string() }))
        .collect()
}

fn ids(value: &Value, what: &str) -> Result<Vec<u32>, String> {
    let items = value.as_array().ok_or_else(|| format!("{what} is not an array: {value}"))?;
    items.iter().map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| format!("{what} holds a non-id {v}"))).collect()
}

/// `apr run --json` → Generation. Requires `text`; refuses a reported error.
pub fn parse_run_json(v: &Value) -> Result<Generation, String> {
    let obj = v.as_object().ok_or("not a JSON object")?;
    if let Some(status) = obj.get("status").and_then(Value::as_str) {
        if status != "ok" {
            return Err(format!("apr reported status {status:?}: {}", obj.get("error").unwrap_or(&Value::Null)));
        }
    }
    if let Some(err) = obj.get("error").filter(|e| !e.is_null()) {
        return Err(format!("apr reported an error: {err}"));
    }
    let text = obj.get("text").and_then(Value::as_str).ok_or("no string field `text`")?.to_string();
    let tokens = match obj.get("tokens") {
        None | Some(Value::Null) => None,
        Some(t) => Some(ids(t, "tokens")?),
    };
    let (mut prompt_tokens, mut top_logprobs) = (None, None);
    if let Some(lp) = obj.get("logprobs").filter(|l| !l.is_null()) {
        prompt_tokens = Some(ids(&lp["prompt_token_ids"], "logprobs.prompt_token_ids")?);
        let steps = lp["steps"].as_array().ok_or("logprobs.steps is not an array")?;
        let mut per_step = Vec::with_capacity(steps.len());
        for step in steps {
            let top = step["top"].as_array().ok_or("logprobs.steps[].top is not an array")?;
            let mut entries = Vec::with_capacity(top.len());
            for t in top {
                let id = t["token_id"].as_u64().ok_or_else(|| format!("top entry without token_id: {t}"))? as u32;
                let logprob = t["logprob"].as_f64().ok_or_else(|| format!("top entry without logprob: {t}"))? as f32;
                entries.push(TokenLogprob { id, logprob });
            }
            per_step.push(entries);
        }
        top_logprobs = Some(per_step);
    }
    Ok(Generation {
        tokens,
        text,
        prompt_tokens,
        // On APR files apr reports only how many prompt tokens it encoded.
        prompt_token_count: obj.get("prompt_tokens").and_then(Value::as_u64).map(|n| n as usize),
        top_logprobs,
        finish_reason: obj.get("finish_reason").and_then(Value::as_str).map(String::from),
        tokens_per_second: obj.get("tok_per_sec").and_then(Value::as_f64),
    })
}

/// `apr eval --json` → Score. Requires a finite `perplexity`.
pub fn parse_eval_json(v: &Value) -> Result<Score, String> {
    let obj = v.as_object().ok_or("not a JSON object")?;
    let ppl = obj.get("perplexity").and_then(Value::as_f64).ok_or("no numeric field `perplexity`")?;
    if !ppl.is_finite() {
        return Err(format!("perplexity is not finite: {ppl}"));
    }
    Ok(Score {
        perplexity: ppl,
        token_count: obj.get("tokens_evaluated").and_then(Value::as_u64).map(|n| n as usize),
        mean_nll: obj.get("cross_entropy").and_then(Value::as_f64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_line() {
        assert_eq!(parse_version("apr 0.72.3 (9c34b9a91)\n"), Some(("0.72.3".into(), Some("9c34b9a91".into()))));
        assert_eq!(parse_version("something else"), None);
    }

    #[test]
    fn run_json_with_logprobs() {
        let v: Value = serde_json::from_str(
            r#"{"text":"known","tokens":[1343,327],"finish_reason":"length","tok_per_sec":1.3,"status":"ok","error":null,
            "logprobs":{"top_k":2,"prompt_token_ids":[1,504],"steps":[{"step":0,"chosen":1343,"top":[{"token_id":1343,"logit":22.0,"logprob":-1.87},{"token_id":3807,"logit":21.7,"logprob":-2.15}]}]}}"#,
        )
        .unwrap();
        let g = parse_run_json(&v).unwrap();
        assert_eq!(g.tokens, Some(vec![1343, 327]));
        assert_eq!(g.prompt_tokens, Some(vec![1, 504]));
        assert_eq!(g.top_logprobs.as_ref().unwrap()[0][1], TokenLogprob { id: 3807, logprob: -2.15 });
        assert_eq!(g.finish_reason.as_deref(), Some("length"));
    }

    #[test]
    fn run_json_refusals() {
        let parse = |s: &str| parse_run_json(&serde_json::from_str(s).unwrap());
        assert!(parse(r#"{"tokens":[1]}"#).unwrap_err().contains("text"));
        assert!(parse(r#"{"text":"x","status":"error","error":"boom"}"#).unwrap_err().contains("boom"));
        assert!(parse(r#"{"text":"x","tokens":[-1]}"#).unwrap_err().contains("non-id"));
        assert!(parse(r#"[1,2]"#).unwrap_err().contains("object"));
        assert!(strict_json("Loading model...\n{\"text\":\"x\"}").is_err(), "junk before JSON is not the JSON asked for");
    }

    #[test]
    fn inspections_have_their_command_lines() {
        let argv = |i, f: &[&str]| inspection_argv("apr", i, f).join(" ");
        assert_eq!(argv(Inspection::Inspect, &["int8.apr"]), "apr inspect int8.apr --json");
        assert_eq!(argv(Inspection::Check, &["int4.apr"]), "apr check int4.apr --json");
        assert_eq!(argv(Inspection::Oracle, &["int4.apr"]), "apr oracle int4.apr --json");
        assert_eq!(argv(Inspection::Diff, &["int8.apr", "int4.apr"]), "apr diff int8.apr int4.apr --json");
        assert_eq!(argv(Inspection::RosettaDiff, &["a", "b"]), "apr rosetta diff-tensors a b --json");
        assert_eq!(argv(Inspection::List, &[]), "apr list --json");
        assert_eq!(argv(Inspection::Parity, &["int4.gguf"]), "apr parity int4.gguf --assert --json");
    }

    #[test]
    fn run_json_on_apr_reports_a_prompt_count() {
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apr-0.72.3/run-int8.json");
        let g = parse_run_json(&serde_json::from_slice(&std::fs::read(fixture).unwrap()).unwrap()).unwrap();
        assert_eq!((g.prompt_tokens, g.prompt_token_count), (None, Some(5)));
        assert_eq!(g.finish_reason, None);
    }

    #[test]
    fn eval_json() {
        let v: Value = serde_json::from_str(r#"{"perplexity":44.17,"cross_entropy":3.788,"tokens_evaluated":43}"#).unwrap();
        let s = parse_eval_json(&v).unwrap();
        assert_eq!((s.perplexity, s.token_count), (44.17, Some(43)));
        assert!(parse_eval_json(&serde_json::json!({"perplexity": null})).is_err());
    }
}
