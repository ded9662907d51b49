//! A detection and the ASFF finding and import event made from it.

use rectify_model::{Event, SECURITY_HUB_IMPORTED};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The `source` of the import events the detectors make. Like the
/// scanner's, no Security Hub finding stands behind them unless they are
/// also sent with `BatchImportFindings`.
pub const DETECTOR_SOURCE: &str = rectify_model::DETECTOR_SOURCE;

/// A MITRE ATT&CK technique (enterprise matrix, cloud platforms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Technique {
    /// `T1562.008`.
    pub id: String,
    /// `Impair Defenses: Disable or Modify Cloud Logs`.
    pub name: String,
    /// `Defense Evasion`.
    pub tactic: String,
}

/// A resource a detection is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectedResource {
    /// ASFF resource type: `AwsIamUser`, `AwsIamRole`, `AwsEc2Instance`,
    /// `AwsS3Bucket`, `AwsIamAccessKey`, `AwsAccount`, `Other`.
    pub kind: String,
    /// ARN where there is one, else the id.
    pub id: String,
}

/// One detection: what fired, about whom, on what evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Detector id, stable across releases: `cloudtrail-stopped`,
    /// `anomaly-principal`.
    pub detector: String,
    pub title: String,
    pub description: String,
    /// ASFF severity label: INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL.
    pub severity: String,
    pub technique: Option<Technique>,
    pub account: String,
    pub region: String,
    pub partition: String,
    /// The principal the records name (an ARN), when there is one.
    pub principal: Option<String>,
    pub resources: Vec<DetectedResource>,
    /// RFC 3339 times of the first and last record that made it fire.
    pub first_seen: String,
    pub last_seen: String,
    /// Records behind it (1 for a single-event signature).
    pub count: u64,
    /// A key that makes the finding id: the same key, the same finding,
    /// updated rather than duplicated (principal and window start, say).
    pub key: String,
    /// What decided it (record ids, counts, score), kept small: it goes
    /// into the finding's `ProductFields` as a JSON string.
    pub evidence: Value,
}

impl Detection {
    /// The finding's id: stable for one detector and key.
    pub fn finding_id(&self) -> String {
        format!("rectify-detector/{}/{}", self.detector, self.key)
    }

    /// The ASFF finding, as `BatchImportFindings` takes it.
    pub fn finding(&self) -> Value {
        let (account, region, partition) = (&self.account, &self.region, &self.partition);
        let now = rectify_model::now_rfc3339();
        // ASFF finding type namespace/category: a technique's tactic, or
        // unusual behaviour for an anomaly score.
        let types = match &self.technique {
            Some(t) => vec![format!("TTPs/{}", t.tactic)],
            None => vec!["Unusual Behaviors".to_string()],
        };
        let resources: Vec<Value> = if self.resources.is_empty() {
            vec![json!({
                "Type": "AwsAccount",
                "Id": format!("AWS::::Account:{account}"),
                "Partition": partition,
                "Region": region,
            })]
        } else {
            self.resources
                .iter()
                .map(|r| {
                    json!({
                        "Type": r.kind,
                        "Id": r.id,
                        "Partition": partition,
                        "Region": region,
                    })
                })
                .collect()
        };
        let mut product_fields = serde_json::Map::new();
        product_fields.insert("rectify/Detector".into(), json!(self.detector));
        product_fields.insert("rectify/Count".into(), json!(self.count.to_string()));
        if let Some(p) = &self.principal {
            product_fields.insert("rectify/Principal".into(), json!(p));
        }
        // ProductFields values are strings in ASFF.
        product_fields.insert("rectify/Evidence".into(), json!(self.evidence.to_string()));
        if let Some(t) = &self.technique {
            product_fields.insert("rectify/MitreTechnique".into(), json!(t.id));
            product_fields.insert("rectify/MitreTechniqueName".into(), json!(t.name));
            product_fields.insert("rectify/MitreTactic".into(), json!(t.tactic));
        }
        json!({
            "SchemaVersion": "2018-10-08",
            "Id": self.finding_id(),
            "ProductArn": format!("arn:{partition}:securityhub:{region}:{account}:product/{account}/default"),
            "ProductName": "rectify detector",
            "CompanyName": "rectify",
            "GeneratorId": format!("rectify-detector/{}", self.detector),
            "AwsAccountId": account,
            "Region": region,
            "Types": types,
            "FirstObservedAt": self.first_seen,
            "LastObservedAt": self.last_seen,
            "CreatedAt": now,
            "UpdatedAt": now,
            "Severity": {"Label": self.severity},
            "Title": self.title,
            "Description": self.description,
            "ProductFields": product_fields,
            "Workflow": {"Status": "NEW"},
            "RecordState": "ACTIVE",
            "Resources": resources,
        })
    }

    /// The finding in a Security Hub import event, ready to submit.
    pub fn event(&self) -> Event {
        let finding = self.finding();
        let now = rectify_model::now_rfc3339();
        // The same detection made again (a record delivered twice) gets
        // the same id, so the store sees a redelivery, not a new event.
        let id = format!(
            "detect-{:016x}{:016x}",
            fnv(self.finding_id().as_bytes()),
            fnv(format!("{}|{}|{}", self.first_seen, self.last_seen, self.count).as_bytes())
        );
        let resources: Vec<String> = self.resources.iter().map(|r| r.id.clone()).collect();
        let body = json!({
            "version": "0",
            "id": id,
            "detail-type": SECURITY_HUB_IMPORTED,
            "source": DETECTOR_SOURCE,
            "account": self.account,
            "time": now,
            "region": self.region,
            "resources": resources,
            "detail": {"findings": [finding]},
        });
        Event {
            id,
            source: DETECTOR_SOURCE.to_string(),
            detail_type: SECURITY_HUB_IMPORTED.to_string(),
            account: self.account.clone(),
            region: self.region.clone(),
            time: now,
            resources,
            body,
            parsed: Default::default(),
        }
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
