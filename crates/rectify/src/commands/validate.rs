//! `rectify validate`: every error in the config and its rule files.

use std::path::Path;

use serde_json::json;

use super::print_json;
use crate::context;

pub async fn run(config: Option<&Path>, json: bool) -> anyhow::Result<u8> {
    match context::load(config).await {
        Ok(loaded) => {
            let source = loaded
                .config
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "<built-in default>".into());
            if json {
                print_json(
                    &json!({"valid": true, "config": source, "rules": loaded.config.rules.len(),
                                   "accounts": loaded.config.accounts.len(),
                                   "organizations": loaded.config.from_organizations.is_some(),
                                   "region": loaded.config.aws.region, "profile": loaded.config.aws.profile}),
                );
            } else {
                println!(
                    "{source}: valid: {} rules, {} accounts, {} notification channels",
                    loaded.config.rules.len(),
                    loaded.config.accounts.len(),
                    loaded.config.notifications.len()
                );
            }
            Ok(0)
        }
        Err(diagnostics) => {
            if json {
                let errors: Vec<_> = diagnostics
                    .iter()
                    .map(|d| json!({"file": d.file, "line": d.line, "column": d.column, "field": d.field, "message": d.message}))
                    .collect();
                print_json(&json!({"valid": false, "errors": errors}));
            } else {
                context::print_diagnostics(&diagnostics);
            }
            Ok(2)
        }
    }
}
