//! tensor-error: apr's quantizer judged tensor by tensor, apart from its kernels. apr
//! dequantizes its int8 and int4 files back to f32 (`apr export --format
//! safetensors`); correct quantizers of the same width (oracle-gen's GGUF exporter,
//! llama.cpp's `--pure` quantize) are dequantized by `oracle-gen import-gguf`. Each
//! tensor's RMSE against the reference checkpoint is compared with the best correct
//! quantizer's: beyond `tensor_error_max_ratio` × that, or (where a correct quantizer
//! keeps the tensor exact) beyond `tensor_error_exact_rel_max` × the reference's RMS,
//! it is apr's converter's finding. A tensor apr drops or reshapes is one too.

use super::subject::CONVERTER;
use super::*;

pub const SUITE: &str = "tensor-error";

/// How many of the worst tensors an outcome's evidence (and the printed table) keeps.
pub const WORST_KEPT: usize = 10;

/// One of apr's quantized artifacts and the correct quantizers of its width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    /// apr's artifact (convert.rs SPECS), dequantized by `apr export`.
    pub apr: &'static str,
    pub width: &'static str,
    /// Correct quantizers' GGUFs of the same width, dequantized by oracle-gen.
    pub correct: &'static [&'static str],
}

/// The one table of what is compared with what. llama.cpp's default Q4_0 keeps the
/// tied embedding at Q8_0: only its `--pure` file is 4 bits throughout.
pub const PAIRS: &[Pair] = &[
    Pair { apr: "int8", width: "8-bit", correct: &["q8_0-gguf", "lcpp-q8_0-gguf"] },
    Pair { apr: "int4", width: "4-bit", correct: &["q4_0-gguf", "lcpp-q4_0-pure-gguf"] },
];

/// Every artifact whose dequantized form the suite reads.
pub fn artifacts() -> impl Iterator<Item = &'static str> {
    PAIRS.iter().flat_map(|p| std::iter::once(p.apr).chain(p.correct.iter().copied()))
}

/// Is this artifact apr's own (its dequantization is apr's export)?
pub fn is_apr(artifact: &str) -> bool {
    PAIRS.iter().any(|p| p.apr == artifact)
}

/// A float JSON keeps as null when it is not finite (serde_json writes NaN and inf
/// as null): read back as NaN.
mod nullable {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// One tensor of a dequantized file against the reference checkpoint's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorStat {
    pub shape: Vec<usize>,
    /// sqrt(mean (file − reference)²); not finite when the file holds NaN or inf.
    #[serde(deserialize_with = "nullable::deserialize")]
    pub rmse: f64,
    #[serde(deserialize_with = "nullable::deserialize")]
    pub max_abs: f64,
    #[serde(deserialize_with = "nullable::deserialize")]
    pub cosine: f64,
    /// sqrt(mean reference²): relative error is rmse / ref_rms.
    #[serde(deserialize_with = "nullable::deserialize")]
    pub ref_rms: f64,
}

/// A dequantized file compared with the reference checkpoint, tensor by tensor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TensorErrors {
    /// Tensors in both with the same shape.
    pub tensors: BTreeMap<String, TensorStat>,
    /// In the reference only.
    pub missing: Vec<String>,
    /// In the file only.
    pub extra: Vec<String>,
    /// name -> (the reference's shape, the file's).
    pub shape_mismatch: BTreeMap<String, (Vec<usize>, Vec<usize>)>,
}

/// The class of a tensor: its name with layer indices as N, so that one defect in
/// every layer is one class.
pub fn tensor_class(name: &str) -> String {
    name.split('.').map(|s| if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { "N" } else { s }).collect::<Vec<_>>().join(".")
}

/// apr's error over the best correct quantizer's for one tensor (∞ where the correct
/// one is exact and apr is not; 1 where both are exact).
pub fn ratio(apr_rmse: f64, correct_rmse: f64) -> f64 {
    if correct_rmse > 0.0 {
        apr_rmse / correct_rmse
    } else if apr_rmse > 0.0 {
        f64::INFINITY
    } else {
        1.0
    }
}

