//! Operations and abuse (issue 15), end to end:
//! - a flow writes the expected audit lines and EMF metric lines, counted per request in the
//!   default stack's function log (E2E_DEFAULT_LOG), and none of them holds a code, a token, the
//!   password or the whole phone number;
//! - a Twilio outage is counted as ProviderErrors;
//! - SMS_ALLOWED_COUNTRIES (the "countries" stack, E2E_COUNTRIES_URL: the default stack's table
//!   and settings with GB,IE allowed) refuses other regions with 400 invalid_phone naming the
//!   region, before anything is stored (the table is scanned) or sent (the fake's counts), on
//!   register, phone change and the resend of a challenge the default stack started.
//!
//! The lines of a test's own requests are found through its user: each audit line carries the
//! user id and the request id, and every metric line the request id.

use e2e::*;
use serde_json::{json, Value};
use std::{collections::BTreeMap, time::Duration};

/// The default stack's function log, parsed: every line that is a JSON object.
fn log_lines() -> Vec<Value> {
    let path = env("E2E_DEFAULT_LOG");
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("E2E_DEFAULT_LOG {path}: {e}"));
    String::from_utf8_lossy(&text)
        .lines()
        .filter(|line| line.starts_with('{'))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(Value::is_object)
        .collect()
}

/// Polls the log until `done` accepts it (lines are written before each answer; the poll only
/// absorbs file-system delays).
async fn log_until(what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    for _ in 0..50 {
        let lines = log_lines();
        if done(&lines) {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the default stack's log never showed {what}");
}

fn audit_of<'a>(lines: &'a [Value], user_id: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["audit"].is_string() && l["user_id"] == user_id).collect()
}

/// The request id of any line of the request: audit and metric lines at the top, tracing lines
/// in their span.
fn request_of(line: &Value) -> Option<&str> {
    line["request_id"].as_str().or_else(|| line["span"]["requestId"].as_str())
}

/// The metric lines of one request: metric name → its documents.
fn metrics_of<'a>(lines: &'a [Value], request_id: &str) -> BTreeMap<String, Vec<&'a Value>> {
    let mut out: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for line in lines.iter().filter(|l| l.get("_aws").is_some() && request_of(l) == Some(request_id)) {
        out.entry(emf_metric_name(line)).or_default().push(line);
    }
    out
}

/// The one metric a line defines, after checking the EMF essentials: a millisecond Timestamp,
/// one directive in the service's namespace, its dimensions and value as top-level members.
#[track_caller]
fn emf_metric_name(line: &Value) -> String {
    let aws = &line["_aws"];
    assert!(aws["Timestamp"].as_u64().is_some_and(|t| t > 1_500_000_000_000), "Timestamp in ms: {line}");
    let directives = aws["CloudWatchMetrics"].as_array().unwrap_or_else(|| panic!("CloudWatchMetrics: {line}"));
    assert_eq!(directives.len(), 1, "{line}");
    let directive = &directives[0];
    assert_eq!(directive["Namespace"], "sms-mfa", "{line}");
    for set in directive["Dimensions"].as_array().unwrap_or_else(|| panic!("Dimensions: {line}")) {
        for key in set.as_array().unwrap_or_else(|| panic!("a dimension set: {line}")) {
            let key = key.as_str().unwrap_or_default();
            assert!(line[key].as_str().is_some_and(|v| !v.is_empty()), "dimension {key} without a value: {line}");
        }
    }
    let name = directive["Metrics"][0]["Name"].as_str().unwrap_or_else(|| panic!("metric name: {line}")).to_owned();
    assert!(line[&name].is_number(), "{name} has no value at the top level: {line}");
    name
}

#[track_caller]
fn assert_counts(metrics: &BTreeMap<String, Vec<&Value>>, expected: &[(&str, usize)], what: &str) {
    let counts: BTreeMap<&str, usize> = metrics.iter().map(|(name, docs)| (name.as_str(), docs.len())).collect();
    let expected: BTreeMap<&str, usize> = expected.iter().copied().collect();
    assert_eq!(counts, expected, "metric lines of {what}: {metrics:?}");
}

