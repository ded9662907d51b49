//! The posture scanner behind `rectify scan`. In each configured account
//! and region it runs
//!
//! - the check of every action the enabled rules name (the action's
//!   `discover` and `check`): each resource out of compliance becomes a
//!   Security Hub import event of its own (source `rectify.scanner`) that,
//!   submitted, goes through the same rules, modes and guardrails as any
//!   finding;
//! - the posture checks it is given (CIS AWS Foundations v3.0 and FSBP
//!   controls, `rectify_aws::checks`), except those whose control an
//!   enabled action already checks: their verdicts are reported.
//!
//! Everything runs at once, bounded per service and region by the scan's
//! [`ScanReads`], which also makes each shared listing once and backs off
//! when a service throttles.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rectify_model::check::standard_ids;
use rectify_model::{
    Action, Check, Event, Observed, ScanReads, SettingsFrom, Severity, Standard, Target, Verdict,
    SCANNER_SOURCE,
};
use serde::Serialize;
use serde_json::{json, Value};

use crate::Engine;

/// Action checks (or posture checks) in flight at once per service and
/// region, and calls in flight at once per service and region.
pub const DEFAULT_PER_SERVICE: usize = 8;

/// What a scan found.
#[derive(Debug, Default, Serialize)]
pub struct ScanReport {
    /// One per resource an action found out of compliance, ready to
    /// submit.
    #[serde(skip)]
    pub events: Vec<Event>,
    /// Distinct resources judged: an account and a resource id (a resource
    /// two checks judge counts once, an account judged in two regions too).
    pub checked: usize,
    /// Verdicts: one per check and resource.
    pub verdicts: usize,
    /// Resources out of compliance that carry the exemption tag: left
    /// alone, and no finding made for them.
    pub exempt: usize,
    /// Account-region-check combinations that could not be listed or
    /// checked, with the reason; the scan goes on past them.
    pub errors: Vec<String>,
    /// What each check is.
    pub checks: Vec<CheckInfo>,
    /// Every verdict, sorted by account, check and resource.
    pub results: Vec<CheckResult>,
    /// Calls that came back throttled and were tried again.
    pub throttled: u64,
    /// Resources whose settings were taken from AWS Config's configuration
    /// items (see [`ScanOptions::settings_from`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub from_config: u64,
    /// What the scan's reads noted: where settings came from, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub started_at: String,
    pub finished_at: String,
}

/// A check as the reports show it: a posture check, or an action's check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckInfo {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub resource_type: String,
    /// Security Hub (consolidated) control ids.
    pub controls: Vec<String>,
    /// The ids each standard gives them (AWS's mapping).
    pub standards: BTreeMap<Standard, Vec<String>>,
    /// `check` (a posture check) or `action` (an action's check).
    pub kind: &'static str,
    pub permissions: Vec<String>,
}

impl CheckInfo {
    fn new(
        id: &str,
        title: &str,
        severity: Severity,
        resource_type: &str,
        controls: &[&str],
        kind: &'static str,
        permissions: &[&str],
    ) -> CheckInfo {
        CheckInfo {
            id: id.to_string(),
            title: title.to_string(),
            severity,
            resource_type: resource_type.to_string(),
            controls: controls.iter().map(|c| c.to_string()).collect(),
            standards: Standard::ALL
                .into_iter()
                .map(|s| {
                    (
                        s,
                        standard_ids(controls, s)
                            .into_iter()
                            .map(str::to_string)
                            .collect(),
                    )
                })
                .collect(),
            kind,
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
        }
    }
}

/// One resource judged by one check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub check: String,
    /// The Security Hub control id a finding about it carries.
    pub control: String,
    pub severity: Severity,
    /// Out of compliance but carrying the exemption tag.
    pub exempt: bool,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Options of one scan.
