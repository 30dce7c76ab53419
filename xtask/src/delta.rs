//! Retest delta: two runs' results compared check by check (suite, model, case):
//! what was fixed, what regressed, what is still failing, what is new or gone. Also
//! how results files are named and which earlier run a retest compares against.

use crate::judge::{Outcome, Verdict};
use crate::report::RunResults;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub suite: String,
    pub model: String,
    pub case: String,
    /// Whom the check is about (the runtime under test, a comparator, …).
    pub subject: crate::judge::Subject,
    pub before: Option<Verdict>,
    pub after: Option<Verdict>,
    /// The current note (or the previous one for checks that are gone).
    pub note: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// FAIL/BLOCKED before, PASS now.
    pub fixed: Vec<Change>,
    /// PASS before, FAIL/BLOCKED now.
    pub regressed: Vec<Change>,
    /// FAIL/BLOCKED both times.
    pub still_failing: Vec<Change>,
    /// Not in the previous run.
    pub new: Vec<Change>,
    /// In the previous run, not in this one.
    pub gone: Vec<Change>,
    /// Any other status change (e.g. to or from SKIP).
    pub changed: Vec<Change>,
}

type Key = (String, String, String);

fn index(r: &RunResults) -> BTreeMap<Key, &Outcome> {
    r.outcomes.iter().map(|o| (o.key(), o)).collect()
}

pub fn delta(previous: &RunResults, current: &RunResults) -> Delta {
    let (before, after) = (index(previous), index(current));
    let mut d = Delta::default();
    let change = |k: &Key, b: Option<&&Outcome>, a: Option<&&Outcome>| Change {
        suite: k.0.clone(),
        model: k.1.clone(),
        case: k.2.clone(),
        subject: a.or(b).map(|o| o.subject.clone()).unwrap_or(crate::judge::Subject::Harness),
        before: b.map(|o| o.status),
        after: a.map(|o| o.status),
        note: a.or(b).map(|o| o.note.clone()).unwrap_or_default(),
    };
    for (k, a) in &after {
        match before.get(k) {
            None => d.new.push(change(k, None, Some(a))),
            Some(b) => {
                let c = change(k, Some(b), Some(a));
                match (b.status.is_problem(), b.status, a.status.is_problem(), a.status) {
                    (true, _, false, Verdict::Pass) => d.fixed.push(c),
                    (false, Verdict::Pass, true, _) => d.regressed.push(c),
                    (true, _, true, _) => d.still_failing.push(c),
                    _ if b.status != a.status => d.changed.push(c),
                    _ => {}
                }
            }
        }
    }
    for (k, b) in &before {
        if !after.contains_key(k) {
            d.gone.push(change(k, Some(b), None));
        }
    }
    d
}

fn status_str(s: Option<Verdict>) -> &'static str {
    s.map_or("—", Verdict::as_str)
}

/// The "retest update" a maintainer wants after an upgrade, markdown.
pub fn render(previous: &RunResults, current: &RunResults, d: &Delta) -> String {
    let mut s = format!("## Retest: {} ({}) → {} ({})\n\n", previous.apr_label(), previous.date(), current.apr_label(), current.date());
    s.push_str(&format!(
        "Fixed {}, regressed {}, still failing {}, new {}, gone {}, other changes {}.\n",
        d.fixed.len(),
        d.regressed.len(),
        d.still_failing.len(),
        d.new.len(),
        d.gone.len(),
        d.changed.len()
    ));
    for (title, list) in [
        ("Regressed", &d.regressed),
        ("Fixed", &d.fixed),
        ("Still failing", &d.still_failing),
        ("New checks", &d.new),
        ("Gone", &d.gone),
        ("Other changes", &d.changed),
    ] {
        if list.is_empty() {
            continue;
        }
        s.push_str(&format!("\n### {title} ({})\n\n", list.len()));
        for c in list {
            s.push_str(&format!(
                "- `{}/{}/{}` [{}]: {} → {}: {}\n",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_results;

    #[test]
    fn classifies_every_kind_of_change() {
        let prev = sample_results();
        let mut cur = prev.clone();
        cur.started_at = "2026-12-01T00:00:00Z".into();
        cur.apr_version = Some("0.73.0".into());
        let fail_i = cur.outcomes.iter().position(|o| o.status == Verdict::Fail).unwrap();
        let pass_i = cur.outcomes.iter().position(|o| o.status == Verdict::Pass).unwrap();
        let skip_i = cur.outcomes.iter().position(|o| o.status == Verdict::Skip).unwrap();
        cur.outcomes[fail_i].status = Verdict::Pass;
        cur.outcomes[pass_i].status = Verdict::Blocked;
        cur.outcomes[skip_i].status = Verdict::Pass;
        let gone = cur.outcomes.pop().unwrap();
        let mut extra = cur.outcomes[0].clone();
        extra.case = "brand-new".into();
        cur.outcomes.push(extra);

        let d = delta(&prev, &cur);
        assert_eq!(d.fixed.len(), 1);
        assert_eq!(d.fixed[0].case, prev.outcomes[fail_i].case);
        assert_eq!(d.regressed.len(), 1);
        assert_eq!(d.regressed[0].after, Some(Verdict::Blocked));
        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.new.len(), 1);
        assert_eq!(d.gone.len(), 1);
        assert_eq!(d.gone[0].case, gone.case);
        let problems_before = prev.outcomes.iter().filter(|o| o.status.is_problem()).count();
        let gone_problem = usize::from(gone.status.is_problem());
        assert_eq!(d.still_failing.len(), problems_before - 1 - gone_problem);
        let text = render(&prev, &cur, &d);
        assert!(text.starts_with("## Retest: apr 0.72.3 (0123456789) (2026-11-27) → apr 0.73.0 (0123456789) (2026-12-01)"), "{text}");
        assert!(text.contains("### Regressed (1)") && text.contains("PASS → BLOCKED"));
    }

    #[test]
    fn identical_runs_have_only_still_failing() {
        let r = sample_results();
        let d = delta(&r, &r);
        assert!(d.fixed.is_empty() && d.regressed.is_empty() && d.new.is_empty() && d.gone.is_empty() && d.changed.is_empty());
        assert_eq!(d.still_failing.len(), r.outcomes.iter().filter(|o| o.status.is_problem()).count());
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
        assert_eq!(results_file_name(&cur), "2026-04-01T00-00-00Z_apr-0.72.3.json");
        let mut shard = cur.clone();
        shard.receipt.shard = crate::shard::Shard { index: 2, count: 3 };
        assert_eq!(results_file_name(&shard), "2026-04-01T00-00-00Z_apr-0.72.3_shard-2-of-3.json");
    }
}
