//! The client-facing limits of the default stack, enforced atomically under parallel requests:
//! checks per challenge, the resend cooldown, failed logins per account (known or not), codes
//! per phone. (The tight stack's limits are in tight.rs.)

use e2e::*;
use std::time::Duration;

#[tokio::test]
async fn fifty_parallel_wrong_codes_get_exactly_five_checks() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, challenge) = stack.register_fresh().await;
    let id = challenge["id"].as_str().unwrap().to_owned();
    let code = fake.latest_code(&account.phone).await;
    let wrong = wrong_code(&code);

    let results = concurrently(50, |_| {
        let (stack, id, wrong) = (stack.clone(), id.clone(), wrong.clone());
        async move { stack.verify(&id, &wrong).await }
    })
    .await;
    let counts = tally(&results);
    let invalid: Vec<&Resp> = results.iter().filter(|r| r.status == 401).collect();
    let dead: Vec<&Resp> = results.iter().filter(|r| r.status == 429).collect();
    assert_eq!((invalid.len(), dead.len()), (5, 45), "outcomes: {counts:?}");
    let mut remaining: Vec<u64> =
        invalid.iter().map(|r| r.expect_error(401, "invalid_code")["attempts_remaining"].as_u64().unwrap()).collect();
    remaining.sort_unstable();
    assert_eq!(remaining, [0, 1, 2, 3, 4], "each counted check has its own attempts_remaining");
    for r in dead {
        r.expect_error(429, "too_many_attempts");
        r.assert_not_leaking(&code, "code");
    }

    // The challenge is dead: even the right code fails now, and nothing revives it.
    stack.verify(&id, &code).await.expect_error(429, "too_many_attempts");
    let resp = stack.resend(&id).await;
    assert!(matches!(resp.status, 401 | 429), "a resend revived a dead challenge: {}", resp.describe());
    stack.verify(&id, &code).await.expect_error(429, "too_many_attempts");
}

#[tokio::test]
async fn resend_within_the_cooldown_is_too_soon() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, challenge) = stack.register_fresh().await;
    let sends = fake.sends_to(&account.phone).await;
    let resp = stack.resend(challenge["id"].as_str().unwrap()).await;
    resp.expect_error(429, "resend_too_soon");
    let retry_after = resp.retry_after();
    assert!((1..=30).contains(&retry_after), "Retry-After {retry_after} for a 30 s cooldown");
    assert_eq!(fake.sends_to(&account.phone).await, sends, "a refused resend sent a code");
    // The challenge itself is unharmed.
    stack.complete(&fake, &challenge, &account.phone).await;
}

#[tokio::test]
async fn failed_logins_lock_an_account_even_for_the_right_password() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    clear_of_window_edge(SHORT_WINDOW, Duration::from_secs(15)).await;
    let (account, _) = stack.register_and_verify(&fake).await;
    let sends = fake.sends_to(&account.phone).await;

    thirty_parallel_bad_logins(&stack, &account.email).await;
    let resp = stack.login(&account.email, &account.password).await;
    resp.expect_error(429, "rate_limited");
    resp.retry_after();
    assert_eq!(fake.sends_to(&account.phone).await, sends, "a locked account got a code");
    // Case or spaces do not open another counter.
    stack.login(&format!(" {} ", account.email.to_uppercase()), &account.password).await.expect_error(429, "rate_limited");
}

#[tokio::test]
async fn failed_logins_of_an_unknown_email_count_alike() {
    let stack = Stack::default_stack();
    clear_of_window_edge(SHORT_WINDOW, Duration::from_secs(15)).await;
    let email = fresh_email();
    let results = thirty_parallel_bad_logins(&stack, &email).await;
    let resp = stack.login(&email, "any-password-at-all").await;
    resp.expect_error(429, "rate_limited");

    // Same answers as for an account that exists.
    let other = stack.login(&fresh_email(), "wrong-password-0").await;
    let first_401 = results.iter().find(|r| r.status == 401).unwrap();
    assert_eq!(first_401.text, other.text);
}

