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
    pub fn new(credentials: TwilioCredentials) -> Result<Self, crate::config::ConfigError> {
        let http = super::aws::http_client::reqwest_client(CONNECT_TIMEOUT)?;
        Ok(TwilioHttp { http, credentials })
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
                    return response.json().await.map_err(|e| CallError::Unavailable {
                        kind: "unreadable_answer".into(),
                        // A decoding error may quote the answer, which holds the number (`to`).
                        detail: mask_phone_numbers(&e.to_string()),
                    });
                }
                Ok(response) if response.status().is_server_error() || response.status().as_u16() == 429 && !is_twilio_limit(&response) => {
                    let status = response.status();
                    CallError::Unavailable { kind: format!("http_{}", status.as_u16()), detail: format!("HTTP {status}") }
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let error: TwilioError = response.json().await.unwrap_or(TwilioError { code: None, message: None });
                    // Twilio's message names the number it refuses (21211, 60200): masked here,
                    // before the text goes anywhere a log line can print it.
                    let message = mask_phone_numbers(error.message.as_deref().unwrap_or_default());
                    return Err(CallError::Twilio { status, code: error.code.unwrap_or(0), message });
                }
                Err(e) if e.is_timeout() => CallError::Unavailable { kind: "timeout".into(), detail: "timed out".into() },
                Err(e) => {
                    CallError::Unavailable { kind: "connection".into(), detail: mask_phone_numbers(&format!("connection failed: {e}")) }
                }
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

    /// Every text of the result names Twilio's error code and carries Twilio's message with its
    /// numbers masked (`post_form` masked it): what a log line may print (API.md "Hardening").
    fn into_delivery(self) -> DeliveryError {
        match self {
            CallError::Unavailable { detail, .. } => DeliveryError::Unavailable(detail),
            CallError::Twilio { code, message, status } => {
                let said = match code {
                    0 => format!("HTTP {status} without a Twilio error code: {message}"),
                    _ => format!("twilio error {code} (HTTP {status}): {message}"),
                };
                match code {
                    20404 => DeliveryError::NotPending,
                    60202 => DeliveryError::TooManyChecks,
                    60203 => DeliveryError::TooManySends,
                    // 60200 invalid number, 60205 landline, 60410 blocked prefix; Messaging 21211
                    // invalid number, 21614 not a mobile, 21408 region not enabled.
                    60200 | 60205 | 60410 | 21211 | 21614 | 21408 => DeliveryError::InvalidPhone(said),
                    21610 => DeliveryError::Unsubscribed,
                    _ if status >= 500 => DeliveryError::Unavailable(said),
                    _ => DeliveryError::Rejected(said),
                }
            }
        }
    }
}

/// Bounds of what [`mask_phone_numbers`] takes for a number: a run after a `+` needs this many
/// digits (E.164 numbers in use have at least 7, country code included: one to spare), ...
const MIN_DIGITS_AFTER_PLUS: usize = 6;
/// ... a bare run this many (a national number: `0791 112 3456`, `(415) 555-0123`), so Twilio's
/// own 5-digit error codes, ports and years stay readable.
const MIN_DIGITS_BARE: usize = 7;
/// What may stand between the digit groups of one number (`+1 (415) 555-0123`, `030.1234.5678`),
/// at most `MAX_SEPARATORS` in a row.
const SEPARATORS: &[u8] = b" -().";
const MAX_SEPARATORS: usize = 3;

