//! Small shared helpers: timestamps, the oracle-gen binary, the harness's own tools,
//! atomic JSON writes, progress.

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// UTC now as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days; no date crate needed).
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The per-user cache of what is built once per machine (the llama.cpp comparator's
/// target folder, apr versions installed side by side): $TMGT_CACHE, else
/// ~/.cache/tiny-model-ground-truth; none without a home folder.
pub fn user_cache() -> Option<Utf8PathBuf> {
    match (std::env::var("TMGT_CACHE"), std::env::var("HOME")) {
        (Ok(dir), _) if !dir.is_empty() => Some(Utf8PathBuf::from(dir)),
        (_, Ok(home)) if !home.is_empty() => Some(Utf8PathBuf::from(home).join(".cache/tiny-model-ground-truth")),
        _ => None,
    }
}

pub fn target_dir(root: &Utf8Path) -> Utf8PathBuf {
    std::env::var("CARGO_TARGET_DIR").map(Utf8PathBuf::from).unwrap_or_else(|_| root.join("target"))
}

/// Runs a tool of the harness's own (oracle-gen, pip) through the runner: tracked,
/// with the runtime timeout; an error names the command, how it ended and the telling
/// line of its stderr. Its stdout is returned (and echoed when `echo`).
pub fn run_tool(argv: &[String], cwd: Option<&Utf8Path>, echo: bool) -> Result<String> {
    let opts = crate::runner::RunOptions {
        timeout: crate::runtime::default_timeout(),
        cwd: cwd.map(|d| d.as_std_path().to_path_buf()),
        env: Vec::new(),
    };
    let inv = crate::runner::run(argv, &opts);
    if echo && !inv.stdout.is_empty() {
        print!("{}", inv.stdout);
    }
    if crate::runner::check(&inv).is_err() {
        anyhow::bail!("`{}` failed ({}): {}", inv.command_line(), crate::judge::how_it_ended(&inv), crate::judge::telling_line("", &inv));
    }
    Ok(inv.stdout)
}

/// Builds oracle-gen (dev profile; its dependencies are optimized) and returns its path.
pub fn oracle_gen_bin(root: &Utf8Path) -> Result<Utf8PathBuf> {
    let argv: Vec<String> = ["cargo", "build", "--quiet", "--package", "oracle-gen"].map(String::from).to_vec();
    crate::runner::run_live(&argv, Some(root.as_std_path()), std::time::Duration::from_secs(3 * 3600)).context("building oracle-gen")?;
    let bin = target_dir(root).join("debug").join("oracle-gen");
    anyhow::ensure!(bin.is_file(), "{bin}: oracle-gen was built but the binary is not there");
    Ok(bin)
}

/// The version Cargo.lock pins for `package` ("unknown" if it is not there).
pub fn locked_version(root: &Utf8Path, package: &str) -> String {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{package}\"") {
            if let Some(v) = lines.next().and_then(|l| l.trim().strip_prefix("version = ")) {
                return v.trim_matches('"').to_string();
            }
        }
    }
    "unknown".into()
}

/// Progress of a long step: a live bar with counts and ETA on a terminal, plain
/// lines (one per finished item worth telling) in a CI log.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub fn new(what: &str, total: u64) -> Progress {
        let tty = std::io::IsTerminal::is_terminal(&std::io::stdout()) && std::env::var_os("CI").is_none();
        let bar = tty.then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} ETA {eta} {wide_msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(what.to_string());
            bar
        });
        Progress { bar }
    }

    pub fn working_on(&self, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(what.to_string());
        }
    }

    /// A line of the log: above the bar on a terminal, plain otherwise.
    pub fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => println!("{text}"),
        }
    }

    pub fn advance(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// "0.4s", "12.3s", "3m 05s", "1h 02m".
pub fn duration_text(secs: f64) -> String {
    let whole = secs.round() as u64;
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else if whole < 3600 {
        format!("{}m {:02}s", whole / 60, whole % 60)
    } else {
        format!("{}h {:02}m", whole / 3600, (whole % 3600) / 60)
    }
}

pub fn write_json<T: serde::Serialize>(path: &Utf8Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    tmgt_schema::write_atomic(path.as_std_path(), &bytes)
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Utf8Path) -> Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("{path}: cannot read"))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{path}: unexpected JSON"))
}

/// A prompt file's text: its bytes, less one trailing newline (as oracle-gen reads it).
pub fn read_prompt(path: &Utf8Path) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{path}: cannot read prompt"))?;
    Ok(text.strip_suffix('\n').unwrap_or(&text).to_string())
}

/// All files under `dir` (recursively) with one of `exts`, sorted.
pub fn files_under(dir: &Utf8Path, exts: &[&str]) -> Vec<Utf8PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = d.read_dir_utf8() else { continue };
        for entry in rd.flatten() {
            let p = entry.path().to_path_buf();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| exts.contains(&e)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::duration_text;

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(duration_text(0.42), "0.4s");
        assert_eq!(duration_text(59.94), "59.9s");
        assert_eq!(duration_text(185.0), "3m 05s");
        assert_eq!(duration_text(3725.0), "1h 02m");
    }

    #[test]
    fn timestamp_shape() {
        let now = super::now_rfc3339();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z'));
    }
}
