//! Twilio's error document, and extractors that report malformed input in that shape.

use axum::{
    extract::{FromRequest, FromRequestParts, Path, Request},
    http::{header, request::Parts, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Form, Json,
};
use serde::{de::DeserializeOwned, Serialize};

/// An API failure, rendered as `{"code", "message", "more_info", "status"}` like Twilio does.
#[derive(Debug)]
pub(crate) struct TwilioError {
    status: StatusCode,
    code: u32,
    message: String,
}

impl TwilioError {
    pub(crate) fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub(crate) fn bad_request(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn too_many_requests(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, code, message)
    }

    /// Twilio names the path it could not find in the message.
    pub(crate) fn not_found(path: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, 20404, format!("The requested resource {path} was not found"))
    }

    pub(crate) fn missing_parameter(name: &str) -> Self {
        Self::bad_request(20001, format!("Missing required parameter {name} in the post body"))
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 20003, "Authenticate")
    }

    pub(crate) fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, 20503, "Service Unavailable")
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: u32,
    message: &'a str,
    more_info: String,
    status: u16,
}

impl IntoResponse for TwilioError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            message: &self.message,
            more_info: format!("https://www.twilio.com/docs/errors/{}", self.code),
            status: self.status.as_u16(),
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // Twilio challenges like any Basic-auth server; some HTTP clients rely on it.
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"Twilio API\""));
        }
        response
    }
}

/// `axum::Form`, but a body that does not parse is Twilio's 400/20001 instead of plain text.
pub(crate) struct TwilioForm<T>(pub(crate) T);

impl<T, S> FromRequest<S> for TwilioForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = TwilioError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Form::<T>::from_request(req, state).await {
            Ok(Form(value)) => Ok(Self(value)),
            Err(rejection) => Err(TwilioError::bad_request(20001, format!("Invalid parameter: {}", rejection.body_text()))),
        }
    }
}

/// `axum::extract::Path`, but an undecodable segment is Twilio's 400/20001.
pub(crate) struct TwilioPath<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for TwilioPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = TwilioError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(TwilioError::bad_request(20001, format!("Invalid parameter: {}", rejection.body_text()))),
        }
    }
}
