//! kld: the drift of every full-logit runtime (candle on GGUF, llama.cpp) from the
//! oracle over the KLD text, judged per artifact against the bounds pre-registered
//! for its quantization (`kld_mean_max`, `kld_p99_max`, `kld_same_top1_min`). The
//! statistics are computed by the scorer (`tmgt_schema::kld`); here they are only
//! compared with the bounds. A runtime that reports only its top-k (apr) gives a
//! lower bound of the KLD, labelled `coverage: top-k`, never a full-vocabulary figure.

use super::*;
use tmgt_schema::kld::TopKRow;
pub use tmgt_schema::kld::{Coverage, Est, KldReport};
use tmgt_schema::TokenLogprob;

/// The quantization a pre-registered bound is kept for: the artifact table's
/// (`crate::artifacts`) f32, q8_0, int8, q4_0, int4, q4_k; "native" for the roster's
/// own GGUF (the reference is its exact dequantization). None: no bound (reported,
/// not judged). Never read from the artifact's name: renaming one keeps its bound.
pub fn quant_of(artifact: &str) -> Option<&'static str> {
    crate::artifacts::quantization(artifact)
}

/// The bounds the KLD suite judges `quant` by: (mean KLD max, 99th percentile max,
/// same-top-1 min, the standard errors a top-k lower bound must miss them by).
pub fn bounds(tol: &Tolerances, quant: &str) -> Option<(f64, f64, f64, f64)> {
    Some((*tol.kld_mean_max.get(quant)?, *tol.kld_p99_max.get(quant)?, *tol.kld_same_top1_min.get(quant)?, tol.kld_topk_sigmas))
}

/// What keeps a report from meeting its bounds (empty: it meets them). Full
/// vocabulary: the point estimates (n is in the thousands). Top-k (a sample of a
/// few positions, a lower bound): only what is outside by more than `sigmas` standard
/// errors, on the mean KLD bound and same-top-1; no percentile of a lower bound.
pub fn problems(r: &KldReport, (mean_max, p99_max, top1_min, sigmas): (f64, f64, f64, f64)) -> Vec<String> {
    let mut out = Vec::new();
    if r.n == 0 {
        out.push("no position compared".into());
        return out;
    }
    match r.coverage {
        Coverage::FullVocabulary => {
            if !at_most(r.kld_mean.value, mean_max) {
                out.push(format!("mean KLD {:.5} > {mean_max}", r.kld_mean.value));
            }
            if !at_most(r.kld_p99, p99_max) {
                out.push(format!("99% KLD {:.4} > {p99_max}", r.kld_p99));
            }
            if !at_most(top1_min, r.same_top1.value) {
                out.push(format!("same top-1 {:.2}% < {:.0}%", 100.0 * r.same_top1.value, 100.0 * top1_min));
            }
        }
        Coverage::TopK { .. } => {
            let err = |e: Est| if e.err.is_finite() { e.err } else { 0.0 };
            if r.kld_mean.value - sigmas * err(r.kld_mean) > mean_max {
                out.push(format!("mean KLD ≥ {:.4} (lower bound) > {mean_max}", r.kld_mean.value));
            }
            if r.same_top1.value + sigmas * err(r.same_top1) < top1_min {
                out.push(format!("same top-1 {:.1}% < {:.0}% (by > {sigmas}σ)", 100.0 * r.same_top1.value, 100.0 * top1_min));
            }
        }
    }
    out
}

/// a ≤ b, false when either is NaN (a NaN statistic never meets a bound).
fn at_most(a: f64, b: f64) -> bool {
    a <= b
}