#[tokio::test]
async fn a_flow_writes_its_audit_and_metric_lines_and_no_secret() {
    let _lock = fault_lock().await; // no injected Twilio fault meanwhile
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, challenge) = stack.register_fresh().await;
    let signup_id = challenge["id"].as_str().unwrap();
    let signup_code = stack.code_for(&fake, &account.phone).await;
    let wrong = wrong_code(&signup_code);
    stack.verify(signup_id, &wrong).await.expect_error(401, "invalid_code");
    let first = Tokens::from_body(stack.verify(signup_id, &signup_code).await.expect(200).clone());
    let login = stack.login_challenge(&account).await;
    let login_code = stack.code_for(&fake, &account.phone).await;
    let tokens = Tokens::from_body(stack.verify(login["id"].as_str().unwrap(), &login_code).await.expect(200).clone());
    stack.login(&account.email, "not the password, at all").await.expect_error(401, "invalid_credentials");
    let rotated = Tokens::from_body(stack.refresh(&tokens.refresh_token).await.expect(200).clone());
    tokio::time::sleep(REFRESH_REUSE_GRACE + Duration::from_secs(1)).await;
    stack.refresh(&tokens.refresh_token).await.expect_invalid_token();

    let expected_events = [
        "code_sent",
        "sign_up",
        "code_failed",
        "login_completed",
        "code_sent",
        "login_started",
        "login_completed",
        "password_failed",
        "refresh_reuse",
    ];
    let lines = log_until("the flow's audit lines", |lines| audit_of(lines, &account.user_id).len() >= expected_events.len()).await;
    let audit = audit_of(&lines, &account.user_id);
    let events: Vec<&str> = audit.iter().map(|l| l["audit"].as_str().unwrap()).collect();
    assert_eq!(events, expected_events, "the audit trail of the flow");
    for line in &audit {
        let keys = keys(line);
        assert!(
            keys.iter().all(|k| ["level", "audit", "user_id", "phone", "source_ip", "request_id", "limit"].contains(&k.as_str())),
            "schema: {line}"
        );
        assert_eq!(line["source_ip"], "127.0.0.1", "the caller's IP: {line}");
        assert!(line["request_id"].as_str().is_some_and(|r| !r.is_empty()), "{line}");
        if line["audit"] != "refresh_reuse" {
            assert_eq!(line["phone"].as_str(), Some(masked(&account.phone).as_str()), "masked phone: {line}");
        }
    }
    let request = |i: usize| audit[i]["request_id"].as_str().unwrap().to_owned();
    assert_eq!((request(0), request(4)), (request(1), request(5)), "a code_sent line belongs to its sign-up or login");

    // The metric lines of each request (by its main audit event), counted.
    let main_events = [1, 2, 3, 5, 6, 7, 8];
    let expected: [(&[(&str, usize)], &str); 7] = [
        (&[("CodesSent", 1), ("Latency", 1)], "POST /auth/register"),
        (&[("VerificationsFailed", 1), ("Latency", 1)], "POST /auth/verify"),
        (&[("VerificationsPassed", 1), ("Latency", 1)], "POST /auth/verify"),
        (&[("CodesSent", 1), ("Logins", 1), ("Latency", 1)], "POST /auth/login"),
        (&[("VerificationsPassed", 1), ("Logins", 1), ("Latency", 1)], "POST /auth/verify"),
        (&[("Logins", 1), ("Latency", 1)], "POST /auth/login"),
        (&[("RefreshTokenReuse", 1), ("Latency", 1)], "POST /auth/refresh"),
    ];
    for (&event, (counts, route)) in main_events.iter().zip(&expected) {
        let metrics = metrics_of(&lines, &request(event));
        assert_counts(&metrics, counts, expected_events[event]);
        assert_eq!(metrics["Latency"][0]["Route"], *route, "{}", expected_events[event]);
    }
    let of = |event: usize, metric: &str| metrics_of(&lines, &request(event))[metric][0].clone();
    let sent = of(1, "CodesSent");
    assert_eq!((sent["Channel"].as_str(), sent["CallingCode"].as_str(), sent["CodesSent"].as_u64()), (Some("sms"), Some("44"), Some(1)));
    assert_eq!(of(2, "VerificationsFailed")["Purpose"], "signup");
    assert_eq!(of(3, "VerificationsPassed")["Purpose"], "signup");
    assert_eq!(of(5, "Logins")["Outcome"], "started");
    assert_eq!(of(6, "VerificationsPassed")["Purpose"], "login");
    assert_eq!(of(6, "Logins")["Outcome"], "completed");
    assert_eq!(of(7, "Logins")["Outcome"], "password_failed");
    assert_eq!(of(8, "Latency")["status"], 401);

    // No secret in any line of these requests (audit, metric and the function's own logs).
    let requests: Vec<String> = (0..audit.len()).map(request).collect();
    let flow_lines: Vec<String> =
        lines.iter().filter(|l| request_of(l).is_some_and(|r| requests.iter().any(|q| q == r))).map(Value::to_string).collect();
    assert!(flow_lines.len() > 2 * requests.len(), "the flow's lines were found: {}", flow_lines.len());
    let secrets = [
        (signup_code.as_str(), "the sign-up code"),
        (wrong.as_str(), "the wrong code"),
        (login_code.as_str(), "the login code"),
        (first.access_token.as_str(), "an access token"),
        (first.refresh_token.as_str(), "a refresh token"),
        (tokens.access_token.as_str(), "an access token"),
        (tokens.refresh_token.as_str(), "a refresh token"),
        (rotated.refresh_token.as_str(), "a refresh token"),
        (account.password.as_str(), "the password"),
        (account.phone.as_str(), "the whole phone number"),
    ];
    for line in &flow_lines {
        for (secret, what) in secrets {
            assert!(!contains_word(line, secret), "a log line holds {what}: {line}");
        }
    }
}

