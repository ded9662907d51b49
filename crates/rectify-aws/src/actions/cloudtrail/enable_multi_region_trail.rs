//! `aws.cloudtrail.enable-multi-region-trail`: makes CloudTrail record
//! the read and write management events of every region of the account
//! (Security Hub CloudTrail.1, AWS Config rule
//! multi-region-cloudtrail-enabled). The account passes when one
//! multi-region trail (its own, or an organization trail) is logging and
//! its event selectors record all management events: a classic selector
//! `ReadWriteType: All` with `IncludeManagementEvents` and no excluded
//! event sources, or an advanced selector on `eventCategory = Management`
//! alone (no `readOnly` or `eventSource` narrowing).
//!
//! The least change that passes is made: a stopped multi-region trail of
//! the account is started; a multi-region trail that records too little
//! gets a management selector beside its data-event selectors (a change
//! of what someone configured: the job waits for approval, with the
//! reason); otherwise a new multi-region trail is created, writing to the
//! bucket of param `bucket`, made by rectify when `create_bucket` is set.
//! Every step is undone by `rectify jobs revert`, refused when the trail
//! changed since.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_cloudtrail::types::{
    AdvancedEventSelector, AdvancedFieldSelector, DataResource, EventSelector, ReadWriteType,
};
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{check_key_param, key_in_home_region, trail_tags, valid_trail_name};
use crate::actions::account_region as where_;
use crate::actions::s3::{s3_client, valid_bucket_name};
use crate::actions::{
    bool_param, changed_since, params_object, recorded, reject_unknown, string_param,
};
use crate::errors::{code_of, sdk_error_on};
use crate::Aws;

pub const ID: &str = "aws.cloudtrail.enable-multi-region-trail";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Make a multi-region CloudTrail trail log read and write management events: start it, complete its selectors, or create one (and its bucket).",
    controls: &["CloudTrail.1"],
    resource_types: &["AwsAccount"],
    account_wide: false,
    permissions: &[
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:GetEventSelectors",
        "cloudtrail:GetTrail",
        "cloudtrail:ListTags",
        "cloudtrail:CreateTrail",
        "cloudtrail:PutEventSelectors",
        "cloudtrail:StartLogging",
        "cloudtrail:StopLogging",
        "cloudtrail:DeleteTrail",
        "s3:ListBucket",
        "s3:CreateBucket",
        "s3:PutBucketPublicAccessBlock",
        "s3:PutEncryptionConfiguration",
        "s3:PutBucketPolicy",
        "s3:DeleteBucket",
    ],
    params: &[
        ParamSpec {
            name: "bucket",
            kind: "string",
            default: "null",
            doc: "Required where a trail must be created: the S3 bucket the new trail writes to, in the target account (`{account}` and `{region}` are replaced by the target's). An existing bucket is used as it is: its policy must let cloudtrail.amazonaws.com s3:GetBucketAcl and s3:PutObject (AWSLogs/ACCOUNT/*), else CloudTrail refuses the trail.",
        },
        ParamSpec {
            name: "create_bucket",
            kind: "boolean",
            default: "false",
            doc: "Create the bucket when it does not exist: in the target's region, Block Public Access on, default encryption (SSE-S3), and a policy that lets only this trail write (aws:SourceArn) and denies requests without TLS. The undo deletes it only if it is empty.",
        },
        ParamSpec {
            name: "trail_name",
            kind: "string",
            default: "\"rectify-management-events\"",
            doc: "The name of the trail rectify creates.",
        },
        ParamSpec {
            name: "kms_key_id",
            kind: "string",
            default: "null",
            doc: "Encrypt the new trail's log files with this KMS key (its ARN or key id, in the target region; its key policy must allow cloudtrail.amazonaws.com, CloudTrail.2).",
        },
        ParamSpec {
            name: "log_file_validation",
            kind: "boolean",
            default: "true",
            doc: "Turn on log file integrity validation of the new trail (CloudTrail.4).",
        },
    ],
    // Account without a trail, bucket in place: DescribeTrails and
    // HeadBucket (check); CreateTrail, PutEventSelectors, StartLogging;
    // DescribeTrails, GetTrailStatus, GetEventSelectors (verify). Four more
    // when the bucket is created.
    calls_per_fix: 8,
    approval_by_default: false,
};

/// The trail name rectify gives what it creates, unless the rule says.
const DEFAULT_TRAIL_NAME: &str = "rectify-management-events";

/// At most this many multi-region trails are read (CloudTrail allows
/// five per region, organization trails included).
const MAX_TRAILS: usize = 20;

struct Params {
    trail_name: String,
    /// As given, `{account}` and `{region}` not yet filled in.
    bucket: Option<String>,
    create_bucket: bool,
    kms_key_id: Option<String>,
    log_file_validation: bool,
}

fn parse(params: &Value) -> Result<Params, String> {
    let p = params_object(params)?;
    reject_unknown(
        &p,
        &[
            "bucket",
            "create_bucket",
            "trail_name",
            "kms_key_id",
            "log_file_validation",
        ],
        ID,
    )?;
    let trail_name =
        string_param(&p, "trail_name", 128)?.unwrap_or_else(|| DEFAULT_TRAIL_NAME.to_string());
    if !valid_trail_name(&trail_name) {
        return Err(format!(
            "params.trail_name: {trail_name} is not a trail name (3 to 128 letters, digits, `.`, `_`, `-`)"
        ));
    }
    let bucket = string_param(&p, "bucket", 255)?;
    if let Some(b) = &bucket {
        // The longest account id and region a placeholder can become.
        let sample = fill(b, "111122223333", "ap-southeast-5");
        if !valid_bucket_name(&sample) {
            return Err(format!(
                "params.bucket: {b} is not a bucket name (once {{account}} and {{region}} are filled in)"
            ));
        }
    }
    let kms_key_id = string_param(&p, "kms_key_id", 2048)?;
    if let Some(k) = &kms_key_id {
        check_key_param(k)?;
    }
    Ok(Params {
        trail_name,
        bucket,
        create_bucket: bool_param(&p, "create_bucket", false)?,
        kms_key_id,
        log_file_validation: bool_param(&p, "log_file_validation", true)?,
    })
}

