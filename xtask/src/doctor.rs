//! `cargo xtask doctor`: the one list of system packages the harness needs, each with
//! the probe that tells it is really usable (not merely a file with a similar name),
//! and `ensure`, which `ci` runs before any long step: as root with apt-get it
//! installs what is missing and says so; otherwise it names the one command that does.

use anyhow::Result;
use std::path::{Path, PathBuf};

/// Who needs a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The llama.cpp comparator's build (`llama-cpp-sys-2`: cmake, a C++ compiler,
    /// bindgen with libclang).
    Comparator,
    /// `.ci/run`'s workflow lint (actionlint installed into a Python venv).
    Workflow,
}

impl Need {
    pub fn label(self) -> &'static str {
        match self {
            Need::Comparator => "the llama.cpp comparator's build",
            Need::Workflow => ".ci/run's workflow lint (a Python venv)",
        }
    }
}

/// One Debian package: what it provides, who needs it, and the probe that says it is
/// usable (Ok: what was found; Err: why not).
pub struct Package {
    pub name: &'static str,
    pub provides: &'static str,
    pub need: Need,
    probe: fn() -> Result<String, String>,
}

impl Package {
    pub fn probe(&self) -> Result<String, String> {
        (self.probe)()
    }
}

/// Every system package the harness needs. One fact, one place: `ci`, `doctor`,
/// the comparator's "not built" reason and README's list all read this table.
pub const PACKAGES: &[Package] = &[
    Package { name: "cmake", provides: "builds llama.cpp's C++", need: Need::Comparator, probe: || answers("cmake", &["--version"]) },
    Package {
        name: "clang",
        provides: "the C compiler whose headers bindgen reads",
        need: Need::Comparator,
        probe: || answers("clang", &["--version"]),
    },
    Package { name: "libclang-dev", provides: "libclang, loaded by bindgen", need: Need::Comparator, probe: probe_libclang },
    Package {
        name: "python3-venv",
        provides: "python3 -m venv with pip",
        need: Need::Workflow,
        probe: || answers("python3", &["-c", "import venv, ensurepip"]),
    },
];

/// The packages `needs` call for.
pub fn packages_for(needs: &[Need]) -> impl Iterator<Item = &'static Package> + '_ {
    PACKAGES.iter().filter(move |p| needs.contains(&p.need))
}

