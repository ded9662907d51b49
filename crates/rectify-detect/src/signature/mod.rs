//! Signature detections over CloudTrail records: an EventBridge event
//! pattern (the matcher the rules use) over the record in its EventBridge
//! shape, checks a pattern cannot express, and optionally a threshold (N
//! matches within M seconds per principal, source IP, account, resource or
//! field) or a pairing (two records about the same thing within M
//! seconds). All patterns are compiled into one matcher, so the cost per
//! record grows with the record, not with the number of detections.

pub mod checks;
pub mod spec;

use std::collections::{HashMap, HashSet, VecDeque};

use event_pattern::{Matcher, MatcherBuilder, Pattern};
use serde_json::{json, Value};

pub use spec::{Checks, Pairing, ResourceSpec, Spec, SpecError, Threshold};

use crate::{DetectedResource, Detection, Detector, Record};

/// Keys (group, pairing key) tracked at most, per detector, by default.
pub const DEFAULT_MAX_KEYS: usize = 100_000;
/// Buckets learned from `CreateTrail`/`UpdateTrail` records, at most.
const MAX_TRAIL_BUCKETS: usize = 10_000;
/// Record ids kept as evidence for one detection, at most.
const MAX_EVIDENCE_IDS: usize = 50;
/// Longest key or value kept in state, in bytes.
const MAX_KEY_BYTES: usize = 512;

/// What the checks read besides the record.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The organization's accounts; empty: only the record's own account
    /// counts as inside.
    pub organization_accounts: Vec<String>,
    /// Buckets that hold logs, from the config.
    pub logging_buckets: Vec<String>,
    /// Buckets seen as trails' destinations.
    pub trail_buckets: HashSet<String>,
}

/// How a signature detector is set up.
#[derive(Debug, Clone)]
pub struct Settings {
    pub organization_accounts: Vec<String>,
    pub logging_buckets: Vec<String>,
    /// Keys tracked at most for thresholds and pairings together; the
    /// oldest is forgotten first.
    pub max_keys: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            organization_accounts: Vec::new(),
            logging_buckets: Vec::new(),
            max_keys: DEFAULT_MAX_KEYS,
        }
    }
}

/// The detector that runs a set of signature specs.
pub struct SignatureDetector {
    specs: Vec<Spec>,
    matcher: Matcher,
    cx: Context,
    windows: Bounded<Window>,
    pairs: Bounded<PairState>,
    scratch: Vec<usize>,
    /// The record's EventBridge shape as JSON text, reused between
    /// records: writing it is far cheaper than copying the record.
    text: Vec<u8>,
    /// Latest record time seen: the time of a record without one.
    clock: i64,
    /// Records whose match went over the matcher's step budget.
    pub skipped: u64,
}

impl SignatureDetector {
    /// Compiles the specs; each must have passed [`Spec::problems`].
    pub fn new(specs: Vec<Spec>, settings: &Settings) -> Result<SignatureDetector, SpecError> {
        let n = specs.len();
        let mut builder = MatcherBuilder::new();
        for (i, spec) in specs.iter().enumerate() {
            let p = Pattern::from_value(&spec.pattern).map_err(|e| SpecError {
                field: format!("{}.pattern", spec.id),
                message: e.message,
            })?;
            builder.add(i, &p);
            if let Some(pairing) = &spec.paired_with {
                let p = Pattern::from_value(&pairing.pattern).map_err(|e| SpecError {
                    field: format!("{}.paired_with.pattern", spec.id),
                    message: e.message,
                })?;
                builder.add(n + i, &p);
            }
        }
        let cap = settings.max_keys.max(1);
        Ok(SignatureDetector {
            specs,
            matcher: builder.build(),
            cx: Context {
                organization_accounts: settings.organization_accounts.clone(),
                logging_buckets: settings.logging_buckets.clone(),
                trail_buckets: HashSet::new(),
            },
            windows: Bounded::new(cap),
            pairs: Bounded::new(cap),
            scratch: Vec::new(),
            text: Vec::new(),
            clock: 0,
            skipped: 0,
        })
    }

