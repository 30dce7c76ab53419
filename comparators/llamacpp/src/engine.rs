//! The llama.cpp side: load a GGUF, encode as the oracle does, greedy-decode, score,
//! quantize. llama.cpp's log goes to stderr at warning level and above (everything
//! with `verbose`); its last error line is kept to name the cause when a call fails.

use crate::{argmax, log_softmax, top_k};
use anyhow::{bail, ensure, Context, Result};
use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use std::ffi::{c_char, c_void, CStr, CString};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use tmgt_schema::{Generation, Score};

static VERBOSE: AtomicBool = AtomicBool::new(false);
static THREADS: AtomicI32 = AtomicI32::new(0);
static LAST_LEVEL: AtomicI32 = AtomicI32::new(0);
static LAST_ERROR: Mutex<String> = Mutex::new(String::new());

unsafe extern "C" fn log_callback(level: llama_cpp_sys_2::ggml_log_level, text: *const c_char, _user: *mut c_void) {
    if text.is_null() {
        return;
    }
    // SAFETY: llama.cpp passes a NUL-terminated string valid for this call.
    let text = unsafe { CStr::from_ptr(text) }.to_string_lossy();
    let level = if level == llama_cpp_sys_2::GGML_LOG_LEVEL_CONT {
        LAST_LEVEL.load(Ordering::Relaxed) as llama_cpp_sys_2::ggml_log_level
    } else {
        LAST_LEVEL.store(level as i32, Ordering::Relaxed);
        level
    };
    if level >= llama_cpp_sys_2::GGML_LOG_LEVEL_WARN || VERBOSE.load(Ordering::Relaxed) {
        eprint!("{text}");
    }
    if level == llama_cpp_sys_2::GGML_LOG_LEVEL_ERROR {
        if let Ok(mut last) = LAST_ERROR.lock() {
            let line = text.trim();
            if !line.is_empty() {
                *last = line.to_string();
            }
        }
    }
}

/// llama.cpp's last error log line, for error messages (empty when it logged none).
pub fn last_llama_error() -> String {
    LAST_ERROR.lock().map(|s| s.clone()).unwrap_or_default()
}

fn with_cause(what: String) -> String {
    match last_llama_error() {
        e if e.is_empty() => what,
        e => format!("{what}: llama.cpp: {e}"),
    }
}

/// Routes llama.cpp's log through [`log_callback`].
pub fn install_logger(verbose: bool) {
    VERBOSE.store(verbose, Ordering::Relaxed);
    // SAFETY: the callback is a plain function that lives for the whole program.
    unsafe { llama_cpp_sys_2::llama_log_set(Some(log_callback), std::ptr::null_mut()) };
}

fn c_str(p: *const c_char) -> String {
    if p.is_null() {
        return "unknown".into();
    }
    // SAFETY: llama.cpp/ggml return static NUL-terminated strings.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// ggml's version (`ggml_version()`), ggml's build commit (`ggml_commit()`: "unknown"
/// for the vendored tree, which has no git data) and llama.cpp's system info.
pub fn library_info() -> (String, String, String) {
    // SAFETY: these return pointers to static strings.
    unsafe {
        (
            c_str(llama_cpp_sys_2::ggml_version()),
            c_str(llama_cpp_sys_2::ggml_commit()),
            c_str(llama_cpp_sys_2::llama_print_system_info()).trim().to_string(),
        )
    }
}

/// Threads for llama.cpp: `set_threads`' value, else $TMGT_LLAMACPP_THREADS, else the
/// machine's available cores. (ggml's workers spin while they wait: on a machine busy
/// with other work, fewer threads than cores can decode several times faster.)
pub fn n_threads() -> i32 {
    match THREADS.load(Ordering::Relaxed) {
        n if n > 0 => n,
        _ => std::env::var("TMGT_LLAMACPP_THREADS")
            .ok()
            .and_then(|v| v.parse::<i32>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get() as i32).unwrap_or(1)),
    }
}

