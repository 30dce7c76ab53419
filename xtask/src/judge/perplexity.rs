//! The perplexity suites: the seed's ppl (apr's PPL on its quantized files under the
//! model's ceiling, int4 beside int8) and our reference-ppl (every runtime's PPL over
//! the reference text against the oracle's, within the pre-registered ratio). A failed
//! score is FAILed by the one suite that owns it (`score_owner`); the others BLOCK on
//! it under the same signature.

use super::*;
use subject::EITHER;

fn score_obs<'a>(ev: &'a ModelEvidence, runtime: &str, artifact: &str) -> Option<&'a Observed<Score>> {
    ev.scores.get(&(runtime.to_string(), artifact.to_string()))
}

/// ppl: each quantized artifact under the model's ceiling; |int4 − int8| < 0.5.
pub fn ppl(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    let mut outs = Vec::new();
    let mut values = BTreeMap::new();
    for artifact in ["int4", "int8"] {
        let case = Case::new("ppl", &ev.slug, artifact, EITHER);
        let owner = score_owner(APR, artifact) == "ppl";
        let (score, inv) = match take(score_obs(ev, APR, artifact), &case, &format!("apr eval on {artifact}"), owner) {
            Ok(x) => x,
            Err(o) => {
                outs.push(o);
                continue;
            }
        };
        let ppl = score.perplexity;
        let evidence = evidence_from(
            inv,
            Some(format!("PPL < {}", ev.ppl_ceiling)),
            Some(format!("PPL = {ppl}")),
            serde_json::to_value(score).unwrap_or_default(),
        );
        if !(ev.ppl_ceiling.is_finite() && ev.ppl_ceiling > 0.0) {
            outs.push(case.about(Subject::Harness).blocked("no PPL ceiling for this model in the roster", "no PPL ceiling", evidence));
            continue;
        }
        if !ppl.is_finite() || ppl < 1.0 {
            outs.push(case.fail(format!("PPL = {ppl}: not a perplexity"), "apr: eval reports a PPL that is not finite or < 1", evidence));
            continue;
        }
        values.insert(artifact, (ppl, inv.clone()));
        if ppl < ev.ppl_ceiling {
            outs.push(case.pass(format!("PPL={ppl:.2} < {}", ev.ppl_ceiling), evidence));
        } else {
            let failed =
                case.fail(format!("PPL={ppl:.2} exceeds ceiling {}", ev.ppl_ceiling), "apr: PPL exceeds the model's ceiling", evidence);
            let engines = attribution::engines_on_equivalents(ev, artifact, |rt, a| {
                let Some(Observed::Ok { value, .. }) = score_obs(ev, rt, a) else { return None };
                Some((value.perplexity < ev.ppl_ceiling, value.perplexity))
            });
            outs.push(attribution::versus_engines(failed, &case, ppl, &engines, ppl * tol.ppl_engine_slack));
        }
    }
    let case = Case::new("ppl", &ev.slug, "int4~int8", EITHER);
    outs.push(match (values.get("int4"), values.get("int8")) {
        (Some((p4, i4)), Some((p8, i8))) => {
            let diff = (p4 - p8).abs();
            let evidence = Evidence {
                expected: Some(format!("|int4 − int8| < {}", tol.ppl_int4_int8_max_diff)),
                actual: Some(format!("|{p4:.3} − {p8:.3}| = {diff:.3}")),
                details: serde_json::json!({ "int4": p4, "int8": p8, "diff": diff }),
                reproduce: vec![i4.command_line(), i8.command_line()],
                invocations: vec![i4.clone(), i8.clone()],
            };
            if diff < tol.ppl_int4_int8_max_diff {
                case.pass(format!("|{p4:.2} − {p8:.2}| = {diff:.3} < {}", tol.ppl_int4_int8_max_diff), evidence)
            } else {
                let failed = case.fail(
                    format!("PPL drift {diff:.3} ≥ {} (int4 {p4:.2}, int8 {p8:.2})", tol.ppl_int4_int8_max_diff),
                    "apr: int4/int8 PPL drift over the bound",
                    evidence,
                );
                // The same claim for correct engines: their 8-bit against their 4-bit file.
                let mut engines = Vec::new();
                for e8 in attribution::equivalents(ev, "int8") {
                    for e4 in attribution::equivalents(ev, "int4") {
                        for rt in attribution::comparators_on(ev, e8) {
                            if let (Some(Observed::Ok { value: c8, .. }), Some(Observed::Ok { value: c4, .. })) =
                                (score_obs(ev, rt, e8), score_obs(ev, rt, e4))
                            {
                                let gap = (c4.perplexity - c8.perplexity).abs();
                                engines.push(attribution::EngineResult {
                                    runtime: rt.to_string(),
                                    artifact: format!("{e8}~{e4}"),
                                    holds: gap < tol.ppl_int4_int8_max_diff,
                                    measure: gap,
                                });
                            }
                        }
                    }
                }
                attribution::versus_engines(failed, &case, diff, &engines, 0.0)
            }
        }
        // Whatever kept one PPL out is judged above; this pair waits on it.
        _ => {
            let cause = outs.iter().find(|o| o.status.is_problem()).map(|o| o.signature.clone()).unwrap_or_default();
            case.blocked("needs a valid PPL from both int4 and int8", cause, Evidence::default())
        }
    });
    outs
}

