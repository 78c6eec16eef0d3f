//! Drives a running fake over HTTP, the way the product's Twilio client and its tests do.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use twilio_fake::{FakeConfig, RunningFake};

const PHONE: &str = "+15017122661";
const OTHER_PHONE: &str = "+447700900123";

/// A fake of its own per test, so tests run in parallel without sharing state.
struct Harness {
    fake: RunningFake,
    http: Client,
}

impl Harness {
    async fn start() -> Self {
        // reqwest is built without a crypto provider workspace-wide (rustls on ring).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let fake = RunningFake::start(FakeConfig::default()).await.expect("fake starts");
        let http = Client::builder().timeout(Duration::from_secs(5)).build().expect("http client");
        Self { fake, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.fake.base_url)
    }

    fn verify_url(&self, rest: &str) -> String {
        self.url(&format!("/v2/Services/{}/{rest}", self.fake.config.verify_service_sid))
    }

    fn messages_url(&self) -> String {
        self.url(&format!("/2010-04-01/Accounts/{}/Messages.json", self.fake.config.account_sid))
    }

    async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Response {
        let cfg = &self.fake.config;
        self.http.post(url).basic_auth(&cfg.account_sid, Some(&cfg.auth_token)).form(form).send().await.expect("request completes")
    }

    async fn get_authed(&self, url: &str) -> Response {
        let cfg = &self.fake.config;
        self.http.get(url).basic_auth(&cfg.account_sid, Some(&cfg.auth_token)).send().await.expect("request completes")
    }

    async fn send_code(&self, to: &str, channel: &str) -> Response {
        self.post_form(&self.verify_url("Verifications"), &[("To", to), ("Channel", channel)]).await
    }

    async fn check_code(&self, to: &str, code: &str) -> Response {
        self.post_form(&self.verify_url("VerificationCheck"), &[("To", to), ("Code", code)]).await
    }

    async fn send_sms(&self, form: &[(&str, &str)]) -> Response {
        self.post_form(&self.messages_url(), form).await
    }

    /// The `+` must travel as `%2B`, as the brief for the control API says.
    async fn latest(&self, to: &str) -> Response {
        let url = self.url(&format!("/_fake/verifications/latest?to={}", to.replace('+', "%2B")));
        self.http.get(url).send().await.expect("request completes")
    }

    async fn latest_json(&self, to: &str) -> Value {
        body(self.latest(to).await, StatusCode::OK).await
    }

    async fn control(&self, path: &str, payload: Value) {
        let response = self.http.post(self.url(path)).json(&payload).send().await.expect("request completes");
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}");
    }

    async fn control_get(&self, path: &str) -> Value {
        let response = self.http.get(self.url(path)).send().await.expect("request completes");
        body(response, StatusCode::OK).await
    }
}

async fn body(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.expect("JSON body")
}

/// Asserts Twilio's error document: `{"code", "message", "more_info", "status"}`.
async fn assert_twilio_error(response: Response, status: StatusCode, code: u64) {
    let error = body(response, status).await;
    assert_eq!(error["code"], code, "{error}");
    assert_eq!(error["status"], status.as_u16(), "{error}");
    assert_eq!(error["more_info"], format!("https://www.twilio.com/docs/errors/{code}"));
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value.as_object().expect("JSON object").keys().map(String::as_str).collect()
}

fn assert_sid(value: &Value, prefix: &str) {
    let sid = value.as_str().expect("sid is a string");
    assert_eq!(sid.len(), 34, "{sid}");
    assert!(sid.starts_with(prefix), "{sid}");
    assert!(sid[2..].bytes().all(|b| b.is_ascii_hexdigit()), "{sid}");
}

