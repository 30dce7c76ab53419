//! The structure parsers on real apr 0.72.3 outputs (xtask/tests/fixtures/apr-0.72.3)
//! against SmolLM2-135M's checkpoint facts.

use super::tensors::{canonical_tensor_name, shape_matches};
use super::*;
use tmgt_schema::Arch;
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
    ModelTruth {
        arch: Arch::Llama,
        num_layers: 30,
        num_heads: 9,
        num_kv_heads: 3,
        hidden_size: 576,
        vocab_size: 49152,
        intermediate_size: Some(1536),
        rope_theta: Some(100000.0),
        eos_ids: vec![2],
        param_count,
        tensors,
    }
}

pub fn fixture(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apr-0.72.3").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

fn pass_note(v: Reading) -> String {
    match v {
        Reading::Pass(n) => n,
        other => panic!("expected PASS, got {other:?}"),
    }
}

/// (note, signature, expected) of a FAIL.
fn fail(v: Reading) -> (String, String, String) {
    match v {
        Reading::Fail { note, signature, expected } => (note, signature, expected),
        other => panic!("expected FAIL, got {other:?}"),
    }
}

/// The roster's bounds, for the parsers' facts.
fn tol() -> &'static Tolerances {
    static TOL: std::sync::OnceLock<Tolerances> = std::sync::OnceLock::new();
    TOL.get_or_init(Tolerances::spec)
}

fn facts<'a>(t: &'a ModelTruth, artifact: &'a str, bits: Option<u8>) -> Facts<'a> {
    Facts { truth: Some(t), artifact, bits, tol: tol() }
}

#[test]
fn truth_matches_known_smollm2_facts() {
    let t = smollm2_truth();
    assert_eq!(t.param_count, 134_515_008);
    assert_eq!(t.tensors.len(), 272);
}

#[test]
fn canonical_names_unify_gguf_and_hf() {
    assert_eq!(canonical_tensor_name(Arch::Llama, "blk.3.attn_q.weight"), "layers.3.self_attn.q_proj.weight");
    assert_eq!(canonical_tensor_name(Arch::Llama, "model.layers.3.self_attn.q_proj.weight"), "layers.3.self_attn.q_proj.weight");
    assert_eq!(canonical_tensor_name(Arch::Llama, "blk.0.ffn_norm.weight"), "layers.0.post_attention_layernorm.weight");
    assert_eq!(canonical_tensor_name(Arch::Llama, "token_embd.weight"), canonical_tensor_name(Arch::Llama, "model.embed_tokens.weight"));
    assert_eq!(canonical_tensor_name(Arch::Llama, "output_norm.weight"), canonical_tensor_name(Arch::Llama, "model.norm.weight"));
    assert_eq!(canonical_tensor_name(Arch::Llama, "blk.2.attn_q.bias"), "layers.2.self_attn.q_proj.bias");
    assert!(shape_matches(&[192, 576], &[576, 192]));
    assert!(!shape_matches(&[192, 576], &[192, 192]));
}

#[test]
fn every_structure_suite_has_its_calls() {
    let keys = |spec: &StructureSpec| spec.calls().into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(keys(&INSPECT), ["int4", "int8", "int4-gguf"]);
    assert_eq!(keys(&TENSORS), ["int4", "int8", "int4-gguf"]);
    assert_eq!(keys(&VALIDATE), ["int4", "int8"]);
    assert_eq!(DIFF.calls(), vec![("int8~int4".to_string(), vec!["int8", "int4"])]);
    assert_eq!(keys(&LIST), [GLOBAL_KEY]);
    assert_eq!(keys(&PARITY_GPU), ["int4-gguf"]);
    assert_eq!(INSPECT.suite(), "inspect");
    assert_eq!(SELFTEST.suite(), "selftest");
    assert_eq!(PARITY_GPU.suite(), "parity-gpu");
    for s in suites::structure_suites() {
        assert_eq!(s.structure.unwrap().suite(), s.name);
    }
}

