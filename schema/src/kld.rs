//! The statistics of drift: how much a runtime's next-token distributions differ
//! from the oracle's over a long text, teacher-forced on the same ids in the same
//! windows (llama.cpp's `llama-perplexity --kl-divergence`): PPL of both with the ln
//! ratio and its uncertainty, mean KLD with its error, the KLD tail (max,
//! 99.9/99/95/90th percentiles, median), Δp of the scored token (mean, RMS) and
//! "same top-1". Pure math on rows, here so that every scorer (oracle-gen's candle,
//! llamacpp-comparator) streams the oracle's base file (`logprobs`) against its own
//! rows and reports one `KldReport`; the judge (xtask `judge::kld`) reads it.
//!
//! A runtime that reports only its own top-k (apr: `apr run --logprobs K` gives the
//! K best of the full distribution at the step after the prompt) allows less: same
//! top-1 exactly, Δp where the scored token is in its top-k, and a *lower bound* of
//! the KLD (the distributions coarse-grained to the k ids and one bucket for the
//! rest: KL can only shrink under that map). Its report says `coverage: top-k` and
//! never stands for a full-vocabulary figure.
//!
//! Percentiles interpolate linearly between the closest ranks of the sorted values
//! (numpy's default); an uncertainty is the standard error of a mean over positions
//! (sample variance / (n − 1)), propagated to PPL as PPL × error of the mean NLL, to
//! RMS Δp as error(mean Δp²) / (2 RMS), to a fraction f as √(f(1 − f)/(n − 1)).

use serde::{Deserialize, Serialize};

/// What one scored position gives: the KLD, the scored token's log-prob under each,
/// and whether both put the same id on top.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowStats {
    pub kld: f64,
    pub lp_reference: f64,
    pub lp_runtime: f64,
    pub same_top1: bool,
}

fn log_sum_exp(row: &[f32]) -> f64 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    if !max.is_finite() {
        return max;
    }
    max + row.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln()
}

/// Index of the greatest value, the lowest index on ties (the oracle's argmax).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// KL(reference ‖ runtime) = Σ p (log p − log q) over the whole vocabulary, in f64,
/// each row renormalised first (a stored f16 row sums to 1 only within its rounding).
/// Identical rows give exactly 0.
pub fn compare_row(reference: &[f32], runtime: &[f32], target: usize) -> RowStats {
    let (zp, zq) = (log_sum_exp(reference), log_sum_exp(runtime));
    let mut kld = 0.0f64;
    for (&p, &q) in reference.iter().zip(runtime) {
        let lp = p as f64 - zp;
        let lq = q as f64 - zq;
        let pp = lp.exp();
        if pp > 0.0 {
            kld += pp * (lp - lq);
        }
    }
    RowStats {
        kld,
        lp_reference: reference[target] as f64 - zp,
        lp_runtime: runtime[target] as f64 - zq,
        same_top1: argmax(reference) == argmax(runtime),
    }
}

/// A value and its standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Est {
    #[serde(deserialize_with = "null_as_nan")]
    pub value: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub err: f64,
}

/// JSON has no NaN: serde_json writes an undefined statistic (a mean of nothing, the
/// error of one sample) as null; it reads back as NaN, so a report round-trips.
fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn mean_err(xs: &[f64]) -> Est {
    let n = xs.len();
    if n == 0 {
        return Est { value: f64::NAN, err: f64::NAN };
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return Est { value: mean, err: f64::NAN };
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
    Est { value: mean, err: (var / (n - 1) as f64).sqrt() }
}

fn fraction(k: usize, n: usize) -> Est {
    let f = k as f64 / n.max(1) as f64;
    Est { value: f, err: if n > 1 { (f * (1.0 - f) / (n - 1) as f64).sqrt() } else { f64::NAN } }
}

/// The value at `fraction` (0..=1) of sorted `values`, linear between closest ranks.
pub fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let pos = fraction.clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
        }
    }
}

/// The fractions the KLD quantile curve is kept at (for the plot).
pub const CURVE: [f64; 16] = [0.1, 0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 1.0];

/// How much of the distribution a report saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Coverage {
    /// Every id of the vocabulary, at every scored position.
    FullVocabulary,
    /// The runtime's own top-k at `sampled` scored positions: KLD is a lower bound.
    TopK { k: usize, sampled: usize },
}

