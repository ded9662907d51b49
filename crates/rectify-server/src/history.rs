//! `GET /v1/history?days=N`: open findings and fixes day by day, by
//! severity, account and control, for the console's overview chart.
//!
//! Derived from the store, not recorded as it happens: a finding is open
//! on a day when it was first observed by then (`FirstObservedAt`, else
//! `CreatedAt`) and not resolved or suppressed by then (the day rectify
//! last wrote its row while it is so); a fix is a job with the `fixed`
//! outcome of `rectify report`, on the day it was last written. Counting
//! reads every finding, so one answer for the longest window is reused
//! for [`HISTORY_TTL`] and cut to the days asked for.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rectify_store::{FindingSpan, FixCount};
use serde_json::{json, Value};

use crate::{error, internal, param, query, Api};

/// The longest window asked for, in days (today included).
pub(crate) const MAX_DAYS: usize = 90;
/// The window when none is asked for.
const DEFAULT_DAYS: usize = 30;
/// How long one computation is reused.
pub(crate) const HISTORY_TTL: Duration = Duration::from_secs(10);
/// Series per dimension: the biggest ones, the rest summed as `(other)`.
const MAX_SERIES: usize = 8;
/// Longest key kept (account ids, control ids and labels come from
/// findings: outside input).
const MAX_KEY_CHARS: usize = 64;
const DIMENSIONS: [&str; 3] = ["severity", "account", "control"];

/// Daily counts for the longest window, per dimension and key.
pub(crate) struct History {
    at: Instant,
    computed_at: String,
    /// `YYYY-MM-DD`, oldest first, today last.
    days: Vec<String>,
    /// dimension -> key -> (open at the end of each day, fixes each day).
    series: BTreeMap<&'static str, HashMap<String, Series>>,
}

#[derive(Clone, Default)]
struct Series {
    open: Vec<u64>,
    fixed: Vec<u64>,
}

pub(crate) type Cache = Arc<tokio::sync::Mutex<Option<Arc<History>>>>;

pub(crate) async fn history(State(api): State<Api>, uri: Uri) -> Response {
    let pairs = match query("/v1/history", &uri) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let days = match param(&pairs, "days") {
        None => DEFAULT_DAYS,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_DAYS).contains(&n) => n,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("days: a whole number from 1 to {MAX_DAYS}"),
                )
            }
        },
    };
    let history = {
        let mut last = api.history.lock().await;
        match &*last {
            Some(h) if h.at.elapsed() < HISTORY_TTL => h.clone(),
            _ => match compute(&api).await {
                Ok(h) => {
                    let h = Arc::new(h);
                    *last = Some(h.clone());
                    h
                }
                Err(response) => return *response,
            },
        }
    };
    Json(window(&history, days)).into_response()
}

async fn compute(api: &Api) -> Result<History, Box<Response>> {
    let store = api.engine.store();
    let days: Vec<String> = (0..MAX_DAYS as u64)
        .rev()
        .map(|back| {
            day_of(&rectify_store::timefmt::now_minus(Duration::from_secs(
                back * 86_400,
            )))
        })
        .collect();
    let spans = store
        .finding_spans()
        .await
        .map_err(|e| Box::new(internal("counting findings by day", e)))?;
    let from = format!("{}T00:00:00.000Z", days[0]);
    let fixes = store
        .fixes_by_day(&from, &rectify_store::timefmt::now())
        .await
        .map_err(|e| Box::new(internal("counting fixes by day", e)))?;
    Ok(History {
        at: Instant::now(),
        computed_at: rectify_store::timefmt::now(),
        series: tally(&days, &spans, &fixes),
        days,
    })
}

