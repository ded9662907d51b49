//! The posture checks (`rectify_aws::checks`) against the emulator: for
//! each, an account with a compliant and a non-compliant resource, and the
//! verdict on each asserted. Where moto cannot hold one of the two states
//! (root MFA on, root access keys, credentials 90 days old) the test says
//! so and the check's limit is lowered instead, as the actions' tests do.
//!
//! Then the reads the checks and actions share: a whole scan of a seeded
//! account through the recording proxy makes one `ListBuckets` per region,
//! one `DescribeSecurityGroups` per region and one credential report, and
//! the actions on buckets and groups list nothing more.

use std::sync::Arc;

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range};
use rectify_aws::checks;
use rectify_model::{Check, ScanReads, Target, Verdict};
use serde_json::json;

use crate::support::{
    harness, harness_recording, put_config_recorder, start_config_recorder, unique, Account, REGION,
};

fn check_named(aws: &Arc<rectify_aws::Aws>, id: &str) -> Arc<dyn Check> {
    checks::catalog(aws)
        .into_iter()
        .find(|c| c.spec().id == id)
        .unwrap_or_else(|| panic!("no check {id}"))
}

async fn run_with(account: &Account, check: &dyn Check, reads: &ScanReads) -> Vec<Verdict> {
    check
        .run(&account.id, REGION, reads)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", check.spec().id))
}

async fn run(account: &Account, check: &dyn Check) -> Vec<Verdict> {
    check
        .run(&account.id, REGION, &ScanReads::new(4))
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", check.spec().id))
}

async fn run_named(account: &Account, id: &str) -> Vec<Verdict> {
    let aws = account.aws().await;
    run(account, check_named(&aws, id).as_ref()).await
}

/// The verdict on the resource whose id ends with `suffix`.
fn on<'a>(verdicts: &'a [Verdict], suffix: &str) -> &'a Verdict {
    let found: Vec<&Verdict> = verdicts
        .iter()
        .filter(|v| v.resource_id.ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "{suffix}: {verdicts:#?}");
    found[0]
}

#[tokio::test]
async fn root_user_checks_read_the_account_summary() {
    let account = Account::new().await;
    // moto has no root access keys and no way to turn root MFA on: the
    // first passes and the second fails in every account (their other
    // verdicts: the unit tests of each check).
    let keys = run_named(&account, "iam.root-access-keys").await;
    assert_eq!(keys.len(), 1);
    assert!(keys[0].pass, "{:?}", keys[0]);
    assert_eq!(
        keys[0].resource_id,
        format!("AWS::::Account:{}", account.id)
    );
    let mfa = run_named(&account, "iam.root-mfa").await;
    assert!(!mfa[0].pass);
    assert!(
        mfa[0].evidence.contains("no MFA device"),
        "{}",
        mfa[0].evidence
    );
}

async fn user(account: &Account, password: bool, mfa: bool, keys: usize) -> String {
    let iam = account.iam();
    let name = unique("u");
    iam.create_user().user_name(&name).send().await.unwrap();
    if password {
        iam.create_login_profile()
            .user_name(&name)
            .password("A-long-Passw0rd!")
            .send()
            .await
            .unwrap();
    }
    if mfa {
        let device = iam
            .create_virtual_mfa_device()
            .virtual_mfa_device_name(&name)
            .send()
            .await
            .unwrap();
        let serial = device.virtual_mfa_device.unwrap().serial_number;
        iam.enable_mfa_device()
            .user_name(&name)
            .serial_number(serial)
            .authentication_code1("123456")
            .authentication_code2("654321")
            .send()
            .await
            .unwrap();
    }
    for _ in 0..keys {
        iam.create_access_key()
            .user_name(&name)
            .send()
            .await
            .unwrap();
    }
    name
}

