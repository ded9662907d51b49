//! Harm scenarios: the account password policy.

use aws_sdk_iam::types::PasswordPolicy;
use serde_json::Value;

use crate::common::*;
use crate::support::*;

async fn iam(account: &str) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&account_config(account).await)
}

async fn policy(iam: &aws_sdk_iam::Client) -> Option<PasswordPolicy> {
    iam.get_account_password_policy()
        .send()
        .await
        .ok()
        .and_then(|o| o.password_policy)
}

fn account_finding(account: &str, control: &str) -> Value {
    finding(
        account,
        control,
        "AwsAccount",
        &format!("AWS::::Account:{account}"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stricter_than_default_policy_is_kept() {
    let (account, _inbox, site) = auto_site("harm-strict-pw").await;
    let iam = iam(&account).await;
    // Longer, more reuse prevention and a short expiry than asked; no
    // symbols required yet; users may not change their own passwords.
    iam.update_account_password_policy()
        .minimum_password_length(24)
        .password_reuse_prevention(24)
        .max_password_age(30)
        .require_numbers(true)
        .require_uppercase_characters(true)
        .require_lowercase_characters(true)
        .require_symbols(false)
        .allow_users_to_change_password(false)
        .send()
        .await
        .unwrap();
    let f = account_finding(&account, "IAM.7");
    let jobs = process_findings(&site, &account, vec![f]);
    assert_eq!(outcome(&jobs[0]), "changed", "{:?}", jobs);
    let p = policy(&iam).await.unwrap();
    assert!(p.require_symbols());
    assert_eq!(p.minimum_password_length(), Some(24));
    assert_eq!(p.password_reuse_prevention(), Some(24));
    assert_eq!(p.max_password_age(), Some(30));
    assert!(!p.allow_users_to_change_password());
    assert!(!p.hard_expiry().unwrap_or(false));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_expiry_is_added_where_there_was_none() {
    let (account, _inbox, site) = auto_site("harm-no-expiry").await;
    let iam = iam(&account).await;
    assert!(policy(&iam).await.is_none());
    let f = account_finding(&account, "IAM.7");
    let jobs = process_findings(&site, &account, vec![f.clone()]);
    assert_eq!(outcome(&jobs[0]), "changed", "{:?}", jobs);
    let p = policy(&iam).await.unwrap();
    assert_eq!(p.minimum_password_length(), Some(14));
    assert!(p.require_symbols() && p.require_numbers());
    assert!(p.max_password_age().unwrap_or(0) == 0, "{p:?}");
    assert!(!p.hard_expiry().unwrap_or(false));
    // Left as it was (no policy: users could not change their own).
    assert!(!p.allow_users_to_change_password());

    // Undo: there was no policy, so there is none again.
    let id = jobs[0]["id"].as_str().unwrap();
    let out = site.rectify(&["jobs", "revert", id, "--approve", "--output", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(policy(&iam).await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn hard_expiry_with_old_passwords_is_never_turned_on_nor_given_an_expiry() {
    let (account, _inbox, site) = auto_site("harm-hard-expiry").await;
    let iam = iam(&account).await;
    // HardExpiry is on, without an expiry: nobody is locked out today.
    iam.update_account_password_policy()
        .minimum_password_length(8)
        .hard_expiry(true)
        .send()
        .await
        .unwrap();
    for name in ["alice", "bob"] {
        iam.create_user().user_name(name).send().await.unwrap();
        iam.create_login_profile()
            .user_name(name)
            .password("An-old-Passw0rd!")
            .send()
            .await
            .unwrap();
    }
    let strength = account_finding(&account, "IAM.7");
    let expiry = account_finding(&account, "IAM.17");
    let jobs = process_findings(&site, &account, vec![strength.clone(), expiry.clone()]);
    let by = |rule: &str| {
        jobs.iter()
            .find(|j| j["rule_id"] == rule)
            .unwrap_or_else(|| panic!("no job of {rule}: {jobs:?}"))
            .clone()
    };
    // IAM.17 asks for an expiry: with HardExpiry on, every user whose
    // password is older would be locked out. A person decides.
    let waiting = by("iam-password-expiry");
    assert_eq!(outcome(&waiting), "awaiting-approval", "{waiting}");
    let why = reason(&waiting);
    assert!(
        why.contains("HardExpiry") && why.contains("locked out"),
        "{why}"
    );
    never_resolved(expiry["Id"].as_str().unwrap());
    // IAM.7 strengthens the rest, and adds no expiry.
    assert_eq!(outcome(&by("iam-account-password-policy")), "changed");
    let p = policy(&iam).await.unwrap();
    assert_eq!(p.minimum_password_length(), Some(14));
    assert!(p.max_password_age().unwrap_or(0) == 0, "{p:?}");
    assert_eq!(p.hard_expiry(), Some(true), "HardExpiry is left as it was");
}
