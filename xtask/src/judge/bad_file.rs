//! One bad file, one finding: a GGUF apr wrote that correct engines fail on — one
//! cannot read it, or its full-vocabulary drift from the oracle misses the bounds of
//! its quantization — while the same engine reads, or meets the bounds on, a correct
//! converter's equivalent. Every check that fails on that file (apr's runs, the
//! comparators' runs, the pairs between them, its structure) is then apr's
//! converter's, in one ticket group whose evidence is the correct engines' numbers
//! and the header beside a correct export's.

use super::attribution::{apr_made, correctly_made, equivalents};
use super::kld::{self, Coverage, KldReport};
use super::subject;
use super::*;

/// The tokenizer keys of a GGUF header that decide how a prompt is encoded.
const HEADER_KEYS: [&str; 4] = ["general.architecture", "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.add_bos_token"];

/// An apr-made file that correct engines convict, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadFile {
    pub artifact: String,
    /// What the correct engines showed, then how its header differs from a correct export's.
    pub evidence: String,
    /// The (suite, case) of the checks whose numbers convict it (the engines' KLD rows).
    pub witnesses: Vec<(String, String)>,
}

impl BadFile {
    pub fn signature(&self) -> String {
        format!("apr converter: {} fails where correct converters' files of the model do not", self.artifact)
    }
}

fn full(obs: Option<&Observed<KldReport>>) -> Option<&KldReport> {
    match obs {
        Some(Observed::Ok { value, .. }) if value.coverage == Coverage::FullVocabulary && value.n > 0 => Some(value),
        _ => None,
    }
}

fn numbers(r: &KldReport) -> String {
    format!(
        "PPL {:.1} vs oracle {:.1}, mean KLD {:.3}, same top-1 {:.1}%",
        r.ppl_runtime.value,
        r.ppl_reference.value,
        r.kld_mean.value,
        100.0 * r.same_top1.value
    )
}

/// How many times `mine`'s mean KLD exceeds `theirs'` when it does so by at least the
/// roster's `bad_file_kld_ratio` and by more than `bad_file_kld_sigmas` combined
/// standard errors (None otherwise).
fn far_worse(mine: &KldReport, theirs: &KldReport, tol: &Tolerances) -> Option<f64> {
    let (a, b) = (mine.kld_mean, theirs.kld_mean);
    let err = |x: f64| if x.is_finite() { x } else { 0.0 };
    let ratio = a.value / b.value;
    let apart = a.value - b.value > tol.bad_file_kld_sigmas * (err(a.err).powi(2) + err(b.err).powi(2)).sqrt();
    (ratio >= tol.bad_file_kld_ratio && apart).then_some(ratio)
}

/// The first failed run of `runtime` on `artifact` (generation, score or KLD), as its telling line.
fn failed_run(ev: &ModelEvidence, runtime: &str, artifact: &str) -> Option<String> {
    let gens = ev.generations.iter().filter(|(k, _)| k.runtime == runtime && k.artifact == artifact).map(|(_, o)| failure(o));
    let scores = ev.scores.get(&(runtime.to_string(), artifact.to_string())).map(failure);
    gens.chain(std::iter::once(scores.flatten())).flatten().next()
}

fn failure<T>(o: &Observed<T>) -> Option<String> {
    match o {
        Observed::Failed { error, invocation } => Some(one_line(&portable_paths(&telling_line(error, invocation)), 160)),
        _ => None,
    }
}

/// `runtime` ran some correctly made file of the model.
fn reads_correct_files(ev: &ModelEvidence, runtime: &str) -> Option<String> {
    ev.generations
        .iter()
        .find(|(k, o)| k.runtime == runtime && correctly_made(ev, &k.artifact) && matches!(o, Observed::Ok { .. }))
        .map(|(k, _)| k.artifact.clone())
}

fn header<'a>(ev: &'a ModelEvidence, artifact: &str) -> Option<&'a tmgt_schema::gguf_header::GgufFacts> {
    match &ev.conversions.get(artifact)?.observed {
        Observed::Ok { value, .. } => value.gguf.as_ref(),
        _ => None,
    }
}

/// The tokenizer keys whose values differ from the first correctly made GGUF with a
/// known header: "tokenizer.ggml.pre "default" (f32-gguf: "smollm")".
fn key_differences(ev: &ModelEvidence, artifact: &str) -> Vec<String> {
    let Some(mine) = header(ev, artifact) else { return Vec::new() };
    let correct = ev.conversions.keys().filter(|a| is_gguf(a) && correctly_made(ev, a)).find_map(|a| Some((a, header(ev, a)?)));
    let Some((name, theirs)) = correct else { return Vec::new() };
    let show = |v: Option<&String>| v.map_or("absent".to_string(), |s| format!("{s:?}"));
    HEADER_KEYS
        .iter()
        .filter(|key| mine.metadata.get(**key) != theirs.metadata.get(**key))
        .map(|key| format!("{key} {} ({name}: {})", show(mine.metadata.get(*key)), show(theirs.metadata.get(*key))))
        .collect()
}

