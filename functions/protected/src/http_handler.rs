use lambda_http::{
    http::{Method, StatusCode},
    Body, Error, Request, Response,
};
use sms_mfa::{
    domain::OAuthClients,
    http::{bearer_token, expect_route, json, respond},
    oauth_http::allow_registered_origin,
    ports::{Clock, SystemClock},
    runtime::VerifiedTokens,
};

pub async fn handle(tokens: &VerifiedTokens, clients: &OAuthClients, req: Request) -> Result<Response<Body>, Error> {
    let mut response = respond(&req, async {
        expect_route(&req, Method::GET, "/protected")?;
        let claims = tokens.verify(bearer_token(&req)?, SystemClock.now()).await?;
        Ok(json(
            StatusCode::OK,
            &serde_json::json!({
                "message": format!("Hello, {}: your phone-verified session is valid.", claims.email),
                "user": { "id": claims.sub, "email": claims.email },
            }),
        ))
    })
    .await?;
    // The example resource an app's single-page client calls from the browser (examples/spa).
    allow_registered_origin(&req, clients, &mut response);
    Ok(response)
}
