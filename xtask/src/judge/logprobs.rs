//! logprobs: where a runtime reports per-step top-k logprobs, agreement with the
//! oracle's over the steps where both saw the same context (up to and including the
//! first divergent step): top-1 agreement (llama.cpp's "same top p"), mean/max
//! |Δ logprob| of the oracle's token, and KL over the shared top-k support (top-k
//! only: never presented as a full-vocabulary KL). apr's disagreement on a GGUF is
//! blamed through a comparator on the same file (see `attribution`).

use super::*;
use tmgt_schema::TokenLogprob;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub steps_compared: usize,
    /// Steps the comparison should have covered (same context), of which the runtime
    /// reported `steps_compared`.
    pub steps_expected: usize,
    pub top1_agree: usize,
    /// Steps where the top-1s differ and the oracle was not at a near-tie.
    pub confident_disagreements: Vec<usize>,
    pub mean_abs_delta: Option<f32>,
    pub max_abs_delta: Option<f32>,
    /// Steps where the oracle's token was missing from the runtime's top-k.
    pub oracle_token_missing: Vec<usize>,
    pub mean_kl: Option<f32>,
    pub max_kl: Option<f32>,
}

fn top1(step: &[TokenLogprob]) -> Option<&TokenLogprob> {
    step.iter().max_by(|a, b| a.logprob.total_cmp(&b.logprob))
}

/// KL(p ‖ q) over the ids both top-k lists hold, each renormalised over that support.
/// None under two shared ids: renormalised over one id, any two distributions agree.
pub fn shared_support_kl(oracle: &[TokenLogprob], runtime: &[TokenLogprob]) -> Option<f32> {
    let pairs: Vec<(f64, f64)> =
        oracle.iter().filter_map(|o| runtime.iter().find(|r| r.id == o.id).map(|r| (o.logprob as f64, r.logprob as f64))).collect();
    if pairs.len() < 2 {
        return None;
    }
    let zp: f64 = pairs.iter().map(|(p, _)| p.exp()).sum();
    let zq: f64 = pairs.iter().map(|(_, q)| q.exp()).sum();
    let kl: f64 = pairs
        .iter()
        .map(|(lp, lq)| {
            let p = lp.exp() / zp;
            p * ((lp - zp.ln()) - (lq - zq.ln()))
        })
        .sum();
    Some(kl.max(0.0) as f32)
}

/// Agreement over steps 0..=first divergence (the contexts are equal up to there).
pub fn agreement(g: &Golden, runtime_tokens: Option<&[u32]>, runtime_top: &[Vec<TokenLogprob>], margin: f32) -> Agreement {
    let eos = golden_eos(g);
    let limit = match runtime_tokens {
        Some(t) => first_divergence(strip_eos(&g.tokens, eos), strip_eos(t, eos)).map_or(usize::MAX, |d| d + 1),
        None => usize::MAX,
    };
    let expected = g.top_logprobs.len().min(limit).min(runtime_tokens.map_or(usize::MAX, |t| t.len().max(1)));
    let n = expected.min(runtime_top.len());
    let mut a = Agreement {
        steps_compared: n,
        steps_expected: expected,
        top1_agree: 0,
        confident_disagreements: vec![],
        mean_abs_delta: None,
        max_abs_delta: None,
        oracle_token_missing: vec![],
        mean_kl: None,
        max_kl: None,
    };
    let (mut deltas, mut kls) = (Vec::new(), Vec::new());
    for (step, (o, r)) in g.top_logprobs.iter().zip(runtime_top).take(n).enumerate() {
        let (Some(ot), Some(rt)) = (top1(o), top1(r)) else { continue };
        if ot.id == rt.id {
            a.top1_agree += 1;
        } else {
            let near = o.iter().find(|t| t.id == rt.id).is_some_and(|t| ot.logprob - t.logprob <= margin);
            if !near {
                a.confident_disagreements.push(step);
            }
        }
        match r.iter().find(|t| t.id == ot.id) {
            Some(t) => deltas.push((t.logprob - ot.logprob).abs()),
            None => a.oracle_token_missing.push(step),
        }
        if let Some(kl) = shared_support_kl(o, r) {
            kls.push(kl);
        }
    }
    if !deltas.is_empty() {
        a.mean_abs_delta = Some(deltas.iter().sum::<f32>() / deltas.len() as f32);
        a.max_abs_delta = deltas.iter().copied().reduce(f32::max);
    }
    if !kls.is_empty() {
        a.mean_kl = Some(kls.iter().sum::<f32>() / kls.len() as f32);
        a.max_kl = kls.iter().copied().reduce(f32::max);
    }
    a
}

