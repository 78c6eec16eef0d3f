//! Phone change: `POST /me/phone` sends a code to the new number, and only verifying that
//! challenge changes the stored phone (on the default stack, codes from Twilio Verify).

use e2e::*;
use serde_json::json;

#[tokio::test]
async fn phone_change_needs_a_token_and_the_password() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, tokens) = stack.register_and_verify(&fake).await;
    let new_phone = fresh_phone();

    let resp = stack.post_json("phone", "/me/phone", &json!({"phone": new_phone, "password": account.password})).await;
    resp.expect_invalid_token();

    let resp = stack.change_phone(&tokens.access_token, &new_phone, "not-the-password").await;
    resp.expect_error(401, "invalid_credentials");
    resp.assert_not_leaking("not-the-password", "password");
    assert!(fake.latest_verification(&new_phone).await.is_none(), "a code went out without the password");

    let resp = stack.change_phone(&tokens.access_token, "+442079460000", &account.password).await;
    resp.expect_error(400, "invalid_phone");
    let resp = stack.change_phone(&tokens.access_token, "12345", &account.password).await;
    resp.expect_error(400, "invalid_phone");
}

#[tokio::test]
async fn phone_changes_only_when_the_new_number_is_verified() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, tokens) = stack.register_and_verify(&fake).await;
    let old_phone = account.phone.clone();
    let new_phone = fresh_phone();
    let old_sends = fake.sends_to(&old_phone).await;

    // The request: 202 and a phone_change challenge to the masked NEW number.
    let resp = stack.change_phone(&tokens.access_token, &new_phone, &account.password).await;
    let body = resp.expect(202).clone();
    assert_keys(&body, &["challenge"], "phone change answer");
    let challenge = body["challenge"].clone();
    assert_keys(&challenge, &["id", "purpose", "channel", "to", "expires_in", "factor"], "challenge");
    assert_eq!(challenge["purpose"], "phone_change");
    assert_eq!(challenge["channel"], "sms");
    assert_eq!(challenge["expires_in"], 600);
    assert_masked(&challenge["to"], &new_phone);
    resp.assert_not_leaking(&account.password, "password");

    // The code went to the new number only.
    let sent = fake.latest_verification(&new_phone).await.expect("a code went to the new number");
    assert_eq!(sent["status"], "pending");
    assert_eq!(fake.sends_to(&new_phone).await, 1);
    assert_eq!(fake.sends_to(&old_phone).await, old_sends, "the old phone got a send");
    let new_code = sent["code"].as_str().unwrap().to_owned();
    resp.assert_not_leaking(&new_code, "code");

    // Until verified, the account keeps the old phone: login sends there and the tokens say so.
    let login = stack.login_challenge(&account).await;
    assert_masked(&login["to"], &old_phone);
    assert_eq!(fake.sends_to(&old_phone).await, old_sends + 1);
    assert_eq!(fake.sends_to(&new_phone).await, 1, "login sent to the new phone before it was verified");
    let before = stack.complete(&fake, &login, &old_phone).await;
    assert_masked(&before["user"]["phone"], &old_phone);
    assert_eq!(before["user"]["phone_verified"], true);

    // A login challenge started now, still bound to the old phone, is finished after the change.
    let pending_login = stack.login_challenge(&account).await;
    let pending_code = fake.latest_code(&old_phone).await;

    // The verify: 200 {user} with the new number, verified.
    let resp = stack.verify(challenge["id"].as_str().unwrap(), &new_code).await;
    let body = resp.expect(200).clone();
    assert_keys(&body, &["user"], "phone change verify answer");
    assert_keys(&body["user"], &["id", "email", "phone", "phone_verified"], "user");
    assert_eq!(body["user"]["id"], account.user_id.as_str());
    assert_eq!(body["user"]["email"], account.email.as_str());
    assert_masked(&body["user"]["phone"], &new_phone);
    assert_eq!(body["user"]["phone_verified"], true);
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none(), "{body}");
    // Single use.
    stack.verify(challenge["id"].as_str().unwrap(), &new_code).await.expect_error(401, "challenge_invalid");

    // A code sent to the number the account no longer has proves nothing.
    let resp = stack.verify(pending_login["id"].as_str().unwrap(), &pending_code).await;
    resp.expect_error(401, "challenge_invalid");

    // Now login sends to the new phone, and the tokens carry it.
    let login = stack.login_challenge(&account).await;
    assert_masked(&login["to"], &new_phone);
    let after = stack.complete(&fake, &login, &new_phone).await;
    assert_masked(&after["user"]["phone"], &new_phone);

    // Access tokens issued before the change stay valid until they expire.
    let me = stack.protected(&tokens.access_token).await;
    assert_eq!(me.expect(200)["user"]["id"], account.user_id.as_str());
    stack.refresh(&tokens.refresh_token).await.expect(200);
}

#[tokio::test]
async fn an_unverified_phone_change_leaves_the_phone_alone() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, tokens) = stack.register_and_verify(&fake).await;
    let new_phone = fresh_phone();
    let challenge = stack.change_phone(&tokens.access_token, &new_phone, &account.password).await.expect(202)["challenge"].clone();
    let code = fake.latest_code(&new_phone).await;
    let resp = stack.verify(challenge["id"].as_str().unwrap(), &wrong_code(&code)).await;
    assert_eq!(resp.expect_error(401, "invalid_code")["attempts_remaining"], 4);

    let after = stack.login_and_verify(&fake, &account).await;
    assert_masked(&after.body["user"]["phone"], &account.phone);
}