#[tokio::test]
async fn rejects_missing_or_wrong_credentials() {
    let h = Harness::start().await;
    let form = [("To", PHONE), ("Channel", "sms")];

    let anonymous = h.http.post(h.verify_url("Verifications")).form(&form).send().await.expect("request completes");
    assert!(anonymous.headers().contains_key(reqwest::header::WWW_AUTHENTICATE));
    assert_twilio_error(anonymous, StatusCode::UNAUTHORIZED, 20003).await;

    let wrong_token = h
        .http
        .post(h.verify_url("Verifications"))
        .basic_auth(&h.fake.config.account_sid, Some("not-the-token"))
        .form(&form)
        .send()
        .await
        .expect("request completes");
    assert_twilio_error(wrong_token, StatusCode::UNAUTHORIZED, 20003).await;

    // Right credentials, but the URL names another account.
    let other_account = h
        .post_form(
            &h.url("/2010-04-01/Accounts/AC11111111111111111111111111111111/Messages.json"),
            &[("To", PHONE), ("From", "+15005550006"), ("Body", "hi")],
        )
        .await;
    assert_twilio_error(other_account, StatusCode::UNAUTHORIZED, 20003).await;

    assert_eq!(h.control_get("/_fake/stats").await["verification_sends"], 0);
}

#[tokio::test]
async fn sends_a_code_and_approves_it_once() {
    let h = Harness::start().await;

    let created = body(h.send_code(PHONE, "sms").await, StatusCode::CREATED).await;
    let expected: BTreeSet<&str> = [
        "sid",
        "service_sid",
        "account_sid",
        "to",
        "channel",
        "status",
        "valid",
        "lookup",
        "amount",
        "payee",
        "send_code_attempts",
        "date_created",
        "date_updated",
        "sna",
        "url",
    ]
    .into();
    assert_eq!(keys(&created), expected, "never the code");
    assert_sid(&created["sid"], "VE");
    assert_eq!(created["service_sid"], h.fake.config.verify_service_sid);
    assert_eq!(created["account_sid"], h.fake.config.account_sid);
    assert_eq!(created["to"], PHONE);
    assert_eq!(created["channel"], "sms");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["valid"], false);
    assert_eq!(created["lookup"], json!({}));
    assert_eq!(created["amount"], Value::Null);
    assert_eq!(created["sna"], Value::Null);
    let sid = created["sid"].as_str().expect("sid").to_owned();
    assert_eq!(created["url"], format!("https://verify.twilio.com/v2/Services/{}/Verifications/{sid}", h.fake.config.verify_service_sid));
    let date = created["date_created"].as_str().expect("date_created");
    assert!(date.len() == 20 && date.ends_with('Z') && &date[10..11] == "T", "{date}");
    let attempts = created["send_code_attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["channel"], "sms");
    assert_sid(&attempts[0]["attempt_sid"], "VL");

    let latest = h.latest_json(PHONE).await;
    assert_eq!(latest["sid"], sid.as_str());
    assert_eq!(latest["status"], "pending");
    let code = latest["code"].as_str().expect("code").to_owned();
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));

    // The fetch endpoint sees the pending verification.
    let fetched = body(h.get_authed(&h.verify_url(&format!("Verifications/{sid}"))).await, StatusCode::OK).await;
    assert_eq!(fetched["sid"], sid.as_str());

    let approved = body(h.check_code(PHONE, &code).await, StatusCode::OK).await;
    let expected: BTreeSet<&str> = [
        "sid",
        "service_sid",
        "account_sid",
        "to",
        "channel",
        "status",
        "valid",
        "amount",
        "payee",
        "date_created",
        "date_updated",
        "sna_attempts_error_codes",
    ]
    .into();
    assert_eq!(keys(&approved), expected);
    assert_eq!(approved["sid"], sid.as_str());
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["valid"], true);
    assert_eq!(approved["sna_attempts_error_codes"], json!([]));

    // Twilio deletes approved verifications: the same code again is a 404.
    assert_twilio_error(h.check_code(PHONE, &code).await, StatusCode::NOT_FOUND, 20404).await;
    assert_twilio_error(h.get_authed(&h.verify_url(&format!("Verifications/{sid}"))).await, StatusCode::NOT_FOUND, 20404).await;
    assert_eq!(h.latest_json(PHONE).await["status"], "approved");

    let stats = h.control_get("/_fake/stats").await;
    assert_eq!(stats["verifications_created"], 1);
    assert_eq!(stats["verification_sends"], 1);
    assert_eq!(stats["verification_checks"], 2);
    assert_eq!(stats["by_to"][PHONE]["verification_checks"], 2);
}

