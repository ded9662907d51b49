//! TLS to the local PostgreSQL server, with a CA this test makes.
//!
//! Setup (idempotent, safe for the other tests on the same server): the
//! server's certificate and key are written to
//! `/var/lib/postgresql/rectify-test-tls/` (owned by the server's user) and
//! the server is pointed at them with `ALTER SYSTEM` and a reload; `ssl`
//! is turned on. Plain connections still work (`host` lines of pg_hba take
//! both), and a later run reuses the files it finds. The server must be the
//! local one (`127.0.0.1`), whose files this process can write, as root.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rectify_store::open;
use serde_json::json;
use support::{pg_connect, postgres_server_url, unique_schema, TestDb};
use tokio::sync::OnceCell;

const TLS_DIR: &str = "/var/lib/postgresql/rectify-test-tls";
/// The only name in the server's certificate.
const SERVER_NAME: &str = "pg.rectify.test";

static SETUP: OnceCell<PathBuf> = OnceCell::const_new();

/// A CA: its certificate (PEM) and what signs with it.
fn new_ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let pem = params.self_signed(&key).unwrap().pem();
    (pem, Issuer::new(params, key))
}

fn owner_of_server_files() -> (u32, u32) {
    let meta = std::fs::metadata("/var/lib/postgresql").expect("the local PostgreSQL's home");
    use std::os::unix::fs::MetadataExt;
    (meta.uid(), meta.gid())
}

fn write_owned(path: &Path, text: &str, mode: u32, owner: (u32, u32)) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    std::os::unix::fs::chown(path, Some(owner.0), Some(owner.1)).unwrap();
}

