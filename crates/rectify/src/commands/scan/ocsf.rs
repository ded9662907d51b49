//! Scan verdicts as OCSF 1.3.0 Compliance Findings (class 2003, with the
//! cloud profile): what `--output ocsf` prints.

use rectify_engine::scan::{CheckInfo, CheckResult};
use rectify_model::Standard;
use serde_json::{json, Value};

pub const OCSF_VERSION: &str = "1.3.0";
const CLASS_UID: u32 = 2003;
const CATEGORY_UID: u32 = 2;
/// Activity 1: Create.
const ACTIVITY_ID: u32 = 1;

pub fn finding(r: &CheckResult, info: Option<&CheckInfo>, time_ms: i64) -> Value {
    let v = &r.verdict;
    let standards: Vec<String> = Standard::ALL
        .into_iter()
        .filter(|s| {
            info.and_then(|i| i.standards.get(s))
                .is_some_and(|ids| !ids.is_empty())
        })
        .map(|s| s.title().to_string())
        .collect();
    let requirements: Vec<String> = Standard::ALL
        .into_iter()
        .flat_map(|s| {
            info.and_then(|i| i.standards.get(&s))
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |id| format!("{}/{id}", s.key()))
        })
        .collect();
    // Compliance status: 1 Pass, 3 Fail. Finding status: 1 New, or 4
    // Resolved when the resource passes.
    let (status_id, status) = if v.pass { (1, "Pass") } else { (3, "Fail") };
    json!({
        "activity_id": ACTIVITY_ID,
        "activity_name": "Create",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Compliance Finding",
        "type_uid": CLASS_UID * 100 + ACTIVITY_ID,
        "severity_id": r.severity.ocsf_id(),
        "severity": capitalised(r.severity.label()),
        "status_id": if v.pass { 4 } else { 1 },
        "status": if v.pass { "Resolved" } else { "New" },
        "time": time_ms,
        "message": v.evidence,
        "metadata": {
            "version": OCSF_VERSION,
            "profiles": ["cloud"],
            "product": {
                "name": "rectify",
                "vendor_name": "rectify",
                "version": env!("CARGO_PKG_VERSION"),
            },
        },
        "finding_info": {
            "uid": super::asff::finding_id(r),
            "title": info.map(|i| i.title.as_str()).unwrap_or(r.check.as_str()),
            "desc": v.evidence,
            "types": [r.check],
        },
        "compliance": {
            "control": r.control,
            "standards": standards,
            "requirements": requirements,
            "status_id": status_id,
            "status": status,
        },
        "resources": [{
            "uid": v.resource_id,
            "type": v.resource_type,
            "region": v.region,
            "cloud_partition": rectify_model::partition_of(&v.region),
        }],
        "cloud": {
            "provider": "AWS",
            "region": v.region,
            "account": {"uid": v.account, "type": "AWS Account", "type_id": 10},
        },
    })
}

fn capitalised(label: &str) -> String {
    let lower = label.to_ascii_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}
