//! Cold-start wiring shared by the functions: tracing, configuration, AWS clients, secrets and
//! the services, built once per execution environment and then borrowed by every request.

/// The token keys as the thin functions hold them (protected, jwks): named here, so no function
/// names an adapter.
pub use crate::adapters::jwt::{TokenKeys, VerifiedTokens};
/// The events function's handler (stream batch in, `batchItemFailures` out), named here too.
pub use crate::adapters::outbox_stream::handle as deliver_stream_batch;
use crate::{
    adapters::{
        aws::Aws,
        builtin_otp::{BuiltinOtp, LogSender},
        dynamodb::DynamoStore,
        event_log::EventLog,
        eventbridge::EventBridgePublisher,
        jwt::PemSigner,
        kms::{KmsPublicKeys, KmsSigner},
        password::Argon2Hasher,
        secret_box::AesGcmSealer,
        twilio::{TwilioHttp, TwilioMessaging, TwilioVerify},
    },
    config::*,
    ports::{OtpProvider, SmsSender, SystemClock},
    use_cases::sessions::SessionService,
    use_cases::{AdminService, AuthService, OAuthService, Ports, RoleAssignment, SsoSessions},
};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// JSON logs for CloudWatch, and the metrics' namespace: every line carries the `requestId` (and X-Ray trace id) of the
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
    let format = tracing_subscriber::fmt::layer().json().with_current_span(true).with_span_list(false).with_target(false).without_time(); // CloudWatch stamps every line itself
    tracing_subscriber::registry().with(format.with_filter(filter)).init();
    if let Some(problem) = unusable {
        tracing::warn!("{problem}");
    }
    // The metric lines (crate::metrics) are written beside the tracing output, not through it.
    let namespace = metrics_namespace(&Env::from_process()).unwrap_or_else(|err| fail_start(err));
    crate::metrics::set_namespace(namespace);
}

/// What a function's `main` awaits at cold start: the state `built` makes, or the cold start
/// stops with one line naming the problem (Lambda reports it as an init error).
pub async fn ready<T>(built: impl std::future::Future<Output = Result<T, ConfigError>>) -> T {
    built.await.unwrap_or_else(|err| fail_start(err))
}

/// Stops the cold start with one line naming the problem. Only here: nothing that runs during a
/// request may exit the process.
fn fail_start(err: impl std::fmt::Display) -> ! {
    eprintln!("sms-mfa cannot start: {err}");
    std::process::exit(1)
}

/// What a function does with access tokens. It decides what the function asks of a KMS key at
/// cold start: an issuer reads the signing key's public half there (`GetPublicKey`) and signs
/// per token; a function that only checks tokens makes no KMS call (and sets up no SDK) until
/// the first token it checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRole {
    Issues,
    Verifies,
}

/// The token keys and settings, and the signing key PEM when there is one (the builtin
/// provider's code-hash key derives from it). `aws` is `None` where nothing else needs AWS: the
/// SDK is then set up only if a key lives in Secrets Manager or (issuers) in KMS.
pub async fn token_keys(
    env: &Env,
    aws: Option<&Aws>,
    role: TokenRole,
) -> Result<(TokenKeys, TokenConfig, Option<SecretString>), ConfigError> {
    let config = TokenConfig::from_env(env)?;
    let loaded;
    let aws = match aws {
        Some(aws) => Some(aws),
        None if matches!(config.signing_key, KeySource::SecretsManager { .. })
            || (matches!(config.signing_key, KeySource::Kms { .. }) && role == TokenRole::Issues) =>
        {
            loaded = Aws::from_env(env)?;
            Some(&loaded)
        }
        None => None,
    };
    let mut keys = TokenKeys::new(&config.issuer, &config.audience, config.access_ttl);
    let mut kms_keys_to_accept = vec![];
    let mut signing_pem = None;
    match (&config.signing_key, aws) {
        (KeySource::Pem(pem), _) => signing_pem = Some(pem.clone()),
        (KeySource::SecretsManager { arn }, Some(aws)) => signing_pem = Some(aws.secret("JWT_SIGNING_KEY_SECRET_ARN", arn).await?),
        (KeySource::Kms { key_id }, Some(aws)) if role == TokenRole::Issues => {
            keys = keys.signing_with(Arc::new(KmsSigner::connect(aws.kms(), key_id).await?), "JWT_SIGNING_KMS_KEY_ID")?;
        }
        (KeySource::Kms { key_id }, _) => kms_keys_to_accept.push(key_id.clone()),
        (KeySource::SecretsManager { .. }, None) => unreachable!("the SDK is loaded for a key in Secrets Manager"),
        (KeySource::PublicOnly, _) if role == TokenRole::Issues => {
            return Err(ConfigError {
                var: "JWT_SIGNING_KEY",
                problem: "is missing: this function issues tokens, and JWT_PUBLIC_KEY only checks them".into(),
            })
        }
        (KeySource::PublicOnly, _) => {}
    }
    if let Some(pem) = &signing_pem {
        keys = keys.signing_with(Arc::new(PemSigner::from_pem(pem)?), "JWT_SIGNING_KEY")?;
    }
    if let Some(pem) = &config.public_key {
        keys = with_current_public_key(keys, pem)?;
    }
    if let Some(pems) = &config.previous_public_keys {
        keys = keys.accepting_pems(pems)?;
    }
    kms_keys_to_accept.extend(config.previous_kms_key_ids.iter().cloned());
    if !kms_keys_to_accept.is_empty() {
        let source = match aws {
            Some(aws) => KmsPublicKeys::with_client(aws.kms(), kms_keys_to_accept),
            None => KmsPublicKeys::lazy(kms_keys_to_accept),
        };
        keys = keys.accepting_from(Arc::new(source));
    }
    Ok((keys, config, signing_pem))
}

