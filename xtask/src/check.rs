//! `cargo xtask check`: gathers every observation the suites need — one generation
//! per (runtime, artifact, prompt), one score per (runtime, artifact), the structure
//! subcommands — runs them in parallel up to --jobs, each cached under a content-hash
//! key, then hands the evidence to the pure judges and saves the results.

use crate::cache;
use crate::context::Ctx;
use crate::convert::{self, ArtifactState, Artifacts};
use crate::executor::{run_jobs, CorruptJob, Finished, Job, JobKind};
use crate::harness::Harness;
use crate::judge::corrupt::{Command as CorruptCommand, CorruptKey, CorruptRun};
use crate::judge::structure::On;
use crate::judge::suites::{Need, Suite};
use crate::judge::{self, recast, GenKey, ModelEvidence, Observed, Outcome, StructureKey, Subject, Tolerances};
use crate::receipt::{Host, Receipt};
use crate::report::{bound_evidence, save_results, Provenance, RunResults, RESULTS_SCHEMA_VERSION};
use crate::roster::Model;
use crate::runner::RunOptions;
use crate::runtime;
use crate::shard::{Holding, Plan, Shard};
use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use std::collections::{BTreeMap, BTreeSet};
use tmgt_schema::{Golden, Precision};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Check {
    /// A suite to judge (repeatable; none: every suite).
    #[arg(long = "suite")]
    pub suites: Vec<String>,
    /// Only this model (a roster slug).
    #[arg(long)]
    pub model: Option<String>,
    /// Only this runtime (apr, candle, llama.cpp).
    #[arg(long)]
    pub runtime: Option<String>,
    /// Also write a JUnit XML report here.
    #[arg(long)]
    pub junit: Option<Utf8PathBuf>,
    /// Only shard K of N of the planned jobs, "K/N" (by model first, then by job key;
    /// see shard.rs): N machines each run one, `status --merge` joins their results.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
}

/// A shard's evidence for the merge, with the same bound on process output (every
/// kind of observation: `ModelEvidence::invocations_mut`).
fn bounded(mut ev: ModelEvidence) -> ModelEvidence {
    for invocation in ev.invocations_mut() {
        *invocation = invocation.bounded(crate::report::EVIDENCE_OUTPUT);
    }
    ev
}

/// What `check_model` made of one model: outcomes (and the artifact × runtime matrix)
/// when this shard judged it, its evidence when the merge will.
#[derive(Default)]
struct ModelRun {
    outcomes: Vec<Outcome>,
    matrix: Option<judge::attribution::Matrix>,
    evidence: Option<ModelEvidence>,
    /// [jobs run here, jobs planned for the model].
    jobs: [usize; 2],
}

/// The inputs of the kld and tokenizer-battery suites, named before the jobs are
/// planned; the KLD base is made only where a kld job runs (see `ensure_kld_base`).
#[derive(Default)]
struct SuiteInputs {
    /// The oracle's base file for the KLD text (its path; it may not exist yet).
    kld_base: Option<KldBase>,
    /// The tokenizer battery's file.
    battery: Option<Utf8PathBuf>,
}

