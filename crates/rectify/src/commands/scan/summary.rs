//! What a scan's verdicts add up to: per account, standard and severity
//! (the summary table), and per control of one standard (the compliance
//! report, with pass rates).

use std::collections::BTreeMap;

use rectify_engine::scan::{CheckInfo, CheckResult, ScanReport};
use rectify_model::{Severity, Standard};
use serde::Serialize;

pub const SEVERITIES: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Informational,
];

/// Passed and failed verdicts.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
}

impl Tally {
    fn add(&mut self, pass: bool) {
        if pass {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
    }

    pub fn total(&self) -> usize {
        self.passed + self.failed
    }

    /// Percent passed, `None` when nothing was judged.
    pub fn pass_rate(&self) -> Option<f64> {
        (self.total() > 0).then(|| 100.0 * self.passed as f64 / self.total() as f64)
    }
}

/// One account's tallies: per standard, per severity.
#[derive(Debug, Default, Serialize)]
pub struct AccountSummary {
    pub account: String,
    pub all: Tally,
    pub standards: BTreeMap<Standard, BTreeMap<Severity, Tally>>,
}

/// The verdicts of the checks that `standard` holds (through the check's
/// controls), each counted once per check and resource.
fn in_standard<'a>(
    report: &'a ScanReport,
    standard: Standard,
) -> impl Iterator<Item = (&'a CheckResult, &'a CheckInfo)> + 'a {
    report.results.iter().filter_map(move |r| {
        let info = report.checks.iter().find(|c| c.id == r.check)?;
        info.standards
            .get(&standard)
            .is_some_and(|ids| !ids.is_empty())
            .then_some((r, info))
    })
}

pub fn by_account(report: &ScanReport) -> Vec<AccountSummary> {
    let mut accounts: BTreeMap<String, AccountSummary> = BTreeMap::new();
    for r in &report.results {
        let entry = accounts
            .entry(r.verdict.account.clone())
            .or_insert_with(|| AccountSummary {
                account: r.verdict.account.clone(),
                ..Default::default()
            });
        entry.all.add(r.verdict.pass || r.exempt);
    }
    for standard in Standard::ALL {
        for (r, _) in in_standard(report, standard) {
            if let Some(entry) = accounts.get_mut(&r.verdict.account) {
                entry
                    .standards
                    .entry(standard)
                    .or_default()
                    .entry(r.severity)
                    .or_default()
                    .add(r.verdict.pass || r.exempt);
            }
        }
    }
    accounts.into_values().collect()
}

/// One control of a standard: its verdicts over every account scanned.
#[derive(Debug, Serialize)]
pub struct ControlRate {
    /// The id the standard gives it (`1.4` in CIS, `IAM.4` in FSBP).
    pub control: String,
    /// The Security Hub control id.
    pub security_control: String,
    pub title: String,
    pub severity: Severity,
    pub checks: Vec<String>,
    #[serde(flatten)]
    pub tally: Tally,
    pub pass_rate: Option<f64>,
}

/// The compliance report of one standard.
#[derive(Debug, Serialize)]
pub struct Compliance {
    pub standard: Standard,
    pub title: &'static str,
    pub controls: Vec<ControlRate>,
    /// Controls with every verdict passed, of those judged.
    pub controls_passed: usize,
    pub controls_judged: usize,
    pub resources: Tally,
    pub pass_rate: Option<f64>,
}

/// Orders control ids as people number them (`1.4` before `1.10`).
fn numbered(id: &str) -> Vec<(String, u64)> {
    id.split(['.', '/'])
        .map(|part| match part.parse::<u64>() {
            Ok(n) => (String::new(), n),
            Err(_) => (part.to_string(), 0),
        })
        .collect()
}

