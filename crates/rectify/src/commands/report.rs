//! `rectify report`: what each rule matched and changed over a time
//! window, per account, control and outcome, read from the store.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rectify_store::{timefmt, JobTally, REPORT_OUTCOMES};
use serde_json::json;

use super::print_json;
use crate::cli::Output;
use crate::{context, output};

/// Jobs of one rule in one account for one control, per outcome (in the
/// order of [`REPORT_OUTCOMES`]).
type Counts = [u64; REPORT_OUTCOMES.len()];
type Key = (String, String, Option<String>);

pub async fn run(
    config: Option<&Path>,
    since: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    format: Output,
) -> anyhow::Result<u8> {
    let (from, to) = match window(since, from, to) {
        Ok(window) => window,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let (engine, _) = context::engine(config, Default::default()).await?;
    let tally = engine.store().tally_jobs(&from, &to).await?;
    let rows = rows(&tally);
    match format {
        Output::Json => print_json(&as_json(&from, &to, &rows)),
        Output::Csv => print!("{}", as_csv(&rows)),
        Output::Text | Output::Asff | Output::Ocsf | Output::Html => {
            print!("{}", as_text(&from, &to, &rows))
        }
    }
    Ok(0)
}

/// The window `[from, to)` in the store's time format: `--from` (and
/// `--to`, default now), else the last `--since` (default 7d).
fn window(
    since: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(String, String), String> {
    let to = match to {
        Some(t) => time_arg("--to", t)?,
        None => timefmt::now(),
    };
    let from = match (from, since) {
        (Some(f), _) => time_arg("--from", f)?,
        (None, since) => timefmt::now_minus(duration(since.unwrap_or("7d"))?),
    };
    if from >= to {
        return Err(format!("the window is empty: {from} is not before {to}"));
    }
    Ok((from, to))
}

/// An RFC 3339 time, or a date (midnight UTC).
fn time_arg(flag: &str, value: &str) -> Result<String, String> {
    let is_date = value.len() == 10 && value.as_bytes().get(4) == Some(&b'-');
    let text = if is_date {
        format!("{value}T00:00:00Z")
    } else {
        value.to_string()
    };
    timefmt::normalize(&text, flag).map_err(|_| {
        format!("{flag} {value:?}: expected an RFC 3339 time (2026-11-30T09:00:00Z) or a date (2026-11-30)")
    })
}

/// `30m`, `24h`, `7d`, `2w` (or seconds: `90s`).
fn duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("--since {text:?}: expected a number and a unit (s, m, h, d, w), e.g. 7d");
    let unit = text.chars().last().ok_or_else(bad)?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return Err(bad()),
    };
    let n: u64 = text[..text.len() - 1].parse().map_err(|_| bad())?;
    // Beyond a century the window starts before any job anyway.
    let n = n.min(100 * 366 * 86_400 / seconds);
    if n == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(n * seconds))
}

fn rows(tally: &[JobTally]) -> BTreeMap<Key, Counts> {
    let mut rows: BTreeMap<Key, Counts> = BTreeMap::new();
    for t in tally {
        let key = (t.rule_id.clone(), t.account.clone(), t.control.clone());
        let counts = rows.entry(key).or_default();
        if let Some(i) = REPORT_OUTCOMES.iter().position(|o| *o == t.outcome) {
            counts[i] += t.jobs;
        }
    }
    rows
}

fn total(rows: &BTreeMap<Key, Counts>) -> Counts {
    let mut total = Counts::default();
    for counts in rows.values() {
        for (t, n) in total.iter_mut().zip(counts) {
            *t += n;
        }
    }
    total
}

fn outcomes_json(counts: &Counts) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = REPORT_OUTCOMES
        .iter()
        .zip(counts)
        .map(|(o, n)| (o.to_string(), json!(n)))
        .collect();
    serde_json::Value::Object(map)
}

fn as_json(from: &str, to: &str, rows: &BTreeMap<Key, Counts>) -> serde_json::Value {
    let lines: Vec<serde_json::Value> = rows
        .iter()
        .map(|((rule, account, control), counts)| {
            json!({
                "rule": rule,
                "account": account,
                "control": control,
                "matched": counts.iter().sum::<u64>(),
                "outcomes": outcomes_json(counts),
            })
        })
        .collect();
    let total = total(rows);
    json!({
        "from": from,
        "to": to,
        "rows": lines,
        "total": {"matched": total.iter().sum::<u64>(), "outcomes": outcomes_json(&total)},
    })
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote or line
/// break; a leading `=`, `+`, `-`, `@` gets a `'` before it, so that a
/// spreadsheet shows a value from an event instead of running it as a
/// formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn as_csv(rows: &BTreeMap<Key, Counts>) -> String {
    let mut out = format!(
        "rule,account,control,matched,{}\n",
        REPORT_OUTCOMES.join(",")
    );
    for ((rule, account, control), counts) in rows {
        let mut fields = vec![
            csv_field(rule),
            csv_field(account),
            csv_field(control.as_deref().unwrap_or("")),
            counts.iter().sum::<u64>().to_string(),
        ];
        fields.extend(counts.iter().map(u64::to_string));
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

fn as_text(from: &str, to: &str, rows: &BTreeMap<Key, Counts>) -> String {
    let mut table: Vec<Vec<String>> = vec![["rule", "account", "control", "matched"]
        .iter()
        .chain(REPORT_OUTCOMES.iter())
        .map(|h| h.to_uppercase())
        .collect()];
    let line = |name: [String; 3], counts: &Counts| {
        let mut cells: Vec<String> = name.to_vec();
        cells.push(counts.iter().sum::<u64>().to_string());
        cells.extend(counts.iter().map(u64::to_string));
        cells
    };
    for ((rule, account, control), counts) in rows {
        table.push(line(
            [
                output::escape(rule),
                output::escape(account),
                output::escape(control.as_deref().unwrap_or("-")),
            ],
            counts,
        ));
    }
    table.push(line(
        ["total".into(), String::new(), String::new()],
        &total(rows),
    ));
    let columns = table[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            table
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("Jobs created from {from} to {to}, as they stand now.\n\n");
    for row in &table {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| {
                if c < 3 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        assert_eq!(duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(duration("90s"), Ok(Duration::from_secs(90)));
        for bad in ["", "d", "7", "0d", "-1d", "7y", "1.5h"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
        let (from, to) =
            window(None, Some("2026-11-01"), Some("2026-11-08T00:00:00+01:00")).unwrap();
        assert_eq!(from, "2026-11-01T00:00:00.000Z");
        assert_eq!(to, "2026-11-07T23:00:00.000Z");
        assert!(window(None, Some("2026-11-08"), Some("2026-11-01")).is_err());
        assert!(window(None, Some("last week"), None).is_err());
    }

    #[test]
    fn csv_fields_stay_data() {
        assert_eq!(csv_field("s3-bpa"), "s3-bpa");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("-1,2"), "\"'-1,2\"");
    }
}
