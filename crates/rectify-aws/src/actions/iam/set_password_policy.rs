//! `aws.iam.set-password-policy`: brings the account's IAM password policy
//! up to the configured strength (CIS 1.8; Security Hub IAM.7, IAM.11 to
//! IAM.17), with IAM.7's values as Security Hub holds them for the account.
//! A setting already stricter than asked is never loosened. No expiry is
//! added unless configured (NIST SP 800-63B advises against forced
//! periodic changes), and adding or shortening one waits for approval;
//! HardExpiry is never turned on and AllowUsersToChangePassword is left
//! as it is unless configured. Undo: the whole policy as it was (deleted
//! when there was none).

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::{bool_param, int_param, params_object, reject_unknown};
use crate::errors::{code_of, sdk_error_on};
use crate::Aws;

pub const ID: &str = "aws.iam.set-password-policy";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Set an IAM account password policy at least as strict as the params (CIS 1.8).",
    controls: &[
        "IAM.7", "IAM.11", "IAM.12", "IAM.13", "IAM.14", "IAM.15", "IAM.16", "IAM.17",
    ],
    resource_types: &["AwsAccount"],
    account_wide: true,
    permissions: &[
        "iam:GetAccountPasswordPolicy",
        "iam:UpdateAccountPasswordPolicy",
        "iam:DeleteAccountPasswordPolicy",
    ],
    params: &[
        ParamSpec {
            name: "minimum_password_length",
            kind: "integer",
            default: "14",
            doc: "Minimum length, 6..128.",
        },
        ParamSpec {
            name: "require_symbols",
            kind: "boolean",
            default: "true",
            doc: "Require a symbol.",
        },
        ParamSpec {
            name: "require_numbers",
            kind: "boolean",
            default: "true",
            doc: "Require a digit.",
        },
        ParamSpec {
            name: "require_uppercase",
            kind: "boolean",
            default: "true",
            doc: "Require an uppercase letter.",
        },
        ParamSpec {
            name: "require_lowercase",
            kind: "boolean",
            default: "true",
            doc: "Require a lowercase letter.",
        },
        ParamSpec {
            name: "allow_users_to_change_password",
            kind: "boolean",
            default: "null",
            doc: "Let users change their own password; unset, left as it is.",
        },
        ParamSpec {
            name: "max_password_age",
            kind: "integer",
            default: "null",
            doc: "Days before a password expires, 1..1095; unset, no expiry is added (IAM.7's customised MaxPasswordAge applies). Adding or shortening an expiry waits for approval.",
        },
        ParamSpec {
            name: "password_reuse_prevention",
            kind: "integer",
            default: "24",
            doc: "Previous passwords that cannot be reused, 1..24.",
        },
    ],
    calls_per_fix: 3,
    approval_by_default: false,
};

/// An account password policy: what `check` reads, `plan` computes and
/// `apply` writes. `None` numbers mean "not set".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordPolicy {
    /// False when the account has no password policy at all.
    pub exists: bool,
    pub minimum_password_length: Option<i32>,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub allow_users_to_change_password: bool,
    pub max_password_age: Option<i32>,
    pub password_reuse_prevention: Option<i32>,
    pub hard_expiry: Option<bool>,
}

impl PasswordPolicy {
    pub const NONE: PasswordPolicy = PasswordPolicy {
        exists: false,
        minimum_password_length: None,
        require_symbols: false,
        require_numbers: false,
        require_uppercase: false,
        require_lowercase: false,
        allow_users_to_change_password: false,
        max_password_age: None,
        password_reuse_prevention: None,
        hard_expiry: None,
    };
}

/// The params: the policy asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub minimum_password_length: i32,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    /// None: left as it is.
    pub allow_users_to_change_password: Option<bool>,
    /// None: no expiry required (an existing one stays).
    pub max_password_age: Option<i32>,
    pub password_reuse_prevention: i32,
}

const KEYS: &[&str] = &[
    "minimum_password_length",
    "require_symbols",
    "require_numbers",
    "require_uppercase",
    "require_lowercase",
    "allow_users_to_change_password",
    "max_password_age",
    "password_reuse_prevention",
];

