//! Cold-start wiring shared by the functions: tracing, configuration, AWS clients, secrets and
//! the services, built once per execution environment and then borrowed by every request.

use crate::{
    adapters::{
        builtin_otp::{BuiltinOtp, LogSender},
        dynamodb::DynamoStore,
        jwt::TokenKeys,
        password::Argon2Hasher,
        outbound_http,
        twilio::{TwilioHttp, TwilioMessaging, TwilioVerify},
    },
    use_cases::{AuthService, Ports},
    config::*,
    ports::{OtpProvider, SmsSender, SystemClock},
    use_cases::sessions::SessionService,
};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// JSON logs for CloudWatch: every line carries the `requestId` (and X-Ray trace id) of the
/// runtime's invoke span. `RUST_LOG` filters by level and target (`info`, `sms_mfa=debug,warn`);
/// `Targets` rather than `EnvFilter`, whose span and regex directives cost every binary the regex
/// engine (about 0.8 MiB; benches/README.md).
pub fn init_tracing() {
    use tracing_subscriber::{filter::Targets, prelude::*};
    let default = || Targets::new().with_default(tracing::Level::INFO);
    let (filter, unusable) = match std::env::var("RUST_LOG") {
        Err(_) => (default(), None),
        Ok(value) => match value.parse::<Targets>() {
            Ok(filter) => (filter, None),
            Err(err) => (default(), Some(format!("RUST_LOG={value:?} ignored ({err}); logging at info"))),
        },
    };
    let format = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time(); // CloudWatch stamps every line itself
    tracing_subscriber::registry().with(format.with_filter(filter)).init();
    if let Some(problem) = unusable {
        tracing::warn!("{problem}");
    }
}

/// Stops the cold start with one line naming the problem (Lambda reports it as an init error).
pub fn fail_start(err: impl std::fmt::Display) -> ! {
    eprintln!("sms-mfa cannot start: {err}");
    std::process::exit(1)
}

pub struct Aws {
    config: aws_config::SdkConfig,
}

impl Aws {
    pub async fn load() -> Self {
        let loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(outbound_http::sdk_http_client());
        Aws { config: loader.load().await }
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }

