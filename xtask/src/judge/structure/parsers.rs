//! The structure suites' parsers: apr's JSON against what the checkpoint says it
//! must hold. Each returns a `Reading`; a shape it does not know is `Unrecognised`,
//! never a pass.

use super::json::{num, real, text};
use super::tensors::{canonical_tensor_name, compare_tensors, embedding_name, TensorDiff};
use super::Facts;
use crate::judge::{one_line, ModelTruth};
use serde_json::Value;

/// apr's report contradicts itself (a count against its own list): its CLI's, not
/// the file's.
pub const COUNT_DISAGREES_SIGNATURE: &str = "apr: validate's count of checks disagrees with its list";

/// Findings about what apr's CLI prints rather than about the file it read.
pub fn about_the_report(signature: &str) -> bool {
    signature == COUNT_DISAGREES_SIGNATURE
}

/// What a suite's parser concluded from apr's JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    Pass(String),
    /// A claim the JSON contradicts: the note, the root-cause signature, and what
    /// the checkpoint says the failing field should be.
    Fail {
        note: String,
        signature: String,
        expected: String,
    },
    /// The JSON is not a shape this parser knows: what it looked for.
    Unrecognised(String),
}

impl Reading {
    fn fail(note: impl Into<String>, signature: impl Into<String>, expected: impl Into<String>) -> Reading {
        Reading::Fail { note: note.into(), signature: signature.into(), expected: expected.into() }
    }
}

/// Field-level problems: note, suite-independent signature, the expected value.
struct Problems(Vec<(String, String, String)>);

impl Problems {
    fn new() -> Self {
        Problems(Vec::new())
    }
    fn push(&mut self, note: String, sig: impl Into<String>, expected: impl Into<String>) {
        self.0.push((note, sig.into(), expected.into()));
    }
    fn verdict(self, pass: String) -> Reading {
        match self.0.first() {
            None => Reading::Pass(pass),
            Some((_, sig, _)) => {
                let note = self.0.iter().map(|(n, _, _)| n.as_str()).collect::<Vec<_>>().join("; ");
                let expected = self.0.iter().map(|(_, _, e)| e.as_str()).filter(|e| !e.is_empty()).collect::<Vec<_>>().join("; ");
                Reading::fail(note, sig.clone(), expected)
            }
        }
    }
}

/// Facts of the artifact that follow from the checkpoint: a tied checkpoint may be
/// stored with its lm_head materialized (one tensor and one embedding more).
struct Expect {
    tensors: usize,
    params: u64,
    tied: bool,
    embed_params: u64,
}

fn expect(t: &ModelTruth) -> Expect {
    let canon: Vec<String> = t.tensors.keys().map(|n| canonical_tensor_name(t.arch, n)).collect();
    let tied = !canon.iter().any(|n| n == "lm_head.weight");
    let embed_params = t
        .tensors
        .iter()
        .find(|(n, _)| canonical_tensor_name(t.arch, n) == embedding_name(t.arch))
        .map(|(_, s)| s.iter().product::<usize>() as u64)
        .unwrap_or(0);
    Expect { tensors: t.tensors.len(), params: t.param_count, tied, embed_params }
}

fn check_count(p: &mut Problems, notes: &mut Vec<String>, e: &Expect, got: u64) {
    if got == e.tensors as u64 {
    } else if e.tied && got == e.tensors as u64 + 1 {
        notes.push("tied lm_head stored separately".into());
    } else {
        p.push(format!("tensor count {got}, checkpoint {}", e.tensors), "apr: wrong tensor count", format!("{} tensors", e.tensors));
    }
}

fn check_params(p: &mut Problems, notes: &mut Vec<String>, e: &Expect, got: u64) {
    if got == e.params {
    } else if e.tied && got == e.params + e.embed_params {
        notes.push(format!("params {got} count the tied lm_head again (checkpoint {})", e.params));
    } else {
        p.push(format!("parameter count {got}, checkpoint {}", e.params), "apr: wrong parameter count", format!("{} parameters", e.params));
    }
}

