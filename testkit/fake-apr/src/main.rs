//! fake-apr: a test-only stand-in for the `apr` CLI (crates.io apr-cli 0.72.3) that
//! speaks its command line and JSON, and behaves perfectly or injects exactly one
//! defect, so the harness itself can be measured: every defect must yield a FAIL,
//! the perfect fake must pass everything. It is never evidence about apr.
//!
//! Environment:
//! - `FAKE_APR_DEFECT`: unset/`perfect`, or one of the defects below.
//! - `FAKE_APR_STEP`: the generation step of `wrong-token` and `eos-then-more` (default 1).
//! - `FAKE_APR_GOLDENS`: the oracle's goldens, one model's folder or the folder of all
//!   (then `<dir>/<slug>/`); unset: `<root>/goldens` beside the reference's `models/`.
//! - `FAKE_APR_ORACLE_GEN`: the oracle-gen binary, the correct engine `run`/`eval` on a
//!   GGUF, `eval` on an APR and `export` (llama, qwen2) delegate to.
//! - `FAKE_APR_LLAMACPP`: the llama.cpp comparator, the correct engine `run` on a
//!   foreign GGUF of another architecture (the roster's Gemma 3 GGUF) delegates to; the
//!   fake's own exports replay the golden of the reference they record.
//!
//! Defects (one at a time):
//! - `wrong-token`: `run` (.apr and .gguf): the token at step FAKE_APR_STEP becomes
//!   another id (+1 modulo the vocabulary, never EOS); the text changes there.
//! - `trim-text`: `run`: the text is `.trim()`-ed, tokens unchanged.
//! - `bos`: `run`: a BOS id is prepended to the prompt ids (GGUF:
//!   `logprobs.prompt_token_ids`; APR: `prompt_tokens` is one more); generation unchanged.
//! - `eos-then-more`: `run`: an EOS id at step FAKE_APR_STEP, then more tokens up to `-n`.
//! - `crash-import`: `import` panics: stderr `thread 'main' (<pid>) panicked at
//!   src/format/converter.rs:42:9:` and the message, exit 101, no output file.
//! - `crash-run`: `run` and `eval` panic (exit 101).
//! - `hang`: `run` sleeps forever.
//! - `non-json`: `run` prints a log line on stdout before its JSON.
//! - `json-nonzero`: structure subcommands print their perfect JSON, then exit 3.
//! - `nan-ppl`: `eval` prints `"perplexity": null` (what serde_json writes for f64::NAN).
//! - `empty-stages`: `check` prints `"stages": []`, `validate` `"checks": []`, checks_ran 0.
//! - `renamed-tensor`: `import` records one tensor under another name
//!   (`blk.0.attn_q.weight` → `blk.0.attn_qq.weight`); counts still match.
//! - `f32-export`: `export` writes an F32 GGUF instead of Q4_0 (int4) / Q8_0 (int8).
//! - `logprob-shift`: `run`: every reported logprob 0.6 nats lower (tokens, text unchanged).
//! - `ppl-high`: `eval`: the perplexity 20% high.
//! - `coarse-export`: `export` of an int4 file rounds every weight matrix to 4 bits with
//!   one scale per tensor, then writes Q4_0 of that: a worse quantizer, a file that
//!   correct engines run far from the oracle (and far from their own Q4_0).
//! - `export-no-bos-flag`: `export` drops `tokenizer.ggml.add_bos_token`; `run` on a
//!   GGUF without that key prepends BOS (what apr 0.72.3 does; with the key it obeys it).

mod artifact;
mod cli;
mod defect;
mod detok;
mod generation;
mod gguf;
mod goldens;
mod oracle;
mod safetensors;
mod st_structure;
mod structure;
#[cfg(test)]
mod testutil;

use anyhow::{bail, Context, Result};
use artifact::{AprFile, Artifact, Config, View};
use cli::Args;
use defect::Defect;
use generation::{Replay, RunMeta, Vocab};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub const APR_VERSION: &str = "0.72.3";

const HELP: &str = "\
fake-apr — a test-only stand-in for apr 0.72.3 (perfect, or exactly one defect)

USAGE: fake-apr <COMMAND> [ARGS]

