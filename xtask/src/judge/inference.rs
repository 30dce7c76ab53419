//! The seed's inference suites (canary, token-parity, quant-drift, roundtrip): the
//! runtimes' generations against the oracle's goldens (the perplexity suites are in
//! `perplexity.rs`). A failed run is FAILed by the one suite that owns it (`generation_owner`,
//! `score_owner`); the others BLOCK on it under the same signature.

use super::*;
use subject::{CONVERTER, EITHER};

/// The seed ran the roundtrip on these two prompts; kept for same counts per model.
pub const ROUNDTRIP_PROMPTS: &[&str] = &["completion", "arithmetic"];

/// The signature of a runtime that trims whitespace off the text it generated.
pub const TRIM_SIGNATURE: &str = "apr: trims whitespace from generated text (tokens identical)";

fn gen_obs<'a>(ev: &'a ModelEvidence, runtime: &str, artifact: &str, prompt: &str) -> Option<&'a Observed<Generation>> {
    ev.generations.get(&GenKey::new(runtime, artifact, prompt))
}

/// A generation of apr, or the outcome saying why it cannot be judged here.
fn apr_generation<'a>(
    ev: &'a ModelEvidence,
    case: &Case,
    artifact: &str,
    prompt: &str,
) -> Result<(&'a Generation, &'a Invocation), Outcome> {
    let owner = generation_owner(APR, artifact) == case.suite;
    take(gen_obs(ev, APR, artifact, prompt), case, &format!("apr run on {artifact}"), owner)
}

/// Evidence of a generation compared to the golden.
fn comparison_evidence(cmp: &Comparison, inv: &Invocation, g: &Golden) -> Evidence {
    let (expected, actual) = cmp.expected_actual();
    let mut details = cmp.details();
    details["golden_text"] = serde_json::json!(g.text);
    Evidence { expected: Some(expected), actual: Some(actual), details, ..evidence_from(inv, None, None, serde_json::Value::Null) }
}

/// Tokens equal to the golden's, a trailing EOS listed or not.
fn same_tokens(g: &Golden, gen: &Generation) -> bool {
    let eos = golden_eos(g);
    gen.tokens.as_deref().is_some_and(|t| strip_eos(t, eos) == strip_eos(&g.tokens, eos))
}

/// canary: int8 text exactly equals the oracle's text.
pub fn canary(ev: &ModelEvidence) -> Vec<Outcome> {
    if ev.goldens.is_empty() {
        return no_goldens("canary", ev);
    }
    ev.goldens
        .iter()
        .map(|(prompt, g)| {
            let case = Case::new("canary", &ev.slug, format!("int8/{prompt}"), EITHER);
            let (gen, inv) = match apr_generation(ev, &case, "int8", prompt) {
                Ok(x) => x,
                Err(o) => return o,
            };
            let mut evidence = evidence_from(inv, Some(format!("{:?}", g.text)), Some(format!("{:?}", gen.text)), serde_json::Value::Null);
            let ec: Vec<char> = g.text.chars().collect();
            let ac: Vec<char> = gen.text.chars().collect();
            let Some(at) = first_divergence(&ec, &ac) else {
                return case.pass("exact text match", evidence);
            };
            evidence.details = serde_json::json!({ "first_char_divergence": at, "expected_tokens": g.tokens, "actual_tokens": gen.tokens });
            if g.text.trim() == gen.text.trim() {
                let tokens = if same_tokens(g, gen) { "tokens identical" } else { "text equal once trimmed" };
                return case.about(subject::RUNTIME).fail(
                    format!("text differs only by whitespace trimmed at its ends ({tokens}): expected {:?}, got {:?}", g.text, gen.text),
                    TRIM_SIGNATURE,
                    evidence,
                );
            }
            let from = at.saturating_sub(8);
            let got: String = ac[from.min(ac.len())..].iter().take(32).collect();
            let want: String = ec[from.min(ec.len())..].iter().take(32).collect();
            let failed = wrong_output(
                ev,
                &case,
                &GenKey::new(APR, "int8", prompt),
                format!("text differs at char {at}: expected {want:?}, got {got:?}"),
                evidence,
            );
            // Does a correct 8-bit engine reproduce the oracle's text exactly? (measure: mismatches)
            let engines = attribution::engines_on_equivalents(ev, "int8", |rt, a| {
                let Some(Observed::Ok { value, .. }) = gen_obs(ev, rt, a, prompt) else { return None };
                Some((value.text == g.text, mismatches_vs_golden(ev, rt, a, prompt)? as f64))
            });
            match mismatches_vs_golden(ev, APR, "int8", prompt) {
                Some(m) => attribution::versus_engines(failed, &case, m as f64, &engines, 0.0),
                None => failed,
            }
        })
        .collect()
}

