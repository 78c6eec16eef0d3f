//! Account lifecycle over HTTP (API.md "v2 / Account lifecycle"): forgot and reset password,
//! GET /me, change password, logout scope=global, DELETE /me, every error row, and the peer
//! failures named in issue 12 (each test fails on the broken behaviour).

use e2e::*;
use reqwest::Method;
use serde_json::{json, Value};

const NEW_PASSWORD: &str = "a brand new passphrase 42";

async fn me(stack: &Stack, access_token: &str) -> Resp {
    stack.get("account", "/me", Some(access_token)).await
}

async fn delete_me(stack: &Stack, access_token: &str, password: &str) -> Resp {
    let auth = format!("Bearer {access_token}");
    let headers = [("content-type", "application/json"), ("authorization", auth.as_str())];
    let body = json!({ "password": password }).to_string().into_bytes();
    stack.request(Method::DELETE, "account", "/me", &headers, Some(body)).await
}

async fn logout_scope(stack: &Stack, refresh_token: &str, scope: &str) -> Resp {
    stack.post_json("session", "/auth/logout", &json!({ "refresh_token": refresh_token, "scope": scope })).await
}

/// A forgot-password challenge for `account` (asserts 202 and its shape).
async fn reset_challenge(stack: &Stack, account: &Account) -> Value {
    let resp = stack.forgot_password(&account.email).await;
    let challenge = resp.expect(202)["challenge"].clone();
    assert_keys(&challenge, &["id", "purpose", "channel", "to", "expires_in"], "reset challenge");
    assert_eq!(challenge["purpose"], "password_reset");
    challenge
}

fn id(challenge: &Value) -> &str {
    challenge["id"].as_str().unwrap_or_else(|| panic!("no challenge id in {challenge}"))
}

#[tokio::test]
async fn forgot_reset_then_login_and_every_old_session_is_dead() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, first) = stack.register_and_verify(&fake).await;
    let second = stack.login_and_verify(&fake, &account).await;

    let challenge = reset_challenge(&stack, &account).await;
    assert_masked(&challenge["to"], &account.phone);
    let code = stack.code_for(&fake, &account.phone).await;
    let resp = stack.reset_password(id(&challenge), &code, NEW_PASSWORD).await;
    resp.expect(204);
    assert!(resp.text.is_empty(), "a reset issues no tokens: {}", resp.describe());

    // Keycloak #8920 / Kratos #1077: no session survives a reset.
    stack.refresh(&first.refresh_token).await.expect_invalid_token();
    stack.refresh(&second.refresh_token).await.expect_invalid_token();
    me(&stack, &first.access_token).await.expect_invalid_token();
    me(&stack, &second.access_token).await.expect_invalid_token();
    // A stateless resource server keeps accepting the access token until its exp (README).
    stack.protected(&first.access_token).await.expect(200);

    stack.login(&account.email, &account.password).await.expect_error(401, "invalid_credentials");
    let renewed = Account { password: NEW_PASSWORD.into(), ..account.clone() };
    let tokens = stack.login_and_verify(&fake, &renewed).await;
    me(&stack, &tokens.access_token).await.expect(200);
}

#[tokio::test]
async fn a_used_reset_code_cannot_be_replayed() {
    // Keycloak CVE-2026-4325.
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, _) = stack.register_and_verify(&fake).await;
    let challenge = reset_challenge(&stack, &account).await;
    let code = stack.code_for(&fake, &account.phone).await;
    stack.reset_password(id(&challenge), &code, NEW_PASSWORD).await.expect(204);
    stack.reset_password(id(&challenge), &code, "yet another passphrase 7").await.expect_error(401, "challenge_invalid");
    let renewed = Account { password: NEW_PASSWORD.into(), ..account };
    stack.login_challenge(&renewed).await;
}