fn fill(text: &str, account: &str, region: &str) -> String {
    text.replace("{account}", account)
        .replace("{region}", region)
}

/// A classic event selector, as CloudTrail reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct BasicSelector {
    read_write: String,
    management: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    excluded_sources: Vec<String>,
    /// Data resources: type and values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    data: Vec<(String, Vec<String>)>,
}

/// One field condition of an advanced event selector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct FieldSelector {
    field: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    equals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    starts_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ends_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    not_equals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    not_starts_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    not_ends_with: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AdvancedSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    fields: Vec<FieldSelector>,
}

/// A trail's event selectors: classic or advanced (a trail has one kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Selectors {
    Basic(Vec<BasicSelector>),
    Advanced(Vec<AdvancedSelector>),
}

impl AdvancedSelector {
    /// Whether it selects management events (`eventCategory = Management`).
    fn is_management(&self) -> bool {
        self.fields
            .iter()
            .any(|f| f.field == "eventCategory" && f.equals.iter().any(|v| v == "Management"))
    }

    /// All management events, nothing narrowed.
    fn all_management() -> AdvancedSelector {
        AdvancedSelector {
            name: Some("Management events".to_string()),
            fields: vec![FieldSelector {
                field: "eventCategory".to_string(),
                equals: vec!["Management".to_string()],
                ..FieldSelector::default()
            }],
        }
    }
}

impl Selectors {
    /// What CloudTrail.1 asks: read and write management events, no
    /// event source left out. Several narrower selectors that together
    /// cover everything do not count (the control's parameters are one
    /// selector, `readWriteType: ALL`).
    fn record_all_management(&self) -> bool {
        match self {
            Selectors::Basic(list) => {
                list.iter().any(|s| s.read_write == "All" && s.management)
                    && list
                        .iter()
                        .all(|s| !s.management || s.excluded_sources.is_empty())
            }
            // Named as anyone likes: the one condition is what counts.
            Selectors::Advanced(list) => list
                .iter()
                .any(|s| s.fields == AdvancedSelector::all_management().fields),
        }
    }

    /// The selectors with one recording all management events, the
    /// data-event selectors kept as they were.
    fn with_all_management(&self) -> Selectors {
        match self {
            Selectors::Basic(list) => {
                let mut out = vec![BasicSelector {
                    read_write: "All".to_string(),
                    management: true,
                    excluded_sources: Vec::new(),
                    data: Vec::new(),
                }];
                out.extend(
                    list.iter()
                        .filter(|s| !s.data.is_empty())
                        .map(|s| BasicSelector {
                            management: false,
                            excluded_sources: Vec::new(),
                            ..s.clone()
                        }),
                );
                Selectors::Basic(out)
            }
            Selectors::Advanced(list) => {
                let mut out = vec![AdvancedSelector::all_management()];
                out.extend(list.iter().filter(|s| !s.is_management()).cloned());
                Selectors::Advanced(out)
            }
        }
    }

    /// What a person reads in a plan.
    fn describe(&self) -> String {
        let words = |list: Vec<String>| {
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        };
        match self {
            Selectors::Basic(list) => words(
                list.iter()
                    .map(|s| {
                        let mut parts = vec![format!("{} events", s.read_write)];
                        parts.push(if s.management {
                            "management".to_string()
                        } else {
                            "no management".to_string()
                        });
                        if !s.excluded_sources.is_empty() {
                            parts.push(format!("except {}", s.excluded_sources.join(" ")));
                        }
                        if !s.data.is_empty() {
                            parts.push(format!("{} data resource types", s.data.len()));
                        }
                        format!("[{}]", parts.join(", "))
                    })
                    .collect(),
            ),
            Selectors::Advanced(list) => words(
                list.iter()
                    .map(|s| {
                        let fields: Vec<String> = s
                            .fields
                            .iter()
                            .map(|f| {
                                let mut c = Vec::new();
                                for (op, vals) in [
                                    ("=", &f.equals),
                                    ("starts", &f.starts_with),
                                    ("ends", &f.ends_with),
                                    ("!=", &f.not_equals),
                                    ("!starts", &f.not_starts_with),
                                    ("!ends", &f.not_ends_with),
                                ] {
                                    if !vals.is_empty() {
                                        c.push(format!("{} {op} {}", f.field, vals.join("|")));
                                    }
                                }
                                c.join(" and ")
                            })
                            .collect();
                        format!("[{}]", fields.join(" and "))
                    })
                    .collect(),
            ),
        }
    }

    fn from_sdk(basic: &[EventSelector], advanced: &[AdvancedEventSelector]) -> Selectors {
        if !advanced.is_empty() {
            return Selectors::Advanced(
                advanced
                    .iter()
                    .map(|s| AdvancedSelector {
                        name: s.name().map(str::to_string),
                        fields: s
                            .field_selectors()
                            .iter()
                            .map(|f| FieldSelector {
                                field: f.field().to_string(),
                                equals: f.equals().to_vec(),
                                starts_with: f.starts_with().to_vec(),
                                ends_with: f.ends_with().to_vec(),
                                not_equals: f.not_equals().to_vec(),
                                not_starts_with: f.not_starts_with().to_vec(),
                                not_ends_with: f.not_ends_with().to_vec(),
                            })
                            .collect(),
                    })
                    .collect(),
            );
        }
        Selectors::Basic(
            basic
                .iter()
                .map(|s| BasicSelector {
                    // CloudTrail's default when a selector leaves it out.
                    read_write: s
                        .read_write_type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_else(|| "All".to_string()),
                    management: s.include_management_events().unwrap_or(true),
                    excluded_sources: s.exclude_management_event_sources().to_vec(),
                    data: s
                        .data_resources()
                        .iter()
                        .map(|d| {
                            (
                                d.r#type().unwrap_or_default().to_string(),
                                d.values().to_vec(),
                            )
                        })
                        .collect(),
                })
                .collect(),
        )
    }
}

/// One multi-region trail that covers the region, as `check` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TrailSeen {
    arn: String,
    name: String,
    home_region: String,
    /// Another account's trail (an organization trail): it counts, and
    /// rectify never changes it.
    #[serde(default)]
    foreign: bool,
    logging: bool,
    selectors: Selectors,
}

