//! tokenizer-battery: every runtime that can tokenize encodes the battery's hard
//! strings (runs of spaces, tabs, newlines, Unicode, emoji, digits, code,
//! contractions, special-token text, very long words, byte-like text; llama.cpp's
//! `test-tokenizer-0` idea) to exactly the reference tokenizer's ids (the
//! checkpoint's tokenizer.json). One special token added to every string (a BOS) is
//! one finding, not one per string: it is found first, then the rest is compared
//! without it. decode(encode(s)) == s is checked where the tokenizer promises it.
//! Findings share the tokenizer suite's signatures, so a runtime's BOS or its
//! other encoding is one ticket group across both suites.

use super::*;
use tmgt_schema::tokenize::{BatteryRun, BatteryString, Encoded};

const SUITE: &str = "tokenizer-battery";

/// A token a runtime adds at the start (or the end) of every answer where most of
/// the reference's answers do not have it: (at start?, the id). Whatever else the
/// runtime does to a string is then compared with that token taken off.
pub fn consistent_extra(reference: &[Encoded], runtime: &[Encoded]) -> Option<(bool, u32)> {
    let pairs: Vec<(&Encoded, &Encoded)> = reference.iter().zip(runtime).filter(|(_, r)| r.error.is_none()).collect();
    if pairs.is_empty() {
        return None;
    }
    let find = |end: &dyn Fn(&[u32]) -> Option<u32>| -> Option<u32> {
        let t = end(&pairs[0].1.ids)?;
        let everywhere = pairs.iter().all(|(_, a)| end(&a.ids) == Some(t));
        let reference_has = pairs.iter().filter(|(e, _)| end(&e.ids) == Some(t)).count();
        (everywhere && 2 * reference_has < pairs.len()).then_some(t)
    };
    if let Some(t) = find(&|ids| ids.first().copied()) {
        return Some((true, t));
    }
    find(&|ids| ids.last().copied()).map(|t| (false, t))
}

/// A runtime's answer with a consistent extra token taken off.
fn without_extra(ids: &[u32], extra: Option<(bool, u32)>) -> &[u32] {
    match extra {
        Some((true, t)) if ids.first() == Some(&t) => &ids[1..],
        Some((false, t)) if ids.last() == Some(&t) => &ids[..ids.len() - 1],
        _ => ids,
    }
}

/// One string the runtime encoded otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    pub index: usize,
    pub class: String,
    pub text: String,
    pub expected: Vec<u32>,
    pub actual: Vec<u32>,
    pub expected_pieces: Option<Vec<String>>,
    pub actual_pieces: Option<Vec<String>>,
    pub diagnosis: String,
}

/// The comparison of one runtime's answers with the reference's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub total: usize,
    pub matched: usize,
    /// class -> (matched, total), in battery order of first appearance.
    pub by_class: Vec<(String, usize, usize)>,
    pub extra: Option<(bool, u32)>,
    pub differences: Vec<Difference>,
    /// Strings whose decode did not give them back (where the runtime promised it).
    pub roundtrip_failures: Vec<(usize, String, Option<String>)>,
}

fn pieces_of(e: &Encoded) -> Option<Vec<String>> {
    e.pieces.as_ref().map(|p| p.iter().map(|s| display_piece(s)).collect())
}

