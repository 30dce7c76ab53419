//! Reporting: the results file of a run (`RunResults`), the parity status table
//! (markdown via comfy-table, one row per suite, the seed's look), its splice into
//! CLAUDE.md between two marker comments, JUnit XML, terminal lines and exit codes.

use crate::judge::{Outcome, Status, SUITES};
use anyhow::{bail, Context, Result};
use comfy_table::{presets::ASCII_MARKDOWN, ContentArrangement, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const RESULTS_SCHEMA_VERSION: u32 = 1;
pub const BEGIN_MARKER: &str = "<!-- parity-status:begin -->";
pub const END_MARKER: &str = "<!-- parity-status:end -->";

/// Everything one run judged, with the provenance a reader needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    pub schema_version: u32,
    /// RFC 3339 UTC, e.g. 2026-11-27T03:10:00Z.
    pub started_at: String,
    pub apr_version: Option<String>,
    pub apr_commit: Option<String>,
    /// Oracle provenance, e.g. "oracle-gen 0.1.0, candle 0.11.1, f32, CPU, greedy".
    pub oracle: String,
    pub harness_version: String,
    pub outcomes: Vec<Outcome>,
}

impl RunResults {
    pub fn read(path: &Path) -> Result<RunResults> {
        let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read results", path.display()))?;
        let r: RunResults = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a results file (schema version {RESULTS_SCHEMA_VERSION})", path.display()))?;
        if r.schema_version != RESULTS_SCHEMA_VERSION {
            bail!("{}: results schema_version {} (this build reads {RESULTS_SCHEMA_VERSION})", path.display(), r.schema_version);
        }
        Ok(r)
    }

    /// The `--json` output: pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("results serialize");
        s.push('\n');
        s
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        tmgt_schema::write_atomic(path, self.to_json().as_bytes())
    }

    pub fn date(&self) -> &str {
        self.started_at.get(..10).unwrap_or(&self.started_at)
    }

    pub fn apr_label(&self) -> String {
        match (&self.apr_version, &self.apr_commit) {
            (Some(v), Some(c)) => format!("apr {v} ({})", c.get(..c.len().min(10)).unwrap_or(c)),
            (Some(v), None) => format!("apr {v}"),
            (None, _) => "apr (version unknown)".into(),
        }
    }

    pub fn models(&self) -> Vec<&str> {
        let mut m: Vec<&str> = self.outcomes.iter().map(|o| o.model.as_str()).collect();
        m.sort();
        m.dedup();
        m
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub blocked: usize,
    pub skip: usize,
}

impl Counts {
    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Counts {
        let mut c = Counts::default();
        for o in outcomes {
            match o.status {
                Status::Pass => c.pass += 1,
                Status::Fail => c.fail += 1,
                Status::Blocked => c.blocked += 1,
                Status::Skip => c.skip += 1,
            }
        }
        c
    }

    /// Checks that reached a verdict or should have: everything but SKIP.
    pub fn judged(&self) -> usize {
        self.pass + self.fail + self.blocked
    }

    /// The Result column: "4/4 PASS", "0/12 FAIL", "3/4 FAIL, 1 blocked", "1 skip".
    pub fn result_cell(&self) -> String {
        let judged = self.judged();
        let mut s = if judged == 0 {
            return format!("{} skip", self.skip);
        } else if self.fail + self.blocked == 0 {
            format!("{}/{judged} PASS", self.pass)
        } else if self.fail > 0 {
            let mut s = format!("{}/{judged} FAIL", self.pass);
            if self.blocked > 0 {
                s.push_str(&format!(", {} blocked", self.blocked));
            }
            s
        } else {
            format!("{}/{judged} BLOCKED", self.pass)
        };
        if self.skip > 0 {
            s.push_str(&format!(", {} skip", self.skip));
        }
        s
    }
}

