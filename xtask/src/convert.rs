//! `cargo xtask convert`: every artifact a check runs, made from the reference
//! checkpoint — apr import int8/int4, apr export int4 → GGUF, apr import of that GGUF
//! (roundtrip), and candle's own GGUF Q8_0/Q4_0 (a second converter). Each is a
//! stamped step: its key covers the input's hash, the tool's version and the
//! arguments, so an apr upgrade rebuilds exactly the apr artifacts. Tools write to a
//! temp name that is renamed only on success.

use crate::cache;
use crate::context::Ctx;
use crate::roster::Model;
use crate::runner::{self, RunOptions};
use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub enum ArtifactState {
    Ready(Utf8PathBuf),
    /// The step that makes it (or one before it) failed: checks that need it are BLOCKED.
    Blocked { step: String, reason: String },
    /// Not applicable to this model (e.g. no candle GGUF export for gpt2).
    Skipped(String),
}

pub type Artifacts = BTreeMap<String, ArtifactState>;

#[derive(Debug, Clone, Copy)]
enum Tool {
    Apr,
    Candle,
}

struct Spec {
    name: &'static str,
    extension: &'static str,
    /// None: the reference checkpoint; Some(name): another artifact.
    from: Option<&'static str>,
    tool: Tool,
    /// argv after the program, with {in} and {out} placeholders.
    args: &'static [&'static str],
}

const SPECS: &[Spec] = &[
    Spec { name: "int8", extension: "apr", from: None, tool: Tool::Apr, args: &["import", "{in}", "--quantize", "int8", "-o", "{out}", "--offline"] },
    Spec { name: "int4", extension: "apr", from: None, tool: Tool::Apr, args: &["import", "{in}", "--quantize", "int4", "-o", "{out}", "--offline"] },
    Spec { name: "int4-gguf", extension: "gguf", from: Some("int4"), tool: Tool::Apr, args: &["export", "{in}", "--format", "gguf", "-o", "{out}", "--offline"] },
    Spec { name: "roundtrip", extension: "apr", from: Some("int4-gguf"), tool: Tool::Apr, args: &["import", "{in}", "-o", "{out}", "--offline"] },
    Spec { name: "q8_0-gguf", extension: "gguf", from: None, tool: Tool::Candle, args: &["export-gguf", "{in}", "--quant", "q8_0", "--out", "{out}"] },
    Spec { name: "q4_0-gguf", extension: "gguf", from: None, tool: Tool::Candle, args: &["export-gguf", "{in}", "--quant", "q4_0", "--out", "{out}"] },
];

/// models/<slug>/<stem>.<ext>. The file names are neutral on purpose: apr applies a
/// chat template when the path it is given names an instruct/chat model (#3672), so
/// apr is run from the model's folder on these names (see `runtime_path`).
pub fn artifact_path(ctx: &Ctx, slug: &str, name: &str) -> Utf8PathBuf {
    let spec = SPECS.iter().find(|s| s.name == name).expect("known artifact");
    let stem = name.trim_end_matches("-gguf");
    ctx.project.model_dir(slug).join(format!("{stem}.{}", spec.extension))
}

/// Tool identities for the step keys: apr's version (or why it is missing) and
/// oracle-gen's source hash.
pub struct Tools {
    pub apr: Result<String, String>,
    pub apr_program: String,
    pub oracle_gen: Option<Utf8PathBuf>,
    pub oracle_source: String,
}

/// One key part per reference file, so any change in the checkpoint rebuilds.
fn reference_hash(ctx: &Ctx, reference: &Utf8Path) -> Result<String> {
    let mut parts = BTreeMap::new();
    for f in crate::util::files_under(reference, &["json", "safetensors"]) {
        parts.insert(f.file_name().unwrap_or_default().to_string(), ctx.cache.sha256(&f)?);
    }
    Ok(cache::step_key(&parts))
}

