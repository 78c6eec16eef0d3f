//! Domain types: input is parsed into these at the edge, so the use cases never re-validate.

mod challenge;
mod email;
mod password;
mod phone;
mod totp;
mod user;

pub use challenge::{Challenge, ChallengeFactor, ChallengeId, ChallengeStatus, Channel, OtpCode, Purpose};
pub use email::Email;
pub use password::{Password, PasswordPolicy};
pub use phone::{Phone, SmsRegions};
pub use totp::{otpauth_uri, step_at, FactorProof, RecoveryCode, TotpCode, TotpSecret, RECOVERY_CODE_COUNT, STEP_SECONDS};
pub use user::{User, UserId, UserView};

/// Seconds since the Unix epoch: what DynamoDB's TTL and JWT claims use.
pub type UnixTime = i64;
