//! The `session` function: POST /auth/refresh and POST /auth/logout.
//! Configuration, clients and services are built once per cold start, then shared by requests.

mod http_handler;

use lambda_http::{run, service_fn, Error};
use sms_mfa::runtime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let state = runtime::ready(runtime::sessions_from_env()).await;
    let state = &state;
    run(service_fn(move |req| http_handler::handle(state, req))).await
}
