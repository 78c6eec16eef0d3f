//! Typed configuration, read once at cold start. Every problem names the variable, so a
//! misconfigured function stops with one clear line instead of failing on its first request.

use secrecy::SecretString;
use std::{collections::HashMap, fmt, str::FromStr, time::Duration};

#[derive(Debug, thiserror::Error)]
#[error("configuration: {var} {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

fn problem(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError { var, problem: problem.into() }
}

/// Where settings come from: the process environment, or a map in tests.
pub struct Env(HashMap<String, String>);

impl Env {
    pub fn from_process() -> Self {
        Env(std::env::vars().collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Env(pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }

    /// A set, non-blank value.
    pub fn optional(&self, var: &'static str) -> Option<String> {
        self.0.get(var).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    /// `true` or `false` (any case); unset or blank is false.
    pub fn flag(&self, var: &'static str) -> Result<bool, ConfigError> {
        match self.optional(var).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(problem(var, format!("must be true or false, got {other:?}"))),
        }
    }

    /// The set, non-blank variables whose names start with `prefix`, by the rest of the name.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.0
            .iter()
            .filter_map(move |(name, value)| Some((name.strip_prefix(prefix)?, value.trim())))
            .filter(|(rest, value)| !rest.is_empty() && !value.is_empty())
    }

    pub fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        self.optional(var).ok_or_else(|| problem(var, "is missing"))
    }

    fn parsed<T: FromStr>(&self, var: &'static str, default: T, what: &str) -> Result<T, ConfigError> {
        match self.optional(var) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|_| problem(var, format!("must be {what}, got {raw:?}"))),
        }
    }

    /// A whole number of at least 1 (a limit or a lifetime of zero would lock everyone out).
    fn positive(&self, var: &'static str, default: u32) -> Result<u32, ConfigError> {
        let value: u32 = self.parsed(var, default, "a whole number")?;
        if value == 0 {
            return Err(problem(var, "must be at least 1"));
        }
        Ok(value)
    }

    fn seconds(&self, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(self.positive(var, default as u32)? as u64))
    }

    fn url(&self, var: &'static str, default: &str) -> Result<String, ConfigError> {
        let url = self.optional(var).unwrap_or_else(|| default.to_owned());
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(problem(var, "must be an http(s) URL"));
        }
        Ok(url.trim_end_matches('/').to_owned())
    }

    /// True inside a real AWS Lambda sandbox. `cargo lambda watch` does not set this variable.
    pub fn is_deployed(&self) -> bool {
        self.optional("AWS_LAMBDA_INITIALIZATION_TYPE").is_some()
    }
}

/// Access and refresh tokens.
pub struct TokenConfig {
    pub issuer: String,
    pub audience: String,
    pub signing_key: KeySource,
    /// `JWT_PUBLIC_KEY`: the current signing key's public half (a `PUBLIC KEY` PEM). Alone, it
    /// lets a function check tokens with no access to the private key (`KeySource::PublicOnly`);
    /// beside a signing key, it must be that key's public half (checked at cold start).
    pub public_key: Option<String>,
    /// Older public keys (PEM, concatenated) still accepted during a key rotation.
    pub previous_public_keys: Option<String>,
    /// Older KMS keys still accepted (and published) during a key rotation.
    pub previous_kms_key_ids: Vec<String>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

pub enum KeySource {
    Pem(SecretString),
    SecretsManager {
        arn: String,
    },
    /// An asymmetric SIGN_VERIFY key in AWS KMS (id, ARN or alias): the key never leaves it.
    Kms {
        key_id: String,
    },
    /// No signing key, only `JWT_PUBLIC_KEY`: a function that checks tokens and never signs one.
    PublicOnly,
}

impl TokenConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let signing_key = match (
            env.optional("JWT_SIGNING_KEY"),
            env.optional("JWT_SIGNING_KEY_SECRET_ARN"),
            env.optional("JWT_SIGNING_KMS_KEY_ID"),
        ) {
            (None, None, Some(key_id)) => KeySource::Kms { key_id },
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err(problem("JWT_SIGNING_KMS_KEY_ID", "is set together with JWT_SIGNING_KEY(_SECRET_ARN): set one signing key"))
            }
            (Some(pem), _, None) => KeySource::Pem(SecretString::from(pem.replace("\\n", "\n"))),
            (None, Some(arn), None) => KeySource::SecretsManager { arn },
            (None, None, None) if env.optional("JWT_PUBLIC_KEY").is_some() => KeySource::PublicOnly,
            (None, None, None) => return Err(problem(
                "JWT_SIGNING_KEY",
                "is missing (or set JWT_SIGNING_KMS_KEY_ID or JWT_SIGNING_KEY_SECRET_ARN, or JWT_PUBLIC_KEY where tokens are only checked)",
            )),
        };
        Ok(TokenConfig {
            issuer: env.optional("JWT_ISSUER").unwrap_or_else(|| "sms-mfa".into()),
            audience: env.optional("JWT_AUDIENCE").unwrap_or_else(|| "sms-mfa".into()),
            signing_key,
            public_key: env.optional("JWT_PUBLIC_KEY").map(|k| k.replace("\\n", "\n")),
            previous_public_keys: env.optional("JWT_VERIFY_KEYS").map(|k| k.replace("\\n", "\n")),
            previous_kms_key_ids: env
                .optional("JWT_VERIFY_KMS_KEY_IDS")
                .map(|ids| ids.split([',', ' ', '\n']).filter(|id| !id.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default(),
            access_ttl: env.seconds("ACCESS_TOKEN_TTL_SECONDS", 15 * 60)?,
            refresh_ttl: env.seconds("REFRESH_TOKEN_TTL_SECONDS", 30 * 24 * 3600)?,
        })
    }
}

