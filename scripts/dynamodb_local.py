#!/usr/bin/env python3
"""Local DynamoDB for development and tests: moto's server, one request at a time.

moto's own `moto_server` handles requests on parallel threads without a lock around its
in-memory tables, so two racing conditional writes or transactions can both pass their
condition, which real DynamoDB never allows. Every limit of this product rests on that
atomicity, so this wrapper serializes requests (connections are still accepted in parallel).

usage: dynamodb_local.py [--host 127.0.0.1] [--port 8000]
"""
import argparse
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class Serialized:
    """WSGI middleware: one request inside the app at a time, body fully built inside the lock."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            return list(self.app(environ, start_response))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    app = Serialized(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
