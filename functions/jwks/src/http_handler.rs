use lambda_http::{
    http::{header, HeaderValue, Method, StatusCode},
    Body, Error, Request, Response,
};
use sms_mfa::{
    domain::{OAuthClients, SUPPORTED_SCOPES},
    error::AuthError,
    http::{expect_route, json, respond, route_path},
    oauth_http::allow_registered_origin,
    runtime::TokenKeys,
};

pub async fn handle(keys: &TokenKeys, clients: &OAuthClients, req: Request) -> Result<Response<Body>, Error> {
    let mut response = respond(&req, async {
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
    .await?;
    // Registered apps' browser origins may read both documents (oidc-client-ts fetches them).
    allow_registered_origin(&req, clients, &mut response);
    Ok(response)
}

/// OpenID Connect Discovery (API.md v3): the provider's endpoints and what it supports, enough
/// for certified relying parties, API Gateway's JWT authorizer and generic JWT libraries.
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
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "token_endpoint": format!("{base}/oauth2/token"),
        "revocation_endpoint": format!("{base}/oauth2/revoke"),
        "end_session_endpoint": format!("{base}/oauth2/logout"),
        "userinfo_endpoint": format!("{base}/me"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": SUPPORTED_SCOPES,
        "subject_types_supported": ["public"],
        // The algorithms of the published keys: what a verifier must allow, nothing more.
        "id_token_signing_alg_values_supported": keys.algorithms().await?,
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "prompt_values_supported": ["none", "login"],
        "authorization_response_iss_parameter_supported": true,
        "claims_supported": [
            "iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "amr", "sid", "jti", "roles",
            "email", "email_verified", "phone_number", "phone_number_verified"
        ],
    }))
}
