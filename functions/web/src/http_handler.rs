use crate::assets::{self, Asset};
use lambda_http::{
    http::{header, HeaderName, HeaderValue, Method, StatusCode},
    Body, Error, Request, Response,
};
use sms_mfa::{
    http::{respond, route_path},
    AuthError,
};

/// API.md "Hosted pages", verbatim: scripts, styles and requests from this origin only, images
/// also as data: URLs (the authenticator's QR code), no framing, no <base>, forms post here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Every answer of this function carries these, the 404s too.
const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("strict-transport-security", "max-age=31536000; includeSubDomains"),
];

pub async fn handle(req: Request) -> Result<Response<Body>, Error> {
    let mut response = respond(&req, async {
        if req.method() != Method::GET {
            return Err(AuthError::NotFound);
        }
        let path = route_path(&req);
        let asset = match path.strip_prefix("/assets/") {
            Some(name) => assets::file(name),
            None if path == "/" => Some(&assets::INDEX),
            None => None,
        };
        asset.map(page).ok_or(AuthError::NotFound)
    })
    .await?;
    for (name, value) in SECURITY_HEADERS {
        response.headers_mut().insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    Ok(response)
}

fn page(asset: &Asset) -> Response<Body> {
    let mut response = Response::new(Body::Text(asset.text.to_owned()));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    // Small files without fingerprints: revalidate every time, so a deploy shows at once.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http;

    async fn get(method: &str, path: &str) -> Response<Body> {
        let req = http::Request::builder().method(method).uri(path).body(Body::Empty).unwrap();
        handle(req).await.unwrap()
    }

    fn text(response: &Response<Body>) -> &str {
        match response.body() {
            Body::Text(text) => text,
            other => panic!("expected a text body, got {other:?}"),
        }
    }

    #[track_caller]
    fn assert_security_headers(response: &Response<Body>) {
        let headers = response.headers();
        assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert!(headers["strict-transport-security"].to_str().unwrap().starts_with("max-age="));
    }

    #[test]
    fn the_policy_is_the_contracts_verbatim() {
        assert_eq!(
            CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        );
    }

    #[tokio::test]
    async fn pages_have_their_types_and_the_security_headers() {
        for (path, content_type, needle) in [
            ("/", "text/html; charset=utf-8", "<!doctype html>"),
            ("/assets/app.js", "text/javascript; charset=utf-8", "fetch("),
            ("/assets/style.css", "text/css; charset=utf-8", ":root"),
            ("/assets/logo.svg", "image/svg+xml", "<svg"),
        ] {
            let response = get("GET", path).await;
            assert_eq!(response.status(), 200, "{path}");
            assert_eq!(response.headers()["content-type"], content_type, "{path}");
            assert_security_headers(&response);
            assert!(text(&response).contains(needle), "{path}");
        }
    }

    #[tokio::test]
    async fn anything_else_is_the_contracts_404_with_the_same_headers() {
        for (method, path) in [
            ("GET", "/assets/nope.js"),
            ("GET", "/assets/"),
            ("GET", "/assets/../Cargo.toml"),
            ("GET", "/index.html"),
            ("GET", "/wp-admin"),
            ("POST", "/"),
            ("DELETE", "/assets/app.js"),
        ] {
            let response = get(method, path).await;
            assert_eq!(response.status(), 404, "{method} {path}");
            let body: serde_json::Value = serde_json::from_str(text(&response)).unwrap();
            assert_eq!(body["error"], "not_found", "{method} {path}");
            assert_security_headers(&response);
        }
    }
}