    pub fn specs(&self) -> &[Spec] {
        &self.specs
    }

    /// Keys held for thresholds and pairings now.
    pub fn tracked_keys(&self) -> usize {
        self.windows.len() + self.pairs.len()
    }

    fn learn(&mut self, record: &Record<'_>) {
        if record.event_source() == "cloudtrail.amazonaws.com"
            && matches!(record.event_name(), "CreateTrail" | "UpdateTrail")
            && record.error_code().is_empty()
            && self.cx.trail_buckets.len() < MAX_TRAIL_BUCKETS
        {
            if let Some(b) = record.request().get("s3BucketName").and_then(Value::as_str) {
                if b.len() <= MAX_KEY_BYTES {
                    self.cx.trail_buckets.insert(b.to_string());
                }
            }
        }
    }

    /// Whether the spec's checks hold; the value says what decided it.
    fn checks_hold(&self, spec: &Spec, record: &Record<'_>) -> Option<Vec<String>> {
        let c = &spec.checks;
        let mut why = Vec::new();
        if let Some(path) = &c.other_user {
            if !checks::other_user(record, path) {
                return None;
            }
            why.push(format!(
                "for user {}",
                checks::values_at(record.value(), path)
                    .first()
                    .copied()
                    .unwrap_or_default()
            ));
        }
        if let Some(path) = &c.policy_opens {
            why.push(format!(
                "allows {}",
                checks::policy_opens(&self.cx, record, path)?
            ));
        }
        if c.shared_outside {
            why.push(format!(
                "shared with {}",
                checks::shared_outside(&self.cx, record)?
            ));
        }
        if let Some(path) = &c.logging_bucket {
            why.push(format!(
                "log bucket {}",
                checks::logging_bucket(&self.cx, record, path)?
            ));
        }
        if c.drops_management_events && !checks::drops_management_events(record) {
            return None;
        }
        if (c.lifecycle_expires || c.lifecycle_expires_within_days.is_some())
            && !checks::lifecycle_expires(record, c.lifecycle_expires_within_days)
        {
            return None;
        }
        Some(why)
    }

    fn group_key(&self, spec: &Spec, t: &Threshold, record: &Record<'_>) -> String {
        let mut parts = Vec::with_capacity(t.group_by.len());
        for g in &t.group_by {
            let v = match g.as_str() {
                "principal" => record.principal().to_string(),
                "source_ip" => record.source_ip().to_string(),
                "account" => record.account().to_string(),
                "resource" => resource_of(spec, record).map(|r| r.id).unwrap_or_default(),
                path => checks::values_at(record.value(), path)
                    .first()
                    .copied()
                    .unwrap_or_default()
                    .to_string(),
            };
            parts.push(v);
        }
        clip(parts.join("|"))
    }
}

impl Detector for SignatureDetector {
    fn id(&self) -> &str {
        "signatures"
    }