/// One line of numbers: "PPL 21.3 vs 20.9 (ln ratio 0.019 ± 0.004), KLD 0.0213 ± 0.0008, 99% 0.21, same top-1 93.1%".
pub fn summary_line(r: &KldReport) -> String {
    let top1 = 100.0 * r.same_top1.value;
    match r.coverage {
        Coverage::FullVocabulary => format!(
            "n {}: PPL {:.3} vs oracle {:.3} (ln ratio {:+.4} ± {:.4}); KLD {:.5} ± {:.5}, 99% {:.4}, max {:.3}; same top-1 {top1:.2}%",
            r.n, r.ppl_runtime.value, r.ppl_reference.value, r.ln_ppl_ratio.value, r.ln_ppl_ratio.err, r.kld_mean.value, r.kld_mean.err, r.kld_p99, r.kld_max
        ),
        Coverage::TopK { k, sampled } => format!(
            "top-{k} at {} of {sampled} sampled positions (not full-vocabulary): KLD ≥ {:.4} ± {:.4} (lower bound); same top-1 {top1:.1}% ± {:.1}",
            r.n,
            r.kld_mean.value,
            r.kld_mean.err,
            100.0 * r.same_top1.err
        ),
    }
}

/// apr's top-k drift on one artifact (see `apr_top_k`).
#[derive(Debug, Default)]
pub struct TopKDrift {
    pub rows: Vec<TopKRow>,
    /// The longest top-k list apr gave.
    pub k: usize,
    /// The first run's invocation: the repro.
    pub invocation: Option<Invocation>,
    pub prompts: Vec<String>,
    /// The first prompt-encoding difference (every context differs: the tokenizer's finding).
    pub encoding_differs: Option<String>,
}

/// What apr's top-k allows: apr gives no full logits and scores no text position by
/// position, only its own top-k at each greedy step of the roster's prompts
/// (`apr run --logprobs`). At the steps whose context equals the golden's (the
/// prompt encoded alike, steps up to and including the first divergence) the
/// golden's top-k and apr's bound the KLD from below (`compare_top_k_lists`). These
/// are the prompts' positions, not the KLD text's: labelled `coverage: top-k`.
pub fn apr_top_k(ev: &ModelEvidence) -> BTreeMap<String, TopKDrift> {
    let mut by_artifact: BTreeMap<String, TopKDrift> = BTreeMap::new();
    for (key, obs) in &ev.generations {
        let (Some(g), true, Observed::Ok { value: gen, invocation }) = (ev.goldens.get(&key.prompt), key.runtime == APR, obs) else {
            continue;
        };
        let (Some(top), Some(tokens)) = (&gen.top_logprobs, &gen.tokens) else { continue };
        let drift = by_artifact.entry(key.artifact.clone()).or_default();
        drift.invocation.get_or_insert_with(|| invocation.clone());
        drift.prompts.push(key.prompt.clone());
        drift.k = drift.k.max(top.iter().map(Vec::len).max().unwrap_or(0));
        let eos = golden_eos(g);
        let same_context_steps = first_divergence(strip_eos(&g.tokens, eos), strip_eos(tokens, eos)).map_or(usize::MAX, |d| d + 1);
        let differs = tokenizer::difference(&g.prompt_tokens, gen);
        let list = |t: &[TokenLogprob]| -> Vec<(u32, f64)> { t.iter().map(|x| (x.id, x.logprob as f64)).collect() };
        for (step, (o, r)) in g.top_logprobs.iter().zip(top).take(same_context_steps).enumerate() {
            let mut row = tmgt_schema::kld::compare_top_k_lists(&list(o), &list(r), g.tokens[step]);
            row.context_matches = differs.is_none();
            drift.rows.push(row);
        }
        if drift.encoding_differs.is_none() {
            drift.encoding_differs = differs;
        }
    }
    by_artifact
}

