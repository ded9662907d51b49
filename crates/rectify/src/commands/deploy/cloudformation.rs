//! The CloudFormation templates: `rectify-member.json` (a StackSet for
//! every member account) and `rectify-hub.json` (the account rectify runs
//! in). Plain JSON values: the same config renders the same bytes.

use serde_json::{json, Value};

use super::Inputs;
use rectify_aws::actions::policy;

const MEMBER_FILE: &str = "rectify-member.json";
const HUB_FILE: &str = "rectify-hub.json";
/// The Security Hub custom action's id in the hub account.
const CUSTOM_ACTION_ID: &str = "rectify";
const FINDING_SOURCES: [&str; 3] = ["aws.config", "aws.guardduty", "aws.securityhub"];
const FINDING_DETAIL_TYPES: [&str; 5] = [
    "Config Rules Compliance Change",
    "Findings Imported V2",
    "GuardDuty Finding",
    "Security Hub Findings - Custom Action",
    "Security Hub Findings - Imported",
];

/// Both templates, by file name.
pub(super) fn templates(inputs: &Inputs) -> Vec<(&'static str, Value)> {
    vec![(MEMBER_FILE, member(inputs)), (HUB_FILE, hub(inputs))]
}

/// `{"Fn::Sub": text}`.
fn sub(text: &str) -> Value {
    json!({"Fn::Sub": text})
}

fn get_att(resource: &str, attribute: &str) -> Value {
    json!({"Fn::GetAtt": [resource, attribute]})
}

fn reference(name: &str) -> Value {
    json!({"Ref": name})
}

/// Every string of `value` that holds a `${...}` becomes an `Fn::Sub`
/// (the policies are rendered with `${AWS::AccountId}` and the like in
/// their ARNs; IAM's own `${aws:...}` variables never appear in them).
fn substitute(value: Value) -> Value {
    match value {
        Value::String(s) if s.contains("${") => sub(&s),
        Value::Array(items) => Value::Array(items.into_iter().map(substitute).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, substitute(v))).collect())
        }
        other => other,
    }
}

/// A logical id from a name: its letters and digits, each word capitalised.
fn logical_id(prefix: &str, name: &str) -> String {
    let mut id = prefix.to_string();
    for word in name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            id.push(first.to_ascii_uppercase());
            id.extend(chars);
        }
    }
    id
}

fn service_role_trust(service: Value) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
        }],
    })
}

/// IAM's limit on a role's inline policies together, in characters
/// (whitespace not counted).
const INLINE_POLICY_LIMIT: usize = 10_240;
/// IAM's limit on one managed policy.
const MANAGED_POLICY_LIMIT: usize = 6_144;

/// The member policy as one document when it fits a role's inline policy,
/// else its statements, in order, in documents that each fit a managed
/// policy. Sizes are measured with the `${AWS::AccountId}` placeholders,
/// longer than what CloudFormation puts in their place.
fn policy_parts(policy: &Value) -> Vec<Value> {
    let size = |v: &Value| v.to_string().chars().filter(|c| !c.is_whitespace()).count();
    if size(policy) <= INLINE_POLICY_LIMIT {
        return vec![policy.clone()];
    }
    let document =
        |statements: Vec<Value>| json!({"Version": "2012-10-17", "Statement": statements});
    let mut parts = Vec::new();
    let mut current: Vec<Value> = Vec::new();
    for statement in policy["Statement"].as_array().into_iter().flatten() {
        let mut with = current.clone();
        with.push(statement.clone());
        if !current.is_empty() && size(&document(with.clone())) > MANAGED_POLICY_LIMIT {
            parts.push(document(std::mem::take(&mut current)));
            current.push(statement.clone());
        } else {
            current = with;
        }
    }
    if !current.is_empty() {
        parts.push(document(current));
    }
    parts
}

