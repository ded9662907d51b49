//! `rectify scan`: the posture scanner. Lists what the enabled rules' actions
//! act on in the configured accounts, checks each resource, and sends what
//! is out of compliance through the rules like any finding.

use std::path::Path;

use rectify_engine::EngineOptions;

use super::process::submit_and_report;
use crate::context;

pub async fn run(
    config: Option<&Path>,
    accounts: &[String],
    dry_run: bool,
    json: bool,
) -> anyhow::Result<u8> {
    let options = EngineOptions {
        force_dry_run: dry_run,
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
    if let Some(unknown) = accounts.iter().find(|a| loaded.config.account(a).is_none()) {
        eprintln!("error: --account {unknown}: not under `accounts:` in the config");
        return Ok(2);
    }
    let report = engine.scan(accounts).await;
    for error in &report.errors {
        eprintln!("warning: not scanned: {error}");
    }
    eprintln!(
        "rectify: scanned {} resources: {} out of compliance, {} more exempt (tag {})",
        report.checked,
        report.events.len(),
        report.exempt,
        loaded.config.guardrails.exempt_tag
    );
    let code = submit_and_report(&engine, report.events, "scanner", json).await?;
    Ok(if report.errors.is_empty() { code } else { 1 })
}
