//! CIS 3.7 / EC2.6: every VPC has a flow log (CIS asks for rejected
//! traffic at least: a flow log of `REJECT` or `ALL` traffic passes).

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};
use serde_json::json;

use crate::actions::collect_pages;
use crate::errors::sdk_error_on;
use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "ec2.vpc-flow-logs",
    title: "VPC flow logging (rejected traffic at least) is enabled in every VPC",
    severity: Severity::Medium,
    resource_type: "AwsEc2Vpc",
    service: "ec2",
    controls: &["EC2.6"],
    permissions: &["ec2:DescribeVpcs", "ec2:DescribeFlowLogs"],
    account_wide: false,
};

pub struct VpcFlowLogs(pub Arc<Aws>);

#[async_trait]
impl Check for VpcFlowLogs {
    fn spec(&self) -> &'static CheckSpec {
        &SPEC
    }

    async fn run(
        &self,
        account: &str,
        region: &str,
        r: &ScanReads,
    ) -> Result<Vec<Verdict>, ActionError> {
        let config = self.0.config_for(account, region).await?;
        let ec2 = aws_sdk_ec2::Client::new(&config);
        let at = format!("account {account} in {region}");
        let at = at.as_str();
        let vpcs: Vec<String> = collect_pages(|token| {
            let request = ec2.describe_vpcs().max_results(1000).set_next_token(token);
            r.call("ec2", region, move || {
                let request = request.clone();
                async move {
                    let out = request
                        .send()
                        .await
                        .map_err(|e| sdk_error_on("ec2:DescribeVpcs", at, e))?;
                    Ok((
                        out.vpcs()
                            .iter()
                            .filter_map(|v| v.vpc_id().map(str::to_string))
                            .collect(),
                        out.next_token().map(str::to_string),
                    ))
                }
            })
        })
        .await?;
        // Every flow log of the region at once, not one call per VPC.
        let logged: Vec<(String, String)> = collect_pages(|token| {
            let request = ec2
                .describe_flow_logs()
                .max_results(1000)
                .set_next_token(token);
            r.call("ec2", region, move || {
                let request = request.clone();
                async move {
                    let out = request
                        .send()
                        .await
                        .map_err(|e| sdk_error_on("ec2:DescribeFlowLogs", at, e))?;
                    Ok((
                        out.flow_logs()
                            .iter()
                            .filter_map(|f| {
                                Some((
                                    f.resource_id()?.to_string(),
                                    f.traffic_type()
                                        .map(|t| t.as_str().to_string())
                                        .unwrap_or_default(),
                                ))
                            })
                            .collect(),
                        out.next_token().map(str::to_string),
                    ))
                }
            })
        })
        .await?;
        let partition = rectify_model::partition_of(region);
        Ok(vpcs
            .into_iter()
            .map(|vpc| {
                let kinds: Vec<&str> = logged
                    .iter()
                    .filter(|(id, _)| *id == vpc)
                    .map(|(_, kind)| kind.as_str())
                    .collect();
                let pass = kinds.iter().any(|k| *k == "REJECT" || *k == "ALL");
                Verdict::new(
                    account,
                    region,
                    SPEC.resource_type,
                    format!("arn:{partition}:ec2:{region}:{account}:vpc/{vpc}"),
                    pass,
                    if kinds.is_empty() {
                        format!("{vpc} has no flow log")
                    } else {
                        format!("{vpc} flow logs of traffic: {}", kinds.join(", "))
                    },
                    json!({"vpc": vpc, "flow_log_traffic": kinds}),
                )
            })
            .collect())
    }
}