/// `JWT_PUBLIC_KEY`, the current signing key's public half: where nothing signs, the key tokens
/// are checked with (and the first one published); beside a signer it must be the signer's own,
/// so a wrong value stops this cold start rather than every other function refusing its tokens.
fn with_current_public_key(keys: TokenKeys, pem_text: &str) -> Result<TokenKeys, ConfigError> {
    let bad = |problem: String| ConfigError { var: "JWT_PUBLIC_KEY", problem };
    let block = pem::parse(pem_text.trim()).map_err(|_| bad("must be one PEM block (-----BEGIN PUBLIC KEY-----)".into()))?;
    if block.tag() != "PUBLIC KEY" {
        return Err(bad(format!("holds a {:?} block; give the PUBLIC KEY PEM", block.tag())));
    }
    let key = crate::adapters::jwt::VerifyingKey::from_spki_der(block.contents()).map_err(bad)?;
    match keys.signing_key() {
        Some(signing) if signing.kid() != key.kid() => {
            Err(bad(format!("is not the public half of the signing key (kid {}, the signing key's {})", key.kid(), signing.kid())))
        }
        Some(_) => Ok(keys),
        None => keys.accepting_pems(pem_text),
    }
}

fn session_service(store: &DynamoStore, keys: Arc<TokenKeys>, config: &TokenConfig) -> SessionService {
    let store = Arc::new(store.clone());
    SessionService::new(store.clone(), store, keys, config.refresh_ttl, Arc::new(SystemClock), Arc::new(EventLog))
}

/// Starts the DynamoDB client's one costly step, parsing the SDK's table of AWS partitions (a
/// JSON document and its region regexes, a tenth of a millisecond), on a second thread, while
/// this one builds the HTTP client and the SDK configuration. The SDK keeps the table in a
/// `LazyLock` that every `Client::new` forces, so the client built next waits for this thread
/// (or finds the table ready) instead of parsing it again. Lambda runs the init phase unthrottled;
/// on a single core the cost is only starting the thread, and if the thread cannot
/// start the client parses the table as it always did.
fn start_parsing_dynamodb_partitions() {
    let _detached = std::thread::Builder::new()
        .name("sdk-partitions".into())
        .spawn(|| drop(aws_sdk_dynamodb::config::endpoint::DefaultResolver::new()));
}

/// The SDK configuration and the table store, for the functions that reach DynamoDB.
fn aws_and_store(env: &Env) -> Result<(Aws, DynamoStore), ConfigError> {
    start_parsing_dynamodb_partitions();
    let aws = Aws::from_env(env)?;
    let store = DynamoStore::new(aws.dynamodb(), table_name(env)?);
    Ok((aws, store))
}

/// For the session function: refresh and logout.
pub async fn sessions_from_env() -> Result<SessionService, ConfigError> {
    let env = Env::from_process();
    let (aws, store) = aws_and_store(&env)?;
    let (keys, config, _) = token_keys(&env, Some(&aws), TokenRole::Issues).await?;
    Ok(session_service(&store, Arc::new(keys), &config))
}

