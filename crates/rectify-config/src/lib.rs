//! Loading and validating `rectify.yaml`, the rule files it includes and the
//! built-in rule packs it names.
//!
//! ```no_run
//! use rectify_config::Loader;
//! use std::path::Path;
//!
//! match Loader::new().load_file(Path::new("rectify.yaml")) {
//!     Ok(config) => println!("{} rules", config.rules.len()),
//!     Err(diagnostics) => {
//!         for d in diagnostics {
//!             eprintln!("{d}"); // rectify.yaml:14:7: rules[2].mode: unknown variant ...
//!         }
//!     }
//! }
//! ```
//!
//! Loading reports every problem it finds, in the config file and in the
//! files it includes, each as a [`Diagnostic`] naming the file, the 1-based
//! line and column, and the field path. The format of every key is described
//! in `CONFIG.md` next to this crate's manifest.
//!
//! What this crate does *not* check: whether a rule's `pattern` is a valid
//! EventBridge pattern beyond being a non-empty mapping, and whether its
//! `action` exists or its `params` suit it. Those belong to the pattern
//! engine and the action catalog; pass a [`RuleChecker`] to
//! [`Loader::checker`] to have them checked (and reported with positions)
//! during the load.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use rectify_model::{Mode, Rule};

/// `detect.anomaly`: the anomaly detector's settings, defined beside it.
pub mod anomaly {
    pub use rectify_detect::anomaly::settings::*;
}
pub mod detect;
pub mod kubernetes;
pub mod scan;
pub mod tickets;
pub use detect::DetectSettings;
mod validate;

pub use validate::{exclude_own_calls, is_region, ACCOUNT_PLACEHOLDER, NO_EXTERNAL_ID};
mod yaml;
/// `audit.key: none`.
pub use validate::NO_AUDIT_KEY;

/// The default `store`.
pub const DEFAULT_STORE: &str = "sqlite://rectify.db";
/// The default `api.listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default `api.max_body_bytes` (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// The default `guardrails.exempt_tag`.
pub const DEFAULT_EXEMPT_TAG: &str = "rectify:exempt";
/// The region used when neither the config nor `AWS_REGION` /
/// `AWS_DEFAULT_REGION` give one.
pub const FALLBACK_REGION: &str = "us-east-1";
/// The shortest literal API token accepted.
pub const MIN_TOKEN_LEN: usize = 16;
/// Distinct items one digest period holds at most unless the channel says
/// (`digest_max_items`): a storm of distinct items is counted past it,
/// not kept.
pub const DIGEST_MAX_ITEMS: u64 = 10_000;

/// The configuration used when there is no config file: every key at its
/// default, no accounts, no rules.
pub const DEFAULT_YAML: &str = "\
# rectify configuration: every key at its default.
store: sqlite://rectify.db
default_mode: approve
api:
  listen: 127.0.0.1:8080
  max_body_bytes: 1048576
guardrails:
  exempt_tag: rectify:exempt
";

