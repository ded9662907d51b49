//! `rectify scan`: the posture scanner. Runs the posture checks (CIS AWS
//! Foundations v3.0, FSBP) and the checks of the enabled rules' actions
//! in the configured accounts, prints the verdicts in the format asked
//! for, with a summary per account, standard and severity; with `--feed`
//! (or `--dry-run`) sends what the actions found out of compliance
//! through the rules like any finding.

mod asff;
pub(crate) mod history;
mod html;
mod ocsf;
pub(crate) mod scheduled;
mod summary;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use rectify_engine::scan::{ScanOptions, ScanReport};
use rectify_engine::EngineOptions;
use rectify_model::{SettingsFrom, Standard};
use serde_json::Value;

use super::process::submit_and_run;
use crate::cli::Output;
use crate::context;

/// What `rectify scan` was asked.
pub struct ScanArgs {
    pub accounts: Vec<String>,
    pub dry_run: bool,
    pub feed: bool,
    pub send_to_security_hub: bool,
    pub compliance: Option<Standard>,
    pub per_service: usize,
    /// Where bucket settings come from in a report-only scan.
    pub settings_from: SettingsFrom,
}

/// Where a report-only scan takes bucket settings: as `from_config` asks
/// (`true`: AWS Config, naming each region where it cannot serve;
/// `false`: the buckets), else from Config where it records them. A scan
/// whose verdicts go to Security Hub reads the buckets unless asked: a
/// bucket that passes there archives its finding, and that is said on a
/// read of the bucket itself.
pub(crate) fn settings_from(from_config: Option<bool>, send_to_security_hub: bool) -> SettingsFrom {
    match from_config {
        Some(true) => SettingsFrom::Config,
        Some(false) => SettingsFrom::Resources,
        None if send_to_security_hub => SettingsFrom::Resources,
        None => SettingsFrom::ConfigWhereRecorded,
    }
}

