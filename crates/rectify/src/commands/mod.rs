//! One module per subcommand.

pub(crate) mod audit;
mod catalog;
mod completions;
mod jobs;
mod lambda;
mod match_events;
mod process;
mod scan;
mod serve;
mod test_fixtures;
mod validate;

use std::time::Duration;

use crate::cli::{Cli, Command};

/// Runs the command; the value is the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let config = cli.config.as_deref();
    let json = cli.output == crate::cli::Output::Json;
    match cli.command {
        Command::Process { file, dry_run } => process::run(config, &file, dry_run, json).await,
        Command::Scan { accounts, dry_run } => scan::run(config, &accounts, dry_run, json).await,
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
        Command::Catalog { coverage, markdown } => catalog::catalog(json, coverage, markdown).await,
        Command::IamPolicy {
            account,
            trust,
            own,
            principal,
        } => {
            catalog::iam_policy(config, account.as_deref(), trust, own, principal.as_deref()).await
        }
        Command::Audit { command } => audit::run(config, command, json).await,
        Command::Jobs { command } => jobs::run(config, command, json).await,
        Command::Pause { rule } => jobs::set_paused(config, true, rule).await,
        Command::Resume { rule } => jobs::set_paused(config, false, rule).await,
        Command::Completions { shell } => completions::completions(shell),
        Command::Man { dir } => completions::man(dir.as_deref()),
    }
}

/// Prints a JSON value on standard output.
pub fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot render JSON: {e}"),
    }
}
