//! Qwen2: the llama decoder with q/k/v biases (no o_proj bias), GQA, tied or untied
//! head. The shared decoder lives in llama.rs; this file states what differs.

use super::llama::Llama;
use super::Weights;
use crate::config::LlamaConfig;
use anyhow::Result;

pub fn load(cfg: &LlamaConfig, rope_theta: f64, w: &Weights) -> Result<Llama> {
    Llama::load(cfg, rope_theta, true, w)
}
