//! Loading rectify.yaml: every error path, with file, line, column, field
//! and message, and a full valid example.

use std::path::{Path, PathBuf};

use rectify_config::{Channel, Diagnostic, Loader, Mode, Rule, RuleChecker};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn test_env(name: &str) -> Option<String> {
    match name {
        "RECTIFY_OPS_TOKEN" => Some("ops-token-from-the-environment".into()),
        "AWS_REGION" => Some("ap-southeast-2".into()),
        _ => None,
    }
}

/// Every diagnostic for `yaml` loaded as `rectify.yaml`.
fn errors(yaml: &str) -> Vec<Diagnostic> {
    Loader::new()
        .env(&no_env)
        .load_str(yaml, Path::new("rectify.yaml"))
        .expect_err("the config should not load")
}

/// The one diagnostic for `yaml`.
fn error(yaml: &str) -> Diagnostic {
    let mut all = errors(yaml);
    assert_eq!(all.len(), 1, "expected one diagnostic, got: {all:#?}");
    all.remove(0)
}

#[track_caller]
fn check(d: &Diagnostic, file: &str, line: usize, column: usize, field: &str, fragment: &str) {
    assert_eq!(
        (d.file.as_path(), d.line, d.column, d.field.as_str()),
        (Path::new(file), Some(line), Some(column), field),
        "{d}"
    );
    assert!(
        d.message.contains(fragment),
        "`{}` lacks `{fragment}`",
        d.message
    );
}

const RULE: &str =
    "    pattern: {source: [aws.securityhub]}\n    action: aws.s3.block-public-access\n";

#[test]
fn empty_file_is_all_defaults() {
    let c = Loader::new()
        .env(&no_env)
        .load_str("", Path::new("rectify.yaml"))
        .unwrap();
    assert_eq!(c.path.as_deref(), Some(Path::new("rectify.yaml")));
    assert_eq!(c.store, "sqlite://rectify.db");
    assert_eq!(c.default_mode, Mode::Approve);
    assert_eq!(c.aws.region, "us-east-1");
    assert_eq!(c.api.listen, "127.0.0.1:8080");
    assert_eq!(c.api.max_body_bytes, 1024 * 1024);
    assert_eq!(c.guardrails.exempt_tag, "rectify:exempt");
    assert!(c.rules.is_empty() && c.accounts.is_empty() && c.api.tokens.is_empty());
}

#[test]
fn embedded_default() {
    let c = Loader::new().env(&test_env).load_default().unwrap();
    assert_eq!(c.path, None);
    assert_eq!(c.aws.region, "ap-southeast-2");
    assert_eq!(c.store, rectify_config::Config::default().store);
}

#[test]
fn full_example_round_trip() {
    let pack = "- id: pack-rule\n  pattern: {source: [aws.config]}\n  action: aws.iam.password-policy\n  mode: approve\n";
    let loader = Loader::new().env(&test_env).pack("aws-foundational", pack);
    let path = fixture("full/rectify.yaml");
    let c = loader.load_file(&path).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(c.path.as_deref(), Some(path.as_path()));
    assert_eq!(c.store, "postgres://rectify@db.internal:5432/rectify");
    assert_eq!(c.default_mode, Mode::DryRun);
    assert_eq!(c.aws.region, "eu-west-1");
    assert_eq!(c.aws.securityhub_region.as_deref(), Some("us-east-1"));
    assert_eq!(
        c.aws.securityhub_role_arn.as_deref(),
        Some("arn:aws:iam::111122223333:role/rectify-securityhub")
    );

    assert_eq!(c.accounts.len(), 2);
    let a = c.account("111122223333").unwrap();
    assert_eq!(a.name.as_deref(), Some("payments-prod"));
    assert_eq!(
        a.role_arn.as_deref(),
        Some("arn:aws:iam::111122223333:role/rectify")
    );
    assert_eq!(a.external_id.as_deref(), Some("abc123"));
    assert_eq!(a.owner.as_deref(), Some("payments-team@example.com"));
    assert_eq!(a.regions, ["eu-west-1", "us-east-1"]);
    assert!(a.allows_region("eu-west-1") && !a.allows_region("eu-west-2"));
    // An unquoted id keeps its leading zero.
    let b = c.account("012345678901").unwrap();
    assert_eq!((b.role_arn.as_deref(), b.regions.len()), (None, 0));
    assert!(b.allows_region("anywhere-1"));

    assert_eq!(
        c.notifications.get("security-team"),
        Some(&Channel::Sns {
            topic_arn: "arn:aws:sns:us-east-1:111122223333:security-findings".into()
        })
    );

    assert_eq!(c.api.listen, "0.0.0.0:9090");
    assert_eq!(c.api.max_body_bytes, 2048);
    let names: Vec<&str> = c.api.tokens.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["eventbridge", "ops", "ci"]);
    assert!(c.api.tokens[0].verify("0123456789abcdef-literal"));
    assert!(c.api.tokens[1].verify("ops-token-from-the-environment"));
    assert!(c.api.tokens[2].verify("test"));
    assert!(!c.api.tokens[2].verify("Test"));
    assert_eq!(c.api.verify("test"), Some("ci"));
    let debug = format!("{c:?}");
    assert!(!debug.contains("0123456789abcdef-literal") && !debug.contains("ops-token-from"));
    assert_eq!(c.guardrails.exempt_tag, "team:exempt");

    // Packs, then includes, then inline rules.
    let ids: Vec<&str> = c.rules.iter().map(|r| r.rule.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "pack-rule",
            "ec2-default-sg-closed",
            "s3-bucket-block-public-access"
        ]
    );
    let pack_rule = c.rule("pack-rule").unwrap();
    assert_eq!(pack_rule.source.file, Path::new("<pack:aws-foundational>"));
    assert_eq!((pack_rule.source.line, pack_rule.source.column), (1, 3));
    assert_eq!(pack_rule.rule.mode, Some(Mode::Approve));

    let ec2 = c.rule("ec2-default-sg-closed").unwrap();
    assert_eq!(ec2.source.file, fixture("full/rules/ec2.yaml"));
    assert_eq!((ec2.source.line, ec2.source.column), (2, 3));
    assert!(!ec2.rule.enabled);
    // The default mode fills in rules that set none.
    assert_eq!(ec2.rule.mode, Some(Mode::DryRun));
    assert_eq!(
        ec2.rule.params,
        serde_json::json!({"dry": false, "ports": [22, 3389]})
    );

    let s3 = c.rule("s3-bucket-block-public-access").unwrap();
    let expected = Rule {
        id: "s3-bucket-block-public-access".into(),
        description: "Turn on S3 Block Public Access.".into(),
        controls: vec!["S3.2".into(), "S3.3".into()],
        pattern: serde_json::json!({
            "source": ["aws.securityhub"],
            "detail": {"findings": {"Compliance": {"Status": ["FAILED"]}}}
        }),
        action: "aws.s3.block-public-access".into(),
        params: serde_json::json!({}),
        mode: Some(Mode::Auto),
        notify: vec!["security-team".into()],
        enabled: true,
    };
    assert_eq!(s3.rule, expected);
    assert_eq!(s3.source.file, path);
    assert_eq!((s3.source.line, s3.source.column), (34, 5));
    assert_eq!(s3.source.to_string(), format!("{}:34:5", path.display()));
}

