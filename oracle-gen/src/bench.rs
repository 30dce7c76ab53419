//! The oracle benchmark: prefill and decode tokens/s on a model directory, and the
//! bound that memory bandwidth sets on decode (weight bytes read per token over
//! the measured read bandwidth). Prints numbers (or one JSON line); asserts nothing.

use crate::generate::{greedy, GreedySettings};
use crate::loader::{parse_device, parse_dtype, ModelDir};
use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// One read-bandwidth probe: what it does and the best rate it saw.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub method: String,
    pub bytes_per_s: f64,
}

/// Read bandwidth in bytes/s by several methods over a 256 MiB buffer (far larger
/// than any cache), best of 5 passes each: every method only reads, so the fastest is
/// the closest to what the memory can deliver. Methods: (1) a dot product against a
/// cached row of ones with every rayon thread (the oracle's own kernel: two loads per
/// element, one from L1); (2) a plain sum of lanes with every thread; (3) the same
/// sum on 1..=N threads in scoped OS threads (no rayon scheduling). The honest bound
/// is the best of them, and never less than what an engine measurably reads.
pub fn read_bandwidth() -> Vec<Probe> {
    let n = 64 << 20; // 256 MiB of f32
    let data = vec![1.0f32; n];
    let bytes = (n * 4) as f64;
    let best_of = |f: &dyn Fn() -> f32| -> f64 {
        let mut best = 0.0f64;
        for _ in 0..5 {
            let started = Instant::now();
            std::hint::black_box(f());
            best = best.max(bytes / started.elapsed().as_secs_f64());
        }
        best
    };
    let mut probes = vec![
        Probe {
            method: format!("dot with a cached row, {} rayon threads", rayon::current_num_threads()),
            bytes_per_s: best_of(&|| {
                let ones = [1f32; 1 << 16];
                data.par_chunks(1 << 16).map(|c| crate::models::dot(c, &ones[..c.len()])).sum::<f32>()
            }),
        },
        Probe {
            method: format!("sum of lanes, {} rayon threads", rayon::current_num_threads()),
            bytes_per_s: best_of(&|| data.par_chunks(1 << 16).map(sum_lanes).sum::<f32>()),
        },
    ];
    let cores = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1);
    for threads in 1..=cores {
        let per = n.div_ceil(threads);
        probes.push(Probe {
            method: format!("sum of lanes, {threads} OS thread(s), one contiguous slice each"),
            bytes_per_s: best_of(&|| {
                std::thread::scope(|s| {
                    let handles: Vec<_> = data.chunks(per).map(|c| s.spawn(move || sum_lanes(c))).collect();
                    handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum::<f32>()
                })
            }),
        });
    }
    probes
}

/// Sum with 32 independent accumulators (vectorizes; reads one stream).
fn sum_lanes(a: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F (checked just above).
        return unsafe { sum_lanes_avx512(a) };
    }
    sum_lanes_portable(a)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sum_lanes_avx512(a: &[f32]) -> f32 {
    sum_lanes_portable(a)
}

#[inline(always)]
fn sum_lanes_portable(a: &[f32]) -> f32 {
    let mut acc = [0f32; 32];
    let (body, tail) = a.split_at(a.len() / 32 * 32);
    for c in body.chunks_exact(32) {
        for k in 0..32 {
            acc[k] += c[k];
        }
    }
    acc.iter().sum::<f32>() + tail.iter().sum::<f32>()
}

/// A model that times its prefill call (position 0), so that decoding is timed as
/// the rest of the very generation that made it, not against another prefill.
struct PrefillTimed<'a> {
    model: &'a mut dyn crate::generate::CausalLm,
    prefill: Option<std::time::Duration>,
}

impl crate::generate::CausalLm for PrefillTimed<'_> {
    fn forward(&mut self, ids: &[u32], pos: usize, all_positions: bool) -> Result<candle_core::Tensor> {
        let t0 = Instant::now();
        let logits = self.model.forward(ids, pos, all_positions)?;
        if pos == 0 {
            self.prefill = Some(t0.elapsed());
        }
        Ok(logits)
    }

    fn clear_cache(&mut self) {
        self.model.clear_cache();
    }
}

