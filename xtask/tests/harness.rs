//! Measures the harness itself: `cargo xtask ci` on the tiny fixtures against a fake
//! apr (testkit/fake-apr) that is perfect or carries exactly one injected defect. A
//! perfect runtime must exit 0 with no FAIL or BLOCKED against it; each defect must
//! give at least one FAIL against the runtime under test, all its findings in exactly
//! one ticket group, and no PASS that claims it away. The confusion matrix (defects ×
//! the suites that caught them) is printed and written to target/harness-confusion.md.
//! The fake measures the harness; it is never evidence about apr.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{sibling, workspace};

/// The fixture roster with one model or all three, two prompts or four.
fn roster(models: &[&str], prompts: &[&str]) -> String {
    let full = std::fs::read_to_string(workspace().join("roster-fixtures.toml")).unwrap();
    let mut table: toml::Table = toml::from_str(&full).unwrap();
    let keep = |list: &mut toml::Value, key: &str, names: &[&str]| {
        let items = list.as_array_mut().unwrap();
        items.retain(|m| names.contains(&m[key].as_str().unwrap()));
    };
    keep(table.get_mut("models").unwrap(), "slug", models);
    keep(table.get_mut("prompts").unwrap(), "name", prompts);
    toml::to_string(&table).unwrap()
}