/// What a suite claims, shown when every check of it passed.
pub fn suite_claim(suite: &str) -> &'static str {
    match suite {
        "canary" => "Int8 text == oracle text",
        "token-parity" => "Int4 ≤5/32, Int8 ≤3/32 mismatches",
        "quant-drift" => "Int8 ≤ Int4+1 holds",
        "roundtrip" => "APR→GGUF→APR tokens identical",
        "ppl" => "PPL under ceiling, Int4/Int8 diff < 0.5",
        "inspect" => "Metadata matches config.json",
        "validate" => "Validation passes",
        "tensors" => "Tensor names and shapes match the checkpoint",
        "lint" => "No lint errors",
        "selftest" => "apr check passes",
        "diff" => "Int4 vs Int8: dtype/size differences only",
        "tree" => "Tensor tree matches the checkpoint",
        "oracle-id" => "Architecture identified",
        "hex" => "Non-zero tensor data",
        "debug" => "Health OK",
        "bench" => "Throughput > 0",
        "qa" => "QA gates pass",
        "list" => "Cache listing works",
        "rosetta-diff" => "No layout mismatches",
        "parity-gpu" => "GPU/CPU parity",
        "tokenizer" => "Prompt ids identical",
        "divergence" => "No confident divergence",
        "logprobs" => "Logprobs agree with the oracle",
        "reference-ppl" => "PPL within bound of the oracle's",
        "cross-runtime" => "Runtimes agree on the same GGUF",
        "precision" => "BF16/FP16 bounds and ladder hold",
        _ => "All checks pass",
    }
}

/// One row of the status table.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteRow {
    pub suite: String,
    pub counts: Counts,
    pub note: String,
}

/// Problem outcomes grouped by signature, largest group first (ties: first seen).
pub fn problem_groups<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Vec<(String, Vec<&'a Outcome>)> {
    let mut groups: Vec<(String, Vec<&Outcome>)> = Vec::new();
    for o in outcomes.into_iter().filter(|o| o.status.is_problem()) {
        let sig = if o.signature.is_empty() { o.note.clone() } else { o.signature.clone() };
        match groups.iter_mut().find(|(s, _)| *s == sig) {
            Some((_, v)) => v.push(o),
            None => groups.push((sig, vec![o])),
        }
    }
    // Stable: FAIL groups before BLOCKED ones, then by size.
    groups.sort_by_key(|(_, v)| (v.iter().all(|o| o.status == Status::Blocked), std::cmp::Reverse(v.len())));
    groups
}

fn row_note(suite: &str, outs: &[&Outcome], counts: &Counts) -> String {
    if counts.fail + counts.blocked > 0 {
        let groups = problem_groups(outs.iter().copied());
        let (_, first) = &groups[0];
        let mut note = crate::judge::truncate(&first[0].note, 72);
        if groups.len() > 1 {
            note.push_str(&format!(" (+{} other cause{})", groups.len() - 1, if groups.len() > 2 { "s" } else { "" }));
        }
        note
    } else if counts.pass > 0 {
        suite_claim(suite).to_string()
    } else {
        outs.first().map(|o| crate::judge::truncate(&o.note, 72)).unwrap_or_default()
    }
}

