//! HTTP glue shared by every function: body limits and parsing, routing, the caller's identity,
//! and the one mapping from `AuthError` to status and body.

use crate::{domain::Caller, error::AuthError, metrics};
use lambda_http::{
    http::{header, HeaderValue, Method, StatusCode},
    request::RequestContext,
    Body, Request, RequestExt, Response,
};
use serde::{de::DeserializeOwned, Serialize};
use std::time::Instant;

pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The body of a JSON request, with the contract's errors: 413 over 16 KiB, 415 when not
/// JSON, 400 naming the field that is missing or of the wrong type.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, AuthError> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(AuthError::PayloadTooLarge);
    }
    let is_json =
        req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
        });
    if !is_json {
        return Err(AuthError::UnsupportedMediaType);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(AuthError::InvalidRequest("the body must be a JSON object".into()));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let detail = inner.to_string();
        let detail = detail.split(" at line").next().unwrap_or_default();
        if inner.is_syntax() || inner.is_eof() {
            AuthError::InvalidRequest("the body is not valid JSON".into())
        } else if path == "." && detail.starts_with("missing field") {
            AuthError::InvalidRequest(format!("the body lacks a required field: {}", detail.trim_start_matches("missing field ")))
        } else if path == "." {
            AuthError::InvalidRequest("the body must be a JSON object".into())
        } else {
            AuthError::InvalidRequest(format!(
                "field `{path}` must be {}",
                detail.rsplit_once("expected ").map_or("of another type", |(_, e)| e)
            ))
        }
    })?;
    de.end().map_err(|_| AuthError::InvalidRequest("the body has trailing data after the JSON".into()))?;
    Ok(value)
}

/// The route this function serves; anything else is 404 `not_found`.
pub fn expect_route(req: &Request, method: Method, path: &str) -> Result<(), AuthError> {
    if req.method() == method && route_path(req) == path {
        Ok(())
    } else {
        Err(AuthError::NotFound)
    }
}

/// The request path without a trailing slash; API Gateway and `cargo lambda watch` both put
/// the route path here.
pub fn route_path(req: &Request) -> &str {
    let path = req.raw_http_path();
    let path = if path.is_empty() { req.uri().path() } else { path };
    match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

/// The caller as API Gateway saw it. `X-Forwarded-For` is never read: anyone can set it.
pub fn caller(req: &Request) -> Caller {
    let source_ip = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    };
    Caller { source_ip }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(req: &Request) -> Result<&str, AuthError> {
    let value = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or(AuthError::InvalidToken)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::InvalidToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::InvalidToken);
    }
    Ok(token.trim())
}

pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    let text = serde_json::to_string(body).expect("response bodies serialize");
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // Tokens and challenge ids must not sit in a shared cache.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The hosted pages' remembered-device cookie (API.md "Remembered devices"). `HttpOnly`: the
/// pages' script never reads the token; `__Host-`: `Secure`, `Path=/` and no `Domain`, so only
/// this origin ever gets it; `SameSite=Strict`: no other site's request carries it.
pub const DEVICE_COOKIE: &str = "__Host-sms-mfa-device";

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// Tokens of a sign-in (200). With `into_cookie` (the hosted pages ask for it), the device
/// token leaves the body for the `HttpOnly` cookie, which lives as long as the device.
pub fn signed_in(mut signed_in: crate::use_cases::SignedIn, into_cookie: bool) -> Response<Body> {
    use secrecy::ExposeSecret;
    let moved = match (&mut signed_in.device, into_cookie) {
        (Some(device), true) => device.token.take().map(|token| (token, device.expires_in)),
        _ => None,
    };
    let mut response = json(StatusCode::OK, &signed_in);
    if let Some((token, max_age)) = moved {
        let value = format!("{DEVICE_COOKIE}={}; Max-Age={max_age}; Path=/; Secure; HttpOnly; SameSite=Strict", token.expose_secret());
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Removes the hosted pages' device cookie (its token skipped nothing: spent, expired, forgotten).
pub fn clear_device_cookie(response: &mut Response<Body>) {
    let value = format!("{DEVICE_COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict");
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&value).expect("a valid header value"));
}

