//! `cargo xtask ticket`: an issue body for the runtime under test's maintainers:
//! summary, source, tool versions, oracle provenance, then the findings against the
//! runtime under test grouped by root cause (one section per defect: its impact, the
//! claims it breaks, whether the converter or the runtime is to blame, evidence,
//! expected vs actual, and a reproduction a maintainer can paste on their machine).
//! Comparators, reference claims and harness health are not in it.

use crate::context::Ctx;
use crate::judge::{truncate, Outcome, Part, Subject, Verdict};
use crate::report::{Counts, Provenance, RunResults};
use std::collections::BTreeMap;
use tmgt_schema::observation::shell_quote;
use tmgt_schema::Invocation;
const EVIDENCE_CHARS: usize = 1500;

/// `cargo xtask ticket`: the issue body, from the last results (reruns nothing).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Ticket {
    /// From these results files merged (the shards of one run) instead of the last
    /// results; what was merged is described on stderr.
    #[arg(long, num_args = 1.., value_name = "FILES")]
    pub merge: Vec<camino::Utf8PathBuf>,
    /// Mark each root cause new / still there / changed against these earlier results
    /// (a file or a name under models/results/); by default the latest results made
    /// with another apr version, if any ("none": no marks).
    #[arg(long, value_name = "RESULTS")]
    pub since: Option<String>,
}

impl Ticket {
    pub fn run(self, ctx: &Ctx) -> anyhow::Result<i32> {
        let (results, code) = crate::status::latest_or_merged(ctx, &self.merge)?;
        let previous = match self.since.as_deref() {
            Some("none") => None,
            Some(name) => Some(crate::status::read_named_results(ctx, name)?),
            None => crate::delta::previous_version(&crate::status::history(ctx), &results).cloned(),
        };
        print!("{}", ticket_since(&results, previous.as_ref()));
        Ok(code)
    }
}

/// A fenced block that cannot be closed early by the text inside it.
fn fenced(lang: &str, body: &str) -> String {
    let mut fence = "```".to_string();
    while body.contains(&fence) {
        fence.push('`');
    }
    format!("{fence}{lang}\n{}\n{fence}\n", body.trim_end_matches('\n'))
}

fn suites_summary(outs: &[&Outcome]) -> String {
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    for o in outs {
        *by.entry(&o.suite).or_default() += 1;
    }
    by.iter().map(|(s, n)| format!("{s} ×{n}")).collect::<Vec<_>>().join(", ")
}

/// The findings against the runtime under test, grouped by signature (a BLOCKED
/// outcome carries the signature of the failure that blocked it, so it joins that
/// group and adds to its impact). Conversion crashes first, then the other groups
/// with a FAIL by impact, then groups only BLOCKED.
pub fn groups(r: &RunResults) -> Vec<(String, Vec<&Outcome>)> {
    let mut groups: Vec<(String, Vec<&Outcome>)> = Vec::new();
    for o in r.outcomes.iter().filter(|o| o.subject.is_under_test() && o.status.is_problem()) {
        let sig = if o.signature.is_empty() { o.note.clone() } else { o.signature.clone() };
        match groups.iter_mut().find(|(s, _)| *s == sig) {
            Some((_, v)) => v.push(o),
            None => groups.push((sig, vec![o])),
        }
    }
    groups.sort_by_key(|(_, v)| {
        let conversion_crash = v.iter().any(|o| o.suite == "convert" && o.status == Verdict::Fail);
        let only_blocked = v.iter().all(|o| o.status == Verdict::Blocked);
        (!conversion_crash, only_blocked, std::cmp::Reverse(v.len()))
    });
    groups
}