#[derive(Clone, Default)]
pub struct ScanOptions {
    /// Posture checks to run besides the actions' own.
    pub checks: Vec<Arc<dyn Check>>,
    /// Calls in flight at once per service and region (0: the default).
    pub per_service: usize,
    /// Only these regions of each account (empty: all of its regions).
    pub regions: Vec<String>,
    /// Told `(done, total)` as checks finish (a progress bar).
    pub progress: Option<Arc<dyn Fn(usize, usize) + Send + Sync>>,
    /// Verdicts only: no finding events and no states kept for jobs (a
    /// scan that feeds nothing to the rules holds less).
    pub report_only: bool,
    /// Where bucket settings come from: AWS Config's configuration items
    /// where a recorder of the account's own records buckets continuously
    /// (one call per 100 buckets instead of one per setting and bucket),
    /// or the buckets. As fresh as Config's recording, so a scan that
    /// feeds the rules reads the buckets whatever this says.
    pub settings_from: SettingsFrom,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How long a state a scan read stands in for a job's own read.
const SCANNED_FOR: Duration = Duration::from_secs(600);
/// The most states kept from one scan (beyond that, jobs read again).
const SCANNED_MAX: usize = 100_000;

/// What a scan's action checks read of resources out of compliance, so
/// that a job made from its finding that will not write now (dry-run, or
/// waiting for approval) plans from it instead of reading it again. A job
/// about to write reads afresh. Taken once; kept ten minutes.
#[derive(Default)]
pub struct Scanned(Mutex<HashMap<String, (Instant, Observed)>>);

impl Scanned {
    fn key(action: &str, target: &Target, params: &Value) -> String {
        format!(
            "{action}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{params}",
            target.account, target.region, target.resource_id
        )
    }

    fn put(&self, action: &str, target: &Target, params: &Value, observed: Observed) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (at, _)| at.elapsed() < SCANNED_FOR);
        if map.len() < SCANNED_MAX {
            map.insert(
                Self::key(action, target, params),
                (Instant::now(), observed),
            );
        }
    }

    /// The state the scan read of `target` with `params`, if it is fresh.
    pub(crate) fn take(&self, action: &str, target: &Target, params: &Value) -> Option<Observed> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&Self::key(action, target, params))
            .filter(|(at, _)| at.elapsed() < SCANNED_FOR)
            .map(|(_, observed)| observed)
    }
}

/// One unit of scan work: an action in a region, or a check in a region.
enum Work<'a> {
    Action {
        id: &'a str,
        action: &'a Arc<dyn Action>,
        params: &'a Value,
    },
    Check(&'a Arc<dyn Check>),
}

/// What one unit of work gave.
#[derive(Default)]
struct Found {
    results: Vec<CheckResult>,
    events: Vec<Event>,
    errors: Vec<String>,
    exempt: usize,
}

impl Engine {
    /// Scans `accounts` (all configured accounts when empty), each in its
    /// `regions` (else `aws.region`), with the checks of the actions of
    /// the enabled rules (with the params of the first rule naming each).
    pub async fn scan(&self, accounts: &[String]) -> ScanReport {
        self.scan_with(accounts, &ScanOptions::default()).await
    }

