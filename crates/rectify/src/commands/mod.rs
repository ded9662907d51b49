//! One module per subcommand.

mod accounts;
pub(crate) mod audit;
mod catalog;
mod completions;
mod deploy;
pub(crate) mod detect;
mod init;
mod jobs;
mod lambda;
mod match_events;
mod process;
mod report;
mod scan;
mod scans;
mod serve;
mod test_fixtures;
mod validate;

use std::time::Duration;

use crate::cli::{Cli, Command, DeployCommand};

/// Runs the command; the value is the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    if let Some(region) = cli
        .region
        .as_deref()
        .filter(|r| !rectify_config::is_region(r))
    {
        eprintln!("error: --region {region}: not an AWS region name (like us-east-1)");
        return Ok(2);
    }
    crate::context::set_login(crate::context::Login {
        profile: cli.profile.clone(),
        region: cli.region.clone(),
    });
    if matches!(cli.command, Command::Lambda) {
        // Outside Lambda, say so before anything else (a config is no use there).
        if let Err(e) = rectify_lambda::RuntimeApi::from_env() {
            eprintln!("error: {e}");
            return Ok(2);
        }
    }
    let json_logs = cli.log_format == Some(crate::cli::LogFormat::Json);
    // One line says which config file is used (or that there is none).
    let found = if cli.command.reads_config() {
        let found = crate::context::discover_here(cli.config.as_deref());
        match &found {
            Some(f) => note(
                json_logs,
                "INFO",
                &format!("rectify: config {} ({})", f.path.display(), f.how),
            ),
            None if cli.command.needs_config_file() => {
                note(
                    json_logs,
                    "ERROR",
                    &format!(
                        "error: {}",
                        crate::context::no_config_message(command_name(&cli.command))
                    ),
                );
                return Ok(2);
            }
            None => note(
                json_logs,
                "INFO",
                "rectify: no config file found; using the built-in default (rule pack aws-foundational, no accounts); `rectify init` writes one",
            ),
        }
        found.map(|f| f.path)
    } else {
        None
    };
    let config = found.as_deref();
    let json = cli.output == crate::cli::Output::Json;
    if cli.output == crate::cli::Output::Csv
        && !matches!(cli.command, Command::Report { .. } | Command::Scan { .. })
    {
        eprintln!(
            "error: --output csv is for `rectify report` and `rectify scan`; use text or json here"
        );
        return Ok(2);
    }
    if matches!(
        cli.output,
        crate::cli::Output::Ocsf | crate::cli::Output::Html
    ) && !matches!(cli.command, Command::Scan { .. })
    {
        eprintln!("error: --output ocsf and html are for `rectify scan`; use text or json here");
        return Ok(2);
    }
    if cli.output == crate::cli::Output::Asff
        && !matches!(cli.command, Command::Detect { .. } | Command::Scan { .. })
    {
        eprintln!(
            "error: --output asff is for `rectify scan` and `rectify detect`; use text or json here"
        );
        return Ok(2);
    }
    match cli.command {
        Command::Init { path } => init::run(&path),
        Command::Accounts => accounts::run(config, json).await,
        Command::Process { file, dry_run } => process::run(config, &file, dry_run, json).await,
        Command::Scan {
            accounts,
            dry_run,
            feed,
            compliance,
            concurrency,
            send_to_security_hub,
            from_config,
            live,
        } => {
            let args = scan::ScanArgs {
                accounts,
                dry_run,
                feed,
                send_to_security_hub,
                compliance: compliance
                    .as_deref()
                    .and_then(rectify_model::Standard::parse),
                per_service: usize::from(concurrency),
                // clap makes the two flags exclusive.
                settings_from: scan::settings_from(
                    match (from_config, live) {
                        (true, _) => Some(true),
                        (_, true) => Some(false),
                        _ => None,
                    },
                    send_to_security_hub,
                ),
            };
            scan::run(config, args, cli.output).await
        }
        Command::Detect {
            files,
            feed,
            dry_run,
            labels,
            list,
            anomaly,
            flow_logs,
        } => {
            let args = detect::Args {
                files,
                feed,
                dry_run,
                labels,
                list,
                anomaly,
                flow_logs,
            };
            detect::run(config, args, cli.output).await
        }
        Command::Serve {
            listen,
            worker_id,
            shutdown_grace,
        } => {
            serve::run(
                config,
                listen,
                worker_id,
                Duration::from_secs(shutdown_grace),
            )
            .await
        }
        Command::Lambda => lambda::run(config).await,
        Command::Validate => validate::run(config, json).await,
        Command::Test { dir } => test_fixtures::run(config, &dir, json).await,
        Command::Match {
            pattern,
            rules,
            events,
        } => match_events::run(pattern.as_deref(), rules.as_deref(), &events, json),
        Command::Catalog {
            coverage,
            markdown,
            checks,
        } => catalog::catalog(json, coverage, markdown, checks).await,
        Command::IamPolicy {
            account,
            trust,
            own,
            principal,
            scan,
        } => {
            catalog::iam_policy(
                config,
                account.as_deref(),
                trust,
                own,
                principal.as_deref(),
                scan,
            )
            .await
        }
        Command::KubeRbac { all, name } => catalog::kube_rbac(config, all, &name).await,
        Command::Deploy {
            command: DeployCommand::Render { target, out },
        } => deploy::render(config, target, &out).await,
        Command::Audit { command } => audit::run(config, command, json).await,
        Command::Jobs { command } => jobs::run(config, command, json).await,
        Command::Scans { command } => scans::run(config, command, json).await,
        Command::Report { since, from, to } => {
            report::run(
                config,
                since.as_deref(),
                from.as_deref(),
                to.as_deref(),
                cli.output,
            )
            .await
        }
        Command::Pause { rule } => jobs::set_paused(config, true, rule).await,
        Command::Resume { rule } => jobs::set_paused(config, false, rule).await,
        Command::Completions { shell } => completions::completions(shell),
        Command::Man { dir } => completions::man(dir.as_deref()),
    }
}

/// A line on standard error before logging proper starts: plain text, or
/// one JSON object like the log records when logs are JSON.
fn note(json_logs: bool, level: &str, message: &str) {
    if json_logs {
        let record = serde_json::json!({
            "timestamp": rectify_model::now_rfc3339(),
            "level": level,
            "fields": {"message": message},
            "target": "rectify",
        });
        eprintln!("{record}");
    } else {
        eprintln!("{message}");
    }
}

/// The subcommand's name, for messages.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Process { .. } => "process",
        Command::Scan { .. } => "scan",
        Command::Detect { .. } => "detect",
        Command::Serve { .. } => "serve",
        Command::Lambda => "lambda",
        Command::Audit { .. } => "audit",
        Command::Jobs { .. } => "jobs",
        Command::Scans { .. } => "scans",
        Command::Pause { .. } => "pause",
        Command::Resume { .. } => "resume",
        Command::Accounts => "accounts",
        Command::Init { .. } => "init",
        Command::Validate => "validate",
        Command::Test { .. } => "test",
        Command::Match { .. } => "match",
        Command::Catalog { .. } => "catalog",
        Command::IamPolicy { .. } => "iam-policy",
        Command::KubeRbac { .. } => "kube-rbac",
        Command::Deploy { .. } => "deploy",
        Command::Report { .. } => "report",
        Command::Completions { .. } => "completions",
        Command::Man { .. } => "man",
    }
}

/// Prints a JSON value on standard output.
pub fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot render JSON: {e}"),
    }
}
