//! `notifications`: each channel kind, and its errors with file, line,
//! column and field.

use std::path::Path;

use rectify_config::{Channel, Diagnostic, Loader};

const SECRET: &str = "whsec-0123456789abcdef";
const SLACK_URL: &str = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";

fn env(name: &str) -> Option<String> {
    match name {
        "HOOK_SECRET" => Some(SECRET.into()),
        "SHORT_SECRET" => Some("short".into()),
        "EMPTY_SECRET" => Some(String::new()),
        "SLACK_URL" => Some(SLACK_URL.into()),
        "SMTP_USER" => Some("rectify-mailer".into()),
        "SMTP_PASSWORD" => Some("smtp-password-value".into()),
        "PLAIN_URL" => Some("http://hooks.slack.example/services/T0/B0/XYZSECRET".into()),
        _ => None,
    }
}

fn load(yaml: &str) -> Result<rectify_config::Config, Vec<Diagnostic>> {
    Loader::new()
        .env(&env)
        .load_str(yaml, Path::new("rectify.yaml"))
}

/// The one diagnostic for `yaml`, as `file:line:col: field: message`.
fn error(yaml: &str) -> String {
    let all = load(yaml).expect_err("the config should not load");
    assert_eq!(all.len(), 1, "expected one diagnostic, got: {all:#?}");
    all[0].to_string()
}

#[test]
fn a_webhook_with_its_secret_from_the_environment() {
    let c = load(
        "notifications:\n  hooks:\n    webhook:\n      url: https://hooks.example.com/rectify\n      secret_env: HOOK_SECRET\n",
    )
    .unwrap();
    let Some(Channel::Webhook(hook)) = c.notifications.get("hooks") else {
        panic!("{:?}", c.notifications)
    };
    assert_eq!(hook.url, "https://hooks.example.com/rectify");
    assert_eq!(hook.secret.0, SECRET.as_bytes());
    // A config printed in a log does not show the secret.
    assert!(!format!("{c:?}").contains(SECRET));
}

#[test]
fn a_webhook_secret_from_a_file_next_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hook.secret"), format!("{SECRET}\n")).unwrap();
    let c = Loader::new()
        .env(&env)
        .load_str(
            "notifications:\n  hooks:\n    webhook: {url: 'http://127.0.0.1:9000/h', secret_file: hook.secret}\n",
            &dir.path().join("rectify.yaml"),
        )
        .unwrap();
    let Some(Channel::Webhook(hook)) = c.notifications.get("hooks") else {
        panic!()
    };
    assert_eq!(
        hook.secret.0,
        SECRET.as_bytes(),
        "the trailing newline is dropped"
    );
}

#[test]
fn webhook_errors() {
    let head = "notifications:\n  hooks:\n    webhook:\n";
    assert_eq!(
        error(&format!("{head}      url: http://hooks.example.com/x\n      secret_env: HOOK_SECRET\n")),
        "rectify.yaml:4:12: notifications.hooks.webhook.url: `http://hooks.example.com/x`: plain http is allowed only to a loopback address; use https"
    );
    assert_eq!(
        error(&format!("{head}      url: ftp://hooks.example.com/x\n      secret_env: HOOK_SECRET\n")),
        "rectify.yaml:4:12: notifications.hooks.webhook.url: `ftp://hooks.example.com/x`: expected an https:// URL"
    );
    assert_eq!(
        error(&format!("{head}      url: https://hooks.example.com/x\n")),
        "rectify.yaml:4:7: notifications.hooks.webhook: one of `secret_env`, `secret_file` is required"
    );
    assert_eq!(
        error(&format!("{head}      secret_env: HOOK_SECRET\n")),
        "rectify.yaml:4:7: notifications.hooks.webhook.url: missing field `url`"
    );
    assert_eq!(
        error(&format!("{head}      url: https://h.example.com\n      secret_env: HOOK_SECRET\n      secret_file: x\n")),
        "rectify.yaml:6:7: notifications.hooks.webhook: give only one of `secret_env`, `secret_file`"
    );
    assert_eq!(
        error(&format!("{head}      url: https://h.example.com\n      secret_env: NOT_SET\n")),
        "rectify.yaml:5:19: notifications.hooks.webhook.secret_env: environment variable `NOT_SET` is not set"
    );
    assert_eq!(
        error(&format!("{head}      url: https://h.example.com\n      secret_env: EMPTY_SECRET\n")),
        "rectify.yaml:5:19: notifications.hooks.webhook.secret_env: environment variable `EMPTY_SECRET` is empty"
    );
    let weak = error(&format!(
        "{head}      url: https://h.example.com\n      secret_env: SHORT_SECRET\n"
    ));
    assert_eq!(
        weak,
        "rectify.yaml:5:19: notifications.hooks.webhook.secret_env: weak secret: at least 16 characters are needed (got 5)"
    );
    assert!(!weak.contains("short"), "the secret is never shown");
    assert_eq!(
        error(&format!("{head}      url: https://h.example.com\n      secret_env: HOOK_SECRET\n      template: x\n")),
        "rectify.yaml:6:7: notifications.hooks.webhook.template: unknown field `template`, expected one of `url`, `secret_env`, `secret_file`"
    );
}

