//! GGUF → HF import on GGUFs written by the test itself: every quant type checked
//! tensor by tensor against the source weights (exact for F32, within one quant step
//! otherwise) including the q/k un-permutation, the config, the rebuilt tokenizer, and
//! failures on corrupt or truncated files that leave no output behind.

mod gguf_common;

use candle_core::quantized::{gguf_file, GgmlDType};
use candle_core::Device;
use gguf_common::*;
use oracle_gen::config::{generation_eos_ids, ModelConfig};
use oracle_gen::gguf::{import_gguf, ImportReport};
use std::collections::BTreeMap;
use std::path::Path;
use tokenizers::Tokenizer;

fn check_import(dtype: GgmlDType, spec: Spec, seed: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let gguf = tmp.path().join("tiny.gguf");
    let source = write_tiny_gguf(&gguf, &spec, dtype, seed);
    let out = tmp.path().join("ref");
    let report = import_gguf(&gguf, &out).unwrap();

    let got = read_safetensors(&out.join("model.safetensors"));
    assert_eq!(got.len(), source.len(), "{dtype:?}: tensor count");
    assert_eq!(report.tensor_count, source.len());
    assert_eq!(report.source_sha256, tmgt_schema::sha256_file(&gguf).unwrap());
    assert_eq!(report.tie_word_embeddings, spec.tied);

    // What the file really holds, dequantized by candle and un-permuted by the
    // test's own index formula: the import must reproduce it bit for bit.
    let mut reader = std::fs::File::open(&gguf).unwrap();
    let content = gguf_file::Content::read(&mut reader).unwrap();
    for w in &source {
        let (shape, values) = got.get(&w.name).unwrap_or_else(|| panic!("{dtype:?}: {} missing", w.name));
        assert_eq!(shape, &w.shape, "{dtype:?}: shape of {}", w.name);
        let q = content.tensor(&mut reader, &gguf_tensor_name(&w.name), &Device::Cpu).unwrap();
        let stored: Vec<f32> = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let (expected, bound) = match rotary_heads(&spec, &w.name) {
            Some(n) => {
                let gguf_layout = permute_rows(&w.values, w.shape[0], n);
                let bound = quant_bound(&gguf_layout, if w.shape.len() == 2 { dtype } else { GgmlDType::F32 });
                (unpermute_rows(&stored, w.shape[0], n), unpermute_rows(&bound, w.shape[0], n))
            }
            None => (stored, quant_bound(&w.values, if w.shape.len() == 2 { dtype } else { GgmlDType::F32 })),
        };
        assert!(values == &expected, "{dtype:?}: {} is not the un-permuted dequantized GGUF tensor", w.name);
        for (i, ((&got, &src), &b)) in values.iter().zip(&w.values).zip(&bound).enumerate() {
            assert!((got - src).abs() <= b, "{dtype:?}: {}[{i}] = {got}, source {src}, beyond the quant step {b}", w.name);
        }
    }

    let config_path = out.join("config.json");
    let c = match (ModelConfig::from_file(&config_path).unwrap(), spec.qwen2) {
        (ModelConfig::Llama(c), false) | (ModelConfig::Qwen2(c), true) => c,
        (other, _) => panic!("wrong architecture {:?}", other.arch()),
    };
    assert_eq!(
        (c.num_hidden_layers, c.hidden_size, c.intermediate_size, c.num_attention_heads, c.kv_heads()),
        (spec.layers, spec.hidden, spec.intermediate, spec.heads, spec.kv_heads)
    );
    assert_eq!(c.vocab_size, vocab_size());
    assert_eq!(c.rope_theta(&config_path).unwrap(), 100000.0);
    assert_eq!(c.rms_norm_eps, 1e-5, "eps is the f32's shortest decimal");
    assert_eq!(c.max_position_embeddings, Some(256));
    assert_eq!(c.tie_word_embeddings, spec.tied);
    assert_eq!(generation_eos_ids(&out.join("generation_config.json")).unwrap(), Some(vec![2]));

    let recorded: ImportReport = serde_json::from_slice(&std::fs::read(out.join("gguf-import.json")).unwrap()).unwrap();
    assert_eq!(recorded, report);
    assert_eq!(report.files["model.safetensors"], tmgt_schema::sha256_file(&out.join("model.safetensors")).unwrap());
    assert_eq!(report.unpermuted, if spec.qwen2 { 0 } else { 2 * spec.layers });
    let matrices = source.iter().filter(|w| w.shape.len() == 2).count();
    let expected_dtypes: BTreeMap<String, usize> = if dtype == GgmlDType::F32 {
        BTreeMap::from([("F32".into(), source.len())])
    } else {
        BTreeMap::from([(format!("{dtype:?}").to_uppercase(), matrices), ("F32".into(), source.len() - matrices)])
    };
    assert_eq!(report.dtypes, expected_dtypes);
}

