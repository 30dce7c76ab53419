//! A minimal GGUF (v2/v3) reader and writer: header, key/value metadata of every
//! value type (arrays included), tensor infos with their ggml types; a writer for
//! F32/Q8_0/Q4_0 tensors; and `add_string_kv`, which splices one metadata string
//! into an existing file (how an export records the reference it came from).

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

pub const MAGIC: &[u8; 4] = b"GGUF";
/// The metadata key under which fake-apr's export records the reference directory.
pub const REFERENCE_KEY: &str = "fake_apr.reference";
/// Whether a prompt starts with BOS; apr prepends one when a GGUF lacks the key.
pub const ADD_BOS_KEY: &str = "tokenizer.ggml.add_bos_token";

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    fn type_id(&self) -> u32 {
        match self {
            Value::U8(_) => 0,
            Value::I8(_) => 1,
            Value::U16(_) => 2,
            Value::I16(_) => 3,
            Value::U32(_) => 4,
            Value::I32(_) => 5,
            Value::F32(_) => 6,
            Value::Bool(_) => 7,
            Value::String(_) => 8,
            Value::Array(_) => 9,
            Value::U64(_) => 10,
            Value::I64(_) => 11,
            Value::F64(_) => 12,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// How apr's `inspect --json` prints a metadata value: scalars as strings,
    /// arrays as `[len=N]`.
    pub fn display(&self) -> String {
        match self {
            Value::U8(v) => v.to_string(),
            Value::I8(v) => v.to_string(),
            Value::U16(v) => v.to_string(),
            Value::I16(v) => v.to_string(),
            Value::U32(v) => v.to_string(),
            Value::I32(v) => v.to_string(),
            Value::F32(v) => v.to_string(),
            Value::Bool(v) => v.to_string(),
            Value::String(v) => v.clone(),
            Value::Array(a) => format!("[len={}]", a.len()),
            Value::U64(v) => v.to_string(),
            Value::I64(v) => v.to_string(),
            Value::F64(v) => v.to_string(),
        }
    }
}

/// ggml tensor types: (id, name, block size in elements, bytes per block).
const GGML_TYPES: &[(u32, &str, u64, u64)] = &[
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 36),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (30, "BF16", 1, 2),
];

pub const GGML_F32: u32 = 0;
pub const GGML_Q4_0: u32 = 2;
pub const GGML_Q8_0: u32 = 8;

pub fn ggml_type_name(t: u32) -> String {
    GGML_TYPES.iter().find(|x| x.0 == t).map(|x| x.1.to_string()).unwrap_or_else(|| format!("GGML_TYPE_{t}"))
}

#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: dims[0] is the fastest-varying (the reverse of HF's shape).
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    /// Offset in the data section.
    pub offset: u64,
}

impl TensorInfo {
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Bytes of the tensor's data, when its type is known.
    pub fn size_bytes(&self) -> Option<u64> {
        let (_, _, block, bytes) = GGML_TYPES.iter().find(|x| x.0 == self.ggml_type)?;
        Some(self.elements().div_ceil(*block) * bytes)
    }

