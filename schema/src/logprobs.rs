//! Full-vocabulary log-probabilities on disk (format `tmgt-logprobs-v1`), the one
//! format every writer uses: the oracle (`oracle-gen score --logprobs-out`), candle on
//! a GGUF (`oracle-gen score-gguf --logprobs-out`) and llama.cpp
//! (`llamacpp-comparator score --logprobs-out`), like llama.cpp's
//! `--kl-divergence-base` file. Also the scoring windows every runtime is given
//! (`ScoringWindows`: ids, not text, so all of them score the same ids).
//!
//! ```text
//! {"format":"tmgt-logprobs-v1","n_positions":P,"n_vocab":V,"token_ids":[…],"dtype":"f32-le","layout":"…"[,"windows":{…}]}\n
//! P × V values (little-endian f32, or f16 when dtype is "f16-le"), row-major
//! ```
//!
//! Without `windows`, `token_ids` holds the P + 1 scored ids and row `i` is the
//! log-softmax over the vocabulary that predicts `token_ids[i + 1]` from
//! `token_ids[..=i]`. With `windows` (`lengths`, `first_scored`), `token_ids` is the
//! windows' ids one after another; each window is scored from a fresh context and
//! gives one row per position `j` in `first_scored..len - 1` (the distribution that
//! predicts the window's id `j + 1` from its ids `..=j`), windows in order.
//!
//! f16 storage (for the oracle's base file, kept between runs) rounds each log-prob
//! to 11 significant bits: a relative error ≤ 2^-11, e.g. ≤ 0.0005 nats at a
//! log-prob of −1, ≤ 0.008 at −16 (a token of probability 1e-7). `kld_noise`
//! (tests) bounds what that does to a KLD.

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufReader, Read, Write};
use std::path::Path;

pub const LOGPROBS_FORMAT: &str = "tmgt-logprobs-v1";

/// How the values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dtype {
    F32,
    F16,
}

impl Dtype {
    /// The header's spelling: "f32-le", "f16-le".
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32-le",
            Dtype::F16 => "f16-le",
        }
    }

    pub fn bytes(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 => 2,
        }
    }

    /// "f32", "f32-le", "f16", "f16-le".
    pub fn parse(s: &str) -> Result<Dtype> {
        match s {
            "f32" | "f32-le" => Ok(Dtype::F32),
            "f16" | "f16-le" => Ok(Dtype::F16),
            other => bail!("unknown logprobs dtype {other:?} (f32, f16)"),
        }
    }
}

impl std::str::FromStr for Dtype {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Dtype> {
        Dtype::parse(s)
    }
}

/// The windows of a windowed file: each window's length, and the first position of
/// each window that has a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowLayout {
    pub lengths: Vec<usize>,
    pub first_scored: usize,
}

/// The header line of a logprobs file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogprobsHeader {
    pub format: String,
    pub n_positions: usize,
    pub n_vocab: usize,
    /// Without windows: the n_positions + 1 scored ids (row i predicts token_ids[i + 1]).
    /// With windows: every window's ids, one window after another.
    pub token_ids: Vec<u32>,
    pub dtype: String,
    pub layout: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<WindowLayout>,
}

impl LogprobsHeader {
    /// One sequence, every position scored, f32.
    pub fn new(token_ids: Vec<u32>, n_vocab: usize) -> LogprobsHeader {
        LogprobsHeader {
            format: LOGPROBS_FORMAT.into(),
            n_positions: token_ids.len().saturating_sub(1),
            n_vocab,
            token_ids,
            dtype: Dtype::F32.name().into(),
            layout: "row i = log-softmax over the vocabulary predicting token_ids[i+1] from token_ids[..=i]".into(),
            windows: None,
        }
    }

    pub fn with_dtype(mut self, dtype: Dtype) -> LogprobsHeader {
        self.dtype = dtype.name().into();
        self
    }

    pub fn dtype(&self) -> Result<Dtype> {
        Dtype::parse(&self.dtype)
    }

    /// The scored target of every row, in row order.
    pub fn targets(&self) -> Vec<u32> {
        match &self.windows {
            None => self.token_ids.iter().skip(1).copied().collect(),
            Some(w) => {
                let mut out = Vec::with_capacity(self.n_positions);
                let mut start = 0;
                for &len in &w.lengths {
                    let ids = &self.token_ids[start..start + len];
                    out.extend((w.first_scored..len.saturating_sub(1)).map(|j| ids[j + 1]));
                    start += len;
                }
                out
            }
        }
    }