/// `text` with every phone-number-like run masked as [`Phone::masked`] masks a number (the
/// first two and the last four characters kept, stars between): a `+` (or its URL encoding
/// `%2B`) followed by digits, or a run of digits that is not part of a longer word (a SID), in
/// both cases possibly grouped by spaces, dashes, dots or parentheses. Twilio's messages name
/// the number they refuse ("The 'To' number +15005550001 is not a valid phone number.", 21211;
/// "Invalid parameter `To`: +4915112345678", 60200), and no log line may hold a whole number.
/// Masking too much (a long date, an IP address) is harmless; too little is not.
pub fn mask_phone_numbers(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut at, mut copied) = (0, 0);
    while at < bytes.len() {
        if let Some(end) = phone_run(bytes, at) {
            // Runs start and end on ASCII bytes: both are char boundaries.
            out.push_str(&text[copied..at]);
            out.push_str(&Phone::from_trusted(text[at..end].to_owned()).masked());
            (at, copied) = (end, end);
        } else if is_word(bytes[at]) {
            // A word (a SID, a hex id, `AC123...`) is skipped whole: digits inside it are no number.
            while at < bytes.len() && is_word(bytes[at]) {
                at += 1;
            }
        } else {
            at += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Letters, digits and `_`; any byte of a non-ASCII character counts as a letter.
fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || !byte.is_ascii()
}

/// The end of the phone-number-like run that starts at `start`, if one does.
fn phone_run(bytes: &[u8], start: usize) -> Option<usize> {
    let rest = &bytes[start..];
    let (prefix, plus) = match rest {
        [b'+', ..] => (1, true),
        [b'%', b'2', b'B' | b'b', ..] => (3, true),
        [digit, ..] if digit.is_ascii_digit() && (start == 0 || !is_word(bytes[start - 1])) => (0, false),
        _ => return None,
    };
    let mut at = start + prefix;
    if !bytes.get(at).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let mut digits = 0;
    let end = loop {
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            digits += 1;
            at += 1;
        }
        let mut next = at;
        while next - at < MAX_SEPARATORS && bytes.get(next).is_some_and(|b| SEPARATORS.contains(b)) {
            next += 1;
        }
        if next == at || !bytes.get(next).is_some_and(u8::is_ascii_digit) {
            break at;
        }
        at = next;
    };
    let long_enough = digits >= if plus { MIN_DIGITS_AFTER_PLUS } else { MIN_DIGITS_BARE };
    // Bare digits that run straight into letters are the start of an identifier, not a number.
    let in_a_word = !plus && bytes.get(end).is_some_and(|&b| is_word(b));
    (long_enough && !in_a_word).then_some(end)
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
        let verification: Verification = self.twilio.post_form(&self.verifications_url, &form).await.map_err(|e| e.observed(VERIFY))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilios_messages_keep_no_whole_number() {
        for (message, masked) in [
            // Messaging 21211, as Twilio words it (its test number for "invalid").
            ("The 'To' number +15005550001 is not a valid phone number.", "The 'To' number +1******0001 is not a valid phone number."),
            // Verify 60200.
            ("Invalid parameter `To`: +4915112345678", "Invalid parameter `To`: +4********5678"),
            ("Invalid parameter `To`: +447711234567", "Invalid parameter `To`: +4*******4567"),
            // Grouped as a person writes it, and national forms.
            ("To: +1 (415) 555-0123 refused", "To: +1***********0123 refused"),
            ("number (415) 555-0123 is a landline", "number (41*******0123 is a landline"),
            ("'07911 123456' is not E.164", "'07******3456' is not E.164"),
            ("call 030.1234.5678 instead", "call 03*******5678 instead"),
            // URL-encoded, as a form body or a query quotes it.
            ("To=%2B447911123456&Channel=sms", "To=%2*********3456&Channel=sms"),
            // Two numbers in one message.
            ("From +15005550006 to +447911123456", "From +1******0006 to +4*******3456"),
        ] {
            assert_eq!(mask_phone_numbers(message), masked, "{message}");
        }
    }

    #[test]
    fn masks_as_phone_masked_does() {
        let phone = Phone::parse("+447911123456").unwrap();
        let message = format!("Invalid parameter `To`: {}", phone.as_e164());
        assert_eq!(mask_phone_numbers(&message), format!("Invalid parameter `To`: {}", phone.masked()));
        // Masking a masked text changes nothing.
        let once = mask_phone_numbers("The 'To' number +15005550001 is not a valid phone number.");
        assert_eq!(mask_phone_numbers(&once), once);
    }

    #[test]
    fn what_is_no_number_stays_readable() {
        for text in [
            "Max send attempts reached",
            "The requested resource /v2/Services/VA0123456789abcdef0123456789abcdef/Verifications was not found",
            "twilio error 60203 (HTTP 429): Max check attempts reached; see https://www.twilio.com/docs/errors/60203",
            "SMS is not supported by landline phone number",
            "connection failed: error sending request for url (http://127.0.0.1:4010/v2/Services/VA00000000000000000000000000000000/Verifications)",
            "HTTP 503 after 3 attempts, +12345 short",
            "unicode: número 12ab34567 5é1234567",
            "",
        ] {
            assert_eq!(mask_phone_numbers(text), text);
        }
    }

    #[test]
    fn no_digit_of_the_middle_survives() {
        // Every shape a number may take in a message: nothing between the first two and the last
        // four characters of the number is left.
        for number in ["+15005550001", "+4915112345678", "+44 7911 123456", "+1-415-555-0123", "004915112345678", "4155550123"] {
            let text = format!("[{number}]");
            let masked = mask_phone_numbers(&text);
            let digits: String = number.chars().filter(char::is_ascii_digit).collect();
            assert!(!masked.contains(&digits[2..digits.len() - 4]), "{masked}");
            assert_eq!(masked.chars().count(), text.chars().count(), "{masked}");
            assert!(masked.ends_with(&format!("{}]", &number[number.len() - 4..])), "{masked}");
        }
    }

    #[test]
    fn delivery_errors_name_twilios_code_and_mask_its_message() {
        let error = |status, code, message: &str| {
            CallError::Twilio { status, code, message: mask_phone_numbers(message) }.into_delivery().to_string()
        };
        let invalid = error(400, 21211, "The 'To' number +15005550001 is not a valid phone number.");
        assert_eq!(
            invalid,
            "the number cannot receive codes: twilio error 21211 (HTTP 400): The 'To' number +1******0001 is not a valid phone number."
        );
        let verify = error(400, 60200, "Invalid parameter `To`: +4915112345678");
        assert!(verify.contains("60200") && verify.contains("+4********5678") && !verify.contains("15112345"), "{verify}");
        let rejected = error(400, 21606, "The From phone number +15005550006 is not a valid, SMS-capable inbound phone number");
        assert!(rejected.contains("21606") && rejected.contains("+1******0006") && !rejected.contains("5005550006"), "{rejected}");
        let outage = error(502, 20500, "An internal server error occurred sending to +447911123456");
        assert!(outage.contains("20500") && outage.contains("+4*******3456"), "{outage}");
        let bare = error(400, 0, "");
        assert!(bare.contains("HTTP 400"), "{bare}");
    }
}