pub fn judge(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    let mut outs = Vec::new();
    // (artifact, quantization) -> each correct engine's verdict (Err: what it missed).
    let mut engines: BTreeMap<(String, &str), Vec<Result<String, String>>> = BTreeMap::new();
    for ((runtime, artifact), obs) in &ev.kld {
        let case = Case::new("kld", &ev.slug, format!("{runtime}/{artifact}"), attribution::subject_of_run(ev, runtime, artifact));
        let what = format!("{runtime} scoring the KLD text on {artifact}");
        let (report, inv) = match take(Some(obs), &case, &what, true) {
            Ok(x) => x,
            Err(o) => {
                outs.push(o);
                continue;
            }
        };
        let details = serde_json::json!({ "report": report, "quant": quant_of(artifact) });
        let evidence = evidence_from(inv, None, Some(summary_line(report)), details);
        let Some(quant) = quant_of(artifact) else {
            let mut o =
                case.skip(format!("no pre-registered KLD bound for {artifact} (its quantization is not named); {}", summary_line(report)));
            o.evidence = evidence;
            outs.push(o);
            continue;
        };
        let Some(b) = bounds(tol, quant) else {
            let mut o = case.skip(format!("no pre-registered KLD bound for {quant}; {}", summary_line(report)));
            o.evidence = evidence;
            outs.push(o);
            continue;
        };
        let evidence =
            Evidence { expected: Some(format!("{quant}: mean KLD ≤ {}, 99% KLD ≤ {}, same top-1 ≥ {}", b.0, b.1, b.2)), ..evidence };
        if report.context_differs > 0 && report.n == 0 {
            // Every sampled context was encoded otherwise: the tokenizer's finding.
            let sig = tokenizer::signature(runtime, "encodings differ");
            outs.push(case.blocked(
                format!(
                    "every sampled context was encoded differently by {runtime}: no teacher-forced comparison ({} positions)",
                    report.context_differs
                ),
                sig,
                evidence,
            ));
            continue;
        }
        let problems = problems(report, b);
        if runtime != APR && report.coverage == Coverage::FullVocabulary && attribution::correctly_made(ev, artifact) {
            let entry = engines.entry((artifact.clone(), quant)).or_default();
            entry.push(if problems.is_empty() {
                Ok(runtime.clone())
            } else {
                Err(format!("{runtime} (n {}): {}", report.n, problems.join(", ")))
            });
        }
        outs.push(if problems.is_empty() {
            case.pass(summary_line(report), evidence)
        } else {
            case.fail(
                format!("{}; {}", problems.join("; "), summary_line(report)),
                format!("{runtime}: drift beyond the {quant} KLD bounds"),
                evidence,
            )
        });
    }
    // A bound every correct engine misses on a file correct converters made is a
    // falsified claim: the reference's FAIL, never edited away.
    let mut falsified: BTreeMap<String, String> = BTreeMap::new();
    for ((artifact, quant), verdicts) in &engines {
        if verdicts.iter().all(|v| v.is_err()) {
            let why: Vec<String> = verdicts.iter().filter_map(|v| v.clone().err()).collect();
            let note = format!(
                "falsified: the pre-registered {quant} KLD bounds fail for every correct engine on {artifact} ({})",
                why.join("; ")
            );
            falsified.insert(artifact.clone(), note.clone());
            let case = Case::new("kld", &ev.slug, format!("bounds/{artifact}"), Subject::Reference);
            let details = serde_json::json!({ "quant": quant, "engines": why });
            outs.push(case.fail(
                note,
                format!("kld: the pre-registered {quant} bounds fail for correct engines"),
                Evidence { details, ..Default::default() },
            ));
        }
    }
    for (artifact, drift) in apr_top_k(ev) {
        let (Some(inv), differs) = (&drift.invocation, drift.encoding_differs) else { continue };
        let report =
            tmgt_schema::kld::summarize_top_k(&drift.rows, drift.k, &tmgt_schema::sha256_bytes(drift.prompts.join("\n").as_bytes()));
        let prompts = drift.prompts;
        let case = Case::new("kld", &ev.slug, format!("{APR}/{artifact} (top-k)"), attribution::subject_of_run(ev, APR, &artifact));
        let details = serde_json::json!({ "report": report, "quant": quant_of(&artifact), "prompts": prompts });
        let evidence = evidence_from(inv, None, Some(summary_line(&report)), details);
        let Some(b) = quant_of(&artifact).and_then(|q| bounds(tol, q)) else {
            let mut o = case.skip(format!("no pre-registered KLD bound for {artifact}; {}", summary_line(&report)));
            o.evidence = evidence;
            outs.push(o);
            continue;
        };
        let quant = quant_of(&artifact).unwrap_or_default();
        let evidence = Evidence {
            expected: Some(format!("{quant}: mean KLD ≤ {} (its lower bound beyond {}σ fails), same top-1 ≥ {}", b.0, b.3, b.2)),
            ..evidence
        };
        if report.n == 0 {
            match differs {
                Some(why) => outs.push(case.blocked(
                    format!("apr encoded every prompt differently ({why}): no step with the golden's context to compare"),
                    tokenizer::signature(APR, &why),
                    evidence,
                )),
                None => {
                    let mut o = case.skip("apr's runs reported no top-k at a step with the golden's context");
                    o.evidence = evidence;
                    outs.push(o);
                }
            }
            continue;
        }
        let problems = problems(&report, b);
        outs.push(match (problems.is_empty(), falsified.get(&artifact)) {
            (true, _) => case.pass(summary_line(&report), evidence),
            (false, Some(claim)) => case.about(Subject::Reference).fail(
                format!("claim fails for correct engines too ({claim}): apr {}; {}", problems.join("; "), summary_line(&report)),
                format!("kld: the pre-registered {quant} bounds fail for correct engines"),
                evidence,
            ),
            // apr's top-k rows come from its `run --logprobs` output: one finding with
            // the logprobs suite's on the same output.
            (false, None) => case.fail(format!("{}; {}", problems.join("; "), summary_line(&report)), logprobs::signature(APR), evidence),
        });
    }
    if outs.is_empty() {
        outs.push(
            Case::new("kld", &ev.slug, "all", Subject::Harness)
                .skip("no runtime scored the KLD text (no [settings] kld_text, kld = false for this model, or no GGUF artifact)"),
        );
    }
    outs
}

