//! Remembered devices over HTTP (API.md v3, "Remembered devices"): `remember_device` on verify,
//! `device_token` on login (tokens at once, nothing sent, rotation), a spent token forgetting its
//! device, bad input that only fails to skip the code, the failed-password limit, the device
//! routes, the hosted pages' cookie, and twenty parallel logins with one token.

use e2e::*;
use serde_json::{json, Value};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

async fn verify_remembering(stack: &Stack, fake: &Fake, challenge: &Value, phone: &str, extra: Value) -> Resp {
    let code = stack.code_for(fake, phone).await;
    let mut body = json!({ "challenge_id": challenge["id"], "code": code, "remember_device": true });
    body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    stack.post_json_with("verify", "/auth/verify", &body, &[("user-agent", UA)]).await
}

/// A fresh account signed up with "remember this device": it, its tokens and the device token.
async fn remembered(stack: &Stack, fake: &Fake) -> (Account, Tokens, String) {
    let (account, challenge) = stack.register_fresh().await;
    let resp = verify_remembering(stack, fake, &challenge, &account.phone, json!({})).await;
    let body = resp.expect(200).clone();
    assert_keys(&body, &["access_token", "token_type", "expires_in", "refresh_token", "user", "device"], "remembered tokens");
    assert_keys(&body["device"], &["id", "token", "expires_in"], "device");
    assert_eq!(body["device"]["expires_in"], 30 * 86400);
    let token = body["device"]["token"].as_str().unwrap().to_owned();
    (account, Tokens::from_body(body), token)
}

async fn login_with(stack: &Stack, account: &Account, password: &str, device_token: Value) -> Resp {
    stack.post_json("login", "/auth/login", &json!({ "email": account.email, "password": password, "device_token": device_token })).await
}

/// A login with `token` that skips the code: the answer, after checking that nothing was sent.
async fn skips(stack: &Stack, fake: &Fake, account: &Account, token: &str) -> Value {
    let sends = fake.sends_to(&account.phone).await;
    let resp = login_with(stack, account, &account.password, json!(token)).await;
    let body = resp.expect(200).clone();
    assert!(body.get("challenge").is_none(), "a challenge instead of tokens: {}", resp.describe());
    assert_eq!(fake.sends_to(&account.phone).await, sends, "nothing is sent");
    assert_eq!(jwt_part(body["access_token"].as_str().unwrap(), 1)["amr"], json!(["pwd", "mfa", "x-remembered-device"]));
    body
}

/// A login with `token` (any JSON) that goes on with a challenge, as without a token.
async fn asks_for_a_code(stack: &Stack, account: &Account, token: Value) {
    let resp = login_with(stack, account, &account.password, token).await;
    let body = resp.expect(200);
    assert!(body["challenge"]["id"].is_string() && body.get("access_token").is_none(), "{}", resp.describe());
}

async fn devices(stack: &Stack, access_token: &str) -> Vec<Value> {
    let resp = stack.get("account", "/me/devices", Some(access_token)).await;
    let body = resp.expect(200);
    assert_keys(body, &["devices"], "GET /me/devices");
    body["devices"].as_array().unwrap().clone()
}

async fn forget(stack: &Stack, access_token: &str, id: &str) -> Resp {
    let auth = format!("Bearer {access_token}");
    stack.request(reqwest::Method::DELETE, "account", &format!("/me/devices/{id}"), &[("authorization", &auth)], None).await
}

