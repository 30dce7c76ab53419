//! Blame for a claim apr fails on a GGUF: a correct engine on the same file (a
//! comparator) shows whether the file or apr's runtime is at fault, and a correct
//! converter's equivalent quantization of the same checkpoint (same bit width)
//! shows whether an apr-made file is worse than quantization itself explains.
//! No correct 4-bit engine reproduces f32 goldens on a 135M model, so a failed
//! claim is apr's only when apr is worse than the correct engines.

use super::*;

/// Whom a claim apr fails on a GGUF is to be blamed on.
#[derive(Debug, Clone, PartialEq)]
pub enum Blame {
    /// No comparator on the same file agrees with apr: apr's runtime.
    Runtime,
    /// A comparator on the same file agrees with apr, and the file is as good as a
    /// correct quantization: the claim fails for correct engines too.
    File(String),
    /// A comparator agrees with apr on the file, but apr's converter made the file and
    /// a correct converter's equivalent does not fail the claim (or none exists).
    Converter(String),
    /// A comparator agrees with apr on the file, and what would tell the file's
    /// quantization from apr's converter (the comparator on the equivalent) is missing.
    Undecided(String),
}

/// The artifact of the same bit width made from the same checkpoint by a comparator's
/// converter (e.g. candle's q4_0-gguf for apr's int4-gguf).
pub fn equivalent<'a>(ev: &'a ModelEvidence, artifact: &str) -> Option<&'a str> {
    let bits = ev.conversions.get(artifact)?.bits;
    ev.conversions
        .iter()
        .find(|(name, c)| name.as_str() != artifact && c.tool != APR && c.bits == bits && c.from == "reference" && name.ends_with("gguf"))
        .map(|(name, _)| name.as_str())
}

