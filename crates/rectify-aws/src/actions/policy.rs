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

/// A kind of resource a write names, as IAM narrows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Resource {
    SecurityGroup,
    Ec2Snapshot,
    Subnet,
    Instance,
    /// Volumes, their snapshots and the instances they attach to (an
    /// encrypted copy of a volume swapped in).
    Volume,
    /// An internet gateway and the VPC it is attached to.
    InternetGateway,
    /// CreateFlowLogs names the VPC (subnet, interface) and the new flow
    /// log; DeleteFlowLogs the flow log.
    FlowLogs,
    RdsInstance,
    RdsSnapshot,
    RdsClusterSnapshot,
    LambdaFunction,
    SsmDocument,
    KmsKey,
    SqsQueue,
    SnsTopic,
    EcrRepository,
    RedshiftCluster,
    Trail,
    LogGroup,
    Alarm,
    Detector,
    /// Access keys and console passwords of IAM users.
    IamUser,
    /// Inline policies of IAM roles (a containment).
    IamRole,
    /// An interface's security groups: the interface and the groups.
    NetworkInterface,
    /// A security group made in a VPC (the quarantine group).
    NewSecurityGroup,
}

impl Resource {
    /// The statement id of writes to this kind.
    fn sid(self) -> &'static str {
        match self {
            Resource::SecurityGroup => "SecurityGroupWritesUnlessExempt",
            Resource::Ec2Snapshot => "SnapshotWritesUnlessExempt",
            Resource::Subnet => "SubnetWritesUnlessExempt",
            Resource::Instance => "InstanceWritesUnlessExempt",
            Resource::Volume => "VolumeWritesUnlessExempt",
            Resource::InternetGateway => "InternetGatewayWritesUnlessExempt",
            Resource::FlowLogs => "FlowLogWritesUnlessExempt",
            Resource::RdsInstance => "DbInstanceWritesUnlessExempt",
            Resource::RdsSnapshot => "DbSnapshotWritesUnlessExempt",
            Resource::RdsClusterSnapshot => "DbClusterSnapshotWritesUnlessExempt",
            Resource::LambdaFunction => "FunctionWritesUnlessExempt",
            Resource::SsmDocument => "DocumentWritesUnlessExempt",
            Resource::KmsKey => "KeyWritesUnlessExempt",
            Resource::SqsQueue => "QueueWritesUnlessExempt",
            Resource::SnsTopic => "TopicWritesUnlessExempt",
            Resource::EcrRepository => "RepositoryWritesUnlessExempt",
            Resource::RedshiftCluster => "RedshiftClusterWritesUnlessExempt",
            Resource::Trail => "TrailWritesUnlessExempt",
            Resource::LogGroup => "LogGroupWritesUnlessExempt",
            Resource::Alarm => "AlarmWritesUnlessExempt",
            Resource::Detector => "DetectorWritesUnlessExempt",
            Resource::IamUser => "UserCredentialWritesUnlessExempt",
            Resource::IamRole => "RolePolicyWritesUnlessExempt",
            Resource::NetworkInterface => "InterfaceGroupWritesUnlessExempt",
            Resource::NewSecurityGroup => "SecurityGroupCreationUnlessExempt",
        }
    }

    /// The ARN patterns of the account's resources of this kind (`{p}`:
    /// partition, `{a}`: account).
    fn patterns(self) -> &'static [&'static str] {
        match self {
            Resource::SecurityGroup => &["arn:{p}:ec2:*:{a}:security-group/*"],
            // Snapshot ARNs name no account (aws:ResourceAccount instead).
            Resource::Ec2Snapshot => &["arn:{p}:ec2:*::snapshot/*"],
            Resource::Subnet => &["arn:{p}:ec2:*:{a}:subnet/*"],
            Resource::Instance => &["arn:{p}:ec2:*:{a}:instance/*"],
            // Snapshot ARNs name no account; the snapshots here are the
            // ones the action makes (and deletes) in the account.
            Resource::Volume => &[
                "arn:{p}:ec2:*:{a}:volume/*",
                "arn:{p}:ec2:*:{a}:instance/*",
                "arn:{p}:ec2:*::snapshot/*",
            ],
            Resource::InternetGateway => &[
                "arn:{p}:ec2:*:{a}:internet-gateway/*",
                "arn:{p}:ec2:*:{a}:vpc/*",
            ],
            Resource::FlowLogs => &[
                "arn:{p}:ec2:*:{a}:vpc/*",
                "arn:{p}:ec2:*:{a}:subnet/*",
                "arn:{p}:ec2:*:{a}:network-interface/*",
                "arn:{p}:ec2:*:{a}:vpc-flow-log/*",
            ],
            Resource::RdsInstance => &["arn:{p}:rds:*:{a}:db:*"],
            Resource::RdsSnapshot => &["arn:{p}:rds:*:{a}:snapshot:*"],
            Resource::RdsClusterSnapshot => &["arn:{p}:rds:*:{a}:cluster-snapshot:*"],
            Resource::LambdaFunction => &["arn:{p}:lambda:*:{a}:function:*"],
            Resource::SsmDocument => &["arn:{p}:ssm:*:{a}:document/*"],
            Resource::KmsKey => &["arn:{p}:kms:*:{a}:key/*"],
            Resource::SqsQueue => &["arn:{p}:sqs:*:{a}:*"],
            Resource::SnsTopic => &["arn:{p}:sns:*:{a}:*"],
            Resource::EcrRepository => &["arn:{p}:ecr:*:{a}:repository/*"],
            Resource::RedshiftCluster => &["arn:{p}:redshift:*:{a}:cluster:*"],
            Resource::Trail => &["arn:{p}:cloudtrail:*:{a}:trail/*"],
            Resource::LogGroup => &["arn:{p}:logs:*:{a}:log-group:*"],
            Resource::Alarm => &["arn:{p}:cloudwatch:*:{a}:alarm:*"],
            Resource::Detector => &["arn:{p}:guardduty:*:{a}:detector/*"],
            Resource::IamUser => &["arn:{p}:iam::{a}:user/*"],
            Resource::IamRole => &["arn:{p}:iam::{a}:role/*"],
            Resource::NetworkInterface => &[
                "arn:{p}:ec2:*:{a}:network-interface/*",
                "arn:{p}:ec2:*:{a}:security-group/*",
            ],
            Resource::NewSecurityGroup => &[
                "arn:{p}:ec2:*:{a}:security-group/*",
                "arn:{p}:ec2:*:{a}:vpc/*",
            ],
        }
    }

    /// Whether the ARN names no account, so that `aws:ResourceAccount`
    /// keeps the write in the account.
    fn names_no_account(self) -> bool {
        matches!(self, Resource::Ec2Snapshot | Resource::Volume)
    }

    /// IAM is global: its ARNs have no region and its calls go to one
    /// endpoint, so no `aws:RequestedRegion` condition.
    fn is_global(self) -> bool {
        matches!(self, Resource::IamUser | Resource::IamRole)
    }
}

