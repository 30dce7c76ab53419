//! GGUF in both directions and as a runtime: import a GGUF (llama, qwen2, gemma3) into
//! an f32 HF model directory (the reference checkpoint of docs/contract.md §3), export an HF
//! llama/qwen2 directory to GGUF (the project's second converter, independent of apr),
//! and run a GGUF on candle's quantized llama/qwen2/gemma3 models behind the
//! `CausalLm` trait.

pub mod export;
pub mod import;
pub mod runtime;
pub mod spm;
pub mod tokenizer;

pub use export::{export_gguf, Quant};
pub use import::{import_gguf, ImportReport};
pub use runtime::{generate as generate_gguf, load_gguf_model, run_gguf, score_gguf, GgufModel};
pub use tokenizer::{tokenizer_from_gguf, tokenizer_json_from_gguf};

use anyhow::{bail, Context, Result};
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::Tensor;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// An opened GGUF: its parsed header and a reader positioned anywhere.
pub struct GgufFile {
    pub content: gguf_file::Content,
    pub reader: BufReader<File>,
}

/// Opens and parses a GGUF header; every error names the file.
pub fn open_gguf(path: &Path) -> Result<GgufFile> {
    let file = File::open(path).with_context(|| format!("{}: cannot open GGUF", path.display()))?;
    let mut reader = BufReader::new(file);
    let content =
        gguf_file::Content::read(&mut reader).map_err(|e| anyhow::anyhow!("{}: not a readable GGUF file: {e}", path.display()))?;
    Ok(GgufFile { content, reader })
}

/// Typed access to GGUF metadata that names the file and the key in its errors.
pub struct Meta<'a> {
    pub content: &'a gguf_file::Content,
    pub path: &'a Path,
}

impl<'a> Meta<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.content.metadata.get(key)
    }

    pub fn require(&self, key: &str) -> Result<&'a Value> {
        self.get(key).with_context(|| format!("{}: GGUF metadata has no `{key}`", self.path.display()))
    }

    pub fn string(&self, key: &str) -> Result<&'a str> {
        let v = self.require(key)?;
        v.to_string()
            .map(|s| s.as_str())
            .map_err(|_| anyhow::anyhow!("{}: GGUF metadata `{key}` is not a string: {v:?}", self.path.display()))
    }

    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>> {
        self.get(key).map(|v| as_u64(v).with_context(|| self.bad(key, v))).transpose()
    }

    pub fn u64(&self, key: &str) -> Result<u64> {
        let v = self.require(key)?;
        as_u64(v).with_context(|| self.bad(key, v))
    }

    pub fn usize(&self, key: &str) -> Result<usize> {
        Ok(self.u64(key)? as usize)
    }

    /// A float key, returned as f64 through the shortest decimal of its stored width
    /// (an f32 1e-5 becomes 1e-5, not 9.999999747378752e-6).
    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        let Some(v) = self.get(key) else { return Ok(None) };
        let value = match v {
            Value::F32(x) => format!("{x}").parse::<f64>().expect("f32 display parses"),
            Value::F64(x) => *x,
            other => as_u64(other).map(|n| n as f64).with_context(|| self.bad(key, v))?,
        };
        Ok(Some(value))
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        self.get(key)
            .map(|v| match v {
                Value::Bool(b) => Ok(*b),
                other => as_u64(other).map(|n| n != 0).with_context(|| self.bad(key, v)),
            })
            .transpose()
    }

    pub fn array(&self, key: &str) -> Result<&'a Vec<Value>> {
        let v = self.require(key)?;
        v.to_vec().map_err(|_| anyhow::anyhow!("{}: GGUF metadata `{key}` is not an array", self.path.display()))
    }

    fn bad(&self, key: &str, v: &Value) -> String {
        format!("{}: GGUF metadata `{key}` has an unexpected type: {v:?}", self.path.display())
    }
}

