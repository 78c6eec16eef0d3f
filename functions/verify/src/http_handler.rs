use lambda_http::{
    http::{Method, StatusCode},
    Body, Error, Request, Response,
};
use serde::Deserialize;
use sms_mfa::{
    domain::{ChallengeId, Channel, OtpCode, RecoveryCode},
    http::{caller, expect_route, json, json_body, respond, route_path, signed_in},
    oauth_http::set_sso_cookie,
    use_cases::{AuthService, ChallengeProof, RememberDevice, ResendCommand, Verified, VerifyCommand},
    AuthError,
};

#[derive(Deserialize)]
struct VerifyBody {
    challenge_id: String,
    code: Option<String>,
    recovery_code: Option<String>,
    /// Signup and login challenges: remember this device (`device` in the answer).
    #[serde(default)]
    remember_device: bool,
    /// The hosted pages: the device token goes into their `HttpOnly` cookie, not the body.
    #[serde(default)]
    device_cookie: bool,
    /// The hosted pages: a sign-in also begins the browser's SSO session (its cookie).
    #[serde(default)]
    sso_cookie: bool,
}

/// `code`, or `recovery_code` (login with an authenticator app): exactly one of them.
fn proof(body: &VerifyBody) -> Result<ChallengeProof, AuthError> {
    match (&body.code, &body.recovery_code) {
        (Some(code), None) => Ok(ChallengeProof::Code(OtpCode::parse(code)?)),
        (None, Some(code)) => Ok(ChallengeProof::RecoveryCode(RecoveryCode::parse(code)?)),
        (None, None) => Err(AuthError::InvalidRequest("the body lacks a required field: `code` (or `recovery_code`)".into())),
        (Some(_), Some(_)) => Err(AuthError::InvalidRequest("send either `code` or `recovery_code`, not both".into())),
    }
}

#[derive(Deserialize)]
struct ResendBody {
    challenge_id: String,
    channel: Option<String>,
}

pub async fn handle(auth: &AuthService, req: Request) -> Result<Response<Body>, Error> {
    respond(&req, async {
        match route_path(&req) {
            "/auth/resend" => {
                expect_route(&req, Method::POST, "/auth/resend")?;
                let body: ResendBody = json_body(&req)?;
                let command = ResendCommand {
                    channel: body.channel.as_deref().map(|c| Channel::parse(Some(c))).transpose()?,
                    challenge_id: ChallengeId::parse(&body.challenge_id)?,
                };
                let challenge = auth.resend(command, &caller(&req)).await?;
                Ok(json(StatusCode::OK, &serde_json::json!({ "challenge": challenge })))
            }
            _ => {
                expect_route(&req, Method::POST, "/auth/verify")?;
                let body: VerifyBody = json_body(&req)?;
                let command = VerifyCommand { proof: proof(&body)?, challenge_id: ChallengeId::parse(&body.challenge_id)? };
                let user_agent = req.headers().get("user-agent").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let remember = body.remember_device.then_some(RememberDevice { user_agent });
                let (mut response, sso) = match auth.verify_remembering(command, remember, &caller(&req)).await? {
                    Verified::Tokens(tokens) => {
                        let sso = if body.sso_cookie { auth.begin_sso(&tokens).await } else { None };
                        (json(StatusCode::OK, &tokens), sso)
                    }
                    Verified::Remembered(tokens) => {
                        let sso = if body.sso_cookie { auth.begin_sso(&tokens.tokens).await } else { None };
                        (signed_in(tokens, body.device_cookie), sso)
                    }
                    Verified::PhoneChanged(user) => (json(StatusCode::OK, &serde_json::json!({ "user": user })), None),
                };
                if let Some(sso) = sso {
                    set_sso_cookie(&mut response, &sso);
                }
                Ok(response)
            }
        }
    })
    .await
}
