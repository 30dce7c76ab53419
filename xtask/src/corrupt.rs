//! The corrupt-input suite's files and runs: the recipe table (how each corrupt file
//! is made from the reference checkpoint or a GGUF artifact), the pure byte-level
//! makers (`plan`: bytes to write first, then which range of the source to stream,
//! never the whole file in memory), and `observe`: each file written into its own
//! temp folder under the model's folder (beside the checkpoint's config.json and
//! tokenizer.json, so apr reads the bad file itself), every apr command run on it
//! through `runner::run` with the roster's `corrupt_timeout_s`, and what each left
//! behind. Judged by `judge::corrupt`.

use crate::judge::corrupt::{Command, CorruptKey, CorruptRun};
use crate::judge::Observed;
use crate::runner::{self, RunOptions, TempPath};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a recipe breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The reference checkpoint's model.safetensors.
    Safetensors,
    /// One GGUF artifact (f32 preferred).
    Gguf,
}

impl Source {
    /// The corrupt file's name in its folder.
    pub fn file_name(self) -> &'static str {
        match self {
            Source::Safetensors => "model.safetensors",
            Source::Gguf => "model.gguf",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipe {
    StEmpty,
    StInLength,
    StInHeader,
    StHalf,
    StLastByte,
    StGarbage,
    StOffsetsPastEnd,
    StHugeHeaderLength,
    StBadDtype,
    StDuplicateName,
    GgufBadMagic,
    GgufBadVersion,
    GgufManyTensors,
    GgufHalf,
}

/// One row of the recipe table.
#[derive(Debug)]
pub struct Row {
    pub recipe: Recipe,
    /// The observation's key, a case name in the status table.
    pub name: &'static str,
    pub source: Source,
    pub what: &'static str,
}

/// Every recipe, in the order they run.
pub static RECIPES: &[Row] = &[
    Row { recipe: Recipe::StEmpty, name: "st-empty", source: Source::Safetensors, what: "an empty file" },
    Row {
        recipe: Recipe::StInLength,
        name: "st-in-length",
        source: Source::Safetensors,
        what: "truncated to 4 bytes, inside the 8-byte header length",
    },
    Row {
        recipe: Recipe::StInHeader,
        name: "st-in-header",
        source: Source::Safetensors,
        what: "truncated halfway through the JSON header",
    },
    Row {
        recipe: Recipe::StHalf,
        name: "st-half",
        source: Source::Safetensors,
        what: "truncated to half its size, inside a tensor's data",
    },
    Row { recipe: Recipe::StLastByte, name: "st-last-byte", source: Source::Safetensors, what: "its last byte cut" },
    Row { recipe: Recipe::StGarbage, name: "st-garbage", source: Source::Safetensors, what: "4096 garbage bytes (a fixed LCG seed)" },
    Row {
        recipe: Recipe::StOffsetsPastEnd,
        name: "st-offsets-past-end",
        source: Source::Safetensors,
        what: "the last tensor's data_offsets moved past the end of the file",
    },
    Row { recipe: Recipe::StHugeHeaderLength, name: "st-header-2^63", source: Source::Safetensors, what: "a header length of 2^63" },
    Row { recipe: Recipe::StBadDtype, name: "st-bad-dtype", source: Source::Safetensors, what: "the first tensor's dtype \"F33\"" },
    Row {
        recipe: Recipe::StDuplicateName,
        name: "st-duplicate-name",
        source: Source::Safetensors,
        what: "the first tensor's name twice in the header (the second entry: another tensor's)",
    },
    Row { recipe: Recipe::GgufBadMagic, name: "gguf-bad-magic", source: Source::Gguf, what: "its magic \"GGUF\" changed to \"GGUX\"" },
    Row { recipe: Recipe::GgufBadVersion, name: "gguf-bad-version", source: Source::Gguf, what: "format version 99" },
    Row { recipe: Recipe::GgufManyTensors, name: "gguf-2^40-tensors", source: Source::Gguf, what: "a tensor count of 2^40" },
    Row { recipe: Recipe::GgufHalf, name: "gguf-half", source: Source::Gguf, what: "truncated to half its size, inside the tensor data" },
];

/// The garbage recipe's size and seed.
pub const GARBAGE_BYTES: usize = 4096;
pub const GARBAGE_SEED: u64 = 0x7467_6d74_636f_7272;
/// A safetensors header larger than this is not read (a real one is kilobytes).
const MAX_HEADER: u64 = 100 << 20;
/// The GGUF fixed header: magic, version (u32), tensor count, metadata count (u64).
const GGUF_FIXED: usize = 24;

/// How a corrupt file is made: `head`, then `copy` (offset, length) of the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub head: Vec<u8>,
    pub copy: (u64, u64),
    /// The file in words, with its numbers: what a finding's note shows.
    pub file: String,
}

impl Plan {
    fn cut(source: Source, to: u64, len: u64, why: &str) -> Plan {
        Plan { head: Vec::new(), copy: (0, to), file: format!("{} truncated to {to} of {len} bytes ({why})", source.file_name()) }
    }

