//! The IAM policies rectify needs, least privilege: the permission policy
//! of the role it assumes in a member account (from the actions the
//! enabled rules use), that role's trust policy, and the policy of
//! rectify's own identity. `rectify iam-policy` prints them.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// What a member role's policy is scoped to.
#[derive(Debug, Clone, Copy)]
pub struct MemberScope<'a> {
    /// The account the role is in; `None`: any (`*`).
    pub account: Option<&'a str>,
    pub partition: &'a str,
    /// The account's `regions`; empty: every region.
    pub regions: &'a [String],
    /// The exemption tag: writes to a resource carrying it are refused by
    /// IAM itself, whatever rectify does.
    pub exempt_tag: &'a str,
}

/// How far IAM lets a permission be narrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    /// Calls on one bucket: bucket ARNs, in the account (`s3:ResourceAccount`).
    Bucket,
    /// Writes to a security group of the account, unless exempt.
    SecurityGroupWrite,
    /// Writes to a snapshot of the account, unless exempt.
    SnapshotWrite,
    /// IAM is global: no resource-level or region narrowing for the
    /// account password policy.
    Global,
    /// No resource-level permissions (listings, account settings): `*`,
    /// in the account's regions.
    Regional,
}

fn scope_of(permission: &str) -> Scope {
    match permission {
        // Account-level S3 calls have no bucket to narrow to.
        "s3:ListAllMyBuckets"
        | "s3:GetAccountPublicAccessBlock"
        | "s3:PutAccountPublicAccessBlock" => Scope::Regional,
        p if p.starts_with("s3:") => Scope::Bucket,
        "ec2:RevokeSecurityGroupIngress"
        | "ec2:RevokeSecurityGroupEgress"
        | "ec2:AuthorizeSecurityGroupIngress"
        | "ec2:AuthorizeSecurityGroupEgress"
        | "ec2:ModifySecurityGroupRules" => Scope::SecurityGroupWrite,
        "ec2:ModifySnapshotAttribute" => Scope::SnapshotWrite,
        p if p.starts_with("iam:") => Scope::Global,
        _ => Scope::Regional,
    }
}

/// The statement id of a scope.
fn sid_of(scope: Scope) -> &'static str {
    match scope {
        Scope::Bucket => "BucketsOfTheAccount",
        Scope::SecurityGroupWrite => "SecurityGroupWritesUnlessExempt",
        Scope::SnapshotWrite => "SnapshotWritesUnlessExempt",
        Scope::Global => "AccountWideIam",
        Scope::Regional => "ReadsAndAccountSettings",
    }
}

/// `Condition` entries: `operator -> key -> value`.
type Conditions = BTreeMap<&'static str, Map<String, Value>>;

fn condition(conditions: &mut Conditions, operator: &'static str, key: String, value: Value) {
    conditions.entry(operator).or_default().insert(key, value);
}

