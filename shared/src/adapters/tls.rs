//! One TLS stack for every outbound call, AWS and Twilio alike: rustls with ring.
//!
//! The SDKs' default HTTPS client and reqwest's default both bring aws-lc, which was 2.4 MiB of
//! every function binary (benches/README.md, "Binary size"); ring is what jsonwebtoken and the
//! code hashing here use as well.

use aws_smithy_http_client::{
    tls::{rustls_provider::CryptoMode, Provider},
    Builder,
};
use aws_sdk_dynamodb::config::SharedHttpClient;

/// Makes ring rustls' process-wide provider, which reqwest (built with `rustls-no-provider`)
/// reads when a client is built. Idempotent.
pub fn install_process_provider() {
    // Err only means a provider is installed already (a second call, or a test harness).
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The HTTPS client for the AWS SDK clients: hyper + rustls on ring, the platform's roots.
pub fn sdk_http_client() -> SharedHttpClient {
    Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}
