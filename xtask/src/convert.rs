//! `cargo xtask convert`: every artifact a check runs, made from the reference
//! checkpoint — apr import int8/int4, apr export int4 → GGUF, apr import of that GGUF
//! (roundtrip), and candle's own GGUF Q8_0/Q4_0 (a second converter). Each is a
//! stamped step: its key covers the input's hash, the tool's version and the
//! arguments, so an apr upgrade rebuilds exactly the apr artifacts. Tools write to a
//! temp name that is renamed only on success. Every conversion is kept as evidence
//! (its invocation), and a failed one is judged by the `convert` suite; what needs
//! its artifact is BLOCKED under the failure's signature.

use crate::artifacts::{Spec, Tool};
use crate::cache;
use crate::context::Ctx;
use crate::judge::conversions::{Conversion, Made};
use crate::judge::{self, Observed};
use crate::roster::Model;
use crate::runner::{self, RunOptions};
use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};
use std::collections::BTreeMap;
use tmgt_schema::Arch;
use tmgt_schema::Invocation;

#[derive(Debug, Clone, PartialEq)]
pub enum ArtifactState {
    Ready(Utf8PathBuf),
    /// Its conversion crashed, timed out or wrote nothing: the `convert` suite FAILs it.
    Failed {
        error: String,
        invocation: Invocation,
    },
    /// A step before it failed (or the tool is missing): checks that need it are
    /// BLOCKED under `signature`, the failure's.
    Blocked {
        step: String,
        reason: String,
        signature: String,
    },
    /// Not applicable to this model (e.g. no candle GGUF export for gpt2).
    Skipped(String),
}

impl ArtifactState {
    /// What an observation on this artifact is when the artifact is not ready.
    pub fn unavailable<T>(&self, name: &str) -> Option<Observed<T>> {
        match self {
            ArtifactState::Ready(_) => None,
            ArtifactState::Failed { error, invocation } => Some(Observed::Blocked {
                step: format!("convert {name}"),
                reason: format!("{} ({})", judge::telling_line(error, invocation), judge::how_it_ended(invocation)),
                signature: judge::failure_signature(error, invocation),
            }),
            ArtifactState::Blocked { step, reason, signature } => {
                Some(Observed::Blocked { step: step.clone(), reason: reason.clone(), signature: signature.clone() })
            }
            ArtifactState::Skipped(why) => Some(Observed::Skipped { reason: why.clone() }),
        }
    }
}

/// One artifact: how it is made and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    pub tool: &'static str,
    pub from: &'static str,
    pub bits: u8,
    pub state: ArtifactState,
    /// The conversion's invocation (this run's, or the one recorded beside its stamp).
    pub invocation: Option<Invocation>,
}

impl Converted {
    /// The evidence the `convert` suite judges.
    pub fn conversion(&self, name: &str, ctx: &Ctx) -> Conversion {
        let observed = match (&self.state, &self.invocation) {
            (ArtifactState::Ready(path), Some(inv)) => Observed::Ok {
                value: Made {
                    file: path.file_name().unwrap_or_default().to_string(),
                    bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
                    sha256: ctx.cache.sha256(path).unwrap_or_default(),
                    gguf: (path.extension() == Some("gguf")).then(|| tmgt_schema::gguf_header::read(path.as_std_path()).ok()).flatten(),
                },
                invocation: inv.clone(),
            },
            (ArtifactState::Ready(path), None) => Observed::Failed {
                error: format!("{path}: made, but no record of the command that made it (rerun with --no-cache)"),
                invocation: Invocation::default(),
            },
            (ArtifactState::Failed { error, invocation }, _) => Observed::Failed { error: error.clone(), invocation: invocation.clone() },
            (state, _) => state.unavailable(name).expect("not ready"),
        };
        Conversion { tool: self.tool.into(), from: self.from.into(), bits: self.bits, observed }
    }
}

pub type Artifacts = BTreeMap<String, Converted>;

/// The artifact names, in the order they are made.
pub fn artifact_names() -> impl Iterator<Item = &'static str> {
    crate::artifacts::SPECS.iter().map(|s| s.name)
}