fn setup(roster_text: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::write(root.join("roster.toml"), roster_text).unwrap();
    for dir in ["prompts", "data"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        for entry in std::fs::read_dir(workspace().join(dir)).unwrap() {
            let entry = entry.unwrap();
            // Files only: data/kld/ holds the real model's long text, not the fixtures'.
            if entry.path().is_file() {
                std::fs::copy(entry.path(), root.join(dir).join(entry.file_name())).unwrap();
            }
        }
    }
    // The committed fixture goldens: the oracle verifies them, nothing is rewritten.
    for slug in ["tiny-llama", "tiny-qwen2", "tiny-gpt2"] {
        let to = root.join("goldens").join(slug);
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(workspace().join("goldens").join(slug)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
    tmp
}

struct Run {
    code: i32,
    output: String,
    results: Value,
    ticket: String,
}

fn ci(root: &Path, defect: &str) -> Run {
    ci_with(root, defect, &sibling("oracle-gen", "oracle-gen"))
}

/// `ci` with `candle` standing for oracle-gen in the harness (the candle comparator's
/// runs); the fake apr's correct engine stays the real oracle-gen.
fn ci_with(root: &Path, defect: &str, candle: &Path) -> Run {
    let oracle_gen = sibling("oracle-gen", "oracle-gen");
    let env = |cmd: &mut Command| {
        cmd.env("TMGT_ROOT", root)
            .env("TMGT_ORACLE_GEN", candle)
            .env("TMGT_APR", sibling("fake-apr", "fake-apr"))
            .env("FAKE_APR_DEFECT", defect)
            .env("FAKE_APR_GOLDENS", root.join("goldens"))
            .env("FAKE_APR_ORACLE_GEN", &oracle_gen)
            // A hang is waited out briefly, but long enough for the fake's eval on a busy
            // machine (the harness tests run side by side: 4 s made eval time out);
            // anything else gets time to finish.
            .env("TMGT_TIMEOUT_S", if defect == "hang" { "10" } else { "300" })
            .env("NO_COLOR", "1")
            // Candle is the only comparator here, so the harness is measured the same way
            // whether or not this machine has built llama.cpp (its attribution has unit tests).
            .env("TMGT_LLAMACPP", "off");
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(["--offline", "--jobs", "2", "ci"]);
    env(&mut cmd);
    let out = cmd.output().unwrap();
    let output = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let results =
        std::fs::read(root.join("models/results/latest.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("ticket");
    env(&mut cmd);
    let ticket = String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned();
    Run { code: out.status.code().unwrap_or(-1), output, results, ticket }
}

fn under_test(o: &Value) -> bool {
    o["subject"].as_str().is_some_and(|s| s == "apr" || s.starts_with("apr-"))
}

fn problems(r: &Run) -> Vec<&Value> {
    r.results["outcomes"]
        .as_array()
        .map(|a| a.iter().filter(|o| under_test(o) && matches!(o["status"].as_str(), Some("FAIL" | "BLOCKED"))).collect())
        .unwrap_or_default()
}

/// Each defect: the suites that FAIL it on tiny-llama (two prompts), and the subjects
/// those FAILs name (what they block carries each blocked check's own subject). apr on its own APR files is "apr" (converter
/// or runtime); on a correct converter's GGUF it is "apr-runtime"; a file it wrote
/// that is wrong is "apr-converter"; what its CLI prints is "apr-runtime".
const EXPECTED: &[(&str, &[&str], &[&str])] = &[
    // cross-runtime too: apr emits a token it does not rank first itself, which is no
    // near tie of its own (until issue 22 the judge measured from its top-1 and
    // excused it).
    ("wrong-token", &["canary", "cross-runtime", "divergence", "ladder"], &["apr", "apr-runtime"]),
    ("trim-text", &["canary", "divergence"], &["apr-runtime"]),
    ("bos", &["divergence", "logprobs", "tokenizer"], &["apr", "apr-runtime"]),
    ("eos-then-more", &["canary", "cross-runtime", "divergence", "ladder", "logprobs", "token-parity"], &["apr", "apr-runtime"]),
    ("crash-import", &["convert", "corrupt-input"], &["apr-converter"]),
    ("crash-run", &["corrupt-input", "divergence", "ppl", "reference-ppl", "token-parity"], &["apr", "apr-runtime"]),
    ("hang", &["corrupt-input", "divergence", "token-parity"], &["apr", "apr-runtime"]),
    ("non-json", &["divergence", "token-parity"], &["apr", "apr-runtime"]),
    (
        "json-nonzero",
        &[
            "bench",
            "debug",
            "diff",
            "hex",
            "inspect",
            "lint",
            "list",
            "oracle-id",
            "qa",
            "rosetta-diff",
            "safetensors",
            "selftest",
            "tensors",
            "tree",
            "validate",
        ],
        &["apr-runtime"],
    ),
    // apr-runtime: its PPL on the correct f32 GGUF of the ladder.
    ("nan-ppl", &["ppl", "reference-ppl"], &["apr", "apr-runtime"]),
    ("empty-stages", &["safetensors", "selftest", "validate"], &["apr-converter", "apr-runtime"]),
    ("renamed-tensor", &["tensors", "tree"], &["apr-converter"]),
    ("f32-export", &["inspect"], &["apr-converter"]),
    ("logprob-shift", &["kld", "ladder", "logprobs"], &["apr", "apr-runtime"]),
    ("ppl-high", &["ladder", "reference-ppl"], &["apr", "apr-runtime"]),
    // One file, one finding: apr encodes the prompts otherwise only on its own export,
    // whose header lacks the key a correct export has; every check it breaks there is
    // its converter's, in one group.
    ("export-no-bos-flag", &["divergence", "logprobs", "tokenizer"], &["apr-converter"]),
    // The f32 ladder: a runtime wrong on every f32 file breaks at the correct f32 GGUF
    // (its runtime: every rung above joins it); a wrong unquantized APR alone is the
    // container (apr: its import or its reader).
    ("f32-runtime", &["cross-runtime", "divergence", "ladder"], &["apr-runtime"]),
    ("f32-container", &["divergence", "ladder"], &["apr"]),
    // One weight matrix of apr's int8 far worse than Q8_0's: its quantizer, by tensor.
    ("coarse-tensor", &["tensor-error"], &["apr-converter"]),
    // A panic on every file whose header is cut short: one group, every command.
    ("panic-truncated-header", &["corrupt-input"], &["apr-converter", "apr-runtime"]),
    // apr's own f32 APR exported back to safetensors with one value negated: the
    // round trip, its converter's.
    ("f32-corrupt-tensor", &["safetensors"], &["apr-converter"]),
];

/// Defects the harness does not catch on the fixtures yet, each with why: asserted
/// missed (exit 0, no FAIL against apr), so that the day a suite catches one this
/// test says to move it into `EXPECTED`.
const KNOWN_MISSES: &[(&str, &str)] = &[(
    "coarse-export",
    "a 4-bit export with one scale per tensor: on the tiny random fixtures candle's correct Q4_0 already misses every \
     token and KLD bound (the KLD text gives 7 positions), so a worse quantizer is the claim's failure, not apr's",
)];

#[test]
fn a_perfect_runtime_passes_and_every_injected_defect_is_caught_once() {
    // The perfect runtime on the whole fixture roster.
    let all = setup(&roster(&["tiny-llama", "tiny-qwen2", "tiny-gpt2"], &["arithmetic", "code", "completion", "greeting"]));
    let perfect = ci(all.path(), "perfect");
    let bad: Vec<String> =
        problems(&perfect).iter().map(|o| format!("{}/{}/{}: {} {}", o["suite"], o["model"], o["case"], o["status"], o["note"])).collect();
    assert!(bad.is_empty(), "a perfect runtime got findings:\n{}\n{}", bad.join("\n"), perfect.output);
    assert_eq!(perfect.code, 0, "a perfect runtime exits 0:\n{}", perfect.output);
    assert!(perfect.ticket.contains("No findings."), "{}", perfect.ticket);
    // The drift statistics ran on every fixture: candle scored the KLD text on the f32
    // export (KLD ≈ 0: a PASS against the f32 bound), apr's top-k gave its labelled
    // lower bound on the GGUF, and candle's tokenizer encodes the battery as the
    // reference does. (The reference's own decode(encode(s)) misses U+0080 on the
    // byte-level fixtures as on SmolLM2: a Reference finding, not asserted away here.)
    let outcomes = perfect.results["outcomes"].as_array().unwrap();
    let status = |suite: &str, model: &str, case: &str| -> String {
        let found: Vec<&Value> = outcomes.iter().filter(|o| o["suite"] == suite && o["model"] == model && o["case"] == case).collect();
        assert_eq!(found.len(), 1, "{suite}/{model}/{case}: {found:?}");
        found[0]["status"].as_str().unwrap().to_string()
    };
    for model in ["tiny-llama", "tiny-qwen2", "tiny-gpt2"] {
        assert_eq!(status("kld", model, "apr/int4-gguf (top-k)"), "PASS", "{model}");
        if model != "tiny-gpt2" {
            // candle has no quantized gpt2 model
            assert_eq!(status("kld", model, "candle/f32-gguf"), "PASS", "{model}");
            assert_eq!(status("tokenizer-battery", model, "candle/f32-gguf"), "PASS", "{model}");
        }
    }

    // One defect at a time, on one model and two prompts (the roundtrip's): each is
    // caught, as one ticket group.
    let defects = [
        "wrong-token",
        "trim-text",
        "bos",
        "eos-then-more",
        "crash-import",
        "crash-run",
        "hang",
        "non-json",
        "json-nonzero",
        "nan-ppl",
        "empty-stages",
        "renamed-tensor",
        "f32-export",
        "logprob-shift",
        "ppl-high",
        "export-no-bos-flag",
        "f32-runtime",
        "f32-container",
        "coarse-tensor",
        "panic-truncated-header",
        "f32-corrupt-tensor",
    ];
    let one = setup(&roster(&["tiny-llama"], &["arithmetic", "completion"]));
    let mut matrix: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    let mut failures = Vec::new();
    for defect in defects {
        let run = ci(one.path(), defect);
        let found = problems(&run);
        let fails: Vec<&&Value> = found.iter().filter(|o| o["status"] == "FAIL").collect();
        for o in &fails {
            *matrix.entry(defect).or_default().entry(o["suite"].as_str().unwrap().to_string()).or_default() += 1;
        }
        // Which suites catch it and whom they blame, asserted: a judging change that
        // moves a defect to another suite or another subject shows here.
        let caught: BTreeSet<&str> = fails.iter().map(|o| o["suite"].as_str().unwrap()).collect();
        let blamed: BTreeSet<&str> = fails.iter().map(|o| o["subject"].as_str().unwrap()).collect();
        let (_, want_suites, want_subjects) = EXPECTED.iter().find(|(d, _, _)| *d == defect).expect("every defect has a row");
        let want_suites: BTreeSet<&str> = want_suites.iter().copied().collect();
        let want_subjects: BTreeSet<&str> = want_subjects.iter().copied().collect();
        if caught != want_suites || blamed != want_subjects {
            failures.push(format!("{defect}: caught by {caught:?} blaming {blamed:?}; expected {want_suites:?} blaming {want_subjects:?}"));
        }
        let groups: BTreeSet<&str> = found.iter().map(|o| o["signature"].as_str().unwrap_or("")).collect();
        let headers = run.ticket.lines().filter(|l| l.starts_with("#### ")).count();
        if fails.is_empty() {
            failures.push(format!("{defect}: no FAIL against the runtime under test (exit {})", run.code));
        }
        if groups.len() != 1 || headers != 1 {
            failures.push(format!("{defect}: {} signature(s) {groups:?}, {headers} ticket group(s)", groups.len()));
        }
        if run.code != 1 {
            failures.push(format!("{defect}: exit {} (expected 1: findings against the runtime)", run.code));
        }
    }
    for (defect, why) in KNOWN_MISSES {
        let run = ci(one.path(), defect);
        let fails = problems(&run).iter().filter(|o| o["status"] == "FAIL").count();
        if fails != 0 || run.code != 0 {
            failures.push(format!("{defect}: known miss ({why}) now gives {fails} FAIL(s), exit {}: move it into EXPECTED", run.code));
        }
    }
    let suites: BTreeSet<&String> = matrix.values().flat_map(|m| m.keys()).collect();
    let mut table = format!(
        "| defect | {} |\n|---|{}\n",
        suites.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" | "),
        "---|".repeat(suites.len())
    );
    for defect in defects {
        let row = matrix.get(defect);
        let cells: Vec<String> = suites.iter().map(|s| row.and_then(|r| r.get(*s)).map_or(String::new(), |n| n.to_string())).collect();
        table.push_str(&format!("| {defect} | {} |\n", cells.join(" | ")));
    }
    println!("confusion matrix (FAILs against the runtime under test, by suite):\n{table}");
    let target = PathBuf::from(env!("CARGO_BIN_EXE_xtask")).parent().unwrap().join("harness-confusion.md");
    let _ = std::fs::write(target, &table);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Processes whose command line or working folder is under `root`.
fn processes_under(root: &Path) -> Vec<String> {
    let root = root.to_string_lossy().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().to_string();
        if !pid.chars().all(|c| c.is_ascii_digit()) || pid == std::process::id().to_string() {
            continue;
        }
        let cmdline =
            std::fs::read(entry.path().join("cmdline")).map(|b| String::from_utf8_lossy(&b).replace('\0', " ")).unwrap_or_default();
        let cwd = std::fs::read_link(entry.path().join("cwd")).map(|p| p.to_string_lossy().to_string()).unwrap_or_default();
        if cmdline.contains(&root) || cwd.starts_with(&root) {
            found.push(format!("{pid}: {cmdline} (in {cwd})"));
        }
    }
    found
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with(".tmp-") || name.starts_with(".golden-staging-") || (name.starts_with('.') && name.ends_with(".tmp")) {
            found.push(path.clone());
        }
        if path.is_dir() {
            found.extend(temp_files(&path));
        }
    }
    found
}

#[test]
fn sigterm_stops_every_child_and_leaves_no_temp_file() {
    let tmp = setup(&roster(&["tiny-llama"], &["completion"]));
    let root = tmp.path();
    assert_eq!(ci(root, "perfect").code, 0);
    let oracle_gen = sibling("oracle-gen", "oracle-gen");
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["--offline", "--jobs", "2", "check"])
        .env("TMGT_ROOT", root)
        .env("TMGT_ORACLE_GEN", &oracle_gen)
        .env("TMGT_APR", sibling("fake-apr", "fake-apr"))
        .env("FAKE_APR_DEFECT", "hang")
        .env("FAKE_APR_GOLDENS", root.join("goldens"))
        .env("FAKE_APR_ORACLE_GEN", &oracle_gen)
        .env("TMGT_TIMEOUT_S", "600")
        .env("TMGT_LLAMACPP", "off")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until apr hangs in a run.
    let started = std::time::Instant::now();
    while !processes_under(root).iter().any(|p| p.contains("fake-apr") && p.contains(" run ")) {
        assert!(started.elapsed().as_secs() < 300, "no hanging apr run appeared");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // SAFETY: kill(2) on the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("stopped by a signal: killed"), "{stderr}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let left = processes_under(root);
    assert!(left.is_empty(), "processes survived SIGTERM:\n{}", left.join("\n"));
    let temps = temp_files(&root.join("models"));
    assert!(temps.is_empty(), "temp files left: {temps:?}");
}

/// A wrong comparator (candle leaving the golden at step 1 of every GGUF run, a test
/// double) beside a perfect apr: the comparator's findings, never apr's; exit 0.
#[test]
fn a_wrong_comparator_is_its_own_finding_never_apr_s() {
    let one = setup(&roster(&["tiny-llama"], &["arithmetic", "completion"]));
    let run = ci_with(one.path(), "perfect", &sibling("wrong-candle", "fake-apr"));
    let bad: Vec<String> = problems(&run).iter().map(|o| format!("{}/{}: {} {}", o["suite"], o["case"], o["status"], o["note"])).collect();
    assert!(bad.is_empty(), "a wrong comparator made findings against apr:\n{}\n{}", bad.join("\n"), run.output);
    assert_eq!(run.code, 0, "{}", run.output);
    assert!(run.ticket.contains("No findings."), "{}", run.ticket);
    let outcomes = run.results["outcomes"].as_array().unwrap();
    let pair = outcomes.iter().find(|o| o["suite"] == "cross-runtime" && o["case"] == "f32-gguf/completion apr~candle").unwrap();
    assert_eq!((pair["status"].as_str(), pair["subject"].as_str()), (Some("FAIL"), Some("comparator:candle")), "{pair}");
    assert!(pair["note"].as_str().unwrap().ends_with("candle left the golden first (step 1)"), "{pair}");
    let own = outcomes.iter().find(|o| o["suite"] == "divergence" && o["case"] == "candle/f32-gguf/completion").unwrap();
    assert_eq!((own["status"].as_str(), own["subject"].as_str()), (Some("FAIL"), Some("comparator:candle")), "{own}");
}
