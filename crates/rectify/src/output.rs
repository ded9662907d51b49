//! How jobs and outcomes look on a terminal.

use rectify_model::Job;

/// `text` safe to print on a terminal: control characters (escape
/// sequences that clear the screen or move the cursor, carriage returns
/// that overwrite a line, line breaks that forge one) and the Unicode
/// marks that reorder text are written as escapes (`\x1b`, `\r`, `\n`,
/// `\u{202e}`), and a backslash as `\\`, so that ids and reasons taken
/// from events show as what they are.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() || is_bidi_control(c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Marks that change the order text is shown in (embedding, override,
/// isolate): they can make a line read as something else.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// One line per job: `outcome  rule  account/region  resource  reason`,
/// every part escaped ([`escape`]).
pub fn job_line(job: &Job) -> String {
    escape(&job_line_raw(job))
}

fn job_line_raw(job: &Job) -> String {
    let outcome = rectify_engine::outcome_of(job);
    // An open job shows its state: its outcome, if any, is an earlier
    // run's (an approved job is pending again).
    let kind = match job.state {
        rectify_model::JobState::Dead => "dead".to_string(),
        rectify_model::JobState::WaitingApproval => outcome.kind.to_string(),
        state if !state.is_final() => state.to_string(),
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
        match &outcome.finding_update {
            Some(update) if outcome.finding_update_failed() => {
                format!("{}; Security Hub finding {update}", outcome.reason)
            }
            _ => outcome.reason.clone(),
        }
    )
}

/// Every field of a job, one a line, each value escaped ([`escape`]).
pub fn job_details(job: &Job) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: &str| out.push_str(&format!("{k:<14}{}\n", escape(v)));
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
    if let Some(plan) = &job.plan {
        line("plan digest", &plan.digest());
    }
    if let Some(e) = &job.last_error {
        line("last error", e);
    }
    if let Some(o) = &job.outcome {
        line("outcome", &format!("{}: {}", o.kind, o.reason));
        if let Some(update) = &o.finding_update {
            line("finding", update);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("plain id-1/é"), "plain id-1/é");
        assert_eq!(escape("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(escape("ok\rFORGED"), "ok\\rFORGED");
        assert_eq!(escape("x\ny\tz\u{7f}\u{9b}"), "x\\ny\\tz\\x7f\\u{9b}");
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        // A backslash is doubled, so an escape cannot be faked.
        assert_eq!(escape("\\x1b"), "\\\\x1b");
        for text in ["\x1b[2J", "\r", "\u{202e}", "\u{9b}"] {
            assert!(!escape(text)
                .chars()
                .any(|c| c.is_control() || is_bidi_control(c)));
        }
    }
}
