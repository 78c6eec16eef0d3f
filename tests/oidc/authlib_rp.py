"""Python's authlib as a confidential client (`authlib-app`, client_secret_basic) of the default
stack, as a team's Flask backend would use it: discovery, PKCE S256, the ID token verified by
authlib itself (signature from the JWKS, iss, aud, nonce). Headless Chromium plays the person.

Then the bad input of RFC 6749 §4.1.2.1 and §5.2 that needs a client, with authlib's
OAuth2Session (requests) and plain requests where the status line is the point."""

import base64
import hashlib
import html
import json
import logging
import os
import secrets
import threading
import time
import unittest
import urllib.parse

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from authlib.integrations.requests_client import OAuth2Session
from flask import Flask, request
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from werkzeug.serving import make_server

from helpers import (BASE, Browser, Recorder, api_account, browse_to_redirect, discovery, drain_documents,
                     hosted_pages_shown, hosted_sign_in, missing_env, query_of, save_shot, wait, wait_for_url)

CLIENT_ID = "authlib-app"
SCOPE = "openid email phone offline_access"


class FlaskApp:
    """The relying party: a Flask app with authlib's Flask integration on 127.0.0.1:<free port>.
    /authlib/login starts an authorization (its query's prompt etc. go along), /authlib/callback
    finishes it and shows the verified ID token claims as JSON (or the error), keeping the tokens
    in `self.tokens` for the test."""

    def __init__(self, secret):
        app = Flask("authlib-rp")
        app.secret_key = secrets.token_hex(16)  # Flask's session cookie holds state, nonce, verifier
        oauth = OAuth(app)
        self.client = oauth.register(
            "sms_mfa", client_id=CLIENT_ID, client_secret=secret,
            server_metadata_url=f"{BASE}/.well-known/openid-configuration",
            client_kwargs={"scope": SCOPE, "code_challenge_method": "S256",
                           "token_endpoint_auth_method": "client_secret_basic"})
        self.tokens = []
        self.callbacks = []

        @app.get("/authlib/login")
        def login():
            return self.client.authorize_redirect(f"{self.base}/authlib/callback", **request.args.to_dict())

        @app.get("/authlib/callback")
        def callback():
            self.callbacks.append(request.args.to_dict())
            try:
                token = self.client.authorize_access_token()
            except AuthlibBaseError as err:
                return result_page({"error": err.error, "error_description": err.description})
            self.tokens.append(token)
            return result_page({"claims": dict(token["userinfo"]), "scope": token.get("scope")})

        @app.get("/authlib/signed-out")
        def signed_out():
            self.callbacks.append(request.args.to_dict())
            return "signed out"

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def jwt_payload(token):
    """A JWT's claims, unverified (the provider's access token is for resource servers to verify)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def result_page(answer):
    """What the app shows: the answer as JSON in a <pre> (the test reads it back)."""
    return f"<!doctype html><title>authlib app</title><pre id=result>{html.escape(json.dumps(answer))}</pre>"


def page_json(driver):
    return json.loads(driver.find_element(By.ID, "result").text)


class AuthlibRelyingParty(unittest.TestCase):
    """One person, one browser, in order: sign-in, SSO, prompt=none, prompt=login and max_age,
    refresh, revoke, logout; then login_hint."""

    @classmethod
    def setUpClass(cls):
        if missing_env():
            raise unittest.SkipTest(f"set {', '.join(missing_env())} (scripts/test.sh does)")
        cls.secret = os.environ["E2E_AUTHLIB_CLIENT_SECRET"]
        cls.rp = FlaskApp(cls.secret)
        cls.browser = Browser()
        cls.d = cls.browser.driver
        cls.account = api_account()
        cls.meta = discovery()

    @classmethod
    def tearDownClass(cls):
        cls.browser.quit()
        cls.rp.close()

    def session(self, **kwargs):
        """authlib's requests client for the token and revocation endpoints."""
        return OAuth2Session(CLIENT_ID, self.secret, token_endpoint_auth_method="client_secret_basic", **kwargs)

    def login(self, query=""):
        """The app's sign-in link in the browser, until the app's callback answered; its JSON."""
        self.d.get(f"{self.rp.base}/authlib/login{query}")
        wait_for_url(self.d, f"{self.rp.base}/authlib/callback", "the app's callback")
        return page_json(self.d)

    def test_1_sign_in_on_the_hosted_pages(self):
        self.d.get(f"{self.rp.base}/authlib/login")
        hosted_sign_in(self.d, self.account, CLIENT_ID, shot="authlib-1-hosted-sign-in")
        wait_for_url(self.d, f"{self.rp.base}/authlib/callback", "the app's callback after sign-in")
        answer = page_json(self.d)
        save_shot(self.d, "authlib-2-signed-in")
        self.assertNotIn("error", answer, answer)
        claims = answer["claims"]  # verified by authlib: signature (JWKS), iss, aud, exp, nonce
        self.assertEqual(claims["iss"], self.meta["issuer"])
        self.assertEqual(claims["aud"], CLIENT_ID)
        self.assertEqual((claims["email"], claims["email_verified"]), (self.account["email"], False))
        self.assertEqual((claims["phone_number"], claims["phone_number_verified"]), (self.account["phone"], True))
        for name in ("sub", "auth_time", "amr", "sid", "nonce"):
            self.assertIn(name, claims)
        # RFC 9207: the callback carries the issuer.
        self.assertEqual(self.rp.callbacks[-1].get("iss"), self.meta["issuer"], self.rp.callbacks[-1])
        token = self.rp.tokens[-1]
        self.assertEqual(token["token_type"].lower(), "bearer")
        self.assertIn("refresh_token", token, "offline_access was granted")
        self.assertEqual(set(token["scope"].split()), set(SCOPE.split()))
        type(self).first = claims
        # The access token is the v2 one (aud JWT_AUDIENCE) plus client_id and scope (RFC 9068).
        access = jwt_payload(token["access_token"])
        self.assertEqual((access["aud"], access["client_id"], access["sub"]), ("sms-mfa", CLIENT_ID, claims["sub"]))
        self.assertEqual(set(access["scope"].split()) & set(SCOPE.split()), set(SCOPE.split()), access["scope"])
        # GET /protected takes it.
        resp = requests.get(f"{BASE}/protected", headers={"authorization": f"Bearer {token['access_token']}"}, timeout=30)
        self.assertEqual(resp.status_code, 200, resp.text)
        self.assertEqual(resp.json()["user"]["id"], claims["sub"])

    def test_2_single_sign_on_gets_a_code_with_no_page_shown(self):
        drain_documents(self.d)
        answer = self.login()
        self.assertNotIn("error", answer, answer)
        self.assertFalse(hosted_pages_shown(drain_documents(self.d)), "the hosted pages were shown again")
        claims = answer["claims"]
        self.assertEqual(claims["sub"], self.first["sub"])
        self.assertEqual((claims["auth_time"], claims["amr"], claims["sid"]),
                         (self.first["auth_time"], self.first["amr"], self.first["sid"]), "the original sign-in's")

    def test_3_prompt_none_with_a_session_and_in_a_fresh_browser(self):
        answer = self.login("?prompt=none")
        self.assertNotIn("error", answer, answer)
        other = Browser()
        try:
            other.driver.get(f"{self.rp.base}/authlib/login?prompt=none")
            wait_for_url(other.driver, f"{self.rp.base}/authlib/callback", "the callback in a fresh browser")
            self.assertEqual(page_json(other.driver)["error"], "login_required")
            self.assertFalse(hosted_pages_shown(drain_documents(other.driver)), "no page is shown with prompt=none")
        finally:
            other.quit()

    def test_4_prompt_login_and_max_age_show_the_hosted_pages_again(self):
        self.d.get(f"{self.rp.base}/authlib/login?prompt=login")
        hosted_sign_in(self.d, self.account, CLIENT_ID)
        wait_for_url(self.d, f"{self.rp.base}/authlib/callback", "the callback after prompt=login")
        again = page_json(self.d)["claims"]
        self.assertEqual(again["sub"], self.first["sub"])
        self.assertGreater(again["auth_time"], self.first["auth_time"], "a new sign-in")
        time.sleep(2)
        self.d.get(f"{self.rp.base}/authlib/login?max_age=1")
        hosted_sign_in(self.d, self.account, CLIENT_ID)  # the session is older than max_age
        wait_for_url(self.d, f"{self.rp.base}/authlib/callback", "the callback after max_age")
        self.assertGreater(page_json(self.d)["claims"]["auth_time"], again["auth_time"])

    def test_5_refresh_narrower_then_revoke_then_refresh_fails(self):
        token = self.rp.tokens[-1]
        client = self.session()
        fresh = client.refresh_token(self.meta["token_endpoint"], refresh_token=token["refresh_token"])
        self.assertNotEqual(fresh["refresh_token"], token["refresh_token"], "refresh tokens rotate")
        self.assertNotIn("id_token", fresh)
        self.assertEqual(fresh["token_type"].lower(), "bearer")
        # A narrower scope: the userinfo endpoint (GET /me) then leaves the phone out.
        fresh = client.refresh_token(self.meta["token_endpoint"], refresh_token=fresh["refresh_token"],
                                     scope="openid email offline_access")
        self.assertEqual(set(fresh["scope"].split()), {"openid", "email", "offline_access"})
        info = requests.get(self.meta["userinfo_endpoint"], timeout=30,
                            headers={"authorization": f"Bearer {fresh['access_token']}"}).json()
        self.assertEqual((info["sub"], info.get("email")), (self.first["sub"], self.account["email"]))
        self.assertLessEqual(set(info), {"sub", "email", "email_verified"}, "only what openid and email allow")
        resp = client.revoke_token(self.meta["revocation_endpoint"], token=fresh["refresh_token"], token_type_hint="refresh_token")
        self.assertEqual(resp.status_code, 200, resp.text)
        with self.assertRaises(AuthlibBaseError) as caught:
            client.refresh_token(self.meta["token_endpoint"], refresh_token=fresh["refresh_token"])
        self.assertEqual(caught.exception.error, "invalid_grant")

    def test_6_logout_lands_on_the_registered_uri_then_prompt_none_needs_a_login(self):
        id_token = self.rp.tokens[-1]["id_token"]
        logout = self.rp.client.create_logout_url(
            post_logout_redirect_uri=f"{self.rp.base}/authlib/signed-out", id_token_hint=id_token, client_id=CLIENT_ID)
        landed = browse_to_redirect(self.d, logout["url"], f"{self.rp.base}/authlib/signed-out", "the signed-out page")
        self.assertEqual(landed.get("state"), logout["state"])
        self.assertNotIn("__Host-sms-mfa-sso", {c["name"] for c in self.d.get_cookies()}, "the SSO cookie is gone")
        self.assertEqual(self.login("?prompt=none").get("error"), "login_required")


    def test_7_login_hint_prefills_the_email(self):
        self.d.get(f"{self.rp.base}/authlib/login?" + urllib.parse.urlencode({"login_hint": self.account["email"]}))
        wait(self.d, EC.visibility_of_element_located((By.ID, "view-signin")), "the hosted sign-in", shot="authlib-hint")
        self.assertEqual(self.d.find_element(By.ID, "signin-email").get_attribute("value"), self.account["email"])

