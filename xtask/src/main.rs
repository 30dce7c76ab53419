//! `cargo xtask`: every task of the harness, one module each owning its arguments and
//! its `run` (see ARCHITECTURE.md for the map). The dispatch below is flat: parse,
//! take the lock if the task writes under models/, build the context, run.

mod artifacts;
mod bench;
mod cache;
mod check;
mod ci;
mod clean;
mod comparator;
mod context;
mod convert;
mod corrupt;
mod coverage;
mod delta;
mod doctor;
mod executor;
mod harness;
mod install_apr;
mod judge;
mod lock;
mod oracle;
mod project;
mod pull;
mod receipt;
mod report;
mod roster;
mod runner;
mod runtime;
mod safetensors;
mod shard;
mod statistics_view;
mod status;
mod tensor_error;
mod test_parity;
mod ticket;
mod truth;
mod util;

use anyhow::Result;
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
    roster: Option<Utf8PathBuf>,
    /// The apr to check: a version installed by `install-apr --version V`, or a path
    /// (default: $TMGT_APR, which may also name a version, else `apr` on PATH).
    #[arg(long, global = true, value_name = "V|PATH")]
    apr: Option<String>,
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Fetch every roster model and build its reference checkpoint (stamped, verified).
    Pull(pull::Pull),
    /// Write the goldens, or verify the committed ones (--force accepts a change).
    Oracle(oracle::Oracle),
    /// The goldens on CUDA (oracle-gen built with --features cuda).
    OracleGpu(oracle::OracleGpu),
    /// Make every artifact: apr import/export, candle's and llama.cpp's quantizations.
    Convert(convert::Convert),
    /// Run the checks and save the results (`check-<suite>` is `check --suite <suite>`).
    Check(check::Check),
    /// Print the parity table from the last results (reruns nothing).
    Status(status::Status),
    /// Markdown issue for the runtime under test's maintainers, from the last results.
    Ticket(ticket::Ticket),
    /// pull → oracle → convert → check → status; exit 0 pass, 1 findings, 2 harness broken.
    Ci(ci::Ci),
    /// After an apr upgrade: rebuild what the stamps say is stale, recheck, show the delta.
    Recheck(ci::Recheck),
    /// Remove the generated files under models/.
    Clean(clean::Clean),
    /// What the harness needs from this machine (system packages, apr, llama.cpp) and the fix.
    Doctor(doctor::Doctor),
    /// Install the pinned apr-cli unless `apr --version` reports it, or `--version V`
    /// beside the others (then `--apr V` runs it).
    InstallApr(install_apr::InstallApr),
    /// Benchmarks that print numbers (`oracle`: prefill/decode tok/s, bandwidth bound).
    Bench(bench::Bench),
    /// The integration tests that need apr and converted models.
    TestParity(test_parity::TestParity),
    /// Line coverage per file (cargo-tarpaulin, installed on demand).
    Coverage(coverage::Coverage),
}

impl Task {
    /// Tasks that write under models/ hold the lock; readers, test runners and the
    /// installers do not (test-parity and coverage run xtask itself, which takes the
    /// lock; install-apr may run beside anything, as `.ci/run` does while it tests).
    fn writes(&self) -> bool {
        !matches!(self, Task::Status(_) | Task::Ticket(_) | Task::TestParity(_) | Task::Coverage(_) | Task::Doctor(_) | Task::InstallApr(_))
    }
}

/// `check-<suite> ARGS…` is `check --suite <suite> ARGS…` (every flag kept);
/// `check-token` and `check-drift` are the seed's short names.
fn expand_alias(args: Vec<String>) -> Vec<String> {
    let Some(pos) = args.iter().skip(1).position(|a| a.starts_with("check-")).map(|p| p + 1) else { return args };
    let suite = match &args[pos]["check-".len()..] {
        "token" => "token-parity".to_string(),
        "drift" => "quant-drift".to_string(),
        other => other.to_string(),
    };
    let mut out = args[..pos].to_vec();
    out.extend(["check".to_string(), "--suite".to_string(), suite]);
    out.extend(args[pos + 1..].iter().cloned());
    out
}

fn main() {
    let cli = Cli::parse_from(expand_alias(std::env::args().collect()));
    // The apr to check, resolved once here (before any thread starts) into TMGT_APR,
    // which every apr command line and every child xtask then reads. install-apr
    // resolves nothing: it is how a missing version gets there.
    if !matches!(cli.task, Task::InstallApr(_)) {
        if let Some(spec) = cli.apr.clone().or_else(|| std::env::var("TMGT_APR").ok()) {
            match install_apr::resolve(&spec) {
                Ok(program) => std::env::set_var("TMGT_APR", program),
                Err(why) => {
                    eprintln!("error: {why}");
                    std::process::exit(2);
                }
            }
        }
    }
    runner::install_signal_handler();
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
    let roster = cli.roster.map(|r| project.root.join(r)).unwrap_or_else(|| project.root.join("roster.toml"));
    let _lock = if cli.task.writes() { Some(lock::WorkLock::acquire(&project.models())?) } else { None };
    if cli.task.writes() {
        let swept = runner::sweep(project.models().as_std_path());
        if swept > 0 {
            println!("removed {swept} temp file(s) an interrupted earlier run left under {}", project.models());
        }
    }
    let ctx = Ctx::new(project, roster, jobs, cli.offline, cli.no_cache)?;
    match cli.task {
        Task::Pull(cmd) => cmd.run(&ctx),
        Task::Oracle(cmd) => cmd.run(&ctx),
        Task::OracleGpu(cmd) => cmd.run(&ctx),
        Task::Convert(cmd) => cmd.run(&ctx),
        Task::Check(cmd) => cmd.run(&ctx),
        Task::Status(cmd) => cmd.run(&ctx),
        Task::Ticket(cmd) => cmd.run(&ctx),
        Task::Ci(cmd) => cmd.run(&ctx),
        Task::Recheck(cmd) => cmd.run(&ctx),
        Task::Clean(cmd) => cmd.run(&ctx),
        Task::InstallApr(cmd) => cmd.run(&ctx),
        Task::Doctor(cmd) => cmd.run(&ctx),
        Task::Bench(cmd) => cmd.run(&ctx),
        Task::TestParity(cmd) => cmd.run(&ctx),
        Task::Coverage(cmd) => cmd.run(&ctx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn check_aliases_keep_every_flag() {
        assert_eq!(expand_alias(args("xtask check-canary --runtime candle")), args("xtask check --suite canary --runtime candle"));
        assert_eq!(expand_alias(args("xtask --jobs 1 check-token --model m")), args("xtask --jobs 1 check --suite token-parity --model m"));
        assert_eq!(expand_alias(args("xtask status")), args("xtask status"));
        let cli = Cli::parse_from(expand_alias(args("xtask check-canary --runtime candle --model m")));
        let Task::Check(check) = cli.task else { panic!("not a check") };
        assert_eq!(
            (check.suites, check.runtime.as_deref(), check.model.as_deref()),
            (vec!["canary".to_string()], Some("candle"), Some("m"))
        );
    }

    #[test]
    fn every_task_has_a_one_line_help() {
        Cli::command().debug_assert();
        for sub in Cli::command().get_subcommands() {
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            assert!(!about.is_empty() && !about.contains('\n'), "{}: {about:?}", sub.get_name());
        }
    }
}
