#!/usr/bin/env python3
"""The hosted pages in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`), driven by selenium, against a running stack behind the local router.

    E2E_URL=http://127.0.0.1:9000 TWILIO_FAKE_URL=http://127.0.0.1:PORT python3 tests/browser/test_pages.py

scripts/test.sh runs it against its default stack (codes made by the Twilio Verify fake, read
from the fake's /_fake/verifications/latest). Screenshots of every step go to SCREENSHOT_DIR
(default .local/screenshots/). Exit code 0 when every test passed.
"""

import json
import os
import random
import shutil
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pyotp
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[2]
BASE = os.environ.get("E2E_URL", "").rstrip("/")
FAKE = os.environ.get("TWILIO_FAKE_URL", "").rstrip("/")
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", REPO / ".local" / "screenshots"))

# API.md "Hosted pages", verbatim.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
PAGE_TYPES = {"Document", "Script", "Stylesheet", "Image"}
WAIT = 30  # seconds; a function's first request may still start its instance


def http(method, path, body=None):
    """A request to the stack (not through the browser): (status, json body)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method,
                                 headers={"content-type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def latest_verification(phone):
    url = f"{FAKE}/_fake/verifications/latest?to={urllib.parse.quote(phone)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return None
        raise


def code_for(phone, not_sid=None):
    """The code of the newest verification of `phone` (a new one when `not_sid` is given)."""
    deadline = time.time() + WAIT
    while time.time() < deadline:
        v = latest_verification(phone)
        if v and v.get("sid") != not_sid:
            return v["code"], v["sid"]
        time.sleep(0.2)
    raise AssertionError(f"the fake saw no new verification for {phone}")


def fresh_account():
    tag = f"{int(time.time() * 1000) % 10**9}{random.randrange(1000):03d}"
    return {
        "email": f"browser-{tag}@example.com",
        "password": f"Browser-pass-{tag}",
        # A UK mobile (+44 771x: mobile in libphonenumber's metadata), random in 10^7.
        "phone": f"+44771{random.randrange(10**7):07d}",
    }


def http_auth(method, path, token, body=None):
    """`http` with `Authorization: Bearer <token>`."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"authorization": f"Bearer {token}"}
    if data:
        headers["content-type"] = "application/json"
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def admin_cli(*args):
    """sms-mfa-admin against the stack's table, with the stack's env file (as the README shows)."""
    env = {"PATH": os.environ.get("PATH", "")}
    for line in Path(os.environ["E2E_DEFAULT_ENV_FILE"]).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip().strip('"').strip("'")
    import subprocess
    done = subprocess.run([os.environ["E2E_ADMIN_BIN"], *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"sms-mfa-admin {args}: {done.stderr}"
    return done.stdout


def wrong(code):
    return "".join(str((int(d) + 1) % 10) for d in code)


class Browser:
    """One headless Chromium with a fresh profile."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="sms-mfa-chromium-")
        options = Options()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1000,1000",
                     f"--user-data-dir={self.profile}"]:
            options.add_argument(flag)
        # Network events (to read every answer's headers) and the console (CSP violations).
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(WAIT * 2)
        self.responses = []
        self.console = []

    def quit(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def collect_logs(self):
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.responseReceived":
                self.responses.append(message["params"])
        self.console.extend(self.driver.get_log("browser"))


class HostedPages(unittest.TestCase):
    browser = None

    @classmethod
    def setUpClass(cls):
        if not BASE or not FAKE:
            raise unittest.SkipTest("set E2E_URL and TWILIO_FAKE_URL (scripts/test.sh does)")
        SHOTS.mkdir(parents=True, exist_ok=True)
        cls.browser = Browser()
        cls.d = cls.browser.driver

    @classmethod
    def tearDownClass(cls):
        if cls.browser:
            cls.browser.quit()

    # --- helpers ---------------------------------------------------------------------------

    def shot(self, name):
        self.d.save_screenshot(str(SHOTS / f"{name}.png"))

    def wait(self, condition, what):
        try:
            return WebDriverWait(self.d, WAIT).until(condition)
        except Exception as err:
            self.shot(f"failed-{self.id().rsplit('.', 1)[-1]}")
            raise AssertionError(f"timed out waiting for {what}") from err

    def view(self, name):
        """Waits until the view is the one shown and returns its section."""
        section = self.wait(EC.visibility_of_element_located((By.ID, f"view-{name}")), f"the {name} view")
        return section

    def text_of(self, element_id):
        return self.d.find_element(By.ID, element_id).text

    def fill(self, element_id, value):
        field = self.d.find_element(By.ID, element_id)
        field.clear()
        field.send_keys(value)

    def keys(self, *keys):
        """Keys typed into whatever has the focus, as a person at a keyboard would."""
        ActionChains(self.d).send_keys(*keys).perform()

    def assert_no_token_stored(self, step):
        stored = self.d.execute_script(
            "return {local: window.localStorage.length, session: window.sessionStorage.length,"
            " cookie: document.cookie, keys: Object.keys(window.localStorage)};")
        self.assertEqual(stored["local"], 0, f"{step}: localStorage holds {stored['keys']}")
        self.assertEqual(stored["session"], 0, f"{step}: sessionStorage is not empty")
        self.assertEqual(stored["cookie"], "", f"{step}: a cookie script can read")

    def wait_for_code_view(self):
        self.view("code")
        self.wait(lambda d: d.switch_to.active_element.get_attribute("id") == "code-title", "focus on the code view's title")

    def sign_up(self, account):
        """Creates the account through the pages; returns the sid of the last verification."""
        self.d.get(BASE + "/#signup")
        self.view("signup")
        self.fill("signup-email", account["email"])
        self.fill("signup-password", account["password"])
        self.fill("signup-phone", account["phone"])
        self.d.find_element(By.CSS_SELECTOR, "#signup-form button[type=submit]").click()
        self.wait_for_code_view()
        code, sid = code_for(account["phone"])
        self.fill("code-input", code)
        self.d.find_element(By.ID, "code-submit").click()
        self.wait_for_account(account)
        return sid

    def password_step(self, account, password):
        """The sign-in form, up to the code view."""
        self.view("signin")
        self.fill("signin-email", account["email"])
        self.fill("signin-password", password)
        self.d.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
        self.wait_for_code_view()

    def sign_in(self, account, password, last_sid):
        self.password_step(account, password)
        code, sid = code_for(account["phone"], not_sid=last_sid)
        self.fill("code-input", code)
        self.d.find_element(By.ID, "code-submit").click()
        self.wait_for_account(account)
        return sid

    def wait_for_account(self, account):
        self.view("account")
        self.wait(lambda d: d.find_element(By.ID, "profile-email").text == account["email"], "the email on the account page")

    def open_panel(self, summary):
        """Opens a panel of the account page; one left open (the page keeps panels as they were
        across an in-page sign-out and sign-in) stays open."""
        toggle = self.d.find_element(By.XPATH, f"//summary[normalize-space()='{summary}']")
        if toggle.find_element(By.XPATH, "..").get_attribute("open") is None:
            toggle.click()

    def wait_notice(self, words):
        self.wait(lambda d: words in d.find_element(By.ID, "notice").text, f"the notice {words!r}")

    # --- the flows -------------------------------------------------------------------------

    def test_1_sign_up_resend_wrong_code_sign_out_and_in(self):
        account = fresh_account()
        self.d.get(BASE + "/")
        self.view("signin")
        self.assert_no_token_stored("first load")
        self.d.find_element(By.CSS_SELECTOR, 'nav a[href="#signup"]').click()
        self.view("signup")
        self.fill("signup-email", account["email"])
        self.fill("signup-password", account["password"])
        self.fill("signup-phone", account["phone"])
        self.shot("01-sign-up")
        self.d.find_element(By.CSS_SELECTOR, "#signup-form button[type=submit]").click()

        # The code view names the masked phone.
        self.wait_for_code_view()
        masked = account["phone"][:2] + "*" * (len(account["phone"]) - 6) + account["phone"][-4:]
        self.assertIn(masked, self.text_of("code-sent-to"))
        self.assertNotIn(account["phone"][2:-4], self.d.page_source, "the page shows the unmasked number")
        code, sid = code_for(account["phone"])
        self.shot("02-code-sent")

        # Resend at once: the cooldown's Retry-After, counted down live on the button.
        resend = self.d.find_element(By.ID, "resend-button")
        resend.click()
        self.wait(lambda d: not resend.is_enabled() and "s)" in resend.text, "the resend countdown")
        first = int(resend.text.rsplit("(", 1)[1].split()[0])
        self.assertTrue(1 <= first <= 30, f"countdown starts at {first} s for a 30 s cooldown")
        self.assertTrue(self.text_of("resend-status"), "the API's message for the refused resend")
        self.wait(lambda d: int(resend.text.rsplit("(", 1)[1].split()[0]) <= first - 2,
                  "the countdown to go down")
        self.assertFalse(resend.is_enabled(), "the button stays disabled while it counts down")
        self.shot("03-resend-countdown")
        self.assertEqual(latest_verification(account["phone"])["sid"], sid)

        # A wrong code: the API's message and the attempts left.
        self.fill("code-input", wrong(code))
        self.d.find_element(By.ID, "code-submit").click()
        self.wait(lambda d: d.find_element(By.ID, "attempts-left").text, "the attempts left")
        self.assertEqual(self.text_of("attempts-left"), "4 attempts left.")
        self.assertTrue(self.text_of("code-error"), "the API's message is shown")
        self.shot("04-wrong-code")

        # The right code: the account page, with the email.
        self.fill("code-input", code)
        self.d.find_element(By.ID, "code-submit").click()
        self.view("account")
        self.wait(lambda d: d.find_element(By.ID, "profile-email").text == account["email"], "the email on the account page")
        self.assert_no_token_stored("signed in")
        self.shot("05-account")

        # Signing up again with that email shows the API's own message.
        status, body = http("POST", "/auth/register", account)
        self.assertEqual(status, 409)

        # Sign out, then sign in again with the keyboard alone.
        self.d.find_element(By.ID, "signout-button").click()
        self.view("signin")
        self.wait(lambda d: "signed out" in d.find_element(By.ID, "notice").text, "the signed-out notice")
        self.assert_no_token_stored("signed out")
        self.d.find_element(By.CSS_SELECTOR, 'nav a[href="#signup"]').click()
        self.view("signup")
        self.fill("signup-email", account["email"])
        self.fill("signup-password", account["password"])
        self.fill("signup-phone", account["phone"])
        self.d.find_element(By.CSS_SELECTOR, "#signup-form button[type=submit]").click()
        self.wait(lambda d: d.find_element(By.ID, "signup-error").text, "the email_taken message")
        self.assertEqual(self.text_of("signup-error"), body["message"], "the page shows the API's message")

        self.d.get(BASE + "/#signin")
        self.view("signin")
        self.d.execute_script("document.getElementById('signin-title').focus()")
        self.keys(Keys.TAB, account["email"], Keys.TAB, account["password"], Keys.ENTER)
        self.wait_for_code_view()
        code, _ = code_for(account["phone"], not_sid=sid)
        self.keys(Keys.TAB, code, Keys.ENTER)
        self.view("account")
        self.wait(lambda d: d.find_element(By.ID, "profile-email").text == account["email"], "the email after signing in again")
        self.assert_no_token_stored("signed in again")
        self.shot("06-signed-in-again")

        # Change the phone: a code to the new number, then the profile shows it.
        new_phone = fresh_account()["phone"]
        self.d.find_element(By.XPATH, "//summary[normalize-space()='Change phone number']").click()
        self.fill("phone-new", new_phone)
        self.fill("phone-password", account["password"])
        self.d.find_element(By.CSS_SELECTOR, "#phone-form button[type=submit]").click()
        self.wait_for_code_view()
        self.assertEqual(self.text_of("code-title"), "Confirm your new number")
        code, _ = code_for(new_phone)
        self.fill("code-input", code)
        self.d.find_element(By.ID, "code-submit").click()
        self.view("account")
        self.wait(lambda d: "phone number is changed" in d.find_element(By.ID, "notice").text, "the phone-changed notice")
        self.wait(lambda d: d.find_element(By.ID, "profile-phone").text.endswith(new_phone[-4:]), "the new phone on the profile")
        self.assert_no_token_stored("phone changed")
        self.shot("07-phone-changed")

    def test_4_account_page_password_forgot_reset_sign_out_everywhere_delete(self):
        account = fresh_account()
        sid = self.sign_up(account)
        # The profile is GET /me: the holder sees the number unmasked.
        self.wait(lambda d: d.find_element(By.ID, "profile-phone").text == account["phone"], "the phone from GET /me")
        self.assertEqual(self.text_of("profile-verified"), "yes")
        self.assertIn("phone", self.text_of("profile-factors"))
        self.assertNotEqual(self.text_of("profile-created"), "—")

        # Change the password; a wrong current one shows the API's message.
        self.open_panel("Change password")
        self.fill("password-current", "not-the-password-at-all")
        self.fill("password-new", "a second passphrase here")
        self.d.find_element(By.CSS_SELECTOR, "#password-form button[type=submit]").click()
        self.wait(lambda d: d.find_element(By.ID, "password-error").text, "the invalid_credentials message")
        self.fill("password-current", account["password"])
        self.fill("password-new", "a second passphrase here")
        self.d.find_element(By.CSS_SELECTOR, "#password-form button[type=submit]").click()
        self.wait_notice("password is changed")
        self.shot("08-password-changed")

        # Sign out everywhere.
        self.d.find_element(By.ID, "signout-all-button").click()
        self.view("signin")
        self.wait_notice("every device")

        # Forgot password: the code from the fake, a new password, then sign in with it.
        self.d.find_element(By.CSS_SELECTOR, 'a[href="#forgot"]').click()
        self.view("forgot")
        self.fill("forgot-email", account["email"])
        self.d.find_element(By.CSS_SELECTOR, "#forgot-form button[type=submit]").click()
        self.view("reset")
        code, sid = code_for(account["phone"], not_sid=sid)
        self.fill("reset-code", wrong(code))
        self.fill("reset-password", "a third passphrase here")
        self.d.find_element(By.CSS_SELECTOR, "#reset-form button[type=submit]").click()
        self.wait(lambda d: d.find_element(By.ID, "reset-attempts").text == "4 attempts left.", "attempts left on the reset")
        self.shot("09-reset-wrong-code")
        self.fill("reset-code", code)
        self.d.find_element(By.CSS_SELECTOR, "#reset-form button[type=submit]").click()
        self.view("signin")
        self.wait_notice("Sign in with the new one")
        sid = self.sign_in(account, "a third passphrase here", sid)
        self.assert_no_token_stored("after the reset")

        # Delete the account: afterwards the password no longer signs in.
        self.open_panel("Delete account")
        self.fill("delete-password", "a third passphrase here")
        self.d.find_element(By.ID, "delete-confirm").click()
        self.d.find_element(By.CSS_SELECTOR, "#delete-form button[type=submit]").click()
        self.view("signup")
        self.wait_notice("account is deleted")
        self.shot("10-deleted")
        status, body = http("POST", "/auth/login", {"email": account["email"], "password": "a third passphrase here"})
        self.assertEqual((status, body["error"]), (401, "invalid_credentials"))
        self.assert_no_token_stored("deleted")

    def test_5_authenticator_enrol_sign_in_replay_recovery_code_remove(self):
        account = fresh_account()
        sid = self.sign_up(account)

        # Enrol: the QR code and the key, then a wrong code, then the app's code.
        self.open_panel("Authenticator app")
        self.fill("totp-add-password", account["password"])
        self.d.find_element(By.CSS_SELECTOR, "#totp-add-form button[type=submit]").click()
        self.wait(lambda d: d.find_element(By.ID, "totp-secret").text, "the authenticator key")
        secret = self.text_of("totp-secret")
        qr = self.d.find_element(By.ID, "totp-qr")
        self.assertTrue(qr.get_attribute("src").startswith("data:image/svg+xml;base64,"), "the QR code is an inline SVG")
        self.wait(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", qr),
                  "the QR code to render (CSP allows data: images)")
        app = pyotp.TOTP(secret)  # an independent RFC 6238 implementation: the user's app
        self.shot("11-totp-enrol")
        self.fill("totp-confirm-code", wrong(app.now()))
        self.d.find_element(By.CSS_SELECTOR, "#totp-confirm-form button[type=submit]").click()
        self.wait(lambda d: d.find_element(By.ID, "totp-confirm-error").text, "the wrong-code message")
        self.fill("totp-confirm-code", app.now())
        self.d.find_element(By.CSS_SELECTOR, "#totp-confirm-form button[type=submit]").click()

        # Ten recovery codes, shown once; the key is gone from the page.
        self.wait(EC.visibility_of_element_located((By.ID, "recovery-codes")), "the recovery codes")
        codes = [li.text for li in self.d.find_elements(By.CSS_SELECTOR, "#recovery-list li")]
        self.assertEqual(len(codes), 10, codes)
        self.assertEqual(len(set(codes)), 10, "recovery codes repeat")
        self.assertNotIn(secret, self.d.page_source, "the key stays on the page after enrolment")
        self.shot("12-recovery-codes")
        self.d.find_element(By.ID, "recovery-done").click()
        self.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "#recovery-list li"), "the codes to be cleared")
        self.wait(lambda d: "authenticator app" in d.find_element(By.ID, "profile-factors").text, "the factor on the profile")
        self.wait(lambda d: d.find_element(By.ID, "profile-recovery").text == "10", "10 recovery codes left")

        # Sign in: the authenticator is now the default second step, and no text message is sent.
        self.d.find_element(By.ID, "signout-button").click()
        self.password_step(account, account["password"])
        self.assertIn("authenticator app", self.text_of("code-sent-to"))
        self.assertFalse(self.d.find_element(By.ID, "resend-button").is_displayed(), "resend on a TOTP challenge")
        self.assertTrue(self.d.find_element(By.ID, "sms-instead-button").is_displayed())
        # The next step's code: the one enrolment used is spent (replay), ±1 step is accepted.
        code = app.at(time.time() + 30)
        self.fill("code-input", code)
        self.d.find_element(By.ID, "code-submit").click()
        self.wait_for_account(account)
        self.assertEqual(latest_verification(account["phone"])["sid"], sid, "a TOTP sign-in sent a text message")
        self.shot("13-signed-in-with-totp")

        # The same code again is refused; a recovery code signs in and is used up.
        self.d.find_element(By.ID, "signout-button").click()
        self.password_step(account, account["password"])
        self.fill("code-input", code)
        self.d.find_element(By.ID, "code-submit").click()
        self.wait(lambda d: d.find_element(By.ID, "code-error").text, "the replayed code refused")
        self.assertTrue(self.d.find_element(By.ID, "view-code").is_displayed(), "a replayed code signed in")
        self.d.find_element(By.ID, "recovery-toggle").click()
        self.wait(EC.visibility_of_element_located((By.ID, "recovery-input")), "the recovery-code field")
        self.fill("recovery-input", codes[0])
        self.d.find_element(By.ID, "code-submit").click()
        self.wait_for_account(account)
        self.wait(lambda d: d.find_element(By.ID, "profile-recovery").text == "9", "9 recovery codes left")
        self.shot("14-signed-in-with-recovery-code")

        # Remove the authenticator: the spent recovery code is refused, an unused one works.
        self.open_panel("Authenticator app")
        self.fill("totp-remove-password", account["password"])
        self.fill("totp-remove-recovery", codes[0])
        self.d.find_element(By.CSS_SELECTOR, "#totp-remove-form button[type=submit]").click()
        self.wait(lambda d: d.find_element(By.ID, "totp-remove-error").text, "the spent recovery code refused")
        self.fill("totp-remove-password", account["password"])
        self.fill("totp-remove-recovery", codes[1])
        self.d.find_element(By.CSS_SELECTOR, "#totp-remove-form button[type=submit]").click()
        self.wait(lambda d: "authenticator app" not in d.find_element(By.ID, "profile-factors").text, "the factor removed")
        self.assertTrue(self.d.find_element(By.ID, "totp-add-form").is_displayed(), "the add form after removal")

        # Back to text messages.
        self.d.find_element(By.ID, "signout-button").click()
        self.view("signin")
        self.sign_in(account, account["password"], sid)
        self.assert_no_token_stored("after the authenticator")

    def test_6_a_form_submitted_before_the_script_loads_puts_nothing_in_the_url(self):
        # API.md "Hardening": the hosted forms carry method="post". With app.js held back (a slow
        # connection), submitting is the browser's own: a POST to the page, which the web
        # function answers with 303 back to it, never a GET with the password in the URL.
        password = f"Pre-script-{random.randrange(10**9):09d}"
        self.d.execute_cdp_cmd("Network.enable", {})
        self.d.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        self.d.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/assets/app.js"]})
        try:
            # From another document: a fragment change alone would keep the running script.
            self.d.get("about:blank")
            self.d.get(BASE + "/#signin")
            forms = self.d.execute_script(
                "return [...document.forms].map(f => [f.id, f.method, f.getAttribute('action')]);")
            self.assertGreaterEqual(len(forms), 12, forms)
            for form_id, method, action in forms:
                self.assertEqual((method, action), ("post", None), form_id)
            self.assertTrue(self.d.execute_script("return document.getElementById('view-signin').hidden"),
                            "app.js ran although it was blocked")
            self.d.execute_script(
                "window.beforeSubmit = true;"
                "const form = document.getElementById('signin-form');"
                "form.elements.email.value = 'pre-script@example.com';"
                "form.elements.password.value = arguments[0];"
                "form.requestSubmit();", password)
            def arrived(d):
                try:
                    return d.execute_script("return document.readyState === 'complete' && !window.beforeSubmit")
                except Exception:  # the old document went away mid-call
                    return False
            self.wait(arrived, "the page the submission leads to")
            url = self.d.current_url
            self.assertNotIn(password, url)
            self.assertEqual(urllib.parse.urlsplit(url)[:4], urllib.parse.urlsplit(BASE + "/")[:4], url)
            requests = []
            for entry in self.d.get_log("performance"):
                message = json.loads(entry["message"])["message"]
                params = message.get("params", {})
                if message.get("method") == "Network.requestWillBeSent":
                    requests.append((params["request"]["method"], params["request"]["url"]))
                elif message.get("method") == "Network.responseReceived":
                    self.browser.responses.append(params)  # test_8 checks every page answer
            self.assertIn(("POST", BASE + "/"), [(m, u.split("#")[0]) for m, u in requests], requests)
            leaks = [r for r in requests if password in r[1]]
            self.assertEqual(leaks, [], "the password went into a URL")
            self.shot("15-submitted-before-the-script")
        finally:
            self.d.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
            self.d.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": False})
        # With the script, the same page works as before.
        self.d.get("about:blank")
        self.d.get(BASE + "/#signin")
        self.view("signin")

    def device_cookie(self):
        """The remembered-device cookie as the browser keeps it (selenium sees HttpOnly ones)."""
        return next((c for c in self.d.get_cookies() if c["name"] == "__Host-sms-mfa-device"), None)

    def test_7_remember_this_device_then_no_code_then_a_password_change_asks_again(self):
        account = fresh_account()
        sid = self.sign_up(account)
        self.assertIsNone(self.device_cookie(), "no device remembered without asking")
        self.d.find_element(By.ID, "signout-button").click()

        # Sign in, ticking "Remember this device for 30 days" on the code step.
        self.password_step(account, account["password"])
        remember = self.d.find_element(By.ID, "remember-device")
        self.assertTrue(remember.is_displayed())
        self.assertEqual(self.d.find_element(By.CSS_SELECTOR, "label[for=remember-device]").text,
                         "Remember this device for 30 days")
        code, sid = code_for(account["phone"], not_sid=sid)
        remember.click()
        self.fill("code-input", code)
        self.shot("16-remember-this-device")
        self.d.find_element(By.ID, "code-submit").click()
        self.wait_for_account(account)
        cookie = self.device_cookie()
        self.assertIsNotNone(cookie, "the service set the device cookie")
        self.assertTrue(cookie["httpOnly"] and cookie["secure"], cookie)
        self.assertEqual((cookie["path"], cookie.get("sameSite")), ("/", "Strict"), cookie)
        self.assertNotIn(cookie["value"], self.d.page_source, "the token is nowhere in the page")
        self.assert_no_token_stored("remembered")  # document.cookie is empty: script cannot read it

        # The account page lists this browser.
        self.open_panel("Remembered devices")
        self.wait(lambda d: "(this browser)" in d.find_element(By.ID, "devices-list").text, "this browser in the list")
        self.assertIn("Chrome on Linux", self.text_of("devices-list"))
        self.shot("17-remembered-devices")

        # Signed out, then in again with the password alone: no code view, nothing sent.
        self.d.find_element(By.ID, "signout-button").click()
        self.view("signin")
        self.fill("signin-email", account["email"])
        self.fill("signin-password", account["password"])
        self.d.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
        self.wait_for_account(account)
        self.wait_notice("no code needed")
        self.assertEqual(latest_verification(account["phone"])["sid"], sid, "no code was sent")
        rotated = self.device_cookie()
        self.assertNotEqual(rotated["value"], cookie["value"], "the token rotated")
        self.assert_no_token_stored("signed in by the remembered device")
        self.shot("18-signed-in-without-a-code")

        # A password change forgets every device: the next sign-in asks for a code again.
        self.open_panel("Change password")
        self.fill("password-current", account["password"])
        self.fill("password-new", "a new passphrase for devices")
        self.d.find_element(By.CSS_SELECTOR, "#password-form button[type=submit]").click()
        self.wait_notice("password is changed")
        self.d.find_element(By.ID, "signout-button").click()
        self.password_step(account, "a new passphrase for devices")
        self.assertIsNone(self.device_cookie(), "the useless cookie was cleared")
        self.shot("19-code-again-after-password-change")
        code, sid = code_for(account["phone"], not_sid=sid)
        self.d.find_element(By.ID, "remember-device").click()
        self.fill("code-input", code)
        self.d.find_element(By.ID, "code-submit").click()
        self.wait_for_account(account)

        # Remembered again, then forgotten from the list: the next sign-in asks for a code.
        self.open_panel("Remembered devices")
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#devices-list li")) == 1, "only the new device")
        self.d.find_element(By.CSS_SELECTOR, "#devices-list button").click()
        self.wait_notice("device is forgotten")
        self.wait(lambda d: d.find_element(By.ID, "devices-empty").is_displayed(), "no remembered device")
        self.d.find_element(By.ID, "signout-button").click()
        self.password_step(account, "a new passphrase for devices")
        self.assertIsNone(self.device_cookie(), "the forgotten device's cookie was cleared")

    def test_8_every_page_answer_carries_the_security_headers(self):
        if not self.browser.responses:
            self.d.get(BASE + "/")
            self.view("signin")
        self.browser.collect_logs()
        pages = [r for r in self.browser.responses
                 if r["response"]["url"].startswith(BASE) and r.get("type") in PAGE_TYPES]
        paths = {urllib.parse.urlsplit(r["response"]["url"]).path for r in pages}
        self.assertTrue({"/", "/assets/app.js", "/assets/style.css", "/assets/logo.svg"} <= paths, f"page answers seen: {paths}")
        for r in pages:
            headers = {k.lower(): v for k, v in r["response"]["headers"].items()}
            url = r["response"]["url"]
            self.assertEqual(headers.get("content-security-policy"), CSP, url)
            self.assertEqual(headers.get("x-content-type-options"), "nosniff", url)
            self.assertEqual(headers.get("referrer-policy"), "no-referrer", url)
            self.assertTrue(headers.get("strict-transport-security", "").startswith("max-age="), url)
        # And Chromium enforced the policy without refusing anything of ours.
        violations = [e["message"] for e in self.browser.console if "Content Security Policy" in e["message"]]
        self.assertEqual(violations, [], "CSP violations in the console")

    def test_2_admin_view_finds_an_account_and_acts_on_it(self):
        # The target: signed up over the API, with an authenticator app (to remove it later).
        target = fresh_account()
        status, body = http("POST", "/auth/register", {"email": target["email"], "password": target["password"], "phone": target["phone"]})
        self.assertEqual(status, 201, body)
        code, _ = code_for(target["phone"])
        status, tokens = http("POST", "/auth/verify", {"challenge_id": body["challenge"]["id"], "code": code})
        self.assertEqual(status, 200, tokens)
        status, enrolment = http_auth("POST", "/me/factors/totp", tokens["access_token"], {"password": target["password"]})
        self.assertEqual(status, 201, enrolment)
        status, _ = http_auth("POST", "/me/factors/totp/confirm", tokens["access_token"], {"code": pyotp.TOTP(enrolment["secret"]).now()})
        self.assertEqual(status, 200)

        # The administrator: an account of the pages, given the role with sms-mfa-admin, signed
        # in again so that its token carries the role.
        admin = fresh_account()
        sid = self.sign_up(admin)
        self.assertTrue(self.d.find_element(By.CSS_SELECTOR, 'nav a[href="#admin"]').get_attribute("hidden") is not None,
                        "no admin link without the role")
        admin_cli("grant-role", admin["email"], "admin")
        self.d.find_element(By.ID, "signout-button").click()
        self.sign_in(admin, admin["password"], sid)
        link = self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, 'nav a[href="#admin"]')), "the admin link")
        link.click()
        self.view("admin")

        # Find by email: the profile, factors and roles.
        self.fill("admin-query", target["email"])
        self.d.find_element(By.CSS_SELECTOR, "#admin-find-form button[type=submit]").click()
        self.wait(lambda d: d.find_element(By.ID, "admin-email").text == target["email"], "the account found by email")
        self.assertEqual(self.text_of("admin-phone"), target["phone"])
        self.assertEqual(self.text_of("admin-status"), "active")
        self.assertEqual(self.text_of("admin-factors"), "phone, totp")
        self.shot("20-admin-found")

        # Edit roles.
        self.fill("admin-roles", "support, billing")
        self.d.find_element(By.CSS_SELECTOR, "#admin-roles-form button[type=submit]").click()
        self.wait(lambda d: d.find_element(By.ID, "admin-roles-shown").text == "billing, support", "the roles saved")
        self.fill("admin-roles", "Not A Role")
        self.d.find_element(By.CSS_SELECTOR, "#admin-roles-form button[type=submit]").click()
        self.wait(lambda d: d.find_element(By.ID, "admin-roles-error").text, "the refusal of a malformed role")

        # Disable: the target's right password is refused, every session ended; enable again.
        self.d.find_element(By.ID, "admin-disable").click()
        self.wait(lambda d: d.find_element(By.ID, "admin-status").text == "disabled", "the account disabled")
        self.shot("21-admin-disabled")
        status, body = http("POST", "/auth/login", {"email": target["email"], "password": target["password"]})
        self.assertEqual((status, body["error"]), (403, "account_disabled"))
        status, _ = http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
        self.assertEqual(status, 401, "disabling ended the session")
        self.d.find_element(By.ID, "admin-enable").click()
        self.wait(lambda d: d.find_element(By.ID, "admin-status").text == "active", "the account enabled")
        status, _ = http("POST", "/auth/login", {"email": target["email"], "password": target["password"]})
        self.assertEqual(status, 200, "sign-in works again")

        # Find by phone; sign out everywhere; remove the lost authenticator.
        self.fill("admin-query", target["phone"])
        self.d.find_element(By.CSS_SELECTOR, "#admin-find-form button[type=submit]").click()
        self.wait(lambda d: d.find_element(By.ID, "admin-email").text == target["email"], "the account found by phone")
        self.d.find_element(By.ID, "admin-sign-out").click()
        self.wait_notice("Every session")
        self.d.find_element(By.ID, "admin-remove-totp").click()
        self.wait(lambda d: d.find_element(By.ID, "admin-factors").text == "phone", "the authenticator removed")
        self.shot("22-admin-authenticator-removed")
        self.assert_no_token_stored("admin view")

    def test_3_inputs_are_labelled_and_code_fields_are_one_time_codes(self):
        self.d.get(BASE + "/#signup")
        self.view("signup")
        unlabelled = self.d.execute_script(
            "return [...document.querySelectorAll('input, select, textarea')]"
            ".filter(e => e.labels.length === 0).map(e => e.id);")
        self.assertEqual(unlabelled, [], "inputs without a label")
        codes = self.d.execute_script(
            "return [...document.querySelectorAll('input[name=code], input[name=totp_code]')]"
            ".map(e => [e.id, e.autocomplete, e.inputMode]);")
        self.assertTrue(codes)
        for element_id, autocomplete, inputmode in codes:
            self.assertEqual((autocomplete, inputmode), ("one-time-code", "numeric"), element_id)


class Timed(unittest.TextTestResult):
    def startTest(self, test):
        self._started = time.time()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.stream.writeln(f"  {test.id().rsplit('.', 1)[-1]}: {time.time() - self._started:.1f} s")


if __name__ == "__main__":
    started = time.time()
    runner = unittest.TextTestRunner(verbosity=2, resultclass=Timed)
    result = runner.run(unittest.defaultTestLoader.loadTestsFromTestCase(HostedPages))
    print(f"browser suite: {time.time() - started:.1f} s; screenshots in {SHOTS}")
    sys.exit(0 if result.wasSuccessful() and not result.skipped else 1)
