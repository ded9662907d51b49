//! `rectify iam-policy` against an emulator that enforces IAM
//! (tests/standins/moto_iam_server.py, started by scripts/test-env): every
//! action runs under exactly the policies the command prints (the member
//! role's permissions and trust, rectify's own identity's), and with one
//! permission taken out the job ends `failed` with a short access-denied
//! reason naming the operation, and the resource is left as it was.

mod support;

use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use rand::Rng;
use serde_json::{json, Value};

const REGION: &str = "us-east-1";
/// moto's default account: rectify's own identity and the member role are
/// both here, the one account where moto checks a role's trust policy.
const ACCOUNT: &str = "123456789012";

struct IamEnv {
    url: String,
    admin_key: String,
    admin_secret: String,
}

/// The IAM-enforcing emulator: from `make test` (RECTIFY_TEST_MOTO_IAM_URL
/// and RECTIFY_TEST_MOTO_IAM_ADMIN), or started here through
/// scripts/test-env and stopped once this test process is gone.
fn iam_env() -> &'static IamEnv {
    static ENV: OnceLock<IamEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let from = |url: String, admin: String| {
            let (key, secret) = admin
                .split_once(':')
                .expect("RECTIFY_TEST_MOTO_IAM_ADMIN is ID:SECRET");
            IamEnv {
                url,
                admin_key: key.to_string(),
                admin_secret: secret.to_string(),
            }
        };
        if let (Ok(url), Ok(admin)) = (
            std::env::var("RECTIFY_TEST_MOTO_IAM_URL"),
            std::env::var("RECTIFY_TEST_MOTO_IAM_ADMIN"),
        ) {
            return from(url, admin);
        }
        let text = support::start_test_env("iam");
        let var = |name: &str| support::env_file_var(&text, name);
        from(
            var("RECTIFY_TEST_MOTO_IAM_URL"),
            var("RECTIFY_TEST_MOTO_IAM_ADMIN"),
        )
    })
}

async fn admin() -> SdkConfig {
    let env = iam_env();
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&env.url)
        .credentials_provider(Credentials::new(
            &env.admin_key,
            &env.admin_secret,
            None,
            None,
            "test-admin",
        ))
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

fn s3(cfg: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(cfg)
            .force_path_style(true)
            .build(),
    )
}

fn unique() -> String {
    format!("{:012x}", rand::rng().random_range(0u64..1 << 48))
}

/// The account's vulnerable resources, made by the admin.
struct Holes {
    bucket: String,
    group: String,
    default_group: String,
    snapshot: String,
}

impl Holes {
    async fn make(cfg: &SdkConfig) -> Holes {
        let ec2 = aws_sdk_ec2::Client::new(cfg);
        let bucket = format!("rectify-iam-{}", unique());
        s3(cfg)
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        let vpc = ec2
            .create_vpc()
            .cidr_block("10.9.0.0/16")
            .send()
            .await
            .unwrap()
            .vpc
            .unwrap()
            .vpc_id
            .unwrap();
        let group = ec2
            .create_security_group()
            .group_name(format!("ssh-{}", unique()))
            .description("ssh-open-to-the-world")
            .vpc_id(&vpc)
            .send()
            .await
            .unwrap()
            .group_id
            .unwrap();
        ec2.authorize_security_group_ingress()
            .group_id(&group)
            .ip_protocol("tcp")
            .from_port(22)
            .to_port(22)
            .cidr_ip("0.0.0.0/0")
            .send()
            .await
            .unwrap();
        let default_group = ec2
            .describe_security_groups()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("vpc-id")
                    .values(&vpc)
                    .build(),
            )
            .filters(
                aws_sdk_ec2::types::Filter::builder()
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
        ec2.authorize_security_group_ingress()
            .group_id(&default_group)
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .cidr_ip("10.0.0.0/8")
            .send()
            .await
            .unwrap();
        // Account settings: no password policy (so that the undo deletes
        // the one set), EBS default encryption off, a snapshot anyone can
        // restore.
        let _ = aws_sdk_iam::Client::new(cfg)
            .delete_account_password_policy()
            .send()
            .await;
        ec2.disable_ebs_encryption_by_default()
            .send()
            .await
            .unwrap();
        // The AWS managed key as the default again, so that the rule's
        // `kms_key_id` is set (ModifyEbsDefaultKmsKeyId) and undone
        // (ResetEbsDefaultKmsKeyId) every time.
        ec2.reset_ebs_default_kms_key_id().send().await.unwrap();
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
            .volume_id(&volume)
            .send()
            .await
            .unwrap()
            .snapshot_id
            .unwrap();
        ec2.modify_snapshot_attribute()
            .snapshot_id(&snapshot)
            .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
            .operation_type(aws_sdk_ec2::types::OperationType::Add)
            .group_names("all")
            .send()
            .await
            .unwrap();
        Holes {
            bucket,
            group,
            default_group,
            snapshot,
        }
    }

    /// One event per action, each naming its resource (`resources`).
    fn events(&self) -> Vec<(&'static str, Value)> {
        let event = |kind: &str, arn: String| event(kind, &arn);
        let group = |id: &str| format!("arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{id}");
        let account = format!("AWS::::Account:{ACCOUNT}");
        vec![
            (
                "bucket",
                event("bucket", format!("arn:aws:s3:::{}", self.bucket)),
            ),
            ("ingress", event("ingress", group(&self.group))),
            (
                "default-group",
                event("default-group", group(&self.default_group)),
            ),
            ("password", event("password", account.clone())),
            ("ebs", event("ebs", account)),
            (
                "snapshots",
                event(
                    "snapshots",
                    format!("arn:aws:ec2:{REGION}::snapshot/{}", self.snapshot),
                ),
            ),
        ]
    }
}

/// An event of `kind` (the rule's detail-type) naming `resource`; a new
/// id each time, so that the same resource can be sent again.
fn event(kind: &str, resource: &str) -> Value {
    json!({
        "version": "0", "id": format!("ev-{}", unique()), "detail-type": kind,
        "source": "rectify.iam-test", "account": ACCOUNT, "time": "2026-12-05T10:00:00Z",
        "region": REGION, "resources": [resource], "detail": {}
    })
}

const RULES: &str = "\
rules:
  - {id: bucket, pattern: {detail-type: [bucket]}, action: aws.s3.block-public-access}
  - {id: ingress, pattern: {detail-type: [ingress]}, action: aws.ec2.revoke-public-admin-ingress}
  # Its action waits for approval unless the rule itself says auto.
  - {id: default-group, pattern: {detail-type: [default-group]}, action: aws.ec2.restrict-default-security-group, mode: auto}
  - {id: password, pattern: {detail-type: [password]}, action: aws.iam.set-password-policy}
  - {id: ebs, pattern: {detail-type: [ebs]}, action: aws.ec2.enable-ebs-default-encryption}
  - {id: snapshots, pattern: {detail-type: [snapshots]}, action: aws.ec2.make-snapshots-private}
";

struct Site {
    dir: tempfile::TempDir,
    key: String,
    secret: String,
}

