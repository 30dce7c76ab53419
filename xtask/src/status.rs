//! `cargo xtask status`: reads the last results file (reruns nothing) and prints the
//! parity table, JSON, or the retest delta; `--write` updates CLAUDE.md; `--merge
//! FILES…` joins the results files of a sharded run (receipt.rs) into one table. It
//! also writes the KLD plot of each model (models/results/kld-<model>.svg).

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

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Status {
    /// Replace the table in CLAUDE.md (between its markers).
    #[arg(long)]
    pub write: bool,
    /// The results as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Compare with an earlier results file ("auto": the last run with another apr).
    #[arg(long)]
    pub since: Option<String>,
    /// Merge these results files (the shards of one run, from any hosts) instead of
    /// reading the last results; what was merged is described on stderr.
    #[arg(long, num_args = 1.., value_name = "FILES")]
    pub merge: Vec<Utf8PathBuf>,
    /// Also save the merged results here (a results file `status`/`ticket` can read).
    #[arg(long, requires = "merge")]
    pub out: Option<Utf8PathBuf>,
}

/// The last results, or the merge of `files` (then the exit code: 2 when a shard is
/// missing, 0 otherwise). The merge's description goes to stderr.
pub fn latest_or_merged(ctx: &Ctx, files: &[Utf8PathBuf]) -> Result<(RunResults, i32)> {
    if files.is_empty() {
        return Ok((latest(ctx)?, 0));
    }
    let merged = crate::receipt::merge_files(files)?;
    eprint!("{}", crate::receipt::describe(&merged));
    let code = if merged.missing.is_empty() { 0 } else { 2 };
    Ok((merged.results, code))
}

impl Status {
    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        let (current, code) = latest_or_merged(ctx, &self.merge)?;
        if let Some(out) = &self.out {
            current.write(out.as_std_path())?;
        }
        if self.json {
            print!("{}", current.to_json());
            return Ok(code);
        }
        let table = crate::report::status_table(&current);
        println!("{table}");
        for (model, rows) in crate::statistics_view::kld_reports(&current) {
            if let Some(svg) = crate::statistics_view::kld_svg(&model, &rows) {
                let path = ctx.project.results_dir().join(format!("kld-{model}.svg"));
                tmgt_schema::write_atomic(path.as_std_path(), svg.as_bytes())?;
                println!("{path}: the KLD quantile curves of {model}");
            }
        }
        if self.write {
            let path = ctx.project.claude_md();
            let spliced = crate::report::write_claude_md(path.as_std_path(), &table)?;
            println!("{path}: parity table {spliced:?}");
        }
        if let Some(since) = self.since {
            print_delta(ctx, &current, Some(&since))?;
        }
        Ok(code)
    }
}

pub fn print_delta(ctx: &Ctx, current: &RunResults, since: Option<&str>) -> Result<()> {
    let previous = match since {
        Some(name) if name != "auto" => Some(read_named_results(ctx, name)?),
        _ => previous_results(ctx, current),
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

/// A results file named by the user: a path, or a name under models/results/.
pub fn read_named_results(ctx: &Ctx, name: &str) -> Result<RunResults> {
    let path = if name.contains('/') { Utf8PathBuf::from(name) } else { ctx.project.results_dir().join(name) };
    RunResults::read(path.as_std_path())
}

/// The run a retest compares `current` with (`delta::pick_previous` over the kept results).
pub fn previous_results(ctx: &Ctx, current: &RunResults) -> Option<RunResults> {
    let earlier: Vec<RunResults> = history(ctx).into_iter().filter(|r| r.started_at < current.started_at).collect();
    crate::delta::pick_previous(&earlier, current).cloned()
}