/// `needle` in `line` not as part of a longer run of letters and digits: a 6-digit code is
/// found where it would leak (`"code":"123456"`, `123456 is your code`), not inside a hex id.
fn contains_word(line: &str, needle: &str) -> bool {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    line.match_indices(needle).any(|(at, _)| !is_word(line[..at].chars().next_back()) && !is_word(line[at + needle.len()..].chars().next()))
}

/// Holds the fake's fault for its own requests; the other tests of this binary wait on the lock.
#[tokio::test]
async fn a_twilio_outage_is_counted_as_provider_errors() {
    let _lock = fault_lock().await;
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let account = Account::fresh();
    let fault = FaultGuard::set(&fake, "unavailable").await;
    let resp = stack.register(&account).await;
    fault.clear().await;
    resp.expect_error(503, "sms_unavailable");
    // No audit line names a request that failed before sign-up: find it by its answer. Other
    // test binaries do not run meanwhile, and this binary's other tests hold the lock.
    let lines = log_until("the failed registration's latency line", |lines| {
        lines.iter().any(|l| l["Route"] == "POST /auth/register" && l["status"] == 503)
    })
    .await;
    let failed: Vec<&str> =
        lines.iter().filter(|l| l["Route"] == "POST /auth/register" && l["status"] == 503).filter_map(request_of).collect();
    let request = *failed.last().unwrap();
    let metrics = metrics_of(&lines, request);
    assert_counts(&metrics, &[("ProviderErrors", 1), ("Latency", 1)], "a registration Twilio refused with 503");
    let error = metrics["ProviderErrors"][0];
    assert_eq!((error["Provider"].as_str(), error["Code"].as_str()), (Some("twilio_verify"), Some("http_503")), "{error}");
}

// ------------------------------------------------------------------------------------------------
// SMS_ALLOWED_COUNTRIES

fn countries_stack() -> Stack {
    Stack { base: env("E2E_COUNTRIES_URL").trim_end_matches('/').to_owned(), ..Stack::default_stack() }
}

/// Unique valid mobiles of this run outside the allowlist (the digits of a fresh UK number).
fn fresh_french_mobile() -> String {
    format!("+3361{}", &fresh_phone()[6..])
}

