//! Bucket settings from AWS Config (a report-only `rectify scan`, unless
//! `--live`). Where a configuration recorder of the account's own records
//! S3 buckets continuously and is recording, a region's buckets are read
//! from their configuration items, 100 a call (`ListDiscoveredResources`,
//! then `BatchGetResourceConfig`), instead of one S3 call per setting and
//! bucket. An item says what Config recorded, which is what AWS's own S3
//! controls evaluate; a change Config has not recorded yet (usually
//! minutes) is judged as it was, so this is for reports only: a scan that
//! feeds the rules reads the buckets.
//!
//! What is not taken from an item, and read from S3 as without the
//! option: the bucket's tags (`BatchGetResourceConfig` filters them out
//! of its answer, and the exemption tag must be the bucket's own); a
//! bucket Config does not hold; an item whose status is not current
//! (`OK`, `ResourceDiscovered`) or that was recorded daily; a setting the
//! item states in a form not understood. A setting the item leaves out
//! is read as AWS's own Config rules read it: no Block Public Access
//! configuration, no default encryption, no website.
//! (AWS Config's resource schema of `AWS::S3::Bucket` names the
//! properties, in `supplementaryConfiguration`.)

use std::collections::HashMap;

use aws_sdk_config::types::{
    ConfigurationItemStatus, ConfigurationRecorder, ConfigurationRecorderStatus,
    RecordingFrequency, RecordingStrategyType, ResourceKey, ResourceType,
};
use aws_sdk_s3::types::{
    Grant, Grantee, LoggingEnabled, Permission, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Type,
};
use rectify_model::{ActionError, ScanReads, SettingsFrom};
use serde_json::Value;

use super::block_public_access::BlockPublicAccess;
use crate::checks::reads;
use crate::errors::sdk_error_on;
use crate::Aws;

/// What a configuration item of one bucket states. `None` in a field: the
/// item does not state it in a form understood (read it from S3).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RecordedBucket {
    pub public_access_block: Option<Option<BlockPublicAccess>>,
    pub encryption: Option<Option<ServerSideEncryptionConfiguration>>,
    pub website: Option<bool>,
    pub policy: Option<Option<Value>>,
    pub logging: Option<Option<LoggingEnabled>>,
    pub acl: Option<Vec<Grant>>,
}

/// The recorded buckets of one account and region, by name.
pub(crate) type RecordedBuckets = HashMap<String, RecordedBucket>;

fn key(account: &str, region: &str) -> String {
    format!("config:AWS::S3::Bucket/{account}/{region}")
}

/// One setting of `bucket` as its configuration item states it, when the
/// scan takes settings from AWS Config and holds the bucket's item.
pub(crate) fn setting<T>(
    scan: &ScanReads,
    account: &str,
    region: &str,
    bucket: &str,
    pick: impl FnOnce(&RecordedBucket) -> Option<T>,
) -> Option<T> {
    if !scan.recorded_settings() {
        return None;
    }
    let recorded = scan.made::<Option<RecordedBuckets>>(&key(account, region))?;
    pick(recorded.as_ref().as_ref()?.get(bucket)?)
}

/// Reads the configuration items of `listed` (the region's buckets) once
/// per scan, when the scan takes settings from AWS Config. Never fails:
/// where Config cannot serve, the reason is noted and the buckets are
/// read from S3.
pub(crate) async fn load(
    aws: &Aws,
    scan: &ScanReads,
    account: &str,
    region: &str,
    listed: &[String],
) {
    if !scan.recorded_settings() {
        return;
    }
    let at = format!("account {account} in {region}");
    // Errors become a note and `None`: the read itself never fails.
    let _ = scan
        .once(&key(account, region), || async {
            let recorded = match recorded_buckets(aws, scan, account, region).await {
                Ok(Some(recorded)) => recorded,
                Ok(None) => {
                    // Where Config was not asked for by name, reading the
                    // buckets themselves is simply the way: nothing to say.
                    if scan.settings_from() == SettingsFrom::Config {
                        scan.note(format!(
                            "{at}: bucket settings read from S3: no configuration recorder of the account's own records S3 buckets continuously and is recording there"
                        ));
                    }
                    return Ok::<_, ActionError>(None);
                }
                Err(e) => {
                    scan.note(format!(
                        "{at}: bucket settings read from S3: AWS Config could not be read ({}; --live reads S3 without asking Config)",
                        e.message
                    ));
                    return Ok(None);
                }
            };
            let held = listed.iter().filter(|b| recorded.contains_key(*b)).count();
            scan.count_recorded(held as u64);
            if held < listed.len() {
                scan.note(format!(
                    "{at}: {} of {} buckets have no current configuration item in AWS Config: read from S3",
                    listed.len() - held,
                    listed.len()
                ));
            }
            Ok(Some(recorded))
        })
        .await;
}