/// What keeps an agreement from meeting the bounds; empty: it meets them.
pub fn problems(a: &Agreement, tol: &Tolerances) -> Vec<String> {
    let mut problems = Vec::new();
    if a.steps_compared == 0 {
        problems.push("no steps to compare (empty logprobs)".to_string());
    } else if a.steps_compared < a.steps_expected {
        problems.push(format!("logprobs for only {} of the {} steps compared", a.steps_compared, a.steps_expected));
    }
    if !a.confident_disagreements.is_empty() {
        problems.push(format!("confident top-1 disagreement at steps {:?}", a.confident_disagreements));
    }
    match a.mean_abs_delta {
        Some(d) if d > tol.logprob_mean_abs_max => problems.push(format!("mean |Δ| {d:.3} > {}", tol.logprob_mean_abs_max)),
        None if a.steps_compared > 0 => problems.push("the oracle's token is never in the runtime's top-k".into()),
        _ => {}
    }
    if let Some(kl) = a.mean_kl.filter(|kl| *kl > tol.logprob_kl_max) {
        problems.push(format!("mean top-k KL {kl:.3} > {}", tol.logprob_kl_max));
    }
    problems
}

/// The golden-shaped view of another runtime's run, to compare two runtimes' logprobs.
fn as_reference(g: &Golden, gen: &Generation) -> Option<Golden> {
    Some(Golden { tokens: gen.tokens.clone()?, top_logprobs: gen.top_logprobs.clone()?, ..g.clone() })
}

/// The finding of a runtime whose reported logprobs disagree with the oracle's: the
/// logprobs suite's and, for apr's top-k KLD (computed from the same `--logprobs`
/// output), the kld suite's.
pub fn signature(runtime: &str) -> String {
    format!("{runtime}: logprobs disagree with the oracle")
}

pub fn judge(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    if ev.goldens.is_empty() {
        return no_goldens("logprobs", ev);
    }
    let mut outs = Vec::new();
    let ok = |runtime: &str, artifact: &str, prompt: &str| match ev.generations.get(&GenKey::new(runtime, artifact, prompt)) {
        Some(Observed::Ok { value, .. }) => Some(value),
        _ => None,
    };
    for (key, obs) in &ev.generations {
        let Some(g) = ev.goldens.get(&key.prompt) else { continue };
        let case = Case::new(
            "logprobs",
            &ev.slug,
            format!("{}/{}/{}", key.runtime, key.artifact, key.prompt),
            attribution::subject_of_run(ev, &key.runtime, &key.artifact),
        );
        let (gen, inv) = match take(Some(obs), &case, &format!("{} on {}", key.runtime, key.artifact), false) {
            Ok(x) => x,
            Err(o) if o.status == Verdict::Skip => continue,
            Err(o) => {
                outs.push(o);
                continue;
            }
        };
        let Some(top) = &gen.top_logprobs else {
            // Asked with --logprobs and answered null (apr on APR files): said, not dropped.
            outs.push(case.skip(format!("{} answered --logprobs with null on {}: no logprobs to compare", key.runtime, key.artifact)));
            continue;
        };
        let a = agreement(g, gen.tokens.as_deref(), top, tol.near_tie_margin);
        let evidence = evidence_from(
            inv,
            Some(format!(
                "top-1 agrees off near-ties; mean |Δlogprob| ≤ {}; mean top-k KL ≤ {}",
                tol.logprob_mean_abs_max, tol.logprob_kl_max
            )),
            Some(format!(
                "top-1 {}/{}; mean |Δ| {}; mean top-k KL {}",
                a.top1_agree,
                a.steps_compared,
                fmt_opt(a.mean_abs_delta),
                fmt_opt(a.mean_kl)
            )),
            serde_json::to_value(&a).unwrap_or_default(),
        );
        let summary = format!(
            "top-1 {}/{} agree, |Δ| mean {} max {}, top-k KL {}",
            a.top1_agree,
            a.steps_compared,
            fmt_opt(a.mean_abs_delta),
            fmt_opt(a.max_abs_delta),
            fmt_opt(a.mean_kl)
        );
        let problems = problems(&a, tol);
        if problems.is_empty() {
            outs.push(case.pass(summary, evidence));
            continue;
        }
        let note = format!("{}; {summary}", problems.join("; "));
        let failed = match run_cause(ev, key) {
            Some((sig, why)) => case.fail(format!("{note} ({why})"), sig, evidence),
            None => case.fail(note, signature(&key.runtime), evidence),
        };
        if key.runtime != APR || !is_gguf(&key.artifact) || run_cause(ev, key).is_some() {
            outs.push(failed);
            continue;
        }
        // apr on a GGUF: do a correct engine's logprobs on the same file agree with apr's?
        let agrees = |c: &str| -> Option<bool> {
            let theirs = as_reference(g, ok(c, &key.artifact, &key.prompt)?)?;
            Some(super::logprobs::problems(&agreement(&theirs, gen.tokens.as_deref(), top, tol.near_tie_margin), tol).is_empty())
        };
        let holds = |c: &str, artifact: &str| -> Option<bool> {
            let theirs = ok(c, artifact, &key.prompt)?;
            let a = agreement(g, theirs.tokens.as_deref(), theirs.top_logprobs.as_ref()?, tol.near_tie_margin);
            Some(super::logprobs::problems(&a, tol).is_empty())
        };
        outs.push(attribution::apply(attribution::blame(ev, &key.artifact, agrees, holds), &case, failed, &key.artifact));
    }
    if outs.is_empty() {
        outs.push(Case::new("logprobs", &ev.slug, "all", Subject::Harness).skip("no runtime reported logprobs"));
    }
    outs
}

