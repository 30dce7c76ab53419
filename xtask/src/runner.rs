//! The one place every child process goes through (the runtime under test, oracle-gen,
//! pip, cargo): records the command line, exit code, duration and output (ANSI escapes
//! stripped; a bounded head and tail with the total size), applies a timeout (the whole
//! process group is killed), and turns anything off into a typed error whose message
//! names the command, the exit code and stderr's tail. Every child runs in its own
//! process group, tracked, and SIGINT, SIGTERM and SIGHUP alike kill every live group
//! and remove the temp files registered with `TempPath`; `sweep` removes what an
//! earlier run that could not clean up (SIGKILL, power loss) left behind.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tmgt_schema::Invocation;

/// Process groups of children still running, killed on a signal.
static LIVE_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// Temp files and folders being written, removed on a signal.
static TEMP_PATHS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// What a stream keeps: this much of its start and of its end.
pub const OUTPUT_HEAD: usize = 4 << 20;
pub const OUTPUT_TAIL: usize = 1 << 20;

/// Kills every live child group and removes every registered temp path; returns
/// how many of each.
pub fn stop_everything() -> (usize, usize) {
    let groups: Vec<i32> = LIVE_GROUPS.lock().map(|mut g| std::mem::take(&mut *g)).unwrap_or_default();
    for pgid in &groups {
        // SAFETY: plain kill(2) on a process group we started.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    (groups.len(), remove_temps())
}

/// Removes every registered temp path; returns how many were there.
fn remove_temps() -> usize {
    remove_temps_where(|_| true)
}

/// Removes the registered temp paths `pick` selects (the others stay registered);
/// returns how many were there.
fn remove_temps_where(pick: impl Fn(&Path) -> bool) -> usize {
    let temps: Vec<PathBuf> = TEMP_PATHS
        .lock()
        .map(|mut t| {
            let (picked, kept): (Vec<PathBuf>, Vec<PathBuf>) = std::mem::take(&mut *t).into_iter().partition(|p| pick(p));
            *t = kept;
            picked
        })
        .unwrap_or_default();
    temps.iter().filter(|p| remove_path(p)).count()
}

pub fn remove_path(path: &Path) -> bool {
    if path.is_dir() {
        std::fs::remove_dir_all(path).is_ok()
    } else {
        std::fs::remove_file(path).is_ok()
    }
}

/// Installs the handler for SIGINT, SIGTERM and SIGHUP: every live child group is
/// killed, every registered temp path removed, then exit 130. Files are only renamed
/// into place when complete, so nothing half-written stays.
pub fn install_signal_handler() {
    let _ = ctrlc::set_handler(|| {
        let (groups, temps) = stop_everything();
        eprintln!("\nstopped by a signal: killed {groups} running child process group(s), removed {temps} temp file(s)");
        std::process::exit(130);
    });
}

/// A temp file or folder being written: removed on a signal, and on drop if still
/// there (a successful step renames it away first).
pub struct TempPath(PathBuf);

impl TempPath {
    pub fn new(path: impl Into<PathBuf>) -> TempPath {
        let path = path.into();
        if let Ok(mut t) = TEMP_PATHS.lock() {
            t.push(path.clone());
        }
        TempPath(path)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Ok(mut t) = TEMP_PATHS.lock() {
            t.retain(|p| p != &self.0);
        }
        if self.0.exists() {
            remove_path(&self.0);
        }
    }
}

/// Is this a name the harness gives its temp files and folders?
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with(".tmp-") || name.starts_with(".golden-staging-") || (name.starts_with('.') && name.ends_with(".tmp"))
}

/// Removes what an interrupted earlier run left under `models` (temp files and
/// staging folders, one level of model folders deep). Call it holding the lock.
pub fn sweep(models: &Path) -> usize {
    let mut removed = 0;
    let Ok(dirs) = std::fs::read_dir(models) else { return 0 };
    for dir in dirs.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_temp_name(&name) && remove_path(&entry.path()) {
                removed += 1;
            }
        }
    }
    removed
}

