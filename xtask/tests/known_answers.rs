//! The committed SmolLM2 goldens hold the facts SPEC §3 states about the real model
//! on its f32 reference: the four prompt encodings, ` Paris.` after `The capital of
//! France is`, and EOS (id 2) at the first step of the arithmetic prompt. These
//! numbers come from the SPEC, not from the code that wrote the goldens.

use tmgt_schema::{Golden, StopReason};

fn golden(prompt: &str) -> Golden {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    Golden::read(&root.join(format!("goldens/smollm2-135m-instruct/{prompt}.json"))).unwrap()
}

#[test]
fn prompt_encodings_match_the_reference_tokenizer() {
    let known: [(&str, &[u32]); 4] = [
        ("arithmetic", &[1780, 314, 216, 34, 27, 34, 47, 19842, 42]),
        ("code", &[1604, 3987, 46477, 24, 94, 727]),
        ("completion", &[504, 3575, 282, 4649, 314]),
        ("greeting", &[19556, 28, 957, 1462, 314]),
    ];
    for (prompt, ids) in known {
        assert_eq!(golden(prompt).prompt_tokens, ids, "{prompt}");
    }
}

#[test]
fn greedy_continuations_match_the_known_facts() {
    let completion = golden("completion");
    assert!(completion.text.starts_with(" Paris."), "{:?}", completion.text);
    let arithmetic = golden("arithmetic");
    assert_eq!(arithmetic.tokens, vec![2]);
    assert_eq!(arithmetic.stop_reason, StopReason::Eos);
    for prompt in ["arithmetic", "code", "completion", "greeting"] {
        let g = golden(prompt);
        assert_eq!(g.format, "float32");
        assert_eq!(g.max_new_tokens, 32);
        assert_eq!(g.token_count, g.tokens.len());
        assert_eq!(g.top_logprobs.len(), g.tokens.len());
        // Greedy: every recorded token is its step's top-1.
        for (step, (t, top)) in g.tokens.iter().zip(&g.top_logprobs).enumerate() {
            assert_eq!(*t, top[0].id, "{prompt} step {step}");
        }
    }
}
