//! The oracle benchmark: prefill and decode tokens/s on a model directory, and the
//! bound that memory bandwidth sets on decode (weight bytes read per token over
//! the measured read bandwidth). Prints numbers; asserts nothing.

use crate::generate::{greedy, GreedySettings};
use crate::loader::{parse_device, parse_dtype, ModelDir};
use anyhow::Result;
use rayon::prelude::*;
use std::path::Path;
use std::time::Instant;

/// Read bandwidth in bytes/s: all threads summing a buffer far larger than cache.
pub fn read_bandwidth() -> f64 {
    let n = 64 << 20; // 256 MiB of f32
    let data = vec![1.0f32; n];
    let mut best = 0.0f64;
    for _ in 0..5 {
        let started = Instant::now();
        // Many independent accumulators so the sum is bound by memory, not add latency.
        let sum: f32 = data
            .par_chunks(1 << 16)
            .map(|c| {
                let ones = [1f32; 1 << 16];
                crate::models::dot(c, &ones[..c.len()])
            })
            .sum();
        let secs = started.elapsed().as_secs_f64();
        std::hint::black_box(sum);
        best = best.max((n * 4) as f64 / secs);
    }
    best
}

pub fn run(model_dir: &Path, dtype: &str, device: &str, prompt: &str, tokens: usize, repeat: usize) -> Result<()> {
    let dir = ModelDir::open(model_dir)?;
    let started = Instant::now();
    let weights_bytes: u64 = dir.weight_files.iter().map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).sum();
    let mut model = dir.load_model(parse_dtype(dtype)?, &parse_device(device)?)?;
    println!(
        "model: {} ({:.1} MB of weights on disk), loaded in {:.2}s",
        model_dir.display(),
        weights_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let ids = dir.encode(prompt)?;
    let settings = GreedySettings { max_new_tokens: tokens, eos_ids: vec![], ignore_eos: true, top_k: 5 };
    let (mut best_prefill, mut best_decode) = (0.0f64, 0.0f64);
    for round in 0..repeat {
        model.clear_cache();
        let t0 = Instant::now();
        model.forward(&ids, 0, false)?;
        let prefill = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let out = greedy(model.as_mut(), &ids, &settings)?;
        let total = t1.elapsed().as_secs_f64();
        // greedy re-runs the prefill; decode time is the rest.
        let decode = (total - prefill).max(1e-9);
        let decode_tps = (out.tokens.len() - 1) as f64 / decode;
        let prefill_tps = ids.len() as f64 / prefill;
        println!(
            "round {round}: prefill {} tokens {:.1} tok/s, decode {} tokens {:.1} tok/s",
            ids.len(),
            prefill_tps,
            out.tokens.len() - 1,
            decode_tps
        );
        best_prefill = best_prefill.max(prefill_tps);
        best_decode = best_decode.max(decode_tps);
    }
    let bw = read_bandwidth();
    let bytes_per_token = weights_bytes as f64 * if dtype == "f32" { 1.0 } else { 0.5 };
    println!("best: prefill {best_prefill:.1} tok/s, decode {best_decode:.1} tok/s");
    println!(
        "memory read bandwidth {:.1} GB/s ({} threads); weights read per token {:.2} GB; decode bound {:.1} tok/s; decode at {:.0}% of bound",
        bw / 1e9,
        rayon::current_num_threads(),
        bytes_per_token / 1e9,
        bw / bytes_per_token,
        100.0 * best_decode / (bw / bytes_per_token)
    );
    Ok(())
}