    /// Reads a secret once, at cold start; it is then kept only in memory, wrapped.
    async fn secret(&self, var: &'static str, arn: &str) -> Result<SecretString, ConfigError> {
        let client = aws_sdk_secretsmanager::Client::new(&self.config);
        let out = client.get_secret_value().secret_id(arn).send().await.map_err(|e| ConfigError {
            var,
            problem: format!("could not be read from Secrets Manager: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(e)),
        })?;
        out.secret_string.map(SecretString::from).ok_or(ConfigError { var, problem: "names a secret without a string value".into() })
    }
}

/// The signing key and token settings. `aws` is `None` where nothing else needs AWS: the SDK is
/// then set up only if the key lives in Secrets Manager.
pub async fn token_keys(env: &Env, aws: Option<&Aws>) -> Result<(TokenKeys, TokenConfig, SecretString), ConfigError> {
    let config = TokenConfig::from_env(env)?;
    let pem = match (&config.signing_key, aws) {
        (KeySource::Pem(pem), _) => pem.clone(),
        (KeySource::SecretsManager { arn }, Some(aws)) => aws.secret("JWT_SIGNING_KEY_SECRET_ARN", arn).await?,
        (KeySource::SecretsManager { arn }, None) => Aws::load().await.secret("JWT_SIGNING_KEY_SECRET_ARN", arn).await?,
    };
    let keys = TokenKeys::from_pem(&pem, config.previous_public_keys.as_deref(), &config.issuer, &config.audience, config.access_ttl)?;
    Ok((keys, config, pem))
}

fn session_service(store: &DynamoStore, keys: Arc<TokenKeys>, config: &TokenConfig) -> SessionService {
    let store = Arc::new(store.clone());
    SessionService::new(store.clone(), store, keys, config.refresh_ttl, Arc::new(SystemClock))
}

/// For the session function: refresh and logout.
pub async fn sessions_from_env() -> Result<SessionService, ConfigError> {
    let env = Env::from_process();
    let aws = Aws::load().await;
    let store = DynamoStore::new(aws.dynamodb(), table_name(&env)?);
    let (keys, config, _) = token_keys(&env, Some(&aws)).await?;
    Ok(session_service(&store, Arc::new(keys), &config))
}

/// For functions that only check or publish tokens (protected, jwks): with the key in the
/// environment they make no AWS call, so their cold start sets up no SDK or TLS at all.
pub async fn keys_from_env() -> Result<TokenKeys, ConfigError> {
    let env = Env::from_process();
    Ok(token_keys(&env, None).await?.0)
}

/// For the functions that send and check codes: register, login, verify, phone.
pub async fn auth_from_env() -> Result<AuthService, ConfigError> {
    let env = Env::from_process();
    let aws = Aws::load().await;
    let store = DynamoStore::new(aws.dynamodb(), table_name(&env)?);
    let limits = Limits::from_env(&env)?;
    let delivery = DeliveryConfig::from_env(&env)?;
    let (keys, token_config, signing_pem) = token_keys(&env, Some(&aws)).await?;

    let credentials = match &delivery.twilio {
        TwilioSource::Env(credentials) => Some(credentials.clone()),
        TwilioSource::SecretsManager { arn } => {
            let json = aws.secret("TWILIO_SECRET_ARN", arn).await?;
            let credentials = TwilioCredentials::from_secret_json(json.expose_secret())?;
            credentials.check_for(delivery.provider, delivery.sms_sender)?;
            Some(credentials)
        }
        TwilioSource::NotNeeded => None,
    };
    // Decoy phones (forgot password) are derived from a secret every instance has, whichever
    // way tokens are signed: the Twilio auth token, or locally (log sender) the signing key.
    let decoy_secret = credentials
        .as_ref()
        .map(|c| c.auth_token.clone())
        .unwrap_or_else(|| signing_pem.clone());
    let messaging_configured = match &credentials {
        Some(c) => c.messaging_service_sid.is_some() || c.from_number.is_some(),
        None => delivery.sms_sender == SmsSenderKind::Log,
    };
    let notify = delivery.notifications.resolve(messaging_configured)?;
    let twilio = credentials.map(TwilioHttp::new);
    let notifier: Option<Arc<dyn SmsSender>> = match (&twilio, notify) {
        (_, false) => None,
        (Some(twilio), true) => Some(Arc::new(TwilioMessaging::new(twilio.clone(), &delivery.api_base_url))),
        (None, true) => Some(Arc::new(LogSender)),
    };

    let otp: Arc<dyn OtpProvider> = match (delivery.provider, twilio) {
        (OtpProviderKind::TwilioVerify, Some(twilio)) => Arc::new(TwilioVerify::new(twilio, &delivery.verify_base_url)),
        (OtpProviderKind::Builtin, twilio) => {
            let sender: Arc<dyn SmsSender> = match (delivery.sms_sender, twilio) {
                (SmsSenderKind::Twilio, Some(twilio)) => Arc::new(TwilioMessaging::new(twilio, &delivery.api_base_url)),
                _ => Arc::new(LogSender),
            };
            // The code-hash key is derived from the signing key: one less secret to provision.
            Arc::new(BuiltinOtp::new(signing_pem.expose_secret().as_bytes(), sender, "sms-mfa"))
        }
        (OtpProviderKind::TwilioVerify, None) => unreachable!("DeliveryConfig requires Twilio for Verify"),
    };

    let keys = Arc::new(keys);
    let sessions = session_service(&store, keys, &token_config);
    let store = Arc::new(store);
    let ports = Ports {
        users: store.clone(),
        challenges: store.clone(),
        limiter: store,
        otp,
        hasher: Arc::new(Argon2Hasher::default()),
        clock: Arc::new(SystemClock),
    };
    let auth = AuthService::new(ports, sessions, limits).with_decoy_secret(decoy_secret.expose_secret().as_bytes());
    Ok(match notifier {
        Some(sender) => auth.with_notifier(sender),
        None => auth,
    })
}
