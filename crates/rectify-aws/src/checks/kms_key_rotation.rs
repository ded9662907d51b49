//! CIS 3.6 / KMS.4: rotation is on for customer managed symmetric keys
//! (AWS managed keys, asymmetric and HMAC keys, imported material and
//! keys pending deletion or disabled are not judged, as KMS.4 does not).

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};
use serde_json::json;

use crate::actions::collect_pages;
use crate::actions::kms::enable_key_rotation::out_of_scope;
use crate::errors::{sdk_error, sdk_error_on};
use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "kms.key-rotation",
    title: "Rotation is enabled for customer managed symmetric KMS keys",
    severity: Severity::Medium,
    resource_type: "AwsKmsKey",
    service: "kms",
    controls: &["KMS.4"],
    permissions: &[
        "kms:ListKeys",
        "kms:DescribeKey",
        "kms:GetKeyRotationStatus",
    ],
    account_wide: false,
};

pub struct KeyRotation(pub Arc<Aws>);

#[async_trait]
impl Check for KeyRotation {
    fn spec(&self) -> &'static CheckSpec {
        &SPEC
    }

    async fn run(
        &self,
        account: &str,
        region: &str,
        r: &ScanReads,
    ) -> Result<Vec<Verdict>, ActionError> {
        let config = self.0.config_for(account, region).await?;
        let kms = aws_sdk_kms::Client::new(&config);
        let keys: Vec<String> = collect_pages(|marker| {
            let request = kms.list_keys().limit(1000).set_marker(marker);
            r.call("kms", region, move || {
                let request = request.clone();
                async move {
                    let out = request
                        .send()
                        .await
                        .map_err(|e| sdk_error("kms:ListKeys", e))?;
                    let next = if out.truncated() {
                        out.next_marker().map(str::to_string)
                    } else {
                        None
                    };
                    Ok((
                        out.keys()
                            .iter()
                            .filter_map(|k| k.key_arn().map(str::to_string))
                            .collect(),
                        next,
                    ))
                }
            })
        })
        .await?;
        let judged = futures_util::future::join_all(keys.iter().map(|arn| {
            let kms = kms.clone();
            async move {
                let described = r
                    .call("kms", region, || async {
                        kms.describe_key()
                            .key_id(arn)
                            .send()
                            .await
                            .map_err(|e| sdk_error_on("kms:DescribeKey", arn, e))
                    })
                    .await?;
                let Some(meta) = described.key_metadata() else {
                    return Ok(None);
                };
                if out_of_scope(meta).is_some() {
                    return Ok(None);
                }
                let on = r
                    .call("kms", region, || async {
                        kms.get_key_rotation_status()
                            .key_id(arn)
                            .send()
                            .await
                            .map_err(|e| sdk_error_on("kms:GetKeyRotationStatus", arn, e))
                    })
                    .await?
                    .key_rotation_enabled();
                Ok::<_, ActionError>(Some(Verdict::new(
                    account,
                    region,
                    SPEC.resource_type,
                    arn.clone(),
                    on,
                    format!("key rotation {}", if on { "on" } else { "off" }),
                    json!({"KeyRotationEnabled": on}),
                )))
            }
        }))
        .await;
        judged.into_iter().filter_map(Result::transpose).collect()
    }
}
