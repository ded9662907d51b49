//! Walks the positioned YAML tree section by section, collecting every
//! problem, then makes the checks that span sections.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rectify_model::{Mode, Rule};
use serde_json::Value;

use crate::yaml::{self, join, Entry, Node, Pos, Val};
use crate::{
    Account, ApiSettings, ApiToken, AwsSettings, Channel, Config, Diagnostic, Execution,
    FromOrganizations, Guardrails, LoadedRule, Loader, Location, Scope, Secret, SecurityHubPoll,
    Smtp, Sources, SqsQueue, TlsFiles, Webhook, DEFAULT_ORGANIZATIONS_REFRESH_SECONDS,
    DEFAULT_OWNER_TAG, DEFAULT_SQS_MAX_MESSAGES, DEFAULT_SQS_WAIT_SECONDS, DEFAULT_STORE,
    FALLBACK_REGION, MIN_TOKEN_LEN,
};

mod anomaly;
mod channel_options;
mod detect;
mod kubernetes;
mod scan;
mod secrets;
mod tickets;
pub use secrets::NO_AUDIT_KEY;
pub(crate) use secrets::{read_secret_file, redact_url};

const TOP_KEYS: &[&str] = &[
    "store",
    "store_env",
    "store_file",
    "audit",
    "default_mode",
    "default_notify",
    "aws",
    "accounts",
    "notifications",
    "api",
    "guardrails",
    "execution",
    "sources",
    "tickets",
    "detect",
    "kubernetes",
    "scan",
    "packs",
    "include",
    "rules",
    "overrides",
];
const AWS_KEYS: &[&str] = &["region", "securityhub", "sdk_max_attempts", "profile"];
const SECURITYHUB_KEYS: &[&str] = &["region", "role_arn"];
/// `external_id: none`: assume the account's role without an external id.
pub const NO_EXTERNAL_ID: &str = "none";
const ACCOUNT_KEYS: &[&str] = &["id", "name", "role_arn", "external_id", "owner", "regions"];
const ACCOUNTS_KEYS: &[&str] = &["list", "from_organizations"];
const FROM_ORGANIZATIONS_KEYS: &[&str] = &[
    "role_arn",
    "external_id",
    "organizational_units",
    "accounts",
    "owner_tag",
    "owner_from_security_contact",
    "regions",
    "refresh_seconds",
];
/// Stands for the account id in `accounts.from_organizations.role_arn`.
pub const ACCOUNT_PLACEHOLDER: &str = "{account}";
const CHANNEL_KINDS: &[&str] = &["sns", "webhook", "slack", "teams", "smtp", "ses"];
const CHANNEL_KEYS: &[&str] = &[
    "sns",
    "webhook",
    "slack",
    "teams",
    "smtp",
    "ses",
    "coalesce_seconds",
    "fallback",
    "template",
    "digest_minutes",
    "digest_max_items",
    "severities",
];
/// Longest coalescing window: a day.
const MAX_COALESCE_SECONDS: u64 = 86_400;
const SES_KEYS: &[&str] = &["from", "to", "region", "to_owner"];
const SMTP_KEYS: &[&str] = &[
    "host",
    "port",
    "starttls",
    "username_env",
    "password_env",
    "password_file",
    "ca_file",
    "from",
    "to",
    "to_owner",
];
const CHAT_KEYS: &[&str] = &["webhook_url_env", "webhook_url_file"];
const WEBHOOK_KEYS: &[&str] = &["url", "secret_env", "secret_file"];
/// Shortest webhook secret accepted: an HMAC key a receiver cannot guess.
const MIN_WEBHOOK_SECRET_LEN: usize = 16;
const API_KEYS: &[&str] = &[
    "listen",
    "max_body_bytes",
    "tokens",
    "four_eyes",
    "max_auth_failures",
    "auth_failure_window_seconds",
    "header_read_timeout_seconds",
    "body_read_timeout_seconds",
    "request_timeout_seconds",
    "idle_timeout_seconds",
    "max_connections",
    "tls",
];
const TOKEN_KEYS: &[&str] = &[
    "name",
    "token",
    "token_env",
    "token_file",
    "sha256",
    "scopes",
];
const TLS_KEYS: &[&str] = &["cert_file", "key_file"];
const GUARDRAIL_KEYS: &[&str] = &[
    "exempt_tag",
    "max_concurrent_per_account_region",
    "min_interval_seconds",
    "max_changes_per_account_per_hour",
    "max_percent_of_type_per_hour",
    "max_reversals_per_hour",
];
const OVERRIDE_KEYS: &[&str] = &["mode", "params", "enabled"];
const EXECUTION_KEYS: &[&str] = &[
    "max_attempts",
    "backoff_base_ms",
    "backoff_max_ms",
    "max_age_seconds",
    "concurrency",
    "lease_seconds",
];
const SOURCES_KEYS: &[&str] = &["sqs", "securityhub"];
const POLL_KEYS: &[&str] = &[
    "interval_seconds",
    "overlap_seconds",
    "start_hours_ago",
    "workflow_status",
    "record_state",
    "compliance_status",
    "severity_label",
    "product_name",
];
const SQS_KEYS: &[&str] = &["queue_url", "region", "wait_seconds", "max_messages"];
const RULE_KEYS: &[&str] = &[
    "id",
    "description",
    "controls",
    "pattern",
    "action",
    "params",
    "mode",
    "notify",
    "enabled",
];
const MODES: &str = "`auto`, `approve`, `dry-run`";

/// The region from `AWS_REGION`, then `AWS_DEFAULT_REGION`, else the
/// fallback.
pub(crate) fn env_region(lookup: &dyn Fn(&str) -> Option<String>) -> String {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .filter_map(|name| lookup(name))
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| FALLBACK_REGION.to_string())
}

/// Diagnostics for one file.
struct Ctx<'d> {
    file: PathBuf,
    out: &'d mut Vec<Diagnostic>,
}

/// A mapping whose keys were checked against the known ones.
struct Fields<'n> {
    pos: Pos,
    entries: &'n [Entry],
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    /// Like `get`, but an explicit `null` counts as absent.
    fn opt(&self, key: &str) -> Option<&'n Node> {
        self.get(key).filter(|n| n.val != Val::Null)
    }

    fn key_pos(&self, key: &str) -> Option<Pos> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.key_pos)
    }
}

