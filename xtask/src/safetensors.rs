//! The safetensors suite's edges: the reference model.safetensors read by the harness
//! itself (its header and the statistics of every tensor's data, in f64, cached by the
//! file's content), and apr's f32 APR exported back to safetensors (`apr export f32.apr
//! --format safetensors`, the same stamped step as the tensor-error suite's dequantized
//! files, under `models/<slug>/dequant/f32.safetensors`: never an artifact a runtime
//! runs) compared with the checkpoint tensor by tensor with `tensor_error`'s reader.
//! The judge is `judge/safetensors.rs`.

use crate::cache;
use crate::context::Ctx;
use crate::convert::{ArtifactState, Artifacts, Tools};
use crate::judge::safetensors::{Checkpoint, RoundTrip, TensorFacts, ARTIFACT, EXPORT_FROM};
use crate::judge::Observed;
use crate::roster::Model;
use crate::tensor_error::{index, read_header, read_tensor};
use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};
use std::collections::BTreeMap;
use tmgt_schema::Invocation;

/// Statistics of a tensor's finite values in f64 (all 0 when none), NaN and ±inf counted.
pub fn tensor_stats(values: &[f32]) -> (f64, f64, f64, f64, u64, u64) {
    let (mut lo, mut hi, mut sum, mut n, mut nan, mut inf) = (f64::INFINITY, f64::NEG_INFINITY, 0f64, 0u64, 0u64, 0u64);
    for &v in values {
        if v.is_nan() {
            nan += 1;
        } else if v.is_infinite() {
            inf += 1;
        } else {
            let v = v as f64;
            lo = lo.min(v);
            hi = hi.max(v);
            sum += v;
            n += 1;
        }
    }
    if n == 0 {
        return (0.0, 0.0, 0.0, 0.0, nan, inf);
    }
    let mean = sum / n as f64;
    let var = values.iter().filter(|v| v.is_finite()).map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
    (lo, hi, mean, var.sqrt(), nan, inf)
}

/// The checkpoint file as the harness reads it, one tensor in memory at a time.
pub fn read_checkpoint(path: &Utf8Path) -> Result<Checkpoint> {
    let header = read_header(path)?;
    let mut tensors = BTreeMap::new();
    for (name, info) in &header.tensors {
        let (min, max, mean, std, nan, inf) = tensor_stats(&read_tensor(path, &header, name)?);
        let bytes = info.data_offsets[1] - info.data_offsets[0];
        tensors.insert(
            name.clone(),
            TensorFacts { dtype: info.dtype.clone(), shape: info.shape.clone(), bytes, min, max, mean, std, nan, inf },
        );
    }
    Ok(Checkpoint { file_size: std::fs::metadata(path)?.len(), metadata: header.metadata, tensors })
}

/// The export against the checkpoint: names, shapes, dtypes, every value's bits (max
/// |Δ| == 0 in f64, and the same bit patterns) and `__metadata__`.
pub fn round_trip(reference: &Utf8Path, export: &[Utf8PathBuf]) -> Result<RoundTrip> {
    let want = read_header(reference)?;
    let got = index(export)?;
    let mut r = RoundTrip { metadata_reference: want.metadata.clone(), ..Default::default() };
    for (file, header) in got.values() {
        if export.first() == Some(file) {
            r.metadata_export = header.metadata.clone();
        }
    }
    for (name, info) in &want.tensors {
        let Some((file, header)) = got.get(name) else {
            r.missing.push(name.clone());
            continue;
        };
        let other = &header.tensors[name];
        if other.shape != info.shape {
            r.shape_mismatch.insert(name.clone(), (info.shape.clone(), other.shape.clone()));
            continue;
        }
        if other.dtype != info.dtype {
            r.dtype_mismatch.insert(name.clone(), (info.dtype.clone(), other.dtype.clone()));
            continue;
        }
        let (a, b) = (read_tensor(reference, &want, name)?, read_tensor(file, header, name)?);
        r.compared += 1;
        if a.iter().zip(&b).any(|(x, y)| x.to_bits() != y.to_bits()) {
            let s = crate::tensor_error::stats(&a, &b);
            r.differing.insert(name.clone(), s.max_abs.is_finite().then_some(s.max_abs));
        }
    }
    r.extra = got.keys().filter(|n| !want.tensors.contains_key(*n)).cloned().collect();
    Ok(r)
}

fn code() -> String {
    tmgt_schema::sha256_bytes(include_str!("safetensors.rs").as_bytes())
}