#[cfg(test)]
mod tests {
    use super::*;
    use tmgt_schema::kld::{summarize, summarize_top_k, RowStats};

    #[test]
    fn artifacts_map_to_their_quantization() {
        for (a, q) in [
            ("f32-gguf", Some("f32")),
            ("q8_0-gguf", Some("q8_0")),
            ("lcpp-q8_0-gguf", Some("q8_0")),
            ("q4_0-gguf", Some("q4_0")),
            ("lcpp-q4_k_m-gguf", Some("q4_k")),
            ("int4-gguf", Some("int4")),
            ("int8", Some("int8")),
            ("roundtrip", Some("int4")),
            ("native-gguf", Some("native")),
            ("f32", Some("f32")),
            ("safetensors", None),
            ("f16-gguf", None),
        ] {
            assert_eq!(quant_of(a), q, "{a}");
        }
        // Every quantization in the table has its bounds in the roster's maps.
        for spec in crate::artifacts::SPECS {
            if let Some(q) = spec.quant {
                assert!(KLD_QUANTS.contains(&q), "{}: {q} has no kld bound key", spec.name);
            }
        }
    }

    fn report(kld: f64, p99: f64, top1: f64) -> KldReport {
        let rows: Vec<RowStats> = (0..100)
            .map(|i| RowStats {
                kld: if i == 99 { p99 * 2.0 } else { kld },
                lp_reference: -1.0,
                lp_runtime: -1.0,
                same_top1: (i as f64) < top1 * 100.0,
            })
            .collect();
        summarize(&rows, "sha")
    }

    #[test]
    fn the_judge_follows_the_runtime_and_the_quantization() {
        let tol = Tolerances::spec();
        let mut ev = ModelEvidence::new("m");
        let ok = |r: KldReport| Observed::Ok { value: r, invocation: Invocation::default() };
        ev.kld.insert(("candle".into(), "q8_0-gguf".into()), ok(report(0.001, 0.01, 0.99)));
        ev.kld.insert(("llama.cpp".into(), "q4_0-gguf".into()), ok(report(5.0, 9.0, 0.1)));
        ev.kld.insert(("llama.cpp".into(), "f16-gguf".into()), ok(report(0.0, 0.0, 1.0)));
        ev.kld.insert(("apr".into(), "int4-gguf".into()), Observed::Failed { error: "boom".into(), invocation: Invocation::default() });
        let outs = judge(&ev, &tol);
        let find = |c: &str| outs.iter().find(|o| o.case == c).unwrap();
        let pass = find("candle/q8_0-gguf");
        assert_eq!((pass.status, &pass.subject), (Verdict::Pass, &Subject::comparator("candle")));
        assert_eq!(pass.evidence.details["report"]["n"], 100);
        let fail = find("llama.cpp/q4_0-gguf");
        assert_eq!(fail.status, Verdict::Fail);
        assert!(fail.note.contains("mean KLD") && fail.note.contains("99% KLD") && fail.note.contains("same top-1"), "{}", fail.note);
        assert_eq!(fail.signature, "llama.cpp: drift beyond the q4_0 KLD bounds");
        assert_eq!(find("llama.cpp/f16-gguf").status, Verdict::Skip);
        assert!(find("llama.cpp/f16-gguf").evidence.details["report"].is_object(), "the numbers stay with a SKIP");
        let crashed = find("apr/int4-gguf");
        assert_eq!((crashed.status, &crashed.subject), (Verdict::Fail, &subject::RUNTIME));
        assert_eq!(judge(&ModelEvidence::new("m"), &tol)[0].status, Verdict::Skip);
        // What is judged carries its bounds and its numbers.
        assert_eq!(pass.evidence.expected.as_deref(), Some("q8_0: mean KLD ≤ 0.02, 99% KLD ≤ 0.2, same top-1 ≥ 0.95"));
        assert!(pass.note.ends_with("same top-1 99.00%"), "{}", pass.note);
        assert!(fail.note.contains("same top-1 10.00%"), "{}", fail.note);
    }