fn check_arch(p: &mut Problems, t: &ModelTruth, got: Option<&str>) {
    match got.map(str::trim) {
        None | Some("") => {
            p.push("architecture empty or missing".into(), "apr: architecture field empty", format!("architecture {}", t.arch))
        }
        // The architecture's name, or the config.json model_type that names it
        // (Gemma 3's "gemma3_text").
        Some(a)
            if a.eq_ignore_ascii_case(t.arch.as_str()) || tmgt_schema::Arch::from_model_type(&a.to_ascii_lowercase()) == Some(t.arch) => {}
        Some(a) => {
            p.push(format!("architecture {a:?}, checkpoint {:?}", t.arch), "apr: wrong architecture", format!("architecture {}", t.arch))
        }
    }
}

fn check_field(p: &mut Problems, name: &str, got: Option<u64>, want: usize) {
    match got {
        None => p.push(format!("{name} missing"), format!("apr: {name} missing"), format!("{name} {want}")),
        Some(g) if g == want as u64 => {}
        Some(g) => p.push(format!("{name} {g}, checkpoint {want}"), format!("apr: wrong {name}"), format!("{name} {want}")),
    }
}

fn with_notes(base: String, notes: &[String]) -> String {
    if notes.is_empty() {
        base
    } else {
        format!("{base} ({})", notes.join("; "))
    }
}

/// The signature of a self-check (validate, check) that reports success on nothing.
pub const NOTHING_RAN_SIGNATURE: &str = "apr: a self-check reports success having run nothing";

/// The signature of an export that dequantized a quantized file.
pub const F32_EXPORT_SIGNATURE: &str = "apr converter: export writes an unquantized GGUF from a quantized file";

fn check_real(p: &mut Problems, name: &str, got: Option<f64>, want: Option<f64>, rel_tol: f64) {
    if let (Some(g), Some(w)) = (got, want) {
        if (g - w).abs() > rel_tol * w.abs().max(1.0) {
            p.push(format!("{name} {g}, checkpoint {w}"), format!("apr: wrong {name}"), format!("{name} {w}"));
        }
    }
}