fn fmt_opt(x: Option<f32>) -> String {
    x.map_or("n/a".into(), |v| format!("{v:.3}"))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn tl(id: u32, logprob: f32) -> TokenLogprob {
        TokenLogprob { id, logprob }
    }

    #[test]
    fn kl_is_zero_for_equal_and_positive_for_different() {
        let a = vec![tl(1, -0.1), tl(2, -2.4)];
        assert!(shared_support_kl(&a, &a).unwrap().abs() < 1e-6);
        let b = vec![tl(1, -1.0), tl(2, -0.5)];
        assert!(shared_support_kl(&a, &b).unwrap() > 0.1);
        assert_eq!(shared_support_kl(&a, &[tl(7, -0.1)]), None);
    }

    fn with_top(tokens: Vec<u32>, shift: f32, g: &Golden) -> Generation {
        let mut gen = gen(tokens);
        gen.top_logprobs = Some(g.top_logprobs.iter().map(|s| s.iter().map(|t| tl(t.id, t.logprob - shift)).collect()).collect());
        gen
    }

    #[test]
    fn agreement_pass_and_fail_at_the_delta_bound() {
        let mut ev = evidence();
        // exactly representable logprobs, so the bound is tested exactly
        for g in ev.goldens.values_mut() {
            for step in &mut g.top_logprobs {
                step[0].logprob = -0.5;
                step[1].logprob = -4.0;
            }
        }
        let g = ev.goldens["code"].clone();
        ev.generations.insert(GenKey::new(APR, "int4-gguf", "code"), ok(with_top(seq(32), 0.5, &g)));
        ev.generations.insert(GenKey::new(APR, "int4-gguf", "completion"), ok(with_top(seq(32), 0.51, &g)));
        let outs = judge(&ev, &Tolerances::spec());
        assert_eq!(outs.len(), 2);
        assert_eq!(find(&outs, "apr/int4-gguf/code").status, Verdict::Pass, "{outs:#?}");
        assert_eq!(find(&outs, "apr/int4-gguf/completion").status, Verdict::Fail);
    }

    #[test]
    fn compares_only_up_to_the_first_divergence() {
        let ev = evidence();
        let g = &ev.goldens["code"];
        let mut toks = seq(32);
        toks[4] = 900 + 4;
        let mut runtime = with_top(toks.clone(), 0.0, g).top_logprobs.unwrap();
        // at step 4 the runtime prefers its own token, confidently per the oracle (gap 3.0)
        runtime[4] = vec![tl(904, -0.05), tl(104, -3.0)];
        let a = agreement(g, Some(&toks), &runtime, 0.5);
        assert_eq!(a.steps_compared, 5);
        assert_eq!(a.top1_agree, 4);
        assert_eq!(a.confident_disagreements, vec![4]);
    }

    #[test]
    fn no_logprobs_is_skip_not_pass() {
        let mut ev = evidence();
        set_all(&mut ev, APR, "int8", &seq(32));
        let outs = judge(&ev, &Tolerances::spec());
        // One SKIP per run that answered --logprobs with null, saying so.
        assert_eq!(outs.len(), 4);
        for o in &outs {
            assert_eq!((o.status, o.note.as_str()), (Verdict::Skip, "apr answered --logprobs with null on int8: no logprobs to compare"));
        }
        // Nothing run at all: one SKIP for the suite.
        ev.generations.clear();
        let outs = judge(&ev, &Tolerances::spec());
        assert_eq!((outs.len(), outs[0].status, outs[0].note.as_str()), (1, Verdict::Skip, "no runtime reported logprobs"));
    }
}