pub fn compare(battery: &[BatteryString], reference: &[Encoded], runtime: &BatteryRun) -> Comparison {
    let extra = consistent_extra(reference, &runtime.results);
    let mut by_class: Vec<(String, usize, usize)> = Vec::new();
    let (mut matched, mut differences, mut roundtrip_failures) = (0, Vec::new(), Vec::new());
    for (i, ((s, want), got)) in battery.iter().zip(reference).zip(&runtime.results).enumerate() {
        let slot = match by_class.iter().position(|c| c.0 == s.class) {
            Some(p) => p,
            None => {
                by_class.push((s.class.clone(), 0, 0));
                by_class.len() - 1
            }
        };
        by_class[slot].2 += 1;
        let actual = without_extra(&got.ids, extra);
        if got.error.is_none() && actual == want.ids.as_slice() {
            matched += 1;
            by_class[slot].1 += 1;
        } else {
            let diagnosis = match &got.error {
                Some(e) => format!("the runtime refused it: {}", first_line(e)),
                None => tokenizer::encoding_difference(&want.ids, actual),
            };
            differences.push(Difference {
                index: i,
                class: s.class.clone(),
                text: s.text.clone(),
                expected: want.ids.clone(),
                actual: got.ids.clone(),
                expected_pieces: pieces_of(want),
                actual_pieces: pieces_of(got),
                diagnosis,
            });
        }
        let lost = match (got.roundtrip, &got.decoded) {
            (Some(ok), _) => !ok,
            (None, Some(d)) => runtime.roundtrip_promised && d != &s.text,
            (None, None) => false,
        };
        if lost && got.error.is_none() {
            roundtrip_failures.push((i, s.text.clone(), got.decoded.clone()));
        }
    }
    // Strings the runtime did not answer at all count as differences.
    for (i, (s, want)) in battery.iter().zip(reference).enumerate().skip(runtime.results.len()) {
        differences.push(Difference {
            index: i,
            class: s.class.clone(),
            text: s.text.clone(),
            expected: want.ids.clone(),
            actual: vec![],
            expected_pieces: pieces_of(want),
            actual_pieces: None,
            diagnosis: "no answer for this string".into(),
        });
    }
    Comparison { total: battery.len(), matched, by_class, extra, differences, roundtrip_failures }
}

/// "spaces 12/15, emoji 3/15": the classes with a difference.
pub fn class_summary(c: &Comparison) -> String {
    c.by_class.iter().filter(|(_, m, t)| m < t).map(|(class, m, t)| format!("{class} {m}/{t}")).collect::<Vec<_>>().join(", ")
}

fn show_string(s: &str) -> String {
    truncate(&format!("{s:?}"), 48)
}

