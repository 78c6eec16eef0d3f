"""npm's `openid-client` (v6) as the public client `node-app`: tests/oidc/openid_client_rp.mjs does
every relying-party step (PKCE, state, nonce, the code grant with the ID token's signature, iss,
aud and nonce checked, refresh, userinfo, revocation, the end-session URL); headless Chromium
plays the person between the steps, on the recorder standing in for the app's redirect URIs.

This person signs up on the hosted pages the authorization sent them to: sign-up with its code
continues the authorization too."""

import json
import os
import subprocess
import tempfile
import unittest
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from helpers import (BASE, INTEROP_DIR, Browser, Recorder, browse_to_redirect, client_name, code_for, drain_documents,
                     fresh_account, hosted_pages_shown, missing_env, save_shot, wait, wait_for_url)

CLIENT_ID = "node-app"
SCRIPT = Path(__file__).with_name("openid_client_rp.mjs")


class OpenidClientRelyingParty(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if missing_env():
            raise unittest.SkipTest(f"set {', '.join(missing_env())} (scripts/test.sh does)")
        cls.app = Recorder()
        cls.callback = f"{cls.app.base}/openid-client/callback"
        cls.state_dir = tempfile.TemporaryDirectory(prefix="openid-client-")
        cls.state_file = str(Path(cls.state_dir.name) / "session.json")
        cls.browser = Browser()
        cls.d = cls.browser.driver

    @classmethod
    def tearDownClass(cls):
        cls.browser.quit()
        cls.app.close()
        cls.state_dir.cleanup()

    def rp(self, *args, refused=False, state_file=None):
        """One step of the node relying party: its JSON (or URL) output. `refused`: it must
        exit 2 with {error, ...}."""
        done = subprocess.run(["node", str(SCRIPT), BASE, state_file or self.state_file, *args],
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "E2E_INTEROP_DIR": str(INTEROP_DIR)})
        out = done.stdout.strip()
        if refused:
            self.assertEqual(done.returncode, 2, f"openid-client {args[0]} was expected to refuse: {out} {done.stderr}")
        else:
            self.assertEqual(done.returncode, 0, f"openid-client {args[0]}: {out} {done.stderr}")
        return json.loads(out) if out.startswith("{") else out

    def authorize_in(self, driver, prompt=None, state_file=None):
        """The app's authorization URL opened in `driver`; returns what the browser lands on
        (after a sign-in, if the caller does one first, that is for the caller to wait for)."""
        url = self.rp("authorize", self.callback, *([prompt] if prompt else []), state_file=state_file)
        driver.get(url)

    def test_1_sign_up_on_the_hosted_pages_then_the_code(self):
        self.authorize_in(self.d)
        # The hosted pages name the app; this person has no account yet and signs up there.
        wait(self.d, EC.visibility_of_element_located((By.ID, "view-signin")), "the hosted sign-in", shot="node-signin")
        wait(self.d, lambda d: client_name(CLIENT_ID) in d.find_element(By.ID, "oauth-client").text, "the app's name")
        self.d.find_element(By.CSS_SELECTOR, 'nav a[href="#signup"]').click()
        wait(self.d, EC.visibility_of_element_located((By.ID, "view-signup")), "the sign-up view")
        account = type(self).account = fresh_account()
        for element_id, key in (("signup-email", "email"), ("signup-password", "password"), ("signup-phone", "phone")):
            self.d.find_element(By.ID, element_id).send_keys(account[key])
        self.d.find_element(By.CSS_SELECTOR, "#signup-form button[type=submit]").click()
        wait(self.d, EC.visibility_of_element_located((By.ID, "view-code")), "the code view", shot="node-code")
        code, _ = code_for(account["phone"])
        self.d.find_element(By.ID, "code-input").send_keys(code)
        save_shot(self.d, "node-1-sign-up-code")
        self.d.find_element(By.ID, "code-submit").click()
        landed = wait_for_url(self.d, self.callback, "the app's callback after sign-up")
        answer = self.rp("callback", landed)
        claims = answer["claims"]
        self.assertEqual(claims["aud"], CLIENT_ID)
        self.assertEqual((claims["email"], claims["email_verified"]), (account["email"], False))
        self.assertNotIn("phone_number", claims, "no `phone` scope asked")
        self.assertTrue(answer["has_refresh_token"])
        self.assertEqual(set(answer["scope"].split()), {"openid", "email", "offline_access"})
        type(self).claims = claims

    def test_2_single_sign_on_and_prompt_none(self):
        drain_documents(self.d)
        self.authorize_in(self.d)
        claims = self.rp("callback", wait_for_url(self.d, self.callback, "a code by SSO"))["claims"]
        self.assertFalse(hosted_pages_shown(drain_documents(self.d)), "the hosted pages were shown again")
        self.assertEqual((claims["sub"], claims["sid"], claims["auth_time"]),
                         (self.claims["sub"], self.claims["sid"], self.claims["auth_time"]))
        self.authorize_in(self.d, prompt="none")
        self.rp("callback", wait_for_url(self.d, self.callback, "a code with prompt=none"))
        # A fresh browser has no session: login_required, which openid-client reports.
        other = Browser()
        try:
            with tempfile.NamedTemporaryFile(suffix=".json") as state:
                self.authorize_in(other.driver, prompt="none", state_file=state.name)
                landed = wait_for_url(other.driver, self.callback, "the error redirect")
                self.assertEqual(self.rp("callback", landed, refused=True, state_file=state.name)["error"], "login_required")
        finally:
            other.quit()

    def test_3_refresh_userinfo_revoke(self):
        refreshed = self.rp("refresh")
        self.assertTrue(refreshed["rotated"], refreshed)
        self.assertFalse(refreshed["has_id_token"], "refresh at the token endpoint answers no id_token")
        info = self.rp("userinfo")  # GET /me, the userinfo_endpoint: only what the scopes allow
        self.assertEqual(info["sub"], self.claims["sub"])
        self.assertEqual(info.get("email"), self.account["email"])
        self.assertLessEqual(set(info), {"sub", "email", "email_verified"}, "only what openid and email allow")
        self.rp("revoke")
        self.assertEqual(self.rp("refresh", refused=True)["error"], "invalid_grant")

    def test_4_logout_then_prompt_none_is_login_required(self):
        url = self.rp("logout", f"{self.app.base}/openid-client/signed-out")
        landed = browse_to_redirect(self.d, url, f"{self.app.base}/openid-client/signed-out", "the signed-out redirect")
        saved = json.loads(Path(self.state_file).read_text())
        self.assertEqual(landed.get("state"), saved["logoutState"])
        self.authorize_in(self.d, prompt="none")
        landed = wait_for_url(self.d, self.callback, "the error redirect")
        self.assertEqual(self.rp("callback", landed, refused=True)["error"], "login_required")
