//! What a signature detection is, as written in a pack or in the config:
//! the schema, and its validation.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Technique;

/// Most records a threshold may count (it bounds the state per key).
pub const MAX_THRESHOLD_COUNT: u64 = 10_000;
/// Longest threshold window, in seconds (a day).
pub const MAX_WINDOW_SECONDS: u64 = 86_400;

/// ASFF severity labels.
pub const SEVERITIES: &[&str] = &["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"];

/// Named groupings a threshold counts per; anything else is a record field
/// path (`userIdentity.userName`).
pub const NAMED_GROUPS: &[&str] = &["principal", "source_ip", "account", "resource"];

/// One signature detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Stable id, lowercase words joined by `-`: `cloudtrail-logging-stopped`.
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// INFORMATIONAL, LOW, MEDIUM, HIGH or CRITICAL.
    pub severity: String,
    pub technique: Technique,
    /// EventBridge event pattern over the record in its EventBridge shape
    /// (`source`, `detail-type`, `account`, `region`, `detail`).
    pub pattern: Value,
    /// Checks a pattern cannot express (comparisons between fields, policy
    /// documents, lists the config gives); all must hold.
    #[serde(default, rename = "where", skip_serializing_if = "Checks::is_empty")]
    pub checks: Checks,
    /// Fire only after `count` matches within `window_seconds` per group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Threshold>,
    /// Fire only when a record matching this other pattern shares the key
    /// within the window (in either order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired_with: Option<Pairing>,
    /// What the detection is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceSpec>,
    /// Known benign causes, for the docs and the finding's reader.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub false_positives: String,
}

/// Checks beyond the pattern. Each names the record field it reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    /// The IAM user named at this field is not the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_user: Option<String>,
    /// The policy document at this field (JSON text or object) allows a
    /// principal outside the organization, or anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_opens: Option<String>,
    /// The snapshot or image permission the record adds names an account
    /// outside the organization, or `all`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared_outside: bool,
    /// The bucket named at this field holds logs: listed under
    /// `detect.logging_buckets`, seen as a trail's bucket, or named so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging_bucket: Option<String>,
    /// The event selectors the record sets leave management events out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drops_management_events: bool,
    /// The lifecycle configuration the record sets expires objects.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lifecycle_expires: bool,
    /// ... and within this many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_expires_within_days: Option<u64>,
}