#[tokio::test]
async fn at_most_five_codes_per_phone_and_budget() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    clear_of_window_edge(SHORT_WINDOW, Duration::from_secs(30)).await;
    // The registration spends the number's open budget (codes anyone can trigger); five logins
    // its sign-in budget (API.md v3 "Hardening": separate budgets).
    let (account, _) = stack.register_fresh().await;
    for n in 1..=5 {
        let resp = stack.login(&account.email, &account.password).await;
        assert_eq!(resp.status, 200, "sign-in code {n} of 5: {}", resp.describe());
    }
    assert_eq!(fake.sends_to(&account.phone).await, 6);
    let resp = stack.login(&account.email, &account.password).await;
    resp.expect_error(429, "rate_limited");
    let retry_after = resp.retry_after();
    assert!((1..=900).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(fake.sends_to(&account.phone).await, 6, "a sixth sign-in code went out");

    // The cap is per phone: another account's phone is not affected.
    let (other, _) = stack.register_fresh().await;
    stack.login(&other.email, &other.password).await.expect(200);
    // A phone change to the number spends its open budget, not the full sign-in one, and stops
    // at five as well (the registration was the first).
    let (third, tokens) = stack.register_and_verify(&fake).await;
    for n in 2..=5 {
        let resp = stack.change_phone(&tokens.access_token, &account.phone, &third.password).await;
        assert_eq!(resp.status, 202, "open code {n} of 5: {}", resp.describe());
    }
    let resp = stack.change_phone(&tokens.access_token, &account.phone, &third.password).await;
    resp.expect_error(429, "rate_limited");
    assert_eq!(fake.sends_to(&account.phone).await, 10);
}

/// "Start again" (the message of `too_many_attempts`) must work: after a challenge died of
/// wrong codes, a new login's challenge completes with its right code.
///
/// Twilio re-sends a verification still pending for the number under the same SID, whose 5
/// checks were spent here; the service therefore starts a fresh verification for every new
/// challenge.
#[tokio::test]
async fn a_challenge_killed_by_wrong_codes_does_not_block_the_next_login() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, _) = stack.register_and_verify(&fake).await;
    let dead = stack.login_challenge(&account).await;
    let code = fake.latest_code(&account.phone).await;
    for remaining in [4, 3, 2, 1, 0] {
        let resp = stack.verify(dead["id"].as_str().unwrap(), &wrong_code(&code)).await;
        assert_eq!(resp.expect_error(401, "invalid_code")["attempts_remaining"], remaining);
    }
    stack.verify(dead["id"].as_str().unwrap(), &code).await.expect_error(429, "too_many_attempts");

    let fresh = stack.login_challenge(&account).await;
    let code = fake.latest_code(&account.phone).await;
    let resp = stack.verify(fresh["id"].as_str().unwrap(), &code).await;
    assert_eq!(resp.status, 200, "the next login's right code is refused: {}", resp.describe());
}

/// Each challenge has its own check budget (5): wrong codes typed into an abandoned challenge
/// must not eat into the next one's, or `attempts_remaining` lies.
///
/// Without a fresh Verify verification per challenge, the abandoned challenge and the new one
/// would share one SID, one code and Twilio's 5 checks, and `attempts_remaining` would lie.
#[tokio::test]
async fn a_new_login_gets_the_full_check_budget() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, _) = stack.register_and_verify(&fake).await;
    let abandoned = stack.login_challenge(&account).await;
    let code = fake.latest_code(&account.phone).await;
    for _ in 0..3 {
        stack.verify(abandoned["id"].as_str().unwrap(), &wrong_code(&code)).await.expect_error(401, "invalid_code");
    }

    let next = stack.login_challenge(&account).await;
    let id = next["id"].as_str().unwrap();
    let code = fake.latest_code(&account.phone).await;
    for remaining in [4, 3, 2, 1] {
        let resp = stack.verify(id, &wrong_code(&code)).await;
        assert_eq!(resp.status, 401, "wrong code with {remaining} checks promised left: {}", resp.describe());
        assert_eq!(resp.expect_error(401, "invalid_code")["attempts_remaining"], remaining);
    }
    let resp = stack.verify(id, &code).await;
    assert_eq!(resp.status, 200, "the right code, with 1 check promised left: {}", resp.describe());
}