fn list_keys(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn found(node: &Node) -> String {
    let hint = match node.val {
        Val::Number(..) | Val::Bool(_) | Val::NonFinite(_) => {
            " (put it in quotes to make it a string)"
        }
        _ => "",
    };
    format!("found {}{hint}", node.val.kind())
}

impl Ctx<'_> {
    fn err(&mut self, pos: Pos, field: &str, message: impl Into<String>) {
        self.out.push(Diagnostic {
            file: self.file.clone(),
            line: Some(pos.line),
            column: Some(pos.col),
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// The node as a mapping (null: an empty one), reporting unknown keys.
    fn fields<'n>(&mut self, node: &'n Node, field: &str, known: &[&str]) -> Option<Fields<'n>> {
        let entries: &[Entry] = match &node.val {
            Val::Map(entries) => entries,
            Val::Null => &[],
            _ => {
                self.err(
                    node.pos,
                    field,
                    format!("expected a mapping, {}", found(node)),
                );
                return None;
            }
        };
        for e in entries {
            if !known.contains(&e.key.as_str()) {
                self.err(
                    e.key_pos,
                    &join(field, &e.key),
                    format!(
                        "unknown field `{}`, expected one of {}",
                        e.key,
                        list_keys(known)
                    ),
                );
            }
        }
        Some(Fields {
            pos: node.pos,
            entries,
        })
    }

    fn missing(&mut self, f: &Fields, field: &str, key: &str) {
        self.err(f.pos, &join(field, key), format!("missing field `{key}`"));
    }

    fn string(&mut self, node: &Node, field: &str) -> Option<String> {
        match &node.val {
            Val::Str(s) => Some(s.clone()),
            _ => {
                self.err(
                    node.pos,
                    field,
                    format!("expected a string, {}", found(node)),
                );
                None
            }
        }
    }

    fn non_empty(&mut self, node: &Node, field: &str) -> Option<String> {
        let s = self.string(node, field)?;
        if s.trim().is_empty() {
            self.err(node.pos, field, "must not be empty");
            return None;
        }
        Some(s)
    }

    /// An optional string field (absent or null: `None`).
    fn opt_string(&mut self, f: &Fields, field: &str, key: &str) -> Option<String> {
        let node = f.opt(key)?;
        self.non_empty(node, &join(field, key))
    }

    /// A required string field.
    fn req_string(&mut self, f: &Fields, field: &str, key: &str) -> Option<String> {
        match f.get(key) {
            Some(node) => self.non_empty(node, &join(field, key)),
            None => {
                self.missing(f, field, key);
                None
            }
        }
    }

    fn items<'n>(&mut self, node: &'n Node, field: &str) -> &'n [Node] {
        match &node.val {
            Val::Seq(items) => items,
            Val::Null => &[],
            _ => {
                self.err(node.pos, field, format!("expected a list, {}", found(node)));
                &[]
            }
        }
    }

    fn string_list(&mut self, node: Option<&Node>, field: &str) -> Vec<(String, Pos)> {
        let Some(node) = node else { return Vec::new() };
        let mut out = Vec::new();
        for (i, item) in self.items(node, field).iter().enumerate() {
            if let Some(s) = self.non_empty(item, &format!("{field}[{i}]")) {
                out.push((s, item.pos));
            }
        }
        out
    }

    /// An optional whole number in `min..=max` (absent or null: `None`).
    fn opt_u64(&mut self, f: &Fields, field: &str, key: &str, min: u64, max: u64) -> Option<u64> {
        let node = f.opt(key)?;
        let field = join(field, key);
        match &node.val {
            Val::Number(num, _) if num.as_u64().is_some_and(|v| (min..=max).contains(&v)) => {
                num.as_u64()
            }
            _ => {
                self.err(
                    node.pos,
                    &field,
                    format!(
                        "expected a whole number from {min} to {max}, {}",
                        found(node)
                    ),
                );
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, field: &str) -> Option<bool> {
        match node.val {
            Val::Bool(b) => Some(b),
            _ => {
                self.err(
                    node.pos,
                    field,
                    format!("expected a boolean, found {}", node.val.kind()),
                );
                None
            }
        }
    }

    /// A limit that can be switched off: a whole number from `min` to
    /// `max`, or `off`. `None`: not given; `Some(None)`: off.
    fn opt_limit(
        &mut self,
        f: &Fields,
        field: &str,
        key: &str,
        min: u64,
        max: u64,
    ) -> Option<Option<u64>> {
        let node = f.opt(key)?;
        if matches!(&node.val, Val::Str(s) if s == "off") {
            return Some(None);
        }
        if matches!(&node.val, Val::Number(..)) {
            return self.opt_u64(f, field, key, min, max).map(Some);
        }
        self.err(
            node.pos,
            &join(field, key),
            format!(
                "expected a whole number from {min} to {max}, or `off`, {}",
                found(node)
            ),
        );
        None
    }

    fn mode(&mut self, node: &Node, field: &str) -> Option<Mode> {
        match &node.val {
            Val::Str(s) => match serde_json::from_value::<Mode>(Value::String(s.clone())) {
                Ok(mode) => Some(mode),
                Err(e) => {
                    self.err(node.pos, field, e.to_string());
                    None
                }
            },
            _ => {
                self.err(
                    node.pos,
                    field,
                    format!("expected one of {MODES}, found {}", node.val.kind()),
                );
                None
            }
        }
    }

    fn region(&mut self, node: &Node, field: &str) -> Option<String> {
        let s = self.non_empty(node, field)?;
        if !is_region(&s) {
            self.err(
                node.pos,
                field,
                format!("`{s}` is not an AWS region name (like `us-east-1`)"),
            );
            return None;
        }
        Some(s)
    }

    /// `FIELD.regions`: a list of region names (absent: empty, all regions).
    fn region_list(&mut self, f: &Fields, field: &str) -> Vec<String> {
        let mut regions = Vec::new();
        for (j, (r, pos)) in self
            .string_list(f.opt("regions"), &join(field, "regions"))
            .into_iter()
            .enumerate()
        {
            if is_region(&r) {
                regions.push(r);
            } else {
                self.err(
                    pos,
                    &format!("{field}.regions[{j}]"),
                    format!("`{r}` is not an AWS region name (like `us-east-1`)"),
                );
            }
        }
        regions
    }

    fn role_arn(&mut self, node: &Node, field: &str) -> Option<String> {
        let s = self.non_empty(node, field)?;
        if !is_role_arn(&s) {
            self.err(
                node.pos,
                field,
                format!(
                    "`{s}` is not an IAM role ARN (expected arn:<partition>:iam::<12 digits>:role/<name>)"
                ),
            );
            return None;
        }
        Some(s)
    }

    fn json(&mut self, node: &Node, field: &str) -> Option<Value> {
        match node.to_json(field) {
            Ok(v) => Some(v),
            Err(e) => {
                self.err(e.pos, &e.field, e.message);
                None
            }
        }
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_partition(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
}

/// `us-east-1`, `us-gov-west-1`, `eu-central-2`, `cn-north-1`...
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

/// `arn:<partition>:iam::<12 digits>:role/<path/><name>`.
pub(crate) fn is_role_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts[..] else {
        return false;
    };
    let Some(name) = resource.strip_prefix("role/") else {
        return false;
    };
    arn == "arn"
        && is_partition(partition)
        && service == "iam"
        && region.is_empty()
        && is_account_id(account)
        && !name.is_empty()
        && !name.ends_with('/')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
}

fn sns_channel(cx: &mut Ctx, n: &Node, field: &str) -> Option<Channel> {
    let sfield = join(field, "sns");
    let arn = cx.non_empty(n, &sfield)?;
    if !is_sns_arn(&arn) {
        cx.err(
            n.pos,
            &sfield,
            format!(
                "`{arn}` is not an SNS topic ARN (expected arn:<partition>:sns:<region>:<12 digits>:<topic>)"
            ),
        );
    }
    Some(Channel::Sns { topic_arn: arn })
}

fn webhook_channel(cx: &mut Ctx, loader: &Loader, n: &Node, field: &str) -> Option<Channel> {
    let f = cx.fields(n, field, WEBHOOK_KEYS)?;
    let url = cx.req_string(&f, field, "url");
    if let (Some(url), Some(node)) = (&url, f.get("url")) {
        if let Err(why) = check_webhook_url(url) {
            cx.err(node.pos, &join(field, "url"), why);
        }
    }
    let secret = channel_secret(
        cx,
        loader,
        &f,
        field,
        ("secret_env", "secret_file"),
        MIN_WEBHOOK_SECRET_LEN,
    );
    Some(Channel::Webhook(Webhook {
        url: url?,
        secret: secret?,
    }))
}

/// A path from the config, relative to the config file's directory.
fn secrets_path(path: &str, config_file: &Path) -> PathBuf {
    let p = Path::new(path);
    match config_file
        .parent()
        .filter(|d| !p.is_absolute() && !d.as_os_str().is_empty())
    {
        Some(dir) => dir.join(p),
        None => p.to_path_buf(),
    }
}

/// A plausible address (`local@domain`); the relay has the last word.
fn is_email_address(s: &str) -> bool {
    let addr = match (s.rfind('<'), s.ends_with('>')) {
        (Some(i), true) => &s[i + 1..s.len() - 1],
        _ => s,
    };
    match addr.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !addr.chars().any(|c| c.is_whitespace() || c == ',')
        }
        None => false,
    }
}

/// `from` (required, one address), `to` (a list, which may be empty only
/// with `to_owner: true`) and `to_owner`.
fn mail_addresses(cx: &mut Ctx, f: &Fields, field: &str) -> (Option<String>, Vec<String>, bool) {
    let to_owner = match f.opt("to_owner") {
        Some(node) => cx.boolean(node, &join(field, "to_owner")).unwrap_or(false),
        None => false,
    };
    let from = cx.req_string(f, field, "from");
    if let (Some(a), Some(node)) = (&from, f.get("from")) {
        if !is_email_address(a) {
            cx.err(
                node.pos,
                &join(field, "from"),
                format!("`{a}` is not an email address"),
            );
        }
    }
    let mut to = Vec::new();
    match f.get("to") {
        None if to_owner => {}
        None => cx.missing(f, field, "to"),
        Some(node) => {
            let tfield = join(field, "to");
            let list = cx.string_list(Some(node), &tfield);
            if list.is_empty() && !to_owner {
                cx.err(
                    node.pos,
                    &tfield,
                    "at least one address is needed (or `to_owner: true`)",
                );
            }
            for (i, (a, pos)) in list.into_iter().enumerate() {
                if is_email_address(&a) {
                    to.push(a);
                } else {
                    cx.err(
                        pos,
                        &format!("{tfield}[{i}]"),
                        format!("`{a}` is not an email address"),
                    );
                }
            }
        }
    }
    (from, to, to_owner)
}

fn ses_channel(cx: &mut Ctx, n: &Node, field: &str) -> Option<Channel> {
    let f = cx.fields(n, field, SES_KEYS)?;
    let region = cx.opt_string(&f, field, "region");
    if let (Some(r), Some(node)) = (&region, f.get("region")) {
        if !is_region(r) {
            cx.err(
                node.pos,
                &join(field, "region"),
                format!("`{r}` is not an AWS region name"),
            );
        }
    }
    let (from, to, to_owner) = mail_addresses(cx, &f, field);
    Some(Channel::Ses {
        from: from?,
        to,
        region,
        to_owner,
    })
}

fn smtp_channel(cx: &mut Ctx, loader: &Loader, n: &Node, field: &str) -> Option<Channel> {
    let f = cx.fields(n, field, SMTP_KEYS)?;
    let host = cx.req_string(&f, field, "host");
    let port = cx.opt_u64(&f, field, "port", 1, 65535).unwrap_or(587) as u16;
    let starttls = match f.opt("starttls") {
        Some(node) => cx.boolean(node, &join(field, "starttls")).unwrap_or(true),
        None => true,
    };
    if let (false, Some(host)) = (starttls, &host) {
        let loopback = host == "localhost" || host == "::1" || host.starts_with("127.");
        if !loopback {
            let pos = f.key_pos("starttls").unwrap_or(f.pos);
            cx.err(
                pos,
                &join(field, "starttls"),
                "`starttls: false` is allowed only to a loopback host: the login and the mail would cross the network in the clear",
            );
        }
    }
    let username = match f.opt("username_env") {
        Some(node) => {
            let ufield = join(field, "username_env");
            let var = cx.non_empty(node, &ufield)?;
            match loader.var(&var).filter(|v| !v.is_empty()) {
                Some(v) => Some(v),
                None => {
                    cx.err(
                        node.pos,
                        &ufield,
                        format!("environment variable `{var}` is not set or empty"),
                    );
                    return None;
                }
            }
        }
        None => None,
    };
    let has_password = f.get("password_env").is_some() || f.get("password_file").is_some();
    let password = match (&username, has_password) {
        (Some(_), _) => Some(channel_secret(
            cx,
            loader,
            &f,
            field,
            ("password_env", "password_file"),
            1,
        )?),
        (None, true) => {
            cx.err(
                f.pos,
                &join(field, "username_env"),
                "a password is given without `username_env`",
            );
            return None;
        }
        (None, false) => None,
    };
    let ca_file = cx
        .opt_string(&f, field, "ca_file")
        .map(|p| secrets_path(&p, &cx.file));
    let (from, to, to_owner) = mail_addresses(cx, &f, field);
    Some(Channel::Smtp(Smtp {
        host: host?,
        port,
        starttls,
        username,
        password,
        ca_file,
        from: from?,
        to,
        to_owner,
    }))
}

