//! `local-router`: serves every route of template.yaml on one base URL, with the deployed paths,
//! in front of `cargo lambda watch`.
//!
//!   local-router --template template.yaml --watch http://127.0.0.1:9001 [--port 9000]
//!
//! Prints one line with its base URL once it accepts requests (scripts wait for it).

use axum::{
    body::{Body, Bytes},
    extract::{ConnectInfo, DefaultBodyLimit, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri},
    response::Response,
    Router,
};
use local_router::{api_gateway_event, Answer, Incoming, Routes};
use std::{
    io::Write as _,
    net::{Ipv4Addr, SocketAddr},
    process::ExitCode,
    sync::Arc,
};

struct Config {
    template: String,
    watch: String,
    port: u16,
}

struct Shared {
    routes: Routes,
    watch: String,
    client: reqwest::Client,
}

/// API Gateway's payload limit for HTTP APIs.
const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("local-router: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let config = parse_args(std::env::args().skip(1))?;
    let text = std::fs::read_to_string(&config.template).map_err(|e| format!("{}: {e}", config.template))?;
    let routes = Routes::from_template(&text)?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    // No timeout: the first request to a function compiles it under cargo lambda watch.
    let client = reqwest::Client::builder().build().map_err(|e| format!("http client: {e}"))?;
    let listener =
        tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).await.map_err(|e| format!("port {}: {e}", config.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    for route in &routes.routes {
        eprintln!("  {:<40} -> {}", route.key, route.function);
    }
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "local-router listening on http://{addr}");
    let _ = stdout.flush();
    let shared = Arc::new(Shared { routes, watch: config.watch.trim_end_matches('/').to_owned(), client });
    let app = Router::new().fallback(handle).layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES)).with_state(shared);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.map_err(|e| e.to_string())
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Config, String> {
    let usage = "usage: local-router --template FILE --watch URL [--port N]";
    let (mut template, mut watch, mut port) = (None, None, 0u16);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value; {usage}"));
        match arg.as_str() {
            "--template" => template = Some(value()?),
            "--watch" => watch = Some(value()?),
            "--port" => port = value()?.parse().map_err(|_| format!("--port must be a number; {usage}"))?,
            other => return Err(format!("unknown argument {other:?}; {usage}")),
        }
    }
    Ok(Config { template: template.ok_or(usage)?, watch: watch.ok_or(usage)?, port })
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let answer = match shared.routes.find(method.as_str(), path) {
        None => Answer::gateway(404, "Not Found"),
        Some(matched) => {
            let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_owned();
            let incoming = Incoming {
                method: method.as_str(),
                path,
                query: uri.query(),
                headers: headers.iter().filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned()))).collect(),
                body: &body,
                peer: peer.ip(),
                host: &host,
            };
            let request_id = uuid::Uuid::new_v4().to_string();
            let event = api_gateway_event(&incoming, &matched, &request_id, time::OffsetDateTime::now_utc());
            invoke(&shared, &matched.route.function, &event).await
        }
    };
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// Lambda's Invoke API as `cargo lambda watch` serves it: the event in, the function's answer out.
async fn invoke(shared: &Shared, function: &str, event: &serde_json::Value) -> Answer {
    let url = format!("{}/2015-03-31/functions/{function}/invocations", shared.watch);
    let sent = shared.client.post(&url).header("content-type", "application/json").body(event.to_string()).send().await;
    match sent {
        Ok(response) if response.status().is_success() => match response.bytes().await {
            Ok(bytes) => Answer::from_function(&bytes),
            Err(err) => gateway_error(function, &err.to_string()),
        },
        Ok(response) => {
            let status = response.status();
            let detail = response.text().await.unwrap_or_default();
            gateway_error(function, &format!("{status} {detail}"))
        }
        Err(err) => gateway_error(function, &err.to_string()),
    }
}

/// The function failed or could not run: API Gateway answers its own 500 and logs why.
fn gateway_error(function: &str, detail: &str) -> Answer {
    eprintln!("local-router: {function}: {detail}");
    Answer::gateway(500, "Internal Server Error")
}