/// What one benchmark run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub prompt_tokens: usize,
    pub decode_tokens: usize,
    /// Best round.
    pub prefill_tps: f64,
    pub decode_tps: f64,
    pub weights_bytes: u64,
    /// Weight bytes read per decoded token (f32: all of them; bf16/f16: half).
    pub bytes_per_token: f64,
    pub threads: usize,
    pub probes: Vec<Probe>,
}

impl BenchResult {
    /// The best probe's bytes/s.
    pub fn bandwidth(&self) -> f64 {
        self.probes.iter().map(|p| p.bytes_per_s).fold(0.0, f64::max)
    }
}

pub fn run(model_dir: &Path, dtype: &str, device: &str, prompt: &str, tokens: usize, repeat: usize, json: bool) -> Result<BenchResult> {
    let dir = ModelDir::open(model_dir)?;
    let started = Instant::now();
    let weights_bytes: u64 = dir.weight_files.iter().map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).sum();
    let mut model = dir.load_model(parse_dtype(dtype)?, &parse_device(device)?)?;
    let say = |line: String| {
        if !json {
            println!("{line}");
        }
    };
    say(format!(
        "model: {} ({:.1} MB of weights on disk), loaded in {:.2}s",
        model_dir.display(),
        weights_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    ));
    let ids = dir.encode(prompt)?;
    let settings = GreedySettings { max_new_tokens: tokens, eos_ids: vec![], ignore_eos: true, top_k: 5 };
    let (mut best_prefill, mut best_decode, mut decoded) = (0.0f64, 0.0f64, 0);
    for round in 0..repeat.max(1) {
        let mut timed = PrefillTimed { model: model.as_mut(), prefill: None };
        let t1 = Instant::now();
        let out = greedy(&mut timed, &ids, &settings)?;
        let total = t1.elapsed().as_secs_f64();
        let prefill = timed.prefill.context("greedy made no prefill call")?.as_secs_f64();
        // Decoding is the rest of the same generation: each step's forward and the
        // golden's sampling (log-softmax, top-k, argmax).
        let decode = (total - prefill).max(1e-9);
        decoded = out.tokens.len() - 1;
        let decode_tps = decoded as f64 / decode;
        let prefill_tps = ids.len() as f64 / prefill;
        say(format!("round {round}: prefill {} tokens {prefill_tps:.1} tok/s, decode {decoded} tokens {decode_tps:.1} tok/s", ids.len()));
        best_prefill = best_prefill.max(prefill_tps);
        best_decode = best_decode.max(decode_tps);
    }
    let bytes_per_token = weights_bytes as f64 * if dtype == "f32" { 1.0 } else { 0.5 };
    let result = BenchResult {
        prompt_tokens: ids.len(),
        decode_tokens: decoded,
        prefill_tps: best_prefill,
        decode_tps: best_decode,
        weights_bytes,
        bytes_per_token,
        threads: rayon::current_num_threads(),
        probes: read_bandwidth(),
    };
    if json {
        println!("{}", serde_json::to_string(&result)?);
        return Ok(result);
    }
    println!("best: prefill {best_prefill:.1} tok/s, decode {best_decode:.1} tok/s");
    for p in &result.probes {
        println!("read bandwidth probe: {:.1} GB/s ({})", p.bytes_per_s / 1e9, p.method);
    }
    let bw = result.bandwidth();
    println!(
        "memory read bandwidth {:.1} GB/s (the best probe); weights read per token {:.2} GB; decode bound {:.1} tok/s; decode at {:.0}% of bound",
        bw / 1e9,
        bytes_per_token / 1e9,
        bw / bytes_per_token,
        100.0 * best_decode / (bw / bytes_per_token)
    );
    Ok(result)
}
