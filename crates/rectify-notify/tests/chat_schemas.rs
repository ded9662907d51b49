//! The chat messages rectify sends, as a real receiver on loopback gets
//! them, checked against each vendor's own published description:
//!
//! - Teams: every Adaptive Card against the official Adaptive Card JSON
//!   schema 1.4 (`tests/standins/adaptive-card-1.4.0.schema.json`, the
//!   schema adaptivecards.io publishes, from the microsoft/AdaptiveCards
//!   repository) with `tests/standins/adaptive_card_check.py` (the venv's
//!   `jsonschema`, `scripts/venv`).
//! - Slack publishes no JSON schema for Block Kit; its official TypeScript
//!   types do describe it (`@slack/types`, `KnownBlock`), so every Slack
//!   message is type-checked against them with the TypeScript compiler
//!   (`tests/chat-schemas`, installed by `scripts/chat-schema-deps`).
//!
//! The messages: an ordinary outcome, one whose fields are hostile (quotes,
//! braces, mrkdwn, very long), one with no fields, a coalesced summary and
//! a digest. Each check is also shown to refuse a message that breaks it.

mod receiver;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use receiver::{Receiver, Reply};
use rectify_config::{Channel, Secret};
use rectify_model::{ActionError, Notification, Notifier};
use rectify_notify::{ChannelNotifier, Retry};
use serde_json::{json, Value};

struct NoSns;

