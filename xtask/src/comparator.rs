//! The llama.cpp comparator (`comparators/llamacpp`, its own cargo workspace): where
//! its binary lives, which build tools it needs (cmake, clang, libclang for bindgen),
//! and the on-demand build (`cargo build --release --locked --manifest-path …`, about
//! 14 minutes cold on two cores), the way `ci::install_apr` installs apr.

use camino::{Utf8Path, Utf8PathBuf};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

pub const MANIFEST: &str = "comparators/llamacpp/Cargo.toml";
pub const BIN_NAME: &str = "llamacpp-comparator";
/// Overrides where the harness looks for the comparator binary.
pub const ENV_BIN: &str = "TMGT_LLAMACPP";

/// The Debian packages the build needs, with what each provides.
const TOOLS: [(&str, &str); 3] = [("cmake", "cmake"), ("clang", "a C/C++ compiler"), ("libclang-dev", "libclang (bindgen)")];

/// The comparator's target folder: $TMGT_LLAMACPP_TARGET, else $CARGO_TARGET_DIR, else
/// a per-user cache (~/.cache/tiny-model-ground-truth/llamacpp-target) so that the long
/// C++ build is made once per machine, as `cargo install` makes apr once, not once per
/// clone; without a home folder, `comparators/llamacpp/target`.
pub fn target_dir(root: &Utf8Path) -> Utf8PathBuf {
    if let Ok(dir) = std::env::var("TMGT_LLAMACPP_TARGET").or_else(|_| std::env::var("CARGO_TARGET_DIR")) {
        return Utf8PathBuf::from(dir);
    }
    match std::env::var("HOME") {
        Ok(home) if !home.is_empty() => Utf8PathBuf::from(home).join(".cache/tiny-model-ground-truth/llamacpp-target"),
        _ => root.join("comparators/llamacpp/target"),
    }
}

/// Where `cargo build --release` leaves the binary.
pub fn built_bin(root: &Utf8Path) -> Utf8PathBuf {
    target_dir(root).join("release").join(BIN_NAME)
}

/// `TMGT_LLAMACPP=off`: run without the comparator even where it is built (its checks
/// SKIP; the harness's own tests use it to stay the same on every machine).
pub fn switched_off() -> bool {
    std::env::var(ENV_BIN).is_ok_and(|v| v == "off")
}

/// $TMGT_LLAMACPP when set (None for `off`), else the built binary when it exists.
pub fn find_bin(root: &Utf8Path) -> Option<Utf8PathBuf> {
    if let Ok(p) = std::env::var(ENV_BIN) {
        return (p != "off").then(|| Utf8PathBuf::from(p));
    }
    let bin = built_bin(root);
    bin.is_file().then_some(bin)
}

/// The exact command that builds the comparator from the repository root.
pub fn build_command() -> String {
    format!("cargo build --release --locked --manifest-path {MANIFEST}")
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file())).unwrap_or(false)
}

/// A libclang shared library where bindgen (clang-sys) looks: $LIBCLANG_PATH, then the
/// usual Debian/Ubuntu folders.
fn has_libclang() -> bool {
    let mut dirs: Vec<std::path::PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("LIBCLANG_PATH") {
        dirs.push(p.into());
    }
    dirs.extend(["/usr/lib", "/usr/lib64", "/usr/local/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"].map(Into::into));
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("llvm-") {
                dirs.push(e.path().join("lib"));
            }
        }
    }
    dirs.iter().any(|d| {
        std::fs::read_dir(d)
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("libclang") && e.file_name().to_string_lossy().contains(".so"))
            })
            .unwrap_or(false)
    })
}

/// The Debian packages missing for the build (empty: ready).
pub fn missing_packages() -> Vec<&'static str> {
    let present = [on_path("cmake"), on_path("clang") || on_path("c++"), has_libclang()];
    TOOLS.iter().zip(present).filter(|(_, ok)| !ok).map(|((pkg, _), _)| *pkg).collect()
}

/// The one command that installs `packages`.
pub fn install_command(packages: &[&str]) -> String {
    format!("apt-get install -y {}", packages.join(" "))
}

/// Why the comparator is not usable, in one line for a SKIP/BLOCK: what is missing
/// and the command(s) that fix it.
pub fn not_built_reason(root: &Utf8Path) -> String {
    if switched_off() {
        return format!("llama.cpp comparator off ({ENV_BIN}=off)");
    }
    let missing = missing_packages();
    let build = build_command();
    if missing.is_empty() {
        format!("llama.cpp comparator not built ({} missing): run `{build}`", built_bin(root))
    } else {
        let what: Vec<String> = TOOLS.iter().filter(|(p, _)| missing.contains(p)).map(|(p, w)| format!("{p} ({w})")).collect();
        format!(
            "llama.cpp comparator not built and its build needs {}: run `{}` then `{build}`",
            what.join(", "),
            install_command(&missing)
        )
    }
}

