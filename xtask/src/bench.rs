//! `cargo xtask bench`: benchmarks that print numbers (never timed tests). `oracle`:
//! oracle-gen's prefill and decode tokens/s on a reference checkpoint beside
//! llama.cpp's on the f32 export of the same checkpoint (when the comparator is
//! built and the export exists), rounds alternating in one run, with their ratio and
//! the memory-bandwidth bound; then the oracle alone on the tiny llama fixture.

use crate::context::Ctx;
use anyhow::{bail, Context, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Bench {
    /// What to benchmark: `oracle`.
    #[arg(default_value = "oracle")]
    pub what: String,
    /// The model (a roster slug; default smollm2-135m-instruct).
    #[arg(long)]
    pub model: Option<String>,
    /// Rounds per engine, alternating (oracle, llama.cpp, oracle, …).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

/// One engine's best round.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Best {
    pub prefill_tps: f64,
    pub decode_tps: f64,
}

impl Best {
    fn absorb(&mut self, prefill: f64, decode: f64) {
        self.prefill_tps = self.prefill_tps.max(prefill);
        self.decode_tps = self.decode_tps.max(decode);
    }
}

/// The side-by-side table: each engine's best decode and prefill, the weight bytes
/// it reads per second while decoding, and the ratios oracle / llama.cpp.
pub fn table(oracle: Best, llamacpp: Option<Best>, bytes_per_token: f64, probe: f64) -> String {
    let gbs = |b: &Best| b.decode_tps * bytes_per_token / 1e9;
    let mut out = String::from("| engine | decode tok/s | prefill tok/s | weights read while decoding |\n|---|---|---|---|\n");
    out.push_str(&format!("| oracle-gen (f32) | {:.1} | {:.1} | {:.1} GB/s |\n", oracle.decode_tps, oracle.prefill_tps, gbs(&oracle)));
    let mut bound = probe;
    if let Some(l) = llamacpp {
        out.push_str(&format!("| llama.cpp (f32 GGUF) | {:.1} | {:.1} | {:.1} GB/s |\n", l.decode_tps, l.prefill_tps, gbs(&l)));
        out.push_str(&format!(
            "\noracle / llama.cpp: decode {:.2}, prefill {:.2}\n",
            oracle.decode_tps / l.decode_tps,
            oracle.prefill_tps / l.prefill_tps
        ));
        bound = bound.max(l.decode_tps * bytes_per_token);
    }
    out.push_str(&format!(
        "bound: {:.1} GB/s (the best read probe, or what the fastest engine reads if more) = {:.1} tok/s for {:.2} GB a token; the oracle decodes at {:.0}% of it\n",
        bound / 1e9,
        bound / bytes_per_token,
        bytes_per_token / 1e9,
        100.0 * oracle.decode_tps * bytes_per_token / bound
    ));
    out
}

impl Bench {
    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        if self.what != "oracle" {
            bail!("unknown benchmark {:?} (oracle)", self.what);
        }
        let bin = ctx.oracle_gen()?;
        let slug = self.model.unwrap_or_else(|| "smollm2-135m-instruct".into());
        let reference = ctx.project.reference_dir(&slug);
        if !reference.join("config.json").is_file() {
            bail!("{slug}: no reference checkpoint at {reference}; run `cargo xtask pull` first");
        }
        let f32_gguf = ctx.project.model_dir(&slug).join("f32.gguf");
        let comparator = crate::comparator::find_bin(&ctx.project.root);
        let llamacpp_argv = match (&comparator, f32_gguf.is_file()) {
            (Some(c), true) => {
                Some(vec![c.to_string(), "bench".into(), "--gguf".into(), f32_gguf.to_string(), "--rounds".into(), "1".into()])
            }
            (None, _) => {
                println!("llama.cpp: {} (oracle alone)", crate::comparator::not_built_reason(&ctx.project.root));
                None
            }
            (_, false) => {
                println!("llama.cpp: no f32 export at {f32_gguf} (`cargo xtask convert` makes it): oracle alone");
                None
            }
        };
        let oracle_argv: Vec<String> =
            [bin.as_str(), "bench", "--model-dir", reference.as_str(), "--repeat", "1", "--json"].map(String::from).to_vec();
        let (mut oracle, mut llamacpp) = (Best::default(), llamacpp_argv.as_ref().map(|_| Best::default()));
        let (mut bytes_per_token, mut probe) = (0.0f64, 0.0f64);
        for round in 0..self.rounds.max(1) {
            let o: serde_json::Value = serde_json::from_str(crate::util::run_tool(&oracle_argv, None, false)?.trim())
                .context("oracle-gen bench --json printed no JSON")?;
            let (p, d) = (o["prefill_tps"].as_f64().unwrap_or(0.0), o["decode_tps"].as_f64().unwrap_or(0.0));
            oracle.absorb(p, d);
            bytes_per_token = o["bytes_per_token"].as_f64().unwrap_or(0.0);
            for pr in o["probes"].as_array().into_iter().flatten() {
                probe = probe.max(pr["bytes_per_s"].as_f64().unwrap_or(0.0));
            }
            println!("round {round}: oracle-gen prefill {p:.1} tok/s, decode {d:.1} tok/s");
            if let (Some(argv), Some(best)) = (&llamacpp_argv, llamacpp.as_mut()) {
                let l: serde_json::Value = serde_json::from_str(crate::util::run_tool(argv, None, false)?.trim())
                    .context("llamacpp-comparator bench printed no JSON")?;
                let (p, d) = (l["prefill_tps"].as_f64().unwrap_or(0.0), l["decode_tps"].as_f64().unwrap_or(0.0));
                best.absorb(p, d);
                println!("round {round}: llama.cpp  prefill {p:.1} tok/s, decode {d:.1} tok/s");
            }
        }
        println!("\n{slug}, prompt \"The capital of France is\", 32 greedy tokens, best of {} rounds:\n", self.rounds.max(1));
        print!("{}", table(oracle, llamacpp, bytes_per_token, probe));
        let fixture = ctx.project.models().join("bench-fixture-llama");
        crate::util::run_tool(
            &[bin.to_string(), "fixture".into(), "--arch".into(), "llama".into(), "--out".into(), fixture.to_string()],
            None,
            false,
        )?;
        println!("\nthe tiny llama fixture (oracle alone):");
        crate::runner::run_live(
            &[bin.to_string(), "bench".into(), "--model-dir".into(), fixture.to_string(), "--tokens".into(), "64".into()],
            None,
            std::time::Duration::from_secs(3600),
        )?;
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_gives_ratios_and_a_bound_no_lower_than_the_fastest_engine_reads() {
        let oracle = Best { prefill_tps: 60.0, decode_tps: 15.0 };
        let llama = Best { prefill_tps: 40.0, decode_tps: 20.0 };
        // probe 8 GB/s, llama.cpp reads 20 × 0.5 GB = 10 GB/s: the bound is 10 GB/s
        let t = table(oracle, Some(llama), 0.5e9, 8e9);
        assert!(t.contains("decode 0.75, prefill 1.50"), "{t}");
        assert!(t.contains("bound: 10.0 GB/s") && t.contains("= 20.0 tok/s") && t.contains("at 75% of it"), "{t}");
        // the oracle alone: the probe is the bound
        let t = table(oracle, None, 0.5e9, 8e9);
        assert!(!t.contains("llama.cpp") && t.contains("bound: 8.0 GB/s") && t.contains("at 94% of it"), "{t}");
    }
}
