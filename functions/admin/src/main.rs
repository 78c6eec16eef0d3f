//! The `admin` function: the admin API (`/admin/users...`, API.md v3 "Roles and administration").
//! Its own function so that only it holds what administration needs: no Twilio or authenticator
//! secret, no signing key (README "Who may touch what").

mod http_handler;

use lambda_http::{run, service_fn, Error};
use sms_mfa::runtime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let admin = runtime::ready(runtime::admin_from_env()).await;
    let admin = &admin;
    run(service_fn(move |req| http_handler::handle(admin, req))).await
}