#[tokio::test]
async fn locks_a_verification_after_five_checks() {
    let h = Harness::start().await;
    body(h.send_code(PHONE, "sms").await, StatusCode::CREATED).await;
    let code = h.latest_json(PHONE).await["code"].as_str().expect("code").to_owned();
    let wrong = if code == "000000" { "111111" } else { "000000" };

    for _ in 0..5 {
        let checked = body(h.check_code(PHONE, wrong).await, StatusCode::OK).await;
        assert_eq!(checked["status"], "pending");
        assert_eq!(checked["valid"], false);
    }
    // Even the right code is refused now.
    assert_twilio_error(h.check_code(PHONE, &code).await, StatusCode::TOO_MANY_REQUESTS, 60202).await;
    assert_eq!(h.latest_json(PHONE).await["check_count"], 5);
}

#[tokio::test]
async fn resends_the_same_code_up_to_five_times() {
    let h = Harness::start().await;
    let first = body(h.send_code(PHONE, "sms").await, StatusCode::CREATED).await;
    let code = h.latest_json(PHONE).await["code"].clone();

    for (attempt, channel) in [(2, "sms"), (3, "call"), (4, "whatsapp"), (5, "sms")] {
        let again = body(h.send_code(PHONE, channel).await, StatusCode::CREATED).await;
        assert_eq!(again["sid"], first["sid"]);
        assert_eq!(again["channel"], channel);
        let attempts = again["send_code_attempts"].as_array().expect("attempts");
        assert_eq!(attempts.len(), attempt);
        assert_eq!(attempts[attempt - 1]["channel"], channel);
        assert_eq!(h.latest_json(PHONE).await["code"], code);
    }
    assert_twilio_error(h.send_code(PHONE, "sms").await, StatusCode::TOO_MANY_REQUESTS, 60203).await;

    // Another number is not affected.
    let other = body(h.send_code(OTHER_PHONE, "sms").await, StatusCode::CREATED).await;
    assert_ne!(other["sid"], first["sid"]);

    let latest = h.latest_json(PHONE).await;
    assert_eq!(latest["send_count"], 5);
    let stats = h.control_get("/_fake/stats").await;
    assert_eq!(stats["verifications_created"], 2);
    assert_eq!(stats["verification_sends"], 6);
    assert_eq!(stats["by_to"][PHONE]["verification_sends"], 5);
    assert_eq!(stats["by_to"][OTHER_PHONE]["verification_sends"], 1);
}

