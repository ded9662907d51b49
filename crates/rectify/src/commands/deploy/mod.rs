//! `rectify deploy render`: infrastructure as code generated from the
//! config, so that what is deployed grants exactly what the enabled rules
//! need and forwards exactly what they listen to.

mod cloudformation;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{json, Value};

use crate::cli::DeployTarget;
use crate::context;

/// The member role's name when no configured account names one.
const DEFAULT_ROLE_NAME: &str = "rectify-remediation";
const CLOUDTRAIL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";

/// What the templates are made from, read off the loaded config.
pub(crate) struct Inputs {
    /// The member role's name, the same in every account.
    role_name: String,
    /// The external id the hub passes when it assumes the member role.
    external_id: String,
    /// The hub's region (`aws.region`).
    hub_region: String,
    /// The member role's permission policy, with `${AWS::AccountId}` and
    /// `${AWS::Partition}` left for CloudFormation to fill in.
    member_policy: Value,
    /// rectify's own identity's policy, before the hub's own resources are
    /// put in.
    own_scope: rectify_aws::actions::policy::OwnScope,
    /// The CloudTrail API calls the enabled rules listen to, by event source.
    api_calls: ApiCalls,
    /// The config's SNS notification topics: channel name, topic name.
    topics: Vec<(String, String)>,
}

/// CloudTrail events the enabled rules match, by `source` (`aws.s3`):
/// the `eventSource` values and the `eventName` values (`None`: a rule
/// takes every call of that source, so all are forwarded).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ApiCalls {
    pub by_source: BTreeMap<String, ApiCallFilter>,
    /// A rule matches CloudTrail events without naming their `source`:
    /// every API call is forwarded.
    pub any_source: bool,
}

#[derive(Debug, Default, PartialEq)]
pub(crate) struct ApiCallFilter {
    pub event_sources: Option<BTreeSet<String>>,
    pub event_names: Option<BTreeSet<String>>,
}

