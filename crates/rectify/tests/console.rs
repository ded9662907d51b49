//! The console in a real headless Chromium (Debian's package, driven by
//! playwright-core from tests/browser/console.mjs), on every page: a
//! read-only token cannot approve; jobs filtered; a planned change shown
//! as a diff, approved, applied and undone; a plan changed after it was
//! shown is refused, then rejected with a reason; a failed job retried;
//! findings filtered and a hostile finding shown as text; a fix on demand
//! planned, approved with the keyboard alone and applied; a paused rule
//! resumed from the overview; open findings and fixes over time; jobs
//! made from outside shown on the overview and the jobs list without a
//! reload; a rejection sent to the rule's channel; pages that reflow at
//! 200% zoom; rules, coverage and the audit chain with its anchors.
//! Each resource is read back here. Screenshots of the pages land in
//! docs/console/. `make test` installs Chromium and the driver
//! (scripts/browser-deps).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::json;
use support::*;

/// The text put in every field of the hostile finding.
const SCRIPT: &str = "<script>window.__pwned=1</script>";
const IMG: &str = "<img src=x onerror=window.__pwned=1>";

#[tokio::test(flavor = "multi_thread")]
async fn every_page_of_the_console_in_a_browser() {
    let account = new_account();
    let inbox = Inbox::new(&format!("console-{account}")).await;
    let site = Site::new(&account, "approve", &inbox.topic_arn, &rules(""));
    // A second person, who may only read.
    let viewer = format!("viewer-{}", rand_suffix());
    let config_path = site.path("rectify.yaml");
    let config = std::fs::read_to_string(&config_path).unwrap().replace(
        "      scopes: [ingest, read, approve, admin]\n",
        &format!(
            "      scopes: [ingest, read, approve, admin]\n    - name: viewer\n      token: \"{viewer}\"\n      scopes: [read]\n"
        ),
    );
    // The audit log keyed and anchored in a bucket under Object Lock.
    let anchors = format!("console-anchors-{}", rand_suffix());
    s3(&home_config().await)
        .create_bucket()
        .bucket(&anchors)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    std::fs::write(
        site.path("audit.key"),
        format!("console-audit-key-{}-0123456789abcdef", rand_suffix()),
    )
    .unwrap();
    let anchor_prefix = "console/anchors";
    let config = format!(
        "{config}audit:\n  key_file: {key}\n  anchor:\n    s3_bucket: {anchors}\n    prefix: {anchor_prefix}\n    interval_seconds: 3600\n    retain_days: 1\n",
        key = site.path("audit.key").display()
    );
    std::fs::write(&config_path, config).unwrap();
    let s3 = s3(&account_config(&account).await);
    let suffix = rand_suffix();
    let [approved, changed, fixed, live_a, live_b] =
        ["approved", "changed", "fixed", "live-a", "live-b"]
            .map(|name| format!("console-{name}-{suffix}"));
    for bucket in [&approved, &changed, &fixed, &live_a, &live_b] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    // No such bucket: the job fails, and is retried from the console.
    let missing = format!("console-missing-{suffix}");
    let server = Server::start(&site);

    let mut hostile = unseeded_finding(
        "999999999999",
        "S3.8",
        "AwsS3Bucket",
        &format!("arn:aws:s3:::{IMG}"),
    );
    hostile["Id"] = json!(format!("{IMG}-{suffix}"));
    hostile["Title"] = json!(SCRIPT);
    hostile["Description"] = json!(IMG);
    hostile["GeneratorId"] = json!(SCRIPT);
    hostile["Types"] = json!([IMG]);
    hostile["ProductFields"] = json!({"note": SCRIPT});
    let events = json!([
        imported(&account, vec![s3_finding(&account, &approved)]),
        imported(&account, vec![s3_finding(&account, &changed)]),
        imported(&account, vec![s3_finding(&account, &missing)]),
        imported("999999999999", vec![hostile]),
    ]);
    let reply = server.submit(&site.token, &events.to_string());
    let job_of = |i: usize| {
        reply["events"][i]["jobs"][0]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (approve_job, changed_job, failed_job) = (job_of(0), job_of(1), job_of(2));
    for id in [&approve_job, &changed_job] {
        let job = server.wait_job(&site.token, id);
        assert_eq!(job["state"], "waiting-approval", "{job}");
    }
    // Approved through the API so that it runs, and fails.
    http(
        &server.base,
        "POST",
        &format!("/v1/jobs/{failed_job}/approve"),
        Some(&site.token),
        None,
    );
    let failed = server.wait_job(&site.token, &failed_job);
    assert!(
        ["failed", "dead"].contains(&failed["state"].as_str().unwrap()),
        "{failed}"
    );
    // Pasted into the fix-on-demand form (known to the Security Hub
    // stand-in, never sent as an event).
    let fix_finding = s3_finding(&account, &fixed);

    // A rule paused by a person, resumed from the overview.
    let (status, body) = http(
        &server.base,
        "POST",
        "/v1/pause?rule=iam-password-policy",
        Some(&site.token),
        None,
    );
    assert_eq!(status, 200, "{body}");

    // An anchor of the chain as it is now, for the audit page.
    assert_eq!(site.rectify(&["audit", "anchor"]).status.code(), Some(0));

    let browser_dir = repo_root().join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "the browser driver is not installed: run scripts/browser-deps (make test does)"
    );
    let shots = repo_root().join("docs/console");
    std::fs::create_dir_all(&shots).unwrap();
    let setup = json!({
        "base": server.base,
        "token": site.token,
        "viewer": viewer,
        "shots": shots,
        "paused": {"rule": "iam-password-policy", "why": "paused by api:tests"},
        "approve": {"job": approve_job, "account": account, "resource": format!("arn:aws:s3:::{approved}")},
        "changed": {"job": changed_job},
        "failed": {"job": failed_job},
        "hostile": {"account": "999999999999", "text": [SCRIPT, IMG]},
        "fix": {"finding": fix_finding, "rule": "s3-bpa", "resource": format!("arn:aws:s3:::{fixed}")},
        // Submitted from outside the page while it is open.
        "live": [
            imported(&account, vec![s3_finding(&account, &live_a)]),
            imported(&account, vec![s3_finding(&account, &live_b)]),
        ],
        "anchors": {"prefix": anchor_prefix},
    });
    let mut node = Command::new("node")
        .current_dir(&browser_dir)
        .arg("console.mjs")
        .arg(setup.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node (scripts/browser-deps installs what the test needs)");
    let mut stdin = node.stdin.take().unwrap();
    let mut printed: Vec<String> = Vec::new();
    for line in BufReader::new(node.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        eprintln!("browser: {line}");
        if line.starts_with("shown ") {
            // The page shows the plan; the job now plans another change
            // (as if the resource had changed since).
            let db = rusqlite::Connection::open(site.path("rectify.db")).unwrap();
            db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            let n = db
                .execute(
                    "UPDATE jobs SET plan = json_set(plan, '$.summary', 'another change, planned after the page was drawn') WHERE id = ?1",
                    [&changed_job],
                )
                .unwrap();
            assert_eq!(n, 1);
            writeln!(stdin, "changed").unwrap();
        }
        printed.push(line);
    }
    let out = node.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        printed.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    let named = |what: &str| {
        printed
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{what} ")))
            .unwrap_or_else(|| panic!("the browser test names the {what} job"))
            .trim()
            .to_string()
    };

    // Approved in the browser: run, fixed, recorded with the token's name;
    // then undone, and the bucket is as it was (no Block Public Access).
    let job = server.wait_job(&site.token, &approve_job);
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["approved_by"], "api:tests");
    let undo = server.wait_job(&site.token, &named("undo"));
    assert_eq!(undo["state"], "succeeded", "{undo}");
    assert_eq!(undo["event_id"], format!("revert:{approve_job}"));
    assert!(
        s3.get_public_access_block()
            .bucket(&approved)
            .send()
            .await
            .is_err(),
        "the undo removed the Block Public Access configuration again"
    );

    // The plan changed after it was shown: not applied, then rejected.
    let job = server.wait_job(&site.token, &changed_job);
    assert_eq!(job["state"], "skipped", "{job}");
    assert!(job["approved_by"].is_null(), "{job}");
    let reason = job["outcome"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("rejected by api:tests: not during the freeze"),
        "{reason}"
    );
    assert_eq!(
        bpa(&s3, &changed).await,
        [false; 4],
        "the changed plan was not applied"
    );

    // The rejection went to the rule's channel like any outcome.
    let messages = inbox.messages().await;
    let told = messages
        .iter()
        .find(|m| m["job"] == changed_job.as_str() && m["kind"] == "rejected")
        .unwrap_or_else(|| panic!("no rejection among {messages:#?}"));
    assert_eq!(told["state"], "skipped");
    assert!(
        told["reason"]
            .as_str()
            .unwrap()
            .ends_with("not during the freeze"),
        "{told}"
    );

    // The jobs submitted while the pages were open are real jobs.
    let live: Vec<&str> = printed
        .iter()
        .filter_map(|l| l.strip_prefix("live "))
        .map(str::trim)
        .collect();
    assert_eq!(live.len(), 2, "two jobs made from outside the page");
    for id in live {
        let job = server.wait_job(&site.token, id);
        assert_eq!(job["state"], "waiting-approval", "{job}");
    }

    // The retry is a new job for the same resource, queued by the console.
    let retry = server.wait_job(&site.token, &named("retry"));
    assert_ne!(retry["id"], failed_job);
    assert_eq!(retry["target"], failed["target"]);

    // The fix on demand waited for approval, then fixed the bucket.
    let fix = server.wait_job(&site.token, &named("fix"));
    assert_eq!(fix["state"], "succeeded", "{fix}");
    assert_eq!(fix["rule_id"], "s3-bpa");
    assert_eq!(fix["approved_by"], "api:tests");
    assert_eq!(
        bpa(&s3, &fixed).await,
        [true; 4],
        "the fix on demand was applied"
    );

    // Resumed from the overview.
    let (_, overview) = http(&server.base, "GET", "/v1/overview", Some(&site.token), None);
    let overview: serde_json::Value = serde_json::from_str(&overview).unwrap();
    assert_eq!(overview["paused_rules"], json!({}), "{overview}");

    for page in [
        "overview", "jobs", "job", "findings", "finding", "fix", "rules", "audit",
    ] {
        assert!(
            shots.join(format!("{page}.png")).exists(),
            "no screenshot of {page}"
        );
    }
    drop(server);
    let out = site.rectify(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn the_console_is_served_with_a_strict_policy() {
    let site = Site::new(
        "111122223333",
        "approve",
        "arn:aws:sns:us-east-1:123456789012:t",
        &rules(""),
    );
    let server = Server::start(&site);
    let host = server.base.trim_start_matches("http://").to_string();
    for path in [
        "/",
        "/console/console.js",
        "/console/jobs.js",
        "/console/console.css",
    ] {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&host).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let head = response
            .split("\r\n\r\n")
            .next()
            .unwrap()
            .to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{path}: {head}");
        assert!(
            head.contains("content-security-policy: default-src 'none'; script-src 'self'"),
            "{path}: {head}"
        );
        assert!(head.contains("x-frame-options: deny"), "{path}: {head}");
        assert!(
            head.contains("x-content-type-options: nosniff"),
            "{path}: {head}"
        );
    }
    // No other file is served under /console/.
    let (status, _) = http(&server.base, "GET", "/console/secret.js", None, None);
    assert_eq!(status, 404);
    // The data is not: the API still wants a token.
    let (status, _) = http(&server.base, "GET", "/v1/jobs", None, None);
    assert_eq!(status, 401);
}
