//! Seeded generators for the benchmark: realistic EventBridge events
//! (Security Hub, GuardDuty, CloudTrail, Config) and rule sets mixing every
//! operator of the pattern language.

use serde_json::{json, Value};

/// A small deterministic generator (SplitMix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

pub const SERVICES: &[&str] = &[
    "S3",
    "EC2",
    "IAM",
    "Lambda",
    "RDS",
    "KMS",
    "CloudTrail",
    "Config",
    "ELB",
    "ECS",
    "EKS",
    "SNS",
    "SQS",
    "DynamoDB",
    "SSM",
    "GuardDuty",
    "CloudFront",
    "Redshift",
    "ES",
    "SecretsManager",
];
pub const RESOURCE_TYPES: &[&str] = &[
    "AwsS3Bucket",
    "AwsEc2Instance",
    "AwsIamRole",
    "AwsIamUser",
    "AwsLambdaFunction",
    "AwsRdsDbInstance",
    "AwsKmsKey",
    "AwsEc2SecurityGroup",
    "AwsEc2Volume",
    "AwsEcsCluster",
    "AwsEksCluster",
    "AwsSnsTopic",
    "AwsSqsQueue",
    "AwsDynamoDbTable",
    "AwsCloudTrailTrail",
];
pub const LABELS: &[&str] = &["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"];
pub const WORKFLOW: &[&str] = &["NEW", "NOTIFIED", "SUPPRESSED", "RESOLVED"];
pub const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
];
pub const GD_TYPES: &[&str] = &[
    "Recon:EC2/PortProbeUnprotectedPort",
    "Recon:EC2/Portscan",
    "UnauthorizedAccess:EC2/SSHBruteForce",
    "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B",
    "CryptoCurrency:EC2/BitcoinTool.B!DNS",
    "Backdoor:EC2/C&CActivity.B",
    "Trojan:EC2/DNSDataExfiltration",
    "Policy:S3/BucketBlockPublicAccessDisabled",
    "Discovery:S3/MaliciousIPCaller",
    "Stealth:IAMUser/CloudTrailLoggingDisabled",
];
pub const CT_CALLS: &[(&str, &str)] = &[
    ("s3", "PutBucketPolicy"),
    ("s3", "DeleteBucketPolicy"),
    ("s3", "PutBucketAcl"),
    ("s3", "PutPublicAccessBlock"),
    ("ec2", "AuthorizeSecurityGroupIngress"),
    ("ec2", "RunInstances"),
    ("ec2", "ModifyInstanceAttribute"),
    ("iam", "CreateAccessKey"),
    ("iam", "AttachUserPolicy"),
    ("iam", "CreateUser"),
    ("iam", "PutRolePolicy"),
    ("kms", "ScheduleKeyDeletion"),
    ("kms", "DisableKey"),
    ("cloudtrail", "StopLogging"),
    ("cloudtrail", "DeleteTrail"),
    ("lambda", "AddPermission20150331v2"),
    ("rds", "ModifyDBInstance"),
    ("sns", "SetTopicAttributes"),
];
pub const IDENTITY_TYPES: &[&str] = &[
    "IAMUser",
    "AssumedRole",
    "Root",
    "AWSService",
    "FederatedUser",
];
pub const CONFIG_RULES: &[&str] = &[
    "s3-bucket-public-read-prohibited",
    "s3-bucket-ssl-requests-only",
    "encrypted-volumes",
    "restricted-ssh",
    "iam-user-mfa-enabled",
    "rds-storage-encrypted",
    "cloudtrail-enabled",
    "securityhub-s3-bucket-level-public-access-prohibited-abc123",
    "securityhub-ec2-imdsv2-check-def456",
];

pub fn accounts() -> Vec<String> {
    (0..40)
        .map(|i| format!("{:012}", 111_111_111_111u64 + i * 7_919))
        .collect()
}

pub fn control(r: &mut Rng) -> String {
    format!("{}.{}", r.pick(SERVICES), 1 + r.below(40))
}

