//! Secrets from outside the config file (environment variables and files),
//! the store URL's sources, and the `audit` section.

use std::path::{Path, PathBuf};

use super::{list_keys, Ctx, Fields};
use crate::yaml::{join, Node};
use crate::{AnchorSettings, AuditKeySetting, AuditSettings, Loader, Secret};

pub(super) const AUDIT_KEYS: &[&str] = &["key", "key_env", "key_file", "kms_key_id", "anchor"];
const ANCHOR_KEYS: &[&str] = &["s3_bucket", "prefix", "interval_seconds", "retain_days"];
/// `audit.key: none`: an unkeyed audit log, chosen on purpose.
pub const NO_AUDIT_KEY: &str = "none";

/// Reads a secret file: relative paths are taken from the config file's
/// folder; one trailing line break is dropped (as `echo` and editors leave
/// it). The message never shows the content.
pub(crate) fn read_secret_file(path: &str, config_file: &Path) -> Result<String, String> {
    let full = resolve(path, config_file);
    let mut text = std::fs::read_to_string(&full)
        .map_err(|e| format!("cannot read secret file {}: {e}", full.display()))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        return Err(format!("secret file {} is empty", full.display()));
    }
    Ok(text)
}

pub(super) fn resolve(path: &str, config_file: &Path) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    match config_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => dir.join(p),
        None => p.to_path_buf(),
    }
}

/// The value of a secret given as exactly one of `KEY` (inline, when
/// `inline` names it), `KEY_env` or `KEY_file` in `f`; `None` when none of
/// them is there (reported only as a conflict), or when it cannot be read
/// (reported).
pub(super) fn secret_value(
    cx: &mut Ctx,
    loader: &Loader,
    f: &Fields,
    field: &str,
    keys: &[&str],
) -> Option<(String, String)> {
    let given: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| f.get(k).is_some())
        .collect();
    if given.len() > 1 {
        let pos = f.key_pos(given[1]).unwrap_or(f.pos);
        // At the top level the problem is the second key itself.
        let at = if field.is_empty() { given[1] } else { field };
        cx.err(
            pos,
            at,
            format!(
                "give only one of {} (found {})",
                list_keys(keys),
                list_keys(&given)
            ),
        );
        return None;
    }
    let key = *given.first()?;
    let node = f.get(key)?;
    let vfield = join(field, key);
    let value = cx.non_empty(node, &vfield)?;
    read_named(cx, loader, node, &vfield, key, &value).map(|v| (key.to_string(), v))
}

/// Resolves `value` of field `key`: an environment variable's name for
/// `*_env`, a file's path for `*_file`, the secret itself otherwise.
pub(super) fn read_named(
    cx: &mut Ctx,
    loader: &Loader,
    node: &Node,
    vfield: &str,
    key: &str,
    value: &str,
) -> Option<String> {
    if key.ends_with("_env") {
        return match loader.var(value) {
            Some(v) if !v.is_empty() => Some(v),
            Some(_) => {
                cx.err(
                    node.pos,
                    vfield,
                    format!("environment variable `{value}` is empty"),
                );
                None
            }
            None => {
                cx.err(
                    node.pos,
                    vfield,
                    format!("environment variable `{value}` is not set"),
                );
                None
            }
        };
    }
    if key.ends_with("_file") {
        let file = cx.file.clone();
        return match read_secret_file(value, &file) {
            Ok(v) => Some(v),
            Err(e) => {
                cx.err(node.pos, vfield, e);
                None
            }
        };
    }
    Some(value.to_string())
}