#[test]
fn missing_config_file() {
    let path = fixture("does-not-exist.yaml");
    let all = Loader::new().load_file(&path).unwrap_err();
    assert_eq!(all.len(), 1);
    let d = &all[0];
    assert_eq!(
        (d.file.as_path(), d.line, d.column),
        (path.as_path(), None, None)
    );
    assert!(d.message.contains("does-not-exist.yaml"), "{d}");
    assert!(d
        .to_string()
        .starts_with(&format!("{}: cannot read", path.display())));
}

#[test]
fn unknown_top_level_key() {
    let d = error("store: sqlite://x.db\nstroe: 1\n");
    check(
        &d,
        "rectify.yaml",
        2,
        1,
        "stroe",
        "unknown field `stroe`, expected one of `store`",
    );
    assert_eq!(
        d.to_string(),
        "rectify.yaml:2:1: stroe: unknown field `stroe`, expected one of `store`, `store_env`, \
         `store_file`, `audit`, `default_mode`, `default_notify`, `aws`, `accounts`, `notifications`, \
         `api`, `guardrails`, `execution`, `sources`, `tickets`, `detect`, `kubernetes`, `scan`, `packs`, `include`, `rules`, `overrides`"
    );
}

#[test]
fn unknown_key_in_aws() {
    let d = error("aws:\n  region: us-east-1\n  regoin: eu-west-1\n");
    check(
        &d,
        "rectify.yaml",
        3,
        3,
        "aws.regoin",
        "expected one of `region`, `securityhub`",
    );
    let d = error("aws:\n  securityhub:\n    role: x\n");
    check(
        &d,
        "rectify.yaml",
        3,
        5,
        "aws.securityhub.role",
        "unknown field `role`",
    );
}

#[test]
fn unknown_key_in_account() {
    let d = error("accounts:\n  - id: '111122223333'\n    region: [us-east-1]\n");
    check(
        &d,
        "rectify.yaml",
        3,
        5,
        "accounts[0].region",
        "unknown field `region`, expected one of `id`",
    );
}

#[test]
fn unknown_key_in_rule() {
    let d = error(&format!("rules:\n  - id: r1\n{RULE}    descripton: x\n"));
    check(
        &d,
        "rectify.yaml",
        5,
        5,
        "rules[0].descripton",
        "unknown field `descripton`, expected one of `id`, `description`",
    );
}

#[test]
fn unknown_key_in_token() {
    let d = error("api:\n  tokens:\n    - name: a\n      token: 0123456789abcdef0\n      value: secret-value-here\n");
    check(
        &d,
        "rectify.yaml",
        5,
        7,
        "api.tokens[0].value",
        "unknown field `value`",
    );
    assert!(!d.to_string().contains("secret-value-here"));
}

#[test]
fn wrong_types() {
    let all = errors(
        "store: 5\naccounts: {id: 1}\napi:\n  max_body_bytes: lots\n  listen: [a]\nrules:\n  - id: r1\n    pattern: {source: [x]}\n    action: [a, b]\n    enabled: 'yes'\n    notify: security-team\n",
    );
    assert_eq!(all.len(), 7, "{all:#?}");
    check(
        &all[0],
        "rectify.yaml",
        1,
        8,
        "store",
        "expected a string, found an integer (put it in quotes",
    );
    check(
        &all[1],
        "rectify.yaml",
        2,
        11,
        "accounts",
        "expected a list, found a mapping",
    );
    check(
        &all[2],
        "rectify.yaml",
        4,
        19,
        "api.max_body_bytes",
        "expected a positive integer",
    );
    check(
        &all[3],
        "rectify.yaml",
        5,
        11,
        "api.listen",
        "expected a string, found a list",
    );
    check(
        &all[4],
        "rectify.yaml",
        9,
        13,
        "rules[0].action",
        "expected a string, found a list",
    );
    check(
        &all[5],
        "rectify.yaml",
        10,
        14,
        "rules[0].enabled",
        "expected a boolean, found a string",
    );
    check(
        &all[6],
        "rectify.yaml",
        11,
        13,
        "rules[0].notify",
        "expected a list, found a string",
    );
}

#[test]
fn bad_mode() {
    let d = error(&format!("rules:\n  - id: r1\n{RULE}    mode: fast\n"));
    check(
        &d,
        "rectify.yaml",
        5,
        11,
        "rules[0].mode",
        "unknown variant `fast`, expected one of `auto`, `approve`, `dry-run`",
    );
    let d = error("default_mode: 1\n");
    check(
        &d,
        "rectify.yaml",
        1,
        15,
        "default_mode",
        "expected one of `auto`, `approve`, `dry-run`, found an integer",
    );
}

#[test]
fn missing_rule_fields() {
    let all = errors("rules:\n  - description: nothing else\n");
    assert_eq!(all.len(), 3, "{all:#?}");
    check(
        &all[0],
        "rectify.yaml",
        2,
        5,
        "rules[0].id",
        "missing field `id`",
    );
    check(
        &all[1],
        "rectify.yaml",
        2,
        5,
        "rules[0].pattern",
        "missing field `pattern`",
    );
    check(
        &all[2],
        "rectify.yaml",
        2,
        5,
        "rules[0].action",
        "missing field `action`",
    );
}

#[test]
fn pattern_shape() {
    let all = errors("rules:\n  - id: a\n    pattern: {}\n    action: x\n  - id: b\n    pattern: [x]\n    action: x\n");
    assert_eq!(all.len(), 2, "{all:#?}");
    check(
        &all[0],
        "rectify.yaml",
        3,
        14,
        "rules[0].pattern",
        "must not be empty",
    );
    check(
        &all[1],
        "rectify.yaml",
        6,
        14,
        "rules[1].pattern",
        "expected an event pattern (a mapping)",
    );
}

#[test]
fn duplicate_rule_ids_across_include_and_inline() {
    let all = Loader::new()
        .env(&no_env)
        .load_file(&fixture("dup/rectify.yaml"))
        .unwrap_err();
    assert_eq!(all.len(), 1, "{all:#?}");
    let included = fixture("dup/rules.yaml");
    check(
        &all[0],
        fixture("dup/rectify.yaml").to_str().unwrap(),
        3,
        9,
        "rules[0].id",
        &format!(
            "duplicate rule id `shared-id` (first defined at {}:4:7)",
            included.display()
        ),
    );
}

