use lambda_http::{
    http::{Method, StatusCode},
    Body, Error, Request, Response,
};
use secrecy::SecretString;
use serde::Deserialize;
use sms_mfa::{
    domain::{ChallengeFactor, Channel, Email, Password},
    http::{caller, clear_device_cookie, cookie, expect_route, json, json_body, respond, signed_in, DEVICE_COOKIE},
    oauth_http::set_sso_cookie,
    use_cases::{AuthService, LoginAnswer, LoginCommand},
};

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: SecretString,
    channel: Option<String>,
    factor: Option<String>,
    /// Any JSON: only a string can be a device token, and nothing in it fails the login.
    #[serde(default)]
    device_token: Option<serde_json::Value>,
    /// The hosted pages: the device token is in their cookie, and the next one goes there.
    #[serde(default)]
    device_cookie: bool,
    /// The hosted pages: a sign-in also begins the browser's SSO session (its cookie).
    #[serde(default)]
    sso_cookie: bool,
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
        let from_body = body.device_token.as_ref().and_then(|t| t.as_str());
        let from_cookie = if body.device_cookie && from_body.is_none() { cookie(&req, DEVICE_COOKIE) } else { None };
        match auth.login_with_device(command, from_body.or(from_cookie), &caller(&req)).await? {
            LoginAnswer::SignedIn(tokens) => {
                let sso = if body.sso_cookie { auth.begin_sso(&tokens.tokens).await } else { None };
                let mut response = signed_in(tokens, from_cookie.is_some());
                if let Some(sso) = sso {
                    set_sso_cookie(&mut response, &sso);
                }
                Ok(response)
            }
            LoginAnswer::Challenge { challenge, device_refused } => {
                let mut response = json(StatusCode::OK, &serde_json::json!({ "challenge": challenge }));
                if device_refused && from_cookie.is_some() {
                    clear_device_cookie(&mut response);
                }
                Ok(response)
            }
        }
    })
    .await
}