/// Open findings at the end of each of `days` and fixes on each, per
/// dimension and key.
fn tally(
    days: &[String],
    spans: &[FindingSpan],
    fixes: &[FixCount],
) -> BTreeMap<&'static str, HashMap<String, Series>> {
    let n = days.len();
    let mut series: BTreeMap<&'static str, HashMap<String, Series>> = BTreeMap::new();
    for span in spans {
        // Open from the first day on or after it opened (a date that is
        // not one: before the window) until the day it closed.
        let start = match span.opened.as_deref().filter(|d| is_day(d)) {
            Some(opened) => days.partition_point(|d| d.as_str() < opened),
            None => 0,
        };
        let end = match span.closed.as_deref().filter(|d| is_day(d)) {
            Some(closed) => days.partition_point(|d| d.as_str() < closed),
            None => n,
        };
        if start >= end {
            continue;
        }
        for (dimension, key) in keys(&span.account, &span.control, &span.severity) {
            let s = slot(&mut series, dimension, key, n);
            // A difference array: +n from the first day, -n after the
            // last; the running sums below are never negative, so
            // wrapping on the way there is harmless.
            s.open[start] = s.open[start].wrapping_add(span.findings);
            s.open[end] = s.open[end].wrapping_sub(span.findings);
        }
    }
    for dimension in series.values_mut() {
        for s in dimension.values_mut() {
            let mut running: u64 = 0;
            for v in s.open.iter_mut() {
                running = running.wrapping_add(*v);
                *v = running;
            }
        }
    }
    for fix in fixes {
        let Ok(i) = days.binary_search(&fix.day) else {
            continue;
        };
        for (dimension, key) in keys(&fix.account, &fix.control, &fix.severity) {
            slot(&mut series, dimension, key, n).fixed[i] += fix.jobs;
        }
    }
    for dimension in series.values_mut() {
        for s in dimension.values_mut() {
            s.open.truncate(n);
        }
    }
    series
}

fn slot<'a>(
    series: &'a mut BTreeMap<&'static str, HashMap<String, Series>>,
    dimension: &'static str,
    key: &str,
    n: usize,
) -> &'a mut Series {
    series
        .entry(dimension)
        .or_default()
        .entry(key_of(key))
        .or_insert_with(|| Series {
            open: vec![0; n + 1],
            fixed: vec![0; n],
        })
}

fn keys<'a>(
    account: &'a str,
    control: &'a Option<String>,
    severity: &'a Option<String>,
) -> [(&'static str, &'a str); 3] {
    [
        ("severity", severity.as_deref().unwrap_or("")),
        ("account", account),
        ("control", control.as_deref().unwrap_or("")),
    ]
}

fn key_of(key: &str) -> String {
    match key.trim() {
        "" => "(none)".to_string(),
        k => k.chars().take(MAX_KEY_CHARS).collect(),
    }
}