#[test]
fn notify_unknown_channel() {
    let yaml = format!(
        "notifications:\n  security-team:\n    sns: arn:aws:sns:us-east-1:111122223333:t\nrules:\n  - id: r1\n{RULE}    notify: [security-team, secops]\n"
    );
    let d = error(&yaml);
    check(
        &d,
        "rectify.yaml",
        8,
        29,
        "rules[0].notify[1]",
        "unknown notification channel `secops` (known: `security-team`)",
    );
}

#[test]
fn bad_arns() {
    let all = errors(
        "accounts:\n  - id: '111122223333'\n    role_arn: arn:aws:iam::111122223333:user/bob\nnotifications:\n  t:\n    sns: arn:aws:sns:us-east-1:1111:topic\n",
    );
    assert_eq!(all.len(), 2, "{all:#?}");
    check(
        &all[0],
        "rectify.yaml",
        3,
        15,
        "accounts[0].role_arn",
        "is not an IAM role ARN (expected arn:<partition>:iam::<12 digits>:role/<name>)",
    );
    check(
        &all[1],
        "rectify.yaml",
        6,
        10,
        "notifications.t.sns",
        "is not an SNS topic ARN",
    );
}

#[test]
fn external_id_without_role_arn() {
    let d = error("accounts:\n  - id: '111122223333'\n    external_id: abc\n");
    check(
        &d,
        "rectify.yaml",
        3,
        5,
        "accounts[0].external_id",
        "only used with `role_arn`",
    );
}

#[test]
fn short_token() {
    let d = error("api:\n  tokens:\n    - name: a\n      token: short-secret\n");
    check(
        &d,
        "rectify.yaml",
        4,
        14,
        "api.tokens[0].token",
        "weak token",
    );
    assert!(!d.to_string().contains("short-secret"), "{d}");
}

#[test]
fn unset_token_env() {
    let d = error("api:\n  tokens:\n    - name: ops\n      token_env: RECTIFY_TEST_UNSET_TOKEN\n");
    check(
        &d,
        "rectify.yaml",
        4,
        18,
        "api.tokens[0].token_env",
        "`RECTIFY_TEST_UNSET_TOKEN` is not set",
    );
}

#[test]
fn token_shapes() {
    let all = errors(
        "api:\n  tokens:\n    - name: a\n    - name: b\n      token: 0123456789abcdef0\n      sha256: abc\n    - name: c\n      sha256: xyz\n    - name: c\n      token: 0123456789abcdef0\n",
    );
    assert_eq!(all.len(), 4, "{all:#?}");
    check(
        &all[0],
        "rectify.yaml",
        3,
        7,
        "api.tokens[0]",
        "one of `token`, `token_env`, `token_file`, `sha256` is required",
    );
    check(
        &all[1],
        "rectify.yaml",
        6,
        7,
        "api.tokens[1]",
        "give only one of",
    );
    check(
        &all[2],
        "rectify.yaml",
        8,
        15,
        "api.tokens[2].sha256",
        "64 hex digits",
    );
    check(
        &all[3],
        "rectify.yaml",
        9,
        13,
        "api.tokens[3].name",
        "duplicate token name `c`",
    );
    for d in &all {
        assert!(!d.to_string().contains("0123456789abcdef0"), "{d}");
    }
}

#[test]
fn bad_account_ids() {
    let all = errors(
        "accounts:\n  - id: '12345'\n  - id: 1234567890123\n  - id: true\n  - id: '111122223333'\n  - id: 111122223333\n  - name: no-id\n",
    );
    assert_eq!(all.len(), 5, "{all:#?}");
    check(
        &all[0],
        "rectify.yaml",
        2,
        9,
        "accounts[0].id",
        "`12345` is not an AWS account id (12 digits)",
    );
    check(
        &all[1],
        "rectify.yaml",
        3,
        9,
        "accounts[1].id",
        "not an AWS account id",
    );
    check(
        &all[2],
        "rectify.yaml",
        4,
        9,
        "accounts[2].id",
        "expected a 12-digit account id, found a boolean",
    );
    check(
        &all[3],
        "rectify.yaml",
        6,
        9,
        "accounts[4].id",
        "duplicate account id `111122223333` (first defined at line 5, column 9)",
    );
    check(
        &all[4],
        "rectify.yaml",
        7,
        5,
        "accounts[5].id",
        "missing field `id`",
    );
}

#[test]
fn include_glob_matching_nothing_and_missing_file() {
    let config = fixture("full/rectify.yaml");
    let all = Loader::new()
        .env(&no_env)
        .load_str(
            "include:\n  - nothing/*.yaml\n  - rules/missing.yaml\n",
            &config,
        )
        .unwrap_err();
    assert_eq!(all.len(), 2, "{all:#?}");
    let file = config.to_str().unwrap();
    check(
        &all[0],
        file,
        2,
        5,
        "include[0]",
        "`nothing/*.yaml` matches no file",
    );
    check(&all[1], file, 3, 5, "include[1]", "cannot read");
    assert!(all[1].message.contains("rules/missing.yaml"), "{}", all[1]);
}

#[test]
fn errors_in_included_file_name_that_file() {
    let all = Loader::new()
        .env(&no_env)
        .load_file(&fixture("bad-rules/rectify.yaml"))
        .unwrap_err();
    assert_eq!(all.len(), 2, "{all:#?}");
    let file = fixture("bad-rules/rules/s3.yaml");
    check(
        &all[0],
        file.to_str().unwrap(),
        11,
        9,
        "rules[2].mode",
        "unknown variant `fast`",
    );
    check(
        &all[1],
        file.to_str().unwrap(),
        12,
        3,
        "rules[2].colour",
        "unknown field `colour`",
    );
    assert_eq!(
        all[0].to_string(),
        format!(
            "{}:11:9: rules[2].mode: unknown variant `fast`, expected one of `auto`, `approve`, `dry-run`",
            file.display()
        )
    );
}

#[test]
fn yaml_syntax_error_has_position() {
    let d = error("store: sqlite://x.db\naws: {region: us-east-1\napi:\n  listen: x\n");
    assert_eq!(d.file, Path::new("rectify.yaml"));
    assert!(d.line.is_some() && d.column.is_some(), "{d}");
    assert!(d.message.starts_with("YAML syntax error"), "{d}");
    let d = error("rules:\n  - id: a\n   action: b\n");
    assert_eq!(d.line, Some(3), "{d}");
    assert!(d.message.starts_with("YAML syntax error"), "{d}");
}

