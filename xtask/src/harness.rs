//! The runtimes found on this machine for one run: apr (the runtime under test),
//! candle and llama.cpp (the comparators), each asked its version once, the tools'
//! identities the conversions are keyed by, and the GPU if there is one.

use crate::context::Ctx;
use crate::convert::Tools;
use crate::judge::{self, Outcome};
use crate::runner::RunOptions;
use crate::runtime::{apr::Apr, candle::Candle, llamacpp::LlamaCpp, Runtime};
use anyhow::Result;

pub struct Harness {
    pub tools: Tools,
    pub runtimes: Vec<Box<dyn Runtime>>,
    /// Each runtime's version, asked once per run (same order as `runtimes`).
    pub versions: Vec<Result<String, String>>,
    pub apr_info: Option<(String, Option<String>)>,
    /// The machine's GPU (`nvidia-smi -L`'s first line), if it has one.
    pub gpu: Option<String>,
}

/// The first GPU `nvidia-smi -L` lists, or None where there is none (or no driver).
pub fn detect_gpu() -> Option<String> {
    let inv =
        crate::runner::run(&["nvidia-smi".to_string(), "-L".to_string()], &RunOptions::with_timeout(std::time::Duration::from_secs(20)));
    if crate::runner::check(&inv).is_err() {
        return None;
    }
    inv.stdout.lines().map(str::trim).find(|l| l.starts_with("GPU ")).map(String::from)
}

impl Harness {
    /// The Harness health row for a model judged without llama.cpp (switched off or
    /// not built): attribution then rests on candle alone.
    pub fn missing_comparator(&self, model: &str) -> Option<Outcome> {
        let i = self.runtimes.iter().position(|r| r.name() == judge::LLAMACPP)?;
        let why = self.versions[i].as_ref().err()?;
        Some(judge::comparator_missing(model, judge::LLAMACPP, why))
    }

    pub fn new(ctx: &Ctx, runtime_filter: Option<&str>) -> Result<Harness> {
        let apr = Apr::default();
        let apr_info = apr.version_info();
        if let Err(why) = &apr_info {
            println!("apr: not usable ({}) — apr checks will be BLOCKED; `cargo xtask install-apr` installs it", judge::first_line(why));
        }
        let oracle_source = crate::oracle::oracle_source_hash(&ctx.project.root, &ctx.cache)?;
        let oracle_gen = ctx.oracle_gen()?;
        // Each runtime is asked its version once per run.
        let apr_version = apr_info.as_ref().map(|(v, c)| crate::runtime::apr::version_line(v, c.as_deref())).map_err(Clone::clone);
        let llamacpp = LlamaCpp::detect(ctx.jobs);
        let llamacpp_version = llamacpp.version();
        let candle = Candle {
            oracle_gen: oracle_gen.clone(),
            source_hash: oracle_source.clone(),
            candle: crate::util::locked_version(&ctx.project.root, "candle-core"),
            threads: llamacpp.threads,
            kld_windows: ctx.roster.settings.kld_candle_windows,
        };
        let candle_version = candle.version();
        let tools = Tools {
            apr: apr_version.clone(),
            apr_program: apr.program.clone(),
            oracle_gen: Some(oracle_gen),
            oracle_source,
            llamacpp: match (&llamacpp.program, &llamacpp_version) {
                (Some(bin), Ok(version)) => Ok((bin.clone(), version.clone())),
                (_, Err(why)) => Err(why.clone()),
                (None, Ok(_)) => Err(crate::comparator::not_built_reason(&ctx.project.root)),
            },
        };
        let mut runtimes: Vec<(Box<dyn Runtime>, Result<String, String>)> =
            vec![(Box::new(apr), apr_version), (Box::new(candle), candle_version), (Box::new(llamacpp), llamacpp_version)];
        if let Some(only) = runtime_filter {
            anyhow::ensure!(runtimes.iter().any(|(r, _)| r.name() == only), "unknown runtime {only:?} (apr, candle, llama.cpp)");
            runtimes.retain(|(r, _)| r.name() == only);
        }
        let (runtimes, versions) = runtimes.into_iter().unzip();
        Ok(Harness { tools, runtimes, versions, apr_info: apr_info.ok(), gpu: detect_gpu() })
    }
}