/// A value computed from files, cached under `observations/<name>.json` by the files'
/// hashes and this file's code.
fn cached<T: serde::Serialize + serde::de::DeserializeOwned>(
    ctx: &Ctx,
    model: &Model,
    name: &str,
    files: &[(&str, &Utf8Path)],
    make: impl FnOnce() -> Observed<T>,
) -> Result<Observed<T>> {
    let file = ctx.project.model_dir(&model.slug).join("observations").join(format!("{name}.json"));
    let stamp = file.with_extension("stamp.json");
    let mut inputs = BTreeMap::from([("code".to_string(), code())]);
    for (role, f) in files {
        inputs.insert(format!("{role} {}", f.file_name().unwrap_or_default()), ctx.cache.sha256(f)?);
    }
    if !ctx.no_cache && cache::is_fresh(&stamp, &inputs, &ctx.cache) {
        if let Ok(obs) = crate::util::read_json::<Observed<T>>(&file) {
            return Ok(obs);
        }
    }
    let obs = make();
    crate::util::write_json(&file, &obs)?;
    cache::record(&stamp, name, &inputs, std::slice::from_ref(&file), &ctx.cache)?;
    Ok(obs)
}

/// The suite's two observations: the checkpoint's facts and the export round trip.
pub fn observe(ctx: &Ctx, model: &Model, tools: &Tools, artifacts: &Artifacts) -> Result<(Observed<Checkpoint>, Observed<RoundTrip>)> {
    let reference = match artifacts.get(ARTIFACT).map(|c| &c.state) {
        Some(ArtifactState::Ready(path)) => path.clone(),
        Some(state) => {
            let why = state.unavailable::<()>(ARTIFACT).expect("not ready");
            return Ok((crate::judge::recast(&why), crate::judge::recast(&why)));
        }
        None => {
            let reason = "no single model.safetensors in the reference checkpoint".to_string();
            return Ok((Observed::Skipped { reason: reason.clone() }, Observed::Skipped { reason }));
        }
    };
    let facts = cached(ctx, model, "safetensors__checkpoint", &[("reference", &reference)], || match read_checkpoint(&reference) {
        Ok(value) => Observed::Ok { value, invocation: Invocation::default() },
        Err(e) => Observed::Failed { error: format!("the harness cannot read the checkpoint: {e:#}"), invocation: Invocation::default() },
    })?;
    let export = match artifacts.get(EXPORT_FROM).map(|c| &c.state) {
        Some(ArtifactState::Ready(input)) => match crate::tensor_error::dequantize::<RoundTrip>(ctx, model, tools, EXPORT_FROM, input)? {
            Err(obs) => obs,
            Ok((files, invocation)) => {
                let inputs: Vec<(&str, &Utf8Path)> =
                    std::iter::once(("reference", reference.as_path())).chain(files.iter().map(|f| ("export", f.as_path()))).collect();
                cached(ctx, model, "safetensors__export", &inputs, || match round_trip(&reference, &files) {
                    Ok(value) => Observed::Ok { value, invocation: invocation.clone() },
                    // A file apr wrote that the harness's reader refuses is apr's.
                    Err(e) => {
                        Observed::Failed { error: format!("its exported file cannot be read: {e:#}"), invocation: invocation.clone() }
                    }
                })?
            }
        },
        Some(state) => state.unavailable(EXPORT_FROM).expect("not ready"),
        None => Observed::Skipped { reason: format!("no {EXPORT_FROM} artifact is made for this model") },
    };
    Ok((facts, export))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{self, ModelEvidence, StructureKey};

    #[test]
    fn statistics_by_hand() {
        let (lo, hi, mean, std, nan, inf) = tensor_stats(&[1.0, 3.0, f32::NAN, f32::INFINITY, -1.0]);
        assert_eq!((lo, hi, mean, nan, inf), (-1.0, 3.0, 1.0, 1, 1));
        assert!((std - (8.0f64 / 3.0).sqrt()).abs() < 1e-15, "{std}");
        assert_eq!(tensor_stats(&[f32::NAN]), (0.0, 0.0, 0.0, 0.0, 1, 0));
    }

    fn write(path: &Utf8Path, metadata: serde_json::Value, tensors: &[(&str, &str, Vec<usize>, Vec<f32>)]) {
        let mut header = serde_json::Map::new();
        header.insert("__metadata__".into(), metadata);
        let mut data = Vec::new();
        for (name, dtype, shape, values) in tensors {
            let a = data.len();
            match *dtype {
                "F32" => data.extend(values.iter().flat_map(|v| v.to_le_bytes())),
                _ => data.extend(values.iter().flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())),
            }
            header.insert(name.to_string(), serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [a, data.len()]}));
        }
        let json = serde_json::to_vec(&header).unwrap();
        let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
        bytes.extend(json);
        bytes.extend(data);
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn the_checkpoint_and_a_round_trip_of_small_files() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(dir.path()).unwrap();
        let (reference, export) = (dir.join("ref.safetensors"), dir.join("out.safetensors"));
        let meta = serde_json::json!({"format": "pt"});
        write(
            &reference,
            meta.clone(),
            &[
                ("a", "F32", vec![2], vec![1.0, 2.0]),
                ("b", "F32", vec![2], vec![1.0, -0.0]),
                ("c", "F32", vec![1], vec![5.0]),
                ("d", "F32", vec![2], vec![1.0, 2.0]),
                ("e", "F32", vec![1], vec![1.0]),
            ],
        );
        let c = read_checkpoint(&reference).unwrap();
        assert_eq!((c.tensors.len(), c.params(), c.data_bytes()), (5, 8, 32));
        assert_eq!(c.metadata["format"], "pt");
        assert_eq!(c.file_size, std::fs::metadata(&reference).unwrap().len());
        assert_eq!((c.tensors["a"].min, c.tensors["a"].max, c.tensors["a"].mean, c.tensors["a"].std), (1.0, 2.0, 1.5, 0.5));
        write(&export, meta.clone(), &[("a", "F32", vec![2], vec![1.0, 2.0]), ("b", "F32", vec![2], vec![1.0, 0.0])]);
        let same = round_trip(&export, std::slice::from_ref(&export)).unwrap();
        assert_eq!((same.compared, same.differing.len()), (2, 0));
        write(
            &export,
            serde_json::json!({"format": "apr"}),
            &[
                ("a", "F32", vec![2], vec![1.0, 2.0]),
                ("b", "F32", vec![2], vec![1.0, 0.0]),
                ("c", "F32", vec![1], vec![f32::NAN]),
                ("d", "F32", vec![1, 2], vec![1.0, 2.0]),
                ("e", "BF16", vec![1], vec![1.0]),
                ("x", "F32", vec![1], vec![0.0]),
            ],
        );
        let r = round_trip(&reference, std::slice::from_ref(&export)).unwrap();
        assert_eq!(r.compared, 3);
        // -0.0 vs 0.0: |Δ| is 0, the bits are not.
        assert_eq!(r.differing, BTreeMap::from([("b".to_string(), Some(0.0)), ("c".to_string(), None)]));
        assert_eq!(r.shape_mismatch["d"], (vec![2], vec![1, 2]));
        assert_eq!(r.dtype_mismatch["e"], ("F32".to_string(), "BF16".to_string()));
        assert_eq!(r.extra, ["x"]);
        assert_eq!(r.metadata_export["format"], "apr");
        assert_eq!(r.metadata_reference["format"], "pt");
        write(&export, meta, &[("a", "F32", vec![2], vec![1.0, 2.0])]);
        assert_eq!(round_trip(&reference, std::slice::from_ref(&export)).unwrap().missing, ["b", "c", "d", "e"]);
    }

    /// The measurement with the real apr (`TMGT_ST_PROBE=DIR cargo test -p xtask --bin
    /// xtask -- --ignored measure_checkpoint`): DIR holds reference/ (config.json,
    /// model.safetensors), apr's outputs as <command>.json (tensors, inspect, validate,
    /// debug, tree, hex) and f32-export.safetensors.
    #[test]
    #[ignore = "reads real model files named by TMGT_ST_PROBE"]
    fn measure_checkpoint() {
        let dir = Utf8PathBuf::from(std::env::var("TMGT_ST_PROBE").expect("TMGT_ST_PROBE"));
        let reference = dir.join("reference/model.safetensors");
        let mut ev = ModelEvidence::new("probe");
        ev.truth = Some(crate::truth::read(&dir.join("reference")).unwrap());
        let t0 = std::time::Instant::now();
        ev.safetensors = Some(Observed::Ok { value: read_checkpoint(&reference).unwrap(), invocation: Invocation::default() });
        println!("checkpoint read in {:.1}s", t0.elapsed().as_secs_f64());
        for (case, _) in judge::safetensors::CALLS {
            let stdout = std::fs::read_to_string(dir.join(format!("{case}.json"))).unwrap();
            let inv = Invocation {
                exit_code: Some(0),
                stdout: stdout.clone(),
                command: vec!["apr".into(), case.to_string()],
                ..Default::default()
            };
            let obs = match crate::runtime::strict_json(&stdout) {
                Ok(value) => Observed::Ok { value, invocation: inv },
                Err(error) => Observed::Failed { error, invocation: inv },
            };
            ev.structure.insert(StructureKey::new(judge::safetensors::SUITE, case), obs);
        }
        let t0 = std::time::Instant::now();
        let r = round_trip(&reference, &[dir.join("f32-export.safetensors")]).unwrap();
        println!(
            "round trip compared in {:.1}s: {} compared, {} differing, metadata {:?} vs {:?}",
            t0.elapsed().as_secs_f64(),
            r.compared,
            r.differing.len(),
            r.metadata_export,
            r.metadata_reference
        );
        ev.safetensors_export = Some(Observed::Ok { value: r, invocation: Invocation::default() });
        let tol: judge::Tolerances = {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("roster.toml");
            let roster: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            roster["tolerances"].clone().try_into().unwrap()
        };
        for o in judge::safetensors::judge(&ev, &tol) {
            println!("{} {} [{}]: {}\n  signature: {}", o.status.as_str(), o.case, o.subject.label(), o.note, o.signature);
        }
    }
}