/// A loaded and validated `rectify.yaml`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was loaded from; `None` when built from the embedded
    /// default ([`Loader::load_default`], [`Config::default`]).
    pub path: Option<PathBuf>,
    /// Where events, jobs and the audit log are kept: `sqlite://PATH` or
    /// `postgres://...` / `postgresql://...`.
    pub store: String,
    /// The audit log's key and anchors.
    pub audit: AuditSettings,
    /// The mode of rules that set none. Already applied: after a load every
    /// rule in [`Config::rules`] has `mode: Some(..)`.
    pub default_mode: Mode,
    /// Channels told about rules that name none (pack rules, for one).
    pub default_notify: Vec<String>,
    pub aws: AwsSettings,
    /// The accounts listed by hand (`accounts`, or `accounts.list`).
    pub accounts: Vec<Account>,
    /// `accounts.from_organizations`: accounts read from AWS Organizations.
    pub from_organizations: Option<FromOrganizations>,
    /// The accounts last read from AWS Organizations, shared by every clone
    /// of this config; empty until read. Hand-listed accounts win.
    pub discovered: DiscoveredAccounts,
    /// Notification channels by name; rules name them in `notify`.
    pub notifications: BTreeMap<String, Channel>,
    /// Coalescing windows in seconds by channel name
    /// (`notifications.NAME.coalesce_seconds`); channels not named send
    /// every message.
    pub notify_coalesce: BTreeMap<String, u64>,
    /// The channel told when a delivery to this one fails
    /// (`notifications.NAME.fallback`).
    pub notify_fallback: BTreeMap<String, String>,
    /// Template overrides by channel name (`notifications.NAME.template`);
    /// channels not named use the built-in templates of their kind.
    pub notify_templates: BTreeMap<String, ChannelTemplate>,
    /// Digest periods in seconds by channel name
    /// (`notifications.NAME.digest_minutes`): such a channel gets one
    /// summary per period instead of one message per notification.
    pub notify_digest: BTreeMap<String, u64>,
    /// Distinct items one digest period holds at most, by channel name
    /// (`notifications.NAME.digest_max_items`; [`DIGEST_MAX_ITEMS`] for
    /// digest channels not named). Past it, notifications are counted,
    /// not kept.
    pub notify_digest_max_items: BTreeMap<String, u64>,
    /// Severities a channel takes (`notifications.NAME.severities`,
    /// upper case); channels not named take every notification.
    pub notify_severities: BTreeMap<String, Vec<String>>,
    pub api: ApiSettings,
    pub guardrails: Guardrails,
    pub execution: Execution,
    /// Where `rectify serve` takes events from besides its HTTP API.
    pub sources: Sources,
    /// Ticket systems (`tickets`): one ticket per finding, two-way.
    pub tickets: tickets::TicketSettings,
    /// `detect.anomaly`: the streaming anomaly detector.
    pub anomaly: anomaly::AnomalySettings,
    /// Kubernetes clusters the `kube.*` actions may act in (`kubernetes`).
    pub kubernetes: kubernetes::KubernetesSettings,
    /// Threat detections (`detect`); `None`: the section is absent and
    /// `rectify serve` runs none.
    pub detect: Option<DetectSettings>,
    /// `scan`: the posture scans `rectify serve` runs on a schedule; `None`:
    /// it runs none.
    pub scan: Option<scan::ScanSettings>,
    /// Every rule: from the packs first, then the included files (in the
    /// order of `include`, each glob's matches sorted), then the inline ones.
    pub rules: Vec<LoadedRule>,
}

impl Config {
    /// The account with this 12-digit id, if configured: listed by hand,
    /// else read from AWS Organizations.
    pub fn account(&self, id: &str) -> Option<Account> {
        self.accounts
            .iter()
            .find(|a| a.id == id)
            .cloned()
            .or_else(|| self.discovered.get(id))
    }

    /// Every account: the hand-listed ones, then those read from AWS
    /// Organizations that are not listed by hand.
    pub fn all_accounts(&self) -> Vec<Account> {
        let mut all = self.accounts.clone();
        all.extend(
            self.discovered
                .list()
                .into_iter()
                .filter(|d| !self.accounts.iter().any(|a| a.id == d.id)),
        );
        all
    }

    /// The rule with this id.
    pub fn rule(&self, id: &str) -> Option<&LoadedRule> {
        self.rules.iter().find(|r| r.rule.id == id)
    }
}

