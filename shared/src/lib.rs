//! sms-mfa: phone-verified sign-up and SMS multi-factor login.
//!
//! `domain` parses input into types that cannot be invalid; `auth` and `sessions` are the use
//! cases over the traits in `ports`; `adapters` implement those against DynamoDB, Twilio,
//! argon2 and Ed25519; `http` and `runtime` are the Lambda glue the functions share.

pub mod adapters;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod ports;
pub mod runtime;
pub mod sessions;
pub mod sharded_limit;

pub use error::AuthError;
