//! Coalescing: a storm of findings is not a storm of messages. On a channel
//! with a window, the first message for a rule and outcome goes out at
//! once; the ones that follow within the window are held and counted, and
//! one summary (how many, which resources) is sent when the window ends.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rectify_model::Notification;
use serde_json::{json, Value};

/// Resources named in a summary at most; the count covers them all.
pub const SUMMARY_RESOURCES_MAX: usize = 20;

type Key = (String, String, String);

#[derive(Default)]
struct Window {
    held: usize,
    resources: Vec<String>,
    accounts: Vec<String>,
}

#[derive(Default)]
pub struct Coalescer {
    windows: BTreeMap<String, Duration>,
    open: Arc<Mutex<HashMap<Key, Window>>>,
}

fn field(message: &Value, key: &str) -> String {
    match message.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

impl Coalescer {
    /// `windows`: channel name to its window; other channels send all.
    pub fn new(windows: BTreeMap<String, Duration>) -> Self {
        Coalescer {
            windows,
            open: Arc::default(),
        }
    }

    /// Whether `notification` is held (counted into the open window's
    /// summary) rather than sent now. The first message of a window opens
    /// it and is sent; `flush` sends the summary when it closes.
    pub fn hold<F, Fut>(&self, channel: &str, notification: &Notification, flush: F) -> bool
    where
        F: FnOnce(String, Notification) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(window) = self.windows.get(channel).copied() else {
            return false;
        };
        let m = &notification.message;
        // A refusal is not coalesced with outcomes: its kind comes first.
        let what = match field(m, "kind") {
            k if !k.is_empty() => k,
            _ => field(m, "outcome"),
        };
        let key = (channel.to_string(), field(m, "rule"), what);
        let mut open = self.open.lock().unwrap();
        match open.get_mut(&key) {
            Some(w) => {
                w.held += 1;
                let resource = field(m, "resource");
                if w.resources.len() < SUMMARY_RESOURCES_MAX && !w.resources.contains(&resource) {
                    w.resources.push(resource);
                }
                let account = field(m, "account");
                if !w.accounts.contains(&account) {
                    w.accounts.push(account);
                }
                true
            }
            None => {
                open.insert(key.clone(), Window::default());
                let open = self.open.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(window).await;
                    let closed = open.lock().unwrap().remove(&key);
                    if let Some(w) = closed.filter(|w| w.held > 0) {
                        let (channel, rule, what) = key;
                        flush(channel, summary(&rule, &what, &w, window)).await;
                    }
                });
                false
            }
        }
    }
}

fn summary(rule: &str, what: &str, w: &Window, window: Duration) -> Notification {
    Notification {
        subject: format!(
            "rectify: {} more {what} by rule {rule} in the last {} s",
            w.held,
            window.as_secs()
        ),
        message: json!({
            "kind": "coalesced",
            "rule": rule,
            "outcome": what,
            "count": w.held,
            "accounts": w.accounts,
            "resources": w.resources,
            "resources_omitted": w.held.saturating_sub(w.resources.len()),
            "window_seconds": window.as_secs(),
            "reason": format!(
                "{} more notifications like the one before were held to avoid a flood; the jobs and the audit log have each one",
                w.held
            ),
        }),
    }
}