impl Default for Config {
    /// Every key at its default; the region from `AWS_REGION` /
    /// `AWS_DEFAULT_REGION`, else `us-east-1`.
    fn default() -> Self {
        Config {
            path: None,
            store: DEFAULT_STORE.to_string(),
            audit: AuditSettings::default(),
            default_mode: Mode::default(),
            default_notify: Vec::new(),
            aws: AwsSettings {
                region: validate::env_region(&|name| std::env::var(name).ok()),
                securityhub_region: None,
                securityhub_role_arn: None,
                sdk_max_attempts: None,
                profile: None,
            },
            accounts: Vec::new(),
            from_organizations: None,
            discovered: DiscoveredAccounts::default(),
            notifications: BTreeMap::new(),
            notify_coalesce: BTreeMap::new(),
            notify_fallback: BTreeMap::new(),
            notify_templates: BTreeMap::new(),
            notify_digest: BTreeMap::new(),
            notify_digest_max_items: BTreeMap::new(),
            notify_severities: BTreeMap::new(),
            api: ApiSettings::default(),
            guardrails: Guardrails::default(),
            execution: Execution::default(),
            sources: Sources::default(),
            tickets: tickets::TicketSettings::default(),
            anomaly: anomaly::AnomalySettings::default(),
            kubernetes: Default::default(),
            detect: None,
            scan: None,
            rules: Vec::new(),
        }
    }
}

/// A secret's bytes; `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where the audit log's HMAC key comes from (`audit.key_env`,
/// `audit.key_file`, `audit.kms_key_id`, or `audit.key: none`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AuditKeySetting {
    /// Nothing said: the log is unkeyed and rectify warns.
    #[default]
    Unset,
    /// `key: none`: unkeyed on purpose.
    Disabled,
    /// The key's bytes, read at load from `from` (`key_env NAME` or
    /// `key_file PATH`).
    Secret { from: String, key: Secret },
    /// Derived through AWS KMS (`GenerateMac` with this HMAC key).
    Kms { key_id: String },
}

/// Where the audit chain's head is anchored outside the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorSettings {
    /// A bucket created with Object Lock enabled.
    pub s3_bucket: String,
    /// Key prefix of the anchor objects, without slashes at its ends.
    pub prefix: String,
    /// How often `rectify serve` writes one.
    pub interval_seconds: u64,
    /// Days each anchor is locked in compliance mode.
    pub retain_days: u32,
}

/// The `audit` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditSettings {
    pub key: AuditKeySetting,
    pub anchor: Option<AnchorSettings>,
}

/// The URL without its password (user part or `password=` parameter), for
/// messages.
pub fn redact_store_url(url: &str) -> String {
    validate::redact_url(url)
}

/// A rule and where it was defined.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedRule {
    pub rule: Rule,
    /// The position of the rule's list item.
    pub source: Location,
    /// Neither the rule nor an override set `mode`: it is the config's
    /// `default_mode` (events that ask for approval by their kind, such as
    /// Security Hub custom actions, then wait for approval).
    pub mode_is_default: bool,
}

/// A position in a file (1-based). Pack rules have file `<pack:NAME>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One problem found while loading.
///
/// Displays as `file:line:col: field: message`; the parts that are missing
/// (no position for an unreadable file, no field for a YAML syntax error)
/// are left out with their colon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Path of the field, e.g. `rules[2].mode`, `api.tokens[0].token`,
    /// `notifications.security-team.sns`; empty when the problem is not in
    /// a field (a syntax error, an unreadable file).
    pub field: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// An AWS account rectify may act in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// 12 digits, leading zeros kept.
    pub id: String,
    pub name: Option<String>,
    /// The role assumed to act in the account; without it rectify's own
    /// credentials are used.
    pub role_arn: Option<String>,
    /// The external id passed when assuming `role_arn`.
    pub external_id: Option<String>,
    /// Who to contact about the account.
    pub owner: Option<String>,
    /// Regions rectify may act in; empty means all.
    pub regions: Vec<String>,
}

impl Account {
    /// Whether the account's region allow-list admits `region`.
    pub fn allows_region(&self, region: &str) -> bool {
        self.regions.is_empty() || self.regions.iter().any(|r| r == region)
    }
}

/// The default `accounts.from_organizations.owner_tag`.
pub const DEFAULT_OWNER_TAG: &str = "owner";
/// The default `accounts.from_organizations.refresh_seconds` (an hour).
pub const DEFAULT_ORGANIZATIONS_REFRESH_SECONDS: u64 = 3_600;