#[test]
fn duplicate_mapping_keys() {
    let all = errors(&format!(
        "store: sqlite://a.db\nstore: sqlite://b.db\nrules:\n  - id: r1\n{RULE}    action: other\n"
    ));
    assert_eq!(all.len(), 2, "{all:#?}");
    check(
        &all[0],
        "rectify.yaml",
        2,
        1,
        "store",
        "duplicate key `store` (first defined at line 1, column 1)",
    );
    check(
        &all[1],
        "rectify.yaml",
        7,
        5,
        "rules[0].action",
        "duplicate key `action` (first defined at line 6, column 5)",
    );
}

#[test]
fn several_errors_in_one_file_all_reported() {
    let yaml = "\
stroe: x
default_mode: sometimes
aws:
  region: moon-1
accounts:
  - id: '1'
    external_id: e
notifications:
  ops: {email: a@b.c}
api:
  listen: nowhere
  tokens:
    - name: t
      token: tiny
guardrails:
  exempt: x
packs: [missing-pack]
rules:
  - id: a
    pattern: {source: [x]}
    action: x
    mode: fast
  - id: a
    pattern: {source: [x]}
    action: x
    notify: [ops, nobody]
  - id: c
";
    let all = errors(yaml);
    let shown: Vec<String> = all.iter().map(ToString::to_string).collect();
    let expected = [
        "rectify.yaml:1:1: stroe: unknown field `stroe`",
        "rectify.yaml:2:15: default_mode: unknown variant `sometimes`",
        "rectify.yaml:4:11: aws.region: `moon-1` is not an AWS region name",
        "rectify.yaml:6:9: accounts[0].id: `1` is not an AWS account id",
        "rectify.yaml:7:5: accounts[0].external_id: `external_id` is only used with `role_arn`",
        "rectify.yaml:9:3: notifications.ops: a channel needs one of `sns`",
        "rectify.yaml:9:9: notifications.ops.email: unknown field `email`, expected one of `sns`",
        "rectify.yaml:11:11: api.listen: `nowhere` is not a listen address",
        "rectify.yaml:14:14: api.tokens[0].token: weak token",
        "rectify.yaml:16:3: guardrails.exempt: unknown field `exempt`",
        "rectify.yaml:17:9: packs[0]: unknown rule pack `missing-pack` (no packs are built in)",
        "rectify.yaml:22:11: rules[0].mode: unknown variant `fast`",
        "rectify.yaml:23:9: rules[1].id: duplicate rule id `a` (first defined at rectify.yaml:19:9)",
        "rectify.yaml:26:19: rules[1].notify[1]: unknown notification channel `nobody` (known: `ops`)",
        "rectify.yaml:27:5: rules[2].pattern: missing field `pattern`",
        "rectify.yaml:27:5: rules[2].action: missing field `action`",
    ];
    assert_eq!(shown.len(), expected.len(), "{shown:#?}");
    for (got, want) in shown.iter().zip(expected) {
        assert!(got.starts_with(want), "got {got}\nwant {want}...");
    }
}

#[test]
fn pack_errors_name_the_pack() {
    let all = Loader::new()
        .env(&no_env)
        .pack(
            "p",
            "- id: x\n  pattern: {source: [a]}\n  action: y\n  mode: nope\n",
        )
        .load_str("packs: [p]\n", Path::new("rectify.yaml"))
        .unwrap_err();
    assert_eq!(all.len(), 1, "{all:#?}");
    check(
        &all[0],
        "<pack:p>",
        4,
        9,
        "rules[0].mode",
        "unknown variant `nope`",
    );
}

struct Catalog;

impl RuleChecker for Catalog {
    fn check(&self, rule: &Rule) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if rule.action != "aws.s3.block-public-access" {
            out.push(("action".into(), format!("unknown action `{}`", rule.action)));
        }
        if rule.params.get("max_age").is_some_and(|v| !v.is_u64()) {
            out.push(("params.max_age".into(), "expected an integer".into()));
        }
        if rule.pattern.get("source").is_some_and(|v| !v.is_array()) {
            out.push(("pattern.source".into(), "must be an array".into()));
        }
        out
    }
}

#[test]
fn checker_problems_are_positioned() {
    let all = Loader::new()
        .env(&no_env)
        .checker(&Catalog)
        .load_str(
            "rules:\n  - id: a\n    pattern: {source: aws.s3}\n    action: aws.nope\n    params:\n      max_age: old\n",
            Path::new("rectify.yaml"),
        )
        .unwrap_err();
    assert_eq!(all.len(), 3, "{all:#?}");
    check(
        &all[0],
        "rectify.yaml",
        3,
        23,
        "rules[0].pattern.source",
        "must be an array",
    );
    check(
        &all[1],
        "rectify.yaml",
        4,
        13,
        "rules[0].action",
        "unknown action `aws.nope`",
    );
    check(
        &all[2],
        "rectify.yaml",
        6,
        16,
        "rules[0].params.max_age",
        "expected an integer",
    );
}

#[test]
fn rules_file() {
    let loader = Loader::new();
    let rules = loader
        .load_rules_file(&fixture("full/rules/ec2.yaml"))
        .unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].rule.mode, None);

    let all = loader
        .load_rules_file(&fixture("full/rectify.yaml"))
        .unwrap_err();
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(all[0]
        .message
        .contains("a rule file must be a YAML list of rules, found a mapping"));

    let missing = fixture("full/rules/none.yaml");
    let all = loader.load_rules_file(&missing).unwrap_err();
    assert_eq!(all[0].file, missing);
    assert!(all[0].message.contains("none.yaml"));
}

#[test]
fn anchors_aliases_and_nulls() {
    let yaml = "\
notifications:
  sec: {sns: 'arn:aws:sns:us-east-1:111122223333:t'}
x-base: &base
  pattern: {source: [aws.securityhub]}
";
    // Unknown top-level key for the anchor holder.
    let d = error(yaml);
    check(&d, "rectify.yaml", 3, 1, "x-base", "unknown field `x-base`");

    let yaml = "\
rules:
  - id: a
    pattern: &p {source: [aws.securityhub]}
    action: x
    description:
  - id: b
    pattern: *p
    action: x
";
    let c = Loader::new()
        .env(&no_env)
        .load_str(yaml, Path::new("rectify.yaml"))
        .unwrap();
    assert_eq!(c.rules[0].rule.pattern, c.rules[1].rule.pattern);
    assert_eq!(c.rules[0].rule.description, "");
}

#[test]
fn non_finite_numbers_in_params() {
    let d = error(
        "rules:\n  - id: a\n    pattern: {source: [x]}\n    action: x\n    params: {limit: .inf}\n",
    );
    check(
        &d,
        "rectify.yaml",
        5,
        21,
        "rules[0].params.limit",
        "cannot be represented in JSON",
    );
}

