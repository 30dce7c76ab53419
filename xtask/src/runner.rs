//! The one place every runtime-under-test process goes through: records the
//! command line, exit code, duration and output (ANSI escapes stripped), applies a
//! timeout (the whole process group is killed), and turns anything off into a
//! typed error whose message names the command, the exit code and stderr's tail.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tmgt_schema::Invocation;

/// Process groups of children still running, killed on Ctrl-C.
static LIVE_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Installs the Ctrl-C handler: kill every live child group, then exit 130.
/// Files are only ever renamed into place when complete, so nothing half-written stays.
pub fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        for pgid in LIVE_GROUPS.lock().map(|g| g.clone()).unwrap_or_default() {
            // SAFETY: plain kill(2) on a process group we started.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        eprintln!("\ninterrupted: child processes killed; no partial artifact was kept");
        std::process::exit(130);
    });
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

pub fn strip_ansi(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&strip_ansi_escapes::strip(bytes)).into_owned()
}

/// Runs `argv` to completion or timeout. Never panics; a process that could not
/// start is reported in the invocation (exit_code None, stderr says why).
pub fn run(argv: &[String], opts: &RunOptions) -> Invocation {
    use std::os::unix::process::CommandExt;
    let started = Instant::now();
    let mut inv = Invocation {
        command: argv.to_vec(),
        cwd: opts.cwd.as_ref().map(|d| d.display().to_string()),
        ..Default::default()
    };
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    if let Some(cwd) = &opts.cwd {
        cmd.current_dir(cwd);
    }
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            inv.stderr = if e.kind() == std::io::ErrorKind::NotFound {
                format!("{}: not found on PATH", argv[0])
            } else {
                format!("{}: cannot start: {e}", argv[0])
            };
            return inv;
        }
    };
    let pgid = child.id() as i32;
    LIVE_GROUPS.lock().unwrap().push(pgid);
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
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
    inv.stdout = strip_ansi(&out_reader.join().unwrap_or_default());
    inv.stderr = strip_ansi(&err_reader.join().unwrap_or_default());
    inv.exit_code = status.and_then(|s| s.code());
    inv.duration_s = started.elapsed().as_secs_f64();
    inv
}

/// Ok when the process ran and exited 0; otherwise the typed failure.
pub fn check(inv: &Invocation) -> Result<(), RunFailure> {
    let command = inv.command_line();
    let stderr_tail = inv.stderr_tail(12);
    match inv.exit_code {
        Some(0) => Ok(()),
        Some(code) => Err(RunFailure::Exit { command, code, stderr_tail }),
        None if inv.timed_out => Err(RunFailure::TimedOut { command, seconds: inv.duration_s, stderr_tail }),
        None if inv.stderr.ends_with("not found on PATH") => {
            Err(RunFailure::NotFound { program: inv.command[0].clone() })
        }
        None if inv.duration_s == 0.0 => {
            Err(RunFailure::SpawnFailed { program: inv.command[0].clone(), error: inv.stderr.clone() })
        }
        None => Err(RunFailure::Killed { command, stderr_tail }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn success_is_ok() {
        let inv = sh("echo fine", 5000);
        assert!(check(&inv).is_ok());
        assert_eq!(inv.stdout, "fine\n");
    }
}