pub use crate::domain::Limits;

impl Limits {
    /// The contract's variables, each defaulting to the contract's value (`Limits::default`).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Limits::default();
        Ok(Limits {
            otp_ttl: env.seconds("OTP_TTL_SECONDS", d.otp_ttl.as_secs())?,
            otp_max_attempts: env.positive("OTP_MAX_ATTEMPTS", d.otp_max_attempts)?,
            resend_cooldown: env.seconds("RESEND_COOLDOWN_SECONDS", d.resend_cooldown.as_secs())?,
            sends_per_phone: env.positive("OTP_SENDS_PER_PHONE", d.sends_per_phone)?,
            login_failures_per_account: env.positive("LOGIN_FAILURES_PER_ACCOUNT", d.login_failures_per_account)?,
            registrations_per_ip_hour: env.positive("REGISTRATIONS_PER_IP_HOUR", d.registrations_per_ip_hour)?,
            logins_per_ip_hour: env.positive("LOGINS_PER_IP_HOUR", d.logins_per_ip_hour)?,
            sends_per_ip_hour: env.positive("SENDS_PER_IP_HOUR", d.sends_per_ip_hour)?,
            sends_global_hour: env.positive("SENDS_GLOBAL_HOUR", d.sends_global_hour)?,
            factor_failures_per_account: env.positive("FACTOR_FAILURES_PER_ACCOUNT", d.factor_failures_per_account)?,
            reset_failures_per_email: env.positive("RESET_FAILURES_PER_EMAIL", d.reset_failures_per_email)?,
            challenge_max_age: env.seconds("CHALLENGE_MAX_AGE_SECONDS", d.challenge_max_age.as_secs())?,
            sms_regions: crate::domain::SmsRegions::parse(&env.optional("SMS_ALLOWED_COUNTRIES").unwrap_or_default())
                .map_err(|why| problem("SMS_ALLOWED_COUNTRIES", format!("must list ISO 3166 alpha-2 regions: {why}")))?,
            pumping: pumping_rule(env, d.pumping)?,
            remembered_device_lifetime: match env.parsed::<u32>("REMEMBERED_DEVICE_DAYS", 30, "a whole number of days")? {
                0 => None,
                days if days <= 400 => Some(Duration::from_secs(u64::from(days) * 86400)),
                _ => return Err(problem("REMEMBERED_DEVICE_DAYS", "must be at most 400 (browsers keep a cookie no longer)")),
            },
        })
    }
}