#[test]
fn execution_and_guardrail_limits() {
    let config = Loader::new()
        .env(&no_env)
        .load_str(
            "execution:\n  max_attempts: 3\n  backoff_base_ms: 10\n  backoff_max_ms: 100\n  max_age_seconds: 60\n  concurrency: 2\n\
             guardrails:\n  min_interval_seconds: 30\n  max_changes_per_account_per_hour: 5\n",
            Path::new("rectify.yaml"),
        )
        .unwrap();
    assert_eq!(config.execution.max_attempts, 3);
    assert_eq!(config.execution.backoff_base_ms, 10);
    assert_eq!(config.execution.concurrency, 2);
    assert_eq!(config.guardrails.min_interval_seconds, 30);
    assert_eq!(config.guardrails.max_changes_per_account_per_hour, Some(5));

    let all = errors("execution:\n  max_attempts: 0\n  backoff_base_ms: 500\n  backoff_max_ms: 100\n  retries: 3\n");
    assert_eq!(all.len(), 3, "{all:#?}");
    check(
        &all[0],
        "rectify.yaml",
        2,
        17,
        "execution.max_attempts",
        "expected a whole number from 1 to 100",
    );
    assert!(all.iter().any(
        |d| d.field == "execution.backoff_base_ms" && d.message.contains("must not be larger")
    ));
    assert!(all
        .iter()
        .any(|d| d.field == "execution.retries" && d.message.contains("unknown field `retries`")));
}

#[test]
fn sqs_sources() {
    let config = Loader::new()
        .env(&no_env)
        .load_str(
            "aws:\n  region: eu-central-1\n\
             sources:\n  sqs:\n\
             \x20   - queue_url: https://sqs.eu-west-1.amazonaws.com/111122223333/findings\n\
             \x20   - queue_url: https://vpce-0a1b.sqs.eu-west-1.vpce.amazonaws.com/111122223333/other.fifo\n\
             \x20     wait_seconds: 5\n      max_messages: 1\n\
             \x20   - queue_url: http://127.0.0.1:5000/111122223333/local\n      region: us-west-2\n",
            Path::new("rectify.yaml"),
        )
        .unwrap();
    let q = &config.sources.sqs;
    assert_eq!(q.len(), 3);
    // The region from the URL's host, else aws.region, unless set.
    assert_eq!(
        (q[0].region.as_str(), q[0].wait_seconds, q[0].max_messages),
        ("eu-west-1", 20, 10)
    );
    assert_eq!(
        (q[1].region.as_str(), q[1].wait_seconds, q[1].max_messages),
        ("eu-central-1", 5, 1)
    );
    assert_eq!(q[2].region, "us-west-2");
    assert_eq!(q[2].queue_url, "http://127.0.0.1:5000/111122223333/local");

    let all = errors(
        "sources:\n  sqs:\n\
         \x20   - queue_url: sqs.eu-west-1.amazonaws.com/111122223333/a\n\
         \x20   - queue_url: https://sqs.eu-west-1.amazonaws.com/findings\n\
         \x20   - queue_url: https://sqs.eu-west-1.amazonaws.com/111122223333/a\n      wait_seconds: 30\n\
         \x20   - queue_url: https://sqs.eu-west-1.amazonaws.com/111122223333/a\n\
         \x20   - region: eu-west-1\n      visibility: 3\n\
         \x20 kafka: {}\n",
    );
    assert_eq!(all.len(), 7, "{all:#?}");
    check(
        &all[0],
        "rectify.yaml",
        3,
        18,
        "sources.sqs[0].queue_url",
        "is not an SQS queue URL: it must start with https://",
    );
    check(
        &all[1],
        "rectify.yaml",
        4,
        18,
        "sources.sqs[1].queue_url",
        "12-digit account id",
    );
    check(
        &all[2],
        "rectify.yaml",
        6,
        21,
        "sources.sqs[2].wait_seconds",
        "expected a whole number from 0 to 20",
    );
    check(
        &all[3],
        "rectify.yaml",
        7,
        7,
        "sources.sqs[3].queue_url",
        "is listed twice",
    );
    assert!(all
        .iter()
        .any(|d| d.field == "sources.sqs[4].queue_url" && d.message.contains("missing")));
    assert!(all.iter().any(|d| d.field == "sources.sqs[4].visibility"
        && d.message.contains("unknown field `visibility`")));
    assert!(all
        .iter()
        .any(|d| d.field == "sources.kafka" && d.message.contains("expected one of `sqs`")));
}

#[test]
fn securityhub_poll_source() {
    let load = |yaml: &str| {
        Loader::new()
            .env(&no_env)
            .load_str(yaml, Path::new("rectify.yaml"))
            .unwrap()
            .sources
            .securityhub
    };
    assert_eq!(load(""), None);
    let defaults = load("sources:\n  securityhub: {}\n").unwrap();
    assert_eq!(
        (
            defaults.interval_seconds,
            defaults.overlap_seconds,
            defaults.start_hours_ago
        ),
        (60, 300, 24)
    );
    assert_eq!(defaults.workflow_status, ["NEW", "NOTIFIED"]);
    assert_eq!(defaults.record_state, ["ACTIVE"]);
    assert!(defaults.compliance_status.is_empty());
    let set = load(
        "sources:\n  securityhub:\n    interval_seconds: 30\n    compliance_status: [FAILED]\n\
         \x20   severity_label: [HIGH, CRITICAL]\n    workflow_status: []\n    product_name: [GuardDuty]\n",
    )
    .unwrap();
    assert_eq!(set.interval_seconds, 30);
    assert_eq!(set.compliance_status, ["FAILED"]);
    assert_eq!(set.severity_label, ["HIGH", "CRITICAL"]);
    assert!(set.workflow_status.is_empty());
    assert_eq!(set.product_name, ["GuardDuty"]);

    let all = errors(
        "sources:\n  securityhub:\n    interval_seconds: 1\n    severity_label: [HIGH, SEVERE]\n    since: 3\n",
    );
    assert_eq!(all.len(), 3, "{all:#?}");
    check(
        &all[0],
        "rectify.yaml",
        3,
        23,
        "sources.securityhub.interval_seconds",
        "expected a whole number from 10 to 86400",
    );
    check(
        &all[1],
        "rectify.yaml",
        4,
        28,
        "sources.securityhub.severity_label[1]",
        "`SEVERE` is not one of `INFORMATIONAL`",
    );
    assert!(all
        .iter()
        .any(|d| d.field == "sources.securityhub.since" && d.message.contains("unknown field")));
}

