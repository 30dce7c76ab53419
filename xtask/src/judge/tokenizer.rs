//! tokenizer: the prompt a runtime encoded equals the golden's `prompt_tokens`: the
//! ids where the runtime reports them (apr on GGUF, the comparators), else their
//! count (apr on APR reports `prompt_tokens` as a number; that count verifies the
//! harness's chat-template workaround). A runtime that silently adds BOS or wraps
//! the prompt in a chat template fails here, with both id lists; the other suites'
//! findings on that run join this finding's group.

use super::*;

/// What kind of difference two prompt encodings show.
pub fn encoding_difference(expected: &[u32], actual: &[u32]) -> String {
    if actual.len() == expected.len() + 1 && actual.ends_with(expected) {
        return format!("runtime prepends token {} (BOS?)", actual[0]);
    }
    if actual.len() == expected.len() + 1 && actual.starts_with(expected) {
        return format!("runtime appends token {}", actual[actual.len() - 1]);
    }
    if actual.len() > expected.len() && !expected.is_empty() && actual.windows(expected.len()).any(|w| w == expected) {
        return format!("runtime wraps the prompt in {} extra tokens (chat template?)", actual.len() - expected.len());
    }
    match first_divergence(expected, actual) {
        Some(i) => format!("encodings differ from position {i} ({} vs {} ids)", expected.len(), actual.len()),
        None => "identical".into(),
    }
}

/// What a count of prompt tokens says against the golden's ids.
pub fn count_difference(expected: usize, actual: usize) -> String {
    match actual.checked_sub(expected) {
        Some(1) => "runtime counts 1 more prompt token (BOS prepended?)".into(),
        Some(n) if n > 1 => format!("runtime counts {n} more prompt tokens (chat template?)"),
        _ => format!("runtime counts {actual} prompt tokens, the oracle {expected}"),
    }
}

/// The difference between the golden's prompt ids and what a run reports, if any.
pub fn difference(expected: &[u32], gen: &Generation) -> Option<String> {
    match (&gen.prompt_tokens, gen.prompt_token_count) {
        (Some(ids), _) if ids != expected => Some(encoding_difference(expected, ids)),
        (None, Some(n)) if n != expected.len() => Some(count_difference(expected.len(), n)),
        _ => None,
    }
}

/// The signature of a prompt-encoding finding: the runtime and the kind of
/// difference, without ids or counts (one BOS is one finding, not one per prompt).
pub fn signature(runtime: &str, why: &str) -> String {
    let kind = if why.contains("BOS") {
        "prepends BOS"
    } else if why.contains("chat template") {
        "wraps the prompt (chat template?)"
    } else if why.contains("appends") {
        "appends a token"
    } else {
        "encodes the prompt differently"
    };
    format!("{runtime}: {kind}")
}