    fn observe(&mut self, record: Record<'_>) -> Vec<Detection> {
        let t = record.epoch_seconds().unwrap_or(self.clock);
        self.clock = self.clock.max(t);
        self.learn(&record);
        let mut text = std::mem::take(&mut self.text);
        eventbridge_text(&record, &mut text);
        let mut matched = std::mem::take(&mut self.scratch);
        matched.clear();
        let result = self.matcher.matches_json(&text, &mut matched);
        self.text = text;
        if result.is_err() {
            // A record built to be slow to match is skipped, not stalled on.
            self.skipped += 1;
            self.scratch = matched;
            return Vec::new();
        }
        let n = self.specs.len();
        let mut out = Vec::new();
        for &id in &matched {
            let (i, companion) = if id >= n { (id - n, true) } else { (id, false) };
            let spec = &self.specs[i];
            if companion {
                if let Some(d) = self.pair(i, &record, t, true, Vec::new()) {
                    out.push(d);
                }
                continue;
            }
            let Some(why) = self.checks_hold(spec, &record) else {
                continue;
            };
            if spec.threshold.is_some() {
                if let Some(d) = self.count(i, &record, t, why) {
                    out.push(d);
                }
            } else if spec.paired_with.is_some() {
                if let Some(d) = self.pair(i, &record, t, false, why) {
                    out.push(d);
                }
            } else {
                // A hostile record's id must not make an id too long to store.
                let key = match record.id() {
                    "" => format!("{:016x}", fnv(record.value().to_string().as_bytes())),
                    id => group_label(id),
                };
                let ids = vec![group_label(record.id())];
                out.push(detection(spec, &record, key, 1, (t, t), ids, why));
            }
        }
        self.scratch = matched;
        out
    }
}

impl SignatureDetector {
    fn count(
        &mut self,
        i: usize,
        record: &Record<'_>,
        t: i64,
        why: Vec<String>,
    ) -> Option<Detection> {
        let spec = &self.specs[i];
        let th = spec.threshold.as_ref()?;
        let group = self.group_key(spec, th, record);
        let window = th.window_seconds as i64;
        let needed = th.count as usize;
        let values: Vec<String> = if th.distinct.is_empty() {
            vec![String::new()]
        } else {
            let found = th
                .distinct
                .iter()
                .map(|p| checks::values_at(record.value(), p))
                .find(|v| !v.is_empty())
                .unwrap_or_default();
            if found.is_empty() {
                // Nothing named: the call itself is one distinct thing.
                vec![group_label(record.id())]
            } else {
                found
                    .into_iter()
                    .take(needed)
                    .map(|s| clip(s.to_string()))
                    .collect()
            }
        };
        let w = self.windows.entry((i, group.clone()));
        if t < w.quiet_until {
            return None;
        }
        w.hits.retain(|h| h.t > t - window && h.t < t + window);
        let id = group_label(record.id());
        for value in values {
            if !th.distinct.is_empty() {
                w.hits.retain(|h| h.value != value);
            }
            w.hits.push_back(Hit {
                t,
                value,
                event_id: id.clone(),
            });
            while w.hits.len() > needed {
                w.hits.pop_front();
            }
        }
        if w.hits.len() < needed {
            return None;
        }
        let first = w.hits.iter().map(|h| h.t).min().unwrap_or(t);
        let last = w.hits.iter().map(|h| h.t).max().unwrap_or(t);
        let mut ids: Vec<String> = Vec::new();
        for h in &w.hits {
            if !ids.contains(&h.event_id) && ids.len() < MAX_EVIDENCE_IDS {
                ids.push(h.event_id.clone());
            }
        }
        let count = w.hits.len() as u64;
        w.hits.clear();
        // One detection per key and window, not one per record past it.
        w.quiet_until = t + window;
        let key = format!("{}/{}", group_label(&group), first);
        Some(detection(spec, record, key, count, (first, last), ids, why))
    }

    fn pair(
        &mut self,
        i: usize,
        record: &Record<'_>,
        t: i64,
        companion: bool,
        why: Vec<String>,
    ) -> Option<Detection> {
        let spec = &self.specs[i];
        let pairing = spec.paired_with.as_ref()?;
        let key = clip(
            checks::values_at(record.value(), &pairing.key)
                .first()?
                .to_string(),
        );
        if key.is_empty() {
            return None;
        }
        let within = pairing.within_seconds as i64;
        let id = group_label(record.id());
        let state = self.pairs.entry((i, key.clone()));
        let side = if companion {
            &mut state.companion
        } else {
            &mut state.main
        };
        *side = Some((t, id));
        if let (Some((ta, ida)), Some((tb, idb))) = (&state.main, &state.companion) {
            if (ta - tb).abs() <= within && state.fired_at.is_none_or(|f| (t - f).abs() > within) {
                let (first, last) = ((*ta).min(*tb), (*ta).max(*tb));
                let ids = vec![idb.clone(), ida.clone()];
                state.fired_at = Some(t);
                let key = format!("{}/{}", group_label(&key), first);
                return Some(detection(spec, record, key, 2, (first, last), ids, why));
            }
        }
        None
    }
}

