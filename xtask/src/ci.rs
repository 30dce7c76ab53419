//! The pipelines: `ci` (install apr if missing, build the llama.cpp comparator, pull,
//! oracle, convert, check, status), `recheck` (after an apr upgrade: the same with
//! the apr that is there, stamps deciding what is stale, then the retest delta), and
//! `install-apr`.

use crate::check::Check;
use crate::context::Ctx;
use crate::oracle::{OnDifference, Oracle};
use crate::pull::Pull;
use crate::runtime::apr::{Apr, PINNED_VERSION};
use crate::shard::{Plan, Shard};
use anyhow::Result;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Ci {
    /// Only shard K of N, "K/N": pulls, converts and checks only what its jobs need
    /// (see shard.rs); `status --merge` joins the shards' results files.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Recheck {}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct InstallApr {}

impl Ci {
    /// The exit code: 0 the runtime under test passed, 1 findings, 2 harness broken
    /// (a planned runtime or comparator that cannot be made is the harness's problem:
    /// an error, so exit 2 with its reason and fix on one line).
    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        let mut clock = Clock::new("ci");
        prepare(ctx, &mut clock, true)?;
        let results = pipeline(ctx, self.shard, &mut clock)?;
        let code = crate::report::exit_code(&results);
        clock.finish(code);
        Ok(code)
    }
}

impl Recheck {
    /// `ci` on the apr that is here (never installing one), then the retest delta.
    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        let mut clock = Clock::new("recheck");
        prepare(ctx, &mut clock, false)?;
        let results = pipeline(ctx, None, &mut clock)?;
        crate::status::print_delta(ctx, &results, None)?;
        let code = crate::report::exit_code(&results);
        clock.finish(code);
        Ok(code)
    }
}

/// Each phase's wall time, printed as it ends and summed up on the last line.
pub struct Clock {
    task: &'static str,
    started: std::time::Instant,
    phase_started: std::time::Instant,
    phases: Vec<(&'static str, f64)>,
}

impl Clock {
    pub fn new(task: &'static str) -> Clock {
        let now = std::time::Instant::now();
        Clock { task, started: now, phase_started: now, phases: Vec::new() }
    }

    /// Ends the phase that began at the previous `lap` (or at the start).
    pub fn lap(&mut self, phase: &'static str) {
        let secs = self.phase_started.elapsed().as_secs_f64();
        println!("{}: {phase} took {}", self.task, crate::util::duration_text(secs));
        self.phases.push((phase, secs));
        self.phase_started = std::time::Instant::now();
    }

    pub fn finish(&self, code: i32) {
        let phases: Vec<String> = self.phases.iter().map(|(p, s)| format!("{p} {}", crate::util::duration_text(*s))).collect();
        println!(
            "{} in {} (exit {code}): {}",
            self.task,
            crate::util::duration_text(self.started.elapsed().as_secs_f64()),
            phases.join(", ")
        );
    }
}

/// Before any long step: the llama.cpp comparator (its system packages installed as
/// root, then built, unless switched off), apr (installed when `may_install` and
/// missing). Whatever cannot be made is an error: exit 2, its reason and fix on one line.
fn prepare(ctx: &Ctx, clock: &mut Clock, may_install: bool) -> Result<()> {
    // The comparator first: its build fails within a minute when something is wrong
    // with the machine, apr's takes twenty before it could.
    ensure_comparator(ctx).map_err(|why| anyhow::anyhow!("{why}"))?;
    clock.lap("llama.cpp comparator");
    ensure_apr(ctx, may_install).map_err(|why| anyhow::anyhow!("{why}"))?;
    clock.lap("apr");
    Ok(())
}

impl InstallApr {
    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        install_apr(ctx)?;
        Ok(0)
    }
}

/// Installs the pinned apr-cli unless `apr --version` already reports it (the
/// `install-apr` task: the user asked for the pinned version).
pub fn install_apr(ctx: &Ctx) -> Result<()> {
    match Apr::default().version_info() {
        Ok((v, _)) if v == PINNED_VERSION => {
            println!("apr {v} already installed");
            return Ok(());
        }
        Ok((v, _)) => println!("apr {v} found; the harness pins {PINNED_VERSION}: installing it"),
        Err(_) => println!("apr not found: installing apr-cli {PINNED_VERSION} from crates.io ({INSTALL_TIME})"),
    }
    cargo_install_apr(ctx).map_err(|why| anyhow::anyhow!("{why}"))
}

const INSTALL_TIME: &str = "about 25 minutes on two cores; cargo shows progress";

/// `cargo install apr-cli --locked --version PINNED`; the error is one line: the
/// command, its exit code and the telling line of cargo's stderr.
fn cargo_install_apr(ctx: &Ctx) -> Result<(), String> {
    if ctx.offline {
        return Err(format!("cannot install apr-cli {PINNED_VERSION} with --offline: run `cargo xtask install-apr` once online"));
    }
    let argv: Vec<String> = ["cargo", "install", "apr-cli", "--locked", "--version", PINNED_VERSION].map(String::from).to_vec();
    crate::runner::run_live(&argv, None, std::time::Duration::from_secs(4 * 3600))
        .map_err(|e| format!("installing apr-cli {PINNED_VERSION} failed: {}", e.one_line()))
}