/// One runtime on one artifact against the oracle (llama.cpp's KLD block).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KldReport {
    pub coverage: Coverage,
    /// Positions compared.
    pub n: usize,
    /// sha256 of the scored ids (the same windows for every runtime).
    pub ids_sha256: String,
    pub ppl_runtime: Est,
    pub ppl_reference: Est,
    /// mean of ln p_ref(token) − ln p_rt(token) = ln(PPL_rt / PPL_ref).
    pub ln_ppl_ratio: Est,
    /// Full vocabulary: the KLD; top-k: its lower bound.
    pub kld_mean: Est,
    #[serde(deserialize_with = "null_as_nan")]
    pub kld_max: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub kld_p999: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub kld_p99: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub kld_p95: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub kld_p90: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub kld_median: f64,
    /// (fraction, KLD) at `CURVE`.
    pub kld_curve: Vec<(f64, f64)>,
    /// p_rt(token) − p_ref(token): mean and RMS (probabilities, not %).
    pub dp_mean: Est,
    pub dp_rms: Est,
    pub same_top1: Est,
    /// Top-k only: positions whose context the runtime encoded otherwise (not compared).
    #[serde(default)]
    pub context_differs: usize,
    /// Top-k only: positions whose scored token was outside the runtime's top-k
    /// (Δp and the PPL figures leave them out).
    #[serde(default)]
    pub token_outside_topk: usize,
}

/// The report of full-vocabulary rows.
pub fn summarize(rows: &[RowStats], ids_sha256: &str) -> KldReport {
    let mut klds: Vec<f64> = rows.iter().map(|r| r.kld).collect();
    klds.sort_by(f64::total_cmp);
    let nll_ref: Vec<f64> = rows.iter().map(|r| -r.lp_reference).collect();
    let nll_rt: Vec<f64> = rows.iter().map(|r| -r.lp_runtime).collect();
    let diff: Vec<f64> = rows.iter().map(|r| r.lp_reference - r.lp_runtime).collect();
    let dp: Vec<f64> = rows.iter().map(|r| r.lp_runtime.exp() - r.lp_reference.exp()).collect();
    let ppl = |e: Est| Est { value: e.value.exp(), err: e.value.exp() * e.err };
    KldReport {
        coverage: Coverage::FullVocabulary,
        n: rows.len(),
        ids_sha256: ids_sha256.to_string(),
        ppl_runtime: ppl(mean_err(&nll_rt)),
        ppl_reference: ppl(mean_err(&nll_ref)),
        ln_ppl_ratio: mean_err(&diff),
        kld_mean: mean_err(&klds),
        kld_max: klds.last().copied().unwrap_or(f64::NAN),
        kld_p999: percentile(&klds, 0.999),
        kld_p99: percentile(&klds, 0.99),
        kld_p95: percentile(&klds, 0.95),
        kld_p90: percentile(&klds, 0.90),
        kld_median: percentile(&klds, 0.5),
        kld_curve: if klds.is_empty() { vec![] } else { CURVE.iter().map(|&f| (f, percentile(&klds, f))).collect() },
        dp_mean: mean_err(&dp),
        dp_rms: rms(&dp),
        same_top1: fraction(rows.iter().filter(|r| r.same_top1).count(), rows.len()),
        context_differs: 0,
        token_outside_topk: 0,
    }
}

fn rms(xs: &[f64]) -> Est {
    let sq: Vec<f64> = xs.iter().map(|x| x * x).collect();
    let m = mean_err(&sq);
    let r = m.value.sqrt();
    Est { value: r, err: if r > 0.0 { m.err / (2.0 * r) } else { 0.0 } }
}

/// One position where a runtime reported only its top-k (ids with full-vocabulary
/// log-probs), against the oracle's full row.
#[derive(Debug, Clone, PartialEq)]
pub struct TopKRow {
    /// The runtime encoded the context as the windows hold it.
    pub context_matches: bool,
    pub same_top1: bool,
    /// KL of the coarse-grained distributions: ≤ the full KL.
    pub kld_lower_bound: f64,
    pub lp_reference: f64,
    /// None: the scored token is outside the runtime's top-k.
    pub lp_runtime: Option<f64>,
}

