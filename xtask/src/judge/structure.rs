//! Structure suites: apr subcommands' JSON against the source model's truth.

use super::*;
use camino::Utf8PathBuf;

pub const STRUCTURE_SUITES: &[&str] = &[
    "inspect", "validate", "tensors", "lint", "selftest", "diff", "tree", "oracle-id", "hex", "debug", "bench", "qa", "list",
    "rosetta-diff", "parity-gpu",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StructureCall {
    pub suite: String,
    pub artifact_key: String,
    pub args: Vec<String>,
}

pub fn structure_calls(_artifacts: &BTreeMap<String, Utf8PathBuf>) -> Vec<StructureCall> {
    vec![]
}

pub fn judge(suite: &str, ev: &ModelEvidence) -> Vec<Outcome> {
    vec![Ctx::new(suite, &ev.slug, "todo").blocked("not yet judged", "todo", Evidence::default())]
}
