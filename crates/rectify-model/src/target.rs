//! `Target`: the resource an action works on, resolved from an event.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Event;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub account: String,
    pub region: String,
    pub partition: String,
    /// ASFF resource type, e.g. `AwsS3Bucket`.
    pub resource_type: String,
    /// ASFF resource id: usually an ARN.
    pub resource_id: String,
    /// Tags as the finding reported them (the live tags are read at check).
    #[serde(default)]
    pub tags: serde_json::Map<String, Value>,
    /// `Resources[].Details` from the finding, if any.
    #[serde(default)]
    pub details: Value,
}

impl Target {
    /// Picks the first resource of the event whose type is one of `types`.
    /// Security Hub findings name it in `Resources`; other events in the
    /// envelope's `resources` list of ARNs.
    pub fn from_event(event: &Event, types: &[&str]) -> Result<Target, String> {
        if let Some(finding) = event.finding() {
            let account = finding.aws_account_id.clone();
            let finding_region = finding
                .region
                .clone()
                .unwrap_or_else(|| event.region.clone());
            let resource = finding
                .resources
                .iter()
                .find(|r| types.is_empty() || types.contains(&r.kind.as_str()))
                .ok_or_else(|| {
                    let seen: Vec<&str> =
                        finding.resources.iter().map(|r| r.kind.as_str()).collect();
                    format!(
                        "finding {} has no resource of type {} (it has: {})",
                        finding.id,
                        types.join(" or "),
                        if seen.is_empty() {
                            "none".to_string()
                        } else {
                            seen.join(", ")
                        }
                    )
                })?;
            return Ok(Target {
                account,
                region: resource.region.clone().unwrap_or(finding_region),
                partition: resource.partition.clone().unwrap_or_else(|| "aws".into()),
                resource_type: resource.kind.clone(),
                resource_id: resource.id.clone(),
                tags: resource.tags.clone().unwrap_or_default(),
                details: resource.details.clone().unwrap_or(Value::Null),
            });
        }
        let arn = event
            .resources
            .first()
            .ok_or_else(|| format!("event {} names no resource", event.id))?;
        Ok(Target {
            account: event.account.clone(),
            region: event.region.clone(),
            partition: arn.split(':').nth(1).unwrap_or("aws").to_string(),
            resource_type: types.first().copied().unwrap_or("").to_string(),
            resource_id: arn.clone(),
            tags: Default::default(),
            details: Value::Null,
        })
    }

    /// The last segment of the resource id: the bucket of
    /// `arn:aws:s3:::bucket`, the group of `...:security-group/sg-1`.
    pub fn resource_name(&self) -> &str {
        let id = self.resource_id.as_str();
        let tail = id.rsplit(':').next().unwrap_or(id);
        tail.rsplit('/').next().unwrap_or(tail)
    }

    /// `account/region/type/id`, stable across findings for one resource.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.account, self.region, self.resource_type, self.resource_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str) -> Target {
        Target {
            account: "1".into(),
            region: "r".into(),
            partition: "aws".into(),
            resource_type: "t".into(),
            resource_id: id.into(),
            tags: Default::default(),
            details: Value::Null,
        }
    }

    #[test]
    fn resource_names() {
        assert_eq!(
            target("arn:aws:s3:::my-bucket").resource_name(),
            "my-bucket"
        );
        assert_eq!(
            target("arn:aws:ec2:us-east-1:1:security-group/sg-0abc").resource_name(),
            "sg-0abc"
        );
        assert_eq!(target("sg-0abc").resource_name(), "sg-0abc");
        assert_eq!(
            target("AWS::::Account:111122223333").resource_name(),
            "111122223333"
        );
    }
}