fn ip(r: &mut Rng) -> String {
    if r.chance(10) {
        format!("2001:db8:{:x}::{:x}", r.below(65536), r.below(65536))
    } else if r.chance(40) {
        format!("10.{}.{}.{}", r.below(256), r.below(256), r.below(256))
    } else {
        format!(
            "{}.{}.{}.{}",
            1 + r.below(223),
            r.below(256),
            r.below(256),
            r.below(256)
        )
    }
}

fn time(r: &mut Rng) -> String {
    format!(
        "2025-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        1 + r.below(12),
        1 + r.below(28),
        r.below(24),
        r.below(60),
        r.below(60)
    )
}

fn envelope(
    r: &mut Rng,
    n: usize,
    source: &str,
    dtype: &str,
    acct: &str,
    region: &str,
    detail: Value,
) -> Value {
    json!({
        "version": "0",
        "id": format!("{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}", r.next() as u32, r.below(65536), r.below(4096), r.below(4096), n),
        "detail-type": dtype,
        "source": source,
        "account": acct,
        "time": time(r),
        "region": region,
        "resources": [format!("arn:aws:{}:{region}:{acct}:event/{n}", source.trim_start_matches("aws."))],
        "detail": detail
    })
}

fn resource_id(r: &mut Rng, t: &str, acct: &str, region: &str, n: usize) -> String {
    match t {
        "AwsS3Bucket" => format!("arn:aws:s3:::bucket-{}-{}", acct, n % 5000),
        "AwsIamRole" => format!("arn:aws:iam::{acct}:role/role-{}", n % 3000),
        "AwsIamUser" => format!("arn:aws:iam::{acct}:user/user-{}", n % 3000),
        "AwsEc2Instance" => format!(
            "arn:aws:ec2:{region}:{acct}:instance/i-{:017x}",
            r.next() >> 4
        ),
        _ => format!(
            "arn:aws:{}:{region}:{acct}:{}/{}",
            t.trim_start_matches("Aws").to_lowercase(),
            t,
            n
        ),
    }
}

pub fn security_hub(r: &mut Rng, n: usize, accts: &[String]) -> Value {
    let acct = r.pick(accts).clone();
    let region = *r.pick(REGIONS);
    let ctl = control(r);
    let rtype = *r.pick(RESOURCE_TYPES);
    let label = *r.pick(LABELS);
    let normalized = match label {
        "INFORMATIONAL" => 0,
        "LOW" => 1 + r.below(39),
        "MEDIUM" => 40 + r.below(30),
        "HIGH" => 70 + r.below(20),
        _ => 90 + r.below(11),
    };
    let status = if r.chance(70) { "FAILED" } else { "PASSED" };
    let rid = resource_id(r, rtype, &acct, region, n);
    let finding = json!({
        "SchemaVersion": "2018-10-08",
        "Id": format!("arn:aws:securityhub:{region}:{acct}:security-control/{ctl}/finding/{n:x}"),
        "ProductArn": format!("arn:aws:securityhub:{region}::product/aws/securityhub"),
        "ProductName": "Security Hub",
        "CompanyName": "AWS",
        "GeneratorId": format!("security-control/{ctl}"),
        "AwsAccountId": acct,
        "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
        "FirstObservedAt": time(r),
        "UpdatedAt": time(r),
        "Severity": {"Label": label, "Normalized": normalized, "Original": label},
        "Title": format!("{ctl} {} should be configured securely", rtype),
        "Description": "This control checks whether the resource is configured according to best practices.",
        "Remediation": {"Recommendation": {"Text": "For information on how to correct this issue, consult the documentation.",
            "Url": format!("https://docs.aws.amazon.com/console/securityhub/{ctl}/remediation")}},
        "ProductFields": {"RelatedAWSResources:0/name": "securityhub-rule", "aws/securityhub/ProductName": "Security Hub"},
        "Resources": [{"Type": rtype, "Id": rid, "Partition": "aws", "Region": region,
                       "Tags": {"env": *r.pick(&["prod", "dev", "staging"])}}],
        "Compliance": {"Status": status, "SecurityControlId": ctl,
                       "AssociatedStandards": [{"StandardsId": "standards/aws-foundational-security-best-practices/v/1.0.0"}]},
        "WorkflowState": "NEW",
        "Workflow": {"Status": *r.pick(WORKFLOW)},
        "RecordState": if r.chance(90) { "ACTIVE" } else { "ARCHIVED" },
        "FindingProviderFields": {"Severity": {"Label": label}, "Types": ["Software and Configuration Checks"]}
    });
    envelope(
        r,
        n,
        "aws.securityhub",
        "Security Hub Findings - Imported",
        &acct,
        region,
        json!({"findings": [finding]}),
    )
}

