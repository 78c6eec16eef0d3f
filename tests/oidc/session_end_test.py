"""The single sign-on session (API.md: "The session ends with /oauth2/logout, a global logout, a
password reset or change, account deletion, …"): each case signs a fresh browser in through an
authorization, does the thing over the JSON API, and then `prompt=none` must answer
login_required. Also: forgot password on the hosted pages, then sign-in, continues the
authorization. The app is a bare public client (node-app) on a recorder: these are the
provider's rules, not a library's."""

import urllib.parse

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from helpers import (BASE, BareClientFlow, authorization_url, browse_to_redirect, code_for, hosted_sign_in, save_shot, wait,
                     wait_for_url)

CLIENT_ID = "node-app"


class SessionEnds(BareClientFlow):
    def authorize_url(self, **extra):
        return authorization_url(self.meta, CLIENT_ID, self.callback, **extra)[0]

    def signed_in_with_sso(self):
        """Signs the browser in through an authorization; checks SSO answers prompt=none."""
        self.d.get(self.authorize_url())
        hosted_sign_in(self.d, self.account, CLIENT_ID)
        wait_for_url(self.d, self.callback, "the app after signing in")
        self.assertIn("code", browse_to_redirect(self.d, self.authorize_url(prompt="none"), self.callback, "a code by SSO"))

    def assert_session_ended(self, why):
        landed = browse_to_redirect(self.d, self.authorize_url(prompt="none"), self.callback, "the prompt=none answer")
        self.assertEqual(landed.get("error"), "login_required", f"the SSO session outlived {why}: {landed}")

    def test_password_change_ends_it(self):
        self.signed_in_with_sso()
        access = self.account["tokens"]["access_token"]
        resp = requests.post(f"{BASE}/me/password", headers={"authorization": f"Bearer {access}"}, timeout=30,
                             json={"current_password": self.account["password"], "new_password": "another long passphrase"})
        self.assertEqual(resp.status_code, 204, resp.text)
        self.assert_session_ended("a password change")

    def test_global_logout_ends_it(self):
        self.signed_in_with_sso()
        resp = requests.post(f"{BASE}/auth/logout", timeout=30,
                             json={"refresh_token": self.account["tokens"]["refresh_token"], "scope": "global"})
        self.assertEqual(resp.status_code, 204, resp.text)
        self.assert_session_ended("a global logout")

    def test_account_deletion_ends_it(self):
        self.signed_in_with_sso()
        resp = requests.delete(f"{BASE}/me", headers={"authorization": f"Bearer {self.account['tokens']['access_token']}"},
                               json={"password": self.account["password"]}, timeout=30)
        self.assertEqual(resp.status_code, 204, resp.text)
        self.assert_session_ended("the account's deletion")

    def test_password_reset_ends_it(self):
        self.signed_in_with_sso()
        resp = requests.post(f"{BASE}/auth/password/forgot", json={"email": self.account["email"]}, timeout=30)
        self.assertEqual(resp.status_code, 202, resp.text)
        code, _ = code_for(self.account["phone"], not_sid=self.account["sid"])
        resp = requests.post(f"{BASE}/auth/password/reset", timeout=30, json={
            "challenge_id": resp.json()["challenge"]["id"], "code": code, "new_password": "a brand new passphrase"})
        self.assertEqual(resp.status_code, 204, resp.text)
        self.assert_session_ended("a password reset")

    def test_forgot_password_on_the_hosted_pages_then_sign_in_continues_the_authorization(self):
        self.d.get(self.authorize_url())
        wait(self.d, EC.visibility_of_element_located((By.ID, "view-signin")), "the hosted sign-in", shot="forgot-signin")
        self.d.find_element(By.CSS_SELECTOR, 'a[href="#forgot"]').click()
        wait(self.d, EC.visibility_of_element_located((By.ID, "view-forgot")), "the forgot view")
        self.d.find_element(By.ID, "forgot-email").send_keys(self.account["email"])
        self.d.find_element(By.CSS_SELECTOR, "#forgot-form button[type=submit]").click()
        wait(self.d, EC.visibility_of_element_located((By.ID, "view-reset")), "the reset view", shot="forgot-reset")
        code, self.account["sid"] = code_for(self.account["phone"], not_sid=self.account["sid"])
        self.account["password"] = "a brand new passphrase"
        self.d.find_element(By.ID, "reset-code").send_keys(code)
        self.d.find_element(By.ID, "reset-password").send_keys(self.account["password"])
        self.d.find_element(By.CSS_SELECTOR, "#reset-form button[type=submit]").click()
        # The sign-in view again, still for the app; signing in lands on it with a code.
        hosted_sign_in(self.d, self.account, CLIENT_ID, shot="forgot-then-sign-in")
        landed = urllib.parse.parse_qs(urllib.parse.urlsplit(wait_for_url(self.d, self.callback, "the app after the reset")).query)
        self.assertIn("code", landed, landed)
        save_shot(self.d, "forgot-continued")
