// The hosted pages of sms-mfa: one module, no framework, same origin as the API.
//
// Tokens live in this module's memory only: nothing in localStorage, sessionStorage or a cookie
// this script can read, so a script injected later, or another tab, finds nothing to steal. The
// price: a reload or a new tab asks the person to sign in again.
//
// "Remember this device": the device token never reaches this script. The pages ask the API for
// it with `device_cookie: true`; the service then sets it in an HttpOnly, Secure,
// SameSite=Strict `__Host-` cookie of this origin (not in the body), and reads it back at the
// next sign-in. Only those two requests carry cookies (`credentials: "same-origin"`).
//
// Single sign-on (an app signing in with OpenID Connect): the same two requests ask for the
// session cookie (`sso_cookie: true`), also HttpOnly. When the page was opened by
// /oauth2/authorize (its query names the app's `client_id`), a completed sign-in navigates back
// there with a GET (the pages' CSP `form-action 'self'` would block a form post that redirects
// to the app), and the service redirects to the app with its code.

const session = { access: null, refresh: null, user: null, device: null };
// The challenge the code view completes: { challenge, purpose, ... }.
let pending = null;
// The password-reset challenge.
let resetChallenge = null;
const countdowns = new Map();

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------
// The API

async function api(method, path, body, { auth = false, retried = false, cookies = false } = {}) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (auth && session.access) headers.authorization = `Bearer ${session.access}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: cookies ? "same-origin" : "omit",
      cache: "no-store",
    });
  } catch {
    return { status: 0, body: { message: "The service cannot be reached; check your connection and try again." }, headers: new Headers() };
  }
  const text = await response.text();
  let parsed = {};
  try { parsed = text ? JSON.parse(text) : {}; } catch { parsed = {}; }
  const result = { status: response.status, body: parsed, headers: response.headers };
  // An expired access token: renew it once with the refresh token, then ask again.
  if (auth && !retried && response.status === 401 && parsed.error === "invalid_token" && session.refresh) {
    if (await refreshSession()) return api(method, path, body, { auth, retried: true, cookies });
  }
  return result;
}

async function refreshSession() {
  const r = await api("POST", "/auth/refresh", { refresh_token: session.refresh });
  if (r.status !== 200) {
    clearSession();
    return false;
  }
  keepTokens(r.body);
  return true;
}

// The authorization request this page was opened for, if any (the query /oauth2/authorize
// passed on).
const authorization = new URLSearchParams(location.search).has("client_id") ? location.search : null;

// After a sign-in: back to the app that asked, or to the account page.
function signedIn() {
  if (authorization) {
    notice("Signed in. Returning to the app…");
    location.assign(`/oauth2/authorize${authorization}`);
    return;
  }
  go("account");
}

function keepTokens(body) {
  session.access = body.access_token;
  session.refresh = body.refresh_token;
  if (body.user) session.user = body.user;
  // Not secret: which listed device is this browser.
  if (body.device) session.device = body.device.id;
}

// Whether the access token carries the role `admin` (its claims, read in memory; the admin
// API checks the token and the account again on every request).
function isAdmin() {
  if (!session.access) return false;
  try {
    const payload = session.access.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(payload + "=".repeat((4 - (payload.length % 4)) % 4)));
    return Array.isArray(claims.roles) && claims.roles.includes("admin");
  } catch {
    return false;
  }
}

function clearSession() {
  session.access = session.refresh = session.user = session.device = null;
}

function messageOf(r) {
  if (r.body && typeof r.body.message === "string" && r.body.message) return r.body.message;
  return `Something went wrong (HTTP ${r.status}). Please try again.`;
}

function retryAfter(r) {
  const seconds = parseInt(r.headers.get("retry-after") || "", 10);
  return Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
}

// ---------------------------------------------------------------------------------------------
// Views

function show(view, { focus = true } = {}) {
  if (!document.querySelector(`[data-view="${view}"]`)) view = session.access ? "account" : "signin";
  if (view === "code" && !pending) view = session.access ? "account" : "signin";
  if (view === "reset" && !resetChallenge) view = "forgot";
  if (view === "account" && !session.access) view = "signin";
  if (view === "admin" && !isAdmin()) view = session.access ? "account" : "signin";
  for (const section of document.querySelectorAll("[data-view]")) section.hidden = section.dataset.view !== view;
  for (const link of document.querySelectorAll("[data-when]")) {
    const when = link.dataset.when;
    link.hidden = when === "admin" ? !isAdmin() : (when === "signed-in") !== Boolean(session.access);
  }
  if (location.hash !== `#${view}`) history.replaceState(null, "", `#${view}`);
  if (view === "account") loadProfile();
  if (focus) {
    const title = document.querySelector(`[data-view="${view}"] h1`);
    if (title) title.focus();
  }
}