/// `slack` / `teams`: an incoming webhook whose URL is a secret.
fn chat_channel(
    cx: &mut Ctx,
    loader: &Loader,
    n: &Node,
    field: &str,
    kind: &str,
) -> Option<Channel> {
    let f = cx.fields(n, field, CHAT_KEYS)?;
    let webhook_url = channel_secret(
        cx,
        loader,
        &f,
        field,
        ("webhook_url_env", "webhook_url_file"),
        1,
    )?;
    Some(match kind {
        "slack" => Channel::Slack { webhook_url },
        _ => Channel::Teams { webhook_url },
    })
}

/// `https://host...`, or `http://` only to a loopback address: the body
/// names accounts and resources, and a signature does not hide it.
pub(crate) fn check_webhook_url(url: &str) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("`{url}` is not a URL (expected https://...)"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    match scheme {
        "https" => Ok(()),
        "http" if matches!(host, "localhost" | "::1") || host.starts_with("127.") => Ok(()),
        "http" => Err(format!(
            "`{url}`: plain http is allowed only to a loopback address; use https"
        )),
        _ => Err(format!("`{url}`: expected an https:// URL")),
    }
}

/// A channel's secret from exactly one of `env_key` (an environment
/// variable's name) or `file_key` (a file, relative to the config's).
fn channel_secret(
    cx: &mut Ctx,
    loader: &Loader,
    f: &Fields,
    field: &str,
    (env_key, file_key): (&str, &str),
    min_len: usize,
) -> Option<Secret> {
    let given: Vec<&str> = [env_key, file_key]
        .into_iter()
        .filter(|k| f.get(k).is_some())
        .collect();
    let key = match given.as_slice() {
        [] => {
            cx.err(
                f.pos,
                field,
                format!("one of `{env_key}`, `{file_key}` is required"),
            );
            return None;
        }
        [key] => *key,
        _ => {
            let pos = f.key_pos(file_key).unwrap_or(f.pos);
            cx.err(
                pos,
                field,
                format!("give only one of `{env_key}`, `{file_key}`"),
            );
            return None;
        }
    };
    let node = f.get(key)?;
    let vfield = join(field, key);
    let value = cx.non_empty(node, &vfield)?;
    let secret = if key == env_key {
        match loader.var(&value) {
            Some(v) if !v.is_empty() => v,
            Some(_) => {
                cx.err(
                    node.pos,
                    &vfield,
                    format!("environment variable `{value}` is empty"),
                );
                return None;
            }
            None => {
                cx.err(
                    node.pos,
                    &vfield,
                    format!("environment variable `{value}` is not set"),
                );
                return None;
            }
        }
    } else {
        match read_secret_file(&value, &cx.file.clone()) {
            Ok(v) => v,
            Err(e) => {
                cx.err(node.pos, &vfield, e);
                return None;
            }
        }
    };
    if secret.chars().count() < min_len {
        // Never the value itself: only its length.
        cx.err(
            node.pos,
            &vfield,
            format!(
                "weak secret: at least {min_len} characters are needed (got {})",
                secret.chars().count()
            ),
        );
        return None;
    }
    let url_check = (env_key == "webhook_url_env")
        .then(|| check_webhook_url(&secret))
        .and_then(Result::err);
    if url_check.is_some() {
        // The URL is the credential: say what is wrong, not what it is.
        cx.err(
            node.pos,
            &vfield,
            format!(
                "the webhook URL from `{value}` is not an https:// URL (http:// only to a loopback address)"
            ),
        );
        return None;
    }
    Some(Secret(secret.into_bytes()))
}

/// `arn:<partition>:sns:<region>:<12 digits>:<topic>`.
pub(crate) fn is_sns_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, service, region, account, topic] = parts[..] else {
        return false;
    };
    let base = topic.strip_suffix(".fifo").unwrap_or(topic);
    arn == "arn"
        && is_partition(partition)
        && service == "sns"
        && is_region(region)
        && is_account_id(account)
        && !base.is_empty()
        && topic.len() <= 256
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_store_url(s: &str) -> bool {
    ["sqlite://", "postgres://", "postgresql://"]
        .iter()
        .any(|scheme| s.strip_prefix(scheme).is_some_and(|rest| !rest.is_empty()))
}

fn is_listen_addr(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !host.contains(' ') && port.parse::<u16>().is_ok()
        }
        None => false,
    }
}

/// A rule as read from a file, with what later checks need.
struct RuleSite {
    /// `None` when the rule itself had errors.
    rule: Option<Rule>,
    /// Its id with the id's position, when the id was readable.
    id: Option<(String, Pos)>,
    node: Node,
    field: String,
    file: PathBuf,
}

