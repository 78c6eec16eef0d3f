//! Authenticator apps end to end, over HTTP, with the codes computed as an authenticator app
//! would: by Python's `pyotp` (an independent RFC 6238 implementation) from the secret the
//! enrolment answered. Each accepted time step is spent, so every test asks `Totp::next` for a
//! code of a step not used yet (waiting for the next step only when it must).

use e2e::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::{
    process::Command,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// The scripts' venv (scripts/bootstrap.sh installs pyotp and boto3 there).
fn python() -> String {
    std::env::var("E2E_PYTHON").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python").to_owned())
}

fn run_python(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/bootstrap.sh)", python()));
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// An authenticator app holding one secret: pyotp makes the codes.
struct Totp {
    secret: String,
    last_step: i64,
}

impl Totp {
    fn new(secret: &str) -> Totp {
        Totp { secret: secret.to_owned(), last_step: i64::MIN }
    }

    fn code_at_step(&self, step: i64) -> String {
        let at = (step * 30).to_string();
        run_python("import pyotp, sys; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))", &[&self.secret, &at])
    }

    /// A code of a step no earlier request used: the current step, or the next one (which the
    /// service accepts as one step of drift); waits for the clock only when both are spent.
    async fn next(&mut self) -> String {
        loop {
            let current = unix_now().div_euclid(30);
            let step = (self.last_step + 1).max(current);
            if step <= current + 1 {
                self.last_step = step;
                return self.code_at_step(step);
            }
            let wait = 30 - unix_now().rem_euclid(30) + 1;
            tokio::time::sleep(Duration::from_secs(wait as u64)).await;
        }
    }
}

fn bearer(tokens: &Tokens) -> String {
    format!("Bearer {}", tokens.access_token)
}

async fn account_call(stack: &Stack, method: Method, path: &str, tokens: &Tokens, body: &Value) -> Resp {
    let auth = bearer(tokens);
    let headers = [("content-type", "application/json"), ("authorization", auth.as_str())];
    stack.request(method, "account", path, &headers, Some(body.to_string().into_bytes())).await
}

/// A fresh phone-verified account with a confirmed authenticator.
async fn with_authenticator(stack: &Stack, fake: &Fake) -> (Account, Tokens, Totp, Vec<String>, Value) {
    let (account, tokens) = stack.register_and_verify(fake).await;
    let enrolment = account_call(stack, Method::POST, "/me/factors/totp", &tokens, &json!({ "password": account.password })).await;
    let enrolment = enrolment.expect(201).clone();
    let mut app = Totp::new(enrolment["secret"].as_str().unwrap());
    let code = app.next().await;
    let confirmed = account_call(stack, Method::POST, "/me/factors/totp/confirm", &tokens, &json!({ "code": code })).await;
    let codes = confirmed.expect(200)["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    (account, tokens, app, codes, enrolment)
}

fn amr(tokens: &Value) -> Value {
    jwt_part(tokens["access_token"].as_str().unwrap(), 1)["amr"].clone()
}

async fn verify_recovery(stack: &Stack, challenge: &str, code: &str) -> Resp {
    stack.post_json("verify", "/auth/verify", &json!({ "challenge_id": challenge, "recovery_code": code })).await
}

#[tokio::test]
async fn enrolment_then_a_totp_login_that_sends_no_sms() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, tokens) = stack.register_and_verify(&fake).await;
    let wrong_password = account_call(&stack, Method::POST, "/me/factors/totp", &tokens, &json!({ "password": "not the password" })).await;
    wrong_password.expect_error(401, "invalid_credentials");
    let resp = account_call(&stack, Method::POST, "/me/factors/totp", &tokens, &json!({ "password": account.password })).await;
    let enrolment = resp.expect(201).clone();
    assert_keys(&enrolment, &["secret", "otpauth_uri", "qr_svg", "expires_in"], "enrolment");
    assert_eq!(enrolment["expires_in"], 600);
    let secret = enrolment["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    assert_eq!(uri, format!("otpauth://totp/sms-mfa:{}?secret={secret}&issuer=sms-mfa&algorithm=SHA1&digits=6&period=30", account.email));
    // An authenticator app reads the same account out of the URI.
    let parsed = run_python(
        "import pyotp, sys; t = pyotp.parse_uri(sys.argv[1]); print(t.secret, t.issuer, t.name, t.digits, t.interval, t.digest().name)",
        &[uri],
    );
    assert_eq!(parsed, format!("{secret} sms-mfa {} 6 30 sha1", account.email));
    let svg = enrolment["qr_svg"].as_str().unwrap();
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "an SVG document");

    // Confirm with the app's code; 10 recovery codes.
    let mut app = Totp::new(secret);
    let code = app.next().await;
    account_call(&stack, Method::POST, "/me/factors/totp/confirm", &tokens, &json!({ "code": wrong_code(&code) }))
        .await
        .expect_error(401, "invalid_code");
    let confirmed = account_call(&stack, Method::POST, "/me/factors/totp/confirm", &tokens, &json!({ "code": code })).await;
    let codes = confirmed.expect(200)["recovery_codes"].as_array().unwrap().clone();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.as_str().unwrap().len() == 19));
    let me = stack.get("account", "/me", Some(&tokens.access_token)).await;
    let me = me.expect(200);
    assert_eq!((me["factors"].clone(), me["recovery_codes_remaining"].clone()), (json!(["phone", "totp"]), json!(10)));
    assert!(!me.to_string().contains(secret), "GET /me never shows the secret");

    // The secret is never shown again (snappymail#1708): a second enrolment is refused.
    let again = account_call(&stack, Method::POST, "/me/factors/totp", &tokens, &json!({ "password": account.password })).await;
    again.expect_error(409, "factor_exists");
    again.assert_not_leaking(secret, "authenticator secret");

    // Login: a totp challenge, no SMS.
    let sends = fake.sends_to(&account.phone).await;
    let challenge = stack.login_challenge(&account).await;
    assert_eq!(fake.sends_to(&account.phone).await, sends, "a TOTP login sends no SMS");
    assert_keys(&challenge, &["id", "purpose", "expires_in", "factor", "factors"], "totp challenge");
    assert_eq!((challenge["factor"].clone(), challenge["factors"].clone()), (json!("totp"), json!(["totp", "phone", "recovery_code"])));
    let id = challenge["id"].as_str().unwrap();
    let code = app.next().await;
    let tokens = stack.verify(id, &code).await.expect(200).clone();
    assert_eq!(amr(&tokens), json!(["pwd", "otp", "mfa"]));
    stack.protected(tokens["access_token"].as_str().unwrap()).await.expect(200);
}

