//! The one table of artifacts: every file the checks run, with what makes it (tool,
//! input, arguments), its extension, its nominal bit width and the quantization its
//! pre-registered KLD bounds are kept under. Pure data: `convert.rs` makes the files
//! from it, the judges read their facts from it (never from an artifact's name).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Apr,
    /// oracle-gen's GGUF exporter (candle's quantizers).
    Candle,
    /// llama.cpp's own quantizer, through the comparator.
    LlamaCpp,
    /// The model's source file itself (a GGUF the roster pulls), linked under a
    /// neutral name: made by nobody in this pipeline.
    Source,
    /// The reference checkpoint's own weights file, run where it lies: no conversion
    /// at all (the f32 ladder's first rung).
    Reference,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Apr => crate::judge::APR,
            Tool::Candle => "candle",
            Tool::LlamaCpp => "llama.cpp",
            Tool::Source => "source",
            Tool::Reference => REFERENCE_TOOL,
        }
    }
}

pub struct Spec {
    pub name: &'static str,
    pub extension: &'static str,
    /// None: the reference checkpoint; Some(name): another artifact.
    pub from: Option<&'static str>,
    pub tool: Tool,
    /// Nominal bit width of the weights it holds.
    pub bits: u8,
    /// The quantization its pre-registered KLD bounds are kept under (a key of the
    /// roster's `kld_*` maps, `judge::KLD_QUANTS`); None: reported, not judged.
    pub quant: Option<&'static str>,
    /// argv after the program, with {in} and {out} placeholders.
    pub args: &'static [&'static str],
}

/// The tool name of the reference checkpoint's own file (`Tool::Reference`): not a
/// conversion, so never in the `convert` suite's evidence.
pub const REFERENCE_TOOL: &str = "reference";

pub const SPECS: &[Spec] = &[
    // The f32 ladder's lower rungs: apr on the checkpoint itself (its runtime alone),
    // then on its own unquantized APR file (its container, no quantizer).
    Spec { name: "safetensors", extension: "safetensors", from: None, tool: Tool::Reference, quant: None, bits: 32, args: &[] },
    Spec {
        name: "f32",
        extension: "apr",
        from: None,
        tool: Tool::Apr,
        quant: Some("f32"),
        bits: 32,
        args: &["import", "{in}", "-o", "{out}", "--offline"],
    },
    Spec {
        name: "int8",
        extension: "apr",
        from: None,
        tool: Tool::Apr,
        quant: Some("int8"),
        bits: 8,
        args: &["import", "{in}", "--quantize", "int8", "-o", "{out}", "--offline"],
    },
    Spec {
        name: "int4",
        extension: "apr",
        from: None,
        tool: Tool::Apr,
        quant: Some("int4"),
        bits: 4,
        args: &["import", "{in}", "--quantize", "int4", "-o", "{out}", "--offline"],
    },
    Spec {
        name: "int4-gguf",
        extension: "gguf",
        from: Some("int4"),
        tool: Tool::Apr,
        quant: Some("int4"),
        bits: 4,
        args: &["export", "{in}", "--format", "gguf", "-o", "{out}", "--offline"],
    },
    Spec {
        name: "roundtrip",
        extension: "apr",
        from: Some("int4-gguf"),
        tool: Tool::Apr,
        quant: Some("int4"),
        bits: 4,
        args: &["import", "{in}", "-o", "{out}", "--offline"],
    },
    Spec {
        name: "q8_0-gguf",
        extension: "gguf",
        from: None,
        tool: Tool::Candle,
        quant: Some("q8_0"),
        bits: 8,
        args: &["export-gguf", "{in}", "--quant", "q8_0", "--out", "{out}"],
    },
    Spec {
        name: "q4_0-gguf",
        extension: "gguf",
        from: None,
        tool: Tool::Candle,
        quant: Some("q4_0"),
        bits: 4,
        args: &["export-gguf", "{in}", "--quant", "q4_0", "--out", "{out}"],
    },
    // llama.cpp's quantizer on the f32 export: a correct converter's equivalents.
    Spec {
        name: "f32-gguf",
        extension: "gguf",
        from: None,
        tool: Tool::Candle,
        quant: Some("f32"),
        bits: 32,
        args: &["export-gguf", "{in}", "--quant", "f32", "--out", "{out}"],
    },
    Spec {
        name: "lcpp-q8_0-gguf",
        extension: "gguf",
        from: Some("f32-gguf"),
        tool: Tool::LlamaCpp,
        quant: Some("q8_0"),
        bits: 8,
        args: &["quantize", "--in", "{in}", "--out", "{out}", "--type", "q8_0"],
    },
    Spec {
        name: "lcpp-q4_0-gguf",
        extension: "gguf",
        from: Some("f32-gguf"),
        tool: Tool::LlamaCpp,
        quant: Some("q4_0"),
        bits: 4,
        args: &["quantize", "--in", "{in}", "--out", "{out}", "--type", "q4_0"],
    },
    // --pure: every weight Q4_0, as apr's and candle's 4-bit files (llama.cpp's default
    // Q4_0 keeps the tied embedding at Q8_0): the like-for-like equivalent that
    // attribution compares with; the default mixture stays, as llama.cpp's users get it.
    Spec {
        name: "lcpp-q4_0-pure-gguf",
        extension: "gguf",
        from: Some("f32-gguf"),
        tool: Tool::LlamaCpp,
        quant: Some("q4_0"),
        bits: 4,
        args: &["quantize", "--in", "{in}", "--out", "{out}", "--type", "q4_0", "--pure"],
    },
    Spec {
        name: "lcpp-q4_k_m-gguf",
        extension: "gguf",
        from: Some("f32-gguf"),
        tool: Tool::LlamaCpp,
        quant: Some("q4_k"),
        bits: 4,
        args: &["quantize", "--in", "{in}", "--out", "{out}", "--type", "q4_k_m"],
    },
    // The roster's own GGUF (its bits are not used: it is not made from the reference).
    Spec {
        name: "native-gguf",
        extension: "gguf",
        from: None,
        tool: Tool::Source,
        quant: Some("native"),
        bits: 0,
        args: &["link", "{in}", "{out}"],
    },
];

/// An artifact's row (None: not one of the harness's artifacts).
pub fn find(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == name)
}

/// The quantization an artifact's KLD bounds are kept under, from its row.
pub fn quantization(name: &str) -> Option<&'static str> {
    find(name)?.quant
}
