//! Shared by the integration tests that talk to a DynamoDB endpoint.

use aws_sdk_dynamodb::config::{timeout::TimeoutConfig, BehaviorVersion, Credentials, Region};

/// A DynamoDB client for a local endpoint, over the product's own HTTP client
/// (`adapters::aws::http_client`), with dummy credentials; `timeouts` replaces the SDK's defaults.
pub fn dynamodb_client(endpoint: &str, timeouts: Option<TimeoutConfig>) -> aws_sdk_dynamodb::Client {
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .http_client(sms_mfa::adapters::aws::http_client::sdk_http_client().unwrap());
    if let Some(timeouts) = timeouts {
        config = config.timeout_config(timeouts);
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}
