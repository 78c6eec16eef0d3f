// The example single-page app: signs in with sms-mfa through oidc-client-ts (authorization code +
// PKCE, done by the library), shows the ID token's claims, calls the API with the access token,
// refreshes and signs out. No code of sms-mfa's here: only the standard protocol.
const { UserManager } = window.oidc; // oidc-client-ts's browser build
const config = await (await fetch("/config.json")).json(); // {authority}, written by serve.py

const manager = new UserManager({
  authority: config.authority, // the stack's URL: its /.well-known/openid-configuration
  client_id: "example-spa", // registered in OAUTH_CLIENTS, public (no secret)
  redirect_uri: `${location.origin}/callback.html`,
  post_logout_redirect_uri: `${location.origin}/index.html`,
  scope: "openid email phone offline_access", // offline_access: a refresh token
  response_type: "code",
  // The tokens stay in sessionStorage (the library's default): gone when the tab closes.
});

const $ = (id) => document.getElementById(id);
const show = (id, value) => ($(id).textContent = typeof value === "string" ? value : JSON.stringify(value, null, 2));

function render(user) {
  const signedIn = Boolean(user && !user.expired);
  show("status", signedIn ? `Signed in as ${user.profile.email ?? user.profile.sub}.` : "Signed out.");
  show("claims", signedIn ? user.profile : "—");
  $("signin").hidden = signedIn;
  for (const id of ["protected", "refresh", "signout"]) $(id).hidden = !signedIn;
}

if (location.pathname === "/callback.html") {
  // Back from sms-mfa with ?code=…&state=…: the library checks state and redeems the code with
  // its PKCE verifier; the ID token comes straight from the token endpoint, and it checks its claims.
  try {
    await manager.signinRedirectCallback();
    location.replace("/index.html");
  } catch (err) {
    show("status", `Sign-in failed: ${err.message}`);
  }
} else {
  $("signin").onclick = () => manager.signinRedirect();
  $("signout").onclick = () => manager.signoutRedirect(); // sms-mfa's /oauth2/logout, then back here
  $("refresh").onclick = async () => {
    try {
      render(await manager.signinSilent()); // with a refresh token: one POST to the token endpoint
      show("output", "Tokens refreshed.");
    } catch (err) {
      show("output", `Refresh failed: ${err.message}`);
    }
  };
  $("protected").onclick = async () => {
    const user = await manager.getUser();
    try {
      const response = await fetch(`${config.authority}/protected`, {
        headers: { authorization: `Bearer ${user.access_token}` },
      });
      show("output", { status: response.status, body: await response.json() });
    } catch (err) {
      show("output", `The call failed: ${err.message}`); // e.g. the API's CORS left this origin out
    }
  };
  render(await manager.getUser());
}
