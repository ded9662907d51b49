//! The scan as one self-contained HTML file a person can open and send
//! on: styles inline, no script, no external asset; every text from the
//! scan (resource ids, tags, evidence: all of it read from accounts) is
//! escaped.

use rectify_engine::scan::ScanReport;
use rectify_model::Standard;

use super::summary::{self, SEVERITIES};

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#1b1f24}\
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #c8ccd0;padding:.3em .6em;text-align:left;vertical-align:top}\
th{background:#eef1f4}.FAIL{color:#b00020;font-weight:600}.PASS{color:#1a7f37}.EXEMPT{color:#8a6d00}\
td.num{text-align:right}code{font-size:.9em;word-break:break-all}";

fn rate(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.0}%")).unwrap_or_else(|| "-".into())
}

pub fn render(report: &ScanReport) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">");
    h.push_str("<title>rectify scan</title><style>");
    h.push_str(STYLE);
    h.push_str("</style></head><body>\n<h1>rectify scan</h1>\n");
    let failed = report
        .results
        .iter()
        .filter(|r| summary::status_of(r) == "FAIL")
        .count();
    h.push_str(&format!(
        "<p id=\"overview\">Started {}, finished {}: {} resource(s), {} verdict(s), <span class=\"FAIL\">{} failed</span>, {} exempt, {} not scanned.</p>\n",
        esc(&report.started_at),
        esc(&report.finished_at),
        report.checked,
        report.verdicts,
        failed,
        report.exempt,
        report.errors.len()
    ));
    // A reader must know which verdicts stand on Config's record rather
    // than on a read of the resource itself.
    if report.from_config > 0 {
        h.push_str(&format!(
            "<p id=\"sources\">The settings of {} bucket(s) are as AWS Config last recorded them (usually minutes old); every other setting was read from the resource.</p>\n",
            report.from_config
        ));
    }
    for note in &report.notes {
        h.push_str(&format!("<p class=\"note\">Note: {}</p>\n", esc(note)));
    }

    h.push_str(
        "<h2>Summary per account, standard and severity</h2>\n<p>Each cell: failed / judged.</p>\n",
    );
    for a in summary::by_account(report) {
        h.push_str(&format!(
            "<h3>Account {}</h3>\n<table class=\"summary\"><tr><th>standard</th>",
            esc(&a.account)
        ));
        for s in SEVERITIES {
            h.push_str(&format!("<th>{}</th>", s.label()));
        }
        h.push_str("<th>pass rate</th></tr>\n");
        for (standard, row) in &a.standards {
            h.push_str(&format!("<tr><td>{}</td>", esc(standard.title())));
            let mut all = summary::Tally::default();
            for s in SEVERITIES {
                let t = row.get(&s).copied().unwrap_or_default();
                all.passed += t.passed;
                all.failed += t.failed;
                if t.total() == 0 {
                    h.push_str("<td class=\"num\">-</td>");
                } else {
                    h.push_str(&format!(
                        "<td class=\"num\">{}/{}</td>",
                        t.failed,
                        t.total()
                    ));
                }
            }
            h.push_str(&format!(
                "<td class=\"num\">{}</td></tr>\n",
                rate(all.pass_rate())
            ));
        }
        h.push_str("</table>\n");
    }

    for standard in Standard::ALL {
        let c = summary::compliance(report, standard);
        if c.controls.is_empty() {
            continue;
        }
        h.push_str(&format!(
            "<h2>{}</h2>\n<p>{} of {} control(s) passed; {} of {} verdict(s) passed ({}).</p>\n",
            esc(c.title),
            c.controls_passed,
            c.controls_judged,
            c.resources.passed,
            c.resources.total(),
            rate(c.pass_rate)
        ));
        h.push_str("<table class=\"compliance\"><tr><th>control</th><th>title</th><th>severity</th><th>passed</th><th>failed</th><th>pass rate</th></tr>\n");
        for ctl in &c.controls {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                esc(&ctl.control),
                esc(&ctl.title),
                ctl.severity.label(),
                ctl.tally.passed,
                ctl.tally.failed,
                rate(ctl.pass_rate)
            ));
        }
        h.push_str("</table>\n");
    }

    h.push_str("<h2>Verdicts</h2>\n<table class=\"verdicts\"><tr><th>status</th><th>severity</th><th>check</th><th>control</th><th>account</th><th>region</th><th>resource</th><th>evidence</th></tr>\n");
    // Failures first, then the rest.
    let mut rows: Vec<_> = report.results.iter().collect();
    rows.sort_by_key(|r| (summary::status_of(r) != "FAIL", r.severity));
    for r in rows {
        let status = summary::status_of(r);
        h.push_str(&format!(
            "<tr><td class=\"{status}\">{status}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>\n",
            r.severity.label(),
            esc(&r.check),
            esc(&r.control),
            esc(&r.verdict.account),
            esc(&r.verdict.region),
            esc(&r.verdict.resource_id),
            esc(&r.verdict.evidence)
        ));
    }
    h.push_str("</table>\n");
    if !report.errors.is_empty() {
        h.push_str("<h2>Not scanned</h2>\n<ul>\n");
        for e in &report.errors {
            h.push_str(&format!("<li>{}</li>\n", esc(e)));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_says_which_settings_come_from_aws_config() {
        let plain = render(&ScanReport::default());
        assert!(!plain.contains("id=\"sources\""), "{plain}");
        let report = ScanReport {
            from_config: 3,
            notes: vec!["account 1 in r: <odd>".into()],
            ..ScanReport::default()
        };
        let html = render(&report);
        assert!(
            html.contains("The settings of 3 bucket(s) are as AWS Config last recorded them"),
            "{html}"
        );
        assert!(html.contains("Note: account 1 in r: &lt;odd&gt;"), "{html}");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
