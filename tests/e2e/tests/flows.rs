//! The happy paths of the contract: sign-up, login with MFA, the protected route, and the
//! access token as a resource server sees it (claims, JWKS, PEM, discovery).

use e2e::*;
use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey, Validation};
use serde_json::Value;

#[track_caller]
fn assert_challenge(challenge: &Value, purpose: &str, phone: &str) {
    // v2: login challenges of phone-only accounts are the v1 shape plus `factor: "phone"`.
    if purpose == "login" {
        assert_keys(challenge, &["id", "purpose", "channel", "to", "expires_in", "factor"], "challenge");
        assert_eq!(challenge["factor"], "phone", "{challenge}");
    } else {
        assert_keys(challenge, &["id", "purpose", "channel", "to", "expires_in"], "challenge");
    }
    let id = challenge["id"].as_str().expect("challenge id");
    assert!(!id.is_empty());
    assert_eq!(challenge["purpose"], purpose, "{challenge}");
    assert_eq!(challenge["channel"], "sms", "{challenge}");
    assert_eq!(challenge["expires_in"], 600, "{challenge}");
    assert_masked(&challenge["to"], phone);
}

#[track_caller]
fn assert_tokens(body: &Value, account: &Account) {
    assert_keys(body, &["access_token", "token_type", "expires_in", "refresh_token", "user"], "tokens");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["access_token"].as_str().is_some_and(|t| t.split('.').count() == 3), "{body}");
    assert!(body["refresh_token"].as_str().is_some_and(|t| t.len() >= 32), "{body}");
    let user = &body["user"];
    assert_keys(user, &["id", "email", "phone", "phone_verified"], "user");
    assert_eq!(user["id"], account.user_id.as_str());
    assert_eq!(user["email"], account.email.as_str());
    assert_eq!(user["phone_verified"], true);
    assert_masked(&user["phone"], &account.phone);
}

#[tokio::test]
async fn signup_then_login_with_mfa_then_protected() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let mut account = Account::fresh();

    // Sign-up: the account and a challenge, and the code goes to the phone.
    let resp = stack.register(&account).await;
    let body = resp.expect(201).clone();
    assert_keys(&body, &["user_id", "challenge"], "register answer");
    account.user_id = body["user_id"].as_str().expect("user_id").to_owned();
    assert!(!account.user_id.is_empty());
    assert_challenge(&body["challenge"], "signup", &account.phone);
    resp.assert_not_leaking(&account.password, "password");
    let sent = fake.latest_verification(&account.phone).await.expect("a code went to the phone");
    assert_eq!((sent["channel"].as_str(), sent["status"].as_str()), (Some("sms"), Some("pending")), "{sent}");
    resp.assert_not_leaking(sent["code"].as_str().unwrap(), "code");
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"), "{}", resp.describe());

    let code = sent["code"].as_str().unwrap();
    let resp = stack.verify(body["challenge"]["id"].as_str().unwrap(), code).await;
    let signup_tokens = resp.expect(200).clone();
    assert_tokens(&signup_tokens, &account);
    resp.assert_not_leaking(code, "code");
    resp.assert_not_leaking(&account.password, "password");
    resp.assert_not_leaking(&account.phone[1..], "phone number");
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));

    // Login: the password step gives a challenge only, never a token.
    let resp = stack.login(&account.email, &account.password).await;
    let body = resp.expect(200).clone();
    assert_keys(&body, &["challenge"], "login answer");
    assert_challenge(&body["challenge"], "login", &account.phone);
    assert!(!resp.text.contains("eyJ"), "login answered something token-like: {}", resp.describe());
    let code = fake.latest_code(&account.phone).await;
    let resp = stack.verify(body["challenge"]["id"].as_str().unwrap(), &code).await;
    let login_tokens = resp.expect(200).clone();
    assert_tokens(&login_tokens, &account);
    assert_ne!(login_tokens["refresh_token"], signup_tokens["refresh_token"]);
    assert_ne!(login_tokens["access_token"], signup_tokens["access_token"]);

    // Both sessions' access tokens open the protected route.
    for tokens in [&signup_tokens, &login_tokens] {
        let resp = stack.protected(tokens["access_token"].as_str().unwrap()).await;
        let body = resp.expect(200);
        assert_keys(body, &["message", "user"], "protected answer");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_keys(&body["user"], &["id", "email"], "protected user");
        assert_eq!(body["user"]["id"], account.user_id.as_str());
        assert_eq!(body["user"]["email"], account.email.as_str());
    }
}

