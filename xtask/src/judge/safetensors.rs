//! The safetensors suite: apr on the raw reference checkpoint (`reference/model.safetensors`,
//! the `safetensors` artifact) against what the harness reads from the file itself.
//! `apr tensors / inspect / validate / debug / tree --json` against the header (names,
//! shapes, dtypes, count, parameters, sizes, `__metadata__`); `apr hex --stats --json`
//! against the per-tensor min/max/mean/std the harness computes from the data (min and
//! max exact in f32, mean and std within `safetensors_stats_rel_max` × the tensor's
//! RMS); and the export round trip: `apr export f32.apr --format safetensors` must give
//! back every tensor bit for bit (names, shapes, dtypes, values) and the same
//! `__metadata__`. What apr prints about the checkpoint is its runtime's; a lossy round
//! trip its converter's. The edges (the facts, the export step) are `crate::safetensors`.

use super::structure::json::{num, real, text};
use super::structure::{Inspection, Reading};
use super::subject::{Subject, CONVERTER, RUNTIME};
use super::*;
use serde_json::Value;

pub const SUITE: &str = "safetensors";
/// The artifact apr's inspections read: the checkpoint's own file.
pub const ARTIFACT: &str = "safetensors";
/// The artifact apr exports back to safetensors: its unquantized import.
pub const EXPORT_FROM: &str = "f32";
pub const EXPORT_CASE: &str = "export";
/// apr's inspections on the checkpoint, one case each (hex: `--stats --limit 4`, every
/// tensor in one call).
pub const CALLS: &[(&str, Inspection)] = &[
    ("tensors", Inspection::Tensors),
    ("inspect", Inspection::Inspect),
    ("validate", Inspection::Validate),
    ("debug", Inspection::Debug),
    ("tree", Inspection::Tree),
    ("hex", Inspection::Hex),
];

/// One tensor as the harness reads it: its header entry and statistics of its finite
/// values computed in f64 (0 when it has none), with its NaN and ±inf counted apart.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TensorFacts {
    pub dtype: String,
    pub shape: Vec<usize>,
    /// data_offsets[1] − data_offsets[0].
    pub bytes: u64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// Population standard deviation (÷ n).
    pub std: f64,
    pub nan: u64,
    pub inf: u64,
}

impl TensorFacts {
    pub fn elements(&self) -> u64 {
        self.shape.iter().map(|&d| d as u64).product()
    }
}

/// The checkpoint's file as the harness reads it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    pub file_size: u64,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: BTreeMap<String, TensorFacts>,
}

impl Checkpoint {
    pub fn data_bytes(&self) -> u64 {
        self.tensors.values().map(|t| t.bytes).sum()
    }
    pub fn params(&self) -> u64 {
        self.tensors.values().map(TensorFacts::elements).sum()
    }
    fn nan(&self) -> u64 {
        self.tensors.values().map(|t| t.nan).sum()
    }
    fn inf(&self) -> u64 {
        self.tensors.values().map(|t| t.inf).sum()
    }
}

/// apr's export of its f32 APR against the checkpoint, tensor by tensor.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RoundTrip {
    /// Tensors compared value by value (same name, shape and dtype).
    pub compared: usize,
    pub missing: Vec<String>,
    pub extra: Vec<String>,
    /// name → (the checkpoint's, the export's).
    pub shape_mismatch: BTreeMap<String, (Vec<usize>, Vec<usize>)>,
    pub dtype_mismatch: BTreeMap<String, (String, String)>,
    /// name → max |Δ| (None: not finite), for every tensor whose values differ.
    pub differing: BTreeMap<String, Option<f64>>,
    pub metadata_reference: BTreeMap<String, Value>,
    pub metadata_export: BTreeMap<String, Value>,
}

/// Field-level problems: (note, model-independent signature); the first signs.
#[derive(Default)]
struct Problems(Vec<(String, String)>);

