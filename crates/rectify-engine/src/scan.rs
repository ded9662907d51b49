//! The posture scanner behind `rectify scan`: lists every resource the
//! enabled rules' actions act on, in each configured account and region,
//! runs the action's read-only check, and turns each resource out of
//! compliance into a Security Hub import event of its own (source
//! `rectify.scanner`). Submitted, those go through the same rules, modes
//! and guardrails as any finding.

use std::collections::HashSet;

use rectify_model::{Event, Observed, Target, SCANNER_SOURCE};
use serde_json::{json, Value};

use crate::Engine;

/// What a scan found.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// One per resource out of compliance, ready to submit.
    pub events: Vec<Event>,
    /// Resources checked.
    pub checked: usize,
    /// Resources out of compliance that carry the exemption tag: left
    /// alone, and no finding made for them.
    pub exempt: usize,
    /// Account-region-action combinations that could not be listed or
    /// checked, with the reason; the scan goes on past them.
    pub errors: Vec<String>,
}

impl Engine {
    /// Scans `accounts` (all configured accounts when empty), each in its
    /// `regions` (else `aws.region`), for the actions of the enabled rules
    /// (with the params of the first rule naming each action).
    pub async fn scan(&self, accounts: &[String]) -> ScanReport {
        let mut report = ScanReport::default();
        let mut actions: Vec<(&str, &Value)> = Vec::new();
        for loaded in self.config.rules.iter().filter(|r| r.rule.enabled) {
            let rule = &loaded.rule;
            if !actions.iter().any(|(id, _)| *id == rule.action) {
                actions.push((rule.action.as_str(), &rule.params));
            }
        }
        let home = [self.config.aws.region.clone()];
        let exempt_tag = self.config.guardrails.exempt_tag.as_str();
        for account in &self.config.all_accounts() {
            if !accounts.is_empty() && !accounts.contains(&account.id) {
                continue;
            }
            let regions = if account.regions.is_empty() {
                &home[..]
            } else {
                &account.regions[..]
            };
            // What was checked already: account-wide settings are listed
            // in every region.
            let mut seen = HashSet::new();
            for region in regions {
                for (id, params) in &actions {
                    let Some(action) = self.actions.get(*id) else {
                        continue;
                    };
                    let targets = match action.discover(&account.id, region).await {
                        Ok(targets) => targets,
                        Err(e) => {
                            report
                                .errors
                                .push(format!("{}/{region} {id}: {}", account.id, e.message));
                            continue;
                        }
                    };
                    for target in targets {
                        // Regional resources are distinct per region; an
                        // account-wide setting is checked once.
                        let place = if action.spec().account_wide {
                            String::new()
                        } else {
                            region.clone()
                        };
                        // One target per control where the action checks
                        // several controls of one resource (CloudWatch.1-14
                        // of an account).
                        let control = action.finding_control(&target);
                        if !seen.insert((
                            id.to_string(),
                            place,
                            target.resource_id.clone(),
                            control,
                        )) {
                            continue;
                        }
                        report.checked += 1;
                        let checked = self
                            .metrics
                            .timed(id, "check", action.check(&target, params))
                            .await;
                        match checked {
                            Ok(observed) if observed.compliant => {}
                            Ok(observed) if observed.tags.contains_key(exempt_tag) => {
                                report.exempt += 1;
                            }
                            Ok(observed) => report.events.push(finding_event(
                                id,
                                action.spec().summary,
                                control,
                                &target,
                                &observed,
                            )),
                            Err(e) => report.errors.push(format!(
                                "{}/{region} {id} {}: {}",
                                account.id, target.resource_id, e.message
                            )),
                        }
                    }
                }
            }
        }
        report
    }
}

/// A Security Hub import event carrying a finding of rectify's own for
/// `target`, with the live tags the check read (so that the exemption tag
/// holds at plan time too).
fn finding_event(
    action: &str,
    title: &str,
    control: &str,
    target: &Target,
    observed: &Observed,
) -> Event {
    let now = rectify_model::now_rfc3339();
    let (account, region, partition) = (&target.account, &target.region, &target.partition);
    let finding = json!({
        "SchemaVersion": "2018-10-08",
        "Id": format!("rectify-scanner/{action}/{control}/{}", target.resource_id),
        "ProductArn": format!("arn:{partition}:securityhub:{region}:{account}:product/{account}/default"),
        "ProductName": "rectify scanner",
        "CompanyName": "rectify",
        "GeneratorId": format!("rectify-scanner/{action}"),
        "AwsAccountId": account,
        "Region": region,
        "Types": ["Software and Configuration Checks"],
        "CreatedAt": now,
        "UpdatedAt": now,
        "Severity": {"Label": "HIGH"},
        "Title": title,
        "Description": format!("rectify scan: {} is out of compliance; as read: {}", target.resource_id, observed.state),
        "Compliance": {"Status": "FAILED", "SecurityControlId": control},
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
        "Resources": [{
            "Type": target.resource_type,
            "Id": target.resource_id,
            "Partition": partition,
            "Region": region,
            "Tags": observed.tags,
        }],
    });
    let body = json!({
        "version": "0",
        "id": format!("scan-{}", uuid::Uuid::now_v7()),
        "detail-type": "Security Hub Findings - Imported",
        "source": SCANNER_SOURCE,
        "account": account,
        "time": now,
        "region": region,
        "resources": [target.resource_id],
        "detail": {"findings": [finding]},
    });
    Event {
        id: body["id"].as_str().unwrap_or_default().to_string(),
        source: SCANNER_SOURCE.to_string(),
        detail_type: "Security Hub Findings - Imported".to_string(),
        account: account.clone(),
        region: region.clone(),
        time: now,
        resources: vec![target.resource_id.clone()],
        body,
        parsed: Default::default(),
    }
}
