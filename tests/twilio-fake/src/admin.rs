//! The test control API under `/_fake/`: JSON, no auth, never faulted or counted.

use axum::{
    extract::{Query, State},
    http::StatusCode,
    Json,
};
use serde::{Deserialize, Serialize};
use time::Duration;

use crate::{
    error::TwilioError,
    state::{AppState, Fault, FaultMode, Inner, Message, NumberKind, Stats},
};

/// A raw `+` in a query string decodes to a space; accept it as the `+` the caller meant.
fn phone_param(raw: &str) -> String {
    match raw.strip_prefix(' ') {
        Some(rest) => format!("+{rest}"),
        None => raw.to_owned(),
    }
}

#[derive(Deserialize)]
pub(crate) struct RequiredTo {
    to: String,
}

#[derive(Deserialize)]
pub(crate) struct OptionalTo {
    to: Option<String>,
}

/// What a test needs to complete (or inspect) a verification, code included.
#[derive(Serialize)]
pub(crate) struct VerificationView {
    sid: String,
    to: String,
    channel: String,
    code: String,
    status: &'static str,
    send_count: usize,
    check_count: u32,
}

/// `GET /_fake/verifications/latest?to=`: the newest verification of a number, in any state.
pub(crate) async fn latest_verification(
    State(app): State<AppState>,
    Query(query): Query<RequiredTo>,
) -> Result<Json<VerificationView>, TwilioError> {
    let to = phone_param(&query.to);
    let inner = app.lock();
    let now = inner.now();
    let v = inner.latest_for(&to).ok_or_else(|| TwilioError::new(StatusCode::NOT_FOUND, 20404, format!("No verification for {to}")))?;
    Ok(Json(VerificationView {
        sid: v.sid.clone(),
        to: v.to.clone(),
        channel: v.channel.clone(),
        code: v.code.clone(),
        status: v.status_at(now),
        send_count: v.send_attempts.len(),
        check_count: v.check_count,
    }))
}

/// `GET /_fake/messages[?to=]`: sent messages, oldest first.
pub(crate) async fn messages(State(app): State<AppState>, Query(query): Query<OptionalTo>) -> Json<Vec<Message>> {
    let to = query.to.as_deref().map(phone_param);
    let inner = app.lock();
    let messages = inner.messages.iter().filter(|m| to.as_ref().is_none_or(|to| &m.to == to)).cloned().collect();
    Json(messages)
}

/// `GET /_fake/stats`.
pub(crate) async fn stats(State(app): State<AppState>) -> Json<Stats> {
    Json(app.lock().stats.clone())
}

#[derive(Deserialize)]
pub(crate) struct FaultRequest {
    mode: FaultMode,
    count: Option<u32>,
}

/// `POST /_fake/faults`: how the following API requests fail, and for how many of them.
pub(crate) async fn set_fault(State(app): State<AppState>, Json(request): Json<FaultRequest>) -> StatusCode {
    // A count of zero affects no request at all.
    app.lock().fault = match request.count {
        Some(0) => Fault::default(),
        remaining => Fault { mode: request.mode, remaining },
    };
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
pub(crate) struct NumberRequest {
    to: String,
    kind: NumberKind,
}

/// `POST /_fake/numbers`: marks a number as a landline, unsubscribed, invalid (Twilio refuses
/// it with 21211 or 60200, naming it), or normal again.
pub(crate) async fn set_number(State(app): State<AppState>, Json(request): Json<NumberRequest>) -> StatusCode {
    let mut inner = app.lock();
    match request.kind {
        NumberKind::Normal => inner.numbers.remove(&request.to),
        kind => inner.numbers.insert(request.to, kind),
    };
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
pub(crate) struct ClockRequest {
    advance_seconds: u32,
}

/// `POST /_fake/clock`: moves the fake's now forward, to expire verifications without waiting.
pub(crate) async fn advance_clock(State(app): State<AppState>, Json(request): Json<ClockRequest>) -> StatusCode {
    app.lock().clock_offset += Duration::seconds(i64::from(request.advance_seconds));
    StatusCode::NO_CONTENT
}

/// `POST /_fake/reset`: forgets everything, faults and clock offset included.
pub(crate) async fn reset(State(app): State<AppState>) -> StatusCode {
    *app.lock() = Inner::default();
    StatusCode::NO_CONTENT
}
