//! EC2 remediation actions, one file each.

use std::sync::Arc;

use rectify_model::Action;

use crate::Aws;

pub mod detach_unauthorized_internet_gateway;
pub mod disable_subnet_public_ip;
pub mod enable_ebs_default_encryption;
pub mod enable_vpc_flow_logs;
pub mod encrypt_volume_copy;
pub mod isolate_instance;
pub mod make_snapshots_private;
pub mod require_imdsv2;
pub mod restrict_default_security_group;
pub mod revoke_public_admin_ingress;
pub(crate) mod targets;

/// This service's actions, in catalog order.
pub fn catalog(aws: &Arc<Aws>) -> Vec<Arc<dyn Action>> {
    vec![
        Arc::new(revoke_public_admin_ingress::Ec2RevokePublicAdminIngress::new(aws.clone())),
        Arc::new(enable_ebs_default_encryption::Ec2EnableEbsDefaultEncryption::new(aws.clone())),
        Arc::new(make_snapshots_private::Ec2MakeSnapshotsPrivate::new(
            aws.clone(),
        )),
        Arc::new(
            restrict_default_security_group::Ec2RestrictDefaultSecurityGroup::new(aws.clone()),
        ),
        Arc::new(require_imdsv2::Ec2RequireImdsv2::new(aws.clone())),
        Arc::new(disable_subnet_public_ip::Ec2DisableSubnetPublicIp::new(
            aws.clone(),
        )),
        Arc::new(enable_vpc_flow_logs::Ec2EnableVpcFlowLogs::new(aws.clone())),
        Arc::new(encrypt_volume_copy::Ec2EncryptVolumeCopy::new(aws.clone())),
        Arc::new(
            detach_unauthorized_internet_gateway::Ec2DetachUnauthorizedInternetGateway::new(
                aws.clone(),
            ),
        ),
        Arc::new(isolate_instance::Ec2IsolateInstance::new(aws.clone())),
    ]
}
