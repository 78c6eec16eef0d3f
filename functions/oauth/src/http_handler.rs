use lambda_http::{
    http::{Method, StatusCode},
    Body, Error, Request, Response,
};
use sms_mfa::{
    http::{expect_route, json, respond, route_path},
    oauth_http::{
        allow_registered_origin, basic_credentials, clear_sso_cookie, form_params, html_page, is_preflight, preflight, query_params,
        redirect, sso_cookie,
    },
    use_cases::{BrowserAnswer, OAuthService},
};

pub async fn handle(oauth: &OAuthService, req: Request) -> Result<Response<Body>, Error> {
    if is_preflight(&req) {
        return Ok(preflight(&req, oauth.clients()));
    }
    let mut response = respond(&req, async {
        match route_path(&req) {
            "/oauth2/authorize" => {
                expect_route(&req, Method::GET, "/oauth2/authorize")?;
                Ok(browser(oauth.authorize(&query_params(&req), sso_cookie(&req)).await?))
            }
            "/oauth2/logout" => {
                expect_route(&req, Method::GET, "/oauth2/logout")?;
                let mut response = browser(oauth.logout(&query_params(&req), sso_cookie(&req)).await?);
                clear_sso_cookie(&mut response);
                Ok(response)
            }
            "/oauth2/revoke" => {
                expect_route(&req, Method::POST, "/oauth2/revoke")?;
                oauth.revoke(&form_params(&req)?, basic_credentials(&req)?.as_ref()).await?;
                Ok(json(StatusCode::OK, &serde_json::json!({})))
            }
            _ => {
                expect_route(&req, Method::POST, "/oauth2/token")?;
                let tokens = oauth.token(&form_params(&req)?, basic_credentials(&req)?.as_ref()).await?;
                Ok(json(StatusCode::OK, &tokens))
            }
        }
    })
    .await?;
    if matches!(route_path(&req), "/oauth2/token" | "/oauth2/revoke") {
        allow_registered_origin(&req, oauth.clients(), &mut response);
    }
    Ok(response)
}

fn browser(answer: BrowserAnswer) -> Response<Body> {
    match answer {
        BrowserAnswer::Redirect(location) => redirect(&location),
        BrowserAnswer::ErrorPage(message) => html_page(StatusCode::BAD_REQUEST, "This sign-in link does not work", &message),
        BrowserAnswer::SignedOut => html_page(StatusCode::OK, "You are signed out", "You are signed out of the sign-in service."),
    }
}
