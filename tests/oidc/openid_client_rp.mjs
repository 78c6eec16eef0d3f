// npm `openid-client` (v6, an OpenID-certified relying party) as the public client `node-app`,
// one step per run so that tests/oidc/openid_client_rp.py can drive the browser in between:
//
//   node openid_client_rp.mjs ISSUER STATE_FILE authorize REDIRECT_URI [PROMPT]  -> prints the URL
//   node openid_client_rp.mjs ISSUER STATE_FILE callback CALLBACK_URL            -> {claims, scope, ...}
//   node openid_client_rp.mjs ISSUER STATE_FILE refresh                          -> {scope, ...}
//   node openid_client_rp.mjs ISSUER STATE_FILE userinfo                         -> the userinfo answer
//   node openid_client_rp.mjs ISSUER STATE_FILE revoke
//   node openid_client_rp.mjs ISSUER STATE_FILE logout POST_LOGOUT_REDIRECT_URI  -> prints the URL
//
// STATE_FILE keeps what an app keeps in its session (verifier, state, nonce, tokens). A refusal
// prints {error, error_description} and exits 2. The package comes from E2E_INTEROP_DIR
// (tests/interop/node_modules), resolved from there since this file lives elsewhere.
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const interop = process.env.E2E_INTEROP_DIR ?? new URL("../interop", import.meta.url).pathname;
const client = await import(pathToFileURL(createRequire(join(interop, "package.json")).resolve("openid-client")));

const [issuer, stateFile, command, arg, prompt] = process.argv.slice(2);
const saved = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, "utf8") || "{}") : {};
const save = (more) => writeFileSync(stateFile, JSON.stringify({ ...saved, ...more }));
const print = (value) => console.log(typeof value === "string" ? value : JSON.stringify(value));

// The local stack is plain http on 127.0.0.1: v6 refuses that unless told.
const config = await client.discovery(new URL(issuer), "node-app", undefined, client.None(), {
  execute: [client.allowInsecureRequests],
});
// Verify the ID token's signature against the JWKS too (the TLS channel alone would do per
// OIDC Core §3.1.3.7, but here there is no TLS, and the signature is what we test).
client.enableNonRepudiationChecks(config);

try {
  switch (command) {
    case "authorize": {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const params = {
        redirect_uri: arg,
        scope: "openid email offline_access", // no `phone`: userinfo must leave the number out
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: "S256",
        state,
        nonce,
      };
      if (prompt) params.prompt = prompt;
      save({ verifier, state, nonce });
      print(client.buildAuthorizationUrl(config, params).href);
      break;
    }
    case "callback": {
      const tokens = await client.authorizationCodeGrant(config, new URL(arg), {
        pkceCodeVerifier: saved.verifier,
        expectedState: saved.state,
        expectedNonce: saved.nonce,
        idTokenExpected: true,
      });
      save({ tokens: { ...tokens } });
      print({ claims: tokens.claims(), scope: tokens.scope, token_type: tokens.token_type,
              has_refresh_token: Boolean(tokens.refresh_token) });
      break;
    }
    case "refresh": {
      const tokens = await client.refreshTokenGrant(config, saved.tokens.refresh_token);
      save({ tokens: { ...saved.tokens, ...tokens }, previous: saved.tokens });
      print({ scope: tokens.scope, has_id_token: Boolean(tokens.id_token),
              rotated: tokens.refresh_token !== saved.tokens.refresh_token });
      break;
    }
    case "userinfo": {
      const sub = JSON.parse(Buffer.from(saved.tokens.id_token.split(".")[1], "base64url")).sub;
      print(await client.fetchUserInfo(config, saved.tokens.access_token, sub));
      break;
    }
    case "revoke":
      await client.tokenRevocation(config, saved.tokens.refresh_token, { token_type_hint: "refresh_token" });
      print({ revoked: true });
      break;
    case "logout": {
      const state = client.randomState();
      save({ logoutState: state });
      print(client.buildEndSessionUrl(config, {
        post_logout_redirect_uri: arg, state, id_token_hint: saved.tokens.id_token,
      }).href);
      break;
    }
    default:
      throw new Error(`unknown command ${command}`);
  }
} catch (err) {
  print({ error: err.error ?? err.code ?? err.name, error_description: err.error_description ?? err.message,
          status: err.status });
  process.exit(2);
}
