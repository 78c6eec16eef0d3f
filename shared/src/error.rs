//! The one error type of the use cases. `http::error_response` is the only place that turns it into
//! a status code and body, so every function answers the same way for the same failure.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidEmail(String),
    #[error("{0}")]
    InvalidPhone(String),
    #[error("{0}")]
    WeakPassword(String),
    #[error("the email or password is not correct")]
    InvalidCredentials,
    #[error("the code is not correct")]
    InvalidCode { attempts_remaining: u32 },
    #[error("this challenge is unknown, expired or already used; start again")]
    ChallengeInvalid,
    #[error("the token is missing, malformed, expired or revoked; sign in again")]
    InvalidToken,
    #[error("no such route")]
    NotFound,
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("the request body is larger than 16 KiB")]
    PayloadTooLarge,
    #[error("send the body as JSON with Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("too many wrong codes for this challenge; start again")]
    TooManyAttempts,
    #[error("too many requests; try again later")]
    RateLimited { retry_after: Duration },
    #[error("a code was sent moments ago; wait before asking for another")]
    ResendTooSoon { retry_after: Duration },
    #[error("codes to this number range are paused; use an authenticator app or try again later")]
    DestinationBlocked { retry_after: Duration },
    #[error("{0}")]
    ChannelUnavailable(String),
    #[error("the SMS provider is unavailable; try again shortly")]
    SmsUnavailable,
    #[error("an authenticator app is already active; remove it before adding another")]
    FactorExists,
    #[error("this account has an authenticator app: send totp_code or recovery_code as well")]
    FactorRequired,
    #[error("this account is disabled; contact the service's support")]
    AccountDisabled,
    #[error("this needs a role the token or the account does not have")]
    Forbidden,
    /// The OpenID Connect token and revocation endpoints' errors, in RFC 6749 §5.2's shape.
    #[error("{0}")]
    OAuth(OAuthError),
    /// Anything unexpected: the detail goes to the log only.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AuthError {
    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        AuthError::Internal(err.into())
    }
}

/// Failures of a storage adapter. Kept apart from `AuthError` so the domain decides what a
/// failed condition means.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
}

impl From<StoreError> for AuthError {
    fn from(err: StoreError) -> Self {
        AuthError::internal(err)
    }
}

/// Failures of the code delivery and checking provider (Twilio Verify, Twilio Messaging).
/// The use cases log these texts, so an adapter puts no whole phone number in them: the Twilio
/// adapter keeps Twilio's error code and masks every number in Twilio's message
/// (`adapters::twilio::mask_phone_numbers`; API.md "Hardening").
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the number cannot receive codes: {0}")]
    InvalidPhone(String),
    #[error("the recipient opted out of messages")]
    Unsubscribed,
    #[error("the provider knows no pending verification")]
    NotPending,
    #[error("the provider's check limit was reached")]
    TooManyChecks,
    #[error("the provider's send limit was reached")]
    TooManySends,
    #[error("channel not available: {0}")]
    ChannelUnavailable(String),
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    #[error("provider rejected the request: {0}")]
    Rejected(String),
}

impl From<DeliveryError> for AuthError {
    fn from(err: DeliveryError) -> Self {
        match err {
            DeliveryError::InvalidPhone(_) => AuthError::InvalidPhone("this number cannot receive verification codes".into()),
            DeliveryError::Unsubscribed => {
                AuthError::InvalidPhone("this number has opted out of messages (reply START to re-subscribe)".into())
            }
            DeliveryError::NotPending => AuthError::ChallengeInvalid,
            DeliveryError::TooManyChecks => AuthError::TooManyAttempts,
            DeliveryError::TooManySends => AuthError::RateLimited { retry_after: Duration::from_secs(600) },
            DeliveryError::ChannelUnavailable(m) => AuthError::ChannelUnavailable(m),
            DeliveryError::Unavailable(_) => AuthError::SmsUnavailable,
            DeliveryError::Rejected(m) => AuthError::internal(format!("provider rejected: {m}")),
        }
    }
}

/// A store failure met while delivering (the pending-verification lookup) is an outage of the
/// delivery path, answered like the provider's own.
impl From<StoreError> for DeliveryError {
    fn from(err: StoreError) -> Self {
        DeliveryError::Unavailable(err.to_string())
    }
}

impl From<OAuthError> for AuthError {
    fn from(err: OAuthError) -> Self {
        AuthError::OAuth(err)
    }
}

/// The error codes of RFC 6749 §4.1.2.1 and §5.2 and OIDC Core §3.1.2.6 this provider answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    LoginRequired,
    AccessDenied,
    RequestNotSupported,
}

impl OAuthErrorCode {
    pub fn as_str(self) -> &'static str {
        use OAuthErrorCode::*;
        match self {
            InvalidRequest => "invalid_request",
            InvalidClient => "invalid_client",
            InvalidGrant => "invalid_grant",
            UnauthorizedClient => "unauthorized_client",
            UnsupportedGrantType => "unsupported_grant_type",
            UnsupportedResponseType => "unsupported_response_type",
            InvalidScope => "invalid_scope",
            LoginRequired => "login_required",
            AccessDenied => "access_denied",
            RequestNotSupported => "request_not_supported",
        }
    }
}

/// An error as the OAuth wire carries it: a code and a human description.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        OAuthError { code, description: description.into() }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, description)
    }
}
