//! Content hashes: a stat cache (path, size, mtime, ctime, inode → sha256) so warm
//! runs do not re-read large files — ctime and inode change on every write and cannot
//! be set back by `cp -p`, `rsync -t` or tar, as mtime can — and stamps that record,
//! per build step, the key of its
//! inputs (their hashes, the tool's version, the arguments) and the hashes of its
//! outputs. A step whose key is unchanged and whose outputs still hash as recorded
//! is skipped; anything else is rebuilt.

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileStamp {
    pub sha256: String,
    pub size: u64,
    pub mtime_ns: u128,
    #[serde(default)]
    pub ctime_ns: i128,
    #[serde(default)]
    pub inode: u64,
}

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    size: u64,
    mtime_ns: u128,
    ctime_ns: i128,
    inode: u64,
}

fn stat(path: &Utf8Path) -> Result<Stat> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).with_context(|| format!("{path}: cannot stat"))?;
    let mtime_ns = meta.modified().ok().and_then(|m| m.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
    let ctime_ns = meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128;
    Ok(Stat { size: meta.len(), mtime_ns, ctime_ns, inode: meta.ino() })
}

/// sha256 by (path, size, mtime); persisted in models/.hash-cache.json.
pub struct HashCache {
    path: Utf8PathBuf,
    entries: Mutex<BTreeMap<String, FileStamp>>,
    /// Files actually read and hashed during this run (for the warm-run report).
    pub hashed: Mutex<Vec<String>>,
}

impl HashCache {
    pub fn load(path: Utf8PathBuf) -> HashCache {
        let entries = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        HashCache { path, entries: Mutex::new(entries), hashed: Mutex::new(Vec::new()) }
    }

    pub fn stamp(&self, file: &Utf8Path) -> Result<FileStamp> {
        let now = stat(file)?;
        let key = file.as_str().to_string();
        if let Some(hit) = self.entries.lock().unwrap().get(&key) {
            let then = Stat { size: hit.size, mtime_ns: hit.mtime_ns, ctime_ns: hit.ctime_ns, inode: hit.inode };
            if then == now {
                return Ok(hit.clone());
            }
        }
        let sha256 = tmgt_schema::sha256_file(file.as_std_path())?;
        self.hashed.lock().unwrap().push(key.clone());
        let stamp = FileStamp { sha256, size: now.size, mtime_ns: now.mtime_ns, ctime_ns: now.ctime_ns, inode: now.inode };
        self.entries.lock().unwrap().insert(key, stamp.clone());
        Ok(stamp)
    }

    pub fn sha256(&self, file: &Utf8Path) -> Result<String> {
        Ok(self.stamp(file)?.sha256)
    }

    pub fn save(&self) -> Result<()> {
        let entries = self.entries.lock().unwrap();
        let bytes = serde_json::to_vec_pretty(&*entries)?;
        tmgt_schema::write_atomic(self.path.as_std_path(), &bytes)
    }
}

/// The record of one completed step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamp {
    pub step: String,
    pub key: String,
    /// What went into the key, for humans reading a stamp.
    pub inputs: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, FileStamp>,
}

/// The key over a step's inputs: name → value (file hashes, tool versions, arguments).
pub fn step_key(inputs: &BTreeMap<String, String>) -> String {
    tmgt_schema::sha256_bytes(serde_json::to_string(inputs).expect("map serializes").as_bytes())
}

/// Stamps live beside the outputs, in a `.stamps` folder of the model's working dir.
pub fn stamp_path(dir: &Utf8Path, step: &str) -> Utf8PathBuf {
    dir.join(".stamps").join(format!("{step}.json"))
}

/// Is the step up to date: same key, every output present and hashing as recorded?
pub fn is_fresh(stamp_file: &Utf8Path, inputs: &BTreeMap<String, String>, cache: &HashCache) -> bool {
    fresh_with(stamp_file, inputs, |file| cache.sha256(file).ok())
}

/// Like `is_fresh`, reading every output's bytes (no stat cache): for small files
/// that must be verified by content every time (the goldens).
pub fn is_fresh_by_content(stamp_file: &Utf8Path, inputs: &BTreeMap<String, String>) -> bool {
    fresh_with(stamp_file, inputs, |file| tmgt_schema::sha256_file(file.as_std_path()).ok())
}

fn fresh_with(stamp_file: &Utf8Path, inputs: &BTreeMap<String, String>, hash: impl Fn(&Utf8Path) -> Option<String>) -> bool {
    let Some(stamp) = std::fs::read(stamp_file).ok().and_then(|b| serde_json::from_slice::<Stamp>(&b).ok()) else {
        return false;
    };
    if stamp.key != step_key(inputs) {
        return false;
    }
    stamp.outputs.iter().all(|(file, recorded)| hash(Utf8Path::new(file)).is_some_and(|now| now == recorded.sha256))
}