/// hanko PR #2723, CVE-2024-5658, devise-two-factor GHSA-jm35-h8q2-73mp.
#[tokio::test]
async fn the_enrolment_code_cannot_be_replayed_as_the_first_login_code() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, tokens) = stack.register_and_verify(&fake).await;
    let enrolment = account_call(&stack, Method::POST, "/me/factors/totp", &tokens, &json!({ "password": account.password })).await;
    let mut app = Totp::new(enrolment.expect(201)["secret"].as_str().unwrap());
    let code = app.next().await;
    account_call(&stack, Method::POST, "/me/factors/totp/confirm", &tokens, &json!({ "code": code })).await.expect(200);
    let challenge = stack.login_challenge(&account).await;
    let id = challenge["id"].as_str().unwrap();
    stack.verify(id, &code).await.expect_error(401, "invalid_code");
    // A fresh step works, once: its reuse on a second challenge fails too.
    let next = app.next().await;
    stack.verify(id, &next).await.expect(200);
    let other = stack.login_challenge(&account).await;
    stack.verify(other["id"].as_str().unwrap(), &next).await.expect_error(401, "invalid_code");
}

/// Zitadel CVE-2024-32868 / CVE-2023-47111, Gitea GHSA-5mx6-8rwm-52wf.
#[tokio::test]
async fn fifty_parallel_wrong_codes_over_ten_challenges_stay_within_the_account_limit() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    clear_of_window_edge(SHORT_WINDOW, Duration::from_secs(120)).await;
    let (account, _, mut app, _, _) = with_authenticator(&stack, &fake).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(stack.login_challenge(&account).await["id"].as_str().unwrap().to_owned());
    }
    let right = app.next().await;
    let wrong = wrong_code(&right);
    let responses = concurrently(50, |i| {
        let (stack, id, wrong) = (stack.clone(), ids[i % 10].clone(), wrong.clone());
        async move { stack.verify(&id, &wrong).await }
    })
    .await;
    let counts = tally(&responses);
    assert_eq!(counts.get(&(401, "invalid_code".to_owned())), Some(&10), "exactly 10 wrong codes compared: {counts:?}");
    for resp in responses.iter().filter(|r| r.status == 429) {
        assert!(resp.json["error"] == "rate_limited" || resp.json["error"] == "too_many_attempts", "{}", resp.describe());
    }
    // A new password login does not reset the count: the right code now waits.
    let fresh = stack.login_challenge(&account).await;
    let limited = stack.verify(fresh["id"].as_str().unwrap(), &right).await;
    limited.expect_error(429, "rate_limited");
    assert!(limited.retry_after() >= 1);
}