function go(view) {
  if (location.hash === `#${view}`) show(view);
  else location.hash = view;
}

function notice(text) {
  $("notice").textContent = text || "";
}

function setError(id, text) {
  $(id).textContent = text || "";
}

function formData(form) {
  return Object.fromEntries(new FormData(form).entries());
}

// Runs a form's submit handler with its button disabled, errors cleared first.
function onSubmit(id, errorId, handler) {
  const form = $(id);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setError(errorId, "");
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await handler(form, formData(form));
    } finally {
      button.disabled = false;
    }
  });
}

// A button that is disabled and counts down the seconds of a Retry-After.
function countdown(button, seconds, statusId) {
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  clearInterval(countdowns.get(button));
  let left = seconds;
  const tick = () => {
    if (left <= 0) {
      clearInterval(countdowns.get(button));
      countdowns.delete(button);
      button.disabled = false;
      button.textContent = label;
      if (statusId) $(statusId).textContent = "You can ask for a new code now.";
      return;
    }
    button.disabled = true;
    button.textContent = `${label} (${left} s)`;
    left -= 1;
  };
  tick();
  countdowns.set(button, setInterval(tick, 1000));
}

function stopCountdown(button) {
  clearInterval(countdowns.get(button));
  countdowns.delete(button);
  if (button.dataset.label) button.textContent = button.dataset.label;
  button.disabled = false;
}

// ---------------------------------------------------------------------------------------------
// Sign up, sign in, the code

function describeChallenge(challenge) {
  if (challenge.factor === "totp") return "Open your authenticator app and enter the 6-digit code it shows.";
  const how = { sms: "by text message", call: "by a voice call", whatsapp: "on WhatsApp" }[challenge.channel] || "";
  return `We sent a code ${how} to ${challenge.to}. It expires in ${Math.round((challenge.expires_in || 600) / 60)} minutes.`;
}

function startCode(challenge, purpose) {
  pending = { challenge, purpose, useRecovery: false };
  renderCode();
  stopCountdown($("resend-button"));
  go("code");
}

function renderCode() {
  const { challenge, purpose, useRecovery } = pending;
  const factors = challenge.factors || [];
  $("code-title").textContent = purpose === "phone_change" ? "Confirm your new number" : "Enter your code";
  $("remember-choice").hidden = purpose === "phone_change";
  $("code-sent-to").textContent = useRecovery ? "Enter one of the recovery codes you saved when you added the authenticator." : describeChallenge(challenge);
  $("code-field").hidden = useRecovery;
  $("code-input").required = !useRecovery;
  $("recovery-field").hidden = !useRecovery;
  $("recovery-input").required = useRecovery;
  $("resend-button").hidden = challenge.factor === "totp";
  $("sms-instead-button").hidden = !(challenge.factor === "totp" && factors.includes("phone"));
  $("recovery-toggle").hidden = !factors.includes("recovery_code");
  $("recovery-toggle").textContent = useRecovery ? "Use a code instead" : "Use a recovery code";
  setError("code-error", "");
  $("attempts-left").textContent = "";
  $("resend-status").textContent = "";
  $("code-form").reset();
  $("code-submit").disabled = false;
}