    /// The corrupt file's bytes from the whole source (tests; `write` streams).
    #[cfg(test)]
    pub fn apply(&self, source: &[u8]) -> Vec<u8> {
        let (at, n) = (self.copy.0 as usize, self.copy.1 as usize);
        let mut out = self.head.clone();
        out.extend_from_slice(&source[at..at + n]);
        out
    }
}

/// `n` bytes of a 64-bit LCG (Knuth's MMIX constants), its high bytes.
pub fn garbage(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect()
}

/// How many bytes of the source `plan` reads: the GGUF fixed header, or the
/// safetensors length and header (from its first 8 bytes).
pub fn prefix_len(source: Source, first8: &[u8]) -> Result<u64, String> {
    match source {
        Source::Gguf => Ok(GGUF_FIXED as u64),
        Source::Safetensors => {
            let n = u64::from_le_bytes(first8.get(..8).ok_or("the source is shorter than 8 bytes")?.try_into().expect("8 bytes"));
            if n > MAX_HEADER {
                return Err(format!("the source's header length {n} is not a checkpoint's"));
            }
            Ok(8 + n)
        }
    }
}

/// A tensor entry of a safetensors header.
struct Entry {
    name: String,
    dtype: String,
    offsets: (u64, u64),
}

/// A safetensors header: its length, its JSON object (in file order), its tensors.
type Header = (u64, Map<String, Value>, Vec<Entry>);

/// The header (its JSON object, in file order) and its length.
fn st_header(prefix: &[u8]) -> Result<(u64, Map<String, Value>), String> {
    let n = prefix_len(Source::Safetensors, prefix)?;
    let json = prefix.get(8..n as usize).ok_or("the source's header is cut short")?;
    let map: Map<String, Value> = serde_json::from_slice(json).map_err(|e| format!("the source's header is not JSON: {e}"))?;
    Ok((n - 8, map))
}

/// The tensors of a header, in file order.
fn entries(map: &Map<String, Value>) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    for (name, v) in map.iter().filter(|(k, _)| *k != "__metadata__") {
        let dtype = v["dtype"].as_str().ok_or_else(|| format!("{name}: no dtype"))?.to_string();
        let offsets = match v["data_offsets"].as_array().map(|a| a.iter().map(Value::as_u64).collect::<Vec<_>>()).as_deref() {
            Some([Some(a), Some(b)]) => (*a, *b),
            _ => return Err(format!("{name}: no data_offsets")),
        };
        out.push(Entry { name: name.clone(), dtype, offsets });
    }
    if out.is_empty() {
        return Err("the source's header names no tensor".into());
    }
    Ok(out)
}

/// A safetensors header's bytes: its length, then the JSON padded with spaces so the
/// data starts 8-aligned as in the source.
fn st_head(json: &str) -> Vec<u8> {
    let mut text = json.to_string();
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut head = (text.len() as u64).to_le_bytes().to_vec();
    head.extend_from_slice(text.as_bytes());
    head
}

/// The tensor whose data holds byte `at` of the data section.
fn tensor_at(list: &[Entry], at: u64) -> Option<&str> {
    list.iter().find(|e| e.offsets.0 <= at && at < e.offsets.1).map(|e| e.name.as_str())
}

