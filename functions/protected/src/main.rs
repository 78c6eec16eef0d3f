//! The `protected` function: GET /protected.
//! Configuration, clients and services are built once per cold start, then shared by requests.

mod http_handler;

use lambda_http::{run, service_fn, Error};
use sms_mfa::runtime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let state = runtime::ready(runtime::verified_tokens_from_env()).await;
    // The registered apps, whose browser origins may read the answer (CORS).
    let clients = runtime::ready(async { runtime::oauth_clients_from_env() }).await;
    let (state, clients) = (&state, &clients);
    run(service_fn(move |req| http_handler::handle(state, clients, req))).await
}
