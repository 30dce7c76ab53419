//! One xtask at a time on a models/ folder: an exclusive file lock. A second run
//! names the holder and waits for it.

use anyhow::{Context, Result};
use camino::Utf8Path;
use fs2::FileExt;
use std::io::{Read, Seek, Write};

pub struct WorkLock {
    file: std::fs::File,
}

impl WorkLock {
    pub fn acquire(models: &Utf8Path) -> Result<WorkLock> {
        std::fs::create_dir_all(models).with_context(|| format!("{models}: cannot create"))?;
        let path = models.join(".xtask.lock");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("{path}: cannot open lock"))?;
        if file.try_lock_exclusive().is_err() {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            eprintln!("waiting for another cargo xtask on {models} ({})", holder.trim());
            file.lock_exclusive().with_context(|| format!("{path}: cannot lock"))?;
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "pid {} since {}", std::process::id(), crate::util::now_rfc3339())?;
        file.flush()?;
        Ok(WorkLock { file })
    }
}

impl Drop for WorkLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}