onSubmit("signup-form", "signup-error", async (form, data) => {
  const r = await api("POST", "/auth/register", data);
  if (r.status !== 201) return setError("signup-error", messageOf(r));
  session.user = { email: data.email };
  startCode(r.body.challenge, "signup");
});

onSubmit("signin-form", "signin-error", async (form, data) => {
  // A remembered device's cookie, if this browser has one, goes along: with the right password
  // it answers tokens at once.
  const body = { email: data.email, password: data.password, device_cookie: true, sso_cookie: true };
  if (data.factor) body.factor = data.factor;
  const r = await api("POST", "/auth/login", body, { cookies: true });
  if (r.status !== 200) return setError("signin-error", messageOf(r));
  form.reset();
  if (r.body.access_token) {
    keepTokens(r.body);
    notice("Signed in on this remembered device: no code needed.");
    return signedIn();
  }
  startCode(r.body.challenge, "login");
});

onSubmit("code-form", "code-error", async (form, data) => {
  const { challenge, purpose, useRecovery } = pending;
  const body = { challenge_id: challenge.id };
  if (useRecovery) body.recovery_code = data.recovery_code.trim();
  else body.code = data.code.trim();
  const remember = purpose !== "phone_change" && data.remember_device === "on";
  if (remember) Object.assign(body, { remember_device: true, device_cookie: true });
  const signsIn = purpose !== "phone_change";
  if (signsIn) body.sso_cookie = true;
  const r = await api("POST", "/auth/verify", body, { cookies: signsIn });
  if (r.status === 200) {
    pending = null;
    if (purpose === "phone_change") {
      if (r.body.user) session.user = { ...session.user, ...r.body.user };
      notice("Your phone number is changed.");
      return go("account");
    }
    keepTokens(r.body);
    notice("");
    return signedIn();
  }
  setError("code-error", messageOf(r));
  if (r.body.error === "invalid_code" && Number.isInteger(r.body.attempts_remaining)) {
    const n = r.body.attempts_remaining;
    $("attempts-left").textContent = n === 1 ? "1 attempt left." : `${n} attempts left.`;
  } else if (r.body.error === "too_many_attempts" || r.body.error === "challenge_invalid") {
    $("attempts-left").textContent = "This code can no longer be used: start again.";
    $("code-submit").disabled = true;
  }
});

async function resend(channel) {
  const button = channel ? $("sms-instead-button") : $("resend-button");
  const body = { challenge_id: pending.challenge.id };
  if (channel) body.channel = channel;
  button.disabled = true;
  const r = await api("POST", "/auth/resend", body);
  button.disabled = false;
  if (r.status === 200) {
    pending.challenge = r.body.challenge;
    pending.useRecovery = false;
    renderCode();
    $("resend-status").textContent = `A new code is on its way to ${r.body.challenge.to}.`;
    return;
  }
  $("resend-status").textContent = messageOf(r);
  const wait = retryAfter(r);
  if (wait) countdown($("resend-button"), wait, "resend-status");
}

$("resend-button").addEventListener("click", () => resend());
$("sms-instead-button").addEventListener("click", () => resend("sms"));
$("recovery-toggle").addEventListener("click", () => {
  pending.useRecovery = !pending.useRecovery;
  renderCode();
  (pending.useRecovery ? $("recovery-input") : $("code-input")).focus();
});

// ---------------------------------------------------------------------------------------------
// Forgot password

onSubmit("forgot-form", "forgot-error", async (form, data) => {
  const r = await api("POST", "/auth/password/forgot", { email: data.email });
  if (r.status !== 202) return setError("forgot-error", messageOf(r));
  resetChallenge = r.body.challenge;
  $("reset-sent-to").textContent = `If ${data.email} has an account with a verified phone, we sent a code to ${resetChallenge.to}.`;
  $("reset-form").reset();
  $("reset-second-factor").hidden = true;
  $("reset-attempts").textContent = "";
  stopCountdown($("reset-resend"));
  go("reset");
});

