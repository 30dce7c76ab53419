//! Build script: records what this comparator is made of, for `llamacpp-comparator
//! version`: the pinned llama-cpp-2 / llama-cpp-sys-2 versions (from Cargo.lock) and a
//! sha256 fingerprint of the llama.cpp sources llama-cpp-sys-2 vendors (found through
//! its CMake cache, `CMAKE_HOME_DIRECTORY`). The vendored tree carries no git data, so
//! llama.cpp's own build-info says commit "unknown"; the fingerprint names the sources.
//! Also a sha256 of this comparator's own sources, so the harness can tell a change
//! to the comparator's conventions from a change to llama.cpp.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn locked_version(lock: &str, name: &str) -> String {
    let needle = format!("name = \"{name}\"\nversion = \"");
    lock.find(&needle)
        .and_then(|at| {
            let rest = &lock[at + needle.len()..];
            rest.find('"').map(|end| rest[..end].to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The llama.cpp source folder llama-cpp-sys-2 configured CMake with.
fn vendored_source_dir() -> Option<PathBuf> {
    // llama-cpp-sys-2 (links = "llama") prints cargo:ggml_cmake_dir=<OUT_DIR>/lib/cmake.
    let cmake_dir = PathBuf::from(std::env::var_os("DEP_LLAMA_GGML_CMAKE_DIR")?);
    let out_dir = cmake_dir.parent()?.parent()?;
    let cache = std::fs::read_to_string(out_dir.join("build").join("CMakeCache.txt")).ok()?;
    let line = cache.lines().find(|l| l.starts_with("CMAKE_HOME_DIRECTORY:"))?;
    let dir = PathBuf::from(line.split_once('=')?.1.trim());
    dir.join("CMakeLists.txt").is_file().then_some(dir)
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if path.is_file() {
            out.push(path.strip_prefix(root).unwrap().to_path_buf());
        }
    }
}

/// sha256 over (relative path, length, bytes) of every file under the folders that
/// make the library: include/, src/, ggml/include/, ggml/src/, and the top CMakeLists.
fn fingerprint(root: &Path) -> (String, usize) {
    let mut files = vec![PathBuf::from("CMakeLists.txt")];
    for sub in ["include", "src", "ggml/include", "ggml/src", "ggml/CMakeLists.txt"] {
        let p = root.join(sub);
        if p.is_file() {
            files.push(PathBuf::from(sub));
        } else {
            collect(root, &p, &mut files);
        }
    }
    hash_files(root, files)
}

/// sha256 over (relative path, length, bytes) of `files` under `root`, sorted.
fn hash_files(root: &Path, mut files: Vec<PathBuf>) -> (String, usize) {
    files.sort();
    let mut h = Sha256::new();
    for rel in &files {
        let bytes = std::fs::read(root.join(rel)).unwrap_or_default();
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    let digest = h.finalize();
    (digest.iter().map(|b| format!("{b:02x}")).collect(), files.len())
}

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let lock_path = manifest_dir.join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock_path.display());
    println!("cargo:rerun-if-env-changed=DEP_LLAMA_GGML_CMAKE_DIR");
    let lock = std::fs::read_to_string(&lock_path).unwrap_or_default();
    println!("cargo:rustc-env=TMGT_LLAMA_CPP_2_VERSION={}", locked_version(&lock, "llama-cpp-2"));
    println!("cargo:rustc-env=TMGT_LLAMA_CPP_SYS_2_VERSION={}", locked_version(&lock, "llama-cpp-sys-2"));
    let (sha, files, dir) = match vendored_source_dir() {
        Some(dir) => {
            let (sha, n) = fingerprint(&dir);
            (sha, n, dir.display().to_string())
        }
        None => ("unknown".into(), 0, "unknown".into()),
    };
    println!("cargo:rustc-env=TMGT_LLAMA_CPP_SOURCES_SHA256={sha}");
    let mut own = vec![PathBuf::from("build.rs"), PathBuf::from("Cargo.toml"), PathBuf::from("Cargo.lock")];
    collect(&manifest_dir, &manifest_dir.join("src"), &mut own);
    // A folder: cargo reruns when any file under it changes (new files included).
    println!("cargo:rerun-if-changed={}", manifest_dir.join("src").display());
    println!("cargo:rerun-if-changed={}", manifest_dir.join("build.rs").display());
    println!("cargo:rerun-if-changed={}", manifest_dir.join("Cargo.toml").display());
    println!("cargo:rustc-env=TMGT_COMPARATOR_SOURCE_SHA256={}", hash_files(&manifest_dir, own).0);
    println!("cargo:rustc-env=TMGT_LLAMA_CPP_SOURCES_FILES={files}");
    println!("cargo:rustc-env=TMGT_LLAMA_CPP_SOURCES_DIR={dir}");
}
