//! The CLI as a black box: exit codes, messages, fixtures, the pattern
//! engine, the catalog. No AWS needed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Runs rectify in `dir` with no config in the environment.
fn rectify(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .current_dir(dir)
        .env_remove("RECTIFY_CONFIG")
        .env_remove("RECTIFY_LOG")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn validate_reports_every_error_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rectify.yaml"),
        "store: sqlite://x.db\nstroe: oops\nrules:\n  - id: a\n    pattern: {source: [x]}\n    action: aws.s3.block-public-acces\n  - id: b\n    pattern: {source: \"not-a-list\"}\n    action: local.noop\n  - id: c\n    pattern: {source: [x]}\n    action: local.noop\n    mode: fast\n",
    )
    .unwrap();
    let out = rectify(dir.path(), &["validate"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("rectify.yaml:2:1: stroe: unknown field `stroe`"),
        "{err}"
    );
    assert!(
        err.contains(
            "rectify.yaml:6:13: rules[0].action: unknown action `aws.s3.block-public-acces`"
        ),
        "{err}"
    );
    assert!(
        err.contains("rectify.yaml:13:11: rules[2].mode: unknown variant `fast`"),
        "{err}"
    );
    assert!(
        err.contains("rectify.yaml:8:23: rules[1].pattern.source: "),
        "{err}"
    );
    assert!(err.contains("4 errors in the configuration"), "{err}");

    let out = rectify(dir.path(), &["validate", "--output", "json"], None);
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"].as_array().unwrap().len(), 4);
    assert_eq!(report["errors"][0]["line"], 2);

    // A missing file named on the command line.
    let out = rectify(dir.path(), &["--config", "nope.yaml", "validate"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("nope.yaml"));
}

#[test]
fn validate_reports_a_broken_notification_template() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rectify.yaml"),
        "store: sqlite://x.db\nnotifications:\n  mail:\n    ses: {from: rectify@example.com, to: [a@example.com]}\n    template:\n      subject: '{{ control | shout }}'\n      body: '{% for %}'\n",
    )
    .unwrap();
    let out = rectify(dir.path(), &["validate"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("rectify.yaml:6:16: notifications.mail.template.subject: the template fails on a sample notification")
            && err.contains("unknown filter"),
        "{err}"
    );
    assert!(
        err.contains(
            "rectify.yaml:7:13: notifications.mail.template.body: the template does not compile"
        ),
        "{err}"
    );
    assert!(err.contains("2 errors in the configuration"), "{err}");
}

