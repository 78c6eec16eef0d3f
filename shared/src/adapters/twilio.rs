//! Twilio over HTTPS: Verify v2 (Twilio makes and checks the code) and Programmable Messaging
//! (the builtin provider's transport). Form-encoded requests, Basic auth, Twilio's JSON errors;
//! 5xx, connection failures and timeouts are retried with bounded exponential backoff.

use crate::{
    config::TwilioCredentials,
    domain::{Challenge, Channel, OtpCode, Phone},
    error::DeliveryError,
    ports::{GeneratedCode, OtpProvider, SmsSender},
};
use async_trait::async_trait;
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::time::Duration;

/// Bounds on one Twilio call: a hung Twilio costs a request at most
/// ATTEMPTS × ATTEMPT_TIMEOUT plus the backoff (about 8 s), below the function timeout.
const ATTEMPTS: u32 = 3;
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(2_500);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1_000);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The `Provider` dimension of the `ProviderErrors` metric.
const VERIFY: &str = "twilio_verify";
const MESSAGING: &str = "twilio_messaging";

#[derive(Deserialize, Debug)]
struct TwilioError {
    code: Option<u32>,
    message: Option<String>,
}

#[derive(Clone)]
pub struct TwilioHttp {
    http: reqwest::Client,
    credentials: TwilioCredentials,
}

impl TwilioHttp {
    pub fn new(credentials: TwilioCredentials) -> Self {
        let http = super::outbound_http::reqwest_client(CONNECT_TIMEOUT);
        TwilioHttp { http, credentials }
    }

    /// POSTs a form and returns the JSON of a 2xx answer, Twilio's error code otherwise.
    async fn post_form<T: for<'de> Deserialize<'de>>(&self, url: &str, form: &[(&str, &str)]) -> Result<T, CallError> {
        let mut backoff = FIRST_BACKOFF;
        let mut last = CallError::Unavailable { kind: "no_attempt".into(), detail: "no attempt made".into() };
        for attempt in 1..=ATTEMPTS {
            let sent = self
                .http
                .post(url)
                .timeout(ATTEMPT_TIMEOUT)
                .basic_auth(&self.credentials.account_sid, Some(self.credentials.auth_token.expose_secret()))
                .form(form)
                .send()
                .await;
            last = match sent {
                Ok(response) if response.status().is_success() => {
                    return response
                        .json()
                        .await
                        .map_err(|e| CallError::Unavailable { kind: "unreadable_answer".into(), detail: e.to_string() })
                }
                Ok(response) if response.status().is_server_error() || response.status().as_u16() == 429 && !is_twilio_limit(&response) => {
                    let status = response.status();
                    CallError::Unavailable { kind: format!("http_{}", status.as_u16()), detail: format!("HTTP {status}") }
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let error: TwilioError = response.json().await.unwrap_or(TwilioError { code: None, message: None });
                    return Err(CallError::Twilio { status, code: error.code.unwrap_or(0), message: error.message.unwrap_or_default() });
                }
                Err(e) if e.is_timeout() => CallError::Unavailable { kind: "timeout".into(), detail: "timed out".into() },
                Err(e) => CallError::Unavailable { kind: "connection".into(), detail: format!("connection failed: {e}") },
            };
            tracing::warn!(attempt, error = %last, "twilio call failed");
            if attempt < ATTEMPTS {
                tokio::time::sleep(backoff).await;
                backoff *= 4;
            }
        }
        Err(last)
    }
}

