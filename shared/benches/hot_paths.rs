//! In-process latency of the work each function does per request, and of what init does eagerly.
//!
//!     cargo bench -p sms-mfa --bench hot_paths                 # everything that needs no server
//!     cargo bench -p sms-mfa --bench hot_paths -- jwt          # one group (criterion filter)
//!     benches/run.sh bench                                     # also DynamoDB and Twilio round trips
//!
//! Groups:
//! - `jwt/EdDSA`, `jwt/ES256`, `jwt/RS256`: issue and verify an access token (`TokenKeys`) with a
//!   key of each type, and the whole protected route's work on a `lambda_http` request (route
//!   check, bearer token, verify, JSON response).
//! - `kms`: issuing with the key in KMS (one `Sign` round trip) against `KMS_ENDPOINT` (moto);
//!   skipped when unset.
//! - `argon2`: hash and verify at the production parameters (`Argon2Hasher::default()`,
//!   m=19456 KiB, t=2, p=1), on a tokio current_thread runtime as in the functions.
//! - `json`: `sms_mfa::http::json_body` of a register body, then Email/PasswordPolicy/Phone/Channel.
//! - `init`: the pieces of `sms_mfa::runtime` the functions run eagerly at cold start.
//! - `dynamodb`: GetItem and a conditional UpdateItem (`DynamoStore`) against `DYNAMODB_ENDPOINT`
//!   (a local DynamoDB with the table `TABLE_NAME`, default `sms-mfa-bench`); skipped when unset.
//! - `twilio`: one Programmable Messaging send (`TwilioMessaging`) to `TWILIO_FAKE_URL`
//!   (tests/twilio-fake); skipped when unset.
//!
//! Before the criterion groups, `oneshot:` lines report first-call costs that criterion's
//! repeated measurement hides (lazy initialisation inside a fresh process, first request on a
//! new connection).

use criterion::Criterion;
use futures::executor::block_on;
use lambda_http::{http, Body, Request};
use secrecy::SecretString;
use serde::Deserialize;
use sms_mfa::{
    adapters::{
        dynamodb::DynamoStore,
        jwt::{Grant, TokenKeys},
        kms::{KmsPublicKeys, KmsSigner},
        password::Argon2Hasher,
        twilio::{TwilioHttp, TwilioMessaging},
    },
    config::TwilioCredentials,
    domain::{Channel, Email, PasswordPolicy, Phone, UserId},
    http::{bearer_token, expect_route, json, json_body},
    ports::{Clock, PasswordHasher, RateLimiter, SmsSender, SystemClock, UserStore},
    runtime,
    testing::{generate_p256_signing_key_pem, generate_signing_key_pem},
};
use std::hint::black_box;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::runtime::Runtime;

const PASSWORD: &str = "correct horse battery staple";
const REGISTER_BODY: &str =
    r#"{"email":"Ada.Lovelace@Example.com","password":"correct horse battery staple","phone":"+447911123456","channel":"sms"}"#;

/// The register function's body (functions/register/src/http_handler.rs), mirrored: the
/// function crates are binaries, so the bench cannot import it.
#[derive(Deserialize)]
#[allow(dead_code)]
struct RegisterBody {
    email: String,
    password: SecretString,
    phone: String,
    channel: Option<String>,
}

fn rt() -> Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// Short measurements, so the whole run takes a couple of minutes.
fn quick<'a>(c: &'a mut Criterion, name: &str) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group.sample_size(20).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    group
}

fn register_request(body: &str) -> Request {
    http::Request::builder()
        .method("POST")
        .uri("https://api.example.com/auth/register")
        .header("content-type", "application/json")
        .body(Body::Text(body.to_owned()))
        .expect("request builds")
}

fn protected_request(token: &str) -> Request {
    http::Request::builder()
        .method("GET")
        .uri("https://api.example.com/protected")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::Empty)
        .expect("request builds")
}

fn keys(pem: &SecretString) -> TokenKeys {
    TokenKeys::from_pem(pem, None, "sms-mfa", "sms-mfa", Duration::from_secs(900)).expect("generated key is valid")
}