/// Reads a stream whole, keeping `head` bytes of its start and `tail` of its end.
fn read_bounded(mut r: impl Read, head: usize, tail: usize) -> (Vec<u8>, Option<u64>) {
    let mut first = Vec::new();
    let mut last: std::collections::VecDeque<u8> = std::collections::VecDeque::new();
    let mut total: u64 = 0;
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        total += n as u64;
        let mut chunk = &buf[..n];
        if first.len() < head {
            let take = chunk.len().min(head - first.len());
            first.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
        }
        last.extend(chunk);
        while last.len() > tail {
            last.pop_front();
        }
    }
    if total as usize <= head + tail && total as usize == first.len() + last.len() {
        first.extend(last);
        return (first, None);
    }
    let omitted = total - first.len() as u64 - last.len() as u64;
    first.extend_from_slice(format!("\n[… {omitted} bytes omitted of {total} …]\n").as_bytes());
    first.extend(last);
    (first, Some(total))
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub timeout: Duration,
    pub cwd: Option<std::path::PathBuf>,
    pub env: Vec<(String, String)>,
}

impl RunOptions {
    pub fn with_timeout(timeout: Duration) -> RunOptions {
        RunOptions { timeout, cwd: None, env: Vec::new() }
    }
}

/// Why an invocation is not a success.
#[derive(Debug, Clone, PartialEq)]
pub enum RunFailure {
    NotFound { program: String },
    SpawnFailed { program: String, error: String },
    TimedOut { command: String, seconds: f64, stderr_tail: String },
    Killed { command: String, stderr_tail: String },
    Exit { command: String, code: i32, stderr_tail: String },
}

impl std::fmt::Display for RunFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunFailure::NotFound { program } if program.contains('/') => write!(f, "{program}: no such file"),
            RunFailure::NotFound { program } => write!(f, "{program}: not found on PATH"),
            RunFailure::SpawnFailed { program, error } => write!(f, "{program}: cannot start: {error}"),
            RunFailure::TimedOut { command, seconds, stderr_tail } => {
                write!(f, "`{command}` timed out after {seconds:.0}s and was killed; stderr tail:\n{stderr_tail}")
            }
            RunFailure::Killed { command, stderr_tail } => {
                write!(f, "`{command}` was killed by a signal; stderr tail:\n{stderr_tail}")
            }
            RunFailure::Exit { command, code, stderr_tail } => {
                write!(f, "`{command}` exited with code {code}; stderr tail:\n{stderr_tail}")
            }
        }
    }
}

impl std::error::Error for RunFailure {}

impl RunFailure {
    /// The failure in one line: the command, how it ended and stderr's last telling
    /// line (for `run_live` failures, the telling line itself).
    pub fn one_line(&self) -> String {
        let last = |tail: &str| tail.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("nothing on stderr").to_string();
        match self {
            RunFailure::NotFound { .. } | RunFailure::SpawnFailed { .. } => self.to_string(),
            RunFailure::TimedOut { command, seconds, stderr_tail } => {
                format!("`{command}` timed out after {seconds:.0}s: {}", last(stderr_tail))
            }
            RunFailure::Killed { command, stderr_tail } => format!("`{command}` was killed by a signal: {}", last(stderr_tail)),
            RunFailure::Exit { command, code, stderr_tail } => format!("`{command}` exited with code {code}: {}", last(stderr_tail)),
        }
    }
}

pub fn strip_ansi(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&strip_ansi_escapes::strip(bytes)).into_owned()
}

/// Runs `argv` to completion or timeout. Never panics; a process that could not
/// start is reported in the invocation (exit_code None, stderr says why).
pub fn run(argv: &[String], opts: &RunOptions) -> Invocation {
    use std::os::unix::process::CommandExt;
    let started = Instant::now();
    let mut inv = Invocation { command: argv.to_vec(), cwd: opts.cwd.as_ref().map(|d| d.display().to_string()), ..Default::default() };
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    // The telling line of a panic is its message, not a backtrace.
    cmd.env_remove("RUST_BACKTRACE");
    if let Some(cwd) = &opts.cwd {
        cmd.current_dir(cwd);
    }
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            inv.stderr = if e.kind() == std::io::ErrorKind::NotFound && argv[0].contains('/') {
                format!("{}: no such file", argv[0])
            } else if e.kind() == std::io::ErrorKind::NotFound {
                format!("{}: not found on PATH", argv[0])
            } else {
                format!("{}: cannot start: {e}", argv[0])
            };
            return inv;
        }
    };
    let pgid = child.id() as i32;
    LIVE_GROUPS.lock().unwrap().push(pgid);
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || read_bounded(out, OUTPUT_HEAD, OUTPUT_TAIL));
    let err_reader = std::thread::spawn(move || read_bounded(err, OUTPUT_HEAD, OUTPUT_TAIL));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() >= opts.timeout => {
                // SAFETY: kill(2) on the process group we created for this child.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                let _ = child.wait();
                inv.timed_out = true;
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    // A grandchild that keeps the pipes open must not hang us: kill the group.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    LIVE_GROUPS.lock().unwrap().retain(|&g| g != pgid);
    let (stdout, stdout_total) = out_reader.join().unwrap_or_default();
    let (stderr, stderr_total) = err_reader.join().unwrap_or_default();
    inv.stdout = strip_ansi(&stdout);
    inv.stderr = strip_ansi(&stderr);
    inv.stdout_bytes = stdout_total;
    inv.stderr_bytes = stderr_total;
    inv.exit_code = status.and_then(|s| s.code());
    inv.duration_s = started.elapsed().as_secs_f64();
    inv
}

