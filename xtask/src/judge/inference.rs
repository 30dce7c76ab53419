//! The seed's inference suites (canary, token-parity, quant-drift, roundtrip, ppl) and
//! our reference-ppl: apr's generations and perplexities against the oracle's goldens.

use super::*;

/// The seed ran the roundtrip on these two prompts; kept for same counts per model.
pub const ROUNDTRIP_PROMPTS: &[&str] = &["completion", "arithmetic"];

/// Signature shared by every check that saw `runtime` on `artifact` generate other
/// tokens than the oracle: one root cause in the ticket.
pub fn wrong_output_signature(runtime: &str, artifact: &str) -> String {
    format!("{runtime} on {artifact}: generation differs from the oracle")
}

pub const NO_IDS_SIGNATURE: &str = "runtime reports no token ids";

/// Like `take`, for a check that combines several observations: an input that failed
/// makes this check BLOCKED (the failure itself is judged where it is observed), with
/// the failure's signature so the ticket groups them.
pub fn take_input<'a, T>(obs: Option<&'a Observed<T>>, ctx: &Ctx, what: &str) -> Result<(&'a T, &'a Invocation), Outcome> {
    match obs {
        Some(Observed::Failed { error, invocation }) => Err(ctx.blocked(
            format!("{what} failed: {}", first_line(error)),
            normalize_error(error),
            evidence_from(invocation, None, Some(raw_output(invocation)), serde_json::json!({ "error": error })),
        )),
        other => take(other, ctx, what),
    }
}

fn gen_obs<'a>(ev: &'a ModelEvidence, runtime: &str, artifact: &str, prompt: &str) -> Option<&'a Observed<Generation>> {
    ev.generations.get(&GenKey::new(runtime, artifact, prompt))
}

/// Evidence of a generation compared to the golden.
fn comparison_evidence(cmp: &Comparison, inv: &Invocation, g: &Golden) -> Evidence {
    let (expected, actual) = cmp.expected_actual();
    let mut details = cmp.details();
    details["golden_text"] = serde_json::json!(g.text);
    Evidence { expected: Some(expected), actual: Some(actual), details, ..evidence_from(inv, None, None, serde_json::Value::Null) }
}

/// canary: int8 text exactly equals the oracle's text.
pub fn canary(ev: &ModelEvidence) -> Vec<Outcome> {
    if ev.goldens.is_empty() {
        return no_goldens("canary", ev);
    }
    ev.goldens
        .iter()
        .map(|(prompt, g)| {
            let ctx = Ctx::new("canary", &ev.slug, format!("int8/{prompt}"));
            let (gen, inv) = match take(gen_obs(ev, APR, "int8", prompt), &ctx, "apr run on int8") {
                Ok(x) => x,
                Err(o) => return o,
            };
            let mut evidence = evidence_from(inv, Some(format!("{:?}", g.text)), Some(format!("{:?}", gen.text)), serde_json::Value::Null);
            let ec: Vec<char> = g.text.chars().collect();
            let ac: Vec<char> = gen.text.chars().collect();
            match first_divergence(&ec, &ac) {
                None => ctx.pass("exact text match", evidence),
                Some(at) => {
                    evidence.details = serde_json::json!({ "first_char_divergence": at, "expected_tokens": g.tokens, "actual_tokens": gen.tokens });
                    let from = at.saturating_sub(8);
                    let got: String = ac[from.min(ac.len())..].iter().take(32).collect();
                    let want: String = ec[from.min(ec.len())..].iter().take(32).collect();
                    ctx.fail(
                        format!("text differs at char {at}: expected {want:?}, got {got:?}"),
                        wrong_output_signature(APR, "int8"),
                        evidence,
                    )
                }
            }
        })
        .collect()
}

