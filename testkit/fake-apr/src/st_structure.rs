//! The structure subcommands on a raw `.safetensors` checkpoint (tensors, inspect,
//! validate, debug, tree, hex), in the JSON shapes apr 0.72.3 prints for one (the
//! captured fixtures `*-safetensors.json` in `xtask/tests/fixtures/apr-0.72.3/`): the
//! header's own names, shapes, dtypes and sizes, the file's size and `__metadata__`,
//! and, for hex, the statistics of the data itself. apr 0.72.3 prints hex on a
//! safetensors file as text whatever `--json` says; this perfect apr prints JSON, in its
//! APR shape.

use crate::artifact::ViewTensor;
use crate::safetensors::{self, Header};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::io::Read;
use std::path::Path;

/// One safetensors file as the subcommands see it.
pub struct StFile {
    pub label: String,
    pub header: Header,
    pub file_size: u64,
    pub metadata: Value,
    /// config.json's model_type beside the file.
    pub architecture: String,
}

impl StFile {
    pub fn open(path: &Path, label: &str, architecture: &str) -> Result<StFile> {
        let header = safetensors::read_header(path)?;
        let mut f = std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
        let mut json = vec![0u8; header.data_start as usize];
        f.read_exact(&mut json)?;
        let raw: Value = serde_json::from_slice(&json[8..]).context("safetensors header")?;
        Ok(StFile {
            label: label.to_string(),
            file_size: f.metadata()?.len(),
            metadata: raw.get("__metadata__").cloned().unwrap_or_else(|| json!({})),
            header,
            architecture: architecture.to_string(),
        })
    }

    fn data_bytes(&self) -> u64 {
        self.header.tensors.values().map(|t| t.offsets.1 - t.offsets.0).sum()
    }

    fn params(&self) -> u64 {
        self.header.tensors.values().map(|t| t.elements()).sum()
    }

    fn view_tensors(&self) -> Vec<ViewTensor> {
        self.header
            .tensors
            .iter()
            .map(|(name, t)| ViewTensor {
                name: name.clone(),
                shape: t.shape.clone(),
                dtype: crate::artifact::DType::Ggml(t.dtype.clone()),
                elements: t.elements(),
                size_bytes: t.offsets.1 - t.offsets.0,
            })
            .collect()
    }
}

/// `apr tensors --json` on a safetensors file.
pub fn tensors(f: &StFile) -> Value {
    let list: Vec<Value> = f
        .header
        .tensors
        .iter()
        .map(|(name, t)| json!({"name": name, "shape": t.shape, "dtype": t.dtype, "size_bytes": t.offsets.1 - t.offsets.0}))
        .collect();
    json!({
        "file": f.label,
        "format_version": "SafeTensors",
        "tensor_count": list.len(),
        "total_size_bytes": f.data_bytes(),
        "tensors": list,
    })
}

/// `apr inspect --json` on a safetensors file.
pub fn inspect(f: &StFile) -> Value {
    json!({
        "file": f.label,
        "format": "SafeTensors",
        "file_size": f.file_size,
        "total_params": f.params(),
        "architecture": f.architecture,
        "quantization": "unknown",
        "tensor_count": f.header.tensors.len(),
        "metadata": f.metadata,
    })
}

/// `apr debug --json` on a safetensors file.
pub fn debug(f: &StFile) -> Value {
    json!({
        "model": f.label,
        "format": "SafeTensors",
        "architecture": f.architecture,
        "tensors": f.header.tensors.len(),
        "parameters": f.params(),
        "size_bytes": f.file_size,
        "health": "OK",
    })
}

/// `apr tree --json` on a safetensors file: the header's names split on '.'.
pub fn tree(f: &StFile) -> Value {
    crate::structure::tree_of(&f.view_tensors())
}

/// (min, max, mean, population std, NaN count, inf count) of the finite values.
fn stats(values: &[f32]) -> (f32, f32, f64, f64, u64, u64) {
    let finite: Vec<f64> = values.iter().filter(|v| v.is_finite()).map(|&v| v as f64).collect();
    let nan = values.iter().filter(|v| v.is_nan()).count() as u64;
    let inf = values.iter().filter(|v| v.is_infinite()).count() as u64;
    if finite.is_empty() {
        return (0.0, 0.0, 0.0, 0.0, nan, inf);
    }
    let n = finite.len() as f64;
    let mean = finite.iter().sum::<f64>() / n;
    let var = finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min) as f32;
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max) as f32;
    (lo, hi, mean, var.sqrt(), nan, inf)
}