/// Runs `argv` with the terminal's stdout and stderr (cargo install, pip: their own
/// progress shows), in its own tracked process group, to completion or `timeout`.
/// Stderr is passed through line by line while its last lines are kept: a failure's
/// `stderr_tail` is the telling line of them (a build script's panic message, the last
/// `error:` line), never "see the terminal".
pub fn run_live(argv: &[String], cwd: Option<&Path>, timeout: Duration) -> Result<(), RunFailure> {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    const KEPT_LINES: usize = 400;
    let command = Invocation { command: argv.to_vec(), ..Default::default() }.command_line();
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::null()).stderr(Stdio::piped()).process_group(0);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => RunFailure::NotFound { program: argv[0].clone() },
        _ => RunFailure::SpawnFailed { program: argv[0].clone(), error: e.to_string() },
    })?;
    let pgid = child.id() as i32;
    LIVE_GROUPS.lock().unwrap().push(pgid);
    let stderr = child.stderr.take();
    let tee = std::thread::spawn(move || {
        let mut tail = std::collections::VecDeque::with_capacity(KEPT_LINES);
        for line in stderr.into_iter().flat_map(|s| std::io::BufReader::new(s).lines().map_while(Result::ok)) {
            eprintln!("{line}");
            if tail.len() == KEPT_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
        tail.into_iter().collect::<Vec<String>>().join("\n")
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() >= timeout => {
                // SAFETY: kill(2) on the process group we created for this child.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => break None,
        }
    };
    LIVE_GROUPS.lock().unwrap().retain(|&g| g != pgid);
    let kept = tee.join().unwrap_or_default();
    let telling = |code: Option<i32>| {
        let inv = Invocation { command: argv.to_vec(), exit_code: code, stderr: kept.clone(), ..Default::default() };
        crate::judge::telling_line("", &inv)
    };
    match status.map(|s| s.code()) {
        Some(Some(0)) => Ok(()),
        Some(Some(code)) => Err(RunFailure::Exit { command, code, stderr_tail: telling(Some(code)) }),
        Some(None) => Err(RunFailure::Killed { command, stderr_tail: telling(None) }),
        None => Err(RunFailure::TimedOut { command, seconds: started.elapsed().as_secs_f64(), stderr_tail: telling(None) }),
    }
}

/// Ok when the process ran and exited 0; otherwise the typed failure.
pub fn check(inv: &Invocation) -> Result<(), RunFailure> {
    let command = inv.command_line();
    let stderr_tail = inv.stderr_tail(12);
    match inv.exit_code {
        Some(0) => Ok(()),
        Some(code) => Err(RunFailure::Exit { command, code, stderr_tail }),
        None if inv.timed_out => Err(RunFailure::TimedOut { command, seconds: inv.duration_s, stderr_tail }),
        None if inv.stderr.ends_with("not found on PATH") || inv.stderr.ends_with(": no such file") => {
            Err(RunFailure::NotFound { program: inv.command[0].clone() })
        }
        None if inv.duration_s == 0.0 => Err(RunFailure::SpawnFailed { program: inv.command[0].clone(), error: inv.stderr.clone() }),
        None => Err(RunFailure::Killed { command, stderr_tail }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_build_failure_names_its_telling_line() {
        // What cargo prints when llama-cpp-sys-2's build script meets no libclang.
        let script = r#"
            echo '   Compiling llama-cpp-sys-2 v0.1.161' >&2
            echo 'error: failed to run custom build command for `llama-cpp-sys-2 v0.1.161`' >&2
            echo '  --- stderr' >&2
            echo "  thread 'main' panicked at /root/.cargo/registry/src/bindgen-0.72.1/lib.rs:616:27:" >&2
            echo '  Unable to find libclang: "couldn'"'"'t find any valid shared libraries matching: ['"'"'libclang.so'"'"']"' >&2
            echo '  note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace' >&2
            echo 'warning: build failed, waiting for other jobs to finish...' >&2
            exit 101"#;
        let argv = vec!["sh".to_string(), "-c".to_string(), script.to_string()];
        let err = run_live(&argv, None, Duration::from_secs(30)).unwrap_err();
        let line = err.one_line();
        assert!(line.starts_with("`sh -c"), "{line}");
        assert!(
            line.ends_with("exited with code 101: panic: Unable to find libclang: \"couldn't find any valid shared libraries matching: ['libclang.so']\""),
            "{line}"
        );
        assert!(!err.to_string().contains("on the terminal above"));
        let missing = run_live(&["tmgt-no-such-tool".to_string()], None, Duration::from_secs(5)).unwrap_err();
        assert_eq!(missing.one_line(), "tmgt-no-such-tool: not found on PATH");
    }

    fn sh(script: &str, timeout_ms: u64) -> Invocation {
        let argv = vec!["sh".to_string(), "-c".to_string(), script.to_string()];
        run(&argv, &RunOptions::with_timeout(Duration::from_millis(timeout_ms)))
    }

    #[test]
    fn records_output_and_exit_code() {
        let inv = sh("printf '\\033[31mred\\033[0m'; echo oops >&2; exit 3", 5000);
        assert_eq!(inv.stdout, "red");
        assert_eq!(inv.stderr.trim(), "oops");
        assert_eq!(inv.exit_code, Some(3));
        let err = check(&inv).unwrap_err().to_string();
        assert!(err.contains("exited with code 3") && err.contains("oops") && err.contains("sh -c"), "{err}");
    }

    #[test]
    fn hung_process_and_its_children_are_killed() {
        let started = Instant::now();
        let inv = sh("sleep 30 & sleep 30; echo never", 300);
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        assert!(inv.timed_out);
        assert!(matches!(check(&inv), Err(RunFailure::TimedOut { .. })));
    }

    #[test]
    fn missing_program_is_a_clear_error() {
        let inv = run(&["definitely-not-a-program-xyz".to_string()], &RunOptions::with_timeout(Duration::from_secs(1)));
        assert_eq!(check(&inv).unwrap_err().to_string(), "definitely-not-a-program-xyz: not found on PATH");
        let inv = run(&["/nowhere/apr".to_string()], &RunOptions::with_timeout(Duration::from_secs(1)));
        assert_eq!(check(&inv).unwrap_err().to_string(), "/nowhere/apr: no such file", "a path is not looked up on PATH");
    }

    #[test]
    fn huge_output_keeps_a_bounded_head_and_tail_with_its_size() {
        let inv = sh("head -c 7000000 /dev/zero | tr '\\0' x; echo END", 20000);
        assert_eq!(inv.stdout_bytes, Some(7_000_004));
        assert!(inv.stdout.len() < OUTPUT_HEAD + OUTPUT_TAIL + 100, "{}", inv.stdout.len());
        assert!(inv.stdout.contains("bytes omitted of 7000004") && inv.stdout.ends_with("END\n"));
        let small = sh("echo small", 5000);
        assert_eq!((small.stdout.as_str(), small.stdout_bytes), ("small\n", None));
    }

    #[test]
    fn temp_paths_are_removed_on_drop_and_by_stop_everything_and_swept() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join(".tmp-int8.apr");
        std::fs::write(&a, b"half").unwrap();
        drop(TempPath::new(&a));
        assert!(!a.exists(), "an unrenamed temp is removed when its step ends");
        let b = dir.path().join("m").join(".golden-staging-f32");
        std::fs::create_dir_all(&b).unwrap();
        let keep = TempPath::new(&b);
        // Only this test's temps: other tests in this binary register theirs concurrently.
        assert_eq!(remove_temps_where(|p| p.starts_with(dir.path())), 1);
        assert!(!b.exists());
        std::mem::forget(keep);
        std::fs::create_dir_all(dir.path().join("m").join(".golden-staging-bf16")).unwrap();
        std::fs::write(dir.path().join("m").join(".tmp-int4.apr"), b"x").unwrap();
        std::fs::write(dir.path().join("m").join("int4.apr"), b"x").unwrap();
        assert_eq!(sweep(dir.path()), 2);
        assert!(dir.path().join("m").join("int4.apr").exists(), "finished files stay");
    }

    #[test]
    fn success_is_ok() {
        let inv = sh("echo fine", 5000);
        assert!(check(&inv).is_ok());
        assert_eq!(inv.stdout, "fine\n");
    }
}
