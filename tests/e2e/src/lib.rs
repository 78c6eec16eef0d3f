//! Harness of the end-to-end tests: the functions served by `cargo lambda watch` behind the local
//! router (tests/local-router: template.yaml's routes on their deployed paths, with the caller's
//! address as `sourceIp`), reached over HTTP exactly as a client would, and the Twilio fake's
//! control API to read the codes "sent".
//!
//! `scripts/test.sh` starts everything and sets the environment; without it every test fails
//! with a message saying so (never a silent pass).
//!
//! The tests share two stacks and the fake and run in parallel, so each one works on its own
//! fresh email and phone number. Fault injection in the fake affects every request of both
//! stacks: tests doing it hold [`fault_lock`] and a [`FaultGuard`].

use reqwest::{header::HeaderMap, Method};
use serde_json::{json, Value};
use std::{
    collections::BTreeSet,
    future::Future,
    sync::{
        atomic::{AtomicU32, Ordering},
        OnceLock,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

pub use serde_json;

/// Every request of the tests: long enough for a function's cold start, short enough that a
/// hang fails the test instead of stalling the suite.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// The contract's body limit.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// `REUSE_GRACE` of shared/src/sessions.rs.
pub const REFRESH_REUSE_GRACE: Duration = Duration::from_secs(10);

const RUN_SCRIPT: &str = "run the end-to-end tests with scripts/test.sh (it starts moto, the Twilio fake and \
     two `cargo lambda watch` stacks, then sets E2E_URL, E2E_TIGHT_URL, TWILIO_FAKE_URL, E2E_JWT_*)";

/// An environment variable that scripts/test.sh sets; a clear failure when it is missing.
pub fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value.trim().to_owned(),
        _ => panic!("{name} is not set: {RUN_SCRIPT}"),
    }
}

/// A new client for each stack or fake handle: never one shared by all tests, since every
/// `#[tokio::test]` has its own runtime, and a pooled connection dies with the runtime that
/// opened it ("dispatch task is gone" in another test).
fn client() -> reqwest::Client {
    // reqwest is built without a crypto provider (one TLS stack: rustls on ring).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(CLIENT_TIMEOUT).build().expect("reqwest client builds")
}

/// `sms-mfa-admin <args>` as the README shows it for the local stack: the stack's env file
/// (TABLE_NAME, the local DynamoDB endpoint, dummy credentials) as the environment.
pub fn admin_cli(args: &[&str]) -> std::process::Output {
    let env_file = env("E2E_DEFAULT_ENV_FILE");
    let text = std::fs::read_to_string(&env_file).unwrap_or_else(|e| panic!("{env_file}: {e}"));
    let mut command = std::process::Command::new(env("E2E_ADMIN_BIN"));
    command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).args(args);
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if let Some((key, value)) = line.split_once('=') {
            command.env(key.trim(), value.trim().trim_matches('"').trim_matches('\''));
        }
    }
    command.output().expect("sms-mfa-admin runs")
}

// ------------------------------------------------------------------------------------------------
// Responses

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    /// The body as JSON, `Value::Null` when it is empty or not JSON.
    pub json: Value,
    /// What was asked, for failure messages.
    pub what: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    /// The response, for an assertion message.
    pub fn describe(&self) -> String {
        format!("{} -> HTTP {} {}", self.what, self.status, self.text)
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "unexpected status: {}", self.describe());
        &self.json
    }

    /// Asserts a contract error: the status, `error`, and a body of exactly `{error, message}`
    /// (plus `attempts_remaining` for `invalid_code`) with a non-empty message.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> &Value {
        assert_eq!((self.status, self.json["error"].as_str()), (status, Some(code)), "expected {status} {code}: {}", self.describe());
        assert_error_shape(self);
        &self.json
    }

    /// `Retry-After` as whole seconds; asserts it is present and valid.
    #[track_caller]
    pub fn retry_after(&self) -> u64 {
        let value = self.header("retry-after").unwrap_or_else(|| panic!("no Retry-After: {}", self.describe()));
        value.trim().parse().unwrap_or_else(|_| panic!("Retry-After {value:?} is not seconds: {}", self.describe()))
    }

    /// Asserts `401 invalid_token` with `WWW-Authenticate: Bearer error="invalid_token"`.
    #[track_caller]
    pub fn expect_invalid_token(&self) {
        self.expect_error(401, "invalid_token");
        let challenge = self.header("www-authenticate").unwrap_or_default();
        assert_eq!(challenge, r#"Bearer error="invalid_token""#, "WWW-Authenticate of {}", self.describe());
    }

    /// Asserts that `secret` appears nowhere in the response (body or headers).
    #[track_caller]
    pub fn assert_not_leaking(&self, secret: &str, what: &str) {
        assert!(!secret.is_empty());
        assert!(!self.text.contains(secret), "the response contains the {what}: {}", self.describe());
        for (name, value) in &self.headers {
            let value = value.to_str().unwrap_or_default();
            assert!(!value.contains(secret), "header {name} contains the {what}: {}", self.describe());
        }
    }
}