/// For the oauth function: the OpenID Connect provider's endpoints. It issues and refreshes
/// tokens like the session function, and keeps codes and SSO sessions.
pub async fn oauth_from_env() -> Result<OAuthService, ConfigError> {
    let env = Env::from_process();
    let oauth = OAuthConfig::from_env(&env)?;
    let (aws, store) = aws_and_store(&env)?;
    let (keys, config, _) = token_keys(&env, Some(&aws), TokenRole::Issues).await?;
    let sessions = session_service(&store, Arc::new(keys), &config);
    let store = Arc::new(store);
    let sso = SsoSessions::new(store.clone(), store.clone(), Arc::new(SystemClock), oauth.sso_ttl);
    Ok(OAuthService::new(oauth.clients, store.clone(), store, sso, sessions, oauth.code_ttl))
}

/// The registered clients, for the functions that answer CORS for their origins (account,
/// jwks) or show a client's name (web).
pub fn oauth_clients_from_env() -> Result<crate::domain::OAuthClients, ConfigError> {
    oauth_clients(&Env::from_process())
}

/// For the admin function (`/admin/users...`): the stores it acts on and a token checker, no
/// code provider, no password hasher, no Twilio or authenticator secret and no signing key
/// (README "Who may touch what").
pub async fn admin_from_env() -> Result<AdminService, ConfigError> {
    let env = Env::from_process();
    let (aws, store) = aws_and_store(&env)?;
    let (keys, config, _) = token_keys(&env, Some(&aws), TokenRole::Verifies).await?;
    let sessions = session_service(&store, Arc::new(keys), &config);
    let store = Arc::new(store);
    Ok(AdminService::new(store.clone(), store, sessions, Arc::new(SystemClock), Arc::new(EventLog)))
}

/// For `sms-mfa-admin`: roles by email, reading `TABLE_NAME` and the AWS settings from the
/// environment as the functions do (the deployer's credentials, or the local stack's).
pub fn role_assignment_from_env() -> Result<RoleAssignment, ConfigError> {
    let env = Env::from_process();
    let (_, store) = aws_and_store(&env)?;
    Ok(RoleAssignment::new(Arc::new(store), Arc::new(EventLog)))
}

/// For the events function: the bus `EVENT_BUS_NAME` names (no table access: it reads the
/// stream's records Lambda hands it).
pub async fn events_publisher_from_env() -> Result<EventBridgePublisher, ConfigError> {
    let env = Env::from_process();
    let aws = Aws::from_env(&env)?;
    Ok(EventBridgePublisher::new(aws.eventbridge(), event_bus_name(&env)?))
}

/// For `GET /protected`: `keys_from_env`, with a cache of the tokens this instance has verified.
pub async fn verified_tokens_from_env() -> Result<VerifiedTokens, ConfigError> {
    Ok(VerifiedTokens::new(keys_from_env().await?))
}

/// For functions that only check or publish tokens (protected, jwks): with the key in the
/// environment or in KMS they make no AWS call at start, so their cold start sets up no SDK or
/// TLS at all (a KMS public key is read at the first request that needs it).
pub async fn keys_from_env() -> Result<TokenKeys, ConfigError> {
    let env = Env::from_process();
    Ok(token_keys(&env, None, TokenRole::Verifies).await?.0)
}

/// Whether a function seals or opens authenticator (TOTP) secrets. Only those that do read the
/// key that seals them (`TOTP_ENCRYPTION_KEY`, or the secret `TOTP_KEY_SECRET_ARN` names) at
/// cold start; template.yaml gives that secret to them alone (README "Who may touch what").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authenticators {
    /// account (enrol, confirm, remove, recovery codes, a reset with a TOTP code) and verify
    /// (login challenges answered from the app).
    SealsOrOpens,
    /// register, login, phone: they ask at most whether an account has an authenticator. They
    /// get no key; a seal or open there would be a wiring mistake and fails as an internal error.
    NeverOpens,
}

/// For the functions that send and check codes: register, login, verify, phone, account. Only
/// verify issues tokens (`TokenRole::Issues`); the others check them at most. Reads the
/// authenticator key (`Authenticators::SealsOrOpens`).
pub async fn auth_from_env(role: TokenRole) -> Result<AuthService, ConfigError> {
    auth_from_env_for(role, Authenticators::SealsOrOpens).await
}

