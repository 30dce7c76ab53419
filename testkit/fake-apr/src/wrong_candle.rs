//! wrong-candle: a test-only wrong comparator. It stands in for oracle-gen
//! (`TMGT_ORACLE_GEN`) and forwards every command to the real one
//! (`FAKE_APR_ORACLE_GEN`), except that `run-gguf` — how the harness runs candle on a
//! GGUF — reports another token at step `WRONG_CANDLE_STEP` (default 1; its lowest bit
//! flipped). The goldens, exports, scores and KLD rows stay the real oracle's, so the
//! harness tests can show that a comparator leaving the golden first is the
//! comparator's finding, never apr's. It measures the harness; it is evidence of nothing.

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Ok(real) = std::env::var("FAKE_APR_ORACLE_GEN") else {
        eprintln!("wrong-candle: error: FAKE_APR_ORACLE_GEN (the real oracle-gen) is not set");
        return ExitCode::from(2);
    };
    let out = match Command::new(&real).args(&args).stderr(std::process::Stdio::inherit()).output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("wrong-candle: error: cannot run {real}: {e}");
            return ExitCode::from(2);
        }
    };
    let code = out.status.code().unwrap_or(1);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let printed = if code == 0 && args.first().map(String::as_str) == Some("run-gguf") {
        let step = std::env::var("WRONG_CANDLE_STEP").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(1);
        match wrong(&stdout, step) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("wrong-candle: error: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        stdout
    };
    print!("{printed}");
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// The Generation JSON with the token at `step` replaced (lowest bit flipped).
fn wrong(stdout: &str, step: usize) -> Result<String, String> {
    let mut g: serde_json::Value = serde_json::from_str(stdout.trim()).map_err(|e| format!("run-gguf printed no JSON: {e}"))?;
    if let Some(t) = g["tokens"].get_mut(step) {
        let id = t.as_u64().ok_or("a token is not an id")?;
        *t = serde_json::json!(id ^ 1);
    }
    Ok(format!("{}\n", serde_json::to_string(&g).map_err(|e| e.to_string())?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_step_s_token_changes() {
        let g =
            r#"{"tokens":[10,20,30],"text":"x","prompt_tokens":[1],"top_logprobs":null,"finish_reason":"length","tokens_per_second":1.0}"#;
        let out: serde_json::Value = serde_json::from_str(&super::wrong(g, 1).unwrap()).unwrap();
        assert_eq!(out["tokens"], serde_json::json!([10, 21, 30]));
        assert_eq!(out["text"], "x");
        // Past the end: unchanged.
        let out: serde_json::Value = serde_json::from_str(&super::wrong(g, 7).unwrap()).unwrap();
        assert_eq!(out["tokens"], serde_json::json!([10, 20, 30]));
        assert!(super::wrong("log line", 1).is_err());
    }
}