pub async fn render(config: Option<&Path>, target: DeployTarget, out: &Path) -> anyhow::Result<u8> {
    let loaded = match context::load(config).await {
        Ok(l) => l,
        Err(d) => {
            context::print_diagnostics(&d);
            return Ok(2);
        }
    };
    let inputs = match Inputs::read(&loaded) {
        Ok(i) => i,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(2);
        }
    };
    let files = match target {
        DeployTarget::Cloudformation => cloudformation::templates(&inputs),
    };
    std::fs::create_dir_all(out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    for (name, template) in files {
        let path = out.join(name);
        let mut text = serde_json::to_string_pretty(&template)?;
        text.push('\n');
        std::fs::write(&path, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(0)
}

impl Inputs {
    fn read(loaded: &context::Loaded) -> Result<Inputs, String> {
        let config = &loaded.config;
        // The accounts listed by hand and the organization's pattern: one
        // role, one external id, for the StackSet to make everywhere.
        let org = config.from_organizations.as_ref();
        let members: Vec<(Option<&str>, Option<&str>, &[String])> = config
            .accounts
            .iter()
            .map(|a| {
                (
                    a.role_arn.as_deref(),
                    a.external_id.as_deref(),
                    a.regions.as_slice(),
                )
            })
            .chain(org.map(|o| {
                (
                    Some(o.role_arn.as_str()),
                    o.external_id.as_deref(),
                    o.regions.as_slice(),
                )
            }))
            .collect();
        let role_names: BTreeSet<&str> = members
            .iter()
            .filter_map(|(arn, _, _)| *arn)
            .filter_map(|arn| arn.rsplit_once(":role/").map(|(_, path)| path))
            .map(|path| path.rsplit('/').next().unwrap_or(path))
            .collect();
        let role_name = match role_names.len() {
            0 => DEFAULT_ROLE_NAME.to_string(),
            1 => role_names.into_iter().next().unwrap_or_default().to_string(),
            _ => {
                return Err(format!(
                    "the accounts' role_arn name different roles ({}): a StackSet makes one role, of one name, in every account",
                    role_names.into_iter().collect::<Vec<_>>().join(", ")
                ))
            }
        };
        let external_ids: BTreeSet<&str> = members
            .iter()
            .filter_map(|(_, external_id, _)| *external_id)
            .collect();
        let external_id = match external_ids.len() {
            1 => external_ids.into_iter().next().unwrap_or_default().to_string(),
            0 => return Err("no account has an external_id: set accounts[].external_id or accounts.from_organizations.external_id (the member role's trust policy requires it)".to_string()),
            _ => return Err("the accounts have different external_id values: a StackSet's role takes one (set the same external_id on every account and on accounts.from_organizations)".to_string()),
        };
        // IAM's bounds on an external id.
        if !(2..=1224).contains(&external_id.len()) {
            return Err(format!(
                "external_id `{external_id}` is {} characters long: IAM takes 2 to 1224",
                external_id.len()
            ));
        }
        // One role for every account: the union of the accounts' region
        // allow-lists (any account without one: every region).
        let regions: Vec<String> = if members.iter().any(|(_, _, regions)| regions.is_empty()) {
            Vec::new()
        } else {
            let all: BTreeSet<&String> = members
                .iter()
                .flat_map(|(_, _, regions)| regions.iter())
                .collect();
            all.into_iter().cloned().collect()
        };
        let member_policy = super::catalog::member_policy(
            loaded,
            Some("${AWS::AccountId}"),
            "${AWS::Partition}",
            &regions,
        );
        let topics = config
            .notifications
            .iter()
            .filter_map(|(name, channel)| match channel {
                rectify_config::Channel::Sns { topic_arn } => topic_arn
                    .rsplit(':')
                    .next()
                    .map(|topic| (name.clone(), topic.to_string())),
                _ => None,
            })
            .collect();
        Ok(Inputs {
            role_name,
            external_id,
            hub_region: config.aws.region.clone(),
            member_policy,
            own_scope: super::catalog::own_scope(config),
            api_calls: ApiCalls::of(
                config
                    .rules
                    .iter()
                    .filter(|r| r.rule.enabled)
                    .map(|r| &r.rule.pattern),
            ),
            topics,
        })
    }
}

impl ApiCalls {
    /// The CloudTrail calls the given rule patterns match, read off their
    /// `source`, `detail.eventSource` and `detail.eventName` (also inside a
    /// `detail.$or`). A pattern that names no event names widens its source
    /// to every call; one that names no source widens to every API call.
    pub(crate) fn of<'p>(patterns: impl IntoIterator<Item = &'p Value>) -> ApiCalls {
        let mut calls = ApiCalls::default();
        for pattern in patterns {
            let is_api_call = strings(&pattern["detail-type"])
                .is_some_and(|types| types.contains(CLOUDTRAIL_DETAIL_TYPE));
            if !is_api_call {
                continue;
            }
            let Some(sources) = strings(&pattern["source"]) else {
                calls.any_source = true;
                continue;
            };
            let detail = &pattern["detail"];
            let event_sources = strings(&detail["eventSource"]);
            let event_names = match detail.get("$or").and_then(Value::as_array) {
                Some(branches) if detail.get("eventName").is_none() => branches
                    .iter()
                    .map(|b| strings(&b["eventName"]))
                    .try_fold(BTreeSet::new(), |mut all, names| {
                        all.extend(names?);
                        Some(all)
                    }),
                _ => strings(&detail["eventName"]),
            };
            for source in sources {
                let filter = calls
                    .by_source
                    .entry(source)
                    .or_insert_with(|| ApiCallFilter {
                        event_sources: Some(BTreeSet::new()),
                        event_names: Some(BTreeSet::new()),
                    });
                widen(&mut filter.event_sources, event_sources.as_ref());
                widen(&mut filter.event_names, event_names.as_ref());
            }
        }
        calls
    }

    /// The EventBridge patterns that forward these calls: one per source.
    pub(crate) fn patterns(&self) -> Vec<(String, Value)> {
        let mut patterns: Vec<(String, Value)> = self
            .by_source
            .iter()
            .map(|(source, filter)| {
                let mut detail = serde_json::Map::new();
                if let Some(sources) = &filter.event_sources {
                    detail.insert("eventSource".into(), json!(sources));
                }
                if let Some(names) = &filter.event_names {
                    detail.insert("eventName".into(), json!(names));
                }
                let mut pattern = json!({
                    "source": [source],
                    "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
                });
                if !detail.is_empty() {
                    pattern["detail"] = Value::Object(detail);
                }
                (source.clone(), pattern)
            })
            .collect();
        if self.any_source {
            patterns = vec![(
                String::new(),
                json!({"detail-type": [CLOUDTRAIL_DETAIL_TYPE]}),
            )];
        }
        patterns
    }
}

/// A pattern field's plain string values (`None` when it is absent or holds
/// anything but strings: a prefix, a wildcard, `exists`).
fn strings(value: &Value) -> Option<BTreeSet<String>> {
    let list = value.as_array()?;
    list.iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<BTreeSet<String>>>()
        .filter(|set| !set.is_empty())
}

/// Adds `more` to a filter; `None` (anything) on either side makes it
/// `None`.
fn widen(filter: &mut Option<BTreeSet<String>>, more: Option<&BTreeSet<String>>) {
    match (filter.as_mut(), more) {
        (Some(set), Some(more)) => set.extend(more.iter().cloned()),
        _ => *filter = None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_calls_are_read_off_the_patterns() {
        let patterns = [
            json!({"source": ["aws.s3"], "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
                   "detail": {"eventSource": ["s3.amazonaws.com"], "eventName": ["DeleteBucketPolicy"]}}),
            json!({"source": ["aws.s3"], "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
                   "detail": {"eventSource": ["s3.amazonaws.com"],
                              "$or": [{"eventName": ["PutBucketAcl"]}, {"eventName": ["PutBucketPolicy"]}]}}),
            json!({"source": ["aws.ec2"], "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
                   "detail": {"eventName": [{"prefix": "Authorize"}]}}),
            json!({"source": ["aws.securityhub"], "detail-type": ["Security Hub Findings - Imported"]}),
        ];
        let calls = ApiCalls::of(&patterns);
        assert!(!calls.any_source);
        assert_eq!(calls.by_source.len(), 2);
        let s3 = &calls.by_source["aws.s3"];
        assert_eq!(
            s3.event_names.as_ref().unwrap().iter().collect::<Vec<_>>(),
            ["DeleteBucketPolicy", "PutBucketAcl", "PutBucketPolicy"]
        );
        // A prefix is not a name: every ec2 call is forwarded.
        assert_eq!(calls.by_source["aws.ec2"].event_names, None);
        let patterns = calls.patterns();
        assert_eq!(
            patterns[0].1,
            json!({"source": ["aws.ec2"], "detail-type": [CLOUDTRAIL_DETAIL_TYPE]})
        );
        assert_eq!(
            patterns[1].1["detail"]["eventName"],
            json!(["DeleteBucketPolicy", "PutBucketAcl", "PutBucketPolicy"])
        );
    }
}
