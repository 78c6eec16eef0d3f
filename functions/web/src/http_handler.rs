use crate::assets::{self, Asset};
use lambda_http::{
    http::{header, HeaderValue, Method, StatusCode},
    Body, Error, Request, Response,
};
use sms_mfa::{
    domain::OAuthClients,
    http::{respond, route_path},
    oauth_http::{escape_html, query_params, with_hosted_page_headers},
    AuthError,
};

#[cfg(test)]
use sms_mfa::oauth_http::CONTENT_SECURITY_POLICY;

/// Where the index names the app an authorization request comes from (API.md v3: "the page
/// names the client"), filled in here from the registered clients, never from the request.
const CLIENT_SLOT: &str = r#"<p id="oauth-client" class="client" hidden></p>"#;

pub async fn handle(clients: &OAuthClients, req: Request) -> Result<Response<Body>, Error> {
    let mut response = respond(&req, async {
        let path = route_path(&req);
        if req.method() == Method::POST && path == "/" && is_form_submission(&req) {
            return Ok(back_to_the_page());
        }
        if req.method() != Method::GET {
            return Err(AuthError::NotFound);
        }
        if path == "/" {
            return Ok(index(clients, &req));
        }
        let asset = path.strip_prefix("/assets/").and_then(assets::file);
        asset.map(|asset| page(asset, asset.text.to_owned())).ok_or(AuthError::NotFound)
    })
    .await?;
    with_hosted_page_headers(&mut response);
    Ok(response)
}

/// The pages; during an authorization (`client_id` of a registered app in the query), with
/// "Sign in to continue to <its name>".
fn index(clients: &OAuthClients, req: &Request) -> Response<Body> {
    let client = query_params(req).get("client_id").ok().flatten().and_then(|id| clients.find(id));
    let text = match client {
        Some(client) => assets::INDEX.text.replacen(
            CLIENT_SLOT,
            &format!(r#"<p id="oauth-client" class="client">Sign in to continue to <strong>{}</strong></p>"#, escape_html(&client.name)),
            1,
        ),
        None => assets::INDEX.text.to_owned(),
    };
    page(&assets::INDEX, text)
}

/// What a browser sends when a hosted form is submitted: the forms set no `enctype`, so
/// urlencoded; multipart too, in case one ever does.
fn is_form_submission(req: &Request) -> bool {
    let mime = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next());
    mime.is_some_and(|mime| {
        let mime = mime.trim();
        mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") || mime.eq_ignore_ascii_case("multipart/form-data")
    })
}

/// A hosted form submitted before app.js took it over: the forms carry `method="post"` and no
/// `action` (API.md "Hardening"), so the browser posts the fields to the page itself instead of
/// putting a password or code in a URL. The body is never read, so neither logged nor echoed;
/// 303 sends the browser back to the page with a GET, where the script has loaded and the person
/// submits again.
fn back_to_the_page() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::SEE_OTHER;
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_static("/"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn page(asset: &Asset, text: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(text));
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

    fn clients() -> OAuthClients {
        OAuthClients::parse(r#"[{"client_id":"spa","name":"Ada's <App>","redirect_uris":["https://app.example.com/cb"]}]"#).unwrap()
    }

    async fn get(method: &str, path: &str) -> Response<Body> {
        let req = http::Request::builder().method(method).uri(path).body(Body::Empty).unwrap();
        handle(&clients(), req).await.unwrap()
    }

    /// API.md v3: the sign-in page names the app, from the registration (escaped), never from
    /// the request; without a known client the slot stays empty and hidden.
    #[tokio::test]
    async fn the_page_names_a_registered_client() {
        let named = get("GET", "/?client_id=spa&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb").await;
        assert!(text(&named).contains("Sign in to continue to <strong>Ada&#39;s &lt;App&gt;</strong>"), "{}", text(&named));
        assert_security_headers(&named);
        for path in ["/", "/?client_id=unknown", "/?client_id=spa&client_id=spa", "/?client_name=Evil"] {
            let plain = get("GET", path).await;
            assert!(text(&plain).contains(CLIENT_SLOT) && !text(&plain).contains("Sign in to continue"), "{path}");
        }
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

    /// A form submitted before the script loaded (API.md "Hardening"): back to the page with a
    /// GET, nothing of the body in the answer.
    #[tokio::test]
    async fn a_form_posted_to_the_page_is_sent_back_to_it() {
        for (path, content_type, body) in [
            ("/", "application/x-www-form-urlencoded", "email=a%40b.example&password=hunter2-secret-pass&factor="),
            ("/", "application/x-www-form-urlencoded;charset=UTF-8", "code=493021"),
            (
                "/",
                "multipart/form-data; boundary=x",
                "--x\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nhunter2-secret-pass\r\n--x--",
            ),
            ("/?from=old-page", "application/x-www-form-urlencoded", "new_password=hunter2-secret-pass"),
        ] {
            let req = http::Request::builder()
                .method("POST")
                .uri(path)
                .header("content-type", content_type)
                .body(Body::Text(body.to_owned()))
                .unwrap();
            let response = handle(&clients(), req).await.unwrap();
            assert_eq!(response.status(), 303, "{path} {content_type}");
            assert_eq!(response.headers()["location"], "/");
            assert_eq!(response.headers()["cache-control"], "no-store");
            assert_security_headers(&response);
            assert!(matches!(response.body(), Body::Empty), "{:?}", response.body());
            let headers = format!("{:?}", response.headers());
            assert!(!headers.contains("hunter2") && !headers.contains("493021"), "{headers}");
        }
        // Not a form: the API's 404, as for any other unknown route.
        for (method, path, content_type) in [
            ("POST", "/", "application/json"),
            ("POST", "/assets/app.js", "application/x-www-form-urlencoded"),
            ("PUT", "/", "application/x-www-form-urlencoded"),
        ] {
            let req = http::Request::builder()
                .method(method)
                .uri(path)
                .header("content-type", content_type)
                .body(Body::Text("password=x".into()))
                .unwrap();
            let response = handle(&clients(), req).await.unwrap();
            assert_eq!(response.status(), 404, "{method} {path} {content_type}");
            assert_security_headers(&response);
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
