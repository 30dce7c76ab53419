//! Sharded runs on the fixtures (one model, two prompts, the perfect fake apr): the
//! shards of `cargo xtask ci --shard K/3` (one model over three shards: its jobs are
//! split by key) merged by `status --merge` print the same table as the unsharded
//! run; no shard judges what it did not run; a missing shard and mismatched receipts
//! are reported, not merged silently.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{sibling, workspace};

/// A repository copy with the fixture roster cut to tiny-llama and two prompts.
fn setup() -> tempfile::TempDir {
    let full = std::fs::read_to_string(workspace().join("roster-fixtures.toml")).unwrap();
    let mut table: toml::Table = toml::from_str(&full).unwrap();
    table["models"].as_array_mut().unwrap().retain(|m| m["slug"].as_str() == Some("tiny-llama"));
    table["prompts"].as_array_mut().unwrap().retain(|p| matches!(p["name"].as_str(), Some("arithmetic" | "completion")));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::write(root.join("roster.toml"), toml::to_string(&table).unwrap()).unwrap();
    for dir in ["prompts", "data", "goldens/tiny-llama"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        for entry in std::fs::read_dir(workspace().join(dir)).unwrap() {
            let entry = entry.unwrap();
            if entry.path().is_file() {
                std::fs::copy(entry.path(), root.join(dir).join(entry.file_name())).unwrap();
            }
        }
    }
    tmp
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn xtask(root: &Path, args: &[&str]) -> Out {
    let oracle_gen = sibling("oracle-gen", "oracle-gen");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("TMGT_ROOT", root)
        .env("TMGT_ORACLE_GEN", &oracle_gen)
        .env("TMGT_APR", sibling("fake-apr", "fake-apr"))
        .env("FAKE_APR_DEFECT", "perfect")
        .env("FAKE_APR_GOLDENS", root.join("goldens"))
        .env("FAKE_APR_ORACLE_GEN", &oracle_gen)
        .env("TMGT_TIMEOUT_S", "300")
        .env("NO_COLOR", "1")
        .env("TMGT_LLAMACPP", "off")
        .output()
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn merged_shards_print_the_unsharded_table() {
    let tmp = setup();
    let root = tmp.path();
    let whole = xtask(root, &["--offline", "--jobs", "2", "ci"]);
    assert_eq!(whole.code, 0, "{}\n{}", whole.stdout, whole.stderr);
    let table = xtask(root, &["status"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    let whole_file = std::fs::canonicalize(root.join("models/results/latest.json")).unwrap();
    let whole_results = read(&whole_file);
    let receipt = &whole_results["receipt"];
    assert_eq!(receipt["shard"], serde_json::json!({"index": 1, "count": 1}));
    assert!(receipt["host"]["cpus"].as_u64().unwrap() >= 1 && !receipt["host"]["cpu_model"].as_str().unwrap().is_empty());
    assert_eq!(receipt["roster_hash"].as_str().unwrap().len(), 64);
    assert!(receipt["runtimes"]["apr"].as_str().is_some());
    for input in ["roster.toml", "prompts/completion.txt", "goldens/tiny-llama/completion.json", "tiny-llama/artifacts/int8"] {
        assert!(receipt["inputs"][input].as_str().is_some_and(|h| h.len() == 64), "input {input}: {receipt}");
    }

    let kld_dir = root.join("models/tiny-llama/kld");
    let kld_bases = || -> Vec<PathBuf> {
        std::fs::read_dir(&kld_dir)
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "lp"))
            .collect()
    };
    assert_eq!(kld_bases().len(), 1, "the unsharded run makes one KLD base");
    let mut shards_with_kld = 0;
    let mut files = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        for base in kld_bases() {
            std::fs::remove_file(base).unwrap();
        }
        let run = xtask(root, &["--offline", "--jobs", "2", "ci", "--shard", &shard]);
        assert_eq!(run.code, 0, "shard {shard}:\n{}\n{}", run.stdout, run.stderr);
        let name = format!("_shard-{k}-of-3.json");
        let file = std::fs::read_dir(root.join("models/results"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(&name))
            .unwrap_or_else(|| panic!("no results file for shard {shard}:\n{}", run.stdout));
        let r = read(&file);
        // One model over three shards: each gathers evidence, none judges alone.
        assert_eq!(r["outcomes"].as_array().unwrap().len(), 0, "shard {shard} judged what it did not run");
        assert!(r["evidence"]["tiny-llama"].is_object());
        // The oracle scores the KLD text only in a shard that runs kld jobs.
        // (Every shard lists the kld checks that cannot run, as skipped; the ones it
        // ran are observed.)
        let kld = &r["evidence"]["tiny-llama"]["kld"];
        let ran = |entry: &Value| !matches!(entry[1]["kind"].as_str(), Some("skipped" | "blocked"));
        let has_kld = kld.as_array().expect("kld evidence as entries").iter().any(ran);
        assert_eq!(kld_bases().len(), usize::from(has_kld), "shard {shard}: kld evidence {kld}, bases {:?}", kld_bases());
        shards_with_kld += usize::from(has_kld);
        files.push(file);
    }
    assert!(shards_with_kld >= 1, "no shard ran the kld jobs");
    let counts: Vec<(u64, u64)> = files
        .iter()
        .map(|f| {
            let j = &read(f)["receipt"]["jobs"]["tiny-llama"];
            (j[0].as_u64().unwrap(), j[1].as_u64().unwrap())
        })
        .collect();
    let planned = counts[0].1;
    assert!(counts.iter().all(|(_, p)| *p == planned) && counts.iter().map(|(here, _)| here).sum::<u64>() == planned, "{counts:?}");

    let args = |files: &[PathBuf]| -> Vec<String> {
        let mut a = vec!["status".to_string(), "--merge".to_string()];
        a.extend(files.iter().map(|f| f.to_string_lossy().into_owned()));
        a
    };
    let run = |a: Vec<String>| xtask(root, &a.iter().map(String::as_str).collect::<Vec<_>>());
    let merged = run(args(&files));
    assert_eq!(merged.code, 0, "{}", merged.stderr);
    assert_eq!(merged.stdout, table.stdout, "the merged shards' table differs from the unsharded run's");
    assert!(merged.stderr.contains("Merged 3 of 3 shard(s)"), "{}", merged.stderr);

    // A missing shard is reported (and the merge exits 2), not silently absent.
    let partial = run(args(&files[..2]));
    assert_eq!(partial.code, 2);
    assert!(partial.stderr.contains("shard 3/3: MISSING"), "{}", partial.stderr);
    assert!(partial.stdout.contains("| shard "), "{}", partial.stdout);

    // A shard and the unsharded run are not one run.
    let mut mixed = args(&files[..1]);
    mixed.push(whole_file.to_string_lossy().into_owned());
    let refused = run(mixed);
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("the shard counts differ (1/1 vs 1/3)"), "{}", refused.stderr);

    // ticket --merge reads the same merge.
    let mut ticket = args(&files);
    ticket[0] = "ticket".into();
    let ticket = run(ticket);
    assert_eq!(ticket.code, 0, "{}", ticket.stderr);
    assert!(ticket.stdout.contains("No findings."), "{}", ticket.stdout);
}