#[tokio::test]
async fn email_is_case_insensitive_at_login() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let mut account = Account::fresh();
    account.email = format!("  {}  ", account.email.to_uppercase());
    let resp = stack.register(&account).await;
    let body = resp.expect(201).clone();
    let tokens = stack.complete(&fake, &body["challenge"], &account.phone).await;
    let stored = account.email.trim().to_lowercase();
    assert_eq!(tokens["user"]["email"], stored.as_str(), "emails are stored trimmed and lowercased");

    let resp = stack.login(&stored, &account.password).await;
    resp.expect(200);
    let resp = stack.register(&Account { email: stored.clone(), ..Account::fresh() }).await;
    resp.expect_error(409, "email_taken");
}

#[tokio::test]
async fn access_token_header_and_claims() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, tokens) = stack.register_and_verify(&fake).await;
    let token = &tokens.access_token;

    let header = jwt_part(token, 0);
    // The default stack signs in KMS with an RSA_2048 key, as the template deploys it.
    assert_eq!(header["alg"], "RS256", "{header}");
    assert_eq!(header["typ"], "at+jwt", "{header}");
    assert!(header["kid"].as_str().is_some_and(|k| !k.is_empty()), "{header}");

    let claims = jwt_part(token, 1);
    for claim in ["iss", "sub", "aud", "exp", "iat", "jti", "amr", "email", "sid"] {
        assert!(claims.get(claim).is_some(), "claim {claim} missing: {claims}");
    }
    assert_eq!(claims["iss"], env("E2E_JWT_ISSUER").as_str(), "{claims}");
    let aud = env("E2E_JWT_AUDIENCE");
    assert!(claims["aud"] == aud.as_str() || claims["aud"].as_array().is_some_and(|a| a.iter().any(|x| x == aud.as_str())), "{claims}");
    assert_eq!(claims["sub"], account.user_id.as_str());
    assert_eq!(claims["email"], account.email.as_str());
    let (exp, iat) = (claims["exp"].as_i64().unwrap(), claims["iat"].as_i64().unwrap());
    assert_eq!(exp - iat, 900, "{claims}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((iat - now).abs() < 120, "iat {iat} is not now ({now})");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    let amr: Vec<&str> = claims["amr"].as_array().expect("amr is an array").iter().filter_map(Value::as_str).collect();
    assert!(amr.contains(&"pwd") && amr.contains(&"sms") && amr.contains(&"mfa"), "amr {amr:?}");
    // No secret or phone in the claims: anyone holding the token can read them.
    let text = claims.to_string();
    assert!(!text.contains(&account.password) && !text.contains(&account.phone[1..]), "{claims}");

    // Every token gets its own jti.
    let again = stack.login_and_verify(&fake, &account).await;
    assert_ne!(jwt_part(&again.access_token, 1)["jti"], claims["jti"]);
    // Every sign-in is a session of its own (`sid`, the refresh-token family).
    assert!(claims["sid"].as_str().is_some_and(|s| !s.is_empty()), "{claims}");
    assert_ne!(jwt_part(&again.access_token, 1)["sid"], claims["sid"]);
}

fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[env("E2E_JWT_ISSUER")]);
    validation.set_audience(&[env("E2E_JWT_AUDIENCE")]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation
}

#[tokio::test]
async fn access_token_verifies_with_the_published_jwks_only() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, tokens) = stack.register_and_verify(&fake).await;

    let resp = stack.get("jwks", "/.well-known/jwks.json", None).await;
    let jwks_doc = resp.expect(200).clone();
    assert!(resp.header("content-type").is_some_and(|c| c.starts_with("application/json")), "{}", resp.describe());
    let keys = jwks_doc["keys"].as_array().expect("keys array");
    assert!(!keys.is_empty());
    for key in keys {
        assert_eq!((key["kty"].as_str(), key["alg"].as_str(), key["use"].as_str()), (Some("RSA"), Some("RS256"), Some("sig")), "{key}");
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()) && key["n"].is_string() && key["e"] == "AQAB", "{key}");
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(key.get(private).is_none(), "the JWKS publishes private member {private}: {key}");
        }
    }
    let set: JwkSet = serde_json::from_value(jwks_doc).expect("the document is a JWK set");
    let kid = jwt_part(&tokens.access_token, 0)["kid"].as_str().unwrap().to_owned();
    let jwk = set.find(&kid).unwrap_or_else(|| panic!("no key {kid} in the JWKS"));
    let key = DecodingKey::from_jwk(jwk).expect("the JWK is a usable key");
    let data = jsonwebtoken::decode::<Value>(&tokens.access_token, &key, &validation()).expect("the token verifies with the JWKS");
    assert_eq!(data.claims["sub"], account.user_id.as_str());

    // A tampered token does not verify with it.
    let mut parts: Vec<String> = tokens.access_token.split('.').map(str::to_owned).collect();
    let mut claims = jwt_part(&tokens.access_token, 1);
    claims["sub"] = "someone-else".into();
    parts[1] = b64url(claims.to_string().as_bytes());
    assert!(jsonwebtoken::decode::<Value>(&parts.join("."), &key, &validation()).is_err());
}

