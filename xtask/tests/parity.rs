//! Integration checks that need the real apr and the real model (`cargo xtask
//! test-parity`, after `cargo xtask ci` has pulled and converted): the pipeline
//! judges the structure and roundtrip suites on real apr output and every outcome
//! is backed by an observation. Ignored in `cargo test`: they need apr installed.

use std::process::Command;

fn xtask(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).env("NO_COLOR", "1").output().unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{text}");
    (out.status.code().unwrap_or(-1), text)
}

#[test]
#[ignore = "needs apr and the pulled real model (cargo xtask test-parity)"]
fn real_apr_structure_and_roundtrip_are_judged_from_observations() {
    let (code, text) =
        xtask(&["check", "--model", "smollm2-135m-instruct", "--suite", "tensors", "--suite", "roundtrip", "--suite", "diff"]);
    assert!(code <= 1, "the harness itself failed: {text}");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("models/results/latest.json")).unwrap()).unwrap();
    let outcomes = results["outcomes"].as_array().unwrap();
    for suite in ["tensors", "roundtrip", "diff"] {
        let of_suite: Vec<_> = outcomes.iter().filter(|o| o["suite"] == suite).collect();
        assert!(!of_suite.is_empty(), "{suite}: no outcome");
        for o in of_suite {
            assert!(!o["note"].as_str().unwrap_or("").contains("no observation"), "{suite}: {o}");
            assert!(
                !o["evidence"]["invocations"].as_array().map(|a| a.is_empty()).unwrap_or(true) || o["status"] == "SKIP",
                "{suite}: outcome without evidence: {o}"
            );
        }
    }
    assert!(results["apr_version"].as_str().is_some(), "apr version recorded");
}
