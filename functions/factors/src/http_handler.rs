use lambda_http::{http::{Method, StatusCode}, Body, Error, Request, Response};
use secrecy::SecretString;
use serde::Deserialize;
use sms_mfa::{
    domain::{FactorProof, Password, TotpCode, UserId},
    http::{bearer_token, caller, json, json_body, no_content, respond, route_path},
    use_cases::AuthService,
    AuthError,
};

#[derive(Deserialize)]
struct PasswordBody {
    password: SecretString,
}

#[derive(Deserialize)]
struct CodeBody {
    code: String,
}

#[derive(Deserialize)]
struct PasswordAndCodeBody {
    password: SecretString,
    code: String,
}

pub async fn handle(auth: &AuthService, req: Request) -> Result<Response<Body>, Error> {
    respond(&req, async {
        let route = (req.method().clone(), route_path(&req));
        let served = [(Method::POST, "/me/factors/totp"), (Method::POST, "/me/factors/totp/confirm"), (Method::DELETE, "/me/factors/totp"), (Method::POST, "/me/recovery-codes")];
        if !served.iter().any(|(method, path)| *method == route.0 && *path == route.1) {
            return Err(AuthError::NotFound);
        }
        let claims = auth.sessions().keys().verify(bearer_token(&req)?)?;
        let (user, caller) = (UserId(claims.sub), caller(&req));
        match route {
            (Method::POST, "/me/factors/totp") => {
                let body: PasswordBody = json_body(&req)?;
                let enrolment = auth.enrol_totp(&user, &Password::for_check(body.password)?, &caller).await?;
                Ok(json(StatusCode::CREATED, &enrolment))
            }
            (Method::POST, "/me/factors/totp/confirm") => {
                let body: CodeBody = json_body(&req)?;
                let code = TotpCode::parse(&body.code).ok_or_else(|| AuthError::InvalidRequest("code must be the 6 digits your authenticator app shows".into()))?;
                Ok(json(StatusCode::OK, &auth.confirm_totp(&user, &code, &caller).await?))
            }
            (Method::DELETE, "/me/factors/totp") => {
                let body: PasswordAndCodeBody = json_body(&req)?;
                let proof = FactorProof::parse("code", &body.code)?;
                auth.remove_totp(&user, &Password::for_check(body.password)?, &proof, &caller).await?;
                Ok(no_content())
            }
            (Method::POST, "/me/recovery-codes") => {
                let body: PasswordAndCodeBody = json_body(&req)?;
                let proof = FactorProof::parse("code", &body.code)?;
                Ok(json(StatusCode::OK, &auth.regenerate_recovery_codes(&user, &Password::for_check(body.password)?, &proof, &caller).await?))
            }
            _ => Err(AuthError::NotFound),
        }
    })
    .await
}
