//! What the EC2 and VPC actions on one resource (an instance, a subnet, a
//! VPC, a volume, an internet gateway) share: the resource's kinds of
//! name (ASFF type, AWS Config type, ARN type, id prefix), its id checked
//! from a target, and its target taken from every event shape the pack
//! routes to them (Security Hub and Prowler findings, OCSF findings,
//! AWS Config evaluations, CloudTrail calls).

use rectify_model::{ActionError, ErrorClass, Event, Target};
use serde_json::Value;

/// The names of one kind of EC2 resource.
pub(crate) struct Kind {
    /// The ASFF resource type (`AwsEc2Instance`).
    pub asff: &'static str,
    /// The AWS Config and CloudFormation type (`AWS::EC2::Instance`).
    pub config: &'static str,
    /// The resource type in its ARN (`instance`).
    pub arn_type: &'static str,
    /// The prefix of its id (`i-`).
    pub prefix: &'static str,
    /// What people call it (`instance`).
    pub noun: &'static str,
}

pub(crate) const INSTANCE: Kind = Kind {
    asff: "AwsEc2Instance",
    config: "AWS::EC2::Instance",
    arn_type: "instance",
    prefix: "i-",
    noun: "instance",
};

pub(crate) const SUBNET: Kind = Kind {
    asff: "AwsEc2Subnet",
    config: "AWS::EC2::Subnet",
    arn_type: "subnet",
    prefix: "subnet-",
    noun: "subnet",
};

pub(crate) const VPC: Kind = Kind {
    asff: "AwsEc2Vpc",
    config: "AWS::EC2::VPC",
    arn_type: "vpc",
    prefix: "vpc-",
    noun: "VPC",
};

pub(crate) const VOLUME: Kind = Kind {
    asff: "AwsEc2Volume",
    config: "AWS::EC2::Volume",
    arn_type: "volume",
    prefix: "vol-",
    noun: "volume",
};

/// ASFF has no type of its own for internet gateways: this name is the
/// one rectify gives the targets it makes of them.
pub(crate) const INTERNET_GATEWAY: Kind = Kind {
    asff: "AwsEc2InternetGateway",
    config: "AWS::EC2::InternetGateway",
    arn_type: "internet-gateway",
    prefix: "igw-",
    noun: "internet gateway",
};

/// The resource with `id` in a describe call's answer, which may hold
/// others or nothing (EC2 answers an id it no longer knows either way):
/// `NotFound`, naming the resource as `noun`, when it is not there.
pub(crate) fn described<'a, T>(
    items: &'a [T],
    id_of: impl Fn(&T) -> Option<&str>,
    noun: &str,
    id: &str,
) -> Result<&'a T, ActionError> {
    items
        .iter()
        .find(|item| id_of(item) == Some(id))
        .ok_or_else(|| ActionError::new(ErrorClass::NotFound, format!("{noun} {id} not found")))
}

/// Refuses a resource of another account (one shared with the target's
/// account): rectify changes only what the account owns.
pub(crate) fn owned_by_target(
    owner: Option<&str>,
    noun: &str,
    id: &str,
    target: &Target,
) -> Result<(), ActionError> {
    match owner.filter(|o| *o != target.account) {
        Some(owner) => Err(ActionError::invalid(format!(
            "{noun} {id} is owned by account {owner}, not {}; refused",
            target.account
        ))),
        None => Ok(()),
    }
}