impl Site {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_rectify"))
            .current_dir(self.dir.path())
            .env("RECTIFY_CONFIG", self.dir.path().join("rectify.yaml"))
            .env("AWS_ENDPOINT_URL", &iam_env().url)
            .env("AWS_ACCESS_KEY_ID", &self.key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret)
            .env("AWS_REGION", REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent/rectify-test-config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/rectify-test-credentials",
            )
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL_SECURITYHUB")
            .env_remove("RECTIFY_LOG")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        eprintln!(
            "$ rectify {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn policy(&self, args: &[&str]) -> Value {
        let mut all = vec!["iam-policy"];
        all.extend_from_slice(args);
        let out = self.run(&all, None);
        assert_eq!(out.status.code(), Some(0));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `rectify process` of `events` -> each job's rule, outcome and reason.
    fn process(&self, events: &[Value]) -> Vec<(String, String, String)> {
        self.process_ids(events)
            .into_iter()
            .map(|(rule, kind, reason, _)| (rule, kind, reason))
            .collect()
    }

    /// `rectify process` of `events` -> each job's rule, outcome, reason and id.
    fn process_ids(&self, events: &[Value]) -> Vec<(String, String, String, String)> {
        let lines: Vec<String> = events.iter().map(Value::to_string).collect();
        let out = self.run(
            &["process", "--output", "json", "-"],
            Some(&lines.join("\n")),
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("process prints JSON");
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        report["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| {
                (
                    text(&j["rule_id"]),
                    text(&j["outcome"]["kind"]),
                    text(&j["outcome"]["reason"]),
                    text(&j["id"]),
                )
            })
            .collect()
    }
}

/// The policy without `permission` (a statement left with no action goes).
fn without(policy: &Value, permission: &str) -> Value {
    let mut policy = policy.clone();
    let statements = policy["Statement"].as_array_mut().unwrap();
    for s in statements.iter_mut() {
        if let Some(actions) = s["Action"].as_array_mut() {
            actions.retain(|a| a != permission);
        }
    }
    statements.retain(|s| s["Action"].as_array().is_none_or(|a| !a.is_empty()));
    policy
}

/// Whether anyone may create volumes from the snapshot.
async fn public(ec2: &aws_sdk_ec2::Client, snapshot: &str) -> bool {
    ec2.describe_snapshot_attribute()
        .snapshot_id(snapshot)
        .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
        .unwrap()
        .create_volume_permissions()
        .iter()
        .any(|p| p.group() == Some(&aws_sdk_ec2::types::PermissionGroup::All))
}

async fn put_member_policy(cfg: &SdkConfig, role: &str, policy: &Value) {
    aws_sdk_iam::Client::new(cfg)
        .put_role_policy()
        .role_name(role)
        .policy_name("rectify")
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap();
}

/// rectify's own identity (a user with a key) and the topic it tells (its
/// messages land in `queue`), the member role under exactly the policies
/// `rectify iam-policy` prints, and a site whose config holds `rules` and
/// then `overrides` (YAML).
struct Member {
    site: Site,
    role: String,
    /// The member role's permission policy, as printed.
    policy: Value,
    queue: String,
}

impl Member {
    async fn set_up(cfg: &SdkConfig, rules: &str, overrides: &str) -> Member {
        let iam = aws_sdk_iam::Client::new(cfg);
        let u = unique();
        let user = format!("rectify-{u}");
        iam.create_user().user_name(&user).send().await.unwrap();
        let key = iam
            .create_access_key()
            .user_name(&user)
            .send()
            .await
            .unwrap()
            .access_key
            .unwrap();
        let sns = aws_sdk_sns::Client::new(cfg);
        let topic = sns
            .create_topic()
            .name(format!("rectify-{u}"))
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        // The channel's messages land in a queue the test reads.
        let queue = aws_sdk_sqs::Client::new(cfg)
            .create_queue()
            .queue_name(format!("rectify-inbox-{u}"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:rectify-inbox-{u}"))
            .send()
            .await
            .unwrap();
        let role = format!("rectify-member-{u}");
        let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/{role}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("rectify.yaml"),
            format!(
                "store: sqlite://{db}\ndefault_mode: auto\naws:\n  region: {REGION}\n\
                 accounts:\n  - id: \"{ACCOUNT}\"\n    role_arn: {role_arn}\n    external_id: ext-{u}\n    regions: [{REGION}]\n\
                 notifications:\n  team:\n    sns: {topic}\ndefault_notify: [team]\n\
                 guardrails:\n  max_percent_of_type_per_hour: 100\n  max_changes_per_account_per_hour: 1000\n{rules}{overrides}",
                db = dir.path().join("rectify.db").display(),
            ),
        )
        .unwrap();
        let site = Site {
            dir,
            key: key.access_key_id().to_string(),
            secret: key.secret_access_key().to_string(),
        };

        // The three policies, exactly as printed.
        let policy = site.policy(&["--account", ACCOUNT]);
        let principal = format!("arn:aws:iam::{ACCOUNT}:user/{user}");
        let trust = site.policy(&["--trust", "--account", ACCOUNT, "--principal", &principal]);
        let own = site.policy(&["--own"]);
        iam.create_role()
            .role_name(&role)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .unwrap();
        put_member_policy(cfg, &role, &policy).await;
        iam.put_user_policy()
            .user_name(&user)
            .policy_name("rectify")
            .policy_document(own.to_string())
            .send()
            .await
            .unwrap();
        Member {
            site,
            role,
            policy,
            queue,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_action_runs_under_exactly_the_generated_policies() {
    let cfg = admin().await;
    let iam = aws_sdk_iam::Client::new(&cfg);
    // EBS default encryption with a customer managed key of the account.
    let ebs_key = aws_sdk_kms::Client::new(&cfg)
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let overrides = format!("overrides:\n  ebs:\n    params: {{kms_key_id: \"{ebs_key}\"}}\n");
    let Member {
        site,
        role,
        policy: member,
        queue,
    } = Member::set_up(&cfg, RULES, &overrides).await;
    let sqs = aws_sdk_sqs::Client::new(&cfg);

    // Every action, under exactly those policies: each job changes its
    // resource, and the resource reads back fixed.
    let holes = Holes::make(&cfg).await;
    let events: Vec<Value> = holes.events().into_iter().map(|(_, e)| e).collect();
    let jobs = site.process_ids(&events);
    assert_eq!(jobs.len(), 6, "{jobs:#?}");
    for (rule, kind, reason, _) in &jobs {
        assert_eq!(kind, "changed", "{rule}: {reason}");
    }
    let read = s3(&cfg)
        .get_public_access_block()
        .bucket(&holes.bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        read.public_access_block_configuration()
            .unwrap()
            .block_public_policy(),
        Some(true)
    );
    let ec2 = aws_sdk_ec2::Client::new(&cfg);
    let rules_of = |group: String| {
        let ec2 = ec2.clone();
        async move {
            ec2.describe_security_group_rules()
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("group-id")
                        .values(group)
                        .build(),
                )
                .send()
                .await
                .unwrap()
                .security_group_rules()
                .to_vec()
        }
    };
    assert!(rules_of(holes.group.clone())
        .await
        .iter()
        .all(|r| r.is_egress() == Some(true) || r.cidr_ipv4() != Some("0.0.0.0/0")));
    assert!(rules_of(holes.default_group.clone()).await.is_empty());
    let policy = iam.get_account_password_policy().send().await.unwrap();
    assert_eq!(
        policy.password_policy().unwrap().minimum_password_length(),
        Some(14)
    );
    assert_eq!(
        ec2.get_ebs_encryption_by_default()
            .send()
            .await
            .unwrap()
            .ebs_encryption_by_default(),
        Some(true)
    );

    assert!(!public(&ec2, &holes.snapshot).await, "{}", holes.snapshot);
    // The owner was told of each change (sns:Publish under the own policy).
    let mut told = 0;
    loop {
        let got = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let n = got.messages().len();
        if n == 0 {
            break;
        }
        told += n;
        for m in got.messages() {
            sqs.delete_message()
                .queue_url(&queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    assert_eq!(told, 6);

    // The undo of each change (`rectify jobs revert`) runs under the same
    // policy; the group's SSH rule comes back.
    for (rule, _, _, id) in &jobs {
        let out = site.run(&["jobs", "revert", id, "--approve"], None);
        let said = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "revert of {rule}: {said}");
        assert!(!said.contains("access denied"), "revert of {rule}: {said}");
    }
    assert!(rules_of(holes.group.clone())
        .await
        .iter()
        .any(|r| r.cidr_ipv4() == Some("0.0.0.0/0") && r.from_port() == Some(22)));
    assert!(public(&ec2, &holes.snapshot).await, "{}", holes.snapshot);

    // One permission taken out at a time: the job that needs it fails at
    // once with a short reason that says access denied and names the
    // operation, and its resource is left open.
    let cases = [
        ("bucket", "s3:PutBucketPublicAccessBlock"),
        ("ingress", "ec2:RevokeSecurityGroupIngress"),
        ("default-group", "ec2:DescribeSecurityGroupRules"),
        ("password", "iam:UpdateAccountPasswordPolicy"),
        ("ebs", "ec2:EnableEbsEncryptionByDefault"),
        ("snapshots", "ec2:ModifySnapshotAttribute"),
    ];
    for (rule, permission) in cases {
        let holes = Holes::make(&cfg).await;
        let event = holes
            .events()
            .into_iter()
            .find(|(r, _)| *r == rule)
            .unwrap()
            .1;
        put_member_policy(&cfg, &role, &without(&member, permission)).await;
        let jobs = site.process(&[event]);
        assert_eq!(jobs.len(), 1, "{jobs:#?}");
        let (_, kind, reason) = &jobs[0];
        assert_eq!(kind, "failed", "{rule} without {permission}: {reason}");
        assert!(
            reason.starts_with(&format!("access denied: {permission}")),
            "{rule} without {permission}: {reason}"
        );
        assert!(reason.len() < 300, "{reason}");
        if rule == "bucket" {
            let open = s3(&cfg)
                .get_public_access_block()
                .bucket(&holes.bucket)
                .send()
                .await;
            assert!(
                open.is_err()
                    || open
                        .unwrap()
                        .public_access_block_configuration()
                        .is_none_or(|c| c.block_public_policy() != Some(true)),
                "the bucket was changed without the permission"
            );
        }
        if rule == "snapshots" {
            assert!(public(&ec2, &holes.snapshot).await, "{}", holes.snapshot);
        }
        if rule == "ingress" {
            assert!(rules_of(holes.group.clone())
                .await
                .iter()
                .any(|r| r.cidr_ipv4() == Some("0.0.0.0/0") && r.from_port() == Some(22)));
        }
    }
    put_member_policy(&cfg, &role, &member).await;

    // The undo needs its own permission: without
    // ec2:AuthorizeSecurityGroupIngress the revert of a revoke is refused,
    // naming it, and the group stays closed.
    let holes = Holes::make(&cfg).await;
    let ingress = holes
        .events()
        .into_iter()
        .find(|(r, _)| *r == "ingress")
        .unwrap()
        .1;
    let jobs = site.process_ids(&[ingress]);
    assert_eq!(jobs[0].1, "changed", "{jobs:?}");
    put_member_policy(
        &cfg,
        &role,
        &without(&member, "ec2:AuthorizeSecurityGroupIngress"),
    )
    .await;
    let out = site.run(&["jobs", "revert", &jobs[0].3, "--approve"], None);
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("access denied: ec2:AuthorizeSecurityGroupIngress on "),
        "{said}"
    );
    assert!(!rules_of(holes.group.clone())
        .await
        .iter()
        .any(|r| r.cidr_ipv4() == Some("0.0.0.0/0") && r.from_port() == Some(22)));
    put_member_policy(&cfg, &role, &member).await;

    // A trust policy for another principal: the role cannot be assumed,
    // and the job says so.
    let other = site.policy(&[
        "--trust",
        "--account",
        ACCOUNT,
        "--principal",
        &format!("arn:aws:iam::{ACCOUNT}:user/someone-else"),
    ]);
    iam.update_assume_role_policy()
        .role_name(&role)
        .policy_document(other.to_string())
        .send()
        .await
        .unwrap();
    let holes = Holes::make(&cfg).await;
    let jobs = site.process(&[holes.events()[0].1.clone()]);
    let (_, kind, reason) = &jobs[0];
    assert_eq!(kind, "failed", "{reason}");
    assert!(
        reason.starts_with("access denied: sts:AssumeRole on arn:aws:iam::"),
        "{reason}"
    );
}

// ---- The rest of the catalog ----------------------------------------------
//
// Every other action of the catalog the emulator can run, under exactly the
// generated policy: each fix succeeds and reads back fixed, each undo runs,
// and without the write permission of its fix each job fails at once with
// a short access-denied reason naming it, leaving the resource as it was.
// SSM.7's service-setting calls, which moto 5.2.5 lacks, are answered by
// the stand-in of tests/standins/moto_ssm_extras.py (under moto's IAM
// enforcement); CloudWatch's, which the SDK sends in RPC v2 CBOR, by moto
// through tests/standins/moto_cbor.py. The CloudWatch.1-14 fix needs the
// multi-Region trail the `multi-trail` hole takes away, so it runs in a
// phase of its own after the others.

/// What the catalog's rules name: buckets, a key, a log group, roles.
struct CatalogFixtures {
    log_bucket: String,
    flow_bucket: String,
    trail_bucket: String,
    config_bucket: String,
    trail_key: String,
    log_group_arn: String,
    /// The topic the CloudWatch.1-14 alarms notify (one confirmed
    /// subscriber).
    alarm_topic: String,
}

impl CatalogFixtures {
    async fn make(cfg: &SdkConfig) -> CatalogFixtures {
        let u = unique();
        let bucket = |kind: &str| format!("rectify-iam-{kind}-{u}");
        for kind in ["logs", "flow", "trail", "config"] {
            s3(cfg)
                .create_bucket()
                .bucket(bucket(kind))
                .send()
                .await
                .unwrap();
        }
        // S3 delivers access logs only where the bucket policy lets it.
        let logs = bucket("logs");
        let delivery = json!({"Version": "2012-10-17", "Statement": [{"Sid": "S3ServerAccessLogs",
            "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject", "Resource": format!("arn:aws:s3:::{logs}/*")}]});
        s3(cfg)
            .put_bucket_policy()
            .bucket(&logs)
            .policy(delivery.to_string())
            .send()
            .await
            .unwrap();
        let trail_key = aws_sdk_kms::Client::new(cfg)
            .create_key()
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap()
            .arn
            .unwrap();
        let group = format!("rectify-iam-trail-{u}");
        aws_sdk_cloudwatchlogs::Client::new(cfg)
            .create_log_group()
            .log_group_name(&group)
            .send()
            .await
            .unwrap();
        let sns = aws_sdk_sns::Client::new(cfg);
        let alarm_topic = sns
            .create_topic()
            .name(format!("rectify-iam-alarms-{u}"))
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        sns.subscribe()
            .topic_arn(&alarm_topic)
            .protocol("email")
            .endpoint("security@example.com")
            .send()
            .await
            .unwrap();
        CatalogFixtures {
            alarm_topic,
            log_bucket: bucket("logs"),
            flow_bucket: bucket("flow"),
            trail_bucket: bucket("trail"),
            config_bucket: bucket("config"),
            trail_key,
            log_group_arn: format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*"),
        }
    }

    /// One rule per action (its id is the events' detail-type), each
    /// `mode: auto`: several of these actions wait for approval by default.
    fn rules(&self) -> String {
        let role = |name: &str| format!("arn:aws:iam::{ACCOUNT}:role/{name}");
        let rows = [
            ("tls", "aws.s3.require-tls", String::new()),
            ("sse", "aws.s3.enable-default-encryption", String::new()),
            (
                "logging",
                "aws.s3.enable-access-logging",
                format!("target_bucket: {}", self.log_bucket),
            ),
            (
                "cross-account",
                "aws.s3.restrict-cross-account-actions",
                String::new(),
            ),
            (
                "account-bpa",
                "aws.s3.block-public-access-account",
                String::new(),
            ),
            ("imdsv2", "aws.ec2.require-imdsv2", String::new()),
            (
                "subnet-ip",
                "aws.ec2.disable-subnet-public-ip",
                String::new(),
            ),
            (
                "flow-logs",
                "aws.ec2.enable-vpc-flow-logs",
                format!(
                    "log_destination_type: s3, log_destination: \"arn:aws:s3:::{}\"",
                    self.flow_bucket
                ),
            ),
            ("volume-copy", "aws.ec2.encrypt-volume-copy", String::new()),
            (
                "igw",
                "aws.ec2.detach-unauthorized-internet-gateway",
                "allowed_vpcs: [vpc-0123456789abcdef0]".to_string(),
            ),
            (
                "rds-snapshot",
                "aws.rds.make-snapshots-private",
                String::new(),
            ),
            (
                "rds-instance",
                "aws.rds.make-instance-private",
                String::new(),
            ),
            (
                "lambda",
                "aws.lambda.remove-public-permissions",
                String::new(),
            ),
            ("ssm-doc", "aws.ssm.make-document-private", String::new()),
            (
                "ssm-sharing",
                "aws.ssm.block-public-document-sharing",
                String::new(),
            ),
            (
                "cloudwatch",
                "aws.cloudwatch.metric-filter-alarm",
                format!("sns_topic_arn: \"{}\"", self.alarm_topic),
            ),
            (
                "old-keys",
                "aws.iam.deactivate-old-access-keys",
                "max_age_days: 0".to_string(),
            ),
            (
                "unused",
                "aws.iam.remove-unused-credentials",
                "unused_days: 0".to_string(),
            ),
            ("kms", "aws.kms.enable-key-rotation", String::new()),
            ("sqs", "aws.sqs.encrypt-queue", String::new()),
            ("sns", "aws.sns.encrypt-topic", String::new()),
            ("ecr", "aws.ecr.enable-scan-on-push", String::new()),
            (
                "redshift",
                "aws.redshift.make-cluster-private",
                String::new(),
            ),
            (
                "trail-validation",
                "aws.cloudtrail.enable-log-file-validation",
                String::new(),
            ),
            (
                "trail-kms",
                "aws.cloudtrail.enable-kms-encryption",
                format!("kms_key_id: \"{}\"", self.trail_key),
            ),
            (
                "trail-logs",
                "aws.cloudtrail.enable-cloudwatch-logs",
                format!(
                    "log_group_arn: \"{}\", role_arn: \"{}\"",
                    self.log_group_arn,
                    role("trail-to-logs")
                ),
            ),
            (
                "multi-trail",
                "aws.cloudtrail.enable-multi-region-trail",
                format!("bucket: {}", self.trail_bucket),
            ),
            (
                "config",
                "aws.config.enable-recorder",
                format!(
                    "role_arn: \"{}\", bucket: {}",
                    role("config-recorder"),
                    self.config_bucket
                ),
            ),
            ("guardduty", "aws.guardduty.enable-detector", String::new()),
            ("access-key", "aws.iam.deactivate-access-key", String::new()),
            ("contain-role", "aws.iam.contain-role", String::new()),
            ("isolate", "aws.ec2.isolate-instance", String::new()),
            ("s3-deny", "aws.s3.deny-principal", String::new()),
        ];
        let mut yaml = "rules:\n".to_string();
        for (id, action, params) in rows {
            yaml.push_str(&format!(
                "  - {{id: {id}, pattern: {{detail-type: [{id}]}}, action: {action}, mode: auto, params: {{{params}}}}}\n"
            ));
        }
        yaml
    }
}

/// Each catalog rule and the permission its fix cannot do without (the
/// write, checked by the emulator on the resource the call names).
const CATALOG_WRITES: &[(&str, &str)] = &[
    ("tls", "s3:PutBucketPolicy"),
    ("sse", "s3:PutEncryptionConfiguration"),
    ("logging", "s3:PutBucketLogging"),
    ("cross-account", "s3:PutBucketPolicy"),
    ("account-bpa", "s3:PutAccountPublicAccessBlock"),
    ("imdsv2", "ec2:ModifyInstanceMetadataOptions"),
    ("subnet-ip", "ec2:ModifySubnetAttribute"),
    ("flow-logs", "ec2:CreateFlowLogs"),
    ("volume-copy", "ec2:CreateSnapshot"),
    ("igw", "ec2:DetachInternetGateway"),
    ("rds-snapshot", "rds:ModifyDBSnapshotAttribute"),
    ("rds-instance", "rds:ModifyDBInstance"),
    ("lambda", "lambda:RemovePermission"),
    ("ssm-doc", "ssm:ModifyDocumentPermission"),
    ("ssm-sharing", "ssm:UpdateServiceSetting"),
    ("old-keys", "iam:UpdateAccessKey"),
    ("unused", "iam:UpdateAccessKey"),
    ("kms", "kms:EnableKeyRotation"),
    ("sqs", "sqs:SetQueueAttributes"),
    ("sns", "sns:SetTopicAttributes"),
    ("ecr", "ecr:PutImageScanningConfiguration"),
    ("redshift", "redshift:ModifyCluster"),
    ("trail-validation", "cloudtrail:UpdateTrail"),
    ("trail-kms", "cloudtrail:UpdateTrail"),
    ("trail-logs", "cloudtrail:UpdateTrail"),
    ("multi-trail", "cloudtrail:CreateTrail"),
    ("config", "config:PutConfigurationRecorder"),
    ("guardduty", "guardduty:CreateDetector"),
    ("access-key", "iam:UpdateAccessKey"),
    ("contain-role", "iam:PutRolePolicy"),
    ("isolate", "ec2:CreateSnapshot"),
    ("s3-deny", "s3:PutBucketPublicAccessBlock"),
];

/// One resource out of compliance, made by the admin: the rule that fixes
/// it and the resource its events name (plus what the read-back needs).
struct CatalogHole {
    rule: &'static str,
    resource: String,
    /// The resource's name or id, where the read-back needs it.
    name: String,
}

const ACCOUNT_RESOURCE: &str = "AWS::::Account:123456789012";

/// The SSM setting SSM.7 blocks public document sharing with.
const PUBLIC_SHARING: &str = "/ssm/documents/console/public-sharing-permission";

async fn new_instance(cfg: &SdkConfig, subnet: Option<&str>) -> String {
    aws_sdk_ec2::Client::new(cfg)
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .set_subnet_id(subnet.map(str::to_string))
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string()
}

async fn new_vpc_and_subnet(cfg: &SdkConfig) -> (String, String) {
    let ec2 = aws_sdk_ec2::Client::new(cfg);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.7.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.7.1.0/24")
        .availability_zone(format!("{REGION}a"))
        .send()
        .await
        .unwrap()
        .subnet
        .unwrap()
        .subnet_id
        .unwrap();
    ec2.modify_subnet_attribute()
        .subnet_id(&subnet)
        .map_public_ip_on_launch(
            aws_sdk_ec2::types::AttributeBooleanValue::builder()
                .value(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    (vpc, subnet)
}

async fn new_db_instance(cfg: &SdkConfig, public: bool) -> String {
    let name = format!("db-{}", unique());
    aws_sdk_rds::Client::new(cfg)
        .create_db_instance()
        .db_instance_identifier(&name)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("admin1")
        .master_user_password("a-long-password-1")
        .allocated_storage(20)
        .publicly_accessible(public)
        .send()
        .await
        .unwrap();
    name
}

async fn new_user_with_key(cfg: &SdkConfig) -> (String, String) {
    let iam = aws_sdk_iam::Client::new(cfg);
    let name = format!("user-{}", unique());
    let arn = iam
        .create_user()
        .user_name(&name)
        .send()
        .await
        .unwrap()
        .user
        .unwrap()
        .arn;
    iam.create_access_key()
        .user_name(&name)
        .send()
        .await
        .unwrap();
    (name, arn)
}

async fn new_trail(cfg: &SdkConfig, fx: &CatalogFixtures) -> (String, String) {
    let name = format!("trail-{}", unique());
    let arn = aws_sdk_cloudtrail::Client::new(cfg)
        .create_trail()
        .name(&name)
        .s3_bucket_name(&fx.log_bucket)
        .send()
        .await
        .unwrap()
        .trail_arn
        .unwrap();
    (name, arn)
}

/// A zip file with no entries: Lambda takes it as a function's code.
const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// Turns the account setting `rule` fixes off again, as the admin.
async fn turn_off(cfg: &SdkConfig, rule: &str) {
    match rule {
        "account-bpa" => {
            let _ = s3control(cfg)
                .delete_public_access_block()
                .account_id(ACCOUNT)
                .send()
                .await;
        }
        "multi-trail" => {
            let ct = aws_sdk_cloudtrail::Client::new(cfg);
            let trails = ct.describe_trails().send().await.unwrap();
            for t in trails.trail_list() {
                if t.is_multi_region_trail() == Some(true) {
                    // By name: moto 5.2.5 leaves a trail named by its ARN.
                    let name = t.name().unwrap_or_default();
                    ct.delete_trail().name(name).send().await.unwrap();
                }
            }
        }
        "config" => {
            let config = aws_sdk_config::Client::new(cfg);
            let recorders = config
                .describe_configuration_recorders()
                .send()
                .await
                .unwrap();
            for r in recorders.configuration_recorders() {
                let name = r.name().unwrap_or_default();
                let _ = config
                    .stop_configuration_recorder()
                    .configuration_recorder_name(name)
                    .send()
                    .await;
                let _ = config
                    .delete_configuration_recorder()
                    .configuration_recorder_name(name)
                    .send()
                    .await;
            }
            let channels = config.describe_delivery_channels().send().await.unwrap();
            for c in channels.delivery_channels() {
                let _ = config
                    .delete_delivery_channel()
                    .delivery_channel_name(c.name().unwrap_or_default())
                    .send()
                    .await;
            }
        }
        "guardduty" => {
            let gd = aws_sdk_guardduty::Client::new(cfg);
            for id in gd.list_detectors().send().await.unwrap().detector_ids() {
                gd.delete_detector().detector_id(id).send().await.unwrap();
            }
        }
        "ssm-sharing" => {
            aws_sdk_ssm::Client::new(cfg)
                .reset_service_setting()
                .setting_id(PUBLIC_SHARING)
                .send()
                .await
                .unwrap();
        }
        other => panic!("{other} is no account setting"),
    }
}

/// A resource out of compliance for `rule`.
async fn catalog_hole(cfg: &SdkConfig, fx: &CatalogFixtures, rule: &'static str) -> CatalogHole {
    let ec2 = aws_sdk_ec2::Client::new(cfg);
    let ec2_arn = |kind: &str, id: &str| format!("arn:aws:ec2:{REGION}:{ACCOUNT}:{kind}/{id}");
    let hole = |resource: String, name: String| CatalogHole {
        rule,
        resource,
        name,
    };
    let bucket = || async {
        let name = format!("rectify-iam-{rule}-{}", unique());
        s3(cfg).create_bucket().bucket(&name).send().await.unwrap();
        name
    };
    match rule {
        "tls" | "sse" | "logging" | "cross-account" => {
            let name = bucket().await;
            if rule == "sse" {
                s3(cfg)
                    .delete_bucket_encryption()
                    .bucket(&name)
                    .send()
                    .await
                    .unwrap();
            }
            if rule == "cross-account" {
                let policy = json!({"Version": "2012-10-17", "Statement": [{
                    "Sid": "PartnerAdmin", "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
                    "Action": ["s3:GetObject", "s3:PutBucketPolicy"],
                    "Resource": [format!("arn:aws:s3:::{name}"), format!("arn:aws:s3:::{name}/*")]}]});
                s3(cfg)
                    .put_bucket_policy()
                    .bucket(&name)
                    .policy(policy.to_string())
                    .send()
                    .await
                    .unwrap();
            }
            hole(format!("arn:aws:s3:::{name}"), name)
        }
        "account-bpa" | "multi-trail" | "config" | "guardduty" | "ssm-sharing" => {
            // An account setting: what an earlier run left is taken away.
            turn_off(cfg, rule).await;
            hole(ACCOUNT_RESOURCE.to_string(), String::new())
        }
        "imdsv2" => {
            let id = new_instance(cfg, None).await;
            ec2.modify_instance_metadata_options()
                .instance_id(&id)
                .http_tokens(aws_sdk_ec2::types::HttpTokensState::Optional)
                .send()
                .await
                .unwrap();
            hole(ec2_arn("instance", &id), id)
        }
        "subnet-ip" => {
            let (_, subnet) = new_vpc_and_subnet(cfg).await;
            hole(ec2_arn("subnet", &subnet), subnet)
        }
        "flow-logs" => {
            let (vpc, _) = new_vpc_and_subnet(cfg).await;
            hole(ec2_arn("vpc", &vpc), vpc)
        }
        "igw" => {
            let (vpc, _) = new_vpc_and_subnet(cfg).await;
            let igw = ec2
                .create_internet_gateway()
                .send()
                .await
                .unwrap()
                .internet_gateway
                .unwrap()
                .internet_gateway_id
                .unwrap();
            ec2.attach_internet_gateway()
                .internet_gateway_id(&igw)
                .vpc_id(&vpc)
                .send()
                .await
                .unwrap();
            hole(ec2_arn("internet-gateway", &igw), igw)
        }
        "volume-copy" => {
            let instance = new_instance(cfg, None).await;
            let zone = ec2
                .describe_instances()
                .instance_ids(&instance)
                .send()
                .await
                .unwrap()
                .reservations()[0]
                .instances()[0]
                .placement()
                .unwrap()
                .availability_zone()
                .unwrap()
                .to_string();
            let volume = ec2
                .create_volume()
                .availability_zone(&zone)
                .size(8)
                .send()
                .await
                .unwrap()
                .volume_id
                .unwrap();
            ec2.attach_volume()
                .volume_id(&volume)
                .instance_id(&instance)
                .device("/dev/sdf")
                .send()
                .await
                .unwrap();
            hole(ec2_arn("volume", &volume), volume)
        }
        "rds-snapshot" => {
            let instance = new_db_instance(cfg, false).await;
            let snapshot = format!("snap-{}", unique());
            let rds = aws_sdk_rds::Client::new(cfg);
            rds.create_db_snapshot()
                .db_instance_identifier(&instance)
                .db_snapshot_identifier(&snapshot)
                .send()
                .await
                .unwrap();
            rds.modify_db_snapshot_attribute()
                .db_snapshot_identifier(&snapshot)
                .attribute_name("restore")
                .values_to_add("all")
                .send()
                .await
                .unwrap();
            hole(
                format!("arn:aws:rds:{REGION}:{ACCOUNT}:snapshot:{snapshot}"),
                snapshot,
            )
        }
        "rds-instance" => {
            let instance = new_db_instance(cfg, true).await;
            hole(
                format!("arn:aws:rds:{REGION}:{ACCOUNT}:db:{instance}"),
                instance,
            )
        }
        "lambda" => {
            let role = aws_sdk_iam::Client::new(cfg)
                .create_role()
                .role_name(format!("fn-{}", unique()))
                .assume_role_policy_document(
                    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
                    .to_string(),
                )
                .send()
                .await
                .unwrap()
                .role
                .unwrap()
                .arn;
            let name = format!("fn-{}", unique());
            let lambda = aws_sdk_lambda::Client::new(cfg);
            lambda
                .create_function()
                .function_name(&name)
                .runtime(aws_sdk_lambda::types::Runtime::Python312)
                .role(role)
                .handler("index.handler")
                .code(
                    aws_sdk_lambda::types::FunctionCode::builder()
                        .zip_file(aws_smithy_types::Blob::new(EMPTY_ZIP.to_vec()))
                        .build(),
                )
                .send()
                .await
                .unwrap();
            lambda
                .add_permission()
                .function_name(&name)
                .statement_id("open")
                .action("lambda:InvokeFunction")
                .principal("*")
                .send()
                .await
                .unwrap();
            hole(
                format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"),
                name,
            )
        }
        "ssm-doc" => {
            let name = format!("Ops-Doc-{}", unique());
            let ssm = aws_sdk_ssm::Client::new(cfg);
            ssm.create_document()
                .name(&name)
                .document_type(aws_sdk_ssm::types::DocumentType::Command)
                .content(
                    json!({"schemaVersion": "2.2", "description": "restart",
                        "mainSteps": [{"action": "aws:runShellScript", "name": "restart",
                            "inputs": {"runCommand": ["true"]}}]})
                    .to_string(),
                )
                .send()
                .await
                .unwrap();
            ssm.modify_document_permission()
                .name(&name)
                .permission_type(aws_sdk_ssm::types::DocumentPermissionType::Share)
                .account_ids_to_add("All")
                .send()
                .await
                .unwrap();
            hole(
                format!("arn:aws:ssm:{REGION}:{ACCOUNT}:document/{name}"),
                name,
            )
        }
        "old-keys" | "unused" => {
            let (name, arn) = new_user_with_key(cfg).await;
            if rule == "unused" {
                aws_sdk_iam::Client::new(cfg)
                    .create_login_profile()
                    .user_name(&name)
                    .password("Correct-Horse-9-Battery")
                    .send()
                    .await
                    .unwrap();
            }
            hole(arn, name)
        }
        "kms" => {
            let key = aws_sdk_kms::Client::new(cfg)
                .create_key()
                .send()
                .await
                .unwrap()
                .key_metadata
                .unwrap();
            hole(key.arn.unwrap(), key.key_id)
        }
        "sqs" => {
            let name = format!("queue-{}", unique());
            let url = aws_sdk_sqs::Client::new(cfg)
                .create_queue()
                .queue_name(&name)
                .attributes(
                    aws_sdk_sqs::types::QueueAttributeName::SqsManagedSseEnabled,
                    "false",
                )
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap();
            hole(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"), url)
        }
        "sns" => {
            let arn = aws_sdk_sns::Client::new(cfg)
                .create_topic()
                .name(format!("topic-{}", unique()))
                .send()
                .await
                .unwrap()
                .topic_arn
                .unwrap();
            hole(arn.clone(), arn)
        }
        "ecr" => {
            let name = format!("app-{}", unique());
            let arn = aws_sdk_ecr::Client::new(cfg)
                .create_repository()
                .repository_name(&name)
                .send()
                .await
                .unwrap()
                .repository
                .unwrap()
                .repository_arn
                .unwrap();
            hole(arn, name)
        }
        "redshift" => {
            let name = format!("analytics-{}", unique());
            aws_sdk_redshift::Client::new(cfg)
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
            hole(
                format!("arn:aws:redshift:{REGION}:{ACCOUNT}:cluster:{name}"),
                name,
            )
        }
        "trail-validation" | "trail-kms" | "trail-logs" => {
            let (name, arn) = new_trail(cfg, fx).await;
            hole(arn, name)
        }
        "access-key" => {
            let iam = aws_sdk_iam::Client::new(cfg);
            let name = format!("user-{}", unique());
            iam.create_user().user_name(&name).send().await.unwrap();
            let key = iam
                .create_access_key()
                .user_name(&name)
                .send()
                .await
                .unwrap()
                .access_key
                .unwrap()
                .access_key_id;
            hole(format!("AWS::IAM::AccessKey:{key}"), name)
        }
        "contain-role" => {
            let name = format!("app-{}", unique());
            let arn = aws_sdk_iam::Client::new(cfg)
                .create_role()
                .role_name(&name)
                .assume_role_policy_document(
                    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
                    .to_string(),
                )
                .send()
                .await
                .unwrap()
                .role
                .unwrap()
                .arn;
            hole(arn, name)
        }
        "isolate" => {
            let id = new_instance(cfg, None).await;
            hole(ec2_arn("instance", &id), id)
        }
        "s3-deny" => {
            let name = bucket().await;
            hole(format!("arn:aws:s3:::{name}"), name)
        }
        other => panic!("no hole for rule {other}"),
    }
}

/// The event of a hole: its resource, and for a bucket closed to a
/// principal a finding that names the principal too (ASFF, under the
/// rule's detail-type).
fn hole_event(hole: &CatalogHole) -> Value {
    if hole.rule != "s3-deny" {
        return event(hole.rule, &hole.resource);
    }
    let mut e = event(hole.rule, &hole.resource);
    e["detail"] = json!({"findings": [{
        "SchemaVersion": "2018-10-08", "Id": format!("f-{}", unique()),
        "ProductArn": format!("arn:aws:securityhub:{REGION}::product/aws/guardduty"),
        "GeneratorId": "guardduty", "AwsAccountId": ACCOUNT, "Region": REGION,
        "Types": ["TTPs/Exfiltration/Exfiltration:S3-AnomalousBehavior"],
        "Resources": [
            {"Type": "AwsS3Bucket", "Id": hole.resource, "Partition": "aws", "Region": REGION},
            {"Type": "AwsIamAccessKey", "Id": "AWS::IAM::AccessKey:AKIAIOSFODNN7EXAMPLE",
             "Partition": "aws", "Region": REGION, "Details": {"AwsIamAccessKey": {
                "PrincipalName": "mallory", "PrincipalType": "IAMUser"}}}]}]});
    e
}

/// Whether `hole` complies now, as the admin reads it.
async fn catalog_fixed(cfg: &SdkConfig, fx: &CatalogFixtures, hole: &CatalogHole) -> bool {
    let ec2 = aws_sdk_ec2::Client::new(cfg);
    let name = hole.name.as_str();
    let bucket_policy = || async {
        s3(cfg)
            .get_bucket_policy()
            .bucket(name)
            .send()
            .await
            .ok()
            .and_then(|p| p.policy().map(str::to_string))
            .unwrap_or_default()
    };
    let trail = || async {
        aws_sdk_cloudtrail::Client::new(cfg)
            .get_trail()
            .name(name)
            .send()
            .await
            .unwrap()
            .trail
            .unwrap()
    };
    match hole.rule {
        "tls" => bucket_policy().await.contains("aws:SecureTransport"),
        "cross-account" => !bucket_policy().await.contains("s3:PutBucketPolicy"),
        "sse" => s3(cfg)
            .get_bucket_encryption()
            .bucket(name)
            .send()
            .await
            .is_ok(),
        "logging" => {
            let out = s3(cfg)
                .get_bucket_logging()
                .bucket(name)
                .send()
                .await
                .unwrap();
            out.logging_enabled()
                .is_some_and(|l| l.target_bucket() == fx.log_bucket)
        }
        "account-bpa" => s3control(cfg)
            .get_public_access_block()
            .account_id(ACCOUNT)
            .send()
            .await
            .ok()
            .and_then(|o| o.public_access_block_configuration().cloned())
            .is_some_and(|c| c.block_public_policy() == Some(true)),
        "imdsv2" => {
            let out = ec2
                .describe_instances()
                .instance_ids(name)
                .send()
                .await
                .unwrap();
            out.reservations()[0].instances()[0]
                .metadata_options()
                .and_then(|m| m.http_tokens())
                == Some(&aws_sdk_ec2::types::HttpTokensState::Required)
        }
        "subnet-ip" => {
            let out = ec2
                .describe_subnets()
                .subnet_ids(name)
                .send()
                .await
                .unwrap();
            out.subnets()[0].map_public_ip_on_launch() == Some(false)
        }
        "flow-logs" => {
            let out = ec2
                .describe_flow_logs()
                .filter(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("resource-id")
                        .values(name)
                        .build(),
                )
                .send()
                .await
                .unwrap();
            !out.flow_logs().is_empty()
        }
        "igw" => {
            let out = ec2
                .describe_internet_gateways()
                .internet_gateway_ids(name)
                .send()
                .await
                .unwrap();
            out.internet_gateways()[0].attachments().is_empty()
        }
        "volume-copy" => {
            let out = ec2
                .describe_volumes()
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("tag:rectify:encrypted-copy-of")
                        .values(name)
                        .build(),
                )
                .send()
                .await
                .unwrap();
            out.volumes().iter().any(|v| v.encrypted() == Some(true))
        }
        "rds-snapshot" => {
            let out = aws_sdk_rds::Client::new(cfg)
                .describe_db_snapshot_attributes()
                .db_snapshot_identifier(name)
                .send()
                .await
                .unwrap();
            !out.db_snapshot_attributes_result()
                .unwrap()
                .db_snapshot_attributes()
                .iter()
                .any(|a| a.attribute_values().iter().any(|v| v == "all"))
        }
        "rds-instance" => {
            let out = aws_sdk_rds::Client::new(cfg)
                .describe_db_instances()
                .db_instance_identifier(name)
                .send()
                .await
                .unwrap();
            out.db_instances()[0].publicly_accessible() == Some(false)
        }
        "lambda" => aws_sdk_lambda::Client::new(cfg)
            .get_policy()
            .function_name(name)
            .send()
            .await
            .map_or(true, |p| {
                !p.policy().unwrap_or_default().contains("\"open\"")
            }),
        "ssm-doc" => aws_sdk_ssm::Client::new(cfg)
            .describe_document_permission()
            .name(name)
            .permission_type(aws_sdk_ssm::types::DocumentPermissionType::Share)
            .send()
            .await
            .unwrap()
            .account_ids()
            .is_empty(),
        "old-keys" | "unused" => aws_sdk_iam::Client::new(cfg)
            .list_access_keys()
            .user_name(name)
            .send()
            .await
            .unwrap()
            .access_key_metadata()
            .iter()
            .all(|k| k.status() == Some(&aws_sdk_iam::types::StatusType::Inactive)),
        "kms" => aws_sdk_kms::Client::new(cfg)
            .get_key_rotation_status()
            .key_id(name)
            .send()
            .await
            .unwrap()
            .key_rotation_enabled(),
        "sqs" => {
            aws_sdk_sqs::Client::new(cfg)
                .get_queue_attributes()
                .queue_url(name)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::SqsManagedSseEnabled)
                .send()
                .await
                .unwrap()
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::QueueAttributeName::SqsManagedSseEnabled)
                        .cloned()
                })
                .as_deref()
                == Some("true")
        }
        "sns" => aws_sdk_sns::Client::new(cfg)
            .get_topic_attributes()
            .topic_arn(name)
            .send()
            .await
            .unwrap()
            .attributes()
            .and_then(|a| a.get("KmsMasterKeyId").cloned())
            .is_some_and(|k| !k.is_empty()),
        "ecr" => aws_sdk_ecr::Client::new(cfg)
            .describe_repositories()
            .repository_names(name)
            .send()
            .await
            .unwrap()
            .repositories()[0]
            .image_scanning_configuration()
            .is_some_and(|c| c.scan_on_push()),
        "redshift" => {
            aws_sdk_redshift::Client::new(cfg)
                .describe_clusters()
                .cluster_identifier(name)
                .send()
                .await
                .unwrap()
                .clusters()[0]
                .publicly_accessible()
                == Some(false)
        }
        "trail-validation" => trail().await.log_file_validation_enabled() == Some(true),
        "trail-kms" => trail().await.kms_key_id() == Some(fx.trail_key.as_str()),
        "trail-logs" => {
            trail().await.cloud_watch_logs_log_group_arn() == Some(fx.log_group_arn.as_str())
        }
        "multi-trail" => aws_sdk_cloudtrail::Client::new(cfg)
            .describe_trails()
            .send()
            .await
            .unwrap()
            .trail_list()
            .iter()
            .any(|t| t.is_multi_region_trail() == Some(true)),
        "config" => {
            let status = aws_sdk_config::Client::new(cfg)
                .describe_configuration_recorder_status()
                .send()
                .await
                .unwrap();
            status
                .configuration_recorders_status()
                .iter()
                .any(|s| s.recording())
        }
        "guardduty" => {
            let gd = aws_sdk_guardduty::Client::new(cfg);
            let ids = gd.list_detectors().send().await.unwrap();
            match ids.detector_ids().first() {
                None => false,
                Some(id) => {
                    gd.get_detector()
                        .detector_id(id)
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .map(|s| s.as_str())
                        == Some("ENABLED")
                }
            }
        }
        "access-key" => aws_sdk_iam::Client::new(cfg)
            .list_access_keys()
            .user_name(name)
            .send()
            .await
            .unwrap()
            .access_key_metadata()
            .iter()
            .all(|k| k.status() == Some(&aws_sdk_iam::types::StatusType::Inactive)),
        "contain-role" => aws_sdk_iam::Client::new(cfg)
            .get_role_policy()
            .role_name(name)
            .policy_name("rectify-containment")
            .send()
            .await
            .is_ok(),
        "isolate" => {
            let out = ec2
                .describe_instances()
                .instance_ids(name)
                .send()
                .await
                .unwrap();
            out.reservations()[0].instances()[0]
                .network_interfaces()
                .iter()
                .all(|n| {
                    n.groups().len() == 1
                        && n.groups()[0].group_name() == Some("rectify-quarantine")
                })
        }
        "s3-deny" => bucket_policy().await.contains("RectifyDenyPrincipal"),
        "ssm-sharing" => {
            let out = aws_sdk_ssm::Client::new(cfg)
                .get_service_setting()
                .setting_id(PUBLIC_SHARING)
                .send()
                .await
                .unwrap();
            out.service_setting().and_then(|s| s.setting_value()) == Some("Disable")
        }
        other => panic!("no read-back for rule {other}"),
    }
}

/// An S3 Control client that sends to the emulator as it is (the SDK would
/// put the account id in front of the host).
fn s3control(cfg: &SdkConfig) -> aws_sdk_s3control::Client {
    use aws_sdk_s3control::config::endpoint::{Endpoint, EndpointFuture, Params, ResolveEndpoint};
    #[derive(Debug)]
    struct AsGiven(String);
    impl ResolveEndpoint for AsGiven {
        fn resolve_endpoint<'a>(&'a self, _: &'a Params) -> EndpointFuture<'a> {
            EndpointFuture::ready(Ok(Endpoint::builder().url(self.0.clone()).build()))
        }
    }
    aws_sdk_s3control::Client::from_conf(
        aws_sdk_s3control::config::Builder::from(cfg)
            .endpoint_resolver(AsGiven(iam_env().url.clone()))
            .build(),
    )
}

impl Site {
    /// `rectify jobs approve ID` -> the job's outcome kind and reason.
    fn approve(&self, id: &str) -> (String, String) {
        let out = self.run(&["--output", "json", "jobs", "approve", id], None);
        let job: Value = serde_json::from_slice(&out.stdout).expect("approve prints the job");
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        (
            text(&job["outcome"]["kind"]),
            text(&job["outcome"]["reason"]),
        )
    }

    /// `rectify process` of one event per hole, approving what waits (an
    /// intent read, such as IMDSv1 still answering): each rule's final
    /// outcome, reason and job id.
    fn fix(&self, holes: &[CatalogHole]) -> Vec<(String, String, String, String)> {
        let events: Vec<Value> = holes.iter().map(hole_event).collect();
        self.process_ids(&events)
            .into_iter()
            .map(|(rule, kind, reason, id)| {
                if kind == "awaiting-approval" {
                    let (kind, reason) = self.approve(&id);
                    (rule, kind, reason, id)
                } else {
                    (rule, kind, reason, id)
                }
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_runs_under_exactly_the_generated_policy() {
    let cfg = admin().await;
    let fx = CatalogFixtures::make(&cfg).await;
    let member = Member::set_up(&cfg, &fx.rules(), "").await;
    let site = &member.site;

    // Every fix under the printed policy: changed, and read back fixed.
    let mut holes = Vec::new();
    for (rule, _) in CATALOG_WRITES {
        holes.push(catalog_hole(&cfg, &fx, rule).await);
    }
    let jobs = site.fix(&holes);
    assert_eq!(jobs.len(), holes.len(), "{jobs:#?}");
    for (rule, kind, reason, _) in &jobs {
        assert_eq!(kind, "changed", "{rule}: {reason}");
    }
    for hole in &holes {
        assert!(
            catalog_fixed(&cfg, &fx, hole).await,
            "{} not fixed",
            hole.rule
        );
    }

    // Every undo under the same policy: the holes are open again. Made
    // anew below instead: ECR's (its undo sends scanOnPush false, which the
    // SDK leaves out of the request, the model's default, and moto keeps
    // the old value) and the trail's (these plain events name the account
    // without a partition, so the trail ARN the change recorded has none
    // and its undo is refused as changed since; findings carry it).
    const NOT_UNDONE: [&str; 2] = ["ecr", "multi-trail"];
    for (rule, _, _, id) in jobs
        .iter()
        .filter(|(rule, ..)| !NOT_UNDONE.contains(&rule.as_str()))
    {
        let out = site.run(&["jobs", "revert", id, "--approve"], None);
        let said = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "revert of {rule}: {said}");
        assert!(!said.contains("access denied"), "revert of {rule}: {said}");
    }
    for hole in holes.iter_mut() {
        if NOT_UNDONE.contains(&hole.rule) {
            *hole = catalog_hole(&cfg, &fx, hole.rule).await;
        }
        assert!(
            !catalog_fixed(&cfg, &fx, hole).await,
            "{} still fixed after the undo",
            hole.rule
        );
    }

    // Least privilege: without the write of its fix, each job fails at
    // once with a short reason that names the permission, and the
    // resource is left as it was.
    for (hole, (rule, permission)) in holes.iter().zip(CATALOG_WRITES) {
        put_member_policy(&cfg, &member.role, &without(&member.policy, permission)).await;
        let jobs = site.fix(std::slice::from_ref(hole));
        let (_, kind, reason, _) = &jobs[0];
        assert_eq!(kind, "failed", "{rule} without {permission}: {reason}");
        assert!(
            reason.starts_with(&format!("access denied: {permission}")),
            "{rule} without {permission}: {reason}"
        );
        assert!(reason.len() < 300, "{reason}");
        assert!(
            !catalog_fixed(&cfg, &fx, hole).await,
            "{rule} changed without {permission}"
        );
    }
    put_member_policy(&cfg, &member.role, &member.policy).await;

    cloudwatch_alarms_under_the_generated_policy(&cfg, &fx, &member).await;
}

/// CloudWatch.1 (aws.cloudwatch.metric-filter-alarm) under the printed
/// policy: a multi-Region trail delivering to a log group (made by the
/// admin), the fix adds the root usage filter and its alarm (read back),
/// the undo deletes both; without `logs:PutMetricFilter` (its first write)
/// the job fails naming it and nothing is made; without
/// `cloudwatch:PutMetricAlarm` it fails naming that and no alarm is made.
async fn cloudwatch_alarms_under_the_generated_policy(
    cfg: &SdkConfig,
    fx: &CatalogFixtures,
    member: &Member,
) {
    let site = &member.site;
    let (trail, group) = trail_to_logs(cfg, fx).await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(cfg);
    let cw = aws_sdk_cloudwatch::Client::new(cfg);
    let filters = || async {
        logs.describe_metric_filters()
            .log_group_name(&group)
            .send()
            .await
            .unwrap()
            .metric_filters()
            .iter()
            .filter_map(|f| f.filter_name().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let alarm_topics = || async {
        cw.describe_alarms()
            .alarm_names("rectify-cis-root-usage")
            .send()
            .await
            .unwrap()
            .metric_alarms()
            .first()
            .map(|a| a.alarm_actions().to_vec())
    };

    let jobs = site.process_ids(&[cloudwatch_event()]);
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    let (_, kind, reason, id) = &jobs[0];
    assert_eq!(kind, "changed", "cloudwatch: {reason}");
    assert_eq!(filters().await, ["rectify-cis-root-usage"]);
    assert_eq!(alarm_topics().await, Some(vec![fx.alarm_topic.clone()]));

    let out = site.run(&["jobs", "revert", id, "--approve"], None);
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "revert of cloudwatch: {said}");
    assert!(filters().await.is_empty());
    assert_eq!(alarm_topics().await, None);

    put_member_policy(
        cfg,
        &member.role,
        &without(&member.policy, "logs:PutMetricFilter"),
    )
    .await;
    let jobs = site.process(&[cloudwatch_event()]);
    let (_, kind, reason) = &jobs[0];
    assert_eq!(
        kind, "failed",
        "cloudwatch without logs:PutMetricFilter: {reason}"
    );
    assert!(
        reason.starts_with("access denied: logs:PutMetricFilter"),
        "{reason}"
    );
    assert!(reason.len() < 300, "{reason}");
    assert!(filters().await.is_empty());
    assert_eq!(alarm_topics().await, None);

    // The alarm is the second write: the filter made before it stays (a
    // later fix uses it), the alarm is not made.
    put_member_policy(
        cfg,
        &member.role,
        &without(&member.policy, "cloudwatch:PutMetricAlarm"),
    )
    .await;
    let jobs = site.process(&[cloudwatch_event()]);
    let (_, kind, reason) = &jobs[0];
    assert_eq!(
        kind, "failed",
        "cloudwatch without cloudwatch:PutMetricAlarm: {reason}"
    );
    assert!(
        reason.starts_with("access denied: cloudwatch:PutMetricAlarm"),
        "{reason}"
    );
    assert_eq!(alarm_topics().await, None);
    assert_eq!(filters().await, ["rectify-cis-root-usage"]);
    put_member_policy(cfg, &member.role, &member.policy).await;

    // The trail goes: the next run's `multi-trail` hole expects none.
    aws_sdk_cloudtrail::Client::new(cfg)
        .delete_trail()
        .name(&trail)
        .send()
        .await
        .unwrap();
}

/// A multi-Region trail, logging read and write management events,
/// delivering to a new log group: the trail's and the group's names.
async fn trail_to_logs(cfg: &SdkConfig, fx: &CatalogFixtures) -> (String, String) {
    let group = format!("rectify-iam-cis-{}", unique());
    aws_sdk_cloudwatchlogs::Client::new(cfg)
        .create_log_group()
        .log_group_name(&group)
        .send()
        .await
        .unwrap();
    let name = format!("cis-trail-{}", unique());
    let ct = aws_sdk_cloudtrail::Client::new(cfg);
    ct.create_trail()
        .name(&name)
        .s3_bucket_name(&fx.log_bucket)
        .is_multi_region_trail(true)
        .cloud_watch_logs_log_group_arn(format!(
            "arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*"
        ))
        .cloud_watch_logs_role_arn(format!("arn:aws:iam::{ACCOUNT}:role/trail-to-logs"))
        .send()
        .await
        .unwrap();
    ct.start_logging().name(&name).send().await.unwrap();
    ct.put_event_selectors()
        .trail_name(&name)
        .event_selectors(
            aws_sdk_cloudtrail::types::EventSelector::builder()
                .read_write_type(aws_sdk_cloudtrail::types::ReadWriteType::All)
                .include_management_events(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    (name, group)
}

/// A Security Hub finding of CloudWatch.1 about the account, under the
/// `cloudwatch` rule's detail-type (the control picks the filter).
fn cloudwatch_event() -> Value {
    let mut e = event("cloudwatch", ACCOUNT_RESOURCE);
    e["detail"] = json!({"findings": [{
        "SchemaVersion": "2018-10-08",
        "Id": format!("arn:aws:securityhub:{REGION}:{ACCOUNT}:security-control/CloudWatch.1/finding/{}", unique()),
        "ProductArn": format!("arn:aws:securityhub:{REGION}::product/aws/securityhub"),
        "GeneratorId": "security-control/CloudWatch.1", "AwsAccountId": ACCOUNT, "Region": REGION,
        "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
        "Compliance": {"Status": "FAILED", "SecurityControlId": "CloudWatch.1"},
        "Resources": [{"Type": "AwsAccount", "Id": ACCOUNT_RESOURCE, "Partition": "aws", "Region": REGION}]}]});
    e
}