impl Check {
    /// The exit code of the judged run (see `report::exit_code`).
    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        Ok(crate::report::exit_code(&self.results(ctx)?))
    }

    /// Gathers, judges and saves; the results.
    pub fn results(&self, ctx: &Ctx) -> Result<RunResults> {
        for s in &self.suites {
            judge::suites::suite(s)?;
        }
        let tolerances: Tolerances = ctx.roster.tolerances()?;
        let harness = Harness::new(ctx, self.runtime.as_deref())?;
        let started_at = crate::util::now_rfc3339();
        let shard = self.shard.unwrap_or_default();
        let selected = ctx.roster.select(self.model.as_deref())?;
        let plan = Plan::new(selected.len(), shard.count);
        let mut receipt = self.receipt(ctx, &harness, &selected, shard)?;
        let mut outcomes = Vec::new();
        let mut provenance = BTreeMap::new();
        let mut matrices = BTreeMap::new();
        let mut evidence = BTreeMap::new();
        for (i, model) in selected.into_iter().enumerate() {
            let Some(holding) = plan.holding(shard.index, i) else { continue };
            // Calls on no model (apr list) are made once, with the first model's.
            let first = i == 0;
            let part = Part { plan, shard, model: i, holding };
            let run = self.check_model(ctx, &harness, model, &tolerances, first, part, &mut receipt.inputs)?;
            outcomes.extend(run.outcomes);
            // A model judged here (not one left to the merge, not one unavailable).
            if let Some(missing) = harness.missing_comparator(&model.slug).filter(|_| run.matrix.is_some()) {
                outcomes.push(missing);
            }
            if let Some(m) = run.matrix.filter(|m| m.runtimes.len() > 1) {
                matrices.insert(model.slug.clone(), m);
            }
            if let Some(ev) = run.evidence {
                evidence.insert(model.slug.clone(), bounded(ev));
            }
            receipt.jobs.insert(model.slug.clone(), run.jobs);
            provenance.insert(model.slug.clone(), provenance_of(model));
        }
        if shard.count > 1 {
            let held: Vec<String> = receipt.jobs.iter().map(|(slug, [here, all])| format!("{slug} ({here}/{all} jobs)")).collect();
            println!("shard {shard}: {}", if held.is_empty() { "nothing to run".to_string() } else { held.join(", ") });
        }
        bound_evidence(&mut outcomes);
        let results = RunResults {
            schema_version: RESULTS_SCHEMA_VERSION,
            started_at,
            apr_version: harness.apr_info.as_ref().map(|(v, _)| v.clone()),
            apr_commit: harness.apr_info.as_ref().and_then(|(_, c)| c.clone()),
            oracle: format!(
                "oracle-gen {}, candle {}, f32, cpu, greedy",
                env!("CARGO_PKG_VERSION"),
                crate::util::locked_version(&ctx.project.root, "candle-core")
            ),
            harness_version: env!("CARGO_PKG_VERSION").into(),
            tolerances,
            provenance,
            matrices,
            outcomes,
            receipt,
            evidence,
        };
        let saved = save_results(ctx, &results)?;
        if shard.count > 1 {
            println!("shard {shard}: results saved in {saved}");
        }
        if let Some(path) = &self.junit {
            tmgt_schema::write_atomic(path.as_std_path(), crate::report::junit(&results).as_bytes())?;
        }
        Ok(results)
    }

    /// The receipt's fields known before any model is checked; `check_model` adds the
    /// inputs and job counts.
    fn receipt(&self, ctx: &Ctx, harness: &Harness, selected: &[&Model], shard: Shard) -> Result<Receipt> {
        let mut runtimes: BTreeMap<String, String> = harness
            .runtimes
            .iter()
            .zip(&harness.versions)
            .map(|(rt, v)| {
                let v = v.clone().unwrap_or_else(|why| format!("unavailable: {}", judge::first_line(&why)));
                (rt.name().to_string(), v)
            })
            .collect();
        runtimes.insert("oracle-gen source".into(), harness.tools.oracle_source.clone());
        let mut inputs = BTreeMap::new();
        let root = &ctx.project.root;
        let relative = |p: &Utf8Path| p.strip_prefix(root).unwrap_or(p).to_string();
        let s = &ctx.roster.settings;
        for file in ctx.roster.prompts.iter().map(|p| root.join(&p.file)).chain([root.join(&s.ppl_text)]) {
            inputs.insert(relative(&file), ctx.cache.sha256(&file)?);
        }
        let roster_hash = ctx.cache.sha256(&ctx.roster_path)?;
        inputs.insert(relative(&ctx.roster_path), roster_hash.clone());
        Ok(Receipt {
            host: Some(Host { info: tmgt_schema::HostInfo::detect(), gpu: harness.gpu.clone() }),
            runtimes,
            shard,
            roster: ctx.roster_path.file_name().unwrap_or_default().to_string(),
            roster_hash,
            models: selected.iter().map(|m| m.slug.clone()).collect(),
            suites: self.suites.clone(),
            jobs: BTreeMap::new(),
            inputs,
            merged: Vec::new(),
        })
    }

    fn wanted(&self, suite: &str) -> bool {
        self.suites.is_empty() || self.suites.iter().any(|s| s == suite)
    }

    #[allow(clippy::too_many_arguments)]
    fn check_model(
        &self,
        ctx: &Ctx,
        harness: &Harness,
        model: &Model,
        tol: &Tolerances,
        first: bool,
        part: Part,
        inputs: &mut BTreeMap<String, String>,
    ) -> Result<ModelRun> {
        let reference = ctx.project.reference_dir(&model.slug);
        let suites: Vec<&str> = judge::suites::names().filter(|s| self.wanted(s)).collect();
        if !reference.join("config.json").is_file() {
            if let Ok(why) = std::fs::read_to_string(crate::pull::skipped_marker(ctx, &model.slug)) {
                let why = why.trim();
                // One cause for every model the same way unavailable (the note keeps
                // the model's own error).
                let cause = format!("roster model not pulled: {}", why.split(" (").next().unwrap_or(why));
                let why = format!("not available on this machine: {why}");
                println!("{}: {why}: its {} suites SKIP", model.slug, suites.len());
                let outcomes = suites
                    .iter()
                    .map(|s| {
                        let mut o = judge::Case::new(s, &model.slug, "pull", Subject::Harness).skip(why.clone());
                        o.signature = cause.clone();
                        o
                    })
                    .collect();
                return Ok(part.unjudgeable(outcomes));
            }
            let why = format!("no reference checkpoint at {reference} (pull did not produce it)");
            println!("{}: {why}: its {} suites are BLOCKED", model.slug, suites.len());
            let outcomes = suites
                .iter()
                .map(|s| {
                    judge::Case::new(s, &model.slug, "pull", Subject::Harness).blocked(
                        why.clone(),
                        "pull: model not available",
                        Default::default(),
                    )
                })
                .collect();
            return Ok(part.unjudgeable(outcomes));
        }
        trust_inputs(ctx, model)?;
        let artifacts = convert::convert_model(ctx, model, &harness.tools)?;
        record_inputs(ctx, model, &artifacts, inputs)?;
        let mut ev = ModelEvidence::new(&model.slug);
        ev.ppl_ceiling = model.ppl_ceiling;
        ev.gpu = harness.gpu.clone();
        // The reference's own file is run, not made: no conversion to judge.
        for (name, converted) in artifacts.iter().filter(|(_, c)| c.tool != crate::artifacts::REFERENCE_TOOL) {
            ev.conversions.insert(name.clone(), converted.conversion(name, ctx));
        }
        ev.truth = match crate::truth::read(&reference) {
            Ok(t) => Some(t),
            Err(e) => {
                println!("{}: cannot read the reference's facts: {e:#}", model.slug);
                None
            }
        };
        ev.goldens = load_goldens(&ctx.project.golden_dir(&model.slug, Precision::F32), ctx)?;
        for dtype in Precision::REDUCED {
            let g = load_goldens(&ctx.project.golden_dir(&model.slug, dtype), ctx)?;
            if !g.is_empty() {
                ev.precision_goldens.insert(dtype.flag().into(), g);
                let here = load_goldens(&crate::oracle::fresh_golden_dir(ctx, &model.slug, dtype), ctx)?;
                ev.host_goldens.insert(dtype.flag().into(), here);
            }
        }
        let wanted: Vec<&'static Suite> = judge::SUITES.iter().filter(|s| self.wanted(s.name)).collect();
        let inputs = suite_inputs(ctx, harness, model, &wanted, &mut ev)?;
        let mut jobs = plan_jobs(ctx, harness, model, &artifacts, &mut ev, &wanted, first, &inputs)?;
        if wanted.iter().any(|s| s.needs.contains(&Need::Corrupt)) {
            jobs.extend(plan_corrupt(ctx, harness, model, &artifacts, tol, &mut ev)?);
        }
        let planned = jobs.len();
        jobs.retain(|job| part.runs(job));
        if let Some(base) = &inputs.kld_base {
            ensure_kld_base(ctx, model, base, &mut jobs, &mut ev)?;
        }
        // The dequantized files and their per-tensor errors: one step per file, run
        // here (not as jobs: each reads half a gigabyte), by the shard that holds the
        // model whole or leads its group.
        if wanted.iter().any(|s| s.needs.contains(&Need::TensorError)) && !matches!(part.holding, Holding::Part { lead: false }) {
            ev.tensor_errors = crate::tensor_error::observe(ctx, model, &harness.tools, &artifacts)?;
        }
        // The safetensors suite's reading of the checkpoint and apr's export round trip
        // (each reads the half-gigabyte file whole), by the same shard.
        if wanted.iter().any(|s| s.needs.contains(&Need::Safetensors)) && !matches!(part.holding, Holding::Part { lead: false }) {
            let (facts, export) = crate::safetensors::observe(ctx, model, &harness.tools, &artifacts)?;
            ev.safetensors = Some(facts);
            ev.safetensors_export = Some(export);
        }
        let counts = [jobs.len(), planned];
        for finished in run_jobs(ctx, &harness.runtimes, &model.slug, jobs) {
            match finished {
                Finished::Generation(k, o) => {
                    ev.generations.insert(k, o);
                }
                Finished::Score(k, o) => {
                    ev.scores.insert(k, o);
                }
                Finished::Structure(k, o) => {
                    ev.structure.insert(k, o);
                }
                Finished::Kld(k, o) => {
                    ev.kld.insert(k, o);
                }
                Finished::Battery(k, o) => {
                    ev.battery_runs.insert(k, o);
                }
                Finished::BatteryReference(o) => ev.battery_reference = Some(o),
                Finished::Corrupt(runs) => ev.corrupt.extend(runs),
                Finished::Reference(o) => match o {
                    Observed::Ok { value, .. } => ev.reference_score = Some(value),
                    Observed::Failed { error, .. } => println!("{}: oracle scoring failed: {}", model.slug, judge::first_line(&error)),
                    _ => {}
                },
            }
        }
        ev.vocab = vocab_for(&reference, &ev);
        crate::util::write_json(&ctx.project.model_dir(&model.slug).join("evidence.json"), &ev)?;
        if let Holding::Part { .. } = part.holding {
            println!(
                "{}: {} of its {planned} jobs ran in shard {}; it is judged when the shards are merged (`cargo xtask status --merge …`)",
                model.slug, counts[0], part.shard
            );
            return Ok(ModelRun { evidence: Some(ev), jobs: counts, ..Default::default() });
        }
        let mut outcomes = Vec::new();
        if self.suites.is_empty() {
            outcomes = judge::judge_model(&ev, tol);
        } else {
            for suite in suites {
                outcomes.extend(judge::judge_suite(suite, &ev, tol)?);
            }
        }
        let color = std::io::IsTerminal::is_terminal(&std::io::stdout());
        for o in &outcomes {
            println!("{}", crate::report::outcome_line(o, color));
        }
        Ok(ModelRun { matrix: Some(judge::attribution::matrix(&ev)), outcomes, evidence: None, jobs: counts })
    }
}