impl Problems {
    fn push(&mut self, note: impl Into<String>, sig: impl Into<String>) {
        self.0.push((note.into(), sig.into()));
    }
    fn verdict(self, pass: String, expected: &str) -> Reading {
        match self.0.first() {
            None => Reading::Pass(pass),
            Some((_, sig)) => Reading::Fail {
                note: self.0.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join("; "),
                signature: sig.clone(),
                expected: expected.to_string(),
            },
        }
    }
}

fn sig(command: &str, what: &str) -> String {
    format!("apr: {command} on a safetensors file: {what}")
}

/// A number apr must print and the file's value.
fn equal(p: &mut Problems, command: &str, field: &str, got: Option<u64>, want: u64) {
    match got {
        None => p.push(format!("{field} missing"), sig(command, &format!("{field} missing"))),
        Some(g) if g == want => {}
        Some(g) => p.push(format!("{field} {g}, the file's {want}"), sig(command, &format!("wrong {field}"))),
    }
}

fn arch(p: &mut Problems, command: &str, truth: &ModelTruth, got: Option<&str>) {
    match got.map(str::trim) {
        Some(a)
            if a.eq_ignore_ascii_case(truth.arch.as_str())
                || tmgt_schema::Arch::from_model_type(&a.to_ascii_lowercase()) == Some(truth.arch) => {}
        other => p.push(format!("architecture {other:?}, config.json's {}", truth.arch), sig(command, "wrong architecture")),
    }
}

/// A listing (name, shape, dtype when printed) against the header: every tensor once,
/// its shape as stored (safetensors keeps HF order) and its dtype.
fn listing(p: &mut Problems, command: &str, found: &[Found], c: &Checkpoint) {
    let missing: Vec<&String> = c.tensors.keys().filter(|n| !found.iter().any(|f| &f.0 == *n)).collect();
    if let Some(first) = missing.first() {
        p.push(format!("{} checkpoint tensors not listed (e.g. {first})", missing.len()), sig(command, "tensors missing"));
    }
    let unexpected: Vec<&String> = found.iter().map(|f| &f.0).filter(|n| !c.tensors.contains_key(*n)).collect();
    if let Some(first) = unexpected.first() {
        p.push(format!("{} tensors the file does not hold (e.g. {first})", unexpected.len()), sig(command, "unexpected tensors"));
    }
    let distinct: std::collections::BTreeSet<&String> = found.iter().map(|f| &f.0).collect();
    if distinct.len() < found.len() {
        p.push(format!("{} entries for {} names", found.len(), distinct.len()), sig(command, "a tensor listed twice"));
    }
    let shapes: Vec<String> = found
        .iter()
        .filter_map(|(n, s, _)| Some((n, s.as_ref()?, c.tensors.get(n)?)))
        .filter(|(_, s, t)| **s != t.shape)
        .map(|(n, s, t)| format!("{n}: {s:?}, the file's {:?}", t.shape))
        .collect();
    if let Some(first) = shapes.first() {
        p.push(format!("{} wrong shapes (e.g. {first})", shapes.len()), sig(command, "wrong tensor shapes"));
    }
    let dtypes: Vec<String> = found
        .iter()
        .filter_map(|(n, _, d)| Some((n, d.as_ref()?, c.tensors.get(n)?)))
        .filter(|(_, d, t)| !d.eq_ignore_ascii_case(&t.dtype))
        .map(|(n, d, t)| format!("{n}: {d}, the file's {}", t.dtype))
        .collect();
    if let Some(first) = dtypes.first() {
        p.push(format!("{} wrong dtypes (e.g. {first})", dtypes.len()), sig(command, "wrong tensor dtypes"));
    }
}

type Found = (String, Option<Vec<usize>>, Option<String>);

/// Each item's name (or, for tree leaves, path), shape and dtype; None: one has no name.
fn entries(items: &[&Value], name_key: &str) -> Option<Vec<Found>> {
    items
        .iter()
        .map(|t| {
            let name = text(t, &[name_key])?.to_string();
            let shape = t.get("shape").and_then(Value::as_array).map(|a| a.iter().filter_map(|d| d.as_u64().map(|d| d as usize)).collect());
            Some((name, shape, text(t, &["dtype"]).map(str::to_string)))
        })
        .collect()
}