pub fn parse_params(params: &Value) -> Result<Desired, String> {
    let p = params_object(params)?;
    reject_unknown(&p, KEYS, ID)?;
    Ok(Desired {
        minimum_password_length: int_param(&p, "minimum_password_length", 6, 128, 14)? as i32,
        require_symbols: bool_param(&p, "require_symbols", true)?,
        require_numbers: bool_param(&p, "require_numbers", true)?,
        require_uppercase: bool_param(&p, "require_uppercase", true)?,
        require_lowercase: bool_param(&p, "require_lowercase", true)?,
        allow_users_to_change_password: match p.get("allow_users_to_change_password") {
            None | Some(Value::Null) => None,
            Some(_) => Some(bool_param(&p, "allow_users_to_change_password", false)?),
        },
        max_password_age: match p.get("max_password_age") {
            None | Some(Value::Null) => None,
            Some(_) => Some(int_param(&p, "max_password_age", 1, 1095, 90)? as i32),
        },
        password_reuse_prevention: int_param(&p, "password_reuse_prevention", 1, 24, 24)? as i32,
    })
}

/// Whether `current` is at least as strict as `desired` in every setting.
pub fn complies(current: &PasswordPolicy, desired: &Desired) -> bool {
    current.exists
        && current.minimum_password_length.unwrap_or(0) >= desired.minimum_password_length
        && (current.require_symbols || !desired.require_symbols)
        && (current.require_numbers || !desired.require_numbers)
        && (current.require_uppercase || !desired.require_uppercase)
        && (current.require_lowercase || !desired.require_lowercase)
        && desired
            .allow_users_to_change_password
            .is_none_or(|want| current.allow_users_to_change_password == want)
        && desired.max_password_age.is_none_or(|max| {
            current
                .max_password_age
                .is_some_and(|age| age > 0 && age <= max)
        })
        && current.password_reuse_prevention.unwrap_or(0) >= desired.password_reuse_prevention
}

/// For each setting the stricter of `current` and `desired`.
pub fn stricter(current: &PasswordPolicy, desired: &Desired) -> PasswordPolicy {
    PasswordPolicy {
        exists: true,
        minimum_password_length: Some(
            current
                .minimum_password_length
                .unwrap_or(0)
                .max(desired.minimum_password_length),
        ),
        require_symbols: current.require_symbols || desired.require_symbols,
        require_numbers: current.require_numbers || desired.require_numbers,
        require_uppercase: current.require_uppercase || desired.require_uppercase,
        require_lowercase: current.require_lowercase || desired.require_lowercase,
        allow_users_to_change_password: desired
            .allow_users_to_change_password
            .unwrap_or(current.allow_users_to_change_password),
        max_password_age: match (current.max_password_age, desired.max_password_age) {
            (Some(age), Some(max)) if age > 0 => Some(age.min(max)),
            (_, Some(max)) => Some(max),
            (age, None) => age,
        },
        password_reuse_prevention: Some(
            current
                .password_reuse_prevention
                .unwrap_or(0)
                .max(desired.password_reuse_prevention),
        ),
        // Never turned on by rectify: with an expiry it locks out every
        // user whose password is older.
        hard_expiry: Some(current.hard_expiry.unwrap_or(false)),
    }
}

