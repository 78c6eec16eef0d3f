//! The "tight" stack (E2E_TIGHT_URL): builtin codes sent over the fake's Messaging API, a 2 s
//! resend cooldown (RESEND_COOLDOWN_SECONDS=2) and 5 registrations per source IP per hour
//! (REGISTRATIONS_PER_IP_HOUR=5), as scripts/test.sh configures it.
//!
//! Every registration on this stack spends the hour's budget of 5 for this client's IP, so all
//! of them happen in ONE test function, in a known order, and the per-IP cap is its last step.

use e2e::*;
use serde_json::{json, Value};
use std::time::Duration;

const RESEND_COOLDOWN: Duration = Duration::from_secs(2);
const REGISTRATIONS_PER_IP_HOUR: usize = 5;

/// Past the resend cooldown, whole seconds included (the service counts in seconds).
async fn wait_cooldown() {
    tokio::time::sleep(RESEND_COOLDOWN + Duration::from_millis(1100)).await;
}

#[tokio::test]
async fn tight_stack_in_order() {
    let (stack, fake) = (Stack::tight(), Fake::from_env());
    // All five registrations and the cap must fall in one hourly window.
    clear_of_window_edge(HOUR, Duration::from_secs(40)).await;
    let mut registrations = 0;

    // 1. Builtin sign-up, end to end, with the code read from the fake's messages.
    let (alice, challenge) = stack.register_fresh().await;
    registrations += 1;
    builtin_signup_and_login(&stack, &fake, &alice, &challenge).await;

    // 2. The builtin sender only does sms: another channel is refused before anything is kept.
    let bob = Account::fresh();
    let resp = stack
        .post_json(
            "register",
            "/auth/register",
            &json!({"email": bob.email, "password": bob.password, "phone": bob.phone, "channel": "call"}),
        )
        .await;
    registrations += 1; // counted: the per-IP limit comes first
    resp.expect_error(400, "invalid_request");
    assert!(fake.messages(&bob.phone).await.is_empty(), "a code went out for a refused channel");

    // 3. Resend: cooldown under a race, the new code, the failed-check count kept.
    let resp = stack.register(&bob).await; // the refused attempt left no half-made account
    registrations += 1;
    let challenge = resp.expect(201)["challenge"].clone();
    resend_race_and_new_code(&stack, &fake, &bob, &challenge).await;

    // 4. The per-IP registration cap; a forged X-Forwarded-For does not help.
    assert!(registrations < REGISTRATIONS_PER_IP_HOUR);
    while registrations < REGISTRATIONS_PER_IP_HOUR {
        let resp = stack.register(&Account::fresh()).await;
        registrations += 1;
        assert_eq!(resp.status, 201, "registration {registrations} of {REGISTRATIONS_PER_IP_HOUR}: {}", resp.describe());
    }
    let over = Account::fresh();
    let resp = stack.register(&over).await;
    resp.expect_error(429, "rate_limited");
    let retry_after = resp.retry_after();
    assert!((1..=3600).contains(&retry_after), "Retry-After {retry_after}");
    assert!(fake.messages(&over.phone).await.is_empty());
    let body = json!({"email": over.email, "password": over.password, "phone": over.phone});
    for headers in [
        [("x-forwarded-for", "203.0.113.7")],
        [("x-forwarded-for", "198.51.100.23, 203.0.113.8")],
        [("x-real-ip", "192.0.2.44")],
        [("forwarded", "for=192.0.2.60;proto=https")],
        [("true-client-ip", "192.0.2.61")],
    ] {
        let resp = stack.post_json_with("register", "/auth/register", &body, &headers).await;
        resp.expect_error(429, "rate_limited");
    }
    // The router passes the TCP peer through as sourceIp, as API Gateway does: another address
    // is another caller, with a counter of its own.
    let elsewhere = stack.from_source_ip("127.0.0.2".parse().unwrap());
    elsewhere.register(&over).await.expect(201);
    // The cap is on registrations only: existing users still log in.
    let login = stack.login_challenge(&alice).await;
    assert_eq!(login["purpose"], "login");

    // 5. A password reset sends a bare code, never a link built from the request (Zitadel
    // CVE-2025-64101), and the phone hears of the reset. Alice again: no new registration.
    reset_by_code_not_link(&stack, &fake, &alice).await;
}

