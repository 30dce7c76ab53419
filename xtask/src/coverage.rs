//! `cargo xtask coverage`: line coverage per file of the xtask binary's unit tests,
//! measured by cargo-tarpaulin (ptrace: no rustup component needed), installed on
//! demand like apr; the judging core (`xtask/src/judge/`) must stay at or above its
//! floor, set from the measured figure.

use crate::context::Ctx;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;

/// The judging core's line coverage may not fall below this (percent): measured 87.0% with
/// tarpaulin 0.37.5 on 2026-11-28, floor two points under it for line-attribution jitter.
pub const JUDGE_FLOOR: f64 = 85.0;
const TARPAULIN: &str = "0.37.5";

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Coverage {
    /// Only install cargo-tarpaulin when it is missing (`.ci/run` does it in the
    /// background while the tests run), measure nothing.
    #[arg(long)]
    pub install_only: bool,
}

/// Covered and coverable lines per file, from tarpaulin's JSON report.
pub fn per_file(report: &serde_json::Value) -> Result<BTreeMap<String, (u64, u64)>> {
    let files = report["files"].as_array().context("tarpaulin report: no \"files\" array")?;
    let mut out = BTreeMap::new();
    for f in files {
        let path = f["path"]
            .as_array()
            .map(|parts| parts.iter().filter_map(|p| p.as_str()).collect::<Vec<_>>().join("/").replace("//", "/"))
            .context("tarpaulin report: a file without \"path\"")?;
        let covered = f["covered"].as_u64().context("tarpaulin report: no \"covered\"")?;
        let coverable = f["coverable"].as_u64().context("tarpaulin report: no \"coverable\"")?;
        out.insert(path, (covered, coverable));
    }
    Ok(out)
}

/// The summed coverage (percent) of the files whose path contains `part`.
pub fn share(files: &BTreeMap<String, (u64, u64)>, part: &str) -> Option<f64> {
    let (c, n) = files.iter().filter(|(p, _)| p.contains(part)).fold((0, 0), |(c, n), (_, (fc, fnn))| (c + fc, n + fnn));
    (n > 0).then(|| 100.0 * c as f64 / n as f64)
}

impl Coverage {
    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        let root = &ctx.project.root;
        let present = crate::runner::run(
            &["cargo".into(), "tarpaulin".into(), "--version".into()],
            &crate::runner::RunOptions::with_timeout(std::time::Duration::from_secs(60)),
        );
        if crate::runner::check(&present).is_err() {
            if ctx.offline {
                bail!(
                    "cargo-tarpaulin is not installed and --offline forbids `cargo install cargo-tarpaulin --locked --version {TARPAULIN}`"
                );
            }
            println!("cargo-tarpaulin not found: installing it (`cargo install cargo-tarpaulin --locked --version {TARPAULIN}`, several minutes)");
            let argv: Vec<String> = ["cargo", "install", "cargo-tarpaulin", "--locked", "--version", TARPAULIN].map(String::from).to_vec();
            crate::runner::run_live(&argv, None, std::time::Duration::from_secs(3 * 3600))?;
        }
        if self.install_only {
            println!("cargo-tarpaulin {TARPAULIN} is installed");
            return Ok(0);
        }
        let out = crate::util::target_dir(root).join("coverage");
        // Its own target folder: instrumented builds never displace the ordinary ones.
        let build = crate::util::target_dir(root).join("tarpaulin");
        let argv: Vec<String> = [
            "cargo",
            "tarpaulin",
            "--package",
            "xtask",
            "--bin",
            "xtask",
            "--skip-clean",
            "--target-dir",
            build.as_str(),
            "--out",
            "Json",
            "--output-dir",
            out.as_str(),
        ]
        .map(String::from)
        .to_vec();
        crate::runner::run_live(&argv, Some(root.as_std_path()), std::time::Duration::from_secs(3 * 3600))?;
        let report_path = out.join("tarpaulin-report.json");
        let report: serde_json::Value = crate::util::read_json(&report_path)?;
        let files = per_file(&report).with_context(|| format!("{report_path}"))?;
        for (path, (c, n)) in &files {
            let rel = path.find("xtask/src/").map_or(path.as_str(), |i| &path[i..]);
            println!("{:6.1}%  {c:5}/{n:<5}  {rel}", if *n == 0 { 100.0 } else { 100.0 * *c as f64 / *n as f64 });
        }
        let judge = share(&files, "xtask/src/judge/").context("no xtask/src/judge/ file in the coverage report")?;
        let total = share(&files, "xtask/src/").unwrap_or(0.0);
        println!("xtask: {total:.1}% of lines; judging core (xtask/src/judge/): {judge:.1}% (floor {JUDGE_FLOOR}%)");
        if judge < JUDGE_FLOOR {
            println!("the judging core's coverage fell below its floor");
            return Ok(1);
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tarpaulins_report_and_sums_a_folder() {
        let report = serde_json::json!({"files": [
            {"path": ["/", "w", "xtask", "src", "judge", "mod.rs"], "covered": 90, "coverable": 100},
            {"path": ["/", "w", "xtask", "src", "judge", "tokenizer.rs"], "covered": 10, "coverable": 20},
            {"path": ["/", "w", "xtask", "src", "main.rs"], "covered": 0, "coverable": 30}
        ]});
        let files = per_file(&report).unwrap();
        assert_eq!(files.len(), 3);
        assert_eq!(share(&files, "xtask/src/judge/"), Some(100.0 * 100.0 / 120.0));
        assert_eq!(share(&files, "xtask/src/"), Some(100.0 * 100.0 / 150.0));
        assert_eq!(share(&files, "nowhere"), None);
        assert!(per_file(&serde_json::json!({"nope": 1})).is_err());
    }
}
