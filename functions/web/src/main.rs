//! The `web` function: the hosted pages, GET / and GET /assets/{file}, and the contract's 404
//! for every request no other route matches (the template's `$default` route).
//! The pages are compiled into the binary (`assets.rs`): no bucket, no build step beyond cargo.

mod assets;
mod http_handler;

use lambda_http::{run, service_fn, Error};
use sms_mfa::runtime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    // The registered apps: the sign-in page names the one an authorization comes from.
    let clients = runtime::ready(async { runtime::oauth_clients_from_env() }).await;
    let clients = &clients;
    run(service_fn(move |req| http_handler::handle(clients, req))).await
}
