//! Golden JSON, schema version 1: the oracle's greedy output for one (model, prompt,
//! dtype), a superset of the seed harness's oracle JSON. Serialization is stable:
//! fixed field order, BTreeMaps, ryu floats, so the same inputs give the same bytes.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopReason {
    /// An EOS id was generated; it is kept as the last entry of `tokens`.
    Eos,
    /// `max_new_tokens` were generated.
    Length,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    pub id: u32,
    pub logprob: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OracleInfo {
    pub name: String,
    pub version: String,
    pub candle_version: String,
    pub dtype: String,
    pub device: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub max_new_tokens: usize,
    pub ignore_eos: bool,
    pub top_k: usize,
    pub dtype: String,
    pub device: String,
}

/// What the golden was computed from. `cache_key` is the sha256 over everything else
/// here plus the oracle's identity: same key, same golden.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldenInputs {
    /// sha256 of every model file read, by file name.
    pub files: BTreeMap<String, String>,
    pub prompt_sha256: String,
    pub settings: Settings,
    pub cache_key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Golden {
    pub schema_version: u32,
    /// HF id or source description of the model.
    pub model: String,
    pub model_slug: String,
    pub prompt: String,
    pub prompt_file: String,
    pub runtime: String,
    /// dtype name: float32, bfloat16, float16.
    pub format: String,
    /// Generated token ids (prompt excluded); ends with the EOS id when stop_reason is eos.
    pub tokens: Vec<u32>,
    /// Generated text, special tokens skipped.
    pub text: String,
    pub token_count: usize,
    pub max_new_tokens: usize,
    pub do_sample: bool,
    pub prompt_tokens: Vec<u32>,
    pub stop_reason: StopReason,
    /// Per generated step, the top-k ids with log-softmax values over the full vocabulary.
    pub top_logprobs: Vec<Vec<TokenLogprob>>,
    pub oracle: OracleInfo,
    pub inputs: GoldenInputs,
    /// The machine that computed this golden (absent in goldens written before it
    /// was recorded). Provenance, not a claim: reduced-precision results depend on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<crate::HostInfo>,
}

impl GoldenInputs {
    /// The cache key: sha256 of the canonical JSON of (files, prompt hash, settings, oracle).
    pub fn compute_key(files: &BTreeMap<String, String>, prompt_sha256: &str, settings: &Settings, oracle: &OracleInfo) -> String {
        let canonical = serde_json::json!({
            "files": files,
            "prompt_sha256": prompt_sha256,
            "settings": settings,
            "oracle": oracle,
        });
        crate::sha256_bytes(canonical.to_string().as_bytes())
    }
}

/// The precisions the oracle computes goldens in: f32 (the goldens every check is
/// judged against) and the reduced bf16 and f16 (the precision suite's), each spelled
/// once: its flag (`--dtype f32`), its folder (goldens/<slug>/<flag>/ for the reduced
/// ones) and the name golden JSON uses (float32, bfloat16, float16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Precision {
    F32,
    Bf16,
    F16,
}

impl Precision {
    pub const ALL: [Precision; 3] = [Precision::F32, Precision::Bf16, Precision::F16];
    /// The precision suite's: every precision but f32.
    pub const REDUCED: [Precision; 2] = [Precision::Bf16, Precision::F16];

    /// The flag, folder and tolerance key: f32, bf16, f16.
    pub fn flag(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }

    /// The name golden JSON uses: float32, bfloat16, float16.
    pub fn format_name(self) -> &'static str {
        match self {
            Precision::F32 => "float32",
            Precision::Bf16 => "bfloat16",
            Precision::F16 => "float16",
        }
    }

    /// A flag or a golden JSON name.
    pub fn parse(s: &str) -> Option<Precision> {
        Precision::ALL.into_iter().find(|p| p.flag() == s || p.format_name() == s)
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.flag())
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Precision, String> {
        Precision::parse(s).ok_or_else(|| format!("unknown precision {s:?} (f32, bf16, f16)"))
    }
}

/// Maps a dtype flag (f32, bf16, f16) to the name golden JSON uses (float32 for
/// anything else, as oracle-gen always did).
pub fn dtype_format_name(dtype: &str) -> &'static str {
    Precision::parse(dtype).unwrap_or(Precision::F32).format_name()
}

