//! Verifying a committed golden against the one the oracle computes now, on this
//! machine. The claims are the prompt ids, the generated tokens (and so the text and
//! the stop reason) and the per-step top-k log-probabilities; provenance (oracle
//! version, cache key, host) is not compared.
//!
//! The rule takes the precision's error as a parameter: every log-probability may
//! move by at most `logprob` nats. Two candidates can then swap places only where
//! the committed golden had them within `2 × logprob` of each other (each side moves
//! by at most `logprob`): a *near tie*. Where `near_tie_flips` is allowed (reduced
//! precisions, whose arithmetic depends on the CPU's instruction set), the first
//! differing token may sit at such a near tie; the steps after it have another
//! context and are not compared. f32 goldens allow no flip: their tokens are exact.

use crate::golden::{Golden, TokenLogprob};
use serde::{Deserialize, Serialize};

/// How much a fresh golden may differ from the committed one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GoldenTolerance {
    /// Largest |Δ log-probability| of an id present in both top-k lists (nats).
    pub logprob: f32,
    /// May the first differing token sit at a near tie of the committed golden?
    pub near_tie_flips: bool,
}

/// A token that differs where the committed golden had a near tie.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenFlip {
    pub step: usize,
    pub committed: u32,
    pub fresh: u32,
    /// Committed top-1 log-probability minus the committed log-probability of the
    /// fresh token (nats).
    pub gap: f32,
}

/// What verifying one golden found. `problems` empty: the golden holds here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub tolerance: GoldenTolerance,
    /// Every claim equal to the last bit.
    pub identical: bool,
    /// Steps whose top-k lists were compared (those with the same context).
    pub steps_compared: usize,
    /// Largest |Δ log-probability| over ids present in both top-k lists.
    pub max_logprob_delta: f32,
    pub max_delta_step: Option<usize>,
    /// The first differing token, when it is an allowed near-tie flip.
    pub flip: Option<TokenFlip>,
    /// Steps whose top-k ids (in order) changed, within the tolerance.
    pub topk_reordered: Vec<usize>,
    /// Differences beyond the tolerance, one line each.
    pub problems: Vec<String>,
}

impl Verification {
    pub fn holds(&self) -> bool {
        self.problems.is_empty()
    }

    /// One line for notes: "identical", "within 1.0 nats: max |Δ| 0.352 (step 23); …".
    pub fn summary(&self) -> String {
        if self.identical {
            return "identical".into();
        }
        let mut parts = vec![format!(
            "max |Δlogprob| {:.3e}{}",
            self.max_logprob_delta,
            self.max_delta_step.map(|s| format!(" (step {s})")).unwrap_or_default()
        )];
        if let Some(f) = &self.flip {
            parts.push(format!("near-tie flip at step {}: {} → {} (gap {:.3} nats)", f.step, f.committed, f.fresh, f.gap));
        }
        if !self.topk_reordered.is_empty() {
            parts.push(format!("top-k reordered at {} step(s)", self.topk_reordered.len()));
        }
        if self.holds() {
            format!("within {} nats: {}", self.tolerance.logprob, parts.join("; "))
        } else {
            format!("{}; {}", self.problems.join("; "), parts.join("; "))
        }
    }
}

fn top1(step: &[TokenLogprob]) -> Option<f32> {
    step.iter().map(|t| t.logprob).reduce(f32::max)
}

fn kth(step: &[TokenLogprob]) -> Option<f32> {
    step.iter().map(|t| t.logprob).reduce(f32::min)
}