Conversions:
  import <reference-dir | model.safetensors | file.gguf> [--quantize int8|int4] -o OUT.apr
  export IN.apr --format gguf -o OUT.gguf
  export IN.apr --format safetensors -o OUT.safetensors   (the reference's f32 tensors: no error)
Runs:
  run FILE -p PROMPT [-n N] [--logprobs K] --json
  eval FILE --dataset custom --text TEXT [--threshold T] --json
Structure (all --json):
  inspect | validate | tensors | lint | check | tree | oracle | debug FILE
  hex FILE --stats --limit L;  bench FILE --max-tokens N;  qa FILE [--skip-*]
  list;  diff A B;  rosetta diff-tensors A B;  parity FILE --assert
  --version

Environment:
  FAKE_APR_DEFECT      unset or perfect, or one defect below
  FAKE_APR_STEP        the step of wrong-token and eos-then-more (default 1)
  FAKE_APR_GOLDENS     goldens of one model, or of all (then <dir>/<slug>/);
                       unset: <root>/goldens beside the reference's models/
  FAKE_APR_ORACLE_GEN  oracle-gen binary: run/eval on GGUF, eval on APR, export
  FAKE_APR_LLAMACPP    llama.cpp comparator: run on foreign GGUFs of other architectures (Gemma 3)

Defects:
";

fn help() -> String {
    let mut s = HELP.to_string();
    for (name, _, what) in defect::DEFECTS {
        s.push_str(&format!("  {name:<15} {what}\n"));
    }
    s
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match real_main(&argv) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}

/// A Rust panic as apr 0.72.3 prints it (its toolchain names the thread id, see
/// the captured `*.stderr.txt`), without a real unwind.
fn crash(location: &str, message: &str) -> ! {
    eprintln!(
        "\nthread 'main' ({}) panicked at {location}:\n{message}\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        std::process::id()
    );
    std::process::exit(101);
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).expect("JSON serializes"));
}

fn real_main(argv: &[String]) -> Result<i32> {
    let Some(command) = argv.first() else {
        eprint!("{}", help());
        return Ok(2);
    };
    let defect = Defect::from_env()?;
    let args = Args::parse(&argv[1..])?;
    if defect == Defect::PanicTruncatedHeader {
        if let Some(short) = args.positionals.iter().find_map(|p| truncated_header(Path::new(p))) {
            crash("src/format/safetensors.rs:88:14", &format!("range end index {} out of range for slice of length {}", short.0, short.1));
        }
    }
    match command.as_str() {
        "--version" | "-V" | "version" => {
            // FAKE_APR_VERSION stands for an upgrade (the recheck tests): the version
            // line is all that changes, so every apr observation's key changes with it.
            let version = std::env::var("FAKE_APR_VERSION").unwrap_or_else(|_| APR_VERSION.to_string());
            println!("apr {version} ({})", commit(defect));
            Ok(0)
        }
        "--help" | "-h" | "help" => {
            print!("{}", help());
            Ok(0)
        }
        "import" => import(&args, defect),
        "export" => export(&args, defect),
        "run" => run(&args, defect),
        "eval" => eval(&args, defect),
        "inspect" | "validate" | "tensors" | "lint" | "check" | "tree" | "oracle" | "hex" | "debug" | "bench" | "qa" | "list" | "diff"
        | "rosetta" | "parity" => {
            let v = structure_command(command, &args, defect)?;
            match command.as_str() {
                "tensors" | "tree" | "hex" | "diff" => println!("{}", serde_json::to_string(&v)?),
                "qa" => {
                    let mut out = Vec::new();
                    let mut ser = serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::with_indent(b" "));
                    serde::Serialize::serialize(&v, &mut ser)?;
                    println!("{}", String::from_utf8(out)?);
                }
                _ => print_json(&v),
            }
            Ok(if defect == Defect::JsonNonzero { 3 } else { 0 })
        }
        other => {
            eprintln!("error: unrecognized subcommand '{other}'\n\nFor more information, try 'fake-apr --help'.");
            Ok(2)
        }
    }
}

fn commit(defect: Defect) -> String {
    format!("fake-{}", defect.name())
}