/// `apr tensors --json`: {tensor_count, total_size_bytes, tensors: [{name, shape, dtype, size_bytes}]}.
pub fn check_tensors(v: &Value, c: &Checkpoint) -> Reading {
    let Some(items) = v.get("tensors").and_then(Value::as_array) else { return Reading::Unrecognised("no \"tensors\" array".into()) };
    let Some(found) = entries(&items.iter().collect::<Vec<_>>(), "name") else {
        return Reading::Unrecognised("a tensors entry without \"name\"".into());
    };
    let mut p = Problems::default();
    listing(&mut p, "tensors", &found, c);
    equal(&mut p, "tensors", "tensor_count", num(v, &["tensor_count"]), c.tensors.len() as u64);
    equal(&mut p, "tensors", "total_size_bytes", num(v, &["total_size_bytes"]), c.data_bytes());
    let sizes = items.iter().filter(|t| {
        let want = text(t, &["name"]).and_then(|n| c.tensors.get(n)).map(|t| t.bytes);
        want.is_some() && num(t, &["size_bytes"]) != want
    });
    if let Some(first) = sizes.clone().next() {
        p.push(
            format!("{} wrong size_bytes (e.g. {})", sizes.count(), text(first, &["name"]).unwrap_or("?")),
            sig("tensors", "wrong size_bytes"),
        );
    }
    p.verdict(format!("{} tensors: names, shapes, dtypes and sizes the header's", found.len()), "the safetensors header's tensors")
}

/// `apr inspect --json`: {file_size, total_params, architecture, tensor_count, metadata}.
pub fn check_inspect(v: &Value, c: &Checkpoint, t: &ModelTruth) -> Reading {
    if v.get("tensor_count").is_none() && v.get("total_params").is_none() {
        return Reading::Unrecognised("neither tensor_count nor total_params".into());
    }
    let mut p = Problems::default();
    equal(&mut p, "inspect", "tensor_count", num(v, &["tensor_count"]), c.tensors.len() as u64);
    equal(&mut p, "inspect", "total_params", num(v, &["total_params"]), c.params());
    equal(&mut p, "inspect", "file_size", num(v, &["file_size"]), c.file_size);
    arch(&mut p, "inspect", t, text(v, &["architecture"]));
    match v.get("metadata").and_then(Value::as_object) {
        Some(m) if m.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<_, _>>() == c.metadata => {}
        other => p.push(
            format!(
                "metadata {}, the header's __metadata__ {}",
                other.map_or("missing".into(), |m| Value::Object(m.clone()).to_string()),
                serde_json::json!(c.metadata)
            ),
            sig("inspect", "metadata is not the header's __metadata__"),
        ),
    }
    p.verdict(
        format!("{} tensors, {} parameters, {} bytes, {}, __metadata__ as in the header", c.tensors.len(), c.params(), c.file_size, t.arch),
        "the file's counts, size, architecture and __metadata__",
    )
}

/// `apr validate --json`: {total_tensors, failed_tensors, total_nan, total_inf, checks, passed}.
pub fn check_validate(v: &Value, c: &Checkpoint) -> Reading {
    let Some(checks) = v.get("checks").and_then(Value::as_array) else { return Reading::Unrecognised("no \"checks\" array".into()) };
    let Some(passed) = v.get("passed").and_then(Value::as_bool) else { return Reading::Unrecognised("no \"passed\"".into()) };
    let mut p = Problems::default();
    if checks.is_empty() {
        p.push("no validation check ran", super::structure::parsers::NOTHING_RAN_SIGNATURE);
    }
    let bad: Vec<String> = checks
        .iter()
        .filter(|k| text(k, &["status"]) != Some("PASS"))
        .map(|k| format!("{} ({})", text(k, &["name"]).unwrap_or("?"), text(k, &["status"]).unwrap_or("no status")))
        .collect();
    if !bad.is_empty() {
        p.push(format!("{} checks not passed: {}", bad.len(), one_line(&bad.join(", "), 120)), sig("validate", "checks fail"));
    }
    let finite = c.nan() + c.inf() == 0;
    if passed != finite {
        p.push(
            format!("passed={passed} on a file with {} NaN and {} inf", c.nan(), c.inf()),
            sig("validate", "verdict contradicts the data"),
        );
    }
    equal(&mut p, "validate", "total_tensors", num(v, &["total_tensors"]), c.tensors.len() as u64);
    equal(&mut p, "validate", "total_nan", num(v, &["total_nan"]), c.nan());
    equal(&mut p, "validate", "total_inf", num(v, &["total_inf"]), c.inf());
    p.verdict(
        format!("{} checks passed; {} tensors, {} NaN, {} inf", checks.len(), c.tensors.len(), c.nan(), c.inf()),
        "every check PASS, the file's counts",
    )
}

