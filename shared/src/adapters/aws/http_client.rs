//! One HTTP stack for every outbound call, AWS and Twilio alike: reqwest (hyper, HTTP/1.1) with
//! rustls on ring.
//!
//! The SDKs' default HTTPS client brings aws-lc, h2 and a second hyper client and rustls setup;
//! together about 3.5 MiB of every function binary (benches/README.md, "Binary size"). DynamoDB
//! and Secrets Manager speak HTTP/1.1, and the SDK's orchestrator does retries, signing and
//! operation timeouts above the connector, so a connector only has to move bytes.

use crate::config::ConfigError;
use aws_smithy_runtime_api::client::{
    connector_metadata::ConnectorMetadata,
    http::{HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector},
    orchestrator::{HttpRequest, HttpResponse},
    result::ConnectorError,
    runtime_components::RuntimeComponents,
};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use std::{
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

/// The SDK's own default connect timeout, for settings that name none.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// Makes ring rustls' process-wide provider, which reqwest (built with `rustls-no-provider`)
/// reads when a client is built. Idempotent.
pub fn install_process_provider() {
    // Err only means a provider is installed already (a second call, or a test harness).
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// rustls' client configuration, built once per process and shared by the SDK's client and
/// Twilio's. The trust anchors are Mozilla's, compiled in (`webpki-roots`): building them costs
/// microseconds, where loading the platform store read and parsed every file of /etc/ssl/certs
/// at each cold start (~5 ms of init, 4–37 ms in-process; benches/README.md, section 2).
/// `SSL_CERT_FILE`, when set, replaces them with that PEM bundle, as it does for OpenSSL: for a
/// private CA (the local TLS bench) or a corporate proxy.
/// An unusable `SSL_CERT_FILE` is a configuration error of the cold start that builds the first
/// client (never a panic or an exit inside a request).
fn tls_config() -> Result<rustls::ClientConfig, ConfigError> {
    static CONFIG: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = match std::env::var_os("SSL_CERT_FILE") {
                Some(path) => roots_from_pem_file(path.as_ref())?,
                None => rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() },
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports TLS 1.2 and 1.3")
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(config)
        })
        .clone()
        .map_err(|problem| ConfigError { var: "SSL_CERT_FILE", problem })
}

/// Every certificate of a PEM bundle as a trust anchor; an unreadable file, or one without a
/// usable certificate, is an error (a typo must not leave the function trusting nothing).
fn roots_from_pem_file(path: &std::path::Path) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let named = |e: &dyn std::fmt::Display| format!("{:?}: {e}", path);
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| named(&e))? {
        roots.add(cert.map_err(|e| named(&e))?).map_err(|e| named(&e))?;
    }
    if roots.is_empty() {
        return Err(named(&"holds no certificate"));
    }
    Ok(roots)
}

/// A reqwest client with the settings every outbound call shares. Each caller gets its own
/// connection pool: a pool's connections belong to the tokio runtime that opened them.
pub fn reqwest_client(connect_timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    install_process_provider();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config()?)
        .connect_timeout(connect_timeout)
        .user_agent(concat!("sms-mfa/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| ConfigError { var: "SSL_CERT_FILE", problem: format!("gives no usable TLS client: {err}") })
}

/// The HTTP client for the AWS SDK clients. Built eagerly (its TLS configuration is cheap now),
/// so a bad `SSL_CERT_FILE` stops the cold start rather than the first request.
pub fn sdk_http_client() -> Result<SharedHttpClient, ConfigError> {
    let eager = (DEFAULT_CONNECT_TIMEOUT, reqwest_client(DEFAULT_CONNECT_TIMEOUT)?);
    Ok(SharedHttpClient::new(SdkOverReqwest { clients: Mutex::new(vec![eager]) }))
}

/// The SDK asks for a connector per operation with its timeout settings; clients (and so their
/// connection pools) are kept per connect timeout, which in practice means one.
#[derive(Debug)]
struct SdkOverReqwest {
    clients: Mutex<Vec<(Duration, reqwest::Client)>>,
}

impl HttpClient for SdkOverReqwest {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        let connect_timeout = settings.connect_timeout().unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let http = match clients.iter().find(|(timeout, _)| *timeout == connect_timeout) {
            Some((_, http)) => http.clone(),
            None => match reqwest_client(connect_timeout) {
                Ok(http) => {
                    clients.push((connect_timeout, http.clone()));
                    http
                }
                // The first client was built from the same TLS configuration: this cannot fail
                // where that did not, and if it did the default timeout still connects.
                Err(_) => clients[0].1.clone(),
            },
        };
        SharedHttpConnector::new(ReqwestConnector { http, read_timeout: settings.read_timeout() })
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("reqwest", None))
    }
}

#[derive(Debug)]
struct ReqwestConnector {
    http: reqwest::Client,
    read_timeout: Option<Duration>,
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let prepared = self.prepare(&request);
        HttpConnectorFuture::new(async move {
            let response = prepared?.send().await.map_err(connector_error)?;
            let status = StatusCode::try_from(response.status().as_u16()).map_err(|e| ConnectorError::other(e.into(), None))?;
            let headers = response.headers().clone();
            let body = response.bytes().await.map_err(connector_error)?;
            let mut out = HttpResponse::new(status, SdkBody::from(body));
            for (name, value) in &headers {
                // A header that is not UTF-8 is nothing the SDK reads; skipping it beats failing.
                if let Ok(value) = value.to_str() {
                    out.headers_mut().append(name.as_str().to_owned(), value.to_owned());
                }
            }
            Ok(out)
        })
    }
}

impl ReqwestConnector {
    fn prepare(&self, request: &HttpRequest) -> Result<reqwest::RequestBuilder, ConnectorError> {
        let method = reqwest::Method::from_bytes(request.method().as_bytes()).map_err(|e| ConnectorError::other(e.into(), None))?;
        // DynamoDB and Secrets Manager requests are JSON held in memory; nothing here streams.
        let body =
            request.body().bytes().ok_or_else(|| ConnectorError::other("streaming request bodies are not supported".into(), None))?;
        let mut builder = self.http.request(method, request.uri()).body(body.to_vec());
        for (name, value) in request.headers() {
            builder = builder.header(name, value);
        }
        if let Some(timeout) = self.read_timeout {
            builder = builder.timeout(timeout);
        }
        Ok(builder)
    }
}

/// Timeouts and I/O failures are what the SDK's retry strategy treats as transient.
fn connector_error(err: reqwest::Error) -> ConnectorError {
    if err.is_timeout() {
        ConnectorError::timeout(err.into())
    } else if err.is_connect() || err.is_request() || err.is_body() {
        ConnectorError::io(err.into())
    } else {
        ConnectorError::other(err.into(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_bundle_without_certificates_is_refused_with_its_path() {
        let dir = std::env::temp_dir().join(format!("sms-mfa-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let missing = dir.join("missing.pem");
        for path in [&empty, &missing] {
            let err = roots_from_pem_file(path).unwrap_err();
            assert!(err.contains(path.to_str().unwrap()), "{err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_compiled_in_roots_are_mozillas() {
        // Amazon Root CA 1 signs DynamoDB's and Secrets Manager's certificates.
        let named = |name: &[u8]| webpki_roots::TLS_SERVER_ROOTS.iter().any(|a| a.subject.windows(name.len()).any(|w| w == name));
        assert!(named(b"Amazon Root CA 1") && named(b"Starfield Services Root Certificate Authority - G2"));
        let config = tls_config().unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}
