//! Tickets end to end: findings remediated by `rectify process` and
//! `rectify serve` against the emulator, each finding's ticket opened,
//! noted and resolved in a ServiceNow or Jira STAND-IN (not the vendors'
//! services: tests/standins/servicenow_standin.py and jira_standin.py,
//! which check each request against the vendor's published API
//! description), and the two-way loop: a person closes the ticket in the
//! stand-in, and the finding in the Security Hub stand-in follows, by the
//! poll and by the signed webhook.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};
use support::*;

/// A ticket system stand-in started by this test; killed on drop.
struct Standin {
    child: Child,
    base: String,
}

impl Standin {
    fn start(script: &str, user: &str, secret: &str) -> Standin {
        let dir = repo_root().join("tests/standins");
        let mut child = Command::new("python3")
            .arg("-u")
            .arg(dir.join(script))
            .args(["--port", "0", "--user", user, "--secret", secret])
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the stand-in");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("{script} did not start: {line:?}"))
            .to_string();
        Standin { child, base }
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = http(&self.base, "GET", path, None, None);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        let (status, reply) = http(&self.base, "POST", path, None, Some(&body.to_string()));
        assert_eq!(status, 200, "{reply}");
        serde_json::from_str(&reply).unwrap()
    }

    /// Every API request, with whether the stand-in's checks refused it.
    fn requests(&self) -> Vec<Value> {
        self.get("/_standin/requests")["requests"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// No request rectify sent was refused by the API description's checks.
    fn assert_all_requests_valid(&self) {
        for r in self.requests() {
            assert!(r.get("rejected").is_none(), "refused: {r}");
        }
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn outcome(job: &Value) -> &str {
    job["outcome"]["kind"].as_str().unwrap_or("")
}

/// The site's config with `tickets` (and the secrets it reads from files).
fn site_with(account: &str, tickets: &str) -> Site {
    let site = Site::new(
        account,
        "auto",
        "arn:aws:sns:us-east-1:000000000000:none",
        "",
    );
    std::fs::write(site.path("system.secret"), "pw-standin-1\n").unwrap();
    std::fs::write(site.path("webhook.secret"), "whsec-0123456789abcdef\n").unwrap();
    rewrite_tickets(&site, tickets);
    site
}

/// Puts `tickets` (and the rules) after the fixed part of the config.
fn rewrite_tickets(site: &Site, tickets: &str) {
    let path = site.path("rectify.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let head = text.split("tickets:\n").next().unwrap().to_string();
    let head = head.split("rules:\n").next().unwrap().to_string();
    std::fs::write(&path, format!("{head}tickets:\n{tickets}{}", rules(""))).unwrap();
}

/// Audit records of `kind`.
fn audit_of(site: &Site, kind: &str) -> Vec<Value> {
    let out = site.rectify(&["audit", "list", "--limit", "5000", "--output", "json"]);
    let records: Value = serde_json::from_slice(&out.stdout).unwrap();
    records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == kind)
        .cloned()
        .collect()
}

/// Waits until Security Hub got a `BatchUpdateFindings` for the finding
/// setting `status`; that update.
fn wait_for_update(finding_id: &str, status: &str) -> Value {
    for _ in 0..150 {
        if let Some(u) = securityhub_updates(finding_id)
            .into_iter()
            .find(|u| u["body"]["Workflow"]["Status"] == status)
        {
            return u;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!(
        "the finding was never set {status}: {:?}",
        securityhub_updates(finding_id)
    );
}

fn servicenow_tickets(url: &str, poll_seconds: u64) -> String {
    format!(
        "  poll_seconds: {poll_seconds}\n  webhook_secret_file: webhook.secret\n  systems:\n    snow:\n      rules: [s3-bpa]\n      servicenow:\n        url: {url}\n        user: rectify\n        password_file: system.secret\n        accepted_risk_close_codes: [\"Risk Accepted\"]\n"
    )
}

/// The incidents whose description names the finding.
fn incidents_of(standin: &Standin, finding_id: &str) -> Vec<Value> {
    standin.get("/_standin/incidents")["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["description"].as_str().unwrap_or("").contains(finding_id))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn servicenow_incident_per_finding_resolved_by_rectify_or_by_a_person() {
    let snow = Standin::start("servicenow_standin.py", "rectify", "pw-standin-1");
    let account = new_account();
    let site = site_with(&account, &servicenow_tickets(&snow.base, 3600));

    // Fixed by rectify: one incident, resolved with rectify's close code,
    // after a 429 (with Retry-After) and a 503 were retried.
    snow.post(
        "/_standin/faults",
        &json!({"status": 429, "count": 1, "retry_after": 1}),
    );
    let (bucket, _) = public_bucket(&account, &[]).await;
    let fixed = s3_finding(&account, &bucket);
    let fixed_id = fixed["Id"].as_str().unwrap().to_string();
    let jobs = site.process(
        &site.write_event("fixed.json", &imported(&account, vec![fixed])),
        &[],
    );
    assert_eq!(outcome(&jobs[0]), "changed", "{}", jobs[0]);
    let incidents = incidents_of(&snow, &fixed_id);
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0]["state"], "6");
    assert_eq!(incidents[0]["close_code"], "Solved (Permanently)");
    assert!(incidents[0]["close_notes"]
        .as_str()
        .unwrap()
        .contains("RESOLVED after rectify read the resource back"));
    assert!(incidents[0]["correlation_id"]
        .as_str()
        .unwrap()
        .starts_with("rectify-"));
    let faults: Vec<Value> = snow
        .requests()
        .into_iter()
        .filter(|r| r["fault"] == true)
        .collect();
    assert_eq!(faults.len(), 1, "{faults:?}");
    snow.assert_all_requests_valid();

    // Left in place (exempt): the incident stays open with a work note per
    // step; a redelivered finding adds a note, never a second incident.
    let (exempt, _) = public_bucket(&account, &[("rectify:exempt", "website")]).await;
    let open = s3_finding(&account, &exempt);
    let open_id = open["Id"].as_str().unwrap().to_string();
    snow.post("/_standin/faults", &json!({"status": 503, "count": 1}));
    for name in ["open-1.json", "open-2.json"] {
        let jobs = site.process(
            &site.write_event(name, &imported(&account, vec![open.clone()])),
            &[],
        );
        assert_eq!(outcome(&jobs[0]), "skipped", "{}", jobs[0]);
    }
    let incidents = incidents_of(&snow, &open_id);
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0]["state"], "1");
    let notes = incidents[0]["journal"].as_array().unwrap();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0]["value"].as_str().unwrap().contains("skipped"));

    // A crash between the incident's creation and the store's record of
    // it: the row is found reserved, the incident found by its
    // correlation id, and no second one is made.
    let db = rusqlite::Connection::open(site.path("rectify.db")).unwrap();
    let reset = db
        .execute(
            "UPDATE tickets SET state = 'reserved', remote_id = NULL, remote_key = NULL, \
             updated_at = '2000-01-01T00:00:00.000Z' WHERE finding_id = ?1",
            [&open_id],
        )
        .unwrap();
    assert_eq!(reset, 1);
    drop(db);
    site.process(
        &site.write_event("open-3.json", &imported(&account, vec![open.clone()])),
        &[],
    );
    assert_eq!(incidents_of(&snow, &open_id).len(), 1);
    assert_eq!(audit_of(&site, "ticket.found").len(), 1);
    let number = incidents[0]["number"].as_str().unwrap().to_string();
    let sys_id = incidents[0]["sys_id"].as_str().unwrap().to_string();

    // A person closes it as an accepted risk; the signed webhook tells
    // rectify, which reads the incident and suppresses the finding.
    let server = Server::start(&site);
    snow.post(
        &format!("/_standin/incidents/{sys_id}/close"),
        &json!({"state": "6", "close_code": "Risk Accepted", "close_notes": "accepted until Q3", "by": "jane"}),
    );
    let body = json!({"number": number}).to_string();
    let (status, reply) = http(
        &server.base,
        "POST",
        "/v1/tickets/snow/webhook",
        None,
        Some(&body),
    );
    assert_eq!(status, 401, "{reply}");
    let signed = signed_post(
        &server.base,
        "/v1/tickets/snow/webhook",
        &body,
        b"whsec-wrong-secret",
    );
    assert_eq!(signed.0, 401, "{}", signed.1);
    let (status, reply) = signed_post(
        &server.base,
        "/v1/tickets/snow/webhook",
        &body,
        b"whsec-0123456789abcdef",
    );
    assert_eq!(status, 200, "{reply}");
    assert!(reply.contains("SUPPRESSED"), "{reply}");
    let update = wait_for_update(&open_id, "SUPPRESSED");
    let note = update["body"]["Note"]["Text"].as_str().unwrap();
    assert!(
        note.contains(&number) && note.contains("closed by a person"),
        "{note}"
    );
    // Unknown tickets are refused; a bearer token needs the tickets scope.
    let unknown = json!({"number": "INC9999999"}).to_string();
    let (status, _) = signed_post(
        &server.base,
        "/v1/tickets/snow/webhook",
        &unknown,
        b"whsec-0123456789abcdef",
    );
    assert_eq!(status, 404);
    let (status, _) = http(
        &server.base,
        "POST",
        "/v1/tickets/snow/webhook",
        Some(&site.token),
        Some(&body),
    );
    assert_eq!(status, 401);
    drop(server);

    let closed = audit_of(&site, "ticket.closed-by-person");
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(closed[0]["data"]["workflow"], "SUPPRESSED");
    assert_eq!(closed[0]["data"]["ticket"], number.as_str());
    snow.assert_all_requests_valid();
}

/// POSTs `body` signed as rectify's webhooks are (timestamp now).
fn signed_post(base: &str, path: &str, body: &str, secret: &[u8]) -> (u16, String) {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signature = rectify_notify::sign::signature(secret, ts, body.as_bytes());
    let host = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    use std::io::{Read, Write};
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nX-Rectify-Timestamp: {ts}\r\nX-Rectify-Signature: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn jira_issue_per_finding_and_a_person_closing_it_closes_the_finding() {
    let jira = Standin::start("jira_standin.py", "bot@example.com", "pw-standin-1");
    let account = new_account();
    let tickets = format!(
        "  poll_seconds: 1\n  systems:\n    jira:\n      template:\n        summary: \"[{{{{ severity or 'n/a' }}}}] {{{{ control }}}} {{{{ resource }}}} in {{{{ account }}}}\"\n        note: \"Step {{{{ outcome }}}} by rule {{{{ rule }}}}{{% if fixed %}}; fixed and read back{{% endif %}}\"\n      jira:\n        url: {}\n        email: bot@example.com\n        api_token_file: system.secret\n        project: SEC\n",
        jira.base
    );
    let site = site_with(&account, &tickets);

    // Fixed by rectify: an issue, commented and taken through "Done".
    jira.post("/_standin/faults", &json!({"status": 500, "count": 2}));
    let (bucket, _) = public_bucket(&account, &[]).await;
    let fixed = s3_finding(&account, &bucket);
    let jobs = site.process(
        &site.write_event("fixed.json", &imported(&account, vec![fixed])),
        &[],
    );
    assert_eq!(outcome(&jobs[0]), "changed", "{}", jobs[0]);
    let issues = jira.get("/_standin/issues")["issues"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0]["status"], "Done");
    assert_eq!(issues[0]["resolution"], "Done");
    assert!(issues[0]["labels"]
        .as_array()
        .unwrap()
        .contains(&json!("rectify")));
    assert_eq!(issues[0]["comments"].as_array().unwrap().len(), 1);
    // The system's own templates wrote the summary and the comment.
    let summary = issues[0]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with('[')
            && summary.contains("] S3.8 ")
            && summary.contains(&bucket)
            && summary.ends_with(&format!(" in {account}")),
        "{summary}"
    );
    let comment = issues[0]["comments"][0]["body"].to_string();
    assert!(
        comment.contains("Step changed by rule ") && comment.contains("fixed and read back"),
        "{comment}"
    );

