use lambda_http::{
    http::{header, HeaderValue, Method, StatusCode},
    Body, Error, Request, Response,
};
use sms_mfa::{
    error::AuthError,
    http::{expect_route, json, respond, route_path},
    runtime::TokenKeys,
};

pub async fn handle(keys: &TokenKeys, req: Request) -> Result<Response<Body>, Error> {
    respond(&req, async {
        let mut response = if route_path(&req) == "/.well-known/openid-configuration" {
            expect_route(&req, Method::GET, "/.well-known/openid-configuration")?;
            json(StatusCode::OK, &discovery(keys, &req).await?)
        } else {
            expect_route(&req, Method::GET, "/.well-known/jwks.json")?;
            json(StatusCode::OK, &keys.jwks().await?)
        };
        // Public documents: resource servers may cache them briefly (a rotation adds a key
        // well before it signs, so five minutes of staleness is harmless).
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
        Ok(response)
    })
    .await
}

/// OpenID Connect Discovery: enough for API Gateway's JWT authorizer and generic JWT libraries.
async fn discovery(keys: &TokenKeys, req: &Request) -> Result<serde_json::Value, AuthError> {
    let issuer = keys.issuer();
    let jwks_uri = if issuer.starts_with("https://") || issuer.starts_with("http://") {
        format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/'))
    } else {
        // A non-URL issuer (local runs): point at wherever this document was served from.
        let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        let path = req.uri().path().trim_end_matches("/openid-configuration");
        format!("https://{host}{path}/jwks.json")
    };
    let base = issuer.trim_end_matches('/');
    Ok(serde_json::json!({
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "token_endpoint": format!("{base}/auth/verify"),
        "userinfo_endpoint": format!("{base}/me"),
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        // The algorithms of the published keys: what a verifier must allow, nothing more.
        "id_token_signing_alg_values_supported": keys.algorithms().await?,
        "token_endpoint_auth_methods_supported": ["none"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "jti", "amr", "email", "sid"],
    }))
}