/// The member template: the remediation role and the rules that forward
/// findings and the pack's API calls to the hub's bus.
fn member(inputs: &Inputs) -> Value {
    let hub_bus =
        "arn:${AWS::Partition}:events:${HubRegion}:${HubAccountId}:event-bus/${HubEventBusName}";
    let trust = policy::trust_policy(
        "arn:${AWS::Partition}:iam::${HubAccountId}:role/${HubRoleName}",
        Some("${ExternalId}"),
    );
    let target = json!([{"Id": "hub-event-bus", "Arn": sub(hub_bus), "RoleArn": get_att("ForwardRole", "Arn")}]);
    let mut resources = serde_json::Map::new();
    let mut role = json!({
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": reference("RoleName"),
            "Description": "Assumed by rectify (the hub) to remediate findings; its policy allows what the enabled rules' actions call, and nothing else.",
            "MaxSessionDuration": 3600,
            "AssumeRolePolicyDocument": substitute(trust),
        },
    });
    let parts = policy_parts(&inputs.member_policy);
    if let [whole] = parts.as_slice() {
        role["Properties"]["Policies"] = json!([{
            "PolicyName": "rectify-remediation",
            "PolicyDocument": substitute(whole.clone()),
        }]);
        resources.insert("RemediationRole".into(), role);
    } else {
        resources.insert("RemediationRole".into(), role);
        for (n, part) in parts.into_iter().enumerate() {
            resources.insert(
                format!("RemediationPolicy{}", n + 1),
                json!({
                    "Type": "AWS::IAM::ManagedPolicy",
                    "Properties": {
                        "ManagedPolicyName": sub(&format!("${{RoleName}}-{}", n + 1)),
                        "Roles": [reference("RemediationRole")],
                        "PolicyDocument": substitute(part),
                    },
                }),
            );
        }
    }
    resources.insert(
        "ForwardRole".into(),
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": "Lets EventBridge put this account's findings and API calls on the hub's event bus.",
                "AssumeRolePolicyDocument": service_role_trust(json!("events.amazonaws.com")),
                "Policies": [{
                    "PolicyName": "put-events-on-the-hub-bus",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Action": "events:PutEvents",
                            "Resource": sub(hub_bus),
                        }],
                    },
                }],
            },
        }),
    );
    resources.insert(
        "ForwardFindings".into(),
        json!({
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": "rectify-forward-findings",
                "Description": "Security Hub, GuardDuty and Config findings, to the rectify hub.",
                "State": "ENABLED",
                "EventPattern": {"source": FINDING_SOURCES, "detail-type": FINDING_DETAIL_TYPES},
                "Targets": target,
            },
        }),
    );
    for (source, pattern) in inputs.api_calls.patterns() {
        let service = source.strip_prefix("aws.").unwrap_or(&source);
        let name = if service.is_empty() {
            "rectify-forward-api-calls".to_string()
        } else {
            format!("rectify-forward-api-calls-{service}")
        };
        resources.insert(
            logical_id("ForwardApiCalls", service),
            json!({
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "Name": name,
                    "Description": format!("The {} API calls (CloudTrail) the enabled rules listen to, to the rectify hub.", if service.is_empty() { "AWS" } else { service }),
                    "State": "ENABLED",
                    "EventPattern": pattern,
                    "Targets": target,
                },
            }),
        );
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "rectify member account (deploy as a StackSet to every member account): the role rectify assumes to remediate, with the policy of the enabled rules, and EventBridge rules that forward findings and the rules' API calls to the hub's event bus. Generated by `rectify deploy render`.",
        "Parameters": {
            "HubAccountId": {
                "Type": "String",
                "AllowedPattern": "^[0-9]{12}$",
                "Description": "The account rectify runs in (the hub stack's account).",
            },
            "HubRegion": {
                "Type": "String",
                "Default": inputs.hub_region,
                "Description": "The hub's region (aws.region of the config).",
            },
            "HubRoleName": {
                "Type": "String",
                "Default": "rectify-hub",
                "Description": "The name of rectify's own role in the hub account (the hub stack's HubRoleName).",
            },
            "HubEventBusName": {
                "Type": "String",
                "Default": "rectify",
                "Description": "The hub's event bus (the hub stack's EventBusName).",
            },
            "RoleName": {
                "Type": "String",
                "Default": inputs.role_name,
                "Description": "The remediation role's name (from the config's accounts[].role_arn or accounts.from_organizations.role_arn).",
            },
            "ExternalId": {
                "Type": "String",
                "Default": inputs.external_id,
                "MinLength": 2,
                "Description": "The external id rectify passes when it assumes the role (accounts[].external_id or accounts.from_organizations.external_id).",
            },
        },
        "Resources": resources,
        "Outputs": {
            "RemediationRoleArn": {"Value": get_att("RemediationRole", "Arn")},
        },
    })
}