#[test]
fn inspect_real_apr_output() {
    let t = smollm2_truth();
    // apr 0.72.3 says flags.quantized=false on a file of q8 tensors
    let (note, sig, expected) = fail(check_inspect_at(&json("inspect-int8.json"), &t, "int8", Some(8)));
    assert_eq!(sig, "apr converter: quantized flag false on a quantized file", "{note}");
    assert_eq!(expected, "flags.quantized: true");
    assert!(!note.contains("num_layers"), "{note}");
    let (_, sig4, _) = fail(check_inspect_at(&json("inspect-int4.json"), &t, "int4", Some(4)));
    assert_eq!(sig4, sig);
    // the same JSON on an unquantized artifact passes, noting the tied head
    let note = pass_note(check_inspect_at(&json("inspect-int8.json"), &t, "roundtrip", Some(32)));
    assert!(note.contains("tied lm_head"), "{note}");
    // GGUF shape: apr 0.72.3 exported int4 as an all-F32 GGUF
    let (note, sig, _) = fail(check_inspect_at(&json("inspect-gguf.json"), &t, "int4-gguf", Some(4)));
    assert_eq!(sig, F32_EXPORT_SIGNATURE);
    assert!(note.contains("F32") && note.contains("4-bit"), "{note}");
    let note = pass_note(check_inspect_at(&json("inspect-gguf.json"), &t, "f32-gguf", Some(32)));
    assert!(note.contains("llama 30L 9H/3KV"), "{note}");
    // truth differs: caught, with the checkpoint's value
    let mut wrong = t.clone();
    wrong.num_heads = 8;
    let (note, sig, expected) = fail(check_inspect_at(&json("inspect-int8.json"), &wrong, "roundtrip", None));
    assert_eq!(sig, "apr: wrong num_heads");
    assert_eq!(expected, "num_heads 8");
    assert!(note.contains("num_heads 9, checkpoint 8"), "{note}");
    let mut wrong = t.clone();
    wrong.rope_theta = Some(10000.0);
    wrong.intermediate_size = Some(1024);
    let (note, _, _) = fail(check_inspect_at(&json("inspect-int8.json"), &wrong, "roundtrip", None));
    assert!(note.contains("intermediate_size 1536, checkpoint 1024") && note.contains("rope_theta 100000, checkpoint 10000"), "{note}");
    let (note, _, _) = fail(check_inspect_at(&json("inspect-gguf.json"), &wrong, "f32-gguf", None));
    assert!(note.contains("rope_theta") && note.contains("intermediate_size"), "{note}");
    // A float within the roster's relative error (1e-6 of 100000 = 0.1) is the same.
    let near = |theta: f64| {
        let mut t2 = t.clone();
        t2.rope_theta = Some(theta);
        check_inspect_at(&json("inspect-int8.json"), &t2, "roundtrip", None)
    };
    assert!(matches!(near(100000.05), Reading::Pass(_)), "0.05 ≤ 0.1");
    // Exactly at the bound is within it: 100000 vs 200000 under a relative error of 0.5.
    let half = Tolerances { config_float_rel_tol: 0.5, ..Tolerances::spec() };
    let mut t3 = t.clone();
    t3.rope_theta = Some(200000.0);
    let at_bound =
        parsers::check_inspect(&json("inspect-int8.json"), &Facts { truth: Some(&t3), artifact: "roundtrip", bits: None, tol: &half });
    assert!(matches!(at_bound, Reading::Pass(_)), "{at_bound:?}");
    assert!(fail(near(100000.5)).0.contains("rope_theta 100000, checkpoint 100000.5"), "0.5 > 0.1");
    // Gemma 3's config names its architecture "gemma3_text": the same architecture.
    let mut gemma = t.clone();
    gemma.arch = tmgt_schema::Arch::Gemma3;
    let mut v = json("inspect-int8.json");
    v["architecture"] = Value::String("gemma3_text".into());
    let note = match check_inspect_at(&v, &gemma, "roundtrip", None) {
        Reading::Fail { note, .. } => note,
        other => format!("{other:?}"),
    };
    assert!(!note.contains("architecture"), "{note}");
    assert!(fail(check_inspect_at(&v, &t, "roundtrip", None)).0.contains("architecture \"gemma3_text\", checkpoint Llama"));
    // an empty architecture
    let mut v = json("inspect-int8.json");
    v["architecture"] = Value::String(String::new());
    v["metadata"]["architecture"] = Value::Null;
    assert_eq!(fail(check_inspect_at(&v, &t, "roundtrip", None)).1, "apr: architecture field empty");
    assert!(matches!(check_inspect_at(&serde_json::json!({"weird": 1}), &t, "int8", None), Reading::Unrecognised(_)));
}

fn check_inspect_at(v: &Value, t: &ModelTruth, artifact: &str, bits: Option<u8>) -> Reading {
    parsers::check_inspect(v, &facts(t, artifact, bits))
}

