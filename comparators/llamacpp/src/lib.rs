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
//! `token_ids[i + 1]` from `token_ids[..=i]`. [`read_logprobs`] reads it back (both from
//! `tmgt_schema::logprobs`).

pub mod engine;

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

// The `--logprobs-out` format and the atomic write are the harness's own (tmgt-schema),
// not a copy: the oracle's KLD base files use the same reader.
pub use tmgt_schema::logprobs::{read_logprobs, write_logprobs, LogprobsHeader, LOGPROBS_FORMAT};
pub use tmgt_schema::{temp_sibling, write_file_atomic};

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
        let header = LogprobsHeader::new(vec![1, 0, 1], 2); // ids within the vocabulary of 2: the shared reader checks them
        let rows = vec![vec![-0.1f32, -2.3], vec![-1.5, -0.25]];
        write_file_atomic(&path, |w| write_logprobs(w, &header, &rows)).unwrap();
        let (h, data) = read_logprobs(&path).unwrap();
        assert_eq!(h, header);
        assert_eq!(data, vec![-0.1, -2.3, -1.5, -0.25]);
        assert!(write_logprobs(&mut Vec::new(), &header, &rows[..1]).is_err(), "row count must match");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