impl Checks {
    pub fn is_empty(&self) -> bool {
        *self == Checks::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// Matches needed (distinct values of `distinct` when given).
    pub count: u64,
    pub window_seconds: u64,
    /// What is counted per: `principal`, `source_ip`, `account`,
    /// `resource`, or record field paths; several make one key.
    pub group_by: Vec<String>,
    /// Count distinct values of these fields (the first present) rather
    /// than records: distinct secrets read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distinct: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pairing {
    pub pattern: Value,
    pub within_seconds: u64,
    /// Record field path whose value both records share
    /// (`requestParameters.userName`).
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    /// ASFF resource type: `AwsIamUser`, `AwsS3Bucket`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Record field paths tried in order; the first with a value names it.
    pub fields: Vec<String>,
    /// Makes an ARN of a bare name: `{partition}`, `{account}`, `{region}`
    /// and `{value}` are filled in. A value that is already an ARN is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

/// A problem with a spec: the field (relative to the spec) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

fn err(field: &str, message: impl Into<String>) -> SpecError {
    SpecError {
        field: field.to_string(),
        message: message.into(),
    }
}

impl Spec {
    /// Reads and validates one spec.
    pub fn from_value(value: &Value) -> Result<Spec, Vec<SpecError>> {
        let spec: Spec =
            serde_json::from_value(value.clone()).map_err(|e| vec![err("", e.to_string())])?;
        let problems = spec.problems();
        if problems.is_empty() {
            Ok(spec)
        } else {
            Err(problems)
        }
    }

    /// Everything wrong with this spec (empty when it is usable).
    pub fn problems(&self) -> Vec<SpecError> {
        let mut out = Vec::new();
        if !is_id(&self.id) {
            out.push(err(
                "id",
                format!(
                    "`{}`: an id is 1 to 64 lowercase letters, digits and `-`",
                    self.id
                ),
            ));
        }
        if self.title.trim().is_empty() {
            out.push(err("title", "must not be empty"));
        }
        if !SEVERITIES.contains(&self.severity.as_str()) {
            out.push(err(
                "severity",
                format!("`{}`: one of {}", self.severity, SEVERITIES.join(", ")),
            ));
        }
        if !is_technique_id(&self.technique.id) {
            out.push(err(
                "technique.id",
                format!(
                    "`{}`: a MITRE ATT&CK technique id like T1562 or T1562.008",
                    self.technique.id
                ),
            ));
        }
        if self.technique.name.trim().is_empty() {
            out.push(err("technique.name", "must not be empty"));
        }
        if self.technique.tactic.trim().is_empty() {
            out.push(err("technique.tactic", "must not be empty"));
        }
        if let Err(e) = event_pattern::Pattern::from_value(&self.pattern) {
            let field = if e.path.is_empty() {
                "pattern".to_string()
            } else {
                format!("pattern.{}", e.path)
            };
            out.push(err(&field, e.message));
        }
        for (name, path) in [
            ("where.other_user", &self.checks.other_user),
            ("where.policy_opens", &self.checks.policy_opens),
            ("where.logging_bucket", &self.checks.logging_bucket),
        ] {
            if let Some(p) = path {
                if !is_path(p) {
                    out.push(err(
                        name,
                        format!("`{p}`: a record field path like requestParameters.userName"),
                    ));
                }
            }
        }
        if let Some(t) = &self.threshold {
            if t.count == 0 || t.count > MAX_THRESHOLD_COUNT {
                out.push(err(
                    "threshold.count",
                    format!("{}: from 1 to {MAX_THRESHOLD_COUNT}", t.count),
                ));
            }
            if t.window_seconds == 0 || t.window_seconds > MAX_WINDOW_SECONDS {
                out.push(err(
                    "threshold.window_seconds",
                    format!("{}: from 1 to {MAX_WINDOW_SECONDS}", t.window_seconds),
                ));
            }
            if t.group_by.is_empty() {
                out.push(err(
                    "threshold.group_by",
                    format!(
                        "name at least one of {} or a record field path",
                        NAMED_GROUPS.join(", ")
                    ),
                ));
            }
            for g in &t.group_by {
                if !NAMED_GROUPS.contains(&g.as_str()) && !is_path(g) {
                    out.push(err(
                        "threshold.group_by",
                        format!(
                            "`{g}`: one of {} or a record field path",
                            NAMED_GROUPS.join(", ")
                        ),
                    ));
                }
                if g == "resource" && self.resource.is_none() {
                    out.push(err(
                        "threshold.group_by",
                        "`resource` needs a `resource:` to say which field names it",
                    ));
                }
            }
            for d in &t.distinct {
                if !is_path(d) {
                    out.push(err(
                        "threshold.distinct",
                        format!("`{d}`: a record field path"),
                    ));
                }
            }
        }
        if let Some(p) = &self.paired_with {
            if let Err(e) = event_pattern::Pattern::from_value(&p.pattern) {
                out.push(err("paired_with.pattern", e.message));
            }
            if p.within_seconds == 0 || p.within_seconds > MAX_WINDOW_SECONDS {
                out.push(err(
                    "paired_with.within_seconds",
                    format!("{}: from 1 to {MAX_WINDOW_SECONDS}", p.within_seconds),
                ));
            }
            if !is_path(&p.key) {
                out.push(err(
                    "paired_with.key",
                    format!("`{}`: a record field path", p.key),
                ));
            }
            if self.threshold.is_some() {
                out.push(err(
                    "paired_with",
                    "a detection has a threshold or a pairing, not both",
                ));
            }
        }
        if let Some(r) = &self.resource {
            if r.kind.trim().is_empty() {
                out.push(err("resource.type", "must not be empty"));
            }
            if r.fields.is_empty() {
                out.push(err(
                    "resource.fields",
                    "name at least one record field path",
                ));
            }
            for f in &r.fields {
                if !is_path(f) {
                    out.push(err(
                        "resource.fields",
                        format!("`{f}`: a record field path"),
                    ));
                }
            }
        }
        out
    }
}

/// `cloudtrail-logging-stopped`.
pub fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
}

/// `T1562` or `T1562.008`.
pub fn is_technique_id(id: &str) -> bool {
    let b = id.as_bytes();
    let base = b.len() >= 5 && b[0] == b'T' && b[1..5].iter().all(u8::is_ascii_digit);
    match b.len() {
        5 => base,
        9 => base && b[5] == b'.' && b[6..9].iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// A dotted record field path: `requestParameters.userName`.
pub fn is_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 256
        && p.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}
