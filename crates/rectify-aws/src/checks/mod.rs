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

use rectify_model::{Check, Verdict};

use crate::Aws;

pub mod reads;

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

/// Seconds since the epoch, now.
pub(crate) fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Whole days from `then` to `now`.
pub(crate) fn days_since(then: i64, now: i64) -> i64 {
    (now - then).max(0) / 86_400
}

/// The admin ports CIS 5.2/5.3 and EC2.53/EC2.54 name.
pub(crate) const ADMIN_PORTS: [u16; 2] = [22, 3389];

/// The world-open ingress rules of a group (`0.0.0.0/0` for
/// `ipv6 == false`, `::/0` otherwise) that let through an admin port, over
/// TCP, UDP (CIS counts it) or all protocols, as `protocol from-to cidr`.
pub(crate) fn open_admin_rules(
    group: &aws_sdk_ec2::types::SecurityGroup,
    ipv6: bool,
) -> Vec<String> {
    let world = if ipv6 { "::/0" } else { "0.0.0.0/0" };
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

/// The group's tags as a verdict's.
pub(crate) fn group_tags(
    group: &aws_sdk_ec2::types::SecurityGroup,
) -> serde_json::Map<String, serde_json::Value> {
    crate::actions::tag_map(
        group
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
    )
}

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
    }
}