/// Where one model stands in this run's shard.
#[derive(Clone, Copy)]
struct Part {
    plan: Plan,
    shard: Shard,
    /// The model's index among the planned ones.
    model: usize,
    holding: Holding,
}

impl Part {
    /// Whether this shard runs `job` (its key: its observation file's name).
    fn runs(&self, job: &Job) -> bool {
        let key = job.file.file_stem().unwrap_or_default();
        self.plan.shard_of(self.model, key) == self.shard.index
    }

    /// Outcomes that need no job (a model not available here): reported once, by
    /// the shard that holds the model whole or leads its group.
    fn unjudgeable(&self, outcomes: Vec<Outcome>) -> ModelRun {
        match self.holding {
            Holding::Whole | Holding::Part { lead: true } => ModelRun { outcomes, ..Default::default() },
            Holding::Part { lead: false } => ModelRun::default(),
        }
    }
}

/// The content hashes of what judging this model read: its reference checkpoint, its
/// goldens, and the artifacts made from them.
fn record_inputs(ctx: &Ctx, model: &Model, artifacts: &Artifacts, inputs: &mut BTreeMap<String, String>) -> Result<()> {
    let root = &ctx.project.root;
    let relative = |p: &Utf8Path| p.strip_prefix(root).unwrap_or(p).to_string();
    let reference = ctx.project.reference_dir(&model.slug);
    let mut files = crate::util::files_under(&reference, &["json", "safetensors"]);
    files.extend(crate::util::files_under(&ctx.project.golden_dir(&model.slug, Precision::F32), &["json"]));
    for f in files {
        inputs.insert(relative(&f), ctx.cache.sha256(&f)?);
    }
    for (name, converted) in artifacts {
        if let ArtifactState::Ready(path) = &converted.state {
            inputs.insert(format!("{}/artifacts/{name}", model.slug), ctx.cache.sha256(path)?);
        }
    }
    Ok(())
}