#[async_trait]
impl Notifier for NoSns {
    async fn publish(&self, _: &str, _: &Notification) -> Result<(), ActionError> {
        panic!("no SNS channel is configured")
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn notifications() -> Vec<Notification> {
    let hostile =
        "\"}], \"x\": {\"<!channel>\" & <https://evil.example|click> *bold* `code`\n\ttab é 🚨 "
            .repeat(200);
    let mut digest = rectify_notify::digest::Digest::default();
    for i in 0..30 {
        digest.add(&json!({
            "outcome": if i % 3 == 0 { "failed" } else { "changed" }, "severity": "HIGH",
            "account": format!("1111222233{:02}", i % 4), "resource": format!("arn:aws:s3:::b-{i}"),
            "control": "S3.8", "rule": "s3-block", "job": format!("j-{i}"), "reason": hostile.clone(),
        }));
    }
    digest.add_dropped(12);
    vec![
        Notification {
            subject: "rectify: changed S3.8 on 111122223333".into(),
            message: json!({
                "account": "111122223333", "account_name": "payments-prod",
                "region": "eu-west-1", "resource": "arn:aws:s3:::payments-exports",
                "control": "S3.8", "outcome": "changed", "rule": "s3-block-public-access",
                "action": "aws.s3.block-public-access", "job": "job-7", "mode": "auto",
                "reason": "public access blocked",
            }),
        },
        Notification {
            subject: hostile.clone(),
            message: json!({
                "account": hostile, "account_name": hostile, "region": hostile,
                "resource": hostile, "control": hostile, "outcome": "failed", "rule": hostile,
                "action": hostile, "job": hostile, "mode": hostile, "reason": hostile,
                "severity": 9, "change": {"nested": [hostile]},
            }),
        },
        Notification {
            subject: String::new(),
            message: json!({}),
        },
        rectify_notify::coalesce::summary(
            "s3-block",
            "changed",
            999,
            &["111122223333".to_string()],
            &(0..20)
                .map(|i| format!("arn:aws:s3:::b-{i}"))
                .collect::<Vec<_>>(),
            Duration::from_secs(300),
        ),
        digest.summary("ops", Duration::from_secs(3600)),
    ]
}

/// What `kind` (slack or teams) sends for each notification, as received.
async fn sent(kind: &str) -> Vec<Value> {
    let rx = Receiver::start(vec![Reply::status(200)]).await;
    let url = Secret(rx.url.as_bytes().to_vec());
    let channel = match kind {
        "slack" => Channel::Slack { webhook_url: url },
        _ => Channel::Teams { webhook_url: url },
    };
    let notifier = ChannelNotifier::with_retry(
        BTreeMap::from([(kind.to_string(), channel)]),
        Arc::new(NoSns),
        Retry {
            first_backoff: Duration::from_millis(50),
            ..Retry::default()
        },
    );
    let all = notifications();
    for n in &all {
        notifier.publish(kind, n).await.unwrap();
    }
    let got: Vec<Value> = rx
        .received()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(got.len(), all.len());
    got
}

/// Runs `adaptive_card_check.py` on `messages`: its exit status and output.
fn check_teams(messages: &[Value]) -> (bool, String) {
    let python = root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/venv",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let path = dir.path().join(format!("teams-{i}.json"));
            std::fs::write(&path, serde_json::to_vec(m).unwrap()).unwrap();
            path
        })
        .collect();
    let out = Command::new(python)
        .arg(root().join("tests/standins/adaptive_card_check.py"))
        .args(&files)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Type-checks `messages` as Slack incoming-webhook payloads (`text` and
/// `KnownBlock[]` from `@slack/types`): the compiler's status and output.
fn check_slack(messages: &[Value]) -> (bool, String) {
    let modules = root().join("tests/chat-schemas/node_modules");
    let tsc = modules.join(".bin/tsc");
    assert!(
        tsc.exists() && modules.join("@slack/types").exists(),
        "{} is missing: run scripts/chat-schema-deps",
        modules.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut source = String::from(
        "import type { KnownBlock } from \"@slack/types\";\n\
         type IncomingWebhookMessage = { text: string; blocks: KnownBlock[] };\n",
    );
    for (i, m) in messages.iter().enumerate() {
        source.push_str(&format!(
            "export const message{i}: IncomingWebhookMessage = {};\n",
            serde_json::to_string_pretty(m).unwrap()
        ));
    }
    std::fs::write(dir.path().join("messages.ts"), source).unwrap();
    let config = json!({
        "compilerOptions": {
            "strict": true, "noEmit": true, "target": "es2022",
            "module": "nodenext", "moduleResolution": "nodenext",
            "typeRoots": [], "types": [],
            "paths": {"@slack/types": [modules.join("@slack/types").to_string_lossy()]},
        },
        "files": ["messages.ts"],
    });
    std::fs::write(
        dir.path().join("tsconfig.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
    let out = Command::new("node")
        .arg(&tsc)
        .arg("-p")
        .arg(dir.path())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[tokio::test]
async fn teams_cards_follow_the_official_adaptive_card_schema() {
    let messages = sent("teams").await;
    let (ok, out) = check_teams(&messages);
    assert!(ok, "{out}");
    assert!(out.contains("5 message(s) checked"), "{out}");
    assert!(out.contains(", 0 problem(s)"), "{out}");

    // The check refuses a card the schema refuses.
    let mut spoiled = messages[0].clone();
    spoiled["attachments"][0]["content"]["body"][0]["weight"] = json!("heavy");
    spoiled["attachments"][0]["content"]["body"][1]["facts"][0]
        .as_object_mut()
        .unwrap()
        .remove("value");
    let (ok, out) = check_teams(&[spoiled]);
    assert!(!ok, "{out}");
    assert!(out.contains("body[0].weight"), "{out}");
    assert!(out.contains("body[1].facts[0]"), "{out}");
}

#[tokio::test]
async fn slack_messages_type_check_against_slacks_block_kit_types() {
    let messages = sent("slack").await;
    let (ok, out) = check_slack(&messages);
    assert!(ok, "{out}");

    // The check refuses blocks the types refuse: a header's text must be
    // plain text, and a section field is a text object.
    let mut spoiled = messages[0].clone();
    spoiled["blocks"][0]["text"]["type"] = json!("mrkdwn");
    spoiled["blocks"][1]["fields"][0] = json!({"kind": "mrkdwn", "text": "x"});
    let (ok, out) = check_slack(&[spoiled]);
    assert!(!ok, "{out}");
    assert!(out.contains("messages.ts"), "{out}");
    assert!(out.contains("error TS"), "{out}");
}
