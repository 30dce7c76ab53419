//! llama.cpp as a comparator for the harness: greedy generation, teacher-forced
//! scoring, tokenization and llama.cpp's own quantizer, over the llama.cpp sources
//! that `llama-cpp-sys-2` vendors (built from source, pinned in Cargo.lock). Results
//! are the harness's own types (`tmgt_schema::Generation`, `Score`), so nothing is
//! scraped from text.
//!
//! Conventions, all matching `oracle-gen` (the reference):
//! - encoding: the text's ids with BOS prepended iff the GGUF's
//!   `tokenizer.ggml.add_bos_token` is true (EOS appended iff `add_eos_token`);
//!   special-token text is parsed as the special token, as HF tokenizers do;
//! - generation: greedy argmax over the raw logits, ties to the lowest id; stops at
//!   the GGUF's `tokenizer.ggml.eos_token_id` (kept as the last token,
//!   `finish_reason` "eos"; `--stop eog` for llama.cpp's wider end-of-generation set,
//!   which also holds e.g. `<|endoftext|>` where EOS is `<|im_end|>`) or after
//!   `max_new_tokens` ("length"); per-step top-k of the full-vocabulary log-softmax,
//!   computed here in f64 from llama.cpp's f32 logits;
//! - scoring: ids[1..] predicted from their prefixes; perplexity = exp(mean NLL);
//! - numerics: f32 KV cache, flash attention off, one sequence, one batch for the
//!   prompt, n_threads = the machine's cores.
//!
//! ## The `--logprobs-out` file (format `tmgt-logprobs-v1`)
//!
//! One line of JSON, then a little-endian f32 matrix:
//!
//! ```text
//! {"format":"tmgt-logprobs-v1","n_positions":P,"n_vocab":V,"token_ids":[t0,…,tP],…}\n
//! P × V f32 (little-endian), row-major
//! ```
//!
//! `token_ids` holds the P + 1 scored ids (BOS included when the GGUF adds one). Row
//! `i` is the full-vocabulary log-softmax of the distribution that predicts
//! `token_ids[i + 1]` from `token_ids[..=i]`. [`read_logprobs`] reads it back.

pub mod engine;

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::Path;
use tmgt_schema::TokenLogprob;

/// Full-vocabulary log-softmax: max, sum of exps and the log-normalizer in f64.
pub fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    let log_z = max + sum.ln();
    logits.iter().map(|&l| l as f64 - log_z).collect()
}

/// Index of the greatest value; the lowest index wins ties (the oracle's argmax).
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u32
}

/// The k best (id, logprob), best first; ties broken by the lower id.
pub fn top_k(logprobs: &[f64], k: usize) -> Vec<TokenLogprob> {
    let mut idx: Vec<u32> = (0..logprobs.len() as u32).collect();
    let k = k.min(idx.len());
    let cmp = |a: &u32, b: &u32| logprobs[*b as usize].total_cmp(&logprobs[*a as usize]).then(a.cmp(b));
    if k > 0 && k < idx.len() {
        idx.select_nth_unstable_by(k - 1, cmp);
    }
    idx.truncate(k);
    idx.sort_by(cmp);
    idx.into_iter().map(|id| TokenLogprob { id, logprob: logprobs[id as usize] as f32 }).collect()
}

pub const LOGPROBS_FORMAT: &str = "tmgt-logprobs-v1";

/// The header line of a `--logprobs-out` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogprobsHeader {
    pub format: String,
    pub n_positions: usize,
    pub n_vocab: usize,
    /// The n_positions + 1 scored ids; row i predicts token_ids[i + 1].
    pub token_ids: Vec<u32>,
    pub dtype: String,
    pub layout: String,
}

impl LogprobsHeader {
    pub fn new(token_ids: Vec<u32>, n_vocab: usize) -> LogprobsHeader {
        LogprobsHeader {
            format: LOGPROBS_FORMAT.into(),
            n_positions: token_ids.len().saturating_sub(1),
            n_vocab,
            token_ids,
            dtype: "f32-le".into(),
            layout: "row i = log-softmax over the vocabulary predicting token_ids[i+1] from token_ids[..=i]".into(),
        }
    }
}