/// Makes the local server speak TLS with a certificate of our CA (once per
/// run; reuses what an earlier run left); returns the CA file's path.
async fn setup() -> PathBuf {
    SETUP
        .get_or_init(|| async {
            let server = postgres_server_url();
            assert!(
                server.contains("@127.0.0.1") || server.contains("@localhost"),
                "the TLS tests configure the local server; {server} is not it"
            );
            let dir = Path::new(TLS_DIR);
            let (ca_file, cert_file, key_file) = (
                dir.join("ca.pem"),
                dir.join("server.pem"),
                dir.join("server.key"),
            );
            let admin = pg_connect(&server, None).await;
            let current: String = admin
                .query_one("SHOW ssl_cert_file", &[])
                .await
                .unwrap()
                .get(0);
            let ssl_on: String = admin.query_one("SHOW ssl", &[]).await.unwrap().get(0);
            let in_place = current == cert_file.display().to_string()
                && ssl_on == "on"
                && ca_file.exists()
                && key_file.exists();
            if !in_place {
                let owner = owner_of_server_files();
                std::fs::create_dir_all(dir).unwrap();
                std::os::unix::fs::chown(dir, Some(owner.0), Some(owner.1)).unwrap();
                let (ca_pem, ca) = new_ca("rectify test CA");
                let key = KeyPair::generate().unwrap();
                let params = CertificateParams::new(vec![SERVER_NAME.to_string()]).unwrap();
                let cert = params.signed_by(&key, &ca).unwrap();
                write_owned(&key_file, &key.serialize_pem(), 0o600, owner);
                write_owned(&cert_file, &cert.pem(), 0o644, owner);
                write_owned(&ca_file, &ca_pem, 0o644, owner);
                // One statement each: ALTER SYSTEM runs outside a
                // transaction block only.
                for statement in [
                    format!("ALTER SYSTEM SET ssl_cert_file = '{}'", cert_file.display()),
                    format!("ALTER SYSTEM SET ssl_key_file = '{}'", key_file.display()),
                    "ALTER SYSTEM SET ssl = on".to_string(),
                    "SELECT pg_reload_conf()".to_string(),
                ] {
                    admin.batch_execute(&statement).await.unwrap();
                }
                // A reload is asynchronous: new sessions see it once done.
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                loop {
                    let c = pg_connect(&server, None).await;
                    let file: String = c.query_one("SHOW ssl_cert_file", &[]).await.unwrap().get(0);
                    let ssl: String = c.query_one("SHOW ssl", &[]).await.unwrap().get(0);
                    if file == cert_file.display().to_string() && ssl == "on" {
                        break;
                    }
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the server did not take the TLS settings"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            ca_file
        })
        .await
        .clone()
}

/// `postgres://USER@HOST:PORT/DB` of the test server, with `host` as the
/// name connected to (its address given by `hostaddr`) and `params`.
fn test_url(host: &str, params: &str) -> (String, String) {
    let server = postgres_server_url();
    let (scheme_user, rest) = server.split_once('@').unwrap();
    let (_, port_db) = rest.split_once(':').unwrap_or((rest, "5432/postgres"));
    let schema = unique_schema();
    let app = format!("rectify_tls_{}", &schema[13..]);
    (
        format!(
            "{scheme_user}@{host}:{port_db}?hostaddr=127.0.0.1&schema={schema}&application_name={app}&{params}"
        ),
        app,
    )
}

/// Whether the store's connections (by application name) are encrypted.
async fn encrypted(app: &str) -> Vec<bool> {
    let admin = pg_connect(&postgres_server_url(), None).await;
    admin
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1",
            &[&app],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn drop_schema(url: &str) {
    let schema = url
        .split("schema=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap()
        .to_string();
    let admin = pg_connect(&postgres_server_url(), None).await;
    let _ = admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await;
}

/// Opens, writes and reads through the store; the connections it used.
async fn works(url: &str, app: &str) -> Vec<bool> {
    let store = open(url).await.unwrap_or_else(|e| panic!("{url}: {e:#}"));
    store
        .append_audit("k", "s", &json!({"tls": true}))
        .await
        .unwrap();
    assert_eq!(store.audit(0, 0).await.unwrap().len(), 1);
    let seen = encrypted(app).await;
    drop(store);
    drop_schema(url).await;
    assert!(!seen.is_empty(), "no connection of {app} seen");
    seen
}

#[tokio::test]
async fn verify_full_with_the_servers_ca_and_name() {
    let ca = setup().await;
    let (url, app) = test_url(
        SERVER_NAME,
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    );
    assert!(works(&url, &app).await.iter().all(|ssl| *ssl));
}

#[tokio::test]
async fn verify_full_refuses_another_host_name() {
    let ca = setup().await;
    // The certificate names pg.rectify.test, not 127.0.0.1.
    let (url, _) = test_url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    );
    let err = open(&url)
        .await
        .err()
        .expect("a certificate for another name");
    let text = format!("{err:#} {:?}", std::error::Error::source(&err));
    assert!(text.contains("NotValidForName"), "{text}");
}

#[tokio::test]
async fn verify_full_refuses_an_unknown_ca() {
    setup().await;
    let (other_ca, _) = new_ca("some other CA");
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&other, other_ca).unwrap();
    let (url, _) = test_url(
        SERVER_NAME,
        &format!("sslmode=verify-full&sslrootcert={}", other.display()),
    );
    let err = open(&url)
        .await
        .err()
        .expect("a server certificate of an unknown CA");
    let text = format!("{err:#} {:?}", std::error::Error::source(&err));
    assert!(text.contains("UnknownIssuer"), "{text}");
    // Without sslrootcert the built-in public roots do not know it either.
    let (url, _) = test_url(SERVER_NAME, "sslmode=verify-full");
    assert!(open(&url).await.is_err());
}

#[tokio::test]
async fn require_and_verify_ca_encrypt() {
    let ca = setup().await;
    // require: encrypted, the certificate not checked.
    let (url_require, app) = test_url("127.0.0.1", "sslmode=require");
    assert!(works(&url_require, &app).await.iter().all(|ssl| *ssl));
    // verify-ca: the chain checked, not the name.
    let (url_ca, app) = test_url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={}", ca.display()),
    );
    assert!(works(&url_ca, &app).await.iter().all(|ssl| *ssl));
}

#[tokio::test]
async fn without_sslmode_the_connection_is_plain() {
    setup().await;
    let (url, app) = test_url("127.0.0.1", "pool_size=2");
    assert!(works(&url, &app).await.iter().all(|ssl| !*ssl));
}

#[tokio::test]
async fn an_unreadable_ca_file_is_a_clear_error() {
    let (url, _) = test_url(
        SERVER_NAME,
        "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
    );
    let err = open(&url).await.err().unwrap();
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    let _ = TestDb::postgres();
}
