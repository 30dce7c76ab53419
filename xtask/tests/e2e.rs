//! End to end on the deterministic fixtures, with the candle runtime and the perfect
//! fake apr: `ci` from nothing, then a warm `ci` that reruns nothing, then touching one
//! prompt reruns exactly that prompt's golden and observations. And what `ci` does when
//! apr or the llama.cpp comparator cannot be had: exit 2 before any work, one line.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

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
ppl_ceiling = 1e30
source = { kind = "fixture", arch = "llama" }

[[models]]
slug = "tiny-gpt2"
model_id = "fixture/gpt2"
arch = "gpt2"
ppl_ceiling = 1e30
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
    xtask_with(root, args, &[])
}

/// xtask with the perfect fake apr and llama.cpp off, then `env` on top (a value of
/// "" removes the variable).
fn xtask_with(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(args)
        .env("TMGT_ROOT", root)
        .env("TMGT_ORACLE_GEN", oracle_gen())
        .env("TMGT_APR", common::sibling("fake-apr", "fake-apr"))
        .env("FAKE_APR_DEFECT", "perfect")
        .env("FAKE_APR_GOLDENS", root.join("goldens"))
        .env("FAKE_APR_ORACLE_GEN", oracle_gen())
        .env("TMGT_LLAMACPP", "off")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    let out = cmd.output().unwrap();
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
    assert_eq!(cold.code, 0, "a perfect apr passes every check judged on it");
    for slug in ["tiny-llama", "tiny-gpt2"] {
        for prompt in ["completion", "greeting"] {
            assert!(root.join(format!("goldens/{slug}/{prompt}.json")).is_file(), "{slug}/{prompt} golden");
        }
    }
    assert!(cold.stdout.contains("tiny-llama: goldens (f32): 2 new"));
    assert!(root.join("models/tiny-llama/q8_0.gguf").is_file());
    assert!(cold.stdout.contains("candle run q8_0-gguf completion: ok"), "candle must run the llama GGUF");
    assert!(cold.stdout.contains("q8_0-gguf skipped: candle has no quantized gpt2 model"));
    // Every suite produced outcomes; canary ran on apr's int8 of both models.
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("models/results/latest.json")).unwrap()).unwrap();
    let outcomes = results["outcomes"].as_array().unwrap();
    let canary: Vec<&serde_json::Value> = outcomes.iter().filter(|o| o["suite"] == "canary").collect();
    assert!(!canary.is_empty());
    assert!(canary.iter().all(|o| o["status"] == "PASS"), "a perfect apr's canary PASSes");
    // llama.cpp switched off: said once per model in Harness health, one cause.
    let off: Vec<&serde_json::Value> = outcomes.iter().filter(|o| o["suite"] == "comparator").collect();
    assert_eq!(off.len(), 2, "one row per model");
    assert!(off.iter().all(|o| o["status"] == "SKIP" && o["note"] == "llama.cpp off by TMGT_LLAMACPP: attribution limited to candle"));
    let row = cold.stdout.lines().find(|l| l.starts_with("| llama.cpp off by TMGT_LLAMACPP")).expect("a Harness health row");
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(
        cells[1..5],
        ["llama.cpp off by TMGT_LLAMACPP: attribution limited to candle", "2 skip", "2: tiny-gpt2, tiny-llama", "1: comparator"]
    );
    // Each phase's time, and the summary line.
    for phase in ["llama.cpp comparator took", "apr took", "pull took", "convert and check took"] {
        assert!(cold.stdout.contains(&format!("ci: {phase} ")), "{phase}");
    }
    assert!(cold.stdout.lines().any(|l| l.starts_with("ci in ") && l.contains("(exit 0): llama.cpp comparator ")), "{}", cold.stdout);
    let golden_bytes = std::fs::read(root.join("goldens/tiny-llama/completion.json")).unwrap();

    // Warm: nothing converted, generated or rewritten.
    let warm = xtask(root, &["--offline", "--jobs", "2", "ci"]);
    assert_eq!(warm.code, 0);
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

    upgrade_reruns_apr_only_and_a_regression_is_exit_1(root);
}

/// A released apr "installed" side by side: the fake (reporting `version`) where
/// `install-apr --version` puts one, under the test's own per-user cache.
fn side_by_side(cache: &Path, version: &str) {
    let bin = cache.join("apr").join(version).join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(common::sibling("fake-apr", "fake-apr"), bin.join("apr")).unwrap();
}

