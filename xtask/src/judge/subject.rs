//! Whom a verdict is about. Only the runtime under test (apr: its converter, its
//! runtime, or apr where the two cannot be told apart) reaches the ticket and the
//! exit code; comparators (candle, llama.cpp) give evidence, the reference's own
//! claims (the precision ladder, reduced-precision goldens, pre-registered bounds a
//! correct engine cannot meet) and the harness's health have sections of their own.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which part of the runtime under test a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    /// import / export / quantize: the files it writes.
    Converter,
    /// run / eval / bench / check …: what it does with a file.
    Runtime,
    /// A wrong result on its own file, where no second engine reads that format.
    Either,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    /// The runtime under test.
    UnderTest(Part),
    /// A comparator engine or converter, by name: evidence, never a verdict on apr.
    Comparator(String),
    /// A claim about the reference itself or about a pre-registered bound.
    Reference,
    /// The harness's own health.
    Harness,
}

/// The status table's sections, in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    UnderTest,
    Comparators,
    Reference,
    Harness,
}

impl Section {
    pub const ALL: [Section; 4] = [Section::UnderTest, Section::Comparators, Section::Reference, Section::Harness];

    pub fn title(self) -> &'static str {
        match self {
            Section::UnderTest => "Runtime under test",
            Section::Comparators => "Comparators (evidence, not verdicts on the runtime under test)",
            Section::Reference => "Reference claims",
            Section::Harness => "Harness health",
        }
    }
}

pub const CONVERTER: Subject = Subject::UnderTest(Part::Converter);
pub const RUNTIME: Subject = Subject::UnderTest(Part::Runtime);
pub const EITHER: Subject = Subject::UnderTest(Part::Either);

impl Subject {
    pub fn comparator(name: &str) -> Subject {
        Subject::Comparator(name.to_string())
    }

    pub fn is_under_test(&self) -> bool {
        matches!(self, Subject::UnderTest(_))
    }

    pub fn section(&self) -> Section {
        match self {
            Subject::UnderTest(_) => Section::UnderTest,
            Subject::Comparator(_) => Section::Comparators,
            Subject::Reference => Section::Reference,
            Subject::Harness => Section::Harness,
        }
    }

    /// "apr converter", "apr runtime", "apr", "candle", "reference", "harness".
    pub fn label(&self) -> String {
        match self {
            Subject::UnderTest(Part::Converter) => format!("{} converter", super::APR),
            Subject::UnderTest(Part::Runtime) => format!("{} runtime", super::APR),
            Subject::UnderTest(Part::Either) => super::APR.to_string(),
            Subject::Comparator(name) => name.clone(),
            Subject::Reference => "reference".into(),
            Subject::Harness => "harness".into(),
        }
    }

    /// The stable spelling in results files: "apr-converter", "comparator:candle", ….
    pub fn key(&self) -> String {
        match self {
            Subject::UnderTest(Part::Converter) => "apr-converter".into(),
            Subject::UnderTest(Part::Runtime) => "apr-runtime".into(),
            Subject::UnderTest(Part::Either) => "apr".into(),
            Subject::Comparator(name) => format!("comparator:{name}"),
            Subject::Reference => "reference".into(),
            Subject::Harness => "harness".into(),
        }
    }

    pub fn parse(key: &str) -> Option<Subject> {
        Some(match key {
            "apr-converter" => CONVERTER,
            "apr-runtime" => RUNTIME,
            "apr" => EITHER,
            "reference" => Subject::Reference,
            "harness" => Subject::Harness,
            other => Subject::Comparator(other.strip_prefix("comparator:")?.to_string()),
        })
    }
}

impl Serialize for Subject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.key())
    }
}

impl<'de> Deserialize<'de> for Subject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Subject, D::Error> {
        let key = String::deserialize(d)?;
        Subject::parse(&key).ok_or_else(|| serde::de::Error::custom(format!("unknown subject {key:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_sections_order() {
        for s in [CONVERTER, RUNTIME, EITHER, Subject::comparator("llama.cpp"), Subject::Reference, Subject::Harness] {
            assert_eq!(Subject::parse(&s.key()), Some(s.clone()));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<Subject>(&json).unwrap(), s);
        }
        assert_eq!(Subject::parse("martian"), None);
        assert!(CONVERTER.is_under_test() && EITHER.is_under_test());
        assert!(!Subject::comparator("candle").is_under_test() && !Subject::Reference.is_under_test());
        assert_eq!(Subject::comparator("candle").section(), Section::Comparators);
        assert_eq!(Subject::Harness.section(), Section::Harness);
        assert_eq!(CONVERTER.label(), "apr converter");
        assert_eq!(EITHER.label(), "apr");
    }
}
