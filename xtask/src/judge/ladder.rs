//! The f32 ladder: apr on f32 files one stage at a time (its runtime on a correct f32
//! GGUF, the oracle's export; its runtime on the reference checkpoint itself; its own
//! unquantized APR file, the container), then its int8 and int4 files (quantization).
//! An f32 rung holds when its tokens are the golden's except at near ties, its
//! logprobs (where apr reports them) are within the f32 bound and its PPL within the
//! f32 ratio; the first rung that breaks names the stage at fault, and every apr
//! finding on a broken rung joins that rung's group (`reattribute`).

use super::divergence::{describe, diagnose, DivergenceKind};
use super::subject::{Subject, EITHER, RUNTIME};
use super::*;

/// The part of apr a rung adds to the one below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Its runtime on a file a correct converter made (the oracle's f32 GGUF).
    Runtime,
    /// Its runtime on the raw HF checkpoint (loader, config, prompt handling).
    SafetensorsPath,
    /// Its unquantized APR file: `apr import` without quantization, or its APR reader.
    Container,
    /// Its quantizer or its quantized kernels.
    Quantization,
}

impl Stage {
    pub fn subject(self) -> Subject {
        match self {
            Stage::Runtime | Stage::SafetensorsPath => RUNTIME,
            Stage::Container | Stage::Quantization => EITHER,
        }
    }

    /// What is at fault when this stage's rung is the first to break.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Runtime => "apr's runtime on f32 weights (a correct f32 GGUF already leaves the golden)",
            Stage::SafetensorsPath => {
                "apr's runtime on the raw safetensors checkpoint (its loader or prompt handling: a correct f32 GGUF keeps the golden)"
            }
            Stage::Container => {
                "apr's unquantized APR container (its import without quantization, or its APR reader: a correct f32 GGUF keeps the golden)"
            }
            Stage::Quantization => "apr's quantization (its quantizer or its quantized kernels: its own f32 APR keeps the golden)",
        }
    }

    /// What is at fault when this stage's rung breaks and the rung below it was not
    /// seen to hold (not run: no correct f32 GGUF for this architecture).
    pub fn label_unseparated(self) -> &'static str {
        match self {
            Stage::SafetensorsPath => {
                "apr's runtime on the raw safetensors checkpoint (no correct f32 GGUF ran to tell its safetensors path from the rest of its runtime)"
            }
            Stage::Container => "apr on its unquantized APR (its import, its APR reader or its runtime: no correct f32 GGUF ran to tell them apart)",
            stage => stage.label(),
        }
    }

    /// The ticket group of a rung that breaks first at this stage (model-independent).
    pub fn signature(self) -> String {
        let stage = match self {
            Stage::Runtime => "runtime on a correct f32 file",
            Stage::SafetensorsPath => "runtime on the raw safetensors checkpoint",
            Stage::Container => "unquantized APR container",
            Stage::Quantization => "quantization",
        };
        format!("{APR}: the f32 ladder breaks at the {stage}")
    }
}

/// One rung: the artifact apr runs, the stage it adds, the rung it stands on.
#[derive(Debug, Clone, Copy)]
pub struct Rung {
    pub artifact: &'static str,
    pub stage: Stage,
    pub below: Option<&'static str>,
}

/// The ladder, lowest rung first.
pub const RUNGS: &[Rung] = &[
    Rung { artifact: "f32-gguf", stage: Stage::Runtime, below: None },
    Rung { artifact: "safetensors", stage: Stage::SafetensorsPath, below: Some("f32-gguf") },
    Rung { artifact: "f32", stage: Stage::Container, below: Some("f32-gguf") },
    Rung { artifact: "int8", stage: Stage::Quantization, below: Some("f32") },
    Rung { artifact: "int4", stage: Stage::Quantization, below: Some("f32") },
];

fn rung(artifact: &str) -> Option<&'static Rung> {
    RUNGS.iter().find(|r| r.artifact == artifact)
}

/// An f32 rung: judged like the oracle's golden on another engine.
pub fn is_f32_rung(artifact: &str) -> bool {
    rung(artifact).is_some_and(|r| r.stage != Stage::Quantization)
}

/// Where a rung stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Standing {
    Holds,
    /// It leaves the golden (or a run of it fails: `signature` is then the failure's).
    Breaks {
        signature: Option<String>,
    },
    /// Not observed: blocked under `signature`, or skipped (`None`).
    Unknown {
        signature: Option<String>,
    },
    /// The harness made no observation of it.
    Missing,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub standing: Standing,
    /// One clause per prompt and per PPL, in order.
    pub notes: Vec<String>,
    pub invocation: Option<Invocation>,
    /// Prompts whose output was compared with the golden (ran and reported).
    pub compared: usize,
}

impl Reading {
    /// Its numbers were seen and none broke the claim (a failed run of another prompt
    /// keeps it from passing, not from telling the stage above it apart).
    pub fn seen_to_hold(&self) -> bool {
        self.compared > 0 && self.standing != (Standing::Breaks { signature: None })
    }
}

