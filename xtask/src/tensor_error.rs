//! The tensor-error suite's edges: the dequantized files (apr's int8/int4 through
//! `apr export --format safetensors`, the correct quantizers' GGUFs through
//! `oracle-gen import-gguf`) as stamped steps of their own, kept out of convert.rs's
//! SPECS on purpose (every artifact there is a generation target of every runtime that
//! accepts it, and apr accepts any file); a small safetensors reader (one tensor in
//! memory at a time; f32, bf16, f16); the per-tensor statistics against the reference
//! checkpoint, cached by content; and the table of the worst tensors a reader sees.
//! The judge is `judge/tensor_error.rs`.

use crate::cache;
use crate::context::Ctx;
use crate::convert::{ArtifactState, Artifacts, Tools};
use crate::judge::tensor_error::{self as judge_te, Row, TensorErrors, TensorStat, PAIRS};
use crate::judge::{self, Observed};
use crate::report::RunResults;
use crate::roster::Model;
use crate::runner::{self, RunOptions};
use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use tmgt_schema::Invocation;

// ---------------------------------------------------------------- safetensors

/// One tensor's entry in a safetensors header.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TensorInfo {
    pub dtype: String,
    pub shape: Vec<usize>,
    pub data_offsets: [u64; 2],
}

/// A safetensors file's header: its tensors and where their data starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub tensors: BTreeMap<String, TensorInfo>,
    /// 8 + the header's length: data offsets count from here.
    pub data_start: u64,
    /// The header's `__metadata__` (empty when it has none).
    pub metadata: BTreeMap<String, serde_json::Value>,
}

/// Reads the header (8-byte little-endian length, then JSON; `__metadata__` kept apart).
pub fn read_header(path: &Utf8Path) -> Result<Header> {
    let mut f = std::fs::File::open(path).with_context(|| format!("{path}: cannot open"))?;
    let len = f.metadata()?.len();
    let mut n = [0u8; 8];
    f.read_exact(&mut n).with_context(|| format!("{path}: shorter than a safetensors header"))?;
    let n = u64::from_le_bytes(n);
    if n > len.saturating_sub(8) || n > 100 << 20 {
        bail!("{path}: header length {n} does not fit a file of {len} bytes");
    }
    let mut json = vec![0u8; n as usize];
    f.read_exact(&mut json)?;
    let raw: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&json).with_context(|| format!("{path}: the safetensors header is not JSON"))?;
    let mut tensors = BTreeMap::new();
    let data_start = 8 + n;
    let mut metadata = BTreeMap::new();
    for (name, v) in raw {
        if name == "__metadata__" {
            metadata = serde_json::from_value(v).with_context(|| format!("{path}: __metadata__ is not an object"))?;
            continue;
        }
        let info: TensorInfo = serde_json::from_value(v).with_context(|| format!("{path}: tensor {name}: bad header entry"))?;
        let [a, b] = info.data_offsets;
        let want = info.shape.iter().product::<usize>() as u64 * dtype_size(&info.dtype).unwrap_or(0) as u64;
        if a > b || data_start + b > len || (dtype_size(&info.dtype).is_some() && b - a != want) {
            bail!("{path}: tensor {name}: data offsets {a}..{b} do not hold {:?} {} in a file of {len} bytes", info.shape, info.dtype);
        }
        tensors.insert(name, info);
    }
    Ok(Header { tensors, data_start, metadata })
}

fn dtype_size(dtype: &str) -> Option<usize> {
    match dtype {
        "F32" => Some(4),
        "BF16" | "F16" => Some(2),
        _ => None,
    }
}

/// IEEE half to f32 (subnormals, inf and NaN included).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: value = f × 2^-24.
            let v = f as f32 * f32::from_bits(0x3380_0000);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// Decodes little-endian tensor bytes of `dtype` to f32.
pub fn decode(dtype: &str, bytes: &[u8]) -> Result<Vec<f32>> {
    Ok(match dtype {
        "F32" => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        "BF16" => bytes.chunks_exact(2).map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16)).collect(),
        "F16" => bytes.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect(),
        other => bail!("dtype {other} is not a float this reader knows (F32, BF16, F16)"),
    })
}

