//! Scheduled posture scans in `rectify serve` (`scan.schedule`): at each
//! time the cron expression names, one replica (the one whose claim in
//! the store wins) scans, feeds the rules if `scan.feed`, and keeps the
//! summary in the scan history. A run that falls while a scan is still
//! going is skipped, not queued: after each scan the next run is the next
//! time after now.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rectify_config::scan::ScanSettings;
use rectify_engine::scan::ScanOptions;
use rectify_engine::Engine;

use super::history::{self, ScanMeta};
use super::Scope;
use crate::context;

/// The schedule's name in the store's claim table.
const SCHEDULE: &str = "scan";
/// How long a claim holds without being renewed: a replica that dies
/// mid-scan stops blocking the schedule after this.
const HOLD: Duration = Duration::from_secs(120);
/// How often the scanning replica renews its claim.
const RENEW_EVERY: Duration = Duration::from_secs(30);

/// Runs the schedule until `stop` turns true.
pub fn start(
    engine: Arc<Engine>,
    loaded: context::Loaded,
    settings: ScanSettings,
    worker_id: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    eprintln!(
        "rectify: scanning on schedule `{}` (UTC){}",
        settings.schedule.expression(),
        if settings.feed {
            ", feeding the rules"
        } else {
            ""
        }
    );
    tokio::spawn(async move {
        loop {
            let now = SystemTime::now();
            let Some(next) = settings.schedule.next_after(now) else {
                tracing::warn!("scan.schedule fires no more");
                return;
            };
            let wait = next.duration_since(now).unwrap_or_default();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let slot = rectify_model::format_rfc3339(next.into());
            let until = rectify_model::rfc3339_after(HOLD);
            match engine
                .store()
                .claim_scan_schedule(SCHEDULE, &slot, &worker_id, &until)
                .await
            {
                Ok(true) => {
                    tokio::select! {
                        _ = run_held(&engine, &loaded, &settings, &worker_id) => {}
                        _ = stop.wait_for(|s| *s) => {
                            tracing::warn!(slot, "stopping: the scheduled scan was cut short and is not kept");
                        }
                    }
                    // Let go at once, so that the next run does not wait
                    // for the hold to run out.
                    let past = rectify_model::rfc3339_before(Duration::from_secs(1));
                    if let Err(e) = engine
                        .store()
                        .hold_scan_schedule(SCHEDULE, &worker_id, &past)
                        .await
                    {
                        tracing::warn!(error = %e, "the scan schedule's claim was not let go; it runs out by itself");
                    }
                }
                Ok(false) => {
                    tracing::info!(
                        slot,
                        "scheduled scan: another replica runs it, or is still scanning"
                    );
                }
                Err(e) => {
                    tracing::warn!(slot, error = %e, "scheduled scan skipped: the store did not answer")
                }
            }
        }
    })
}

/// One scheduled scan while holding the claim, renewing it meanwhile.
async fn run_held(
    engine: &Arc<Engine>,
    loaded: &context::Loaded,
    settings: &ScanSettings,
    worker_id: &str,
) {
    let renew = async {
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            let until = rectify_model::rfc3339_after(HOLD);
            match engine
                .store()
                .hold_scan_schedule(SCHEDULE, worker_id, &until)
                .await
            {
                Ok(true) => {}
                Ok(false) => tracing::warn!("the scan schedule's claim was lost; scanning on"),
                Err(e) => tracing::warn!(error = %e, "the scan schedule's claim was not renewed"),
            }
        }
    };
    tokio::select! {
        _ = scan_once(engine, loaded, settings, worker_id) => {}
        _ = renew => {}
    }
}

/// Scans, sends to Security Hub and feeds as `settings` say, and keeps the
/// summary.
async fn scan_once(
    engine: &Arc<Engine>,
    loaded: &context::Loaded,
    settings: &ScanSettings,
    worker_id: &str,
) {
    let scope = Scope::of(&loaded.config, &settings.accounts, &settings.regions);
    let options = ScanOptions {
        checks: rectify_aws::checks::catalog(&loaded.aws),
        per_service: settings.concurrency,
        regions: settings.regions.clone(),
        progress: None,
        report_only: !settings.feed,
        settings_from: super::settings_from(settings.from_config, settings.send_to_security_hub),
    };
    let mut report = engine.scan_with(&settings.accounts, &options).await;
    let security_hub = if settings.send_to_security_hub {
        Some(super::import_into_security_hub(&loaded.aws, &report).await)
    } else {
        None
    };
    let events = std::mem::take(&mut report.events);
    let fed = events.len();
    if settings.feed && !events.is_empty() {
        // The workers of this replica (or another) run the jobs.
        if let Err(e) = engine.submit(events, "scanner").await {
            report.errors.push(format!("feeding the rules: {e:#}"));
        }
    }
    let meta = ScanMeta {
        kind: "scheduled",
        started_by: worker_id.to_string(),
        accounts: scope.accounts,
        regions: scope.regions,
        feed: settings.feed,
        dry_run: false,
        fed,
        security_hub,
    };
    for note in &report.notes {
        tracing::info!(note = %note, "scheduled scan");
    }
    let record = history::record_of(&report, &meta);
    let failed = record.summary["verdicts"]["failed"].as_u64().unwrap_or(0);
    match engine.store().record_scan(&record).await {
        Ok(()) => tracing::info!(
            scan = %record.id,
            resources = report.checked,
            failed,
            errors = report.errors.len(),
            from_config = report.from_config,
            "scheduled scan done"
        ),
        Err(e) => tracing::warn!(error = %e, "the scheduled scan's summary was not kept"),
    }
}
