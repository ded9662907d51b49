//! Harness for the end-to-end tests: the emulated AWS (moto server, pinned)
//! and the Security Hub stand-in, SDK clients inside a test's own account,
//! and the `rectify` binary run as a child process.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_ec2::types::{IpPermission, IpRange};
use rand::Rng;
use serde_json::{json, Value};

pub const REGION: &str = "us-east-1";
/// moto's default account: rectify's own credentials land here.
pub const HOME_ACCOUNT: &str = "123456789012";

pub struct Env {
    pub moto: String,
    pub securityhub: String,
    /// The IAM Access Analyzer stand-in (moto lacks the service).
    pub accessanalyzer: String,
}

/// The emulator endpoints: from `make test` (RECTIFY_TEST_MOTO_URL,
/// RECTIFY_TEST_SECURITYHUB_URL, RECTIFY_TEST_ACCESSANALYZER_URL), or started here through scripts/test-env
/// and stopped when this test process exits.
pub fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        if let (Ok(moto), Ok(securityhub), Ok(accessanalyzer)) = (
            std::env::var("RECTIFY_TEST_MOTO_URL"),
            std::env::var("RECTIFY_TEST_SECURITYHUB_URL"),
            std::env::var("RECTIFY_TEST_ACCESSANALYZER_URL"),
        ) {
            return Env {
                moto,
                securityhub,
                accessanalyzer,
            };
        }
        let text = start_test_env("e2e");
        let var = |name: &str| env_file_var(&text, name);
        Env {
            moto: var("RECTIFY_TEST_MOTO_URL"),
            securityhub: var("RECTIFY_TEST_SECURITYHUB_URL"),
            accessanalyzer: var("RECTIFY_TEST_ACCESSANALYZER_URL"),
        }
    })
}

