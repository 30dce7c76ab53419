//! The tokenizer battery (llama.cpp's `test-tokenizer-0` idea): hard strings, one
//! JSON object a line (`{"class": …, "text": …}`), whose ids every runtime must
//! encode exactly as the reference tokenizer does; and what each tokenizer answers
//! (`BatteryRun`), the same JSON from oracle-gen and llamacpp-comparator. Also the
//! ids of a text split into the tokenizer's special prefix and the text's own ids
//! (`TextIds`), from which the KLD windows are cut.

use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One string of the battery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatteryString {
    /// What kind of hard case it is (spaces, unicode, digits, code, special, …).
    pub class: String,
    pub text: String,
}

/// Reads a battery file: one JSON object a line; blank lines are skipped. Errors
/// name the file and the line.
pub fn read_battery(path: &Path) -> Result<Vec<BatteryString>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read the battery", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let s: BatteryString =
            serde_json::from_str(line).with_context(|| format!("{}:{}: not a {{\"class\", \"text\"}} object", path.display(), i + 1))?;
        ensure!(!s.class.is_empty(), "{}:{}: empty class", path.display(), i + 1);
        out.push(s);
    }
    ensure!(!out.is_empty(), "{}: no strings", path.display());
    Ok(out)
}

/// One tokenizer's answer for one string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encoded {
    /// The ids the runtime feeds its model for this text (special tokens added as
    /// the runtime adds them to a prompt; special-token text matched as the token).
    pub ids: Vec<u32>,
    /// Each id's piece as the vocabulary spells it, when the tokenizer can say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pieces: Option<Vec<String>>,
    /// The text of the ids decoded back (special tokens kept), when it can say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded: Option<String>,
    /// Whether decode(ids) gave the text back, when the runtime says so itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roundtrip: Option<bool>,
    /// The tokenizer refused the string (its message): never silently empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A tokenizer's answers for a whole battery, in the battery's order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatteryRun {
    /// What tokenized: e.g. "tokenizers 0.23 on tokenizer.json", "llama.cpp".
    pub tokenizer: String,
    /// Does this tokenizer promise decode(encode(s)) == s (byte-level BPE does)?
    #[serde(default)]
    pub roundtrip_promised: bool,
    pub results: Vec<Encoded>,
}

/// A text's ids: the special ids the tokenizer puts around a text (BOS …) and the
/// text's own ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextIds {
    pub prefix: Vec<u32>,
    pub ids: Vec<u32>,
    #[serde(default)]
    pub suffix: Vec<u32>,
}

impl TextIds {
    /// From the encoding with special tokens and the one without: what the first
    /// adds around the second. Err when the plain ids are not inside the other.
    pub fn from_encodings(with_special: &[u32], plain: &[u32]) -> Result<TextIds> {
        let at = if plain.is_empty() { Some(with_special.len()) } else { with_special.windows(plain.len()).position(|w| w == plain) };
        let at = at.context("the encoding with special tokens does not contain the plain encoding")?;
        Ok(TextIds { prefix: with_special[..at].to_vec(), ids: plain.to_vec(), suffix: with_special[at + plain.len()..].to_vec() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn battery_lines_parse_and_errors_name_the_line() {
        let path = std::env::temp_dir().join(format!("tmgt-battery-{}.jsonl", std::process::id()));
        std::fs::write(&path, "{\"class\":\"space\",\"text\":\"  a\"}\n\n{\"class\":\"empty\",\"text\":\"\"}\n").unwrap();
        let b = read_battery(&path).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[1], BatteryString { class: "empty".into(), text: String::new() });
        std::fs::write(&path, "{\"class\":\"x\",\"text\":\"a\"}\n{\"class\":\"x\"}\n").unwrap();
        let err = format!("{:#}", read_battery(&path).unwrap_err());
        assert!(err.contains(":2:"), "{err}");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn text_ids_split_off_what_special_tokens_add() {
        let t = TextIds::from_encodings(&[1, 5, 6, 2], &[5, 6]).unwrap();
        assert_eq!((t.prefix, t.ids, t.suffix), (vec![1], vec![5, 6], vec![2]));
        assert_eq!(TextIds::from_encodings(&[5, 6], &[5, 6]).unwrap().prefix, Vec::<u32>::new());
        assert_eq!(TextIds::from_encodings(&[1], &[]).unwrap().prefix, vec![1]);
        assert!(TextIds::from_encodings(&[1, 7], &[5]).is_err());
    }
}
