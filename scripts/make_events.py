#!/usr/bin/env python3
"""Writes events/*.json: API Gateway HTTP API (payload format 2.0) requests, one per route and case.

They feed `cargo lambda invoke <bin> --data-file events/<name>.json` (with `cargo lambda watch`
running) and `sam local invoke -e`. Generated, so every event has the same shape: edit this file
and run it again rather than editing the JSON.

    scripts/make_events.py            # (re)write events/
    scripts/make_events.py --check    # exit 1 if events/ differs from what this script writes

Placeholders in UPPER_CASE (challenge ids, tokens) are to be replaced by values from a real
run: a challenge id from register/login, tokens from verify.
"""

import argparse
import base64
import json
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
PHONE = "+447400123456"
NEW_PHONE = "+447700900456"

CHALLENGE_ID = "CHALLENGE_ID_FROM_REGISTER_OR_LOGIN"  # or from forgot, for password-reset
REFRESH_TOKEN = "REFRESH_TOKEN_FROM_VERIFY"
ACCESS_TOKEN = "ACCESS_TOKEN_FROM_VERIFY"
DEVICE_TOKEN = "DEVICE_TOKEN_FROM_VERIFY_WITH_REMEMBER_DEVICE"
DEVICE_ID = "DEVICE_ID_FROM_ME_DEVICES"
ADMIN_TOKEN = "ACCESS_TOKEN_OF_AN_ADMIN"  # after `sms-mfa-admin grant-role <email> admin` and a refresh
USER_ID = "8d0c7b4e-0000-4000-8000-000000000001"

# OpenID Connect (docs/oidc.md): clients as registered in OAUTH_CLIENTS (these are the default
# test stack's, scripts/test.sh), the PKCE pair of RFC 7636 appendix B.
SPA_CLIENT = "example-spa"
SPA_ORIGIN = "http://127.0.0.1:8080"
SPA_REDIRECT = f"{SPA_ORIGIN}/callback.html"
SPA_SIGNED_OUT = f"{SPA_ORIGIN}/index.html"
BACKEND_CLIENT = "authlib-app"
BACKEND_SECRET = "CLIENT_SECRET_OF_AUTHLIB_APP"
CODE_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CODE_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
AUTHORIZATION_CODE = "CODE_FROM_THE_AUTHORIZE_REDIRECT"
OAUTH_REFRESH_TOKEN = "REFRESH_TOKEN_FROM_THE_TOKEN_ENDPOINT"
ID_TOKEN = "ID_TOKEN_FROM_THE_TOKEN_ENDPOINT"
SSO_COOKIE = "SSO_COOKIE_FROM_VERIFY_WITH_SSO_COOKIE"

SOURCE_IP = "203.0.113.10"
USER_AGENT = "curl/8.5.0"
DOMAIN = "abcdef1234.execute-api.us-east-1.amazonaws.com"
# Fixed time, so regenerating gives identical files.
TIME = "21/Nov/2026:12:00:00 +0000"
TIME_EPOCH = 1795262400000


def event(name, method, path, body=None, raw_body=None, bearer=None, route_key=None, path_parameters=None,
          query=None, form=None, cookies=None, headers=None, basic=None):
    """One payload 2.0 request. `body` is JSON-encoded; `raw_body` is sent as it is; `form`
    (pairs) is sent form-urlencoded, as OAuth's token and revocation endpoints take it. `query`
    (pairs) becomes the query string, `cookies` the request's cookies, `basic` (client id, secret)
    HTTP Basic authentication (RFC 6749 §2.3.1), `headers` more headers.
    `routeKey` is the template route API Gateway matched (`METHOD /path` unless given)."""
    route_key = route_key or f"{method} {path}"
    all_headers = {
        "accept": "application/json",
        "host": DOMAIN,
        "user-agent": USER_AGENT,
        "x-forwarded-for": SOURCE_IP,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if body is not None or raw_body is not None:
        # lambda_http only parses a JSON payload when this header says so.
        all_headers["content-type"] = "application/json"
    if form is not None:
        all_headers["content-type"] = "application/x-www-form-urlencoded"
    if bearer is not None:
        all_headers["authorization"] = f"Bearer {bearer}"
    if basic is not None:
        pair = ":".join(quote(part, safe="") for part in basic)
        all_headers["authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    all_headers.update(headers or {})
    raw_query = urlencode(query or [], quote_via=quote)
    ev = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
    }
    if cookies:
        ev["cookies"] = cookies
    ev.update({
        "headers": dict(sorted(all_headers.items())),
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": DOMAIN,
            "domainPrefix": "abcdef1234",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": SOURCE_IP,
                "userAgent": USER_AGENT,
            },
            "requestId": f"event-{name}",
            "routeKey": route_key,
            "stage": "$default",
            "time": TIME,
            "timeEpoch": TIME_EPOCH,
        },
        "isBase64Encoded": False,
    })
    if query:
        # API Gateway joins repeated names with commas; none repeats here.
        ev["queryStringParameters"] = dict(query)
    if path_parameters:
        ev["pathParameters"] = path_parameters
    if body is not None:
        ev["body"] = json.dumps(body)
    elif raw_body is not None:
        ev["body"] = raw_body
    elif form is not None:
        ev["body"] = urlencode(form, quote_via=quote)
    return ev