/// How far IAM lets a permission be narrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    /// Calls on one bucket: bucket ARNs, in the account (`s3:ResourceAccount`).
    Bucket,
    /// A write to a resource of the account, refused by IAM when the
    /// resource carries the exemption tag (`aws:ResourceTag/<tag>` Null).
    /// Every service here evaluates `aws:ResourceTag` for the action's
    /// resource (EC2, RDS, Lambda functions, SSM documents, KMS keys, SQS,
    /// SNS topics, ECR, Redshift, CloudTrail trails, CloudWatch Logs groups
    /// and alarms, GuardDuty detectors, IAM users); where a request carries
    /// no such key the Null condition holds, so the statement never denies
    /// more than the ARN does.
    WriteUnlessExempt(Resource),
    /// Tags EC2 sets on a resource it creates (`ec2:CreateAction`), never on
    /// an existing one.
    TagOnCreate,
    /// KMS keys of the account used by EC2 on rectify's behalf (encrypted
    /// snapshots and volumes): only through EC2 (`kms:ViaService`), grants
    /// only for AWS resources. The key is used, not changed: no exemption.
    KeyUseThroughEc2,
    /// SSM service settings of the account (no tags).
    SsmServiceSetting,
    /// `iam:PassRole`: roles of the account, passed only to the services
    /// whose calls take one.
    PassRole,
    /// `iam:CreateServiceLinkedRole`: only the service-linked roles of the
    /// services the actions turn on.
    ServiceLinkedRole,
    /// IAM is global: no region narrowing (the password policy, listings
    /// and reads of users).
    Global,
    /// No resource-level permissions (listings, reads, account settings
    /// such as S3 account Block Public Access, EBS defaults, GuardDuty's
    /// CreateDetector, AWS Config's recorder and delivery channel, log
    /// deliveries of flow logs): `*`, in the account's regions.
    Regional,
}

/// The statement that lets instance isolation tag the instance, and the
/// one tag key it may set.
pub const ISOLATION_TAG_SID: &str = "IsolationTagOnInstances";
const ISOLATION_TAG_KEY: &str = crate::actions::ec2::isolate_instance::ISOLATED_TAG;

/// Which call passes a role (`iam:PassRole`) to which service.
const PASSED_BY: &[(&str, &str)] = &[
    ("cloudtrail:UpdateTrail", "cloudtrail.amazonaws.com"),
    ("cloudtrail:CreateTrail", "cloudtrail.amazonaws.com"),
    ("ec2:CreateFlowLogs", "vpc-flow-logs.amazonaws.com"),
    ("config:PutConfigurationRecorder", "config.amazonaws.com"),
];

/// Which call makes a service create its service-linked role.
const LINKED_BY: &[(&str, &str)] = &[
    ("guardduty:CreateDetector", "guardduty.amazonaws.com"),
    ("config:PutConfigurationRecorder", "config.amazonaws.com"),
];