/// `apr validate --json` on a safetensors file: one check per tensor (its data finite).
pub fn validate(path: &Path, f: &StFile, empty: bool) -> Result<Value> {
    let (mut checks, mut total_nan, mut total_inf, mut failed) = (Vec::new(), 0, 0, 0);
    for name in f.header.tensors.keys() {
        let (_, _, _, _, nan, inf) = stats(&safetensors::read_f32(path, &f.header, name)?);
        total_nan += nan;
        total_inf += inf;
        let ok = nan + inf == 0;
        failed += u64::from(!ok);
        let detail = if ok { String::new() } else { format!("{nan} NaN, {inf} Inf") };
        checks.push(json!({"name": name, "status": if ok { "PASS" } else { "FAIL" }, "detail": detail}));
    }
    if empty {
        checks.clear();
    }
    Ok(json!({
        "model": f.label,
        "format": "safetensors",
        "total_tensors": f.header.tensors.len(),
        "failed_tensors": failed,
        "total_nan": total_nan,
        "total_inf": total_inf,
        "duration_ms": 1,
        "checks": checks,
        "total_checks": checks.len(),
        "failed": failed,
        "passed": failed == 0,
    }))
}

/// `apr hex --stats --limit L --json` on a safetensors file: apr's APR shape, the
/// statistics of each tensor's data.
pub fn hex(path: &Path, f: &StFile, limit: usize) -> Result<Value> {
    let mut items = Vec::new();
    for (name, t) in &f.header.tensors {
        let values = safetensors::read_f32(path, &f.header, name)?;
        let (min, max, mean, std, _, _) = stats(&values);
        items.push(json!({
            "name": name,
            "shape": t.shape,
            "dtype": t.dtype,
            "offset": f.header.data_start + t.offsets.0,
            "size_bytes": t.offsets.1 - t.offsets.0,
            "stats": {"min": min, "max": max, "mean": mean as f32, "std": std as f32},
            "sample_values": values.iter().take(limit).collect::<Vec<_>>(),
        }));
    }
    Ok(Value::Array(items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{apr_fixture, shape_differences, temp_dir, tiny_reference};

    fn open(root: &Path) -> (std::path::PathBuf, StFile) {
        let path = tiny_reference(root).join("model.safetensors");
        let f = StFile::open(&path, "reference/model.safetensors", "llama").unwrap();
        (path, f)
    }

    #[test]
    fn outputs_have_apr_0_72_3_safetensors_shapes() {
        let root = temp_dir("st-structure");
        let (path, f) = open(&root);
        for (fixture, ours) in [
            ("tensors-safetensors.json", tensors(&f)),
            ("inspect-safetensors.json", inspect(&f)),
            ("debug-safetensors.json", debug(&f)),
            ("tree-safetensors.json", tree(&f)),
            ("validate-safetensors.json", validate(&path, &f, false).unwrap()),
        ] {
            // __metadata__ is the file's own (the tiny checkpoint has none).
            let d = shape_differences(&apr_fixture(fixture), &ours, "", &[".metadata"]);
            assert!(d.is_empty(), "{fixture}: {d:#?}\nours: {ours:#}");
        }
        let d = shape_differences(&apr_fixture("hex-int8.json"), &hex(&path, &f, 4).unwrap(), "", &[]);
        assert!(d.is_empty(), "{d:#?}");
    }

    #[test]
    fn facts_of_the_file() {
        let root = temp_dir("st-structure");
        let (path, f) = open(&root);
        let t = tensors(&f);
        assert_eq!(t["tensor_count"], 20);
        assert_eq!(t["tensors"][0]["dtype"], "F32");
        assert_eq!(inspect(&f)["file_size"], std::fs::metadata(&path).unwrap().len());
        assert_eq!(inspect(&f)["total_params"], debug(&f)["parameters"]);
        let h = hex(&path, &f, 2).unwrap();
        let norm = h.as_array().unwrap().iter().find(|t| t["name"] == "model.norm.weight").unwrap();
        let values = safetensors::read_f32(&path, &f.header, "model.norm.weight").unwrap();
        let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!(norm["stats"]["max"].as_f64().unwrap() as f32, max);
        assert_eq!(norm["sample_values"].as_array().unwrap().len(), 2);
        let v = validate(&path, &f, false).unwrap();
        assert_eq!((v["passed"].as_bool(), v["checks"].as_array().unwrap().len()), (Some(true), 20));
        assert!(validate(&path, &f, true).unwrap()["checks"].as_array().unwrap().is_empty());
        assert_eq!(stats(&[1.0, f32::NAN, 3.0, f32::INFINITY]), (1.0, 3.0, 2.0, 1.0, 1, 1));
    }
}
