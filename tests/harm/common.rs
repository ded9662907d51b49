//! What every harm scenario does: a fresh account whose config runs the

//! built-in pack with every rule in `auto`, and the checks on the outcome.

#![allow(dead_code)]

use serde_json::Value;

use crate::support::*;

/// The built-in pack, every rule switched to `auto` (the harshest setting
/// a team could choose), with notifications to `team`.
pub const PACK_IN_AUTO: &str = "packs: [aws-foundational]\ndefault_notify: [team]\n";

/// A fresh account and a site that runs the pack in `auto`.
pub async fn auto_site(tag: &str) -> (String, Inbox, Site) {
    let account = new_account();
    let inbox = Inbox::new(&format!("{tag}-{account}")).await;
    let site = Site::new(&account, "auto", &inbox.topic_arn, PACK_IN_AUTO);
    (account, inbox, site)
}

/// Has `site` process one imported-findings event of `findings`: the jobs
/// it ran.
pub fn process_findings(site: &Site, account: &str, findings: Vec<Value>) -> Vec<Value> {
    let event = site.write_event("event.json", &imported(account, findings));
    site.process(&event, &[])
}

pub fn outcome(job: &Value) -> &str {
    job["outcome"]["kind"].as_str().unwrap_or("")
}

pub fn reason(job: &Value) -> &str {
    job["outcome"]["reason"].as_str().unwrap_or("")
}

/// No update of `finding_id` set it RESOLVED.
pub fn never_resolved(finding_id: &str) {
    for update in securityhub_updates(finding_id) {
        assert_ne!(
            update["body"]["Workflow"]["Status"], "RESOLVED",
            "finding {finding_id} was resolved: {update}"
        );
    }
}
