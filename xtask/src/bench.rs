//! `cargo xtask bench`: benchmarks that print numbers (never timed tests). `oracle`:
//! oracle-gen's prefill and decode tokens/s on a reference checkpoint and on the tiny
//! llama fixture, with the memory-bandwidth bound.

use crate::context::Ctx;
use anyhow::{bail, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Bench {
    /// What to benchmark: `oracle`.
    #[arg(default_value = "oracle")]
    pub what: String,
    /// The model (a roster slug; default smollm2-135m-instruct).
    #[arg(long)]
    pub model: Option<String>,
}

impl Bench {
    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        if self.what != "oracle" {
            bail!("unknown benchmark {:?} (oracle)", self.what);
        }
        let bin = ctx.oracle_gen()?;
        let slug = self.model.unwrap_or_else(|| "smollm2-135m-instruct".into());
        let reference = ctx.project.reference_dir(&slug);
        if !reference.join("config.json").is_file() {
            bail!("{slug}: no reference checkpoint at {reference}; run `cargo xtask pull` first");
        }
        let live = |args: &[&str]| -> Result<()> {
            let argv: Vec<String> = std::iter::once(bin.to_string()).chain(args.iter().map(|a| a.to_string())).collect();
            crate::runner::run_live(&argv, None, std::time::Duration::from_secs(3600))?;
            Ok(())
        };
        live(&["bench", "--model-dir", reference.as_str()])?;
        let fixture = ctx.project.models().join("bench-fixture-llama");
        crate::util::run_tool(
            &[bin.to_string(), "fixture".into(), "--arch".into(), "llama".into(), "--out".into(), fixture.to_string()],
            None,
            false,
        )?;
        live(&["bench", "--model-dir", fixture.as_str(), "--tokens", "64"])?;
        Ok(0)
    }
}
