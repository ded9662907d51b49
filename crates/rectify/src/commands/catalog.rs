//! `rectify catalog` and `rectify iam-policy`: the action catalog as data.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use rectify_model::{controls, Action, Rule};
use serde::Serialize;

use super::print_json;
use crate::context;

/// The README's markers around the generated table.
pub const MARKDOWN_BEGIN: &str =
    "<!-- catalog:begin (generated: `rectify catalog --markdown`; do not edit by hand) -->";
pub const MARKDOWN_END: &str = "<!-- catalog:end -->";

pub async fn catalog(
    json: bool,
    coverage: bool,
    markdown: bool,
    checks: bool,
) -> anyhow::Result<u8> {
    let aws = Arc::new(rectify_aws::Aws::new(rectify_aws::AwsSettings::default()).await);
    if checks {
        print_checks(&rectify_aws::checks::catalog(&aws), json);
        return Ok(0);
    }
    if markdown {
        if json {
            eprintln!("error: --markdown prints Markdown: leave out --output json");
            return Ok(2);
        }
        // The cloud and cluster actions; not the local test actions.
        let mut actions = rectify_aws::catalog(aws.clone());
        actions.extend(rectify_kube::catalog(Arc::new(rectify_kube::Kube::new(
            Default::default(),
            aws,
        ))));
        print!("{}", markdown_table(&actions));
        return Ok(0);
    }
    if coverage {
        let rules = match builtin_rules() {
            Ok(r) => r,
            Err(d) => {
                context::print_diagnostics(&d);
                return Ok(2);
            }
        };
        let report = coverage_report(&rectify_aws::catalog(aws), &rules);
        if json {
            print_json(&report);
        } else {
            print_coverage(&report);
        }
        return Ok(0);
    }
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
        println!("  controls:            {}", spec.controls.join(", "));
        println!("  calls per fix:       {}", spec.calls_per_fix);
        println!(
            "  approval by default: {}",
            if spec.approval_by_default {
                "yes"
            } else {
                "no"
            }
        );
        println!("  resources:           {}", spec.resource_types.join(", "));
        println!("  permissions:         {}", spec.permissions.join(", "));
        if spec.params.is_empty() {
            println!("  params:              none");
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

/// The rules of the built-in pack `aws-foundational`, as shipped (no
/// config file, no overrides).
pub(crate) fn builtin_rules() -> Result<Vec<Rule>, Vec<rectify_config::Diagnostic>> {
    let config = rectify_config::Loader::new()
        .pack("aws-foundational", context::AWS_FOUNDATIONAL)
        .load_str(
            "packs: [aws-foundational]\n",
            Path::new("<built-in pack aws-foundational>"),
        )?;
    Ok(config.rules.into_iter().map(|r| r.rule).collect())
}

/// One standard's controls, sorted into what rectify does with them.
#[derive(Debug, Serialize)]
pub struct StandardCoverage {
    /// The standard's path (`cis-aws-foundations-benchmark/v/5.0.0`).
    pub standard: String,
    pub name: String,
    /// Its controls (consolidated ids), each once.
    pub controls: usize,
    pub remediated: Vec<String>,
    pub detected: Vec<String>,
    pub neither: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Coverage {
    pub definitions: Definitions,
    pub standards: Vec<StandardCoverage>,
    /// Controls an action lists that no built-in rule names.
    pub unrouted: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Definitions {
    pub remediated: &'static str,
    pub detected: &'static str,
    pub neither: &'static str,
}

const DEFINITIONS: Definitions = Definitions {
    remediated:
        "a rule of the built-in pack names the control and that rule's action lists it in its spec",
    detected: "not remediated, but a rule of the built-in pack names the control",
    neither: "no rule of the built-in pack names the control",
};

/// The controls the pack remediates and those it only detects (see
/// `rectify catalog --help`), from enabled rules only.
fn classify(actions: &[Arc<dyn Action>], rules: &[Rule]) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut remediated = BTreeSet::new();
    let mut named = BTreeSet::new();
    for rule in rules.iter().filter(|r| r.enabled) {
        let action = actions.iter().find(|a| a.spec().id == rule.action);
        for control in &rule.controls {
            named.insert(control.clone());
            if action.is_some_and(|a| a.spec().controls.contains(&control.as_str())) {
                remediated.insert(control.clone());
            }
        }
    }
    let detected = named.difference(&remediated).cloned().collect();
    (remediated, detected)
}

pub fn coverage_report(actions: &[Arc<dyn Action>], rules: &[Rule]) -> Coverage {
    let (remediated, detected) = classify(actions, rules);
    let standards = controls::standards()
        .into_iter()
        .map(|standard| {
            let mut ids: Vec<&str> = controls::controls_of(standard);
            ids.sort_by_key(|a| control_order(a));
            let pick = |set: &BTreeSet<String>, inside: bool| -> Vec<String> {
                ids.iter()
                    .filter(|c| set.contains(**c) == inside)
                    .map(|c| c.to_string())
                    .collect()
            };
            let r = pick(&remediated, true);
            let d = pick(&detected, true);
            let neither = ids
                .iter()
                .filter(|c| !remediated.contains(**c) && !detected.contains(**c))
                .map(|c| c.to_string())
                .collect();
            StandardCoverage {
                standard: standard.to_string(),
                name: standard_name(standard),
                controls: ids.len(),
                remediated: r,
                detected: d,
                neither,
            }
        })
        .collect();
    let named: BTreeSet<String> = remediated.union(&detected).cloned().collect();
    let mut unrouted: Vec<String> = actions
        .iter()
        .flat_map(|a| a.spec().controls.iter().map(|c| c.to_string()))
        .filter(|c| !named.contains(c))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    unrouted.sort_by_key(|a| control_order(a));
    Coverage {
        definitions: DEFINITIONS,
        standards,
        unrouted,
    }
}

/// `EC2.2` before `EC2.10`.
fn control_order(id: &str) -> (String, u32, String) {
    match id.split_once('.') {
        Some((service, n)) => (
            service.to_ascii_lowercase(),
            n.parse().unwrap_or(u32::MAX),
            id.to_string(),
        ),
        None => (id.to_ascii_lowercase(), u32::MAX, id.to_string()),
    }
}

/// How Security Hub names the standard.
fn standard_name(path: &str) -> String {
    let (name, version) = path.split_once("/v/").unwrap_or((path, ""));
    match name {
        "aws-foundational-security-best-practices" => {
            format!("AWS Foundational Security Best Practices v{version}")
        }
        "cis-aws-foundations-benchmark" => format!("CIS AWS Foundations Benchmark v{version}"),
        "pci-dss" => format!("PCI DSS v{version}"),
        "nist-800-53" => "NIST SP 800-53 Revision 5".to_string(),
        "service-managed-aws-control-tower" => {
            "Service-Managed Standard: AWS Control Tower".to_string()
        }
        other => format!("{other} v{version}"),
    }
}

fn print_coverage(report: &Coverage) {
    println!("remediated: {}", report.definitions.remediated);
    println!("detected:   {}", report.definitions.detected);
    println!("neither:    {}", report.definitions.neither);
    for s in &report.standards {
        println!();
        println!(
            "{} ({}): {} controls: {} remediated, {} detected, {} neither",
            s.name,
            s.standard,
            s.controls,
            s.remediated.len(),
            s.detected.len(),
            s.neither.len()
        );
        for (label, list) in [
            ("remediated", &s.remediated),
            ("detected", &s.detected),
            ("neither", &s.neither),
        ] {
            let text = if list.is_empty() {
                "-".to_string()
            } else {
                list.join(", ")
            };
            println!("  {label:<11} {text}");
        }
    }
    if !report.unrouted.is_empty() {
        println!();
        println!(
            "listed by an action, named by no built-in rule: {}",
            report.unrouted.join(", ")
        );
    }
}

/// One Markdown table cell: no pipe or line break breaks the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The README's table of the catalog, between its markers.
pub fn markdown_table(actions: &[Arc<dyn Action>]) -> String {
    let mut out = String::new();
    out.push_str(MARKDOWN_BEGIN);
    out.push('\n');
    out.push_str(
        "| action | controls | what it does | approval by default | calls per fix | params |\n",
    );
    out.push_str("|---|---|---|---|---|---|\n");
    for action in actions {
        let spec = action.spec();
        let params = if spec.params.is_empty() {
            "none".to_string()
        } else {
            spec.params
                .iter()
                .map(|p| {
                    format!(
                        "`{}` ({}, default `{}`): {}",
                        p.name,
                        p.kind,
                        p.default,
                        cell(p.doc)
                    )
                })
                .collect::<Vec<_>>()
                .join("<br>")
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            spec.id,
            spec.controls.join(", "),
            cell(spec.summary),
            if spec.approval_by_default {
                "yes"
            } else {
                "no"
            },
            spec.calls_per_fix,
            params
        ));
    }
    out.push_str(MARKDOWN_END);
    out.push('\n');
    out
}

/// The least-privilege policies: the permission policy of the role rectify
/// assumes in a member account (the actions that enabled rules use,
/// narrowed to the account's resources and regions, no write to an exempt
/// resource), that role's trust policy (`--trust`), or the policy of
/// rectify's own identity (`--own`).
/// `rectify kube-rbac`: the ClusterRole for the kube.* actions the rules
/// use (all of them with `all`).
pub async fn kube_rbac(config: Option<&Path>, all: bool, name: &str) -> anyhow::Result<u8> {
    if rectify_kube::target::check_name(name).is_err() {
        eprintln!("error: --name `{name}` is not a Kubernetes object name (lower-case letters, digits, `-`, `.`)");
        return Ok(2);
    }
    let ids: Vec<String> = if all {
        let aws = std::sync::Arc::new(rectify_aws::Aws::new(Default::default()).await);
        context::catalog(aws)
            .iter()
            .map(|a| a.spec().id.to_string())
            .filter(|id| id.starts_with("kube."))
            .collect()
    } else {
        let loaded = match context::load(config).await {
            Ok(l) => l,
            Err(d) => {
                context::print_diagnostics(&d);
                return Ok(2);
            }
        };
        loaded
            .config
            .rules
            .iter()
            .map(|r| r.rule.action.clone())
            .collect()
    };
    print!(
        "{}",
        rectify_kube::rbac::cluster_role_yaml(name, ids.iter().map(String::as_str))
    );
    Ok(0)
}

pub async fn iam_policy(
    config: Option<&Path>,
    account: Option<&str>,
    trust: bool,
    own: bool,
    principal: Option<&str>,
    scan: bool,
) -> anyhow::Result<u8> {
    use rectify_aws::actions::policy;
    if scan {
        let aws = Arc::new(rectify_aws::Aws::new(rectify_aws::AwsSettings::default()).await);
        print_json(&scan_policy(&rectify_aws::checks::catalog(&aws)));
        return Ok(0);
    }
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
        let scope = own_scope(config);
        print_json(&policy::own_policy(&scope));
        return Ok(0);
    }
    let member = match member_account(config, account) {
        Ok(member) => member,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(2);
        }
    };
    let member = member.as_ref();
    if trust {
        let Some(principal) = principal else {
            eprintln!("error: --trust needs --principal ARN: rectify's own identity (an IAM role or user ARN, exactly; `aws sts get-caller-identity` shows it)");
            return Ok(2);
        };
        if !is_principal_arn(principal) {
            eprintln!("error: --principal `{principal}` is not an IAM role or user ARN (arn:aws:iam::<12 digits>:role/<name> or :user/<name>)");
            return Ok(2);
        }
        // Every account read from the organization has the same role and
        // external id, so its trust policy needs no account named.
        let external_id = match (member, &config.from_organizations) {
            (Some(member), _) => member.external_id.as_deref(),
            (None, Some(org)) => org.external_id.as_deref(),
            (None, None) => {
                eprintln!(
                    "error: no account is configured: the trust policy is for an account's role"
                );
                return Ok(2);
            }
        };
        print_json(&policy::trust_policy(principal, external_id));
        return Ok(0);
    }
    let partition = member
        .and_then(|a| a.role_arn.as_deref())
        .and_then(|arn| arn.split(':').nth(1))
        .unwrap_or(partition);
    // No account named: the role of every account read from the
    // organization, in the organization's regions.
    let no_regions = Vec::new();
    let org_regions = config.from_organizations.as_ref().map(|o| &o.regions);
    print_json(&member_policy(
        &loaded,
        member.map(|a| a.id.as_str()),
        partition,
        member.map_or(org_regions.unwrap_or(&no_regions), |a| &a.regions),
    ));
    Ok(0)
}

