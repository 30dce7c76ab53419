//! divergence: for every generation compared to the oracle, the first divergent step,
//! both tokens, and whether the oracle saw a near-tie there (the runtime's token in
//! the golden's top-k within a margin of the top-1) or was confident (likely bug site).
//! A runtime that lists an EOS and goes on generating fails here with its own cause.
//! apr's confident divergence on a GGUF is blamed through a comparator on the same
//! file (see `attribution`).

use super::*;
use tmgt_schema::TokenLogprob;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DivergenceKind {
    Identical,
    /// The runtime's token was in the oracle's top-k, `gap` nats below its top-1.
    NearTie {
        gap: f32,
    },
    /// The runtime's token was `gap` nats below the oracle's top-1, or outside its
    /// top-k (`gap` is then a lower bound: top-1 minus the k-th logprob).
    Confident {
        gap: Option<f32>,
        in_top_k: bool,
    },
    /// The runtime stopped before the oracle did.
    StoppedEarly,
    /// The runtime generated past the oracle's end (EOS or max tokens).
    RanLong,
    /// The runtime listed an EOS and went on generating.
    PastEos {
        eos_step: usize,
        extra: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    pub step: usize,
    pub expected: Option<u32>,
    pub actual: Option<u32>,
    pub expected_text: Option<String>,
    pub actual_text: Option<String>,
    /// The oracle's logprob of its own (top-1) token at this step.
    pub oracle_top1_logprob: Option<f32>,
    /// The oracle's logprob of the runtime's token, when in the golden's top-k.
    pub oracle_logprob_of_actual: Option<f32>,
    pub kind: DivergenceKind,
}

/// Where and how `actual` first leaves the golden's tokens. None when identical (a
/// trailing EOS listed or not is the same generation).
pub fn diagnose(g: &Golden, actual: &[u32], vocab: &BTreeMap<u32, String>, margin: f32, eos_ids: &[u32]) -> Option<Divergence> {
    let first = first_difference(g, actual, vocab, margin);
    match past_eos(actual, eos_ids) {
        // Generating after its own EOS is the finding unless the run went wrong before it.
        Some((eos_step, extra)) if first.as_ref().is_none_or(|d| d.step >= eos_step) => Some(Divergence {
            step: eos_step + 1,
            expected: None,
            actual: actual.get(eos_step + 1).copied(),
            expected_text: None,
            actual_text: actual.get(eos_step + 1).and_then(|id| vocab.get(id)).map(|s| display_piece(s)),
            oracle_top1_logprob: None,
            oracle_logprob_of_actual: None,
            kind: DivergenceKind::PastEos { eos_step, extra },
        }),
        _ => first,
    }
}

/// The first step where `actual` leaves the golden's tokens, judged.
fn first_difference(g: &Golden, actual: &[u32], vocab: &BTreeMap<u32, String>, margin: f32) -> Option<Divergence> {
    let eos = golden_eos(g);
    let e = strip_eos(&g.tokens, eos);
    let a = strip_eos(actual, eos);
    let step = first_divergence(e, a)?;
    // At `step` compare against the unstripped golden: its EOS is a real token there.
    let expected = g.tokens.get(step).copied();
    let actual_tok = actual.get(step).copied();
    let top: &[TokenLogprob] = g.top_logprobs.get(step).map(Vec::as_slice).unwrap_or(&[]);
    let top1 = top.iter().map(|t| t.logprob).fold(None, |m: Option<f32>, x| Some(m.map_or(x, |m| m.max(x))));
    let of_actual = actual_tok.and_then(|id| top.iter().find(|t| t.id == id)).map(|t| t.logprob);
    let kind = match (expected, actual_tok) {
        (Some(_), None) => DivergenceKind::StoppedEarly,
        (None, Some(_)) => DivergenceKind::RanLong,
        (None, None) => DivergenceKind::Identical,
        (Some(_), Some(_)) => match (top1, of_actual) {
            (Some(t1), Some(la)) if t1 - la <= margin => DivergenceKind::NearTie { gap: t1 - la },
            (Some(t1), Some(la)) => DivergenceKind::Confident { gap: Some(t1 - la), in_top_k: true },
            (Some(t1), None) => {
                let kth = top.iter().map(|t| t.logprob).fold(f32::INFINITY, f32::min);
                DivergenceKind::Confident { gap: Some(t1 - kth), in_top_k: false }
            }
            (None, _) => DivergenceKind::Confident { gap: None, in_top_k: false },
        },
    };
    Some(Divergence {
        step,
        expected,
        actual: actual_tok,
        expected_text: expected.and_then(|id| vocab.get(&id)).map(|s| display_piece(s)),
        actual_text: actual_tok.and_then(|id| vocab.get(&id)).map(|s| display_piece(s)),
        oracle_top1_logprob: top1,
        oracle_logprob_of_actual: of_actual,
        kind,
    })
}

/// One line for notes and tickets.
pub fn describe(d: &Divergence, vocab: &BTreeMap<u32, String>) -> String {
    let e = show_token(d.expected, vocab);
    let a = show_token(d.actual, vocab);
    match &d.kind {
        DivergenceKind::Identical => "identical".into(),
        DivergenceKind::NearTie { gap } => {
            format!("step {}: oracle {e}, runtime {a}: near-tie in the oracle (Δ {gap:.2} nats)", d.step)
        }
        DivergenceKind::Confident { gap: Some(gap), in_top_k: true } => {
            format!("step {}: oracle {e}, runtime {a}: oracle confident (Δ {gap:.2} nats): likely bug site", d.step)
        }
        DivergenceKind::Confident { gap: Some(gap), in_top_k: false } => {
            format!("step {}: oracle {e}, runtime {a} not in the oracle's top-k (Δ > {gap:.2} nats): likely bug site", d.step)
        }
        DivergenceKind::Confident { gap: None, .. } => {
            format!("step {}: oracle {e}, runtime {a} (golden has no top-k here)", d.step)
        }
        DivergenceKind::StoppedEarly => format!("step {}: runtime stopped, oracle went on with {e}", d.step),
        DivergenceKind::RanLong => format!("step {}: runtime went on with {a} after the oracle's end", d.step),
        DivergenceKind::PastEos { eos_step, extra } => {
            format!("step {eos_step}: runtime listed EOS, then generated {extra} more token(s)")
        }
    }
}

/// The text of a run whose tokens are the golden's, against the golden's text (the
/// oracle's decode of the same ids): None when equal; else the note and signature.
/// Whitespace trimmed at the ends is one finding (canary's too), any other difference
/// another: either way the runtime's detokenizer, not its numbers.
pub fn text_against_golden(runtime: &str, g: &Golden, gen: &Generation) -> Option<(String, String)> {
    if gen.text == g.text {
        return None;
    }
    if gen.text.trim() == g.text.trim() {
        let signature =
            if runtime == APR { inference::TRIM_SIGNATURE.to_string() } else { format!("{runtime}: trims whitespace from generated text") };
        return Some((
            format!("tokens identical to the oracle, but the text is trimmed: expected {:?}, got {:?}", g.text, gen.text),
            signature,
        ));
    }
    Some((
        format!("tokens identical to the oracle, but the text differs: expected {:?}, got {:?}", g.text, gen.text),
        format!("{runtime}: its text is not the decode of its own token ids"),
    ))
}

/// Does `theirs` agree with `ours` up to and including `step` (where `ours` left the
/// golden)? The same tokens through `step`, or parting exactly there at a near tie of
/// either run's own logprobs (within `margin`). Parting earlier: they do not agree.
/// None when `theirs` has no token ids.
pub fn agrees_through(ours: &Generation, theirs: &Generation, step: usize, eos: Option<u32>, margin: f32) -> Option<bool> {
    let a = strip_eos(ours.tokens.as_deref()?, eos);
    let b = strip_eos(theirs.tokens.as_deref()?, eos);
    Some(match first_divergence(a, b) {
        None => true,
        Some(t) if t > step => true,
        Some(t) if t == step => cross_runtime::near_tie_between(ours, theirs, t, margin).is_some(),
        Some(_) => false,
    })
}

/// `theirs` leaves the golden's tokens at or before `step` (a comparator that does
/// is no evidence that the file keeps to the golden there).
fn leaves_by(g: &Golden, theirs: &Generation, step: usize) -> bool {
    let eos = golden_eos(g);
    let tokens = theirs.tokens.as_deref().unwrap_or_default();
    first_divergence(strip_eos(&g.tokens, eos), strip_eos(tokens, eos)).is_some_and(|t| t <= step)
}

/// A run that failed as "empty completion" where the golden itself is empty (its
/// first token is EOS): the runtime stopped where the oracle did; what is wrong is
/// only that it calls this a failure.
fn stopped_where_the_oracle_did(ev: &ModelEvidence, g: &Golden, obs: &Observed<Generation>) -> Option<String> {
    let Observed::Failed { error, .. } = obs else { return None };
    let first = *g.tokens.first()?;
    (error.contains("empty completion") && eos_ids(ev, g).contains(&first)).then(|| {
        format!(
            "the oracle's own first token is EOS ({}): the golden is empty too, so the runtime stopped where the oracle did and only its failure status is wrong",
            show_token(Some(first), &ev.vocab)
        )
    })
}

/// The signature of a runtime that generates after its own EOS.
pub fn past_eos_signature(runtime: &str) -> String {
    format!("{runtime}: generates tokens after EOS")
}

/// Is `runtime`'s divergence from the golden on (`artifact`, `prompt`) confident?
/// None: no usable observation.
fn confident(ev: &ModelEvidence, tol: &Tolerances, runtime: &str, artifact: &str, prompt: &str) -> Option<bool> {
    let g = ev.goldens.get(prompt)?;
    let Some(Observed::Ok { value, .. }) = ev.generations.get(&GenKey::new(runtime, artifact, prompt)) else { return None };
    let tokens = value.tokens.as_ref()?;
    Some(diagnose(g, tokens, &ev.vocab, tol.near_tie_margin, &eos_ids(ev, g)).is_some_and(|d| is_failure(&d.kind)))
}

fn is_failure(v: &DivergenceKind) -> bool {
    !matches!(v, DivergenceKind::Identical | DivergenceKind::NearTie { .. })
}

pub fn judge(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    if ev.goldens.is_empty() {
        return no_goldens("divergence", ev);
    }
    let mut outs = Vec::new();
    for (key, obs) in &ev.generations {
        let Some(g) = ev.goldens.get(&key.prompt) else { continue };
        let case = Case::new(
            "divergence",
            &ev.slug,
            format!("{}/{}/{}", key.runtime, key.artifact, key.prompt),
            attribution::subject_of_run(ev, &key.runtime, &key.artifact),
        );
        let owner = generation_owner(&key.runtime, &key.artifact) == "divergence";
        let (gen, inv) = match take(Some(obs), &case, &format!("{} on {}", key.runtime, key.artifact), owner) {
            Ok(x) => x,
            Err(mut o) => {
                if let Some(why) = stopped_where_the_oracle_did(ev, g, obs) {
                    o.note = format!("{}; {why}", o.note);
                }
                outs.push(o);
                continue;
            }
        };
        let Some(tokens) = &gen.tokens else {
            let cmp = Comparison::to_golden(g, gen);
            let (expected, actual) = cmp.expected_actual();
            let evidence = Evidence {
                expected: Some(expected),
                actual: Some(actual),
                details: cmp.details(),
                ..evidence_from(inv, None, None, serde_json::Value::Null)
            };
            outs.push(match cmp {
                Comparison::TextOnly { equal: true, .. } => case.pass("text identical (no token ids reported; text compared)", evidence),
                _ => wrong_output(
                    ev,
                    &case,
                    key,
                    "text differs from the oracle's and the runtime reports no token ids: the divergent step cannot be located".into(),
                    evidence,
                ),
            });
            continue;
        };
        let d = diagnose(g, tokens, &ev.vocab, tol.near_tie_margin, &eos_ids(ev, g));
        let mut details = serde_json::json!({ "expected_tokens": g.tokens, "actual_tokens": tokens, "divergence": d, "finish_reason": gen.finish_reason });
        if tokens.len() >= g.prompt_tokens.len() && !g.prompt_tokens.is_empty() && tokens.starts_with(&g.prompt_tokens) {
            details["note"] = serde_json::json!("the runtime's token list begins with the prompt ids (prompt echoed?)");
        }
        let evidence = Evidence {
            expected: Some(format!("{:?}", g.tokens)),
            actual: Some(format!("{tokens:?}")),
            details,
            ..evidence_from(inv, None, None, serde_json::Value::Null)
        };
        // A golden that stops at EOS and a run that stops there without listing it.
        let unlisted_eos = golden_eos(g).is_some() && tokens.last() != g.tokens.last();
        let stop_note = match (&gen.finish_reason, unlisted_eos) {
            (Some(r), true) => format!(" (stopped at EOS without listing it; finish_reason {r:?})"),
            (None, true) => " (stopped at EOS without listing it; no finish_reason)".to_string(),
            _ => String::new(),
        };
        let Some(d) = d else {
            outs.push(match text_against_golden(&key.runtime, g, gen) {
                None => case.pass(format!("identical to the oracle{stop_note}"), evidence),
                // Detokenizing is what apr's runtime does with the ids (whatever file).
                Some((note, signature)) if key.runtime == APR => case.about(subject::RUNTIME).fail(note, signature, evidence),
                Some((note, signature)) => case.fail(note, signature, evidence),
            });
            continue;
        };
        let line = describe(&d, &ev.vocab);
        if !is_failure(&d.kind) {
            outs.push(case.pass(line, evidence));
            continue;
        }
        if matches!(d.kind, DivergenceKind::PastEos { .. }) {
            outs.push(case.fail(line, past_eos_signature(&key.runtime), evidence));
            continue;
        }
        let failed = wrong_output(ev, &case, key, line, evidence);
        if key.runtime == APR && !is_gguf(&key.artifact) && failed.signature == wrong_output_signature(APR) {
            // apr's own file: do correct engines on equivalent quantizations diverge too?
            let engines = attribution::engines_on_equivalents(ev, &key.artifact, |rt, a| {
                let bad = confident(ev, tol, rt, a, &key.prompt)?;
                Some((!bad, inference::mismatches_vs_golden(ev, rt, a, &key.prompt)? as f64))
            });
            let m = inference::mismatches_vs_golden(ev, APR, &key.artifact, &key.prompt).unwrap_or(usize::MAX) as f64;
            outs.push(attribution::versus_engines(failed, &case, m, &engines, 0.0));
            continue;
        }
        if key.runtime != APR || !is_gguf(&key.artifact) || failed.signature != wrong_output_signature(APR) {
            outs.push(failed);
            continue;
        }
        // apr on a GGUF: does a correct engine on the same file do what apr did, up to
        // and including the step judged here — or leave the golden by then too? Only
        // an engine that keeps to the golden past apr's step clears the file.
        let agrees = |c: &str| -> Option<bool> {
            let Some(Observed::Ok { value, .. }) = ev.generations.get(&GenKey::new(c, &key.artifact, &key.prompt)) else { return None };
            Some(agrees_through(gen, value, d.step, golden_eos(g), tol.runtime_tie_margin)? || leaves_by(g, value, d.step))
        };
        let holds = |c: &str, a: &str| confident(ev, tol, c, a, &key.prompt).map(|bad| !bad);
        outs.push(attribution::apply(attribution::blame(ev, &key.artifact, agrees, holds), &case, failed, &key.artifact));
    }
    if outs.is_empty() {
        outs.push(Case::new("divergence", &ev.slug, "generations", Subject::Harness).blocked(
            "no generations observed",
            "the harness made no observation",
            Evidence::default(),
        ));
    }
    outs
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn vocab() -> BTreeMap<u32, String> {
        BTreeMap::from([(103, "ĠParis".to_string()), (903, "Ġthe".to_string())])
    }

    #[test]
    fn near_tie_within_margin_is_reported_and_passes() {
        // gap at step 3 is 0.3 nats; the runtime picks the runner-up there.
        let g = golden_with("completion", seq(32), StopReason::Length, |i| if i == 3 { 0.3 } else { 4.0 });
        let mut actual = seq(32);
        actual[3] = 903;
        let d = diagnose(&g, &actual, &vocab(), 0.5, &[EOS]).unwrap();
        assert_eq!(d.step, 3);
        assert!(matches!(d.kind, DivergenceKind::NearTie { gap } if (gap - 0.3).abs() < 1e-5));
        assert_eq!(d.expected_text.as_deref(), Some(" Paris"));
        assert_eq!(d.actual_text.as_deref(), Some(" the"));
        let line = describe(&d, &vocab());
        assert!(line.contains("near-tie") && line.contains("\" Paris\"") && line.contains("\" the\""), "{line}");

        let mut ev = evidence();
        ev.vocab = vocab();
        ev.goldens.insert("completion".into(), g);
        ev.generations.insert(GenKey::new(APR, "int8", "completion"), ok(gen(actual)));
        let outs = judge(&ev, &Tolerances::spec());
        assert_eq!(find(&outs, "apr/int8/completion").status, Verdict::Pass);
    }

    #[test]
    fn margin_is_inclusive_and_one_past_is_confident() {
        let g = golden_with("completion", seq(32), StopReason::Length, |_| 0.5);
        let mut actual = seq(32);
        actual[0] = 900;
        assert!(matches!(diagnose(&g, &actual, &BTreeMap::new(), 0.5, &[EOS]).unwrap().kind, DivergenceKind::NearTie { .. }));
        let g = golden_with("completion", seq(32), StopReason::Length, |_| 0.51);
        assert!(matches!(
            diagnose(&g, &actual, &BTreeMap::new(), 0.5, &[EOS]).unwrap().kind,
            DivergenceKind::Confident { in_top_k: true, .. }
        ));
    }

    #[test]
    fn token_outside_top_k_is_a_confident_disagreement() {
        let mut ev = evidence();
        let mut actual = seq(32);
        actual[7] = 4242;
        ev.generations.insert(GenKey::new("llama.cpp", "q4_0-gguf", "code"), ok(gen(actual)));
        let outs = judge(&ev, &Tolerances::spec());
        let f = find(&outs, "llama.cpp/q4_0-gguf/code");
        assert_eq!(f.status, Verdict::Fail);
        assert!(f.note.contains("step 7") && f.note.contains("likely bug site"), "{}", f.note);
    }

    #[test]
    fn stopping_early_and_running_long_are_located() {
        let mut toks = seq(4);
        toks.push(EOS);
        let g = golden_with("arithmetic", toks, StopReason::Eos, |_| 3.0);
        assert!(diagnose(&g, &seq(4), &BTreeMap::new(), 0.5, &[EOS]).is_none(), "EOS not listed is the same");
        let d = diagnose(&g, &seq(6), &BTreeMap::new(), 0.5, &[EOS]).unwrap();
        assert_eq!(d.step, 4);
        assert_eq!(d.expected, Some(EOS));
        let d = diagnose(&g, &seq(2), &BTreeMap::new(), 0.5, &[EOS]).unwrap();
        assert_eq!(d.kind, DivergenceKind::StoppedEarly);
        let g = golden("x", seq(3));
        assert_eq!(diagnose(&g, &seq(4), &BTreeMap::new(), 0.5, &[EOS]).unwrap().kind, DivergenceKind::RanLong);
    }

    #[test]
    fn a_comparator_agrees_with_apr_up_to_the_step_judged() {
        let mut ours = seq(32);
        ours[0] = 5000;
        // candle also leaves at step 0 with the same token, and parts from apr at step 3.
        let mut theirs = ours.clone();
        theirs[3] = 6000;
        let (a, b) = (gen(ours.clone()), gen(theirs));
        assert_eq!(agrees_through(&a, &b, 0, None, 0.5), Some(true));
        assert_eq!(agrees_through(&a, &b, 2, None, 0.5), Some(true));
        assert_eq!(agrees_through(&a, &b, 3, None, 0.5), Some(false), "parting at the step judged, no near tie");
        assert_eq!(agrees_through(&a, &b, 4, None, 0.5), Some(false), "parting before the step judged");
        // Parting exactly at the step judged, at a near tie of candle's own logprobs.
        let mut tied = b.clone();
        tied.top_logprobs = Some(
            (0..32)
                .map(|i| {
                    vec![TokenLogprob { id: tied.tokens.as_ref().unwrap()[i], logprob: -0.1 }, TokenLogprob { id: ours[i], logprob: -0.4 }]
                })
                .collect(),
        );
        assert_eq!(agrees_through(&a, &tied, 3, None, 0.5), Some(true));
        assert_eq!(agrees_through(&a, &tied, 3, None, 0.2), Some(false), "0.3 nats is no tie under a 0.2 margin");
        assert_eq!(agrees_through(&a, &tied, 4, None, 0.5), Some(false), "a tie before the step judged does not count");
        // A listed EOS is no difference; no ids, no answer.
        let mut with_eos = ours.clone();
        with_eos.push(EOS);
        assert_eq!(agrees_through(&a, &gen(with_eos), 31, Some(EOS), 0.5), Some(true));
        assert_eq!(agrees_through(&a, &Generation { tokens: None, ..gen(vec![]) }, 0, None, 0.5), None);
    }

    #[test]
    fn apr_and_a_comparator_leaving_together_is_not_apr_s_finding() {
        let mut ev = evidence();
        let made = |tool: &str| conversion(tool, "reference", 4);
        ev.conversions.insert("q4_0-gguf".into(), made("candle"));
        // apr and candle both say 5000 at step 0 (the oracle was confident), then part at
        // step 3: the file's quantization, not apr.
        let mut ours = seq(32);
        ours[0] = 5000;
        let mut theirs = ours.clone();
        theirs[3] = 6000;
        ev.generations.insert(GenKey::new(APR, "q4_0-gguf", "completion"), ok(gen(ours.clone())));
        ev.generations.insert(GenKey::new("candle", "q4_0-gguf", "completion"), ok(gen(theirs)));
        let outs = judge(&ev, &Tolerances::spec());
        let o = find(&outs, "apr/q4_0-gguf/completion");
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &Subject::Reference), "{}", o.note);
        // candle leaves the golden at the same step with a token of its own (a wrong
        // comparator, or the file): no evidence against apr, the claim's.
        let mut elsewhere = seq(32);
        elsewhere[0] = 5001;
        ev.generations.insert(GenKey::new("candle", "q4_0-gguf", "completion"), ok(gen(elsewhere)));
        let o = find(&judge(&ev, &Tolerances::spec()), "apr/q4_0-gguf/completion").clone();
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &Subject::Reference), "{}", o.note);
        // candle stays on the golden past apr's step (leaving it later): apr's runtime.
        let mut later = seq(32);
        later[1] = 5001;
        ev.generations.insert(GenKey::new("candle", "q4_0-gguf", "completion"), ok(gen(later)));
        let o = find(&judge(&ev, &Tolerances::spec()), "apr/q4_0-gguf/completion").clone();
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &subject::RUNTIME));
        ev.generations.insert(GenKey::new("candle", "q4_0-gguf", "completion"), ok(gen(seq(32))));
        let o = find(&judge(&ev, &Tolerances::spec()), "apr/q4_0-gguf/completion").clone();
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &subject::RUNTIME));
    }

    #[test]
    fn an_empty_completion_where_the_golden_is_empty_says_so() {
        let mut ev = evidence();
        ev.goldens.insert("arithmetic".into(), golden_with("arithmetic", vec![EOS], StopReason::Eos, |_| 3.0));
        let failed = || Observed::Failed {
            error: "error: Inference failed: empty completion: the model produced no text (#3720)".into(),
            invocation: inv(&["apr", "run"], ""),
        };
        ev.generations.insert(GenKey::new(APR, "q8_0-gguf", "arithmetic"), failed());
        // The golden says more: the plain failure.
        ev.generations.insert(GenKey::new(APR, "q8_0-gguf", "code"), failed());
        let outs = judge(&ev, &Tolerances::spec());
        let o = find(&outs, "apr/q8_0-gguf/arithmetic");
        assert_eq!(o.status, Verdict::Fail);
        assert!(
            o.note.ends_with("the oracle's own first token is EOS (2): the golden is empty too, so the runtime stopped where the oracle did and only its failure status is wrong"),
            "{}",
            o.note
        );
        assert!(!find(&outs, "apr/q8_0-gguf/code").note.contains("first token is EOS"));
        // Another failure where the golden is empty: no such claim.
        ev.generations.insert(
            GenKey::new(APR, "q8_0-gguf", "arithmetic"),
            Observed::Failed { error: "panic: boom".into(), invocation: inv(&["apr", "run"], "") },
        );
        assert!(!find(&judge(&ev, &Tolerances::spec()), "apr/q8_0-gguf/arithmetic").note.contains("first token is EOS"));
    }

    #[test]
    fn identical_tokens_with_other_text_are_the_detokenizer_s_finding() {
        let mut ev = evidence();
        let mut trimmed = gen(seq(32));
        trimmed.text = format!("  {}\n", ev.goldens["code"].text);
        ev.generations.insert(GenKey::new(APR, "q8_0-gguf", "code"), ok(trimmed));
        let mut other = gen(seq(32));
        other.text = "something else".into();
        ev.generations.insert(GenKey::new(APR, "q8_0-gguf", "greeting"), ok(other));
        ev.generations.insert(
            GenKey::new("candle", "q8_0-gguf", "greeting"),
            ok(Generation { text: format!(" {}", ev.goldens["greeting"].text), ..gen(seq(32)) }),
        );
        ev.generations.insert(GenKey::new(APR, "q8_0-gguf", "completion"), ok(gen(seq(32))));
        let outs = judge(&ev, &Tolerances::spec());
        let t = find(&outs, "apr/q8_0-gguf/code");
        assert_eq!((t.status, &t.subject, t.signature.as_str()), (Verdict::Fail, &subject::RUNTIME, inference::TRIM_SIGNATURE));
        assert!(t.note.starts_with("tokens identical to the oracle, but the text is trimmed"), "{}", t.note);
        let o = find(&outs, "apr/q8_0-gguf/greeting");
        assert_eq!((o.status, o.signature.as_str()), (Verdict::Fail, "apr: its text is not the decode of its own token ids"));
        let c = find(&outs, "candle/q8_0-gguf/greeting");
        assert_eq!(
            (c.status, &c.subject, c.signature.as_str()),
            (Verdict::Fail, &Subject::comparator("candle"), "candle: trims whitespace from generated text")
        );
        assert_eq!(find(&outs, "apr/q8_0-gguf/completion").status, Verdict::Pass);
    }

    #[test]
    fn a_run_wrong_before_its_eos_is_located_where_it_went_wrong() {
        let g = golden("x", seq(32));
        // wrong at step 2, EOS at step 5, then more tokens: the first difference is the finding
        let mut early = seq(32);
        early[2] = 4242;
        early[5] = EOS;
        let d = diagnose(&g, &early, &BTreeMap::new(), 0.5, &[EOS]).unwrap();
        assert_eq!(d.step, 2);
        assert!(matches!(d.kind, DivergenceKind::Confident { in_top_k: false, .. }), "{d:?}");
        // right up to its EOS at step 5, then more: generating past EOS is the finding
        let mut late = seq(32);
        late[5] = EOS;
        let d = diagnose(&g, &late, &BTreeMap::new(), 0.5, &[EOS]).unwrap();
        assert_eq!((d.step, d.kind), (6, DivergenceKind::PastEos { eos_step: 5, extra: 26 }));
    }

    #[test]
    fn past_eos_and_outside_top_k_are_located_exactly() {
        let g = golden("x", seq(32));
        let mut late = seq(32);
        late[5] = EOS;
        late[6] = 903;
        let d = diagnose(&g, &late, &vocab(), 0.5, &[EOS]).unwrap();
        assert_eq!((d.step, d.actual, d.actual_text.as_deref()), (6, Some(903), Some(" the")));
        assert_eq!(describe(&d, &vocab()), "step 5: runtime listed EOS, then generated 26 more token(s)");
        // outside the golden's top-2: the gap is top-1 minus the 2nd (-0.1 - 3.0): 3.0
        let mut out = seq(32);
        out[4] = 4242;
        let d = diagnose(&g, &out, &vocab(), 0.5, &[EOS]).unwrap();
        let DivergenceKind::Confident { gap: Some(gap), in_top_k: false } = d.kind else { panic!("{d:?}") };
        assert!((gap - 3.0).abs() < 1e-5, "{gap}");
        // the golden's runner-up, 3.0 nats under its top-1: confident, inside the top-k
        let mut second = seq(32);
        second[4] = 904;
        let d = diagnose(&g, &second, &vocab(), 0.5, &[EOS]).unwrap();
        let DivergenceKind::Confident { gap: Some(gap), in_top_k: true } = d.kind else { panic!("{d:?}") };
        assert!((gap - 3.0).abs() < 1e-5, "{gap}");
        // through the judge: its own signature, and the evidence says what was expected
        let mut ev = evidence();
        // the model's EOS is known from a golden that ends with it
        let mut ends = seq(6);
        ends.push(EOS);
        ev.goldens.insert("code".into(), golden_with("code", ends, StopReason::Eos, |_| 3.0));
        ev.generations.insert(GenKey::new(APR, "q8_0-gguf", "code"), ok(gen(vec![100, 101, 102, EOS, 903, 904])));
        ev.generations.insert(GenKey::new(APR, "q8_0-gguf", "completion"), ok(gen(out.clone())));
        let outs = judge(&ev, &Tolerances::spec());
        let p = find(&outs, "apr/q8_0-gguf/code");
        assert_eq!((p.status, p.signature.as_str()), (Verdict::Fail, "apr: generates tokens after EOS"));
        let o = find(&outs, "apr/q8_0-gguf/completion");
        assert_eq!(o.evidence.expected.as_deref(), Some(format!("{:?}", seq(32)).as_str()));
        assert_eq!(o.evidence.actual.as_deref(), Some(format!("{out:?}").as_str()));
        assert_eq!(o.evidence.details["divergence"]["step"], 4);
        assert_eq!(o.evidence.details["actual_tokens"], serde_json::json!(out));
    }

    #[test]
    fn text_only_runs_echoed_prompts_and_unlisted_eos_are_said() {
        let mut ev = evidence();
        let g = ev.goldens["code"].clone();
        ev.generations.insert(GenKey::new(APR, "q8_0-gguf", "code"), ok(Generation { tokens: None, ..gen(seq(32)) }));
        ev.generations
            .insert(GenKey::new(APR, "q8_0-gguf", "greeting"), ok(Generation { tokens: None, text: "nope".into(), ..gen(seq(32)) }));
        let mut echoed = g.prompt_tokens.clone();
        echoed.extend(seq(29));
        ev.generations.insert(GenKey::new(APR, "q8_0-gguf", "completion"), ok(gen(echoed)));
        let outs = judge(&ev, &Tolerances::spec());
        let same = find(&outs, "apr/q8_0-gguf/code");
        assert_eq!((same.status, same.note.as_str()), (Verdict::Pass, "text identical (no token ids reported; text compared)"));
        let differs = find(&outs, "apr/q8_0-gguf/greeting");
        assert_eq!(differs.status, Verdict::Fail);
        assert_eq!(differs.evidence.actual.as_deref(), Some("\"nope\""));
        assert!(differs.evidence.expected.is_some() && differs.evidence.details["kind"] == "text_only");
        let echo = find(&outs, "apr/q8_0-gguf/completion");
        assert_eq!(echo.evidence.details["note"], "the runtime's token list begins with the prompt ids (prompt echoed?)");
        assert!(find(&outs, "apr/q8_0-gguf/code").evidence.details.get("note").is_none());
        // a run of ids that does not begin with the prompt's: no such note
        ev.generations.insert(GenKey::new(APR, "q8_0-gguf", "arithmetic"), ok(gen(with_mismatches(&seq(32), 1))));
        let plain = find(&judge(&ev, &Tolerances::spec()), "apr/q8_0-gguf/arithmetic").clone();
        assert_eq!(plain.evidence.details["note"], serde_json::Value::Null, "{plain:?}");

        // A golden that ends at EOS, and runs that stop there without listing it.
        let mut ev = evidence();
        let mut toks = seq(6);
        toks.push(EOS);
        ev.goldens.insert("arithmetic".into(), golden_with("arithmetic", toks.clone(), StopReason::Eos, |_| 3.0));
        ev.generations
            .insert(GenKey::new(APR, "q8_0-gguf", "arithmetic"), ok(Generation { finish_reason: Some("eos".into()), ..gen(seq(6)) }));
        ev.generations.insert(GenKey::new(CANDLE_RT, "q8_0-gguf", "arithmetic"), ok(gen(seq(6))));
        ev.generations.insert(GenKey::new("llama.cpp", "q8_0-gguf", "arithmetic"), ok(gen(toks.clone())));
        let outs = judge(&ev, &Tolerances::spec());
        let n = |rt: &str| find(&outs, &format!("{rt}/q8_0-gguf/arithmetic")).note.clone();
        assert_eq!(n(APR), "identical to the oracle (stopped at EOS without listing it; finish_reason \"eos\")");
        assert_eq!(n(CANDLE_RT), "identical to the oracle (stopped at EOS without listing it; no finish_reason)");
        assert_eq!(n("llama.cpp"), "identical to the oracle");
    }

    const CANDLE_RT: &str = "candle";

    #[test]
    fn apr_s_own_files_are_judged_against_correct_engines_on_equivalents() {
        let mut ev = evidence();
        ev.conversions.insert("int8".into(), conversion(APR, "reference", 8));
        ev.conversions.insert("q8_0-gguf".into(), conversion(CANDLE_RT, "reference", 8));
        let mut wrong = seq(32);
        wrong[0] = 4242;
        ev.generations.insert(GenKey::new(APR, "int8", "code"), ok(gen(wrong.clone())));
        // candle on the correct 8-bit file leaves confidently too, with more mismatches:
        // the claim fails for correct engines, not apr's finding.
        ev.generations.insert(GenKey::new(CANDLE_RT, "q8_0-gguf", "code"), ok(gen(with_mismatches(&seq(32), 3))));
        let o = find(&judge(&ev, &Tolerances::spec()), "apr/int8/code").clone();
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &Subject::Reference), "{}", o.note);
        // candle stays on the golden: apr's own (apr: converter or runtime).
        ev.generations.insert(GenKey::new(CANDLE_RT, "q8_0-gguf", "code"), ok(gen(seq(32))));
        let o = find(&judge(&ev, &Tolerances::spec()), "apr/int8/code").clone();
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &subject::EITHER), "{}", o.note);
        // a near tie of the oracle on candle's side is no confident failure: it holds.
        let tie = golden_with("code", seq(32), StopReason::Length, |i| if i == 0 { 0.2 } else { 3.0 });
        ev.goldens.insert("code".into(), tie);
        let mut tied = seq(32);
        tied[0] = 900;
        ev.generations.insert(GenKey::new(CANDLE_RT, "q8_0-gguf", "code"), ok(gen(tied)));
        let o = find(&judge(&ev, &Tolerances::spec()), "apr/int8/code").clone();
        assert_eq!(o.subject, subject::EITHER, "{}", o.note);
        // apr's detokenizer on its own file is its runtime's, not "apr".
        let mut trimmed = gen(seq(32));
        trimmed.text = format!(" {} ", ev.goldens["greeting"].text);
        ev.generations.insert(GenKey::new(APR, "int8", "greeting"), ok(trimmed));
        assert_eq!(find(&judge(&ev, &Tolerances::spec()), "apr/int8/greeting").subject, subject::RUNTIME);
    }

    #[test]
    fn apr_s_export_is_convicted_when_a_correct_engine_agrees_on_it_but_not_on_the_equivalent() {
        let mut ev = evidence();
        ev.conversions.insert("int4".into(), conversion(APR, "reference", 4));
        ev.conversions.insert("int4-gguf".into(), conversion(APR, "int4", 4));
        ev.conversions.insert("q4_0-gguf".into(), conversion(CANDLE_RT, "reference", 4));
        let mut wrong = seq(32);
        wrong[0] = 4242;
        ev.generations.insert(GenKey::new(APR, "int4-gguf", "code"), ok(gen(wrong.clone())));
        ev.generations.insert(GenKey::new(CANDLE_RT, "int4-gguf", "code"), ok(gen(wrong)));
        ev.generations.insert(GenKey::new(CANDLE_RT, "q4_0-gguf", "code"), ok(gen(seq(32))));
        let o = find(&judge(&ev, &Tolerances::spec()), "apr/int4-gguf/code").clone();
        assert_eq!((o.status, &o.subject), (Verdict::Fail, &subject::CONVERTER), "{}", o.note);
        assert_eq!(o.signature, "apr converter: int4-gguf fails where a correct quantization does not");
        // The same wrong tokens explained by apr's own prompt encoding (a BOS prepended)
        // stay with that finding: no comparator is consulted.
        let mut bos = gen(vec![4242]);
        bos.tokens = Some({
            let mut w = seq(32);
            w[0] = 4242;
            w
        });
        bos.prompt_tokens = Some(vec![1, 10, 11, 12]);
        ev.generations.insert(GenKey::new(APR, "int4-gguf", "code"), ok(bos));
        let o = find(&judge(&ev, &Tolerances::spec()), "apr/int4-gguf/code").clone();
        assert_eq!((o.status, &o.subject, o.signature.as_str()), (Verdict::Fail, &subject::EITHER, "apr: prepends BOS"), "{}", o.note);
    }

    #[test]
    fn missing_and_failed_generations_are_not_passed() {
        let mut ev = evidence();
        assert_eq!(judge(&ev, &Tolerances::spec())[0].status, Verdict::Blocked);
        ev.generations
            .insert(GenKey::new(APR, "int8", "code"), Observed::Failed { error: "bad json".into(), invocation: inv(&["apr"], "{") });
        assert_eq!(judge(&ev, &Tolerances::spec())[0].status, Verdict::Blocked);
    }
}