    /// [`Engine::scan`] with posture checks and options.
    pub async fn scan_with(&self, accounts: &[String], options: &ScanOptions) -> ScanReport {
        let started_at = rectify_model::now_rfc3339();
        let per_service = if options.per_service == 0 {
            DEFAULT_PER_SERVICE
        } else {
            options.per_service
        };
        let reads = ScanReads::new(per_service)
            .with_recorded_settings(if options.report_only {
                options.settings_from
            } else {
                SettingsFrom::Resources
            })
            .with_verdicts_only(options.report_only);
        let mut actions: Vec<(&str, &Arc<dyn Action>, &Value)> = Vec::new();
        for loaded in self.config.rules.iter().filter(|r| r.rule.enabled) {
            let rule = &loaded.rule;
            if actions.iter().any(|(id, _, _)| *id == rule.action) {
                continue;
            }
            if let Some(action) = self.actions.get(&rule.action) {
                actions.push((rule.action.as_str(), action, &rule.params));
            }
        }
        // A posture check whose control an enabled action checks is left
        // to the action: one verdict per control and resource.
        let covered: HashSet<&str> = actions
            .iter()
            .flat_map(|(_, a, _)| a.spec().controls.iter().copied())
            .collect();
        let checks: Vec<&Arc<dyn Check>> = options
            .checks
            .iter()
            .filter(|c| !c.spec().controls.iter().any(|id| covered.contains(id)))
            .collect();

        let mut infos: Vec<CheckInfo> = Vec::new();
        for (id, action, _) in &actions {
            let spec = action.spec();
            infos.push(CheckInfo::new(
                id,
                spec.summary,
                Severity::High,
                spec.resource_types.first().copied().unwrap_or_default(),
                spec.controls,
                "action",
                spec.permissions,
            ));
        }
        for check in &checks {
            let spec = check.spec();
            infos.push(CheckInfo::new(
                spec.id,
                spec.title,
                spec.severity,
                spec.resource_type,
                spec.controls,
                "check",
                spec.permissions,
            ));
        }

        let home = [self.config.aws.region.clone()];
        let mut units: Vec<(String, String, Work)> = Vec::new();
        for account in &self.config.all_accounts() {
            if !accounts.is_empty() && !accounts.contains(&account.id) {
                continue;
            }
            let regions = if account.regions.is_empty() {
                &home[..]
            } else {
                &account.regions[..]
            };
            let regions = regions
                .iter()
                .filter(|r| options.regions.is_empty() || options.regions.contains(r));
            for (i, region) in regions.enumerate() {
                for (id, action, params) in &actions {
                    // An account-wide setting is the same in every region.
                    if action.spec().account_wide && i > 0 {
                        continue;
                    }
                    units.push((
                        account.id.clone(),
                        region.clone(),
                        Work::Action { id, action, params },
                    ));
                }
                for check in &checks {
                    if check.spec().account_wide && i > 0 {
                        continue;
                    }
                    units.push((account.id.clone(), region.clone(), Work::Check(check)));
                }
            }
        }
        let total = units.len();
        let done = std::sync::atomic::AtomicUsize::new(0);
        let found = futures_util::future::join_all(units.iter().map(|(account, region, work)| {
            let (reads, done) = (&reads, &done);
            async move {
                let found = match work {
                    Work::Action { id, action, params } => {
                        self.scan_action(
                            id,
                            action,
                            params,
                            account,
                            region,
                            reads,
                            options.report_only,
                        )
                        .await
                    }
                    Work::Check(check) => run_check(check, account, region, reads).await,
                };
                let now = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if let Some(progress) = &options.progress {
                    progress(now, total);
                }
                found
            }
        }))
        .await;

        let mut report = ScanReport {
            checks: infos,
            started_at,
            ..ScanReport::default()
        };
        for f in found {
            report.results.extend(f.results);
            report.events.extend(f.events);
            report.errors.extend(f.errors);
            report.exempt += f.exempt;
        }
        report.results.sort_by(|a, b| {
            (
                &a.verdict.account,
                &a.check,
                &a.verdict.region,
                &a.verdict.resource_id,
            )
                .cmp(&(
                    &b.verdict.account,
                    &b.check,
                    &b.verdict.region,
                    &b.verdict.resource_id,
                ))
        });
        report.verdicts = report.results.len();
        report.checked = distinct_resources(&report.results);
        report.throttled = reads.throttled();
        report.from_config = reads.recorded_resources();
        report.notes = reads.notes();
        report.finished_at = rectify_model::now_rfc3339();
        report
    }

