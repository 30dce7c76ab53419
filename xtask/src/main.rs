//! `cargo xtask`: every task of the harness — pull, oracle, convert, check, status,
//! ticket, ci, recheck — one module each; the runtime under test goes through
//! runner.rs, judging is pure (judge/).

mod cache;
mod check;
mod comparator;
mod ci;
mod context;
mod convert;
mod delta;
mod judge;
mod lock;
mod oracle;
mod project;
mod pull;
mod report;
mod roster;
mod runner;
mod runtime;
mod status;
mod ticket;
mod truth;
mod util;

use anyhow::{bail, Result};
use camino::Utf8PathBuf;
use clap::{Parser, Subcommand};
use context::Ctx;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "tiny-model-ground-truth: falsify format conversions and runtimes")]
struct Cli {
    /// Parallel runtime processes (default: number of cores).
    #[arg(long, global = true)]
    jobs: Option<usize>,
    /// Never touch the network (HF hub, PyPI, crates.io); use what is cached.
    #[arg(long, global = true)]
    offline: bool,
    /// Ignore stamps and cached observations: redo every step.
    #[arg(long, global = true)]
    no_cache: bool,
    /// Another roster than roster.toml, e.g. roster-fixtures.toml (the tiny fixtures).
    #[arg(long, global = true)]
    roster: Option<String>,
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
    /// bf16 and f16 goldens on CUDA (oracle-gen built with --features cuda).
    OracleGpu {
        /// Also enable the flash-attn feature.
        #[arg(long)]
        kernels: bool,
        #[arg(long)]
        model: Option<String>,
    },
    /// Make every artifact (apr int8/int4/GGUF/roundtrip, candle Q8_0/Q4_0).
    Convert {
        #[arg(long)]
        model: Option<String>,
    },
    /// Run checks and save results; `check-<suite>` is the same with --suite.
    Check {
        #[arg(long)]
        suite: Vec<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        runtime: Option<String>,
        /// Also write a JUnit XML report here.
        #[arg(long)]
        junit: Option<Utf8PathBuf>,
    },
    /// Print the parity table from the last results (reruns nothing).
    Status {
        /// Replace the table in CLAUDE.md (between its markers).
        #[arg(long)]
        write: bool,
        #[arg(long)]
        json: bool,
        /// Compare with an earlier results file ("auto": the last run with another apr).
        #[arg(long)]
        since: Option<String>,
    },
    /// Markdown issue for the runtime's maintainers from the last results.
    Ticket,
    /// pull → oracle → convert → check → status.
    Ci,
    /// After an apr upgrade: rebuild what the stamps say is stale, recheck, show the delta.
    Recheck,
    /// Remove the generated files under models/.
    Clean,
    /// Install the pinned apr-cli if `apr --version` does not report it.
    InstallApr,
    /// Benchmarks that print numbers: `oracle` (prefill/decode tok/s, bandwidth bound).
    Bench {
        #[arg(default_value = "oracle")]
        what: String,
        #[arg(long)]
        model: Option<String>,
    },
    /// The integration tests that need apr and converted models.
    TestParity,
    /// Line coverage per file (cargo-llvm-cov).
    Coverage,
    #[command(external_subcommand)]
    Alias(Vec<String>),
}