/// The header beside a correct export's, and the file's weight types.
fn header_line(ev: &ModelEvidence, artifact: &str) -> Option<String> {
    let mut parts = key_differences(ev, artifact);
    parts.push(format!("weights {}", header(ev, artifact)?.mixture()));
    Some(parts.join("; "))
}

/// How apr encodes the prompts on `artifact`: Some(why) for the first prompt encoded
/// otherwise than the oracle did; None when every prompt apr ran is encoded alike (or
/// apr ran none).
fn apr_encoding(ev: &ModelEvidence, artifact: &str) -> Option<Option<String>> {
    let mut ran = false;
    for p in ev.goldens.keys() {
        let key = GenKey::new(APR, artifact, p);
        if let Some(Observed::Ok { .. }) = ev.generations.get(&key) {
            ran = true;
            if let Some((_, why)) = tokenizer_cause(ev, &key) {
                return Some(Some(why));
            }
        }
    }
    ran.then_some(None)
}

/// Every GGUF apr made that a correct engine convicts (see the module's doc).
pub fn convicted(ev: &ModelEvidence, tol: &Tolerances) -> Vec<BadFile> {
    let mut found = Vec::new();
    for (artifact, c) in &ev.conversions {
        if !is_gguf(artifact) || !apr_made(ev, artifact) || !matches!(c.observed, Observed::Ok { .. }) {
            continue;
        }
        let mut reasons = Vec::new();
        let mut witnesses = Vec::new();
        let bounds = kld::quant_of(artifact).and_then(|q| Some((q, kld::bounds(tol, q)?)));
        let mut engines: Vec<&str> =
            ev.kld.keys().map(|(r, _)| r.as_str()).chain(ev.generations.keys().map(|k| k.runtime.as_str())).filter(|r| *r != APR).collect();
        engines.sort();
        engines.dedup();
        for engine in engines {
            let key = |a: &str| (engine.to_string(), a.to_string());
            if let (Some(report), Some((quant, b))) = (full(ev.kld.get(&key(artifact))), bounds) {
                // The same engine on the best correct equivalent: it meets the bounds
                // apr's file misses, or apr's file is several times further off.
                let best = equivalents(ev, artifact)
                    .into_iter()
                    .filter_map(|e| Some((e, full(ev.kld.get(&key(e)))?)))
                    .min_by(|x, y| x.1.kld_mean.value.total_cmp(&y.1.kld_mean.value));
                if let (false, Some((e, r))) = (kld::problems(report, b).is_empty(), best) {
                    let why = if kld::problems(r, b).is_empty() {
                        Some(format!("within the {quant} bounds"))
                    } else {
                        far_worse(report, r, tol).map(|x| format!("{x:.1}× less"))
                    };
                    if let Some(why) = why {
                        reasons.push(format!("{engine} on it: {} (on {e}: mean KLD {:.3}, {why})", numbers(report), r.kld_mean.value));
                        witnesses.push(("kld".to_string(), format!("{engine}/{artifact}")));
                    }
                }
            }
            if let (Some(why), Some(correct)) = (failed_run(ev, engine, artifact), reads_correct_files(ev, engine)) {
                reasons.push(format!("{engine} cannot read it ({why}) but reads {correct}"));
            }
        }
        // apr itself: it encodes the prompts otherwise only on this file, whose
        // tokenizer keys differ from a correct export's, and as the oracle does on a
        // correct converter's file (its runtime reads those keys right).
        if let Some(Some(why)) = apr_encoding(ev, artifact) {
            let tokenizer_keys = key_differences(ev, artifact).iter().any(|d| d.starts_with("tokenizer."));
            let reads_right = ev.conversions.keys().find(|a| correctly_made(ev, a) && apr_encoding(ev, a) == Some(None));
            if let (true, Some(correct)) = (tokenizer_keys, reads_right) {
                reasons.push(format!("apr encodes the prompts otherwise only on this file ({why}), as the oracle does on {correct}"));
            }
        }
        if reasons.is_empty() {
            continue;
        }
        if let Some(h) = header_line(ev, artifact) {
            reasons.push(format!("its header: {h}"));
        }
        found.push(BadFile { artifact: artifact.clone(), evidence: reasons.join("; "), witnesses });
    }
    found
}

/// The outcome is about `artifact` (its case names it: "apr/int4-gguf/code",
/// "int4-gguf/code apr~candle", "candle/int4-gguf", "int4-gguf").
fn names(case: &str, artifact: &str) -> bool {
    case.split(['/', '~', ' ']).any(|w| w == artifact)
}