/// The corrupt file of `recipe`, from the source's first bytes (`prefix_len` of them)
/// and its length.
pub fn plan(recipe: Recipe, prefix: &[u8], len: u64) -> Result<Plan, String> {
    let st = Source::Safetensors.file_name();
    let gguf = Source::Gguf.file_name();
    let header = || -> Result<Header, String> {
        let (n, map) = st_header(prefix)?;
        let list = entries(&map)?;
        Ok((n, map, list))
    };
    // A new header, then the source's data section unchanged.
    let rewritten = |n: u64, json: String, file: String| Plan { head: st_head(&json), copy: (8 + n, len - 8 - n), file };
    let gguf_patch = |at: usize, bytes: &[u8], file: String| -> Result<Plan, String> {
        let mut head = prefix.get(..GGUF_FIXED).ok_or("the source is shorter than a GGUF header")?.to_vec();
        if &head[..4] != b"GGUF" {
            return Err("the source is not a GGUF file".into());
        }
        head[at..at + bytes.len()].copy_from_slice(bytes);
        Ok(Plan { head, copy: (GGUF_FIXED as u64, len - GGUF_FIXED as u64), file })
    };
    Ok(match recipe {
        Recipe::StEmpty => Plan { head: Vec::new(), copy: (0, 0), file: format!("{st} emptied (0 bytes)") },
        Recipe::StInLength => Plan::cut(Source::Safetensors, 4, len, "inside the 8-byte header length"),
        Recipe::StInHeader => {
            let (n, ..) = header()?;
            Plan::cut(Source::Safetensors, 8 + n / 2, len, &format!("halfway through the {n}-byte JSON header"))
        }
        Recipe::StHalf => {
            let (n, _, list) = header()?;
            let to = len / 2;
            let inside = to.checked_sub(8 + n).and_then(|at| tensor_at(&list, at)).ok_or("half the source is not inside a tensor")?;
            Plan::cut(Source::Safetensors, to, len, &format!("mid-tensor, inside {inside}"))
        }
        Recipe::StLastByte => {
            let (n, _, list) = header()?;
            let last = tensor_at(&list, len - 9 - n).ok_or("the source's last byte is in no tensor")?;
            Plan::cut(Source::Safetensors, len - 1, len, &format!("its last byte cut, inside {last}"))
        }
        Recipe::StGarbage => Plan {
            head: garbage(GARBAGE_BYTES, GARBAGE_SEED),
            copy: (0, 0),
            file: format!("{st} replaced by {GARBAGE_BYTES} garbage bytes (LCG seed {GARBAGE_SEED:#x})"),
        },
        Recipe::StOffsetsPastEnd => {
            let (n, mut map, list) = header()?;
            let data = len - 8 - n;
            let last = list.iter().max_by_key(|e| e.offsets.1).expect("a tensor");
            let moved = (last.offsets.0 + data, last.offsets.1 + data);
            map[&last.name]["data_offsets"] = serde_json::json!([moved.0, moved.1]);
            let file =
                format!("{st} whose header puts {}'s data_offsets at [{}, {}], past the {data}-byte data", last.name, moved.0, moved.1);
            rewritten(n, Value::Object(map).to_string(), file)
        }
        Recipe::StHugeHeaderLength => {
            header()?;
            Plan {
                head: (1u64 << 63).to_le_bytes().to_vec(),
                copy: (8, len - 8),
                file: format!("{st} with a header length of 2^63 (the file is {len} bytes)"),
            }
        }
        Recipe::StBadDtype => {
            let (n, mut map, list) = header()?;
            let first = &list[0];
            map[&first.name]["dtype"] = Value::from("F33");
            let file = format!("{st} whose header gives {} the dtype \"F33\" (was {:?})", first.name, first.dtype);
            rewritten(n, Value::Object(map).to_string(), file)
        }
        Recipe::StDuplicateName => {
            let (n, map, list) = header()?;
            let [a, b, ..] = &list[..] else { return Err("the source has fewer than two tensors".into()) };
            let json = Value::Object(map.clone()).to_string();
            let twice = format!("{},{}:{}}}", &json[..json.len() - 1], Value::from(a.name.as_str()), map[&b.name]);
            rewritten(n, twice, format!("{st} whose header names {} twice (the second entry is {}'s)", a.name, b.name))
        }
        Recipe::GgufBadMagic => gguf_patch(0, b"GGUX", format!("{gguf} with the magic \"GGUX\" (was \"GGUF\")"))?,
        Recipe::GgufBadVersion => {
            let was = prefix.get(4..8).map_or(0, |v| u32::from_le_bytes(v.try_into().expect("4 bytes")));
            gguf_patch(4, &99u32.to_le_bytes(), format!("{gguf} with format version 99 (was {was})"))?
        }
        Recipe::GgufManyTensors => {
            let was = prefix.get(8..16).map_or(0, |v| u64::from_le_bytes(v.try_into().expect("8 bytes")));
            gguf_patch(8, &(1u64 << 40).to_le_bytes(), format!("{gguf} claiming 2^40 tensors (was {was})"))?
        }
        Recipe::GgufHalf => {
            gguf_patch(0, b"GGUF", String::new())?;
            Plan::cut(Source::Gguf, len / 2, len, "half: inside the tensor data")
        }
    })
}