/// Where apr's f32 run of `prompt` first breaks the f32 claim, if it does.
fn f32_prompt(ev: &ModelEvidence, tol: &Tolerances, g: &Golden, gen: &Generation) -> Result<String, String> {
    let Some(tokens) = &gen.tokens else {
        return match gen.text == g.text {
            true => Ok("text identical (no ids reported)".into()),
            false => Err("text differs and no ids are reported".into()),
        };
    };
    let d = diagnose(g, tokens, &ev.vocab, tol.near_tie_margin, &eos_ids(ev, g));
    if let Some(d) = d.as_ref().filter(|d| !matches!(d.kind, DivergenceKind::NearTie { .. })) {
        return Err(describe(d, &ev.vocab));
    }
    // Logprobs where apr reports them (GGUF runs), over the steps both took alike.
    let upto = d.as_ref().map_or(tokens.len(), |d| d.step);
    let mut worst: Option<(usize, f32)> = None;
    for (step, top) in gen.top_logprobs.iter().flatten().enumerate().take(upto) {
        let Some(id) = tokens.get(step) else { break };
        let (Some(ours), Some(theirs)) =
            (top.iter().find(|t| t.id == *id), g.top_logprobs.get(step).and_then(|s| s.iter().find(|t| t.id == *id)))
        else {
            continue;
        };
        let delta = (ours.logprob - theirs.logprob).abs();
        if worst.is_none_or(|(_, w)| delta > w) {
            worst = Some((step, delta));
        }
    }
    let lp = match worst {
        Some((step, delta)) if delta > tol.ladder_f32_logprob_max => {
            return Err(format!("|Δlogprob| {delta:.4} at step {step} > {}", tol.ladder_f32_logprob_max));
        }
        Some((_, delta)) => format!(", max |Δlogprob| {delta:.4}"),
        None => String::new(),
    };
    Ok(match d {
        Some(d) => format!("{}{lp}", describe(&d, &ev.vocab)),
        None => format!("identical{lp}"),
    })
}

/// How apr stands on one rung.
pub fn read(ev: &ModelEvidence, tol: &Tolerances, rung: &Rung) -> Reading {
    let mut notes = Vec::new();
    // Wrong numbers (tokens, logprobs, PPL) break the rung before any failed run does.
    let mut breaks = false;
    let mut compared = 0;
    let mut failure: Option<String> = None;
    let mut unknown: Option<Option<String>> = None;
    let mut missing = false;
    let mut invocation = None;
    for (prompt, g) in &ev.goldens {
        let obs = ev.generations.get(&GenKey::new(APR, rung.artifact, prompt));
        let (gen, inv) = match obs {
            Some(Observed::Ok { value, invocation }) => (value, invocation),
            Some(Observed::Failed { error, invocation: inv }) => {
                notes.push(format!("{prompt}: the run failed: {}", telling_line(error, inv)));
                failure = failure.or_else(|| Some(failure_signature(error, inv)));
                invocation = invocation.or_else(|| Some(inv.clone()));
                continue;
            }
            Some(Observed::Blocked { step, signature, .. }) => {
                notes.push(format!("{prompt}: blocked by {step}"));
                unknown = unknown.or(Some(Some(signature.clone())));
                continue;
            }
            Some(Observed::Skipped { reason }) => {
                notes.push(format!("{prompt}: skipped ({reason})"));
                unknown = unknown.or(Some(None));
                continue;
            }
            None => {
                notes.push(format!("{prompt}: no observation of {APR} on {}", rung.artifact));
                missing = true;
                continue;
            }
        };
        let verdict = if rung.stage == Stage::Quantization {
            let bound = if rung.artifact == "int8" { tol.int8_max_mismatches } else { tol.int4_max_mismatches };
            let m = inference::mismatches_vs_golden(ev, APR, rung.artifact, prompt).unwrap_or(usize::MAX);
            match m <= bound {
                true => Ok(format!("{m} mismatches")),
                false => Err(format!("{m} mismatches > {bound}")),
            }
        } else {
            f32_prompt(ev, tol, g, gen)
        };
        compared += 1;
        match verdict {
            Ok(note) => notes.push(format!("{prompt}: {note}")),
            Err(note) => {
                notes.push(format!("{prompt}: {note}"));
                breaks = true;
                invocation = invocation.or_else(|| Some(inv.clone()));
            }
        }
    }
    if is_f32_rung(rung.artifact) {
        let reference = ev.reference_score.as_ref().map(|s| s.perplexity);
        match (ev.scores.get(&(APR.to_string(), rung.artifact.to_string())), reference, tol.ref_ppl_ratio_for(rung.artifact)) {
            (Some(Observed::Ok { value, .. }), Some(r), Some(bound)) => {
                let ratio = value.perplexity / r;
                let ok = ratio.is_finite() && ratio <= bound && ratio >= 1.0 / bound;
                notes.push(format!("PPL ×{ratio:.4}{}", if ok { String::new() } else { format!(" (bound ×{bound})") }));
                breaks |= !ok;
            }
            (Some(Observed::Failed { error, invocation: inv }), _, _) => {
                notes.push(format!("PPL: the eval failed: {}", telling_line(error, inv)));
                failure = failure.or_else(|| Some(failure_signature(error, inv)));
            }
            _ => {}
        }
    }
    let standing = match (breaks, failure, unknown) {
        (true, _, _) => Standing::Breaks { signature: None },
        (false, Some(failure), _) => Standing::Breaks { signature: Some(failure) },
        (false, None, Some(signature)) => Standing::Unknown { signature },
        (false, None, None) if missing => Standing::Missing,
        (false, None, None) => Standing::Holds,
    };
    Reading { standing, notes, invocation, compared }
}

/// Who is at fault when `at` is the first rung to break: its stage, told apart from
/// the rung below only when that one was seen to hold.
fn blame(ev: &ModelEvidence, tol: &Tolerances, at: &Rung) -> &'static str {
    match at.below.and_then(rung) {
        Some(below) if !read(ev, tol, below).seen_to_hold() => at.stage.label_unseparated(),
        _ => at.stage.label(),
    }
}