/// Do the recorded outputs of a step still hash as recorded (whatever its inputs)?
/// Err names the first file that changed or went missing.
pub fn outputs_unchanged(stamp_file: &Utf8Path, hash: impl Fn(&Utf8Path) -> Option<String>) -> Result<(), String> {
    let stamp: Stamp = std::fs::read(stamp_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| format!("{stamp_file}: no record of the step"))?;
    for (file, recorded) in &stamp.outputs {
        if !Utf8Path::new(file).exists() {
            return Err(format!("{file} is missing"));
        }
        match hash(Utf8Path::new(file)) {
            Some(now) if now == recorded.sha256 => {}
            _ => return Err(format!("{file} changed since it was made")),
        }
    }
    Ok(())
}

/// Records a completed step (atomically), hashing its outputs.
pub fn record(
    stamp_file: &Utf8Path,
    step: &str,
    inputs: &BTreeMap<String, String>,
    outputs: &[Utf8PathBuf],
    cache: &HashCache,
) -> Result<()> {
    let mut stamps = BTreeMap::new();
    for out in outputs {
        stamps.insert(out.as_str().to_string(), cache.stamp(out)?);
    }
    let stamp = Stamp { step: step.into(), key: step_key(inputs), inputs: inputs.clone(), outputs: stamps };
    tmgt_schema::write_atomic(stamp_file.as_std_path(), &serde_json::to_vec_pretty(&stamp)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_until_an_input_or_an_output_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(tmp.path()).unwrap();
        let cache = HashCache::load(dir.join("cache.json"));
        let out = dir.join("artifact.bin");
        std::fs::write(&out, b"built").unwrap();
        let inputs = BTreeMap::from([("tool".to_string(), "apr 1.0".to_string())]);
        let stamp = stamp_path(dir, "convert");
        assert!(!is_fresh(&stamp, &inputs, &cache), "no stamp yet");
        record(&stamp, "convert", &inputs, std::slice::from_ref(&out), &cache).unwrap();
        assert!(is_fresh(&stamp, &inputs, &cache));
        let newer = BTreeMap::from([("tool".to_string(), "apr 1.1".to_string())]);
        assert!(!is_fresh(&stamp, &newer, &cache), "a tool upgrade must invalidate");
        std::fs::write(&out, b"tampered!").unwrap();
        assert!(!is_fresh(&stamp, &inputs, &cache), "a changed output must invalidate");
        std::fs::remove_file(&out).unwrap();
        assert!(!is_fresh(&stamp, &inputs, &cache), "a missing output must invalidate");
    }

    #[test]
    fn stat_cache_hashes_once_until_the_file_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(tmp.path()).unwrap();
        let file = dir.join("f");
        std::fs::write(&file, b"abc").unwrap();
        let cache = HashCache::load(dir.join("cache.json"));
        let first = cache.sha256(&file).unwrap();
        assert_eq!(first, tmgt_schema::sha256_bytes(b"abc"));
        cache.sha256(&file).unwrap();
        assert_eq!(cache.hashed.lock().unwrap().len(), 1);
        cache.save().unwrap();
        let reloaded = HashCache::load(dir.join("cache.json"));
        reloaded.sha256(&file).unwrap();
        assert!(reloaded.hashed.lock().unwrap().is_empty(), "persisted entry must be reused");
        std::fs::write(&file, b"abcd").unwrap();
        assert_eq!(reloaded.sha256(&file).unwrap(), tmgt_schema::sha256_bytes(b"abcd"));
    }

    #[test]
    fn a_same_size_edit_with_the_mtime_restored_is_seen() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(tmp.path()).unwrap();
        let file = dir.join("int8.apr");
        std::fs::write(&file, b"weights-A").unwrap();
        let cache = HashCache::load(dir.join("cache.json"));
        let before = cache.sha256(&file).unwrap();
        let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&file, b"weights-B").unwrap(); // same size
        std::fs::File::options().write(true).open(&file).unwrap().set_modified(mtime).unwrap(); // as cp -p would
        assert_eq!(std::fs::metadata(&file).unwrap().modified().unwrap(), mtime);
        assert_ne!(cache.sha256(&file).unwrap(), before, "ctime moved: the file was re-read");
        // a step whose output was edited that way is not fresh, by either check
        let inputs = BTreeMap::from([("tool".to_string(), "x".to_string())]);
        let stamp = stamp_path(dir, "step");
        record(&stamp, "step", &inputs, std::slice::from_ref(&file), &cache).unwrap();
        let by_content = |f: &Utf8Path| tmgt_schema::sha256_file(f.as_std_path()).ok();
        assert!(is_fresh_by_content(&stamp, &inputs) && outputs_unchanged(&stamp, by_content).is_ok());
        std::fs::write(&file, b"weights-C").unwrap();
        assert!(!is_fresh_by_content(&stamp, &inputs));
        assert!(outputs_unchanged(&stamp, by_content).unwrap_err().contains("changed"));
        std::fs::remove_file(&file).unwrap();
        assert!(outputs_unchanged(&stamp, by_content).unwrap_err().contains("missing"));
    }
}