/// Writes the corrupt file of `plan` at `dest`, streaming the copied range.
fn write(plan: &Plan, source: &Path, dest: &Path) -> std::io::Result<()> {
    let mut out = std::fs::File::create(dest)?;
    out.write_all(&plan.head)?;
    let mut src = std::fs::File::open(source)?;
    src.seek(SeekFrom::Start(plan.copy.0))?;
    let copied = std::io::copy(&mut src.take(plan.copy.1), &mut out)?;
    if copied != plan.copy.1 {
        return Err(std::io::Error::other(format!("copied {copied} of {} bytes", plan.copy.1)));
    }
    out.sync_all()
}

/// The plan of `row` for the file at `source` (reads only its header).
pub fn plan_for(row: &Row, source: &Path) -> Result<Plan, String> {
    let io = |e: std::io::Error| format!("{}: {e}", source.display());
    let len = std::fs::metadata(source).map_err(io)?.len();
    let mut f = std::fs::File::open(source).map_err(io)?;
    let mut first8 = [0u8; 8];
    f.read_exact(&mut first8).map_err(io)?;
    let n = prefix_len(row.source, &first8)?;
    let mut prefix = first8.to_vec();
    prefix.resize(n as usize, 0);
    f.read_exact(&mut prefix[8..]).map_err(io)?;
    plan(row.recipe, &prefix, len)
}

/// apr's command line for `command` on `file` (a bare name: it runs in the file's folder).
pub fn argv(apr: &str, command: Command, file: &str) -> Vec<String> {
    let args: &[&str] = match command {
        Command::Run => &["run", file, "-p", "Hello", "-n", "4", "--json", "--offline"],
        Command::Inspect => &["inspect", file, "--json"],
        Command::Validate => &["validate", file, "--json"],
        Command::Tensors => &["tensors", file, "--json"],
        Command::Import => &["import", file, "-o", IMPORT_OUTPUT, "--offline"],
    };
    std::iter::once(apr).chain(args.iter().copied()).map(String::from).collect()
}

/// Where `import` is asked to write (in the corrupt file's folder).
pub const IMPORT_OUTPUT: &str = "out.apr";

/// Every command line a recipe's file goes through, for the cache key.
pub fn all_argv(apr: &str, row: &Row) -> Vec<Vec<String>> {
    Command::ALL.iter().map(|c| argv(apr, *c, row.source.file_name())).collect()
}

fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() {
                format!("{name}/")
            } else {
                name
            }
        })
        .collect()
}

/// One recipe's file made in `work/.tmp-corrupt-<name>` (with `siblings` copied
/// beside it), every command run on it, the folder removed: one observation per
/// command. A file that cannot be made blocks its commands.
pub fn observe(
    row: &Row,
    source: &Path,
    siblings: &[PathBuf],
    work: &Path,
    apr: &str,
    timeout: Duration,
) -> Vec<(CorruptKey, Observed<CorruptRun>)> {
    let dir = work.join(format!(".tmp-corrupt-{}", row.name));
    let _cleanup = TempPath::new(&dir);
    let made = (|| -> Result<Plan, String> {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for s in siblings {
            let name = s.file_name().ok_or("a sibling without a name")?;
            std::fs::copy(s, dir.join(name)).map_err(|e| format!("{}: {e}", s.display()))?;
        }
        let plan = plan_for(row, source)?;
        write(&plan, source, &dir.join(row.source.file_name())).map_err(|e| format!("writing {}: {e}", row.source.file_name()))?;
        Ok(plan)
    })();
    let plan = match made {
        Ok(plan) => plan,
        Err(why) => {
            let blocked = Observed::Blocked {
                step: format!("make the corrupt file {}", row.name),
                reason: why,
                signature: "harness: a corrupt file could not be made".into(),
            };
            return Command::ALL.iter().map(|c| (CorruptKey::new(row.name, *c), blocked.clone())).collect();
        }
    };
    let opts = RunOptions { timeout, cwd: Some(dir.clone()), env: Vec::new() };
    Command::ALL
        .iter()
        .map(|&command| {
            let before = listing(&dir);
            let invocation = runner::run(&argv(apr, command, row.source.file_name()), &opts);
            let left_behind: Vec<String> = listing(&dir).difference(&before).cloned().collect();
            // The next command starts from the same folder.
            for name in &left_behind {
                let path = dir.join(name.trim_end_matches('/'));
                let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            }
            let value = CorruptRun { file: plan.file.clone(), left_behind };
            (CorruptKey::new(row.name, command), Observed::Ok { value, invocation })
        })
        .collect()
}

