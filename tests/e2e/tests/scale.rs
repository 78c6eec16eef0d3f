//! No hot key: 200 parallel sign-ups and logins through a proxy that records the DynamoDB item
//! of every write and read (scripts/dynamodb_proxy.py). Every key must belong to a family whose
//! rate one user, one phone, one IP or one challenge bounds, or be a shard of the global send
//! cap holding no more than its share. Also measures the DynamoDB calls of each step of a flow
//! (benches/README.md, "DynamoDB calls per flow").
//!
//! The "scale" stack of scripts/test.sh: E2E_SCALE_URL (Twilio Verify, per-IP caps out of the
//! way, SENDS_GLOBAL_HOUR=100000: 64 shards), its DynamoDB behind E2E_COUNTING_PROXY_URL.

use e2e::*;
use serde_json::Value;
use std::collections::BTreeMap;

const FLOWS: usize = 200;
/// Flows in flight at once: one per instance the stack runs of each function (WATCH_CONCURRENCY);
/// more would only queue, in cargo lambda watch and in the one-request-at-a-time local DynamoDB.
const IN_FLIGHT: usize = 8;
const SHARDS: usize = 64;

fn scale_stack() -> Stack {
    let _ = Stack::default_stack(); // installs the TLS provider reqwest is built without
                                    // Each flow hashes and verifies a password (argon2): queued requests can wait a while.
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(120)).build().unwrap();
    Stack { base: env("E2E_SCALE_URL").trim_end_matches('/').to_owned(), provider: Provider::TwilioVerify, client }
}

struct Proxy {
    base: String,
    client: reqwest::Client,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Touches {
    write: u64,
    check: u64,
    read: u64,
}

struct Counts {
    calls: BTreeMap<String, u64>,
    keys: BTreeMap<String, Touches>,
}

impl Proxy {
    fn from_env() -> Proxy {
        Proxy { base: env("E2E_COUNTING_PROXY_URL").trim_end_matches('/').to_owned(), client: reqwest::Client::new() }
    }

    async fn reset(&self) {
        let url = format!("{}/_proxy/reset", self.base);
        let status = self.client.post(&url).send().await.unwrap_or_else(|e| panic!("POST {url}: {e}")).status();
        assert!(status.is_success(), "POST {url}: {status}");
    }

    async fn counts(&self) -> Counts {
        let url = format!("{}/_proxy/counts", self.base);
        let body: Value = self.client.get(&url).send().await.unwrap().json().await.unwrap();
        let calls = body["calls"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect();
        let keys = body["keys"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let n = |f: &str| v[f].as_u64().unwrap_or(0);
                (k.clone(), Touches { write: n("write"), check: n("check"), read: n("read") })
            })
            .collect();
        Counts { calls, keys }
    }

    /// Resets, runs `step`, and returns the DynamoDB calls it made, by operation.
    async fn calls_of<F: std::future::Future<Output = T>, T>(&self, step: F) -> (T, BTreeMap<String, u64>) {
        self.reset().await;
        let out = step.await;
        (out, self.counts().await.calls)
    }
}

/// What bounds the rate of a key: the item families of shared/src/adapters/dynamodb/.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Family {
    User,
    Phone,
    Ip,
    Challenge,
    GlobalShard,
    /// Lifecycle events' outbox items: a fresh key per event (issue 29).
    Outbox,
}

fn family(pk: &str) -> Option<Family> {
    const PREFIXES: &[(&str, Family)] = &[
        ("USER#", Family::User),
        ("EMAIL#", Family::User),
        ("REFRESH#", Family::User),
        ("REVOKED#", Family::User),
        ("RATE#login_fail#", Family::User),
        ("FACTOR#", Family::User),
        ("DEVICE#", Family::User),
        ("RATE#factor_fail#", Family::User),
        ("RATE#reset_fail#", Family::User),
        ("PENDING#", Family::Phone),
        ("RATE#send#phone#", Family::Phone),
        ("RATE#register#ip#", Family::Ip),
        ("RATE#login#ip#", Family::Ip),
        ("RATE#send#ip#", Family::Ip),
        ("CHALLENGE#", Family::Challenge),
        ("OUTBOX#", Family::Outbox),
    ];
    if let Some(rest) = pk.strip_prefix("RATE#send#global#") {
        // RATE#send#global#<shard>#<window start>
        let (shard, window) = rest.split_once('#')?;
        return (shard.parse::<usize>().ok()? < SHARDS && window.parse::<u64>().is_ok()).then_some(Family::GlobalShard);
    }
    PREFIXES.iter().find(|(prefix, _)| pk.starts_with(prefix)).map(|(_, f)| *f)
}

