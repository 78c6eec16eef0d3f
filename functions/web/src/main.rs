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
    run(service_fn(http_handler::handle)).await
}