#[derive(Debug, Default)]
struct Window {
    hits: VecDeque<Hit>,
    quiet_until: i64,
}

#[derive(Debug)]
struct Hit {
    t: i64,
    value: String,
    event_id: String,
}

#[derive(Debug, Default)]
struct PairState {
    main: Option<(i64, String)>,
    companion: Option<(i64, String)>,
    fired_at: Option<i64>,
}

/// A map with a cap on keys: when full, the key inserted first goes.
struct Bounded<T> {
    map: HashMap<(usize, String), T>,
    order: VecDeque<(usize, String)>,
    cap: usize,
}

impl<T: Default> Bounded<T> {
    fn new(cap: usize) -> Self {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap,
        }
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn entry(&mut self, key: (usize, String)) -> &mut T {
        if !self.map.contains_key(&key) {
            while self.map.len() >= self.cap {
                match self.order.pop_front() {
                    Some(old) => {
                        self.map.remove(&old);
                    }
                    None => break,
                }
            }
            self.order.push_back(key.clone());
        }
        self.map.entry(key).or_default()
    }
}

/// The record in the shape EventBridge gives it, so that one pattern
/// serves records from log files and from EventBridge alike.
pub fn eventbridge_shape(record: &Record<'_>) -> Value {
    let source = record.event_source();
    let service = source.strip_suffix(".amazonaws.com").unwrap_or(source);
    json!({
        "source": format!("aws.{service}"),
        "detail-type": detail_type(record),
        "account": record.account(),
        "region": record.region(),
        "detail": record.value(),
    })
}