#[tokio::test]
async fn a_remembered_device_skips_the_code_rotates_and_a_spent_token_forgets_it() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, tokens, first) = remembered(&stack, &fake).await;
    let listed = devices(&stack, &tokens.access_token).await;
    assert_eq!(listed.len(), 1);
    assert_keys(&listed[0], &["id", "label", "created_at", "last_used_at", "expires_at"], "a device");
    assert_eq!(listed[0]["label"], "Firefox on Linux");

    let body = skips(&stack, &fake, &account, &first).await;
    assert_keys(&body, &["access_token", "token_type", "expires_in", "refresh_token", "user", "device"], "tokens at once");
    assert_eq!(body["device"]["id"], listed[0]["id"], "the same device");
    let second = body["device"]["token"].as_str().unwrap().to_owned();
    assert_ne!(second, first, "the token rotates");
    stack.protected(body["access_token"].as_str().unwrap()).await.expect(200);
    stack.refresh(body["refresh_token"].as_str().unwrap()).await.expect(200);

    // The spent token comes back: a code is asked for, and the device is forgotten.
    asks_for_a_code(&stack, &account, json!(first)).await;
    assert!(devices(&stack, &tokens.access_token).await.is_empty());
    asks_for_a_code(&stack, &account, json!(second)).await;
}

#[tokio::test]
async fn bad_device_tokens_never_fail_a_login_and_passwords_count_as_ever() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (_, _, foreign) = remembered(&stack, &fake).await;
    // Every account's first device is in slot 0: another account's token names the same slot.
    assert!(foreign.starts_with("dv_0."), "{foreign}");
    let bad = [
        json!(null),
        json!(""),
        json!(42),
        json!({ "token": foreign }),
        json!([foreign]),
        json!("dv_"),
        json!("dv_11.abc"),
        json!("rt_".to_owned() + &"A".repeat(43)),
        json!("dv_0.".to_owned() + &"A".repeat(43)),
        json!("x".repeat(8000)),
        json!(foreign),
    ];
    // Each login that asks for a code sends one: at most OTP_SENDS_PER_PHONE (5) per account.
    for chunk in bad.chunks(4) {
        let (account, tokens, _) = remembered(&stack, &fake).await;
        for token in chunk {
            asks_for_a_code(&stack, &account, token.clone()).await;
        }
        assert_eq!(devices(&stack, &tokens.access_token).await.len(), 1, "a bad token forgets nothing");
    }

    // A wrong password with a live token: invalid_credentials, counted; the limit still answers 429.
    let (account, tokens, token) = remembered(&stack, &fake).await;
    for i in 0..10 {
        login_with(&stack, &account, &format!("wrong-password-{i}"), json!(token)).await.expect_error(401, "invalid_credentials");
    }
    login_with(&stack, &account, &account.password, json!(token)).await.expect_error(429, "rate_limited");
    assert_eq!(devices(&stack, &tokens.access_token).await.len(), 1, "nothing above forgot the device");

    // The device routes: a bearer token, and only the caller's own devices.
    stack.get("account", "/me/devices", None).await.expect_invalid_token();
    forget(&stack, &tokens.access_token, "no-such-device").await.expect_error(404, "not_found");
    let (_, other_tokens, _) = remembered(&stack, &fake).await;
    let theirs = devices(&stack, &other_tokens.access_token).await[0]["id"].as_str().unwrap().to_owned();
    forget(&stack, &tokens.access_token, &theirs).await.expect_error(404, "not_found");
    let mine = devices(&stack, &tokens.access_token).await[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(forget(&stack, &tokens.access_token, &mine).await.status, 204);
    assert!(devices(&stack, &tokens.access_token).await.is_empty());
    assert_eq!(devices(&stack, &other_tokens.access_token).await.len(), 1);
    // A verify body with a remember_device that is not a boolean is malformed.
    let challenge = stack.register_fresh().await;
    let code = stack.code_for(&fake, &challenge.0.phone).await;
    let body = json!({ "challenge_id": challenge.1["id"], "code": code, "remember_device": "yes" });
    stack.post_json("verify", "/auth/verify", &body).await.expect_error(400, "invalid_request");
}

#[tokio::test]
async fn a_password_change_forgets_the_device() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, tokens, token) = remembered(&stack, &fake).await;
    let new_password = fresh_password();
    assert_eq!(stack.change_password(&tokens.access_token, &account.password, &new_password).await.status, 204);
    let account = Account { password: new_password, ..account };
    asks_for_a_code(&stack, &account, json!(token)).await;
    assert!(devices(&stack, &tokens.access_token).await.is_empty(), "the caller's session lists no device");
}