/// inspect: APR shape (top-level fields + metadata) or GGUF shape (metadata keys);
/// a quantized artifact says it is quantized.
pub fn check_inspect(v: &Value, facts: &Facts) -> Reading {
    let Some(t) = facts.truth else { return Reading::Unrecognised("no checkpoint truth to compare with".into()) };
    let artifact = facts.artifact;
    let e = expect(t);
    let mut p = Problems::new();
    let mut notes = Vec::new();
    if v.get("num_layers").is_some() || v.get("metadata").and_then(|m| m.get("num_layers")).is_some() {
        let arch = text(v, &["architecture"]).or_else(|| text(v, &["metadata", "architecture"]));
        check_arch(&mut p, t, arch);
        let get = |k: &str| num(v, &[k]).or_else(|| num(v, &["metadata", k]));
        check_field(&mut p, "num_layers", get("num_layers"), t.num_layers);
        check_field(&mut p, "num_heads", get("num_heads"), t.num_heads);
        check_field(&mut p, "num_kv_heads", get("num_kv_heads"), t.num_kv_heads);
        check_field(&mut p, "hidden_size", get("hidden_size"), t.hidden_size);
        check_field(&mut p, "vocab_size", get("vocab_size"), t.vocab_size);
        if let (Some(want), Some(got)) = (t.intermediate_size, get("intermediate_size")) {
            check_field(&mut p, "intermediate_size", Some(got), want);
        }
        check_real(
            &mut p,
            "rope_theta",
            real(v, &["metadata", "rope_theta"]).or_else(|| real(v, &["rope_theta"])),
            t.rope_theta,
            facts.tol.config_float_rel_tol,
        );
        match get("param_count") {
            Some(n) => check_params(&mut p, &mut notes, &e, n),
            None => p.push("param_count missing".into(), "apr: param_count missing", format!("{} parameters", e.params)),
        }
        match get("tensor_count") {
            Some(n) => check_count(&mut p, &mut notes, &e, n),
            None => p.push("tensor_count missing".into(), "apr: tensor_count missing", format!("{} tensors", e.tensors)),
        }
        if facts.quantized() && v.pointer("/flags/quantized") == Some(&Value::Bool(false)) {
            p.push(
                format!("flags.quantized is false on the {artifact} artifact"),
                "apr converter: quantized flag false on a quantized file",
                "flags.quantized: true",
            );
        }
    } else if let Some(arch) = text(v, &["metadata", "general.architecture"]) {
        // GGUF: llama.block_count, llama.attention.head_count, …
        check_arch(&mut p, t, Some(arch));
        let m = |k: &str| num(v, &["metadata", &format!("{arch}.{k}")]);
        check_field(&mut p, "num_layers", m("block_count"), t.num_layers);
        check_field(&mut p, "num_heads", m("attention.head_count"), t.num_heads);
        check_field(&mut p, "num_kv_heads", m("attention.head_count_kv"), t.num_kv_heads);
        check_field(&mut p, "hidden_size", m("embedding_length"), t.hidden_size);
        if let (Some(want), Some(got)) = (t.intermediate_size, m("feed_forward_length")) {
            check_field(&mut p, "intermediate_size", Some(got), want);
        }
        check_real(
            &mut p,
            "rope_theta",
            real(v, &["metadata", &format!("{arch}.rope.freq_base")]),
            t.rope_theta,
            facts.tol.config_float_rel_tol,
        );
        if let Some(n) = num(v, &["total_params"]) {
            check_params(&mut p, &mut notes, &e, n);
        }
        if let Some(n) = num(v, &["tensor_count"]) {
            check_count(&mut p, &mut notes, &e, n);
        }
        let quantization = text(v, &["quantization"]).unwrap_or("");
        if facts.quantized() && matches!(quantization.to_ascii_uppercase().as_str(), "F32" | "F16" | "BF16") {
            p.push(
                format!("{artifact} holds {quantization} tensors though made from a {}-bit file", facts.bits.unwrap_or(0)),
                F32_EXPORT_SIGNATURE,
                format!("{}-bit tensor types", facts.bits.unwrap_or(0)),
            );
        }
    } else {
        return Reading::Unrecognised("neither num_layers (APR) nor metadata[\"general.architecture\"] (GGUF)".into());
    }
    p.verdict(with_notes(
        format!("{} {}L {}H/{}KV h{} v{} match", t.arch, t.num_layers, t.num_heads, t.num_kv_heads, t.hidden_size, t.vocab_size),
        &notes,
    ))
}

/// validate: checks ran (as many as it says), every one passed, the verdict is valid.
pub fn check_validate(v: &Value, _: &Facts) -> Reading {
    let Some(checks) = v.get("checks").and_then(Value::as_array) else {
        return Reading::Unrecognised("no \"checks\" array".into());
    };
    let mut p = Problems::new();
    if checks.is_empty() {
        p.push("no validation check ran".into(), NOTHING_RAN_SIGNATURE, "at least one check");
    }
    if let Some(ran) = num(v, &["checks_ran"]) {
        if ran as usize != checks.len() {
            p.push(
                format!("says {ran} checks ran but lists {}", checks.len()),
                COUNT_DISAGREES_SIGNATURE,
                format!("{} checks listed", ran),
            );
        }
    }
    let bad: Vec<String> = checks
        .iter()
        .filter(|c| !matches!(text(c, &["status"]), Some("PASS") | Some("pass") | Some("ok")))
        .map(|c| format!("{} ({})", text(c, &["name"]).unwrap_or("?"), text(c, &["status"]).unwrap_or("no status")))
        .collect();
    if !bad.is_empty() {
        p.push(format!("{} checks not passed: {}", bad.len(), bad.join(", ")), "apr: validate checks fail", "every check PASS");
    }
    match (v.get("passed").and_then(Value::as_bool), text(v, &["verdict"])) {
        (Some(true), Some(verdict)) if verdict.eq_ignore_ascii_case("valid") => {}
        (None, None) => return Reading::Unrecognised("neither \"passed\" nor \"verdict\"".into()),
        (passed, verdict) => {
            p.push(format!("passed={passed:?}, verdict={verdict:?}"), "apr: validate verdict not valid", "passed=true, verdict=VALID")
        }
    }
    if num(v, &["content_total_nan"]).unwrap_or(0) + num(v, &["content_total_inf"]).unwrap_or(0) > 0 {
        p.push("NaN/Inf in tensor content".into(), "apr: NaN/Inf in tensor data", "finite tensor data");
    }
    let not_impl = num(v, &["checks_not_implemented"]);
    let total = num(v, &["total_checks"]);
    p.verdict(match (not_impl, total) {
        (Some(n), Some(t)) if n > 0 => format!("{} checks passed; {n} of {t} not implemented", checks.len()),
        _ => format!("{} checks passed", checks.len()),
    })
}

