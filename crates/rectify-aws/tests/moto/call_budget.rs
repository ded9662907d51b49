//! Calls per fix: for each action of the catalog with an entry in
//! [`CASES`], one fix of a non-compliant resource (check, plan, apply,
//! verify) goes through a recording proxy in front of moto, and the AWS
//! calls the action sent (its own credentials; STS not counted) must be
//! exactly its `spec().calls_per_fix`. The fixed resource is then read
//! back with the test's own client.
//!
//! Adding an action is one entry in [`CASES`]: its id and a `setup`
//! that makes a non-compliant resource in a fresh account and gives the
//! finding, the params and how to read the fix back. Every action of the
//! catalog has an entry there or in [`NOT_COUNTED`] with the reason the
//! emulator cannot run its fix.
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

use aws_sdk_ec2::types::HttpTokensState;
use aws_sdk_iam::types::StatusType;
use aws_sdk_sqs::types::QueueAttributeName;

use crate::cloudwatch_alarms::{alarm, filters, topic as cloudwatch_topic, trail_to_logs};
use crate::ec2_controls::{
    api_call as ec2_api_call, arn as ec2_arn, attached_gateway, attached_volume, copies_of,
    flow_logs, gateway_vpcs, instance, maps_public_ip, metadata_options, vpc_with_public_ip_subnet,
};
use crate::iam_keys_and_encryption::{
    cluster_public, queue_encryption, rotation, scan_on_push, statuses, topic_key, user_with_keys,
};
use crate::logging_and_monitoring::{config_state, read_trail, trail};
use crate::public_resources::{
    new_document, new_function, new_instance, new_snapshot, public_sharing, publicly_accessible,
    restore_of, share_document, share_snapshot, shared_with, snapshot_arn, statements_of,
};
use crate::s3_controls::{encryption_of, log_bucket, logging_of, policy_of, put_policy};
use crate::support::{finding_event, harness, harness_recording, unique, Account, Harness, REGION};

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Reads the fixed resource back with the test's own client: true when
/// it complies.
type ReadBack = Box<dyn FnOnce() -> Boxed<'static, bool> + Send>;

/// A non-compliant resource, made by a case's `setup`.
struct Fixture {
    /// The finding (or API call) the fix starts from.
    event: rectify_model::Event,
    /// The rule's params for the fix (some name what the setup made).
    params: Value,
    read_back: ReadBack,
}

impl Fixture {
    fn new(event: rectify_model::Event, params: Value, read_back: ReadBack) -> Fixture {
        Fixture {
            event,
            params,
            read_back,
        }
    }
}

struct Case {
    action: &'static str,
    setup: for<'a> fn(&'a Account) -> Boxed<'a, Fixture>,
}