#[tokio::test]
async fn rejects_bad_verify_input_in_twilios_shape() {
    let h = Harness::start().await;

    assert_twilio_error(h.send_code("5017122661", "sms").await, StatusCode::BAD_REQUEST, 60200).await;
    assert_twilio_error(h.send_code("+0123456789", "sms").await, StatusCode::BAD_REQUEST, 60200).await;
    assert_twilio_error(h.post_form(&h.verify_url("Verifications"), &[("To", PHONE)]).await, StatusCode::BAD_REQUEST, 20001).await;
    assert_twilio_error(h.send_code(PHONE, "email").await, StatusCode::BAD_REQUEST, 20001).await;
    assert_twilio_error(h.check_code("not-a-number", "123456").await, StatusCode::BAD_REQUEST, 60200).await;
    assert_twilio_error(h.post_form(&h.verify_url("VerificationCheck"), &[("Code", "123456")]).await, StatusCode::BAD_REQUEST, 20001).await;
    assert_twilio_error(
        h.post_form(&h.verify_url("VerificationCheck"), &[("To", PHONE), ("VerificationSid", "VE0"), ("Code", "1")]).await,
        StatusCode::BAD_REQUEST,
        20001,
    )
    .await;
    // A body that is not a form at all.
    let not_a_form = h
        .http
        .post(h.verify_url("Verifications"))
        .basic_auth(&h.fake.config.account_sid, Some(&h.fake.config.auth_token))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(r#"{"To":"+15017122661"}"#)
        .send()
        .await
        .expect("request completes");
    assert_twilio_error(not_a_form, StatusCode::BAD_REQUEST, 20001).await;

    assert_twilio_error(
        h.post_form(&h.url("/v2/Services/VA11111111111111111111111111111111/Verifications"), &[("To", PHONE), ("Channel", "sms")]).await,
        StatusCode::NOT_FOUND,
        20404,
    )
    .await;
    assert_twilio_error(h.get_authed(&h.url("/v2/Nowhere")).await, StatusCode::NOT_FOUND, 20404).await;

    // Landlines cannot get SMS, but can get a call.
    h.control("/_fake/numbers", json!({"to": PHONE, "kind": "landline"})).await;
    assert_twilio_error(h.send_code(PHONE, "sms").await, StatusCode::BAD_REQUEST, 60205).await;
    body(h.send_code(PHONE, "call").await, StatusCode::CREATED).await;

    let stats = h.control_get("/_fake/stats").await;
    assert_eq!(stats["verification_sends"], 1);
    assert_eq!(stats["requests"], 12);
}

#[tokio::test]
async fn expires_verifications_when_the_clock_moves() {
    let h = Harness::start().await;
    let first = body(h.send_code(PHONE, "sms").await, StatusCode::CREATED).await;
    let code = h.latest_json(PHONE).await["code"].as_str().expect("code").to_owned();

    h.control("/_fake/clock", json!({"advance_seconds": 9 * 60})).await;
    assert_eq!(h.latest_json(PHONE).await["status"], "pending");
    h.control("/_fake/clock", json!({"advance_seconds": 60})).await;
    assert_eq!(h.latest_json(PHONE).await["status"], "expired");

    assert_twilio_error(h.check_code(PHONE, &code).await, StatusCode::NOT_FOUND, 20404).await;

    // After expiry a send starts over with a new verification.
    let second = body(h.send_code(PHONE, "sms").await, StatusCode::CREATED).await;
    assert_ne!(second["sid"], first["sid"]);
    assert_eq!(second["send_code_attempts"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn cancels_and_approves_through_the_update_endpoint() {
    let h = Harness::start().await;
    let created = body(h.send_code(PHONE, "sms").await, StatusCode::CREATED).await;
    let sid = created["sid"].as_str().expect("sid").to_owned();
    let code = h.latest_json(PHONE).await["code"].as_str().expect("code").to_owned();
    let instance = h.verify_url(&format!("Verifications/{sid}"));

    assert_twilio_error(h.post_form(&instance, &[("Status", "pending")]).await, StatusCode::BAD_REQUEST, 20001).await;
    let canceled = body(h.post_form(&instance, &[("Status", "canceled")]).await, StatusCode::OK).await;
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(canceled["valid"], false);

    assert_twilio_error(h.check_code(PHONE, &code).await, StatusCode::NOT_FOUND, 20404).await;
    assert_twilio_error(h.get_authed(&instance).await, StatusCode::NOT_FOUND, 20404).await;
    assert_twilio_error(h.post_form(&instance, &[("Status", "canceled")]).await, StatusCode::NOT_FOUND, 20404).await;

    // A new verification, checked by SID this time.
    let renewed = body(h.send_code(PHONE, "sms").await, StatusCode::CREATED).await;
    let new_sid = renewed["sid"].as_str().expect("sid").to_owned();
    assert_ne!(new_sid, sid);
    let new_code = h.latest_json(PHONE).await["code"].as_str().expect("code").to_owned();
    let approved = body(
        h.post_form(&h.verify_url("VerificationCheck"), &[("VerificationSid", new_sid.as_str()), ("Code", new_code.as_str())]).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(approved["status"], "approved");
}

#[tokio::test]
async fn sends_messages_and_refuses_bad_recipients() {
    let h = Harness::start().await;
    let service = h.fake.config.messaging_service_sid.clone();

    let sent = body(
        h.send_sms(&[("To", PHONE), ("MessagingServiceSid", &service), ("Body", "Your sign-in was approved")]).await,
        StatusCode::CREATED,
    )
    .await;
    assert_sid(&sent["sid"], "SM");
    assert_eq!(sent["account_sid"], h.fake.config.account_sid);
    assert_eq!(sent["to"], PHONE);
    assert_eq!(sent["from"], Value::Null);
    assert_eq!(sent["messaging_service_sid"], service);
    assert_eq!(sent["body"], "Your sign-in was approved");
    assert_eq!(sent["status"], "queued");
    assert_eq!(sent["num_segments"], "1");
    assert_eq!(sent["direction"], "outbound-api");
    assert_eq!(sent["error_code"], Value::Null);
    assert_eq!(sent["error_message"], Value::Null);
    assert_eq!(sent["price"], Value::Null);
    assert_eq!(
        sent["uri"],
        format!("/2010-04-01/Accounts/{}/Messages/{}.json", h.fake.config.account_sid, sent["sid"].as_str().expect("sid"))
    );
    // RFC 2822, like `Thu, 30 Jul 2015 20:12:31 +0000`.
    let date = sent["date_created"].as_str().expect("date_created");
    assert!(date.len() == 31 && date.ends_with(" +0000") && &date[3..5] == ", ", "{date}");

    let from_number =
        body(h.send_sms(&[("To", OTHER_PHONE), ("From", "+15005550006"), ("Body", "second")]).await, StatusCode::CREATED).await;
    assert_eq!(from_number["from"], "+15005550006");
    assert_eq!(from_number["messaging_service_sid"], Value::Null);

    assert_twilio_error(h.send_sms(&[("To", "12345"), ("From", "+15005550006"), ("Body", "x")]).await, StatusCode::BAD_REQUEST, 21211)
        .await;
    assert_twilio_error(h.send_sms(&[("To", PHONE), ("Body", "x")]).await, StatusCode::BAD_REQUEST, 21603).await;
    h.control("/_fake/numbers", json!({"to": PHONE, "kind": "unsubscribed"})).await;
    assert_twilio_error(
        h.send_sms(&[("To", PHONE), ("MessagingServiceSid", &service), ("Body", "x")]).await,
        StatusCode::BAD_REQUEST,
        21610,
    )
    .await;
    h.control("/_fake/numbers", json!({"to": PHONE, "kind": "landline"})).await;
    assert_twilio_error(
        h.send_sms(&[("To", PHONE), ("MessagingServiceSid", &service), ("Body", "x")]).await,
        StatusCode::BAD_REQUEST,
        21614,
    )
    .await;
    h.control("/_fake/numbers", json!({"to": PHONE, "kind": "normal"})).await;
    body(h.send_sms(&[("To", PHONE), ("MessagingServiceSid", &service), ("Body", "third")]).await, StatusCode::CREATED).await;

    let to_phone = h.control_get("/_fake/messages?to=%2B15017122661").await;
    let bodies: Vec<&str> = to_phone.as_array().expect("array").iter().map(|m| m["body"].as_str().expect("body")).collect();
    assert_eq!(bodies, ["Your sign-in was approved", "third"]);
    assert_eq!(keys(&to_phone[0]), ["body", "from", "messaging_service_sid", "sid", "to"].into());
    assert_eq!(to_phone[0]["sid"], sent["sid"]);

    let all = h.control_get("/_fake/messages").await;
    assert_eq!(all.as_array().map(Vec::len), Some(3));
    assert_eq!(all[1]["to"], OTHER_PHONE);

    let stats = h.control_get("/_fake/stats").await;
    assert_eq!(stats["messages_created"], 3);
    assert_eq!(stats["by_to"][PHONE]["messages_created"], 2);
}

/// A well-formed number Twilio refuses as invalid: both APIs answer with Twilio's own wording,
/// which names the number (what the product must not log whole), and nothing is sent.
#[tokio::test]
async fn invalid_numbers_are_refused_with_twilios_wording() {
    let h = Harness::start().await;
    let service = h.fake.config.messaging_service_sid.clone();
    h.control("/_fake/numbers", json!({"to": PHONE, "kind": "invalid"})).await;

    let error = body(h.send_sms(&[("To", PHONE), ("MessagingServiceSid", &service), ("Body", "x")]).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], 21211, "{error}");
    assert_eq!(error["message"], format!("The 'To' number {PHONE} is not a valid phone number."));

    for channel in ["sms", "call"] {
        let error = body(h.send_code(PHONE, channel).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(error["code"], 60200, "{error}");
        assert_eq!(error["message"], format!("Invalid parameter `To`: {PHONE}"));
    }
    let check = h.post_form(&h.verify_url("VerificationCheck"), &[("To", PHONE), ("Code", "123456")]).await;
    assert_twilio_error(check, StatusCode::BAD_REQUEST, 60200).await;

    // Nothing went out; another number is not affected; `normal` undoes it.
    assert_eq!(h.latest(PHONE).await.status(), StatusCode::NOT_FOUND);
    let stats = h.control_get("/_fake/stats").await;
    assert_eq!((stats["messages_created"].as_u64(), stats["verification_sends"].as_u64()), (Some(0), Some(0)));
    body(h.send_code(OTHER_PHONE, "sms").await, StatusCode::CREATED).await;
    h.control("/_fake/numbers", json!({"to": PHONE, "kind": "normal"})).await;
    body(h.send_code(PHONE, "sms").await, StatusCode::CREATED).await;
}

#[tokio::test]
async fn unavailable_fault_answers_503_for_count_requests() {
    let h = Harness::start().await;
    h.control("/_fake/faults", json!({"mode": "unavailable", "count": 2})).await;

    assert_twilio_error(h.send_code(PHONE, "sms").await, StatusCode::SERVICE_UNAVAILABLE, 20503).await;
    // Faults come before auth, like a real outage.
    let anonymous = h.http.post(h.messages_url()).send().await.expect("request completes");
    assert_twilio_error(anonymous, StatusCode::SERVICE_UNAVAILABLE, 20503).await;
    body(h.send_code(PHONE, "sms").await, StatusCode::CREATED).await;

    // Without a count the fault stays until changed.
    h.control("/_fake/faults", json!({"mode": "unavailable"})).await;
    for _ in 0..3 {
        assert_twilio_error(h.check_code(PHONE, "123456").await, StatusCode::SERVICE_UNAVAILABLE, 20503).await;
    }
    h.control("/_fake/faults", json!({"mode": "ok"})).await;
    body(h.send_code(PHONE, "sms").await, StatusCode::CREATED).await;

    let stats = h.control_get("/_fake/stats").await;
    assert_eq!(stats["requests"], 7);
    assert_eq!(stats["verification_sends"], 2);
    assert_eq!(stats["verification_checks"], 0);
}

#[tokio::test]
async fn hang_fault_blocks_only_the_api_request() {
    let h = Harness::start().await;
    h.control("/_fake/faults", json!({"mode": "hang", "count": 2})).await;
    let started = Instant::now();
    let impatient = Client::builder().timeout(Duration::from_millis(300)).build().expect("http client");
    let cfg = h.fake.config.clone();
    let hung = |client: Client| {
        let url = h.verify_url("Verifications");
        let cfg = cfg.clone();
        tokio::spawn(async move {
            client.post(url).basic_auth(cfg.account_sid, Some(cfg.auth_token)).form(&[("To", PHONE), ("Channel", "sms")]).send().await
        })
    };
    // Two hung API requests in flight at once.
    let first = hung(impatient.clone());
    let second = hung(impatient.clone());

    // Meanwhile the control API answers at once.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let control = impatient.get(h.url("/_fake/stats")).send().await.expect("control API is not blocked");
    assert_eq!(control.status(), StatusCode::OK);

    for request in [first, second] {
        let outcome = request.await.expect("task completes");
        assert!(outcome.expect_err("hung request times out").is_timeout());
    }
    assert!(started.elapsed() < Duration::from_secs(2));

    // The count is used up: the API answers normally again.
    body(h.send_code(PHONE, "sms").await, StatusCode::CREATED).await;
    assert_eq!(h.control_get("/_fake/stats").await["requests"], 3);
}

#[tokio::test]
async fn reset_forgets_everything() {
    let h = Harness::start().await;
    body(h.send_code(PHONE, "sms").await, StatusCode::CREATED).await;
    h.control("/_fake/clock", json!({"advance_seconds": 3600})).await;
    h.control("/_fake/faults", json!({"mode": "unavailable"})).await;
    h.control("/_fake/numbers", json!({"to": PHONE, "kind": "landline"})).await;

    h.control("/_fake/reset", json!({})).await;

    assert_eq!(h.latest(PHONE).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        h.control_get("/_fake/stats").await,
        json!({
            "verifications_created": 0,
            "verification_sends": 0,
            "verification_checks": 0,
            "messages_created": 0,
            "requests": 0,
            "by_to": {}
        })
    );
    body(h.send_code(PHONE, "sms").await, StatusCode::CREATED).await;
    assert_eq!(h.latest_json(PHONE).await["status"], "pending");
}
