//! The AWS SDK over our reqwest connector (`adapters::outbound_http`), against raw TCP servers that fail
//! the way networks do: the failures must reach the SDK as transient, so it retries them, and
//! the timeouts from the SDK's settings must apply.

mod support;

use aws_sdk_dynamodb::{
    config::timeout::TimeoutConfig,
    error::SdkError,
    types::AttributeValue,
};
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