/// Mismatches of one generation against the golden, as a judged outcome with `bound`.
fn bounded(ev: &ModelEvidence, case: &Case, key: &GenKey, g: &Golden, gen: &Generation, inv: &Invocation, bound: usize) -> Outcome {
    let cmp = Comparison::to_golden(g, gen);
    let evidence = comparison_evidence(&cmp, inv, g);
    let n = g.max_new_tokens;
    match &cmp {
        Comparison::Tokens { mismatches, first_divergence, .. } => {
            if *mismatches <= bound {
                case.pass(format!("{mismatches}/{n} mismatches (≤ {bound})"), evidence)
            } else {
                let first = first_divergence.map(|d| d.to_string()).unwrap_or_default();
                let failed =
                    wrong_output(ev, case, key, format!("{mismatches}/{n} mismatches > {bound} (first at step {first})"), evidence);
                // Correct engines on equivalent quantizations: do they meet the bound?
                let engines = attribution::engines_on_equivalents(ev, &key.artifact, |rt, a| {
                    let m = mismatches_vs_golden(ev, rt, a, &key.prompt)?;
                    Some((m <= bound, m as f64))
                });
                attribution::versus_engines(failed, case, *mismatches as f64, &engines, 0.0)
            }
        }
        Comparison::TextOnly { equal: true, .. } => {
            case.pass("text identical to the oracle's (runtime reported no token ids; text compared)", evidence)
        }
        Comparison::TextOnly { first_char_divergence, .. } => wrong_output(
            ev,
            case,
            key,
            format!(
                "text differs from the oracle's at char {} (the runtime reports no token ids, so mismatches cannot be counted)",
                first_char_divergence.unwrap_or(0)
            ),
            evidence,
        ),
    }
}

/// Token mismatches of `runtime` on `artifact` against the golden of `prompt`.
pub fn mismatches_vs_golden(ev: &ModelEvidence, runtime: &str, artifact: &str, prompt: &str) -> Option<usize> {
    let g = ev.goldens.get(prompt)?;
    let Some(Observed::Ok { value, .. }) = gen_obs(ev, runtime, artifact, prompt) else { return None };
    match Comparison::to_golden(g, value) {
        Comparison::Tokens { mismatches, .. } => Some(mismatches),
        Comparison::TextOnly { equal: true, .. } => Some(0),
        Comparison::TextOnly { .. } => None,
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
            let case = Case::new("token-parity", &ev.slug, format!("{artifact}/{prompt}"), EITHER);
            outs.push(match apr_generation(ev, &case, artifact, prompt) {
                Ok((gen, inv)) => bounded(ev, &case, &GenKey::new(APR, artifact, prompt), g, gen, inv, bound),
                Err(o) => o,
            });
        }
    }
    outs
}

