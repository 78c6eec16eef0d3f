//! Interoperability with verifiers nobody here wrote, on real access tokens of the default
//! stack (RS256, signed in the local KMS). Each one starts from the issuer's discovery document
//! and follows its `jwks_uri`, as a resource server does:
//! 1. PyJWT's `PyJWKClient`, `algorithms=["RS256"]` (tests/interop/pyjwt_verify.py),
//! 2. npm `jose`: `createRemoteJWKSet` + `jwtVerify` with issuer and audience
//!    (tests/interop/jose_verify.mjs),
//! 3. the rules API Gateway's HTTP API JWT authorizer applies, asserted one by one.
//!
//! scripts/test.sh installs PyJWT into .venv (scripts/bootstrap.sh) and `jose` from
//! tests/interop/package-lock.json, and sets E2E_INTEROP_PYTHON and E2E_INTEROP_DIR.

use e2e::*;
use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::process::Command;

/// Runs a verifier: Ok(stdout as JSON) when it accepts the token, Err(stderr) when it refuses.
fn run(program: &str, script: &str, issuer: &str, audience: &str, token: &str) -> Result<Value, String> {
    let dir = env("E2E_INTEROP_DIR");
    let out = Command::new(program)
        .arg(format!("{dir}/{script}"))
        .args([issuer, audience, token])
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} {script}: {e}"));
    if out.status.success() {
        let stdout = String::from_utf8_lossy(&out.stdout);
        Ok(serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {stdout}")))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn pyjwt(issuer: &str, audience: &str, token: &str) -> Result<Value, String> {
    run(&env("E2E_INTEROP_PYTHON"), "pyjwt_verify.py", issuer, audience, token)
}

fn jose(issuer: &str, audience: &str, token: &str) -> Result<Value, String> {
    run("node", "jose_verify.mjs", issuer, audience, token)
}

/// The token with its `sub` changed and the signature kept.
fn tampered(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims = jwt_part(token, 1);
    claims["sub"] = "someone-else".into();
    parts[1] = b64url(claims.to_string().as_bytes());
    parts.join(".")
}

#[tokio::test]
async fn pyjwt_and_jose_verify_real_tokens_through_discovery() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, tokens) = stack.register_and_verify(&fake).await;
    let (issuer, audience) = (env("E2E_JWT_ISSUER"), env("E2E_JWT_AUDIENCE"));
    let token = &tokens.access_token;

    let claims = pyjwt(&issuer, &audience, token).unwrap_or_else(|e| panic!("PyJWT refused a real token: {e}"));
    assert_eq!(claims["sub"], account.user_id.as_str());
    let verified = jose(&issuer, &audience, token).unwrap_or_else(|e| panic!("jose refused a real token: {e}"));
    assert_eq!(verified["payload"]["sub"], account.user_id.as_str());
    assert_eq!(verified["header"]["alg"], "RS256");

    // The same verifiers refuse what they should: they really check.
    for (what, bad_token, bad_audience) in
        [("tampered claims", tampered(token), audience.as_str()), ("another audience", token.clone(), "someone-else")]
    {
        assert!(pyjwt(&issuer, bad_audience, &bad_token).is_err(), "PyJWT accepted {what}");
        assert!(jose(&issuer, bad_audience, &bad_token).is_err(), "jose accepted {what}");
    }
    // A refreshed token too (the session function signs as well).
    let refreshed = Tokens::from_body(stack.refresh(&tokens.refresh_token).await.expect(200).clone());
    pyjwt(&issuer, &audience, &refreshed.access_token).unwrap_or_else(|e| panic!("PyJWT refused a refreshed token: {e}"));
    jose(&issuer, &audience, &refreshed.access_token).unwrap_or_else(|e| panic!("jose refused a refreshed token: {e}"));
}

/// What API Gateway's JWT authorizer checks, rule by rule, as documented in "Controlling access
/// to HTTP APIs with JWT authorizers":
/// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html
/// (the authorizer fetches `{issuer}/.well-known/openid-configuration`, takes its `jwks_uri`,
/// accepts RSA signatures only, and validates kid, iss, aud, exp, nbf and iat).
/// template.yaml's `AccessTokenAuthorizer` is configured with the functions' JWT_ISSUER and
/// JWT_AUDIENCE (shared/tests/template_tokens.rs checks that), which are E2E_JWT_* here.
#[tokio::test]
async fn tokens_pass_every_rule_of_the_api_gateway_jwt_authorizer() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (_, tokens) = stack.register_and_verify(&fake).await;
    assert_passes_the_token_rules(&stack, &tokens.access_token).await;
    // A route without authorization scopes takes any token that passes the rules above.
    assert!(scopes_admit(&jwt_part(&tokens.access_token, 1), &[]));
}

