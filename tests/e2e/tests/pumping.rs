//! API.md v3 "SMS pumping guard", end to end on the default stack (the guard at its defaults:
//! a range is the calling code and 3 more digits, judged from 20 codes in the hour, paused
//! below 20% entered; SMS_SAFE_PREFIXES=+44 keeps the suite's own `+44771…` numbers out of it).
//! Each test pumps a French range of its own, `+337AB…`.

use e2e::*;
use serde_json::json;
use std::{
    sync::atomic::{AtomicU32, Ordering},
    sync::OnceLock,
    time::Duration,
};

const MIN_SENDS: u32 = 20;

/// A French mobile range `+337AB` (A 3..9) no other test of this run pumps.
fn fresh_range() -> String {
    static BASE: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = *BASE.get_or_init(|| std::process::id() % 70);
    let n = (base + NEXT.fetch_add(1, Ordering::Relaxed)) % 70;
    format!("+337{}", 30 + n)
}

/// The `n`th number of `range` (9 national digits in all).
fn number(range: &str, n: u32) -> String {
    format!("{range}{n:06}")
}

fn account_on(phone: &str) -> Account {
    Account { phone: phone.to_owned(), ..Account::fresh() }
}

/// `count` sign-ups on numbers `from..` of `range` that nobody completes.
async fn abandoned_signups(stack: &Stack, range: &str, from: u32, count: u32) {
    for n in from..from + count {
        stack.register(&account_on(&number(range, n))).await.expect(201);
    }
}

#[track_caller]
fn assert_paused(resp: &Resp) {
    resp.expect_error(403, "destination_blocked");
    let message = resp.json["message"].as_str().unwrap_or_default();
    assert!(message.contains("authenticator app"), "the message says what still works: {message}");
    let wait = resp.retry_after();
    assert!((1..=3600).contains(&wait), "Retry-After is the rest of the window: {wait}");
}

/// The default stack's function log, once a line satisfying `wanted` is in it.
async fn log_line(wanted: impl Fn(&serde_json::Value) -> bool) -> Option<serde_json::Value> {
    for _ in 0..50 {
        let text = std::fs::read_to_string(env("E2E_DEFAULT_LOG")).unwrap_or_default();
        let found = text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).find(|l| wanted(l));
        if found.is_some() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

#[tokio::test]
async fn a_range_pumped_with_codes_nobody_enters_is_paused_before_anything_is_stored_or_sent() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let range = fresh_range();
    abandoned_signups(&stack, &range, 1, MIN_SENDS).await;

    let refused = account_on(&number(&range, 100));
    assert_paused(&stack.register(&refused).await);
    assert_eq!(fake.sends_to(&refused.phone).await, 0, "nothing sent");
    // Nothing stored: the same email signs up at once on a number of another range.
    let elsewhere = Account { phone: fresh_phone(), ..refused };
    stack.register(&elsewhere).await.expect(201);
    stack.register(&account_on(&number(&fresh_range(), 1))).await.expect(201);

    // The audit line names the range; the metric counts it under its calling code.
    let audit = log_line(|l| l["audit"] == "limit_hit" && l["prefix"] == range.as_str()).await;
    let audit = audit.unwrap_or_else(|| panic!("no audit line names {range}"));
    assert_eq!(audit["limit"], "destination_blocked");
    assert_eq!(audit["phone"], masked(&number(&range, 100)).as_str(), "the number itself only masked");
    let metric = log_line(|l| l["LimitRefusals"] == 1 && l["Limit"] == "destination_blocked" && l["CallingCode"] == "33").await;
    assert!(metric.is_some(), "a LimitRefusals data point with Limit=destination_blocked and CallingCode=33");
}

#[tokio::test]
async fn a_range_whose_codes_are_entered_stays_open_past_the_minimum() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let range = fresh_range();
    for n in 1..=MIN_SENDS {
        let account = account_on(&number(&range, n));
        let challenge = stack.register(&account).await.expect(201)["challenge"].clone();
        // One in five enters the code: 20%, the floor itself.
        if n % 5 == 0 {
            stack.complete(&fake, &challenge, &account.phone).await;
        }
    }
    stack.register(&account_on(&number(&range, 100))).await.expect(201);
    assert_paused(&stack.register(&account_on(&number(&range, 101))).await);
}

#[tokio::test]
async fn every_route_that_sends_refuses_a_paused_range_and_changes_nothing() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let range = fresh_range();
    // One sign-up completed, one login code pending, 18 sign-ups abandoned: 1 of 20.
    let holder = account_on(&number(&range, 1));
    let challenge = stack.register(&holder).await.expect(201)["challenge"].clone();
    stack.complete(&fake, &challenge, &holder.phone).await;
    let pending = stack.login_challenge(&holder).await;
    let pending_id = pending["id"].as_str().unwrap();
    abandoned_signups(&stack, &range, 2, MIN_SENDS - 2).await;
    let sends_before = fake.sends_to(&holder.phone).await;

    assert_paused(&stack.register(&account_on(&number(&range, 100))).await);
    assert_paused(&stack.login(&holder.email, &holder.password).await);
    assert_paused(&stack.resend(pending_id).await);
    assert_paused(&stack.forgot_password(&holder.email).await);
    let (mover, tokens) = stack.register_and_verify(&fake).await;
    assert_paused(&stack.change_phone(&tokens.access_token, &number(&range, 101), &mover.password).await);
    assert_eq!(fake.sends_to(&holder.phone).await, sends_before, "no code went out");

    // The refused resend stored nothing: the code sent before still completes the login.
    let code = fake.latest_code(&holder.phone).await;
    stack.verify(pending_id, &code).await.expect(200);
    // A wrong password still says only that: the range's state is for the password's holder.
    stack.login(&holder.email, "not the password at all").await.expect_error(401, "invalid_credentials");
}

#[tokio::test]
async fn the_safe_list_never_pauses_a_range() {
    let stack = Stack::default_stack();
    // 25 abandoned sign-ups on the suite's own +44771 range, which SMS_SAFE_PREFIXES=+44 covers.
    for _ in 0..MIN_SENDS + 5 {
        stack.register(&Account::fresh()).await.expect(201);
    }
    let body = json!({"email": fresh_email(), "password": fresh_password(), "phone": fresh_phone()});
    stack.post_json("register", "/auth/register", &body).await.expect(201);
}
