//! `llamacpp-comparator`: llama.cpp behind the harness's JSON. Subcommands: version,
//! generate (Generation JSON), score (Score JSON, optional full log-softmax matrix),
//! tokenize (JSON ids), quantize (llama.cpp's quantizer), bench (prefill/decode tok/s). stdout holds exactly one
//! JSON value; llama.cpp's warnings and errors go to stderr. Exit 1 on any error,
//! with a one-line `llamacpp-comparator: error: …` on stderr.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use llamacpp_comparator::engine::{self, Engine};
use llamacpp_comparator::{write_file_atomic, LogprobsHeader};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "llamacpp-comparator", version, about = "llama.cpp (vendored, built from source) speaking the harness's JSON")]
struct Cli {
    /// Pass every llama.cpp log line to stderr (default: warnings and errors).
    #[arg(long, global = true)]
    verbose: bool,
    /// llama.cpp threads (default: $TMGT_LLAMACPP_THREADS, else the machine's cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// What this comparator is built from (JSON): crate versions, ggml version, a
    /// sha256 of the vendored llama.cpp sources, the numeric settings.
    Version,
    /// Greedy generation; prints Generation JSON.
    Generate {
        #[arg(long)]
        gguf: PathBuf,
        #[arg(long)]
        prompt: String,
        #[arg(long, default_value_t = 32)]
        max_new_tokens: usize,
        #[arg(long, default_value_t = 5)]
        top_k: usize,
        /// eos: stop at the GGUF's tokenizer.ggml.eos_token_id (the oracle's rule);
        /// eog: at any of llama.cpp's end-of-generation ids.
        #[arg(long, default_value = "eos")]
        stop: engine::Stop,
    },
    /// Teacher-forced perplexity of a text file; prints Score JSON.
    Score {
        #[arg(long)]
        gguf: PathBuf,
        #[arg(long)]
        text_file: PathBuf,
        /// Also write every position's full-vocabulary log-softmax here (format
        /// `tmgt-logprobs-v1`: a JSON header line, then little-endian f32 rows).
        #[arg(long)]
        logprobs_out: Option<PathBuf>,
    },
    /// llama.cpp's tokenizer on a string; prints a JSON list of ids.
    Tokenize {
        #[arg(long)]
        gguf: PathBuf,
        #[arg(long)]
        text: String,
        /// Add BOS/EOS as the vocabulary says (llama.cpp's add_special).
        #[arg(long)]
        add_special: bool,
        /// Match special-token text as the special token (llama.cpp's parse_special).
        #[arg(long)]
        parse_special: bool,
    },
    /// The KLD base file's windows (`tmgt-logprobs-v1`, written by `oracle-gen
    /// kld-base`) scored by llama.cpp, each full-vocabulary row against the base's;
    /// prints KldReport JSON.
    Kld {
        #[arg(long)]
        gguf: PathBuf,
        #[arg(long)]
        base: PathBuf,
    },
    /// The tokenizer battery (JSON lines) through llama.cpp's tokenizer, encoded as
    /// for a prompt; prints BatteryRun JSON.
    Battery {
        #[arg(long)]
        gguf: PathBuf,
        #[arg(long)]
        battery: PathBuf,
    },
    /// Prefill and greedy decode speed on a GGUF (EOS ignored), best of `rounds`;
    /// prints JSON {prompt_tokens, prefill_tps, decode_tokens, decode_tps, rounds}.
    Bench {
        #[arg(long)]
        gguf: PathBuf,
        #[arg(long, default_value = "The capital of France is")]
        prompt: String,
        #[arg(long, default_value_t = 32)]
        tokens: usize,
        #[arg(long, default_value_t = 1)]
        rounds: usize,
    },
    /// Quantize an f32/f16 GGUF with llama.cpp's own quantizer.
    Quantize {
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// q8_0, q4_0, q4_k_m (or f16)
        #[arg(long = "type")]
        kind: String,
        /// Every weight tensor of the one type (llama.cpp's `--pure`), not llama.cpp's
        /// default mixture.
        #[arg(long)]
        pure: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    engine::install_logger(cli.verbose);
    engine::set_threads(cli.threads);
    match run(cli.command) {
        Ok(value) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", serde_json::to_string(&value).expect("JSON serializes"));
        }
        Err(e) => {
            eprintln!("llamacpp-comparator: error: {e:#}");
            std::process::exit(1);
        }
    }
}

