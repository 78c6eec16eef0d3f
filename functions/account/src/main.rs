//! The `account` function: forgot and reset password, and the account routes (GET /me,
//! POST /me/password, DELETE /me, the authenticator routes, GET /me/devices, DELETE
//! /me/devices/{id}). One function because they share the same state (the user store, argon2,
//! the code provider) and a cold start: see docs/flows.md, "Account lifecycle".
//! Configuration, clients and services are built once per cold start, then shared by requests.

mod http_handler;

use lambda_http::{run, service_fn, Error};
use sms_mfa::runtime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let state = runtime::ready(runtime::auth_from_env(runtime::TokenRole::Verifies)).await;
    // The registered apps, whose browser origins may read GET /me (the userinfo endpoint).
    let clients = runtime::ready(async { runtime::oauth_clients_from_env() }).await;
    let (state, clients) = (&state, &clients);
    run(service_fn(move |req| http_handler::handle(state, clients, req))).await
}