/// The largest RMSE apr may have on a tensor: `max_ratio` × the best correct
/// quantizer's, and never less than `exact_rel` × the reference's RMS (a tensor a
/// correct quantizer keeps exact may differ by f32 rounding only).
pub fn bound(correct_rmse: f64, ref_rms: f64, tol: &Tolerances) -> f64 {
    (tol.tensor_error_max_ratio * correct_rmse).max(tol.tensor_error_exact_rel_max * ref_rms)
}

/// One tensor's row of the table: apr's error beside each correct quantizer's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub tensor: String,
    #[serde(deserialize_with = "nullable::deserialize")]
    pub apr_rmse: f64,
    #[serde(deserialize_with = "nullable::deserialize")]
    pub ref_rms: f64,
    #[serde(deserialize_with = "nullable::deserialize")]
    pub cosine: f64,
    #[serde(deserialize_with = "nullable::deserialize")]
    pub max_abs: f64,
    /// Correct quantizer -> its RMSE on this tensor.
    pub correct: BTreeMap<String, f64>,
    /// The best of them.
    pub best: String,
    /// apr's RMSE / the best's (null: ∞, the best is exact and apr is not).
    pub ratio: Option<f64>,
    pub within: bool,
}

impl Row {
    /// For sorting, worst first: ∞ (and NaN, whose ratio is not finite either) above
    /// every finite ratio.
    fn severity(&self) -> f64 {
        self.ratio.unwrap_or(f64::INFINITY)
    }
}

/// "3.2e-3".
fn sci(v: f64) -> String {
    format!("{v:.1e}")
}

pub fn judge(ev: &ModelEvidence, tol: &Tolerances) -> Vec<Outcome> {
    PAIRS.iter().map(|pair| judge_pair(ev, tol, pair)).collect()
}