/// After a warm `ci` with apr 0.72.3: `--apr 0.72.4 recheck` reruns every apr
/// conversion and observation and nothing else (the goldens, candle's conversions and
/// candle's runs of unchanged files come from the cache), prints the delta and exits 0
/// (nothing regressed); then 0.72.5, which breaks a token, exits 1 and says so on its
/// last line. A version not installed is exit 2 before any work.
fn upgrade_reruns_apr_only_and_a_regression_is_exit_1(root: &Path) {
    let cache = root.join("user-cache");
    let cache_s = cache.display().to_string();
    let missing = xtask_with(root, &["--offline", "--apr", "0.72.9", "recheck"], &[("TMGT_APR", ""), ("TMGT_CACHE", &cache_s)]);
    assert_eq!(missing.code, 2, "{}", missing.stdout);
    assert!(
        error_line(&missing).starts_with("error: apr 0.72.9 is not installed (no ")
            && error_line(&missing)
                .ends_with("`cargo xtask install-apr --version 0.72.9` installs it (about 25 minutes on two cores; cargo shows progress)"),
        "{}",
        missing.stdout
    );

    side_by_side(&cache, "0.72.4");
    let env = [("TMGT_APR", ""), ("TMGT_CACHE", cache_s.as_str()), ("FAKE_APR_VERSION", "0.72.4")];
    let up = xtask_with(root, &["--offline", "--jobs", "2", "--apr", "0.72.4", "recheck"], &env);
    assert_eq!(up.code, 0, "{}", up.stdout);
    assert!(up.stdout.contains("apr 0.72.4 found (the harness pins 0.72.3)"), "{}", up.stdout);
    assert!(up.stdout.contains("goldens (f32) up to date"));
    // apr's conversions rerun, candle's do not.
    assert!(up.stdout.contains("tiny-llama: convert int8: ") && up.stdout.contains("/apr/0.72.4/bin/apr import "), "{}", up.stdout);
    assert!(!up.stdout.contains("convert q8_0-gguf:"), "candle's conversion reran");
    // Every observation that ran is apr's, and some were served from the cache.
    let reran: Vec<&str> = up.stdout.lines().filter(|l| l.contains("] ") && l.contains(": [")).collect();
    assert!(!reran.is_empty());
    for line in &reran {
        let job = line.split("] ").nth(1).unwrap();
        assert!(job.starts_with("apr "), "not apr's observation rerun after an apr upgrade: {line}");
    }
    for line in up.stdout.lines().filter(|l| l.contains(" observations, ")) {
        assert!(!line.contains(" 0 run, ") && !line.contains(", 0 from cache"), "{line}");
    }
    assert!(up.stdout.contains("## Retest: apr 0.72.3 (fake-perfe) ("), "{}", up.stdout);
    let last = up.stdout.trim_end().lines().last().unwrap_or("");
    assert!(last.starts_with("recheck: no check regressed since apr 0.72.3 (fake-perfe) (fixed 0, changed 0, new 0, "), "{last}");
    assert!(last.ends_with("): exit 0"), "{last}");

    side_by_side(&cache, "0.72.5");
    let env = [("TMGT_APR", ""), ("TMGT_CACHE", cache_s.as_str()), ("FAKE_APR_VERSION", "0.72.5"), ("FAKE_APR_DEFECT", "wrong-token")];
    let broken = xtask_with(root, &["--offline", "--jobs", "2", "--apr", "0.72.5", "recheck"], &env);
    assert_eq!(broken.code, 1, "{}", broken.stdout);
    assert!(broken.stdout.contains("## Retest: apr 0.72.4 (fake-perfe) ("), "compared with the latest other version");
    let last = broken.stdout.trim_end().lines().last().unwrap_or("");
    assert!(
        last.starts_with("recheck: REGRESSION: ") && last.contains(" check(s) that passed with apr 0.72.4 (fake-perfe) fail now: "),
        "{last}"
    );
    assert!(last.ends_with(": exit 1"), "{last}");
    // The ticket marks the new version's root causes against the last other version.
    let ticket = xtask_with(root, &["ticket"], &env);
    assert!(ticket.stdout.contains("| Since apr 0.72.4 (fake-perfe) |"), "{}", ticket.stdout);
    assert!(ticket.stdout.contains(" | new |"), "{}", ticket.stdout);

    // doctor lists the versions beside the user's apr, in version order.
    side_by_side(&cache, "0.72.10");
    let doctor = xtask_with(root, &["doctor"], &[("TMGT_CACHE", cache_s.as_str())]);
    let line = doctor.stdout.lines().find(|l| l.starts_with("apr versions beside it")).unwrap_or_default();
    let shown: Vec<&str> = line.split(": ").nth(1).unwrap_or_default().split(", ").map(|v| v.split(' ').next().unwrap()).collect();
    assert_eq!(shown, ["0.72.4", "0.72.5", "0.72.10"], "{line}");
}