#[tokio::test]
async fn parallel_resets_with_one_code_set_the_password_once() {
    // Keycloak #37231.
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, _) = stack.register_and_verify(&fake).await;
    let challenge = reset_challenge(&stack, &account).await;
    let code = stack.code_for(&fake, &account.phone).await;
    let challenge_id = id(&challenge).to_owned();
    let responses = concurrently(6, |i| {
        let (stack, challenge_id, code) = (stack.clone(), challenge_id.clone(), code.clone());
        async move { stack.reset_password(&challenge_id, &code, &format!("parallel passphrase {i}")).await }
    })
    .await;
    let winners: Vec<usize> = responses.iter().enumerate().filter(|(_, r)| r.status == 204).map(|(i, _)| i).collect();
    assert_eq!(winners.len(), 1, "exactly one reset wins: {:?}", tally(&responses));
    // The losers find the challenge used, or (past its 5 checks) dead.
    for r in responses.iter().filter(|r| r.status != 204) {
        let refused = (r.status, r.json["error"].as_str());
        assert!(refused == (401, Some("challenge_invalid")) || refused == (429, Some("too_many_attempts")), "{}", r.describe());
    }
    let winner = Account { password: format!("parallel passphrase {}", winners[0]), ..account.clone() };
    stack.login_challenge(&winner).await;
    for i in (0..6).filter(|i| *i != winners[0]) {
        stack.login(&account.email, &format!("parallel passphrase {i}")).await.expect_error(401, "invalid_credentials");
    }
}

#[tokio::test]
async fn reset_codes_are_throttled_like_verify() {
    // Casdoor #5250: 5 checks, then even the right code fails.
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, _) = stack.register_and_verify(&fake).await;
    let challenge = reset_challenge(&stack, &account).await;
    let code = stack.code_for(&fake, &account.phone).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for remaining in (0..5).rev() {
        let resp = stack.reset_password(id(&challenge), wrong, NEW_PASSWORD).await;
        assert_eq!(resp.expect_error(401, "invalid_code")["attempts_remaining"], remaining);
    }
    let resp = stack.reset_password(id(&challenge), &code, NEW_PASSWORD).await;
    resp.expect_error(429, "too_many_attempts");
    assert!(resp.header("retry-after").is_some());
    stack.login_challenge(&account).await; // the old password still works
}

#[tokio::test]
async fn challenges_are_bound_to_their_purpose() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, _) = stack.register_and_verify(&fake).await;
    // A reset challenge never yields tokens at verify, even with the right code...
    let challenge = reset_challenge(&stack, &account).await;
    let code = stack.code_for(&fake, &account.phone).await;
    stack.verify(id(&challenge), &code).await.expect_error(401, "challenge_invalid");
    // ...and verify's refusal spent none of its checks: the reset still works.
    stack.reset_password(id(&challenge), &code, NEW_PASSWORD).await.expect(204);

    // A login challenge never resets a password.
    let renewed = Account { password: NEW_PASSWORD.into(), ..account };
    let login = stack.login_challenge(&renewed).await;
    let code = stack.code_for(&fake, &renewed.phone).await;
    stack.reset_password(id(&login), &code, "sneaky other passphrase").await.expect_error(401, "challenge_invalid");
    stack.login(&renewed.email, "sneaky other passphrase").await.expect_error(401, "invalid_credentials");
}

