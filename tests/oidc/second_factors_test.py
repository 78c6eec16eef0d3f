"""Every way the hosted pages sign a person in continues the authorization (API.md, the hosted
pages "sign the person in exactly as in v2"): an authenticator app, a recovery code and a
remembered device, each ending on the app with a code whose ID token's `amr` says how. Also the
single sign-on cookie as the browser keeps it. The app is a bare public client (node-app) on a
recorder; the codes are redeemed with plain form posts, as the provider's rules are the point."""

import base64
import json
import time

import pyotp
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from helpers import BASE, BareClientFlow, authorization_url, code_for, query_of, save_shot, wait, wait_for_url

CLIENT_ID = "node-app"
SSO_COOKIE = "__Host-sms-mfa-sso"


def payload(jwt):
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class SecondFactors(BareClientFlow):
    def start(self, client_id=CLIENT_ID, redirect_uri=None, **extra):
        """Opens an authorization (of node-app unless told) in the browser; returns its PKCE verifier."""
        url, verifier = authorization_url(self.meta, client_id, redirect_uri or self.callback, state="st", **extra)
        self.d.get(url)
        return verifier

    def password_step(self):
        wait(self.d, EC.visibility_of_element_located((By.ID, "view-signin")), "the hosted sign-in", shot="factors-signin")
        self.d.find_element(By.ID, "signin-email").send_keys(self.account["email"])
        self.d.find_element(By.ID, "signin-password").send_keys(self.account["password"])
        self.d.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()

    def code_view(self):
        wait(self.d, EC.visibility_of_element_located((By.ID, "view-code")), "the code view", shot="factors-code")

    def id_token_of_landing(self, verifier, client_id=CLIENT_ID, redirect_uri=None):
        """Waits for the app's callback, redeems its code; the ID token's claims."""
        redirect_uri = redirect_uri or self.callback
        landed = query_of(wait_for_url(self.d, redirect_uri, "the app's callback"))
        self.assertIn("code", landed, landed)
        resp = requests.post(self.meta["token_endpoint"], timeout=30, data={
            "grant_type": "authorization_code", "code": landed["code"], "redirect_uri": redirect_uri,
            "code_verifier": verifier, "client_id": client_id})
        self.assertEqual(resp.status_code, 200, resp.text)
        return payload(resp.json()["id_token"])

    def enrol_authenticator(self):
        access = {"authorization": f"Bearer {self.account['tokens']['access_token']}"}
        resp = requests.post(f"{BASE}/me/factors/totp", json={"password": self.account["password"]}, headers=access, timeout=30)
        self.assertEqual(resp.status_code, 201, resp.text)
        app = pyotp.TOTP(resp.json()["secret"])
        resp = requests.post(f"{BASE}/me/factors/totp/confirm", json={"code": app.now()}, headers=access, timeout=30)
        self.assertEqual(resp.status_code, 200, resp.text)
        return app, resp.json()["recovery_codes"]

    def test_authenticator_then_recovery_code_continue_the_authorization(self):
        app, recovery = self.enrol_authenticator()
        verifier = self.start()
        self.password_step()
        self.code_view()
        # The next step's code: the one enrolment used is spent; ±1 step is accepted.
        self.d.find_element(By.ID, "code-input").send_keys(app.at(time.time() + 30))
        self.d.find_element(By.ID, "code-submit").click()
        self.assertEqual(self.id_token_of_landing(verifier)["amr"], ["pwd", "otp", "mfa"])

        verifier = self.start(prompt="login")
        self.password_step()
        self.code_view()
        self.d.find_element(By.ID, "recovery-toggle").click()
        wait(self.d, EC.visibility_of_element_located((By.ID, "recovery-input")), "the recovery-code field")
        self.d.find_element(By.ID, "recovery-input").send_keys(recovery[0])
        self.d.find_element(By.ID, "code-submit").click()
        amr = self.id_token_of_landing(verifier)["amr"]
        self.assertTrue({"pwd", "mfa"} <= set(amr) and "otp" not in amr and "sms" not in amr, amr)

    def test_remembered_device_continues_without_a_code(self):
        verifier = self.start()
        self.password_step()
        self.code_view()
        code, sid = code_for(self.account["phone"], not_sid=self.account["sid"])
        self.d.find_element(By.ID, "remember-device").click()
        self.d.find_element(By.ID, "code-input").send_keys(code)
        self.d.find_element(By.ID, "code-submit").click()
        self.assertEqual(self.id_token_of_landing(verifier)["amr"], ["pwd", "sms", "mfa"])

        verifier = self.start(prompt="login")
        self.password_step()  # the device cookie goes along: no code view, nothing sent
        self.assertEqual(self.id_token_of_landing(verifier)["amr"], ["pwd", "mfa", "x-remembered-device"])
        self.assertEqual(code_for(self.account["phone"])[1], sid, "a code was sent")

    def test_the_sso_cookie_is_host_only_httponly_secure_lax_and_opaque_and_shared_by_apps(self):
        verifier = self.start()
        self.password_step()
        self.code_view()
        code, _ = code_for(self.account["phone"], not_sid=self.account["sid"])
        self.d.find_element(By.ID, "code-input").send_keys(code)
        self.d.find_element(By.ID, "code-submit").click()
        claims = self.id_token_of_landing(verifier)
        self.d.get(BASE + "/#signin")  # the stack's origin (cookies are per host, any port)
        cookie = next((c for c in self.d.get_cookies() if c["name"] == SSO_COOKIE), None)
        self.assertIsNotNone(cookie, [c["name"] for c in self.d.get_cookies()])
        self.assertTrue(cookie["httpOnly"] and cookie["secure"], cookie)
        self.assertEqual((cookie["path"], cookie.get("sameSite"), cookie.get("domain")), ("/", "Lax", "127.0.0.1"), cookie)
        self.assertGreaterEqual(len(cookie["value"]), 22, "at least 128 random bits")
        self.assertNotIn(cookie["value"], (claims["sid"], claims["sub"]), "the cookie is not the session id")
        self.assertNotIn(SSO_COOKIE, self.d.execute_script("return document.cookie"), "script sees the cookie")
        save_shot(self.d, "factors-sso-cookie")
        # Another app of the same browser session: a code at once, the same `sid` (the SSO session).
        spa_callback = f"{self.app.base}/callback.html"
        verifier = self.start(client_id="example-spa", redirect_uri=spa_callback)
        other = self.id_token_of_landing(verifier, client_id="example-spa", redirect_uri=spa_callback)
        self.assertEqual((other["aud"], other["sid"], other["auth_time"]), ("example-spa", claims["sid"], claims["auth_time"]))
