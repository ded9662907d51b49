//! CIS 5.2 / EC2.53: no security group lets 0.0.0.0/0 reach the remote
//! administration ports (22, 3389) over TCP, UDP or all protocols. Judged
//! from the region's one security group listing, which holds every rule.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};

use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "ec2.admin-ports-ipv4",
    title: "No security group allows ingress from 0.0.0.0/0 to ports 22 or 3389",
    severity: Severity::High,
    resource_type: "AwsEc2SecurityGroup",
    service: "ec2",
    controls: &["EC2.53"],
    permissions: &["ec2:DescribeSecurityGroups"],
    account_wide: false,
};

pub struct AdminPortsIpv4(pub Arc<Aws>);

#[async_trait]
impl Check for AdminPortsIpv4 {
    fn spec(&self) -> &'static CheckSpec {
        &SPEC
    }

    async fn run(
        &self,
        account: &str,
        region: &str,
        r: &ScanReads,
    ) -> Result<Vec<Verdict>, ActionError> {
        super::admin_port_verdicts(&self.0, r, account, region, &SPEC, false).await
    }
}