/// What no response may ever contain, whatever the route and outcome: a password hash, a
/// private key, the (fake) Twilio credentials.
#[track_caller]
pub fn assert_no_secrets(resp: &Resp) {
    for (secret, what) in [("$argon2", "a password hash"), ("PRIVATE KEY", "a private key"), ("fake-auth-token", "the Twilio auth token")] {
        assert!(!resp.text.contains(secret), "the response contains {what}: {}", resp.describe());
    }
}

/// Every error body is exactly `{error, message}` (and `attempts_remaining` for `invalid_code`),
/// JSON, with a snake_case code and a message a person can read.
#[track_caller]
pub fn assert_error_shape(resp: &Resp) {
    let body = resp.json.as_object().unwrap_or_else(|| panic!("error body is not a JSON object: {}", resp.describe()));
    let keys: BTreeSet<&str> = body.keys().map(String::as_str).collect();
    let code = body.get("error").and_then(Value::as_str).unwrap_or_default();
    let expected: BTreeSet<&str> =
        if code == "invalid_code" { ["error", "message", "attempts_remaining"].into() } else { ["error", "message"].into() };
    assert_eq!(keys, expected, "error body keys: {}", resp.describe());
    assert!(
        !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "error code is not snake_case: {}",
        resp.describe()
    );
    let message = body["message"].as_str().unwrap_or_default();
    assert!(!message.trim().is_empty(), "empty error message: {}", resp.describe());
    if code == "invalid_code" {
        assert!(body["attempts_remaining"].is_u64(), "attempts_remaining is not a count: {}", resp.describe());
    }
    let content_type = resp.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("application/json"), "error content type {content_type:?}: {}", resp.describe());
}

/// The keys of a JSON object, for exact-shape assertions.
pub fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

#[track_caller]
pub fn assert_keys(value: &Value, expected: &[&str], what: &str) {
    let expected: BTreeSet<String> = expected.iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(keys(value), expected, "keys of {what}: {value}");
}

// ------------------------------------------------------------------------------------------------
// Stacks

/// How a stack's codes are made, hence where a test reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Twilio Verify (the fake) makes the codes: read `/_fake/verifications/latest`.
    TwilioVerify,
    /// Codes made by the service, sent over the fake's Messaging API: read `/_fake/messages`.
    Builtin,
}

/// One local stack: the router's base URL, in front of `cargo lambda watch`. Every route is at
/// `{base}{path}`, as behind API Gateway.
#[derive(Debug, Clone)]
pub struct Stack {
    pub base: String,
    pub provider: Provider,
    pub client: reqwest::Client,
}

impl Stack {
    /// The "default" stack (E2E_URL): Twilio Verify, per-IP and global limits out of the way,
    /// the other limits at their defaults.
    pub fn default_stack() -> Stack {
        Stack { base: env("E2E_URL").trim_end_matches('/').to_owned(), provider: Provider::TwilioVerify, client: client() }
    }

    /// The "tight" stack (E2E_TIGHT_URL): builtin codes over the fake's Messaging API, a 2 s
    /// resend cooldown and 5 registrations per IP per hour.
    pub fn tight() -> Stack {
        Stack { base: env("E2E_TIGHT_URL").trim_end_matches('/').to_owned(), provider: Provider::Builtin, client: client() }
    }

    /// The URL of `path`. `function` names the function the caller means to reach; the router
    /// finds it from template.yaml, as API Gateway does, so it is not part of the URL.
    pub fn url(&self, function: &str, path: &str) -> String {
        let _ = function;
        format!("{}{path}", self.base)
    }

    /// The same stack, reached from another local address (any 127.0.0.0/8 address is this
    /// machine): API Gateway's `sourceIp`, hence the per-IP limits, see a different caller.
    pub fn from_source_ip(&self, ip: std::net::IpAddr) -> Stack {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder().timeout(CLIENT_TIMEOUT).local_address(ip).build().expect("reqwest client builds");
        Stack { base: self.base.clone(), provider: self.provider, client }
    }

