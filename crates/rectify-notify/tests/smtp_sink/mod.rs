//! A real SMTP server (aiosmtpd, tests/standins/smtp_sink.py) on
//! loopback, started and stopped by the test, and what it received.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub const USER: &str = "rectify-mailer";
pub const PASSWORD: &str = "smtp-pass-0123456789";

/// The SMTP server: killed and reaped on drop, so no process outlives the
/// test; it also exits on its own when its stdin (this process) closes.
pub struct SmtpSink {
    pub child: Child,
    pub port: u16,
    out: PathBuf,
    pub cert: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = root.join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run ./scripts/venv",
            python.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = dir.path().join("mail.jsonl");
        let cert = dir.path().join("cert.pem");
        let mut child = Command::new(python)
            .arg(root.join("tests/standins/smtp_sink.py"))
            .args([
                "--port",
                &port.to_string(),
                "--user",
                USER,
                "--password",
                PASSWORD,
            ])
            .arg("--out")
            .arg(&out)
            .arg("--cert")
            .arg(&cert)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        SmtpSink {
            child,
            port,
            out,
            cert,
            _dir: dir,
        }
    }

    /// Each message the server accepted.
    pub fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The headers (unfolded, by lower-cased name) and the body of a message.
pub fn parse(data: &str) -> (BTreeMap<String, String>, String) {
    let (head, body) = data.split_once("\r\n\r\n").expect("headers and body");
    let mut headers = BTreeMap::new();
    let mut last = String::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            headers
                .entry(last.clone())
                .and_modify(|v: &mut String| v.push_str(line));
        } else if let Some((k, v)) = line.split_once(':') {
            last = k.trim().to_ascii_lowercase();
            headers.insert(last.clone(), v.trim().to_string());
        }
    }
    (headers, body.to_string())
}