fn tensor_list(items: &[Value]) -> Option<Vec<(String, Option<Vec<usize>>)>> {
    items
        .iter()
        .map(|t| {
            let name = text(t, &["name"]).or_else(|| text(t, &["path"]))?.to_string();
            let shape = t.get("shape").and_then(Value::as_array).map(|a| a.iter().filter_map(|d| d.as_u64().map(|d| d as usize)).collect());
            Some((name, shape))
        })
        .collect()
}

fn judge_tensor_diff(d: TensorDiff) -> Reading {
    let mut p = Problems::new();
    if let Some(first) = d.missing.first() {
        p.push(format!("{} checkpoint tensors missing (e.g. {first})", d.missing.len()), "apr: tensors missing", format!("tensor {first}"));
    }
    if let Some(first) = d.unexpected.first() {
        p.push(
            format!("{} unexpected tensors (e.g. {first})", d.unexpected.len()),
            "apr: unexpected tensors",
            format!("only the checkpoint's {} tensors", d.expected_count),
        );
    }
    if let Some((n, e, f)) = d.wrong_shape.first() {
        p.push(
            format!("{} tensors with wrong shape (e.g. {n}: checkpoint {e:?}, found {f:?})", d.wrong_shape.len()),
            "apr: wrong tensor shapes",
            format!("{n}: {e:?}"),
        );
    }
    p.verdict(d.summary())
}

/// tensors: names and shapes against the safetensors header.
pub fn check_tensors(v: &Value, facts: &Facts) -> Reading {
    let Some(t) = facts.truth else { return Reading::Unrecognised("no checkpoint truth to compare with".into()) };
    let Some(items) = v.get("tensors").and_then(Value::as_array) else {
        return Reading::Unrecognised("no \"tensors\" array".into());
    };
    let Some(found) = tensor_list(items) else {
        return Reading::Unrecognised("a tensors entry without \"name\"".into());
    };
    if let Some(n) = num(v, &["tensor_count"]) {
        if n as usize != found.len() {
            return Reading::fail(
                format!("tensor_count {n} but {} tensors listed", found.len()),
                "apr: tensor_count disagrees with the list",
                format!("tensor_count {}", found.len()),
            );
        }
    }
    judge_tensor_diff(compare_tensors(t, &found))
}

/// lint: no error-level issue.
pub fn check_lint(v: &Value, _: &Facts) -> Reading {
    let Some(issues) = v.get("issues").and_then(Value::as_array) else {
        return Reading::Unrecognised("no \"issues\" array".into());
    };
    let level = |i: &Value| text(i, &["level"]).or_else(|| text(i, &["severity"])).unwrap_or("").to_ascii_uppercase();
    let errors: Vec<String> = issues
        .iter()
        .filter(|i| matches!(level(i).as_str(), "ERROR" | "CRITICAL" | "FATAL"))
        .map(|i| text(i, &["message"]).unwrap_or("?").to_string())
        .collect();
    let warns = issues.iter().filter(|i| level(i) == "WARN" || level(i) == "WARNING").count();
    let mut p = Problems::new();
    if !errors.is_empty() {
        p.push(format!("{} lint errors: {}", errors.len(), errors.join("; ")), "apr: lint errors", "no error-level issue");
    }
    if v.get("passed").and_then(Value::as_bool) == Some(false) && errors.is_empty() {
        p.push("lint reports passed=false".into(), "apr: lint errors", "passed=true");
    }
    p.verdict(format!("0 errors, {warns} warnings"))
}

