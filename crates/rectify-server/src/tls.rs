//! `api.tls`: the certificate and key are read again when either file
//! changes (checked at most once a second, on a handshake), so a renewed
//! certificate is served without a restart. A renewal that cannot be read
//! (half written, key not matching) keeps the certificate in use and is
//! logged.

use std::fs;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use rectify_config::TlsFiles;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What identifies a version of the files: modification time and size.
type Stamp = [(Option<SystemTime>, u64); 2];

#[derive(Debug)]
pub(crate) struct ReloadingCert {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    key: Arc<CertifiedKey>,
    stamp: Stamp,
    checked: Instant,
}

fn stamp(files: &TlsFiles) -> Stamp {
    let one = |path: &std::path::Path| match fs::metadata(path) {
        Ok(m) => (m.modified().ok(), m.len()),
        Err(_) => (None, 0),
    };
    [one(&files.cert_file), one(&files.key_file)]
}

fn load(files: &TlsFiles, provider: &CryptoProvider) -> anyhow::Result<Arc<CertifiedKey>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert_file)
        .with_context(|| format!("api.tls.cert_file {}", files.cert_file.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("api.tls.cert_file {}", files.cert_file.display()))?;
    if certs.is_empty() {
        anyhow::bail!(
            "api.tls.cert_file {}: no certificate in the file",
            files.cert_file.display()
        );
    }
    // The error of a key file names the file, never its content.
    let key = PrivateKeyDer::from_pem_file(&files.key_file)
        .with_context(|| format!("api.tls.key_file {}", files.key_file.display()))?;
    let key = CertifiedKey::from_der(certs, key, provider).with_context(|| {
        format!(
            "api.tls: the key in {} does not fit the certificate in {}",
            files.key_file.display(),
            files.cert_file.display()
        )
    })?;
    Ok(Arc::new(key))
}

impl ReloadingCert {
    pub(crate) fn new(files: &TlsFiles, provider: Arc<CryptoProvider>) -> anyhow::Result<Self> {
        let stamp = stamp(files);
        let key = load(files, &provider)?;
        Ok(ReloadingCert {
            files: files.clone(),
            provider,
            state: Mutex::new(State {
                key,
                stamp,
                checked: Instant::now(),
            }),
        })
    }

    fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.checked.elapsed() >= CHECK_EVERY {
            state.checked = Instant::now();
            let now = stamp(&self.files);
            if now != state.stamp {
                match load(&self.files, &self.provider) {
                    Ok(key) => {
                        state.key = key;
                        state.stamp = now;
                        tracing::info!("api.tls: certificate reloaded");
                    }
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "api.tls: keeping the certificate in use")
                    }
                }
            }
        }
        state.key.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// A TLS acceptor for `api.tls`: TLS 1.2 and 1.3 with rustls' safe
/// defaults, HTTP/1.1 by ALPN, no client certificates.
pub(crate) fn acceptor(files: &TlsFiles) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = ReloadingCert::new(files, provider.clone())?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("api.tls: protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