    #[test]
    fn contexts_encoded_otherwise_block_only_when_nothing_was_compared() {
        let tol = Tolerances::spec();
        let ok = |r: KldReport| Observed::Ok { value: r, invocation: Invocation::default() };
        let mut none = report(0.001, 0.01, 1.0);
        (none.n, none.context_differs) = (0, 4);
        let mut some = report(0.001, 0.01, 1.0);
        some.context_differs = 4;
        let mut ev = ModelEvidence::new("m");
        ev.kld.insert(("llama.cpp".into(), "q8_0-gguf".into()), ok(none));
        ev.kld.insert(("candle".into(), "q8_0-gguf".into()), ok(some));
        let outs = judge(&ev, &tol);
        let find = |c: &str| outs.iter().find(|o| o.case == c).unwrap();
        let blocked = find("llama.cpp/q8_0-gguf");
        assert_eq!(blocked.status, Verdict::Blocked, "{}", blocked.note);
        assert_eq!(blocked.signature, tokenizer::signature("llama.cpp", "encodings differ"));
        assert!(blocked.note.contains("(4 positions)"), "{}", blocked.note);
        assert_eq!(find("candle/q8_0-gguf").status, Verdict::Pass, "some contexts compared: judged on those");
        // Nothing compared and nothing encoded otherwise: no evidence of a tokenizer cause.
        let mut empty = report(0.001, 0.01, 1.0);
        (empty.n, empty.context_differs) = (0, 0);
        ev.kld.insert(("llama.cpp".into(), "q8_0-gguf".into()), ok(empty));
        let o = judge(&ev, &tol).into_iter().find(|o| o.case == "llama.cpp/q8_0-gguf").unwrap();
        assert_eq!(o.status, Verdict::Fail, "{}", o.note);
        assert!(o.note.contains("no position compared"), "{}", o.note);
    }

    /// apr's generation on every prompt with top-2 lists: its own tokens, the runner-up
    /// of each step at `runner_up`, and its prompt ids.
    fn apr_runs(ev: &mut ModelEvidence, artifact: &str, tokens: &[u32], runner_up: f32, prompt: Vec<u32>) {
        use super::super::testutil::{gen, ok, PROMPTS};
        for p in PROMPTS {
            let mut g = gen(tokens.to_vec());
            g.top_logprobs = Some(
                tokens
                    .iter()
                    .enumerate()
                    .map(|(i, &t)| vec![TokenLogprob { id: t, logprob: -0.1 }, TokenLogprob { id: 900 + i as u32, logprob: runner_up }])
                    .collect(),
            );
            g.prompt_tokens = Some(prompt.clone());
            ev.generations.insert(GenKey::new(APR, artifact, p), ok(g));
        }
    }