/// The EventBridge `detail-type` of a record.
fn detail_type(record: &Record<'_>) -> &'static str {
    match record.event_type() {
        "AwsConsoleSignIn" => "AWS Console Sign In via CloudTrail",
        "AwsConsoleAction" => "AWS Console Action via CloudTrail",
        "AwsServiceEvent" => "AWS Service Event via CloudTrail",
        "AwsCloudTrailInsight" => "AWS Insight via CloudTrail",
        _ => "AWS API Call via CloudTrail",
    }
}

/// [`eventbridge_shape`] as JSON text, written into `out`: the small
/// envelope, then the record as `detail`, its own text when it was read
/// from text (nothing to write again), else written from its `Value`.
pub fn eventbridge_text(record: &Record<'_>, out: &mut Vec<u8>) {
    out.clear();
    let source = record.event_source();
    let service = source.strip_suffix(".amazonaws.com").unwrap_or(source);
    let mut head = |key: &str, value: &str| {
        out.extend_from_slice(key.as_bytes());
        // Writing a string into a Vec does not fail.
        let _ = serde_json::to_writer(&mut *out, value);
    };
    head("{\"source\":", &format!("aws.{service}"));
    head(",\"detail-type\":", detail_type(record));
    head(",\"account\":", record.account());
    head(",\"region\":", record.region());
    out.extend_from_slice(b",\"detail\":");
    match record.text() {
        Some(text) => out.extend_from_slice(text.as_bytes()),
        None => {
            if serde_json::to_writer(&mut *out, record.value()).is_err() {
                out.extend_from_slice(b"null");
            }
        }
    }
    out.push(b'}');
}

fn clip(mut s: String) -> String {
    if s.len() > MAX_KEY_BYTES {
        let mut end = MAX_KEY_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// A group key fit for a finding id: short ones as they are, long ones
/// hashed.
fn group_label(group: &str) -> String {
    if group.len() <= 128 {
        group.to_string()
    } else {
        format!("{:016x}", fnv(group.as_bytes()))
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn fill(template: &str, record: &Record<'_>, value: &str) -> String {
    let account = match record.account() {
        "" => "unknown",
        a => a,
    };
    template
        .replace("{partition}", record.partition())
        .replace("{account}", account)
        .replace("{region}", record.region())
        .replace("{value}", value)
}

/// The resource a spec names in this record.
fn resource_of(spec: &Spec, record: &Record<'_>) -> Option<DetectedResource> {
    let r = spec.resource.as_ref()?;
    let value = r.fields.iter().find_map(|f| {
        checks::values_at(record.value(), f)
            .into_iter()
            .find(|v| !v.is_empty())
    })?;
    let id = if value.starts_with("arn:") {
        value.to_string()
    } else if let Some(t) = &r.arn {
        fill(t, record, value)
    } else {
        value.to_string()
    };
    Some(DetectedResource {
        kind: r.kind.clone(),
        id: clip(id),
    })
}

fn detection(
    spec: &Spec,
    record: &Record<'_>,
    key: String,
    count: u64,
    (first, last): (i64, i64),
    ids: Vec<String>,
    why: Vec<String>,
) -> Detection {
    let mut resources: Vec<DetectedResource> = resource_of(spec, record).into_iter().collect();
    let principal = record.principal();
    let principal_arn = record.principal_arn();
    // The caller, so that a rule can contain it (its key, its role).
    let caller = if principal.contains(":role/") {
        Some(("AwsIamRole", principal))
    } else if principal_arn.contains(":user/") {
        Some(("AwsIamUser", principal_arn))
    } else {
        None
    };
    if let Some((kind, id)) = caller {
        if !resources.iter().any(|r| r.id == id) {
            resources.push(DetectedResource {
                kind: kind.into(),
                id: clip(id.to_string()),
            });
        }
    }
    let key_id = record.access_key_id();
    if key_id.starts_with("AKIA") && key_id.len() <= 128 {
        resources.push(DetectedResource {
            kind: "AwsIamAccessKey".into(),
            id: key_id.to_string(),
        });
    }
    let who = match principal {
        "" => "an unknown caller",
        p => p,
    };
    let mut description = format!(
        "{}: {} by {} from {}",
        spec.title,
        record.event_name(),
        who,
        match record.source_ip() {
            "" => "an unknown address",
            ip => ip,
        }
    );
    if count > 1 {
        description.push_str(&format!(", {count} times in {} s", last - first));
    }
    if !why.is_empty() {
        description.push_str(&format!(" ({})", why.join(", ")));
    }
    description.push('.');
    if !spec.description.is_empty() {
        description.push(' ');
        description.push_str(&spec.description);
    }
    truncate(&mut description, 1024);
    let mut evidence = json!({
        "eventIDs": ids,
        "eventName": record.event_name(),
        "eventSource": record.event_source(),
        "sourceIPAddress": record.source_ip(),
    });
    if !why.is_empty() {
        evidence["why"] = json!(why);
    }
    if let Some(code) = Some(record.error_code()).filter(|c| !c.is_empty()) {
        evidence["errorCode"] = json!(code);
    }
    let mut user_agent = record.user_agent().to_string();
    truncate(&mut user_agent, 200);
    if !user_agent.is_empty() {
        evidence["userAgent"] = json!(user_agent);
    }
    Detection {
        detector: spec.id.clone(),
        title: spec.title.clone(),
        description,
        severity: spec.severity.clone(),
        technique: Some(spec.technique.clone()),
        account: record.account().to_string(),
        region: record.region().to_string(),
        partition: record.partition().to_string(),
        principal: (!principal.is_empty()).then(|| principal.to_string()),
        resources,
        first_seen: rfc3339(first),
        last_seen: rfc3339(last),
        count,
        key,
        evidence,
    }
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