    /// Any request; `headers` are added as given.
    pub async fn request(&self, method: Method, function: &str, path: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> Resp {
        let url = self.url(function, path);
        let what = format!("{method} {url}");
        let mut request = self.client.request(method, &url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{what}: request failed: {}", error_chain(&e)));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_else(|e| panic!("{what}: reading the body failed: {e}"));
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        let resp = Resp { status, headers, text, json, what };
        assert_no_secrets(&resp);
        resp
    }

    /// `POST` a JSON body.
    pub async fn post_json(&self, function: &str, path: &str, body: &Value) -> Resp {
        self.post_json_with(function, path, body, &[]).await
    }

    /// `POST` a JSON body with extra headers.
    pub async fn post_json_with(&self, function: &str, path: &str, body: &Value, headers: &[(&str, &str)]) -> Resp {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.request(Method::POST, function, path, &all, Some(body.to_string().into_bytes())).await
    }

    /// `POST` raw bytes with the given content type (none when `None`).
    pub async fn post_raw(&self, function: &str, path: &str, content_type: Option<&str>, body: impl Into<Vec<u8>>) -> Resp {
        let headers: Vec<(&str, &str)> = content_type.map(|ct| ("content-type", ct)).into_iter().collect();
        self.request(Method::POST, function, path, &headers, Some(body.into())).await
    }

    /// `GET`, with `Authorization: Bearer <bearer>` when given.
    pub async fn get(&self, function: &str, path: &str, bearer: Option<&str>) -> Resp {
        let auth = bearer.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth.as_deref().map(|a| ("authorization", a)).into_iter().collect();
        self.request(Method::GET, function, path, &headers, None).await
    }

    /// `GET /protected` with a raw `Authorization` header value (or none).
    pub async fn protected_with_authorization(&self, authorization: Option<&str>) -> Resp {
        let headers: Vec<(&str, &str)> = authorization.map(|a| ("authorization", a)).into_iter().collect();
        self.request(Method::GET, "protected", "/protected", &headers, None).await
    }

    pub async fn protected(&self, access_token: &str) -> Resp {
        self.get("protected", "/protected", Some(access_token)).await
    }

    // --- the routes --------------------------------------------------------------------------

    pub async fn register(&self, account: &Account) -> Resp {
        self.post_json(
            "register",
            "/auth/register",
            &json!({ "email": account.email, "password": account.password, "phone": account.phone }),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Resp {
        self.post_json("login", "/auth/login", &json!({ "email": email, "password": password })).await
    }

    pub async fn verify(&self, challenge_id: &str, code: &str) -> Resp {
        self.post_json("verify", "/auth/verify", &json!({ "challenge_id": challenge_id, "code": code })).await
    }

    pub async fn resend(&self, challenge_id: &str) -> Resp {
        self.post_json("verify", "/auth/resend", &json!({ "challenge_id": challenge_id })).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Resp {
        self.post_json("session", "/auth/refresh", &json!({ "refresh_token": refresh_token })).await
    }

    pub async fn logout(&self, refresh_token: &str) -> Resp {
        self.post_json("session", "/auth/logout", &json!({ "refresh_token": refresh_token })).await
    }

    pub async fn change_phone(&self, access_token: &str, phone: &str, password: &str) -> Resp {
        let auth = format!("Bearer {access_token}");
        self.post_json_with("phone", "/me/phone", &json!({ "phone": phone, "password": password }), &[("authorization", &auth)]).await
    }

    pub async fn forgot_password(&self, email: &str) -> Resp {
        self.post_json("account", "/auth/password/forgot", &json!({ "email": email })).await
    }

    pub async fn reset_password(&self, challenge_id: &str, code: &str, new_password: &str) -> Resp {
        let body = json!({ "challenge_id": challenge_id, "code": code, "new_password": new_password });
        self.post_json("account", "/auth/password/reset", &body).await
    }

    pub async fn change_password(&self, access_token: &str, current: &str, new: &str) -> Resp {
        let auth = format!("Bearer {access_token}");
        let body = json!({ "current_password": current, "new_password": new });
        self.post_json_with("account", "/me/password", &body, &[("authorization", &auth)]).await
    }

    pub async fn logout_everywhere(&self, refresh_token: &str) -> Resp {
        self.post_json("session", "/auth/logout", &json!({ "refresh_token": refresh_token, "scope": "global" })).await
    }

    /// The code last sent to `phone`, wherever this stack's provider leaves it.
    pub async fn code_for(&self, fake: &Fake, phone: &str) -> String {
        match self.provider {
            Provider::TwilioVerify => fake.latest_code(phone).await,
            Provider::Builtin => fake.latest_message_code(phone).await,
        }
    }

    // --- flows -------------------------------------------------------------------------------

    /// Registers a fresh account: asserts 201 and returns it with its signup challenge.
    pub async fn register_fresh(&self) -> (Account, Value) {
        let mut account = Account::fresh();
        let resp = self.register(&account).await;
        let body = resp.expect(201).clone();
        account.user_id = body["user_id"].as_str().unwrap_or_else(|| panic!("no user_id: {}", resp.describe())).to_owned();
        (account, body["challenge"].clone())
    }

    /// Completes a challenge with the code the fake saw: asserts 200 and returns the body.
    pub async fn complete(&self, fake: &Fake, challenge: &Value, phone: &str) -> Value {
        let id = challenge["id"].as_str().unwrap_or_else(|| panic!("no challenge id in {challenge}"));
        let code = self.code_for(fake, phone).await;
        self.verify(id, &code).await.expect(200).clone()
    }

    /// Register and verify a fresh account: its tokens.
    pub async fn register_and_verify(&self, fake: &Fake) -> (Account, Tokens) {
        let (account, challenge) = self.register_fresh().await;
        let body = self.complete(fake, &challenge, &account.phone).await;
        (account, Tokens::from_body(body))
    }

    /// Login (password step): asserts 200 and returns the challenge.
    pub async fn login_challenge(&self, account: &Account) -> Value {
        let resp = self.login(&account.email, &account.password).await;
        resp.expect(200)["challenge"].clone()
    }

    /// A full login (password then code): the tokens.
    pub async fn login_and_verify(&self, fake: &Fake, account: &Account) -> Tokens {
        let challenge = self.login_challenge(account).await;
        Tokens::from_body(self.complete(fake, &challenge, &account.phone).await)
    }
}

/// An error with its sources, for failure messages.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

/// Runs `n` futures made by `make(i)` at once (spawned tasks) and returns their outputs in
/// index order.
pub async fn concurrently<F, Fut, T>(n: usize, make: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(make(i))).collect();
    let mut out = Vec::with_capacity(n);
    for handle in handles {
        out.push(handle.await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())));
    }
    out
}

/// 30 wrong passwords for `email` at once: asserts 10 answered 401 `invalid_credentials` and 20
/// 429 `rate_limited` with a Retry-After within the 15-minute window, and returns them.
pub async fn thirty_parallel_bad_logins(stack: &Stack, email: &str) -> Vec<Resp> {
    let results = concurrently(30, |i| {
        let (stack, email) = (stack.clone(), email.to_owned());
        async move { stack.login(&email, &format!("wrong-password-{i}")).await }
    })
    .await;
    let counts = tally(&results);
    let failed = results.iter().filter(|r| r.status == 401).count();
    let limited = results.iter().filter(|r| r.status == 429).count();
    assert_eq!((failed, limited), (10, 20), "outcomes: {counts:?}");
    for r in &results {
        if r.status == 401 {
            r.expect_error(401, "invalid_credentials");
        } else {
            r.expect_error(429, "rate_limited");
            let retry_after = r.retry_after();
            assert!((1..=900).contains(&retry_after), "Retry-After {retry_after}: {}", r.describe());
        }
    }
    results
}

/// Counts responses by `(status, error code)`, for the race tests' messages and assertions.
pub fn tally(responses: &[Resp]) -> std::collections::BTreeMap<(u16, String), usize> {
    let mut out = std::collections::BTreeMap::new();
    for r in responses {
        let code = r.json["error"].as_str().unwrap_or("").to_owned();
        *out.entry((r.status, code)).or_insert(0) += 1;
    }
    out
}

// ------------------------------------------------------------------------------------------------
// Accounts and tokens

/// Test credentials; `user_id` is filled in by a successful registration.
#[derive(Debug, Clone)]
pub struct Account {
    pub email: String,
    pub password: String,
    pub phone: String,
    pub user_id: String,
}

impl Account {
    pub fn fresh() -> Account {
        Account { email: fresh_email(), password: fresh_password(), phone: fresh_phone(), user_id: String::new() }
    }
}

/// A unique, valid, lowercase email.
pub fn fresh_email() -> String {
    format!("e2e-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// A unique password that passes the policy (long, not common).
pub fn fresh_password() -> String {
    format!("Tr0ub4dor-{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
}

/// A UK mobile number `+44771` + 7 digits, unique in the run: a per-process base plus a
/// counter. libphonenumber's metadata takes every `+44 771x xxxxxx` as a mobile (whereas
/// `+44 7911` is a mobile only when the next digit is 0, 2 or 8, and `+44 7700 900xxx` not at
/// all). The base is the start time in milliseconds (mod 10^7, a 2.8 h cycle): test binaries run
/// one after another and none uses more numbers than milliseconds it runs for, so the ranges of
/// two binaries of one run do not overlap (a random base would collide now and then, and a
/// collision trips the per-phone send cap).
pub fn fresh_phone() -> String {
    static BASE: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let base = *BASE.get_or_init(|| {
        let millis = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as u64;
        millis % 10_000_000
    });
    let n = (base + u64::from(COUNTER.fetch_add(1, Ordering::Relaxed))) % 10_000_000;
    format!("+44771{n:07}")
}

/// The contract's mask: `+` and the country code's first digit, stars, the last four digits.
pub fn masked(e164: &str) -> String {
    let stars = "*".repeat(e164.len() - 6);
    format!("{}{}{}", &e164[..2], stars, &e164[e164.len() - 4..])
}

/// Asserts that `to` is the masked form of `phone`: same length, last four kept, and none of
/// the middle digits readable.
#[track_caller]
pub fn assert_masked(to: &Value, phone: &str) {
    let to = to.as_str().unwrap_or_else(|| panic!("masked phone is not a string: {to}"));
    assert_eq!(to, masked(phone), "masked phone");
    let middle = &phone[2..phone.len() - 4];
    assert!(!to.contains(middle), "{to} shows the middle digits {middle}");
    assert!(!to.contains(&phone[1..]), "{to} shows the number");
}

/// A token response.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub body: Value,
}

impl Tokens {
    #[track_caller]
    pub fn from_body(body: Value) -> Tokens {
        let get = |k: &str| body[k].as_str().unwrap_or_else(|| panic!("no {k} in {body}")).to_owned();
        Tokens { access_token: get("access_token"), refresh_token: get("refresh_token"), body: body.clone() }
    }
}

/// The JSON of a JWT segment (0 header, 1 claims), decoded without any check.
#[track_caller]
pub fn jwt_part(token: &str, index: usize) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(index).unwrap_or_else(|| panic!("token has no segment {index}: {token}"));
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap_or_else(|e| panic!("segment {index} is not base64url: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("segment {index} is not JSON: {e}"))
}

pub fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The default stack's public key (SPKI PEM), as the local KMS gave it to scripts/test.sh.
pub fn public_key_pem() -> Vec<u8> {
    read_env_file("E2E_JWT_PUBLIC_KEY_PEM_FILE")
}

fn read_env_file(var: &str) -> Vec<u8> {
    let path = env(var);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{var} {path}: {e}"))
}

// ------------------------------------------------------------------------------------------------
// The stacks' signing keys

/// A stack's token issuer and signing key, so tests can make tokens that are well signed but
/// otherwise wrong (expired, wrong issuer...). The default stack signs RS256 inside the local
/// KMS (moto), the tight stack EdDSA with a PEM: both signer adapters, end to end.
pub struct StackKey {
    pub issuer: String,
    pub audience: String,
    /// SPKI PEM of the public key, obtained by scripts/test.sh, not from the service.
    pub public_pem: Vec<u8>,
    signer: Signer,
}

enum Signer {
    Kms { endpoint: String, key_id: String, client: reqwest::Client },
    Pem(jsonwebtoken::EncodingKey),
}

impl StackKey {
    /// E2E_JWT_ISSUER, E2E_JWT_PUBLIC_KEY_PEM_FILE, and the KMS key E2E_JWT_KMS_KEY_ID at E2E_KMS_ENDPOINT.
    pub fn default_stack() -> StackKey {
        StackKey {
            issuer: env("E2E_JWT_ISSUER"),
            audience: env("E2E_JWT_AUDIENCE"),
            public_pem: public_key_pem(),
            signer: Signer::Kms { endpoint: env("E2E_KMS_ENDPOINT"), key_id: env("E2E_JWT_KMS_KEY_ID"), client: client() },
        }
    }

    /// E2E_TIGHT_JWT_ISSUER and the Ed25519 PEM E2E_TIGHT_JWT_SIGNING_KEY_PEM_FILE.
    pub fn tight() -> StackKey {
        let pem = read_env_file("E2E_TIGHT_JWT_SIGNING_KEY_PEM_FILE");
        StackKey {
            issuer: env("E2E_TIGHT_JWT_ISSUER"),
            audience: env("E2E_JWT_AUDIENCE"),
            public_pem: read_env_file("E2E_TIGHT_JWT_PUBLIC_KEY_PEM_FILE"),
            signer: Signer::Pem(
                jsonwebtoken::EncodingKey::from_ed_pem(&pem).expect("E2E_TIGHT_JWT_SIGNING_KEY_PEM_FILE is an Ed25519 PEM"),
            ),
        }
    }

    /// The JOSE algorithm of the key.
    pub fn alg(&self) -> &'static str {
        match self.signer {
            Signer::Kms { .. } => "RS256",
            Signer::Pem(_) => "EdDSA",
        }
    }

    /// A JWS of `claims` under `header` (sent as given: it names the algorithm), signed by the
    /// stack's own key.
    pub async fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
        let signature = match &self.signer {
            Signer::Pem(key) => jsonwebtoken::crypto::sign(input.as_bytes(), key, jsonwebtoken::Algorithm::EdDSA).expect("signs"),
            Signer::Kms { endpoint, key_id, client } => b64url(&kms_sign(client, endpoint, key_id, input.as_bytes()).await),
        };
        format!("{input}.{signature}")
    }
}

/// KMS `Sign` (RSASSA_PKCS1_V1_5_SHA_256) on the local KMS, over its JSON protocol. moto routes
/// by the credential scope and checks no signature, so no SigV4 is computed here.
async fn kms_sign(client: &reqwest::Client, endpoint: &str, key_id: &str, message: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let std = base64::engine::general_purpose::STANDARD;
    let body = json!({
        "KeyId": key_id,
        "Message": std.encode(message),
        "MessageType": "RAW",
        "SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256",
    });
    let response = client
        .post(endpoint)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "TrentService.Sign")
        .header("authorization", "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0")
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("KMS Sign at {endpoint}: {}", error_chain(&e)));
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "KMS Sign: HTTP {status} {answer}");
    std.decode(answer["Signature"].as_str().expect("a Signature")).expect("base64")
}

