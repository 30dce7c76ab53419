//! Failure text mining: what a failed process said, reduced to the line a maintainer
//! reads (a panic's message, never a backtrace frame), how it ended, and the
//! signature that groups one defect's failures (paths and numbers taken out). Used by
//! the judges and by the harness's own error lines.

use tmgt_schema::Invocation;

/// How a failed process ended: "exit 101", "timed out", "killed".
pub fn how_it_ended(inv: &Invocation) -> String {
    if inv.timed_out {
        format!("timed out after {:.0}s", inv.duration_s)
    } else {
        match inv.exit_code {
            Some(c) => format!("exit {c}"),
            None => "killed by a signal".to_string(),
        }
    }
}

/// The one signature of a failed invocation: the program and what went wrong, free
/// of paths, prompts and numbers, so one panic hit by several subcommands, artifacts
/// and prompts is one root cause. A timeout is its own cause (it says nothing about
/// the output).
pub fn failure_signature(error: &str, inv: &Invocation) -> String {
    let program = inv.command.first().map(|p| p.rsplit('/').next().unwrap_or(p)).unwrap_or("?");
    let what = if inv.timed_out { "timed out".to_string() } else { normalize_error(&telling_line(error, inv)) };
    format!("{program}: {what}")
}

/// A backtrace frame or source location line ("  3: foo::bar", "at /src/x.rs:1:2").
fn is_backtrace_line(line: &str) -> bool {
    let t = line.trim_start();
    let numbered = t.split_once(": ").is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    numbered || t.starts_with("at ") || t.starts_with("stack backtrace") || t.starts_with("note: run with `RUST_BACKTRACE")
}

/// The line that says what went wrong: a Rust panic's message, else the last stderr
/// line naming an error (never a backtrace frame), else the error's own first line
/// unless that is only the command line, else how the process ended.
pub fn telling_line(error: &str, inv: &Invocation) -> String {
    let lines: Vec<&str> = inv.stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    // A Rust panic: "thread 'main' panicked at FILE:LINE:COL:" then the message.
    if let Some(i) = lines.iter().position(|l| l.contains("panicked at")) {
        if let Some(message) = lines.get(i + 1).filter(|m| !is_backtrace_line(m)) {
            return format!("panic: {message}");
        }
        // Older rustc: "thread 'main' panicked at 'message', src/x.rs:1:2".
        if let Some((_, rest)) = lines[i].split_once("panicked at '") {
            return format!("panic: {}", rest.rsplit_once("', ").map_or(rest, |(m, _)| m));
        }
    }
    let named = lines.iter().rev().filter(|l| !is_backtrace_line(l)).find(|l| {
        let lower = l.to_lowercase();
        lower.contains("error") || lower.contains("panicked") || lower.contains("failed")
    });
    if let Some(line) = named {
        return line.to_string();
    }
    let own = first_line(error);
    // A runner error starts with the command line in backquotes: not telling.
    if !own.starts_with('`') && !own.is_empty() {
        return own.split("; output starts").next().unwrap_or(&own).to_string();
    }
    match lines.iter().rev().find(|l| !is_backtrace_line(l)) {
        Some(last) => last.to_string(),
        None => format!("{} with nothing on stderr", how_it_ended(inv)),
    }
}

/// What a process printed, for evidence: stdout, then stderr's tail.
pub fn raw_output(inv: &Invocation) -> String {
    let mut s = truncate(&inv.stdout, 4000);
    let tail = inv.stderr_tail(20);
    if !tail.is_empty() {
        if !s.is_empty() {
            s.push('\n');
        }
        s.push_str("[stderr] ");
        s.push_str(&tail);
    }
    s
}

pub fn first_line(s: &str) -> String {
    s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").to_string()
}

pub fn one_line(s: &str, max: usize) -> String {
    let joined = s.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&joined, max)
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// A note without the paths of the machine that made it: an absolute path into the
/// project (models/, goldens/, prompts/, data/, comparators/) becomes relative to it,
/// one under a home folder starts with `~`, one under /tmp keeps its file name. The
/// evidence keeps the full paths; notes are what the status table and ticket show.
pub fn portable_paths(s: &str) -> String {
    const PROJECT: [&str; 5] = ["/models/", "/goldens/", "/prompts/", "/data/", "/comparators/"];
    let portable = |path: &str| -> String {
        if let Some(i) = PROJECT.iter().filter_map(|m| path.find(m)).min() {
            return path[i + 1..].to_string();
        }
        if let Some(rest) = path.strip_prefix("/root/") {
            return format!("~/{rest}");
        }
        if let Some((_, rest)) = path.strip_prefix("/home/").and_then(|r| r.split_once('/')) {
            return format!("~/{rest}");
        }
        if path.starts_with("/tmp/") || path.starts_with("/var/tmp/") {
            return path.rsplit('/').next().unwrap_or(path).to_string();
        }
        path.to_string()
    };
    let mut out = String::with_capacity(s.len());
    let mut prev: Option<char> = None;
    let mut chars = s.char_indices().peekable();
    // An absolute path starts at a '/' that no word character precedes and runs to
    // whitespace, a quote, a bracket, a comma or a semicolon.
    while let Some((start, c)) = chars.next() {
        let starts_path = c == '/' && !prev.is_some_and(|p| p.is_alphanumeric() || "._-~/:".contains(p));
        if !starts_path {
            out.push(c);
            prev = Some(c);
            continue;
        }
        let mut end = s.len();
        while let Some(&(i, d)) = chars.peek() {
            if d.is_whitespace() || "\"'`()[]{},;".contains(d) {
                end = i;
                break;
            }
            chars.next();
        }
        let path = &s[start..end];
        let core = path.trim_end_matches([':', '.']);
        if core.matches('/').count() >= 2 {
            out.push_str(&portable(core));
            out.push_str(&path[core.len()..]);
        } else {
            out.push_str(path);
        }
        prev = path.chars().next_back();
    }
    out
}

/// An error message with the run-specific parts (paths, numbers) masked, so the same
/// failure on different models and artifacts has the same signature.
pub fn normalize_error(s: &str) -> String {
    let line = first_line(s);
    let mut out = String::new();
    for word in line.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        let bare = word.trim_matches(|c: char| "\"'`()[]{},;:".contains(c));
        if bare.contains('/') && bare.len() > 1 {
            out.push_str("<path>");
        } else {
            let mut last_digit = false;
            for c in word.chars() {
                if c.is_ascii_digit() {
                    if !last_digit {
                        out.push('#');
                    }
                    last_digit = true;
                } else {
                    out.push(c);
                    last_digit = false;
                }
            }
        }
    }
    truncate(&out, 120)
}