#[tokio::test]
async fn the_hosted_pages_keep_the_token_in_an_http_only_cookie() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, challenge) = stack.register_fresh().await;
    let resp = verify_remembering(&stack, &fake, &challenge, &account.phone, json!({ "device_cookie": true })).await;
    let body = resp.expect(200).clone();
    assert_keys(&body["device"], &["id", "expires_in"], "no token in the body");
    let set_cookie = resp.header("set-cookie").unwrap_or_else(|| panic!("no Set-Cookie: {}", resp.describe()));
    let (pair, attributes) = set_cookie.split_once(';').unwrap();
    let (name, token) = pair.split_once('=').unwrap();
    assert_eq!(name, "__Host-sms-mfa-device");
    assert!(token.starts_with("dv_"), "{set_cookie}");
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=2592000"] {
        assert!(attributes.split(';').any(|a| a.trim() == attribute), "{attribute} in {set_cookie}");
    }
    assert!(!attributes.contains("Domain"), "{set_cookie}");

    // The next login of the pages sends the cookie and gets the next one in it.
    let cookie = format!("{name}={token}");
    let login = json!({ "email": account.email, "password": account.password, "device_cookie": true });
    let resp = stack.post_json_with("login", "/auth/login", &login, &[("cookie", &cookie)]).await;
    let body = resp.expect(200).clone();
    assert!(body["access_token"].is_string() && body["device"].get("token").is_none(), "{}", resp.describe());
    resp.assert_not_leaking(token, "spent device token");
    let next = resp.header("set-cookie").unwrap();
    assert!(next.starts_with("__Host-sms-mfa-device=dv_") && !next.contains(token), "{next}");

    // Without `device_cookie` the cookie is not read; with a spent one the pages' cookie is cleared.
    let plain = json!({ "email": account.email, "password": account.password });
    let resp = stack.post_json_with("login", "/auth/login", &plain, &[("cookie", &cookie)]).await;
    assert!(resp.expect(200)["challenge"].is_object() && resp.header("set-cookie").is_none());
    let resp = stack.post_json_with("login", "/auth/login", &login, &[("cookie", &cookie)]).await;
    assert!(resp.expect(200)["challenge"].is_object());
    assert!(resp.header("set-cookie").unwrap().contains("Max-Age=0"), "{}", resp.describe());
}

#[tokio::test]
async fn twenty_parallel_logins_with_one_token_skip_the_code_at_most_once() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, tokens, token) = remembered(&stack, &fake).await;
    let responses = concurrently(20, |_| {
        let (stack, account, token) = (stack.clone(), account.clone(), token.clone());
        async move { login_with(&stack, &account, &account.password, json!(token)).await }
    })
    .await;
    let skipped: Vec<&Resp> = responses.iter().filter(|r| r.status == 200 && r.json["access_token"].is_string()).collect();
    let challenged = responses.iter().filter(|r| r.status == 200 && r.json["challenge"].is_object()).count();
    // The others: a challenge (the token was spent) or 429 (at most 10 password checks at once,
    // the account's code budget).
    for r in &responses {
        assert!(r.status == 200 || (r.status == 429 && r.json["error"] == "rate_limited"), "{}", r.describe());
    }
    assert!(skipped.len() <= 1, "{} logins skipped the code with one token: {:?}", skipped.len(), tally(&responses));
    if let (Some(winner), true) = (skipped.first(), challenged > 0) {
        // The losers presented a spent token: the device, the winner's new token with it, is gone
        // (the login goes on to a challenge, or to 429 now that the losers spent the code budget).
        let again = login_with(&stack, &account, &account.password, winner.json["device"]["token"].clone()).await;
        assert!(again.json.get("access_token").is_none(), "the winner's token still skips: {}", again.describe());
        assert!(devices(&stack, &tokens.access_token).await.is_empty());
    }
}
