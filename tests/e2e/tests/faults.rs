//! Twilio outages, injected in the fake. A fault affects every Twilio request of both stacks, so
//! everything here is one test function (and holds the harness's fault lock), and every fault is
//! cleared by a guard, also when an assertion fails.

use e2e::*;
use std::time::{Duration, Instant};

/// A hung Twilio must cost a request a bounded time (the client's timeouts and retries), far
/// below this; it bounds a hang, it is not a speed test.
const HANG_BOUND: Duration = Duration::from_secs(20);

#[track_caller]
fn expect_sms_unavailable(resp: &Resp) {
    assert!(matches!(resp.status, 502 | 503), "expected 502/503 sms_unavailable: {}", resp.describe());
    resp.expect_error(resp.status, "sms_unavailable");
}

#[tokio::test]
async fn twilio_outages() {
    let _faults = fault_lock().await;
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    fake.reset_faults().await;

    // --- Twilio answers 503: register fails cleanly, and the same registration then works.
    let mut account = Account::fresh();
    let fault = FaultGuard::set(&fake, "unavailable").await;
    let resp = stack.register(&account).await;
    expect_sms_unavailable(&resp);
    resp.assert_not_leaking(&account.password, "password");
    fault.clear().await;
    let resp = stack.register(&account).await;
    let body = resp.expect(201).clone();
    account.user_id = body["user_id"].as_str().unwrap().to_owned();
    let tokens = stack.complete(&fake, &body["challenge"], &account.phone).await;
    assert_eq!(tokens["user"]["id"], account.user_id.as_str());

    // --- Twilio hangs: register answers 503 within a bound, and the same registration works.
    let hung = Account::fresh();
    let fault = FaultGuard::set(&fake, "hang").await;
    let started = Instant::now();
    let resp = stack.register(&hung).await;
    let elapsed = started.elapsed();
    fault.clear().await;
    expect_sms_unavailable(&resp);
    assert!(elapsed < HANG_BOUND, "a hung Twilio held register for {elapsed:?}");
    let resp = stack.register(&hung).await;
    let body = resp.expect(201).clone();
    stack.complete(&fake, &body["challenge"], &hung.phone).await;

    // --- Twilio down at login: 503, no challenge left behind, and a later login works.
    let fault = FaultGuard::set(&fake, "unavailable").await;
    let resp = stack.login(&account.email, &account.password).await;
    fault.clear().await;
    expect_sms_unavailable(&resp);
    let challenge = stack.login_challenge(&account).await;
    let login_code = fake.latest_code(&account.phone).await;

    // --- Twilio down while checking a code: 503, and the right code works once it is back.
    let fault = FaultGuard::set(&fake, "unavailable").await;
    let resp = stack.verify(challenge["id"].as_str().unwrap(), &login_code).await;
    fault.clear().await;
    expect_sms_unavailable(&resp);
    resp.assert_not_leaking(&login_code, "code");
    let resp = stack.verify(challenge["id"].as_str().unwrap(), &login_code).await;
    resp.expect(200);

    // --- A short blip (fewer failures than the client's retries) is not an outage at all.
    // (Another account: each of the steps above sent, or tried to send, a code to the first
    // account's phone, and the per-phone cap is 5 per 15 minutes.)
    let guard = FaultGuard::set_for(&fake, "unavailable", 1).await;
    let resp = stack.login(&hung.email, &hung.password).await;
    guard.clear().await;
    resp.expect(200);
}