/// Every kind of bad access token is refused with 401 `invalid_token` by the routes that take
/// one (`/protected`, `/me/phone`), on any stack: `tokens` is a real pair of `account` there,
/// `key` the stack's signing key (for tokens well signed but wrong in another way).
pub async fn assert_bad_access_tokens_refused(stack: &Stack, key: &StackKey, account: &Account, tokens: &Tokens) {
    let real = tokens.access_token.clone();
    stack.protected(&real).await.expect(200);

    let header = jwt_part(&real, 0);
    assert_eq!(header["alg"], key.alg(), "{header}");
    let claims = jwt_part(&real, 1);
    let signature = real.rsplit('.').next().unwrap().to_owned();
    let kid = header["kid"].as_str().unwrap().to_owned();
    let with = |changes: Value| {
        let mut c = claims.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let alg = key.alg();
    let at = json!({ "alg": alg, "typ": "at+jwt", "kid": kid });
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;

    // The public key as the JWKS publishes it: the classic HS256 confusion keys.
    let jwks = stack.get("jwks", "/.well-known/jwks.json", None).await.expect(200).clone();
    let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).expect("kid in JWKS").clone();
    let public_member = jwk["x"].as_str().or(jwk["n"].as_str()).expect("x or n").to_owned();
    use base64::Engine;
    let raw_public = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&public_member).unwrap();
    let hs256 = |secret: &[u8]| {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.typ = Some("at+jwt".into());
        h.kid = Some(kid.clone());
        jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_secret(secret)).expect("signs")
    };
    // The other of the two algorithms of this suite, signed by the stack's real key: a kid is
    // bound to one algorithm.
    let other_alg = if alg == "RS256" { "EdDSA" } else { "RS256" };

    let mut cases: Vec<(&str, String)> = vec![
        ("garbage", "garbage".into()),
        ("three garbage segments", "a.b.c".into()),
        ("truncated", real[..real.len() - 10].to_owned()),
        ("no signature", format!("{}.", real.rsplit_once('.').unwrap().0)),
        (
            "tampered claims",
            format!(
                "{}.{}.{signature}",
                b64url(header.to_string().as_bytes()),
                b64url(with(json!({"sub": "admin"})).to_string().as_bytes())
            ),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64url(json!({"alg": "none", "typ": "at+jwt", "kid": kid}).to_string().as_bytes()),
                b64url(claims.to_string().as_bytes())
            ),
        ),
        (
            "alg none with the real signature",
            format!(
                "{}.{}.{signature}",
                b64url(json!({"alg": "none", "typ": "at+jwt", "kid": kid}).to_string().as_bytes()),
                b64url(claims.to_string().as_bytes())
            ),
        ),
        ("HS256 keyed with the raw public key", hs256(&raw_public)),
        ("HS256 keyed with the public PEM", hs256(&key.public_pem)),
        ("HS256 keyed with the JWK member", hs256(public_member.as_bytes())),
        (
            "another algorithm in the header, the real key's signature",
            key.sign(&json!({"alg": other_alg, "typ": "at+jwt", "kid": kid}), &claims).await,
        ),
        ("expired", key.sign(&at, &with(json!({"iat": now - 7200, "exp": now - 3600}))).await),
        ("wrong issuer", key.sign(&at, &with(json!({"iss": "https://evil.example"}))).await),
        ("wrong audience", key.sign(&at, &with(json!({"aud": "someone-else"}))).await),
        ("no audience", key.sign(&at, &with(json!({"aud": null}))).await),
        ("no exp", key.sign(&at, &with(json!({"exp": null}))).await),
        ("typ JWT (not an access token)", key.sign(&json!({"alg": alg, "typ": "JWT", "kid": kid}), &claims).await),
        ("unknown kid", key.sign(&json!({"alg": alg, "typ": "at+jwt", "kid": "not-a-key"}), &claims).await),
        ("no kid", key.sign(&json!({"alg": alg, "typ": "at+jwt"}), &claims).await),
    ];
    // The refresh token is not an access token.
    cases.push(("a refresh token", tokens.refresh_token.clone()));

    // The forging itself works: the same claims, signed the same way, are accepted.
    let control = key.sign(&at, &claims).await;
    stack.protected(&control).await.expect(200);

    for (what, token) in &cases {
        let resp = stack.protected(token).await;
        assert_eq!(resp.status, 401, "{what}: {}", resp.describe());
        resp.expect_invalid_token();
        let resp = stack.change_phone(token, &fresh_phone(), &account.password).await;
        assert_eq!(resp.status, 401, "/me/phone, {what}: {}", resp.describe());
        resp.expect_invalid_token();
    }
}