/// Whether `id` is an id of `kind`: its prefix, then 8 or 17 hex digits.
pub(crate) fn well_formed(kind: &Kind, id: &str) -> bool {
    id.strip_prefix(kind.prefix).is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// The resource's ARN.
pub(crate) fn arn(kind: &Kind, partition: &str, region: &str, account: &str, id: &str) -> String {
    format!(
        "arn:{partition}:ec2:{region}:{account}:{}/{id}",
        kind.arn_type
    )
}

/// A security group as a target for `rectify scan` (none when the
/// listing gives no id).
pub(crate) fn group_target(
    account: &str,
    region: &str,
    group: &aws_sdk_ec2::types::SecurityGroup,
) -> Option<Target> {
    let partition = rectify_model::partition_of(region);
    Some(Target::listed(
        account,
        region,
        "AwsEc2SecurityGroup",
        format!(
            "arn:{partition}:ec2:{region}:{account}:security-group/{}",
            group.group_id()?
        ),
    ))
}

/// `inventory` and `discover` of an action on the resources of `$kind`
/// that its type lists by id (`self.$ids(account, region)`), inside its
/// `#[async_trait] impl Action`: the count, and the [`listed`] targets.
macro_rules! listed_by_id {
    ($kind:expr, $ids:ident) => {
        $crate::actions::trait_fn! {
            fn inventory(&self, target: &rectify_model::Target, _: &serde_json::Value) -> Option<u64> {
                Ok(Some(self.$ids(&target.account, &target.region).await?.len() as u64))
            }
        }

        $crate::actions::trait_fn! {
            fn discover(&self, account: &str, region: &str) -> Vec<rectify_model::Target> {
                let ids = self.$ids(account, region).await?;
                Ok($crate::actions::ec2::targets::listed(&$kind, account, region, ids))
            }
        }
    };
}
pub(crate) use listed_by_id;

/// Targets for `rectify scan`: the resources of `kind` with these ids, in
/// `account` and `region`.
pub(crate) fn listed(
    kind: &Kind,
    account: &str,
    region: &str,
    ids: impl IntoIterator<Item = String>,
) -> Vec<Target> {
    let partition = rectify_model::partition_of(region);
    ids.into_iter()
        .map(|id| {
            Target::listed(
                account,
                region,
                kind.asff,
                arn(kind, partition, region, account, &id),
            )
        })
        .collect()
}

/// The id of the resource `target` names (`arn:...:instance/i-1` or
/// `i-1`), checked: a well-formed id of `kind`, and an ARN of that type in
/// the target's own account and region.
pub(crate) fn id_of(kind: &Kind, target: &Target, action: &str) -> Result<String, ActionError> {
    let refuse = |why: String| ActionError::invalid(format!("{action}: {why}; refused"));
    if target.resource_type != kind.asff {
        return Err(refuse(format!(
            "it acts on {} ({}), not on {} `{}`",
            kind.noun, kind.asff, target.resource_type, target.resource_id
        )));
    }
    let raw = target.resource_id.as_str();
    let id = match raw.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [_, service, region, account, resource] = parts[..] else {
                return Err(refuse(format!("`{raw}` is not a well-formed ARN")));
            };
            if service != "ec2" || region != target.region || account != target.account {
                return Err(refuse(format!(
                    "`{raw}` is not an EC2 resource of account {} in {}",
                    target.account, target.region
                )));
            }
            let Some(id) = resource.strip_prefix(&format!("{}/", kind.arn_type)) else {
                return Err(refuse(format!("`{raw}` names no {}", kind.noun)));
            };
            id
        }
        None => raw,
    };
    if !well_formed(kind, id) {
        return Err(refuse(format!(
            "`{raw}` is not a well-formed {} id",
            kind.noun
        )));
    }
    Ok(id.to_string())
}

fn text(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty())
}