#[test]
fn default_notify_fills_rules_without_channels() {
    let config = Loader::new()
        .env(&no_env)
        .load_str(
            "notifications:\n  team:\n    sns: arn:aws:sns:us-east-1:111122223333:t\ndefault_notify: [team]\n\
             rules:\n  - id: a\n    pattern: {source: [x]}\n    action: x\n  - id: b\n    pattern: {source: [x]}\n    action: x\n    notify: []\n",
            Path::new("rectify.yaml"),
        )
        .unwrap();
    assert_eq!(config.default_notify, ["team"]);
    assert_eq!(config.rules[0].rule.notify, ["team"]);
    let d = error("default_notify: [nobody]\n");
    check(
        &d,
        "rectify.yaml",
        1,
        18,
        "default_notify[0]",
        "unknown notification channel `nobody`",
    );
}

#[test]
fn role_of_another_account_is_refused() {
    let d = error(
        "accounts:\n  - id: '111122223333'\n    role_arn: arn:aws:iam::444455556666:role/rectify\n    external_id: e-1\n",
    );
    check(
        &d,
        "rectify.yaml",
        3,
        15,
        "accounts[0].role_arn",
        "is a role of account 444455556666, not of this account (111122223333)",
    );
}

#[test]
fn external_id_is_required_with_a_role_unless_none() {
    let d = error(
        "accounts:\n  - id: '111122223333'\n    role_arn: arn:aws:iam::111122223333:role/rectify\n",
    );
    check(
        &d,
        "rectify.yaml",
        2,
        5,
        "accounts[0].external_id",
        "missing field `external_id`",
    );
    assert!(d.message.contains("external_id: none"), "{d}");

    // `none` says so explicitly: no external id is passed.
    let c = Loader::new()
        .env(&no_env)
        .load_str(
            "accounts:\n  - id: '111122223333'\n    role_arn: arn:aws:iam::111122223333:role/rectify\n    external_id: none\n  - id: '444455556666'\n    role_arn: arn:aws:iam::444455556666:role/rectify\n    external_id: ext-4444\n",
            Path::new("rectify.yaml"),
        )
        .unwrap();
    assert_eq!(c.accounts[0].external_id, None);
    assert_eq!(c.accounts[1].external_id.as_deref(), Some("ext-4444"));
}

#[test]
fn token_scopes_default_to_ingest_and_are_read() {
    let c = Loader::new()
        .env(&no_env)
        .load_str(
            "api:\n  tokens:\n    - name: eb\n      token: 0123456789abcdef-one\n    - name: ops\n      token: 0123456789abcdef-two\n      scopes: [read, approve, admin, read]\n",
            Path::new("rectify.yaml"),
        )
        .unwrap();
    use rectify_config::Scope;
    assert_eq!(c.api.tokens[0].scopes, vec![Scope::Ingest]);
    assert_eq!(
        c.api.tokens[1].scopes,
        vec![Scope::Read, Scope::Approve, Scope::Admin]
    );
    assert!(c.api.tokens[1].allows(Scope::Approve) && !c.api.tokens[1].allows(Scope::Ingest));
    // Safe defaults for everything the API bounds.
    assert!(c.api.four_eyes);
    assert_eq!(c.api.max_connections, 512);
    assert_eq!(c.api.header_read_timeout_seconds, 10);
    assert_eq!(c.api.tls, None);
}

#[test]
fn unknown_and_empty_scopes_are_refused() {
    let d = error("api:\n  tokens:\n    - name: a\n      token: 0123456789abcdef0\n      scopes: [read, root]\n");
    check(
        &d,
        "rectify.yaml",
        5,
        22,
        "api.tokens[0].scopes[1]",
        "unknown scope `root`, expected one of `ingest`, `read`, `approve`, `admin`",
    );
    let d =
        error("api:\n  tokens:\n    - name: a\n      token: 0123456789abcdef0\n      scopes: []\n");
    check(
        &d,
        "rectify.yaml",
        5,
        15,
        "api.tokens[0].scopes",
        "at least one scope",
    );
}

#[test]
fn api_bounds_and_tls() {
    let c = Loader::new()
        .env(&no_env)
        .load_str(
            "api:\n  four_eyes: false\n  max_connections: 64\n  header_read_timeout_seconds: 2\n  idle_timeout_seconds: 5\n  max_auth_failures: 3\n  tls:\n    cert_file: tls/cert.pem\n    key_file: /etc/rectify/key.pem\n",
            Path::new("/srv/rectify/rectify.yaml"),
        )
        .unwrap();
    assert!(!c.api.four_eyes);
    assert_eq!(c.api.max_connections, 64);
    assert_eq!(c.api.header_read_timeout_seconds, 2);
    assert_eq!(c.api.idle_timeout_seconds, 5);
    assert_eq!(c.api.max_auth_failures, 3);
    let tls = c.api.tls.unwrap();
    assert_eq!(tls.cert_file, Path::new("/srv/rectify/tls/cert.pem"));
    assert_eq!(tls.key_file, Path::new("/etc/rectify/key.pem"));

    let d = error("api:\n  max_connections: 0\n");
    check(
        &d,
        "rectify.yaml",
        2,
        20,
        "api.max_connections",
        "expected a whole number from 1 to 65536",
    );
    let d = error("api:\n  tls:\n    cert_file: c.pem\n");
    check(
        &d,
        "rectify.yaml",
        3,
        5,
        "api.tls.key_file",
        "missing field `key_file`",
    );
    let d = error("api:\n  four_eyes: maybe\n");
    check(
        &d,
        "rectify.yaml",
        2,
        14,
        "api.four_eyes",
        "expected a boolean",
    );
}

/// A CloudTrail API call to `DeleteBucketPublicAccessBlock` made by
/// `identity` (its `userIdentity`).
fn api_call(identity: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "version": "0", "id": "ct-1", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3", "account": "111122223333", "time": "2026-12-02T10:00:05Z",
        "region": "eu-west-1", "resources": [],
        "detail": {
            "eventSource": "s3.amazonaws.com", "eventName": "DeleteBucketPublicAccessBlock",
            "awsRegion": "eu-west-1", "recipientAccountId": "111122223333",
            "requestParameters": {"bucketName": "b"},
            "userIdentity": identity,
        }
    })
}

fn assumed(role: &str, session: &str) -> serde_json::Value {
    let name = role.rsplit('/').next().unwrap();
    serde_json::json!({
        "type": "AssumedRole",
        "arn": format!("arn:aws:sts::111122223333:assumed-role/{name}/{session}"),
        "accountId": "111122223333",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role, "accountId": "111122223333"}}
    })
}

