//! Programmable Messaging: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.

use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};

use crate::{
    error::{TwilioError, TwilioForm, TwilioPath},
    state::{AppState, Message, NumberKind},
    wire::{is_e164, messaging_invalid_to, new_sid, non_empty, rfc2822},
};

const API_VERSION: &str = "2010-04-01";

#[derive(Deserialize)]
pub(crate) struct MessageForm {
    #[serde(rename = "To")]
    to: Option<String>,
    #[serde(rename = "From")]
    from: Option<String>,
    #[serde(rename = "MessagingServiceSid")]
    messaging_service_sid: Option<String>,
    #[serde(rename = "Body")]
    body: Option<String>,
}

#[derive(Serialize)]
struct SubresourceUris {
    media: String,
}

/// Twilio's Message resource as the create call returns it (counts are strings there).
#[derive(Serialize)]
pub(crate) struct MessageResource {
    sid: String,
    account_sid: String,
    api_version: &'static str,
    to: String,
    from: Option<String>,
    messaging_service_sid: Option<String>,
    body: String,
    status: &'static str,
    num_segments: &'static str,
    num_media: &'static str,
    direction: &'static str,
    date_created: String,
    date_updated: String,
    date_sent: Option<String>,
    uri: String,
    subresource_uris: SubresourceUris,
    error_code: Option<u32>,
    error_message: Option<String>,
    price: Option<String>,
    price_unit: &'static str,
}

/// Sends nothing: records the message for the control API and answers like Twilio.
pub(crate) async fn create(
    State(app): State<AppState>,
    TwilioPath(account_sid): TwilioPath<String>,
    TwilioForm(form): TwilioForm<MessageForm>,
) -> Result<(StatusCode, Json<MessageResource>), TwilioError> {
    // The auth layer checked the credentials; the URL must name the same account.
    if account_sid != app.cfg.account_sid {
        return Err(TwilioError::unauthorized());
    }
    let to = non_empty(form.to).ok_or_else(|| TwilioError::bad_request(21604, "A 'To' phone number is required."))?;
    let from = non_empty(form.from);
    let messaging_service_sid = non_empty(form.messaging_service_sid);
    if from.is_none() && messaging_service_sid.is_none() {
        return Err(TwilioError::bad_request(21603, "A 'From' or 'MessagingServiceSid' parameter is required"));
    }
    let body = non_empty(form.body).ok_or_else(|| TwilioError::bad_request(21602, "Message body is required."))?;
    if !is_e164(&to) {
        return Err(messaging_invalid_to(&to));
    }

    let mut inner = app.lock();
    match inner.number_kind(&to) {
        NumberKind::Landline => return Err(TwilioError::bad_request(21614, "'To' number is not a valid mobile number")),
        NumberKind::Unsubscribed => return Err(TwilioError::bad_request(21610, "Attempt to send to unsubscribed recipient")),
        NumberKind::Invalid => return Err(messaging_invalid_to(&to)),
        NumberKind::Normal => {}
    }

    let now = rfc2822(inner.now());
    let message = Message { sid: new_sid("SM"), to, from, messaging_service_sid, body };
    let uri = format!("/{API_VERSION}/Accounts/{}/Messages/{}", app.cfg.account_sid, message.sid);
    let resource = MessageResource {
        sid: message.sid.clone(),
        account_sid: app.cfg.account_sid.clone(),
        api_version: API_VERSION,
        to: message.to.clone(),
        from: message.from.clone(),
        messaging_service_sid: message.messaging_service_sid.clone(),
        body: message.body.clone(),
        status: "queued",
        num_segments: "1",
        num_media: "0",
        direction: "outbound-api",
        date_created: now.clone(),
        date_updated: now,
        date_sent: None,
        uri: format!("{uri}.json"),
        subresource_uris: SubresourceUris { media: format!("{uri}/Media.json") },
        error_code: None,
        error_message: None,
        price: None,
        price_unit: "USD",
    };

    inner.stats.messages_created += 1;
    inner.stats.number(&message.to).messages_created += 1;
    inner.messages.push(message);
    Ok((StatusCode::CREATED, Json(resource)))
}