/// The top-k comparison at one position: `reference` is the oracle's full row,
/// `runtime_top` the runtime's (id, log-prob) list, log-probs normalised over the
/// full vocabulary (as apr reports them).
pub fn compare_top_k(reference: &[f32], runtime_top: &[(u32, f64)], target: usize) -> TopKRow {
    let zp = log_sum_exp(reference);
    let lp = |id: usize| reference.get(id).map_or(f64::NEG_INFINITY, |&v| v as f64 - zp);
    let runtime_best = runtime_top.iter().max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0))).map(|t| t.0 as usize);
    let (mut p_s, mut q_s, mut bound) = (0.0f64, 0.0f64, 0.0f64);
    let mut seen = std::collections::BTreeSet::new();
    for &(id, lq) in runtime_top {
        if !seen.insert(id) {
            continue;
        }
        let lpi = lp(id as usize);
        let p = lpi.exp();
        p_s += p;
        q_s += lq.exp();
        if p > 0.0 {
            bound += p * (lpi - lq);
        }
    }
    let (p_rest, q_rest) = ((1.0 - p_s).max(0.0), (1.0 - q_s).max(1e-12));
    if p_rest > 0.0 {
        bound += p_rest * (p_rest / q_rest).ln();
    }
    TopKRow {
        context_matches: true,
        same_top1: runtime_best == Some(argmax(reference)),
        kld_lower_bound: bound,
        lp_reference: lp(target),
        lp_runtime: runtime_top.iter().find(|t| t.0 as usize == target).map(|t| t.1),
    }
}

/// The top-k comparison where the reference too is known only by its top-k list
/// (a golden keeps the oracle's k best ids, with log-probs normalised over the full
/// vocabulary): the distributions coarse-grained to the ids both lists hold, one
/// bucket for the rest. Still a lower bound of the full KL (the same map applied to
/// both), only a looser one. `target` is the scored token.
pub fn compare_top_k_lists(reference_top: &[(u32, f64)], runtime_top: &[(u32, f64)], target: u32) -> TopKRow {
    let best = |top: &[(u32, f64)]| top.iter().max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0))).map(|t| t.0);
    let (mut p_s, mut q_s, mut bound) = (0.0f64, 0.0f64, 0.0f64);
    let mut seen = std::collections::BTreeSet::new();
    for &(id, lq) in runtime_top {
        let Some(&(_, lp)) = reference_top.iter().find(|r| r.0 == id) else { continue };
        if !seen.insert(id) {
            continue;
        }
        p_s += lp.exp();
        q_s += lq.exp();
        bound += lp.exp() * (lp - lq);
    }
    let (p_rest, q_rest) = ((1.0 - p_s).max(0.0), (1.0 - q_s).max(1e-12));
    if p_rest > 0.0 {
        bound += p_rest * (p_rest / q_rest).ln();
    }
    let lp = |top: &[(u32, f64)]| top.iter().find(|t| t.0 == target).map(|t| t.1);
    TopKRow {
        context_matches: true,
        same_top1: best(reference_top).is_some() && best(reference_top) == best(runtime_top),
        kld_lower_bound: bound,
        lp_reference: lp(reference_top).unwrap_or(f64::NAN),
        lp_runtime: lp(runtime_top),
    }
}