/// The first line a program prints for `args`, when it runs and exits 0.
fn answers(program: &str, args: &[&str]) -> Result<String, String> {
    let mut argv = vec![program.to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let inv = crate::runner::run(&argv, &crate::runner::RunOptions::with_timeout(std::time::Duration::from_secs(60)));
    if inv.exit_code.is_none() && inv.duration_s == 0.0 {
        // Never started: "apr: not found on PATH", "/x/apr: no such file".
        return Err(inv.stderr);
    }
    let text = format!("{}{}", inv.stdout, inv.stderr);
    let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").to_string();
    if inv.exit_code == Some(0) {
        Ok(if first.is_empty() { format!("{program} runs") } else { first })
    } else {
        let last = text.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("nothing printed");
        Err(format!("`{program} {}` failed: {last}", args.join(" ")))
    }
}

/// Whether clang-sys (what bindgen uses to find libclang, built with its `runtime`
/// feature) accepts a file of this name: `libclang.so`, `libclang-*.so`,
/// `libclang.so.*`, `libclang-*.so.*`, but never `libclang-cpp` (the C++ library
/// Debian's `libclang-cpp14` ships, which bindgen cannot use).
pub fn clang_sys_accepts(file_name: &str) -> bool {
    let plain = file_name == "libclang.so" || file_name.starts_with("libclang.so.");
    let versioned = file_name.strip_prefix("libclang-").is_some_and(|rest| rest.ends_with(".so") || rest.contains(".so."));
    (plain || versioned) && !file_name.contains("-cpp.")
}

/// The folders clang-sys searches on Linux: $LIBCLANG_PATH alone when set; else
/// `llvm-config --prefix`'s lib folders, $LD_LIBRARY_PATH, $LIBRARY_PATH, and
/// /usr/local/llvm*/lib*, /usr/local/lib*{,/*,/*/*}, /usr/lib*{,/*,/*/*}.
fn libclang_folders() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("LIBCLANG_PATH") {
        let p = PathBuf::from(p);
        return if p.is_file() { p.parent().map(Path::to_path_buf).into_iter().collect() } else { vec![p] };
    }
    let mut dirs = Vec::new();
    let argv = ["llvm-config".to_string(), "--prefix".to_string()];
    let inv = crate::runner::run(&argv, &crate::runner::RunOptions::with_timeout(std::time::Duration::from_secs(60)));
    if let Some(prefix) = inv.stdout.lines().next().filter(|_| inv.exit_code == Some(0)) {
        dirs.extend(["bin", "lib", "lib64"].map(|d| Path::new(prefix).join(d)));
    }
    for var in ["LD_LIBRARY_PATH", "LIBRARY_PATH"] {
        if let Some(p) = std::env::var_os(var) {
            dirs.extend(std::env::split_paths(&p));
        }
    }
    let children = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect()).unwrap_or_default()
    };
    let starting = |dir: &str, prefix: &str| -> Vec<PathBuf> {
        children(Path::new(dir)).into_iter().filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix))).collect()
    };
    for llvm in starting("/usr/local", "llvm") {
        dirs.extend(starting(&llvm.to_string_lossy(), "lib"));
    }
    for lib in starting("/usr/local", "lib").into_iter().chain(starting("/usr", "lib")) {
        dirs.push(lib.clone());
        for child in children(&lib) {
            dirs.extend(children(&child));
            dirs.push(child);
        }
    }
    dirs
}

/// A 64-bit ELF shared object (clang-sys checks the ELF class before using a file).
fn is_elf64(path: &Path) -> bool {
    let mut head = [0u8; 5];
    std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head)).is_ok() && head == *b"\x7fELF\x02"
}

/// Loads the library and looks up `clang_createIndex`: the probe bindgen's own
/// loading would pass.
fn loads_as_libclang(path: &Path) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: dlopen/dlsym/dlclose on a NUL-terminated path; the handle is closed
    // before returning and no symbol from it is called.
    unsafe {
        let handle = libc::dlopen(c_path.as_ptr(), libc::RTLD_LAZY | libc::RTLD_LOCAL);
        if handle.is_null() {
            let why = libc::dlerror();
            let why = if why.is_null() { "dlopen failed".into() } else { std::ffi::CStr::from_ptr(why).to_string_lossy().into_owned() };
            return Err(why);
        }
        let symbol = libc::dlsym(handle, c"clang_createIndex".as_ptr());
        libc::dlclose(handle);
        if symbol.is_null() {
            return Err("no clang_createIndex symbol".into());
        }
    }
    Ok(())
}

/// libclang as bindgen finds it: a file clang-sys accepts by name, in a folder it
/// searches, 64-bit ELF, that loads and exports `clang_createIndex`.
fn probe_libclang() -> Result<String, String> {
    find_libclang(&libclang_folders())
}

fn find_libclang(folders: &[PathBuf]) -> Result<String, String> {
    let mut refused = Vec::new();
    for dir in folders {
        let Ok(rd) = std::fs::read_dir(dir) else { continue };
        let mut names: Vec<String> = rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        for name in names {
            let path = dir.join(&name);
            if !clang_sys_accepts(&name) {
                if name.starts_with("libclang") && name.contains(".so") {
                    refused.push(format!("{} (not the C API bindgen loads)", path.display()));
                }
                continue;
            }
            if !is_elf64(&path) {
                refused.push(format!("{} (not a 64-bit ELF)", path.display()));
                continue;
            }
            match loads_as_libclang(&path) {
                Ok(()) => return Ok(path.display().to_string()),
                Err(why) => refused.push(format!("{} ({why})", path.display())),
            }
        }
    }
    refused.dedup();
    Err(if refused.is_empty() {
        "no libclang.so / libclang-*.so(.*) where bindgen looks".into()
    } else {
        format!("no usable libclang where bindgen looks; refused: {}", refused.join(", "))
    })
}

