//! The `login` function: POST /auth/login.
//! Configuration, clients and services are built once per cold start, then shared by requests.

mod http_handler;

use lambda_http::{run, service_fn, Error};
use sms_mfa::runtime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    // Issues tokens (a login with a remembered device skips the code); seals or opens no
    // authenticator secret, so it gets no authenticator key.
    let state = runtime::ready(runtime::auth_from_env_for(runtime::TokenRole::Issues, runtime::Authenticators::NeverOpens)).await;
    let state = &state;
    run(service_fn(move |req| http_handler::handle(state, req))).await
}