// ------------------------------------------------------------------------------------------------
// The Twilio fake

/// Client of the fake's control API (`/_fake/`).
#[derive(Debug, Clone)]
pub struct Fake {
    pub base: String,
    client: reqwest::Client,
}

impl Fake {
    pub fn from_env() -> Fake {
        Fake { base: env("TWILIO_FAKE_URL").trim_end_matches('/').to_owned(), client: client() }
    }

    async fn get_json(&self, path_and_query: &str) -> (u16, Value) {
        let url = format!("{}{path_and_query}", self.base);
        let response = self.client.get(&url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The newest verification of `phone` (`{sid,to,channel,code,status,send_count,check_count}`).
    pub async fn latest_verification(&self, phone: &str) -> Option<Value> {
        let (status, body) = self.get_json(&format!("/_fake/verifications/latest?to={}", encode(phone))).await;
        match status {
            200 => Some(body),
            404 => None,
            other => panic!("fake: latest verification of {phone}: HTTP {other} {body}"),
        }
    }

    /// The code of the newest verification of `phone`.
    pub async fn latest_code(&self, phone: &str) -> String {
        let v = self.latest_verification(phone).await.unwrap_or_else(|| panic!("fake: no verification for {phone}"));
        v["code"].as_str().unwrap_or_else(|| panic!("fake: verification without code: {v}")).to_owned()
    }

    /// Messages sent to `phone`, oldest first (`{sid,to,from,messaging_service_sid,body}`).
    pub async fn messages(&self, phone: &str) -> Vec<Value> {
        let (status, body) = self.get_json(&format!("/_fake/messages?to={}", encode(phone))).await;
        assert_eq!(status, 200, "fake: messages of {phone}: {body}");
        body.as_array().cloned().unwrap_or_default()
    }

    /// The code at the start of the newest message to `phone`.
    pub async fn latest_message_code(&self, phone: &str) -> String {
        let messages = self.messages(phone).await;
        let last = messages.last().unwrap_or_else(|| panic!("fake: no message to {phone}"));
        code_of_message(last)
    }

    pub async fn stats(&self) -> Value {
        let (status, body) = self.get_json("/_fake/stats").await;
        assert_eq!(status, 200, "fake: stats: {body}");
        body
    }

    /// Codes sent to `phone` so far: Verify sends plus messages.
    pub async fn sends_to(&self, phone: &str) -> u64 {
        let stats = self.stats().await;
        let n = &stats["by_to"][phone];
        n["verification_sends"].as_u64().unwrap_or(0) + n["messages_created"].as_u64().unwrap_or(0)
    }

    /// `POST /_fake/faults`: `mode` is ok, unavailable or hang; `count` limits it to that many
    /// Twilio requests (None: until changed). Prefer [`FaultGuard::set`].
    pub async fn set_fault(&self, mode: &str, count: Option<u32>) {
        let url = format!("{}/_fake/faults", self.base);
        let mut body = json!({ "mode": mode });
        if let Some(count) = count {
            body["count"] = count.into();
        }
        let response = self.client.post(&url).json(&body).send().await.unwrap_or_else(|e| panic!("POST {url}: {e}"));
        assert!(response.status().is_success(), "fake: setting fault {body}: HTTP {}", response.status());
    }

    pub async fn reset_faults(&self) {
        self.set_fault("ok", None).await;
    }

    /// `POST /_fake/numbers`: `kind` is normal, landline, unsubscribed or invalid (Twilio then
    /// refuses the number with Messaging 21211 or Verify 60200, naming it in the message).
    pub async fn set_number_kind(&self, phone: &str, kind: &str) {
        let url = format!("{}/_fake/numbers", self.base);
        let body = json!({ "to": phone, "kind": kind });
        let response = self.client.post(&url).json(&body).send().await.unwrap_or_else(|e| panic!("POST {url}: {e}"));
        assert!(response.status().is_success(), "fake: marking {body}: HTTP {}", response.status());
    }
}

/// The digits a builtin-provider message starts with.
#[track_caller]
pub fn code_of_message(message: &Value) -> String {
    let body = message["body"].as_str().unwrap_or_default();
    let code: String = body.chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(code.len(), 6, "message body does not start with a 6-digit code: {message}");
    code
}

/// Percent-encodes a query value (phone numbers: `+` must not become a space).
pub fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// Serializes the tests that inject faults into the fake (a fault affects every Twilio request
/// of both stacks). Keep such tests in one test binary as well: binaries run one after another.
pub async fn fault_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// A fault in the fake that is cleared when the guard drops, also when the test panics (the
/// drop then resets it with a blocking request of its own).
pub struct FaultGuard {
    fake: Fake,
    armed: bool,
}

impl FaultGuard {
    /// Sets `mode` (until cleared) and returns the guard that clears it.
    pub async fn set(fake: &Fake, mode: &str) -> FaultGuard {
        let guard = FaultGuard { fake: fake.clone(), armed: true };
        fake.set_fault(mode, None).await;
        guard
    }

    /// Sets `mode` for the next `count` Twilio requests and returns the guard that clears it.
    pub async fn set_for(fake: &Fake, mode: &str, count: u32) -> FaultGuard {
        let guard = FaultGuard { fake: fake.clone(), armed: true };
        fake.set_fault(mode, Some(count)).await;
        guard
    }

    /// Clears the fault now (and checks that it worked).
    pub async fn clear(mut self) {
        self.fake.reset_faults().await;
        self.armed = false;
    }
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = blocking_reset(&self.fake.base) {
                eprintln!("could not reset the fake's faults: {e}");
            }
        }
    }
}

