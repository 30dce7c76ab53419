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
}

impl BadFile {
    pub fn signature(&self) -> String {
        format!("apr converter: {} is not the model (correct engines fail on it, not on equivalent files)", self.artifact)
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

/// "tokenizer.ggml.pre "default" (f32-gguf: "smollm"); …" against the first correctly
/// made GGUF whose header is known, and the file's weight types.
fn header_differences(ev: &ModelEvidence, artifact: &str) -> Option<String> {
    let mine = header(ev, artifact)?;
    let mut parts = Vec::new();
    let correct = ev.conversions.keys().filter(|a| is_gguf(a) && correctly_made(ev, a)).find_map(|a| Some((a, header(ev, a)?)));
    if let Some((name, theirs)) = correct {
        for key in HEADER_KEYS {
            let show = |v: Option<&String>| v.map_or("absent".to_string(), |s| format!("{s:?}"));
            let (a, b) = (mine.metadata.get(key), theirs.metadata.get(key));
            if a != b {
                parts.push(format!("{key} {} ({name}: {})", show(a), show(b)));
            }
        }
    }
    parts.push(format!("weights {}", mine.mixture()));
    Some(parts.join("; "))
}

/// Every GGUF apr made that a correct engine convicts (see the module's doc).
pub fn convicted(ev: &ModelEvidence, tol: &Tolerances) -> Vec<BadFile> {
    let mut found = Vec::new();
    for (artifact, c) in &ev.conversions {
        if !is_gguf(artifact) || !apr_made(ev, artifact) || !matches!(c.observed, Observed::Ok { .. }) {
            continue;
        }
        let mut reasons = Vec::new();
        let bounds = kld::quant_of(artifact).and_then(|q| Some((q, kld::bounds(tol, q)?)));
        let mut engines: Vec<&str> =
            ev.kld.keys().map(|(r, _)| r.as_str()).chain(ev.generations.keys().map(|k| k.runtime.as_str())).filter(|r| *r != APR).collect();
        engines.sort();
        engines.dedup();
        for engine in engines {
            let key = |a: &str| (engine.to_string(), a.to_string());
            if let (Some(report), Some((quant, b))) = (full(ev.kld.get(&key(artifact))), bounds) {
                if !kld::problems(report, b).is_empty() {
                    let meets = equivalents(ev, artifact)
                        .into_iter()
                        .find_map(|e| full(ev.kld.get(&key(e))).filter(|r| kld::problems(r, b).is_empty()).map(|r| (e, r)));
                    if let Some((e, r)) = meets {
                        reasons.push(format!(
                            "{engine} on it: {} (on {e}: mean KLD {:.3}, within the {quant} bounds)",
                            numbers(report),
                            r.kld_mean.value
                        ));
                    }
                }
            }
            if let (Some(why), Some(correct)) = (failed_run(ev, engine, artifact), reads_correct_files(ev, engine)) {
                reasons.push(format!("{engine} cannot read it ({why}) but reads {correct}"));
            }
        }
        if reasons.is_empty() {
            continue;
        }
        if let Some(h) = header_differences(ev, artifact) {
            reasons.push(format!("its header: {h}"));
        }
        found.push(BadFile { artifact: artifact.clone(), evidence: reasons.join("; ") });
    }
    found
}

/// The outcome is about `artifact` (its case names it: "apr/int4-gguf/code",
/// "int4-gguf/code apr~candle", "candle/int4-gguf", "int4-gguf").
fn names(case: &str, artifact: &str) -> bool {
    case.split(['/', '~', ' ']).any(|w| w == artifact)
}

/// Every problem on a convicted file, apr's or a comparator's, becomes apr's
/// converter's under the file's one signature; the correct engines' numbers are its
/// blame evidence. Reference claims and harness health stay where they are.
pub fn reattribute(ev: &ModelEvidence, tol: &Tolerances, outcomes: &mut [Outcome]) {
    for bad in convicted(ev, tol) {
        let signature = bad.signature();
        for o in outcomes.iter_mut() {
            let about_a_party = matches!(o.subject, Subject::UnderTest(_) | Subject::Comparator(_));
            if o.status.is_problem() && about_a_party && names(&o.case, &bad.artifact) {
                o.subject = subject::CONVERTER;
                o.signature = signature.clone();
                o.evidence.details["blame"] = serde_json::json!(bad.evidence);
            }
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
        assert_eq!(bad[0].signature(), "apr converter: int4-gguf is not the model (correct engines fail on it, not on equivalent files)");
        let e = &bad[0].evidence;
        assert!(e.starts_with("llama.cpp on it: PPL 175.9 vs oracle 7.4, mean KLD 3.170, same top-1 10.8% (on lcpp-q4_0-pure-gguf: mean KLD 0.250, within the int4 bounds)"), "{e}");
        assert!(
            e.ends_with(
                "its header: tokenizer.ggml.pre \"default\" (f32-gguf: \"smollm\"); tokenizer.ggml.add_bos_token absent (f32-gguf: \"false\"); weights 212 × F32"
            ),
            "{e}"
        );
        // The same numbers with no equivalent meeting the bounds: the claim's, not the file's.
        ev.kld.insert((LLAMA.into(), "lcpp-q4_0-pure-gguf".into()), report(0.9, 0.5));
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
    fn every_problem_on_a_convicted_file_joins_one_converter_group() {
        let tol = Tolerances::spec();
        let mut ev = files();
        ev.kld.insert((LLAMA.into(), "int4-gguf".into()), report(3.17, 0.108));
        ev.kld.insert((LLAMA.into(), "lcpp-q4_0-pure-gguf".into()), report(0.25, 0.72));
        let fail =
            |suite: &str, case: &str, subject: Subject| Case::new(suite, "tiny", case, subject).fail("x", "own cause", Evidence::default());
        let mut outs = vec![
            fail("tokenizer", "apr/int4-gguf/code", subject::EITHER),
            fail("divergence", "llama.cpp/int4-gguf/code", Subject::comparator(LLAMA)),
            fail("cross-runtime", "int4-gguf/code apr~llama.cpp", subject::RUNTIME),
            fail("inspect", "int4-gguf", subject::CONVERTER),
            Case::new("tokenizer", "tiny", "candle/int4-gguf/code", Subject::comparator(CANDLE)).blocked(
                "b",
                "blocked cause",
                Evidence::default(),
            ),
            // Not about the file, not a problem, or not a party: untouched.
            fail("divergence", "apr/int4/code", subject::EITHER),
            fail("divergence", "apr/int4-gguf-other/code", subject::EITHER),
            Case::new("divergence", "tiny", "apr/int4-gguf/greeting", subject::EITHER).pass("ok", Evidence::default()),
            fail("kld", "bounds/int4-gguf", Subject::Reference),
            fail("kld", "int4-gguf", Subject::Harness),
        ];
        reattribute(&ev, &tol, &mut outs);
        let sig = "apr converter: int4-gguf is not the model (correct engines fail on it, not on equivalent files)";
        for o in &outs[..5] {
            assert_eq!((&o.subject, o.signature.as_str()), (&subject::CONVERTER, sig), "{}", o.case);
            assert!(o.evidence.details["blame"].as_str().unwrap().starts_with("llama.cpp on it: PPL"), "{}", o.case);
        }
        assert_eq!(outs[4].status, Verdict::Blocked, "a verdict is kept");
        assert_eq!((&outs[5].subject, outs[5].signature.as_str()), (&subject::EITHER, "own cause"));
        assert_eq!(outs[6].signature, "own cause");
        assert_eq!((outs[7].status, &outs[7].subject), (Verdict::Pass, &subject::EITHER));
        assert_eq!((&outs[8].subject, &outs[9].subject), (&Subject::Reference, &Subject::Harness));
    }
}