/// One entry per action whose fixture moto can hold.
const CASES: &[Case] = &[
    Case {
        action: "aws.s3.block-public-access",
        setup: |a| Box::pin(s3_bucket_without_block(a)),
    },
    Case {
        action: "aws.ec2.revoke-public-admin-ingress",
        setup: |a| Box::pin(ssh_open_to_the_world(a)),
    },
    Case {
        action: "aws.ec2.restrict-default-security-group",
        setup: |a| Box::pin(default_group_with_rules(a)),
    },
    Case {
        action: "aws.ec2.enable-ebs-default-encryption",
        setup: |a| Box::pin(ebs_encryption_off(a)),
    },
    Case {
        action: "aws.ec2.make-snapshots-private",
        setup: |a| Box::pin(public_snapshot(a)),
    },
    Case {
        action: "aws.iam.set-password-policy",
        setup: |a| Box::pin(no_password_policy(a)),
    },
    Case {
        action: "aws.guardduty.enable-detector",
        setup: |a| Box::pin(no_detector(a)),
    },
    Case {
        action: "aws.s3.block-public-access-account",
        setup: |a| Box::pin(no_account_block(a)),
    },
    Case {
        action: "aws.cloudtrail.enable-multi-region-trail",
        setup: |a| Box::pin(no_trail(a)),
    },
    Case {
        action: "aws.s3.require-tls",
        setup: |a| Box::pin(bucket_without_tls_denial(a)),
    },
    Case {
        action: "aws.s3.enable-default-encryption",
        setup: |a| Box::pin(bucket_without_encryption(a)),
    },
    Case {
        action: "aws.s3.enable-access-logging",
        setup: |a| Box::pin(bucket_without_logging(a)),
    },
    Case {
        action: "aws.s3.restrict-cross-account-actions",
        setup: |a| Box::pin(bucket_shared_with_another_account(a)),
    },
    Case {
        action: "aws.ec2.require-imdsv2",
        setup: |a| Box::pin(instance_with_imdsv1(a)),
    },
    Case {
        action: "aws.ec2.disable-subnet-public-ip",
        setup: |a| Box::pin(subnet_mapping_public_ips(a)),
    },
    Case {
        action: "aws.ec2.enable-vpc-flow-logs",
        setup: |a| Box::pin(vpc_without_flow_logs(a)),
    },
    Case {
        action: "aws.ec2.encrypt-volume-copy",
        setup: |a| Box::pin(unencrypted_volume(a)),
    },
    Case {
        action: "aws.ec2.detach-unauthorized-internet-gateway",
        setup: |a| Box::pin(gateway_outside_the_allow_list(a)),
    },
    Case {
        action: "aws.rds.make-snapshots-private",
        setup: |a| Box::pin(public_db_snapshot(a)),
    },
    Case {
        action: "aws.rds.make-instance-private",
        setup: |a| Box::pin(public_db_instance(a)),
    },
    Case {
        action: "aws.lambda.remove-public-permissions",
        setup: |a| Box::pin(function_anyone_may_invoke(a)),
    },
    Case {
        action: "aws.ssm.make-document-private",
        setup: |a| Box::pin(public_document(a)),
    },
    Case {
        action: "aws.ssm.block-public-document-sharing",
        setup: |a| Box::pin(public_document_sharing_allowed(a)),
    },
    Case {
        action: "aws.iam.deactivate-old-access-keys",
        setup: |a| Box::pin(user_with_an_old_key(a)),
    },
    Case {
        action: "aws.iam.remove-unused-credentials",
        setup: |a| Box::pin(user_with_unused_credentials(a)),
    },
    Case {
        action: "aws.kms.enable-key-rotation",
        setup: |a| Box::pin(key_without_rotation(a)),
    },
    Case {
        action: "aws.sqs.encrypt-queue",
        setup: |a| Box::pin(unencrypted_queue(a)),
    },
    Case {
        action: "aws.sns.encrypt-topic",
        setup: |a| Box::pin(unencrypted_topic(a)),
    },
    Case {
        action: "aws.ecr.enable-scan-on-push",
        setup: |a| Box::pin(repository_without_scan_on_push(a)),
    },
    Case {
        action: "aws.redshift.make-cluster-private",
        setup: |a| Box::pin(public_cluster(a)),
    },
    Case {
        action: "aws.cloudtrail.enable-log-file-validation",
        setup: |a| Box::pin(trail_without_validation(a)),
    },
    Case {
        action: "aws.cloudtrail.enable-kms-encryption",
        setup: |a| Box::pin(trail_without_kms(a)),
    },
    Case {
        action: "aws.cloudtrail.enable-cloudwatch-logs",
        setup: |a| Box::pin(trail_without_log_group(a)),
    },
    Case {
        action: "aws.config.enable-recorder",
        setup: |a| Box::pin(no_recorder(a)),
    },
    Case {
        action: "aws.cloudwatch.metric-filter-alarm",
        setup: |a| Box::pin(no_root_usage_alarm(a)),
    },
    Case {
        action: "aws.iam.deactivate-access-key",
        setup: |a| Box::pin(misused_access_key(a)),
    },
    Case {
        action: "aws.iam.contain-role",
        setup: |a| Box::pin(misused_role(a)),
    },
    Case {
        action: "aws.ec2.isolate-instance",
        setup: |a| Box::pin(compromised_instance(a)),
    },
    Case {
        action: "aws.s3.deny-principal",
        setup: |a| Box::pin(bucket_being_exfiltrated(a)),
    },
];