/// `accounts.from_organizations`: the accounts of an AWS organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromOrganizations {
    /// The role to assume in each account, `{account}` standing for its id.
    pub role_arn: String,
    /// The external id passed when assuming it (`none`: no external id).
    pub external_id: Option<String>,
    /// Only accounts under these OUs or roots (at any depth); empty: all.
    pub include_ous: Vec<String>,
    /// No account under these OUs (wins over include).
    pub exclude_ous: Vec<String>,
    /// Only these account ids; empty: all.
    pub include_accounts: Vec<String>,
    /// Never these account ids.
    pub exclude_accounts: Vec<String>,
    /// The account tag holding the owner; `None` (`owner_tag: null`): no tag.
    pub owner_tag: Option<String>,
    /// Without the tag, the owner is the account's SECURITY alternate
    /// contact's email.
    pub owner_from_security_contact: bool,
    /// Regions rectify may act in, for every account read; empty: all.
    pub regions: Vec<String>,
    /// How often `rectify serve` reads the organization again.
    pub refresh_seconds: u64,
}

impl FromOrganizations {
    /// The role to assume in `account`.
    pub fn role_for(&self, account: &str) -> String {
        self.role_arn.replace(ACCOUNT_PLACEHOLDER, account)
    }
}

/// The accounts last read from AWS Organizations, shared between the
/// config's clones (the engine's, the AWS side's) and replaced as a whole
/// at each refresh.
#[derive(Debug, Clone, Default)]
pub struct DiscoveredAccounts(std::sync::Arc<std::sync::RwLock<Vec<Account>>>);

impl DiscoveredAccounts {
    pub fn set(&self, accounts: Vec<Account>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = accounts;
    }

    pub fn list(&self) -> Vec<Account> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn get(&self, id: &str) -> Option<Account> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|a| a.id == id)
            .cloned()
    }
}

/// A notification channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// An SNS topic.
    Sns { topic_arn: String },
    /// An HTTP(S) endpoint that gets a signed JSON POST.
    Webhook(Webhook),
    /// A Slack incoming webhook (Block Kit message). The URL is the
    /// credential, so it is a secret read from the environment or a file.
    Slack { webhook_url: Secret },
    /// A Microsoft Teams incoming webhook (Adaptive Card); URL as for Slack.
    Teams { webhook_url: Secret },
    /// Email through an SMTP relay.
    Smtp(Smtp),
    /// Email through Amazon SES (`ses:SendEmail`), in `region` (the
    /// config's `aws.region` unless set).
    Ses {
        from: String,
        to: Vec<String>,
        region: Option<String>,
        /// Also to the account's `owner` (when it is an address).
        to_owner: bool,
    },
}

/// A channel's own templates (minijinja source), each replacing the
/// built-in one of the channel's kind. `subject` applies to email kinds
/// (SMTP, SES, and the email text of SNS); `body` to every kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelTemplate {
    pub subject: Option<String>,
    pub body: Option<String>,
}

/// Checks a channel's template when the config is loaded, so a broken
/// template is reported by `rectify validate`, not when a message is due.
pub trait TemplateChecker {
    /// `kind` is the channel's kind (`smtp`, `slack`, ...), `part`
    /// `subject` or `body`. `Err` says what is wrong.
    fn check(&self, kind: &str, part: &str, source: &str) -> Result<(), String>;
}

/// An SMTP relay and the message's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smtp {
    pub host: String,
    /// 587 unless set.
    pub port: u16,
    /// STARTTLS required before anything is sent (`false` only to a
    /// loopback host).
    pub starttls: bool,
    /// Login, read from `username_env` at load; `None`: no AUTH.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// A PEM file of CA certificates trusted for this relay besides the
    /// public roots (an internal relay's CA).
    pub ca_file: Option<std::path::PathBuf>,
    pub from: String,
    pub to: Vec<String>,
    /// Also to the account's `owner` (when it is an address).
    pub to_owner: bool,
}