/// `PUMPING_*` and `SMS_SAFE_PREFIXES` (API.md v3, "SMS pumping guard").
fn pumping_rule(env: &Env, d: crate::domain::PumpingRule) -> Result<crate::domain::PumpingRule, ConfigError> {
    let prefix_digits: u32 = env.parsed("PUMPING_PREFIX_DIGITS", u32::from(d.prefix_digits), "a whole number")?;
    if prefix_digits > u32::from(crate::domain::MAX_PREFIX_DIGITS) {
        return Err(problem("PUMPING_PREFIX_DIGITS", format!("must be at most {}", crate::domain::MAX_PREFIX_DIGITS)));
    }
    let min_conversion_percent: u32 = env.parsed("PUMPING_MIN_CONVERSION_PERCENT", d.min_conversion_percent, "a whole number")?;
    if min_conversion_percent > 100 {
        return Err(problem("PUMPING_MIN_CONVERSION_PERCENT", "must be a percentage, 0 (off) to 100"));
    }
    Ok(crate::domain::PumpingRule {
        prefix_digits: prefix_digits as u8,
        window: env.seconds("PUMPING_WINDOW_SECONDS", d.window.as_secs())?,
        min_sends: env.positive("PUMPING_MIN_SENDS", d.min_sends)?,
        min_conversion_percent,
        safe: crate::domain::SafePrefixes::parse(&env.optional("SMS_SAFE_PREFIXES").unwrap_or_default())
            .map_err(|why| problem("SMS_SAFE_PREFIXES", format!("must list E.164 prefixes: {why}")))?,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtpProviderKind {
    TwilioVerify,
    Builtin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsSenderKind {
    Twilio,
    /// Prints codes to the log: local development only, refused when deployed.
    Log,
}

/// `SECURITY_NOTIFICATIONS`: SMS to the account's phone after a reset, a password or phone
/// change, an authenticator added or removed, a deletion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityNotifications {
    /// Unset: on when a Messaging sender is configured, off otherwise.
    WhenPossible,
    /// `sms`: on, and a start without a Messaging sender is a configuration error.
    Sms,
    /// `off`.
    Off,
}

impl SecurityNotifications {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        match env.optional("SECURITY_NOTIFICATIONS").as_deref() {
            None => Ok(SecurityNotifications::WhenPossible),
            Some("sms") => Ok(SecurityNotifications::Sms),
            Some("off") => Ok(SecurityNotifications::Off),
            Some(other) => Err(problem("SECURITY_NOTIFICATIONS", format!("must be sms or off, got {other:?}"))),
        }
    }

    /// Whether to send, given whether a Messaging sender is configured.
    pub fn resolve(self, sender_configured: bool) -> Result<bool, ConfigError> {
        match (self, sender_configured) {
            (SecurityNotifications::Off, _) => Ok(false),
            (SecurityNotifications::WhenPossible, configured) => Ok(configured),
            (SecurityNotifications::Sms, true) => Ok(true),
            (SecurityNotifications::Sms, false) => Err(problem(
                "SECURITY_NOTIFICATIONS",
                "=sms needs a Messaging sender (TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER, or SMS_SENDER=log locally)",
            )),
        }
    }
}

/// How codes are made and delivered.
pub struct DeliveryConfig {
    pub provider: OtpProviderKind,
    pub sms_sender: SmsSenderKind,
    pub notifications: SecurityNotifications,
    pub twilio: TwilioSource,
    pub verify_base_url: String,
    pub api_base_url: String,
    /// The builtin provider's code-hash key, when it is not derived from a PEM signing key
    /// (a KMS key has no private bytes to derive from).
    pub code_hash_key: Option<CodeHashKeySource>,
}

pub enum CodeHashKeySource {
    Env(SecretString),
    SecretsManager { arn: String },
}

pub enum TwilioSource {
    Env(TwilioCredentials),
    SecretsManager {
        arn: String,
    },
    /// Nothing to send through Twilio (builtin provider with the log sender).
    NotNeeded,
}

/// Twilio account settings; `Debug` shows no token.
#[derive(Clone)]
pub struct TwilioCredentials {
    pub account_sid: String,
    pub auth_token: SecretString,
    pub verify_service_sid: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub from_number: Option<String>,
}

impl fmt::Debug for TwilioCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioCredentials").field("account_sid", &self.account_sid).finish_non_exhaustive()
    }
}