/// Starts the test environment (scripts/test-env) in a folder of this
/// test process and returns its `env` file; the servers are stopped once
/// this process is gone (the watcher outlives us on purpose, so it is
/// never waited for).
pub fn start_test_env(tag: &str) -> String {
    let root = repo_root();
    let dir = std::env::temp_dir().join(format!("rectify-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let status = Command::new(root.join("scripts/test-env"))
        .arg("start")
        .arg(&dir)
        .status()
        .expect("run scripts/test-env");
    assert!(status.success(), "scripts/test-env start failed");
    #[allow(clippy::zombie_processes)]
    Command::new("bash")
        .arg("-c")
        .arg(format!(
            "while kill -0 {} 2>/dev/null; do sleep 1; done; '{}' stop '{}'",
            std::process::id(),
            root.join("scripts/test-env").display(),
            dir.display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the cleanup watcher");
    std::fs::read_to_string(dir.join("env")).unwrap()
}

/// One variable of a test-env `env` file.
pub fn env_file_var(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("export {name}=")))
        .unwrap_or_else(|| panic!("{name} not in test-env output"))
        .trim_matches(['"', '\''])
        .to_string()
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A fresh 12-digit account id, so that tests never see each other.
pub fn new_account() -> String {
    format!(
        "{:012}",
        rand::rng().random_range(200_000_000_000u64..999_999_999_999)
    )
}

fn base_config(credentials: Credentials) -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&env().moto)
        .credentials_provider(credentials)
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .retry_config(aws_config::retry::RetryConfig::disabled())
}

/// SDK config with credentials inside `account` (the emulator maps assumed
/// role credentials to the role's account).
pub async fn account_config(account: &str) -> SdkConfig {
    let home = base_config(Credentials::for_tests()).load().await;
    let sts = aws_sdk_sts::Client::new(&home);
    let creds = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/test-admin"))
        .role_session_name("e2e")
        .send()
        .await
        .expect("assume role in moto")
        .credentials
        .expect("credentials");
    base_config(Credentials::new(
        creds.access_key_id,
        creds.secret_access_key,
        Some(creds.session_token),
        None,
        "e2e",
    ))
    .load()
    .await
}

pub async fn home_config() -> SdkConfig {
    base_config(Credentials::for_tests()).load().await
}

pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

/// An SNS topic with an SQS queue subscribed, in rectify's home account.
pub struct Inbox {
    pub topic_arn: String,
    pub queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

impl Inbox {
    pub async fn new(name: &str) -> Inbox {
        let home = home_config().await;
        let sns = aws_sdk_sns::Client::new(&home);
        let sqs = aws_sdk_sqs::Client::new(&home);
        let topic_arn = sns
            .create_topic()
            .name(name)
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        let queue_url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let queue_arn = format!("arn:aws:sqs:{REGION}:{HOME_ACCOUNT}:{name}");
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .unwrap();
        Inbox {
            topic_arn,
            queue_url,
            sqs,
        }
    }

    /// The `outcome` of each notification received so far, in order.
    pub async fn outcomes(&self) -> Vec<String> {
        self.messages()
            .await
            .iter()
            .map(|m| m["outcome"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The notifications received so far (the `Message` of each SNS
    /// envelope, parsed).
    pub async fn messages(&self) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let batch = got.messages.unwrap_or_default();
            if batch.is_empty() {
                return out;
            }
            for m in batch {
                let envelope: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                out.push(serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap());
            }
        }
    }
}

/// A test's working folder with its config.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub account: String,
    pub token: String,
}

impl Site {
    /// `rules_yaml` is the `rules:` section (already indented); it may be
    /// preceded by other top-level sections.
    pub fn new(account: &str, default_mode: &str, topic_arn: &str, rules_yaml: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let token = format!(
            "tok-{}",
            rand::rng().random_range(10u128.pow(20)..10u128.pow(21))
        );
        // One token for every role the tests play, so four eyes is off.
        let config = format!(
            "store: sqlite://{db}\ndefault_mode: {default_mode}\naws:\n  region: {REGION}\n\
             accounts:\n  - id: \"{account}\"\n    role_arn: arn:aws:iam::{account}:role/rectify\n    external_id: ext-{account}\n    owner: owner-{account}@example.com\n\
             notifications:\n  team:\n    sns: {topic_arn}\n\
             api:\n  four_eyes: false\n  tokens:\n    - name: tests\n      token: \"{token}\"\n      scopes: [ingest, read, approve, admin]\n\
             {rules_yaml}",
            db = dir.path().join("rectify.db").display(),
        );
        std::fs::write(dir.path().join("rectify.yaml"), config).unwrap();
        Site {
            dir,
            account: account.to_string(),
            token,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn command(&self) -> Command {
        let e = env();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rectify"));
        cmd.current_dir(self.dir.path())
            .env("RECTIFY_CONFIG", self.path("rectify.yaml"))
            .env("AWS_ENDPOINT_URL", &e.moto)
            .env("AWS_ENDPOINT_URL_SECURITYHUB", &e.securityhub)
            .env("AWS_ENDPOINT_URL_ACCESSANALYZER", &e.accessanalyzer)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env_remove("AWS_PROFILE")
            .env_remove("RECTIFY_LOG");
        cmd
    }

    pub fn rectify(&self, args: &[&str]) -> Output {
        let out = self.command().args(args).output().expect("run rectify");
        eprintln!(
            "$ rectify {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub fn write_event(&self, name: &str, event: &Value) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, event.to_string()).unwrap();
        path
    }

    /// `rectify process --output json FILE` -> the jobs it ran.
    pub fn process(&self, file: &Path, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["process", "--output", "json"];
        args.extend_from_slice(extra);
        let file = file.to_str().unwrap();
        args.push(file);
        let out = self.rectify(&args);
        let report: Value = serde_json::from_slice(&out.stdout).expect("process prints JSON");
        report["jobs"].as_array().cloned().unwrap_or_default()
    }
}

/// A Security Hub "Findings - Imported" event carrying `findings`.
pub fn imported(account: &str, findings: Vec<Value>) -> Value {
    json!({
        "version": "0",
        "id": format!("ev-{}", rand::rng().random_range(0u64..u64::MAX)),
        "detail-type": "Security Hub Findings - Imported",
        "source": "aws.securityhub",
        "account": account,
        "time": "2026-11-29T10:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {"findings": findings}
    })
}

/// A control finding as Security Hub sends it, held by the Security Hub
/// stand-in too (rectify reads a finding back before it updates it).
pub fn finding(account: &str, control: &str, resource_type: &str, resource_id: &str) -> Value {
    let f = unseeded_finding(account, control, resource_type, resource_id);
    securityhub_import(std::slice::from_ref(&f));
    f
}

/// A finding Security Hub has never seen: what a forged event carries.
pub fn unseeded_finding(
    account: &str,
    control: &str,
    resource_type: &str,
    resource_id: &str,
) -> Value {
    json!({
        "SchemaVersion": "2018-10-08",
        "Id": format!("arn:aws:securityhub:{REGION}:{account}:security-control/{control}/finding/{}", rand::rng().random_range(0u64..u64::MAX)),
        "ProductArn": format!("arn:aws:securityhub:{REGION}::product/aws/securityhub"),
        "GeneratorId": format!("security-control/{control}"),
        "AwsAccountId": account,
        "Region": REGION,
        "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
        "CreatedAt": "2026-11-29T09:00:00.000Z",
        "UpdatedAt": "2026-11-29T09:00:00.000Z",
        "Severity": {"Label": "HIGH"},
        "Title": format!("{control} failed"),
        "Description": "test finding",
        "Compliance": {"Status": "FAILED", "SecurityControlId": control},
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
        "Resources": [{"Type": resource_type, "Id": resource_id, "Partition": "aws", "Region": REGION}]
    })
}

/// Imports findings into the Security Hub stand-in (`BatchImportFindings`,
/// as a product would send them).
pub fn securityhub_import(findings: &[Value]) {
    let response = securityhub_call("/findings/import", &json!({ "Findings": findings }));
    assert!(
        response.starts_with("HTTP/1.1 200") && response.contains("\"FailedCount\": 0"),
        "{response}"
    );
}

/// One Security Hub API request to the stand-in (`POST path` with a JSON
/// body): the whole HTTP response.
fn securityhub_call(path: &str, body: &Value) -> String {
    let base = &env().securityhub;
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    // The stand-in checks the credential scope, not the signature.
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20261202/{REGION}/securityhub/aws4_request, SignedHeaders=host, Signature={}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        "0".repeat(64),
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// The ASFF finding the stand-in holds with this id (`GetFindings`, Id
/// EQUALS), as the API sends it.
pub fn securityhub_find(id: &str) -> Option<Value> {
    let filter = json!({"Filters": {"Id": [{"Value": id, "Comparison": "EQUALS"}]}});
    let response = securityhub_call("/findings", &filter);
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{response}");
    let page: Value = serde_json::from_str(body).unwrap();
    page["Findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["Id"] == id)
        .cloned()
}

/// Puts OCSF findings into the stand-in's store of the new Security Hub
/// (what Security Hub holds before it sends `Findings Imported V2`).
pub fn securityhub_put_v2(findings: &[Value]) {
    let body = json!({ "Findings": findings }).to_string();
    let (status, reply) = http(
        &env().securityhub,
        "POST",
        "/_standin/findings-v2",
        None,
        Some(&body),
    );
    assert_eq!(status, 200, "{reply}");
}

/// The OCSF finding the stand-in holds now, read with `GetFindingsV2` by
/// its `metadata.uid`.
pub fn securityhub_read_v2(uid: &str) -> Option<Value> {
    let filter = json!({"Filters": {"CompositeFilters": [{"StringFilters": [
        {"FieldName": "metadata.uid", "Filter": {"Value": uid, "Comparison": "EQUALS"}}
    ]}]}});
    let response = securityhub_call("/findingsv2", &filter);
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{response}");
    let page: Value = serde_json::from_str(body).unwrap();
    page["Findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["metadata"]["uid"] == uid)
        .cloned()
}

/// The ASFF finding the stand-in holds with this `Id` (`GetFindings`).
pub fn securityhub_finding(id: &str) -> Option<Value> {
    let filter = json!({"Filters": {"Id": [{"Value": id, "Comparison": "EQUALS"}]}});
    let response = securityhub_call("/findings", &filter);
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{response}");
    let page: Value = serde_json::from_str(body).unwrap();
    page["Findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["Id"] == id)
        .cloned()
}

/// Requests of `operation` (`BatchUpdateFindingsV2`, ...) the stand-in
/// received that name `uid`.
pub fn securityhub_v2_requests(operation: &str, uid: &str) -> Vec<Value> {
    securityhub_requests()
        .into_iter()
        .filter(|r| r["operation"] == operation && r["body"].to_string().contains(uid))
        .collect()
}

/// Every request the Security Hub stand-in received, as it logged them.
fn securityhub_requests() -> Vec<Value> {
    let (status, body) = http(&env().securityhub, "GET", "/_standin/requests", None, None);
    assert_eq!(status, 200);
    let all: Value = serde_json::from_str(&body).unwrap();
    all["requests"].as_array().unwrap().clone()
}

/// BatchUpdateFindings requests the stand-in received for `finding_id`.
pub fn securityhub_updates(finding_id: &str) -> Vec<Value> {
    securityhub_requests()
        .into_iter()
        .filter(|r| r["operation"] == "BatchUpdateFindings")
        .filter(|r| {
            r["body"]["FindingIdentifiers"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|i| i["Id"] == finding_id))
        })
        .collect()
}

/// A minimal HTTP/1.1 client: (status, body).
pub fn http(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    let body = body.unwrap_or("");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// `rectify serve` as a child process on a free port; killed on drop.
pub struct Server {
    child: std::process::Child,
    pub base: String,
}

impl Server {
    pub fn start(site: &Site) -> Server {
        Server::start_with(site, &[])
    }

    /// Like `start`, with extra environment (e.g. another AWS endpoint).
    pub fn start_with(site: &Site, envs: &[(&str, &str)]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = site
            .command()
            .envs(envs.iter().copied())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start rectify serve");
        let base = format!("http://127.0.0.1:{port}");
        let server = Server { child, base };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("rectify serve did not start");
    }

    /// `POST /v1/events` with `body`, which must be accepted (202): the
    /// answer, parsed.
    pub fn submit(&self, token: &str, body: &str) -> Value {
        let (status, reply) = http(&self.base, "POST", "/v1/events", Some(token), Some(body));
        assert_eq!(status, 202, "{reply}");
        serde_json::from_str(&reply).unwrap()
    }

    /// Waits for the first job to appear (from a polling source), then
    /// until it settles.
    pub fn wait_first_job(&self, token: &str) -> Value {
        for _ in 0..100 {
            let (status, body) = http(&self.base, "GET", "/v1/jobs", Some(token), None);
            assert_eq!(status, 200, "{body}");
            let jobs: Value = serde_json::from_str(&body).unwrap();
            if let Some(id) = jobs["jobs"][0]["id"].as_str() {
                return self.wait_job(token, id);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("no job appeared");
    }

    /// Polls the job until it is final or waiting for approval.
    pub fn wait_job(&self, token: &str, id: &str) -> Value {
        for _ in 0..300 {
            let (status, body) = http(
                &self.base,
                "GET",
                &format!("/v1/jobs/{id}"),
                Some(token),
                None,
            );
            assert_eq!(status, 200, "{body}");
            let job: Value = serde_json::from_str(&body).unwrap();
            let state = job["state"].as_str().unwrap();
            if ["succeeded", "skipped", "failed", "dead", "waiting-approval"].contains(&state) {
                return job;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("job {id} did not settle");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fault-injecting proxy (tests/standins/fault_proxy.py) in front of
/// the emulator; killed on drop.
pub struct FaultProxy {
    child: std::process::Child,
    pub url: String,
}

impl FaultProxy {
    pub fn start(args: &[&str]) -> FaultProxy {
        use std::io::BufRead;
        let root = repo_root();
        let mut child = Command::new(root.join(".venv/bin/python"))
            .arg(root.join("tests/standins/fault_proxy.py"))
            .args(["--upstream", &env().moto, "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the fault proxy (run scripts/venv first)");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("READY ")
            .expect("READY line")
            .to_string();
        FaultProxy { child, url }
    }

    pub fn stats(&self) -> Value {
        let (status, body) = http(&self.url, "GET", "/_faults/stats", None, None);
        assert_eq!(status, 200);
        serde_json::from_str(&body).unwrap()
    }

    pub fn configure(&self, config: Value) {
        let (status, _) = http(
            &self.url,
            "POST",
            "/_faults/config",
            None,
            Some(&config.to_string()),
        );
        assert_eq!(status, 200);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The three rules, each notifying `team`. `extra` is appended to every rule.
pub fn rules(extra: &str) -> String {
    let mut out = String::from("rules:\n");
    for (id, control, action) in [
        ("s3-bpa", "S3.8", "aws.s3.block-public-access"),
        (
            "ec2-admin-ports",
            "EC2.13",
            "aws.ec2.revoke-public-admin-ingress",
        ),
        (
            "iam-password-policy",
            "IAM.7",
            "aws.iam.set-password-policy",
        ),
    ] {
        out.push_str(&format!(
            "  - id: {id}\n    controls: [{control}]\n    pattern:\n      source: [aws.securityhub]\n      detail:\n        findings:\n          Compliance:\n            Status: [FAILED]\n            SecurityControlId: [{control}]\n    action: {action}\n    notify: [team]\n{extra}"
        ));
    }
    out
}

/// A bucket with no Block Public Access setting (public as far as the
/// S3 controls go), tagged with `tags`.
pub async fn public_bucket(account: &str, tags: &[(&str, &str)]) -> (String, aws_sdk_s3::Client) {
    let s3 = s3(&account_config(account).await);
    let bucket = format!("public-{account}-{}", rand_suffix());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    if !tags.is_empty() {
        let mut tagging = aws_sdk_s3::types::Tagging::builder();
        for (k, v) in tags {
            tagging = tagging.tag_set(
                aws_sdk_s3::types::Tag::builder()
                    .key(*k)
                    .value(*v)
                    .build()
                    .unwrap(),
            );
        }
        s3.put_bucket_tagging()
            .bucket(&bucket)
            .tagging(tagging.build().unwrap())
            .send()
            .await
            .unwrap();
    }
    (bucket, s3)
}

pub fn rand_suffix() -> u32 {
    rand::random::<u32>()
}

/// The four Block Public Access flags of a bucket, all false when it has
/// no configuration.
pub async fn bpa(s3: &aws_sdk_s3::Client, bucket: &str) -> [bool; 4] {
    match s3.get_public_access_block().bucket(bucket).send().await {
        Ok(out) => {
            let c = out.public_access_block_configuration.unwrap();
            [
                c.block_public_acls.unwrap_or(false),
                c.ignore_public_acls.unwrap_or(false),
                c.block_public_policy.unwrap_or(false),
                c.restrict_public_buckets.unwrap_or(false),
            ]
        }
        Err(_) => [false; 4],
    }
}

/// Turns every Block Public Access setting on: a compliant bucket.
pub async fn block_all(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

pub fn s3_finding(account: &str, bucket: &str) -> Value {
    finding(
        account,
        "S3.8",
        "AwsS3Bucket",
        &format!("arn:aws:s3:::{bucket}"),
    )
}

pub fn sg_finding(account: &str, sg: &str) -> Value {
    finding(
        account,
        "EC2.13",
        "AwsEc2SecurityGroup",
        &format!("arn:aws:ec2:{REGION}:{account}:security-group/{sg}"),
    )
}

/// Ingress as (protocol, from, to, cidr) tuples, sorted.
pub async fn ingress(ec2: &aws_sdk_ec2::Client, sg: &str) -> Vec<(String, i32, i32, String)> {
    let out = ec2
        .describe_security_groups()
        .group_ids(sg)
        .send()
        .await
        .unwrap();
    let mut rules = Vec::new();
    for p in out.security_groups.unwrap()[0].ip_permissions() {
        let proto = p.ip_protocol().unwrap_or_default().to_string();
        let (from, to) = (p.from_port().unwrap_or(-1), p.to_port().unwrap_or(-1));
        for r in p.ip_ranges() {
            rules.push((proto.clone(), from, to, r.cidr_ip().unwrap().to_string()));
        }
        for r in p.ipv6_ranges() {
            rules.push((proto.clone(), from, to, r.cidr_ipv6().unwrap().to_string()));
        }
    }
    rules.sort();
    rules
}

pub fn tuple(p: &str, from: i32, to: i32, cidr: &str) -> (String, i32, i32, String) {
    (p.into(), from, to, cidr.into())
}

/// A group open to the world on tcp/22 only.
pub async fn ssh_open_group(account: &str) -> (String, aws_sdk_ec2::Client) {
    let ec2 = aws_sdk_ec2::Client::new(&account_config(account).await);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap();
    let sg = ec2
        .create_security_group()
        .group_name(format!("ssh-{}", rand_suffix()))
        .description("ssh")
        .vpc_id(vpc.vpc.unwrap().vpc_id.unwrap())
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    open_to_world(&ec2, &sg, 22).await;
    (sg, ec2)
}

pub async fn open_to_world(ec2: &aws_sdk_ec2::Client, sg: &str, port: i32) {
    ec2.authorize_security_group_ingress()
        .group_id(sg)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(port)
                .to_port(port)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// A CloudTrail API call event as EventBridge delivers it.
pub fn api_call(account: &str, source: &str, name: &str, params: Value, caller: &str) -> Value {
    // An assumed-role caller's session was issued by its role.
    let role = caller
        .split_once(":assumed-role/")
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or_default();
    let issuer = format!("arn:aws:iam::{account}:role/{role}");
    json!({
        "version": "0",
        "id": format!("ct-{}", rand_suffix()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": source,
        "account": account,
        "time": "2026-12-02T10:00:05Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"type": "AssumedRole", "arn": caller, "accountId": account,
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": issuer, "accountId": account}}},
            "eventTime": "2026-12-02T10:00:00Z",
            "eventSource": format!("{}.amazonaws.com", source.trim_start_matches("aws.")),
            "eventName": name,
            "awsRegion": REGION,
            "sourceIPAddress": "203.0.113.7",
            "requestParameters": params,
            "responseElements": null,
            "eventType": "AwsApiCall",
            "recipientAccountId": account
        }
    })
}

/// `rectify audit verify` says the chain is intact.
pub fn assert_audit_intact(site: &Site) {
    let out = site.rectify(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact"));
}

/// A fresh account, an SNS inbox for its notifications, and a site whose
/// rules run in `mode`.
pub async fn setup(tag: &str, mode: &str) -> (String, Inbox, Site) {
    setup_with(tag, mode, &rules("")).await
}

/// Like `setup`, with the config's rule sections given.
pub async fn setup_with(tag: &str, mode: &str, rules_yaml: &str) -> (String, Inbox, Site) {
    let account = new_account();
    let inbox = Inbox::new(&format!("{tag}-{account}")).await;
    let site = Site::new(&account, mode, &inbox.topic_arn, rules_yaml);
    (account, inbox, site)
}

/// A schema of its own on the test PostgreSQL server
/// (`RECTIFY_TEST_POSTGRES_URL`, default the database `test` on
/// 127.0.0.1:5432), dropped when this is.
pub struct PgSchema {
    pub server: String,
    pub schema: String,
}

impl PgSchema {
    pub fn new(prefix: &str) -> PgSchema {
        PgSchema {
            server: std::env::var("RECTIFY_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
            schema: format!("{prefix}_{}", rand::random::<u32>()),
        }
    }

    /// The store URL.
    pub fn url(&self) -> String {
        format!("{}?schema={}", self.server, self.schema)
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                self.server.as_str(),
                "-qc",
                &format!(
                    "SET client_min_messages = warning; DROP SCHEMA IF EXISTS {} CASCADE",
                    self.schema
                ),
            ])
            .status();
    }
}