/// Actions of the catalog whose fix the emulator cannot run, and why
/// (none today: SSM.7's service-setting calls, which moto 5.2.5 lacks, are
/// answered by the stand-in of tests/standins/moto_ssm_extras.py).
const NOT_COUNTED: &[(&str, &str)] = &[];

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
        return run_in_child(h, TEST_NAME, CHILD);
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
    // Every other action says why it is not counted.
    let uncovered: Vec<&&str> = listed
        .iter()
        .filter(|id| !CASES.iter().any(|c| c.action == **id))
        .filter(|id| !NOT_COUNTED.iter().any(|(n, _)| n == *id))
        .collect();
    assert!(
        uncovered.is_empty(),
        "calls per fix not counted: {uncovered:?} (add an entry to CASES, or to NOT_COUNTED with the reason)"
    );
    for (id, why) in NOT_COUNTED {
        eprintln!("{id}: not counted: {why}");
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

/// The access key id the actions sign with in `account` (the role's,
/// assumed now so that STS is behind us before counting).
pub(crate) async fn signing_key(aws: &rectify_aws::Aws, account: &str) -> String {
    aws.config_for(account, REGION)
        .await
        .unwrap()
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap()
        .access_key_id()
        .to_string()
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
    let params = fixture.params.clone();
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

    let calls = calls_signed_with(recorder, &key, start);
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
pub(crate) fn call_name(request: &str) -> Option<String> {
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

/// The calls (`service Operation`, STS left out) `recorder` saw since its
/// request `start`, signed with access key `key` (one account's).
pub(crate) fn calls_signed_with(
    recorder: &crate::support::Recorder,
    key: &str,
    start: usize,
) -> Vec<String> {
    recorder.requests()[start..]
        .iter()
        .filter(|r| r.contains(&format!("Credential={key}/")))
        .filter_map(|r| call_name(r))
        .collect()
}

/// Runs this test alone in a child of the same test binary, against the
/// same moto, where it starts the harness with the recorder.
pub(crate) fn run_in_child(h: &Harness, test_name: &str, child: &str) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new(exe);
    cmd.args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(child, "1")
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
        params: json!({}),
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
        params: json!({"ports": [22]}),
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
        params: json!({}),
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
        params: json!({}),
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
        params: json!({}),
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
        params: json!({}),
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
        params: json!({}),
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
        params: json!({}),
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
        params: json!({"bucket": "budget-trail-{account}"}),
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

/// A read-back that uses the test's own clients of `account`.
fn read_back_in<F, Fut>(account: &Account, read: F) -> ReadBack
where
    F: FnOnce(Account) -> Fut + Send + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let account = account.clone();
    Box::new(move || Box::pin(read(account)))
}

fn bucket_event(account: &Account, control: &str, bucket: &str) -> rectify_model::Event {
    finding_event(
        &account.id,
        control,
        "AwsS3Bucket",
        &format!("arn:aws:s3:::{bucket}"),
        Value::Null,
    )
}

async fn new_bucket(account: &Account, prefix: &str) -> String {
    let bucket = unique(prefix);
    account
        .s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    bucket
}

/// S3.5: a bucket without a policy.
async fn bucket_without_tls_denial(account: &Account) -> Fixture {
    let bucket = new_bucket(account, "budget-tls").await;
    let event = bucket_event(account, "S3.5", &bucket);
    Fixture::new(
        event,
        json!({}),
        read_back_in(account, |a| async move {
            policy_of(&a, &bucket)
                .await
                .is_some_and(|p| p.to_string().contains("aws:SecureTransport"))
        }),
    )
}

/// S3.4: a bucket without a default encryption rule.
async fn bucket_without_encryption(account: &Account) -> Fixture {
    let bucket = new_bucket(account, "budget-sse").await;
    account
        .s3()
        .delete_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let event = bucket_event(account, "S3.4", &bucket);
    Fixture::new(
        event,
        json!({}),
        read_back_in(account, |a| async move {
            encryption_of(&a, &bucket).await.is_some()
        }),
    )
}

/// S3.9: a bucket that does not log, and a log bucket to log into.
async fn bucket_without_logging(account: &Account) -> Fixture {
    let logs = log_bucket(account).await;
    let bucket = new_bucket(account, "budget-logged").await;
    let event = bucket_event(account, "S3.9", &bucket);
    let into = logs.clone();
    Fixture::new(
        event,
        json!({ "target_bucket": logs }),
        read_back_in(account, |a| async move {
            logging_of(&a, &bucket)
                .await
                .is_some_and(|(to, _)| to == into)
        }),
    )
}

/// S3.6: a bucket whose policy lets another account change the policy.
async fn bucket_shared_with_another_account(account: &Account) -> Fixture {
    let bucket = new_bucket(account, "budget-shared").await;
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "PartnerAdmin", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
         "Action": ["s3:GetObject", "s3:PutBucketPolicy"],
         "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")]}
    ]});
    put_policy(account, &bucket, &policy).await;
    let event = bucket_event(account, "S3.6", &bucket);
    Fixture::new(
        event,
        json!({}),
        read_back_in(account, |a| async move {
            policy_of(&a, &bucket)
                .await
                .is_none_or(|p| !p.to_string().contains("s3:PutBucketPolicy"))
        }),
    )
}

