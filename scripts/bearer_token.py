#!/usr/bin/env python3
"""Signs up a fresh account on a running stack and prints its access token, so schemathesis
reaches the Bearer routes past their token check (scripts/test.sh passes it as ACCESS_TOKEN).

    scripts/bearer_token.py BASE_URL TWILIO_FAKE_URL

BASE_URL is the API base (the local router, or a deployed API): routes on their deployed paths
running OTP_PROVIDER=twilio_verify against the Twilio fake, whose admin API gives the code.
Standard library only.
"""

import json
import secrets
import sys
import urllib.parse
import urllib.request


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


def get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    base, fake = sys.argv[1].rstrip("/"), sys.argv[2].rstrip("/")
    email = f"schemathesis-{secrets.token_hex(6)}@example.com"
    phone = f"+4479111{secrets.randbelow(100000):05d}"
    password = f"schemathesis {secrets.token_hex(8)}"
    registered = post(f"{base}/auth/register", {"email": email, "password": password, "phone": phone})
    latest = get(f"{fake}/_fake/verifications/latest?to={urllib.parse.quote(phone)}")
    tokens = post(f"{base}/auth/verify", {"challenge_id": registered["challenge"]["id"], "code": latest["code"]})
    print(tokens["access_token"])


if __name__ == "__main__":
    main()