pub fn guardduty(r: &mut Rng, n: usize, accts: &[String]) -> Value {
    let acct = r.pick(accts).clone();
    let region = *r.pick(REGIONS);
    let t = *r.pick(GD_TYPES);
    let sev = [2.0, 5.0, 5.5, 8.0, 8.9][r.below(5)];
    let rtype = if t.contains("S3") {
        "S3Bucket"
    } else if t.contains("IAMUser") {
        "AccessKey"
    } else {
        "Instance"
    };
    let detail = json!({
        "schemaVersion": "2.0", "accountId": acct, "region": region, "partition": "aws",
        "id": format!("{:032x}", r.next() as u128 * 31 + n as u128),
        "arn": format!("arn:aws:guardduty:{region}:{acct}:detector/d/finding/{n:x}"),
        "type": t,
        "resource": {"resourceType": rtype,
            "instanceDetails": {"instanceId": format!("i-{:017x}", r.next() >> 4), "instanceType": "t3.micro",
                "networkInterfaces": [{"privateIpAddress": ip(r), "publicIp": ip(r)}]}},
        "service": {"serviceName": "guardduty", "count": 1 + r.below(50), "archived": r.chance(5),
            "action": {"actionType": "NETWORK_CONNECTION",
                "networkConnectionAction": {"remoteIpDetails": {"ipAddressV4": ip(r), "country": {"countryName": "Unknown"}},
                    "localPortDetails": {"port": *r.pick(&[22, 80, 443, 3389]), "portName": "SSH"}}}},
        "severity": sev,
        "createdAt": time(r), "updatedAt": time(r),
        "title": format!("{t} finding"), "description": "GuardDuty observed suspicious activity."
    });
    envelope(
        r,
        n,
        "aws.guardduty",
        "GuardDuty Finding",
        &acct,
        region,
        detail,
    )
}

pub fn cloudtrail(r: &mut Rng, n: usize, accts: &[String]) -> Value {
    let acct = r.pick(accts).clone();
    let region = *r.pick(REGIONS);
    let (svc, call) = *r.pick(CT_CALLS);
    let itype = *r.pick(IDENTITY_TYPES);
    let mut detail = json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": itype, "principalId": format!("AIDA{:016X}", r.next() >> 1),
            "arn": format!("arn:aws:iam::{acct}:user/user-{}", r.below(200)), "accountId": acct,
            "sessionContext": {"attributes": {"mfaAuthenticated": if r.chance(50) {"true"} else {"false"}}}},
        "eventTime": time(r),
        "eventSource": format!("{svc}.amazonaws.com"),
        "eventName": call,
        "awsRegion": region,
        "sourceIPAddress": ip(r),
        "userAgent": *r.pick(&["aws-cli/2.15.0", "console.amazonaws.com", "Boto3/1.34.0", "terraform/1.7"]),
        "requestParameters": {"bucketName": format!("bucket-{}", r.below(1000))},
        "responseElements": null,
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true
    });
    if r.chance(10) {
        detail["errorCode"] = json!("AccessDenied");
    }
    envelope(
        r,
        n,
        &format!("aws.{svc}"),
        "AWS API Call via CloudTrail",
        &acct,
        region,
        detail,
    )
}

