//! Calls per fix: for each action of the catalog with an entry in
//! [`CASES`], one fix of a non-compliant resource (check, plan, apply,
//! verify) goes through a recording proxy in front of moto, and the AWS
//! calls the action sent (its own credentials; STS not counted) must be
//! exactly its `spec().calls_per_fix`. The fixed resource is then read
//! back with the test's own client.
//!
//! Adding an action is one entry in [`CASES`]: its id, its params, and a
//! `setup` that makes a non-compliant resource in a fresh account and
//! says how to read it back. Catalog actions without an entry are
//! printed, not failed, so that a new action does not break this test
//! before it has its entry.
//!
//! The proxy is chosen when the test binary's harness starts; when
//! another test started it without one, this test runs itself again in a
//! child process of the same binary (only this test, against the same
//! moto) where it starts first, with the proxy.

use std::future::Future;
use std::pin::Pin;

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, OperationType, PermissionGroup, SnapshotAttributeName,
    UserIdGroupPair,
};
use rectify_model::Target;
use serde_json::{json, Value};

use crate::support::{finding_event, harness, harness_recording, unique, Account, Harness, REGION};

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Reads the fixed resource back with the test's own client: true when
/// it complies.
type ReadBack = Box<dyn FnOnce() -> Boxed<'static, bool> + Send>;

/// A non-compliant resource, made by a case's `setup`.
struct Fixture {
    /// The finding the fix starts from.
    event: rectify_model::Event,
    read_back: ReadBack,
}

struct Case {
    action: &'static str,
    params: fn() -> Value,
    setup: for<'a> fn(&'a Account) -> Boxed<'a, Fixture>,
}

/// One entry per action whose fixture moto can hold.
const CASES: &[Case] = &[
    Case {
        action: "aws.s3.block-public-access",
        params: || json!({}),
        setup: |a| Box::pin(s3_bucket_without_block(a)),
    },
    Case {
        action: "aws.ec2.revoke-public-admin-ingress",
        params: || json!({"ports": [22]}),
        setup: |a| Box::pin(ssh_open_to_the_world(a)),
    },
    Case {
        action: "aws.ec2.restrict-default-security-group",
        params: || json!({}),
        setup: |a| Box::pin(default_group_with_rules(a)),
    },
    Case {
        action: "aws.ec2.enable-ebs-default-encryption",
        params: || json!({}),
        setup: |a| Box::pin(ebs_encryption_off(a)),
    },
    Case {
        action: "aws.ec2.make-snapshots-private",
        params: || json!({}),
        setup: |a| Box::pin(public_snapshot(a)),
    },
    Case {
        action: "aws.iam.set-password-policy",
        params: || json!({}),
        setup: |a| Box::pin(no_password_policy(a)),
    },
    Case {
        action: "aws.guardduty.enable-detector",
        params: || json!({}),
        setup: |a| Box::pin(no_detector(a)),
    },
    Case {
        action: "aws.s3.block-public-access-account",
        params: || json!({}),
        setup: |a| Box::pin(no_account_block(a)),
    },
    Case {
        action: "aws.cloudtrail.enable-multi-region-trail",
        params: || json!({"bucket": "budget-trail-{account}"}),
        setup: |a| Box::pin(no_trail(a)),
    },
];

const TEST_NAME: &str = "call_budget::each_fix_makes_the_calls_its_spec_declares";
const CHILD: &str = "RECTIFY_TEST_CALL_BUDGET_CHILD";

