//! Security Hub control ids across finding shapes.
//!
//! Accounts without consolidated control findings send one finding per
//! standard, named by the standard's own control id
//! (`ProductFields.ControlId`: FSBP "S3.2", PCI DSS v3.2.1 "PCI.S3.1",
//! CIS v1.4.0 "2.1.5.2", Control Tower "CT.S3.2"; `ProductFields.RuleId`:
//! CIS v1.2.0 "4.1"), often without `Compliance.SecurityControlId`.
//! [`consolidated_id`] turns any of them into the consolidated (security)
//! control id, from AWS's published mapping kept in
//! `data/control-ids.csv`; Prowler's check ids go through
//! `data/prowler-checks.csv`. Both files name their source.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

/// AWS's mapping: standard, standard control id, security control id,
/// resource type (only where one standard id names two controls).
pub const CONTROL_IDS_CSV: &str = include_str!("../data/control-ids.csv");
/// Prowler check id -> security control id.
pub const PROWLER_CHECKS_CSV: &str = include_str!("../data/prowler-checks.csv");
/// Every known security control id (the controls reference).
pub const SECURITY_CONTROLS_CSV: &str = include_str!("../data/security-controls.csv");

/// Security Hub's own product, in any region and partition.
pub fn is_security_hub_product(product_arn: &str) -> bool {
    product_arn.starts_with("arn:") && product_arn.ends_with("::product/aws/securityhub")
}

/// Prowler's product (`arn:<partition>:securityhub:<region>::product/prowler/prowler`).
pub fn is_prowler_product(product_arn: &str) -> bool {
    product_arn.starts_with("arn:") && product_arn.ends_with("::product/prowler/prowler")
}

/// One row of `control-ids.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub standard: String,
    pub standard_control_id: String,
    pub security_control_id: String,
    pub resource_type: Option<String>,
}

fn rows(csv: &str) -> impl Iterator<Item = Vec<&str>> {
    csv.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .skip(1) // the header
        .map(|l| l.split(',').map(str::trim).collect())
}

/// Every row of `control-ids.csv`.
pub fn mappings() -> &'static [Mapping] {
    static ROWS: OnceLock<Vec<Mapping>> = OnceLock::new();
    ROWS.get_or_init(|| {
        rows(CONTROL_IDS_CSV)
            .map(|cols| Mapping {
                standard: cols.first().copied().unwrap_or_default().to_string(),
                standard_control_id: cols.get(1).copied().unwrap_or_default().to_string(),
                security_control_id: cols.get(2).copied().unwrap_or_default().to_string(),
                resource_type: cols.get(3).filter(|s| !s.is_empty()).map(|s| s.to_string()),
            })
            .collect()
    })
}

/// Every row of `prowler-checks.csv`, check id -> security control id.
pub fn prowler_checks() -> &'static HashMap<String, String> {
    static ROWS: OnceLock<HashMap<String, String>> = OnceLock::new();
    ROWS.get_or_init(|| {
        rows(PROWLER_CHECKS_CSV)
            .filter_map(|cols| Some((cols.first()?.to_string(), cols.get(1)?.to_string())))
            .collect()
    })
}

/// Every security control id of `security-controls.csv`.
pub fn security_controls() -> &'static [String] {
    static ROWS: OnceLock<Vec<String>> = OnceLock::new();
    ROWS.get_or_init(|| {
        rows(SECURITY_CONTROLS_CSV)
            .filter_map(|cols| {
                cols.first()
                    .filter(|s| !s.is_empty())
                    .map(|s| s.to_string())
            })
            .collect()
    })
}

/// The standards of `control-ids.csv`, in the order of the file.
pub fn standards() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for m in mappings() {
        if !out.contains(&m.standard.as_str()) {
            out.push(m.standard.as_str());
        }
    }
    out
}

/// The consolidated controls of one standard (as `control-ids.csv` lists
/// them), each once, in the order of the file.
pub fn controls_of(standard: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for m in mappings().iter().filter(|m| m.standard == standard) {
        if !out.contains(&m.security_control_id.as_str()) {
            out.push(m.security_control_id.as_str());
        }
    }
    out
}