/// The hub template: the bus the members forward to, the queue rectify
/// takes events from, rectify itself (Lambda, or ECS Fargate with RDS
/// PostgreSQL), its role, the notification topics and the custom action.
fn hub(inputs: &Inputs) -> Value {
    let mut resources = serde_json::Map::new();
    let mut outputs = serde_json::Map::new();
    let mut own = inputs.own_scope.clone();
    own.partition = "${AWS::Partition}".into();
    own.role_arns = vec!["arn:${AWS::Partition}:iam::*:role/${MemberRoleName}".into()];
    own.queue_arns = vec!["${EventQueue.Arn}".into()];
    own.topic_arns.clear();
    for (channel, topic) in &inputs.topics {
        let id = logical_id("NotificationTopic", channel);
        own.topic_arns.push(format!("${{{id}}}"));
        resources.insert(
            id.clone(),
            json!({
                "Type": "AWS::SNS::Topic",
                "Properties": {"TopicName": topic, "DisplayName": format!("rectify: {channel}")},
            }),
        );
        outputs.insert(
            format!("{id}Arn"),
            json!({"Description": format!("notifications.{channel}.sns"), "Value": reference(&id)}),
        );
    }
    let custom_action =
        "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:action/custom/"
            .to_string()
            + CUSTOM_ACTION_ID;
    let mut forwarded: Vec<String> = FINDING_SOURCES.iter().map(|s| s.to_string()).collect();
    forwarded.extend(inputs.api_calls.by_source.keys().cloned());
    forwarded.sort();
    forwarded.dedup();
    let bus_pattern = if inputs.api_calls.any_source {
        json!({"source": [{"prefix": "aws."}]})
    } else {
        json!({"source": forwarded})
    };
    let managed = |name: &str| sub(&format!("arn:${{AWS::Partition}}:iam::aws:policy/{name}"));
    let entries = [
        (
            "EventBus",
            json!({
                "Type": "AWS::Events::EventBus",
                "Properties": {"Name": reference("EventBusName")},
            }),
        ),
        (
            "EventBusPolicy",
            json!({
                "Type": "AWS::Events::EventBusPolicy",
                "Properties": {
                    "EventBusName": get_att("EventBus", "Name"),
                    "StatementId": "OrganizationPutsEvents",
                    "Statement": {
                        "Sid": "OrganizationPutsEvents",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "events:PutEvents",
                        "Resource": get_att("EventBus", "Arn"),
                        "Condition": {"StringEquals": {"aws:PrincipalOrgID": reference("OrganizationId")}},
                    },
                },
            }),
        ),
        (
            "DeadLetterQueue",
            json!({
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "QueueName": "rectify-events-dlq",
                    "MessageRetentionPeriod": 1209600,
                    "SqsManagedSseEnabled": true,
                },
            }),
        ),
        (
            "EventQueue",
            json!({
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "QueueName": "rectify-events",
                    // Six times the function's timeout, as Lambda asks of a
                    // queue it reads.
                    "VisibilityTimeout": 1800,
                    "MessageRetentionPeriod": 1209600,
                    "SqsManagedSseEnabled": true,
                    "RedrivePolicy": {
                        "deadLetterTargetArn": get_att("DeadLetterQueue", "Arn"),
                        "maxReceiveCount": 5,
                    },
                },
            }),
        ),
        (
            "EventQueuePolicy",
            json!({
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": [reference("EventQueue")],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Sid": "TheHubRulesSendEvents",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": get_att("EventQueue", "Arn"),
                            "Condition": {"ArnEquals": {"aws:SourceArn": [
                                get_att("ForwardToQueue", "Arn"),
                                get_att("CustomActionToQueue", "Arn"),
                            ]}},
                        }],
                    },
                },
            }),
        ),
        (
            "ForwardToQueue",
            json!({
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "Name": "rectify-bus-to-queue",
                    "Description": "What the member accounts forward, to rectify's queue.",
                    "EventBusName": get_att("EventBus", "Name"),
                    "State": "ENABLED",
                    "EventPattern": bus_pattern,
                    "Targets": [{"Id": "rectify-events", "Arn": get_att("EventQueue", "Arn")}],
                },
            }),
        ),
        (
            "CustomAction",
            json!({
                "Type": "AWS::SecurityHub::ActionTarget",
                "Properties": {
                    "Id": CUSTOM_ACTION_ID,
                    "Name": "Remediate (rectify)",
                    "Description": "Send the selected findings to rectify.",
                },
            }),
        ),
        (
            "CustomActionToQueue",
            json!({
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "Name": "rectify-custom-action-to-queue",
                    "Description": "Findings sent to the Security Hub custom action, to rectify's queue.",
                    "State": "ENABLED",
                    "EventPattern": {
                        "source": ["aws.securityhub"],
                        "detail-type": ["Security Hub Findings - Custom Action"],
                        "resources": [sub(&custom_action)],
                    },
                    "Targets": [{"Id": "rectify-events", "Arn": get_att("EventQueue", "Arn")}],
                },
            }),
        ),
        (
            "AlarmTopic",
            json!({
                "Type": "AWS::SNS::Topic",
                "Properties": {"TopicName": "rectify-alarms", "DisplayName": "rectify: alarms"},
            }),
        ),
        (
            "DeadLetterQueueNotEmpty",
            json!({
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmName": "rectify-dead-letter-queue-not-empty",
                    "AlarmDescription": "Events rectify could not take are in the dead-letter queue.",
                    "Namespace": "AWS/SQS",
                    "MetricName": "ApproximateNumberOfMessagesVisible",
                    "Dimensions": [{"Name": "QueueName", "Value": get_att("DeadLetterQueue", "QueueName")}],
                    "Statistic": "Maximum",
                    "Period": 300,
                    "EvaluationPeriods": 1,
                    "Threshold": 0,
                    "ComparisonOperator": "GreaterThanThreshold",
                    "TreatMissingData": "notBreaching",
                    "AlarmActions": [reference("AlarmTopic")],
                },
            }),
        ),
        (
            "OldestEventTooOld",
            json!({
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmName": "rectify-oldest-event-too-old",
                    "AlarmDescription": "rectify is not keeping up with its queue.",
                    "Namespace": "AWS/SQS",
                    "MetricName": "ApproximateAgeOfOldestMessage",
                    "Dimensions": [{"Name": "QueueName", "Value": get_att("EventQueue", "QueueName")}],
                    "Statistic": "Maximum",
                    "Period": 300,
                    "EvaluationPeriods": 2,
                    "Threshold": reference("OldestEventAlarmSeconds"),
                    "ComparisonOperator": "GreaterThanThreshold",
                    "TreatMissingData": "notBreaching",
                    "AlarmActions": [reference("AlarmTopic")],
                },
            }),
        ),
        (
            "HubRole",
            json!({
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": reference("HubRoleName"),
                    "Description": "rectify's own identity: assumes the member roles, updates findings, reads its queue.",
                    "AssumeRolePolicyDocument": service_role_trust(json!({"Fn::If": ["UseLambda", "lambda.amazonaws.com", "ecs-tasks.amazonaws.com"]})),
                    "ManagedPolicyArns": {"Fn::If": [
                        "LambdaInVpc",
                        [managed("service-role/AWSLambdaVPCAccessExecutionRole")],
                        {"Fn::If": ["UseLambda", [managed("service-role/AWSLambdaBasicExecutionRole")], reference("AWS::NoValue")]},
                    ]},
                    "Policies": [{
                        "PolicyName": "rectify",
                        "PolicyDocument": substitute(policy::own_policy(&own)),
                    }],
                },
            }),
        ),
    ];
    for (id, resource) in entries {
        resources.insert(id.into(), resource);
    }
    lambda_resources(&mut resources);
    ecs_resources(&mut resources);
    for (id, value) in [
        ("EventBusArn", get_att("EventBus", "Arn")),
        ("EventQueueUrl", reference("EventQueue")),
        ("DeadLetterQueueUrl", reference("DeadLetterQueue")),
        ("HubRoleArn", get_att("HubRole", "Arn")),
        ("CustomActionArn", sub(&custom_action)),
        ("AlarmTopicArn", reference("AlarmTopic")),
    ] {
        outputs.insert(id.into(), json!({"Value": value}));
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "rectify hub: the event bus the member accounts forward to (open to the organization), rectify's queue with a dead-letter queue and alarms, rectify as a Lambda function or an ECS Fargate service with RDS PostgreSQL (Runtime), its role, the notification topics and the Security Hub custom action. Generated by `rectify deploy render`.",
        "Parameters": {
            "OrganizationId": {
                "Type": "String",
                "AllowedPattern": "^o-[a-z0-9]{10,32}$",
                "Description": "The organization whose accounts may put events on the bus (aws:PrincipalOrgID).",
            },
            "EventBusName": {"Type": "String", "Default": "rectify", "Description": "The bus the member stacks forward to."},
            "HubRoleName": {"Type": "String", "Default": "rectify-hub", "Description": "rectify's own role; the member roles trust it by this name."},
            "MemberRoleName": {"Type": "String", "Default": inputs.role_name, "Description": "The member accounts' remediation role (the member stack's RoleName)."},
            "Runtime": {
                "Type": "String",
                "Default": "lambda",
                "AllowedValues": ["lambda", "ecs-fargate"],
                "Description": "lambda: rectify as a function fed by the queue; ecs-fargate: `rectify serve` as a long-running service with RDS PostgreSQL.",
            },
            "CodeS3Bucket": {"Type": "String", "Default": "", "Description": "lambda: the bucket of the function's zip (bootstrap and rectify.yaml)."},
            "CodeS3Key": {"Type": "String", "Default": "rectify/function.zip", "Description": "lambda: the key of the function's zip."},
            "SubnetIds": {"Type": "CommaDelimitedList", "Default": "", "Description": "ecs-fargate: the service's and the database's private subnets (two zones at least); lambda: the function's subnets, to reach a PostgreSQL store (empty: no VPC)."},
            "VpcId": {"Type": "String", "Default": "", "Description": "The VPC of SubnetIds."},
            "ContainerImage": {"Type": "String", "Default": "", "Description": "ecs-fargate: an image with rectify and its config at /etc/rectify/rectify.yaml."},
            "DesiredCount": {"Type": "Number", "Default": 2, "MinValue": 1, "Description": "ecs-fargate: replicas of `rectify serve`."},
            "DatabaseInstanceClass": {"Type": "String", "Default": "db.t4g.micro", "Description": "ecs-fargate: the RDS PostgreSQL instance class."},
            "OldestEventAlarmSeconds": {"Type": "Number", "Default": 900, "MinValue": 60, "Description": "Alarm when the oldest event in the queue is older than this."},
        },
        "Conditions": {
            "UseLambda": {"Fn::Equals": [reference("Runtime"), "lambda"]},
            "UseEcs": {"Fn::Equals": [reference("Runtime"), "ecs-fargate"]},
            "LambdaInVpc": {"Fn::And": [
                {"Condition": "UseLambda"},
                {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", reference("SubnetIds")]}, ""]}]},
            ]},
        },
        "Resources": resources,
        "Outputs": outputs,
    })
}