/// The permission policy of the role rectify assumes in a member account:
/// the given IAM actions, each narrowed as far as IAM allows (bucket and
/// group and snapshot ARNs of the account, the account's regions, and no
/// write to a resource that carries the exemption tag).
pub fn member_policy<'p>(
    permissions: impl IntoIterator<Item = &'p str>,
    scope: MemberScope,
) -> Value {
    let mut grouped: BTreeMap<Scope, Vec<&str>> = BTreeMap::new();
    for p in permissions {
        let list = grouped.entry(scope_of(p)).or_default();
        if !list.contains(&p) {
            list.push(p);
        }
    }
    let account = scope.account.unwrap_or("*");
    let partition = scope.partition;
    let regions: Vec<Value> = scope.regions.iter().map(|r| json!(r)).collect();
    let mut statements = Vec::new();
    for (kind, mut actions) in grouped {
        actions.sort_unstable();
        let mut conditions = Conditions::new();
        if kind != Scope::Global && !regions.is_empty() {
            condition(
                &mut conditions,
                "StringEquals",
                "aws:RequestedRegion".into(),
                Value::Array(regions.clone()),
            );
        }
        let resource = match kind {
            Scope::Bucket => {
                if let Some(account) = scope.account {
                    condition(
                        &mut conditions,
                        "StringEquals",
                        "s3:ResourceAccount".into(),
                        json!(account),
                    );
                }
                json!(format!("arn:{partition}:s3:::*"))
            }
            Scope::SecurityGroupWrite => {
                condition(
                    &mut conditions,
                    "Null",
                    format!("aws:ResourceTag/{}", scope.exempt_tag),
                    json!("true"),
                );
                json!(format!("arn:{partition}:ec2:*:{account}:security-group/*"))
            }
            Scope::SnapshotWrite => {
                condition(
                    &mut conditions,
                    "Null",
                    format!("aws:ResourceTag/{}", scope.exempt_tag),
                    json!("true"),
                );
                if let Some(account) = scope.account {
                    condition(
                        &mut conditions,
                        "StringEquals",
                        "aws:ResourceAccount".into(),
                        json!(account),
                    );
                }
                // Snapshot ARNs name no account.
                json!(format!("arn:{partition}:ec2:*::snapshot/*"))
            }
            Scope::Global | Scope::Regional => json!("*"),
        };
        let mut statement = json!({
            "Sid": sid_of(kind),
            "Effect": "Allow",
            "Action": actions,
            "Resource": resource,
        });
        if !conditions.is_empty() {
            statement["Condition"] = serde_json::to_value(&conditions).expect("plain map");
        }
        statements.push(statement);
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The trust policy of a member role: only `principal` (rectify's own
/// identity, an exact role or user ARN) may assume it, and only with the
/// account's external id when it has one.
pub fn trust_policy(principal: &str, external_id: Option<&str>) -> Value {
    let mut statement = json!({
        "Sid": "RectifyAssumesThisRole",
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": "sts:AssumeRole",
    });
    if let Some(id) = external_id {
        statement["Condition"] = json!({"StringEquals": {"sts:ExternalId": id}});
    }
    json!({"Version": "2012-10-17", "Statement": [statement]})
}

/// What rectify's own identity acts on.
#[derive(Debug, Clone, Default)]
pub struct OwnScope {
    pub partition: String,
    /// The member accounts' roles.
    pub role_arns: Vec<String>,
    /// `aws.securityhub.role_arn`: the role that updates findings, if any.
    pub securityhub_role_arn: Option<String>,
    /// The notification channels' SNS topics.
    pub topic_arns: Vec<String>,
    /// The SQS sources' queue ARNs.
    pub queue_arns: Vec<String>,
    /// The `from` addresses of the SES notification channels.
    pub ses_senders: Vec<String>,
    /// `audit.kms_key_id`: the KMS HMAC key the audit key is derived from
    /// (an ARN, a key id or an alias).
    pub audit_kms_key: Option<String>,
    /// `audit.anchor.s3_bucket` and `prefix`: where the chain head is
    /// anchored.
    pub anchor: Option<(String, String)>,
}

/// The policy of rectify's own identity: assume the member roles, update
/// findings (and read them back, and poll them: `GetFindings`) unless a
/// Security Hub role does,
/// publish to the notification topics, send mail from the SES channels'
/// senders, read the source queues.
pub fn own_policy(scope: &OwnScope) -> Value {
    let partition = scope.partition.as_str();
    let mut statements = Vec::new();
    let mut roles: Vec<&str> = scope.role_arns.iter().map(String::as_str).collect();
    roles.extend(scope.securityhub_role_arn.as_deref());
    roles.sort_unstable();
    roles.dedup();
    if !roles.is_empty() {
        statements.push(json!({
            "Sid": "AssumeTheMemberRoles",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": roles,
        }));
    }
    if scope.securityhub_role_arn.is_none() {
        // BatchGetSecurityControls: the controls' parameters (EC2.18's
        // authorized ports, IAM.7's values) that decide compliance.
        let mut actions = vec![
            "securityhub:BatchUpdateFindings",
            "securityhub:GetFindings",
            "securityhub:BatchGetSecurityControls",
        ];
        actions.sort_unstable();
        statements.push(json!({
            "Sid": "UpdateFindings",
            "Effect": "Allow",
            "Action": actions,
            "Resource": format!("arn:{partition}:securityhub:*:*:hub/default"),
        }));
    }
    if !scope.topic_arns.is_empty() {
        let mut topics = scope.topic_arns.clone();
        topics.sort_unstable();
        topics.dedup();
        statements.push(json!({
            "Sid": "PublishToTheChannels",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": topics,
        }));
    }
    if !scope.ses_senders.is_empty() {
        let mut senders = scope.ses_senders.clone();
        senders.sort_unstable();
        senders.dedup();
        // SES authorises SendEmail on the sending identity; the condition
        // keeps rectify to the configured senders.
        statements.push(json!({
            "Sid": "MailThroughSes",
            "Effect": "Allow",
            "Action": "ses:SendEmail",
            "Resource": format!("arn:{partition}:ses:*:*:identity/*"),
            "Condition": {"StringEquals": {"ses:FromAddress": senders}},
        }));
    }
    if !scope.queue_arns.is_empty() {
        let mut queues = scope.queue_arns.clone();
        queues.sort_unstable();
        queues.dedup();
        statements.push(json!({
            "Sid": "ReadTheSourceQueues",
            "Effect": "Allow",
            "Action": [
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage",
            ],
            "Resource": queues,
        }));
    }
    if let Some(key) = &scope.audit_kms_key {
        let mut statement = json!({
            "Sid": "AuditKey",
            "Effect": "Allow",
            "Action": ["kms:GenerateMac", "kms:VerifyMac"],
        });
        if key.starts_with("arn:") {
            statement["Resource"] = json!(key);
        } else if key.starts_with("alias/") {
            statement["Resource"] = json!(format!("arn:{partition}:kms:*:*:key/*"));
            statement["Condition"] =
                json!({"ForAnyValue:StringEquals": {"kms:ResourceAliases": key}});
        } else {
            statement["Resource"] = json!(format!("arn:{partition}:kms:*:*:key/{key}"));
        }
        statements.push(statement);
    }
    if let Some((bucket, prefix)) = &scope.anchor {
        let objects = if prefix.is_empty() {
            format!("arn:{partition}:s3:::{bucket}/*")
        } else {
            format!("arn:{partition}:s3:::{bucket}/{prefix}/*")
        };
        statements.push(json!({
            "Sid": "AuditAnchorBucket",
            "Effect": "Allow",
            "Action": ["s3:GetBucketObjectLockConfiguration", "s3:ListBucket"],
            "Resource": format!("arn:{partition}:s3:::{bucket}"),
        }));
        statements.push(json!({
            "Sid": "AuditAnchors",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:PutObjectRetention"],
            "Resource": objects,
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The ARN of an SQS queue from its URL
/// (`https://sqs.<region>.amazonaws.com/<account>/<name>`), in `region`.
pub fn queue_arn(queue_url: &str, region: &str) -> Option<String> {
    let mut parts = queue_url.trim_end_matches('/').rsplit('/');
    let name = parts.next().filter(|n| !n.is_empty())?;
    let account = parts.next().filter(|a| a.len() == 12)?;
    let partition = rectify_model::partition_of(region);
    Some(format!("arn:{partition}:sqs:{region}:{account}:{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement<'v>(policy: &'v Value, sid: &str) -> &'v Value {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement {sid} in {policy:#}"))
    }

    #[test]
    fn member_policy_is_scoped() {
        let regions = vec!["eu-west-1".to_string(), "eu-central-1".to_string()];
        let policy = member_policy(
            [
                "s3:GetBucketPublicAccessBlock",
                "s3:PutBucketPublicAccessBlock",
                "s3:ListAllMyBuckets",
                "ec2:DescribeSecurityGroups",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:ModifySnapshotAttribute",
                "iam:UpdateAccountPasswordPolicy",
                "ec2:DescribeSecurityGroups",
            ],
            MemberScope {
                account: Some("111122223333"),
                partition: "aws",
                regions: &regions,
                exempt_tag: "rectify:exempt",
            },
        );
        let buckets = statement(&policy, "BucketsOfTheAccount");
        assert_eq!(buckets["Resource"], "arn:aws:s3:::*");
        assert_eq!(
            buckets["Condition"]["StringEquals"]["s3:ResourceAccount"],
            "111122223333"
        );
        assert_eq!(
            buckets["Condition"]["StringEquals"]["aws:RequestedRegion"],
            json!(["eu-west-1", "eu-central-1"])
        );
        let groups = statement(&policy, "SecurityGroupWritesUnlessExempt");
        assert_eq!(
            groups["Action"],
            json!([
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupIngress"
            ])
        );
        assert_eq!(
            groups["Resource"],
            "arn:aws:ec2:*:111122223333:security-group/*"
        );
        assert_eq!(
            groups["Condition"]["Null"]["aws:ResourceTag/rectify:exempt"],
            "true"
        );
        let snapshots = statement(&policy, "SnapshotWritesUnlessExempt");
        assert_eq!(snapshots["Resource"], "arn:aws:ec2:*::snapshot/*");
        assert_eq!(
            snapshots["Condition"]["StringEquals"]["aws:ResourceAccount"],
            "111122223333"
        );
        let iam = statement(&policy, "AccountWideIam");
        assert_eq!(iam["Resource"], "*");
        assert!(iam.get("Condition").is_none(), "IAM is global: {iam}");
        let reads = statement(&policy, "ReadsAndAccountSettings");
        assert_eq!(
            reads["Action"],
            json!(["ec2:DescribeSecurityGroups", "s3:ListAllMyBuckets"])
        );
        // Every permission given, once; nothing else.
        let mut all: Vec<&str> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["Action"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap())
            })
            .collect();
        all.sort_unstable();
        assert_eq!(all.len(), 8, "{all:?}");
        assert!(all.iter().all(|a| !a.contains('*')));
    }

    #[test]
    fn account_level_s3_calls_are_not_bucket_scoped() {
        for p in [
            "s3:ListAllMyBuckets",
            "s3:GetAccountPublicAccessBlock",
            "s3:PutAccountPublicAccessBlock",
        ] {
            assert_eq!(scope_of(p), Scope::Regional, "{p}");
        }
        assert_eq!(scope_of("s3:PutBucketPolicy"), Scope::Bucket);
    }

    #[test]
    fn trust_and_own_policies() {
        let trust = trust_policy("arn:aws:iam::999988887777:role/rectify", Some("ext-1"));
        let s = &trust["Statement"][0];
        assert_eq!(
            s["Principal"]["AWS"],
            "arn:aws:iam::999988887777:role/rectify"
        );
        assert_eq!(s["Condition"]["StringEquals"]["sts:ExternalId"], "ext-1");
        assert!(
            trust_policy("arn:aws:iam::999988887777:user/r", None)["Statement"][0]
                .get("Condition")
                .is_none()
        );

        let own = own_policy(&OwnScope {
            partition: "aws".into(),
            role_arns: vec!["arn:aws:iam::111122223333:role/rectify".into()],
            securityhub_role_arn: None,
            topic_arns: vec!["arn:aws:sns:eu-west-1:999988887777:t".into()],
            queue_arns: vec![queue_arn(
                "https://sqs.eu-west-1.amazonaws.com/999988887777/q",
                "eu-west-1",
            )
            .unwrap()],
            ses_senders: vec!["rectify@example.com".into()],
            audit_kms_key: Some("alias/rectify-audit".into()),
            anchor: Some(("anchors".into(), "prod/rectify".into())),
        });
        let ses = statement(&own, "MailThroughSes");
        assert_eq!(ses["Action"], "ses:SendEmail");
        assert_eq!(
            ses["Condition"]["StringEquals"]["ses:FromAddress"],
            json!(["rectify@example.com"])
        );
        assert_eq!(
            statement(&own, "AssumeTheMemberRoles")["Resource"],
            json!(["arn:aws:iam::111122223333:role/rectify"])
        );
        assert_eq!(
            statement(&own, "UpdateFindings")["Resource"],
            "arn:aws:securityhub:*:*:hub/default"
        );
        assert_eq!(
            statement(&own, "UpdateFindings")["Action"],
            json!([
                "securityhub:BatchGetSecurityControls",
                "securityhub:BatchUpdateFindings",
                "securityhub:GetFindings"
            ])
        );
        assert_eq!(
            statement(&own, "PublishToTheChannels")["Resource"],
            json!(["arn:aws:sns:eu-west-1:999988887777:t"])
        );
        assert_eq!(
            statement(&own, "ReadTheSourceQueues")["Resource"],
            json!(["arn:aws:sqs:eu-west-1:999988887777:q"])
        );
        let key = statement(&own, "AuditKey");
        assert_eq!(
            key["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"],
            "alias/rectify-audit"
        );
        assert_eq!(
            statement(&own, "AuditAnchors")["Resource"],
            "arn:aws:s3:::anchors/prod/rectify/*"
        );
        assert_eq!(
            statement(&own, "AuditAnchorBucket")["Resource"],
            "arn:aws:s3:::anchors"
        );
    }
}