fn is_rule_id(s: &str) -> bool {
    !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Reads one rule; errors go to `cx`.
fn read_rule(cx: &mut Ctx, node: &Node, field: &str) -> RuleSite {
    let mut site = RuleSite {
        rule: None,
        id: None,
        node: node.clone(),
        field: field.to_string(),
        file: cx.file.clone(),
    };
    if !matches!(node.val, Val::Map(_)) {
        cx.err(
            node.pos,
            field,
            format!("expected a rule (a mapping), found {}", node.val.kind()),
        );
        return site;
    }
    let before = cx.out.len();
    let Some(f) = cx.fields(node, field, RULE_KEYS) else {
        return site;
    };
    let id = cx.req_string(&f, field, "id");
    if let (Some(id), Some(n)) = (&id, f.get("id")) {
        if is_rule_id(id) {
            site.id = Some((id.clone(), n.pos));
        } else {
            cx.err(
                n.pos,
                &join(field, "id"),
                format!("rule id `{id}` must not contain spaces"),
            );
        }
    }
    let description = f
        .opt("description")
        .and_then(|n| cx.string(n, &join(field, "description")))
        .unwrap_or_default();
    let controls = cx.string_list(f.opt("controls"), &join(field, "controls"));
    let pattern = match f.get("pattern") {
        None => {
            cx.missing(&f, field, "pattern");
            None
        }
        Some(n) => {
            let pfield = join(field, "pattern");
            match &n.val {
                Val::Map(entries) if !entries.is_empty() => cx.json(n, &pfield),
                Val::Map(_) => {
                    cx.err(n.pos, &pfield, "an event pattern must not be empty");
                    None
                }
                _ => {
                    cx.err(
                        n.pos,
                        &pfield,
                        format!(
                            "expected an event pattern (a mapping), found {}",
                            n.val.kind()
                        ),
                    );
                    None
                }
            }
        }
    };
    let action = cx.req_string(&f, field, "action");
    let params = match f.opt("params") {
        None => Some(Value::Object(Default::default())),
        Some(n) if matches!(n.val, Val::Map(_)) => cx.json(n, &join(field, "params")),
        Some(n) => {
            cx.err(
                n.pos,
                &join(field, "params"),
                format!("expected a mapping, found {}", n.val.kind()),
            );
            None
        }
    };
    let mode = f.opt("mode").and_then(|n| cx.mode(n, &join(field, "mode")));
    let notify = cx.string_list(f.opt("notify"), &join(field, "notify"));
    let enabled = f
        .opt("enabled")
        .and_then(|n| cx.boolean(n, &join(field, "enabled")))
        .unwrap_or(true);
    if cx.out.len() != before {
        return site;
    }
    if let (Some(id), Some(pattern), Some(action), Some(params)) = (id, pattern, action, params) {
        site.rule = Some(Rule {
            id,
            description,
            controls: controls.into_iter().map(|(s, _)| s).collect(),
            pattern,
            action,
            params,
            mode,
            notify: notify.into_iter().map(|(s, _)| s).collect(),
            enabled,
        });
    }
    site
}

/// Reads a list of rules (a rule file, a pack, or the inline `rules`).
fn read_rules(cx: &mut Ctx, node: &Node, field: &str, sites: &mut Vec<RuleSite>) {
    let items: &[Node] = match &node.val {
        Val::Seq(items) => items,
        Val::Null => &[],
        _ => {
            cx.err(
                node.pos,
                field,
                format!("expected a list of rules, found {}", node.val.kind()),
            );
            return;
        }
    };
    for (i, item) in items.iter().enumerate() {
        sites.push(read_rule(cx, item, &format!("{field}[{i}]")));
    }
}

/// Parses a file's text; syntax errors and parse-level problems are
/// reported. `None`: nothing usable.
fn parse_into(cx: &mut Ctx, text: &str) -> Option<Option<Node>> {
    match yaml::parse(text) {
        Ok((root, errors)) => {
            for e in errors {
                cx.err(e.pos, &e.field, e.message);
            }
            Some(root)
        }
        Err(e) => {
            cx.err(e.pos, &e.field, e.message);
            None
        }
    }
}

/// A whole rule file (included, a pack, or for `load_rules_file`).
fn read_rule_file(cx: &mut Ctx, text: &str, sites: &mut Vec<RuleSite>) {
    let Some(root) = parse_into(cx, text) else {
        return;
    };
    if let Some(root) = root {
        if !matches!(root.val, Val::Seq(_)) {
            cx.err(
                root.pos,
                "",
                format!(
                    "a rule file must be a YAML list of rules, found {}",
                    root.val.kind()
                ),
            );
            return;
        }
        read_rules(cx, &root, "rules", sites);
    }
}

fn finish_rules(
    loader: &Loader,
    sites: Vec<RuleSite>,
    channels: Option<&BTreeMap<String, Channel>>,
    default_mode: Option<Mode>,
    default_notify: &[String],
    out: &mut Vec<Diagnostic>,
) -> Vec<LoadedRule> {
    let mut seen: BTreeMap<String, (PathBuf, Pos)> = BTreeMap::new();
    let mut rules = Vec::new();
    for site in sites {
        let mut cx = Ctx {
            file: site.file.clone(),
            out,
        };
        if let Some((id, pos)) = &site.id {
            if let Some((file, first)) = seen.get(id) {
                cx.err(
                    *pos,
                    &join(&site.field, "id"),
                    format!(
                        "duplicate rule id `{id}` (first defined at {}:{}:{})",
                        file.display(),
                        first.line,
                        first.col
                    ),
                );
            } else {
                seen.insert(id.clone(), (site.file.clone(), *pos));
            }
        }
        let Some(mut rule) = site.rule else { continue };
        if let Some(channels) = channels {
            for (i, name) in rule.notify.iter().enumerate() {
                if !channels.contains_key(name) {
                    let field = format!("notify[{i}]");
                    let known = if channels.is_empty() {
                        "no channels are defined in `notifications`".to_string()
                    } else {
                        format!(
                            "known: {}",
                            list_keys(&channels.keys().map(String::as_str).collect::<Vec<_>>())
                        )
                    };
                    cx.err(
                        site.node.lookup(&field).pos,
                        &join(&site.field, &field),
                        format!("unknown notification channel `{name}` ({known})"),
                    );
                }
            }
        }
        let mode_is_default = rule.mode.is_none();
        if mode_is_default {
            rule.mode = default_mode;
        }
        if rule.notify.is_empty() {
            rule.notify = default_notify.to_vec();
        }
        if let Some(checker) = loader.checker {
            for (path, message) in checker.check(&rule) {
                let pos = site.node.lookup(&path).pos;
                cx.err(pos, &join(&site.field, &path), message);
            }
        }
        rules.push(LoadedRule {
            rule,
            mode_is_default,
            source: Location {
                file: site.file,
                line: site.node.pos.line,
                column: site.node.pos.col,
            },
        });
    }
    rules
}

pub(crate) fn load_rules(
    loader: &Loader,
    text: &str,
    file: &Path,
) -> Result<Vec<LoadedRule>, Vec<Diagnostic>> {
    let mut out = Vec::new();
    let mut sites = Vec::new();
    let mut cx = Ctx {
        file: file.to_path_buf(),
        out: &mut out,
    };
    read_rule_file(&mut cx, text, &mut sites);
    let rules = finish_rules(loader, sites, None, None, &[], &mut out);
    if out.is_empty() {
        Ok(rules)
    } else {
        Err(sorted(out))
    }
}

/// Diagnostics in reading order: files in the order they were first
/// reported, each file's by line and column (stable otherwise).
fn sorted(mut out: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut files: Vec<PathBuf> = Vec::new();
    for d in &out {
        if !files.contains(&d.file) {
            files.push(d.file.clone());
        }
    }
    out.sort_by_key(|d| {
        let file = files
            .iter()
            .position(|f| *f == d.file)
            .unwrap_or(usize::MAX);
        (file, d.line.unwrap_or(0), d.column.unwrap_or(0))
    });
    out
}

fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

pub(crate) fn load_config(
    loader: &Loader,
    text: &str,
    file: &Path,
) -> Result<Config, Vec<Diagnostic>> {
    let mut out = Vec::new();
    let mut cx = Ctx {
        file: file.to_path_buf(),
        out: &mut out,
    };
    let Some(root) = parse_into(&mut cx, text) else {
        return Err(out);
    };
    let root = root.unwrap_or(Node {
        val: Val::Null,
        pos: Pos { line: 1, col: 1 },
    });
    let Some(top) = cx.fields(&root, "", TOP_KEYS) else {
        return Err(out);
    };

    // store
    // `store`, or the URL from `store_env` / `store_file` (it may hold a
    // password: messages show it redacted).
    let store = match secrets::store_url(&mut cx, loader, &top) {
        Some((s, n)) => {
            if !is_store_url(&s) {
                cx.err(
                    n.pos,
                    "store",
                    format!(
                        "`{}` is not a store URL (expected `sqlite://PATH` or `postgres://...`)",
                        redact_url(&s)
                    ),
                );
            }
            s
        }
        None => DEFAULT_STORE.to_string(),
    };
    let audit = secrets::audit(&mut cx, loader, top.get("audit"));

    // default_mode
    let default_mode = top
        .opt("default_mode")
        .and_then(|n| cx.mode(n, "default_mode"))
        .unwrap_or_default();

    // aws
    let mut aws = AwsSettings {
        region: String::new(),
        securityhub_region: None,
        securityhub_role_arn: None,
        sdk_max_attempts: None,
        profile: None,
    };
    let mut region = None;
    if let Some(f) = top.get("aws").and_then(|n| cx.fields(n, "aws", AWS_KEYS)) {
        region = f.opt("region").and_then(|n| cx.region(n, "aws.region"));
        aws.sdk_max_attempts = cx
            .opt_u64(&f, "aws", "sdk_max_attempts", 1, 10)
            .map(|n| n as u32);
        aws.profile = cx.opt_string(&f, "aws", "profile");
        if let Some(sh) = f
            .get("securityhub")
            .and_then(|n| cx.fields(n, "aws.securityhub", SECURITYHUB_KEYS))
        {
            aws.securityhub_region = sh
                .opt("region")
                .and_then(|n| cx.region(n, "aws.securityhub.region"));
            aws.securityhub_role_arn = sh
                .opt("role_arn")
                .and_then(|n| cx.role_arn(n, "aws.securityhub.role_arn"));
        }
    }
    aws.region = region.unwrap_or_else(|| env_region(&|name| loader.var(name)));

    // accounts: a list, or a mapping with `list` and `from_organizations`.
    let mut accounts: Vec<Account> = Vec::new();
    let mut from_organizations = None;
    if let Some(node) = top.get("accounts") {
        if let Val::Map(entries) = &node.val {
            if !entries
                .iter()
                .any(|e| ACCOUNTS_KEYS.contains(&e.key.as_str()))
            {
                cx.err(
                    node.pos,
                    "accounts",
                    "expected a list, found a mapping (a mapping holds `list` and `from_organizations`)",
                );
            } else if let Some(f) = cx.fields(node, "accounts", ACCOUNTS_KEYS) {
                if let Some(list) = f.opt("list") {
                    accounts = read_account_list(&mut cx, list, "accounts.list");
                }
                if let Some(org) = f.opt("from_organizations") {
                    from_organizations = read_from_organizations(&mut cx, org);
                }
            }
        } else {
            accounts = read_account_list(&mut cx, node, "accounts");
        }
    }

    // notifications
    let mut notifications = BTreeMap::new();
    let mut notify_coalesce = BTreeMap::new();
    let mut notify_templates = BTreeMap::new();
    let mut notify_digest = BTreeMap::new();
    let mut notify_digest_max_items = BTreeMap::new();
    let mut notify_severities = BTreeMap::new();
    let mut fallback_pos: Vec<(String, String, Pos)> = Vec::new();
    if let Some(node) = top.get("notifications") {
        match &node.val {
            Val::Map(entries) => {
                for e in entries {
                    let field = join("notifications", &e.key);
                    if e.key.trim().is_empty() {
                        cx.err(e.key_pos, &field, "a channel name must not be empty");
                        continue;
                    }
                    let Some(f) = cx.fields(&e.value, &field, CHANNEL_KEYS) else {
                        continue;
                    };
                    if let Some(secs) =
                        cx.opt_u64(&f, &field, "coalesce_seconds", 1, MAX_COALESCE_SECONDS)
                    {
                        notify_coalesce.insert(e.key.clone(), secs);
                    }
                    if let Some(minutes) = cx.opt_u64(
                        &f,
                        &field,
                        "digest_minutes",
                        1,
                        channel_options::MAX_DIGEST_MINUTES,
                    ) {
                        if f.opt("coalesce_seconds").is_some() {
                            let pos = f.key_pos("digest_minutes").unwrap_or(f.pos);
                            cx.err(
                                pos,
                                &join(&field, "digest_minutes"),
                                "a digest channel sums up every message already; drop `coalesce_seconds`",
                            );
                        }
                        notify_digest.insert(e.key.clone(), minutes * 60);
                    }
                    if let Some(max) = cx.opt_u64(
                        &f,
                        &field,
                        "digest_max_items",
                        1,
                        channel_options::MAX_DIGEST_ITEMS,
                    ) {
                        if f.opt("digest_minutes").is_none() {
                            let pos = f.key_pos("digest_max_items").unwrap_or(f.pos);
                            cx.err(
                                pos,
                                &join(&field, "digest_max_items"),
                                "caps the items of a digest period: set `digest_minutes` too",
                            );
                        }
                        notify_digest_max_items.insert(e.key.clone(), max);
                    }
                    if let Some(list) = channel_options::severities(&mut cx, &f, &field) {
                        notify_severities.insert(e.key.clone(), list);
                    }
                    if let Some(node) = f.opt("fallback") {
                        if let Some(to) = cx.non_empty(node, &join(&field, "fallback")) {
                            fallback_pos.push((e.key.clone(), to, node.pos));
                        }
                    }
                    let kinds: Vec<&str> = CHANNEL_KINDS
                        .iter()
                        .copied()
                        .filter(|k| f.get(k).is_some())
                        .collect();
                    // Keep the name even when the channel is wrong, so rules
                    // naming it are not reported too.
                    let placeholder = Channel::Sns {
                        topic_arn: String::new(),
                    };
                    if kinds.len() > 1 {
                        let pos = f.key_pos(kinds[1]).unwrap_or(f.pos);
                        cx.err(
                            pos,
                            &field,
                            format!(
                                "a channel has exactly one kind (found {})",
                                list_keys(&kinds)
                            ),
                        );
                        notifications.insert(e.key.clone(), placeholder);
                        continue;
                    }
                    if let (Some(kind), Some(node)) = (kinds.first(), f.opt("template")) {
                        if let Some(t) =
                            channel_options::template(&mut cx, loader, node, &field, kind)
                        {
                            notify_templates.insert(e.key.clone(), t);
                        }
                    }
                    let channel = match kinds.first() {
                        Some(&"sns") => sns_channel(&mut cx, f.get("sns").unwrap(), &field),
                        Some(&"ses") => {
                            ses_channel(&mut cx, f.get("ses").unwrap(), &join(&field, "ses"))
                        }
                        Some(&"smtp") => smtp_channel(
                            &mut cx,
                            loader,
                            f.get("smtp").unwrap(),
                            &join(&field, "smtp"),
                        ),
                        Some(&"webhook") => webhook_channel(
                            &mut cx,
                            loader,
                            f.get("webhook").unwrap(),
                            &join(&field, "webhook"),
                        ),
                        Some(&kind) => chat_channel(
                            &mut cx,
                            loader,
                            f.get(kind).unwrap(),
                            &join(&field, kind),
                            kind,
                        ),
                        None => {
                            cx.err(
                                e.key_pos,
                                &field,
                                format!("a channel needs one of {}", list_keys(CHANNEL_KINDS)),
                            );
                            None
                        }
                    };
                    notifications.insert(e.key.clone(), channel.unwrap_or(placeholder));
                }
            }
            Val::Null => {}
            _ => cx.err(
                node.pos,
                "notifications",
                format!(
                    "expected a mapping of channel names, found {}",
                    node.val.kind()
                ),
            ),
        }
    }

    // Fallbacks name another defined channel; one hop only, so no loops.
    let mut notify_fallback = BTreeMap::new();
    for (name, to, pos) in fallback_pos {
        let field = format!("notifications.{name}.fallback");
        if to == name {
            cx.err(pos, &field, "a channel cannot be its own fallback");
        } else if !notifications.contains_key(&to) {
            cx.err(
                pos,
                &field,
                format!("unknown notification channel `{to}`; define it under `notifications`"),
            );
        } else {
            notify_fallback.insert(name, to);
        }
    }

    // default_notify: channels for rules that name none (e.g. pack rules)
    let mut default_notify = Vec::new();
    for (i, (name, pos)) in cx
        .string_list(top.opt("default_notify"), "default_notify")
        .into_iter()
        .enumerate()
    {
        if notifications.contains_key(&name) {
            default_notify.push(name);
        } else {
            cx.err(
                pos,
                &format!("default_notify[{i}]"),
                format!("unknown notification channel `{name}`; define it under `notifications`"),
            );
        }
    }

    // api
    let mut api = ApiSettings::default();
    if let Some(f) = top.get("api").and_then(|n| cx.fields(n, "api", API_KEYS)) {
        if let Some(n) = f.opt("listen") {
            if let Some(listen) = cx.non_empty(n, "api.listen") {
                if is_listen_addr(&listen) {
                    api.listen = listen;
                } else {
                    cx.err(
                        n.pos,
                        "api.listen",
                        format!("`{listen}` is not a listen address (expected `host:port`)"),
                    );
                }
            }
        }
        if let Some(n) = f.opt("max_body_bytes") {
            match &n.val {
                Val::Number(num, _) if num.as_u64().is_some_and(|v| v > 0) => {
                    api.max_body_bytes =
                        usize::try_from(num.as_u64().unwrap_or_default()).unwrap_or(usize::MAX);
                }
                _ => cx.err(
                    n.pos,
                    "api.max_body_bytes",
                    format!("expected a positive integer (bytes), {}", found(n)),
                ),
            }
        }
        if let Some(node) = f.get("tokens") {
            let mut names: Vec<(String, Pos)> = Vec::new();
            for (i, item) in cx.items(node, "api.tokens").iter().enumerate() {
                let field = format!("api.tokens[{i}]");
                if let Some(token) = read_token(loader, &mut cx, item, &field, &mut names) {
                    api.tokens.push(token);
                }
            }
        }
        if let Some(n) = f.opt("four_eyes") {
            if let Some(b) = cx.boolean(n, "api.four_eyes") {
                api.four_eyes = b;
            }
        }
        if let Some(n) = cx.opt_u64(&f, "api", "max_auth_failures", 1, 1_000_000) {
            api.max_auth_failures = n as u32;
        }
        for (key, slot, max) in [
            (
                "auth_failure_window_seconds",
                &mut api.auth_failure_window_seconds,
                86_400,
            ),
            (
                "header_read_timeout_seconds",
                &mut api.header_read_timeout_seconds,
                3_600,
            ),
            (
                "body_read_timeout_seconds",
                &mut api.body_read_timeout_seconds,
                3_600,
            ),
            (
                "request_timeout_seconds",
                &mut api.request_timeout_seconds,
                3_600,
            ),
            ("idle_timeout_seconds", &mut api.idle_timeout_seconds, 3_600),
        ] {
            if let Some(n) = cx.opt_u64(&f, "api", key, 1, max) {
                *slot = n;
            }
        }
        if let Some(n) = cx.opt_u64(&f, "api", "max_connections", 1, 65_536) {
            api.max_connections = n as usize;
        }
        if let Some(node) = f.opt("tls") {
            api.tls = read_tls(&mut cx, node, file.parent().unwrap_or(Path::new("")));
        }
    }

    // guardrails
    let mut guardrails = Guardrails::default();
    if let Some(f) = top
        .get("guardrails")
        .and_then(|n| cx.fields(n, "guardrails", GUARDRAIL_KEYS))
    {
        if let Some(tag) = cx.opt_string(&f, "guardrails", "exempt_tag") {
            if tag.chars().count() > 128 {
                let pos = f.get("exempt_tag").map_or(f.pos, |n| n.pos);
                cx.err(
                    pos,
                    "guardrails.exempt_tag",
                    "a tag key is at most 128 characters",
                );
            }
            guardrails.exempt_tag = tag;
        }
        if let Some(n) = cx.opt_u64(
            &f,
            "guardrails",
            "max_concurrent_per_account_region",
            1,
            1024,
        ) {
            guardrails.max_concurrent_per_account_region = Some(n as usize);
        }
        if let Some(n) = cx.opt_u64(&f, "guardrails", "min_interval_seconds", 0, 86_400) {
            guardrails.min_interval_seconds = n;
        }
        if let Some(limit) = cx.opt_limit(
            &f,
            "guardrails",
            "max_changes_per_account_per_hour",
            1,
            1_000_000,
        ) {
            guardrails.max_changes_per_account_per_hour = limit;
        }
        if let Some(limit) = cx.opt_limit(&f, "guardrails", "max_percent_of_type_per_hour", 1, 100)
        {
            guardrails.max_percent_of_type_per_hour = limit.map(|n| n as u8);
        }
        if let Some(limit) = cx.opt_limit(&f, "guardrails", "max_reversals_per_hour", 1, 1_000) {
            guardrails.max_reversals_per_hour = limit;
        }
    }

    // execution
    let mut execution = Execution::default();
    if let Some(f) = top
        .get("execution")
        .and_then(|n| cx.fields(n, "execution", EXECUTION_KEYS))
    {
        if let Some(n) = cx.opt_u64(&f, "execution", "max_attempts", 1, 100) {
            execution.max_attempts = n as u32;
        }
        if let Some(n) = cx.opt_u64(&f, "execution", "backoff_base_ms", 1, 3_600_000) {
            execution.backoff_base_ms = n;
        }
        if let Some(n) = cx.opt_u64(&f, "execution", "backoff_max_ms", 1, 86_400_000) {
            execution.backoff_max_ms = n;
        }
        if let Some(n) = cx.opt_u64(&f, "execution", "max_age_seconds", 1, 30 * 86_400) {
            execution.max_age_seconds = n;
        }
        if let Some(n) = cx.opt_u64(&f, "execution", "concurrency", 1, 256) {
            execution.concurrency = n as usize;
        }
        if let Some(n) = cx.opt_u64(&f, "execution", "lease_seconds", 5, 86_400) {
            execution.lease_seconds = n;
        }
        if execution.backoff_base_ms > execution.backoff_max_ms {
            let pos = f.get("backoff_base_ms").map_or(f.pos, |n| n.pos);
            cx.err(
                pos,
                "execution.backoff_base_ms",
                "must not be larger than execution.backoff_max_ms",
            );
        }
    }

    let anomaly = match top.get("detect") {
        Some(node) => anomaly::read_anomaly(&mut cx, node),
        None => Default::default(),
    };
    let kubernetes = match top.get("kubernetes") {
        Some(node) => kubernetes::read_kubernetes(&mut cx, loader, node),
        None => Default::default(),
    };
    let detect = top
        .get("detect")
        .and_then(|node| detect::read_detect(&mut cx, node));
    let scan = top
        .get("scan")
        .and_then(|node| scan::read_scan(&mut cx, node));

    let (tickets, ticket_rules) = match top.get("tickets") {
        Some(node) => tickets::read_tickets(&mut cx, loader, node),
        None => Default::default(),
    };

    // sources
    let mut sources = Sources::default();
    if let Some(f) = top
        .get("sources")
        .and_then(|n| cx.fields(n, "sources", SOURCES_KEYS))
    {
        if let Some(node) = f.get("sqs") {
            for (i, item) in cx.items(node, "sources.sqs").iter().enumerate() {
                let field = format!("sources.sqs[{i}]");
                if let Some(queue) = read_sqs_queue(&mut cx, item, &field, &aws.region) {
                    if sources.sqs.iter().any(|q| q.queue_url == queue.queue_url) {
                        cx.err(
                            item.pos,
                            &format!("{field}.queue_url"),
                            format!("`{}` is listed twice", queue.queue_url),
                        );
                    } else {
                        sources.sqs.push(queue);
                    }
                }
            }
        }
        if let Some(node) = f.get("securityhub") {
            sources.securityhub = read_poll(&mut cx, node, "sources.securityhub");
        }
    }

    // rules: packs, then includes, then inline
    let mut sites = Vec::new();
    let packs = cx.string_list(top.opt("packs"), "packs");
    let includes = cx.string_list(top.opt("include"), "include");
    let inline = top.get("rules");
    let overrides = top.get("overrides");
    let file = cx.file.clone();
    drop(cx);

    for (i, (name, pos)) in packs.iter().enumerate() {
        match loader.packs.iter().find(|(n, _)| n == name) {
            Some((_, text)) => {
                let mut pcx = Ctx {
                    file: PathBuf::from(format!("<pack:{name}>")),
                    out: &mut out,
                };
                read_rule_file(&mut pcx, text, &mut sites);
            }
            None => {
                let known = if loader.packs.is_empty() {
                    "no packs are built in".to_string()
                } else {
                    format!(
                        "known: {}",
                        list_keys(
                            &loader
                                .packs
                                .iter()
                                .map(|(n, _)| n.as_str())
                                .collect::<Vec<_>>()
                        )
                    )
                };
                Ctx {
                    file: file.clone(),
                    out: &mut out,
                }
                .err(
                    *pos,
                    &format!("packs[{i}]"),
                    format!("unknown rule pack `{name}` ({known})"),
                );
            }
        }
    }

    let base = file.parent().unwrap_or(Path::new(""));
    let mut included: Vec<PathBuf> = Vec::new();
    for (i, (pattern, pos)) in includes.iter().enumerate() {
        let field = format!("include[{i}]");
        let paths = if has_glob_chars(pattern) {
            let full = if Path::new(pattern).is_absolute() || base.as_os_str().is_empty() {
                pattern.clone()
            } else {
                format!(
                    "{}/{}",
                    glob::Pattern::escape(&base.to_string_lossy()),
                    pattern
                )
            };
            match glob::glob(&full) {
                Err(e) => {
                    Ctx {
                        file: file.clone(),
                        out: &mut out,
                    }
                    .err(*pos, &field, format!("bad glob `{pattern}`: {e}"));
                    continue;
                }
                Ok(matches) => {
                    let mut paths: Vec<PathBuf> = matches
                        .filter_map(Result::ok)
                        .filter(|p| p.is_file())
                        .collect();
                    paths.sort();
                    if paths.is_empty() {
                        Ctx {
                            file: file.clone(),
                            out: &mut out,
                        }
                        .err(
                            *pos,
                            &field,
                            format!("`{pattern}` matches no file"),
                        );
                    }
                    paths
                }
            }
        } else {
            vec![base.join(pattern)]
        };
        for path in paths {
            if included.contains(&path) {
                continue;
            }
            included.push(path.clone());
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let mut icx = Ctx {
                        file: path.clone(),
                        out: &mut out,
                    };
                    read_rule_file(&mut icx, &text, &mut sites);
                }
                Err(e) => Ctx {
                    file: file.clone(),
                    out: &mut out,
                }
                .err(*pos, &field, format!("cannot read {}: {e}", path.display())),
            }
        }
    }

    if let Some(node) = inline {
        let mut cx = Ctx {
            file: file.clone(),
            out: &mut out,
        };
        read_rules(&mut cx, node, "rules", &mut sites);
    }
    if let Some(node) = overrides {
        let mut cx = Ctx {
            file: file.clone(),
            out: &mut out,
        };
        apply_overrides(&mut cx, node, &mut sites);
    }
    let mut rules = finish_rules(
        loader,
        sites,
        Some(&notifications),
        Some(default_mode),
        &default_notify,
        &mut out,
    );
    let mut own_roles: Vec<String> = accounts.iter().filter_map(|a| a.role_arn.clone()).collect();
    own_roles.extend(from_organizations.as_ref().map(|o| o.role_arn.clone()));
    for loaded in &mut rules {
        if loaded.source.file.to_string_lossy().starts_with("<pack:") {
            exclude_own_calls(&mut loaded.rule.pattern, &own_roles);
        }
    }

    for (system, rule, pos) in ticket_rules {
        if !rules.iter().any(|r| r.rule.id == rule) {
            Ctx {
                file: file.clone(),
                out: &mut out,
            }
            .err(
                pos,
                &format!("tickets.systems.{system}.rules"),
                format!("unknown rule `{rule}`"),
            );
        }
    }

    if !out.is_empty() {
        return Err(sorted(out));
    }
    Ok(Config {
        path: Some(file),
        store,
        audit,
        default_mode,
        default_notify,
        aws,
        accounts,
        from_organizations,
        discovered: Default::default(),
        notifications,
        notify_coalesce,
        notify_fallback,
        notify_templates,
        notify_digest,
        notify_digest_max_items,
        notify_severities,
        api,
        guardrails,
        execution,
        sources,
        tickets,
        anomaly,
        kubernetes,
        detect,
        scan,
        rules,
    })
}

