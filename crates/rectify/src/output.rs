//! How jobs and outcomes look on a terminal.

use rectify_model::Job;

/// One line per job: `outcome  rule  account/region  resource  reason`.
pub fn job_line(job: &Job) -> String {
    let outcome = rectify_engine::outcome_of(job);
    let kind = match job.state {
        rectify_model::JobState::Dead => "dead".to_string(),
        rectify_model::JobState::Retrying => "retrying".to_string(),
        _ => outcome.kind.to_string(),
    };
    format!(
        "{:<18} {}  {:<34} {}/{}  {}  {}",
        kind,
        // The whole id: job ids are time-ordered, so prefixes of jobs
        // created together are alike.
        job.id,
        job.rule_id,
        job.target.account,
        job.target.region,
        job.target.resource_id,
        outcome.reason
    )
}

pub fn job_details(job: &Job) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: &str| out.push_str(&format!("{k:<14}{v}\n"));
    line("job", &job.id);
    line("state", job.state.as_str());
    line("rule", &job.rule_id);
    line("action", &job.action);
    line("mode", job.mode.as_str());
    line("account", &job.target.account);
    line("region", &job.target.region);
    line(
        "resource",
        &format!("{} ({})", job.target.resource_id, job.target.resource_type),
    );
    if let Some(control) = &job.control {
        line("control", control);
    }
    if let Some(f) = &job.finding {
        line("finding", &f.id);
    }
    line("event", &job.event_id);
    line("attempts", &job.attempts.to_string());
    line("created", &job.created_at);
    line("updated", &job.updated_at);
    if let Some(at) = &job.next_run_at {
        line("next run", at);
    }
    if let Some(by) = &job.approved_by {
        line("approved by", by);
    }
    if let Some(e) = &job.last_error {
        line("last error", e);
    }
    if let Some(o) = &job.outcome {
        line("outcome", &format!("{}: {}", o.kind, o.reason));
    }
    if let Some(plan) = job
        .outcome
        .as_ref()
        .and_then(|o| o.change.as_ref())
        .or(job.plan.as_ref())
    {
        line("change", &plan.summary);
        line("  before", &plan.before.to_string());
        line("  after", &plan.after.to_string());
    }
    out
}