#[tokio::test]
async fn credential_report_checks_judge_each_user() {
    let account = Account::new().await;
    let with_mfa = user(&account, true, true, 0).await;
    let without_mfa = user(&account, true, false, 0).await;
    let keyed = user(&account, false, false, 1).await;
    let bare = user(&account, false, false, 0).await;
    let aws = account.aws().await;
    // One scan's reads: the report is made once for every check.
    let reads = ScanReads::new(4);

    // IAM.5: only users with a console password are judged.
    let mfa = run_with(
        &account,
        check_named(&aws, "iam.console-mfa").as_ref(),
        &reads,
    )
    .await;
    assert_eq!(mfa.len(), 2, "{mfa:#?}");
    assert!(on(&mfa, &format!("/{with_mfa}")).pass);
    assert!(!on(&mfa, &format!("/{without_mfa}")).pass);

    // IAM.3 and IAM.22 with CIS's limits: every credential is new.
    for id in ["iam.access-key-rotation", "iam.unused-credentials"] {
        let verdicts = run_with(&account, check_named(&aws, id).as_ref(), &reads).await;
        for name in [&with_mfa, &without_mfa, &keyed, &bare] {
            assert!(on(&verdicts, &format!("/{name}")).pass, "{id} {name}");
        }
    }
    // With the limit at 0 days (moto cannot make a key 90 days old): the
    // key fails rotation, and every credential set fails disuse; a user
    // with none passes both.
    let rotation = checks::iam_access_key_rotation::AccessKeyRotation::failing_at(aws.clone(), 0);
    let verdicts = run_with(&account, &rotation, &reads).await;
    assert!(!on(&verdicts, &format!("/{keyed}")).pass);
    assert!(on(&verdicts, &format!("/{bare}")).pass);
    assert!(on(&verdicts, &format!("/{without_mfa}")).pass);
    let unused = checks::iam_unused_credentials::UnusedCredentials::failing_at(aws.clone(), 0);
    let verdicts = run_with(&account, &unused, &reads).await;
    let v = on(&verdicts, &format!("/{keyed}"));
    assert!(
        !v.pass && v.evidence.contains("access key 1 never used"),
        "{v:?}"
    );
    let v = on(&verdicts, &format!("/{without_mfa}"));
    assert!(!v.pass && v.evidence.contains("console password"), "{v:?}");
    assert!(on(&verdicts, &format!("/{bare}")).pass);
}

#[tokio::test]
async fn password_policy_checks_need_length_14_and_24_remembered() {
    let account = Account::new().await;
    // No policy: both fail.
    for id in ["iam.password-length", "iam.password-reuse"] {
        let v = run_named(&account, id).await;
        assert!(
            !v[0].pass && v[0].evidence.contains("no password policy"),
            "{v:?}"
        );
    }
    let iam = account.iam();
    iam.update_account_password_policy()
        .minimum_password_length(8)
        .password_reuse_prevention(5)
        .send()
        .await
        .unwrap();
    assert!(!run_named(&account, "iam.password-length").await[0].pass);
    assert!(!run_named(&account, "iam.password-reuse").await[0].pass);
    iam.update_account_password_policy()
        .minimum_password_length(14)
        .password_reuse_prevention(24)
        .send()
        .await
        .unwrap();
    assert!(run_named(&account, "iam.password-length").await[0].pass);
    assert!(run_named(&account, "iam.password-reuse").await[0].pass);
}

async fn new_trail(account: &Account, multi_region: bool, validation: bool) -> String {
    let bucket = unique("trail-logs");
    account
        .s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let name = unique("trail");
    let ct = account.cloudtrail();
    ct.create_trail()
        .name(&name)
        .s3_bucket_name(&bucket)
        .is_multi_region_trail(multi_region)
        .enable_log_file_validation(validation)
        .send()
        .await
        .unwrap();
    ct.start_logging().name(&name).send().await.unwrap();
    name
}

#[tokio::test]
async fn cloudtrail_checks_want_a_logging_multi_region_trail_with_validation() {
    let account = Account::new().await;
    let v = run_named(&account, "cloudtrail.multi-region").await;
    assert!(!v[0].pass, "no trail: {v:?}");
    let single = new_trail(&account, false, false).await;
    let v = run_named(&account, "cloudtrail.multi-region").await;
    assert!(!v[0].pass, "a single-Region trail: {v:?}");
    let multi = new_trail(&account, true, true).await;
    let v = run_named(&account, "cloudtrail.multi-region").await;
    assert!(v[0].pass, "{v:?}");
    assert!(v[0].evidence.contains(&multi), "{}", v[0].evidence);

    let v = run_named(&account, "cloudtrail.log-file-validation").await;
    assert_eq!(v.len(), 2, "{v:#?}");
    assert!(!on(&v, &format!("/{single}")).pass);
    assert!(on(&v, &format!("/{multi}")).pass);
}