/// The account `--account` names (or the only one configured): listed by
/// hand, or, with `accounts.from_organizations`, an account of the
/// organization with its role and external id. The organization is not
/// read: its OU filters are not applied here, only its account lists.
fn member_account(
    config: &rectify_config::Config,
    account: Option<&str>,
) -> Result<Option<rectify_config::Account>, String> {
    let org = config.from_organizations.as_ref();
    match (account, config.accounts.as_slice()) {
        (Some(id), accounts) => {
            if let Some(a) = accounts.iter().find(|a| a.id == id) {
                return Ok(Some(a.clone()));
            }
            let Some(org) = org else {
                return Err(format!("account {id} is not in the config"));
            };
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("--account `{id}` is not an account id (12 digits)"));
            }
            if org.exclude_accounts.iter().any(|a| a == id)
                || !(org.include_accounts.is_empty()
                    || org.include_accounts.iter().any(|a| a == id))
            {
                return Err(format!(
                    "account {id} is left out by accounts.from_organizations.accounts (include/exclude)"
                ));
            }
            Ok(Some(rectify_config::Account {
                id: id.to_string(),
                name: None,
                role_arn: Some(org.role_for(id)),
                external_id: org.external_id.clone(),
                owner: None,
                regions: org.regions.clone(),
            }))
        }
        (None, [only]) if org.is_none() => Ok(Some(only.clone())),
        (None, []) => Ok(None),
        (None, accounts) => {
            let ids: Vec<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
            Err(format!(
                "{} accounts are configured ({}{}): name one with --account",
                ids.len(),
                ids.join(", "),
                if org.is_some() {
                    ", and the organization's"
                } else {
                    ""
                }
            ))
        }
    }
}