#[tokio::test]
async fn unknown_emails_get_a_decoy_that_behaves_like_a_real_challenge() {
    let stack = Stack::default_stack();
    let email = fresh_email();
    let first = stack.forgot_password(&email).await;
    let challenge = first.expect(202)["challenge"].clone();
    assert_keys(&challenge, &["id", "purpose", "channel", "to", "expires_in"], "decoy challenge");
    assert_eq!((challenge["purpose"].as_str(), challenge["channel"].as_str()), (Some("password_reset"), Some("sms")));
    assert_eq!(challenge["expires_in"], 600);
    let to = challenge["to"].as_str().unwrap().to_owned();
    assert!(to.starts_with('+') && to.contains('*'), "masked like a real number: {to}");
    // The same masked number on every request for this email.
    let again = stack.forgot_password(&email).await;
    assert_eq!(again.expect(202)["challenge"]["to"], to.as_str());
    assert_ne!(again.json["challenge"]["id"], challenge["id"]);

    // Resend follows the cooldown like a real challenge.
    stack.resend(id(&challenge)).await.expect_error(429, "resend_too_soon");
    // Wrong codes count down, and no code completes it.
    for remaining in (0..5).rev() {
        let resp = stack.reset_password(id(&challenge), "123456", NEW_PASSWORD).await;
        assert_eq!(resp.expect_error(401, "invalid_code")["attempts_remaining"], remaining);
    }
    stack.reset_password(id(&challenge), "123456", NEW_PASSWORD).await.expect_error(429, "too_many_attempts");
    stack.verify(id(&again.json["challenge"]), "123456").await.expect_error(401, "challenge_invalid");
}

#[tokio::test]
async fn an_account_whose_phone_was_never_verified_gets_a_decoy() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, _) = stack.register_fresh().await; // the sign-up code is never entered
    let sends = fake.sends_to(&account.phone).await;
    let challenge = reset_challenge(&stack, &account).await;
    assert_ne!(challenge["to"].as_str(), Some(masked(&account.phone).as_str()), "not the unverified number");
    assert_eq!(fake.sends_to(&account.phone).await, sends, "nothing is sent to an unverified number");
}

#[tokio::test]
async fn forgot_and_reset_answer_the_error_rows() {
    let stack = Stack::default_stack();
    stack.forgot_password("not-an-email").await.expect_error(400, "invalid_email");
    stack.post_json("account", "/auth/password/forgot", &json!({})).await.expect_error(400, "invalid_request");
    stack
        .post_json("account", "/auth/password/forgot", &json!({ "email": fresh_email(), "channel": "pigeon" }))
        .await
        .expect_error(400, "invalid_request");
    stack.post_raw("account", "/auth/password/forgot", Some("text/plain"), "x").await.expect_error(415, "unsupported_media_type");
    let huge = json!({ "email": "a".repeat(17 * 1024) });
    stack.post_json("account", "/auth/password/forgot", &huge).await.expect_error(413, "payload_too_large");

    let challenge = stack.forgot_password(&fresh_email()).await.expect(202)["challenge"].clone();
    stack.reset_password(id(&challenge), "123456", "short").await.expect_error(400, "weak_password");
    stack.reset_password(id(&challenge), "123456", "password123").await.expect_error(400, "weak_password");
    stack.reset_password(id(&challenge), "12ab", NEW_PASSWORD).await.expect_error(400, "invalid_request");
    stack.reset_password("ch_nope", "123456", NEW_PASSWORD).await.expect_error(401, "challenge_invalid");
    stack.reset_password("ch_0123456789abcdef0123456789abcdef", "123456", NEW_PASSWORD).await.expect_error(401, "challenge_invalid");
    stack
        .post_json("account", "/auth/password/reset", &json!({ "challenge_id": id(&challenge) }))
        .await
        .expect_error(400, "invalid_request");
    // The TOTP fields are part of the body already.
    let with_factor = json!({ "challenge_id": id(&challenge), "code": "123456", "new_password": NEW_PASSWORD, "totp_code": "123456" });
    stack.post_json("account", "/auth/password/reset", &with_factor).await.expect_error(401, "invalid_code");
    stack.get("account", "/auth/password/reset", None).await.expect_error(404, "not_found");
    stack.get("account", "/me/nothing", None).await.expect_error(404, "not_found");
}