fn import(args: &Args, defect: Defect) -> Result<i32> {
    let input = PathBuf::from(args.positional(0, "SOURCE")?);
    let out = PathBuf::from(args.value(&["-o", "--output"]).context("import needs -o OUT.apr")?);
    let quant = args.value(&["--quantize"]).map(artifact::normalize_quant).transpose()?;
    if defect == Defect::CrashImport {
        crash("src/format/converter.rs:42:9", "called `Option::unwrap()` on a `None` value");
    }
    let rec = if input.is_dir() {
        if !input.join("config.json").exists() {
            bail!("{}: not a model directory (no config.json)", input.display());
        }
        AprFile::from_reference(&input, quant.unwrap_or("f32"), &input, defect)?
    } else if gguf::is_gguf(&input) {
        AprFile::from_gguf(&input, quant, defect)?
    } else if input.extension().is_some_and(|e| e == "safetensors") {
        let dir = input.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        AprFile::from_reference(dir, quant.unwrap_or("f32"), &input, defect)?
    } else if !input.exists() {
        bail!("{}: no such file or directory", input.display());
    } else {
        bail!("{}: cannot import (this fake imports a reference directory, a .safetensors file or a GGUF)", input.display());
    };
    rec.write(&out)?;
    println!("Imported {} -> {} ({}, {} tensors)", input.display(), out.display(), rec.quant, rec.tensors.len());
    Ok(0)
}

fn export(args: &Args, defect: Defect) -> Result<i32> {
    let input = PathBuf::from(args.positional(0, "INPUT")?);
    let out = PathBuf::from(args.value(&["-o", "--output"]).context("export needs -o OUT.gguf")?);
    let format = args.value(&["--format"]).unwrap_or("gguf");
    let safetensors = format.eq_ignore_ascii_case("safetensors");
    if !format.eq_ignore_ascii_case("gguf") && !safetensors {
        bail!("--format {format:?}: this fake exports gguf and safetensors only");
    }
    let rec = match artifact::open(&input)? {
        Artifact::Apr(rec) => rec,
        Artifact::Gguf(_) => bail!("{}: export reads an .apr file, this is a GGUF", input.display()),
    };
    let reference = rec
        .reference_dir()
        .with_context(|| format!("{}: records no reference directory (imported from a foreign GGUF): nothing to export", input.display()))?
        .to_path_buf();
    if safetensors {
        // The dequantized tensors of a perfect quantizer are no worse than a correct
        // one's: the reference's own (one file; a sharded reference is refused).
        let files = artifact::safetensors_files(&reference)?;
        let [file] = files.as_slice() else { bail!("{}: {} safetensors files: this fake exports one", reference.display(), files.len()) };
        if defect == Defect::CoarseTensor && rec.quant == "int8" {
            coarse_first_matrix(file, &out)?;
        } else {
            std::fs::copy(file, &out).with_context(|| format!("cannot write {}", out.display()))?;
            if defect == Defect::F32CorruptTensor && rec.quant == "f32" {
                negate_first_value(&out)?;
            }
        }
        println!("Exported {} -> {} (SafeTensors)", input.display(), out.display());
        return Ok(0);
    }
    let quant = match (defect, rec.quant.as_str()) {
        (Defect::F32Export, _) | (_, "f32") => "f32",
        (_, "int8") => "q8_0",
        _ => "q4_0",
    };
    match oracle::program().filter(|_| oracle::gguf_capable(&rec.config.model_type)) {
        Some(_) => {
            let tmp = out.with_file_name(format!(
                ".{}.{}.oracle.tmp",
                out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                std::process::id()
            ));
            let coarse = (defect == Defect::CoarseExport && quant == "q4_0")
                .then(|| coarse_reference(&reference, &out.with_file_name(format!(".coarse-reference.{}", std::process::id()))))
                .transpose()?;
            let result = oracle::export_gguf(coarse.as_deref().unwrap_or(&reference), quant, &tmp)
                .and_then(|_| gguf::add_string_kv(&tmp, &out, gguf::REFERENCE_KEY, &reference.to_string_lossy()))
                .and_then(|_| match defect {
                    Defect::ExportNoBosFlag => gguf::remove_kv(&out, &out, gguf::ADD_BOS_KEY),
                    _ => Ok(()),
                });
            let _ = std::fs::remove_file(&tmp);
            if let Some(dir) = &coarse {
                let _ = std::fs::remove_dir_all(dir);
            }
            result?;
        }
        None => write_own_gguf(&reference, &rec.config, quant, &out)?,
    }
    println!("Exported {} -> {} (GGUF {quant})", input.display(), out.display());
    Ok(0)
}

