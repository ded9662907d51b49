//! A digest channel across a crash: `rectify serve` is killed with SIGKILL
//! in the middle of a digest's period and started again; when the period
//! ends, a real HTTP receiver on loopback gets exactly one digest with
//! every item once (repeats folded), and nothing more. About 80 s: the
//! shortest period the config takes is a minute.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::http;

const TOKEN: &str = "digest-crash-token-0123456789";
const SECRET: &str = "whsec-digest-crash-0123456789";

/// Every request body a webhook receiver on loopback gets; each answered 200.
fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let log = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                // Requests on one kept-alive connection, one after another.
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let header = line.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap();
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    log.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                }
            });
        }
    });
    (url, got)
}

struct Serve {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Serve {
    fn start(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_rectify"))
            .current_dir(self.dir.path())
            .env("RECTIFY_CONFIG", self.dir.path().join("rectify.yaml"))
            .env("HOOK_SECRET", SECRET)
            .env_remove("RECTIFY_LOG")
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "serve did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn send(&self, events: &[Value]) {
        for batch in events.chunks(25) {
            let body = Value::Array(batch.to_vec()).to_string();
            let (status, _) = http(&self.base(), "POST", "/v1/events", Some(TOKEN), Some(&body));
            assert_eq!(status, 202);
        }
    }

    /// Waits until `succeeded` jobs have succeeded in all.
    fn settle(&self, succeeded: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, text) = http(&self.base(), "GET", "/metrics", Some(TOKEN), None);
            let done = text
                .lines()
                .find_map(|line| line.strip_prefix("rectify_jobs{state=\"succeeded\"} "))
                .map(|n| n.trim().parse::<u64>().unwrap_or(0))
                .unwrap_or(0);
            if done >= succeeded {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "jobs did not settle: {done} of {succeeded}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

fn event(id: &str, resource: usize) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": "Digest Test",
        "source": "digest.test", "account": "111122223333", "region": "us-east-1",
        "time": "2026-11-29T10:00:00Z", "resources": [format!("res-{resource}")], "detail": {}
    })
}

#[test]
fn a_serve_killed_mid_period_sends_the_digest_once_with_every_item() {
    let (url, got) = receiver();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "store: sqlite://{db}\n\
         accounts:\n  - id: \"111122223333\"\n\
         guardrails:\n  max_changes_per_account_per_hour: off\n  max_percent_of_type_per_hour: off\n\
         api:\n  tokens:\n    - name: driver\n      token: \"{TOKEN}\"\n      scopes: [ingest, read]\n\
         notifications:\n  digest:\n    webhook: {{url: '{url}', secret_env: HOOK_SECRET}}\n    digest_minutes: 1\n\
         rules:\n  - id: noop\n    pattern: {{source: [digest.test]}}\n    action: local.noop\n    mode: auto\n    notify: [digest]\n",
        db = dir.path().join("rectify.db").display(),
    );
    std::fs::write(dir.path().join("rectify.yaml"), config).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut serve = Serve {
        dir,
        port,
        child: None,
    };
    serve.start();
    let started = Instant::now();
    let first: Vec<Value> = (0..200).map(|i| event(&format!("a-{i}"), i)).collect();
    serve.send(&first);
    serve.settle(200);
    // Killed in the middle of the period, before anything was sent.
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "too slow for the period"
    );
    serve.kill();
    assert!(got.lock().unwrap().is_empty());

    serve.start();
    let second: Vec<Value> = (200..400).map(|i| event(&format!("b-{i}"), i)).collect();
    // The same resources again: repeats, folded into their items.
    let again: Vec<Value> = (0..20).map(|i| event(&format!("c-{i}"), i)).collect();
    serve.send(&second);
    serve.send(&again);
    serve.settle(420);
    assert!(
        got.lock().unwrap().is_empty(),
        "nothing before the period ends"
    );

    // The period ends a minute after the first item; serve sends what is
    // due every 5 seconds.
    let deadline = started + Duration::from_secs(90);
    while got.lock().unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    // Nothing more comes after.
    std::thread::sleep(Duration::from_secs(11));
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:#?}");
    let digest = &got[0]["message"];
    assert_eq!(digest["kind"], "digest");
    assert_eq!(digest["count"], 400);
    assert_eq!(digest["received"], 420);
    assert_eq!(digest["by_account"], json!({"111122223333": 400}));
}