#[test]
fn pack_rules_on_api_calls_leave_out_the_configured_roles_only() {
    const PACK: &str = "\
- id: bpa-deleted
  pattern:
    source: [aws.s3]
    detail-type: [AWS API Call via CloudTrail]
    detail: {eventName: [DeleteBucketPublicAccessBlock]}
  action: x
- id: findings
  pattern: {source: [aws.securityhub]}
  action: x
";
    let own = "arn:aws:iam::111122223333:role/rectify-remediation";
    let config = format!(
        "packs: [p]\naccounts:\n  - id: '111122223333'\n    role_arn: {own}\n    external_id: e-1\n  - id: '444455556666'\n    role_arn: arn:aws:iam::444455556666:role/ops/rectify\n    external_id: e-2\nrules:\n  - id: mine\n    pattern: {{source: [aws.s3], detail-type: [AWS API Call via CloudTrail]}}\n    action: x\n"
    );
    let c = Loader::new()
        .env(&no_env)
        .pack("p", PACK)
        .load_str(&config, Path::new("rectify.yaml"))
        .unwrap();
    let pattern = |id: &str| {
        let rule = &c.rules.iter().find(|r| r.rule.id == id).unwrap().rule;
        event_pattern::Pattern::from_value(&rule.pattern).unwrap()
    };
    let bpa = pattern("bpa-deleted");
    // rectify's own role, whatever the session is called.
    assert!(!bpa.matches(&api_call(assumed(own, "rectify-111122223333"))));
    assert!(!bpa.matches(&api_call(assumed(own, "anything"))));
    // Another role whose session took rectify's name: still answered.
    assert!(bpa.matches(&api_call(assumed(
        "arn:aws:iam::111122223333:role/developer",
        "rectify-111122223333"
    ))));
    // An IAM user (no session issuer) and the root user: answered.
    assert!(bpa.matches(&api_call(serde_json::json!({
        "type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/bob", "accountId": "111122223333"
    }))));
    assert!(bpa.matches(&api_call(
        serde_json::json!({"type": "Root", "accountId": "111122223333"})
    )));
    // The other account's role (with a path) is left out too.
    assert!(!bpa.matches(&api_call(assumed(
        "arn:aws:iam::444455556666:role/ops/rectify",
        "x"
    ))));
    // Rules on other events, and the config's own rules, are left as written.
    let findings = &c.rules.iter().find(|r| r.rule.id == "findings").unwrap();
    assert_eq!(
        findings.rule.pattern,
        serde_json::json!({"source": ["aws.securityhub"]})
    );
    let mine = &c.rules.iter().find(|r| r.rule.id == "mine").unwrap();
    assert!(mine.rule.pattern.get("detail").is_none());
}

#[test]
fn breakers_are_on_by_default_and_can_be_switched_off() {
    let default = Loader::new()
        .env(&no_env)
        .load_str("", Path::new("rectify.yaml"))
        .unwrap();
    let g = &default.guardrails;
    assert_eq!(g.max_changes_per_account_per_hour, Some(20));
    assert_eq!(g.max_percent_of_type_per_hour, Some(25));
    assert_eq!(g.max_reversals_per_hour, Some(2));
    let off = Loader::new()
        .env(&no_env)
        .load_str(
            "guardrails:\n  max_changes_per_account_per_hour: off\n  max_percent_of_type_per_hour: off\n  max_reversals_per_hour: 5\n",
            Path::new("rectify.yaml"),
        )
        .unwrap();
    assert_eq!(off.guardrails.max_changes_per_account_per_hour, None);
    assert_eq!(off.guardrails.max_percent_of_type_per_hour, None);
    assert_eq!(off.guardrails.max_reversals_per_hour, Some(5));
    let d = error("guardrails:\n  max_changes_per_account_per_hour: never\n");
    check(
        &d,
        "rectify.yaml",
        2,
        37,
        "guardrails.max_changes_per_account_per_hour",
        "or `off`",
    );
}

const PACK: &str = "- id: admin-ports\n  pattern: {source: [aws.securityhub]}\n  action: a.x\n  params: {ports: [22, 3389], keep: yes}\n  mode: approve\n- id: other\n  pattern: {source: [x]}\n  action: a.y\n";

#[test]
fn overrides_change_a_pack_rule_without_copying_it() {
    let config = Loader::new()
        .env(&no_env)
        .pack("p", PACK)
        .load_str(
            "packs: [p]\noverrides:\n  admin-ports:\n    mode: auto\n    params: {ports: [22, 3389, 3306]}\n  other: {enabled: false}\n",
            Path::new("rectify.yaml"),
        )
        .unwrap();
    let rule = |id: &str| {
        config
            .rules
            .iter()
            .find(|r| r.rule.id == id)
            .map(|r| r.rule.clone())
            .unwrap()
    };
    let admin = rule("admin-ports");
    assert_eq!(admin.mode, Some(Mode::Auto));
    // Merged key by key: what the override does not name stays.
    assert_eq!(
        admin.params,
        serde_json::json!({"ports": [22, 3389, 3306], "keep": "yes"})
    );
    assert!(admin.enabled);
    assert!(!rule("other").enabled);

    let all = Loader::new()
        .env(&no_env)
        .pack("p", PACK)
        .load_str(
            "packs: [p]\noverrides:\n  no-such-rule: {mode: auto}\n  other: {mode: fast, colour: red}\n",
            Path::new("rectify.yaml"),
        )
        .expect_err("bad overrides");
    assert_eq!(all.len(), 3, "{all:#?}");
    assert!(all.iter().any(
        |d| d.field == "overrides.no-such-rule" && d.message.contains("no rule `no-such-rule`")
    ));
    assert!(all.iter().any(|d| d.field == "overrides.other.mode"));
    assert!(all.iter().any(|d| d.field == "overrides.other.colour"));
}