/// Whether `id` is spelled like a security control id: a service name, a
/// dot and a number (`S3.2`, `EC2.53`, `CloudTrail.2`).
pub fn looks_consolidated(id: &str) -> bool {
    let Some((service, number)) = id.split_once('.') else {
        return false;
    };
    service.starts_with(|c: char| c.is_ascii_alphabetic())
        && service.chars().all(|c| c.is_ascii_alphanumeric())
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
}

/// The standard a standard-specific finding belongs to, as the path the
/// data file uses (`cis-aws-foundations-benchmark/v/1.2.0`,
/// `pci-dss/v/3.2.1`, ...), from `ProductFields.StandardsArn`,
/// `StandardsGuideArn`, `StandardsControlArn`, the `GeneratorId`, or
/// `Compliance.AssociatedStandards` (in that order).
pub fn standard_of(finding: &Value) -> Option<String> {
    let fields = finding.get("ProductFields");
    let field = |name: &str| fields.and_then(|p| p.get(name)).and_then(Value::as_str);
    let candidates = [
        field("StandardsArn"),
        field("StandardsGuideArn"),
        field("StandardsControlArn"),
        finding.get("GeneratorId").and_then(Value::as_str),
        finding
            .pointer("/Compliance/AssociatedStandards/0/StandardsId")
            .and_then(Value::as_str),
    ];
    candidates.into_iter().flatten().find_map(standard_path)
}

/// `.../<name>/v/<version>...` -> `<name>/v/<version>`.
fn standard_path(text: &str) -> Option<String> {
    let (before, after) = text.split_once("/v/")?;
    let name = match before.rsplit(['/', ':']).next()? {
        // Compliance.AssociatedStandards spells FSBP's StandardsId so.
        "aws-foundation-best-practices" => "aws-foundational-security-best-practices",
        name => name,
    };
    let version = after.split('/').next()?;
    (!name.is_empty() && !version.is_empty()).then(|| format!("{name}/v/{version}"))
}

