//! An action whose spec says its jobs wait for approval by default
//! (`approval_by_default`: IAM.3's key deactivation) through the `rectify`
//! binary against the emulator: with the config's `default_mode: auto` a
//! job of a rule that sets no mode waits for a person and changes nothing
//! (the key is read back, still active); the same rule with `mode: auto`
//! of its own runs, and the key is read back inactive.

mod support;

use aws_sdk_iam::types::StatusType;
use serde_json::Value;
use support::*;

/// One rule on IAM.3 findings; `mode` is the rule's own mode line, if any.
/// `max_age_days: 0`: the emulator cannot date a key in the past, and
/// every key is older than 0 days.
fn old_keys_rule(mode: &str) -> String {
    format!(
        "rules:\n  - id: old-access-keys\n    controls: [IAM.3]\n    pattern:\n      source: [aws.securityhub]\n      detail:\n        findings:\n          Compliance:\n            Status: [FAILED]\n            SecurityControlId: [IAM.3]\n    action: aws.iam.deactivate-old-access-keys\n    params: {{max_age_days: 0}}\n    notify: [team]\n{mode}"
    )
}

/// A user with one access key: the user's ARN and the key id.
async fn user_with_key(iam: &aws_sdk_iam::Client, name: &str) -> (String, String) {
    let arn = iam
        .create_user()
        .user_name(name)
        .send()
        .await
        .unwrap()
        .user
        .unwrap()
        .arn;
    let key = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap()
        .access_key_id;
    (arn, key)
}

async fn key_status(iam: &aws_sdk_iam::Client, user: &str) -> StatusType {
    iam.list_access_keys()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .access_key_metadata
        .into_iter()
        .next()
        .unwrap()
        .status
        .unwrap()
}

fn run(site: &Site, account: &str, arn: &str) -> Value {
    let f = finding(account, "IAM.3", "AwsIamUser", arn);
    let event = site.write_event("event.json", &imported(account, vec![f]));
    let jobs = site.process(&event, &[]);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs[0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn approval_by_default_waits_under_default_auto_and_a_rule_of_auto_runs() {
    let account = new_account();
    let iam = aws_sdk_iam::Client::new(&account_config(&account).await);
    let inbox = Inbox::new(&format!("e2e-approval-default-{account}")).await;

    // `default_mode: auto`, the rule sets no mode: the job waits.
    let waiting = Site::new(&account, "auto", &inbox.topic_arn, &old_keys_rule(""));
    let user = format!("ci-{}", rand_suffix());
    let (arn, key) = user_with_key(&iam, &user).await;
    let job = run(&waiting, &account, &arn);
    assert_eq!(job["state"], "waiting-approval", "{job}");
    assert_eq!(key_status(&iam, &user).await, StatusType::Active, "{key}");
    assert_audit_intact(&waiting);

    // The same rule with `mode: auto` of its own: the key is deactivated.
    let running = Site::new(
        &account,
        "auto",
        &inbox.topic_arn,
        &old_keys_rule("    mode: auto\n"),
    );
    let other = format!("ci-{}", rand_suffix());
    let (arn, _) = user_with_key(&iam, &other).await;
    let job = run(&running, &account, &arn);
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["outcome"]["kind"], "changed", "{job}");
    assert_eq!(key_status(&iam, &other).await, StatusType::Inactive);
    // The first user's key is still as it was: nothing approved it.
    assert_eq!(key_status(&iam, &user).await, StatusType::Active);
    assert_audit_intact(&running);
}
