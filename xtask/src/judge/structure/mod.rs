//! Structure suites: what apr's inspection subcommands print (JSON) against the
//! source model's truth (config.json and the safetensors header): architecture,
//! layers, heads, kv heads, hidden size, vocab size, MLP width, rope base, parameter
//! count, tensor names, count and shapes, and whether a quantized file says so. Each
//! suite's `StructureSpec` names the apr inspection it needs and on which artifacts;
//! the command lines themselves live with apr (`runtime::apr`). An unrecognised JSON
//! shape is a FAIL quoting the raw output, and a non-zero exit is never a PASS.

pub mod json;
pub mod parsers;
pub mod tensors;

use super::subject::{Subject, RUNTIME};
use super::*;
pub use parsers::{Reading, F32_EXPORT_SIGNATURE};
use serde_json::Value;

/// The apr inspections the structure suites read (each one apr subcommand).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Inspection {
    Inspect,
    Validate,
    Tensors,
    Lint,
    Check,
    Tree,
    Oracle,
    Hex,
    Debug,
    Bench,
    Qa,
    List,
    Diff,
    RosettaDiff,
    Parity,
}

/// Which artifacts a structure suite looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// Each of these artifacts, one call each.
    Artifacts(&'static [&'static str]),
    /// One call on two artifacts (first, second), keyed "first~second".
    Pair(&'static str, &'static str),
    /// One call on no artifact, for the whole run (attached to the first model).
    Global,
    /// Each of these artifacts, and only on a machine with a GPU.
    Gpu(&'static [&'static str]),
}

/// What a parser may compare the JSON with.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub truth: Option<&'a ModelTruth>,
    /// The artifact key ("int8", "int4-gguf", "int8~int4", "global").
    pub artifact: &'a str,
    /// The artifact's nominal bit width (from its conversion), when known.
    pub bits: Option<u8>,
    /// The roster's bounds (the self-test's fewest stages, a float's relative error).
    pub tol: &'a Tolerances,
}

impl Facts<'_> {
    /// Made to hold quantized weights (8 or 4 bits).
    pub fn quantized(&self) -> bool {
        self.bits.is_some_and(|b| b <= 8)
    }
}

pub struct StructureSpec {
    pub inspection: Inspection,
    pub on: On,
    pub parse: fn(&Value, &Facts) -> Reading,
    /// Compares with the checkpoint: without its truth, BLOCKED.
    pub needs_truth: bool,
}

pub const GLOBAL_KEY: &str = "global";
const APR_FILES: &[&str] = &["int4", "int8"];
/// The apr files and the GGUF apr exported from int4 (which must stay quantized).
const APR_FILES_AND_EXPORT: &[&str] = &["int4", "int8", "int4-gguf"];

pub static INSPECT: StructureSpec = StructureSpec {
    inspection: Inspection::Inspect,
    on: On::Artifacts(APR_FILES_AND_EXPORT),
    parse: parsers::check_inspect,
    needs_truth: true,
};
pub static VALIDATE: StructureSpec =
    StructureSpec { inspection: Inspection::Validate, on: On::Artifacts(APR_FILES), parse: parsers::check_validate, needs_truth: false };
pub static TENSORS: StructureSpec = StructureSpec {
    inspection: Inspection::Tensors,
    on: On::Artifacts(APR_FILES_AND_EXPORT),
    parse: parsers::check_tensors,
    needs_truth: true,
};
pub static LINT: StructureSpec =
    StructureSpec { inspection: Inspection::Lint, on: On::Artifacts(APR_FILES), parse: parsers::check_lint, needs_truth: false };
pub static SELFTEST: StructureSpec =
    StructureSpec { inspection: Inspection::Check, on: On::Artifacts(APR_FILES), parse: parsers::check_selftest, needs_truth: true };
pub static DIFF: StructureSpec =
    StructureSpec { inspection: Inspection::Diff, on: On::Pair("int8", "int4"), parse: parsers::check_diff, needs_truth: false };
pub static TREE: StructureSpec =
    StructureSpec { inspection: Inspection::Tree, on: On::Artifacts(APR_FILES), parse: parsers::check_tree, needs_truth: true };
pub static ORACLE_ID: StructureSpec =
    StructureSpec { inspection: Inspection::Oracle, on: On::Artifacts(APR_FILES), parse: parsers::check_oracle, needs_truth: true };
pub static HEX: StructureSpec =
    StructureSpec { inspection: Inspection::Hex, on: On::Artifacts(APR_FILES), parse: parsers::check_hex, needs_truth: true };
pub static DEBUG: StructureSpec =
    StructureSpec { inspection: Inspection::Debug, on: On::Artifacts(APR_FILES), parse: parsers::check_debug, needs_truth: true };
pub static BENCH: StructureSpec =
    StructureSpec { inspection: Inspection::Bench, on: On::Artifacts(APR_FILES), parse: parsers::check_bench, needs_truth: false };
pub static QA: StructureSpec =
    StructureSpec { inspection: Inspection::Qa, on: On::Artifacts(APR_FILES), parse: parsers::check_qa, needs_truth: false };
pub static LIST: StructureSpec =
    StructureSpec { inspection: Inspection::List, on: On::Global, parse: parsers::check_list, needs_truth: false };
pub static ROSETTA: StructureSpec =
    StructureSpec { inspection: Inspection::RosettaDiff, on: On::Pair("int8", "int4"), parse: parsers::check_rosetta, needs_truth: true };