/// The comparators that observed `artifact` (generations or scores).
pub fn comparators_on<'a>(ev: &'a ModelEvidence, artifact: &str) -> Vec<&'a str> {
    let mut names: Vec<&str> = ev
        .generations
        .keys()
        .filter(|k| k.artifact == artifact && k.runtime != APR)
        .map(|k| k.runtime.as_str())
        .chain(ev.scores.keys().filter(|(r, a)| a == artifact && r != APR).map(|(r, _)| r.as_str()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Blame for apr failing a claim on `artifact`. `agrees(c)`: does comparator `c`'s
/// observation of the file agree with apr's (None: no usable observation);
/// `holds(c, a)`: does `c` meet the claim on artifact `a` (None: not observed).
pub fn blame(
    ev: &ModelEvidence,
    artifact: &str,
    agrees: impl Fn(&str) -> Option<bool>,
    holds: impl Fn(&str, &str) -> Option<bool>,
) -> Blame {
    let Some(c) = comparators_on(ev, artifact).into_iter().find(|c| agrees(c) == Some(true)) else {
        return Blame::Runtime;
    };
    let maker = ev.conversions.get(artifact).map(|m| m.tool.as_str()).unwrap_or("?");
    if maker != APR {
        return Blame::File(format!("{c} agrees with apr on this file, made by {maker}'s converter"));
    }
    match equivalent(ev, artifact) {
        Some(e) => match holds(c, e) {
            Some(false) => Blame::File(format!(
                "{c} agrees with apr on this file, and fails the claim on {e} (a correct converter's equivalent) too"
            )),
            Some(true) => Blame::Converter(format!(
                "{c} agrees with apr on this file, but meets the claim on {e} (a correct converter's equivalent): apr's file is worse"
            )),
            None => Blame::Undecided(format!("{c} agrees with apr on this file, but {c} has no result on the equivalent {e}")),
        },
        None => Blame::Converter(format!("{c} agrees with apr on this file; no correct converter's equivalent to compare with")),
    }
}

/// The outcome for apr failing a claim on `artifact`, under its blame: the runtime's
/// FAIL as given, the converter's FAIL, or the claim's own FAIL in the reference
/// section (it fails for correct engines on this file too: not a finding on apr).
pub fn apply(blame: Blame, case: &Case, failed: Outcome, artifact: &str) -> Outcome {
    match blame {
        Blame::Runtime => failed,
        Blame::Converter(why) => {
            let mut o = case.about(subject::CONVERTER).fail(
                format!("{} — {why}", failed.note),
                format!("apr converter: {artifact} fails where a correct quantization does not"),
                failed.evidence,
            );
            o.evidence.details["blame"] = serde_json::json!(why);
            o
        }
        Blame::Undecided(why) => case.blocked(format!("{} — blame undecided: {why}", failed.note), format!("attribution on {artifact} needs the comparator's result on its equivalent"), failed.evidence),
        Blame::File(why) => {
            let mut o = case.about(Subject::Reference).fail(
                format!("claim fails for correct engines too ({}): {why}", failed.note),
                format!("{}: the claim fails for correct engines on quantized files", case.suite),
                failed.evidence,
            );
            o.evidence.details["blame"] = serde_json::json!(why);
            o
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conversions::{Conversion, Made};
    use super::super::testutil::*;
    use super::*;

    fn made(tool: &str, bits: u8) -> Conversion {
        Conversion {
            tool: tool.into(),
            from: "reference".into(),
            bits,
            observed: Observed::Ok { value: Made { file: "f".into(), bytes: 1, sha256: String::new() }, invocation: inv(&["x"], "") },
        }
    }

    fn ev_with_files() -> ModelEvidence {
        let mut ev = evidence();
        ev.conversions.insert("int4-gguf".into(), Conversion { from: "int4".into(), ..made(APR, 4) });
        ev.conversions.insert("q4_0-gguf".into(), made("candle", 4));
        ev.conversions.insert("q8_0-gguf".into(), made("candle", 8));
        set_all(&mut ev, "candle", "int4-gguf", &seq(32));
        set_all(&mut ev, "candle", "q4_0-gguf", &seq(32));
        ev
    }

    #[test]
    fn blame_follows_the_comparator_and_the_equivalent() {
        let ev = ev_with_files();
        assert_eq!(equivalent(&ev, "int4-gguf"), Some("q4_0-gguf"));
        assert_eq!(equivalent(&ev, "q8_0-gguf"), None, "no other 8-bit file");
        assert_eq!(comparators_on(&ev, "int4-gguf"), vec!["candle"]);
        // nobody agrees with apr: its runtime
        assert_eq!(blame(&ev, "int4-gguf", |_| Some(false), |_, _| Some(true)), Blame::Runtime);
        assert_eq!(blame(&ev, "int4-gguf", |_| None, |_, _| Some(true)), Blame::Runtime);
        // candle agrees, and fails the claim on its own q4_0 too: the file's quantization
        assert!(matches!(blame(&ev, "int4-gguf", |_| Some(true), |_, _| Some(false)), Blame::File(_)));
        // candle agrees, but meets the claim on its own q4_0: apr's converter
        assert!(matches!(blame(&ev, "int4-gguf", |_| Some(true), |_, _| Some(true)), Blame::Converter(_)));
        assert!(matches!(blame(&ev, "int4-gguf", |_| Some(true), |_, _| None), Blame::Undecided(_)));
        // a file made by a comparator: agreeing with its engine clears apr
        assert!(matches!(blame(&ev, "q4_0-gguf", |_| Some(true), |_, _| Some(true)), Blame::File(_)));
    }

    #[test]
    fn apply_keeps_the_evidence_and_names_the_subject() {
        let case = Case::new("divergence", "tiny", "apr/int4-gguf/code", subject::RUNTIME);
        let failed = case.fail("step 0: likely bug site", "apr runtime on int4-gguf: wrong tokens", Evidence::default());
        assert_eq!(apply(Blame::Runtime, &case, failed.clone(), "int4-gguf"), failed);
        let c = apply(Blame::Converter("worse".into()), &case, failed.clone(), "int4-gguf");
        assert_eq!((c.status, &c.subject), (Status::Fail, &subject::CONVERTER));
        assert!(c.note.contains("worse") && c.signature.contains("int4-gguf"));
        let f = apply(Blame::File("same".into()), &case, failed, "int4-gguf");
        assert_eq!((f.status, &f.subject), (Status::Fail, &Subject::Reference));
        assert!(f.note.contains("step 0") && f.note.contains("same"));
    }
}
