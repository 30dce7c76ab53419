//! precision: the oracle's own reduced-precision goldens (written with `--dtype`)
//! against its f32 goldens: bf16 ≤ 3/32, f16 ≤ 5/32, bf16 vs f16 ≤ 3/32, and the
//! ladder bf16 drift ≤ f16 drift.

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
        return vec![Ctx::new("precision", &ev.slug, "all")
            .skip("no reduced-precision goldens (oracle not run with --dtype bf16/f16)")];
    }
    let mut outs = Vec::new();
    let missing = |ctx: &Ctx, dtype: &str| {
        ctx.blocked(format!("no {dtype} golden for this prompt"), format!("{dtype} golden missing"), Evidence::default())
    };
    for (prompt, f32g) in &ev.goldens {
        let bf16 = ev.precision_goldens.get("bf16").and_then(|m| m.get(prompt));
        let f16 = ev.precision_goldens.get("f16").and_then(|m| m.get(prompt));
        let mut drift = BTreeMap::new();
        for (dtype, g, bound) in [("bf16", bf16, tol.bf16_max_mismatches), ("f16", f16, tol.f16_max_mismatches)] {
            let ctx = Ctx::new("precision", &ev.slug, format!("{dtype}/{prompt}"));
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
        let ctx = Ctx::new("precision", &ev.slug, format!("bf16~f16/{prompt}"));
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
        let ctx = Ctx::new("precision", &ev.slug, format!("ladder/{prompt}"));
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
                    ctx.fail(format!("bf16 drift {b} > f16 drift {f}"), "precision ladder inverted", e)
                }
            }
            _ => ctx.blocked("needs both bf16 and f16 goldens", "reduced-precision golden missing", Evidence::default()),
        });
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
        let outs = judge(&ev, &Tolerances::default());
        assert_eq!(find(&outs, "bf16/code").status, Status::Pass);
        assert_eq!(find(&outs, "f16/code").status, Status::Pass);
        assert_eq!(find(&outs, "bf16/completion").status, Status::Fail);
        assert_eq!(find(&outs, "f16/completion").status, Status::Fail);
        // with_mismatches replaces a prefix, so bf16 (3) vs f16 (5) differ in 2 positions
        assert_eq!(find(&outs, "bf16~f16/code").status, Status::Pass);
        assert_eq!(find(&outs, "ladder/code").status, Status::Pass);
        assert_eq!(find(&outs, "bf16/greeting").status, Status::Blocked);
        assert_eq!(find(&outs, "ladder/greeting").status, Status::Blocked);
    }

    #[test]
    fn ladder_inverted_fails() {
        let mut ev = evidence();
        with(&mut ev, "bf16", "code", 2);
        with(&mut ev, "f16", "code", 1);
        let outs = judge(&ev, &Tolerances::default());
        assert_eq!(find(&outs, "ladder/code").status, Status::Fail);
    }

    #[test]
    fn no_precision_goldens_is_skip() {
        let outs = judge(&evidence(), &Tolerances::default());
        assert_eq!(outs.len(), 1);
        assert_eq!(outs[0].status, Status::Skip);
    }
}