pub fn compliance(report: &ScanReport, standard: Standard) -> Compliance {
    let mut controls: BTreeMap<String, ControlRate> = BTreeMap::new();
    let mut resources = Tally::default();
    for (r, info) in in_standard(report, standard) {
        resources.add(r.verdict.pass || r.exempt);
        // The verdict counts for the standard's id of the control it was
        // judged for (an action's check answers several controls).
        let own = rectify_model::check::standard_ids(&[r.control.as_str()], standard);
        let ids = if own.is_empty() {
            info.standards.get(&standard).cloned().unwrap_or_default()
        } else {
            own.into_iter().map(str::to_string).collect()
        };
        for id in ids {
            let entry = controls.entry(id.clone()).or_insert_with(|| ControlRate {
                control: id.clone(),
                security_control: r.control.clone(),
                title: info.title.clone(),
                severity: r.severity,
                checks: Vec::new(),
                tally: Tally::default(),
                pass_rate: None,
            });
            if !entry.checks.contains(&info.id) {
                entry.checks.push(info.id.clone());
            }
            entry.tally.add(r.verdict.pass || r.exempt);
        }
    }
    let mut controls: Vec<ControlRate> = controls.into_values().collect();
    for c in &mut controls {
        c.pass_rate = c.tally.pass_rate();
    }
    controls.sort_by_key(|c| numbered(&c.control));
    let controls_passed = controls.iter().filter(|c| c.tally.failed == 0).count();
    Compliance {
        standard,
        title: standard.title(),
        controls_judged: controls.len(),
        controls_passed,
        pass_rate: resources.pass_rate(),
        resources,
        controls,
    }
}

fn rate(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.0}%")).unwrap_or_else(|| "-".into())
}

/// The summary table, as text.
pub fn summary_text(report: &ScanReport) -> String {
    let mut out = String::new();
    for a in by_account(report) {
        out.push_str(&format!(
            "account {}: {} verdict(s), {} failed, pass rate {}\n",
            a.account,
            a.all.total(),
            a.all.failed,
            rate(a.all.pass_rate())
        ));
        out.push_str(&format!("  {:<13}", "failed/judged"));
        for s in SEVERITIES {
            out.push_str(&format!("{:>15}", s.label()));
        }
        out.push_str(&format!("{:>11}\n", "pass rate"));
        for (standard, row) in &a.standards {
            out.push_str(&format!("  {:<13}", standard.key()));
            let mut all = Tally::default();
            for s in SEVERITIES {
                let t = row.get(&s).copied().unwrap_or_default();
                all.passed += t.passed;
                all.failed += t.failed;
                let cell = if t.total() == 0 {
                    "-".to_string()
                } else {
                    format!("{}/{}", t.failed, t.total())
                };
                out.push_str(&format!("{cell:>15}"));
            }
            out.push_str(&format!("{:>11}\n", rate(all.pass_rate())));
        }
    }
    out
}

/// The compliance report, as text.
pub fn compliance_text(c: &Compliance) -> String {
    let mut out = format!(
        "{}: {} of {} control(s) passed, {} of {} verdict(s) passed ({})\n",
        c.title,
        c.controls_passed,
        c.controls_judged,
        c.resources.passed,
        c.resources.total(),
        rate(c.pass_rate)
    );
    out.push_str(&format!(
        "  {:<10} {:<14} {:>7} {:>7} {:>9}  {}\n",
        "control", "severity", "passed", "failed", "pass rate", "title"
    ));
    for ctl in &c.controls {
        out.push_str(&format!(
            "  {:<10} {:<14} {:>7} {:>7} {:>9}  {}\n",
            ctl.control,
            ctl.severity.label(),
            ctl.tally.passed,
            ctl.tally.failed,
            rate(ctl.pass_rate),
            ctl.title
        ));
    }
    out
}

/// One CSV field, quoted when it must be; a leading `=`, `+`, `-` or `@`
/// is prefixed with `'` so a spreadsheet does not run it as a formula.
pub fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// One row per verdict.
pub fn csv(report: &ScanReport) -> String {
    let mut out = String::from(
        "account,region,check,control,cis_3_0,fsbp,pci_dss_4_0,severity,status,resource_type,resource_id,evidence\n",
    );
    for r in &report.results {
        let info = report.checks.iter().find(|c| c.id == r.check);
        let ids = |s: Standard| {
            info.and_then(|i| i.standards.get(&s))
                .map(|v| v.join(" "))
                .unwrap_or_default()
        };
        let status = status_of(r);
        let fields = [
            r.verdict.account.as_str(),
            r.verdict.region.as_str(),
            r.check.as_str(),
            r.control.as_str(),
            &ids(Standard::Cis30),
            &ids(Standard::Fsbp),
            &ids(Standard::PciDss40),
            r.severity.label(),
            status,
            r.verdict.resource_type.as_str(),
            r.verdict.resource_id.as_str(),
            r.verdict.evidence.as_str(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// `PASS`, `FAIL`, or `EXEMPT` (failed, but carries the exemption tag).
pub fn status_of(r: &CheckResult) -> &'static str {
    if r.verdict.pass {
        "PASS"
    } else if r.exempt {
        "EXEMPT"
    } else {
        "FAIL"
    }
}
