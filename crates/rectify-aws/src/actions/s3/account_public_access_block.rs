//! `aws.s3.block-public-access-account`: turns on all four S3 Block Public
//! Access settings of the account (Security Hub S3.1, AWS Config
//! `s3-account-level-public-access-blocks-periodic`), which then hold for
//! every bucket of the account whatever its own settings, policy or ACLs.
//! One setting per account: it holds in every region.
//!
//! What may be meant: a bucket that serves a public website or public
//! downloads stops answering anonymous readers. Finding such buckets takes
//! calls per bucket (a listing, then each one's website and policy), more
//! than one fix should make, so the action does not look: the plan says
//! what the change does, and a rule that wants a person to look first
//! sets `mode: approve`. The settings as they were (or no configuration)
//! can be restored (`rectify jobs revert`).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3control::types::PublicAccessBlockConfiguration;
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::actions::s3::block_public_access::BlockPublicAccess;
use crate::actions::{changed_since, recorded, takes_no_params};
use crate::errors::{code_of, sdk_error_on};
use crate::Aws;

pub const ID: &str = "aws.s3.block-public-access-account";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Turn on all four S3 Block Public Access settings of the account.",
    controls: &["S3.1"],
    resource_types: &["AwsAccount"],
    account_wide: true,
    // S3 authorises DeletePublicAccessBlock (the undo of a configuration
    // made from none) as s3:PutAccountPublicAccessBlock.
    permissions: &[
        "s3:GetAccountPublicAccessBlock",
        "s3:PutAccountPublicAccessBlock",
    ],
    params: &[],
    // Get, Put, Get.
    calls_per_fix: 3,
    approval_by_default: false,
};

/// The account's settings, and whether it has a configuration at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct AccountSettings {
    #[serde(flatten)]
    flags: BlockPublicAccess,
    configured: bool,
}

impl AccountSettings {
    const ALL_ON: AccountSettings = AccountSettings {
        flags: BlockPublicAccess::ALL_ON,
        configured: true,
    };

    fn describe(&self) -> String {
        if !self.configured {
            return "no Block Public Access configuration".to_string();
        }
        let f = &self.flags;
        [
            ("BlockPublicAcls", f.block_public_acls),
            ("IgnorePublicAcls", f.ignore_public_acls),
            ("BlockPublicPolicy", f.block_public_policy),
            ("RestrictPublicBuckets", f.restrict_public_buckets),
        ]
        .iter()
        .map(|(name, on)| format!("{name} {}", if *on { "on" } else { "off" }))
        .collect::<Vec<_>>()
        .join(", ")
    }

    fn observed(self) -> Observed {
        Observed::new(
            self.configured && self.flags.all_on(),
            self,
            Default::default(),
        )
    }
}

pub struct S3AccountPublicAccessBlock {
    aws: Arc<Aws>,
}

impl S3AccountPublicAccessBlock {
    pub fn new(aws: Arc<Aws>) -> Self {
        S3AccountPublicAccessBlock { aws }
    }

    async fn client(&self, target: &Target) -> Result<aws_sdk_s3control::Client, ActionError> {
        let config = self.aws.config_for(&target.account, &target.region).await?;
        Ok(self.aws.s3control(&config))
    }

    async fn read(&self, target: &Target) -> Result<AccountSettings, ActionError> {
        let account = account_of(target)?;
        let s3control = self.client(target).await?;
        match s3control
            .get_public_access_block()
            .account_id(account)
            .send()
            .await
        {
            Ok(out) => {
                let c = out.public_access_block_configuration();
                let flag = |f: fn(&PublicAccessBlockConfiguration) -> Option<bool>| {
                    c.and_then(f).unwrap_or(false)
                };
                Ok(AccountSettings {
                    flags: BlockPublicAccess {
                        block_public_acls: flag(|c| c.block_public_acls()),
                        ignore_public_acls: flag(|c| c.ignore_public_acls()),
                        block_public_policy: flag(|c| c.block_public_policy()),
                        restrict_public_buckets: flag(|c| c.restrict_public_buckets()),
                    },
                    configured: true,
                })
            }
            Err(e) if code_of(&e) == Some("NoSuchPublicAccessBlockConfiguration") => {
                Ok(AccountSettings {
                    flags: BlockPublicAccess {
                        block_public_acls: false,
                        ignore_public_acls: false,
                        block_public_policy: false,
                        restrict_public_buckets: false,
                    },
                    configured: false,
                })
            }
            Err(e) => Err(sdk_error_on(
                "s3:GetAccountPublicAccessBlock",
                &format!("account {account}"),
                e,
            )),
        }
    }

