//! tokenizer: the prompt ids a runtime reports equal the golden's `prompt_tokens`. A
//! runtime that silently adds BOS or wraps the prompt in a chat template fails here,
//! with both id lists.

use super::*;

/// What kind of difference two prompt encodings show.
pub fn diagnose(expected: &[u32], actual: &[u32]) -> String {
    if actual.len() == expected.len() + 1 && actual.ends_with(expected) {
        return format!("runtime prepends token {} (BOS?)", actual[0]);
    }
    if actual.len() == expected.len() + 1 && actual.starts_with(expected) {
        return format!("runtime appends token {}", actual[actual.len() - 1]);
    }
    if actual.len() > expected.len() && !expected.is_empty() && actual.windows(expected.len()).any(|w| w == expected) {
        return format!(
            "runtime wraps the prompt in {} extra tokens (chat template?)",
            actual.len() - expected.len()
        );
    }
    match first_divergence(expected, actual) {
        Some(i) => format!(
            "encodings differ from position {i} ({} vs {} ids)",
            expected.len(),
            actual.len()
        ),
        None => "identical".into(),
    }
}

pub fn judge(ev: &ModelEvidence) -> Vec<Outcome> {
    if ev.goldens.is_empty() {
        return no_goldens("tokenizer", ev);
    }
    let mut outs = Vec::new();
    for (key, obs) in &ev.generations {
        let Observed::Ok { value: gen, invocation: inv } = obs else { continue };
        let Some(actual) = &gen.prompt_tokens else { continue };
        let Some(g) = ev.goldens.get(&key.prompt) else { continue };
        let ctx = Ctx::new("tokenizer", &ev.slug, format!("{}/{}/{}", key.runtime, key.artifact, key.prompt));
        let evidence = evidence_from(
            inv,
            Some(format!("{:?}", g.prompt_tokens)),
            Some(format!("{actual:?}")),
            serde_json::json!({ "prompt": g.prompt, "expected": g.prompt_tokens, "actual": actual }),
        );
        outs.push(if *actual == g.prompt_tokens {
            ctx.pass(format!("{} prompt ids identical", actual.len()), evidence)
        } else {
            let why = diagnose(&g.prompt_tokens, actual);
            ctx.fail(
                format!("prompt encoded differently: {why}"),
                format!("{}: prompt encoded differently ({})", key.runtime, why.split(' ').take(3).collect::<Vec<_>>().join(" ")),
                evidence,
            )
        });
    }
    if outs.is_empty() {
        outs.push(Ctx::new("tokenizer", &ev.slug, "all").skip("no runtime reported prompt token ids"));
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
        assert_eq!(find(&outs, "apr/int4-gguf/greeting").status, Status::Pass);
        let b = find(&outs, "apr/int4-gguf/code");
        assert_eq!(b.status, Status::Fail);
        assert!(b.note.contains("prepends token 1"), "{}", b.note);
        assert!(b.evidence.actual.as_deref() == Some("[1, 10, 11, 12]"));
        let c = find(&outs, "apr/int4-gguf/completion");
        assert!(c.note.contains("chat template"), "{}", c.note);
        assert_eq!(diagnose(&[1, 2, 3], &[1, 5, 3]), "encodings differ from position 1 (3 vs 3 ids)");
    }

    #[test]
    fn nothing_reported_is_skip() {
        let mut ev = evidence();
        let mut g = gen(seq(3));
        g.prompt_tokens = None;
        ev.generations.insert(GenKey::new(APR, "int8", "code"), ok(g));
        let outs = judge(&ev);
        assert_eq!(outs[0].status, Status::Skip);
    }
}