/// `coarse-export`: a copy of the reference folder in `dir` whose weight matrices are
/// rounded to 4 bits (−8..7) with one scale per tensor (max |w| / 7); other tensors
/// and every other file as they are.
fn coarse_reference(reference: &Path, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    for entry in std::fs::read_dir(reference).with_context(|| format!("{}: cannot list", reference.display()))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if path.is_file() && !name.ends_with(".safetensors") && !name.ends_with(".safetensors.index.json") {
            std::fs::copy(&path, dir.join(&name)).with_context(|| format!("{}: cannot copy", path.display()))?;
        }
    }
    let mut tensors = Vec::new();
    for file in artifact::safetensors_files(reference)? {
        let header = safetensors::read_header(&file)?;
        for (name, info) in &header.tensors {
            let mut values = safetensors::read_f32(&file, &header, name)?;
            if info.shape.len() == 2 {
                values = coarse_int4(&values);
            }
            tensors.push((name.clone(), info.shape.clone(), values));
        }
    }
    let refs: Vec<(&str, Vec<usize>, Vec<f32>)> = tensors.iter().map(|(n, s, v)| (n.as_str(), s.clone(), v.clone())).collect();
    safetensors::write_f32(&dir.join("model.safetensors"), &refs)?;
    Ok(dir.to_path_buf())
}

/// `coarse-tensor`: `file`'s tensors written to `out`, the first 2-D one (by name)
/// rounded to 4 bits with one scale for the whole tensor.
fn coarse_first_matrix(file: &Path, out: &Path) -> Result<()> {
    let header = safetensors::read_header(file)?;
    let mut done = false;
    let mut tensors = Vec::new();
    for (name, info) in &header.tensors {
        let mut values = safetensors::read_f32(file, &header, name)?;
        if info.shape.len() == 2 && !done {
            values = coarse_int4(&values);
            done = true;
        }
        tensors.push((name.as_str(), info.shape.clone(), values));
    }
    safetensors::write_f32(out, &tensors)
}

/// Flips the sign bit of the first value of the first tensor (by name) in place.
fn negate_first_value(file: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let header = safetensors::read_header(file)?;
    let Some(t) = header.tensors.values().find(|t| t.offsets.1 > t.offsets.0) else { return Ok(()) };
    let width = match t.dtype.as_str() {
        "F32" => 4,
        _ => 2,
    };
    let at = header.data_start + t.offsets.0 + width - 1;
    let mut f = std::fs::OpenOptions::new().read(true).write(true).open(file)?;
    let mut byte = [0u8];
    f.seek(SeekFrom::Start(at))?;
    f.read_exact(&mut byte)?;
    f.seek(SeekFrom::Start(at))?;
    f.write_all(&[byte[0] ^ 0x80])?;
    Ok(())
}

