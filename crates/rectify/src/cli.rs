//! Command-line surface. Exit codes: 0 ok, 1 a check failed (validation,
//! test, verify, no match), 2 usage or configuration error.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "rectify",
    version = env!("RECTIFY_VERSION"),
    about = "Remediates cloud security findings: Security Hub findings in, fixes applied, findings resolved, every step audited.",
    after_help = "Examples:\n  rectify validate                         check rectify.yaml and its rule files\n  rectify process --dry-run finding.json   show what would be fixed, change nothing\n  rectify serve                            run the daemon (HTTP API and workers)\n  rectify jobs list --state waiting-approval\n  rectify --profile security accounts      the accounts rectify acts in, logged in with an AWS profile\n\nConfig: --config FILE, else $RECTIFY_CONFIG, else ./rectify.yaml, else $XDG_CONFIG_HOME/rectify/rectify.yaml\n(~/.config/rectify/rectify.yaml), else /etc/rectify/rectify.yaml; the file used is named on standard error.\nWith none, `validate`, `test` and `iam-policy` use the built-in default (rule pack `aws-foundational`,\nno accounts, no store) and the other commands stop: `rectify init` writes a starter ./rectify.yaml.\nAWS login: the SDK's chain (environment keys, then --profile / aws.profile / AWS_PROFILE: keys, a role,\nor credential_process, which also serves SSO profiles through `aws configure export-credentials`;\nthen container and instance roles). HTTPS_PROXY, HTTP_PROXY and NO_PROXY\nare honoured, and so are AWS_MAX_ATTEMPTS and AWS_RETRY_MODE unless aws.sdk_max_attempts is set.\nExit codes: 0 ok, 1 a check failed, 2 usage or configuration error."
)]
pub struct Cli {
    /// Config file (default: ./rectify.yaml, else $XDG_CONFIG_HOME/rectify/rectify.yaml, else /etc/rectify/rectify.yaml).
    #[arg(long, global = true, env = "RECTIFY_CONFIG")]
    pub config: Option<PathBuf>,
    /// AWS profile to log in with (keys, a role, or credential_process, in ~/.aws/config); wins over aws.profile and AWS_PROFILE.
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// rectify's home AWS region; wins over aws.region, AWS_REGION and AWS_DEFAULT_REGION.
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Output format: text (also called table), json; csv for `rectify report` and `rectify scan`; asff for `rectify scan` and `rectify detect`; ocsf and html for `rectify scan` only.
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
    #[value(alias = "table")]
    Text,
    Json,
    /// `rectify report` and `rectify scan`.
    Csv,
    /// AWS Security Finding Format: `rectify scan` prints a JSON array of
    /// findings, `rectify detect` `{"Findings": [...]}` (what
    /// `BatchImportFindings` takes).
    Asff,
    /// `rectify scan`: OCSF 1.3.0 Compliance Findings (a JSON array).
    Ocsf,
    /// `rectify scan`: one self-contained HTML report.
    Html,
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
    /// Scan the configured accounts: CIS AWS Foundations v3.0 and FSBP checks and the enabled rules' actions' checks; report, or feed the rules.
    #[command(
        after_help = "For each account under `accounts:` (in its `regions`, else aws.region) runs the posture\nchecks (`rectify catalog --checks` lists them: root keys and MFA, credential ages, password\npolicy, CloudTrail, Config, KMS rotation, VPC flow logs, security groups, S3 Block Public\nAccess and encryption, EBS default encryption, RDS public access, IAM Access Analyzer) and\nthe read-only check of every action the enabled rules name, and prints one verdict per check and resource with\nthe evidence, then a summary per account, standard and severity. Listings are shared (one\nListBuckets per region, one DescribeSecurityGroups per region, one credential report per\naccount) and calls run at once, --concurrency per service and region, backing off when\nthrottled. Without --feed or --dry-run the scan reads only what decides each verdict (no\nbucket website or ACL, read only to weigh a fix) and takes bucket tags from the Resource\nGroups Tagging API (tag:GetResources; one call per 100 tagged buckets, S3 if it fails).\n\n--feed sends every resource an action found out of compliance through the rules as a\nfinding of rectify's own (source `rectify.scanner`): modes, exemption tags and guardrails\napply as for any finding, and a job still open from an earlier scan is not made twice.\n--dry-run feeds the rules with every rule forced into dry-run: nothing is written.\n\nBucket settings: a scan that only reports reads them from AWS Config\n(ListDiscoveredResources, BatchGetResourceConfig: one call per 100 buckets instead of four\nS3 reads per bucket) where a configuration recorder of the account's own records S3 buckets\ncontinuously and is recording; elsewhere, and for a bucket Config holds no current item of,\nfrom S3. Settings are then as Config last recorded them (what AWS's own S3 controls\nevaluate; usually minutes old), and the summary says how many buckets were judged so.\n--live reads every bucket from S3 (the state of this second, four calls a bucket);\n--from-config also names each region where Config could not serve. A scan that feeds\nthe rules (--feed, --dry-run) always reads the buckets themselves.\n\nOutput (--output): text (failures, then the summary), json (verdicts, summary, checks;\nwith --feed also events and jobs), csv (one row per verdict), asff (Security Hub findings:\nfailed ACTIVE, passed ARCHIVED), ocsf (OCSF 1.3.0 Compliance Findings), html (one\nself-contained file to open or send on).\n\nExamples:\n  rectify scan                                  verdicts and the summary table\n  rectify scan --compliance cis-3.0             pass rates per CIS v3.0 control\n  rectify scan --output html > posture.html\n  rectify scan --live --output csv > buckets.csv   every bucket setting read from S3 now\n  rectify scan --output asff | jq '.[] | select(.Compliance.Status == \"FAILED\")'\n  rectify scan --dry-run                      what the rules would change, nothing written\n  rectify scan --feed --account 111122223333    fix what the rules fix, as their modes say\n\nExit 0 when every verdict passed (with --feed: every job ended well), 1 when a resource\nfailed a check (with --feed: a job failed) or could not be listed or checked (each named\non standard error), 2 on a config error."
    )]
    Scan {
        /// Only this account (repeat for several); default: every configured account.
        #[arg(long = "account", value_name = "ID")]
        accounts: Vec<String>,
        /// Feed the rules with every rule forced into dry-run: plans are recorded and shown, nothing is written.
        #[arg(long)]
        dry_run: bool,
        /// Send what the actions' checks found out of compliance through the rules, which fix it as their modes say.
        #[arg(long)]
        feed: bool,
        /// Also print the compliance report of one standard: pass rates per control.
        #[arg(long, value_name = "STANDARD", value_parser = ["cis-3.0", "fsbp", "pci-dss-4.0"])]
        compliance: Option<String>,
        /// Import the verdicts into Security Hub (BatchImportFindings, 100 a call, as product
        /// `product/<account>/default` of each account): failures ACTIVE, a resource that passes
        /// again PASSED and ARCHIVED; FirstObservedAt kept across scans.
        #[arg(long)]
        send_to_security_hub: bool,
        /// AWS calls in flight at once per service and region.
        #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
        /// Bucket settings from AWS Config's configuration items, as a report-only scan takes them
        /// by default, and each region where Config cannot serve named on standard error (there
        /// from S3). As fresh as Config's recording: reports only, not with --feed or --dry-run.
        #[arg(long, conflicts_with_all = ["feed", "dry_run", "live"])]
        from_config: bool,
        /// Every bucket setting read from S3 as it is now, never from AWS Config (four calls a
        /// bucket instead of one call per 100).
        #[arg(long)]
        live: bool,
    },
    /// Run the threat detections over CloudTrail log files: print what they find, feed it through the rules, or score it against labels.
    #[command(
        after_help = "Input: CloudTrail log files as CloudTrail writes them to S3 ({\"Records\": [...]}, gzipped\nor not), JSON lines of records or of EventBridge events (`AWS API Call via CloudTrail`,\n`AWS Console Sign In via CloudTrail`), or - for standard input. Records are taken in\ntime order across all files, so that thresholds (N failed sign-ins in M minutes per\naddress) see them as they happened.\n\nThe detections are the built-in pack (`--list` shows them, docs/detections.md explains\neach) as `detect:` in the config changes it: detections disabled, thresholds changed,\nyour own added, the organization's accounts and the log buckets named.\n\nWhat is found is printed; nothing is written anywhere unless --feed is given. With\n--feed each detection becomes a finding (source `rectify.detector`, ASFF, Security Hub\nimport shape) that goes through the rules like any other: a rule with\n`source: [rectify.detector]` and the detection's `GeneratorId` picks it up, in its mode\n(approval by default for containment). With detect.security_hub: true, --feed also\nimports the findings into Security Hub (BatchImportFindings).\n\nWith --anomaly (or detect.anomaly.enabled: true) the anomaly detector scores the\nrecords too, and VPC flow logs (--flow-logs FILE) per network interface and source\naddress. It starts empty on every run (it neither reads nor writes the state `serve`\nkeeps in the store), so an entity is scored only after its warm-up minutes\n(detect.anomaly.warmup_buckets) within the files; every entity's last minute is\nscored at the end.\n\nExamples:\n  rectify detect --list\n  rectify detect 111122223333_CloudTrail_us-east-1_20261130T0000Z_abc.json.gz\n  aws s3 cp s3://trail-bucket/AWSLogs/ . --recursive && rectify detect $(find AWSLogs -name '*.json.gz')\n  rectify detect --output asff trail.json > findings.json\n  rectify detect --feed --dry-run trail.json        what the rules would do, nothing written\n  rectify detect --labels labels.jsonl trail.json   precision and recall per detection\n  rectify detect --anomaly --flow-logs eni-flows.log trail.json\n\nExit 0 when the records were read (whether or not anything was found), 1 with --feed\nwhen a job failed, 2 on unreadable input or a config error."
    )]
    Detect {
        /// CloudTrail log files (.json or .json.gz), JSON lines of records or events; - for standard input.
        files: Vec<PathBuf>,
        /// Send each detection through the rules as a finding (source rectify.detector), and run the jobs.
        #[arg(long)]
        feed: bool,
        /// With --feed: force every rule into dry-run.
        #[arg(long, requires = "feed")]
        dry_run: bool,
        /// Score the detections against labels (JSON lines {"eventID", "detections", "incident"}): precision and recall per detection.
        #[arg(long, value_name = "FILE", conflicts_with = "feed")]
        labels: Option<PathBuf>,
        /// List the detections the config enables, and exit.
        #[arg(long)]
        list: bool,
        /// Run the anomaly detector over the input too (on without this flag when detect.anomaly.enabled is true).
        #[arg(long)]
        anomaly: bool,
        /// VPC flow log files (default version 2 format, gzipped or not) for the anomaly detector; implies --anomaly. Files among FILES whose first line is a flow log line are read as flow logs too.
        #[arg(long, value_name = "FILE")]
        flow_logs: Vec<PathBuf>,
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
    /// Write a starter config (rule pack aws-foundational, approval by default, no accounts yet) to ./rectify.yaml.
    #[command(
        after_help = "Examples:\n  rectify init                                   write ./rectify.yaml\n  rectify init --path ~/.config/rectify/rectify.yaml\n\nRefuses to overwrite a file that exists. Then name your accounts and run `rectify validate`."
    )]
    Init {
        /// Where to write it.
        #[arg(long, default_value = "rectify.yaml")]
        path: PathBuf,
    },
    /// List the accounts rectify acts in: those of the config and those read from AWS Organizations (accounts.from_organizations).
    #[command(
        after_help = "Columns: account id, name, where it comes from (config, organizations), the role assumed,\nthe owner (and where it was read: an account tag or the security contact), the regions.\nAn account both listed by hand and found in the organization is shown once, from the config,\nwhich wins; the note under the table names it.\n\nExamples:\n  rectify accounts\n  rectify --profile org-admin accounts --output json | jq '.accounts[] | {id, owner}'\n\nExit 0 when listed, 1 when AWS Organizations could not be read (the reason on standard error),\n2 on a config error."
    )]
    Accounts,
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
        /// The posture checks `rectify scan` runs instead: id, severity, CIS v3.0 / FSBP / PCI DSS v4.0.1 control ids, permissions.
        #[arg(long, conflicts_with_all = ["coverage", "markdown"])]
        checks: bool,
    },
    /// Print the least-privilege IAM policies: the member role's permissions (for the enabled rules' actions), its trust policy, or rectify's own identity's.
    #[command(
        name = "iam-policy",
        after_help = "Examples:\n  rectify iam-policy --account 111122223333 > member-role-policy.json\n  rectify iam-policy --trust --account 111122223333 --principal arn:aws:iam::999988887777:role/rectify > member-role-trust.json\n  rectify iam-policy --own > rectify-identity-policy.json\n  rectify iam-policy --scan > member-role-scan-policy.json"
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
        /// The read-only policy `rectify scan`'s posture checks need in a member account instead (attach it beside the member policy).
        #[arg(long, conflicts_with_all = ["trust", "own"])]
        scan: bool,
    },
    /// The Kubernetes ClusterRole (YAML) rectify needs in its clusters for the kube.* actions the config's rules use (every kube.* action with --all).
    #[command(
        name = "kube-rbac",
        after_help = "Bind it to the identity rectify uses in each cluster: on EKS the role it assumes in the cluster's account (an access entry, or aws-auth), elsewhere the service account whose token it holds.\n\nExamples:\n  rectify kube-rbac > rectify-clusterrole.yaml && kubectl apply -f rectify-clusterrole.yaml\n  rectify kube-rbac --all --name rectify-containment"
    )]
    KubeRbac {
        /// Every kube.* action, whatever the rules use.
        #[arg(long)]
        all: bool,
        /// The ClusterRole's name.
        #[arg(long, default_value = "rectify")]
        name: String,
    },
    /// Infrastructure as code generated from the config: the member accounts' role and event forwarding, and the hub rectify runs in.
    Deploy {
        #[command(subcommand)]
        command: DeployCommand,
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
    /// The scan history: each posture scan's summary (`rectify scan`, and the scheduled scans of `rectify serve`).
    Scans {
        #[command(subcommand)]
        command: ScansCommand,
    },
    /// What each rule matched and changed over a time window, per account, control and outcome: a week of remediation in review.
    #[command(
        after_help = "Counts the jobs created in the window [--from, --to) (default: the last 7 days), as they
stand now, per rule, account and control, by outcome:
  fixed      changed and read back as compliant
  compliant  already compliant, nothing written
  dry-run    planned in dry-run, nothing written
  waiting    waiting for a person's approval
  skipped    nothing to do here: rule disabled, setting not configured, account or region outside the config
  refused    rectify declined to act: an exemption tag, a person's repeated change, a paused rule or a tripped breaker
  failed     the action failed, gave up, or the read-back did not comply
  reverted   an undo (`rectify jobs revert`) restored the state from before a change
  open       not settled yet (pending, running, retrying)
MATCHED is their sum: the jobs the rule's matches made.

Examples:
  rectify report                                   the last 7 days, as a table
  rectify report --since 24h --output csv > day.csv
  rectify report --from 2026-11-23 --to 2026-11-30 --output json | jq '.total'"
    )]
    Report {
        /// The window: the last N units (s, m, h, d, w), e.g. 7d or 24h.
        #[arg(long, value_name = "DURATION", conflicts_with_all = ["from", "to"])]
        since: Option<String>,
        /// Start of the window: an RFC 3339 time or a date (midnight UTC).
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// End of the window, not included (default: now).
        #[arg(long, value_name = "TIME", requires = "from")]
        to: Option<String>,
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
pub enum DeployCommand {
    /// Write the templates that deploy rectify to an organization: one for every member account, one for the hub.
    #[command(
        after_help = "Writes two CloudFormation templates (JSON) into --out, made from the config:

  rectify-member.json  for every member account, as a StackSet: the remediation role
                       (named as accounts[].role_arn names it) with exactly the policy
                       `rectify iam-policy` prints for the enabled rules, trusting only the
                       hub's role with the accounts' external_id; EventBridge rules that
                       forward Security Hub findings (Imported, Custom Action, Imported V2),
                       GuardDuty findings, Config compliance changes and the CloudTrail API
                       calls the enabled rules listen to, to the hub's event bus.
                       Parameter: HubAccountId.
  rectify-hub.json     for the account rectify runs in: the event bus, open to the
                       organization (OrganizationId); the queue with a dead-letter queue and
                       alarms; rectify's role (`rectify iam-policy --own`, assuming the member
                       role in any account); the SNS topics of notifications; the Security Hub
                       custom action; and rectify itself, by Runtime: `lambda` (provided.al2023,
                       the zip at CodeS3Bucket/CodeS3Key, fed by the queue) or `ecs-fargate`
                       (`rectify serve` from ContainerImage with RDS PostgreSQL, in VpcId and
                       SubnetIds).

The config needs accounts (one is enough) with role_arn and external_id; every account
must name the same role and external id. Render again after changing the rules: the
member policy and the forwarded API calls follow them. The same config renders the same
bytes. Walkthrough from nothing to an organization: docs/deploy.md.

Examples:
  rectify deploy render --target cloudformation --out cfn
  aws cloudformation create-stack --stack-name rectify-hub --template-body file://cfn/rectify-hub.json \\
      --capabilities CAPABILITY_NAMED_IAM --parameters ParameterKey=OrganizationId,ParameterValue=o-abc123def4 \\
      ParameterKey=CodeS3Bucket,ParameterValue=my-artifacts

Exit 0 when written, 2 on a config error."
    )]
    Render {
        /// What to render for (only CloudFormation for now).
        #[arg(long, value_enum)]
        target: DeployTarget,
        /// Folder to write the templates into (made if missing).
        #[arg(long, default_value = "cloudformation", value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeployTarget {
    /// AWS CloudFormation templates (rectify-member.json, rectify-hub.json).
    Cloudformation,
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
pub enum ScansCommand {
    /// List the latest scans, newest first: when, who or what started them, resources, failed verdicts, errors.
    #[command(
        after_help = "Examples:\n  rectify scans list\n  rectify scans list --limit 5 --output json | jq '.[0].summary.verdicts'"
    )]
    List {
        /// How many scans (at most 10000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=10000))]
        limit: u16,
    },
    /// Show one scan's summary: accounts, regions, counts per verdict, severity and standard, errors.
    #[command(after_help = "Example:\n  rectify scans show 019af0c4-5e1d-7a52-8f3e-2c6d1b0a9e44")]
    Show {
        /// Scan id (`rectify scans list` prints it).
        id: String,
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

    /// Commands that keep state in the config's store, or act in its
    /// accounts: they do not run without a config file.
    pub fn needs_config_file(&self) -> bool {
        !matches!(
            self,
            Command::Validate
                | Command::Test { .. }
                | Command::Detect { .. }
                | Command::IamPolicy { .. }
                | Command::KubeRbac { .. }
                | Command::Match { .. }
                | Command::Catalog { .. }
                | Command::Init { .. }
                | Command::Completions { .. }
                | Command::Man { .. }
        )
    }

    /// Commands that read a config at all.
    pub fn reads_config(&self) -> bool {
        !matches!(
            self,
            Command::Match { .. }
                | Command::Catalog { .. }
                | Command::Init { .. }
                | Command::Completions { .. }
                | Command::Man { .. }
        )
    }
}