/// The params with IAM.7's parameters as Security Hub holds them: for each
/// setting the stricter of both; an expiry only when the control's
/// MaxPasswordAge is customised (its default sets none).
pub fn with_parameters(params: &Value, parameters: &Value) -> Value {
    let mut out = params.as_object().cloned().unwrap_or_default();
    let value = |name: &str, kind: &str| {
        parameters
            .pointer(&format!("/{name}/Value/{kind}"))
            .cloned()
    };
    for (name, key) in [
        ("RequireUppercaseCharacters", "require_uppercase"),
        ("RequireLowercaseCharacters", "require_lowercase"),
        ("RequireSymbols", "require_symbols"),
        ("RequireNumbers", "require_numbers"),
    ] {
        if value(name, "Boolean") == Some(Value::Bool(true)) {
            out.insert(key.into(), Value::Bool(true));
        }
    }
    for (name, key) in [
        ("MinimumPasswordLength", "minimum_password_length"),
        ("PasswordReusePrevention", "password_reuse_prevention"),
    ] {
        if let Some(n) = value(name, "Integer").and_then(|v| v.as_i64()) {
            let mine = out.get(key).and_then(Value::as_i64).unwrap_or(0);
            let default = if key == "minimum_password_length" {
                14
            } else {
                24
            };
            let base = if out.contains_key(key) { mine } else { default };
            out.insert(key.into(), Value::from(base.max(n)));
        }
    }
    let custom_age =
        parameters.pointer("/MaxPasswordAge/ValueType") == Some(&Value::from("CUSTOM"));
    if let Some(n) = value("MaxPasswordAge", "Integer")
        .and_then(|v| v.as_i64())
        .filter(|_| custom_age)
    {
        let age = out
            .get("max_password_age")
            .and_then(Value::as_i64)
            .map_or(n, |mine| mine.min(n));
        out.insert("max_password_age".into(), Value::from(age));
    }
    Value::Object(out)
}

/// Why a plan may hurt people: an expiry added or shortened (every user
/// whose password is older must change it at the next sign-in, or is
/// locked out with HardExpiry).
pub fn expiry_reasons(current: &PasswordPolicy, after: &PasswordPolicy) -> Vec<String> {
    let lockout = if current.hard_expiry == Some(true) {
        " and HardExpiry is on: users whose password is older are locked out until an administrator resets it"
    } else {
        ": users whose password is older must change it at their next sign-in"
    };
    match (current.max_password_age, after.max_password_age) {
        (None, Some(age)) => vec![format!(
            "passwords would expire after {age} days where they did not expire (NIST SP 800-63B advises against forced periodic changes){lockout}"
        )],
        (Some(before), Some(age)) if age < before => vec![format!(
            "the password expiry would be shortened from {before} to {age} days{lockout}"
        )],
        _ => Vec::new(),
    }
}

pub struct IamSetPasswordPolicy {
    aws: Arc<Aws>,
}

impl IamSetPasswordPolicy {
    pub fn new(aws: Arc<Aws>) -> Self {
        IamSetPasswordPolicy { aws }
    }

    async fn client(&self, target: &Target) -> Result<aws_sdk_iam::Client, ActionError> {
        crate::actions::client_for(&self.aws, target, aws_sdk_iam::Client::new).await
    }
}

fn policy_of(state: &Value) -> Result<PasswordPolicy, ActionError> {
    serde_json::from_value(state.clone())
        .map_err(|e| ActionError::invalid(format!("{ID}: unexpected state: {e}")))
}

