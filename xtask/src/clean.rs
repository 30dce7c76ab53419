//! `cargo xtask clean`: removes the generated files under models/ (goldens, rosters
//! and everything committed stay).

use crate::context::Ctx;
use anyhow::{Context, Result};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Clean {}

impl Clean {
    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        let models = ctx.project.models();
        let Ok(entries) = models.read_dir_utf8() else { return Ok(0) };
        for entry in entries.flatten() {
            let path = entry.path();
            // models/README.md is tracked; the lock is held by this very run.
            if path.file_name() == Some("README.md") || path.file_name() == Some(".xtask.lock") {
                continue;
            }
            if path.is_dir() {
                std::fs::remove_dir_all(path).with_context(|| format!("{path}: cannot remove"))?;
            } else {
                std::fs::remove_file(path).with_context(|| format!("{path}: cannot remove"))?;
            }
            println!("removed {path}");
        }
        Ok(0)
    }
}