impl TrailSeen {
    fn passes(&self) -> bool {
        self.logging && self.selectors.record_all_management()
    }
}

/// Where a new trail's bucket stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum BucketState {
    Exists,
    Missing,
    /// S3 refused: the name is another account's bucket (or rectify may
    /// not read it).
    NotTheAccounts,
}

/// CloudTrail in the account and region, as `check` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TrailsState {
    multi_region: Vec<TrailSeen>,
    /// The single-region trails with their home in the region (names).
    #[serde(default)]
    single_region: Vec<String>,
    /// The bucket a new trail would write to, when one would be created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bucket: Option<(String, BucketState)>,
}

impl TrailsState {
    fn compliant(&self) -> bool {
        self.multi_region.iter().any(TrailSeen::passes)
    }

    /// The account's own trail the least change fixes: a stopped one
    /// whose selectors already pass (start it), else one whose selectors
    /// fall short (a logging one first).
    fn to_fix(&self) -> Option<&TrailSeen> {
        let own = || self.multi_region.iter().filter(|t| !t.foreign);
        own()
            .find(|t| t.selectors.record_all_management())
            .or_else(|| own().find(|t| t.logging))
            .or_else(|| own().next())
    }
}

/// What `apply` does: the change's `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fix", rename_all = "kebab-case")]
enum Fix {
    Nothing,
    StartLogging {
        arn: String,
        name: String,
        home_region: String,
    },
    Selectors {
        arn: String,
        name: String,
        home_region: String,
        from: Selectors,
        to: Selectors,
        start_logging: bool,
    },
    CreateTrail {
        arn: String,
        name: String,
        bucket: String,
        create_bucket: bool,
        kms_key_id: Option<String>,
        log_file_validation: bool,
    },
}

/// What `revert` does: the undo's `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "undo", rename_all = "kebab-case")]
enum Undo {
    StopLogging {
        arn: String,
        name: String,
        home_region: String,
    },
    RestoreSelectors {
        arn: String,
        name: String,
        home_region: String,
        selectors: Selectors,
        stop_logging: bool,
    },
    DeleteTrail {
        arn: String,
        name: String,
        /// The bucket the change created: deleted when it is empty.
        bucket: Option<String>,
    },
}

/// The management-events selector rectify puts on a trail it creates.
fn new_trail_selectors() -> Selectors {
    Selectors::Basic(Vec::new()).with_all_management()
}

fn trail_arn(target: &Target, name: &str) -> String {
    format!(
        "arn:{}:cloudtrail:{}:{}:trail/{name}",
        target.partition, target.region, target.account
    )
}

/// The bucket policy of a bucket rectify creates for the trail `arn`:
/// CloudTrail may read the bucket's ACL and write the account's log files
/// for this trail only; requests without TLS are denied.
fn bucket_policy(partition: &str, bucket: &str, account: &str, arn: &str) -> Value {
    let bucket_arn = format!("arn:{partition}:s3:::{bucket}");
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AWSCloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": bucket_arn,
                "Condition": {"StringEquals": {"aws:SourceArn": arn}}
            },
            {
                "Sid": "AWSCloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": format!("{bucket_arn}/AWSLogs/{account}/*"),
                "Condition": {"StringEquals": {
                    "s3:x-amz-acl": "bucket-owner-full-control",
                    "aws:SourceArn": arn
                }}
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn.clone(), format!("{bucket_arn}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            }
        ]
    })
}

fn observed(state: &TrailsState, tags: Map<String, Value>) -> Observed {
    Observed {
        compliant: state.compliant(),
        state: serde_json::to_value(state).expect("plain struct"),
        tags,
    }
}

/// The account's own trail `arn` of `target`'s account, or refused (a
/// recorded change naming another account's trail is not acted on).
fn own_arn<'a>(target: &Target, arn: &'a str) -> Result<&'a str, ActionError> {
    if arn.split(':').nth(4) != Some(target.account.as_str()) {
        return Err(ActionError::invalid(format!(
            "{ID}: trail {arn} is not in account {}; refused",
            target.account
        )));
    }
    Ok(arn)
}

pub struct CloudTrailEnableMultiRegionTrail {
    aws: Arc<Aws>,
}

impl CloudTrailEnableMultiRegionTrail {
    pub fn new(aws: Arc<Aws>) -> Self {
        CloudTrailEnableMultiRegionTrail { aws }
    }

    /// A CloudTrail client of the target's account in `region` (a trail
    /// is changed, and its selectors read, in its home region).
    async fn client_in(
        &self,
        target: &Target,
        region: &str,
    ) -> Result<aws_sdk_cloudtrail::Client, ActionError> {
        let config = self.aws.config_for(&target.account, region).await?;
        Ok(aws_sdk_cloudtrail::Client::new(&config))
    }

    /// The trails that cover the region: `DescribeTrails` (shadow trails
    /// included: a multi-region trail of another home region, an
    /// organization trail), then status and selectors of each
    /// multi-region one.
    async fn read_trails(&self, target: &Target) -> Result<TrailsState, ActionError> {
        let here = where_(target);
        let ct = self.client_in(target, &target.region).await?;
        let out = ct
            .describe_trails()
            .include_shadow_trails(true)
            .send()
            .await
            .map_err(|e| sdk_error_on("cloudtrail:DescribeTrails", &here, e))?;
        let mut state = TrailsState {
            multi_region: Vec::new(),
            single_region: Vec::new(),
            bucket: None,
        };
        for trail in out.trail_list() {
            let (Some(arn), Some(name)) = (trail.trail_arn(), trail.name()) else {
                continue;
            };
            let home = trail
                .home_region()
                .or_else(|| arn.split(':').nth(3))
                .unwrap_or(&target.region)
                .to_string();
            if !trail.is_multi_region_trail().unwrap_or(false) {
                if home == target.region {
                    state.single_region.push(name.to_string());
                }
                continue;
            }
            if state.multi_region.len() == MAX_TRAILS {
                return Err(ActionError::invalid(format!(
                    "{ID}: {here} has more than {MAX_TRAILS} multi-region trails; refused"
                )));
            }
            let foreign = arn.split(':').nth(4) != Some(target.account.as_str());
            let home_ct = self.client_in(target, &home).await?;
            let status = home_ct
                .get_trail_status()
                .name(arn)
                .send()
                .await
                .map_err(|e| sdk_error_on("cloudtrail:GetTrailStatus", arn, e))?;
            let selectors = home_ct
                .get_event_selectors()
                .trail_name(arn)
                .send()
                .await
                .map_err(|e| sdk_error_on("cloudtrail:GetEventSelectors", arn, e))?;
            state.multi_region.push(TrailSeen {
                arn: arn.to_string(),
                name: name.to_string(),
                home_region: home,
                foreign,
                logging: status.is_logging().unwrap_or(false),
                selectors: Selectors::from_sdk(
                    selectors.event_selectors(),
                    selectors.advanced_event_selectors(),
                ),
            });
        }
        Ok(state)
    }

