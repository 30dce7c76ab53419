//! Running the planned jobs: one executor for every kind of observation, on
//! `--jobs` threads, each through the runtime under test's or a comparator's own
//! command line (`runner.rs`), replayed from its cached observation when the job's
//! content-hash key still matches, and stored (observation and stamp) when it ran.

use crate::cache::{self, HashCache};
use crate::context::Ctx;
use crate::judge::corrupt::{CorruptKey, CorruptRun};
use crate::judge::{GenKey, Observed, StructureKey};
use crate::runner::RunOptions;
use crate::runtime::{self, Runtime};
use anyhow::Result;
use camino::Utf8PathBuf;
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use tmgt_schema::kld::KldReport;
use tmgt_schema::tokenize::BatteryRun;
use tmgt_schema::{Generation, Score};

/// What one job observes.
pub(crate) enum JobKind {
    Generate {
        key: GenKey,
        prompt: String,
    },
    Score {
        runtime: String,
        artifact: String,
    },
    Structure {
        key: StructureKey,
        command: &'static str,
    },
    ReferenceScore,
    Kld {
        runtime: String,
        artifact: String,
    },
    Battery {
        runtime: String,
        artifact: String,
    },
    BatteryReference,
    /// One corrupt file made from `source` and every apr command on it.
    Corrupt(CorruptJob),
}

/// What a corrupt-input job needs to make its file and run apr on it.
pub(crate) struct CorruptJob {
    pub(crate) recipe: &'static crate::corrupt::Row,
    pub(crate) source: Utf8PathBuf,
    /// The checkpoint's JSON files, copied beside a corrupt model.safetensors.
    pub(crate) siblings: Vec<Utf8PathBuf>,
    /// The folder its temp folder is made in (the model's).
    pub(crate) work: Utf8PathBuf,
    pub(crate) apr: String,
    pub(crate) timeout: std::time::Duration,
}

pub(crate) struct Job {
    pub(crate) kind: JobKind,
    pub(crate) argv: Vec<String>,
    pub(crate) cwd: Option<Utf8PathBuf>,
    /// Content-hash key parts.
    pub(crate) inputs: BTreeMap<String, String>,
    /// Where the observation is kept.
    pub(crate) file: Utf8PathBuf,
}

pub(crate) enum Finished {
    Generation(GenKey, Observed<Generation>),
    Score((String, String), Observed<Score>),
    Structure(StructureKey, Observed<serde_json::Value>),
    Reference(Observed<Score>),
    Kld((String, String), Observed<KldReport>),
    Battery((String, String), Observed<BatteryRun>),
    BatteryReference(Observed<BatteryRun>),
    Corrupt(Vec<(CorruptKey, Observed<CorruptRun>)>),
}

/// A corrupt-input job's cached runs, when its key still matches and none of them
/// may turn out otherwise next time (`transient`).
pub(crate) fn cached_corrupt(ctx: JobEnv, job: &Job) -> Option<Vec<(CorruptKey, Observed<CorruptRun>)>> {
    if ctx.no_cache || !cache::is_fresh(&job.file.with_extension("stamp.json"), &job.inputs, ctx.cache) {
        return None;
    }
    let runs: Vec<(CorruptKey, Observed<CorruptRun>)> = crate::util::read_json(&job.file).ok()?;
    (!runs.is_empty() && !runs.iter().any(|(_, o)| transient(o))).then_some(runs)
}

/// The kld suite's base file (made here when this model has none for the current
/// text, context, checkpoint and oracle source) and the battery's strings.
/// A failure that may not happen again (a timeout, a kill by a signal): never replayed.
pub(crate) fn transient<T>(obs: &Observed<T>) -> bool {
    matches!(obs, Observed::Failed { invocation, .. } if invocation.timed_out || invocation.exit_code.is_none())
}

/// What job threads share: the hash cache, the cache switch, and the runtimes that
/// parse their own output.
#[derive(Clone, Copy)]
pub(crate) struct JobEnv<'a> {
    pub(crate) cache: &'a HashCache,
    pub(crate) no_cache: bool,
    /// The harness's runtimes (their parsers).
    pub(crate) runtimes: &'a [Box<dyn Runtime>],
}