/// Compares `fresh` (computed now) with `committed` under `tol`.
pub fn verify(committed: &Golden, fresh: &Golden, tol: GoldenTolerance) -> Verification {
    let mut v = Verification {
        tolerance: tol,
        identical: false,
        steps_compared: 0,
        max_logprob_delta: 0.0,
        max_delta_step: None,
        flip: None,
        topk_reordered: Vec::new(),
        problems: Vec::new(),
    };
    if committed.prompt_tokens != fresh.prompt_tokens {
        v.problems.push(format!("prompt ids {:?} -> {:?}", committed.prompt_tokens, fresh.prompt_tokens));
    }
    let (a, b) = (&committed.tokens, &fresh.tokens);
    let divergence = a.iter().zip(b).position(|(x, y)| x != y);
    let mut steps = committed.top_logprobs.len().min(fresh.top_logprobs.len());
    match divergence {
        None if a.len() != b.len() => {
            v.problems.push(format!("{} tokens -> {} tokens (one is a prefix of the other)", a.len(), b.len()));
        }
        None => {
            if committed.text != fresh.text {
                v.problems.push(format!("same tokens, text {:?} -> {:?}", committed.text, fresh.text));
            }
            if committed.stop_reason != fresh.stop_reason {
                v.problems.push(format!("same tokens, stop_reason {:?} -> {:?}", committed.stop_reason, fresh.stop_reason));
            }
        }
        Some(step) => {
            steps = steps.min(step + 1);
            let top: &[TokenLogprob] = committed.top_logprobs.get(step).map(Vec::as_slice).unwrap_or(&[]);
            let gap = match (top1(top), top.iter().find(|t| t.id == b[step])) {
                (Some(t1), Some(t)) => Some(t1 - t.logprob),
                _ => None,
            };
            match gap {
                Some(gap) if tol.near_tie_flips && gap <= 2.0 * tol.logprob => {
                    v.flip = Some(TokenFlip { step, committed: a[step], fresh: b[step], gap });
                }
                Some(gap) => v.problems.push(format!(
                    "step {step}: token {} -> {} where the committed golden was confident (gap {gap:.3} nats > {:.3}{})",
                    a[step],
                    b[step],
                    2.0 * tol.logprob,
                    if tol.near_tie_flips { "" } else { "; no flip allowed at this precision" }
                )),
                None => v.problems.push(format!("step {step}: token {} -> {}, outside the committed top-{}", a[step], b[step], top.len())),
            }
        }
    }
    v.steps_compared = steps;
    let mut worst: Option<(usize, u32, f32)> = None;
    let mut boundary: Vec<String> = Vec::new();
    for (step, (ca, fb)) in committed.top_logprobs.iter().zip(&fresh.top_logprobs).take(steps).enumerate() {
        if ca.iter().map(|t| t.id).ne(fb.iter().map(|t| t.id)) {
            v.topk_reordered.push(step);
        }
        for t in ca {
            match fb.iter().find(|u| u.id == t.id) {
                Some(u) => {
                    let d = (t.logprob - u.logprob).abs();
                    if v.max_delta_step.is_none() || d > v.max_logprob_delta {
                        v.max_logprob_delta = d;
                        v.max_delta_step = Some(step);
                    }
                    if d > tol.logprob && worst.is_none_or(|(_, _, w)| d > w) {
                        worst = Some((step, t.id, d));
                    }
                }
                // Fell out of the fresh top-k: its fresh value is below the fresh k-th,
                // so its committed value can be at most `logprob` above that.
                None => {
                    if let Some(k) = kth(fb) {
                        if t.logprob > k + tol.logprob {
                            boundary.push(format!("step {step}: id {} ({:.3}) left the top-k (k-th now {k:.3})", t.id, t.logprob));
                        }
                    }
                }
            }
        }
        for u in fb {
            if !ca.iter().any(|t| t.id == u.id) {
                if let Some(k) = kth(ca) {
                    if u.logprob > k + tol.logprob {
                        boundary.push(format!("step {step}: id {} ({:.3}) entered the top-k (k-th was {k:.3})", u.id, u.logprob));
                    }
                }
            }
        }
    }
    if let Some((step, id, d)) = worst {
        v.problems.push(format!("step {step}: logprob of id {id} moved by {d:.3e} (> {:.0e})", tol.logprob));
    }
    if let Some(first) = boundary.first() {
        v.problems.push(format!("top-k changed beyond the tolerance at {} place(s), first {first}", boundary.len()));
    }
    v.identical =
        v.problems.is_empty() && divergence.is_none() && committed.top_logprobs == fresh.top_logprobs && committed.text == fresh.text;
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golden::tests::sample;

    const BF16: GoldenTolerance = GoldenTolerance { logprob: 0.5, near_tie_flips: true };
    const F32: GoldenTolerance = GoldenTolerance { logprob: 1e-3, near_tie_flips: false };

    fn tl(id: u32, logprob: f32) -> TokenLogprob {
        TokenLogprob { id, logprob }
    }

    /// Three steps, tokens 5 6 7, runner-ups 50 60 70; gaps 0.2, 3.0, 3.0.
    fn golden() -> Golden {
        let mut g = sample();
        g.tokens = vec![5, 6, 7];
        g.text = "abc".into();
        g.stop_reason = crate::StopReason::Length;
        g.top_logprobs = vec![
            vec![tl(5, -0.6), tl(50, -0.8), tl(51, -4.0)],
            vec![tl(6, -0.1), tl(60, -3.1), tl(61, -5.0)],
            vec![tl(7, -0.1), tl(70, -3.1), tl(71, -5.0)],
        ];
        g
    }

    #[test]
    fn identical_and_provenance_ignored() {
        let a = golden();
        let mut b = a.clone();
        b.oracle.version = "9.9.9".into();
        b.inputs.cache_key = "other".into();
        let v = verify(&a, &b, F32);
        assert!(v.holds() && v.identical, "{v:?}");
        assert_eq!(v.steps_compared, 3);
        assert_eq!(v.summary(), "identical");
    }

    #[test]
    fn logprobs_within_and_beyond_the_tolerance() {
        let a = golden();
        let mut b = a.clone();
        b.top_logprobs[2][1].logprob = -3.1 - 0.5; // exactly the bound (0.5 is exact in binary)
        let v = verify(&a, &b, BF16);
        assert!(v.holds() && !v.identical, "{v:?}");
        assert_eq!((v.max_logprob_delta, v.max_delta_step), (0.5, Some(2)));
        assert!(v.summary().starts_with("within 0.5 nats: max |Δlogprob| 5.000e-1 (step 2)"), "{}", v.summary());
        b.top_logprobs[2][1].logprob = -3.1 - 0.75;
        let v = verify(&a, &b, BF16);
        assert!(!v.holds());
        assert!(v.problems[0].starts_with("step 2: logprob of id 70 moved by 7.5"), "{:?}", v.problems);
        // the same move is far beyond f32's error
        b.top_logprobs[2][1].logprob = -3.1 - 0.01;
        assert!(verify(&a, &b, BF16).holds());
        assert!(!verify(&a, &b, F32).holds());
    }

    #[test]
    fn a_flip_at_a_near_tie_is_allowed_only_for_reduced_precision() {
        let a = golden();
        let mut b = a.clone();
        // step 0: committed 5 (-0.6) vs 50 (-0.8): gap 0.2 <= 2 x 0.5
        b.tokens = vec![50, 9, 9];
        b.text = "xyz".into();
        b.top_logprobs = vec![vec![tl(50, -0.7), tl(5, -0.75), tl(51, -4.0)], vec![tl(9, -0.1)], vec![tl(9, -0.1)]];
        let v = verify(&a, &b, BF16);
        assert!(v.holds(), "{v:?}");
        let flip = v.flip.clone().unwrap();
        assert_eq!((flip.step, flip.committed, flip.fresh), (0, 5, 50));
        assert!((flip.gap - 0.2).abs() < 1e-6);
        assert_eq!(v.steps_compared, 1, "after the flip the contexts differ");
        assert_eq!(v.topk_reordered, vec![0]);
        assert!(v.summary().contains("near-tie flip at step 0: 5 → 50"), "{}", v.summary());
        let v = verify(&a, &b, F32);
        assert!(!v.holds());
        assert!(v.problems[0].contains("no flip allowed"), "{:?}", v.problems);
        // a tighter bf16 error makes the same gap confident: 0.2 > 2 x 0.09
        let tight = GoldenTolerance { logprob: 0.09, near_tie_flips: true };
        assert!(verify(&a, &b, tight).problems[0].contains("confident"));
    }

    #[test]
    fn a_flip_where_the_oracle_was_confident_is_refused() {
        let a = golden();
        let mut b = a.clone();
        b.tokens[1] = 60; // gap 3.0 at step 1
        let v = verify(&a, &b, BF16);
        assert!(!v.holds());
        assert!(v.problems[0].starts_with("step 1: token 6 -> 60 where the committed golden was confident (gap 3.000"), "{:?}", v.problems);
        b.tokens[1] = 4242; // not even in the top-k
        assert!(verify(&a, &b, BF16).problems[0].contains("outside the committed top-3"));
    }

    #[test]
    fn top_k_boundary_changes_within_and_beyond() {
        let a = golden();
        let mut b = a.clone();
        // id 61 (-5.0) leaves, 62 enters at -5.2: plausible within 0.5
        b.top_logprobs[1][2] = tl(62, -5.2);
        assert!(verify(&a, &b, BF16).holds());
        // id 62 enters far above the committed k-th (-5.0 + 0.5): a real change
        b.top_logprobs[1] = vec![tl(6, -0.1), tl(62, -1.0), tl(60, -3.1)];
        let v = verify(&a, &b, BF16);
        assert!(!v.holds());
        assert!(v.problems.iter().any(|p| p.contains("entered the top-k")), "{:?}", v.problems);
        // an id that was high leaves the list
        let mut c = a.clone();
        c.top_logprobs[1] = vec![tl(6, -0.1), tl(61, -5.0), tl(63, -5.1)];
        let v = verify(&a, &c, BF16);
        assert!(v.problems.iter().any(|p| p.contains("id 60 (-3.100) left the top-k")), "{:?}", v.problems);
    }

    #[test]
    fn prompt_text_stop_and_length_differences_are_refused() {
        let a = golden();
        let mut b = a.clone();
        b.prompt_tokens = vec![9];
        assert!(verify(&a, &b, BF16).problems[0].starts_with("prompt ids"));
        let mut b = a.clone();
        b.text = "abd".into();
        assert!(verify(&a, &b, BF16).problems[0].contains("same tokens, text"));
        let mut b = a.clone();
        b.stop_reason = crate::StopReason::Eos;
        assert!(verify(&a, &b, BF16).problems[0].contains("stop_reason"));
        let mut b = a.clone();
        b.tokens.push(2);
        assert!(verify(&a, &b, BF16).problems[0].contains("prefix"));
    }
}