/// selftest (`apr check`): at least the roster's `selftest_min_stages` stages ran and every one passed; stage details
/// that state a layer count or vocab size agree with the checkpoint.
pub fn check_selftest(v: &Value, facts: &Facts) -> Reading {
    let Some(t) = facts.truth else { return Reading::Unrecognised("no checkpoint truth to compare with".into()) };
    let Some(stages) = v.get("stages").and_then(Value::as_array) else {
        return Reading::Unrecognised("no \"stages\" array".into());
    };
    let mut p = Problems::new();
    let min_stages = facts.tol.selftest_min_stages;
    if stages.len() < min_stages {
        p.push(
            format!("only {} stages ran", stages.len()),
            if stages.is_empty() { NOTHING_RAN_SIGNATURE } else { "apr: self-test runs too few stages" },
            format!("at least {min_stages} stages"),
        );
    }
    let failed: Vec<String> = stages
        .iter()
        .filter(|s| !matches!(text(s, &["status"]), Some("PASS") | Some("pass") | Some("ok")))
        .map(|s| format!("{} ({})", text(s, &["name"]).unwrap_or("?"), text(s, &["details"]).unwrap_or("")))
        .collect();
    if !failed.is_empty() {
        p.push(
            format!("{}/{} stages failed: {}", failed.len(), stages.len(), failed.join(", ")),
            "apr: self-test stages fail",
            "every stage PASS",
        );
    }
    for s in stages {
        let d = text(s, &["details"]).unwrap_or("");
        if let Some(n) = d.strip_suffix(" layers").and_then(|n| n.trim().parse::<usize>().ok()) {
            if n != t.num_layers {
                p.push(
                    format!("stage says {n} layers, checkpoint {}", t.num_layers),
                    "apr: wrong num_layers",
                    format!("{} layers", t.num_layers),
                );
            }
        }
        if let Some(n) = d.strip_prefix("vocab_size=").and_then(|n| n.trim().parse::<usize>().ok()) {
            if n != t.vocab_size {
                p.push(
                    format!("stage says vocab {n}, checkpoint {}", t.vocab_size),
                    "apr: wrong vocab_size",
                    format!("vocab_size={}", t.vocab_size),
                );
            }
        }
    }
    if v.get("all_passed").and_then(Value::as_bool) == Some(false) && failed.is_empty() {
        p.push("all_passed=false".into(), "apr: self-test stages fail", "all_passed=true");
    }
    p.verdict(format!("{}/{} stages pass", stages.len() - failed.len(), stages.len()))
}

/// Fields that differ between int8 and int4 only because the files have other names.
const LABEL_FIELDS: &[&str] = &["metadata.model_name", "metadata.name", "file", "path"];