#[async_trait]
impl Action for IamSetPasswordPolicy {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        parse_params(params).map(|_| ())
    }

    // discover: the password policy is one per account: the account itself.
    crate::actions::account_setting_discover!();

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let desired = parse_params(params).map_err(ActionError::invalid)?;
        let iam = self.client(target).await?;
        let current = match iam.get_account_password_policy().send().await {
            Ok(out) => match out.password_policy() {
                Some(p) => PasswordPolicy {
                    exists: true,
                    minimum_password_length: p.minimum_password_length(),
                    require_symbols: p.require_symbols(),
                    require_numbers: p.require_numbers(),
                    require_uppercase: p.require_uppercase_characters(),
                    require_lowercase: p.require_lowercase_characters(),
                    allow_users_to_change_password: p.allow_users_to_change_password(),
                    max_password_age: p.max_password_age().filter(|&a| a > 0),
                    password_reuse_prevention: p.password_reuse_prevention().filter(|&n| n > 0),
                    hard_expiry: Some(p.hard_expiry().unwrap_or(false)),
                },
                None => PasswordPolicy::NONE,
            },
            Err(e) if code_of(&e) == Some("NoSuchEntity") => PasswordPolicy::NONE,
            Err(e) => {
                return Err(sdk_error_on(
                    "iam:GetAccountPasswordPolicy",
                    &format!("account {}", target.account),
                    e,
                ))
            }
        };
        Ok(Observed::new(
            complies(&current, &desired),
            &current,
            Default::default(),
        ))
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        let desired = parse_params(params).map_err(ActionError::invalid)?;
        let current = policy_of(&observed.state)?;
        let after = stricter(&current, &desired);
        let summary = if complies(&current, &desired) {
            format!(
                "the password policy of account {} is already strict enough",
                target.account
            )
        } else if current.exists {
            format!(
                "tighten the IAM password policy of account {}",
                target.account
            )
        } else {
            format!("set an IAM password policy on account {}", target.account)
        };
        Ok(Change::new(summary, observed.state.clone(), after))
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        parse_params(params).map_err(ActionError::invalid)?;
        let after = policy_of(&change.after)?;
        let iam = self.client(target).await?;
        write_policy(&iam, target, &after).await
    }

    fn intent(&self, _: &Target, params: &Value, observed: &Observed) -> Vec<String> {
        let (Ok(desired), Ok(current)) = (parse_params(params), policy_of(&observed.state)) else {
            return Vec::new();
        };
        expiry_reasons(&current, &stricter(&current, &desired))
    }

    /// EC2.18's authorized ports and IAM.7's values decide compliance.
    fn uses_control_parameters(&self) -> bool {
        true
    }

    fn with_control_parameters(&self, params: &Value, control: &str, parameters: &Value) -> Value {
        if control == "IAM.7" {
            with_parameters(params, parameters)
        } else {
            params.clone()
        }
    }

    /// The whole policy as it was, when it is still the one the change
    /// wrote.
    fn revert_plan(
        &self,
        target: &Target,
        _: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        let written = policy_of(&applied.after)?;
        let current = policy_of(&now.state)?;
        if written != current {
            return Err(ActionError::invalid(format!(
                "the password policy of account {} changed since rectify's change (rectify wrote {}; it is now {}); restore it by hand, rectify will not overwrite it",
                target.account, applied.after, now.state
            )));
        }
        let before = policy_of(&applied.before)?;
        let summary = if before.exists {
            format!(
                "restore the password policy of account {} as it was before rectify's change",
                target.account
            )
        } else {
            format!(
                "delete the password policy of account {}: it had none before rectify's change",
                target.account
            )
        };
        Ok(Change {
            summary,
            before: now.state.clone(),
            after: applied.before.clone(),
        })
    }

    async fn revert(&self, target: &Target, _: &Value, change: &Change) -> Result<(), ActionError> {
        let before = policy_of(&change.after)?;
        let iam = self.client(target).await?;
        if before.exists {
            return write_policy(&iam, target, &before).await;
        }
        match iam.delete_account_password_policy().send().await {
            Ok(_) => Ok(()),
            // Gone already: a rerun.
            Err(e) if code_of(&e) == Some("NoSuchEntity") => Ok(()),
            Err(e) => Err(sdk_error_on(
                "iam:DeleteAccountPasswordPolicy",
                &format!("account {}", target.account),
                e,
            )),
        }
    }
}

