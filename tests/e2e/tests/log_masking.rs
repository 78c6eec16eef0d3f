//! API.md "Hardening": no full phone number in any log line, also when a provider's error
//! message contains one (log the provider's error code and the masked number), end to end.
//!
//! The Twilio fake refuses a number marked `invalid` the way Twilio words it, naming the number:
//! Verify 60200 "Invalid parameter `To`: +44…" (the default stack, OTP_PROVIDER=twilio_verify,
//! log E2E_DEFAULT_LOG) and Messaging 21211 "The 'To' number +44… is not a valid phone number."
//! (the tight stack, builtin codes over Twilio Messaging, log E2E_TIGHT_LOG). A sign-up with such
//! a number fails with 400 `invalid_phone`; the stack's function log must then show Twilio's
//! code next to the masked number, and the number whole nowhere.

use e2e::*;
use std::time::Duration;

/// The lines of the function log that `var` names (every instance's stdout and stderr).
fn log_lines(var: &str) -> Vec<String> {
    let path = env(var);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{var} {path}: {e}"));
    String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect()
}

/// Waits for the line that reports the refused send (lines are written before each answer; the
/// wait only absorbs file-system delays), then checks it and the whole log.
async fn assert_logged_masked(var: &str, phone: &str, twilio_code: &str) {
    let masked = masked(phone);
    let mut lines = Vec::new();
    for _ in 0..50 {
        lines = log_lines(var);
        if lines.iter().any(|l| l.contains(&masked) && l.contains(twilio_code)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let reported: Vec<&String> = lines.iter().filter(|l| l.contains(&masked)).collect();
    assert!(
        reported.iter().any(|l| l.contains(twilio_code)),
        "{var}: no line names Twilio's error {twilio_code} next to the masked number {masked}; the lines with the number: {reported:#?}"
    );
    // The number is fresh for this test: wherever its digits appear, the log holds it whole
    // (`+44…`, `%2B44…`, or the digits alone).
    let digits = &phone[1..];
    let leaks: Vec<&String> = lines.iter().filter(|l| l.contains(digits)).collect();
    assert!(leaks.is_empty(), "{var}: the whole number {phone} is logged: {leaks:#?}");
}

#[tokio::test]
async fn twilio_verify_60200_naming_the_number_is_logged_masked() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let account = Account::fresh();
    fake.set_number_kind(&account.phone, "invalid").await;
    let resp = stack.register(&account).await;
    resp.expect_error(400, "invalid_phone");
    resp.assert_not_leaking(&account.phone[1..], "whole number");
    assert_eq!(fake.sends_to(&account.phone).await, 0, "the fake sent a code to an invalid number");
    assert_logged_masked("E2E_DEFAULT_LOG", &account.phone, "60200").await;
}

#[tokio::test]
async fn twilio_messaging_21211_naming_the_number_is_logged_masked() {
    // The tight stack allows 5 registrations per source IP and hour, and tests/tight.rs spends
    // 127.0.0.1's: this one comes from an address of its own.
    let stack = Stack::tight().from_source_ip("127.0.25.11".parse().unwrap());
    let fake = Fake::from_env();
    let account = Account::fresh();
    fake.set_number_kind(&account.phone, "invalid").await;
    let resp = stack.register(&account).await;
    resp.expect_error(400, "invalid_phone");
    resp.assert_not_leaking(&account.phone[1..], "whole number");
    assert!(fake.messages(&account.phone).await.is_empty(), "the fake sent a message to an invalid number");
    assert_logged_masked("E2E_TIGHT_LOG", &account.phone, "21211").await;
}