#[tokio::test]
async fn me_answers_userinfo_claims_unmasked_and_needs_a_live_token() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, tokens) = stack.register_and_verify(&fake).await;
    let resp = me(&stack, &tokens.access_token).await;
    let info = resp.expect(200).clone();
    assert_keys(&info, &["sub", "email", "phone_number", "phone_number_verified", "created_at", "factors"], "userinfo");
    assert_eq!(info["sub"], account.user_id.as_str());
    assert_eq!(info["email"], account.email.as_str());
    assert_eq!(info["phone_number"], account.phone.as_str(), "unmasked for the holder");
    assert_eq!(info["phone_number_verified"], true);
    assert_eq!(info["factors"], json!(["phone"]));
    assert!(info["created_at"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));

    stack.get("account", "/me", None).await.expect_invalid_token();
    me(&stack, "not.a.token").await.expect_invalid_token();
    let discovery = stack.get("jwks", "/.well-known/openid-configuration", None).await;
    let issuer = discovery.expect(200)["issuer"].as_str().unwrap().trim_end_matches('/').to_owned();
    assert_eq!(discovery.json["userinfo_endpoint"], format!("{issuer}/me"));
}

#[tokio::test]
async fn change_password_keeps_the_callers_session_and_ends_the_others() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, mine) = stack.register_and_verify(&fake).await;
    let other = stack.login_and_verify(&fake, &account).await;

    stack.change_password(&mine.access_token, "wrong passphrase here", NEW_PASSWORD).await.expect_error(401, "invalid_credentials");
    stack.change_password(&mine.access_token, &account.password, &account.password).await.expect_error(400, "weak_password");
    stack.change_password(&mine.access_token, &account.password, "short").await.expect_error(400, "weak_password");
    stack.change_password("not.a.token", &account.password, NEW_PASSWORD).await.expect_invalid_token();
    let missing =
        stack.post_json_with("account", "/me/password", &json!({}), &[("authorization", &format!("Bearer {}", mine.access_token))]).await;
    missing.expect_error(400, "invalid_request");

    stack.change_password(&mine.access_token, &account.password, NEW_PASSWORD).await.expect(204);
    // The caller's own session goes on, with its access token and its refresh token...
    me(&stack, &mine.access_token).await.expect(200);
    let renewed = Tokens::from_body(stack.refresh(&mine.refresh_token).await.expect(200).clone());
    me(&stack, &renewed.access_token).await.expect(200);
    // ...every other one ends.
    stack.refresh(&other.refresh_token).await.expect_invalid_token();
    me(&stack, &other.access_token).await.expect_invalid_token();
    stack.login(&account.email, &account.password).await.expect_error(401, "invalid_credentials");
    let changed = Account { password: NEW_PASSWORD.into(), ..account.clone() };
    stack.login_challenge(&changed).await;

    // The notification reached the verified phone: no code, no link.
    let messages = fake.messages(&account.phone).await;
    let last = messages.last().unwrap_or_else(|| panic!("no notification to {}", account.phone));
    let text = last["body"].as_str().unwrap();
    assert!(text.contains("password was changed"), "{text}");
    assert!(!text.chars().any(|c| c.is_ascii_digit()) && !text.contains("http"), "{text}");
}

#[tokio::test]
async fn a_wrong_current_password_counts_toward_the_lockout() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, tokens) = stack.register_and_verify(&fake).await;
    for _ in 0..10 {
        stack.change_password(&tokens.access_token, "wrong passphrase here", NEW_PASSWORD).await.expect_error(401, "invalid_credentials");
    }
    let resp = stack.change_password(&tokens.access_token, &account.password, NEW_PASSWORD).await;
    resp.expect_error(429, "rate_limited");
    assert!(resp.retry_after() > 0);
    stack.login(&account.email, &account.password).await.expect_error(429, "rate_limited");

    // A reset clears that window: the user is not locked out after proving the phone.
    let challenge = reset_challenge(&stack, &account).await;
    let code = stack.code_for(&fake, &account.phone).await;
    stack.reset_password(id(&challenge), &code, NEW_PASSWORD).await.expect(204);
    let renewed = Account { password: NEW_PASSWORD.into(), ..account };
    stack.login_challenge(&renewed).await;
}

