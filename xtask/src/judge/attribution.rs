//! Blame for a claim apr fails on a GGUF: a correct engine on the same file (a
//! comparator) shows whether the file or apr's runtime is at fault, and a correct
//! converter's equivalent quantization of the same checkpoint (same bit width)
//! shows whether an apr-made file is worse than quantization itself explains.
//! No correct 4-bit engine reproduces f32 goldens on a 135M model, so a failed
//! claim is apr's only when apr is worse than the correct engines: on apr's own APR
//! files (which no second engine reads) the claim is compared with what correct
//! engines do on equivalent quantizations of the same checkpoint (`versus_engines`).

use super::*;

/// Whom a claim apr fails on a GGUF is to be blamed on.
#[derive(Debug, Clone, PartialEq)]
pub enum Blame {
    /// No comparator on the same file agrees with apr: apr's runtime.
    Runtime,
    /// No comparator has a usable result on the file: nothing tells the file from
    /// apr's runtime (the outcome keeps its subject: apr on its own files).
    Unseen,
    /// A comparator on the same file agrees with apr, and the file is as good as a
    /// correct quantization: the claim fails for correct engines too.
    File(String),
    /// A comparator agrees with apr on the file, but apr's converter made the file and
    /// a correct converter's equivalent does not fail the claim (or none exists).
    Converter(String),
    /// A comparator agrees with apr on the file, and what would tell the file's
    /// quantization from apr's converter (the comparator on the equivalent) is missing.
    Undecided(String),
}

/// Made from the reference checkpoint by correct converters only (a comparator's,
/// possibly through another such file, e.g. llama.cpp's quantizer on the f32 export).
pub fn correctly_made(ev: &ModelEvidence, artifact: &str) -> bool {
    let mut name = artifact;
    for _ in 0..8 {
        let Some(c) = ev.conversions.get(name) else { return false };
        if c.tool == APR || c.tool == "source" {
            return false;
        }
        if c.from == "reference" {
            return true;
        }
        name = &c.from;
    }
    false
}

/// Made by apr's converter, directly or from another apr-made file (its APR files,
/// its GGUF export, the roundtrip).
pub fn apr_made(ev: &ModelEvidence, artifact: &str) -> bool {
    let mut name = artifact;
    for _ in 0..8 {
        let Some(c) = ev.conversions.get(name) else { return false };
        if c.tool == APR {
            return true;
        }
        name = &c.from;
    }
    false
}

/// Whom a run of `runtime` on `artifact` is about: a comparator, or apr (see
/// `apr_subject`).
pub fn subject_of_run(ev: &ModelEvidence, runtime: &str, artifact: &str) -> Subject {
    if runtime == APR {
        apr_subject(ev, artifact)
    } else {
        Subject::comparator(runtime)
    }
}

/// Whom apr's result on `artifact` is about before any comparator is consulted: its
/// runtime on a file a correct converter or the model's publisher made (the file is
/// known good), apr — converter or runtime — on a file apr made itself (APR files,
/// which no second engine reads, and apr's GGUF exports until a comparator on the
/// same file clears or convicts the file).
pub fn apr_subject(ev: &ModelEvidence, artifact: &str) -> Subject {
    if apr_made(ev, artifact) {
        subject::EITHER
    } else {
        subject::RUNTIME
    }
}

/// Files of the same bit width as `artifact`, made from the same checkpoint by correct
/// converters (candle's q4_0-gguf and llama.cpp's pure Q4_0 for apr's int4), in name
/// order. Like with like: a file whose header shows a mixture of weight types
/// (llama.cpp's default Q4_0 keeps the tied embedding at Q8_0; Q4_K_M mixes five
/// types) is what that quantizer's users get, not an equivalent of a one-type file.
pub fn equivalents<'a>(ev: &'a ModelEvidence, artifact: &str) -> Vec<&'a str> {
    let Some(bits) = ev.conversions.get(artifact).map(|c| c.bits) else { return Vec::new() };
    ev.conversions
        .iter()
        .filter(|(name, c)| name.as_str() != artifact && c.bits == bits && is_gguf(name) && correctly_made(ev, name) && !is_mixture(c))
        .map(|(name, _)| name.as_str())
        .collect()
}

/// The file's header shows more than one weight type (unknown header: not a mixture).
pub fn is_mixture(c: &conversions::Conversion) -> bool {
    match &c.observed {
        Observed::Ok { value, .. } => value.gguf.as_ref().is_some_and(|g| !g.is_pure()),
        _ => false,
    }
}

