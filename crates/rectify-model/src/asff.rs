//! The AWS Security Finding Format: the fields rectify reads, typed; every
//! other field kept verbatim in `extra` so a finding round-trips unchanged.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Finding {
    pub id: String,
    pub product_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_id: Option<String>,
    pub aws_account_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance: Option<Compliance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<Workflow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The consolidated control id derived from the standard's own id, for
    /// a finding without `Compliance.SecurityControlId` (computed once).
    #[serde(skip)]
    derived_control: DerivedControl,
}

/// A cache beside the finding's fields: never serialised, and two findings
/// compare equal whatever it holds.
#[derive(Debug, Clone, Default)]
struct DerivedControl(std::sync::OnceLock<Option<String>>);

impl PartialEq for DerivedControl {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Severity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalized: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Compliance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_control_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Workflow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    #[serde(rename = "Type")]
    pub kind: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Finding {
    /// The consolidated control this finding reports on, whatever its
    /// shape: `Compliance.SecurityControlId` when it has one, else derived
    /// from the standard's own id (`ProductFields.ControlId` or `RuleId`
    /// and the standard), a Prowler check id, or the recommendation URL
    /// (see [`crate::controls::consolidated_id`]); failing all of those,
    /// `ProductFields.ControlId` as it is.
    pub fn control_id(&self) -> Option<&str> {
        let own = self
            .compliance
            .as_ref()
            .and_then(|c| c.security_control_id.as_deref())
            .filter(|s| !s.trim().is_empty());
        if own.is_some() {
            return own;
        }
        self.derived_control
            .0
            .get_or_init(|| {
                serde_json::to_value(self)
                    .ok()
                    .and_then(|v| crate::controls::consolidated_id(&v))
            })
            .as_deref()
            .or_else(|| {
                self.extra
                    .get("ProductFields")
                    .and_then(|p| p.get("ControlId"))
                    .and_then(Value::as_str)
            })
    }

    pub fn workflow_status(&self) -> Option<&str> {
        self.workflow.as_ref().and_then(|w| w.status.as_deref())
    }

    pub fn compliance_status(&self) -> Option<&str> {
        self.compliance.as_ref().and_then(|c| c.status.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_round_trip() {
        let raw = serde_json::json!({
            "SchemaVersion": "2018-10-08",
            "Id": "f-1",
            "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub",
            "AwsAccountId": "111122223333",
            "Resources": [{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::b", "Odd": 1}],
            "Note": {"Text": "x"}
        });
        let f: Finding = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(f.resources[0].kind, "AwsS3Bucket");
        assert_eq!(serde_json::to_value(&f).unwrap(), raw);
    }

    #[test]
    fn control_id_is_the_consolidated_id_for_every_shape() {
        let finding = |compliance: serde_json::Value, fields: serde_json::Value| {
            let raw = serde_json::json!({
                "Id": "f-1",
                "ProductArn": "arn:aws:securityhub:eu-west-1::product/aws/securityhub",
                "GeneratorId": "pci-dss/v/3.2.1/PCI.S3.1",
                "AwsAccountId": "111122223333",
                "Compliance": compliance,
                "ProductFields": fields,
                "Resources": [{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::b"}]
            });
            serde_json::from_value::<Finding>(raw).unwrap()
        };
        // PCI DSS v3.2.1 without SecurityControlId: PCI.S3.1 is S3.3.
        let old = finding(
            serde_json::json!({"Status": "FAILED"}),
            serde_json::json!({"StandardsArn": "arn:aws:securityhub:::standards/pci-dss/v/3.2.1", "ControlId": "PCI.S3.1"}),
        );
        assert_eq!(old.control_id(), Some("S3.3"));
        // The finding's own SecurityControlId is never replaced.
        let own = finding(
            serde_json::json!({"Status": "FAILED", "SecurityControlId": "S3.2"}),
            serde_json::json!({"StandardsArn": "arn:aws:securityhub:::standards/pci-dss/v/3.2.1", "ControlId": "PCI.S3.1"}),
        );
        assert_eq!(own.control_id(), Some("S3.2"));
        // Nothing to map: the standard's id as it is (as before).
        let unknown = finding(
            serde_json::json!({"Status": "FAILED"}),
            serde_json::json!({"StandardsArn": "arn:aws:securityhub:::standards/pci-dss/v/3.2.1", "ControlId": "PCI.Odd.1"}),
        );
        assert_eq!(unknown.control_id(), Some("PCI.Odd.1"));
        // The cache is not part of the finding: it round-trips unchanged.
        let raw = serde_json::to_value(&old).unwrap();
        assert!(
            raw["Compliance"].get("SecurityControlId").is_none(),
            "{raw}"
        );
    }
}
