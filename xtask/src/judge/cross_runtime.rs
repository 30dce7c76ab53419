//! cross-runtime: the same GGUF through every runtime present (apr, candle,
//! llama.cpp), tokens (or, without ids, texts) compared for every pair. When two runs
//! part, the one that left the golden first is blamed; two correct engines may part
//! at a near tie of their own logprobs (within `runtime_tie_margin`): that is named, not
//! failed, and a pair that cannot tell who left first is the comparator's outcome. A
//! comparator that is not installed or whose run failed makes the pair SKIP — unless
//! it failed on apr's own file while it reads a correct converter's files: then the
//! file is what fails, apr's converter's finding.

use super::*;

/// The gap, in one runtime's own logprobs at `step`, between the token it chose and
/// the other runtime's token, when both are in its top-k. Under greedy decoding the
/// chosen token is its top-1 and the gap is ≥ 0; a run that chose a token it rated
/// below the other's (negative gap) did not decode its own distribution.
pub fn own_gap(gen: &Generation, step: usize, other_token: u32) -> Option<f32> {
    let top = gen.top_logprobs.as_ref()?.get(step)?;
    let chosen = gen.tokens.as_ref()?.get(step)?;
    let lp = |id: u32| top.iter().find(|t| t.id == id).map(|t| t.logprob);
    Some(lp(*chosen)? - lp(other_token)?)
}

/// Where two runs part at a near tie of either run's own logprobs: the gap, when one
/// of them saw the other's token within `margin` below the token it chose there.
pub fn near_tie_between(a: &Generation, b: &Generation, step: usize, margin: f32) -> Option<f32> {
    let (ta, tb) = (a.tokens.as_ref()?.get(step).copied()?, b.tokens.as_ref()?.get(step).copied()?);
    let gaps = [own_gap(a, step, tb), own_gap(b, step, ta)];
    gaps.into_iter().flatten().filter(|g| (0.0..=margin).contains(g)).reduce(f32::min)
}

/// The step at which a run leaves the golden's tokens (None: it never does).
fn leaves_golden(g: &Golden, gen: &Generation) -> Option<usize> {
    let eos = golden_eos(g);
    first_divergence(strip_eos(&g.tokens, eos), strip_eos(gen.tokens.as_ref()?, eos))
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
        // apr first, then the comparators by name: every pair once, apr's first.
        runtimes.sort_by_key(|r| (*r != APR, r.to_string()));
        let prompts: Vec<&String> = if ev.goldens.is_empty() {
            let mut p: Vec<&String> = ev.generations.keys().filter(|k| k.artifact == artifact).map(|k| &k.prompt).collect();
            p.dedup();
            p
        } else {
            ev.goldens.keys().collect()
        };
        for (i, base) in runtimes.iter().enumerate() {
            for other in &runtimes[i + 1..] {
                for prompt in &prompts {
                    outs.push(judge_pair(ev, tol, artifact, prompt, base, other));
                }
            }
        }
    }
    outs
}

