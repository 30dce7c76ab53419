//! `cargo xtask status` and `cargo xtask ticket`: read the last results file (rerun
//! nothing) and print the parity table, JSON, the retest delta, or the ticket.

use crate::context::Ctx;
use crate::report::RunResults;
use anyhow::{Context, Result};
use camino::Utf8PathBuf;

pub fn latest(ctx: &Ctx) -> Result<RunResults> {
    let path = ctx.project.results_dir().join("latest.json");
    RunResults::read(path.as_std_path()).with_context(|| format!("no results yet at {path}: run `cargo xtask check` or `cargo xtask ci`"))
}

/// Every saved run, oldest first (latest.json excluded).
pub fn history(ctx: &Ctx) -> Vec<RunResults> {
    let mut files: Vec<Utf8PathBuf> = crate::util::files_under(&ctx.project.results_dir(), &["json"])
        .into_iter()
        .filter(|p| p.file_name() != Some("latest.json"))
        .collect();
    files.sort();
    files.iter().filter_map(|p| RunResults::read(p.as_std_path()).ok()).collect()
}

pub struct Status {
    pub write: bool,
    pub json: bool,
    /// A results file name (or path) to compare with; "auto" = last run with another apr.
    pub since: Option<String>,
}

impl Status {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let current = latest(ctx)?;
        if self.json {
            print!("{}", current.to_json());
            return Ok(());
        }
        let table = crate::report::status_table(&current);
        println!("{table}");
        if self.write {
            let path = ctx.project.claude_md();
            let spliced = crate::report::write_claude_md(path.as_std_path(), &table)?;
            println!("{path}: parity table {spliced:?}");
        }
        if let Some(since) = self.since {
            print_delta(ctx, &current, Some(&since))?;
        }
        Ok(())
    }
}

pub fn print_delta(ctx: &Ctx, current: &RunResults, since: Option<&str>) -> Result<()> {
    let history = history(ctx);
    let earlier: Vec<RunResults> = history.into_iter().filter(|r| r.started_at < current.started_at).collect();
    let previous = match since {
        Some(name) if name != "auto" => {
            let path = if name.contains('/') { Utf8PathBuf::from(name) } else { ctx.project.results_dir().join(name) };
            Some(RunResults::read(path.as_std_path())?)
        }
        _ => crate::delta::pick_previous(&earlier, current).cloned(),
    };
    match previous {
        Some(prev) => {
            let d = crate::delta::delta(&prev, current);
            println!("{}", crate::delta::render(&prev, current, &d));
        }
        None => println!("retest delta: no earlier run to compare with"),
    }
    Ok(())
}

pub fn ticket(ctx: &Ctx) -> Result<()> {
    print!("{}", crate::ticket::ticket(&latest(ctx)?));
    Ok(())
}