    /// One action's check of every resource it lists in one region
    /// (`report_only`: its verdicts, no finding events).
    #[allow(clippy::too_many_arguments)]
    async fn scan_action(
        &self,
        id: &str,
        action: &Arc<dyn Action>,
        params: &Value,
        account: &str,
        region: &str,
        reads: &ScanReads,
        report_only: bool,
    ) -> Found {
        let mut found = Found::default();
        let service = id.split('.').nth(1).unwrap_or(id);
        let targets = match action.discover_in_scan(account, region, reads).await {
            Ok(targets) => targets,
            Err(e) => {
                found
                    .errors
                    .push(format!("{account}/{region} {id}: {}", e.message));
                return found;
            }
        };
        // One target per control where the action checks several controls
        // of one resource (CloudWatch.1-14 of an account).
        let mut seen = HashSet::new();
        let targets: Vec<Target> = targets
            .into_iter()
            .filter(|t| seen.insert((t.resource_id.clone(), action.finding_control(t))))
            .collect();
        // Action checks have slots of their own: what they read through the
        // shared reads takes the service's slots, and a check holding one
        // of those while waiting for another could wait forever.
        let slots = format!("action:{service}");
        let checked = futures_util::future::join_all(targets.iter().map(|target| {
            let slots = slots.as_str();
            async move {
                reads
                    .call(slots, region, || {
                        self.metrics
                            .timed(id, "check", action.check_in_scan(target, params, reads))
                    })
                    .await
            }
        }))
        .await;
        let exempt_tag = self.config.guardrails.exempt_tag.as_str();
        let severity = Severity::High;
        for (target, checked) in targets.iter().zip(checked) {
            let control = action.finding_control(target);
            match checked {
                Ok(mut observed) => {
                    let exempt = !observed.compliant && observed.tags.contains_key(exempt_tag);
                    let evidence = evidence_of(&observed);
                    // The state and tags move into the verdict unless a
                    // finding event (and a job's plan) needs them too.
                    let fed = !exempt && !observed.compliant && !report_only;
                    let (state, tags) = if fed {
                        (observed.state.clone(), observed.tags.clone())
                    } else {
                        (
                            std::mem::take(&mut observed.state),
                            std::mem::take(&mut observed.tags),
                        )
                    };
                    let mut verdict = Verdict::new(
                        account,
                        region,
                        &target.resource_type,
                        target.resource_id.clone(),
                        observed.compliant,
                        evidence,
                        state,
                    );
                    verdict.tags = tags;
                    found.results.push(CheckResult {
                        check: id.to_string(),
                        control: control.to_string(),
                        severity,
                        exempt,
                        verdict,
                    });
                    if exempt {
                        found.exempt += 1;
                    } else if !observed.compliant && !report_only {
                        found.events.push(finding_event(
                            id,
                            action.spec().summary,
                            control,
                            target,
                            &observed,
                        ));
                        if !action.uses_control_parameters() {
                            self.scanned.put(id, target, params, observed);
                        }
                    }
                }
                Err(e) => found.errors.push(format!(
                    "{account}/{region} {id} {}: {}",
                    target.resource_id, e.message
                )),
            }
        }
        found
    }
}

/// One posture check in one region.
async fn run_check(
    check: &Arc<dyn Check>,
    account: &str,
    region: &str,
    reads: &ScanReads,
) -> Found {
    let spec = check.spec();
    let mut found = Found::default();
    match check.run(account, region, reads).await {
        Ok(verdicts) => {
            found.results = verdicts
                .into_iter()
                .map(|verdict| CheckResult {
                    check: spec.id.to_string(),
                    control: spec.finding_control().to_string(),
                    severity: spec.severity,
                    exempt: false,
                    verdict,
                })
                .collect();
        }
        Err(e) => found
            .errors
            .push(format!("{account}/{region} {}: {}", spec.id, e.message)),
    }
    found
}

/// Distinct resources among the verdicts: a resource is its account and
/// id, however many checks judged it and in however many regions (an
/// account whose settings are judged per region is one resource; regional
/// resources have ids of their region).
fn distinct_resources(results: &[CheckResult]) -> usize {
    results
        .iter()
        .map(|r| (r.verdict.account.as_str(), r.verdict.resource_id.as_str()))
        .collect::<HashSet<_>>()
        .len()
}

/// A short account of what an action's check read.
fn evidence_of(observed: &Observed) -> String {
    let text = observed.state.to_string();
    let verdict = if observed.compliant {
        "complies"
    } else {
        "out of compliance"
    };
    if text.chars().count() > 900 {
        format!(
            "{verdict}; as read: {}…",
            text.chars().take(900).collect::<String>()
        )
    } else {
        format!("{verdict}; as read: {text}")
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