/// The pair (`base`, `other`) on one prompt. `base` is apr when apr is in the pair.
fn judge_pair(ev: &ModelEvidence, tol: &Tolerances, artifact: &str, prompt: &str, base: &str, other: &str) -> Outcome {
    let case = Case::new(
        "cross-runtime",
        &ev.slug,
        format!("{artifact}/{prompt} {base}~{other}"),
        attribution::subject_of_run(ev, base, artifact),
    );
    let a = take(ev.generations.get(&GenKey::new(base, artifact, prompt)), &case, &format!("{base} on {artifact}"), false);
    let b = take(ev.generations.get(&GenKey::new(other, artifact, prompt)), &case, &format!("{other} on {artifact}"), false);
    let ((ga, ia), (gb, ib)) = match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        // A runtime that is not here: nothing to compare, never a finding.
        (_, Err(o)) | (Err(o), _) if o.status == Verdict::Skip => return o,
        // apr's own run failed: its owning suite FAILs it, the pair is BLOCKED on it.
        // A run the harness never made is the harness's BLOCKED.
        (Err(o), _) if base == APR => return o,
        (_, Err(o)) | (Err(o), _) if o.subject == Subject::Harness => return o,
        // A comparator's run failed: its own suite's finding, nothing to compare …
        (_, Err(o)) | (Err(o), _) => return comparator_failed(ev, &case, artifact, prompt, base, other, o),
    };
    let golden = ev.goldens.get(prompt);
    let eos = golden.and_then(golden_eos);
    let cmp = match (&ga.tokens, &gb.tokens) {
        (Some(ta), Some(_)) => Comparison::between(ta, &ga.text, eos, gb),
        _ => Comparison::between(&[], &ga.text, None, &Generation { tokens: None, ..gb.clone() }),
    };
    let (expected, actual) = cmp.expected_actual();
    let mut evidence = Evidence {
        expected: Some(expected),
        actual: Some(actual),
        details: serde_json::json!({ "base": base, "other": other, "comparison": cmp, "base_text": ga.text, "other_text": gb.text }),
        reproduce: vec![ia.command_line(), ib.command_line()],
        invocations: vec![ia.clone(), ib.clone()],
    };
    let (mismatches, step) = match &cmp {
        Comparison::Tokens { mismatches, .. } if *mismatches <= tol.cross_runtime_max_mismatches => {
            return case.pass(format!("{mismatches} token mismatches"), evidence)
        }
        Comparison::TextOnly { equal: true, .. } => {
            return case.pass("texts identical (token ids not reported by both; text compared)", evidence)
        }
        Comparison::Tokens { mismatches, first_divergence, .. } => (Some(*mismatches), first_divergence.unwrap_or(0)),
        Comparison::TextOnly { first_char_divergence, .. } => (None, first_char_divergence.unwrap_or(0)),
    };
    let what = match mismatches {
        Some(m) => format!("{m} token mismatches > {} (first at step {step})", tol.cross_runtime_max_mismatches),
        None => format!("texts differ at char {step} (token ids not reported by both)"),
    };
    if mismatches.is_some() {
        if let Some(gap) = near_tie_between(ga, gb, step, tol.runtime_tie_margin) {
            return case.pass(
                format!(
                    "{} token mismatches from step {step}, where the runtimes saw a near tie (Δ {gap:.2} nats ≤ {})",
                    mismatches.unwrap_or(0),
                    tol.runtime_tie_margin
                ),
                evidence,
            );
        }
    }
    // Who left the golden first is at fault; a pair that cannot say is the comparator's.
    let left = golden.filter(|_| mismatches.is_some()).map(|g| (leaves_golden(g, ga), leaves_golden(g, gb)));
    let first = match left {
        Some((Some(sa), sb)) if sb.is_none_or(|sb| sa < sb) => Some(base),
        Some((sa, Some(sb))) if sa.is_none_or(|sa| sb < sa) => Some(other),
        _ => None,
    };
    evidence.details["left_golden_first"] = serde_json::json!(first);
    if let Some((sa, sb)) = left {
        evidence.details["left_golden_at"] = serde_json::json!({ base: sa, other: sb });
    }
    match first {
        Some(rt) if rt == APR => {
            // apr parting from a correct engine on the same file is the same defect as
            // its wrong output (or what explains that run).
            let sig = run_cause(ev, &GenKey::new(APR, artifact, prompt)).map(|(sig, _)| sig).unwrap_or_else(|| wrong_output_signature(APR));
            let at = left.and_then(|(sa, _)| sa).unwrap_or(step);
            // A second engine read the same file and stayed on the golden longer: the
            // file is readable correctly, apr's runtime is at fault.
            case.about(subject::RUNTIME).fail(format!("{what}; apr left the golden first (step {at})"), sig, evidence)
        }
        Some(rt) => {
            let at = if rt == base { left.and_then(|(sa, _)| sa) } else { left.and_then(|(_, sb)| sb) };
            case.about(Subject::comparator(rt)).fail(
                format!("{what}; {rt} left the golden first (step {})", at.unwrap_or(step)),
                wrong_output_signature(rt),
                evidence,
            )
        }
        None => {
            let why = if golden.is_none() || mismatches.is_none() {
                "no golden tokens to tell who left first"
            } else {
                "both left the golden at the same step"
            };
            case.about(Subject::comparator(other)).fail(
                format!("{what}; {why}"),
                format!("{other}: parts from {base} on the same GGUF"),
                evidence,
            )
        }
    }
}

