//! Test harness: a moto server (and the Security Hub stand-in) on loopback,
//! one per test binary, and SDK clients bound to a fresh account per test.
//!
//! `RECTIFY_TEST_MOTO_URL` / `RECTIFY_TEST_SECURITYHUB_URL` /
//! `RECTIFY_TEST_ACCESSANALYZER_URL` point at
//! servers already running (see `scripts/test-env`); otherwise the harness
//! starts them from `<repo>/.venv` (made by `scripts/venv`). Started servers
//! run under a `sh` watchdog that stops them when this process's end of its
//! stdin pipe closes, i.e. when the test binary exits, however it exits.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use rectify_aws::{AccountAccess, Aws, AwsSettings};
use rectify_model::{Action, Change, Observed, Target};

mod fixtures;
// Not every test binary that includes this support builds resources.
#[allow(unused_imports)]
pub use fixtures::*;

pub const REGION: &str = "us-east-1";
/// The account moto puts requests in when nothing else says: rectify's
/// "own" account in these tests.
pub const OWN_ACCOUNT: &str = "123456789012";

pub struct Harness {
    /// Where moto answers.
    pub moto_url: String,
    /// What `AWS_ENDPOINT_URL` points at (moto, or the recorder before it).
    pub endpoint_url: String,
    /// The Security Hub stand-in, when it could be found or started.
    pub securityhub_url: Result<String, String>,
    /// The IAM Access Analyzer stand-in (moto lacks the service), when it
    /// could be found or started.
    pub accessanalyzer_url: Result<String, String>,
    pub recorder: Option<Recorder>,
    _children: Vec<Child>,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The harness with `AWS_ENDPOINT_URL` pointing straight at moto.
pub fn harness() -> &'static Harness {
    HARNESS.get_or_init(|| init(false))
}

/// The harness with a recording proxy between the SDK and moto, to see
/// which requests were sent (e.g. how many `AssumeRole`).
pub fn harness_recording() -> &'static Harness {
    HARNESS.get_or_init(|| init(true))
}

fn init(recording: bool) -> Harness {
    let mut children = Vec::new();
    let moto_url = match std::env::var("RECTIFY_TEST_MOTO_URL") {
        Ok(url) if !url.is_empty() => url.trim_end_matches('/').to_string(),
        _ => {
            let venv = repo_root().join(".venv/bin/moto_server");
            assert!(
                venv.exists(),
                "{} is missing: run ./scripts/venv (or set RECTIFY_TEST_MOTO_URL)",
                venv.display()
            );
            let port = free_port();
            // moto with the EC2 operations it lacks added.
            let server = repo_root().join("tests/standins/moto_server.py");
            let child = watchdog(
                Command::new(repo_root().join(".venv/bin/python"))
                    .arg(server)
                    .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                    .env("MOTO_EC2_LOAD_DEFAULT_AMIS", "false"),
                "moto",
            );
            children.push(child);
            let url = format!("http://127.0.0.1:{port}");
            wait_listening(port, "moto_server");
            url
        }
    };

    let securityhub_url = match std::env::var("RECTIFY_TEST_SECURITYHUB_URL") {
        Ok(url) if !url.is_empty() => Ok(url.trim_end_matches('/').to_string()),
        _ => start_standin(
            &mut children,
            "securityhub_standin.py",
            &["--strict"],
            "securityhub",
        ),
    };
    let accessanalyzer_url = match std::env::var("RECTIFY_TEST_ACCESSANALYZER_URL") {
        Ok(url) if !url.is_empty() => Ok(url.trim_end_matches('/').to_string()),
        _ => start_standin(
            &mut children,
            "accessanalyzer_standin.py",
            &["--moto-url", &moto_url],
            "accessanalyzer",
        ),
    };

    let recorder = recording.then(|| Recorder::start(&moto_url));
    let endpoint_url = recorder
        .as_ref()
        .map(|r| r.url.clone())
        .unwrap_or_else(|| moto_url.clone());

    // Process-global, set once before any SDK client of this binary exists.
    std::env::set_var("AWS_ENDPOINT_URL", &endpoint_url);
    if let Ok(url) = &securityhub_url {
        std::env::set_var("AWS_ENDPOINT_URL_SECURITYHUB", url);
    }
    if let Ok(url) = &accessanalyzer_url {
        std::env::set_var("AWS_ENDPOINT_URL_ACCESSANALYZER", url);
    }
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIARECTIFYTESTS0001");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "rectify-test-secret");
    std::env::remove_var("AWS_SESSION_TOKEN");
    std::env::remove_var("AWS_PROFILE");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/rectify-test-config");
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/rectify-test-credentials",
    );

    Harness {
        moto_url,
        endpoint_url,
        securityhub_url,
        accessanalyzer_url,
        recorder,
        _children: children,
    }
}

