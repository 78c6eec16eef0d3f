//! Domain types: input is parsed into these at the edge, so the use cases never re-validate.

mod authorization;
mod caller;
mod challenge;
mod claims;
mod device;
mod email;
mod event;
mod lifecycle;
mod limit;
mod limits;
mod oauth_client;
mod password;
mod phone;
mod pumping;
mod role;
mod totp;
mod user;
mod user_page;

pub use authorization::{
    session_id_of, AuthorizationCode, CodeChallenge, OAuthError, OAuthErrorCode, OAuthParams, OpaqueSecret, Prompt, Redemption, Scopes,
    SsoSession, SUPPORTED_SCOPES,
};
pub use caller::Caller;
pub use challenge::{Challenge, ChallengeFactor, ChallengeId, ChallengeStatus, Channel, OtpCode, Purpose};
pub use claims::{AccessClaims, Grant, IdTokenClaims, OAuthGrant, ScopedProfile};
pub use device::{
    device_label, spent_mark, Device, DeviceGrant, DeviceId, DeviceToken, DeviceView, MAX_DEVICES, REMEMBERED_DEVICE_AMR, SPENT_TOKENS_KEPT,
};
pub use email::Email;
pub use event::{AdminAction, EventKind, SecurityEvent, Subject};
pub use lifecycle::{LifecycleChange, LifecycleEvent, OutboxEntry, EVENT_SOURCE, OUTBOX_TTL_SECONDS};
pub use limit::Limit;
pub use limits::Limits;
pub use oauth_client::{constant_time_eq, OAuthClient, OAuthClients};
pub use password::{Password, PasswordPolicy};
pub use phone::{Phone, SmsRegions};
pub use pumping::{DestinationPrefix, PumpingRule, SafePrefixes, MAX_PREFIX_DIGITS};
pub use role::{Role, Roles, ADMIN_ROLE, MAX_ROLES};
pub use totp::{otpauth_uri, step_at, FactorProof, RecoveryCode, TotpCode, TotpSecret, RECOVERY_CODE_COUNT, STEP_SECONDS};
pub use user::{User, UserId, UserView};
pub use user_page::{UserCursor, MAX_PAGE};

/// Seconds since the Unix epoch: what DynamoDB's TTL and JWT claims use.
pub type UnixTime = i64;