/// Every rule of the authorizer but the route's scopes (`scopes_admit`).
async fn assert_passes_the_token_rules(stack: &Stack, token: &str) {
    let (issuer, audience) = (env("E2E_JWT_ISSUER"), env("E2E_JWT_AUDIENCE"));
    let header = jwt_part(token, 0);
    let claims = jwt_part(token, 1);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;

    // Discovery: {issuer}/.well-known/openid-configuration names the issuer and a jwks_uri.
    let client = &stack.client;
    let discovery: Value = client.get(format!("{issuer}/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(discovery["issuer"], issuer.as_str());
    let jwks: Value = client.get(discovery["jwks_uri"].as_str().expect("jwks_uri")).send().await.unwrap().json().await.unwrap();

    // HTTP API JWT authorizers verify RSA signatures only (RS256, RS384, RS512).
    let alg = header["alg"].as_str().unwrap_or_default();
    assert!(["RS256", "RS384", "RS512"].contains(&alg), "alg {alg} is not one API Gateway accepts");
    // kid: the header's kid matches a key of the jwks_uri, and the signature verifies with it.
    let kid = header["kid"].as_str().expect("a kid in the header");
    let set: JwkSet = serde_json::from_value(jwks.clone()).expect("a JWK set");
    let jwk = set.find(kid).unwrap_or_else(|| panic!("kid {kid} is not in {jwks}"));
    let published = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid).unwrap();
    assert_eq!((published["kty"].as_str(), published["use"].as_str(), published["alg"].as_str()), (Some("RSA"), Some("sig"), Some(alg)));
    let mut signature_only = Validation::new(Algorithm::RS256);
    signature_only.validate_exp = false;
    signature_only.validate_aud = false;
    signature_only.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &signature_only)
        .expect("the signature verifies with the JWKS key");
    // iss: exactly the authorizer's Issuer.
    assert_eq!(claims["iss"], issuer.as_str());
    // aud (or client_id): one of the authorizer's Audience entries.
    let aud_matches =
        claims["aud"] == audience.as_str() || claims["aud"].as_array().is_some_and(|a| a.iter().any(|x| x == audience.as_str()));
    assert!(aud_matches || claims["client_id"] == audience.as_str(), "aud {} is not {audience}", claims["aud"]);
    // exp: after now; iat: before now (a few seconds of clock skew between this machine's
    // processes at most); nbf, when present, before now.
    let exp = claims["exp"].as_i64().expect("exp is a number");
    let iat = claims["iat"].as_i64().expect("iat is a number");
    assert!(exp > now, "exp {exp} is not after now {now}");
    assert!(iat <= now + 1, "iat {iat} is after now {now}");
    if let Some(nbf) = claims.get("nbf") {
        assert!(nbf.as_i64().is_some_and(|nbf| nbf <= now), "nbf {nbf} is in the future");
    }
}

/// The authorizer's scope rule for a route with `AuthorizationScopes`: the token's `scope`
/// (space-separated) or `scp` (a list, or a space-separated string) holds at least one of them;
/// otherwise 403. A route without scopes skips the rule.
fn scopes_admit(claims: &Value, route_scopes: &[String]) -> bool {
    if route_scopes.is_empty() {
        return true;
    }
    let mut held: Vec<String> = vec![];
    for claim in ["scope", "scp"] {
        match &claims[claim] {
            Value::String(text) => held.extend(text.split(' ').filter(|s| !s.is_empty()).map(str::to_owned)),
            Value::Array(items) => held.extend(items.iter().filter_map(Value::as_str).map(str::to_owned)),
            _ => {}
        }
    }
    route_scopes.iter().any(|wanted| held.contains(wanted))
}

/// The `AuthorizationScopes` of a template route, by its route key (`GET /admin/users`).
fn template_route_scopes(route_key: &str) -> Vec<String> {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")).expect("template.yaml");
    let at = template.find(&format!("RouteKey: {route_key}\n")).unwrap_or_else(|| panic!("no route {route_key}"));
    let block: String = template[at..].lines().skip(1).take_while(|l| l.starts_with("      ")).collect::<Vec<_>>().join("\n");
    let line = block.lines().find(|l| l.trim_start().starts_with("AuthorizationScopes:")).unwrap_or_default();
    line.split(['[', ']', ',', '"'])
        .map(str::trim)
        .filter(|s| s.contains(':') && !s.starts_with("AuthorizationScopes"))
        .map(str::to_owned)
        .collect()
}

/// A route with `AuthorizationScopes: ["role:admin"]` (the admin API): API Gateway's rules
/// admit an administrator's token and refuse another account's token that passes every other
/// rule (API.md v3 "Roles and administration").
#[tokio::test]
async fn a_role_admin_route_admits_an_admins_token_and_refuses_another() {
    let route_scopes = template_route_scopes("GET /admin/users");
    assert_eq!(route_scopes, ["role:admin"], "the admin listing's scopes in template.yaml");
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (admin, _) = stack.register_and_verify(&fake).await;
    let out = admin_cli(&["grant-role", &admin.email, "admin"]);
    assert!(out.status.success(), "sms-mfa-admin: {}", String::from_utf8_lossy(&out.stderr));
    let admin_token = stack.login_and_verify(&fake, &admin).await.access_token;
    let (_, other) = stack.register_and_verify(&fake).await;

    for token in [&admin_token, &other.access_token] {
        assert_passes_the_token_rules(&stack, token).await;
    }
    assert!(scopes_admit(&jwt_part(&admin_token, 1), &route_scopes), "an admin's token: {}", jwt_part(&admin_token, 1));
    assert!(!scopes_admit(&jwt_part(&other.access_token, 1), &route_scopes), "a token without roles is refused");
    // Scopes match whole: a token with look-alike roles is refused too.
    let mut forged_like = jwt_part(&other.access_token, 1);
    forged_like["scope"] = "role:administrator role:admins".into();
    assert!(!scopes_admit(&forged_like, &route_scopes));
}