/// Refuses to judge on inputs that are not what their steps made: a reference
/// checkpoint changed since `pull` (or left over from a pull that failed), goldens
/// changed since `oracle` wrote or verified them. The error names the command that
/// fixes it.
fn trust_inputs(ctx: &Ctx, model: &Model) -> Result<()> {
    let dir = ctx.project.model_dir(&model.slug);
    let slug = &model.slug;
    if let Ok(why) = std::fs::read_to_string(crate::pull::failed_marker(ctx, slug)) {
        anyhow::bail!(
            "{slug}: the last pull failed ({}); the reference checkpoint there is not trusted: run `cargo xtask pull --model {slug}`",
            why.trim()
        );
    }
    cache::outputs_unchanged(&cache::stamp_path(&dir, "reference"), |f| ctx.cache.sha256(f).ok()).map_err(|why| {
        anyhow::anyhow!("{slug}: the reference checkpoint is not what pull made: {why}; run `cargo xtask pull --model {slug}`")
    })?;
    if ctx.project.golden_dir(slug, Precision::F32).is_dir() {
        cache::outputs_unchanged(&cache::stamp_path(&dir, "oracle-f32"), |f| tmgt_schema::sha256_file(f.as_std_path()).ok()).map_err(|why| {
            anyhow::anyhow!("{slug}: the goldens are not what the oracle wrote or verified: {why}; run `cargo xtask oracle --model {slug}` (it shows the difference; --force accepts it)")
        })?;
    }
    Ok(())
}

fn load_goldens(dir: &Utf8Path, ctx: &Ctx) -> Result<BTreeMap<String, Golden>> {
    let mut goldens = BTreeMap::new();
    for p in &ctx.roster.prompts {
        let path = dir.join(format!("{}.json", p.name));
        if path.is_file() {
            goldens.insert(p.name.clone(), Golden::read(path.as_std_path())?);
        }
    }
    Ok(goldens)
}

fn vocab_for(reference: &Utf8Path, ev: &ModelEvidence) -> BTreeMap<u32, String> {
    let mut wanted = BTreeSet::new();
    for g in ev.goldens.values() {
        wanted.extend(g.tokens.iter().copied());
        wanted.extend(g.top_logprobs.iter().flatten().map(|t| t.id));
    }
    for o in ev.generations.values() {
        if let Observed::Ok { value, .. } = o {
            wanted.extend(value.tokens.iter().flatten().copied());
        }
    }
    crate::truth::vocab_pieces(&reference.join("tokenizer.json"), &wanted).unwrap_or_default()
}

/// How a maintainer gets this model and makes its artifacts (for the ticket).
fn provenance_of(model: &Model) -> Provenance {
    let source = match &model.source {
        crate::roster::Source::GgufWheel { requirement, member, sha256 } => {
            format!("{member} from the PyPI wheel {requirement} (sha256 {sha256}), imported to f32 by oracle-gen")
        }
        crate::roster::Source::GgufWheelChunks { file, sha256, chunks } => {
            let wheels: Vec<&str> = chunks.iter().map(|c| c.requirement.as_str()).collect();
            format!("{file} assembled from the PyPI wheels {} (sha256 {sha256}), imported to f32 by oracle-gen", wheels.join(" + "))
        }
        crate::roster::Source::Hf { repo, revision } => format!("HF hub {repo} at {revision}"),
        crate::roster::Source::Fixture { arch } => format!("the harness's deterministic tiny {arch} fixture"),
    };
    let made_by = convert::artifact_names().filter_map(|a| Some((a.to_string(), convert::portable_recipe(a)?))).collect();
    Provenance { source, pull: format!("cargo xtask pull --model {}", model.slug), made_by }
}