fn fresh_german_mobile() -> String {
    format!("+49151{}0", &fresh_phone()[6..])
}

/// Every item of the default stack's table as JSON text (DynamoDB's JSON protocol, paged).
async fn table_items() -> Vec<String> {
    let endpoint = env("DYNAMODB_ENDPOINT");
    let table = env("E2E_TABLE_NAME");
    let client = reqwest::Client::new();
    let mut items = Vec::new();
    let mut start: Option<Value> = None;
    loop {
        let mut body = json!({ "TableName": table });
        if let Some(key) = start.take() {
            body["ExclusiveStartKey"] = key;
        }
        let response = client
            .post(&endpoint)
            .header("x-amz-target", "DynamoDB_20120810.Scan")
            .header("content-type", "application/x-amz-json-1.0")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("scan {table}: {e}"));
        let status = response.status();
        let page: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "scan {table}: HTTP {status} {page}");
        items.extend(page["Items"].as_array().into_iter().flatten().map(Value::to_string));
        match page.get("LastEvaluatedKey") {
            Some(key) if !key.is_null() => start = Some(key.clone()),
            _ => return items,
        }
    }
}

#[track_caller]
fn assert_refused_naming(resp: &Resp, region: &str) {
    resp.expect_error(400, "invalid_phone");
    let message = resp.json["message"].as_str().unwrap_or_default();
    assert!(message.contains(region), "the message names the region {region}: {message}");
}

#[tokio::test]
async fn a_number_outside_the_allowlist_is_refused_before_anything_is_stored_or_sent() {
    let _lock = fault_lock().await; // no injected Twilio fault meanwhile
    let (countries, default, fake) = (countries_stack(), Stack::default_stack(), Fake::from_env());

    // Register: refused; no item names the email or the number; nothing sent.
    let mut refused = Account::fresh();
    refused.phone = fresh_french_mobile();
    assert_refused_naming(&countries.register(&refused).await, "FR");
    // An allowed region passes on the same stack.
    let (allowed, _) = countries.register_fresh().await;
    assert!(!allowed.user_id.is_empty());

    // Phone change to a German number, with a token of the default stack (same key and issuer),
    // and a wrong password: the region is refused first, so no failed password is counted.
    let (account, tokens) = default.register_and_verify(&fake).await;
    let german = fresh_german_mobile();
    let resp = countries.change_phone(&tokens.access_token, &german, "a wrong password, too").await;
    assert_refused_naming(&resp, "DE");

    // Resend of a challenge the default stack (no allowlist) started for a French number.
    let mut earlier = Account::fresh();
    earlier.phone = fresh_french_mobile();
    let challenge = default.register(&earlier).await.expect(201)["challenge"].clone();
    let challenge_id = challenge["id"].as_str().unwrap().to_owned();
    assert_eq!(fake.sends_to(&earlier.phone).await, 1);
    let item_of = |items: &[String]| items.iter().find(|i| i.contains(&format!("CHALLENGE#{challenge_id}"))).cloned();
    let before = item_of(&table_items().await).expect("the challenge is stored");
    assert_refused_naming(&countries.resend(&challenge_id).await, "FR");

    let items = table_items().await;
    for (needle, what) in [
        (refused.email.as_str(), "the refused email"),
        (refused.phone.as_str(), "the refused number"),
        (german.as_str(), "the refused new number"),
    ] {
        let holders: Vec<&String> = items.iter().filter(|i| i.contains(needle)).collect();
        assert!(holders.is_empty(), "items name {what}: {holders:?}");
    }
    assert_eq!(item_of(&items).as_deref(), Some(before.as_str()), "the refused resend changed the challenge");
    assert_eq!(fake.sends_to(&refused.phone).await, 0, "a code went to the refused number");
    assert_eq!(fake.sends_to(&german).await, 0, "a code went to the refused new number");
    assert_eq!(fake.sends_to(&earlier.phone).await, 1, "the refused resend sent a code");
    // The account kept its phone, and its password window counted nothing.
    let login = default.login_challenge(&account).await;
    assert_eq!(login["to"], masked(&account.phone));
}