/// (bytes the header says the file holds at least, bytes it holds) for a .safetensors
/// file too short for its own 8-byte length and the header that length declares.
fn truncated_header(path: &Path) -> Option<(u64, u64)> {
    if !artifact::is_safetensors(path) {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let len = bytes.len() as u64;
    let Some(prefix) = bytes.get(..8) else { return Some((8, len)) };
    let declared = u64::from_le_bytes(prefix.try_into().ok()?);
    let needed = declared.saturating_add(8);
    (needed > len).then_some((needed, len))
}

/// Symmetric 4-bit rounding with one scale for the whole tensor.
fn coarse_int4(values: &[f32]) -> Vec<f32> {
    let max = values.iter().fold(0f32, |m, v| m.max(v.abs()));
    if max == 0.0 {
        return values.to_vec();
    }
    let scale = max / 7.0;
    values.iter().map(|v| (v / scale).round().clamp(-8.0, 7.0) * scale).collect()
}

/// The fake's own GGUF export, for architectures oracle-gen does not export (gpt2)
/// or when FAKE_APR_ORACLE_GEN is unset: the reference's tensors under their APR
/// names, 2-D ones quantized, plus enough metadata to inspect it and the reference.
fn write_own_gguf(reference: &Path, c: &Config, quant: &str, out: &Path) -> Result<()> {
    use gguf::Value as V;
    let ggml = match quant {
        "q8_0" => gguf::GGML_Q8_0,
        "q4_0" => gguf::GGML_Q4_0,
        _ => gguf::GGML_F32,
    };
    let mut tensors = Vec::new();
    for file in artifact::safetensors_files(reference)? {
        let header = safetensors::read_header(&file)?;
        for (name, info) in &header.tensors {
            let values = safetensors::read_f32(&file, &header, name)?;
            let quantizable = info.shape.len() == 2 && info.shape[1] % 32 == 0;
            tensors.push(gguf::WriteTensor {
                name: artifact::apr_tensor_name(&c.model_type, name),
                shape: info.shape.clone(),
                values,
                ggml_type: if quantizable { ggml } else { gguf::GGML_F32 },
            });
        }
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let a = &c.model_type;
    let mut md: Vec<(String, V)> = vec![
        ("general.architecture".into(), V::String(a.clone())),
        ("general.name".into(), V::String(reference.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())),
        (
            "general.file_type".into(),
            V::U32(match quant {
                "q8_0" => 7,
                "q4_0" => 2,
                _ => 0,
            }),
        ),
        ("general.quantization_version".into(), V::U32(2)),
        (format!("{a}.block_count"), V::U32(c.num_layers as u32)),
        (format!("{a}.embedding_length"), V::U32(c.hidden_size as u32)),
        (format!("{a}.feed_forward_length"), V::U32(c.intermediate_size as u32)),
        (format!("{a}.attention.head_count"), V::U32(c.num_heads as u32)),
        (format!("{a}.attention.head_count_kv"), V::U32(c.num_kv_heads as u32)),
        (format!("{a}.vocab_size"), V::U32(c.vocab_size as u32)),
    ];
    if let Some(ctx) = c.max_position_embeddings {
        md.push((format!("{a}.context_length"), V::U32(ctx as u32)));
    }
    if let Some(theta) = c.rope_theta {
        md.push((format!("{a}.rope.freq_base"), V::F32(theta as f32)));
    }
    if let Some(bos) = c.bos_token_id {
        md.push(("tokenizer.ggml.bos_token_id".into(), V::U32(bos)));
    }
    if let Some(eos) = c.eos_token_ids.first() {
        md.push(("tokenizer.ggml.eos_token_id".into(), V::U32(*eos)));
    }
    md.push((gguf::REFERENCE_KEY.into(), V::String(reference.to_string_lossy().into_owned())));
    gguf::write(out, &md, &tensors)
}

fn decoder_for(reference: Option<&Path>) -> Result<Option<detok::Decoder>> {
    match reference {
        Some(r) => detok::Decoder::from_file(&r.join("tokenizer.json")),
        None => Ok(None),
    }
}

fn golden_replay(reference: &Path, prompt: &str) -> Result<Replay> {
    let env = std::env::var_os("FAKE_APR_GOLDENS").filter(|v| !v.is_empty()).map(PathBuf::from);
    let dir = goldens::goldens_dir(reference, env.as_deref())?;
    Ok(Replay::from_golden(&goldens::find_golden(&dir, prompt)?))
}

fn run(args: &Args, defect: Defect) -> Result<i32> {
    let file = args.positional(0, "FILE")?.to_string();
    let prompt =
        args.value(&["-p", "--prompt"]).or(args.positionals.get(1).map(String::as_str)).context("run needs -p PROMPT")?.to_string();
    let n = args.usize_value(&["-n", "--max-tokens"])?;
    let k = args.usize_value(&["--logprobs"])?;
    match defect {
        Defect::CrashRun => {
            crash("src/apr_transformer/mod_project_apr_transformer.rs:105:24", "range end index 576 out of range for slice of length 240")
        }
        Defect::Hang => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        _ => {}
    }
    let path = Path::new(&file);
    let (replay, config, reference, gguf_file, f32_apr) = match artifact::open(path)? {
        Artifact::Apr(rec) => {
            let replay = match (rec.reference_dir(), &rec.source_gguf) {
                (Some(r), _) => golden_replay(r, &prompt)?,
                (None, Some(g)) => Replay::from_generation(&oracle::run_gguf(Path::new(g), &prompt, n.unwrap_or(32), 5)?),
                (None, None) => bail!("{file}: records neither a reference nor a GGUF to run"),
            };
            (replay, rec.config.clone(), rec.reference.map(PathBuf::from), None, rec.quant == "f32")
        }
        Artifact::Gguf(g) => {
            let config = Config::from_gguf(&g, path)?;
            let reference = g.reference().map(PathBuf::from);
            let replay = if oracle::program().is_some() && oracle::gguf_capable(&config.model_type) {
                Replay::from_generation(&oracle::run_gguf(path, &prompt, n.unwrap_or(32), k.unwrap_or(5))?)
            } else if let Some(r) = &reference {
                eprintln!("fake-apr: note: replaying the f32 golden for {file} (no oracle-gen run for {} here)", config.model_type);
                golden_replay(r, &prompt)?
            } else if let Some(llama) = oracle::llamacpp() {
                Replay::from_generation(&oracle::run_gguf_llamacpp(&llama, path, &prompt, n.unwrap_or(32), k.unwrap_or(5))?)
            } else {
                oracle::require(&format!("run on {file}"))?;
                bail!("{file}: oracle-gen does not run {} GGUFs and the file records no reference", config.model_type)
            };
            (replay, config, reference, Some(g), false)
        }
    };
    let decoder = decoder_for(reference.as_deref())?;
    let vocab = Vocab {
        vocab_size: config.vocab_size as u32,
        eos_ids: config.eos_token_ids.clone(),
        bos_id: config.bos_token_id,
        decoder: decoder.as_ref(),
    };
    let budget = n.unwrap_or(replay.tokens.len().max(1));
    let replay = generation::truncate(&replay, budget, &vocab);
    let step = defect::step_from_env()?;
    // The runtime half of `export-no-bos-flag` is apr 0.72.3's own behaviour: BOS
    // prepended to a GGUF's prompt when the file does not say
    // `tokenizer.ggml.add_bos_token` (obeyed where present). The perfect fake never
    // meets such a file from its own export (the fake's gpt2 writer omits the key).
    let no_bos_flag = gguf_file.as_ref().is_some_and(|g| g.get(gguf::ADD_BOS_KEY).is_none());
    let defect = if defect == Defect::ExportNoBosFlag && no_bos_flag { Defect::Bos } else { defect };
    // The f32 defects are a wrong token on the files they are about, nothing elsewhere.
    let f32_weights = match &gguf_file {
        Some(g) => g.tensors.iter().all(|t| t.ggml_type == gguf::GGML_F32),
        None => f32_apr,
    };
    let defect = match defect {
        Defect::F32Runtime if f32_weights => Defect::WrongToken,
        Defect::F32Container if f32_apr && !artifact::is_safetensors(path) => Defect::WrongToken,
        Defect::F32Runtime | Defect::F32Container => Defect::Perfect,
        other => other,
    };
    let out = generation::apply_defect(defect, step, &replay, budget, &vocab);
    let meta = RunMeta {
        model: file.clone(),
        max_tokens: budget,
        logprobs_k: gguf_file.as_ref().and(k),
        context_length: gguf_file.as_ref().and(config.max_position_embeddings),
        digest: tmgt_schema::sha256_file(path)?,
        commit: commit(defect),
    };
    if !args.has("--json") {
        println!("{}", out.text);
        return Ok(0);
    }
    if defect == Defect::NonJson {
        println!("[fake-apr] Loading model {file} (cpu)...");
    }
    print_json(&generation::run_json(&out, &meta));
    Ok(0)
}

fn eval(args: &Args, defect: Defect) -> Result<i32> {
    let file = args.positional(0, "FILE")?.to_string();
    if defect == Defect::CrashRun {
        crash("src/apr_transformer/mod_project_apr_transformer.rs:105:24", "range end index 576 out of range for slice of length 240");
    }
    let threshold: f64 = match args.value(&["--threshold"]) {
        // apr 0.72.3 parses the threshold as f32 and refuses one that overflows to inf.
        Some(t) => match t.parse::<f32>() {
            Ok(v) if v.is_finite() && v >= 0.0 => f64::from(v),
            _ => bail!("invalid value '{t}' for '--threshold <THRESHOLD>': inf disarms the gate rather than setting it. Expected a finite tolerance >= 0"),
        },
        None => f64::INFINITY,
    };
    let (text_file, temp) = match (args.value(&["--text-file"]), args.value(&["--text"])) {
        (Some(f), _) => (PathBuf::from(f), false),
        (None, Some(text)) => {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
            let p = std::env::temp_dir().join(format!("fake-apr-eval-{}-{nanos}.txt", std::process::id()));
            std::fs::write(&p, text).with_context(|| format!("{}: cannot write the eval text", p.display()))?;
            (p, true)
        }
        (None, None) => bail!("eval needs --text TEXT (or --text-file FILE)"),
    };
    let path = Path::new(&file);
    let scored = (|| match artifact::open(path)? {
        Artifact::Apr(rec) => match (rec.reference_dir(), &rec.source_gguf) {
            (Some(r), _) => oracle::score(r, &text_file),
            (None, Some(g)) => oracle::score_gguf(Path::new(g), &text_file),
            (None, None) => bail!("{file}: records neither a reference nor a GGUF to score with"),
        },
        Artifact::Gguf(g) => match g.architecture().filter(|a| oracle::gguf_capable(a)) {
            Some(_) => oracle::score_gguf(path, &text_file),
            None => match g.reference() {
                Some(r) => oracle::score(Path::new(r), &text_file),
                None => bail!("{file}: oracle-gen does not score this GGUF's architecture and it records no reference"),
            },
        },
    })();
    if temp {
        let _ = std::fs::remove_file(&text_file);
    }
    let score = scored?;
    let high = if defect == Defect::PplHigh { 1.2 } else { 1.0 };
    let ppl = if defect == Defect::NanPpl { f64::NAN } else { score.perplexity * high };
    let ce = if defect == Defect::NanPpl { f64::NAN } else { score.mean_nll.unwrap_or_else(|| score.perplexity.ln()) + f64::ln(high) };
    // serde_json writes a non-finite f64 as null: nan-ppl prints "perplexity": null.
    let v = serde_json::json!({
        "model": file,
        "dataset": args.value(&["--dataset"]).unwrap_or("custom"),
        "perplexity": ppl,
        "cross_entropy": ce,
        "tokens_evaluated": score.token_count,
        "threshold": if threshold.is_finite() { Some(threshold) } else { None },
        "passed": ppl.is_finite() && ppl <= threshold,
    });
    print_json(&v);
    Ok(if ppl.is_finite() && ppl > threshold { 5 } else { 0 })
}

/// Fake `.apr` files in `dir` and up to two folder levels below (not hidden ones,
/// not the harness's `.tmp-` files), for `list`.
fn find_apr_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let hidden = p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if p.is_dir() {
            if depth < 2 {
                find_apr_files(&p, depth + 1, out);
            }
        } else if p.extension().is_some_and(|e| e == "apr") && AprFile::read(&p).is_ok() {
            out.push(p);
        }
    }
}