#[test]
fn validate_lint_selftest_real_outputs() {
    let t = smollm2_truth();
    let f = facts(&t, "int8", Some(8));
    // apr 0.72.3 says 5 checks ran and lists 4
    let (note, sig, _) = fail(parsers::check_validate(&json("validate-int8.json"), &f));
    assert_eq!(sig, "apr: validate's count of checks disagrees with its list");
    assert!(note.contains("says 5 checks ran but lists 4"), "{note}");
    let mut v = json("validate-int8.json");
    v["checks_ran"] = 4.into();
    assert_eq!(pass_note(parsers::check_validate(&v, &f)), "4 checks passed; 21 of 26 not implemented");
    v["checks"][1]["status"] = "FAIL".into();
    assert_eq!(fail(parsers::check_validate(&v, &f)).1, "apr: validate checks fail");
    let mut empty = json("validate-int8.json");
    empty["checks"] = serde_json::json!([]);
    empty["checks_ran"] = 0.into();
    assert_eq!(fail(parsers::check_validate(&empty, &f)).1, parsers::NOTHING_RAN_SIGNATURE);
    assert_eq!(pass_note(parsers::check_lint(&json("lint-int8.json"), &f)), "0 errors, 3 warnings");
    let mut v = json("lint-int8.json");
    v["issues"][0]["level"] = "ERROR".into();
    assert_eq!(fail(parsers::check_lint(&v, &f)).1, "apr: lint errors");
    assert_eq!(pass_note(parsers::check_selftest(&json("check-int8.json"), &f)), "10/10 stages pass");
    let mut wrong = t.clone();
    wrong.num_layers = 29;
    assert_eq!(fail(parsers::check_selftest(&json("check-int8.json"), &facts(&wrong, "int8", None))).1, "apr: wrong num_layers");
    // too few stages is no self-test
    let mut v = json("check-int8.json");
    v["stages"].as_array_mut().unwrap().truncate(tol().selftest_min_stages);
    assert_eq!(pass_note(parsers::check_selftest(&v, &f)), "7/7 stages pass", "exactly the fewest stages is a self-test");
    v["stages"].as_array_mut().unwrap().truncate(tol().selftest_min_stages - 1);
    assert_eq!(fail(parsers::check_selftest(&v, &f)).1, "apr: self-test runs too few stages");
    v["stages"] = serde_json::json!([]);
    assert_eq!(fail(parsers::check_selftest(&v, &f)).0, "only 0 stages ran");
}

#[test]
fn tensors_and_tree_real_outputs_against_the_checkpoint() {
    let t = smollm2_truth();
    let f = facts(&t, "int8", Some(8));
    for name in ["tensors-int8.json", "tensors-gguf.json"] {
        let note = pass_note(parsers::check_tensors(&json(name), &f));
        assert!(note.starts_with("273 tensors (checkpoint 272)") && note.contains("lm_head materialized"), "{name}: {note}");
    }
    let note = pass_note(parsers::check_tree(&json("tree-int8.json"), &f));
    assert!(note.starts_with("273 tensors"), "{note}");
    // a checkpoint with a tensor apr does not have
    let mut more = t.clone();
    more.tensors.insert("model.layers.0.self_attn.q_proj.bias".into(), vec![576]);
    let (note, sig, expected) = fail(parsers::check_tensors(&json("tensors-int8.json"), &facts(&more, "int8", None)));
    assert_eq!(sig, "apr: tensors missing");
    assert_eq!(expected, "tensor layers.0.self_attn.q_proj.bias");
    assert!(note.contains("layers.0.self_attn.q_proj.bias"), "{note}");
    // a wrong shape
    let mut v = json("tensors-int8.json");
    v["tensors"][0]["shape"] = serde_json::json!([576, 576]);
    assert_eq!(fail(parsers::check_tensors(&v, &f)).1, "apr: wrong tensor shapes");
    // a renamed tensor: one missing, one unexpected
    let mut v = json("tensors-int8.json");
    v["tensors"][0]["name"] = "blk.0.attn_qq.weight".into();
    let (note, _, _) = fail(parsers::check_tensors(&v, &f));
    assert!(note.contains("1 checkpoint tensors missing") && note.contains("1 unexpected tensors (e.g. blk.0.attn_qq.weight)"), "{note}");
}

