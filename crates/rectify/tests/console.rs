//! The approval console in a real headless Chromium (Debian's package,
//! driven by playwright-core from tests/browser): a person connects with
//! a token, sees the planned change of a job waiting for approval,
//! approves it, and the resource is fixed; then undoes the change, approves
//! the undo, and the resource is as it was; text from a hostile finding is
//! shown as text. `make test` installs Chromium and the driver
//! (scripts/browser-deps).

mod support;

use std::process::Command;

use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_person_approves_a_planned_change_in_the_console() {
    let account = new_account();
    let inbox = Inbox::new(&format!("console-{account}")).await;
    let site = Site::new(&account, "approve", &inbox.topic_arn, &rules(""));
    let s3 = s3(&account_config(&account).await);
    let bucket = format!("console-{account}");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let server = Server::start(&site);

    // The page is served without a token, with a strict policy.
    let (status, page) = http(&server.base, "GET", "/", None, None);
    assert_eq!(status, 200);
    assert!(page.contains("Waiting for approval"), "{page}");

    // A finding for the bucket, and one naming markup as its resource, in
    // an account rectify does not know (skipped, but listed).
    let hostile = "arn:aws:s3:::<img src=x onerror=alert(1)>";
    let events = json!([
        imported(
            &account,
            vec![finding(
                &account,
                "S3.8",
                "AwsS3Bucket",
                &format!("arn:aws:s3:::{bucket}")
            )]
        ),
        imported(
            "999999999999",
            vec![finding("999999999999", "S3.8", "AwsS3Bucket", hostile)]
        ),
    ]);
    let reply = server.submit(&site.token, &events.to_string());
    let id = reply["events"][0]["jobs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let waiting = server.wait_job(&site.token, &id);
    assert_eq!(waiting["state"], "waiting-approval", "{waiting}");

    let browser_dir = repo_root().join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "the browser driver is not installed: run scripts/browser-deps (make test does)"
    );
    let out = Command::new("node")
        .current_dir(&browser_dir)
        .arg("approve.mjs")
        .args([
            &server.base,
            &site.token,
            &id,
            &format!("arn:aws:s3:::{bucket}"),
            hostile,
        ])
        .output()
        .expect("run node (scripts/browser-deps installs what the test needs)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Approved in the browser: run, fixed, and recorded with the token's name.
    let job = server.wait_job(&site.token, &id);
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["approved_by"], "api:tests");
    assert_eq!(outcome_kind(&job), "changed");
    // Then undone in the browser, after approval: the bucket is as it was
    // before the change (it had no Block Public Access configuration).
    let printed = String::from_utf8_lossy(&out.stdout);
    let undo = printed
        .lines()
        .find_map(|l| l.strip_prefix("undo "))
        .expect("the browser test names the undo job")
        .trim()
        .to_string();
    let undone = server.wait_job(&site.token, &undo);
    assert_eq!(undone["state"], "succeeded", "{undone}");
    assert_eq!(undone["event_id"], format!("revert:{id}"));
    assert_eq!(outcome_kind(&undone), "changed", "{undone}");
    assert!(
        s3.get_public_access_block()
            .bucket(&bucket)
            .send()
            .await
            .is_err(),
        "the bucket's Block Public Access configuration is back to none"
    );
    drop(server);
    let out = site.rectify(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0));
}

fn outcome_kind(job: &serde_json::Value) -> &str {
    job["outcome"]["kind"].as_str().unwrap_or("")
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
    for path in ["/", "/console/console.js", "/console/console.css"] {
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
    // The data is not: the API still wants a token.
    let (status, _) = http(&server.base, "GET", "/v1/jobs", None, None);
    assert_eq!(status, 401);
}