async fn reset_by_code_not_link(stack: &Stack, fake: &Fake, alice: &Account) {
    let headers = [("host", "evil.example"), ("x-forwarded-host", "evil.example"), ("forwarded", "host=evil.example")];
    let resp = stack.post_json_with("account", "/auth/password/forgot", &json!({ "email": alice.email }), &headers).await;
    let challenge = resp.expect(202)["challenge"].clone();
    assert_eq!(challenge["purpose"], "password_reset");
    let messages = fake.messages(&alice.phone).await;
    let sent = messages.last().unwrap();
    let body = sent["body"].as_str().unwrap();
    assert!(!body.contains("evil") && !body.contains("http") && !body.contains('/'), "a code, not a link: {body}");
    let code = code_of_message(sent);
    let reset = json!({ "challenge_id": challenge["id"], "code": code, "new_password": "a brand new passphrase 42" });
    stack.post_json("account", "/auth/password/reset", &reset).await.expect(204);
    let messages = fake.messages(&alice.phone).await;
    let notice = messages.last().unwrap()["body"].as_str().unwrap().to_owned();
    assert!(notice.contains("password was reset"), "{notice}");
    assert!(!notice.chars().any(|c| c.is_ascii_digit()) && !notice.contains("http"), "no code, no link: {notice}");
}

async fn builtin_signup_and_login(stack: &Stack, fake: &Fake, alice: &Account, challenge: &Value) {
    let id = challenge["id"].as_str().unwrap();
    assert_eq!(challenge["purpose"], "signup");
    assert_eq!(challenge["channel"], "sms");
    assert_eq!(challenge["expires_in"], 600);
    assert_masked(&challenge["to"], &alice.phone);

    let messages = fake.messages(&alice.phone).await;
    assert_eq!(messages.len(), 1, "one SMS for the sign-up: {messages:?}");
    let message = &messages[0];
    assert_eq!(message["to"], alice.phone.as_str());
    assert!(message["messaging_service_sid"].is_string() || message["from"].is_string(), "{message}");
    let code = code_of_message(message);
    assert!(fake.latest_verification(&alice.phone).await.is_none(), "the builtin provider used Twilio Verify");

    let resp = stack.verify(id, &wrong_code(&code)).await;
    assert_eq!(resp.expect_error(401, "invalid_code")["attempts_remaining"], 4);
    resp.assert_not_leaking(&code, "code");
    let resp = stack.verify(id, &code).await;
    let tokens = Tokens::from_body(resp.expect(200).clone());
    assert_eq!(tokens.body["user"]["email"], alice.email.as_str());
    assert_eq!(tokens.body["user"]["phone_verified"], true);
    assert_masked(&tokens.body["user"]["phone"], &alice.phone);
    stack.protected(&tokens.access_token).await.expect(200);
    // This stack signs EdDSA with a PEM: every bad-token case of the default (KMS) stack here too.
    assert_bad_access_tokens_refused(stack, &StackKey::tight(), alice, &tokens).await;
    // Single use.
    stack.verify(id, &code).await.expect_error(401, "challenge_invalid");

    // Login: a new code, by SMS again; the sign-up code does not complete it.
    let login = stack.login_challenge(alice).await;
    assert_eq!(login["purpose"], "login");
    let messages = fake.messages(&alice.phone).await;
    assert_eq!(messages.len(), 2);
    let login_code = code_of_message(&messages[1]);
    let login_id = login["id"].as_str().unwrap();
    if login_code != code {
        let resp = stack.verify(login_id, &code).await;
        assert_eq!(resp.expect_error(401, "invalid_code")["attempts_remaining"], 4);
    }
    // Channels the builtin sender cannot do are refused, at login and at resend.
    for channel in ["call", "whatsapp"] {
        let resp =
            stack.post_json("login", "/auth/login", &json!({"email": alice.email, "password": alice.password, "channel": channel})).await;
        resp.expect_error(400, "invalid_request");
        let resp = stack.post_json("verify", "/auth/resend", &json!({"challenge_id": login_id, "channel": channel})).await;
        resp.expect_error(400, "invalid_request");
    }
    assert_eq!(fake.messages(&alice.phone).await.len(), 2, "a refused channel sent a code");
    let resp = stack.verify(login_id, &login_code).await;
    let tokens = Tokens::from_body(resp.expect(200).clone());
    assert_eq!(jwt_part(&tokens.access_token, 1)["sub"], alice.user_id.as_str());
    stack.verify(login_id, &login_code).await.expect_error(401, "challenge_invalid");
}

