//! A synthetic, labelled corpus for the anomaly detector: eight hours of
//! CloudTrail records and VPC flow log lines of a small estate (a CI role,
//! an application role, a Lambda role, a security scanner, three people,
//! in two accounts; a web server, a database, a batch host and a bastion),
//! with attacks in the last two hours. Deterministic: the same seed gives
//! the same corpus.
//!
//! CloudTrail attacks: console brute force on a person's user (T1110), a
//! stolen access key used in a burst from a new network (T1078.004), an
//! application role's credentials enumerating new regions (T1580). Flow
//! attacks: exfiltration from the batch host (T1048), a port scan of the
//! web server from the internet and one of the database subnet from the
//! batch host (T1046).

#![allow(dead_code)]

use serde_json::{json, Value};

/// 2026-11-30T06:00:00Z.
pub const START: i64 = 1_796_018_400;
/// Length of the corpus in minutes.
pub const MINUTES: i64 = 480;
pub const ACCOUNT: &str = "111122223333";
pub const OTHER_ACCOUNT: &str = "444455556666";

/// A labelled attack: the detector and entity that should flag it in
/// minutes `start..=end` (minutes since the epoch).
#[derive(Debug, Clone)]
pub struct Attack {
    pub name: &'static str,
    pub technique: &'static str,
    pub detector: &'static str,
    /// Entities whose detections find it (any of them).
    pub entities: Vec<String>,
    /// Account-level detections in this account during the attack count
    /// as finding it too.
    pub account: &'static str,
    pub start: i64,
    pub end: i64,
    /// Records or flow lines of the attack.
    pub events: u64,
}

/// splitmix64: small, seedable, good enough for traffic shapes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// In `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// RFC 3339 of a second within the corpus's day (2026-11-30).
fn rfc3339(seconds: i64) -> String {
    let day = 1_795_996_800;
    let s = seconds - day;
    assert!((0..86_400).contains(&s), "the corpus stays within its day");
    format!(
        "2026-11-30T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Who makes calls.
#[derive(Clone)]
pub struct Principal {
    pub account: &'static str,
    /// `user/alice` or `role/app-backend`.
    pub name: &'static str,
    pub session: &'static str,
    /// Its `userIdentity`, built once.
    identity: Value,
}

impl Principal {
    pub fn new(account: &'static str, name: &'static str, session: &'static str) -> Principal {
        let mut p = Principal {
            account,
            name,
            session,
            identity: Value::Null,
        };
        p.identity = p.make_identity();
        p
    }

    /// The long-lived ARN the detector keys on.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:{}", self.account, self.name)
    }

    fn make_identity(&self) -> Value {
        let short = self.name.split('/').nth(1).unwrap_or(self.name);
        if self.name.starts_with("role/") {
            json!({
                "type": "AssumedRole",
                "principalId": format!("AROA{}:{}", short.to_uppercase(), self.session),
                "arn": format!("arn:aws:sts::{}:assumed-role/{short}/{}", self.account, self.session),
                "accountId": self.account,
                "accessKeyId": "ASIAEXAMPLESESSION01",
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": format!("AROA{}", short.to_uppercase()),
                        "arn": self.arn(),
                        "accountId": self.account,
                        "userName": short
                    },
                    "attributes": {"creationDate": "2026-11-30T05:00:00Z", "mfaAuthenticated": "false"}
                }
            })
        } else {
            json!({
                "type": "IAMUser",
                "principalId": format!("AIDA{}", short.to_uppercase()),
                "arn": self.arn(),
                "accountId": self.account,
                "accessKeyId": format!("AKIA{}EXAMPLE", short.to_uppercase()),
                "userName": short
            })
        }
    }
}