/// RFC 3339 UTC time of now (for qa's timestamp), without a date crate.
fn timestamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn structure_command(command: &str, args: &Args, defect: Defect) -> Result<Value> {
    let open = |i: usize| -> Result<View> {
        let label = args.positional(i, "FILE")?;
        View::open(Path::new(label), label)
    };
    // A raw checkpoint: its own header and data, in apr's safetensors shapes (opened as
    // an APR first, so a broken file is refused as before).
    if let ("inspect" | "validate" | "tensors" | "tree" | "hex" | "debug", Some(label)) =
        (command, args.positionals.first().filter(|p| artifact::is_safetensors(Path::new(p))))
    {
        let view = open(0)?;
        let path = Path::new(label);
        let f = st_structure::StFile::open(path, label, &view.config.model_type)?;
        return Ok(match command {
            "inspect" => st_structure::inspect(&f),
            "validate" => st_structure::validate(path, &f, defect == Defect::EmptyStages)?,
            "tensors" => st_structure::tensors(&f),
            "tree" => st_structure::tree(&f),
            "hex" => st_structure::hex(path, &f, args.usize_value(&["--limit"])?.unwrap_or(16))?,
            _ => st_structure::debug(&f),
        });
    }
    Ok(match command {
        "inspect" => structure::inspect(&open(0)?),
        "validate" => structure::validate(&open(0)?, defect == Defect::EmptyStages),
        "tensors" => structure::tensors(&open(0)?),
        "lint" => structure::lint(&open(0)?),
        "check" => structure::check(&open(0)?, defect == Defect::EmptyStages),
        "tree" => structure::tree(&open(0)?),
        "oracle" => structure::oracle(&open(0)?),
        "hex" => structure::hex(&open(0)?, args.usize_value(&["--limit"])?.unwrap_or(16)),
        "debug" => structure::debug(&open(0)?),
        "parity" => structure::parity(&open(0)?),
        "diff" => structure::diff(&open(0)?, &open(1)?),
        "rosetta" => match args.positional(0, "SUBCOMMAND")? {
            "diff-tensors" => structure::rosetta(&open(1)?, &open(2)?),
            other => bail!("rosetta {other}: this fake knows `rosetta diff-tensors A B` only"),
        },
        "bench" => {
            let v = open(0)?;
            let exe = std::env::current_exe().context("cannot locate the fake-apr binary")?;
            let info = structure::BenchInfo {
                max_tokens: args.usize_value(&["--max-tokens", "-n"])?.unwrap_or(32),
                iterations: args.usize_value(&["--iterations"])?.unwrap_or(1),
                binary_path: exe.display().to_string(),
                binary_sha256: tmgt_schema::sha256_file(&exe)?,
                model_sha256: tmgt_schema::sha256_file(Path::new(&v.label))?,
                commit: commit(defect),
            };
            structure::bench(&v, &info)
        }
        "qa" => structure::qa(&open(0)?, &|flag| args.has(flag), &timestamp()),
        "list" => {
            let mut files = Vec::new();
            find_apr_files(Path::new("."), 0, &mut files);
            let mut listed = Vec::new();
            for f in files {
                let label = f.strip_prefix(".").unwrap_or(&f).display().to_string();
                let v = View::open(&f, &label)?;
                let quant = v.apr.as_ref().map(|r| r.quant.clone()).unwrap_or_default();
                listed.push(structure::Listed {
                    name: v.name.clone(),
                    path: label,
                    size_bytes: v.size_bytes,
                    format: "APR".into(),
                    quantization: quant,
                });
            }
            structure::list(&listed)
        }
        _ => unreachable!("dispatched above"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamp_is_rfc3339() {
        let t = super::timestamp();
        assert_eq!(t.len(), 25, "{t}");
        assert!(t.starts_with("20") && t.ends_with("+00:00") && &t[10..11] == "T", "{t}");
    }

    #[test]
    fn coarse_int4_has_one_scale_per_tensor() {
        let got = super::coarse_int4(&[1.4, -0.2, 0.05, 0.33, 0.0]);
        let want = [1.4, -0.2, 0.0, 0.4, 0.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
        assert_eq!(super::coarse_int4(&[0.0, 0.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn a_coarse_reference_keeps_the_other_files_and_rounds_the_matrices() {
        let tmp = std::env::temp_dir().join(format!("fake-apr-coarse-{}", std::process::id()));
        let (src, dst) = (tmp.join("src"), tmp.join("dst"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("config.json"), "{}").unwrap();
        crate::safetensors::write_f32(
            &src.join("model.safetensors"),
            &[("w", vec![2, 2], vec![1.4, -0.2, 0.05, 0.33]), ("norm", vec![2], vec![0.05, 1.0])],
        )
        .unwrap();
        super::coarse_reference(&src, &dst).unwrap();
        assert_eq!(std::fs::read_to_string(dst.join("config.json")).unwrap(), "{}");
        let file = dst.join("model.safetensors");
        let h = crate::safetensors::read_header(&file).unwrap();
        let w = crate::safetensors::read_f32(&file, &h, "w").unwrap();
        assert!((w[2] - 0.0).abs() < 1e-6 && (w[3] - 0.4).abs() < 1e-6, "{w:?}");
        assert_eq!(crate::safetensors::read_f32(&file, &h, "norm").unwrap(), vec![0.05, 1.0], "1-D tensors kept");
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn help_lists_every_defect() {
        let h = super::help();
        for (name, _, _) in crate::defect::DEFECTS {
            assert!(h.contains(name), "{name}");
        }
    }
}