/// diff (int8 vs int4): tensor dtypes must differ (the quantization), and nothing but
/// dtypes, sizes and name labels may. A file size alone proves nothing.
pub fn check_diff(v: &Value, _: &Facts) -> Reading {
    let Some(diffs) = v.get("differences").and_then(Value::as_array) else {
        return Reading::Unrecognised("no \"differences\" array".into());
    };
    let (mut dtypes, mut sizes, mut labels) = (0, 0, 0);
    let mut structural = Vec::new();
    for d in diffs {
        let field = text(d, &["field"]).unwrap_or("");
        let kind = text(d, &["type"]).unwrap_or("");
        let cat = text(d, &["category"]).unwrap_or("");
        if kind == "dtype" || cat == "quantization" {
            dtypes += 1;
        } else if kind == "size" || cat == "size" {
            sizes += 1;
        } else if LABEL_FIELDS.contains(&field) {
            labels += 1;
        } else {
            structural.push(format!(
                "{field}: {} vs {}",
                d.get("file1_value").map(Value::to_string).unwrap_or_default(),
                d.get("file2_value").map(Value::to_string).unwrap_or_default()
            ));
        }
    }
    let mut p = Problems::new();
    if let Some(first) = structural.first() {
        p.push(
            format!("{} structural differences (e.g. {first})", structural.len()),
            "apr: int4 and int8 differ beyond their tensor dtypes",
            "dtype differences only",
        );
    }
    if dtypes == 0 {
        p.push(
            format!("no tensor dtype differs between int8 and int4 ({sizes} size difference(s) only): quantization not applied?"),
            "apr converter: int4 and int8 hold the same tensor types",
            "tensor dtypes differ",
        );
    }
    let extra =
        [(sizes, "size"), (labels, "name label")].iter().filter(|(n, _)| *n > 0).map(|(n, w)| format!("{n} {w}")).collect::<Vec<_>>();
    p.verdict(format!(
        "{dtypes} dtype differences only{}",
        if extra.is_empty() { String::new() } else { format!(" (+{})", extra.join(", ")) }
    ))
}

fn tree_leaves(node: &Value, out: &mut Vec<Value>) {
    if node.get("type").and_then(Value::as_str) == Some("tensor") {
        out.push(serde_json::json!({ "name": node.get("path").or(node.get("name")).cloned().unwrap_or(Value::Null), "shape": node.get("shape").cloned().unwrap_or(Value::Null) }));
    }
    if let Some(children) = node.get("children").and_then(Value::as_array) {
        for c in children {
            tree_leaves(c, out);
        }
    }
}

/// tree: the leaves (tensors) against the checkpoint; the root's count agrees.
pub fn check_tree(v: &Value, facts: &Facts) -> Reading {
    let Some(t) = facts.truth else { return Reading::Unrecognised("no checkpoint truth to compare with".into()) };
    if v.get("children").is_none() {
        return Reading::Unrecognised("no root \"children\"".into());
    }
    let mut leaves = Vec::new();
    tree_leaves(v, &mut leaves);
    let Some(found) = tensor_list(&leaves) else {
        return Reading::Unrecognised("a tensor leaf without \"path\"/\"name\"".into());
    };
    if let Some(n) = num(v, &["tensor_count"]) {
        if n as usize != found.len() {
            return Reading::fail(
                format!("root tensor_count {n} but {} leaves", found.len()),
                "apr: tensor_count disagrees with the list",
                format!("tensor_count {}", found.len()),
            );
        }
    }
    judge_tensor_diff(compare_tensors(t, &found))
}

/// oracle-id: architecture, parameters and tensor count identified.
pub fn check_oracle(v: &Value, facts: &Facts) -> Reading {
    let Some(t) = facts.truth else { return Reading::Unrecognised("no checkpoint truth to compare with".into()) };
    let base = v.get("format").filter(|f| f.is_object()).unwrap_or(v);
    let arch = text(base, &["architecture"]).or_else(|| text(v, &["architecture"])).or_else(|| text(v, &["family"]));
    if arch.is_none() && num(base, &["total_params"]).is_none() {
        return Reading::Unrecognised("neither format.architecture nor format.total_params".into());
    }
    let e = expect(t);
    let mut p = Problems::new();
    let mut notes = Vec::new();
    check_arch(&mut p, t, arch);
    match num(base, &["total_params"]).or_else(|| num(v, &["parameters"])) {
        Some(n) => check_params(&mut p, &mut notes, &e, n),
        None => p.push("parameter count missing".into(), "apr: param_count missing", format!("{} parameters", e.params)),
    }
    if let Some(n) = num(base, &["tensor_count"]) {
        check_count(&mut p, &mut notes, &e, n);
    }
    p.verdict(with_notes(format!("arch={}", t.arch), &notes))
}