/// The permission policy of the member role in `account` (`None`: any),
/// for the actions the enabled rules use.
pub(crate) fn member_policy(
    loaded: &context::Loaded,
    account: Option<&str>,
    partition: &str,
    regions: &[String],
) -> serde_json::Value {
    use rectify_aws::actions::policy;
    let config = &loaded.config;
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
    let scope = policy::MemberScope {
        account,
        partition,
        regions,
        exempt_tag: &config.guardrails.exempt_tag,
    };
    // Roles the enabled rules hand to a service (a trail's CloudWatch Logs
    // role, a flow log's delivery role): PassRole is limited to them.
    let account = account.unwrap_or("*");
    let passed: Vec<String> = config
        .rules
        .iter()
        .filter(|r| r.rule.enabled)
        .filter_map(|r| r.rule.params.as_object())
        .flat_map(|p| ["role_arn", "deliver_logs_permission_arn"].map(|k| p.get(k)))
        .filter_map(|v| v.and_then(|v| v.as_str()))
        .filter(|arn| arn.contains(":iam::") && arn.contains(":role/"))
        .map(|arn| arn.replace("{account}", account))
        .collect();
    let passed: Vec<&str> = passed.iter().map(String::as_str).collect();
    policy::member_policy_passing(permissions, scope, &passed)
}