#[tokio::test]
async fn recovery_codes_complete_a_login_once_and_a_new_set_retires_the_old() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, tokens, mut app, codes, _) = with_authenticator(&stack, &fake).await;
    let challenge = stack.login_challenge(&account).await;
    let id = challenge["id"].as_str().unwrap();
    let done = verify_recovery(&stack, id, &codes[0].to_uppercase()).await.expect(200).clone();
    assert_eq!(amr(&done), json!(["pwd", "mfa", "x-recovery-code"]));

    // One code, five parallel logins: one wins.
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(stack.login_challenge(&account).await["id"].as_str().unwrap().to_owned());
    }
    let responses = concurrently(5, |i| {
        let (stack, id, code) = (stack.clone(), ids[i].clone(), codes[1].clone());
        async move { verify_recovery(&stack, &id, &code).await }
    })
    .await;
    assert_eq!(responses.iter().filter(|r| r.status == 200).count(), 1, "{:?}", tally(&responses));
    let me = stack.get("account", "/me", Some(&tokens.access_token)).await;
    assert_eq!(me.expect(200)["recovery_codes_remaining"], 8);

    // A new set with the password and a current code; the old codes stop working.
    let code = app.next().await;
    let fresh =
        account_call(&stack, Method::POST, "/me/recovery-codes", &tokens, &json!({ "password": account.password, "code": code })).await;
    let fresh = fresh.expect(200)["recovery_codes"].as_array().unwrap().clone();
    let challenge = stack.login_challenge(&account).await;
    let id = challenge["id"].as_str().unwrap();
    verify_recovery(&stack, id, &codes[2]).await.expect_error(401, "invalid_code");
    verify_recovery(&stack, id, fresh[0].as_str().unwrap()).await.expect(200);
}

