//! The safetensors judge on hand-made JSON in apr 0.72.3's shapes (as it prints them on
//! SmolLM2's model.safetensors), against a two-tensor checkpoint.

use super::*;
use serde_json::json;
use tmgt_schema::Arch;

fn facts(dtype: &str, shape: Vec<usize>, bytes: u64, stats: [f64; 4]) -> TensorFacts {
    let [min, max, mean, std] = stats;
    TensorFacts { dtype: dtype.into(), shape, bytes, min, max, mean, std, nan: 0, inf: 0 }
}

fn checkpoint() -> Checkpoint {
    Checkpoint {
        file_size: 1000,
        metadata: BTreeMap::from([("format".to_string(), json!("pt"))]),
        tensors: BTreeMap::from([
            ("model.embed_tokens.weight".to_string(), facts("F32", vec![4, 2], 32, [-1.5, 2.0, 0.001, 0.5])),
            ("model.norm.weight".to_string(), facts("F32", vec![2], 8, [1.0, 3.0, 2.0, 1.0])),
        ]),
    }
}

fn truth() -> ModelTruth {
    ModelTruth {
        arch: Arch::Llama,
        num_layers: 1,
        num_heads: 1,
        num_kv_heads: 1,
        hidden_size: 2,
        vocab_size: 4,
        intermediate_size: None,
        rope_theta: None,
        eos_ids: vec![],
        param_count: 10,
        tensors: BTreeMap::new(),
    }
}

fn tensors_json() -> Value {
    json!({"file": "reference/model.safetensors", "format_version": "SafeTensors", "tensor_count": 2, "total_size_bytes": 40, "tensors": [
        {"name": "model.embed_tokens.weight", "shape": [4, 2], "dtype": "F32", "size_bytes": 32},
        {"name": "model.norm.weight", "shape": [2], "dtype": "F32", "size_bytes": 8}]})
}

fn inspect_json() -> Value {
    json!({"file": "reference/model.safetensors", "format": "SafeTensors", "file_size": 1000, "total_params": 10, "architecture": "llama",
        "quantization": "unknown", "tensor_count": 2, "metadata": {"format": "pt"}})
}

fn validate_json() -> Value {
    json!({"model": "reference/model.safetensors", "format": "safetensors", "total_tensors": 2, "failed_tensors": 0, "total_nan": 0,
        "total_inf": 0, "checks": [{"name": "model.embed_tokens.weight", "status": "PASS", "detail": ""},
        {"name": "model.norm.weight", "status": "PASS", "detail": ""}], "total_checks": 2, "failed": 0, "passed": true})
}

fn debug_json() -> Value {
    json!({"model": "reference/model.safetensors", "format": "SafeTensors", "architecture": "llama", "tensors": 2, "parameters": 10,
        "size_bytes": 1000, "health": "OK"})
}

fn tree_json() -> Value {
    let leaf = |name: &str, path: &str, shape: Value, size: u64| json!({"name": name, "path": path, "shape": shape, "size_bytes": size, "type": "tensor"});
    json!({"name": "model", "path": "", "total_size": 40, "tensor_count": 2, "type": "group", "children": [
        {"name": "model", "path": "model", "total_size": 40, "tensor_count": 2, "type": "group", "children": [
            {"name": "embed_tokens", "path": "model.embed_tokens", "total_size": 32, "tensor_count": 1, "type": "group",
             "children": [leaf("weight", "model.embed_tokens.weight", json!([4, 2]), 32)]},
            {"name": "norm", "path": "model.norm", "total_size": 8, "tensor_count": 1, "type": "group",
             "children": [leaf("weight", "model.norm.weight", json!([2]), 8)]}]}]})
}

fn hex_json() -> Value {
    json!([
        {"name": "model.embed_tokens.weight", "shape": [4, 2], "dtype": "F32", "offset": 0, "size_bytes": 32,
         "stats": {"min": -1.5, "max": 2.0, "mean": 0.001, "std": 0.5}, "sample_values": [0.1]},
        {"name": "model.norm.weight", "shape": [2], "dtype": "F32", "offset": 32, "size_bytes": 8,
         "stats": {"min": 1.0, "max": 3.0, "mean": 2.0, "std": 1.0}, "sample_values": [1.0]}])
}

