//! `rectify catalog` and `rectify iam-policy`: the action catalog as data.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use super::print_json;
use crate::context;

pub async fn catalog(json: bool) -> anyhow::Result<u8> {
    let aws = Arc::new(rectify_aws::Aws::new(rectify_aws::AwsSettings::default()).await);
    let actions = context::catalog(aws);
    if json {
        let specs: Vec<_> = actions.iter().map(|a| a.spec()).collect();
        print_json(&specs);
        return Ok(0);
    }
    for action in &actions {
        let spec = action.spec();
        println!("{}", spec.id);
        println!("  {}", spec.summary);
        println!("  controls:    {}", spec.controls.join(", "));
        println!("  resources:   {}", spec.resource_types.join(", "));
        println!("  permissions: {}", spec.permissions.join(", "));
        if spec.params.is_empty() {
            println!("  params:      none");
        } else {
            println!("  params:");
            for p in spec.params {
                println!(
                    "    {:<32} {:<8} default {:<8} {}",
                    p.name, p.kind, p.default, p.doc
                );
            }
        }
        println!();
    }
    Ok(0)
}

/// The least-privilege policies: the permission policy of the role rectify
/// assumes in a member account (the actions that enabled rules use,
/// narrowed to the account's resources and regions, no write to an exempt
/// resource), that role's trust policy (`--trust`), or the policy of
/// rectify's own identity (`--own`).
pub async fn iam_policy(
    config: Option<&Path>,
    account: Option<&str>,
    trust: bool,
    own: bool,
    principal: Option<&str>,
) -> anyhow::Result<u8> {
    use rectify_aws::actions::policy;
    let loaded = match context::load(config).await {
        Ok(l) => l,
        Err(d) => {
            context::print_diagnostics(&d);
            return Ok(2);
        }
    };
    let config = &loaded.config;
    let partition = rectify_model::partition_of(&config.aws.region);
    if own {
        let scope = policy::OwnScope {
            partition: partition.to_string(),
            role_arns: config
                .accounts
                .iter()
                .filter_map(|a| a.role_arn.clone())
                .collect(),
            securityhub_role_arn: config.aws.securityhub_role_arn.clone(),
            topic_arns: config
                .notifications
                .values()
                .filter_map(|c| match c {
                    rectify_config::Channel::Sns { topic_arn } => Some(topic_arn.clone()),
                    _ => None,
                })
                .collect(),
            ses_senders: config
                .notifications
                .values()
                .filter_map(|c| match c {
                    rectify_config::Channel::Ses { from, .. } => Some(from.clone()),
                    _ => None,
                })
                .collect(),
            queue_arns: config
                .sources
                .sqs
                .iter()
                .filter_map(|q| policy::queue_arn(&q.queue_url, &q.region))
                .collect(),
            audit_kms_key: match &config.audit.key {
                rectify_config::AuditKeySetting::Kms { key_id } => Some(key_id.clone()),
                _ => None,
            },
            anchor: config
                .audit
                .anchor
                .as_ref()
                .map(|a| (a.s3_bucket.clone(), a.prefix.clone())),
        };
        print_json(&policy::own_policy(&scope));
        return Ok(0);
    }
    let member = match (account, config.accounts.as_slice()) {
        (Some(id), accounts) => match accounts.iter().find(|a| a.id == id) {
            Some(a) => Some(a),
            None => {
                eprintln!("error: account {id} is not in the config");
                return Ok(2);
            }
        },
        (None, [only]) => Some(only),
        (None, []) => None,
        (None, accounts) => {
            let ids: Vec<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
            eprintln!(
                "error: {} accounts are configured ({}): name one with --account",
                ids.len(),
                ids.join(", ")
            );
            return Ok(2);
        }
    };
    if trust {
        let Some(principal) = principal else {
            eprintln!("error: --trust needs --principal ARN: rectify's own identity (an IAM role or user ARN, exactly; `aws sts get-caller-identity` shows it)");
            return Ok(2);
        };
        if !is_principal_arn(principal) {
            eprintln!("error: --principal `{principal}` is not an IAM role or user ARN (arn:aws:iam::<12 digits>:role/<name> or :user/<name>)");
            return Ok(2);
        }
        let Some(member) = member else {
            eprintln!("error: no account is configured: the trust policy is for an account's role");
            return Ok(2);
        };
        print_json(&policy::trust_policy(
            principal,
            member.external_id.as_deref(),
        ));
        return Ok(0);
    }
    let used: BTreeSet<&str> = config
        .rules
        .iter()
        .filter(|r| r.rule.enabled)
        .map(|r| r.rule.action.as_str())
        .collect();
    let permissions: Vec<&str> = loaded
        .actions
        .iter()
        .map(|a| a.spec())
        .filter(|spec| used.contains(spec.id))
        .flat_map(|spec| spec.permissions.iter().copied())
        .collect();
    let no_regions = Vec::new();
    let scope = policy::MemberScope {
        account: member.map(|a| a.id.as_str()),
        partition: member
            .and_then(|a| a.role_arn.as_deref())
            .and_then(|arn| arn.split(':').nth(1))
            .unwrap_or(partition),
        regions: member.map_or(&no_regions, |a| &a.regions),
        exempt_tag: &config.guardrails.exempt_tag,
    };
    print_json(&policy::member_policy(permissions, scope));
    Ok(0)
}

/// `arn:<partition>:iam::<12 digits>:role/...` or `:user/...`.
fn is_principal_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts[..], ["arn", _, "iam", "", account, resource]
        if account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && (resource.starts_with("role/") || resource.starts_with("user/"))
            && resource.len() > 5)
}
