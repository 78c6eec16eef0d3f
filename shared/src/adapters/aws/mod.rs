//! The AWS SDK's configuration, built from the environment at cold start, and the one HTTP
//! client (reqwest on rustls) every outbound call shares.

pub mod http_client;

use crate::config::{ConfigError, Env};
use secrecy::SecretString;

pub struct Aws {
    config: aws_types::SdkConfig,
}

impl Aws {
    /// The SDK's configuration from the process environment: what Lambda gives every function
    /// (region and the execution role's credentials), and the SDK's own endpoint settings.
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_env(&Env::from_process())
    }

    /// Built from the environment alone, without aws-config: in Lambda its provider chains only
    /// ever find these variables, and linking them (an STS client, SSO, IMDS and profile-file
    /// parsing) cost every cold start ~0.3 ms in relocations and set-up (benches/README.md,
    /// "Init"). Read here: `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ENDPOINT_URL` and
    /// `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`,
    /// `AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT`. Not read: profile files.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        use aws_credential_types::{provider::SharedCredentialsProvider, Credentials};
        let region = env
            .optional("AWS_REGION")
            .or_else(|| env.optional("AWS_DEFAULT_REGION"))
            .ok_or_else(|| ConfigError { var: "AWS_REGION", problem: "is missing (Lambda sets it)".into() })?;
        let missing = |var| {
            ConfigError {
            var,
            problem: "is missing: Lambda sets it from the execution role; for a local run against AWS, export the credentials (`eval \"$(aws configure export-credentials --format env)\"`)".into(),
        }
        };
        let key_id = env.optional("AWS_ACCESS_KEY_ID").ok_or_else(|| missing("AWS_ACCESS_KEY_ID"))?;
        let secret = env.optional("AWS_SECRET_ACCESS_KEY").ok_or_else(|| missing("AWS_SECRET_ACCESS_KEY"))?;
        let credentials = Credentials::new(key_id, secret, env.optional("AWS_SESSION_TOKEN"), None, "environment");
        let mut endpoints = EndpointOverrides::from_env(env)?;
        let mut config = aws_types::SdkConfig::builder()
            .behavior_version(aws_smithy_runtime_api::client::behavior_version::BehaviorVersion::latest())
            .region(aws_types::region::Region::new(region))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(http_client::sdk_http_client()?)
            .use_fips(env.flag("AWS_USE_FIPS_ENDPOINT")?)
            .use_dual_stack(env.flag("AWS_USE_DUALSTACK_ENDPOINT")?);
        if let Some(url) = endpoints.global.take() {
            config = config.endpoint_url(url);
        }
        Ok(Aws { config: config.service_config(endpoints).build() })
    }

    /// With a configuration made elsewhere (tests: a local endpoint, static credentials).
    pub fn from_config(config: aws_types::SdkConfig) -> Self {
        Aws { config }
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }

    pub fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(&self.config)
    }

    pub fn kms(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::new(&self.config)
    }

    /// Reads a secret once, at cold start; it is then kept only in memory, wrapped.
    pub async fn secret(&self, var: &'static str, arn: &str) -> Result<SecretString, ConfigError> {
        let client = aws_sdk_secretsmanager::Client::new(&self.config);
        let out = client.get_secret_value().secret_id(arn).send().await.map_err(|e| ConfigError {
            var,
            problem: format!("could not be read from Secrets Manager: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(e)),
        })?;
        out.secret_string.map(SecretString::from).ok_or(ConfigError { var, problem: "names a secret without a string value".into() })
    }
}

/// `AWS_ENDPOINT_URL_<SERVICE>` (`AWS_ENDPOINT_URL_DYNAMODB`, `..._KMS`, `..._SECRETS_MANAGER`)
/// and `AWS_ENDPOINT_URL`, as the SDK reads them: the service's id upper-cased, spaces as
/// underscores; none of them when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is true.
#[derive(Debug, Default)]
struct EndpointOverrides {
    global: Option<String>,
    per_service: std::collections::HashMap<String, String>,
}

impl EndpointOverrides {
    const PREFIX: &'static str = "AWS_ENDPOINT_URL_";

    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        if env.flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")? {
            return Ok(Self::default());
        }
        let per_service = env.with_prefix(Self::PREFIX).map(|(service, url)| (service.to_owned(), url.to_owned())).collect();
        Ok(EndpointOverrides { global: env.optional("AWS_ENDPOINT_URL"), per_service })
    }
}

impl aws_types::service_config::LoadServiceConfig for EndpointOverrides {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        // The SDK asks by the variable's base name and the service's id ("DynamoDB", "Secrets Manager").
        if key.env() != "AWS_ENDPOINT_URL" {
            return None;
        }
        self.per_service.get(&key.service_id().to_uppercase().replace(' ', "_")).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

    fn endpoint_for(overrides: &EndpointOverrides, service_id: &str) -> Option<String> {
        let key = ServiceConfigKey::builder().service_id(service_id).env("AWS_ENDPOINT_URL").profile("endpoint_url").build().unwrap();
        overrides.load_config(key)
    }

    #[test]
    fn per_service_endpoint_urls_are_found_by_the_sdk_service_id() {
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:4566"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]);
        let overrides = EndpointOverrides::from_env(&env).unwrap();
        assert_eq!(endpoint_for(&overrides, "Secrets Manager").as_deref(), Some("http://127.0.0.1:4566"));
        assert_eq!(endpoint_for(&overrides, "DynamoDB").as_deref(), Some("http://127.0.0.1:8000"));
        assert_eq!(endpoint_for(&overrides, "KMS"), None, "KMS falls back to AWS_ENDPOINT_URL, set on SdkConfig");
        assert_eq!(overrides.global.as_deref(), Some("http://127.0.0.1:5000"));
    }

    #[test]
    fn ignoring_configured_endpoint_urls_drops_every_override() {
        let env = Env::from_pairs([
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://x"),
            ("AWS_ENDPOINT_URL", "http://y"),
        ]);
        let overrides = EndpointOverrides::from_env(&env).unwrap();
        assert_eq!(endpoint_for(&overrides, "DynamoDB"), None);
        assert_eq!(overrides.global, None);
    }
}
