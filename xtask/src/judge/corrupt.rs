//! corrupt-input: apr given a file the harness broke on purpose (`crate::corrupt`'s
//! recipes: truncated, garbage, a header that lies) must refuse it cleanly: a non-zero
//! exit with an error message on stderr, no panic, no crash by a signal, no hang past
//! the roster's `corrupt_timeout_s`, and nothing left behind in the file's folder.
//! `import` is apr's converter, every other command its runtime. A panic is signed by
//! its normalized message (`failure_signature`), so one panic many recipes hit is one
//! ticket group; the other violations by recipe (a check apr lacks) or by command (an
//! error path that prints nothing, a write not cleaned up).

use super::subject::{CONVERTER, RUNTIME};
use super::*;

pub const SUITE: &str = "corrupt-input";

/// The apr commands every corrupt file goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    Run,
    Inspect,
    Validate,
    Tensors,
    Import,
}

impl Command {
    pub const ALL: [Command; 5] = [Command::Run, Command::Inspect, Command::Validate, Command::Tensors, Command::Import];

    /// apr's subcommand.
    pub fn name(self) -> &'static str {
        match self {
            Command::Run => "run",
            Command::Inspect => "inspect",
            Command::Validate => "validate",
            Command::Tensors => "tensors",
            Command::Import => "import",
        }
    }

    /// `import` writes a file (the converter); the others read one (the runtime).
    pub fn subject(self) -> Subject {
        match self {
            Command::Import => CONVERTER,
            _ => RUNTIME,
        }
    }
}

/// One (recipe, command) observation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CorruptKey {
    /// The recipe's name (`crate::corrupt::RECIPES`).
    pub recipe: String,
    pub command: Command,
}

impl CorruptKey {
    pub fn new(recipe: &str, command: Command) -> CorruptKey {
        CorruptKey { recipe: recipe.into(), command }
    }
}

/// What one command did with one corrupt file, beside its invocation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CorruptRun {
    /// The file it was given, in words: "model.safetensors truncated to 4 of … bytes
    /// (inside the 8-byte header length)".
    pub file: String,
    /// Files the command left in the corrupt file's folder (import's output, a temp).
    #[serde(default)]
    pub left_behind: Vec<String>,
}

/// A way of not refusing a corrupt file cleanly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Timed out, or ran past the bound.
    Hang,
    /// Killed by a signal (SIGSEGV, SIGBUS on a short mmap, …).
    Signal,
    /// A Rust panic (exit 101 or "panicked at"): its telling line.
    Panic(String),
    /// Exit 0 on a corrupt file.
    Accepted,
    /// A non-zero exit with nothing on stderr.
    Silent,
    /// New files in the folder after the command.
    LeftBehind(Vec<String>),
}

impl Violation {
    fn what(&self) -> String {
        match self {
            Violation::Hang => "hangs".into(),
            Violation::Signal => "killed by a signal".into(),
            Violation::Panic(_) => "panics".into(),
            Violation::Accepted => "accepts it (exit 0)".into(),
            Violation::Silent => "no error message on stderr".into(),
            Violation::LeftBehind(files) => format!("leaves {} behind", files.join(", ")),
        }
    }

    /// The ticket group: a panic by its message; a missing check by recipe; a
    /// silent error path or a file not cleaned up by command.
    fn signature(&self, key: &CorruptKey, inv: &Invocation) -> String {
        let cmd = key.command.name();
        match self {
            Violation::Panic(_) => failure_signature("", inv),
            // A timeout is a timeout whatever the file: one group with apr's other hangs.
            Violation::Hang if inv.timed_out => failure_signature("", inv),
            Violation::Hang => format!("{APR}: hangs on a corrupt file ({})", key.recipe),
            Violation::Signal => format!("{APR}: killed by a signal on a corrupt file ({})", key.recipe),
            Violation::Accepted => format!("{APR}: exits 0 on a corrupt file ({})", key.recipe),
            Violation::Silent => format!("{APR} {cmd}: refuses a corrupt file with no error message"),
            Violation::LeftBehind(_) => format!("{APR} {cmd}: leaves a file behind on a corrupt input"),
        }
    }
}

