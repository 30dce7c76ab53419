//! Receipts: every results file says where and on what it ran — the host (CPU model,
//! cores, GPU, OS), each runtime's version, the shard, the roster's hash, the content
//! hash of every input — and `merge` combines the results files of one run's shards
//! (from any hosts) into one: refused, with the reason, when they are not the same
//! experiment (another roster, another apr, another harness, other suites); a missing
//! shard is reported as BLOCKED harness checks, never silently absent. Models split
//! over several shards are judged here, from the union of their evidence, by the
//! same pure judges as an unsharded run.

use crate::judge::{self, attribution, Case, ModelEvidence, Observed, Outcome, Subject};
use crate::report::RunResults;
use crate::shard::{Holding, Plan, Shard};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tmgt_schema::HostInfo;

/// The machine a results file was made on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    #[serde(flatten)]
    pub info: HostInfo,
    /// `nvidia-smi -L`'s first GPU, if any.
    pub gpu: Option<String>,
}

impl Host {
    pub fn describe(&self) -> String {
        format!(
            "{} ({}, {} cores, {}; {})",
            self.info.cpu_model,
            self.info.arch,
            self.info.cpus,
            self.info.os,
            self.gpu.as_deref().unwrap_or("no GPU")
        )
    }
}

/// What a results file says about its run, beside the outcomes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// None on a merge of several shards (each is in `merged`).
    pub host: Option<Host>,
    /// Runtime -> its version line (or why it was unavailable); also oracle-gen's
    /// source hash.
    pub runtimes: BTreeMap<String, String>,
    pub shard: Shard,
    /// The roster file's name and the sha256 of its bytes.
    pub roster: String,
    pub roster_hash: String,
    /// Every model the run planned, over all shards, in roster order.
    pub models: Vec<String>,
    /// The --suite filter (empty: every suite).
    pub suites: Vec<String>,
    /// Per model this shard held: [jobs run here, jobs planned for the model].
    pub jobs: BTreeMap<String, [usize; 2]>,
    /// Input (path relative to the repository, or `<slug>/artifacts/<name>`) -> sha256.
    pub inputs: BTreeMap<String, String>,
    /// The shards' receipts a merge was made from (their inputs are in `inputs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<Receipt>,
}

/// Artifacts are made on each machine (a converter need not be byte-reproducible);
/// every other input is committed or pulled by content and must agree.
fn is_artifact(key: &str) -> bool {
    key.contains("/artifacts/")
}

/// Runtime-under-test and comparator observations beat the stand-ins a shard
/// records for what it could not run.
fn real<T>(o: &Observed<T>) -> bool {
    matches!(o, Observed::Ok { .. } | Observed::Failed { .. })
}

/// One observation from two shards: the real one (run, or failed) over a stand-in.
fn union_one<T>(have: Option<Observed<T>>, theirs: Option<Observed<T>>) -> Option<Observed<T>> {
    match (have, theirs) {
        (Some(have), theirs) if real(&have) || theirs.as_ref().is_none_or(|t| !real(t)) => Some(have),
        (have, theirs) => theirs.or(have),
    }
}

fn union_map<K: Ord, T>(into: &mut BTreeMap<K, Observed<T>>, from: BTreeMap<K, Observed<T>>) {
    for (k, v) in from {
        match into.get(&k) {
            Some(have) if real(have) || !real(&v) => {}
            _ => {
                into.insert(k, v);
            }
        }
    }
}

/// One model's evidence from the shards of its group (their jobs are disjoint). The
/// destructuring names every field (no `..`): a new kind of observation does not
/// compile until the merge says how it joins.
fn union(mut parts: impl Iterator<Item = ModelEvidence>) -> Option<ModelEvidence> {
    let mut ev = parts.next()?;
    for part in parts {
        let ModelEvidence {
            slug: _,
            truth,
            ppl_ceiling: _,
            goldens,
            precision_goldens,
            host_goldens,
            generations,
            scores,
            reference_score,
            structure,
            vocab,
            conversions,
            gpu: _,
            kld,
            battery,
            battery_reference,
            battery_runs,
            corrupt,
            tensor_errors,
            safetensors,
            safetensors_export,
        } = part;
        union_map(&mut ev.generations, generations);
        union_map(&mut ev.scores, scores);
        union_map(&mut ev.structure, structure);
        union_map(&mut ev.kld, kld);
        union_map(&mut ev.battery_runs, battery_runs);
        union_map(&mut ev.corrupt, corrupt);
        union_map(&mut ev.tensor_errors, tensor_errors);
        ev.safetensors = union_one(ev.safetensors.take(), safetensors);
        ev.safetensors_export = union_one(ev.safetensors_export.take(), safetensors_export);
        ev.battery_reference = union_one(ev.battery_reference.take(), battery_reference);
        if ev.battery.is_empty() {
            ev.battery = battery;
        }
        for (k, c) in conversions {
            ev.conversions.entry(k).or_insert(c);
        }
        ev.reference_score = ev.reference_score.or(reference_score);
        ev.vocab.extend(vocab);
        ev.truth = ev.truth.or(truth);
        if ev.goldens.is_empty() {
            ev.goldens = goldens;
        }
        for (k, g) in precision_goldens {
            ev.precision_goldens.entry(k).or_insert(g);
        }
        for (k, g) in host_goldens {
            ev.host_goldens.entry(k).or_insert(g);
        }
    }
    Some(ev)
}

