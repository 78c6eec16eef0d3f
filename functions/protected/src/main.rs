//! The `protected` function: GET /protected.
//! Configuration, clients and services are built once per cold start, then shared by requests.

mod http_handler;

use lambda_http::{run, service_fn, Error};
use sms_mfa::runtime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let keys = runtime::keys_from_env().await.unwrap_or_else(|err| runtime::fail_start(err));
    let state = sms_mfa::adapters::jwt::VerifiedTokens::new(keys);
    let state = &state;
    run(service_fn(move |req| http_handler::handle(state, req))).await
}