#[test]
fn diff_and_rosetta_real_outputs() {
    let t = smollm2_truth();
    let f = facts(&t, "int8~int4", None);
    let note = pass_note(parsers::check_diff(&json("diff-int8-int4.json"), &f));
    assert_eq!(note, "212 dtype differences only (+1 size, 1 name label)");
    let mut v = json("diff-int8-int4.json");
    v["differences"].as_array_mut().unwrap().push(serde_json::json!({
        "field": "tensor.blk.0.attn_q.weight.shape", "file1_value": "[576, 576]", "file2_value": "[576, 288]",
        "category": "tensor", "type": "shape"
    }));
    assert_eq!(fail(parsers::check_diff(&v, &f)).1, "apr: int4 and int8 differ beyond their tensor dtypes");
    // a size difference alone is no proof of quantization
    let mut v = json("diff-int8-int4.json");
    v["differences"].as_array_mut().unwrap().retain(|d| d["type"] != "dtype");
    let (note, sig, _) = fail(parsers::check_diff(&v, &f));
    assert_eq!(sig, "apr converter: int4 and int8 hold the same tensor types");
    assert!(note.contains("1 size difference(s) only"), "{note}");
    assert!(pass_note(parsers::check_rosetta(&json("rosetta-int8-int4.json"), &f)).starts_with("273 tensors each"));
    let mut v = json("rosetta-int8-int4.json");
    v["layout_mismatches"] = 3.into();
    assert_eq!(fail(parsers::check_rosetta(&v, &f)).1, "apr: layout mismatches");
}

#[test]
fn oracle_debug_hex_list_bench_qa_real_outputs() {
    let t = smollm2_truth();
    let f = facts(&t, "int8", Some(8));
    let note = pass_note(parsers::check_oracle(&json("oracle-int8.json"), &f));
    assert!(note.contains("count the tied lm_head again"), "{note}");
    assert!(pass_note(parsers::check_debug(&json("debug-int8.json"), &f)).starts_with("health=OK"));
    let note = pass_note(parsers::check_hex(&json("hex-int8.json"), &f));
    assert!(note.starts_with("273 tensors"), "{note}");
    let mut v = json("hex-int8.json");
    v[0]["stats"]["std"] = serde_json::json!(0.0);
    assert_eq!(fail(parsers::check_hex(&v, &f)).1, "apr: constant (zero) tensor data");
    assert_eq!(pass_note(parsers::check_list(&json("list.json"), &f)), "cache listing works (0 models)");
    let mut v = json("list.json");
    v["total"] = 2.into();
    assert_eq!(fail(parsers::check_list(&v, &f)).1, "apr: list's total disagrees with its list");
    assert_eq!(pass_note(parsers::check_bench(&json("bench-gguf.json"), &f)), "5.9 tok/s (below apr's own minimum)");
    let mut v = json("bench-gguf.json");
    v["tokens_per_second"] = serde_json::json!(0.0);
    assert_eq!(fail(parsers::check_bench(&v, &f)).1, "apr: zero throughput");
    let (note, sig, _) = fail(parsers::check_qa(&json("qa-gguf.json"), &f));
    assert_eq!(sig, "apr: qa gates fail");
    assert!(note.contains("golden_output"), "{note}");
    let mut wrong = t.clone();
    wrong.arch = Arch::Qwen2;
    let w = facts(&wrong, "int8", Some(8));
    assert_eq!(fail(parsers::check_oracle(&json("oracle-int8.json"), &w)).1, "apr: wrong architecture");
    assert_eq!(fail(parsers::check_debug(&json("debug-int8.json"), &w)).1, "apr: wrong architecture");
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
            ..Default::default()
        },
    }
}

fn ok(name: &str, args: &[&str]) -> Observed<Value> {
    Observed::Ok {
        value: json(name),
        invocation: Invocation {
            command: args.iter().map(|s| s.to_string()).collect(),
            exit_code: Some(0),
            stdout: fixture(name),
            ..Default::default()
        },
    }
}