/// hex --stats: every tensor's statistics finite; no matrix all-constant.
pub fn check_hex(v: &Value, facts: &Facts) -> Reading {
    let Some(t) = facts.truth else { return Reading::Unrecognised("no checkpoint truth to compare with".into()) };
    let Some(items) = v.as_array().or_else(|| v.get("tensors").and_then(Value::as_array)) else {
        return Reading::Unrecognised("neither a list nor {\"tensors\": [...]}".into());
    };
    let e = expect(t);
    let mut p = Problems::new();
    let mut notes = Vec::new();
    let (mut bad, mut constant) = (Vec::new(), Vec::new());
    for it in items {
        let name = text(it, &["name"]).unwrap_or("?");
        let Some(st) = it.get("stats").filter(|s| s.is_object()) else {
            return Reading::Unrecognised(format!("tensor {name} without \"stats\""));
        };
        let f = |k: &str| st.get(k).and_then(Value::as_f64);
        match (f("min"), f("max"), f("std")) {
            (Some(lo), Some(hi), Some(sd)) if lo.is_finite() && hi.is_finite() && sd.is_finite() => {
                let dims = it.get("shape").and_then(Value::as_array).map_or(0, Vec::len);
                if sd == 0.0 && dims >= 2 {
                    constant.push(name.to_string());
                }
            }
            _ => bad.push(name.to_string()),
        }
    }
    if let Some(first) = bad.first() {
        p.push(
            format!("{} tensors with missing or non-finite stats (e.g. {first})", bad.len()),
            "apr: non-finite tensor statistics",
            "finite min/max/std",
        );
    }
    if let Some(first) = constant.first() {
        p.push(
            format!("{} matrices with std=0 (e.g. {first})", constant.len()),
            "apr: constant (zero) tensor data",
            "std > 0 for every matrix",
        );
    }
    check_count(&mut p, &mut notes, &e, items.len() as u64);
    p.verdict(with_notes(format!("{} tensors, finite non-constant data", items.len()), &notes))
}

/// debug: health OK; architecture, tensors and parameters agree.
pub fn check_debug(v: &Value, facts: &Facts) -> Reading {
    let Some(t) = facts.truth else { return Reading::Unrecognised("no checkpoint truth to compare with".into()) };
    let Some(health) = text(v, &["health"]).or_else(|| text(v, &["status"])) else {
        return Reading::Unrecognised("no \"health\"".into());
    };
    let e = expect(t);
    let mut p = Problems::new();
    let mut notes = Vec::new();
    if !health.eq_ignore_ascii_case("ok") && !health.eq_ignore_ascii_case("healthy") {
        p.push(format!("health={health}"), "apr: debug health not OK", "health=OK");
    }
    check_arch(&mut p, t, text(v, &["architecture"]));
    if let Some(n) = num(v, &["tensors"]) {
        check_count(&mut p, &mut notes, &e, n);
    }
    if let Some(n) = num(v, &["parameters"]) {
        check_params(&mut p, &mut notes, &e, n);
    }
    p.verdict(with_notes(format!("health={health}"), &notes))
}

/// bench: throughput > 0.
pub fn check_bench(v: &Value, _: &Facts) -> Reading {
    let tps = ["tokens_per_second", "tok_per_sec", "tok_s", "throughput"].iter().find_map(|k| v.get(k).and_then(Value::as_f64));
    match tps {
        None => Reading::Unrecognised("no tokens_per_second".into()),
        // The claim is throughput > 0; apr's own hardware-dependent minimum is noted.
        Some(x) if x > 0.0 && x.is_finite() => Reading::Pass(if v.get("passed").and_then(Value::as_bool) == Some(false) {
            format!("{x:.1} tok/s (below apr's own minimum)")
        } else {
            format!("{x:.1} tok/s")
        }),
        Some(x) => Reading::fail(format!("throughput {x} tok/s"), "apr: zero throughput", "tokens_per_second > 0"),
    }
}

