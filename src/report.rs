//! Rendering of the audit: a readable table, and the stable JSON of DESIGN.md.
//! The data lives in `barq_passes::report`; only presentation is here.

use barq_passes::{Action, Report};

/// The report as pretty JSON (the schema in `shared/DESIGN.md`).
pub fn to_json(report: &Report) -> String {
    // Serializing plain data with string keys cannot fail.
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// The report as a table for people.
pub fn to_text(report: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "barq report: {}  (target: {}, fast-math: {})\n",
        report.module,
        report.target,
        if report.fast_math { "on" } else { "off" }
    ));
    if report.findings.is_empty() {
        out.push_str("no fingerprints found\n");
    } else {
        let header = [
            "function", "index", "pattern", "elem", "action", "tier", "exact", "reason",
        ];
        let rows: Vec<[String; 8]> = report
            .findings
            .iter()
            .map(|f| {
                [
                    f.function.clone(),
                    f.func_index.to_string(),
                    f.pattern.clone(),
                    f.elem.map_or("-".into(), |e| json_word(&e)),
                    json_word(&f.action),
                    f.tier.map_or("-".into(), |t| json_word(&t)),
                    if f.exact { "yes" } else { "no" }.to_string(),
                    f.reason.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                if i + 1 == cells.len() {
                    s.push_str(cell);
                } else {
                    s.push_str(&format!("{cell:<w$}  "));
                }
            }
            s.trim_end().to_string() + "\n"
        };
        out.push_str(&line(&header.map(String::from)));
        for row in &rows {
            out.push_str(&line(row));
        }
    }
    let s = &report.summary;
    out.push_str(&format!(
        "summary: {} functions, {} loops; {} rewritten, {} detected, {} declined\n",
        s.functions, s.loops, s.rewritten, s.detected, s.declined
    ));
    for note in &report.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

/// The JSON spelling of a unit enum value (`"rewritten"`, `"simd128"`, ...).
fn json_word<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Counts the findings with a given action (for one-line summaries).
pub fn count(report: &Report, action: Action) -> usize {
    report
        .findings
        .iter()
        .filter(|f| f.action == action)
        .count()
}