/// One API call. `api` is `service:Name` (`ec2:DescribeInstances`).
pub fn call(
    rng: &mut Rng,
    who: &Principal,
    second: i64,
    api: &str,
    region: &str,
    ip: &str,
    error: Option<&str>,
) -> Value {
    let (service, name) = api.split_once(':').unwrap();
    let mut r = json!({
        "eventVersion": "1.09",
        "userIdentity": who.identity.clone(),
        "eventTime": rfc3339(second),
        "eventSource": format!("{service}.amazonaws.com"),
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5",
        "requestParameters": null,
        "responseElements": null,
        "requestID": format!("{:016x}", rng.next()),
        "eventID": format!("{:016x}-{:08x}", rng.next(), second),
        "readOnly": name.starts_with("Describe") || name.starts_with("List") || name.starts_with("Get"),
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": who.account,
        "eventCategory": "Management"
    });
    if let Some(code) = error {
        r["errorCode"] = json!(code);
        r["errorMessage"] = json!(format!("User is not authorized to perform: {api}"));
    }
    r
}

/// A console sign-in, failed or not.
pub fn console_login(rng: &mut Rng, who: &Principal, second: i64, ip: &str, ok: bool) -> Value {
    let mut r = call(
        rng,
        who,
        second,
        "signin:ConsoleLogin",
        "us-east-1",
        ip,
        None,
    );
    r["eventType"] = json!("AwsConsoleSignIn");
    r["userAgent"] = json!("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/133.0");
    r["responseElements"] = json!({"ConsoleLogin": if ok { "Success" } else { "Failure" }});
    r["additionalEventData"] =
        json!({"MFAUsed": "Yes", "LoginTo": "https://console.aws.amazon.com/"});
    if !ok {
        r["errorMessage"] = json!("Failed authentication");
    }
    r
}

const CI_APIS: &[&str] = &[
    "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackEvents",
    "cloudformation:UpdateStack",
    "cloudformation:CreateChangeSet",
    "cloudformation:DescribeChangeSet",
    "cloudformation:ExecuteChangeSet",
    "s3:PutObject",
    "s3:GetObject",
    "s3:ListBucket",
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:PutImage",
    "ecr:InitiateLayerUpload",
    "ecr:CompleteLayerUpload",
    "ec2:DescribeInstances",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "lambda:UpdateFunctionCode",
    "lambda:GetFunction",
    "iam:PassRole",
    "sts:GetCallerIdentity",
    "ssm:GetParameter",
    "logs:CreateLogStream",
    "ecs:UpdateService",
    "ecs:DescribeServices",
];
const APP_APIS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
    "sqs:SendMessage",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "secretsmanager:GetSecretValue",
];
const LAMBDA_APIS: &[&str] = &[
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "s3:GetObject",
    "dynamodb:PutItem",
    "sns:Publish",
    "xray:PutTraceSegments",
];
const PERSON_APIS: &[&str] = &[
    "ec2:DescribeInstances",
    "ec2:DescribeVolumes",
    "ec2:DescribeSecurityGroups",
    "s3:ListBuckets",
    "s3:GetBucketPolicy",
    "s3:GetBucketLocation",
    "cloudwatch:GetMetricData",
    "cloudwatch:DescribeAlarms",
    "logs:FilterLogEvents",
    "logs:DescribeLogGroups",
    "iam:GetUser",
    "iam:ListAttachedUserPolicies",
    "rds:DescribeDBInstances",
    "lambda:ListFunctions",
    "lambda:GetFunction",
    "ce:GetCostAndUsage",
    "health:DescribeEvents",
    "support:DescribeCases",
    "cloudtrail:LookupEvents",
    "ssm:DescribeInstanceInformation",
];
const AUDIT_APIS: &[&str] = &[
    "ec2:DescribeInstances",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVolumes",
    "ec2:DescribeSnapshots",
    "s3:ListBuckets",
    "s3:GetBucketPolicy",
    "s3:GetBucketAcl",
    "s3:GetPublicAccessBlock",
    "iam:ListUsers",
    "iam:ListRoles",
    "iam:ListPolicies",
    "iam:GetAccountPasswordPolicy",
    "kms:ListKeys",
    "kms:GetKeyRotationStatus",
    "cloudtrail:DescribeTrails",
    "config:DescribeConfigRules",
    "guardduty:ListDetectors",
    "rds:DescribeDBInstances",
];
const AUDIT_REGIONS: &[&str] = &["us-east-1", "us-west-2", "eu-west-1", "eu-central-1"];
const ATTACK_DISCOVERY: &[&str] = &[
    "iam:ListUsers",
    "iam:ListRoles",
    "iam:GetAccountAuthorizationDetails",
    "iam:ListAccessKeys",
    "s3:ListBuckets",
    "secretsmanager:ListSecrets",
    "secretsmanager:GetSecretValue",
    "ec2:DescribeInstances",
    "ec2:DescribeSnapshots",
    "sts:GetCallerIdentity",
    "organizations:DescribeOrganization",
    "lambda:ListFunctions",
    "ssm:GetParameters",
    "rds:DescribeDBSnapshots",
    "iam:CreateAccessKey",
];
const FAR_REGIONS: &[&str] = &[
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
    "ca-central-1",
    "eu-north-1",
    "eu-west-3",
    "me-south-1",
    "af-south-1",
    "ap-east-1",
    "eu-south-1",
    "us-west-1",
    "us-east-2",
];

