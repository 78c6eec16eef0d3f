//! The API Gateway events in `events/` (for `cargo lambda invoke --data-file` and
//! `sam local invoke -e`) stay valid payload 2.0 requests that reach the intended route, with
//! the body each case means to send (JSON, or a form for the OAuth endpoints), and a source IP
//! the limits can use.

use lambda_http::{request::from_str, RequestExt};
use sms_mfa::{
    http::{caller, json_body, route_path},
    AuthError,
};
use std::{fs, path::Path};

fn event(name: &str) -> lambda_http::Request {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events").join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    from_str(&text).unwrap_or_else(|e| panic!("{name} is not an API Gateway event: {e}"))
}

#[test]
fn every_event_is_a_payload_v2_request_for_a_contract_route() {
    let routes = [
        ("register.json", "POST", "/auth/register"),
        ("register-invalid-phone.json", "POST", "/auth/register"),
        ("register-malformed-json.json", "POST", "/auth/register"),
        ("login.json", "POST", "/auth/login"),
        ("login-wrong-password.json", "POST", "/auth/login"),
        ("verify.json", "POST", "/auth/verify"),
        ("verify-wrong-code.json", "POST", "/auth/verify"),
        ("resend.json", "POST", "/auth/resend"),
        ("refresh.json", "POST", "/auth/refresh"),
        ("logout.json", "POST", "/auth/logout"),
        ("me-phone.json", "POST", "/me/phone"),
        ("protected.json", "GET", "/protected"),
        ("protected-no-token.json", "GET", "/protected"),
        ("jwks.json", "GET", "/.well-known/jwks.json"),
        ("openid-configuration.json", "GET", "/.well-known/openid-configuration"),
        ("web-index.json", "GET", "/"),
        ("web-asset.json", "GET", "/assets/app.js"),
        ("logout-global.json", "POST", "/auth/logout"),
        ("password-forgot.json", "POST", "/auth/password/forgot"),
        ("password-reset.json", "POST", "/auth/password/reset"),
        ("me.json", "GET", "/me"),
        ("me-password.json", "POST", "/me/password"),
        ("me-delete.json", "DELETE", "/me"),
        ("totp-enrol.json", "POST", "/me/factors/totp"),
        ("totp-confirm.json", "POST", "/me/factors/totp/confirm"),
        ("totp-remove.json", "DELETE", "/me/factors/totp"),
        ("recovery-codes.json", "POST", "/me/recovery-codes"),
        ("verify-recovery-code.json", "POST", "/auth/verify"),
        ("verify-remember-device.json", "POST", "/auth/verify"),
        ("login-remembered-device.json", "POST", "/auth/login"),
        ("me-devices.json", "GET", "/me/devices"),
        ("me-device-forget.json", "DELETE", "/me/devices/DEVICE_ID_FROM_ME_DEVICES"),
        ("admin-users-page.json", "GET", "/admin/users"),
        ("admin-user.json", "GET", "/admin/users/8d0c7b4e-0000-4000-8000-000000000001"),
        ("admin-roles.json", "PUT", "/admin/users/8d0c7b4e-0000-4000-8000-000000000001/roles"),
        ("admin-disable.json", "POST", "/admin/users/8d0c7b4e-0000-4000-8000-000000000001/disable"),
        ("oauth-authorize.json", "GET", "/oauth2/authorize"),
        ("oauth-authorize-signed-in.json", "GET", "/oauth2/authorize"),
        ("oauth-authorize-unknown-client.json", "GET", "/oauth2/authorize"),
        ("oauth-token.json", "POST", "/oauth2/token"),
        ("oauth-token-refresh.json", "POST", "/oauth2/token"),
        ("oauth-token-malformed.json", "POST", "/oauth2/token"),
        ("oauth-revoke.json", "POST", "/oauth2/revoke"),
        ("oauth-logout.json", "GET", "/oauth2/logout"),
        ("oauth-token-preflight.json", "OPTIONS", "/oauth2/token"),
    ];
    let on_disk = fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")).unwrap().count();
    assert_eq!(on_disk, routes.len(), "every event file is listed here");
    for (name, method, path) in routes {
        let req = event(name);
        assert_eq!((req.method().as_str(), route_path(&req)), (method, path), "{name}");
        assert!(caller(&req).source_ip.is_some(), "{name}: requestContext.http.sourceIp");
        let form = req.headers().get("content-type").is_some_and(|v| v == "application/x-www-form-urlencoded");
        if form {
            // The OAuth endpoints take forms (RFC 6749 §3.2): each event says what it asks for.
            let pairs: Vec<(String, String)> = form_urlencoded::parse(req.body().as_ref()).into_owned().collect();
            assert!(pairs.iter().any(|(k, _)| k == "grant_type" || k == "token"), "{name}: {pairs:?}");
        } else if method == "POST" || (method == "DELETE" && !req.body().is_empty()) {
            let parsed = json_body::<serde_json::Value>(&req);
            match name {
                "register-malformed-json.json" => assert!(matches!(parsed, Err(AuthError::InvalidRequest(_)))),
                _ => assert!(parsed.is_ok(), "{name}: {parsed:?}"),
            }
        }
    }
    assert!(event("protected.json").headers().contains_key("authorization"));
    assert!(!event("protected-no-token.json").headers().contains_key("authorization"));
    assert!(event("register.json").query_string_parameters_ref().is_none());

    // The OpenID Connect cases carry what makes them what they are.
    let authorize = event("oauth-authorize.json");
    let query = authorize.query_string_parameters_ref().expect("a query string");
    assert_eq!(query.first("client_id"), Some("example-spa"));
    assert_eq!(query.first("code_challenge_method"), Some("S256"));
    assert!(query.first("scope").is_some_and(|s| s.split(' ').any(|s| s == "openid")));
    assert!(!authorize.headers().contains_key("cookie"));
    let cookie = |name: &str| event(name).headers().get("cookie").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(cookie("oauth-authorize-signed-in.json").starts_with("__Host-sms-mfa-sso="));
    assert!(cookie("oauth-logout.json").starts_with("__Host-sms-mfa-sso="));
    let basic = event("oauth-token-refresh.json");
    assert!(basic.headers()["authorization"].to_str().unwrap().starts_with("Basic "));
    let preflight = event("oauth-token-preflight.json");
    assert!(preflight.headers().contains_key("origin") && preflight.headers().contains_key("access-control-request-method"));
}
