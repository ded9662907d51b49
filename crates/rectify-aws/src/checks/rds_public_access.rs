//! CIS 2.3.3 / RDS.2: no DB instance is publicly accessible
//! (`DescribeDBInstances`' `PubliclyAccessible`).

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};
use serde_json::json;

use crate::actions::collect_pages;
use crate::errors::sdk_error_on;
use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "rds.public-access",
    title: "RDS DB instances are not publicly accessible",
    severity: Severity::Critical,
    resource_type: "AwsRdsDbInstance",
    service: "rds",
    controls: &["RDS.2"],
    permissions: &["rds:DescribeDBInstances"],
    account_wide: false,
};

pub struct RdsPublicAccess(pub Arc<Aws>);

#[async_trait]
impl Check for RdsPublicAccess {
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
        let rds = aws_sdk_rds::Client::new(&config);
        let at = format!("account {account} in {region}");
        let at = at.as_str();
        let instances: Vec<(String, String, bool)> = collect_pages(|marker| {
            let request = rds
                .describe_db_instances()
                .max_records(100)
                .set_marker(marker);
            r.call("rds", region, move || {
                let request = request.clone();
                async move {
                    let out = request
                        .send()
                        .await
                        .map_err(|e| sdk_error_on("rds:DescribeDBInstances", at, e))?;
                    Ok((
                        out.db_instances()
                            .iter()
                            .filter_map(|i| {
                                Some((
                                    i.db_instance_identifier()?.to_string(),
                                    i.db_instance_arn()?.to_string(),
                                    i.publicly_accessible().unwrap_or(false),
                                ))
                            })
                            .collect(),
                        out.marker().map(str::to_string),
                    ))
                }
            })
        })
        .await?;
        Ok(instances
            .into_iter()
            .map(|(name, arn, public)| {
                Verdict::new(
                    account,
                    region,
                    SPEC.resource_type,
                    arn,
                    !public,
                    format!("{name}: PubliclyAccessible {public}"),
                    json!({"db_instance": name, "PubliclyAccessible": public}),
                )
            })
            .collect())
    }
}