#[test]
fn judge_wires_observations_to_outcomes() {
    let mut ev = ModelEvidence::new("smollm2-135m-instruct");
    ev.truth = Some(smollm2_truth());
    ev.structure.insert(StructureKey::new("tensors", "int8"), ok("tensors-int8.json", &["apr", "tensors", "int8.apr", "--json"]));
    ev.structure.insert(
        StructureKey::new("tensors", "int4"),
        Observed::Ok {
            value: serde_json::json!({"surprise": []}),
            invocation: Invocation {
                command: vec!["apr".into()],
                exit_code: Some(0),
                stdout: "{\"surprise\": []}".into(),
                ..Default::default()
            },
        },
    );
    ev.structure.insert(StructureKey::new("bench", "int8"), failed(&["apr", "bench", "int8.apr", "--json"], "bench-int8.stderr.txt", 101));
    ev.structure
        .insert(StructureKey::new("parity-gpu", "int4-gguf"), failed(&["apr", "parity", "x.gguf", "--json"], "parity-gguf.stderr.txt", 9));

    let outs = judge(&TENSORS, &ev, tol());
    assert_eq!(outs[0].case, "int4");
    assert_eq!(outs[0].subject, subject::RUNTIME, "an unrecognised shape is apr's CLI, not the file");
    assert_eq!(outs[0].status, Verdict::Fail, "unrecognised shape");
    assert!(outs[0].note.contains("unrecognised JSON shape") && outs[0].note.contains("surprise"), "{}", outs[0].note);
    assert!(outs[0].evidence.actual.as_deref().unwrap().contains("surprise"));
    assert_eq!(outs[1].status, Verdict::Pass);
    assert_eq!(outs[2].case, "int4-gguf");
    assert_eq!(outs[2].subject, Subject::Harness, "not observed: the harness's own fault");

    let bench = judge(&BENCH, &ev, tol());
    assert_eq!(bench[1].status, Verdict::Fail);
    assert_eq!(bench[1].signature, "apr: panic: range end index # out of range for slice of length #");
    assert!(bench[1].evidence.actual.as_deref().unwrap().contains("range end index 576 out of range"));

    // parity-gpu SKIPs only where the machine has no GPU; with one, a failure is a FAIL
    let parity = judge(&PARITY_GPU, &ev, tol());
    assert_eq!((parity.len(), parity[0].status), (1, Verdict::Skip));
    assert!(parity[0].note.contains("no GPU on this machine"), "{}", parity[0].note);
    ev.gpu = Some("GPU 0: NVIDIA H200".into());
    let parity = judge(&PARITY_GPU, &ev, tol());
    assert_eq!(parity[0].status, Verdict::Fail);
    assert!(parity[0].note.contains("cuda feature required"), "{}", parity[0].note);

    // JSON with a non-zero exit is never a pass
    let mut nonzero = ok("lint-int8.json", &["apr", "lint", "int8.apr", "--json"]);
    if let Observed::Ok { invocation, .. } = &mut nonzero {
        invocation.exit_code = Some(3);
    }
    ev.structure.insert(StructureKey::new("lint", "int8"), nonzero);
    let lint = judge(&LINT, &ev, tol());
    let l = lint.iter().find(|o| o.case == "int8").unwrap();
    assert_eq!((l.status, l.signature.as_str()), (Verdict::Fail, "apr: exits non-zero though its JSON reports success"));
    assert_eq!(l.subject, subject::RUNTIME, "lint is about the file, its exit code about the CLI");

    // validate's report that contradicts itself is apr's CLI; a failed check is the file's
    ev.structure.insert(StructureKey::new("validate", "int8"), ok("validate-int8.json", &["apr", "validate", "int8.apr", "--json"]));
    let v = judge(&VALIDATE, &ev, tol());
    let v8 = v.iter().find(|o| o.case == "int8").unwrap();
    assert_eq!((v8.status, &v8.subject, v8.signature.as_str()), (Verdict::Fail, &subject::RUNTIME, parsers::COUNT_DISAGREES_SIGNATURE));
    let mut failing = json("validate-int8.json");
    failing["checks_ran"] = 4.into();
    failing["checks"][1]["status"] = "FAIL".into();
    ev.structure.insert(
        StructureKey::new("validate", "int8"),
        Observed::Ok {
            value: failing.clone(),
            invocation: Invocation { exit_code: Some(0), stdout: failing.to_string(), ..Default::default() },
        },
    );
    let v = judge(&VALIDATE, &ev, tol());
    let v8 = v.iter().find(|o| o.case == "int8").unwrap();
    assert_eq!((v8.status, &v8.subject), (Verdict::Fail, &subject::CONVERTER));

    // an empty cache listing proves nothing; a global call is judged where it was made
    ev.structure.insert(StructureKey::new("list", GLOBAL_KEY), ok("list.json", &["apr", "list", "--json"]));
    assert_eq!(judge(&LIST, &ev, tol())[0].status, Verdict::Skip);
    ev.structure.remove(&StructureKey::new("list", GLOBAL_KEY));
    assert!(judge(&LIST, &ev, tol()).is_empty());

    ev.truth = None;
    ev.structure.insert(StructureKey::new("tensors", "int8"), ok("tensors-int8.json", &["apr"]));
    let t = judge(&TENSORS, &ev, tol());
    assert_eq!((t[1].status, &t[1].subject), (Verdict::Blocked, &Subject::Harness), "no truth, no verdict");

    // a blocked artifact blocks its structure checks, under the failure's signature
    ev.structure.insert(
        StructureKey::new("hex", "int4"),
        Observed::Blocked { step: "convert int4".into(), reason: "crash".into(), signature: "apr: panic: boom".into() },
    );
    let hex = judge(&HEX, &ev, tol());
    assert_eq!((hex[0].status, hex[0].signature.as_str()), (Verdict::Blocked, "apr: panic: boom"));
}
