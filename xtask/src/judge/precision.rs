//! precision: the oracle's own reduced-precision goldens (written with `--dtype`)
//! against its f32 goldens: bf16 ≤ 3/32, f16 ≤ 5/32, bf16 vs f16 ≤ 3/32, and the
//! ladder bf16 drift ≤ f16 drift. Also whether each committed reduced-precision
//! golden holds on this machine (`verify-<dtype>`): the oracle recomputed it here, and
//! the two may differ only within the precision's pre-registered rounding error.

use super::*;

fn mismatches(a: &Golden, b: &Golden) -> (usize, Option<usize>) {
    // Both stop at the same EOS id when they stop at EOS; drop it from both.
    let eos = golden_eos(a).or(golden_eos(b));
    let (x, y) = (strip_eos(&a.tokens, eos), strip_eos(&b.tokens, eos));
    (count_mismatches(x, y), first_divergence(x, y))
}

fn pair_evidence(a: &Golden, b: &Golden, m: usize) -> Evidence {
    Evidence {
        expected: Some(format!("{:?}", a.tokens)),
        actual: Some(format!("{:?}", b.tokens)),
        details: serde_json::json!({ "mismatches": m, "reference": a.format, "candidate": b.format, "reference_text": a.text, "candidate_text": b.text }),
        ..Default::default()
    }
}

pub fn judge(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    if ev.goldens.is_empty() {
        return no_goldens("precision", ev);
    }
    if ev.precision_goldens.values().all(BTreeMap::is_empty) {
        return vec![Case::new("precision", &ev.slug, "all", Subject::Reference)
            .skip("no reduced-precision goldens (oracle not run with --dtype bf16/f16)")];
    }
    let mut outs = verify_here(ev, tol);
    let missing = |ctx: &Case, dtype: &str| {
        ctx.blocked(format!("no {dtype} golden for this prompt"), format!("{dtype} golden missing"), Evidence::default())
    };
    for (prompt, f32g) in &ev.goldens {
        let bf16 = ev.precision_goldens.get("bf16").and_then(|m| m.get(prompt));
        let f16 = ev.precision_goldens.get("f16").and_then(|m| m.get(prompt));
        let mut drift = BTreeMap::new();
        for (dtype, g, bound) in [("bf16", bf16, tol.bf16_max_mismatches), ("f16", f16, tol.f16_max_mismatches)] {
            let ctx = Case::new("precision", &ev.slug, format!("{dtype}/{prompt}"), Subject::Reference);
            let Some(g) = g else {
                outs.push(missing(&ctx, dtype));
                continue;
            };
            let (m, first) = mismatches(f32g, g);
            drift.insert(dtype, m);
            let n = f32g.tokens.len();
            outs.push(if m <= bound {
                ctx.pass(format!("{m}/{n} vs f32 (≤ {bound})"), pair_evidence(f32g, g, m))
            } else {
                ctx.fail(
                    format!("{m}/{n} vs f32 > {bound} (first at step {})", first.unwrap_or(0)),
                    format!("oracle {dtype} drifts from f32 over bound"),
                    pair_evidence(f32g, g, m),
                )
            });
        }
        let ctx = Case::new("precision", &ev.slug, format!("bf16~f16/{prompt}"), Subject::Reference);
        outs.push(match (bf16, f16) {
            (Some(b), Some(f)) => {
                let (m, _) = mismatches(b, f);
                let bound = tol.bf16_vs_f16_max_mismatches;
                if m <= bound {
                    ctx.pass(format!("{m} mismatches bf16 vs f16 (≤ {bound})"), pair_evidence(b, f, m))
                } else {
                    ctx.fail(format!("{m} mismatches bf16 vs f16 > {bound}"), "oracle bf16 vs f16 over bound", pair_evidence(b, f, m))
                }
            }
            (None, _) => missing(&ctx, "bf16"),
            (_, None) => missing(&ctx, "f16"),
        });
        let ctx = Case::new("precision", &ev.slug, format!("ladder/{prompt}"), Subject::Reference);
        outs.push(match (drift.get("bf16"), drift.get("f16")) {
            (Some(&b), Some(&f)) => {
                let e = Evidence {
                    expected: Some("bf16 drift ≤ f16 drift".into()),
                    actual: Some(format!("bf16 {b}, f16 {f}")),
                    details: serde_json::json!({ "bf16": b, "f16": f }),
                    ..Default::default()
                };
                if b <= f {
                    ctx.pass(format!("bf16 {b} ≤ f16 {f}"), e)
                } else {
                    ctx.fail(
                        format!("falsified: bf16 drift {b} > f16 drift {f} (pre-registered: bf16 drift ≤ f16 drift)"),
                        "reference: the precision ladder (bf16 drift ≤ f16 drift) is falsified",
                        e,
                    )
                }
            }
            _ => ctx.blocked("needs both bf16 and f16 goldens", "reduced-precision golden missing", Evidence::default()),
        });
    }
    outs
}

