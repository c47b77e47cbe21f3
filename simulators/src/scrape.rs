//! Reads the service's Prometheus `/metrics` before and after a load run, so
//! the run can set what the service counted beside what the generator did.

use std::collections::HashMap;

/// Samples by their full name with labels, e.g. `pe_digits_total{method="rfc4733"}`.
pub type Samples = HashMap<String, f64>;

/// Parses the text exposition format (comments and malformed lines skipped).
pub fn parse(text: &str) -> Samples {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.trim().rsplit_once(' ')?;
            Some((k.trim().to_string(), v.parse().ok()?))
        })
        .collect()
}

/// GETs `url` (e.g. `http://127.0.0.1:8080/metrics`).
pub async fn fetch(url: &str) -> Result<Samples, String> {
    let r = reqwest::get(url)
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let text = r.text().await.map_err(|e| format!("GET {url}: {e}"))?;
    Ok(parse(&text))
}

/// How much `key` grew between the two readings (a missing reading counts as 0).
pub fn delta(before: &Samples, after: &Samples, key: &str) -> f64 {
    after.get(key).copied().unwrap_or(0.0) - before.get(key).copied().unwrap_or(0.0)
}

/// The sum of every sample whose name (before any labels) is `name`.
pub fn total(s: &Samples, name: &str) -> f64 {
    s.iter()
        .filter(|(k, _)| k.split('{').next() == Some(name))
        .map(|(_, v)| v)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_samples_and_computes_deltas() {
        let a = parse("# HELP x\npe_cases_registered_total 3\npe_digits_total{method=\"rfc4733\"} 10\nbroken\n");
        let b = parse("pe_cases_registered_total 5\npe_digits_total{method=\"rfc4733\"} 25\npe_digits_total{method=\"inband\"} 1\n");
        assert_eq!(delta(&a, &b, "pe_cases_registered_total"), 2.0);
        assert_eq!(delta(&a, &b, "pe_digits_total{method=\"rfc4733\"}"), 15.0);
        assert_eq!(total(&b, "pe_digits_total"), 26.0);
        assert_eq!(a.len(), 2);
    }
}
