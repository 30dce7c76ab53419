//! The machine a golden or a results file was made on: the CPU model and the
//! instruction-set features that select numeric kernels (candle's bf16/f16 paths and
//! gemm pick their code by these), so a difference between two machines can be
//! explained by what differs between them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// "x86_64", "aarch64", …
    pub arch: String,
    /// /proc/cpuinfo's "model name" (or "unknown").
    pub cpu_model: String,
    /// Logical CPUs available to this process.
    pub cpus: usize,
    /// The kernel-selecting features this CPU has, in a fixed order.
    pub isa: Vec<String>,
    /// "linux", "macos", …
    pub os: String,
}

/// The x86 features numeric libraries dispatch on (gemm, half, candle).
#[cfg(target_arch = "x86_64")]
fn isa_features() -> Vec<String> {
    let mut found = Vec::new();
    macro_rules! probe {
        ($($f:tt),*) => {
            $(if std::arch::is_x86_feature_detected!($f) { found.push($f.to_string()); })*
        };
    }
    probe!("sse4.2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512bf16", "avx512fp16", "avx512vnni");
    found
}

#[cfg(target_arch = "aarch64")]
fn isa_features() -> Vec<String> {
    let mut found = Vec::new();
    macro_rules! probe {
        ($($f:tt),*) => {
            $(if std::arch::is_aarch64_feature_detected!($f) { found.push($f.to_string()); })*
        };
    }
    probe!("neon", "fp16", "bf16", "i8mm", "sve", "sve2");
    found
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn isa_features() -> Vec<String> {
    Vec::new()
}

/// The CPU model line of /proc/cpuinfo, where there is one.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Model") || l.starts_with("cpu model"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

impl HostInfo {
    pub fn detect() -> HostInfo {
        HostInfo {
            arch: std::env::consts::ARCH.into(),
            cpu_model: cpu_model(),
            cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            isa: isa_features(),
            os: std::env::consts::OS.into(),
        }
    }

    /// One line: "Intel(R) Xeon(R) Processor (x86_64; avx2 fma avx512f …; 2 cpus)".
    pub fn describe(&self) -> String {
        format!("{} ({}; {}; {} cpus)", self.cpu_model, self.arch, self.isa.join(" "), self.cpus)
    }

    /// Features one host has and the other lacks, both ways: what can explain a
    /// difference in reduced-precision arithmetic between them.
    pub fn isa_difference(&self, other: &HostInfo) -> (Vec<String>, Vec<String>) {
        let only = |a: &HostInfo, b: &HostInfo| a.isa.iter().filter(|f| !b.isa.contains(f)).cloned().collect();
        (only(self, other), only(other, self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_this_machine() {
        let h = HostInfo::detect();
        assert_eq!(h.arch, std::env::consts::ARCH);
        assert!(h.cpus >= 1);
        assert!(!h.cpu_model.is_empty());
        #[cfg(target_arch = "x86_64")]
        assert!(h.isa.iter().any(|f| f == "sse4.2"), "every x86_64 this builds on has SSE4.2: {h:?}");
    }

    #[test]
    fn isa_difference_names_both_sides() {
        let a = HostInfo {
            arch: "x86_64".into(),
            cpu_model: "A".into(),
            cpus: 2,
            isa: vec!["avx2".into(), "avx512f".into()],
            os: "linux".into(),
        };
        let b = HostInfo { isa: vec!["avx2".into(), "avx512bf16".into()], cpu_model: "B".into(), ..a.clone() };
        assert_eq!(a.isa_difference(&b), (vec!["avx512f".to_string()], vec!["avx512bf16".to_string()]));
        assert!(a.describe().contains("avx2 avx512f"));
    }
}