/// Whether a recorder records S3 buckets continuously and is recording.
pub(crate) fn records_buckets(
    recorders: &[ConfigurationRecorder],
    statuses: &[ConfigurationRecorderStatus],
) -> bool {
    let bucket = ResourceType::Bucket;
    recorders.iter().any(|rec| {
        // A service-linked recorder records for its service, in a scope
        // of its own: only the account's recorder is relied on.
        let own = rec.service_principal().is_none();
        let recorded = rec.recording_group().is_some_and(|g| {
            match g.recording_strategy().and_then(|s| s.use_only()) {
                Some(RecordingStrategyType::ExclusionByResourceTypes) => !g
                    .exclusion_by_resource_types()
                    .is_some_and(|e| e.resource_types().contains(&bucket)),
                Some(RecordingStrategyType::InclusionByResourceTypes) => {
                    g.resource_types().contains(&bucket)
                }
                _ => g.all_supported() || g.resource_types().contains(&bucket),
            }
        });
        let continuous = rec.recording_mode().is_none_or(|m| {
            let frequency = m
                .recording_mode_overrides()
                .iter()
                .find(|o| o.resource_types().contains(&bucket))
                .map_or(m.recording_frequency(), |o| o.recording_frequency());
            *frequency == RecordingFrequency::Continuous
        });
        let recording = statuses.iter().any(|s| {
            s.name() == rec.name()
                && s.recording()
                && s.last_status().is_none_or(|l| l.as_str() != "Failure")
        });
        own && recorded && continuous && recording
    })
}

/// Every current configuration item of the region's buckets; `None`:
/// Config does not record buckets continuously there.
async fn recorded_buckets(
    aws: &Aws,
    scan: &ScanReads,
    account: &str,
    region: &str,
) -> Result<Option<RecordedBuckets>, ActionError> {
    let recorders = reads::config_recorders(aws, scan, account, region).await?;
    if !records_buckets(&recorders.recorders, &recorders.statuses) {
        return Ok(None);
    }
    let config = aws.config_for(account, region).await?;
    let client = aws_sdk_config::Client::new(&config);
    let at = format!("account {account} in {region}");
    let at = at.as_str();
    let ids: Vec<String> = reads::paged(
        scan,
        "config",
        region,
        |token| {
            client
                .list_discovered_resources()
                .resource_type(ResourceType::Bucket)
                .limit(100)
                .set_next_token(token)
        },
        |request| async move {
            let out = request
                .send()
                .await
                .map_err(|e| sdk_error_on("config:ListDiscoveredResources", at, e))?;
            let ids = out
                .resource_identifiers()
                .iter()
                .filter(|r| r.resource_deletion_time().is_none())
                .filter_map(|r| r.resource_id().map(str::to_string))
                .collect();
            Ok((ids, out.next_token().map(str::to_string)))
        },
    )
    .await?;
    let batches = futures_util::future::join_all(ids.chunks(100).map(|chunk| {
        let keys: Vec<ResourceKey> = chunk
            .iter()
            .filter_map(|id| {
                ResourceKey::builder()
                    .resource_type(ResourceType::Bucket)
                    .resource_id(id)
                    .build()
                    .ok()
            })
            .collect();
        let client = &client;
        scan.call("config", region, move || {
            let request = client
                .batch_get_resource_config()
                .set_resource_keys(Some(keys.clone()));
            async move {
                request
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("config:BatchGetResourceConfig", at, e))
            }
        })
    }))
    .await;
    let mut recorded = RecordedBuckets::new();
    for batch in batches {
        for item in batch?.base_configuration_items() {
            let current = item.configuration_item_status().is_some_and(|s| {
                matches!(
                    s,
                    ConfigurationItemStatus::Ok | ConfigurationItemStatus::ResourceDiscovered
                )
            });
            let here =
                item.aws_region() == Some(region) && item.account_id().is_none_or(|a| a == account);
            let continuous = item
                .recording_frequency()
                .is_none_or(|f| *f == RecordingFrequency::Continuous);
            let (Some(name), true, true, true) = (item.resource_id(), current, here, continuous)
            else {
                continue;
            };
            let empty = HashMap::new();
            let supplementary = item.supplementary_configuration().unwrap_or(&empty);
            recorded.insert(name.to_string(), bucket_of(name, supplementary));
        }
    }
    Ok(Some(recorded))
}

