//! The `tickets` section: what loads, and what `rectify validate` reports.

use std::path::Path;

use rectify_config::tickets::TicketKind;
use rectify_config::{Loader, Scope};

fn env(name: &str) -> Option<String> {
    match name {
        "SNOW_PASSWORD" => Some("snow-pass".into()),
        "JIRA_TOKEN" => Some("jira-token".into()),
        "HOOK_SECRET" => Some("0123456789abcdef-hook".into()),
        "SHORT_SECRET" => Some("short".into()),
        _ => None,
    }
}

const RULE: &str = "rules:\n  - id: s3-bpa\n    pattern: {source: [aws.securityhub]}\n    action: aws.s3.block-public-access\n";

fn load(tickets: &str) -> Result<rectify_config::Config, Vec<rectify_config::Diagnostic>> {
    Loader::new().env(&env).load_str(
        &format!("tickets:\n{tickets}{RULE}"),
        Path::new("rectify.yaml"),
    )
}

fn messages(tickets: &str) -> Vec<String> {
    load(tickets)
        .expect_err("the config should not load")
        .into_iter()
        .map(|d| format!("{}: {}", d.field, d.message))
        .collect()
}

#[test]
fn both_kinds_load_with_their_defaults() {
    let c = load(
        "  poll_seconds: 60\n  webhook_secret_env: HOOK_SECRET\n  systems:\n    snow:\n      rules: [s3-bpa]\n      servicenow:\n        url: https://acme.service-now.com/\n        user: rectify\n        password_env: SNOW_PASSWORD\n        accepted_risk_close_codes: [Risk Accepted]\n    jira:\n      update_findings: false\n      jira:\n        url: https://acme.atlassian.net\n        email: bot@acme.com\n        api_token_env: JIRA_TOKEN\n        project: SEC\n",
    )
    .unwrap();
    let t = &c.tickets;
    assert_eq!(t.poll_seconds, 60);
    assert_eq!(
        t.webhook_secret.as_ref().unwrap().0,
        b"0123456789abcdef-hook"
    );
    let snow = &t.systems["snow"];
    assert_eq!(snow.url, "https://acme.service-now.com");
    assert!(snow.update_findings && snow.takes_rule("s3-bpa") && !snow.takes_rule("other"));
    match &snow.kind {
        TicketKind::ServiceNow {
            password,
            resolve_close_code,
            accepted_risk_close_codes,
            ..
        } => {
            assert_eq!(password.0, b"snow-pass");
            assert_eq!(resolve_close_code, "Solved (Permanently)");
            assert_eq!(accepted_risk_close_codes, &["Risk Accepted"]);
        }
        other => panic!("{other:?}"),
    }
    let jira = &t.systems["jira"];
    assert!(!jira.update_findings && jira.takes_rule("anything"));
    match &jira.kind {
        TicketKind::Jira {
            issue_type,
            done_transition,
            accepted_risk_resolutions,
            ..
        } => {
            assert_eq!(issue_type, "Task");
            assert_eq!(done_transition, "Done");
            assert_eq!(accepted_risk_resolutions, &["Won't Do"]);
        }
        other => panic!("{other:?}"),
    }
    // Secrets never show in debug output.
    assert!(!format!("{t:?}").contains("snow-pass"));
    assert_eq!(Scope::parse("tickets"), Some(Scope::Tickets));
}

#[test]
fn validate_reports_each_bad_setting() {
    let all = messages(
        "  poll_seconds: 0\n  webhook_secret_env: SHORT_SECRET\n  systems:\n    snow:\n      rules: [nope]\n      servicenow:\n        url: http://acme.service-now.com\n        user: rectify\n    two:\n      servicenow: {}\n      jira: {}\n    jira:\n      jira:\n        url: https://acme.atlassian.net\n        email: not-an-address\n        api_token_env: UNSET_TOKEN\n        project: sec\n    \"bad name\":\n      jira: {}\n",
    );
    let expect = [
        "tickets.poll_seconds: expected a whole number from 1 to 86400",
        "tickets.webhook_secret_env: ",
        "tickets.systems.snow.rules: unknown rule `nope`",
        "tickets.systems.snow.servicenow.url: `http://acme.service-now.com`: plain http is allowed only to a loopback address",
        "tickets.systems.snow.servicenow: one of `password_env`, `password_file` is required",
        "tickets.systems.two: a ticket system has exactly one of `servicenow`, `jira`",
        "tickets.systems.jira.jira.email: `not-an-address` is not an email address",
        "tickets.systems.jira.jira.api_token_env: environment variable `UNSET_TOKEN` is not set",
        "tickets.systems.jira.jira.project: `sec` is not a Jira project key",
        "tickets.systems.bad name: a ticket system's name is 1 to 64 letters",
    ];
    for fragment in expect {
        assert!(
            all.iter().any(|m| m.starts_with(fragment)),
            "no `{fragment}` in {all:#?}"
        );
    }
    assert_eq!(all.len(), expect.len(), "{all:#?}");
}

#[test]
fn a_system_list_is_required() {
    let all = messages("  poll_seconds: 30\n");
    assert_eq!(all, ["tickets.systems: missing field `systems`"]);
}