fn main() {
    runner::install_signal_handler();
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
    if let Some(roster) = &cli.roster {
        std::env::set_var("TMGT_ROSTER", roster);
    }
    let project = project::Project::locate()?;
    let jobs = cli.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    // Tasks that write under models/ hold the lock; readers and test runners do not
    // (test-parity runs xtask itself, which takes the lock).
    let writes = !matches!(cli.task, Task::Status { .. } | Task::Ticket | Task::TestParity | Task::Coverage);
    let _lock = if writes { Some(lock::WorkLock::acquire(&project.models())?) } else { None };
    if writes {
        let swept = runner::sweep(project.models().as_std_path());
        if swept > 0 {
            println!("removed {swept} temp file(s) an interrupted earlier run left under {}", project.models());
        }
    }
    let ctx = Ctx::new(project, jobs, cli.offline, cli.no_cache)?;
    let check_exit = |results: report::RunResults| -> i32 { report::exit_code(&results) };
    match cli.task {
        Task::Pull { model } => {
            pull::Pull { model }.run(&ctx)?;
            Ok(0)
        }
        Task::Oracle { model, dtype, device, force } => {
            oracle::Oracle { model, dtype, device, force, on_difference: oracle::OnDifference::Stop }.run(&ctx)?;
            Ok(0)
        }
        Task::OracleGpu { kernels, model } => oracle_gpu(&ctx, kernels, model),
        Task::Convert { model } => {
            let harness = check::Harness::new(&ctx, None)?;
            let mut blocked = false;
            for m in ctx.roster.select(model.as_deref())? {
                let artifacts = convert::convert_model(&ctx, m, &harness.tools)?;
                blocked |= artifacts.values().any(|a| !matches!(a.state, convert::ArtifactState::Ready(_) | convert::ArtifactState::Skipped(_)));
            }
            Ok(i32::from(blocked))
        }
        Task::Check { suite, model, runtime, junit } => {
            Ok(check_exit(check::Check { suites: suite, model, runtime, junit }.run(&ctx)?))
        }
        Task::Alias(args) => {
            let Some(suite) = args.first().and_then(|a| a.strip_prefix("check-")) else {
                bail!("unknown task {:?}; see `cargo xtask --help`", args.first().cloned().unwrap_or_default());
            };
            let suite = match suite {
                "token" => "token-parity",
                "drift" => "quant-drift",
                other => other,
            };
            let model = args.windows(2).find(|w| w[0] == "--model").map(|w| w[1].clone());
            Ok(check_exit(check::Check { suites: vec![suite.to_string()], model, ..Default::default() }.run(&ctx)?))
        }
        Task::Status { write, json, since } => {
            status::Status { write, json, since }.run(&ctx)?;
            Ok(0)
        }
        Task::Ticket => {
            status::ticket(&ctx)?;
            Ok(0)
        }
        Task::Ci => ci::ci(&ctx, false),
        Task::Recheck => ci::ci(&ctx, true),
        Task::Clean => {
            ci::clean(&ctx)?;
            Ok(0)
        }
        Task::InstallApr => {
            ci::install_apr(&ctx)?;
            Ok(0)
        }
        Task::Bench { what, model } => bench(&ctx, &what, model),
        Task::TestParity => {
            let _dir = ctx.sh.push_dir(&ctx.project.root);
            xshell::cmd!(ctx.sh, "cargo test --package xtask --test parity -- --ignored --nocapture").run()?;
            Ok(0)
        }
        Task::Coverage => {
            let _dir = ctx.sh.push_dir(&ctx.project.root);
            if xshell::cmd!(ctx.sh, "cargo llvm-cov --version").quiet().ignore_stdout().run().is_err() {
                bail!("cargo-llvm-cov is not installed: `cargo install cargo-llvm-cov` (and `rustup component add llvm-tools-preview`)");
            }
            xshell::cmd!(ctx.sh, "cargo llvm-cov --workspace --summary-only").run()?;
            Ok(0)
        }
    }
}

fn oracle_gpu(ctx: &Ctx, kernels: bool, model: Option<String>) -> Result<i32> {
    let has_cuda = xshell::cmd!(ctx.sh, "nvidia-smi -L").quiet().ignore_stdout().ignore_stderr().run().is_ok();
    if !has_cuda {
        bail!("oracle-gpu needs a CUDA device: nvidia-smi found none");
    }
    let features = if kernels { "cuda,flash-attn" } else { "cuda" };
    let _dir = ctx.sh.push_dir(&ctx.project.root);
    xshell::cmd!(ctx.sh, "cargo build --release --package oracle-gen --features {features}").run()?;
    std::env::set_var("TMGT_ORACLE_GEN", crate::util::target_dir(&ctx.project.root).join("release/oracle-gen"));
    let gpu_ctx = Ctx::new(ctx.project.clone(), ctx.jobs, ctx.offline, ctx.no_cache)?;
    for dtype in ["bf16", "f16"] {
        oracle::Oracle { model: model.clone(), dtype: dtype.into(), device: "cuda".into(), force: false, on_difference: oracle::OnDifference::Stop }
            .run(&gpu_ctx)?;
    }
    Ok(0)
}

fn bench(ctx: &Ctx, what: &str, model: Option<String>) -> Result<i32> {
    if what != "oracle" {
        bail!("unknown benchmark {what:?} (oracle)");
    }
    let bin = ctx.oracle_gen()?;
    let slug = model.unwrap_or_else(|| "smollm2-135m-instruct".into());
    let reference = ctx.project.reference_dir(&slug);
    if !reference.join("config.json").is_file() {
        bail!("{slug}: no reference checkpoint at {reference}; run `cargo xtask pull` first");
    }
    xshell::cmd!(ctx.sh, "{bin} bench --model-dir {reference}").run()?;
    let fixture = ctx.project.models().join("bench-fixture-llama");
    xshell::cmd!(ctx.sh, "{bin} fixture --arch llama --out {fixture}").quiet().run()?;
    xshell::cmd!(ctx.sh, "{bin} bench --model-dir {fixture} --tokens 64").run()?;
    Ok(0)
}
