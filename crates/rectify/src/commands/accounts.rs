//! `rectify accounts`: the accounts rectify acts in, hand-listed and read
//! from AWS Organizations.

use std::path::Path;

use serde_json::json;

use super::print_json;
use crate::context;
use crate::organizations::{refresh, Refreshed};
use crate::output::escape as sanitize;

pub async fn run(config: Option<&Path>, json: bool) -> anyhow::Result<u8> {
    let loaded = match context::load(config).await {
        Ok(l) => l,
        Err(diagnostics) => {
            context::print_diagnostics(&diagnostics);
            return Ok(2);
        }
    };
    let (refreshed, failed) = match refresh(&loaded).await {
        Ok(r) => (r.unwrap_or_default(), None),
        Err(e) => (Refreshed::default(), Some(e.message)),
    };
    let config = &loaded.config;
    let mut rows = Vec::new();
    for a in &config.accounts {
        rows.push(json!({
            "id": a.id,
            "name": a.name,
            "source": "config",
            "also_in_organization": refreshed.overridden.contains(&a.id),
            "role_arn": a.role_arn,
            "external_id": a.external_id.is_some(),
            "owner": a.owner,
            "owner_from": a.owner.as_ref().map(|_| "config"),
            "regions": a.regions,
        }));
    }
    for m in &refreshed.members {
        let Some(a) = config.discovered.get(&m.id) else {
            continue;
        };
        rows.push(json!({
            "id": a.id,
            "name": a.name,
            "source": "organizations",
            "organizational_units": m.path,
            "role_arn": a.role_arn,
            "external_id": a.external_id.is_some(),
            "owner": a.owner,
            "owner_from": m.owner.as_ref().map(|(_, from)| from.to_string()),
            "regions": a.regions,
        }));
    }
    if json {
        print_json(&json!({
            "accounts": rows,
            "overridden": refreshed.overridden,
            "inactive": refreshed.inactive,
            "notes": refreshed.notes,
            "organizations_error": failed,
        }));
    } else {
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => sanitize(s),
            serde_json::Value::Null => "-".to_string(),
            serde_json::Value::Array(items) if items.is_empty() => "all".to_string(),
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str())
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        let mut table = vec![[
            "ACCOUNT".to_string(),
            "NAME".into(),
            "SOURCE".into(),
            "ROLE".into(),
            "OWNER".into(),
            "OWNER FROM".into(),
            "REGIONS".into(),
        ]];
        for r in &rows {
            let source = if r["also_in_organization"] == true {
                "config (wins over organizations)".to_string()
            } else {
                text(&r["source"])
            };
            table.push([
                text(&r["id"]),
                text(&r["name"]),
                source,
                text(&r["role_arn"]),
                text(&r["owner"]),
                text(&r["owner_from"]),
                text(&r["regions"]),
            ]);
        }
        let widths: Vec<usize> = (0..7)
            .map(|c| {
                table
                    .iter()
                    .map(|row| row[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &table {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            println!("{}", line.join("  ").trim_end());
        }
        for note in &refreshed.notes {
            println!("note: {}", sanitize(note));
        }
        if !refreshed.inactive.is_empty() {
            println!(
                "note: left out, not active in the organization: {}",
                refreshed.inactive.join(", ")
            );
        }
    }
    match failed {
        Some(why) => {
            eprintln!("error: accounts.from_organizations: cannot read the organization: {why}");
            Ok(1)
        }
        None => Ok(0),
    }
}