    /// Whether `bucket` exists in the target's account (`HeadBucket`
    /// naming the account as the owner: S3 answers 403 for another's).
    async fn bucket_state(
        &self,
        target: &Target,
        bucket: &str,
    ) -> Result<BucketState, ActionError> {
        let s3 = s3_client(&self.aws, target).await?;
        match s3
            .head_bucket()
            .bucket(bucket)
            .expected_bucket_owner(&target.account)
            .send()
            .await
        {
            Ok(_) => Ok(BucketState::Exists),
            Err(e) => match e.raw_response().map(|r| r.status().as_u16()) {
                Some(404) => Ok(BucketState::Missing),
                Some(403) => Ok(BucketState::NotTheAccounts),
                _ => Err(sdk_error_on("s3:ListBucket", bucket, e)),
            },
        }
    }

    /// Creates the trail's bucket: in the target's region, Block Public
    /// Access on, SSE-S3 default encryption, the CloudTrail policy. A
    /// bucket already made by a run cut off is finished, not made twice.
    async fn create_bucket(
        &self,
        target: &Target,
        bucket: &str,
        arn: &str,
    ) -> Result<(), ActionError> {
        use aws_sdk_s3::types::{
            BucketLocationConstraint, CreateBucketConfiguration, PublicAccessBlockConfiguration,
            ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
            ServerSideEncryptionRule,
        };
        let s3 = s3_client(&self.aws, target).await?;
        let mut create = s3.create_bucket().bucket(bucket);
        if target.region != "us-east-1" {
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(target.region.as_str()))
                    .build(),
            );
        }
        match create.send().await {
            Ok(_) => {}
            Err(e) if code_of(&e) == Some("BucketAlreadyOwnedByYou") => {}
            Err(e) => return Err(sdk_error_on("s3:CreateBucket", bucket, e)),
        }
        s3.put_public_access_block()
            .bucket(bucket)
            .expected_bucket_owner(&target.account)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error_on("s3:PutBucketPublicAccessBlock", bucket, e))?;
        let by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::Aes256)
            .build()
            .map_err(|e| ActionError::invalid(format!("{ID}: {e}")))?;
        let encryption = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(by_default)
                    .build(),
            )
            .build()
            .map_err(|e| ActionError::invalid(format!("{ID}: {e}")))?;
        s3.put_bucket_encryption()
            .bucket(bucket)
            .expected_bucket_owner(&target.account)
            .server_side_encryption_configuration(encryption)
            .send()
            .await
            .map_err(|e| sdk_error_on("s3:PutEncryptionConfiguration", bucket, e))?;
        let policy = bucket_policy(&target.partition, bucket, &target.account, arn);
        crate::actions::s3::put_bucket_policy(&s3, bucket, &target.account, Some(&policy)).await
    }

    /// Deletes the bucket the change created, when no object is in it:
    /// log files are never deleted.
    async fn delete_bucket_if_empty(
        &self,
        target: &Target,
        bucket: &str,
    ) -> Result<(), ActionError> {
        let s3 = s3_client(&self.aws, target).await?;
        let listed = s3
            .list_objects_v2()
            .bucket(bucket)
            .expected_bucket_owner(&target.account)
            .max_keys(1)
            .send()
            .await;
        match listed {
            Ok(out) if out.key_count().unwrap_or(0) > 0 || !out.contents().is_empty() => Ok(()),
            Ok(_) => match s3
                .delete_bucket()
                .bucket(bucket)
                .expected_bucket_owner(&target.account)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if matches!(code_of(&e), Some("BucketNotEmpty") | Some("NoSuchBucket")) => {
                    Ok(())
                }
                Err(e) => Err(sdk_error_on("s3:DeleteBucket", bucket, e)),
            },
            Err(e) if code_of(&e) == Some("NoSuchBucket") => Ok(()),
            Err(e) => Err(sdk_error_on("s3:ListBucket", bucket, e)),
        }
    }

    async fn put_selectors(
        &self,
        ct: &aws_sdk_cloudtrail::Client,
        name: &str,
        selectors: &Selectors,
    ) -> Result<(), ActionError> {
        let invalid = |e: aws_sdk_cloudtrail::error::BuildError| {
            ActionError::invalid(format!("{ID}: event selector: {e}"))
        };
        let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        let mut request = ct.put_event_selectors().trail_name(name);
        match selectors {
            Selectors::Basic(list) => {
                let sdk = list
                    .iter()
                    .map(|s| {
                        EventSelector::builder()
                            .read_write_type(ReadWriteType::from(s.read_write.as_str()))
                            .include_management_events(s.management)
                            .set_exclude_management_event_sources(non_empty(&s.excluded_sources))
                            .set_data_resources((!s.data.is_empty()).then(|| {
                                s.data
                                    .iter()
                                    .map(|(kind, values)| {
                                        DataResource::builder()
                                            .r#type(kind)
                                            .set_values(Some(values.clone()))
                                            .build()
                                    })
                                    .collect()
                            }))
                            .build()
                    })
                    .collect();
                request = request.set_event_selectors(Some(sdk));
            }
            Selectors::Advanced(list) => {
                let mut sdk = Vec::new();
                for s in list {
                    let mut fields = Vec::new();
                    for f in &s.fields {
                        fields.push(
                            AdvancedFieldSelector::builder()
                                .field(&f.field)
                                .set_equals(non_empty(&f.equals))
                                .set_starts_with(non_empty(&f.starts_with))
                                .set_ends_with(non_empty(&f.ends_with))
                                .set_not_equals(non_empty(&f.not_equals))
                                .set_not_starts_with(non_empty(&f.not_starts_with))
                                .set_not_ends_with(non_empty(&f.not_ends_with))
                                .build()
                                .map_err(invalid)?,
                        );
                    }
                    sdk.push(
                        AdvancedEventSelector::builder()
                            .set_name(s.name.clone())
                            .set_field_selectors(Some(fields))
                            .build()
                            .map_err(invalid)?,
                    );
                }
                request = request.set_advanced_event_selectors(Some(sdk));
            }
        }
        request.send().await.map_err(|e| {
            sdk_error_on("cloudtrail:PutEventSelectors", &format!("trail {name}"), e)
        })?;
        Ok(())
    }

    async fn set_logging(
        &self,
        ct: &aws_sdk_cloudtrail::Client,
        name: &str,
        on: bool,
    ) -> Result<(), ActionError> {
        let what = format!("trail {name}");
        if on {
            ct.start_logging()
                .name(name)
                .send()
                .await
                .map_err(|e| sdk_error_on("cloudtrail:StartLogging", &what, e))?;
        } else {
            ct.stop_logging()
                .name(name)
                .send()
                .await
                .map_err(|e| sdk_error_on("cloudtrail:StopLogging", &what, e))?;
        }
        Ok(())
    }

    /// Writes an existing trail of the account in its home region: its
    /// selectors, then its logging, each when given.
    async fn write_trail(
        &self,
        target: &Target,
        arn: &str,
        name: &str,
        home_region: &str,
        selectors: Option<&Selectors>,
        logging: Option<bool>,
    ) -> Result<(), ActionError> {
        own_arn(target, arn)?;
        let ct = self.client_in(target, home_region).await?;
        if let Some(selectors) = selectors {
            self.put_selectors(&ct, name, selectors).await?;
        }
        match logging {
            Some(on) => self.set_logging(&ct, name, on).await,
            None => Ok(()),
        }
    }

    /// Creates the trail; one left by a run cut off is used when it is the
    /// multi-region trail this change creates, else refused.
    async fn create_trail(
        &self,
        target: &Target,
        ct: &aws_sdk_cloudtrail::Client,
        name: &str,
        bucket: &str,
        kms_key_id: Option<&str>,
        log_file_validation: bool,
    ) -> Result<(), ActionError> {
        let created = ct
            .create_trail()
            .name(name)
            .s3_bucket_name(bucket)
            .is_multi_region_trail(true)
            .include_global_service_events(true)
            .enable_log_file_validation(log_file_validation)
            .set_kms_key_id(kms_key_id.map(str::to_string))
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("TrailAlreadyExistsException") => {
                let trail = ct
                    .get_trail()
                    .name(name)
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("cloudtrail:GetTrail", &format!("trail {name}"), e))?
                    .trail;
                let ours = trail.is_some_and(|t| {
                    t.is_multi_region_trail() == Some(true) && t.s3_bucket_name() == Some(bucket)
                });
                if ours {
                    Ok(())
                } else {
                    Err(ActionError::invalid(format!(
                        "{ID}: a trail named {name} already exists in {} and is not the multi-region trail to bucket {bucket} this change creates; refused",
                        where_(target)
                    )))
                }
            }
            Err(e) => Err(sdk_error_on(
                "cloudtrail:CreateTrail",
                &format!("trail {name}"),
                e,
            )),
        }
    }

    /// The fix the least change makes, from the state `check` read.
    fn choose(
        &self,
        target: &Target,
        p: &Params,
        state: &TrailsState,
    ) -> Result<(Fix, String), ActionError> {
        let place = format!("{}/{}", target.account, target.region);
        if state.compliant() {
            let by = state
                .multi_region
                .iter()
                .find(|t| t.passes())
                .map(|t| t.name.clone())
                .unwrap_or_default();
            return Ok((
                Fix::Nothing,
                format!("multi-region trail {by} already logs read and write management events in {place}"),
            ));
        }
        if let Some(t) = state.to_fix() {
            if t.selectors.record_all_management() {
                return Ok((
                    Fix::StartLogging {
                        arn: t.arn.clone(),
                        name: t.name.clone(),
                        home_region: t.home_region.clone(),
                    },
                    format!(
                        "start logging of multi-region trail {} (stopped; it records read and write management events)",
                        t.name
                    ),
                ));
            }
            let to = t.selectors.with_all_management();
            let summary = format!(
                "make multi-region trail {} record all read and write management events: event selectors {} -> {}{}",
                t.name,
                t.selectors.describe(),
                to.describe(),
                if t.logging { "" } else { "; and start its logging" }
            );
            return Ok((
                Fix::Selectors {
                    arn: t.arn.clone(),
                    name: t.name.clone(),
                    home_region: t.home_region.clone(),
                    from: t.selectors.clone(),
                    to,
                    start_logging: !t.logging,
                },
                summary,
            ));
        }
        let name = &p.trail_name;
        if state.single_region.contains(name) {
            return Err(ActionError::not_configured(format!(
                "{ID}: {place} has no multi-region trail, and trail {name} there is single-region: \
                 set params.trail_name to a name no trail has"
            )));
        }
        let Some(raw) = &p.bucket else {
            return Err(ActionError::not_configured(format!(
                "{ID}: {place} has no multi-region trail to start or complete, and the rule names no bucket for a new one: \
                 set params.bucket (an S3 bucket of the account; {{account}} and {{region}} are filled in), \
                 and params.create_bucket: true for rectify to create it"
            )));
        };
        let bucket = fill(raw, &target.account, &target.region);
        let create_bucket = match &state.bucket {
            Some((b, BucketState::Exists)) if *b == bucket => false,
            Some((b, BucketState::Missing)) if *b == bucket && p.create_bucket => true,
            Some((b, BucketState::Missing)) if *b == bucket => {
                return Err(ActionError::not_configured(format!(
                    "{ID}: {place} has no multi-region trail, and bucket {bucket} does not exist: create it with a policy \
                     that lets cloudtrail.amazonaws.com s3:GetBucketAcl and s3:PutObject, or set params.create_bucket: true"
                )));
            }
            Some((b, BucketState::NotTheAccounts)) if *b == bucket => {
                return Err(ActionError::invalid(format!(
                    "{ID}: bucket {bucket} is not a bucket of account {} (S3 refused it for that owner); \
                     the trail's logs would leave the account; refused",
                    target.account
                )));
            }
            _ => {
                return Err(ActionError::invalid(format!(
                    "{ID}: the check did not read bucket {bucket}; plan again"
                )))
            }
        };
        if let Some(key) = &p.kms_key_id {
            key_in_home_region(key, &target.region, name, ID)?;
        }
        let arn = trail_arn(target, name);
        let mut extras = vec![if p.log_file_validation {
            "log file validation on".to_string()
        } else {
            "log file validation off".to_string()
        }];
        if let Some(key) = &p.kms_key_id {
            extras.push(format!("log files encrypted with KMS key {key}"));
        }
        let summary = format!(
            "create multi-region trail {name} in {place} recording all read and write management events to bucket {bucket}{} ({}), and start its logging",
            if create_bucket {
                " (created: Block Public Access on, default encryption, a policy for this trail only)"
            } else {
                ""
            },
            extras.join(", ")
        );
        Ok((
            Fix::CreateTrail {
                arn,
                name: name.clone(),
                bucket,
                create_bucket,
                kms_key_id: p.kms_key_id.clone(),
                log_file_validation: p.log_file_validation,
            },
            summary,
        ))
    }
}