#[tokio::test]
async fn the_secret_is_not_in_the_table_and_recovery_codes_are_stored_hashed() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (_, _, _, codes, enrolment) = with_authenticator(&stack, &fake).await;
    let secret = enrolment["secret"].as_str().unwrap();
    // Every item of the table, read with boto3 from outside the service.
    let dump = run_python(
        "import boto3, json, os, sys, base64\n\
         db = boto3.client('dynamodb', endpoint_url=os.environ['DYNAMODB_ENDPOINT'], region_name='us-east-1')\n\
         items, start = [], None\n\
         while True:\n\
         \x20   kw = {'TableName': sys.argv[1]}\n\
         \x20   if start: kw['ExclusiveStartKey'] = start\n\
         \x20   out = db.scan(**kw); items += out['Items']; start = out.get('LastEvaluatedKey')\n\
         \x20   if not start: break\n\
         print(json.dumps(items, default=lambda b: base64.b64encode(b).decode()))",
        &[&env("E2E_TABLE_NAME")],
    );
    let raw = run_python("import base64, sys; s = base64.b32decode(sys.argv[1]); print(s.hex(), base64.b64encode(s).decode())", &[secret]);
    let (hex, b64) = raw.split_once(' ').unwrap();
    assert!(dump.contains("FACTOR#"), "the scan sees the authenticator items");
    for (needle, what) in [(secret, "base32 secret"), (hex, "hex secret"), (b64.trim_end_matches('='), "base64 secret")] {
        assert!(!dump.contains(needle), "the table holds the {what} in plaintext");
    }
    for code in &codes {
        assert!(!dump.to_lowercase().contains(&code.replace('-', "")), "a recovery code is stored in clear");
        assert!(!dump.contains(code.as_str()));
    }
}

#[tokio::test]
async fn resend_switches_a_totp_challenge_to_sms() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, _, _, _, _) = with_authenticator(&stack, &fake).await;
    let challenge = stack.login_challenge(&account).await;
    let id = challenge["id"].as_str().unwrap();
    let resent = stack.post_json("verify", "/auth/resend", &json!({ "challenge_id": id, "channel": "sms" })).await;
    let resent = resent.expect(200)["challenge"].clone();
    assert_eq!((resent["id"].as_str(), resent["factor"].as_str(), resent["channel"].as_str()), (Some(id), Some("phone"), Some("sms")));
    assert_masked(&resent["to"], &account.phone);
    let tokens = stack.complete(&fake, &resent, &account.phone).await;
    assert_eq!(amr(&tokens), json!(["pwd", "sms", "mfa"]));
}

#[tokio::test]
async fn a_reset_needs_the_authenticator_too_and_removal_brings_sms_back() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, tokens, mut app, _, _) = with_authenticator(&stack, &fake).await;
    let forgot = stack.post_json("account", "/auth/password/forgot", &json!({ "email": account.email })).await;
    let challenge = forgot.expect(202)["challenge"].clone();
    let id = challenge["id"].as_str().unwrap();
    let sms = stack.code_for(&fake, &account.phone).await;
    let new_password = fresh_password();
    let reset = |extra: Value| {
        let mut body = json!({ "challenge_id": id, "code": sms, "new_password": new_password });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    stack.post_json("account", "/auth/password/reset", &reset(json!({}))).await.expect_error(401, "factor_required");
    let code = app.next().await;
    stack.post_json("account", "/auth/password/reset", &reset(json!({ "totp_code": code }))).await.expect(204);
    let account = Account { password: new_password, ..account };

    // Sign in again (the reset ended every session), then remove the authenticator.
    let challenge = stack.login_challenge(&account).await;
    let tokens_after = Tokens::from_body(stack.verify(challenge["id"].as_str().unwrap(), &app.next().await).await.expect(200).clone());
    account_call(&stack, Method::GET, "/me", &tokens, &json!({})).await.expect_invalid_token();
    let code = app.next().await;
    let removal =
        account_call(&stack, Method::DELETE, "/me/factors/totp", &tokens_after, &json!({ "password": account.password, "code": code }))
            .await;
    removal.expect(204);
    let sends = fake.sends_to(&account.phone).await;
    let challenge = stack.login_challenge(&account).await;
    assert_eq!((challenge["factor"].as_str(), challenge.get("factors")), (Some("phone"), None));
    assert_eq!(fake.sends_to(&account.phone).await, sends + 1, "SMS again");
}