/// The first equivalent (see `equivalents`).
pub fn equivalent<'a>(ev: &'a ModelEvidence, artifact: &str) -> Option<&'a str> {
    equivalents(ev, artifact).into_iter().next()
}

/// A correct engine's result on an equivalent file: does it meet the claim, and how
/// far from it is it (the same measure as apr's: mismatches, PPL ratio …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineResult {
    pub runtime: String,
    pub artifact: String,
    pub holds: bool,
    pub measure: f64,
}

/// Every comparator's result on every equivalent of `artifact`, by `measure(runtime,
/// artifact)` = Some((holds, measure)) where observed.
pub fn engines_on_equivalents(
    ev: &ModelEvidence,
    artifact: &str,
    measure: impl Fn(&str, &str) -> Option<(bool, f64)>,
) -> Vec<EngineResult> {
    let mut out = Vec::new();
    for e in equivalents(ev, artifact) {
        for c in comparators_on(ev, e) {
            if let Some((holds, m)) = measure(c, e) {
                out.push(EngineResult { runtime: c.to_string(), artifact: e.to_string(), holds, measure: m });
            }
        }
    }
    out
}

/// apr failed a claim on its own file with measure `apr_measure`: when every correct
/// engine on every equivalent quantization fails it too and apr is no worse than the
/// best of them (within `slack`), the claim is what fails — the reference's FAIL, not
/// apr's.
/// Otherwise apr's FAIL stands, with the engines' results attached.
pub fn versus_engines(failed: Outcome, case: &Case, apr_measure: f64, engines: &[EngineResult], slack: f64) -> Outcome {
    let shown: Vec<String> = engines
        .iter()
        .map(|e| format!("{} on {}: {} ({})", e.runtime, e.artifact, e.measure, if e.holds { "meets it" } else { "fails it" }))
        .collect();
    // Excused only when no correct engine meets the claim on any equivalent, and apr
    // is no worse than the best of them (not the worst: a poor converter's file
    // excuses nothing).
    let best = engines.iter().filter(|e| !e.holds).min_by(|a, b| a.measure.total_cmp(&b.measure));
    let no_worse = best.filter(|e| engines.iter().all(|x| !x.holds) && apr_measure <= e.measure + slack);
    let mut o = match no_worse {
        Some(e) => case.about(Subject::Reference).fail(
            format!(
                "claim fails for correct engines too ({}): apr {apr_measure}, {} on {} {}",
                failed.note, e.runtime, e.artifact, e.measure
            ),
            format!("{}: the claim fails for correct engines on equivalent quantizations", case.suite),
            failed.evidence,
        ),
        None => failed,
    };
    if !engines.is_empty() {
        o.evidence.details["correct_engines"] = serde_json::to_value(engines).unwrap_or_default();
        if no_worse.is_none() {
            o.note = one_line(&format!("{}; correct engines on equivalents: {}", o.note, shown.join(", ")), 400);
        } else {
            o.evidence.details["blame"] = serde_json::json!(format!("correct engines: {}", shown.join(", ")));
        }
    }
    o
}

