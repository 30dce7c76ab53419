//! HF directory → GGUF export: F32 export → import reproduces the directory exactly
//! (weights, config, tokenizer), quantized exports stay within one step of the f32
//! weights, and gpt2 is refused with a clear error.

mod gguf_common;

use candle_core::quantized::{gguf_file, GgmlDType};
use gguf_common::*;
use oracle_gen::gguf::{export_gguf, import_gguf, Quant};
use std::path::Path;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn imported(dir: &Path, spec: Spec) -> std::path::PathBuf {
    let gguf = dir.join("tiny.gguf");
    write_tiny_gguf(&gguf, &spec, GgmlDType::F32, 11);
    let out = dir.join("a");
    import_gguf(&gguf, &out).unwrap();
    out
}

#[test]
fn gguf_export_f32_then_import_is_identity() {
    for spec in [SPEC, Spec { tied: false, ..SPEC }, Spec { qwen2: true, ..SPEC }] {
        let tmp = tempfile::tempdir().unwrap();
        let a = imported(tmp.path(), spec);
        let g = tmp.path().join("b.gguf");
        export_gguf(&a, &g, Quant::F32).unwrap();
        let b = tmp.path().join("b");
        let report = import_gguf(&g, &b).unwrap();
        assert_eq!(report.unpermuted, if spec.qwen2 { 0 } else { 2 * spec.layers });
        assert_eq!(read_safetensors(&a.join("model.safetensors")), read_safetensors(&b.join("model.safetensors")));
        for f in ["config.json", "generation_config.json", "tokenizer.json"] {
            assert_eq!(json(&a.join(f)), json(&b.join(f)), "{f} changed in the round trip (tied={})", spec.tied);
        }
        // Byte-identical model files: the conversion is deterministic.
        assert_eq!(std::fs::read(a.join("model.safetensors")).unwrap(), std::fs::read(b.join("model.safetensors")).unwrap());
    }
}

#[test]
fn gguf_export_writes_llama_metadata_and_permuted_qk() {
    let tmp = tempfile::tempdir().unwrap();
    let a = imported(tmp.path(), SPEC);
    let g = tmp.path().join("b.gguf");
    export_gguf(&a, &g, Quant::F32).unwrap();
    // The exported GGUF holds the same bytes as the GGUF the test wrote by hand
    // (same names, layout, permutation), tensor by tensor.
    let mut r1 = std::fs::File::open(tmp.path().join("tiny.gguf")).unwrap();
    let mut r2 = std::fs::File::open(&g).unwrap();
    let c1 = gguf_file::Content::read(&mut r1).unwrap();
    let c2 = gguf_file::Content::read(&mut r2).unwrap();
    let mut names1: Vec<_> = c1.tensor_infos.keys().collect();
    let mut names2: Vec<_> = c2.tensor_infos.keys().collect();
    names1.sort();
    names2.sort();
    assert_eq!(names1, names2);
    for name in names1 {
        let t1 = c1.tensor(&mut r1, name, &candle_core::Device::Cpu).unwrap();
        let t2 = c2.tensor(&mut r2, name, &candle_core::Device::Cpu).unwrap();
        assert_eq!(t1.shape(), t2.shape(), "{name}");
        assert_eq!(t1.data().unwrap(), t2.data().unwrap(), "{name} differs from the hand-written GGUF");
    }
    for key in [
        "llama.block_count",
        "llama.embedding_length",
        "llama.feed_forward_length",
        "llama.attention.head_count",
        "llama.attention.head_count_kv",
        "llama.rope.dimension_count",
        "llama.context_length",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
    ] {
        assert_eq!(c1.metadata[key].to_u32().unwrap(), c2.metadata[key].to_u32().unwrap(), "{key}");
    }
    assert_eq!(c2.metadata["llama.rope.freq_base"].to_f32().unwrap(), 100000.0);
    assert_eq!(c2.metadata["tokenizer.ggml.pre"].to_string().unwrap(), "smollm");
    assert!(!c2.metadata["tokenizer.ggml.add_bos_token"].to_bool().unwrap());
    let types: Vec<u32> = c2.metadata["tokenizer.ggml.token_type"].to_vec().unwrap().iter().map(|v| v.to_i32().unwrap() as u32).collect();
    assert_eq!(types, vocab().1.iter().map(|&t| t as u32).collect::<Vec<_>>());
}

#[test]
fn gguf_export_quantized_within_step() {
    let tmp = tempfile::tempdir().unwrap();
    let a = imported(tmp.path(), SPEC);
    let reference = read_safetensors(&a.join("model.safetensors"));
    for (quant, dtype) in [(Quant::Q8_0, GgmlDType::Q8_0), (Quant::Q4_0, GgmlDType::Q4_0), (Quant::F16, GgmlDType::F16)] {
        let g = tmp.path().join(format!("{}.gguf", quant.name()));
        export_gguf(&a, &g, quant).unwrap();
        let out = tmp.path().join(quant.name());
        let report = import_gguf(&g, &out).unwrap();
        assert!(report.dtypes.contains_key(&format!("{dtype:?}").to_uppercase()), "{:?}", report.dtypes);
        let got = read_safetensors(&out.join("model.safetensors"));
        assert_eq!(got.len(), reference.len());
        for (name, (shape, src)) in &reference {
            let (_, values) = &got[name];
            let heads = rotary_heads(&SPEC, name);
            // Blocks run along GGUF-layout rows: compute the bound there.
            let gguf_layout = match heads {
                Some(n) => permute_rows(src, shape[0], n),
                None => src.clone(),
            };
            let bound = quant_bound(&gguf_layout, if shape.len() == 2 { dtype } else { GgmlDType::F32 });
            let bound = match heads {
                Some(n) => unpermute_rows(&bound, shape[0], n),
                None => bound,
            };
            for (i, ((g, s), b)) in values.iter().zip(src).zip(&bound).enumerate() {
                assert!((g - s).abs() <= *b, "{quant:?}: {name}[{i}] = {g}, f32 {s}, bound {b}");
            }
            if shape.len() == 2 && dtype != GgmlDType::F16 {
                assert!(values != src, "{quant:?}: {name} was not quantized at all");
            }
        }
    }
}

#[test]
fn gguf_export_refuses_gpt2_and_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("gpt2");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("config.json"), r#"{"model_type":"gpt2","vocab_size":10,"n_embd":8,"n_layer":1,"n_head":2,"n_positions":16}"#)
        .unwrap();
    let out = tmp.path().join("x.gguf");
    let err = format!("{:#}", export_gguf(&dir, &out, Quant::Q8_0).unwrap_err());
    assert!(err.contains("gpt2") && err.contains("not supported") && err.contains("config.json"), "{err}");
    assert!(!out.exists());
}

#[test]
fn gguf_export_failure_leaves_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let a = imported(tmp.path(), SPEC);
    // Break the tokenizer: unknown pre-tokenizer.
    let mut tok = json(&a.join("tokenizer.json"));
    tok["pre_tokenizer"] = serde_json::json!({"type": "Whitespace"});
    std::fs::write(a.join("tokenizer.json"), serde_json::to_vec(&tok).unwrap()).unwrap();
    let out = tmp.path().join("x.gguf");
    let err = format!("{:#}", export_gguf(&a, &out, Quant::F32).unwrap_err());
    assert!(err.contains("tokenizer.json") && err.contains("pre_tokenizer"), "{err}");
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
