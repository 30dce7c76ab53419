//! What a runtime did when the harness ran it: the invocation (command line, exit
//! code, output) and, when its output parsed, the typed result. A result that did
//! not parse is kept as `error` with the raw output in the invocation, never dropped.

use crate::golden::TokenLogprob;
use serde::{Deserialize, Serialize};

/// One process run by the harness, as evidence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// argv, program first.
    pub command: Vec<String>,
    /// Working directory, when the command must run from one (relative paths).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// None when the process was killed (timeout, signal) or never started.
    pub exit_code: Option<i32>,
    pub duration_s: f64,
    pub timed_out: bool,
    /// ANSI escapes stripped; long output keeps a head and a tail (see the sizes).
    pub stdout: String,
    pub stderr: String,
    /// The whole stream's size in bytes, when only its head and tail were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_bytes: Option<u64>,
}

impl Invocation {
    /// The command as a shell line, with a `cd` first when it ran from a folder.
    pub fn command_line(&self) -> String {
        let line = self.command.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ");
        match &self.cwd {
            Some(dir) => format!("(cd {} && {line})", shell_quote(dir)),
            None => line,
        }
    }

    /// The same invocation with each stream cut to `keep` bytes of its start and of
    /// its end (evidence in results; the observation file keeps more).
    pub fn bounded(&self, keep: usize) -> Invocation {
        let cut = |s: &str, total: Option<u64>| -> (String, Option<u64>) {
            if s.len() <= 2 * keep {
                return (s.to_string(), total);
            }
            let mut head = keep;
            while !s.is_char_boundary(head) {
                head -= 1;
            }
            let mut tail = s.len() - keep;
            while !s.is_char_boundary(tail) {
                tail += 1;
            }
            (format!("{}\n[… cut …]\n{}", &s[..head], &s[tail..]), Some(total.unwrap_or(s.len() as u64)))
        };
        let (stdout, stdout_bytes) = cut(&self.stdout, self.stdout_bytes);
        let (stderr, stderr_bytes) = cut(&self.stderr, self.stderr_bytes);
        Invocation { stdout, stderr, stdout_bytes, stderr_bytes, ..self.clone() }
    }

    /// The last `n` lines of stderr, for one-line error reports.
    pub fn stderr_tail(&self, n: usize) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

pub fn shell_quote(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Greedy generation by a runtime for one (artifact, prompt).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// Generated ids (prompt excluded), when the runtime reports them.
    pub tokens: Option<Vec<u32>>,
    pub text: String,
    /// Prompt ids as the runtime encoded them, when it reports them.
    pub prompt_tokens: Option<Vec<u32>>,
    /// How many prompt tokens the runtime encoded, when it reports only the count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_token_count: Option<usize>,
    pub top_logprobs: Option<Vec<Vec<TokenLogprob>>>,
    pub finish_reason: Option<String>,
    pub tokens_per_second: Option<f64>,
}

/// Teacher-forced scoring of a text by a runtime.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub perplexity: f64,
    /// Number of predicted tokens the perplexity is over, when reported.
    pub token_count: Option<usize>,
    /// Mean negative log-likelihood (nats), when reported.
    pub mean_nll: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_quotes_what_the_shell_would_split() {
        let inv =
            Invocation { command: vec!["apr".into(), "run".into(), "m.apr".into(), "-p".into(), "It's 2+2?".into()], ..Default::default() };
        assert_eq!(inv.command_line(), r"apr run m.apr -p 'It'\''s 2+2?'");
        let inv = Invocation { cwd: Some("/m/x y".into()), ..inv };
        assert_eq!(inv.command_line(), r"(cd '/m/x y' && apr run m.apr -p 'It'\''s 2+2?')");
    }

    #[test]
    fn stderr_tail_keeps_last_lines() {
        let inv = Invocation { stderr: "a\nb\nc\n".into(), ..Default::default() };
        assert_eq!(inv.stderr_tail(2), "b\nc");
        assert_eq!(inv.stderr_tail(10), "a\nb\nc");
    }
}