/// A supplementary configuration value: JSON text (the ACL's is JSON text
/// inside a JSON string). `None`: absent; `Some(None)`: not JSON.
fn value(supplementary: &HashMap<String, String>, name: &str) -> Option<Option<Value>> {
    let text = supplementary.get(name)?;
    let value = match serde_json::from_str::<Value>(text) {
        Ok(Value::String(inner)) => serde_json::from_str(&inner).ok(),
        Ok(v) => Some(v),
        Err(_) => None,
    };
    Some(value)
}

/// What the item of `bucket` states, from its supplementary configuration.
pub(crate) fn bucket_of(bucket: &str, supplementary: &HashMap<String, String>) -> RecordedBucket {
    RecordedBucket {
        public_access_block: match value(supplementary, "PublicAccessBlockConfiguration") {
            None => Some(None),
            Some(v) => v.and_then(|v| public_access_block(&v)).map(Some),
        },
        encryption: match value(supplementary, "ServerSideEncryptionConfiguration") {
            None => Some(None),
            Some(v) => v.and_then(|v| encryption(&v)).map(Some),
        },
        website: match value(supplementary, "BucketWebsiteConfiguration") {
            None => Some(false),
            Some(v) => v.map(|v| v.is_object()),
        },
        policy: value(supplementary, "BucketPolicy")
            .flatten()
            .and_then(|v| policy(bucket, &v)),
        logging: value(supplementary, "BucketLoggingConfiguration")
            .flatten()
            .and_then(|v| logging(&v)),
        acl: value(supplementary, "AccessControlList")
            .flatten()
            .and_then(|v| grants(&v)),
    }
}

fn public_access_block(v: &Value) -> Option<BlockPublicAccess> {
    let flag = |name: &str| match v.get(name) {
        None | Some(Value::Null) => Some(false),
        Some(b) => b.as_bool(),
    };
    Some(BlockPublicAccess {
        block_public_acls: flag("blockPublicAcls")?,
        ignore_public_acls: flag("ignorePublicAcls")?,
        block_public_policy: flag("blockPublicPolicy")?,
        restrict_public_buckets: flag("restrictPublicBuckets")?,
    })
}

fn encryption(v: &Value) -> Option<ServerSideEncryptionConfiguration> {
    let mut rules = Vec::new();
    for rule in v.get("rules")?.as_array()? {
        let default = rule.get("applyServerSideEncryptionByDefault")?;
        let algorithm = default.get("sseAlgorithm")?.as_str()?;
        let by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::from(algorithm))
            .set_kms_master_key_id(
                default
                    .get("kmsMasterKeyID")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            )
            .build()
            .ok()?;
        rules.push(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(by_default)
                .set_bucket_key_enabled(rule.get("bucketKeyEnabled").and_then(Value::as_bool))
                .build(),
        );
    }
    ServerSideEncryptionConfiguration::builder()
        .set_rules(Some(rules))
        .build()
        .ok()
}

fn policy(bucket: &str, v: &Value) -> Option<Option<Value>> {
    match v.get("policyText")? {
        Value::Null => Some(None),
        Value::String(text) => {
            crate::actions::resource_policy::parse(text, &format!("bucket {bucket}"))
                .ok()
                .map(Some)
        }
        _ => None,
    }
}

fn logging(v: &Value) -> Option<Option<LoggingEnabled>> {
    match v.get("destinationBucketName")? {
        Value::Null => Some(None),
        Value::String(target) => LoggingEnabled::builder()
            .target_bucket(target)
            .target_prefix(v.get("logFilePrefix").and_then(Value::as_str).unwrap_or(""))
            .build()
            .ok()
            .map(Some),
        _ => None,
    }
}

