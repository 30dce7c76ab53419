//! The llama.cpp comparator (`comparators/llamacpp`, its own cargo workspace): where
//! its binary lives and the on-demand build (`cargo build --release --locked
//! --manifest-path …`, about 14 minutes cold on two cores), the way `install_apr`
//! installs apr. The system packages the build needs are `doctor.rs`'s.

use crate::doctor::{self, Need};
use camino::{Utf8Path, Utf8PathBuf};

pub const MANIFEST: &str = "comparators/llamacpp/Cargo.toml";
pub const BIN_NAME: &str = "llamacpp-comparator";
/// Overrides where the harness looks for the comparator binary.
pub const ENV_BIN: &str = "TMGT_LLAMACPP";

/// The comparator's target folder: $TMGT_LLAMACPP_TARGET, else $CARGO_TARGET_DIR, else
/// the per-user cache (`util::user_cache`, ~/.cache/tiny-model-ground-truth/llamacpp-target) so that the long
/// C++ build is made once per machine, as `cargo install` makes apr once, not once per
/// clone; without a home folder, `comparators/llamacpp/target`.
pub fn target_dir(root: &Utf8Path) -> Utf8PathBuf {
    if let Ok(dir) = std::env::var("TMGT_LLAMACPP_TARGET").or_else(|_| std::env::var("CARGO_TARGET_DIR")) {
        return Utf8PathBuf::from(dir);
    }
    match crate::util::user_cache() {
        Some(cache) => cache.join("llamacpp-target"),
        None => root.join("comparators/llamacpp/target"),
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

/// Why the comparator is not usable, in one line: what is missing and the
/// command(s) that fix it.
pub fn not_built_reason(root: &Utf8Path) -> String {
    if switched_off() {
        return format!("llama.cpp comparator off ({ENV_BIN}=off)");
    }
    let missing = doctor::missing(&[Need::Comparator]);
    let build = build_command();
    if missing.is_empty() {
        format!("llama.cpp comparator not built ({} missing): run `{build}`", built_bin(root))
    } else {
        let what: Vec<String> = missing.iter().map(|(p, _)| format!("{} ({})", p.name, p.provides)).collect();
        let names: Vec<&str> = missing.iter().map(|(p, _)| p.name).collect();
        format!(
            "llama.cpp comparator not built and its build needs {}: run `{}` then `{build}`",
            what.join(", "),
            doctor::install_command(&names)
        )
    }
}

/// Builds the comparator when its binary is missing or stale (cargo decides; a warm
/// rebuild takes seconds), installing missing build tools when `allow_install`, and
/// returns the binary's path once `<bin> version` answers with JSON.
pub fn build_comparator(root: &Utf8Path, offline: bool, allow_install: bool) -> Result<Utf8PathBuf, String> {
    let manifest = root.join(MANIFEST);
    if !manifest.is_file() {
        return Err(format!("{MANIFEST}: the comparator's manifest is missing from this checkout"));
    }
    doctor::ensure(&[Need::Comparator], allow_install)?;
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
    crate::runner::run_live(&argv, Some(root.as_std_path()), std::time::Duration::from_secs(4 * 3600)).map_err(|e| e.one_line())?;
    if !bin.is_file() {
        return Err(format!("{bin}: `{}` succeeded but the binary is not there", build_command()));
    }
    // Through the runner like every child: a timeout, a process group, one error line.
    let argv = vec![bin.to_string(), "version".to_string()];
    let inv = crate::runner::run(&argv, &crate::runner::RunOptions::with_timeout(std::time::Duration::from_secs(60)));
    crate::runner::check(&inv).map_err(|e| e.one_line())?;
    serde_json::from_str::<serde_json::Value>(&inv.stdout)
        .map_err(|e| format!("`{bin} version` did not print JSON ({e}): {:?}", inv.stdout))?;
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_the_commands() {
        let root = Utf8Path::new("/nonexistent-root");
        let reason = not_built_reason(root);
        assert!(reason.contains(&build_command()), "{reason}");
        assert!(built_bin(root).as_str().ends_with("release/llamacpp-comparator"));
    }
}