onSubmit("reset-form", "reset-error", async (form, data) => {
  const body = { challenge_id: resetChallenge.id, code: data.code.trim(), new_password: data.new_password };
  if (data.totp_code) body.totp_code = data.totp_code.trim();
  if (data.recovery_code) body.recovery_code = data.recovery_code.trim();
  const r = await api("POST", "/auth/password/reset", body);
  if (r.status === 204) {
    resetChallenge = null;
    notice("Your password is changed. Sign in with the new one.");
    return go("signin");
  }
  setError("reset-error", messageOf(r));
  $("reset-attempts").textContent = r.body.error === "invalid_code" && Number.isInteger(r.body.attempts_remaining)
    ? `${r.body.attempts_remaining} attempts left.` : "";
  if (r.body.error === "factor_required") {
    $("reset-second-factor").hidden = false;
    $("reset-totp").focus();
  }
});

$("reset-resend").addEventListener("click", async () => {
  const button = $("reset-resend");
  button.disabled = true;
  const r = await api("POST", "/auth/resend", { challenge_id: resetChallenge.id });
  button.disabled = false;
  if (r.status === 200) {
    resetChallenge = r.body.challenge;
    $("reset-resend-status").textContent = `A new code is on its way to ${resetChallenge.to}.`;
    return;
  }
  $("reset-resend-status").textContent = messageOf(r);
  const wait = retryAfter(r);
  if (wait) countdown(button, wait, "reset-resend-status");
});

// ---------------------------------------------------------------------------------------------
// The account

async function loadProfile() {
  setError("account-error", "");
  const r = await api("GET", "/me", undefined, { auth: true });
  if (r.status === 200) return renderProfile(r.body);
  if (r.status === 401) {
    clearSession();
    notice("Your session has ended. Please sign in again.");
    return go("signin");
  }
  // Without GET /me, what the sign-in answered.
  const user = session.user || {};
  renderProfile({ email: user.email, phone_number: user.phone, phone_number_verified: user.phone_verified, factors: ["phone"] });
  if (r.status !== 404) setError("account-error", messageOf(r));
}

function renderProfile(me) {
  const factors = me.factors || [];
  const hasTotp = factors.includes("totp");
  $("profile-email").textContent = me.email || "";
  $("profile-phone").textContent = me.phone_number || "";
  $("profile-verified").textContent = me.phone_number_verified === undefined ? "" : me.phone_number_verified ? "yes" : "no";
  $("profile-created").textContent = me.created_at ? new Date(typeof me.created_at === "number" ? me.created_at * 1000 : me.created_at).toLocaleDateString() : "—";
  $("profile-factors").textContent = factors.map((f) => ({ phone: "phone (text message)", totp: "authenticator app" }[f] || f)).join(", ");
  $("profile-recovery").textContent = hasTotp && me.recovery_codes_remaining !== undefined ? String(me.recovery_codes_remaining) : "—";
  loadDevices();
  $("totp-add-form").hidden = hasTotp;
  $("totp-remove-form").hidden = !hasTotp;
  $("recovery-form").hidden = !hasTotp;
  if (hasTotp) $("totp-enrol").hidden = true;
}

async function loadDevices() {
  setError("devices-error", "");
  const r = await api("GET", "/me/devices", undefined, { auth: true });
  if (r.status !== 200) return setError("devices-error", messageOf(r));
  const day = (seconds) => new Date(seconds * 1000).toLocaleDateString();
  $("devices-list").replaceChildren(...r.body.devices.map((device) => {
    const item = document.createElement("li");
    const text = document.createElement("span");
    const here = device.id === session.device ? " (this browser)" : "";
    text.textContent = `${device.label}${here}: last used ${day(device.last_used_at)}, until ${day(device.expires_at)}`;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = "Forget";
    button.setAttribute("aria-label", `Forget ${device.label}`);
    button.addEventListener("click", () => forgetDevice(device.id, button));
    item.append(text, " ", button);
    return item;
  }));
  $("devices-empty").hidden = r.body.devices.length > 0;
}

