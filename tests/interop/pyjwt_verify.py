"""usage: pyjwt_verify.py ISSUER AUDIENCE TOKEN

PyJWT, as a resource server would use it: the issuer's discovery document, its jwks_uri through
PyJWKClient, then jwt.decode with algorithms=["RS256"], the issuer and the audience. Prints the
claims as JSON; any failure exits non-zero with the reason on stderr.
"""
import json
import sys
import urllib.request

import jwt


def main():
    issuer, audience, token = sys.argv[1:4]
    with urllib.request.urlopen(issuer + "/.well-known/openid-configuration", timeout=30) as response:
        discovery = json.load(response)
    if discovery["issuer"] != issuer:
        sys.exit(f"discovery names issuer {discovery['issuer']}")
    signing_key = jwt.PyJWKClient(discovery["jwks_uri"], timeout=30).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=["RS256"],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    print(json.dumps(claims))


if __name__ == "__main__":
    main()