pub fn set_threads(n: Option<usize>) {
    THREADS.store(n.unwrap_or(0) as i32, Ordering::Relaxed);
}

pub struct Engine {
    // Field order matters: the model is freed before the backend.
    pub model: LlamaModel,
    pub backend: LlamaBackend,
    pub path: PathBuf,
    pub add_bos: bool,
    pub add_eos: bool,
    /// `tokenizer.ggml.eos_token_id`, when the GGUF declares one.
    pub eos_id: Option<u32>,
}

/// When greedy generation stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// At the GGUF's declared `tokenizer.ggml.eos_token_id`: the oracle's rule (its
    /// GGUF import and its exporter carry exactly that one id).
    Eos,
    /// At any of llama.cpp's end-of-generation ids (`is_eog`): the declared EOS/EOT/EOM
    /// plus every token whose text llama.cpp recognizes (`<|endoftext|>`, `<|im_end|>`, …).
    Eog,
}

impl std::str::FromStr for Stop {
    type Err = String;
    fn from_str(s: &str) -> Result<Stop, String> {
        match s {
            "eos" => Ok(Stop::Eos),
            "eog" => Ok(Stop::Eog),
            other => Err(format!("unknown stop rule {other:?} (eos, eog)")),
        }
    }
}

impl Engine {
    pub fn load(path: &Path) -> Result<Engine> {
        if !path.is_file() {
            bail!("{}: no such GGUF file", path.display());
        }
        let backend = LlamaBackend::init().context("llama.cpp backend init")?;
        let model = LlamaModel::load_from_file(&backend, path, &LlamaModelParams::default())
            .map_err(|e| anyhow::anyhow!(with_cause(format!("{}: llama.cpp cannot load it ({e})", path.display()))))?;
        let meta_bool = |key: &str| -> Result<Option<bool>> {
            match model.meta_val_str(key) {
                Ok(v) if v == "true" => Ok(Some(true)),
                Ok(v) if v == "false" => Ok(Some(false)),
                Ok(v) => bail!("{}: {key} = {v:?} is not a boolean", path.display()),
                Err(_) => Ok(None),
            }
        };
        // The oracle's tokenizer (oracle-gen/src/gguf/tokenizer.rs) reads an absent key as false.
        let add_bos = meta_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(false);
        let add_eos = meta_bool("tokenizer.ggml.add_eos_token")?.unwrap_or(false);
        let eos_id = match model.meta_val_str("tokenizer.ggml.eos_token_id") {
            Ok(v) => Some(
                v.parse::<u32>()
                    .map_err(|_| anyhow::anyhow!("{}: tokenizer.ggml.eos_token_id = {v:?} is not a token id", path.display()))?,
            ),
            Err(_) => None,
        };
        Ok(Engine { model, backend, path: path.to_path_buf(), add_bos, add_eos, eos_id })
    }

    pub fn n_vocab(&self) -> usize {
        self.model.n_vocab() as usize
    }

    /// llama.cpp's own tokenizer, flags passed through.
    pub fn tokenize_raw(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        self.model.vocab().tokenize(text.as_bytes(), add_special, parse_special).into_iter().map(|t| t.0 as u32).collect()
    }

