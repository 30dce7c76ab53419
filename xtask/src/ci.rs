//! The pipelines: `ci` (install apr if missing, build the llama.cpp comparator, pull,
//! oracle, convert, check, status), `recheck` (after an apr upgrade: the same with
//! the apr that is there, stamps deciding what is stale, then the retest delta, exit 1
//! on a regression).

use crate::check::Check;
use crate::context::Ctx;
use crate::oracle::{OnDifference, Oracle};
use crate::pull::Pull;
use crate::runtime::apr::{Apr, PINNED_VERSION};
use crate::shard::{Plan, Shard};
use anyhow::Result;
use tmgt_schema::Precision;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Ci {
    /// Only shard K of N, "K/N": pulls, converts and checks only what its jobs need
    /// (see shard.rs); `status --merge` joins the shards' results files.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Recheck {
    /// The results to compare with (a file, or a name under models/results/); by
    /// default the latest made with another apr version.
    #[arg(long, value_name = "RESULTS")]
    pub from: Option<String>,
}

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
    /// `ci` on the apr that is here (never installing one), then the retest delta
    /// against the earlier results. It answers one question, did the upgrade break
    /// anything: exit 1 when a check that passed before fails now, 0 when none did
    /// (findings that were there before are in the delta and the ticket), 2 when the
    /// harness is broken; the last line says which. With nothing to compare with, the
    /// checks' own exit code.
    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        let mut clock = Clock::new("recheck");
        // A named file that is not there is bad input: said before any work.
        let named = self.from.as_deref().map(|f| crate::status::read_named_results(ctx, f)).transpose()?;
        prepare(ctx, &mut clock, false)?;
        let results = pipeline(ctx, None, &mut clock)?;
        let previous = match named {
            Some(p) => Some(p),
            None => crate::status::previous_results(ctx, &results),
        };
        let checks = crate::report::exit_code(&results);
        let Some(previous) = previous else {
            println!("retest delta: no earlier results to compare with");
            clock.finish(checks);
            println!("recheck: nothing to compare with: exit {checks} from the checks themselves");
            return Ok(checks);
        };
        let d = crate::delta::delta(&previous, &results);
        println!("{}", crate::delta::render(&previous, &results, &d));
        let code = if checks == 2 { 2 } else { i32::from(!d.regressed.is_empty()) };
        clock.finish(code);
        println!("{}", crate::delta::verdict_line(&previous, &d, code));
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
            println!("apr not found: installing apr-cli {PINNED_VERSION} from crates.io ({})", crate::install_apr::INSTALL_TIME);
            crate::install_apr::cargo_install_pinned(ctx)?;
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
        dtype: Precision::F32,
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
    for dtype in Precision::REDUCED {
        for model in ctx.roster.select_only(None, only.as_deref())? {
            if ctx.project.golden_dir(&model.slug, dtype).is_dir() {
                let oracle = Oracle {
                    model: Some(model.slug.clone()),
                    dtype,
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
