use rectify_aws::IamSetPasswordPolicy;
use rectify_model::Action;
use serde_json::{json, Value};

use crate::support::{finding_event, Account};

fn account_event(account: &str) -> rectify_model::Event {
    finding_event(
        account,
        "IAM.7",
        "AwsAccount",
        &format!("AWS::::Account:{account}"),
        Value::Null,
    )
}

async fn read_policy(account: &Account) -> aws_sdk_iam::types::PasswordPolicy {
    account
        .iam()
        .get_account_password_policy()
        .send()
        .await
        .unwrap()
        .password_policy()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn sets_a_policy_where_there_is_none() {
    let account = Account::new().await;
    let action = IamSetPasswordPolicy::new(account.aws().await);
    let target = action.target(&account_event(&account.id)).unwrap();
    assert_eq!(target.resource_name(), account.id);
    let params = json!({});

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert_eq!(observed.state["exists"], json!(false));
    let change = action.plan(&target, &params, &observed).unwrap();
    assert_eq!(change.before, observed.state);
    assert_eq!(
        change.after,
        json!({
            "exists": true,
            "minimum_password_length": 14,
            "require_symbols": true,
            "require_numbers": true,
            "require_uppercase": true,
            "require_lowercase": true,
            "allow_users_to_change_password": true,
            "max_password_age": 90,
            "password_reuse_prevention": 24,
            "hard_expiry": false
        })
    );

    action.apply(&target, &params, &change).await.unwrap();
    let verified = action.verify(&target, &params).await.unwrap();
    assert!(verified.compliant, "{}", verified.state);
    assert_eq!(verified.state, change.after);

    let p = read_policy(&account).await;
    assert_eq!(p.minimum_password_length(), Some(14));
    assert!(p.require_symbols());
    assert!(p.require_numbers());
    assert!(p.require_uppercase_characters());
    assert!(p.require_lowercase_characters());
    assert!(p.allow_users_to_change_password());
    assert!(p.expire_passwords());
    assert_eq!(p.max_password_age(), Some(90));
    assert_eq!(p.password_reuse_prevention(), Some(24));
    assert_eq!(p.hard_expiry(), Some(false));

    // Fixed: the engine would now report already-compliant.
    assert!(action.check(&target, &params).await.unwrap().compliant);
}

#[tokio::test]
async fn never_loosens_a_stricter_setting() {
    let account = Account::new().await;
    account
        .iam()
        .update_account_password_policy()
        .minimum_password_length(20)
        .require_symbols(false)
        .require_numbers(true)
        .max_password_age(30)
        .password_reuse_prevention(5)
        .hard_expiry(true)
        .send()
        .await
        .unwrap();
    let action = IamSetPasswordPolicy::new(account.aws().await);
    let target = action.target(&account_event(&account.id)).unwrap();
    let params = json!({});

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert_eq!(observed.state["minimum_password_length"], json!(20));
    let change = action.plan(&target, &params, &observed).unwrap();
    assert_eq!(change.after["minimum_password_length"], json!(20));
    assert_eq!(change.after["max_password_age"], json!(30));
    assert_eq!(change.after["hard_expiry"], json!(true));
    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.verify(&target, &params).await.unwrap().compliant);

    let p = read_policy(&account).await;
    assert_eq!(p.minimum_password_length(), Some(20));
    assert!(p.require_symbols());
    assert!(p.require_numbers());
    assert!(p.require_uppercase_characters());
    assert!(p.require_lowercase_characters());
    assert!(p.allow_users_to_change_password());
    assert_eq!(p.max_password_age(), Some(30));
    assert_eq!(p.password_reuse_prevention(), Some(24));
    assert_eq!(p.hard_expiry(), Some(true));
}

#[tokio::test]
async fn params_override_the_defaults() {
    let account = Account::new().await;
    let action = IamSetPasswordPolicy::new(account.aws().await);
    let target = action.target(&account_event(&account.id)).unwrap();
    let params = json!({"minimum_password_length": 16, "max_password_age": 60, "password_reuse_prevention": 12});
    action.validate_params(&params).unwrap();

    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.verify(&target, &params).await.unwrap().compliant);
    let p = read_policy(&account).await;
    assert_eq!(p.minimum_password_length(), Some(16));
    assert_eq!(p.max_password_age(), Some(60));
    assert_eq!(p.password_reuse_prevention(), Some(12));

    // Stricter defaults (length 14 < 16 is fine, reuse 24 > 12 is not).
    assert!(!action.check(&target, &json!({})).await.unwrap().compliant);
    assert!(
        action
            .check(&target, &json!({"password_reuse_prevention": 12}))
            .await
            .unwrap()
            .compliant
    );
}
