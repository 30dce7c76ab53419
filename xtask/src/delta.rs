//! Retest delta: two runs' results compared check by check (suite, model, case) and
//! root cause by root cause: what was fixed, what regressed, what still fails with
//! the same bug, what fails differently, what is new or gone. "The same bug" is
//! recognised across versions by its signature with paths, numbers and commit hashes
//! taken out (`bug_key`). Also how results files are named and which earlier run a
//! retest compares against.

use crate::judge::{Outcome, Verdict};
use crate::report::RunResults;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub suite: String,
    pub model: String,
    pub case: String,
    /// Whom the check is about (the runtime under test, a comparator, …).
    pub subject: crate::judge::Subject,
    pub before: Option<Verdict>,
    pub after: Option<Verdict>,
    /// The previous note, where there was a previous outcome.
    pub note_before: Option<String>,
    /// The current note (or the previous one for checks that are gone).
    pub note: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// FAIL/BLOCKED before, PASS now.
    pub fixed: Vec<Change>,
    /// PASS before, FAIL/BLOCKED now.
    pub regressed: Vec<Change>,
    /// FAIL/BLOCKED both times, with the same verdict and the same bug.
    pub still_failing: Vec<Change>,
    /// FAIL/BLOCKED both times, but another verdict or another bug: the text changed,
    /// not whether it passes.
    pub changed: Vec<Change>,
    /// Not judged before (absent or SKIP), judged now: a check that could not run before.
    pub new: Vec<Change>,
    /// Judged before, not now (absent or SKIP).
    pub gone: Vec<Change>,
}

type Key = (String, String, String);

fn index(r: &RunResults) -> BTreeMap<Key, &Outcome> {
    r.outcomes.iter().map(|o| (o.key(), o)).collect()
}

/// A text with what changes between versions of the same bug taken out: a word with a
/// '/' is a path, a run of digits is '#', a word of 7 or more hex digits with a digit
/// in it is a commit. `apr: panic: index 640 out of range at src/a.rs:12` and
/// `apr: panic: index 768 out of range at crates/b/src/a.rs:14` are one bug.
pub fn canonical(text: &str) -> String {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let bare = word.trim_matches(|c: char| "\"'`()[]{},;:.".contains(c));
        if bare.contains('/') && bare.len() > 1 {
            out.push("<path>".to_string());
        } else if bare.len() >= 7 && bare.chars().all(|c| c.is_ascii_hexdigit()) && bare.chars().any(|c| c.is_ascii_digit()) {
            out.push("<commit>".to_string());
        } else {
            let mut w = String::new();
            let mut last_digit = false;
            for c in word.chars() {
                if c.is_ascii_digit() {
                    if !last_digit {
                        w.push('#');
                    }
                } else {
                    w.push(c);
                }
                last_digit = c.is_ascii_digit();
            }
            out.push(w);
        }
    }
    out.join(" ")
}

/// The bug a problem outcome reports, comparable across versions: its signature (its
/// note where it has none), canonical.
pub fn bug_key(o: &Outcome) -> String {
    canonical(if o.signature.is_empty() { &o.note } else { &o.signature })
}

/// Judged: PASS, FAIL or BLOCKED (a SKIP judged nothing).
fn judged(o: Option<&&Outcome>) -> Option<Verdict> {
    o.map(|o| o.status).filter(|s| *s != Verdict::Skip)
}

pub fn delta(previous: &RunResults, current: &RunResults) -> Delta {
    let (before, after) = (index(previous), index(current));
    let mut d = Delta::default();
    let keys: BTreeSet<&Key> = before.keys().chain(after.keys()).collect();
    for k in keys {
        let (b, a) = (before.get(k), after.get(k));
        let c = Change {
            suite: k.0.clone(),
            model: k.1.clone(),
            case: k.2.clone(),
            subject: a.or(b).map(|o| o.subject.clone()).unwrap_or(crate::judge::Subject::Harness),
            before: b.map(|o| o.status),
            after: a.map(|o| o.status),
            note_before: b.map(|o| o.note.clone()),
            note: a.or(b).map(|o| o.note.clone()).unwrap_or_default(),
        };
        let list = match (judged(b), judged(a)) {
            (None, None) => continue,
            (None, Some(_)) => &mut d.new,
            (Some(_), None) => &mut d.gone,
            (Some(vb), Some(va)) => match (vb.is_problem(), va.is_problem()) {
                (false, false) => continue,
                (true, false) => &mut d.fixed,
                (false, true) => &mut d.regressed,
                (true, true) if vb == va && bug_key(b.unwrap()) == bug_key(a.unwrap()) => &mut d.still_failing,
                (true, true) => &mut d.changed,
            },
        };
        list.push(c);
    }
    d
}

