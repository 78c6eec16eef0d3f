//! The `protected` function: GET /protected.
//! Configuration, clients and services are built once per cold start, then shared by requests.

mod http_handler;

use lambda_http::{run, service_fn, Error};
use sms_mfa::runtime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let state = runtime::ready(runtime::verified_tokens_from_env()).await;
    let state = &state;
    run(service_fn(move |req| http_handler::handle(state, req))).await
}
