//! The posture checks `rectify scan` runs, one file each: what the check
//! answers (Security Hub control ids, whose CIS v3.0 and PCI DSS v4.0.1
//! numbers come from AWS's published mapping), its severity, resource
//! type and permissions, and the code that judges each resource, with the
//! evidence. They read through [`reads`], so a listing is made once per
//! scan whichever checks need it.
//!
//! Adding a check: a file here with its `CheckSpec` and `Check` impl, an
//! entry in [`catalog`], and a case in `tests/moto/checks.rs` with a
//! compliant and a non-compliant resource.

use std::sync::Arc;

use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Verdict};

use crate::Aws;

pub mod reads;

/// What a report-only `rectify scan` reads of AWS Config (bucket settings).
pub const FROM_CONFIG_PERMISSIONS: [&str; 4] = [
    "config:DescribeConfigurationRecorders",
    "config:DescribeConfigurationRecorderStatus",
    "config:ListDiscoveredResources",
    "config:BatchGetResourceConfig",
];

/// What a report-only scan reads of the Resource Groups Tagging API (the
/// tags of a region's buckets, 100 a call).
pub const TAG_PERMISSIONS: [&str; 1] = ["tag:GetResources"];

pub mod access_analyzer_enabled;
pub mod cloudtrail_log_validation;
pub mod cloudtrail_multi_region;
pub mod config_recorder;
pub mod ec2_admin_ports_ipv4;
pub mod ec2_admin_ports_ipv6;
pub mod ec2_default_security_group;
pub mod ec2_ebs_default_encryption;
pub mod ec2_vpc_flow_logs;
pub mod iam_access_key_rotation;
pub mod iam_console_mfa;
pub mod iam_password_length;
pub mod iam_password_reuse;
pub mod iam_root_access_keys;
pub mod iam_root_mfa;
pub mod iam_unused_credentials;
pub mod kms_key_rotation;
pub mod rds_public_access;
pub mod s3_block_public_access;
pub mod s3_default_encryption;

/// Every check, sharing one credentials cache.
pub fn catalog(aws: &Arc<Aws>) -> Vec<Arc<dyn Check>> {
    let aws = || aws.clone();
    vec![
        Arc::new(iam_root_access_keys::RootAccessKeys(aws())),
        Arc::new(iam_root_mfa::RootMfa(aws())),
        Arc::new(iam_unused_credentials::UnusedCredentials::new(aws())),
        Arc::new(iam_access_key_rotation::AccessKeyRotation::new(aws())),
        Arc::new(iam_password_length::PasswordLength(aws())),
        Arc::new(iam_password_reuse::PasswordReuse(aws())),
        Arc::new(iam_console_mfa::ConsoleMfa(aws())),
        Arc::new(cloudtrail_multi_region::MultiRegionTrail(aws())),
        Arc::new(cloudtrail_log_validation::LogFileValidation(aws())),
        Arc::new(config_recorder::ConfigRecorder(aws())),
        Arc::new(kms_key_rotation::KeyRotation(aws())),
        Arc::new(ec2_vpc_flow_logs::VpcFlowLogs(aws())),
        Arc::new(ec2_admin_ports_ipv4::AdminPortsIpv4(aws())),
        Arc::new(ec2_admin_ports_ipv6::AdminPortsIpv6(aws())),
        Arc::new(ec2_default_security_group::DefaultSecurityGroup(aws())),
        Arc::new(s3_block_public_access::BucketBlockPublicAccess(aws())),
        Arc::new(s3_default_encryption::BucketDefaultEncryption(aws())),
        Arc::new(ec2_ebs_default_encryption::EbsDefaultEncryption(aws())),
        Arc::new(rds_public_access::RdsPublicAccess(aws())),
        Arc::new(access_analyzer_enabled::AccessAnalyzerEnabled(aws())),
    ]
}

/// The id of the account as a resource (`AWS::::Account:<id>`).
pub(crate) fn account_resource(account: &str) -> String {
    format!("AWS::::Account:{account}")
}

/// A verdict on the account itself.
pub(crate) fn on_account(
    account: &str,
    region: &str,
    pass: bool,
    evidence: impl Into<String>,
    state: serde_json::Value,
) -> Verdict {
    Verdict::new(
        account,
        region,
        "AwsAccount",
        account_resource(account),
        pass,
        evidence,
        state,
    )
}

pub(crate) use rectify_model::now_epoch_seconds as now_secs;

/// Whole days from `then` to `now`.
pub(crate) fn days_since(then: i64, now: i64) -> i64 {
    (now - then).max(0) / 86_400
}

/// The admin ports CIS 5.2/5.3 and EC2.53/EC2.54 name.
pub(crate) const ADMIN_PORTS: [u16; 2] = [22, 3389];

/// What a per-user check says about a user of the credential report.
pub(crate) struct UserVerdicts<'a> {
    pub spec: &'a CheckSpec,
    /// The evidence member that holds what a user's row fails on.
    pub evidence: &'a str,
    /// What a passing user's verdict says.
    pub passed: String,
}

