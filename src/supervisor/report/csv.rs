//! The report as CSV: a header row, then one row per (period, channel,
//! level, unit), then the IVR abandonments as rows with an empty level and
//! unit (channel phone). Empty cells where a figure has no value.

use super::Report;
use std::fmt::Write;

pub const HEADER: &str = "period_start,channel,level,unit,contacts,needing_nurse,answered,\
wait_p50_min,wait_p90_min,wait_max_min,within_target,within_target_share,\
first_attempt_reached,unreachable,self_care,handoffs_out,estimates_compared,\
estimate_error_p50_min,estimate_error_p90_min,abandoned_in_ivr,ivr_node";

/// The CSV text (RFC 4180, `\r\n` line ends).
pub fn to_csv(report: &Report) -> String {
    let mut out = String::new();
    let _ = write!(out, "{HEADER}\r\n");
    let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for r in &report.rows {
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},0,\r\n",
            r.period_start,
            r.channel.as_str(),
            r.level,
            field(&r.unit),
            r.contacts,
            r.needing_nurse,
            r.answered,
            num(r.wait_p50_min),
            num(r.wait_p90_min),
            num(r.wait_max_min),
            r.within_target,
            num(r.within_target_share),
            r.first_attempt_reached,
            r.unreachable,
            r.self_care,
            r.handoffs_out,
            r.estimates_compared,
            num(r.estimate_error_p50_min),
            num(r.estimate_error_p90_min),
        );
    }
    for a in &report.abandoned {
        let _ = write!(
            out,
            "{},phone,,,0,0,0,,,,0,,0,0,0,0,0,,,{},{}\r\n",
            a.period_start,
            a.count,
            field(&a.node)
        );
    }
    out
}

/// Quotes a text cell when it needs it, and defuses spreadsheet formulas.
fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(field("1177"), "1177");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=cmd"), "'=cmd");
    }
}
