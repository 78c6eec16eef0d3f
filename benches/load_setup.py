#!/usr/bin/env python3
"""Prepares a load run (benches/load.sh): one verified account on the stack at BASE, then prints
shell assignments: ACCESS_TOKEN, EMAIL, PASSWORD and CHALLENGE_ID (a pending login challenge).

Usage: load_setup.py BASE_URL TWILIO_FAKE_URL   (BASE_URL = http://127.0.0.1:PORT/lambda-url)
"""
import json
import random
import re
import shlex
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def call(method, url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def latest_sms_code(fake, phone):
    """The code of the newest Messaging SMS the fake received for `phone`."""
    for _ in range(50):
        status, messages = call("GET", f"{fake}/_fake/messages?to={urllib.parse.quote(phone)}")
        if status == 200 and messages:
            found = re.search(r"\b(\d{6})\b", messages[-1]["body"])
            if found:
                return found.group(1)
        time.sleep(0.1)
    sys.exit(f"no SMS for {phone} at the fake")


def main():
    base, fake = sys.argv[1].rstrip("/"), sys.argv[2].rstrip("/")
    email = f"load-{random.getrandbits(48):012x}@example.com"
    password = "a long load test password"
    phone = f"+447400{random.randrange(10**6):06d}"

    status, body = call("POST", f"{base}/register/auth/register", {"email": email, "password": password, "phone": phone})
    if status != 201:
        sys.exit(f"register: HTTP {status} {body}")
    status, tokens = call("POST", f"{base}/verify/auth/verify",
                          {"challenge_id": body["challenge"]["id"], "code": latest_sms_code(fake, phone)})
    if status != 200:
        sys.exit(f"verify: HTTP {status} {tokens}")
    status, body = call("POST", f"{base}/login/auth/login", {"email": email, "password": password})
    if status != 200:
        sys.exit(f"login: HTTP {status} {body}")
    for name, value in [("ACCESS_TOKEN", tokens["access_token"]), ("EMAIL", email),
                        ("PASSWORD", password), ("CHALLENGE_ID", body["challenge"]["id"])]:
        print(f"{name}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
