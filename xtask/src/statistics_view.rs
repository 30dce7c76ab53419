//! What a reader sees of the KLD and tokenizer-battery statistics: the kld suite's numbers as a table per
//! model (PPL of the runtime and the oracle, ln ratio, mean KLD, KLD percentiles, Δp,
//! same top-1), the tokenizer battery's as a table per model, and one SVG plot of the
//! KLD quantile curve per artifact. All read from the judged outcomes' evidence (the
//! reports the scorers printed), so `status` reruns nothing.

use crate::judge::kld::{Coverage, KldReport};
use crate::judge::{Outcome, Verdict};
use crate::report::RunResults;
use comfy_table::presets::ASCII_MARKDOWN;
use comfy_table::{ContentArrangement, Table};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// (model, "runtime/artifact") -> its report and verdict, from the kld outcomes.
pub fn kld_reports(r: &RunResults) -> BTreeMap<String, Vec<(String, KldReport, Verdict)>> {
    let mut out: BTreeMap<String, Vec<(String, KldReport, Verdict)>> = BTreeMap::new();
    for o in r.outcomes.iter().filter(|o| o.suite == "kld") {
        if let Ok(report) = serde_json::from_value::<KldReport>(o.evidence.details["report"].clone()) {
            out.entry(o.model.clone()).or_default().push((o.case.clone(), report, o.status));
        }
    }
    out
}

fn markdown(mut table: Table) -> String {
    table.load_preset(ASCII_MARKDOWN).set_content_arrangement(ContentArrangement::Disabled).force_no_tty();
    table.lines().map(|l| l.trim_end().to_string()).collect::<Vec<_>>().join("\n")
}

/// One markdown table of the KLD statistics per model.
pub fn kld_tables(r: &RunResults) -> String {
    let mut out = String::new();
    for (model, rows) in kld_reports(r) {
        let mut table = Table::new();
        table.set_header([
            "Runtime/artifact",
            "n",
            "PPL rt",
            "PPL oracle",
            "ln(PPL ratio)",
            "mean KLD",
            "KLD 99.9%",
            "99%",
            "95%",
            "90%",
            "50%",
            "max",
            "Δp mean",
            "Δp RMS",
            "same top-1",
            "",
        ]);
        for (case, k, verdict) in rows {
            let note = r.outcomes.iter().find(|o| o.suite == "kld" && o.model == model && o.case == case).map(|o| o.note.clone());
            let label = match k.coverage {
                Coverage::FullVocabulary => case,
                Coverage::TopK { k: top, .. } => format!("{case} (top-{top} only: KLD is a lower bound)"),
            };
            if k.n == 0 {
                // No statistics to show (every one would be NaN): say why instead.
                let mut row = vec![label, "0".into(), format!("nothing scored: {}", note.as_deref().unwrap_or("no window"))];
                row.extend(std::iter::repeat_n("—".to_string(), 12));
                row.push(verdict.as_str().to_string());
                table.add_row(row);
                continue;
            }
            table.add_row([
                label,
                k.n.to_string(),
                format!("{:.4} ± {:.4}", k.ppl_runtime.value, k.ppl_runtime.err),
                format!("{:.4} ± {:.4}", k.ppl_reference.value, k.ppl_reference.err),
                format!("{:+.5} ± {:.5}", k.ln_ppl_ratio.value, k.ln_ppl_ratio.err),
                format!("{:.6} ± {:.6}", k.kld_mean.value, k.kld_mean.err),
                format!("{:.5}", k.kld_p999),
                format!("{:.5}", k.kld_p99),
                format!("{:.5}", k.kld_p95),
                format!("{:.5}", k.kld_p90),
                format!("{:.6}", k.kld_median),
                format!("{:.4}", k.kld_max),
                format!("{:+.5} ± {:.5}", k.dp_mean.value, k.dp_mean.err),
                format!("{:.5} ± {:.5}", k.dp_rms.value, k.dp_rms.err),
                format!("{:.2} ± {:.2}%", 100.0 * k.same_top1.value, 100.0 * k.same_top1.err),
                verdict.as_str().to_string(),
            ]);
        }
        let _ = write!(
            out,
            "\n### KLD from the oracle, {model} (nats; ± one standard error; full vocabulary unless a row says top-k; judged against the roster's kld bounds)\n\n{}\n",
            markdown(table)
        );
    }
    out
}