    pub fn type_name(&self) -> String {
        ggml_type_name(self.ggml_type)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gguf {
    pub version: u32,
    /// In file order.
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    /// File offset where the key/value section ends (tensor infos begin).
    pub kv_end: u64,
    /// File offset where the tensor infos end.
    pub infos_end: u64,
    pub alignment: u64,
    pub data_start: u64,
}

impl Gguf {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn architecture(&self) -> Option<&str> {
        self.get("general.architecture").and_then(Value::as_str)
    }

    /// `<arch>.<key>` as a whole number.
    pub fn arch_u64(&self, key: &str) -> Option<u64> {
        self.get(&format!("{}.{key}", self.architecture()?)).and_then(Value::as_u64)
    }

    pub fn reference(&self) -> Option<&str> {
        self.get(REFERENCE_KEY).and_then(Value::as_str)
    }

    /// The dominant tensor type by element count, ignoring F32 unless every tensor is F32.
    pub fn quantization(&self) -> String {
        let mut by_type: BTreeMap<u32, u64> = BTreeMap::new();
        for t in &self.tensors {
            *by_type.entry(t.ggml_type).or_default() += t.elements();
        }
        by_type
            .iter()
            .filter(|(t, _)| **t != GGML_F32)
            .max_by_key(|(t, n)| (**n, std::cmp::Reverse(**t)))
            .map(|(t, _)| ggml_type_name(*t))
            .unwrap_or_else(|| if self.tensors.is_empty() { "unknown".into() } else { "F32".into() })
    }
}

struct Reader<R> {
    r: R,
    pos: u64,
}

impl<R: Read> Reader<R> {
    fn bytes<const N: usize>(&mut self) -> std::io::Result<[u8; N]> {
        let mut b = [0u8; N];
        self.r.read_exact(&mut b)?;
        self.pos += N as u64;
        Ok(b)
    }
    fn u32(&mut self) -> std::io::Result<u32> {
        self.bytes::<4>().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> std::io::Result<u64> {
        self.bytes::<8>().map(u64::from_le_bytes)
    }
    fn string(&mut self) -> Result<String> {
        let len = self.u64()?;
        if len > 1 << 24 {
            bail!("string length {len} at byte {} is implausible", self.pos - 8);
        }
        let mut b = vec![0u8; len as usize];
        self.r.read_exact(&mut b)?;
        self.pos += len;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }
    fn value(&mut self, t: u32, depth: usize) -> Result<Value> {
        Ok(match t {
            0 => Value::U8(self.bytes::<1>()?[0]),
            1 => Value::I8(self.bytes::<1>()?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.bytes()?)),
            3 => Value::I16(i16::from_le_bytes(self.bytes()?)),
            4 => Value::U32(self.u32()?),
            5 => Value::I32(i32::from_le_bytes(self.bytes()?)),
            6 => Value::F32(f32::from_le_bytes(self.bytes()?)),
            7 => Value::Bool(self.bytes::<1>()?[0] != 0),
            8 => Value::String(self.string()?),
            9 => {
                if depth > 4 {
                    bail!("arrays nested too deep");
                }
                let item_type = self.u32()?;
                let len = self.u64()?;
                if len > 1 << 26 {
                    bail!("array length {len} is implausible");
                }
                let mut items = Vec::with_capacity(len.min(1 << 20) as usize);
                for _ in 0..len {
                    items.push(self.value(item_type, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(i64::from_le_bytes(self.bytes()?)),
            12 => Value::F64(f64::from_le_bytes(self.bytes()?)),
            other => bail!("unknown metadata value type {other}"),
        })
    }
}

/// True when the file starts with the GGUF magic.
pub fn is_gguf(path: &Path) -> bool {
    let mut b = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut b)).is_ok() && &b == MAGIC
}

/// Reads header, metadata and tensor infos of the GGUF file `path` (not the data).
pub fn read(path: &Path) -> Result<Gguf> {
    let file = std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    let mut r = Reader { r: BufReader::new(file), pos: 0 };
    let at = |what: &str| format!("{}: GGUF {what}", path.display());
    let magic: [u8; 4] = r.bytes().with_context(|| at("magic"))?;
    if &magic != MAGIC {
        bail!("{}: not a GGUF file (magic {:?})", path.display(), String::from_utf8_lossy(&magic));
    }
    let version = r.u32().with_context(|| at("version"))?;
    if !(2..=3).contains(&version) {
        bail!("{}: GGUF version {version} (this reader knows 2 and 3)", path.display());
    }
    let n_tensors = r.u64().with_context(|| at("tensor count"))?;
    let n_kv = r.u64().with_context(|| at("metadata count"))?;
    if n_tensors > 1 << 20 || n_kv > 1 << 20 {
        bail!("{}: GGUF counts are implausible ({n_tensors} tensors, {n_kv} keys)", path.display());
    }
    let mut metadata = Vec::with_capacity(n_kv as usize);
    for i in 0..n_kv {
        let key = r.string().with_context(|| at(&format!("metadata key #{i}")))?;
        let t = r.u32().with_context(|| at(&format!("type of {key}")))?;
        let v = r.value(t, 0).with_context(|| at(&format!("value of {key}")))?;
        metadata.push((key, v));
    }
    let kv_end = r.pos;
    let mut tensors = Vec::with_capacity(n_tensors as usize);
    for i in 0..n_tensors {
        let name = r.string().with_context(|| at(&format!("tensor info #{i}")))?;
        let n_dims = r.u32().with_context(|| at(&format!("dims of {name}")))?;
        if n_dims > 8 {
            bail!("{}: tensor {name} has {n_dims} dims", path.display());
        }
        let dims = (0..n_dims).map(|_| r.u64()).collect::<std::io::Result<Vec<_>>>().with_context(|| at(&format!("dims of {name}")))?;
        let ggml_type = r.u32().with_context(|| at(&format!("type of {name}")))?;
        let offset = r.u64().with_context(|| at(&format!("offset of {name}")))?;
        tensors.push(TensorInfo { name, dims, ggml_type, offset });
    }
    let infos_end = r.pos;
    let mut g = Gguf { version, metadata, tensors, kv_end, infos_end, alignment: 32, data_start: 0 };
    g.alignment = g.get("general.alignment").and_then(Value::as_u64).filter(|a| *a > 0).unwrap_or(32);
    g.data_start = infos_end.div_ceil(g.alignment) * g.alignment;
    for t in &g.tensors {
        if let Some(n) = t.size_bytes() {
            if g.data_start + t.offset + n > size {
                bail!("{}: tensor {} data ends past the end of the file ({size} bytes)", path.display(), t.name);
            }
        }
    }
    Ok(g)
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.push(*x as u8),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            let t = items.first().map(Value::type_id).unwrap_or(4);
            out.extend_from_slice(&t.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for i in items {
                write_value(out, i);
            }
        }
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
    }
}

fn write_kv(out: &mut Vec<u8>, key: &str, v: &Value) {
    write_string(out, key);
    out.extend_from_slice(&v.type_id().to_le_bytes());
    write_value(out, v);
}

/// Encodes f32 values (a multiple of 32) as ggml Q8_0 blocks.
pub fn quantize_q8_0(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / 32 * 34);
    for block in values.chunks(32) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
        for v in block {
            let q = if d == 0.0 { 0.0 } else { (v / d).round() };
            out.push(q.clamp(-128.0, 127.0) as i8 as u8);
        }
    }
    out
}

/// Encodes f32 values (a multiple of 32) as ggml Q4_0 blocks.
pub fn quantize_q4_0(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / 32 * 18);
    for block in values.chunks(32) {
        let max = block.iter().fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
        let d = max / -8.0;
        let id = if d == 0.0 { 0.0 } else { 1.0 / d };
        out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
        for j in 0..16 {
            let q = |v: f32| ((v * id + 8.5) as i32).clamp(0, 15) as u8;
            out.push(q(block[j]) | (q(block[j + 16]) << 4));
        }
    }
    out
}