/// The `audit` section.
pub(super) fn audit(cx: &mut Ctx, loader: &Loader, node: Option<&Node>) -> AuditSettings {
    let mut settings = AuditSettings::default();
    let Some(node) = node else { return settings };
    let Some(f) = cx.fields(node, "audit", AUDIT_KEYS) else {
        return settings;
    };
    let sources = ["key", "key_env", "key_file", "kms_key_id"];
    let given: Vec<&str> = sources.into_iter().filter(|k| f.get(k).is_some()).collect();
    if given.len() > 1 {
        let pos = f.key_pos(given[1]).unwrap_or(f.pos);
        cx.err(
            pos,
            "audit",
            format!(
                "give only one of {} (found {})",
                list_keys(&sources),
                list_keys(&given)
            ),
        );
    } else if let Some(&key) = given.first() {
        let vnode = f.get(key).expect("present");
        let vfield = join("audit", key);
        if let Some(value) = cx.non_empty(vnode, &vfield) {
            settings.key = match key {
                "key" if value == NO_AUDIT_KEY => AuditKeySetting::Disabled,
                "key" => {
                    cx.err(
                        vnode.pos,
                        &vfield,
                        format!(
                            "only `key: {NO_AUDIT_KEY}` may be written here; give the key \
                             itself with `key_env` or `key_file`, or use `kms_key_id`"
                        ),
                    );
                    AuditKeySetting::Unset
                }
                "kms_key_id" => AuditKeySetting::Kms { key_id: value },
                _ => match read_named(cx, loader, vnode, &vfield, key, &value) {
                    Some(secret) if secret.len() < MIN_AUDIT_KEY_BYTES => {
                        cx.err(
                            vnode.pos,
                            &vfield,
                            format!(
                                "the audit key has {} bytes; it needs at least \
                                 {MIN_AUDIT_KEY_BYTES} (e.g. `openssl rand -hex 32`)",
                                secret.len()
                            ),
                        );
                        AuditKeySetting::Unset
                    }
                    Some(secret) => AuditKeySetting::Secret {
                        from: format!("{key} {value}"),
                        key: Secret(secret.into_bytes()),
                    },
                    None => AuditKeySetting::Unset,
                },
            };
        }
    }
    if let Some(a) = f
        .get("anchor")
        .and_then(|n| cx.fields(n, "audit.anchor", ANCHOR_KEYS))
    {
        let bucket = cx.req_string(&a, "audit.anchor", "s3_bucket");
        let prefix = cx
            .opt_string(&a, "audit.anchor", "prefix")
            .unwrap_or_else(|| DEFAULT_ANCHOR_PREFIX.to_string());
        let interval = cx
            .opt_u64(&a, "audit.anchor", "interval_seconds", 60, 86_400 * 7)
            .unwrap_or(DEFAULT_ANCHOR_INTERVAL_SECONDS);
        let retain_days = cx
            .opt_u64(&a, "audit.anchor", "retain_days", 1, 36_500)
            .unwrap_or(DEFAULT_ANCHOR_RETAIN_DAYS);
        if matches!(
            settings.key,
            AuditKeySetting::Disabled | AuditKeySetting::Unset
        ) {
            cx.err(
                a.pos,
                "audit.anchor",
                "anchors are signed with the audit key: set `audit.key_env`, \
                 `audit.key_file` or `audit.kms_key_id`",
            );
        }
        if let Some(s3_bucket) = bucket {
            settings.anchor = Some(AnchorSettings {
                s3_bucket,
                prefix: prefix.trim_matches('/').to_string(),
                interval_seconds: interval,
                retain_days: retain_days as u32,
            });
        }
    }
    settings
}

pub(crate) const MIN_AUDIT_KEY_BYTES: usize = 32;
const DEFAULT_ANCHOR_PREFIX: &str = "rectify/audit-anchors";
const DEFAULT_ANCHOR_INTERVAL_SECONDS: u64 = 300;
const DEFAULT_ANCHOR_RETAIN_DAYS: u64 = 400;

/// `store`, `store_env` or `store_file` (one at most; none: the default).
pub(super) fn store_url(cx: &mut Ctx, loader: &Loader, top: &Fields) -> Option<(String, Node)> {
    let keys = ["store", "store_env", "store_file"];
    let (key, value) = secret_value(cx, loader, top, "", &keys)?;
    let node = top.get(&key)?.clone();
    Some((value.trim().to_string(), node))
}

/// The URL without its password, for messages (the store crate has the
/// same rule; the config does not link it).
pub(crate) fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(s), Some(at)) if at > s => match base[s + 3..at].find(':') {
            Some(colon) => format!("{}:***{}", &base[..s + 3 + colon], &base[at..]),
            None => base.to_string(),
        },
        _ => base.to_string(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => p.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            redact_url("mysql://h/db?password=pw&x=1"),
            "mysql://h/db?password=***&x=1"
        );
        assert_eq!(redact_url("sqlite://a.db"), "sqlite://a.db");
    }
}
