//! Every bad input gives an error that names the file, and a failed golden run
//! leaves nothing behind where the golden would have been.

use candle_core::{DType, Device};
use oracle_gen::config::Arch;
use oracle_gen::loader::ModelDir;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    oracle_gen::fixture::write(Arch::Llama, &dir).unwrap();
    (tmp, dir)
}

/// Opening and loading `dir` must fail with a message naming `file`.
fn assert_fails_naming(dir: &Path, file: &Path, also: &str) {
    let err = match ModelDir::open(dir) {
        Err(e) => format!("{e:#}"),
        Ok(m) => match m.load_model(DType::F32, &Device::Cpu) {
            Err(e) => format!("{e:#}"),
            Ok(_) => panic!("loading {} succeeded; expected an error about {}", dir.display(), file.display()),
        },
    };
    assert!(err.contains(&file.display().to_string()), "error does not name {}: {err}", file.display());
    assert!(err.contains(also), "error lacks {also:?}: {err}");
}

#[test]
fn missing_files() {
    for name in ["config.json", "model.safetensors", "tokenizer.json"] {
        let (_t, dir) = fixture();
        std::fs::remove_file(dir.join(name)).unwrap();
        assert_fails_naming(&dir, &dir.join(name), "missing");
    }
}

#[test]
fn unparsable_and_unknown_configs() {
    let (_t, dir) = fixture();
    let cfg = dir.join("config.json");
    std::fs::write(&cfg, "{ not json").unwrap();
    assert_fails_naming(&dir, &cfg, "not valid JSON");
    std::fs::write(&cfg, r#"{"model_type": "mamba"}"#).unwrap();
    assert_fails_naming(&dir, &cfg, "unknown model_type");
}

#[test]
fn corrupt_and_truncated_safetensors() {
    let (_t, dir) = fixture();
    let st = dir.join("model.safetensors");
    let bytes = std::fs::read(&st).unwrap();
    std::fs::write(&st, &bytes[..bytes.len() / 2]).unwrap();
    assert_fails_naming(&dir, &st, "safetensors");
    let mut garbage = bytes.clone();
    garbage[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&st, &garbage).unwrap();
    assert_fails_naming(&dir, &st, "safetensors");
}

#[test]
fn missing_and_misshapen_tensors() {
    let (_t, dir) = fixture();
    let st = dir.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&st, &Device::Cpu).unwrap();
    tensors.remove("model.layers.1.mlp.up_proj.weight");
    candle_core::safetensors::save(&tensors, &st).unwrap();
    assert_fails_naming(&dir, &st, "model.layers.1.mlp.up_proj.weight is missing");

    let (_t2, dir) = fixture();
    let st = dir.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&st, &Device::Cpu).unwrap();
    let t = tensors["model.norm.weight"].narrow(0, 0, 10).unwrap();
    tensors.insert("model.norm.weight".into(), t);
    candle_core::safetensors::save(&tensors, &st).unwrap();
    assert_fails_naming(&dir, &st, "has shape [10]");
}

#[test]
fn failed_golden_run_leaves_no_partial_golden() {
    let (tmp, dir) = fixture();
    let out_dir = tmp.path().join("goldens");
    let prompt = tmp.path().join("p.txt");
    std::fs::write(&prompt, "Hello").unwrap();
    // A prompt file that does not exist after a good one: the run must fail before writing.
    let missing = tmp.path().join("nope.txt");
    let output = Command::new(env!("CARGO_BIN_EXE_oracle-gen"))
        .args(["golden", "--slug", "t", "--model-id", "t", "--model-dir"])
        .arg(&dir)
        .arg("--out-dir")
        .arg(&out_dir)
        .arg(&prompt)
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(!out_dir.exists() || std::fs::read_dir(&out_dir).unwrap().next().is_none(), "partial output left");

    // A good run writes exactly the goldens and no temp files.
    let output = Command::new(env!("CARGO_BIN_EXE_oracle-gen"))
        .args(["golden", "--slug", "t", "--model-id", "t", "--max-new-tokens", "4", "--model-dir"])
        .arg(&dir)
        .arg("--out-dir")
        .arg(&out_dir)
        .arg(&prompt)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let names: Vec<String> = std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, vec!["p.json".to_string()]);
}
