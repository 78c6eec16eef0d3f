#!/usr/bin/env python3
"""Serves the example SPA on http://127.0.0.1:PORT: its files, oidc-client-ts's browser build from
node_modules (no bundler), and /config.json naming the sms-mfa stack to sign in with.

    python3 serve.py --authority http://127.0.0.1:9000 [--port 8080]

--port 0 picks a free port. The first line printed is "serving http://127.0.0.1:PORT".
"""

import argparse
import functools
import http.server
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/config.json":
            return self.send(json.dumps({"authority": self.server.authority}).encode(), "application/json")
        if path == "/oidc-client-ts.js":
            return self.send(self.server.library.read_bytes(), "text/javascript")
        return super().do_GET()

    def send(self, body, content_type):
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.send_header("cache-control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--authority", required=True, help="the stack's URL (its issuer)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--node-modules", type=Path, default=HERE / "node_modules",
                        help="where oidc-client-ts is installed (default: ./node_modules, after npm ci)")
    args = parser.parse_args()
    library = args.node_modules / "oidc-client-ts" / "dist" / "browser" / "oidc-client-ts.min.js"
    if not library.is_file():
        parser.error(f"{library} is missing: run `npm ci` in {HERE}")
    # Only on the loopback address: the redirect URI registered for the app is http://127.0.0.1/...
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), functools.partial(Handler, directory=str(HERE)))
    server.authority = args.authority.rstrip("/")
    server.library = library
    print(f"serving http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