/// f32 → IEEE half (round to nearest even; enough for quantization scales).
pub fn f32_to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let mant = bits & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if mant != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = (mant | 0x80_0000) >> (1 - e);
        let half = if (m & 0x1fff) > 0x1000 || ((m & 0x1fff) == 0x1000 && (m & 0x2000) != 0) { 1 } else { 0 };
        return sign | ((m >> 13) as u16 + half);
    }
    let mut h = sign as u32 | ((e as u32) << 10) | (mant >> 13);
    let rest = mant & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && (h & 1) != 0) {
        h += 1;
    }
    h as u16
}

/// A tensor to write: name, HF-order shape, values, ggml type (F32, Q8_0, Q4_0).
pub struct WriteTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
    pub ggml_type: u32,
}

/// Writes a GGUF v3 file: metadata in order, tensors with 32-byte alignment.
pub fn write(path: &Path, metadata: &[(String, Value)], tensors: &[WriteTensor]) -> Result<()> {
    const ALIGN: u64 = 32;
    let mut head = Vec::new();
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&3u32.to_le_bytes());
    head.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    head.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (k, v) in metadata {
        write_kv(&mut head, k, v);
    }
    let mut data = Vec::new();
    for t in tensors {
        let bytes = match t.ggml_type {
            GGML_F32 => t.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            GGML_Q8_0 if t.values.len() % 32 == 0 => quantize_q8_0(&t.values),
            GGML_Q4_0 if t.values.len() % 32 == 0 => quantize_q4_0(&t.values),
            other => bail!("{}: cannot write tensor {} as {}", path.display(), t.name, ggml_type_name(other)),
        };
        write_string(&mut head, &t.name);
        head.extend_from_slice(&(t.shape.len() as u32).to_le_bytes());
        for d in t.shape.iter().rev() {
            head.extend_from_slice(&(*d as u64).to_le_bytes());
        }
        head.extend_from_slice(&t.ggml_type.to_le_bytes());
        head.extend_from_slice(&(data.len() as u64).to_le_bytes());
        data.extend_from_slice(&bytes);
        data.resize((data.len() as u64).div_ceil(ALIGN) as usize * ALIGN as usize, 0);
    }
    head.resize((head.len() as u64).div_ceil(ALIGN) as usize * ALIGN as usize, 0);
    head.extend_from_slice(&data);
    tmgt_schema::write_atomic(path, &head)
}