pub async fn run(config: Option<&Path>, args: ScanArgs, output: Output) -> anyhow::Result<u8> {
    // --dry-run shows what the rules would change: it feeds them.
    let feed = args.feed || args.dry_run;
    let options = EngineOptions {
        force_dry_run: args.dry_run,
        worker_id: context::local_worker_id(),
        ..EngineOptions::default()
    };
    let (engine, loaded) = context::engine(config, options).await?;
    crate::organizations::load_once(&loaded).await;
    context::reclaim_abandoned(&engine).await?;
    if loaded.config.all_accounts().is_empty() {
        eprintln!(
            "error: no accounts in the config: `rectify scan` scans the accounts under `accounts:`"
        );
        return Ok(2);
    }
    if let Some(unknown) = args
        .accounts
        .iter()
        .find(|a| loaded.config.account(a).is_none())
    {
        eprintln!("error: --account {unknown}: not under `accounts:` in the config");
        return Ok(2);
    }
    let progress: Option<Arc<dyn Fn(usize, usize) + Send + Sync>> =
        if std::io::stderr().is_terminal() {
            Some(Arc::new(|done, total| {
                let width = 30;
                let filled = (done * width).checked_div(total).unwrap_or(width);
                eprint!(
                    "\rscanning [{}{}] {done}/{total}",
                    "#".repeat(filled),
                    " ".repeat(width - filled)
                );
                if done == total {
                    eprintln!();
                }
                let _ = std::io::stderr().flush();
            }))
        } else {
            None
        };
    let scope = Scope::of(&loaded.config, &args.accounts, &[]);
    let scan_options = ScanOptions {
        checks: rectify_aws::checks::catalog(&loaded.aws),
        per_service: args.per_service,
        regions: Vec::new(),
        progress,
        report_only: !feed,
        settings_from: args.settings_from,
    };
    let mut report = engine.scan_with(&args.accounts, &scan_options).await;
    for error in &report.errors {
        eprintln!("warning: not scanned: {error}");
    }
    let failed = report
        .results
        .iter()
        .filter(|r| summary::status_of(r) == "FAIL")
        .count();
    eprintln!(
        "rectify: scanned {} resources ({} verdicts): {} failed, {} more exempt (tag {})",
        report.checked, report.verdicts, failed, report.exempt, loaded.config.guardrails.exempt_tag
    );
    if report.from_config > 0 {
        eprintln!(
            "rectify: the settings of {} bucket(s) were read from AWS Config's configuration items (as Config last recorded them; --live reads each from S3)",
            report.from_config
        );
    }
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    if report.throttled > 0 {
        eprintln!(
            "rectify: {} call(s) were throttled and tried again after a pause",
            report.throttled
        );
    }
    let compliance = args.compliance.map(|s| summary::compliance(&report, s));

    let sent = if args.send_to_security_hub {
        let sent = import_into_security_hub(&loaded.aws, &report).await;
        eprintln!("rectify: {} finding(s) imported into Security Hub", sent.0);
        for f in &sent.1 {
            eprintln!("warning: Security Hub: {f}");
        }
        Some(sent)
    } else {
        None
    };
    let sent_failed = sent.as_ref().is_some_and(|(_, failed)| !failed.is_empty());

    let events = std::mem::take(&mut report.events);
    if feed {
        eprintln!(
            "rectify: {} out of compliance by the enabled rules' actions' checks, sent through the rules",
            events.len()
        );
    }
    let fed = events.len();
    let ran = if feed {
        Some(submit_and_run(&engine, events, "scanner").await?)
    } else {
        None
    };
    let meta = history::ScanMeta {
        kind: "manual",
        started_by: format!(
            "{}@{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
            context::hostname()
        ),
        accounts: scope.accounts,
        regions: scope.regions,
        feed,
        dry_run: args.dry_run,
        fed,
        security_hub: sent,
    };
    if let Err(e) = engine
        .store()
        .record_scan(&history::record_of(&report, &meta))
        .await
    {
        eprintln!("warning: the scan's summary was not kept in the scan history: {e}");
    }

    match output {
        Output::Json => {
            // Written as it is serialized: no copy of the report as a JSON
            // tree, nor as one string, beside the report itself.
            let out = JsonOut {
                scan: &report,
                summary: summary::by_account(&report),
                compliance: compliance.as_ref(),
                jobs: ran.as_ref().map(|r| r.json()),
            };
            write_json(&out);
        }
        Output::Csv => print!("{}", summary::csv(&report)),
        Output::Asff => write_json(&asff_findings(&report)),
        Output::Ocsf => write_json(&ocsf_findings(&report)),
        Output::Html => print!("{}", html::render(&report)),
        Output::Text => {
            for r in report
                .results
                .iter()
                .filter(|r| summary::status_of(r) != "PASS")
            {
                println!(
                    "{:<6} {:<13} {:<32} {:<12} {} {} {}",
                    summary::status_of(r),
                    r.severity.label(),
                    r.check,
                    r.verdict.account,
                    r.verdict.region,
                    r.verdict.resource_id,
                    r.verdict.evidence
                );
            }
            print!("{}", summary::summary_text(&report));
            if let Some(c) = &compliance {
                print!("{}", summary::compliance_text(c));
            }
            if let Some(ran) = &ran {
                ran.print_text();
            }
        }
    }
    let code = match &ran {
        Some(ran) => ran.code,
        // A posture report: 1 when a resource fails a check.
        None => u8::from(failed > 0),
    };
    Ok(if report.errors.is_empty() && !sent_failed {
        code
    } else {
        1
    })
}

/// The accounts and regions a scan covers: the configured accounts
/// (those in `accounts`, when given) in their regions (else `aws.region`),
/// less the regions not in `regions`, when given.
pub(crate) struct Scope {
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
}

impl Scope {
    pub(crate) fn of(
        config: &rectify_config::Config,
        accounts: &[String],
        regions: &[String],
    ) -> Scope {
        let mut scope = Scope {
            accounts: Vec::new(),
            regions: Vec::new(),
        };
        for account in config.all_accounts() {
            if !accounts.is_empty() && !accounts.contains(&account.id) {
                continue;
            }
            let own = if account.regions.is_empty() {
                vec![config.aws.region.clone()]
            } else {
                account.regions.clone()
            };
            for region in own {
                if (regions.is_empty() || regions.contains(&region))
                    && !scope.regions.contains(&region)
                {
                    scope.regions.push(region);
                }
            }
            scope.accounts.push(account.id.clone());
        }
        scope
    }
}

