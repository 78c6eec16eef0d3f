//! `sms-mfa-admin`: grants or revokes a role by email, against the table named by `TABLE_NAME`,
//! with the AWS settings of the environment (the deployer's credentials, or the local stack's
//! env file): how the first administrator is made, since no HTTP route can make one.
//!
//!     sms-mfa-admin grant-role <email> <role>
//!     sms-mfa-admin revoke-role <email> <role>
//!
//! Exit 0 and one line with the account's roles after; anything else exits non-zero with one
//! line saying why (an unknown email, a malformed role, a missing setting).

use sms_mfa::{
    domain::{Email, Role},
    runtime, AuthError,
};
use std::process::ExitCode;

const USAGE: &str = "usage: sms-mfa-admin grant-role|revoke-role <email> <role>";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(line) => {
            eprintln!("sms-mfa-admin: {line}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &[String]) -> Result<String, String> {
    let [command, email, role] = args else {
        return Err(USAGE.into());
    };
    let grant = match command.as_str() {
        "grant-role" => true,
        "revoke-role" => false,
        other => return Err(format!("unknown command {other:?}; {USAGE}")),
    };
    let email = Email::parse(email).map_err(|e| e.to_string())?;
    let role = Role::parse(role).map_err(|e| e.to_string())?;
    let roles = runtime::role_assignment_from_env().map_err(|e| e.to_string())?;
    let result = if grant { roles.grant(&email, role).await } else { roles.revoke(&email, &role).await };
    match result {
        Ok(now) => Ok(format!("{}: roles [{}]", email.as_str(), now.names().join(", "))),
        Err(AuthError::NotFound) => Err(format!("no account has the email {}", email.as_str())),
        Err(AuthError::Internal(source)) => Err(format!("the table could not be updated: {source}")),
        Err(other) => Err(other.to_string()),
    }
}