/// `apr debug --json`: {architecture, tensors, parameters, size_bytes, health}.
pub fn check_debug(v: &Value, c: &Checkpoint, t: &ModelTruth) -> Reading {
    let Some(health) = text(v, &["health"]) else { return Reading::Unrecognised("no \"health\"".into()) };
    let mut p = Problems::default();
    if !health.eq_ignore_ascii_case("ok") {
        p.push(format!("health={health}"), sig("debug", "health not OK"));
    }
    arch(&mut p, "debug", t, text(v, &["architecture"]));
    equal(&mut p, "debug", "tensors", num(v, &["tensors"]), c.tensors.len() as u64);
    equal(&mut p, "debug", "parameters", num(v, &["parameters"]), c.params());
    equal(&mut p, "debug", "size_bytes", num(v, &["size_bytes"]), c.file_size);
    p.verdict(
        format!("health={health}; {} tensors, {} parameters, {} bytes", c.tensors.len(), c.params(), c.file_size),
        "health OK, the file's counts",
    )
}

fn leaves<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
    if text(node, &["type"]) == Some("tensor") {
        out.push(node);
    }
    for child in node.get("children").and_then(Value::as_array).into_iter().flatten() {
        leaves(child, out);
    }
}

/// `apr tree --json`: groups split on '.', leaves {path, shape, type: "tensor"}; the
/// root's tensor_count and total_size.
pub fn check_tree(v: &Value, c: &Checkpoint) -> Reading {
    if v.get("children").and_then(Value::as_array).is_none() {
        return Reading::Unrecognised("no root \"children\"".into());
    }
    let mut items = Vec::new();
    leaves(v, &mut items);
    let Some(found) = entries(&items, "path") else { return Reading::Unrecognised("a tensor leaf without \"path\"".into()) };
    let mut p = Problems::default();
    listing(&mut p, "tree", &found, c);
    equal(&mut p, "tree", "tensor_count", num(v, &["tensor_count"]), c.tensors.len() as u64);
    equal(&mut p, "tree", "total_size", num(v, &["total_size"]), c.data_bytes());
    p.verdict(format!("{} leaves: the header's names and shapes", found.len()), "the safetensors header's tensors")
}

/// Is `got` apr's statistic `want` within `bound`? Either standard-deviation convention
/// (÷ n or ÷ n − 1) is apr's to choose.
fn near(got: f64, want: f64, bound: f64) -> bool {
    (got - want).abs() <= bound
}