    /// Every rule a header keeps: format, row count against the ids and windows.
    pub fn validate(&self) -> Result<()> {
        ensure!(self.format == LOGPROBS_FORMAT, "format {:?}, expected {LOGPROBS_FORMAT:?}", self.format);
        self.dtype()?;
        ensure!(self.n_vocab > 0, "n_vocab is 0");
        let expected = match &self.windows {
            None => self.token_ids.len().saturating_sub(1),
            Some(w) => {
                let total: usize = w.lengths.iter().sum();
                ensure!(total == self.token_ids.len(), "windows hold {total} ids, token_ids {}", self.token_ids.len());
                w.lengths.iter().map(|&l| l.saturating_sub(1).saturating_sub(w.first_scored)).sum()
            }
        };
        ensure!(self.n_positions == expected, "n_positions {} but the ids give {expected} rows", self.n_positions);
        if let Some(bad) = self.token_ids.iter().find(|&&t| t as usize >= self.n_vocab) {
            bail!("token id {bad} is outside the vocabulary of {}", self.n_vocab);
        }
        Ok(())
    }

    /// The header as its file line (JSON and a newline).
    pub fn line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).expect("a header serializes");
        line.push(b'\n');
        line
    }
}

/// Streams rows into a logprobs file (the header first), in the header's dtype.
pub struct LogprobsWriter<W: Write> {
    out: W,
    dtype: Dtype,
    n_vocab: usize,
    rows_left: usize,
    bytes: Vec<u8>,
}

impl<W: Write> LogprobsWriter<W> {
    pub fn new(mut out: W, header: &LogprobsHeader) -> Result<LogprobsWriter<W>> {
        header.validate()?;
        out.write_all(&header.line())?;
        Ok(LogprobsWriter { out, dtype: header.dtype()?, n_vocab: header.n_vocab, rows_left: header.n_positions, bytes: Vec::new() })
    }

    /// One row of `n_vocab` log-probabilities (f32 or f64 values).
    pub fn row<T: Copy + Into<f64>>(&mut self, row: &[T]) -> Result<()> {
        ensure!(self.rows_left > 0, "more rows than the header's n_positions");
        ensure!(row.len() == self.n_vocab, "row of {} values for a vocabulary of {}", row.len(), self.n_vocab);
        self.bytes.clear();
        match self.dtype {
            Dtype::F32 => row.iter().for_each(|&v| self.bytes.extend_from_slice(&(v.into() as f32).to_le_bytes())),
            Dtype::F16 => row.iter().for_each(|&v| self.bytes.extend_from_slice(&half::f16::from_f64(v.into()).to_le_bytes())),
        }
        self.out.write_all(&self.bytes)?;
        self.rows_left -= 1;
        Ok(())
    }

