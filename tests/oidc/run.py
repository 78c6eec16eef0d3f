#!/usr/bin/env python3
"""Relying parties nobody here wrote, against the default stack's OpenID Connect provider, through
headless Chromium: authlib (Python, confidential client), openid-client (npm, public client) and
the example SPA (examples/spa, oidc-client-ts); then the provider's own rules: the single sign-on
session's ends (session_end_test) and every second factor continuing the authorization
(second_factors_test). scripts/test.sh runs it after the browser tests:

    E2E_URL=... TWILIO_FAKE_URL=... E2E_OAUTH_CLIENTS_FILE=... E2E_AUTHLIB_CLIENT_SECRET=... \\
    E2E_INTEROP_DIR=tests/interop python3 tests/oidc/run.py [MODULE[.Class[.test]] ...]

Screenshots go to SCREENSHOT_DIR (default .local/screenshots/), named oidc-*. Exit code 0 when
every test passed (a skipped test, for want of the environment, is a failure here).
"""

import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

MODULES = ["authlib_rp", "openid_client_rp", "spa_test", "session_end_test", "second_factors_test"]


class Timed(unittest.TextTestResult):
    def startTest(self, test):
        self._started = time.time()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.stream.writeln(f"  {test.id().rsplit('.', 1)[-1]}: {time.time() - self._started:.1f} s")


if __name__ == "__main__":
    started = time.time()
    suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[1:] or MODULES)
    result = unittest.TextTestRunner(verbosity=2, resultclass=Timed).run(suite)
    print(f"oidc suite: {time.time() - started:.1f} s")
    sys.exit(0 if result.wasSuccessful() and not result.skipped else 1)
