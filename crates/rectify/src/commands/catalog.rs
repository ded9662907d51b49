//! `rectify catalog` and `rectify iam-policy`: the action catalog as data.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use super::print_json;
use crate::context;

pub async fn catalog(json: bool) -> anyhow::Result<u8> {
    let aws = Arc::new(rectify_aws::Aws::new(rectify_aws::AwsSettings::default()).await);
    let actions = context::catalog(aws);
    if json {
        let specs: Vec<_> = actions.iter().map(|a| a.spec()).collect();
        print_json(&specs);
        return Ok(0);
    }
    for action in &actions {
        let spec = action.spec();
        println!("{}", spec.id);
        println!("  {}", spec.summary);
        println!("  controls:    {}", spec.controls.join(", "));
        println!("  resources:   {}", spec.resource_types.join(", "));
        println!("  permissions: {}", spec.permissions.join(", "));
        if spec.params.is_empty() {
            println!("  params:      none");
        } else {
            println!("  params:");
            for p in spec.params {
                println!(
                    "    {:<32} {:<8} default {:<8} {}",
                    p.name, p.kind, p.default, p.doc
                );
            }
        }
        println!();
    }
    Ok(0)
}

/// The policy for the role rectify assumes in each target account: the
/// permissions of the actions that enabled rules use, nothing more.
pub async fn iam_policy(config: Option<&Path>) -> anyhow::Result<u8> {
    let loaded = match context::load(config).await {
        Ok(l) => l,
        Err(d) => {
            context::print_diagnostics(&d);
            return Ok(2);
        }
    };
    let used: BTreeSet<&str> = loaded
        .config
        .rules
        .iter()
        .filter(|r| r.rule.enabled)
        .map(|r| r.rule.action.as_str())
        .collect();
    let mut statements = Vec::new();
    for action in &loaded.actions {
        let spec = action.spec();
        if !used.contains(spec.id) {
            continue;
        }
        let sid: String = spec.id.split(['.', '-']).map(capitalize).collect();
        statements.push(json!({
            "Sid": sid,
            "Effect": "Allow",
            "Action": spec.permissions,
            "Resource": "*",
        }));
    }
    print_json(&json!({"Version": "2012-10-17", "Statement": statements}));
    Ok(0)
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}
