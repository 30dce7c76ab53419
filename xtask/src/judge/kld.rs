//! kld: the drift of every full-logit runtime (candle on GGUF, llama.cpp) from the
//! oracle over the KLD text, judged per artifact against the bounds pre-registered
//! for its quantization (`kld_mean_max`, `kld_p99_max`, `kld_same_top1_min`). The
//! statistics are computed by the scorer (`tmgt_schema::kld`); here they are only
//! compared with the bounds. A runtime that reports only its top-k (apr) gives a
//! lower bound of the KLD, labelled `coverage: top-k`, never a full-vocabulary figure.

use super::*;
pub use tmgt_schema::kld::{Coverage, Est, KldReport};

/// The quantization a pre-registered bound is kept for, from the artifact's name:
/// f32, q8_0, int8, q4_0, int4, q4_k; "native" for the roster's own GGUF (the
/// reference is its exact dequantization). None: no bound (reported, not judged).
pub fn quant_of(artifact: &str) -> Option<&'static str> {
    let a = artifact.to_ascii_lowercase();
    [
        ("native", "native"),
        ("f32", "f32"),
        ("q8_0", "q8_0"),
        ("q4_k", "q4_k"),
        ("q4_0", "q4_0"),
        ("int8", "int8"),
        ("int4", "int4"),
        ("roundtrip", "int4"),
    ]
    .into_iter()
    .find(|(needle, _)| a.contains(needle))
    .map(|(_, q)| q)
}

/// The bounds the KLD suite judges `quant` by: (mean KLD max, 99th percentile max,
/// same-top-1 min).
pub fn bounds(tol: &Tolerances, quant: &str) -> Option<(f64, f64, f64)> {
    Some((*tol.kld_mean_max.get(quant)?, *tol.kld_p99_max.get(quant)?, *tol.kld_same_top1_min.get(quant)?))
}

/// What keeps a report from meeting its bounds (empty: it meets them). Full
/// vocabulary: the point estimates (n is in the thousands). Top-k (a sample of a
/// few positions, a lower bound): only what is outside by more than 2 standard
/// errors, on the mean KLD bound and same-top-1; no percentile of a lower bound.
pub fn problems(r: &KldReport, (mean_max, p99_max, top1_min): (f64, f64, f64)) -> Vec<String> {
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
            if r.kld_mean.value - 2.0 * err(r.kld_mean) > mean_max {
                out.push(format!("mean KLD ≥ {:.4} (lower bound) > {mean_max}", r.kld_mean.value));
            }
            if r.same_top1.value + 2.0 * err(r.same_top1) < top1_min {
                out.push(format!("same top-1 {:.1}% < {:.0}% (by > 2σ)", 100.0 * r.same_top1.value, 100.0 * top1_min));
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

pub fn judge(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    let mut outs = Vec::new();
    for ((runtime, artifact), obs) in &ev.kld {
        let case = Case::new("kld", &ev.slug, format!("{runtime}/{artifact}"), Subject::of_runtime(runtime));
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
    if outs.is_empty() {
        outs.push(
            Case::new("kld", &ev.slug, "all", Subject::Harness)
                .skip("no runtime scored the KLD text (no [settings] kld_text, or no GGUF artifact)"),
        );
    }
    outs
}

#[cfg(test)]
mod tests {
    use super::*;
    use tmgt_schema::kld::{summarize, summarize_top_k, RowStats, TopKRow};

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
            ("f16-gguf", None),
        ] {
            assert_eq!(quant_of(a), q, "{a}");
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
        ev.kld.insert(("candle".into(), "q8_0-gguf".into()), ok(report(0.001, 0.01, 1.0)));
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
    }

    #[test]
    fn a_top_k_sample_fails_only_beyond_two_standard_errors() {
        let b = (0.02, 0.2, 0.95);
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
        assert_eq!(problems(&summarize_top_k(&rows(8, 16, 0.001), 20, "x"), b).len(), 1);
        assert!(problems(&summarize_top_k(&rows(16, 16, 0.5), 20, "x"), b)[0].contains("lower bound"));
        let none = summarize_top_k(
            &[TopKRow { context_matches: false, same_top1: false, kld_lower_bound: 0.0, lp_reference: -1.0, lp_runtime: None }],
            20,
            "x",
        );
        assert_eq!(problems(&none, b), vec!["no position compared".to_string()]);
    }
}
