//! The KLD suite's scorer and the tokenizer battery's tokenizer. `base` writes the
//! oracle's full-vocabulary log-probabilities for every scored position of the KLD
//! text once (f16, `tmgt_schema::logprobs`, windows cut from the text's ids like
//! llama.cpp's perplexity); `score_against_base` runs any `CausalLm` (candle on a
//! GGUF) on the same windows and streams its rows against the base file's, giving a
//! `KldReport`. `battery` answers the tokenizer battery with a `tokenizers`
//! tokenizer (the checkpoint's tokenizer.json, or the one a GGUF's metadata makes).

use crate::generate::CausalLm;
use anyhow::{ensure, Context, Result};
use candle_core::{DType, D};
use std::path::Path;
use tmgt_schema::kld::{compare_row, summarize, KldReport, RowStats};
use tmgt_schema::logprobs::{Dtype, LogprobsReader, LogprobsWriter, ScoringWindows};
use tmgt_schema::tokenize::{BatteryRun, BatteryString, Encoded, TextIds};
use tokenizers::Tokenizer;

/// The text's ids split into windows of `context` ids (the tokenizer's special
/// prefix, e.g. a BOS, opening each window).
pub fn windows_for(tokenizer: &Tokenizer, text: &str, context: usize) -> Result<ScoringWindows> {
    let with = tokenizer.encode(text, true).map_err(|e| anyhow::anyhow!("cannot encode the KLD text: {e}"))?;
    let plain = tokenizer.encode(text, false).map_err(|e| anyhow::anyhow!("cannot encode the KLD text: {e}"))?;
    let ids = TextIds::from_encodings(with.get_ids(), plain.get_ids())?;
    ScoringWindows::split(&ids.ids, &ids.prefix, context)
}

/// The log-softmax rows of one window from `first_scored` on (row j predicts id j + 1).
pub fn window_rows(model: &mut dyn CausalLm, window: &[u32], first_scored: usize) -> Result<Vec<Vec<f32>>> {
    ensure!(window.len() > first_scored + 1, "a window of {} ids scores nothing from {first_scored}", window.len());
    model.clear_cache();
    let logits = model.forward(&window[..window.len() - 1], 0, true)?.to_dtype(DType::F32)?;
    let rows = candle_nn::ops::log_softmax(&logits, D::Minus1)?.to_vec2::<f32>()?;
    ensure!(rows.len() == window.len() - 1, "{} rows of logits for {} ids", rows.len(), window.len() - 1);
    if let Some(bad) = rows.iter().position(|r| r.iter().any(|v| v.is_nan())) {
        anyhow::bail!("NaN log-probabilities at position {bad}");
    }
    Ok(rows.into_iter().skip(first_scored).collect())
}

/// Writes the base file: every window scored by `model`, rows in `dtype`.
pub fn write_base(model: &mut dyn CausalLm, windows: &ScoringWindows, n_vocab: usize, dtype: Dtype, out: &Path) -> Result<()> {
    let header = windows.header(n_vocab, dtype);
    tmgt_schema::write_file_atomic(out, |w| {
        let mut writer = LogprobsWriter::new(w, &header)?;
        for (i, window) in windows.windows.iter().enumerate() {
            for row in window_rows(model, window, windows.first_scored).with_context(|| format!("window {i}"))? {
                writer.row(&row)?;
            }
        }
        writer.finish()?;
        Ok(())
    })
}

/// The windows a base file was made of.
pub fn windows_of(reader: &LogprobsReader) -> Result<ScoringWindows> {
    let layout = reader.header.windows.as_ref().context("the base file has no windows")?;
    let mut windows = Vec::with_capacity(layout.lengths.len());
    let mut start = 0;
    for &len in &layout.lengths {
        windows.push(reader.header.token_ids[start..start + len].to_vec());
        start += len;
    }
    Ok(ScoringWindows { windows, first_scored: layout.first_scored })
}

/// `model` on the base file's windows (the first `max_windows` of them, when given),
/// each of its rows against the base's. The report's `n` and `ids_sha256` are of the
/// windows scored.
pub fn score_against_base(model: &mut dyn CausalLm, base: &Path, max_windows: Option<usize>) -> Result<KldReport> {
    let mut reader = LogprobsReader::open(base)?;
    let mut windows = windows_of(&reader)?;
    if let Some(max) = max_windows {
        ensure!(max > 0, "--windows 0 scores nothing");
        windows.windows.truncate(max);
    }
    let ids_sha = tmgt_schema::sha256_bytes(&serde_json::to_vec(&windows.windows)?);
    let targets = reader.header.targets();
    let mut stats: Vec<RowStats> = Vec::with_capacity(targets.len());
    let mut reference = Vec::new();
    for (i, window) in windows.windows.iter().enumerate() {
        for row in window_rows(model, window, windows.first_scored).with_context(|| format!("window {i}"))? {
            ensure!(reader.next_row(&mut reference)?, "{}: fewer rows than the windows give", base.display());
            ensure!(row.len() == reference.len(), "the runtime's vocabulary has {} ids, the oracle's {}", row.len(), reference.len());
            stats.push(compare_row(&reference, &row, targets[stats.len()] as usize));
        }
    }
    Ok(summarize(&stats, &ids_sha))
}