#[test]
fn a_channel_has_one_kind() {
    assert_eq!(
        error(
            "notifications:\n  both:\n    sns: arn:aws:sns:us-east-1:111122223333:t\n    webhook: {url: 'https://h.example.com', secret_env: HOOK_SECRET}\n"
        ),
        "rectify.yaml:4:5: notifications.both: a channel has exactly one kind (found `sns`, `webhook`)"
    );
    assert_eq!(
        error("notifications:\n  none: {}\n"),
        "rectify.yaml:2:3: notifications.none: a channel needs one of `sns`, `webhook`, `slack`, `teams`, `smtp`, `ses`"
    );
    // A broken channel is still known to the rules that name it.
    let all = load(
        "notifications:\n  hooks:\n    webhook: {url: 'https://h.example.com'}\ndefault_notify: [hooks]\n",
    )
    .unwrap_err();
    assert_eq!(all.len(), 1, "{all:#?}");
}

#[test]
fn slack_and_teams_urls_are_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("teams.url"),
        "https://example.webhook.office.com/webhookb2/abc\n",
    )
    .unwrap();
    let c = Loader::new()
        .env(&env)
        .load_str(
            "notifications:\n  chat:\n    slack: {webhook_url_env: SLACK_URL}\n  teams:\n    teams: {webhook_url_file: teams.url}\n",
            &dir.path().join("rectify.yaml"),
        )
        .unwrap();
    let Some(Channel::Slack { webhook_url }) = c.notifications.get("chat") else {
        panic!()
    };
    assert_eq!(webhook_url.0, SLACK_URL.as_bytes());
    let Some(Channel::Teams { webhook_url }) = c.notifications.get("teams") else {
        panic!()
    };
    assert_eq!(
        webhook_url.0,
        b"https://example.webhook.office.com/webhookb2/abc"
    );
    assert!(!format!("{c:?}").contains("XXXXSECRET"));

    let plain = error("notifications:\n  chat:\n    slack: {webhook_url_env: PLAIN_URL}\n");
    assert_eq!(
        plain,
        "rectify.yaml:3:30: notifications.chat.slack.webhook_url_env: the webhook URL from `PLAIN_URL` is not an https:// URL (http:// only to a loopback address)"
    );
    assert!(!plain.contains("XYZSECRET"));
    let shown: Vec<String> =
        load("notifications:\n  chat:\n    teams: {url: 'https://x.example'}\n")
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
    assert!(
        shown.contains(&"rectify.yaml:3:13: notifications.chat.teams.url: unknown field `url`, expected one of `webhook_url_env`, `webhook_url_file`".to_string()),
        "{shown:?}"
    );
    assert_eq!(
        error("notifications:\n  chat:\n    teams: {}\n"),
        "rectify.yaml:3:12: notifications.chat.teams: one of `webhook_url_env`, `webhook_url_file` is required"
    );
}

