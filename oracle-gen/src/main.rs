//! oracle-gen command line: goldens, scores, fixtures and the oracle benchmark.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use oracle_gen::config::Arch;
use oracle_gen::golden::{make_golden, read_prompt, GoldenRequest};
use oracle_gen::loader::{parse_device, parse_dtype, ModelDir};
use std::path::PathBuf;
use std::time::Instant;
use tmgt_schema::{Score, Settings};

#[derive(Parser)]
#[command(name = "oracle-gen", version, about = "Reference greedy goldens and scores on candle")]
struct Cli {
    /// Worker threads for candle and rayon (default: $RAYON_NUM_THREADS, else every
    /// core). Parallel runs on one machine each take their share: candle's workers
    /// spin while they wait, so two processes using every core slow each other down.
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Precision {
    /// f32 (the reference), bf16 or f16
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// cpu, or cuda (needs the `cuda` feature)
    #[arg(long, default_value = "cpu")]
    device: String,
}

#[derive(Subcommand)]
enum Command {
    /// Write one golden JSON per prompt file into OUT_DIR/<prompt stem>.json.
    Golden {
        #[arg(long)]
        model_dir: PathBuf,
        #[arg(long)]
        slug: String,
        /// HF id or source description recorded as `model`.
        #[arg(long)]
        model_id: String,
        #[arg(long)]
        out_dir: PathBuf,
        #[command(flatten)]
        precision: Precision,
        #[arg(long, default_value_t = 32)]
        max_new_tokens: usize,
        #[arg(long, default_value_t = 5)]
        top_k: usize,
        /// Mask EOS ids so the full count is generated.
        #[arg(long)]
        ignore_eos: bool,
        #[arg(required = true)]
        prompt_files: Vec<String>,
    },
    /// Teacher-forced perplexity of a text file; prints Score JSON.
    Score {
        #[arg(long)]
        model_dir: PathBuf,
        #[arg(long)]
        text_file: PathBuf,
        #[command(flatten)]
        precision: Precision,
        /// Write the JSON here (atomically) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a deterministic tiny model (llama, qwen2, gpt2) in HF layout.
    Fixture {
        #[arg(long)]
        arch: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Import a GGUF (llama, qwen2) into an f32 HF model directory.
    ImportGguf {
        gguf: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Export an HF model directory (llama, qwen2) to GGUF: f32, f16, q8_0, q4_0.
    ExportGguf {
        model_dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "q8_0")]
        quant: String,
    },
    /// Greedy generation from a GGUF through candle's quantized models; prints Generation JSON.
    RunGguf {
        gguf: PathBuf,
        #[arg(long, conflicts_with = "prompt", required_unless_present = "prompt")]
        prompt_file: Option<PathBuf>,
        #[arg(long)]
        prompt: Option<String>,
        #[arg(long, default_value_t = 32)]
        max_new_tokens: usize,
        #[arg(long, default_value_t = 5)]
        top_k: usize,
    },
    /// Teacher-forced perplexity of a text file through a GGUF; prints Score JSON.
    ScoreGguf {
        gguf: PathBuf,
        #[arg(long)]
        text_file: PathBuf,
    },
    /// The KLD base file: the oracle's full-vocabulary log-probabilities (f16) at every
    /// scored position of TEXT_FILE, in windows of CONTEXT ids; prints its summary JSON.
    KldBase {
        #[arg(long)]
        model_dir: PathBuf,
        #[arg(long)]
        text_file: PathBuf,
        #[arg(long)]
        context: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// A GGUF through candle on the base file's windows, against its rows; prints
    /// KldReport JSON.
    KldGguf {
        gguf: PathBuf,
        #[arg(long)]
        base: PathBuf,
        /// Score only the first N windows of the base file (candle decodes one token a
        /// step: the whole text can take longer than a check may).
        #[arg(long)]
        windows: Option<usize>,
    },
    /// The tokenizer battery (JSON lines) through the checkpoint's tokenizer.json
    /// (--model-dir) or the tokenizer a GGUF's metadata makes (--gguf); prints
    /// BatteryRun JSON.
    Tokenize {
        #[arg(long, conflicts_with = "gguf", required_unless_present = "gguf")]
        model_dir: Option<PathBuf>,
        #[arg(long)]
        gguf: Option<PathBuf>,
        #[arg(long)]
        battery: PathBuf,
    },
    /// Prefill and decode throughput, and the memory-bandwidth bound.
    Bench {
        #[arg(long)]
        model_dir: PathBuf,
        #[command(flatten)]
        precision: Precision,
        #[arg(long, default_value = "The capital of France is")]
        prompt: String,
        #[arg(long, default_value_t = 32)]
        tokens: usize,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// One JSON line (BenchResult) instead of the report.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Some(n) = cli.threads.filter(|&n| n > 0) {
        // candle reads RAYON_NUM_THREADS for its own pool; set before any thread starts.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        let _ = rayon::ThreadPoolBuilder::new().num_threads(n).build_global();
    } else if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // candle asks for its thread count on every operation and, with
        // RAYON_NUM_THREADS unset, counts the physical cores in /proc/cpuinfo each
        // time (6% of a decode step): count once, after rayon's own pool has taken
        // its default (every logical core), so that both keep their sizes.
        let _ = rayon::ThreadPoolBuilder::new().build_global();
        std::env::set_var("RAYON_NUM_THREADS", candle_core::utils::get_num_threads().to_string());
    }
    if let Err(e) = run(cli) {
        eprintln!("oracle-gen: error: {}", without_backtrace(&format!("{e:#}")));
        std::process::exit(1);
    }
}

/// An error's text without the backtrace some errors (candle's) carry when
/// RUST_BACKTRACE is set: a bad input gets one line. ORACLE_GEN_BACKTRACE=1 keeps it.
fn without_backtrace(text: &str) -> String {
    if std::env::var_os("ORACLE_GEN_BACKTRACE").is_some() {
        return text.to_string();
    }
    let frame = |l: &str| {
        let t = l.trim_start();
        t.starts_with("stack backtrace:")
            || t.starts_with("at ")
            || t.split_once(": ").is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    };
    text.lines().filter(|l| !frame(l) && !l.trim().is_empty()).collect::<Vec<_>>().join("\n")
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Golden { model_dir, slug, model_id, out_dir, precision, max_new_tokens, top_k, ignore_eos, prompt_files } => {
            let dir = ModelDir::open(&model_dir)?;
            let prompts: Vec<(String, String)> =
                prompt_files.iter().map(|f| Ok((f.clone(), read_prompt(f.as_ref())?))).collect::<Result<_>>()?;
            let hashes = dir.hash_inputs()?;
            let device = parse_device(&precision.device)?;
            let mut model = dir.load_model(parse_dtype(&precision.dtype)?, &device)?;
            for (file, prompt) in &prompts {
                let settings =
                    Settings { max_new_tokens, ignore_eos, top_k, dtype: precision.dtype.clone(), device: precision.device.clone() };
                let req = GoldenRequest { slug: &slug, model_id: &model_id, prompt_file: file, prompt, settings };
                let started = Instant::now();
                let golden = make_golden(&dir, model.as_mut(), &hashes, &req)?;
                let stem = std::path::Path::new(file).file_stem().context("prompt file has no name")?;
                let out = out_dir.join(format!("{}.json", stem.to_string_lossy()));
                golden.write(&out)?;
                println!(
                    "{}: {} tokens ({:?}) in {:.2}s: {:?}",
                    out.display(),
                    golden.token_count,
                    golden.stop_reason,
                    started.elapsed().as_secs_f64(),
                    golden.text
                );
            }
        }
        Command::Score { model_dir, text_file, precision, out } => {
            let dir = ModelDir::open(&model_dir)?;
            let text = std::fs::read_to_string(&text_file).with_context(|| format!("{}: cannot read", text_file.display()))?;
            let ids = dir.encode(&text)?;
            let mut model = dir.load_model(parse_dtype(&precision.dtype)?, &parse_device(&precision.device)?)?;
            let scored = oracle_gen::generate::score(model.as_mut(), &ids).with_context(|| format!("scoring {}", text_file.display()))?;
            let score =
                Score { perplexity: scored.perplexity, token_count: Some(scored.token_logprobs.len()), mean_nll: Some(scored.mean_nll) };
            let json = serde_json::to_string_pretty(&score)? + "\n";
            match out {
                Some(path) => tmgt_schema::write_atomic(&path, json.as_bytes())?,
                None => print!("{json}"),
            }
        }
        Command::Fixture { arch, out } => {
            let fixtures = oracle_gen::fixture::FIXTURE_ARCHS;
            let arch = fixtures
                .into_iter()
                .find(|a| a.as_str() == arch)
                .with_context(|| format!("unknown arch {arch:?} ({})", fixtures.map(Arch::as_str).join(", ")))?;
            oracle_gen::fixture::write(arch, &out)?;
            println!("{}: {} fixture written", out.display(), arch.as_str());
        }
        Command::ImportGguf { gguf, out } => {
            let started = Instant::now();
            let report = oracle_gen::gguf::import_gguf(&gguf, &out)?;
            println!(
                "{}: {} tensors ({:?}) imported from {} in {:.1}s",
                out.display(),
                report.tensor_count,
                report.dtypes,
                gguf.display(),
                started.elapsed().as_secs_f64()
            );
        }
        Command::ExportGguf { model_dir, out, quant } => {
            let quant: oracle_gen::gguf::Quant = quant.parse()?;
            oracle_gen::gguf::export_gguf(&model_dir, &out, quant)?;
            println!("{}: exported ({})", out.display(), quant.name());
        }
        Command::RunGguf { gguf, prompt_file, prompt, max_new_tokens, top_k } => {
            let prompt = match (prompt, prompt_file) {
                (Some(p), _) => p,
                (None, Some(f)) => read_prompt(&f)?,
                (None, None) => anyhow::bail!("give --prompt or --prompt-file"),
            };
            let generation = oracle_gen::gguf::run_gguf(&gguf, &prompt, max_new_tokens, top_k)?;
            println!("{}", serde_json::to_string(&generation)?);
        }
        Command::ScoreGguf { gguf, text_file } => {
            let text = std::fs::read_to_string(&text_file).with_context(|| format!("{}: cannot read", text_file.display()))?;
            let score = oracle_gen::gguf::score_gguf(&gguf, &text)?;
            println!("{}", serde_json::to_string(&score)?);
        }
        Command::KldBase { model_dir, text_file, context, out } => {
            let dir = ModelDir::open(&model_dir)?;
            let text = std::fs::read_to_string(&text_file).with_context(|| format!("{}: cannot read", text_file.display()))?;
            let windows = oracle_gen::kld::windows_for(&dir.tokenizer, &text, context)?;
            let mut model = dir.load_model(parse_dtype("f32")?, &parse_device("cpu")?)?;
            let n_vocab = dir.config.vocab_size();
            let started = Instant::now();
            oracle_gen::kld::write_base(model.as_mut(), &windows, n_vocab, tmgt_schema::logprobs::Dtype::F16, &out)?;
            let summary = serde_json::json!({
                "windows": windows.windows.len(), "context": context, "positions": windows.n_positions(),
                "n_vocab": n_vocab, "seconds": started.elapsed().as_secs_f64(),
            });
            println!("{summary}");
        }
        Command::KldGguf { gguf, base, windows } => {
            let mut model = oracle_gen::gguf::load_gguf_model(&gguf)?;
            let report = oracle_gen::kld::score_against_base(&mut model, &base, windows)
                .with_context(|| format!("{}: KLD scoring", gguf.display()))?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::Tokenize { model_dir, gguf, battery } => {
            let strings = tmgt_schema::tokenize::read_battery(&battery)?;
            let run = match (model_dir, gguf) {
                (Some(dir), _) => {
                    let dir = ModelDir::open(&dir)?;
                    oracle_gen::kld::battery(&dir.tokenizer, &strings, "tokenizers on the checkpoint's tokenizer.json")
                }
                (None, Some(gguf)) => {
                    let file = oracle_gen::gguf::open_gguf(&gguf)?;
                    let tokenizer = oracle_gen::gguf::tokenizer_from_gguf(&file.content, &gguf)?;
                    oracle_gen::kld::battery(&tokenizer, &strings, "candle (tokenizers on the GGUF's metadata)")
                }
                (None, None) => anyhow::bail!("give --model-dir or --gguf"),
            };
            println!("{}", serde_json::to_string(&run)?);
        }
        Command::Bench { model_dir, precision, prompt, tokens, repeat, json } => {
            oracle_gen::bench::run(&model_dir, &precision.dtype, &precision.device, &prompt, tokens, repeat, json)?;
        }
    }
    Ok(())
}