impl TwilioCredentials {
    /// The Secrets Manager form: a JSON object whose keys are the environment variables'
    /// names (`TWILIO_ACCOUNT_SID`, ...), unused ones empty, exactly as template.yaml writes it.
    pub fn from_secret_json(json: &str) -> Result<Self, ConfigError> {
        let fields: HashMap<String, String> =
            serde_json::from_str(json).map_err(|_| problem("TWILIO_SECRET_ARN", "must name a secret holding a JSON object of strings"))?;
        Self::from_env(&Env(fields))
    }

    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(TwilioCredentials {
            account_sid: env.required("TWILIO_ACCOUNT_SID")?,
            auth_token: SecretString::from(env.required("TWILIO_AUTH_TOKEN")?),
            verify_service_sid: env.optional("TWILIO_VERIFY_SERVICE_SID"),
            messaging_service_sid: env.optional("TWILIO_MESSAGING_SERVICE_SID"),
            from_number: env.optional("TWILIO_FROM_NUMBER"),
        })
    }

    /// Checks that the settings the chosen provider needs are there.
    pub fn check_for(&self, provider: OtpProviderKind, sender: SmsSenderKind) -> Result<(), ConfigError> {
        if !self.account_sid.starts_with("AC") {
            return Err(problem("TWILIO_ACCOUNT_SID", "must start with AC"));
        }
        match (provider, sender) {
            (OtpProviderKind::TwilioVerify, _) => match &self.verify_service_sid {
                Some(sid) if sid.starts_with("VA") => Ok(()),
                Some(_) => Err(problem("TWILIO_VERIFY_SERVICE_SID", "must start with VA")),
                None => Err(problem("TWILIO_VERIFY_SERVICE_SID", "is missing (OTP_PROVIDER=twilio_verify)")),
            },
            (OtpProviderKind::Builtin, SmsSenderKind::Twilio) => {
                if self.messaging_service_sid.is_none() && self.from_number.is_none() {
                    Err(problem(
                        "TWILIO_MESSAGING_SERVICE_SID",
                        "or TWILIO_FROM_NUMBER is needed (OTP_PROVIDER=builtin, SMS_SENDER=twilio)",
                    ))
                } else {
                    Ok(())
                }
            }
            (OtpProviderKind::Builtin, SmsSenderKind::Log) => Ok(()),
        }
    }
}

impl DeliveryConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let provider = match env.optional("OTP_PROVIDER").as_deref() {
            None | Some("twilio_verify") => OtpProviderKind::TwilioVerify,
            Some("builtin") => OtpProviderKind::Builtin,
            Some(other) => return Err(problem("OTP_PROVIDER", format!("must be twilio_verify or builtin, got {other:?}"))),
        };
        let sms_sender = match env.optional("SMS_SENDER").as_deref() {
            None | Some("twilio") => SmsSenderKind::Twilio,
            Some("log") if env.is_deployed() => {
                return Err(problem("SMS_SENDER", "=log prints codes to the log and is refused in a deployed function"))
            }
            Some("log") => SmsSenderKind::Log,
            Some(other) => return Err(problem("SMS_SENDER", format!("must be twilio or log, got {other:?}"))),
        };
        let needs_twilio = !(provider == OtpProviderKind::Builtin && sms_sender == SmsSenderKind::Log);
        let twilio = if !needs_twilio {
            TwilioSource::NotNeeded
        } else if env.optional("TWILIO_ACCOUNT_SID").is_some() {
            let credentials = TwilioCredentials::from_env(env)?;
            credentials.check_for(provider, sms_sender)?;
            TwilioSource::Env(credentials)
        } else if let Some(arn) = env.optional("TWILIO_SECRET_ARN") {
            TwilioSource::SecretsManager { arn }
        } else {
            return Err(problem("TWILIO_ACCOUNT_SID", "is missing (or set TWILIO_SECRET_ARN)"));
        };
        Ok(DeliveryConfig {
            provider,
            sms_sender,
            notifications: SecurityNotifications::from_env(env)?,
            twilio,
            verify_base_url: env.url("TWILIO_VERIFY_BASE_URL", "https://verify.twilio.com")?,
            api_base_url: env.url("TWILIO_API_BASE_URL", "https://api.twilio.com")?,
            code_hash_key: match (env.optional("OTP_HASH_KEY"), env.optional("OTP_HASH_KEY_SECRET_ARN")) {
                (Some(key), _) if key.len() < 32 => return Err(problem("OTP_HASH_KEY", "must be at least 32 characters of random text")),
                (Some(key), _) => Some(CodeHashKeySource::Env(SecretString::from(key))),
                (None, Some(arn)) => Some(CodeHashKeySource::SecretsManager { arn }),
                (None, None) => None,
            },
        })
    }
}