/// The one mapping from error to status, code and body.
pub fn error_response(err: &AuthError) -> Response<Body> {
    use AuthError::*;
    if let OAuth(oauth) = err {
        return oauth_error_response(oauth);
    }
    let (status, code) = match err {
        InvalidRequest(_) | ChannelUnavailable(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        InvalidEmail(_) => (StatusCode::BAD_REQUEST, "invalid_email"),
        InvalidPhone(_) => (StatusCode::BAD_REQUEST, "invalid_phone"),
        WeakPassword(_) => (StatusCode::BAD_REQUEST, "weak_password"),
        InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
        InvalidCode { .. } => (StatusCode::UNAUTHORIZED, "invalid_code"),
        ChallengeInvalid => (StatusCode::UNAUTHORIZED, "challenge_invalid"),
        InvalidToken => (StatusCode::UNAUTHORIZED, "invalid_token"),
        NotFound => (StatusCode::NOT_FOUND, "not_found"),
        EmailTaken => (StatusCode::CONFLICT, "email_taken"),
        PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        TooManyAttempts => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
        RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        ResendTooSoon { .. } => (StatusCode::TOO_MANY_REQUESTS, "resend_too_soon"),
        DestinationBlocked { .. } => (StatusCode::FORBIDDEN, "destination_blocked"),
        SmsUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "sms_unavailable"),
        FactorExists => (StatusCode::CONFLICT, "factor_exists"),
        FactorRequired => (StatusCode::UNAUTHORIZED, "factor_required"),
        AccountDisabled => (StatusCode::FORBIDDEN, "account_disabled"),
        Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
        Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        OAuth(_) => unreachable!("answered above"),
    };
    let mut body = serde_json::json!({ "error": code, "message": err.to_string() });
    if let InvalidCode { attempts_remaining } = err {
        body["attempts_remaining"] = (*attempts_remaining).into();
    }
    let mut response = json(status, &body);
    let headers = response.headers_mut();
    match err {
        RateLimited { retry_after } | ResendTooSoon { retry_after } | DestinationBlocked { retry_after } => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs().max(1)));
        }
        TooManyAttempts => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("600"));
        }
        InvalidToken => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer error="invalid_token""#));
        }
        _ => {}
    }
    response
}

/// RFC 6749 §5.2: `{error, error_description}`, 400, or 401 with `WWW-Authenticate: Basic` for
/// a failed client authentication; never cached.
fn oauth_error_response(err: &crate::domain::OAuthError) -> Response<Body> {
    use crate::domain::OAuthErrorCode;
    let status = if err.code == OAuthErrorCode::InvalidClient { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
    let mut response = json(status, &serde_json::json!({ "error": err.code.as_str(), "error_description": err.description }));
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="sms-mfa""#));
    }
    response
}