impl Delta {
    /// The lists with their titles, in the order a maintainer reads them.
    fn lists(&self) -> [(&'static str, &Vec<Change>); 6] {
        [
            ("Regressed", &self.regressed),
            ("Fixed", &self.fixed),
            ("Changed (failing both times, another bug or verdict)", &self.changed),
            ("New (not judged before)", &self.new),
            ("Gone (not judged now)", &self.gone),
            ("Still failing (the same bug)", &self.still_failing),
        ]
    }

    /// Per suite: fixed, regressed, changed, new, gone, still failing.
    pub fn per_suite(&self) -> BTreeMap<&str, [usize; 6]> {
        let mut by: BTreeMap<&str, [usize; 6]> = BTreeMap::new();
        let columns = [&self.fixed, &self.regressed, &self.changed, &self.new, &self.gone, &self.still_failing];
        for (i, list) in columns.iter().enumerate() {
            for c in list.iter() {
                by.entry(c.suite.as_str()).or_default()[i] += 1;
            }
        }
        by
    }
}

/// A root cause of the ticket (a group of problems against the runtime under test)
/// set against the other run's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Standing {
    /// Its bug was not among the previous run's and none of its checks failed then.
    New,
    /// The same bug (canonical signature) was a root cause before.
    Still,
    /// Some of its checks failed before, under another bug.
    Changed,
    /// A previous root cause with no problem left under it or its checks.
    Gone,
}

