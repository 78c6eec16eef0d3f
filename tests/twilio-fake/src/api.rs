//! What every Twilio API request goes through: counting, injected faults, Basic auth.

use std::time::Duration;

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, StatusCode, Uri},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::{engine::general_purpose::STANDARD, Engine as _};

use crate::{
    error::TwilioError,
    state::{AppState, FaultMode},
    FakeConfig,
};

/// Longer than any sane client timeout, so a hung request looks like a dead upstream.
const HANG: Duration = Duration::from_secs(300);

/// Middleware over the Twilio routes. Faults come before auth: an outage answers everyone.
pub(crate) async fn gate(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let fault = {
        let mut inner = app.lock();
        inner.stats.requests += 1;
        inner.take_fault()
    };
    match fault {
        FaultMode::Ok => {}
        FaultMode::Unavailable => return TwilioError::unavailable().into_response(),
        // Only this request's task sleeps; the lock is released and other requests proceed.
        FaultMode::Hang => {
            tokio::time::sleep(HANG).await;
            return TwilioError::unavailable().into_response();
        }
    }
    if !authorized(&app.cfg, req.headers()) {
        return TwilioError::unauthorized().into_response();
    }
    next.run(req).await
}

/// HTTP Basic with username = Account SID and password = auth token.
fn authorized(cfg: &FakeConfig, headers: &HeaderMap) -> bool {
    let Some((scheme, encoded)) =
        headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()).and_then(|value| value.split_once(' '))
    else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Some(credentials) = STANDARD.decode(encoded.trim()).ok().and_then(|bytes| String::from_utf8(bytes).ok()) else {
        return false;
    };
    credentials.split_once(':') == Some((cfg.account_sid.as_str(), cfg.auth_token.as_str()))
}

/// Twilio answers unknown resources with its 404 document.
pub(crate) async fn unknown_route(uri: Uri) -> TwilioError {
    TwilioError::not_found(uri.path())
}

/// A known resource with a method it does not support.
pub(crate) async fn method_not_allowed() -> TwilioError {
    TwilioError::new(StatusCode::METHOD_NOT_ALLOWED, 20004, "Method not allowed")
}