/// What rectify's own identity acts on, as the config names it.
pub(crate) fn own_scope(config: &rectify_config::Config) -> rectify_aws::actions::policy::OwnScope {
    use rectify_aws::actions::policy;
    policy::OwnScope {
        partition: rectify_model::partition_of(&config.aws.region).to_string(),
        role_arns: config
            .accounts
            .iter()
            .filter_map(|a| a.role_arn.clone())
            .collect(),
        securityhub_role_arn: config.aws.securityhub_role_arn.clone(),
        ocsf_findings: config
            .rules
            .iter()
            .any(|r| r.rule.enabled && answers_ocsf(&r.rule.pattern)),
        import_findings: config.detect.as_ref().is_some_and(|d| d.security_hub),
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
        organization: config
            .from_organizations
            .as_ref()
            .map(|org| policy::OrganizationScope {
                role_arn_any_account: org.role_for("*"),
                security_contact: org.owner_from_security_contact,
            }),
    }
}

/// Whether a rule's pattern can match an OCSF finding of the new Security
/// Hub: its top-level `source` and `detail-type` each absent or admitting
/// `aws.securityhub` and `Findings Imported V2` (a matcher other than a
/// plain string is taken to admit it).
fn answers_ocsf(pattern: &serde_json::Value) -> bool {
    let admits = |field: &str, value: &str| match pattern.get(field) {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .any(|item| item.as_str().is_none_or(|s| s == value)),
        _ => true,
    };
    admits("source", "aws.securityhub")
        && admits("detail-type", rectify_model::SECURITY_HUB_IMPORTED_V2)
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

/// The posture checks `rectify scan` runs: id, severity, the ids each
/// standard gives their controls, resource type, permissions.
fn print_checks(checks: &[Arc<dyn rectify_model::Check>], json: bool) {
    use rectify_model::Standard;
    if json {
        let rows: Vec<serde_json::Value> = checks
            .iter()
            .map(|c| {
                let spec = c.spec();
                let mut row = serde_json::to_value(spec).unwrap_or_default();
                for standard in Standard::ALL {
                    row[standard.key()] = serde_json::json!(spec.controls_in(standard));
                }
                row
            })
            .collect();
        print_json(&rows);
        return;
    }
    for c in checks {
        let spec = c.spec();
        println!("{}  ({})", spec.id, spec.severity.label());
        println!("  {}", spec.title);
        for standard in Standard::ALL {
            let ids = spec.controls_in(standard);
            if !ids.is_empty() {
                println!("  {:<19}{}", format!("{}:", standard.key()), ids.join(", "));
            }
        }
        println!("  {:<19}{}", "resources:", spec.resource_type);
        println!("  {:<19}{}", "permissions:", spec.permissions.join(", "));
    }
}

/// The read-only policy the posture checks need in a member account
/// (`rectify iam-policy --scan`), beside the actions' own.
pub fn scan_policy(checks: &[Arc<dyn rectify_model::Check>]) -> serde_json::Value {
    let mut actions: Vec<&str> = checks
        .iter()
        .flat_map(|c| c.spec().permissions.iter().copied())
        .collect();
    // --send-to-security-hub imports into the member account.
    actions.extend(["securityhub:BatchImportFindings", "securityhub:GetFindings"]);
    // A report-only scan reads bucket settings from AWS Config.
    actions.extend(rectify_aws::checks::FROM_CONFIG_PERMISSIONS);
    // A report-only scan reads bucket tags from the Tagging API.
    actions.extend(rectify_aws::checks::TAG_PERMISSIONS);
    actions.sort();
    actions.dedup();
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "RectifyScanChecks",
            "Effect": "Allow",
            "Action": actions,
            "Resource": "*",
        }],
    })
}