/// One markdown table of the tokenizer battery per model.
pub fn battery_tables(r: &RunResults) -> String {
    let mut by_model: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in r.outcomes.iter().filter(|o| o.suite == "tokenizer-battery") {
        by_model.entry(&o.model).or_default().push(o);
    }
    let mut out = String::new();
    for (model, outcomes) in by_model {
        let mut table = Table::new();
        table.set_header(["Tokenizer", "Strings that match", "Differ by class", "First difference", ""]);
        let mut any = false;
        for o in outcomes {
            let c = &o.evidence.details["comparison"];
            if !c.is_object() {
                continue;
            }
            any = true;
            let total = c["total"].as_u64().unwrap_or(0);
            if o.case.ends_with("/roundtrip") {
                // This row is about decode(encode(s)) == s, not the ids.
                let lost = c["roundtrip_failures"].as_array().map_or(0, Vec::len) as u64;
                let first =
                    c["roundtrip_failures"].get(0).map_or(String::new(), |f| format!("{:?} → {}", f[1].as_str().unwrap_or(""), f[2]));
                table.add_row([
                    o.case.clone(),
                    format!("{}/{total} round-trip", total.saturating_sub(lost)),
                    String::new(),
                    crate::judge::truncate(&first, 120),
                    o.status.as_str().to_string(),
                ]);
                continue;
            }
            let matched = c["matched"].as_u64().unwrap_or(0);
            let classes: Vec<String> = c["by_class"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| Some((e[0].as_str()?.to_string(), e[1].as_u64()?, e[2].as_u64()?)))
                .filter(|(_, m, t)| m < t)
                .map(|(class, m, t)| format!("{class} {m}/{t}"))
                .collect();
            let first = c["differences"].get(0).map_or(String::new(), |d| {
                format!("{:?}: reference {} vs {}", d["text"].as_str().unwrap_or(""), d["expected"], d["actual"])
            });
            let extra = match c["extra"].as_array() {
                Some(e) => format!(" (+ token {} added to every string: one finding)", e[1]),
                None => String::new(),
            };
            table.add_row([
                o.case.clone(),
                format!("{matched}/{total}{extra}"),
                classes.join(", "),
                crate::judge::truncate(&first, 120),
                o.status.as_str().to_string(),
            ]);
        }
        if any {
            let _ = write!(out, "\n### Tokenizer battery, {model} (ids against the checkpoint's tokenizer.json)\n\n{}\n", markdown(table));
        }
    }
    out
}