    /// The oracle's encoding: text ids (special-token text parsed as the token, as HF
    /// does), BOS first iff `tokenizer.ggml.add_bos_token`, EOS last iff `add_eos_token`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = self.tokenize_raw(text, false, true);
        let vocab = self.model.vocab();
        if self.add_bos {
            let bos = vocab.bos().0;
            ensure!(bos >= 0, "{}: add_bos_token is true but the GGUF names no BOS token", self.path.display());
            ids.insert(0, bos as u32);
        }
        if self.add_eos {
            let eos = vocab.eos().0;
            ensure!(eos >= 0, "{}: add_eos_token is true but the GGUF names no EOS token", self.path.display());
            ids.push(eos as u32);
        }
        Ok(ids)
    }

    /// The text of `ids`, control tokens skipped (HF's `skip_special_tokens`); bytes
    /// that are not UTF-8 become U+FFFD, as HF's byte-level decoder does.
    pub fn decode(&self, ids: &[u32]) -> String {
        let vocab = self.model.vocab();
        let mut bytes = Vec::new();
        for &id in ids {
            vocab.token_to_piece_into(LlamaToken(id as i32), &mut bytes, false, None);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn context(&self, n_ctx: usize, n_batch: usize) -> Result<LlamaContext<'_>> {
        let threads = n_threads();
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx.max(8) as u32))
            .with_n_batch(n_batch.max(1) as u32)
            .with_n_ubatch(n_batch.max(1) as u32)
            .with_n_seq_max(1)
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
            .with_type_k(KvCacheType::F32)
            .with_type_v(KvCacheType::F32)
            .with_flash_attention_policy(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED);
        self.model
            .new_context(&self.backend, params)
            .map_err(|e| anyhow::anyhow!(with_cause(format!("{}: llama.cpp cannot make a context of {n_ctx} ({e})", self.path.display()))))
    }

    /// Greedy generation of up to `max_new` tokens after `prompt`.
    pub fn generate(&self, prompt: &str, max_new: usize, k: usize, stop: Stop) -> Result<Generation> {
        let prompt_ids = self.encode(prompt)?;
        ensure!(!prompt_ids.is_empty(), "empty prompt: nothing to condition on");
        let n_vocab = self.n_vocab();
        let mut ctx = self.context(prompt_ids.len() + max_new + 1, prompt_ids.len())?;
        let mut batch = LlamaBatch::new(prompt_ids.len(), 1);
        let last = prompt_ids.len() - 1;
        for (i, &id) in prompt_ids.iter().enumerate() {
            batch.add(LlamaToken(id as i32), i as i32, &[0], i == last)?;
        }
        ctx.decode(&mut batch).map_err(|e| anyhow::anyhow!(with_cause(format!("prefill of {} tokens: {e}", prompt_ids.len()))))?;
        let mut logits = ctx.get_logits_ith(last as i32).to_vec();
        ensure!(logits.len() == n_vocab, "llama.cpp returned {} logits for a vocabulary of {n_vocab}", logits.len());

        let vocab = self.model.vocab();
        let (mut tokens, mut top) = (Vec::with_capacity(max_new), Vec::with_capacity(max_new));
        let mut finish = "length";
        let (mut decode_s, mut decode_steps) = (0.0f64, 0usize);
        for step in 0..max_new {
            let next = argmax(&logits);
            top.push(top_k(&log_softmax(&logits), k));
            tokens.push(next);
            let stops = match (stop, self.eos_id) {
                (Stop::Eos, Some(eos)) => next == eos,
                // No declared EOS: llama.cpp's own set is all there is.
                (Stop::Eos, None) | (Stop::Eog, _) => vocab.is_eog(LlamaToken(next as i32)),
            };
            if stops {
                finish = "eos";
                break;
            }
            if step + 1 == max_new {
                break;
            }
            batch.clear();
            batch.add(LlamaToken(next as i32), (prompt_ids.len() + step) as i32, &[0], true)?;
            let t0 = Instant::now();
            ctx.decode(&mut batch).map_err(|e| anyhow::anyhow!(with_cause(format!("decode step {step}: {e}"))))?;
            logits.copy_from_slice(ctx.get_logits_ith(0));
            decode_s += t0.elapsed().as_secs_f64();
            decode_steps += 1;
        }
        Ok(Generation {
            text: self.decode(&tokens),
            tokens: Some(tokens),
            prompt_tokens: Some(prompt_ids),
            prompt_token_count: None,
            top_logprobs: Some(top),
            finish_reason: Some(finish.into()),
            tokens_per_second: (decode_steps > 0 && decode_s > 0.0).then(|| decode_steps as f64 / decode_s),
        })
    }

    /// One benchmark round: the prompt's prefill, then `tokens` greedy decode steps
    /// (EOS ignored), each timed on its own. Returns (prompt ids, prefill seconds,
    /// decode steps, decode seconds).
    pub fn bench(&self, prompt: &str, tokens: usize) -> Result<(usize, f64, usize, f64)> {
        let prompt_ids = self.encode(prompt)?;
        ensure!(!prompt_ids.is_empty() && tokens > 0, "a benchmark needs a prompt and at least one token");
        let mut ctx = self.context(prompt_ids.len() + tokens + 1, prompt_ids.len())?;
        let mut batch = LlamaBatch::new(prompt_ids.len(), 1);
        let last = prompt_ids.len() - 1;
        for (i, &id) in prompt_ids.iter().enumerate() {
            batch.add(LlamaToken(id as i32), i as i32, &[0], i == last)?;
        }
        let t0 = Instant::now();
        ctx.decode(&mut batch).map_err(|e| anyhow::anyhow!(with_cause(format!("prefill of {} tokens: {e}", prompt_ids.len()))))?;
        let mut logits = ctx.get_logits_ith(last as i32).to_vec();
        let prefill_s = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        for step in 0..tokens {
            let next = argmax(&logits);
            batch.clear();
            batch.add(LlamaToken(next as i32), (prompt_ids.len() + step) as i32, &[0], true)?;
            ctx.decode(&mut batch).map_err(|e| anyhow::anyhow!(with_cause(format!("decode step {step}: {e}"))))?;
            logits.copy_from_slice(ctx.get_logits_ith(0));
        }
        Ok((prompt_ids.len(), prefill_s, tokens, t1.elapsed().as_secs_f64()))
    }

    /// Teacher-forced scoring of `ids[1..]` from their prefixes; `on_row(i, logprobs)`
    /// sees each position's full-vocabulary log-softmax.
    pub fn score_ids(&self, ids: &[u32], mut on_row: impl FnMut(usize, &[f64]) -> Result<()>) -> Result<Score> {
        ensure!(ids.len() >= 2, "scoring needs at least 2 tokens, got {}", ids.len());
        let n = ids.len() - 1;
        let mut ctx = self.context(ids.len(), n)?;
        let mut batch = LlamaBatch::new(n, 1);
        for (i, &id) in ids[..n].iter().enumerate() {
            batch.add(LlamaToken(id as i32), i as i32, &[0], true)?;
        }
        ctx.decode(&mut batch).map_err(|e| anyhow::anyhow!(with_cause(format!("scoring {n} positions: {e}"))))?;
        let mut nll = 0.0f64;
        for i in 0..n {
            let lp = log_softmax(ctx.get_logits_ith(i as i32));
            let target = ids[i + 1] as usize;
            ensure!(target < lp.len(), "token id {target} is outside the vocabulary of {}", lp.len());
            nll -= lp[target];
            on_row(i, &lp)?;
        }
        let mean_nll = nll / n as f64;
        Ok(Score { perplexity: mean_nll.exp(), token_count: Some(n), mean_nll: Some(mean_nll) })
    }
}

