//! sha256 helpers and the one way this project writes a file: temp file, fsync, rename.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;

pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Streams the file through sha256 (does not load it whole).
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).with_context(|| format!("{}: cannot open for hashing", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).with_context(|| format!("{}: read error while hashing", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Writes `bytes` to `path` through a temp file in the same folder and a rename, so a
/// crash or Ctrl-C never leaves a half-written file at `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file_atomic(path, |w| Ok(w.write_all(bytes)?))
}

/// Streams into `path` through `<dir>/.<name>.<pid>.tmp` (`fill` writes), fsyncs and
/// renames it into place; the temp file is removed when anything fails.
pub fn write_file_atomic(path: &Path, fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<()>) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create folder", dir.display()))?;
    let tmp = temp_sibling(path);
    let result = (|| -> Result<()> {
        let file = std::fs::File::create(&tmp).with_context(|| format!("{}: cannot create", tmp.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        fill(&mut w).with_context(|| format!("{}: write failed", tmp.display()))?;
        w.flush().with_context(|| format!("{}: write failed", tmp.display()))?;
        let file = w.into_inner().map_err(|e| anyhow::anyhow!("{}: write failed: {e}", tmp.display()))?;
        file.sync_all().with_context(|| format!("{}: fsync failed", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `<dir>/.<name>.<pid>.tmp`, the temp name an atomic write goes through.
pub fn temp_sibling(path: &Path) -> std::path::PathBuf {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dir.join(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(sha256_bytes(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("tmgt-atomic-{}", std::process::id()));
        let path = dir.join("x.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(sha256_file(&path).unwrap(), sha256_bytes(b"two"));
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).collect();
        assert_eq!(leftovers.len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
