//! The `oauth` function: the OpenID Connect provider (API.md v3). GET /oauth2/authorize,
//! POST /oauth2/token, POST /oauth2/revoke, GET /oauth2/logout, and the CORS preflights of the
//! endpoints a browser app calls. Configuration, clients and services are built once per cold
//! start, then shared by requests.

mod http_handler;

use lambda_http::{run, service_fn, Error};
use sms_mfa::runtime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let state = runtime::ready(runtime::oauth_from_env()).await;
    let state = &state;
    run(service_fn(move |req| http_handler::handle(state, req))).await
}
