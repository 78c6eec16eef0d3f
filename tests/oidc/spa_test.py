"""The example single-page app (examples/spa, oidc-client-ts in the browser) in headless Chromium:
sign in through the hosted pages, the claims, GET /protected with the access token, refresh,
sign out, and a sign-in after that shows the hosted pages again."""

import json
import subprocess
import sys
import unittest
import urllib.parse

import requests

from selenium.webdriver.common.by import By

from helpers import (BASE, INTEROP_DIR, REPO, Browser, api_account, drain_documents, hosted_sign_in, missing_env,
                     save_shot, wait, wait_for_url)

SPA = REPO / "examples" / "spa"


class ExampleSpa(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if missing_env():
            raise unittest.SkipTest(f"set {', '.join(missing_env())} (scripts/test.sh does)")
        # The library from tests/interop's install (one npm ci for the suite), the version the
        # example pins: checked in test_0.
        cls.server = subprocess.Popen(
            [sys.executable, str(SPA / "serve.py"), "--authority", BASE, "--port", "0",
             "--node-modules", str(INTEROP_DIR / "node_modules")], stdout=subprocess.PIPE, text=True)
        cls.spa = cls.server.stdout.readline().split()[-1]
        cls.browser = Browser()
        cls.d = cls.browser.driver
        cls.account = api_account()

    @classmethod
    def tearDownClass(cls):
        cls.browser.quit()
        cls.server.terminate()
        cls.server.wait(10)

    def status_is(self, start):
        wait(self.d, lambda d: d.find_element(By.ID, "status").text.startswith(start), f"the status {start!r}",
             shot=f"spa-{self.id().rsplit('.', 1)[-1]}")

    def stored_user(self):
        """The user oidc-client-ts keeps in sessionStorage (its default store)."""
        key = f"oidc.user:{BASE}:example-spa"
        return json.loads(self.d.execute_script("return sessionStorage.getItem(arguments[0])", key) or "null")

    def test_0_the_example_pins_the_version_tested(self):
        pinned = json.loads((SPA / "package.json").read_text())["dependencies"]["oidc-client-ts"]
        tested = json.loads((INTEROP_DIR / "package.json").read_text())["dependencies"]["oidc-client-ts"]
        self.assertEqual(pinned, tested)

    def output_changes(self, before, what):
        wait(self.d, lambda d: d.find_element(By.ID, "output").text not in ("", before), what, shot=f"spa-{what.split()[-1]}")
        return self.d.find_element(By.ID, "output").text

    def test_1_sign_in_shows_the_claims(self):
        self.d.get(f"{self.spa}/index.html")
        self.status_is("Signed out.")
        self.d.find_element(By.ID, "signin").click()
        hosted_sign_in(self.d, self.account, "example-spa", shot="spa-1-hosted-sign-in")
        wait_for_url(self.d, f"{self.spa}/index.html", "the SPA after its callback")
        self.status_is(f"Signed in as {self.account['email']}")
        claims = type(self).claims = json.loads(self.d.find_element(By.ID, "claims").text)
        self.assertEqual((claims["aud"], claims["email"], claims["phone_number"]),
                         ("example-spa", self.account["email"], self.account["phone"]))
        save_shot(self.d, "spa-2-signed-in")

    def test_2_call_protected_with_the_access_token(self):
        # GET /protected from the page: cross-origin, with the access token.
        self.d.find_element(By.ID, "protected").click()
        output = self.output_changes("—", "the /protected answer")
        save_shot(self.d, "spa-3-protected")
        self.assertTrue(output.startswith("{"), output)
        answer = json.loads(output)
        self.assertEqual((answer["status"], answer["body"].get("user", {}).get("id")), (200, self.claims["sub"]), answer)

    def test_3_refresh(self):
        # A new access token from the refresh token (a CORS POST to the token endpoint).
        before, shown = self.stored_user(), self.d.find_element(By.ID, "output").text
        self.d.find_element(By.ID, "refresh").click()
        self.assertEqual(self.output_changes(shown, "the refresh"), "Tokens refreshed.")
        # (The access token may be the same bytes when issued within the second.)
        self.assertNotEqual(self.stored_user()["refresh_token"], before["refresh_token"], "the refresh token rotated")

    def test_4_sign_out_then_sign_in_shows_the_hosted_pages(self):
        # Sign out: sms-mfa's logout, back on the SPA's index.html, signed out.
        drain_documents(self.d)
        self.d.execute_script("window.beforeSignOut = true")  # gone once a new document loads
        self.d.find_element(By.ID, "signout").click()
        wait(self.d, lambda d: d.execute_script("return document.readyState === 'complete' && !window.beforeSignOut"),
             "a new document after sign-out", shot="spa-signout")
        documents = drain_documents(self.d)
        self.assertTrue(any(u.startswith(f"{BASE}/oauth2/logout?") for u in documents), documents)
        self.assertEqual(urllib.parse.urlsplit(self.d.current_url)[:3], urllib.parse.urlsplit(f"{self.spa}/index.html")[:3])
        self.status_is("Signed out.")
        self.assertIsNone(self.stored_user())
        save_shot(self.d, "spa-4-signed-out")
        # The session at sms-mfa ended too: signing in again shows the hosted pages.
        self.d.find_element(By.ID, "signin").click()
        hosted_sign_in(self.d, self.account, "example-spa")
        wait_for_url(self.d, f"{self.spa}/index.html", "the SPA after signing in again")
        self.status_is(f"Signed in as {self.account['email']}")

    def test_5_cors_answers_only_registered_origins(self):
        """The endpoints a single-page app calls answer CORS for the origins of registered redirect
        URIs (loopback: any port), preflight included; another origin gets no CORS header."""
        ours, theirs = self.spa, "https://attacker.example"
        preflight = {"access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type"}
        for path in ("/oauth2/token", "/oauth2/revoke", "/me", "/.well-known/jwks.json", "/.well-known/openid-configuration"):
            resp = requests.options(BASE + path, headers={"origin": ours, **preflight}, timeout=30)
            self.assertEqual(resp.status_code, 204, path)
            self.assertEqual(resp.headers.get("access-control-allow-origin"), ours, (path, resp.headers))
            self.assertIn("authorization", resp.headers.get("access-control-allow-headers", "").lower(), path)
            resp = requests.options(BASE + path, headers={"origin": theirs, **preflight}, timeout=30)
            self.assertNotIn("access-control-allow-origin", resp.headers, path)
        for path in ("/.well-known/jwks.json", "/.well-known/openid-configuration"):
            resp = requests.get(BASE + path, headers={"origin": ours}, timeout=30)
            self.assertEqual(resp.headers.get("access-control-allow-origin"), ours, path)
            self.assertIn("origin", resp.headers.get("vary", "").lower(), path)
            resp = requests.get(BASE + path, headers={"origin": theirs}, timeout=30)
            self.assertNotIn("access-control-allow-origin", resp.headers, path)
        resp = requests.post(BASE + "/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": "x", "client_id": "example-spa"},
                             headers={"origin": theirs}, timeout=30)
        self.assertEqual(resp.status_code, 400)
        self.assertNotIn("access-control-allow-origin", resp.headers)
