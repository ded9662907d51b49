//! `rectify deploy render --target cloudformation`: every template passes
//! cfn-lint (pinned by scripts/venv), renders the same bytes twice, and is
//! deployed into the emulator's CloudFormation (moto), which creates the
//! resources of the types it knows; tests/deploy/cloudformation.py deploys
//! and reads them back through each service's API.
//!
//! moto's CloudFormation does not create these types of the hub template
//! (it skips them): AWS::Events::EventBusPolicy, AWS::SQS::QueuePolicy,
//! AWS::CloudWatch::Alarm and AWS::SecurityHub::ActionTarget (asserted, so
//! that they are read back once moto creates them), nor
//! AWS::SecretsManager::Secret; nor does it attach a role's
//! ManagedPolicyArns. Those are checked by cfn-lint and by what the
//! template says. The hub's `ecs-fargate` choice is deployed here with the
//! default `lambda` choice only, so it is checked by cfn-lint alone.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use support::{env, new_account, repo_root, REGION};

/// Sorted. (AWS::SecretsManager::Secret, of the ECS choice, is not
/// created either.)
const NOT_CREATED_BY_MOTO: [&str; 4] = [
    "AWS::CloudWatch::Alarm",
    "AWS::Events::EventBusPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SecurityHub::ActionTarget",
];

