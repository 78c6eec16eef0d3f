//! Roles and administration over HTTP (API.md v3 "Roles and administration"): the first
//! administrator made with `sms-mfa-admin` against the local stack's table, roles in the next
//! token, every admin route with its refusals (403 for a non-admin or revoked admin, 404 for an
//! unknown id, 400 for malformed input and the safety rules), disabled accounts, and the audit
//! lines naming actor and target.

use e2e::*;
use reqwest::Method;
use serde_json::{json, Value};

const USER_KEYS: &[&str] =
    &["id", "email", "phone_number", "phone_number_verified", "created_at", "factors", "roles", "disabled", "last_sign_in_at"];

#[track_caller]
fn assert_cli_ok(output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "sms-mfa-admin failed: {stdout} {}", String::from_utf8_lossy(&output.stderr));
    stdout
}

async fn call(stack: &Stack, method: Method, path: &str, bearer: &str, body: Option<Value>) -> Resp {
    let auth = format!("Bearer {bearer}");
    let mut headers = vec![("authorization", auth.as_str())];
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    stack.request(method, "admin", path, &headers, body.map(|b| b.to_string().into_bytes())).await
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A fresh account made administrator with sms-mfa-admin, and a token that carries the role.
async fn new_admin(stack: &Stack, fake: &Fake) -> (Account, Tokens) {
    let (account, _) = stack.register_and_verify(fake).await;
    assert_cli_ok(&admin_cli(&["grant-role", &account.email, "admin"]));
    let tokens = stack.login_and_verify(fake, &account).await;
    (account, tokens)
}

#[tokio::test]
async fn the_first_administrator_comes_from_the_cli_and_roles_reach_the_next_token() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (ada, first) = stack.register_and_verify(&fake).await;
    assert!(jwt_part(&first.access_token, 1).get("roles").is_none(), "no roles: no claim");
    call(&stack, Method::GET, "/admin/users", &first.access_token, None).await.expect_error(403, "forbidden");

    // An unknown email: non-zero, one line saying so.
    let unknown = admin_cli(&["grant-role", &fresh_email(), "admin"]);
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no account"), "{stderr}");
    assert!(!admin_cli(&["grant-role", &ada.email, "Not A Role"]).status.success());
    assert!(!admin_cli(&["promote", &ada.email, "admin"]).status.success());

    let out = assert_cli_ok(&admin_cli(&["grant-role", &ada.email, "admin"]));
    assert!(out.contains("[admin]"), "{out}");
    // The token issued before says nothing of it: still 403 until the next token.
    call(&stack, Method::GET, "/admin/users", &first.access_token, None).await.expect_error(403, "forbidden");
    let refreshed = Tokens::from_body(stack.refresh(&first.refresh_token).await.expect(200).clone());
    let claims = jwt_part(&refreshed.access_token, 1);
    assert_eq!(claims["roles"], json!(["admin"]));
    assert_eq!(claims["scope"], "role:admin");
    call(&stack, Method::GET, "/admin/users?limit=1", &refreshed.access_token, None).await.expect(200);

    // Revoked: the old token stops at once (the account is read), the next one has no role.
    assert_cli_ok(&admin_cli(&["revoke-role", &ada.email, "admin"]));
    call(&stack, Method::GET, "/admin/users?limit=1", &refreshed.access_token, None).await.expect_error(403, "forbidden");
    let after = Tokens::from_body(stack.refresh(&refreshed.refresh_token).await.expect(200).clone());
    let claims = jwt_part(&after.access_token, 1);
    assert!(claims.get("roles").is_none() && claims.get("scope").is_none(), "{claims}");
}