/// The first rung below `rung` (itself included) whose break explains it: the rung it
/// stands on when that one breaks too, else itself.
fn first_break(ev: &ModelEvidence, tol: &Tolerances, rung: &'static Rung) -> &'static Rung {
    match rung.below.and_then(rung_of) {
        Some(below) if read(ev, tol, below).standing == (Standing::Breaks { signature: None }) => first_break(ev, tol, below),
        _ => rung,
    }
}

fn rung_of(artifact: &str) -> Option<&'static Rung> {
    rung(artifact)
}

/// One outcome per f32 rung; the quantized rungs are judged by token-parity, and the
/// ladder only says which stage their findings start at (`reattribute`).
pub fn judge(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    if ev.goldens.is_empty() {
        return no_goldens("ladder", ev);
    }
    let mut outs = Vec::new();
    for rung in RUNGS.iter().filter(|r| is_f32_rung(r.artifact)) {
        let reading = read(ev, tol, rung);
        let at = first_break(ev, tol, rung);
        let case = Case::new("ladder", &ev.slug, rung.artifact, at.stage.subject());
        let note = reading.notes.join("; ");
        let evidence = Evidence {
            // The note is cut for the table; every prompt's reading is kept here.
            details: serde_json::json!({
                "blame": format!("the f32 ladder: {}", blame(ev, tol, at)),
                "rung": rung.artifact,
                "readings": reading.notes,
            }),
            ..reading.invocation.as_ref().map(|inv| evidence_from(inv, None, None, serde_json::Value::Null)).unwrap_or_default()
        };
        outs.push(match reading.standing {
            Standing::Holds => {
                case.pass(note, Evidence { details: serde_json::json!({ "rung": rung.artifact, "readings": reading.notes }), ..evidence })
            }
            Standing::Breaks { signature: Some(failure) } => case.blocked(note, failure, evidence),
            Standing::Breaks { signature: None } if at.artifact != rung.artifact => {
                case.fail(format!("as on {}, the rung below: {note}", at.artifact), at.stage.signature(), evidence)
            }
            Standing::Breaks { signature: None } => case.fail(note, at.stage.signature(), evidence),
            Standing::Unknown { signature: Some(signature) } => case.blocked(note, signature, evidence),
            Standing::Unknown { signature: None } => case.skip(note),
            Standing::Missing => case.about(Subject::Harness).blocked(note, "the harness made no observation", evidence),
        });
    }
    outs
}

/// apr's artifact an outcome's case is about ("apr/f32/code", "int8/completion",
/// "apr/safetensors"), if it names a rung.
fn rung_of_case(case: &str) -> Option<&'static Rung> {
    let mut parts = case.split('/');
    match parts.next()? {
        a if a == APR => rung(parts.next()?),
        a => rung(a).filter(|r| r.stage == Stage::Quantization),
    }
}

/// A FAIL for a run that failed (`failed_outcome`: its evidence keeps the error): its
/// own group, whatever rung it ran on.
fn is_failed_run(o: &Outcome) -> bool {
    o.evidence.details.get("error").is_some()
}

/// The suites whose apr finding on a rung says why the rung broke, in the order asked.
const CAUSES: [&str; 4] = ["divergence", "tokenizer", "reference-ppl", "logprobs"];

