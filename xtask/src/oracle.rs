//! `cargo xtask oracle`: writes or verifies the committed goldens with oracle-gen.
//! oracle-gen writes into a staging folder; each fresh golden is verified against the
//! committed one under its precision's pre-registered tolerance (`golden_logprob` in
//! the roster: f32 exact, bf16/f16 within their rounding error, where a token may
//! differ only at a near tie). A golden that does not hold stops the task with the
//! difference shown, unless --force — a golden never changes silently. In `ci` the
//! reduced-precision goldens are reported instead (`OnDifference::Report`): they are
//! claims about the reference on this CPU, judged in the precision suite, and never
//! stop the checks of the runtime under test.

use crate::cache::{self, HashCache};
use crate::context::Ctx;
use crate::roster::Model;
use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use std::collections::BTreeMap;
use tmgt_schema::{verify, Golden, GoldenTolerance, Precision};

/// What a golden that does not hold on this machine does to the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDifference {
    /// Stop with the differences (the `oracle` task, and f32 goldens everywhere).
    #[default]
    Stop,
    /// Keep the fresh goldens beside the committed ones for the precision suite to
    /// judge (`ci` on reduced-precision goldens).
    Report,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Oracle {
    /// Only this model (a roster slug).
    #[arg(long)]
    pub model: Option<String>,
    /// f32 (the goldens), bf16 or f16 (the precision suite's).
    #[arg(long, default_value = "f32")]
    pub dtype: Precision,
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda"])]
    pub device: String,
    /// Replace committed goldens whose claims changed (showing what is replaced).
    #[arg(long)]
    pub force: bool,
    #[arg(skip)]
    pub on_difference: OnDifference,
    /// Only these models (a shard's; None: every selected one).
    #[arg(skip)]
    pub only: Option<Vec<String>>,
}

/// `oracle-gpu`: the reduced-precision goldens on CUDA, with a CUDA build of oracle-gen.
#[derive(Debug, Clone, clap::Args)]
pub struct OracleGpu {
    /// Only this model (a roster slug).
    #[arg(long)]
    pub model: Option<String>,
}

impl OracleGpu {
    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        if crate::harness::detect_gpu().is_none() {
            bail!("oracle-gpu needs a CUDA device: nvidia-smi found none");
        }
        let argv: Vec<String> = ["cargo", "build", "--release", "--package", "oracle-gen", "--features", "cuda"].map(String::from).to_vec();
        crate::runner::run_live(&argv, Some(ctx.project.root.as_std_path()), std::time::Duration::from_secs(4 * 3600))?;
        let bin = crate::util::target_dir(&ctx.project.root).join("release/oracle-gen");
        let gpu_ctx = Ctx::new(ctx.project.clone(), ctx.roster_path.clone(), ctx.jobs, ctx.offline, ctx.no_cache)?.with_oracle_gen(bin);
        for dtype in Precision::REDUCED {
            Oracle {
                model: self.model.clone(),
                dtype,
                device: "cuda".into(),
                force: false,
                on_difference: OnDifference::Report,
                only: None,
            }
            .goldens(&gpu_ctx)?;
        }
        Ok(0)
    }
}

/// The tolerance a golden of `dtype` is verified with: f32 allows no token flip.
pub fn golden_tolerance(ctx: &Ctx, dtype: Precision) -> Result<GoldenTolerance> {
    let tol: crate::judge::Tolerances = ctx.roster.tolerances()?;
    let logprob = tol
        .golden_logprob_for(dtype.flag())
        .with_context(|| format!("{}: [tolerances] golden_logprob has no entry for {dtype:?}", ctx.roster_path))?;
    Ok(GoldenTolerance { logprob, near_tie_flips: dtype != Precision::F32 })
}

/// What the oracle step of one model did.
#[derive(Debug, Clone, PartialEq)]
pub enum OracleOutcome {
    UpToDate,
    Written {
        new: usize,
        verified: usize,
        replaced: usize,
    },
    /// Reduced-precision goldens that do not hold here, reported (not stopped on).
    Differs {
        differing: usize,
    },
    NoReference,
}

/// Hash of the oracle's own sources: a change in them re-verifies every golden.
pub fn oracle_source_hash(root: &Utf8Path, cache: &HashCache) -> Result<String> {
    let mut parts = BTreeMap::new();
    for dir in ["oracle-gen", "schema"] {
        for f in crate::util::files_under(&root.join(dir), &["rs", "toml"]) {
            parts.insert(f.strip_prefix(root).unwrap_or(&f).to_string(), cache.sha256(&f)?);
        }
    }
    Ok(cache::step_key(&parts))
}

