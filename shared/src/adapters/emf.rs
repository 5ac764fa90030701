//! Metrics as CloudWatch embedded metric format (EMF): one JSON line on standard output per
//! invocation, which CloudWatch Logs turns into metrics. No API call, no extra permission, and
//! an alarm can watch any of them (the executor's `FiringsFailed`, the daily run's
//! `GuardrailHolds`).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::io::Write;

/// The CloudWatch namespace of every RuleKit metric.
pub const NAMESPACE: &str = "RuleKit";

/// One EMF document: `metrics` (name, count) under the dimension `Function` = `function`.
/// Dimensions never name a tenant or a customer: they are few, and they are not customer data.
pub fn line(function: &str, at: DateTime<Utc>, metrics: &[(&str, usize)]) -> String {
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
        .collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": definitions,
            }],
        }),
    );
    doc.insert("Function".to_owned(), json!(function));
    for (name, value) in metrics {
        doc.insert((*name).to_owned(), json!(value));
    }
    Value::Object(doc).to_string()
}

/// Writes the document as one line on standard output, where Lambda's log agent picks it up.
pub fn emit(function: &str, at: DateTime<Utc>, metrics: &[(&str, usize)]) {
    let mut out = std::io::stdout().lock();
    // A lost metric line must never fail the invocation whose work is already done.
    let _ = writeln!(out, "{}", line(function, at, metrics));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_declares_each_metric_and_carries_its_value() {
        let at = DateTime::parse_from_rfc3339("2026-11-15T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let doc: Value = serde_json::from_str(&line(
            "execute",
            at,
            &[("FiringsFailed", 2), ("FiringsSent", 7)],
        ))
        .unwrap();
        // Milliseconds since the epoch, as EMF requires.
        assert_eq!(doc["_aws"]["Timestamp"], 1_794_733_200_000_i64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "RuleKit");
        assert_eq!(directive["Dimensions"], json!([["Function"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "FiringsFailed", "Unit": "Count"}, {"Name": "FiringsSent", "Unit": "Count"}])
        );
        assert_eq!(doc["Function"], "execute");
        assert_eq!(doc["FiringsFailed"], 2);
        assert_eq!(doc["FiringsSent"], 7);
    }
}