#[tokio::test]
async fn config_check_wants_a_recorder_of_all_types_recording() {
    let account = Account::new().await;
    let v = run_named(&account, "config.recorder").await;
    assert!(
        !v[0].pass && v[0].evidence.contains("no configuration recorder"),
        "{v:?}"
    );

    let config = account.config_service();
    put_config_recorder(&config, &account.id).await;
    // Made but not started: still fails.
    let v = run_named(&account, "config.recorder").await;
    assert!(!v[0].pass, "{v:?}");
    let bucket = unique("config-logs");
    account
        .s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    start_config_recorder(&config, &account.id, &bucket).await;
    let v = run_named(&account, "config.recorder").await;
    assert!(v[0].pass, "{v:?}");
}

#[tokio::test]
async fn kms_check_judges_customer_managed_symmetric_keys() {
    let account = Account::new().await;
    let kms = account.kms();
    let off = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let on_key = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    kms.enable_key_rotation()
        .key_id(&on_key)
        .send()
        .await
        .unwrap();
    // Asymmetric keys cannot rotate: not judged.
    let asymmetric = kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::Rsa2048)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let v = run_named(&account, "kms.key-rotation").await;
    assert!(!on(&v, &off).pass);
    assert!(on(&v, &on_key).pass);
    assert!(
        v.iter().all(|v| !v.resource_id.ends_with(&asymmetric)),
        "{v:#?}"
    );
}

#[tokio::test]
async fn flow_log_check_judges_each_vpc() {
    let account = Account::new().await;
    let ec2 = account.ec2();
    let vpc = |cidr: &'static str| {
        let ec2 = ec2.clone();
        async move {
            ec2.create_vpc()
                .cidr_block(cidr)
                .send()
                .await
                .unwrap()
                .vpc
                .unwrap()
                .vpc_id
                .unwrap()
        }
    };
    let logged = vpc("10.40.0.0/16").await;
    let unlogged = vpc("10.41.0.0/16").await;
    let bucket = unique("flow-logs");
    account
        .s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    ec2.create_flow_logs()
        .resource_ids(&logged)
        .resource_type(aws_sdk_ec2::types::FlowLogsResourceType::Vpc)
        .traffic_type(aws_sdk_ec2::types::TrafficType::Reject)
        .log_destination_type(aws_sdk_ec2::types::LogDestinationType::S3)
        .log_destination(format!("arn:aws:s3:::{bucket}"))
        .send()
        .await
        .unwrap();
    let v = run_named(&account, "ec2.vpc-flow-logs").await;
    assert!(on(&v, &format!("vpc/{logged}")).pass);
    assert!(!on(&v, &format!("vpc/{unlogged}")).pass);
}

async fn group_with(account: &Account, permission: Option<IpPermission>) -> String {
    let ec2 = account.ec2();
    let id = ec2
        .create_security_group()
        .group_name(unique("sg"))
        .description("scan test")
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    if let Some(p) = permission {
        ec2.authorize_security_group_ingress()
            .group_id(&id)
            .ip_permissions(p)
            .send()
            .await
            .unwrap();
    }
    id
}

fn open(protocol: &str, port: i32, v6: bool) -> IpPermission {
    let b = IpPermission::builder()
        .ip_protocol(protocol)
        .from_port(port)
        .to_port(port);
    if v6 {
        b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
            .build()
    } else {
        b.ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build()
    }
}