#[test]
fn validate_accepts_the_built_in_default_and_the_demo_config() {
    let dir = tempfile::tempdir().unwrap();
    let out = rectify(dir.path(), &["validate"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The built-in default is the aws-foundational pack, every rule of every
    // file of its folder (a file left out of context.rs fails here).
    let pack = built_in_pack_text();
    let rules = pack.lines().filter(|l| l.starts_with("- id: ")).count();
    assert!(rules >= 44, "{rules}");
    assert!(
        text(&out.stdout).contains(&format!("<built-in default>: valid: {rules} rules")),
        "{}",
        text(&out.stdout)
    );
    let demo = repo().join("examples/demo/rectify.yaml");
    let out = rectify(
        dir.path(),
        &["--config", demo.to_str().unwrap(), "validate"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn rule_fixtures_pass_and_a_mismatch_shows_a_diff() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = repo().join("examples/fixtures");
    let out = rectify(dir.path(), &["test", fixtures.to_str().unwrap()], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // Every fixture folder ran and passed (one per finding shape and source).
    let folders = std::fs::read_dir(&fixtures)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("event.json").exists())
        .count();
    assert!(folders >= 27, "{folders}");
    assert!(
        text(&out.stdout).contains(&format!("{folders} passed, 0 failed")),
        "{}",
        text(&out.stdout)
    );

    let broken = dir.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::copy(
        fixtures.join("s3-public-bucket/event.json"),
        broken.join("event.json"),
    )
    .unwrap();
    std::fs::write(
        broken.join("expected.yaml"),
        "rules: [ec2-revoke-public-admin-ingress]\njobs:\n  - rule: s3-bucket-block-public-access\n    state: pending\n",
    )
    .unwrap();
    let out = rectify(dir.path(), &["test", broken.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("FAIL"), "{stdout}");
    assert!(
        stdout.contains("- expected: [ec2-revoke-public-admin-ingress]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+ actual:   [s3-bucket-block-public-access]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("jobs[s3-bucket-block-public-access].state"),
        "{stdout}"
    );
    assert!(stdout.contains("0 passed, 1 failed"), "{stdout}");
}

#[test]
fn match_has_greps_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("s3.json");
    std::fs::write(
        &pattern,
        r#"{"detail": {"findings": {"Compliance": {"SecurityControlId": ["S3.8"]}}}}"#,
    )
    .unwrap();
    let event = repo().join("examples/fixtures/s3-public-bucket/event.json");
    let other = repo().join("examples/fixtures/guardduty-unmatched/event.json");

    let out = rectify(
        dir.path(),
        &[
            "match",
            "--pattern",
            pattern.to_str().unwrap(),
            event.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("event.json:1: s3"), "{stdout}");
    assert!(stdout.contains(":1: (none)"), "{stdout}");

    let out = rectify(
        dir.path(),
        &[
            "match",
            "--pattern",
            pattern.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));

    // JSON lines on standard input, rules from a rule file, JSON output.
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "- id: gd\n  pattern: {source: [aws.guardduty]}\n  action: local.noop\n- id: any-hub\n  pattern: {source: [{prefix: aws.security}]}\n  action: local.noop\n",
    )
    .unwrap();
    let lines = format!(
        "{}\n{}\n",
        serde_json::to_string(
            &serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&event).unwrap())
                .unwrap()
        )
        .unwrap(),
        serde_json::to_string(
            &serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&other).unwrap())
                .unwrap()
        )
        .unwrap()
    );
    let out = rectify(
        dir.path(),
        &[
            "match",
            "--rules",
            rules.to_str().unwrap(),
            "--output",
            "json",
        ],
        Some(&lines),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rows: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows[0]["matched"], serde_json::json!(["any-hub"]));
    assert_eq!(rows[1]["matched"], serde_json::json!(["gd"]));

    // An invalid pattern and an invalid event: exit 2 with the position.
    std::fs::write(&pattern, r#"{"source": "aws.s3"}"#).unwrap();
    let out = rectify(
        dir.path(),
        &[
            "match",
            "--pattern",
            pattern.to_str().unwrap(),
            event.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("s3.json"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(&pattern, r#"{"source": ["aws.s3"]}"#).unwrap();
    let out = rectify(
        dir.path(),
        &["match", "--pattern", pattern.to_str().unwrap()],
        Some("{\"source\": \"aws.s3\"}\n{\"source\": }\n"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("event 2: invalid JSON at byte 32"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn catalog_and_least_privilege_policy() {
    let dir = tempfile::tempdir().unwrap();
    let out = rectify(dir.path(), &["catalog", "--output", "json"], None);
    assert_eq!(out.status.code(), Some(0));
    let specs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = specs
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    for id in [
        "aws.s3.block-public-access",
        "aws.ec2.revoke-public-admin-ingress",
        "aws.iam.set-password-policy",
        "local.noop",
    ] {
        assert!(ids.contains(&id), "{ids:?}");
    }
    let out = rectify(dir.path(), &["iam-policy"], None);
    assert_eq!(out.status.code(), Some(0));
    let policy: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
        })
        .collect();
    assert!(
        actions.contains(&"s3:PutBucketPublicAccessBlock".to_string()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"iam:UpdateAccountPasswordPolicy".to_string()),
        "{actions:?}"
    );
    assert!(actions.iter().all(|a| !a.contains('*')), "{actions:?}");
}

/// `iam:PassRole` in the member policy is limited to the roles the
/// enabled rules hand to a service (`{account}` filled in), not every
/// role of the account.
#[test]
fn pass_role_is_limited_to_the_roles_the_rules_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rectify.yaml"),
        "store: sqlite://rectify.db\n\
         accounts:\n  - id: \"111122223333\"\n    role_arn: arn:aws:iam::111122223333:role/rectify\n    external_id: none\n\
         rules:\n\
         \x20 - id: trail-logs\n    pattern: {source: [x]}\n    action: aws.cloudtrail.enable-cloudwatch-logs\n\
         \x20   params: {log_group_arn: \"arn:aws:logs:us-east-1:111122223333:log-group:trails\", role_arn: \"arn:aws:iam::111122223333:role/trail-to-logs\"}\n\
         \x20 - id: flow-logs\n    pattern: {source: [y]}\n    action: aws.ec2.enable-vpc-flow-logs\n\
         \x20   params: {log_destination_type: cloud-watch-logs, log_destination: \"arn:aws:logs:us-east-1:{account}:log-group:flows\", deliver_logs_permission_arn: \"arn:aws:iam::{account}:role/flows-to-logs\"}\n",
    )
    .unwrap();
    let out = rectify(
        dir.path(),
        &["iam-policy", "--account", "111122223333"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let policy: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pass: Vec<&serde_json::Value> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Action"].to_string().contains("iam:PassRole"))
        .collect();
    assert_eq!(pass.len(), 1, "{policy:#}");
    let mut resources: Vec<String> = match &pass[0]["Resource"] {
        serde_json::Value::String(r) => vec![r.clone()],
        other => other
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect(),
    };
    resources.sort();
    assert_eq!(
        resources,
        [
            "arn:aws:iam::111122223333:role/flows-to-logs",
            "arn:aws:iam::111122223333:role/trail-to-logs"
        ],
        "{policy:#}"
    );
}

/// `iam-policy --own` grants the V2 operations of Security Hub only when a
/// rule can answer an OCSF finding (`Findings Imported V2`).
#[test]
fn own_policy_has_the_v2_operations_when_a_rule_answers_ocsf_findings() {
    let dir = tempfile::tempdir().unwrap();
    let update_actions = |config: &str| -> Vec<String> {
        std::fs::write(dir.path().join("rectify.yaml"), config).unwrap();
        let out = rectify(dir.path(), &["iam-policy", "--own"], None);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let policy: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let statement = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "UpdateFindings")
            .unwrap_or_else(|| panic!("{policy:#}"))
            .clone();
        serde_json::from_value(statement["Action"].clone()).unwrap()
    };
    let accounts = "store: sqlite://r.db\naccounts:\n  - id: \"111122223333\"\n";
    // The built-in pack has rules on OCSF findings.
    let pack = update_actions(&format!("{accounts}packs: [aws-foundational]\n"));
    assert!(
        pack.contains(&"securityhub:BatchUpdateFindingsV2".to_string())
            && pack.contains(&"securityhub:GetFindingsV2".to_string()),
        "{pack:?}"
    );
    // Rules pinned to ASFF imports only: no V2 operation.
    let asff = update_actions(&format!(
        "{accounts}rules:\n  - id: r\n    pattern: {{source: [aws.securityhub], detail-type: [Security Hub Findings - Imported]}}\n    action: local.noop\n"
    ));
    assert!(
        asff.contains(&"securityhub:BatchUpdateFindings".to_string())
            && !asff.iter().any(|a| a.ends_with("V2")),
        "{asff:?}"
    );
    // A rule on OCSF findings of one's own.
    let own = update_actions(&format!(
        "{accounts}rules:\n  - id: r\n    pattern: {{detail-type: [Findings Imported V2]}}\n    action: local.noop\n"
    ));
    assert!(
        own.contains(&"securityhub:BatchUpdateFindingsV2".to_string()),
        "{own:?}"
    );
}

/// `iam-policy --own` lets rectify import its detections into Security
/// Hub exactly when `detect.security_hub` is on (and no Security Hub role
/// does it for it).
#[test]
fn own_policy_imports_findings_only_when_detections_go_to_security_hub() {
    let dir = tempfile::tempdir().unwrap();
    let import_statement = |config: &str| -> Option<serde_json::Value> {
        std::fs::write(dir.path().join("rectify.yaml"), config).unwrap();
        let out = rectify(dir.path(), &["iam-policy", "--own"], None);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let policy: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Action"] == "securityhub:BatchImportFindings")
            .cloned()
    };
    let base = "store: sqlite://r.db\naccounts:\n  - id: \"111122223333\"\nrules: []\n";
    assert_eq!(import_statement(base), None);
    assert_eq!(
        import_statement(&format!("{base}detect:\n  security_hub: false\n")),
        None
    );
    let on = import_statement(&format!("{base}detect:\n  security_hub: true\n"))
        .expect("BatchImportFindings with detect.security_hub");
    assert_eq!(on["Effect"], "Allow");
    assert_eq!(on["Resource"], "arn:aws:securityhub:*:*:product/*/default");
    // Through a Security Hub role, the role imports; rectify only assumes it.
    let with_role = format!(
        "{base}aws:\n  securityhub:\n    role_arn: arn:aws:iam::111122223333:role/hub\ndetect:\n  security_hub: true\n"
    );
    assert_eq!(import_statement(&with_role), None);
}

/// `iam-policy --scan` grants every permission of the posture checks,
/// read-only, IAM Access Analyzer's `ListAnalyzers` among them (CIS 1.20).
#[test]
fn scan_policy_grants_each_checks_reads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rectify.yaml"),
        "store: sqlite://r.db\naccounts:\n  - id: \"111122223333\"\n",
    )
    .unwrap();
    let out = rectify(dir.path(), &["iam-policy", "--scan"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let policy: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<&str> = policy["Statement"][0]["Action"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    for wanted in [
        "access-analyzer:ListAnalyzers",
        "iam:GenerateCredentialReport",
        "ec2:DescribeSecurityGroups",
        "s3:ListAllMyBuckets",
        // --from-config
        "config:ListDiscoveredResources",
        "config:BatchGetResourceConfig",
        // a report-only scan's bucket tags
        "tag:GetResources",
    ] {
        assert!(actions.contains(&wanted), "{wanted} missing: {actions:?}");
    }
    assert_eq!(policy["Statement"][0]["Effect"], "Allow");
    let catalog = rectify(dir.path(), &["catalog", "--checks"], None);
    let listed = text(&catalog.stdout);
    assert!(
        listed.contains("access-analyzer.enabled") && listed.contains("1.20"),
        "{listed}"
    );
}

/// `--from-config` takes settings as AWS Config last recorded them: never
/// for a scan that feeds the rules, on the command line or in `scan:`, nor
/// with `--live`, which reads every bucket.
#[test]
fn from_config_is_refused_with_feed_and_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rectify.yaml"),
        "store: sqlite://r.db\naccounts:\n  - id: \"111122223333\"\n",
    )
    .unwrap();
    for other in ["--feed", "--dry-run", "--live"] {
        let out = rectify(dir.path(), &["scan", "--from-config", other], None);
        assert_eq!(out.status.code(), Some(2), "{other}");
        let err = text(&out.stderr);
        assert!(err.contains("cannot be used with"), "{other}: {err}");
    }
    std::fs::write(
        dir.path().join("rectify.yaml"),
        "store: sqlite://r.db\naccounts:\n  - id: \"111122223333\"\nscan:\n  schedule: \"0 3 * * *\"\n  feed: true\n  from_config: true\n",
    )
    .unwrap();
    let out = rectify(dir.path(), &["validate"], None);
    assert_ne!(out.status.code(), Some(0));
    let err = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(err.contains("scan.from_config"), "{err}");
    let help = rectify(dir.path(), &["scan", "--help"], None);
    let help = text(&help.stdout);
    assert!(
        help.contains("--from-config") && help.contains("--live"),
        "{help}"
    );
}

#[test]
fn every_command_has_help_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        vec!["process"],
        vec!["serve"],
        vec!["validate"],
        vec!["test"],
        vec!["match"],
        vec!["iam-policy"],
        vec!["audit", "verify"],
        vec!["jobs", "list"],
        vec!["jobs", "show"],
        vec!["jobs", "approve"],
        vec!["jobs", "retry"],
        vec!["report"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let out = rectify(dir.path(), &args, None);
        assert_eq!(out.status.code(), Some(0), "{cmd:?}");
        let help = text(&out.stdout);
        assert!(
            help.contains("Example"),
            "{cmd:?} --help has no example:\n{help}"
        );
    }
}

#[test]
fn serve_refuses_to_start_without_tokens() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rectify.yaml"), "store: sqlite://r.db\n").unwrap();
    let out = rectify(dir.path(), &["serve", "--listen", "127.0.0.1:0"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("api.tokens is empty"));
}

#[test]
fn scan_needs_configured_accounts() {
    let dir = tempfile::tempdir().unwrap();
    // No config file: scan does not run on the built-in default.
    let out = rectify(dir.path(), &["scan"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no config file"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("rectify.db").exists());
    // A config that names no account: nothing to scan.
    std::fs::write(
        dir.path().join("rectify.yaml"),
        "store: sqlite://r.db
",
    )
    .unwrap();
    let out = rectify(dir.path(), &["scan"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no accounts in the config"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(
        dir.path().join("rectify.yaml"),
        "packs: [aws-foundational]\naccounts:\n  - id: \"111122223333\"\n",
    )
    .unwrap();
    let out = rectify(dir.path(), &["scan", "--account", "999988887777"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--account 999988887777: not under `accounts:`"),
        "{}",
        text(&out.stderr)
    );
    let help = rectify(dir.path(), &["scan", "--help"], None);
    assert!(text(&help.stdout).contains("rectify scan --dry-run"));
}

/// With no AWS credentials anywhere, every job fails at once (no retry: a
/// configuration error) with one plain reason that says where rectify
/// looked, and the log says it once, not once per job or attempt.
#[test]
fn no_aws_credentials_fail_at_once_with_one_plain_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rectify.yaml"),
        format!(
            "store: sqlite://{}\ndefault_mode: auto\naws:\n  region: eu-west-1\naccounts:\n  - id: \"111122223333\"\n    role_arn: arn:aws:iam::111122223333:role/rectify\n    external_id: ext-1\nnotifications:\n  team:\n    sns: arn:aws:sns:eu-west-1:111122223333:rectify\ndefault_notify: [team]\npacks: [aws-foundational]\n",
            dir.path().join("rectify.db").display()
        ),
    )
    .unwrap();
    let event =
        std::fs::read_to_string(repo().join("examples/fixtures/s3-public-bucket/event.json"))
            .unwrap();
    let mut events = Vec::new();
    for i in 0..3 {
        let mut e: serde_json::Value = serde_json::from_str(&event).unwrap();
        e["id"] = format!("no-credentials-{i}").into();
        e["detail"]["findings"][0]["Id"] = format!("finding-{i}").into();
        e["detail"]["findings"][0]["Resources"][0]["Id"] =
            format!("arn:aws:s3:::bucket-{i}").into();
        events.push(e.to_string());
    }
    let started = std::time::Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rectify"));
    cmd.current_dir(dir.path())
        .env("RECTIFY_CONFIG", dir.path().join("rectify.yaml"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/rectify-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/rectify-credentials",
        )
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "RECTIFY_LOG",
    ] {
        cmd.env_remove(var);
    }
    let mut child = cmd
        .args(["process", "--output", "json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        input.write_all(events.join("\n").as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let elapsed = started.elapsed();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let jobs = report["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 3, "{report:#}");
    for job in jobs {
        assert_eq!(job["state"], "failed", "{job:#}");
        assert_eq!(job["attempts"], 1, "retried: {job:#}");
        let reason = job["outcome"]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("no AWS credentials found for rectify's own identity"),
            "{reason}"
        );
        assert!(reason.contains("not retried"), "{reason}");
        assert!(reason.len() < 200, "{reason}");
    }
    // Where rectify looked, said once, plainly.
    let said = "no AWS credentials found: rectify looked in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), profile `default` of /nonexistent/rectify-credentials and /nonexistent/rectify-config";
    assert_eq!(stderr.matches(said).count(), 1, "said once:\n{stderr}");
    assert!(elapsed < std::time::Duration::from_secs(10), "{elapsed:?}");
}

#[test]
fn custom_actions_wait_for_approval_unless_the_rule_says_otherwise_and_ocsf_findings_follow_their_rule(
) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rectify.yaml"),
        "store: sqlite://x.db\ndefault_mode: auto\naudit: {key: none}\naccounts:\n  - id: '111122223333'\nrules:\n  - id: on-request\n    pattern: {detail-type: [Security Hub Findings - Custom Action]}\n    action: local.noop\n  - id: ocsf\n    pattern: {detail-type: [Findings Imported V2]}\n    action: local.noop\n    mode: dry-run\n  - id: other\n    pattern: {source: [example.other]}\n    action: local.noop\n",
    )
    .unwrap();
    let fixtures = repo().join("examples/fixtures");
    let read =
        |name: &str| std::fs::read_to_string(fixtures.join(name).join("event.json")).unwrap();
    let other = serde_json::json!({
        "version": "0", "id": "o-1", "detail-type": "Something", "source": "example.other",
        "account": "111122223333", "region": "eu-west-1", "time": "2026-12-05T08:00:00Z",
        "resources": ["arn:aws:s3:::payments-exports"], "detail": {}
    });
    let body = [
        serde_json::from_str::<serde_json::Value>(&read("custom-action-two-findings")).unwrap(),
        serde_json::from_str::<serde_json::Value>(&read("ocsf-v2-ec2-13")).unwrap(),
        other,
    ]
    .iter()
    .map(|v| v.to_string())
    .collect::<Vec<_>>()
    .join("\n");
    let out = rectify(
        dir.path(),
        &[
            "--config",
            "rectify.yaml",
            "process",
            "--output",
            "json",
            "-",
        ],
        Some(&body),
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)));
    let jobs = report["jobs"].as_array().unwrap();
    let of = |rule: &str| -> Vec<&serde_json::Value> {
        jobs.iter().filter(|j| j["rule_id"] == rule).collect()
    };
    // One job per finding of the custom action, each on its finding's
    // resource (never the action's ARN), waiting for approval although
    // the config's default mode is auto.
    let requested = of("on-request");
    assert_eq!(requested.len(), 2, "{report:#}");
    let mut targets: Vec<&str> = requested
        .iter()
        .map(|j| j["target"]["resource_id"].as_str().unwrap())
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        [
            "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0a1b2c3d4e5f",
            "arn:aws:s3:::payments-exports"
        ]
    );
    for job in &requested {
        assert_eq!(job["mode"], "approve", "{job:#}");
        assert_eq!(job["state"], "waiting-approval", "{job:#}");
    }
    let controls: Vec<&str> = requested
        .iter()
        .map(|j| j["control"].as_str().unwrap())
        .collect();
    assert!(
        controls.contains(&"S3.8") && controls.contains(&"EC2.13"),
        "{controls:?}"
    );
    // An OCSF finding: the rule's mode (here dry-run, where the config's
    // default is auto), its control from compliance.control, no ASFF
    // finding; the OCSF finding its effects update is kept with the target.
    let ocsf = of("ocsf");
    assert_eq!(ocsf.len(), 1, "{report:#}");
    assert_eq!(ocsf[0]["mode"], "dry-run", "{:#}", ocsf[0]);
    assert_eq!(ocsf[0]["control"], "EC2.13");
    assert!(ocsf[0]["finding"].is_null(), "{:#}", ocsf[0]);
    assert_eq!(
        ocsf[0]["target"]["details"]["OcsfFinding"],
        serde_json::json!({
            "uid": "arn:aws:securityhub:eu-west-1:111122223333:security-control/EC2.13/finding/4d5e-example",
            "product_uid": "arn:aws:securityhub:eu-west-1::productv2/aws/securityhub"
        }),
        "{:#}",
        ocsf[0]
    );
    // Anything else follows the config's default mode.
    let other = of("other");
    assert_eq!(other[0]["mode"], "auto", "{:#}", other[0]);

    // A rule that says `auto` itself is followed for custom actions.
    std::fs::write(
        dir.path().join("own.yaml"),
        "store: sqlite://own.db\ndefault_mode: approve\naudit: {key: none}\naccounts:\n  - id: '111122223333'\nrules:\n  - id: on-request\n    pattern: {detail-type: [Security Hub Findings - Custom Action]}\n    action: local.noop\n    mode: auto\n",
    )
    .unwrap();
    let out = rectify(
        dir.path(),
        &[
            "--config",
            "own.yaml",
            "process",
            "--dry-run",
            "--output",
            "json",
            "-",
        ],
        Some(&read("custom-action-two-findings")),
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)));
    let jobs = report["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{report:#}");
    // --dry-run plans every job in dry-run; without it the rule's auto holds.
    assert!(jobs.iter().all(|j| j["mode"] == "dry-run"), "{report:#}");
    let out = rectify(
        dir.path(),
        &["--config", "own.yaml", "process", "--output", "json", "-"],
        Some(&read("custom-action-two-findings")),
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)));
    let jobs = report["jobs"].as_array().unwrap();
    assert!(
        jobs.len() == 2 && jobs.iter().all(|j| j["mode"] == "auto"),
        "{report:#}"
    );
}

/// The files of the built-in pack, in name order, as one text.
fn built_in_pack_text() -> String {
    let dir = repo().join("crates/rectify/packs/aws-foundational");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}
