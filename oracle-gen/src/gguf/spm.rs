//! SentencePiece vocabularies (`tokenizer.ggml.model = llama`: tokens, scores, token
//! types, no merges) as an HF tokenizer.json, the way transformers converts a
//! SentencePiece BPE model (GemmaConverter): a BPE model with byte fallback whose
//! merges are every split of a piece into two pieces of the vocabulary, ranked by the
//! merged piece's score (highest first) — the order in which SentencePiece and
//! llama.cpp's SPM tokenizer merge — with spaces replaced by `▁` by the normalizer,
//! a `▁` prepended only when `tokenizer.ggml.add_space_prefix` says so, and control /
//! user-defined pieces as added tokens matched on the raw text.

use super::tokenizer::{added_tokens, gguf_token_types, gguf_tokens, unk_token, vocab_object, with_special_template};
use super::Meta;
use anyhow::{bail, Result};
use candle_core::quantized::gguf_file::Value;
use serde_json::{json, Value as Json};
use std::collections::HashMap;

/// SentencePiece's whitespace marker.
pub const SPACE: char = '▁';

/// `tokenizer.ggml.scores`, one f32 per token.
fn gguf_scores(meta: &Meta, n_tokens: usize) -> Result<Vec<f32>> {
    let path = meta.path;
    let scores: Vec<f32> = meta
        .array("tokenizer.ggml.scores")?
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::F32(x) => Ok(*x),
            Value::F64(x) => Ok(*x as f32),
            other => bail!("{}: tokenizer.ggml.scores[{i}] is not a float: {other:?}", path.display()),
        })
        .collect::<Result<_>>()?;
    if scores.len() != n_tokens {
        bail!("{}: {} scores for {} tokens in tokenizer.ggml.*", path.display(), scores.len(), n_tokens);
    }
    Ok(scores)
}

/// BPE merges of a SentencePiece vocabulary, as transformers' `generate_merges` makes
/// them: for each piece (in id order), each split into two pieces that are both in
/// the vocabulary (ordered by their ids); then all of them ranked by the merged
/// piece's score, highest first, ties by the longer left part, then the longer right
/// part, then that order (a stable sort).
pub fn merges(tokens: &[&str], scores: &[f32]) -> Vec<(String, String)> {
    let ids: HashMap<&str, usize> = tokens.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    // (left, right, score, left chars, right chars)
    let mut all: Vec<(&str, &str, f32, usize, usize)> = Vec::new();
    for (piece, &score) in tokens.iter().zip(scores) {
        let mut local: Vec<(&str, &str)> = piece
            .char_indices()
            .skip(1)
            .map(|(at, _)| piece.split_at(at))
            .filter(|(l, r)| ids.contains_key(l) && ids.contains_key(r))
            .collect();
        local.sort_by_key(|(l, r)| (ids[l], ids[r]));
        all.extend(local.into_iter().map(|(l, r)| (l, r, score, l.chars().count(), r.chars().count())));
    }
    all.sort_by(|a, b| b.2.partial_cmp(&a.2).unwrap_or(std::cmp::Ordering::Equal).then(b.3.cmp(&a.3)).then(b.4.cmp(&a.4)));
    all.into_iter().map(|(l, r, ..)| (l.to_string(), r.to_string())).collect()
}

