//! The architectures the oracle implements, one file each, and the pieces they share.

pub mod gpt2;
pub mod llama;
pub mod qwen2;

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
        let t = self
            .tensors
            .get(name)
            .with_context(|| format!("{}: tensor {name} is missing", self.source))?;
        anyhow::ensure!(
            t.dims() == shape,
            "{}: tensor {name} has shape {:?}, expected {:?}",
            self.source,
            t.dims(),
            shape
        );
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

    /// y = x Wᵀ for a few rows of x, reading each weight row once for all of them.
    fn small_matmul(&self, x: &Tensor) -> Result<Tensor> {
        use rayon::prelude::*;
        let (out_dim, in_dim) = self.weight.dims2()?;
        let t = x.dim(0)?;
        let x: Vec<f32> = x.flatten_all()?.to_vec1()?;
        anyhow::ensure!(x.len() == t * in_dim, "linear: input [{t}, {}] vs weight [{out_dim}, {in_dim}]", x.len() / t.max(1));
        let (storage, layout) = self.weight.storage_and_layout();
        let candle_core::Storage::Cpu(cpu) = &*storage else { anyhow::bail!("small_matmul: weight not on the CPU") };
        let w = &cpu.as_slice::<f32>()?[layout.start_offset()..][..out_dim * in_dim];
        // Enough chunks that every thread gets an even share.
        let rows = (out_dim / (rayon::current_num_threads() * 8)).max(1);
        let mut y_t = vec![0f32; out_dim * t]; // [out, t]
        y_t.par_chunks_mut(rows * t).enumerate().for_each(|(chunk, ys)| {
            for (j, out) in ys.chunks_mut(t).enumerate() {
                let row = &w[(chunk * rows + j) * in_dim..][..in_dim];
                for (ti, o) in out.iter_mut().enumerate() {
                    *o = dot(row, &x[ti * in_dim..(ti + 1) * in_dim]);
                }
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
    let (h, t, d) = q.dims3()?;
    let (kv_h, total, _) = k.dims3()?;
    let groups = h / kv_h;
    // [kv_h, groups*t, d]: queries of a group share their kv head, no copy of k/v.
    let q = q.reshape((kv_h, groups * t, d))?;
    let scale = 1.0 / (d as f64).sqrt();
    let scores = (q.matmul(&k.t()?)? * scale)?.to_dtype(DType::F32)?;
    let scores = if t > 1 {
        let mask: Vec<f32> = (0..groups * t)
            .flat_map(|row| {
                let i = row % t;
                (0..total).map(move |j| if j > past + i { f32::NEG_INFINITY } else { 0.0 })
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

    /// The f32 goldens are verified bit for bit on other machines: the dot product
    /// must give the same bits whichever instruction set `dot` dispatches to.
    #[test]
    fn dot_gives_the_same_bits_on_every_instruction_set() {
        let mut state = 0x9e3779b97f4a7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        };
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
}