/// The report of top-k rows (only those whose context matched are compared).
pub fn summarize_top_k(rows: &[TopKRow], k: usize, ids_sha256: &str) -> KldReport {
    let compared: Vec<&TopKRow> = rows.iter().filter(|r| r.context_matches).collect();
    let full: Vec<RowStats> = compared
        .iter()
        .map(|r| RowStats {
            kld: r.kld_lower_bound,
            lp_reference: r.lp_reference,
            lp_runtime: r.lp_runtime.unwrap_or(f64::NAN),
            same_top1: r.same_top1,
        })
        .collect();
    let mut report = summarize(&full, ids_sha256);
    // PPL and Δp only where the runtime's log-prob of the token is known.
    let known: Vec<RowStats> = full.iter().copied().filter(|r| r.lp_runtime.is_finite()).collect();
    let part = summarize(&known, ids_sha256);
    report.ppl_runtime = part.ppl_runtime;
    report.ppl_reference = part.ppl_reference;
    report.ln_ppl_ratio = part.ln_ppl_ratio;
    report.dp_mean = part.dp_mean;
    report.dp_rms = part.dp_rms;
    report.coverage = Coverage::TopK { k, sampled: rows.len() };
    report.context_differs = rows.len() - compared.len();
    report.token_outside_topk = full.len() - known.len();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_softmax(logits: &[f64]) -> Vec<f32> {
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let z = max + logits.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
        logits.iter().map(|l| (l - z) as f32).collect()
    }

    /// KL straight from the definition, probabilities in f64.
    fn reference_kl(p: &[f64], q: &[f64]) -> f64 {
        let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
        p.iter().zip(q).map(|(a, b)| if *a > 0.0 { a / sp * ((a / sp) / (b / sq)).ln() } else { 0.0 }).sum()
    }

    #[test]
    fn kld_is_exactly_zero_on_identical_rows_and_matches_the_definition() {
        let p = log_softmax(&[2.0, 1.0, 0.5, -3.0, 0.0]);
        let r = compare_row(&p, &p, 1);
        assert_eq!(r.kld, 0.0);
        assert!(r.same_top1);
        assert_eq!(r.lp_reference, r.lp_runtime);
        let q = log_softmax(&[1.0, 2.0, 0.5, -1.0, 0.3]);
        let r = compare_row(&p, &q, 3);
        let pe: Vec<f64> = p.iter().map(|&l| (l as f64).exp()).collect();
        let qe: Vec<f64> = q.iter().map(|&l| (l as f64).exp()).collect();
        assert!((r.kld - reference_kl(&pe, &qe)).abs() < 1e-6, "{} vs {}", r.kld, reference_kl(&pe, &qe));
        assert!(r.kld > 0.0 && !r.same_top1);
        // unnormalised rows (a logit row, an f16-rounded row) are renormalised first
        let shifted: Vec<f32> = q.iter().map(|v| v + 7.0).collect();
        assert!((compare_row(&p, &shifted, 3).kld - r.kld).abs() < 1e-6);
        // a zero-probability reference id adds nothing
        let z = compare_row(&[0.0, f32::NEG_INFINITY], &[-0.1, -2.4], 0);
        assert!(z.kld.is_finite() && z.kld > 0.0);
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let v: Vec<f64> = (0..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 5.0);
        assert_eq!(percentile(&v, 0.99), 9.9);
        assert_eq!(percentile(&v, 1.0), 10.0);
        assert_eq!(percentile(&v, 0.0), 0.0);
        assert_eq!(percentile(&[3.0, 1.0 + 2.0], 0.25), 3.0);
        assert_eq!(percentile(&[4.0], 0.9), 4.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn summary_statistics_match_a_direct_computation() {
        let rows: Vec<RowStats> = [(0.1, -1.0, -1.2, true), (0.3, -2.0, -2.0, false), (0.0, -0.5, -0.4, true), (0.2, -3.0, -3.5, true)]
            .iter()
            .map(|&(kld, a, b, s)| RowStats { kld, lp_reference: a, lp_runtime: b, same_top1: s })
            .collect();
        let r = summarize(&rows, "sha");
        assert_eq!(r.n, 4);
        assert!((r.kld_mean.value - 0.15).abs() < 1e-12);
        // sample sd of [0.1, 0.3, 0, 0.2] with /n variance and /(n-1) for the error
        let var: f64 = [0.05f64, 0.15, -0.15, 0.05].iter().map(|d| d * d).sum::<f64>() / 4.0;
        assert!((r.kld_mean.err - (var / 3.0).sqrt()).abs() < 1e-12);
        assert!((r.ppl_reference.value - (6.5f64 / 4.0).exp()).abs() < 1e-9);
        assert!((r.ppl_runtime.value - (7.1f64 / 4.0).exp()).abs() < 1e-9);
        assert!((r.ln_ppl_ratio.value - 0.15).abs() < 1e-12, "{}", r.ln_ppl_ratio.value);
        assert!((r.same_top1.value - 0.75).abs() < 1e-12);
        assert!((r.same_top1.err - (0.75f64 * 0.25 / 3.0).sqrt()).abs() < 1e-12);
        let dp: Vec<f64> = rows.iter().map(|r| r.lp_runtime.exp() - r.lp_reference.exp()).collect();
        assert!((r.dp_mean.value - dp.iter().sum::<f64>() / 4.0).abs() < 1e-12);
        assert!((r.dp_rms.value - (dp.iter().map(|d| d * d).sum::<f64>() / 4.0).sqrt()).abs() < 1e-12);
        assert_eq!(r.kld_max, 0.3);
        assert!((r.kld_median - 0.15).abs() < 1e-12);
        assert_eq!(r.kld_curve.len(), CURVE.len());
        // identical runtimes: every KLD 0, ln ratio 0, same top-1 100%
        let p = log_softmax(&[1.0, 0.0, -1.0]);
        let same: Vec<RowStats> = (0..3).map(|t| compare_row(&p, &p, t)).collect();
        let s = summarize(&same, "x");
        assert_eq!((s.kld_mean.value, s.kld_max, s.ln_ppl_ratio.value, s.same_top1.value), (0.0, 0.0, 0.0, 1.0));
    }

    #[test]
    fn a_report_with_undefined_statistics_round_trips_through_json() {
        let empty = summarize(&[], "x");
        assert!(empty.kld_mean.value.is_nan() && empty.kld_max.is_nan());
        let json = serde_json::to_value(&empty).unwrap();
        assert!(json["kld_max"].is_null() && json["kld_mean"]["err"].is_null(), "{json}");
        let back: KldReport = serde_json::from_value(json).unwrap();
        assert!(back.kld_mean.value.is_nan() && back.kld_median.is_nan() && back.ppl_runtime.err.is_nan());
        assert_eq!((back.n, back.coverage), (0, Coverage::FullVocabulary));
    }

    #[test]
    fn top_k_lists_on_both_sides_still_bound_the_full_kld() {
        let p = log_softmax(&[3.0, 2.0, 1.0, 0.5, -1.0, 0.0]);
        let q = log_softmax(&[2.0, 3.0, 0.0, 1.5, -2.0, 0.5]);
        let full = compare_row(&p, &q, 0).kld;
        let list = |row: &[f32], ids: &[u32]| -> Vec<(u32, f64)> { ids.iter().map(|&i| (i, row[i as usize] as f64)).collect() };
        // the reference given whole as a list: the same bound as with its full row
        let all: Vec<u32> = (0..6).collect();
        let whole = compare_top_k_lists(&list(&p, &all), &list(&q, &[1, 0, 3]), 0);
        let row = compare_top_k(&p, &list(&q, &[1, 0, 3]), 0);
        assert!((whole.kld_lower_bound - row.kld_lower_bound).abs() < 1e-7, "{whole:?} {row:?}");
        // fewer shared ids: a looser bound, never above the full KL, never below 0
        let few = compare_top_k_lists(&list(&p, &[0, 2]), &list(&q, &[1, 0, 3]), 0);
        assert!(few.kld_lower_bound >= -1e-12 && few.kld_lower_bound <= whole.kld_lower_bound + 1e-7, "{few:?}");
        assert!(whole.kld_lower_bound <= full + 1e-12 && whole.kld_lower_bound > 0.0, "{} vs {full}", whole.kld_lower_bound);
        assert!(!few.same_top1, "the oracle's best is 0, the runtime's 1");
        assert_eq!((few.lp_reference, few.lp_runtime), (p[0] as f64, Some(q[0] as f64)));
        assert_eq!(compare_top_k_lists(&list(&p, &[0, 2]), &list(&q, &[1, 3]), 0).lp_runtime, None);
        // identical lists: 0, same top-1
        let same = compare_top_k_lists(&list(&p, &[0, 1]), &list(&p, &[1, 0]), 1);
        assert!(same.kld_lower_bound.abs() < 1e-12 && same.same_top1, "{same:?}");
    }

    #[test]
    fn top_k_gives_a_lower_bound_of_the_full_kld() {
        let p_logits = [3.0, 2.5, 1.0, 0.0, -1.0, -2.0];
        let q_logits = [2.0, 3.0, 0.5, 1.0, -1.5, 0.5];
        let (p, q) = (log_softmax(&p_logits), log_softmax(&q_logits));
        let full = compare_row(&p, &q, 2).kld;
        for k in 1..=6 {
            let mut top: Vec<(u32, f64)> = q.iter().enumerate().map(|(i, &l)| (i as u32, l as f64)).collect();
            top.sort_by(|a, b| b.1.total_cmp(&a.1));
            top.truncate(k);
            let r = compare_top_k(&p, &top, 2);
            assert!(r.kld_lower_bound <= full + 1e-6, "k={k}: {} > {full}", r.kld_lower_bound);
            assert!(r.kld_lower_bound >= -1e-12);
            assert!(!r.same_top1, "the runtime's top-1 is id 1, the oracle's id 0");
            if k == 6 {
                assert!((r.kld_lower_bound - full).abs() < 1e-6, "the whole vocabulary gives the KLD itself");
                assert_eq!(r.lp_runtime.map(|l| l as f32), Some(q[2]));
            }
        }
        let rows = vec![
            compare_top_k(&p, &[(0, p[0] as f64), (1, p[1] as f64)], 0),
            TopKRow { context_matches: false, same_top1: false, kld_lower_bound: 9.0, lp_reference: -1.0, lp_runtime: None },
        ];
        assert!(rows[0].kld_lower_bound.abs() < 1e-9, "same top-2 and the same rest: bound 0");
        let s = summarize_top_k(&rows, 2, "x");
        assert_eq!((s.n, s.context_differs, s.coverage.clone()), (1, 1, Coverage::TopK { k: 2, sampled: 2 }));
    }
}