/// Authenticator apps: the issuer shown in the app, and where the key that seals their
/// secrets comes from (never the table).
pub struct TotpConfig {
    pub issuer: String,
    pub key: TotpKeySource,
}

pub enum TotpKeySource {
    /// `TOTP_ENCRYPTION_KEY`: 32 bytes, base64 (local runs and tests).
    Raw(secrecy::SecretBox<[u8; 32]>),
    /// `TOTP_KEY_SECRET_ARN`: a Secrets Manager secret string (the template generates it).
    SecretsManager { arn: String },
}

impl TotpConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        use base64::{engine::general_purpose::STANDARD, Engine};
        let key = match (env.optional("TOTP_ENCRYPTION_KEY"), env.optional("TOTP_KEY_SECRET_ARN")) {
            (Some(raw), _) => {
                let bytes = STANDARD.decode(raw.as_bytes()).ok().and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok());
                let bytes = bytes.ok_or_else(|| problem("TOTP_ENCRYPTION_KEY", "must be 32 bytes in base64 (openssl rand -base64 32)"))?;
                TotpKeySource::Raw(secrecy::SecretBox::new(Box::new(bytes)))
            }
            (None, Some(arn)) => TotpKeySource::SecretsManager { arn },
            (None, None) => return Err(problem("TOTP_ENCRYPTION_KEY", "is missing (or set TOTP_KEY_SECRET_ARN)")),
        };
        let issuer = env.optional("TOTP_ISSUER").unwrap_or_else(|| "sms-mfa".into());
        if issuer.contains(':') {
            return Err(problem("TOTP_ISSUER", "must not contain ':' (it separates issuer and account in the otpauth label)"));
        }
        Ok(TotpConfig { issuer, key })
    }
}

/// OpenID Connect (API.md v3): the registered clients, the hosted pages' SSO session lifetime and
/// the authorization codes' (at most 60 s).
pub struct OAuthConfig {
    pub clients: crate::domain::OAuthClients,
    pub sso_ttl: Duration,
    pub code_ttl: Duration,
}

impl OAuthConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let code_ttl = env.seconds("AUTHORIZATION_CODE_TTL_SECONDS", 60)?;
        if code_ttl > Duration::from_secs(60) {
            return Err(problem("AUTHORIZATION_CODE_TTL_SECONDS", "must be at most 60"));
        }
        Ok(OAuthConfig { clients: oauth_clients(env)?, sso_ttl: sso_session_ttl(env)?, code_ttl })
    }
}

/// `SSO_SESSION_TTL_SECONDS` (default 3600, Cognito's): the hosted pages' single sign-on session.
pub fn sso_session_ttl(env: &Env) -> Result<Duration, ConfigError> {
    env.seconds("SSO_SESSION_TTL_SECONDS", 3600)
}

/// `OAUTH_CLIENTS` (default: none). A problem names the client and the field.
pub fn oauth_clients(env: &Env) -> Result<crate::domain::OAuthClients, ConfigError> {
    match env.optional("OAUTH_CLIENTS") {
        None => Ok(Default::default()),
        Some(json) => crate::domain::OAuthClients::parse(&json).map_err(|p| problem("OAUTH_CLIENTS", p)),
    }
}

pub fn table_name(env: &Env) -> Result<String, ConfigError> {
    env.required("TABLE_NAME")
}

/// `EVENT_BUS_NAME`: the EventBridge bus the events function puts lifecycle events on.
pub fn event_bus_name(env: &Env) -> Result<String, ConfigError> {
    env.required("EVENT_BUS_NAME")
}