/// Observations that need no process (absent runtime, blocked artifact) are filled
/// into `ev` directly; the rest become jobs.
#[allow(clippy::too_many_arguments)]
fn plan_jobs(
    ctx: &Ctx,
    harness: &Harness,
    model: &Model,
    artifacts: &Artifacts,
    ev: &mut ModelEvidence,
    wanted: &[&'static Suite],
    first: bool,
    suite_inputs: &SuiteInputs,
) -> Result<Vec<Job>> {
    let needs: BTreeSet<Need> = wanted.iter().flat_map(|s| s.needs.iter().copied()).collect();
    let s = &ctx.roster.settings;
    let dir = ctx.project.model_dir(&model.slug);
    let text_file = ctx.project.root.join(&s.ppl_text);
    let text = std::fs::read_to_string(&text_file).with_context(|| format!("{text_file}: cannot read the ppl text"))?;
    let mut jobs = Vec::new();
    for (rt, version) in harness.runtimes.iter().zip(&harness.versions) {
        let version = version.clone();
        for (name, converted) in artifacts {
            if !rt.accepts(name) {
                continue;
            }
            let unavailable: Option<Observed<()>> = match (&version, rt.supports(model.arch)) {
                (Err(why), _) if rt.name() == judge::APR => Some(Observed::Blocked {
                    step: "install-apr".into(),
                    reason: why.clone(),
                    signature: "apr is not installed here".into(),
                }),
                (Err(why), _) => Some(Observed::Skipped { reason: why.clone() }),
                (Ok(_), Err(why)) => Some(Observed::Skipped { reason: why }),
                (Ok(_), Ok(())) => converted.state.unavailable(name),
            };
            // apr's PPL on its quantized files and on the f32 ladder's rungs.
            let scored = needs.contains(&Need::Scores)
                && (matches!((rt.name(), name.as_str()), ("apr", "int8" | "int4" | "int4-gguf") | ("candle", _))
                    || (rt.name() == judge::APR && judge::ladder::is_f32_rung(name)));
            let generated = needs.contains(&Need::Generations);
            let kld = suite_inputs
                .kld_base
                .as_ref()
                .map(|base| &base.path)
                .filter(|_| needs.contains(&Need::Kld) && rt.kld_argv(Utf8Path::new(name), Utf8Path::new("")).is_some());
            let battery = suite_inputs
                .battery
                .as_ref()
                .filter(|_| needs.contains(&Need::Battery) && rt.battery_argv(Utf8Path::new(name), Utf8Path::new("")).is_some());
            let key = (rt.name().to_string(), name.clone());
            if let Some(obs) = unavailable {
                if kld.is_some() {
                    ev.kld.insert(key.clone(), recast(&obs));
                }
                if battery.is_some() {
                    ev.battery_runs.insert(key.clone(), recast(&obs));
                }
                for p in ctx.roster.prompts.iter().filter(|_| generated) {
                    ev.generations.insert(GenKey::new(rt.name(), name, &p.name), recast(&obs));
                }
                if scored {
                    ev.scores.insert((rt.name().into(), name.clone()), recast(&obs));
                }
                continue;
            }
            let (ArtifactState::Ready(path), Ok(version)) = (&converted.state, &version) else { unreachable!() };
            let artifact_sha = ctx.cache.sha256(path)?;
            let (run_path, cwd) = if rt.runs_in_model_dir() {
                // A path inside the model folder (reference/model.safetensors), else the bare name.
                let relative = path.strip_prefix(&dir).map(Utf8Path::to_path_buf).ok();
                (relative.unwrap_or_else(|| Utf8PathBuf::from(path.file_name().unwrap_or_default())), Some(dir.clone()))
            } else {
                (path.clone(), None)
            };
            let path = &run_path;
            for p in ctx.roster.prompts.iter().filter(|_| generated) {
                let prompt = crate::util::read_prompt(&ctx.project.root.join(&p.file))?;
                let argv = rt.generate_argv(path, &prompt, s.max_new_tokens, s.top_k);
                let inputs = key_inputs(&argv, &artifact_sha, version, rt.env_knobs());
                let file = dir.join("observations").join(format!("{}__{}__{}.json", rt.name(), name, p.name));
                let kind = JobKind::Generate { key: GenKey::new(rt.name(), name, &p.name), prompt: p.name.clone() };
                jobs.push(Job { kind, argv, cwd: cwd.clone(), inputs, file });
            }
            if scored {
                if let Some(argv) = rt.score_argv(path, &text_file, &text) {
                    let inputs = key_inputs(&argv, &artifact_sha, version, rt.env_knobs());
                    let file = dir.join("observations").join(format!("{}__{}__score.json", rt.name(), name));
                    let kind = JobKind::Score { runtime: rt.name().into(), artifact: name.clone() };
                    jobs.push(Job { kind, argv, cwd: cwd.clone(), inputs, file });
                }
            }
            if let Some(base) = kld {
                let argv = rt.kld_argv(path, base).expect("a full-logit runtime");
                let inputs = key_inputs(&argv, &artifact_sha, version, rt.env_knobs());
                let file = dir.join("observations").join(format!("{}__{}__kld.json", rt.name(), name));
                let kind = JobKind::Kld { runtime: key.0.clone(), artifact: name.clone() };
                jobs.push(Job { kind, argv, cwd: cwd.clone(), inputs, file });
            }
            if let Some(battery) = battery {
                let argv = rt.battery_argv(path, battery).expect("a runtime that tokenizes");
                let inputs = key_inputs(&argv, &format!("{artifact_sha} {}", ctx.cache.sha256(battery)?), version, rt.env_knobs());
                let file = dir.join("observations").join(format!("{}__{}__battery.json", rt.name(), name));
                let kind = JobKind::Battery { runtime: key.0.clone(), artifact: name.clone() };
                jobs.push(Job { kind, argv, cwd: cwd.clone(), inputs, file });
            }
        }
    }
    // The reference tokenizer (the checkpoint's tokenizer.json) on the battery.
    if let (Some(battery), true) = (&suite_inputs.battery, needs.contains(&Need::Battery)) {
        let reference = ctx.project.reference_dir(&model.slug);
        let argv: Vec<String> = vec![
            ctx.oracle_gen()?.to_string(),
            "tokenize".into(),
            "--model-dir".into(),
            reference.to_string(),
            "--battery".into(),
            battery.to_string(),
        ];
        let content = format!("{} {}", ctx.cache.sha256(battery)?, ctx.cache.sha256(&reference.join("tokenizer.json"))?);
        let inputs = key_inputs(&argv, &content, &harness.tools.oracle_source, &[]);
        let file = dir.join("observations").join("oracle__reference__battery.json");
        jobs.push(Job { kind: JobKind::BatteryReference, argv, cwd: None, inputs, file });
    }
    // Structure subcommands: apr on the artifacts each suite reads, from the model
    // folder on bare file names (see Runtime::runs_in_model_dir).
    if let Some(apr_version) = harness.runtimes.iter().zip(&harness.versions).find(|(r, _)| r.name() == judge::APR).map(|(_, v)| v.clone())
    {
        // (suite, observation key, inspection, artifacts read): the structure suites'
        // calls, then the safetensors suite's inspections of the checkpoint.
        let mut calls = Vec::new();
        for suite in wanted.iter().filter(|s| s.structure.is_some()) {
            let spec = suite.structure.expect("a structure suite");
            if (spec.on == On::Global && !first) || (matches!(spec.on, On::Gpu(_)) && harness.gpu.is_none()) {
                continue;
            }
            calls.extend(spec.calls().into_iter().map(|(key, reads)| (suite.name, key, spec.inspection, reads)));
        }
        if needs.contains(&Need::Safetensors) {
            let st = judge::safetensors::CALLS.iter();
            calls.extend(
                st.map(|(case, inspection)| (judge::safetensors::SUITE, case.to_string(), *inspection, vec![judge::safetensors::ARTIFACT])),
            );
        }
        {
            for (suite_name, key, inspection, reads) in calls {
                let skey = StructureKey::new(suite_name, &key);
                let version = match &apr_version {
                    Ok(v) => v,
                    Err(why) => {
                        ev.structure.insert(
                            skey,
                            Observed::Blocked {
                                step: "install-apr".into(),
                                reason: why.clone(),
                                signature: "apr is not installed here".into(),
                            },
                        );
                        continue;
                    }
                };
                let mut files = Vec::new();
                let mut hashes = String::new();
                let mut unavailable = None;
                for artifact in &reads {
                    match artifacts.get(*artifact).map(|c| &c.state) {
                        Some(ArtifactState::Ready(path)) => {
                            // Relative to the model folder (reference/model.safetensors), else bare.
                            let relative = path.strip_prefix(&dir).map(|p| p.to_string());
                            files.push(relative.unwrap_or_else(|_| path.file_name().unwrap_or_default().to_string()));
                            hashes.push_str(&format!("{artifact}={} ", ctx.cache.sha256(path)?));
                        }
                        Some(state) => {
                            unavailable = unavailable.or_else(|| state.unavailable::<serde_json::Value>(artifact));
                        }
                        None => {
                            unavailable = Some(Observed::Skipped { reason: format!("no {artifact} artifact is made for this model") });
                        }
                    }
                }
                if let Some(obs) = unavailable {
                    ev.structure.insert(skey, obs);
                    continue;
                }
                let file_refs: Vec<&str> = files.iter().map(String::as_str).collect();
                let argv = crate::runtime::apr::inspection_argv(&harness.tools.apr_program, inspection, &file_refs);
                let inputs = key_inputs(&argv, &hashes, version, crate::runtime::apr::ENV_KNOBS);
                let file = dir.join("observations").join(format!("structure__{}__{}.json", suite_name, key.replace('~', "-vs-")));
                let kind = JobKind::Structure { key: skey, command: suite_name };
                jobs.push(Job { kind, argv, cwd: Some(dir.clone()), inputs, file });
            }
        }
    }
    // The oracle's own PPL over the same text.
    if !needs.contains(&Need::ReferenceScore) {
        return Ok(jobs);
    }
    let reference = ctx.project.reference_dir(&model.slug);
    let bin = ctx.oracle_gen()?;
    let argv: Vec<String> =
        vec![bin.to_string(), "score".into(), "--model-dir".into(), reference.to_string(), "--text-file".into(), text_file.to_string()];
    let mut inputs = key_inputs(&argv, &ctx.cache.sha256(&text_file)?, &harness.tools.oracle_source, &[]);
    for f in crate::util::files_under(&reference, &["json", "safetensors"]) {
        inputs.insert(f.file_name().unwrap_or_default().to_string(), ctx.cache.sha256(&f)?);
    }
    let file = dir.join("observations").join("oracle__reference__score.json");
    jobs.push(Job { kind: JobKind::ReferenceScore, argv, cwd: None, inputs, file });
    Ok(jobs)
}

/// The corrupt-input jobs: one per recipe, its file made from the reference
/// checkpoint's model.safetensors or from one GGUF artifact (f32 preferred), cached
/// under the recipe, the source's hash, apr's version, every command line and the
/// roster's time limit. What cannot run is filled into `ev` directly.
fn plan_corrupt(
    ctx: &Ctx,
    harness: &Harness,
    model: &Model,
    artifacts: &Artifacts,
    tol: &Tolerances,
    ev: &mut ModelEvidence,
) -> Result<Vec<Job>> {
    use crate::corrupt::{Source, RECIPES};
    let mut fill = |row: &crate::corrupt::Row, obs: Observed<CorruptRun>| {
        for c in CorruptCommand::ALL {
            ev.corrupt.insert(CorruptKey::new(row.name, c), obs.clone());
        }
    };
    let apr_version = harness.runtimes.iter().zip(&harness.versions).find(|(r, _)| r.name() == judge::APR).map(|(_, v)| v.clone());
    let version = match apr_version {
        Some(Ok(v)) => v,
        Some(Err(why)) => {
            let blocked = Observed::Blocked { step: "install-apr".into(), reason: why, signature: "apr is not installed here".into() };
            RECIPES.iter().for_each(|r| fill(r, blocked.clone()));
            return Ok(Vec::new());
        }
        // --runtime left apr out: nothing to judge it on.
        None => return Ok(Vec::new()),
    };
    let dir = ctx.project.model_dir(&model.slug);
    let reference = ctx.project.reference_dir(&model.slug);
    let safetensors = reference.join("model.safetensors");
    let siblings = crate::util::files_under(&reference, &["json"]);
    // The GGUF: f32 first (the largest share of tensor data), else any ready one.
    let preferred = ["f32-gguf", "q8_0-gguf", "native-gguf"];
    let ready = |name: &str| match artifacts.get(name).map(|c| &c.state) {
        Some(ArtifactState::Ready(path)) => Some(path.clone()),
        _ => None,
    };
    let gguf = preferred.iter().find_map(|n| ready(n)).or_else(|| artifacts.keys().filter(|n| judge::is_gguf(n)).find_map(|n| ready(n)));
    let no_gguf = || -> Observed<CorruptRun> {
        artifacts
            .get("f32-gguf")
            .and_then(|c| c.state.unavailable("f32-gguf"))
            .unwrap_or_else(|| Observed::Skipped { reason: "no GGUF artifact is ready for this model".into() })
    };
    // The roster's bound, or the run's own limit (TMGT_TIMEOUT_S) when that is shorter.
    let timeout = std::time::Duration::from_secs_f64(tol.corrupt_timeout_s).min(runtime::default_timeout());
    let mut jobs = Vec::new();
    for row in RECIPES {
        let source = match row.source {
            Source::Safetensors if safetensors.is_file() => safetensors.clone(),
            Source::Safetensors => {
                fill(row, Observed::Skipped { reason: format!("no {safetensors}") });
                continue;
            }
            Source::Gguf => match &gguf {
                Some(path) => path.clone(),
                None => {
                    fill(row, no_gguf());
                    continue;
                }
            },
        };
        let argv = crate::corrupt::all_argv(&harness.tools.apr_program, row);
        let content = format!("{} ({}) from {}", row.name, row.what, ctx.cache.sha256(&source)?);
        let mut inputs = key_inputs(&argv.concat(), &content, &version, crate::runtime::apr::ENV_KNOBS);
        inputs.insert("timeout_s".into(), timeout.as_secs_f64().to_string());
        let file = dir.join("observations").join(format!("corrupt__{}.json", row.name));
        let siblings = if row.source == Source::Safetensors { siblings.clone() } else { Vec::new() };
        let kind = JobKind::Corrupt(CorruptJob {
            recipe: row,
            source,
            siblings,
            work: dir.clone(),
            apr: harness.tools.apr_program.clone(),
            timeout,
        });
        jobs.push(Job { kind, argv: argv.concat(), cwd: None, inputs, file });
    }
    Ok(jobs)
}

fn suite_inputs(ctx: &Ctx, harness: &Harness, model: &Model, wanted: &[&'static Suite], ev: &mut ModelEvidence) -> Result<SuiteInputs> {
    let needs: BTreeSet<Need> = wanted.iter().flat_map(|s| s.needs.iter().copied()).collect();
    let s = &ctx.roster.settings;
    let mut out = SuiteInputs::default();
    if let (Some(file), true) = (&s.tokenizer_battery, needs.contains(&Need::Battery)) {
        let path = ctx.project.root.join(file);
        ev.battery = tmgt_schema::tokenize::read_battery(path.as_std_path())?;
        out.battery = Some(path);
    }
    if let (Some(text), Some(context), true) = (&s.kld_text, s.kld_context, needs.contains(&Need::Kld) && model.kld) {
        out.kld_base = Some(kld_base(ctx, harness, model, &ctx.project.root.join(text), context)?);
    }
    Ok(out)
}

/// The oracle's full-vocabulary log-probabilities over the KLD text, written once by
/// `oracle-gen kld-base` (f16) under models/<slug>/kld/, named by the content hash of
/// everything that makes it: the text, the window size, the checkpoint's files and
/// the oracle's source.
struct KldBase {
    path: Utf8PathBuf,
    text: Utf8PathBuf,
    context: usize,
}

fn kld_base(ctx: &Ctx, harness: &Harness, model: &Model, text: &Utf8Path, context: usize) -> Result<KldBase> {
    let reference = ctx.project.reference_dir(&model.slug);
    let mut key = format!("text {}\ncontext {context}\noracle {}\n", ctx.cache.sha256(text)?, harness.tools.oracle_source);
    for f in crate::util::files_under(&reference, &["json", "safetensors"]) {
        key.push_str(&format!("{} {}\n", f.file_name().unwrap_or_default(), ctx.cache.sha256(&f)?));
    }
    let hash = tmgt_schema::sha256_bytes(key.as_bytes());
    let path = ctx.project.model_dir(&model.slug).join("kld").join(format!("base-{}.lp", &hash[..16]));
    Ok(KldBase { path, text: text.to_owned(), context })
}

/// Makes the KLD base when one of this shard's jobs needs it and it is not there
/// yet (a shard without kld jobs for the model does not score the text). When it
/// cannot be made, those jobs do not run: each kld check is BLOCKED with the reason.
fn ensure_kld_base(ctx: &Ctx, model: &Model, base: &KldBase, jobs: &mut Vec<Job>, ev: &mut ModelEvidence) -> Result<()> {
    let needed = jobs.iter().any(|j| matches!(j.kind, JobKind::Kld { .. }));
    if !needed || base.path.is_file() {
        return Ok(());
    }
    let Err(why) = make_kld_base(ctx, model, base)? else { return Ok(()) };
    let blocked = Observed::Blocked {
        step: "oracle-gen kld-base".into(),
        reason: why,
        signature: "oracle: the KLD base file could not be made".into(),
    };
    jobs.retain(|job| match &job.kind {
        JobKind::Kld { runtime, artifact } => {
            ev.kld.insert((runtime.clone(), artifact.clone()), blocked.clone());
            false
        }
        _ => true,
    });
    Ok(())
}

/// Runs `oracle-gen kld-base`. Err inside: why the base could not be made.
fn make_kld_base(ctx: &Ctx, model: &Model, base: &KldBase) -> Result<Result<(), String>> {
    let (path, text, context) = (&base.path, &base.text, base.context);
    let dir = path.parent().context("the KLD base has a folder")?;
    let argv: Vec<String> = vec![
        ctx.oracle_gen()?.to_string(),
        "kld-base".into(),
        "--model-dir".into(),
        ctx.project.reference_dir(&model.slug).to_string(),
        "--text-file".into(),
        text.to_string(),
        "--context".into(),
        context.to_string(),
        "--out".into(),
        path.to_string(),
    ];
    println!("{}: the oracle scores the KLD text ({text}, windows of {context}) once", model.slug);
    let t0 = std::time::Instant::now();
    let inv = crate::runner::run(&argv, &RunOptions::with_timeout(runtime::default_timeout()));
    if let Err(failure) = crate::runner::check(&inv) {
        return Ok(Err(format!("{failure}: {}", judge::first_line(inv.stderr.trim()))));
    }
    println!("{}: KLD base {path} in {:.1}s", model.slug, t0.elapsed().as_secs_f64());
    // Older bases of this model (another text, checkpoint or oracle) are dead weight.
    for old in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = old.file_name().to_string_lossy().into_owned();
        if name.starts_with("base-") && old.path() != path.as_std_path() {
            let _ = std::fs::remove_file(old.path());
        }
    }
    Ok(Ok(()))
}

/// Everything that changes what a run observes: its command line, the content of its
/// inputs, the tool's version, the time it is given, and the environment knobs that
/// tool reads (`Runtime::env_knobs`: apr's APR_* and FAKE_APR_* are in apr's keys only,
/// so that an apr upgrade or knob reruns apr's observations and nothing else).
fn key_inputs(argv: &[String], content: &str, version: &str, knob_prefixes: &[&str]) -> BTreeMap<String, String> {
    let knobs: BTreeMap<String, String> = std::env::vars().filter(|(k, _)| knob_prefixes.iter().any(|p| k.starts_with(p))).collect();
    BTreeMap::from([
        ("argv".to_string(), serde_json::to_string(argv).unwrap_or_default()),
        ("content".to_string(), content.to_string()),
        ("version".to_string(), version.to_string()),
        ("timeout_s".to_string(), runtime::default_timeout().as_secs().to_string()),
        ("environment".to_string(), serde_json::to_string(&knobs).unwrap_or_default()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tmgt_schema::Invocation;

    /// A shard's evidence leaves with every process output bounded, whatever kind of
    /// observation holds it (kld, battery and safetensors runs were once forgotten).
    #[test]
    fn every_kind_of_observation_is_bounded_for_the_merge() {
        let long =
            Invocation { command: vec!["apr".into()], stdout: "x".repeat(crate::report::EVIDENCE_OUTPUT * 4), ..Invocation::default() };
        fn failed<T>(inv: &Invocation) -> Observed<T> {
            Observed::Failed { error: "boom".into(), invocation: inv.clone() }
        }
        let pair = || ("apr".to_string(), "int8".to_string());
        let mut ev = ModelEvidence::new("m");
        ev.generations.insert(GenKey::new("apr", "int8", "code"), failed(&long));
        ev.scores.insert(pair(), failed(&long));
        ev.structure.insert(judge::StructureKey::new("inspect", "int8"), failed(&long));
        ev.conversions.insert(
            "int8".into(),
            judge::conversions::Conversion { tool: "apr".into(), from: "reference".into(), bits: 8, observed: failed(&long) },
        );
        ev.kld.insert(pair(), failed(&long));
        ev.battery_reference = Some(failed(&long));
        ev.battery_runs.insert(pair(), failed(&long));
        ev.corrupt.insert(judge::corrupt::CorruptKey::new("st-empty", judge::corrupt::Command::Run), failed(&long));
        ev.tensor_errors.insert("int8".into(), failed(&long));
        ev.safetensors = Some(failed(&long));
        ev.safetensors_export = Some(failed(&long));
        assert_eq!(ev.invocations_mut().len(), 11, "one invocation per kind of observation");
        let mut out = bounded(ev);
        for inv in out.invocations_mut() {
            assert!(inv.stdout.len() < 3 * crate::report::EVIDENCE_OUTPUT, "{} bytes kept", inv.stdout.len());
        }
    }

    #[test]
    fn the_cache_key_holds_everything_that_changes_a_run() {
        let argv = vec!["apr".to_string(), "run".into()];
        let knobs = crate::runtime::apr::ENV_KNOBS;
        let key = key_inputs(&argv, "sha256:abc", "apr 0.72.3", knobs);
        for field in ["argv", "content", "version", "timeout_s", "environment"] {
            assert!(key.contains_key(field), "{field} missing from {key:?}");
        }
        assert_ne!(key, key_inputs(&argv, "sha256:abd", "apr 0.72.3", knobs), "content");
        assert_ne!(key, key_inputs(&argv, "sha256:abc", "apr 0.72.4", knobs), "version");
        assert_ne!(key, key_inputs(&["apr".to_string(), "eval".into()], "sha256:abc", "apr 0.72.3", knobs), "argv");
        assert_eq!(key["timeout_s"], runtime::default_timeout().as_secs().to_string());
    }
}
