//! The OpenID Connect provider over HTTP on the default stack (API.md v3): the SSO cookie the
//! hosted pages' sign-in sets, a code for an app and its tokens, the pages naming the app, CORS
//! for registered origins only, and malformed requests that never answer 5xx. Real relying
//! parties (authlib, openid-client, oidc-client-ts) drive the whole flow in a browser in
//! tests/oidc; the use cases' rules are in shared/tests/oidc.rs.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use e2e::*;
use reqwest::Method;
use serde_json::{json, Value};

const SPA: &str = "example-spa";
const SPA_REDIRECT: &str = "http://127.0.0.1:48213/callback.html";
const SPA_ORIGIN: &str = "http://127.0.0.1:48213";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The default stack, following no redirect: the tests read each `Location`.
fn stack() -> Stack {
    let mut stack = Stack::default_stack();
    stack.client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    stack
}

fn encode(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&format!("{k}={}", percent(v)));
    }
    out
}

fn percent(value: &str) -> String {
    value
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn authorize_query(extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("client_id", SPA),
        ("redirect_uri", SPA_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid email offline_access"),
        ("state", "s-42"),
        ("nonce", "n-42"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    encode(&pairs)
}

/// The value of `name` in a URL's query.
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1.split('#').next()?;
    query.split('&').filter_map(|pair| pair.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| {
        let bytes = v.replace('+', " ");
        let mut out = Vec::new();
        let mut it = bytes.bytes();
        while let Some(b) = it.next() {
            if b == b'%' {
                let hex: String = [it.next().unwrap() as char, it.next().unwrap() as char].iter().collect();
                out.push(u8::from_str_radix(&hex, 16).unwrap());
            } else {
                out.push(b);
            }
        }
        String::from_utf8(out).unwrap()
    })
}

/// Signs up on the hosted pages' routes asking for the SSO cookie: the account and the cookie
/// (`name=value`), after checking its attributes.
async fn signed_in_browser(stack: &Stack, fake: &Fake) -> (Account, String) {
    let (account, challenge) = stack.register_fresh().await;
    let code = stack.code_for(fake, &account.phone).await;
    let resp =
        stack.post_json("verify", "/auth/verify", &json!({ "challenge_id": challenge["id"], "code": code, "sso_cookie": true })).await;
    resp.expect(200);
    let set_cookie: Vec<String> = resp.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let sso = set_cookie.iter().find(|c| c.starts_with("__Host-sms-mfa-sso=")).unwrap_or_else(|| panic!("no SSO cookie: {set_cookie:?}"));
    for attribute in ["; Secure", "; HttpOnly", "; SameSite=Lax", "; Path=/", "; Max-Age=3600"] {
        assert!(sso.contains(attribute), "{sso}");
    }
    assert!(!sso.contains("Domain"), "__Host- cookies name no domain: {sso}");
    assert!(!resp.text.contains(sso.split(';').next().unwrap().split_once('=').unwrap().1), "the value is in the cookie only");
    (account, sso.split(';').next().unwrap().to_owned())
}

async fn authorize(stack: &Stack, query: &str, cookie: Option<&str>) -> Resp {
    let headers: Vec<(&str, &str)> = cookie.map(|c| vec![("cookie", c)]).unwrap_or_default();
    stack.request(Method::GET, "oauth", &format!("/oauth2/authorize?{query}"), &headers, None).await
}

async fn post_form(stack: &Stack, path: &str, body: &str, headers: &[(&str, &str)]) -> Resp {
    let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    stack.request(Method::POST, "oauth", path, &all, Some(body.as_bytes().to_vec())).await
}

fn claims(jwt: &str) -> Value {
    serde_json::from_slice(&B64.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn a_browser_signed_in_on_the_pages_gets_an_app_a_code_and_the_app_its_tokens() {
    let (stack, fake) = (stack(), Fake::from_env());
    // Without the flag the pages' routes set no SSO cookie (API clients are not browsers).
    let (plain, challenge) = stack.register_fresh().await;
    let code = stack.code_for(&fake, &plain.phone).await;
    let resp = stack.verify(challenge["id"].as_str().unwrap(), &code).await;
    assert!(resp.headers.get("set-cookie").is_none(), "{}", resp.describe());

    let (account, cookie) = signed_in_browser(&stack, &fake).await;
    let resp = authorize(&stack, &authorize_query(&[]), Some(&cookie)).await;
    assert_eq!(resp.status, 302, "{}", resp.describe());
    let location = resp.header("location").unwrap();
    assert!(location.starts_with(&format!("{SPA_REDIRECT}?code=oc_")), "{location}");
    assert_eq!(query_param(&location, "state").as_deref(), Some("s-42"));
    assert_eq!(query_param(&location, "iss"), Some(env("E2E_JWT_ISSUER")));
    let code = query_param(&location, "code").unwrap();

    let body = encode(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", SPA_REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", SPA),
    ]);
    let resp = post_form(&stack, "/oauth2/token", &body, &[("origin", SPA_ORIGIN)]).await;
    let tokens = resp.expect(200).clone();
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(resp.header("access-control-allow-origin").as_deref(), Some(SPA_ORIGIN));
    assert_keys(&tokens, &["access_token", "token_type", "expires_in", "id_token", "refresh_token", "scope"], "token response");
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!((id["aud"].as_str(), id["nonce"].as_str(), id["email"].as_str()), (Some(SPA), Some("n-42"), Some(account.email.as_str())));
    assert_eq!(id["sub"].as_str(), Some(account.user_id.as_str()));
    // The access token works where v2 tokens do.
    let access = tokens["access_token"].as_str().unwrap();
    let protected = stack
        .request(Method::GET, "protected", "/protected", &[("authorization", &format!("Bearer {access}")), ("origin", SPA_ORIGIN)], None)
        .await;
    protected.expect(200);
    assert_eq!(protected.header("access-control-allow-origin").as_deref(), Some(SPA_ORIGIN), "the example SPA calls it");
    let me =
        stack.request(Method::GET, "account", "/me", &[("authorization", &format!("Bearer {access}")), ("origin", SPA_ORIGIN)], None).await;
    let me_body = me.expect(200).clone();
    assert_keys(&me_body, &["sub", "email", "email_verified"], "userinfo for scope email");
    assert_eq!(me.header("access-control-allow-origin").as_deref(), Some(SPA_ORIGIN));

    // A replay: invalid_grant, and the first answer's tokens are revoked.
    let replay = post_form(&stack, "/oauth2/token", &body, &[]).await;
    assert_eq!((replay.status, replay.json["error"].as_str()), (400, Some("invalid_grant")), "{}", replay.describe());
    stack.get("account", "/me", Some(access)).await.expect_invalid_token();
}

#[tokio::test]
async fn the_pages_name_the_app_and_an_unsigned_browser_is_sent_to_them() {
    let stack = stack();
    let resp = authorize(&stack, &authorize_query(&[("login_hint", "ada@example.com")]), None).await;
    assert_eq!(resp.status, 302, "{}", resp.describe());
    let location = resp.header("location").unwrap();
    assert!(location.starts_with("/?client_id=example-spa&") && location.ends_with("#signin"), "{location}");
    let page = stack.request(Method::GET, "web", location.split('#').next().unwrap(), &[], None).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("Sign in to continue to <strong>Example SPA</strong>"), "{}", page.text);
    let none = authorize(&stack, &authorize_query(&[("prompt", "none")]), None).await;
    assert_eq!(query_param(&none.header("location").unwrap(), "error").as_deref(), Some("login_required"));
    // Unknown clients and unregistered redirect URIs: a page, no redirect.
    for query in [
        authorize_query(&[]).replace("example-spa", "nobody"),
        authorize_query(&[]).replace("callback.html", "elsewhere.html"),
        "client_id=example-spa".to_owned(),
    ] {
        let resp = authorize(&stack, &query, None).await;
        assert_eq!(resp.status, 400, "{query}: {}", resp.describe());
        assert!(resp.header("location").is_none());
        assert!(resp.header("content-type").unwrap().starts_with("text/html"));
        assert!(resp.header("content-security-policy").unwrap().contains("default-src 'none'"));
    }
}

#[tokio::test]
async fn cors_answers_registered_origins_only() {
    let stack = stack();
    for path in ["/oauth2/token", "/oauth2/revoke", "/me", "/protected", "/.well-known/jwks.json", "/.well-known/openid-configuration"] {
        let allowed =
            stack.request(Method::OPTIONS, "oauth", path, &[("origin", SPA_ORIGIN), ("access-control-request-method", "POST")], None).await;
        assert_eq!(allowed.status, 204, "{path}: {}", allowed.describe());
        assert_eq!(allowed.header("access-control-allow-origin").as_deref(), Some(SPA_ORIGIN), "{path}");
        assert!(allowed.header("access-control-allow-headers").unwrap().contains("authorization"), "{path}");
        for origin in ["https://evil.example.com", "null"] {
            let refused =
                stack.request(Method::OPTIONS, "oauth", path, &[("origin", origin), ("access-control-request-method", "POST")], None).await;
            assert!(refused.headers.keys().all(|k| !k.as_str().starts_with("access-control-")), "{path} {origin}: {}", refused.describe());
        }
    }
    for path in ["/.well-known/jwks.json", "/.well-known/openid-configuration"] {
        let resp = stack.request(Method::GET, "jwks", path, &[("origin", SPA_ORIGIN)], None).await;
        assert_eq!(resp.header("access-control-allow-origin").as_deref(), Some(SPA_ORIGIN), "{path}");
        let resp = stack.request(Method::GET, "jwks", path, &[("origin", "https://evil.example.com")], None).await;
        assert!(resp.header("access-control-allow-origin").is_none(), "{path}");
    }
    let discovery = stack.get("jwks", "/.well-known/openid-configuration", None).await.expect(200).clone();
    let issuer = env("E2E_JWT_ISSUER");
    assert_eq!(discovery["authorization_endpoint"], format!("{issuer}/oauth2/authorize"));
    assert_eq!(discovery["token_endpoint"], format!("{issuer}/oauth2/token"));
    assert_eq!(discovery["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(discovery["authorization_response_iss_parameter_supported"], true);
}

/// RFC 6749's error answers, and no 5xx for anything malformed (API.md: bad input gets a clear
/// error and loses nothing).
#[tokio::test]
async fn malformed_requests_get_the_rfcs_errors_and_never_a_5xx() {
    let stack = stack();
    let secret = env("E2E_AUTHLIB_CLIENT_SECRET");
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("authlib-app:{secret}x")));
    let wrong_secret =
        post_form(&stack, "/oauth2/token", "grant_type=refresh_token&refresh_token=rt_x", &[("authorization", &basic)]).await;
    assert_eq!((wrong_secret.status, wrong_secret.json["error"].as_str()), (401, Some("invalid_client")), "{}", wrong_secret.describe());
    assert!(wrong_secret.header("www-authenticate").unwrap().starts_with("Basic"));
    assert_eq!(wrong_secret.header("cache-control").as_deref(), Some("no-store"));

    for (body, content_type, expected) in [
        ("grant_type=authorization_code&client_id=example-spa", "application/x-www-form-urlencoded", "invalid_request"),
        ("grant_type=password&client_id=example-spa", "application/x-www-form-urlencoded", "unsupported_grant_type"),
        (
            "grant_type=authorization_code&code=oc_nope&redirect_uri=x&code_verifier=y&client_id=example-spa",
            "application/x-www-form-urlencoded",
            "invalid_grant",
        ),
        (
            "grant_type=refresh_token&refresh_token=rt_x&client_id=example-spa&client_id=node-app",
            "application/x-www-form-urlencoded",
            "invalid_request",
        ),
        (r#"{"grant_type":"authorization_code"}"#, "application/json", "invalid_request"),
        ("%zz%%=&&==&grant_type", "application/x-www-form-urlencoded", "invalid_client"),
        ("", "application/x-www-form-urlencoded", "invalid_client"),
    ] {
        let resp =
            stack.request(Method::POST, "oauth", "/oauth2/token", &[("content-type", content_type)], Some(body.as_bytes().to_vec())).await;
        assert!(resp.status == 400 || resp.status == 401, "{body}: {}", resp.describe());
        assert_eq!(resp.json["error"].as_str(), Some(expected), "{body}: {}", resp.describe());
    }
    for body in ["token=rt_x", "token=&client_id=example-spa", "\u{1}\u{2}", "client_id=example-spa&token=x&token=y"] {
        let resp = post_form(&stack, "/oauth2/revoke", body, &[]).await;
        assert!(resp.status < 500, "{body}: {}", resp.describe());
    }
    let not_utf8 = stack
        .request(
            Method::POST,
            "oauth",
            "/oauth2/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            Some(vec![0xff, 0xfe, b'=', 0x80]),
        )
        .await;
    assert_eq!(not_utf8.status, 400, "{}", not_utf8.describe());
    for query in
        ["%zz", "client_id=%ff%fe", "client_id=example-spa&redirect_uri=%", "&&&==", &"a=b&".repeat(2000), "scope=openid&scope=email"]
    {
        let resp = authorize(&stack, query, None).await;
        assert!(resp.status < 500, "{query:.60}: {}", resp.describe());
        let resp =
            stack.request(Method::GET, "oauth", &format!("/oauth2/logout?{query}"), &[("cookie", "__Host-sms-mfa-sso=%%%")], None).await;
        assert!(resp.status == 200 || resp.status == 302, "{query:.60}: {}", resp.describe());
    }
}