/// Whom a group is about: the converter, the runtime, or apr where no second
/// engine reads its format; with the comparator evidence where the judges recorded it.
fn attribution(outs: &[&Outcome]) -> String {
    // The failures say whom the group is about; what they block carries each blocked
    // check's own subject (an import crash blocks runs on APR files: "apr").
    let fails: Vec<&Outcome> = outs.iter().copied().filter(|o| o.status == Verdict::Fail).collect();
    let outs: &[&Outcome] = if fails.is_empty() { outs } else { &fails };
    let parts: Vec<Part> = outs
        .iter()
        .filter_map(|o| match o.subject {
            Subject::UnderTest(p) => Some(p),
            _ => None,
        })
        .collect();
    let all = |p: Part| parts.iter().all(|x| *x == p);
    let who = if all(Part::Converter) {
        "apr's converter (the file it wrote)"
    } else if all(Part::Runtime) {
        "apr's runtime (what it does with a file)"
    } else if parts.contains(&Part::Converter) && !parts.contains(&Part::Either) {
        "apr's converter and runtime (checks of both kinds)"
    } else {
        "apr (converter or runtime: no second engine reads APR files to tell them apart)"
    };
    let blame: Vec<String> =
        outs.iter().filter_map(|o| o.evidence.details.get("blame").and_then(|b| b.as_str()).map(String::from)).collect();
    match blame.first() {
        Some(b) => format!("{who}; evidence: {b}"),
        None => who.to_string(),
    }
}

/// The artifacts an outcome's case names ("int8/completion", "apr/int4-gguf/code",
/// "int8~int4"), among those the run made.
fn artifacts_of<'a>(o: &Outcome, made_by: &'a BTreeMap<String, String>) -> Vec<&'a str> {
    let words: Vec<&str> = o.case.split(['/', '~', ' ']).collect();
    made_by.keys().filter(|a| words.contains(&a.as_str())).map(String::as_str).collect()
}

/// A command as a maintainer can paste it in the model folder: the program by its
/// name, paths relative to the model folder, temp names as the final files.
pub fn portable_command(inv: &Invocation) -> String {
    let mut args = inv.command.iter();
    let program = args.next().map(|p| p.rsplit('/').next().unwrap_or(p).to_string()).unwrap_or_default();
    let relative = |a: &String| -> String {
        let mut a = a.clone();
        if let Some(cwd) = &inv.cwd {
            if let Some(rest) = a.strip_prefix(&format!("{cwd}/")) {
                a = rest.to_string();
            }
        }
        if a.starts_with('/') {
            if let Some(i) = a.find("/models/") {
                let rest = &a[i + "/models/".len()..];
                a = rest.split_once('/').map_or(rest, |(_, r)| r).to_string();
            }
        }
        match a.rsplit_once('/') {
            Some((dir, file)) if file.starts_with(".tmp-") => format!("{dir}/{}", &file[5..]),
            None if a.starts_with(".tmp-") => a[5..].to_string(),
            _ => a,
        }
    };
    std::iter::once(program).chain(args.map(|a| shell_quote(&relative(a)))).collect::<Vec<_>>().join(" ")
}