/// A hand-written list of accounts (`accounts`, or `accounts.list`).
fn read_account_list(cx: &mut Ctx<'_>, node: &Node, list_field: &str) -> Vec<Account> {
    let mut accounts: Vec<Account> = Vec::new();
    let mut account_pos: Vec<Pos> = Vec::new();
    for (i, item) in cx.items(node, list_field).iter().enumerate() {
        let field = format!("{list_field}[{i}]");
        let Some(f) = cx.fields(item, &field, ACCOUNT_KEYS) else {
            continue;
        };
        let id = match f.get("id") {
            None => {
                cx.missing(&f, &field, "id");
                None
            }
            Some(n) => account_id(cx, n, &join(&field, "id")).map(|id| (id, n.pos)),
        };
        let role_arn = f
            .opt("role_arn")
            .and_then(|n| cx.role_arn(n, &join(&field, "role_arn")));
        // The role must be one of the account it acts in: a role of
        // another account would make every change there.
        if let (Some(arn), Some((id, _)), Some(node)) = (&role_arn, &id, f.opt("role_arn")) {
            let role_account = arn.split(':').nth(4).unwrap_or_default();
            if role_account != id {
                cx.err(
                    node.pos,
                    &join(&field, "role_arn"),
                    format!(
                        "`{arn}` is a role of account {role_account}, not of this account ({id}); each account's role must be its own"
                    ),
                );
            }
        }
        let external_id = cx.opt_string(&f, &field, "external_id");
        if external_id.is_some() && f.opt("role_arn").is_none() {
            let pos = f.key_pos("external_id").unwrap_or(f.pos);
            cx.err(
                pos,
                &join(&field, "external_id"),
                "`external_id` is only used with `role_arn`, which is not set",
            );
        }
        if role_arn.is_some() && external_id.is_none() && f.opt("external_id").is_none() {
            cx.err(
                f.pos,
                &join(&field, "external_id"),
                format!(
                    "missing field `external_id`: the external id the role's trust policy requires (`sts:ExternalId`); write `external_id: {NO_EXTERNAL_ID}` to assume the role without one"
                ),
            );
        }
        // `none` says explicitly that the role is assumed without one.
        let external_id = external_id.filter(|e| e != NO_EXTERNAL_ID);
        let regions = cx.region_list(&f, &field);
        let account = Account {
            id: String::new(),
            name: cx.opt_string(&f, &field, "name"),
            role_arn,
            external_id,
            owner: cx.opt_string(&f, &field, "owner"),
            regions,
        };
        if let Some((id, pos)) = id {
            if let Some(k) = accounts.iter().position(|a| a.id == id) {
                let first = account_pos[k];
                cx.err(
                    pos,
                    &join(&field, "id"),
                    format!(
                        "duplicate account id `{id}` (first defined at line {}, column {})",
                        first.line, first.col
                    ),
                );
                continue;
            }
            accounts.push(Account { id, ..account });
            account_pos.push(pos);
        }
    }
    accounts
}