#[async_trait]
impl Action for CloudTrailEnableMultiRegionTrail {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        parse(params).map(|_| ())
    }

    // discover: a setting of each account and region: the account, in `region`.
    crate::actions::account_setting_discover!();

    /// The trails; when the account fails, the tags of the trail the fix
    /// would change (so that an exempt trail is left alone), or whether
    /// the bucket of a new trail exists.
    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let p = parse(params).map_err(ActionError::invalid)?;
        let mut state = self.read_trails(target).await?;
        let mut tags = Map::new();
        if !state.compliant() {
            if let Some(t) = state.to_fix() {
                let ct = self.client_in(target, &t.home_region).await?;
                tags = trail_tags(&ct, &t.arn).await?;
            } else if let Some(raw) = &p.bucket {
                let bucket = fill(raw, &target.account, &target.region);
                let found = self.bucket_state(target, &bucket).await?;
                state.bucket = Some((bucket, found));
            }
        }
        Ok(observed(&state, tags))
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        let p = parse(params).map_err(ActionError::invalid)?;
        let state: TrailsState = recorded(&observed.state, ID)?;
        let (fix, summary) = self.choose(target, &p, &state)?;
        Ok(Change {
            summary,
            before: observed.state.clone(),
            after: serde_json::to_value(fix).expect("plain enum"),
        })
    }

    /// Changing the selectors of a trail someone set up changes what it
    /// records (and what it costs): a person decides.
    fn intent(&self, target: &Target, params: &Value, observed: &Observed) -> Vec<String> {
        let (Ok(p), Ok(state)) = (parse(params), recorded::<TrailsState>(&observed.state, ID))
        else {
            return Vec::new();
        };
        match self.choose(target, &p, &state) {
            Ok((Fix::Selectors { name, from, .. }, _)) => vec![format!(
                "trail {name}'s event selectors ({}) were set by someone, maybe to record less on purpose (cost, volume); \
                 recording all read and write management events changes what it records and costs (its data-event selectors are kept)",
                from.describe()
            )],
            _ => Vec::new(),
        }
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        parse(params).map_err(ActionError::invalid)?;
        match recorded::<Fix>(&change.after, ID)? {
            Fix::Nothing => Ok(()),
            Fix::StartLogging {
                arn,
                name,
                home_region,
            } => {
                self.write_trail(target, &arn, &name, &home_region, None, Some(true))
                    .await
            }
            Fix::Selectors {
                arn,
                name,
                home_region,
                to,
                start_logging,
                ..
            } => {
                let start = start_logging.then_some(true);
                self.write_trail(target, &arn, &name, &home_region, Some(&to), start)
                    .await
            }
            Fix::CreateTrail {
                arn,
                name,
                bucket,
                create_bucket,
                kms_key_id,
                log_file_validation,
            } => {
                own_arn(target, &arn)?;
                if create_bucket {
                    self.create_bucket(target, &bucket, &arn).await?;
                }
                let ct = self.client_in(target, &target.region).await?;
                self.create_trail(
                    target,
                    &ct,
                    &name,
                    &bucket,
                    kms_key_id.as_deref(),
                    log_file_validation,
                )
                .await?;
                // Explicit, whatever CloudTrail's default for a new trail.
                self.put_selectors(&ct, &name, &new_trail_selectors())
                    .await?;
                self.set_logging(&ct, &name, true).await
            }
        }
    }

    /// The account passes as AWS evaluates it: some multi-region trail
    /// logs all management events.
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        parse(params).map_err(ActionError::invalid)?;
        Ok(observed(&self.read_trails(target).await?, Map::new()))
    }

    /// Stops the trail it started, restores the selectors it changed,
    /// deletes the trail it created (and its bucket, when it created one
    /// and no log file is in it); refused when the trail is no longer as
    /// the change left it.
    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        parse(params).map_err(ActionError::invalid)?;
        let fix: Fix = recorded(&applied.after, ID)?;
        if let Fix::StartLogging { arn, .. }
        | Fix::Selectors { arn, .. }
        | Fix::CreateTrail { arn, .. } = &fix
        {
            own_arn(target, arn)?;
        }
        let current: TrailsState = recorded(&now.state, ID)?;
        let find = |arn: &str| current.multi_region.iter().find(|t| t.arn == arn);
        let refuse =
            |name: &str| changed_since(&format!("trail {name}"), &now.state, &applied.after);
        let (undo, summary) = match fix {
            Fix::Nothing => {
                return Err(ActionError::invalid(format!(
                    "{ID}: the change changed nothing; nothing to undo"
                )))
            }
            Fix::StartLogging {
                arn,
                name,
                home_region,
            } => match find(&arn) {
                Some(t) if t.logging => (
                    Undo::StopLogging {
                        arn,
                        name: name.clone(),
                        home_region,
                    },
                    format!("stop logging of multi-region trail {name} again"),
                ),
                _ => return Err(refuse(&name)),
            },
            Fix::Selectors {
                arn,
                name,
                home_region,
                from,
                to,
                start_logging,
            } => match find(&arn) {
                Some(t) if t.selectors == to && (t.logging || !start_logging) => (
                    Undo::RestoreSelectors {
                        arn,
                        name: name.clone(),
                        home_region,
                        selectors: from.clone(),
                        stop_logging: start_logging,
                    },
                    format!(
                        "set the event selectors of trail {name} back to {}{}",
                        from.describe(),
                        if start_logging {
                            "; and stop its logging"
                        } else {
                            ""
                        }
                    ),
                ),
                _ => return Err(refuse(&name)),
            },
            Fix::CreateTrail {
                arn,
                name,
                bucket,
                create_bucket,
                ..
            } => match find(&arn) {
                Some(t) if t.logging && t.selectors == new_trail_selectors() => (
                    Undo::DeleteTrail {
                        arn,
                        name: name.clone(),
                        bucket: create_bucket.then(|| bucket.clone()),
                    },
                    if create_bucket {
                        format!(
                            "delete trail {name} the change created, and bucket {bucket} if no log file is in it (log files are kept)"
                        )
                    } else {
                        format!("delete trail {name} the change created (its log files stay in bucket {bucket})")
                    },
                ),
                _ => return Err(refuse(&name)),
            },
        };
        Ok(Change {
            summary,
            before: now.state.clone(),
            after: serde_json::to_value(undo).expect("plain enum"),
        })
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        parse(params).map_err(ActionError::invalid)?;
        match recorded::<Undo>(&change.after, ID)? {
            Undo::StopLogging {
                arn,
                name,
                home_region,
            } => {
                self.write_trail(target, &arn, &name, &home_region, None, Some(false))
                    .await
            }
            Undo::RestoreSelectors {
                arn,
                name,
                home_region,
                selectors,
                stop_logging,
            } => {
                let stop = stop_logging.then_some(false);
                self.write_trail(target, &arn, &name, &home_region, Some(&selectors), stop)
                    .await
            }
            Undo::DeleteTrail { arn, name, bucket } => {
                own_arn(target, &arn)?;
                let ct = self.client_in(target, &target.region).await?;
                match ct.delete_trail().name(&name).send().await {
                    Ok(_) => {}
                    Err(e) if code_of(&e) == Some("TrailNotFoundException") => {}
                    Err(e) => {
                        return Err(sdk_error_on(
                            "cloudtrail:DeleteTrail",
                            &format!("trail {name}"),
                            e,
                        ))
                    }
                }
                match bucket {
                    Some(b) => self.delete_bucket_if_empty(target, &b).await,
                    None => Ok(()),
                }
            }
        }
    }

    /// The trail is as the undo leaves it (a bucket with log files in it
    /// is kept on purpose, and not checked).
    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        parse(params).map_err(ActionError::invalid)?;
        let now = self.read_trails(target).await?;
        let find = |arn: &str| now.multi_region.iter().find(|t| t.arn == arn);
        Ok(match recorded::<Undo>(&change.after, ID)? {
            Undo::StopLogging { arn, .. } => find(&arn).is_some_and(|t| !t.logging),
            Undo::RestoreSelectors {
                arn,
                selectors,
                stop_logging,
                ..
            } => find(&arn).is_some_and(|t| t.selectors == selectors && t.logging != stop_logging),
            Undo::DeleteTrail { arn, name, .. } => {
                find(&arn).is_none() && !now.single_region.contains(&name)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;
    use crate::AwsSettings;

    fn basic(read_write: &str, management: bool) -> BasicSelector {
        BasicSelector {
            read_write: read_write.into(),
            management,
            excluded_sources: Vec::new(),
            data: Vec::new(),
        }
    }

    fn field(name: &str, equals: &[&str]) -> FieldSelector {
        FieldSelector {
            field: name.into(),
            equals: equals.iter().map(|s| s.to_string()).collect(),
            ..FieldSelector::default()
        }
    }

    #[test]
    fn what_records_all_management_events() {
        let all = Selectors::Basic(vec![basic("All", true)]);
        assert!(all.record_all_management());
        assert!(!Selectors::Basic(vec![basic("WriteOnly", true)]).record_all_management());
        assert!(!Selectors::Basic(vec![basic("All", false)]).record_all_management());
        assert!(!Selectors::Basic(vec![]).record_all_management());
        let kms_left_out = Selectors::Basic(vec![BasicSelector {
            excluded_sources: vec!["kms.amazonaws.com".into()],
            ..basic("All", true)
        }]);
        assert!(!kms_left_out.record_all_management());
        let management = AdvancedSelector {
            name: None,
            fields: vec![field("eventCategory", &["Management"])],
        };
        assert!(Selectors::Advanced(vec![management.clone()]).record_all_management());
        let read_only = AdvancedSelector {
            name: None,
            fields: vec![
                field("eventCategory", &["Management"]),
                field("readOnly", &["true"]),
            ],
        };
        assert!(!Selectors::Advanced(vec![read_only.clone()]).record_all_management());
        let without_kms = AdvancedSelector {
            name: None,
            fields: vec![
                field("eventCategory", &["Management"]),
                FieldSelector {
                    field: "eventSource".into(),
                    not_equals: vec!["kms.amazonaws.com".into()],
                    ..FieldSelector::default()
                },
            ],
        };
        assert!(!Selectors::Advanced(vec![without_kms]).record_all_management());

        // The fix keeps data-event selectors as they were.
        let s3_data = AdvancedSelector {
            name: Some("S3 writes".into()),
            fields: vec![
                field("eventCategory", &["Data"]),
                field("resources.type", &["AWS::S3::Object"]),
            ],
        };
        let fixed = Selectors::Advanced(vec![read_only, s3_data.clone()]).with_all_management();
        assert!(fixed.record_all_management());
        assert_eq!(
            fixed,
            Selectors::Advanced(vec![AdvancedSelector::all_management(), s3_data])
        );
        let with_data = BasicSelector {
            data: vec![("AWS::S3::Object".into(), vec!["arn:aws:s3:::b/".into()])],
            ..basic("ReadOnly", true)
        };
        let fixed = Selectors::Basic(vec![with_data.clone()]).with_all_management();
        assert!(fixed.record_all_management());
        assert_eq!(
            fixed,
            Selectors::Basic(vec![
                basic("All", true),
                BasicSelector {
                    management: false,
                    ..with_data
                }
            ])
        );
    }

    fn trail(name: &str, logging: bool, selectors: Selectors) -> TrailSeen {
        TrailSeen {
            arn: format!("arn:aws:cloudtrail:us-east-1:111122223333:trail/{name}"),
            name: name.into(),
            home_region: "us-east-1".into(),
            foreign: false,
            logging,
            selectors,
        }
    }

    fn state(trails: Vec<TrailSeen>, bucket: Option<(&str, BucketState)>) -> Observed {
        observed(
            &TrailsState {
                multi_region: trails,
                single_region: vec!["single".into()],
                bucket: bucket.map(|(b, s)| (b.to_string(), s)),
            },
            Map::new(),
        )
    }

    #[tokio::test]
    async fn the_least_change_first() {
        let a = CloudTrailEnableMultiRegionTrail::new(Arc::new(
            Aws::new(AwsSettings::new("us-east-1")).await,
        ));
        assert!(a
            .validate_params(&json!({"bucket": "Logs_{account}"}))
            .is_err());
        assert!(a.validate_params(&json!({"trail_name": "-x"})).is_err());
        assert!(a
            .validate_params(&json!({"kms_key_id": "alias/x"}))
            .is_err());
        assert!(a
            .validate_params(
                &json!({"bucket": "trail-logs-{account}-{region}", "create_bucket": true})
            )
            .is_ok());
        let t = target("AwsAccount", "AWS::::Account:111122223333", Value::Null);
        let all = || Selectors::Basic(vec![basic("All", true)]);
        let write_only = || Selectors::Basic(vec![basic("WriteOnly", true)]);
        let p = json!({});

        // A stopped trail that records everything: started, no intent.
        let stopped = state(
            vec![
                trail("write", true, write_only()),
                trail("main", false, all()),
            ],
            None,
        );
        assert!(!stopped.compliant);
        let change = a.plan(&t, &p, &stopped).unwrap();
        assert_eq!(change.after["fix"], "start-logging");
        assert_eq!(change.after["name"], "main");
        assert!(a.intent(&t, &p, &stopped).is_empty());

        // Selectors that fall short: completed, with the reason to ask.
        let short = state(vec![trail("write", true, write_only())], None);
        let change = a.plan(&t, &p, &short).unwrap();
        assert_eq!(change.after["fix"], "selectors");
        assert_eq!(change.after["start_logging"], false);
        assert_eq!(a.intent(&t, &p, &short).len(), 1);

        // Another account's organization trail is never changed.
        let org = state(
            vec![TrailSeen {
                foreign: true,
                ..trail("org", false, all())
            }],
            None,
        );
        let refused = a.plan(&t, &p, &org).unwrap_err();
        assert!(
            refused.message.contains("set params.bucket"),
            "{}",
            refused.message
        );

        // No trail: the bucket decides.
        let bucket = "trail-logs-111122223333";
        let params = json!({"bucket": "trail-logs-{account}"});
        let missing = state(vec![], Some((bucket, BucketState::Missing)));
        let refused = a.plan(&t, &params, &missing).unwrap_err();
        assert!(
            refused.message.contains("create_bucket"),
            "{}",
            refused.message
        );
        let create = json!({"bucket": "trail-logs-{account}", "create_bucket": true});
        let change = a.plan(&t, &create, &missing).unwrap();
        assert_eq!(change.after["fix"], "create-trail");
        assert_eq!(change.after["bucket"], bucket);
        assert_eq!(change.after["create_bucket"], true);
        assert_eq!(change.after["name"], DEFAULT_TRAIL_NAME);
        let foreign = state(vec![], Some((bucket, BucketState::NotTheAccounts)));
        assert!(a.plan(&t, &create, &foreign).is_err());
        let taken = json!({"bucket": "trail-logs-{account}", "trail_name": "single"});
        let exists = state(vec![], Some((bucket, BucketState::Exists)));
        assert!(a
            .plan(&t, &taken, &exists)
            .unwrap_err()
            .message
            .contains("params.trail_name"));
        let other_region = json!({"bucket": "trail-logs-{account}",
                                  "kms_key_id": "arn:aws:kms:eu-west-1:111122223333:key/k"});
        assert!(a.plan(&t, &other_region, &exists).is_err());

        // The undo of the creation: refused once the trail was stopped.
        let change = a.plan(&t, &create, &missing).unwrap();
        let made = state(
            vec![trail(DEFAULT_TRAIL_NAME, true, new_trail_selectors())],
            None,
        );
        let undo = a.revert_plan(&t, &create, &change, &made).unwrap();
        assert_eq!(undo.after["undo"], "delete-trail");
        assert_eq!(undo.after["bucket"], bucket);
        let stopped_since = state(
            vec![trail(DEFAULT_TRAIL_NAME, false, new_trail_selectors())],
            None,
        );
        assert!(a
            .revert_plan(&t, &create, &change, &stopped_since)
            .unwrap_err()
            .message
            .contains("has changed since"));
    }

    #[test]
    fn the_bucket_policy_lets_only_the_trail_write() {
        let arn = "arn:aws:cloudtrail:us-east-1:111122223333:trail/t";
        let policy = bucket_policy("aws", "logs", "111122223333", arn);
        let write = &policy["Statement"][1];
        assert_eq!(write["Action"], "s3:PutObject");
        assert_eq!(
            write["Resource"],
            "arn:aws:s3:::logs/AWSLogs/111122223333/*"
        );
        assert_eq!(
            write["Condition"]["StringEquals"]["s3:x-amz-acl"],
            "bucket-owner-full-control"
        );
        assert_eq!(write["Condition"]["StringEquals"]["aws:SourceArn"], arn);
        assert_eq!(policy["Statement"][0]["Action"], "s3:GetBucketAcl");
    }
}
