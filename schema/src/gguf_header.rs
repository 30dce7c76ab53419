//! What a GGUF file says about itself without loading a weight: its metadata (scalar
//! values; arrays by length) and every tensor's type, from the header alone (GGUF
//! versions 2 and 3). The harness records each GGUF's tensor-type mixture and the
//! tokenizer keys that decide how a prompt is encoded, so that "equivalent" files are
//! compared like with like and a converter's metadata can be set beside a correct one.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::path::Path;

/// The facts of one GGUF header.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GgufFacts {
    pub version: u32,
    /// ggml type name (F32, Q4_0, Q8_0, …) → how many tensors of that type.
    pub tensor_types: BTreeMap<String, usize>,
    /// The same count over weight matrices only (two or more dimensions): the
    /// quantization mixture; norms and biases stay F32 in every scheme.
    pub weight_types: BTreeMap<String, usize>,
    /// Scalar metadata as text (strings as written, numbers and bools by Display);
    /// arrays as "[<len> items]".
    pub metadata: BTreeMap<String, String>,
}

impl GgufFacts {
    /// "210 × Q4_0, 1 × Q8_0" (weights), or "none".
    pub fn mixture(&self) -> String {
        mixture_line(&self.weight_types)
    }

    /// Every weight matrix of the one type.
    pub fn is_pure(&self) -> bool {
        self.weight_types.len() == 1
    }
}

/// "210 × Q4_0, 1 × Q8_0", most frequent first.
pub fn mixture_line(types: &BTreeMap<String, usize>) -> String {
    let mut v: Vec<(&String, &usize)> = types.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    if v.is_empty() {
        return "none".into();
    }
    v.iter().map(|(t, n)| format!("{n} × {t}")).collect::<Vec<_>>().join(", ")
}

/// ggml's type names by id (ggml.h `enum ggml_type`).
pub fn type_name(id: u32) -> String {
    const NAMES: &[(u32, &str)] = &[
        (0, "F32"),
        (1, "F16"),
        (2, "Q4_0"),
        (3, "Q4_1"),
        (6, "Q5_0"),
        (7, "Q5_1"),
        (8, "Q8_0"),
        (9, "Q8_1"),
        (10, "Q2_K"),
        (11, "Q3_K"),
        (12, "Q4_K"),
        (13, "Q5_K"),
        (14, "Q6_K"),
        (15, "Q8_K"),
        (16, "IQ2_XXS"),
        (17, "IQ2_XS"),
        (18, "IQ3_XXS"),
        (19, "IQ1_S"),
        (20, "IQ4_NL"),
        (21, "IQ3_S"),
        (22, "IQ2_S"),
        (23, "IQ4_XS"),
        (24, "I8"),
        (25, "I16"),
        (26, "I32"),
        (27, "I64"),
        (28, "F64"),
        (29, "IQ1_M"),
        (30, "BF16"),
        (34, "TQ1_0"),
        (35, "TQ2_0"),
    ];
    NAMES.iter().find(|(i, _)| *i == id).map_or_else(|| format!("type{id}"), |(_, n)| n.to_string())
}

struct Reader<R: Read> {
    r: R,
}

impl<R: Read> Reader<R> {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        self.r.read_exact(&mut b).context("the header ends early")?;
        Ok(b)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }
    fn string(&mut self) -> Result<String> {
        let n = self.u64()?;
        if n > 1 << 24 {
            bail!("a string of {n} bytes: not a GGUF header");
        }
        let mut b = vec![0u8; n as usize];
        self.r.read_exact(&mut b).context("the header ends early")?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }
    fn skip(&mut self, n: u64) -> Result<()> {
        let copied = std::io::copy(&mut (&mut self.r).take(n), &mut std::io::sink())?;
        if copied != n {
            bail!("the header ends early");
        }
        Ok(())
    }
    /// A value of GGUF type `t`, as text (None for an array, which is skipped).
    fn value(&mut self, t: u32) -> Result<Option<String>> {
        Ok(Some(match t {
            0 => self.bytes::<1>()?[0].to_string(),
            1 => (self.bytes::<1>()?[0] as i8).to_string(),
            2 => u16::from_le_bytes(self.bytes()?).to_string(),
            3 => i16::from_le_bytes(self.bytes()?).to_string(),
            4 => self.u32()?.to_string(),
            5 => i32::from_le_bytes(self.bytes()?).to_string(),
            6 => f32::from_le_bytes(self.bytes()?).to_string(),
            7 => (self.bytes::<1>()?[0] != 0).to_string(),
            8 => self.string()?,
            10 => self.u64()?.to_string(),
            11 => i64::from_le_bytes(self.bytes()?).to_string(),
            12 => f64::from_le_bytes(self.bytes()?).to_string(),
            9 => {
                let inner = self.u32()?;
                let n = self.u64()?;
                for _ in 0..n {
                    self.value(inner)?;
                }
                return Ok(None);
            }
            other => bail!("metadata value type {other} is not a GGUF type"),
        }))
    }
}

/// Read `path`'s header.
pub fn read(path: &Path) -> Result<GgufFacts> {
    let f = std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    parse(BufReader::new(f)).with_context(|| format!("{}: not a readable GGUF header", path.display()))
}