/// The status table's corrupt-input grid per model: recipe × command, each cell how
/// apr ended (its exit code) and what was wrong with it.
pub fn tables(r: &crate::report::RunResults) -> String {
    use crate::judge::Verdict;
    use comfy_table::presets::ASCII_MARKDOWN;
    use comfy_table::{ContentArrangement, Table};
    let mut out = String::new();
    for model in r.models() {
        let outs: Vec<&crate::judge::Outcome> =
            r.outcomes.iter().filter(|o| o.model == model && o.suite == crate::judge::corrupt::SUITE && o.case.contains('/')).collect();
        if outs.is_empty() {
            continue;
        }
        let mut table = Table::new();
        let mut header = vec!["Recipe".to_string()];
        header.extend(Command::ALL.iter().map(|c| format!("apr {}", c.name())));
        table.set_header(header);
        for row in RECIPES {
            let mut cells = vec![row.name.to_string()];
            for c in Command::ALL {
                let o = outs.iter().find(|o| o.case == format!("{}/{}", row.name, c.name()));
                cells.push(match o {
                    None => "—".into(),
                    Some(o) => {
                        let exit = o.evidence.invocations.first().map_or("?".to_string(), |i| match (i.timed_out, i.exit_code) {
                            (true, _) => "timed out".into(),
                            (false, Some(code)) => format!("exit {code}"),
                            (false, None) => "signal".into(),
                        });
                        let what: Vec<&str> = o.evidence.details["violations"]
                            .as_array()
                            .map(|v| v.iter().filter_map(|x| x.as_str()).collect())
                            .unwrap_or_default();
                        match o.status {
                            Verdict::Pass => exit,
                            Verdict::Fail => format!("**{exit}: {}**", what.join(", ")),
                            Verdict::Blocked => "blocked".into(),
                            Verdict::Skip => "skip".into(),
                        }
                    }
                });
            }
            table.add_row(cells);
        }
        table.load_preset(ASCII_MARKDOWN).set_content_arrangement(ContentArrangement::Disabled).force_no_tty();
        let text = table.lines().map(|l| l.trim_end().to_string()).collect::<Vec<_>>().join("\n");
        out.push_str(&format!(
            "\n### Corrupt inputs, {model} (apr on files broken on purpose: a refusal is a non-zero exit with an error; bold: a finding)\n\n{text}\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_shows_each_exit_and_bolds_the_findings() {
        use crate::judge::{evidence_from, subject, Case};
        let ended = |code: Option<i32>, timed_out: bool| tmgt_schema::Invocation { exit_code: code, timed_out, ..Default::default() };
        let case = |recipe: &str, c: Command| {
            Case::new(crate::judge::corrupt::SUITE, "tiny-a", format!("{recipe}/{}", c.name()), subject::RUNTIME)
        };
        let mut r = crate::report::tests::sample_results();
        r.outcomes.push(case("st-empty", Command::Run).pass("refused", evidence_from(&ended(Some(5), false), None, None, Value::Null)));
        r.outcomes.push(case("st-empty", Command::Import).fail(
            "x",
            "s",
            evidence_from(
                &ended(Some(0), false),
                None,
                None,
                serde_json::json!({"violations": ["accepts it (exit 0)", "leaves out.apr behind"]}),
            ),
        ));
        r.outcomes.push(case("gguf-half", Command::Tensors).fail(
            "x",
            "s",
            evidence_from(&ended(None, true), None, None, serde_json::json!({"violations": ["hangs"]})),
        ));
        r.outcomes.push(case("st-half", Command::Inspect).blocked("b", "s", crate::judge::Evidence::default()));
        let text = tables(&r);
        assert!(text.contains("### Corrupt inputs, tiny-a"), "{text}");
        assert!(!text.contains("tiny-b"), "a model without corrupt cases has no grid");
        let row = |name: &str| {
            text.lines().find(|l| l.starts_with(&format!("| {name} "))).unwrap_or_else(|| panic!("{name}: {text}")).to_string()
        };
        assert!(
            row("st-empty").contains("| exit 5 ") && row("st-empty").contains("**exit 0: accepts it (exit 0), leaves out.apr behind**")
        );
        assert!(row("gguf-half").contains("**timed out: hangs**"), "{}", row("gguf-half"));
        assert!(row("st-half").contains("| blocked "), "{}", row("st-half"));
        assert!(row("st-garbage").contains("| — "), "not observed: a dash");
    }

    /// The synthetic checkpoint's data section: 768 bytes.
    const DATA: usize = 768;

    /// A small safetensors file: three F32 tensors (a: 64, b: 96, c: 32 values).
    fn safetensors() -> Vec<u8> {
        let header = serde_json::json!({
            "__metadata__": {"format": "pt"},
            "a": {"dtype": "F32", "shape": [64], "data_offsets": [0, 256]},
            "b": {"dtype": "F32", "shape": [96], "data_offsets": [256, 640]},
            "c": {"dtype": "F32", "shape": [32], "data_offsets": [640, 768]},
        });
        let mut out = st_head(&header.to_string());
        out.extend((0..DATA).map(|i| i as u8));
        out
    }

    /// A GGUF fixed header (version 3, 5 tensors, 2 metadata entries) and 100 bytes.
    fn gguf() -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend(5u64.to_le_bytes());
        out.extend(2u64.to_le_bytes());
        out.extend([7u8; 100]);
        out
    }

    fn made(recipe: Recipe, source: &[u8]) -> (Plan, Vec<u8>) {
        let row = RECIPES.iter().find(|r| r.recipe == recipe).unwrap();
        let n = prefix_len(row.source, source).unwrap() as usize;
        let p = plan(recipe, &source[..n], source.len() as u64).unwrap();
        let bytes = p.apply(source);
        (p, bytes)
    }

    fn header_of(bytes: &[u8]) -> (u64, &str) {
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        (n, std::str::from_utf8(&bytes[8..8 + n as usize]).unwrap())
    }

    #[test]
    fn the_table_names_each_recipe_once() {
        let mut names: Vec<&str> = RECIPES.iter().map(|r| r.name).collect();
        assert_eq!(names.len(), 14);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), RECIPES.len());
        for r in RECIPES {
            assert_eq!(r.name.starts_with("gguf-"), r.source == Source::Gguf, "{}", r.name);
        }
    }

    #[test]
    fn truncations_are_the_lengths_they_say() {
        let st = safetensors();
        let len = st.len() as u64;
        let (n, _) = header_of(&st);
        assert_eq!(made(Recipe::StEmpty, &st).1, Vec::<u8>::new());
        let (p, b) = made(Recipe::StInLength, &st);
        assert_eq!(b, st[..4]);
        assert_eq!(p.file, format!("model.safetensors truncated to 4 of {len} bytes (inside the 8-byte header length)"));
        let (p, b) = made(Recipe::StInHeader, &st);
        assert_eq!(b.len() as u64, 8 + n / 2);
        assert!(b.len() > 8 && (b.len() as u64) < 8 + n);
        assert!(p.file.contains(&format!("halfway through the {n}-byte JSON header")), "{}", p.file);
        let (p, b) = made(Recipe::StHalf, &st);
        assert_eq!(b, st[..st.len() / 2]);
        assert!((b.len() as u64) > 8 + n, "past the header");
        // the data starts at 8+n; half the file is inside a tensor
        let at = len / 2 - 8 - n;
        let inside = if at < 256 {
            "a"
        } else if at < 640 {
            "b"
        } else {
            "c"
        };
        assert!(p.file.ends_with(&format!("(mid-tensor, inside {inside})")), "{}", p.file);
        let (p, b) = made(Recipe::StLastByte, &st);
        assert_eq!(b, st[..st.len() - 1]);
        assert!(p.file.ends_with("(its last byte cut, inside c)"), "{}", p.file);
        let g = gguf();
        let (p, b) = made(Recipe::GgufHalf, &g);
        assert_eq!(b, g[..g.len() / 2]);
        assert_eq!(p.file, format!("model.gguf truncated to {} of {} bytes (half: inside the tensor data)", g.len() / 2, g.len()));
    }

    #[test]
    fn garbage_is_deterministic() {
        let (p, b) = made(Recipe::StGarbage, &safetensors());
        assert_eq!(b.len(), GARBAGE_BYTES);
        assert_eq!(b, garbage(GARBAGE_BYTES, GARBAGE_SEED));
        assert_ne!(garbage(16, 1), garbage(16, 2));
        assert!(b.iter().collect::<BTreeSet<_>>().len() > 200, "not a constant");
        assert!(p.file.contains("4096 garbage bytes"));
    }

    #[test]
    fn the_huge_header_length_is_at_bytes_0_to_8() {
        let st = safetensors();
        let (p, b) = made(Recipe::StHugeHeaderLength, &st);
        assert_eq!(u64::from_le_bytes(b[..8].try_into().unwrap()), 1 << 63);
        assert_eq!(b[8..], st[8..], "the rest unchanged");
        assert!(p.file.contains("2^63"));
    }

    #[test]
    fn header_edits_keep_the_data_and_parse() {
        let st = safetensors();
        let data = &st[st.len() - DATA..];
        let (p, b) = made(Recipe::StBadDtype, &st);
        let (n, json) = header_of(&b);
        assert_eq!(n % 8, 0, "the data stays 8-aligned");
        assert_eq!(&b[8 + n as usize..], data);
        let v: Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["a"]["dtype"], "F33");
        assert_eq!(v["b"]["dtype"], "F32");
        assert_eq!(p.file, "model.safetensors whose header gives a the dtype \"F33\" (was \"F32\")");
        let (p, b) = made(Recipe::StOffsetsPastEnd, &st);
        let (n, json) = header_of(&b);
        assert_eq!(&b[8 + n as usize..], data);
        let v: Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["c"]["data_offsets"], serde_json::json!([1408, 1536]), "moved by the data's size: past its end, same size");
        assert_eq!(v["a"]["data_offsets"], serde_json::json!([0, 256]));
        assert!(p.file.contains("c's data_offsets at [1408, 1536], past the 768-byte data"), "{}", p.file);
    }

    /// A JSON object's entries in order, duplicates kept (serde_json's map keeps one).
    fn entries_of(json: &str) -> Vec<(String, Value)> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = Vec<(String, Value)>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(e) = m.next_entry()? {
                    out.push(e);
                }
                Ok(out)
            }
        }
        serde::Deserializer::deserialize_map(&mut serde_json::Deserializer::from_str(json), Entries).unwrap()
    }

    #[test]
    fn the_duplicated_name_is_two_equal_keys() {
        let st = safetensors();
        let (p, b) = made(Recipe::StDuplicateName, &st);
        let (n, json) = header_of(&b);
        assert_eq!(&b[8 + n as usize..], &st[st.len() - DATA..]);
        let keys: Vec<(String, Value)> = entries_of(json.trim_end());
        let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["__metadata__", "a", "b", "c", "a"]);
        assert_eq!(keys[4].1, keys[2].1, "the second \"a\" is b's entry");
        assert_eq!(p.file, "model.safetensors whose header names a twice (the second entry is b's)");
    }

    #[test]
    fn gguf_patches_are_at_their_offsets() {
        let g = gguf();
        let (p, b) = made(Recipe::GgufBadMagic, &g);
        assert_eq!((&b[..4], &b[4..]), (&b"GGUX"[..], &g[4..]));
        assert!(p.file.contains("\"GGUX\""));
        let (p, b) = made(Recipe::GgufBadVersion, &g);
        assert_eq!(u32::from_le_bytes(b[4..8].try_into().unwrap()), 99);
        assert_eq!((&b[..4], &b[8..]), (&g[..4], &g[8..]));
        assert_eq!(p.file, "model.gguf with format version 99 (was 3)");
        let (p, b) = made(Recipe::GgufManyTensors, &g);
        assert_eq!(u64::from_le_bytes(b[8..16].try_into().unwrap()), 1 << 40);
        assert_eq!((&b[..8], &b[16..]), (&g[..8], &g[16..]));
        assert_eq!(p.file, "model.gguf claiming 2^40 tensors (was 5)");
        assert!(plan(Recipe::GgufBadMagic, &safetensors()[..24], 100).unwrap_err().contains("not a GGUF"));
    }

    #[test]
    fn files_are_streamed_and_the_folder_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("src.safetensors");
        std::fs::write(&source, safetensors()).unwrap();
        let sibling = dir.path().join("config.json");
        std::fs::write(&sibling, "{}").unwrap();
        let row = RECIPES.iter().find(|r| r.recipe == Recipe::StBadDtype).unwrap();
        let p = plan_for(row, &source).unwrap();
        let out = dir.path().join("out");
        write(&p, &source, &out).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), p.apply(&safetensors()));
        // A stand-in apr: refuses inspect, writes import's output, accepts the rest.
        let apr = dir.path().join("apr");
        std::fs::write(&apr, "#!/bin/sh\ntest -f config.json || exit 9\ncase $1 in inspect) echo 'error: bad' >&2; exit 4;; import) touch out.apr; exit 5;; esac\n").unwrap();
        std::fs::set_permissions(&apr, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let obs = observe(row, &source, &[sibling], dir.path(), apr.to_str().unwrap(), Duration::from_secs(20));
        let got: Vec<(Command, Option<i32>, Vec<String>)> = obs
            .iter()
            .map(|(k, o)| match o {
                Observed::Ok { value, invocation } => (k.command, invocation.exit_code, value.left_behind.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (Command::Run, Some(0), vec![]),
                (Command::Inspect, Some(4), vec![]),
                (Command::Validate, Some(0), vec![]),
                (Command::Tensors, Some(0), vec![]),
                (Command::Import, Some(5), vec!["out.apr".to_string()]),
            ]
        );
        assert!(!dir.path().join(".tmp-corrupt-st-bad-dtype").exists(), "the folder is removed");
        // a source that cannot be read blocks every command
        let gone = observe(row, &dir.path().join("nope"), &[], dir.path(), "apr", Duration::from_secs(1));
        assert_eq!(gone.len(), 5);
        assert!(gone.iter().all(|(_, o)| matches!(o, Observed::Blocked { .. })));
    }
    /// Measures the real apr: `TMGT_CORRUPT_ST` (a model.safetensors beside its
    /// config.json and tokenizer.json), `TMGT_CORRUPT_GGUF`, `TMGT_CORRUPT_WORK` (where
    /// the temp folders go); prints recipe × command → exit, violations, telling line.
    #[test]
    #[ignore = "runs the real apr on 14 corrupt files (minutes)"]
    fn probe_the_real_apr() {
        use crate::judge::{corrupt, ModelEvidence, Tolerances};
        let var = |k: &str| PathBuf::from(std::env::var(k).unwrap_or_else(|_| panic!("{k} not set")));
        let (st, gguf, work) = (var("TMGT_CORRUPT_ST"), var("TMGT_CORRUPT_GGUF"), var("TMGT_CORRUPT_WORK"));
        let siblings: Vec<PathBuf> = std::fs::read_dir(st.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        let apr = std::env::var("TMGT_APR").unwrap_or_else(|_| "apr".into());
        let mut ev = ModelEvidence::new("probe");
        for row in RECIPES {
            let (source, sib) = match row.source {
                Source::Safetensors => (&st, siblings.clone()),
                Source::Gguf => (&gguf, Vec::new()),
            };
            let started = std::time::Instant::now();
            ev.corrupt.extend(observe(row, source, &sib, &work, &apr, Duration::from_secs(60)));
            eprintln!("{}: {:.1}s", row.name, started.elapsed().as_secs_f64());
        }
        let tol = Tolerances { corrupt_timeout_s: 60.0, ..Tolerances::spec() };
        for (o, (key, obs)) in corrupt::judge(&ev, &tol).iter().zip(&ev.corrupt) {
            let Observed::Ok { invocation: inv, value } = obs else { panic!("{obs:?}") };
            println!(
                "| {} | {} | {:?} | {:.1}s | {} | {} | {} |",
                key.recipe,
                key.command.name(),
                inv.exit_code,
                inv.duration_s,
                value.left_behind.join(" "),
                o.status.as_str(),
                crate::judge::one_line(&crate::judge::telling_line("", inv), 140)
            );
        }
        println!("{}", serde_json::to_string(&corrupt::judge(&ev, &tol)).unwrap());
    }
}