impl Engine {
    /// Every window of the base file scored from a fresh context, each row from the
    /// base's first scored position on compared with the base's row.
    pub fn kld(&self, base: &Path) -> Result<tmgt_schema::kld::KldReport> {
        use tmgt_schema::kld::{compare_row, summarize};
        let mut reader = tmgt_schema::logprobs::LogprobsReader::open(base)?;
        let layout = reader.header.windows.clone().context("the base file has no windows")?;
        let targets = reader.header.targets();
        let ids = reader.header.token_ids.clone();
        let mut windows = Vec::with_capacity(layout.lengths.len());
        let mut start = 0;
        for &len in &layout.lengths {
            windows.push(ids[start..start + len].to_vec());
            start += len;
        }
        let ids_sha = tmgt_schema::sha256_bytes(&serde_json::to_vec(&windows)?);
        let mut stats = Vec::with_capacity(targets.len());
        let mut reference = Vec::new();
        for (w, window) in windows.iter().enumerate() {
            self.score_ids(window, |i, row| {
                if i < layout.first_scored {
                    return Ok(());
                }
                ensure!(reader.next_row(&mut reference)?, "{}: fewer rows than the windows give", base.display());
                ensure!(row.len() == reference.len(), "llama.cpp's vocabulary has {} ids, the oracle's {}", row.len(), reference.len());
                let row: Vec<f32> = row.iter().map(|&v| v as f32).collect();
                stats.push(compare_row(&reference, &row, targets[stats.len()] as usize));
                Ok(())
            })
            .with_context(|| format!("window {w}"))?;
        }
        Ok(summarize(&stats, &ids_sha))
    }

