//! Builds golden JSON (schema version 1) from a greedy run, with provenance and the
//! cache key over every input that determined it.

use crate::generate::{greedy, CausalLm, GreedySettings};
use crate::loader::ModelDir;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use tmgt_schema::golden::{dtype_format_name, SCHEMA_VERSION};
use tmgt_schema::{Golden, GoldenInputs, OracleInfo, Settings};

pub const ORACLE_NAME: &str = "oracle-gen";
pub const CANDLE_VERSION: &str = "0.11.1";

pub fn oracle_info(dtype: &str, device: &str) -> OracleInfo {
    OracleInfo {
        name: ORACLE_NAME.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        candle_version: CANDLE_VERSION.into(),
        dtype: dtype.into(),
        device: device.into(),
    }
}

/// A prompt file's text: the file's bytes, less one trailing newline if present.
pub fn read_prompt(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read prompt", path.display()))?;
    let text = text.strip_suffix('\n').unwrap_or(&text).to_string();
    anyhow::ensure!(!text.is_empty(), "{}: empty prompt", path.display());
    Ok(text)
}

pub struct GoldenRequest<'a> {
    pub slug: &'a str,
    pub model_id: &'a str,
    /// As the caller named it (repo-relative), recorded in the golden.
    pub prompt_file: &'a str,
    pub prompt: &'a str,
    pub settings: Settings,
}

pub fn make_golden(
    dir: &ModelDir,
    model: &mut dyn CausalLm,
    file_hashes: &BTreeMap<String, String>,
    req: &GoldenRequest,
) -> Result<Golden> {
    let prompt_tokens = dir.encode(req.prompt)?;
    let out = greedy(
        model,
        &prompt_tokens,
        &GreedySettings {
            max_new_tokens: req.settings.max_new_tokens,
            eos_ids: dir.eos_ids.clone(),
            ignore_eos: req.settings.ignore_eos,
            top_k: req.settings.top_k,
        },
    )
    .with_context(|| format!("greedy decoding of {}", req.prompt_file))?;
    let oracle = oracle_info(&req.settings.dtype, &req.settings.device);
    let prompt_sha256 = tmgt_schema::sha256_bytes(req.prompt.as_bytes());
    let cache_key = GoldenInputs::compute_key(file_hashes, &prompt_sha256, &req.settings, &oracle);
    Ok(Golden {
        schema_version: SCHEMA_VERSION,
        model: req.model_id.into(),
        model_slug: req.slug.into(),
        prompt: req.prompt.into(),
        prompt_file: req.prompt_file.into(),
        runtime: "candle".into(),
        format: dtype_format_name(&req.settings.dtype).into(),
        text: dir.decode(&out.tokens)?,
        token_count: out.tokens.len(),
        tokens: out.tokens,
        max_new_tokens: req.settings.max_new_tokens,
        do_sample: false,
        prompt_tokens: out.prompt_tokens,
        stop_reason: out.stop_reason,
        top_logprobs: out.top_logprobs,
        oracle,
        inputs: GoldenInputs { files: file_hashes.clone(), prompt_sha256, settings: req.settings.clone(), cache_key },
        host: Some(tmgt_schema::HostInfo::detect()),
    })
}