impl Standing {
    pub fn label(&self) -> &'static str {
        match self {
            Standing::New => "new",
            Standing::Still => "still there",
            Standing::Changed => "changed",
            Standing::Gone => "gone",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cause {
    pub standing: Standing,
    /// The signature as this run has it (the previous run's for a gone cause).
    pub signature: String,
    /// What the previous run called it, for a changed cause.
    pub was: Option<String>,
    pub checks_before: usize,
    pub checks_after: usize,
}

/// The ticket's root causes of `current` against those of `previous`, in the
/// current ticket's order, then the gone ones.
pub fn causes(previous: &RunResults, current: &RunResults) -> Vec<Cause> {
    let before = crate::ticket::groups(previous);
    let after = crate::ticket::groups(current);
    let key_of = |outs: &[&Outcome]| outs.first().map(|o| bug_key(o)).unwrap_or_default();
    let checks = |outs: &[&Outcome]| outs.iter().map(|o| o.key()).collect::<BTreeSet<Key>>();
    let mut matched: BTreeSet<usize> = BTreeSet::new();
    let mut out = Vec::new();
    for (sig, outs) in &after {
        let key = key_of(outs);
        let same = before.iter().position(|(_, b)| key_of(b) == key);
        let overlapping = || before.iter().position(|(_, b)| !checks(b).is_disjoint(&checks(outs)));
        let (standing, i) = match same {
            Some(i) => (Standing::Still, Some(i)),
            None => match overlapping() {
                Some(i) => (Standing::Changed, Some(i)),
                None => (Standing::New, None),
            },
        };
        if let Some(i) = i {
            matched.insert(i);
        }
        out.push(Cause {
            was: (standing == Standing::Changed).then(|| before[i.unwrap()].0.clone()),
            standing,
            signature: sig.clone(),
            checks_before: i.map_or(0, |i| before[i].1.len()),
            checks_after: outs.len(),
        });
    }
    for (i, (sig, outs)) in before.iter().enumerate() {
        if !matched.contains(&i) {
            out.push(Cause { standing: Standing::Gone, signature: sig.clone(), was: None, checks_before: outs.len(), checks_after: 0 });
        }
    }
    out
}

fn status_str(s: Option<Verdict>) -> &'static str {
    s.map_or("—", Verdict::as_str)
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The "retest update" a maintainer wants after an upgrade, markdown: the counts,
/// the table per suite, the root causes, then every check that moved.
pub fn render(previous: &RunResults, current: &RunResults, d: &Delta) -> String {
    let mut s = format!("## Retest: {} ({}) → {} ({})\n\n", previous.apr_label(), previous.date(), current.apr_label(), current.date());
    s.push_str(&format!(
        "Fixed {}, regressed {}, changed {}, new {}, gone {}, still failing {}.\n",
        d.fixed.len(),
        d.regressed.len(),
        d.changed.len(),
        d.new.len(),
        d.gone.len(),
        d.still_failing.len(),
    ));
    let per_suite = d.per_suite();
    if !per_suite.is_empty() {
        s.push_str("\n| Suite | Fixed | Regressed | Changed | New | Gone | Still failing |\n|---|---|---|---|---|---|---|\n");
        for (suite, n) in &per_suite {
            s.push_str(&format!("| {suite} | {} | {} | {} | {} | {} | {} |\n", n[0], n[1], n[2], n[3], n[4], n[5]));
        }
    }
    let causes = causes(previous, current);
    if !causes.is_empty() {
        s.push_str(&format!(
            "\n### Root causes against {} ({} before, {} now)\n\n| Since {} | Root cause | Checks before | Checks now |\n|---|---|---|---|\n",
            current.apr_label(),
            causes.iter().filter(|c| c.checks_before > 0).count(),
            causes.iter().filter(|c| c.checks_after > 0).count(),
            previous.apr_label(),
        ));
        for c in &causes {
            let was = c.was.as_ref().map(|w| format!(" (was: {})", cell(w))).unwrap_or_default();
            s.push_str(&format!("| {} | {}{was} | {} | {} |\n", c.standing.label(), cell(&c.signature), c.checks_before, c.checks_after));
        }
    }
    for (title, list) in d.lists() {
        if list.is_empty() {
            continue;
        }
        s.push_str(&format!("\n### {title} ({})\n\n", list.len()));
        for c in list {
            let before = match (&c.note_before, c.after.is_some() && c.note_before.as_deref() != Some(c.note.as_str())) {
                (Some(b), true) => format!("{b} ⟶ "),
                _ => String::new(),
            };
            s.push_str(&format!(
                "- `{}/{}/{}` [{}]: {} → {}: {before}{}\n",
                c.suite,
                c.model,
                c.case,
                c.subject.label(),
                status_str(c.before),
                status_str(c.after),
                c.note
            ));
        }
    }
    s
}

/// `recheck`'s last line: the regressions (the exit code's reason) or that there are none.
pub fn verdict_line(previous: &RunResults, d: &Delta, code: i32) -> String {
    let since = previous.apr_label();
    match (code, d.regressed.len()) {
        (2, _) => format!("recheck: the harness is broken (exit 2); against {since}: {} regressed", d.regressed.len()),
        (_, 0) => format!(
            "recheck: no check regressed since {since} (fixed {}, changed {}, new {}, still failing {}): exit {code}",
            d.fixed.len(),
            d.changed.len(),
            d.new.len(),
            d.still_failing.len()
        ),
        (_, n) => {
            let first: Vec<String> = d.regressed.iter().take(3).map(|c| format!("{}/{}/{}", c.suite, c.model, c.case)).collect();
            let more = if n > 3 { format!(" and {} more", n - 3) } else { String::new() };
            format!("recheck: REGRESSION: {n} check(s) that passed with {since} fail now: {}{more}: exit {code}", first.join(", "))
        }
    }
}

/// File name a run's results are kept under: sortable by time, carrying the apr
/// version and, for a shard, which one (shards of one run can start in one second).
pub fn results_file_name(r: &RunResults) -> String {
    let clean = |s: &str| s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect::<String>();
    let shard = r.receipt.shard;
    let shard = if shard.count > 1 { format!("_shard-{}-of-{}", shard.index, shard.count) } else { String::new() };
    format!("{}_apr-{}{shard}.json", clean(&r.started_at), clean(r.apr_version.as_deref().unwrap_or("unknown")))
}

/// The run a retest compares against: the latest earlier run with a different apr
/// version; failing that, the latest earlier run.
pub fn pick_previous<'a>(history: &'a [RunResults], current: &RunResults) -> Option<&'a RunResults> {
    let earlier = || history.iter().filter(|r| r.started_at < current.started_at);
    earlier()
        .filter(|r| r.apr_version != current.apr_version)
        .max_by(|a, b| a.started_at.cmp(&b.started_at))
        .or_else(|| earlier().max_by(|a, b| a.started_at.cmp(&b.started_at)))
}