/// `POST /_fake/faults {"mode":"ok"}` over a plain blocking socket (usable from `Drop`).
fn blocking_reset(base: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let authority = base.trim_start_matches("http://").split('/').next().unwrap_or_default();
    let mut stream = std::net::TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let body = r#"{"mode":"ok"}"#;
    write!(
        stream,
        "POST /_fake/faults HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    if answer.starts_with("HTTP/1.1 2") {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("unexpected answer: {}", answer.lines().next().unwrap_or_default())))
    }
}

/// A code that is certainly not `code` (each digit shifted by one).
pub fn wrong_code(code: &str) -> String {
    code.bytes().map(|b| char::from(b'0' + (b - b'0' + 1) % 10)).collect()
}

/// The limits count in fixed windows (`now - now % window`). A test that needs `needed` seconds
/// inside one window waits for the next one when the current window ends sooner.
pub async fn clear_of_window_edge(window: Duration, needed: Duration) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970");
    let into = Duration::from_millis((now.as_millis() % window.as_millis()) as u64);
    let left = window - into;
    if left < needed {
        eprintln!("waiting {left:?} for the next {window:?} rate-limit window");
        tokio::time::sleep(left + Duration::from_secs(1)).await;
    }
}

/// The 15-minute window of the per-phone and per-account limits.
pub const SHORT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The hourly window of the per-IP limits.
pub const HOUR: Duration = Duration::from_secs(3600);
