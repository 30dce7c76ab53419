//! The architectures the oracle implements, one file each, and the pieces they share
//! (linear layers, norms, the KV cache, attention with an optional sliding window,
//! rotary embeddings).

pub mod gemma3;
pub mod gpt2;
pub mod llama;
pub mod qwen2;
pub mod team;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;

/// Named weights with the file each came from, so a missing or misshapen tensor
/// error names the file(s) it looked in.
pub struct Weights {
    tensors: HashMap<String, Tensor>,
    /// Human-readable list of the weight files, for errors.
    pub source: String,
    pub dtype: DType,
    pub device: Device,
}

impl Weights {
    pub fn new(tensors: HashMap<String, Tensor>, source: String, dtype: DType, device: Device) -> Weights {
        Weights { tensors, source, dtype, device }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The tensor `name` with exactly `shape`, converted to the model dtype.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.get_as(name, shape, self.dtype)
    }

    pub fn get_as(&self, name: &str, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let t = self.tensors.get(name).with_context(|| format!("{}: tensor {name} is missing", self.source))?;
        anyhow::ensure!(t.dims() == shape, "{}: tensor {name} has shape {:?}, expected {:?}", self.source, t.dims(), shape);
        Ok(t.to_dtype(dtype)?.to_device(&self.device)?)
    }
}

/// y = x Wᵀ (+ b), x of shape [t, in], W [out, in] as stored by HF.
///
/// Decoding feeds one position at a time, where a matrix product is a matrix-vector
/// product bound by memory bandwidth: for f32 on the CPU that case streams each
/// weight row once, rows split across threads, instead of going through gemm.
#[derive(Debug, Clone)]
pub struct Linear {
    /// [out, in], contiguous.
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// From an HF nn.Linear weight [out, in].
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Result<Linear> {
        Ok(Linear { weight: weight.contiguous()?, bias })
    }

    /// From a GPT-2 Conv1D weight, stored transposed: [in, out].
    pub fn from_conv1d(weight_in_out: Tensor, bias: Option<Tensor>) -> Result<Linear> {
        Linear::new(weight_in_out.t()?.contiguous()?, bias)
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let small = x.dim(0)? <= SMALL_BATCH;
        if small && x.dtype() == DType::F32 && self.weight.dtype() == DType::F32 && x.device().is_cpu() {
            return self.small_matmul(x);
        }
        let y = x.matmul(&self.weight.t()?)?;
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }

    /// y = x Wᵀ for a few rows of x, reading each weight row once for all of them,
    /// rows split over the decode team (see team.rs).
    fn small_matmul(&self, x: &Tensor) -> Result<Tensor> {
        let (out_dim, in_dim) = self.weight.dims2()?;
        let t = x.dim(0)?;
        let x: Vec<f32> = x.flatten_all()?.to_vec1()?;
        anyhow::ensure!(x.len() == t * in_dim, "linear: input [{t}, {}] vs weight [{out_dim}, {in_dim}]", x.len() / t.max(1));
        let (storage, layout) = self.weight.storage_and_layout();
        let candle_core::Storage::Cpu(cpu) = &*storage else { anyhow::bail!("small_matmul: weight not on the CPU") };
        let w = &cpu.as_slice::<f32>()?[layout.start_offset()..][..out_dim * in_dim];
        let team = team::Team::global();
        // Enough tasks that every thread gets an even share; whole groups of 4 rows.
        let rows = (out_dim / (team.threads() * 8)).max(1).next_multiple_of(4);
        let tasks = out_dim.div_ceil(rows);
        let mut y_t = vec![0f32; out_dim * t]; // [out, t]
        let out = SharedOut(y_t.as_mut_ptr());
        team.run(tasks, &|chunk| {
            let first = chunk * rows;
            let n = rows.min(out_dim - first);
            // SAFETY: task `chunk` alone writes rows first..first + n of y_t.
            let ys = unsafe { std::slice::from_raw_parts_mut(out.at(first * t), n * t) };
            if t == 1 {
                // Decoding: several rows share each load of x, the same bits as `dot`.
                matvec(&w[first * in_dim..][..n * in_dim], in_dim, &x, ys);
                return;
            }
            // A few positions (a prompt): the positions share each load of a weight
            // row; dot(x, w) and dot(w, x) are the same bits (products commute).
            for (j, out) in ys.chunks_mut(t).enumerate() {
                matvec(&x, in_dim, &w[(first + j) * in_dim..][..in_dim], out);
            }
        });
        drop(storage);
        let bias = match &self.bias {
            Some(b) => Some(b.to_dtype(DType::F32)?.to_vec1::<f32>()?),
            None => None,
        };
        let mut y = vec![0f32; t * out_dim];
        for o in 0..out_dim {
            let b = bias.as_ref().map(|b| b[o]).unwrap_or(0.0);
            for ti in 0..t {
                y[ti * out_dim + o] = y_t[o * t + ti] + b;
            }
        }
        Ok(Tensor::from_vec(y, (t, out_dim), &Device::Cpu)?)
    }
}