fn perfect(command: &str) -> Value {
    match command {
        "tensors" => tensors_json(),
        "inspect" => inspect_json(),
        "validate" => validate_json(),
        "debug" => debug_json(),
        "tree" => tree_json(),
        _ => hex_json(),
    }
}

fn reading(command: &str, v: &Value) -> Reading {
    parse(command, v, &checkpoint(), &truth(), &Tolerances::spec())
}

/// The signature of a failed reading (panics on anything else).
fn fails(command: &str, v: &Value) -> (String, String) {
    match reading(command, v) {
        Reading::Fail { note, signature, .. } => (note, signature),
        other => panic!("{command}: expected a FAIL, got {other:?}"),
    }
}

fn set(mut v: Value, pointer: &str, value: Value) -> Value {
    *v.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}")) = value;
    v
}

fn remove(mut v: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    v.pointer_mut(parent).unwrap().as_object_mut().unwrap().remove(key);
    v
}

#[test]
fn perfect_outputs_pass() {
    for (command, _) in CALLS {
        assert!(matches!(reading(command, &perfect(command)), Reading::Pass(_)), "{command}: {:?}", reading(command, &perfect(command)));
    }
    let Reading::Pass(note) = reading("hex", &hex_json()) else { panic!() };
    assert_eq!(note, "2 tensors: min/max exact, mean/std within 1e-4 × RMS of the data's");
    // {"tensors": [...]} is hex's shape too.
    assert!(matches!(reading("hex", &json!({"tensors": hex_json()})), Reading::Pass(_)));
}

#[test]
fn unrecognised_shapes() {
    for (command, v) in [
        ("tensors", json!({"x": 1})),
        ("tensors", json!({"tensors": [{"shape": [1]}]})),
        ("inspect", json!({"file_size": 1000})),
        ("validate", json!({"passed": true})),
        ("validate", json!({"checks": []})),
        ("debug", json!({"tensors": 2})),
        ("tree", json!({"name": "model"})),
        ("tree", json!({"children": [{"type": "tensor", "shape": [2]}]})),
        ("hex", json!({"x": 1})),
        ("hex", json!([{"shape": [2]}])),
        ("hex", remove(hex_json(), "/1/stats/std")),
    ] {
        assert!(matches!(reading(command, &v), Reading::Unrecognised(_)), "{command} {v}: {:?}", reading(command, &v));
    }
    // Either count makes inspect's shape.
    assert!(matches!(reading("inspect", &remove(inspect_json(), "/tensor_count")), Reading::Fail { .. }));
    assert!(matches!(reading("inspect", &remove(inspect_json(), "/total_params")), Reading::Fail { .. }));
}

