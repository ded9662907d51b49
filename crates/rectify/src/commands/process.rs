//! `rectify process FILE|-`: events in, jobs run to completion, outcomes out.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use rectify_engine::EngineOptions;
use serde_json::json;

use super::print_json;
use crate::{context, output};

pub async fn run(
    config: Option<&Path>,
    file: &Path,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<u8> {
    let (bytes, origin) = if file == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        (buf, "stdin")
    } else {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        (bytes, "file")
    };
    let events = match rectify_ingest::parse_body(&bytes, &rectify_ingest::Limits::default()) {
        Ok(events) => events,
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return Ok(2);
        }
    };
    let options = EngineOptions {
        force_dry_run: dry_run,
        worker_id: context::local_worker_id(),
        ..EngineOptions::default()
    };
    let (engine, loaded) = context::engine(config, options).await?;
    crate::organizations::load_once(&loaded).await;
    context::reclaim_abandoned(&engine).await?;
    let code = submit_and_report(&engine, events, origin, json).await;
    // The anomaly detector's state, open buckets included: the next run
    // (or `serve`) continues from it.
    engine.save_tap_state(true).await;
    code
}

/// What submitting events and running their jobs gave.
pub(super) struct Ran {
    pub submitted: Vec<rectify_engine::Submitted>,
    pub jobs: Vec<rectify_model::Job>,
    pub paused: bool,
    /// 1 when a job failed or did not finish, else 0.
    pub code: u8,
}

impl Ran {
    pub fn json(&self) -> serde_json::Value {
        json!({"events": self.submitted, "jobs": self.jobs, "paused": self.paused})
    }

    /// One line per unmatched event and per job, then a pause note.
    pub fn print_text(&self) {
        for event in &self.submitted {
            if event.matched.is_empty() {
                println!(
                    "{:<18} event {} matched no rule (recorded)",
                    "unmatched", event.event_id
                );
            }
        }
        for job in &self.jobs {
            println!("{}", output::job_line(job));
        }
        if self.paused {
            println!("note: remediation is paused (`rectify resume`); jobs stay queued");
        }
    }
}

/// Submits the events, runs their jobs to the end, and says (on standard
/// error) which did not finish.
pub(super) async fn submit_and_run(
    engine: &rectify_engine::Engine,
    events: Vec<rectify_model::Event>,
    origin: &str,
) -> anyhow::Result<Ran> {
    let submitted = engine.submit(events, origin).await?;
    engine.drain().await?;
    let paused = engine.store().is_paused().await?;

    let mut jobs = Vec::new();
    for event in &submitted {
        for job in &event.jobs {
            if let Some(job) = engine.store().get_job(&job.id).await? {
                jobs.push(job);
            }
        }
    }
    let failed = jobs.iter().any(|j| {
        matches!(
            j.state,
            rectify_model::JobState::Failed | rectify_model::JobState::Dead
        ) || j
            .outcome
            .as_ref()
            .is_some_and(|o| o.finding_update_failed())
    });
    // Still open when this run ends: held by another process, or waiting
    // out a pause. A person must not read exit 0 as "all done".
    let unfinished: Vec<&rectify_model::Job> = jobs
        .iter()
        .filter(|j| !j.state.is_final() && j.state != rectify_model::JobState::WaitingApproval)
        .collect();
    if !unfinished.is_empty() {
        eprintln!(
            "rectify: {} job{} did not finish in this run (e.g. {} is {}); `rectify jobs list` shows them",
            unfinished.len(),
            if unfinished.len() == 1 { "" } else { "s" },
            unfinished[0].id,
            unfinished[0].state
        );
    }
    let code = if failed || !unfinished.is_empty() {
        1
    } else {
        0
    };
    Ok(Ran {
        submitted,
        jobs,
        paused,
        code,
    })
}

/// [`submit_and_run`], then prints what became of each event and job.
pub(super) async fn submit_and_report(
    engine: &rectify_engine::Engine,
    events: Vec<rectify_model::Event>,
    origin: &str,
    json: bool,
) -> anyhow::Result<u8> {
    let ran = submit_and_run(engine, events, origin).await?;
    if json {
        print_json(&ran.json());
    } else {
        ran.print_text();
    }
    Ok(ran.code)
}
