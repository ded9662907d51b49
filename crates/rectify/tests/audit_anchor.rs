//! The keyed audit log and its anchors, through the `rectify` binary: the
//! key from the environment, anchors written to an S3 bucket under Object
//! Lock in the emulator (by `rectify audit anchor` and by `rectify serve`),
//! and `rectify audit verify --anchors` finding a truncated or rewritten
//! chain that verifies on its own. Also: ids with control characters are
//! printed escaped.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rectify_store::audit;
use rectify_store::AuditKey;
use serde_json::json;
use support::{env, home_config, s3, REGION};

const KEY: &str = "an-audit-key-for-the-tests-0123456789abcdef";

struct Site {
    dir: tempfile::TempDir,
    bucket: String,
}

impl Site {
    /// A config with a keyed SQLite store and anchors in a new bucket
    /// created with Object Lock.
    async fn new(extra: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let bucket = format!("rectify-anchors-{}", support::new_account());
        s3(&home_config().await)
            .create_bucket()
            .bucket(&bucket)
            .object_lock_enabled_for_bucket(true)
            .send()
            .await
            .unwrap();
        std::fs::write(
            dir.path().join("rectify.yaml"),
            format!(
                "store: sqlite://{db}\naws:\n  region: {REGION}\n\
                 audit:\n  key_env: RECTIFY_TEST_AUDIT_KEY\n  anchor:\n    s3_bucket: {bucket}\n    prefix: audit/anchors\n    interval_seconds: 60\n    retain_days: 1\n{extra}",
                db = dir.path().join("rectify.db").display(),
            ),
        )
        .unwrap();
        Site { dir, bucket }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("rectify.db")
    }

    fn command(&self, key: &str) -> Command {
        let e = env();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rectify"));
        cmd.current_dir(self.dir.path())
            .env("RECTIFY_CONFIG", self.dir.path().join("rectify.yaml"))
            .env("RECTIFY_TEST_AUDIT_KEY", key)
            .env("AWS_ENDPOINT_URL", &e.moto)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env_remove("AWS_PROFILE")
            .env_remove("RECTIFY_LOG");
        cmd
    }