/// How two token counts of the same text relate, in words, when they differ by at
/// most `slack` (None: equal, or further apart: not the same text).
pub(super) fn count_note(runtime_count: usize, oracle_count: usize, slack: usize) -> Option<String> {
    let d = runtime_count as i64 - oracle_count as i64;
    if d == 0 || d.unsigned_abs() > slack as u64 {
        return None;
    }
    Some(match d {
        1 => format!(
            "scored {runtime_count} tokens, the oracle {oracle_count}: one more prediction (a BOS prepended, or the first token scored)"
        ),
        -1 => {
            format!("scored {runtime_count} tokens, the oracle {oracle_count}: one prediction fewer (the first or last token not scored)")
        }
        d if d > 0 => format!("scored {runtime_count} tokens, the oracle {oracle_count}: {d} more predictions"),
        d => format!("scored {runtime_count} tokens, the oracle {oracle_count}: {} predictions fewer", -d),
    })
}

/// The ratio a PPL keeps to the oracle's, and whether it lies within ×r.
fn within_ratio(ppl: f64, reference: f64, r: f64) -> (f64, bool) {
    let ratio = ppl / reference;
    (ratio, ratio.is_finite() && ratio <= r && ratio >= 1.0 / r)
}

/// reference-ppl: each runtime's PPL over the reference text against the oracle's
/// (ratio within the artifact's bound; a token count off by one is named and the
/// ratio still judged; off by more, the texts are not the same).
pub fn reference_ppl(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    let mut keys: Vec<(String, String)> = vec![(APR.into(), "int4".into()), (APR.into(), "int8".into())];
    for k in ev.scores.keys() {
        if !keys.contains(k) {
            keys.push(k.clone());
        }
    }
    let holds = |runtime: &str, artifact: &str| -> Option<bool> {
        let Some(Observed::Ok { value, .. }) = score_obs(ev, runtime, artifact) else { return None };
        let reference = ev.reference_score.as_ref()?;
        Some(within_ratio(value.perplexity, reference.perplexity, tol.ref_ppl_ratio_for(artifact)?).1)
    };
    keys.iter()
        .map(|(runtime, artifact)| {
            let case =
                Case::new("reference-ppl", &ev.slug, format!("{runtime}/{artifact}"), attribution::subject_of_run(ev, runtime, artifact));
            let owner = score_owner(runtime, artifact) == "reference-ppl";
            let (score, inv) = match take(score_obs(ev, runtime, artifact), &case, &format!("{runtime} PPL on {artifact}"), owner) {
                Ok(x) => x,
                Err(o) => return o,
            };
            let Some(reference) = &ev.reference_score else {
                return case.about(Subject::Harness).blocked(
                    "no oracle PPL over the reference text",
                    "the oracle could not score the reference text",
                    Evidence::default(),
                );
            };
            let Some(r) = tol.ref_ppl_ratio_for(artifact) else {
                return case.about(Subject::Harness).blocked(
                    "no ref_ppl_max_ratio for this artifact and no default",
                    "tolerance missing",
                    Evidence::default(),
                );
            };
            let (ratio, within) = within_ratio(score.perplexity, reference.perplexity, r);
            let evidence = evidence_from(
                inv,
                Some(format!("oracle PPL {:.3} (ratio within [{:.3}, {r}])", reference.perplexity, 1.0 / r)),
                Some(format!("PPL {:.3}", score.perplexity)),
                serde_json::json!({
                    "runtime": score, "oracle": reference, "ratio": ratio,
                    "difference": score.perplexity - reference.perplexity, "max_ratio": r,
                }),
            );
            let sig_runtime = format!("{runtime}: PPL far from the oracle's");
            let mut counted = String::new();
            if let (Some(n), Some(m)) = (score.token_count, reference.token_count) {
                match count_note(n, m, tol.ppl_token_count_slack) {
                    Some(note) => counted = format!("; {note}"),
                    None if n != m => {
                        return case.fail(
                            format!(
                                "scored {n} tokens, the oracle {m}: not the same text (PPL {:.2} vs {:.2})",
                                score.perplexity, reference.perplexity
                            ),
                            format!("{runtime}: scores another token count than the oracle"),
                            evidence,
                        )
                    }
                    None => {}
                }
            }
            if !ratio.is_finite() || score.perplexity < 1.0 {
                return case.fail(
                    format!("PPL {} vs oracle {}: not comparable", score.perplexity, reference.perplexity),
                    format!("{runtime}: PPL not finite or < 1"),
                    evidence,
                );
            }
            let note = format!(
                "PPL {:.2} vs oracle {:.2} (ratio {ratio:.3}, Δ {:+.2}){counted}",
                score.perplexity,
                reference.perplexity,
                score.perplexity - reference.perplexity
            );
            if within {
                return case.pass(note, evidence);
            }
            let failed = case.fail(format!("{note} outside ×{r}"), sig_runtime, evidence);
            if runtime == APR && !is_gguf(artifact) {
                // apr's own file: correct engines on equivalents, against the same bound.
                let engines = attribution::engines_on_equivalents(ev, artifact, |rt, a| {
                    let Some(Observed::Ok { value, .. }) = score_obs(ev, rt, a) else { return None };
                    let (ratio, ok) = within_ratio(value.perplexity, reference.perplexity, r);
                    Some((ok, ratio))
                });
                return attribution::versus_engines(failed, &case, ratio, &engines, ratio * tol.ppl_engine_slack);
            }
            if runtime != APR || !is_gguf(artifact) {
                return failed;
            }
            // apr on a GGUF: a correct engine's PPL on the same file says whose fault it is.
            let agrees = |c: &str| -> Option<bool> {
                let Some(Observed::Ok { value, .. }) = score_obs(ev, c, artifact) else { return None };
                Some(within_ratio(score.perplexity, value.perplexity, tol.cross_runtime_ppl_max_ratio).1)
            };
            attribution::apply(attribution::blame(ev, artifact, agrees, holds), &case, failed, artifact)
        })
        .collect()
}