/// A generic webhook: the notification as JSON, signed with HMAC-SHA256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// `https://...`, or `http://` to a loopback address.
    pub url: String,
    /// The HMAC key, read from `secret_env` or `secret_file` at load.
    pub secret: Secret,
}

/// The HTTP API.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// `host:port` to listen on.
    pub listen: String,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Bearer tokens accepted. Empty: the API accepts no authenticated
    /// requests.
    pub tokens: Vec<ApiToken>,
    /// Refuse an approval by the token that submitted the job's event.
    pub four_eyes: bool,
    /// Failed authentications one client address may make per
    /// `auth_failure_window_seconds` before it is answered 429.
    pub max_auth_failures: u32,
    pub auth_failure_window_seconds: u64,
    /// Time a client has to send a request's headers (and, over TLS, to
    /// finish the handshake).
    pub header_read_timeout_seconds: u64,
    /// Time a client has to send a request's body.
    pub body_read_timeout_seconds: u64,
    /// Time one request may take from its headers to the answer.
    pub request_timeout_seconds: u64,
    /// A keep-alive connection with no request for this long is closed.
    pub idle_timeout_seconds: u64,
    /// Connections served at once; more are closed as soon as accepted.
    pub max_connections: usize,
    /// Serve HTTPS with these files instead of plain HTTP.
    pub tls: Option<TlsFiles>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            listen: DEFAULT_LISTEN.to_string(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            tokens: Vec::new(),
            four_eyes: true,
            max_auth_failures: 10,
            auth_failure_window_seconds: 60,
            header_read_timeout_seconds: 10,
            body_read_timeout_seconds: 30,
            request_timeout_seconds: 60,
            idle_timeout_seconds: 60,
            max_connections: 512,
            tls: None,
        }
    }
}

/// `api.tls`: PEM files, read again whenever they change on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (relative paths are from the
    /// config file's folder).
    pub cert_file: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// What an API token may do (`api.tokens[].scopes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// `POST /v1/events`.
    Ingest,
    /// The `GET` routes: jobs, findings, audit, metrics.
    Read,
    /// `POST /v1/jobs/{id}/approve`.
    Approve,
    /// `POST /v1/pause`, `POST /v1/resume`.
    Admin,
    /// `POST /v1/tickets/{system}/webhook`: a ticket system telling
    /// rectify a ticket changed.
    Tickets,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Ingest,
        Scope::Read,
        Scope::Approve,
        Scope::Admin,
        Scope::Tickets,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Approve => "approve",
            Scope::Admin => "admin",
            Scope::Tickets => "tickets",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ApiSettings {
    /// The name of the token `presented` matches, if any. Every token is
    /// compared, in constant time each.
    pub fn verify(&self, presented: &str) -> Option<&str> {
        let mut found = None;
        for token in &self.tokens {
            if token.verify(presented) && found.is_none() {
                found = Some(token.name.as_str());
            }
        }
        found
    }
}

/// An API bearer token. Only its SHA-256 digest is kept; `Debug` shows the
/// name and scopes alone.
#[derive(Clone)]
pub struct ApiToken {
    pub name: String,
    digest: [u8; 32],
    /// What the token may do; `[ingest]` unless the config says more.
    pub scopes: Vec<Scope>,
}

impl ApiToken {
    /// A token from its value, with the default scope (`ingest`).
    pub fn from_secret(name: impl Into<String>, secret: &str) -> Self {
        ApiToken {
            name: name.into(),
            digest: Sha256::digest(secret.as_bytes()).into(),
            scopes: vec![Scope::Ingest],
        }
    }

    /// A token from the SHA-256 digest of its value, with the default
    /// scope (`ingest`).
    pub fn from_digest(name: impl Into<String>, digest: [u8; 32]) -> Self {
        ApiToken {
            name: name.into(),
            digest,
            scopes: vec![Scope::Ingest],
        }
    }