    fn rectify(&self, args: &[&str]) -> Output {
        let out = self.command(KEY).args(args).output().unwrap();
        eprintln!(
            "$ rectify {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Audit records written through the CLI: pause and resume, `n` times.
    fn records(&self, n: usize) {
        for _ in 0..n {
            assert!(self.rectify(&["pause"]).status.success());
            assert!(self.rectify(&["resume"]).status.success());
        }
    }

    async fn anchor_keys(&self) -> Vec<String> {
        s3(&home_config().await)
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix("audit/anchors/")
            .send()
            .await
            .unwrap()
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    }
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Rewrites records `from..` with `key` (or unkeyed), as someone holding
/// the key and write access to the database would, and moves the head.
fn rehash_from(db: &Path, from: i64, key: Option<&AuditKey>) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut prev: String = conn
        .query_row(
            "SELECT hash FROM audit_log WHERE seq = ?1",
            [from - 1],
            |r| r.get(0),
        )
        .unwrap();
    let rows: Vec<(i64, String, String, String, String)> = conn
        .prepare(
            "SELECT seq, time, kind, subject, data FROM audit_log WHERE seq >= ?1 ORDER BY seq",
        )
        .unwrap()
        .query_map([from], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut last = from - 1;
    for (seq, time, kind, subject, data) in rows {
        let hash = audit::record_hash_with(key, &prev, seq, &time, &kind, &subject, &data);
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![prev, hash, seq],
        )
        .unwrap();
        prev = hash;
        last = seq;
    }
    conn.execute(
        "UPDATE settings SET value = ?1 WHERE key = 'audit.head'",
        [format!("{last} {prev}")],
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn anchors_find_truncation_that_the_chain_alone_cannot() {
    let site = Site::new("").await;
    site.records(3);
    let out = site.rectify(&["audit", "anchor"]);
    assert_eq!(code(&out), Some(0));
    assert!(stdout(&out).contains("anchored seq 6"), "{}", stdout(&out));
    let keys = site.anchor_keys().await;
    assert_eq!(keys.len(), 1);
    assert!(keys[0].starts_with("audit/anchors/00000000000000000006-"));
    let out = site.rectify(&["audit", "verify", "--anchors"]);
    assert_eq!(code(&out), Some(0));
    assert!(
        stdout(&out).contains("6 records, 6 keyed"),
        "{}",
        stdout(&out)
    );

    // Someone with write access to the database deletes the last records
    // and points the head at what is left: consistent, and keyed.
    let conn = rusqlite::Connection::open(site.db()).unwrap();
    let hash4: String = conn
        .query_row("SELECT hash FROM audit_log WHERE seq = 4", [], |r| r.get(0))
        .unwrap();
    conn.execute_batch(&format!(
        "DELETE FROM audit_log WHERE seq > 4; \
         UPDATE settings SET value = '4 {hash4}' WHERE key = 'audit.head';"
    ))
    .unwrap();
    drop(conn);
    assert_eq!(code(&site.rectify(&["audit", "verify"])), Some(0));
    let out = site.rectify(&["audit", "verify", "--anchors"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stdout(&out).contains("truncated: record 6"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn anchors_find_a_rewrite_by_the_key_holder() {
    let site = Site::new("").await;
    site.records(2);
    assert_eq!(code(&site.rectify(&["audit", "anchor"])), Some(0));
    // The key's holder (who cannot delete from the bucket) edits record 2
    // and re-hashes the chain from there: it verifies on its own.
    let conn = rusqlite::Connection::open(site.db()).unwrap();
    conn.execute(
        "UPDATE audit_log SET subject = 'someone-else' WHERE seq = 2",
        [],
    )
    .unwrap();
    drop(conn);
    rehash_from(&site.db(), 2, Some(&AuditKey::new(KEY.as_bytes()).unwrap()));
    assert_eq!(code(&site.rectify(&["audit", "verify"])), Some(0));
    let out = site.rectify(&["audit", "verify", "--anchors"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stdout(&out).contains("rewritten: record 4"),
        "{}",
        stdout(&out)
    );

    // Without the key, the same rewrite does not even pass the chain.
    rehash_from(&site.db(), 2, None);
    let out = site.rectify(&["audit", "verify"]);
    assert_eq!(code(&out), Some(1));
    assert!(stdout(&out).contains("unkeyed record"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_anchor_signed_with_another_key_is_refused() {
    let site = Site::new("").await;
    site.records(1);
    // An anchor written by someone with S3 write access but another key.
    let out = site
        .command("another-key-of-the-same-length-0123456789ab")
        .args(["audit", "anchor"])
        .output()
        .unwrap();
    assert_eq!(
        code(&out),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = site.rectify(&["audit", "verify", "--anchors"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stdout(&out).contains("MAC does not verify"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_anchors_the_head() {
    let site = Site::new(
        "api:\n  listen: 127.0.0.1:0\n  tokens:\n    - name: t\n      token: a-token-of-twenty-characters\n",
    )
    .await;
    site.records(1);
    let child = site
        .command(KEY)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut keys = Vec::new();
    while Instant::now() < deadline {
        keys = site.anchor_keys().await;
        if !keys.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // SIGTERM: serve stops by itself.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let finished = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&finished.stderr).into_owned();
    assert_eq!(keys.len(), 1, "no anchor from serve; stderr:\n{stderr}");
    assert!(keys[0].starts_with("audit/anchors/00000000000000000002-"));
    assert!(!stderr.contains("not keyed"), "{stderr}");
    // And one more when it stops, of the head as the workers left it.
    assert!(stderr.contains("audit chain anchored at seq 2"), "{stderr}");
    assert_eq!(site.anchor_keys().await.len(), 2);
    assert_eq!(
        code(&site.rectify(&["audit", "verify", "--anchors"])),
        Some(0)
    );
}

#[test]
fn serve_warns_when_the_audit_log_is_not_keyed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rectify.yaml"),
        "store: sqlite://r.db\napi:\n  tokens:\n    - name: t\n      token: a-token-of-twenty-characters\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .current_dir(dir.path())
        .env_remove("RECTIFY_CONFIG")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("warning: the audit log is not keyed"),
        "{stderr}"
    );
}

#[test]
fn control_characters_in_ids_print_escaped() {
    let dir = tempfile::tempdir().unwrap();
    // The account is not configured: the job is settled at plan time,
    // without a call to AWS.
    std::fs::write(
        dir.path().join("rectify.yaml"),
        "store: sqlite://r.db\naudit: {key: none}\nrules:\n  - id: r1\n    pattern: {source: [custom.app]}\n    action: aws.s3.block-public-access\n    mode: auto\n",
    )
    .unwrap();
    let event = json!({
        "version": "0", "id": "e-1", "source": "custom.app",
        "detail-type": "Something", "account": "111122223333", "region": "us-east-1",
        "time": "2024-05-01T12:00:00Z",
        "resources": ["arn:aws:s3:::evil\u{1b}[2J\roverwritten"], "detail": {}
    });
    std::fs::write(dir.path().join("event.json"), event.to_string()).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_rectify"))
            .current_dir(dir.path())
            .env_remove("RECTIFY_CONFIG")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(args)
            .output()
            .unwrap()
    };
    for args in [&["process", "event.json"][..], &["jobs", "list"][..]] {
        let out = run(args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("arn:aws:s3:::evil\\x1b[2J\\roverwritten"),
            "{args:?}: {text:?} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
    }
}

/// The Lambda Runtime API stand-in, killed on drop.
struct RuntimeApi {
    child: std::process::Child,
    address: String,
}

impl RuntimeApi {
    fn start() -> RuntimeApi {
        use std::io::BufRead;
        let root = support::repo_root();
        let mut child = Command::new(root.join(".venv/bin/python"))
            .arg(root.join("tests/standins/lambda_runtime_standin.py"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the Lambda Runtime API stand-in (run scripts/venv first)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.trim().strip_prefix("READY ").expect("READY").into();
        RuntimeApi { child, address }
    }

    fn state(&self) -> serde_json::Value {
        let (_, body) = support::http(
            &format!("http://{}", self.address),
            "GET",
            "/_standin/state",
            None,
            None,
        );
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_store_password_stays_out_of_the_lambda_init_error() {
    for (store, error_type) in [
        // Nothing listens on port 1: the store cannot be opened.
        (
            "postgres://rectify:hunter2-secret@127.0.0.1:1/x?password=hunter2-secret",
            "Rectify.StoreUnavailable",
        ),
        (
            "mysql://rectify:hunter2-secret@db/x",
            "Rectify.InvalidConfig",
        ),
    ] {
        let api = RuntimeApi::start();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("rectify.yaml");
        std::fs::write(
            &config,
            format!("store: \"{store}\"\naudit: {{key: none}}\n"),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_rectify"))
            .arg("lambda")
            .env("RECTIFY_CONFIG", &config)
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let state = api.state();
        let init = &state["init_error"];
        assert_eq!(init["body"]["errorType"], error_type, "{state}");
        let message = init["body"]["errorMessage"].as_str().unwrap();
        assert!(message.contains("***"), "{message}");
        for text in [
            message.to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ] {
            assert!(!text.contains("hunter2"), "{text}");
        }
    }
}

/// One call of the AWS KMS JSON API on the emulator: the answer's JSON.
fn kms(target: &str, body: serde_json::Value) -> serde_json::Value {
    use std::io::{Read, Write};
    let host = env().moto.trim_start_matches("http://").to_string();
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {host}\r\nX-Amz-Target: TrentService.{target}\r\n\
         Content-Type: application/x-amz-json-1.1\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20240501/{REGION}/kms/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, rest) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{target}: {response}");
    serde_json::from_str(rest).unwrap()
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kms_hmac_key_keys_the_log_and_signs_the_anchors() {
    let key = kms(
        "CreateKey",
        json!({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}),
    );
    let arn = key["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    let site = Site::new("").await;
    let config = site.dir.path().join("rectify.yaml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "key_env: RECTIFY_TEST_AUDIT_KEY",
        &format!("kms_key_id: \"{arn}\""),
    );
    std::fs::write(&config, text).unwrap();

    site.records(1);
    let out = site.rectify(&["audit", "verify"]);
    assert_eq!(code(&out), Some(0));
    assert!(
        stdout(&out).contains("2 records, 2 keyed"),
        "{}",
        stdout(&out)
    );
    assert_eq!(code(&site.rectify(&["audit", "anchor"])), Some(0));
    assert_eq!(
        code(&site.rectify(&["audit", "verify", "--anchors"])),
        Some(0)
    );

    // An auditor with kms:GenerateMac derives the record key as documented
    // and recomputes the records with it.
    let mac = kms(
        "GenerateMac",
        json!({
            "KeyId": arn, "MacAlgorithm": "HMAC_SHA_256",
            "Message": "cmVjdGlmeS1hdWRpdC1yZWNvcmQta2V5LXYx",
        }),
    );
    assert_eq!(
        base64_decode("cmVjdGlmeS1hdWRpdC1yZWNvcmQta2V5LXYx"),
        audit::KMS_RECORD_KEY_MESSAGE
    );
    let derived = AuditKey::new(base64_decode(mac["Mac"].as_str().unwrap())).unwrap();
    let store = rectify_store::open_with(
        &format!("sqlite://{}", site.db().display()),
        rectify_store::StoreOptions {
            audit_key: Some(derived),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        store.verify_audit().await.unwrap(),
        rectify_store::AuditVerdict::Intact {
            records: 2,
            keyed: 2
        }
    );
}