fn version_json() -> serde_json::Value {
    let (ggml_version, ggml_commit, system_info) = engine::library_info();
    let sha = env!("TMGT_LLAMA_CPP_SOURCES_SHA256");
    let short = &sha[..sha.len().min(12)];
    json!({
        "name": "llamacpp-comparator",
        "version": env!("CARGO_PKG_VERSION"),
        "llama_cpp_2": env!("TMGT_LLAMA_CPP_2_VERSION"),
        "llama_cpp_sys_2": env!("TMGT_LLAMA_CPP_SYS_2_VERSION"),
        "ggml_version": ggml_version,
        "ggml_commit": ggml_commit,
        "llama_cpp_sources_sha256": sha,
        "llama_cpp_sources_files": env!("TMGT_LLAMA_CPP_SOURCES_FILES").parse::<u64>().unwrap_or(0),
        "comparator_source_sha256": env!("TMGT_COMPARATOR_SOURCE_SHA256"),
        "summary": format!(
            "llama.cpp via llama-cpp-sys-2 {} (ggml {ggml_version}, sources sha256 {short})",
            env!("TMGT_LLAMA_CPP_SYS_2_VERSION")
        ),
        "settings": {
            "kv_cache": "f32",
            "flash_attention": false,
            "n_threads": engine::n_threads(),
            "sampling": "greedy argmax over logits, ties to the lowest id",
            "logprobs": "log-softmax in f64 over the full vocabulary",
            "stop": "the GGUF's tokenizer.ggml.eos_token_id, kept as the last token (generate --stop eog: llama.cpp's is_eog set)",
        },
        "system_info": system_info,
    })
}

fn run(command: Command) -> Result<serde_json::Value> {
    Ok(match command {
        Command::Version => version_json(),
        Command::Generate { gguf, prompt, max_new_tokens, top_k, stop } => {
            let engine = Engine::load(&gguf)?;
            let g = engine.generate(&prompt, max_new_tokens, top_k, stop).with_context(|| format!("{}: generate", gguf.display()))?;
            serde_json::to_value(g)?
        }
        Command::Score { gguf, text_file, logprobs_out } => {
            let text = std::fs::read_to_string(&text_file).with_context(|| format!("{}: cannot read", text_file.display()))?;
            let engine = Engine::load(&gguf)?;
            let ids = engine.encode(&text)?;
            let context = || format!("{}: scoring {}", gguf.display(), text_file.display());
            let score = match logprobs_out {
                None => engine.score_ids(&ids, |_, _| Ok(())).with_context(context)?,
                Some(path) => {
                    let header = LogprobsHeader::new(ids.clone(), engine.n_vocab());
                    let mut score = None;
                    write_file_atomic(&path, |w| {
                        let mut line = serde_json::to_vec(&header)?;
                        line.push(b'\n');
                        w.write_all(&line)?;
                        let mut row_bytes = Vec::with_capacity(header.n_vocab * 4);
                        score = Some(engine.score_ids(&ids, |_, row| {
                            row_bytes.clear();
                            for &v in row {
                                row_bytes.extend_from_slice(&(v as f32).to_le_bytes());
                            }
                            Ok(w.write_all(&row_bytes)?)
                        })?);
                        Ok(())
                    })
                    .with_context(context)?;
                    score.expect("scored")
                }
            };
            serde_json::to_value(score)?
        }
        Command::Tokenize { gguf, text, add_special, parse_special } => {
            let engine = Engine::load(&gguf)?;
            json!(engine.tokenize_raw(&text, add_special, parse_special))
        }
        Command::Kld { gguf, base } => {
            let engine = Engine::load(&gguf)?;
            serde_json::to_value(engine.kld(&base).with_context(|| format!("{}: KLD against {}", gguf.display(), base.display()))?)?
        }
        Command::Battery { gguf, battery } => {
            let strings = tmgt_schema::tokenize::read_battery(&battery)?;
            let engine = Engine::load(&gguf)?;
            serde_json::to_value(engine.battery(&strings))?
        }
        Command::Bench { gguf, prompt, tokens, rounds } => {
            let engine = Engine::load(&gguf)?;
            let (mut prefill, mut decode, mut n_prompt) = (0.0f64, 0.0f64, 0);
            let mut all = Vec::new();
            for _ in 0..rounds.max(1) {
                let (p, prefill_s, steps, decode_s) =
                    engine.bench(&prompt, tokens).with_context(|| format!("{}: bench", gguf.display()))?;
                n_prompt = p;
                prefill = prefill.max(p as f64 / prefill_s);
                decode = decode.max(steps as f64 / decode_s);
                all.push(json!({ "prefill_tps": p as f64 / prefill_s, "decode_tps": steps as f64 / decode_s }));
            }
            json!({ "prompt_tokens": n_prompt, "prefill_tps": prefill, "decode_tokens": tokens, "decode_tps": decode, "threads": engine::n_threads(), "rounds": all })
        }
        Command::Quantize { input, out, kind, pure } => {
            let t0 = std::time::Instant::now();
            engine::quantize(&input, &out, &kind, pure)?;
            let bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            json!({"in": input, "out": out, "type": kind.to_ascii_lowercase(), "pure": pure, "bytes": bytes, "seconds": t0.elapsed().as_secs_f64()})
        }
    })
}
