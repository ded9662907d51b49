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
            "allow_users_to_change_password": false,
            "max_password_age": null,
            "password_reuse_prevention": 24,
            "hard_expiry": false
        })
    );
    // No expiry added: nothing suggests a person must look first.
    assert!(action.intent(&target, &params, &observed).is_empty());

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
    // Left as it was; no expiry added.
    assert!(!p.allow_users_to_change_password());
    assert!(!p.expire_passwords());
    assert_eq!(p.max_password_age().unwrap_or(0), 0);
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
    assert!(!p.allow_users_to_change_password());
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

#[tokio::test]
async fn an_expiry_waits_for_a_person_and_hard_expiry_stays_off() {
    let account = Account::new().await;
    let action = IamSetPasswordPolicy::new(account.aws().await);
    let target = action.target(&account_event(&account.id)).unwrap();
    // IAM.7 customised in Security Hub: 60 days, length 16.
    let params = action.with_control_parameters(
        &json!({}),
        "IAM.7",
        &json!({
            "MinimumPasswordLength": {"ValueType": "CUSTOM", "Value": {"Integer": 16}},
            "MaxPasswordAge": {"ValueType": "CUSTOM", "Value": {"Integer": 60}},
            "RequireSymbols": {"ValueType": "DEFAULT", "Value": {"Boolean": true}}
        }),
    );
    let observed = action.check(&target, &params).await.unwrap();
    let intent = action.intent(&target, &params, &observed);
    assert_eq!(intent.len(), 1, "{intent:?}");
    assert!(intent[0].contains("expire after 60 days"), "{intent:?}");
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.verify(&target, &params).await.unwrap().compliant);
    let p = read_policy(&account).await;
    assert_eq!(p.minimum_password_length(), Some(16));
    assert_eq!(p.max_password_age(), Some(60));
    assert_eq!(p.hard_expiry(), Some(false));
    // The control's default (no MaxPasswordAge) adds none.
    let defaults = action.with_control_parameters(
        &json!({}),
        "IAM.7",
        &json!({"MaxPasswordAge": {"ValueType": "DEFAULT"}}),
    );
    assert!(defaults.get("max_password_age").is_none(), "{defaults}");
}

#[tokio::test]
async fn the_whole_policy_comes_back_on_undo() {
    let account = Account::new().await;
    let iam = account.iam();
    iam.update_account_password_policy()
        .minimum_password_length(10)
        .require_numbers(true)
        .allow_users_to_change_password(true)
        .hard_expiry(true)
        .max_password_age(120)
        .send()
        .await
        .unwrap();
    let action = IamSetPasswordPolicy::new(account.aws().await);
    let target = action.target(&account_event(&account.id)).unwrap();
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    let p = read_policy(&account).await;
    assert_eq!(p.minimum_password_length(), Some(14));
    assert_eq!(
        p.max_password_age(),
        Some(120),
        "an expiry is not shortened unasked"
    );

    let now = action.check(&target, &params).await.unwrap();
    let undo = action.revert_plan(&target, &params, &change, &now).unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    let p = read_policy(&account).await;
    assert_eq!(p.minimum_password_length(), Some(10));
    assert!(p.require_numbers() && !p.require_symbols());
    assert!(p.allow_users_to_change_password());
    assert_eq!(p.hard_expiry(), Some(true));
    assert_eq!(p.max_password_age(), Some(120));
    assert_eq!(p.password_reuse_prevention().unwrap_or(0), 0);

    // Changed by a person since: refused, untouched.
    let change = action
        .plan(
            &target,
            &params,
            &action.check(&target, &params).await.unwrap(),
        )
        .unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    iam.update_account_password_policy()
        .minimum_password_length(30)
        .send()
        .await
        .unwrap();
    let now = action.check(&target, &params).await.unwrap();
    let err = action
        .revert_plan(&target, &params, &change, &now)
        .unwrap_err();
    assert!(err.message.contains("changed since"), "{}", err.message);
    assert_eq!(
        read_policy(&account).await.minimum_password_length(),
        Some(30)
    );
}

#[tokio::test]
async fn undo_deletes_a_policy_that_was_not_there() {
    let account = Account::new().await;
    let action = IamSetPasswordPolicy::new(account.aws().await);
    let target = action.target(&account_event(&account.id)).unwrap();
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    let now = action.check(&target, &params).await.unwrap();
    let undo = action.revert_plan(&target, &params, &change, &now).unwrap();
    assert!(undo.summary.starts_with("delete"), "{}", undo.summary);
    action.revert(&target, &params, &undo).await.unwrap();
    // A rerun finds it gone and succeeds.
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    let err = account
        .iam()
        .get_account_password_policy()
        .send()
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("NoSuchEntity"), "{err:?}");
}