/// Starts `tests/standins/<script>` on a free port and returns its URL
/// (the `READY` line it prints).
fn start_standin(
    children: &mut Vec<Child>,
    script: &str,
    args: &[&str],
    name: &str,
) -> Result<String, String> {
    let root = repo_root();
    let script = root.join("tests/standins").join(script);
    if !script.exists() {
        return Err(format!("{} is missing", script.display()));
    }
    let python = root.join(".venv/bin/python");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#""$@" & pid=$!; cat >/dev/null; kill $pid 2>/dev/null; wait $pid"#)
        .arg("sh")
        .arg(&python)
        .arg(&script)
        .args(["--host", "127.0.0.1", "--port", "0"])
        .args(args)
        .current_dir(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log_file(name))
        .spawn()
        .map_err(|e| format!("cannot start the {name} stand-in: {e}"))?;
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        while let Some(Ok(line)) = lines.next() {
            if let Some(url) = line.strip_prefix("READY ") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    children.push(child);
    rx.recv_timeout(Duration::from_secs(30))
        .map_err(|_| format!("the {name} stand-in did not print READY within 30 s"))
}

fn log_file(name: &str) -> Stdio {
    let path = std::env::temp_dir().join(format!(
        "rectify-aws-test-{name}-{}.log",
        std::process::id()
    ));
    std::fs::File::create(path)
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

/// Runs `cmd` under `sh`, which kills it once our end of its stdin closes.
fn watchdog(cmd: &mut Command, name: &str) -> Child {
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<_> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
        .collect();
    Command::new("sh")
        .arg("-c")
        .arg(r#""$@" & pid=$!; cat >/dev/null; kill $pid 2>/dev/null; wait $pid"#)
        .arg("sh")
        .arg(program)
        .args(args)
        .envs(envs)
        .stdin(Stdio::piped())
        .stdout(log_file(name))
        .stderr(log_file(&format!("{name}-err")))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not listen on port {port} within 30 s");
}

/// A 12-digit account id no other test uses.
pub fn random_account() -> String {
    format!("{:012}", 100_000_000_000 + random_u64() % 900_000_000_000)
}

pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

/// A name unique to this run, e.g. for S3 buckets (global across accounts).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:016x}", random_u64())
}

/// Puts requests in a moto account through `x-moto-account-id`.
#[derive(Debug)]
struct MotoAccount(String);

impl Intercept for MotoAccount {
    fn name(&self) -> &'static str {
        "MotoAccount"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// One test's account: the test's own SDK clients in it (to build and
/// read back resources independently of the code under test), and an
/// `Aws` that reaches it by assuming `arn:aws:iam::<id>:role/rectify`.
#[derive(Clone)]
pub struct Account {
    pub id: String,
    config: SdkConfig,
}

pub async fn test_sdk_config() -> SdkConfig {
    let harness = harness_any();
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&harness.moto_url)
        .credentials_provider(Credentials::new(
            "AKIARECTIFYTESTS0002",
            "test",
            None,
            None,
            "tests",
        ))
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

fn harness_any() -> &'static Harness {
    HARNESS.get().unwrap_or_else(harness)
}

/// A client getter per service: the test's own credentials, in this
/// account (moto's account header) unless it is rectify's own.
macro_rules! account_clients {
    ($($name:ident: $krate:ident),* $(,)?) => {$(
        pub fn $name(&self) -> $krate::Client {
            let mut b = $krate::config::Builder::from(&self.config);
            if let Some(i) = self.interceptor() {
                b = b.interceptor(i);
            }
            $krate::Client::from_conf(b.build())
        }
    )*};
}

impl Account {
    pub async fn new() -> Account {
        harness_any();
        Account {
            id: random_account(),
            config: test_sdk_config().await,
        }
    }

    /// The account moto uses without a header: rectify's own.
    pub async fn own() -> Account {
        harness_any();
        Account {
            id: OWN_ACCOUNT.into(),
            config: test_sdk_config().await,
        }
    }

    pub fn role_arn(&self) -> String {
        format!("arn:aws:iam::{}:role/rectify", self.id)
    }

    pub fn access(&self) -> AccountAccess {
        AccountAccess {
            id: self.id.clone(),
            role_arn: Some(self.role_arn()),
            external_id: None,
        }
    }

    /// An `Aws` (one attempt per call) that can act in this account.
    pub async fn aws(&self) -> Arc<Aws> {
        Arc::new(Aws::new(settings(vec![self.access()])).await)
    }

    fn interceptor(&self) -> Option<MotoAccount> {
        (self.id != OWN_ACCOUNT).then(|| MotoAccount(self.id.clone()))
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        let mut b = aws_sdk_s3::config::Builder::from(&self.config).force_path_style(true);
        if let Some(i) = self.interceptor() {
            b = b.interceptor(i);
        }
        aws_sdk_s3::Client::from_conf(b.build())
    }

    /// An S3 Control client in this account. Its endpoint is moto's URL
    /// as it is: the SDK's rules would put the account id in front of the
    /// host, a name that does not resolve (moto takes the account from the
    /// `x-amz-account-id` header).
    pub fn s3control(&self) -> aws_sdk_s3control::Client {
        #[derive(Debug)]
        struct AsGiven(String);
        impl aws_sdk_s3control::config::endpoint::ResolveEndpoint for AsGiven {
            fn resolve_endpoint<'a>(
                &'a self,
                _: &'a aws_sdk_s3control::config::endpoint::Params,
            ) -> aws_sdk_s3control::config::endpoint::EndpointFuture<'a> {
                aws_sdk_s3control::config::endpoint::EndpointFuture::ready(Ok(
                    aws_sdk_s3control::config::endpoint::Endpoint::builder()
                        .url(self.0.clone())
                        .build(),
                ))
            }
        }
        let mut b = aws_sdk_s3control::config::Builder::from(&self.config)
            .endpoint_resolver(AsGiven(harness_any().moto_url.clone()));
        if let Some(i) = self.interceptor() {
            b = b.interceptor(i);
        }
        aws_sdk_s3control::Client::from_conf(b.build())
    }

    account_clients! {
        ec2: aws_sdk_ec2,
        iam: aws_sdk_iam,
        sns: aws_sdk_sns,
        sqs: aws_sdk_sqs,
        kms: aws_sdk_kms,
        sts: aws_sdk_sts,
        rds: aws_sdk_rds,
        lambda: aws_sdk_lambda,
        ssm: aws_sdk_ssm,
        cloudtrail: aws_sdk_cloudtrail,
        config_service: aws_sdk_config,
        guardduty: aws_sdk_guardduty,
        cloudwatch: aws_sdk_cloudwatch,
        logs: aws_sdk_cloudwatchlogs,
        ecr: aws_sdk_ecr,
        redshift: aws_sdk_redshift,
    }
}

