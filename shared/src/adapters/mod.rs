//! Implementations of the ports.

pub mod builtin_otp;
pub mod dynamodb;
pub mod jwt;
pub mod memory;
pub mod password;
pub mod secret_box;
pub mod outbound_http;
pub mod twilio;