/// A config for `account`: the built-in pack, or `rules` (a `rules:`
/// section) instead.
fn write_config(dir: &Path, account: &str, hub: &str, rules: Option<&str>) -> PathBuf {
    let rules = rules.unwrap_or("packs: [aws-foundational]\n");
    let config = format!(
        "store: sqlite://{db}\naws:\n  region: {REGION}\n\
         accounts:\n  - id: \"{account}\"\n    role_arn: arn:aws:iam::{account}:role/rectify-remediation\n    external_id: ext-walkthrough\n\
         notifications:\n  security-team:\n    sns: arn:aws:sns:{REGION}:{hub}:rectify-security-team\n\
         default_notify: [security-team]\n{rules}",
        db = dir.join("rectify.db").display(),
    );
    let path = dir.join("rectify.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

fn rectify(config: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RECTIFY_LOG")
        .output()
        .expect("run rectify");
    eprintln!(
        "$ rectify {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Renders into `out` and returns the two templates' paths.
fn render(config: &Path, out: &Path) -> (PathBuf, PathBuf) {
    let result = rectify(
        config,
        &[
            "deploy",
            "render",
            "--target",
            "cloudformation",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(result.status.success(), "deploy render failed");
    let member = out.join("rectify-member.json");
    let hub = out.join("rectify-hub.json");
    let listed = String::from_utf8_lossy(&result.stdout).to_string();
    assert!(listed.contains("rectify-member.json") && listed.contains("rectify-hub.json"));
    (member, hub)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn venv_bin(name: &str) -> PathBuf {
    let root = repo_root();
    let status = Command::new(root.join("scripts/venv"))
        .status()
        .expect("scripts/venv");
    assert!(status.success(), "scripts/venv failed");
    let venv = std::env::var("RECTIFY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join(".venv"));
    let venv = if venv.is_absolute() {
        venv
    } else {
        root.join(venv)
    };
    venv.join("bin").join(name)
}

/// Deploys `template` as stack `stack` in `account` and returns what
/// tests/deploy/cloudformation.py read back.
fn deploy(account: &str, stack: &str, template: &Path, params: &[String]) -> Value {
    let out = Command::new(venv_bin("python"))
        .arg(repo_root().join("tests/deploy/cloudformation.py"))
        .args([&env().moto, account, REGION, stack])
        .arg(template)
        .args(params)
        .output()
        .expect("run tests/deploy/cloudformation.py");
    assert!(
        out.status.success(),
        "deploying {} failed:\n{}",
        template.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["status"], "CREATE_COMPLETE", "{created:#}");
    created
}

/// The types of the template's resources without a condition that the
/// stack does not hold, sorted: those moto does not create.
fn not_created_unconditionally(created: &Value) -> Vec<String> {
    let mut types: Vec<String> = created["not_created"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["condition"].is_null())
        .map(|r| r["type"].as_str().unwrap().to_string())
        .collect();
    types.sort();
    types.dedup();
    types
}

#[test]
fn every_template_passes_cfn_lint_and_renders_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "111122223333", "999988887777", None);
    let (member, hub) = render(&config, &dir.path().join("a"));
    let (member_again, hub_again) = render(&config, &dir.path().join("b"));
    assert_eq!(
        std::fs::read(&member).unwrap(),
        std::fs::read(&member_again).unwrap()
    );
    assert_eq!(
        std::fs::read(&hub).unwrap(),
        std::fs::read(&hub_again).unwrap()
    );
    for template in [&member, &hub] {
        let out = Command::new(venv_bin("cfn-lint"))
            .arg("--regions")
            .arg(REGION)
            .arg("--")
            .arg(template)
            .output()
            .expect("run cfn-lint");
        // cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8
        // informational. Errors fail; warnings (the empty defaults of the
        // parameters only one Runtime uses) are shown.
        let code = out.status.code().expect("cfn-lint exited");
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
        assert!(
            code & !(4 | 8) == 0,
            "cfn-lint on {}:\n{}{}",
            template.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // What moto cannot show: the bus is open to the organization only.
    let hub = read_json(&hub);
    let statement = &hub["Resources"]["EventBusPolicy"]["Properties"]["Statement"];
    assert_eq!(statement["Action"], "events:PutEvents");
    assert_eq!(
        statement["Condition"],
        json!({"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}})
    );
}

#[test]
fn the_member_stack_makes_the_role_iam_policy_prints_and_forwards_to_the_hub() {
    let member_account = new_account();
    let hub_account = new_account();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &member_account, &hub_account, None);
    let (member, _) = render(&config, &dir.path().join("cfn"));
    let created = deploy(
        &member_account,
        "rectify-member",
        &member,
        &[format!("HubAccountId={hub_account}")],
    );

    assert_eq!(created["not_created"], json!([]));
    let role = &created["roles"]["RemediationRole"];
    assert_eq!(role["name"], "rectify-remediation");
    assert_eq!(
        role["trust"]["Statement"],
        json!([{
            "Sid": "RectifyAssumesThisRole",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{hub_account}:role/rectify-hub")},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "ext-walkthrough"}},
        }])
    );
    let printed = rectify(&config, &["iam-policy", "--account", &member_account]);
    assert!(printed.status.success());
    let printed: Value = serde_json::from_slice(&printed.stdout).unwrap();
    // One inline policy, or (past IAM's inline limit) managed policies
    // rectify-remediation-1, -2, ... whose statements, in order, are the
    // printed ones.
    let granted = match role["inline"].get("rectify-remediation") {
        Some(inline) => inline.clone(),
        None => {
            let statements: Vec<Value> = role["managed"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| {
                    m["name"]
                        .as_str()
                        .unwrap()
                        .starts_with("rectify-remediation-")
                })
                .flat_map(|m| m["document"]["Statement"].as_array().unwrap().clone())
                .collect();
            json!({"Version": "2012-10-17", "Statement": statements})
        }
    };
    assert_eq!(granted, printed);

    let hub_bus = format!("arn:aws:events:{REGION}:{hub_account}:event-bus/rectify");
    let forward_role = created["roles"]["ForwardRole"]["arn"].as_str().unwrap();
    let forward_policy = &created["roles"]["ForwardRole"]["inline"]["put-events-on-the-hub-bus"];
    assert_eq!(forward_policy["Statement"][0]["Action"], "events:PutEvents");
    assert_eq!(forward_policy["Statement"][0]["Resource"], hub_bus);
    assert_eq!(
        created["roles"]["ForwardRole"]["trust"]["Statement"][0]["Principal"],
        json!({"Service": "events.amazonaws.com"})
    );

    let findings = &created["rules"]["ForwardFindings"];
    assert_eq!(findings["bus"], "default");
    assert_eq!(findings["state"], "ENABLED");
    assert_eq!(
        findings["pattern"]["detail-type"],
        json!([
            "Config Rules Compliance Change",
            "Findings Imported V2",
            "GuardDuty Finding",
            "Security Hub Findings - Custom Action",
            "Security Hub Findings - Imported",
        ])
    );
    assert_eq!(findings["targets"][0]["Arn"], hub_bus);
    assert_eq!(findings["targets"][0]["RoleArn"], forward_role);

    // The pack's CloudTrail rules: S3 policy deletion among them.
    let s3 = &created["rules"]["ForwardApiCallsS3"];
    assert_eq!(s3["pattern"]["source"], json!(["aws.s3"]));
    assert_eq!(
        s3["pattern"]["detail-type"],
        json!(["AWS API Call via CloudTrail"])
    );
    let names = s3["pattern"]["detail"]["eventName"].as_array().unwrap();
    assert!(names.contains(&json!("DeleteBucketPolicy")), "{names:?}");
    assert!(
        names.contains(&json!("DeleteBucketEncryption")),
        "{names:?}"
    );
    assert_eq!(s3["targets"][0]["Arn"], hub_bus);
    assert_eq!(
        created["rules"].as_object().unwrap().len(),
        created["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["type"] == "AWS::Events::Rule")
            .count()
    );
}

/// The hub with rectify as a Lambda function: the zip it names is put in
/// a bucket of the hub account first.
#[test]
fn the_hub_stack_makes_the_bus_queue_function_and_role() {
    let member_account = new_account();
    let hub_account = new_account();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &member_account, &hub_account, None);
    let (_, hub) = render(&config, &dir.path().join("cfn"));
    let bucket = format!("rectify-artifacts-{hub_account}");
    let created = deploy(
        &hub_account,
        "rectify-hub",
        &hub,
        &[
            "OrganizationId=o-abcdef1234".to_string(),
            format!("CodeS3Bucket={bucket}"),
            "CodeS3Key=rectify/function.zip".to_string(),
        ],
    );
    assert_eq!(not_created_unconditionally(&created), NOT_CREATED_BY_MOTO);

    assert_eq!(created["buses"]["EventBus"][0]["name"], "rectify");
    let queue = &created["queues"]["EventQueue"]["attributes"];
    let dlq = &created["queues"]["DeadLetterQueue"]["attributes"];
    let redrive: Value = serde_json::from_str(queue["RedrivePolicy"].as_str().unwrap()).unwrap();
    assert_eq!(redrive["deadLetterTargetArn"], dlq["QueueArn"]);
    assert_eq!(
        redrive["maxReceiveCount"]
            .as_u64()
            .or_else(|| redrive["maxReceiveCount"]
                .as_str()
                .and_then(|s| s.parse().ok())),
        Some(5)
    );
    assert_eq!(queue["VisibilityTimeout"], "1800");

    let to_queue = &created["rules"]["ForwardToQueue"];
    assert_eq!(to_queue["bus"], "rectify");
    assert_eq!(to_queue["targets"][0]["Arn"], queue["QueueArn"]);
    let sources = to_queue["pattern"]["source"].as_array().unwrap();
    for source in [
        "aws.securityhub",
        "aws.guardduty",
        "aws.config",
        "aws.s3",
        "aws.ec2",
    ] {
        assert!(
            sources.contains(&json!(source)),
            "{source} not taken from the bus: {sources:?}"
        );
    }
    let custom = &created["rules"]["CustomActionToQueue"];
    assert_eq!(custom["bus"], "default");
    assert_eq!(
        custom["pattern"]["resources"],
        json!([format!(
            "arn:aws:securityhub:{REGION}:{hub_account}:action/custom/rectify"
        )])
    );
    assert_eq!(custom["targets"][0]["Arn"], queue["QueueArn"]);

    let role = &created["roles"]["HubRole"];
    assert_eq!(role["name"], "rectify-hub");
    assert_eq!(
        role["trust"]["Statement"][0]["Principal"],
        json!({"Service": "lambda.amazonaws.com"})
    );
    // moto attaches no managed policy from a template: what the template
    // asks for is checked instead (logs only, no VPC without SubnetIds).
    assert_eq!(
        read_json(&hub)["Resources"]["HubRole"]["Properties"]["ManagedPolicyArns"]["Fn::If"][2]
            ["Fn::If"][1],
        json!([{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}])
    );
    let statements = role["inline"]["rectify"]["Statement"].as_array().unwrap();
    let by_sid = |sid: &str| {
        statements
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no {sid} in {statements:?}"))
    };
    assert_eq!(
        by_sid("AssumeTheMemberRoles")["Resource"],
        json!(["arn:aws:iam::*:role/rectify-remediation"])
    );
    assert_eq!(
        by_sid("ReadTheSourceQueues")["Resource"],
        json!([queue["QueueArn"]])
    );
    let topic = created["topics"]["NotificationTopicSecurityTeam"]["TopicArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        topic,
        format!("arn:aws:sns:{REGION}:{hub_account}:rectify-security-team")
    );
    assert_eq!(by_sid("PublishToTheChannels")["Resource"], json!([topic]));
    assert!(created["topics"]["AlarmTopic"]["TopicArn"]
        .as_str()
        .unwrap()
        .ends_with(":rectify-alarms"));

    let function = &created["functions"]["Function"];
    assert_eq!(function["Runtime"], "provided.al2023");
    assert_eq!(function["Handler"], "bootstrap");
    assert_eq!(function["Role"], role["arn"]);
    assert_eq!(
        function["Environment"]["Variables"]["RECTIFY_CONFIG"],
        "/var/task/rectify.yaml"
    );
    let mapping = &created["mappings"]["FunctionQueueMapping"];
    assert_eq!(mapping["EventSourceArn"], queue["QueueArn"]);
    assert_eq!(mapping["FunctionArn"], function["FunctionArn"]);
    // Nothing of the ECS choice was made.
    assert!(created["clusters"].as_object().unwrap().is_empty());
    assert!(created["databases"].as_object().unwrap().is_empty());
}

#[test]
fn a_change_of_the_rules_changes_the_rendered_policy_and_forwarding() {
    let dir = tempfile::tempdir().unwrap();
    let rule = |id: &str, action: &str, source: &str, event_source: &str, event: &str| {
        format!(
            "rules:\n  - id: {id}\n    pattern:\n      source: [{source}]\n      detail-type: [AWS API Call via CloudTrail]\n      detail:\n        eventSource: [{event_source}]\n        eventName: [{event}]\n    action: {action}\n"
        )
    };
    let s3 = rule(
        "s3-bpa",
        "aws.s3.block-public-access",
        "aws.s3",
        "s3.amazonaws.com",
        "DeleteBucketPublicAccessBlock",
    );
    let ec2 = rule(
        "ec2-admin",
        "aws.ec2.revoke-public-admin-ingress",
        "aws.ec2",
        "ec2.amazonaws.com",
        "AuthorizeSecurityGroupIngress",
    );
    let config = write_config(dir.path(), "111122223333", "999988887777", Some(&s3));
    let (member_s3, _) = render(&config, &dir.path().join("s3"));
    let config = write_config(dir.path(), "111122223333", "999988887777", Some(&ec2));
    let (member_ec2, _) = render(&config, &dir.path().join("ec2"));
    let (member_s3, member_ec2) = (read_json(&member_s3), read_json(&member_ec2));
    let actions = |template: &Value| -> Vec<String> {
        template["Resources"]["RemediationRole"]["Properties"]["Policies"][0]["PolicyDocument"]
            ["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| match &s["Action"] {
                Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
                v => vec![v.as_str().unwrap().to_string()],
            })
            .collect()
    };
    let (with_s3, with_ec2) = (actions(&member_s3), actions(&member_ec2));
    assert!(
        with_s3.iter().any(|a| a == "s3:PutBucketPublicAccessBlock"),
        "{with_s3:?}"
    );
    assert!(
        !with_s3.iter().any(|a| a.starts_with("ec2:")),
        "{with_s3:?}"
    );
    assert!(
        with_ec2
            .iter()
            .any(|a| a == "ec2:RevokeSecurityGroupIngress"),
        "{with_ec2:?}"
    );
    assert!(
        !with_ec2.iter().any(|a| a.starts_with("s3:")),
        "{with_ec2:?}"
    );
    let rules = |template: &Value| -> Vec<String> {
        template["Resources"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with("ForwardApiCalls"))
            .cloned()
            .collect()
    };
    assert_eq!(rules(&member_s3), ["ForwardApiCallsS3"]);
    assert_eq!(rules(&member_ec2), ["ForwardApiCallsEc2"]);
    assert_eq!(
        member_ec2["Resources"]["ForwardApiCallsEc2"]["Properties"]["EventPattern"]["detail"],
        json!({"eventSource": ["ec2.amazonaws.com"], "eventName": ["AuthorizeSecurityGroupIngress"]})
    );
}

/// docs/deploy.md, run as written: every ```sh block but those that begin
/// with `# real AWS only:`, in order, in one shell, with the AWS CLI
/// (pinned by scripts/venv) pointed at the emulator. The organization (a
/// fresh management account, which is also the hub, and one member
/// account) is made first, as AWS would have it; the function's
/// `bootstrap` is a stand-in file (the emulator runs no function).
#[tokio::test]
async fn docs_deploy_md_runs_against_the_emulator() {
    let doc = std::fs::read_to_string(repo_root().join("docs/deploy.md")).unwrap();
    let mut script = String::new();
    let mut block: Option<String> = None;
    for line in doc.lines() {
        match (&mut block, line.trim_start()) {
            (None, "```sh") => block = Some(String::new()),
            (Some(text), "```") => {
                if !text.starts_with("# real AWS only:") {
                    script.push_str(text);
                }
                block = None;
            }
            (Some(text), _) => {
                text.push_str(line);
                text.push('\n');
            }
            _ => {}
        }
    }
    assert!(script.contains("rectify deploy render"), "{script}");

    let management = new_account();
    let dir = tempfile::tempdir().unwrap();
    let aws = venv_bin("aws");
    let bin = Path::new(env!("CARGO_BIN_EXE_rectify"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}:{}",
        bin.display(),
        aws.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |script: &str| {
        let out = Command::new("bash")
            .arg("-euo")
            .arg("pipefail")
            .arg("-c")
            .arg(script)
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("AWS_ENDPOINT_URL", &env().moto)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("MANAGEMENT", &management)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("RECTIFY_CONFIG")
            .output()
            .expect("run bash");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        eprintln!("{script}\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "the walkthrough failed");
        stdout
    };
    // The management account's credentials: the emulator maps assumed-role
    // credentials to the role's account.
    let login_as = |account: &str| {
        format!(
            r#"
creds=$(aws sts assume-role --role-arn "arn:aws:iam::{account}:role/admin" --role-session-name walkthrough --query Credentials --output json)
export AWS_ACCESS_KEY_ID=$(python -c 'import json,sys; print(json.load(sys.stdin)["AccessKeyId"])' <<<"$creds")
export AWS_SECRET_ACCESS_KEY=$(python -c 'import json,sys; print(json.load(sys.stdin)["SecretAccessKey"])' <<<"$creds")
export AWS_SESSION_TOKEN=$(python -c 'import json,sys; print(json.load(sys.stdin)["SessionToken"])' <<<"$creds")
"#
        )
    };
    let login = login_as(&management);
    let member = run(&format!(
        "{login}aws organizations create-organization --feature-set ALL >/dev/null
aws organizations create-account --email member@example.com --account-name member \
  --query CreateAccountStatus.AccountId --output text"
    ));
    let member = member.trim().to_string();
    assert_eq!(member.len(), 12, "{member}");
    write_config(dir.path(), &member, &management, None);
    std::fs::write(
        dir.path().join("bootstrap"),
        "stand-in: the emulator runs no function\n",
    )
    .unwrap();

    let outputs = run(&format!(
        "{login}{script}\naws cloudformation describe-stacks --stack-name rectify-hub --query 'Stacks[0].StackStatus' --output text"
    ));
    assert!(outputs.trim_end().ends_with("CREATE_COMPLETE"), "{outputs}");
    assert!(
        outputs.contains(&member),
        "the stack instance's account is not listed: {outputs}"
    );

    // The StackSet made the role in the member account, trusting the hub.
    let iam = aws_sdk_iam::Client::new(&support::account_config(&member).await);
    let role = iam
        .get_role()
        .role_name("rectify-remediation")
        .send()
        .await
        .unwrap();
    let trust = role.role().unwrap().assume_role_policy_document().unwrap();
    let trust = policy_document(trust);
    assert_eq!(
        trust["Statement"][0]["Principal"]["AWS"],
        format!("arn:aws:iam::{management}:role/rectify-hub")
    );
    // The hub's role and queue, in the hub (here the management) account.
    let hub_iam = aws_sdk_iam::Client::new(&support::account_config(&management).await);
    hub_iam
        .get_role()
        .role_name("rectify-hub")
        .send()
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&support::account_config(&management).await);
    let url = sqs
        .get_queue_url()
        .queue_name("rectify-events")
        .send()
        .await
        .unwrap();
    let url = url.queue_url().unwrap().to_string();
    assert!(url.ends_with("/rectify-events"));

    // The wiring: a Security Hub finding on the member's default bus goes
    // through the member's rule to the hub's bus, and through the hub's
    // rule to the queue, where the function would take it (moto runs no
    // function).
    let bucket = format!("walkthrough-{member}");
    let finding = support::s3_finding(&member, &bucket);
    let detail = json!({"findings": [finding]}).to_string();
    let entries = json!([{
        "Source": "aws.securityhub",
        "DetailType": "Security Hub Findings - Imported",
        "Detail": detail,
    }]);
    std::fs::write(dir.path().join("entries.json"), entries.to_string()).unwrap();
    run(&format!(
        "{}aws events put-events --entries file://entries.json",
        login_as(&member)
    ));
    let received = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<Value> = received
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["detail-type"], "Security Hub Findings - Imported");
    assert_eq!(
        bodies[0]["detail"]["findings"][0]["AwsAccountId"],
        member.as_str()
    );
}

/// A policy document as IAM hands it back: URL-encoded by AWS, plain by
/// the emulator.
fn policy_document(text: &str) -> Value {
    if let Ok(v) = serde_json::from_str(text) {
        return v;
    }
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| u8::from_str_radix(&text[i + 1..i + 3], 16).ok())
            .flatten();
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    serde_json::from_slice(&out).unwrap()
}

/// With accounts only from AWS Organizations, the templates take the
/// organization's role and external id, and `iam-policy` answers for any
/// of its accounts without reading the organization: the member policy the
/// StackSet deploys, an account's policy by id, the trust policy, and rectify's own
/// policy with the calls that read the organization.
#[test]
fn an_organization_config_renders_and_its_policies_print_without_listing_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rectify.yaml");
    std::fs::write(
        &config,
        format!(
            "store: sqlite://{db}\naws:\n  region: {REGION}\n\
             accounts:\n  from_organizations:\n    role_arn: arn:aws:iam::{{account}}:role/org-remediation\n    external_id: org-ext-1\n    \
             accounts: {{exclude: [\"444455556666\"]}}\n    regions: [{REGION}]\n\
             packs: [aws-foundational]\n",
            db = dir.path().join("rectify.db").display(),
        ),
    )
    .unwrap();
    let (member, _) = render(&config, &dir.path().join("cfn"));
    let member = read_json(&member);
    assert_eq!(
        member["Parameters"]["RoleName"]["Default"],
        "org-remediation"
    );
    assert_eq!(member["Parameters"]["ExternalId"]["Default"], "org-ext-1");

    // The policy for any account of the organization is the one rendered
    // (with the account left to CloudFormation), in the organization's regions.
    let any = rectify(&config, &["iam-policy"]);
    assert!(any.status.success());
    let any = String::from_utf8(any.stdout).unwrap();
    assert!(any.contains(&format!("\"{REGION}\"")), "{any}");
    let one = rectify(&config, &["iam-policy", "--account", "111122223333"]);
    assert!(one.status.success());
    let one = String::from_utf8(one.stdout).unwrap();
    assert!(one.contains(":111122223333:"), "{one}");

    let excluded = rectify(&config, &["iam-policy", "--account", "444455556666"]);
    assert_eq!(excluded.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&excluded.stderr).contains("left out"));
    let not_an_id = rectify(&config, &["iam-policy", "--account", "12345"]);
    assert_eq!(not_an_id.status.code(), Some(2));

    let trust = rectify(
        &config,
        &[
            "iam-policy",
            "--trust",
            "--principal",
            "arn:aws:iam::999988887777:role/rectify-hub",
        ],
    );
    assert!(trust.status.success());
    let trust: Value = serde_json::from_slice(&trust.stdout).unwrap();
    assert_eq!(
        trust["Statement"][0]["Condition"],
        json!({"StringEquals": {"sts:ExternalId": "org-ext-1"}})
    );

    let own = rectify(&config, &["iam-policy", "--own"]);
    assert!(own.status.success());
    let own: Value = serde_json::from_slice(&own.stdout).unwrap();
    let statement = |sid: &str| {
        own["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .cloned()
            .unwrap_or_else(|| panic!("no statement {sid} in {own}"))
    };
    assert_eq!(
        statement("AssumeTheMemberRoles")["Resource"],
        json!(["arn:aws:iam::*:role/org-remediation"])
    );
    let read = statement("ReadTheOrganization")["Action"].clone();
    for call in [
        "organizations:ListRoots",
        "organizations:ListAccountsForParent",
        "organizations:ListOrganizationalUnitsForParent",
        "organizations:ListTagsForResource",
    ] {
        assert!(read.as_array().unwrap().contains(&json!(call)), "{read}");
    }
    assert_eq!(
        statement("ReadTheOwnersContact")["Action"],
        "account:GetAlternateContact"
    );
}