/// What `ci` does about apr: uses the apr it finds whatever its version (reported;
/// it is in every observation), installs the pinned one only when there is none and
/// `TMGT_APR` does not name one. `recheck` never installs: it exists to check the apr
/// that is there. No usable apr at the end is an error (the harness cannot judge the
/// runtime under test): no apr outcome, no ticket.
fn ensure_apr(ctx: &Ctx, may_install: bool) -> Result<(), String> {
    let named = std::env::var("TMGT_APR").ok();
    match (Apr::default().version_info(), &named) {
        (Ok((v, _)), _) if v == PINNED_VERSION => println!("apr {v} (the pinned version)"),
        (Ok((v, _)), _) => println!("apr {v} found (the harness pins {PINNED_VERSION}): checking the apr that is here"),
        (Err(why), Some(path)) => {
            return Err(format!(
                "TMGT_APR={path} is not a usable apr: {} — point TMGT_APR at one, or unset it and `ci` installs apr-cli {PINNED_VERSION}",
                crate::judge::first_line(&why)
            ))
        }
        (Err(why), None) if !may_install => {
            return Err(format!(
                "apr not usable ({}): recheck checks the apr that is here and installs none — `cargo xtask install-apr` installs apr-cli {PINNED_VERSION}",
                crate::judge::first_line(&why)
            ))
        }
        (Err(_), None) => {
            println!("apr not found: installing apr-cli {PINNED_VERSION} from crates.io ({INSTALL_TIME})");
            cargo_install_apr(ctx)?;
            let (v, _) = Apr::default().version_info().map_err(|why| {
                format!(
                    "apr-cli {PINNED_VERSION} installed, but `apr --version` fails: {} — is cargo's bin folder (~/.cargo/bin) on PATH?",
                    crate::judge::first_line(&why)
                )
            })?;
            println!("apr {v} installed");
        }
    }
    Ok(())
}

/// Builds the llama.cpp comparator when it is not built (once per machine: its
/// target folder is a per-user cache) unless `TMGT_LLAMACPP=off`. `TMGT_LLAMACPP`
/// naming a binary uses it as it is. One that cannot be made is an error.
fn ensure_comparator(ctx: &Ctx) -> Result<(), String> {
    use crate::comparator::{self, ENV_BIN};
    if comparator::switched_off() {
        println!("llama.cpp comparator off ({ENV_BIN}=off): attribution limited to candle");
        return Ok(());
    }
    if let Ok(named) = std::env::var(ENV_BIN) {
        return if camino::Utf8Path::new(&named).is_file() {
            println!("llama.cpp comparator: {named} ({ENV_BIN})");
            Ok(())
        } else {
            Err(format!(
                "{ENV_BIN}={named}: no such file — point it at a built llamacpp-comparator, or set {ENV_BIN}=off to run without llama.cpp"
            ))
        };
    }
    // Nothing is installed with --offline (apt-get needs the network too).
    let bin = comparator::build_comparator(&ctx.project.root, ctx.offline, !ctx.offline).map_err(|why| {
        format!("the llama.cpp comparator cannot be built: {why} (or {ENV_BIN}=off to run without it: attribution limited to candle)")
    })?;
    println!("llama.cpp comparator: {bin}");
    Ok(())
}

/// pull → oracle → convert → check → status table: the results. A shard pulls and
/// verifies the goldens of its own models only.
fn pipeline(ctx: &Ctx, shard: Option<Shard>, clock: &mut Clock) -> Result<crate::report::RunResults> {
    let only: Option<Vec<String>> = shard.map(|s| {
        let plan = Plan::new(ctx.roster.models.len(), s.count);
        plan.models_of(s.index).into_iter().map(|i| ctx.roster.models[i].slug.clone()).collect()
    });
    if let (Some(s), Some(models)) = (shard, &only) {
        println!("shard {s}: models {}", if models.is_empty() { "none".to_string() } else { models.join(", ") });
    }
    Pull { model: None, only: only.clone() }.pull(ctx)?;
    clock.lap("pull");
    let f32_goldens = Oracle {
        model: None,
        dtype: "f32".into(),
        device: "cpu".into(),
        force: false,
        on_difference: OnDifference::Stop,
        only: only.clone(),
    };
    f32_goldens.goldens(ctx)?;
    clock.lap("goldens (f32)");
    // Reduced-precision goldens, where committed, are claims about the reference on a
    // CPU: verified here within their precision's error, a difference is reported in
    // the precision suite and never stops the checks.
    for dtype in ["bf16", "f16"] {
        for model in ctx.roster.select_only(None, only.as_deref())? {
            if ctx.project.golden_dir(&model.slug, dtype).is_dir() {
                let oracle = Oracle {
                    model: Some(model.slug.clone()),
                    dtype: dtype.into(),
                    device: "cpu".into(),
                    force: false,
                    on_difference: OnDifference::Report,
                    only: None,
                };
                if let Err(e) = oracle.goldens(ctx) {
                    println!("{}: {dtype} goldens could not be computed here: {e:#} — the precision suite reports it", model.slug);
                }
            }
        }
    }
    clock.lap("goldens (bf16, f16)");
    let results = Check { shard, ..Check::default() }.results(ctx)?;
    clock.lap("convert and check");
    println!();
    if shard.is_some_and(|s| s.count > 1) {
        // A shard's table is only its part; the run's is the merge's.
        if !results.outcomes.is_empty() {
            println!("{}", crate::report::status_table(&results));
        }
        println!("shard results saved: merge every shard's with `cargo xtask status --merge FILES…`");
        return Ok(results);
    }
    println!("{}", crate::report::status_table(&results));
    let silent = suites_without_outcome(&results);
    if !silent.is_empty() {
        anyhow::bail!("the harness produced no outcome for suite(s) {}: a suite that should have run did not", silent.join(", "));
    }
    Ok(results)
}

/// Suites with no outcome at all (every suite must say PASS, FAIL, BLOCKED or SKIP).
pub fn suites_without_outcome(results: &crate::report::RunResults) -> Vec<&'static str> {
    crate::judge::suites::names().filter(|s| !results.outcomes.iter().any(|o| o.suite == *s)).collect()
}
