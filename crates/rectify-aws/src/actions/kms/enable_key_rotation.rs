//! `aws.kms.enable-key-rotation`: turns on automatic rotation of a
//! customer managed symmetric KMS key (Security Hub KMS.4, AWS Config
//! `cmk-backing-key-rotation-enabled`). Keys the control does not cover
//! are left as they are and reported: AWS managed keys (AWS rotates them),
//! asymmetric and HMAC keys, keys with imported material or in a custom
//! key store (KMS cannot rotate them), and keys not enabled. Rotation
//! keeps every older key material for decryption: nothing that uses the
//! key changes. The undo turns rotation off again (`DisableKeyRotation`).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_kms::types::{KeyManagerType, KeySpec, KeyState, OriginType};
use rectify_model::{Action, ActionError, ActionSpec, Change, Event, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::event_resources::{bad_id, plain_name, target_of};
use crate::actions::{changed_since, client_for, collect_pages, recorded, takes_no_params};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.kms.enable-key-rotation";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Turn on automatic rotation of a customer managed symmetric KMS key.",
    controls: &["KMS.4"],
    resource_types: &["AwsKmsKey"],
    account_wide: false,
    permissions: &[
        "kms:DescribeKey",
        "kms:GetKeyRotationStatus",
        "kms:EnableKeyRotation",
        "kms:DisableKeyRotation",
        "kms:ListKeys",
    ],
    params: &[],
    // DescribeKey, GetKeyRotationStatus, EnableKeyRotation, then
    // GetKeyRotationStatus (the read-back of what the write changed).
    calls_per_fix: 4,
    approval_by_default: false,
};

/// The key as `check` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct KeyRotation {
    key: String,
    /// Why the control does not cover the key (then nothing is done).
    out_of_scope: Option<String>,
    /// `GetKeyRotationStatus`; `None` for keys out of scope.
    rotation: Option<bool>,
}

fn key_arn(target: &Target) -> Result<&str, ActionError> {
    let id = target.resource_id.as_str();
    let key = target.resource_name();
    if !id.starts_with("arn:") || !id.contains(":key/") || plain_name(key, 64, "-").is_none() {
        return Err(bad_id(ID, "KMS key", target));
    }
    Ok(id)
}

/// Why KMS.4 does not cover a key, if it does not.
pub(crate) fn out_of_scope(meta: &aws_sdk_kms::types::KeyMetadata) -> Option<String> {
    if meta.key_manager() == Some(&KeyManagerType::Aws) {
        return Some("an AWS managed key (AWS rotates it every year)".into());
    }
    match meta.key_spec() {
        Some(KeySpec::SymmetricDefault) | None => {}
        Some(spec) => {
            return Some(format!(
                "a {} key (KMS rotates symmetric encryption keys only)",
                spec.as_str()
            ))
        }
    }
    match meta.origin() {
        Some(OriginType::AwsKms) | None => {}
        Some(OriginType::External) => {
            return Some("a key with imported material (rotate it by hand)".into())
        }
        Some(other) => {
            return Some(format!(
                "a key of origin {} (KMS cannot rotate keys in a custom key store)",
                other.as_str()
            ))
        }
    }
    match meta.key_state() {
        Some(KeyState::Enabled) | None => None,
        Some(state) => Some(format!(
            "a key in state {} (rotation can be turned on once it is enabled)",
            state.as_str()
        )),
    }
}

pub struct KmsEnableKeyRotation {
    aws: Arc<Aws>,
}

impl KmsEnableKeyRotation {
    pub fn new(aws: Arc<Aws>) -> Self {
        KmsEnableKeyRotation { aws }
    }

    async fn client(&self, target: &Target) -> Result<aws_sdk_kms::Client, ActionError> {
        client_for(&self.aws, target, aws_sdk_kms::Client::new).await
    }

    /// Turns rotation on or off.
    async fn write(&self, target: &Target, on: bool) -> Result<(), ActionError> {
        let key = key_arn(target)?;
        let kms = self.client(target).await?;
        if on {
            kms.enable_key_rotation()
                .key_id(key)
                .send()
                .await
                .map_err(|e| sdk_error_on("kms:EnableKeyRotation", key, e))?;
        } else {
            kms.disable_key_rotation()
                .key_id(key)
                .send()
                .await
                .map_err(|e| sdk_error_on("kms:DisableKeyRotation", key, e))?;
        }
        Ok(())
    }