/// The standard's own id of the control: `ProductFields.ControlId`, or
/// `RuleId` (CIS v1.2.0), or the last segment of `StandardsControlArn` or
/// of the `GeneratorId`.
pub fn standard_control_id(finding: &Value) -> Option<&str> {
    let fields = finding.get("ProductFields");
    let field = |name: &str| {
        fields
            .and_then(|p| p.get(name))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    field("ControlId")
        .or_else(|| field("RuleId"))
        .or_else(|| field("StandardsControlArn").and_then(|a| a.rsplit('/').next()))
        .or_else(|| {
            finding
                .get("GeneratorId")
                .and_then(Value::as_str)
                .filter(|g| g.contains("/v/"))
                .and_then(|g| g.rsplit('/').next())
        })
}

/// The consolidated control id a finding reports on, whatever its shape:
///
/// 1. `Compliance.SecurityControlId`, when the finding has one;
/// 2. a Prowler finding: its check id (`GeneratorId` `prowler-<check>`)
///    through `prowler-checks.csv`;
/// 3. the standard and the standard's control id through
///    `control-ids.csv` (AWS's published mapping);
/// 4. a standard id already spelled as a security control id (standards
///    AWS added after consolidation, Control Tower's without `CT.`);
/// 5. the control named by `Remediation.Recommendation.Url` or
///    `ProductFields.RecommendationUrl`
///    (`.../console/securityhub/<id>/remediation`), which Security Hub has
///    written with the security control id since consolidation.
pub fn consolidated_id(finding: &Value) -> Option<String> {
    let own = finding
        .pointer("/Compliance/SecurityControlId")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty());
    if let Some(own) = own {
        return Some(own.to_string());
    }
    let product = finding
        .get("ProductArn")
        .and_then(Value::as_str)
        .unwrap_or("");
    if is_prowler_product(product) {
        let check = finding
            .get("GeneratorId")
            .and_then(Value::as_str)
            .map(|g| g.strip_prefix("prowler-").unwrap_or(g))?;
        return prowler_checks().get(check).cloned();
    }
    let id = standard_control_id(finding);
    if let (Some(standard), Some(id)) = (standard_of(finding), id) {
        let rows: Vec<&Mapping> = mappings()
            .iter()
            .filter(|m| m.standard == standard && m.standard_control_id == id)
            .collect();
        let resource_types: Vec<&str> = finding
            .get("Resources")
            .and_then(Value::as_array)
            .map(|rs| {
                rs.iter()
                    .filter_map(|r| r.get("Type").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        let chosen = match rows.as_slice() {
            [one] => Some(*one),
            many => many.iter().copied().find(|m| {
                m.resource_type
                    .as_deref()
                    .is_some_and(|t| resource_types.contains(&t))
            }),
        };
        if let Some(m) = chosen {
            return Some(m.security_control_id.clone());
        }
    }
    if let Some(id) = id {
        let bare = id.strip_prefix("CT.").unwrap_or(id);
        if looks_consolidated(bare) {
            return Some(bare.to_string());
        }
    }
    // The finding's own remediation link first: the User Guide's NIST sample
    // has a ProductFields.RecommendationUrl naming another control.
    [
        "/Remediation/Recommendation/Url",
        "/ProductFields/RecommendationUrl",
    ]
    .iter()
    .filter_map(|path| finding.pointer(path).and_then(Value::as_str))
    .find_map(|url| {
        let named = url
            .split("/console/securityhub/")
            .nth(1)?
            .strip_suffix("/remediation")?;
        looks_consolidated(named).then(|| named.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_mapped_id_is_known_and_every_row_is_whole() {
        let known = security_controls();
        assert!(known.len() > 200, "{}", known.len());
        assert!(known.iter().all(|id| looks_consolidated(id)), "{known:?}");
        assert!(mappings().len() > 500, "{}", mappings().len());
        for m in mappings() {
            assert!(
                known.contains(&m.security_control_id),
                "unknown security control id in control-ids.csv: {m:?}"
            );
            assert!(
                m.standard.contains("/v/") && !m.standard_control_id.is_empty(),
                "{m:?}"
            );
        }
        for (check, control) in prowler_checks() {
            assert!(
                known.contains(control),
                "unknown security control id for Prowler check {check}: {control} \
                 (add it to data/security-controls.csv from the controls reference)"
            );
        }
        // Each standard the issue names is covered.
        for standard in [
            "aws-foundational-security-best-practices/v/1.0.0",
            "cis-aws-foundations-benchmark/v/1.2.0",
            "cis-aws-foundations-benchmark/v/1.4.0",
            "cis-aws-foundations-benchmark/v/3.0.0",
            "cis-aws-foundations-benchmark/v/5.0.0",
            "pci-dss/v/3.2.1",
            "pci-dss/v/4.0.1",
            "nist-800-53/v/5.0.0",
            "service-managed-aws-control-tower/v/1.0.0",
        ] {
            assert!(
                mappings().iter().any(|m| m.standard == standard),
                "{standard} has no row"
            );
        }
        // One standard id maps to one control, unless the resource type
        // tells them apart.
        for m in mappings() {
            let same: Vec<&Mapping> = mappings()
                .iter()
                .filter(|o| {
                    o.standard == m.standard && o.standard_control_id == m.standard_control_id
                })
                .collect();
            if same.len() > 1 {
                assert!(
                    same.iter().all(|o| o.resource_type.is_some()),
                    "ambiguous without a resource type: {same:?}"
                );
            }
        }
    }

    /// NIST SP 800-53 Rev. 5: every control the catalog remediates that the
    /// standard holds has its row (a known id, by the test above), and the
    /// ones the reference pages leave out of it have none.
    #[test]
    fn nist_rows_cover_the_remediated_controls_of_the_standard() {
        const NIST: &str = "nist-800-53/v/5.0.0";
        let in_standard = [
            "CloudTrail.1",
            "CloudTrail.2",
            "CloudTrail.4",
            "CloudTrail.5",
            "Config.1",
            "EC2.1",
            "EC2.2",
            "EC2.3",
            "EC2.6",
            "EC2.7",
            "EC2.8",
            "EC2.13",
            "EC2.15",
            "EC2.18",
            "EC2.19",
            "EC2.53",
            "EC2.54",
            "ECR.1",
            "GuardDuty.1",
            "IAM.3",
            "IAM.7",
            "IAM.8",
            "KMS.4",
            "Lambda.1",
            "RDS.1",
            "RDS.2",
            "Redshift.1",
            "S3.1",
            "S3.2",
            "S3.3",
            "S3.4",
            "S3.5",
            "S3.6",
            "S3.8",
            "S3.9",
            "SNS.1",
            "SQS.1",
            "SSM.4",
        ];
        let outside = [
            "EC2.14",
            "IAM.11",
            "IAM.12",
            "IAM.13",
            "IAM.14",
            "IAM.15",
            "IAM.16",
            "IAM.17",
            "IAM.22",
            "SSM.7",
            "CloudWatch.1",
            "CloudWatch.7",
            "CloudWatch.14",
        ];
        let nist = controls_of(NIST);
        for id in in_standard {
            assert!(nist.contains(&id), "{id} has no {NIST} row");
            let finding = sample(
                &format!("{NIST}/{id}"),
                json!({"StandardsArn": format!("arn:aws:securityhub:::standards/{NIST}"), "ControlId": id}),
            );
            assert_eq!(consolidated_id(&finding).as_deref(), Some(id));
        }
        for id in outside {
            assert!(!nist.contains(&id), "{id} is not in {NIST}");
        }
    }

    /// A finding of the User Guide's samples (CloudTrail.2 through each
    /// standard), without `Compliance.SecurityControlId`.
    fn sample(generator: &str, fields: Value) -> Value {
        json!({
            "ProductArn": "arn:aws:securityhub:us-east-2::product/aws/securityhub",
            "GeneratorId": generator,
            "Compliance": {"Status": "FAILED"},
            "ProductFields": fields,
            "Resources": [{"Type": "AwsCloudTrailTrail", "Id": "arn:aws:cloudtrail:us-east-2:123456789012:trail/t"}]
        })
    }

    #[test]
    fn the_guides_six_shapes_of_one_control() {
        let shapes = [
            sample(
                "aws-foundational-security-best-practices/v/1.0.0/CloudTrail.2",
                json!({"StandardsArn": "arn:aws:securityhub:::standards/aws-foundational-security-best-practices/v/1.0.0", "ControlId": "CloudTrail.2"}),
            ),
            sample(
                "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0/rule/2.7",
                json!({"StandardsGuideArn": "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0", "RuleId": "2.7"}),
            ),
            sample(
                "cis-aws-foundations-benchmark/v/1.4.0/3.7",
                json!({"StandardsArn": "arn:aws:securityhub:::standards/cis-aws-foundations-benchmark/v/1.4.0", "ControlId": "3.7",
                       "RecommendationUrl": "https://docs.aws.amazon.com/console/securityhub/CloudTrail.2/remediation"}),
            ),
            sample(
                "pci-dss/v/3.2.1/PCI.CloudTrail.1",
                json!({"StandardsArn": "arn:aws:securityhub:::standards/pci-dss/v/3.2.1", "ControlId": "PCI.CloudTrail.1",
                       "RecommendationUrl": "https://docs.aws.amazon.com/console/securityhub/CloudTrail.2/remediation"}),
            ),
            sample(
                "nist-800-53/v/5.0.0/CloudTrail.2",
                json!({"StandardsArn": "arn:aws:securityhub:::standards/nist-800-53/v/5.0.0", "ControlId": "CloudTrail.2",
                       // The sample's own URL names another control: the id wins.
                       "RecommendationUrl": "https://docs.aws.amazon.com/console/securityhub/CloudTrail.9/remediation"}),
            ),
            sample(
                "service-managed-aws-control-tower/v/1.0.0/CloudTrail.2",
                json!({"StandardsArn": "arn:aws:securityhub:::standards/service-managed-aws-control-tower/v/1.0.0", "ControlId": "CT.CloudTrail.2"}),
            ),
        ];
        // Every shape names CloudTrail.2: CIS v1.2.0 "2.7", CIS v1.4.0 "3.7"
        // and PCI DSS "PCI.CloudTrail.1" through the data.
        let got: Vec<Option<String>> = shapes.iter().map(consolidated_id).collect();
        assert_eq!(
            got,
            vec![
                Some("CloudTrail.2".into()),
                Some("CloudTrail.2".into()),
                Some("CloudTrail.2".into()),
                Some("CloudTrail.2".into()),
                Some("CloudTrail.2".into()),
                Some("CloudTrail.2".into()),
            ]
        );
        // An id the data leaves out (CIS v1.2.0 "1.1" names two controls):
        // the real samples' Remediation.Recommendation.Url names the
        // control, and wins over a ProductFields.RecommendationUrl naming
        // another.
        let mut cis12 = shapes[1].clone();
        cis12["ProductFields"]["RuleId"] = json!("1.1");
        cis12["GeneratorId"] =
            json!("arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0/rule/1.1");
        assert_eq!(consolidated_id(&cis12), None);
        cis12["Remediation"] = json!({"Recommendation": {
            "Url": "https://docs.aws.amazon.com/console/securityhub/CloudTrail.2/remediation"}});
        cis12["ProductFields"]["RecommendationUrl"] =
            json!("https://docs.aws.amazon.com/console/securityhub/CloudTrail.9/remediation");
        assert_eq!(consolidated_id(&cis12).as_deref(), Some("CloudTrail.2"));
        // With the control's own field, that field wins.
        let mut with_own = shapes[1].clone();
        with_own["Compliance"]["SecurityControlId"] = json!("CloudTrail.2");
        assert_eq!(consolidated_id(&with_own).as_deref(), Some("CloudTrail.2"));
    }

    #[test]
    fn standard_ids_of_remediated_controls() {
        let cases = [
            // CIS v1.2.0: RuleId, standard from StandardsGuideArn.
            (
                "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0/rule/4.1",
                json!({"StandardsGuideArn": "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0", "RuleId": "4.1"}),
                "AwsEc2SecurityGroup",
                "EC2.13",
            ),
            // The same "4.1" in CIS v1.4.0 is not EC2.13; 1.8 is IAM.15 there.
            (
                "cis-aws-foundations-benchmark/v/1.4.0/1.8",
                json!({"StandardsArn": "arn:aws:securityhub:::standards/cis-aws-foundations-benchmark/v/1.4.0", "ControlId": "1.8"}),
                "AwsAccount",
                "IAM.15",
            ),
            (
                "cis-aws-foundations-benchmark/v/1.4.0/2.1.5.2",
                json!({"StandardsArn": "arn:aws:securityhub:::standards/cis-aws-foundations-benchmark/v/1.4.0", "ControlId": "2.1.5.2"}),
                "AwsS3Bucket",
                "S3.8",
            ),
            // CIS v3.0.0 2.1.4: S3.8 for a bucket, S3.1 for the account.
            (
                "cis-aws-foundations-benchmark/v/3.0.0/2.1.4",
                json!({"StandardsArn": "arn:aws:securityhub:::standards/cis-aws-foundations-benchmark/v/3.0.0", "ControlId": "2.1.4"}),
                "AwsS3Bucket",
                "S3.8",
            ),
            (
                "cis-aws-foundations-benchmark/v/3.0.0/2.1.4",
                json!({"StandardsArn": "arn:aws:securityhub:::standards/cis-aws-foundations-benchmark/v/3.0.0", "ControlId": "2.1.4"}),
                "AwsAccount",
                "S3.1",
            ),
            (
                "cis-aws-foundations-benchmark/v/3.0.0/5.2",
                json!({"StandardsArn": "arn:aws:securityhub:::standards/cis-aws-foundations-benchmark/v/3.0.0", "ControlId": "5.2"}),
                "AwsEc2SecurityGroup",
                "EC2.53",
            ),
            // PCI DSS v3.2.1: PCI.S3.1 is public *write* (S3.3), not S3.1.
            (
                "pci-dss/v/3.2.1/PCI.S3.1",
                json!({"StandardsArn": "arn:aws:securityhub:::standards/pci-dss/v/3.2.1", "ControlId": "PCI.S3.1"}),
                "AwsS3Bucket",
                "S3.3",
            ),
            (
                "pci-dss/v/3.2.1/PCI.EC2.5",
                json!({"StandardsArn": "arn:aws:securityhub:::standards/pci-dss/v/3.2.1", "ControlId": "PCI.EC2.5"}),
                "AwsEc2SecurityGroup",
                "EC2.13",
            ),
            // Control Tower drops the CT. prefix.
            (
                "service-managed-aws-control-tower/v/1.0.0/EC2.7",
                json!({"StandardsArn": "arn:aws:securityhub:::standards/service-managed-aws-control-tower/v/1.0.0", "ControlId": "CT.EC2.7"}),
                "AwsAccount",
                "EC2.7",
            ),
            // Only Compliance.AssociatedStandards names the standard, with
            // the StandardsId spelling of FSBP.
            (
                "",
                json!({"ControlId": "EC2.19"}),
                "AwsEc2SecurityGroup",
                "EC2.19",
            ),
            // No ProductFields standard: the GeneratorId names it.
            ("pci-dss/v/3.2.1/PCI.S3.2", json!({}), "AwsS3Bucket", "S3.2"),
        ];
        for (generator, fields, kind, want) in cases {
            let mut f = sample(generator, fields.clone());
            f["Resources"][0]["Type"] = json!(kind);
            if generator.is_empty() {
                f.as_object_mut().unwrap().remove("GeneratorId");
                f["Compliance"]["AssociatedStandards"] = json!([
                    {"StandardsId": "standards/aws-foundation-best-practices/v/1.0.0"}
                ]);
                assert_eq!(
                    standard_of(&f).as_deref(),
                    Some("aws-foundational-security-best-practices/v/1.0.0")
                );
            }
            assert_eq!(
                consolidated_id(&f).as_deref(),
                Some(want),
                "{generator} {fields}"
            );
        }
    }

    #[test]
    fn a_standard_id_of_another_standard_is_not_borrowed() {
        // "4.1" is EC2.13 in CIS v1.2.0 only; in CIS v1.4.0 it is another
        // control, which the data does not name: no control is guessed.
        let f = sample(
            "cis-aws-foundations-benchmark/v/1.4.0/4.1",
            json!({"StandardsArn": "arn:aws:securityhub:::standards/cis-aws-foundations-benchmark/v/1.4.0", "ControlId": "4.1"}),
        );
        assert_eq!(consolidated_id(&f), None);
    }

    #[test]
    fn prowler_checks_map_and_other_products_do_not_borrow_them() {
        let prowler = json!({
            "ProductArn": "arn:aws:securityhub:eu-west-1::product/prowler/prowler",
            "GeneratorId": "prowler-ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22",
            "Compliance": {"Status": "FAILED"}
        });
        assert_eq!(consolidated_id(&prowler).as_deref(), Some("EC2.13"));
        let unknown = json!({
            "ProductArn": "arn:aws:securityhub:eu-west-1::product/prowler/prowler",
            "GeneratorId": "prowler-some_other_check"
        });
        assert_eq!(consolidated_id(&unknown), None);
        // Another product's finding with a Prowler-like generator is not Prowler's.
        let other = json!({
            "ProductArn": "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default",
            "GeneratorId": "prowler-ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22"
        });
        assert_eq!(consolidated_id(&other), None);
        assert!(is_security_hub_product(
            "arn:aws-cn:securityhub:cn-north-1::product/aws/securityhub"
        ));
        assert!(!is_security_hub_product(
            "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default"
        ));
    }

    #[test]
    fn consolidated_spelling() {
        for id in ["S3.2", "EC2.53", "CloudTrail.2", "IAM.17"] {
            assert!(looks_consolidated(id), "{id}");
        }
        for id in ["4.1", "2.1.5.2", "PCI.S3.1", "CT.S3.2", "S3", "S3.x", ".2"] {
            assert!(!looks_consolidated(id), "{id}");
        }
    }
}
