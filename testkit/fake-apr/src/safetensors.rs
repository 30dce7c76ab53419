//! A minimal safetensors reader: the header (8-byte little-endian length, then a
//! JSON object of name → dtype, shape, data_offsets) and one tensor's data as f32.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Byte range in the data section (after the header).
    pub offsets: (u64, u64),
}

impl TensorInfo {
    pub fn elements(&self) -> u64 {
        self.shape.iter().map(|&d| d as u64).product()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub tensors: BTreeMap<String, TensorInfo>,
    /// Where the data section starts in the file: 8 + header length.
    pub data_start: u64,
}

/// A JSON object's keys in order, duplicates kept (a map keeps only the last).
fn keys(json: &[u8]) -> Option<Vec<String>> {
    struct Keys;
    impl<'de> serde::de::Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, _)) = m.next_entry::<String, serde::de::IgnoredAny>()? {
                out.push(k);
            }
            Ok(out)
        }
    }
    serde::Deserializer::deserialize_map(&mut serde_json::Deserializer::from_slice(json), Keys).ok()
}

/// Parses the header bytes (without the 8-byte length prefix).
pub fn parse_header(json: &[u8], file: &Path) -> Result<BTreeMap<String, TensorInfo>> {
    let value: serde_json::Value =
        serde_json::from_slice(json).with_context(|| format!("{}: safetensors header is not JSON", file.display()))?;
    let obj = value.as_object().with_context(|| format!("{}: safetensors header is not a JSON object", file.display()))?;
    let names = keys(json).unwrap_or_default();
    if names.len() != obj.len() {
        let mut seen = std::collections::BTreeSet::new();
        let twice = names.iter().find(|n| !seen.insert(n.as_str())).cloned().unwrap_or_default();
        bail!("{}: safetensors header names tensor {twice:?} twice", file.display());
    }
    let mut tensors = BTreeMap::new();
    for (name, entry) in obj {
        if name == "__metadata__" {
            continue;
        }
        let bad = |what: &str| anyhow::anyhow!("{}: safetensors tensor {name:?}: {what}", file.display());
        let dtype = entry.get("dtype").and_then(|d| d.as_str()).ok_or_else(|| bad("no string dtype"))?.to_string();
        let shape = entry
            .get("shape")
            .and_then(|s| s.as_array())
            .ok_or_else(|| bad("no shape array"))?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize).ok_or_else(|| bad("a shape entry is not a whole number")))
            .collect::<Result<Vec<_>>>()?;
        let offs = entry.get("data_offsets").and_then(|o| o.as_array()).ok_or_else(|| bad("no data_offsets"))?;
        let (Some(start), Some(end)) = (offs.first().and_then(|v| v.as_u64()), offs.get(1).and_then(|v| v.as_u64())) else {
            return Err(bad("data_offsets is not [start, end]"));
        };
        if end < start {
            return Err(bad("data_offsets end before start"));
        }
        tensors.insert(name.clone(), TensorInfo { dtype, shape, offsets: (start, end) });
    }
    Ok(tensors)
}

/// Reads the header of the safetensors file `path`.
pub fn read_header(path: &Path) -> Result<Header> {
    let mut f = std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).with_context(|| format!("{}: too short for a safetensors header length", path.display()))?;
    let len = u64::from_le_bytes(len);
    let size = f.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    if len > 100 << 20 || 8 + len > size {
        bail!("{}: safetensors header length {len} is implausible (file has {size} bytes)", path.display());
    }
    let mut json = vec![0u8; len as usize];
    f.read_exact(&mut json).with_context(|| format!("{}: truncated safetensors header", path.display()))?;
    let tensors = parse_header(&json, path)?;
    // A perfect apr refuses a file whose header does not describe its bytes.
    for (name, t) in &tensors {
        let width =
            dtype_width(&t.dtype).with_context(|| format!("{}: tensor {name:?} has unknown dtype {:?}", path.display(), t.dtype))?;
        if t.offsets.1 - t.offsets.0 != t.elements() * width {
            bail!(
                "{}: tensor {name:?} holds {} bytes, its shape needs {}",
                path.display(),
                t.offsets.1 - t.offsets.0,
                t.elements() * width
            );
        }
        if 8 + len + t.offsets.1 > size {
            bail!("{}: tensor {name:?} data ends past the end of the file ({size} bytes)", path.display());
        }
    }
    Ok(Header { tensors, data_start: 8 + len })
}