fn scope_of(permission: &str) -> Scope {
    use Resource::*;
    let write = Scope::WriteUnlessExempt;
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
        | "ec2:ModifySecurityGroupRules" => write(SecurityGroup),
        "ec2:ModifySnapshotAttribute" => write(Ec2Snapshot),
        "ec2:ModifySubnetAttribute" => write(Subnet),
        "ec2:ModifyInstanceMetadataOptions" | "ec2:StopInstances" | "ec2:StartInstances" => {
            write(Instance)
        }
        "ec2:CreateSnapshot" | "ec2:CopySnapshot" | "ec2:DeleteSnapshot" | "ec2:CreateVolume"
        | "ec2:DeleteVolume" | "ec2:AttachVolume" | "ec2:DetachVolume" => write(Volume),
        "ec2:CreateFlowLogs" | "ec2:DeleteFlowLogs" => write(FlowLogs),
        "ec2:DetachInternetGateway" | "ec2:AttachInternetGateway" => write(InternetGateway),
        "ec2:ModifyNetworkInterfaceAttribute" => write(NetworkInterface),
        "ec2:CreateSecurityGroup" => write(NewSecurityGroup),
        "ec2:CreateTags" => Scope::TagOnCreate,
        "rds:ModifyDBInstance" => write(RdsInstance),
        "rds:ModifyDBSnapshotAttribute" => write(RdsSnapshot),
        "rds:ModifyDBClusterSnapshotAttribute" => write(RdsClusterSnapshot),
        "lambda:AddPermission" | "lambda:RemovePermission" => write(LambdaFunction),
        "ssm:ModifyDocumentPermission" => write(SsmDocument),
        "ssm:UpdateServiceSetting" | "ssm:ResetServiceSetting" => Scope::SsmServiceSetting,
        "kms:EnableKeyRotation" | "kms:DisableKeyRotation" => write(KmsKey),
        "kms:CreateGrant"
        | "kms:GenerateDataKeyWithoutPlaintext"
        | "kms:ReEncryptFrom"
        | "kms:ReEncryptTo"
        | "kms:Decrypt" => Scope::KeyUseThroughEc2,
        "sqs:SetQueueAttributes" => write(SqsQueue),
        "sns:SetTopicAttributes" => write(SnsTopic),
        "ecr:PutImageScanningConfiguration" => write(EcrRepository),
        "redshift:ModifyCluster" => write(RedshiftCluster),
        "cloudtrail:CreateTrail"
        | "cloudtrail:UpdateTrail"
        | "cloudtrail:StartLogging"
        | "cloudtrail:StopLogging"
        | "cloudtrail:PutEventSelectors"
        | "cloudtrail:DeleteTrail" => write(Trail),
        "logs:PutMetricFilter"
        | "logs:DeleteMetricFilter"
        | "logs:PutRetentionPolicy"
        | "logs:DeleteRetentionPolicy"
        | "logs:AssociateKmsKey"
        | "logs:DisassociateKmsKey" => write(LogGroup),
        "cloudwatch:PutMetricAlarm" | "cloudwatch:DeleteAlarms" => write(Alarm),
        "guardduty:UpdateDetector" | "guardduty:DeleteDetector" => write(Detector),
        "iam:UpdateAccessKey"
        | "iam:DeleteAccessKey"
        | "iam:DeleteLoginProfile"
        | "iam:CreateLoginProfile"
        | "iam:UpdateLoginProfile" => write(IamUser),
        "iam:PutRolePolicy" | "iam:DeleteRolePolicy" => write(IamRole),
        "iam:PassRole" => Scope::PassRole,
        "iam:CreateServiceLinkedRole" => Scope::ServiceLinkedRole,
        p if p.starts_with("iam:") => Scope::Global,
        _ => Scope::Regional,
    }
}

/// The statement id of a scope.
fn sid_of(scope: Scope) -> &'static str {
    match scope {
        Scope::Bucket => "BucketsOfTheAccount",
        Scope::WriteUnlessExempt(r) => r.sid(),
        Scope::TagOnCreate => "TagsOnCreate",
        Scope::KeyUseThroughEc2 => "KeysUsedThroughEc2",
        Scope::SsmServiceSetting => "SsmServiceSettingsOfTheAccount",
        Scope::PassRole => "PassRolesToServices",
        Scope::ServiceLinkedRole => "ServiceLinkedRoles",
        Scope::Global => "AccountWideIam",
        Scope::Regional => "ReadsAndAccountSettings",
    }
}

/// `Condition` entries: `operator -> key -> value`.
type Conditions = BTreeMap<&'static str, Map<String, Value>>;

fn condition(conditions: &mut Conditions, operator: &'static str, key: String, value: Value) {
    conditions.entry(operator).or_default().insert(key, value);
}