impl Golden {
    /// Stable bytes: pretty JSON plus a trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("golden serializes");
        bytes.push(b'\n');
        bytes
    }

    pub fn read(path: &Path) -> Result<Golden> {
        let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read golden", path.display()))?;
        let golden: Golden = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a golden JSON (schema version {SCHEMA_VERSION})", path.display()))?;
        if golden.schema_version != SCHEMA_VERSION {
            anyhow::bail!("{}: golden schema_version {} (this build reads {SCHEMA_VERSION})", path.display(), golden.schema_version);
        }
        Ok(golden)
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        crate::write_atomic(path, &self.to_bytes())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn each_precision_is_spelled_once() {
        for p in Precision::ALL {
            assert_eq!(Precision::parse(p.flag()), Some(p));
            assert_eq!(Precision::parse(p.format_name()), Some(p));
            assert_eq!(p.to_string().parse::<Precision>(), Ok(p));
            assert_eq!(dtype_format_name(p.flag()), p.format_name());
        }
        assert_eq!((Precision::Bf16.flag(), Precision::Bf16.format_name()), ("bf16", "bfloat16"));
        assert_eq!((Precision::F16.flag(), Precision::F16.format_name()), ("f16", "float16"));
        assert_eq!(dtype_format_name("f8"), "float32");
        assert!("f8".parse::<Precision>().is_err());
        assert!(!Precision::REDUCED.contains(&Precision::F32));
    }

    pub(crate) fn sample() -> Golden {
        let settings = Settings { max_new_tokens: 3, ignore_eos: false, top_k: 2, dtype: "f32".into(), device: "cpu".into() };
        let oracle = OracleInfo {
            name: "oracle-gen".into(),
            version: "0.1.0".into(),
            candle_version: "0.11.1".into(),
            dtype: "f32".into(),
            device: "cpu".into(),
        };
        let files = BTreeMap::from([("model.safetensors".to_string(), "ab".repeat(32))]);
        let key = GoldenInputs::compute_key(&files, "cd", &settings, &oracle);
        Golden {
            schema_version: SCHEMA_VERSION,
            model: "test/model".into(),
            model_slug: "tiny".into(),
            prompt: "Hi".into(),
            prompt_file: "prompts/greeting.txt".into(),
            runtime: "oracle-gen".into(),
            format: "float32".into(),
            tokens: vec![5, 6, 2],
            text: "ab".into(),
            token_count: 3,
            max_new_tokens: 3,
            do_sample: false,
            prompt_tokens: vec![1, 2],
            stop_reason: StopReason::Eos,
            top_logprobs: vec![vec![TokenLogprob { id: 5, logprob: -0.1 }, TokenLogprob { id: 7, logprob: -2.5 }]],
            oracle,
            inputs: GoldenInputs { files, prompt_sha256: "cd".into(), settings, cache_key: key },
            host: None,
        }
    }

    #[test]
    fn round_trips_byte_identically() {
        let golden = sample();
        let bytes = golden.to_bytes();
        let back: Golden = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, golden);
        assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn cache_key_moves_with_inputs() {
        let g = sample();
        let k = |files: &BTreeMap<String, String>, p: &str, s: &Settings| GoldenInputs::compute_key(files, p, s, &g.oracle);
        let base = k(&g.inputs.files, "cd", &g.inputs.settings);
        assert_eq!(base, g.inputs.cache_key);
        assert_ne!(base, k(&g.inputs.files, "ce", &g.inputs.settings));
        let mut files = g.inputs.files.clone();
        files.insert("model.safetensors".into(), "00".repeat(32));
        assert_ne!(base, k(&files, "cd", &g.inputs.settings));
        let mut settings = g.inputs.settings.clone();
        settings.ignore_eos = true;
        assert_ne!(base, k(&g.inputs.files, "cd", &settings));
    }

    #[test]
    fn rejects_other_schema_versions() {
        let mut g = sample();
        g.schema_version = 2;
        let path = std::env::temp_dir().join(format!("tmgt-golden-{}.json", std::process::id()));
        g.write(&path).unwrap();
        let err = Golden::read(&path).unwrap_err().to_string();
        assert!(err.contains("schema_version 2") && err.contains(&path.display().to_string()), "{err}");
        std::fs::remove_file(path).unwrap();
    }
}