pub fn convert_model(ctx: &Ctx, model: &Model, tools: &Tools) -> Result<Artifacts> {
    let mut artifacts = Artifacts::new();
    let reference = ctx.project.reference_dir(&model.slug);
    if !reference.join("config.json").is_file() {
        for spec in SPECS {
            artifacts.insert(spec.name.into(), ArtifactState::Blocked { step: "pull".into(), reason: format!("no reference checkpoint at {reference}") });
        }
        return Ok(artifacts);
    }
    let reference_key = reference_hash(ctx, &reference)?;
    for spec in SPECS {
        let state = convert_one(ctx, model, tools, spec, &reference, &reference_key, &artifacts)?;
        match &state {
            ArtifactState::Ready(_) => {}
            ArtifactState::Blocked { step, reason } => {
                println!("{}: {} BLOCKED at {step}: {}", model.slug, spec.name, crate::judge::first_line(reason))
            }
            ArtifactState::Skipped(why) => println!("{}: {} skipped: {why}", model.slug, spec.name),
        }
        artifacts.insert(spec.name.into(), state);
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
) -> Result<ArtifactState> {
    let step = format!("convert {}", spec.name);
    let (input, input_key) = match spec.from {
        None => (reference.to_path_buf(), reference_key.to_string()),
        Some(upstream) => match done.get(upstream) {
            Some(ArtifactState::Ready(path)) => (path.clone(), ctx.cache.sha256(path)?),
            Some(ArtifactState::Blocked { step, reason }) => {
                return Ok(ArtifactState::Blocked { step: step.clone(), reason: reason.clone() })
            }
            Some(ArtifactState::Skipped(why)) => return Ok(ArtifactState::Skipped(why.clone())),
            None => return Ok(ArtifactState::Blocked { step: format!("convert {upstream}"), reason: "not built".into() }),
        },
    };
    let (program, version) = match spec.tool {
        Tool::Apr => match &tools.apr {
            Ok(v) => (tools.apr_program.clone(), v.clone()),
            Err(why) => return Ok(ArtifactState::Blocked { step: "install-apr".into(), reason: why.clone() }),
        },
        Tool::Candle => {
            if model.arch == "gpt2" {
                return Ok(ArtifactState::Skipped("candle has no quantized gpt2 model".into()));
            }
            if model.arch == "gemma3" {
                return Ok(ArtifactState::Skipped("the oracle's GGUF exporter writes llama and qwen2 only".into()));
            }
            match &tools.oracle_gen {
                Some(bin) => (bin.to_string(), format!("oracle-gen {}", tools.oracle_source)),
                None => return Ok(ArtifactState::Blocked { step: "build oracle-gen".into(), reason: "oracle-gen not built".into() }),
            }
        }
    };
    let out = artifact_path(ctx, &model.slug, spec.name);
    let inputs = BTreeMap::from([
        ("input".to_string(), input_key),
        ("tool".to_string(), version),
        ("args".to_string(), spec.args.join(" ")),
    ]);
    let stamp = cache::stamp_path(&ctx.project.model_dir(&model.slug), &format!("convert-{}", spec.name));
    if !ctx.no_cache && cache::is_fresh(&stamp, &inputs, &ctx.cache) {
        return Ok(ArtifactState::Ready(out));
    }
    // The tool writes a temp file with the real extension (apr picks formats by it).
    let tmp = out.with_file_name(format!(".tmp-{}", out.file_name().unwrap_or_default()));
    let _ = std::fs::remove_file(&tmp);
    let mut argv = vec![program];
    argv.extend(spec.args.iter().map(|a| a.replace("{in}", input.as_str()).replace("{out}", tmp.as_str())));
    println!("{}: {step}: {}", model.slug, tmgt_schema::Invocation { command: argv.clone(), ..Default::default() }.command_line());
    let inv = runner::run(&argv, &RunOptions::with_timeout(crate::runtime::default_timeout()));
    if let Err(failure) = runner::check(&inv) {
        let _ = std::fs::remove_file(&tmp);
        let log = ctx.project.model_dir(&model.slug).join(format!("convert-{}.failure.json", spec.name));
        let _ = crate::util::write_json(&log, &inv);
        return Ok(ArtifactState::Blocked { step, reason: format!("{failure} (evidence: {log})") });
    }
    if !tmp.is_file() {
        return Ok(ArtifactState::Blocked { step, reason: format!("`{}` exited 0 but wrote no {tmp}", inv.command_line()) });
    }
    std::fs::rename(&tmp, &out)?;
    println!("{}: {step}: done in {:.1}s ({:.1} MB)", model.slug, inv.duration_s, std::fs::metadata(&out)?.len() as f64 / 1e6);
    cache::record(&stamp, &format!("convert-{}", spec.name), &inputs, &[out.clone()], &ctx.cache)?;
    Ok(ArtifactState::Ready(out))
}
