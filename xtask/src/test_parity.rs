//! `cargo xtask test-parity`: the integration tests that need the real apr and the
//! converted real model (run after `cargo xtask ci`).

use crate::context::Ctx;
use anyhow::Result;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct TestParity {}

impl TestParity {
    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        let argv: Vec<String> =
            ["cargo", "test", "--package", "xtask", "--test", "parity", "--", "--ignored", "--nocapture"].map(String::from).to_vec();
        crate::runner::run_live(&argv, Some(ctx.project.root.as_std_path()), std::time::Duration::from_secs(3 * 3600))?;
        Ok(0)
    }
}
