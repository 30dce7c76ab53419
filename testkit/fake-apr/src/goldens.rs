//! Where the oracle's goldens for a reference live, and the one for a prompt.
//! `FAKE_APR_GOLDENS` names either one model's folder (`goldens/tiny-llama`) or the
//! folder of every model (`goldens/`), then `<dir>/<slug>/` is used, the slug being
//! the name of the folder that holds the reference (`…/models/<slug>/reference`).
//! Unset, `<root>/goldens` is tried, `<root>` being the folder above `models/`.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use tmgt_schema::Golden;

/// The model slug of a reference directory: the name of its parent folder.
pub fn slug_of(reference: &Path) -> Option<String> {
    reference.parent()?.file_name().map(|s| s.to_string_lossy().into_owned())
}

/// The goldens folder for `reference`, given `FAKE_APR_GOLDENS` (`env`).
pub fn goldens_dir(reference: &Path, env: Option<&Path>) -> Result<PathBuf> {
    let slug = slug_of(reference);
    let base = match env {
        Some(dir) => dir.to_path_buf(),
        None => match reference.ancestors().nth(3).map(|root| root.join("goldens")).filter(|d| d.is_dir()) {
            Some(d) => d,
            None => bail!(
                "FAKE_APR_GOLDENS is not set and there is no goldens/ folder beside {}'s models/ folder: \
                 set FAKE_APR_GOLDENS to the goldens of {}",
                reference.display(),
                slug.as_deref().unwrap_or("this model")
            ),
        },
    };
    if !base.is_dir() {
        bail!("{}: goldens folder (FAKE_APR_GOLDENS) does not exist", base.display());
    }
    Ok(match slug.map(|s| base.join(s)).filter(|d| d.is_dir()) {
        Some(per_model) => per_model,
        None => base,
    })
}

/// The golden in `dir` (top level, `*.json`) whose `prompt` is exactly `prompt`.
pub fn find_golden(dir: &Path, prompt: &str) -> Result<Golden> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot list goldens: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file())
        .collect();
    files.sort();
    let mut seen = Vec::new();
    let mut unreadable = Vec::new();
    for f in &files {
        match Golden::read(f) {
            Ok(g) if g.prompt == prompt => return Ok(g),
            Ok(g) => seen.push(format!("{:?}", g.prompt)),
            Err(e) => unreadable.push(format!("{e:#}")),
        }
    }
    let mut msg = format!("{}: no golden for the prompt {prompt:?}", dir.display());
    if seen.is_empty() {
        msg.push_str(" (no golden JSON there)");
    } else {
        msg.push_str(&format!(" (goldens hold {})", seen.join(", ")));
    }
    if !unreadable.is_empty() {
        msg.push_str(&format!("; unreadable: {}", unreadable.join("; ")));
    }
    bail!(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{sample_golden, temp_dir};

    #[test]
    fn finds_by_exact_prompt() {
        let dir = temp_dir("goldens");
        sample_golden("Hi", vec![5, 6, 2], "ab", true).write(&dir.join("greeting.json")).unwrap();
        sample_golden("The capital of France is", vec![7], " P", false).write(&dir.join("completion.json")).unwrap();
        std::fs::write(dir.join("notes.txt"), "not a golden").unwrap();
        assert_eq!(find_golden(&dir, "The capital of France is").unwrap().tokens, vec![7]);
        assert_eq!(find_golden(&dir, "Hi").unwrap().text, "ab");
        let err = find_golden(&dir, "Hi ").unwrap_err().to_string();
        assert!(err.contains("\"Hi \"") && err.contains("\"Hi\"") && err.contains(&dir.display().to_string()), "{err}");
        std::fs::write(dir.join("broken.json"), "{").unwrap();
        let err = find_golden(&dir, "nope").unwrap_err().to_string();
        assert!(err.contains("broken.json"), "{err}");
    }

    #[test]
    fn per_model_folder_is_picked_by_slug() {
        let root = temp_dir("goldens-root");
        let reference = root.join("models/tiny-llama/reference");
        std::fs::create_dir_all(&reference).unwrap();
        std::fs::create_dir_all(root.join("goldens/tiny-llama")).unwrap();
        assert_eq!(slug_of(&reference).as_deref(), Some("tiny-llama"));
        // FAKE_APR_GOLDENS=goldens/ → goldens/tiny-llama; =goldens/tiny-llama → itself.
        assert_eq!(goldens_dir(&reference, Some(&root.join("goldens"))).unwrap(), root.join("goldens/tiny-llama"));
        assert_eq!(goldens_dir(&reference, Some(&root.join("goldens/tiny-llama"))).unwrap(), root.join("goldens/tiny-llama"));
        // Unset: <root>/goldens beside models/.
        assert_eq!(goldens_dir(&reference, None).unwrap(), root.join("goldens/tiny-llama"));
        let err = goldens_dir(&reference, Some(&root.join("nowhere"))).unwrap_err().to_string();
        assert!(err.contains("nowhere"), "{err}");
    }
}