fn judge_pair(ev: &ModelEvidence, tol: &Tolerances, pair: &Pair) -> Outcome {
    let case = Case::new(SUITE, &ev.slug, pair.apr, CONVERTER);
    let what = format!("apr's {} dequantized (apr export --format safetensors)", pair.apr);
    let (apr, invocation) = match take(ev.tensor_errors.get(pair.apr), &case, &what, true) {
        Ok(v) => v,
        Err(o) => return o,
    };
    let mut correct: Vec<(&str, &TensorErrors)> = Vec::new();
    let mut unavailable: Vec<(&str, Option<&Observed<TensorErrors>>)> = Vec::new();
    for name in pair.correct {
        match ev.tensor_errors.get(*name) {
            Some(Observed::Ok { value, .. }) => correct.push((name, value)),
            other => unavailable.push((name, other)),
        }
    }
    if correct.is_empty() {
        return no_correct(&case, pair, &unavailable);
    }
    let mut offenders: Vec<(String, String)> = Vec::new();
    for name in &apr.missing {
        offenders.push((name.clone(), format!("{name}: missing from apr's {} export", pair.apr)));
    }
    for (name, (want, got)) in &apr.shape_mismatch {
        offenders.push((name.clone(), format!("{name}: shape {got:?}, the checkpoint's {want:?}")));
    }
    let mut rows = Vec::new();
    let mut unjudged = Vec::new();
    for (name, stat) in &apr.tensors {
        let errors: BTreeMap<String, f64> = correct
            .iter()
            .filter_map(|(c, e)| e.tensors.get(name).filter(|s| s.rmse.is_finite()).map(|s| (c.to_string(), s.rmse)))
            .collect();
        let Some((best, best_rmse)) = errors.iter().min_by(|a, b| a.1.total_cmp(b.1)).map(|(k, v)| (k.clone(), *v)) else {
            unjudged.push(name.clone());
            continue;
        };
        let within = stat.rmse <= bound(best_rmse, stat.ref_rms, tol);
        let r = ratio(stat.rmse, best_rmse);
        let row = Row {
            tensor: name.clone(),
            apr_rmse: stat.rmse,
            ref_rms: stat.ref_rms,
            cosine: stat.cosine,
            max_abs: stat.max_abs,
            correct: errors,
            best: best.clone(),
            ratio: r.is_finite().then_some(r),
            within,
        };
        if !within {
            let times = match row.ratio {
                Some(r) => format!("{r:.1}×"),
                None => "∞×".into(),
            };
            let relative = if best_rmse > 0.0 {
                String::new()
            } else {
                format!(", the correct one exact; relative {}", sci(stat.rmse / stat.ref_rms))
            };
            offenders.push((
                name.clone(),
                format!("{name}: {} RMSE {times} {best}'s ({} vs {}{relative})", pair.apr, sci(stat.rmse), sci(best_rmse)),
            ));
        }
        rows.push(row);
    }
    rows.sort_by(|a, b| b.severity().total_cmp(&a.severity()).then(b.apr_rmse.total_cmp(&a.apr_rmse)));
    let judged = rows.len();
    let correct_names: Vec<&str> = correct.iter().map(|(c, _)| *c).collect();
    let mut details = serde_json::json!({
        "width": pair.width,
        "correct": correct_names,
        "judged": judged,
        "worst": rows.iter().take(WORST_KEPT).collect::<Vec<_>>(),
        "offenders": offenders.iter().map(|(_, n)| n).collect::<Vec<_>>(),
        "extra": apr.extra,
        "unjudged": unjudged,
    });
    if !unavailable.is_empty() {
        details["unavailable"] = unavailable.iter().map(|(n, o)| format!("{n}: {}", why_unavailable(*o))).collect();
    }
    let evidence = evidence_from(invocation, None, None, details);
    if judged == 0 && offenders.is_empty() {
        return case.about(Subject::Harness).blocked(
            format!("no tensor of apr's {} export has a correct {} quantizer's to compare with", pair.apr, pair.width),
            "tensor-error: no tensor in common with a correct quantizer",
            evidence,
        );
    }
    if offenders.is_empty() {
        let worst = rows.first().map_or(String::new(), |r| {
            format!(
                " (worst: {} {})",
                r.tensor,
                r.ratio.map_or(format!("{} exact, relative {}", r.best, sci(r.apr_rmse / r.ref_rms)), |x| format!("{x:.2}×"))
            )
        });
        return case.pass(
            format!("all {judged} tensors within {}× the best correct {} quantizer's RMSE{worst}", tol.tensor_error_max_ratio, pair.width),
            evidence,
        );
    }
    let mut classes: Vec<String> = offenders.iter().map(|(n, _)| tensor_class(n)).collect();
    classes.sort();
    classes.dedup();
    let count = offenders.len();
    let notes: Vec<&str> = offenders.iter().take(3).map(|(_, n)| n.as_str()).collect();
    case.fail(
        format!(
            "{count} of {} tensors worse than a correct {} quantizer: {}",
            judged + apr.missing.len() + apr.shape_mismatch.len(),
            pair.width,
            notes.join("; ")
        ),
        format!("apr {} quantizes worse than a correct {} quantizer: {}", pair.apr, pair.width, classes.join(", ")),
        evidence,
    )
}

fn why_unavailable(obs: Option<&Observed<TensorErrors>>) -> String {
    match obs {
        Some(Observed::Blocked { step, reason, .. }) => format!("blocked by {step}: {}", first_line(reason)),
        Some(Observed::Skipped { reason }) => reason.clone(),
        Some(Observed::Failed { error, invocation }) => telling_line(error, invocation),
        Some(Observed::Ok { .. }) => "ready".into(),
        None => "no observation".into(),
    }
}

