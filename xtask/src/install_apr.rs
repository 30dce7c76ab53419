//! `install-apr`: released apr-cli versions installed side by side, each in its own
//! root under the per-user cache (`<cache>/apr/<V>/bin/apr`), never over another
//! version or the user's own `apr`; and `--apr V|PATH` (or `TMGT_APR`), resolved once
//! at the edge to the program every apr command line then runs.

use crate::context::Ctx;
use crate::runtime::apr::{Apr, PINNED_VERSION};
use anyhow::Result;
use camino::Utf8PathBuf;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct InstallApr {
    /// A released apr-cli version ("0.72.2"), installed beside the others under the
    /// per-user cache and then chosen with `--apr 0.72.2`. Without it: the pinned
    /// version, where `apr` is missing from PATH (never over another version).
    #[arg(long, value_name = "V")]
    pub version: Option<String>,
}

pub const INSTALL_TIME: &str = "about 25 minutes on two cores; cargo shows progress";

impl InstallApr {
    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        match self.version {
            Some(v) => {
                let bin = install_version(ctx, &v).map_err(|why| anyhow::anyhow!("{why}"))?;
                println!("apr {v}: {bin} — check it with `cargo xtask ci --apr {v}`");
            }
            None => install_pinned(ctx)?,
        }
        Ok(0)
    }
}

/// "0.72.2", "1.0.0-rc.1": what `cargo install --version` takes, and never a path.
pub fn is_version(spec: &str) -> bool {
    let core = spec.split_once('-').map_or(spec, |(c, _)| c);
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())) && !spec.contains('/')
}

/// Where version V lives once installed: `<cache>/apr/<V>/bin/apr`.
pub fn versioned_bin(version: &str) -> Option<Utf8PathBuf> {
    crate::util::user_cache().map(|c| c.join("apr").join(version).join("bin/apr"))
}

/// The versions installed side by side, oldest first: (version, its binary).
pub fn installed_versions() -> Vec<(String, Utf8PathBuf)> {
    let Some(home) = crate::util::user_cache().map(|c| c.join("apr")) else { return Vec::new() };
    let mut found: Vec<(Vec<u64>, String, Utf8PathBuf)> = std::fs::read_dir(&home)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|v| is_version(v))
        .map(|v| (home.join(&v).join("bin/apr"), v))
        .filter(|(bin, _)| bin.is_file())
        .map(|(bin, v)| (v.split(['.', '-']).map(|p| p.parse().unwrap_or(0)).collect(), v, bin))
        .collect();
    found.sort();
    found.into_iter().map(|(_, v, bin)| (v, bin)).collect()
}

/// `--apr V|PATH` or `TMGT_APR=V|PATH` → the program to run: a version is its
/// side-by-side install, else the `apr` on PATH when that one reports it; a path is
/// taken as it is (its usability is checked before any work, by `ci`'s preparation).
pub fn resolve(spec: &str) -> Result<String, String> {
    if !is_version(spec) {
        return Ok(spec.to_string());
    }
    if let Some(bin) = versioned_bin(spec).filter(|b| b.is_file()) {
        return Ok(bin.into_string());
    }
    if matches!(Apr { program: "apr".into() }.version_info(), Ok((v, _)) if v == spec) {
        return Ok("apr".into());
    }
    let place = versioned_bin(spec).map_or_else(|| "no per-user cache (HOME unset)".to_string(), |b| format!("no {b}"));
    Err(format!(
        "apr {spec} is not installed ({place}, and `apr` on PATH is not {spec}): `cargo xtask install-apr --version {spec}` installs it ({INSTALL_TIME})"
    ))
}