/// Runs one request's work and answers it, logging route, outcome and latency once and writing
/// the route's latency metric. The work runs in the request's scope, so the audit and metric
/// lines it writes carry the request id and source IP.
/// Unexpected errors are logged with their detail and answered 500 `internal` without it.
pub async fn respond<F>(req: &Request, work: F) -> Result<Response<Body>, lambda_http::Error>
where
    F: std::future::Future<Output = Result<Response<Body>, AuthError>>,
{
    let scope = metrics::RequestScope {
        request_id: req.lambda_context_ref().map(|context| context.request_id.clone()),
        source_ip: caller(req).source_ip,
    };
    metrics::in_request(scope, async {
        let started = Instant::now();
        let (response, failure) = match work.await {
            Ok(response) => (response, None),
            Err(err) => (error_response(&err), Some(err)),
        };
        let (method, route) = (req.method().as_str(), route_path(req));
        let status = response.status().as_u16();
        let latency_ms = started.elapsed().as_millis() as u64;
        match failure {
            None => tracing::info!(method, route, status, latency_ms, "request handled"),
            Some(AuthError::Internal(source)) => {
                tracing::error!(method, route, status, latency_ms, error = %source, "request failed")
            }
            Some(err) => tracing::info!(method, route, status, latency_ms, reason = %err, "request refused"),
        }
        // A 404 path is whatever the client sent: it must not become a dimension value.
        let route = if status == 404 { "unmatched".to_owned() } else { format!("{method} {route}") };
        metrics::Metric::Latency { route: &route, status, millis: latency_ms }.emit();
        Ok(response)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http;

    #[derive(serde::Deserialize, Debug)]
    struct Body2 {
        #[allow(dead_code)]
        email: String,
    }

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut builder = http::Request::builder().method("POST").uri("/auth/login");
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        builder.body(Body::Text(body.to_owned())).unwrap()
    }

    fn message(err: AuthError) -> String {
        match err {
            AuthError::InvalidRequest(m) => m,
            other => panic!("expected invalid_request, got {other:?}"),
        }
    }

    #[test]
    fn bodies_are_limited_typed_and_named() {
        let json = Some("application/json; charset=utf-8");
        assert!(json_body::<Body2>(&request(json, r#"{"email":"a@b.co"}"#)).is_ok());
        assert!(matches!(json_body::<Body2>(&request(Some("text/plain"), "{}")), Err(AuthError::UnsupportedMediaType)));
        assert!(matches!(json_body::<Body2>(&request(None, "{}")), Err(AuthError::UnsupportedMediaType)));
        let huge = format!(r#"{{"email":"{}"}}"#, "a".repeat(MAX_BODY_BYTES));
        assert!(matches!(json_body::<Body2>(&request(json, &huge)), Err(AuthError::PayloadTooLarge)));
        assert!(message(json_body::<Body2>(&request(json, "{}")).unwrap_err()).contains("email"));
        assert!(message(json_body::<Body2>(&request(json, r#"{"email":5}"#)).unwrap_err()).contains("email"));
        assert_eq!(message(json_body::<Body2>(&request(json, "null")).unwrap_err()), "the body must be a JSON object");
        assert!(message(json_body::<Body2>(&request(json, "{")).unwrap_err()).contains("not valid JSON"));
        let deep = "[".repeat(10_000);
        assert!(json_body::<Body2>(&request(json, &deep)).is_err(), "deep nesting is refused, not a stack overflow");
    }

    #[test]
    fn errors_map_to_the_contract_with_their_headers() {
        let limited = error_response(&AuthError::RateLimited { retry_after: std::time::Duration::from_secs(42) });
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()["retry-after"], "42");
        let token = error_response(&AuthError::InvalidToken);
        assert_eq!(token.headers()["www-authenticate"], r#"Bearer error="invalid_token""#);
        let internal = error_response(&AuthError::internal("dynamodb: AccessDenied arn:aws:secret"));
        let Body::Text(text) = internal.body() else { panic!("json body") };
        assert_eq!(internal.status(), 500);
        assert!(!text.contains("AccessDenied"), "no internal detail reaches the client: {text}");
        let code = error_response(&AuthError::InvalidCode { attempts_remaining: 3 });
        let Body::Text(text) = code.body() else { panic!("json body") };
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!((value["error"].as_str(), value["attempts_remaining"].as_u64()), (Some("invalid_code"), Some(3)));
    }

    #[test]
    fn bearer_tokens_and_routes() {
        let req = http::Request::builder().uri("/protected/").header("authorization", "bearer abc").body(Body::Empty).unwrap();
        assert_eq!(bearer_token(&req).unwrap(), "abc");
        assert!(expect_route(&req, Method::GET, "/protected").is_ok());
        assert!(matches!(expect_route(&req, Method::POST, "/protected"), Err(AuthError::NotFound)));
        let basic = http::Request::builder().header("authorization", "Basic abc").body(Body::Empty).unwrap();
        assert!(matches!(bearer_token(&basic), Err(AuthError::InvalidToken)));
    }
}