/// The battery through `tokenizer`: ids with special tokens added as for a prompt,
/// their pieces, and the decoded text (special tokens kept).
pub fn battery(tokenizer: &Tokenizer, strings: &[BatteryString], name: &str) -> BatteryRun {
    let results = strings
        .iter()
        .map(|s| match tokenizer.encode(s.text.as_str(), true) {
            Ok(enc) => {
                let ids = enc.get_ids().to_vec();
                let pieces = ids.iter().map(|&id| tokenizer.id_to_token(id).unwrap_or_default()).collect();
                let decoded = tokenizer.decode(&ids, false).ok();
                Encoded { ids, pieces: Some(pieces), decoded, roundtrip: None, error: None }
            }
            Err(e) => Encoded { error: Some(e.to_string()), ..Default::default() },
        })
        .collect();
    BatteryRun { tokenizer: name.to_string(), roundtrip_promised: promises_roundtrip(tokenizer), results }
}

/// Byte-level BPE (GPT-2, SmolLM, Qwen) promises decode(encode(s)) == s for any
/// text; SentencePiece-style normalizers do not (spaces become ▁, a prefix is added).
pub fn promises_roundtrip(tokenizer: &Tokenizer) -> bool {
    let json = serde_json::to_value(tokenizer).unwrap_or_default();
    let byte_level = |v: &serde_json::Value| v.to_string().contains("\"ByteLevel\"");
    json.get("normalizer").is_none_or(|n| n.is_null()) && byte_level(&json["pre_tokenizer"]) && byte_level(&json["decoder"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// A model whose logits at each position are a fixed function of the id there.
    struct Table {
        vocab: usize,
        shift: f32,
    }

    impl CausalLm for Table {
        fn forward(&mut self, ids: &[u32], _pos: usize, _all: bool) -> Result<Tensor> {
            let rows: Vec<f32> =
                ids.iter().flat_map(|&id| (0..self.vocab).map(move |v| ((id as usize * 7 + v * 3) % 11) as f32 * 0.3)).collect();
            let t = Tensor::from_vec(rows, (ids.len(), self.vocab), &Device::Cpu)?;
            Ok((t + self.shift as f64)?)
        }
        fn clear_cache(&mut self) {}
    }

    #[test]
    fn the_same_model_scores_zero_kld_against_its_own_base() {
        let ids: Vec<u32> = (0..40).map(|i| (i * 5 % 13) as u32).collect();
        let windows = ScoringWindows::split(&ids, &[1], 8).unwrap();
        let path = std::env::temp_dir().join(format!("tmgt-kld-base-{}.lp", std::process::id()));
        write_base(&mut Table { vocab: 13, shift: 0.0 }, &windows, 13, Dtype::F32, &path).unwrap();
        let report = score_against_base(&mut Table { vocab: 13, shift: 2.5 }, &path, None).unwrap();
        assert_eq!(report.n, windows.n_positions());
        let first = score_against_base(&mut Table { vocab: 13, shift: 2.5 }, &path, Some(1)).unwrap();
        assert_eq!(first.n, windows.windows[0].len() - 1 - windows.first_scored, "only the first window's positions");
        assert_ne!(first.ids_sha256, report.ids_sha256, "the ids hash says which windows were scored");
        assert!(score_against_base(&mut Table { vocab: 13, shift: 2.5 }, &path, Some(0)).is_err());
        assert!(report.kld_mean.value.abs() < 1e-9 && report.kld_max.abs() < 1e-9, "{report:?}");
        assert_eq!(report.same_top1.value, 1.0);
        // in f16 the base is rounded: the KLD is that rounding's noise, near 0
        write_base(&mut Table { vocab: 13, shift: 0.0 }, &windows, 13, Dtype::F16, &path).unwrap();
        let report = score_against_base(&mut Table { vocab: 13, shift: 0.0 }, &path, None).unwrap();
        assert!(report.kld_mean.value.abs() < 1e-5, "{}", report.kld_mean.value);
        std::fs::remove_file(&path).unwrap();
    }
}