/// `apr hex --stats --json`: per tensor {name, shape, dtype, stats: {min, max, mean, std}},
/// against the statistics of the file's data.
pub fn check_hex(v: &Value, c: &Checkpoint, tol: &Tolerances) -> Reading {
    let Some(items) = v.as_array().or_else(|| v.get("tensors").and_then(Value::as_array)) else {
        return Reading::Unrecognised("neither a list nor {\"tensors\": [...]}".into());
    };
    let Some(found) = entries(&items.iter().collect::<Vec<_>>(), "name") else {
        return Reading::Unrecognised("a tensor without \"name\"".into());
    };
    let mut p = Problems::default();
    listing(&mut p, "hex", &found, c);
    let rel = tol.safetensors_stats_rel_max;
    let (mut extremes, mut moments) = (Vec::new(), Vec::new());
    for it in items {
        let Some(t) = text(it, &["name"]).and_then(|n| c.tensors.get(n)) else { continue };
        let name = text(it, &["name"]).unwrap_or("?");
        let st = |k: &str| real(it, &["stats", k]);
        let (Some(lo), Some(hi), Some(mean), Some(std)) = (st("min"), st("max"), st("mean"), st("std")) else {
            return Reading::Unrecognised(format!("tensor {name} without stats.min/max/mean/std"));
        };
        // apr prints f32 values: exact when they round to the same f32.
        if lo as f32 != t.min as f32 || hi as f32 != t.max as f32 {
            extremes.push(format!("{name}: min {lo} max {hi}, the data's {} {}", t.min as f32, t.max as f32));
        }
        let n = (t.elements() - t.nan - t.inf) as f64;
        let rms = (t.mean * t.mean + t.std * t.std).sqrt();
        let bound = rel * rms;
        let sample = t.std * (n / (n - 1.0)).sqrt();
        if !near(mean, t.mean, bound) || !(near(std, t.std, bound) || near(std, sample, bound)) {
            moments.push(format!("{name}: mean {mean} std {std}, the data's {:.7e} {:.7e} (bound {:.1e})", t.mean, t.std, bound));
        }
    }
    if let Some(first) = extremes.first() {
        p.push(format!("{} tensors with wrong min/max (e.g. {first})", extremes.len()), sig("hex", "wrong min/max"));
    }
    if let Some(first) = moments.first() {
        p.push(format!("{} tensors with mean/std beyond {rel:e} × RMS (e.g. {first})", moments.len()), sig("hex", "wrong mean/std"));
    }
    p.verdict(
        format!("{} tensors: min/max exact, mean/std within {rel:e} × RMS of the data's", found.len()),
        "the statistics of the file's data",
    )
}

fn parse(command: &str, v: &Value, c: &Checkpoint, t: &ModelTruth, tol: &Tolerances) -> Reading {
    match command {
        "tensors" => check_tensors(v, c),
        "inspect" => check_inspect(v, c, t),
        "validate" => check_validate(v, c),
        "debug" => check_debug(v, c, t),
        "tree" => check_tree(v, c),
        _ => check_hex(v, c, tol),
    }
}

pub fn judge(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    let mut outs: Vec<Outcome> = CALLS.iter().map(|(command, _)| judge_call(ev, tol, command)).collect();
    outs.push(judge_export(ev));
    outs
}

fn judge_call(ev: &ModelEvidence, tol: &Tolerances, command: &str) -> Outcome {
    let case = Case::new(SUITE, &ev.slug, command, RUNTIME);
    let obs = ev.structure.get(&StructureKey::new(SUITE, command));
    // Text where --json was asked, with exit 0: its own finding (apr 0.72.3's hex on a
    // safetensors file), not a parse error shared with every other command.
    if let Some(Observed::Failed { error, invocation }) = obs {
        if invocation.exit_code == Some(0) && !invocation.stdout.trim().is_empty() {
            return case.fail(
                format!("prints text, not JSON, though --json is given: {}", one_line(&invocation.stdout, 80)),
                sig(command, "prints text where --json asks for JSON"),
                evidence_from(invocation, Some("JSON".into()), Some(raw_output(invocation)), serde_json::json!({ "error": error })),
            );
        }
    }
    let (v, inv) = match take(obs, &case, &format!("apr {command} on {ARTIFACT}"), true) {
        Ok(x) => x,
        Err(o) => return o,
    };
    let harness = case.about(Subject::Harness);
    let (c, _) = match take(ev.safetensors.as_ref(), &harness, "the checkpoint's own facts (header and data)", false) {
        Ok(x) => x,
        Err(o) => return o,
    };
    let Some(t) = ev.truth.as_ref() else {
        return harness.blocked(
            "no truth for this model (config.json not read)",
            "the harness could not read the checkpoint's facts",
            Evidence::default(),
        );
    };
    let evidence = |expected: Option<String>| evidence_from(inv, expected, Some(truncate(&inv.stdout, 4000)), Value::Null);
    match (parse(command, v, c, t, tol), inv.exit_code.unwrap_or(-1)) {
        (Reading::Pass(note), 0) => case.pass(note, evidence(None)),
        (Reading::Pass(note), code) => case.fail(
            format!("exit {code} although its JSON reports success ({note})"),
            "apr: exits non-zero though its JSON reports success",
            evidence(Some("exit 0".into())),
        ),
        (Reading::Fail { note, signature, expected }, code) => {
            let note = if code == 0 { note } else { format!("{note} (exit {code})") };
            case.fail(note, signature, evidence(Some(expected)))
        }
        (Reading::Unrecognised(what), _) => case.fail(
            format!("unrecognised JSON shape ({what}): {}", one_line(&inv.stdout, 80)),
            sig(command, "an unrecognised JSON shape"),
            evidence(None),
        ),
    }
}

