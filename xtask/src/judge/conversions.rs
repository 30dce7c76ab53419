//! convert: one outcome per conversion (apr import/export, the comparators'
//! quantizers). A crash, a timeout or a missing output FAILs the converter that
//! made it, with the invocation as evidence; everything downstream of it is
//! BLOCKED under the same signature (see `Observed::Blocked`).

use super::subject::{Subject, CONVERTER};
use super::*;

/// One artifact a converter wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Made {
    /// The file's name in the model folder.
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
    /// A GGUF's header: its tensor-type mixture and metadata (None: not a GGUF, or
    /// evidence recorded before the harness read headers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gguf: Option<tmgt_schema::gguf_header::GgufFacts>,
}

/// How one artifact came to be (or not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversion {
    /// The converter: "apr", or a comparator's name ("candle", "llama.cpp").
    pub tool: String,
    /// What it was made from: "reference" or another artifact's name.
    pub from: String,
    /// The weights' nominal bit width (8, 4; 32 for f32 exports).
    pub bits: u8,
    pub observed: Observed<Made>,
}

impl Conversion {
    pub fn subject(&self) -> Subject {
        if self.tool == APR {
            CONVERTER
        } else {
            Subject::comparator(&self.tool)
        }
    }
}

pub fn judge(ev: &ModelEvidence) -> Vec<Outcome> {
    if ev.conversions.is_empty() {
        return vec![Case::new("convert", &ev.slug, "all", Subject::Harness).blocked(
            "no conversion was attempted",
            "no conversion attempted",
            Evidence::default(),
        )];
    }
    ev.conversions
        .iter()
        .map(|(artifact, c)| {
            let case = Case::new("convert", &ev.slug, artifact.clone(), c.subject());
            let what = format!("{} making {artifact} from {}", c.tool, c.from);
            match take(Some(&c.observed), &case, &what, true) {
                Ok((made, inv)) => case.pass(
                    format!(
                        "{artifact}: {} ({:.1} MB) in {:.1}s{}",
                        made.file,
                        made.bytes as f64 / 1e6,
                        inv.duration_s,
                        made.gguf.as_ref().map_or(String::new(), |g| format!("; weights {}", g.mixture()))
                    ),
                    evidence_from(
                        inv,
                        None,
                        Some(format!("{} sha256 {}", made.file, made.sha256)),
                        serde_json::to_value(made).unwrap_or_default(),
                    ),
                ),
                Err(outcome) => outcome,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn made(file: &str) -> Observed<Made> {
        Observed::Ok {
            value: Made { file: file.into(), bytes: 2_000_000, sha256: "ab".repeat(32), gguf: None },
            invocation: inv(&["apr", "import", "reference", "--quantize", "int8", "-o", file], ""),
        }
    }

    #[test]
    fn a_crash_fails_the_converter_and_names_the_panic() {
        let mut ev = evidence();
        ev.conversions
            .insert("int8".into(), Conversion { tool: APR.into(), from: "reference".into(), bits: 8, observed: made("int8.apr") });
        let mut crash = inv(&["apr", "import", "reference", "--quantize", "int4", "-o", ".tmp-int4.apr"], "");
        crash.exit_code = Some(101);
        crash.stderr =
            "thread 'main' panicked at src/q4.rs:9:1:\nblock size 17 is not a multiple of 32\nnote: run with RUST_BACKTRACE".into();
        ev.conversions.insert(
            "int4".into(),
            Conversion {
                tool: APR.into(),
                from: "reference".into(),
                bits: 4,
                observed: Observed::Failed { error: "exit 101".into(), invocation: crash },
            },
        );
        ev.conversions.insert(
            "q8_0-gguf".into(),
            Conversion { tool: "candle".into(), from: "reference".into(), bits: 8, observed: made("q8_0.gguf") },
        );
        ev.conversions.insert(
            "roundtrip".into(),
            Conversion {
                tool: APR.into(),
                from: "int4-gguf".into(),
                bits: 4,
                observed: Observed::Blocked {
                    step: "convert int4".into(),
                    reason: "x".into(),
                    signature: "apr: panic: block size # is not a multiple of #".into(),
                },
            },
        );
        let outs = judge(&ev);
        assert_eq!(outs.len(), 4);
        let ok = find(&outs, "int8");
        assert_eq!((ok.status, &ok.subject), (Verdict::Pass, &CONVERTER));
        let f = find(&outs, "int4");
        assert_eq!((f.status, &f.subject), (Verdict::Fail, &CONVERTER));
        assert!(f.note.contains("panic: block size 17 is not a multiple of 32") && f.note.contains("exit 101"), "{}", f.note);
        assert_eq!(f.signature, "apr: panic: block size # is not a multiple of #");
        let b = find(&outs, "roundtrip");
        assert_eq!(b.status, Verdict::Blocked);
        assert_eq!(b.signature, f.signature, "blocked outcomes join the failure that blocked them");
        assert_eq!(find(&outs, "q8_0-gguf").subject, Subject::comparator("candle"));
        assert_eq!(judge(&ModelEvidence::new("m"))[0].subject, Subject::Harness);
    }
}