    /// Checks every row was written and flushes; returns the writer.
    pub fn finish(mut self) -> Result<W> {
        ensure!(self.rows_left == 0, "{} rows missing", self.rows_left);
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes a whole file in memory order (the header, then `rows`) to `w`.
pub fn write_logprobs<R: AsRef<[f32]>>(w: &mut impl Write, header: &LogprobsHeader, rows: &[R]) -> Result<()> {
    ensure!(rows.len() == header.n_positions, "{} rows for {} positions", rows.len(), header.n_positions);
    let mut writer = LogprobsWriter::new(w, header)?;
    for row in rows {
        writer.row(row.as_ref())?;
    }
    writer.finish()?;
    Ok(())
}

/// Reads a logprobs file row by row (it need not fit in memory).
pub struct LogprobsReader {
    pub header: LogprobsHeader,
    input: BufReader<std::fs::File>,
    dtype: Dtype,
    rows_left: usize,
    bytes: Vec<u8>,
    path: std::path::PathBuf,
}

impl LogprobsReader {
    /// Opens `path`, reads and checks its header and that the file holds exactly the
    /// rows it announces. Errors name the file.
    pub fn open(path: &Path) -> Result<LogprobsReader> {
        let file = std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
        let size = file.metadata().with_context(|| format!("{}: cannot stat", path.display()))?.len();
        let mut input = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::new();
        std::io::BufRead::read_until(&mut input, b'\n', &mut line).with_context(|| format!("{}: cannot read", path.display()))?;
        ensure!(line.last() == Some(&b'\n'), "{}: no header line", path.display());
        let header: LogprobsHeader = serde_json::from_slice(&line[..line.len() - 1])
            .with_context(|| format!("{}: the header is not a {LOGPROBS_FORMAT} header", path.display()))?;
        header.validate().with_context(|| format!("{}: bad header", path.display()))?;
        let dtype = header.dtype()?;
        let body = size - line.len() as u64;
        let expected = (header.n_positions * header.n_vocab * dtype.bytes()) as u64;
        ensure!(
            body == expected,
            "{}: {body} bytes of data, expected {expected} ({} × {} {})",
            path.display(),
            header.n_positions,
            header.n_vocab,
            dtype.name()
        );
        let rows_left = header.n_positions;
        Ok(LogprobsReader { header, input, dtype, rows_left, bytes: Vec::new(), path: path.to_path_buf() })
    }

    /// The next row into `out` (resized to n_vocab); false after the last row.
    pub fn next_row(&mut self, out: &mut Vec<f32>) -> Result<bool> {
        if self.rows_left == 0 {
            return Ok(false);
        }
        let n = self.header.n_vocab;
        self.bytes.resize(n * self.dtype.bytes(), 0);
        self.input.read_exact(&mut self.bytes).with_context(|| format!("{}: truncated", self.path.display()))?;
        out.clear();
        match self.dtype {
            Dtype::F32 => out.extend(self.bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
            Dtype::F16 => out.extend(self.bytes.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())),
        }
        self.rows_left -= 1;
        Ok(true)
    }
}

/// Reads a whole logprobs file: its header and the P × V matrix, row-major, as f32.
pub fn read_logprobs(path: &Path) -> Result<(LogprobsHeader, Vec<f32>)> {
    let mut reader = LogprobsReader::open(path)?;
    let mut data = Vec::with_capacity(reader.header.n_positions * reader.header.n_vocab);
    let mut row = Vec::new();
    while reader.next_row(&mut row)? {
        data.extend_from_slice(&row);
    }
    Ok((reader.header, data))
}

/// The ids a runtime scores: windows of the same ids for every runtime, each scored
/// from a fresh context, rows from position `first_scored` on (llama.cpp's
/// perplexity: every window `context` ids long, the first half only context).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoringWindows {
    pub windows: Vec<Vec<u32>>,
    pub first_scored: usize,
}

impl ScoringWindows {
    /// Splits a text's ids (no special tokens) into windows of `context` ids: each
    /// is `prefix` (the tokenizer's BOS, when it adds one) then the next
    /// `context - prefix.len()` text ids; a last window shorter than that is dropped,
    /// as llama.cpp drops its last partial chunk. Rows from `context / 2` on.
    pub fn split(ids: &[u32], prefix: &[u32], context: usize) -> Result<ScoringWindows> {
        ensure!(context >= 4, "a context of {context} ids is too short to score in halves");
        ensure!(prefix.len() < context / 2, "a prefix of {} ids leaves nothing of a context of {context}", prefix.len());
        let step = context - prefix.len();
        let windows: Vec<Vec<u32>> = ids.chunks_exact(step).map(|chunk| prefix.iter().chain(chunk).copied().collect()).collect();
        ensure!(!windows.is_empty(), "{} ids do not fill one window of {context}", ids.len());
        Ok(ScoringWindows { windows, first_scored: context / 2 })
    }

    pub fn n_positions(&self) -> usize {
        self.windows.iter().map(|w| w.len().saturating_sub(1).saturating_sub(self.first_scored)).sum()
    }

    /// (window, position in it) of every row, in row order.
    pub fn rows(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::with_capacity(self.n_positions());
        for (w, ids) in self.windows.iter().enumerate() {
            out.extend((self.first_scored..ids.len().saturating_sub(1)).map(|j| (w, j)));
        }
        out
    }

    /// The header of the file these windows make.
    pub fn header(&self, n_vocab: usize, dtype: Dtype) -> LogprobsHeader {
        LogprobsHeader {
            format: LOGPROBS_FORMAT.into(),
            n_positions: self.n_positions(),
            n_vocab,
            token_ids: self.windows.iter().flatten().copied().collect(),
            dtype: dtype.name().into(),
            layout: "windows scored from a fresh context each; per window, row j (j >= first_scored) = log-softmax predicting its id j+1 from its ids ..=j".into(),
            windows: Some(WindowLayout { lengths: self.windows.iter().map(Vec::len).collect(), first_scored: self.first_scored }),
        }
    }

    pub fn read(path: &Path) -> Result<ScoringWindows> {
        let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let w: ScoringWindows =
            serde_json::from_slice(&bytes).with_context(|| format!("{}: not a scoring-windows JSON file", path.display()))?;
        ensure!(w.n_positions() > 0, "{}: the windows score no position", path.display());
        Ok(w)
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        crate::write_atomic(path, &serde_json::to_vec(self)?)
    }
}

/// Perplexity statistics of scored rows: the mean NLL of the targets and exp of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NllSum {
    pub n: usize,
    pub sum: f64,
}

