//! One thin handler per admin route: the administrator first, then parse, one call, answer.

use lambda_http::{
    http::{Method, StatusCode},
    Body, Error, Request, RequestExt, Response,
};
use serde::Deserialize;
use sms_mfa::{
    domain::{Email, Phone, Roles, UserCursor, MAX_PAGE},
    http::{bearer_token, caller, json, json_body, no_content, respond, route_path},
    use_cases::{AdminService, Administrator, UserQuery},
    AuthError,
};

pub async fn handle(admin: &AdminService, req: Request) -> Result<Response<Body>, Error> {
    respond(&req, async {
        let path = route_path(&req).to_owned();
        let Some(rest) = path.strip_prefix("/admin/users") else {
            return Err(AuthError::NotFound);
        };
        let segments: Vec<&str> = rest.split('/').skip(1).collect();
        let method = req.method().clone();
        // Only known routes reach the token check: anything else is 404 as everywhere.
        let known = matches!(
            (&method, segments.as_slice()),
            (&Method::GET, [] | [_])
                | (&Method::DELETE, [_] | [_, "factors", "totp"])
                | (&Method::PUT, [_, "roles"])
                | (&Method::POST, [_, "disable" | "enable" | "sign-out"])
        );
        if !known {
            return Err(AuthError::NotFound);
        }
        let administrator = admin.administrator(bearer_token(&req)?).await?;
        let me = &administrator;
        let who = caller(&req);
        match (method, segments.as_slice()) {
            (Method::GET, []) => Ok(json(StatusCode::OK, &admin.find(me, query(&req)?).await?)),
            (Method::GET, [id]) => Ok(json(StatusCode::OK, &admin.user(me, id).await?)),
            (Method::PUT, [id, "roles"]) => set_roles(admin, me, &req, id).await,
            (Method::POST, [id, "disable"]) => Ok(json(StatusCode::OK, &admin.disable(me, id, &who).await?)),
            (Method::POST, [id, "enable"]) => Ok(json(StatusCode::OK, &admin.enable(me, id, &who).await?)),
            (Method::POST, [id, "sign-out"]) => admin.sign_out(me, id, &who).await.map(|_| no_content()),
            (Method::DELETE, [id, "factors", "totp"]) => admin.remove_totp(me, id, &who).await.map(|_| no_content()),
            (Method::DELETE, [id]) => admin.delete(me, id, &who).await.map(|_| no_content()),
            _ => Err(AuthError::NotFound),
        }
    })
    .await
}

/// `?email=` or `?phone=` (exact), or `?limit=&cursor=`; one way at a time.
fn query(req: &Request) -> Result<UserQuery, AuthError> {
    let params = req.query_string_parameters();
    let one = |name: &str| -> Result<Option<String>, AuthError> {
        match params.all(name).unwrap_or_default().as_slice() {
            [] => Ok(None),
            [value] => Ok(Some((*value).to_owned())),
            _ => Err(AuthError::InvalidRequest(format!("give `{name}` once"))),
        }
    };
    let (email, phone, limit, cursor) = (one("email")?, one("phone")?, one("limit")?, one("cursor")?);
    if (email.is_some() || phone.is_some()) && (limit.is_some() || cursor.is_some()) {
        return Err(AuthError::InvalidRequest("limit and cursor page the listing; a lookup by email or phone has no pages".into()));
    }
    match (email, phone) {
        (Some(_), Some(_)) => Err(AuthError::InvalidRequest("look up by email or by phone, not both".into())),
        (Some(email), None) => Ok(UserQuery::Email(Email::parse(&email)?)),
        (None, Some(phone)) => Ok(UserQuery::Phone(Phone::parse(&phone)?)),
        (None, None) => {
            let limit = match limit {
                None => MAX_PAGE,
                Some(text) => text
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| AuthError::InvalidRequest(format!("limit must be a whole number from 1 to {MAX_PAGE}")))?,
            };
            let cursor = cursor.map(|c| UserCursor::decode(&c)).transpose()?;
            Ok(UserQuery::Page { limit, cursor })
        }
    }
}

#[derive(Deserialize)]
struct RolesBody {
    roles: Vec<String>,
}

async fn set_roles(admin: &AdminService, me: &Administrator, req: &Request, id: &str) -> Result<Response<Body>, AuthError> {
    let body: RolesBody = json_body(req)?;
    let roles = Roles::parse(&body.roles)?;
    Ok(json(StatusCode::OK, &admin.set_roles(me, id, roles, &caller(req)).await?))
}
