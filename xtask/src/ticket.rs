//! `cargo xtask ticket`: an issue body for the runtime's maintainers: summary, source,
//! tool versions, oracle provenance, then the failures grouped by root-cause signature
//! (one section per cause with its impact, affected models, evidence, expected vs
//! actual, and the exact commands that reproduce it).

use crate::judge::{truncate, Outcome, Status};
use crate::report::{problem_groups, Counts, RunResults};
use std::collections::BTreeMap;

const EVIDENCE_CHARS: usize = 1500;

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

fn group_section(n: usize, sig: &str, outs: &[&Outcome]) -> String {
    let mut s = String::new();
    let kind = if outs.iter().all(|o| o.status == Status::Blocked) { "blocked" } else { "failing" };
    s.push_str(&format!("#### {n}. {sig}\n\n"));
    s.push_str(&format!("**Impact: {} checks** {kind} ({})\n\n", outs.len(), suites_summary(outs)));

    // Affected models.
    let mut by_model: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in outs {
        by_model.entry(&o.model).or_default().push(o);
    }
    s.push_str("| Model | Checks | Subjects |\n|-------|--------|----------|\n");
    for (model, os) in &by_model {
        let subjects: Vec<String> = os.iter().map(|o| format!("{} {}", o.suite, o.subject)).collect();
        s.push_str(&format!("| {model} | {} | {} |\n", os.len(), truncate(&subjects.join(", "), 300).replace('|', "\\|")));
    }
    s.push('\n');

    // Evidence of the first example.
    let ex = outs[0];
    s.push_str(&format!("Example: `{}/{}/{}`: {}\n\n", ex.suite, ex.model, ex.subject, ex.note));
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
        let mut raw = format!("$ {}\n", inv.command_line());
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

    // Reproduce: the harness checks, then the raw commands.
    let mut cmds: Vec<String> = Vec::new();
    for o in outs {
        let c = format!("cargo xtask check --suite {} --model {}", o.suite, o.model);
        if !cmds.contains(&c) {
            cmds.push(c);
        }
    }
    let mut raw_cmds: Vec<String> = Vec::new();
    for o in outs {
        for line in &o.evidence.reproduce {
            if !raw_cmds.contains(line) && raw_cmds.len() < 6 {
                raw_cmds.push(line.clone());
            }
        }
    }
    let mut repro = cmds.join("\n");
    if !raw_cmds.is_empty() {
        repro.push_str("\n# the runtime directly:\n");
        repro.push_str(&raw_cmds.join("\n"));
    }
    s.push_str("**Reproduce:**\n\n");
    s.push_str(&fenced("bash", &repro));
    s.push('\n');
    s
}

/// The ticket's markdown; a short "no failures" body when every check passed.
pub fn ticket(r: &RunResults) -> String {
    let c = Counts::of(&r.outcomes);
    let groups = problem_groups(&r.outcomes);
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
        "{} of {} checks passed, {} failed, {} blocked, {} skipped; the problems trace to {} root cause{}.\n\n",
        c.pass,
        r.outcomes.len(),
        c.fail,
        c.blocked,
        c.skip,
        groups.len(),
        if groups.len() == 1 { "" } else { "s" }
    ));
    if !groups.is_empty() {
        s.push_str("| # | Root cause | Impact | Checks |\n|---|------------|--------|--------|\n");
        for (i, (sig, outs)) in groups.iter().enumerate() {
            s.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                i + 1,
                sig.replace('|', "\\|"),
                outs.len(),
                suites_summary(outs)
            ));
        }
        s.push('\n');
    }
    s.push_str("### Source\n\n");
    s.push_str(&format!(
        "- Harness: tiny-model-ground-truth xtask {} (greedy parity against a reference oracle)\n",
        r.harness_version
    ));
    s.push_str(&format!("- Run: {}\n", r.started_at));
    s.push_str(&format!(
        "- apr: {} (commit {})\n",
        r.apr_version.as_deref().unwrap_or("unknown"),
        r.apr_commit.as_deref().unwrap_or("unknown")
    ));
    s.push_str(&format!("- Oracle: {}\n\n", r.oracle));
    if groups.is_empty() {
        s.push_str("No failures.\n");
        return s;
    }
    s.push_str("### Failures by root cause\n\n");
    for (i, (sig, outs)) in groups.iter().enumerate() {
        s.push_str(&group_section(i + 1, sig, outs));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{assert_snapshot, fixed_results};

    #[test]
    fn ticket_matches_snapshot() {
        let r = fixed_results();
        let t = ticket(&r);
        assert!(t.contains("### Summary") && t.contains("### Source") && t.contains("apr: 0.72.3 (commit 0123456789abcdef)"));
        assert!(t.contains("cargo xtask check --suite canary --model tiny-a"));
        assert_snapshot("ticket.md", &t);
    }

    #[test]
    fn one_cause_across_suites_and_models_is_one_section() {
        let r = fixed_results();
        let groups = problem_groups(&r.outcomes);
        let t = ticket(&r);
        // Every problem outcome is in exactly one group, and groups are named once.
        let total: usize = groups.iter().map(|(_, v)| v.len()).sum();
        assert_eq!(total, r.outcomes.iter().filter(|o| o.status.is_problem()).count());
        let (sig, outs) = groups.iter().find(|(s, _)| s.contains("apr on int8")).expect("int8 group");
        assert!(outs.iter().any(|o| o.model == "tiny-a") && outs.iter().any(|o| o.model == "tiny-b"));
        assert!(outs.iter().map(|o| &o.suite).collect::<std::collections::BTreeSet<_>>().len() >= 2, "{sig}: several suites");
        assert!(t.contains(&format!("**Impact: {} checks**", outs.len())));
        assert_eq!(t.matches(&format!(". {sig}\n")).count(), 1);
    }

    #[test]
    fn fences_survive_backticks_in_evidence() {
        assert_eq!(fenced("", "a ``` b"), "````\na ``` b\n````\n");
    }

    #[test]
    fn all_pass_says_so() {
        let mut r = fixed_results();
        r.outcomes.retain(|o| o.status == Status::Pass);
        assert!(ticket(&r).ends_with("No failures.\n"));
    }
}