/// Every violation of one run, the most severe first.
pub fn violations(run: &CorruptRun, inv: &Invocation, timeout_s: f64) -> Vec<Violation> {
    let mut out = Vec::new();
    if inv.timed_out || inv.duration_s > timeout_s {
        out.push(Violation::Hang);
    } else if inv.exit_code.is_none() {
        out.push(Violation::Signal);
    }
    if inv.exit_code == Some(101) || inv.stderr.contains("panicked at") {
        out.push(Violation::Panic(telling_line("", inv)));
    } else if inv.exit_code == Some(0) {
        out.push(Violation::Accepted);
    } else if inv.exit_code.is_some() && inv.stderr.trim().is_empty() {
        out.push(Violation::Silent);
    }
    if !run.left_behind.is_empty() {
        out.push(Violation::LeftBehind(run.left_behind.clone()));
    }
    out
}

/// What the suite expects of every run, in words.
fn expected(tol: &Tolerances) -> String {
    format!("non-zero exit, an error on stderr, no panic, within {}s, nothing left behind", tol.corrupt_timeout_s)
}

/// One outcome per (recipe, command) observed; one BLOCKED when none was.
pub fn judge(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    if ev.corrupt.is_empty() {
        return vec![Case::new(SUITE, &ev.slug, "files", Subject::Harness).blocked(
            "no corrupt-input observation",
            "the harness made no observation",
            Evidence::default(),
        )];
    }
    ev.corrupt.iter().map(|(key, obs)| judge_one(ev, key, obs, tol)).collect()
}