fn ec2_event(
    account: &Account,
    control: &str,
    kind: &str,
    resource: &str,
    id: &str,
) -> rectify_model::Event {
    finding_event(
        &account.id,
        control,
        resource,
        &ec2_arn(account, kind, id),
        Value::Null,
    )
}

/// EC2.8: an instance that answers IMDSv1.
async fn instance_with_imdsv1(account: &Account) -> Fixture {
    let id = instance(account, None).await;
    account
        .ec2()
        .modify_instance_metadata_options()
        .instance_id(&id)
        .http_tokens(HttpTokensState::Optional)
        .send()
        .await
        .unwrap();
    let event = ec2_event(account, "EC2.8", "instance", "AwsEc2Instance", &id);
    Fixture::new(
        event,
        json!({}),
        read_back_in(account, |a| async move {
            metadata_options(&a, &id).await.0.as_deref() == Some("required")
        }),
    )
}

/// EC2.15: a subnet (no route to a gateway) that maps public addresses.
async fn subnet_mapping_public_ips(account: &Account) -> Fixture {
    let (_, subnet) = vpc_with_public_ip_subnet(account).await;
    let event = ec2_event(account, "EC2.15", "subnet", "AwsEc2Subnet", &subnet);
    Fixture::new(
        event,
        json!({}),
        read_back_in(
            account,
            |a| async move { !maps_public_ip(&a, &subnet).await },
        ),
    )
}

/// EC2.6: a VPC without flow logs, and a bucket to send them to.
async fn vpc_without_flow_logs(account: &Account) -> Fixture {
    let (vpc, _) = vpc_with_public_ip_subnet(account).await;
    let bucket = new_bucket(account, "budget-flow-logs").await;
    let event = ec2_event(account, "EC2.6", "vpc", "AwsEc2Vpc", &vpc);
    Fixture::new(
        event,
        json!({"log_destination_type": "s3", "log_destination": format!("arn:aws:s3:::{bucket}")}),
        read_back_in(account, |a| async move {
            flow_logs(&a, &vpc).await.iter().any(|(_, t)| t == "REJECT")
        }),
    )
}

/// EC2.3: an unencrypted volume attached to an instance (the swap is
/// left to a person: `replace` off).
async fn unencrypted_volume(account: &Account) -> Fixture {
    let (volume, _, _) = attached_volume(account).await;
    let event = ec2_event(account, "EC2.3", "volume", "AwsEc2Volume", &volume);
    Fixture::new(
        event,
        json!({}),
        read_back_in(account, |a| async move {
            let (volumes, _) = copies_of(&a, &volume).await;
            let Some(copy) = volumes.first() else {
                return false;
            };
            let out = a
                .ec2()
                .describe_volumes()
                .volume_ids(copy)
                .send()
                .await
                .unwrap();
            out.volumes()[0].encrypted() == Some(true)
        }),
    )
}

/// An internet gateway attached to a VPC outside the allow list, from the
/// `AttachInternetGateway` call.
async fn gateway_outside_the_allow_list(account: &Account) -> Fixture {
    let (vpc, _) = vpc_with_public_ip_subnet(account).await;
    let igw = attached_gateway(account, &vpc).await;
    let event = ec2_api_call(
        account,
        "aws.ec2",
        "AttachInternetGateway",
        json!({"internetGatewayId": igw, "vpcId": vpc}),
        Value::Null,
    );
    Fixture::new(
        event,
        json!({"allowed_vpcs": ["vpc-0123456789abcdef0"]}),
        read_back_in(account, |a| async move {
            gateway_vpcs(&a, &igw).await.is_empty()
        }),
    )
}

/// RDS.1: a DB snapshot anyone may restore.
async fn public_db_snapshot(account: &Account) -> Fixture {
    let instance = new_instance(account, false).await;
    let snapshot = new_snapshot(account, &instance, None).await;
    share_snapshot(account, &snapshot, &["all"]).await;
    let event = finding_event(
        &account.id,
        "RDS.1",
        "AwsRdsDbSnapshot",
        &snapshot_arn(&account.id, "snapshot", &snapshot),
        Value::Null,
    );
    Fixture::new(
        event,
        json!({}),
        read_back_in(account, |a| async move {
            restore_of(&a, &snapshot).await.is_empty()
        }),
    )
}

