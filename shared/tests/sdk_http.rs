//! The AWS SDK over our reqwest connector (`adapters::aws::http_client`), against raw TCP servers that fail
//! the way networks do: the failures must reach the SDK as transient, so it retries them, and
//! the timeouts from the SDK's settings must apply.

mod support;

use aws_sdk_dynamodb::{config::timeout::TimeoutConfig, error::SdkError, types::AttributeValue};
use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use tokio::{io::AsyncReadExt, net::TcpListener};

/// A server that accepts connections, counts them, and then does `behaviour` with each.
async fn server(behaviour: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                match behaviour {
                    "hang" => tokio::time::sleep(Duration::from_secs(30)).await,
                    _ => drop(socket), // "close": hang up without an answer
                }
            });
        }
    });
    (url, accepted)
}

fn client(endpoint: &str, timeouts: TimeoutConfig) -> aws_sdk_dynamodb::Client {
    support::dynamodb_client(endpoint, Some(timeouts))
}

async fn get_item(client: &aws_sdk_dynamodb::Client) -> Result<(), SdkError<aws_sdk_dynamodb::operation::get_item::GetItemError>> {
    client.get_item().table_name("t").key("pk", AttributeValue::S("x".into())).send().await.map(|_| ())
}

#[tokio::test]
async fn a_dropped_connection_is_an_io_error_the_sdk_retries() {
    let (url, accepted) = server("close").await;
    let err = get_item(&client(&url, TimeoutConfig::disabled())).await.unwrap_err();
    let SdkError::DispatchFailure(failure) = &err else { panic!("not a dispatch failure: {err:?}") };
    assert!(failure.is_io(), "{failure:?}");
    // The standard retry strategy: 3 attempts for a transient error.
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_read_timeout_from_the_sdk_settings_applies_and_is_retried() {
    let (url, accepted) = server("hang").await;
    let timeouts = TimeoutConfig::builder().read_timeout(Duration::from_millis(200)).build();
    let started = Instant::now();
    let err = get_item(&client(&url, timeouts)).await.unwrap_err();
    let SdkError::DispatchFailure(failure) = &err else { panic!("not a dispatch failure: {err:?}") };
    assert!(failure.is_timeout(), "{failure:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_refused_connection_is_an_io_error() {
    // Bind and drop: nothing listens on the port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = get_item(&client(&format!("http://127.0.0.1:{port}"), TimeoutConfig::disabled())).await.unwrap_err();
    let SdkError::DispatchFailure(failure) = &err else { panic!("not a dispatch failure: {err:?}") };
    assert!(failure.is_io(), "{failure:?}");
}

/// A server that answers every request with a DynamoDB-shaped 400 and keeps each request's head.
async fn recording_server() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::AsyncWriteExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16384];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                seen.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).to_lowercase());
                let body = r#"{"__type":"com.amazon.coral.validate#ValidationException","message":"recorded"}"#;
                let answer = format!("HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    (url, heads)
}

fn lean_env<'a>(extra: &[(&'a str, &'a str)]) -> sms_mfa::config::Env {
    let mut pairs = vec![
        ("AWS_REGION", "eu-west-2"),
        ("AWS_ACCESS_KEY_ID", "AKIDFROMENV"),
        ("AWS_SECRET_ACCESS_KEY", "secret-from-env"),
        ("AWS_SESSION_TOKEN", "token-from-env"),
    ];
    pairs.extend_from_slice(extra);
    sms_mfa::config::Env::from_pairs(pairs)
}

#[tokio::test]
async fn aws_from_the_environment_sends_each_service_to_its_own_endpoint_signed_with_the_environment_credentials() {
    let (dynamodb_url, dynamodb_heads) = recording_server().await;
    let (kms_url, kms_heads) = recording_server().await;
    let env = lean_env(&[("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_url.as_str()), ("AWS_ENDPOINT_URL_KMS", kms_url.as_str())]);
    let aws = sms_mfa::adapters::aws::Aws::from_env(&env).unwrap();
    assert!(aws.dynamodb().list_tables().send().await.is_err(), "the recording server answers 400");
    assert!(aws.kms().list_keys().send().await.is_err());

    let dynamodb = dynamodb_heads.lock().unwrap().clone();
    assert_eq!(dynamodb.len(), 1, "a 400 is not retried: {dynamodb:?}");
    assert!(dynamodb[0].contains("x-amz-target: dynamodb_20120810.listtables"), "{}", dynamodb[0]);
    assert!(dynamodb[0].contains("credential=akidfromenv/"), "{}", dynamodb[0]);
    assert!(dynamodb[0].contains("/eu-west-2/dynamodb/aws4_request"), "{}", dynamodb[0]);
    assert!(dynamodb[0].contains("x-amz-security-token: token-from-env"), "{}", dynamodb[0]);
    let kms = kms_heads.lock().unwrap().clone();
    assert_eq!(kms.len(), 1, "{kms:?}");
    assert!(kms[0].contains("x-amz-target: trentservice.listkeys"), "{}", kms[0]);
    assert!(kms[0].contains("/eu-west-2/kms/aws4_request"), "{}", kms[0]);
}

#[tokio::test]
async fn aws_from_the_environment_takes_the_general_endpoint_url_for_services_without_their_own() {
    let (url, heads) = recording_server().await;
    let env = lean_env(&[("AWS_ENDPOINT_URL", url.as_str()), ("AWS_ENDPOINT_URL_DYNAMODB", "")]);
    let aws = sms_mfa::adapters::aws::Aws::from_env(&env).unwrap();
    assert!(aws.dynamodb().list_tables().send().await.is_err());
    assert_eq!(heads.lock().unwrap().len(), 1, "a blank per-service URL counts as unset");
}

#[tokio::test]
async fn aws_from_the_environment_retries_a_dropped_connection_like_the_sdk_defaults() {
    let (url, accepted) = server("close").await;
    let aws = sms_mfa::adapters::aws::Aws::from_env(&lean_env(&[("AWS_ENDPOINT_URL_DYNAMODB", url.as_str())])).unwrap();
    let err = get_item(&aws.dynamodb()).await.unwrap_err();
    assert!(matches!(err, SdkError::DispatchFailure(_)), "{err:?}");
    // Without aws-config the service's default plugins set the retry strategy and sleep: still 3 attempts.
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[test]
fn aws_from_the_environment_names_what_is_missing_or_malformed() {
    use sms_mfa::config::Env;
    let var = |pairs: Vec<(&str, &str)>| sms_mfa::adapters::aws::Aws::from_env(&Env::from_pairs(pairs)).err().map(|e| e.var);
    let full = vec![("AWS_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "s")];
    assert_eq!(var(full.clone()), None);
    assert_eq!(var(full[1..].to_vec()), Some("AWS_REGION"));
    assert_eq!(var([("AWS_DEFAULT_REGION", "us-east-1")].into_iter().chain(full[1..].iter().copied()).collect()), None);
    assert_eq!(var(vec![full[0], full[2]]), Some("AWS_ACCESS_KEY_ID"));
    assert_eq!(var(vec![full[0], full[1], ("AWS_SECRET_ACCESS_KEY", "  ")]), Some("AWS_SECRET_ACCESS_KEY"));
    assert_eq!(var([("AWS_USE_FIPS_ENDPOINT", "yes")].into_iter().chain(full.iter().copied()).collect()), Some("AWS_USE_FIPS_ENDPOINT"));
    assert_eq!(
        var([("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "1")].into_iter().chain(full.iter().copied()).collect()),
        Some("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
    );
}
