//! The one HTTP client for outbound calls (webhooks, partner instances): TLS by rustls on the
//! `ring` provider, trusting the system's CA store plus an optional agency CA file, so an
//! agency's internal certificate authority works without touching the system store.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Builds the outbound client. `extra_ca_file` is a PEM file of further trusted roots.
pub fn outbound(
    extra_ca_file: Option<&Path>,
    timeout: Duration,
) -> anyhow::Result<reqwest::Client> {
    let mut roots = rustls::RootCertStore::empty();
    let system = rustls_native_certs::load_native_certs();
    // A broken entry in the system store is not a reason to refuse every peer.
    roots.add_parsable_certificates(system.certs);
    if let Some(path) = extra_ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .with_context(|| format!("cannot read the CA file {}", path.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("{} is not a PEM certificate file", path.display()))?;
        if certs.is_empty() {
            anyhow::bail!("{} holds no PEM certificate", path.display());
        }
        for cert in certs {
            roots
                .add(cert)
                .with_context(|| format!("{} holds an unusable certificate", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .build()
        .context("cannot build the outbound HTTP client")
}

/// A plain client with the default settings, for talking to this instance itself (tests,
/// benchmarks). reqwest is built without a default TLS provider, so install ours first.
pub fn local() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::new()
}

/// Makes `ring` the process-wide rustls provider (once; later calls do nothing).
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err only if another provider was installed first, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Plate data may only leave over TLS, except to this machine itself (a local relay).
pub fn check_outbound_url(url: &str) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&parsed) => Ok(()),
        "http" => anyhow::bail!(
            "{url} uses plain http; use https (plain http is allowed only to localhost)"
        ),
        other => anyhow::bail!("{url} uses {other}:, but only https is supported"),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::check_outbound_url;

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(check_outbound_url("https://hooks.example.org/x").is_ok());
        assert!(check_outbound_url("http://127.0.0.1:9000/x").is_ok());
        assert!(check_outbound_url("http://localhost/x").is_ok());
        assert!(check_outbound_url("http://[::1]/x").is_ok());
        let e = check_outbound_url("http://hooks.example.org/x").unwrap_err();
        assert!(e.to_string().contains("use https"), "{e}");
        assert!(check_outbound_url("ftp://x/y").is_err());
        assert!(check_outbound_url("not a url").is_err());
    }

    #[test]
    fn a_bad_ca_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let e = super::outbound(Some(&path), std::time::Duration::from_secs(1)).unwrap_err();
        assert!(format!("{e:#}").contains("ca.pem"), "{e:#}");
    }
}