/// No correct quantizer of the width was dequantized: SKIP when none applies to this
/// model, else BLOCKED about the harness (a correct file that cannot be dequantized
/// is never apr's finding), under the first cause's signature.
fn no_correct(case: &Case, pair: &Pair, unavailable: &[(&str, Option<&Observed<TensorErrors>>)]) -> Outcome {
    let whys: Vec<String> = unavailable.iter().map(|(n, o)| format!("{n}: {}", why_unavailable(*o))).collect();
    let cause = unavailable.iter().find_map(|(_, o)| match o {
        Some(Observed::Skipped { .. }) => None,
        Some(Observed::Blocked { step, signature, .. }) => {
            Some(if signature.is_empty() { format!("blocked by {step}") } else { signature.clone() })
        }
        Some(Observed::Failed { error, invocation }) => Some(failure_signature(error, invocation)),
        Some(Observed::Ok { .. }) | None => Some("the harness made no observation".to_string()),
    });
    match cause {
        None => case.skip(format!("no correct {} quantizer for this model ({})", pair.width, whys.join("; "))),
        Some(signature) => case.about(Subject::Harness).blocked(
            format!("no correct {} quantizer's dequantized file to compare with ({})", pair.width, whys.join("; ")),
            signature,
            Evidence { actual: Some(whys.join("\n")), ..Default::default() },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::testutil::*;

    fn stat(rmse: f64, ref_rms: f64) -> TensorStat {
        TensorStat { shape: vec![4, 8], rmse, max_abs: 2.0 * rmse, cosine: 0.99, ref_rms }
    }

    /// Tensors name -> (rmse, ref_rms).
    fn errors(tensors: &[(&str, f64, f64)]) -> TensorErrors {
        TensorErrors { tensors: tensors.iter().map(|(n, r, s)| (n.to_string(), stat(*r, *s))).collect(), ..Default::default() }
    }

    const W: &str = "model.layers.3.mlp.down_proj.weight";
    const NORM: &str = "model.norm.weight";

    /// int8 against the two correct 8-bit files; int4 as good as Q4_0.
    fn ev(apr8: TensorErrors, q8: TensorErrors, lq8: Option<TensorErrors>) -> ModelEvidence {
        let mut ev = ModelEvidence::new("tiny");
        ev.tensor_errors.insert("int8".into(), ok(apr8));
        ev.tensor_errors.insert("q8_0-gguf".into(), ok(q8));
        if let Some(l) = lq8 {
            ev.tensor_errors.insert("lcpp-q8_0-gguf".into(), ok(l));
        }
        let four = errors(&[(W, 1e-2, 1.0)]);
        ev.tensor_errors.insert("int4".into(), ok(four.clone()));
        ev.tensor_errors.insert("q4_0-gguf".into(), ok(four.clone()));
        ev.tensor_errors.insert("lcpp-q4_0-pure-gguf".into(), ok(four));
        ev
    }

    fn int8(outs: &[Outcome]) -> &Outcome {
        find(outs, "int8")
    }

    #[test]
    fn the_tables_name_every_artifact_once() {
        let all: Vec<&str> = artifacts().collect();
        assert_eq!(all, ["int8", "q8_0-gguf", "lcpp-q8_0-gguf", "int4", "q4_0-gguf", "lcpp-q4_0-pure-gguf"]);
        assert!(is_apr("int8") && is_apr("int4"));
        assert!(!is_apr("q8_0-gguf") && !is_apr("int4-gguf"));
    }

    #[test]
    fn classes_hide_layer_indices_only() {
        assert_eq!(tensor_class(W), "model.layers.N.mlp.down_proj.weight");
        assert_eq!(tensor_class("h.10.attn.c_attn.bias"), "h.N.attn.c_attn.bias");
        assert_eq!(tensor_class("model.embed_tokens.weight"), "model.embed_tokens.weight");
        assert_eq!(tensor_class("a..b"), "a..b");
        assert_eq!(tensor_class("x.3a.y"), "x.3a.y");
    }

    #[test]
    fn ratio_and_bound_by_hand() {
        assert_eq!(ratio(4.0, 2.0), 2.0);
        assert_eq!(ratio(1.0, 0.0), f64::INFINITY);
        assert_eq!(ratio(0.0, 0.0), 1.0);
        let t = Tolerances::spec();
        assert_eq!(bound(1e-3, 1.0, &t), 2e-3);
        assert_eq!(bound(0.0, 2.0, &t), 2.0 * t.tensor_error_exact_rel_max);
        assert_eq!(bound(1e-9, 1.0, &t), t.tensor_error_exact_rel_max, "the floor wins over a tiny ratio bound");
    }

    #[test]
    fn within_twice_the_best_correct_error_passes() {
        // The best correct (lcpp, 1e-3) is the bar: 1.9e-3 is within 2×.
        let outs = judge(&ev(errors(&[(W, 1.9e-3, 1.0)]), errors(&[(W, 5e-3, 1.0)]), Some(errors(&[(W, 1e-3, 1.0)]))), &Tolerances::spec());
        let o = int8(&outs);
        assert_eq!(o.status, Verdict::Pass, "{o:?}");
        assert_eq!(o.subject, CONVERTER);
        assert!(o.note.contains("all 1 tensors within 2×") && o.note.contains("1.90×"), "{}", o.note);
        assert_eq!(o.evidence.details["worst"][0]["best"], "lcpp-q8_0-gguf");
        assert_eq!(o.evidence.details["correct"], serde_json::json!(["q8_0-gguf", "lcpp-q8_0-gguf"]));
        assert!(!o.evidence.invocations.is_empty(), "apr's export is the evidence");
        assert_eq!(find(&outs, "int4").status, Verdict::Pass);
    }

    #[test]
    fn exactly_at_the_bound_is_within_it() {
        let outs = judge(&ev(errors(&[(W, 2e-3, 1.0)]), errors(&[(W, 1e-3, 1.0)]), None), &Tolerances::spec());
        assert_eq!(int8(&outs).status, Verdict::Pass, "{:?}", int8(&outs));
    }

    #[test]
    fn beyond_the_ratio_is_the_converters_finding() {
        let apr = errors(&[(W, 4.1e-3, 1.0), ("model.layers.4.mlp.down_proj.weight", 3e-3, 1.0), (NORM, 0.0, 1.0)]);
        let q8 = errors(&[(W, 1e-3, 1.0), ("model.layers.4.mlp.down_proj.weight", 1e-3, 1.0), (NORM, 0.0, 1.0)]);
        let outs = judge(&ev(apr, q8, None), &Tolerances::spec());
        let o = int8(&outs);
        assert_eq!(o.status, Verdict::Fail, "{o:?}");
        assert_eq!(o.subject, CONVERTER);
        assert!(o.note.starts_with("2 of 3 tensors worse than a correct 8-bit quantizer"), "{}", o.note);
        assert!(o.note.contains("model.layers.3.mlp.down_proj.weight: int8 RMSE 4.1× q8_0-gguf's (4.1e-3 vs 1.0e-3)"), "{}", o.note);
        // Both layers' down_proj: one class, one group.
        assert_eq!(o.signature, "apr int8 quantizes worse than a correct 8-bit quantizer: model.layers.N.mlp.down_proj.weight");
        let worst = &o.evidence.details["worst"];
        assert_eq!(worst[0]["tensor"], W, "worst first: {worst}");
        assert_eq!(worst[0]["within"], false);
        assert_eq!(worst[2]["tensor"], NORM);
        assert_eq!(worst[2]["ratio"], 1.0, "exact against exact");
    }

    #[test]
    fn equal_ratios_sort_by_the_larger_error() {
        let apr = errors(&[("a", 2e-3, 1.0), ("b", 4e-3, 1.0)]);
        let q8 = errors(&[("a", 1e-3, 1.0), ("b", 2e-3, 1.0)]);
        let outs = judge(&ev(apr, q8, None), &Tolerances::spec());
        assert_eq!(int8(&outs).evidence.details["worst"][0]["tensor"], "b");
    }

    #[test]
    fn the_worst_ratio_comes_first_whatever_its_error() {
        // a: 10× a small error; b: 2× a larger one; c: ∞ (the correct one exact).
        let apr = errors(&[("a", 1e-3, 1.0), ("b", 4e-3, 1.0), ("c", 1e-7, 1.0)]);
        let q8 = errors(&[("a", 1e-4, 1.0), ("b", 2e-3, 1.0), ("c", 0.0, 1.0)]);
        let outs = judge(&ev(apr, q8, None), &Tolerances::spec());
        let worst = &int8(&outs).evidence.details["worst"];
        let order: Vec<&str> = (0..3).map(|i| worst[i]["tensor"].as_str().unwrap()).collect();
        assert_eq!(order, ["c", "a", "b"], "{worst}");
    }

    #[test]
    fn a_tensor_correct_quantizers_keep_exact_is_judged_against_the_floor() {
        let t = Tolerances::spec();
        // f32 rounding (relative 1e-7) is nothing; f16 storage (2.8e-4) is a finding.
        let ok_apr = errors(&[(NORM, 1e-7 * 3.0, 3.0)]);
        let outs = judge(&ev(ok_apr, errors(&[(NORM, 0.0, 3.0)]), None), &t);
        assert_eq!(int8(&outs).status, Verdict::Pass, "{:?}", int8(&outs));
        assert!(int8(&outs).note.ends_with("(worst: model.norm.weight q8_0-gguf exact, relative 1.0e-7)"), "{}", int8(&outs).note);
        let bad_apr = errors(&[(NORM, 2.8e-4 * 3.0, 3.0)]);
        let outs = judge(&ev(bad_apr, errors(&[(NORM, 0.0, 3.0)]), None), &t);
        let o = int8(&outs);
        assert_eq!(o.status, Verdict::Fail, "{o:?}");
        assert!(
            o.note.contains("model.norm.weight: int8 RMSE ∞× q8_0-gguf's (8.4e-4 vs 0.0e0, the correct one exact; relative 2.8e-4)"),
            "{}",
            o.note
        );
        assert!(o.evidence.details["worst"][0]["ratio"].is_null(), "∞ is kept as null");
    }

    #[test]
    fn a_nan_error_is_never_within() {
        let outs = judge(
            &ev(errors(&[(W, f64::NAN, 1.0), ("b", 1e-3, 1.0)]), errors(&[(W, 1e-3, 1.0), ("b", 1e-3, 1.0)]), None),
            &Tolerances::spec(),
        );
        let o = int8(&outs);
        assert_eq!(o.status, Verdict::Fail, "{o:?}");
        assert_eq!(o.evidence.details["worst"][0]["tensor"], W, "NaN sorts first");
        // A correct file's NaN does not make the bar.
        let outs =
            judge(&ev(errors(&[(W, 1e-3, 1.0)]), errors(&[(W, f64::NAN, 1.0)]), Some(errors(&[(W, 1e-3, 1.0)]))), &Tolerances::spec());
        assert_eq!(int8(&outs).status, Verdict::Pass);
        assert_eq!(int8(&outs).evidence.details["worst"][0]["best"], "lcpp-q8_0-gguf");
    }

    #[test]
    fn a_missing_or_reshaped_tensor_fails() {
        let mut apr = errors(&[(W, 1e-3, 1.0)]);
        apr.missing = vec![NORM.into()];
        let outs = judge(&ev(apr, errors(&[(W, 1e-3, 1.0)]), None), &Tolerances::spec());
        let o = int8(&outs);
        assert_eq!(o.status, Verdict::Fail);
        assert!(o.note.contains("model.norm.weight: missing from apr's int8 export"), "{}", o.note);
        assert!(o.note.starts_with("1 of 2 tensors"), "{}", o.note);
        assert!(o.signature.ends_with(": model.norm.weight"), "{}", o.signature);
        // One judged, one missing, one reshaped: three tensors, two offending.
        let mut apr = errors(&[("b", 1e-3, 1.0)]);
        apr.missing = vec![NORM.into()];
        apr.shape_mismatch.insert(W.into(), (vec![8, 4], vec![4, 8]));
        let outs = judge(&ev(apr, errors(&[(W, 1e-3, 1.0), ("b", 1e-3, 1.0)]), None), &Tolerances::spec());
        let o = int8(&outs);
        assert_eq!(o.status, Verdict::Fail, "{o:?}");
        assert!(o.note.starts_with("2 of 3 tensors"), "{}", o.note);
        assert_eq!(o.evidence.details["offenders"][1], format!("{W}: shape [4, 8], the checkpoint's [8, 4]"));
    }

    #[test]
    fn extra_tensors_are_listed_not_judged() {
        let mut apr = errors(&[(W, 1e-3, 1.0), ("lm_head.weight", 9.0, 1.0)]);
        apr.extra = vec!["rope.freqs".into()];
        let outs = judge(&ev(apr, errors(&[(W, 1e-3, 1.0)]), None), &Tolerances::spec());
        let o = int8(&outs);
        assert_eq!(o.status, Verdict::Pass, "{o:?}");
        assert_eq!(o.evidence.details["extra"], serde_json::json!(["rope.freqs"]));
        assert_eq!(o.evidence.details["unjudged"], serde_json::json!(["lm_head.weight"]));
        assert_eq!(o.evidence.details["judged"], 1);
    }

    #[test]
    fn a_correct_error_that_is_not_finite_is_no_bar() {
        // The only correct file's RMSE is NaN: the tensor is not judged (never against
        // the floor alone), so nothing is: BLOCKED.
        let outs = judge(&ev(errors(&[(W, 1e-3, 1.0)]), errors(&[(W, f64::NAN, 1.0)]), None), &Tolerances::spec());
        let o = int8(&outs);
        assert_eq!(o.status, Verdict::Blocked, "{o:?}");
        assert_eq!(o.evidence.details["unjudged"], serde_json::json!([W]));
    }

    #[test]
    fn nothing_in_common_is_blocked_not_passed() {
        let outs = judge(&ev(errors(&[("a", 1e-3, 1.0)]), errors(&[("b", 1e-3, 1.0)]), None), &Tolerances::spec());
        let o = int8(&outs);
        assert_eq!(o.status, Verdict::Blocked, "{o:?}");
        assert_eq!(o.subject, Subject::Harness);
    }

    #[test]
    fn apr_export_failing_is_the_converters_fail() {
        let mut e = ev(errors(&[]), errors(&[(W, 1e-3, 1.0)]), None);
        let failed = Observed::Failed {
            error: "exit 1".into(),
            invocation: Invocation {
                command: vec!["apr".into(), "export".into()],
                exit_code: Some(1),
                stderr: "error: unsupported".into(),
                ..Default::default()
            },
        };
        e.tensor_errors.insert("int8".into(), failed);
        let o = judge(&e, &Tolerances::spec()).remove(0);
        assert_eq!(o.status, Verdict::Fail, "{o:?}");
        assert_eq!(o.subject, CONVERTER);
        assert_eq!(o.signature, "apr: error: unsupported");
        assert_eq!(o.evidence.invocations[0].command[0], "apr");
    }

    #[test]
    fn missing_observations_are_blocked() {
        let o = judge(&ModelEvidence::new("tiny"), &Tolerances::spec()).remove(0);
        assert_eq!((o.status, o.subject.clone()), (Verdict::Blocked, Subject::Harness), "{o:?}");
        let mut e = ev(errors(&[(W, 1e-3, 1.0)]), errors(&[]), None);
        e.tensor_errors
            .insert("int8".into(), Observed::Blocked { step: "convert int8".into(), reason: "r".into(), signature: "apr: boom".into() });
        let o = judge(&e, &Tolerances::spec()).remove(0);
        assert_eq!((o.status, o.signature.as_str()), (Verdict::Blocked, "apr: boom"));
    }

    #[test]
    fn a_correct_file_that_cannot_be_dequantized_is_never_apr_s() {
        let mut e = ev(errors(&[(W, 1e-3, 1.0)]), errors(&[]), None);
        let failed = Observed::Failed {
            error: "exit 1".into(),
            invocation: Invocation {
                command: vec!["/x/oracle-gen".into()],
                exit_code: Some(1),
                stderr: "error: bad gguf".into(),
                ..Default::default()
            },
        };
        e.tensor_errors.insert("q8_0-gguf".into(), failed);
        let o = judge(&e, &Tolerances::spec()).remove(0);
        assert_eq!((o.status, o.subject.clone()), (Verdict::Blocked, Subject::Harness), "{o:?}");
        assert_eq!(o.signature, "oracle-gen: error: bad gguf");
        assert!(o.note.contains("lcpp-q8_0-gguf: no observation"), "{}", o.note);
        assert_eq!(o.evidence.actual.as_deref(), Some("q8_0-gguf: error: bad gguf\nlcpp-q8_0-gguf: no observation"));
        // Blocked upstream: its signature; no observation at all: the harness's.
        e.tensor_errors.insert(
            "q8_0-gguf".into(),
            Observed::Blocked { step: "convert q8_0-gguf".into(), reason: "r".into(), signature: "candle: x".into() },
        );
        let o = judge(&e, &Tolerances::spec()).remove(0);
        assert_eq!((o.status, o.signature.as_str()), (Verdict::Blocked, "candle: x"));
        e.tensor_errors.insert(
            "q8_0-gguf".into(),
            Observed::Blocked { step: "convert q8_0-gguf".into(), reason: "r".into(), signature: String::new() },
        );
        assert_eq!(judge(&e, &Tolerances::spec())[0].signature, "blocked by convert q8_0-gguf");
        e.tensor_errors.remove("q8_0-gguf");
        let o = judge(&e, &Tolerances::spec()).remove(0);
        assert_eq!((o.status, o.signature.as_str()), (Verdict::Blocked, "the harness made no observation"));
    }

    #[test]
    fn no_correct_quantizer_for_the_model_is_a_skip() {
        let mut e = ev(errors(&[(W, 1e-3, 1.0)]), errors(&[]), None);
        e.tensor_errors.insert("q8_0-gguf".into(), Observed::Skipped { reason: "candle has no quantized gpt2 model".into() });
        e.tensor_errors.insert("lcpp-q8_0-gguf".into(), Observed::Skipped { reason: "llama.cpp off".into() });
        let o = judge(&e, &Tolerances::spec()).remove(0);
        assert_eq!(o.status, Verdict::Skip, "{o:?}");
        assert!(o.note.contains("candle has no quantized gpt2 model") && o.note.contains("llama.cpp off"), "{}", o.note);
        // One skipped, one ready: judged on the ready one, the other named.
        e.tensor_errors.insert("lcpp-q8_0-gguf".into(), ok(errors(&[(W, 1e-3, 1.0)])));
        let o = judge(&e, &Tolerances::spec()).remove(0);
        assert_eq!(o.status, Verdict::Pass, "{o:?}");
        assert_eq!(o.evidence.details["unavailable"], serde_json::json!(["q8_0-gguf: candle has no quantized gpt2 model"]));
    }

    #[test]
    fn unavailable_reasons_are_readable() {
        assert_eq!(why_unavailable(None), "no observation");
        assert_eq!(why_unavailable(Some(&ok(TensorErrors::default()))), "ready");
        let b: Observed<TensorErrors> = Observed::Blocked { step: "s".into(), reason: "r\nmore".into(), signature: String::new() };
        assert_eq!(why_unavailable(Some(&b)), "blocked by s: r");
    }

    #[test]
    fn stats_survive_json_with_nan() {
        let e = errors(&[(W, f64::NAN, 1.0), (NORM, 1e-3, 1.0)]);
        let back: TensorErrors = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert!(back.tensors[W].rmse.is_nan());
        assert_eq!(back.tensors[NORM], e.tensors[NORM]);
    }
}
