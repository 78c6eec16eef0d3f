//! The hosted pages through the router, as a browser fetches them: types, the contract's security
//! headers on every answer (the 404s too), and the files the page loads are all served.
//! (tests/browser drives them in Chromium.)

use e2e::*;
use reqwest::Method;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

#[track_caller]
fn assert_page_headers(resp: &Resp) {
    assert_eq!(resp.header("content-security-policy").as_deref(), Some(CSP), "{}", resp.what);
    assert_eq!(resp.header("x-content-type-options").as_deref(), Some("nosniff"), "{}", resp.what);
    assert_eq!(resp.header("referrer-policy").as_deref(), Some("no-referrer"), "{}", resp.what);
    assert!(resp.header("strict-transport-security").is_some_and(|v| v.starts_with("max-age=")), "{}", resp.what);
}

#[tokio::test]
async fn the_page_and_every_file_it_loads() {
    let stack = Stack::default_stack();
    let page = stack.get("web", "/", None).await;
    page.expect(200);
    assert_eq!(page.header("content-type").as_deref(), Some("text/html; charset=utf-8"));
    assert_page_headers(&page);
    for (file, content_type) in [
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/style.css", "text/css; charset=utf-8"),
        ("/assets/logo.svg", "image/svg+xml"),
    ] {
        assert!(page.text.contains(&format!("\"{file}\"")), "the page does not load {file}");
        let resp = stack.get("web", file, None).await;
        resp.expect(200);
        assert_eq!(resp.header("content-type").as_deref(), Some(content_type), "{file}");
        assert_page_headers(&resp);
        assert!(!resp.text.is_empty());
    }
}

#[tokio::test]
async fn unknown_files_and_paths_are_the_contracts_404_with_the_headers() {
    let stack = Stack::default_stack();
    for (method, path) in [(Method::GET, "/assets/nope.js"), (Method::GET, "/nope"), (Method::HEAD, "/auth/login"), (Method::PUT, "/")] {
        let resp = stack.request(method.clone(), "web", path, &[], None).await;
        assert_eq!(resp.status, 404, "{}", resp.describe());
        if method != Method::HEAD {
            resp.expect_error(404, "not_found");
        }
        assert_page_headers(&resp);
    }
}

/// API.md "Hardening": a hosted form submitted before the script loaded posts its fields to the
/// page (the forms carry method="post"); the answer sends the browser back to the page with a
/// GET and holds nothing of what was posted.
#[tokio::test]
async fn a_form_posted_before_the_script_loaded_goes_back_to_the_page() {
    let stack = Stack::default_stack();
    // This client does not follow redirects: the 303 itself is checked.
    let client = reqwest::Client::builder().timeout(CLIENT_TIMEOUT).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let stack = Stack { client, ..stack };
    let password = format!("Pre-script-{}", uuid::Uuid::new_v4().simple());
    let body = format!("email=someone%40example.com&password={password}&factor=");
    let resp = stack.post_raw("web", "/", Some("application/x-www-form-urlencoded"), body).await;
    assert_eq!(resp.status, 303, "{}", resp.describe());
    assert_eq!(resp.header("location").as_deref(), Some("/"), "{}", resp.describe());
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"), "{}", resp.describe());
    assert_page_headers(&resp);
    resp.assert_not_leaking(&password, "posted password");
}
