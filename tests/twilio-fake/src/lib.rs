//! A stateful local fake of Twilio Verify v2 and Programmable Messaging.
//!
//! It speaks Twilio's wire format (form-encoded requests, HTTP Basic auth, Twilio's JSON
//! resources and error documents) so the product's real Twilio client can be tested against it.
//! A small unauthenticated JSON API under `/_fake/` lets tests read the codes that were "sent",
//! inject outages, mark numbers as landlines, unsubscribed or invalid, and move the clock.

mod admin;
mod api;
mod error;
mod messages;
mod state;
mod verify;
mod wire;

use std::{io, net::Ipv4Addr};

use axum::{
    routing::{get, post},
    Router,
};
use tokio::{net::TcpListener, task::JoinHandle};

use crate::state::AppState;

/// Credentials and resource SIDs the fake accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeConfig {
    /// Account SID: the Basic auth username and the `{AccountSid}` of Messaging URLs.
    pub account_sid: String,
    /// Auth token: the Basic auth password.
    pub auth_token: String,
    /// The only Verify service that exists; any other `{ServiceSid}` is a 404.
    pub verify_service_sid: String,
    /// The Messaging Service SID the product is expected to send with.
    pub messaging_service_sid: String,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            account_sid: "AC00000000000000000000000000000000".to_owned(),
            auth_token: "fake-auth-token".to_owned(),
            verify_service_sid: "VA00000000000000000000000000000000".to_owned(),
            messaging_service_sid: "MG00000000000000000000000000000000".to_owned(),
        }
    }
}

/// A fake serving on `127.0.0.1` from a background tokio task; dropping it stops the server.
#[derive(Debug)]
pub struct RunningFake {
    /// Where the fake listens, without a trailing slash: `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The configuration the fake was started with.
    pub config: FakeConfig,
    task: JoinHandle<()>,
}

impl RunningFake {
    /// Binds an ephemeral port on 127.0.0.1 and serves the fake there in a spawned task.
    ///
    /// # Errors
    /// When the listener cannot be bound.
    pub async fn start(cfg: FakeConfig) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let config = cfg.clone();
        let task = tokio::spawn(async move {
            // Nobody awaits this task, so stderr is the only place an accept error can go.
            if let Err(err) = serve(listener, cfg).await {
                eprintln!("twilio-fake stopped: {err}");
            }
        });
        Ok(Self { base_url, config, task })
    }
}

impl Drop for RunningFake {
    fn drop(&mut self) {
        // Tests start many fakes; stop each with its owner instead of at runtime shutdown.
        self.task.abort();
    }
}

/// Serves the fake on `listener` until the future is dropped.
///
/// # Errors
/// When accepting connections fails.
pub async fn serve(listener: TcpListener, cfg: FakeConfig) -> io::Result<()> {
    axum::serve(listener, router(cfg)).await
}

fn router(cfg: FakeConfig) -> Router {
    let state = AppState::new(cfg);

    // Twilio's API: every request, even to an unknown path, is counted, may be faulted and
    // must be authenticated, hence the layer over the routes and the fallbacks alike.
    let twilio = Router::new()
        .route("/v2/Services/{service_sid}/Verifications", post(verify::create))
        .route("/v2/Services/{service_sid}/VerificationCheck", post(verify::check))
        .route("/v2/Services/{service_sid}/Verifications/{sid}", get(verify::fetch).post(verify::update))
        .route("/2010-04-01/Accounts/{account_sid}/Messages.json", post(messages::create))
        .fallback(api::unknown_route)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), api::gate));

    // The test control API: no auth, no faults, not counted.
    let control = Router::new()
        .route("/_fake/verifications/latest", get(admin::latest_verification))
        .route("/_fake/messages", get(admin::messages))
        .route("/_fake/stats", get(admin::stats))
        .route("/_fake/faults", post(admin::set_fault))
        .route("/_fake/numbers", post(admin::set_number))
        .route("/_fake/clock", post(admin::advance_clock))
        .route("/_fake/reset", post(admin::reset));

    control.merge(twilio).with_state(state)
}