/// Writes `policy` whole (UpdateAccountPasswordPolicy resets what it is
/// not given).
async fn write_policy(
    iam: &aws_sdk_iam::Client,
    target: &Target,
    policy: &PasswordPolicy,
) -> Result<(), ActionError> {
    iam.update_account_password_policy()
        .set_minimum_password_length(policy.minimum_password_length)
        .require_symbols(policy.require_symbols)
        .require_numbers(policy.require_numbers)
        .require_uppercase_characters(policy.require_uppercase)
        .require_lowercase_characters(policy.require_lowercase)
        .allow_users_to_change_password(policy.allow_users_to_change_password)
        .set_max_password_age(policy.max_password_age)
        .set_password_reuse_prevention(policy.password_reuse_prevention)
        .set_hard_expiry(policy.hard_expiry)
        .send()
        .await
        .map_err(|e| {
            sdk_error_on(
                "iam:UpdateAccountPasswordPolicy",
                &format!("account {}", target.account),
                e,
            )
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn params() {
        let d = parse_params(&json!({})).unwrap();
        assert_eq!(d.minimum_password_length, 14);
        assert_eq!(d.max_password_age, None);
        assert_eq!(d.password_reuse_prevention, 24);
        assert!(d.require_symbols);
        assert_eq!(d.allow_users_to_change_password, None);
        let d = parse_params(&json!({"minimum_password_length": 16, "require_symbols": false}))
            .unwrap();
        assert_eq!((d.minimum_password_length, d.require_symbols), (16, false));
        assert_eq!(
            parse_params(&json!({"minimum_password_length": 5})).unwrap_err(),
            "params.minimum_password_length: expected an integer 6..128, got 5"
        );
        assert_eq!(
            parse_params(&json!({"max_password_age": 2000})).unwrap_err(),
            "params.max_password_age: expected an integer 1..1095, got 2000"
        );
        assert_eq!(
            parse_params(&json!({"password_reuse_prevention": 25})).unwrap_err(),
            "params.password_reuse_prevention: expected an integer 1..24, got 25"
        );
        assert_eq!(
            parse_params(&json!({"require_numbers": "yes"})).unwrap_err(),
            "params.require_numbers: expected a boolean, got \"yes\""
        );
        assert!(parse_params(&json!({"minimum_password_length": 14.5})).is_err());
        assert!(parse_params(&json!({"min_length": 14}))
            .unwrap_err()
            .starts_with("params.min_length: unknown param"));
    }

    #[test]
    fn never_loosens() {
        let desired = parse_params(&json!({})).unwrap();
        let current = PasswordPolicy {
            exists: true,
            minimum_password_length: Some(20),
            require_symbols: false,
            require_numbers: true,
            require_uppercase: true,
            require_lowercase: true,
            allow_users_to_change_password: false,
            max_password_age: Some(30),
            password_reuse_prevention: Some(5),
            hard_expiry: Some(true),
        };
        assert!(!complies(&current, &desired));
        let after = stricter(&current, &desired);
        assert_eq!(after.minimum_password_length, Some(20));
        assert!(after.require_symbols && !after.allow_users_to_change_password);
        assert_eq!(after.max_password_age, Some(30));
        assert_eq!(after.password_reuse_prevention, Some(24));
        assert_eq!(after.hard_expiry, Some(true));
        assert!(complies(&after, &desired));

        let after = stricter(&PasswordPolicy::NONE, &desired);
        assert_eq!(after.minimum_password_length, Some(14));
        assert_eq!(after.max_password_age, None);
        assert!(expiry_reasons(&PasswordPolicy::NONE, &after).is_empty());
        let with_age = parse_params(&json!({"max_password_age": 90})).unwrap();
        let aged = stricter(&PasswordPolicy::NONE, &with_age);
        assert_eq!(aged.max_password_age, Some(90));
        assert!(expiry_reasons(&PasswordPolicy::NONE, &aged)[0].contains("NIST"));
        assert_eq!(after.hard_expiry, Some(false));
        assert!(complies(&after, &desired));
        assert!(!complies(&PasswordPolicy::NONE, &desired));
    }

    #[test]
    fn control_parameters() {
        let defaults = json!({
            "RequireUppercaseCharacters": {"ValueType": "DEFAULT", "Value": {"Boolean": true}},
            "RequireSymbols": {"ValueType": "DEFAULT", "Value": {"Boolean": true}},
            "MinimumPasswordLength": {"ValueType": "DEFAULT", "Value": {"Integer": 8}},
            "MaxPasswordAge": {"ValueType": "DEFAULT"}
        });
        let p = with_parameters(&json!({"require_symbols": false}), &defaults);
        assert_eq!(p["require_symbols"], true);
        assert_eq!(p["minimum_password_length"], 14);
        assert!(p.get("max_password_age").is_none());
        let custom = json!({
            "MinimumPasswordLength": {"ValueType": "CUSTOM", "Value": {"Integer": 20}},
            "MaxPasswordAge": {"ValueType": "CUSTOM", "Value": {"Integer": 60}}
        });
        let p = with_parameters(&json!({}), &custom);
        assert_eq!(
            (
                p["minimum_password_length"].as_i64(),
                p["max_password_age"].as_i64()
            ),
            (Some(20), Some(60))
        );
        parse_params(&p).unwrap();
    }
}