impl NllSum {
    pub fn add(&mut self, target_logprob: f64) {
        self.n += 1;
        self.sum -= target_logprob;
    }

    pub fn score(&self) -> crate::Score {
        let mean = self.sum / self.n.max(1) as f64;
        crate::Score { perplexity: mean.exp(), token_count: Some(self.n), mean_nll: Some(mean) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write_file_atomic;

    fn tmp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("tmgt-lp-{}-{name}", std::process::id()))
    }

    #[test]
    fn round_trips_in_f32_exactly_and_f16_within_its_rounding() {
        let header = LogprobsHeader::new(vec![1, 0, 2], 3);
        let rows = vec![vec![-0.1f32, -2.3, -4.0], vec![-1.5, -0.25, -20.0]];
        for dtype in [Dtype::F32, Dtype::F16] {
            let path = tmp(&format!("rt-{}", dtype.name()));
            let h = header.clone().with_dtype(dtype);
            write_file_atomic(&path, |w| write_logprobs(w, &h, &rows)).unwrap();
            let (back, data) = read_logprobs(&path).unwrap();
            assert_eq!(back, h);
            let want: Vec<f32> = rows.iter().flatten().copied().collect();
            for (a, b) in data.iter().zip(&want) {
                let tol = if dtype == Dtype::F32 { 0.0 } else { b.abs() * 2f32.powi(-11) };
                assert!((a - b).abs() <= tol, "{dtype:?}: {a} vs {b}");
            }
            let size = std::fs::metadata(&path).unwrap().len() as usize;
            assert_eq!(size, h.line().len() + 6 * dtype.bytes());
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn the_comparators_files_read_back() {
        // The header llamacpp-comparator wrote before this module existed (no windows).
        let line = br#"{"format":"tmgt-logprobs-v1","n_positions":1,"n_vocab":2,"token_ids":[5,6],"dtype":"f32-le","layout":"x"}"#;
        let header: LogprobsHeader = serde_json::from_slice(line).unwrap();
        assert_eq!(header.windows, None);
        assert_eq!(header.targets(), vec![6]);
        assert!(header.validate().unwrap_err().to_string().contains("outside the vocabulary"));
    }

    #[test]
    fn bad_files_are_refused_naming_the_file() {
        let path = tmp("bad");
        let header = LogprobsHeader::new(vec![0, 1], 2);
        write_file_atomic(&path, |w| write_logprobs(w, &header, &[vec![-0.5f32, -1.0]])).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.pop();
        std::fs::write(&path, &bytes).unwrap();
        let err = format!("{:#}", LogprobsReader::open(&path).err().unwrap());
        assert!(err.contains(&path.display().to_string()) && err.contains("bytes of data"), "{err}");
        std::fs::write(&path, b"{\"format\":\"other\"}\n").unwrap();
        assert!(format!("{:#}", LogprobsReader::open(&path).err().unwrap()).contains("header"));
        std::fs::remove_file(&path).unwrap();
        assert!(write_logprobs(&mut Vec::new(), &header, &[vec![0.0f32; 3]]).is_err(), "row length must be n_vocab");
        assert!(write_logprobs::<Vec<f32>>(&mut Vec::new(), &header, &[]).is_err(), "row count must match");
    }

    #[test]
    fn windows_split_like_llama_perplexity_and_targets_follow_them() {
        let ids: Vec<u32> = (10..30).collect();
        let w = ScoringWindows::split(&ids, &[1], 8).unwrap();
        assert_eq!(w.windows.len(), 2, "20 ids in chunks of 7, the partial third dropped");
        assert_eq!(w.windows[0], vec![1, 10, 11, 12, 13, 14, 15, 16]);
        assert_eq!(w.windows[1][..2], [1, 17]);
        assert_eq!(w.first_scored, 4);
        assert_eq!(w.n_positions(), 6, "positions 4, 5, 6 of each window");
        assert_eq!(w.rows()[..3], [(0, 4), (0, 5), (0, 6)]);
        let h = w.header(40, Dtype::F16);
        h.validate().unwrap();
        assert_eq!(h.targets(), vec![14, 15, 16, 21, 22, 23]);
        assert!(ScoringWindows::split(&ids[..5], &[], 8).is_err(), "fewer ids than one window");
        let path = tmp("windows.json");
        w.write(&path).unwrap();
        assert_eq!(ScoringWindows::read(&path).unwrap(), w);
        std::fs::remove_file(&path).unwrap();
    }
}
