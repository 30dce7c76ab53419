//! cross-runtime: the same GGUF through every runtime present (apr, candle,
//! llama.cpp), tokens (or, without ids, texts) compared pairwise against apr. Two
//! correct engines may part at a near tie of their own logprobs (within
//! `near_tie_margin`): that is named, not failed. A comparator that is not installed
//! makes the pair SKIP.

use super::*;

/// The gap, in one runtime's own logprobs at `step`, between its top-1 and the other
/// runtime's token, when that token is in its top-k.
fn own_gap(gen: &Generation, step: usize, other_token: u32) -> Option<f32> {
    let top = gen.top_logprobs.as_ref()?.get(step)?;
    let best = top.iter().map(|t| t.logprob).reduce(f32::max)?;
    top.iter().find(|t| t.id == other_token).map(|t| best - t.logprob)
}

pub fn judge(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    let mut by_artifact: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for key in ev.generations.keys().filter(|k| is_gguf(&k.artifact)) {
        let runtimes = by_artifact.entry(&key.artifact).or_default();
        if !runtimes.contains(&key.runtime.as_str()) {
            runtimes.push(&key.runtime);
        }
    }
    if by_artifact.is_empty() {
        return vec![Case::new("cross-runtime", &ev.slug, "all", Subject::Harness).skip("no GGUF generations observed")];
    }
    let mut outs = Vec::new();
    for (artifact, mut runtimes) in by_artifact {
        if runtimes.len() < 2 {
            outs.push(
                Case::new("cross-runtime", &ev.slug, artifact, Subject::Harness).skip(format!("only {} ran {artifact}", runtimes[0])),
            );
            continue;
        }
        // apr first: every other runtime is compared to it.
        runtimes.sort_by_key(|r| (*r != APR, r.to_string()));
        let base = runtimes[0];
        let prompts: Vec<&String> = if ev.goldens.is_empty() {
            let mut p: Vec<&String> = ev.generations.keys().filter(|k| k.artifact == artifact).map(|k| &k.prompt).collect();
            p.dedup();
            p
        } else {
            ev.goldens.keys().collect()
        };
        for other in &runtimes[1..] {
            for prompt in &prompts {
                let subject = if base == APR { Subject::of_runtime(APR) } else { Subject::comparator(base) };
                let case = Case::new("cross-runtime", &ev.slug, format!("{artifact}/{prompt} {base}~{other}"), subject);
                let a = take(ev.generations.get(&GenKey::new(base, artifact, prompt)), &case, &format!("{base} on {artifact}"), false);
                let b = take(ev.generations.get(&GenKey::new(other, artifact, prompt)), &case, &format!("{other} on {artifact}"), false);
                let ((ga, ia), (gb, ib)) = match (a, b) {
                    (Ok(a), Ok(b)) => (a, b),
                    // A runtime that is not here: nothing to compare, never a finding.
                    (_, Err(o)) | (Err(o), _) if o.status == Verdict::Skip => {
                        outs.push(o);
                        continue;
                    }
                    (Err(o), _) | (_, Err(o)) => {
                        outs.push(o);
                        continue;
                    }
                };
                let eos = ev.goldens.get(*prompt).and_then(golden_eos);
                let cmp = match (&ga.tokens, &gb.tokens) {
                    (Some(ta), Some(_)) => Comparison::between(ta, &ga.text, eos, gb),
                    _ => Comparison::between(&[], &ga.text, None, &Generation { tokens: None, ..gb.clone() }),
                };
                let (expected, actual) = cmp.expected_actual();
                let evidence = Evidence {
                    expected: Some(expected),
                    actual: Some(actual),
                    details: serde_json::json!({ "base": base, "other": other, "comparison": cmp, "base_text": ga.text, "other_text": gb.text }),
                    reproduce: vec![ia.command_line(), ib.command_line()],
                    invocations: vec![ia.clone(), ib.clone()],
                };
                // apr parting from a correct engine on the same file is the same defect as
                // its wrong output (or what explains that run).
                let sig = match run_cause(ev, &GenKey::new(base, artifact, prompt)) {
                    Some((sig, _)) => sig,
                    None => wrong_output_signature(base),
                };
                outs.push(match &cmp {
                    Comparison::Tokens { mismatches, .. } if *mismatches <= tol.cross_runtime_max_mismatches => {
                        case.pass(format!("{mismatches} token mismatches"), evidence)
                    }
                    Comparison::Tokens { mismatches, first_divergence, expected, actual } => {
                        let step = first_divergence.unwrap_or(0);
                        let gap = match (expected.get(step), actual.get(step)) {
                            (Some(&ta), Some(&tb)) => own_gap(ga, step, tb).or_else(|| own_gap(gb, step, ta)),
                            _ => None,
                        };
                        match gap {
                            Some(gap) if gap <= tol.near_tie_margin => case.pass(
                                format!("{mismatches} token mismatches from step {step}, where the runtimes saw a near tie (Δ {gap:.2} nats ≤ {})", tol.near_tie_margin),
                                evidence,
                            ),
                            _ => case.fail(
                                format!("{mismatches} token mismatches > {} (first at step {step})", tol.cross_runtime_max_mismatches),
                                sig,
                                evidence,
                            ),
                        }
                    }
                    Comparison::TextOnly { equal: true, .. } => case.pass("texts identical (token ids not reported by both; text compared)", evidence),
                    Comparison::TextOnly { first_char_divergence, .. } => case.fail(
                        format!("texts differ at char {} (token ids not reported by both)", first_char_divergence.unwrap_or(0)),
                        sig,
                        evidence,
                    ),
                });
            }
        }
    }
    outs
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn same_gguf_through_runtimes() {
        let mut ev = evidence();
        set_all(&mut ev, APR, "q8_0-gguf", &seq(32));
        set_all(&mut ev, "llama.cpp", "q8_0-gguf", &seq(32));
        ev.generations.insert(GenKey::new("llama.cpp", "q8_0-gguf", "code"), ok(gen(with_mismatches(&seq(32), 1))));
        ev.generations.insert(
            GenKey::new("candle", "q8_0-gguf", "code"),
            ok(Generation { tokens: None, text: text_of(&seq(32)), ..Default::default() }),
        );
        set_all(&mut ev, APR, "q4_0-gguf", &seq(32));
        let outs = judge(&ev, &Tolerances::spec());
        assert_eq!(find(&outs, "q8_0-gguf/completion apr~llama.cpp").status, Verdict::Pass);
        assert_eq!(find(&outs, "q8_0-gguf/code apr~llama.cpp").status, Verdict::Fail);
        assert_eq!(find(&outs, "q8_0-gguf/code apr~candle").status, Verdict::Pass);
        assert_eq!(find(&outs, "q8_0-gguf/greeting apr~candle").status, Verdict::Blocked);
        assert_eq!(find(&outs, "q4_0-gguf").status, Verdict::Skip);
        let tol = Tolerances { cross_runtime_max_mismatches: 1, ..Tolerances::spec() };
        assert_eq!(find(&judge(&ev, &tol), "q8_0-gguf/code apr~llama.cpp").status, Verdict::Pass);
    }

    #[test]
    fn nothing_to_compare_is_skip() {
        let mut ev = evidence();
        set_all(&mut ev, APR, "int8", &seq(32));
        let outs = judge(&ev, &Tolerances::spec());
        assert_eq!(outs.len(), 1);
        assert_eq!(outs[0].status, Verdict::Skip);
    }
}
