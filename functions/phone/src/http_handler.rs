use lambda_http::{
    http::{Method, StatusCode},
    Body, Error, Request, Response,
};
use secrecy::SecretString;
use serde::Deserialize;
use sms_mfa::{
    domain::{Channel, Password, Phone},
    http::{bearer_token, caller, expect_route, json, json_body, respond},
    use_cases::{AuthService, PhoneChangeCommand},
};

#[derive(Deserialize)]
struct PhoneBody {
    phone: String,
    password: SecretString,
    channel: Option<String>,
}

pub async fn handle(auth: &AuthService, req: Request) -> Result<Response<Body>, Error> {
    respond(&req, async {
        expect_route(&req, Method::POST, "/me/phone")?;
        // An account route: the token must also survive the account's tokens_valid_after.
        let holder = auth.holder(bearer_token(&req)?).await?;
        let body: PhoneBody = json_body(&req)?;
        let command = PhoneChangeCommand {
            phone: Phone::parse(&body.phone)?,
            password: Password::for_check(body.password)?,
            channel: Channel::parse(body.channel.as_deref())?,
        };
        let challenge = auth.request_phone_change(&holder.user.id, command, &caller(&req)).await?;
        Ok(json(StatusCode::ACCEPTED, &serde_json::json!({ "challenge": challenge })))
    })
    .await
}
