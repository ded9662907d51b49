//! CIS 5.4 / EC2.2: each VPC's default security group allows no inbound
//! and no outbound traffic (no rules at all). From the region's one
//! security group listing.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};
use serde_json::json;

use super::{group_arn, group_tags, reads};
use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "ec2.default-security-group",
    title: "The default security group of every VPC restricts all traffic",
    severity: Severity::High,
    resource_type: "AwsEc2SecurityGroup",
    service: "ec2",
    controls: &["EC2.2"],
    permissions: &["ec2:DescribeSecurityGroups"],
    account_wide: false,
};

pub struct DefaultSecurityGroup(pub Arc<Aws>);

#[async_trait]
impl Check for DefaultSecurityGroup {
    fn spec(&self) -> &'static CheckSpec {
        &SPEC
    }

    async fn run(
        &self,
        account: &str,
        region: &str,
        r: &ScanReads,
    ) -> Result<Vec<Verdict>, ActionError> {
        let groups = reads::security_groups(&self.0, r, account, region).await?;
        Ok(groups
            .iter()
            .filter(|g| g.group_name() == Some("default"))
            .filter_map(|g| {
                let id = g.group_id()?;
                let (ingress, egress) = (g.ip_permissions().len(), g.ip_permissions_egress().len());
                let mut v = Verdict::new(
                    account,
                    region,
                    SPEC.resource_type,
                    group_arn(account, region, id),
                    ingress + egress == 0,
                    format!("default group {id} of {}: {ingress} ingress and {egress} egress permission(s)", g.vpc_id().unwrap_or("?")),
                    json!({"group_id": id, "ingress": ingress, "egress": egress}),
                );
                v.tags = group_tags(g);
                Some(v)
            })
            .collect())
    }
}