/// Bytes per element of a safetensors dtype.
fn dtype_width(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "F64" | "I64" | "U64" => 8,
        "F32" | "I32" | "U32" => 4,
        "F16" | "BF16" | "I16" | "U16" => 2,
        "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => 1,
        _ => return None,
    })
}

/// IEEE half → f32.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // subnormal: normalize
            let mut e = 127 - 15 + 1;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | ((e as u32) << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

/// One tensor's values as f32 (F32, F16, BF16 stored tensors).
pub fn read_f32(path: &Path, header: &Header, name: &str) -> Result<Vec<f32>> {
    let info = header.tensors.get(name).with_context(|| format!("{}: no tensor {name:?}", path.display()))?;
    let (start, end) = info.offsets;
    let mut f = std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    f.seek(SeekFrom::Start(header.data_start + start))?;
    let mut bytes = vec![0u8; (end - start) as usize];
    f.read_exact(&mut bytes).with_context(|| format!("{}: tensor {name:?} data truncated", path.display()))?;
    let n = info.elements() as usize;
    let width = match info.dtype.as_str() {
        "F32" => 4,
        "F16" | "BF16" => 2,
        other => bail!("{}: tensor {name:?} has dtype {other} (this fake reads F32, F16, BF16)", path.display()),
    };
    if bytes.len() != n * width {
        bail!("{}: tensor {name:?} holds {} bytes, its shape needs {}", path.display(), bytes.len(), n * width);
    }
    Ok(match info.dtype.as_str() {
        "F32" => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        "F16" => bytes.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect(),
        _ => bytes.chunks_exact(2).map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16)).collect(),
    })
}

/// Serializes f32 tensors as a safetensors file (the tests; `coarse-export`'s weights).
pub fn write_f32(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Result<()> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        let start = data.len();
        for v in values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.insert(name.to_string(), serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}));
    }
    let mut json = serde_json::to_vec(&serde_json::Value::Object(header))?;
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&json);
    bytes.extend_from_slice(&data);
    std::fs::write(path, bytes).with_context(|| format!("{}: cannot write", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_data_round_trip() {
        let dir = crate::testutil::temp_dir("st");
        let path = dir.join("model.safetensors");
        write_f32(&path, &[("a.weight", vec![2, 3], vec![1., 2., 3., 4., 5., 6.]), ("b", vec![4], vec![0.5; 4])]).unwrap();
        let h = read_header(&path).unwrap();
        assert_eq!(h.tensors.len(), 2);
        assert_eq!(h.tensors["a.weight"].shape, vec![2, 3]);
        assert_eq!(h.tensors["a.weight"].elements(), 6);
        assert_eq!(h.tensors["b"].offsets, (24, 40));
        assert_eq!(read_f32(&path, &h, "a.weight").unwrap()[5], 6.0);
        assert_eq!(read_f32(&path, &h, "b").unwrap(), vec![0.5; 4]);
    }

    #[test]
    fn metadata_is_skipped_and_errors_name_the_file() {
        let p = Path::new("/x/model.safetensors");
        let t = parse_header(br#"{"__metadata__":{"format":"pt"},"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]}}"#, p).unwrap();
        assert_eq!(t.keys().collect::<Vec<_>>(), vec!["w"]);
        let err = parse_header(br#"{"w":{"dtype":"F32","shape":[3]}}"#, p).unwrap_err().to_string();
        assert!(err.contains("/x/model.safetensors") && err.contains("data_offsets"), "{err}");
        let twice = br#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
        let err = parse_header(twice, p).unwrap_err().to_string();
        assert!(err.contains("names tensor \"w\" twice"), "{err}");
        let err = parse_header(br#"{"w":{"dtype":"F32","shape":[3]}}"#, p).unwrap_err().to_string();
        assert!(err.contains("/x/model.safetensors") && err.contains("data_offsets"), "{err}");
        let dir = crate::testutil::temp_dir("st-bad");
        let bad = dir.join("bad.safetensors");
        std::fs::write(&bad, [255u8; 12]).unwrap();
        let err = read_header(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.safetensors") && err.contains("implausible"), "{err}");
    }

    #[test]
    fn half_precision() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert!(f16_to_f32(0x7e00).is_nan());
    }
}