    async fn list_keys(&self, kms: &aws_sdk_kms::Client) -> Result<Vec<String>, ActionError> {
        collect_pages(|marker| {
            let request = kms.list_keys().set_marker(marker);
            async move {
                let out = request
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("kms:ListKeys", "the account's keys", e))?;
                let arns = out
                    .keys()
                    .iter()
                    .filter_map(|k| k.key_arn().map(str::to_string))
                    .collect();
                let next = out
                    .truncated()
                    .then(|| out.next_marker().map(str::to_string));
                Ok((arns, next.flatten()))
            }
        })
        .await
    }
}

#[async_trait]
impl Action for KmsEnableKeyRotation {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    /// A finding's key; the key of a `DisableKeyRotation` call
    /// (`requestParameters.keyId`, an id or an ARN); the key of a Config
    /// evaluation (`AWS::KMS::Key`, by id).
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        let arn = |p: &crate::actions::event_resources::Place, id: &str| {
            if id.starts_with("arn:") {
                return Some(id.to_string());
            }
            plain_name(id, 64, "-").map(|k| p.arn("kms", &format!("key/{k}")))
        };
        target_of(
            event,
            SPEC.resource_types,
            "AwsKmsKey",
            |p, d| arn(p, d["requestParameters"]["keyId"].as_str()?),
            "AWS::KMS::Key",
            arn,
        )
    }

    async fn inventory(&self, target: &Target, _: &Value) -> Result<Option<u64>, ActionError> {
        let kms = self.client(target).await?;
        Ok(Some(self.list_keys(&kms).await?.len() as u64))
    }

    /// The account's customer managed keys that rotation applies to.
    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        let config = self.aws.config_for(account, region).await?;
        let kms = aws_sdk_kms::Client::new(&config);
        let mut found = Vec::new();
        for arn in self.list_keys(&kms).await? {
            let out = kms
                .describe_key()
                .key_id(&arn)
                .send()
                .await
                .map_err(|e| sdk_error_on("kms:DescribeKey", &arn, e))?;
            if out
                .key_metadata()
                .is_some_and(|m| out_of_scope(m).is_none())
            {
                found.push(Target::listed(account, region, "AwsKmsKey", arn));
            }
        }
        Ok(found)
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let key = key_arn(target)?;
        let kms = self.client(target).await?;
        let out = kms
            .describe_key()
            .key_id(key)
            .send()
            .await
            .map_err(|e| sdk_error_on("kms:DescribeKey", key, e))?;
        let meta = out.key_metadata().ok_or_else(|| {
            ActionError::invalid(format!("kms:DescribeKey on {key}: no metadata"))
        })?;
        if let Some(owner) = meta.aws_account_id().filter(|a| *a != target.account) {
            return Err(ActionError::invalid(format!(
                "KMS key {key} belongs to account {owner}, not {}; refused",
                target.account
            )));
        }
        let scope = out_of_scope(meta);
        let rotation = match scope {
            Some(_) => None,
            None => Some(
                kms.get_key_rotation_status()
                    .key_id(key)
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("kms:GetKeyRotationStatus", key, e))?
                    .key_rotation_enabled(),
            ),
        };
        let state = KeyRotation {
            key: key.to_string(),
            out_of_scope: scope,
            rotation,
        };
        Ok(Observed::new(
            state.out_of_scope.is_some() || state.rotation == Some(true),
            state,
            Default::default(),
        ))
    }

    /// Reads back only what the write changed: the key's rotation status
    /// (a key out of scope is compliant at the check and never written).
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let key = key_arn(target)?;
        let rotation = self
            .client(target)
            .await?
            .get_key_rotation_status()
            .key_id(key)
            .send()
            .await
            .map_err(|e| sdk_error_on("kms:GetKeyRotationStatus", key, e))?
            .key_rotation_enabled();
        let state = KeyRotation {
            key: key.to_string(),
            out_of_scope: None,
            rotation: Some(rotation),
        };
        Ok(Observed::new(rotation, state, Default::default()))
    }

    fn plan(&self, _: &Target, params: &Value, observed: &Observed) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let before: KeyRotation = recorded(&observed.state, ID)?;
        let summary = match (&before.out_of_scope, before.rotation) {
            (Some(why), _) => format!("KMS key {} is {why}: left as it is", before.key),
            (None, Some(true)) => format!("automatic rotation of KMS key {} is already on", before.key),
            (None, _) => format!(
                "turn on automatic rotation of KMS key {} (yearly; older key material stays for decryption)",
                before.key
            ),
        };
        let after = KeyRotation {
            rotation: before
                .out_of_scope
                .is_none()
                .then_some(true)
                .or(before.rotation),
            ..before
        };
        Ok(Change::new(summary, observed.state.clone(), after))
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let after: KeyRotation = recorded(&change.after, ID)?;
        if after.rotation == Some(true) {
            self.write(target, true).await?;
        }
        Ok(())
    }

    fn left_in_place(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        match recorded::<KeyRotation>(&observed.state, ID) {
            Ok(KeyRotation {
                key,
                out_of_scope: Some(why),
                ..
            }) => vec![format!(
                "KMS key {key} is {why}: KMS.4 covers customer managed symmetric keys with KMS key material; rotation left as it is"
            )],
            _ => Vec::new(),
        }
    }

    /// Turns rotation off again; refused when it is no longer on.
    fn revert_plan(
        &self,
        _: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let left: KeyRotation = recorded(&applied.after, ID)?;
        let found: KeyRotation = recorded(&applied.before, ID)?;
        let current: KeyRotation = recorded(&now.state, ID)?;
        if current.rotation != left.rotation {
            return Err(changed_since(
                &format!("automatic rotation of KMS key {}", current.key),
                &serde_json::to_value(&current).expect("plain struct"),
                &serde_json::to_value(&left).expect("plain struct"),
            ));
        }
        Ok(Change {
            summary: format!(
                "turn automatic rotation of KMS key {} back {}",
                current.key,
                if found.rotation == Some(true) {
                    "on"
                } else {
                    "off"
                }
            ),
            before: now.state.clone(),
            after: serde_json::to_value(KeyRotation {
                rotation: found.rotation,
                ..current
            })
            .expect("plain struct"),
        })
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let before: KeyRotation = recorded(&change.before, ID)?;
        let after: KeyRotation = recorded(&change.after, ID)?;
        match after.rotation {
            Some(on) if before.rotation != Some(on) => self.write(target, on).await,
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;
    use aws_sdk_kms::types::KeyMetadata;

    #[test]
    fn scope_and_ids() {
        let meta = |manager, spec, origin| {
            KeyMetadata::builder()
                .key_id("k")
                .key_manager(manager)
                .key_spec(spec)
                .origin(origin)
                .key_state(KeyState::Enabled)
                .build()
                .unwrap()
        };
        let customer = meta(
            KeyManagerType::Customer,
            KeySpec::SymmetricDefault,
            OriginType::AwsKms,
        );
        assert_eq!(out_of_scope(&customer), None);
        let aws = meta(
            KeyManagerType::Aws,
            KeySpec::SymmetricDefault,
            OriginType::AwsKms,
        );
        assert!(out_of_scope(&aws).unwrap().contains("AWS managed"));
        let rsa = meta(
            KeyManagerType::Customer,
            KeySpec::Rsa2048,
            OriginType::AwsKms,
        );
        assert!(out_of_scope(&rsa).unwrap().contains("RSA_2048"));
        let hmac = meta(
            KeyManagerType::Customer,
            KeySpec::Hmac256,
            OriginType::AwsKms,
        );
        assert!(out_of_scope(&hmac).is_some());
        let imported = meta(
            KeyManagerType::Customer,
            KeySpec::SymmetricDefault,
            OriginType::External,
        );
        assert!(out_of_scope(&imported).unwrap().contains("imported"));
        let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab";
        assert!(key_arn(&target("AwsKmsKey", arn, Value::Null)).is_ok());
        assert!(key_arn(&target(
            "AwsKmsKey",
            "arn:aws:kms:us-east-1:111122223333:alias/x",
            Value::Null
        ))
        .is_err());
        assert!(key_arn(&target("AwsKmsKey", "1234abcd", Value::Null)).is_err());
    }
}
