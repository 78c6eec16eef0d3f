//! The OpenID Connect provider's browser side (API.md v3): the authorization endpoint (RFC 6749
//! §4.1, OIDC Core §3.1, RFC 9207) and RP-initiated logout. What a browser is answered is a
//! redirect, or a page that redirects nowhere when the client or its redirect URI is unknown.

use super::{sessions::SessionService, sso::SsoSessions};
use crate::{
    domain::*,
    error::AuthError,
    ports::{OAuthStore, UserStore},
};
use std::{sync::Arc, time::Duration};
use url::Url;

/// Where the browser goes.
#[derive(Debug, PartialEq, Eq)]
pub enum BrowserAnswer {
    /// 302 to this location.
    Redirect(String),
    /// No redirect (the request cannot say where to safely): a 400 page with this message.
    ErrorPage(String),
    /// RP-initiated logout with no registered place to return to: a 200 "signed out" page.
    SignedOut,
}

pub struct OAuthService {
    pub(super) clients: OAuthClients,
    pub(super) store: Arc<dyn OAuthStore>,
    pub(super) users: Arc<dyn UserStore>,
    pub(super) sso: SsoSessions,
    pub(super) sessions: SessionService,
    pub(super) code_ttl: Duration,
}

/// Parameters the hosted pages must not see again when the person has signed in: the sign-in
/// they asked for has then happened.
const SATISFIED_BY_SIGNING_IN: [&str; 2] = ["prompt", "max_age"];

impl OAuthService {
    pub fn new(
        clients: OAuthClients,
        store: Arc<dyn OAuthStore>,
        users: Arc<dyn UserStore>,
        sso: SsoSessions,
        sessions: SessionService,
        code_ttl: Duration,
    ) -> Self {
        OAuthService { clients, store, users, sso, sessions, code_ttl }
    }

    pub fn clients(&self) -> &OAuthClients {
        &self.clients
    }

    pub fn issuer(&self) -> &str {
        self.sessions.keys().issuer()
    }

    /// `GET /oauth2/authorize`: a code for the app at once when the browser's SSO session
    /// allows, the hosted sign-in otherwise (or `login_required` with `prompt=none`).
    pub async fn authorize(&self, params: &OAuthParams, sso_cookie: Option<&str>) -> Result<BrowserAnswer, AuthError> {
        // Until the client and redirect URI are known good, nothing redirects (RFC 6749 §4.1.2.1).
        let client = match params.get("client_id") {
            Ok(Some(id)) => match self.clients.find(id) {
                Some(client) => client,
                None => return Ok(BrowserAnswer::ErrorPage("This app is not registered with the sign-in service.".into())),
            },
            Ok(None) => return Ok(BrowserAnswer::ErrorPage("The request names no app (client_id is missing).".into())),
            Err(_) => return Ok(BrowserAnswer::ErrorPage("The request names its app more than once.".into())),
        };
        let redirect = match params.get("redirect_uri") {
            Ok(Some(uri)) => match client.redirect_uri(uri) {
                Some(url) => url,
                None => {
                    return Ok(BrowserAnswer::ErrorPage(format!("{} asked to return to an address it has not registered.", client.name)))
                }
            },
            Ok(None) => return Ok(BrowserAnswer::ErrorPage(format!("{}'s request has no redirect_uri.", client.name))),
            Err(_) => return Ok(BrowserAnswer::ErrorPage("The request names its redirect_uri more than once.".into())),
        };
        let state = params.get("state").ok().flatten();
        match self.authorize_for(client, &redirect, params, sso_cookie).await? {
            Ok(answer) => Ok(answer),
            Err(error) => Ok(BrowserAnswer::Redirect(self.error_redirect(redirect, &error, state))),
        }
    }

    async fn authorize_for(
        &self,
        client: &OAuthClient,
        redirect: &Url,
        params: &OAuthParams,
        sso_cookie: Option<&str>,
    ) -> Result<Result<BrowserAnswer, OAuthError>, AuthError> {
        let request = match AuthorizationRequest::parse(params) {
            Ok(request) => request,
            Err(error) => return Ok(Err(error)),
        };
        let now = self.sso.now();
        let session = match self.sso.current(sso_cookie).await? {
            Some((session, user))
                if request.prompt != Some(Prompt::Login) && request.max_age.is_none_or(|max| now - session.auth_time <= max) =>
            {
                Some((session, user))
            }
            _ => None,
        };
        let Some((session, user)) = session else {
            if request.prompt == Some(Prompt::None) {
                return Ok(Err(OAuthError::new(OAuthErrorCode::LoginRequired, "the person is not signed in")));
            }
            // The hosted pages sign the person in, then come back here (a GET navigation).
            return Ok(Ok(BrowserAnswer::Redirect(format!("/?{}#signin", params.encoded_without(&SATISFIED_BY_SIGNING_IN)))));
        };
        let code = OpaqueSecret::generate("oc_");
        self.store
            .put_code(&AuthorizationCode {
                code_hash: code.hash,
                client_id: client.client_id.clone(),
                redirect_uri: redirect.as_str().to_owned(),
                challenge: request.challenge,
                user_id: user.id.clone(),
                session_id: session.id.clone(),
                scopes: request.scopes,
                nonce: request.nonce,
                auth_time: session.auth_time,
                amr: session.amr.clone(),
                expires_at: now + self.code_ttl.as_secs() as i64,
            })
            .await?;
        let mut to = redirect.clone();
        {
            let mut query = to.query_pairs_mut();
            query.append_pair("code", &code.text);
            if let Some(state) = request.state {
                query.append_pair("state", &state);
            }
            query.append_pair("iss", self.issuer());
        }
        Ok(Ok(BrowserAnswer::Redirect(to.into())))
    }

