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
use anyhow::{Context, Result};

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
    /// The exit code: 0 the runtime under test passed, 1 findings, 2 harness broken.
    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        let t0 = std::time::Instant::now();
        ensure_apr(ctx, true);
        ensure_comparator(ctx);
        let results = pipeline(ctx, self.shard)?;
        let code = crate::report::exit_code(&results);
        println!("ci in {:.1}s (exit {code})", t0.elapsed().as_secs_f64());
        Ok(code)
    }
}

impl Recheck {
    /// `ci` on the apr that is here (never installing one), then the retest delta.
    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        let t0 = std::time::Instant::now();
        ensure_apr(ctx, false);
        ensure_comparator(ctx);
        let results = pipeline(ctx, None)?;
        crate::status::print_delta(ctx, &results, None)?;
        let code = crate::report::exit_code(&results);
        println!("recheck in {:.1}s (exit {code})", t0.elapsed().as_secs_f64());
        Ok(code)
    }
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
        Err(_) => println!(
            "apr not found: installing apr-cli {PINNED_VERSION} from crates.io (about 25 minutes on two cores; cargo shows progress)"
        ),
    }
    cargo_install_apr(ctx)
}

fn cargo_install_apr(ctx: &Ctx) -> Result<()> {
    if ctx.offline {
        anyhow::bail!("--offline: cannot install apr-cli {PINNED_VERSION}");
    }
    let argv: Vec<String> = ["cargo", "install", "apr-cli", "--locked", "--version", PINNED_VERSION].map(String::from).to_vec();
    crate::runner::run_live(&argv, None, std::time::Duration::from_secs(4 * 3600))
        .with_context(|| format!("cargo install apr-cli {PINNED_VERSION}"))?;
    Ok(())
}

/// What `ci` does about apr: uses the apr it finds whatever its version (reported;
/// it is in every observation), installs the pinned one only when there is none and
/// `TMGT_APR` does not name one. `recheck` never installs: it exists to check the apr
/// that is there.
fn ensure_apr(ctx: &Ctx, may_install: bool) {
    let named = std::env::var("TMGT_APR").ok();
    match (Apr::default().version_info(), &named) {
        (Ok((v, _)), _) if v == PINNED_VERSION => println!("apr {v} (the pinned version)"),
        (Ok((v, _)), _) => println!("apr {v} found (the harness pins {PINNED_VERSION}): checking the apr that is here"),
        (Err(why), Some(path)) => println!(
            "TMGT_APR={path}: {} — apr checks will be BLOCKED (nothing installed: TMGT_APR names the apr to use)",
            crate::judge::first_line(&why)
        ),
        (Err(_), None) if !may_install => println!("apr not found: recheck installs nothing — apr checks will be BLOCKED"),
        (Err(_), None) => {
            println!(
                "apr not found: installing apr-cli {PINNED_VERSION} from crates.io (about 25 minutes on two cores; cargo shows progress)"
            );
            if let Err(e) = cargo_install_apr(ctx) {
                println!("install-apr failed: {e:#} — apr checks will be BLOCKED");
            }
        }
    }
}

/// Builds the llama.cpp comparator when it is not built (once per machine: its
/// target folder is a per-user cache). A failure is printed with its reason and the
/// llama.cpp checks SKIP with it; the runtime under test is judged either way.
fn ensure_comparator(ctx: &Ctx) {
    if crate::comparator::switched_off() {
        println!("llama.cpp comparator off ({}=off) — its checks SKIP", crate::comparator::ENV_BIN);
        return;
    }
    if crate::comparator::find_bin(&ctx.project.root).is_some_and(|b| b.is_file()) && std::env::var(crate::comparator::ENV_BIN).is_ok() {
        return;
    }
    match crate::comparator::build_comparator(&ctx.project.root, ctx.offline, true) {
        Ok(bin) => println!("llama.cpp comparator: {bin}"),
        Err(why) => println!("llama.cpp comparator not available: {why} — its checks SKIP"),
    }
}

/// pull → oracle → convert → check → status table: the results. A shard pulls and
/// verifies the goldens of its own models only.
fn pipeline(ctx: &Ctx, shard: Option<Shard>) -> Result<crate::report::RunResults> {
    let only: Option<Vec<String>> = shard.map(|s| {
        let plan = Plan::new(ctx.roster.models.len(), s.count);
        plan.models_of(s.index).into_iter().map(|i| ctx.roster.models[i].slug.clone()).collect()
    });
    if let (Some(s), Some(models)) = (shard, &only) {
        println!("shard {s}: models {}", if models.is_empty() { "none".to_string() } else { models.join(", ") });
    }
    Pull { model: None, only: only.clone() }.pull(ctx)?;
    let f32_goldens = Oracle {
        model: None,
        dtype: "f32".into(),
        device: "cpu".into(),
        force: false,
        on_difference: OnDifference::Stop,
        only: only.clone(),
    };
    f32_goldens.goldens(ctx)?;
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
    let results = Check { shard, ..Check::default() }.results(ctx)?;
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