/// Mismatches of one generation against the golden, as a judged outcome with `bound`.
fn bounded(ctx: &Ctx, g: &Golden, gen: &Generation, inv: &Invocation, bound: usize, runtime: &str, artifact: &str) -> Outcome {
    let cmp = Comparison::to_golden(g, gen);
    let evidence = comparison_evidence(&cmp, inv, g);
    match &cmp {
        Comparison::Tokens { mismatches, first_divergence, expected, .. } => {
            let n = expected.len().max(1);
            if *mismatches <= bound {
                ctx.pass(format!("{mismatches}/{n} mismatches (≤ {bound})"), evidence)
            } else {
                ctx.fail(
                    format!(
                        "{mismatches}/{n} mismatches > {bound} (first at step {})",
                        first_divergence.map(|d| d.to_string()).unwrap_or_default()
                    ),
                    wrong_output_signature(runtime, artifact),
                    evidence,
                )
            }
        }
        Comparison::TextOnly { equal: true, .. } => {
            ctx.pass("text identical to oracle (runtime reported no token ids; text compared)", evidence)
        }
        Comparison::TextOnly { first_char_divergence, .. } => ctx.blocked(
            format!(
                "runtime reported no token ids and its text differs from the oracle at char {}: mismatches cannot be counted",
                first_char_divergence.unwrap_or(0)
            ),
            NO_IDS_SIGNATURE,
            evidence,
        ),
    }
}

/// token-parity: int4 ≤ 5/32, int8 ≤ 3/32 mismatches per prompt.
pub fn token_parity(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    if ev.goldens.is_empty() {
        return no_goldens("token-parity", ev);
    }
    let mut outs = Vec::new();
    for (artifact, bound) in [("int4", tol.int4_max_mismatches), ("int8", tol.int8_max_mismatches)] {
        for (prompt, g) in &ev.goldens {
            let ctx = Ctx::new("token-parity", &ev.slug, format!("{artifact}/{prompt}"));
            outs.push(match take(gen_obs(ev, APR, artifact, prompt), &ctx, &format!("apr run on {artifact}")) {
                Ok((gen, inv)) => bounded(&ctx, g, gen, inv, bound, APR, artifact),
                Err(o) => o,
            });
        }
    }
    outs
}

/// Mismatch count of an observation, or the outcome saying why there is none.
fn mismatches_of(ctx: &Ctx, g: &Golden, obs: Option<&Observed<Generation>>, artifact: &str) -> Result<(usize, Invocation), Outcome> {
    let (gen, inv) = take_input(obs, ctx, &format!("apr run on {artifact}"))?;
    match Comparison::to_golden(g, gen) {
        Comparison::Tokens { mismatches, .. } => Ok((mismatches, inv.clone())),
        Comparison::TextOnly { equal: true, .. } => Ok((0, inv.clone())),
        cmp @ Comparison::TextOnly { .. } => Err(ctx.blocked(
            format!("apr on {artifact} reported no token ids and its text differs: drift cannot be counted"),
            NO_IDS_SIGNATURE,
            comparison_evidence(&cmp, inv, g),
        )),
    }
}

/// quant-drift: int8 mismatches ≤ int4 mismatches + 1, per prompt.
pub fn quant_drift(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    if ev.goldens.is_empty() {
        return no_goldens("quant-drift", ev);
    }
    ev.goldens
        .iter()
        .map(|(prompt, g)| {
            let ctx = Ctx::new("quant-drift", &ev.slug, prompt.clone());
            let m4 = mismatches_of(&ctx, g, gen_obs(ev, APR, "int4", prompt), "int4");
            let m8 = mismatches_of(&ctx, g, gen_obs(ev, APR, "int8", prompt), "int8");
            let ((m4, inv4), (m8, inv8)) = match (m4, m8) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(o), _) | (_, Err(o)) => return o,
            };
            let evidence = Evidence {
                expected: Some(format!("int8 ≤ int4 + {}", tol.drift_slack)),
                actual: Some(format!("int8 = {m8}, int4 = {m4}")),
                details: serde_json::json!({ "int4_mismatches": m4, "int8_mismatches": m8, "slack": tol.drift_slack }),
                reproduce: vec![inv4.command_line(), inv8.command_line()],
                invocations: vec![inv4, inv8],
            };
            if drift_ok(m8, m4, tol.drift_slack) {
                ctx.pass(format!("int8={m8} ≤ int4={m4}+{}", tol.drift_slack), evidence)
            } else {
                ctx.fail(
                    format!("int8 ({m8}) > int4 ({m4}) + {}: higher precision drifted more", tol.drift_slack),
                    "int8 drifts more than int4",
                    evidence,
                )
            }
        })
        .collect()
}