/// Judges one model's merged evidence as `check` would have (same suites, same order,
/// the same bound on evidence output).
fn judge_merged(ev: &ModelEvidence, r: &RunResults) -> Result<Vec<Outcome>> {
    let mut outcomes = if r.receipt.suites.is_empty() {
        judge::judge_model(ev, &r.tolerances)
    } else {
        let mut out = Vec::new();
        for suite in judge::suites::names().filter(|s| r.receipt.suites.iter().any(|w| w == s)) {
            out.extend(judge::judge_suite(suite, ev, &r.tolerances)?);
        }
        out
    };
    crate::report::bound_evidence(&mut outcomes);
    Ok(outcomes)
}

/// The merged run, and what was missing from it.
pub struct Merged {
    pub results: RunResults,
    pub missing: Vec<Shard>,
    /// Differences that do not refuse the merge (artifact hashes).
    pub warnings: Vec<String>,
}

/// Merges the results files of one run's shards. `files` are (name, results) in the
/// order given; the result does not depend on it.
pub fn merge(files: Vec<(String, RunResults)>) -> Result<Merged> {
    if files.is_empty() {
        bail!("nothing to merge: give the shards' results files");
    }
    let mut files = files;
    for (name, r) in &files {
        if r.receipt.roster_hash.is_empty() {
            bail!("{name}: no receipt (a results file from before receipts, or not from `check`): it cannot be merged");
        }
    }
    files.sort_by_key(|(_, r)| r.receipt.shard);
    let (base_name, base) = &files[0];
    let b = &base.receipt;
    let mut warnings = Vec::new();
    for (name, r) in &files[1..] {
        let o = &r.receipt;
        let refuse = |what: &str, ours: String, theirs: String| -> Result<()> {
            bail!("cannot merge {base_name} and {name}: {what} differ ({ours} vs {theirs}): they are not shards of one run")
        };
        if o.roster_hash != b.roster_hash {
            refuse(
                "the rosters",
                format!("{} sha256 {}", b.roster, short(&b.roster_hash)),
                format!("{} sha256 {}", o.roster, short(&o.roster_hash)),
            )?;
        }
        if (&r.apr_version, &r.apr_commit) != (&base.apr_version, &base.apr_commit) {
            refuse("the apr versions", base.apr_label(), r.apr_label())?;
        }
        if r.harness_version != base.harness_version {
            refuse("the harness versions", base.harness_version.clone(), r.harness_version.clone())?;
        }
        if r.oracle != base.oracle {
            refuse("the oracles", base.oracle.clone(), r.oracle.clone())?;
        }
        if r.tolerances != base.tolerances {
            refuse("the tolerances", "one set".into(), "another".into())?;
        }
        if o.shard.count != b.shard.count {
            refuse("the shard counts", b.shard.to_string(), o.shard.to_string())?;
        }
        if o.shard == b.shard || files.iter().filter(|(_, x)| x.receipt.shard == o.shard).count() > 1 {
            bail!("shard {} appears twice ({base_name}, {name}, …): merge one results file per shard", o.shard);
        }
        if o.models != b.models {
            refuse("the planned models (--model)", b.models.join(","), o.models.join(","))?;
        }
        if o.suites != b.suites {
            refuse("the suites (--suite)", b.suites.join(","), o.suites.join(","))?;
        }
    }
    // Inputs hashed by several shards must be the same bytes.
    let mut inputs: BTreeMap<String, (String, &str)> = BTreeMap::new();
    for (name, r) in &files {
        for (key, sha) in &r.receipt.inputs {
            match inputs.get(key) {
                Some((have, from)) if have != sha => {
                    if is_artifact(key) {
                        warnings.push(format!("{key}: {from} made sha256 {}, {name} made {}", short(have), short(sha)));
                    } else {
                        bail!(
                            "cannot merge {from} and {name}: input {key} differs (sha256 {} vs {}): the shards judged different inputs",
                            short(have),
                            short(sha)
                        );
                    }
                }
                Some(_) => {}
                None => {
                    inputs.insert(key.clone(), (sha.clone(), name));
                }
            }
        }
    }
    let count = b.shard.count;
    let present: Vec<Shard> = files.iter().map(|(_, r)| r.receipt.shard).collect();
    let missing: Vec<Shard> = (1..=count).map(|index| Shard { index, count }).filter(|s| !present.contains(s)).collect();
    let plan = Plan::new(b.models.len(), count);

    let mut outcomes = Vec::new();
    let mut matrices = BTreeMap::new();
    let mut provenance = BTreeMap::new();
    let mut jobs: BTreeMap<String, [usize; 2]> = BTreeMap::new();
    for (i, slug) in b.models.iter().enumerate() {
        for (_, r) in &files {
            outcomes.extend(r.outcomes.iter().filter(|o| &o.model == slug).cloned());
            if let Some(m) = r.matrices.get(slug) {
                matrices.insert(slug.clone(), m.clone());
            }
            if let Some(p) = r.provenance.get(slug) {
                provenance.entry(slug.clone()).or_insert_with(|| p.clone());
            }
            if let Some([here, planned]) = r.receipt.jobs.get(slug) {
                let j = jobs.entry(slug.clone()).or_default();
                j[0] += here;
                j[1] = j[1].max(*planned);
            }
        }
        if let Some(ev) = union(files.iter().filter_map(|(_, r)| r.evidence.get(slug).cloned())) {
            outcomes.extend(judge_merged(&ev, base)?);
            // As `check` reports a model it judged without llama.cpp.
            if let Some(why) = base.receipt.runtimes.get(judge::LLAMACPP).filter(|v| v.starts_with("unavailable: ")) {
                outcomes.push(judge::comparator_missing(slug, judge::LLAMACPP, why));
            }
            let m = attribution::matrix(&ev);
            if m.runtimes.len() > 1 {
                matrices.insert(slug.clone(), m);
            }
        }
        for shard in &missing {
            if let Some(holding) = plan.holding(shard.index, i) {
                let part = match holding {
                    Holding::Whole => "all its checks",
                    Holding::Part { .. } => "its jobs there (their checks are BLOCKED above)",
                };
                outcomes.push(Case::new("shard", slug, shard.to_string(), Subject::Harness).blocked(
                    format!("no results file for shard {shard}: {part} were not run or not merged"),
                    format!("shard {shard} missing from the merge"),
                    Default::default(),
                ));
            }
        }
    }
    let mut receipts: Vec<Receipt> = files.iter().map(|(_, r)| Receipt { inputs: BTreeMap::new(), ..r.receipt.clone() }).collect();
    receipts.iter_mut().for_each(|r| r.merged.clear());
    let results = RunResults {
        started_at: files.iter().map(|(_, r)| r.started_at.clone()).min().unwrap_or_default(),
        provenance,
        matrices,
        outcomes,
        evidence: BTreeMap::new(),
        receipt: Receipt {
            host: None,
            runtimes: b.runtimes.clone(),
            shard: Shard::WHOLE,
            roster: b.roster.clone(),
            roster_hash: b.roster_hash.clone(),
            models: b.models.clone(),
            suites: b.suites.clone(),
            jobs,
            inputs: inputs.into_iter().map(|(k, (v, _))| (k, v)).collect(),
            merged: receipts,
        },
        ..base.clone()
    };
    Ok(Merged { results, missing, warnings })
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// Reads and merges results files (the `--merge` of status and ticket).
pub fn merge_files(paths: &[camino::Utf8PathBuf]) -> Result<Merged> {
    let mut files = Vec::new();
    for p in paths {
        files.push((p.to_string(), RunResults::read(p.as_std_path())?));
    }
    merge(files)
}

/// What was merged, in words: one line per shard (host, models, jobs), then what is
/// missing and what differed.
pub fn describe(m: &Merged) -> String {
    let r = &m.results.receipt;
    let count = r.merged.first().map_or(1, |x| x.shard.count);
    let mut s = format!(
        "Merged {} of {count} shard(s): roster {} (sha256 {}), {}.\n",
        r.merged.len(),
        r.roster,
        short(&r.roster_hash),
        m.results.apr_label()
    );
    for x in &r.merged {
        let host = x.host.as_ref().map_or("unknown host".into(), Host::describe);
        let jobs: Vec<String> = x.jobs.iter().map(|(slug, [here, planned])| format!("{slug} {here}/{planned} jobs")).collect();
        s.push_str(&format!(
            "- shard {} on {host}: {}\n",
            x.shard,
            if jobs.is_empty() { "nothing to run".into() } else { jobs.join(", ") }
        ));
    }
    for shard in &m.missing {
        s.push_str(&format!("- shard {shard}: MISSING (no results file given): its checks are reported BLOCKED\n"));
    }
    for w in &m.warnings {
        s.push_str(&format!("- note: artifacts differ between machines: {w}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_results;

    fn receipt(index: usize, count: usize) -> Receipt {
        Receipt {
            host: Some(Host { info: HostInfo::detect(), gpu: None }),
            runtimes: BTreeMap::from([("apr".to_string(), "apr 0.72.3".to_string())]),
            shard: Shard { index, count },
            roster: "roster.toml".into(),
            roster_hash: "ab".repeat(32),
            models: vec!["tiny-a".into(), "tiny-b".into()],
            suites: vec![],
            jobs: BTreeMap::new(),
            inputs: BTreeMap::from([("prompts/code.txt".to_string(), "cd".repeat(32))]),
            merged: vec![],
        }
    }

    /// The sample run cut into two shards by model, as `check --shard k/2` makes them.
    fn shards() -> Vec<(String, RunResults)> {
        let whole = sample_results();
        (1..=2)
            .map(|k| {
                let slug = if k == 1 { "tiny-a" } else { "tiny-b" };
                let mut r = whole.clone();
                r.outcomes.retain(|o| o.model == slug);
                r.matrices.retain(|m, _| m == slug);
                r.provenance.retain(|m, _| m == slug);
                r.receipt = receipt(k, 2);
                (format!("shard-{k}.json"), r)
            })
            .collect()
    }

    #[test]
    fn shards_merge_into_the_whole_run() {
        let whole = sample_results();
        let mut files = shards();
        files.reverse();
        let m = merge(files).unwrap();
        assert!(m.missing.is_empty() && m.warnings.is_empty());
        assert_eq!(m.results.outcomes, whole.outcomes);
        assert_eq!(crate::report::status_table(&m.results), crate::report::status_table(&whole));
        assert_eq!(m.results.receipt.merged.len(), 2);
        assert!(describe(&m).starts_with("Merged 2 of 2 shard(s)"), "{}", describe(&m));
    }

    #[test]
    fn mismatched_receipts_are_refused_with_the_reason() {
        let refused = |edit: &dyn Fn(&mut RunResults)| {
            let mut files = shards();
            edit(&mut files[1].1);
            merge(files).err().map(|e| e.to_string()).unwrap_or_default()
        };
        let e = refused(&|r| r.receipt.roster_hash = "ef".repeat(32));
        assert!(e.contains("the rosters differ") && e.contains("shard-1.json") && e.contains("efefefefefef"), "{e}");
        let e = refused(&|r| r.apr_version = Some("0.73.0".into()));
        assert!(e.contains("the apr versions differ (apr 0.72.3 (0123456789) vs apr 0.73.0 (0123456789))"), "{e}");
        let e = refused(&|r| r.receipt.shard = Shard { index: 1, count: 2 });
        assert!(e.contains("shard 1/2 appears twice"), "{e}");
        let e = refused(&|r| r.receipt.shard = Shard { index: 2, count: 3 });
        assert!(e.contains("the shard counts differ"), "{e}");
        let e = refused(&|r| {
            r.receipt.inputs.insert("prompts/code.txt".into(), "00".repeat(32));
        });
        assert!(e.contains("input prompts/code.txt differs"), "{e}");
        let e = refused(&|r| r.receipt = Receipt::default());
        assert!(e.contains("no receipt"), "{e}");
        // A different artifact is a note, not a refusal.
        let mut files = shards();
        files[0].1.receipt.inputs.insert("tiny-a/artifacts/int8".into(), "01".repeat(32));
        files[1].1.receipt.inputs.insert("tiny-a/artifacts/int8".into(), "02".repeat(32));
        assert_eq!(merge(files).unwrap().warnings.len(), 1);
    }

    #[test]
    fn a_missing_shard_is_reported_not_absent() {
        let mut files = shards();
        files.pop();
        let m = merge(files).unwrap();
        assert_eq!(m.missing, vec![Shard { index: 2, count: 2 }]);
        let flagged: Vec<&Outcome> = m.results.outcomes.iter().filter(|o| o.suite == "shard").collect();
        assert_eq!(flagged.len(), 1);
        assert_eq!((flagged[0].model.as_str(), flagged[0].status), ("tiny-b", crate::judge::Verdict::Blocked));
        assert_eq!(crate::report::exit_code(&m.results), 2, "an incomplete merge is a harness problem");
        assert!(describe(&m).contains("shard 2/2: MISSING"));
        assert!(crate::report::status_table(&m.results).contains("| shard "));
    }
}