pub fn judge(ev: &ModelEvidence) -> Vec<Outcome> {
    if ev.battery.is_empty() {
        return vec![Case::new(SUITE, &ev.slug, "all", Subject::Harness).skip("no tokenizer battery ([settings] tokenizer_battery)")];
    }
    let reference_case = Case::new(SUITE, &ev.slug, "reference", Subject::Reference);
    let (reference, ref_inv) = match take(
        ev.battery_reference.as_ref(),
        &reference_case.about(Subject::Harness),
        "the reference tokenizer on the battery",
        true,
    ) {
        Ok(x) => x,
        Err(o) => {
            // Nothing can be compared: every runtime's case is blocked on it.
            let mut outs = vec![o.clone()];
            for (runtime, artifact) in ev.battery_runs.keys() {
                let case = Case::new(SUITE, &ev.slug, format!("{runtime}/{artifact}"), attribution::subject_of_run(ev, runtime, artifact));
                outs.push(case.blocked(format!("no reference ids: {}", o.note), o.signature.clone(), Evidence::default()));
            }
            return outs;
        }
    };
    let mut outs = Vec::new();
    if reference.results.len() != ev.battery.len() {
        outs.push(reference_case.about(Subject::Harness).fail(
            format!("the reference answered {} of {} strings", reference.results.len(), ev.battery.len()),
            "oracle-gen: tokenize answered another number of strings",
            evidence_from(ref_inv, None, None, serde_json::Value::Null),
        ));
        return outs;
    }
    if reference.roundtrip_promised {
        let lost: Vec<(usize, &BatteryString, &Encoded)> = ev
            .battery
            .iter()
            .zip(&reference.results)
            .enumerate()
            .filter(|(_, (s, e))| e.error.is_none() && e.decoded.as_ref().is_some_and(|d| d != &s.text))
            .map(|(i, (s, e))| (i, s, e))
            .collect();
        let evidence = evidence_from(
            ref_inv,
            None,
            None,
            serde_json::json!({ "tokenizer": reference.tokenizer, "lost": lost.iter().map(|(i, s, e)| serde_json::json!({"index": i, "class": s.class, "text": s.text, "decoded": e.decoded})).collect::<Vec<_>>() }),
        );
        outs.push(match lost.first() {
            None => reference_case.pass(format!("decode(encode(s)) == s for all {} strings", ev.battery.len()), evidence),
            Some((_, s, e)) => reference_case.fail(
                format!(
                    "decode(encode(s)) != s for {} of {} strings; first ({}) {} → {}",
                    lost.len(),
                    ev.battery.len(),
                    s.class,
                    show_string(&s.text),
                    show_string(e.decoded.as_deref().unwrap_or(""))
                ),
                "reference: the tokenizer does not round-trip",
                evidence,
            ),
        });
    }
    for ((runtime, artifact), obs) in &ev.battery_runs {
        let case = Case::new(SUITE, &ev.slug, format!("{runtime}/{artifact}"), attribution::subject_of_run(ev, runtime, artifact));
        let (run, inv) = match take(Some(obs), &case, &format!("{runtime} tokenizing the battery on {artifact}"), true) {
            Ok(x) => x,
            Err(o) if o.status == Verdict::Skip => continue,
            Err(o) => {
                outs.push(o);
                continue;
            }
        };
        let c = compare(&ev.battery, &reference.results, run);
        let details = serde_json::json!({ "tokenizer": run.tokenizer, "comparison": c });
        let evidence = |expected: Option<String>, actual: Option<String>| evidence_from(inv, expected, actual, details.clone());
        if let Some((start, t)) = c.extra {
            let why = if start { format!("runtime prepends token {t} (BOS?)") } else { format!("runtime appends token {t}") };
            let piece = show_token(Some(t), &ev.vocab);
            outs.push(
                Case::new(SUITE, &ev.slug, format!("{runtime}/{artifact}/special"), attribution::subject_of_run(ev, runtime, artifact))
                    .fail(
                        format!("{why} to every one of the {} strings ({piece}): one finding, the rest compared without it", c.total),
                        tokenizer::signature(runtime, &why),
                        evidence(None, None),
                    ),
            );
        }
        match c.differences.first() {
            None => outs.push(
                case.pass(format!("{}/{} strings encode as the reference ({})", c.matched, c.total, run.tokenizer), evidence(None, None)),
            ),
            Some(d) => {
                let note = format!(
                    "{}/{} strings encode as the reference (differ: {}); first ({}) {}: reference {:?}, runtime {:?} ({})",
                    c.matched,
                    c.total,
                    class_summary(&c),
                    d.class,
                    show_string(&d.text),
                    d.expected,
                    d.actual,
                    d.diagnosis
                );
                let pieces = |p: &Option<Vec<String>>, ids: &[u32]| match p {
                    Some(p) => format!("{ids:?} {p:?}"),
                    None => format!("{ids:?}"),
                };
                outs.push(case.fail(
                    note,
                    tokenizer::signature(runtime, "encodings differ"),
                    evidence(Some(pieces(&d.expected_pieces, &d.expected)), Some(pieces(&d.actual_pieces, &d.actual))),
                ));
            }
        }
        if let Some((i, text, decoded)) = c.roundtrip_failures.first() {
            outs.push(
                Case::new(SUITE, &ev.slug, format!("{runtime}/{artifact}/roundtrip"), attribution::subject_of_run(ev, runtime, artifact))
                    .fail(
                        format!(
                            "decode(encode(s)) != s for {} of {} strings; first #{i} {} → {}",
                            c.roundtrip_failures.len(),
                            c.total,
                            show_string(text),
                            decoded.as_deref().map(show_string).unwrap_or_else(|| "(not shown)".into())
                        ),
                        format!("{runtime}: decode(encode(s)) differs from s"),
                        evidence(Some(text.clone()), decoded.clone()),
                    ),
            );
        }
    }
    outs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings() -> Vec<BatteryString> {
        [("spaces", "  a"), ("spaces", "a  b"), ("emoji", "😀"), ("empty", "")]
            .iter()
            .map(|(c, t)| BatteryString { class: c.to_string(), text: t.to_string() })
            .collect()
    }

    fn enc(ids: &[u32]) -> Encoded {
        Encoded { ids: ids.to_vec(), ..Default::default() }
    }

    fn reference() -> Vec<Encoded> {
        vec![enc(&[5, 6]), enc(&[7, 8, 9]), enc(&[40, 41]), enc(&[])]
    }

    fn run(results: Vec<Encoded>) -> BatteryRun {
        BatteryRun { tokenizer: "t".into(), roundtrip_promised: true, results }
    }

    fn evidence_with(runtime: Vec<Encoded>) -> ModelEvidence {
        let mut ev = ModelEvidence::new("m");
        ev.battery = strings();
        ev.battery_reference = Some(Observed::Ok { value: run(reference()), invocation: Invocation::default() });
        ev.battery_runs
            .insert(("llama.cpp".into(), "q8_0-gguf".into()), Observed::Ok { value: run(runtime), invocation: Invocation::default() });
        ev
    }

    #[test]
    fn identical_ids_pass_per_runtime_and_artifact() {
        let outs = judge(&evidence_with(reference()));
        let o = outs.iter().find(|o| o.case == "llama.cpp/q8_0-gguf").unwrap();
        assert_eq!((o.status, &o.subject), (Verdict::Pass, &Subject::comparator("llama.cpp")));
        assert!(o.note.starts_with("4/4"), "{}", o.note);
    }

    #[test]
    fn a_bos_on_every_string_is_one_finding_and_the_rest_is_compared_without_it() {
        let mut with_bos: Vec<Encoded> = reference().iter().map(|e| enc(&[&[1], e.ids.as_slice()].concat())).collect();
        with_bos[2] = enc(&[1, 40, 99]);
        let outs = judge(&evidence_with(with_bos));
        let special = outs.iter().find(|o| o.case.ends_with("/special")).unwrap();
        assert_eq!(special.signature, "llama.cpp: prepends BOS");
        assert!(special.note.contains("every one of the 4"), "{}", special.note);
        let main = outs.iter().find(|o| o.case == "llama.cpp/q8_0-gguf").unwrap();
        assert_eq!(main.status, Verdict::Fail);
        assert!(main.note.starts_with("3/4") && main.note.contains("emoji 0/1") && main.note.contains("[40, 41]"), "{}", main.note);
        assert_eq!(main.signature, "llama.cpp: encodes the prompt differently");
    }

    #[test]
    fn differences_are_grouped_by_class_with_the_first_one_shown() {
        let mut r = reference();
        r[0] = enc(&[5, 5, 6]);
        r[1] = enc(&[7, 89]);
        r[3] = Encoded { error: Some("empty input".into()), ..Default::default() };
        let c = compare(&strings(), &reference(), &run(r));
        assert_eq!((c.matched, c.total, c.extra), (1, 4, None));
        assert_eq!(class_summary(&c), "spaces 0/2, empty 0/1");
        assert_eq!(c.differences[0].index, 0);
        assert!(c.differences[2].diagnosis.contains("refused"));
        // an answer short of the battery: the missing strings differ
        let c = compare(&strings(), &reference(), &run(reference()[..2].to_vec()));
        assert_eq!((c.matched, c.differences.len()), (2, 2));
    }

    #[test]
    fn roundtrip_is_judged_where_it_is_promised_or_reported() {
        let mut r = reference();
        r[1].decoded = Some("a b".into());
        r[2].roundtrip = Some(false);
        let outs = judge(&evidence_with(r));
        let rt = outs.iter().find(|o| o.case.ends_with("/roundtrip")).unwrap();
        assert!(rt.note.contains("2 of 4"), "{}", rt.note);
        // the reference's own round trip is a claim about the reference
        let mut ev = evidence_with(reference());
        if let Some(Observed::Ok { value, .. }) = &mut ev.battery_reference {
            value.results[0].decoded = Some(" a".into());
        }
        let outs = judge(&ev);
        let r = outs.iter().find(|o| o.case == "reference").unwrap();
        assert_eq!((r.status, &r.subject), (Verdict::Fail, &Subject::Reference));
    }

    #[test]
    fn no_reference_blocks_every_runtime_and_no_battery_skips() {
        let mut ev = evidence_with(reference());
        ev.battery_reference = None;
        let outs = judge(&ev);
        assert!(outs.iter().all(|o| o.status == Verdict::Blocked), "{outs:#?}");
        assert_eq!(judge(&ModelEvidence::new("m"))[0].status, Verdict::Skip);
    }
}
