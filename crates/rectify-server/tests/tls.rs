//! `api.tls`: HTTPS with a certificate the test makes, trusted by a real
//! TLS client; a new certificate written over the files is served on the
//! next connections without a restart.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn make_cert() -> (String, String, CertificateDer<'static>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    (
        made.cert.pem(),
        made.signing_key.serialize_pem(),
        made.cert.der().clone(),
    )
}

fn write_pair(dir: &Path, cert: &str, key: &str) {
    // Written aside and renamed, as a certificate manager does.
    std::fs::write(dir.join("cert.pem.new"), cert).unwrap();
    std::fs::write(dir.join("key.pem.new"), key).unwrap();
    std::fs::rename(dir.join("key.pem.new"), dir.join("key.pem")).unwrap();
    std::fs::rename(dir.join("cert.pem.new"), dir.join("cert.pem")).unwrap();
}

/// GET /healthz over TLS trusting `trusted`: the status line and the
/// certificate the server presented.
async fn https_health(
    addr: SocketAddr,
    trusted: &[CertificateDer<'static>],
) -> (String, CertificateDer<'static>) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in trusted {
        roots.add(cert.clone()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake with a trusted certificate");
    let served = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    (text.lines().next().unwrap_or_default().to_string(), served)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_certificate_reloaded_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let (cert1, key1, der1) = make_cert();
    write_pair(dir.path(), &cert1, &key1);
    let s = start_in(
        dir,
        "",
        "  tls:\n    cert_file: cert.pem\n    key_file: key.pem\n",
    )
    .await;

    let (status, served) = https_health(s.addr, std::slice::from_ref(&der1)).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(served, der1);

    // Plain HTTP on the TLS port gets no answer.
    let mut plain = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = plain.read_to_end(&mut raw).await;
    assert!(!String::from_utf8_lossy(&raw).contains("\"status\""));

    // A renewed certificate: the next connections get it.
    let (cert2, key2, der2) = make_cert();
    write_pair(s.dir.path(), &cert2, &key2);
    let trusted = [der1.clone(), der2.clone()];
    let mut served = der1.clone();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (status, now) = https_health(s.addr, &trusted).await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        served = now;
        if served == der2 {
            break;
        }
    }
    assert_eq!(served, der2, "the renewed certificate was not served");

    // A broken renewal keeps the certificate in use.
    std::fs::write(s.dir.path().join("cert.pem"), "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, served) = https_health(s.addr, &trusted).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(served, der2);
}

#[test]
fn a_key_that_does_not_fit_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (cert1, _, _) = make_cert();
    let (_, key2, _) = make_cert();
    write_pair(dir.path(), &cert1, &key2);
    let settings = rectify_config::ApiSettings {
        tls: Some(rectify_config::TlsFiles {
            cert_file: dir.path().join("cert.pem"),
            key_file: dir.path().join("key.pem"),
        }),
        ..Default::default()
    };
    let err = rectify_server::check_tls(&settings).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("does not fit"), "{text}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");
}