fn judge_one(ev: &ModelEvidence, key: &CorruptKey, obs: &Observed<CorruptRun>, tol: &Tolerances) -> Outcome {
    let case = Case::new(SUITE, &ev.slug, format!("{}/{}", key.recipe, key.command.name()), key.command.subject());
    let what = format!("apr {} on a corrupt file", key.command.name());
    let (run, inv) = match take(Some(obs), &case, &what, true) {
        Ok(taken) => taken,
        Err(outcome) => return outcome,
    };
    let found = violations(run, inv, tol.corrupt_timeout_s);
    let telling = telling_line("", inv);
    let details = serde_json::json!({
        "recipe": key.recipe,
        "file": run.file,
        "command": key.command.name(),
        "left_behind": run.left_behind,
        "violations": found.iter().map(Violation::what).collect::<Vec<_>>(),
    });
    let actual = format!("{} ({}): {telling}", run.file, how_it_ended(inv));
    let evidence = evidence_from(inv, Some(expected(tol)), Some(actual), details);
    let Some(first) = found.first() else {
        return case.pass(format!("refused ({}): {telling}", how_it_ended(inv)), evidence);
    };
    // A panic's telling line is its message already.
    let whats: Vec<String> = found.iter().map(Violation::what).collect();
    case.fail(format!("{} on {}: {telling} ({})", whats.join("; "), run.file, how_it_ended(inv)), first.signature(key, inv), evidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "model.safetensors truncated to 4 bytes (inside the 8-byte header length)";

    fn inv(exit: Option<i32>, stderr: &str) -> Invocation {
        Invocation {
            command: vec!["/root/.cargo/bin/apr".into(), "inspect".into(), "model.safetensors".into(), "--json".into()],
            exit_code: exit,
            duration_s: 0.5,
            stderr: stderr.into(),
            ..Default::default()
        }
    }

    fn run(left: &[&str]) -> CorruptRun {
        CorruptRun { file: FILE.into(), left_behind: left.iter().map(|s| s.to_string()).collect() }
    }

    fn judged(command: Command, recipe: &str, obs: Observed<CorruptRun>) -> Outcome {
        let mut ev = ModelEvidence::new("m");
        ev.corrupt.insert(CorruptKey::new(recipe, command), obs);
        let outs = judge(&ev, &Tolerances::spec());
        assert_eq!(outs.len(), 1);
        outs.into_iter().next().unwrap()
    }

    fn ok(i: Invocation, left: &[&str]) -> Observed<CorruptRun> {
        Observed::Ok { value: run(left), invocation: i }
    }

    const CLEAN: &str = "error: Invalid model file: file is 4 bytes, need at least 8 bytes for header";

    #[test]
    fn a_clean_refusal_passes() {
        let o = judged(Command::Inspect, "st-in-length", ok(inv(Some(4), CLEAN), &[]));
        assert_eq!((o.status, &o.subject, o.case.as_str()), (Verdict::Pass, &RUNTIME, "st-in-length/inspect"));
        assert_eq!(o.note, format!("refused (exit 4): {CLEAN}"));
        assert_eq!(o.evidence.expected.as_deref(), Some("non-zero exit, an error on stderr, no panic, within 60s, nothing left behind"));
        assert_eq!(o.evidence.actual.as_deref(), Some(format!("{FILE} (exit 4): {CLEAN}").as_str()));
        assert_eq!(o.evidence.invocations.len(), 1);
        assert_eq!(o.evidence.details["recipe"], "st-in-length");
        assert_eq!(o.evidence.details["command"], "inspect");
        assert_eq!(o.evidence.details["file"], FILE);
        assert!(violations(&run(&[]), &inv(Some(1), "error: x"), 60.0).is_empty());
    }

    #[test]
    fn exit_zero_fails_by_recipe() {
        let o = judged(Command::Run, "st-dup-name", ok(inv(Some(0), ""), &[]));
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &RUNTIME));
        assert_eq!(o.signature, "apr: exits 0 on a corrupt file (st-dup-name)");
        assert!(o.note.starts_with("accepts it (exit 0) on model.safetensors truncated"), "{}", o.note);
        assert_eq!(violations(&run(&[]), &inv(Some(0), "warning: odd"), 60.0), vec![Violation::Accepted]);
    }

    #[test]
    fn a_panic_fails_with_its_message_as_the_telling_line() {
        let stderr = "thread 'main' panicked at src/safetensors.rs:10:5:\nrange end index 900 out of range for slice of length 4\nnote: run with `RUST_BACKTRACE=1`";
        let o = judged(Command::Import, "st-half", ok(inv(Some(101), stderr), &[]));
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &CONVERTER), "import is the converter");
        assert_eq!(o.signature, "apr: panic: range end index # out of range for slice of length #");
        assert!(o.note.starts_with("panics on model.safetensors"), "{}", o.note);
        assert!(o.note.contains("panic: range end index 900") && o.note.ends_with("(exit 101)"), "{}", o.note);
        // "panicked at" with another exit code is a panic too (a handler that exits 1).
        let v = violations(&run(&[]), &inv(Some(1), stderr), 60.0);
        assert_eq!(v, vec![Violation::Panic("panic: range end index 900 out of range for slice of length 4".into())]);
        // exit 101 without the banner is a panic all the same.
        assert!(matches!(violations(&run(&[]), &inv(Some(101), "error: x"), 60.0)[..], [Violation::Panic(_)]));
        // one panic on two recipes and two commands: one group
        let other = judged(Command::Tensors, "gguf-half", ok(inv(Some(101), &stderr.replace("900", "12")), &[]));
        assert_eq!(other.signature, o.signature);
        assert_eq!(other.subject, RUNTIME);
    }

    #[test]
    fn a_timeout_or_a_run_past_the_bound_is_a_hang() {
        let mut i = inv(None, "loading…");
        i.timed_out = true;
        i.duration_s = 60.0;
        let o = judged(Command::Validate, "gguf-many-tensors", ok(i.clone(), &[]));
        assert_eq!(o.status, Verdict::Fail);
        assert_eq!(o.signature, failure_signature("", &i), "a timeout joins apr's other timeouts");
        assert!(o.note.starts_with("hangs on") && o.note.ends_with("(timed out after 60s)"), "{}", o.note);
        let mut slow = inv(Some(1), "error: x");
        slow.duration_s = 60.5;
        assert_eq!(violations(&run(&[]), &slow, 60.0), vec![Violation::Hang]);
        let o = judged(Command::Validate, "gguf-many-tensors", ok(slow.clone(), &[]));
        assert_eq!(o.signature, "apr: hangs on a corrupt file (gguf-many-tensors)", "past the bound, not killed: by recipe");
        slow.duration_s = 60.0;
        assert!(violations(&run(&[]), &slow, 60.0).is_empty(), "exactly at the bound is within it");
    }

    #[test]
    fn a_kill_by_a_signal_fails_by_recipe() {
        let o = judged(Command::Run, "st-last-byte", ok(inv(None, ""), &[]));
        assert_eq!(o.status, Verdict::Fail);
        assert_eq!(o.signature, "apr: killed by a signal on a corrupt file (st-last-byte)");
        assert!(o.note.starts_with("killed by a signal on"), "{}", o.note);
        assert_eq!(violations(&run(&[]), &inv(None, "error: x"), 60.0), vec![Violation::Signal]);
    }

    #[test]
    fn a_file_left_behind_fails_by_command() {
        let o = judged(Command::Import, "gguf-bad-magic", ok(inv(Some(5), CLEAN), &["out.apr"]));
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &CONVERTER));
        assert_eq!(o.signature, "apr import: leaves a file behind on a corrupt input");
        assert!(o.note.starts_with("leaves out.apr behind on"), "{}", o.note);
        assert!(o.note.contains(": error: Invalid model file"), "the telling line is apr's error: {}", o.note);
        assert!(o.evidence.actual.as_deref().unwrap().ends_with(&format!("(exit 5): {CLEAN}")), "the evidence keeps it whole");
        assert_eq!(o.evidence.details["left_behind"], serde_json::json!(["out.apr"]));
        // with another violation: both named, the worse one signs
        let v = violations(&run(&["a", "b"]), &inv(Some(0), ""), 60.0);
        assert_eq!(v, vec![Violation::Accepted, Violation::LeftBehind(vec!["a".into(), "b".into()])]);
        let both = judged(Command::Import, "x", ok(inv(Some(0), ""), &["a", "b"]));
        assert!(both.note.starts_with("accepts it (exit 0); leaves a, b behind on"), "{}", both.note);
        assert_eq!(both.signature, "apr: exits 0 on a corrupt file (x)");
    }

    #[test]
    fn a_silent_refusal_fails_by_command() {
        let mut i = inv(Some(3), " \n");
        i.stdout = "{\"error\":\"bad file\"}".into();
        let o = judged(Command::Tensors, "st-garbage", ok(i, &[]));
        assert_eq!(o.status, Verdict::Fail);
        assert_eq!(o.signature, "apr tensors: refuses a corrupt file with no error message");
        assert!(o.note.starts_with("no error message on stderr on"), "{}", o.note);
        assert!(o.note.ends_with("exit 3 with nothing on stderr (exit 3)"), "{}", o.note);
    }

    #[test]
    fn hang_and_panic_are_both_named() {
        let mut i = inv(None, "thread 'main' panicked at a.rs:1:1:\nboom\n");
        i.timed_out = true;
        let v = violations(&run(&[]), &i, 60.0);
        assert_eq!(v, vec![Violation::Hang, Violation::Panic("panic: boom".into())]);
    }

    #[test]
    fn nothing_observed_is_blocked_and_upstream_states_pass_through() {
        let outs = judge(&ModelEvidence::new("m"), &Tolerances::spec());
        assert_eq!(outs.len(), 1);
        assert_eq!((outs[0].status, &outs[0].subject, outs[0].case.as_str()), (Verdict::Blocked, &Subject::Harness, "files"));
        let blocked = Observed::Blocked { step: "make f32-gguf".into(), reason: "no GGUF".into(), signature: "sig".into() };
        let o = judged(Command::Run, "gguf-half", blocked);
        assert_eq!((o.status, o.signature.as_str()), (Verdict::Blocked, "sig"));
        let o = judged(Command::Inspect, "gguf-half", Observed::Skipped { reason: "no GGUF artifact".into() });
        assert_eq!(o.status, Verdict::Skip);
        let failed = Observed::Failed { error: "cannot write the corrupt file".into(), invocation: inv(None, "") };
        assert_eq!(judged(Command::Inspect, "st-empty", failed).status, Verdict::Fail);
    }

    #[test]
    fn commands_name_apr_subcommands() {
        let names: Vec<&str> = Command::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names, ["run", "inspect", "validate", "tensors", "import"]);
        for c in Command::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.name());
            assert_eq!(c.subject(), if c == Command::Import { CONVERTER } else { RUNTIME });
        }
    }
}