/// Mismatch count of an observation, or the outcome saying why there is none.
fn mismatches_of(ev: &ModelEvidence, case: &Case, g: &Golden, artifact: &str, prompt: &str) -> Result<(usize, Invocation), Outcome> {
    let (gen, inv) = apr_generation(ev, case, artifact, prompt)?;
    match Comparison::to_golden(g, gen) {
        Comparison::Tokens { mismatches, .. } => Ok((mismatches, inv.clone())),
        Comparison::TextOnly { equal: true, .. } => Ok((0, inv.clone())),
        cmp @ Comparison::TextOnly { .. } => Err(case.fail(
            format!("apr on {artifact} reported no token ids and its text differs: drift cannot be counted"),
            wrong_output_signature(APR),
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
            let case = Case::new("quant-drift", &ev.slug, prompt.clone(), EITHER);
            let m4 = mismatches_of(ev, &case, g, "int4", prompt);
            let m8 = mismatches_of(ev, &case, g, "int8", prompt);
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
            if m8 > tol.int8_max_mismatches {
                // int8 already fails token-parity: the drift between a wrong output and
                // another says nothing. BLOCKED under int8's own finding.
                let sig =
                    run_cause(ev, &GenKey::new(APR, "int8", prompt)).map(|(sig, _)| sig).unwrap_or_else(|| wrong_output_signature(APR));
                case.blocked(
                    format!(
                        "int8 already fails token-parity ({m8} > {} mismatches): drift between wrong outputs is not judged (int4: {m4})",
                        tol.int8_max_mismatches
                    ),
                    sig,
                    evidence,
                )
            } else if drift_ok(m8, m4, tol.drift_slack) {
                case.pass(format!("int8={m8} ≤ int4={m4}+{}", tol.drift_slack), evidence)
            } else {
                let failed = case.fail(
                    format!("int8 ({m8}) > int4 ({m4}) + {}: higher precision drifted more", tol.drift_slack),
                    "apr: int8 drifts further from the oracle than int4",
                    evidence,
                );
                // The same claim for correct engines: their 8-bit against their 4-bit file.
                let mut engines = Vec::new();
                for e8 in attribution::equivalents(ev, "int8") {
                    for e4 in attribution::equivalents(ev, "int4") {
                        for rt in attribution::comparators_on(ev, e8) {
                            if let (Some(c8), Some(c4)) =
                                (mismatches_vs_golden(ev, rt, e8, prompt), mismatches_vs_golden(ev, rt, e4, prompt))
                            {
                                engines.push(attribution::EngineResult {
                                    runtime: rt.to_string(),
                                    artifact: format!("{e8}~{e4}"),
                                    holds: drift_ok(c8, c4, tol.drift_slack),
                                    measure: c8 as f64 - c4 as f64,
                                });
                            }
                        }
                    }
                }
                attribution::versus_engines(failed, &case, m8 as f64 - m4 as f64, &engines, 0.0)
            }
        })
        .collect()
}

/// roundtrip: APR int4 → GGUF → APR gives identical tokens to the int4 APR, and the
/// GGUF in the middle keeps int4's quantization (an F32 GGUF would make the roundtrip
/// compare a file with its own dequantized copy).
/// Why apr's export (int4-gguf) is no quantized file though made from one, read from
/// the file's own header (the harness reads every GGUF it makes, whatever suites run):
/// every weight matrix F32, F16 or BF16.
pub fn unquantized_export(ev: &ModelEvidence) -> Option<String> {
    let c = ev.conversions.get("int4-gguf")?;
    let Observed::Ok { value, .. } = &c.observed else { return None };
    let g = value.gguf.as_ref()?;
    let float = |t: &String| matches!(t.as_str(), "F32" | "F16" | "BF16");
    (c.bits <= 8 && !g.weight_types.is_empty() && g.weight_types.keys().all(float))
        .then(|| format!("int4-gguf's header: weights {}, though made from a {}-bit file", g.mixture(), c.bits))
}

pub fn roundtrip(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    if ev.goldens.is_empty() {
        return no_goldens("roundtrip", ev);
    }
    let mut prompts: Vec<&str> = ROUNDTRIP_PROMPTS.iter().copied().filter(|p| ev.goldens.contains_key(*p)).collect();
    if prompts.is_empty() {
        prompts = super::prompts(ev);
    }
    let f32_export = unquantized_export(ev).or_else(|| structure::export_is_unquantized(ev, tol));
    prompts
        .into_iter()
        .map(|prompt| {
            let g = &ev.goldens[prompt];
            let case = Case::new("roundtrip", &ev.slug, prompt.to_string(), CONVERTER);
            if let Some(why) = &f32_export {
                // The evidence: the export that wrote the unquantized file.
                let evidence = match ev.conversions.get("int4-gguf").map(|c| &c.observed) {
                    Some(Observed::Ok { invocation, .. }) => evidence_from(invocation, None, None, serde_json::Value::Null),
                    _ => Evidence::default(),
                };
                return case.blocked(
                    format!("the APR→GGUF→APR roundtrip did not go through a quantized GGUF: {why}"),
                    structure::F32_EXPORT_SIGNATURE,
                    evidence,
                );
            }
            let (orig, inv_o) = match apr_generation(ev, &case, "int4", prompt) {
                Ok(x) => x,
                Err(o) => return o,
            };
            let (rt, inv_r) = match apr_generation(ev, &case, "roundtrip", prompt) {
                Ok(x) => x,
                Err(o) => return o,
            };
            let cmp = match &orig.tokens {
                Some(ids) => Comparison::between(ids, &orig.text, golden_eos(g), rt),
                // Without ids on the original side, compare the texts.
                None => Comparison::between(&[], &orig.text, None, &Generation { tokens: None, ..rt.clone() }),
            };
            let (expected, actual) = cmp.expected_actual();
            let evidence = Evidence {
                expected: Some(expected),
                actual: Some(actual),
                details: cmp.details(),
                reproduce: vec![inv_o.command_line(), inv_r.command_line()],
                invocations: vec![inv_o.clone(), inv_r.clone()],
            };
            let sig = "apr converter: APR→GGUF→APR changes the generated tokens";
            match &cmp {
                Comparison::Tokens { mismatches: 0, .. } => case.pass("tokens identical after APR→GGUF→APR", evidence),
                Comparison::Tokens { mismatches, first_divergence, .. } => case.fail(
                    format!("{mismatches} token mismatches after APR→GGUF→APR (first at step {})", first_divergence.unwrap_or(0)),
                    sig,
                    evidence,
                ),
                Comparison::TextOnly { equal: true, .. } => {
                    case.pass("text identical after APR→GGUF→APR (no token ids reported; text compared)", evidence)
                }
                Comparison::TextOnly { first_char_divergence, .. } => {
                    case.fail(format!("text differs after APR→GGUF→APR at char {}", first_char_divergence.unwrap_or(0)), sig, evidence)
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::conversions::{Conversion, Made};
    use super::super::perplexity::{count_note, ppl, reference_ppl};
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn a_token_count_within_the_slack_is_named_and_beyond_it_is_another_text() {
        assert_eq!(count_note(43, 43, 1), None);
        assert!(count_note(44, 43, 1).unwrap().ends_with("one more prediction (a BOS prepended, or the first token scored)"));
        assert!(count_note(42, 43, 1).unwrap().ends_with("one prediction fewer (the first or last token not scored)"));
        assert_eq!(count_note(45, 43, 1), None, "two more: beyond a slack of 1");
        assert_eq!(count_note(45, 43, 2).unwrap(), "scored 45 tokens, the oracle 43: 2 more predictions");
        assert_eq!(count_note(41, 43, 2).unwrap(), "scored 41 tokens, the oracle 43: 2 predictions fewer");
        assert_eq!(count_note(44, 43, 0), None, "no slack: any difference is another text");
    }

    #[test]
    fn canary_passes_exact_text_and_fails_one_char_off() {
        let mut ev = evidence();
        set_all(&mut ev, APR, "int8", &seq(32));
        let mut g = gen(with_mismatches(&seq(32), 1));
        g.text.insert(0, 'x');
        ev.generations.insert(GenKey::new(APR, "int8", "code"), ok(g));
        let outs = canary(&ev);
        assert_eq!(outs.len(), 4);
        assert_eq!(find(&outs, "int8/completion").status, Verdict::Pass);
        let f = find(&outs, "int8/code");
        assert_eq!((f.status, f.signature.as_str()), (Verdict::Fail, "apr: generates other tokens than the oracle"));
        assert!(f.note.contains("char 0"), "{}", f.note);
    }

    #[test]
    fn canary_names_a_runtime_that_trims_its_text() {
        let mut ev = evidence();
        for g in ev.goldens.values_mut() {
            g.text = format!("\n  {}\n", g.text);
        }
        set_all(&mut ev, APR, "int8", &seq(32));
        let outs = canary(&ev);
        for o in &outs {
            assert_eq!((o.status, o.signature.as_str()), (Verdict::Fail, TRIM_SIGNATURE), "{o:#?}");
            assert!(o.note.contains("tokens identical"), "{}", o.note);
            assert_eq!(o.subject, subject::RUNTIME);
        }
    }

    #[test]
    fn a_crashed_run_is_failed_once_by_its_owner_and_blocks_the_rest() {
        let mut ev = evidence();
        let mut crash = inv(&["apr", "run", "int8.apr", "-p", "def fibonacci(n):"], "");
        crash.exit_code = Some(101);
        crash.stderr = "thread 'main' panicked at src/x.rs:1:1:\nindex out of bounds: the len is 3 but the index is 7".into();
        ev.generations.insert(GenKey::new(APR, "int8", "code"), Observed::Failed { error: "exit 101".into(), invocation: crash });
        let canary_out = find(&canary(&ev), "int8/code").clone();
        let parity = token_parity(&ev, &Tolerances::spec());
        let owner = find(&parity, "int8/code");
        assert_eq!(owner.status, Verdict::Fail, "token-parity owns apr's int8 runs");
        assert_eq!(canary_out.status, Verdict::Blocked, "canary waits on the same failure");
        assert_eq!(canary_out.signature, owner.signature);
        assert_eq!(owner.signature, "apr: panic: index out of bounds: the len is # but the index is #");
        assert_eq!(find(&parity, "int4/greeting").subject, Subject::Harness, "not observed: the harness's own fault");
    }

    #[test]
    fn token_parity_bounds_are_inclusive() {
        let mut ev = evidence();
        let base = seq(32);
        ev.generations.insert(GenKey::new(APR, "int8", "code"), ok(gen(with_mismatches(&base, 3))));
        ev.generations.insert(GenKey::new(APR, "int8", "completion"), ok(gen(with_mismatches(&base, 4))));
        ev.generations.insert(GenKey::new(APR, "int4", "code"), ok(gen(with_mismatches(&base, 5))));
        ev.generations.insert(GenKey::new(APR, "int4", "completion"), ok(gen(with_mismatches(&base, 6))));
        let outs = token_parity(&ev, &Tolerances::spec());
        assert_eq!(outs.len(), 8);
        assert_eq!(find(&outs, "int8/code").status, Verdict::Pass);
        let f = find(&outs, "int8/completion");
        assert_eq!(f.status, Verdict::Fail);
        assert!(f.note.starts_with("4/32 mismatches > 3"), "counted over max_new_tokens: {}", f.note);
        assert_eq!(find(&outs, "int4/code").status, Verdict::Pass);
        assert_eq!(find(&outs, "int4/completion").status, Verdict::Fail);
        assert_eq!(find(&outs, "int4/greeting").status, Verdict::Blocked);
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
        let outs = token_parity(&ev, &Tolerances::spec());
        assert_eq!(find(&outs, "int8/arithmetic").status, Verdict::Pass);
        let f = find(&outs, "int4/arithmetic");
        assert_eq!(f.status, Verdict::Fail);
        assert!(f.note.starts_with("27/"), "{}", f.note);
    }

    #[test]
    fn text_only_generation_is_compared_by_text_and_a_difference_fails() {
        let mut ev = evidence();
        let same = Generation { tokens: None, text: text_of(&seq(32)), ..Default::default() };
        let other = Generation { tokens: None, text: "something else".into(), ..Default::default() };
        ev.generations.insert(GenKey::new(APR, "int8", "code"), ok(same));
        ev.generations.insert(GenKey::new(APR, "int8", "completion"), ok(other));
        let outs = token_parity(&ev, &Tolerances::spec());
        let p = find(&outs, "int8/code");
        assert_eq!(p.status, Verdict::Pass);
        assert!(p.note.contains("no token ids"));
        let f = find(&outs, "int8/completion");
        assert_eq!(f.status, Verdict::Fail, "nothing upstream failed: a differing text is a finding");
        assert!(f.note.contains("cannot be counted"), "{}", f.note);
    }

    #[test]
    fn quant_drift_at_bound_and_one_past_and_both_beyond() {
        let mut ev = evidence();
        let base = seq(32);
        for (p, m4, m8) in [("code", 2, 3), ("completion", 1, 3), ("greeting", 20, 19)] {
            ev.generations.insert(GenKey::new(APR, "int4", p), ok(gen(with_mismatches(&base, m4))));
            ev.generations.insert(GenKey::new(APR, "int8", p), ok(gen(with_mismatches(&base, m8))));
        }
        ev.generations
            .insert(GenKey::new(APR, "int4", "arithmetic"), Observed::Failed { error: "segfault".into(), invocation: inv(&["apr"], "") });
        ev.generations.insert(GenKey::new(APR, "int8", "arithmetic"), ok(gen(base.clone())));
        let outs = quant_drift(&ev, &Tolerances::spec());
        // int8 at its token-parity bound (3) and within int4 + 1: the claim is judged.
        assert_eq!(find(&outs, "code").status, Verdict::Pass);
        assert_eq!(find(&outs, "code").note, "int8=3 ≤ int4=2+1");
        assert_eq!(find(&outs, "completion").status, Verdict::Fail, "3 > 1 + 1");
        // int8 beyond its own bound: two wrong outputs, no drift verdict, under int8's cause.
        let both = find(&outs, "greeting");
        assert_eq!((both.status, both.signature.as_str()), (Verdict::Blocked, wrong_output_signature(APR).as_str()));
        assert!(both.note.starts_with("int8 already fails token-parity (19 > 3 mismatches)"), "{}", both.note);
        ev.generations.insert(GenKey::new(APR, "int8", "code"), ok(gen(with_mismatches(&base, 4))));
        assert_eq!(find(&quant_drift(&ev, &Tolerances::spec()), "code").status, Verdict::Blocked, "one past the int8 bound");
        let b = find(&outs, "arithmetic");
        assert_eq!(b.status, Verdict::Blocked);
        assert_eq!(b.signature, "apr: segfault");
    }

    #[test]
    fn roundtrip_identical_passes_changed_fails_blocked_conversion_blocks() {
        let mut ev = evidence();
        set_all(&mut ev, APR, "int4", &seq(32));
        ev.generations.insert(GenKey::new(APR, "roundtrip", "completion"), ok(gen(seq(32))));
        ev.generations.insert(GenKey::new(APR, "roundtrip", "arithmetic"), ok(gen(with_mismatches(&seq(32), 1))));
        let outs = roundtrip(&ev, &Tolerances::spec());
        assert_eq!(outs.len(), 2);
        assert_eq!(find(&outs, "completion").status, Verdict::Pass);
        let f = find(&outs, "arithmetic");
        assert_eq!((f.status, &f.subject), (Verdict::Fail, &subject::CONVERTER));

        let sig = "apr: unsupported tensor type #";
        ev.generations.insert(
            GenKey::new(APR, "roundtrip", "arithmetic"),
            Observed::Blocked { step: "convert roundtrip".into(), reason: "unsupported tensor type 3".into(), signature: sig.into() },
        );
        let b = find(&roundtrip(&ev, &Tolerances::spec()), "arithmetic").clone();
        assert_eq!((b.status, b.signature.as_str()), (Verdict::Blocked, sig), "the convert suite FAILs the crash");
        // an export that is not quantized makes the roundtrip prove nothing
        ev.truth = Some(super::super::structure::tests::smollm2_truth());
        ev.conversions.insert(
            "int4-gguf".into(),
            Conversion {
                tool: APR.into(),
                from: "int4".into(),
                bits: 4,
                observed: Observed::Ok {
                    value: Made { file: "int4.gguf".into(), bytes: 1, sha256: String::new(), gguf: None },
                    invocation: inv(&["apr"], ""),
                },
            },
        );
        ev.structure.insert(
            StructureKey::new("inspect", "int4-gguf"),
            Observed::Ok { value: super::super::structure::tests::json("inspect-gguf.json"), invocation: inv(&["apr", "inspect"], "") },
        );
        let outs = roundtrip(&ev, &Tolerances::spec());
        assert!(outs.iter().all(|o| o.status == Verdict::Blocked && o.signature == structure::F32_EXPORT_SIGNATURE), "{outs:#?}");
        // The file's own header says so without any apr inspect observation (a
        // `check --suite roundtrip` alone judges as `ci` does).
        ev.structure.clear();
        set_all(&mut ev, APR, "roundtrip", &seq(32));
        assert!(roundtrip(&ev, &Tolerances::spec()).iter().all(|o| o.status == Verdict::Pass), "no header, no inspect: nothing known");
        let header = |types: &[(&str, usize)]| tmgt_schema::gguf_header::GgufFacts {
            weight_types: types.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
            ..Default::default()
        };
        let set_header = |ev: &mut ModelEvidence, types: &[(&str, usize)]| {
            if let Observed::Ok { value, .. } = &mut ev.conversions.get_mut("int4-gguf").unwrap().observed {
                value.gguf = Some(header(types));
            }
        };
        set_header(&mut ev, &[("F32", 212)]);
        assert_eq!(unquantized_export(&ev).unwrap(), "int4-gguf's header: weights 212 × F32, though made from a 4-bit file");
        let outs = roundtrip(&ev, &Tolerances::spec());
        assert!(outs.iter().all(|o| o.status == Verdict::Blocked && o.signature == structure::F32_EXPORT_SIGNATURE), "{outs:#?}");
        assert!(outs[0].note.ends_with("int4-gguf's header: weights 212 × F32, though made from a 4-bit file"), "{}", outs[0].note);
        assert_eq!(outs[0].evidence.invocations.len(), 1, "the export that wrote it is the evidence");
        set_header(&mut ev, &[("F16", 10), ("BF16", 2)]);
        assert!(unquantized_export(&ev).is_some());
        // Some weights quantized (apr's `--quantize int4` export: 30 × Q4_K): a quantized file.
        set_header(&mut ev, &[("F32", 182), ("Q4_K", 30)]);
        assert_eq!(unquantized_export(&ev), None);
        set_header(&mut ev, &[]);
        assert_eq!(unquantized_export(&ev), None, "no weights listed: nothing known");
        ev.conversions.get_mut("int4-gguf").unwrap().bits = 32;
        set_header(&mut ev, &[("F32", 212)]);
        assert_eq!(unquantized_export(&ev), None, "an f32 source exports f32");
    }

    fn score(p: f64) -> Observed<Score> {
        ok(Score { perplexity: p, token_count: Some(100), mean_nll: Some(p.ln()) })
    }

    #[test]
    fn ppl_ceiling_and_drift_bound() {
        let mut ev = evidence();
        ev.scores.insert((APR.into(), "int4".into()), score(12.4));
        ev.scores.insert((APR.into(), "int8".into()), score(12.0));
        let outs = ppl(&ev, &Tolerances::spec());
        assert_eq!(outs.len(), 3);
        assert!(outs.iter().all(|o| o.status == Verdict::Pass), "{outs:#?}");
        ev.scores.insert((APR.into(), "int4".into()), score(12.5));
        assert_eq!(find(&ppl(&ev, &Tolerances::spec()), "int4~int8").status, Verdict::Fail, "0.5 is not < 0.5");
        ev.scores.insert((APR.into(), "int4".into()), score(20.0));
        assert_eq!(find(&ppl(&ev, &Tolerances::spec()), "int4").status, Verdict::Fail, "20 is not < 20");
        ev.scores.insert((APR.into(), "int4".into()), score(f64::NAN));
        let outs = ppl(&ev, &Tolerances::spec());
        assert_eq!(find(&outs, "int4").status, Verdict::Fail);
        let pair = find(&outs, "int4~int8");
        assert_eq!(pair.status, Verdict::Blocked);
        assert_eq!(pair.signature, find(&outs, "int4").signature, "the pair joins the failure that kept a PPL out");
        ev.scores.clear();
        assert!(ppl(&ev, &Tolerances::spec()).iter().all(|o| o.status == Verdict::Blocked));
    }

    #[test]
    fn the_int4_int8_ppl_gap_is_compared_with_correct_engines() {
        let mut ev = evidence();
        let made = |tool: &str, bits: u8| conversion(tool, "reference", bits);
        ev.conversions.insert("int8".into(), made(APR, 8));
        ev.conversions.insert("int4".into(), made(APR, 4));
        ev.conversions.insert("q8_0-gguf".into(), made("candle", 8));
        ev.conversions.insert("q4_0-gguf".into(), made("candle", 4));
        ev.scores.insert((APR.into(), "int8".into()), score(14.0));
        ev.scores.insert((APR.into(), "int4".into()), score(16.0));
        // candle's own gap is 3.31 > 0.5: a correct engine fails the claim by more.
        ev.scores.insert(("candle".into(), "q8_0-gguf".into()), score(11.0));
        ev.scores.insert(("candle".into(), "q4_0-gguf".into()), score(14.31));
        let o = find(&ppl(&ev, &Tolerances::spec()), "int4~int8").clone();
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &Subject::Reference), "{}", o.note);
        // apr's gap wider than candle's: apr's own finding, with candle's gap beside it.
        ev.scores.insert((APR.into(), "int4".into()), score(17.4));
        let o = find(&ppl(&ev, &Tolerances::spec()), "int4~int8").clone();
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &EITHER));
        assert!(o.note.contains("candle on q8_0-gguf~q4_0-gguf"), "{}", o.note);
    }

    #[test]
    fn apr_is_excused_within_the_relative_slack_of_the_best_correct_engine() {
        // The ceiling 20 fails for apr and for candle on the equivalent: apr no worse than
        // candle by the roster's 1% (of apr's own PPL) is the claim's, beyond it apr's.
        let mut ev = evidence();
        ev.ppl_ceiling = 20.0;
        ev.conversions.insert("int4".into(), conversion(APR, "reference", 4));
        ev.conversions.insert("q4_0-gguf".into(), conversion("candle", "reference", 4));
        ev.scores.insert(("candle".into(), "q4_0-gguf".into()), score(30.0));
        let subject_at = |ev: &mut ModelEvidence, p: f64| {
            ev.scores.insert((APR.into(), "int4".into()), score(p));
            find(&ppl(ev, &Tolerances::spec()), "int4").subject.clone()
        };
        assert_eq!(subject_at(&mut ev, 30.29), Subject::Reference, "30.29 ≤ 30 + 0.303");
        assert_eq!(subject_at(&mut ev, 30.31), EITHER, "30.31 > 30 + 0.3031");
        // reference-ppl: the ratio to the oracle, with the same relative slack.
        ev.reference_score = Some(Score { perplexity: 10.0, token_count: Some(100), mean_nll: None });
        ev.scores.insert(("candle".into(), "q4_0-gguf".into()), score(20.0));
        let ref_subject = |ev: &mut ModelEvidence, p: f64| {
            ev.scores.insert((APR.into(), "int4".into()), score(p));
            find(&reference_ppl(ev, &Tolerances::spec()), "apr/int4").subject.clone()
        };
        assert_eq!(ref_subject(&mut ev, 20.19), Subject::Reference, "ratio 2.019 ≤ 2 + 0.0202");
        assert_eq!(ref_subject(&mut ev, 20.25), EITHER, "ratio 2.025 > 2 + 0.02025");
    }

    #[test]
    fn reference_ppl_ratio_and_token_count() {
        let mut ev = evidence();
        ev.reference_score = Some(Score { perplexity: 10.0, token_count: Some(100), mean_nll: None });
        ev.scores.insert((APR.into(), "int8".into()), score(11.0));
        ev.scores.insert((APR.into(), "int4".into()), score(13.01));
        ev.scores.insert(("llama.cpp".into(), "q8_0-gguf".into()), ok(Score { perplexity: 10.0, token_count: Some(90), mean_nll: None }));
        ev.scores.insert(("candle".into(), "q4_0-gguf".into()), ok(Score { perplexity: 10.2, token_count: Some(101), mean_nll: None }));
        let outs = reference_ppl(&ev, &Tolerances::spec());
        assert_eq!(find(&outs, "apr/int8").status, Verdict::Pass);
        assert_eq!(find(&outs, "apr/int4").status, Verdict::Fail);
        let f = find(&outs, "llama.cpp/q8_0-gguf");
        assert_eq!((f.status, &f.subject), (Verdict::Fail, &Subject::comparator("llama.cpp")));
        assert!(f.note.contains("not the same text"));
        // one token more: named, and the ratio is still judged
        let one = find(&outs, "candle/q4_0-gguf");
        assert_eq!(one.status, Verdict::Pass);
        assert!(one.note.contains("one more prediction") && one.note.contains("ratio 1.020"), "{}", one.note);
        ev.reference_score = None;
        assert_eq!(find(&reference_ppl(&ev, &Tolerances::spec()), "apr/int8").status, Verdict::Blocked);
    }

    #[test]
    fn reference_ppl_on_a_gguf_is_blamed_through_a_comparator() {
        let mut ev = evidence();
        ev.reference_score = Some(Score { perplexity: 10.0, token_count: Some(100), mean_nll: None });
        let made = |tool: &str, from: &str| Conversion {
            tool: tool.into(),
            from: from.into(),
            bits: 4,
            observed: Observed::Ok {
                value: Made { file: "f".into(), bytes: 1, sha256: String::new(), gguf: None },
                invocation: inv(&["x"], ""),
            },
        };
        ev.conversions.insert("int4-gguf".into(), made(APR, "int4"));
        ev.conversions.insert("q4_0-gguf".into(), made("candle", "reference"));
        // apr 13.5 on its own GGUF, candle 13.5 on it too, and 13.4 on its own q4_0: the quantization
        ev.scores.insert((APR.into(), "int4-gguf".into()), score(13.5));
        ev.scores.insert(("candle".into(), "int4-gguf".into()), score(13.5));
        ev.scores.insert(("candle".into(), "q4_0-gguf".into()), score(13.4));
        let o = find(&reference_ppl(&ev, &Tolerances::spec()), "apr/int4-gguf").clone();
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &Subject::Reference), "{o:#?}");
        // candle meets the bound on its own q4_0: apr's file is worse, its converter is to blame
        ev.scores.insert(("candle".into(), "q4_0-gguf".into()), score(11.0));
        let o = find(&reference_ppl(&ev, &Tolerances::spec()), "apr/int4-gguf").clone();
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &subject::CONVERTER));
        // candle disagrees with apr on the same file: apr's runtime
        ev.scores.insert(("candle".into(), "int4-gguf".into()), score(10.5));
        let o = find(&reference_ppl(&ev, &Tolerances::spec()), "apr/int4-gguf").clone();
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &subject::RUNTIME));
    }
}
