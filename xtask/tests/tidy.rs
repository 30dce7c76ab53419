//! Style checked by a test rather than by review (rust-analyzer's tidy is the model):
//! every source file opens with a `//!` line saying what it is, and the xtask binary's
//! dependency graph has no candle (so `cargo xtask status` builds in seconds).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_opens_with_a_doc_line() {
    let root = workspace();
    let mut files = Vec::new();
    for dir in ["schema", "oracle-gen", "xtask", "testkit", "comparators/llamacpp/src", "comparators/llamacpp/tests"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "found only {} source files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            !text.lines().next().is_some_and(|l| l.starts_with("//!"))
        })
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .collect();
    assert!(missing.is_empty(), "source files without a leading `//!` line:\n{}", missing.join("\n"));
}

#[test]
fn xtask_pulls_no_candle() {
    let lock: toml::Table = toml::from_str(&std::fs::read_to_string(workspace().join("Cargo.lock")).unwrap()).unwrap();
    let packages = lock["package"].as_array().unwrap();
    // name -> dependency names (Cargo.lock spells an ambiguous one "name version").
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in packages {
        let name = p["name"].as_str().unwrap().to_string();
        let list: Vec<String> = p
            .get("dependencies")
            .and_then(|d| d.as_array())
            .map(|d| d.iter().map(|x| x.as_str().unwrap().split(' ').next().unwrap().to_string()).collect())
            .unwrap_or_default();
        deps.entry(name).or_default().extend(list);
    }
    let mut seen = BTreeSet::new();
    let mut stack = vec!["xtask".to_string()];
    while let Some(name) = stack.pop() {
        if seen.insert(name.clone()) {
            stack.extend(deps.get(&name).cloned().unwrap_or_default());
        }
    }
    assert!(seen.len() > 10, "the walk found {} crates: not a graph", seen.len());
    let candle: Vec<&String> = seen.iter().filter(|n| n.starts_with("candle")).collect();
    assert!(candle.is_empty(), "xtask depends on {candle:?}");
    // and the walk can see candle where it is: oracle-gen's graph has it
    let mut stack = vec!["oracle-gen".to_string()];
    let mut oracle = BTreeSet::new();
    while let Some(name) = stack.pop() {
        if oracle.insert(name.clone()) {
            stack.extend(deps.get(&name).cloned().unwrap_or_default());
        }
    }
    assert!(oracle.contains("candle-core"), "the walk must find candle under oracle-gen");
}

/// Every child process of the harness goes through `runner.rs` (a timeout, its own
/// process group killed on a signal, the evidence kept): no `Command::new` anywhere
/// else in xtask's code outside its tests.
#[test]
fn every_child_process_goes_through_the_runner() {
    let mut files = Vec::new();
    rust_files(&workspace().join("xtask/src"), &mut files);
    assert!(files.len() > 20, "found only {} xtask source files", files.len());
    let spawning: Vec<String> = files
        .iter()
        .filter(|f| !f.ends_with("runner.rs"))
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            code.contains("Command::new(")
        })
        .map(|f| f.strip_prefix(workspace()).unwrap_or(f).display().to_string())
        .collect();
    assert!(spawning.is_empty(), "spawning children past runner.rs:\n{}", spawning.join("\n"));
    // and the check can see a spawn where there is one
    let runner = std::fs::read_to_string(workspace().join("xtask/src/runner.rs")).unwrap();
    assert!(runner.split("#[cfg(test)]").next().unwrap().contains("Command::new("));
}

/// ARCHITECTURE.md names schema's dependencies; the manifest and the document agree.
#[test]
fn schema_depends_on_what_architecture_md_says() {
    let manifest: toml::Table = toml::from_str(&std::fs::read_to_string(workspace().join("schema/Cargo.toml")).unwrap()).unwrap();
    let deps: BTreeSet<String> = manifest["dependencies"].as_table().unwrap().keys().cloned().collect();
    let doc = std::fs::read_to_string(workspace().join("ARCHITECTURE.md")).unwrap();
    let start = doc.find("Depends on ").expect("ARCHITECTURE.md names schema's dependencies");
    let sentence = &doc[start + "Depends on ".len()..];
    let sentence = &sentence[..sentence.find(" only").expect("…only")];
    let named: BTreeSet<String> =
        sentence.split([',', ' ']).map(str::trim).filter(|w| !w.is_empty() && *w != "and").map(String::from).collect();
    assert_eq!(deps, named, "schema/Cargo.toml's [dependencies] vs ARCHITECTURE.md's \"Depends on … only\"");
}
