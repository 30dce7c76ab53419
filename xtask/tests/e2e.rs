//! End to end on the deterministic fixtures, with the candle runtime and without
//! apr: `ci` from nothing, then a warm `ci` that reruns nothing, then touching one
//! prompt reruns exactly that prompt's golden and observations.

use std::path::{Path, PathBuf};
use std::process::Command;

const ROSTER: &str = r#"
[settings]
max_new_tokens = 8
top_k = 3
ppl_text = "data/ppl.txt"

[[prompts]]
name = "completion"
file = "prompts/completion.txt"

[[prompts]]
name = "greeting"
file = "prompts/greeting.txt"

[[models]]
slug = "tiny-llama"
model_id = "fixture/llama"
arch = "llama"
ppl_ceiling = 1000000.0
source = { kind = "fixture", arch = "llama" }

[[models]]
slug = "tiny-gpt2"
model_id = "fixture/gpt2"
arch = "gpt2"
ppl_ceiling = 1000000.0
source = { kind = "fixture", arch = "gpt2" }
"#;

/// The oracle-gen binary cargo built for this workspace (`cargo test --workspace`
/// builds it; a lone `cargo test -p xtask` builds it here first).
fn oracle_gen() -> PathBuf {
    let xtask = PathBuf::from(env!("CARGO_BIN_EXE_xtask"));
    let bin = xtask.with_file_name("oracle-gen");
    if !bin.is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--package", "oracle-gen"])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap())
            .status()
            .unwrap();
        assert!(status.success(), "building oracle-gen failed");
    }
    bin
}

struct Run {
    code: i32,
    stdout: String,
}

fn xtask(root: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("TMGT_ROOT", root)
        .env("TMGT_ORACLE_GEN", oracle_gen())
        .env("TMGT_APR", root.join("no-apr-here"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- xtask {args:?}\n{stdout}\n{stderr}");
    Run { code: out.status.code().unwrap_or(-1), stdout: format!("{stdout}\n{stderr}") }
}

fn setup() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // The pre-registered tolerances, as the fixture roster has them.
    let fixtures = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("roster-fixtures.toml")).unwrap();
    let tolerances = &fixtures[fixtures.find("[tolerances]").unwrap()..];
    std::fs::write(root.join("roster.toml"), format!("{ROSTER}\n{tolerances}")).unwrap();
    std::fs::create_dir_all(root.join("prompts")).unwrap();
    std::fs::write(root.join("prompts/completion.txt"), "The capital of France is").unwrap();
    std::fs::write(root.join("prompts/greeting.txt"), "Hello, my name is").unwrap();
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::write(root.join("data/ppl.txt"), "The capital of France is Paris. Hello, my name is Bob.").unwrap();
    tmp
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn ci_from_nothing_then_warm_then_one_prompt_touched() {
    let tmp = setup();
    let root = tmp.path();

    // Cold: fixtures pulled, goldens written, candle artifacts built, observations run.
    let cold = xtask(root, &["--offline", "--jobs", "2", "ci"]);
    assert_eq!(cold.code, 1, "apr is absent, so its checks are BLOCKED: exit 1 (not 2)");
    for slug in ["tiny-llama", "tiny-gpt2"] {
        for prompt in ["completion", "greeting"] {
            assert!(root.join(format!("goldens/{slug}/{prompt}.json")).is_file(), "{slug}/{prompt} golden");
        }
    }
    assert!(cold.stdout.contains("tiny-llama: goldens (f32): 2 new"));
    assert!(root.join("models/tiny-llama/q8_0.gguf").is_file());
    assert!(cold.stdout.contains("candle run q8_0-gguf completion: ok"), "candle must run the llama GGUF");
    assert!(cold.stdout.contains("q8_0-gguf skipped: candle has no quantized gpt2 model"));
    // Every suite produced outcomes; the apr ones are BLOCKED, never PASS.
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("models/results/latest.json")).unwrap()).unwrap();
    let outcomes = results["outcomes"].as_array().unwrap();
    let canary: Vec<&serde_json::Value> = outcomes.iter().filter(|o| o["suite"] == "canary").collect();
    assert!(!canary.is_empty());
    assert!(canary.iter().all(|o| o["status"] == "BLOCKED"), "no apr: canary must be BLOCKED");
    let golden_bytes = std::fs::read(root.join("goldens/tiny-llama/completion.json")).unwrap();

    // Warm: nothing converted, generated or rewritten.
    let warm = xtask(root, &["--offline", "--jobs", "2", "ci"]);
    assert_eq!(warm.code, 1);
    assert!(warm.stdout.contains("tiny-llama: goldens (f32) up to date"));
    assert_eq!(count(&warm.stdout, " run, "), 2, "one summary line per model");
    assert!(warm.stdout.contains("tiny-llama: ") && !warm.stdout.contains("convert q8_0-gguf:"), "no conversion when warm");
    for line in warm.stdout.lines().filter(|l| l.contains(" observations, ")) {
        assert!(line.contains(" 0 run, "), "warm run reran observations: {line}");
    }
    assert_eq!(std::fs::read(root.join("goldens/tiny-llama/completion.json")).unwrap(), golden_bytes);

    // Touch one prompt: exactly its goldens and observations rerun; without --force
    // the oracle refuses to change a committed golden silently.
    std::fs::write(root.join("prompts/greeting.txt"), "Hello, my name is Alice and").unwrap();
    let refused = xtask(root, &["--offline", "ci"]);
    assert_eq!(refused.code, 2, "a golden that would change stops the harness");
    assert!(refused.stdout.contains("disagrees with") && refused.stdout.contains("greeting.json"));
    assert_eq!(std::fs::read(root.join("goldens/tiny-llama/completion.json")).unwrap(), golden_bytes);
    let forced = xtask(root, &["--offline", "oracle", "--force"]);
    assert_eq!(forced.code, 0);
    assert!(forced.stdout.contains("tiny-llama: goldens (f32): 0 new, 1 verified, 1 replaced"), "{}", forced.stdout);
    let after = xtask(root, &["--offline", "--jobs", "1", "ci"]);
    assert!(after.stdout.contains("candle run q8_0-gguf greeting: ok"));
    assert!(!after.stdout.contains("candle run q8_0-gguf completion"), "untouched prompt rerun");
    assert_eq!(std::fs::read(root.join("goldens/tiny-llama/completion.json")).unwrap(), golden_bytes);
}

#[test]
fn harness_errors_exit_2_with_the_file_named() {
    let tmp = setup();
    std::fs::write(tmp.path().join("roster.toml"), "models = 3").unwrap();
    let run = xtask(tmp.path(), &["--offline", "status"]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.contains("roster.toml"), "{}", run.stdout);
}