/// The reproduction: get the model, make the artifacts involved, run what failed.
fn repro(r: &RunResults, outs: &[&Outcome]) -> String {
    let mut lines = Vec::new();
    let mut by_model: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in outs {
        by_model.entry(&o.model).or_default().push(o);
    }
    let (model, os) = by_model.iter().next().expect("a group has outcomes");
    let empty = Provenance::default();
    let p = r.provenance.get(*model).unwrap_or(&empty);
    lines.push(format!(
        "# in a clone of tiny-model-ground-truth: the model ({}), as the f32 HF checkpoint apr imports",
        if p.source.is_empty() { "see roster.toml" } else { &p.source }
    ));
    lines.push(if p.pull.is_empty() { format!("cargo xtask pull --model {model}") } else { p.pull.clone() });
    lines.push(format!("cd models/{model}"));
    let mut artifacts: Vec<&str> = os.iter().flat_map(|o| artifacts_of(o, &p.made_by)).collect();
    // With what each was made from (apr's export before the roundtrip's import), the
    // upstream first.
    let mut i = 0;
    while i < artifacts.len() {
        if let Some(up) = crate::convert::upstream(artifacts[i]).filter(|u| p.made_by.contains_key(*u)) {
            if !artifacts.contains(&up) {
                artifacts.push(up);
            }
        }
        i += 1;
    }
    let depth = |a: &str| std::iter::successors(Some(a), |x| crate::convert::upstream(x)).count();
    artifacts.sort_by_key(|a| (depth(a), a.to_string()));
    artifacts.dedup();
    for a in &artifacts {
        lines.push(format!("{}    # makes {a}", p.made_by[*a]));
    }
    let mut failing: Vec<String> = Vec::new();
    for o in os {
        for inv in &o.evidence.invocations {
            let c = portable_command(inv);
            if !failing.contains(&c) && !lines.iter().any(|l| l.starts_with(&c)) && failing.len() < 4 {
                failing.push(c);
            }
        }
    }
    if !failing.is_empty() {
        lines.push("# the failing command(s):".into());
        lines.extend(failing);
    }
    lines.push(format!("# or through the harness: cargo xtask check --model {model} --suite {}", os[0].suite));
    lines.join("\n")
}

fn group_section(r: &RunResults, n: usize, sig: &str, outs: &[&Outcome]) -> String {
    let mut s = String::new();
    let kind = if outs.iter().all(|o| o.status == Verdict::Blocked) { "blocked" } else { "failing" };
    let fails = outs.iter().filter(|o| o.status == Verdict::Fail).count();
    s.push_str(&format!("#### {n}. {sig}\n\n"));
    s.push_str(&format!(
        "**Impact: {} checks** {kind} ({} FAIL, {} BLOCKED by it; {})\n\n",
        outs.len(),
        fails,
        outs.len() - fails,
        suites_summary(outs)
    ));
    s.push_str(&format!("**Attribution:** {}\n\n", attribution(outs)));

    // Affected models.
    let mut by_model: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in outs {
        by_model.entry(&o.model).or_default().push(o);
    }
    s.push_str("| Model | Checks | Cases |\n|-------|--------|-------|\n");
    for (model, os) in &by_model {
        let cases: Vec<String> = os.iter().map(|o| format!("{} {}", o.suite, o.case)).collect();
        s.push_str(&format!("| {model} | {} | {} |\n", os.len(), truncate(&cases.join(", "), 300).replace('|', "\\|")));
    }
    s.push('\n');

    // Evidence of the first FAIL (a BLOCKED one only points at it).
    let ex = outs.iter().find(|o| o.status == Verdict::Fail).unwrap_or(&outs[0]);
    s.push_str(&format!("Example: `{}/{}/{}`: {}\n\n", ex.suite, ex.model, ex.case, ex.note));
    if let Some(e) = &ex.evidence.expected {
        s.push_str("**Expected:**\n\n");
        s.push_str(&fenced("text", &truncate(e, EVIDENCE_CHARS)));
        s.push('\n');
    }
    if let Some(a) = &ex.evidence.actual {
        s.push_str("**Actual:**\n\n");
        s.push_str(&fenced("text", &truncate(a, EVIDENCE_CHARS)));
        s.push('\n');
    }
    if let Some(inv) = ex.evidence.invocations.first() {
        let mut raw = format!("$ {}\n", portable_command(inv));
        raw.push_str(&format!(
            "# exit: {}{}\n",
            inv.exit_code.map_or("killed".to_string(), |c| c.to_string()),
            if inv.timed_out { " (timed out)" } else { "" }
        ));
        if !inv.stdout.is_empty() {
            raw.push_str(&truncate(&inv.stdout, EVIDENCE_CHARS));
            raw.push('\n');
        }
        let tail = inv.stderr_tail(15);
        if !tail.is_empty() {
            raw.push_str("# stderr (tail):\n");
            raw.push_str(&tail);
            raw.push('\n');
        }
        s.push_str("**Raw output:**\n\n");
        s.push_str(&fenced("text", &raw));
        s.push('\n');
    }
    s.push_str("**Reproduce:**\n\n");
    s.push_str(&fenced("bash", &repro(r, outs)));
    s.push('\n');
    s
}