/// models/<slug>/<stem>.<ext>. The file names are neutral on purpose: apr applies a
/// chat template when the path it is given names an instruct/chat model (#3672), so
/// apr is run from the model's folder on these names (`Runtime::runs_in_model_dir`).
pub fn artifact_path(ctx: &Ctx, slug: &str, name: &str) -> Utf8PathBuf {
    let spec = crate::artifacts::find(name).expect("known artifact");
    if let Tool::Reference = spec.tool {
        return ctx.project.reference_dir(slug).join(REFERENCE_WEIGHTS);
    }
    let stem = name.trim_end_matches("-gguf");
    ctx.project.model_dir(slug).join(format!("{stem}.{}", spec.extension))
}

/// The reference checkpoint's weights file the ladder's first rung runs (a sharded
/// checkpoint has none: that rung is skipped).
pub const REFERENCE_WEIGHTS: &str = "model.safetensors";

/// Tool identities for the step keys: apr's version (or why it is missing) and
/// oracle-gen's source hash.
pub struct Tools {
    pub apr: Result<String, String>,
    pub apr_program: String,
    pub oracle_gen: Option<Utf8PathBuf>,
    pub oracle_source: String,
    /// The llama.cpp comparator and its identity, or why it is not here.
    pub llamacpp: Result<(String, String), String>,
}

/// One key part per reference file, so any change in the checkpoint rebuilds.
fn reference_hash(ctx: &Ctx, reference: &Utf8Path) -> Result<String> {
    let mut parts = BTreeMap::new();
    for f in crate::util::files_under(reference, &["json", "safetensors"]) {
        parts.insert(f.file_name().unwrap_or_default().to_string(), ctx.cache.sha256(&f)?);
    }
    Ok(cache::step_key(&parts))
}

/// The command that made an artifact, as a maintainer runs it from the model folder.
/// The artifact `name` is made from (None: the reference checkpoint, or unknown).
pub fn upstream(name: &str) -> Option<&'static str> {
    crate::artifacts::find(name)?.from
}

pub fn portable_recipe(name: &str) -> Option<String> {
    let spec = crate::artifacts::find(name)?;
    let input = match spec.from {
        None => "reference".to_string(),
        Some(upstream) => {
            let up = crate::artifacts::find(upstream)?;
            format!("{}.{}", upstream.trim_end_matches("-gguf"), up.extension)
        }
    };
    let out = format!("{}.{}", name.trim_end_matches("-gguf"), spec.extension);
    // From the model folder of a clone: apr as installed, the harness's own tools
    // built by cargo from the clone (they are on no PATH).
    let program = match spec.tool {
        Tool::Apr => "apr",
        Tool::Candle => "cargo run -q --release --manifest-path ../../Cargo.toml -p oracle-gen --",
        Tool::LlamaCpp => "cargo run -q --release --manifest-path ../../comparators/llamacpp/Cargo.toml --",
        Tool::Source => return Some(format!("ln <the roster's GGUF> {out}")),
        Tool::Reference => return None,
    };
    let args: Vec<String> = spec.args.iter().map(|a| a.replace("{in}", &input).replace("{out}", &out)).collect();
    Some(format!("{program} {}", args.join(" ")))
}

/// `cargo xtask convert`: every artifact of every selected model.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Convert {
    /// Only this model (a roster slug).
    #[arg(long)]
    pub model: Option<String>,
}

impl Convert {
    /// 0 when every artifact is made (or not applicable), 1 when one failed or is blocked.
    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        let harness = crate::harness::Harness::new(ctx, None)?;
        let mut blocked = false;
        for m in ctx.roster.select(self.model.as_deref())? {
            let artifacts = convert_model(ctx, m, &harness.tools)?;
            blocked |= artifacts.values().any(|a| !matches!(a.state, ArtifactState::Ready(_) | ArtifactState::Skipped(_)));
        }
        Ok(i32::from(blocked))
    }
}