/// A comparator's run failed (`blocked`: the pair's BLOCKED outcome naming it). On
/// apr's own file, when the same comparator reads a correct converter's file of the
/// same model, the file is at fault: apr's converter's FAIL. Otherwise the pair has
/// nothing to compare: SKIP, about the comparator (its own suite FAILs its run).
fn comparator_failed(ev: &ModelEvidence, case: &Case, artifact: &str, prompt: &str, base: &str, other: &str, blocked: Outcome) -> Outcome {
    let failed = if base == APR { other } else { base };
    let failed_run = matches!(ev.generations.get(&GenKey::new(failed, artifact, prompt)), Some(Observed::Failed { .. }));
    let reads_correct_files = ev.generations.iter().any(|(k, o)| {
        k.runtime == failed && k.artifact != artifact && attribution::correctly_made(ev, &k.artifact) && matches!(o, Observed::Ok { .. })
    });
    if base == APR && failed_run && attribution::apr_made(ev, artifact) && reads_correct_files {
        let mut o = case.about(subject::CONVERTER).fail(
            format!("{failed} cannot read apr's {artifact} but reads correct converters' files: {}", blocked.note),
            format!("apr converter: correct engines cannot read {artifact}"),
            blocked.evidence,
        );
        o.evidence.details["blame"] = serde_json::json!(format!("{failed} reads correct converters' GGUFs of this model"));
        return o;
    }
    case.about(Subject::comparator(failed)).skip(format!("{failed} did not run {artifact}, nothing to compare: {}", blocked.note))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use tmgt_schema::TokenLogprob;

    const CANDLE: &str = "candle";
    const LCPP: &str = "llama.cpp";

    fn with_top(tokens: Vec<u32>, step: usize, runner_up: u32, gap: f32) -> Generation {
        let mut g = gen(tokens.clone());
        g.top_logprobs = Some(
            tokens
                .iter()
                .enumerate()
                .map(|(i, &t)| {
                    let second = if i == step { runner_up } else { 7000 };
                    vec![
                        TokenLogprob { id: t, logprob: -0.1 },
                        TokenLogprob { id: second, logprob: -0.1 - if i == step { gap } else { 5.0 } },
                    ]
                })
                .collect(),
        );
        g
    }

    fn off_at(step: usize, id: u32) -> Vec<u32> {
        let mut t = seq(32);
        t[step..].iter_mut().enumerate().for_each(|(i, x)| *x = id + i as u32);
        t
    }

    #[test]
    fn same_gguf_through_runtimes() {
        let mut ev = evidence();
        set_all(&mut ev, APR, "q8_0-gguf", &seq(32));
        set_all(&mut ev, LCPP, "q8_0-gguf", &seq(32));
        ev.generations.insert(GenKey::new(LCPP, "q8_0-gguf", "code"), ok(gen(with_mismatches(&seq(32), 1))));
        ev.generations.insert(
            GenKey::new(CANDLE, "q8_0-gguf", "code"),
            ok(Generation { tokens: None, text: text_of(&seq(32)), ..Default::default() }),
        );
        set_all(&mut ev, APR, "q4_0-gguf", &seq(32));
        let outs = judge(&ev, &Tolerances::spec());
        assert_eq!(find(&outs, "q8_0-gguf/completion apr~llama.cpp").status, Verdict::Pass);
        // llama.cpp left the golden (apr did not): llama.cpp's finding, not apr's.
        let lcpp_off = find(&outs, "q8_0-gguf/code apr~llama.cpp");
        assert_eq!((lcpp_off.status, &lcpp_off.subject), (Verdict::Fail, &Subject::comparator(LCPP)));
        assert!(lcpp_off.note.contains("llama.cpp left the golden first (step 0)"), "{}", lcpp_off.note);
        assert_eq!(find(&outs, "q8_0-gguf/code apr~candle").status, Verdict::Pass);
        // candle~llama.cpp is compared too.
        assert_eq!(find(&outs, "q8_0-gguf/code candle~llama.cpp").status, Verdict::Fail);
        assert_eq!(find(&outs, "q8_0-gguf/greeting apr~candle").status, Verdict::Blocked);
        assert_eq!(find(&outs, "q4_0-gguf").status, Verdict::Skip);
        let tol = Tolerances { cross_runtime_max_mismatches: 1, ..Tolerances::spec() };
        assert_eq!(find(&judge(&ev, &tol), "q8_0-gguf/code apr~llama.cpp").status, Verdict::Pass);
    }

    #[test]
    fn the_runtime_that_leaves_the_golden_first_is_blamed() {
        let mut ev = evidence();
        // apr leaves at 3, candle at 10: apr's runtime.
        ev.generations.insert(GenKey::new(APR, "q4_0-gguf", "code"), ok(gen(off_at(3, 5000))));
        ev.generations.insert(GenKey::new(CANDLE, "q4_0-gguf", "code"), ok(gen(off_at(10, 6000))));
        // candle (wrong, like its SiLU-for-GELU gemma3) leaves at 2, apr at 9: candle's.
        ev.generations.insert(GenKey::new(APR, "q4_0-gguf", "greeting"), ok(gen(off_at(9, 5000))));
        ev.generations.insert(GenKey::new(CANDLE, "q4_0-gguf", "greeting"), ok(gen(off_at(2, 6000))));
        // Both leave at step 4 with different tokens: the comparator's outcome.
        ev.generations.insert(GenKey::new(APR, "q4_0-gguf", "completion"), ok(gen(off_at(4, 5000))));
        ev.generations.insert(GenKey::new(CANDLE, "q4_0-gguf", "completion"), ok(gen(off_at(4, 6000))));
        // apr never leaves, candle does at 31 (the last step).
        ev.generations.insert(GenKey::new(APR, "q4_0-gguf", "arithmetic"), ok(gen(seq(32))));
        ev.generations.insert(GenKey::new(CANDLE, "q4_0-gguf", "arithmetic"), ok(gen(off_at(31, 6000))));
        let outs = judge(&ev, &Tolerances::spec());
        let apr_first = find(&outs, "q4_0-gguf/code apr~candle");
        assert_eq!((apr_first.status, &apr_first.subject), (Verdict::Fail, &subject::RUNTIME));
        assert_eq!(apr_first.note, "29 token mismatches > 0 (first at step 3); apr left the golden first (step 3)");
        assert_eq!(apr_first.signature, wrong_output_signature(APR));
        assert_eq!(apr_first.evidence.details["left_golden_at"], serde_json::json!({"apr": 3, "candle": 10}));
        let candle_first = find(&outs, "q4_0-gguf/greeting apr~candle");
        assert_eq!((candle_first.status, &candle_first.subject), (Verdict::Fail, &Subject::comparator(CANDLE)));
        assert_eq!(candle_first.note, "30 token mismatches > 0 (first at step 2); candle left the golden first (step 2)");
        assert_eq!(candle_first.signature, wrong_output_signature(CANDLE));
        let same = find(&outs, "q4_0-gguf/completion apr~candle");
        assert_eq!((same.status, &same.subject), (Verdict::Fail, &Subject::comparator(CANDLE)));
        assert!(same.note.ends_with("both left the golden at the same step"), "{}", same.note);
        let last = find(&outs, "q4_0-gguf/arithmetic apr~candle");
        assert_eq!((last.status, &last.subject), (Verdict::Fail, &Subject::comparator(CANDLE)));
        assert!(last.note.ends_with("candle left the golden first (step 31)"), "{}", last.note);
    }

    #[test]
    fn a_near_tie_of_the_runtimes_own_logprobs_is_named_not_failed() {
        let mut ev = evidence();
        ev.generations.insert(GenKey::new(APR, "q8_0-gguf", "code"), ok(gen(off_at(5, 5000))));
        // candle saw apr's token 5000 0.4 nats under its own top-1 at step 5.
        ev.generations.insert(GenKey::new(CANDLE, "q8_0-gguf", "code"), ok(with_top(seq(32), 5, 5000, 0.4)));
        // 0.6 nats: no longer a near tie (margin 0.5): apr left first.
        ev.generations.insert(GenKey::new(APR, "q8_0-gguf", "greeting"), ok(gen(off_at(5, 5000))));
        ev.generations.insert(GenKey::new(CANDLE, "q8_0-gguf", "greeting"), ok(with_top(seq(32), 5, 5000, 0.6)));
        // The margin is inclusive; apr's own logprobs count too.
        ev.generations.insert(GenKey::new(APR, "q8_0-gguf", "completion"), ok(with_top(off_at(5, 5000), 5, 105, 0.5)));
        ev.generations.insert(GenKey::new(CANDLE, "q8_0-gguf", "completion"), ok(gen(seq(32))));
        let outs = judge(&ev, &Tolerances::spec());
        let tie = find(&outs, "q8_0-gguf/code apr~candle");
        assert_eq!(tie.status, Verdict::Pass);
        assert_eq!(tie.note, "27 token mismatches from step 5, where the runtimes saw a near tie (Δ 0.40 nats ≤ 0.5)");
        assert_eq!(find(&outs, "q8_0-gguf/greeting apr~candle").status, Verdict::Fail);
        assert_eq!(find(&outs, "q8_0-gguf/completion apr~candle").status, Verdict::Pass);
        assert_eq!(near_tie_between(&gen(seq(3)), &gen(seq(3)), 9, 0.5), None, "past the end");
    }

    #[test]
    fn a_run_that_did_not_choose_its_own_top_1_sees_no_near_tie() {
        // candle's top-k at step 5 puts apr's token 105 first, but candle emitted 5000
        // (ranked 3 nats lower): not a tie of candle's own choice; candle left first.
        let mut ev = evidence();
        ev.generations.insert(GenKey::new(APR, "q8_0-gguf", "code"), ok(gen(seq(32))));
        let mut wrong = with_top(seq(32), 5, 5000, 3.0);
        wrong.tokens.as_mut().unwrap()[5] = 5000;
        assert_eq!(own_gap(&wrong, 5, 105), Some(-3.0));
        assert_eq!(near_tie_between(&gen(seq(32)), &wrong, 5, 0.5), None);
        ev.generations.insert(GenKey::new(CANDLE, "q8_0-gguf", "code"), ok(wrong.clone()));
        let o = find(&judge(&ev, &Tolerances::spec()), "q8_0-gguf/code apr~candle").clone();
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &Subject::comparator(CANDLE)));
        assert!(o.note.ends_with("candle left the golden first (step 5)"), "{}", o.note);
        // Its chosen token missing from its own top-k: no gap to measure.
        wrong.top_logprobs.as_mut().unwrap()[5].retain(|t| t.id != 5000);
        assert_eq!(own_gap(&wrong, 5, 105), None);
    }

    #[test]
    fn a_comparator_that_fails_is_never_apr_s_finding_unless_apr_made_the_file() {
        let mut ev = evidence();
        let conv = |tool: &str, from: &str| conversion(tool, from, 4);
        ev.conversions.insert("int4".into(), conv(APR, "reference"));
        ev.conversions.insert("int4-gguf".into(), conv(APR, "int4"));
        ev.conversions.insert("q4_0-gguf".into(), conv(CANDLE, "reference"));
        let failed =
            || Observed::Failed { error: "tokenizer.ggml.pre \"default\" is not supported".into(), invocation: inv(&["oracle-gen"], "") };
        set_all(&mut ev, APR, "int4-gguf", &seq(32));
        set_all(&mut ev, APR, "q4_0-gguf", &seq(32));
        for p in PROMPTS {
            ev.generations.insert(GenKey::new(CANDLE, "int4-gguf", p), failed());
            ev.generations.insert(GenKey::new(CANDLE, "q4_0-gguf", p), failed());
        }
        // candle fails on every file: its own problem, the pairs SKIP.
        let outs = judge(&ev, &Tolerances::spec());
        let skip = find(&outs, "int4-gguf/code apr~candle");
        assert_eq!((skip.status, &skip.subject), (Verdict::Skip, &Subject::comparator(CANDLE)));
        assert!(skip.note.starts_with("candle did not run int4-gguf, nothing to compare: candle on int4-gguf failed"), "{}", skip.note);
        assert_eq!(find(&outs, "q4_0-gguf/code apr~candle").status, Verdict::Skip);
        // candle reads the correct converter's q4_0-gguf: apr's file is what fails.
        set_all(&mut ev, CANDLE, "q4_0-gguf", &seq(32));
        let outs = judge(&ev, &Tolerances::spec());
        let file = find(&outs, "int4-gguf/code apr~candle");
        assert_eq!((file.status, &file.subject), (Verdict::Fail, &subject::CONVERTER));
        assert_eq!(file.signature, "apr converter: correct engines cannot read int4-gguf");
        assert_eq!(find(&outs, "q4_0-gguf/code apr~candle").status, Verdict::Pass);
        // A comparator's BLOCKED run (not a failed one) is never apr's.
        ev.generations.insert(
            GenKey::new(CANDLE, "int4-gguf", "code"),
            Observed::Blocked { step: "convert".into(), reason: "x".into(), signature: "s".into() },
        );
        assert_eq!(find(&judge(&ev, &Tolerances::spec()), "int4-gguf/code apr~candle").status, Verdict::Skip);
    }

    #[test]
    fn apr_s_own_failed_run_blocks_the_pair() {
        let mut ev = evidence();
        ev.generations
            .insert(GenKey::new(APR, "q8_0-gguf", "code"), Observed::Failed { error: "boom".into(), invocation: inv(&["apr"], "") });
        ev.generations.insert(GenKey::new(CANDLE, "q8_0-gguf", "code"), ok(gen(seq(32))));
        let o = find(&judge(&ev, &Tolerances::spec()), "q8_0-gguf/code apr~candle").clone();
        assert_eq!((o.status, &o.subject), (Verdict::Blocked, &subject::RUNTIME));
    }

    #[test]
    fn without_goldens_a_difference_is_the_comparator_s() {
        let mut ev = evidence();
        ev.goldens.clear();
        ev.generations.insert(GenKey::new(APR, "q8_0-gguf", "code"), ok(gen(seq(32))));
        ev.generations.insert(GenKey::new(CANDLE, "q8_0-gguf", "code"), ok(gen(off_at(1, 6000))));
        let o = find(&judge(&ev, &Tolerances::spec()), "q8_0-gguf/code apr~candle").clone();
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &Subject::comparator(CANDLE)));
        assert!(o.note.ends_with("no golden tokens to tell who left first"), "{}", o.note);
    }

    #[test]
    fn every_pair_once_and_what_cannot_be_compared_says_why() {
        let mut ev = evidence();
        set_all(&mut ev, APR, "q8_0-gguf", &seq(32));
        set_all(&mut ev, CANDLE, "q8_0-gguf", &seq(32));
        set_all(&mut ev, LCPP, "q8_0-gguf", &seq(32));
        // llama.cpp not installed here; candle failed its own run on one prompt.
        ev.generations.insert(GenKey::new(LCPP, "q8_0-gguf", "code"), Observed::Skipped { reason: "comparator off".into() });
        ev.generations.insert(
            GenKey::new(CANDLE, "q8_0-gguf", "greeting"),
            Observed::Failed { error: "boom".into(), invocation: inv(&["oracle-gen"], "") },
        );
        // apr reported only text, candle ids too: the texts are compared.
        ev.generations.insert(GenKey::new(APR, "q8_0-gguf", "arithmetic"), ok(Generation { tokens: None, ..gen(seq(32)) }));
        let outs = judge(&ev, &Tolerances::spec());
        assert_eq!(outs.len(), 3 * 4, "three pairs, four prompts, no runtime paired with itself");
        assert!(outs.iter().all(|o| !o.case.contains("apr~apr") && !o.case.contains("candle~candle")));
        let off = find(&outs, "q8_0-gguf/code apr~llama.cpp");
        assert_eq!((off.status, off.note.as_str()), (Verdict::Skip, "llama.cpp on q8_0-gguf: comparator off"));
        // A comparator's failure in a pair of comparators: SKIP about it, not BLOCKED.
        let failed = find(&outs, "q8_0-gguf/greeting candle~llama.cpp");
        assert_eq!((failed.status, &failed.subject), (Verdict::Skip, &Subject::comparator(CANDLE)));
        let text = find(&outs, "q8_0-gguf/arithmetic apr~candle");
        assert_eq!((text.status, text.note.as_str()), (Verdict::Pass, "texts identical (token ids not reported by both; text compared)"));
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
