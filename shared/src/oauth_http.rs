//! HTTP glue of the OpenID Connect routes and the hosted pages: the SSO cookie, form bodies and
//! Basic client credentials, CORS for registered apps' origins, and the small HTML pages the
//! provider answers when it must not redirect.

use crate::{
    domain::{OAuthClients, OAuthParams},
    error::AuthError,
    http::{cookie, MAX_BODY_BYTES},
    use_cases::{BasicCredentials, SsoCookie},
};
use base64::{engine::general_purpose::STANDARD, Engine};
use lambda_http::{
    http::{header, HeaderName, HeaderValue, Method, StatusCode},
    Body, Request, Response,
};

/// The hosted pages' single sign-on cookie (API.md v3, "Session"): `HttpOnly` (script never
/// sees it), `__Host-` (this origin only), `SameSite=Lax` (an app's top-level navigation to
/// `/oauth2/authorize` carries it; another site's subrequests do not).
pub const SSO_COOKIE: &str = "__Host-sms-mfa-sso";

/// API.md "Hosted pages", verbatim: scripts, styles and requests from this origin only, images
/// also as data: URLs (the authenticator's QR code), no framing, no <base>, forms post here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Every answer of the hosted pages carries these, the provider's HTML pages too.
pub const HOSTED_PAGE_HEADERS: [(&str, &str); 4] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("strict-transport-security", "max-age=31536000; includeSubDomains"),
];

pub fn sso_cookie(req: &Request) -> Option<&str> {
    cookie(req, SSO_COOKIE)
}

/// Sets the SSO cookie on a sign-in's answer.
pub fn set_sso_cookie(response: &mut Response<Body>, cookie: &SsoCookie) {
    let value = format!("{SSO_COOKIE}={}; Max-Age={}; Path=/; Secure; HttpOnly; SameSite=Lax", cookie.value, cookie.max_age.as_secs());
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

pub fn clear_sso_cookie(response: &mut Response<Body>) {
    let value = format!("{SSO_COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax");
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&value).expect("a valid header value"));
}

/// The query string's parameters.
pub fn query_params(req: &Request) -> OAuthParams {
    OAuthParams::parse(req.uri().query().unwrap_or(""))
}

/// An `application/x-www-form-urlencoded` body (RFC 6749 §3.2), at most 16 KiB.
pub fn form_params(req: &Request) -> Result<OAuthParams, AuthError> {
    let bytes: &[u8] = match req.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(AuthError::PayloadTooLarge);
    }
    let mime = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next());
    if !mime.is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")) {
        return Err(crate::domain::OAuthError::invalid_request("send the parameters as application/x-www-form-urlencoded").into());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| crate::domain::OAuthError::invalid_request("the body is not UTF-8"))?;
    Ok(OAuthParams::parse(text))
}

/// `Authorization: Basic` client credentials (RFC 6749 §2.3.1: each part form-encoded first).
/// A malformed header is a failed client authentication.
pub fn basic_credentials(req: &Request) -> Result<Option<BasicCredentials>, AuthError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else { return Ok(None) };
    let invalid =
        || AuthError::from(crate::domain::OAuthError::new(crate::domain::OAuthErrorCode::InvalidClient, "malformed Basic credentials"));
    let value = value.to_str().map_err(|_| invalid())?.trim();
    let (scheme, encoded) = value.split_once(' ').ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(invalid());
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).map_err(|_| invalid())?).map_err(|_| invalid())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
    let unescape =
        |part: &str| form_urlencoded::parse(format!("x={part}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default();
    Ok(Some(BasicCredentials { client_id: unescape(id), secret: unescape(secret) }))
}

/// CORS for the OpenID Connect endpoints a browser app calls (API.md v3, "CORS"): the request's
/// `Origin`, if it is a registered app's, is allowed to read the answer; no other origin gets a
/// CORS header at all.
pub fn allow_registered_origin(req: &Request, clients: &OAuthClients, response: &mut Response<Body>) {
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    let Some(origin) = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return };
    if !clients.allows_origin(origin) {
        return;
    }
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("www-authenticate, retry-after"));
    }
}

/// The answer to a CORS preflight (`OPTIONS`): 204, with the allowances for a registered origin.
pub fn preflight(req: &Request, clients: &OAuthClients) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    allow_registered_origin(req, clients, &mut response);
    let headers = response.headers_mut();
    if headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
    response
}

/// Whether the request is a CORS preflight.
pub fn is_preflight(req: &Request) -> bool {
    req.method() == Method::OPTIONS
}

/// A 302 to `location`, never cached.
pub fn redirect(location: &str) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::FOUND;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A small HTML page with the hosted pages' headers: a message and a way back to sign-in.
pub fn html_page(status: StatusCode, title: &str, message: &str) -> Response<Body> {
    let text = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"stylesheet\" href=\"/assets/style.css\"></head>\n<body><main><section>\
         <h1>{title}</h1><p id=\"message\">{message}</p><p><a href=\"/\">Go to sign-in</a></p></section></main></body>\n</html>\n",
        title = escape_html(title),
        message = escape_html(message),
    );
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    with_hosted_page_headers(&mut response);
    response
}

pub fn with_hosted_page_headers(response: &mut Response<Body>) {
    for (name, value) in HOSTED_PAGE_HEADERS {
        response.headers_mut().insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
}

pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http;

    fn clients() -> OAuthClients {
        OAuthClients::parse(r#"[{"client_id":"spa","name":"SPA","redirect_uris":["https://app.example.com/cb","http://127.0.0.1/cb"]}]"#)
            .unwrap()
    }

    fn request(origin: Option<&str>) -> Request {
        let mut builder = http::Request::builder().method("OPTIONS").uri("/oauth2/token");
        if let Some(origin) = origin {
            builder = builder.header("origin", origin);
        }
        builder.body(Body::Empty).unwrap()
    }

    #[test]
    fn preflights_allow_registered_origins_only() {
        let allowed = preflight(&request(Some("https://app.example.com")), &clients());
        assert_eq!(allowed.status(), 204);
        assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example.com");
        assert!(allowed.headers()["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
        let loopback = preflight(&request(Some("http://127.0.0.1:5173")), &clients());
        assert_eq!(loopback.headers()["access-control-allow-origin"], "http://127.0.0.1:5173");
        for origin in [Some("https://evil.example.com"), Some("null"), None] {
            let refused = preflight(&request(origin), &clients());
            assert!(refused.headers().keys().all(|k| !k.as_str().starts_with("access-control-")), "{origin:?}");
        }
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let encoded = STANDARD.encode("my%20app:s%3Ac+r");
        let req = http::Request::builder().header("authorization", format!("Basic {encoded}")).body(Body::Empty).unwrap();
        let creds = basic_credentials(&req).unwrap().unwrap();
        assert_eq!((creds.client_id.as_str(), creds.secret.as_str()), ("my app", "s:c r"));
        for bad in ["Basic !!!", "Bearer abc", "Basic", &format!("Basic {}", STANDARD.encode("no-colon"))] {
            let req = http::Request::builder().header("authorization", bad).body(Body::Empty).unwrap();
            assert!(basic_credentials(&req).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_escape_what_they_show() {
        let page = html_page(StatusCode::BAD_REQUEST, "Error", "<script>alert(1)</script>");
        let Body::Text(text) = page.body() else { panic!() };
        assert!(!text.contains("<script>") && text.contains("&lt;script&gt;"));
        assert_eq!(page.headers()["content-security-policy"], CONTENT_SECURITY_POLICY);
    }
}