async function forgetDevice(id, button) {
  button.disabled = true;
  const r = await api("DELETE", `/me/devices/${encodeURIComponent(id)}`, undefined, { auth: true });
  if (r.status !== 204 && r.status !== 404) {
    button.disabled = false;
    return setError("devices-error", messageOf(r));
  }
  notice("The device is forgotten: it needs a code at its next sign-in.");
  loadDevices();
}

async function signOut(scope) {
  const body = { refresh_token: session.refresh || "" };
  if (scope) body.scope = scope;
  const r = await api("POST", "/auth/logout", body);
  if (r.status !== 204) return setError("account-error", messageOf(r));
  clearSession();
  notice(scope === "global" ? "You are signed out on every device." : "You are signed out.");
  go("signin");
}

$("signout-button").addEventListener("click", () => signOut());
$("signout-all-button").addEventListener("click", () => signOut("global"));

onSubmit("phone-form", "phone-error", async (form, data) => {
  const r = await api("POST", "/me/phone", { phone: data.phone, password: data.password }, { auth: true });
  if (r.status !== 202) return setError("phone-error", messageOf(r));
  form.reset();
  startCode(r.body.challenge, "phone_change");
});

onSubmit("password-form", "password-error", async (form, data) => {
  const r = await api("POST", "/me/password", data, { auth: true });
  if (r.status !== 204) return setError("password-error", messageOf(r));
  form.reset();
  notice("Your password is changed; other sessions are signed out.");
});

onSubmit("totp-add-form", "totp-add-error", async (form, data) => {
  const r = await api("POST", "/me/factors/totp", { password: data.password }, { auth: true });
  if (r.status !== 201) return setError("totp-add-error", messageOf(r));
  form.reset();
  // The SVG as an image (a data: URL), never as markup in the page.
  let binary = "";
  for (const byte of new TextEncoder().encode(r.body.qr_svg)) binary += String.fromCharCode(byte);
  $("totp-qr").src = `data:image/svg+xml;base64,${btoa(binary)}`;
  $("totp-secret").textContent = r.body.secret;
  $("totp-enrol").hidden = false;
  $("totp-confirm-code").focus();
});

onSubmit("totp-confirm-form", "totp-confirm-error", async (form, data) => {
  const r = await api("POST", "/me/factors/totp/confirm", { code: data.code.trim() }, { auth: true });
  if (r.status !== 200) return setError("totp-confirm-error", messageOf(r));
  form.reset();
  $("totp-enrol").hidden = true;
  $("totp-qr").removeAttribute("src");
  $("totp-secret").textContent = "";
  showRecoveryCodes(r.body.recovery_codes);
  notice("The authenticator app is on.");
});

function codeOrRecovery(data) {
  return (data.code || "").trim() || (data.recovery_code || "").trim();
}

onSubmit("totp-remove-form", "totp-remove-error", async (form, data) => {
  const r = await api("DELETE", "/me/factors/totp", { password: data.password, code: codeOrRecovery(data) }, { auth: true });
  if (r.status !== 204) return setError("totp-remove-error", messageOf(r));
  form.reset();
  notice("The authenticator app is removed.");
  loadProfile();
});

onSubmit("recovery-form", "recovery-error", async (form, data) => {
  const r = await api("POST", "/me/recovery-codes", { password: data.password, code: codeOrRecovery(data) }, { auth: true });
  if (r.status !== 200) return setError("recovery-error", messageOf(r));
  form.reset();
  showRecoveryCodes(r.body.recovery_codes);
});

function showRecoveryCodes(codes) {
  const list = $("recovery-list");
  list.replaceChildren(...codes.map((code) => {
    const item = document.createElement("li");
    item.textContent = code;
    return item;
  }));
  $("recovery-codes").hidden = false;
  $("recovery-codes-title").focus();
}

$("recovery-done").addEventListener("click", () => {
  $("recovery-list").replaceChildren();
  $("recovery-codes").hidden = true;
  loadProfile();
});

