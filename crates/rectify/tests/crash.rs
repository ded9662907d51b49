//! Crash safety: `rectify serve` is killed with SIGKILL at random moments
//! while 2,000 events arrive; after every restart it carries on. In the end
//! every event has had exactly one effect and the audit chain is intact.

mod support;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};
use support::http;

const EVENTS: usize = 2_000;
const KILLS: usize = 20;
const BATCH: usize = 25;

/// One or more `rectify serve` replicas sharing a store.
struct Cluster {
    dir: tempfile::TempDir,
    ports: Vec<u16>,
    children: Vec<Option<Child>>,
    token: String,
}

impl Cluster {
    fn new(store: Option<&str>, replicas: usize) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let token = "crash-test-token-0123456789".to_string();
        let store = store
            .map(str::to_string)
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("rectify.db").display()));
        let config = format!(
            "store: {store}\n\
             accounts:\n  - id: \"111122223333\"\n\
             execution:\n  lease_seconds: 5\n\
             guardrails:\n  max_changes_per_account_per_hour: off\n  max_percent_of_type_per_hour: off\n\
             api:\n  tokens:\n    - name: driver\n      token: \"{token}\"\n      scopes: [ingest, read]\n\
             rules:\n  - id: journal\n    pattern: {{source: [crash.test]}}\n    action: local.journal\n    params: {{path: {journal}}}\n    mode: auto\n",
            journal = dir.path().join("journal.txt").display(),
        );
        std::fs::write(dir.path().join("rectify.yaml"), config).unwrap();
        let ports = (0..replicas)
            .map(|_| {
                std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            })
            .collect();
        let mut cluster = Cluster {
            dir,
            ports,
            children: (0..replicas).map(|_| None).collect(),
            token,
        };
        for r in 0..replicas {
            cluster.start(r);
        }
        cluster
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rectify"));
        cmd.current_dir(self.dir.path())
            .env("RECTIFY_CONFIG", self.dir.path().join("rectify.yaml"))
            .env_remove("RECTIFY_LOG");
        cmd
    }

    fn start(&mut self, replica: usize) {
        let port = self.ports[replica];
        let child = self
            .command()
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--worker-id",
                &format!("replica-{replica}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children[replica] = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "serve did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, then start again.
    fn kill_and_restart(&mut self, replica: usize) {
        if let Some(mut child) = self.children[replica].take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        self.start(replica);
    }

    fn base(&self, replica: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[replica])
    }

    /// POSTs a batch to a replica; true when it was acknowledged (202).
    fn send(&self, replica: usize, batch: &[Value]) -> bool {
        let body = Value::Array(batch.to_vec()).to_string();
        let base = self.base(replica);
        let result = std::panic::catch_unwind(|| {
            http(&base, "POST", "/v1/events", Some(&self.token), Some(&body))
        });
        matches!(result, Ok((202, _)))
    }

    fn unsettled(&self) -> Option<u64> {
        let base = self.base(0);
        let result =
            std::panic::catch_unwind(|| http(&base, "GET", "/metrics", Some(&self.token), None));
        let Ok((200, text)) = result else { return None };
        let mut open = 0;
        for line in text.lines() {
            for state in ["pending", "running", "retrying"] {
                if let Some(n) = line.strip_prefix(&format!("rectify_jobs{{state=\"{state}\"}} ")) {
                    open += n.trim().parse::<u64>().unwrap_or(0);
                }
            }
        }
        Some(open)
    }

    /// Every audit record, read page by page through the CLI.
    fn audit_records(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .command()
                .args(["audit", "list", "--output", "json", "--limit", "1000"])
                .args(["--after", &after.to_string()])
                .output()
                .unwrap();
            assert!(page.status.success(), "{page:?}");
            let records: Vec<Value> = serde_json::from_slice(&page.stdout).unwrap();
            let Some(last) = records.last() else {
                return out;
            };
            after = last["seq"].as_i64().unwrap();
            out.extend(records);
        }
    }

    fn stop(&mut self) {
        for child in self.children.iter_mut().filter_map(Option::take) {
            let mut child = child;
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

/// A failed assertion must not leave servers behind.
impl Drop for Cluster {
    fn drop(&mut self) {
        for mut child in self.children.iter_mut().filter_map(Option::take) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn event(i: usize) -> Value {
    json!({
        "version": "0", "id": format!("crash-{i}"), "detail-type": "Crash Test",
        "source": "crash.test", "account": "111122223333", "region": "us-east-1",
        "time": "2026-11-29T10:00:00Z", "resources": [format!("res-{i}")], "detail": {"n": i}
    })
}

/// Feeds every event, killing a random replica at random moments, then
/// waits until no job is open and checks the journal and the audit chain.
fn run(mut cluster: Cluster) {
    let replicas = cluster.ports.len();
    let events: Vec<Value> = (0..EVENTS).map(event).collect();
    let mut rng = rand::rng();
    let mut kills = 0;
    let mut next_kill = Instant::now() + Duration::from_millis(rng.random_range(100..600));
    let mut sent = 0;
    let started = Instant::now();
    loop {
        if sent < EVENTS {
            let end = (sent + BATCH).min(EVENTS);
            if cluster.send(rng.random_range(0..replicas), &events[sent..end]) {
                sent = end;
            } else {
                std::thread::sleep(Duration::from_millis(20));
            }
        } else if kills >= KILLS {
            match cluster.unsettled() {
                Some(0) => break,
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
        if kills < KILLS && Instant::now() >= next_kill {
            cluster.kill_and_restart(rng.random_range(0..replicas));
            kills += 1;
            next_kill = Instant::now() + Duration::from_millis(rng.random_range(100..600));
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "did not settle: sent {sent}, kills {kills}"
        );
    }
    cluster.stop();

    let journal = std::fs::read_to_string(cluster.dir.path().join("journal.txt")).unwrap();
    let mut effects: HashMap<&str, usize> = HashMap::new();
    for line in journal.lines() {
        *effects.entry(line).or_default() += 1;
    }
    let doubled: Vec<_> = effects.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "applied twice: {doubled:?}");
    let missing: Vec<String> = (0..EVENTS)
        .map(|i| format!("res-{i}"))
        .filter(|r| !effects.contains_key(r.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} events never applied, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(effects.len(), EVENTS);

    // The record says what happened, once: every resource was changed by
    // rectify, so no job may call it already compliant, and each change
    // has exactly one `job.applied` record, even when a kill fell between
    // the write and the job's final save.
    let records = cluster.audit_records();
    let mut applied: HashMap<String, usize> = HashMap::new();
    let mut already = Vec::new();
    for r in &records {
        match r["kind"].as_str() {
            Some("job.applied") => *applied.entry(r["subject"].to_string()).or_default() += 1,
            Some("job.succeeded") if r["data"]["outcome"] == "already-compliant" => {
                already.push(r["subject"].clone())
            }
            _ => {}
        }
    }
    assert!(
        already.is_empty(),
        "{} jobs reported already-compliant for their own change, e.g. {:?}",
        already.len(),
        &already[..already.len().min(3)]
    );
    let twice: Vec<_> = applied.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "applied recorded twice: {twice:?}");
    assert_eq!(applied.len(), EVENTS);

    let out = cluster
        .command()
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn sigkill_at_random_moments_loses_nothing_and_doubles_nothing() {
    run(Cluster::new(None, 1));
}

#[test]
fn three_replicas_on_postgres_killed_at_random() {
    let schema = support::PgSchema::new("rectify_crash");
    run(Cluster::new(Some(&schema.url()), 3));
}

/// SIGTERM: no new work is taken, running jobs finish within the grace
/// period, the rest stays pending for the next start.
#[test]
fn sigterm_finishes_running_jobs_and_leaves_the_rest_pending() {
    let dir = tempfile::tempdir().unwrap();
    let token = "shutdown-test-token-0123456789";
    std::fs::write(
        dir.path().join("rectify.yaml"),
        format!(
            "store: sqlite://{}\naccounts:\n  - id: \"111122223333\"\nexecution:\n  concurrency: 2\n\
             api:\n  tokens:\n    - name: t\n      token: \"{token}\"\n\
             rules:\n  - id: slow\n    pattern: {{source: [crash.test]}}\n    action: local.noop\n    params: {{delay_ms: 1500}}\n    mode: auto\n",
            dir.path().join("r.db").display()
        ),
    )
    .unwrap();
    let rectify = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rectify"));
        cmd.current_dir(dir.path())
            .env("RECTIFY_CONFIG", dir.path().join("rectify.yaml"))
            .args(args);
        cmd
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = rectify(&[
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--shutdown-grace",
        "10",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let events: Vec<Value> = (0..8).map(event).collect();
    let (status, _) = http(
        &format!("http://127.0.0.1:{port}"),
        "POST",
        "/v1/events",
        Some(token),
        Some(&Value::Array(events).to_string()),
    );
    assert_eq!(status, 202);
    std::thread::sleep(Duration::from_millis(500));
    let stopped_at = Instant::now();
    // SAFETY: plain kill(2) on our own child.
    let rc = unsafe { libc_kill(child.id() as i32, 15) };
    assert_eq!(rc, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let took = stopped_at.elapsed();
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");

    let count = |state: &str| {
        let out = rectify(&["jobs", "list", "--state", state, "--output", "json"])
            .output()
            .unwrap();
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count("running"), 0);
    assert_eq!(count("succeeded"), 2, "the two running jobs finish");
    assert_eq!(count("pending"), 6, "the rest waits for the next start");
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