    /// The same token with these scopes instead.
    pub fn with_scopes(mut self, scopes: impl IntoIterator<Item = Scope>) -> Self {
        self.scopes = scopes.into_iter().collect();
        self.scopes.sort();
        self.scopes.dedup();
        self
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Whether `presented` is this token: compares SHA-256 digests in
    /// constant time.
    pub fn verify(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut diff = 0u8;
        for (a, b) in self.digest.iter().zip(presented.iter()) {
            diff |= std::hint::black_box(a ^ b);
        }
        std::hint::black_box(diff) == 0
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("name", &self.name)
            .field("digest", &"<redacted>")
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// Checks that stop a remediation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guardrails {
    /// A resource carrying a tag with this key is skipped.
    pub exempt_tag: String,
    /// At most one change per account and region every this many seconds
    /// (0: no limit).
    pub min_interval_seconds: u64,
    /// Jobs one replica runs at once in one account and region. `None`:
    /// only `execution.concurrency` bounds them.
    pub max_concurrent_per_account_region: Option<usize>,
    /// Blast-radius breaker: when an action has made this many changes in
    /// one account within the last hour (across every rule that uses it),
    /// those rules are paused and their channels told. `None` (`off` in
    /// the config): no breaker.
    pub max_changes_per_account_per_hour: Option<u64>,
    /// Blast-radius breaker by share: when an action's changes in one account
    /// within the last hour would exceed this percentage of the account's
    /// resources of the action's type (as the action counts them; always
    /// at least one change allowed), the rule is paused and its channels
    /// told. `None`: no such breaker.
    pub max_percent_of_type_per_hour: Option<u8>,
    /// No fight with a person: after rectify has undone the same
    /// principal's API change to one resource this many times within an
    /// hour, it stops acting on that resource and tells the rule's
    /// channels. `None`: no limit.
    pub max_reversals_per_hour: Option<u64>,
}

/// The breakers' defaults: on, at values a change board would accept for
/// unattended changes (each counted per action and account).
pub const DEFAULT_MAX_CHANGES_PER_ACCOUNT_PER_HOUR: u64 = 20;
pub const DEFAULT_MAX_PERCENT_OF_TYPE_PER_HOUR: u8 = 25;
pub const DEFAULT_MAX_REVERSALS_PER_HOUR: u64 = 2;

impl Default for Guardrails {
    fn default() -> Self {
        Guardrails {
            exempt_tag: DEFAULT_EXEMPT_TAG.to_string(),
            min_interval_seconds: 0,
            max_concurrent_per_account_region: None,
            max_changes_per_account_per_hour: Some(DEFAULT_MAX_CHANGES_PER_ACCOUNT_PER_HOUR),
            max_percent_of_type_per_hour: Some(DEFAULT_MAX_PERCENT_OF_TYPE_PER_HOUR),
            max_reversals_per_hour: Some(DEFAULT_MAX_REVERSALS_PER_HOUR),
        }
    }
}

/// How jobs run and retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// Attempts in all, the first included, for errors a retry can fix
    /// (throttling, 5xx, timeouts). Then the job is dead.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time (full jitter).
    pub backoff_base_ms: u64,
    /// Backoff ceiling.
    pub backoff_max_ms: u64,
    /// A job first created longer ago than this is not retried: dead.
    pub max_age_seconds: u64,
    /// Jobs one replica runs at once.
    pub concurrency: usize,
    /// How long a claimed job stays with its replica without a renewal.
    pub lease_seconds: u64,
}

impl Default for Execution {
    fn default() -> Self {
        Execution {
            max_attempts: 5,
            backoff_base_ms: 1_000,
            backoff_max_ms: 300_000,
            max_age_seconds: 3_600,
            concurrency: 4,
            lease_seconds: 300,
        }
    }
}

/// Event sources `rectify serve` polls, besides its HTTP API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// SQS queues fed by an EventBridge rule (or an SNS topic).
    pub sqs: Vec<SqsQueue>,
    /// Polling Security Hub's `GetFindings`, when set.
    pub securityhub: Option<SecurityHubPoll>,
}