onSubmit("delete-form", "delete-error", async (form, data) => {
  const r = await api("DELETE", "/me", { password: data.password }, { auth: true });
  if (r.status !== 204) return setError("delete-error", messageOf(r));
  form.reset();
  clearSession();
  notice("Your account is deleted.");
  go("signup");
});

// ---------------------------------------------------------------------------------------------
// Administration (accounts with the role `admin`)

let adminUser = null;

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : "—";
}

function renderAdminUser(user) {
  adminUser = user;
  setError("admin-roles-error", "");
  $("admin-user").hidden = false;
  $("admin-email").textContent = user.email;
  $("admin-phone").textContent = user.phone_number;
  $("admin-verified").textContent = user.phone_number_verified ? "yes" : "no";
  $("admin-created").textContent = when(user.created_at);
  $("admin-last-sign-in").textContent = when(user.last_sign_in_at);
  $("admin-factors").textContent = user.factors.join(", ") || "—";
  $("admin-roles-shown").textContent = user.roles.join(", ") || "—";
  $("admin-status").textContent = user.disabled ? "disabled" : "active";
  $("admin-roles").value = user.roles.join(" ");
  $("admin-disable").hidden = user.disabled;
  $("admin-enable").hidden = !user.disabled;
  $("admin-remove-totp").hidden = !user.factors.includes("totp");
}

async function adminCall(method, suffix, body) {
  setError("admin-error", "");
  const r = await api(method, `/admin/users/${encodeURIComponent(adminUser.id)}${suffix}`, body, { auth: true });
  if (r.status === 200) renderAdminUser(r.body);
  else if (r.status !== 204) setError("admin-error", messageOf(r));
  return r;
}

onSubmit("admin-find-form", "admin-find-error", async (_form, data) => {
  const query = data.query.trim();
  const param = query.startsWith("+") ? "phone" : "email";
  $("admin-results").replaceChildren();
  $("admin-user").hidden = true;
  const r = await api("GET", `/admin/users?${param}=${encodeURIComponent(query)}`, undefined, { auth: true });
  if (r.status !== 200) return setError("admin-find-error", messageOf(r));
  const users = r.body.users || [];
  if (users.length === 0) return setError("admin-find-error", "No account matches.");
  if (users.length === 1) return renderAdminUser(users[0]);
  for (const user of users) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = `${user.email} (${user.disabled ? "disabled" : "active"})`;
    button.addEventListener("click", () => renderAdminUser(user));
    item.append(button);
    $("admin-results").append(item);
  }
});

$("admin-disable").addEventListener("click", async () => {
  if ((await adminCall("POST", "/disable")).status === 200) notice(`${adminUser.email} is disabled and signed out everywhere.`);
});
$("admin-enable").addEventListener("click", async () => {
  if ((await adminCall("POST", "/enable")).status === 200) notice(`${adminUser.email} can sign in again.`);
});
$("admin-sign-out").addEventListener("click", async () => {
  if ((await adminCall("POST", "/sign-out")).status === 204) notice(`Every session of ${adminUser.email} has ended.`);
});
$("admin-remove-totp").addEventListener("click", async () => {
  if ((await adminCall("DELETE", "/factors/totp")).status !== 204) return;
  notice(`The authenticator of ${adminUser.email} is removed.`);
  await adminCall("GET", "");
});

onSubmit("admin-roles-form", "admin-roles-error", async (_form, data) => {
  const roles = data.roles.split(/[\s,]+/).filter(Boolean);
  const r = await adminCall("PUT", "/roles", { roles });
  if (r.status === 200) notice(`Roles of ${adminUser.email} saved.`);
  else setError("admin-roles-error", messageOf(r));
});

// ---------------------------------------------------------------------------------------------

// An app's `login_hint` prefills the email.
if (authorization) {
  const hint = new URLSearchParams(authorization).get("login_hint");
  if (hint) $("signin-email").value = hint;
}

window.addEventListener("hashchange", () => show(location.hash.slice(1) || "signin"));
show(location.hash.slice(1) || "signin", { focus: false });