#[test]
fn gguf_import_f32_is_exact_and_unpermuted() {
    check_import(GgmlDType::F32, SPEC, 1);
}

#[test]
fn gguf_import_f32_untied_writes_lm_head() {
    check_import(GgmlDType::F32, Spec { tied: false, ..SPEC }, 2);
}

#[test]
fn gguf_import_f16_within_half_ulp() {
    check_import(GgmlDType::F16, SPEC, 3);
}

#[test]
fn gguf_import_q8_0_within_step() {
    check_import(GgmlDType::Q8_0, SPEC, 4);
}

#[test]
fn gguf_import_q4_0_within_step() {
    check_import(GgmlDType::Q4_0, Spec { tied: false, ..SPEC }, 5);
}

#[test]
fn gguf_import_q4_1_within_step() {
    check_import(GgmlDType::Q4_1, SPEC, 6);
}

#[test]
fn gguf_import_qwen2_keeps_layout_and_biases() {
    let spec = Spec { qwen2: true, tied: false, ..SPEC };
    check_import(GgmlDType::Q8_0, spec, 9);
    // The qwen2 pre-tokenizer (regex split, single digits) rebuilt from metadata.
    let tmp = tempfile::tempdir().unwrap();
    let gguf = tmp.path().join("q.gguf");
    write_tiny_gguf(&gguf, &spec, GgmlDType::F32, 10);
    import_gguf(&gguf, &tmp.path().join("q")).unwrap();
    let tok = Tokenizer::from_file(tmp.path().join("q/tokenizer.json")).unwrap();
    let (tokens, _) = vocab();
    let id = |t: &str| tokens.iter().position(|x| x == t).unwrap() as u32;
    let enc = tok.encode("The cat sat on the mat in 2024", true).unwrap();
    assert_eq!(
        enc.get_ids(),
        &[id("The"), id("Ġcat"), id("Ġsat"), id("Ġon"), id("Ġthe"), id("Ġmat"), id("Ġin"), id("Ġ"), id("2"), id("0"), id("2"), id("4")]
    );
    let text = "It's 3 o'clock\n\n  naïve 東京";
    assert_eq!(tok.decode(tok.encode(text, true).unwrap().get_ids(), true).unwrap(), text);
}

/// The permutation formula the checks rely on is not the identity for these shapes
/// (otherwise an import that forgot to un-permute would pass).
#[test]
fn gguf_test_permutation_moves_rows() {
    let head_dim = SPEC.hidden / SPEC.heads;
    let rows = SPEC.kv_heads * head_dim;
    let moved = (0..rows).filter(|&r| gguf_row(r, rows, SPEC.kv_heads) != r).count();
    assert!(moved > rows / 2, "only {moved} of {rows} rows move");
    let v: Vec<f32> = (0..rows * 3).map(|x| x as f32).collect();
    assert_eq!(unpermute_rows(&permute_rows(&v, rows, 2), rows, 2), v);
}

fn tiny_ref(dir: &Path) -> std::path::PathBuf {
    let gguf = dir.join("tiny.gguf");
    write_tiny_gguf(&gguf, &SPEC, GgmlDType::F32, 7);
    let out = dir.join("ref");
    import_gguf(&gguf, &out).unwrap();
    out
}