pub fn convert_model(ctx: &Ctx, model: &Model, tools: &Tools) -> Result<Artifacts> {
    let mut artifacts = Artifacts::new();
    let reference = ctx.project.reference_dir(&model.slug);
    if !reference.join("config.json").is_file() {
        for spec in crate::artifacts::SPECS {
            let state = ArtifactState::Blocked {
                step: "pull".into(),
                reason: format!("no reference checkpoint at {reference}"),
                signature: "pull: the reference checkpoint is missing".into(),
            };
            artifacts.insert(
                spec.name.into(),
                Converted { tool: spec.tool.name(), from: spec.from.unwrap_or("reference"), bits: spec.bits, state, invocation: None },
            );
        }
        return Ok(artifacts);
    }
    let reference_key = reference_hash(ctx, &reference)?;
    for spec in crate::artifacts::SPECS {
        let (state, invocation) = convert_one(ctx, model, tools, spec, &reference, &reference_key, &artifacts)?;
        match &state {
            ArtifactState::Ready(_) => {}
            ArtifactState::Failed { error, invocation } => {
                println!(
                    "{}: {} FAILED: {} ({})",
                    model.slug,
                    spec.name,
                    judge::telling_line(error, invocation),
                    judge::how_it_ended(invocation)
                )
            }
            ArtifactState::Blocked { step, reason, .. } => {
                println!("{}: {} BLOCKED at {step}: {}", model.slug, spec.name, judge::first_line(reason))
            }
            ArtifactState::Skipped(why) => println!("{}: {} skipped: {why}", model.slug, spec.name),
        }
        let converted = Converted { tool: spec.tool.name(), from: spec.from.unwrap_or("reference"), bits: spec.bits, state, invocation };
        artifacts.insert(spec.name.into(), converted);
    }
    Ok(artifacts)
}

