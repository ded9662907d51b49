//! The `tickets` section.

use super::{channel_secret, check_webhook_url, list_keys, Ctx, Fields, MIN_WEBHOOK_SECRET_LEN};
use crate::tickets::{
    TicketKind, TicketSettings, TicketSystem, TicketTemplate, DEFAULT_TICKET_POLL_SECONDS,
};
use crate::yaml::{join, Node, Pos, Val};
use crate::Loader;

pub(super) const TICKETS_KEYS: &[&str] = &[
    "poll_seconds",
    "webhook_secret_env",
    "webhook_secret_file",
    "systems",
];
const SYSTEM_KEYS: &[&str] = &["servicenow", "jira", "rules", "update_findings", "template"];
const TICKET_KINDS: &[&str] = &["servicenow", "jira"];
const SERVICENOW_KEYS: &[&str] = &[
    "url",
    "user",
    "password_env",
    "password_file",
    "resolve_close_code",
    "accepted_risk_close_codes",
    "assignment_group",
];
const JIRA_KEYS: &[&str] = &[
    "url",
    "email",
    "api_token_env",
    "api_token_file",
    "project",
    "issue_type",
    "done_transition",
    "accepted_risk_resolutions",
    "accepted_risk_statuses",
];
const MAX_POLL_SECONDS: u64 = 86_400;

/// The settings, and each rule name a system lists with where it stands
/// (checked once the rules are read).
pub(super) fn read_tickets(
    cx: &mut Ctx,
    loader: &Loader,
    node: &Node,
) -> (TicketSettings, Vec<(String, String, Pos)>) {
    let mut settings = TicketSettings::default();
    let mut named_rules = Vec::new();
    let Some(f) = cx.fields(node, "tickets", TICKETS_KEYS) else {
        return (settings, named_rules);
    };
    settings.poll_seconds = cx
        .opt_u64(&f, "tickets", "poll_seconds", 1, MAX_POLL_SECONDS)
        .unwrap_or(DEFAULT_TICKET_POLL_SECONDS);
    if f.get("webhook_secret_env").is_some() || f.get("webhook_secret_file").is_some() {
        settings.webhook_secret = channel_secret(
            cx,
            loader,
            &f,
            "tickets",
            ("webhook_secret_env", "webhook_secret_file"),
            MIN_WEBHOOK_SECRET_LEN,
        );
    }
    let Some(systems) = f.opt("systems") else {
        cx.missing(&f, "tickets", "systems");
        return (settings, named_rules);
    };
    let Val::Map(entries) = &systems.val else {
        cx.err(
            systems.pos,
            "tickets.systems",
            format!(
                "expected a mapping of ticket system names, found {}",
                systems.val.kind()
            ),
        );
        return (settings, named_rules);
    };
    for e in entries {
        let field = join("tickets.systems", &e.key);
        if !is_system_name(&e.key) {
            cx.err(
                e.key_pos,
                &field,
                "a ticket system's name is 1 to 64 letters, digits, `-` or `_` (it is part of the webhook URL)",
            );
            continue;
        }
        let Some(sf) = cx.fields(&e.value, &field, SYSTEM_KEYS) else {
            continue;
        };
        for (rule, pos) in cx.string_list(sf.opt("rules"), &join(&field, "rules")) {
            named_rules.push((e.key.clone(), rule, pos));
        }
        let rules = named_rules
            .iter()
            .filter(|(s, _, _)| s == &e.key)
            .map(|(_, r, _)| r.clone())
            .collect();
        let update_findings = match sf.opt("update_findings") {
            Some(n) => cx
                .boolean(n, &join(&field, "update_findings"))
                .unwrap_or(true),
            None => true,
        };
        let kinds: Vec<&str> = TICKET_KINDS
            .iter()
            .copied()
            .filter(|k| sf.get(k).is_some())
            .collect();
        let read = match kinds.as_slice() {
            [kind] => {
                let kfield = join(&field, kind);
                let node = sf.get(kind).expect("listed above");
                match *kind {
                    "servicenow" => servicenow(cx, loader, node, &kfield),
                    _ => jira(cx, loader, node, &kfield),
                }
            }
            _ => {
                cx.err(
                    e.key_pos,
                    &field,
                    format!(
                        "a ticket system has exactly one of {}",
                        list_keys(TICKET_KINDS)
                    ),
                );
                None
            }
        };
        let template = match sf.opt("template") {
            Some(node) => super::channel_options::ticket_template(cx, loader, node, &field),
            None => Some(TicketTemplate::default()),
        };
        if let (Some((url, kind)), Some(template)) = (read, template) {
            settings.systems.insert(
                e.key.clone(),
                TicketSystem {
                    url,
                    rules,
                    update_findings,
                    kind,
                    template,
                },
            );
        }
    }
    (settings, named_rules)
}