#[test]
fn listings_against_the_header() {
    let s = |w: &str| format!("apr: tensors on a safetensors file: {w}");
    let (note, sig) = fails("tensors", &set(tensors_json(), "/tensors/1/name", json!("model.other")));
    assert_eq!(sig, s("tensors missing"));
    assert!(
        note.contains("1 checkpoint tensors not listed (e.g. model.norm.weight)")
            && note.contains("1 tensors the file does not hold (e.g. model.other)"),
        "{note}"
    );
    let v =
        set(tensors_json(), "/tensors/1", json!({"name": "model.embed_tokens.weight", "shape": [4, 2], "dtype": "F32", "size_bytes": 32}));
    assert_eq!(fails("tensors", &v).1, s("tensors missing"));
    let v =
        set(tensors_json(), "/tensors", json!([tensors_json()["tensors"][0], tensors_json()["tensors"][1], tensors_json()["tensors"][1]]));
    let (note, sig) = fails("tensors", &v);
    assert_eq!((sig, note), (s("a tensor listed twice"), "3 entries for 2 names".into()));
    let (note, sig) = fails("tensors", &set(tensors_json(), "/tensors/0/shape", json!([2, 4])));
    assert_eq!(
        (sig, note),
        (s("wrong tensor shapes"), "1 wrong shapes (e.g. model.embed_tokens.weight: [2, 4], the file's [4, 2])".into())
    );
    let (note, sig) = fails("tensors", &set(tensors_json(), "/tensors/1/dtype", json!("BF16")));
    assert_eq!((sig, note), (s("wrong tensor dtypes"), "1 wrong dtypes (e.g. model.norm.weight: BF16, the file's F32)".into()));
    assert!(matches!(reading("tensors", &set(tensors_json(), "/tensors/1/dtype", json!("f32"))), Reading::Pass(_)), "dtype case is apr's");
    assert_eq!(
        fails("tensors", &set(tensors_json(), "/tensor_count", json!(3))),
        ("tensor_count 3, the file's 2".into(), s("wrong tensor_count"))
    );
    assert_eq!(fails("tensors", &remove(tensors_json(), "/tensor_count")), ("tensor_count missing".into(), s("tensor_count missing")));
    assert_eq!(fails("tensors", &set(tensors_json(), "/total_size_bytes", json!(41))).1, s("wrong total_size_bytes"));
    let (note, sig) = fails("tensors", &set(tensors_json(), "/tensors/1/size_bytes", json!(9)));
    assert_eq!((sig, note), (s("wrong size_bytes"), "1 wrong size_bytes (e.g. model.norm.weight)".into()));
    // An entry of no checkpoint tensor has no size to be wrong.
    let (_, sig) = fails("tensors", &set(tensors_json(), "/tensors/1/name", json!("x")));
    assert_ne!(sig, s("wrong size_bytes"));
    let Reading::Pass(note) = reading("tensors", &tensors_json()) else { panic!() };
    assert_eq!(note, "2 tensors: names, shapes, dtypes and sizes the header's");
}