#[tokio::test]
async fn lookups_pages_and_bad_input() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (_, admin) = new_admin(&stack, &fake).await;
    let (bob, bob_tokens) = stack.register_and_verify(&fake).await;
    let token = admin.access_token.as_str();

    let found = call(&stack, Method::GET, &format!("/admin/users?email={}", encode(&bob.email)), token, None).await;
    let users = found.expect(200)["users"].as_array().unwrap().clone();
    assert_eq!(users.len(), 1, "{}", found.describe());
    assert_keys(&users[0], USER_KEYS, "admin user");
    assert_eq!((users[0]["id"].as_str(), users[0]["phone_number"].as_str()), (Some(bob.user_id.as_str()), Some(bob.phone.as_str())));
    assert_eq!(users[0]["factors"], json!(["phone"]));
    assert_eq!(users[0]["disabled"], false);
    let by_phone = call(&stack, Method::GET, &format!("/admin/users?phone={}", encode(&bob.phone)), token, None).await;
    assert!(by_phone.expect(200)["users"].as_array().unwrap().iter().any(|u| u["id"] == bob.user_id.as_str()));
    let one = call(&stack, Method::GET, &format!("/admin/users/{}", bob.user_id), token, None).await;
    assert_eq!(one.expect(200), &users[0]);

    // Pages: at most what was asked, and a cursor that leads on.
    let page = call(&stack, Method::GET, "/admin/users?limit=2", token, None).await;
    let body = page.expect(200).clone();
    assert!(body["users"].as_array().unwrap().len() <= 2);
    let cursor = body["cursor"].as_str().expect("more than two accounts exist: a cursor").to_owned();
    let next = call(&stack, Method::GET, &format!("/admin/users?limit=2&cursor={}", encode(&cursor)), token, None).await;
    let next_ids: Vec<&Value> = next.expect(200)["users"].as_array().unwrap().iter().map(|u| &u["id"]).collect();
    assert!(body["users"].as_array().unwrap().iter().all(|u| !next_ids.contains(&&u["id"])), "the next page repeats none");

    // Bad input: 400, never 500.
    let forged = b64url(b"u1|+447700900000|../../REFRESH#x");
    let other_family = b64url(b"u1|EMAIL#a@b.co|8d0c7b4e-0000-4000-8000-000000000001");
    for query in [
        "limit=0",
        "limit=61",
        "limit=abc",
        "cursor=!!!",
        &format!("cursor={forged}"),
        &format!("cursor={other_family}"),
        "email=not-an-email",
        "phone=12",
        "email=a%40b.co&phone=%2B447700900000",
        "email=a%40b.co&limit=2",
    ] {
        let resp = call(&stack, Method::GET, &format!("/admin/users?{query}"), token, None).await;
        assert_eq!(resp.status, 400, "{query}: {}", resp.describe());
        assert_error_shape(&resp);
    }
    for (roles, what) in [
        (json!(["Admin"]), "uppercase"),
        (json!([""]), "empty"),
        (json!((0..21).map(|i| format!("r{i}")).collect::<Vec<_>>()), "21 roles"),
        (json!("admin"), "not a list"),
    ] {
        let resp = call(&stack, Method::PUT, &format!("/admin/users/{}/roles", bob.user_id), token, Some(json!({ "roles": roles }))).await;
        resp.expect_error(400, "invalid_request");
        let _ = what;
    }
    for path in [
        format!("/admin/users/{}", uuid::Uuid::new_v4()),
        "/admin/users/not-an-id".into(),
        format!("/admin/users/{}/disable", uuid::Uuid::new_v4()),
    ] {
        let method = if path.ends_with("/disable") { Method::POST } else { Method::GET };
        call(&stack, method, &path, token, None).await.expect_error(404, "not_found");
    }
    // A non-admin token: 403 on every route, whatever the id.
    for (method, path) in [
        (Method::GET, "/admin/users".to_owned()),
        (Method::POST, format!("/admin/users/{}/disable", bob.user_id)),
        (Method::DELETE, format!("/admin/users/{}", uuid::Uuid::new_v4())),
    ] {
        call(&stack, method, &path, &bob_tokens.access_token, None).await.expect_error(403, "forbidden");
    }
    stack.request(Method::GET, "admin", "/admin/users", &[], None).await.expect_invalid_token();
}