#[test]
fn smtp_relays() {
    let c = load(
        "notifications:\n  mail:\n    smtp:\n      host: smtp.example.com\n      username_env: SMTP_USER\n      password_env: SMTP_PASSWORD\n      from: rectify <rectify@example.com>\n      to: [payments-team@example.com]\n",
    )
    .unwrap();
    let Some(Channel::Smtp(relay)) = c.notifications.get("mail") else {
        panic!()
    };
    assert_eq!(
        (relay.host.as_str(), relay.port, relay.starttls),
        ("smtp.example.com", 587, true)
    );
    assert_eq!(relay.username.as_deref(), Some("rectify-mailer"));
    assert_eq!(relay.password.as_ref().unwrap().0, b"smtp-password-value");
    assert_eq!(relay.to, ["payments-team@example.com"]);
    assert!(!format!("{c:?}").contains("smtp-password-value"));

    let head = "notifications:\n  mail:\n    smtp:\n      host: smtp.example.com\n";
    assert_eq!(
        error(&format!("{head}      starttls: false\n      from: r@example.com\n      to: [a@example.com]\n")),
        "rectify.yaml:5:7: notifications.mail.smtp.starttls: `starttls: false` is allowed only to a loopback host: the login and the mail would cross the network in the clear"
    );
    assert_eq!(
        error(&format!(
            "{head}      from: r@example.com\n      to: [a@example.com, nobody]\n"
        )),
        "rectify.yaml:6:27: notifications.mail.smtp.to[1]: `nobody` is not an email address"
    );
    assert_eq!(
        error(&format!("{head}      from: r@example.com\n      to: []\n")),
        "rectify.yaml:6:11: notifications.mail.smtp.to: at least one address is needed (or `to_owner: true`)"
    );
    assert_eq!(
        error(&format!("{head}      to: [a@example.com]\n")),
        "rectify.yaml:4:7: notifications.mail.smtp.from: missing field `from`"
    );
    assert_eq!(
        error(&format!("{head}      username_env: SMTP_USER\n      from: r@example.com\n      to: [a@example.com]\n")),
        "rectify.yaml:4:7: notifications.mail.smtp: one of `password_env`, `password_file` is required"
    );
    assert_eq!(
        error(&format!("{head}      password_env: SMTP_PASSWORD\n      from: r@example.com\n      to: [a@example.com]\n")),
        "rectify.yaml:4:7: notifications.mail.smtp.username_env: a password is given without `username_env`"
    );
    assert_eq!(
        error(&format!(
            "{head}      port: 70000\n      from: r@example.com\n      to: [a@example.com]\n"
        ))
        .split(": ")
        .take(2)
        .collect::<Vec<_>>(),
        ["rectify.yaml:5:13", "notifications.mail.smtp.port"]
    );
    // Plain SMTP to a relay on the same host is allowed (a local MTA).
    assert!(load("notifications:\n  mail:\n    smtp: {host: 127.0.0.1, port: 25, starttls: false, from: r@example.com, to: [a@example.com]}\n").is_ok());
}

#[test]
fn ses_channels() {
    let c = load(
        "notifications:\n  mail:\n    ses: {from: rectify@example.com, to: [a@example.com, b@example.com]}\n  eu:\n    ses: {from: rectify@example.com, to: [a@example.com], region: eu-west-1}\n",
    )
    .unwrap();
    assert_eq!(
        c.notifications.get("mail"),
        Some(&Channel::Ses {
            from: "rectify@example.com".into(),
            to: vec!["a@example.com".into(), "b@example.com".into()],
            region: None,
            to_owner: false,
        })
    );
    let Some(Channel::Ses { region, .. }) = c.notifications.get("eu") else {
        panic!()
    };
    assert_eq!(region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        error("notifications:\n  mail:\n    ses: {from: rectify@example.com, to: [a@example.com], region: moon-1}\n"),
        "rectify.yaml:3:67: notifications.mail.ses.region: `moon-1` is not an AWS region name"
    );
    assert_eq!(
        error("notifications:\n  mail:\n    ses: {from: rectify, to: [a@example.com]}\n"),
        "rectify.yaml:3:17: notifications.mail.ses.from: `rectify` is not an email address"
    );
}