/// `case` with the word `from` (an artifact) replaced by `to`.
fn with_artifact(case: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    for ch in case.chars().chain(std::iter::once('\0')) {
        if matches!(ch, '/' | '~' | ' ' | '\0') {
            out.push_str(if word == from { to } else { &word });
            word.clear();
            if ch != '\0' {
                out.push(ch);
            }
        } else {
            word.push(ch);
        }
    }
    out
}

/// The failure signatures of the correct engines that cannot read `artifact` (while
/// they read correct files): their failed runs on it are the file's.
fn unreadable_signatures(ev: &ModelEvidence, artifact: &str) -> Vec<String> {
    let correct_reader = |r: &str| r != APR && reads_correct_files(ev, r).is_some();
    let gens =
        ev.generations.iter().filter(|(k, _)| k.artifact == artifact && correct_reader(&k.runtime)).filter_map(|(_, o)| failure_sig(o));
    let scores = ev.scores.iter().filter(|((r, a), _)| a == artifact && correct_reader(r)).filter_map(|(_, o)| failure_sig(o));
    let mut sigs: Vec<String> = gens.chain(scores).collect();
    sigs.sort();
    sigs.dedup();
    sigs
}

fn failure_sig<T>(o: &Observed<T>) -> Option<String> {
    match o {
        Observed::Failed { error, invocation } => Some(failure_signature(error, invocation)),
        _ => None,
    }
}

/// `made` is `artifact` or was made from it (through other files).
fn made_from(ev: &ModelEvidence, made: &str, artifact: &str) -> bool {
    let mut name = made;
    for _ in 0..8 {
        if name == artifact {
            return true;
        }
        match ev.conversions.get(name) {
            Some(c) => name = &c.from,
            None => return false,
        }
    }
    false
}

/// The outcome is about `artifact`: its case names it, or it is the roundtrip suite's
/// (whose cases are prompts on the roundtrip file) and the roundtrip was made from it.
fn about(ev: &ModelEvidence, o: &Outcome, artifact: &str) -> bool {
    names(&o.case, artifact) || (o.suite == "roundtrip" && made_from(ev, "roundtrip", artifact))
}