/// The services named by `table` whose calls are among `actions`.
fn services_called(table: &[(&str, &'static str)], actions: &[&str]) -> Vec<&'static str> {
    let mut services: Vec<&'static str> = table
        .iter()
        .filter(|(call, _)| actions.contains(call))
        .map(|(_, service)| *service)
        .collect();
    services.sort_unstable();
    services.dedup();
    services
}

/// The permission policy of the role rectify assumes in a member account:
/// the given IAM actions, each narrowed as far as IAM allows (resource ARNs
/// of the account, the account's regions, and no write to a resource that
/// carries the exemption tag).
pub fn member_policy<'p>(
    permissions: impl IntoIterator<Item = &'p str>,
    scope: MemberScope,
) -> Value {
    member_policy_passing(permissions, scope, &[])
}

/// [`member_policy`], with `iam:PassRole` limited to `passed_roles` (the
/// role ARNs the rules' params name: a trail's CloudWatch Logs role, a
/// flow log's delivery role) when there are any in the account; else to
/// every role of the account, still only to the services that take one
/// (`iam:PassedToService`).
pub fn member_policy_passing<'p>(
    permissions: impl IntoIterator<Item = &'p str>,
    scope: MemberScope,
    passed_roles: &[&str],
) -> Value {
    let mut all: Vec<&str> = Vec::new();
    let mut grouped: BTreeMap<Scope, Vec<&str>> = BTreeMap::new();
    for p in permissions {
        let list = grouped.entry(scope_of(p)).or_default();
        if !list.contains(&p) {
            list.push(p);
            all.push(p);
        }
    }
    let account = scope.account.unwrap_or("*");
    let partition = scope.partition;
    let arn = |pattern: &str| pattern.replace("{p}", partition).replace("{a}", account);
    let regions: Vec<Value> = scope.regions.iter().map(|r| json!(r)).collect();
    let unless_exempt = |conditions: &mut Conditions| {
        condition(
            conditions,
            "Null",
            format!("aws:ResourceTag/{}", scope.exempt_tag),
            json!("true"),
        )
    };
    let mut statements = Vec::new();
    for (kind, mut actions) in grouped {
        actions.sort_unstable();
        let mut conditions = Conditions::new();
        let global = match kind {
            Scope::WriteUnlessExempt(r) => r.is_global(),
            Scope::Global | Scope::PassRole | Scope::ServiceLinkedRole => true,
            _ => false,
        };
        if !global && !regions.is_empty() {
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
            Scope::WriteUnlessExempt(r) => {
                unless_exempt(&mut conditions);
                if r.names_no_account() {
                    if let Some(account) = scope.account {
                        condition(
                            &mut conditions,
                            "StringEquals",
                            "aws:ResourceAccount".into(),
                            json!(account),
                        );
                    }
                }
                match r.patterns() {
                    [one] => json!(arn(one)),
                    many => json!(many.iter().map(|p| arn(p)).collect::<Vec<_>>()),
                }
            }
            Scope::TagOnCreate => {
                let mut creating: Vec<&str> = all
                    .iter()
                    .filter_map(|p| p.strip_prefix("ec2:"))
                    .filter(|call| {
                        (call.starts_with("Create") || call.starts_with("Copy"))
                            && *call != "CreateTags"
                    })
                    .collect();
                creating.sort_unstable();
                condition(
                    &mut conditions,
                    "StringEquals",
                    "ec2:CreateAction".into(),
                    json!(creating),
                );
                json!(arn("arn:{p}:ec2:*:{a}:*"))
            }
            Scope::KeyUseThroughEc2 => {
                if regions.is_empty() {
                    condition(
                        &mut conditions,
                        "StringLike",
                        "kms:ViaService".into(),
                        json!("ec2.*.amazonaws.com"),
                    );
                } else {
                    let via: Vec<String> = scope
                        .regions
                        .iter()
                        .map(|r| format!("ec2.{r}.amazonaws.com"))
                        .collect();
                    condition(
                        &mut conditions,
                        "StringEquals",
                        "kms:ViaService".into(),
                        json!(via),
                    );
                }
                if actions.contains(&"kms:CreateGrant") {
                    condition(
                        &mut conditions,
                        "Bool",
                        "kms:GrantIsForAWSResource".into(),
                        json!("true"),
                    );
                }
                json!(arn("arn:{p}:kms:*:{a}:key/*"))
            }
            Scope::SsmServiceSetting => json!(arn("arn:{p}:ssm:*:{a}:servicesetting/*")),
            Scope::PassRole => {
                condition(
                    &mut conditions,
                    "StringEquals",
                    "iam:PassedToService".into(),
                    json!(services_called(PASSED_BY, &all)),
                );
                let prefix = arn("arn:{p}:iam::{a}:role/");
                let mut named: Vec<&str> = passed_roles
                    .iter()
                    .copied()
                    .filter(|r| scope.account.is_some() && r.starts_with(&prefix))
                    .filter(|r| r.len() > prefix.len() && !r.contains('*'))
                    .collect();
                named.sort_unstable();
                named.dedup();
                if named.is_empty() {
                    json!(format!("{prefix}*"))
                } else {
                    json!(named)
                }
            }
            Scope::ServiceLinkedRole => {
                let services = services_called(LINKED_BY, &all);
                if services.is_empty() {
                    // No known caller: service-linked roles only, any service.
                    json!(arn("arn:{p}:iam::{a}:role/aws-service-role/*"))
                } else {
                    condition(
                        &mut conditions,
                        "StringEquals",
                        "iam:AWSServiceName".into(),
                        json!(services),
                    );
                    json!(services
                        .iter()
                        .map(|s| arn(&format!("arn:{{p}}:iam::{{a}}:role/aws-service-role/{s}/*")))
                        .collect::<Vec<_>>())
                }
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
    // Instance isolation tags the instance it isolates: an existing
    // resource, which the tags-on-create statement does not reach. Only
    // its own tag key, only on instances, never on an exempt one.
    if all.contains(&"ec2:CreateTags") && all.contains(&"ec2:ModifyNetworkInterfaceAttribute") {
        let mut conditions = Conditions::new();
        if !regions.is_empty() {
            condition(
                &mut conditions,
                "StringEquals",
                "aws:RequestedRegion".into(),
                Value::Array(regions.clone()),
            );
        }
        unless_exempt(&mut conditions);
        condition(
            &mut conditions,
            "ForAllValues:StringEquals",
            "aws:TagKeys".into(),
            json!([ISOLATION_TAG_KEY]),
        );
        statements.push(json!({
            "Sid": ISOLATION_TAG_SID,
            "Effect": "Allow",
            "Action": ["ec2:CreateTags"],
            "Resource": arn("arn:{p}:ec2:*:{a}:instance/*"),
            "Condition": serde_json::to_value(&conditions).expect("plain map"),
        }));
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
    /// Whether a rule can answer an OCSF finding of the new Security Hub
    /// (`Findings Imported V2`), whose update needs the V2 operations.
    pub ocsf_findings: bool,
    /// `detect.security_hub`: the detections are imported as findings of
    /// the account's own product (`BatchImportFindings`).
    pub import_findings: bool,
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
    /// `accounts.from_organizations`: what reading the organization needs.
    pub organization: Option<OrganizationScope>,
}

/// What `accounts.from_organizations` makes rectify's own identity do.
#[derive(Debug, Clone, Default)]
pub struct OrganizationScope {
    /// The member role in every account read: `role_arn` with `{account}`
    /// as `*`.
    pub role_arn_any_account: String,
    /// Owners read from the SECURITY alternate contact.
    pub security_contact: bool,
}

/// The policy of rectify's own identity: assume the member roles, update
/// findings (and read them back, and poll them: `GetFindings`; OCSF
/// findings through `GetFindingsV2` and `BatchUpdateFindingsV2` when a rule
/// can answer one) unless a Security Hub role does,
/// publish to the notification topics, send mail from the SES channels'
/// senders, read the source queues.
pub fn own_policy(scope: &OwnScope) -> Value {
    let partition = scope.partition.as_str();
    let mut statements = Vec::new();
    let mut roles: Vec<&str> = scope.role_arns.iter().map(String::as_str).collect();
    roles.extend(scope.securityhub_role_arn.as_deref());
    roles.extend(
        scope
            .organization
            .as_ref()
            .map(|o| o.role_arn_any_account.as_str()),
    );
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
        if scope.ocsf_findings {
            actions.extend([
                "securityhub:BatchUpdateFindingsV2",
                "securityhub:GetFindingsV2",
            ]);
        }
        actions.sort_unstable();
        statements.push(json!({
            "Sid": "UpdateFindings",
            "Effect": "Allow",
            "Action": actions,
            "Resource": format!("arn:{partition}:securityhub:*:*:hub/default"),
        }));
        if scope.import_findings {
            // BatchImportFindings is authorised on the product the findings
            // name: each account's own (`product/<account>/default`).
            statements.push(json!({
                "Sid": "ImportDetections",
                "Effect": "Allow",
                "Action": "securityhub:BatchImportFindings",
                "Resource": format!("arn:{partition}:securityhub:*:*:product/*/default"),
            }));
        }
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
    if let Some(org) = &scope.organization {
        // Organizations' list calls take no resource narrower than `*`.
        statements.push(json!({
            "Sid": "ReadTheOrganization",
            "Effect": "Allow",
            "Action": [
                "organizations:ListAccountsForParent",
                "organizations:ListOrganizationalUnitsForParent",
                "organizations:ListRoots",
                "organizations:ListTagsForResource",
            ],
            "Resource": "*",
        }));
        if org.security_contact {
            statements.push(json!({
                "Sid": "ReadTheOwnersContact",
                "Effect": "Allow",
                "Action": "account:GetAlternateContact",
                // A member account's contact, read by the management account
                // or a delegated administrator; its own, read in standalone
                // form (AWS refuses its own id as AccountId).
                "Resource": [
                    format!("arn:{partition}:account::*:account/o-*/*"),
                    format!("arn:{partition}:account::*:account"),
                ],
            }));
        }
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

    const ACCOUNT: &str = "111122223333";

    fn scoped(regions: &[String]) -> MemberScope<'_> {
        MemberScope {
            account: Some(ACCOUNT),
            partition: "aws",
            regions,
            exempt_tag: "rectify:exempt",
        }
    }

    /// The statements of `policy` that grant `permission`.
    fn granting<'v>(policy: &'v Value, permission: &str) -> Vec<&'v Value> {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Sid"] != ISOLATION_TAG_SID)
            .filter(|s| {
                s["Action"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a == permission)
            })
            .collect()
    }

    /// The one statement granting `permission`.
    fn grant<'v>(policy: &'v Value, permission: &str) -> &'v Value {
        let found = granting(policy, permission);
        assert_eq!(found.len(), 1, "{permission} in {policy:#}");
        found[0]
    }

    fn resources(statement: &Value) -> Vec<String> {
        match &statement["Resource"] {
            Value::String(one) => vec![one.clone()],
            Value::Array(many) => many.iter().map(|r| r.as_str().unwrap().into()).collect(),
            other => panic!("Resource {other}"),
        }
    }

    #[test]
    fn writes_are_narrowed_to_the_accounts_resources_unless_exempt() {
        let regions = vec!["eu-west-1".to_string()];
        // (permission, its resources in the account, whether IAM is global)
        let writes: &[(&str, &[&str], bool)] = &[
            (
                "ec2:RevokeSecurityGroupEgress",
                &["arn:aws:ec2:*:111122223333:security-group/*"],
                false,
            ),
            (
                "ec2:ModifySubnetAttribute",
                &["arn:aws:ec2:*:111122223333:subnet/*"],
                false,
            ),
            (
                "ec2:DetachInternetGateway",
                &[
                    "arn:aws:ec2:*:111122223333:internet-gateway/*",
                    "arn:aws:ec2:*:111122223333:vpc/*",
                ],
                false,
            ),
            (
                "ec2:StopInstances",
                &["arn:aws:ec2:*:111122223333:instance/*"],
                false,
            ),
            (
                "ec2:AttachVolume",
                &[
                    "arn:aws:ec2:*:111122223333:volume/*",
                    "arn:aws:ec2:*:111122223333:instance/*",
                    "arn:aws:ec2:*::snapshot/*",
                ],
                false,
            ),
            (
                "ec2:ModifyInstanceMetadataOptions",
                &["arn:aws:ec2:*:111122223333:instance/*"],
                false,
            ),
            (
                "ec2:CreateFlowLogs",
                &[
                    "arn:aws:ec2:*:111122223333:vpc/*",
                    "arn:aws:ec2:*:111122223333:subnet/*",
                    "arn:aws:ec2:*:111122223333:network-interface/*",
                    "arn:aws:ec2:*:111122223333:vpc-flow-log/*",
                ],
                false,
            ),
            (
                "rds:ModifyDBInstance",
                &["arn:aws:rds:*:111122223333:db:*"],
                false,
            ),
            (
                "rds:ModifyDBSnapshotAttribute",
                &["arn:aws:rds:*:111122223333:snapshot:*"],
                false,
            ),
            (
                "rds:ModifyDBClusterSnapshotAttribute",
                &["arn:aws:rds:*:111122223333:cluster-snapshot:*"],
                false,
            ),
            (
                "lambda:RemovePermission",
                &["arn:aws:lambda:*:111122223333:function:*"],
                false,
            ),
            (
                "lambda:AddPermission",
                &["arn:aws:lambda:*:111122223333:function:*"],
                false,
            ),
            (
                "ssm:ModifyDocumentPermission",
                &["arn:aws:ssm:*:111122223333:document/*"],
                false,
            ),
            (
                "kms:EnableKeyRotation",
                &["arn:aws:kms:*:111122223333:key/*"],
                false,
            ),
            (
                "kms:DisableKeyRotation",
                &["arn:aws:kms:*:111122223333:key/*"],
                false,
            ),
            (
                "sqs:SetQueueAttributes",
                &["arn:aws:sqs:*:111122223333:*"],
                false,
            ),
            (
                "sns:SetTopicAttributes",
                &["arn:aws:sns:*:111122223333:*"],
                false,
            ),
            (
                "ecr:PutImageScanningConfiguration",
                &["arn:aws:ecr:*:111122223333:repository/*"],
                false,
            ),
            (
                "redshift:ModifyCluster",
                &["arn:aws:redshift:*:111122223333:cluster:*"],
                false,
            ),
            (
                "cloudtrail:UpdateTrail",
                &["arn:aws:cloudtrail:*:111122223333:trail/*"],
                false,
            ),
            (
                "logs:PutMetricFilter",
                &["arn:aws:logs:*:111122223333:log-group:*"],
                false,
            ),
            (
                "cloudwatch:PutMetricAlarm",
                &["arn:aws:cloudwatch:*:111122223333:alarm:*"],
                false,
            ),
            (
                "guardduty:UpdateDetector",
                &["arn:aws:guardduty:*:111122223333:detector/*"],
                false,
            ),
            (
                "guardduty:DeleteDetector",
                &["arn:aws:guardduty:*:111122223333:detector/*"],
                false,
            ),
            (
                "iam:UpdateAccessKey",
                &["arn:aws:iam::111122223333:user/*"],
                true,
            ),
            (
                "iam:DeleteLoginProfile",
                &["arn:aws:iam::111122223333:user/*"],
                true,
            ),
        ];
        let policy = member_policy(writes.iter().map(|(p, _, _)| *p), scoped(&regions));
        for (permission, arns, global) in writes {
            let s = grant(&policy, permission);
            assert_eq!(resources(s), *arns, "{permission}");
            assert_eq!(
                s["Condition"]["Null"]["aws:ResourceTag/rectify:exempt"], "true",
                "{permission}: {s}"
            );
            let region = &s["Condition"]["StringEquals"]["aws:RequestedRegion"];
            if *global {
                assert!(region.is_null(), "{permission}: {s}");
            } else {
                assert_eq!(*region, json!(["eu-west-1"]), "{permission}");
            }
            assert!(
                s["Sid"].as_str().unwrap().ends_with("WritesUnlessExempt"),
                "{permission}: {s}"
            );
        }
        // One statement per kind of resource: writes to a function never
        // share a statement with writes to a key.
        assert_eq!(
            grant(&policy, "kms:EnableKeyRotation")["Action"],
            json!(["kms:DisableKeyRotation", "kms:EnableKeyRotation"])
        );
        assert_ne!(
            grant(&policy, "lambda:AddPermission")["Sid"],
            grant(&policy, "kms:EnableKeyRotation")["Sid"]
        );
    }

    #[test]
    fn account_settings_reads_and_listings_stay_in_the_regions() {
        let regions = vec!["eu-west-1".to_string(), "eu-central-1".to_string()];
        let settings = [
            "s3:PutAccountPublicAccessBlock",
            "ec2:EnableEbsEncryptionByDefault",
            "ec2:ModifyEbsDefaultKmsKeyId",
            "guardduty:CreateDetector",
            "logs:CreateLogDelivery",
            "config:PutConfigurationRecorder",
            "rds:DescribeDBInstances",
            "sqs:ListQueues",
            "cloudtrail:DescribeTrails",
        ];
        let policy = member_policy(settings, scoped(&regions));
        for permission in settings {
            let s = grant(&policy, permission);
            assert_eq!(s["Sid"], "ReadsAndAccountSettings", "{permission}");
            assert_eq!(s["Resource"], "*", "{permission}");
            assert_eq!(
                s["Condition"]["StringEquals"]["aws:RequestedRegion"],
                json!(["eu-west-1", "eu-central-1"]),
                "{permission}"
            );
            assert!(s["Condition"].get("Null").is_none(), "{permission}: {s}");
        }
        // SSM's service settings are ARNs of the account, without tags.
        let policy = member_policy(
            ["ssm:UpdateServiceSetting", "ssm:ResetServiceSetting"],
            scoped(&regions),
        );
        let s = grant(&policy, "ssm:ResetServiceSetting");
        assert_eq!(s["Resource"], "arn:aws:ssm:*:111122223333:servicesetting/*");
        assert_eq!(
            s["Action"],
            json!(["ssm:ResetServiceSetting", "ssm:UpdateServiceSetting"])
        );
        assert!(s["Condition"].get("Null").is_none(), "{s}");
    }

    #[test]
    fn roles_are_passed_only_to_the_services_that_take_them() {
        let regions = vec!["eu-west-1".to_string()];
        let policy = member_policy(
            [
                "iam:PassRole",
                "cloudtrail:UpdateTrail",
                "ec2:CreateFlowLogs",
                "ec2:CreateTags",
            ],
            scoped(&regions),
        );
        let pass = grant(&policy, "iam:PassRole");
        assert_eq!(pass["Resource"], "arn:aws:iam::111122223333:role/*");
        assert_eq!(
            pass["Condition"]["StringEquals"]["iam:PassedToService"],
            json!(["cloudtrail.amazonaws.com", "vpc-flow-logs.amazonaws.com"])
        );
        assert!(
            pass["Condition"]["StringEquals"]["aws:RequestedRegion"].is_null(),
            "IAM is global: {pass}"
        );
        // Tags only on what CreateFlowLogs creates.
        let tags = grant(&policy, "ec2:CreateTags");
        assert_eq!(tags["Resource"], "arn:aws:ec2:*:111122223333:*");
        assert_eq!(
            tags["Condition"]["StringEquals"]["ec2:CreateAction"],
            json!(["CreateFlowLogs"])
        );

        // The roles the rules name, when they are roles of the account;
        // anything else is not granted.
        let named = member_policy_passing(
            ["iam:PassRole", "ec2:CreateFlowLogs"],
            scoped(&regions),
            &[
                "arn:aws:iam::111122223333:role/flow-logs",
                "arn:aws:iam::444455556666:role/elsewhere",
                "arn:aws:iam::111122223333:role/*",
                "arn:aws:iam::111122223333:role/flow-logs",
            ],
        );
        let pass = grant(&named, "iam:PassRole");
        assert_eq!(
            pass["Resource"],
            json!(["arn:aws:iam::111122223333:role/flow-logs"])
        );
        assert_eq!(
            pass["Condition"]["StringEquals"]["iam:PassedToService"],
            json!(["vpc-flow-logs.amazonaws.com"])
        );

        // GuardDuty's service-linked role, and no other.
        let linked = member_policy(
            ["iam:CreateServiceLinkedRole", "guardduty:CreateDetector"],
            scoped(&regions),
        );
        let s = grant(&linked, "iam:CreateServiceLinkedRole");
        assert_eq!(
            s["Resource"],
            json!(["arn:aws:iam::111122223333:role/aws-service-role/guardduty.amazonaws.com/*"])
        );
        assert_eq!(
            s["Condition"]["StringEquals"]["iam:AWSServiceName"],
            json!(["guardduty.amazonaws.com"])
        );
    }

    #[test]
    fn keys_are_used_only_through_ec2() {
        let regions = vec!["eu-west-1".to_string()];
        let policy = member_policy(
            ["kms:CreateGrant", "kms:ReEncryptFrom", "kms:DescribeKey"],
            scoped(&regions),
        );
        let s = grant(&policy, "kms:CreateGrant");
        assert_eq!(s["Resource"], "arn:aws:kms:*:111122223333:key/*");
        assert_eq!(
            s["Condition"]["StringEquals"]["kms:ViaService"],
            json!(["ec2.eu-west-1.amazonaws.com"])
        );
        assert_eq!(s["Condition"]["Bool"]["kms:GrantIsForAWSResource"], "true");
        assert_eq!(s["Action"], json!(["kms:CreateGrant", "kms:ReEncryptFrom"]));
        assert_eq!(
            grant(&policy, "kms:DescribeKey")["Sid"],
            "ReadsAndAccountSettings"
        );
    }

    /// Account-level writes that have no resource to narrow to: the only
    /// writes allowed on `*`.
    const ACCOUNT_SETTINGS: &[&str] = &[
        "s3:PutAccountPublicAccessBlock",
        "ec2:EnableEbsEncryptionByDefault",
        "ec2:DisableEbsEncryptionByDefault",
        "ec2:ModifyEbsDefaultKmsKeyId",
        "ec2:ResetEbsDefaultKmsKeyId",
        "guardduty:CreateDetector",
        "logs:CreateLogDelivery",
        "logs:DeleteLogDelivery",
        "config:PutConfigurationRecorder",
        "config:DeleteConfigurationRecorder",
        "config:StartConfigurationRecorder",
        "config:StopConfigurationRecorder",
        "config:PutDeliveryChannel",
        "config:DeleteDeliveryChannel",
        "iam:UpdateAccountPasswordPolicy",
        "iam:DeleteAccountPasswordPolicy",
    ];

    fn is_read(permission: &str) -> bool {
        let call = permission.split_once(':').map_or(permission, |(_, c)| c);
        ["Describe", "Get", "List"]
            .iter()
            .any(|verb| call.starts_with(verb))
    }

    #[tokio::test]
    async fn every_permission_of_the_catalog_is_granted_and_narrowed() {
        let aws = std::sync::Arc::new(crate::Aws::new(crate::AwsSettings::new("us-east-1")).await);
        let catalog = crate::catalog(aws);
        let regions = vec!["eu-west-1".to_string()];
        let permissions: Vec<&str> = catalog
            .iter()
            .flat_map(|a| a.spec().permissions.iter().copied())
            .collect();
        assert!(!permissions.is_empty());
        let policy = member_policy(permissions.iter().copied(), scoped(&regions));
        // Each permission in exactly one statement; nothing else granted.
        // (The isolation's tag on instances is a second grant of
        // ec2:CreateTags, narrowed to one tag key.)
        let mut granted: Vec<&str> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Sid"] != ISOLATION_TAG_SID)
            .flat_map(|s| s["Action"].as_array().unwrap().iter())
            .map(|a| a.as_str().unwrap())
            .collect();
        granted.sort_unstable();
        let mut wanted = permissions.clone();
        wanted.sort_unstable();
        wanted.dedup();
        assert_eq!(granted, wanted);
        for s in policy["Statement"].as_array().unwrap() {
            let resources = resources(s);
            assert!(!resources.is_empty(), "{s}");
            for r in &resources {
                assert!(
                    r == "*"
                        || r.contains(ACCOUNT)
                        || s["Condition"]["StringEquals"]["aws:ResourceAccount"] == ACCOUNT
                        || s["Condition"]["StringEquals"]["s3:ResourceAccount"] == ACCOUNT,
                    "a resource outside the account: {s}"
                );
            }
        }
        let mut on_everything = Vec::new();
        for action in &catalog {
            let spec = action.spec();
            for permission in spec.permissions {
                let s = grant(&policy, permission);
                // A write on `*` is an account setting, named as such.
                if s["Resource"] == "*"
                    && !is_read(permission)
                    && !ACCOUNT_SETTINGS.contains(permission)
                {
                    on_everything.push(format!("{} {permission}", spec.id));
                }
            }
            // A role passed or a service-linked role created: by a call of
            // this action that names the service.
            if spec.permissions.contains(&"iam:PassRole") {
                assert!(
                    !services_called(PASSED_BY, spec.permissions).is_empty(),
                    "{}: which service is iam:PassRole for? (PASSED_BY)",
                    spec.id
                );
            }
            if spec.permissions.contains(&"iam:CreateServiceLinkedRole") {
                assert!(
                    !services_called(LINKED_BY, spec.permissions).is_empty(),
                    "{}: which service's role? (LINKED_BY)",
                    spec.id
                );
            }
        }
        assert!(
            on_everything.is_empty(),
            "writes granted on every resource: narrow them in scope_of, or list them in \
             ACCOUNT_SETTINGS if they have no resource: {on_everything:#?}"
        );
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
            ocsf_findings: false,
            import_findings: true,
            topic_arns: vec!["arn:aws:sns:eu-west-1:999988887777:t".into()],
            queue_arns: vec![queue_arn(
                "https://sqs.eu-west-1.amazonaws.com/999988887777/q",
                "eu-west-1",
            )
            .unwrap()],
            ses_senders: vec!["rectify@example.com".into()],
            audit_kms_key: Some("alias/rectify-audit".into()),
            anchor: Some(("anchors".into(), "prod/rectify".into())),
            organization: None,
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
            statement(&own, "ImportDetections")["Resource"],
            "arn:aws:securityhub:*:*:product/*/default"
        );
        // A rule on OCSF findings: the V2 read and update too.
        let with_ocsf = own_policy(&OwnScope {
            partition: "aws".into(),
            ocsf_findings: true,
            ..Default::default()
        });
        assert_eq!(
            statement(&with_ocsf, "UpdateFindings")["Action"],
            json!([
                "securityhub:BatchGetSecurityControls",
                "securityhub:BatchUpdateFindings",
                "securityhub:BatchUpdateFindingsV2",
                "securityhub:GetFindings",
                "securityhub:GetFindingsV2"
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
