//! The architectures the oracle implements, one name each: the roster's `arch`,
//! config.json's `model_type` (Gemma 3's text model says `gemma3_text`) and GGUF's
//! `general.architecture` all spell them the same way.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Llama,
    Qwen2,
    Gpt2,
    Gemma3,
}

impl Arch {
    pub const ALL: [Arch; 4] = [Arch::Llama, Arch::Qwen2, Arch::Gpt2, Arch::Gemma3];

    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Gpt2 => "gpt2",
            Arch::Gemma3 => "gemma3",
        }
    }

    /// The architecture a config.json `model_type` names; None for one the oracle
    /// does not implement.
    pub fn from_model_type(model_type: &str) -> Option<Arch> {
        let name = if model_type == "gemma3_text" { "gemma3" } else { model_type };
        Arch::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spelling_everywhere() {
        for a in Arch::ALL {
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
            assert_eq!(Arch::from_model_type(a.as_str()), Some(a));
        }
        assert_eq!(Arch::from_model_type("gemma3_text"), Some(Arch::Gemma3));
        assert_eq!(Arch::from_model_type("mamba"), None);
    }
}