/// `accounts.from_organizations`: which accounts of the organization,
/// the role to assume in each (`{account}` stands for its id), its
/// external id, where the owner comes from, how often to read again.
fn read_from_organizations(cx: &mut Ctx<'_>, node: &Node) -> Option<FromOrganizations> {
    let field = "accounts.from_organizations";
    let f = cx.fields(node, field, FROM_ORGANIZATIONS_KEYS)?;
    let role_arn = cx.req_string(&f, field, "role_arn");
    let role_pos = f.get("role_arn").map_or(f.pos, |n| n.pos);
    let role_arn = role_arn.filter(|pattern| {
        let sample = pattern.replace(ACCOUNT_PLACEHOLDER, "111122223333");
        let ok = pattern.matches(ACCOUNT_PLACEHOLDER).count() == 1
            && is_role_arn(&sample)
            && sample.split(':').nth(4) == Some("111122223333");
        if !ok {
            cx.err(
                role_pos,
                &join(field, "role_arn"),
                format!(
                    "`{pattern}` is not a role ARN pattern: write the account as `{ACCOUNT_PLACEHOLDER}`, once, e.g. arn:aws:iam::{ACCOUNT_PLACEHOLDER}:role/rectify-remediation"
                ),
            );
        }
        ok
    });
    let external_id = cx.opt_string(&f, field, "external_id");
    if external_id.is_none() && f.opt("external_id").is_none() {
        cx.err(
            f.pos,
            &join(field, "external_id"),
            format!(
                "missing field `external_id`: the external id the roles' trust policy requires (`sts:ExternalId`); write `external_id: {NO_EXTERNAL_ID}` to assume them without one"
            ),
        );
    }
    let ous = |cx: &mut Ctx<'_>, key: &str| -> (Vec<String>, Vec<String>) {
        let sub = join(field, key);
        let Some(node) = f.opt(key) else {
            return (Vec::new(), Vec::new());
        };
        let Some(g) = cx.fields(node, &sub, &["include", "exclude"]) else {
            return (Vec::new(), Vec::new());
        };
        let pick = |cx: &mut Ctx<'_>, which: &str| -> Vec<String> {
            let list_field = join(&sub, which);
            let mut out = Vec::new();
            for (j, (value, pos)) in cx
                .string_list(g.opt(which), &list_field)
                .into_iter()
                .enumerate()
            {
                let ok = if key == "accounts" {
                    is_account_id(&value)
                } else {
                    is_ou_or_root_id(&value)
                };
                if ok {
                    out.push(value);
                } else if key == "accounts" {
                    cx.err(
                        pos,
                        &format!("{list_field}[{j}]"),
                        format!("`{value}` is not an AWS account id (12 digits, in quotes)"),
                    );
                } else {
                    cx.err(
                        pos,
                        &format!("{list_field}[{j}]"),
                        format!("`{value}` is not an OU id (ou-xxxx-xxxxxxxx) or root id (r-xxxx)"),
                    );
                }
            }
            out
        };
        (pick(cx, "include"), pick(cx, "exclude"))
    };
    let (include_ous, exclude_ous) = ous(cx, "organizational_units");
    let (include_accounts, exclude_accounts) = ous(cx, "accounts");
    let owner_tag = match f.get("owner_tag") {
        None => Some(DEFAULT_OWNER_TAG.to_string()),
        Some(n) if n.val == Val::Null => None,
        Some(n) => cx.non_empty(n, &join(field, "owner_tag")),
    };
    let owner_from_security_contact = f
        .opt("owner_from_security_contact")
        .and_then(|n| cx.boolean(n, &join(field, "owner_from_security_contact")))
        .unwrap_or(true);
    let regions = cx.region_list(&f, field);
    let refresh_seconds = cx
        .opt_u64(&f, field, "refresh_seconds", 60, 86_400)
        .unwrap_or(DEFAULT_ORGANIZATIONS_REFRESH_SECONDS);
    Some(FromOrganizations {
        role_arn: role_arn?,
        external_id: external_id.filter(|e| e != NO_EXTERNAL_ID),
        include_ous,
        exclude_ous,
        include_accounts,
        exclude_accounts,
        owner_tag,
        owner_from_security_contact,
        regions,
        refresh_seconds,
    })
}

