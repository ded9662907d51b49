//! The AWS side of rectify: per-account credentials, the remediation actions,
//! the AWS effects (Security Hub finding updates, SNS notifications) and the
//! AWS event sources (SQS, Security Hub polling).
//!
//! This is the only crate of the workspace that links the AWS SDK. Endpoint
//! overrides come from the SDK's standard environment variables
//! (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), so an emulator or a
//! VPC endpoint works without special code.

use std::sync::Arc;

use rectify_model::Action;

pub mod actions;
pub mod anchor;
pub mod checks;
pub mod credentials;
pub mod effects;
pub mod errors;
pub mod organizations;
pub mod sources;

pub use actions::{
    ec2::enable_ebs_default_encryption::Ec2EnableEbsDefaultEncryption,
    ec2::make_snapshots_private::Ec2MakeSnapshotsPrivate,
    ec2::restrict_default_security_group::Ec2RestrictDefaultSecurityGroup,
    ec2::revoke_public_admin_ingress::Ec2RevokePublicAdminIngress,
    iam::set_password_policy::IamSetPasswordPolicy, s3::block_public_access::S3BlockPublicAccess,
};
pub use credentials::{AccountAccess, Aws, AwsSettings};
pub use effects::{securityhub::SecurityHubUpdater, ses::SesMailer, sns::SnsNotifier};
pub use errors::{classify, sdk_error};
pub use sources::securityhub::{FindingFilters, PollSettings, SecurityHubSource};
pub use sources::sqs::{QueueSettings, SqsSource};

/// Every AWS remediation action, sharing one credentials cache.
pub fn catalog(aws: Arc<Aws>) -> Vec<Arc<dyn Action>> {
    use actions::*;
    [
        s3::catalog(&aws),
        ec2::catalog(&aws),
        iam::catalog(&aws),
        rds::catalog(&aws),
        lambda::catalog(&aws),
        ssm::catalog(&aws),
        kms::catalog(&aws),
        sqs::catalog(&aws),
        sns::catalog(&aws),
        ecr::catalog(&aws),
        redshift::catalog(&aws),
        cloudtrail::catalog(&aws),
        config::catalog(&aws),
        guardduty::catalog(&aws),
        cloudwatch::catalog(&aws),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn catalog_ids_are_unique_and_specs_complete() {
        let aws = Arc::new(Aws::new(AwsSettings::new("us-east-1")).await);
        let actions = catalog(aws);
        let ids: Vec<&str> = actions.iter().map(|a| a.spec().id).collect();
        assert!(ids.len() >= 6, "{ids:?}");
        let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "an id appears twice: {ids:?}");
        for (id, action) in ids.iter().zip(&actions) {
            let service = id.split('.').nth(1).unwrap();
            assert!(id.starts_with("aws."), "{id}");
            assert!(
                action.spec().permissions.iter().all(|p| p.contains(':')),
                "{id}: permissions are service:Action"
            );
            assert!(!service.is_empty(), "{id}");
        }
        for action in &actions {
            let spec = action.spec();
            // An action may answer only an AWS Config rule (no Security Hub
            // control: the internet gateway allow list); the controls it
            // does name are consolidated ids.
            for control in spec.controls {
                assert!(
                    rectify_model::controls::looks_consolidated(control),
                    "{}: {control}",
                    spec.id
                );
            }
            assert!(!spec.resource_types.is_empty(), "{}", spec.id);
            assert!(!spec.permissions.is_empty(), "{}", spec.id);
            for p in spec.params {
                let default: serde_json::Value = serde_json::from_str(p.default).unwrap();
                let params = serde_json::json!({ p.name: default });
                action.validate_params(&params).unwrap();
            }
            action.validate_params(&serde_json::json!({})).unwrap();
            action.validate_params(&serde_json::Value::Null).unwrap();
            let err = action
                .validate_params(&serde_json::json!({"no_such_param": 1}))
                .unwrap_err();
            assert!(err.contains("params.no_such_param"), "{err}");
            assert!(action.validate_params(&serde_json::json!([1])).is_err());
        }
    }
}