    /// An error for the app: `error`, `error_description`, `state` and `iss` on its redirect URI.
    fn error_redirect(&self, mut redirect: Url, error: &OAuthError, state: Option<&str>) -> String {
        {
            let mut query = redirect.query_pairs_mut();
            query.append_pair("error", error.code.as_str());
            query.append_pair("error_description", &error.description);
            if let Some(state) = state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", self.issuer());
        }
        redirect.into()
    }

    /// `GET /oauth2/logout`: ends the browser's SSO session, then returns to the client's
    /// registered `post_logout_redirect_uri` (with `state`), or shows the signed-out page.
    pub async fn logout(&self, params: &OAuthParams, sso_cookie: Option<&str>) -> Result<BrowserAnswer, AuthError> {
        self.sso.end(sso_cookie).await?;
        let client_id = match params.get("client_id") {
            Ok(Some(id)) => Some(id.to_owned()),
            _ => params.get("id_token_hint").ok().flatten().and_then(audience_of),
        };
        let back = client_id
            .and_then(|id| self.clients.find(&id))
            .zip(params.get("post_logout_redirect_uri").ok().flatten())
            .and_then(|(client, uri)| client.post_logout_redirect_uri(uri));
        let Some(mut back) = back else { return Ok(BrowserAnswer::SignedOut) };
        if let Some(state) = params.get("state").ok().flatten() {
            back.query_pairs_mut().append_pair("state", state);
        }
        Ok(BrowserAnswer::Redirect(back.into()))
    }
}

/// The `aud` of an ID token hint, read without checking its signature: it only chooses whose
/// registered URIs a logout may return to, and every one of those is registered.
fn audience_of(id_token: &str) -> Option<String> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
    let payload = id_token.split('.').nth(1)?;
    let claims: serde_json::Value = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
    match &claims["aud"] {
        serde_json::Value::String(aud) => Some(aud.clone()),
        serde_json::Value::Array(list) if list.len() == 1 => list[0].as_str().map(str::to_owned),
        _ => None,
    }
}

/// The checked parameters of an authorization request whose client and redirect URI are good.
struct AuthorizationRequest {
    scopes: Scopes,
    challenge: CodeChallenge,
    state: Option<String>,
    nonce: Option<String>,
    prompt: Option<Prompt>,
    max_age: Option<i64>,
}

impl AuthorizationRequest {
    fn parse(params: &OAuthParams) -> Result<Self, OAuthError> {
        if params.get("request")?.is_some() || params.get("request_uri")?.is_some() {
            return Err(OAuthError::new(OAuthErrorCode::RequestNotSupported, "request objects are not supported"));
        }
        match params.get("response_type")? {
            Some("code") => {}
            Some(_) => return Err(OAuthError::new(OAuthErrorCode::UnsupportedResponseType, "only response_type=code is supported")),
            None => return Err(OAuthError::invalid_request("response_type is missing")),
        }
        let scopes = Scopes::parse(params.get("scope")?.unwrap_or(""))?;
        let challenge = CodeChallenge::parse(params.require("code_challenge")?, params.get("code_challenge_method")?)?;
        let max_age = match params.get("max_age")? {
            None => None,
            Some(raw) => {
                Some(raw.parse::<u32>().map_err(|_| OAuthError::invalid_request("max_age must be a whole number of seconds"))? as i64)
            }
        };
        let bounded = |name: &str| -> Result<Option<String>, OAuthError> {
            match params.get(name)? {
                Some(value) if value.len() > 512 => Err(OAuthError::invalid_request(format!("{name} is longer than 512 characters"))),
                other => Ok(other.map(str::to_owned)),
            }
        };
        params.get("login_hint")?;
        Ok(AuthorizationRequest {
            scopes,
            challenge,
            state: bounded("state")?,
            nonce: bounded("nonce")?,
            prompt: Prompt::parse(params.get("prompt")?)?,
            max_age,
        })
    }
}
