//! Each scan's summary, as kept in the store's scan history and shown by
//! `rectify scans list|show`.

use std::collections::BTreeMap;

use rectify_engine::scan::ScanReport;
use rectify_model::Standard;
use rectify_store::ScanRecord;
use serde_json::{json, Value};

use super::summary::{self, Tally, SEVERITIES};

/// Errors kept per scan (the count of all is kept too).
const MAX_ERRORS: usize = 50;
/// Characters kept of one error.
const MAX_ERROR_CHARS: usize = 500;

/// Who ran it and what it was asked, besides what it found.
pub struct ScanMeta<'a> {
    /// `manual` or `scheduled`.
    pub kind: &'a str,
    pub started_by: String,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub feed: bool,
    pub dry_run: bool,
    /// Findings sent through the rules (with `feed`).
    pub fed: usize,
    /// `--send-to-security-hub`: imported, and what was refused or failed.
    pub security_hub: Option<(usize, Vec<String>)>,
}

fn bounded(errors: &[String]) -> Vec<String> {
    errors
        .iter()
        .take(MAX_ERRORS)
        .map(|e| e.chars().take(MAX_ERROR_CHARS).collect())
        .collect()
}

fn tally_json(t: &Tally) -> Value {
    json!({"passed": t.passed, "failed": t.failed, "pass_rate": t.pass_rate()})
}

/// The summary kept of `report`: counts per verdict, severity and
/// standard, and the errors (bounded).
pub fn summary_of(report: &ScanReport, meta: &ScanMeta) -> Value {
    let failed = report
        .results
        .iter()
        .filter(|r| summary::status_of(r) == "FAIL")
        .count();
    let passed = report.results.iter().filter(|r| r.verdict.pass).count();
    let mut by_severity: BTreeMap<&str, Tally> = BTreeMap::new();
    for r in &report.results {
        let t = by_severity.entry(r.severity.label()).or_default();
        if summary::status_of(r) == "FAIL" {
            t.failed += 1;
        } else {
            t.passed += 1;
        }
    }
    let severities: serde_json::Map<String, Value> = SEVERITIES
        .iter()
        .filter_map(|s| {
            by_severity
                .get(s.label())
                .map(|t| (s.label().to_string(), tally_json(t)))
        })
        .collect();
    let standards: serde_json::Map<String, Value> = Standard::ALL
        .into_iter()
        .map(|s| summary::compliance(report, s))
        .filter(|c| c.resources.total() > 0)
        .map(|c| {
            let mut v = tally_json(&c.resources);
            v["controls_passed"] = json!(c.controls_passed);
            v["controls_judged"] = json!(c.controls_judged);
            (c.standard.key().to_string(), v)
        })
        .collect();
    let mut out = json!({
        "accounts": meta.accounts,
        "regions": meta.regions,
        "resources": report.checked,
        "verdicts": {
            "total": report.verdicts,
            "passed": passed,
            "failed": failed,
            "exempt": report.exempt,
        },
        "by_severity": severities,
        "by_standard": standards,
        "errors": bounded(&report.errors),
        "errors_total": report.errors.len(),
        "throttled": report.throttled,
        "feed": meta.feed,
        "dry_run": meta.dry_run,
    });
    if meta.feed {
        out["fed"] = json!(meta.fed);
    }
    if report.from_config > 0 {
        out["from_config"] = json!(report.from_config);
    }
    if let Some((imported, refused)) = &meta.security_hub {
        out["security_hub"] = json!({
            "imported": imported,
            "refused": bounded(refused),
            "refused_total": refused.len(),
        });
    }
    out
}

/// The history record of `report`.
pub fn record_of(report: &ScanReport, meta: &ScanMeta) -> ScanRecord {
    ScanRecord {
        id: uuid::Uuid::now_v7().to_string(),
        started_at: report.started_at.clone(),
        finished_at: report.finished_at.clone(),
        kind: meta.kind.to_string(),
        started_by: meta.started_by.clone(),
        summary: summary_of(report, meta),
    }
}

/// One line of `rectify scans list`.
pub fn line(scan: &ScanRecord) -> String {
    let s = &scan.summary;
    let count = |v: &Value| v.as_u64().unwrap_or(0);
    format!(
        "{}  {}  {:<9} {:<24} resources {:>6}  failed {:>5}/{:<6} errors {}",
        scan.id,
        scan.started_at,
        scan.kind,
        scan.started_by.chars().take(24).collect::<String>(),
        count(&s["resources"]),
        count(&s["verdicts"]["failed"]),
        count(&s["verdicts"]["total"]),
        count(&s["errors_total"]),
    )
}

/// `rectify scans show ID` in text.
pub fn details(scan: &ScanRecord) -> String {
    let s = &scan.summary;
    let list = |v: &Value| {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let rate = |v: &Value| match v["pass_rate"].as_f64() {
        Some(r) => format!("{r:.1}%"),
        None => "-".into(),
    };
    let mut out = format!(
        "scan        {}\nkind        {}\nstarted by  {}\nstarted     {}\nfinished    {}\naccounts    {}\nregions     {}\nresources   {}\nverdicts    {} ({} passed, {} failed, {} exempt)\n",
        scan.id,
        scan.kind,
        scan.started_by,
        scan.started_at,
        scan.finished_at,
        list(&s["accounts"]),
        list(&s["regions"]),
        s["resources"],
        s["verdicts"]["total"],
        s["verdicts"]["passed"],
        s["verdicts"]["failed"],
        s["verdicts"]["exempt"],
    );
    if let Some(map) = s["by_severity"].as_object() {
        out.push_str("per severity\n");
        for (severity, t) in map {
            out.push_str(&format!(
                "  {severity:<14} {} failed of {} ({} passed)\n",
                t["failed"],
                t["passed"].as_u64().unwrap_or(0) + t["failed"].as_u64().unwrap_or(0),
                rate(t)
            ));
        }
    }
    if let Some(map) = s["by_standard"].as_object() {
        out.push_str("per standard\n");
        for (standard, t) in map {
            out.push_str(&format!(
                "  {standard:<14} {} failed of {} ({} passed), {}/{} controls passed\n",
                t["failed"],
                t["passed"].as_u64().unwrap_or(0) + t["failed"].as_u64().unwrap_or(0),
                rate(t),
                t["controls_passed"],
                t["controls_judged"],
            ));
        }
    }
    if s["feed"] == json!(true) {
        out.push_str(&format!(
            "fed         {} finding(s) through the rules{}\n",
            s["fed"],
            if s["dry_run"] == json!(true) {
                " (dry-run)"
            } else {
                ""
            }
        ));
    }
    if let Some(n) = s.get("from_config") {
        out.push_str(&format!(
            "from config {n} bucket(s) judged as AWS Config last recorded them\n"
        ));
    }
    if let Some(hub) = s.get("security_hub") {
        out.push_str(&format!(
            "security hub {} imported, {} refused\n",
            hub["imported"], hub["refused_total"]
        ));
    }
    out.push_str(&format!("errors      {}\n", s["errors_total"]));
    for e in s["errors"].as_array().into_iter().flatten() {
        out.push_str(&format!("  {}\n", e.as_str().unwrap_or_default()));
    }
    out
}