/// Installs apr-cli V into its own root: cargo installs into a temp root that is
/// renamed only when the binary it made reports V, so an interrupted or failed build
/// leaves no half-install behind and never touches another version. The versions share
/// one cargo target folder, so the second one rebuilds only the crates that changed.
pub fn install_version(ctx: &Ctx, version: &str) -> Result<Utf8PathBuf, String> {
    if !is_version(version) {
        return Err(format!("--version {version:?}: not a release version like {PINNED_VERSION}"));
    }
    let cache = crate::util::user_cache().ok_or("no per-user cache to install into: set HOME or TMGT_CACHE")?;
    let home = cache.join("apr");
    let root = home.join(version);
    let bin = root.join("bin/apr");
    if bin.is_file() {
        return match (Apr { program: bin.to_string() }).version_info() {
            Ok((v, c)) if v == version => {
                println!("{} already installed", crate::runtime::apr::version_line(&v, c.as_deref()));
                Ok(bin)
            }
            Ok((v, _)) => Err(format!("{bin} reports {v}, not {version}: remove {root} and install again")),
            Err(why) => Err(format!("{bin} does not run ({}): remove {root} and install again", crate::judge::first_line(&why))),
        };
    }
    if ctx.offline {
        return Err(format!(
            "cannot install apr-cli {version} with --offline: run `cargo xtask install-apr --version {version}` once online"
        ));
    }
    let partial = home.join(format!(".{version}.partial"));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(|e| format!("{partial}: cannot create: {e}"))?;
    println!("installing apr-cli {version} into {root} ({INSTALL_TIME})");
    let argv: Vec<String> = [
        "cargo",
        "install",
        "apr-cli",
        "--locked",
        "--version",
        version,
        "--root",
        partial.as_str(),
        "--target-dir",
        home.join("target").as_str(),
    ]
    .map(String::from)
    .to_vec();
    let built = crate::runner::run_live(&argv, None, std::time::Duration::from_secs(4 * 3600))
        .map_err(|e| format!("installing apr-cli {version} failed: {}", e.one_line()));
    let reported = built.and_then(|()| {
        Apr { program: partial.join("bin/apr").into_string() }
            .version_info()
            .map_err(|why| format!("apr-cli {version} built, but `{partial}/bin/apr --version` fails: {}", crate::judge::first_line(&why)))
    });
    match reported {
        Ok((v, _)) if v == version => {
            std::fs::rename(&partial, &root).map_err(|e| format!("cannot rename {partial} to {root}: {e}"))?;
            Ok(bin)
        }
        Ok((v, _)) => {
            let _ = std::fs::remove_dir_all(&partial);
            Err(format!("cargo installed apr-cli {version}, but it reports {v}"))
        }
        Err(why) => {
            let _ = std::fs::remove_dir_all(&partial);
            Err(why)
        }
    }
}

/// The pinned apr where `apr --version` does not already report it: into cargo's own
/// bin folder when there is no `apr` on PATH; beside the others when another version
/// is there (the user's apr is never replaced).
pub fn install_pinned(ctx: &Ctx) -> Result<()> {
    match Apr::default().version_info() {
        Ok((v, _)) if v == PINNED_VERSION => {
            println!("apr {v} already installed");
            Ok(())
        }
        Ok((v, _)) => {
            println!("apr {v} found; the harness pins {PINNED_VERSION}: installing it beside it (`--apr {PINNED_VERSION}` chooses it)");
            install_version(ctx, PINNED_VERSION).map(|_| ()).map_err(|why| anyhow::anyhow!("{why}"))
        }
        Err(_) => {
            println!("apr not found: installing apr-cli {PINNED_VERSION} from crates.io ({INSTALL_TIME})");
            cargo_install_pinned(ctx).map_err(|why| anyhow::anyhow!("{why}"))
        }
    }
}

/// `cargo install apr-cli --locked --version PINNED` into cargo's bin folder (there is
/// no apr there); the error is one line: the command, its exit code and the telling
/// line of cargo's stderr.
pub fn cargo_install_pinned(ctx: &Ctx) -> Result<(), String> {
    if ctx.offline {
        return Err(format!("cannot install apr-cli {PINNED_VERSION} with --offline: run `cargo xtask install-apr` once online"));
    }
    let argv: Vec<String> = ["cargo", "install", "apr-cli", "--locked", "--version", PINNED_VERSION].map(String::from).to_vec();
    crate::runner::run_live(&argv, None, std::time::Duration::from_secs(4 * 3600))
        .map_err(|e| format!("installing apr-cli {PINNED_VERSION} failed: {}", e.one_line()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_told_from_paths() {
        for v in ["0.72.2", "0.72.3", "1.0.0-rc.1", "10.20.30"] {
            assert!(is_version(v), "{v}");
        }
        for p in ["apr", "/usr/bin/apr", "./0.72.2", "0.72", "0.72.x", "v0.72.2", "0.72.2/bin/apr", "", "1..2"] {
            assert!(!is_version(p), "{p}");
        }
    }

    #[test]
    fn a_path_is_taken_as_it_is_and_a_missing_version_says_how_to_install_it() {
        assert_eq!(resolve("/opt/apr/bin/apr").unwrap(), "/opt/apr/bin/apr");
        assert_eq!(resolve("apr").unwrap(), "apr");
        // 0.0.1 is neither installed side by side nor the apr on PATH.
        let why = resolve("0.0.1").unwrap_err();
        assert!(why.starts_with("apr 0.0.1 is not installed (no "), "{why}");
        assert!(why.contains("/apr/0.0.1/bin/apr") && why.contains("`cargo xtask install-apr --version 0.0.1`"), "{why}");
    }
}