#[test]
fn gguf_tokenizer_round_trips_and_merges() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tiny_ref(tmp.path());
    let tok = Tokenizer::from_file(out.join("tokenizer.json")).unwrap();
    let (tokens, _) = vocab();
    let id = |t: &str| tokens.iter().position(|x| x == t).unwrap() as u32;

    let text = "The cat sat on the mat";
    let enc = tok.encode(text, true).unwrap();
    assert_eq!(enc.get_ids(), &[id("The"), id("Ġcat"), id("Ġsat"), id("Ġon"), id("Ġthe"), id("Ġmat")], "merges applied, no BOS added");
    assert_eq!(tok.decode(enc.get_ids(), true).unwrap(), text);

    // smollm pre-tokenizer: digits one by one.
    let enc = tok.encode("in 2024", true).unwrap();
    assert_eq!(enc.get_ids(), &[id("in"), id("Ġ"), id("2"), id("0"), id("2"), id("4")]);

    // Control tokens are single ids and skipped on decode; user-defined ones are kept.
    let enc = tok.encode("<|im_start|>the<tool><|im_end|>", true).unwrap();
    assert_eq!(enc.get_ids(), &[1, id("t"), id("he"), id(USER_DEFINED), 2]);
    assert_eq!(tok.decode(enc.get_ids(), true).unwrap(), "the<tool>");

    for text in ["naïve café — 東京 🎉\n\ttabs  and  spaces ", "  leading", "x=1+2; y='it''s'", ""] {
        let ids = tok.encode(text, true).unwrap().get_ids().to_vec();
        assert_eq!(tok.decode(&ids, true).unwrap(), text, "round trip of {text:?} via {ids:?}");
    }
}

#[test]
fn gguf_import_replaces_an_existing_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tiny_ref(tmp.path());
    std::fs::write(out.join("stale.txt"), "old").unwrap();
    import_gguf(&tmp.path().join("tiny.gguf"), &out).unwrap();
    assert!(!out.join("stale.txt").exists());
    assert!(out.join("model.safetensors").exists());
    let names: Vec<String> =
        std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 2, "no staging leftovers: {names:?}");
}

fn assert_fails_cleanly(bad: &Path, what: &str) {
    let parent = bad.parent().unwrap();
    let out = parent.join("out");
    let before: Vec<_> = std::fs::read_dir(parent).unwrap().map(|e| e.unwrap().file_name()).collect();
    let err = format!("{:#}", import_gguf(bad, &out).unwrap_err());
    assert!(err.contains(&bad.display().to_string()), "{what}: error does not name the file: {err}");
    assert!(!out.exists(), "{what}: output directory left behind");
    let after: Vec<_> = std::fs::read_dir(parent).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(before, after, "{what}: something was left in the parent folder");
}

#[test]
fn gguf_import_rejects_truncated_and_corrupt_files() {
    let tmp = tempfile::tempdir().unwrap();
    let gguf = tmp.path().join("tiny.gguf");
    write_tiny_gguf(&gguf, &SPEC, GgmlDType::Q8_0, 8);
    let bytes = std::fs::read(&gguf).unwrap();

    // Cut inside the tensor data: the header parses, a tensor read fails.
    let dir = tmp.path().join("truncated");
    std::fs::create_dir(&dir).unwrap();
    let truncated = dir.join("cut.gguf");
    std::fs::write(&truncated, &bytes[..bytes.len() - 1000]).unwrap();
    assert_fails_cleanly(&truncated, "truncated data");

    // Cut inside the header.
    let dir = tmp.path().join("header");
    std::fs::create_dir(&dir).unwrap();
    let header = dir.join("head.gguf");
    std::fs::write(&header, &bytes[..200]).unwrap();
    assert_fails_cleanly(&header, "truncated header");

    // Not a GGUF at all.
    let dir = tmp.path().join("garbage");
    std::fs::create_dir(&dir).unwrap();
    let garbage = dir.join("garbage.gguf");
    std::fs::write(&garbage, b"this is not a gguf file, just text\n").unwrap();
    assert_fails_cleanly(&garbage, "garbage");

    // Missing file.
    let err = format!("{:#}", import_gguf(&tmp.path().join("nope.gguf"), &tmp.path().join("o")).unwrap_err());
    assert!(err.contains("nope.gguf"), "{err}");
}

#[test]
fn gguf_failed_import_keeps_the_previous_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tiny_ref(tmp.path());
    let before = std::fs::read(out.join("model.safetensors")).unwrap();
    let bad = tmp.path().join("bad.gguf");
    let bytes = std::fs::read(tmp.path().join("tiny.gguf")).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    assert!(import_gguf(&bad, &out).is_err());
    assert_eq!(std::fs::read(out.join("model.safetensors")).unwrap(), before);
}