pub fn principals() -> Vec<Principal> {
    vec![
        Principal::new(ACCOUNT, "role/ci-deploy", "gha-run"),
        Principal::new(ACCOUNT, "role/app-backend", "i-0a1b2c3d4e5f60718"),
        Principal::new(ACCOUNT, "role/lambda-processor", "processor"),
        Principal::new(ACCOUNT, "user/alice", ""),
        Principal::new(ACCOUNT, "user/bob", ""),
        Principal::new(OTHER_ACCOUNT, "role/security-audit", "audit"),
        Principal::new(OTHER_ACCOUNT, "user/carol", ""),
    ]
}

/// CloudTrail records, one list per minute from [`START`], and the
/// attacks among them (none with `attacks` false).
pub fn cloudtrail(seed: u64, attacks: bool) -> (Vec<Vec<Value>>, Vec<Attack>) {
    let mut rng = Rng::new(seed);
    let p = principals();
    let (ci, app, lambda, alice, bob, audit, carol) =
        (&p[0], &p[1], &p[2], &p[3], &p[4], &p[5], &p[6]);
    let first = START / 60;
    let mut labels = Vec::new();
    let brute = (first + 370, first + 372);
    let stolen = (first + 400, first + 404);
    let enumerate = (first + 440, first + 444);
    let mut counts = [0u64; 3];
    let mut minutes = Vec::new();
    for m in 0..MINUTES {
        let minute = first + m;
        let base = minute * 60;
        let mut out = Vec::new();
        let sec = |rng: &mut Rng| base + rng.range(0, 59) as i64;
        // CI: a deploy pipeline, busy in bursts, from its runners' network.
        let n = if rng.chance(0.3) {
            rng.range(20, 40)
        } else {
            rng.range(3, 12)
        };
        for _ in 0..n {
            let ip = format!("198.51.100.{}", rng.range(10, 60));
            let region = if rng.chance(0.8) {
                "us-east-1"
            } else {
                "eu-west-1"
            };
            let err = rng.chance(0.02).then_some("ThrottlingException");
            let s = sec(&mut rng);
            let api = rng_pick(&mut rng, CI_APIS);
            out.push(call(&mut rng, ci, s, api, region, &ip, err));
        }
        // The application: steady traffic through VPC endpoints.
        for _ in 0..rng.range(30, 70) {
            let ip = format!("10.0.{}.{}", rng.range(1, 3), rng.range(10, 250));
            let err = rng
                .chance(0.01)
                .then_some("ConditionalCheckFailedException");
            let s = sec(&mut rng);
            let api = rng_pick(&mut rng, APP_APIS);
            out.push(call(&mut rng, app, s, api, "us-east-1", &ip, err));
        }
        // Lambda: from a handful of AWS address ranges, now and then another.
        for _ in 0..rng.range(4, 20) {
            let net = if rng.chance(0.005) {
                rng.range(100, 250)
            } else {
                rng.range(80, 84)
            };
            let ip = format!("3.{net}.{}.{}", rng.range(0, 255), rng.range(1, 254));
            let s = sec(&mut rng);
            let api = rng_pick(&mut rng, LAMBDA_APIS);
            out.push(call(&mut rng, lambda, s, api, "us-east-1", &ip, None));
        }
        // People: about half their minutes active, from the office or home.
        for (who, nets) in [
            (alice, &["203.0.113", "192.0.2"][..]),
            (bob, &["203.0.113", "2001:db8:10"][..]),
            (carol, &["198.18.7"][..]),
        ] {
            if !rng.chance(0.45) {
                continue;
            }
            let net = *rng.pick(nets);
            let ip = if net.contains(':') {
                format!("{net}::{:x}", rng.range(1, 4000))
            } else {
                format!("{net}.{}", rng.range(2, 250))
            };
            if rng.chance(0.02) {
                let s = sec(&mut rng);
                out.push(console_login(&mut rng, who, s, &ip, true));
            }
            for _ in 0..rng.range(1, 15) {
                let region = if rng.chance(0.9) {
                    "us-east-1"
                } else {
                    "eu-west-1"
                };
                let err = rng.chance(0.04).then_some("AccessDenied");
                let s = sec(&mut rng);
                let api = rng_pick(&mut rng, PERSON_APIS);
                out.push(call(&mut rng, who, s, api, region, &ip, err));
            }
        }
        // The security scanner: a sweep every five minutes.
        if m % 5 == 0 {
            for _ in 0..rng.range(40, 70) {
                let ip = format!("198.51.100.{}", rng.range(200, 220));
                let region = *rng.pick(AUDIT_REGIONS);
                let err = rng.chance(0.03).then_some("AccessDenied");
                let s = sec(&mut rng);
                let api = rng_pick(&mut rng, AUDIT_APIS);
                out.push(call(&mut rng, audit, s, api, region, &ip, err));
            }
        }
        if attacks {
            if (brute.0..=brute.1).contains(&minute) {
                for _ in 0..rng.range(30, 50) {
                    let ip = format!("45.33.32.{}", rng.range(1, 254));
                    let s = sec(&mut rng);
                    out.push(console_login(&mut rng, alice, s, &ip, false));
                    counts[0] += 1;
                }
            }
            if (stolen.0..=stolen.1).contains(&minute) {
                for _ in 0..rng.range(120, 180) {
                    let ip = format!("185.220.101.{}", rng.range(1, 60));
                    let api = rng_pick(&mut rng, ATTACK_DISCOVERY);
                    let err = rng.chance(0.25).then_some("AccessDenied");
                    let s = sec(&mut rng);
                    out.push(call(&mut rng, bob, s, api, "us-east-1", &ip, err));
                    counts[1] += 1;
                }
            }
            if (enumerate.0..=enumerate.1).contains(&minute) {
                for _ in 0..rng.range(50, 80) {
                    let region = *rng.pick(FAR_REGIONS);
                    let api = *rng.pick(&[
                        "ec2:DescribeInstances",
                        "ec2:DescribeVpcs",
                        "ec2:DescribeSecurityGroups",
                        "lambda:ListFunctions",
                        "rds:DescribeDBInstances",
                    ]);
                    let err = rng.chance(0.4).then_some("Client.UnauthorizedOperation");
                    let s = sec(&mut rng);
                    out.push(call(&mut rng, app, s, api, region, "192.0.2.250", err));
                    counts[2] += 1;
                }
            }
        }
        out.sort_by(|a, b| a["eventTime"].as_str().cmp(&b["eventTime"].as_str()));
        minutes.push(out);
    }
    if attacks {
        labels.push(Attack {
            name: "console brute force",
            technique: "T1110",
            detector: "anomaly-principal",
            entities: vec![alice.arn()],
            account: ACCOUNT,
            start: brute.0,
            end: brute.1,
            events: counts[0],
        });
        labels.push(Attack {
            name: "stolen access key burst from a new network",
            technique: "T1078.004",
            detector: "anomaly-principal",
            entities: vec![bob.arn()],
            account: ACCOUNT,
            start: stolen.0,
            end: stolen.1,
            events: counts[1],
        });
        labels.push(Attack {
            name: "enumeration across new regions",
            technique: "T1580",
            detector: "anomaly-principal",
            entities: vec![app.arn()],
            account: ACCOUNT,
            start: enumerate.0,
            end: enumerate.1,
            events: counts[2],
        });
    }
    (minutes, labels)
}