/// One defect, one group: a broken rung above a correct f32 GGUF is its stage's group,
/// and apr's findings on it (the divergence, the prompt encoding, the PPL) join it; a
/// runtime broken on the correct f32 GGUF joins the group of its finding there (the
/// divergence, the encoding, the PPL), which explains the rest. apr's findings on its int8 and int4 files say where the ladder first
/// breaks below them (the container or the runtime before any quantization, else the
/// quantization itself).
pub fn reattribute(ev: &ModelEvidence, tol: &Tolerances, outs: &mut [Outcome]) {
    if ev.goldens.is_empty() {
        return;
    }
    let cause = |outs: &[Outcome], artifact: &str| -> Option<String> {
        let on = |o: &&Outcome| {
            o.status == Verdict::Fail
                && o.subject.is_under_test()
                && !is_failed_run(o)
                && o.case.strip_prefix(&format!("{APR}/{artifact}")).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        CAUSES.iter().find_map(|suite| outs.iter().filter(|o| o.suite == *suite).find(on).map(|o| o.signature.clone()))
    };
    let breaks = |r: &Rung| read(ev, tol, r).standing == Standing::Breaks { signature: None };
    // Each broken f32 rung's group. A runtime that breaks on a correct f32 file explains
    // every finding like it: the rung joins its cause's group (found before any is
    // changed). A stage above it (the safetensors path, the container) is a defect of
    // its own: its group is the stage's.
    let groups: Vec<(&str, String)> = RUNGS
        .iter()
        .filter(|r| is_f32_rung(r.artifact) && breaks(r))
        .filter_map(|r| {
            let at = first_break(ev, tol, r);
            // A cause the judges named on that rung (a prompt wrapped in a template, a
            // PPL over another text) is the group; else a wrong token there is the
            // runtime's own group, and the stage's above a rung that holds.
            let found = cause(outs, at.artifact);
            let group = match (at.stage, found) {
                (_, Some(found)) if found != wrong_output_signature(APR) => found,
                (Stage::Runtime, found) => found?,
                (stage, _) => stage.signature(),
            };
            Some((r.artifact, group))
        })
        .collect();
    let group_of = |artifact: &str| groups.iter().find(|(a, _)| *a == artifact).map(|(_, s)| s.clone());
    // The token findings a stage below explains.
    let mut explained: Vec<String> = groups.iter().map(|(_, s)| s.clone()).collect();
    explained.push(wrong_output_signature(APR));
    for o in outs.iter_mut().filter(|o| o.status == Verdict::Fail && o.subject.is_under_test()) {
        if o.suite == "ladder" {
            if let Some(signature) = group_of(&o.case) {
                o.signature = signature;
            }
            continue;
        }
        let Some(r) = rung_of_case(&o.case) else { continue };
        if r.stage != Stage::Quantization {
            // A PPL or an encoding that breaks on the rung too: the same defect.
            if let Some(signature) = group_of(r.artifact).filter(|_| CAUSES.contains(&o.suite.as_str()) && !is_failed_run(o)) {
                o.signature = signature;
                o.subject = first_break(ev, tol, r).stage.subject();
            }
            continue;
        }
        if o.evidence.details.get("blame").is_some() || !explained.contains(&o.signature) {
            continue;
        }
        let below = r.below.and_then(rung).map(|b| first_break(ev, tol, b));
        let line = match below {
            Some(b) if breaks(b) => format!("the f32 ladder: {} — before any quantization", blame(ev, tol, b)),
            Some(b) if read(ev, tol, b).seen_to_hold() => format!("the f32 ladder: {}", Stage::Quantization.label()),
            _ => continue,
        };
        if !o.evidence.details.is_object() {
            o.evidence.details = serde_json::json!({});
        }
        o.evidence.details["blame"] = serde_json::json!(line);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use tmgt_schema::{Score, TokenLogprob};

    /// Evidence where apr keeps the golden on every rung, with PPLs equal to the oracle's.
    fn perfect() -> ModelEvidence {
        let mut ev = evidence();
        ev.reference_score = Some(Score { perplexity: 10.0, token_count: Some(40), mean_nll: None });
        for r in RUNGS {
            set_all(&mut ev, APR, r.artifact, &seq(32));
            if is_f32_rung(r.artifact) {
                ev.scores.insert((APR.into(), r.artifact.into()), ok(Score { perplexity: 10.0, token_count: Some(40), mean_nll: None }));
            }
        }
        ev
    }

    fn status(outs: &[Outcome], case: &str) -> (Verdict, Subject, String) {
        let o = find(outs, case);
        (o.status, o.subject.clone(), o.signature.clone())
    }

    #[test]
    fn a_perfect_apr_holds_every_f32_rung() {
        let outs = judge(&perfect(), &Tolerances::spec());
        assert_eq!(outs.len(), 3);
        for o in &outs {
            assert_eq!(o.status, Verdict::Pass, "{o:#?}");
            assert!(o.note.contains("identical") && o.note.contains("PPL ×1.0000"), "{}", o.note);
        }
    }

    #[test]
    fn the_first_rung_to_break_names_the_stage() {
        let tol = Tolerances::spec();
        // Only the unquantized APR leaves the golden: its container.
        let mut ev = perfect();
        set_all(&mut ev, APR, "f32", &with_mismatches(&seq(32), 2));
        let outs = judge(&ev, &tol);
        assert_eq!(status(&outs, "f32"), (Verdict::Fail, EITHER, Stage::Container.signature()));
        assert_eq!(find(&outs, "f32").evidence.details["blame"], format!("the f32 ladder: {}", Stage::Container.label()));
        assert_eq!(find(&outs, "f32").evidence.details["readings"].as_array().map(Vec::len), Some(5), "4 prompts and the PPL");
        assert_eq!(find(&outs, "f32-gguf").status, Verdict::Pass);
        assert!(find(&outs, "f32-gguf").evidence.details.get("blame").is_none(), "a rung that holds blames nobody");
        assert_eq!(find(&outs, "f32-gguf").evidence.details["readings"][4], "PPL ×1.0000");
        // Only the raw checkpoint: apr's safetensors path, its runtime.
        let mut ev = perfect();
        set_all(&mut ev, APR, "safetensors", &with_mismatches(&seq(32), 1));
        let outs = judge(&ev, &tol);
        assert_eq!(status(&outs, "safetensors"), (Verdict::Fail, RUNTIME, Stage::SafetensorsPath.signature()));
        assert_eq!(find(&outs, "f32").status, Verdict::Pass);
        // A correct f32 GGUF breaks too: every rung above it is the runtime's, one group.
        set_all(&mut ev, APR, "f32-gguf", &with_mismatches(&seq(32), 1));
        set_all(&mut ev, APR, "f32", &with_mismatches(&seq(32), 1));
        let outs = judge(&ev, &tol);
        for case in ["f32-gguf", "safetensors", "f32"] {
            assert_eq!(status(&outs, case), (Verdict::Fail, RUNTIME, Stage::Runtime.signature()), "{case}");
        }
        assert!(find(&outs, "f32").note.starts_with("as on f32-gguf, the rung below: "), "{}", find(&outs, "f32").note);
        assert!(!find(&outs, "f32-gguf").note.contains("the rung below"));
    }

    #[test]
    fn a_stage_is_told_apart_only_when_the_rung_below_was_seen_to_hold() {
        let tol = Tolerances::spec();
        let mut ev = perfect();
        set_all(&mut ev, APR, "f32", &with_mismatches(&seq(32), 2));
        for p in PROMPTS {
            ev.generations.insert(GenKey::new(APR, "f32-gguf", p), Observed::Skipped { reason: "no f32 GGUF export for gemma3".into() });
        }
        let outs = judge(&ev, &tol);
        assert_eq!(find(&outs, "f32-gguf").status, Verdict::Skip);
        let f32 = find(&outs, "f32");
        assert_eq!((f32.status, &f32.subject), (Verdict::Fail, &EITHER));
        assert_eq!(f32.evidence.details["blame"], format!("the f32 ladder: {}", Stage::Container.label_unseparated()));
        assert_ne!(Stage::Container.label_unseparated(), Stage::Container.label());
        assert_ne!(Stage::SafetensorsPath.label_unseparated(), Stage::SafetensorsPath.label());
        assert_eq!(Stage::Runtime.label_unseparated(), Stage::Runtime.label());
        assert_eq!(Stage::Quantization.label_unseparated(), Stage::Quantization.label());
        let mut outs =
            vec![Case::new("divergence", "tiny", "apr/int8/code", EITHER).fail("x", wrong_output_signature(APR), Evidence::default())];
        reattribute(&ev, &tol, &mut outs);
        let line = outs[0].evidence.details["blame"].as_str().unwrap();
        assert!(line.contains(Stage::Container.label_unseparated()), "{line}");
    }

    #[test]
    fn a_near_tie_holds_and_a_confident_step_breaks() {
        let tol = Tolerances::spec();
        let mut ev = perfect();
        // Step 3 is a near tie in every golden: apr may take the runner-up there.
        for p in PROMPTS {
            ev.goldens.insert(p.into(), golden_with(p, seq(32), StopReason::Length, |i| if i == 3 { 0.2 } else { 3.0 }));
        }
        let mut tied = seq(32);
        tied[3] = 903;
        tied[4] = 7;
        set_all(&mut ev, APR, "f32", &tied);
        let outs = judge(&ev, &tol);
        assert_eq!(find(&outs, "f32").status, Verdict::Pass, "{}", find(&outs, "f32").note);
        assert!(find(&outs, "f32").note.contains("near-tie"));
        // The same swap one step later, where the oracle was confident.
        let mut wrong = seq(32);
        wrong[4] = 904;
        set_all(&mut ev, APR, "f32", &wrong);
        assert_eq!(find(&judge(&ev, &tol), "f32").status, Verdict::Fail);
        // Stopping early and running long are breaks, not ties.
        set_all(&mut ev, APR, "f32", &seq(31));
        assert_eq!(find(&judge(&ev, &tol), "f32").status, Verdict::Fail);
    }

    #[test]
    fn logprobs_and_ppl_hold_only_within_the_f32_bounds() {
        let mut tol = Tolerances::spec();
        // The bound set to exactly the Δ a run 0.015 nats off shows in f32.
        tol.ladder_f32_logprob_max = ((-0.1f32 + 0.015) - -0.1f32).abs();
        let mut ev = perfect();
        let with_lp = |delta: f32| {
            let mut g = gen(seq(32));
            g.top_logprobs = Some(seq(32).iter().map(|&id| vec![TokenLogprob { id, logprob: -0.1 + delta }]).collect());
            ok(g)
        };
        for p in PROMPTS {
            ev.generations.insert(GenKey::new(APR, "f32-gguf", p), with_lp(0.015));
        }
        let o = find(&judge(&ev, &tol), "f32-gguf").clone();
        assert_eq!(o.status, Verdict::Pass, "exactly at the bound holds: {}", o.note);
        assert!(o.note.contains("max |Δlogprob| 0.0150"), "{}", o.note);
        ev.generations.insert(GenKey::new(APR, "f32-gguf", "code"), with_lp(-0.03));
        let o = find(&judge(&ev, &tol), "f32-gguf").clone();
        assert_eq!(o.status, Verdict::Fail);
        assert!(o.note.contains("code: |Δlogprob| 0.0300 at step 0 > 0.015"), "{}", o.note);
        // PPL: ×1.01 holds, beyond breaks, either side.
        let mut ev = perfect();
        let score = |p: f64| ok(Score { perplexity: p, token_count: Some(40), mean_nll: None });
        ev.scores.insert((APR.into(), "f32".into()), score(10.1));
        assert_eq!(find(&judge(&ev, &tol), "f32").status, Verdict::Pass);
        ev.scores.insert((APR.into(), "f32".into()), score(10.11));
        let o = find(&judge(&ev, &tol), "f32").clone();
        assert_eq!(o.status, Verdict::Fail);
        assert!(o.note.contains("PPL ×1.0110 (bound ×1.01)"), "{}", o.note);
        ev.scores.insert((APR.into(), "f32".into()), score(9.95));
        assert_eq!(find(&judge(&ev, &tol), "f32").status, Verdict::Pass, "within ×1.01 below the oracle's too");
        ev.scores.insert((APR.into(), "f32".into()), score(9.89));
        assert_eq!(find(&judge(&ev, &tol), "f32").status, Verdict::Fail);
        ev.scores.insert((APR.into(), "f32".into()), score(f64::NAN));
        assert_eq!(find(&judge(&ev, &tol), "f32").status, Verdict::Fail);
    }

    #[test]
    fn failed_blocked_and_skipped_rungs_never_pass() {
        let tol = Tolerances::spec();
        let mut ev = perfect();
        let mut crash = inv(&["apr", "run", "f32.apr"], "");
        crash.exit_code = Some(101);
        crash.stderr = "thread 'main' panicked at src/x.rs:1:1:\nindex out of bounds\n".into();
        ev.generations.insert(GenKey::new(APR, "f32", "code"), Observed::Failed { error: "exit 101".into(), invocation: crash.clone() });
        let o = find(&judge(&ev, &tol), "f32").clone();
        assert_eq!((o.status, o.signature.as_str()), (Verdict::Blocked, failure_signature("exit 101", &crash).as_str()));
        let mut ev = perfect();
        let blocked = Observed::Blocked { step: "convert f32".into(), reason: "r".into(), signature: "apr: import crash".into() };
        set_all(&mut ev, APR, "f32", &[]);
        for p in PROMPTS {
            ev.generations.insert(GenKey::new(APR, "f32", p), blocked.clone());
        }
        assert_eq!(status(&judge(&ev, &tol), "f32"), (Verdict::Blocked, EITHER, "apr: import crash".into()));
        for p in PROMPTS {
            ev.generations.insert(GenKey::new(APR, "f32", p), Observed::Skipped { reason: "no checkpoint".into() });
        }
        assert_eq!(find(&judge(&ev, &tol), "f32").status, Verdict::Skip);
        for p in PROMPTS {
            ev.generations.remove(&GenKey::new(APR, "safetensors", p));
        }
        let o = find(&judge(&ev, &tol), "safetensors").clone();
        assert_eq!((o.status, o.subject), (Verdict::Blocked, Subject::Harness));
        assert!(o.note.starts_with("arithmetic: no observation of apr on safetensors"), "{}", o.note);
        // A failed eval breaks the rung under the eval's signature.
        let mut ev = perfect();
        ev.scores.insert((APR.into(), "f32".into()), Observed::Failed { error: "exit 101".into(), invocation: crash.clone() });
        assert_eq!(find(&judge(&ev, &tol), "f32").status, Verdict::Blocked);
        assert_eq!(judge(&evidence_without_goldens(), &tol)[0].subject, Subject::Harness);
    }

    #[test]
    fn a_failed_run_keeps_a_rung_from_passing_but_not_from_telling_the_stage_above_it() {
        let tol = Tolerances::spec();
        let mut ev = perfect();
        let mut empty = inv(&["apr", "run", "f32.gguf"], "");
        empty.exit_code = Some(8);
        empty.stderr = "error: Inference failed: empty completion: the model produced no text (#3720)\n".into();
        let failed = Observed::Failed { error: "exit 8".into(), invocation: empty.clone() };
        for rung in ["f32-gguf", "f32"] {
            ev.generations.insert(GenKey::new(APR, rung, "arithmetic"), failed.clone());
        }
        set_all(&mut ev, APR, "f32", &with_mismatches(&seq(32), 1));
        ev.generations.insert(GenKey::new(APR, "f32", "arithmetic"), failed.clone());
        let outs = judge(&ev, &tol);
        let gguf = find(&outs, "f32-gguf");
        assert_eq!((gguf.status, gguf.signature.as_str()), (Verdict::Blocked, failure_signature("exit 8", &empty).as_str()));
        assert!(read(&ev, &tol, &RUNGS[0]).seen_to_hold(), "three prompts compared, none broke");
        let f32 = find(&outs, "f32");
        assert_eq!((f32.status, &f32.signature), (Verdict::Fail, &Stage::Container.signature()), "wrong numbers before a failed run");
        assert_eq!(f32.evidence.details["blame"], format!("the f32 ladder: {}", Stage::Container.label()), "told apart");
        // Nothing compared: not seen to hold.
        for p in PROMPTS {
            ev.generations.insert(GenKey::new(APR, "f32-gguf", p), failed.clone());
        }
        assert!(!read(&ev, &tol, &RUNGS[0]).seen_to_hold());
        assert_eq!(
            find(&judge(&ev, &tol), "f32").evidence.details["blame"],
            format!("the f32 ladder: {}", Stage::Container.label_unseparated())
        );
    }

    #[test]
    fn text_only_runs_the_worst_logprob_and_each_quantized_bound() {
        let tol = Tolerances::spec();
        let mut ev = perfect();
        // No ids reported: the text decides.
        let mut text_only = gen(seq(32));
        text_only.tokens = None;
        ev.generations.insert(GenKey::new(APR, "f32", "code"), ok(text_only.clone()));
        assert_eq!(find(&judge(&ev, &tol), "f32").status, Verdict::Pass);
        text_only.text.push('!');
        ev.generations.insert(GenKey::new(APR, "f32", "code"), ok(text_only));
        let o = find(&judge(&ev, &tol), "f32").clone();
        assert_eq!(o.status, Verdict::Fail);
        assert!(o.note.contains("code: text differs and no ids are reported"), "{}", o.note);
        // The worst step is reported, wherever it lies.
        let mut ev = perfect();
        let mut g = gen(seq(32));
        g.top_logprobs = Some(
            seq(32)
                .iter()
                .enumerate()
                .map(|(i, &id)| vec![TokenLogprob { id, logprob: -0.1 + if i == 1 { 0.01 } else { 0.001 } }])
                .collect(),
        );
        ev.generations.insert(GenKey::new(APR, "f32-gguf", "code"), ok(g));
        let o = find(&judge(&ev, &tol), "f32-gguf").clone();
        assert!(o.note.contains("code: identical, max |Δlogprob| 0.0100"), "{}", o.note);
        // int8 holds to 3 mismatches, int4 to 5: 4 breaks the one, not the other.
        let mut ev = perfect();
        set_all(&mut ev, APR, "int8", &with_mismatches(&seq(32), 4));
        set_all(&mut ev, APR, "int4", &with_mismatches(&seq(32), 4));
        assert_eq!(read(&ev, &tol, &RUNGS[3]).standing, Standing::Breaks { signature: None });
        assert_eq!(read(&ev, &tol, &RUNGS[4]).standing, Standing::Holds);
        set_all(&mut ev, APR, "int8", &with_mismatches(&seq(32), 3));
        assert_eq!(read(&ev, &tol, &RUNGS[3]).standing, Standing::Holds, "exactly at the bound holds");
    }

    /// Evidence where only apr's f32 APR leaves the golden.
    fn ev4_base() -> ModelEvidence {
        let mut ev = perfect();
        set_all(&mut ev, APR, "f32", &with_mismatches(&seq(32), 1));
        ev
    }

    fn evidence_without_goldens() -> ModelEvidence {
        ModelEvidence::new("tiny")
    }

    #[test]
    fn a_broken_rung_joins_its_cause_and_quantized_findings_say_where_the_ladder_breaks() {
        let tol = Tolerances::spec();
        let mut ev = perfect();
        set_all(&mut ev, APR, "f32", &with_mismatches(&seq(32), 2));
        set_all(&mut ev, APR, "int8", &with_mismatches(&seq(32), 9));
        let mut outs = judge(&ev, &tol);
        outs.extend([
            Case::new("reference-ppl", "tiny", "apr/f32", EITHER).fail("x", "apr: PPL far", Evidence::default()),
            Case::new("divergence", "tiny", "apr/f32/code", EITHER).fail("x", wrong_output_signature(APR), Evidence::default()),
            Case::new("divergence", "tiny", "apr/int8/code", EITHER).fail("x", wrong_output_signature(APR), Evidence::default()),
            Case::new("token-parity", "tiny", "int8/code", EITHER).fail("x", wrong_output_signature(APR), Evidence::default()),
            Case::new("canary", "tiny", "int8/greeting", EITHER).fail("x", "apr: trims text", Evidence::default()),
            Case::new("divergence", "tiny", "candle/f32-gguf/code", Subject::comparator("candle")).fail("x", "c", Evidence::default()),
            Case::new("divergence", "tiny", "apr/f32-gguf/code", RUNTIME).pass("x", Evidence::default()),
        ]);
        reattribute(&ev, &tol, &mut outs);
        let ladder = find(&outs, "f32");
        let container = Stage::Container.signature();
        assert_eq!((&ladder.signature, &ladder.subject), (&container, &EITHER), "the stage's own group");
        assert!(ladder.evidence.details["blame"].as_str().unwrap().contains("container"));
        assert_eq!(find(&outs, "apr/f32").signature, container, "the rung's PPL joins the rung's group");
        assert_eq!(find(&outs, "apr/f32/code").signature, container, "and its divergence");
        assert!(find(&outs, "int8/greeting").evidence.details.get("blame").is_none(), "no token finding: the ladder says nothing");
        for case in ["apr/int8/code", "int8/code"] {
            let o = find(&outs, case);
            assert_eq!(o.signature, wrong_output_signature(APR), "kept: the quantizer may be wrong too");
            let blame = o.evidence.details["blame"].as_str().unwrap();
            assert!(blame.contains("container") && blame.ends_with("before any quantization"), "{blame}");
        }
        assert_eq!(find(&outs, "candle/f32-gguf/code").signature, "c", "a comparator's finding is its own");
        assert!(find(&outs, "apr/f32-gguf/code").evidence.details.get("blame").is_none());
        // A failed run on the rung is no cause of its numbers and keeps its own group.
        let mut outs = judge(&ev4_base(), &tol);
        // A check that passes on the broken rung, and a comparator's finding, keep theirs.
        outs.push(Case::new("tokenizer", "tiny", "apr/f32/greeting", EITHER).pass("ok", Evidence::default()));
        outs.push(Case::new("divergence", "tiny", "apr/f32/greeting", Subject::comparator("candle")).fail("x", "c", Evidence::default()));
        let mut crash = inv(&["apr", "run", "f32.apr"], "");
        crash.exit_code = Some(8);
        let failed = failed_outcome(&Case::new("divergence", "tiny", "apr/f32/arithmetic", EITHER), "apr on f32", "exit 8", &crash);
        let failed_sig = failed.signature.clone();
        outs.push(failed);
        outs.push(Case::new("divergence", "tiny", "apr/f32/code", EITHER).fail("x", wrong_output_signature(APR), Evidence::default()));
        reattribute(&ev4_base(), &tol, &mut outs);
        assert_eq!(find(&outs, "f32").signature, Stage::Container.signature());
        assert_eq!(find(&outs, "apr/f32/arithmetic").signature, failed_sig);
        assert_eq!(find(&outs, "apr/f32/code").signature, Stage::Container.signature());
        let kept: Vec<&str> = outs.iter().filter(|o| o.case == "apr/f32/greeting").map(|o| o.signature.as_str()).collect();
        assert_eq!(kept, ["", "c"], "a PASS and a comparator's FAIL are not re-signed");
        // A cause the judges named on the rung (the prompt wrapped): the rung joins it.
        let mut ev4 = perfect();
        set_all(&mut ev4, APR, "safetensors", &with_mismatches(&seq(32), 1));
        let mut outs = judge(&ev4, &tol);
        outs.push(Case::new("tokenizer", "tiny", "apr/safetensors/code", RUNTIME).fail("x", "apr: wraps the prompt", Evidence::default()));
        outs.push(Case::new("divergence", "tiny", "apr/safetensors/code", RUNTIME).fail("x", "apr: wraps the prompt", Evidence::default()));
        outs.push(Case::new("reference-ppl", "tiny", "apr/safetensors", RUNTIME).fail("x", "apr: another text", Evidence::default()));
        reattribute(&ev4, &tol, &mut outs);
        for case in ["safetensors", "apr/safetensors"] {
            assert_eq!(find(&outs, case).signature, "apr: wraps the prompt", "{case}");
        }
        // A runtime broken on the correct f32 GGUF: every rung joins its cause there (only
        // the PPL, here), and so do the findings on the rungs above it.
        let mut ev3 = perfect();
        ev3.scores.insert((APR.into(), "f32-gguf".into()), ok(Score { perplexity: 12.0, token_count: Some(40), mean_nll: None }));
        let mut outs = judge(&ev3, &tol);
        outs.push(Case::new("reference-ppl", "tiny", "apr/f32-gguf", RUNTIME).fail("x", "apr: PPL far", Evidence::default()));
        reattribute(&ev3, &tol, &mut outs);
        assert_eq!(find(&outs, "f32-gguf").signature, "apr: PPL far");
        // A rung above a broken one joins the lower rung's cause.
        let mut ev2 = perfect();
        set_all(&mut ev2, APR, "f32-gguf", &with_mismatches(&seq(32), 1));
        set_all(&mut ev2, APR, "f32", &with_mismatches(&seq(32), 1));
        let mut outs = judge(&ev2, &tol);
        outs.push(Case::new("divergence", "tiny", "apr/f32-gguf/code", RUNTIME).fail("x", "apr: runtime", Evidence::default()));
        outs.push(Case::new("divergence", "tiny", "apr/f32/code", EITHER).fail("x", "apr: other", Evidence::default()));
        outs.push(Case::new("divergence", "tiny", "apr/int4/code", EITHER).fail("x", wrong_output_signature(APR), Evidence::default()));
        reattribute(&ev2, &tol, &mut outs);
        assert_eq!(find(&outs, "f32").signature, "apr: runtime");
        let on_f32 = find(&outs, "apr/f32/code");
        assert_eq!((on_f32.signature.as_str(), &on_f32.subject), ("apr: runtime", &RUNTIME), "the runtime's, as below");
        assert!(find(&outs, "apr/int4/code").evidence.details["blame"].as_str().unwrap().contains("a correct f32 GGUF already leaves"));
        // The f32 APR holds: the int8 findings are quantization's.
        let mut ev = perfect();
        set_all(&mut ev, APR, "int8", &with_mismatches(&seq(32), 9));
        let mut outs = vec![Case::new("token-parity", "tiny", "int8/code", EITHER).fail(
            "x",
            wrong_output_signature(APR),
            Evidence { details: serde_json::json!({"mismatches": 9}), ..Default::default() },
        )];
        reattribute(&ev, &tol, &mut outs);
        assert_eq!(outs[0].evidence.details["blame"], format!("the f32 ladder: {}", Stage::Quantization.label()));
        assert_eq!(outs[0].evidence.details["mismatches"], 9, "the blame is added, the rest kept");
        // A rung that holds is no group: its findings keep their own causes.
        let mut outs = judge(&perfect(), &tol);
        outs.push(Case::new("divergence", "tiny", "apr/f32-gguf/code", RUNTIME).fail("x", "apr: trims", Evidence::default()));
        outs.push(Case::new("reference-ppl", "tiny", "apr/f32-gguf", RUNTIME).fail("x", "apr: another count", Evidence::default()));
        reattribute(&perfect(), &tol, &mut outs);
        assert_eq!(find(&outs, "apr/f32-gguf").signature, "apr: another count");
        // The f32 APR not observed: nothing to say.
        for p in PROMPTS {
            ev.generations.insert(GenKey::new(APR, "f32", p), Observed::Skipped { reason: "r".into() });
        }
        let mut outs =
            vec![Case::new("token-parity", "tiny", "int8/code", EITHER).fail("x", wrong_output_signature(APR), Evidence::default())];
        reattribute(&ev, &tol, &mut outs);
        assert!(outs[0].evidence.details.get("blame").is_none());
        // A blame already given (a comparator's evidence) is kept; nothing to say without goldens.
        let mut outs = vec![Case::new("divergence", "tiny", "apr/int4/code", EITHER).fail(
            "x",
            wrong_output_signature(APR),
            Evidence { details: serde_json::json!({"blame": "llama.cpp agrees"}), ..Default::default() },
        )];
        let mut broken = perfect();
        set_all(&mut broken, APR, "f32", &with_mismatches(&seq(32), 2));
        reattribute(&broken, &tol, &mut outs);
        assert_eq!(outs[0].evidence.details["blame"], "llama.cpp agrees");
        let mut outs =
            vec![Case::new("divergence", "tiny", "apr/int4/code", EITHER).fail("x", wrong_output_signature(APR), Evidence::default())];
        reattribute(&evidence_without_goldens(), &tol, &mut outs);
        assert!(outs[0].evidence.details.get("blame").is_none());
    }

    #[test]
    fn cases_name_their_rung() {
        assert_eq!(rung_of_case("apr/f32/code").map(|r| r.artifact), Some("f32"));
        assert_eq!(rung_of_case("apr/safetensors").map(|r| r.artifact), Some("safetensors"));
        assert_eq!(rung_of_case("int4/greeting").map(|r| r.artifact), Some("int4"));
        assert!(rung_of_case("f32/code").is_none(), "an f32 rung is named only as apr's run");
        assert!(rung_of_case("candle/f32-gguf/code").is_none());
        assert!(is_f32_rung("safetensors") && is_f32_rung("f32-gguf") && !is_f32_rung("int8") && !is_f32_rung("q8_0-gguf"));
    }
}