/// The tokenizer.json value for a SentencePiece GGUF vocabulary.
pub(crate) fn tokenizer_json(meta: &Meta) -> Result<Json> {
    let path = meta.path;
    let tokens = gguf_tokens(meta)?;
    let types = gguf_token_types(meta, tokens.len())?;
    let scores = gguf_scores(meta, tokens.len())?;
    let vocab = vocab_object(&tokens, path)?;
    // llama.cpp's default for SentencePiece vocabularies that do not say.
    let add_space_prefix = meta.opt_bool("tokenizer.ggml.add_space_prefix")?.unwrap_or(true);
    let byte_fallback = (0..=255u8).all(|b| vocab.contains_key(&format!("<0x{b:02X}>")));
    let unk = unk_token(meta, &tokens)?;
    if unk.is_null() && !byte_fallback {
        bail!("{}: a SentencePiece vocabulary needs byte-fallback pieces or an unknown token", path.display());
    }
    let merges: Vec<Json> = merges(&tokens, &scores).into_iter().map(|(l, r)| json!([l, r])).collect();

    let replace_space = json!({"type": "Replace", "pattern": {"String": " "}, "content": SPACE.to_string()});
    let normalizer = if add_space_prefix {
        json!({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": SPACE.to_string()}, replace_space]})
    } else {
        replace_space
    };
    let mut decoders = vec![
        json!({"type": "Replace", "pattern": {"String": SPACE.to_string()}, "content": " "}),
        json!({"type": "ByteFallback"}),
        json!({"type": "Fuse"}),
    ];
    if add_space_prefix {
        decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
    }
    let post = with_special_template(meta, &tokens, Json::Null)?;
    let added = added_tokens(&tokens, &types);
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": normalizer,
        // transformers' GemmaConverter; after the normalizer no plain space is left,
        // so it splits nothing: SentencePiece merges across the whole text.
        "pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false},
        "post_processor": post,
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": unk,
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": true,
            "byte_fallback": byte_fallback,
            "ignore_merges": false,
            "vocab": vocab,
            "merges": merges,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::tokenizer::tokenizer_from_json;
    use candle_core::quantized::gguf_file::{Content, VersionedMagic};
    use std::path::Path;

    /// A hand-made SentencePiece vocabulary: control tokens, one user-defined "\n",
    /// the 256 byte pieces, then normal pieces whose scores make the merge order.
    fn content(add_space_prefix: bool) -> Content {
        let mut tokens: Vec<String> = ["<pad>", "<eos>", "<bos>", "<unk>", "\n"].map(String::from).to_vec();
        let mut types = vec![3, 3, 3, 2, 4];
        let mut scores = vec![-1000.0f32; 5];
        for b in 0..=255u8 {
            tokens.push(format!("<0x{b:02X}>"));
            types.push(6);
            scores.push(0.0);
        }
        // Scores fix the merge order: "at" first, then "▁c", then "▁cat", …, "The" last.
        for (i, piece) in ["at", "▁c", "▁cat", "▁ca", "▁", "c", "a", "t", "s", "T", "h", "e", "he", "The"].iter().enumerate() {
            tokens.push(piece.to_string());
            types.push(1);
            scores.push(-(i as f32));
        }
        let metadata = [
            ("tokenizer.ggml.model", Value::String("llama".into())),
            ("tokenizer.ggml.tokens", Value::Array(tokens.into_iter().map(Value::String).collect())),
            ("tokenizer.ggml.token_type", Value::Array(types.into_iter().map(Value::I32).collect())),
            ("tokenizer.ggml.scores", Value::Array(scores.into_iter().map(Value::F32).collect())),
            ("tokenizer.ggml.bos_token_id", Value::U32(2)),
            ("tokenizer.ggml.eos_token_id", Value::U32(1)),
            ("tokenizer.ggml.unknown_token_id", Value::U32(3)),
            ("tokenizer.ggml.add_bos_token", Value::Bool(true)),
            ("tokenizer.ggml.add_space_prefix", Value::Bool(add_space_prefix)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Content { magic: VersionedMagic::GgufV3, metadata, tensor_infos: Default::default(), tensor_data_offset: 0 }
    }

    fn id(c: &Content, piece: &str) -> u32 {
        let Value::Array(tokens) = &c.metadata["tokenizer.ggml.tokens"] else { panic!() };
        tokens.iter().position(|t| t.to_string().unwrap() == piece).unwrap() as u32
    }

    #[test]
    fn merges_rank_by_the_merged_pieces_score() {
        let tokens = ["a", "b", "ab", "c", "abc", "bc"];
        let scores = [0.0, 0.0, -1.0, 0.0, -2.0, -3.0];
        let m = merges(&tokens, &scores);
        // "ab" (score -1) first; "abc" (-2) splits as a+bc and ab+c, the longer left
        // part first; "bc" (-3) last.
        let want: Vec<(String, String)> =
            [("a", "b"), ("ab", "c"), ("a", "bc"), ("b", "c")].iter().map(|(l, r)| (l.to_string(), r.to_string())).collect();
        assert_eq!(m, want);
    }

    #[test]
    fn encodes_like_sentencepiece() {
        let c = content(false);
        let path = Path::new("/m/model.gguf");
        let json = tokenizer_json(&Meta { content: &c, path }).unwrap();
        let tok = tokenizer_from_json(&json, path).unwrap();
        // "The cats\n": no prefix space; "▁cat" built as ▁c + at; "s" alone; "\n" is a
        // user-defined piece matched on the raw text; "é" is not a piece: its two UTF-8
        // bytes through byte fallback.
        let got = tok.encode("The cats\né", true).unwrap().get_ids().to_vec();
        let bytes = "é".as_bytes();
        let want = vec![
            2,
            id(&c, "The"),
            id(&c, "▁cat"),
            id(&c, "s"),
            id(&c, "\n"),
            id(&c, &format!("<0x{:02X}>", bytes[0])),
            id(&c, &format!("<0x{:02X}>", bytes[1])),
        ];
        assert_eq!(got, want);
        assert_eq!(tok.decode(&got, true).unwrap(), "The cats\né");
        assert_eq!(tok.decode(&[2, 1], false).unwrap(), "<bos><eos>");
        assert_eq!(tok.decode(&[2, 1], true).unwrap(), "");
    }

    #[test]
    fn space_prefix_when_the_gguf_asks() {
        let c = content(true);
        let path = Path::new("m.gguf");
        let tok = tokenizer_from_json(&tokenizer_json(&Meta { content: &c, path }).unwrap(), path).unwrap();
        let got = tok.encode("cat", true).unwrap().get_ids().to_vec();
        assert_eq!(got, vec![2, id(&c, "▁cat")]);
        assert_eq!(tok.decode(&got, true).unwrap(), "cat");
    }
}