/// A cached observation, when its key still matches.
pub(crate) fn cached<T: DeserializeOwned>(ctx: JobEnv, job: &Job) -> Option<Observed<T>> {
    if ctx.no_cache {
        return None;
    }
    let stamp = job.file.with_extension("stamp.json");
    if !cache::is_fresh(&stamp, &job.inputs, ctx.cache) {
        return None;
    }
    crate::util::read_json::<Observed<T>>(&job.file).ok().filter(|obs| !transient(obs))
}

pub(crate) fn store<T: Serialize>(ctx: JobEnv, job: &Job, value: &T) -> Result<()> {
    crate::util::write_json(&job.file, value)?;
    cache::record(&job.file.with_extension("stamp.json"), "observation", &job.inputs, std::slice::from_ref(&job.file), ctx.cache)
}

pub(crate) fn execute(ctx: JobEnv, job: &Job) -> (Finished, bool) {
    let opts = RunOptions { timeout: runtime::default_timeout(), cwd: job.cwd.clone().map(Into::into), env: Vec::new() };
    macro_rules! observe {
        ($t:ty, $parse:expr) => {{
            match cached::<$t>(ctx, job) {
                Some(obs) => (obs, true),
                None => {
                    let obs: Observed<$t> = runtime::observe(job.argv.clone(), &opts, $parse);
                    if let Err(e) = store(ctx, job, &obs) {
                        eprintln!("warning: observation not cached: {e:#}");
                    }
                    (obs, false)
                }
            }
        }};
    }
    match &job.kind {
        JobKind::Generate { key, .. } => {
            let rt = runtime_named(ctx.runtimes, &key.runtime);
            let (obs, hit) = observe!(Generation, |s: &str| rt.parse_generation(s));
            (Finished::Generation(key.clone(), obs), hit)
        }
        JobKind::Score { runtime: name, artifact } => {
            let rt = runtime_named(ctx.runtimes, name);
            let (obs, hit) = observe!(Score, |s: &str| rt.parse_score(s));
            (Finished::Score((name.clone(), artifact.clone()), obs), hit)
        }
        JobKind::Structure { key, .. } => {
            let (obs, hit) = match cached::<serde_json::Value>(ctx, job) {
                Some(obs) => (obs, true),
                None => {
                    let inv = crate::runner::run(&job.argv, &opts);
                    // JSON on stdout is judged on its content whatever the exit code
                    // (validate/lint exit non-zero when they find problems); the exit
                    // code stays in the invocation for the judge.
                    let obs = match runtime::strict_json(&inv.stdout) {
                        Ok(value) => Observed::Ok { value, invocation: inv },
                        Err(parse_error) => match crate::runner::check(&inv) {
                            Err(failure) => Observed::Failed { error: failure.to_string(), invocation: inv },
                            Ok(()) => Observed::Failed { error: parse_error, invocation: inv },
                        },
                    };
                    if let Err(e) = store(ctx, job, &obs) {
                        eprintln!("warning: observation not cached: {e:#}");
                    }
                    (obs, false)
                }
            };
            (Finished::Structure(key.clone(), obs), hit)
        }
        JobKind::Kld { runtime: name, artifact } => {
            let (obs, hit) = observe!(KldReport, runtime::parse_json::<KldReport>);
            (Finished::Kld((name.clone(), artifact.clone()), obs), hit)
        }
        JobKind::Battery { runtime: name, artifact } => {
            let (obs, hit) = observe!(BatteryRun, runtime::parse_json::<BatteryRun>);
            (Finished::Battery((name.clone(), artifact.clone()), obs), hit)
        }
        JobKind::BatteryReference => {
            let (obs, hit) = observe!(BatteryRun, runtime::parse_json::<BatteryRun>);
            (Finished::BatteryReference(obs), hit)
        }
        JobKind::Corrupt(c) => {
            let runs = cached_corrupt(ctx, job);
            let hit = runs.is_some();
            let runs = runs.unwrap_or_else(|| {
                let runs = crate::corrupt::observe(
                    c.recipe,
                    c.source.as_std_path(),
                    &c.siblings.iter().map(|p| p.as_std_path().to_path_buf()).collect::<Vec<_>>(),
                    c.work.as_std_path(),
                    &c.apr,
                    c.timeout,
                );
                if let Err(e) = store(ctx, job, &runs) {
                    eprintln!("warning: observation not cached: {e:#}");
                }
                runs
            });
            (Finished::Corrupt(runs), hit)
        }
        JobKind::ReferenceScore => {
            let (obs, hit) =
                observe!(Score, |s: &str| runtime::strict_json(s).and_then(|v| serde_json::from_value(v).map_err(|e| e.to_string())));
            (Finished::Reference(obs), hit)
        }
    }
}