/// The app's environment, as the cold-start harness gives it to the binaries. Set before any
/// thread is started (criterion starts none before `main` hands over).
fn set_app_env(pem: &SecretString) {
    use secrecy::ExposeSecret;
    let defaults = [
        ("TABLE_NAME", "sms-mfa-bench"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("OTP_PROVIDER", "builtin"),
        ("SMS_SENDER", "log"),
        // Seals authenticator secrets (any 32 bytes, base64).
        ("TOTP_ENCRYPTION_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
    ];
    for (k, v) in defaults {
        if std::env::var_os(k).is_none() {
            std::env::set_var(k, v);
        }
    }
    // An endpoint nothing listens on is fine for init: the SDK connects lazily.
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9".into());
    std::env::set_var("AWS_ENDPOINT_URL_DYNAMODB", endpoint);
    std::env::set_var("JWT_SIGNING_KEY", pem.expose_secret());
    std::env::remove_var("JWT_SIGNING_KEY_SECRET_ARN");
    std::env::remove_var("AWS_LAMBDA_INITIALIZATION_TYPE");
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// First-call costs in this fresh process, before criterion warms anything up, in the order a
/// function's `main` pays them (runtime.rs), each followed by a second call for comparison.
fn oneshot(pem: &SecretString) {
    let rt = rt();
    let t = Instant::now();
    runtime::init_tracing();
    println!("oneshot: runtime::init_tracing (JSON subscriber, Targets filter): {}", ms(t.elapsed()));

    let t = Instant::now();
    let aws = sms_mfa::adapters::aws::Aws::load().expect("AWS settings in the environment");
    let first = t.elapsed();
    let t = Instant::now();
    let _ = black_box(sms_mfa::adapters::aws::Aws::load().expect("AWS settings in the environment"));
    println!(
        "oneshot: Aws::load (SdkConfig from the environment + the reqwest client) first call: {} (second call {})",
        ms(first),
        ms(t.elapsed())
    );

    let t = Instant::now();
    let _ = black_box(aws.dynamodb());
    let first = t.elapsed();
    let t = Instant::now();
    let _ = black_box(aws.dynamodb());
    println!("oneshot: DynamoDB client from the config, first: {} (second {})", ms(first), ms(t.elapsed()));

    let t = Instant::now();
    let _ = black_box(keys(pem));
    let first = t.elapsed();
    let t = Instant::now();
    let _ = black_box(keys(pem));
    println!("oneshot: TokenKeys::from_pem first call: {} (second call {})", ms(first), ms(t.elapsed()));

    let t = Instant::now();
    let _ = black_box(rt.block_on(runtime::auth_from_env(runtime::TokenRole::Issues)).ok().unwrap());
    println!("oneshot: runtime::auth_from_env after the above (all of register's eager init, warm): {}", ms(t.elapsed()));

    let t = Instant::now();
    let phone = Phone::parse("+447911123456");
    let first = t.elapsed();
    assert!(phone.is_ok());
    let t = Instant::now();
    let _ = black_box(Phone::parse("+447911123457"));
    let second = t.elapsed();
    println!("oneshot: Phone::parse first call (phonenumber metadata load + regex compile): {} (second call {})", ms(first), ms(second));

    let t = Instant::now();
    let _ = black_box(PasswordPolicy::check(SecretString::from(PASSWORD.to_owned())));
    println!("oneshot: PasswordPolicy::check first call: {}", ms(t.elapsed()));
}

/// The three key types side by side (the key decides the algorithm).
fn signing_keys() -> [(&'static str, SecretString); 3] {
    [
        ("EdDSA", generate_signing_key_pem()),
        ("ES256", generate_p256_signing_key_pem()),
        ("RS256", SecretString::from(include_str!("../src/adapters/testdata/rsa2048.pem").to_owned())),
    ]
}

fn bench_jwt(c: &mut Criterion) {
    for (alg, pem) in signing_keys() {
        let keys = keys(&pem);
        let now = SystemClock.now();
        let amr = vec!["pwd".to_owned(), "sms".to_owned()];
        let grant = Grant {
            sub: "0b6c3f0e-6a57-4a8e-9a43-6f2a4a0f7a11",
            email: "ada@example.com",
            sid: "3f1e6f3c-2f0e-4a55-9d61-0d8f5b4f2c11",
            amr: &amr,
            roles: &[],
            oauth: None,
        };
        let token = block_on(keys.issue(&grant, now)).unwrap();
        assert!(block_on(keys.verify(&token)).is_ok());
        let mut tampered = token.clone();
        tampered.replace_range(tampered.len() - 4.., "AAAA");
        assert!(block_on(keys.verify(&tampered)).is_err());
        let request = protected_request(&token);

        // No I/O in these futures (the keys are in memory): block_on only polls them once.
        let mut g = quick(c, &format!("jwt/{alg}"));
        g.bench_function("issue", |b| b.iter(|| block_on(keys.issue(black_box(&grant), now)).unwrap()));
        g.bench_function("verify_valid", |b| b.iter(|| block_on(keys.verify(black_box(&token))).unwrap()));
        g.bench_function("verify_bad_signature", |b| b.iter(|| block_on(keys.verify(black_box(&tampered))).is_err()));
        // functions/protected/src/http_handler.rs without the tracing line: route, bearer, verify, body.
        g.bench_function("protected_route", |b| {
            b.iter(|| {
                let req = black_box(&request);
                expect_route(req, http::Method::GET, "/protected").unwrap();
                let claims = block_on(keys.verify(bearer_token(req).unwrap())).unwrap();
                json(
                    http::StatusCode::OK,
                    &serde_json::json!({
                        "message": format!("Hello, {}: your phone-verified session is valid.", claims.email),
                        "user": { "id": claims.sub, "email": claims.email },
                    }),
                )
            })
        });
        g.finish();
    }
}

/// Issuing with the key in KMS (`KmsSigner`: one `Sign` round trip per token) against
/// `KMS_ENDPOINT` (moto; benches/run.sh bench starts it), beside the same with a PEM above.
/// Skipped when unset.
fn bench_kms(c: &mut Criterion) {
    let Ok(endpoint) = std::env::var("KMS_ENDPOINT") else {
        println!("skipping group kms: KMS_ENDPOINT is not set (benches/run.sh bench starts a local one)");
        return;
    };
    let rt = rt();
    let aws = sms_mfa::adapters::aws::Aws::load().expect("AWS settings in the environment");
    let client = aws.kms();
    let created = rt.block_on(
        client.create_key().key_spec(aws_sdk_kms::types::KeySpec::Rsa2048).key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify).send(),
    );
    let arn = match created {
        Ok(out) => out.key_metadata.unwrap().arn.unwrap(),
        Err(err) => {
            println!("skipping group kms: CreateKey on {endpoint} failed: {}", aws_sdk_kms::error::DisplayErrorContext(err));
            return;
        }
    };
    let t = Instant::now();
    let signer = rt.block_on(KmsSigner::connect(client.clone(), &arn)).unwrap();
    println!("oneshot: KMS GetPublicKey at an issuer's cold start (plain HTTP to {endpoint}): {}", ms(t.elapsed()));
    let keys = TokenKeys::new("https://issuer.test", "sms-mfa", Duration::from_secs(900))
        .signing_with(Arc::new(signer), "JWT_SIGNING_KMS_KEY_ID")
        .unwrap();
    let amr = vec!["pwd".to_owned(), "sms".to_owned()];
    let now = SystemClock.now();
    let grant = Grant {
        sub: "0b6c3f0e-6a57-4a8e-9a43-6f2a4a0f7a11",
        email: "ada@example.com",
        sid: "3f1e6f3c-2f0e-4a55-9d61-0d8f5b4f2c11",
        amr: &amr,
        roles: &[],
        oauth: None,
    };
    let token = rt.block_on(keys.issue(&grant, now)).unwrap();

    // A verifying function's first check: GetPublicKey, then the RS256 verify.
    let verifier = TokenKeys::new("https://issuer.test", "sms-mfa", Duration::from_secs(900))
        .accepting_from(Arc::new(KmsPublicKeys::with_client(client.clone(), vec![arn.clone()])));
    let t = Instant::now();
    rt.block_on(verifier.verify(&token)).unwrap();
    let first = t.elapsed();
    let t = Instant::now();
    rt.block_on(verifier.verify(&token)).unwrap();
    println!(
        "oneshot: a verifier's first token check with the key in KMS (GetPublicKey + verify): {} (second {})",
        ms(first),
        ms(t.elapsed())
    );

    let mut g = quick(c, "kms");
    g.bench_function("issue_rs256", |b| b.iter(|| rt.block_on(keys.issue(black_box(&grant), now)).unwrap()));
    g.finish();
}

fn bench_argon2(c: &mut Criterion) {
    let rt = rt();
    let hasher = Argon2Hasher::default();
    let password = PasswordPolicy::check(SecretString::from(PASSWORD.to_owned())).unwrap();
    let phc = rt.block_on(hasher.hash(&password)).unwrap();
    assert!(rt.block_on(hasher.verify(&password, &phc)).unwrap());

    let mut g = quick(c, "argon2");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.bench_function("hash", |b| b.iter(|| rt.block_on(hasher.hash(black_box(&password))).unwrap()));
    g.bench_function("verify_match", |b| b.iter(|| rt.block_on(hasher.verify(black_box(&password), &phc)).unwrap()));
    // What login does for an unknown email.
    g.bench_function("verify_dummy_hash", |b| b.iter(|| rt.block_on(hasher.verify_absent(black_box(&password))).unwrap()));
    g.finish();
}

fn bench_json(c: &mut Criterion) {
    let request = register_request(REGISTER_BODY);
    let malformed = register_request(r#"{"email": "ada@example.com", "password": "#);
    let mut g = quick(c, "json");
    g.bench_function("register_json_body", |b| b.iter(|| json_body::<RegisterBody>(black_box(&request)).unwrap()));
    g.bench_function("register_json_body_malformed", |b| b.iter(|| json_body::<RegisterBody>(black_box(&malformed)).is_err()));
    // functions/register/src/http_handler.rs up to the use case: body, then every field's type.
    g.bench_function("register_parse_and_validate", |b| {
        b.iter(|| {
            let body: RegisterBody = json_body(black_box(&request)).unwrap();
            (
                Email::parse(&body.email).unwrap(),
                PasswordPolicy::check(body.password).unwrap(),
                Phone::parse(&body.phone).unwrap(),
                Channel::parse(body.channel.as_deref()).unwrap(),
            )
        })
    });
    g.bench_function("email_parse", |b| b.iter(|| Email::parse(black_box("Ada.Lovelace@Example.com")).unwrap()));
    g.bench_function("password_policy_check", |b| {
        b.iter(|| PasswordPolicy::check(SecretString::from(black_box(PASSWORD).to_owned())).unwrap())
    });
    g.bench_function("phone_parse", |b| b.iter(|| Phone::parse(black_box("+447911123456")).unwrap()));
    g.finish();
}

fn bench_init(c: &mut Criterion, pem: &SecretString) {
    let rt = rt();
    let mut g = quick(c, "init");
    g.bench_function("token_keys_from_pem", |b| b.iter(|| keys(black_box(pem))));
    g.bench_function("argon2_hasher_default", |b| b.iter(Argon2Hasher::default));
    g.bench_function("aws_sdk_config_load", |b| b.iter(|| sms_mfa::adapters::aws::Aws::load().expect("AWS settings in the environment")));
    g.bench_function("dynamodb_client_new", |b| {
        let aws = sms_mfa::adapters::aws::Aws::load().expect("AWS settings in the environment");
        b.iter(|| aws.dynamodb())
    });
    // protected and jwks: env + AWS config + signing key.
    g.bench_function("keys_from_env", |b| b.iter(|| rt.block_on(runtime::keys_from_env()).unwrap()));
    // register, login, verify, phone: everything above + DynamoDB client, limits, OTP, argon2.
    g.bench_function("auth_from_env", |b| b.iter(|| rt.block_on(runtime::auth_from_env(runtime::TokenRole::Issues)).ok().unwrap()));
    g.bench_function("sessions_from_env", |b| b.iter(|| rt.block_on(runtime::sessions_from_env()).ok().unwrap()));
    g.finish();
}

fn bench_dynamodb(c: &mut Criterion) {
    let Ok(endpoint) = std::env::var("DYNAMODB_ENDPOINT") else {
        println!("skipping group dynamodb: DYNAMODB_ENDPOINT is not set (benches/run.sh bench starts a local one)");
        return;
    };
    let table = std::env::var("TABLE_NAME").unwrap();
    let rt = rt();
    let nobody = UserId("00000000-0000-4000-8000-000000000000".into());
    let aws = sms_mfa::adapters::aws::Aws::load().expect("AWS settings in the environment");

    // A brand-new client's first call (connection set-up, lazy client state) against the next.
    let store = DynamoStore::new(aws.dynamodb(), table.clone());
    let t = Instant::now();
    let first = rt.block_on(UserStore::get(&store, &nobody));
    let first_time = t.elapsed();
    if let Err(err) = first {
        println!("skipping group dynamodb: GetItem on {endpoint} table {table} failed: {err}");
        return;
    }
    let t = Instant::now();
    rt.block_on(UserStore::get(&store, &nobody)).unwrap();
    println!("oneshot: DynamoDB GetItem on a new client (plain HTTP to {endpoint}): first {} then {}", ms(first_time), ms(t.elapsed()));

    let mut g = quick(c, "dynamodb");
    g.bench_function("get_item_missing_user", |b| b.iter(|| rt.block_on(UserStore::get(&store, black_box(&nobody))).unwrap()));
    // The rate limiter's conditional ADD (every register/login/resend does at least one).
    g.bench_function("rate_limit_hit_update_item", |b| {
        b.iter(|| {
            rt.block_on(RateLimiter::hit(&store, "bench#ip#203.0.113.10", u32::MAX, Duration::from_secs(3600), SystemClock.now())).unwrap()
        })
    });
    g.finish();
}

fn bench_twilio(c: &mut Criterion) {
    let Ok(base_url) = std::env::var("TWILIO_FAKE_URL") else {
        println!("skipping group twilio: TWILIO_FAKE_URL is not set (benches/run.sh bench starts tests/twilio-fake)");
        return;
    };
    let base_url = base_url.trim_end_matches('/').to_owned();
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let credentials = TwilioCredentials {
        account_sid: var("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
        auth_token: SecretString::from(var("TWILIO_AUTH_TOKEN", "fake-auth-token")),
        verify_service_sid: None,
        messaging_service_sid: Some(var("TWILIO_MESSAGING_SERVICE_SID", "MG00000000000000000000000000000000")),
        from_number: None,
    };
    let rt = rt();
    let to = Phone::parse("+447911123456").unwrap();
    let sender = TwilioMessaging::new(TwilioHttp::new(credentials).unwrap(), &base_url);
    let t = Instant::now();
    if let Err(err) = rt.block_on(sender.send(&to, "Your sms-mfa code is 123456")) {
        println!("skipping group twilio: a send to {base_url} failed: {err}");
        return;
    }
    let first = t.elapsed();
    let t = Instant::now();
    rt.block_on(sender.send(&to, "Your sms-mfa code is 123456")).unwrap();
    println!("oneshot: Twilio Messaging send on a new client (plain HTTP to {base_url}): first {} then {}", ms(first), ms(t.elapsed()));

    let mut g = quick(c, "twilio");
    g.bench_function("messaging_send", |b| b.iter(|| rt.block_on(sender.send(black_box(&to), "Your sms-mfa code is 123456")).unwrap()));
    g.finish();
}

fn main() {
    let pem = generate_signing_key_pem();
    set_app_env(&pem);
    oneshot(&pem);
    let mut c = Criterion::default().configure_from_args();
    bench_jwt(&mut c);
    bench_argon2(&mut c);
    bench_json(&mut c);
    bench_init(&mut c, &pem);
    bench_dynamodb(&mut c);
    bench_twilio(&mut c);
    bench_kms(&mut c);
    c.final_summary();
}
