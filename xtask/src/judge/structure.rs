//! Structure suites: what apr's inspection subcommands print (JSON) against the
//! source model's truth (config.json and the safetensors header): architecture,
//! layers, heads, kv heads, hidden size, vocab size, parameter count, tensor names,
//! count and shapes. Also which apr commands to run for them (`structure_calls`).
//! An unrecognised JSON shape is a FAIL quoting the raw output, never a PASS.

use super::*;
use camino::Utf8PathBuf;
use serde_json::Value;

pub const STRUCTURE_SUITES: &[&str] = &[
    "inspect", "validate", "tensors", "lint", "selftest", "diff", "tree", "oracle-id", "hex", "debug", "bench", "qa", "list",
    "rosetta-diff", "parity-gpu",
];

/// Per-artifact suites run on these artifacts (the seed's counts: 2 per model).
pub const STRUCTURE_ARTIFACTS: &[&str] = &["int4", "int8"];
/// Key of the pairwise suites (diff, rosetta-diff): first vs second.
pub const PAIR_KEY: &str = "int8~int4";
pub const GLOBAL_KEY: &str = "global";
/// The GGUF `apr parity` runs on.
pub const PARITY_ARTIFACT: &str = "int4-gguf";

/// One apr command the harness runs for a structure suite; the result goes into
/// `ModelEvidence::structure` under `StructureKey { suite, artifact: artifact_key }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StructureCall {
    pub suite: String,
    pub artifact_key: String,
    /// argv after "apr".
    pub args: Vec<String>,
    /// Only meaningful where a GPU is present (parity-gpu); elsewhere the suite is SKIP.
    pub needs_gpu: bool,
}

/// The args of a per-artifact suite, "{}" where the artifact's path goes.
fn per_artifact_args(suite: &str) -> Option<Vec<&'static str>> {
    Some(match suite {
        "inspect" => vec!["inspect", "{}", "--json"],
        "validate" => vec!["validate", "{}", "--json"],
        "tensors" => vec!["tensors", "{}", "--json"],
        "lint" => vec!["lint", "{}", "--json"],
        "selftest" => vec!["check", "{}", "--json"],
        "tree" => vec!["tree", "{}", "--json"],
        "oracle-id" => vec!["oracle", "{}", "--json"],
        "hex" => vec!["hex", "{}", "--stats", "--limit", "4", "--json"],
        "debug" => vec!["debug", "{}", "--json"],
        "bench" => vec!["bench", "{}", "--json", "--iterations", "1", "--warmup", "0", "--max-tokens", "8"],
        "qa" => vec![
            "qa", "{}", "--json", "--skip-ollama", "--skip-gpu-speedup", "--skip-ptx-parity", "--skip-gpu-state",
            "--skip-capability", "--iterations", "1", "--warmup", "0", "--max-tokens", "8",
        ],
        _ => return None,
    })
}

/// The apr commands behind every structure suite, for the artifacts that exist.
/// `artifacts` maps artifact keys (int4, int8, int4-gguf, …) to their paths.
pub fn structure_calls(artifacts: &BTreeMap<String, Utf8PathBuf>) -> Vec<StructureCall> {
    let mut calls = Vec::new();
    let fill = |template: Vec<&str>, paths: &[&str]| -> Vec<String> {
        let mut i = 0;
        template
            .into_iter()
            .map(|a| {
                if a == "{}" {
                    i += 1;
                    paths[i - 1].to_string()
                } else {
                    a.to_string()
                }
            })
            .collect()
    };
    for suite in STRUCTURE_SUITES {
        match *suite {
            "diff" | "rosetta-diff" => {
                if let (Some(a), Some(b)) = (artifacts.get("int8"), artifacts.get("int4")) {
                    let t = if *suite == "diff" {
                        vec!["diff", "{}", "{}", "--json"]
                    } else {
                        vec!["rosetta", "diff-tensors", "{}", "{}", "--json"]
                    };
                    calls.push(StructureCall {
                        suite: suite.to_string(),
                        artifact_key: PAIR_KEY.into(),
                        args: fill(t, &[a.as_str(), b.as_str()]),
                        needs_gpu: false,
                    });
                }
            }
            "list" => calls.push(StructureCall {
                suite: "list".into(),
                artifact_key: GLOBAL_KEY.into(),
                args: vec!["list".into(), "--json".into()],
                needs_gpu: false,
            }),
            "parity-gpu" => {
                if let Some(p) = artifacts.get(PARITY_ARTIFACT) {
                    calls.push(StructureCall {
                        suite: "parity-gpu".into(),
                        artifact_key: PARITY_ARTIFACT.into(),
                        args: fill(vec!["parity", "{}", "--assert", "--json"], &[p.as_str()]),
                        needs_gpu: true,
                    });
                }
            }
            s => {
                for key in STRUCTURE_ARTIFACTS {
                    if let (Some(path), Some(t)) = (artifacts.get(*key), per_artifact_args(s)) {
                        calls.push(StructureCall {
                            suite: s.to_string(),
                            artifact_key: key.to_string(),
                            args: fill(t, &[path.as_str()]),
                            needs_gpu: false,
                        });
                    }
                }
            }
        }
    }
    calls
}

/// What a suite's parser concluded from apr's JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Pass(String),
    /// note, root-cause signature
    Fail(String, String),
    /// The JSON is not a shape this parser knows: what it looked for.
    Unrecognised(String),
}

/// A field-level problem: note text and a suite-independent signature.
struct Problems(Vec<(String, String)>);

impl Problems {
    fn new() -> Self {
        Problems(Vec::new())
    }
    fn push(&mut self, note: String, sig: impl Into<String>) {
        self.0.push((note, sig.into()));
    }
    fn verdict(self, pass: String) -> Verdict {
        if self.0.is_empty() {
            Verdict::Pass(pass)
        } else {
            let note = self.0.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join("; ");
            Verdict::Fail(note, self.0[0].1.clone())
        }
    }
}