    #[test]
    fn apr_top_k_is_a_labelled_lower_bound_over_the_golden_context() {
        use super::super::testutil::{evidence, find, seq, with_mismatches};
        let tol = Tolerances::spec();
        let mut ev = evidence();
        // the golden: token at -0.1, runner-up at -3.1 on every step
        apr_runs(&mut ev, "q8_0-gguf", &seq(32), -3.1, vec![10, 11, 12]);
        apr_runs(&mut ev, "q4_0-gguf", &with_mismatches(&seq(32), 1), -0.5, vec![10, 11, 12]);
        apr_runs(&mut ev, "int4-gguf", &seq(32), -3.1, vec![1, 10, 11, 12]);
        let outs = judge(&ev, &tol);
        let same = find(&outs, "apr/q8_0-gguf (top-k)");
        assert_eq!((same.status, &same.subject), (Verdict::Pass, &subject::RUNTIME));
        let r = &same.evidence.details["report"];
        assert_eq!(r["coverage"], serde_json::json!({ "kind": "top-k", "k": 2, "sampled": 128 }));
        assert_eq!(r["n"], 128, "every step of the 4 prompts has the golden's context");
        assert!(r["kld_mean"]["value"].as_f64().unwrap().abs() < 1e-6 && r["same_top1"]["value"] == 1.0, "{r}");
        assert!(same.note.contains("lower bound") && same.note.contains("not full-vocabulary"), "{}", same.note);
        // a different first token: only step 0 shares the golden's context, where apr
        // puts its own id on top and its runner-up at -0.5 (bound 0.73 > q4_0's 0.5)
        let drift = find(&outs, "apr/q4_0-gguf (top-k)");
        let r = &drift.evidence.details["report"];
        assert_eq!(r["n"], 4, "one step per prompt: apr's first token differs");
        assert!(r["kld_mean"]["value"].as_f64().unwrap() > 0.5 && r["same_top1"]["value"] == 0.0, "{r}");
        assert_eq!(drift.status, Verdict::Fail, "{}", drift.note);
        assert_eq!(drift.signature, logprobs::signature(APR), "the logprobs suite's finding on the same output");
        // every prompt encoded with a BOS: blocked by the tokenizer's finding
        let bos = find(&outs, "apr/int4-gguf (top-k)");
        assert_eq!(bos.status, Verdict::Blocked, "{}", bos.note);
        assert_eq!(bos.signature, "apr: prepends BOS");
    }

    #[test]
    fn a_bound_every_correct_engine_misses_on_a_correct_file_is_falsified() {
        use super::super::conversions::{Conversion, Made};
        use super::super::testutil::{evidence, find, inv, seq};
        let made = |tool: &str, bits: u8| Conversion {
            tool: tool.into(),
            from: "reference".into(),
            bits,
            observed: Observed::Ok {
                value: Made { file: "f".into(), bytes: 1, sha256: String::new(), gguf: None },
                invocation: inv(&["x"], ""),
            },
        };
        let tol = Tolerances::spec();
        let mut ev = evidence();
        ev.conversions.insert("q4_0-gguf".into(), made("candle", 4));
        ev.conversions.insert("q8_0-gguf".into(), made("candle", 8));
        ev.conversions.insert("int4-gguf".into(), made(APR, 4));
        let ok = |r: KldReport| Observed::Ok { value: r, invocation: Invocation::default() };
        // q4_0: both correct engines below the same-top-1 bound; q8_0: one meets it;
        // int4-gguf: apr's own file, so the engines' misses say nothing of the bound.
        for runtime in ["llama.cpp", "candle"] {
            ev.kld.insert((runtime.into(), "q4_0-gguf".into()), ok(report(0.3, 1.0, 0.6)));
            ev.kld.insert((runtime.into(), "int4-gguf".into()), ok(report(3.0, 9.0, 0.1)));
        }
        ev.kld.insert(("llama.cpp".into(), "q8_0-gguf".into()), ok(report(0.004, 0.02, 0.97)));
        ev.kld.insert(("candle".into(), "q8_0-gguf".into()), ok(report(0.005, 0.02, 0.90)));
        apr_runs(&mut ev, "q4_0-gguf", &super::super::testutil::with_mismatches(&seq(32), 1), -0.5, vec![10, 11, 12]);
        let outs = judge(&ev, &tol);
        let claim = find(&outs, "bounds/q4_0-gguf");
        assert_eq!(claim.evidence.details["quant"], "q4_0");
        assert!(claim.evidence.details["engines"].as_array().is_some_and(|e| !e.is_empty()), "{:?}", claim.evidence.details);
        assert_eq!((claim.status, &claim.subject), (Verdict::Fail, &Subject::Reference));
        assert!(
            claim.note.starts_with("falsified") && claim.note.contains("llama.cpp (n 100)") && claim.note.contains("candle"),
            "{}",
            claim.note
        );
        assert!(outs.iter().all(|o| o.case != "bounds/q8_0-gguf" && o.case != "bounds/int4-gguf"), "{outs:#?}");
        // apr missing a falsified bound is the claim's failure, not apr's
        let apr = find(&outs, "apr/q4_0-gguf (top-k)");
        assert_eq!((apr.status, &apr.subject), (Verdict::Fail, &Subject::Reference), "{}", apr.note);
        assert_eq!(
            apr.evidence.expected.as_deref(),
            Some("q4_0: mean KLD ≤ 0.5 (its lower bound beyond 2σ fails), same top-1 ≥ 0.7"),
            "the bound a lower bound is judged by"
        );
        assert!(apr.note.contains("claim fails for correct engines too"), "{}", apr.note);
        // the engines' own misses stay as comparator evidence
        assert_eq!(find(&outs, "candle/q4_0-gguf").subject, Subject::comparator("candle"));
    }

