//! `aws.iam.set-password-policy`: brings the account's IAM password policy
//! up to the configured strength (CIS 1.8; Security Hub IAM.7, IAM.11 to
//! IAM.17). A setting already stricter than asked is never loosened.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::{account_target, bool_param, int_param, params_object, reject_unknown};
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
            default: "true",
            doc: "Let users change their own password.",
        },
        ParamSpec {
            name: "max_password_age",
            kind: "integer",
            default: "90",
            doc: "Days before a password expires, 1..1095.",
        },
        ParamSpec {
            name: "password_reuse_prevention",
            kind: "integer",
            default: "24",
            doc: "Previous passwords that cannot be reused, 1..24.",
        },
    ],
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
    pub allow_users_to_change_password: bool,
    pub max_password_age: i32,
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
        allow_users_to_change_password: bool_param(&p, "allow_users_to_change_password", true)?,
        max_password_age: int_param(&p, "max_password_age", 1, 1095, 90)? as i32,
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
        && (current.allow_users_to_change_password || !desired.allow_users_to_change_password)
        && current
            .max_password_age
            .is_some_and(|age| age > 0 && age <= desired.max_password_age)
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
        allow_users_to_change_password: current.allow_users_to_change_password
            || desired.allow_users_to_change_password,
        max_password_age: Some(match current.max_password_age {
            Some(age) if age > 0 => age.min(desired.max_password_age),
            _ => desired.max_password_age,
        }),
        password_reuse_prevention: Some(
            current
                .password_reuse_prevention
                .unwrap_or(0)
                .max(desired.password_reuse_prevention),
        ),
        hard_expiry: Some(current.hard_expiry.unwrap_or(false)),
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
        let config = self.aws.config_for(&target.account, &target.region).await?;
        Ok(aws_sdk_iam::Client::new(&config))
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

    /// The password policy is one per account: the account itself.
    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        Ok(account_target(account, region))
    }

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
                    password_reuse_prevention: p.password_reuse_prevention(),
                    hard_expiry: p.hard_expiry(),
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
        Ok(Observed {
            compliant: complies(&current, &desired),
            state: serde_json::to_value(&current).expect("plain struct"),
            tags: Default::default(),
        })
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
        Ok(Change {
            summary,
            before: observed.state.clone(),
            after: serde_json::to_value(after).expect("plain struct"),
        })
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
        iam.update_account_password_policy()
            .set_minimum_password_length(after.minimum_password_length)
            .require_symbols(after.require_symbols)
            .require_numbers(after.require_numbers)
            .require_uppercase_characters(after.require_uppercase)
            .require_lowercase_characters(after.require_lowercase)
            .allow_users_to_change_password(after.allow_users_to_change_password)
            .set_max_password_age(after.max_password_age)
            .set_password_reuse_prevention(after.password_reuse_prevention)
            .set_hard_expiry(after.hard_expiry)
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn params() {
        let d = parse_params(&json!({})).unwrap();
        assert_eq!(d.minimum_password_length, 14);
        assert_eq!(d.max_password_age, 90);
        assert_eq!(d.password_reuse_prevention, 24);
        assert!(d.require_symbols && d.allow_users_to_change_password);
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
        assert!(after.require_symbols && after.allow_users_to_change_password);
        assert_eq!(after.max_password_age, Some(30));
        assert_eq!(after.password_reuse_prevention, Some(24));
        assert_eq!(after.hard_expiry, Some(true));
        assert!(complies(&after, &desired));

        let after = stricter(&PasswordPolicy::NONE, &desired);
        assert_eq!(after.minimum_password_length, Some(14));
        assert_eq!(after.max_password_age, Some(90));
        assert_eq!(after.hard_expiry, Some(false));
        assert!(complies(&after, &desired));
        assert!(!complies(&PasswordPolicy::NONE, &desired));
    }
}