#[tokio::test]
async fn access_token_verifies_with_the_public_key_pem() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, tokens) = stack.register_and_verify(&fake).await;
    // The key as the local KMS gave it to scripts/test.sh, not as the service publishes it.
    let key = DecodingKey::from_rsa_pem(&public_key_pem()).expect("E2E_JWT_PUBLIC_KEY_PEM_FILE is an RSA public key PEM");
    let data = jsonwebtoken::decode::<Value>(&tokens.access_token, &key, &validation()).expect("the token verifies with the PEM");
    assert_eq!(data.claims["email"], account.email.as_str());
}

#[tokio::test]
async fn openid_configuration() {
    let stack = Stack::default_stack();
    let resp = stack.get("jwks", "/.well-known/openid-configuration", None).await;
    let doc = resp.expect(200);
    assert_eq!(doc["issuer"], env("E2E_JWT_ISSUER").as_str(), "{doc}");
    let jwks_uri = doc["jwks_uri"].as_str().expect("jwks_uri");
    assert!(jwks_uri.ends_with("/.well-known/jwks.json") && jwks_uri.starts_with("http"), "{jwks_uri}");
    let algs: Vec<&str> = doc["id_token_signing_alg_values_supported"].as_array().expect("algs").iter().filter_map(Value::as_str).collect();
    assert_eq!(algs, ["RS256"], "exactly the algorithm of the published key");
    let issuer = env("E2E_JWT_ISSUER");
    assert_eq!(doc["userinfo_endpoint"], format!("{issuer}/me").as_str(), "{doc}");
    // {issuer}/.well-known/openid-configuration is reachable where the issuer says (as API
    // Gateway's authorizer fetches it), and its jwks_uri too.
    let client = &stack.client;
    let direct: Value = client.get(format!("{issuer}/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(&direct, doc);
    let jwks: Value = client.get(jwks_uri).send().await.unwrap().json().await.unwrap();
    assert!(jwks["keys"].as_array().is_some_and(|k| !k.is_empty()), "{jwks}");
}

#[tokio::test]
async fn twilio_verify_delivers_other_channels() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let account = Account::fresh();
    let resp = stack
        .post_json(
            "register",
            "/auth/register",
            &serde_json::json!({"email": account.email, "password": account.password, "phone": account.phone, "channel": "call"}),
        )
        .await;
    let challenge = resp.expect(201)["challenge"].clone();
    assert_eq!(challenge["channel"], "call", "{challenge}");
    let sent = fake.latest_verification(&account.phone).await.expect("a verification");
    assert_eq!(sent["channel"], "call", "{sent}");
    let tokens = Tokens::from_body(stack.complete(&fake, &challenge, &account.phone).await);
    let amr = jwt_part(&tokens.access_token, 1)["amr"].clone();
    assert!(amr.as_array().is_some_and(|a| a.iter().any(|m| m == "tel")), "a code by voice call is amr tel: {amr}");

    // Login by WhatsApp.
    let resp = stack
        .post_json(
            "login",
            "/auth/login",
            &serde_json::json!({"email": account.email, "password": account.password, "channel": "whatsapp"}),
        )
        .await;
    let challenge = resp.expect(200)["challenge"].clone();
    assert_eq!(challenge["channel"], "whatsapp");
    assert_eq!(fake.latest_verification(&account.phone).await.unwrap()["channel"], "whatsapp");
    stack.complete(&fake, &challenge, &account.phone).await;
}