/// The ACL's grants as S3 answers them: groups by their URIs, users by
/// canonical id; any grantee or permission not understood: `None`.
fn grants(v: &Value) -> Option<Vec<Grant>> {
    let mut grants = Vec::new();
    for grant in v.get("grantList")?.as_array()? {
        let grantee = match grant.get("grantee")? {
            Value::String(group) => {
                let uri = match group.as_str() {
                    "AllUsers" => "http://acs.amazonaws.com/groups/global/AllUsers",
                    "AuthenticatedUsers" => {
                        "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
                    }
                    "LogDelivery" => "http://acs.amazonaws.com/groups/s3/LogDelivery",
                    _ => return None,
                };
                Grantee::builder()
                    .r#type(Type::Group)
                    .uri(uri)
                    .build()
                    .ok()?
            }
            Value::Object(user) => Grantee::builder()
                .r#type(Type::CanonicalUser)
                .id(user.get("id")?.as_str()?)
                .build()
                .ok()?,
            _ => return None,
        };
        let permission = match grant.get("permission")?.as_str()? {
            "FullControl" => Permission::FullControl,
            "Read" => Permission::Read,
            "Write" => Permission::Write,
            "ReadAcp" => Permission::ReadAcp,
            "WriteAcp" => Permission::WriteAcp,
            _ => return None,
        };
        grants.push(
            Grant::builder()
                .grantee(grantee)
                .permission(permission)
                .build(),
        );
    }
    Some(grants)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(entries: &[(&str, Value)]) -> HashMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn what_an_item_leaves_out_is_read_as_aws_config_rules_read_it() {
        let b = bucket_of(
            "plain",
            &item(&[
                ("BucketPolicy", json!({"policyText": null})),
                (
                    "BucketLoggingConfiguration",
                    json!({"destinationBucketName": null, "logFilePrefix": null}),
                ),
            ]),
        );
        assert_eq!(b.public_access_block, Some(None));
        assert_eq!(b.encryption, Some(None));
        assert_eq!(b.website, Some(false));
        assert_eq!(b.policy, Some(None));
        assert_eq!(b.logging, Some(None));
        // No ACL stated: read from S3.
        assert_eq!(b.acl, None);
    }

    #[test]
    fn every_setting_an_item_states_is_read() {
        let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]});
        let acl = json!({"grantSet": null, "grantList": [
            {"grantee": {"id": "abc", "displayName": null}, "permission": "FullControl"},
            {"grantee": "AllUsers", "permission": "Read"}
        ], "owner": {"id": "abc"}, "isRequesterCharged": false});
        let b = bucket_of(
            "b",
            &item(&[
                (
                    "PublicAccessBlockConfiguration",
                    json!({"blockPublicAcls": true, "ignorePublicAcls": false, "blockPublicPolicy": true, "restrictPublicBuckets": true}),
                ),
                (
                    "ServerSideEncryptionConfiguration",
                    json!({"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyID": "arn:aws:kms:us-east-1:111122223333:key/k"}, "bucketKeyEnabled": true}]}),
                ),
                (
                    "BucketWebsiteConfiguration",
                    json!({"indexDocumentSuffix": "index.html"}),
                ),
                ("BucketPolicy", json!({"policyText": policy.to_string()})),
                (
                    "BucketLoggingConfiguration",
                    json!({"destinationBucketName": "logs", "logFilePrefix": "b/"}),
                ),
                // JSON text inside a JSON string, as AWS Config gives it.
                ("AccessControlList", Value::String(acl.to_string())),
            ]),
        );
        let pab = b.public_access_block.unwrap().unwrap();
        assert!(pab.block_public_acls && !pab.ignore_public_acls);
        let encryption = b.encryption.unwrap().unwrap();
        let rule = &encryption.rules()[0];
        let by_default = rule.apply_server_side_encryption_by_default().unwrap();
        assert_eq!(by_default.sse_algorithm(), &ServerSideEncryption::AwsKms);
        assert_eq!(
            by_default.kms_master_key_id(),
            Some("arn:aws:kms:us-east-1:111122223333:key/k")
        );
        assert_eq!(rule.bucket_key_enabled(), Some(true));
        assert_eq!(b.website, Some(true));
        assert_eq!(b.policy, Some(Some(policy)));
        let logging = b.logging.unwrap().unwrap();
        assert_eq!(
            (logging.target_bucket(), logging.target_prefix()),
            ("logs", "b/")
        );
        let grants = b.acl.unwrap();
        assert_eq!(grants.len(), 2);
        assert_eq!(grants[0].grantee().unwrap().id(), Some("abc"));
        assert_eq!(
            grants[1].grantee().unwrap().uri(),
            Some("http://acs.amazonaws.com/groups/global/AllUsers")
        );
        assert_eq!(grants[1].permission(), Some(&Permission::Read));
    }

    #[test]
    fn a_setting_stated_in_a_form_not_understood_is_read_from_s3() {
        let b = bucket_of(
            "b",
            &item(&[
                (
                    "PublicAccessBlockConfiguration",
                    json!({"blockPublicAcls": "yes"}),
                ),
                ("ServerSideEncryptionConfiguration", json!({"rules": [{}]})),
                ("BucketPolicy", json!({"policyText": "not json"})),
                ("BucketLoggingConfiguration", json!({})),
                (
                    "AccessControlList",
                    json!({"grantList": [{"grantee": "Everyone", "permission": "Read"}]}),
                ),
            ]),
        );
        assert_eq!(
            b,
            RecordedBucket {
                website: Some(false),
                ..RecordedBucket::default()
            }
        );
        // Not JSON at all.
        let mut raw = HashMap::new();
        raw.insert("BucketWebsiteConfiguration".to_string(), "{".to_string());
        assert_eq!(bucket_of("b", &raw).website, None);
    }

    fn recorder(group: aws_sdk_config::types::RecordingGroup) -> ConfigurationRecorder {
        ConfigurationRecorder::builder()
            .name("default")
            .recording_group(group)
            .build()
    }

    fn recording(on: bool) -> ConfigurationRecorderStatus {
        ConfigurationRecorderStatus::builder()
            .name("default")
            .recording(on)
            .build()
    }

    #[test]
    fn only_a_recorder_of_buckets_that_records_continuously_is_relied_on() {
        use aws_sdk_config::types::{
            ExclusionByResourceTypes, RecordingGroup, RecordingMode, RecordingModeOverride,
            RecordingStrategy,
        };
        let all = RecordingGroup::builder().all_supported(true).build();
        assert!(records_buckets(
            &[recorder(all.clone())],
            &[recording(true)]
        ));
        assert!(!records_buckets(
            &[recorder(all.clone())],
            &[recording(false)]
        ));
        assert!(!records_buckets(&[recorder(all.clone())], &[]));
        let only_groups = RecordingGroup::builder()
            .resource_types(ResourceType::SecurityGroup)
            .recording_strategy(
                RecordingStrategy::builder()
                    .use_only(RecordingStrategyType::InclusionByResourceTypes)
                    .build(),
            )
            .build();
        assert!(!records_buckets(
            &[recorder(only_groups)],
            &[recording(true)]
        ));
        let but_buckets = RecordingGroup::builder()
            .exclusion_by_resource_types(
                ExclusionByResourceTypes::builder()
                    .resource_types(ResourceType::Bucket)
                    .build(),
            )
            .recording_strategy(
                RecordingStrategy::builder()
                    .use_only(RecordingStrategyType::ExclusionByResourceTypes)
                    .build(),
            )
            .build();
        assert!(!records_buckets(
            &[recorder(but_buckets)],
            &[recording(true)]
        ));
        let daily_buckets = ConfigurationRecorder::builder()
            .name("default")
            .recording_group(all.clone())
            .recording_mode(
                RecordingMode::builder()
                    .recording_frequency(RecordingFrequency::Continuous)
                    .recording_mode_overrides(
                        RecordingModeOverride::builder()
                            .resource_types(ResourceType::Bucket)
                            .recording_frequency(RecordingFrequency::Daily)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .build();
        assert!(!records_buckets(&[daily_buckets], &[recording(true)]));
        let service_linked = ConfigurationRecorder::builder()
            .name("default")
            .service_principal("securityhub.amazonaws.com")
            .recording_group(all)
            .build();
        assert!(!records_buckets(&[service_linked], &[recording(true)]));
    }
}