/// A log group kept a year, made when `condition` holds.
fn log_group(condition: &str, name: &str) -> Value {
    json!({
        "Type": "AWS::Logs::LogGroup",
        "Condition": condition,
        "Properties": {"LogGroupName": name, "RetentionInDays": 365},
    })
}

/// A security group in the `VpcId` parameter's VPC, made when `condition`
/// holds (no ingress; all egress).
fn security_group(condition: &str, description: &str) -> Value {
    json!({
        "Type": "AWS::EC2::SecurityGroup",
        "Condition": condition,
        "Properties": {"GroupDescription": description, "VpcId": reference("VpcId")},
    })
}

/// rectify as a function of the provided.al2023 runtime, fed by the queue.
fn lambda_resources(resources: &mut serde_json::Map<String, Value>) {
    let entries = [
        (
            "FunctionLogGroup",
            log_group("UseLambda", "/aws/lambda/rectify"),
        ),
        (
            "FunctionSecurityGroup",
            security_group("LambdaInVpc", "rectify function"),
        ),
        (
            "Function",
            json!({
                "Type": "AWS::Lambda::Function",
                "Condition": "UseLambda",
                "DependsOn": "FunctionLogGroup",
                "Properties": {
                    "FunctionName": "rectify",
                    "Description": "rectify: remediates the findings the member accounts forward.",
                    "Runtime": "provided.al2023",
                    "Handler": "bootstrap",
                    "Architectures": ["x86_64"],
                    "Code": {"S3Bucket": reference("CodeS3Bucket"), "S3Key": reference("CodeS3Key")},
                    "Role": get_att("HubRole", "Arn"),
                    "Timeout": 300,
                    "MemorySize": 512,
                    "Environment": {"Variables": {"RECTIFY_CONFIG": "/var/task/rectify.yaml"}},
                    "VpcConfig": {"Fn::If": [
                        "LambdaInVpc",
                        {"SubnetIds": reference("SubnetIds"), "SecurityGroupIds": [reference("FunctionSecurityGroup")]},
                        reference("AWS::NoValue"),
                    ]},
                },
            }),
        ),
        (
            "FunctionQueueMapping",
            json!({
                "Type": "AWS::Lambda::EventSourceMapping",
                "Condition": "UseLambda",
                "Properties": {
                    "FunctionName": reference("Function"),
                    "EventSourceArn": get_att("EventQueue", "Arn"),
                    "BatchSize": 10,
                    "MaximumBatchingWindowInSeconds": 5,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                },
            }),
        ),
    ];
    for (id, resource) in entries {
        resources.insert(id.into(), resource);
    }
}