fn convert_one(
    ctx: &Ctx,
    model: &Model,
    tools: &Tools,
    spec: &Spec,
    reference: &Utf8Path,
    reference_key: &str,
    done: &Artifacts,
) -> Result<(ArtifactState, Option<Invocation>)> {
    let step = format!("convert {}", spec.name);
    if let Tool::Reference = spec.tool {
        let path = reference.join(REFERENCE_WEIGHTS);
        return Ok(match path.is_file() {
            true => (ArtifactState::Ready(path), None),
            false => (ArtifactState::Skipped(format!("the checkpoint has no single {REFERENCE_WEIGHTS} (sharded?)")), None),
        });
    }
    let (input, input_key) = match (spec.from, spec.tool) {
        (None, Tool::Source) => match native_gguf(ctx, model) {
            Some(path) => {
                let key = ctx.cache.sha256(&path)?;
                (path, key)
            }
            None => return Ok((ArtifactState::Skipped("the model's source is not a GGUF".into()), None)),
        },
        (None, _) => (reference.to_path_buf(), reference_key.to_string()),
        (Some(upstream), _) => match done.get(upstream).map(|c| &c.state) {
            Some(ArtifactState::Ready(path)) => (path.clone(), ctx.cache.sha256(path)?),
            Some(state) => {
                let blocked = match state.unavailable::<()>(upstream) {
                    Some(Observed::Blocked { step, reason, signature }) => ArtifactState::Blocked { step, reason, signature },
                    Some(Observed::Skipped { reason }) => ArtifactState::Skipped(reason),
                    _ => unreachable!("not ready"),
                };
                return Ok((blocked, None));
            }
            None => {
                let state = ArtifactState::Blocked {
                    step: format!("convert {upstream}"),
                    reason: "not built".into(),
                    signature: format!("convert {upstream}: not built"),
                };
                return Ok((state, None));
            }
        },
    };
    let (program, version) = match spec.tool {
        Tool::Apr => match &tools.apr {
            Ok(v) => (tools.apr_program.clone(), v.clone()),
            Err(why) => {
                return Ok((
                    ArtifactState::Blocked {
                        step: "install-apr".into(),
                        reason: why.clone(),
                        signature: "apr is not installed here".into(),
                    },
                    None,
                ))
            }
        },
        Tool::LlamaCpp => match &tools.llamacpp {
            Ok((bin, version)) => (bin.clone(), version.clone()),
            Err(why) => return Ok((ArtifactState::Skipped(why.clone()), None)),
        },
        Tool::Source => ("link".to_string(), "hard link".to_string()),
        Tool::Reference => unreachable!("the reference file is not made"),
        Tool::Candle => {
            if model.arch == Arch::Gpt2 {
                return Ok((ArtifactState::Skipped("candle has no quantized gpt2 model".into()), None));
            }
            if model.arch == Arch::Gemma3 {
                return Ok((ArtifactState::Skipped("the oracle's GGUF exporter writes llama and qwen2 only".into()), None));
            }
            match &tools.oracle_gen {
                Some(bin) => (bin.to_string(), format!("oracle-gen {}", tools.oracle_source)),
                None => {
                    let state = ArtifactState::Blocked {
                        step: "build oracle-gen".into(),
                        reason: "oracle-gen not built".into(),
                        signature: "oracle-gen not built".into(),
                    };
                    return Ok((state, None));
                }
            }
        }
    };
    let out = artifact_path(ctx, &model.slug, spec.name);
    let inputs =
        BTreeMap::from([("input".to_string(), input_key), ("tool".to_string(), version), ("args".to_string(), spec.args.join(" "))]);
    let model_dir = ctx.project.model_dir(&model.slug);
    let stamp = cache::stamp_path(&model_dir, &format!("convert-{}", spec.name));
    let recorded = stamp.with_extension("invocation.json");
    if !ctx.no_cache && cache::is_fresh(&stamp, &inputs, &ctx.cache) {
        return Ok((ArtifactState::Ready(out), crate::util::read_json(&recorded).ok()));
    }
    // The tool writes a temp file with the real extension (apr picks formats by it).
    let tmp = out.with_file_name(format!(".tmp-{}", out.file_name().unwrap_or_default()));
    let _ = std::fs::remove_file(&tmp);
    // Removed on a signal, and when this step ends without renaming it.
    let _tmp_guard = crate::runner::TempPath::new(tmp.as_std_path());
    let mut argv = vec![program];
    argv.extend(spec.args.iter().map(|a| a.replace("{in}", input.as_str()).replace("{out}", tmp.as_str())));
    println!("{}: {step}: {}", model.slug, Invocation { command: argv.clone(), ..Default::default() }.command_line());
    let inv = match spec.tool {
        Tool::Source => link(&input, &tmp),
        _ => runner::run(&argv, &RunOptions::with_timeout(crate::runtime::default_timeout())),
    };
    let failure_log = model_dir.join(format!("convert-{}.failure.json", spec.name));
    if let Err(failure) = runner::check(&inv) {
        let _ = std::fs::remove_file(&tmp);
        let _ = crate::util::write_json(&failure_log, &inv);
        return Ok((ArtifactState::Failed { error: failure.to_string(), invocation: inv }, None));
    }
    if !tmp.is_file() {
        let error = format!("exited 0 but wrote no {}", tmp.file_name().unwrap_or_default());
        let _ = crate::util::write_json(&failure_log, &inv);
        return Ok((ArtifactState::Failed { error, invocation: inv }, None));
    }
    std::fs::rename(&tmp, &out)?;
    let _ = std::fs::remove_file(&failure_log);
    println!("{}: {step}: done in {:.1}s ({:.1} MB)", model.slug, inv.duration_s, std::fs::metadata(&out)?.len() as f64 / 1e6);
    crate::util::write_json(&recorded, &inv)?;
    cache::record(&stamp, &format!("convert-{}", spec.name), &inputs, std::slice::from_ref(&out), &ctx.cache)?;
    Ok((ArtifactState::Ready(out), Some(inv)))
}

/// The model's own GGUF when the roster pulls one (a wheel, or wheel chunks).
fn native_gguf(ctx: &Ctx, model: &Model) -> Option<Utf8PathBuf> {
    let file = match &model.source {
        crate::roster::Source::GgufWheel { member, .. } => Utf8Path::new(member).file_name()?.to_string(),
        crate::roster::Source::GgufWheelChunks { file, .. } => file.clone(),
        _ => return None,
    };
    let path = ctx.project.model_dir(&model.slug).join(file);
    path.is_file().then_some(path)
}

/// A hard link (a copy across file systems), recorded like a process run.
fn link(from: &Utf8Path, to: &Utf8Path) -> Invocation {
    let started = std::time::Instant::now();
    let result = std::fs::hard_link(from, to).or_else(|_| std::fs::copy(from, to).map(|_| ()));
    Invocation {
        command: vec!["ln".into(), from.to_string(), to.to_string()],
        exit_code: Some(if result.is_ok() { 0 } else { 1 }),
        duration_s: started.elapsed().as_secs_f64(),
        stderr: result.err().map(|e| format!("error: cannot link {from} to {to}: {e}")).unwrap_or_default(),
        ..Default::default()
    }
}
