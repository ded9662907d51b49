//! Command-line surface. Exit codes: 0 ok, 1 a check failed (validation,
//! test, verify, no match), 2 usage or configuration error.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "rectify",
    version = env!("RECTIFY_VERSION"),
    about = "Remediates cloud security findings: Security Hub findings in, fixes applied, findings resolved, every step audited.",
    after_help = "Examples:\n  rectify validate                         check rectify.yaml and its rule files\n  rectify process --dry-run finding.json   show what would be fixed, change nothing\n  rectify serve                            run the daemon (HTTP API and workers)\n  rectify jobs list --state waiting-approval\n\nConfig: --config FILE, else $RECTIFY_CONFIG, else ./rectify.yaml, else the built-in default\n(built-in rule pack `aws-foundational`, no accounts: nothing is changed until you name accounts).\nExit codes: 0 ok, 1 a check failed, 2 usage or configuration error."
)]
pub struct Cli {
    /// Config file (default: ./rectify.yaml if present, else the built-in default).
    #[arg(long, global = true, env = "RECTIFY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// More logging on standard error (-v info, -vv debug); RECTIFY_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log lines as text, or as one JSON object each (for a log collector;
    /// in Lambda, with the invocation's request id and X-Ray trace id).
    /// Default: text, or json in a Lambda function whose log format is JSON
    /// (AWS_LAMBDA_LOG_FORMAT).
    #[arg(long, global = true, value_enum, env = "RECTIFY_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Process events from a file or standard input, run the resulting jobs to completion, print each outcome.
    #[command(
        after_help = "Input: one EventBridge event, a JSON array of events, JSON lines, an SNS notification, or bare ASFF findings (one finding, or `aws securityhub get-findings` output).\n\nExamples:\n  rectify process finding.json\n  rectify process --dry-run - < findings.jsonl\n  rectify process --output json finding.json | jq '.jobs[].outcome'"
    )]
    Process {
        /// Event file, or - for standard input.
        file: PathBuf,
        /// Force every rule into dry-run: plans are recorded and shown, nothing is written.
        #[arg(long)]
        dry_run: bool,
    },
    /// Scan the configured accounts for what the enabled rules fix, then fix it as their modes say.
    #[command(
        after_help = "For each account under `accounts:` (in its `regions`, else aws.region), lists the\nresources the enabled rules' actions act on (buckets, security groups, the account's\npassword policy, EBS encryption by default, public snapshots, default security groups), runs each action's read-only check, and sends every resource out of\ncompliance through the rules as a finding of rectify's own (source `rectify.scanner`,\nno Security Hub finding is updated). Modes, exemption tags and guardrails apply as for\nany finding; a job still open from an earlier scan is not made twice.\n\nExamples:\n  rectify scan --dry-run                      what would change, nothing written\n  rectify scan --account 111122223333\n  rectify scan --output json | jq '.jobs[] | {rule_id, state}'\n\nExit 0 when every job ended well, 1 when a job failed or a resource could not be\nlisted or checked (each named on standard error), 2 on a config error."
    )]
    Scan {
        /// Only this account (repeat for several); default: every configured account.
        #[arg(long = "account", value_name = "ID")]
        accounts: Vec<String>,
        /// Force every rule into dry-run: plans are recorded and shown, nothing is written.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run the daemon: HTTP API on api.listen, the polling sources (SQS, Security Hub) and the job workers.
    #[command(
        after_help = "Example:\n  RECTIFY_CONFIG=/etc/rectify/rectify.yaml rectify serve --listen 0.0.0.0:8080\n  curl -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\n       --data @finding.json http://127.0.0.1:8080/v1/events\n\nTokens (api.tokens) carry scopes: ingest (POST /v1/events, the default), read (GET\nroutes), approve, admin (pause/resume). With api.four_eyes (on by default) the token\nthat submitted an event cannot approve its jobs. api.tls serves HTTPS, reloading the\ncertificate when its files change. Connections are bounded: api.max_connections,\nheader, body, request and idle timeouts (see CONFIG.md).\n\nStops on SIGTERM or Ctrl-C: stops taking work, lets running jobs finish."
    )]
    Serve {
        /// Address to listen on (overrides api.listen).
        #[arg(long)]
        listen: Option<String>,
        /// This replica's stable name. Jobs it held when it last died are
        /// taken up again at once when it restarts. Default: serve@HOSTNAME.
        #[arg(long, env = "RECTIFY_WORKER_ID")]
        worker_id: Option<String>,
        /// On SIGTERM, how long running jobs get to finish before they are
        /// handed back to the queue.
        #[arg(long, default_value_t = 30, value_name = "SECONDS")]
        shutdown_grace: u64,
    },
    /// Run as an AWS Lambda function (custom runtime): take invocations from the Lambda Runtime API.
    #[command(
        after_help = "Deploy the binary as `bootstrap` in a zip for the provided.al2023 runtime (named\n`bootstrap`, it runs this command by itself), with the config beside it:\n  cp target/release/rectify bootstrap && zip function.zip bootstrap rectify.yaml\n  RECTIFY_CONFIG=/var/task/rectify.yaml (function environment)\n\nAn invocation is an EventBridge event (the function is a rule's target) or an SQS\nbatch (an event source mapping; turn on ReportBatchItemFailures). Its events are\ncommitted, then the jobs ready to run are run before it answers. Use a PostgreSQL\nstore: a SQLite file lives only as long as one execution environment."
    )]
    Lambda,
    /// Check the config and every rule file; report every error with file, line and field.
    #[command(
        after_help = "Example:\n  rectify validate --config rectify.yaml\n\nExit 0 when valid, 2 when not."
    )]
    Validate,
    /// Run rule fixtures: each folder under DIR holds event.json and expected.yaml.
    #[command(
        after_help = "expected.yaml:\n  rules: [s3-bucket-block-public-access]   # the rules that must match, exactly\n  jobs:                                    # optional: per rule, the expected job\n    - rule: s3-bucket-block-public-access\n      state: pending                       # state at plan time (pending, skipped, failed)\n      outcome: skipped                     # optional outcome kind at plan time\n      target: arn:aws:s3:::my-bucket       # optional resource id\n      control: S3.8                        # optional consolidated control id\n\nExample:\n  rectify test tests/fixtures\nExit 0 when every fixture passes, 1 on any mismatch (with a diff)."
    )]
    Test {
        /// Folder of fixture folders (or one fixture folder).
        dir: PathBuf,
    },
    /// Match events against an event pattern or a rule file (the pattern engine alone).
    #[command(
        name = "match",
        after_help = "Examples:\n  rectify match --pattern pattern.json event1.json event2.json\n  cat events.jsonl | rectify match --rules rules.yaml --output json\n\nExit codes as grep's: 0 at least one event matched, 1 none did, 2 a pattern or event is invalid."
    )]
    Match {
        /// A JSON event pattern.
        #[arg(long, conflicts_with = "rules", required_unless_present = "rules")]
        pattern: Option<PathBuf>,
        /// A YAML rule file (a list of rules).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Event files (one JSON event each, or JSON lines); standard input when none.
        events: Vec<PathBuf>,
    },
    /// List the remediation actions (ids, controls, calls per fix, approval by default, params, IAM permissions), the coverage of each standard's controls (--coverage), or the README's table (--markdown).
    #[command(
        after_help = "Coverage (--coverage), per standard Security Hub runs, of its controls (the consolidated ids that crates/rectify-model/data/control-ids.csv maps the standard's own ids to):
  remediated  a rule of the built-in pack `aws-foundational` names the control (`controls:`) and that rule's action lists it in its spec (`controls`, as `rectify catalog` shows): a finding on it is fixed and, once verified, RESOLVED
  detected    not remediated, but a rule of the built-in pack names the control: its findings match a rule whose action does not claim the control, so a job runs (or waits) but the finding is never RESOLVED by a fix of that control
  neither     no rule of the built-in pack names the control: its findings match nothing
