//! A folder written beside its target and renamed into place only when complete, so
//! a failed or interrupted write never leaves a half-written model directory.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// A sibling folder `.<name>.tmp-<pid>` that becomes `target` on commit and is removed
/// when dropped uncommitted.
pub struct Staging {
    pub path: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl Staging {
    pub fn new(target: &Path) -> Result<Staging> {
        let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).with_context(|| format!("{}: cannot create folder", parent.display()))?;
        let name =
            target.file_name().with_context(|| format!("{}: output folder needs a name", target.display()))?.to_string_lossy().into_owned();
        let path = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path).with_context(|| format!("{}: cannot clear stale staging folder", path.display()))?;
        }
        std::fs::create_dir(&path).with_context(|| format!("{}: cannot create", path.display()))?;
        Ok(Staging { path, target: target.to_path_buf(), committed: false })
    }

    /// Moves the staged folder onto the target, replacing an existing one.
    pub fn commit(mut self) -> Result<()> {
        let target = &self.target;
        if target.exists() {
            let old = self.path.with_file_name(format!(
                ".{}.old-{}",
                target.file_name().unwrap_or_default().to_string_lossy(),
                std::process::id()
            ));
            std::fs::rename(target, &old).with_context(|| format!("cannot move {} aside to {}", target.display(), old.display()))?;
            if let Err(e) = std::fs::rename(&self.path, target) {
                let _ = std::fs::rename(&old, target);
                return Err(e).with_context(|| format!("cannot rename {} to {}", self.path.display(), target.display()));
            }
            std::fs::remove_dir_all(&old).with_context(|| format!("{}: cannot remove", old.display()))?;
        } else {
            std::fs::rename(&self.path, target)
                .with_context(|| format!("cannot rename {} to {}", self.path.display(), target.display()))?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
