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
import json
import sys
from pathlib import Path

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

SOURCE_IP = "203.0.113.10"
USER_AGENT = "curl/8.5.0"
DOMAIN = "abcdef1234.execute-api.us-east-1.amazonaws.com"
# Fixed time, so regenerating gives identical files.
TIME = "21/Nov/2026:12:00:00 +0000"
TIME_EPOCH = 1795262400000


def event(name, method, path, body=None, raw_body=None, bearer=None, route_key=None, path_parameters=None):
    """One payload 2.0 request. `body` is JSON-encoded; `raw_body` is sent as it is.
    `routeKey` is the template route API Gateway matched (`METHOD /path` unless given)."""
    route_key = route_key or f"{method} {path}"
    headers = {
        "accept": "application/json",
        "host": DOMAIN,
        "user-agent": USER_AGENT,
        "x-forwarded-for": SOURCE_IP,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if body is not None or raw_body is not None:
        # lambda_http only parses a JSON payload when this header says so.
        headers["content-type"] = "application/json"
    if bearer is not None:
        headers["authorization"] = f"Bearer {bearer}"
    ev = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": dict(sorted(headers.items())),
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
    }
    if path_parameters:
        ev["pathParameters"] = path_parameters
    if body is not None:
        ev["body"] = json.dumps(body)
    elif raw_body is not None:
        ev["body"] = raw_body
    return ev


def events():
    creds = {"email": EMAIL, "password": PASSWORD}
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
