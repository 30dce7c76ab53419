//! `cargo xtask oracle`: writes or verifies the committed goldens with oracle-gen.
//! oracle-gen writes into a staging folder; a golden whose claims (tokens, text,
//! logprobs) differ from the committed one stops the task with the difference
//! shown, unless --force — a golden never changes silently.

use crate::cache::{self, HashCache};
use crate::context::Ctx;
use crate::roster::Model;
use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use std::collections::BTreeMap;
use tmgt_schema::Golden;

/// Logprob movement tolerated between a committed golden and a fresh one.
pub const LOGPROB_TOLERANCE: f32 = 1e-3;

#[derive(Debug, Clone)]
pub struct Oracle {
    pub model: Option<String>,
    pub dtype: String,
    pub device: String,
    pub force: bool,
}

/// What the oracle step of one model did.
#[derive(Debug, Clone, PartialEq)]
pub enum OracleOutcome {
    UpToDate,
    Written { new: usize, verified: usize, replaced: usize },
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
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let mut failures = Vec::new();
        for model in ctx.roster.select(self.model.as_deref())? {
            match self.run_model(ctx, model) {
                Ok(OracleOutcome::NoReference) => {
                    if self.model.is_some() {
                        bail!("{}: no reference checkpoint at {}; run `cargo xtask pull` first", model.slug, ctx.project.reference_dir(&model.slug));
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
        let golden_dir = ctx.project.golden_dir(&model.slug, &self.dtype);
        let mut inputs = BTreeMap::new();
        for f in crate::util::files_under(&reference, &["json", "safetensors"]) {
            inputs.insert(format!("reference/{}", f.file_name().unwrap()), ctx.cache.sha256(&f)?);
        }
        for p in &ctx.roster.prompts {
            inputs.insert(format!("prompt/{}", p.name), ctx.cache.sha256(&ctx.project.root.join(&p.file))?);
        }
        inputs.insert("oracle-source".into(), oracle_source_hash(&ctx.project.root, &ctx.cache)?);
        let s = &ctx.roster.settings;
        inputs.insert("settings".into(), format!("max_new_tokens={} top_k={} dtype={} device={}", s.max_new_tokens, s.top_k, self.dtype, self.device));
        inputs.insert("model_id".into(), model.model_id.clone());
        let stamp = cache::stamp_path(&ctx.project.model_dir(&model.slug), &format!("oracle-{}", self.dtype));
        let goldens: Vec<Utf8PathBuf> =
            ctx.roster.prompts.iter().map(|p| golden_dir.join(format!("{}.json", p.name))).collect();
        if !ctx.no_cache && !self.force && cache::is_fresh(&stamp, &inputs, &ctx.cache) {
            println!("{}: goldens ({}) up to date", model.slug, self.dtype);
            return Ok(OracleOutcome::UpToDate);
        }

        let staging = ctx.project.model_dir(&model.slug).join(format!(".golden-staging-{}", self.dtype));
        let _ = std::fs::remove_dir_all(&staging);
        let bin = ctx.oracle_gen()?;
        let sh = &ctx.sh;
        let _cwd = sh.push_dir(&ctx.project.root);
        let prompt_files: Vec<&str> = ctx.roster.prompts.iter().map(|p| p.file.as_str()).collect();
        let (max_new, top_k) = (s.max_new_tokens.to_string(), s.top_k.to_string());
        let (slug, model_id, dtype, device) = (&model.slug, &model.model_id, &self.dtype, &self.device);
        println!("{slug}: oracle-gen writing {} goldens ({dtype}, {device})", prompt_files.len());
        xshell::cmd!(sh, "{bin} golden --model-dir {reference} --slug {slug} --model-id {model_id} --out-dir {staging} --dtype {dtype} --device {device} --max-new-tokens {max_new} --top-k {top_k} {prompt_files...}")
            .run()
            .with_context(|| format!("{slug}: oracle-gen golden"))?;

        let (mut new, mut verified, mut replaced) = (0, 0, 0);
        let mut differing = Vec::new();
        let mut to_install = Vec::new();
        for (prompt, committed) in ctx.roster.prompts.iter().zip(&goldens) {
            let fresh_path = staging.join(format!("{}.json", prompt.name));
            let fresh = Golden::read(fresh_path.as_std_path())?;
            if !committed.is_file() {
                new += 1;
                to_install.push((fresh_path, committed.clone()));
                continue;
            }
            let old = Golden::read(committed.as_std_path())
                .with_context(|| format!("{committed}: committed golden unreadable (use --force to rewrite it)"))?;
            let diffs = old.claim_differences(&fresh, LOGPROB_TOLERANCE);
            if diffs.is_empty() {
                verified += 1;
            } else {
                differing.push(format!("{committed}:\n  {}", diffs.join("\n  ")));
                to_install.push((fresh_path, committed.clone()));
            }
        }
        if !differing.is_empty() && !self.force {
            bail!(
                "{}: the oracle now disagrees with {} committed golden(s); nothing was changed. Differences:\n{}\nRerun with --force to accept the new goldens.",
                model.slug,
                differing.len(),
                differing.join("\n")
            );
        }
        replaced = replaced.max(differing.len());
        for (from, to) in &to_install {
            let bytes = std::fs::read(from).with_context(|| format!("{from}: cannot read"))?;
            tmgt_schema::write_atomic(to.as_std_path(), &bytes)?;
        }
        let _ = std::fs::remove_dir_all(&staging);
        cache::record(&stamp, &format!("oracle-{}", self.dtype), &inputs, &goldens, &ctx.cache)?;
        println!("{}: goldens ({}): {new} new, {verified} verified, {replaced} replaced", model.slug, self.dtype);
        Ok(OracleOutcome::Written { new, verified, replaced })
    }
}