/// `sources.securityhub`: findings polled from Security Hub (in
/// `aws.securityhub.region`, with `aws.securityhub.role_arn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityHubPoll {
    pub interval_seconds: u64,
    /// Each poll reads this far behind its cursor again.
    pub overlap_seconds: u64,
    /// Where the first poll starts, with no cursor saved yet.
    pub start_hours_ago: u64,
    /// Filters, each a list of values compared with `EQUALS`; empty: any.
    pub workflow_status: Vec<String>,
    pub record_state: Vec<String>,
    pub compliance_status: Vec<String>,
    pub severity_label: Vec<String>,
    pub product_name: Vec<String>,
}

impl Default for SecurityHubPoll {
    fn default() -> Self {
        SecurityHubPoll {
            interval_seconds: 60,
            overlap_seconds: 300,
            start_hours_ago: 24,
            workflow_status: vec!["NEW".into(), "NOTIFIED".into()],
            record_state: vec!["ACTIVE".into()],
            compliance_status: Vec::new(),
            severity_label: Vec::new(),
            product_name: Vec::new(),
        }
    }
}

/// One SQS queue to take events from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsQueue {
    /// `https://sqs.<region>.amazonaws.com/<account>/<name>`.
    pub queue_url: String,
    /// The queue's region: as set, else from the URL's host, else
    /// `aws.region`.
    pub region: String,
    /// Long-polling wait of each receive, 0..=20 s.
    pub wait_seconds: u32,
    /// Messages per receive, 1..=10.
    pub max_messages: u32,
}

/// Defaults of an `sources.sqs` entry.
pub const DEFAULT_SQS_WAIT_SECONDS: u32 = 20;
pub const DEFAULT_SQS_MAX_MESSAGES: u32 = 10;

/// Where rectify talks to AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// rectify's home region.
    pub region: String,
    /// Region `BatchUpdateFindings` is sent to; `None`: the finding's own.
    pub securityhub_region: Option<String>,
    /// Role assumed for `BatchUpdateFindings`; `None`: rectify's own
    /// credentials.
    pub securityhub_role_arn: Option<String>,
    /// Attempts the AWS SDK makes for one call before the error reaches the
    /// job (which has its own retries, see `execution`). `None`: the SDK's
    /// own settings (`AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`, the profile's
    /// `max_attempts`), else 3.
    pub sdk_max_attempts: Option<u32>,
    /// `aws.profile`: the profile of the shared AWS config files to log in
    /// with (`--profile` wins).
    pub profile: Option<String>,
}

/// Checks on rules that the caller knows how to make: the pattern engine
/// (is `pattern` valid?) and the action catalog (does `action` exist, do
/// its `params` fit?). This crate checks neither.
pub trait RuleChecker {
    /// Problems with `rule`, each as (field path relative to the rule, e.g.
    /// `action`, `pattern.detail.findings` or `params.max_age`; message).
    /// Empty when the rule is fine. Each is reported at the position of the
    /// deepest part of the path that exists in the file.
    fn check(&self, rule: &Rule) -> Vec<(String, String)>;
}

/// Reads an environment variable: `None` when unset.
pub type EnvLookup = dyn Fn(&str) -> Option<String>;

/// Loads configs and rule files. Build one with [`Loader::new`], add the
/// built-in packs and a [`RuleChecker`], then call a `load_*` method.
#[derive(Default)]
pub struct Loader<'a> {
    pub(crate) checker: Option<&'a dyn RuleChecker>,
    pub(crate) templates: Option<&'a dyn TemplateChecker>,
    pub(crate) packs: Vec<(String, &'a str)>,
    pub(crate) env: Option<&'a EnvLookup>,
}

impl<'a> Loader<'a> {
    /// A loader with no packs and no rule checker, reading the process
    /// environment.
    pub fn new() -> Self {
        Loader::default()
    }

    /// Runs `c` on every rule that passes this crate's own checks.
    pub fn checker(mut self, c: &'a dyn RuleChecker) -> Self {
        self.checker = Some(c);
        self
    }