#[test]
fn coalescing_windows() {
    let c = load(
        "notifications:\n  storm:\n    slack: {webhook_url_env: SLACK_URL}\n    coalesce_seconds: 300\n  every:\n    slack: {webhook_url_env: SLACK_URL}\n",
    )
    .unwrap();
    assert_eq!(c.notify_coalesce.get("storm"), Some(&300));
    assert_eq!(c.notify_coalesce.get("every"), None);
    assert_eq!(
        error("notifications:\n  storm:\n    slack: {webhook_url_env: SLACK_URL}\n    coalesce_seconds: 0\n")
            .split(": ")
            .take(2)
            .collect::<Vec<_>>(),
        ["rectify.yaml:4:23", "notifications.storm.coalesce_seconds"]
    );
    assert_eq!(
        error("notifications:\n  storm:\n    coalesce_seconds: 60\n"),
        "rectify.yaml:2:3: notifications.storm: a channel needs one of `sns`, `webhook`, `slack`, `teams`, `smtp`, `ses`"
    );
}

#[test]
fn mail_to_the_accounts_owner() {
    let c = load(
        "notifications:\n  owners:\n    ses: {from: rectify@example.com, to_owner: true}\n  both:\n    smtp: {host: smtp.example.com, from: rectify@example.com, to: [secops@example.com], to_owner: true}\n",
    )
    .unwrap();
    let Some(Channel::Ses { to, to_owner, .. }) = c.notifications.get("owners") else {
        panic!()
    };
    assert!(to.is_empty() && *to_owner);
    let Some(Channel::Smtp(relay)) = c.notifications.get("both") else {
        panic!()
    };
    assert!(relay.to_owner);
    assert_eq!(
        error("notifications:\n  owners:\n    ses: {from: rectify@example.com}\n"),
        "rectify.yaml:3:10: notifications.owners.ses.to: missing field `to`"
    );
    assert_eq!(
        error("notifications:\n  owners:\n    ses: {from: rectify@example.com, to: []}\n"),
        "rectify.yaml:3:42: notifications.owners.ses.to: at least one address is needed (or `to_owner: true`)"
    );
}

#[test]
fn fallback_channels() {
    let ok = "notifications:\n  chat:\n    slack: {webhook_url_env: SLACK_URL}\n    fallback: mail\n  mail:\n    ses: {from: rectify@example.com, to: [a@example.com]}\n";
    let c = load(ok).unwrap();
    assert_eq!(
        c.notify_fallback.get("chat").map(String::as_str),
        Some("mail")
    );
    assert_eq!(
        error(&ok.replace("fallback: mail", "fallback: pager")),
        "rectify.yaml:4:15: notifications.chat.fallback: unknown notification channel `pager`; define it under `notifications`"
    );
    assert_eq!(
        error(&ok.replace("fallback: mail", "fallback: chat")),
        "rectify.yaml:4:15: notifications.chat.fallback: a channel cannot be its own fallback"
    );
}

#[test]
fn digests_and_severities() {
    let c = load(
        "notifications:\n  digest:\n    slack: {webhook_url_env: SLACK_URL}\n    digest_minutes: 60\n    severities: [medium, LOW, INFORMATIONAL]\n  pager:\n    slack: {webhook_url_env: SLACK_URL}\n    severities: [CRITICAL, HIGH]\n",
    )
    .unwrap();
    assert_eq!(c.notify_digest.get("digest"), Some(&3600));
    assert_eq!(c.notify_digest.get("pager"), None);
    assert_eq!(
        c.notify_severities["digest"],
        ["MEDIUM", "LOW", "INFORMATIONAL"]
    );
    assert_eq!(c.notify_severities["pager"], ["CRITICAL", "HIGH"]);
    assert_eq!(
        error("notifications:\n  pager:\n    slack: {webhook_url_env: SLACK_URL}\n    severities: [HIGH, URGENT]\n"),
        "rectify.yaml:4:24: notifications.pager.severities[1]: `URGENT` is not a severity (`INFORMATIONAL`, `LOW`, `MEDIUM`, `HIGH`, `CRITICAL`)"
    );
    assert_eq!(
        error("notifications:\n  d:\n    slack: {webhook_url_env: SLACK_URL}\n    digest_minutes: 1441\n")
            .split(": ")
            .take(2)
            .collect::<Vec<_>>(),
        ["rectify.yaml:4:21", "notifications.d.digest_minutes"]
    );
    assert!(error(
        "notifications:\n  d:\n    slack: {webhook_url_env: SLACK_URL}\n    digest_minutes: 5\n    coalesce_seconds: 60\n"
    )
    .contains("drop `coalesce_seconds`"));
}