/// One tensor's values as f32, read alone from the file.
pub fn read_tensor(path: &Utf8Path, header: &Header, name: &str) -> Result<Vec<f32>> {
    let info = header.tensors.get(name).with_context(|| format!("{path}: no tensor {name}"))?;
    let [a, b] = info.data_offsets;
    let mut f = std::fs::File::open(path).with_context(|| format!("{path}: cannot open"))?;
    f.seek(SeekFrom::Start(header.data_start + a))?;
    let mut bytes = vec![0u8; (b - a) as usize];
    f.read_exact(&mut bytes).with_context(|| format!("{path}: tensor {name}: truncated"))?;
    decode(&info.dtype, &bytes).with_context(|| format!("{path}: tensor {name}"))
}

/// Every tensor of a set of files (a sharded checkpoint): name -> (file, header).
pub fn index(files: &[Utf8PathBuf]) -> Result<BTreeMap<String, (Utf8PathBuf, Header)>> {
    let mut out = BTreeMap::new();
    for file in files {
        let header = read_header(file)?;
        for name in header.tensors.keys() {
            if out.insert(name.clone(), (file.clone(), header.clone())).is_some() {
                bail!("{file}: tensor {name} is in two files");
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- statistics

/// The statistics of `other` against `reference` (same length), in f64: RMSE, max |Δ|,
/// cosine similarity (1 where both are all zero, 0 where only one is) and the
/// reference's RMS. Any NaN or inf in either makes the RMSE not finite.
pub fn stats(reference: &[f32], other: &[f32]) -> TensorStat {
    let (mut se, mut max, mut dot, mut rr, mut oo) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for (&r, &o) in reference.iter().zip(other) {
        let (r, o) = (r as f64, o as f64);
        let d = o - r;
        se += d * d;
        // NaN propagates: f64::max would drop it.
        max = if d.abs() > max || d.is_nan() { d.abs() } else { max };
        dot += r * o;
        rr += r * r;
        oo += o * o;
    }
    let n = reference.len().max(1) as f64;
    let cosine = match (rr > 0.0, oo > 0.0) {
        (true, true) => dot / (rr * oo).sqrt(),
        (false, false) => 1.0,
        _ => 0.0,
    };
    TensorStat { shape: vec![reference.len()], rmse: (se / n).sqrt(), max_abs: max, cosine, ref_rms: (rr / n).sqrt() }
}

/// Every reference tensor against the same name in `files`, one tensor pair in memory
/// at a time.
pub fn compare(reference: &[Utf8PathBuf], files: &[Utf8PathBuf]) -> Result<TensorErrors> {
    let want = index(reference)?;
    let got = index(files)?;
    let mut out = TensorErrors::default();
    for (name, (rfile, rheader)) in &want {
        let rinfo = &rheader.tensors[name];
        let Some((ofile, oheader)) = got.get(name) else {
            out.missing.push(name.clone());
            continue;
        };
        let oinfo = &oheader.tensors[name];
        if oinfo.shape != rinfo.shape {
            out.shape_mismatch.insert(name.clone(), (rinfo.shape.clone(), oinfo.shape.clone()));
            continue;
        }
        let r = read_tensor(rfile, rheader, name)?;
        let o = read_tensor(ofile, oheader, name)?;
        let mut s = stats(&r, &o);
        s.shape = rinfo.shape.clone();
        out.tensors.insert(name.clone(), s);
    }
    out.extra = got.keys().filter(|n| !want.contains_key(*n)).cloned().collect();
    Ok(out)
}

// ---------------------------------------------------------------- the steps

/// models/<slug>/dequant/: apr's exports as <artifact>.safetensors, oracle-gen's
/// imports as <artifact>/model.safetensors (git-ignored, like everything under models/).
fn dequant_dir(ctx: &Ctx, slug: &str) -> Utf8PathBuf {
    ctx.project.model_dir(slug).join("dequant")
}

/// The argv of one dequantization ({in}, {out} placeholders), by artifact.
fn dequant_args(artifact: &str) -> &'static [&'static str] {
    if exported_by_apr(artifact) {
        &["export", "{in}", "--format", "safetensors", "-o", "{out}", "--offline"]
    } else {
        &["import-gguf", "{in}", "--out", "{out}"]
    }
}

/// Is this artifact's safetensors form apr's export (its int8/int4, and its f32 APR for
/// the safetensors suite's round trip)?
fn exported_by_apr(artifact: &str) -> bool {
    judge_te::is_apr(artifact) || artifact == crate::judge::safetensors::EXPORT_FROM
}

/// The hash of this file: a change in how the statistics are computed is a new key.
fn stats_code() -> String {
    tmgt_schema::sha256_bytes(include_str!("tensor_error.rs").as_bytes())
}

/// Each artifact of `PAIRS` dequantized and compared with the reference: what the
/// tensor-error judge reads. A failed apr export is Failed with its invocation (the
/// judge FAILs apr's converter); a correct file that cannot be dequantized is Failed
/// with oracle-gen's (the judge blocks on it, about the harness).
pub fn observe(ctx: &Ctx, model: &Model, tools: &Tools, artifacts: &Artifacts) -> Result<BTreeMap<String, Observed<TensorErrors>>> {
    let reference = crate::util::files_under(&ctx.project.reference_dir(&model.slug), &["safetensors"]);
    let mut out = BTreeMap::new();
    for artifact in judge_te::artifacts() {
        let obs = match artifacts.get(artifact).map(|c| &c.state) {
            Some(ArtifactState::Ready(path)) => observe_one(ctx, model, tools, artifact, path, &reference)?,
            Some(state) => state.unavailable(artifact).expect("not ready"),
            None => Observed::Skipped { reason: format!("no {artifact} artifact is made for this model") },
        };
        if let Observed::Failed { error, invocation } = &obs {
            println!(
                "{}: tensor-error {artifact}: {} ({})",
                model.slug,
                judge::telling_line(error, invocation),
                judge::how_it_ended(invocation)
            );
        }
        out.insert(artifact.to_string(), obs);
    }
    Ok(out)
}

fn observe_one(
    ctx: &Ctx,
    model: &Model,
    tools: &Tools,
    artifact: &str,
    input: &Utf8Path,
    reference: &[Utf8PathBuf],
) -> Result<Observed<TensorErrors>> {
    let (files, invocation) = match dequantize(ctx, model, tools, artifact, input)? {
        Ok(made) => made,
        Err(obs) => return Ok(obs),
    };
    let dir = ctx.project.model_dir(&model.slug);
    let file = dir.join("observations").join(format!("tensor-error__{artifact}.json"));
    let stamp = file.with_extension("stamp.json");
    let mut inputs = BTreeMap::from([("code".to_string(), stats_code())]);
    for f in reference.iter().map(|f| ("reference", f)).chain(files.iter().map(|f| ("dequantized", f))) {
        inputs.insert(format!("{} {}", f.0, f.1.file_name().unwrap_or_default()), ctx.cache.sha256(f.1)?);
    }
    if !ctx.no_cache && cache::is_fresh(&stamp, &inputs, &ctx.cache) {
        if let Ok(obs) = crate::util::read_json::<Observed<TensorErrors>>(&file) {
            return Ok(obs);
        }
    }
    let t0 = std::time::Instant::now();
    let obs = match compare(reference, &files) {
        Ok(value) => Observed::Ok { value, invocation },
        // A file the tool wrote that cannot be read is that tool's (apr's: a FAIL).
        Err(e) => Observed::Failed { error: format!("its dequantized file cannot be read: {e:#}"), invocation },
    };
    println!("{}: tensor-error {artifact}: compared in {:.1}s", model.slug, t0.elapsed().as_secs_f64());
    crate::util::write_json(&file, &obs)?;
    cache::record(&stamp, "tensor-error", &inputs, std::slice::from_ref(&file), &ctx.cache)?;
    Ok(obs)
}

/// The dequantized safetensors of `artifact` (made now, or the stamped ones) and the
/// invocation that made them; Err: the observation saying why there are none.
#[allow(clippy::type_complexity)]
pub fn dequantize<T>(
    ctx: &Ctx,
    model: &Model,
    tools: &Tools,
    artifact: &str,
    input: &Utf8Path,
) -> Result<Result<(Vec<Utf8PathBuf>, Invocation), Observed<T>>> {
    let apr = exported_by_apr(artifact);
    let (program, version) = if apr {
        match &tools.apr {
            Ok(v) => (tools.apr_program.clone(), v.clone()),
            Err(why) => {
                let signature = "apr is not installed here".into();
                return Ok(Err(Observed::Blocked { step: "install-apr".into(), reason: why.clone(), signature }));
            }
        }
    } else {
        match &tools.oracle_gen {
            Some(bin) => (bin.to_string(), format!("oracle-gen {}", tools.oracle_source)),
            None => {
                let signature = "oracle-gen not built".into();
                return Ok(Err(Observed::Blocked { step: "build oracle-gen".into(), reason: "oracle-gen not built".into(), signature }));
            }
        }
    };
    let dir = dequant_dir(ctx, &model.slug);
    std::fs::create_dir_all(&dir)?;
    // apr picks the format by the extension; oracle-gen writes a folder.
    let (out, tmp) = if apr {
        (dir.join(format!("{artifact}.safetensors")), dir.join(format!(".tmp-{artifact}.safetensors")))
    } else {
        (dir.join(artifact), dir.join(format!(".tmp-{artifact}")))
    };
    let args = dequant_args(artifact);
    let inputs = BTreeMap::from([
        ("input".to_string(), ctx.cache.sha256(input)?),
        ("tool".to_string(), version),
        ("args".to_string(), args.join(" ")),
    ]);
    let step = format!("dequant-{artifact}");
    let stamp = cache::stamp_path(&ctx.project.model_dir(&model.slug), &step);
    let recorded = stamp.with_extension("invocation.json");
    let files_of = |out: &Utf8Path| if apr { vec![out.to_path_buf()] } else { crate::util::files_under(out, &["safetensors"]) };
    if !ctx.no_cache && cache::is_fresh(&stamp, &inputs, &ctx.cache) {
        if let Ok(inv) = crate::util::read_json::<Invocation>(&recorded) {
            return Ok(Ok((files_of(&out), inv)));
        }
    }
    runner::remove_path(tmp.as_std_path());
    let _tmp_guard = runner::TempPath::new(tmp.as_std_path());
    let mut argv = vec![program];
    argv.extend(args.iter().map(|a| a.replace("{in}", input.as_str()).replace("{out}", tmp.as_str())));
    println!("{}: {step}: {}", model.slug, Invocation { command: argv.clone(), ..Default::default() }.command_line());
    let inv = runner::run(&argv, &RunOptions::with_timeout(crate::runtime::default_timeout()));
    if let Err(failure) = runner::check(&inv) {
        return Ok(Err(Observed::Failed { error: failure.to_string(), invocation: inv }));
    }
    let made = files_of(&tmp);
    if !tmp.exists() || made.is_empty() {
        let error = format!("exited 0 but wrote no safetensors at {}", tmp.file_name().unwrap_or_default());
        return Ok(Err(Observed::Failed { error, invocation: inv }));
    }
    runner::remove_path(out.as_std_path());
    std::fs::rename(&tmp, &out).with_context(|| format!("cannot rename {tmp} to {out}"))?;
    let files = files_of(&out);
    println!("{}: {step}: done in {:.1}s", model.slug, inv.duration_s);
    crate::util::write_json(&recorded, &inv)?;
    cache::record(&stamp, &step, &inputs, &files, &ctx.cache)?;
    Ok(Ok((files, inv)))
}

// ---------------------------------------------------------------- what a reader sees

/// One markdown table per (model, apr artifact): its ten worst tensors by RMSE ratio,
/// with each correct quantizer's RMSE beside apr's (from the outcomes' evidence).
pub fn tables(r: &RunResults) -> String {
    use comfy_table::presets::ASCII_MARKDOWN;
    use comfy_table::{ContentArrangement, Table};
    use std::fmt::Write as _;
    let mut out = String::new();
    for o in r.outcomes.iter().filter(|o| o.suite == judge_te::SUITE) {
        let Ok(rows) = serde_json::from_value::<Vec<Row>>(o.evidence.details["worst"].clone()) else { continue };
        if rows.is_empty() {
            continue;
        }
        let correct: Vec<String> =
            PAIRS.iter().find(|p| p.apr == o.case).map(|p| p.correct.iter().map(|c| c.to_string()).collect()).unwrap_or_default();
        let mut table = Table::new();
        let mut header: Vec<String> = vec!["Tensor".into(), format!("apr {} RMSE", o.case), "rel. (RMSE/RMS)".into(), "cosine".into()];
        header.extend(correct.iter().map(|c| format!("{c} RMSE")));
        header.extend(["ratio to best".into(), String::new()]);
        table.set_header(header);
        for row in rows {
            let mut cells = vec![
                row.tensor.clone(),
                format!("{:.3e}", row.apr_rmse),
                format!("{:.2e}", row.apr_rmse / row.ref_rms),
                format!("{:.6}", row.cosine),
            ];
            cells.extend(correct.iter().map(|c| row.correct.get(c).map_or("—".into(), |v| format!("{v:.3e}"))));
            cells.push(match row.ratio {
                Some(x) => format!("{x:.2}× {}", row.best),
                None => format!("∞ ({} exact)", row.best),
            });
            cells.push(if row.within { "ok".into() } else { "BEYOND".into() });
            table.add_row(cells);
        }
        table.load_preset(ASCII_MARKDOWN).set_content_arrangement(ContentArrangement::Disabled).force_no_tty();
        let text = table.lines().map(|l| l.trim_end().to_string()).collect::<Vec<_>>().join("\n");
        let _ = write!(
            out,
            "\n### Tensor error, {} {} ({} worst tensors by RMSE against the reference over the best correct quantizer's; bound {}×; {})\n\n{text}\n",
            o.model,
            o.case,
            judge_te::WORST_KEPT,
            r.tolerances.tensor_error_max_ratio,
            o.status.as_str()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_by_hand() {
        let s = stats(&[1.0, 2.0, 3.0], &[1.0, 2.0, 4.0]);
        assert!((s.rmse - (1.0f64 / 3.0).sqrt()).abs() < 1e-15, "{}", s.rmse);
        assert_eq!(s.max_abs, 1.0);
        // dot 1+4+12 = 17; |a| = √14, |b| = √21.
        assert!((s.cosine - 17.0 / (14.0f64.sqrt() * 21.0f64.sqrt())).abs() < 1e-15, "{}", s.cosine);
        assert!((s.ref_rms - (14.0f64 / 3.0).sqrt()).abs() < 1e-15);
        let same = stats(&[1.0, -2.0], &[1.0, -2.0]);
        assert_eq!((same.rmse, same.max_abs), (0.0, 0.0));
        assert!((same.cosine - 1.0).abs() < 1e-15);
        // The larger |Δ| wins, whatever its sign or position.
        assert_eq!(stats(&[0.0, 0.0, 0.0], &[-3.0, 1.0, 2.0]).max_abs, 3.0);
    }

    #[test]
    fn stats_edge_cases() {
        let zeros = stats(&[0.0, 0.0], &[0.0, 0.0]);
        assert_eq!((zeros.rmse, zeros.cosine, zeros.ref_rms), (0.0, 1.0, 0.0));
        assert_eq!(stats(&[0.0, 0.0], &[1.0, 0.0]).cosine, 0.0);
        assert_eq!(stats(&[1.0, 0.0], &[0.0, 0.0]).cosine, 0.0);
        let nan = stats(&[1.0, 2.0], &[f32::NAN, 2.0]);
        assert!(nan.rmse.is_nan() && nan.max_abs.is_nan());
        let nan_late = stats(&[1.0, 2.0], &[1.0, f32::NAN]);
        assert!(nan_late.max_abs.is_nan(), "a NaN after a finite maximum still shows");
        assert_eq!(stats(&[], &[]).rmse, 0.0);
        assert_eq!(stats(&[1.0, 1.0], &[-1.0, -1.0]).cosine, -1.0);
    }

    #[test]
    fn halves_decode() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x8001), -(2f32.powi(-24)));
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x3555), 0.33325195);
        assert_eq!(decode("BF16", &0x3f80u16.to_le_bytes()).unwrap(), [1.0]);
        assert_eq!(decode("F16", &0x3c00u16.to_le_bytes()).unwrap(), [1.0]);
        assert!(decode("I8", &[1]).is_err());
    }

    /// A safetensors file: (name, dtype, shape, little-endian bytes).
    fn write_file(path: &Utf8Path, tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) {
        let mut header = serde_json::Map::new();
        header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
        let mut data = Vec::new();
        for (name, dtype, shape, bytes) in tensors {
            let a = data.len();
            data.extend_from_slice(bytes);
            header.insert(name.to_string(), serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [a, data.len()]}));
        }
        let json = serde_json::to_vec(&header).unwrap();
        let mut file = (json.len() as u64).to_le_bytes().to_vec();
        file.extend(json);
        file.extend(data);
        std::fs::write(path, file).unwrap();
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn reads_and_compares_small_files() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(dir.path()).unwrap();
        let (reference, other) = (dir.join("ref.safetensors"), dir.join("deq.safetensors"));
        write_file(
            &reference,
            &[
                ("a", "F32", vec![3], f32s(&[1.0, 2.0, 3.0])),
                ("b", "F32", vec![2, 1], f32s(&[1.0, 1.0])),
                ("c", "F32", vec![1], f32s(&[5.0])),
            ],
        );
        let bf16: Vec<u8> = [1.0f32, 2.0, 4.0].iter().flat_map(|x| ((x.to_bits() >> 16) as u16).to_le_bytes()).collect();
        write_file(
            &other,
            &[("a", "BF16", vec![3], bf16), ("b", "F32", vec![1, 2], f32s(&[1.0, 1.0])), ("d", "F32", vec![1], f32s(&[0.0]))],
        );
        let h = read_header(&other).unwrap();
        assert_eq!(h.tensors["a"].shape, [3]);
        assert_eq!(read_tensor(&other, &h, "a").unwrap(), [1.0, 2.0, 4.0]);
        let e = compare(std::slice::from_ref(&reference), std::slice::from_ref(&other)).unwrap();
        assert_eq!(e.tensors.len(), 1);
        assert!((e.tensors["a"].rmse - (1.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(e.tensors["a"].shape, [3]);
        assert_eq!(e.missing, ["c"]);
        assert_eq!(e.extra, ["d"]);
        assert_eq!(e.shape_mismatch["b"], (vec![2, 1], vec![1, 2]));
    }

    /// The measurement on real files (`TMGT_TENSOR_PROBE=DIR cargo test -p xtask --bin
    /// xtask -- --ignored measure_`): DIR holds reference/, int8.safetensors,
    /// int4.safetensors and one folder per correct artifact (q8_0-gguf/, …) as the
    /// steps above make them; prints each verdict and the tables of the worst tensors.
    #[test]
    #[ignore = "reads real model files named by TMGT_TENSOR_PROBE"]
    fn measure_real_files() {
        let dir = Utf8PathBuf::from(std::env::var("TMGT_TENSOR_PROBE").expect("TMGT_TENSOR_PROBE"));
        let reference = crate::util::files_under(&dir.join("reference"), &["safetensors"]);
        let mut ev = judge::ModelEvidence::new(dir.file_name().unwrap_or("probe"));
        for artifact in judge_te::artifacts() {
            let files = if judge_te::is_apr(artifact) {
                vec![dir.join(format!("{artifact}.safetensors"))]
            } else {
                crate::util::files_under(&dir.join(artifact), &["safetensors"])
            };
            let t0 = std::time::Instant::now();
            let obs = match compare(&reference, &files) {
                Ok(value) => Observed::Ok { value, invocation: Invocation::default() },
                Err(e) => Observed::Failed { error: format!("{e:#}"), invocation: Invocation::default() },
            };
            println!("{artifact}: compared in {:.1}s", t0.elapsed().as_secs_f64());
            ev.tensor_errors.insert(artifact.to_string(), obs);
        }
        let tol: judge::Tolerances = {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("roster.toml");
            let roster: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            roster["tolerances"].clone().try_into().unwrap()
        };
        let outcomes = judge_te::judge(&ev, &tol);
        for o in &outcomes {
            println!("{} {}: {} — {}\n  signature: {}", o.status.as_str(), o.case, o.subject.label(), o.note, o.signature);
            println!("  offenders: {}", o.evidence.details["offenders"]);
        }
        let mut r = crate::report::tests::sample_results();
        r.tolerances = tol;
        r.outcomes = outcomes;
        println!("{}", tables(&r));
    }

    #[test]
    fn refuses_broken_files() {
        let dir = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(dir.path()).unwrap();
        let short = dir.join("short.safetensors");
        std::fs::write(&short, [1u8, 2]).unwrap();
        assert!(read_header(&short).is_err());
        let long = dir.join("long.safetensors");
        std::fs::write(&long, [255u8; 16]).unwrap();
        assert!(read_header(&long).unwrap_err().to_string().contains("does not fit"));
        let past = dir.join("past.safetensors");
        write_file(&past, &[("a", "F32", vec![3], f32s(&[1.0, 2.0]))]);
        assert!(read_header(&past).unwrap_err().to_string().contains("do not hold"));
        let twice = dir.join("twice.safetensors");
        write_file(&twice, &[("a", "F32", vec![1], f32s(&[1.0]))]);
        assert!(index(&[twice.clone(), twice]).unwrap_err().to_string().contains("in two files"));
    }
}