#[test]
fn inspect_and_debug_fields() {
    let s = |c: &str, w: &str| format!("apr: {c} on a safetensors file: {w}");
    assert_eq!(
        fails("inspect", &set(inspect_json(), "/file_size", json!(999))),
        ("file_size 999, the file's 1000".into(), s("inspect", "wrong file_size"))
    );
    assert_eq!(fails("inspect", &set(inspect_json(), "/total_params", json!(11))).1, s("inspect", "wrong total_params"));
    assert_eq!(fails("inspect", &set(inspect_json(), "/tensor_count", json!(1))).1, s("inspect", "wrong tensor_count"));
    assert_eq!(fails("inspect", &set(inspect_json(), "/architecture", json!("qwen2"))).1, s("inspect", "wrong architecture"));
    assert_eq!(fails("inspect", &remove(inspect_json(), "/architecture")).1, s("inspect", "wrong architecture"));
    assert!(matches!(reading("inspect", &set(inspect_json(), "/architecture", json!("LLaMA"))), Reading::Pass(_)));
    // config.json's model_type names the architecture too (Gemma 3's "gemma3_text").
    let gemma = ModelTruth { arch: Arch::Gemma3, ..truth() };
    let v = set(inspect_json(), "/architecture", json!("gemma3_text"));
    assert!(matches!(check_inspect(&v, &checkpoint(), &gemma), Reading::Pass(_)), "{:?}", check_inspect(&v, &checkpoint(), &gemma));
    let (note, sig) = fails("inspect", &set(inspect_json(), "/metadata/format", json!("apr")));
    assert_eq!(sig, s("inspect", "metadata is not the header's __metadata__"));
    assert_eq!(note, r#"metadata {"format":"apr"}, the header's __metadata__ {"format":"pt"}"#);
    assert!(fails("inspect", &remove(inspect_json(), "/metadata")).0.starts_with("metadata missing"));
    let Reading::Pass(note) = reading("inspect", &inspect_json()) else { panic!() };
    assert_eq!(note, "2 tensors, 10 parameters, 1000 bytes, llama, __metadata__ as in the header");
    assert_eq!(fails("debug", &set(debug_json(), "/health", json!("DEGRADED"))), ("health=DEGRADED".into(), s("debug", "health not OK")));
    assert!(matches!(reading("debug", &set(debug_json(), "/health", json!("ok"))), Reading::Pass(_)));
    assert_eq!(fails("debug", &set(debug_json(), "/architecture", json!("gpt2"))).1, s("debug", "wrong architecture"));
    assert_eq!(fails("debug", &set(debug_json(), "/tensors", json!(3))).1, s("debug", "wrong tensors"));
    assert_eq!(fails("debug", &set(debug_json(), "/parameters", json!(9))).1, s("debug", "wrong parameters"));
    assert_eq!(fails("debug", &set(debug_json(), "/size_bytes", json!(40))).1, s("debug", "wrong size_bytes"));
    let Reading::Pass(note) = reading("debug", &debug_json()) else { panic!() };
    assert_eq!(note, "health=OK; 2 tensors, 10 parameters, 1000 bytes");
}

#[test]
fn validate_and_tree() {
    let s = |c: &str, w: &str| format!("apr: {c} on a safetensors file: {w}");
    let (note, sig) = fails("validate", &set(validate_json(), "/checks/1/status", json!("FAIL")));
    assert_eq!((sig, note), (s("validate", "checks fail"), "1 checks not passed: model.norm.weight (FAIL)".into()));
    assert_eq!(fails("validate", &remove(validate_json(), "/checks/1/status")).0, "1 checks not passed: model.norm.weight (no status)");
    assert_eq!(fails("validate", &set(validate_json(), "/checks", json!([]))).1, super::super::structure::parsers::NOTHING_RAN_SIGNATURE);
    let (note, sig) = fails("validate", &set(validate_json(), "/passed", json!(false)));
    assert_eq!((sig, note), (s("validate", "verdict contradicts the data"), "passed=false on a file with 0 NaN and 0 inf".into()));
    assert_eq!(fails("validate", &set(validate_json(), "/total_tensors", json!(1))).1, s("validate", "wrong total_tensors"));
    assert_eq!(fails("validate", &set(validate_json(), "/total_nan", json!(1))).1, s("validate", "wrong total_nan"));
    assert_eq!(fails("validate", &set(validate_json(), "/total_inf", json!(1))).1, s("validate", "wrong total_inf"));
    // A checkpoint with NaN/inf must not pass, and apr must count them.
    let mut c = checkpoint();
    c.tensors.get_mut("model.norm.weight").unwrap().nan = 2;
    c.tensors.get_mut("model.embed_tokens.weight").unwrap().inf = 1;
    let v = set(set(set(validate_json(), "/passed", json!(false)), "/total_nan", json!(2)), "/total_inf", json!(1));
    assert!(matches!(check_validate(&v, &c), Reading::Pass(_)), "{:?}", check_validate(&v, &c));
    // Any NaN or any inf (one of each, or an inf alone) makes passed=true wrong.
    for (nan, inf) in [(1, 1), (0, 1), (1, 0)] {
        let mut c = checkpoint();
        (c.tensors.get_mut("model.norm.weight").unwrap().nan, c.tensors.get_mut("model.norm.weight").unwrap().inf) = (nan, inf);
        let v = set(set(validate_json(), "/total_nan", json!(nan)), "/total_inf", json!(inf));
        let Reading::Fail { signature, .. } = check_validate(&v, &c) else { panic!("{nan} NaN {inf} inf") };
        assert_eq!(signature, s("validate", "verdict contradicts the data"));
    }
    let Reading::Pass(note) = reading("validate", &validate_json()) else { panic!() };
    assert_eq!(note, "2 checks passed; 2 tensors, 0 NaN, 0 inf");
    let (note, sig) = fails("tree", &set(tree_json(), "/children/0/children/1/children/0/shape", json!([3])));
    assert_eq!((sig, note), (s("tree", "wrong tensor shapes"), "1 wrong shapes (e.g. model.norm.weight: [3], the file's [2])".into()));
    assert_eq!(
        fails("tree", &set(tree_json(), "/children/0/children/1/children/0/path", json!("model.x"))).1,
        s("tree", "tensors missing")
    );
    assert_eq!(fails("tree", &set(tree_json(), "/tensor_count", json!(3))).1, s("tree", "wrong tensor_count"));
    assert_eq!(fails("tree", &set(tree_json(), "/total_size", json!(41))).1, s("tree", "wrong total_size"));
    let Reading::Pass(note) = reading("tree", &tree_json()) else { panic!() };
    assert_eq!(note, "2 leaves: the header's names and shapes");
}

#[test]
fn hex_statistics_within_the_bound() {
    let s = |w: &str| format!("apr: hex on a safetensors file: {w}");
    // min/max: exact in f32 (0.1 printed by an f32 is the f32 nearest 0.1).
    let (note, sig) = fails("hex", &set(hex_json(), "/1/stats/min", json!(1.0000001)));
    assert_eq!(sig, s("wrong min/max"));
    assert!(note.starts_with("1 tensors with wrong min/max (e.g. model.norm.weight: min 1.0000001 max 3"), "{note}");
    assert_eq!(fails("hex", &set(hex_json(), "/1/stats/max", json!(3.0000005))).1, s("wrong min/max"));
    let mut c = checkpoint();
    c.tensors.get_mut("model.norm.weight").unwrap().min = 0.1f32 as f64;
    assert!(matches!(check_hex(&set(hex_json(), "/1/stats/min", json!(0.1)), &c, &Tolerances::spec()), Reading::Pass(_)));
    // RMS of the norm: √(2² + 1²) = √5; bound 1e-4 × √5 ≈ 2.236e-4.
    let bound = 1e-4 * 5f64.sqrt();
    assert!(matches!(reading("hex", &set(hex_json(), "/1/stats/mean", json!(2.0 + 0.99 * bound))), Reading::Pass(_)));
    assert!(matches!(reading("hex", &set(hex_json(), "/1/stats/mean", json!(2.0 - 0.99 * bound))), Reading::Pass(_)));
    let (note, sig) = fails("hex", &set(hex_json(), "/1/stats/mean", json!(2.0 + 1.01 * bound)));
    assert_eq!(sig, s("wrong mean/std"));
    assert!(note.starts_with("1 tensors with mean/std beyond 1e-4 × RMS (e.g. model.norm.weight: mean 2.000225"), "{note}");
    assert!(note.contains("(bound 2.2e-4)"), "{note}");
    assert!(matches!(reading("hex", &set(hex_json(), "/1/stats/std", json!(1.0 + 0.99 * bound))), Reading::Pass(_)));
    assert_eq!(fails("hex", &set(hex_json(), "/1/stats/std", json!(1.0 + 1.01 * bound))).1, s("wrong mean/std"));
    assert_eq!(fails("hex", &set(hex_json(), "/1/stats/std", json!(1.0 - 1.01 * bound))).1, s("wrong mean/std"));
    // The sample std (÷ n − 1 = 1 for two values): √2 × 1.
    assert!(matches!(reading("hex", &set(hex_json(), "/1/stats/std", json!(2f64.sqrt()))), Reading::Pass(_)));
    assert!(matches!(reading("hex", &set(hex_json(), "/1/stats/std", json!(2f64.sqrt() + 0.99 * bound))), Reading::Pass(_)));
    assert_eq!(fails("hex", &set(hex_json(), "/1/stats/std", json!(2f64.sqrt() + 1.01 * bound))).1, s("wrong mean/std"));
    // A tensor the file does not hold is a listing finding, its stats unread.
    let v = set(hex_json(), "/1/name", json!("x"));
    assert_eq!(fails("hex", &v).1, s("tensors missing"));
    // NaN and inf are left out of n: 3 values of 4 give a sample factor √(3/2).
    let mut c = checkpoint();
    let t = c.tensors.get_mut("model.embed_tokens.weight").unwrap();
    (t.shape, t.nan, t.inf, t.std) = (vec![2, 2], 1, 0, 1.0);
    let v = set(set(hex_json(), "/0/shape", json!([2, 2])), "/0/stats/std", json!(1.5f64.sqrt()));
    let v = set(v, "/0/stats/mean", json!(0.001));
    assert!(matches!(check_hex(&v, &c, &Tolerances::spec()), Reading::Pass(_)), "{:?}", check_hex(&v, &c, &Tolerances::spec()));
    let t = c.tensors.get_mut("model.embed_tokens.weight").unwrap();
    (t.nan, t.inf) = (0, 1);
    assert!(matches!(check_hex(&v, &c, &Tolerances::spec()), Reading::Pass(_)));
    // The bound is √(mean² + std²) × rel: mean 3, std 0.5 give √9.25.
    let mut c = checkpoint();
    let t = c.tensors.get_mut("model.norm.weight").unwrap();
    (t.mean, t.std) = (3.0, 0.5);
    let bound = 1e-4 * 9.25f64.sqrt();
    let v = |mean: f64| set(set(hex_json(), "/1/stats/std", json!(0.5)), "/1/stats/mean", json!(mean));
    assert!(matches!(check_hex(&v(3.0 + 0.99 * bound), &c, &Tolerances::spec()), Reading::Pass(_)));
    assert!(matches!(check_hex(&v(3.0 + 1.01 * bound), &c, &Tolerances::spec()), Reading::Fail { .. }));
    // The bound is the roster's.
    let tol = Tolerances { safetensors_stats_rel_max: 1e-2, ..Tolerances::spec() };
    assert!(matches!(check_hex(&set(hex_json(), "/1/stats/mean", json!(2.02)), &checkpoint(), &tol), Reading::Pass(_)));
}

fn inv(code: i32, stdout: &str) -> Invocation {
    Invocation { command: vec!["apr".into()], exit_code: Some(code), stdout: stdout.into(), ..Default::default() }
}

fn evidence(command_outputs: impl Fn(&str) -> Option<Observed<Value>>) -> ModelEvidence {
    let mut ev = ModelEvidence::new("m");
    ev.truth = Some(truth());
    ev.safetensors = Some(Observed::Ok { value: checkpoint(), invocation: Invocation::default() });
    for (command, _) in CALLS {
        if let Some(o) = command_outputs(command) {
            ev.structure.insert(StructureKey::new(SUITE, command), o);
        }
    }
    ev.safetensors_export = Some(Observed::Ok { value: round_trip_ok(), invocation: inv(0, "") });
    ev
}

fn round_trip_ok() -> RoundTrip {
    let meta = BTreeMap::from([("format".to_string(), json!("pt"))]);
    RoundTrip { compared: 2, metadata_reference: meta.clone(), metadata_export: meta, ..Default::default() }
}

fn ok(v: Value) -> Observed<Value> {
    Observed::Ok { value: v, invocation: inv(0, "{}") }
}

#[test]
fn the_judge_over_every_case() {
    let outs = judge(&evidence(|c| Some(ok(perfect(c)))), &Tolerances::spec());
    let cases: Vec<(&str, Verdict, Subject)> = outs.iter().map(|o| (o.case.as_str(), o.status, o.subject.clone())).collect();
    assert_eq!(
        cases,
        [
            ("tensors", Verdict::Pass, RUNTIME),
            ("inspect", Verdict::Pass, RUNTIME),
            ("validate", Verdict::Pass, RUNTIME),
            ("debug", Verdict::Pass, RUNTIME),
            ("tree", Verdict::Pass, RUNTIME),
            ("hex", Verdict::Pass, RUNTIME),
            ("export", Verdict::Pass, CONVERTER),
        ]
    );
    assert!(outs.iter().all(|o| o.suite == SUITE && o.model == "m"));
    assert_eq!(outs[6].note, "all 2 tensors bit-identical (max |Δ| = 0), names, shapes, dtypes and __metadata__ the checkpoint's");
    assert_eq!(outs[0].evidence.actual.as_deref(), Some("{}"));
}

#[test]
fn exits_missing_observations_and_text() {
    let tol = Tolerances::spec();
    let with = |o: Observed<Value>| judge(&evidence(|c| Some(if c == "debug" { o.clone() } else { ok(perfect(c)) })), &tol)[3].clone();
    let o = with(Observed::Ok { value: debug_json(), invocation: inv(3, "{}") });
    assert_eq!((o.status, o.signature.as_str()), (Verdict::Fail, "apr: exits non-zero though its JSON reports success"));
    assert!(o.note.starts_with("exit 3 although its JSON reports success (health=OK"), "{}", o.note);
    assert_eq!(o.evidence.expected.as_deref(), Some("exit 0"));
    // Killed by a signal (no exit code) is never exit 0.
    let killed = Invocation { exit_code: None, ..inv(0, "{}") };
    assert!(with(Observed::Ok { value: debug_json(), invocation: killed }).note.starts_with("exit -1 although"));
    let o = with(Observed::Ok { value: set(debug_json(), "/health", json!("BAD")), invocation: inv(2, "{}") });
    assert_eq!((o.status, o.note.as_str()), (Verdict::Fail, "health=BAD (exit 2)"));
    assert_eq!(o.evidence.expected.as_deref(), Some("health OK, the file's counts"));
    let o = with(Observed::Ok { value: set(debug_json(), "/health", json!("BAD")), invocation: inv(0, "{}") });
    assert_eq!(o.note, "health=BAD");
    let o = with(Observed::Ok { value: json!({"x": 1}), invocation: inv(0, "{\"x\": 1}") });
    assert_eq!((o.status, o.signature.as_str()), (Verdict::Fail, "apr: debug on a safetensors file: an unrecognised JSON shape"));
    assert_eq!(o.note, "unrecognised JSON shape (no \"health\"): {\"x\": 1}");
    // Text with exit 0 where --json was asked (apr 0.72.3's hex on safetensors).
    let o = with(Observed::Failed { error: "expected value at line 1 column 1".into(), invocation: inv(0, "Tensor: a\nmin=1") });
    assert_eq!(
        (o.status, o.signature.as_str()),
        (Verdict::Fail, "apr: debug on a safetensors file: prints text where --json asks for JSON")
    );
    assert_eq!(o.note, "prints text, not JSON, though --json is given: Tensor: a min=1");
    assert!(o.evidence.actual.as_deref().unwrap().contains("min=1"));
    // A crash (non-zero exit) or silence is the generic failure, not this finding.
    let o = with(Observed::Failed { error: "exit 101".into(), invocation: inv(101, "Tensor") });
    assert_eq!(o.status, Verdict::Fail);
    assert_ne!(o.signature, "apr: debug on a safetensors file: prints text where --json asks for JSON");
    let o = with(Observed::Failed { error: "empty".into(), invocation: inv(0, "  ") });
    assert_ne!(o.signature, "apr: debug on a safetensors file: prints text where --json asks for JSON");
    let o =
        with(Observed::Failed { error: "x".into(), invocation: Invocation { exit_code: None, stdout: "t".into(), ..Default::default() } });
    assert_ne!(o.signature, "apr: debug on a safetensors file: prints text where --json asks for JSON");
    let o = judge(&evidence(|c| (c != "debug").then(|| ok(perfect(c)))), &tol)[3].clone();
    assert_eq!((o.status, o.subject), (Verdict::Blocked, Subject::Harness));
    // Without the harness's own facts or truth: BLOCKED, the harness's.
    let mut ev = evidence(|c| Some(ok(perfect(c))));
    ev.safetensors = Some(Observed::Failed { error: "unreadable".into(), invocation: Invocation::default() });
    let outs = judge(&ev, &tol);
    assert!(outs[..6].iter().all(|o| o.status == Verdict::Blocked && o.subject == Subject::Harness), "{outs:?}");
    let mut ev = evidence(|c| Some(ok(perfect(c))));
    ev.truth = None;
    let outs = judge(&ev, &tol);
    assert!(outs[..6].iter().all(|o| o.status == Verdict::Blocked && o.subject == Subject::Harness), "{outs:?}");
    assert_eq!(outs[6].status, Verdict::Pass, "the export needs no truth");
}

#[test]
fn the_export_round_trip() {
    let tol = Tolerances::spec();
    let export = |r: RoundTrip| {
        let mut ev = evidence(|c| Some(ok(perfect(c))));
        ev.safetensors_export = Some(Observed::Ok { value: r, invocation: inv(0, "") });
        judge(&ev, &tol).pop().unwrap()
    };
    let s = |w: &str| format!("apr converter: export --format safetensors {w}");
    let o = export(RoundTrip { differing: BTreeMap::from([("a".into(), Some(0.5)), ("b".into(), Some(2.0))]), ..round_trip_ok() });
    assert_eq!((o.status, o.subject.clone(), o.signature.clone()), (Verdict::Fail, CONVERTER, s("changes tensor values")));
    assert_eq!(o.note, "2 of 2 tensors not bit-identical (worst b: max |Δ| 2e0)");
    assert_eq!(o.evidence.details["differing"]["a"], 0.5);
    let o = export(RoundTrip { differing: BTreeMap::from([("a".into(), None), ("b".into(), Some(2.0))]), ..round_trip_ok() });
    assert_eq!(o.note, "2 of 2 tensors not bit-identical (worst a: max |Δ| not finite)");
    let o = export(RoundTrip { differing: BTreeMap::from([("a".into(), Some(3.0)), ("b".into(), Some(2.0))]), ..round_trip_ok() });
    assert!(o.note.contains("worst a: max |Δ| 3e0"), "{}", o.note);
    let o = export(RoundTrip { missing: vec!["a".into(), "b".into()], extra: vec!["z".into()], ..round_trip_ok() });
    assert_eq!(
        (o.signature.as_str(), o.note.as_str()),
        (s("loses tensors").as_str(), "2 tensors missing (e.g. a); 1 tensors the checkpoint lacks (e.g. z)")
    );
    let o = export(RoundTrip { extra: vec!["z".into()], ..round_trip_ok() });
    assert_eq!(o.signature, s("adds tensors"));
    let o = export(RoundTrip { shape_mismatch: BTreeMap::from([("a".into(), (vec![2], vec![1, 2]))]), ..round_trip_ok() });
    assert_eq!(
        (o.signature.as_str(), o.note.as_str()),
        (s("changes tensor shapes").as_str(), "1 shapes changed (e.g. a: [1, 2], the checkpoint's [2])")
    );
    let o = export(RoundTrip { dtype_mismatch: BTreeMap::from([("a".into(), ("F32".into(), "BF16".into()))]), ..round_trip_ok() });
    assert_eq!(
        (o.signature.as_str(), o.note.as_str()),
        (s("changes tensor dtypes").as_str(), "1 dtypes changed (e.g. a: BF16, the checkpoint's F32)")
    );
    let o = export(RoundTrip { metadata_export: BTreeMap::new(), ..round_trip_ok() });
    assert_eq!(
        (o.signature.as_str(), o.note.as_str()),
        (s("changes __metadata__").as_str(), r#"__metadata__ {}, the checkpoint's {"format":"pt"}"#)
    );
    assert_eq!(o.evidence.expected.as_deref(), Some("every tensor bit-identical, the same names, shapes, dtypes and __metadata__"));
    let o = export(RoundTrip { compared: 0, ..round_trip_ok() });
    assert_eq!((o.status, o.subject), (Verdict::Blocked, Subject::Harness));
    // A failed export is the converter's FAIL; a missing f32.apr blocks it.
    let mut ev = evidence(|c| Some(ok(perfect(c))));
    ev.safetensors_export = Some(Observed::Failed { error: "exit 1".into(), invocation: inv(1, "") });
    let o = judge(&ev, &tol).pop().unwrap();
    assert_eq!((o.status, o.subject), (Verdict::Fail, CONVERTER));
    ev.safetensors_export =
        Some(Observed::Blocked { step: "convert f32".into(), reason: "r".into(), signature: "apr: import failed".into() });
    let o = judge(&ev, &tol).pop().unwrap();
    assert_eq!((o.status, o.signature.as_str()), (Verdict::Blocked, "apr: import failed"));
}
