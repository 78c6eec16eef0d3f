use lambda_http::{
    http::{Method, StatusCode},
    Body, Error, Request, Response,
};
use secrecy::SecretString;
use serde::Deserialize;
use sms_mfa::{
    domain::{ChallengeFactor, Channel, Email, Password},
    http::{caller, expect_route, json, json_body, respond},
    use_cases::{AuthService, LoginCommand},
};

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: SecretString,
    channel: Option<String>,
    factor: Option<String>,
}

pub async fn handle(auth: &AuthService, req: Request) -> Result<Response<Body>, Error> {
    respond(&req, async {
        expect_route(&req, Method::POST, "/auth/login")?;
        let body: LoginBody = json_body(&req)?;
        let command = LoginCommand {
            email: Email::parse(&body.email)?,
            password: Password::for_check(body.password)?,
            channel: Channel::parse(body.channel.as_deref())?,
            factor: ChallengeFactor::parse(body.factor.as_deref())?,
        };
        let challenge = auth.login(command, &caller(&req)).await?;
        Ok(json(StatusCode::OK, &serde_json::json!({ "challenge": challenge })))
    })
    .await
}