/// The KLD quantile curve of every full-vocabulary report of one model: x the
/// fraction of positions (log-scaled toward the tail), y the KLD (log scale), one
/// line per runtime/artifact. Plain SVG, no dependencies.
pub fn kld_svg(model: &str, rows: &[(String, KldReport, Verdict)]) -> Option<String> {
    let rows: Vec<&(String, KldReport, Verdict)> =
        rows.iter().filter(|(_, k, _)| k.coverage == Coverage::FullVocabulary && !k.kld_curve.is_empty()).collect();
    if rows.is_empty() {
        return None;
    }
    let (w, h, left, right, top, bottom) = (900.0, 520.0, 80.0, 260.0, 40.0, 60.0);
    let floor = 1e-7f64;
    let ys: Vec<f64> = rows.iter().flat_map(|(_, k, _)| k.kld_curve.iter().map(|p| p.1.max(floor))).collect();
    let (ymin, ymax) =
        (ys.iter().copied().fold(f64::INFINITY, f64::min).log10().floor(), ys.iter().copied().fold(0.0, f64::max).log10().ceil());
    let ymax = if ymax <= ymin { ymin + 1.0 } else { ymax };
    // x: -log10(1 - f), capped at 1 - 1e-4 (so 0.9 → 1, 0.99 → 2, 0.999 → 3)
    let xf = |f: f64| -(1.0 - f.min(0.9999)).log10();
    let (xmin, xmax) = (xf(0.1), xf(1.0));
    let px = |f: f64| left + (xf(f) - xmin) / (xmax - xmin) * (w - left - right);
    let py = |v: f64| top + (ymax - v.max(floor).log10()) / (ymax - ymin) * (h - top - bottom);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"22\" font-size=\"15\">KLD(oracle ‖ runtime) quantiles per position, {model} (full vocabulary, nats)</text>\n"
    );
    let _ = writeln!(
        svg,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\"/>",
        w - left - right,
        h - top - bottom
    );
    let mut e = ymin as i32;
    while e as f64 <= ymax {
        let y = py(10f64.powi(e));
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">1e{e}</text>",
            w - right,
            left - 6.0,
            y + 4.0
        );
        e += 1;
    }
    for f in [0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
        let x = px(f);
        let label = if f == 1.0 { "max".to_string() } else { format!("{}%", f * 100.0) };
        let _ = writeln!(
            svg,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top}\" y2=\"{}\" stroke=\"#ddd\"/><text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
            h - bottom,
            h - bottom + 18.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">percentile of scored positions</text>",
        (left + w - right) / 2.0,
        h - 15.0
    );
    const COLORS: [&str; 10] =
        ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
    for (i, (case, k, _)) in rows.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<String> = k.kld_curve.iter().map(|&(f, v)| format!("{:.1},{:.1}", px(f), py(v))).collect();
        let _ = writeln!(svg, "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>", points.join(" "));
        let ly = top + 10.0 + 18.0 * i as f64;
        let _ = writeln!(
            svg,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{ly:.1}\" y2=\"{ly:.1}\" stroke=\"{color}\" stroke-width=\"3\"/><text x=\"{}\" y=\"{:.1}\">{} (mean {:.2e})</text>",
            w - right + 10.0,
            w - right + 30.0,
            w - right + 35.0,
            ly + 4.0,
            xml_escape(case),
            k.kld_mean.value
        );
    }
    svg.push_str("</svg>\n");
    Some(svg)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tmgt_schema::kld::{summarize, RowStats};

    fn results() -> RunResults {
        let mut r = crate::report::tests::sample_results();
        let rows: Vec<RowStats> =
            (0..50).map(|i| RowStats { kld: i as f64 * 1e-3, lp_reference: -1.0, lp_runtime: -1.01, same_top1: i % 10 != 0 }).collect();
        let report = summarize(&rows, "x");
        let case = crate::judge::Case::new("kld", "m", "llama.cpp/q8_0-gguf", crate::judge::Subject::comparator("llama.cpp"));
        let evidence = crate::judge::Evidence { details: serde_json::json!({ "report": report }), ..Default::default() };
        r.outcomes.push(case.pass("ok", evidence));
        // apr's top-k lower bound over one prompt step: undefined errors (null in JSON)
        let top = tmgt_schema::kld::TopKRow {
            context_matches: true,
            same_top1: true,
            kld_lower_bound: 0.01,
            lp_reference: -0.1,
            lp_runtime: Some(-0.2),
        };
        let report = tmgt_schema::kld::summarize_top_k(&[top], 5, "y");
        let case = crate::judge::Case::new("kld", "m", "apr/q8_0-gguf (top-k)", crate::judge::subject::RUNTIME);
        let evidence = crate::judge::Evidence { details: serde_json::json!({ "report": report }), ..Default::default() };
        r.outcomes.push(case.pass("ok", evidence));
        r
    }

    #[test]
    fn the_kld_table_and_plot_show_every_report() {
        let r = results();
        let table = kld_tables(&r);
        assert!(table.contains("### KLD from the oracle, m") && table.contains("llama.cpp/q8_0-gguf"), "{table}");
        assert!(table.contains("90.00 ± 4.29%"), "same top-1 with its error: {table}");
        assert!(table.contains("apr/q8_0-gguf (top-k) (top-5 only: KLD is a lower bound)"), "{table}");
        let reports = kld_reports(&r);
        assert_eq!(reports["m"].len(), 2, "a report with undefined errors is read back too");
        let svg = kld_svg("m", &reports["m"]).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<polyline") && svg.contains("llama.cpp/q8_0-gguf"));
        assert!(!svg.contains("apr/"), "a lower bound is not drawn as a curve");
        assert!(kld_svg("m", &[]).is_none());
    }

    #[test]
    fn a_kld_row_with_nothing_scored_says_why() {
        let mut r = crate::report::tests::sample_results();
        let report = summarize(&[], "x");
        let case = crate::judge::Case::new("kld", "m", "candle/int4-gguf", crate::judge::Subject::comparator("candle"));
        let evidence = crate::judge::Evidence { details: serde_json::json!({ "report": report }), ..Default::default() };
        r.outcomes.push(case.blocked("candle kld on int4-gguf: blocked by convert int4: panic", "sig", evidence));
        let table = kld_tables(&r);
        let row = table.lines().find(|l| l.contains("candle/int4-gguf")).unwrap();
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[2..4], ["0", "nothing scored: candle kld on int4-gguf: blocked by convert int4: panic"], "{table}");
        assert_eq!(cells[4], "—");
        assert!(!table.contains("NaN"), "{table}");
    }

    #[test]
    fn the_battery_table_groups_differences_by_class() {
        let mut r = crate::report::tests::sample_results();
        let case = crate::judge::Case::new("tokenizer-battery", "m", "llama.cpp/q8_0-gguf", crate::judge::Subject::comparator("llama.cpp"));
        let details = serde_json::json!({ "comparison": {
            "total": 3, "matched": 2, "by_class": [["spaces", 1, 2], ["cjk", 1, 1]], "extra": [true, 1],
            "differences": [{"text": "  a", "expected": [5, 6], "actual": [1, 5, 5, 6]}], "roundtrip_failures": []
        }});
        r.outcomes.push(case.fail("x", "sig", crate::judge::Evidence { details, ..Default::default() }));
        let table = battery_tables(&r);
        assert!(table.contains("2/3 (+ token 1 added to every string: one finding)") && table.contains("spaces 1/2"), "{table}");
        assert!(!table.contains("cjk 1/1"), "{table}");
        let case =
            crate::judge::Case::new("tokenizer-battery", "m", "candle/q8_0-gguf/roundtrip", crate::judge::Subject::comparator("candle"));
        let details = serde_json::json!({ "comparison": {
            "total": 3, "matched": 3, "by_class": [], "differences": [], "roundtrip_failures": [[2, "\u{80}", ""]]
        }});
        r.outcomes.push(case.fail("x", "sig", crate::judge::Evidence { details, ..Default::default() }));
        let table = battery_tables(&r);
        assert!(table.contains("| candle/q8_0-gguf/roundtrip | 2/3 round-trip"), "a roundtrip row counts round trips, not ids: {table}");
    }
}