/// Parse a header from its first bytes.
pub fn parse(r: impl Read) -> Result<GgufFacts> {
    let mut r = Reader { r };
    if &r.bytes::<4>()? != b"GGUF" {
        bail!("bad magic (not GGUF)");
    }
    let version = r.u32()?;
    if !(2..=3).contains(&version) {
        bail!("GGUF version {version} (this reader knows 2 and 3)");
    }
    let n_tensors = r.u64()?;
    let n_kv = r.u64()?;
    if n_tensors > 1 << 20 || n_kv > 1 << 20 {
        bail!("{n_tensors} tensors, {n_kv} metadata keys: not a GGUF header");
    }
    let mut facts = GgufFacts { version, ..Default::default() };
    for _ in 0..n_kv {
        let key = r.string()?;
        let t = r.u32()?;
        let value = if t == 9 {
            let inner = r.u32()?;
            let n = r.u64()?;
            // Fixed-width arrays are skipped in one go; strings one by one.
            let width = match inner {
                0 | 1 | 7 => Some(1),
                2 | 3 => Some(2),
                4..=6 => Some(4),
                10..=12 => Some(8),
                _ => None,
            };
            match width {
                Some(w) => r.skip(n * w)?,
                None => {
                    for _ in 0..n {
                        r.value(inner)?;
                    }
                }
            }
            format!("[{n} items]")
        } else {
            r.value(t)?.unwrap_or_default()
        };
        facts.metadata.insert(key, value);
    }
    for _ in 0..n_tensors {
        let _name = r.string()?;
        let n_dims = r.u32()?;
        if n_dims > 8 {
            bail!("a tensor of {n_dims} dimensions: not a GGUF header");
        }
        let mut big = 0;
        for _ in 0..n_dims {
            if r.u64()? > 1 {
                big += 1;
            }
        }
        let t = type_name(r.u32()?);
        let _offset = r.u64()?;
        *facts.tensor_types.entry(t.clone()).or_default() += 1;
        if big >= 2 {
            *facts.weight_types.entry(t).or_default() += 1;
        }
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }

    /// A hand-written v3 header: two keys and an array, three tensors.
    fn header() -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(3u64.to_le_bytes()); // tensors
        b.extend(4u64.to_le_bytes()); // keys
        string(&mut b, "tokenizer.ggml.pre");
        b.extend(8u32.to_le_bytes());
        string(&mut b, "smollm");
        string(&mut b, "tokenizer.ggml.add_bos_token");
        b.extend(7u32.to_le_bytes());
        b.push(0);
        string(&mut b, "tokenizer.ggml.tokens");
        b.extend(9u32.to_le_bytes());
        b.extend(8u32.to_le_bytes());
        b.extend(2u64.to_le_bytes());
        string(&mut b, "a");
        string(&mut b, "bc");
        string(&mut b, "tokenizer.ggml.scores");
        b.extend(9u32.to_le_bytes());
        b.extend(6u32.to_le_bytes());
        b.extend(2u64.to_le_bytes());
        b.extend([0u8; 8]);
        for (name, dims, t) in
            [("token_embd.weight", &[64u64, 100][..], 8u32), ("blk.0.attn_q.weight", &[64, 64], 2), ("output_norm.weight", &[64], 0)]
        {
            string(&mut b, name);
            b.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                b.extend(d.to_le_bytes());
            }
            b.extend(t.to_le_bytes());
            b.extend(0u64.to_le_bytes());
        }
        b
    }

    #[test]
    fn a_header_gives_its_metadata_and_mixture() {
        let f = parse(&header()[..]).unwrap();
        assert_eq!(f.version, 3);
        assert_eq!(f.metadata["tokenizer.ggml.pre"], "smollm");
        assert_eq!(f.metadata["tokenizer.ggml.add_bos_token"], "false");
        assert_eq!(f.metadata["tokenizer.ggml.tokens"], "[2 items]");
        assert_eq!(f.metadata["tokenizer.ggml.scores"], "[2 items]");
        assert_eq!(f.tensor_types, BTreeMap::from([("F32".into(), 1), ("Q4_0".into(), 1), ("Q8_0".into(), 1)]));
        // The norm is not a weight matrix: the mixture is the two matrices.
        assert_eq!(f.weight_types, BTreeMap::from([("Q4_0".into(), 1), ("Q8_0".into(), 1)]));
        assert!(!f.is_pure());
        assert_eq!(f.mixture(), "1 × Q4_0, 1 × Q8_0");
    }

    #[test]
    fn a_mixture_line_puts_the_most_frequent_type_first() {
        let types = BTreeMap::from([("Q8_0".to_string(), 1), ("Q4_0".to_string(), 210)]);
        assert_eq!(mixture_line(&types), "210 × Q4_0, 1 × Q8_0");
        assert_eq!(mixture_line(&BTreeMap::new()), "none");
        assert_eq!(type_name(30), "BF16");
        assert_eq!(type_name(99), "type99");
    }

    #[test]
    fn what_is_not_a_gguf_header_is_an_error() {
        assert!(parse(&b"GGML\x03\0\0\0"[..]).unwrap_err().to_string().contains("bad magic"));
        let mut v1 = b"GGUF".to_vec();
        v1.extend(1u32.to_le_bytes());
        assert!(parse(&v1[..]).unwrap_err().to_string().contains("version 1"));
        let h = header();
        assert!(parse(&h[..h.len() - 3]).unwrap_err().to_string().contains("ends early"));
        assert!(parse(&h[..40]).is_err());
    }
}