#[tokio::test]
async fn each_fix_makes_the_calls_its_spec_declares() {
    let h = if std::env::var_os(CHILD).is_some() {
        harness_recording()
    } else {
        harness()
    };
    if h.recorder.is_none() {
        return run_in_child(h);
    }

    // Every case names an action of the catalog.
    let listed: Vec<&str> = {
        let account = Account::new().await;
        rectify_aws::catalog(account.aws().await)
            .iter()
            .map(|a| a.spec().id)
            .collect()
    };
    for case in CASES {
        assert!(
            listed.contains(&case.action),
            "{} is not in the catalog",
            case.action
        );
    }
    let uncovered: Vec<&&str> = listed
        .iter()
        .filter(|id| !CASES.iter().any(|c| c.action == **id))
        .collect();
    if !uncovered.is_empty() {
        eprintln!("calls per fix not counted (no entry in CASES): {uncovered:?}");
    }

    let mut wrong = Vec::new();
    for case in CASES {
        let (declared, calls) = one_fix(h, case).await;
        eprintln!(
            "{}: {} call(s), declared {declared}: {calls:?}",
            case.action,
            calls.len()
        );
        if calls.len() as u32 != declared {
            wrong.push(format!(
                "{}: declares {declared} calls per fix, made {}: {calls:#?}",
                case.action,
                calls.len()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// One fix through the recorder: the spec's count, and the calls made.
async fn one_fix(h: &Harness, case: &Case) -> (u32, Vec<String>) {
    let account = Account::new().await;
    let fixture = (case.setup)(&account).await;
    let aws = account.aws().await;
    let action = rectify_aws::catalog(aws.clone())
        .into_iter()
        .find(|a| a.spec().id == case.action)
        .unwrap();
    let params = (case.params)();
    let target: Target = action.target(&fixture.event).unwrap();
    // The action's calls are signed with the role's credentials in this
    // account (assumed now, before counting; STS is not counted anyway).
    let key = aws
        .config_for(&account.id, REGION)
        .await
        .unwrap()
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap()
        .access_key_id()
        .to_string();
    let recorder = h.recorder.as_ref().unwrap();
    let start = recorder.requests().len();

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant, "{}: {:?}", case.action, observed.state);
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant, "{}: {:?}", case.action, after.state);

    let calls: Vec<String> = recorder.requests()[start..]
        .iter()
        .filter(|r| r.contains(&format!("Credential={key}/")))
        .filter_map(|r| call_name(r))
        .collect();
    assert!(
        (fixture.read_back)().await,
        "{}: the test's own read-back does not see the fix",
        case.action
    );
    (action.spec().calls_per_fix, calls)
}

/// `service Operation` of a recorded request (`None` for STS): the
/// service from the signature's scope, the operation from the query
/// protocol's `Action`, the JSON protocol's target, or the REST request
/// line.
fn call_name(request: &str) -> Option<String> {
    let scope = request
        .split("Credential=")
        .nth(1)?
        .split([',', ' '])
        .next()?;
    let service = scope.split('/').nth(3)?;
    if service == "sts" {
        return None;
    }
    let (head, body) = request.split_once("\r\n\r\n").unwrap_or((request, ""));
    let operation = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .map(str::to_string)
        .or_else(|| {
            head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("x-amz-target")
                    .then(|| v.trim().to_string())
            })
        })
        .unwrap_or_else(|| {
            head.lines()
                .next()
                .unwrap_or_default()
                .trim_end_matches(" HTTP/1.1")
                .to_string()
        });
    Some(format!("{service} {operation}"))
}

/// Runs this test alone in a child of the same test binary, against the
/// same moto, where it starts the harness with the recorder.
fn run_in_child(h: &Harness) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new(exe);
    cmd.args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("RECTIFY_TEST_MOTO_URL", &h.moto_url);
    if let Ok(url) = &h.securityhub_url {
        cmd.env("RECTIFY_TEST_SECURITYHUB_URL", url);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(
        out.status.success() && text.contains("test result: ok. 1 passed"),
        "the call count in a child process failed:\n{text}"
    );
}

fn bool_of(b: Option<bool>) -> bool {
    b.unwrap_or(false)
}

/// S3.8: a bucket without Block Public Access.
async fn s3_bucket_without_block(account: &Account) -> Fixture {
    let s3 = account.s3();
    let bucket = unique("budget");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let event = finding_event(
        &account.id,
        "S3.8",
        "AwsS3Bucket",
        &format!("arn:aws:s3:::{bucket}"),
        Value::Null,
    );
    Fixture {
        event,
        read_back: Box::new(move || {
            Box::pin(async move {
                let out = s3
                    .get_public_access_block()
                    .bucket(&bucket)
                    .send()
                    .await
                    .unwrap();
                let c = out.public_access_block_configuration().unwrap();
                bool_of(c.block_public_acls())
                    && bool_of(c.ignore_public_acls())
                    && bool_of(c.block_public_policy())
                    && bool_of(c.restrict_public_buckets())
            })
        }),
    }
}

/// The group's ingress from `0.0.0.0/0`: `(protocol, from, to)`.
async fn world_ingress(ec2: &aws_sdk_ec2::Client, group: &str) -> Vec<(String, i32, i32)> {
    let out = ec2
        .describe_security_groups()
        .group_ids(group)
        .send()
        .await
        .unwrap();
    out.security_groups()[0]
        .ip_permissions()
        .iter()
        .filter(|p| {
            p.ip_ranges()
                .iter()
                .any(|r| r.cidr_ip() == Some("0.0.0.0/0"))
        })
        .map(|p| {
            (
                p.ip_protocol().unwrap_or_default().to_string(),
                p.from_port().unwrap_or(-1),
                p.to_port().unwrap_or(-1),
            )
        })
        .collect()
}

/// EC2.13: SSH open to `0.0.0.0/0` (and HTTPS, which stays).
async fn ssh_open_to_the_world(account: &Account) -> Fixture {
    let ec2 = account.ec2();
    let group = ec2
        .create_security_group()
        .group_name(unique("budget"))
        .description("calls per fix")
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let world = |port: i32| {
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(port)
            .to_port(port)
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build()
    };
    ec2.authorize_security_group_ingress()
        .group_id(&group)
        .ip_permissions(world(22))
        .ip_permissions(world(443))
        .send()
        .await
        .unwrap();
    let event = finding_event(
        &account.id,
        "EC2.13",
        "AwsEc2SecurityGroup",
        &format!("arn:aws:ec2:{REGION}:{}:security-group/{group}", account.id),
        Value::Null,
    );
    Fixture {
        event,
        read_back: Box::new(move || {
            Box::pin(
                async move { world_ingress(&ec2, &group).await == [("tcp".to_string(), 443, 443)] },
            )
        }),
    }
}

/// EC2.2: a new VPC's default group, with its default rules.
async fn default_group_with_rules(account: &Account) -> Fixture {
    let ec2 = account.ec2();
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.42.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap();
    let group = ec2
        .describe_security_groups()
        .filters(Filter::builder().name("vpc-id").values(&vpc).build())
        .filters(
            Filter::builder()
                .name("group-name")
                .values("default")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .group_id()
        .unwrap()
        .to_string();
    // AWS makes a default group with an ingress rule from itself and an
    // egress rule to anywhere; moto makes only the egress one.
    ec2.authorize_security_group_ingress()
        .group_id(&group)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("-1")
                .user_id_group_pairs(UserIdGroupPair::builder().group_id(&group).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let event = finding_event(
        &account.id,
        "EC2.2",
        "AwsEc2SecurityGroup",
        &format!("arn:aws:ec2:{REGION}:{}:security-group/{group}", account.id),
        Value::Null,
    );
    Fixture {
        event,
        read_back: Box::new(move || {
            Box::pin(async move {
                let out = ec2
                    .describe_security_group_rules()
                    .filters(Filter::builder().name("group-id").values(&group).build())
                    .send()
                    .await
                    .unwrap();
                out.security_group_rules().is_empty()
            })
        }),
    }
}

fn account_event(account: &str, control: &str) -> rectify_model::Event {
    finding_event(
        account,
        control,
        "AwsAccount",
        &format!("AWS::::Account:{account}"),
        Value::Null,
    )
}

/// EC2.7: EBS encryption by default off (a fresh account).
async fn ebs_encryption_off(account: &Account) -> Fixture {
    let ec2 = account.ec2();
    Fixture {
        event: account_event(&account.id, "EC2.7"),
        read_back: Box::new(move || {
            Box::pin(async move {
                bool_of(
                    ec2.get_ebs_encryption_by_default()
                        .send()
                        .await
                        .unwrap()
                        .ebs_encryption_by_default(),
                )
            })
        }),
    }
}

/// EC2.1: a snapshot anyone may restore.
async fn public_snapshot(account: &Account) -> Fixture {
    let ec2 = account.ec2();
    let volume = ec2
        .create_volume()
        .availability_zone(format!("{REGION}a"))
        .size(1)
        .send()
        .await
        .unwrap()
        .volume_id
        .unwrap();
    let snapshot = ec2
        .create_snapshot()
        .volume_id(volume)
        .send()
        .await
        .unwrap()
        .snapshot_id
        .unwrap();
    ec2.modify_snapshot_attribute()
        .snapshot_id(&snapshot)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .operation_type(OperationType::Add)
        .group_names("all")
        .send()
        .await
        .unwrap();
    let event = finding_event(
        &account.id,
        "EC2.1",
        "AwsEc2Snapshot",
        &format!("arn:aws:ec2:{REGION}::snapshot/{snapshot}"),
        Value::Null,
    );
    Fixture {
        event,
        read_back: Box::new(move || {
            Box::pin(async move {
                let out = ec2
                    .describe_snapshot_attribute()
                    .snapshot_id(&snapshot)
                    .attribute(SnapshotAttributeName::CreateVolumePermission)
                    .send()
                    .await
                    .unwrap();
                !out.create_volume_permissions()
                    .iter()
                    .any(|p| p.group() == Some(&PermissionGroup::All))
            })
        }),
    }
}

/// IAM.7: no password policy (a fresh account).
async fn no_password_policy(account: &Account) -> Fixture {
    let iam = account.iam();
    Fixture {
        event: account_event(&account.id, "IAM.7"),
        read_back: Box::new(move || {
            Box::pin(async move {
                let out = iam.get_account_password_policy().send().await.unwrap();
                out.password_policy()
                    .is_some_and(|p| p.minimum_password_length().unwrap_or(0) >= 14)
            })
        }),
    }
}

/// GuardDuty.1: no detector (a fresh account).
async fn no_detector(account: &Account) -> Fixture {
    let guardduty = account.guardduty();
    Fixture {
        event: account_event(&account.id, "GuardDuty.1"),
        read_back: Box::new(move || {
            Box::pin(async move {
                let ids = guardduty.list_detectors().send().await.unwrap();
                let Some(id) = ids.detector_ids().first() else {
                    return false;
                };
                let detector = guardduty
                    .get_detector()
                    .detector_id(id)
                    .send()
                    .await
                    .unwrap();
                detector.status().map(|s| s.as_str()) == Some("ENABLED")
            })
        }),
    }
}

/// S3.1: no account-level Block Public Access (a fresh account).
async fn no_account_block(account: &Account) -> Fixture {
    let s3control = account.s3control();
    let id = account.id.clone();
    Fixture {
        event: account_event(&account.id, "S3.1"),
        read_back: Box::new(move || {
            Box::pin(async move {
                let out = s3control
                    .get_public_access_block()
                    .account_id(&id)
                    .send()
                    .await
                    .unwrap();
                out.public_access_block_configuration().is_some_and(|c| {
                    bool_of(c.block_public_acls())
                        && bool_of(c.ignore_public_acls())
                        && bool_of(c.block_public_policy())
                        && bool_of(c.restrict_public_buckets())
                })
            })
        }),
    }
}

/// CloudTrail.1: no trail (a fresh account) and the bucket a trail may
/// write to; the fix creates the trail (making the bucket too costs four
/// calls more: `calls_per_fix` counts the fix without it).
async fn no_trail(account: &Account) -> Fixture {
    let bucket = format!("budget-trail-{}", account.id);
    account
        .s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let cloudtrail = account.cloudtrail();
    Fixture {
        event: account_event(&account.id, "CloudTrail.1"),
        read_back: Box::new(move || {
            Box::pin(async move {
                let trails = cloudtrail.describe_trails().send().await.unwrap();
                let Some(trail) = trails
                    .trail_list()
                    .iter()
                    .find(|t| t.is_multi_region_trail() == Some(true))
                else {
                    return false;
                };
                let arn = trail.trail_arn().unwrap_or_default();
                let status = cloudtrail
                    .get_trail_status()
                    .name(arn)
                    .send()
                    .await
                    .unwrap();
                status.is_logging() == Some(true)
            })
        }),
    }
}