/// `rectify serve` on ECS Fargate, with its store on RDS PostgreSQL; the
/// store's URL, password included, is a secret handed to the container.
fn ecs_resources(resources: &mut serde_json::Map<String, Value>) {
    let password = "{{resolve:secretsmanager:${DatabasePassword}:SecretString:password}}";
    let entries = [
        (
            "Cluster",
            json!({
                "Type": "AWS::ECS::Cluster",
                "Condition": "UseEcs",
                "Properties": {"ClusterName": "rectify"},
            }),
        ),
        ("ServiceLogGroup", log_group("UseEcs", "/ecs/rectify")),
        (
            "ServiceSecurityGroup",
            security_group("UseEcs", "rectify service"),
        ),
        (
            "DatabaseSecurityGroup",
            json!({
                "Type": "AWS::EC2::SecurityGroup",
                "Condition": "UseEcs",
                "Properties": {
                    "GroupDescription": "rectify store: PostgreSQL from the rectify service only",
                    "VpcId": reference("VpcId"),
                    "SecurityGroupIngress": [{
                        "IpProtocol": "tcp",
                        "FromPort": 5432,
                        "ToPort": 5432,
                        "SourceSecurityGroupId": reference("ServiceSecurityGroup"),
                    }],
                },
            }),
        ),
        (
            "DatabaseSubnetGroup",
            json!({
                "Type": "AWS::RDS::DBSubnetGroup",
                "Condition": "UseEcs",
                "Properties": {"DBSubnetGroupDescription": "rectify store", "SubnetIds": reference("SubnetIds")},
            }),
        ),
        (
            "DatabasePassword",
            json!({
                "Type": "AWS::SecretsManager::Secret",
                "Condition": "UseEcs",
                "Properties": {
                    "Description": "rectify store: the database user's password",
                    "GenerateSecretString": {
                        "SecretStringTemplate": "{\"username\":\"rectify\"}",
                        "GenerateStringKey": "password",
                        "PasswordLength": 32,
                        "ExcludePunctuation": true,
                    },
                },
            }),
        ),
        (
            "Database",
            json!({
                "Type": "AWS::RDS::DBInstance",
                "Condition": "UseEcs",
                "DeletionPolicy": "Snapshot",
                "UpdateReplacePolicy": "Snapshot",
                "Properties": {
                    "Engine": "postgres",
                    "DBInstanceClass": reference("DatabaseInstanceClass"),
                    "AllocatedStorage": "20",
                    "StorageEncrypted": true,
                    "DBName": "rectify",
                    "MasterUsername": "rectify",
                    "MasterUserPassword": sub(password),
                    "DBSubnetGroupName": reference("DatabaseSubnetGroup"),
                    "VPCSecurityGroups": [reference("DatabaseSecurityGroup")],
                    "PubliclyAccessible": false,
                    "MultiAZ": true,
                    "BackupRetentionPeriod": 7,
                    "DeletionProtection": true,
                },
            }),
        ),
        (
            "StoreUrl",
            json!({
                "Type": "AWS::SecretsManager::Secret",
                "Condition": "UseEcs",
                "Properties": {
                    "Description": "rectify store: the PostgreSQL URL (store_env: RECTIFY_STORE_URL)",
                    "SecretString": sub(&format!("postgres://rectify:{password}@${{Database.Endpoint.Address}}:${{Database.Endpoint.Port}}/rectify?sslmode=require")),
                },
            }),
        ),
        (
            "TaskExecutionRole",
            json!({
                "Type": "AWS::IAM::Role",
                "Condition": "UseEcs",
                "Properties": {
                    "Description": "Pulls rectify's image, writes its logs, hands it the store URL.",
                    "AssumeRolePolicyDocument": service_role_trust(json!("ecs-tasks.amazonaws.com")),
                    "ManagedPolicyArns": [sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")],
                    "Policies": [{
                        "PolicyName": "read-the-store-url",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": reference("StoreUrl")}],
                        },
                    }],
                },
            }),
        ),
        (
            "TaskDefinition",
            json!({
                "Type": "AWS::ECS::TaskDefinition",
                "Condition": "UseEcs",
                "Properties": {
                    "Family": "rectify",
                    "RequiresCompatibilities": ["FARGATE"],
                    "NetworkMode": "awsvpc",
                    "Cpu": "512",
                    "Memory": "1024",
                    "RuntimePlatform": {"OperatingSystemFamily": "LINUX", "CpuArchitecture": "X86_64"},
                    "ExecutionRoleArn": get_att("TaskExecutionRole", "Arn"),
                    "TaskRoleArn": get_att("HubRole", "Arn"),
                    "ContainerDefinitions": [{
                        "Name": "rectify",
                        "Image": reference("ContainerImage"),
                        "Essential": true,
                        "Command": ["serve", "--listen", "0.0.0.0:8080"],
                        "PortMappings": [{"ContainerPort": 8080, "Protocol": "tcp"}],
                        "Environment": [{"Name": "RECTIFY_CONFIG", "Value": "/etc/rectify/rectify.yaml"}],
                        "Secrets": [{"Name": "RECTIFY_STORE_URL", "ValueFrom": reference("StoreUrl")}],
                        "LogConfiguration": {
                            "LogDriver": "awslogs",
                            "Options": {
                                "awslogs-group": reference("ServiceLogGroup"),
                                "awslogs-region": reference("AWS::Region"),
                                "awslogs-stream-prefix": "rectify",
                            },
                        },
                    }],
                },
            }),
        ),
        (
            "Service",
            json!({
                "Type": "AWS::ECS::Service",
                "Condition": "UseEcs",
                "Properties": {
                    "ServiceName": "rectify",
                    "Cluster": reference("Cluster"),
                    "TaskDefinition": reference("TaskDefinition"),
                    "LaunchType": "FARGATE",
                    "DesiredCount": reference("DesiredCount"),
                    "NetworkConfiguration": {"AwsvpcConfiguration": {
                        "Subnets": reference("SubnetIds"),
                        "SecurityGroups": [reference("ServiceSecurityGroup")],
                        "AssignPublicIp": "DISABLED",
                    }},
                },
            }),
        ),
    ];
    for (id, resource) in entries {
        resources.insert(id.into(), resource);
    }
}
