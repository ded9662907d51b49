//! `rectify test DIR`: rule fixtures (event.json + expected.yaml) run
//! through ingest, route and plan in dry-run, against a throw-away store.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rectify_engine::quiet::{NoFindingUpdates, NoNotifications};
use rectify_engine::{Engine, EngineOptions};
use serde_json::{json, Value};

use super::print_json;
use crate::context;

pub async fn run(config: Option<&Path>, dir: &Path, json: bool) -> anyhow::Result<u8> {
    let loaded = match context::load(config).await {
        Ok(l) => l,
        Err(d) => {
            context::print_diagnostics(&d);
            return Ok(2);
        }
    };
    let fixtures = find_fixtures(dir)?;
    if fixtures.is_empty() {
        eprintln!(
            "error: no fixture under {} (a fixture is a folder with event.json and expected.yaml)",
            dir.display()
        );
        return Ok(2);
    }
    let mut failures = 0;
    let mut report = Vec::new();
    for fixture in &fixtures {
        let problems = match run_fixture(&loaded, fixture).await {
            Ok(p) => p,
            Err(e) => vec![format!("error: {e:#}")],
        };
        if !problems.is_empty() {
            failures += 1;
        }
        if json {
            report.push(
                json!({"fixture": fixture, "passed": problems.is_empty(), "problems": problems}),
            );
        } else if problems.is_empty() {
            println!("ok    {}", fixture.display());
        } else {
            println!("FAIL  {}", fixture.display());
            for p in &problems {
                println!("      {p}");
            }
        }
    }
    if json {
        print_json(&json!({"fixtures": report, "failed": failures}));
    } else {
        println!("{} passed, {} failed", fixtures.len() - failures, failures);
    }
    Ok(if failures > 0 { 1 } else { 0 })
}

fn find_fixtures(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if dir.join("event.json").exists() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(find_fixtures(&path)?);
        }
    }
    found.sort();
    Ok(found)
}

async fn run_fixture(loaded: &context::Loaded, fixture: &Path) -> anyhow::Result<Vec<String>> {
    let event_path = fixture.join("event.json");
    let bytes =
        std::fs::read(&event_path).with_context(|| format!("reading {}", event_path.display()))?;
    // A fixture may hold a detector's or the scanner's finding: nothing
    // here arrives from outside, and a test changes nothing.
    let limits = rectify_ingest::Limits {
        allow_own_sources: true,
        ..rectify_ingest::Limits::default()
    };
    let events = rectify_ingest::parse_body(&bytes, &limits)
        .map_err(|e| anyhow::anyhow!("{}: {e}", event_path.display()))?;
    let expected_path = fixture.join("expected.yaml");
    let expected_text = std::fs::read_to_string(&expected_path)
        .with_context(|| format!("reading {}", expected_path.display()))?;
    let expected = crate::yaml::to_json(&expected_text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", expected_path.display()))?;

    // A fixture may carry its own config (rectify.yaml next to event.json),
    // e.g. to name the accounts whose roles the rules must leave out.
    let own_config = fixture.join("rectify.yaml");
    let own_loaded;
    let loaded = if own_config.exists() {
        own_loaded = context::load(Some(&own_config)).await.map_err(|d| {
            let lines: Vec<String> = d.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("{}", lines.join("; "))
        })?;
        &own_loaded
    } else {
        loaded
    };
    let store = rectify_store::open("sqlite::memory:").await?;
    let engine = Engine::new(
        loaded.config.clone(),
        store,
        loaded.actions.clone(),
        Arc::new(NoFindingUpdates),
        Arc::new(NoNotifications),
        EngineOptions {
            force_dry_run: true,
            ..EngineOptions::default()
        },
    )?;
    let submitted = engine.submit(events, "file").await?;
    let mut problems = Vec::new();

    let got: BTreeSet<String> = submitted
        .iter()
        .flat_map(|s| s.matched.iter().cloned())
        .collect();
    if let Some(rules) = expected.get("rules") {
        let want: BTreeSet<String> = rules
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if want != got {
            problems.push(format!(
                "rules:\n        - expected: [{}]\n        + actual:   [{}]",
                want.into_iter().collect::<Vec<_>>().join(", "),
                got.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let execute = expected
        .get("execute")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if execute {
        engine.drain().await?;
    }
    for want in expected
        .get("jobs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let rule = want.get("rule").and_then(Value::as_str).unwrap_or_default();
        let job_id = submitted
            .iter()
            .flat_map(|s| s.jobs.iter())
            .find(|j| j.rule_id == rule)
            .map(|j| j.id.clone());
        let Some(job_id) = job_id else {
            problems.push(format!("jobs: no job for rule `{rule}`"));
            continue;
        };
        let Some(job) = engine.store().get_job(&job_id).await? else {
            problems.push(format!("jobs: job for `{rule}` vanished"));
            continue;
        };
        let actual = json!({
            "state": job.state,
            "outcome": job.outcome.as_ref().map(|o| o.kind),
            "mode": job.mode,
            "target": job.target.resource_id,
            "account": job.target.account,
            "control": job.control,
            "after": job.outcome.as_ref().and_then(|o| o.change.as_ref()).map(|c| c.after.clone()),
        });
        for field in [
            "state", "outcome", "mode", "target", "account", "control", "after",
        ] {
            if let Some(w) = want.get(field) {
                let a = &actual[field];
                if w != a {
                    problems.push(format!(
                        "jobs[{rule}].{field}:\n        - expected: {w}\n        + actual:   {a}"
                    ));
                }
            }
        }
    }
    Ok(problems)
}