fn rng_pick(rng: &mut Rng, items: &[&'static str]) -> &'static str {
    items[(rng.next() % items.len() as u64) as usize]
}

/// One flow log line; the arguments are the record's fields, in order.
#[allow(clippy::too_many_arguments)]
fn flow(
    eni: &str,
    src: &str,
    dst: &str,
    sport: u64,
    dport: u64,
    packets: u64,
    bytes: u64,
    minute: i64,
    action: &str,
) -> String {
    let start = minute * 60;
    format!(
        "2 {ACCOUNT} {eni} {src} {dst} {sport} {dport} 6 {packets} {bytes} {start} {} {action} OK",
        start + 60
    )
}

/// VPC flow log lines (default format), one list per minute from
/// [`START`], and the attacks among them.
pub fn flows(seed: u64, attacks: bool) -> (Vec<Vec<String>>, Vec<Attack>) {
    let mut rng = Rng::new(seed ^ 0xf10f);
    let first = START / 60;
    let exfil = (first + 390, first + 399);
    let scan = (first + 420, first + 422);
    let lateral = (first + 450, first + 452);
    let (web, db, batch, bastion) = ("10.0.1.10", "10.0.2.20", "10.0.3.30", "10.0.0.5");
    let s3_ranges = ["52.216.8", "52.216.9", "52.217.40", "16.182.33"];
    let mut counts = [0u64; 3];
    let mut minutes = Vec::new();
    for m in 0..MINUTES {
        let minute = first + m;
        let mut out = Vec::new();
        // Web server: clients from everywhere, answered on 443.
        for _ in 0..rng.range(20, 45) {
            let client = format!(
                "{}.{}.{}.{}",
                rng.range(11, 223),
                rng.range(0, 255),
                rng.range(0, 255),
                rng.range(1, 254)
            );
            let eph = rng.range(32768, 60999);
            out.push(flow(
                "eni-0web",
                &client,
                web,
                eph,
                443,
                rng.range(5, 20),
                rng.range(800, 4000),
                minute,
                "ACCEPT",
            ));
            out.push(flow(
                "eni-0web",
                web,
                &client,
                443,
                eph,
                rng.range(5, 60),
                rng.range(5_000, 200_000),
                minute,
                "ACCEPT",
            ));
        }
        // Internet noise: probes the security group drops.
        for _ in 0..rng.range(0, 4) {
            let src = format!(
                "{}.{}.{}.{}",
                rng.range(11, 223),
                rng.range(0, 255),
                rng.range(0, 255),
                rng.range(1, 254)
            );
            let port = *rng.pick(&[22u64, 23, 3389, 445, 8080, 6379]);
            out.push(flow(
                "eni-0web",
                &src,
                web,
                rng.range(1024, 65000),
                port,
                1,
                60,
                minute,
                "REJECT",
            ));
        }
        // Web to database and back.
        for _ in 0..rng.range(3, 8) {
            let eph = rng.range(32768, 60999);
            let (q, a) = (rng.range(500, 5_000), rng.range(2_000, 80_000));
            out.push(flow(
                "eni-0web", web, db, eph, 5432, 10, q, minute, "ACCEPT",
            ));
            out.push(flow("eni-0db", web, db, eph, 5432, 10, q, minute, "ACCEPT"));
            out.push(flow("eni-0db", db, web, 5432, eph, 20, a, minute, "ACCEPT"));
            out.push(flow(
                "eni-0web", db, web, 5432, eph, 20, a, minute, "ACCEPT",
            ));
        }
        // Batch host: uploads to S3 now and then.
        if rng.chance(0.6) {
            for _ in 0..rng.range(1, 4) {
                let s3 = format!("{}.{}", rng.pick(&s3_ranges), rng.range(1, 20));
                let eph = rng.range(32768, 60999);
                out.push(flow(
                    "eni-0batch",
                    batch,
                    &s3,
                    eph,
                    443,
                    rng.range(200, 2_000),
                    rng.range(1_000_000, 8_000_000),
                    minute,
                    "ACCEPT",
                ));
                out.push(flow(
                    "eni-0batch",
                    &s3,
                    batch,
                    443,
                    eph,
                    rng.range(50, 400),
                    rng.range(10_000, 60_000),
                    minute,
                    "ACCEPT",
                ));
            }
        }
        // Bastion: an admin's SSH session now and then.
        if rng.chance(0.1) {
            let admin = format!("203.0.113.{}", rng.range(2, 250));
            let eph = rng.range(32768, 60999);
            out.push(flow(
                "eni-0bastion",
                &admin,
                bastion,
                eph,
                22,
                40,
                rng.range(3_000, 20_000),
                minute,
                "ACCEPT",
            ));
            out.push(flow(
                "eni-0bastion",
                bastion,
                &admin,
                22,
                eph,
                40,
                rng.range(5_000, 60_000),
                minute,
                "ACCEPT",
            ));
        }
        // Flow logs deliver records without traffic too.
        if rng.chance(0.05) {
            out.push(format!(
                "2 {ACCOUNT} eni-0bastion - - - - - - - {} {} - NODATA",
                minute * 60,
                minute * 60 + 60
            ));
        }
        if attacks {
            if (exfil.0..=exfil.1).contains(&minute) {
                for _ in 0..rng.range(8, 12) {
                    let eph = rng.range(32768, 60999);
                    out.push(flow(
                        "eni-0batch",
                        batch,
                        "198.51.100.77",
                        eph,
                        443,
                        150_000,
                        rng.range(150_000_000, 250_000_000),
                        minute,
                        "ACCEPT",
                    ));
                    counts[0] += 1;
                }
            }
            if (scan.0..=scan.1).contains(&minute) {
                for port in 1..=300u64 {
                    let action = if port == 443 { "ACCEPT" } else { "REJECT" };
                    out.push(flow(
                        "eni-0web",
                        "45.33.32.156",
                        web,
                        61000,
                        port + (minute - scan.0) as u64 * 300,
                        1,
                        44,
                        minute,
                        action,
                    ));
                    counts[1] += 1;
                }
            }
            if (lateral.0..=lateral.1).contains(&minute) {
                for host in 2..=60u64 {
                    for port in [22u64, 445, 3389] {
                        let dst = format!("10.0.2.{host}");
                        out.push(flow(
                            "eni-0batch",
                            batch,
                            &dst,
                            rng.range(32768, 60999),
                            port,
                            1,
                            60,
                            minute,
                            "REJECT",
                        ));
                        counts[2] += 1;
                    }
                }
            }
        }
        minutes.push(out);
    }
    let mut labels = Vec::new();
    if attacks {
        labels.push(Attack {
            name: "exfiltration burst",
            technique: "T1048",
            detector: "anomaly-flow",
            entities: vec![format!("src:{batch}"), "eni:eni-0batch".to_string()],
            account: ACCOUNT,
            start: exfil.0,
            end: exfil.1,
            events: counts[0],
        });
        labels.push(Attack {
            name: "port scan from the internet",
            technique: "T1046",
            detector: "anomaly-flow",
            entities: vec!["eni:eni-0web".to_string()],
            account: ACCOUNT,
            start: scan.0,
            end: scan.1,
            events: counts[1],
        });
        labels.push(Attack {
            name: "port scan of the database subnet from the batch host",
            technique: "T1046",
            detector: "anomaly-flow",
            entities: vec![format!("src:{batch}"), "eni:eni-0batch".to_string()],
            account: ACCOUNT,
            start: lateral.0,
            end: lateral.1,
            events: counts[2],
        });
    }
    (minutes, labels)
}

/// How a run over the corpus went.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Per attack: its name, and the score of its first detection.
    pub attacks: Vec<(&'static str, Option<f64>)>,
    /// Detections (anomalous buckets) during an attack, of its entity or
    /// of its account.
    pub true_positives: usize,
    /// Every other detection: (detector, entity, minute offset, score).
    pub false_positives: Vec<(String, String, i64, f64)>,
}

impl Evaluation {
    pub fn detected(&self) -> usize {
        self.attacks.iter().filter(|(_, s)| s.is_some()).count()
    }
    pub fn recall(&self) -> f64 {
        self.detected() as f64 / self.attacks.len().max(1) as f64
    }
    pub fn precision(&self) -> f64 {
        let all = self.true_positives + self.false_positives.len();
        if all == 0 {
            1.0
        } else {
            self.true_positives as f64 / all as f64
        }
    }
}

/// The minute of a detection's bucket.
pub fn minute_of(d: &rectify_detect::Detection) -> i64 {
    time::OffsetDateTime::parse(&d.last_seen, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
        .div_euclid(60)
}

/// Matches detections to attacks. A detection finds an attack when it is
/// about the attack's entity (or, for CloudTrail, its account) and its
/// minute is in the attack or within two minutes after it (the bucket of
/// the last attack minute closes with the next record).
pub fn evaluate(detections: &[rectify_detect::Detection], attacks: &[Attack]) -> Evaluation {
    let mut e = Evaluation {
        attacks: attacks.iter().map(|a| (a.name, None)).collect(),
        ..Default::default()
    };
    for d in detections {
        let minute = minute_of(d);
        let entity = d.evidence["entity"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let score = d.evidence["score"].as_f64().unwrap_or_default();
        let mut matched = false;
        for (i, a) in attacks.iter().enumerate() {
            if minute < a.start || minute > a.end + 2 {
                continue;
            }
            let same_entity = d.detector == a.detector && a.entities.contains(&entity);
            let same_account = d.detector == "anomaly-account"
                && a.detector == "anomaly-principal"
                && entity == a.account;
            if same_entity || same_account {
                matched = true;
                if same_entity && e.attacks[i].1.is_none() {
                    e.attacks[i].1 = Some(score);
                }
            }
        }
        if matched {
            e.true_positives += 1;
        } else {
            e.false_positives
                .push((d.detector.clone(), entity, minute - START / 60, score));
        }
    }
    e
}

/// The settings the evaluation runs with: the defaults, switched on.
pub fn settings() -> rectify_detect::anomaly::AnomalySettings {
    rectify_detect::anomaly::AnomalySettings {
        enabled: true,
        ..Default::default()
    }
}

/// Feeds both corpora, minute by minute, to `detector`, then flushes.
pub fn run(
    detector: &mut rectify_detect::anomaly::AnomalyDetector,
    cloudtrail: &[Vec<Value>],
    flows: &[Vec<String>],
) -> Vec<rectify_detect::Detection> {
    use rectify_detect::Detector;
    let mut out = Vec::new();
    for (records, lines) in cloudtrail.iter().zip(flows) {
        for r in records {
            out.extend(detector.observe(rectify_detect::Record::new(r)));
        }
        for line in lines {
            out.extend(detector.observe_flow(line));
        }
    }
    out.extend(detector.flush());
    out
}
