//! The OpenID Connect provider's use cases over the in-memory ports, with a clock the tests move
//! (API.md v3, "OpenID Connect provider"): the authorization endpoint's answers, codes bound to
//! everything and redeemable once (a replay revokes what the first use issued), ID tokens,
//! client-bound refresh and revocation, client authentication, the hosted pages' SSO session and
//! every way it ends, and RP-initiated logout. Real relying parties drive the same flow over
//! HTTP in tests/oidc.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use ring::digest;
use secrecy::{ExposeSecret, SecretString};
use sms_mfa::{
    adapters::jwt::TokenKeys,
    config::Limits,
    domain::*,
    ports::Clock,
    ports::{CredentialChange, UserStore},
    testing::{generate_signing_key_pem, memory_ports, CountingHasher, ManualClock, MemoryStore, RecordingEvents, RecordingOtp},
    use_cases::sessions::{SessionService, TokenPair},
    use_cases::*,
    AuthError,
};
use std::{sync::Arc, time::Duration};

const PASSWORD: &str = "correct horse battery";
const SPA_REDIRECT: &str = "http://127.0.0.1:53124/callback";
const WEB_REDIRECT: &str = "https://web.example.com/auth/callback";
const WEB_SECRET: &str = "a-confidential-clients-secret-of-32-bytes-or-more";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

struct World {
    auth: AuthService,
    oauth: OAuthService,
    store: Arc<MemoryStore>,
    otp: Arc<RecordingOtp>,
    clock: Arc<ManualClock>,
    caller: Caller,
}

fn clients() -> OAuthClients {
    let secret_sha256: String =
        digest::digest(&digest::SHA256, WEB_SECRET.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect();
    OAuthClients::parse(&format!(
        r#"[{{"client_id":"spa","name":"The SPA","redirect_uris":["http://127.0.0.1/callback"],"post_logout_redirect_uris":["http://127.0.0.1/signed-out"]}},
            {{"client_id":"web","name":"The Web App","redirect_uris":["{WEB_REDIRECT}"],"client_secret_sha256":"{secret_sha256}"}}]"#
    ))
    .unwrap()
}

fn world() -> World {
    let store = Arc::new(MemoryStore::default());
    let otp = Arc::new(RecordingOtp::default());
    let clock = Arc::new(ManualClock::at(1_900_000_010));
    let keys = Arc::new(
        TokenKeys::from_pem(&generate_signing_key_pem(), None, "https://id.example.com", "aud", Duration::from_secs(900)).unwrap(),
    );
    let events = Arc::new(RecordingEvents::default());
    let sessions =
        || SessionService::new(store.clone(), store.clone(), keys.clone(), Duration::from_secs(86400), clock.clone(), events.clone());
    let sso = || SsoSessions::new(store.clone(), store.clone(), clock.clone(), Duration::from_secs(3600));
    let ports = memory_ports(&store, otp.clone(), Arc::new(CountingHasher::default()), clock.clone(), events.clone());
    let limits = Limits { sends_per_phone: 1000, sends_per_ip_hour: 1000, logins_per_ip_hour: 1000, ..Limits::default() };
    let auth = AuthService::new(ports, sessions(), limits).with_sso(sso());
    let oauth = OAuthService::new(clients(), store.clone(), store.clone(), sso(), sessions(), Duration::from_secs(60));
    World { auth, oauth, store, otp, clock, caller: Caller { source_ip: Some("203.0.113.40".into()) } }
}

/// Signs up on the hosted pages: the tokens and the browser's SSO cookie.
async fn signed_in(w: &World, email: &str, phone: &str) -> (TokenPair, String) {
    let cmd = RegisterCommand {
        email: Email::parse(email).unwrap(),
        password: PasswordPolicy::check(SecretString::from(PASSWORD.to_owned())).unwrap(),
        phone: Phone::parse(phone).unwrap(),
        channel: Channel::Sms,
    };
    let registered = w.auth.register(cmd, &w.caller).await.unwrap();
    let code = w.otp.last_code_to(&Phone::parse(phone).unwrap()).unwrap();
    let verify = VerifyCommand {
        challenge_id: ChallengeId::parse(&registered.challenge.id).unwrap(),
        proof: ChallengeProof::Code(OtpCode::parse(&code).unwrap()),
    };
    let Verified::Tokens(tokens) = w.auth.verify(verify, &w.caller).await.unwrap() else { panic!("expected tokens") };
    let cookie = w.auth.begin_sso(&tokens).await.expect("an SSO session").value;
    (tokens, cookie)
}

