//! Verify v2: `Verifications` (create, fetch, update) and `VerificationCheck`.
//!
//! Response fields follow the OpenAPI schemas `verify.v2.service.verification` and
//! `verify.v2.service.verification_check`.

use axum::{extract::State, http::StatusCode, http::Uri, Json};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    error::{TwilioError, TwilioForm, TwilioPath},
    state::{AppState, NumberKind, SendAttempt, Verification, VerificationStatus, MAX_CHECKS, MAX_SENDS},
    wire::{is_e164, iso8601, new_code, new_sid, non_empty, verify_invalid_to},
    FakeConfig,
};

/// Twilio accepts `email`, `sna` and `auto` too, but the fake only delivers to phones.
const DELIVERED_CHANNELS: [&str; 3] = ["sms", "call", "whatsapp"];

#[derive(Deserialize)]
pub(crate) struct CreateForm {
    #[serde(rename = "To")]
    to: Option<String>,
    #[serde(rename = "Channel")]
    channel: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct CheckForm {
    #[serde(rename = "Code")]
    code: Option<String>,
    #[serde(rename = "To")]
    to: Option<String>,
    #[serde(rename = "VerificationSid")]
    verification_sid: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct UpdateForm {
    #[serde(rename = "Status")]
    status: Option<String>,
}

/// Serializes as `{}`: the fake does no carrier lookup.
#[derive(Serialize)]
struct Lookup {}

#[derive(Serialize)]
struct SendCodeAttempt {
    attempt_sid: String,
    channel: String,
    time: String,
}

#[derive(Serialize)]
pub(crate) struct VerificationResource {
    sid: String,
    service_sid: String,
    account_sid: String,
    to: String,
    channel: String,
    status: &'static str,
    valid: bool,
    lookup: Lookup,
    amount: Option<String>,
    payee: Option<String>,
    send_code_attempts: Vec<SendCodeAttempt>,
    date_created: String,
    date_updated: String,
    sna: Option<serde_json::Value>,
    url: String,
}

impl VerificationResource {
    fn new(v: &Verification, cfg: &FakeConfig, now: OffsetDateTime) -> Self {
        Self {
            sid: v.sid.clone(),
            service_sid: cfg.verify_service_sid.clone(),
            account_sid: cfg.account_sid.clone(),
            to: v.to.clone(),
            channel: v.channel.clone(),
            status: v.status_at(now),
            valid: v.status == VerificationStatus::Approved,
            lookup: Lookup {},
            amount: None,
            payee: None,
            send_code_attempts: v
                .send_attempts
                .iter()
                .map(|a| SendCodeAttempt { attempt_sid: a.attempt_sid.clone(), channel: a.channel.clone(), time: iso8601(a.time) })
                .collect(),
            date_created: iso8601(v.created),
            date_updated: iso8601(v.updated),
            sna: None,
            url: format!("https://verify.twilio.com/v2/Services/{}/Verifications/{}", cfg.verify_service_sid, v.sid),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct CheckResource {
    sid: String,
    service_sid: String,
    account_sid: String,
    to: String,
    channel: String,
    status: &'static str,
    valid: bool,
    amount: Option<String>,
    payee: Option<String>,
    date_created: String,
    date_updated: String,
    /// Empty, as it is for every channel but `sna`.
    sna_attempts_error_codes: Vec<serde_json::Value>,
}

impl CheckResource {
    fn new(v: &Verification, cfg: &FakeConfig, now: OffsetDateTime) -> Self {
        Self {
            sid: v.sid.clone(),
            service_sid: cfg.verify_service_sid.clone(),
            account_sid: cfg.account_sid.clone(),
            to: v.to.clone(),
            channel: v.channel.clone(),
            status: v.status_at(now),
            valid: v.status == VerificationStatus::Approved,
            amount: None,
            payee: None,
            date_created: iso8601(v.created),
            date_updated: iso8601(v.updated),
            sna_attempts_error_codes: Vec::new(),
        }
    }
}

/// There is exactly one Verify service; Twilio answers any other SID with a 404.
fn known_service(app: &AppState, service_sid: &str, uri: &Uri) -> Result<(), TwilioError> {
    if service_sid == app.cfg.verify_service_sid {
        Ok(())
    } else {
        Err(TwilioError::not_found(uri.path()))
    }
}

fn e164_to(to: String) -> Result<String, TwilioError> {
    if is_e164(&to) {
        Ok(to)
    } else {
        Err(verify_invalid_to(&to))
    }
}

/// `POST /v2/Services/{ServiceSid}/Verifications`: sends a code, or re-sends the pending one.
pub(crate) async fn create(
    State(app): State<AppState>,
    uri: Uri,
    TwilioPath(service_sid): TwilioPath<String>,
    TwilioForm(form): TwilioForm<CreateForm>,
) -> Result<(StatusCode, Json<VerificationResource>), TwilioError> {
    known_service(&app, &service_sid, &uri)?;
    let to = non_empty(form.to).ok_or_else(|| TwilioError::missing_parameter("To"))?;
    let channel = non_empty(form.channel).ok_or_else(|| TwilioError::missing_parameter("Channel"))?;
    let to = e164_to(to)?;
    if !DELIVERED_CHANNELS.contains(&channel.as_str()) {
        return Err(TwilioError::bad_request(20001, format!("Invalid parameter: Channel `{channel}` is not supported")));
    }

    let mut inner = app.lock();
    if inner.number_kind(&to) == NumberKind::Invalid {
        return Err(verify_invalid_to(&to));
    }
    if channel == "sms" && inner.number_kind(&to) == NumberKind::Landline {
        return Err(TwilioError::bad_request(60205, "SMS is not supported by landline phone number"));
    }

    let now = inner.now();
    let attempt = SendAttempt { attempt_sid: new_sid("VL"), channel: channel.clone(), time: now };
    // Twilio re-sends the same code under the same SID while a verification is pending.
    let (resource, created) = match inner.pending_for(&to) {
        Some(pending) => {
            if pending.send_attempts.len() >= MAX_SENDS {
                return Err(TwilioError::too_many_requests(60203, "Max send attempts reached"));
            }
            pending.channel = channel;
            pending.updated = now;
            pending.send_attempts.push(attempt);
            (VerificationResource::new(pending, &app.cfg, now), false)
        }
        None => {
            let verification = Verification {
                sid: new_sid("VE"),
                to: to.clone(),
                channel,
                code: new_code(),
                status: VerificationStatus::Pending,
                created: now,
                updated: now,
                send_attempts: vec![attempt],
                check_count: 0,
            };
            let resource = VerificationResource::new(&verification, &app.cfg, now);
            inner.verifications.push(verification);
            (resource, true)
        }
    };

    if created {
        inner.stats.verifications_created += 1;
    }
    inner.stats.verification_sends += 1;
    inner.stats.number(&to).verification_sends += 1;
    Ok((StatusCode::CREATED, Json(resource)))
}

/// What a check names: the newest pending verification of a number, or one by SID.
enum CheckTarget {
    To(String),
    Sid(String),
}

/// `POST /v2/Services/{ServiceSid}/VerificationCheck`: compares a code.
pub(crate) async fn check(
    State(app): State<AppState>,
    uri: Uri,
    TwilioPath(service_sid): TwilioPath<String>,
    TwilioForm(form): TwilioForm<CheckForm>,
) -> Result<Json<CheckResource>, TwilioError> {
    known_service(&app, &service_sid, &uri)?;
    let code = non_empty(form.code).ok_or_else(|| TwilioError::missing_parameter("Code"))?;
    let target = match (non_empty(form.to), non_empty(form.verification_sid)) {
        (Some(to), None) => CheckTarget::To(e164_to(to)?),
        (None, Some(sid)) => CheckTarget::Sid(sid),
        _ => return Err(TwilioError::bad_request(20001, "Invalid parameter: exactly one of To or VerificationSid is required")),
    };

    let mut inner = app.lock();
    if let CheckTarget::To(to) = &target {
        if inner.number_kind(to) == NumberKind::Invalid {
            return Err(verify_invalid_to(to));
        }
    }
    let now = inner.now();
    let verification = match &target {
        CheckTarget::To(to) => inner.pending_for(to),
        CheckTarget::Sid(sid) => inner.pending_by_sid(sid),
    };

    // Every well-formed check counts, found or not; an unknown SID has no number to count on.
    let to = match (&verification, &target) {
        (Some(v), _) => Some(v.to.clone()),
        (None, CheckTarget::To(to)) => Some(to.clone()),
        (None, CheckTarget::Sid(_)) => None,
    };
    let outcome = match verification {
        None => Err(TwilioError::not_found(uri.path())),
        Some(v) if v.check_count >= MAX_CHECKS => Err(TwilioError::too_many_requests(60202, "Max check attempts reached")),
        Some(v) => {
            v.check_count += 1;
            v.updated = now;
            if v.code == code {
                // Approved verifications are no longer pending: later checks get a 404.
                v.status = VerificationStatus::Approved;
            }
            Ok(CheckResource::new(v, &app.cfg, now))
        }
    };

    inner.stats.verification_checks += 1;
    if let Some(to) = to {
        inner.stats.number(&to).verification_checks += 1;
    }
    outcome.map(Json)
}

/// `GET /v2/Services/{ServiceSid}/Verifications/{Sid}`.
pub(crate) async fn fetch(
    State(app): State<AppState>,
    uri: Uri,
    TwilioPath((service_sid, sid)): TwilioPath<(String, String)>,
) -> Result<Json<VerificationResource>, TwilioError> {
    known_service(&app, &service_sid, &uri)?;
    let mut inner = app.lock();
    let now = inner.now();
    let verification = inner.pending_by_sid(&sid).ok_or_else(|| TwilioError::not_found(uri.path()))?;
    Ok(Json(VerificationResource::new(verification, &app.cfg, now)))
}

/// `POST /v2/Services/{ServiceSid}/Verifications/{Sid}`: `Status=canceled|approved`.
pub(crate) async fn update(
    State(app): State<AppState>,
    uri: Uri,
    TwilioPath((service_sid, sid)): TwilioPath<(String, String)>,
    TwilioForm(form): TwilioForm<UpdateForm>,
) -> Result<Json<VerificationResource>, TwilioError> {
    known_service(&app, &service_sid, &uri)?;
    let status = non_empty(form.status).ok_or_else(|| TwilioError::missing_parameter("Status"))?;
    let status = match status.as_str() {
        "canceled" => VerificationStatus::Canceled,
        "approved" => VerificationStatus::Approved,
        other => return Err(TwilioError::bad_request(20001, format!("Invalid parameter: Status `{other}` must be canceled or approved"))),
    };

    let mut inner = app.lock();
    let now = inner.now();
    let verification = inner.pending_by_sid(&sid).ok_or_else(|| TwilioError::not_found(uri.path()))?;
    verification.status = status;
    verification.updated = now;
    Ok(Json(VerificationResource::new(verification, &app.cfg, now)))
}
