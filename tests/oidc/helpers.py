"""What the relying-party tests share: the stack's addresses, accounts, headless Chromium (the
browser suite's own, tests/browser/test_pages.py), signing in on the hosted pages when an
authorization sends the browser there, and a recorder standing in for an app's redirect URI."""

import base64
import hashlib
import http.server
import json
import os
import secrets
import sys
import threading
import unittest
import urllib.parse
from pathlib import Path

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "browser"))
from test_pages import WAIT, Browser, code_for, fresh_account  # noqa: E402,F401 (Browser: for the suites)

BASE = os.environ.get("E2E_URL", "").rstrip("/")  # the default stack's router: the issuer
FAKE = os.environ.get("TWILIO_FAKE_URL", "").rstrip("/")
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", REPO / ".local" / "screenshots"))
INTEROP_DIR = Path(os.environ.get("E2E_INTEROP_DIR", REPO / "tests" / "interop"))
CLIENTS = json.loads(Path(os.environ["E2E_OAUTH_CLIENTS_FILE"]).read_text()) if os.environ.get("E2E_OAUTH_CLIENTS_FILE") else []


def missing_env():
    """The variables scripts/test.sh sets that are missing here (the suites skip without them)."""
    need = ["E2E_URL", "TWILIO_FAKE_URL", "E2E_OAUTH_CLIENTS_FILE", "E2E_AUTHLIB_CLIENT_SECRET"]
    return [name for name in need if not os.environ.get(name)]


def client_name(client_id):
    return next(c["name"] for c in CLIENTS if c["client_id"] == client_id)


def discovery():
    resp = requests.get(f"{BASE}/.well-known/openid-configuration", timeout=30)
    resp.raise_for_status()
    return resp.json()


def api_account():
    """A fresh account made over the JSON API (register, then the code from the fake): the flows
    under test start at the authorization, not at sign-up. Returns it with `sid`, the sid of its
    last verification (the next sign-in's code is the next one), and `tokens`, the v2 ones."""
    account = fresh_account()
    resp = requests.post(f"{BASE}/auth/register", json=account, timeout=30)
    assert resp.status_code == 201, resp.text
    code, sid = code_for(account["phone"])
    resp = requests.post(f"{BASE}/auth/verify", json={"challenge_id": resp.json()["challenge"]["id"], "code": code}, timeout=30)
    assert resp.status_code == 200, resp.text
    return {**account, "sid": sid, "tokens": resp.json()}


def wait(driver, condition, what, shot=None):
    try:
        return WebDriverWait(driver, WAIT).until(condition)
    except Exception as err:
        if shot:
            save_shot(driver, f"failed-{shot}")
        raise AssertionError(f"timed out waiting for {what} (at {driver.current_url})") from err


def save_shot(driver, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"oidc-{name}.png"))


def wait_for_url(driver, prefix, what=None):
    """Until the browser is at a URL starting with `prefix`; returns that URL."""
    wait(driver, lambda d: d.current_url.startswith(prefix), what or prefix, shot="url")
    return driver.current_url


def hosted_sign_in(driver, account, client_id, shot=None):
    """The hosted pages an authorization sent the browser to: checks they name the client, signs
    in with the password and the SMS code from the fake. Updates account["sid"]."""
    wait(driver, EC.visibility_of_element_located((By.ID, "view-signin")), "the hosted sign-in", shot="signin")
    assert urllib.parse.urlsplit(driver.current_url)[:2] == urllib.parse.urlsplit(BASE)[:2], driver.current_url
    wait(driver, lambda d: client_name(client_id) in d.find_element(By.ID, "oauth-client").text,
         f"the page naming {client_name(client_id)!r}", shot="client-name")
    if shot:
        save_shot(driver, shot)
    for element_id, value in (("signin-email", account["email"]), ("signin-password", account["password"])):
        field = driver.find_element(By.ID, element_id)
        field.clear()
        field.send_keys(value)
    driver.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
    wait(driver, EC.visibility_of_element_located((By.ID, "view-code")), "the code view", shot="code")
    code, account["sid"] = code_for(account["phone"], not_sid=account.get("sid"))
    driver.find_element(By.ID, "code-input").send_keys(code)
    driver.find_element(By.ID, "code-submit").click()


def drain_documents(driver):
    """The documents the browser requested since the last call (Chromium's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message.get("method") == "Network.requestWillBeSent" and params.get("type") == "Document":
            urls.append(params["request"]["url"])
    return urls


def hosted_pages_shown(urls):
    """Whether any of the documents was the hosted pages (the stack's `/`)."""
    return any(u.startswith(BASE + "/") and urllib.parse.urlsplit(u).path == "/" for u in urls)


def query_of(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


class Recorder:
    """An app's redirect URIs on 127.0.0.1:<free port> (loopback: any port matches the registered
    one): answers every GET with a small page and remembers the URL."""

    def __init__(self):
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.path)
                body = b"<!doctype html><title>recorded</title><p>recorded</p>"
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def browse_to_redirect(driver, url, redirect_base, what):
    """Opens an authorization (or logout) URL in the browser and waits until it lands on the app
    (`redirect_base`); returns the landing URL's query."""
    driver.get(url)
    return query_of(wait_for_url(driver, redirect_base, what))


def authorization_url(meta, client_id, redirect_uri, **extra):
    """An authorization request (PKCE S256, scope openid unless told): (its URL, the verifier)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "openid",
             "state": secrets.token_urlsafe(8), "code_challenge": challenge, "code_challenge_method": "S256", **extra}
    return f"{meta['authorization_endpoint']}?{urllib.parse.urlencode(query)}", verifier


class BareClientFlow(unittest.TestCase):
    """A bare public client (node-app) on a recorder, a fresh browser and a fresh account per
    test: for the suites about the provider's own rules rather than a library's."""

    CLIENT_ID = "node-app"

    @classmethod
    def setUpClass(cls):
        if missing_env():
            raise unittest.SkipTest("set E2E_URL, TWILIO_FAKE_URL, E2E_OAUTH_CLIENTS_FILE (scripts/test.sh does)")
        cls.meta = discovery()
        cls.app = Recorder()
        cls.callback = f"{cls.app.base}/openid-client/callback"

    @classmethod
    def tearDownClass(cls):
        cls.app.close()

    def setUp(self):
        self.browser = Browser()
        self.d = self.browser.driver
        self.account = api_account()

    def tearDown(self):
        self.browser.quit()