/// The answer for the last `days` days: totals, and per dimension the
/// [`MAX_SERIES`] biggest series (by findings open and fixed in the
/// window) with the rest summed as `(other)`.
fn window(history: &History, days: usize) -> Value {
    let skip = history.days.len() - days;
    let cut = |v: &[u64]| v[skip..].to_vec();
    let mut by = serde_json::Map::new();
    let mut total = Series {
        open: vec![0; days],
        fixed: vec![0; days],
    };
    for dimension in DIMENSIONS {
        let mut lines: Vec<(String, Series)> = history
            .series
            .get(dimension)
            .map(|keys| {
                keys.iter()
                    .map(|(k, s)| {
                        (
                            k.clone(),
                            Series {
                                open: cut(&s.open),
                                fixed: cut(&s.fixed),
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let weight = |s: &Series| s.open.iter().chain(&s.fixed).sum::<u64>();
        lines.retain(|(_, s)| weight(s) > 0);
        lines.sort_by(|a, b| weight(&b.1).cmp(&weight(&a.1)).then(a.0.cmp(&b.0)));
        if dimension == "severity" {
            for (_, s) in &lines {
                add(&mut total, s);
            }
        }
        if lines.len() > MAX_SERIES {
            let mut other = Series {
                open: vec![0; days],
                fixed: vec![0; days],
            };
            for (_, s) in lines.drain(MAX_SERIES - 1..) {
                add(&mut other, &s);
            }
            lines.push(("(other)".to_string(), other));
        }
        by.insert(
            dimension.to_string(),
            Value::Array(
                lines
                    .into_iter()
                    .map(|(key, s)| json!({"key": key, "open": s.open, "fixed": s.fixed}))
                    .collect(),
            ),
        );
    }
    json!({
        "days": history.days[skip..],
        "open": total.open,
        "fixed": total.fixed,
        "by": by,
        "computed_at": history.computed_at,
    })
}

fn add(into: &mut Series, s: &Series) {
    for (a, b) in into.open.iter_mut().zip(&s.open) {
        *a += b;
    }
    for (a, b) in into.fixed.iter_mut().zip(&s.fixed) {
        *a += b;
    }
}

fn day_of(time: &str) -> String {
    time.get(..10).unwrap_or(time).to_string()
}

/// `YYYY-MM-DD`.
fn is_day(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(severity: &str, opened: &str, closed: Option<&str>, findings: u64) -> FindingSpan {
        FindingSpan {
            account: "111122223333".into(),
            control: Some("S3.8".into()),
            severity: Some(severity.into()),
            opened: Some(opened.into()),
            closed: closed.map(str::to_string),
            findings,
        }
    }

    #[test]
    fn a_finding_is_open_from_the_day_it_opened_until_the_day_it_closed() {
        let days: Vec<String> = (1..=5).map(|d| format!("2026-03-0{d}")).collect();
        let spans = [
            span("HIGH", "2026-03-02", Some("2026-03-04"), 2),
            // Opened before the window, still open.
            span("LOW", "2026-01-01", None, 1),
            // Not a date: counted from the start.
            span("LOW", "<script>", None, 1),
            // Opened and closed on the same day: never open at a day's end.
            span("HIGH", "2026-03-05", Some("2026-03-05"), 7),
        ];
        let fixes = [
            FixCount {
                day: "2026-03-04".into(),
                account: "111122223333".into(),
                control: Some("S3.8".into()),
                severity: Some("HIGH".into()),
                jobs: 2,
            },
            FixCount {
                day: "2025-12-31".into(),
                account: "111122223333".into(),
                control: None,
                severity: None,
                jobs: 9,
            },
        ];
        let series = tally(&days, &spans, &fixes);
        let high = &series["severity"]["HIGH"];
        assert_eq!(high.open, [0, 2, 2, 0, 0]);
        assert_eq!(high.fixed, [0, 0, 0, 2, 0]);
        assert_eq!(series["severity"]["LOW"].open, [2, 2, 2, 2, 2]);
        assert_eq!(series["account"]["111122223333"].open, [2, 4, 4, 2, 2]);
        let history = History {
            at: Instant::now(),
            computed_at: String::new(),
            days,
            series,
        };
        let answer = window(&history, 3);
        assert_eq!(
            answer["days"],
            json!(["2026-03-03", "2026-03-04", "2026-03-05"])
        );
        assert_eq!(answer["open"], json!([4, 2, 2]));
        assert_eq!(answer["fixed"], json!([0, 2, 0]));
        assert_eq!(answer["by"]["control"][0]["key"], "S3.8");
    }

    #[test]
    fn many_keys_fold_into_other() {
        let days = vec!["2026-03-01".to_string()];
        let spans: Vec<FindingSpan> = (0..20)
            .map(|i| FindingSpan {
                account: format!("{i:012}"),
                control: None,
                severity: None,
                opened: Some("2026-03-01".into()),
                closed: None,
                findings: i + 1,
            })
            .collect();
        let history = History {
            at: Instant::now(),
            computed_at: String::new(),
            series: tally(&days, &spans, &[]),
            days,
        };
        let answer = window(&history, 1);
        let accounts = answer["by"]["account"].as_array().unwrap();
        assert_eq!(accounts.len(), MAX_SERIES);
        assert_eq!(accounts[0]["key"], "000000000019");
        assert_eq!(accounts[MAX_SERIES - 1]["key"], "(other)");
        let sum: u64 = accounts
            .iter()
            .map(|a| a["open"][0].as_u64().unwrap())
            .sum();
        assert_eq!(sum, (1..=20).sum::<u64>());
        assert_eq!(answer["by"]["control"][0]["key"], "(none)");
    }
}
