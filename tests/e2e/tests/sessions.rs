//! Refresh token rotation, reuse detection, concurrent refreshes and logout.

use e2e::*;
use serde_json::json;

#[tokio::test]
async fn refresh_rotates_the_pair() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, first) = stack.register_and_verify(&fake).await;

    let resp = stack.refresh(&first.refresh_token).await;
    let body = resp.expect(200).clone();
    assert_keys(&body, &["access_token", "token_type", "expires_in", "refresh_token", "user"], "refreshed tokens");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["user"], first.body["user"], "the same user");
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));
    let second = Tokens::from_body(body);
    assert_ne!(second.refresh_token, first.refresh_token, "the refresh token rotates");
    assert_ne!(second.access_token, first.access_token);

    let claims = jwt_part(&second.access_token, 1);
    assert_eq!(claims["sub"], account.user_id.as_str());
    assert_eq!(claims["amr"], jwt_part(&first.access_token, 1)["amr"], "amr is kept across refreshes");
    assert_eq!(claims["sid"], jwt_part(&first.access_token, 1)["sid"], "a refresh stays in its session");
    let me = stack.protected(&second.access_token).await;
    assert_eq!(me.expect(200)["user"]["id"], account.user_id.as_str());

    // The new refresh token rotates in turn.
    let third = Tokens::from_body(stack.refresh(&second.refresh_token).await.expect(200).clone());
    assert_ne!(third.refresh_token, second.refresh_token);
    stack.protected(&third.access_token).await.expect(200);
}

#[tokio::test]
async fn reusing_a_spent_token_revokes_the_family() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (_, first) = stack.register_and_verify(&fake).await;
    let second = Tokens::from_body(stack.refresh(&first.refresh_token).await.expect(200).clone());

    // Past the reuse grace, the spent token is a stolen one.
    tokio::time::sleep(REFRESH_REUSE_GRACE + std::time::Duration::from_secs(1)).await;
    let resp = stack.refresh(&first.refresh_token).await;
    resp.expect_invalid_token();
    resp.assert_not_leaking(&second.refresh_token, "successor token");
    // ...and the whole family is gone, the newer token included.
    stack.refresh(&second.refresh_token).await.expect_invalid_token();
    stack.refresh(&first.refresh_token).await.expect_invalid_token();
}

#[tokio::test]
async fn a_revoked_family_leaves_other_sessions_alone() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, first) = stack.register_and_verify(&fake).await;
    let other = stack.login_and_verify(&fake, &account).await;
    stack.logout(&first.refresh_token).await.expect(204);
    stack.refresh(&first.refresh_token).await.expect_invalid_token();
    let rotated = stack.refresh(&other.refresh_token).await;
    rotated.expect(200);
}

/// Two tabs refreshing the same token at once both get the one successor. (This needs the
/// store's transactions to be serializable, as DynamoDB's are; plain `moto_server`'s are not,
/// which is why scripts/lib.sh runs moto behind scripts/dynamodb_local.py.)
#[tokio::test]
async fn concurrent_refreshes_get_the_same_successor() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (_, first) = stack.register_and_verify(&fake).await;

    let results = concurrently(2, |_| {
        let (stack, token) = (stack.clone(), first.refresh_token.clone());
        async move { stack.refresh(&token).await }
    })
    .await;
    for resp in &results {
        resp.expect(200);
    }
    let a = Tokens::from_body(results[0].json.clone());
    let b = Tokens::from_body(results[1].json.clone());
    assert_eq!(a.refresh_token, b.refresh_token, "two tabs refreshing at once share one successor");
    assert_ne!(a.refresh_token, first.refresh_token);
    stack.protected(&a.access_token).await.expect(200);
    stack.protected(&b.access_token).await.expect(200);

    // The shared successor is a working token of a live family.
    let next = stack.refresh(&a.refresh_token).await;
    let next = Tokens::from_body(next.expect(200).clone());
    stack.protected(&next.access_token).await.expect(200);
}

#[tokio::test]
async fn logout_revokes_and_is_idempotent() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (_, tokens) = stack.register_and_verify(&fake).await;

    let resp = stack.logout(&tokens.refresh_token).await;
    resp.expect(204);
    assert!(resp.text.is_empty(), "204 with a body: {}", resp.describe());
    stack.refresh(&tokens.refresh_token).await.expect_invalid_token();
    stack.logout(&tokens.refresh_token).await.expect(204);

    // Logout of a rotated-away token ends the family too.
    let (_, tokens) = stack.register_and_verify(&fake).await;
    let newer = Tokens::from_body(stack.refresh(&tokens.refresh_token).await.expect(200).clone());
    stack.logout(&tokens.refresh_token).await.expect(204);
    stack.refresh(&newer.refresh_token).await.expect_invalid_token();
}

#[tokio::test]
async fn garbage_refresh_tokens() {
    let stack = Stack::default_stack();
    let garbage = [
        "garbage",
        "",
        "rt_",
        "rt_!!!",
        "rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "eyJhbGciOiJub25lIn0.e30.",
        "rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ];
    for token in garbage {
        stack.logout(token).await.expect(204);
        stack.refresh(token).await.expect_invalid_token();
    }
    // A well-formed token nobody issued.
    let unknown = format!("rt_{}", b64url(&uuid::Uuid::new_v4().as_bytes().repeat(2)));
    stack.logout(&unknown).await.expect(204);
    stack.refresh(&unknown).await.expect_invalid_token();
    // A missing token is a malformed request, not a logout.
    stack.post_json("session", "/auth/logout", &json!({})).await.expect_error(400, "invalid_request");
}