/// The comparators that observed `artifact` (generations or scores).
pub fn comparators_on<'a>(ev: &'a ModelEvidence, artifact: &str) -> Vec<&'a str> {
    let mut names: Vec<&str> = ev
        .generations
        .keys()
        .filter(|k| k.artifact == artifact && k.runtime != APR)
        .map(|k| k.runtime.as_str())
        .chain(ev.scores.keys().filter(|(r, a)| a == artifact && r != APR).map(|(r, _)| r.as_str()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Blame for apr failing a claim on `artifact`. `agrees(c)`: does comparator `c`'s
/// observation of the file agree with apr's (None: no usable observation);
/// `holds(c, a)`: does `c` meet the claim on artifact `a` (None: not observed).
pub fn blame(
    ev: &ModelEvidence,
    artifact: &str,
    agrees: impl Fn(&str) -> Option<bool>,
    holds: impl Fn(&str, &str) -> Option<bool>,
) -> Blame {
    let seen: Vec<(&str, bool)> = comparators_on(ev, artifact).into_iter().filter_map(|c| Some((c, agrees(c)?))).collect();
    let Some(&(c, _)) = seen.iter().find(|(_, agree)| *agree) else {
        return if seen.is_empty() { Blame::Unseen } else { Blame::Runtime };
    };
    let maker = ev.conversions.get(artifact).map(|m| m.tool.as_str()).unwrap_or("?");
    if maker != APR {
        return Blame::File(format!("{c} agrees with apr on this file, made by {maker}'s converter"));
    }
    match equivalents(ev, artifact).into_iter().find(|e| holds(c, e).is_some()).or_else(|| equivalent(ev, artifact)) {
        Some(e) => match holds(c, e) {
            Some(false) => {
                Blame::File(format!("{c} agrees with apr on this file, and fails the claim on {e} (a correct converter's equivalent) too"))
            }
            Some(true) => Blame::Converter(format!(
                "{c} agrees with apr on this file, but meets the claim on {e} (a correct converter's equivalent): apr's file is worse"
            )),
            None => Blame::Undecided(format!("{c} agrees with apr on this file, but {c} has no result on the equivalent {e}")),
        },
        None => Blame::Converter(format!("{c} agrees with apr on this file; no correct converter's equivalent to compare with")),
    }
}

/// The outcome for apr failing a claim on `artifact`, under its blame: the runtime's
/// FAIL as given, the converter's FAIL, or the claim's own FAIL in the reference
/// section (it fails for correct engines on this file too: not a finding on apr).
pub fn apply(blame: Blame, case: &Case, failed: Outcome, artifact: &str) -> Outcome {
    match blame {
        Blame::Unseen => failed,
        // A correct engine read the same file and did not do what apr did.
        Blame::Runtime => Outcome { subject: subject::RUNTIME, ..failed },
        Blame::Converter(why) => {
            let mut o = case.about(subject::CONVERTER).fail(
                format!("{} — {why}", failed.note),
                format!("apr converter: {artifact} fails where a correct quantization does not"),
                failed.evidence,
            );
            o.evidence.details["blame"] = serde_json::json!(why);
            o
        }
        Blame::Undecided(why) => case.blocked(
            format!("{} — blame undecided: {why}", failed.note),
            format!("attribution on {artifact} needs the comparator's result on its equivalent"),
            failed.evidence,
        ),
        Blame::File(why) => {
            let mut o = case.about(Subject::Reference).fail(
                format!("claim fails for correct engines too ({}): {why}", failed.note),
                format!("{}: the claim fails for correct engines on quantized files", case.suite),
                failed.evidence,
            );
            o.evidence.details["blame"] = serde_json::json!(why);
            o
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conversions::{Conversion, Made};
    use super::super::testutil::*;
    use super::*;

    fn made(tool: &str, bits: u8) -> Conversion {
        Conversion {
            tool: tool.into(),
            from: "reference".into(),
            bits,
            observed: Observed::Ok {
                value: Made { file: "f".into(), bytes: 1, sha256: String::new(), gguf: None },
                invocation: inv(&["x"], ""),
            },
        }
    }

    fn ev_with_files() -> ModelEvidence {
        let mut ev = evidence();
        ev.conversions.insert("int4-gguf".into(), Conversion { from: "int4".into(), ..made(APR, 4) });
        ev.conversions.insert("q4_0-gguf".into(), made("candle", 4));
        ev.conversions.insert("q8_0-gguf".into(), made("candle", 8));
        set_all(&mut ev, "candle", "int4-gguf", &seq(32));
        set_all(&mut ev, "candle", "q4_0-gguf", &seq(32));
        ev
    }

    #[test]
    fn apr_on_its_own_files_is_converter_or_runtime() {
        let mut ev = ev_with_files();
        ev.conversions.insert("int4".into(), made(APR, 4));
        ev.conversions.insert("roundtrip".into(), Conversion { from: "int4-gguf".into(), ..made(APR, 4) });
        ev.conversions.insert("lcpp-q4_0-gguf".into(), Conversion { from: "f32-gguf".into(), ..made("llama.cpp", 4) });
        ev.conversions.insert("f32-gguf".into(), made("candle", 32));
        for apr_file in ["int4", "int4-gguf", "roundtrip"] {
            assert!(apr_made(&ev, apr_file), "{apr_file}");
            assert_eq!(subject_of_run(&ev, APR, apr_file), subject::EITHER, "{apr_file}");
        }
        for correct in ["q4_0-gguf", "lcpp-q4_0-gguf", "native-gguf"] {
            assert!(!apr_made(&ev, correct), "{correct}");
            assert_eq!(subject_of_run(&ev, APR, correct), subject::RUNTIME, "{correct}");
        }
        assert_eq!(subject_of_run(&ev, "candle", "int4-gguf"), Subject::comparator("candle"));
        // A chain that loops never hangs.
        ev.conversions.insert("a".into(), Conversion { from: "b".into(), ..made("candle", 4) });
        ev.conversions.insert("b".into(), Conversion { from: "a".into(), ..made("candle", 4) });
        assert!(!apr_made(&ev, "a"));
    }

    #[test]
    fn blame_follows_the_comparator_and_the_equivalent() {
        let ev = ev_with_files();
        assert_eq!(equivalent(&ev, "int4-gguf"), Some("q4_0-gguf"));
        assert_eq!(equivalent(&ev, "q8_0-gguf"), None, "no other 8-bit file");
        assert_eq!(comparators_on(&ev, "int4-gguf"), vec!["candle"]);
        // A comparator known by its score alone counts; apr's own and other files' do not.
        let mut scored = ev.clone();
        let s = || ok(tmgt_schema::Score { perplexity: 10.0, token_count: Some(3), mean_nll: None });
        scored.scores.insert(("llama.cpp".into(), "int4-gguf".into()), s());
        scored.scores.insert(("elsewhere".into(), "q8_0-gguf".into()), s());
        scored.scores.insert((APR.into(), "int4-gguf".into()), s());
        assert_eq!(comparators_on(&scored, "int4-gguf"), vec!["candle", "llama.cpp"]);
        // nobody agrees with apr: its runtime
        assert_eq!(blame(&ev, "int4-gguf", |_| Some(false), |_, _| Some(true)), Blame::Runtime);
        assert_eq!(blame(&ev, "int4-gguf", |_| None, |_, _| Some(true)), Blame::Unseen, "no usable comparator result");
        // candle agrees, and fails the claim on its own q4_0 too: the file's quantization
        assert!(matches!(blame(&ev, "int4-gguf", |_| Some(true), |_, _| Some(false)), Blame::File(_)));
        // candle agrees, but meets the claim on its own q4_0: apr's converter
        assert!(matches!(blame(&ev, "int4-gguf", |_| Some(true), |_, _| Some(true)), Blame::Converter(_)));
        assert!(matches!(blame(&ev, "int4-gguf", |_| Some(true), |_, _| None), Blame::Undecided(_)));
        // a file made by a comparator: agreeing with its engine clears apr
        assert!(matches!(blame(&ev, "q4_0-gguf", |_| Some(true), |_, _| Some(true)), Blame::File(_)));
    }

    #[test]
    fn apply_keeps_the_evidence_and_names_the_subject() {
        let case = Case::new("divergence", "tiny", "apr/int4-gguf/code", subject::RUNTIME);
        let failed = case.fail("step 0: likely bug site", "apr runtime on int4-gguf: wrong tokens", Evidence::default());
        assert_eq!(apply(Blame::Runtime, &case, failed.clone(), "int4-gguf"), failed);
        let c = apply(Blame::Converter("worse".into()), &case, failed.clone(), "int4-gguf");
        assert_eq!((c.status, &c.subject), (Verdict::Fail, &subject::CONVERTER));
        assert!(c.note.contains("worse") && c.signature.contains("int4-gguf"));
        let f = apply(Blame::File("same".into()), &case, failed, "int4-gguf");
        assert_eq!((f.status, &f.subject), (Verdict::Fail, &Subject::Reference));
        assert!(f.note.contains("step 0") && f.note.contains("same"));
    }
}

/// One cell of the artifact × runtime matrix: token mismatches against the oracle
/// summed over the prompts, the earliest first divergence, or why there is no number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub mismatches: Option<usize>,
    pub prompts: usize,
    pub first_divergence: Option<usize>,
    /// "ok", or the observation's state when it is not usable: "failed", "blocked", "skipped".
    pub state: String,
}

/// Every runtime on every artifact it ran, for one model: the evidence behind blame.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    pub runtimes: Vec<String>,
    /// artifact -> runtime -> cell
    pub cells: BTreeMap<String, BTreeMap<String, Cell>>,
}

pub fn matrix(ev: &ModelEvidence) -> Matrix {
    let mut m = Matrix::default();
    for (key, obs) in &ev.generations {
        let Some(g) = ev.goldens.get(&key.prompt) else { continue };
        if !m.runtimes.contains(&key.runtime) {
            m.runtimes.push(key.runtime.clone());
        }
        let cell = m.cells.entry(key.artifact.clone()).or_default().entry(key.runtime.clone()).or_insert(Cell {
            mismatches: Some(0),
            prompts: 0,
            first_divergence: None,
            state: "ok".into(),
        });
        let state = match obs {
            Observed::Ok { value, .. } => match Comparison::to_golden(g, value) {
                Comparison::Tokens { mismatches, first_divergence, .. } => {
                    cell.mismatches = cell.mismatches.map(|s| s + mismatches);
                    cell.first_divergence = match (cell.first_divergence, first_divergence) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    "ok"
                }
                _ => "no ids",
            },
            Observed::Failed { .. } => "failed",
            Observed::Blocked { .. } => "blocked",
            Observed::Skipped { .. } => "skipped",
        };
        cell.prompts += 1;
        if state != "ok" {
            cell.mismatches = None;
            if cell.state == "ok" {
                cell.state = state.into();
            }
        }
    }
    m.runtimes.sort_by_key(|r| (r != APR, r.clone()));
    m
}

#[cfg(test)]
mod engine_tests {
    use super::super::conversions::{Conversion, Made};
    use super::super::testutil::*;
    use super::*;

    fn conv(tool: &str, from: &str, bits: u8) -> Conversion {
        Conversion {
            tool: tool.into(),
            from: from.into(),
            bits,
            observed: Observed::Ok {
                value: Made { file: "f".into(), bytes: 1, sha256: String::new(), gguf: None },
                invocation: inv(&["x"], ""),
            },
        }
    }

    fn ev() -> ModelEvidence {
        let mut ev = evidence();
        ev.conversions.insert("int8".into(), conv(APR, "reference", 8));
        ev.conversions.insert("q8_0-gguf".into(), conv("candle", "reference", 8));
        ev.conversions.insert("f32-gguf".into(), conv("candle", "reference", 32));
        ev.conversions.insert("lcpp-q8_0-gguf".into(), conv("llama.cpp", "f32-gguf", 8));
        ev.conversions.insert("native-gguf".into(), conv("source", "reference", 0));
        ev.conversions.insert("int4-gguf".into(), conv(APR, "int4", 4));
        ev
    }

    #[test]
    fn equivalents_are_correctly_made_files_of_the_same_width() {
        let ev = ev();
        assert_eq!(equivalents(&ev, "int8"), vec!["lcpp-q8_0-gguf", "q8_0-gguf"]);
        assert!(equivalents(&ev, "int4-gguf").is_empty(), "no correctly made 4-bit file here");
        assert!(!correctly_made(&ev, "native-gguf") && !correctly_made(&ev, "int4-gguf"));
    }

    #[test]
    fn a_mixture_of_weight_types_is_not_an_equivalent() {
        let mut ev = ev();
        let with_types = |types: &[(&str, usize)]| {
            let mut c = conv("llama.cpp", "f32-gguf", 4);
            if let Observed::Ok { value, .. } = &mut c.observed {
                value.gguf = Some(tmgt_schema::gguf_header::GgufFacts {
                    weight_types: types.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
                    ..Default::default()
                });
            }
            c
        };
        ev.conversions.insert("lcpp-q4_0-gguf".into(), with_types(&[("Q4_0", 210), ("Q8_0", 1)]));
        ev.conversions.insert("lcpp-q4_0-pure-gguf".into(), with_types(&[("Q4_0", 211)]));
        // No header recorded: taken as it is.
        ev.conversions.insert("q4_0-gguf".into(), conv("candle", "reference", 4));
        assert!(is_mixture(&ev.conversions["lcpp-q4_0-gguf"]));
        assert!(!is_mixture(&ev.conversions["lcpp-q4_0-pure-gguf"]) && !is_mixture(&ev.conversions["q4_0-gguf"]));
        assert_eq!(equivalents(&ev, "int4-gguf"), vec!["lcpp-q4_0-pure-gguf", "q4_0-gguf"]);
        // A failed conversion has no header: not a mixture (and not correctly made either).
        let mut failed = conv("llama.cpp", "f32-gguf", 4);
        failed.observed = Observed::Failed { error: "x".into(), invocation: inv(&["x"], "") };
        assert!(!is_mixture(&failed));
    }

    #[test]
    fn apr_no_worse_than_a_failing_engine_is_the_claims_failure() {
        let case = Case::new("token-parity", "tiny", "int8/code", subject::EITHER);
        let failed = case.fail("5/32 mismatches > 3", "apr: generates other tokens than the oracle", Evidence::default());
        let engine = |holds, measure| EngineResult { runtime: "llama.cpp".into(), artifact: "lcpp-q8_0-gguf".into(), holds, measure };
        // a correct engine fails too, with more mismatches: the claim's
        let o = versus_engines(failed.clone(), &case, 5.0, &[engine(false, 13.0)], 0.0);
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &Subject::Reference));
        assert!(o.note.contains("claim fails for correct engines too"), "{}", o.note);
        // apr clearly worse than a failing engine, or an engine meets the claim: apr's
        let o = versus_engines(failed.clone(), &case, 14.0, &[engine(false, 13.0)], 0.0);
        assert_eq!(o.subject, subject::EITHER);
        let o = versus_engines(failed.clone(), &case, 5.0, &[engine(true, 2.0)], 0.0);
        assert_eq!(o.subject, subject::EITHER);
        assert!(o.note.contains("correct engines on equivalents: llama.cpp on lcpp-q8_0-gguf: 2 (meets it)"), "{}", o.note);
        // within the slack counts as no worse
        assert_eq!(versus_engines(failed.clone(), &case, 14.0, &[engine(false, 13.0)], 1.0).subject, Subject::Reference);
        // no engine: unchanged
        assert_eq!(versus_engines(failed.clone(), &case, 5.0, &[], 0.0), failed);
        // excused by the best engine only: worse than the best failing one is apr's …
        let two = [engine(false, 30.0), engine(false, 9.0)];
        assert_eq!(versus_engines(failed.clone(), &case, 12.0, &two, 0.0).subject, subject::EITHER);
        assert_eq!(versus_engines(failed.clone(), &case, 9.0, &two, 0.0).subject, Subject::Reference);
        // … and one engine meeting the claim anywhere convicts, however bad the others.
        let mixed = [engine(false, 30.0), engine(true, 1.0)];
        assert_eq!(versus_engines(failed.clone(), &case, 5.0, &mixed, 0.0).subject, subject::EITHER);
    }

    #[test]
    fn token_parity_on_int8_is_judged_against_correct_8_bit_engines() {
        let mut ev = ev();
        ev.generations.insert(GenKey::new(APR, "int8", "code"), ok(gen(with_mismatches(&seq(32), 5))));
        ev.generations.insert(GenKey::new("llama.cpp", "lcpp-q8_0-gguf", "code"), ok(gen(with_mismatches(&seq(32), 9))));
        let outs = inference::token_parity(&ev, &Tolerances::spec());
        assert_eq!(find(&outs, "int8/code").subject, Subject::Reference, "llama.cpp's own Q8_0 is worse: the bound is what fails");
        ev.generations.insert(GenKey::new("llama.cpp", "lcpp-q8_0-gguf", "code"), ok(gen(with_mismatches(&seq(32), 1))));
        let o = find(&inference::token_parity(&ev, &Tolerances::spec()), "int8/code").clone();
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &subject::EITHER), "a correct engine meets it: apr's finding");
    }

    #[test]
    fn the_matrix_sums_mismatches_and_names_unusable_cells() {
        let mut ev = ev();
        set_all(&mut ev, APR, "q8_0-gguf", &seq(32));
        ev.generations.insert(GenKey::new(APR, "q8_0-gguf", "code"), ok(gen(with_mismatches(&seq(32), 2))));
        set_all(&mut ev, "candle", "q8_0-gguf", &seq(32));
        ev.generations.insert(GenKey::new("candle", "q8_0-gguf", "code"), Observed::Skipped { reason: "x".into() });
        let m = matrix(&ev);
        assert_eq!(m.runtimes, vec!["apr", "candle"]);
        let apr = &m.cells["q8_0-gguf"]["apr"];
        assert_eq!((apr.mismatches, apr.prompts, apr.first_divergence), (Some(2), 4, Some(0)));
        assert_eq!((m.cells["q8_0-gguf"]["candle"].mismatches, m.cells["q8_0-gguf"]["candle"].state.as_str()), (None, "skipped"));
    }
}
