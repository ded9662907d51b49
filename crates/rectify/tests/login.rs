//! Logging in as people do: a `credential_process` profile chosen with
//! --profile or aws.profile, --region, HTTP(S)_PROXY / NO_PROXY,
//! AWS_MAX_ATTEMPTS; and where the config file is found.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_credential_types::provider::ProvideCredentials;
use serde_json::Value;
use support::{account_config, env, new_account, REGION};

/// rectify with no AWS keys, profile or config in its environment.
fn bare(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rectify"));
    cmd.current_dir(dir);
    for var in [
        "RECTIFY_CONFIG",
        "RECTIFY_LOG",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "XDG_CONFIG_HOME",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", dir)
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

fn show(args: &[&str], out: &Output) {
    eprintln!(
        "$ rectify {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run(cmd: &mut Command, args: &[&str]) -> Output {
    let out = cmd.args(args).output().unwrap();
    show(args, &out);
    out
}

/// A management account with an organization, and credentials inside it.
async fn organization() -> (String, aws_credential_types::Credentials) {
    let account = new_account();
    let config = account_config(&account).await;
    aws_sdk_organizations::Client::new(&config)
        .create_organization()
        .send()
        .await
        .unwrap();
    let creds = config
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap();
    (account, creds)
}

const ORG_CONFIG: &str = "store: sqlite://r.db\naudit: {key: none}\naccounts:\n  from_organizations:\n    role_arn: arn:aws:iam::{account}:role/rectify\n    external_id: none\n";

fn listed(out: &Output) -> Vec<String> {
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    report["accounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_credential_process_profile_logs_in_by_flag_or_config() {
    let (account, creds) = organization().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The helper counts its runs and prints the credentials of `account`.
    let helper = d.join("creds.sh");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\necho run >> '{}'\ncat <<'EOF'\n{}\nEOF\n",
            d.join("runs").display(),
            serde_json::json!({
                "Version": 1,
                "AccessKeyId": creds.access_key_id(),
                "SecretAccessKey": creds.secret_access_key(),
                "SessionToken": creds.session_token().unwrap(),
            })
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let aws_config = d.join("aws-config");
    std::fs::write(
        &aws_config,
        format!(
            "[profile ops]\ncredential_process = {}\nregion = {REGION}\n",
            helper.display()
        ),
    )
    .unwrap();
    std::fs::write(d.join("rectify.yaml"), ORG_CONFIG).unwrap();
    let runs = || {
        std::fs::read_to_string(d.join("runs"))
            .unwrap_or_default()
            .lines()
            .count()
    };

    let with_env = |cmd: &mut Command| {
        cmd.env("AWS_CONFIG_FILE", &aws_config)
            .env("AWS_ENDPOINT_URL", &env().moto)
            .env("AWS_MAX_ATTEMPTS", "1");
    };
    // No profile: no credentials at all, nothing listed.
    let mut cmd = bare(d);
    with_env(&mut cmd);
    let out = run(&mut cmd, &["accounts", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(runs(), 0);

    // --profile: the helper runs and its credentials are those of the
    // organization's management account, which rectify lists.
    let mut cmd = bare(d);
    with_env(&mut cmd);
    let out = run(
        &mut cmd,
        &["--profile", "ops", "accounts", "--output", "json"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(listed(&out), vec![account.clone()]);
    assert!(runs() >= 1);

    // aws.profile in the config does the same.
    let before = runs();
    std::fs::write(
        d.join("rectify.yaml"),
        format!("aws:\n  profile: ops\n{ORG_CONFIG}"),
    )
    .unwrap();
    let mut cmd = bare(d);
    with_env(&mut cmd);
    let out = run(&mut cmd, &["accounts", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(listed(&out), vec![account.clone()]);
    assert!(runs() > before);

    // A profile that does not exist is refused with its name.
    let mut cmd = bare(d);
    with_env(&mut cmd);
    let out = run(&mut cmd, &["--profile", "nope", "accounts"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

#[test]
fn region_flag_wins_and_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("rectify.yaml"), "aws:\n  region: us-east-1\n").unwrap();
    let json = |out: &Output| -> Value { serde_json::from_slice(&out.stdout).unwrap() };
    let out = run(&mut bare(d), &["validate", "--output", "json"]);
    assert_eq!(json(&out)["region"], "us-east-1");
    let out = run(
        &mut bare(d),
        &["--region", "eu-west-3", "validate", "--output", "json"],
    );
    assert_eq!(json(&out)["region"], "eu-west-3");
    let out = run(
        &mut bare(d),
        &["--profile", "p1", "validate", "--output", "json"],
    );
    assert_eq!(json(&out)["profile"], "p1");
    let out = run(&mut bare(d), &["--region", "moon-1", "validate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--region moon-1"));
}

#[test]
fn the_config_is_found_in_order_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let work = d.join("work");
    let xdg = d.join("xdg");
    let home = d.join("home");
    for p in [&work, &xdg.join("rectify"), &home.join(".config/rectify")] {
        std::fs::create_dir_all(p).unwrap();
    }
    let write = |path: &Path, region: &str| {
        std::fs::write(path, format!("aws:\n  region: {region}\n")).unwrap();
    };
    let validate = |cmd: &mut Command| {
        let out = run(cmd, &["validate", "--output", "json"]);
        assert_eq!(out.status.code(), Some(0));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            v["region"].as_str().unwrap().to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // Nothing anywhere: commands that keep state refuse, say how to make
    // one, and leave no database behind.
    let out = run(bare(&work).env("HOME", &home), &["jobs", "list"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no config file"), "{err}");
    assert!(err.contains("rectify init"), "{err}");
    assert!(err.contains(
        &home
            .join(".config/rectify/rectify.yaml")
            .display()
            .to_string()
    ));
    assert!(!work.join("rectify.db").exists());
    // validate says it uses the built-in default.
    let (_, err) = validate(bare(&work).env("HOME", &home));
    assert!(
        err.contains("no config file found; using the built-in default"),
        "{err}"
    );

    // ~/.config when XDG_CONFIG_HOME is unset.
    write(&home.join(".config/rectify/rectify.yaml"), "eu-north-1");
    let (region, err) = validate(bare(&work).env("HOME", &home));
    assert_eq!(region, "eu-north-1");
    assert!(err.contains("found in ~/.config"), "{err}");
    // $XDG_CONFIG_HOME instead of ~/.config.
    write(&xdg.join("rectify/rectify.yaml"), "eu-west-2");
    let (region, err) = validate(bare(&work).env("HOME", &home).env("XDG_CONFIG_HOME", &xdg));
    assert_eq!(region, "eu-west-2");
    assert!(
        err.contains(&format!(
            "rectify: config {} (found in $XDG_CONFIG_HOME)",
            xdg.join("rectify/rectify.yaml").display()
        )),
        "{err}"
    );
    // ./rectify.yaml before both.
    write(&work.join("rectify.yaml"), "ap-south-1");
    let (region, err) = validate(bare(&work).env("HOME", &home).env("XDG_CONFIG_HOME", &xdg));
    assert_eq!(region, "ap-south-1");
    assert!(
        err.contains("rectify: config rectify.yaml (found in the current folder)"),
        "{err}"
    );
    // --config before all.
    let other = d.join("other.yaml");
    write(&other, "sa-east-1");
    let (region, err) = validate(
        bare(&work)
            .env("HOME", &home)
            .args(["--config", other.to_str().unwrap()]),
    );
    assert_eq!(region, "sa-east-1");
    assert!(err.contains("(from --config)"), "{err}");

    // `rectify init` writes a config that validates, and not twice.
    let fresh = d.join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    let out = run(bare(&fresh).env("HOME", &home), &["init"]);
    assert_eq!(out.status.code(), Some(0));
    let (region, _) = validate(bare(&fresh).env("HOME", &home));
    assert_eq!(region, "us-east-1");
    let out = run(bare(&fresh).env("HOME", &home), &["init"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A forward proxy for plain-HTTP requests on loopback: counts them and
/// passes each to its origin (or answers 503 itself when `fail` is set).
struct Proxy {
    url: String,
    count: Arc<AtomicUsize>,
}

impl Proxy {
    fn start(fail: bool) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().take(500).flatten() {
                let counted = counted.clone();
                std::thread::spawn(move || {
                    let _ = serve_one(conn, &counted, fail);
                });
            }
        });
        Proxy { url, count }
    }

    fn requests(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

fn serve_one(mut client: TcpStream, count: &AtomicUsize, fail: bool) -> std::io::Result<()> {
    client.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
            if name.eq_ignore_ascii_case("connection")
                || name.eq_ignore_ascii_case("proxy-connection")
            {
                continue;
            }
        }
        headers.push(line);
    }
    let mut body = vec![0; length.min(10 << 20)];
    reader.read_exact(&mut body)?;
    count.fetch_add(1, Ordering::SeqCst);
    if fail {
        client.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return Ok(());
    }
    // `POST http://host:port/path HTTP/1.1` -> to host:port, `POST /path`.
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let rest = target.strip_prefix("http://").unwrap_or(target);
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut origin = TcpStream::connect(authority)?;
    let mut out = format!(
        "{method} {} HTTP/1.1\r\n",
        if path.is_empty() { "/" } else { path }
    );
    for h in &headers {
        out.push_str(h);
    }
    out.push_str("Connection: close\r\n\r\n");
    origin.write_all(out.as_bytes())?;
    origin.write_all(&body)?;
    let mut answer = Vec::new();
    origin.read_to_end(&mut answer)?;
    client.write_all(&answer)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_and_retry_variables_are_honoured() {
    let (account, creds) = organization().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("rectify.yaml"), ORG_CONFIG).unwrap();
    let moto_host = env()
        .moto
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap()
        .to_string();
    let command = |proxy: &Proxy| {
        let mut cmd = bare(d);
        cmd.env("AWS_ENDPOINT_URL", &env().moto)
            .env("AWS_ACCESS_KEY_ID", creds.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key())
            .env("AWS_SESSION_TOKEN", creds.session_token().unwrap())
            .env("HTTP_PROXY", &proxy.url)
            .env("HTTPS_PROXY", &proxy.url);
        cmd
    };

    // Through the proxy: every call passes it and reaches the emulator.
    let proxy = Proxy::start(false);
    let out = run(&mut command(&proxy), &["accounts", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(listed(&out), vec![account.clone()]);
    let through = proxy.requests();
    assert!(through >= 3, "{through}"); // ListRoots, ListAccountsForParent, ListOrganizationalUnitsForParent, ...

    // NO_PROXY names the emulator's host: straight there.
    let out = run(
        command(&proxy).env("NO_PROXY", &moto_host),
        &["accounts", "--output", "json"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(listed(&out), vec![account.clone()]);
    assert_eq!(proxy.requests(), through);

    // AWS_MAX_ATTEMPTS: the first call is tried exactly that often.
    for attempts in [1, 3] {
        let failing = Proxy::start(true);
        let out = run(
            command(&failing).env("AWS_MAX_ATTEMPTS", attempts.to_string()),
            &["accounts", "--output", "json"],
        );
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(failing.requests(), attempts);
    }
    // aws.sdk_max_attempts wins over the variable.
    std::fs::write(
        d.join("rectify.yaml"),
        format!("aws:\n  sdk_max_attempts: 2\n{ORG_CONFIG}"),
    )
    .unwrap();
    let failing = Proxy::start(true);
    let out = run(
        command(&failing).env("AWS_MAX_ATTEMPTS", "1"),
        &["accounts", "--output", "json"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(failing.requests(), 2);
}