#[test]
fn accounts_from_organizations_are_read_and_checked() {
    let yaml = "accounts:\n  list:\n    - id: '111122223333'\n      role_arn: arn:aws:iam::111122223333:role/rectify\n      external_id: none\n  from_organizations:\n    role_arn: arn:aws:iam::{account}:role/rectify-remediation\n    external_id: ext-org\n    organizational_units:\n      include: [r-ab12]\n      exclude: [ou-ab12-1a2b3c4d]\n    accounts:\n      exclude: ['444455556666']\n    regions: [eu-west-1]\n    refresh_seconds: 600\npacks: [p]\n";
    let pack = "- id: api-call\n  pattern: {detail-type: [AWS API Call via CloudTrail], source: [aws.s3]}\n  action: a\n";
    let c = Loader::new()
        .env(&no_env)
        .pack("p", pack)
        .load_str(yaml, Path::new("rectify.yaml"))
        .unwrap();
    assert_eq!(c.accounts.len(), 1);
    let org = c.from_organizations.as_ref().unwrap();
    assert_eq!(
        org.role_for("555566667777"),
        "arn:aws:iam::555566667777:role/rectify-remediation"
    );
    assert_eq!(org.external_id.as_deref(), Some("ext-org"));
    assert_eq!(org.include_ous, ["r-ab12"]);
    assert_eq!(org.exclude_ous, ["ou-ab12-1a2b3c4d"]);
    assert_eq!(org.exclude_accounts, ["444455556666"]);
    assert!(org.include_accounts.is_empty());
    assert_eq!(org.owner_tag.as_deref(), Some("owner"));
    assert!(org.owner_from_security_contact);
    assert_eq!(org.regions, ["eu-west-1"]);
    assert_eq!(org.refresh_seconds, 600);
    // rectify's own calls through any member's role do not match pack
    // rules on API calls.
    let arn = &c.rules[0].rule.pattern["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]
        ["arn"];
    assert_eq!(
        arn[1]["anything-but"]["wildcard"],
        serde_json::json!([
            "arn:aws:iam::111122223333:role/rectify",
            "arn:aws:iam::*:role/rectify-remediation"
        ]),
        "{arn}"
    );
    // Discovered accounts are looked up after the hand-listed ones.
    let mut found = c.accounts[0].clone();
    found.id = "555566667777".into();
    found.role_arn = Some(org.role_for("555566667777"));
    let mut hand = found.clone();
    hand.id = "111122223333".into();
    hand.role_arn = Some("arn:aws:iam::111122223333:role/other".into());
    c.discovered.set(vec![found.clone(), hand]);
    assert_eq!(c.account("555566667777"), Some(found));
    assert_eq!(
        c.account("111122223333").unwrap().role_arn.as_deref(),
        Some("arn:aws:iam::111122223333:role/rectify")
    );
    assert_eq!(c.all_accounts().len(), 2);

    // The plain list form still works.
    let c = Loader::new()
        .env(&no_env)
        .load_str(
            "accounts:\n  - id: '111122223333'\n",
            Path::new("rectify.yaml"),
        )
        .unwrap();
    assert_eq!(c.accounts.len(), 1);
    assert!(c.from_organizations.is_none());

    // Mistakes, each with its place.
    let d = errors("accounts:\n  from_organizations:\n    role_arn: arn:aws:iam::111122223333:role/rectify\n    external_id: none\n");
    check(
        &d[0],
        "rectify.yaml",
        3,
        15,
        "accounts.from_organizations.role_arn",
        "write the account as `{account}`",
    );
    let d =
        error("accounts:\n  from_organizations:\n    role_arn: arn:aws:iam::{account}:role/r\n");
    check(
        &d,
        "rectify.yaml",
        3,
        5,
        "accounts.from_organizations.external_id",
        "external_id: none",
    );
    let d = errors("accounts:\n  from_organizations:\n    role_arn: arn:aws:iam::{account}:role/r\n    external_id: none\n    organizational_units: {include: [prod]}\n    accounts: {exclude: [1234]}\n    refresh_seconds: 5\n    owner: x\n  lists: []\n");
    let fields: Vec<&str> = d.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "accounts.from_organizations.organizational_units.include[0]",
            "accounts.from_organizations.accounts.exclude[0]",
            "accounts.from_organizations.refresh_seconds",
            "accounts.from_organizations.owner",
            "accounts.lists",
        ],
        "{d:#?}"
    );
    assert!(d[0].message.contains("not an OU id"), "{}", d[0]);
}

#[test]
fn aws_profile_and_attempts_are_optional() {
    let c = Loader::new()
        .env(&no_env)
        .load_str("aws:\n  profile: security\n", Path::new("rectify.yaml"))
        .unwrap();
    assert_eq!(c.aws.profile.as_deref(), Some("security"));
    // Unset: the SDK's own settings (AWS_MAX_ATTEMPTS, the profile) apply.
    assert_eq!(c.aws.sdk_max_attempts, None);
    let c = Loader::new()
        .env(&no_env)
        .load_str("aws:\n  sdk_max_attempts: 2\n", Path::new("rectify.yaml"))
        .unwrap();
    assert_eq!(c.aws.sdk_max_attempts, Some(2));
}

#[test]
fn scan_section_reads_back_and_bad_values_are_named() {
    let config = Loader::new()
        .env(&no_env)
        .load_str(
            "store: sqlite://x.db\nscan:\n  schedule: \"0 3 * * *\"\n  feed: true\n  accounts: [\"111122223333\", \"111122223333\"]\n  regions: [eu-west-1]\n  send_to_security_hub: true\n  concurrency: 4\n",
            Path::new("rectify.yaml"),
        )
        .unwrap();
    let scan = config.scan.expect("the scan section");
    assert_eq!(scan.schedule.expression(), "0 3 * * *");
    assert!(scan.feed && scan.send_to_security_hub);
    assert_eq!(scan.accounts, ["111122223333"]);
    assert_eq!(scan.regions, ["eu-west-1"]);
    assert_eq!(scan.concurrency, 4);
    assert_eq!(scan.from_config, None);
    let report = Loader::new()
        .env(&no_env)
        .load_str(
            "store: sqlite://x.db\nscan:\n  schedule: \"0 3 * * *\"\n  from_config: true\n",
            Path::new("rectify.yaml"),
        )
        .unwrap()
        .scan
        .unwrap();
    assert!(report.from_config == Some(true) && !report.feed);
    let live = Loader::new()
        .env(&no_env)
        .load_str(
            "store: sqlite://x.db\nscan:\n  schedule: \"0 3 * * *\"\n  feed: true\n  from_config: false\n",
            Path::new("rectify.yaml"),
        )
        .unwrap()
        .scan
        .unwrap();
    assert_eq!(live.from_config, Some(false));
    let d = error("store: sqlite://x.db\nscan:\n  schedule: \"0 3 * * *\"\n  from_config: auto\n");
    assert_eq!(d.field, "scan.from_config");
    let d = error(
        "store: sqlite://x.db\nscan:\n  schedule: \"0 3 * * *\"\n  feed: true\n  from_config: true\n",
    );
    assert_eq!(d.field, "scan.from_config");
    assert!(d.message.contains("not with `feed: true`"), "{d}");
    let none = Loader::new()
        .env(&no_env)
        .load_str("store: sqlite://x.db\n", Path::new("rectify.yaml"))
        .unwrap();
    assert!(none.scan.is_none());

    let d = error("store: sqlite://x.db\nscan:\n  schedule: \"0 24 * * *\"\n");
    assert_eq!(d.field, "scan.schedule");
    assert_eq!(d.line, Some(3));
    assert!(d.message.contains("not a cron expression"), "{d}");
    let all = errors(
        "store: sqlite://x.db\nscan:\n  schedule: \"* * * *\"\n  accounts: [\"12\"]\n  feed: yes please\n  concurrency: 0\n  every: 5\n",
    );
    let fields: Vec<&str> = all.iter().map(|d| d.field.as_str()).collect();
    for field in [
        "scan.schedule",
        "scan.accounts[0]",
        "scan.feed",
        "scan.concurrency",
        "scan.every",
    ] {
        assert!(fields.contains(&field), "{field} not in {all:#?}");
    }
}