/// The problems on a convicted file that the file explains become apr's converter's
/// under the file's one signature, the correct engines' numbers as their blame
/// evidence:
/// - a converter finding on the file; the checks whose numbers convicted it; a check
///   (apr's or a comparator's) that passes, for the same runtime, on a correct equivalent;
/// - a correct engine's failed run on the file when it reads correct files;
/// - every apr finding on the file that shares a signature with one of those (one
///   cause, one group), or that has no counterpart on any equivalent and a signature
///   seen on no other file (nothing says it is apr's runtime's).
///
/// A check that fails on the equivalent too keeps its own verdict and subject;
/// reference claims and harness health stay where they are.
pub fn reattribute(ev: &ModelEvidence, tol: &Tolerances, outcomes: &mut [Outcome]) {
    for bad in convicted(ev, tol) {
        let equivalents = equivalents(ev, &bad.artifact);
        let counterparts = |o: &Outcome| -> Vec<&Verdict> {
            equivalents
                .iter()
                .flat_map(|e| {
                    let case = with_artifact(&o.case, &bad.artifact, e);
                    outcomes.iter().filter(move |x| x.suite == o.suite && x.case == case).map(|x| &x.status)
                })
                .collect()
        };
        let on_file = |o: &Outcome| {
            o.status.is_problem() && matches!(o.subject, Subject::UnderTest(_) | Subject::Comparator(_)) && about(ev, o, &bad.artifact)
        };
        let unreadable = unreadable_signatures(ev, &bad.artifact);
        let explained: Vec<usize> = (0..outcomes.len())
            .filter(|&i| {
                let o = &outcomes[i];
                on_file(o)
                    && (o.subject == subject::CONVERTER
                        || counterparts(o).contains(&&Verdict::Pass)
                        || unreadable.contains(&o.signature)
                        || bad.witnesses.iter().any(|(suite, case)| *suite == o.suite && *case == o.case))
            })
            .collect();
        let causes: Vec<String> =
            explained.iter().map(|&i| &outcomes[i]).filter(|o| o.subject.is_under_test()).map(|o| o.signature.clone()).collect();
        let elsewhere = |sig: &str| outcomes.iter().any(|x| x.signature == sig && !about(ev, x, &bad.artifact));
        let joins: Vec<usize> = (0..outcomes.len())
            .filter(|&i| {
                let o = &outcomes[i];
                let apr_on_file = on_file(o) && o.subject.is_under_test();
                explained.contains(&i)
                    || (apr_on_file && causes.contains(&o.signature))
                    || (apr_on_file && counterparts(o).is_empty() && !elsewhere(&o.signature))
            })
            .collect();
        let signature = bad.signature();
        for i in joins {
            let o = &mut outcomes[i];
            o.subject = subject::CONVERTER;
            o.signature = signature.clone();
            o.evidence.details["blame"] = serde_json::json!(bad.evidence);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conversions::Conversion;
    use super::super::testutil::*;
    use super::*;
    use tmgt_schema::gguf_header::GgufFacts;
    use tmgt_schema::kld::{summarize, RowStats};

    const CANDLE: &str = "candle";
    const LLAMA: &str = "llama.cpp";

    /// A full-vocabulary report: every position at `kld`, `top1` of them the same top-1,
    /// the runtime's token `kld` nats less likely than the oracle's.
    fn report(kld: f64, top1: f64) -> Observed<KldReport> {
        let rows: Vec<RowStats> = (0..1000)
            .map(|i| RowStats { kld, lp_reference: -2.0, lp_runtime: -2.0 - kld, same_top1: (i as f64) < top1 * 1000.0 })
            .collect();
        Observed::Ok { value: summarize(&rows, "sha"), invocation: inv(&["llamacpp-comparator", "kld"], "") }
    }

    /// `n` positions, half at `kld − spread`, half at `kld + spread` (a standard error
    /// of about spread/√n), none with the oracle's top-1.
    fn noisy(kld: f64, spread: f64, n: usize) -> Observed<KldReport> {
        let rows: Vec<RowStats> = (0..n)
            .map(|i| {
                let k = if i % 2 == 0 { kld - spread } else { kld + spread };
                RowStats { kld: k, lp_reference: -2.0, lp_runtime: -2.0 - k, same_top1: false }
            })
            .collect();
        Observed::Ok { value: summarize(&rows, "sha"), invocation: inv(&["llamacpp-comparator", "kld"], "") }
    }

    fn with_header(mut c: Conversion, meta: &[(&str, &str)], types: &[(&str, usize)]) -> Conversion {
        if let Observed::Ok { value, .. } = &mut c.observed {
            value.gguf = Some(GgufFacts {
                metadata: meta.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                weight_types: types.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
                ..Default::default()
            });
        }
        c
    }

    /// apr's int4 and its export; candle's q4_0-gguf and f32-gguf; llama.cpp's pure Q4_0.
    fn files() -> ModelEvidence {
        let mut ev = evidence();
        ev.conversions.insert("int4".into(), conversion(APR, "reference", 4));
        ev.conversions
            .insert("int4-gguf".into(), with_header(conversion(APR, "int4", 4), &[("tokenizer.ggml.pre", "default")], &[("F32", 212)]));
        ev.conversions.insert("q4_0-gguf".into(), conversion(CANDLE, "reference", 4));
        ev.conversions.insert(
            "f32-gguf".into(),
            with_header(
                conversion(CANDLE, "reference", 32),
                &[("tokenizer.ggml.pre", "smollm"), ("tokenizer.ggml.add_bos_token", "false")],
                &[("F32", 211)],
            ),
        );
        ev.conversions.insert("lcpp-q4_0-pure-gguf".into(), conversion(LLAMA, "f32-gguf", 4));
        for engine in [CANDLE, LLAMA] {
            set_all(&mut ev, engine, "q4_0-gguf", &seq(32));
            set_all(&mut ev, engine, "int4-gguf", &seq(32));
            set_all(&mut ev, engine, "lcpp-q4_0-pure-gguf", &seq(32));
        }
        ev
    }

    #[test]
    fn a_file_correct_engines_fail_on_but_not_on_its_equivalent_is_convicted() {
        let tol = Tolerances::spec();
        let mut ev = files();
        // Within the bounds everywhere: nothing to convict.
        ev.kld.insert((LLAMA.into(), "int4-gguf".into()), report(0.3, 0.7));
        ev.kld.insert((LLAMA.into(), "lcpp-q4_0-pure-gguf".into()), report(0.25, 0.72));
        assert!(convicted(&ev, &tol).is_empty());
        // llama.cpp misses the int4 bounds on apr's file and meets them on the pure Q4_0.
        ev.kld.insert((LLAMA.into(), "int4-gguf".into()), report(3.17, 0.108));
        let bad = convicted(&ev, &tol);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].artifact, "int4-gguf");
        assert_eq!(bad[0].witnesses, vec![("kld".to_string(), "llama.cpp/int4-gguf".to_string())]);
        assert_eq!(bad[0].signature(), "apr converter: int4-gguf fails where correct converters' files of the model do not");
        let e = &bad[0].evidence;
        assert!(e.starts_with("llama.cpp on it: PPL 175.9 vs oracle 7.4, mean KLD 3.170, same top-1 10.8% (on lcpp-q4_0-pure-gguf: mean KLD 0.250, within the int4 bounds)"), "{e}");
        assert!(
            e.ends_with(
                "its header: tokenizer.ggml.pre \"default\" (f32-gguf: \"smollm\"); tokenizer.ggml.add_bos_token absent (f32-gguf: \"false\"); weights 212 × F32"
            ),
            "{e}"
        );
        // No equivalent meets the bounds: the file is convicted only when it is at least
        // bad_file_kld_ratio (2×) further off, beyond 2 standard errors.
        ev.kld.insert((LLAMA.into(), "lcpp-q4_0-pure-gguf".into()), report(0.9, 0.5));
        let bad = convicted(&ev, &tol);
        assert!(bad[0].evidence.starts_with("llama.cpp on it: PPL 175.9 vs oracle 7.4, mean KLD 3.170, same top-1 10.8% (on lcpp-q4_0-pure-gguf: mean KLD 0.900, 3.5× less)"), "{}", bad[0].evidence);
        ev.kld.insert((LLAMA.into(), "lcpp-q4_0-pure-gguf".into()), report(1.6, 0.5));
        assert!(convicted(&ev, &tol).is_empty(), "1.98×: within the spread of correct files");
        ev.kld.insert((LLAMA.into(), "lcpp-q4_0-pure-gguf".into()), report(1.58, 0.5));
        assert_eq!(convicted(&ev, &tol).len(), 1, "2.006×");
        // The same ratio on a handful of noisy positions: not beyond 2σ.
        ev.kld.insert((LLAMA.into(), "int4-gguf".into()), noisy(3.17, 3.0, 4));
        ev.kld.insert((LLAMA.into(), "lcpp-q4_0-pure-gguf".into()), noisy(0.9, 0.8, 4));
        assert!(convicted(&ev, &tol).is_empty());
        // Files made by correct converters are never convicted here.
        ev.kld.insert((LLAMA.into(), "q4_0-gguf".into()), report(3.0, 0.1));
        assert!(convicted(&ev, &tol).iter().all(|b| b.artifact != "q4_0-gguf"));
    }

    #[test]
    fn an_engine_that_cannot_read_only_apr_s_file_convicts_it() {
        let tol = Tolerances::spec();
        let mut ev = files();
        let failed = Observed::Failed {
            error: "oracle-gen: error: /home/u/models/m/int4.gguf: tokenizer.ggml.pre \"default\" is not supported".into(),
            invocation: inv(&["oracle-gen"], ""),
        };
        for p in PROMPTS {
            ev.generations.insert(GenKey::new(CANDLE, "int4-gguf", p), failed.clone());
        }
        let bad = convicted(&ev, &tol);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(
            bad[0].evidence.starts_with("candle cannot read it (oracle-gen: error: models/m/int4.gguf: tokenizer.ggml.pre \"default\" is not supported) but reads lcpp-q4_0-pure-gguf"),
            "{}",
            bad[0].evidence
        );
        // An engine that reads nothing correct either has its own problem.
        for a in ["q4_0-gguf", "lcpp-q4_0-pure-gguf"] {
            for p in PROMPTS {
                ev.generations.insert(GenKey::new(CANDLE, a, p), failed.clone());
            }
        }
        assert!(convicted(&ev, &tol).is_empty());
    }

    #[test]
    fn apr_encoding_otherwise_only_on_its_export_with_other_tokenizer_keys_convicts_it() {
        let tol = Tolerances::spec();
        let mut ev = files();
        let bos = |ev: &mut ModelEvidence, artifact: &str| {
            for p in PROMPTS {
                let mut g = gen(seq(32));
                g.prompt_tokens = Some([vec![1], ev.goldens[p].prompt_tokens.clone()].concat());
                ev.generations.insert(GenKey::new(APR, artifact, p), ok(g));
            }
        };
        let alike = |ev: &mut ModelEvidence, artifact: &str| {
            for p in PROMPTS {
                let mut g = gen(seq(32));
                g.prompt_tokens = Some(ev.goldens[p].prompt_tokens.clone());
                ev.generations.insert(GenKey::new(APR, artifact, p), ok(g));
            }
        };
        bos(&mut ev, "int4-gguf");
        // apr prepends BOS everywhere: its runtime's, not the file's.
        bos(&mut ev, "q4_0-gguf");
        assert!(convicted(&ev, &tol).is_empty());
        // apr encodes a correct file as the oracle does: the file's keys are the difference.
        alike(&mut ev, "q4_0-gguf");
        let bad = convicted(&ev, &tol);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(
            bad[0].evidence.starts_with("apr encodes the prompts otherwise only on this file (prompt encoded differently (runtime prepends token 1 (BOS?))), as the oracle does on q4_0-gguf; its header: tokenizer.ggml.pre"),
            "{}",
            bad[0].evidence
        );
        // The same with the header's tokenizer keys as a correct export's: not the file.
        if let Observed::Ok { value, .. } = &mut ev.conversions.get_mut("int4-gguf").unwrap().observed {
            value.gguf.as_mut().unwrap().metadata = [("tokenizer.ggml.pre", "smollm"), ("tokenizer.ggml.add_bos_token", "false")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        }
        assert!(convicted(&ev, &tol).is_empty());
    }

    #[test]
    fn the_problems_the_convicted_file_explains_join_one_converter_group() {
        let tol = Tolerances::spec();
        let mut ev = files();
        ev.kld.insert((LLAMA.into(), "int4-gguf".into()), report(3.17, 0.108));
        ev.kld.insert((LLAMA.into(), "lcpp-q4_0-pure-gguf".into()), report(0.25, 0.72));
        ev.conversions.insert("roundtrip".into(), conversion(APR, "int4-gguf", 4));
        let failed_inv = inv(&["oracle-gen", "score-gguf", "int4.gguf"], "");
        let error = "tokenizer.ggml.pre \"default\" is not supported";
        ev.scores.insert((CANDLE.into(), "int4-gguf".into()), Observed::Failed { error: error.into(), invocation: failed_inv.clone() });
        let unreadable = failure_signature(error, &failed_inv);
        let fail = |suite: &str, case: &str, subject: Subject, sig: &str| {
            Case::new(suite, "tiny", case, subject).fail("x", sig, Evidence::default())
        };
        let pass = |suite: &str, case: &str| Case::new(suite, "tiny", case, subject::RUNTIME).pass("ok", Evidence::default());
        let mut outs = vec![
            // Explained: passes on an equivalent for the same runtime, or a converter finding.
            fail("tokenizer", "apr/int4-gguf/code", subject::EITHER, "apr: prepends BOS"),
            pass("tokenizer", "apr/q4_0-gguf/code"),
            fail("kld", "llama.cpp/int4-gguf", Subject::comparator(LLAMA), "llama.cpp: drift"),
            pass("kld", "llama.cpp/lcpp-q4_0-pure-gguf"),
            fail("cross-runtime", "int4-gguf/code apr~llama.cpp", subject::RUNTIME, "pair"),
            pass("cross-runtime", "q4_0-gguf/code apr~llama.cpp"),
            fail("inspect", "int4-gguf", subject::CONVERTER, "export writes F32"),
            // apr's, sharing an explained cause's signature (a dependent BLOCKED too).
            fail("divergence", "apr/int4-gguf/code", subject::EITHER, "apr: prepends BOS"),
            Case::new("kld", "tiny", "apr/int4-gguf (top-k)", subject::EITHER).blocked("b", "apr: prepends BOS", Evidence::default()),
            // Fails on the equivalent too: its own verdict and subject.
            fail("divergence", "llama.cpp/int4-gguf/code", Subject::comparator(LLAMA), "llama.cpp: other tokens"),
            fail("divergence", "llama.cpp/q4_0-gguf/code", Subject::comparator(LLAMA), "llama.cpp: other tokens"),
            fail("reference-ppl", "apr/int4-gguf", subject::EITHER, "apr: PPL far"),
            fail("reference-ppl", "apr/q4_0-gguf", subject::RUNTIME, "apr: PPL far"),
            // A comparator's finding never lends its signature; other files, PASSes,
            // the reference and the harness are untouched.
            fail("logprobs", "candle/int4-gguf/code", Subject::comparator(CANDLE), "llama.cpp: drift"),
            fail("divergence", "apr/int4/code", subject::EITHER, "apr: prepends BOS"),
            fail("divergence", "apr/int4-gguf-other/code", subject::EITHER, "apr: prepends BOS"),
            Case::new("divergence", "tiny", "apr/int4-gguf/greeting", subject::EITHER).pass("ok", Evidence::default()),
            fail("kld", "bounds/int4-gguf", Subject::Reference, "r"),
            fail("kld", "int4-gguf", Subject::Harness, "h"),
            // The row whose numbers convicted the file, though its equivalent fails too.
            fail("kld", "llama.cpp/int4-gguf", Subject::comparator(LLAMA), "llama.cpp: drift beyond"),
            fail("kld", "llama.cpp/lcpp-q4_0-pure-gguf", Subject::comparator(LLAMA), "llama.cpp: drift beyond"),
            // A correct engine's failed run on the file (it reads correct files): the file's.
            fail("reference-ppl", "candle/int4-gguf", Subject::comparator(CANDLE), &unreadable),
            // The roundtrip, made from the file, blocked by its converter finding.
            Case::new("roundtrip", "tiny", "arithmetic", subject::CONVERTER).blocked("b", "export writes F32", Evidence::default()),
            // apr's, with no counterpart on any equivalent: joins unless its signature is
            // seen on another file (then it is apr's, whatever the file).
            fail("bench", "int4-gguf", subject::RUNTIME, "apr: slow"),
            fail("qa", "int4-gguf", subject::RUNTIME, "apr: panic"),
            fail("qa", "int8", subject::EITHER, "apr: panic"),
        ];
        let before = outs.clone();
        reattribute(&ev, &tol, &mut outs);
        let sig = "apr converter: int4-gguf fails where correct converters' files of the model do not";
        let joined: Vec<usize> = (0..outs.len()).filter(|&i| outs[i].signature == sig).collect();
        assert_eq!(joined, vec![0, 2, 4, 6, 7, 8, 19, 21, 22, 23], "{outs:#?}");
        for &i in &joined {
            assert_eq!(outs[i].subject, subject::CONVERTER, "{}", outs[i].case);
            assert!(outs[i].evidence.details["blame"].as_str().unwrap().contains("llama.cpp on it: PPL"), "{}", outs[i].case);
            assert_eq!(outs[i].status, before[i].status, "a verdict is kept");
        }
        for i in (0..outs.len()).filter(|i| !joined.contains(i)) {
            assert_eq!(outs[i], before[i], "{}", outs[i].case);
        }
    }

    /// A report with the given mean KLD and its standard error (the rest as `report`'s).
    fn mean(kld: f64, err: f64) -> KldReport {
        let Observed::Ok { mut value, .. } = report(kld, 0.5) else { unreachable!() };
        value.kld_mean = tmgt_schema::kld::Est { value: kld, err };
        value
    }

    #[test]
    fn far_worse_needs_the_ratio_and_the_standard_errors() {
        let tol = Tolerances::spec();
        // 3 vs 1, errors 0.6 and 0.8: apart by exactly 2σ (2 · 1.0) is not beyond it.
        assert_eq!(far_worse(&mean(3.0, 0.6), &mean(1.0, 0.8), &tol), None);
        assert_eq!(far_worse(&mean(3.01, 0.6), &mean(1.0, 0.8), &tol), Some(3.01));
        // 3 vs 1 with a combined error of 1.25: 2 < 2.5 (the ratio 3 alone does not do).
        assert_eq!(far_worse(&mean(3.0, 0.75), &mean(1.0, 1.0), &tol), None);
        // The errors add in quadrature: 4 vs 1 with errors 0 and 1 is 3 > 2.
        assert_eq!(far_worse(&mean(4.0, 0.0), &mean(1.0, 1.0), &tol), Some(4.0));
        // Under the ratio: none, however far apart.
        assert_eq!(far_worse(&mean(1.9, 0.0), &mean(1.0, 0.0), &tol), None);
        assert_eq!(far_worse(&mean(2.0, 0.0), &mean(1.0, 0.0), &tol), Some(2.0));
        // An undefined error counts as none.
        assert_eq!(far_worse(&mean(4.0, f64::NAN), &mean(1.0, 0.0), &tol), Some(4.0));
    }

    #[test]
    fn only_full_vocabulary_rows_with_positions_convict() {
        let tol = Tolerances::spec();
        let mut ev = files();
        ev.kld.insert((LLAMA.into(), "lcpp-q4_0-pure-gguf".into()), report(0.25, 0.72));
        // A top-k lower bound far off, and a full row that compared nothing: no evidence.
        let rows: Vec<tmgt_schema::kld::TopKRow> = (0..50)
            .map(|_| tmgt_schema::kld::TopKRow {
                context_matches: true,
                same_top1: false,
                kld_lower_bound: 5.0,
                lp_reference: -1.0,
                lp_runtime: Some(-6.0),
            })
            .collect();
        let top_k = tmgt_schema::kld::summarize_top_k(&rows, 5, "sha");
        assert!(!kld::problems(&top_k, kld::bounds(&tol, "int4").unwrap()).is_empty());
        ev.kld.insert((LLAMA.into(), "int4-gguf".into()), Observed::Ok { value: top_k, invocation: inv(&["x"], "") });
        assert!(convicted(&ev, &tol).is_empty());
        ev.kld.insert((LLAMA.into(), "int4-gguf".into()), Observed::Ok { value: summarize(&[], "sha"), invocation: inv(&["x"], "") });
        assert!(convicted(&ev, &tol).is_empty());
    }

    #[test]
    fn the_header_is_set_beside_a_correctly_made_gguf_only() {
        let tol = Tolerances::spec();
        let mut ev = files();
        ev.kld.insert((LLAMA.into(), "int4-gguf".into()), report(3.17, 0.108));
        ev.kld.insert((LLAMA.into(), "lcpp-q4_0-pure-gguf".into()), report(0.25, 0.72));
        // Another file apr made, first by name, with apr's own header: never the reference.
        ev.conversions
            .insert("e-gguf".into(), with_header(conversion(APR, "int4", 4), &[("tokenizer.ggml.pre", "default")], &[("F32", 1)]));
        let e = &convicted(&ev, &tol)[0].evidence;
        assert!(e.contains("tokenizer.ggml.pre \"default\" (f32-gguf: \"smollm\")"), "{e}");
    }

    #[test]
    fn only_correct_engines_failed_runs_on_the_file_and_its_own_roundtrip_join() {
        let tol = Tolerances::spec();
        let mut ev = files();
        ev.kld.insert((LLAMA.into(), "int4-gguf".into()), report(3.17, 0.108));
        ev.kld.insert((LLAMA.into(), "lcpp-q4_0-pure-gguf".into()), report(0.25, 0.72));
        // The roundtrip made from apr's int4, not from the convicted export.
        ev.conversions.insert("roundtrip".into(), conversion(APR, "int4", 4));
        let failed = |args: &[&str], error: &str| Observed::Failed { error: error.into(), invocation: inv(args, "") };
        // apr reads a correct file: still never a correct engine whose failures are the file's.
        set_all(&mut ev, APR, "q4_0-gguf", &seq(32));
        // apr's own failed run and score on the file; candle's failed run on another file.
        ev.generations.insert(GenKey::new(APR, "int4-gguf", "code"), failed(&["apr", "run"], "apr boom"));
        ev.scores.insert(
            (APR.into(), "int4-gguf".into()),
            Observed::Failed { error: "apr eval boom".into(), invocation: inv(&["apr", "eval"], "") },
        );
        ev.generations.insert(GenKey::new(CANDLE, "q4_0-gguf", "code"), failed(&["oracle-gen", "run-gguf"], "candle boom"));
        let sig = |args: &[&str], error: &str| failure_signature(error, &inv(args, ""));
        let (run, eval, other) =
            (sig(&["apr", "run"], "apr boom"), sig(&["apr", "eval"], "apr eval boom"), sig(&["oracle-gen", "run-gguf"], "candle boom"));
        assert!(unreadable_signatures(&ev, "int4-gguf").is_empty(), "apr's failures and failures elsewhere are not unreadability");
        let fail = |suite: &str, case: &str, subject: Subject, sig: &str| {
            Case::new(suite, "tiny", case, subject).fail("x", sig, Evidence::default())
        };
        let mut outs = vec![
            // Each with a failing counterpart and its signature seen on another file too.
            fail("divergence", "apr/int4-gguf/code", subject::EITHER, &run),
            fail("divergence", "apr/q4_0-gguf/code", subject::RUNTIME, &run),
            fail("reference-ppl", "apr/int4-gguf", subject::EITHER, &eval),
            fail("reference-ppl", "apr/q4_0-gguf", subject::RUNTIME, &eval),
            fail("logprobs", "apr/int4-gguf/code", subject::EITHER, &other),
            fail("logprobs", "apr/q4_0-gguf/code", subject::RUNTIME, &other),
            // A PASS in another suite is no counterpart.
            fail("tokenizer", "apr/int4-gguf/greeting", subject::EITHER, "own"),
            fail("tokenizer", "apr/int8/greeting", subject::EITHER, "own"),
            Case::new("divergence", "tiny", "apr/q4_0-gguf/greeting", subject::RUNTIME).pass("ok", Evidence::default()),
            // The witness is the kld row, not a same-named case of another suite.
            fail("tokenizer-battery", "llama.cpp/int4-gguf", Subject::comparator(LLAMA), "battery"),
            fail("tokenizer-battery", "llama.cpp/lcpp-q4_0-pure-gguf", Subject::comparator(LLAMA), "battery"),
            fail("kld", "llama.cpp/int4-gguf", Subject::comparator(LLAMA), "drift"),
            // The roundtrip suite, its file not made from the convicted one.
            Case::new("roundtrip", "tiny", "arithmetic", subject::CONVERTER).fail("x", "roundtrip changes tokens", Evidence::default()),
        ];
        let before = outs.clone();
        reattribute(&ev, &tol, &mut outs);
        let changed: Vec<usize> = (0..outs.len()).filter(|&i| outs[i] != before[i]).collect();
        assert_eq!(changed, vec![11], "{outs:#?}");
    }

    #[test]
    fn a_case_s_artifact_is_a_whole_word() {
        assert!(names("int4-gguf/code apr~candle", "int4-gguf") && names("candle/int4-gguf", "int4-gguf"));
        assert!(!names("apr/int4-gguf-other/code", "int4-gguf") && !names("apr/int4/code", "int4-gguf"));
        assert_eq!(with_artifact("int4-gguf/code apr~candle", "int4-gguf", "q4_0-gguf"), "q4_0-gguf/code apr~candle");
        assert_eq!(with_artifact("apr/int4-gguf (top-k)", "int4-gguf", "q4_0-gguf"), "apr/q4_0-gguf (top-k)");
        assert_eq!(with_artifact("apr/int4-gguf-x/int4-gguf", "int4-gguf", "e"), "apr/int4-gguf-x/e");
    }
}