/// A verdict per IAM user of the account's credential report (the root
/// account left out): failing with what `problems` finds in the user's row
/// (given the time now).
pub(crate) async fn per_user_verdicts(
    aws: &Aws,
    r: &ScanReads,
    account: &str,
    region: &str,
    says: UserVerdicts<'_>,
    problems: impl Fn(&reads::CredentialRow, i64) -> Vec<String>,
) -> Result<Vec<Verdict>, ActionError> {
    let report = reads::credential_report(aws, r, account, region).await?;
    let now = now_secs();
    Ok(report
        .iter()
        .filter(|row| row.user != "<root_account>")
        .map(|row| {
            let found = problems(row, now);
            Verdict::new(
                account,
                region,
                says.spec.resource_type,
                row.arn.clone(),
                found.is_empty(),
                if found.is_empty() {
                    format!("{}: {}", row.user, says.passed)
                } else {
                    format!("{}: {}", row.user, found.join("; "))
                },
                serde_json::json!({"user": row.user, says.evidence: found}),
            )
        })
        .collect())
}

/// CIS 5.2/5.3, EC2.53/EC2.54: a verdict per security group of the
/// region's one listing, failing with the world-open rules (`0.0.0.0/0`, or
/// `::/0` with `ipv6`) that let an admin port through.
pub(crate) async fn admin_port_verdicts(
    aws: &Aws,
    r: &ScanReads,
    account: &str,
    region: &str,
    spec: &CheckSpec,
    ipv6: bool,
) -> Result<Vec<Verdict>, ActionError> {
    let world = if ipv6 { "::/0" } else { "0.0.0.0/0" };
    let groups = reads::security_groups(aws, r, account, region).await?;
    Ok(groups
        .iter()
        .filter_map(|g| {
            let id = g.group_id()?;
            let open = open_admin_rules(g, world);
            let mut v = Verdict::new(
                account,
                region,
                spec.resource_type,
                group_arn(account, region, id),
                open.is_empty(),
                if open.is_empty() {
                    format!("{id}: no admin port open to {world}")
                } else {
                    format!("{id}: open to {world}: {}", open.join(", "))
                },
                serde_json::json!({"group_id": id, "open": open}),
            );
            v.tags = group_tags(g);
            Some(v)
        })
        .collect())
}

/// The ingress rules of a group open to `world` (`0.0.0.0/0` or `::/0`)
/// that let through an admin port, over TCP, UDP (CIS counts it) or all
/// protocols, as `protocol from-to cidr`.
fn open_admin_rules(group: &aws_sdk_ec2::types::SecurityGroup, world: &str) -> Vec<String> {
    crate::actions::ec2::revoke_public_admin_ingress::world_permissions(group.ip_permissions())
        .into_iter()
        .filter(|r| r.cidr == world)
        .filter(|r| {
            let all = r.protocol == "-1";
            let ported = r.protocol == "tcp" || r.protocol == "udp";
            let (from, to) = if r.from_port < 0 || r.to_port < 0 {
                (0, 65535)
            } else {
                (r.from_port, r.to_port)
            };
            all || (ported
                && ADMIN_PORTS
                    .iter()
                    .any(|p| (from..=to).contains(&i32::from(*p))))
        })
        .map(|r| format!("{} {}-{} {}", r.protocol, r.from_port, r.to_port, r.cidr))
        .collect()
}

/// The group's ARN.
pub(crate) fn group_arn(account: &str, region: &str, id: &str) -> String {
    format!(
        "arn:{}:ec2:{region}:{account}:security-group/{id}",
        rectify_model::partition_of(region)
    )
}

pub(crate) use crate::actions::ec2::revoke_public_admin_ingress::group_tags;

#[cfg(test)]
mod tests {
    use super::*;
    use rectify_model::Standard;

    #[tokio::test]
    async fn every_check_is_complete_and_named_once() {
        let aws = Arc::new(Aws::new(crate::AwsSettings::new("us-east-1")).await);
        let checks = catalog(&aws);
        let mut ids: Vec<&str> = checks.iter().map(|c| c.spec().id).collect();
        ids.sort();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "an id appears twice");
        for check in &checks {
            let spec = check.spec();
            assert!(
                spec.id.starts_with(&format!("{}.", spec.service)),
                "{}",
                spec.id
            );
            assert!(
                !spec.permissions.is_empty() && spec.permissions.iter().all(|p| p.contains(':'))
            );
            assert!(!spec.controls.is_empty(), "{}", spec.id);
            for control in spec.controls {
                assert!(
                    rectify_model::controls::looks_consolidated(control),
                    "{control}"
                );
            }
            // Each answers a CIS v3.0 recommendation or an FSBP control.
            assert!(
                !spec.controls_in(Standard::Cis30).is_empty()
                    || !spec.controls_in(Standard::Fsbp).is_empty(),
                "{}",
                spec.id
            );
        }
        // The mapping gives the CIS numbers people know.
        let cis = |id: &str| {
            checks
                .iter()
                .find(|c| c.spec().id == id)
                .unwrap()
                .spec()
                .controls_in(Standard::Cis30)
        };
        assert_eq!(cis("iam.root-access-keys"), ["1.4"]);
        assert_eq!(cis("ec2.admin-ports-ipv4"), ["5.2"]);
        assert_eq!(cis("s3.bucket-block-public-access"), ["2.1.4"]);
        assert_eq!(cis("access-analyzer.enabled"), ["1.20"]);
        // No FSBP control asks for an analyzer: CIS only.
        let analyzer = checks
            .iter()
            .find(|c| c.spec().id == "access-analyzer.enabled")
            .unwrap();
        assert!(analyzer.spec().controls_in(Standard::Fsbp).is_empty());
    }
}
