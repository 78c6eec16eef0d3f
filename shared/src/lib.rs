//! sms-mfa: phone-verified sign-up and SMS multi-factor login.
//!
//! `domain` parses input into types that cannot be invalid; `use_cases` (one file per flow) are
//! the use cases over the traits in `ports`; `adapters` implement those against DynamoDB, Twilio,
//! argon2 and the token keys; `http` and `runtime` are the Lambda glue the functions share;
//! `audit` writes the security event trail and `metrics` the CloudWatch EMF metrics.

pub mod adapters;
pub mod audit;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod metrics;
pub mod oauth_http;
pub mod ports;
pub mod runtime;
pub mod sharded_limit;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod use_cases;

pub use error::AuthError;
// The verified-token cache moved to adapters::jwt::cache; its old path still names it.