/// `ou-ab12-1a2b3c4d` or `r-ab12`.
fn is_ou_or_root_id(s: &str) -> bool {
    let word = |w: &str, min: usize| {
        w.len() >= min
            && w.len() <= 32
            && w.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if let Some(rest) = s.strip_prefix("ou-") {
        return rest
            .split_once('-')
            .is_some_and(|(root, ou)| word(root, 4) && word(ou, 8));
    }
    s.strip_prefix("r-").is_some_and(|root| word(root, 4))
}

/// `overrides: {RULE_ID: {mode, params, enabled}}`: changes a loaded rule
/// (a pack's, most often) without copying it. `params` are merged into the
/// rule's own, key by key; the result is checked like any rule's.
fn apply_overrides(cx: &mut Ctx<'_>, node: &Node, sites: &mut [RuleSite]) {
    let entries = match &node.val {
        Val::Map(entries) => entries,
        Val::Null => return,
        _ => {
            cx.err(
                node.pos,
                "overrides",
                format!("expected a mapping from rule ids, {}", found(node)),
            );
            return;
        }
    };
    for entry in entries {
        let field = format!("overrides.{}", entry.key);
        let Some(site) = sites
            .iter_mut()
            .find(|s| s.id.as_ref().is_some_and(|(id, _)| id == &entry.key))
        else {
            cx.err(
                entry.key_pos,
                &field,
                format!("no rule `{}` to override (overrides name rules by id, from packs, includes or `rules`)", entry.key),
            );
            continue;
        };
        let Some(f) = cx.fields(&entry.value, &field, OVERRIDE_KEYS) else {
            continue;
        };
        let mode = f
            .opt("mode")
            .and_then(|n| cx.mode(n, &join(&field, "mode")));
        let enabled = f
            .opt("enabled")
            .and_then(|n| cx.boolean(n, &join(&field, "enabled")));
        let params = match f
            .opt("params")
            .map(|n| (n, n.to_json(&join(&field, "params"))))
        {
            Some((_, Ok(Value::Object(map)))) => Some(map),
            Some((n, Ok(_))) => {
                cx.err(
                    n.pos,
                    &join(&field, "params"),
                    format!("expected a mapping, {}", found(n)),
                );
                None
            }
            Some((_, Err(e))) => {
                cx.err(e.pos, &e.field, e.message);
                None
            }
            None => None,
        };
        let Some(rule) = site.rule.as_mut() else {
            continue;
        };
        if let Some(mode) = mode {
            rule.mode = Some(mode);
        }
        if let Some(enabled) = enabled {
            rule.enabled = enabled;
        }
        if let Some(params) = params {
            if !rule.params.is_object() {
                rule.params = Value::Object(Default::default());
            }
            if let Some(own) = rule.params.as_object_mut() {
                own.extend(params);
            }
        }
    }
}

/// The detail-type of CloudTrail API calls delivered by EventBridge.
const CLOUDTRAIL_API_CALL: &str = "AWS API Call via CloudTrail";

/// Leaves rectify's own calls out of a pattern on CloudTrail API calls:
/// calls made through one of `own_roles` (the configured accounts' roles,
/// or the role pattern of `accounts.from_organizations`,
/// as `detail.userIdentity.sessionContext.sessionIssuer.arn` names them)
/// no longer match; calls with no issuer (IAM users, root) still do. The
/// session name is not used: anyone allowed to assume some role can pick
/// it. Patterns on other events, and every pattern when no account has a
/// role, are left as they are.
pub fn exclude_own_calls(pattern: &mut Value, own_roles: &[String]) {
    if own_roles.is_empty() {
        return;
    }
    let on_api_calls = pattern
        .get("detail-type")
        .and_then(Value::as_array)
        .is_some_and(|types| types.iter().any(|t| t == CLOUDTRAIL_API_CALL));
    if !on_api_calls {
        return;
    }
    let mut roles: Vec<&String> = own_roles.iter().collect();
    roles.sort();
    roles.dedup();
    let Some(top) = pattern.as_object_mut() else {
        return;
    };
    let detail = top
        .entry("detail")
        .or_insert_with(|| Value::Object(Default::default()));
    let Some(detail) = detail.as_object_mut() else {
        return;
    };
    let identity = detail
        .entry("userIdentity")
        .or_insert_with(|| Value::Object(Default::default()));
    // A role pattern of `accounts.from_organizations` (`{account}` for the
    // id) matches the role of any account: a wildcard.
    let anything_but = if roles.iter().any(|r| r.contains(ACCOUNT_PLACEHOLDER)) {
        let patterns: Vec<String> = roles
            .iter()
            .map(|r| r.replace(ACCOUNT_PLACEHOLDER, "*"))
            .collect();
        serde_json::json!({"wildcard": patterns})
    } else {
        serde_json::json!(roles)
    };
    if let Some(identity) = identity.as_object_mut() {
        identity.insert(
            "sessionContext".into(),
            serde_json::json!({"sessionIssuer": {"arn": [
                {"exists": false},
                {"anything-but": anything_but},
            ]}}),
        );
    }
}

/// One `sources.sqs` entry. The queue URL must name its account and queue
/// (`https://sqs.eu-west-1.amazonaws.com/111122223333/findings`); any host
/// is accepted, for VPC endpoints and emulators.
fn read_sqs_queue(cx: &mut Ctx<'_>, node: &Node, field: &str, home: &str) -> Option<SqsQueue> {
    let f = cx.fields(node, field, SQS_KEYS)?;
    let url = cx.req_string(&f, field, "queue_url");
    let url_field = format!("{field}.queue_url");
    let url_pos = f.get("queue_url").map_or(f.pos, |n| n.pos);
    let host_region = url.as_deref().and_then(|u| match parse_queue_url(u) {
        Ok(region) => Some(region),
        Err(why) => {
            cx.err(
                url_pos,
                &url_field,
                format!("`{u}` is not an SQS queue URL: {why}"),
            );
            None
        }
    });
    let region = match f.opt("region") {
        Some(n) => cx.region(n, &format!("{field}.region")),
        None => None,
    };
    let wait = cx.opt_u64(&f, field, "wait_seconds", 0, 20);
    let max = cx.opt_u64(&f, field, "max_messages", 1, 10);
    let url = url?;
    host_region.as_ref()?;
    Some(SqsQueue {
        region: region
            .or(host_region.flatten())
            .unwrap_or_else(|| home.to_string()),
        queue_url: url,
        wait_seconds: wait.map_or(DEFAULT_SQS_WAIT_SECONDS, |n| n as u32),
        max_messages: max.map_or(DEFAULT_SQS_MAX_MESSAGES, |n| n as u32),
    })
}

/// `sources.securityhub`; `{}` (or no value) takes every default.
fn read_poll(cx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<SecurityHubPoll> {
    let f = cx.fields(node, field, POLL_KEYS)?;
    let mut poll = SecurityHubPoll::default();
    if let Some(n) = cx.opt_u64(&f, field, "interval_seconds", 10, 86_400) {
        poll.interval_seconds = n;
    }
    if let Some(n) = cx.opt_u64(&f, field, "overlap_seconds", 0, 86_400) {
        poll.overlap_seconds = n;
    }
    if let Some(n) = cx.opt_u64(&f, field, "start_hours_ago", 0, 24 * 90) {
        poll.start_hours_ago = n;
    }
    const ALLOWED: [(&str, &[&str]); 4] = [
        (
            "workflow_status",
            &["NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"],
        ),
        ("record_state", &["ACTIVE", "ARCHIVED"]),
        (
            "compliance_status",
            &["PASSED", "WARNING", "FAILED", "NOT_AVAILABLE"],
        ),
        (
            "severity_label",
            &["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"],
        ),
    ];
    for key in [
        "workflow_status",
        "record_state",
        "compliance_status",
        "severity_label",
        "product_name",
    ] {
        let Some(n) = f.opt(key) else { continue };
        let allowed = ALLOWED.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let mut values = Vec::new();
        for (i, (value, pos)) in cx
            .string_list(Some(n), &join(field, key))
            .into_iter()
            .enumerate()
        {
            match allowed {
                Some(list) if !list.contains(&value.as_str()) => cx.err(
                    pos,
                    &format!("{}[{i}]", join(field, key)),
                    format!("`{value}` is not one of {}", list_keys(list)),
                ),
                _ => values.push(value),
            }
        }
        match key {
            "workflow_status" => poll.workflow_status = values,
            "record_state" => poll.record_state = values,
            "compliance_status" => poll.compliance_status = values,
            "severity_label" => poll.severity_label = values,
            _ => poll.product_name = values,
        }
    }
    Some(poll)
}

/// Checks `http(s)://host/<12-digit account>/<queue name>`; the region
/// when the host is `sqs.<region>.amazonaws.com` (or `.amazonaws.com.cn`).
fn parse_queue_url(url: &str) -> Result<Option<String>, &'static str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("it must start with https://")?;
    const SHAPE: &str = "expected https://HOST/<12-digit account id>/<queue name>";
    let (host, path) = rest.split_once('/').ok_or(SHAPE)?;
    let (account, name) = path.split_once('/').ok_or(SHAPE)?;
    if host.is_empty() || !is_account_id(account) {
        return Err(SHAPE);
    }
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    if base.is_empty()
        || name.len() > 80
        || !base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("a queue name is 1 to 80 letters, digits, `-` and `_` (and `.fifo`)");
    }
    let region = host
        .strip_prefix("sqs.")
        .and_then(|h| {
            h.strip_suffix(".amazonaws.com")
                .or_else(|| h.strip_suffix(".amazonaws.com.cn"))
        })
        .filter(|r| is_region(r))
        .map(str::to_string);
    Ok(region)
}

