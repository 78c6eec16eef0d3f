use lambda_http::{
    http::{Method, StatusCode},
    Body, Error, Request, Response,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sms_mfa::{
    http::{expect_route, json, json_body, no_content, respond, route_path},
    use_cases::sessions::SessionService,
    AuthError,
};

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: SecretString,
}

#[derive(Deserialize)]
struct LogoutBody {
    refresh_token: SecretString,
    scope: Option<String>,
}

pub async fn handle(sessions: &SessionService, req: Request) -> Result<Response<Body>, Error> {
    respond(&req, async {
        if route_path(&req) == "/auth/logout" {
            expect_route(&req, Method::POST, "/auth/logout")?;
            let body: LogoutBody = json_body(&req)?;
            let token = body.refresh_token.expose_secret();
            match body.scope.as_deref() {
                None | Some("local") => sessions.logout(token).await?,
                Some("global") => sessions.logout_everywhere(token).await?,
                Some(_) => return Err(AuthError::InvalidRequest("scope must be global or local".into())),
            }
            return Ok(no_content());
        }
        expect_route(&req, Method::POST, "/auth/refresh")?;
        let body: RefreshBody = json_body(&req)?;
        let tokens = sessions.refresh(body.refresh_token.expose_secret()).await?;
        Ok(json(StatusCode::OK, &tokens))
    })
    .await
}
