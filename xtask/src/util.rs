//! Small shared helpers: timestamps, the oracle-gen binary, atomic JSON writes.

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

pub fn target_dir(root: &Utf8Path) -> Utf8PathBuf {
    std::env::var("CARGO_TARGET_DIR").map(Utf8PathBuf::from).unwrap_or_else(|_| root.join("target"))
}

/// Builds oracle-gen (dev profile; its dependencies are optimized) and returns its path.
pub fn oracle_gen_bin(sh: &xshell::Shell, root: &Utf8Path) -> Result<Utf8PathBuf> {
    let _dir = sh.push_dir(root);
    xshell::cmd!(sh, "cargo build --quiet --package oracle-gen").run().context("building oracle-gen")?;
    let bin = target_dir(root).join("debug").join("oracle-gen");
    anyhow::ensure!(bin.is_file(), "{bin}: oracle-gen was built but the binary is not there");
    Ok(bin)
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
    #[test]
    fn timestamp_shape() {
        let now = super::now_rfc3339();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z'));
    }
}