/// [`send_to_security_hub`], as counts: imported, and what was refused
/// or failed.
pub(crate) async fn import_into_security_hub(
    aws: &rectify_aws::Aws,
    report: &ScanReport,
) -> (usize, Vec<String>) {
    match send_to_security_hub(aws, report).await {
        Ok((imported, refused)) => (
            imported,
            refused
                .into_iter()
                .map(|f| format!("refused a finding: {f}"))
                .collect(),
        ),
        Err(e) => (0, vec![format!("import failed: {e}")]),
    }
}

/// Imports the verdicts as ASFF findings, per account and region: every
/// failure, and a pass where Security Hub already holds a finding about
/// that check and resource (it is archived as passed). Each finding keeps
/// the `FirstObservedAt` Security Hub holds. The number imported, and
/// what Security Hub refused.
async fn send_to_security_hub(
    aws: &rectify_aws::Aws,
    report: &ScanReport,
) -> Result<(usize, Vec<String>), rectify_model::ActionError> {
    use rectify_aws::effects::securityhub_import;
    use std::collections::BTreeMap;
    let now = rectify_model::now_rfc3339();
    let mut places: BTreeMap<(&str, &str), Vec<&rectify_engine::scan::CheckResult>> =
        BTreeMap::new();
    for r in &report.results {
        places
            .entry((r.verdict.account.as_str(), r.verdict.region.as_str()))
            .or_default()
            .push(r);
    }
    let (mut imported, mut failed) = (0, Vec::new());
    for ((account, region), results) in places {
        let product = asff::product_arn(rectify_model::partition_of(region), region, account);
        let ids: Vec<String> = results.iter().map(|r| asff::finding_id(r)).collect();
        let first =
            securityhub_import::first_observed(aws, account, region, &product, &ids).await?;
        let findings: Vec<Value> = results
            .iter()
            .zip(&ids)
            .filter(|(r, id)| !r.verdict.pass || first.contains_key(*id))
            .map(|(r, id)| {
                let info = report.checks.iter().find(|c| c.id == r.check);
                asff::finding(r, info, &now, first.get(id).map(String::as_str))
            })
            .collect();
        let done = securityhub_import::import(aws, account, region, &findings).await?;
        imported += done.imported;
        failed.extend(done.failed);
    }
    Ok((imported, failed))
}

/// Every verdict as an ASFF finding.
fn asff_findings(report: &ScanReport) -> Vec<Value> {
    let now = rectify_model::now_rfc3339();
    report
        .results
        .iter()
        .map(|r| {
            let info = report.checks.iter().find(|c| c.id == r.check);
            asff::finding(r, info, &now, None)
        })
        .collect()
}

/// Every verdict as an OCSF Compliance Finding.
fn ocsf_findings(report: &ScanReport) -> Vec<Value> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    report
        .results
        .iter()
        .map(|r| {
            let info = report.checks.iter().find(|c| c.id == r.check);
            ocsf::finding(r, info, ms)
        })
        .collect()
}

/// `rectify scan --output json`: the report, the summary, the compliance
/// report and, with `--feed`, the events and jobs at the top level.
#[derive(serde::Serialize)]
struct JsonOut<'a> {
    scan: &'a ScanReport,
    summary: Vec<summary::AccountSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compliance: Option<&'a summary::Compliance>,
    #[serde(flatten)]
    jobs: Option<Value>,
}

/// Pretty JSON straight to standard output, buffered.
fn write_json(value: &impl serde::Serialize) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let written = serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write JSON: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_settings_come_from_config_only_where_nothing_says_otherwise() {
        assert_eq!(
            settings_from(None, false),
            SettingsFrom::ConfigWhereRecorded
        );
        assert_eq!(settings_from(Some(true), false), SettingsFrom::Config);
        assert_eq!(settings_from(Some(false), false), SettingsFrom::Resources);
        // Verdicts bound for Security Hub are read from the buckets
        // unless Config is asked for by name.
        assert_eq!(settings_from(None, true), SettingsFrom::Resources);
        assert_eq!(settings_from(Some(true), true), SettingsFrom::Config);
    }
}