/// `verify-<dtype>/<prompt>`: the committed golden against this machine's.
fn verify_here(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    let mut outs = Vec::new();
    for (dtype, committed) in &ev.precision_goldens {
        for (prompt, old) in committed {
            let ctx = Case::new("precision", &ev.slug, format!("verify-{dtype}/{prompt}"), Subject::Reference);
            let Some(logprob) = tol.golden_logprob_for(dtype) else {
                outs.push(ctx.blocked(
                    format!("no golden_logprob tolerance for {dtype} in the roster"),
                    "golden tolerance missing",
                    Evidence::default(),
                ));
                continue;
            };
            let Some(fresh) = ev.host_goldens.get(dtype).and_then(|m| m.get(prompt)) else {
                outs.push(ctx.blocked(
                    format!("the oracle did not compute {dtype} here (`cargo xtask oracle --dtype {dtype}`)"),
                    format!("{dtype} golden not recomputed on this machine"),
                    Evidence::default(),
                ));
                continue;
            };
            let v = tmgt_schema::verify(old, fresh, tmgt_schema::GoldenTolerance { logprob, near_tie_flips: true });
            let written_on = old.host.as_ref().map_or("an unrecorded machine".to_string(), |h| h.describe());
            let here = fresh.host.as_ref().map_or("this machine".to_string(), |h| h.describe());
            let evidence = Evidence {
                expected: Some(format!("the committed {dtype} golden (written on {written_on}), within {logprob} nats")),
                actual: Some(format!("on {here}: {}", v.summary())),
                details: serde_json::json!({ "verification": v, "committed_host": old.host, "host": fresh.host }),
                ..Default::default()
            };
            outs.push(if v.holds() {
                ctx.pass(format!("holds on this CPU: {}", v.summary()), evidence)
            } else {
                ctx.fail(
                    format!("does not hold on this CPU: {}", v.summary()),
                    format!("oracle {dtype} golden does not hold on this CPU"),
                    evidence,
                )
            });
        }
    }
    outs
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn with(ev: &mut ModelEvidence, dtype: &str, prompt: &str, k: usize) {
        let g = golden(prompt, with_mismatches(&seq(32), k));
        ev.precision_goldens.entry(dtype.into()).or_default().insert(prompt.into(), g);
    }

    #[test]
    fn bounds_at_and_one_past() {
        let mut ev = evidence();
        with(&mut ev, "bf16", "code", 3);
        with(&mut ev, "f16", "code", 5);
        with(&mut ev, "bf16", "completion", 4);
        with(&mut ev, "f16", "completion", 6);
        let outs = judge(&ev, &Tolerances::spec());
        assert_eq!(find(&outs, "bf16/code").status, Verdict::Pass);
        assert_eq!(find(&outs, "f16/code").status, Verdict::Pass);
        assert_eq!(find(&outs, "bf16/completion").status, Verdict::Fail);
        assert_eq!(find(&outs, "f16/completion").status, Verdict::Fail);
        // with_mismatches replaces a prefix, so bf16 (3) vs f16 (5) differ in 2 positions
        assert_eq!(find(&outs, "bf16~f16/code").status, Verdict::Pass);
        assert_eq!(find(&outs, "ladder/code").status, Verdict::Pass);
        assert_eq!(find(&outs, "bf16/greeting").status, Verdict::Blocked);
        assert_eq!(find(&outs, "ladder/greeting").status, Verdict::Blocked);
    }

    #[test]
    fn ladder_inverted_fails() {
        let mut ev = evidence();
        with(&mut ev, "bf16", "code", 2);
        with(&mut ev, "f16", "code", 1);
        let outs = judge(&ev, &Tolerances::spec());
        assert_eq!(find(&outs, "ladder/code").status, Verdict::Fail);
    }

    #[test]
    fn committed_goldens_are_verified_against_this_machines() {
        let mut ev = evidence();
        with(&mut ev, "bf16", "code", 0);
        with(&mut ev, "bf16", "greeting", 0);
        let mut here = ev.precision_goldens["bf16"].clone();
        // code: logprobs moved within 0.5 nats; greeting: a confident token changed
        for step in &mut here.get_mut("code").unwrap().top_logprobs {
            step[0].logprob -= 0.25;
        }
        here.get_mut("greeting").unwrap().tokens[4] = 4242;
        ev.host_goldens.insert("bf16".into(), here);
        let outs = judge(&ev, &Tolerances::spec());
        let ok = find(&outs, "verify-bf16/code");
        assert_eq!(ok.status, Verdict::Pass, "{ok:#?}");
        assert!(ok.note.contains("within 0.5 nats"), "{}", ok.note);
        let bad = find(&outs, "verify-bf16/greeting");
        assert_eq!(bad.status, Verdict::Fail);
        assert!(bad.note.contains("step 4"), "{}", bad.note);
        // nothing recomputed here: not verified, never a pass
        ev.host_goldens.clear();
        assert_eq!(find(&judge(&ev, &Tolerances::spec()), "verify-bf16/code").status, Verdict::Blocked);
        // a tighter tolerance refuses the same move
        let tight = Tolerances { golden_logprob: BTreeMap::from([("bf16".to_string(), 0.1)]), ..Tolerances::spec() };
        let mut ev2 = ev.clone();
        let mut here = ev2.precision_goldens["bf16"].clone();
        for step in &mut here.get_mut("code").unwrap().top_logprobs {
            step[0].logprob -= 0.25;
        }
        ev2.host_goldens.insert("bf16".into(), here);
        assert_eq!(find(&judge(&ev2, &tight), "verify-bf16/code").status, Verdict::Fail);
    }

    #[test]
    fn no_precision_goldens_is_skip() {
        let outs = judge(&evidence(), &Tolerances::spec());
        assert_eq!(outs.len(), 1);
        assert_eq!(outs[0].status, Verdict::Skip);
    }
}