fn num(v: &Value, path: &[&str]) -> Option<u64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_u64().or_else(|| cur.as_str().and_then(|s| s.trim().parse().ok())).or_else(|| {
        cur.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64)
    })
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
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
    let canon: Vec<String> = t.tensors.keys().map(|n| canonical_tensor_name(n)).collect();
    let tied = !canon.iter().any(|n| n == "lm_head.weight");
    let embed_params = t
        .tensors
        .iter()
        .find(|(n, _)| canonical_tensor_name(n) == "embed_tokens.weight")
        .map(|(_, s)| s.iter().product::<usize>() as u64)
        .unwrap_or(0);
    Expect { tensors: t.tensors.len(), params: t.param_count, tied, embed_params }
}

fn check_count(p: &mut Problems, notes: &mut Vec<String>, e: &Expect, got: u64) {
    if got == e.tensors as u64 {
    } else if e.tied && got == e.tensors as u64 + 1 {
        notes.push("tied lm_head stored separately".into());
    } else {
        p.push(format!("tensor count {got}, checkpoint {}", e.tensors), "wrong tensor count");
    }
}

fn check_params(p: &mut Problems, notes: &mut Vec<String>, e: &Expect, got: u64) {
    if got == e.params {
    } else if e.tied && got == e.params + e.embed_params {
        notes.push(format!("params {got} count the tied lm_head again (checkpoint {})", e.params));
    } else {
        p.push(format!("parameter count {got}, checkpoint {}", e.params), "wrong parameter count");
    }
}

fn check_arch(p: &mut Problems, t: &ModelTruth, got: Option<&str>) {
    match got.map(str::trim) {
        None | Some("") => p.push("architecture empty or missing".into(), "architecture field empty"),
        Some(a) if a.eq_ignore_ascii_case(&t.arch) => {}
        Some(a) => p.push(format!("architecture {a:?}, checkpoint {:?}", t.arch), "wrong architecture"),
    }
}

fn check_field(p: &mut Problems, name: &str, got: Option<u64>, want: usize) {
    match got {
        None => p.push(format!("{name} missing"), format!("{name} missing")),
        Some(g) if g == want as u64 => {}
        Some(g) => p.push(format!("{name} {g}, checkpoint {want}"), format!("wrong {name}")),
    }
}

fn with_notes(base: String, notes: &[String]) -> String {
    if notes.is_empty() {
        base
    } else {
        format!("{base} ({})", notes.join("; "))
    }
}

/// inspect: APR shape (top-level fields + metadata) or GGUF shape (metadata keys).
pub fn check_inspect(v: &Value, t: &ModelTruth, artifact: &str) -> Verdict {
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
        match get("param_count") {
            Some(n) => check_params(&mut p, &mut notes, &e, n),
            None => p.push("param_count missing".into(), "param_count missing"),
        }
        match get("tensor_count") {
            Some(n) => check_count(&mut p, &mut notes, &e, n),
            None => p.push("tensor_count missing".into(), "tensor_count missing"),
        }
        if matches!(artifact, "int4" | "int8") && v.pointer("/flags/quantized") == Some(&Value::Bool(false)) {
            p.push(format!("flags.quantized is false on the {artifact} artifact"), "quantized flag false on a quantized file");
        }
    } else if let Some(arch) = text(v, &["metadata", "general.architecture"]) {
        // GGUF: llama.block_count, llama.attention.head_count, …
        check_arch(&mut p, t, Some(arch));
        let m = |k: &str| num(v, &["metadata", &format!("{arch}.{k}")]);
        check_field(&mut p, "num_layers", m("block_count"), t.num_layers);
        check_field(&mut p, "num_heads", m("attention.head_count"), t.num_heads);
        check_field(&mut p, "num_kv_heads", m("attention.head_count_kv"), t.num_kv_heads);
        check_field(&mut p, "hidden_size", m("embedding_length"), t.hidden_size);
        if let Some(n) = num(v, &["total_params"]) {
            check_params(&mut p, &mut notes, &e, n);
        }
        if let Some(n) = num(v, &["tensor_count"]) {
            check_count(&mut p, &mut notes, &e, n);
        }
    } else {
        return Verdict::Unrecognised("neither num_layers (APR) nor metadata[\"general.architecture\"] (GGUF)".into());
    }
    p.verdict(with_notes(
        format!("{} {}L {}H/{}KV h{} v{} match", t.arch, t.num_layers, t.num_heads, t.num_kv_heads, t.hidden_size, t.vocab_size),
        &notes,
    ))
}