/// `METRICS_NAMESPACE`: the CloudWatch namespace of the EMF metrics (default `sms-mfa`; the
/// template gives each stack its own). CloudWatch allows 1-255 of `A-Za-z0-9 . - _ / # :`,
/// and `AWS/` is reserved for AWS's own.
pub fn metrics_namespace(env: &Env) -> Result<String, ConfigError> {
    let namespace = env.optional("METRICS_NAMESPACE").unwrap_or_else(|| crate::metrics::DEFAULT_NAMESPACE.into());
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#:".contains(c);
    if namespace.len() > 255 || !namespace.chars().all(allowed) || namespace.starts_with("AWS/") {
        return Err(problem("METRICS_NAMESPACE", "must be 1-255 of A-Z a-z 0-9 . - _ / # : and not start with AWS/"));
    }
    Ok(namespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_settings_are_checked_at_start() {
        let config = OAuthConfig::from_env(&Env::from_pairs([])).unwrap();
        assert!(config.clients.is_empty());
        assert_eq!((config.sso_ttl.as_secs(), config.code_ttl.as_secs()), (3600, 60));
        for (var, value, needle) in [
            ("AUTHORIZATION_CODE_TTL_SECONDS", "61", "at most 60"),
            ("AUTHORIZATION_CODE_TTL_SECONDS", "0", "at least 1"),
            ("SSO_SESSION_TTL_SECONDS", "soon", "whole number"),
            (
                "OAUTH_CLIENTS",
                r#"[{"client_id":"app","name":"App","redirect_uris":["http://app.example/cb"]}]"#,
                "client \"app\": redirect_uris",
            ),
        ] {
            let err = OAuthConfig::from_env(&Env::from_pairs([(var, value)])).err().unwrap();
            assert_eq!(err.var, var);
            assert!(err.problem.contains(needle), "{var}={value}: {}", err.problem);
        }
    }

    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----";

    #[test]
    fn limits_default_to_the_contract() {
        let limits = Limits::default();
        assert_eq!(limits.otp_ttl, Duration::from_secs(600));
        assert_eq!(limits.otp_max_attempts, 5);
        assert_eq!(limits.resend_cooldown, Duration::from_secs(30));
        assert_eq!(limits.sends_per_phone, 5);
        assert_eq!(limits.login_failures_per_account, 10);
        assert_eq!((limits.registrations_per_ip_hour, limits.logins_per_ip_hour), (20, 100));
        assert_eq!((limits.sends_per_ip_hour, limits.sends_global_hour), (30, 1000));
        assert_eq!(limits.factor_failures_per_account, 10);
        assert_eq!(limits.reset_failures_per_email, 10);
        assert_eq!(limits.challenge_max_age, Duration::from_secs(1800));
    }

    #[test]
    fn malformed_numbers_name_the_variable() {
        let err = Limits::from_env(&Env::from_pairs([("OTP_MAX_ATTEMPTS", "five")])).unwrap_err();
        assert_eq!(err.var, "OTP_MAX_ATTEMPTS");
        let err = Limits::from_env(&Env::from_pairs([("SENDS_GLOBAL_HOUR", "0")])).unwrap_err();
        assert_eq!(err.var, "SENDS_GLOBAL_HOUR");
        assert!(err.to_string().contains("SENDS_GLOBAL_HOUR"));
    }

    #[test]
    fn the_sms_allowlist_is_parsed_at_start_and_names_itself_when_wrong() {
        assert!(Limits::default().sms_regions.allows_all());
        let limits = Limits::from_env(&Env::from_pairs([("SMS_ALLOWED_COUNTRIES", "gb,IE")])).unwrap();
        assert_eq!(limits.sms_regions, crate::domain::SmsRegions::parse("GB,IE").unwrap());
        let err = Limits::from_env(&Env::from_pairs([("SMS_ALLOWED_COUNTRIES", "GB,UK")])).unwrap_err();
        assert_eq!(err.var, "SMS_ALLOWED_COUNTRIES");
        assert!(err.to_string().contains("\"UK\""), "{err}");
    }

    #[test]
    fn the_pumping_guard_is_read_at_start_and_names_the_bad_setting() {
        let limits = Limits::from_env(&Env::from_pairs([
            ("PUMPING_PREFIX_DIGITS", "2"),
            ("PUMPING_WINDOW_SECONDS", "600"),
            ("PUMPING_MIN_SENDS", "50"),
            ("PUMPING_MIN_CONVERSION_PERCENT", "0"),
            ("SMS_SAFE_PREFIXES", "+4477, +1555"),
        ]))
        .unwrap();
        let rule = limits.pumping;
        assert_eq!((rule.prefix_digits, rule.window.as_secs(), rule.min_sends, rule.min_conversion_percent), (2, 600, 50, 0));
        assert_eq!(rule.safe, crate::domain::SafePrefixes::parse("+4477,+1555").unwrap());
        assert_eq!(Limits::from_env(&Env::from_pairs([])).unwrap().pumping, crate::domain::PumpingRule::default());
        for (var, bad) in [
            ("PUMPING_PREFIX_DIGITS", "7"),
            ("PUMPING_WINDOW_SECONDS", "0"),
            ("PUMPING_MIN_SENDS", "many"),
            ("PUMPING_MIN_CONVERSION_PERCENT", "101"),
            ("SMS_SAFE_PREFIXES", "44"),
        ] {
            assert_eq!(Limits::from_env(&Env::from_pairs([(var, bad)])).unwrap_err().var, var, "{var}={bad}");
        }
    }

    /// METRICS_NAMESPACE: CloudWatch's namespace rules, checked at start.
    #[test]
    fn the_metrics_namespace_follows_cloudwatch_rules() {
        assert_eq!(metrics_namespace(&Env::from_pairs([])).unwrap(), "sms-mfa");
        assert_eq!(metrics_namespace(&Env::from_pairs([("METRICS_NAMESPACE", "sms-mfa/prod")])).unwrap(), "sms-mfa/prod");
        for bad in ["AWS/Lambda", "has space", "x".repeat(256).as_str(), "ünï"] {
            let err = metrics_namespace(&Env::from_pairs([("METRICS_NAMESPACE", bad)])).unwrap_err();
            assert_eq!(err.var, "METRICS_NAMESPACE", "{bad}");
        }
    }

    #[test]
    fn twilio_verify_needs_its_service() {
        let env = Env::from_pairs([("TWILIO_ACCOUNT_SID", "AC1"), ("TWILIO_AUTH_TOKEN", "t")]);
        let err = DeliveryConfig::from_env(&env).err().unwrap();
        assert_eq!(err.var, "TWILIO_VERIFY_SERVICE_SID");
        let err = DeliveryConfig::from_env(&Env::from_pairs([])).err().unwrap();
        assert_eq!(err.var, "TWILIO_ACCOUNT_SID");
    }

    #[test]
    fn log_sender_needs_no_twilio_and_is_refused_when_deployed() {
        let local = Env::from_pairs([("OTP_PROVIDER", "builtin"), ("SMS_SENDER", "log")]);
        let config = DeliveryConfig::from_env(&local).unwrap();
        assert!(matches!(config.twilio, TwilioSource::NotNeeded));
        let deployed =
            Env::from_pairs([("OTP_PROVIDER", "builtin"), ("SMS_SENDER", "log"), ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")]);
        assert_eq!(DeliveryConfig::from_env(&deployed).err().unwrap().var, "SMS_SENDER");
    }

    #[test]
    fn the_secret_json_uses_the_variable_names_and_blank_means_unset() {
        let json = r#"{"TWILIO_ACCOUNT_SID":"AC1","TWILIO_AUTH_TOKEN":"t","TWILIO_VERIFY_SERVICE_SID":"VA1","TWILIO_MESSAGING_SERVICE_SID":"","TWILIO_FROM_NUMBER":""}"#;
        let credentials = TwilioCredentials::from_secret_json(json).unwrap();
        assert_eq!(credentials.verify_service_sid.as_deref(), Some("VA1"));
        assert!(credentials.messaging_service_sid.is_none() && credentials.from_number.is_none());
        assert!(credentials.check_for(OtpProviderKind::TwilioVerify, SmsSenderKind::Twilio).is_ok());
        assert!(credentials.check_for(OtpProviderKind::Builtin, SmsSenderKind::Twilio).is_err());
        assert_eq!(TwilioCredentials::from_secret_json("[]").err().unwrap().var, "TWILIO_SECRET_ARN");
    }

    #[test]
    fn security_notifications_default_to_the_sender_and_name_the_variable() {
        let parse = |v: &str| SecurityNotifications::from_env(&Env::from_pairs([("SECURITY_NOTIFICATIONS", v)]));
        assert_eq!(SecurityNotifications::from_env(&Env::from_pairs([])).unwrap(), SecurityNotifications::WhenPossible);
        assert_eq!(parse("off").unwrap(), SecurityNotifications::Off);
        assert_eq!(parse("email").unwrap_err().var, "SECURITY_NOTIFICATIONS");
        assert!(SecurityNotifications::WhenPossible.resolve(true).unwrap());
        assert!(!SecurityNotifications::WhenPossible.resolve(false).unwrap());
        assert!(!SecurityNotifications::Off.resolve(true).unwrap());
        assert_eq!(parse("sms").unwrap().resolve(false).unwrap_err().var, "SECURITY_NOTIFICATIONS");
    }

    #[test]
    fn unknown_provider_is_refused() {
        let err = DeliveryConfig::from_env(&Env::from_pairs([("OTP_PROVIDER", "carrier-pigeon")])).err().unwrap();
        assert_eq!(err.var, "OTP_PROVIDER");
    }

    #[test]
    fn token_config_needs_a_key_and_unescapes_newlines() {
        assert_eq!(TokenConfig::from_env(&Env::from_pairs([])).err().unwrap().var, "JWT_SIGNING_KEY");
        let escaped = KEY.replace('\n', "\\n");
        let config = TokenConfig::from_env(&Env::from_pairs([("JWT_SIGNING_KEY", escaped.as_str())])).unwrap();
        match config.signing_key {
            KeySource::Pem(pem) => assert_eq!(secrecy::ExposeSecret::expose_secret(&pem), KEY),
            _ => panic!("expected a PEM"),
        }
        assert_eq!(config.access_ttl, Duration::from_secs(900));
    }

    #[test]
    fn the_totp_key_is_32_bytes_and_named_when_wrong() {
        let err = TotpConfig::from_env(&Env::from_pairs([])).err().expect("a key is required");
        assert_eq!(err.var, "TOTP_ENCRYPTION_KEY");
        let err = TotpConfig::from_env(&Env::from_pairs([("TOTP_ENCRYPTION_KEY", "c2hvcnQ=")])).err().expect("too short");
        assert_eq!(err.var, "TOTP_ENCRYPTION_KEY");
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let config = TotpConfig::from_env(&Env::from_pairs([("TOTP_ENCRYPTION_KEY", key)])).unwrap();
        assert_eq!(config.issuer, "sms-mfa");
        assert!(matches!(config.key, TotpKeySource::Raw(_)));
        let config = TotpConfig::from_env(&Env::from_pairs([("TOTP_KEY_SECRET_ARN", "arn:x"), ("TOTP_ISSUER", "Acme")])).unwrap();
        assert!(matches!(config.key, TotpKeySource::SecretsManager { .. }));
        assert_eq!(config.issuer, "Acme");
        let err = TotpConfig::from_env(&Env::from_pairs([("TOTP_ENCRYPTION_KEY", key), ("TOTP_ISSUER", "a:b")])).err().unwrap();
        assert_eq!(err.var, "TOTP_ISSUER");
    }

    #[test]
    fn a_kms_key_is_an_alternative_to_the_pem_and_rotation_ids_are_a_list() {
        let env = Env::from_pairs([
            ("JWT_SIGNING_KMS_KEY_ID", "alias/sms-mfa-jwt"),
            ("JWT_VERIFY_KMS_KEY_IDS", "1234abcd-old, arn:aws:kms:us-east-1:111122223333:key/older"),
        ]);
        let config = TokenConfig::from_env(&env).unwrap();
        assert!(matches!(&config.signing_key, KeySource::Kms { key_id } if key_id == "alias/sms-mfa-jwt"));
        assert_eq!(config.previous_kms_key_ids, ["1234abcd-old", "arn:aws:kms:us-east-1:111122223333:key/older"]);
        let both = Env::from_pairs([("JWT_SIGNING_KMS_KEY_ID", "k"), ("JWT_SIGNING_KEY", KEY)]);
        assert_eq!(TokenConfig::from_env(&both).err().unwrap().var, "JWT_SIGNING_KMS_KEY_ID");
    }

    #[test]
    fn a_short_code_hash_key_is_refused() {
        let env = Env::from_pairs([("OTP_PROVIDER", "builtin"), ("SMS_SENDER", "log"), ("OTP_HASH_KEY", "short")]);
        assert_eq!(DeliveryConfig::from_env(&env).err().unwrap().var, "OTP_HASH_KEY");
    }
}
