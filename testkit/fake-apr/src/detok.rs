//! A small decoder for the reference's tokenizer.json (byte-level BPE as GPT-2,
//! SmolLM and Qwen2 use it; SentencePiece-style `▁` and `<0xNN>` pieces otherwise),
//! so a defect that changes tokens can change the text the same way. Special
//! (added) tokens are skipped, as the oracle's text skips them.

use anyhow::{Context, Result};
use std::collections::{HashMap, HashSet};
use std::path::Path;

pub struct Decoder {
    pieces: HashMap<u32, String>,
    special: HashSet<u32>,
    byte_level: bool,
    byte_of: HashMap<char, u8>,
}

/// GPT-2's reversible byte ↔ printable-char table.
fn bytes_to_unicode() -> Vec<(u8, char)> {
    let mut printable: Vec<u32> = ('!' as u32..='~' as u32).chain('¡' as u32..='¬' as u32).chain('®' as u32..='ÿ' as u32).collect();
    let mut chars = printable.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + n);
            n += 1;
        }
    }
    printable.iter().zip(&chars).map(|(&b, &c)| (b as u8, char::from_u32(c).expect("valid char"))).collect()
}

impl Decoder {
    pub fn from_json(v: &serde_json::Value) -> Option<Decoder> {
        let vocab = v.get("model")?.get("vocab")?;
        let mut pieces: HashMap<u32, String> = HashMap::new();
        match vocab {
            // BPE / WordPiece: {"piece": id}
            serde_json::Value::Object(map) => {
                for (piece, id) in map {
                    pieces.insert(id.as_u64()? as u32, piece.clone());
                }
            }
            // Unigram: [["piece", score], ...]
            serde_json::Value::Array(items) => {
                for (id, item) in items.iter().enumerate() {
                    pieces.insert(id as u32, item.get(0)?.as_str()?.to_string());
                }
            }
            _ => return None,
        }
        let mut special = HashSet::new();
        for t in v.get("added_tokens").and_then(|a| a.as_array()).into_iter().flatten() {
            let (Some(id), Some(content)) = (t.get("id").and_then(|i| i.as_u64()), t.get("content").and_then(|c| c.as_str())) else {
                continue;
            };
            pieces.insert(id as u32, content.to_string());
            if t.get("special").and_then(|s| s.as_bool()).unwrap_or(false) {
                special.insert(id as u32);
            }
        }
        let byte_level = v.get("decoder").is_some_and(|d| d.to_string().contains("\"ByteLevel\""));
        let byte_of = bytes_to_unicode().into_iter().map(|(b, c)| (c, b)).collect();
        Some(Decoder { pieces, special, byte_level, byte_of })
    }

    pub fn from_file(path: &Path) -> Result<Option<Decoder>> {
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
        Ok(Decoder::from_json(&v))
    }

    /// True when every id is known to the vocabulary.
    pub fn knows(&self, ids: &[u32]) -> bool {
        ids.iter().all(|id| self.pieces.contains_key(id))
    }

    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for id in ids {
            if self.special.contains(id) {
                continue;
            }
            let Some(piece) = self.pieces.get(id) else { continue };
            if self.byte_level {
                for c in piece.chars() {
                    match self.byte_of.get(&c) {
                        Some(b) => bytes.push(*b),
                        None => bytes.extend_from_slice(c.to_string().as_bytes()),
                    }
                }
            } else if let Some(b) = piece.strip_prefix("<0x").and_then(|h| h.strip_suffix('>')).and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                bytes.push(b);
            } else {
                bytes.extend_from_slice(piece.replace('▁', " ").as_bytes());
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(test)]
pub mod tests_support {
    pub fn tiny_byte_level() -> serde_json::Value {
        serde_json::json!({
            "added_tokens": [{"id": 0, "content": "<|endoftext|>", "special": true}],
            "decoder": {"type": "ByteLevel", "add_prefix_space": true},
            "model": {"type": "BPE", "vocab": {"<|endoftext|>": 0, "Ġ": 1, "P": 2, "aris": 3, "Ġis": 4, "Ċ": 5, ".": 6}}
        })
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::tiny_byte_level;
    use super::*;

    #[test]
    fn byte_level_decodes_spaces_newlines_and_skips_specials() {
        let d = Decoder::from_json(&tiny_byte_level()).unwrap();
        assert_eq!(d.decode(&[1, 2, 3, 6, 5, 0]), " Paris.\n");
        assert_eq!(d.decode(&[4]), " is");
        assert!(d.knows(&[1, 6]) && !d.knows(&[99]));
        assert_eq!(bytes_to_unicode().len(), 256);
    }

    #[test]
    fn sentencepiece_pieces() {
        let v = serde_json::json!({"decoder": {"type": "Metaspace"}, "model": {"vocab": {"▁Hi": 0, "<0x0A>": 1, "there": 2}}});
        let d = Decoder::from_json(&v).unwrap();
        assert_eq!(d.decode(&[0, 1, 2]), " Hi\nthere");
    }
}