/// The output of a product that the team's tasks write, each its own rows.
struct SharedOut(*mut f32);

// SAFETY: tasks write disjoint ranges (see small_matmul), and the buffer outlives the job.
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// # Safety
    /// `offset` is inside the buffer.
    unsafe fn at(&self, offset: usize) -> *mut f32 {
        // SAFETY: the caller keeps offset inside the buffer.
        unsafe { self.0.add(offset) }
    }
}

/// Up to this many rows, a product streams the weights once (bandwidth-bound
/// decoding and short prompts) instead of going through gemm.
const SMALL_BATCH: usize = 16;

/// Dot product with 32 independent accumulators (vectorizes without fast-math; the
/// order of additions is fixed, so every instruction set gives the same result).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F (checked just above).
        return unsafe { dot_avx512(a, b) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { dot_avx2(a, b) };
    }
    dot_lanes(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes(a, b)
}

/// out[r] = dot(w[r·in_dim..(r+1)·in_dim], x) for every row of `w`: the additions of
/// `dot`, in its order (bit for bit), with the instruction set chosen once per call
/// and R rows sharing each load of x (4 with AVX-512's 32 registers, else 2).
pub fn matvec(w: &[f32], in_dim: usize, x: &[f32], out: &mut [f32]) {
    assert_eq!(w.len(), in_dim * out.len(), "matvec: {} weights for {} rows of {in_dim}", w.len(), out.len());
    assert_eq!(x.len(), in_dim, "matvec: x has {} values, rows {in_dim}", x.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F (checked just above).
        return unsafe { matvec_avx512(w, in_dim, x, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { matvec_avx2(w, in_dim, x, out) };
    }
    matvec_rows::<2>(w, in_dim, x, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn matvec_avx512(w: &[f32], in_dim: usize, x: &[f32], out: &mut [f32]) {
    matvec_rows::<4>(w, in_dim, x, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn matvec_avx2(w: &[f32], in_dim: usize, x: &[f32], out: &mut [f32]) {
    matvec_rows::<2>(w, in_dim, x, out)
}

/// Asks for the cache line at `p` (the same place in the next group's rows): the
/// hardware prefetcher follows one stream better than R interleaved ones. Never
/// dereferences `p`, which may be past the weights.
#[inline(always)]
fn prefetch(p: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it does not fault on any address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[inline(always)]
fn matvec_rows<const R: usize>(w: &[f32], in_dim: usize, x: &[f32], out: &mut [f32]) {
    const LANES: usize = 32;
    let body = in_dim / LANES * LANES;
    let (xc, xt) = x.split_at(body);
    let mut groups = out.chunks_exact_mut(R);
    let mut row0 = 0;
    for group in &mut groups {
        let mut acc = [[0f32; LANES]; R];
        for (c, xs) in xc.chunks_exact(LANES).enumerate() {
            for (r, a) in acc.iter_mut().enumerate() {
                let ws = &w[(row0 + r) * in_dim + c * LANES..][..LANES];
                prefetch(ws.as_ptr().wrapping_add(R * in_dim));
                for k in 0..LANES {
                    a[k] += ws[k] * xs[k];
                }
            }
        }
        for (r, o) in group.iter_mut().enumerate() {
            let mut sum: f32 = acc[r].iter().sum();
            let wt = &w[(row0 + r) * in_dim + body..(row0 + r + 1) * in_dim];
            for (a, b) in wt.iter().zip(xt) {
                sum += a * b;
            }
            *o = sum;
        }
        row0 += R;
    }
    for o in groups.into_remainder() {
        *o = dot_lanes(&w[row0 * in_dim..(row0 + 1) * in_dim], x);
        row0 += 1;
    }
}

#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 32;
    let mut acc = [0f32; LANES];
    let (ac, at) = a.split_at(a.len() / LANES * LANES);
    let (bc, bt) = b.split_at(ac.len());
    for (ca, cb) in ac.chunks_exact(LANES).zip(bc.chunks_exact(LANES)) {
        for k in 0..LANES {
            acc[k] += ca[k] * cb[k];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in at.iter().zip(bt) {
        sum += x * y;
    }
    sum
}

/// RMSNorm computed in f32 (as transformers does) and cast back.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    pub fn new(weight: Tensor, eps: f64) -> Result<RmsNorm> {
        Ok(RmsNorm { weight: weight.to_dtype(DType::F32)?, eps })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let x = x.to_dtype(DType::F32)?;
        let y = candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps as f32)?;
        Ok(y.to_dtype(dtype)?)
    }
}

/// LayerNorm computed in f32 and cast back.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    pub fn new(weight: Tensor, bias: Tensor, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm { weight: weight.to_dtype(DType::F32)?, bias: bias.to_dtype(DType::F32)?, eps })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let x = x.to_dtype(DType::F32)?.contiguous()?;
        let y = candle_nn::ops::layer_norm(&x, &self.weight, &self.bias, self.eps as f32)?;
        Ok(y.to_dtype(dtype)?)
    }
}

/// A growing per-layer KV cache of shape [heads, seq, head_dim].
#[derive(Debug, Clone, Default)]
pub struct LayerCache {
    k: Option<Tensor>,
    v: Option<Tensor>,
}

impl LayerCache {
    pub fn append(&mut self, k: Tensor, v: Tensor) -> Result<(Tensor, Tensor)> {
        let (k, v) = match (self.k.take(), self.v.take()) {
            (Some(pk), Some(pv)) => (Tensor::cat(&[&pk, &k], 1)?, Tensor::cat(&[&pv, &v], 1)?),
            _ => (k, v),
        };
        self.k = Some(k.clone());
        self.v = Some(v.clone());
        Ok((k, v))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        self.k.as_ref().map(|k| k.dim(1).unwrap_or(0)).unwrap_or(0)
    }

    pub fn clear(&mut self) {
        self.k = None;
        self.v = None;
    }
}

/// Scaled dot-product attention with a causal mask, softmax in f32.
/// q: [h, t, d]; k, v: [kv_h, T, d] with T = past + t; GQA by repeating kv heads.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, past: usize) -> Result<Tensor> {
    let d = q.dim(2)?;
    attention_windowed(q, k, v, past, 1.0 / (d as f64).sqrt(), None)
}

/// [`attention`] with an explicit score scale and an optional sliding window: the
/// query at position p sees key j when j ≤ p and, with a window w, p − j < w
/// (transformers' `kv_idx > q_idx - sliding_window`, llama.cpp's `p1 - p0 < n_swa`).
pub fn attention_windowed(q: &Tensor, k: &Tensor, v: &Tensor, past: usize, scale: f64, window: Option<usize>) -> Result<Tensor> {
    let (h, t, d) = q.dims3()?;
    let (kv_h, total, _) = k.dims3()?;
    let groups = h / kv_h;
    // [kv_h, groups*t, d]: queries of a group share their kv head, no copy of k/v.
    let q = q.reshape((kv_h, groups * t, d))?;
    let scores = (q.matmul(&k.t()?)? * scale)?.to_dtype(DType::F32)?;
    let windowed = window.is_some_and(|w| total > w);
    let scores = if t > 1 || windowed {
        let mask: Vec<f32> = (0..groups * t)
            .flat_map(|row| {
                let p = past + row % t;
                (0..total).map(move |j| {
                    let visible = j <= p && window.is_none_or(|w| p - j < w);
                    if visible {
                        0.0
                    } else {
                        f32::NEG_INFINITY
                    }
                })
            })
            .collect();
        let mask = Tensor::from_vec(mask, (1, groups * t, total), q.device())?;
        scores.broadcast_add(&mask)?
    } else {
        scores
    };
    let probs = candle_nn::ops::softmax_last_dim(&scores)?.to_dtype(v.dtype())?;
    let out = probs.matmul(&v.contiguous()?)?; // [kv_h, groups*t, d]
    Ok(out.reshape((h, t, d))?)
}

/// Rotary embeddings in HF's half-split (NEOX) layout, cos/sin tables computed as
/// transformers does (f32) for positions 0..n and grown on demand.
#[derive(Debug, Clone)]
pub struct Rope {
    theta: f64,
    head_dim: usize,
    cos: Tensor,
    sin: Tensor,
    dtype: DType,
    device: Device,
}

/// cos/sin for positions 0..n as transformers computes them (f32).
fn rope_tables(theta: f64, head_dim: usize, n: usize, device: &Device) -> Result<(Tensor, Tensor)> {
    let half = head_dim / 2;
    let inv_freq: Vec<f32> = (0..half).map(|i| 1.0 / (theta as f32).powf((2 * i) as f32 / head_dim as f32)).collect();
    let mut cos = Vec::with_capacity(n * half);
    let mut sin = Vec::with_capacity(n * half);
    for p in 0..n {
        for &f in &inv_freq {
            let angle = p as f32 * f;
            cos.push(angle.cos());
            sin.push(angle.sin());
        }
    }
    Ok((Tensor::from_vec(cos, (n, half), device)?, Tensor::from_vec(sin, (n, half), device)?))
}

impl Rope {
    pub fn new(theta: f64, head_dim: usize, dtype: DType, device: &Device) -> Result<Rope> {
        let (cos, sin) = rope_tables(theta, head_dim, 256, device)?;
        Ok(Rope { theta, head_dim, cos: cos.to_dtype(dtype)?, sin: sin.to_dtype(dtype)?, dtype, device: device.clone() })
    }

    /// Rotates x: [heads, t, head_dim] holding positions pos..pos + t.
    pub fn apply(&mut self, x: &Tensor, pos: usize) -> Result<Tensor> {
        let (_, t, _) = x.dims3()?;
        if pos + t > self.cos.dim(0)? {
            let n = (pos + t).next_power_of_two();
            let (cos, sin) = rope_tables(self.theta, self.head_dim, n, &self.device)?;
            self.cos = cos.to_dtype(self.dtype)?;
            self.sin = sin.to_dtype(self.dtype)?;
        }
        let cos = self.cos.narrow(0, pos, t)?;
        let sin = self.sin.narrow(0, pos, t)?;
        Ok(candle_nn::rotary_emb::rope(&x.unsqueeze(0)?.contiguous()?, &cos, &sin)?.squeeze(0)?)
    }
}

/// The logits the CausalLm trait returns: f32, [n, vocab].
pub fn select_logits(hidden: &Tensor, all_positions: bool) -> Result<Tensor> {
    if all_positions {
        Ok(hidden.clone())
    } else {
        let t = hidden.dim(0)?;
        Ok(hidden.narrow(0, t - 1, 1)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1) (xorshift64), the kernels' test inputs.
    fn uniform(mut state: u64) -> impl FnMut() -> f32 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        }
    }

    /// The f32 goldens are verified bit for bit on other machines: the dot product
    /// must give the same bits whichever instruction set `dot` dispatches to.
    #[test]
    fn dot_gives_the_same_bits_on_every_instruction_set() {
        let mut next = uniform(0x9e3779b97f4a7c15u64);
        for len in [1usize, 31, 32, 33, 64, 576, 1536, 4097] {
            let a: Vec<f32> = (0..len).map(|_| next()).collect();
            let b: Vec<f32> = (0..len).map(|_| next() * 100.0).collect();
            let portable = dot_lanes(&a, &b);
            assert_eq!(dot(&a, &b).to_bits(), portable.to_bits(), "len {len}: dispatched vs portable");
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: AVX2 checked just above.
                    assert_eq!(unsafe { dot_avx2(&a, &b) }.to_bits(), portable.to_bits(), "len {len}: AVX2");
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: AVX-512F checked just above.
                    assert_eq!(unsafe { dot_avx512(&a, &b) }.to_bits(), portable.to_bits(), "len {len}: AVX-512");
                }
            }
            // and a plain sequential sum is a different order: the test can tell orders apart
            let sequential: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            if len >= 1536 {
                assert_ne!(sequential.to_bits(), portable.to_bits(), "len {len}: orders should differ in the last bits");
            }
        }
    }

    /// The decode kernel gives each row exactly `dot`'s bits, on every instruction set
    /// and for row counts that leave a remainder.
    #[test]
    fn matvec_gives_dot_bits_for_every_row() {
        let mut next = uniform(0x2545f4914f6cdd1du64);
        for (rows, in_dim) in [(1usize, 31usize), (5, 576), (7, 1536), (8, 33), (3, 64)] {
            let w: Vec<f32> = (0..rows * in_dim).map(|_| next()).collect();
            let x: Vec<f32> = (0..in_dim).map(|_| next() * 10.0).collect();
            let want: Vec<u32> = w.chunks(in_dim).map(|r| dot_lanes(r, &x).to_bits()).collect();
            let mut out = vec![0f32; rows];
            matvec(&w, in_dim, &x, &mut out);
            assert_eq!(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want, "{rows}×{in_dim} dispatched");
            matvec_rows::<2>(&w, in_dim, &x, &mut out);
            assert_eq!(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want, "{rows}×{in_dim} portable");
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: AVX2 checked just above.
                    unsafe { matvec_avx2(&w, in_dim, &x, &mut out) };
                    assert_eq!(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want, "{rows}×{in_dim} AVX2");
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: AVX-512F checked just above.
                    unsafe { matvec_avx512(&w, in_dim, &x, &mut out) };
                    assert_eq!(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want, "{rows}×{in_dim} AVX-512");
                }
            }
        }
    }

    /// The prompt path computes dot(x, w) for dot(w, x): the same bits, because
    /// products commute and the additions are the same.
    #[test]
    fn dot_is_symmetric_in_its_bits() {
        let mut next = uniform(0x853c49e6748fea9bu64);
        for (t, in_dim) in [(2usize, 31usize), (3, 576), (9, 1536), (4, 33), (16, 64)] {
            let w: Vec<f32> = (0..in_dim).map(|_| next()).collect();
            let x: Vec<f32> = (0..t * in_dim).map(|_| next() * 10.0).collect();
            let want: Vec<u32> = x.chunks(in_dim).map(|xi| dot(&w, xi).to_bits()).collect();
            let mut out = vec![0f32; t];
            matvec(&x, in_dim, &w, &mut out);
            assert_eq!(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want, "{t}×{in_dim}");
        }
    }

    /// With q = 0 every visible key scores the same, so each output row is the mean of
    /// the value rows its query may see: the mask, worked out by hand.
    #[test]
    fn sliding_window_sees_the_last_w_positions() {
        let dev = Device::Cpu;
        let total = 5;
        // One kv head, head_dim 1: value j is 10^j, so a mean names its positions.
        let v = Tensor::from_vec((0..total).map(|j| 10f32.powi(j as i32)).collect::<Vec<_>>(), (1, total, 1), &dev).unwrap();
        let k = Tensor::ones((1, total, 1), DType::F32, &dev).unwrap();
        let mean = |js: &[usize]| js.iter().map(|&j| 10f32.powi(j as i32)).sum::<f32>() / js.len() as f32;
        let rows = |out: Tensor| out.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let close = |got: Vec<f32>, want: Vec<f32>| {
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-5 * w.abs(), "got {got:?}, want {want:?}");
            }
        };

        // Prefill of all 5 positions, window 2: position p sees p-1 and p.
        let q = Tensor::zeros((2, total, 1), DType::F32, &dev).unwrap(); // 2 query heads share the kv head
        let got = rows(attention_windowed(&q, &k, &v, 0, 1.0, Some(2)).unwrap());
        let want: Vec<f32> = [vec![0], vec![0, 1], vec![1, 2], vec![2, 3], vec![3, 4]].iter().map(|js| mean(js)).collect();
        close(got, [want.clone(), want].concat());

        // Decoding position 4 after 4 cached: window 3 sees 2, 3, 4; no window sees all.
        let q1 = Tensor::zeros((1, 1, 1), DType::F32, &dev).unwrap();
        close(rows(attention_windowed(&q1, &k, &v, 4, 1.0, Some(3)).unwrap()), vec![mean(&[2, 3, 4])]);
        close(rows(attention_windowed(&q1, &k, &v, 4, 1.0, None).unwrap()), vec![mean(&[0, 1, 2, 3, 4])]);
        // A window wider than the context is no window.
        close(rows(attention_windowed(&q1, &k, &v, 4, 1.0, Some(512)).unwrap()), vec![mean(&[0, 1, 2, 3, 4])]);
    }
}
