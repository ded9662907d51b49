//! An in-process `rectify serve` HTTP API on a loopback port, over a real
//! SQLite store, and a plain HTTP/1.1 client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rectify_config::Loader;
use rectify_engine::quiet::{NoFindingUpdates, NoNotifications};
use rectify_engine::{Engine, EngineOptions};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const INGEST: &str = "ingest-token-0123456789";
pub const READ: &str = "read-token-0123456789ab";
pub const OPS: &str = "ops-token-0123456789abc";
pub const ALL: &str = "all-token-0123456789abc";
pub const RULE: &str = "noop-approve";
/// Matches Security Hub findings of the control `TEST.1` (no mode: the
/// config's default, `approve`).
pub const FINDING_RULE: &str = "test-control";

pub struct TestServer {
    pub addr: SocketAddr,
    pub engine: Arc<Engine>,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Submits `event(id)` with `token` and runs the job to where it waits
    /// for approval (the plan is made by a worker); returns its id.
    pub async fn waiting_job(&self, token: &str, id: &str) -> String {
        let job = submit(self.addr, token, id).await;
        self.engine.run_ready().await.unwrap();
        let stored = self.engine.store().get_job(&job).await.unwrap().unwrap();
        assert_eq!(stored.state, rectify_model::JobState::WaitingApproval);
        job
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The API with four tokens (ingest only, read only, read+approve+admin,
/// all four scopes), one approve-mode rule on `local.noop`, and `api_extra`
/// appended under `api:` (indented by two spaces).
pub async fn start(api_extra: &str) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    start_in(dir, "", api_extra).await
}

/// Like [`start`] with the store at `db_dir/rectify.db` (`db_dir` empty:
/// in the temporary folder).
pub async fn start_in(dir: tempfile::TempDir, db_dir: &str, api_extra: &str) -> TestServer {
    let db = if db_dir.is_empty() {
        dir.path().join("rectify.db")
    } else {
        Path::new(db_dir).join("rectify.db")
    };
    let url = format!("sqlite://{}", db.display());
    let yaml = format!(
        "store: {url}\naccounts:\n  - id: \"111122223333\"\n\
         api:\n  tokens:\n\
         \x20   - name: eventbridge\n      token: {INGEST}\n\
         \x20   - name: auditor\n      token: {READ}\n      scopes: [read]\n\
         \x20   - name: ops\n      token: {OPS}\n      scopes: [read, approve, admin]\n\
         \x20   - name: all\n      token: {ALL}\n      scopes: [ingest, read, approve, admin]\n\
         {api_extra}\
         rules:\n  - id: {RULE}\n    pattern: {{source: [test.source]}}\n    action: local.noop\n    mode: approve\n\
         \x20 - id: journal\n    pattern: {{source: [test.journal]}}\n    action: local.journal\n    params: {{path: {journal}}}\n    mode: approve\n\
         \x20 - id: {FINDING_RULE}\n    pattern: {{source: [aws.securityhub], detail: {{findings: {{Compliance: {{SecurityControlId: [TEST.1]}}}}}}}}\n    action: local.noop\n",
        journal = dir.path().join("journal.txt").display()
    );
    let config = Loader::new()
        .load_str(&yaml, &dir.path().join("rectify.yaml"))
        .unwrap_or_else(|d| panic!("{d:?}"));
    let store = rectify_store::open(&url).await.unwrap();
    let engine = Arc::new(
        Engine::new(
            Arc::new(config),
            store,
            rectify_local::catalog(),
            Arc::new(NoFindingUpdates),
            Arc::new(NoNotifications),
            EngineOptions::default(),
        )
        .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(rectify_server::serve(
        rectify_server::Api::new(engine.clone()),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    TestServer {
        addr,
        engine,
        dir,
        stop: Some(stop),
        task: Some(task),
    }
}

/// One event the test rule matches, for a resource of its own.
pub fn event(id: &str) -> Value {
    json!({
        "version": "0", "id": id, "source": "test.source", "detail-type": "test",
        "account": "111122223333", "region": "eu-west-1", "time": "2026-12-01T10:00:00Z",
        "resources": [format!("arn:aws:s3:::bucket-{id}")], "detail": {}
    })
}

pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// One request on a new connection (`Connection: close`); `headers` are
/// extra lines such as `("Content-Type", "application/json")`.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    request_on(stream, addr, method, path, token, headers, body).await
}

pub async fn request_on(
    mut stream: tokio::net::TcpStream,
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = token {
        text.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse_reply(&raw)
}

pub fn parse_reply(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

pub async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Reply {
    request(addr, "GET", path, token, &[], "").await
}

pub async fn post_json(addr: SocketAddr, path: &str, token: Option<&str>, body: &str) -> Reply {
    request(
        addr,
        "POST",
        path,
        token,
        &[("Content-Type", "application/json")],
        body,
    )
    .await
}

/// Submits `event(id)` with `token`; returns the id of the job it made.
pub async fn submit(addr: SocketAddr, token: &str, id: &str) -> String {
    let reply = post_json(addr, "/v1/events", Some(token), &event(id).to_string()).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    reply.json()["events"][0]["jobs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}