/// Installs the missing build tools with apt-get when allowed and running as root;
/// otherwise an error naming the one command that does.
pub fn ensure_build_tools(allow_install: bool) -> Result<(), String> {
    let missing = missing_packages();
    if missing.is_empty() {
        return Ok(());
    }
    let cmd = install_command(&missing);
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !(allow_install && root && on_path("apt-get")) {
        return Err(format!("the llama.cpp comparator's build needs {}: run `{cmd}`", missing.join(", ")));
    }
    println!("llama.cpp comparator: installing {} ({cmd})", missing.join(", "));
    for argv in [vec!["apt-get", "update"], ["apt-get", "install", "-y"].into_iter().chain(missing.iter().copied()).collect()] {
        let (code, tail) = run_teed(&argv, None)?;
        if code != Some(0) {
            return Err(format!("`{}` exited with {}: {}", argv.join(" "), exit_text(code), telling_line(&tail)));
        }
    }
    let still = missing_packages();
    if !still.is_empty() {
        return Err(format!("`{cmd}` ran but {} still cannot be found", still.join(", ")));
    }
    Ok(())
}

fn exit_text(code: Option<i32>) -> String {
    code.map(|c| format!("code {c}")).unwrap_or_else(|| "a signal".into())
}

/// The stderr line that says what went wrong: the last `error…` line, else the last line.
pub fn telling_line(stderr_tail: &[String]) -> String {
    stderr_tail
        .iter()
        .rev()
        .find(|l| {
            let t = l.trim_start().to_ascii_lowercase();
            t.starts_with("error") || t.starts_with("e:") || t.contains("cmake error") || t.contains("fatal error")
        })
        .or_else(|| stderr_tail.iter().rev().find(|l| !l.trim().is_empty()))
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| "(no stderr)".into())
}

/// Runs `argv` with stdout inherited and stderr passed through while its last 200
/// lines are kept; returns (exit code, stderr tail).
fn run_teed(argv: &[&str], cwd: Option<&Utf8Path>) -> Result<(Option<i32>, Vec<String>), String> {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::null()).stdout(Stdio::inherit()).stderr(Stdio::piped());
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(|e| format!("`{}`: cannot start: {e}", argv.join(" ")))?;
    let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            if tail.len() == 200 {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    }
    let status = child.wait().map_err(|e| format!("`{}`: {e}", argv.join(" ")))?;
    Ok((status.code(), tail.into()))
}

/// Builds the comparator when its binary is missing or stale (cargo decides; a warm
/// rebuild takes seconds), installing missing build tools when `allow_install`, and
/// returns the binary's path once `<bin> version` answers with JSON.
pub fn build_comparator(root: &Utf8Path, offline: bool, allow_install: bool) -> Result<Utf8PathBuf, String> {
    ensure_build_tools(allow_install)?;
    let manifest = root.join(MANIFEST);
    if !manifest.is_file() {
        return Err(format!("{manifest}: the comparator's manifest is missing"));
    }
    let bin = built_bin(root);
    if !bin.is_file() {
        println!("llama.cpp comparator: building it from source ({}; about 14 minutes cold on two cores)", build_command());
    }
    let target = target_dir(root);
    let mut argv = vec!["cargo", "build", "--release", "--locked", "--manifest-path", manifest.as_str(), "--target-dir", target.as_str()];
    if offline {
        argv.push("--offline");
    }
    // Tracked like every child: a signal stops the build too.
    let argv: Vec<String> = argv.into_iter().map(String::from).collect();
    crate::runner::run_live(&argv, Some(root.as_std_path()), std::time::Duration::from_secs(4 * 3600)).map_err(|e| e.to_string())?;
    if !bin.is_file() {
        return Err(format!("{bin}: `{}` succeeded but the binary is not there", build_command()));
    }
    let out = Command::new(&bin).arg("version").output().map_err(|e| format!("{bin} version: cannot start: {e}"))?;
    if !out.status.success() {
        let stderr: Vec<String> = String::from_utf8_lossy(&out.stderr).lines().map(String::from).collect();
        return Err(format!("`{bin} version` exited with {}: {}", exit_text(out.status.code()), telling_line(&stderr)));
    }
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .map_err(|e| format!("`{bin} version` did not print JSON ({e}): {:?}", String::from_utf8_lossy(&out.stdout)))?;
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telling_line_prefers_the_last_error() {
        let tail: Vec<String> = [
            "   Compiling x",
            "error: failed to run custom build command for `llama-cpp-sys-2`",
            "  CMake Error at x",
            "note: see above",
            "",
        ]
        .map(String::from)
        .into();
        assert_eq!(telling_line(&tail), "CMake Error at x");
        assert_eq!(telling_line(&["warning: a".into(), "last words".into()]), "last words");
        assert_eq!(telling_line(&[]), "(no stderr)");
    }

    #[test]
    fn reasons_name_the_commands() {
        assert_eq!(install_command(&["cmake", "libclang-dev"]), "apt-get install -y cmake libclang-dev");
        let root = Utf8Path::new("/nonexistent-root");
        let reason = not_built_reason(root);
        assert!(reason.contains(&build_command()), "{reason}");
        assert!(built_bin(root).as_str().ends_with("release/llamacpp-comparator"));
    }
}