/// validate: every check that ran passed and the verdict is valid.
pub fn check_validate(v: &Value) -> Verdict {
    let Some(checks) = v.get("checks").and_then(Value::as_array) else {
        return Verdict::Unrecognised("no \"checks\" array".into());
    };
    let mut p = Problems::new();
    let bad: Vec<String> = checks
        .iter()
        .filter(|c| !matches!(text(c, &["status"]), Some("PASS") | Some("pass") | Some("ok")))
        .map(|c| format!("{} ({})", text(c, &["name"]).unwrap_or("?"), text(c, &["status"]).unwrap_or("no status")))
        .collect();
    if !bad.is_empty() {
        p.push(format!("{} checks not passed: {}", bad.len(), bad.join(", ")), "validate checks fail");
    }
    match (v.get("passed").and_then(Value::as_bool), text(v, &["verdict"])) {
        (Some(true), Some(verdict)) if verdict.eq_ignore_ascii_case("valid") => {}
        (None, None) => return Verdict::Unrecognised("neither \"passed\" nor \"verdict\"".into()),
        (passed, verdict) => p.push(format!("passed={passed:?}, verdict={verdict:?}"), "validate verdict not valid"),
    }
    if num(v, &["content_total_nan"]).unwrap_or(0) + num(v, &["content_total_inf"]).unwrap_or(0) > 0 {
        p.push("NaN/Inf in tensor content".into(), "NaN/Inf in tensor data");
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

fn judge_tensor_diff(d: TensorDiff) -> Verdict {
    let mut p = Problems::new();
    if !d.missing.is_empty() {
        p.push(format!("{} checkpoint tensors missing (e.g. {})", d.missing.len(), d.missing[0]), "tensors missing");
    }
    if !d.unexpected.is_empty() {
        p.push(format!("{} unexpected tensors (e.g. {})", d.unexpected.len(), d.unexpected[0]), "unexpected tensors");
    }
    if let Some((n, e, f)) = d.wrong_shape.first() {
        p.push(format!("{} tensors with wrong shape (e.g. {n}: checkpoint {e:?}, found {f:?})", d.wrong_shape.len()), "wrong tensor shapes");
    }
    p.verdict(d.summary())
}

/// tensors: names and shapes against the safetensors header.
pub fn check_tensors(v: &Value, t: &ModelTruth) -> Verdict {
    let Some(items) = v.get("tensors").and_then(Value::as_array) else {
        return Verdict::Unrecognised("no \"tensors\" array".into());
    };
    let Some(found) = tensor_list(items) else {
        return Verdict::Unrecognised("a tensors entry without \"name\"".into());
    };
    if let Some(n) = num(v, &["tensor_count"]) {
        if n as usize != found.len() {
            return Verdict::Fail(
                format!("tensor_count {n} but {} tensors listed", found.len()),
                "tensor_count disagrees with the list".into(),
            );
        }
    }
    judge_tensor_diff(compare_tensors(t, &found))
}

/// lint: no error-level issue.
pub fn check_lint(v: &Value) -> Verdict {
    let Some(issues) = v.get("issues").and_then(Value::as_array) else {
        return Verdict::Unrecognised("no \"issues\" array".into());
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
        p.push(format!("{} lint errors: {}", errors.len(), errors.join("; ")), "lint errors");
    }
    if v.get("passed").and_then(Value::as_bool) == Some(false) && errors.is_empty() {
        p.push("lint reports passed=false".into(), "lint errors");
    }
    p.verdict(format!("0 errors, {warns} warnings"))
}

/// selftest (`apr check`): every stage passes; stage details that state a layer
/// count or vocab size agree with the checkpoint.
pub fn check_selftest(v: &Value, t: &ModelTruth) -> Verdict {
    let Some(stages) = v.get("stages").and_then(Value::as_array) else {
        return Verdict::Unrecognised("no \"stages\" array".into());
    };
    let mut p = Problems::new();
    let failed: Vec<String> = stages
        .iter()
        .filter(|s| !matches!(text(s, &["status"]), Some("PASS") | Some("pass") | Some("ok")))
        .map(|s| format!("{} ({})", text(s, &["name"]).unwrap_or("?"), text(s, &["details"]).unwrap_or("")))
        .collect();
    if !failed.is_empty() {
        p.push(format!("{}/{} stages failed: {}", failed.len(), stages.len(), failed.join(", ")), "self-test stages fail");
    }
    for s in stages {
        let d = text(s, &["details"]).unwrap_or("");
        if let Some(n) = d.strip_suffix(" layers").and_then(|n| n.trim().parse::<usize>().ok()) {
            if n != t.num_layers {
                p.push(format!("stage says {n} layers, checkpoint {}", t.num_layers), "wrong num_layers");
            }
        }
        if let Some(n) = d.strip_prefix("vocab_size=").and_then(|n| n.trim().parse::<usize>().ok()) {
            if n != t.vocab_size {
                p.push(format!("stage says vocab {n}, checkpoint {}", t.vocab_size), "wrong vocab_size");
            }
        }
    }
    if v.get("all_passed").and_then(Value::as_bool) == Some(false) && failed.is_empty() {
        p.push("all_passed=false".into(), "self-test stages fail");
    }
    p.verdict(format!("{}/{} stages pass", stages.len() - failed.len(), stages.len()))
}

/// Fields that differ between int8 and int4 only because the files have other names.
const LABEL_FIELDS: &[&str] = &["metadata.model_name", "metadata.name", "file", "path"];

/// diff (int8 vs int4): only dtype/size (quantization) may differ, and they must differ.
pub fn check_diff(v: &Value) -> Verdict {
    let Some(diffs) = v.get("differences").and_then(Value::as_array) else {
        return Verdict::Unrecognised("no \"differences\" array".into());
    };
    let mut quant = 0;
    let mut labels = 0;
    let mut structural = Vec::new();
    for d in diffs {
        let field = text(d, &["field"]).unwrap_or("");
        let kind = text(d, &["type"]).unwrap_or("");
        let cat = text(d, &["category"]).unwrap_or("");
        if matches!(kind, "dtype" | "size") || matches!(cat, "quantization" | "size") {
            quant += 1;
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
    if !structural.is_empty() {
        p.push(
            format!("{} structural differences (e.g. {})", structural.len(), structural[0]),
            "int4 vs int8 differ beyond dtype/size",
        );
    }
    if quant == 0 {
        p.push("no dtype/size difference between int8 and int4: quantization not applied?".into(), "int4 and int8 not different");
    }
    p.verdict(format!("{quant} dtype/size differences only{}", if labels > 0 { format!(" (+{labels} name labels)") } else { String::new() }))
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
pub fn check_tree(v: &Value, t: &ModelTruth) -> Verdict {
    if v.get("children").is_none() {
        return Verdict::Unrecognised("no root \"children\"".into());
    }
    let mut leaves = Vec::new();
    tree_leaves(v, &mut leaves);
    let Some(found) = tensor_list(&leaves) else {
        return Verdict::Unrecognised("a tensor leaf without \"path\"/\"name\"".into());
    };
    if let Some(n) = num(v, &["tensor_count"]) {
        if n as usize != found.len() {
            return Verdict::Fail(format!("root tensor_count {n} but {} leaves", found.len()), "tensor_count disagrees with the list".into());
        }
    }
    judge_tensor_diff(compare_tensors(t, &found))
}

/// oracle-id: architecture, parameters and tensor count identified.
pub fn check_oracle(v: &Value, t: &ModelTruth) -> Verdict {
    let base = v.get("format").filter(|f| f.is_object()).unwrap_or(v);
    let arch = text(base, &["architecture"]).or_else(|| text(v, &["architecture"])).or_else(|| text(v, &["family"]));
    if arch.is_none() && num(base, &["total_params"]).is_none() {
        return Verdict::Unrecognised("neither format.architecture nor format.total_params".into());
    }
    let e = expect(t);
    let mut p = Problems::new();
    let mut notes = Vec::new();
    check_arch(&mut p, t, arch);
    match num(base, &["total_params"]).or_else(|| num(v, &["parameters"])) {
        Some(n) => check_params(&mut p, &mut notes, &e, n),
        None => p.push("parameter count missing".into(), "param_count missing"),
    }
    if let Some(n) = num(base, &["tensor_count"]) {
        check_count(&mut p, &mut notes, &e, n);
    }
    p.verdict(with_notes(format!("arch={}", t.arch), &notes))
}

/// hex --stats: every tensor's statistics finite; no matrix all-constant.
pub fn check_hex(v: &Value, t: &ModelTruth) -> Verdict {
    let Some(items) = v.as_array().or_else(|| v.get("tensors").and_then(Value::as_array)) else {
        return Verdict::Unrecognised("neither a list nor {\"tensors\": [...]}".into());
    };
    let e = expect(t);
    let mut p = Problems::new();
    let mut notes = Vec::new();
    let (mut bad, mut constant) = (Vec::new(), Vec::new());
    for it in items {
        let name = text(it, &["name"]).unwrap_or("?");
        let Some(st) = it.get("stats").filter(|s| s.is_object()) else {
            return Verdict::Unrecognised(format!("tensor {name} without \"stats\""));
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
    if !bad.is_empty() {
        p.push(format!("{} tensors with missing or non-finite stats (e.g. {})", bad.len(), bad[0]), "non-finite tensor statistics");
    }
    if !constant.is_empty() {
        p.push(format!("{} matrices with std=0 (e.g. {})", constant.len(), constant[0]), "constant (zero) tensor data");
    }
    check_count(&mut p, &mut notes, &e, items.len() as u64);
    p.verdict(with_notes(format!("{} tensors, finite non-constant data", items.len()), &notes))
}

/// debug: health OK; architecture, tensors and parameters agree.
pub fn check_debug(v: &Value, t: &ModelTruth) -> Verdict {
    let Some(health) = text(v, &["health"]).or_else(|| text(v, &["status"])) else {
        return Verdict::Unrecognised("no \"health\"".into());
    };
    let e = expect(t);
    let mut p = Problems::new();
    let mut notes = Vec::new();
    if !health.eq_ignore_ascii_case("ok") && !health.eq_ignore_ascii_case("healthy") {
        p.push(format!("health={health}"), "debug health not OK");
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
pub fn check_bench(v: &Value) -> Verdict {
    let tps = ["tokens_per_second", "tok_per_sec", "tok_s", "throughput"].iter().find_map(|k| v.get(k).and_then(Value::as_f64));
    match tps {
        None => Verdict::Unrecognised("no tokens_per_second".into()),
        // The claim is throughput > 0; apr's own hardware-dependent minimum is noted.
        Some(x) if x > 0.0 && x.is_finite() => Verdict::Pass(if v.get("passed").and_then(Value::as_bool) == Some(false) {
            format!("{x:.1} tok/s (below apr's own minimum)")
        } else {
            format!("{x:.1} tok/s")
        }),
        Some(x) => Verdict::Fail(format!("throughput {x} tok/s"), "zero throughput".into()),
    }
}

/// qa: every executed gate passed.
pub fn check_qa(v: &Value) -> Verdict {
    let Some(gates) = v.get("gates").and_then(Value::as_array) else {
        return Verdict::Unrecognised("no \"gates\" array".into());
    };
    let executed: Vec<&Value> = gates.iter().filter(|g| g.get("skipped").and_then(Value::as_bool) != Some(true)).collect();
    let failed: Vec<String> = executed
        .iter()
        .filter(|g| g.get("passed").and_then(Value::as_bool) != Some(true))
        .map(|g| format!("{} ({})", text(g, &["name"]).unwrap_or("?"), one_line(text(g, &["message"]).unwrap_or(""), 60)))
        .collect();
    let mut p = Problems::new();
    if executed.is_empty() {
        p.push("no gate executed".into(), "qa ran no gates");
    }
    if !failed.is_empty() {
        p.push(format!("{}/{} gates failed: {}", failed.len(), executed.len(), failed.join(", ")), "qa gates fail");
    }
    p.verdict(format!("{} gates passed", executed.len()))
}

/// list: a cache listing that parses.
pub fn check_list(v: &Value) -> Verdict {
    let Some(models) = v.get("models").and_then(Value::as_array) else {
        return Verdict::Unrecognised("no \"models\" array".into());
    };
    match num(v, &["total"]) {
        Some(n) if n as usize != models.len() => {
            Verdict::Fail(format!("total {n} but {} models listed", models.len()), "list total disagrees".into())
        }
        _ => Verdict::Pass(format!("cache listing works ({} models)", models.len())),
    }
}

/// rosetta diff-tensors (int8 vs int4): no layout mismatches, nothing missing, both
/// hold the checkpoint's tensors.
pub fn check_rosetta(v: &Value, t: &ModelTruth) -> Verdict {
    let (Some(a), Some(b)) = (num(v, &["tensors_a"]), num(v, &["tensors_b"])) else {
        return Verdict::Unrecognised("no tensors_a/tensors_b".into());
    };
    let e = expect(t);
    let mut p = Problems::new();
    let mut notes = Vec::new();
    for (k, sig) in [("layout_mismatches", "layout mismatches"), ("missing_in_a", "tensors missing"), ("missing_in_b", "tensors missing")] {
        match v.get(k).map(|x| x.as_u64().or_else(|| x.as_array().map(|a| a.len() as u64))) {
            Some(Some(0)) => {}
            Some(Some(n)) => p.push(format!("{k}={n}"), sig),
            _ => return Verdict::Unrecognised(format!("no {k}")),
        }
    }
    check_count(&mut p, &mut notes, &e, a);
    if a != b {
        p.push(format!("int8 has {a} tensors, int4 {b}"), "tensor count differs between quantizations");
    }
    p.verdict(with_notes(format!("{a} tensors each, no layout mismatches"), &notes))
}

/// parity-gpu (`apr parity`): CPU and GPU agree.
pub fn check_parity(v: &Value) -> Verdict {
    for k in ["match", "parity", "passed", "pass"] {
        match v.get(k) {
            Some(Value::Bool(true)) => return Verdict::Pass("GPU/CPU parity".into()),
            Some(Value::Bool(false)) => return Verdict::Fail(format!("{k}=false"), "GPU/CPU parity mismatch".into()),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("pass") => return Verdict::Pass("GPU/CPU parity".into()),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("fail") => return Verdict::Fail(format!("{k}={s}"), "GPU/CPU parity mismatch".into()),
            _ => {}
        }
    }
    Verdict::Unrecognised("none of match/parity/passed".into())
}

fn needs_truth(suite: &str) -> bool {
    matches!(suite, "inspect" | "tensors" | "selftest" | "tree" | "oracle-id" | "hex" | "debug" | "rosetta-diff")
}

fn keys_for(suite: &str) -> Vec<&'static str> {
    match suite {
        "diff" | "rosetta-diff" => vec![PAIR_KEY],
        "list" => vec![GLOBAL_KEY],
        "parity-gpu" => vec![PARITY_ARTIFACT],
        _ => STRUCTURE_ARTIFACTS.to_vec(),
    }
}

/// Applies a suite's parser to a JSON value.
pub fn check(suite: &str, v: &Value, truth: Option<&ModelTruth>, artifact: &str) -> Verdict {
    match suite {
        "validate" => return check_validate(v),
        "lint" => return check_lint(v),
        "diff" => return check_diff(v),
        "bench" => return check_bench(v),
        "qa" => return check_qa(v),
        "list" => return check_list(v),
        "parity-gpu" => return check_parity(v),
        _ => {}
    }
    let Some(t) = truth else {
        return Verdict::Unrecognised(format!("suite {suite} needs the checkpoint's truth"));
    };
    match suite {
        "inspect" => check_inspect(v, t, artifact),
        "tensors" => check_tensors(v, t),
        "selftest" => check_selftest(v, t),
        "tree" => check_tree(v, t),
        "oracle-id" => check_oracle(v, t),
        "hex" => check_hex(v, t),
        "debug" => check_debug(v, t),
        "rosetta-diff" => check_rosetta(v, t),
        other => Verdict::Unrecognised(format!("no parser for suite {other}")),
    }
}

pub fn judge(suite: &str, ev: &ModelEvidence) -> Vec<Outcome> {
    keys_for(suite)
        .into_iter()
        .map(|key| {
            let ctx = Ctx::new(suite, &ev.slug, key);
            let obs = ev.structure.get(&StructureKey::new(suite, key));
            if suite == "parity-gpu" {
                match obs {
                    None => return ctx.skip("no GPU: apr parity compares CPU with GPU"),
                    Some(Observed::Failed { error, invocation })
                        if (error.to_lowercase() + &invocation.stderr.to_lowercase()).contains("cuda") =>
                    {
                        return ctx.skip(format!("no GPU support here: {}", first_line(&invocation.stderr).chars().take(100).collect::<String>()));
                    }
                    _ => {}
                }
            }
            let (v, inv) = match take(obs, &ctx, &format!("apr {suite} on {key}")) {
                Ok(x) => x,
                Err(o) => return o,
            };
            if needs_truth(suite) && ev.truth.is_none() {
                return ctx.blocked(
                    "no truth for this model (config.json / safetensors header not read)",
                    "no source-model truth",
                    evidence_from(inv, None, Some(raw_output(inv)), Value::Null),
                );
            }
            // The raw output is kept whole in the invocation; `actual` quotes its start.
            let evidence = |expected: Option<String>| evidence_from(inv, expected, Some(truncate(&inv.stdout, 4000)), Value::Null);
            match check(suite, v, ev.truth.as_ref(), key) {
                Verdict::Pass(note) => ctx.pass(note, evidence(None)),
                Verdict::Fail(note, sig) => ctx.fail(note, sig, evidence(ev.truth.as_ref().map(truth_summary))),
                Verdict::Unrecognised(what) => ctx.fail(
                    format!("unrecognised JSON shape ({what}): {}", one_line(&inv.stdout, 80)),
                    format!("apr {suite}: unrecognised JSON shape"),
                    evidence(None),
                ),
            }
        })
        .collect()
}

pub fn truth_summary(t: &ModelTruth) -> String {
    format!(
        "arch={} layers={} heads={} kv_heads={} hidden={} vocab={} params={} tensors={}",
        t.arch,
        t.num_layers,
        t.num_heads,
        t.num_kv_heads,
        t.hidden_size,
        t.vocab_size,
        t.param_count,
        t.tensors.len()
    )
}

/// One tensor name in a canonical form shared by HF, GGUF and APR spellings: the HF
/// name without its leading "model." (llama/qwen2) or "transformer." (gpt2).
pub fn canonical_tensor_name(name: &str) -> String {
    let hf = tmgt_schema::tensor_names::hf_name(name).unwrap_or_else(|| name.to_string());
    hf.strip_prefix("model.").or_else(|| hf.strip_prefix("transformer.")).unwrap_or(&hf).to_string()
}

/// GGUF lists dims innermost first; HF outermost first. Either order matches.
pub fn shape_matches(truth: &[usize], found: &[usize]) -> bool {
    truth == found || truth.iter().rev().eq(found.iter())
}

/// How a list of (name, shape) compares with the checkpoint's tensors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TensorDiff {
    pub expected_count: usize,
    pub found_count: usize,
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
    /// name, expected shape, found shape
    pub wrong_shape: Vec<(String, Vec<usize>, Vec<usize>)>,
    /// lm_head present in the artifact while the checkpoint ties it to the embedding.
    pub materialized_tied_head: bool,
}

impl TensorDiff {
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("{} tensors (checkpoint {})", self.found_count, self.expected_count)];
        if !self.missing.is_empty() {
            parts.push(format!("{} missing (e.g. {})", self.missing.len(), self.missing[0]));
        }
        if !self.unexpected.is_empty() {
            parts.push(format!("{} unexpected (e.g. {})", self.unexpected.len(), self.unexpected[0]));
        }
        if let Some((n, e, f)) = self.wrong_shape.first() {
            parts.push(format!("{} wrong shapes (e.g. {n}: {e:?} vs {f:?})", self.wrong_shape.len()));
        }
        if self.materialized_tied_head {
            parts.push("lm_head materialized from tied embedding".into());
        }
        parts.join("; ")
    }
}

/// Compares found tensors (any naming) with the truth. Shapes are checked when given.
pub fn compare_tensors(truth: &ModelTruth, found: &[(String, Option<Vec<usize>>)]) -> TensorDiff {
    let expected: BTreeMap<String, &Vec<usize>> = truth.tensors.iter().map(|(n, s)| (canonical_tensor_name(n), s)).collect();
    let mut seen = BTreeMap::new();
    let mut d = TensorDiff { expected_count: expected.len(), found_count: found.len(), ..Default::default() };
    for (name, shape) in found {
        let c = canonical_tensor_name(name);
        match expected.get(&c) {
            Some(truth_shape) => {
                if let Some(shape) = shape {
                    if !shape_matches(truth_shape, shape) {
                        d.wrong_shape.push((c.clone(), truth_shape.to_vec(), shape.clone()));
                    }
                }
            }
            None if c == "lm_head.weight" && expected.contains_key("embed_tokens.weight") => {
                let emb = expected["embed_tokens.weight"];
                match shape {
                    Some(s) if !shape_matches(emb, s) => d.wrong_shape.push((c.clone(), emb.to_vec(), s.clone())),
                    _ => d.materialized_tied_head = true,
                }
            }
            None => d.unexpected.push(name.clone()),
        }
        seen.insert(c, ());
    }
    d.missing = expected.keys().filter(|k| !seen.contains_key(*k)).cloned().collect();
    d
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tmgt_schema::Invocation;

    /// SmolLM2-135M's checkpoint as the oracle lays it out (HF names and shapes,
    /// tied embeddings: no lm_head).
    pub fn smollm2_truth() -> ModelTruth {
        let (h, kv, ff, v, layers) = (576usize, 192usize, 1536usize, 49152usize, 30usize);
        let mut tensors = BTreeMap::new();
        tensors.insert("model.embed_tokens.weight".to_string(), vec![v, h]);
        tensors.insert("model.norm.weight".to_string(), vec![h]);
        for l in 0..layers {
            let p = format!("model.layers.{l}");
            for (n, s) in [
                ("input_layernorm.weight", vec![h]),
                ("post_attention_layernorm.weight", vec![h]),
                ("self_attn.q_proj.weight", vec![h, h]),
                ("self_attn.k_proj.weight", vec![kv, h]),
                ("self_attn.v_proj.weight", vec![kv, h]),
                ("self_attn.o_proj.weight", vec![h, h]),
                ("mlp.gate_proj.weight", vec![ff, h]),
                ("mlp.up_proj.weight", vec![ff, h]),
                ("mlp.down_proj.weight", vec![h, ff]),
            ] {
                tensors.insert(format!("{p}.{n}"), s);
            }
        }
        let param_count = tensors.values().map(|s| s.iter().product::<usize>() as u64).sum();
        ModelTruth { arch: "llama".into(), num_layers: 30, num_heads: 9, num_kv_heads: 3, hidden_size: 576, vocab_size: 49152, param_count, tensors }
    }

    pub fn fixture(name: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apr-0.72.3").join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    pub fn json(name: &str) -> Value {
        serde_json::from_str(&fixture(name)).unwrap()
    }

    fn pass_note(v: Verdict) -> String {
        match v {
            Verdict::Pass(n) => n,
            other => panic!("expected PASS, got {other:?}"),
        }
    }

    fn fail(v: Verdict) -> (String, String) {
        match v {
            Verdict::Fail(n, s) => (n, s),
            other => panic!("expected FAIL, got {other:?}"),
        }
    }

    #[test]
    fn truth_matches_known_smollm2_facts() {
        let t = smollm2_truth();
        assert_eq!(t.param_count, 134_515_008);
        assert_eq!(t.tensors.len(), 272);
    }

    #[test]
    fn canonical_names_unify_gguf_and_hf() {
        assert_eq!(canonical_tensor_name("blk.3.attn_q.weight"), "layers.3.self_attn.q_proj.weight");
        assert_eq!(canonical_tensor_name("model.layers.3.self_attn.q_proj.weight"), "layers.3.self_attn.q_proj.weight");
        assert_eq!(canonical_tensor_name("blk.0.ffn_norm.weight"), "layers.0.post_attention_layernorm.weight");
        assert_eq!(canonical_tensor_name("token_embd.weight"), canonical_tensor_name("model.embed_tokens.weight"));
        assert_eq!(canonical_tensor_name("output_norm.weight"), canonical_tensor_name("model.norm.weight"));
        assert_eq!(canonical_tensor_name("blk.2.attn_q.bias"), "layers.2.self_attn.q_proj.bias");
        assert!(shape_matches(&[192, 576], &[576, 192]));
        assert!(!shape_matches(&[192, 576], &[192, 192]));
    }

    #[test]
    fn structure_calls_cover_every_structure_suite() {
        let artifacts: BTreeMap<String, Utf8PathBuf> = [("int4", "m/int4.apr"), ("int8", "m/int8.apr"), ("int4-gguf", "m/int4.gguf")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Utf8PathBuf::from(v)))
            .collect();
        let calls = structure_calls(&artifacts);
        for suite in STRUCTURE_SUITES {
            assert!(calls.iter().any(|c| c.suite == *suite), "no call for {suite}");
        }
        assert_eq!(calls.len(), 11 * 2 + 2 + 1 + 1);
        let find = |s: &str, k: &str| calls.iter().find(|c| c.suite == s && c.artifact_key == k).unwrap().args.join(" ");
        assert_eq!(find("inspect", "int8"), "inspect m/int8.apr --json");
        assert_eq!(find("selftest", "int4"), "check m/int4.apr --json");
        assert_eq!(find("oracle-id", "int4"), "oracle m/int4.apr --json");
        assert_eq!(find("diff", PAIR_KEY), "diff m/int8.apr m/int4.apr --json");
        assert_eq!(find("rosetta-diff", PAIR_KEY), "rosetta diff-tensors m/int8.apr m/int4.apr --json");
        assert_eq!(find("list", GLOBAL_KEY), "list --json");
        assert!(calls.iter().find(|c| c.suite == "parity-gpu").unwrap().needs_gpu);
        assert!(calls.iter().filter(|c| c.suite != "parity-gpu").all(|c| !c.needs_gpu));
        // without an int4 there is no pairwise call
        let only8: BTreeMap<String, Utf8PathBuf> = [("int8".to_string(), Utf8PathBuf::from("a.apr"))].into();
        assert!(structure_calls(&only8).iter().all(|c| c.artifact_key != PAIR_KEY));
    }

    #[test]
    fn inspect_real_apr_output() {
        let t = smollm2_truth();
        // apr 0.72.3 says flags.quantized=false on a file of q8 tensors
        let (note, sig) = fail(check_inspect(&json("inspect-int8.json"), &t, "int8"));
        assert_eq!(sig, "quantized flag false on a quantized file", "{note}");
        assert!(!note.contains("num_layers"), "{note}");
        let (_, sig4) = fail(check_inspect(&json("inspect-int4.json"), &t, "int4"));
        assert_eq!(sig4, sig);
        // the same JSON on an unquantized artifact passes, noting the tied head
        let note = pass_note(check_inspect(&json("inspect-int8.json"), &t, "roundtrip"));
        assert!(note.contains("tied lm_head"), "{note}");
        // GGUF shape
        let note = pass_note(check_inspect(&json("inspect-gguf.json"), &t, "int4-gguf"));
        assert!(note.contains("llama 30L 9H/3KV"), "{note}");
        // truth differs: caught, with the checkpoint's value
        let mut wrong = t.clone();
        wrong.num_heads = 8;
        let (note, sig) = fail(check_inspect(&json("inspect-int8.json"), &wrong, "roundtrip"));
        assert_eq!(sig, "wrong num_heads");
        assert!(note.contains("num_heads 9, checkpoint 8"), "{note}");
        // an empty architecture
        let mut v = json("inspect-int8.json");
        v["architecture"] = Value::String(String::new());
        v["metadata"]["architecture"] = Value::Null;
        assert_eq!(fail(check_inspect(&v, &t, "roundtrip")).1, "architecture field empty");
        assert!(matches!(check_inspect(&serde_json::json!({"weird": 1}), &t, "int8"), Verdict::Unrecognised(_)));
    }

    #[test]
    fn validate_lint_selftest_real_outputs() {
        let t = smollm2_truth();
        assert_eq!(pass_note(check_validate(&json("validate-int8.json"))), "4 checks passed; 21 of 26 not implemented");
        let mut v = json("validate-int8.json");
        v["checks"][1]["status"] = "FAIL".into();
        assert_eq!(fail(check_validate(&v)).1, "validate checks fail");
        assert_eq!(pass_note(check_lint(&json("lint-int8.json"))), "0 errors, 3 warnings");
        let mut v = json("lint-int8.json");
        v["issues"][0]["level"] = "ERROR".into();
        assert_eq!(fail(check_lint(&v)).1, "lint errors");
        assert_eq!(pass_note(check_selftest(&json("check-int8.json"), &t)), "10/10 stages pass");
        let mut wrong = t.clone();
        wrong.num_layers = 29;
        assert_eq!(fail(check_selftest(&json("check-int8.json"), &wrong)).1, "wrong num_layers");
    }

    #[test]
    fn tensors_and_tree_real_outputs_against_the_checkpoint() {
        let t = smollm2_truth();
        for f in ["tensors-int8.json", "tensors-gguf.json"] {
            let note = pass_note(check_tensors(&json(f), &t));
            assert!(note.starts_with("273 tensors (checkpoint 272)") && note.contains("lm_head materialized"), "{f}: {note}");
        }
        let note = pass_note(check_tree(&json("tree-int8.json"), &t));
        assert!(note.starts_with("273 tensors"), "{note}");
        // a checkpoint with a tensor apr does not have
        let mut more = t.clone();
        more.tensors.insert("model.layers.0.self_attn.q_proj.bias".into(), vec![576]);
        let (note, sig) = fail(check_tensors(&json("tensors-int8.json"), &more));
        assert_eq!(sig, "tensors missing");
        assert!(note.contains("layers.0.self_attn.q_proj.bias"), "{note}");
        // a wrong shape
        let mut v = json("tensors-int8.json");
        v["tensors"][0]["shape"] = serde_json::json!([576, 576]);
        assert_eq!(fail(check_tensors(&v, &t)).1, "wrong tensor shapes");
    }

    #[test]
    fn diff_and_rosetta_real_outputs() {
        let t = smollm2_truth();
        let note = pass_note(check_diff(&json("diff-int8-int4.json")));
        assert!(note.starts_with("213 dtype/size differences only (+1 name labels)"), "{note}");
        let mut v = json("diff-int8-int4.json");
        v["differences"].as_array_mut().unwrap().push(serde_json::json!({
            "field": "tensor.blk.0.attn_q.weight.shape", "file1_value": "[576, 576]", "file2_value": "[576, 288]",
            "category": "tensor", "type": "shape"
        }));
        assert_eq!(fail(check_diff(&v)).1, "int4 vs int8 differ beyond dtype/size");
        assert!(pass_note(check_rosetta(&json("rosetta-int8-int4.json"), &t)).starts_with("273 tensors each"));
        let mut v = json("rosetta-int8-int4.json");
        v["layout_mismatches"] = 3.into();
        assert_eq!(fail(check_rosetta(&v, &t)).1, "layout mismatches");
    }

    #[test]
    fn oracle_debug_hex_list_bench_qa_real_outputs() {
        let t = smollm2_truth();
        let note = pass_note(check_oracle(&json("oracle-int8.json"), &t));
        assert!(note.contains("count the tied lm_head again"), "{note}");
        assert!(pass_note(check_debug(&json("debug-int8.json"), &t)).starts_with("health=OK"));
        let note = pass_note(check_hex(&json("hex-int8.json"), &t));
        assert!(note.starts_with("273 tensors"), "{note}");
        let mut v = json("hex-int8.json");
        v[0]["stats"]["std"] = serde_json::json!(0.0);
        assert_eq!(fail(check_hex(&v, &t)).1, "constant (zero) tensor data");
        assert_eq!(pass_note(check_list(&json("list.json"))), "cache listing works (0 models)");
        assert_eq!(pass_note(check_bench(&json("bench-gguf.json"))), "5.9 tok/s (below apr's own minimum)");
        let mut v = json("bench-gguf.json");
        v["tokens_per_second"] = serde_json::json!(0.0);
        assert_eq!(fail(check_bench(&v)).1, "zero throughput");
        let (note, sig) = fail(check_qa(&json("qa-gguf.json")));
        assert_eq!(sig, "qa gates fail");
        assert!(note.contains("golden_output"), "{note}");
        let mut wrong = t.clone();
        wrong.arch = "qwen2".into();
        assert_eq!(fail(check_oracle(&json("oracle-int8.json"), &wrong)).1, "wrong architecture");
        assert_eq!(fail(check_debug(&json("debug-int8.json"), &wrong)).1, "wrong architecture");
    }

    fn failed(args: &[&str], stderr_file: &str, code: i32) -> Observed<Value> {
        let stderr = fixture(stderr_file);
        Observed::Failed {
            error: format!("apr exited {code} with no JSON: {}", first_line(&stderr)),
            invocation: Invocation {
                command: args.iter().map(|s| s.to_string()).collect(),
                exit_code: Some(code),
                duration_s: 0.4,
                timed_out: false,
                stdout: String::new(),
                stderr,
                cwd: None,
            },
        }
    }

    #[test]
    fn judge_wires_observations_to_outcomes() {
        let mut ev = ModelEvidence::new("smollm2-135m-instruct");
        ev.truth = Some(smollm2_truth());
        let ok = |name: &str, args: &[&str]| Observed::Ok {
            value: json(name),
            invocation: Invocation { command: args.iter().map(|s| s.to_string()).collect(), exit_code: Some(0), stdout: fixture(name), ..Default::default() },
        };
        ev.structure.insert(StructureKey::new("tensors", "int8"), ok("tensors-int8.json", &["apr", "tensors", "int8.apr", "--json"]));
        ev.structure.insert(
            StructureKey::new("tensors", "int4"),
            Observed::Ok {
                value: serde_json::json!({"surprise": []}),
                invocation: Invocation { command: vec!["apr".into()], stdout: "{\"surprise\": []}".into(), ..Default::default() },
            },
        );
        ev.structure.insert(StructureKey::new("bench", "int8"), failed(&["apr", "bench", "int8.apr", "--json"], "bench-int8.stderr.txt", 101));
        ev.structure.insert(StructureKey::new("parity-gpu", PARITY_ARTIFACT), failed(&["apr", "parity", "x.gguf", "--json"], "parity-gguf.stderr.txt", 9));

        let outs = judge("tensors", &ev);
        assert_eq!(outs[0].subject, "int4");
        assert_eq!(outs[0].status, Status::Fail, "unrecognised shape");
        assert!(outs[0].note.contains("unrecognised JSON shape") && outs[0].note.contains("surprise"), "{}", outs[0].note);
        assert!(outs[0].evidence.actual.as_deref().unwrap().contains("surprise"));
        assert_eq!(outs[1].status, Status::Pass);

        let bench = judge("bench", &ev);
        assert_eq!(bench[0].status, Status::Blocked, "int4 bench not observed");
        assert_eq!(bench[1].status, Status::Fail);
        assert!(bench[1].evidence.actual.as_deref().unwrap().contains("range end index 576 out of range"));

        let parity = judge("parity-gpu", &ev);
        assert_eq!(parity[0].status, Status::Skip);
        assert!(parity[0].note.contains("cuda"), "{}", parity[0].note);
        ev.structure.clear();
        assert_eq!(judge("parity-gpu", &ev)[0].status, Status::Skip);

        ev.truth = None;
        ev.structure.insert(StructureKey::new("tensors", "int8"), ok("tensors-int8.json", &["apr"]));
        assert_eq!(judge("tensors", &ev)[1].status, Status::Blocked, "no truth, no verdict");
        assert_eq!(judge("list", &ev)[0].status, Status::Blocked, "list not observed");
    }
}
