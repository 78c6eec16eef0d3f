//! Domain types: input is parsed into these at the edge, so the use cases never re-validate.

mod challenge;
mod email;
mod password;
mod phone;
mod user;

pub use challenge::{Challenge, ChallengeId, ChallengeStatus, Channel, OtpCode, Purpose};
pub use email::Email;
pub use password::{Password, PasswordPolicy};
pub use phone::{Phone, SmsRegions};
pub use user::{User, UserId, UserView};

/// Seconds since the Unix epoch: what DynamoDB's TTL and JWT claims use.
pub type UnixTime = i64;