fn judge_export(ev: &ModelEvidence) -> Outcome {
    let case = Case::new(SUITE, &ev.slug, EXPORT_CASE, CONVERTER);
    let what = format!("apr export {EXPORT_FROM} --format safetensors");
    let (r, inv) = match take(ev.safetensors_export.as_ref(), &case, &what, true) {
        Ok(x) => x,
        Err(o) => return o,
    };
    let s = |what: &str| format!("apr converter: export --format safetensors {what}");
    let mut p = Problems::default();
    if let Some(first) = r.missing.first() {
        p.push(format!("{} tensors missing (e.g. {first})", r.missing.len()), s("loses tensors"));
    }
    if let Some((n, (a, b))) = r.shape_mismatch.iter().next() {
        p.push(format!("{} shapes changed (e.g. {n}: {b:?}, the checkpoint's {a:?})", r.shape_mismatch.len()), s("changes tensor shapes"));
    }
    if let Some((n, (a, b))) = r.dtype_mismatch.iter().next() {
        p.push(format!("{} dtypes changed (e.g. {n}: {b}, the checkpoint's {a})", r.dtype_mismatch.len()), s("changes tensor dtypes"));
    }
    if !r.differing.is_empty() {
        let worst = r.differing.iter().max_by(|a, b| a.1.unwrap_or(f64::INFINITY).total_cmp(&b.1.unwrap_or(f64::INFINITY)));
        let (n, d) = worst.expect("not empty");
        let d = d.map_or("not finite".to_string(), |d| format!("{d:e}"));
        p.push(
            format!("{} of {} tensors not bit-identical (worst {n}: max |Δ| {d})", r.differing.len(), r.compared),
            s("changes tensor values"),
        );
    }
    if let Some(first) = r.extra.first() {
        p.push(format!("{} tensors the checkpoint lacks (e.g. {first})", r.extra.len()), s("adds tensors"));
    }
    if r.metadata_export != r.metadata_reference {
        p.push(
            format!("__metadata__ {}, the checkpoint's {}", serde_json::json!(r.metadata_export), serde_json::json!(r.metadata_reference)),
            s("changes __metadata__"),
        );
    }
    let details = serde_json::to_value(r).unwrap_or(Value::Null);
    let evidence = |expected: Option<String>| evidence_from(inv, expected, None, details.clone());
    match p.verdict(
        format!("all {} tensors bit-identical (max |Δ| = 0), names, shapes, dtypes and __metadata__ the checkpoint's", r.compared),
        "",
    ) {
        Reading::Fail { note, signature, .. } => {
            case.fail(note, signature, evidence(Some("every tensor bit-identical, the same names, shapes, dtypes and __metadata__".into())))
        }
        Reading::Pass(note) if r.compared > 0 => case.pass(note, evidence(None)),
        _ => {
            case.about(Subject::Harness).blocked("the export holds no tensor to compare", "safetensors: nothing to compare", evidence(None))
        }
    }
}

#[cfg(test)]
mod tests;