/// Twilio answers its own per-number limits with 429 too; those are final, not transient.
fn is_twilio_limit(response: &reqwest::Response) -> bool {
    // Verify's limits (60202/60203) come with a JSON body; a bare 429 is API throttling.
    response.headers().get(reqwest::header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
}

#[derive(Debug, thiserror::Error)]
enum CallError {
    /// `kind` is a short, fixed label (`timeout`, `http_503`): the metric's `Code`.
    #[error("unavailable: {detail}")]
    Unavailable { kind: String, detail: String },
    #[error("twilio error {code} (HTTP {status}): {message}")]
    Twilio { status: u16, code: u32, message: String },
}

impl CallError {
    /// The delivery error, with the `ProviderErrors` metric written for failures that are the
    /// provider's (an outage, an unexpected rejection), not answers about the number or the code.
    fn observed(self, provider: &'static str) -> DeliveryError {
        let code = match &self {
            CallError::Unavailable { kind, .. } => kind.clone(),
            CallError::Twilio { code: 0, status, .. } => format!("http_{status}"),
            CallError::Twilio { code, .. } => code.to_string(),
        };
        let delivery = self.into_delivery();
        if matches!(delivery, DeliveryError::Unavailable(_) | DeliveryError::Rejected(_)) {
            crate::metrics::Metric::ProviderErrors { provider, code: &code }.emit();
        }
        delivery
    }

    fn into_delivery(self) -> DeliveryError {
        match self {
            CallError::Unavailable { detail, .. } => DeliveryError::Unavailable(detail),
            CallError::Twilio { code, message, status } => match code {
                20404 => DeliveryError::NotPending,
                60202 => DeliveryError::TooManyChecks,
                60203 => DeliveryError::TooManySends,
                // 60200 invalid number, 60205 landline, 60410 blocked prefix; Messaging 21211
                // invalid number, 21614 not a mobile, 21408 region not enabled.
                60200 | 60205 | 60410 | 21211 | 21614 | 21408 => DeliveryError::InvalidPhone(message),
                21610 => DeliveryError::Unsubscribed,
                _ if status >= 500 => DeliveryError::Unavailable(message),
                _ => DeliveryError::Rejected(format!("{code}: {message}")),
            },
        }
    }
}

/// Twilio Verify v2: codes are generated, sent and checked by Twilio.
pub struct TwilioVerify {
    twilio: TwilioHttp,
    verifications_url: String,
    check_url: String,
}

impl TwilioVerify {
    pub fn new(twilio: TwilioHttp, base_url: &str) -> Self {
        let service = twilio.credentials.verify_service_sid.clone().unwrap_or_default();
        TwilioVerify {
            verifications_url: format!("{base_url}/v2/Services/{service}/Verifications"),
            check_url: format!("{base_url}/v2/Services/{service}/VerificationCheck"),
            twilio,
        }
    }
}

#[derive(Deserialize)]
struct Verification {
    sid: String,
    status: String,
}

#[async_trait]
impl OtpProvider for TwilioVerify {
    fn generate(&self, _: &crate::domain::ChallengeId) -> Option<GeneratedCode> {
        None
    }

    fn supports(&self, _: Channel) -> bool {
        true // Verify delivers sms, call and whatsapp itself
    }

    async fn send(&self, to: &Phone, channel: Channel, _: Option<&GeneratedCode>) -> Result<Option<String>, DeliveryError> {
        let form = [("To", to.as_e164()), ("Channel", channel.as_str())];
        let verification: Verification =
            self.twilio.post_form(&self.verifications_url, &form).await.map_err(|e| e.observed(VERIFY))?;
        Ok(Some(verification.sid))
    }

    async fn cancel(&self, provider_ref: &str) -> Result<(), DeliveryError> {
        let url = format!("{}/{provider_ref}", self.verifications_url);
        let _: Verification = self.twilio.post_form(&url, &[("Status", "canceled")]).await.map_err(|e| e.observed(VERIFY))?;
        Ok(())
    }

    async fn check(&self, challenge: &Challenge, code: &OtpCode) -> Result<bool, DeliveryError> {
        // Checking by verification SID binds the code to the verification this challenge started.
        let by = match &challenge.provider_ref {
            Some(sid) => ("VerificationSid", sid.as_str()),
            None => ("To", challenge.phone.as_e164()),
        };
        let form = [("Code", code.expose()), by];
        let verdict: Verification = self.twilio.post_form(&self.check_url, &form).await.map_err(|e| e.observed(VERIFY))?;
        Ok(verdict.status == "approved")
    }
}

/// Programmable Messaging: sends the builtin provider's codes as plain SMS.
pub struct TwilioMessaging {
    twilio: TwilioHttp,
    messages_url: String,
}

impl TwilioMessaging {
    pub fn new(twilio: TwilioHttp, base_url: &str) -> Self {
        let account = twilio.credentials.account_sid.clone();
        TwilioMessaging { messages_url: format!("{base_url}/2010-04-01/Accounts/{account}/Messages.json"), twilio }
    }
}

#[derive(Deserialize)]
struct Message {
    #[allow(dead_code)]
    sid: String,
}

#[async_trait]
impl SmsSender for TwilioMessaging {
    fn supports(&self, channel: Channel) -> bool {
        channel == Channel::Sms
    }

    async fn send(&self, to: &Phone, body: &str) -> Result<(), DeliveryError> {
        let credentials = &self.twilio.credentials;
        let sender = match (&credentials.messaging_service_sid, &credentials.from_number) {
            (Some(service), _) => ("MessagingServiceSid", service.as_str()),
            (None, Some(from)) => ("From", from.as_str()),
            (None, None) => return Err(DeliveryError::Rejected("no Twilio sender configured".into())),
        };
        let form = [("To", to.as_e164()), ("Body", body), sender];
        let _: Message = self.twilio.post_form(&self.messages_url, &form).await.map_err(|e| e.observed(MESSAGING))?;
        Ok(())
    }
}