/// Rewrites the GGUF `src` into `dst` with one more string key/value: the header's
/// key count goes up by one, the existing pairs are copied byte for byte and the new
/// one follows them, tensor infos are copied as they are, the data section is
/// re-aligned and copied byte for byte (tensor offsets are relative to it, so they
/// stay valid). An existing pair under `key` is replaced (the others re-encoded).
pub fn add_string_kv(src: &Path, dst: &Path, key: &str, value: &str) -> Result<()> {
    rewrite_kv(src, dst, key, Some(Value::String(value.to_string())))
}

/// Rewrites the GGUF `src` into `dst` without the pair under `key` (as `add_string_kv`).
pub fn remove_kv(src: &Path, dst: &Path, key: &str) -> Result<()> {
    rewrite_kv(src, dst, key, None)
}

/// `src` into `dst` with the pair under `key` set to `value`, or removed (None).
fn rewrite_kv(src: &Path, dst: &Path, key: &str, value: Option<Value>) -> Result<()> {
    /// magic, version, tensor count, key/value count.
    const HEADER: u64 = 4 + 4 + 8 + 8;
    let g = read(src)?;
    let mut f = std::fs::File::open(src).with_context(|| format!("{}: cannot open", src.display()))?;
    let mut raw = vec![0u8; g.infos_end as usize];
    f.read_exact(&mut raw).with_context(|| format!("{}: cannot reread the header", src.display()))?;
    let mut head = Vec::new();
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&g.version.to_le_bytes());
    head.extend_from_slice(&(g.tensors.len() as u64).to_le_bytes());
    let others = g.metadata.len() as u64 - u64::from(g.get(key).is_some());
    head.extend_from_slice(&(others + u64::from(value.is_some())).to_le_bytes());
    if g.get(key).is_none() {
        head.extend_from_slice(&raw[HEADER as usize..g.kv_end as usize]);
    } else {
        for (k, v) in g.metadata.iter().filter(|(k, _)| k != key) {
            write_kv(&mut head, k, v);
        }
    }
    if let Some(value) = &value {
        write_kv(&mut head, key, value);
    }
    head.extend_from_slice(&raw[g.kv_end as usize..]);
    head.resize((head.len() as u64).div_ceil(g.alignment) as usize * g.alignment as usize, 0);

    let tmp = dst.with_file_name(format!(
        ".{}.{}.fake-apr.tmp",
        dst.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).with_context(|| format!("{}: cannot create", tmp.display()))?);
        out.write_all(&head)?;
        f.seek(SeekFrom::Start(g.data_start))?;
        std::io::copy(&mut f, &mut out).with_context(|| format!("copying the data of {} to {}", src.display(), tmp.display()))?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, dst).with_context(|| format!("cannot rename {} to {}", tmp.display(), dst.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny GGUF written byte by byte (not with `write`), so the reader is checked
    /// against the format, not against our own writer.
    fn hand_made(path: &Path) {
        let mut b = Vec::new();
        b.extend_from_slice(b"GGUF");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&2u64.to_le_bytes()); // tensors
        b.extend_from_slice(&5u64.to_le_bytes()); // kv
        let s = |b: &mut Vec<u8>, s: &str| {
            b.extend_from_slice(&(s.len() as u64).to_le_bytes());
            b.extend_from_slice(s.as_bytes());
        };
        s(&mut b, "general.architecture");
        b.extend_from_slice(&8u32.to_le_bytes());
        s(&mut b, "llama");
        s(&mut b, "llama.block_count");
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&2u32.to_le_bytes());
        s(&mut b, "llama.rope.freq_base");
        b.extend_from_slice(&6u32.to_le_bytes());
        b.extend_from_slice(&100000f32.to_le_bytes());
        s(&mut b, "tokenizer.ggml.tokens");
        b.extend_from_slice(&9u32.to_le_bytes());
        b.extend_from_slice(&8u32.to_le_bytes());
        b.extend_from_slice(&3u64.to_le_bytes());
        for t in ["<s>", "</s>", "a"] {
            s(&mut b, t);
        }
        s(&mut b, "x.flag");
        b.extend_from_slice(&7u32.to_le_bytes());
        b.push(1);
        // tensor infos
        s(&mut b, "token_embd.weight");
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&32u64.to_le_bytes());
        b.extend_from_slice(&3u64.to_le_bytes());
        b.extend_from_slice(&GGML_Q4_0.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        s(&mut b, "output_norm.weight");
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&32u64.to_le_bytes());
        b.extend_from_slice(&GGML_F32.to_le_bytes());
        b.extend_from_slice(&64u64.to_le_bytes());
        while b.len() % 32 != 0 {
            b.push(0);
        }
        b.extend_from_slice(&[7u8; 64 + 128]);
        std::fs::write(path, b).unwrap();
    }

    #[test]
    fn reads_a_hand_made_file() {
        let dir = crate::testutil::temp_dir("gguf");
        let path = dir.join("m.gguf");
        hand_made(&path);
        assert!(is_gguf(&path));
        let g = read(&path).unwrap();
        assert_eq!(g.version, 3);
        assert_eq!(g.architecture(), Some("llama"));
        assert_eq!(g.arch_u64("block_count"), Some(2));
        assert_eq!(g.get("llama.rope.freq_base").unwrap().display(), "100000");
        assert_eq!(g.get("tokenizer.ggml.tokens").unwrap().display(), "[len=3]");
        assert_eq!(g.get("x.flag"), Some(&Value::Bool(true)));
        assert_eq!(g.tensors[0].dims, vec![32, 3]);
        assert_eq!(g.tensors[0].type_name(), "Q4_0");
        assert_eq!(g.tensors[0].size_bytes(), Some(3 * 18));
        assert_eq!(g.tensors[1].size_bytes(), Some(128));
        assert_eq!(g.quantization(), "Q4_0");
        assert_eq!(g.data_start % 32, 0);
    }

    #[test]
    fn errors_name_the_file_and_reason() {
        let dir = crate::testutil::temp_dir("gguf-bad");
        let path = dir.join("short.gguf");
        hand_made(&path);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
        let err = format!("{:#}", read(&path).unwrap_err());
        assert!(err.contains("short.gguf") && err.contains("past the end"), "{err}");
        std::fs::write(&path, b"GGML....").unwrap();
        let err = format!("{:#}", read(&path).unwrap_err());
        assert!(err.contains("short.gguf") && err.contains("not a GGUF"), "{err}");
    }

    #[test]
    fn writer_and_splice_keep_tensors_readable() {
        let dir = crate::testutil::temp_dir("gguf-write");
        let path = dir.join("w.gguf");
        let values: Vec<f32> = (0..64).map(|i| i as f32 / 10.0 - 3.0).collect();
        let md = vec![("general.architecture".to_string(), Value::String("gpt2".into())), ("gpt2.block_count".into(), Value::U32(1))];
        let tensors = vec![
            WriteTensor { name: "a".into(), shape: vec![2, 32], values: values.clone(), ggml_type: GGML_Q4_0 },
            WriteTensor { name: "b".into(), shape: vec![64], values: values.clone(), ggml_type: GGML_F32 },
            WriteTensor { name: "c".into(), shape: vec![2, 32], values, ggml_type: GGML_Q8_0 },
        ];
        write(&path, &md, &tensors).unwrap();
        let g = read(&path).unwrap();
        assert_eq!(g.tensors.iter().map(|t| t.dims.clone()).collect::<Vec<_>>(), vec![vec![32, 2], vec![64], vec![32, 2]]);
        assert_eq!(g.quantization(), "Q4_0");
        let spliced = dir.join("s.gguf");
        add_string_kv(&path, &spliced, REFERENCE_KEY, "/m/x/reference").unwrap();
        let s = read(&spliced).unwrap();
        assert_eq!(s.reference(), Some("/m/x/reference"));
        assert_eq!(s.tensors, g.tensors);
        let (a, b) = (std::fs::read(&path).unwrap(), std::fs::read(&spliced).unwrap());
        assert_eq!(a[g.data_start as usize..], b[s.data_start as usize..], "data copied byte for byte");
        // Splicing again replaces the key instead of adding a second one.
        add_string_kv(&spliced, &spliced, REFERENCE_KEY, "/other").unwrap();
        let s2 = read(&spliced).unwrap();
        assert_eq!(s2.reference(), Some("/other"));
        assert_eq!(s2.metadata.len(), 3);
        // Removing a key leaves the others and the data as they were.
        let removed = dir.join("r.gguf");
        remove_kv(&spliced, &removed, REFERENCE_KEY).unwrap();
        let r = read(&removed).unwrap();
        assert_eq!((r.reference(), r.metadata.len(), &r.tensors), (None, 2, &g.tensors));
        let c = std::fs::read(&removed).unwrap();
        assert_eq!(a[g.data_start as usize..], c[r.data_start as usize..]);
    }

    #[test]
    fn splice_keeps_a_foreign_file_byte_for_byte() {
        let dir = crate::testutil::temp_dir("gguf-splice");
        let (src, dst) = (dir.join("m.gguf"), dir.join("out.gguf"));
        hand_made(&src);
        add_string_kv(&src, &dst, REFERENCE_KEY, "/ref").unwrap();
        let (a, b) = (read(&src).unwrap(), read(&dst).unwrap());
        assert_eq!(b.metadata[..a.metadata.len()], a.metadata[..]);
        assert_eq!(b.reference(), Some("/ref"));
        assert_eq!(b.tensors, a.tensors);
        let (x, y) = (std::fs::read(&src).unwrap(), std::fs::read(&dst).unwrap());
        assert_eq!(x[24..a.kv_end as usize], y[24..a.kv_end as usize], "existing pairs copied raw");
        assert_eq!(x[a.data_start as usize..], y[b.data_start as usize..]);
    }

    #[test]
    fn quantizers_round_trip_roughly() {
        let values: Vec<f32> = (0..32).map(|i| (i as f32 - 16.0) / 4.0).collect();
        let q8 = quantize_q8_0(&values);
        assert_eq!(q8.len(), 34);
        let d = crate::safetensors::f16_to_f32(u16::from_le_bytes([q8[0], q8[1]]));
        assert!((d * (q8[2] as i8) as f32 - values[0]).abs() < 0.05);
        let q4 = quantize_q4_0(&values);
        assert_eq!(q4.len(), 18);
        assert_eq!(f32_to_f16(1.0), 0x3c00);
        assert_eq!(f32_to_f16(-2.0), 0xc000);
        assert_eq!(crate::safetensors::f16_to_f32(f32_to_f16(0.1)), 0.099975586);
    }
}