def events():
    creds = {"email": EMAIL, "password": PASSWORD}
    authorize_query = [
        ("client_id", SPA_CLIENT), ("redirect_uri", SPA_REDIRECT), ("response_type", "code"),
        ("scope", "openid email offline_access"), ("state", "af0ifjsldkj"), ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", CODE_CHALLENGE), ("code_challenge_method", "S256"),
    ]
    return {
        "register": event("register", "POST", "/auth/register",
                          {**creds, "phone": PHONE, "channel": "sms"}),
        "register-invalid-phone": event("register-invalid-phone", "POST", "/auth/register",
                                        {**creds, "phone": "12345"}),
        "register-malformed-json": event("register-malformed-json", "POST", "/auth/register",
                                         raw_body='{"email": "ada@example.com", "password": '),
        "login": event("login", "POST", "/auth/login", creds),
        "login-wrong-password": event("login-wrong-password", "POST", "/auth/login",
                                      {"email": EMAIL, "password": "wrong horse battery staple"}),
        "verify": event("verify", "POST", "/auth/verify",
                        {"challenge_id": CHALLENGE_ID, "code": "123456"}),
        "verify-wrong-code": event("verify-wrong-code", "POST", "/auth/verify",
                                   {"challenge_id": CHALLENGE_ID, "code": "000000"}),
        "resend": event("resend", "POST", "/auth/resend",
                        {"challenge_id": CHALLENGE_ID, "channel": "sms"}),
        "refresh": event("refresh", "POST", "/auth/refresh", {"refresh_token": REFRESH_TOKEN}),
        "logout": event("logout", "POST", "/auth/logout", {"refresh_token": REFRESH_TOKEN}),
        "me-phone": event("me-phone", "POST", "/me/phone",
                          {"phone": NEW_PHONE, "password": PASSWORD}, bearer=ACCESS_TOKEN),
        "protected": event("protected", "GET", "/protected", bearer=ACCESS_TOKEN),
        "protected-no-token": event("protected-no-token", "GET", "/protected"),
        "jwks": event("jwks", "GET", "/.well-known/jwks.json"),
        "openid-configuration": event("openid-configuration", "GET",
                                      "/.well-known/openid-configuration"),
        "web-index": event("web-index", "GET", "/"),
        "web-asset": event("web-asset", "GET", "/assets/app.js", route_key="GET /assets/{file}",
                           path_parameters={"file": "app.js"}),
        "logout-global": event("logout-global", "POST", "/auth/logout",
                               {"refresh_token": REFRESH_TOKEN, "scope": "global"}),
        "password-forgot": event("password-forgot", "POST", "/auth/password/forgot",
                                 {"email": EMAIL, "channel": "sms"}),
        "password-reset": event("password-reset", "POST", "/auth/password/reset",
                                {"challenge_id": CHALLENGE_ID, "code": "123456",
                                 "new_password": "a brand new passphrase"}),
        "me": event("me", "GET", "/me", bearer=ACCESS_TOKEN),
        "me-password": event("me-password", "POST", "/me/password",
                             {"current_password": PASSWORD,
                              "new_password": "a brand new passphrase"}, bearer=ACCESS_TOKEN),
        "me-delete": event("me-delete", "DELETE", "/me", {"password": PASSWORD},
                           bearer=ACCESS_TOKEN),
        "totp-enrol": event("totp-enrol", "POST", "/me/factors/totp", {"password": PASSWORD},
                            bearer=ACCESS_TOKEN),
        "totp-confirm": event("totp-confirm", "POST", "/me/factors/totp/confirm",
                              {"code": "123456"}, bearer=ACCESS_TOKEN),
        "totp-remove": event("totp-remove", "DELETE", "/me/factors/totp",
                             {"password": PASSWORD, "code": "123456"}, bearer=ACCESS_TOKEN),
        "recovery-codes": event("recovery-codes", "POST", "/me/recovery-codes",
                                {"password": PASSWORD, "code": "123456"}, bearer=ACCESS_TOKEN),
        "verify-recovery-code": event("verify-recovery-code", "POST", "/auth/verify",
                                      {"challenge_id": CHALLENGE_ID,
                                       "recovery_code": "abcd-efgh-ijkl-mnop"}),
        "verify-remember-device": event("verify-remember-device", "POST", "/auth/verify",
                                        {"challenge_id": CHALLENGE_ID, "code": "123456",
                                         "remember_device": True}),
        "login-remembered-device": event("login-remembered-device", "POST", "/auth/login",
                                         {**creds, "device_token": DEVICE_TOKEN}),
        "me-devices": event("me-devices", "GET", "/me/devices", bearer=ACCESS_TOKEN),
        "me-device-forget": event("me-device-forget", "DELETE", f"/me/devices/{DEVICE_ID}",
                                  bearer=ACCESS_TOKEN, route_key="DELETE /me/devices/{id}",
                                  path_parameters={"id": DEVICE_ID}),
        "admin-users-page": event("admin-users-page", "GET", "/admin/users", bearer=ADMIN_TOKEN),
        "admin-user": event("admin-user", "GET", f"/admin/users/{USER_ID}", bearer=ADMIN_TOKEN,
                            route_key="GET /admin/users/{id}", path_parameters={"id": USER_ID}),
        "admin-roles": event("admin-roles", "PUT", f"/admin/users/{USER_ID}/roles", {"roles": ["support"]},
                             bearer=ADMIN_TOKEN, route_key="PUT /admin/users/{id}/roles",
                             path_parameters={"id": USER_ID}),
        "admin-disable": event("admin-disable", "POST", f"/admin/users/{USER_ID}/disable", {}, bearer=ADMIN_TOKEN,
                               route_key="POST /admin/users/{id}/disable", path_parameters={"id": USER_ID}),
        # OpenID Connect (docs/oidc.md). Without the SSO cookie the authorization request goes to
        # the hosted sign-in; with it (from a verify with "sso_cookie": true) straight back with a code.
        "oauth-authorize": event("oauth-authorize", "GET", "/oauth2/authorize", query=authorize_query),
        "oauth-authorize-signed-in": event("oauth-authorize-signed-in", "GET", "/oauth2/authorize",
                                           query=authorize_query, cookies=[f"__Host-sms-mfa-sso={SSO_COOKIE}"]),
        "oauth-authorize-unknown-client": event("oauth-authorize-unknown-client", "GET", "/oauth2/authorize",
                                                query=[("client_id", "not-registered")] + authorize_query[1:]),
        "oauth-token": event("oauth-token", "POST", "/oauth2/token", form=[
            ("grant_type", "authorization_code"), ("code", AUTHORIZATION_CODE), ("redirect_uri", SPA_REDIRECT),
            ("code_verifier", CODE_VERIFIER), ("client_id", SPA_CLIENT)], headers={"origin": SPA_ORIGIN}),
        "oauth-token-refresh": event("oauth-token-refresh", "POST", "/oauth2/token", form=[
            ("grant_type", "refresh_token"), ("refresh_token", OAUTH_REFRESH_TOKEN)],
            basic=(BACKEND_CLIENT, BACKEND_SECRET)),
        "oauth-token-malformed": event("oauth-token-malformed", "POST", "/oauth2/token",
                                       raw_body="grant_type=authorization_code&code=%zz&code=twice",
                                       headers={"content-type": "application/x-www-form-urlencoded"}),
        "oauth-revoke": event("oauth-revoke", "POST", "/oauth2/revoke", form=[
            ("token", OAUTH_REFRESH_TOKEN), ("token_type_hint", "refresh_token"), ("client_id", SPA_CLIENT)],
            headers={"origin": SPA_ORIGIN}),
        "oauth-logout": event("oauth-logout", "GET", "/oauth2/logout", query=[
            ("client_id", SPA_CLIENT), ("post_logout_redirect_uri", SPA_SIGNED_OUT), ("state", "af0ifjsldkj"),
            ("id_token_hint", ID_TOKEN)], cookies=[f"__Host-sms-mfa-sso={SSO_COOKIE}"]),
        "oauth-token-preflight": event("oauth-token-preflight", "OPTIONS", "/oauth2/token", headers={
            "origin": SPA_ORIGIN, "access-control-request-method": "POST",
            "access-control-request-headers": "content-type"}),
    }


def render(ev):
    return json.dumps(ev, indent=2, ensure_ascii=False) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if events/ is not what this script writes")
    args = parser.parse_args()

    stale = []
    if not args.check:
        EVENTS_DIR.mkdir(exist_ok=True)
    for name, ev in events().items():
        path = EVENTS_DIR / f"{name}.json"
        text = render(ev)
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(path.name)
        elif not path.is_file() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(EVENTS_DIR.parent)}")
    if stale:
        print("events/ is out of date, run scripts/make_events.py: " + ", ".join(stale),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