#[tokio::test]
async fn global_logout_ends_every_session_and_its_access_tokens_at_the_account_routes() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, first) = stack.register_and_verify(&fake).await;
    let second = stack.login_and_verify(&fake, &account).await;

    logout_scope(&stack, &first.refresh_token, "everywhere").await.expect_error(400, "invalid_request");
    logout_scope(&stack, "rt_unknown", "global").await.expect(204);
    logout_scope(&stack, &first.refresh_token, "global").await.expect(204);
    stack.refresh(&first.refresh_token).await.expect_invalid_token();
    stack.refresh(&second.refresh_token).await.expect_invalid_token();
    me(&stack, &first.access_token).await.expect_invalid_token();
    me(&stack, &second.access_token).await.expect_invalid_token();
    stack.change_phone(&second.access_token, &fresh_phone(), &account.password).await.expect_invalid_token();
    // Already revoked: still 204.
    logout_scope(&stack, &first.refresh_token, "global").await.expect(204);
    // A new sign-in works and is not affected.
    let third = stack.login_and_verify(&fake, &account).await;
    me(&stack, &third.access_token).await.expect(200);

    // Local scope (explicit) ends only its own family, as in v1.
    let fourth = stack.login_and_verify(&fake, &account).await;
    logout_scope(&stack, &third.refresh_token, "local").await.expect(204);
    stack.refresh(&third.refresh_token).await.expect_invalid_token();
    stack.refresh(&fourth.refresh_token).await.expect(200);
}

#[tokio::test]
async fn delete_account_leaves_nothing_that_works_and_frees_the_email() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, tokens) = stack.register_and_verify(&fake).await;
    let other = stack.login_and_verify(&fake, &account).await;

    delete_me(&stack, &tokens.access_token, "wrong passphrase here").await.expect_error(401, "invalid_credentials");
    delete_me(&stack, "not.a.token", &account.password).await.expect_invalid_token();
    let headers = [("authorization", format!("Bearer {}", tokens.access_token))];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    stack.request(Method::DELETE, "account", "/me", &headers, Some(b"{}".to_vec())).await.expect_error(415, "unsupported_media_type");

    delete_me(&stack, &tokens.access_token, &account.password).await.expect(204);
    me(&stack, &tokens.access_token).await.expect_invalid_token();
    stack.refresh(&tokens.refresh_token).await.expect_invalid_token();
    stack.refresh(&other.refresh_token).await.expect_invalid_token();
    stack.login(&account.email, &account.password).await.expect_error(401, "invalid_credentials");
    delete_me(&stack, &other.access_token, &account.password).await.expect_invalid_token();

    let messages = fake.messages(&account.phone).await;
    assert!(
        messages.iter().any(|m| m["body"].as_str().unwrap_or_default().contains("account was deleted")),
        "deletion notice: {messages:?}"
    );

    // The email can be registered again (with a new phone).
    let again = Account { phone: fresh_phone(), user_id: String::new(), ..account };
    stack.register(&again).await.expect(201);
}

// The Zitadel CVE-2025-64101 check (a code, never a link) runs on the tight stack, whose codes
// are messages we compose: tests/e2e/tests/tight.rs, step 5 (it registers nobody new).

#[tokio::test]
async fn a_phone_change_is_announced_to_the_old_number() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, tokens) = stack.register_and_verify(&fake).await;
    let new_phone = fresh_phone();
    let challenge = stack.change_phone(&tokens.access_token, &new_phone, &account.password).await.expect(202)["challenge"].clone();
    stack.complete(&fake, &challenge, &new_phone).await;
    let messages = fake.messages(&account.phone).await;
    assert!(
        messages.iter().any(|m| m["body"].as_str().unwrap_or_default().contains("phone number of your account was changed")),
        "notice to the old number: {messages:?}"
    );
}