    /// The battery as llama.cpp encodes a prompt (`encode`), its pieces, and the text
    /// decoded back with special tokens kept.
    pub fn battery(&self, strings: &[tmgt_schema::tokenize::BatteryString]) -> tmgt_schema::tokenize::BatteryRun {
        use tmgt_schema::tokenize::Encoded;
        let vocab = self.model.vocab();
        let results = strings
            .iter()
            .map(|s| match self.encode(&s.text) {
                Ok(ids) => {
                    let piece = |id: u32| {
                        let mut bytes = Vec::new();
                        vocab.token_to_piece_into(LlamaToken(id as i32), &mut bytes, true, None);
                        String::from_utf8_lossy(&bytes).into_owned()
                    };
                    let pieces = ids.iter().map(|&id| piece(id)).collect();
                    let mut bytes = Vec::new();
                    for &id in &ids {
                        vocab.token_to_piece_into(LlamaToken(id as i32), &mut bytes, true, None);
                    }
                    let decoded = String::from_utf8(bytes).ok();
                    Encoded { ids, pieces: Some(pieces), decoded, roundtrip: None, error: None }
                }
                Err(e) => Encoded { error: Some(format!("{e:#}")), ..Default::default() },
            })
            .collect();
        tmgt_schema::tokenize::BatteryRun { tokenizer: "llama.cpp".into(), roundtrip_promised: false, results }
    }
}

/// The quantization types `quantize` offers, as llama.cpp's `llama_ftype`.
pub fn ftype(name: &str) -> Result<llama_cpp_sys_2::llama_ftype> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "q8_0" => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q8_0,
        "q4_0" => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q4_0,
        "q4_k_m" => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q4_K_M,
        "f16" => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_F16,
        other => bail!("unknown quantization type {other:?} (q8_0, q4_0, q4_k_m, f16)"),
    })
}

/// llama.cpp's own quantizer (`llama_model_quantize`), written through a temp name
/// beside `output` and renamed into place. `pure`: every weight tensor of the one
/// type (llama.cpp's `--pure`); without it llama.cpp's default mixture keeps some
/// tensors wider (the tied embedding of a Q4_0 file at Q8_0 or Q6_K).
pub fn quantize(input: &Path, output: &Path, type_name: &str, pure: bool) -> Result<()> {
    let ftype = ftype(type_name)?;
    if !input.is_file() {
        bail!("{}: no such GGUF file", input.display());
    }
    let backend = LlamaBackend::init().context("llama.cpp backend init")?;
    let tmp = crate::temp_sibling(output);
    if let Some(dir) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create folder", dir.display()))?;
    }
    let c_in = CString::new(input.to_string_lossy().as_bytes())?;
    let c_out = CString::new(tmp.to_string_lossy().as_bytes())?;
    // SAFETY: default params from llama.cpp; the C strings outlive the call.
    let rc = unsafe {
        let mut params = llama_cpp_sys_2::llama_model_quantize_default_params();
        params.ftype = ftype;
        params.nthread = n_threads();
        params.pure_ = pure;
        llama_cpp_sys_2::llama_model_quantize(c_in.as_ptr(), c_out.as_ptr(), &params)
    };
    drop(backend);
    if rc != 0 {
        let _ = std::fs::remove_file(&tmp);
        bail!(with_cause(format!("llama_model_quantize {} → {} ({type_name}) returned {rc}", input.display(), output.display())));
    }
    std::fs::rename(&tmp, output).with_context(|| format!("cannot rename {} to {}", tmp.display(), output.display()))
}