/// The last line that starts with "error: ": what main printed before exit 2.
fn error_line(run: &Run) -> &str {
    run.stdout.lines().rev().find(|l| l.starts_with("error: ")).unwrap_or("")
}

/// Nothing was done: no golden, no model folder, no results.
fn untouched(root: &Path) {
    assert!(!root.join("goldens").exists(), "goldens were written");
    assert!(!root.join("models/results").exists(), "results were written");
    assert!(!root.join("models/tiny-llama").exists(), "a model was pulled");
}

#[test]
fn no_apr_means_exit_2_before_any_work_and_no_outcome() {
    let tmp = setup();
    let root = tmp.path();
    // TMGT_APR naming no apr: nothing is installed over the user's choice.
    let named = xtask_with(root, &["--offline", "ci"], &[("TMGT_APR", "/nonexistent/apr")]);
    assert_eq!(named.code, 2, "{}", named.stdout);
    assert_eq!(
        error_line(&named),
        "error: TMGT_APR=/nonexistent/apr is not a usable apr: /nonexistent/apr: no such file — point TMGT_APR at one, or unset it and `ci` installs apr-cli 0.72.3"
    );
    untouched(root);

    // No apr on PATH and `cargo install` fails: exit 2 with cargo's telling line.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let cargo = bin.join("cargo");
    std::fs::write(
        &cargo,
        "#!/bin/sh\necho '    Updating crates.io index' >&2\necho 'error: could not find `apr-cli` in registry `crates-io` with version `=0.72.3`' >&2\nexit 101\n",
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let failed = xtask_with(root, &["ci"], &[("TMGT_APR", ""), ("PATH", &path)]);
    assert_eq!(failed.code, 2, "{}", failed.stdout);
    assert_eq!(
        error_line(&failed),
        "error: installing apr-cli 0.72.3 failed: `cargo install apr-cli --locked --version 0.72.3` exited with code 101: error: could not find `apr-cli` in registry `crates-io` with version `=0.72.3`"
    );
    untouched(root);

    // --offline cannot install it either.
    let offline = xtask_with(root, &["--offline", "ci"], &[("TMGT_APR", ""), ("PATH", "/usr/bin:/bin")]);
    assert_eq!(offline.code, 2);
    assert!(error_line(&offline).contains("cannot install apr-cli 0.72.3 with --offline"), "{}", offline.stdout);
    untouched(root);
}

#[test]
fn a_comparator_that_cannot_be_made_is_exit_2_unless_switched_off() {
    let tmp = setup();
    let root = tmp.path();
    let named = xtask_with(root, &["--offline", "ci"], &[("TMGT_LLAMACPP", "/nonexistent/llamacpp-comparator")]);
    assert_eq!(named.code, 2, "{}", named.stdout);
    assert_eq!(
        error_line(&named),
        "error: TMGT_LLAMACPP=/nonexistent/llamacpp-comparator: no such file — point it at a built llamacpp-comparator, or set TMGT_LLAMACPP=off to run without llama.cpp"
    );
    untouched(root);
    // Not switched off and not buildable from this checkout (its sources are missing
    // here): exit 2 naming the cause and the way out, before any long step.
    let unbuildable = xtask_with(
        root,
        &["--offline", "ci"],
        &[("TMGT_LLAMACPP", ""), ("TMGT_LLAMACPP_TARGET", &root.join("lcpp").display().to_string())],
    );
    assert_eq!(unbuildable.code, 2, "{}", unbuildable.stdout);
    let line = error_line(&unbuildable);
    assert!(line.starts_with("error: the llama.cpp comparator cannot be built: "), "{line}");
    assert!(line.ends_with("(or TMGT_LLAMACPP=off to run without it: attribution limited to candle)"), "{line}");
    untouched(root);
}

#[test]
fn harness_errors_exit_2_with_the_file_named() {
    let tmp = setup();
    std::fs::write(tmp.path().join("roster.toml"), "models = 3").unwrap();
    let run = xtask(tmp.path(), &["--offline", "status"]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.contains("roster.toml"), "{}", run.stdout);
}