fn total(calls: &BTreeMap<String, u64>) -> u64 {
    calls.values().sum()
}

/// One complete flow: sign up, verify, log in, verify, refresh.
async fn flow(stack: &Stack, fake: &Fake) -> Account {
    let (account, _) = stack.register_and_verify(fake).await;
    let tokens = stack.login_and_verify(fake, &account).await;
    stack.refresh(&tokens.refresh_token).await.expect(200);
    account
}

#[tokio::test]
async fn no_key_outside_the_bounded_families_takes_more_than_its_share() {
    let stack = scale_stack();
    let fake = Fake::from_env();
    let proxy = Proxy::from_env();

    // One flow step by step: DynamoDB calls per step, printed for benches/README.md.
    let ((account, challenge), register) = proxy.calls_of(stack.register_fresh()).await;
    let (body, signup_verify) = proxy.calls_of(stack.complete(&fake, &challenge, &account.phone)).await;
    let _ = Tokens::from_body(body);
    let (challenge, login) = proxy.calls_of(stack.login_challenge(&account)).await;
    let (body, login_verify) = proxy.calls_of(stack.complete(&fake, &challenge, &account.phone)).await;
    let tokens = Tokens::from_body(body);
    let (_, refresh) = proxy.calls_of(async { stack.refresh(&tokens.refresh_token).await.expect(200).clone() }).await;
    // Remembered devices (issue 30): a login completed with `remember_device`, then a login
    // that the device completes at once (no challenge, no code).
    let challenge = stack.login_challenge(&account).await;
    let code = stack.code_for(&fake, &account.phone).await;
    let remember = serde_json::json!({ "challenge_id": challenge["id"], "code": code, "remember_device": true });
    let (body, remember_verify) =
        proxy.calls_of(async { stack.post_json("verify", "/auth/verify", &remember).await.expect(200).clone() }).await;
    let device_login_body =
        serde_json::json!({ "email": account.email, "password": account.password, "device_token": body["device"]["token"] });
    let (body, device_login) =
        proxy.calls_of(async { stack.post_json("login", "/auth/login", &device_login_body).await.expect(200).clone() }).await;
    assert!(body["access_token"].is_string(), "the device skipped the code: {body}");
    for (step, calls) in [
        ("register", &register),
        ("verify (sign-up)", &signup_verify),
        ("login", &login),
        ("verify (login)", &login_verify),
        ("refresh", &refresh),
        ("verify (login, remember_device)", &remember_verify),
        ("login (remembered device)", &device_login),
    ] {
        println!("DynamoDB calls, {step}: {} {calls:?}", total(calls));
    }
    // The counts benches/README.md states; more means a call crept back in.
    // Since authenticator apps: every second-factor check reserves a slot of the per-account
    // failure limit and gives it back when right (2 updates), and reads the account's FACTOR
    // item (1 read); login reads it too, to pick the factor. Since the hardening (issue 25): a
    // check reads the account first (a challenge made under older credentials is refused before
    // a check is counted: 1 read), and login reserves its failed-password slot before argon2 and
    // gives it back (2 updates instead of 1 read).
    // Since roles and administration (issue 28): every new session notes `last_sign_in_at` on
    // the user (1 update per sign-in: verify, and a login with a remembered device).
    assert_eq!(total(&register), 9, "register: {register:?}");
    assert_eq!(total(&signup_verify), 10, "verify (sign-up): {signup_verify:?}");
    assert_eq!(total(&login), 13, "login: {login:?}");
    assert_eq!(total(&login_verify), 9, "verify (login): {login_verify:?}");
    assert_eq!(total(&refresh), 3, "refresh: {refresh:?}");
    // Remembering adds the account's device slots read at once and the device put (2 calls);
    // a login with a remembered device: the IP counter, the failed-password slot and its
    // release, the account (guard, user), the device, the rotation (one transaction) and the
    // session's refresh token, and nothing else (no challenge, no send, no factor read).
    assert_eq!(total(&remember_verify), total(&login_verify) + 2, "verify (remember_device): {remember_verify:?}");
    assert_eq!(remember_verify.get("BatchGetItem"), Some(&1), "the slots in one read: {remember_verify:?}");
    assert_eq!(total(&device_login), 9, "login (remembered device): {device_login:?}");
    // Two transactions since the lifecycle events (issue 29): the rotation that spends the token,
    // and the session's refresh token with its `UserSignedIn` outbox item (was a PutItem).
    assert_eq!(device_login.get("TransactWriteItems"), Some(&2), "the token spent, the session with its event: {device_login:?}");
    assert_eq!(device_login.get("PutItem"), None, "the session's token is written with its event: {device_login:?}");
    // The same holds for a login's verify: the session start is a transaction, no more calls.
    assert_eq!(login_verify.get("PutItem"), None, "verify (login): the session with its event: {login_verify:?}");

    // 200 flows, IN_FLIGHT at a time.
    proxy.reset().await;
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let started = std::time::Instant::now();
    let accounts = concurrently(FLOWS, |_| {
        let (stack, fake, permits) = (stack.clone(), fake.clone(), permits.clone());
        async move {
            let _permit = permits.acquire_owned().await.unwrap();
            flow(&stack, &fake).await
        }
    })
    .await;
    println!("{FLOWS} flows in {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(accounts.len(), FLOWS);
    let counts = proxy.counts().await;
    println!("DynamoDB calls of {FLOWS} flows: {} {:?}", total(&counts.calls), counts.calls);

    let mut by_family: BTreeMap<Family, (usize, Touches, Touches)> = BTreeMap::new(); // keys, sum, max
    let mut unknown = Vec::new();
    for (pk, t) in &counts.keys {
        let Some(f) = family(pk) else {
            unknown.push(pk.clone());
            continue;
        };
        let e = by_family.entry(f).or_default();
        e.0 += 1;
        e.1 = Touches { write: e.1.write + t.write, check: e.1.check + t.check, read: e.1.read + t.read };
        e.2 = Touches { write: e.2.write.max(t.write), check: e.2.check.max(t.check), read: e.2.read.max(t.read) };
    }
    for (f, (keys, sum, max)) in &by_family {
        println!("{f:?}: {keys} keys, {sum:?} in all, at most {max:?} on one key");
    }
    assert!(unknown.is_empty(), "keys of no known family (what bounds their rate?): {unknown:?}");

    // One user's, phone's or challenge's key is touched by its own flow only: a handful of
    // times, however many flows run (at most 8; with the per-account second-factor limit a
    // user key now takes 4 writes and a condition check in one flow, up from 4 in all).
    for f in [Family::User, Family::Phone, Family::Challenge] {
        let (_, _, max) = by_family[&f];
        assert!(max.write + max.check <= 8 && max.read <= 8, "{f:?}: a key took {max:?} in {FLOWS} flows");
    }
    // One outbox item per event (UserSignedUp, UserSignedIn: 2 per flow), each written once
    // and never read: the outbox adds no key that every request writes.
    let (outbox_keys, outbox_sum, outbox_max) = by_family[&Family::Outbox];
    assert_eq!(outbox_keys, 2 * FLOWS, "an outbox item per sign-up and per sign-in");
    assert_eq!((outbox_max.write, outbox_sum.read), (1, 0), "each outbox item written once, never read");

    // Every code sent (a sign-up and a login per flow) counted once against the global cap,
    // spread over the shards: none takes more than its share (binomial: mean 6.25 here, a
    // bound of mean + 6 sd is never reached by chance).
    let (shard_keys, shard_sum, shard_max) = by_family[&Family::GlobalShard];
    assert_eq!(shard_sum.write, 2 * FLOWS as u64, "one global count per code sent: {shard_sum:?}");
    let mean = shard_sum.write as f64 / SHARDS as f64;
    let bound = (mean + 6.0 * mean.sqrt()).ceil() as u64;
    assert!(shard_max.write <= bound, "a shard took {} writes of {} (bound {bound})", shard_max.write, shard_sum.write);
    assert!(shard_keys >= SHARDS / 2, "{} sends used only {shard_keys} of {SHARDS} shards", shard_sum.write);
    assert_eq!(shard_sum.read, 0, "the global cap is never read");

    // Only the per-IP keys take every flow (all come from 127.0.0.1 here; one IP's own rate
    // and its caps bound them). Nothing else comes close.
    let busiest_other =
        counts.keys.iter().filter(|(pk, _)| family(pk) != Some(Family::Ip)).map(|(_, t)| t.write + t.check + t.read).max().unwrap_or(0);
    let all_writes: u64 = counts.keys.values().map(|t| t.write + t.check).sum();
    assert!(busiest_other * 100 <= all_writes, "a key outside the per-IP family took {busiest_other} of {all_writes} writes");
}
