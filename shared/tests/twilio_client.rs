//! The real Twilio adapters against the project's stateful Twilio fake, over HTTP.

use secrecy::SecretString;
use sms_mfa::{
    adapters::twilio::{TwilioHttp, TwilioMessaging, TwilioVerify},
    config::TwilioCredentials,
    domain::{Challenge, ChallengeFactor, ChallengeId, ChallengeStatus, Channel, OtpCode, Phone, Purpose, UserId},
    error::DeliveryError,
    ports::{OtpProvider, SmsSender},
};
use std::time::{Duration, Instant};
use twilio_fake::{FakeConfig, RunningFake};

fn credentials(fake: &RunningFake, token: &str) -> TwilioCredentials {
    TwilioCredentials {
        account_sid: fake.config.account_sid.clone(),
        auth_token: SecretString::from(token.to_owned()),
        verify_service_sid: Some(fake.config.verify_service_sid.clone()),
        messaging_service_sid: Some(fake.config.messaging_service_sid.clone()),
        from_number: None,
    }
}

async fn start() -> (RunningFake, TwilioVerify, TwilioMessaging) {
    let fake = RunningFake::start(FakeConfig::default()).await.unwrap();
    let http = TwilioHttp::new(credentials(&fake, &fake.config.auth_token)).unwrap();
    let verify = TwilioVerify::new(http.clone(), &fake.base_url);
    let messaging = TwilioMessaging::new(http, &fake.base_url);
    (fake, verify, messaging)
}

async fn admin(fake: &RunningFake, path: &str, body: serde_json::Value) {
    sms_mfa::adapters::aws::http_client::install_process_provider();
    let status = reqwest::Client::new().post(format!("{}{path}", fake.base_url)).json(&body).send().await.unwrap().status();
    assert!(status.is_success(), "{path}: {status}");
}

async fn latest_code(fake: &RunningFake, phone: &Phone) -> String {
    sms_mfa::adapters::aws::http_client::install_process_provider();
    let url = format!("{}/_fake/verifications/latest?to={}", fake.base_url, phone.as_e164().replace('+', "%2B"));
    let v: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    v["code"].as_str().unwrap().to_owned()
}

fn challenge(phone: &Phone, provider_ref: Option<String>) -> Challenge {
    Challenge {
        id: ChallengeId::new(),
        user_id: UserId("u".into()),
        purpose: Purpose::Login,
        phone: phone.clone(),
        channel: Channel::Sms,
        provider_ref,
        code_hash: None,
        attempts: 0,
        max_attempts: 5,
        status: ChallengeStatus::Pending,
        created_at: 0,
        last_sent_at: 0,
        expires_at: i64::MAX,
        factor: ChallengeFactor::Phone,
        decoy: false,
        credentials_version: 0,
        reset_budget: None,
    }
}

fn wrong(code: &str) -> OtpCode {
    let n: u32 = code.parse().unwrap();
    OtpCode::parse(&format!("{:06}", (n + 1) % 1_000_000)).unwrap()
}

#[tokio::test]
async fn verify_send_then_check_by_verification_sid() {
    let (fake, verify, _) = start().await;
    let phone = Phone::parse("+447911000001").unwrap();
    let sid = verify.send(&phone, Channel::Sms, None).await.unwrap().expect("Verify returns a SID");
    assert!(sid.starts_with("VE"));
    let code = latest_code(&fake, &phone).await;
    let c = challenge(&phone, Some(sid));
    assert!(!verify.check(&c, &wrong(&code)).await.unwrap());
    assert!(verify.check(&c, &OtpCode::parse(&code).unwrap()).await.unwrap());
    // Twilio forgets an approved verification: a second check finds nothing pending.
    assert!(matches!(verify.check(&c, &OtpCode::parse(&code).unwrap()).await, Err(DeliveryError::NotPending)));
}

#[tokio::test]
async fn verify_maps_twilio_error_codes() {
    let (fake, verify, _) = start().await;
    let phone = Phone::parse("+447911000002").unwrap();
    let sid = verify.send(&phone, Channel::Call, None).await.unwrap();
    let code = latest_code(&fake, &phone).await;
    let c = challenge(&phone, sid);
    for _ in 0..5 {
        assert!(!verify.check(&c, &wrong(&code)).await.unwrap());
    }
    assert!(matches!(verify.check(&c, &OtpCode::parse(&code).unwrap()).await, Err(DeliveryError::TooManyChecks)));
    for _ in 0..4 {
        verify.send(&phone, Channel::Sms, None).await.unwrap();
    }
    assert!(matches!(verify.send(&phone, Channel::Sms, None).await, Err(DeliveryError::TooManySends)));

    let landline = Phone::parse("+447911000003").unwrap();
    admin(&fake, "/_fake/numbers", serde_json::json!({"to": landline.as_e164(), "kind": "landline"})).await;
    assert!(matches!(verify.send(&landline, Channel::Sms, None).await, Err(DeliveryError::InvalidPhone(_))));
}