/// An administrator's disable, as the admin API writes it: one credential change with `disable`.
async fn disable(w: &World, user: &User) {
    let event = LifecycleEvent::new(&user.id, LifecycleChange::UserDisabled, w.clock.now());
    let change = CredentialChange {
        user,
        new_password_hash: None,
        consume: None,
        clear_limit: None,
        revoke_families: &[],
        revoked_until: w.clock.now() + 3600,
        now: w.clock.now(),
        keep_session: None,
        disable: true,
        event: &event,
    };
    assert!(w.store.update_credentials(&change).await.unwrap());
}

fn params(pairs: &[(&str, &str)]) -> OAuthParams {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    OAuthParams::parse(&out.finish())
}

/// An authorization request of the SPA, with `extra` pairs replacing or adding to the defaults.
fn authorization(extra: &[(&str, &str)]) -> OAuthParams {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("client_id", "spa"),
        ("redirect_uri", SPA_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid email phone offline_access"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        pairs.retain(|(name, _)| name != k);
        if !v.is_empty() {
            pairs.push((k, v));
        }
    }
    params(&pairs)
}

fn query_of(location: &str) -> Vec<(String, String)> {
    let query = location.split_once('?').map(|(_, q)| q.split('#').next().unwrap()).unwrap_or("");
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The redirect an authorization answers, or a panic.
async fn redirected(w: &World, request: &OAuthParams, cookie: Option<&str>) -> String {
    match w.oauth.authorize(request, cookie).await.unwrap() {
        BrowserAnswer::Redirect(location) => location,
        other => panic!("expected a redirect, got {other:?}"),
    }
}

/// A code for the SPA from a signed-in browser.
async fn code_for(w: &World, cookie: &str, extra: &[(&str, &str)]) -> String {
    let location = redirected(w, &authorization(extra), Some(cookie)).await;
    assert!(location.starts_with("http://127.0.0.1:53124/callback?"), "{location}");
    param(&query_of(&location), "code").expect("a code").to_owned()
}

fn redeem_params(code: &str) -> OAuthParams {
    params(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", SPA_REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", "spa"),
    ])
}