    // Left in place: the issue stays open; a person closes it as "Won't
    // Do" and the poll of `rectify serve` suppresses the finding.
    let (exempt, _) = public_bucket(&account, &[("rectify:exempt", "website")]).await;
    let open = s3_finding(&account, &exempt);
    let open_id = open["Id"].as_str().unwrap().to_string();
    site.process(
        &site.write_event("open.json", &imported(&account, vec![open])),
        &[],
    );
    let issues = jira.get("/_standin/issues")["issues"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(issues.len(), 2, "{issues:?}");
    let key = issues[1]["key"].as_str().unwrap().to_string();
    assert_eq!(issues[1]["status"], "To Do");
    let _server = Server::start(&site);
    jira.post(
        &format!("/_standin/issues/{key}/close"),
        &json!({"status": "Done", "resolution": "Won't Do", "by": "jane"}),
    );
    let update = wait_for_update(&open_id, "SUPPRESSED");
    let note = update["body"]["Note"]["Text"].as_str().unwrap();
    assert!(
        note.contains(&key) && note.contains("closed by a person"),
        "{note}"
    );
    jira.assert_all_requests_valid();
    assert_eq!(
        jira.requests()
            .iter()
            .filter(|r| r["fault"] == true)
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_resolving_the_incident_resolves_the_finding_through_the_poll() {
    let snow = Standin::start("servicenow_standin.py", "rectify", "pw-standin-1");
    let account = new_account();
    let site = site_with(&account, &servicenow_tickets(&snow.base, 1));
    let (exempt, _) = public_bucket(&account, &[("rectify:exempt", "website")]).await;
    let open = s3_finding(&account, &exempt);
    let open_id = open["Id"].as_str().unwrap().to_string();
    let _server = Server::start(&site);
    _server.submit(&site.token, &imported(&account, vec![open]).to_string());
    let mut incident = None;
    for _ in 0..100 {
        if let Some(i) = incidents_of(&snow, &open_id).pop() {
            incident = Some(i);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let incident = incident.expect("an incident was opened");
    let number = incident["number"].as_str().unwrap();
    snow.post(
        &format!("/_standin/incidents/{}/close", incident["sys_id"].as_str().unwrap()),
        &json!({"state": "6", "close_code": "Solved (Permanently)", "close_notes": "removed the website", "by": "jane"}),
    );
    let update = wait_for_update(&open_id, "RESOLVED");
    let note = update["body"]["Note"]["Text"].as_str().unwrap();
    assert!(
        note.contains(number)
            && note.contains("closed by a person")
            && note.contains("not on a read-back"),
        "{note}"
    );
    assert_eq!(update["body"]["Note"]["UpdatedBy"], "rectify");
    snow.assert_all_requests_valid();
}