/// `auth_from_env`, saying whether the function seals or opens authenticator secrets.
pub async fn auth_from_env_for(role: TokenRole, authenticators: Authenticators) -> Result<AuthService, ConfigError> {
    let env = Env::from_process();
    let (aws, store) = aws_and_store(&env)?;
    let limits = Limits::from_env(&env)?;
    let delivery = DeliveryConfig::from_env(&env)?;
    let (keys, token_config, signing_pem) = token_keys(&env, Some(&aws), role).await?;

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
    // way tokens are signed: the Twilio auth token, else a PEM signing key, else (builtin codes
    // with KMS signing) the code-hash key.
    let mut decoy_secret = credentials.as_ref().map(|c| c.auth_token.clone()).or_else(|| signing_pem.clone());
    let messaging_configured = match &credentials {
        Some(c) => c.messaging_service_sid.is_some() || c.from_number.is_some(),
        None => delivery.sms_sender == SmsSenderKind::Log,
    };
    let notify = delivery.notifications.resolve(messaging_configured)?;
    let twilio = credentials.map(TwilioHttp::new).transpose()?;
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
            // The code-hash key is derived from a PEM signing key (one less secret to provision);
            // a KMS key has no private bytes, so then it is a setting of its own.
            let code_key = match (&delivery.code_hash_key, signing_pem) {
                (Some(CodeHashKeySource::Env(key)), _) => key.clone(),
                (Some(CodeHashKeySource::SecretsManager { arn }), _) => aws.secret("OTP_HASH_KEY_SECRET_ARN", arn).await?,
                (None, Some(pem)) => pem,
                (None, None) => {
                    return Err(ConfigError {
                        var: "OTP_HASH_KEY",
                        problem: "is missing: OTP_PROVIDER=builtin with JWT_SIGNING_KMS_KEY_ID needs it (or OTP_HASH_KEY_SECRET_ARN)"
                            .into(),
                    })
                }
            };
            let otp = BuiltinOtp::new(code_key.expose_secret().as_bytes(), sender, "sms-mfa");
            decoy_secret.get_or_insert(code_key);
            Arc::new(otp)
        }
        (OtpProviderKind::TwilioVerify, None) => unreachable!("DeliveryConfig requires Twilio for Verify"),
    };

    let (sealer, totp_issuer): (Arc<dyn crate::ports::SecretSealer>, String) = match authenticators {
        Authenticators::SealsOrOpens => {
            let totp = TotpConfig::from_env(&env)?;
            let sealer = match &totp.key {
                TotpKeySource::Raw(key) => AesGcmSealer::from_key(key.expose_secret()).expect("32 bytes is an AES-256 key"),
                TotpKeySource::SecretsManager { arn } => {
                    AesGcmSealer::from_passphrase(aws.secret("TOTP_KEY_SECRET_ARN", arn).await?.expose_secret())
                }
            };
            (Arc::new(sealer), totp.issuer)
        }
        // The issuer is shown at enrolment only, which these functions never do.
        Authenticators::NeverOpens => (Arc::new(crate::adapters::secret_box::NoSealer), "sms-mfa".into()),
    };

    let keys = Arc::new(keys);
    let sessions = session_service(&store, keys, &token_config);
    let store = Arc::new(store);
    let ports = Ports {
        users: store.clone(),
        challenges: store.clone(),
        limiter: store.clone(),
        prefixes: store.clone(),
        otp,
        hasher: Arc::new(Argon2Hasher::default()),
        clock: Arc::new(SystemClock),
        factors: store.clone(),
        sealer,
        devices: store.clone(),
        events: Arc::new(EventLog),
    };
    // Twilio Verify needs credentials and builtin codes a code-hash key, so one of them is set.
    let decoy_secret = decoy_secret.ok_or(ConfigError { var: "TWILIO_AUTH_TOKEN", problem: "is missing".into() })?;
    let mut auth =
        AuthService::new(ports, sessions, limits).with_totp_issuer(totp_issuer).with_decoy_secret(decoy_secret.expose_secret().as_bytes());
    // The functions that end a sign-in (verify, login) begin the hosted pages' SSO sessions
    // (they need the lifetime only, not the clients).
    if role == TokenRole::Issues {
        let ttl = sso_session_ttl(&env)?;
        auth = auth.with_sso(SsoSessions::new(store.clone(), store.clone(), Arc::new(SystemClock), ttl));
    }
    Ok(match notifier {
        Some(sender) => auth.with_notifier(sender),
        None => auth,
    })
}