    #[test]
    fn a_top_k_sample_fails_only_beyond_two_standard_errors() {
        let b = (0.02, 0.2, 0.95, 2.0);
        let rows = |agree: usize, n: usize, lb: f64| -> Vec<TopKRow> {
            (0..n)
                .map(|i| TopKRow {
                    context_matches: true,
                    same_top1: i < agree,
                    kld_lower_bound: lb,
                    lp_reference: -1.0,
                    lp_runtime: Some(-1.0),
                })
                .collect()
        };
        assert!(problems(&summarize_top_k(&rows(16, 16, 0.001), 20, "x"), b).is_empty());
        assert!(problems(&summarize_top_k(&rows(15, 16, 0.001), 20, "x"), b).is_empty(), "15/16 is within 2σ of 95%");
        let exact = (b.0, b.1, b.2, 0.0);
        assert_eq!(problems(&summarize_top_k(&rows(15, 16, 0.001), 20, "x"), exact), vec!["same top-1 93.8% < 95% (by > 0σ)".to_string()]);
        assert_eq!(problems(&summarize_top_k(&rows(8, 16, 0.001), 20, "x"), b).len(), 1);
        assert!(problems(&summarize_top_k(&rows(16, 16, 0.5), 20, "x"), b)[0].contains("lower bound"));
        // A mean lower bound over the bound (0.03 > 0.02) but within 2 standard errors of it.
        let spread: Vec<TopKRow> = (0..16)
            .map(|i| TopKRow {
                context_matches: true,
                same_top1: true,
                kld_lower_bound: if i % 2 == 0 { 0.0 } else { 0.06 },
                lp_reference: -1.0,
                lp_runtime: Some(-1.0),
            })
            .collect();
        let r = summarize_top_k(&spread, 20, "x");
        assert!((r.kld_mean.value - 0.03).abs() < 1e-9 && r.kld_mean.value - 2.0 * r.kld_mean.err < 0.02, "{:?}", r.kld_mean);
        assert!(problems(&r, b).is_empty());
        // Exactly at a bound is within it: 0.75 − 2 · 0.25 = 0.25 ≤ 0.25; 0.5 + 2 · 0.25 = 1 ≥ 1.
        let mut exact = r.clone();
        exact.kld_mean = Est { value: 0.75, err: 0.25 };
        exact.same_top1 = Est { value: 0.5, err: 0.25 };
        assert!(problems(&exact, (0.25, 0.2, 1.0, 2.0)).is_empty(), "{:?}", problems(&exact, (0.25, 0.2, 1.0, 2.0)));
        let none = summarize_top_k(
            &[TopKRow { context_matches: false, same_top1: false, kld_lower_bound: 0.0, lp_reference: -1.0, lp_runtime: None }],
            20,
            "x",
        );
        assert_eq!(problems(&none, b), vec!["no position compared".to_string()]);
    }
}