pub fn config(r: &mut Rng, n: usize, accts: &[String]) -> Value {
    let acct = r.pick(accts).clone();
    let region = *r.pick(REGIONS);
    let rule = *r.pick(CONFIG_RULES);
    let rtype = *r.pick(&[
        "AWS::S3::Bucket",
        "AWS::EC2::Volume",
        "AWS::EC2::SecurityGroup",
        "AWS::IAM::User",
        "AWS::RDS::DBInstance",
    ]);
    let ct = *r.pick(&["COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"]);
    let detail = json!({
        "resourceId": format!("res-{n}"), "awsRegion": region, "awsAccountId": acct,
        "configRuleName": rule, "recordVersion": "1.0",
        "configRuleARN": format!("arn:aws:config:{region}:{acct}:config-rule/config-rule-{n:x}"),
        "messageType": "ComplianceChangeNotification",
        "newEvaluationResult": {"evaluationResultIdentifier": {"evaluationResultQualifier": {
            "configRuleName": rule, "resourceType": rtype, "resourceId": format!("res-{n}")}},
            "complianceType": ct, "resultRecordedTime": time(r)},
        "oldEvaluationResult": {"complianceType": "COMPLIANT"},
        "resourceType": rtype
    });
    envelope(
        r,
        n,
        "aws.config",
        "Config Rules Compliance Change",
        &acct,
        region,
        detail,
    )
}

/// `n` events: 50% Security Hub, 20% GuardDuty, 20% CloudTrail, 10% Config.
pub fn events(seed: u64, n: usize) -> Vec<Value> {
    let mut r = Rng::new(seed);
    let accts = accounts();
    (0..n)
        .map(|i| match r.below(10) {
            0..=4 => security_hub(&mut r, i, &accts),
            5 | 6 => guardduty(&mut r, i, &accts),
            7 | 8 => cloudtrail(&mut r, i, &accts),
            _ => config(&mut r, i, &accts),
        })
        .collect()
}

fn some<T: Clone>(r: &mut Rng, xs: &[T], max: usize) -> Vec<T> {
    let k = 1 + r.below(max);
    (0..k).map(|_| r.pick(xs).clone()).collect()
}