/// RDS.2: a publicly accessible DB instance.
async fn public_db_instance(account: &Account) -> Fixture {
    let instance = new_instance(account, true).await;
    let event = finding_event(
        &account.id,
        "RDS.2",
        "AwsRdsDbInstance",
        &format!("arn:aws:rds:{REGION}:{}:db:{instance}", account.id),
        Value::Null,
    );
    Fixture::new(
        event,
        json!({}),
        read_back_in(account, |a| async move {
            !publicly_accessible(&a, &instance).await
        }),
    )
}

/// Lambda.1: a function anyone may invoke.
async fn function_anyone_may_invoke(account: &Account) -> Fixture {
    let function = new_function(account).await;
    account
        .lambda()
        .add_permission()
        .function_name(&function)
        .statement_id("open")
        .action("lambda:InvokeFunction")
        .principal("*")
        .send()
        .await
        .unwrap();
    let event = finding_event(
        &account.id,
        "Lambda.1",
        "AwsLambdaFunction",
        &format!("arn:aws:lambda:{REGION}:{}:function:{function}", account.id),
        Value::Null,
    );
    Fixture::new(
        event,
        json!({}),
        read_back_in(account, |a| async move {
            statements_of(&a, &function).await.is_empty()
        }),
    )
}

/// SSM.4: a document shared with everyone.
async fn public_document(account: &Account) -> Fixture {
    let document = new_document(account, None).await;
    share_document(account, &document).await;
    let event = finding_event(
        &account.id,
        "SSM.4",
        "AwsSsmDocument",
        &format!("arn:aws:ssm:{REGION}:{}:document/{document}", account.id),
        Value::Null,
    );
    Fixture::new(
        event,
        json!({}),
        read_back_in(account, |a| async move {
            shared_with(&a, &document).await.is_empty()
        }),
    )
}

/// SSM.7: public sharing of documents allowed (the account's default).
async fn public_document_sharing_allowed(account: &Account) -> Fixture {
    Fixture::new(
        account_event(&account.id, "SSM.7"),
        json!({}),
        read_back_in(account, |a| async move {
            public_sharing(&a).await.0 == "Disable"
        }),
    )
}

/// Every key of `user` inactive, as the test reads them.
async fn keys_inactive(account: &Account, user: &str) -> bool {
    statuses(account, user)
        .await
        .iter()
        .all(|(_, s)| *s == StatusType::Inactive)
}

/// IAM.3: a user with a key older than `max_age_days` 0 (moto cannot date
/// a key in the past).
async fn user_with_an_old_key(account: &Account) -> Fixture {
    let (user, arn, _, _) = user_with_keys(account, 1).await;
    let event = finding_event(&account.id, "IAM.3", "AwsIamUser", &arn, Value::Null);
    Fixture::new(
        event,
        json!({"max_age_days": 0}),
        read_back_in(account, |a| async move { keys_inactive(&a, &user).await }),
    )
}

/// IAM.8: a user with a key and a password, unused for `unused_days` 0.
async fn user_with_unused_credentials(account: &Account) -> Fixture {
    let (user, arn, _, _) = user_with_keys(account, 1).await;
    account
        .iam()
        .create_login_profile()
        .user_name(&user)
        .password("Correct-Horse-9-Battery")
        .send()
        .await
        .unwrap();
    let event = finding_event(&account.id, "IAM.8", "AwsIamUser", &arn, Value::Null);
    Fixture::new(
        event,
        json!({"unused_days": 0}),
        read_back_in(account, |a| async move { keys_inactive(&a, &user).await }),
    )
}

/// KMS.4: a key without rotation.
async fn key_without_rotation(account: &Account) -> Fixture {
    let key = account
        .kms()
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let (id, arn) = (key.key_id, key.arn.unwrap());
    let event = finding_event(&account.id, "KMS.4", "AwsKmsKey", &arn, Value::Null);
    Fixture::new(
        event,
        json!({}),
        read_back_in(account, |a| async move { rotation(&a, &id).await }),
    )
}