pub fn judge(ev: &ModelEvidence) -> Vec<Outcome> {
    if ev.goldens.is_empty() {
        return no_goldens("tokenizer", ev);
    }
    let mut outs = Vec::new();
    for (key, obs) in &ev.generations {
        let Some(g) = ev.goldens.get(&key.prompt) else { continue };
        let case = Case::new(
            "tokenizer",
            &ev.slug,
            format!("{}/{}/{}", key.runtime, key.artifact, key.prompt),
            attribution::subject_of_run(ev, &key.runtime, &key.artifact),
        );
        let (gen, inv) = match take(Some(obs), &case, &format!("{} on {}", key.runtime, key.artifact), false) {
            Ok(x) => x,
            // Skipped runtimes (not installed, not applicable) say nothing here.
            Err(o) if o.status == Verdict::Skip => continue,
            Err(o) => {
                outs.push(o);
                continue;
            }
        };
        let reported = match (&gen.prompt_tokens, gen.prompt_token_count) {
            (Some(ids), _) => format!("{ids:?}"),
            (None, Some(n)) => format!("{n} prompt tokens (ids not reported)"),
            (None, None) => continue,
        };
        let evidence = evidence_from(
            inv,
            Some(format!("{:?}", g.prompt_tokens)),
            Some(reported),
            serde_json::json!({ "prompt": g.prompt, "expected": g.prompt_tokens, "actual": gen.prompt_tokens, "actual_count": gen.prompt_token_count }),
        );
        outs.push(match difference(&g.prompt_tokens, gen) {
            None if gen.prompt_tokens.is_some() => case.pass(format!("{} prompt ids identical", g.prompt_tokens.len()), evidence),
            None => case.pass(format!("{} prompt tokens, as the oracle (ids not reported)", g.prompt_tokens.len()), evidence),
            Some(why) => case.fail(format!("prompt encoded differently: {why}"), signature(&key.runtime, &why), evidence),
        });
    }
    if outs.is_empty() {
        outs.push(Case::new("tokenizer", &ev.slug, "all", Subject::Harness).skip("no runtime reported prompt ids or a prompt token count"));
    }
    outs
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn identical_passes_bos_and_template_fail_with_diagnosis() {
        let mut ev = evidence();
        set_all(&mut ev, APR, "int4-gguf", &seq(32));
        let mut bos = gen(seq(32));
        bos.prompt_tokens = Some(vec![1, 10, 11, 12]);
        ev.generations.insert(GenKey::new(APR, "int4-gguf", "code"), ok(bos));
        let mut chat = gen(seq(32));
        chat.prompt_tokens = Some(vec![1, 9, 7, 10, 11, 12, 2, 7]);
        ev.generations.insert(GenKey::new(APR, "int4-gguf", "completion"), ok(chat));
        let outs = judge(&ev);
        assert_eq!(outs.len(), 4);
        assert_eq!(find(&outs, "apr/int4-gguf/greeting").status, Verdict::Pass);
        let b = find(&outs, "apr/int4-gguf/code");
        assert_eq!(b.status, Verdict::Fail);
        assert!(b.note.contains("prepends token 1"), "{}", b.note);
        assert_eq!(b.signature, "apr: prepends BOS");
        assert!(b.evidence.actual.as_deref() == Some("[1, 10, 11, 12]"));
        let c = find(&outs, "apr/int4-gguf/completion");
        assert!(c.note.contains("chat template"), "{}", c.note);
        assert_eq!(c.signature, "apr: wraps the prompt (chat template?)");
        assert_eq!(encoding_difference(&[1, 2, 3], &[1, 5, 3]), "encodings differ from position 1 (3 vs 3 ids)");
        assert_eq!(encoding_difference(&[1, 2], &[1, 2, 9]), "runtime appends token 9");
    }

    #[test]
    fn a_prompt_token_count_is_checked_when_ids_are_not_reported() {
        let mut ev = evidence();
        let mut same = gen(seq(32));
        same.prompt_tokens = None;
        same.prompt_token_count = Some(3);
        ev.generations.insert(GenKey::new(APR, "int8", "code"), ok(same.clone()));
        let mut bos = same.clone();
        bos.prompt_token_count = Some(4);
        ev.generations.insert(GenKey::new(APR, "int8", "completion"), ok(bos));
        let mut chat = same;
        chat.prompt_token_count = Some(36);
        ev.generations.insert(GenKey::new(APR, "int8", "greeting"), ok(chat));
        let outs = judge(&ev);
        assert_eq!(find(&outs, "apr/int8/code").status, Verdict::Pass);
        let b = find(&outs, "apr/int8/completion");
        assert_eq!((b.status, b.signature.as_str()), (Verdict::Fail, "apr: prepends BOS"));
        let c = find(&outs, "apr/int8/greeting");
        assert!(c.note.contains("33 more prompt tokens"), "{}", c.note);
    }

    #[test]
    fn blocked_runs_are_blocked_and_nothing_reported_is_skip() {
        let mut ev = evidence();
        let mut g = gen(seq(3));
        g.prompt_tokens = None;
        ev.generations.insert(GenKey::new(APR, "int8", "code"), ok(g));
        let outs = judge(&ev);
        assert_eq!(outs.len(), 1);
        assert_eq!((outs[0].status, &outs[0].subject), (Verdict::Skip, &Subject::Harness));
        ev.generations.insert(
            GenKey::new(APR, "int4-gguf", "code"),
            Observed::Blocked { step: "convert int4-gguf".into(), reason: "crash".into(), signature: "apr: panic: x".into() },
        );
        let outs = judge(&ev);
        let b = find(&outs, "apr/int4-gguf/code");
        assert_eq!((b.status, b.signature.as_str()), (Verdict::Blocked, "apr: panic: x"));
    }
}