    /// Puts `settings`, or deletes the configuration when they say none.
    async fn write(&self, target: &Target, settings: &AccountSettings) -> Result<(), ActionError> {
        let account = account_of(target)?;
        let s3control = self.client(target).await?;
        let here = format!("account {account}");
        if !settings.configured {
            s3control
                .delete_public_access_block()
                .account_id(account)
                .send()
                .await
                .map_err(|e| sdk_error_on("s3:PutAccountPublicAccessBlock", &here, e))?;
            return Ok(());
        }
        let f = settings.flags;
        let config = PublicAccessBlockConfiguration::builder()
            .block_public_acls(f.block_public_acls)
            .ignore_public_acls(f.ignore_public_acls)
            .block_public_policy(f.block_public_policy)
            .restrict_public_buckets(f.restrict_public_buckets)
            .build();
        s3control
            .put_public_access_block()
            .account_id(account)
            .public_access_block_configuration(config)
            .send()
            .await
            .map_err(|e| sdk_error_on("s3:PutAccountPublicAccessBlock", &here, e))?;
        Ok(())
    }
}

/// The account the target names: `AWS::::Account:<id>` of the target's
/// own account (a finding naming another account was refused before).
fn account_of(target: &Target) -> Result<&str, ActionError> {
    let account = target.account.as_str();
    let valid = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let named = target.resource_id.strip_prefix("AWS::::Account:");
    if !valid || named.is_some_and(|n| n != account) {
        return Err(ActionError::invalid(format!(
            "{ID}: target {} is not the account {account}",
            target.resource_id
        )));
    }
    Ok(account)
}

#[async_trait]
impl Action for S3AccountPublicAccessBlock {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    // discover: one setting per account: the account, in `region`.
    crate::actions::account_setting_discover!();

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        Ok(self.read(target).await?.observed())
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let account = account_of(target)?;
        let before: AccountSettings = recorded(&observed.state, ID)?;
        let summary = if before.configured && before.flags.all_on() {
            format!("S3 Block Public Access is already on for account {account}")
        } else {
            format!(
                "turn on all four S3 Block Public Access settings of account {account} (was: {}); \
                 every bucket of the account then refuses public access, whatever its own policy or ACLs",
                before.describe()
            )
        };
        Ok(Change::new(
            summary,
            observed.state.clone(),
            AccountSettings::ALL_ON,
        ))
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let after: AccountSettings = recorded(&change.after, ID)?;
        self.write(target, &after).await
    }

    /// Restores the settings recorded before `applied`, deleting the
    /// configuration when the account had none; refuses when they are no
    /// longer what `applied` left.
    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let account = account_of(target)?;
        let left: AccountSettings = recorded(&applied.after, ID)?;
        let restore: AccountSettings = recorded(&applied.before, ID)?;
        let current: AccountSettings = recorded(&now.state, ID)?;
        if current != left {
            return Err(changed_since(
                &format!("the Block Public Access of account {account}"),
                &json!(current.describe()),
                &json!(left.describe()),
            ));
        }
        let summary = if restore.configured {
            format!(
                "set the Block Public Access of account {account} back to {}",
                restore.describe()
            )
        } else {
            format!(
                "delete the Block Public Access configuration of account {account} (it had none before)"
            )
        };
        Ok(Change::new(summary, now.state.clone(), restore))
    }

    crate::actions::revert_by_apply!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;
    use crate::AwsSettings;

    #[tokio::test]
    async fn plan_and_undo_are_pure() {
        let a = S3AccountPublicAccessBlock::new(Arc::new(
            Aws::new(AwsSettings::new("us-east-1")).await,
        ));
        assert!(a.validate_params(&json!({})).is_ok());
        assert!(a.validate_params(&json!({"x": 1})).is_err());
        let t = target("AwsAccount", "AWS::::Account:111122223333", Value::Null);
        let none = AccountSettings {
            flags: BlockPublicAccess {
                block_public_acls: false,
                ignore_public_acls: false,
                block_public_policy: false,
                restrict_public_buckets: false,
            },
            configured: false,
        };
        let observed = none.observed();
        assert!(!observed.compliant);
        let change = a.plan(&t, &json!({}), &observed).unwrap();
        assert!(
            change.summary.contains("account 111122223333"),
            "{}",
            change.summary
        );
        assert_eq!(
            change.after,
            json!({"block_public_acls": true, "ignore_public_acls": true,
                "block_public_policy": true, "restrict_public_buckets": true, "configured": true})
        );
        assert!(a.intent(&t, &json!({}), &observed).is_empty());
        let now = AccountSettings::ALL_ON.observed();
        assert!(now.compliant);
        let undo = a.revert_plan(&t, &json!({}), &change, &now).unwrap();
        assert!(undo
            .summary
            .contains("delete the Block Public Access configuration"));
        assert_eq!(undo.after, change.before);
        let refused = a
            .revert_plan(&t, &json!({}), &change, &observed)
            .unwrap_err();
        assert!(
            refused.message.contains("has changed since"),
            "{}",
            refused.message
        );
        let other = target("AwsAccount", "AWS::::Account:444455556666", Value::Null);
        assert!(a.plan(&other, &json!({}), &observed).is_err());
    }
}