/// SQS.1: a queue without encryption at rest.
async fn unencrypted_queue(account: &Account) -> Fixture {
    let name = unique("budget-queue");
    let url = account
        .sqs()
        .create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::SqsManagedSseEnabled, "false")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = format!("arn:aws:sqs:{REGION}:{}:{name}", account.id);
    let event = finding_event(&account.id, "SQS.1", "AwsSqsQueue", &arn, Value::Null);
    Fixture::new(
        event,
        json!({}),
        read_back_in(account, |a| async move {
            queue_encryption(&a, &url).await.0.as_deref() == Some("true")
        }),
    )
}

/// SNS.1: a topic without a KMS key.
async fn unencrypted_topic(account: &Account) -> Fixture {
    let arn = account
        .sns()
        .create_topic()
        .name(unique("budget-topic"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let event = finding_event(&account.id, "SNS.1", "AwsSnsTopic", &arn, Value::Null);
    Fixture::new(
        event,
        json!({}),
        read_back_in(account, |a| async move {
            topic_key(&a, &arn).await.as_deref() == Some("alias/aws/sns")
        }),
    )
}

/// ECR.1: a repository without scan on push.
async fn repository_without_scan_on_push(account: &Account) -> Fixture {
    let name = unique("budget-app");
    let arn = account
        .ecr()
        .create_repository()
        .repository_name(&name)
        .send()
        .await
        .unwrap()
        .repository
        .unwrap()
        .repository_arn
        .unwrap();
    let event = finding_event(&account.id, "ECR.1", "AwsEcrRepository", &arn, Value::Null);
    Fixture::new(
        event,
        json!({}),
        read_back_in(account, |a| async move { scan_on_push(&a, &name).await }),
    )
}

/// Redshift.1: a publicly accessible cluster.
async fn public_cluster(account: &Account) -> Fixture {
    let name = unique("budget-analytics");
    account
        .redshift()
        .create_cluster()
        .cluster_identifier(&name)
        .node_type("ra3.xlplus")
        .cluster_type("single-node")
        .master_username("admin")
        .master_user_password("Secret-Passw0rd")
        .publicly_accessible(true)
        .send()
        .await
        .unwrap();
    let arn = format!("arn:aws:redshift:{REGION}:{}:cluster:{name}", account.id);
    let event = finding_event(
        &account.id,
        "Redshift.1",
        "AwsRedshiftCluster",
        &arn,
        Value::Null,
    );
    Fixture::new(
        event,
        json!({}),
        read_back_in(account, |a| async move { !cluster_public(&a, &name).await }),
    )
}

/// A single-region trail and the finding of `control` about it; its name.
async fn trail_finding(account: &Account, control: &str) -> (String, rectify_model::Event) {
    let name = unique("budget-trail");
    let arn = trail(account, &name).await;
    let event = finding_event(
        &account.id,
        control,
        "AwsCloudTrailTrail",
        &arn,
        Value::Null,
    );
    (name, event)
}

/// CloudTrail.4: a trail without log file validation.
async fn trail_without_validation(account: &Account) -> Fixture {
    let (name, event) = trail_finding(account, "CloudTrail.4").await;
    Fixture::new(
        event,
        json!({}),
        read_back_in(account, |a| async move {
            read_trail(&a, &name).await.log_file_validation_enabled == Some(true)
        }),
    )
}

/// CloudTrail.2: a trail without KMS encryption, and a key for it.
async fn trail_without_kms(account: &Account) -> Fixture {
    let (name, event) = trail_finding(account, "CloudTrail.2").await;
    let key = account
        .kms()
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    let params = json!({ "kms_key_id": key });
    Fixture::new(
        event,
        params,
        read_back_in(account, |a| async move {
            read_trail(&a, &name).await.kms_key_id == Some(key)
        }),
    )
}

/// CloudTrail.5: a trail that delivers to no log group, and a group.
async fn trail_without_log_group(account: &Account) -> Fixture {
    let (name, event) = trail_finding(account, "CloudTrail.5").await;
    let group = unique("budget-trail-group");
    account
        .logs()
        .create_log_group()
        .log_group_name(&group)
        .send()
        .await
        .unwrap();
    let group_arn = format!("arn:aws:logs:{REGION}:{}:log-group:{group}:*", account.id);
    let role = format!("arn:aws:iam::{}:role/trail-to-logs", account.id);
    let params = json!({"log_group_arn": group_arn, "role_arn": role});
    Fixture::new(
        event,
        params,
        read_back_in(account, |a| async move {
            read_trail(&a, &name).await.cloud_watch_logs_log_group_arn == Some(group_arn)
        }),
    )
}

/// Config.1: no recorder (a fresh account), and a bucket for its channel.
async fn no_recorder(account: &Account) -> Fixture {
    let bucket = new_bucket(account, "budget-config").await;
    let role = format!("arn:aws:iam::{}:role/config-recorder", account.id);
    Fixture::new(
        account_event(&account.id, "Config.1"),
        json!({"role_arn": role, "bucket": bucket}),
        read_back_in(account, |a| async move {
            let (recorder, recording, channel) = config_state(&a).await;
            recorder.is_some() && recording && channel == Some(bucket)
        }),
    )
}

/// CloudWatch.1: a multi-Region trail delivering to a log group, a
/// subscribed topic, no filter or alarm for root usage.
async fn no_root_usage_alarm(account: &Account) -> Fixture {
    let group = trail_to_logs(account, true).await;
    let topic = cloudwatch_topic(account, true).await;
    let params = json!({ "sns_topic_arn": topic });
    Fixture::new(
        account_event(&account.id, "CloudWatch.1"),
        params,
        read_back_in(account, |a| async move {
            !filters(&a, &group).await.is_empty()
                && alarm(&a, "rectify-cis-root-usage")
                    .await
                    .is_some_and(|m| m.alarm_actions() == [topic])
        }),
    )
}

/// GuardDuty: an IAM user's key misused (one key).
async fn misused_access_key(account: &Account) -> Fixture {
    let (user, _, _, keys) = user_with_keys(account, 1).await;
    let event = crate::containment::guardduty(
        &account.id,
        "CredentialAccess:IAMUser/AnomalousBehavior",
        crate::containment::key_details(&keys[0], &user, "IAMUser"),
    );
    Fixture::new(
        event,
        json!({}),
        read_back_in(account, |a| async move { keys_inactive(&a, &user).await }),
    )
}

/// GuardDuty: a role's session credentials misused.
async fn misused_role(account: &Account) -> Fixture {
    let name = unique("role");
    account
        .iam()
        .create_role()
        .role_name(&name)
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let event = crate::containment::guardduty(
        &account.id,
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        crate::containment::key_details("ASIAIOSFODNN7EXAMPLE", &name, "AssumedRole"),
    );
    Fixture::new(
        event,
        json!({}),
        read_back_in(account, |a| async move {
            a.iam()
                .get_role_policy()
                .role_name(&name)
                .policy_name("rectify-containment")
                .send()
                .await
                .is_ok()
        }),
    )
}

/// GuardDuty: an instance (one interface, its root volume) talks to a
/// command-and-control server; its VPC has no quarantine group yet.
async fn compromised_instance(account: &Account) -> Fixture {
    let id = instance(account, None).await;
    let event = crate::containment::guardduty(
        &account.id,
        "Backdoor:EC2/C&CActivity.B",
        json!({"resourceType": "Instance", "instanceDetails": {"instanceId": id}}),
    );
    Fixture::new(
        event,
        json!({}),
        read_back_in(account, |a| async move {
            let out = a
                .ec2()
                .describe_instances()
                .instance_ids(&id)
                .send()
                .await
                .unwrap();
            let i = &out.reservations()[0].instances()[0];
            i.network_interfaces().iter().all(|n| {
                n.groups().len() == 1 && n.groups()[0].group_name() == Some("rectify-quarantine")
            })
        }),
    )
}

/// GuardDuty: data leaving a bucket (no Block Public Access, no policy).
async fn bucket_being_exfiltrated(account: &Account) -> Fixture {
    let bucket = new_bucket(account, "exfil").await;
    let mut resource =
        crate::containment::key_details("AKIAIOSFODNN7EXAMPLE", "mallory", "IAMUser");
    resource["resourceType"] = json!("S3Bucket");
    resource["s3BucketDetails"] = json!([{"name": bucket}]);
    let event =
        crate::containment::guardduty(&account.id, "Exfiltration:S3/AnomalousBehavior", resource);
    let s3 = account.s3();
    Fixture::new(
        event,
        json!({}),
        Box::new(move || {
            Box::pin(async move {
                let policy = s3
                    .get_bucket_policy()
                    .bucket(&bucket)
                    .send()
                    .await
                    .ok()
                    .and_then(|p| p.policy().map(str::to_string))
                    .unwrap_or_default();
                policy.contains("RectifyDenyPrincipal")
            })
        }),
    )
}
