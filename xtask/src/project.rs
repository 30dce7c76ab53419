//! Where things live: the repository root, goldens/, models/, prompts, and the
//! per-model working folders under models/.

use anyhow::{Context, Result};
use camino::Utf8PathBuf;

#[derive(Debug, Clone)]
pub struct Project {
    pub root: Utf8PathBuf,
}

impl Project {
    /// The workspace root: xtask's manifest dir's parent, or $TMGT_ROOT (tests).
    pub fn locate() -> Result<Project> {
        if let Ok(root) = std::env::var("TMGT_ROOT") {
            return Ok(Project { root: Utf8PathBuf::from(root) });
        }
        let manifest = Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let root = manifest.parent().context("xtask has no parent folder")?.to_path_buf();
        Ok(Project { root })
    }

    pub fn goldens(&self) -> Utf8PathBuf {
        self.root.join("goldens")
    }

    /// goldens/<slug>/ for f32, goldens/<slug>/<dtype>/ for reduced precisions.
    pub fn golden_dir(&self, slug: &str, dtype: tmgt_schema::Precision) -> Utf8PathBuf {
        match dtype {
            tmgt_schema::Precision::F32 => self.goldens().join(slug),
            reduced => self.goldens().join(slug).join(reduced.flag()),
        }
    }

    pub fn models(&self) -> Utf8PathBuf {
        match std::env::var("TMGT_MODELS") {
            Ok(dir) => Utf8PathBuf::from(dir),
            Err(_) => self.root.join("models"),
        }
    }

    pub fn model_dir(&self, slug: &str) -> Utf8PathBuf {
        self.models().join(slug)
    }

    /// The HF reference checkpoint the oracle and the converters read.
    pub fn reference_dir(&self, slug: &str) -> Utf8PathBuf {
        self.model_dir(slug).join("reference")
    }

    pub fn results_dir(&self) -> Utf8PathBuf {
        self.models().join("results")
    }

    pub fn claude_md(&self) -> Utf8PathBuf {
        self.root.join("CLAUDE.md")
    }
}