/// The run a ticket marks its root causes against: the latest earlier run with
/// another apr version (never the same version: a rerun is not an upgrade).
pub fn previous_version<'a>(history: &'a [RunResults], current: &RunResults) -> Option<&'a RunResults> {
    history
        .iter()
        .filter(|r| r.started_at < current.started_at && r.apr_version != current.apr_version)
        .max_by(|a, b| a.started_at.cmp(&b.started_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_results;

    /// One hand-made outcome about apr's runtime.
    fn out(case: &str, status: Verdict, signature: &str) -> Outcome {
        Outcome {
            suite: "token-parity".into(),
            model: "smollm2".into(),
            case: case.into(),
            subject: crate::judge::Subject::UnderTest(crate::judge::Part::Runtime),
            status,
            note: if signature.is_empty() { format!("{case}: holds") } else { format!("{case}: {signature}") },
            signature: signature.into(),
            evidence: Default::default(),
        }
    }

    fn run(version: &str, at: &str, outcomes: Vec<Outcome>) -> RunResults {
        RunResults { started_at: at.into(), apr_version: Some(version.into()), outcomes, ..sample_results() }
    }

    /// Two versions by hand: one bug fixed, one regression, the same panic at another
    /// line, the same message with another path, a verdict changed, a bug replaced, a
    /// check that could not run before and one that cannot now.
    fn two_versions() -> (RunResults, RunResults) {
        use Verdict::*;
        let old = run(
            "0.72.2",
            "2026-12-01T00:00:00Z",
            vec![
                out("int8/fixed", Fail, "apr: wraps the prompt"),
                out("int8/regressed", Pass, ""),
                out("int4/panic", Fail, "apr: panic: index out of range at src/format/gguf.rs:88:14"),
                out("int4/path", Fail, "apr: cannot open /tmp/old-dir/model.gguf: header of 640 bytes"),
                out("f32/verdict", Fail, "apr: empty completion"),
                out("f32/replaced", Fail, "apr: empty completion"),
                out("gguf/skipped", Skip, ""),
                out("gguf/gone", Pass, ""),
                out("int8/passing", Pass, ""),
            ],
        );
        let new = run(
            "0.72.3",
            "2026-12-02T00:00:00Z",
            vec![
                out("int8/fixed", Pass, ""),
                out("int8/regressed", Fail, "apr: emits newlines"),
                out("int4/panic", Fail, "apr: panic: index out of range at src/format/gguf.rs:91:9"),
                out("int4/path", Fail, "apr: cannot open /home/u/models/x/model.gguf: header of 768 bytes"),
                out("f32/verdict", Blocked, "apr: empty completion"),
                out("f32/replaced", Fail, "apr: emits newlines"),
                out("gguf/skipped", Fail, "apr: tensor not found"),
                out("gguf/gone", Skip, ""),
                out("int8/passing", Pass, ""),
            ],
        );
        (old, new)
    }

    fn cases(list: &[Change]) -> Vec<&str> {
        list.iter().map(|c| c.case.as_str()).collect()
    }

    #[test]
    fn classifies_every_kind_of_change_and_knows_the_same_bug_across_versions() {
        let (old, new) = two_versions();
        let d = delta(&old, &new);
        assert_eq!(cases(&d.fixed), ["int8/fixed"]);
        assert_eq!(cases(&d.regressed), ["int8/regressed"]);
        // The same panic at another line and the same message with another path and
        // another number are the same bug: still failing, not changed.
        assert_eq!(cases(&d.still_failing), ["int4/panic", "int4/path"]);
        assert_eq!(cases(&d.changed), ["f32/replaced", "f32/verdict"]);
        assert_eq!(cases(&d.new), ["gguf/skipped"]);
        assert_eq!(cases(&d.gone), ["gguf/gone"]);
        assert_eq!(d.regressed[0].before, Some(Verdict::Pass));
        assert_eq!(d.regressed[0].after, Some(Verdict::Fail));
        assert_eq!(d.changed[0].note_before.as_deref(), Some("f32/replaced: apr: empty completion"));
        assert_eq!(d.per_suite()["token-parity"], [1, 1, 2, 1, 1, 2]);
        // Nothing moved between a run and itself; every problem is still failing.
        let same = delta(&new, &new);
        assert!(same.fixed.is_empty() && same.regressed.is_empty() && same.changed.is_empty() && same.new.is_empty());
        assert!(same.gone.is_empty());
        assert_eq!(same.still_failing.len(), 6);
    }

    #[test]
    fn canonical_takes_out_paths_numbers_and_commits_only() {
        assert_eq!(canonical("panic at src/a.rs:12:3: index 640 of (9c34b9a91)"), "panic at <path> index # of <commit>");
        assert_eq!(canonical("apr 0.72.3: 768 bytes"), "apr #.#.#: # bytes");
        // Words stay words: a cause is not erased into another.
        assert_ne!(canonical("empty completion"), canonical("emits newlines"));
        assert_eq!(canonical("deadbeef"), "deadbeef", "hex letters alone are a word");
        assert_eq!(canonical("  two   spaces "), "two spaces");
        assert_eq!(canonical("int8 / int4"), "int# / int#", "a lone slash is no path");
    }

    #[test]
    fn root_causes_are_new_still_there_changed_or_gone() {
        let (old, new) = two_versions();
        let got: Vec<(Standing, String, usize, usize)> =
            causes(&old, &new).into_iter().map(|c| (c.standing, c.signature, c.checks_before, c.checks_after)).collect();
        let has = |s: Standing, sig: &str, before: usize, now: usize| got.contains(&(s, sig.to_string(), before, now));
        assert!(has(Standing::Still, "apr: panic: index out of range at src/format/gguf.rs:91:9", 1, 1), "{got:?}");
        assert!(has(Standing::Still, "apr: cannot open /home/u/models/x/model.gguf: header of 768 bytes", 1, 1), "{got:?}");
        // "empty completion" is still there (f32/verdict, now BLOCKED by it).
        assert!(has(Standing::Still, "apr: empty completion", 2, 1), "{got:?}");
        assert!(has(Standing::New, "apr: tensor not found", 0, 1), "{got:?}");
        assert!(has(Standing::Gone, "apr: wraps the prompt", 1, 0), "{got:?}");
        // "emits newlines" took over f32/replaced, which failed before under another bug.
        let newlines = causes(&old, &new).into_iter().find(|c| c.signature == "apr: emits newlines").unwrap();
        assert_eq!((newlines.standing, newlines.was.as_deref()), (Standing::Changed, Some("apr: empty completion")));
        assert_eq!(got.len(), 6);
    }

    #[test]
    fn the_rendered_delta_and_the_verdict_line_say_what_moved() {
        let (old, new) = two_versions();
        let d = delta(&old, &new);
        let text = render(&old, &new, &d);
        assert!(text.starts_with("## Retest: apr 0.72.2 (0123456789) (2026-12-01) → apr 0.72.3 (0123456789) (2026-12-02)"), "{text}");
        assert!(text.contains("Fixed 1, regressed 1, changed 2, new 1, gone 1, still failing 2."), "{text}");
        assert!(text.contains("| token-parity | 1 | 1 | 2 | 1 | 1 | 2 |"), "{text}");
        assert!(text.contains("| changed | apr: emits newlines (was: apr: empty completion) | 2 | 2 |"), "{text}");
        assert!(text.contains("- `token-parity/smollm2/int8/regressed` [apr runtime]: PASS → FAIL: int8/regressed: holds ⟶ int8/regressed: apr: emits newlines"), "{text}");
        let regressed = text.find("### Regressed (1)").unwrap();
        assert!(regressed < text.find("### Fixed (1)").unwrap() && text.find("### Still failing").unwrap() > regressed);
        assert_eq!(
            verdict_line(&old, &d, 1),
            "recheck: REGRESSION: 1 check(s) that passed with apr 0.72.2 (0123456789) fail now: token-parity/smollm2/int8/regressed: exit 1"
        );
        let clean = delta(&new, &new);
        let unchanged = render(&new, &new, &clean);
        assert!(unchanged.contains("### Still failing (the same bug) (6)") && !unchanged.contains('⟶'), "the same note is not repeated");
        assert_eq!(
            verdict_line(&new, &clean, 0),
            "recheck: no check regressed since apr 0.72.3 (0123456789) (fixed 0, changed 0, new 0, still failing 6): exit 0"
        );
        assert!(verdict_line(&old, &d, 2).starts_with("recheck: the harness is broken (exit 2)"));
        // Three regressions are named; past three, the rest are counted.
        let mut many = d.clone();
        many.regressed = vec![d.regressed[0].clone(); 3];
        assert!(verdict_line(&old, &many, 1).ends_with("int8/regressed, token-parity/smollm2/int8/regressed: exit 1"));
        many.regressed.push(d.regressed[0].clone());
        assert!(verdict_line(&old, &many, 1).ends_with("int8/regressed and 1 more: exit 1"), "{}", verdict_line(&old, &many, 1));
    }

    #[test]
    fn a_ticket_marks_its_root_causes_against_the_other_version() {
        let (old, new) = two_versions();
        let history = vec![old.clone(), run("0.72.3", "2026-12-01T12:00:00Z", vec![])];
        // The rerun of the same version is not an upgrade: the marks are against 0.72.2.
        assert_eq!(previous_version(&history, &new).unwrap().started_at, old.started_at);
        assert!(previous_version(&history[1..], &new).is_none());
        let t = crate::ticket::ticket_since(&new, Some(&old));
        assert!(t.contains("| # | Root cause | Impact | Checks | Since apr 0.72.2 (0123456789) |"), "{t}");
        assert!(t.contains("| apr: tensor not found | 1 | token-parity ×1 | new |"), "{t}");
        assert!(t.contains("| apr: emits newlines | 2 | token-parity ×2 | changed (was: apr: empty completion) |"), "{t}");
        assert!(
            t.contains(
                "Root causes of apr 0.72.2 (0123456789) gone in apr 0.72.3 (0123456789):\n\n- apr: wraps the prompt (1 checks then)\n"
            ),
            "{t}"
        );
        assert!(!crate::ticket::ticket_since(&new, None).contains("Since apr"));
    }

    #[test]
    fn previous_is_latest_with_other_apr_version() {
        let mk = |t: &str, v: &str| RunResults { started_at: t.into(), apr_version: Some(v.into()), outcomes: vec![], ..sample_results() };
        let history =
            vec![mk("2026-01-01T00:00:00Z", "0.70.0"), mk("2026-02-01T00:00:00Z", "0.71.0"), mk("2026-03-01T00:00:00Z", "0.72.3")];
        let cur = mk("2026-04-01T00:00:00Z", "0.72.3");
        assert_eq!(pick_previous(&history, &cur).unwrap().apr_version.as_deref(), Some("0.71.0"));
        let same = vec![mk("2026-03-01T00:00:00Z", "0.72.3")];
        assert_eq!(pick_previous(&same, &cur).unwrap().started_at, "2026-03-01T00:00:00Z");
        assert!(pick_previous(&[], &cur).is_none());
        // The run itself is in the kept results: never its own previous run.
        assert!(pick_previous(std::slice::from_ref(&cur), &cur).is_none());
        let mut other = cur.clone();
        other.apr_version = Some("0.72.2".into());
        assert!(previous_version(std::slice::from_ref(&other), &cur).is_none(), "started at the same second: not earlier");
        assert_eq!(results_file_name(&cur), "2026-04-01T00-00-00Z_apr-0.72.3.json");
        let mut shard = cur.clone();
        shard.receipt.shard = crate::shard::Shard { index: 2, count: 3 };
        assert_eq!(results_file_name(&shard), "2026-04-01T00-00-00Z_apr-0.72.3_shard-2-of-3.json");
    }
}
