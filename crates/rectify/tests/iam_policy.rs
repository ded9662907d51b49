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
        let event = |kind: &str, arn: String| {
            json!({
                "version": "0", "id": format!("ev-{}", unique()), "detail-type": kind,
                "source": "rectify.iam-test", "account": ACCOUNT, "time": "2026-12-05T10:00:00Z",
                "region": REGION, "resources": [arn], "detail": {}
            })
        };
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

#[tokio::test(flavor = "multi_thread")]
async fn every_action_runs_under_exactly_the_generated_policies() {
    let cfg = admin().await;
    let iam = aws_sdk_iam::Client::new(&cfg);
    let u = unique();

    // rectify's own identity: a user with a key; a topic it tells.
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
    let topic = aws_sdk_sns::Client::new(&cfg)
        .create_topic()
        .name(format!("rectify-{u}"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    // The channel's messages land in a queue the test reads.
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let queue = sqs
        .create_queue()
        .queue_name(format!("rectify-inbox-{u}"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    aws_sdk_sns::Client::new(&cfg)
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:rectify-inbox-{u}"))
        .send()
        .await
        .unwrap();
    let role = format!("rectify-member-{u}");
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/{role}");
    // EBS default encryption with a customer managed key of the account.
    let ebs_key = aws_sdk_kms::Client::new(&cfg)
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rectify.yaml"),
        format!(
            "store: sqlite://{db}\ndefault_mode: auto\naws:\n  region: {REGION}\n\
             accounts:\n  - id: \"{ACCOUNT}\"\n    role_arn: {role_arn}\n    external_id: ext-{u}\n    regions: [{REGION}]\n\
             notifications:\n  team:\n    sns: {topic}\ndefault_notify: [team]\n\
             guardrails:\n  max_percent_of_type_per_hour: 100\n  max_changes_per_account_per_hour: 1000\n{RULES}\
             overrides:\n  ebs:\n    params: {{kms_key_id: \"{ebs_key}\"}}\n",
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
    let member = site.policy(&["--account", ACCOUNT]);
    let principal = format!("arn:aws:iam::{ACCOUNT}:user/{user}");
    let trust = site.policy(&["--trust", "--account", ACCOUNT, "--principal", &principal]);
    let own = site.policy(&["--own"]);
    iam.create_role()
        .role_name(&role)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    put_member_policy(&cfg, &role, &member).await;
    iam.put_user_policy()
        .user_name(&user)
        .policy_name("rectify")
        .policy_document(own.to_string())
        .send()
        .await
        .unwrap();

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