#[tokio::test]
async fn admin_port_checks_judge_each_group_from_one_listing() {
    let account = Account::new().await;
    let ssh = group_with(&account, Some(open("tcp", 22, false))).await;
    let udp_ssh = group_with(&account, Some(open("udp", 22, false))).await;
    let https = group_with(&account, Some(open("tcp", 443, false))).await;
    let rdp_v6 = group_with(&account, Some(open("tcp", 3389, true))).await;
    let closed = group_with(&account, None).await;
    let v4 = run_named(&account, "ec2.admin-ports-ipv4").await;
    let v6 = run_named(&account, "ec2.admin-ports-ipv6").await;
    assert!(!on(&v4, &ssh).pass);
    assert!(on(&v4, &ssh).evidence.contains("tcp 22-22 0.0.0.0/0"));
    assert!(!on(&v4, &udp_ssh).pass, "CIS counts UDP");
    assert!(on(&v4, &https).pass);
    assert!(on(&v4, &rdp_v6).pass);
    assert!(!on(&v6, &rdp_v6).pass);
    assert!(on(&v6, &ssh).pass);
    assert!(on(&v4, &closed).pass && on(&v6, &closed).pass);
}

#[tokio::test]
async fn default_group_check_wants_no_rules() {
    let account = Account::new().await;
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
    let groups = ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(&vpc)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let default = groups.security_groups()[0].clone();
    let id = default.group_id().unwrap().to_string();
    let v = run_named(&account, "ec2.default-security-group").await;
    assert!(!on(&v, &id).pass, "a new default group has rules: {v:#?}");
    // Emptied: passes.
    if !default.ip_permissions().is_empty() {
        ec2.revoke_security_group_ingress()
            .group_id(&id)
            .set_ip_permissions(Some(default.ip_permissions().to_vec()))
            .send()
            .await
            .unwrap();
    }
    if !default.ip_permissions_egress().is_empty() {
        ec2.revoke_security_group_egress()
            .group_id(&id)
            .set_ip_permissions(Some(default.ip_permissions_egress().to_vec()))
            .send()
            .await
            .unwrap();
    }
    let v = run_named(&account, "ec2.default-security-group").await;
    assert!(on(&v, &id).pass, "{v:#?}");
    // Only default groups are judged.
    assert!(v.iter().all(|v| v.evidence.starts_with("default group")));
}