/// The ticket's markdown; a short "no findings" body when the runtime under test
/// passed every check judged on it.
#[cfg(test)]
pub fn ticket(r: &RunResults) -> String {
    ticket_since(r, None)
}

/// The ticket, each root cause marked against an earlier run's (another apr version)
/// when there is one: new, still there or changed, and the causes gone since listed.
pub fn ticket_since(r: &RunResults, previous: Option<&RunResults>) -> String {
    let under_test: Vec<&Outcome> = r.outcomes.iter().filter(|o| o.subject.is_under_test()).collect();
    let c = Counts::of(under_test.iter().copied());
    let groups = groups(r);
    let models = r.models().join(", ");
    let mut s = String::new();
    s.push_str(&format!(
        "## {}: {} failing and {} blocked parity checks ({})\n\n",
        r.apr_label(),
        c.fail,
        c.blocked,
        if models.is_empty() { "no models" } else { &models }
    ));
    s.push_str("### Summary\n\n");
    s.push_str(&format!(
        "Of {} checks on {}, {} passed, {} failed, {} blocked, {} skipped; the problems trace to {} root cause{}. \
         (Comparator, reference and harness outcomes are in the status table, not here.)\n\n",
        under_test.len(),
        r.apr_label(),
        c.pass,
        c.fail,
        c.blocked,
        c.skip,
        groups.len(),
        if groups.len() == 1 { "" } else { "s" }
    ));
    let causes = previous.map(|p| crate::delta::causes(p, r));
    if !groups.is_empty() {
        match (&causes, previous) {
            (Some(causes), Some(p)) => {
                s.push_str(&format!(
                    "| # | Root cause | Impact | Checks | Since {} |\n|---|------------|--------|--------|--------|\n",
                    p.apr_label()
                ));
                for (i, ((sig, outs), c)) in groups.iter().zip(causes).enumerate() {
                    let was = c.was.as_ref().map(|w| format!(" (was: {})", w.replace('|', "\\|"))).unwrap_or_default();
                    s.push_str(&format!(
                        "| {} | {} | {} | {} | {}{was} |\n",
                        i + 1,
                        sig.replace('|', "\\|"),
                        outs.len(),
                        suites_summary(outs),
                        c.standing.label()
                    ));
                }
            }
            _ => {
                s.push_str("| # | Root cause | Impact | Checks |\n|---|------------|--------|--------|\n");
                for (i, (sig, outs)) in groups.iter().enumerate() {
                    s.push_str(&format!("| {} | {} | {} | {} |\n", i + 1, sig.replace('|', "\\|"), outs.len(), suites_summary(outs)));
                }
            }
        }
        s.push('\n');
    }
    if let (Some(causes), Some(p)) = (&causes, previous) {
        let gone: Vec<String> = causes
            .iter()
            .filter(|c| c.standing == crate::delta::Standing::Gone)
            .map(|c| format!("- {} ({} checks then)\n", c.signature, c.checks_before))
            .collect();
        if !gone.is_empty() {
            s.push_str(&format!("Root causes of {} gone in {}:\n\n{}\n", p.apr_label(), r.apr_label(), gone.concat()));
        }
    }
    s.push_str("### Source\n\n");
    s.push_str(&format!("- Harness: tiny-model-ground-truth xtask {} (greedy parity against a reference oracle)\n", r.harness_version));
    s.push_str(&format!("- Run: {}\n", r.started_at));
    s.push_str(&format!(
        "- apr: {} (commit {})\n",
        r.apr_version.as_deref().unwrap_or("unknown"),
        r.apr_commit.as_deref().unwrap_or("unknown")
    ));
    s.push_str(&format!("- Oracle: {}\n", r.oracle));
    s.push_str(&format!("- Comparators (blame rests on those that ran): {}\n\n", comparators_line(r)));
    if groups.is_empty() {
        s.push_str("No findings.\n");
        return s;
    }
    s.push_str("### Findings by root cause\n\n");
    for (i, (sig, outs)) in groups.iter().enumerate() {
        s.push_str(&group_section(r, i + 1, sig, outs));
    }
    s
}