async fn resend_race_and_new_code(stack: &Stack, fake: &Fake, bob: &Account, challenge: &Value) {
    let id = challenge["id"].as_str().unwrap().to_owned();
    let first_code = fake.latest_message_code(&bob.phone).await;

    // Two failed checks before any resend.
    for remaining in [4, 3] {
        let resp = stack.verify(&id, &wrong_code(&first_code)).await;
        assert_eq!(resp.expect_error(401, "invalid_code")["attempts_remaining"], remaining);
    }

    // Inside the cooldown: too soon.
    let resp = stack.resend(&id).await;
    resp.expect_error(429, "resend_too_soon");
    assert!((1..=2).contains(&resp.retry_after()), "{}", resp.describe());

    // Past it, 20 parallel resends: exactly one goes through.
    wait_cooldown().await;
    let results = concurrently(20, |_| {
        let (stack, id) = (stack.clone(), id.clone());
        async move { stack.resend(&id).await }
    })
    .await;
    let counts = tally(&results);
    let ok: Vec<&Resp> = results.iter().filter(|r| r.status == 200).collect();
    assert_eq!(ok.len(), 1, "outcomes: {counts:?}");
    for r in results.iter().filter(|r| r.status != 200) {
        r.expect_error(429, "resend_too_soon");
        let retry_after = r.retry_after();
        assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}: {}", r.describe());
    }
    let resent = ok[0].json["challenge"].clone();
    assert_keys(&resent, &["id", "purpose", "channel", "to", "expires_in"], "resent challenge");
    assert_eq!(resent["id"], id.as_str(), "a resend keeps the challenge");
    assert_eq!(resent["purpose"], "signup");
    assert_eq!(resent["expires_in"], 600, "a resend gives a fresh expiry");
    assert_masked(&resent["to"], &bob.phone);
    assert_eq!(fake.messages(&bob.phone).await.len(), 2, "one resend, one more SMS");

    // After the cooldown again, another resend works and its NEW code is the one that counts.
    wait_cooldown().await;
    let resp = stack.resend(&id).await;
    assert_eq!(resp.expect(200)["challenge"]["id"], id.as_str());
    let messages = fake.messages(&bob.phone).await;
    assert_eq!(messages.len(), 3);
    let new_code = code_of_message(&messages[2]);

    // The failed checks were kept across the resends: 2 before, this is the third.
    let wrong = (0..).map(|i| format!("{:06}", (i * 7919 + 13) % 1_000_000)).find(|c| *c != new_code && *c != first_code).unwrap();
    let resp = stack.verify(&id, &wrong).await;
    assert_eq!(resp.expect_error(401, "invalid_code")["attempts_remaining"], 2, "{}", resp.describe());
    // The first code was replaced by the resend.
    if first_code != new_code {
        let resp = stack.verify(&id, &first_code).await;
        assert_eq!(resp.expect_error(401, "invalid_code")["attempts_remaining"], 1, "the old code still works? {}", resp.describe());
    }
    let resp = stack.verify(&id, &new_code).await;
    let tokens = resp.expect(200);
    assert_eq!(tokens["user"]["email"], bob.email.as_str());
}