impl Oracle {
    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        self.goldens(ctx)?;
        Ok(0)
    }

    /// Writes or verifies the goldens of every selected model.
    pub fn goldens(&self, ctx: &Ctx) -> Result<()> {
        let mut failures = Vec::new();
        for model in ctx.roster.select_only(self.model.as_deref(), self.only.as_deref())? {
            match self.run_model(ctx, model) {
                Ok(OracleOutcome::NoReference) => {
                    if self.model.is_some() {
                        bail!(
                            "{}: no reference checkpoint at {}; run `cargo xtask pull` first",
                            model.slug,
                            ctx.project.reference_dir(&model.slug)
                        );
                    }
                    println!("{}: no reference checkpoint (not pulled) — oracle skipped", model.slug);
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("{}: oracle failed: {e:#}", model.slug);
                    failures.push(model.slug.clone());
                }
            }
        }
        if !failures.is_empty() {
            bail!("oracle failed for {}", failures.join(", "));
        }
        Ok(())
    }

    pub fn run_model(&self, ctx: &Ctx, model: &Model) -> Result<OracleOutcome> {
        let reference = ctx.project.reference_dir(&model.slug);
        if !reference.join("config.json").is_file() {
            return Ok(OracleOutcome::NoReference);
        }
        let golden_dir = ctx.project.golden_dir(&model.slug, self.dtype);
        let mut inputs = BTreeMap::new();
        for f in crate::util::files_under(&reference, &["json", "safetensors"]) {
            inputs.insert(format!("reference/{}", f.file_name().unwrap()), ctx.cache.sha256(&f)?);
        }
        for p in &ctx.roster.prompts {
            inputs.insert(format!("prompt/{}", p.name), ctx.cache.sha256(&ctx.project.root.join(&p.file))?);
        }
        inputs.insert("oracle-source".into(), oracle_source_hash(&ctx.project.root, &ctx.cache)?);
        let s = &ctx.roster.settings;
        inputs.insert(
            "settings".into(),
            format!("max_new_tokens={} top_k={} dtype={} device={}", s.max_new_tokens, s.top_k, self.dtype, self.device),
        );
        let tolerance = golden_tolerance(ctx, self.dtype)?;
        inputs.insert("tolerance".into(), format!("{tolerance:?}"));
        if self.dtype != Precision::F32 {
            // Reduced precision depends on the CPU's kernels: another CPU, another check.
            inputs.insert("host".into(), tmgt_schema::HostInfo::detect().describe());
        }
        inputs.insert("model_id".into(), model.model_id.clone());
        let stamp = cache::stamp_path(&ctx.project.model_dir(&model.slug), &format!("oracle-{}", self.dtype));
        let goldens: Vec<Utf8PathBuf> = ctx.roster.prompts.iter().map(|p| golden_dir.join(format!("{}.json", p.name))).collect();
        let fresh_dir = fresh_golden_dir(ctx, &model.slug, self.dtype);
        let fresh_copies: Vec<Utf8PathBuf> = ctx.roster.prompts.iter().map(|p| fresh_dir.join(format!("{}.json", p.name))).collect();
        let outputs: Vec<Utf8PathBuf> = goldens.iter().chain(&fresh_copies).cloned().collect();
        if !ctx.no_cache && !self.force && cache::is_fresh_by_content(&stamp, &inputs) {
            println!("{}: goldens ({}) up to date", model.slug, self.dtype);
            return Ok(OracleOutcome::UpToDate);
        }

        let staging = ctx.project.model_dir(&model.slug).join(format!(".golden-staging-{}", self.dtype));
        let _ = std::fs::remove_dir_all(&staging);
        // Removed on a signal and when this step ends, whatever happens.
        let _staging_guard = crate::runner::TempPath::new(staging.as_std_path());
        let bin = ctx.oracle_gen()?;
        let prompt_files: Vec<String> = ctx.roster.prompts.iter().map(|p| p.file.clone()).collect();
        let (slug, dtype, device) = (&model.slug, &self.dtype, &self.device);
        println!("{slug}: oracle-gen writing {} goldens ({dtype}, {device})", prompt_files.len());
        let mut argv: Vec<String> = vec![bin.to_string(), "golden".into()];
        for (flag, value) in [
            ("--model-dir", reference.to_string()),
            ("--slug", slug.clone()),
            ("--model-id", model.model_id.clone()),
            ("--out-dir", staging.to_string()),
            ("--dtype", dtype.flag().to_string()),
            ("--device", device.clone()),
            ("--max-new-tokens", s.max_new_tokens.to_string()),
            ("--top-k", s.top_k.to_string()),
        ] {
            argv.push(flag.into());
            argv.push(value);
        }
        argv.extend(prompt_files);
        crate::util::run_tool(&argv, Some(&ctx.project.root), true).with_context(|| format!("{slug}: oracle-gen golden"))?;

        let (mut new, mut verified, mut replaced) = (0, 0, 0);
        let mut differing = Vec::new();
        let mut to_install = Vec::new();
        for (prompt, committed) in ctx.roster.prompts.iter().zip(&goldens) {
            let fresh_path = staging.join(format!("{}.json", prompt.name));
            let fresh = Golden::read(fresh_path.as_std_path())?;
            if !committed.is_file() {
                new += 1;
                to_install.push((fresh_path, committed.clone(), "new".to_string()));
                continue;
            }
            let old = Golden::read(committed.as_std_path())
                .with_context(|| format!("{committed}: committed golden unreadable (use --force to rewrite it)"))?;
            let check = verify(&old, &fresh, tolerance);
            if check.holds() {
                verified += 1;
                if !check.identical {
                    println!("  {committed}: verified {}", check.summary());
                }
                if self.force && fresh.to_bytes() != old.to_bytes() {
                    to_install.push((fresh_path, committed.clone(), check.summary()));
                }
            } else {
                differing.push(format!("{committed}:\n  {}", check.problems.join("\n  ")));
                to_install.push((fresh_path, committed.clone(), check.problems.join("; ")));
            }
        }
        // This machine's goldens, kept for the precision suite whatever happens next.
        std::fs::create_dir_all(&fresh_dir).with_context(|| format!("{fresh_dir}: cannot create"))?;
        for (prompt, copy) in ctx.roster.prompts.iter().zip(&fresh_copies) {
            let from = staging.join(format!("{}.json", prompt.name));
            let bytes = std::fs::read(&from).with_context(|| format!("{from}: cannot read"))?;
            tmgt_schema::write_atomic(copy.as_std_path(), &bytes)?;
        }
        let report = !self.force && self.on_difference == OnDifference::Report && self.dtype != Precision::F32;
        if !differing.is_empty() && !self.force && !report {
            bail!(
                "{}: the oracle now disagrees with {} committed golden(s) ({}, tolerance {} nats{}); nothing was changed. Differences:\n{}\nRerun with --force to accept the new goldens.",
                model.slug,
                differing.len(),
                self.dtype,
                tolerance.logprob,
                if tolerance.near_tie_flips { ", near-tie flips allowed" } else { ", tokens exact" },
                differing.join("\n")
            );
        }
        if report && !differing.is_empty() {
            let _ = std::fs::remove_dir_all(&staging);
            cache::record(&stamp, &format!("oracle-{}", self.dtype), &inputs, &outputs, &ctx.cache)?;
            println!(
                "{}: {} of {} {} golden(s) do not hold on this CPU ({}): reported in the precision suite, nothing changed",
                model.slug,
                differing.len(),
                goldens.len(),
                self.dtype,
                tmgt_schema::HostInfo::detect().describe()
            );
            for d in &differing {
                println!("  {d}");
            }
            return Ok(OracleOutcome::Differs { differing: differing.len() });
        }
        for (from, to, why) in &to_install {
            let bytes = std::fs::read(from).with_context(|| format!("{from}: cannot read"))?;
            tmgt_schema::write_atomic(to.as_std_path(), &bytes)?;
            if why != "new" {
                replaced += 1;
                println!("  replaced {to}: {why}");
            }
        }
        let _ = std::fs::remove_dir_all(&staging);
        cache::record(&stamp, &format!("oracle-{}", self.dtype), &inputs, &outputs, &ctx.cache)?;
        println!("{}: goldens ({}): {new} new, {verified} verified, {replaced} replaced", model.slug, self.dtype);
        Ok(OracleOutcome::Written { new, verified, replaced })
    }
}

/// Where the goldens this machine computed are kept (models/<slug>/fresh-goldens/<dtype>).
pub fn fresh_golden_dir(ctx: &Ctx, slug: &str, dtype: Precision) -> Utf8PathBuf {
    ctx.project.model_dir(slug).join("fresh-goldens").join(dtype.flag())
}