/// The target of `event` for an action on one resource of `kind`: the
/// resource a CloudTrail call names at one of `call_paths` (JSON pointers
/// into the call's detail, e.g. `/requestParameters/instanceId`), the one
/// an AWS Config evaluation names, the first of `kind` in an OCSF
/// finding, or as for any action (an ASFF finding's resource of `kind`).
pub(crate) fn target_of(
    kind: &Kind,
    event: &Event,
    call_paths: &[&str],
) -> Result<Target, ActionError> {
    use rectify_model::target::{CLOUDTRAIL_API_CALL, CONFIG_COMPLIANCE_CHANGE};
    let detail = &event.body["detail"];
    let listed = |account: &str, region: &str, id: &str| -> Result<Target, ActionError> {
        if !well_formed(kind, id) {
            return Err(ActionError::invalid(format!(
                "event {}: `{id}` is not a well-formed {} id; refused",
                event.id, kind.noun
            )));
        }
        let partition = rectify_model::partition_of(region);
        Ok(Target::listed(
            account,
            region,
            kind.asff,
            arn(kind, partition, region, account, id),
        ))
    };
    if event.detail_type == CLOUDTRAIL_API_CALL {
        let call = text(&detail["eventName"]).unwrap_or("?");
        if let Some(code) = text(&detail["errorCode"]) {
            return Err(ActionError::invalid(format!(
                "CloudTrail call {call} failed ({code}): it changed nothing"
            )));
        }
        let account = text(&detail["recipientAccountId"]).unwrap_or(&event.account);
        let region = text(&detail["awsRegion"]).unwrap_or(&event.region);
        let id = call_paths
            .iter()
            .find_map(|p| detail.pointer(p).and_then(text))
            .ok_or_else(|| {
                ActionError::invalid(format!(
                    "CloudTrail call {call} ({}) names no {}",
                    event.id, kind.noun
                ))
            })?;
        return listed(account, region, id);
    }
    if event.detail_type == CONFIG_COMPLIANCE_CHANGE {
        let config_type = text(&detail["resourceType"]).unwrap_or("no resource type");
        let id = text(&detail["resourceId"]).unwrap_or_default();
        if config_type != kind.config {
            return Err(ActionError::invalid(format!(
                "Config evaluation {} is of {config_type} `{id}`, not of {}",
                event.id, kind.config
            )));
        }
        let account = text(&detail["awsAccountId"]).unwrap_or(&event.account);
        let region = text(&detail["awsRegion"]).unwrap_or(&event.region);
        return listed(account, region, id);
    }
    if event.detail_type == rectify_model::SECURITY_HUB_IMPORTED_V2 {
        // The OCSF finding names the resource by CloudFormation type.
        let found = Target::from_ocsf_finding(event, &[kind.asff, kind.config])
            .map_err(ActionError::invalid)?;
        let id = found.resource_name().to_string();
        let target = listed(&found.account, &found.region, &id)?;
        return Ok(Target {
            tags: found.tags,
            ..target
        });
    }
    Target::from_event(event, &[kind.asff]).map_err(ActionError::invalid)
}

/// Tags of an EC2 resource as `(key, value)` pairs.
pub(crate) fn tag_pairs(tags: &[aws_sdk_ec2::types::Tag]) -> Vec<(&str, &str)> {
    tags.iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;

    #[test]
    fn ids_are_checked() {
        assert!(well_formed(&INSTANCE, "i-0123456789abcdef0"));
        assert!(well_formed(&INSTANCE, "i-01234567"));
        assert!(!well_formed(&INSTANCE, "i-0123"));
        assert!(!well_formed(&INSTANCE, "i-0123456789ABCDEF0"));
        assert!(!well_formed(&SUBNET, "i-0123456789abcdef0"));
        let t = target(
            "AwsEc2Instance",
            "arn:aws:ec2:us-east-1:111122223333:instance/i-0123456789abcdef0",
            Value::Null,
        );
        assert_eq!(id_of(&INSTANCE, &t, "a").unwrap(), "i-0123456789abcdef0");
        let other = target(
            "AwsEc2Instance",
            "arn:aws:ec2:us-east-1:444455556666:instance/i-0123456789abcdef0",
            Value::Null,
        );
        assert!(id_of(&INSTANCE, &other, "a")
            .unwrap_err()
            .message
            .contains("not an EC2 resource of account 111122223333"));
        let wrong = target(
            "AwsEc2Instance",
            "arn:aws:ec2:us-east-1:111122223333:volume/vol-0123456789abcdef0",
            Value::Null,
        );
        assert!(id_of(&INSTANCE, &wrong, "a").is_err());
        let bare = target("AwsEc2Subnet", "subnet-0123456789abcdef0", Value::Null);
        assert_eq!(
            id_of(&SUBNET, &bare, "a").unwrap(),
            "subnet-0123456789abcdef0"
        );
        assert!(id_of(&INSTANCE, &bare, "a").is_err());
    }
}
