//! The `rectify` binary: a thin CLI over the pipeline crates.

mod cli;
mod commands;
mod context;
mod detect_import;
mod intake;
mod organizations;
mod output;
mod yaml;

use std::process::ExitCode;

use clap::Parser;

// The ingest path allocates many small JSON values from several threads;
// mimalloc keeps that off the profile (the pipeline benchmark uses it too).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// mimalloc's own options (its C API, linked in with the allocator).
unsafe extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (v2 and v3): how
/// long freed memory is kept before it goes back to the system (1 s in
/// the mimalloc 3 linked here).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// A one-shot command (a scan, say) gives freed memory back at once: its
/// peak is what it holds, not what it held a second before.
fn purge_freed_memory_at_once() {
    // SAFETY: a plain setter of a process-wide option, called before any
    // other thread starts.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

/// Stack of each runtime thread (virtual memory; pages are used as
/// touched).
const WORKER_STACK_BYTES: usize = 64 * 1024 * 1024;

fn main() -> ExitCode {
    let mut cli = cli::Cli::parse_from(arguments());
    if cli.command.is_one_shot() {
        restore_default_sigpipe();
        purge_freed_memory_at_once();
    }
    // Resolved once, so that the commands' own notes follow the same format.
    cli.log_format = Some(log_format(cli.log_format));
    let json_logs = cli.log_format == Some(cli::LogFormat::Json);
    init_logging(cli.verbose, json_logs);
    // The AWS SDK's generated deserializers for Security Hub findings (a
    // finding's `Resources[].Details` has hundreds of typed members) need
    // deep stacks; tokio's default of 2 MiB per worker is not enough for
    // a real finding, nor is the main thread's 8 MiB in a debug build.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK_BYTES)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // The command itself runs on a thread with the same stack.
    let main = std::thread::Builder::new()
        .name("rectify".into())
        .stack_size(WORKER_STACK_BYTES)
        .spawn(move || runtime.block_on(commands::run(cli)));
    let command = match main.map(|thread| thread.join()) {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(anyhow::anyhow!("the command stopped unexpectedly")),
        Err(e) => Err(anyhow::anyhow!("cannot start the command's thread: {e}")),
    };
    match command {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if json_logs {
                // A log collector reading JSON lines gets this one too.
                let error = format!("{e:#}");
                tracing::error!(%error, "the command failed");
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::from(2)
        }
    }
}

/// A one-shot command whose output goes into a closed pipe (`rectify jobs
/// list | head`) ends quietly, as other command-line tools do, instead of
/// panicking on the failed write. Its jobs are settled by then, or taken
/// back by the next run (`context::reclaim_abandoned`).
fn restore_default_sigpipe() {
    extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIGPIPE: i32 = 13;
    const SIG_DFL: usize = 0;
    // SAFETY: called first thing in main, before any thread starts; sets
    // the disposition of one signal to the default.
    unsafe {
        signal(SIGPIPE, SIG_DFL);
    }
}

/// The command line; deployed to Lambda as `bootstrap` (which Lambda
/// starts without arguments), the binary runs `rectify lambda`.
fn arguments() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let started_as_bootstrap = args.first().is_some_and(|a| {
        std::path::Path::new(a).file_name() == Some(std::ffi::OsStr::new("bootstrap"))
    });
    if started_as_bootstrap && args.len() == 1 {
        args.push("lambda".into());
    }
    args
}

/// `--log-format`, else JSON in a Lambda function configured for JSON
/// logs (Lambda sets AWS_LAMBDA_LOG_FORMAT), else text.
fn log_format(flag: Option<cli::LogFormat>) -> cli::LogFormat {
    flag.unwrap_or_else(|| match std::env::var("AWS_LAMBDA_LOG_FORMAT") {
        Ok(format) if format.eq_ignore_ascii_case("json") => cli::LogFormat::Json,
        _ => cli::LogFormat::Text,
    })
}

fn init_logging(verbose: u8, json: bool) {
    let default = match verbose {
        0 => "warn",
        1 => "info,aws_config=warn,aws_smithy_runtime=warn",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RECTIFY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        // One object per line: the event's fields at the top level, and
        // the fields of the spans it is in (a Lambda invocation's
        // request_id and xray_trace_id) under `spans`.
        logs.json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .init();
    } else {
        logs.init();
    }
}

#[cfg(test)]
mod allocator_tests {
    use super::*;

    unsafe extern "C" {
        fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
    }

    /// The option set for one-shot commands is mimalloc's purge delay
    /// (whose default is 1,000 ms), not another option of that number.
    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // SAFETY: plain getters and setters of mimalloc's options.
        unsafe {
            assert_eq!(mi_option_get(MI_OPTION_PURGE_DELAY), 1000);
            purge_freed_memory_at_once();
            assert_eq!(mi_option_get(MI_OPTION_PURGE_DELAY), 0);
            mi_option_set(MI_OPTION_PURGE_DELAY, 1000);
        }
    }
}
