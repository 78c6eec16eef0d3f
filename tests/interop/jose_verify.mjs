// usage: node jose_verify.mjs ISSUER AUDIENCE TOKEN
// panva/jose, as a resource server would use it: the issuer's discovery document, its jwks_uri
// (createRemoteJWKSet), then jwtVerify with issuer and audience. Prints {header, payload}; any
// failure exits non-zero with the reason on stderr.
import { createRemoteJWKSet, jwtVerify } from "jose";

const [issuer, audience, token] = process.argv.slice(2);
const response = await fetch(`${issuer}/.well-known/openid-configuration`);
if (!response.ok) throw new Error(`discovery: HTTP ${response.status}`);
const discovery = await response.json();
if (discovery.issuer !== issuer) throw new Error(`discovery names issuer ${discovery.issuer}`);
const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));
const { payload, protectedHeader } = await jwtVerify(token, jwks, {
  issuer,
  audience,
  algorithms: ["RS256"],
  typ: "at+jwt",
  requiredClaims: ["exp", "iat", "sub"],
});
console.log(JSON.stringify({ header: protectedHeader, payload }));