/// Settings for tests: one attempt per call (moto answers what it lacks
/// with HTML errors: fail fast), region us-east-1.
/// Stands in for the engine behind a polling source: a body is taken
/// when it is JSON (one event or finding, or an array), `take_new` leaves
/// out bodies taken before, cursors live in memory, and `down` makes every
/// commit fail.
#[derive(Default)]
pub struct MemoryIntake {
    pub taken: Mutex<Vec<serde_json::Value>>,
    pub origins: Mutex<Vec<String>>,
    pub cursors: Mutex<std::collections::BTreeMap<String, String>>,
    pub down: bool,
}

impl MemoryIntake {
    fn submit(
        &self,
        bodies: &[&[u8]],
        origin: &str,
        skip_known: bool,
    ) -> Result<Vec<Result<usize, String>>, rectify_model::IntakeError> {
        if self.down {
            return Err(rectify_model::IntakeError("store unavailable".into()));
        }
        self.origins.lock().unwrap().push(origin.to_string());
        let mut taken = self.taken.lock().unwrap();
        let mut verdicts = Vec::new();
        for body in bodies {
            match serde_json::from_slice::<serde_json::Value>(body) {
                Ok(v) => {
                    verdicts.push(Ok(v.as_array().map_or(1, Vec::len)));
                    if !(skip_known && taken.contains(&v)) {
                        taken.push(v);
                    }
                }
                Err(e) => verdicts.push(Err(format!("malformed JSON: {e}"))),
            }
        }
        Ok(verdicts)
    }
}

#[async_trait::async_trait]
impl rectify_model::Intake for MemoryIntake {
    async fn take(
        &self,
        bodies: &[&[u8]],
        origin: &str,
    ) -> Result<Vec<Result<usize, String>>, rectify_model::IntakeError> {
        self.submit(bodies, origin, false)
    }

    async fn take_new(
        &self,
        bodies: &[&[u8]],
        origin: &str,
    ) -> Result<Vec<Result<usize, String>>, rectify_model::IntakeError> {
        self.submit(bodies, origin, true)
    }