/// roundtrip: APR int4 → GGUF → APR gives identical tokens to the int4 APR.
pub fn roundtrip(ev: &ModelEvidence) -> Vec<Outcome> {
    if ev.goldens.is_empty() {
        return no_goldens("roundtrip", ev);
    }
    let mut prompts: Vec<&str> = ROUNDTRIP_PROMPTS.iter().copied().filter(|p| ev.goldens.contains_key(*p)).collect();
    if prompts.is_empty() {
        prompts = super::prompts(ev);
    }
    prompts
        .into_iter()
        .map(|prompt| {
            let g = &ev.goldens[prompt];
            let ctx = Ctx::new("roundtrip", &ev.slug, prompt.to_string());
            let (orig, inv_o) = match take_input(gen_obs(ev, APR, "int4", prompt), &ctx, "apr run on int4") {
                Ok(x) => x,
                Err(o) => return o,
            };
            let (rt, inv_r) = match gen_obs(ev, APR, "roundtrip", prompt) {
                // The export and re-import are the claim under test: their failure is a FAIL.
                Some(Observed::Blocked { step, reason }) => {
                    return ctx.fail(
                        format!("roundtrip conversion failed at {step}: {}", first_line(reason)),
                        format!("roundtrip conversion fails: {}", normalize_error(reason)),
                        Evidence { actual: Some(reason.clone()), ..Default::default() },
                    )
                }
                other => match take(other, &ctx, "apr run on roundtrip") {
                    Ok(x) => x,
                    Err(o) => return o,
                },
            };
            let cmp = Comparison::between(orig.tokens.as_deref().unwrap_or_default(), &orig.text, golden_eos(g), rt);
            let cmp = if orig.tokens.is_none() {
                // Without ids on the original side, compare the texts.
                Comparison::between(&[], &orig.text, None, &Generation { tokens: None, ..rt.clone() })
            } else {
                cmp
            };
            let (expected, actual) = cmp.expected_actual();
            let evidence = Evidence {
                expected: Some(expected),
                actual: Some(actual),
                details: cmp.details(),
                reproduce: vec![inv_o.command_line(), inv_r.command_line()],
                invocations: vec![inv_o.clone(), inv_r.clone()],
            };
            match &cmp {
                Comparison::Tokens { mismatches: 0, .. } => ctx.pass("tokens identical after APR→GGUF→APR", evidence),
                Comparison::Tokens { mismatches, first_divergence, .. } => ctx.fail(
                    format!(
                        "{mismatches} token mismatches after APR→GGUF→APR (first at step {})",
                        first_divergence.unwrap_or(0)
                    ),
                    "APR→GGUF→APR roundtrip changes generated tokens",
                    evidence,
                ),
                Comparison::TextOnly { equal: true, .. } => {
                    ctx.pass("text identical after APR→GGUF→APR (no token ids reported; text compared)", evidence)
                }
                Comparison::TextOnly { first_char_divergence, .. } => ctx.fail(
                    format!("text differs after APR→GGUF→APR at char {}", first_char_divergence.unwrap_or(0)),
                    "APR→GGUF→APR roundtrip changes generated tokens",
                    evidence,
                ),
            }
        })
        .collect()
}

fn score_obs<'a>(ev: &'a ModelEvidence, runtime: &str, artifact: &str) -> Option<&'a Observed<Score>> {
    ev.scores.get(&(runtime.to_string(), artifact.to_string()))
}