/// Any integer GGUF value as u64 (negative values are an error).
pub fn as_u64(v: &Value) -> Result<u64> {
    let n: i128 = match v {
        Value::U8(x) => *x as i128,
        Value::I8(x) => *x as i128,
        Value::U16(x) => *x as i128,
        Value::I16(x) => *x as i128,
        Value::U32(x) => *x as i128,
        Value::I32(x) => *x as i128,
        Value::U64(x) => *x as i128,
        Value::I64(x) => *x as i128,
        other => bail!("expected an integer, got {other:?}"),
    };
    u64::try_from(n).map_err(|_| anyhow::anyhow!("expected a non-negative integer, got {n}"))
}

/// The GGUF architectures this module converts and runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgufArch {
    Llama,
    Qwen2,
}

impl GgufArch {
    pub fn prefix(self) -> &'static str {
        match self {
            GgufArch::Llama => "llama",
            GgufArch::Qwen2 => "qwen2",
        }
    }

    /// llama.cpp's convert permutes q/k rows for the interleaved rope of llama; qwen2
    /// uses the NEOX rope and keeps HF's layout.
    pub fn permutes_qk(self) -> bool {
        self == GgufArch::Llama
    }

    pub fn parse(name: &str) -> Option<GgufArch> {
        match name {
            "llama" => Some(GgufArch::Llama),
            "qwen2" => Some(GgufArch::Qwen2),
            _ => None,
        }
    }
}

/// Every GGUF architecture the import and the candle runtime read: the llama family,
/// which the exporter also writes ([`GgufArch`]), and gemma3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceArch {
    Family(GgufArch),
    Gemma3,
}

impl SourceArch {
    /// `general.architecture`, also the prefix of the architecture's metadata keys.
    pub fn prefix(self) -> &'static str {
        match self {
            SourceArch::Family(a) => a.prefix(),
            SourceArch::Gemma3 => "gemma3",
        }
    }

    /// llama.cpp's convert permutes q/k rows for llama only: gemma3, like qwen2, uses
    /// the NEOX rope and keeps HF's layout.
    pub fn permutes_qk(self) -> bool {
        matches!(self, SourceArch::Family(a) if a.permutes_qk())
    }

    pub fn parse(name: &str) -> Option<SourceArch> {
        match name {
            "gemma3" => Some(SourceArch::Gemma3),
            other => GgufArch::parse(other).map(SourceArch::Family),
        }
    }
}

pub use tmgt_schema::tensor_names::{gguf_name, hf_name, hf_name_for};

/// For the rotary-permuted projections (attn_q, attn_k, weight or bias): Some(true)
/// for q, Some(false) for k; None for every other tensor.
pub fn rotary_part(gguf: &str) -> Option<bool> {
    let rest = gguf.strip_prefix("blk.")?;
    let (_, rest) = rest.split_once('.')?;
    match rest.rsplit_once('.')?.0 {
        "attn_q" => Some(true),
        "attn_k" => Some(false),
        _ => None,
    }
}

/// llama.cpp's convert: `w.reshape(n_head, 2, rows/n_head/2, *rest).swapaxes(1, 2)`,
/// HF layout → GGUF layout. Works for weights [rows, cols] and biases [rows].
pub fn permute_qk(w: &Tensor, n_head: usize) -> Result<Tensor> {
    reorder_rows(w, n_head, true)
}

/// The inverse of [`permute_qk`]: GGUF layout → HF layout.
pub fn unpermute_qk(w: &Tensor, n_head: usize) -> Result<Tensor> {
    reorder_rows(w, n_head, false)
}

fn reorder_rows(w: &Tensor, n_head: usize, forward: bool) -> Result<Tensor> {
    let dims = w.dims().to_vec();
    let rows = dims[0];
    if n_head == 0 || !rows.is_multiple_of(2 * n_head) {
        bail!("cannot rotary-permute {rows} rows over {n_head} heads (rows must be a multiple of 2 × heads)");
    }
    let cols: usize = dims[1..].iter().product();
    let half = rows / n_head / 2;
    let w2 = w.reshape((rows, cols))?;
    let split = if forward { (n_head, 2, half, cols) } else { (n_head, half, 2, cols) };
    let out = w2.reshape(split)?.transpose(1, 2)?.contiguous()?.reshape(dims)?;
    Ok(out)
}