pub static PARITY_GPU: StructureSpec =
    StructureSpec { inspection: Inspection::Parity, on: On::Gpu(&["int4-gguf"]), parse: parsers::check_parity, needs_truth: false };

impl StructureSpec {
    /// The suite this spec belongs to (its row in `SUITES`).
    pub fn suite(&'static self) -> &'static str {
        suites::structure_suites().find(|s| s.structure.is_some_and(|x| std::ptr::eq(x, self))).map_or("?", |s| s.name)
    }

    /// The observation keys of this suite and the artifacts each call reads.
    pub fn calls(&self) -> Vec<(String, Vec<&'static str>)> {
        match self.on {
            On::Artifacts(names) | On::Gpu(names) => names.iter().map(|n| (n.to_string(), vec![*n])).collect(),
            On::Pair(a, b) => vec![(format!("{a}~{b}"), vec![a, b])],
            On::Global => vec![(GLOBAL_KEY.to_string(), vec![])],
        }
    }
}

/// Why the export's GGUF is not a quantized file though made from one (the inspect
/// suite's finding on it), if so.
pub fn export_is_unquantized(ev: &ModelEvidence, tol: &Tolerances) -> Option<String> {
    let Some(Observed::Ok { value, .. }) = ev.structure.get(&StructureKey::new(INSPECT.suite(), "int4-gguf")) else { return None };
    let facts = Facts { truth: ev.truth.as_ref(), artifact: "int4-gguf", bits: ev.conversions.get("int4-gguf").map(|c| c.bits), tol };
    match parsers::check_inspect(value, &facts) {
        Reading::Fail { note, signature, .. } if signature == F32_EXPORT_SIGNATURE => Some(note),
        _ => None,
    }
}

pub fn judge(spec: &'static StructureSpec, ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    let suite = spec.suite();
    let subject = suites::suite(suite).map(|s| match &s.about {
        suites::About::Fixed(subject) => subject.clone(),
        suites::About::EachRuntime | suites::About::EachCommand => RUNTIME,
    });
    let subject = subject.unwrap_or(RUNTIME);
    if let On::Gpu(_) = spec.on {
        if ev.gpu.is_none() {
            return vec![Case::new(suite, &ev.slug, "all", subject).skip("no GPU on this machine: apr parity compares CPU with GPU")];
        }
    }
    let mut outs = Vec::new();
    for (key, _) in spec.calls() {
        let case = Case::new(suite, &ev.slug, key.clone(), subject.clone());
        let obs = ev.structure.get(&StructureKey::new(suite, &key));
        if spec.on == On::Global && obs.is_none() {
            // A global call is made once per run, for the first model.
            continue;
        }
        let (v, inv) = match take(obs, &case, &format!("apr {suite} on {key}"), true) {
            Ok(x) => x,
            Err(o) => {
                outs.push(o);
                continue;
            }
        };
        if spec.needs_truth && ev.truth.is_none() {
            outs.push(case.about(Subject::Harness).blocked(
                "no truth for this model (config.json / safetensors header not read)",
                "the harness could not read the checkpoint's facts",
                evidence_from(inv, None, Some(raw_output(inv)), Value::Null),
            ));
            continue;
        }
        let facts = Facts { truth: ev.truth.as_ref(), artifact: &key, bits: ev.conversions.get(&key).map(|c| c.bits), tol };
        // The raw output is kept whole in the invocation; `actual` quotes its start.
        let evidence = |expected: Option<String>| evidence_from(inv, expected, Some(truncate(&inv.stdout, 4000)), Value::Null);
        let exit = inv.exit_code.unwrap_or(-1);
        outs.push(match (parsers_verdict(spec, v, &facts), exit) {
            (Reading::Pass(note), 0) if spec.on == On::Global && v.get("models").and_then(Value::as_array).is_some_and(Vec::is_empty) => {
                case.skip(format!("{note}: apr's cache is empty (the harness imports files, it never pulls into apr's cache), so the listing proves nothing"))
            }
            (Reading::Pass(note), 0) => case.pass(note, evidence(None)),
            // What apr's CLI prints (its exit code, its report's own consistency, its
            // JSON's shape) is its runtime's, whatever the suite's claim is about.
            (Reading::Pass(note), code) => case.about(RUNTIME).fail(
                format!("exit {code} although its JSON reports success ({note})"),
                "apr: exits non-zero though its JSON reports success",
                evidence(Some("exit 0".into())),
            ),
            (Reading::Fail { note, signature, expected }, code) => {
                let note = if code == 0 { note } else { format!("{note} (exit {code})") };
                let case = if parsers::about_the_report(&signature) { case.about(RUNTIME) } else { case };
                case.fail(note, signature, evidence(Some(expected)))
            }
            (Reading::Unrecognised(what), _) => case.about(RUNTIME).fail(
                format!("unrecognised JSON shape ({what}): {}", one_line(&inv.stdout, 80)),
                format!("apr: {suite} prints an unrecognised JSON shape"),
                evidence(None),
            ),
        });
    }
    if outs.is_empty() && spec.on == On::Global {
        return Vec::new();
    }
    outs
}

fn parsers_verdict(spec: &StructureSpec, v: &Value, facts: &Facts) -> Reading {
    (spec.parse)(v, facts)
}

#[cfg(test)]
pub(crate) mod tests;