/// The harness runtime that planned a job (its parser reads the job's output).
pub(crate) fn runtime_named<'a>(runtimes: &'a [Box<dyn Runtime>], name: &str) -> &'a dyn Runtime {
    runtimes.iter().find(|r| r.name() == name).map(|r| r.as_ref()).expect("a job of a runtime the harness planned with")
}

pub(crate) fn describe(job: &Job) -> String {
    match &job.kind {
        JobKind::Generate { key, prompt } => format!("{} run {} {prompt}", key.runtime, key.artifact),
        JobKind::Score { runtime, artifact } => format!("{runtime} score {artifact}"),
        JobKind::Structure { command, .. } => format!("apr {command}"),
        JobKind::ReferenceScore => "oracle score reference".into(),
        JobKind::Kld { runtime, artifact } => format!("{runtime} kld {artifact}"),
        JobKind::Battery { runtime, artifact } => format!("{runtime} tokenizer battery {artifact}"),
        JobKind::BatteryReference => "oracle tokenizer battery reference".into(),
        JobKind::Corrupt(c) => format!("apr on a corrupt file: {}", c.recipe.name),
    }
}

pub(crate) fn status_word<T>(obs: &Observed<T>) -> &'static str {
    match obs {
        Observed::Ok { .. } => "ok",
        Observed::Failed { .. } => "FAILED",
        Observed::Blocked { .. } => "blocked",
        Observed::Skipped { .. } => "skipped",
    }
}

/// Runs the jobs on `ctx.jobs` threads, printing one line per finished job.
pub(crate) fn run_jobs(ctx: &Ctx, runtimes: &[Box<dyn Runtime>], slug: &str, jobs: Vec<Job>) -> Vec<Finished> {
    let total = jobs.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let ran = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(total));
    let started = std::time::Instant::now();
    let env = JobEnv { cache: &ctx.cache, no_cache: ctx.no_cache, runtimes };
    let threads = ctx.jobs.max(1);
    let progress = crate::util::Progress::new(slug, total as u64);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(job) = jobs.get(i) else { break };
                let t0 = std::time::Instant::now();
                progress.working_on(&describe(job));
                let (finished, hit) = execute(env, job);
                let word = match &finished {
                    Finished::Generation(_, o) => status_word(o),
                    Finished::Score(_, o) | Finished::Reference(o) => status_word(o),
                    Finished::Structure(_, o) => status_word(o),
                    Finished::Kld(_, o) => status_word(o),
                    Finished::Battery(_, o) | Finished::BatteryReference(o) => status_word(o),
                    Finished::Corrupt(runs) => runs.iter().map(|(_, o)| status_word(o)).find(|w| *w != "ok").unwrap_or("ok"),
                };
                let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                if !hit {
                    ran.fetch_add(1, Ordering::SeqCst);
                    progress.line(&format!("{slug}: [{n}/{total}] {}: {word} ({:.1}s)", describe(job), t0.elapsed().as_secs_f64()));
                }
                progress.advance();
                results.lock().unwrap().push(finished);
            });
        }
    });
    progress.finish();
    let ran = ran.into_inner();
    println!("{slug}: {total} observations, {ran} run, {} from cache, {:.1}s", total - ran, started.elapsed().as_secs_f64());
    results.into_inner().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tmgt_schema::Invocation;

    fn failed(exit_code: Option<i32>, timed_out: bool) -> Observed<()> {
        Observed::Failed { error: "boom".into(), invocation: Invocation { exit_code, timed_out, ..Invocation::default() } }
    }

    #[test]
    fn only_deterministic_failures_may_be_replayed() {
        assert!(transient(&failed(None, true)), "a timeout may not happen again");
        assert!(transient(&failed(None, false)), "a kill by a signal may not happen again");
        assert!(!transient(&failed(Some(101), false)), "a panic with an exit code is the runtime's answer");
        let ok: Observed<()> = Observed::Ok { value: (), invocation: Invocation { exit_code: Some(0), ..Invocation::default() } };
        assert!(!transient(&ok));
    }
}
