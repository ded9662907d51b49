//! Scan verdicts as AWS Security Finding Format findings: what
//! `--output asff` prints and `--send-to-security-hub` imports. A failed
//! verdict is an ACTIVE finding with Compliance FAILED; a passed one is
//! Compliance PASSED and, as Security Hub's own checks do when a resource
//! passes again, RecordState ARCHIVED.

use rectify_engine::scan::{CheckInfo, CheckResult};
use rectify_model::Standard;
use serde_json::{json, Map, Value};

/// ASFF limits (AWS Security Hub API reference, AwsSecurityFinding).
const MAX_TITLE: usize = 256;
const MAX_DESCRIPTION: usize = 1024;
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;
const MAX_TAGS: usize = 50;

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut out: String = text.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

/// The product a finding of account `account` is imported as: the
/// account's own default product, as Security Hub names custom
/// integrations (`product/<account>/default`).
pub fn product_arn(partition: &str, region: &str, account: &str) -> String {
    format!("arn:{partition}:securityhub:{region}:{account}:product/{account}/default")
}

/// The finding's id: stable for a check and resource, so a later scan
/// updates the same finding.
pub fn finding_id(r: &CheckResult) -> String {
    format!(
        "rectify/{}/{}/{}/{}",
        r.verdict.account, r.verdict.region, r.check, r.verdict.resource_id
    )
}

/// `Compliance.RelatedRequirements`: the standards' ids of the control.
fn related(info: Option<&CheckInfo>, control: &str) -> Vec<String> {
    let mut out = Vec::new();
    for standard in Standard::ALL {
        let own = rectify_model::check::standard_ids(&[control], standard);
        let ids: Vec<String> = if own.is_empty() {
            info.and_then(|i| i.standards.get(&standard))
                .cloned()
                .unwrap_or_default()
        } else {
            own.into_iter().map(str::to_string).collect()
        };
        for id in ids {
            out.push(format!("{}/{id}", standard.title()));
        }
    }
    out.truncate(32);
    out
}

/// One ASFF finding. `first_observed`: when a finding about this check
/// and resource was first seen (kept across scans), else now.
pub fn finding(
    r: &CheckResult,
    info: Option<&CheckInfo>,
    now: &str,
    first_observed: Option<&str>,
) -> Value {
    let v = &r.verdict;
    let partition = rectify_model::partition_of(&v.region);
    let passed = v.pass;
    let title = info.map(|i| i.title.as_str()).unwrap_or(r.check.as_str());
    let mut tags = Map::new();
    for (k, value) in v.tags.iter().take(MAX_TAGS) {
        if k.is_empty() {
            continue;
        }
        let text = value
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| value.to_string());
        tags.insert(
            cut(k, MAX_TAG_KEY),
            Value::String(cut(&text, MAX_TAG_VALUE)),
        );
    }
    let mut resource = json!({
        "Type": v.resource_type,
        "Id": v.resource_id,
        "Partition": partition,
        "Region": v.region,
    });
    if !tags.is_empty() {
        resource["Tags"] = Value::Object(tags);
    }
    json!({
        "SchemaVersion": "2018-10-08",
        "Id": finding_id(r),
        "ProductArn": product_arn(partition, &v.region, &v.account),
        "ProductName": "rectify",
        "CompanyName": "rectify",
        "GeneratorId": format!("rectify/{}", r.check),
        "AwsAccountId": v.account,
        "Region": v.region,
        "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
        "FirstObservedAt": first_observed.unwrap_or(now),
        "LastObservedAt": now,
        "CreatedAt": first_observed.unwrap_or(now),
        "UpdatedAt": now,
        "Severity": {"Label": if passed { "INFORMATIONAL" } else { r.severity.label() }, "Original": r.severity.label()},
        "Title": cut(title, MAX_TITLE),
        "Description": cut(&v.evidence, MAX_DESCRIPTION),
        "ProductFields": {
            "rectify/CheckId": r.check,
            "rectify/Status": super::summary::status_of(r),
        },
        "Resources": [resource],
        "Compliance": {
            "Status": if passed { "PASSED" } else { "FAILED" },
            "SecurityControlId": r.control,
            "RelatedRequirements": related(info, &r.control),
        },
        "Workflow": {"Status": if passed { "RESOLVED" } else { "NEW" }},
        "RecordState": if passed { "ARCHIVED" } else { "ACTIVE" },
    })
}