/// The one command that installs `packages`.
pub fn install_command(packages: &[&str]) -> String {
    format!("apt-get install -y {}", packages.join(" "))
}

/// The packages `needs` call for that fail their probe, with why.
pub fn missing(needs: &[Need]) -> Vec<(&'static Package, String)> {
    packages_for(needs).filter_map(|p| p.probe().err().map(|why| (p, why))).collect()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Makes sure every package `needs` call for is usable: installs the missing ones
/// with apt-get when `allow_install`, running as root and apt-get is there (and says
/// so); otherwise an error naming the one command that does.
pub fn ensure(needs: &[Need], allow_install: bool) -> Result<(), String> {
    let absent = missing(needs);
    if absent.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = absent.iter().map(|(p, _)| p.name).collect();
    let cmd = install_command(&names);
    let why: Vec<String> = absent.iter().map(|(p, why)| format!("{} ({why})", p.name)).collect();
    let has_apt = answers("apt-get", &["--version"]).is_ok();
    if !(allow_install && is_root() && has_apt) {
        return Err(format!("missing system package(s) {}: run `{cmd}` (as root)", why.join("; ")));
    }
    println!("system packages: installing {} for {} ({cmd})", names.join(", "), needs_label(&absent));
    let install: Vec<String> =
        ["apt-get", "install", "-y", "--no-install-recommends"].into_iter().chain(names.iter().copied()).map(String::from).collect();
    // apt-get's children inherit it: no debconf question can wait for an answer.
    std::env::set_var("DEBIAN_FRONTEND", "noninteractive");
    for argv in [vec!["apt-get".to_string(), "update".to_string()], install] {
        crate::runner::run_live(&argv, None, std::time::Duration::from_secs(1800)).map_err(|e| e.one_line())?;
    }
    let still: Vec<String> = missing(needs).into_iter().map(|(p, why)| format!("{} ({why})", p.name)).collect();
    if !still.is_empty() {
        return Err(format!("`{cmd}` ran but {} still fail(s) the probe", still.join("; ")));
    }
    println!("system packages: {} installed and usable", names.join(", "));
    Ok(())
}

fn needs_label(missing: &[(&Package, String)]) -> String {
    let mut labels: Vec<&str> = missing.iter().map(|(p, _)| p.need.label()).collect();
    labels.dedup();
    labels.join(" and ")
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Doctor {}

impl Doctor {
    /// Prints every package with its probe, then apr and the comparator; exit 0 when
    /// everything `ci` needs is there, 1 when something is missing (the fix is printed).
    pub fn run(self, ctx: &crate::context::Ctx) -> Result<i32> {
        let mut ready = true;
        println!("System packages (Debian):");
        for p in PACKAGES {
            match p.probe() {
                Ok(found) => println!("  ok       {:<13} {} — {found}", p.name, p.provides),
                Err(why) => {
                    ready = false;
                    println!("  MISSING  {:<13} {} — {why} (needed by {})", p.name, p.provides, p.need.label());
                }
            }
        }
        let absent: Vec<&str> = missing(&[Need::Comparator, Need::Workflow]).into_iter().map(|(p, _)| p.name).collect();
        if !absent.is_empty() {
            println!("  fix: {} (as root; `cargo xtask ci` does it itself when run as root)", install_command(&absent));
        }
        let apr = crate::runtime::apr::Apr::default();
        match apr.version_info() {
            Ok((v, _)) => println!("apr: {v} ({})", apr.program),
            Err(why) => {
                ready = false;
                println!(
                    "apr: not usable ({}) — `cargo xtask install-apr` installs apr-cli {} (about 25 minutes on two cores)",
                    crate::judge::first_line(&why),
                    crate::runtime::apr::PINNED_VERSION
                );
            }
        }
        let beside = crate::install_apr::installed_versions();
        if !beside.is_empty() {
            let list: Vec<String> = beside.iter().map(|(v, bin)| format!("{v} ({bin})")).collect();
            println!("apr versions beside it (`--apr V` checks one): {}", list.join(", "));
        }
        let root = &ctx.project.root;
        match crate::comparator::find_bin(root) {
            _ if crate::comparator::switched_off() => println!("llama.cpp comparator: off ({}=off)", crate::comparator::ENV_BIN),
            Some(bin) if bin.is_file() => println!("llama.cpp comparator: {bin}"),
            _ => {
                ready = false;
                println!("llama.cpp comparator: {}", crate::comparator::not_built_reason(root));
            }
        }
        println!(
            "{}",
            if ready {
                "ready: `cargo xtask ci` has everything it needs"
            } else {
                "not ready: `cargo xtask ci` installs and builds what is missing (as root), or run the fixes above"
            }
        );
        Ok(if ready { 0 } else { 1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_libclang_probe_takes_what_clang_sys_takes() {
        // Debian's libclang-cpp14 alone is not libclang: bindgen refuses it.
        assert!(!clang_sys_accepts("libclang-cpp.so.14"));
        assert!(!clang_sys_accepts("libclang-cpp.so"));
        for accepted in ["libclang-14.so.1", "libclang.so", "libclang.so.1", "libclang-14.so", "libclang-14.0.6.so"] {
            assert!(clang_sys_accepts(accepted), "{accepted}");
        }
        for refused in ["libclangBasic.a", "libclang.a", "libclang-14.a", "libclang_rt.asan.so", "clang.so", "libclang-14.so.1.txt-cpp."] {
            assert!(!clang_sys_accepts(refused), "{refused}");
        }
    }

    #[test]
    fn a_folder_with_only_libclang_cpp_has_no_libclang() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("libclang-cpp.so.14"), b"\x7fELF\x02rest").unwrap();
        let folders = [dir.path().to_path_buf()];
        let refused = find_libclang(&folders).unwrap_err();
        std::fs::write(dir.path().join("libclang-14.so.1"), b"\x7fELF\x01 32-bit").unwrap();
        let wrong_class = find_libclang(&folders);
        assert!(refused.contains("libclang-cpp.so.14 (not the C API bindgen loads)"), "{refused}");
        assert!(wrong_class.unwrap_err().contains("libclang-14.so.1 (not a 64-bit ELF)"));
        // A 64-bit ELF of the right name that is no library at all does not load.
        std::fs::write(dir.path().join("libclang-14.so.1"), b"\x7fELF\x02 not really").unwrap();
        let unloadable = find_libclang(&folders).unwrap_err();
        assert!(unloadable.contains("libclang-14.so.1 (") && !unloadable.contains("64-bit"), "{unloadable}");
    }

    #[test]
    fn every_package_says_who_needs_it_and_the_fix_is_one_command() {
        assert_eq!(install_command(&["cmake", "libclang-dev"]), "apt-get install -y cmake libclang-dev");
        let names: Vec<&str> = packages_for(&[Need::Comparator]).map(|p| p.name).collect();
        assert_eq!(names, ["cmake", "clang", "libclang-dev"]);
        assert_eq!(packages_for(&[Need::Workflow]).map(|p| p.name).collect::<Vec<_>>(), ["python3-venv"]);
    }

    #[test]
    fn a_program_that_is_not_there_is_named() {
        assert_eq!(answers("tmgt-no-such-program", &["--version"]).unwrap_err(), "tmgt-no-such-program: not found on PATH");
        assert!(answers("sh", &["-c", "echo boom >&2; exit 3"]).unwrap_err().ends_with("failed: boom"));
        assert_eq!(answers("sh", &["-c", "echo 'cmake version 3.25'"]).unwrap(), "cmake version 3.25");
    }
}