fn is_system_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `url`: https (plain http only to a loopback address), no trailing `/`.
fn base_url(cx: &mut Ctx, f: &Fields, field: &str) -> Option<String> {
    let url = cx.req_string(f, field, "url")?;
    if let Err(why) = check_webhook_url(&url) {
        cx.err(f.key_pos("url").unwrap_or(f.pos), &join(field, "url"), why);
        return None;
    }
    Some(url.trim_end_matches('/').to_string())
}

fn names(cx: &mut Ctx, f: &Fields, field: &str, key: &str) -> Vec<String> {
    cx.string_list(f.opt(key), &join(field, key))
        .into_iter()
        .map(|(s, _)| s)
        .collect()
}

fn servicenow(
    cx: &mut Ctx,
    loader: &Loader,
    node: &Node,
    field: &str,
) -> Option<(String, TicketKind)> {
    let f = cx.fields(node, field, SERVICENOW_KEYS)?;
    let url = base_url(cx, &f, field);
    let user = cx.req_string(&f, field, "user");
    let password = channel_secret(cx, loader, &f, field, ("password_env", "password_file"), 1);
    let resolve_close_code = cx
        .opt_string(&f, field, "resolve_close_code")
        .unwrap_or_else(|| "Solved (Permanently)".to_string());
    let accepted_risk_close_codes = names(cx, &f, field, "accepted_risk_close_codes");
    if accepted_risk_close_codes.contains(&resolve_close_code) {
        cx.err(
            f.pos,
            &join(field, "accepted_risk_close_codes"),
            format!("`{resolve_close_code}` is rectify's own resolve_close_code; an accepted risk needs another"),
        );
    }
    let assignment_group = cx.opt_string(&f, field, "assignment_group");
    Some((
        url?,
        TicketKind::ServiceNow {
            user: user?,
            password: password?,
            resolve_close_code,
            accepted_risk_close_codes,
            assignment_group,
        },
    ))
}

fn jira(cx: &mut Ctx, loader: &Loader, node: &Node, field: &str) -> Option<(String, TicketKind)> {
    let f = cx.fields(node, field, JIRA_KEYS)?;
    let url = base_url(cx, &f, field);
    let email = cx.req_string(&f, field, "email");
    if let (Some(e), Some(n)) = (&email, f.get("email")) {
        if !super::is_email_address(e) {
            cx.err(
                n.pos,
                &join(field, "email"),
                format!("`{e}` is not an email address"),
            );
        }
    }
    let api_token = channel_secret(
        cx,
        loader,
        &f,
        field,
        ("api_token_env", "api_token_file"),
        1,
    );
    let project = cx.req_string(&f, field, "project");
    if let (Some(p), Some(n)) = (&project, f.get("project")) {
        let ok = p.len() <= 64
            && p.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && p.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            cx.err(
                n.pos,
                &join(field, "project"),
                format!("`{p}` is not a Jira project key (upper-case letters, digits, `_`, starting with a letter)"),
            );
        }
    }
    let issue_type = cx
        .opt_string(&f, field, "issue_type")
        .unwrap_or_else(|| "Task".to_string());
    let done_transition = cx
        .opt_string(&f, field, "done_transition")
        .unwrap_or_else(|| "Done".to_string());
    let mut accepted_risk_resolutions = names(cx, &f, field, "accepted_risk_resolutions");
    if f.opt("accepted_risk_resolutions").is_none() {
        accepted_risk_resolutions.push("Won't Do".to_string());
    }
    let accepted_risk_statuses = names(cx, &f, field, "accepted_risk_statuses");
    Some((
        url?,
        TicketKind::Jira {
            email: email?,
            api_token: api_token?,
            project: project?,
            issue_type,
            done_transition,
            accepted_risk_resolutions,
            accepted_risk_statuses,
        },
    ))
}