/// Rows in `SUITES` order, then any other suite names found, in order of appearance.
pub fn suite_rows(r: &RunResults) -> Vec<SuiteRow> {
    let mut order: Vec<&str> = SUITES.to_vec();
    for o in &r.outcomes {
        if !order.contains(&o.suite.as_str()) {
            order.push(&o.suite);
        }
    }
    order
        .into_iter()
        .filter_map(|suite| {
            let outs: Vec<&Outcome> = r.outcomes.iter().filter(|o| o.suite == suite).collect();
            if outs.is_empty() {
                return None;
            }
            let counts = Counts::of(outs.iter().copied());
            Some(SuiteRow { suite: suite.to_string(), note: row_note(suite, &outs, &counts), counts })
        })
        .collect()
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The heading and the table, markdown, ready for CLAUDE.md.
pub fn status_table(r: &RunResults) -> String {
    let mut table = Table::new();
    table.load_preset(ASCII_MARKDOWN).set_content_arrangement(ContentArrangement::Disabled).force_no_tty();
    table.set_header(vec!["Check", "Result", "Notes"]);
    let rows = suite_rows(r);
    for row in &rows {
        table.add_row(vec![md_cell(&row.suite), row.counts.result_cell(), md_cell(&row.note)]);
    }
    let total = Counts::of(&r.outcomes);
    let mut failures = format!("{} failures", total.fail);
    if total.blocked > 0 {
        failures.push_str(&format!(", {} blocked", total.blocked));
    }
    if total.skip > 0 {
        failures.push_str(&format!(", {} skipped", total.skip));
    }
    table.add_row(vec![
        "**Total**".to_string(),
        format!("**{}/{}**", total.pass, total.judged()),
        format!("**{failures}**"),
    ]);
    let models = r.models().join(", ");
    let lines: Vec<String> = table.lines().map(|l| l.trim_end().to_string()).collect();
    format!(
        "## Parity Status ({}, {})\n\nOracle: {}. Models: {}. Harness {}; {} checks.\n\n{}\n",
        r.date(),
        r.apr_label(),
        r.oracle,
        if models.is_empty() { "none".into() } else { models },
        r.harness_version,
        r.outcomes.len(),
        lines.join("\n")
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spliced {
    /// The text between the markers was replaced.
    Replaced,
    /// There were no markers: a marked section was appended at the end.
    Appended,
}

/// `text` with everything strictly between the markers replaced by `block`; the
/// rest byte-identical. No markers: the marked block is appended.
pub fn splice(text: &str, block: &str) -> Result<(String, Spliced)> {
    let body = format!("\n{}\n", block.trim_end_matches('\n'));
    match (text.find(BEGIN_MARKER), text.find(END_MARKER)) {
        (Some(b), Some(e)) if b < e => {
            if text.matches(BEGIN_MARKER).count() > 1 || text.matches(END_MARKER).count() > 1 {
                bail!("more than one {BEGIN_MARKER} / {END_MARKER} pair");
            }
            let start = b + BEGIN_MARKER.len();
            Ok((format!("{}{}{}", &text[..start], body, &text[e..]), Spliced::Replaced))
        }
        (None, None) => {
            let sep = if text.is_empty() || text.ends_with("\n\n") {
                ""
            } else if text.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            Ok((format!("{text}{sep}{BEGIN_MARKER}{body}{END_MARKER}\n"), Spliced::Appended))
        }
        (Some(_), Some(_)) => bail!("{END_MARKER} comes before {BEGIN_MARKER}"),
        (Some(_), None) => bail!("{BEGIN_MARKER} without {END_MARKER}"),
        (None, Some(_)) => bail!("{END_MARKER} without {BEGIN_MARKER}"),
    }
}

/// `status --write`: puts `table` between the markers of CLAUDE.md at `path`.
pub fn write_claude_md(path: &Path, table: &str) -> Result<Spliced> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let (new, how) = splice(&text, table).with_context(|| format!("{}: cannot place the status table", path.display()))?;
    if new != text {
        tmgt_schema::write_atomic(path, new.as_bytes())?;
    }
    Ok(how)
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Plain-text evidence for a failure body.
pub fn evidence_text(o: &Outcome) -> String {
    let mut s = String::new();
    if let Some(e) = &o.evidence.expected {
        s.push_str(&format!("expected: {}\n", crate::judge::truncate(e, 2000)));
    }
    if let Some(a) = &o.evidence.actual {
        s.push_str(&format!("actual:   {}\n", crate::judge::truncate(a, 2000)));
    }
    for line in &o.evidence.reproduce {
        s.push_str(&format!("$ {line}\n"));
    }
    s
}

/// JUnit XML: one testsuite per suite, one testcase per outcome; FAIL is a failure,
/// BLOCKED an error, SKIP skipped.
pub fn junit(r: &RunResults) -> String {
    let total = Counts::of(&r.outcomes);
    let mut by_suite: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in &r.outcomes {
        by_suite.entry(&o.suite).or_default().push(o);
    }
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"tiny-model-ground-truth\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">\n",
        r.outcomes.len(),
        total.fail,
        total.blocked,
        total.skip
    ));
    for suite in suite_rows(r).iter().map(|row| row.suite.as_str()) {
        let outs = &by_suite[suite];
        let c = Counts::of(outs.iter().copied());
        x.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">\n",
            xml_escape(suite),
            outs.len(),
            c.fail,
            c.blocked,
            c.skip
        ));
        for o in outs {
            let time: f64 = o.evidence.invocations.iter().map(|i| i.duration_s).sum();
            x.push_str(&format!(
                "    <testcase classname=\"{}.{}\" name=\"{}\" time=\"{time:.3}\"",
                xml_escape(&o.suite),
                xml_escape(&o.model),
                xml_escape(&o.subject)
            ));
            match o.status {
                Status::Pass => x.push_str("/>\n"),
                Status::Skip => x.push_str(&format!(">\n      <skipped message=\"{}\"/>\n    </testcase>\n", xml_escape(&o.note))),
                Status::Fail | Status::Blocked => {
                    let tag = if o.status == Status::Fail { "failure" } else { "error" };
                    x.push_str(&format!(
                        ">\n      <{tag} type=\"{}\" message=\"{}\">{}</{tag}>\n    </testcase>\n",
                        o.status.as_str(),
                        xml_escape(&o.note),
                        xml_escape(&evidence_text(o))
                    ));
                }
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

/// One terminal line per outcome; ANSI colour only when `color` (i.e. on a TTY).
pub fn outcome_line(o: &Outcome, color: bool) -> String {
    let tag = format!("{:<7}", o.status.as_str());
    let tag = if color {
        let code = match o.status {
            Status::Pass => "32",
            Status::Fail => "31",
            Status::Blocked => "33",
            Status::Skip => "90",
        };
        format!("\x1b[{code}m{tag}\x1b[0m")
    } else {
        tag
    };
    format!("{tag} {}/{}/{}: {}", o.suite, o.model, o.subject, o.note)
}

/// 0: every judged check passed (SKIP allowed); 1: some FAIL or BLOCKED; 2: nothing
/// was judged at all (the harness could not run; never a vacuous success).
pub fn exit_code(r: &RunResults) -> i32 {
    if r.outcomes.is_empty() {
        2
    } else if r.outcomes.iter().any(|o| o.status.is_problem()) {
        1
    } else {
        0
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::judge::{self, testutil::*, GenKey, ModelEvidence, Observed, StructureKey, Tolerances, APR};
    use std::path::PathBuf;
    use tmgt_schema::Score;

    pub fn fixture_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
    }

    /// Evidence with a bit of everything: passes, bound failures, a crash, a blocked
    /// conversion, an unparsed structure output, skips.
    fn sample_evidence(slug: &str) -> ModelEvidence {
        let mut ev = evidence();
        ev.slug = slug.into();
        let base = seq(32);
        set_all(&mut ev, APR, "int8", &base);
        set_all(&mut ev, APR, "int4", &with_mismatches(&base, 2));
        ev.generations.insert(GenKey::new(APR, "int8", "code"), ok(gen(with_mismatches(&base, 4))));
        ev.generations.insert(
            GenKey::new(APR, "int4", "greeting"),
            Observed::Failed {
                error: "apr run printed no JSON".into(),
                invocation: inv(&["apr", "run", "models/x/int4.apr", "-p", "Hello, my name is", "-n", "32", "--json"], "Hello, my name is Bob\n"),
            },
        );
        for p in ["completion", "arithmetic"] {
            ev.generations.insert(
                GenKey::new(APR, "roundtrip", p),
                Observed::Blocked { step: "apr import int4.gguf".into(), reason: "unsupported GGUF tensor type Q4_K".into() },
            );
        }
        ev.scores.insert((APR.into(), "int4".into()), ok(Score { perplexity: 13.2, token_count: Some(120), mean_nll: None }));
        ev.scores.insert((APR.into(), "int8".into()), ok(Score { perplexity: 12.1, token_count: Some(120), mean_nll: None }));
        ev.reference_score = Some(Score { perplexity: 11.9, token_count: Some(120), mean_nll: None });
        ev.truth = Some(judge::structure::tests::smollm2_truth());
        let real = |name: &str, args: &[&str]| Observed::Ok {
            value: judge::structure::tests::json(name),
            invocation: inv(args, &judge::structure::tests::fixture(name)),
        };
        ev.structure.insert(StructureKey::new("tensors", "int8"), real("tensors-int8.json", &["apr", "tensors", "int8.apr", "--json"]));
        ev.structure.insert(StructureKey::new("inspect", "int4"), real("inspect-int4.json", &["apr", "inspect", "int4.apr", "--json"]));
        ev.structure.insert(StructureKey::new("lint", "int8"), real("lint-int8.json", &["apr", "lint", "int8.apr", "--json"]));
        ev.structure.insert(
            StructureKey::new("inspect", "int8"),
            Observed::Ok { value: serde_json::json!({"weird": true}), invocation: inv(&["apr", "inspect", "int8.apr", "--json"], "{\"weird\":true}") },
        );
        ev
    }

    pub fn sample_results() -> RunResults {
        let tol = Tolerances::default();
        let mut outcomes = judge::judge_model(&sample_evidence("tiny-a"), &tol);
        outcomes.extend(judge::judge_model(&sample_evidence("tiny-b"), &tol));
        RunResults {
            schema_version: RESULTS_SCHEMA_VERSION,
            started_at: "2026-11-27T03:00:00Z".into(),
            apr_version: Some("0.72.3".into()),
            apr_commit: Some("0123456789abcdef".into()),
            oracle: "oracle-gen 0.1.0, candle 0.11.1, float32, cpu, greedy".into(),
            harness_version: "0.1.0".into(),
            outcomes,
        }
    }

    /// Compares `actual` with the committed snapshot; `UPDATE_SNAPSHOTS=1` rewrites it.
    pub fn assert_snapshot(name: &str, actual: &str) {
        let path = fixture_dir().join("snapshots").join(name);
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, actual).unwrap();
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{}: no snapshot (run with UPDATE_SNAPSHOTS=1)", path.display()));
        assert!(expected == actual, "{} differs from the snapshot:\n{actual}", path.display());
    }

    /// The fixed results file the snapshots are made from (regenerated only with
    /// UPDATE_SNAPSHOTS=1, so a judging change cannot silently move the snapshots).
    pub fn fixed_results() -> RunResults {
        let path = fixture_dir().join("fixtures").join("results-sample.json");
        static WRITE: std::sync::Once = std::sync::Once::new();
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            WRITE.call_once(|| sample_results().write(&path).unwrap());
        }
        RunResults::read(&path).expect("fixture results file")
    }

    #[test]
    fn status_table_matches_snapshot() {
        let r = fixed_results();
        let table = status_table(&r);
        assert!(table.starts_with("## Parity Status (2026-11-27, apr 0.72.3 (0123456789))"));
        assert!(table.contains("| **Total**"));
        for suite in SUITES {
            assert!(table.contains(&format!("| {suite} ")), "row for {suite}");
        }
        assert_snapshot("status-table.md", &table);
    }

    #[test]
    fn result_cells() {
        let c = |pass, fail, blocked, skip| Counts { pass, fail, blocked, skip }.result_cell();
        assert_eq!(c(4, 0, 0, 0), "4/4 PASS");
        assert_eq!(c(0, 12, 0, 0), "0/12 FAIL");
        assert_eq!(c(3, 1, 1, 0), "3/5 FAIL, 1 blocked");
        assert_eq!(c(3, 0, 1, 0), "3/4 BLOCKED");
        assert_eq!(c(0, 1, 0, 2), "0/1 FAIL, 2 skip");
        assert_eq!(c(0, 0, 0, 1), "1 skip");
    }

    #[test]
    fn splice_replaces_only_between_markers() {
        let before = "# Guide\n\nintro ünïcode\r\n\n<!-- parity-status:begin -->\nold table\n<!-- parity-status:end -->\n\n## After\ntrailing  spaces  \n";
        let (after, how) = splice(before, "## Parity Status\n\n| a |\n").unwrap();
        assert_eq!(how, Spliced::Replaced);
        let b = before.find(BEGIN_MARKER).unwrap() + BEGIN_MARKER.len();
        let e = before.find(END_MARKER).unwrap();
        assert_eq!(&after[..b], &before[..b], "prefix byte-identical");
        assert!(after.ends_with(&before[e..]), "suffix byte-identical");
        assert!(after.contains("\n## Parity Status\n\n| a |\n<!-- parity-status:end -->"));
        // idempotent
        assert_eq!(splice(&after, "## Parity Status\n\n| a |\n").unwrap().0, after);
        assert!(splice("<!-- parity-status:end --> <!-- parity-status:begin -->", "x").is_err());
        assert!(splice("<!-- parity-status:begin -->", "x").is_err());
        let (appended, how) = splice("# Guide\n", "T").unwrap();
        assert_eq!(how, Spliced::Appended);
        assert_eq!(appended, "# Guide\n\n<!-- parity-status:begin -->\nT\n<!-- parity-status:end -->\n");
    }

    #[test]
    fn write_claude_md_leaves_the_rest_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("CLAUDE.md");
        let head = "# CLAUDE.md\n\nSome text\twith tabs and no trailing newline handling quirks  \n\n";
        let tail = "\n\n## Quality Standards\n\n- all checks\n";
        std::fs::write(&path, format!("{head}{BEGIN_MARKER}\nold\n{END_MARKER}{tail}")).unwrap();
        let table = status_table(&fixed_results());
        assert_eq!(write_claude_md(&path, &table).unwrap(), Spliced::Replaced);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(&format!("{head}{BEGIN_MARKER}\n")));
        assert!(text.ends_with(&format!("{END_MARKER}{tail}")));
        assert!(text.contains(&table));
        assert!(!text.contains("\nold\n"));
    }

    #[test]
    fn junit_counts_and_escapes() {
        let r = fixed_results();
        let x = junit(&r);
        let c = Counts::of(&r.outcomes);
        assert!(x.contains(&format!("tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\"", r.outcomes.len(), c.fail, c.blocked, c.skip)));
        assert_eq!(x.matches("<testcase ").count(), r.outcomes.len());
        assert_eq!(x.matches("<failure ").count(), c.fail);
        assert_eq!(x.matches("<error ").count(), c.blocked);
        assert!(!x.contains("\"weird\""), "quotes inside attributes/bodies are escaped");
        assert_eq!(xml_escape("a<b & \"c\"\u{1b}"), "a&lt;b &amp; &quot;c&quot;\\u001b");
    }

    #[test]
    fn exit_codes() {
        let mut r = fixed_results();
        assert_eq!(exit_code(&r), 1);
        r.outcomes.retain(|o| matches!(o.status, Status::Pass | Status::Skip));
        assert_eq!(exit_code(&r), 0);
        r.outcomes.retain(|o| o.status == Status::Skip);
        assert_eq!(exit_code(&r), 0, "SKIP allowed");
        r.outcomes.clear();
        assert_eq!(exit_code(&r), 2);
    }

    #[test]
    fn outcome_lines_colour_only_when_asked() {
        let r = fixed_results();
        let o = &r.outcomes[0];
        assert!(!outcome_line(o, false).contains('\x1b'));
        assert!(outcome_line(o, true).contains("\x1b["));
    }
}