/// qa: at least one gate ran and every executed gate passed.
pub fn check_qa(v: &Value, _: &Facts) -> Reading {
    let Some(gates) = v.get("gates").and_then(Value::as_array) else {
        return Reading::Unrecognised("no \"gates\" array".into());
    };
    let executed: Vec<&Value> = gates.iter().filter(|g| g.get("skipped").and_then(Value::as_bool) != Some(true)).collect();
    let failed: Vec<String> = executed
        .iter()
        .filter(|g| g.get("passed").and_then(Value::as_bool) != Some(true))
        .map(|g| format!("{} ({})", text(g, &["name"]).unwrap_or("?"), one_line(text(g, &["message"]).unwrap_or(""), 60)))
        .collect();
    let mut p = Problems::new();
    if executed.is_empty() {
        p.push("no gate executed".into(), "apr: qa runs no gates", "at least one gate executed");
    }
    if !failed.is_empty() {
        p.push(
            format!("{}/{} gates failed: {}", failed.len(), executed.len(), failed.join(", ")),
            "apr: qa gates fail",
            "every executed gate passed",
        );
    }
    p.verdict(format!("{} gates passed", executed.len()))
}

/// list: a cache listing that parses and agrees with its own total. An empty cache
/// proves nothing: `Reading::Pass` only with at least one model listed (the judge
/// turns an empty listing into a SKIP with the reason).
pub fn check_list(v: &Value, _: &Facts) -> Reading {
    let Some(models) = v.get("models").and_then(Value::as_array) else {
        return Reading::Unrecognised("no \"models\" array".into());
    };
    match num(v, &["total"]) {
        Some(n) if n as usize != models.len() => Reading::fail(
            format!("total {n} but {} models listed", models.len()),
            "apr: list's total disagrees with its list",
            format!("total {}", models.len()),
        ),
        _ => Reading::Pass(format!("cache listing works ({} models)", models.len())),
    }
}

/// rosetta diff-tensors (int8 vs int4): no layout mismatches, nothing missing, both
/// hold the checkpoint's tensors.
pub fn check_rosetta(v: &Value, facts: &Facts) -> Reading {
    let Some(t) = facts.truth else { return Reading::Unrecognised("no checkpoint truth to compare with".into()) };
    let (Some(a), Some(b)) = (num(v, &["tensors_a"]), num(v, &["tensors_b"])) else {
        return Reading::Unrecognised("no tensors_a/tensors_b".into());
    };
    let e = expect(t);
    let mut p = Problems::new();
    let mut notes = Vec::new();
    for (k, sig) in [
        ("layout_mismatches", "apr: layout mismatches"),
        ("missing_in_a", "apr: tensors missing"),
        ("missing_in_b", "apr: tensors missing"),
    ] {
        match v.get(k).map(|x| x.as_u64().or_else(|| x.as_array().map(|a| a.len() as u64))) {
            Some(Some(0)) => {}
            Some(Some(n)) => p.push(format!("{k}={n}"), sig, format!("{k}=0")),
            _ => return Reading::Unrecognised(format!("no {k}")),
        }
    }
    check_count(&mut p, &mut notes, &e, a);
    if a != b {
        p.push(format!("int8 has {a} tensors, int4 {b}"), "apr: tensor count differs between quantizations", format!("{a} tensors each"));
    }
    p.verdict(with_notes(format!("{a} tensors each, no layout mismatches"), &notes))
}

/// parity-gpu (`apr parity`): CPU and GPU agree.
pub fn check_parity(v: &Value, _: &Facts) -> Reading {
    for k in ["match", "parity", "passed", "pass"] {
        match v.get(k) {
            Some(Value::Bool(true)) => return Reading::Pass("GPU/CPU parity".into()),
            Some(Value::Bool(false)) => return Reading::fail(format!("{k}=false"), "apr: GPU/CPU parity mismatch", format!("{k}=true")),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("pass") => return Reading::Pass("GPU/CPU parity".into()),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("fail") => {
                return Reading::fail(format!("{k}={s}"), "apr: GPU/CPU parity mismatch", format!("{k}=pass"))
            }
            _ => {}
        }
    }
    Reading::Unrecognised("none of match/parity/passed".into())
}
