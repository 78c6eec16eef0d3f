//! A small router: one thin handler per route (parse, one service call, answer).

use lambda_http::{
    http::{Method, StatusCode},
    Body, Error, Request, Response,
};
use secrecy::SecretString;
use serde::Deserialize;
use sms_mfa::{
    domain::{ChallengeId, Channel, Email, FactorProof, OAuthClients, OtpCode, Password, PasswordPolicy, TotpCode},
    http::{bearer_token, caller, json, json_body, no_content, respond, route_path},
    oauth_http::allow_registered_origin,
    use_cases::{AuthService, ChangePasswordCommand, ForgotCommand, ResetCommand},
    AuthError,
};

pub async fn handle(auth: &AuthService, clients: &OAuthClients, req: Request) -> Result<Response<Body>, Error> {
    let mut response = respond(&req, async {
        match (req.method().clone(), route_path(&req)) {
            (Method::POST, "/auth/password/forgot") => forgot(auth, &req).await,
            (Method::POST, "/auth/password/reset") => reset(auth, &req).await,
            (Method::GET, "/me") => me(auth, &req).await,
            (Method::POST, "/me/password") => change_password(auth, &req).await,
            (Method::DELETE, "/me") => delete_account(auth, &req).await,
            (Method::POST, "/me/factors/totp") => enrol_totp(auth, &req).await,
            (Method::POST, "/me/factors/totp/confirm") => confirm_totp(auth, &req).await,
            (Method::DELETE, "/me/factors/totp") => remove_totp(auth, &req).await,
            (Method::POST, "/me/recovery-codes") => regenerate_recovery_codes(auth, &req).await,
            (Method::GET, "/me/devices") => devices(auth, &req).await,
            (Method::DELETE, path) if path.starts_with("/me/devices/") => forget_device(auth, &req, &path["/me/devices/".len()..]).await,
            _ => Err(AuthError::NotFound),
        }
    })
    .await?;
    // `GET /me` is also the userinfo endpoint: registered apps' browser origins may read it.
    if route_path(&req) == "/me" && req.method() == Method::GET {
        allow_registered_origin(&req, clients, &mut response);
    }
    Ok(response)
}

#[derive(Deserialize)]
struct ForgotBody {
    email: String,
    channel: Option<String>,
}

async fn forgot(auth: &AuthService, req: &Request) -> Result<Response<Body>, AuthError> {
    let body: ForgotBody = json_body(req)?;
    let command = ForgotCommand { email: Email::parse(&body.email)?, channel: Channel::parse(body.channel.as_deref())? };
    let challenge = auth.forgot_password(command, &caller(req)).await?;
    Ok(json(StatusCode::ACCEPTED, &serde_json::json!({ "challenge": challenge })))
}

#[derive(Deserialize)]
struct ResetBody {
    challenge_id: String,
    code: String,
    new_password: SecretString,
    totp_code: Option<SecretString>,
    recovery_code: Option<SecretString>,
}

async fn reset(auth: &AuthService, req: &Request) -> Result<Response<Body>, AuthError> {
    let body: ResetBody = json_body(req)?;
    let command = ResetCommand {
        challenge_id: ChallengeId::parse(&body.challenge_id)?,
        code: OtpCode::parse(&body.code)?,
        new_password: PasswordPolicy::check(body.new_password)?,
        totp_code: body.totp_code,
        recovery_code: body.recovery_code,
    };
    auth.reset_password(command, &caller(req)).await?;
    Ok(no_content())
}

async fn me(auth: &AuthService, req: &Request) -> Result<Response<Body>, AuthError> {
    let holder = auth.holder(bearer_token(req)?).await?;
    Ok(json(StatusCode::OK, &auth.me(&holder).await?))
}

#[derive(Deserialize)]
struct ChangePasswordBody {
    current_password: SecretString,
    new_password: SecretString,
}

async fn change_password(auth: &AuthService, req: &Request) -> Result<Response<Body>, AuthError> {
    let holder = auth.holder(bearer_token(req)?).await?;
    let body: ChangePasswordBody = json_body(req)?;
    let command = ChangePasswordCommand {
        current_password: Password::for_check(body.current_password)?,
        new_password: PasswordPolicy::check(body.new_password)?,
    };
    auth.change_password(&holder, command, &caller(req)).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
struct DeleteBody {
    password: SecretString,
}

async fn delete_account(auth: &AuthService, req: &Request) -> Result<Response<Body>, AuthError> {
    let holder = auth.holder(bearer_token(req)?).await?;
    let body: DeleteBody = json_body(req)?;
    auth.delete_account(&holder, &Password::for_check(body.password)?, &caller(req)).await?;
    Ok(no_content())
}

async fn enrol_totp(auth: &AuthService, req: &Request) -> Result<Response<Body>, AuthError> {
    let holder = auth.holder(bearer_token(req)?).await?;
    let body: DeleteBody = json_body(req)?; // {password}
    let enrolment = auth.enrol_totp(&holder, &Password::for_check(body.password)?, &caller(req)).await?;
    Ok(json(StatusCode::CREATED, &enrolment))
}

#[derive(Deserialize)]
struct ConfirmBody {
    code: String,
}

async fn confirm_totp(auth: &AuthService, req: &Request) -> Result<Response<Body>, AuthError> {
    let holder = auth.holder(bearer_token(req)?).await?;
    let body: ConfirmBody = json_body(req)?;
    let code = TotpCode::parse(&body.code)
        .ok_or_else(|| AuthError::InvalidRequest("code must be the 6 digits your authenticator app shows".into()))?;
    Ok(json(StatusCode::OK, &auth.confirm_totp(&holder, &code, &caller(req)).await?))
}

/// `{password, code}`: `code` is a current TOTP code or an unused recovery code.
#[derive(Deserialize)]
struct PasswordAndCodeBody {
    password: SecretString,
    code: String,
}

async fn remove_totp(auth: &AuthService, req: &Request) -> Result<Response<Body>, AuthError> {
    let holder = auth.holder(bearer_token(req)?).await?;
    let body: PasswordAndCodeBody = json_body(req)?;
    let proof = FactorProof::parse("code", &body.code)?;
    auth.remove_totp(&holder, &Password::for_check(body.password)?, &proof, &caller(req)).await?;
    Ok(no_content())
}

async fn regenerate_recovery_codes(auth: &AuthService, req: &Request) -> Result<Response<Body>, AuthError> {
    let holder = auth.holder(bearer_token(req)?).await?;
    let body: PasswordAndCodeBody = json_body(req)?;
    let proof = FactorProof::parse("code", &body.code)?;
    Ok(json(StatusCode::OK, &auth.regenerate_recovery_codes(&holder, &Password::for_check(body.password)?, &proof, &caller(req)).await?))
}

async fn devices(auth: &AuthService, req: &Request) -> Result<Response<Body>, AuthError> {
    let holder = auth.holder(bearer_token(req)?).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "devices": auth.devices(&holder).await? })))
}

/// `DELETE /me/devices/{id}`: 204, or 404 `not_found` for an id that is not one of the caller's devices.
async fn forget_device(auth: &AuthService, req: &Request, id: &str) -> Result<Response<Body>, AuthError> {
    let holder = auth.holder(bearer_token(req)?).await?;
    if id.is_empty() || id.contains('/') {
        return Err(AuthError::NotFound);
    }
    auth.forget_device(&holder, id, &caller(req)).await?;
    Ok(no_content())
}