    async fn cursor(&self, source: &str) -> Result<Option<String>, rectify_model::IntakeError> {
        Ok(self.cursors.lock().unwrap().get(source).cloned())
    }

    async fn save_cursor(
        &self,
        source: &str,
        value: &str,
    ) -> Result<(), rectify_model::IntakeError> {
        self.cursors
            .lock()
            .unwrap()
            .insert(source.to_string(), value.to_string());
        Ok(())
    }
}

/// A new queue's URL and ARN (as SNS subscriptions and redrive policies
/// name it).
pub async fn new_queue(
    sqs: &aws_sdk_sqs::Client,
    prefix: &str,
    attributes: Vec<(aws_sdk_sqs::types::QueueAttributeName, String)>,
) -> (String, String) {
    use aws_sdk_sqs::types::QueueAttributeName;
    let url = sqs
        .create_queue()
        .queue_name(unique(prefix))
        .set_attributes(Some(attributes.into_iter().collect()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    (url, arn)
}

pub fn settings(accounts: Vec<AccountAccess>) -> AwsSettings {
    let mut s = AwsSettings::new(REGION);
    s.accounts = accounts;
    s.sdk_max_attempts = Some(1);
    s
}

/// Plain HTTP GET on loopback, for the servers' test endpoints.
pub fn http_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut sock = TcpStream::connect(host).unwrap();
    write!(sock, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut out = String::new();
    sock.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// Plain HTTP POST of a JSON body on loopback, for the stand-ins' test
/// endpoints: the status and the body of the answer.
pub fn http_post(url: &str, body: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut sock = TcpStream::connect(host).unwrap();
    write!(
        sock,
        "POST {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    sock.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A proxy between the SDK and moto that keeps every request (head and
/// body) it forwards. Blocking I/O on its own threads, so it outlives
/// each test's runtime.
pub struct Recorder {
    pub url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn start(upstream: &str) -> Recorder {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let upstream = upstream.clone();
                let log = log.clone();
                std::thread::spawn(move || {
                    let _ = forward(client, &upstream, &log);
                });
            }
        });
        Recorder { url, requests }
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn forward(mut client: TcpStream, upstream: &str, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let request_len = loop {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break end + 4 + len;
            }
        }
    };
    // One request per connection: ask both sides to close afterwards.
    let text = String::from_utf8_lossy(&buf[..request_len]).to_string();
    log.lock().unwrap().push(text);
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(&buf[..request_len])?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    let response = close_after(&response);
    client.write_all(&response)?;
    client.flush()?;
    client.shutdown(std::net::Shutdown::Both)
}

/// The response with `Connection: close`, so the client does not reuse a
/// connection the proxy is about to close.
fn close_after(response: &[u8]) -> Vec<u8> {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response.to_vec();
    };
    let head = String::from_utf8_lossy(&response[..end]);
    let mut lines: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("Connection: close");
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(&response[end..]);
    out
}

/// An EventBridge event of `detail_type` from `source` with `detail`, in
/// `account`.
pub fn eventbridge_event(
    account: &str,
    source: &str,
    detail_type: &str,
    detail: serde_json::Value,
) -> rectify_model::Event {
    let body = serde_json::json!({"version": "0", "id": unique("event"), "detail-type": detail_type,
        "source": source, "account": account, "time": "2026-12-05T08:00:00Z",
        "region": REGION, "resources": [], "detail": detail});
    rectify_model::Event {
        id: body["id"].as_str().unwrap().to_string(),
        source: source.into(),
        detail_type: detail_type.into(),
        account: account.into(),
        region: REGION.into(),
        time: "2026-12-05T08:00:00Z".into(),
        resources: vec![],
        body,
        parsed: Default::default(),
    }
}

/// A CloudTrail call `name` of `source` with `params` by an IAM user
/// (`mallory`), as EventBridge delivers it.
pub fn api_call(
    account: &str,
    source: &str,
    name: &str,
    params: serde_json::Value,
) -> rectify_model::Event {
    eventbridge_event(
        account,
        source,
        "AWS API Call via CloudTrail",
        serde_json::json!({"eventSource": format!("{}.amazonaws.com", source.trim_start_matches("aws.")),
               "eventName": name, "awsRegion": REGION, "recipientAccountId": account,
               "userIdentity": {"type": "IAMUser", "userName": "mallory"},
               "requestParameters": params}),
    )
}

/// An AWS Config evaluation of `resource_type` `id` turned NON_COMPLIANT.
pub fn config_evaluation(
    account: &str,
    rule: &str,
    resource_type: &str,
    id: &str,
) -> rectify_model::Event {
    eventbridge_event(
        account,
        "aws.config",
        "Config Rules Compliance Change",
        serde_json::json!({"resourceId": id, "resourceType": resource_type, "awsRegion": REGION,
               "awsAccountId": account, "configRuleName": rule,
               "messageType": "ComplianceChangeNotification",
               "newEvaluationResult": {"complianceType": "NON_COMPLIANT"}}),
    )
}

/// The target `action` takes from a Security Hub finding of `control`
/// about one resource (see [`finding_event`]).
pub fn finding_target(
    action: &dyn Action,
    account: &str,
    control: &str,
    resource_type: &str,
    resource_id: &str,
) -> Target {
    action
        .target(&finding_event(
            account,
            control,
            resource_type,
            resource_id,
            serde_json::Value::Null,
        ))
        .unwrap()
}

/// The target `action` takes from a Security Hub finding of `control`
/// about the whole account `account` (an account-level setting).
pub fn account_finding_target(action: &dyn Action, account: &str, control: &str) -> Target {
    finding_target(
        action,
        account,
        control,
        "AwsAccount",
        &format!("AWS::::Account:{account}"),
    )
}

/// A Security Hub "Findings - Imported" event with one finding about one
/// resource, shaped like the samples in `shared/data/samples/securityhub`.
pub fn finding_event(
    account: &str,
    control: &str,
    resource_type: &str,
    resource_id: &str,
    details: serde_json::Value,
) -> rectify_model::Event {
    let finding = serde_json::json!({
        "SchemaVersion": "2018-10-08",
        "Id": format!("arn:aws:securityhub:{REGION}:{account}:security-control/{control}/finding/{}", unique("f")),
        "ProductArn": format!("arn:aws:securityhub:{REGION}::product/aws/securityhub"),
        "GeneratorId": format!("security-control/{control}"),
        "AwsAccountId": account,
        "Region": REGION,
        "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
        "Compliance": {"Status": "FAILED", "SecurityControlId": control},
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
        "Resources": [{
            "Type": resource_type,
            "Id": resource_id,
            "Partition": "aws",
            "Region": REGION,
            "Details": details,
        }],
    });
    let body = serde_json::json!({
        "version": "0",
        "id": unique("event"),
        "detail-type": "Security Hub Findings - Imported",
        "source": "aws.securityhub",
        "account": account,
        "time": "2025-01-01T00:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {"findings": [finding]},
    });
    rectify_model::Event {
        id: body["id"].as_str().unwrap().to_string(),
        source: "aws.securityhub".into(),
        detail_type: "Security Hub Findings - Imported".into(),
        account: account.into(),
        region: REGION.into(),
        time: "2025-01-01T00:00:00Z".into(),
        resources: vec![],
        body,
        parsed: Default::default(),
    }
}

/// Reads `target` again and asserts that the undo of `change` is refused
/// because the resource has changed since (the refusal every undoable
/// action gives rather than overwrite a later change); the state read.
/// Checks `target` again after a fix: compliant, and its plan changes
/// nothing (a redelivered finding makes no second write). The observed
/// state is returned for the caller's undo.
pub async fn assert_fixed_with_nothing_to_do(
    action: &dyn Action,
    target: &Target,
    params: &serde_json::Value,
) -> Observed {
    let now = action.check(target, params).await.unwrap();
    assert!(now.compliant, "{}", now.state);
    let noop = action.plan(target, params, &now).unwrap();
    assert_eq!(noop.before, noop.after);
    now
}

pub async fn assert_undo_refused(
    action: &dyn Action,
    target: &Target,
    params: &serde_json::Value,
    change: &Change,
) -> Observed {
    let now = action.check(target, params).await.unwrap();
    let refused = action
        .revert_plan(target, params, change, &now)
        .unwrap_err();
    assert!(
        refused.message.contains("has changed since"),
        "{}",
        refused.message
    );
    now
}

/// Undoes `change` (`after`: the state it left), checked by
/// `verify_revert`; then, that state gone, a second undo is refused. The
/// caller reads the resource back with its own client.
pub async fn undo_then_refuse(
    action: &dyn Action,
    target: &Target,
    params: &serde_json::Value,
    change: &Change,
    after: &Observed,
) {
    let undo = action.revert_plan(target, params, change, after).unwrap();
    action.revert(target, params, &undo).await.unwrap();
    assert!(action.verify_revert(target, params, &undo).await.unwrap());
    assert_undo_refused(action, target, params, change).await;
}
