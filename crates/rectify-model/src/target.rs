//! `Target`: the resource an action works on, resolved from an event.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Event;

/// The detail-type of CloudTrail API calls delivered by EventBridge.
pub const CLOUDTRAIL_API_CALL: &str = "AWS API Call via CloudTrail";
/// The detail-type of AWS Config rule evaluations delivered by EventBridge.
pub const CONFIG_COMPLIANCE_CHANGE: &str = "Config Rules Compliance Change";
/// The detail-type of GuardDuty findings delivered by EventBridge.
pub const GUARDDUTY_FINDING: &str = "GuardDuty Finding";

/// A non-empty string field of an event's detail.
fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// The partition of a region (`cn-north-1` -> `aws-cn`).
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

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
    /// Security Hub findings name it in `Resources`; CloudTrail API calls
    /// in their request parameters (see [`Target::from_api_call`]); other
    /// events in the envelope's `resources` list of ARNs.
    pub fn from_event(event: &Event, types: &[&str]) -> Result<Target, String> {
        if event.detail_type == CLOUDTRAIL_API_CALL {
            return Target::from_api_call(event, types);
        }
        if event.detail_type == CONFIG_COMPLIANCE_CHANGE {
            return Target::from_config_evaluation(event, types);
        }
        if event.detail_type == GUARDDUTY_FINDING {
            return Target::from_guardduty_finding(event, types);
        }
        if event.detail_type == crate::SECURITY_HUB_IMPORTED_V2 {
            return Target::from_ocsf_finding(event, types);
        }
        if let Some(finding) = event.finding() {
            let account = finding.aws_account_id.clone();
            let finding_region = finding
                .region
                .clone()
                .unwrap_or_else(|| event.region.clone());
            let found = finding
                .resources
                .iter()
                .find(|r| types.is_empty() || types.contains(&r.kind.as_str()));
            // Prowler reports account-wide settings (password policy, EBS
            // default encryption) on resources of its own naming: an
            // account-wide action takes the finding's account.
            if found.is_none()
                && types.contains(&"AwsAccount")
                && crate::controls::is_prowler_product(&finding.product_arn)
            {
                let partition = finding
                    .product_arn
                    .split(':')
                    .nth(1)
                    .unwrap_or("aws")
                    .to_string();
                let target = Target {
                    partition,
                    ..Target::listed(
                        &account,
                        &finding_region,
                        "AwsAccount",
                        format!("AWS::::Account:{account}"),
                    )
                };
                return Ok(target);
            }
            let resource = found.ok_or_else(|| {
                let seen: Vec<&str> = finding.resources.iter().map(|r| r.kind.as_str()).collect();
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
            let target = Target {
                account,
                region: resource.region.clone().unwrap_or(finding_region),
                partition: resource.partition.clone().unwrap_or_else(|| "aws".into()),
                resource_type: resource.kind.clone(),
                resource_id: resource.id.clone(),
                tags: resource.tags.clone().unwrap_or_default(),
                details: resource.details.clone().unwrap_or(Value::Null),
            };
            target
                .check_consistent()
                .map_err(|why| format!("finding {}: {why}; refused", finding.id))?;
            return Ok(target);
        }
        // A custom action's `resources` hold the action's ARN, never a
        // resource to act on.
        if event.detail_type == crate::SECURITY_HUB_CUSTOM_ACTION {
            return Err(format!(
                "custom action event {} carries no ASFF finding to act on (its resources name the action)",
                event.id
            ));
        }
        let arn = event
            .resources
            .first()
            .ok_or_else(|| format!("event {} names no resource", event.id))?;
        let target = Target {
            account: event.account.clone(),
            region: event.region.clone(),
            // An ARN names its partition; an id that is not one (an
            // account, `AWS::::Account:<id>`) takes the region's.
            partition: arn
                .strip_prefix("arn:")
                .and_then(|rest| rest.split(':').next())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| partition_of(&event.region))
                .to_string(),
            resource_type: types.first().copied().unwrap_or("").to_string(),
            resource_id: arn.clone(),
            tags: Default::default(),
            details: Value::Null,
        };
        target
            .check_consistent()
            .map_err(|why| format!("event {}: {why}; refused", event.id))?;
        Ok(target)
    }

    /// Whether the target agrees with itself: the account, region and
    /// partition an ARN resource id names are the target's (an empty
    /// field, as S3 bucket ARNs have, says nothing), an account-wide
    /// target names its own account, and the details beside the id
    /// (`AwsEc2SecurityGroup.GroupId` and `OwnerId`,
    /// `AwsS3Bucket.OwnerAccountId`) name the same resource and account.
    /// Actions read the details first, so a finding for account A whose
    /// resource is in account B, or whose details name another resource
    /// than its id, must not reach them.
    pub fn check_consistent(&self) -> Result<(), String> {
        let id = self.resource_id.as_str();
        if let Some(rest) = id.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [partition, _service, region, account, _resource] = parts[..] else {
                return Err(format!("resource id `{id}` is not a well-formed ARN"));
            };
            if !account.is_empty() && account != self.account {
                return Err(format!(
                    "resource `{id}` is in account {account}, not in the finding's account {}",
                    self.account
                ));
            }
            if !region.is_empty() && region != self.region {
                return Err(format!(
                    "resource `{id}` is in region {region}, not in {}",
                    self.region
                ));
            }
            if partition != self.partition {
                return Err(format!(
                    "resource `{id}` is in partition {partition}, not in {}",
                    self.partition
                ));
            }
        }
        if let Some(named) = id.strip_prefix("AWS::::Account:") {
            if named != self.account {
                return Err(format!(
                    "resource `{id}` is account {named}, not the finding's account {}",
                    self.account
                ));
            }
        }
        let detail = |path: &str| self.details.pointer(path).and_then(Value::as_str);
        if let Some(group) = detail("/AwsEc2SecurityGroup/GroupId") {
            let named = self.resource_name();
            if named.starts_with("sg-") && named != group {
                return Err(format!(
                    "resource `{id}` names group {named}, its details group {group}"
                ));
            }
        }
        for path in [
            "/AwsEc2SecurityGroup/OwnerId",
            "/AwsS3Bucket/OwnerAccountId",
        ] {
            if let Some(owner) = detail(path) {
                if owner != self.account {
                    return Err(format!(
                        "resource `{id}` is owned by account {owner} (Details{}), not by the finding's account {}",
                        path.replace('/', "."),
                        self.account
                    ));
                }
            }
        }
        Ok(())
    }

    /// The resource a CloudTrail API call (`AWS API Call via CloudTrail`)
    /// acted on, for near-real-time remediation: the bucket of an S3 call
    /// (`requestParameters.bucketName`), the security group of an EC2 call
    /// (`requestParameters.groupId`, or the `GroupId` of
    /// `ModifySecurityGroupRules`), or the account itself (account-wide
    /// settings such as the IAM password policy). A call that failed
    /// (`errorCode`) changed nothing and names no target.
    pub fn from_api_call(event: &Event, types: &[&str]) -> Result<Target, String> {
        let detail = &event.body["detail"];
        let call = text(&detail["eventName"]).unwrap_or_else(|| "?".into());
        if let Some(code) = text(&detail["errorCode"]) {
            return Err(format!(
                "CloudTrail call {call} failed ({code}): it changed nothing"
            ));
        }
        let account = text(&detail["recipientAccountId"]).unwrap_or_else(|| event.account.clone());
        let region = text(&detail["awsRegion"]).unwrap_or_else(|| event.region.clone());
        let partition = partition_of(&region).to_string();
        let params = &detail["requestParameters"];
        let found = types.iter().find_map(|&kind| {
            let id = match kind {
                "AwsS3Bucket" => {
                    text(&params["bucketName"]).map(|b| format!("arn:{partition}:s3:::{b}"))
                }
                "AwsEc2SecurityGroup" => text(&params["groupId"])
                    .or_else(|| text(&params["ModifySecurityGroupRulesRequest"]["GroupId"]))
                    .map(|g| format!("arn:{partition}:ec2:{region}:{account}:security-group/{g}")),
                "AwsAccount" => Some(format!("AWS::::Account:{account}")),
                _ => None,
            }?;
            Some((kind, id))
        });
        let (kind, id) = found.ok_or_else(|| {
            format!(
                "CloudTrail call {call} ({}) names no {} in its request parameters",
                event.id,
                types.join(" or ")
            )
        })?;
        Ok(Target {
            account,
            region,
            partition,
            resource_type: kind.to_string(),
            resource_id: id,
            tags: Default::default(),
            details: Value::Null,
        })
    }

    /// A resource found by listing (no finding behind it): no tags or
    /// details beyond what is given.
    pub fn listed(account: &str, region: &str, resource_type: &str, resource_id: String) -> Target {
        Target {
            account: account.to_string(),
            region: region.to_string(),
            partition: partition_of(region).to_string(),
            resource_type: resource_type.to_string(),
            resource_id,
            tags: Default::default(),
            details: Value::Null,
        }
    }

    /// The resource an AWS Config rule evaluated (`Config Rules Compliance
    /// Change`): `detail.resourceType` (`AWS::S3::Bucket`,
    /// `AWS::EC2::SecurityGroup`, `AWS::::Account`) and
    /// `detail.resourceId` (a bucket name, a group id, an account id).
    pub fn from_config_evaluation(event: &Event, types: &[&str]) -> Result<Target, String> {
        let detail = &event.body["detail"];
        let config_type = text(&detail["resourceType"]).unwrap_or_default();
        let id = text(&detail["resourceId"]).unwrap_or_default();
        let account = text(&detail["awsAccountId"]).unwrap_or_else(|| event.account.clone());
        let region = text(&detail["awsRegion"]).unwrap_or_else(|| event.region.clone());
        let partition = partition_of(&region);
        let (kind, resource_id) = match config_type.as_str() {
            "AWS::S3::Bucket" if !id.is_empty() => {
                ("AwsS3Bucket", format!("arn:{partition}:s3:::{id}"))
            }
            "AWS::EC2::SecurityGroup" if !id.is_empty() => (
                "AwsEc2SecurityGroup",
                format!("arn:{partition}:ec2:{region}:{account}:security-group/{id}"),
            ),
            "AWS::::Account" => ("AwsAccount", format!("AWS::::Account:{account}")),
            _ => ("", String::new()),
        };
        if kind.is_empty() || !types.contains(&kind) {
            return Err(format!(
                "Config evaluation {} is of {} `{id}`, not of {}",
                event.id,
                if config_type.is_empty() {
                    "no resource type"
                } else {
                    &config_type
                },
                types.join(" or ")
            ));
        }
        Ok(Target::listed(&account, &region, kind, resource_id))
    }

    /// The resource of a GuardDuty finding (`GuardDuty Finding`): the
    /// first bucket of `detail.resource.s3BucketDetails` (S3 findings such
    /// as `Policy:S3/BucketBlockPublicAccessDisabled`), or the account
    /// itself for actions on account-wide settings.
    pub fn from_guardduty_finding(event: &Event, types: &[&str]) -> Result<Target, String> {
        let detail = &event.body["detail"];
        let account = text(&detail["accountId"]).unwrap_or_else(|| event.account.clone());
        let region = text(&detail["region"]).unwrap_or_else(|| event.region.clone());
        let partition =
            text(&detail["partition"]).unwrap_or_else(|| partition_of(&region).to_string());
        let kind = text(&detail["type"]).unwrap_or_else(|| "?".into());
        let bucket = detail["resource"]["s3BucketDetails"][0]["name"].as_str();
        let found = types.iter().find_map(|&t| match (t, bucket) {
            ("AwsS3Bucket", Some(b)) => Some((t, format!("arn:{partition}:s3:::{b}"))),
            ("AwsAccount", _) => Some((t, format!("AWS::::Account:{account}"))),
            _ => None,
        });
        let (resource_type, resource_id) = found.ok_or_else(|| {
            format!(
                "GuardDuty finding {kind} ({}) names no {}",
                event.id,
                types.join(" or ")
            )
        })?;
        Ok(Target {
            partition,
            ..Target::listed(&account, &region, resource_type, resource_id)
        })
    }

    /// The resource of an OCSF finding of the new Security Hub (`Findings
    /// Imported V2`): the first of `resources[]` whose `type` (CloudFormation
    /// spelling `AWS::S3::Bucket` or ASFF spelling `AwsS3Bucket`) is one of
    /// `types`, by its `uid`; the account from `cloud.account.uid`, the
    /// region from the resource or `cloud.region`. An account-wide action
    /// takes the finding's account.
    pub fn from_ocsf_finding(event: &Event, types: &[&str]) -> Result<Target, String> {
        let finding = event
            .finding_value()
            .ok_or_else(|| format!("event {} carries no single OCSF finding", event.id))?;
        let name = text(&finding["metadata"]["uid"])
            .or_else(|| text(&finding["finding_info"]["uid"]))
            .unwrap_or_else(|| event.id.clone());
        let account =
            text(&finding["cloud"]["account"]["uid"]).unwrap_or_else(|| event.account.clone());
        let cloud_region =
            text(&finding["cloud"]["region"]).unwrap_or_else(|| event.region.clone());
        let asff_type = |t: &str| -> String {
            match t {
                "AWS::S3::Bucket" => "AwsS3Bucket".into(),
                "AWS::EC2::SecurityGroup" => "AwsEc2SecurityGroup".into(),
                "AWS::EC2::Snapshot" => "AwsEc2Snapshot".into(),
                "AWS::::Account" | "AWS::Account" => "AwsAccount".into(),
                other => other.to_string(),
            }
        };
        let resources = finding["resources"].as_array().cloned().unwrap_or_default();
        // `uid` is the resource's own id (`sg-...`, a bucket name) or its
        // ARN; `uid_alt` its ARN: the ARN is the target's id.
        let found = resources.iter().find_map(|r| {
            let kind = asff_type(r["type"].as_str().unwrap_or_default());
            if !(types.is_empty() || types.contains(&kind.as_str())) {
                return None;
            }
            let arn = [text(&r["uid_alt"]), text(&r["uid"])]
                .into_iter()
                .flatten()
                .find(|id| id.starts_with("arn:"));
            let uid = match arn {
                Some(arn) => arn,
                None => {
                    let id = text(&r["uid"])?;
                    let region = text(&r["region"]).unwrap_or_else(|| cloud_region.clone());
                    let partition = text(&r["cloud_partition"])
                        .unwrap_or_else(|| partition_of(&region).to_string());
                    match kind.as_str() {
                        "AwsS3Bucket" => format!("arn:{partition}:s3:::{id}"),
                        "AwsEc2SecurityGroup" => {
                            format!("arn:{partition}:ec2:{region}:{account}:security-group/{id}")
                        }
                        "AwsEc2Snapshot" => {
                            format!("arn:{partition}:ec2:{region}:{account}:snapshot/{id}")
                        }
                        _ => id,
                    }
                }
            };
            Some((kind, uid, r))
        });
        let target = match found {
            Some((kind, uid, r)) => {
                let region = text(&r["region"]).unwrap_or_else(|| cloud_region.clone());
                let partition = uid
                    .strip_prefix("arn:")
                    .and_then(|rest| rest.split(':').next())
                    .map(str::to_string)
                    .unwrap_or_else(|| partition_of(&region).to_string());
                // An account given by its number alone.
                let uid = if kind == "AwsAccount" && !uid.starts_with("AWS::::Account:") {
                    format!("AWS::::Account:{uid}")
                } else {
                    uid
                };
                let tags = r["tags"]
                    .as_array()
                    .map(|tags| {
                        tags.iter()
                            .filter_map(|t| Some((text(&t["name"])?, t["value"].clone())))
                            .collect()
                    })
                    .unwrap_or_default();
                Target {
                    tags,
                    partition,
                    ..Target::listed(&account, &region, &kind, uid)
                }
            }
            None if types.contains(&"AwsAccount") => Target::listed(
                &account,
                &cloud_region,
                "AwsAccount",
                format!("AWS::::Account:{account}"),
            ),
            None => {
                return Err(format!(
                    "OCSF finding {name} has no resource of type {}",
                    types.join(" or ")
                ))
            }
        };
        target
            .check_consistent()
            .map_err(|why| format!("finding {name}: {why}; refused"))?;
        Ok(target)
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

    /// The event of an envelope, as ingest makes it.
    fn event_of(body: Value) -> Event {
        let text = |k: &str| body[k].as_str().unwrap_or_default().to_string();
        Event {
            id: text("id"),
            source: text("source"),
            detail_type: text("detail-type"),
            account: text("account"),
            region: text("region"),
            time: text("time"),
            resources: Vec::new(),
            body,
            parsed: Default::default(),
        }
    }

    /// A plain event about an account (no ARN) takes its region's
    /// partition, so the ARNs built from it are whole.
    #[test]
    fn a_plain_event_about_an_account_takes_the_regions_partition() {
        for (region, partition) in [("eu-west-1", "aws"), ("cn-north-1", "aws-cn")] {
            let mut event = event_of(serde_json::json!({
                "id": "e-1", "source": "custom", "detail-type": "x",
                "account": "111122223333", "region": region,
            }));
            event.resources = vec!["AWS::::Account:111122223333".into()];
            let target = Target::from_event(&event, &["AwsAccount"]).unwrap();
            assert_eq!(target.partition, partition);
        }
        let mut event = event_of(serde_json::json!({
            "id": "e-2", "source": "custom", "detail-type": "x",
            "account": "111122223333", "region": "us-gov-west-1",
        }));
        event.resources = vec!["arn:aws-us-gov:s3:::b".into()];
        let target = Target::from_event(&event, &["AwsS3Bucket"]).unwrap();
        assert_eq!(target.partition, "aws-us-gov");
    }

    /// An EventBridge "AWS API Call via CloudTrail" event, shaped as
    /// delivered (envelope `resources` empty, ids in `requestParameters`).
    fn api_call(source: &str, name: &str, params: Value, extra: Value) -> Event {
        let mut detail = serde_json::json!({
            "eventVersion": "1.09",
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/dev/alice"},
            "eventTime": "2026-12-02T10:00:00Z",
            "eventSource": format!("{}.amazonaws.com", source.trim_start_matches("aws.")),
            "eventName": name,
            "awsRegion": "eu-west-1",
            "sourceIPAddress": "203.0.113.7",
            "requestParameters": params,
            "responseElements": null,
            "eventType": "AwsApiCall",
            "recipientAccountId": "111122223333"
        });
        if let (Some(d), Some(e)) = (detail.as_object_mut(), extra.as_object()) {
            d.extend(e.clone());
        }
        let body = serde_json::json!({
            "version": "0", "id": "ct-1", "detail-type": CLOUDTRAIL_API_CALL,
            "source": source, "account": "111122223333", "time": "2026-12-02T10:00:05Z",
            "region": "eu-west-1", "resources": [], "detail": detail
        });
        event_of(body)
    }

    #[test]
    fn targets_from_cloudtrail_api_calls() {
        let none = serde_json::json!({});
        let s3 = api_call(
            "aws.s3",
            "PutBucketPolicy",
            serde_json::json!({"bucketName": "payments-exports", "Host": "payments-exports.s3.amazonaws.com", "policy": "{}"}),
            none.clone(),
        );
        let t = Target::from_event(&s3, &["AwsS3Bucket"]).unwrap();
        assert_eq!(
            (
                t.account.as_str(),
                t.region.as_str(),
                t.resource_type.as_str(),
                t.resource_id.as_str()
            ),
            (
                "111122223333",
                "eu-west-1",
                "AwsS3Bucket",
                "arn:aws:s3:::payments-exports"
            )
        );

        let sg = api_call(
            "aws.ec2",
            "AuthorizeSecurityGroupIngress",
            serde_json::json!({"groupId": "sg-0a1b2c3d", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
            none.clone(),
        );
        let t = Target::from_event(&sg, &["AwsEc2SecurityGroup"]).unwrap();
        assert_eq!(
            t.resource_id,
            "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0a1b2c3d"
        );
        assert_eq!(t.resource_name(), "sg-0a1b2c3d");
        let modify = api_call(
            "aws.ec2",
            "ModifySecurityGroupRules",
            serde_json::json!({"ModifySecurityGroupRulesRequest": {"GroupId": "sg-9", "SecurityGroupRule": {}}}),
            none.clone(),
        );
        assert_eq!(
            Target::from_event(&modify, &["AwsEc2SecurityGroup"])
                .unwrap()
                .resource_name(),
            "sg-9"
        );

        let iam = api_call(
            "aws.iam",
            "DeleteAccountPasswordPolicy",
            Value::Null,
            none.clone(),
        );
        let t = Target::from_event(&iam, &["AwsAccount"]).unwrap();
        assert_eq!(t.resource_id, "AWS::::Account:111122223333");

        // A call that failed changed nothing; a call without the id says so.
        let denied = api_call(
            "aws.s3",
            "PutBucketPolicy",
            serde_json::json!({"bucketName": "b"}),
            serde_json::json!({"errorCode": "AccessDenied", "errorMessage": "Access Denied"}),
        );
        let err = Target::from_event(&denied, &["AwsS3Bucket"]).unwrap_err();
        assert!(err.contains("failed (AccessDenied)"), "{err}");
        let err = Target::from_event(&sg, &["AwsS3Bucket"]).unwrap_err();
        assert!(
            err.contains("AuthorizeSecurityGroupIngress (ct-1) names no AwsS3Bucket"),
            "{err}"
        );
        // China and GovCloud regions get their partitions.
        let mut cn = api_call(
            "aws.s3",
            "PutBucketAcl",
            serde_json::json!({"bucketName": "b"}),
            none,
        );
        cn.body["detail"]["awsRegion"] = "cn-north-1".into();
        let t = Target::from_event(&cn, &["AwsS3Bucket"]).unwrap();
        assert_eq!(
            (t.partition.as_str(), t.resource_id.as_str()),
            ("aws-cn", "arn:aws-cn:s3:::b")
        );
    }

    #[test]
    fn targets_from_config_evaluations() {
        let evaluation = |resource_type: &str, id: &str| {
            let body = serde_json::json!({
                "version": "0", "id": "cfg-1", "detail-type": CONFIG_COMPLIANCE_CHANGE,
                "source": "aws.config", "account": "111122223333", "time": "2026-12-02T10:00:00Z",
                "region": "eu-west-1", "resources": [],
                "detail": {
                    "resourceId": id, "awsRegion": "eu-west-1", "awsAccountId": "111122223333",
                    "configRuleName": "restricted-ssh", "recordVersion": "1.0",
                    "messageType": "ComplianceChangeNotification",
                    "newEvaluationResult": {"complianceType": "NON_COMPLIANT"},
                    "resourceType": resource_type
                }
            });
            event_of(body)
        };
        let t =
            Target::from_event(&evaluation("AWS::S3::Bucket", "logs"), &["AwsS3Bucket"]).unwrap();
        assert_eq!(
            (t.resource_type.as_str(), t.resource_id.as_str()),
            ("AwsS3Bucket", "arn:aws:s3:::logs")
        );
        let t = Target::from_event(
            &evaluation("AWS::EC2::SecurityGroup", "sg-1"),
            &["AwsEc2SecurityGroup"],
        )
        .unwrap();
        assert_eq!(
            t.resource_id,
            "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-1"
        );
        let t = Target::from_event(
            &evaluation("AWS::::Account", "111122223333"),
            &["AwsAccount"],
        )
        .unwrap();
        assert_eq!(t.resource_id, "AWS::::Account:111122223333");
        let err = Target::from_event(
            &evaluation("AWS::RDS::DBInstance", "db-1"),
            &["AwsS3Bucket"],
        )
        .unwrap_err();
        assert!(
            err.contains("is of AWS::RDS::DBInstance `db-1`, not of AwsS3Bucket"),
            "{err}"
        );
    }

    #[test]
    fn targets_from_guardduty_findings() {
        let body = serde_json::json!({
            "version": "0", "id": "gd-1", "detail-type": GUARDDUTY_FINDING,
            "source": "aws.guardduty", "account": "111122223333", "time": "2026-12-02T10:00:00Z",
            "region": "eu-west-1", "resources": [],
            "detail": {
                "schemaVersion": "2.0", "accountId": "111122223333", "region": "eu-west-1",
                "partition": "aws", "type": "Policy:S3/BucketBlockPublicAccessDisabled",
                "resource": {"resourceType": "S3Bucket", "s3BucketDetails": [
                    {"arn": "arn:aws:s3:::payments-exports", "name": "payments-exports", "type": "Destination"}
                ]}
            }
        });
        let event = event_of(body);
        let t = Target::from_event(&event, &["AwsS3Bucket"]).unwrap();
        assert_eq!(
            (
                t.account.as_str(),
                t.region.as_str(),
                t.resource_id.as_str()
            ),
            ("111122223333", "eu-west-1", "arn:aws:s3:::payments-exports")
        );
        let err = Target::from_event(&event, &["AwsEc2SecurityGroup"]).unwrap_err();
        assert!(
            err.contains(
                "Policy:S3/BucketBlockPublicAccessDisabled (gd-1) names no AwsEc2SecurityGroup"
            ),
            "{err}"
        );
    }

    /// A Security Hub import event for account 111122223333 with one
    /// resource.
    fn finding_with(resource: Value) -> Event {
        event_of(serde_json::json!({
            "version": "0", "id": "sh-1", "detail-type": "Security Hub Findings - Imported",
            "source": "aws.securityhub", "account": "111122223333", "time": "2026-12-02T10:00:00Z",
            "region": "eu-west-1", "resources": [],
            "detail": {"findings": [{
                "SchemaVersion": "2018-10-08", "Id": "f-1",
                "ProductArn": "arn:aws:securityhub:eu-west-1::product/aws/securityhub",
                "GeneratorId": "security-control/EC2.19", "AwsAccountId": "111122223333",
                "Region": "eu-west-1", "Types": [], "CreatedAt": "2026-12-02T10:00:00Z",
                "UpdatedAt": "2026-12-02T10:00:00Z", "Title": "t", "Description": "d",
                "Severity": {"Label": "HIGH"}, "Resources": [resource]
            }]}
        }))
    }

    #[test]
    fn targets_that_disagree_with_their_finding_are_refused() {
        let sg = |arn: &str, details: Value| {
            finding_with(serde_json::json!({
                "Type": "AwsEc2SecurityGroup", "Id": arn, "Partition": "aws",
                "Region": "eu-west-1", "Details": details
            }))
        };
        let own = "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0a1";
        let t = Target::from_event(
            &sg(own, serde_json::json!({"AwsEc2SecurityGroup": {"GroupId": "sg-0a1", "OwnerId": "111122223333"}})),
            &["AwsEc2SecurityGroup"],
        )
        .unwrap();
        assert_eq!(
            (t.account.as_str(), t.resource_name()),
            ("111122223333", "sg-0a1")
        );

        // The finding is for account A, the group's ARN names account B.
        let err = Target::from_event(
            &sg(
                "arn:aws:ec2:eu-west-1:444455556666:security-group/sg-0a1",
                Value::Null,
            ),
            &["AwsEc2SecurityGroup"],
        )
        .unwrap_err();
        assert!(
            err.contains("is in account 444455556666, not in the finding's account 111122223333"),
            "{err}"
        );
        assert!(
            err.starts_with("finding f-1: ") && err.ends_with("; refused"),
            "{err}"
        );
        // The ARN names one group, the details another.
        let err = Target::from_event(
            &sg(
                own,
                serde_json::json!({"AwsEc2SecurityGroup": {"GroupId": "sg-0b2"}}),
            ),
            &["AwsEc2SecurityGroup"],
        )
        .unwrap_err();
        assert!(
            err.contains("names group sg-0a1, its details group sg-0b2"),
            "{err}"
        );
        // The details name another owner.
        let err = Target::from_event(
            &sg(
                own,
                serde_json::json!({"AwsEc2SecurityGroup": {"OwnerId": "444455556666"}}),
            ),
            &["AwsEc2SecurityGroup"],
        )
        .unwrap_err();
        assert!(err.contains("owned by account 444455556666"), "{err}");
        // Another region or partition than the resource's.
        let err = Target::from_event(
            &sg(
                "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0a1",
                Value::Null,
            ),
            &["AwsEc2SecurityGroup"],
        )
        .unwrap_err();
        assert!(
            err.contains("is in region us-east-1, not in eu-west-1"),
            "{err}"
        );
        let err = Target::from_event(
            &sg(
                "arn:aws-cn:ec2:eu-west-1:111122223333:security-group/sg-0a1",
                Value::Null,
            ),
            &["AwsEc2SecurityGroup"],
        )
        .unwrap_err();
        assert!(err.contains("partition aws-cn"), "{err}");

        // S3 bucket ARNs name no account: the owner in the details decides.
        let bucket = |details: Value| {
            finding_with(serde_json::json!({
                "Type": "AwsS3Bucket", "Id": "arn:aws:s3:::payments", "Partition": "aws",
                "Region": "eu-west-1", "Details": details
            }))
        };
        assert!(Target::from_event(&bucket(Value::Null), &["AwsS3Bucket"]).is_ok());
        let err = Target::from_event(
            &bucket(serde_json::json!({"AwsS3Bucket": {"OwnerAccountId": "444455556666"}})),
            &["AwsS3Bucket"],
        )
        .unwrap_err();
        assert!(err.contains("owned by account 444455556666"), "{err}");
        // An account-wide finding naming another account.
        let account = finding_with(serde_json::json!({
            "Type": "AwsAccount", "Id": "AWS::::Account:444455556666", "Partition": "aws",
            "Region": "eu-west-1"
        }));
        let err = Target::from_event(&account, &["AwsAccount"]).unwrap_err();
        assert!(err.contains("is account 444455556666"), "{err}");
        // An event's `resources` ARN in another account than the event's.
        let mut other = event_of(serde_json::json!({
            "version": "0", "id": "ev-9", "detail-type": "Something", "source": "x",
            "account": "111122223333", "region": "eu-west-1", "time": "t", "detail": {}
        }));
        other.resources = vec!["arn:aws:ec2:eu-west-1:444455556666:security-group/sg-1".into()];
        let err = Target::from_event(&other, &["AwsEc2SecurityGroup"]).unwrap_err();
        assert!(err.starts_with("event ev-9: "), "{err}");
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

    #[test]
    fn a_custom_action_never_targets_its_own_arn() {
        let action_arn = "arn:aws:securityhub:eu-west-1:111122223333:action/custom/Remediate";
        let mut event = finding_with(serde_json::json!({
            "Type": "AwsS3Bucket", "Id": "arn:aws:s3:::payments", "Partition": "aws",
            "Region": "eu-west-1"
        }));
        event.detail_type = crate::SECURITY_HUB_CUSTOM_ACTION.into();
        event.body["detail-type"] = crate::SECURITY_HUB_CUSTOM_ACTION.into();
        event.body["detail"]["actionName"] = "Remediate".into();
        event.resources = vec![action_arn.into()];
        let t = Target::from_event(&event, &["AwsS3Bucket"]).unwrap();
        assert_eq!(t.resource_id, "arn:aws:s3:::payments");
        // A finding without the wanted resource fails; the ARN is not taken.
        let err = Target::from_event(&event, &["AwsEc2SecurityGroup"]).unwrap_err();
        assert!(err.contains("has no resource of type"), "{err}");
        // No ASFF finding at all: refused, not the action's ARN.
        let mut bare = event_of(serde_json::json!({
            "version": "0", "id": "ca-1", "detail-type": crate::SECURITY_HUB_CUSTOM_ACTION,
            "source": "aws.securityhub", "account": "111122223333", "region": "eu-west-1",
            "time": "t", "detail": {"actionName": "Remediate", "findings": [{"Id": 1}]}
        }));
        bare.resources = vec![action_arn.into()];
        let err = Target::from_event(&bare, &["AwsS3Bucket"]).unwrap_err();
        assert!(err.contains("carries no ASFF finding"), "{err}");
    }

    #[test]
    fn targets_from_ocsf_findings() {
        let v2 = |resources: Value| {
            event_of(serde_json::json!({
                "version": "0", "id": "v2-1", "detail-type": crate::SECURITY_HUB_IMPORTED_V2,
                "source": "aws.securityhub", "account": "111122223333", "region": "eu-west-1",
                "time": "t", "resources": ["e51603d1"],
                "detail": {"findings": [{
                    "class_uid": 2003, "metadata": {"uid": "ocsf-1"},
                    "compliance": {"control": "EC2.13", "status": "Fail"},
                    "cloud": {"account": {"uid": "111122223333"}, "region": "eu-west-1"},
                    "resources": resources
                }]}
            }))
        };
        let sg = v2(serde_json::json!([{
            "type": "AWS::EC2::SecurityGroup",
            "uid": "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0a1",
            "tags": [{"name": "rectify:exempt", "value": "load test"}]
        }]));
        let t = Target::from_event(&sg, &["AwsEc2SecurityGroup"]).unwrap();
        assert_eq!(
            (
                t.resource_type.as_str(),
                t.resource_id.as_str(),
                t.account.as_str()
            ),
            (
                "AwsEc2SecurityGroup",
                "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0a1",
                "111122223333"
            )
        );
        assert_eq!(t.tags["rectify:exempt"], "load test");
        // The envelope's `resources` (a hash) is never the target.
        let err = Target::from_event(&sg, &["AwsS3Bucket"]).unwrap_err();
        assert!(
            err.contains("OCSF finding ocsf-1 has no resource of type AwsS3Bucket"),
            "{err}"
        );
        // The group's own id in `uid`, its ARN in `uid_alt`; or the id alone.
        for resource in [
            serde_json::json!([{"type": "AWS::EC2::SecurityGroup", "uid": "sg-0a1",
                "uid_alt": "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0a1"}]),
            serde_json::json!([{"type": "AWS::EC2::SecurityGroup", "uid": "sg-0a1"}]),
        ] {
            let t = Target::from_event(&v2(resource), &["AwsEc2SecurityGroup"]).unwrap();
            assert_eq!(
                t.resource_id,
                "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0a1"
            );
            assert_eq!(t.resource_name(), "sg-0a1");
        }
        let named = v2(serde_json::json!([{"type": "AWS::S3::Bucket", "uid": "logs"}]));
        assert_eq!(
            Target::from_event(&named, &["AwsS3Bucket"])
                .unwrap()
                .resource_id,
            "arn:aws:s3:::logs"
        );
        // ASFF spelling of the type works too; an account-wide action takes the account.
        let bucket = v2(serde_json::json!([{"type": "AwsS3Bucket", "uid": "arn:aws:s3:::logs"}]));
        assert_eq!(
            Target::from_event(&bucket, &["AwsS3Bucket"])
                .unwrap()
                .resource_id,
            "arn:aws:s3:::logs"
        );
        let t = Target::from_event(&bucket, &["AwsAccount"]).unwrap();
        assert_eq!(t.resource_id, "AWS::::Account:111122223333");
        // A resource in another account than the finding's is refused.
        let other = v2(serde_json::json!([{
            "type": "AWS::EC2::SecurityGroup",
            "uid": "arn:aws:ec2:eu-west-1:444455556666:security-group/sg-0a1"
        }]));
        let err = Target::from_event(&other, &["AwsEc2SecurityGroup"]).unwrap_err();
        assert!(err.contains("is in account 444455556666"), "{err}");
    }

    #[test]
    fn prowler_account_wide_findings_target_the_account() {
        let mut event = finding_with(serde_json::json!({
            "Type": "Other", "Id": "arn:aws:iam:eu-west-1:111122223333:password-policy",
            "Partition": "aws", "Region": "eu-west-1"
        }));
        event.body["detail"]["findings"][0]["ProductArn"] =
            "arn:aws:securityhub:eu-west-1::product/prowler/prowler".into();
        let t = Target::from_event(&event, &["AwsAccount"]).unwrap();
        assert_eq!(t.resource_id, "AWS::::Account:111122223333");
        // Security Hub's own findings still need the resource.
        let aws = finding_with(serde_json::json!({
            "Type": "Other", "Id": "x", "Partition": "aws", "Region": "eu-west-1"
        }));
        assert!(Target::from_event(&aws, &["AwsAccount"]).is_err());
    }
}