/// ppl: each quantized artifact under the model's ceiling; |int4 − int8| < 0.5.
pub fn ppl(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    let mut outs = Vec::new();
    let mut values = BTreeMap::new();
    for artifact in ["int4", "int8"] {
        let ctx = Ctx::new("ppl", &ev.slug, artifact);
        let (score, inv) = match take(score_obs(ev, APR, artifact), &ctx, &format!("apr eval on {artifact}")) {
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
            outs.push(ctx.blocked("no PPL ceiling for this model in the roster", "no PPL ceiling", evidence));
            continue;
        }
        if !ppl.is_finite() || ppl < 1.0 {
            outs.push(ctx.fail(format!("PPL = {ppl}: not a perplexity"), "PPL not finite or < 1", evidence));
            continue;
        }
        values.insert(artifact, (ppl, inv.clone()));
        if ppl < ev.ppl_ceiling {
            outs.push(ctx.pass(format!("PPL={ppl:.2} < {}", ev.ppl_ceiling), evidence));
        } else {
            outs.push(ctx.fail(format!("PPL={ppl:.2} exceeds ceiling {}", ev.ppl_ceiling), "PPL exceeds ceiling", evidence));
        }
    }
    let ctx = Ctx::new("ppl", &ev.slug, "int4~int8");
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
                ctx.pass(format!("|{p4:.2} − {p8:.2}| = {diff:.3} < {}", tol.ppl_int4_int8_max_diff), evidence)
            } else {
                ctx.fail(
                    format!("PPL drift {diff:.3} ≥ {} (int4 {p4:.2}, int8 {p8:.2})", tol.ppl_int4_int8_max_diff),
                    "int4/int8 PPL drift over bound",
                    evidence,
                )
            }
        }
        _ => ctx.blocked("needs a valid PPL from both int4 and int8", "PPL missing", Evidence::default()),
    });
    outs
}