fn account_id(cx: &mut Ctx, node: &Node, field: &str) -> Option<String> {
    let id = match &node.val {
        Val::Str(s) => s.clone(),
        // An unquoted id is read as a number; its text keeps any leading
        // zeros, and a shorter one lost them elsewhere.
        Val::Number(n, raw)
            if !n.is_f64() && raw.bytes().all(|b| b.is_ascii_digit()) && raw.len() <= 12 =>
        {
            format!("{raw:0>12}")
        }
        Val::Number(_, raw) => raw.clone(),
        _ => {
            cx.err(
                node.pos,
                field,
                format!("expected a 12-digit account id, found {}", node.val.kind()),
            );
            return None;
        }
    };
    if !is_account_id(&id) {
        cx.err(
            node.pos,
            field,
            format!("`{id}` is not an AWS account id (12 digits)"),
        );
        return None;
    }
    Some(id)
}

/// `api.tls`: both files required; relative paths are from the config
/// file's folder. The files are read when `serve` starts, not here.
fn read_tls(cx: &mut Ctx, node: &Node, base: &Path) -> Option<TlsFiles> {
    let f = cx.fields(node, "api.tls", TLS_KEYS)?;
    let cert = cx.req_string(&f, "api.tls", "cert_file");
    let key = cx.req_string(&f, "api.tls", "key_file");
    Some(TlsFiles {
        cert_file: base.join(cert?),
        key_file: base.join(key?),
    })
}

/// `api.tokens[].scopes`: a non-empty list of known scopes.
fn read_scopes(cx: &mut Ctx, node: &Node, field: &str) -> Option<Vec<Scope>> {
    let items = cx.items(node, field);
    if items.is_empty() {
        cx.err(
            node.pos,
            field,
            "a token needs at least one scope (ingest, read, approve, admin, tickets)",
        );
        return None;
    }
    let mut scopes = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let item_field = format!("{field}[{i}]");
        let Some(s) = cx.string(item, &item_field) else {
            ok = false;
            continue;
        };
        match Scope::parse(&s) {
            Some(scope) => scopes.push(scope),
            None => {
                ok = false;
                cx.err(
                    item.pos,
                    &item_field,
                    format!(
                        "unknown scope `{s}`, expected one of `ingest`, `read`, `approve`, `admin`"
                    ),
                );
            }
        }
    }
    ok.then_some(scopes)
}

/// One `api.tokens` entry. Never puts the token's value in a message.
fn read_token(
    loader: &Loader,
    cx: &mut Ctx,
    node: &Node,
    field: &str,
    names: &mut Vec<(String, Pos)>,
) -> Option<ApiToken> {
    let f = cx.fields(node, field, TOKEN_KEYS)?;
    let name = cx.req_string(&f, field, "name");
    if let (Some(name), Some(n)) = (&name, f.get("name")) {
        if let Some((_, first)) = names.iter().find(|(other, _)| other == name) {
            cx.err(
                n.pos,
                &join(field, "name"),
                format!(
                    "duplicate token name `{name}` (first defined at line {}, column {})",
                    first.line, first.col
                ),
            );
        } else {
            names.push((name.clone(), n.pos));
        }
    }
    let given: Vec<&str> = ["token", "token_env", "token_file", "sha256"]
        .into_iter()
        .filter(|k| f.get(k).is_some())
        .collect();
    match given.len() {
        0 => {
            cx.err(
                f.pos,
                field,
                "one of `token`, `token_env`, `token_file`, `sha256` is required",
            );
            return None;
        }
        1 => {}
        _ => {
            let pos = f.key_pos(given[1]).unwrap_or(f.pos);
            cx.err(
                pos,
                field,
                format!(
                    "give only one of `token`, `token_env`, `token_file`, `sha256` (found {})",
                    list_keys(&given)
                ),
            );
            return None;
        }
    }
    let key = given[0];
    let vnode = f.get(key)?;
    let vfield = join(field, key);
    let Val::Str(value) = &vnode.val else {
        // `found` would not show the value, but keep token errors terse.
        cx.err(
            vnode.pos,
            &vfield,
            format!("expected a string, found {}", vnode.val.kind()),
        );
        return None;
    };
    let token = match key {
        "token" => {
            if value.chars().count() < MIN_TOKEN_LEN {
                cx.err(
                    vnode.pos,
                    &vfield,
                    format!("weak token: a token must be at least {MIN_TOKEN_LEN} characters"),
                );
                return None;
            }
            ApiToken::from_secret(name.clone().unwrap_or_default(), value)
        }
        "token_file" => match read_secret_file(value, &cx.file.clone()) {
            Ok(secret) if secret.chars().count() < MIN_TOKEN_LEN => {
                cx.err(
                    vnode.pos,
                    &vfield,
                    format!("weak token: a token must be at least {MIN_TOKEN_LEN} characters"),
                );
                return None;
            }
            Ok(secret) => ApiToken::from_secret(name.clone().unwrap_or_default(), &secret),
            Err(e) => {
                cx.err(vnode.pos, &vfield, e);
                return None;
            }
        },
        "token_env" => match loader.var(value) {
            Some(secret) if !secret.is_empty() => {
                ApiToken::from_secret(name.clone().unwrap_or_default(), &secret)
            }
            Some(_) => {
                cx.err(
                    vnode.pos,
                    &vfield,
                    format!("environment variable `{value}` is empty"),
                );
                return None;
            }
            None => {
                cx.err(
                    vnode.pos,
                    &vfield,
                    format!("environment variable `{value}` is not set"),
                );
                return None;
            }
        },
        _ => {
            let mut digest = [0u8; 32];
            if value.len() != 64 || hex::decode_to_slice(value, &mut digest).is_err() {
                cx.err(
                    vnode.pos,
                    &vfield,
                    "expected the hex SHA-256 digest of the token (64 hex digits)",
                );
                return None;
            }
            ApiToken::from_digest(name.clone().unwrap_or_default(), digest)
        }
    };
    let token = match f.opt("scopes") {
        Some(node) => token.with_scopes(read_scopes(cx, node, &join(field, "scopes"))?),
        None => token,
    };
    name.map(|_| token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_and_regions() {
        assert!(is_role_arn("arn:aws:iam::111122223333:role/rectify"));
        assert!(is_role_arn(
            "arn:aws-us-gov:iam::111122223333:role/path/to/r+x"
        ));
        assert!(!is_role_arn("arn:aws:iam::11112222333:role/rectify"));
        assert!(!is_role_arn("arn:aws:iam::111122223333:user/rectify"));
        assert!(!is_role_arn("arn:aws:iam:us-east-1:111122223333:role/x"));
        assert!(!is_role_arn("arn:aws:iam::111122223333:role/"));
        assert!(is_sns_arn(
            "arn:aws:sns:us-east-1:111122223333:security-findings"
        ));
        assert!(is_sns_arn("arn:aws:sns:eu-west-1:111122223333:t.fifo"));
        assert!(!is_sns_arn("arn:aws:sns:us-east-1:111122223333:"));
        assert!(!is_sns_arn("arn:aws:sqs:us-east-1:111122223333:q"));
        assert!(is_region("us-gov-west-1"));
        assert!(is_region("eu-central-2"));
        assert!(!is_region("useast1"));
        assert!(!is_region("us-east-"));
        assert!(is_listen_addr("[::1]:8080"));
        assert!(is_listen_addr("localhost:80"));
        assert!(!is_listen_addr("8080"));
        assert!(is_store_url("postgres://u@h:5432/db"));
        assert!(!is_store_url("mysql://x"));
    }
}
