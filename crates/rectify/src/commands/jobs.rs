//! `rectify jobs list|show|approve`, `rectify pause|resume`.

use std::path::Path;

use rectify_model::JobState;
use rectify_store::JobFilter;

use super::print_json;
use crate::cli::JobsCommand;
use crate::{context, output};

pub async fn run(config: Option<&Path>, command: JobsCommand, json: bool) -> anyhow::Result<u8> {
    let (engine, loaded) = context::engine(config, Default::default()).await?;
    // The commands that run jobs need the organization's accounts.
    if matches!(
        command,
        JobsCommand::Retry { no_run: false, .. }
            | JobsCommand::Approve { no_run: false, .. }
            | JobsCommand::Revert { no_run: false, .. }
    ) {
        crate::organizations::load_once(&loaded).await;
    }
    match command {
        JobsCommand::List { state, rule, limit } => {
            let state = match state.as_deref().map(|s| JobState::parse(s).ok_or(s)) {
                Some(Err(s)) => {
                    let known: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
                    eprintln!("error: unknown state `{s}`; known: {}", known.join(", "));
                    return Ok(2);
                }
                Some(Ok(s)) => Some(s),
                None => None,
            };
            let jobs = engine
                .store()
                .list_jobs(&JobFilter {
                    state,
                    rule_id: rule,
                    limit,
                    ..Default::default()
                })
                .await?;
            if json {
                print_json(&jobs);
            } else {
                for job in &jobs {
                    println!("{}", output::job_line(job));
                }
            }
            Ok(0)
        }
        JobsCommand::Show { id } => match engine.store().get_job(&id).await? {
            Some(job) if json => {
                print_json(&job);
                Ok(0)
            }
            Some(job) => {
                print!("{}", output::job_details(&job));
                Ok(0)
            }
            None => {
                eprintln!("error: no job {id}");
                Ok(1)
            }
        },
        JobsCommand::Retry { id, no_run } => {
            let by = std::env::var("USER").unwrap_or_else(|_| "cli".into());
            let job = match engine.retry(&id, &format!("cli:{by}")).await {
                Ok(job) => job,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(1);
                }
            };
            if no_run {
                println!("queued {} again as {}", id, job.id);
                return Ok(0);
            }
            run_queue_and_show(&engine, job, json).await
        }
        JobsCommand::Approve {
            id,
            by,
            no_run,
            plan_digest,
        } => {
            let by = by
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "cli".into());
            let approved = engine
                .approve_shown(&id, &format!("cli:{by}"), plan_digest.as_deref())
                .await;
            let job = match approved {
                Ok(job) => job,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(1);
                }
            };
            if no_run {
                println!(
                    "approved {}; a running `rectify serve` will pick it up",
                    job.id
                );
                return Ok(0);
            }
            run_queue_and_show(&engine, job, json).await
        }
        JobsCommand::Revert {
            id,
            approve,
            by,
            no_run,
        } => {
            let by = format!(
                "cli:{}",
                by.or_else(|| std::env::var("USER").ok())
                    .unwrap_or_else(|| "cli".into())
            );
            let mut job = match engine.revert(&id, &by, rectify_model::Mode::Approve).await {
                Ok(job) => job,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(1);
                }
            };
            if no_run {
                println!("queued {} to undo job {id}", job.id);
                return Ok(0);
            }
            eprintln!("rectify: queued {} to undo job {id}", job.id);
            // Plan it first: a person approves the undo they were shown.
            engine.run_ready().await?;
            if approve {
                let planned = engine.store().get_job(&job.id).await?;
                if let Some(planned) = planned.filter(|j| j.state == JobState::WaitingApproval) {
                    job = engine.approve(&planned.id, &by).await?;
                }
            }
            run_queue_and_show(&engine, job, json).await
        }
    }
}

pub async fn set_paused(
    config: Option<&Path>,
    paused: bool,
    rule: Option<String>,
) -> anyhow::Result<u8> {
    let (engine, loaded) = context::engine(config, Default::default()).await?;
    let by = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "cli".into())
    );
    let Some(rule) = rule else {
        engine.store().set_paused(paused, &by).await?;
        println!(
            "{}",
            if paused {
                "remediation paused: events are recorded and queued, no job runs until `rectify resume`"
            } else {
                "remediation resumed"
            }
        );
        return Ok(0);
    };
    if loaded.config.rule(&rule).is_none() {
        eprintln!("error: no rule `{rule}` in the configuration");
        return Ok(2);
    }
    let reason = format!("paused by {by}");
    engine
        .store()
        .set_rule_paused(&rule, paused.then_some(reason.as_str()), &by)
        .await?;
    println!("rule {rule} {}", if paused { "paused" } else { "resumed" });
    Ok(0)
}

/// Runs the queue in this process, then prints the job as it ended; exit 1
/// when it failed.
async fn run_queue_and_show(
    engine: &rectify_engine::Engine,
    job: rectify_model::Job,
    json: bool,
) -> anyhow::Result<u8> {
    engine.drain().await?;
    let job = engine.store().get_job(&job.id).await?.unwrap_or(job);
    if json {
        print_json(&job);
    } else {
        println!("{}", output::job_line(&job));
    }
    Ok(if matches!(job.state, JobState::Failed | JobState::Dead) {
        1
    } else {
        0
    })
}