/// reference-ppl: each runtime's PPL over the reference text against the oracle's
/// (ratio within the artifact's bound, same token count when both report it).
pub fn reference_ppl(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    let mut keys: Vec<(String, String)> = vec![(APR.into(), "int4".into()), (APR.into(), "int8".into())];
    for k in ev.scores.keys() {
        if !keys.contains(k) {
            keys.push(k.clone());
        }
    }
    keys.iter()
        .map(|(runtime, artifact)| {
            let ctx = Ctx::new("reference-ppl", &ev.slug, format!("{runtime}/{artifact}"));
            let (score, inv) = match take_input(score_obs(ev, runtime, artifact), &ctx, &format!("{runtime} PPL on {artifact}")) {
                Ok(x) => x,
                Err(o) => return o,
            };
            let Some(reference) = &ev.reference_score else {
                return ctx.blocked("no oracle PPL over the reference text", "no oracle PPL", Evidence::default());
            };
            let r = tol.ref_ppl_ratio_for(artifact);
            let ratio = score.perplexity / reference.perplexity;
            let evidence = evidence_from(
                inv,
                Some(format!("oracle PPL {:.3} (ratio within [{:.3}, {r}])", reference.perplexity, 1.0 / r)),
                Some(format!("PPL {:.3}", score.perplexity)),
                serde_json::json!({
                    "runtime": score, "oracle": reference, "ratio": ratio,
                    "difference": score.perplexity - reference.perplexity, "max_ratio": r,
                }),
            );
            if let (Some(n), Some(m)) = (score.token_count, reference.token_count) {
                if n != m {
                    return ctx.fail(
                        format!("scored {n} tokens, oracle {m}: not the same text"),
                        "PPL over a different token count than the oracle",
                        evidence,
                    );
                }
            }
            if !ratio.is_finite() || score.perplexity < 1.0 {
                return ctx.fail(format!("PPL {} vs oracle {}: not comparable", score.perplexity, reference.perplexity), "PPL not finite or < 1", evidence);
            }
            let note = format!(
                "PPL {:.2} vs oracle {:.2} (ratio {ratio:.3}, Δ {:+.2})",
                score.perplexity,
                reference.perplexity,
                score.perplexity - reference.perplexity
            );
            if ratio <= r && ratio >= 1.0 / r {
                ctx.pass(note, evidence)
            } else {
                ctx.fail(format!("{note} outside ×{r}"), format!("{runtime} PPL far from the oracle's"), evidence)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn canary_passes_exact_text_and_fails_one_char_off() {
        let mut ev = evidence();
        set_all(&mut ev, APR, "int8", &seq(32));
        let mut g = gen(seq(32));
        g.text.push(' ');
        ev.generations.insert(GenKey::new(APR, "int8", "code"), ok(g));
        let outs = canary(&ev);
        assert_eq!(outs.len(), 4);
        assert_eq!(find(&outs, "int8/completion").status, Status::Pass);
        let f = find(&outs, "int8/code");
        assert_eq!(f.status, Status::Fail);
        assert!(f.note.contains("char"), "{}", f.note);
    }

    #[test]
    fn canary_missing_or_crashed_is_not_pass() {
        let mut ev = evidence();
        ev.generations.insert(
            GenKey::new(APR, "int8", "code"),
            Observed::Failed { error: "not JSON: garbage".into(), invocation: inv(&["apr", "run"], "garbage") },
        );
        let outs = canary(&ev);
        assert_eq!(find(&outs, "int8/completion").status, Status::Blocked);
        let f = find(&outs, "int8/code");
        assert_eq!(f.status, Status::Fail);
        assert!(f.evidence.actual.as_deref().unwrap().contains("garbage"), "raw output quoted");
    }

    #[test]
    fn token_parity_bounds_are_inclusive() {
        let mut ev = evidence();
        let base = seq(32);
        ev.generations.insert(GenKey::new(APR, "int8", "code"), ok(gen(with_mismatches(&base, 3))));
        ev.generations.insert(GenKey::new(APR, "int8", "completion"), ok(gen(with_mismatches(&base, 4))));
        ev.generations.insert(GenKey::new(APR, "int4", "code"), ok(gen(with_mismatches(&base, 5))));
        ev.generations.insert(GenKey::new(APR, "int4", "completion"), ok(gen(with_mismatches(&base, 6))));
        let outs = token_parity(&ev, &Tolerances::default());
        assert_eq!(outs.len(), 8);
        assert_eq!(find(&outs, "int8/code").status, Status::Pass);
        assert_eq!(find(&outs, "int8/completion").status, Status::Fail);
        assert_eq!(find(&outs, "int4/code").status, Status::Pass);
        assert_eq!(find(&outs, "int4/completion").status, Status::Fail);
        assert_eq!(find(&outs, "int4/greeting").status, Status::Blocked);
    }

    #[test]
    fn length_difference_counts_and_eos_is_normalised() {
        let mut ev = evidence();
        let mut toks = seq(5);
        toks.push(EOS);
        ev.goldens.insert("arithmetic".into(), golden_with("arithmetic", toks.clone(), StopReason::Eos, |_| 3.0));
        // stops at EOS without listing it: same generation
        ev.generations.insert(GenKey::new(APR, "int8", "arithmetic"), ok(gen(seq(5))));
        // runs on past EOS: 27 extra tokens
        ev.generations.insert(GenKey::new(APR, "int4", "arithmetic"), ok(gen(seq(32))));
        let outs = token_parity(&ev, &Tolerances::default());
        assert_eq!(find(&outs, "int8/arithmetic").status, Status::Pass);
        let f = find(&outs, "int4/arithmetic");
        assert_eq!(f.status, Status::Fail);
        assert!(f.note.starts_with("27/"), "{}", f.note);
    }

    #[test]
    fn text_only_generation_is_compared_by_text_and_never_counted() {
        let mut ev = evidence();
        let same = Generation { tokens: None, text: text_of(&seq(32)), ..Default::default() };
        let other = Generation { tokens: None, text: "something else".into(), ..Default::default() };
        ev.generations.insert(GenKey::new(APR, "int8", "code"), ok(same));
        ev.generations.insert(GenKey::new(APR, "int8", "completion"), ok(other));
        let outs = token_parity(&ev, &Tolerances::default());
        let p = find(&outs, "int8/code");
        assert_eq!(p.status, Status::Pass);
        assert!(p.note.contains("no token ids"));
        assert_eq!(find(&outs, "int8/completion").status, Status::Blocked);
    }

    #[test]
    fn quant_drift_at_bound_and_one_past() {
        let mut ev = evidence();
        let base = seq(32);
        for (p, m4, m8) in [("code", 2, 3), ("completion", 2, 4), ("greeting", 0, 0)] {
            ev.generations.insert(GenKey::new(APR, "int4", p), ok(gen(with_mismatches(&base, m4))));
            ev.generations.insert(GenKey::new(APR, "int8", p), ok(gen(with_mismatches(&base, m8))));
        }
        ev.generations.insert(
            GenKey::new(APR, "int4", "arithmetic"),
            Observed::Failed { error: "segfault".into(), invocation: inv(&["apr"], "") },
        );
        ev.generations.insert(GenKey::new(APR, "int8", "arithmetic"), ok(gen(base.clone())));
        let outs = quant_drift(&ev, &Tolerances::default());
        assert_eq!(find(&outs, "code").status, Status::Pass);
        assert_eq!(find(&outs, "completion").status, Status::Fail);
        assert_eq!(find(&outs, "greeting").status, Status::Pass);
        let b = find(&outs, "arithmetic");
        assert_eq!(b.status, Status::Blocked);
        assert_eq!(b.signature, "segfault");
    }

    #[test]
    fn roundtrip_identical_passes_changed_or_failed_conversion_fails() {
        let mut ev = evidence();
        set_all(&mut ev, APR, "int4", &seq(32));
        ev.generations.insert(GenKey::new(APR, "roundtrip", "completion"), ok(gen(seq(32))));
        ev.generations.insert(GenKey::new(APR, "roundtrip", "arithmetic"), ok(gen(with_mismatches(&seq(32), 1))));
        let outs = roundtrip(&ev);
        assert_eq!(outs.len(), 2);
        assert_eq!(find(&outs, "completion").status, Status::Pass);
        assert_eq!(find(&outs, "arithmetic").status, Status::Fail);

        ev.generations.insert(
            GenKey::new(APR, "roundtrip", "arithmetic"),
            Observed::Blocked { step: "apr import int4.gguf".into(), reason: "unsupported tensor type 3".into() },
        );
        let f = find(&roundtrip(&ev), "arithmetic").clone();
        assert_eq!(f.status, Status::Fail);
        assert!(f.note.contains("apr import"));
        ev.generations.insert(
            GenKey::new(APR, "int4", "arithmetic"),
            Observed::Blocked { step: "apr import --quantize int4".into(), reason: "x".into() },
        );
        assert_eq!(find(&roundtrip(&ev), "arithmetic").status, Status::Blocked);
    }

    fn score(p: f64) -> Observed<Score> {
        ok(Score { perplexity: p, token_count: Some(100), mean_nll: Some(p.ln()) })
    }

    #[test]
    fn ppl_ceiling_and_drift_bound() {
        let mut ev = evidence();
        ev.scores.insert((APR.into(), "int4".into()), score(12.4));
        ev.scores.insert((APR.into(), "int8".into()), score(12.0));
        let outs = ppl(&ev, &Tolerances::default());
        assert_eq!(outs.len(), 3);
        assert!(outs.iter().all(|o| o.status == Status::Pass), "{outs:#?}");
        ev.scores.insert((APR.into(), "int4".into()), score(12.5));
        assert_eq!(find(&ppl(&ev, &Tolerances::default()), "int4~int8").status, Status::Fail, "0.5 is not < 0.5");
        ev.scores.insert((APR.into(), "int4".into()), score(20.0));
        assert_eq!(find(&ppl(&ev, &Tolerances::default()), "int4").status, Status::Fail, "20 is not < 20");
        ev.scores.insert((APR.into(), "int4".into()), score(f64::NAN));
        let outs = ppl(&ev, &Tolerances::default());
        assert_eq!(find(&outs, "int4").status, Status::Fail);
        assert_eq!(find(&outs, "int4~int8").status, Status::Blocked);
        ev.scores.clear();
        assert!(ppl(&ev, &Tolerances::default()).iter().all(|o| o.status == Status::Blocked));
    }

    #[test]
    fn reference_ppl_ratio_and_token_count() {
        let mut ev = evidence();
        ev.reference_score = Some(Score { perplexity: 10.0, token_count: Some(100), mean_nll: None });
        ev.scores.insert((APR.into(), "int8".into()), score(11.0));
        ev.scores.insert((APR.into(), "int4".into()), score(13.01));
        ev.scores.insert(
            ("llama.cpp".into(), "q8_0-gguf".into()),
            ok(Score { perplexity: 10.0, token_count: Some(90), mean_nll: None }),
        );
        let outs = reference_ppl(&ev, &Tolerances::default());
        assert_eq!(find(&outs, "apr/int8").status, Status::Pass);
        assert_eq!(find(&outs, "apr/int4").status, Status::Fail);
        let f = find(&outs, "llama.cpp/q8_0-gguf");
        assert_eq!(f.status, Status::Fail);
        assert!(f.note.contains("not the same text"));
        ev.reference_score = None;
        assert_eq!(find(&reference_ppl(&ev, &Tolerances::default()), "apr/int8").status, Status::Blocked);
    }
}