/// Writes the header line and the rows (each `n_vocab` long) to `w`.
pub fn write_logprobs(w: &mut impl Write, header: &LogprobsHeader, rows: &[Vec<f32>]) -> Result<()> {
    ensure!(rows.len() == header.n_positions, "{} rows for {} positions", rows.len(), header.n_positions);
    let mut line = serde_json::to_vec(header)?;
    line.push(b'\n');
    w.write_all(&line)?;
    for row in rows {
        ensure!(row.len() == header.n_vocab, "row of {} values for a vocabulary of {}", row.len(), header.n_vocab);
        let mut bytes = Vec::with_capacity(row.len() * 4);
        for v in row {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        w.write_all(&bytes)?;
    }
    Ok(())
}

/// Reads a `--logprobs-out` file: its header and the P × V matrix, row-major.
pub fn read_logprobs(path: &Path) -> Result<(LogprobsHeader, Vec<f32>)> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let nl = bytes.iter().position(|&b| b == b'\n').with_context(|| format!("{}: no header line", path.display()))?;
    let header: LogprobsHeader =
        serde_json::from_slice(&bytes[..nl]).with_context(|| format!("{}: header is not the JSON expected", path.display()))?;
    if header.format != LOGPROBS_FORMAT {
        bail!("{}: format {:?}, expected {LOGPROBS_FORMAT:?}", path.display(), header.format);
    }
    let body = &bytes[nl + 1..];
    let expected = header.n_positions * header.n_vocab * 4;
    if body.len() != expected {
        bail!("{}: {} bytes of data, expected {expected} ({} × {} f32)", path.display(), body.len(), header.n_positions, header.n_vocab);
    }
    let data = body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok((header, data))
}

/// Writes through `<dir>/.<name>.<pid>.tmp`, fsyncs, renames onto `path`.
pub fn write_file_atomic(path: &Path, fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<()>) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create folder", dir.display()))?;
    let tmp = temp_sibling(path);
    let result = (|| -> Result<()> {
        let file = std::fs::File::create(&tmp).with_context(|| format!("{}: cannot create", tmp.display()))?;
        let mut w = std::io::BufWriter::new(file);
        fill(&mut w).with_context(|| format!("{}: write failed", tmp.display()))?;
        w.flush().with_context(|| format!("{}: write failed", tmp.display()))?;
        let file = w.into_inner().map_err(|e| anyhow::anyhow!("{}: write failed: {e}", tmp.display()))?;
        file.sync_all().with_context(|| format!("{}: fsync failed", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `<dir>/.<name>.<pid>.tmp`, the temp name an atomic write goes through.
pub fn temp_sibling(path: &Path) -> std::path::PathBuf {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dir.join(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_softmax_normalizes_in_f64() {
        let lp = log_softmax(&[1.0, 2.0, 3.0]);
        let total: f64 = lp.iter().map(|l| l.exp()).sum();
        assert!((total - 1.0).abs() < 1e-12);
        assert!((lp[2] - lp[1] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ties_go_to_the_lowest_id() {
        assert_eq!(argmax(&[0.0, 2.0, 2.0, 1.0]), 1);
        let t = top_k(&[-1.0, -0.5, -0.5, -3.0], 3);
        assert_eq!(t.iter().map(|t| t.id).collect::<Vec<_>>(), vec![1, 2, 0]);
        assert_eq!(top_k(&[-1.0], 5).len(), 1);
    }

    #[test]
    fn logprobs_file_round_trips() {
        let dir = std::env::temp_dir().join(format!("lpc-test-{}", std::process::id()));
        let path = dir.join("lp.bin");
        let header = LogprobsHeader::new(vec![5, 6, 7], 2);
        let rows = vec![vec![-0.1f32, -2.3], vec![-1.5, -0.25]];
        write_file_atomic(&path, |w| write_logprobs(w, &header, &rows)).unwrap();
        let (h, data) = read_logprobs(&path).unwrap();
        assert_eq!(h, header);
        assert_eq!(data, vec![-0.1, -2.3, -1.5, -0.25]);
        assert!(write_logprobs(&mut Vec::new(), &header, &rows[..1]).is_err(), "row count must match");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