#[tokio::test]
async fn bucket_checks_judge_block_public_access_and_encryption() {
    let account = Account::new().await;
    let s3 = account.s3();
    let blocked = unique("blocked");
    let partial = unique("partial");
    let open_bucket = unique("open");
    for b in [&blocked, &partial, &open_bucket] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    let block = |all: bool| {
        aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
            .block_public_acls(true)
            .ignore_public_acls(true)
            .block_public_policy(true)
            .restrict_public_buckets(all)
            .build()
    };
    for (b, all) in [(&blocked, true), (&partial, false)] {
        s3.put_public_access_block()
            .bucket(b)
            .public_access_block_configuration(block(all))
            .send()
            .await
            .unwrap();
    }
    let v = run_named(&account, "s3.bucket-block-public-access").await;
    assert!(on(&v, &format!(":::{blocked}")).pass);
    let p = on(&v, &format!(":::{partial}"));
    assert!(
        !p.pass && p.evidence.contains("RestrictPublicBuckets false"),
        "{p:?}"
    );
    assert!(!on(&v, &format!(":::{open_bucket}")).pass);

    s3.put_bucket_encryption()
        .bucket(&blocked)
        .server_side_encryption_configuration(
            aws_sdk_s3::types::ServerSideEncryptionConfiguration::builder()
                .rules(
                    aws_sdk_s3::types::ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            aws_sdk_s3::types::ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(aws_sdk_s3::types::ServerSideEncryption::Aes256)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let v = run_named(&account, "s3.bucket-default-encryption").await;
    assert!(on(&v, &format!(":::{blocked}")).pass);
    assert!(!on(&v, &format!(":::{open_bucket}")).pass);
}

#[tokio::test]
async fn ebs_default_encryption_check_reads_the_region_setting() {
    let account = Account::new().await;
    let v = run_named(&account, "ec2.ebs-default-encryption").await;
    assert!(!v[0].pass, "{v:?}");
    account
        .ec2()
        .enable_ebs_encryption_by_default()
        .send()
        .await
        .unwrap();
    let v = run_named(&account, "ec2.ebs-default-encryption").await;
    assert!(v[0].pass, "{v:?}");
}

#[tokio::test]
async fn rds_check_judges_each_instance() {
    let account = Account::new().await;
    let public = crate::public_resources::new_instance(&account, true).await;
    let private = crate::public_resources::new_instance(&account, false).await;
    let v = run_named(&account, "rds.public-access").await;
    assert!(!on(&v, &format!(":db:{public}")).pass);
    assert!(on(&v, &format!(":db:{private}")).pass);
}

/// An analyzer in the IAM Access Analyzer stand-in (moto lacks the
/// service; the stand-in checks each request against botocore's model).
fn seed_analyzer(account: &str, region: &str, name: &str, kind: &str, status: &str) {
    let url = crate::support::harness()
        .accessanalyzer_url
        .clone()
        .expect("the IAM Access Analyzer stand-in");
    let (code, body) = crate::support::http_post(
        &format!("{url}/_standin/analyzers"),
        &json!({"account": account, "region": region, "name": name, "type": kind, "status": status})
            .to_string(),
    );
    assert_eq!(code, 200, "{body}");
}

/// CIS 1.20 / IAM.28 against the IAM Access Analyzer stand-in: a region
/// with an active external access analyzer passes and names it; a region
/// without one, or with only a disabled one or an unused access analyzer,
/// fails; each region of each account is judged on its own.
#[tokio::test]
async fn access_analyzer_check_wants_an_active_external_analyzer_per_region() {
    let account = Account::new().await;
    let other = "us-west-2";
    let third = "eu-west-1";
    seed_analyzer(&account.id, REGION, "external", "ACCOUNT", "ACTIVE");
    seed_analyzer(
        &account.id,
        third,
        "unused",
        "ACCOUNT_UNUSED_ACCESS",
        "ACTIVE",
    );
    seed_analyzer(&account.id, third, "off", "ACCOUNT", "DISABLED");
    let aws = account.aws().await;
    let check = check_named(&aws, "access-analyzer.enabled");
    let reads = ScanReads::new(4);

    let here = run_with(&account, check.as_ref(), &reads).await;
    assert_eq!(here.len(), 1, "{here:?}");
    assert!(here[0].pass, "{:?}", here[0]);
    assert_eq!(
        here[0].resource_id,
        format!("AWS::::Account:{}", account.id)
    );
    assert_eq!(here[0].region, REGION);
    assert_eq!(
        here[0].evidence,
        format!("analyzer external (ACCOUNT) is ACTIVE in {REGION}")
    );

    let none = check.run(&account.id, other, &reads).await.unwrap();
    assert!(!none[0].pass);
    assert_eq!(
        none[0].evidence,
        format!("no IAM Access Analyzer analyzer in {other}")
    );

    let inactive = check.run(&account.id, third, &reads).await.unwrap();
    assert!(!inactive[0].pass);
    assert!(
        inactive[0]
            .evidence
            .contains("unused (ACCOUNT_UNUSED_ACCESS, ACTIVE), off (ACCOUNT, DISABLED)"),
        "{}",
        inactive[0].evidence
    );

    // Another account, same region: its own analyzers (none).
    let stranger = Account::new().await;
    let theirs = run_named(&stranger, "access-analyzer.enabled").await;
    assert!(!theirs[0].pass, "{:?}", theirs[0]);
}

const SHARED_READS_TEST: &str = "checks::a_scan_lists_each_kind_of_resource_once";
const CHILD: &str = "RECTIFY_TEST_SHARED_READS_CHILD";

/// Every check and the bucket and security group actions' scan reads over
/// one account with 12 buckets, 12 groups and 6 users: one listing of
/// each kind, no per-group describe, no `GetBucketLocation`.
#[tokio::test]
async fn a_scan_lists_each_kind_of_resource_once() {
    let h = if std::env::var_os(CHILD).is_some() {
        harness_recording()
    } else {
        harness()
    };
    if h.recorder.is_none() {
        return crate::call_budget::run_in_child(h, SHARED_READS_TEST, CHILD);
    }
    let account = Account::new().await;
    for _ in 0..12 {
        account
            .s3()
            .create_bucket()
            .bucket(unique("b"))
            .send()
            .await
            .unwrap();
        group_with(&account, Some(open("tcp", 22, false))).await;
    }
    for _ in 0..6 {
        user(&account, false, false, 1).await;
    }
    for _ in 0..3 {
        volume(&account, false).await;
    }
    let aws = account.aws().await;
    let key = crate::call_budget::signing_key(&aws, &account.id).await;
    let recorder = h.recorder.as_ref().unwrap();
    let start = recorder.requests().len();

    let reads = ScanReads::new(8);
    let all = checks::catalog(&aws);
    let verdicts =
        futures_util::future::join_all(all.iter().map(|c| c.run(&account.id, REGION, &reads)))
            .await;
    let mut failed_groups = 0;
    for (c, v) in all.iter().zip(&verdicts) {
        let v = v
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: {e}", c.spec().id));
        if c.spec().id == "ec2.admin-ports-ipv4" {
            failed_groups = v.iter().filter(|v| !v.pass).count();
        }
    }
    assert_eq!(failed_groups, 12);
    // The actions on the same resources, in the same scan: each lists
    // and checks every resource it finds, as `rectify scan` does.
    let actions = rectify_aws::catalog(aws.clone());
    let mut action_targets = 0;
    let mut flagged = std::collections::BTreeMap::new();
    let no_params = json!({});
    for id in SCANNED_ACTIONS {
        let action = actions.iter().find(|a| a.spec().id == id).unwrap();
        let targets: Vec<Target> = action
            .discover_in_scan(&account.id, REGION, &reads)
            .await
            .unwrap();
        action_targets += targets.len();
        let checked = futures_util::future::join_all(
            targets
                .iter()
                .map(|t| action.check_in_scan(t, &no_params, &reads)),
        )
        .await;
        let out_of_compliance = checked
            .into_iter()
            .map(|c| c.unwrap_or_else(|e| panic!("{id}: {e}")))
            .filter(|o| !o.compliant)
            .count();
        flagged.insert(id, out_of_compliance);
    }
    assert!(
        action_targets >= 12 * 5 + 12 + 6 * 2 + 3,
        "{action_targets}"
    );
    assert_eq!(flagged["aws.ec2.encrypt-volume-copy"], 3);
    // The buckets have no setting of their own; the users' keys are new.
    assert_eq!(flagged["aws.ec2.revoke-public-admin-ingress"], 12);
    for id in [
        "aws.s3.block-public-access",
        "aws.s3.enable-access-logging",
        "aws.s3.require-tls",
    ] {
        assert!(flagged[id] >= 12, "{id}: {flagged:?}");
    }
    assert_eq!(flagged["aws.s3.restrict-cross-account-actions"], 0);
    assert_eq!(flagged["aws.iam.deactivate-old-access-keys"], 0);
    assert_eq!(flagged["aws.iam.remove-unused-credentials"], 0);

    let calls = crate::call_budget::calls_signed_with(recorder, &key, start);
    let count = |name: &str| calls.iter().filter(|c| c.ends_with(name)).count();
    eprintln!("{} calls: {calls:?}", calls.len());
    assert_eq!(count("DescribeSecurityGroups"), 1, "{calls:#?}");
    assert_eq!(count("DescribeSecurityGroupRules"), 0);
    // One report: asked for, then asked again once it is being made
    // (moto answers STARTED first, as AWS does), then read once.
    assert!(count("GenerateCredentialReport") <= 2, "{calls:#?}");
    assert_eq!(count("GetCredentialReport"), 1);
    assert_eq!(count("GetAccountSummary"), 1);
    assert_eq!(count("GetAccountPasswordPolicy"), 1);
    // The Config.1 check and action (and the bucket reads) share one
    // read of the recorders.
    assert_eq!(count("DescribeConfigurationRecorders"), 1, "{calls:#?}");
    assert!(
        count("DescribeConfigurationRecorderStatus") <= 1,
        "{calls:#?}"
    );
    let s3 = |pred: &dyn Fn(&str) -> bool| {
        calls
            .iter()
            .filter(|c| c.strip_prefix("s3 ").is_some_and(pred))
            .count()
    };
    assert_eq!(
        s3(&|c| c.contains("?location")),
        0,
        "no GetBucketLocation: {calls:#?}"
    );
    assert_eq!(
        s3(&|c| c == "GET /" || c.starts_with("GET /?")),
        1,
        "one ListBuckets: {calls:#?}"
    );
    // Each bucket's tags and each of its settings read once, whichever
    // actions and checks weigh them (the website and the ACL: the Block
    // Public Access action's intent, for buckets without the settings).
    for part in [
        "tagging",
        "publicAccessBlock",
        "encryption",
        "policy",
        "logging",
        "website",
        "acl",
    ] {
        let per_bucket = s3(&|c| query_names(c).contains(&part));
        assert_eq!(per_bucket, 12, "{part} once a bucket: {calls:#?}");
    }
    // The users: one listing, judged from the credential report, none
    // read one by one.
    assert!(count("ListUsers") <= 1, "{calls:#?}");
    for per_user in [
        "GetUser",
        "ListAccessKeys",
        "GetAccessKeyLastUsed",
        "GetLoginProfile",
    ] {
        assert_eq!(count(per_user), 0, "{per_user}: {calls:#?}");
    }
    // The volumes: one listing, and one of the snapshots rectify made.
    assert_eq!(count("DescribeVolumes"), 1, "{calls:#?}");
    assert!(count("DescribeSnapshots") <= 1, "{calls:#?}");
    // What is left per resource: a bucket's own reads (7 here, the
    // website and ACL only where Block Public Access is off); a group or
    // a user, none.
    let listings = calls.len() - 12 * 7;
    assert!(
        listings <= 30,
        "{listings} calls beyond the buckets' own: {calls:#?}"
    );
}

/// The actions `rectify scan` runs with the aws-foundational pack whose
/// reads are shared per resource.
const SCANNED_ACTIONS: [&str; 10] = [
    "aws.s3.block-public-access",
    "aws.s3.enable-default-encryption",
    "aws.s3.enable-access-logging",
    "aws.s3.require-tls",
    "aws.s3.restrict-cross-account-actions",
    "aws.ec2.revoke-public-admin-ingress",
    "aws.iam.deactivate-old-access-keys",
    "aws.iam.remove-unused-credentials",
    "aws.ec2.encrypt-volume-copy",
    "aws.config.enable-recorder",
];

/// A new 1 GiB volume.
async fn volume(account: &Account, encrypted: bool) -> String {
    account
        .ec2()
        .create_volume()
        .availability_zone(format!("{REGION}a"))
        .size(1)
        .encrypted(encrypted)
        .send()
        .await
        .unwrap()
        .volume_id
        .unwrap()
}

/// The names of an S3 request's query (`GET /b?tagging&x-id=...`:
/// `tagging`, `x-id`).
fn query_names(call: &str) -> Vec<&str> {
    call.split_once('?')
        .map(|(_, q)| {
            q.split('&')
                .map(|kv| kv.split('=').next().unwrap_or(kv))
                .collect()
        })
        .unwrap_or_default()
}

/// The scan's shared reads give every action the verdict its own check
/// gives, resource by resource, over an account seeded with compliant
/// and non-compliant buckets and users (the state and tags too where the
/// scan reads what the check reads; a user the credential report settles
/// is compliant either way).
#[tokio::test]
async fn scan_reads_give_each_action_the_verdict_of_its_check() {
    let account = Account::new().await;
    let s3 = account.s3();
    let plain = unique("plain");
    let kept = unique("kept");
    let site = unique("site");
    let shared = unique("shared");
    for b in [&plain, &kept, &site, &shared] {
        s3.create_bucket().bucket(b.as_str()).send().await.unwrap();
    }
    // Compliant with most bucket actions: the four settings, encryption,
    // a policy that denies plain HTTP; tagged (no logging: moto refuses a
    // log bucket without the log delivery grant).
    s3.put_public_access_block()
        .bucket(&kept)
        .public_access_block_configuration(
            aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.put_bucket_encryption()
        .bucket(&kept)
        .server_side_encryption_configuration(
            aws_sdk_s3::types::ServerSideEncryptionConfiguration::builder()
                .rules(
                    aws_sdk_s3::types::ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            aws_sdk_s3::types::ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(aws_sdk_s3::types::ServerSideEncryption::Aes256)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let arn = |b: &str| format!("arn:aws:s3:::{b}");
    let tls = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyPlainHttp", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [arn(&kept), format!("{}/*", arn(&kept))],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]});
    s3.put_bucket_policy()
        .bucket(&kept)
        .policy(tls.to_string())
        .send()
        .await
        .unwrap();
    crate::support::tag_bucket(&s3, &kept, "team", "payments").await;
    // A website readable by anyone (intent for two actions).
    s3.put_bucket_website()
        .bucket(&site)
        .website_configuration(
            aws_sdk_s3::types::WebsiteConfiguration::builder()
                .index_document(
                    aws_sdk_s3::types::IndexDocument::builder()
                        .suffix("index.html")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let public_read = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": format!("{}/*", arn(&site))}]});
    s3.put_bucket_policy()
        .bucket(&site)
        .policy(public_read.to_string())
        .send()
        .await
        .unwrap();
    // Another account may change the policy (restrict-cross-account).
    let cross = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "Partner", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
        "Action": ["s3:GetObject", "s3:PutBucketPolicy"],
        "Resource": [arn(&shared), format!("{}/*", arn(&shared))]}]});
    s3.put_bucket_policy()
        .bucket(&shared)
        .policy(cross.to_string())
        .send()
        .await
        .unwrap();
    // Volumes: unencrypted and encrypted.
    volume(&account, false).await;
    volume(&account, true).await;
    // AWS Config on, delivering to the compliant bucket (Config.1).
    crate::support::start_config_recorder(&account.config_service(), &account.id, &kept).await;
    // Users: none, a password, a key, two keys (one made inactive).
    user(&account, false, false, 0).await;
    user(&account, true, false, 0).await;
    user(&account, true, true, 1).await;
    let two = user(&account, false, false, 2).await;
    let iam = account.iam();
    let first = iam
        .list_access_keys()
        .user_name(&two)
        .send()
        .await
        .unwrap()
        .access_key_metadata()[0]
        .access_key_id()
        .unwrap()
        .to_string();
    iam.update_access_key()
        .user_name(&two)
        .access_key_id(first)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();

    let aws = account.aws().await;
    let actions = rectify_aws::catalog(aws.clone());
    let reads = ScanReads::new(4);
    // The posture checks first, as in a scan (their reads are shared).
    for c in checks::catalog(&aws) {
        c.run(&account.id, REGION, &reads).await.unwrap();
    }
    let mut compared = 0;
    let mut flagged = 0;
    for id in SCANNED_ACTIONS {
        let action = actions.iter().find(|a| a.spec().id == id).unwrap();
        // Default params, and (IAM) a limit of 0 days: every active key
        // counts, which the report never settles.
        let param_sets = match id {
            "aws.iam.deactivate-old-access-keys" => vec![json!({}), json!({"max_age_days": 0})],
            "aws.iam.remove-unused-credentials" => vec![
                json!({}),
                json!({"unused_days": 0}),
                json!({"remove_unused_password": true}),
            ],
            _ => vec![json!({})],
        };
        let targets = action
            .discover_in_scan(&account.id, REGION, &reads)
            .await
            .unwrap();
        let ids = |ts: &[Target]| {
            let mut ids: Vec<String> = ts.iter().map(|t| t.resource_id.clone()).collect();
            ids.sort();
            ids
        };
        assert_eq!(
            ids(&targets),
            ids(&action.discover(&account.id, REGION).await.unwrap()),
            "{id}"
        );
        for params in &param_sets {
            for t in &targets {
                let fresh = action.check(t, params).await.unwrap();
                let in_scan = action.check_in_scan(t, params, &reads).await.unwrap();
                assert_eq!(
                    fresh.compliant, in_scan.compliant,
                    "{id} {params} {}: {fresh:?} / {in_scan:?}",
                    t.resource_id
                );
                if !id.starts_with("aws.iam.") {
                    assert_eq!(fresh, in_scan, "{id} {}", t.resource_id);
                }
                compared += 1;
                flagged += usize::from(!fresh.compliant);
            }
        }
    }
    // Both verdicts seen: the seeded account is not all of one kind.
    assert!(
        compared > 40 && flagged >= 8,
        "{compared} compared, {flagged} flagged"
    );
}