fn claims_of(jwt: &str) -> serde_json::Value {
    serde_json::from_slice(&B64.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

fn oauth_error(result: Result<impl std::fmt::Debug, AuthError>) -> OAuthErrorCode {
    match result {
        Err(AuthError::OAuth(err)) => err.code,
        other => panic!("expected an OAuth error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_signed_in_browser_gets_a_code_and_the_app_its_tokens() {
    let w = world();
    let (_, cookie) = signed_in(&w, "ada@example.com", "+447711900101").await;
    let auth_time = w.clock.now();
    w.clock.advance(5);
    let location = redirected(&w, &authorization(&[]), Some(&cookie)).await;
    let query = query_of(&location);
    assert_eq!(param(&query, "state"), Some("st-1"));
    assert_eq!(param(&query, "iss"), Some("https://id.example.com"));
    let code = param(&query, "code").unwrap();
    assert!(code.len() >= 43, "at least 128 random bits: {code}");

    let tokens = w.oauth.token(&redeem_params(code), None).await.unwrap();
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.scope, "email offline_access openid phone");
    assert!(tokens.refresh_token.is_some(), "offline_access grants a refresh token");
    let id = claims_of(tokens.id_token.as_deref().unwrap());
    assert_eq!((id["iss"].as_str(), id["aud"].as_str(), id["azp"].as_str()), (Some("https://id.example.com"), Some("spa"), Some("spa")));
    assert_eq!((id["nonce"].as_str(), id["auth_time"].as_i64()), (Some("n-1"), Some(auth_time)));
    assert_eq!(id["email"], "ada@example.com");
    assert_eq!(id["email_verified"], false);
    assert_eq!((id["phone_number"].as_str(), id["phone_number_verified"].as_bool()), (Some("+447711900101"), Some(true)));
    assert_eq!(id["amr"], serde_json::json!(["pwd", "sms", "mfa"]));
    assert!(id["sid"].as_str().is_some_and(|sid| !sid.is_empty() && !cookie.contains(sid)));
    // The access token is the v2 one plus client_id and scope: the account routes take it.
    let access = claims_of(&tokens.access_token);
    assert_eq!((access["aud"].as_str(), access["client_id"].as_str()), (Some("aud"), Some("spa")));
    assert_eq!(access["scope"], "email offline_access openid phone");
    let holder = w.auth.holder(&tokens.access_token).await.unwrap();
    let Me::Client(me) = w.auth.me(&holder).await.unwrap() else { panic!("an app's token sees the scoped claims") };
    assert_eq!((me.profile.email.as_deref(), me.profile.phone_number.as_deref()), (Some("ada@example.com"), Some("+447711900101")));
    // UserSignedIn names the client, in the same write as the session.
    let signed_in =
        w.store.outbox().into_iter().filter(|e| e.change == LifecycleChange::SignedIn { client_id: Some("spa".into()) }).count();
    assert_eq!(signed_in, 1);
}

#[tokio::test]
async fn scopes_limit_the_id_token_and_userinfo_and_without_offline_access_no_refresh_token() {
    let w = world();
    let (_, cookie) = signed_in(&w, "bo@example.com", "+447711900102").await;
    let code = code_for(&w, &cookie, &[("scope", "openid")]).await;
    let tokens = w.oauth.token(&redeem_params(&code), None).await.unwrap();
    assert!(tokens.refresh_token.is_none());
    let id = claims_of(tokens.id_token.as_deref().unwrap());
    assert!(id.get("email").is_none() && id.get("phone_number").is_none(), "{id}");
    let holder = w.auth.holder(&tokens.access_token).await.unwrap();
    let me = serde_json::to_value(w.auth.me(&holder).await.unwrap()).unwrap();
    assert_eq!(me.as_object().unwrap().keys().collect::<Vec<_>>(), ["sub"], "{me}");
}

#[tokio::test]
async fn a_code_is_redeemed_once_and_a_replay_revokes_what_the_first_use_issued() {
    let w = world();
    let (_, cookie) = signed_in(&w, "cy@example.com", "+447711900103").await;
    let code = code_for(&w, &cookie, &[]).await;
    let first = w.oauth.token(&redeem_params(&code), None).await.unwrap();
    assert!(w.auth.holder(&first.access_token).await.is_ok());
    assert_eq!(oauth_error(w.oauth.token(&redeem_params(&code), None).await), OAuthErrorCode::InvalidGrant);
    // The first answer may be in someone else's hands: its tokens no longer work.
    assert!(w.auth.holder(&first.access_token).await.is_err());
    let refresh =
        params(&[("grant_type", "refresh_token"), ("refresh_token", first.refresh_token.as_deref().unwrap()), ("client_id", "spa")]);
    assert_eq!(oauth_error(w.oauth.token(&refresh, None).await), OAuthErrorCode::InvalidGrant);
}

#[tokio::test]
async fn a_code_is_bound_to_its_verifier_redirect_client_and_lifetime() {
    let w = world();
    let (_, cookie) = signed_in(&w, "di@example.com", "+447711900104").await;
    let wrong_verifier = params(&[
        ("grant_type", "authorization_code"),
        ("code", &code_for(&w, &cookie, &[]).await),
        ("redirect_uri", SPA_REDIRECT),
        ("code_verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"),
        ("client_id", "spa"),
    ]);
    assert_eq!(oauth_error(w.oauth.token(&wrong_verifier, None).await), OAuthErrorCode::InvalidGrant);
    let other_port = params(&[
        ("grant_type", "authorization_code"),
        ("code", &code_for(&w, &cookie, &[]).await),
        ("redirect_uri", "http://127.0.0.1:9/callback"),
        ("code_verifier", VERIFIER),
        ("client_id", "spa"),
    ]);
    assert_eq!(oauth_error(w.oauth.token(&other_port, None).await), OAuthErrorCode::InvalidGrant);
    let spa_code = code_for(&w, &cookie, &[]).await;
    let by_web = params(&[
        ("grant_type", "authorization_code"),
        ("code", &spa_code),
        ("redirect_uri", SPA_REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", "web"),
        ("client_secret", WEB_SECRET),
    ]);
    assert_eq!(oauth_error(w.oauth.token(&by_web, None).await), OAuthErrorCode::InvalidGrant);
    let late = code_for(&w, &cookie, &[]).await;
    w.clock.advance(61);
    assert_eq!(oauth_error(w.oauth.token(&redeem_params(&late), None).await), OAuthErrorCode::InvalidGrant);
    let unknown = redeem_params("oc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(oauth_error(w.oauth.token(&unknown, None).await), OAuthErrorCode::InvalidGrant);
}

#[tokio::test]
async fn requests_that_cannot_say_where_to_go_get_a_page_and_the_rest_an_error_redirect() {
    let w = world();
    let (_, cookie) = signed_in(&w, "ed@example.com", "+447711900105").await;
    for request in [
        authorization(&[("client_id", "nobody")]),
        authorization(&[("client_id", "")]),
        authorization(&[("redirect_uri", "http://127.0.0.1:53124/elsewhere")]),
        authorization(&[("redirect_uri", "https://evil.example.com/callback")]),
        authorization(&[("redirect_uri", "")]),
        params(&[("client_id", "spa"), ("client_id", "web"), ("redirect_uri", SPA_REDIRECT)]),
    ] {
        assert!(matches!(w.oauth.authorize(&request, Some(&cookie)).await.unwrap(), BrowserAnswer::ErrorPage(_)), "{request:?}");
    }
    for (extra, error) in [
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("scope", "email")], "invalid_scope"),
        (vec![("scope", "openid profile")], "invalid_scope"),
        (vec![("response_type", "token")], "unsupported_response_type"),
        (vec![("response_type", "")], "invalid_request"),
        (vec![("request", "eyJ.x.y")], "request_not_supported"),
        (vec![("max_age", "soon")], "invalid_request"),
        (vec![("prompt", "consent")], "invalid_request"),
    ] {
        let location = redirected(&w, &authorization(&extra), Some(&cookie)).await;
        let query = query_of(&location);
        assert!(location.starts_with(SPA_REDIRECT), "{location}");
        assert_eq!(param(&query, "error"), Some(error), "{extra:?}");
        assert_eq!((param(&query, "state"), param(&query, "iss")), (Some("st-1"), Some("https://id.example.com")));
        assert!(param(&query, "code").is_none());
    }
}

#[tokio::test]
async fn without_a_session_the_pages_sign_in_unless_prompt_none() {
    let w = world();
    let location = redirected(&w, &authorization(&[("login_hint", "ada@example.com")]), None).await;
    assert!(location.starts_with("/?") && location.ends_with("#signin"), "{location}");
    let query = query_of(&location);
    assert_eq!((param(&query, "client_id"), param(&query, "login_hint")), (Some("spa"), Some("ada@example.com")));
    let none = redirected(&w, &authorization(&[("prompt", "none")]), None).await;
    assert_eq!(param(&query_of(&none), "error"), Some("login_required"));
    let garbage = redirected(&w, &authorization(&[("prompt", "none")]), Some("sso_not-a-session")).await;
    assert_eq!(param(&query_of(&garbage), "error"), Some("login_required"));

    // prompt=login and an exceeded max_age send a signed-in browser to the pages again; the
    // pages then come back without them.
    let (_, cookie) = signed_in(&w, "fa@example.com", "+447711900106").await;
    w.clock.advance(120);
    for extra in [vec![("prompt", "login")], vec![("max_age", "60")]] {
        let location = redirected(&w, &authorization(&extra), Some(&cookie)).await;
        assert!(location.starts_with("/?"), "{extra:?}: {location}");
        let query = query_of(&location);
        assert!(param(&query, "prompt").is_none() && param(&query, "max_age").is_none(), "{location}");
    }
    assert!(code_for(&w, &cookie, &[("max_age", "600")]).await.starts_with("oc_"));
}

#[tokio::test]
async fn the_sso_session_ends_with_every_credential_change_a_disable_and_its_lifetime() {
    let w = world();
    let w = &w;
    let ends = |cookie: String| async move {
        let location = redirected(w, &authorization(&[("prompt", "none")]), Some(&cookie)).await;
        param(&query_of(&location), "error").map(str::to_owned)
    };

    // A password change (even from the session's own tokens).
    let (tokens, cookie) = signed_in(w, "ga@example.com", "+447711900107").await;
    assert_eq!(ends(cookie.clone()).await, None);
    let holder = w.auth.holder(&tokens.access_token).await.unwrap();
    let change = ChangePasswordCommand {
        current_password: Password::for_check(SecretString::from(PASSWORD.to_owned())).unwrap(),
        new_password: PasswordPolicy::check(SecretString::from("another long passphrase".to_owned())).unwrap(),
    };
    w.auth.change_password(&holder, change, &w.caller).await.unwrap();
    assert_eq!(ends(cookie).await.as_deref(), Some("login_required"));

    // A global logout.
    let (tokens, cookie) = signed_in(w, "ha@example.com", "+447711900108").await;
    w.auth.sessions().logout_everywhere(tokens.refresh_token.expose_secret()).await.unwrap();
    assert_eq!(ends(cookie).await.as_deref(), Some("login_required"));

    // An administrator's disable (one credential change with `disable`).
    let (tokens, cookie) = signed_in(w, "ia@example.com", "+447711900109").await;
    let user = w.store.get(&UserId(tokens.user.id.clone())).await.unwrap().unwrap();
    disable(w, &user).await;
    assert_eq!(ends(cookie).await.as_deref(), Some("login_required"));

    // The account's deletion.
    let (tokens, cookie) = signed_in(w, "ja@example.com", "+447711900110").await;
    let holder = w.auth.holder(&tokens.access_token).await.unwrap();
    w.auth.delete_account(&holder, &Password::for_check(SecretString::from(PASSWORD.to_owned())).unwrap(), &w.caller).await.unwrap();
    assert_eq!(ends(cookie).await.as_deref(), Some("login_required"));

    // Its lifetime.
    let (_, cookie) = signed_in(w, "ka@example.com", "+447711900111").await;
    w.clock.advance(3601);
    assert_eq!(ends(cookie).await.as_deref(), Some("login_required"));
}

#[tokio::test]
async fn a_code_issued_before_a_disable_gets_no_tokens() {
    let w = world();
    let (tokens, cookie) = signed_in(&w, "la@example.com", "+447711900112").await;
    let code = code_for(&w, &cookie, &[]).await;
    let user = w.store.get(&UserId(tokens.user.id.clone())).await.unwrap().unwrap();
    w.clock.advance(1);
    disable(&w, &user).await;
    assert_eq!(oauth_error(w.oauth.token(&redeem_params(&code), None).await), OAuthErrorCode::InvalidGrant);
}

#[tokio::test]
async fn refresh_tokens_rotate_for_their_own_client_only() {
    let w = world();
    let (v2_tokens, cookie) = signed_in(&w, "ma@example.com", "+447711900113").await;
    let code = code_for(&w, &cookie, &[]).await;
    let first = w.oauth.token(&redeem_params(&code), None).await.unwrap();
    let presented = first.refresh_token.clone().unwrap();
    let refresh = |token: &str, client: &str, scope: Option<&str>| {
        let mut pairs = vec![("grant_type", "refresh_token"), ("refresh_token", token), ("client_id", client)];
        if client == "web" {
            pairs.push(("client_secret", WEB_SECRET));
        }
        if let Some(scope) = scope {
            pairs.push(("scope", scope));
        }
        params(&pairs)
    };
    assert_eq!(oauth_error(w.oauth.token(&refresh(&presented, "web", None), None).await), OAuthErrorCode::InvalidGrant);
    assert_eq!(oauth_error(w.oauth.token(&refresh(&presented, "spa", Some("openid profile")), None).await), OAuthErrorCode::InvalidScope);
    let narrower = w.oauth.token(&refresh(&presented, "spa", Some("openid email")), None).await.unwrap();
    assert_eq!(narrower.scope, "email openid");
    assert!(narrower.id_token.is_none());
    assert_eq!(claims_of(&narrower.access_token)["scope"], "email openid");
    let next = narrower.refresh_token.clone().unwrap();
    // The refresh token keeps the grant: the next refresh may have everything again.
    assert_eq!(w.oauth.token(&refresh(&next, "spa", None), None).await.unwrap().scope, "email offline_access openid phone");
    // The v2 route refuses an app's token, and the token endpoint the pages' tokens.
    assert!(w.auth.sessions().refresh(&next).await.is_err());
    let v2 = v2_tokens.refresh_token.expose_secret();
    assert_eq!(oauth_error(w.oauth.token(&refresh(v2, "spa", None), None).await), OAuthErrorCode::InvalidGrant);
}

#[tokio::test]
async fn revocation_ends_the_clients_own_family_and_answers_the_same_for_anything_else() {
    let w = world();
    let (_, cookie) = signed_in(&w, "na@example.com", "+447711900114").await;
    let tokens = w.oauth.token(&redeem_params(&code_for(&w, &cookie, &[]).await), None).await.unwrap();
    let token = tokens.refresh_token.unwrap();
    // Another client's revocation of it, and garbage: fine, and nothing happens.
    w.oauth.revoke(&params(&[("token", &token), ("client_id", "web"), ("client_secret", WEB_SECRET)]), None).await.unwrap();
    w.oauth.revoke(&params(&[("token", "rt_garbage"), ("client_id", "spa")]), None).await.unwrap();
    assert!(w.auth.holder(&tokens.access_token).await.is_ok());
    w.oauth.revoke(&params(&[("token", &token), ("token_type_hint", "refresh_token"), ("client_id", "spa")]), None).await.unwrap();
    let refresh = params(&[("grant_type", "refresh_token"), ("refresh_token", &token), ("client_id", "spa")]);
    assert_eq!(oauth_error(w.oauth.token(&refresh, None).await), OAuthErrorCode::InvalidGrant);
    assert!(w.auth.holder(&tokens.access_token).await.is_err(), "its access tokens end with the family");
}

#[tokio::test]
async fn clients_authenticate_as_their_kind_requires() {
    let w = world();
    let grant = |extra: &[(&str, &str)]| {
        let mut pairs = vec![("grant_type", "refresh_token"), ("refresh_token", "rt_none")];
        pairs.extend_from_slice(extra);
        params(&pairs)
    };
    let basic = |id: &str, secret: &str| BasicCredentials { client_id: id.into(), secret: secret.into() };
    // Authenticated: the grant is then judged (an unknown refresh token).
    for (request, creds) in [
        (grant(&[("client_id", "web"), ("client_secret", WEB_SECRET)]), None),
        (grant(&[]), Some(basic("web", WEB_SECRET))),
        (grant(&[("client_id", "spa")]), None),
    ] {
        assert_eq!(oauth_error(w.oauth.token(&request, creds.as_ref()).await), OAuthErrorCode::InvalidGrant);
    }
    for (request, creds) in [
        (grant(&[("client_id", "web")]), None),
        (grant(&[("client_id", "web"), ("client_secret", "wrong")]), None),
        (grant(&[]), Some(basic("web", "wrong"))),
        (grant(&[("client_id", "nobody")]), None),
        (grant(&[]), None),
        (grant(&[("client_id", "spa"), ("client_secret", "anything")]), None),
    ] {
        assert_eq!(oauth_error(w.oauth.token(&request, creds.as_ref()).await), OAuthErrorCode::InvalidClient, "{request:?}");
    }
    let both = grant(&[("client_secret", WEB_SECRET)]);
    assert_eq!(oauth_error(w.oauth.token(&both, Some(&basic("web", WEB_SECRET))).await), OAuthErrorCode::InvalidRequest);
    let unsupported = params(&[("grant_type", "password"), ("client_id", "spa")]);
    assert_eq!(oauth_error(w.oauth.token(&unsupported, None).await), OAuthErrorCode::UnsupportedGrantType);
    let missing = params(&[("grant_type", "authorization_code"), ("client_id", "spa")]);
    assert_eq!(oauth_error(w.oauth.token(&missing, None).await), OAuthErrorCode::InvalidRequest);
}

#[tokio::test]
async fn logout_ends_the_session_and_returns_only_to_a_registered_uri() {
    let w = world();
    let (_, cookie) = signed_in(&w, "oa@example.com", "+447711900115").await;
    let back = params(&[("client_id", "spa"), ("post_logout_redirect_uri", "http://127.0.0.1:53124/signed-out"), ("state", "bye")]);
    match w.oauth.logout(&back, Some(&cookie)).await.unwrap() {
        BrowserAnswer::Redirect(location) => assert_eq!(location, "http://127.0.0.1:53124/signed-out?state=bye"),
        other => panic!("{other:?}"),
    }
    let none = redirected(&w, &authorization(&[("prompt", "none")]), Some(&cookie)).await;
    assert_eq!(param(&query_of(&none), "error"), Some("login_required"));
    for request in [
        params(&[("client_id", "spa"), ("post_logout_redirect_uri", "https://evil.example.com/")]),
        params(&[("client_id", "web"), ("post_logout_redirect_uri", "http://127.0.0.1:53124/signed-out")]),
        params(&[("post_logout_redirect_uri", "http://127.0.0.1:53124/signed-out")]),
        params(&[]),
    ] {
        assert_eq!(w.oauth.logout(&request, None).await.unwrap(), BrowserAnswer::SignedOut, "{request:?}");
    }
}