class AuthlibBadInput(unittest.TestCase):
    """The errors a client meets; codes come from a browser signed in once (SSO)."""

    @classmethod
    def setUpClass(cls):
        if missing_env():
            raise unittest.SkipTest(f"set {', '.join(missing_env())} (scripts/test.sh does)")
        cls.secret = os.environ["E2E_AUTHLIB_CLIENT_SECRET"]
        cls.meta = discovery()
        cls.app = Recorder()
        cls.redirect_uri = f"{cls.app.base}/authlib/callback"
        cls.browser = Browser()
        cls.d = cls.browser.driver
        account = api_account()
        cls.v2_tokens = account["tokens"]  # from /auth/verify: the pages' kind
        cls.d.get(cls.authorization()[0])
        hosted_sign_in(cls.d, account, CLIENT_ID)
        wait_for_url(cls.d, cls.redirect_uri, "the first code")
        # A code left to expire while the other cases run (test_zz_expired_code_is_invalid_grant).
        url, cls.expiring_client, cls.expiring_verifier = cls.authorization()
        cls.d.get(url)
        cls.expiring = wait_for_url(cls.d, cls.redirect_uri, "the code left to expire")
        cls.expiring_since = time.monotonic()

    @classmethod
    def tearDownClass(cls):
        cls.browser.quit()
        cls.app.close()

    @classmethod
    def authorization(cls, **params):
        """(authorization URL, the OAuth2Session that made it, its code_verifier)."""
        client = OAuth2Session(CLIENT_ID, cls.secret, scope=params.pop("scope", "openid offline_access"),
                               redirect_uri=cls.redirect_uri, code_challenge_method="S256",
                               token_endpoint_auth_method="client_secret_basic")
        verifier = secrets.token_urlsafe(48)
        url, _ = client.create_authorization_url(cls.meta["authorization_endpoint"], code_verifier=verifier,
                                                 nonce=secrets.token_urlsafe(16), **params)
        return url, client, verifier

    def code(self):
        """A fresh code through the browser's session: (callback URL, client, verifier)."""
        url, client, verifier = self.authorization()
        self.d.get(url)
        return wait_for_url(self.d, self.redirect_uri, "a code"), client, verifier

    def redeem(self, client, callback, verifier):
        return client.fetch_token(self.meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)

    def test_wrong_client_secret_is_401_with_www_authenticate(self):
        callback, _, verifier = self.code()
        form = {"grant_type": "authorization_code", "code": query_of(callback)["code"],
                "redirect_uri": self.redirect_uri, "code_verifier": verifier}
        resp = requests.post(self.meta["token_endpoint"], data=form, auth=(CLIENT_ID, "not-the-secret"), timeout=30)
        self.assertEqual(resp.status_code, 401, resp.text)
        self.assertTrue(resp.headers.get("www-authenticate", "").lower().startswith("basic"), resp.headers)
        self.assertEqual(resp.json()["error"], "invalid_client")
        self.assertEqual(resp.headers.get("cache-control"), "no-store")
        # authlib with the wrong secret says the same.
        wrong = OAuth2Session(CLIENT_ID, "not-the-secret", token_endpoint_auth_method="client_secret_basic")
        with self.assertRaises(AuthlibBaseError) as caught:
            wrong.fetch_token(self.meta["token_endpoint"], authorization_response=callback,
                              redirect_uri=self.redirect_uri, code_verifier=verifier)
        self.assertEqual(caught.exception.error, "invalid_client")
        # The right secret, as client_secret_post this time: the code was not spent by the failures.
        resp = requests.post(self.meta["token_endpoint"], timeout=30,
                             data={**form, "client_id": CLIENT_ID, "client_secret": self.secret})
        self.assertEqual(resp.status_code, 200, resp.text)
        self.assertEqual(resp.headers.get("cache-control"), "no-store")
        self.assertTrue({"access_token", "token_type", "expires_in", "id_token", "scope", "refresh_token"} <= set(resp.json()))

    def test_foreign_code_and_refresh_token_are_invalid_grant(self):
        # A code issued to node-app (same browser session), presented by authlib-app.
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        node_callback = f"{self.app.base}/openid-client/callback"
        query = {"response_type": "code", "client_id": "node-app", "redirect_uri": node_callback, "scope": "openid offline_access",
                 "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"}
        landed = browse_to_redirect(self.d, f"{self.meta['authorization_endpoint']}?{urllib.parse.urlencode(query)}",
                                    node_callback, "node-app's code")
        with self.assertRaises(AuthlibBaseError) as caught:
            self.session_for(node_callback).fetch_token(self.meta["token_endpoint"], code=landed["code"], code_verifier=verifier)
        self.assertEqual(caught.exception.error, "invalid_grant")
        # authlib-app's refresh token, presented by node-app.
        callback, client, verifier = self.code()
        mine = self.redeem(client, callback, verifier)
        resp = requests.post(self.meta["token_endpoint"], timeout=30, data={
            "grant_type": "refresh_token", "refresh_token": mine["refresh_token"], "client_id": "node-app"})
        self.assertEqual((resp.status_code, resp.json().get("error")), (400, "invalid_grant"), resp.text)

    def session_for(self, redirect_uri):
        return OAuth2Session(CLIENT_ID, self.secret, redirect_uri=redirect_uri, token_endpoint_auth_method="client_secret_basic")

    def test_wider_scope_on_refresh_is_invalid_scope(self):
        callback, client, verifier = self.code()  # scope: openid offline_access
        tokens = self.redeem(client, callback, verifier)
        with self.assertRaises(AuthlibBaseError) as caught:
            client.refresh_token(self.meta["token_endpoint"], refresh_token=tokens["refresh_token"],
                                 scope="openid email offline_access")
        self.assertEqual(caught.exception.error, "invalid_scope")

    def test_refresh_tokens_do_not_cross_between_the_pages_and_the_token_endpoint(self):
        callback, client, verifier = self.code()
        tokens = self.redeem(client, callback, verifier)
        resp = requests.post(f"{BASE}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, timeout=30)
        self.assertEqual(resp.json().get("error"), "invalid_token", resp.text)
        with self.assertRaises(AuthlibBaseError) as caught:  # the pages' (v2) refresh token
            client.refresh_token(self.meta["token_endpoint"], refresh_token=self.v2_tokens["refresh_token"])
        self.assertEqual(caught.exception.error, "invalid_grant")
        # Both still work where they belong.
        self.assertIn("access_token", client.refresh_token(self.meta["token_endpoint"], refresh_token=tokens["refresh_token"]))
        resp = requests.post(f"{BASE}/auth/refresh", json={"refresh_token": self.v2_tokens["refresh_token"]}, timeout=30)
        self.assertEqual(resp.status_code, 200, resp.text)

    def test_replayed_code_is_invalid_grant_and_revokes_what_the_first_use_issued(self):
        callback, client, verifier = self.code()
        first = self.redeem(client, callback, verifier)
        self.assertIn("refresh_token", first)
        with self.assertRaises(AuthlibBaseError) as caught:
            self.redeem(client, callback, verifier)
        self.assertEqual(caught.exception.error, "invalid_grant")
        with self.assertRaises(AuthlibBaseError) as caught:
            client.refresh_token(self.meta["token_endpoint"], refresh_token=first["refresh_token"])
        self.assertEqual(caught.exception.error, "invalid_grant", "the first use's refresh token is revoked")

    def test_wrong_code_verifier_is_invalid_grant(self):
        callback, client, _ = self.code()
        with self.assertRaises(AuthlibBaseError) as caught:
            self.redeem(client, callback, secrets.token_urlsafe(48))
        self.assertEqual(caught.exception.error, "invalid_grant")

    def test_plain_pkce_redirects_with_invalid_request(self):
        url, _, verifier = self.authorization()
        query = query_of(url)
        query.update(code_challenge=verifier, code_challenge_method="plain")
        landed = browse_to_redirect(self.d, f"{self.meta['authorization_endpoint']}?{urllib.parse.urlencode(query)}",
                                    self.redirect_uri, "the error redirect")
        self.assertEqual(landed.get("error"), "invalid_request", landed)
        self.assertEqual((landed.get("state"), landed.get("iss")), (query["state"], self.meta["issuer"]), landed)
        self.assertNotIn("code", landed)

    def test_scope_without_openid_redirects_with_invalid_scope(self):
        url, _, _ = self.authorization(scope="email offline_access")
        landed = browse_to_redirect(self.d, url, self.redirect_uri, "the error redirect")
        self.assertEqual(landed.get("error"), "invalid_scope", landed)
        self.assertEqual(landed.get("state"), query_of(url)["state"])

    def test_unregistered_redirect_uri_is_a_400_page_and_no_redirect(self):
        url, _, _ = self.authorization()
        for redirect_uri in ("https://attacker.example/authlib/callback", f"{self.app.base}/authlib/callback/more", None):
            query = query_of(url)
            if redirect_uri:
                query["redirect_uri"] = redirect_uri
            else:
                del query["redirect_uri"]
            resp = requests.get(self.meta["authorization_endpoint"], params=query, allow_redirects=False, timeout=30)
            self.assertEqual(resp.status_code, 400, (redirect_uri, resp.text[:200]))
            self.assertTrue(resp.headers.get("content-type", "").startswith("text/html"), resp.headers)
            self.assertNotIn("location", resp.headers)
        query = query_of(url)
        query["client_id"] = "no-such-client"
        resp = requests.get(self.meta["authorization_endpoint"], params=query, allow_redirects=False, timeout=30)
        self.assertEqual((resp.status_code, resp.headers.get("location")), (400, None), "unknown client")

    def test_unregistered_post_logout_redirect_uri_is_a_signed_out_page(self):
        for uri in ("https://attacker.example/", f"{self.app.base}/authlib/callback"):
            resp = requests.get(self.meta["end_session_endpoint"], allow_redirects=False, timeout=30,
                                params={"client_id": CLIENT_ID, "post_logout_redirect_uri": uri, "state": "s1"})
            self.assertEqual(resp.status_code, 200, (uri, resp.text[:200]))
            self.assertTrue(resp.headers.get("content-type", "").startswith("text/html"), resp.headers)
            self.assertNotIn("location", resp.headers)

    def test_zz_expired_code_is_invalid_grant(self):
        # AUTHORIZATION_CODE_TTL_SECONDS: 60 at most (the stack's default), plus a margin.
        time.sleep(max(0.0, 62 - (time.monotonic() - self.expiring_since)))
        with self.assertRaises(AuthlibBaseError) as caught:
            self.redeem(self.expiring_client, self.expiring, self.expiring_verifier)
        self.assertEqual(caught.exception.error, "invalid_grant")