    /// Runs `c` on every channel template the config gives.
    pub fn templates(mut self, c: &'a dyn TemplateChecker) -> Self {
        self.templates = Some(c);
        self
    }

    /// Makes a built-in rule pack (a YAML list of rules) loadable by
    /// `packs: [name]`. Its problems are reported with file `<pack:name>`.
    pub fn pack(mut self, name: &str, yaml: &'a str) -> Self {
        self.packs.retain(|(n, _)| n != name);
        self.packs.push((name.to_string(), yaml));
        self
    }

    /// Reads environment variables (`token_env`, `AWS_REGION`,
    /// `AWS_DEFAULT_REGION`) through `lookup` instead of the process
    /// environment.
    pub fn env(mut self, lookup: &'a EnvLookup) -> Self {
        self.env = Some(lookup);
        self
    }

    pub(crate) fn var(&self, name: &str) -> Option<String> {
        match self.env {
            Some(lookup) => lookup(name),
            None => std::env::var(name).ok(),
        }
    }

    /// Loads and validates a config file and everything it includes.
    pub fn load_file(&self, path: &Path) -> Result<Config, Vec<Diagnostic>> {
        let text = read(path)?;
        self.load_str(&text, path)
    }

    /// Loads and validates config text as if read from `file`: `include`
    /// paths are resolved relative to `file`'s folder, and diagnostics name
    /// `file`.
    pub fn load_str(&self, yaml: &str, file: &Path) -> Result<Config, Vec<Diagnostic>> {
        validate::load_config(self, yaml, file)
    }

    /// The embedded default config ([`DEFAULT_YAML`]), with `path: None`.
    pub fn load_default(&self) -> Result<Config, Vec<Diagnostic>> {
        let mut config = self.load_str(DEFAULT_YAML, Path::new("<default>"))?;
        config.path = None;
        Ok(config)
    }

    /// Loads a file that is just a list of rules (as `rectify match --rules`
    /// takes). The rules' `notify` names are not checked (there are no
    /// channels without a config) and `mode` is left as written.
    pub fn load_rules_file(&self, path: &Path) -> Result<Vec<LoadedRule>, Vec<Diagnostic>> {
        let text = read(path)?;
        validate::load_rules(self, &text, path)
    }
}

fn read(path: &Path) -> Result<String, Vec<Diagnostic>> {
    std::fs::read_to_string(path).map_err(|e| {
        vec![Diagnostic {
            file: path.to_path_buf(),
            line: None,
            column: None,
            field: String::new(),
            message: format!("cannot read {}: {e}", path.display()),
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_redacts_and_verifies() {
        let t = ApiToken::from_secret("ops", "correct-horse-battery");
        let shown = format!("{t:?}");
        assert!(!shown.contains("correct-horse"), "{shown}");
        assert!(shown.contains("ops"));
        assert!(t.verify("correct-horse-battery"));
        assert!(!t.verify("correct-horse-batter"));
        assert_eq!(t.scopes, vec![Scope::Ingest]);
        let api = ApiSettings {
            tokens: vec![ApiToken::from_secret("a", "aaaaaaaaaaaaaaaa"), t],
            ..ApiSettings::default()
        };
        assert_eq!(api.verify("correct-horse-battery"), Some("ops"));
        assert_eq!(api.verify("nope"), None);
    }

    #[test]
    fn diagnostic_display() {
        let d = Diagnostic {
            file: "rules/s3.yaml".into(),
            line: Some(14),
            column: Some(7),
            field: "rules[2].mode".into(),
            message: "bad".into(),
        };
        assert_eq!(d.to_string(), "rules/s3.yaml:14:7: rules[2].mode: bad");
        let d = Diagnostic {
            file: "x.yaml".into(),
            line: None,
            column: None,
            field: String::new(),
            message: "cannot read".into(),
        };
        assert_eq!(d.to_string(), "x.yaml: cannot read");
    }
}
