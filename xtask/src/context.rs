//! What every task shares: the project paths, the roster (and the file it came
//! from), the hash cache, the global flags, and the oracle-gen binary.

use crate::cache::HashCache;
use crate::project::Project;
use crate::roster::Roster;
use anyhow::Result;
use camino::Utf8PathBuf;
use std::sync::OnceLock;

pub struct Ctx {
    pub project: Project,
    /// The roster file (roster.toml, or --roster's).
    pub roster_path: Utf8PathBuf,
    pub roster: Roster,
    pub cache: HashCache,
    pub jobs: usize,
    pub offline: bool,
    pub no_cache: bool,
    oracle_gen: OnceLock<Utf8PathBuf>,
}

impl Ctx {
    pub fn new(project: Project, roster_path: Utf8PathBuf, jobs: usize, offline: bool, no_cache: bool) -> Result<Ctx> {
        let roster = Roster::load(&roster_path)?;
        let cache = HashCache::load(project.models().join(".hash-cache.json"));
        Ok(Ctx { project, roster_path, roster, cache, jobs, offline, no_cache, oracle_gen: OnceLock::new() })
    }

    /// Uses this oracle-gen binary (a CUDA build) instead of building one.
    pub fn with_oracle_gen(self, bin: Utf8PathBuf) -> Ctx {
        let _ = self.oracle_gen.set(bin);
        self
    }

    /// The oracle-gen binary, built once per run.
    pub fn oracle_gen(&self) -> Result<Utf8PathBuf> {
        if let Some(bin) = self.oracle_gen.get() {
            return Ok(bin.clone());
        }
        let bin = match std::env::var("TMGT_ORACLE_GEN") {
            Ok(path) => Utf8PathBuf::from(path),
            Err(_) => crate::util::oracle_gen_bin(&self.project.root)?,
        };
        Ok(self.oracle_gen.get_or_init(|| bin).clone())
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if let Err(e) = self.cache.save() {
            eprintln!("warning: hash cache not saved: {e:#}");
        }
    }
}