#[tokio::test]
async fn a_cancelled_verification_is_no_longer_pending() {
    let (fake, verify, _) = start().await;
    let phone = Phone::parse("+447400000021").unwrap();
    let first = verify.send(&phone, Channel::Sms, None).await.unwrap().unwrap();
    let first_code = latest_code(&fake, &phone).await;
    // Twilio re-sends a pending verification under the same SID.
    assert_eq!(verify.send(&phone, Channel::Sms, None).await.unwrap().unwrap(), first);
    verify.cancel(&first).await.unwrap();
    let abandoned = challenge(&phone, Some(first.clone()));
    assert!(matches!(verify.check(&abandoned, &OtpCode::parse(&first_code).unwrap()).await, Err(DeliveryError::NotPending)));
    assert!(matches!(verify.cancel(&first).await, Err(DeliveryError::NotPending)));
    // The next send starts a fresh verification.
    assert_ne!(verify.send(&phone, Channel::Sms, None).await.unwrap().unwrap(), first);
}

#[tokio::test]
async fn wrong_credentials_are_a_rejection_not_an_outage() {
    let fake = RunningFake::start(FakeConfig::default()).await.unwrap();
    let verify = TwilioVerify::new(TwilioHttp::new(credentials(&fake, "wrong-token")).unwrap(), &fake.base_url);
    let phone = Phone::parse("+447911000004").unwrap();
    assert!(matches!(verify.send(&phone, Channel::Sms, None).await, Err(DeliveryError::Rejected(_))));
}

#[tokio::test]
async fn transient_failures_are_retried_and_persistent_ones_give_up() {
    let (fake, verify, _) = start().await;
    let phone = Phone::parse("+447911000005").unwrap();
    // Two 503s, then success: the third attempt gets through.
    admin(&fake, "/_fake/faults", serde_json::json!({"mode": "unavailable", "count": 2})).await;
    assert!(verify.send(&phone, Channel::Sms, None).await.is_ok());
    admin(&fake, "/_fake/faults", serde_json::json!({"mode": "unavailable"})).await;
    assert!(matches!(verify.send(&phone, Channel::Sms, None).await, Err(DeliveryError::Unavailable(_))));
    let stats: serde_json::Value = reqwest::get(format!("{}/_fake/stats", fake.base_url)).await.unwrap().json().await.unwrap();
    assert_eq!(stats["requests"], 3 + 3, "3 attempts each, no more");
}

#[tokio::test]
async fn a_hung_twilio_is_abandoned_within_bounds() {
    let (fake, verify, _) = start().await;
    admin(&fake, "/_fake/faults", serde_json::json!({"mode": "hang"})).await;
    let started = Instant::now();
    let result = verify.send(&Phone::parse("+447911000006").unwrap(), Channel::Sms, None).await;
    assert!(matches!(result, Err(DeliveryError::Unavailable(_))), "{result:?}");
    // 3 attempts × 2.5 s + backoff: bounded well below a Lambda timeout.
    assert!(started.elapsed() < Duration::from_secs(12), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn messaging_sends_and_maps_errors() {
    let (fake, _, messaging) = start().await;
    let phone = Phone::parse("+447911000007").unwrap();
    messaging.send(&phone, "123456 is your code").await.unwrap();
    let url = format!("{}/_fake/messages?to=%2B447911000007", fake.base_url);
    let messages: Vec<serde_json::Value> = reqwest::get(url).await.unwrap().json().await.unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["body"], "123456 is your code");
    assert_eq!(messages[0]["messaging_service_sid"], fake.config.messaging_service_sid.as_str());

    admin(&fake, "/_fake/numbers", serde_json::json!({"to": phone.as_e164(), "kind": "unsubscribed"})).await;
    assert!(matches!(messaging.send(&phone, "x").await, Err(DeliveryError::Unsubscribed)));
    let landline = Phone::parse("+447911000008").unwrap();
    admin(&fake, "/_fake/numbers", serde_json::json!({"to": landline.as_e164(), "kind": "landline"})).await;
    assert!(matches!(messaging.send(&landline, "x").await, Err(DeliveryError::InvalidPhone(_))));
    assert!(messaging.supports(Channel::Sms) && !messaging.supports(Channel::Call));
}

/// Twilio's 60200 and 21211 name the refused number in their message; the delivery error (which
/// the use cases log) carries Twilio's code and the number masked, never the number whole.
#[tokio::test]
async fn errors_that_name_the_number_carry_it_masked() {
    let (fake, verify, messaging) = start().await;
    let phone = Phone::parse("+447911000009").unwrap();
    admin(&fake, "/_fake/numbers", serde_json::json!({"to": phone.as_e164(), "kind": "invalid"})).await;
    let from_verify = verify.send(&phone, Channel::Sms, None).await.unwrap_err();
    let from_messaging = messaging.send(&phone, "123456 is your code").await.unwrap_err();
    for (err, code) in [(&from_verify, "60200"), (&from_messaging, "21211")] {
        assert!(matches!(err, DeliveryError::InvalidPhone(_)), "{err:?}");
        for logged in [err.to_string(), format!("{err:?}")] {
            assert!(logged.contains(code), "Twilio's code is not in {logged:?}");
            assert!(logged.contains(&phone.masked()), "the masked number is not in {logged:?}");
            assert!(!logged.contains(&phone.as_e164()[1..]), "the whole number is in {logged:?}");
            assert!(!logged.contains("7911000"), "the middle digits are in {logged:?}");
        }
    }
    assert_eq!(
        from_messaging.to_string(),
        format!(
            "the number cannot receive codes: twilio error 21211 (HTTP 400): The 'To' number {} is not a valid phone number.",
            phone.masked()
        )
    );
}
