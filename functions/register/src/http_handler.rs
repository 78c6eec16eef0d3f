use lambda_http::{
    http::{Method, StatusCode},
    Body, Error, Request, Response,
};
use secrecy::SecretString;
use serde::Deserialize;
use sms_mfa::{
    domain::{Channel, Email, PasswordPolicy, Phone},
    http::{caller, expect_route, json, json_body, respond},
    use_cases::{AuthService, RegisterCommand},
};

#[derive(Deserialize)]
struct RegisterBody {
    email: String,
    password: SecretString,
    phone: String,
    channel: Option<String>,
}

pub async fn handle(auth: &AuthService, req: Request) -> Result<Response<Body>, Error> {
    respond(&req, async {
        expect_route(&req, Method::POST, "/auth/register")?;
        let body: RegisterBody = json_body(&req)?;
        let command = RegisterCommand {
            email: Email::parse(&body.email)?,
            password: PasswordPolicy::check(body.password)?,
            phone: Phone::parse(&body.phone)?,
            channel: Channel::parse(body.channel.as_deref())?,
        };
        let registered = auth.register(command, &caller(&req)).await?;
        Ok(json(StatusCode::CREATED, &registered))
    })
    .await
}