#[tokio::test]
async fn roles_disable_enable_sign_out_removal_and_deletion() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (ada, admin) = new_admin(&stack, &fake).await;
    let (bob, bob_tokens) = stack.register_and_verify(&fake).await;
    let token = admin.access_token.as_str();
    let ada_id = jwt_part(token, 1)["sub"].as_str().unwrap().to_owned();
    let bob_path = format!("/admin/users/{}", bob.user_id);

    // Roles: replaced, in bob's next token.
    let set =
        call(&stack, Method::PUT, &format!("{bob_path}/roles"), token, Some(json!({"roles": ["support", "billing", "support"]}))).await;
    assert_eq!(set.expect(200)["roles"], json!(["billing", "support"]));
    let bob_next = Tokens::from_body(stack.refresh(&bob_tokens.refresh_token).await.expect(200).clone());
    assert_eq!(jwt_part(&bob_next.access_token, 1)["scope"], "role:billing role:support");

    // Safety: not oneself.
    let me = format!("/admin/users/{ada_id}");
    call(&stack, Method::POST, &format!("{me}/disable"), token, None).await.expect_error(400, "invalid_request");
    call(&stack, Method::DELETE, &me, token, None).await.expect_error(400, "invalid_request");
    call(&stack, Method::PUT, &format!("{me}/roles"), token, Some(json!({"roles": []}))).await.expect_error(400, "invalid_request");
    let _ = &ada;

    // Disable: the right password learns it, a wrong one does not; every session ends.
    let disabled = call(&stack, Method::POST, &format!("{bob_path}/disable"), token, None).await;
    assert_eq!(disabled.expect(200)["disabled"], true);
    stack.login(&bob.email, &bob.password).await.expect_error(403, "account_disabled");
    stack.login(&bob.email, "a wrong password 123").await.expect_error(401, "invalid_credentials");
    stack.refresh(&bob_next.refresh_token).await.expect_invalid_token();
    stack.get("account", "/me", Some(&bob_next.access_token)).await.expect_invalid_token();

    // Enable: sign-in again, no session back.
    let enabled = call(&stack, Method::POST, &format!("{bob_path}/enable"), token, None).await;
    assert_eq!(enabled.expect(200)["disabled"], false);
    stack.refresh(&bob_next.refresh_token).await.expect_invalid_token();
    let bob_again = stack.login_and_verify(&fake, &bob).await;
    stack.get("account", "/me", Some(&bob_again.access_token)).await.expect(200);

    // Sign-out everywhere.
    let out = call(&stack, Method::POST, &format!("{bob_path}/sign-out"), token, None).await;
    assert_eq!(out.status, 204, "{}", out.describe());
    stack.refresh(&bob_again.refresh_token).await.expect_invalid_token();

    // A lost authenticator (none here: still 204), then deletion.
    assert_eq!(call(&stack, Method::DELETE, &format!("{bob_path}/factors/totp"), token, None).await.status, 204);
    assert_eq!(call(&stack, Method::DELETE, &bob_path, token, None).await.status, 204);
    call(&stack, Method::GET, &bob_path, token, None).await.expect_error(404, "not_found");
    stack.login(&bob.email, &bob.password).await.expect_error(401, "invalid_credentials");

    // Every action an audit line naming actor and target.
    let path = env("E2E_DEFAULT_LOG");
    let mut missing = vec![];
    for _ in 0..50 {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        let has = |event: &str| {
            log.lines().any(|l| {
                l.contains(&format!("\"audit\":\"{event}\"")) && l.contains(&bob.user_id) && l.contains(&format!("\"actor\":\"{ada_id}\""))
            })
        };
        missing =
            ["admin_roles_changed", "admin_disabled", "admin_enabled", "admin_signed_out", "admin_authenticator_removed", "admin_deleted"]
                .into_iter()
                .filter(|e| !has(e))
                .collect::<Vec<_>>();
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(missing.is_empty(), "no audit line for {missing:?}");
}