/// One rule: a pattern as JSON, mixing all operators.
pub fn rule(r: &mut Rng, accts: &[String]) -> Value {
    match r.below(20) {
        0..=11 => {
            // Security Hub remediation rule.
            let mut f = json!({
                "Compliance": {"SecurityControlId": (0..1 + r.below(2)).map(|_| control(r)).collect::<Vec<_>>()}
            });
            if r.chance(70) {
                f["Compliance"]["Status"] = json!(["FAILED"]);
            }
            if r.chance(60) {
                f["RecordState"] = json!(["ACTIVE"]);
            }
            if r.chance(50) {
                f["Workflow"] = json!({"Status": [{"anything-but": ["SUPPRESSED", "RESOLVED"]}]});
            }
            match r.below(5) {
                0 => f["Severity"] = json!({"Label": some(r, LABELS, 3)}),
                1 => f["Severity"] = json!({"Normalized": [{"numeric": [">=", 10 * r.below(9)]}]}),
                2 => {
                    f["Severity"] = json!({"Normalized": [{"numeric": [">", 10 * r.below(5), "<=", 50 + 10 * r.below(5)]}]})
                }
                _ => {}
            }
            if r.chance(50) {
                let t = *r.pick(RESOURCE_TYPES);
                let mut res = json!({"Type": [t]});
                match r.below(6) {
                    0 => res["Id"] = json!([{"prefix": "arn:aws:s3:::bucket-"}]),
                    1 => {
                        res["Id"] = json!([{"wildcard": format!("arn:aws:iam::*:role/role-{}*", r.below(30))}])
                    }
                    2 => res["Region"] = json!([{"prefix": *r.pick(&["us-", "eu-", "ap-"])}]),
                    3 => res["Tags"] = json!({"env": [{"equals-ignore-case": "PROD"}]}),
                    _ => {}
                }
                f["Resources"] = res;
            }
            if r.chance(50) {
                f["AwsAccountId"] = json!(some(r, accts, 3));
            }
            if r.chance(10) {
                f["Title"] = json!([{"suffix": {"equals-ignore-case": "CONFIGURED SECURELY"}}]);
            }
            if r.chance(10) {
                f["Note"] = json!([{"exists": false}]);
            }
            let mut p = json!({"source": ["aws.securityhub"], "detail": {"findings": f}});
            if r.chance(70) {
                p["detail-type"] = json!(["Security Hub Findings - Imported"]);
            }
            p
        }
        12..=14 => {
            let mut d = json!({});
            match r.below(6) {
                0 => {
                    d["type"] = json!([{"prefix": *r.pick(&["Recon:", "UnauthorizedAccess:", "CryptoCurrency:", "Policy:S3/"])}])
                }
                1 => {
                    d["type"] =
                        json!([{"wildcard": format!("*:{}/*", r.pick(&["EC2", "S3", "IAMUser"]))}])
                }
                _ => d["type"] = json!(some(r, GD_TYPES, 2)),
            }
            d["accountId"] = json!(some(r, accts, 2));
            if r.chance(60) {
                d["severity"] = json!([{"numeric": [">=", r.below(9)]}]);
            }
            if r.chance(20) {
                d["service"] = json!({"archived": [false]});
            }
            if r.chance(20) {
                d["resource"] = json!({"instanceDetails": {"networkInterfaces": {"publicIp": [{"anything-but": {"prefix": "10."}}]}}});
            }
            json!({"source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"], "detail": d})
        }
        15..=17 => {
            let (svc, call) = *r.pick(CT_CALLS);
            let mut d =
                json!({"eventSource": [format!("{svc}.amazonaws.com")], "eventName": [call]});
            match r.below(5) {
                0 => d["sourceIPAddress"] = json!([{"anything-but": {"prefix": "10."}}]),
                1 => {
                    d["sourceIPAddress"] = json!([{"cidr": format!("10.{}.0.0/16", r.below(256))}])
                }
                2 => d["userIdentity"] = json!({"type": [{"anything-but": ["AWSService"]}]}),
                3 => d["errorCode"] = json!([{"exists": false}]),
                _ => {
                    d["userIdentity"] =
                        json!({"sessionContext": {"attributes": {"mfaAuthenticated": ["false"]}}})
                }
            }
            if r.chance(20) {
                d["userAgent"] =
                    json!([{"equals-ignore-case": "AWS-CLI/2.15.0"}, {"prefix": "terraform"}]);
            }
            json!({"source": [format!("aws.{svc}")], "detail-type": ["AWS API Call via CloudTrail"],
                   "account": some(r, accts, 2), "detail": d})
        }
        _ => {
            let mut d = json!({"newEvaluationResult": {"complianceType": ["NON_COMPLIANT"]},
                               "awsAccountId": some(r, accts, 2)});
            match r.below(3) {
                0 => d["configRuleName"] = json!([*r.pick(CONFIG_RULES)]),
                1 => d["configRuleName"] = json!([{"prefix": "securityhub-"}]),
                _ => {
                    d["configRuleName"] = json!([{"suffix": *r.pick(&["-check-def456", "-prohibited-abc123", "-enabled"])}])
                }
            }
            if r.chance(50) {
                d["resourceType"] =
                    json!([*r.pick(&["AWS::S3::Bucket", "AWS::EC2::Volume", "AWS::IAM::User"])]);
            }
            let mut p = json!({"source": ["aws.config"], "detail": d});
            if r.chance(30) {
                let acct = r.pick(accts).clone();
                p = json!({"$or": [p, {"source": ["aws.config"], "detail": {
                    "awsAccountId": [acct], "configRuleName": [{"wildcard": "*-public-*"}]}}]});
            }
            p
        }
    }
}

pub fn rules(seed: u64, n: usize) -> Vec<Value> {
    let mut r = Rng::new(seed);
    let accts = accounts();
    (0..n).map(|_| rule(&mut r, &accts)).collect()
}