#[test]
fn digest_item_caps() {
    let c = load(
        "notifications:\n  digest:\n    slack: {webhook_url_env: SLACK_URL}\n    digest_minutes: 60\n    digest_max_items: 500\n  plain:\n    slack: {webhook_url_env: SLACK_URL}\n    digest_minutes: 60\n",
    )
    .unwrap();
    assert_eq!(c.notify_digest_max_items.get("digest"), Some(&500));
    // Unnamed digest channels get the default cap.
    assert_eq!(c.notify_digest_max_items.get("plain"), None);
    assert_eq!(rectify_config::DIGEST_MAX_ITEMS, 10_000);
    assert_eq!(
        error("notifications:\n  d:\n    slack: {webhook_url_env: SLACK_URL}\n    digest_minutes: 5\n    digest_max_items: 0\n")
            .split(": ")
            .take(2)
            .collect::<Vec<_>>(),
        ["rectify.yaml:5:23", "notifications.d.digest_max_items"]
    );
    assert!(error(
        "notifications:\n  d:\n    slack: {webhook_url_env: SLACK_URL}\n    digest_max_items: 50\n"
    )
    .contains("set `digest_minutes` too"));
}

#[test]
fn channel_templates_inline_and_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("body.j2"), "{{ reason }}\n").unwrap();
    let c = Loader::new()
        .env(&env)
        .load_str(
            "notifications:\n  mail:\n    ses: {from: rectify@example.com, to: [a@example.com]}\n    template: {subject: '[{{ control }}]', body_file: body.j2}\n  chat:\n    slack: {webhook_url_env: SLACK_URL}\n    template: {body: '{\"text\": {{ subject }}}'}\n",
            &dir.path().join("rectify.yaml"),
        )
        .unwrap();
    assert_eq!(
        c.notify_templates["mail"],
        rectify_config::ChannelTemplate {
            subject: Some("[{{ control }}]".into()),
            body: Some("{{ reason }}\n".into()),
        }
    );
    assert_eq!(
        c.notify_templates["chat"].body.as_deref(),
        Some("{\"text\": {{ subject }}}")
    );
    assert_eq!(c.notify_templates["chat"].subject, None);
    assert_eq!(
        error("notifications:\n  chat:\n    slack: {webhook_url_env: SLACK_URL}\n    template: {subject: x}\n"),
        "rectify.yaml:4:25: notifications.chat.template.subject: a slack channel has no subject; only `smtp`, `ses`, `sns` channels do"
    );
    assert_eq!(
        error("notifications:\n  m:\n    ses: {from: rectify@example.com, to: [a@example.com]}\n    template: {body: x, body_file: b.j2}\n"),
        "rectify.yaml:4:36: notifications.m.template.body_file: give only one of `body`, `body_file`"
    );
    let big = "x".repeat(70_000);
    std::fs::write(dir.path().join("big.j2"), &big).unwrap();
    let all = Loader::new()
        .env(&env)
        .load_str(
            "notifications:\n  m:\n    ses: {from: rectify@example.com, to: [a@example.com]}\n    template: {body_file: big.j2}\n",
            &dir.path().join("rectify.yaml"),
        )
        .unwrap_err();
    assert!(
        all[0].to_string().contains("larger than 65536 bytes"),
        "{all:?}"
    );
}
