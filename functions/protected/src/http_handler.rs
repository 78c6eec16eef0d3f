use lambda_http::{
    http::{Method, StatusCode},
    Body, Error, Request, Response,
};
use sms_mfa::{
    http::{bearer_token, expect_route, json, respond},
    ports::{Clock, SystemClock},
    runtime::VerifiedTokens,
};

pub async fn handle(tokens: &VerifiedTokens, req: Request) -> Result<Response<Body>, Error> {
    respond(&req, async {
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
    .await
}