/// Each comparator of the run with its version, or why it did not run.
fn comparators_line(r: &RunResults) -> String {
    let listed: Vec<String> = r
        .receipt
        .runtimes
        .iter()
        .filter(|(name, _)| name.as_str() != crate::judge::APR && !name.contains(' '))
        .map(|(name, v)| format!("{name} ({})", crate::judge::truncate(&crate::judge::portable_paths(v), 100)))
        .collect();
    if listed.is_empty() {
        "none recorded".into()
    } else {
        listed.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{assert_snapshot, sample_results};

    #[test]
    fn the_source_names_each_comparator_or_why_it_did_not_run() {
        let mut r = sample_results();
        assert!(ticket(&r).contains("- Comparators (blame rests on those that ran): none recorded"));
        r.receipt.runtimes.insert("apr".into(), "apr 0.72.3".into());
        r.receipt.runtimes.insert("candle".into(), "candle 0.11.1 (oracle-gen)".into());
        r.receipt.runtimes.insert("llama.cpp".into(), "unavailable: llama.cpp comparator off (TMGT_LLAMACPP=off)".into());
        r.receipt.runtimes.insert("oracle-gen source".into(), "abc".into());
        assert!(
            ticket(&r).contains("- Comparators (blame rests on those that ran): candle (candle 0.11.1 (oracle-gen)); llama.cpp (unavailable: llama.cpp comparator off (TMGT_LLAMACPP=off))"),
            "{}",
            ticket(&r)
        );
    }

    #[test]
    fn ticket_matches_snapshot() {
        let r = sample_results();
        let t = ticket(&r);
        assert!(t.contains("### Summary") && t.contains("### Source") && t.contains("apr: 0.72.3 (commit 0123456789abcdef)"));
        assert!(t.contains("cargo xtask pull --model tiny-a") && t.contains("cd models/tiny-a"));
        assert!(!t.contains("/tmp/") && !t.contains("/work/"), "no absolute paths of the harness machine");
        assert_snapshot("ticket.md", &t);
    }

    #[test]
    fn one_cause_across_suites_and_models_is_one_section() {
        let r = sample_results();
        let groups = groups(&r);
        let t = ticket(&r);
        // Every problem outcome about apr is in exactly one group; nothing else is.
        let total: usize = groups.iter().map(|(_, v)| v.len()).sum();
        assert_eq!(total, r.outcomes.iter().filter(|o| o.status.is_problem() && o.subject.is_under_test()).count());
        assert!(groups.iter().flat_map(|(_, v)| v).all(|o| o.subject.is_under_test()));
        let (sig, outs) = groups.iter().find(|(s, _)| s == "apr: generates other tokens than the oracle").expect("wrong-output group");
        assert!(outs.iter().any(|o| o.model == "tiny-a") && outs.iter().any(|o| o.model == "tiny-b"));
        assert!(outs.iter().map(|o| &o.suite).collect::<std::collections::BTreeSet<_>>().len() >= 2, "{sig}: several suites");
        assert!(t.contains(&format!("**Impact: {} checks**", outs.len())));
        assert_eq!(t.matches(&format!(". {sig}\n")).count(), 1);
        // groups with a FAIL before groups only BLOCKED, bigger first
        let first_blocked_only = groups.iter().position(|(_, v)| v.iter().all(|o| o.status == Verdict::Blocked)).unwrap_or(groups.len());
        assert!(groups[..first_blocked_only].windows(2).all(|w| w[0].1.len() >= w[1].1.len()));
    }

    #[test]
    fn commands_are_portable() {
        let inv = Invocation {
            command: vec![
                "/root/.cargo/bin/apr".into(),
                "import".into(),
                "/work/main/models/smollm2/reference".into(),
                "--quantize".into(),
                "int8".into(),
                "-o".into(),
                "/work/main/models/smollm2/.tmp-int8.apr".into(),
            ],
            ..Default::default()
        };
        assert_eq!(portable_command(&inv), "apr import reference --quantize int8 -o int8.apr");
        let run = Invocation {
            command: vec!["apr".into(), "run".into(), "int8.apr".into(), "-p".into(), "It's 2+2?".into()],
            cwd: Some("/work/main/models/smollm2".into()),
            ..Default::default()
        };
        assert_eq!(portable_command(&run), r"apr run int8.apr -p 'It'\''s 2+2?'");
    }

    #[test]
    fn a_group_is_attributed_by_its_failures_not_by_what_they_block() {
        use crate::judge::{subject, Case, Evidence};
        let crash = Case::new("convert", "m", "int4", subject::CONVERTER).fail("import crashed", "sig", Evidence::default());
        let blocked = Case::new("divergence", "m", "apr/int4/code", subject::EITHER).blocked("blocked", "sig", Evidence::default());
        assert_eq!(attribution(&[&crash, &blocked]), "apr's converter (the file it wrote)");
        assert_eq!(
            attribution(&[&blocked]),
            "apr (converter or runtime: no second engine reads APR files to tell them apart)",
            "only blocked checks: theirs"
        );
        let run = Case::new("divergence", "m", "apr/q8_0-gguf/code", subject::RUNTIME).fail("x", "sig", Evidence::default());
        assert_eq!(attribution(&[&crash, &run, &blocked]), "apr's converter and runtime (checks of both kinds)");
    }

    #[test]
    fn a_repro_makes_what_its_input_is_made_from_first() {
        use crate::judge::{subject, Case, Evidence};
        let mut r = sample_results();
        let made = &mut r.provenance.get_mut("tiny-a").unwrap().made_by;
        for a in ["int4", "int4-gguf", "roundtrip", "q4_0-gguf"] {
            made.insert(a.into(), crate::convert::portable_recipe(a).unwrap());
        }
        let o = Case::new("divergence", "tiny-a", "apr/roundtrip/code", subject::EITHER).fail("x", "sig", Evidence::default());
        let text = repro(&r, &[&o]);
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("# makes")).collect();
        assert_eq!(
            lines,
            vec![
                "apr import reference --quantize int4 -o int4.apr --offline    # makes int4",
                "apr export int4.apr --format gguf -o int4.gguf --offline    # makes int4-gguf",
                "apr import int4.gguf -o roundtrip.apr --offline    # makes roundtrip",
            ],
            "{text}"
        );
        // The harness's own tools are built from the clone, not found on PATH.
        let o = Case::new("divergence", "tiny-a", "candle/q4_0-gguf/code", subject::EITHER).fail("x", "sig", Evidence::default());
        assert!(
            repro(&r, &[&o]).contains(
                "cargo run -q --release --manifest-path ../../Cargo.toml -p oracle-gen -- export-gguf reference --quant q4_0 --out q4_0.gguf    # makes q4_0-gguf"
            ),
            "{}",
            repro(&r, &[&o])
        );
    }

    #[test]
    fn fences_survive_backticks_in_evidence() {
        assert_eq!(fenced("", "a ``` b"), "````\na ``` b\n````\n");
    }

    #[test]
    fn no_findings_says_so() {
        let mut r = sample_results();
        r.outcomes.retain(|o| o.status == Verdict::Pass || !o.subject.is_under_test());
        assert!(ticket(&r).ends_with("No findings.\n"));
    }
}