`rectify scan` checks only the resources of the actions that enabled rules name, and sends what it finds through the same rules: it adds no control beyond these. Controls an action lists but no built-in rule names are `neither` (a rule of your own can use them); --output json lists them as `unrouted`.

Examples:
  rectify catalog
  rectify catalog --coverage
  rectify catalog --coverage --output json | jq '.standards[] | {standard, remediated: (.remediated | length)}'
  rectify catalog --markdown   the README's \"Action catalog\" table"
    )]
    Catalog {
        /// Per standard: which controls rectify remediates, only detects, or neither (counts and lists).
        #[arg(long, conflicts_with = "markdown")]
        coverage: bool,
        /// The catalog as the Markdown table of the README's "Action catalog" section (action, controls, what it does, approval by default, calls per fix, params).
        #[arg(long)]
        markdown: bool,
    },
    /// Print the least-privilege IAM policies: the member role's permissions (for the enabled rules' actions), its trust policy, or rectify's own identity's.
    #[command(
        name = "iam-policy",
        after_help = "Examples:\n  rectify iam-policy --account 111122223333 > member-role-policy.json\n  rectify iam-policy --trust --account 111122223333 --principal arn:aws:iam::999988887777:role/rectify > member-role-trust.json\n  rectify iam-policy --own > rectify-identity-policy.json"
    )]
    IamPolicy {
        /// The member account (default: the only configured one).
        #[arg(long)]
        account: Option<String>,
        /// The member role's trust policy instead (needs --principal).
        #[arg(long, conflicts_with = "own")]
        trust: bool,
        /// rectify's own identity's policy instead.
        #[arg(long)]
        own: bool,
        /// rectify's own identity, as an exact IAM role or user ARN (for --trust).
        #[arg(long)]
        principal: Option<String>,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Inspect and approve jobs.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Pause all remediation (the global kill switch), or one rule; events are still recorded and queued.
    #[command(
        after_help = "Examples:\n  rectify pause                 stop every remediation, on every replica\n  rectify pause --rule s3-bpa   stop one rule"
    )]
    Pause {
        /// Pause only this rule.
        #[arg(long)]
        rule: Option<String>,
    },
    /// Resume remediation after `rectify pause`, or a rule paused by hand or by the blast-radius breaker.
    #[command(after_help = "Examples:\n  rectify resume\n  rectify resume --rule s3-bpa")]
    Resume {
        /// Resume only this rule.
        #[arg(long)]
        rule: Option<String>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Examples:\n  rectify completions bash > /etc/bash_completion.d/rectify\n  rectify completions zsh > \"${fpath[1]}/_rectify\"\n  rectify completions fish > ~/.config/fish/completions/rectify.fish"
    )]
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff), or write one page per command into a folder.
    #[command(
        after_help = "Examples:\n  rectify man | man -l -\n  rectify man --dir /usr/local/share/man/man1   rectify.1, rectify-serve.1, ..."
    )]
    Man {
        /// Write rectify.1 and a page for every subcommand (rectify-serve.1, ...) into this folder.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain (under the audit key when one is configured); exit 1 and name the first bad record if it was edited or broken.
    #[command(
        after_help = "Examples:\n  rectify audit verify && echo intact\n  rectify audit verify --anchors   also compare with the anchors in S3 (audit.anchor): finds a truncated or rewritten chain"
    )]
    Verify {
        /// Also check every anchor written to S3 (`audit.anchor`): its MAC, and that the chain still holds its seq with its hash.
        #[arg(long)]
        anchors: bool,
    },
    /// Write an anchor of the chain's head to S3 now (`audit.anchor`); `rectify serve` writes one every `interval_seconds`.
    #[command(after_help = "Example:\n  rectify audit anchor")]
    Anchor,
    /// Print audit records.
    List {
        /// Only records after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first.
    #[command(after_help = "Example:\n  rectify jobs list --state waiting-approval")]
    List {
        /// pending, waiting-approval, running, retrying, succeeded, skipped, failed, dead
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        rule: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show one job with its plan and outcome.
    #[command(after_help = "Example:\n  rectify jobs show 01a2289c-58d4-7e31-9b0e-6a1f0c2d4e77")]
    Show {
        /// Job id (or a unique prefix of at least 8 characters).
        id: String,
    },
    /// Queue a dead or failed job again (as a new job with fresh attempts), then run the queue.
    #[command(
        after_help = "Example:\n  rectify jobs list --state dead\n  rectify jobs retry 01a2289c-58d4-7e31-9b0e-6a1f0c2d4e77"
    )]
    Retry {
        id: String,
        /// Only queue it; let a running `rectify serve` pick it up.
        #[arg(long)]
        no_run: bool,
    },
    /// Approve a job waiting for approval, then run the queue.
    #[command(
        after_help = "Example:\n  rectify jobs approve 01a2289c-58d4-7e31-9b0e-6a1f0c2d4e77 --by alice"
    )]
    Approve {
        id: String,
        /// Who approves (recorded in the audit log); default $USER.
        #[arg(long)]
        by: Option<String>,
        /// Only approve; let a running `rectify serve` pick the job up.
        #[arg(long)]
        no_run: bool,
        /// Approve only if the planned change is still the one with this
        /// digest (`rectify jobs show` prints it): the approval is bound to
        /// the change you read. The job re-plans when it runs anyway, and
        /// asks again if the change differs.
        #[arg(long)]
        plan_digest: Option<String>,
    },
    /// Undo the change a job made: queue a revert job that restores the
    /// state recorded before it, then run the queue. The revert waits for
    /// approval unless --approve is given, and refuses when the resource
    /// has changed since.
    #[command(
        after_help = "Examples:\n  rectify jobs revert 01a2289c-58d4-7e31-9b0e-6a1f0c2d4e77          # plan the undo, wait for approval\n  rectify jobs approve <revert job id>                                # then run it\n  rectify jobs revert 01a2289c-58d4-7e31-9b0e-6a1f0c2d4e77 --approve  # plan, approve and run at once"
    )]
    Revert {
        id: String,
        /// Approve the undo now (recorded as you, like `jobs approve`).
        #[arg(long)]
        approve: bool,
        /// Who asks (recorded in the audit log); default $USER.
        #[arg(long)]
        by: Option<String>,
        /// Only queue it; let a running `rectify serve` pick it up.
        #[arg(long)]
        no_run: bool,
    },
}

impl Command {
    /// Commands that print and exit, as opposed to the long-running
    /// `serve` and `lambda`.
    pub fn is_one_shot(&self) -> bool {
        !matches!(self, Command::Serve { .. } | Command::Lambda)
    }
}
