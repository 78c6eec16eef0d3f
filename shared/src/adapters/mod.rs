//! Implementations of the ports.

pub mod aws;
pub mod builtin_otp;
pub mod dynamodb;
pub mod event_log;
pub mod eventbridge;
pub mod jwt;
pub mod kms;
pub mod outbox_stream;
pub mod password;
pub mod secret_box;
pub mod twilio;
