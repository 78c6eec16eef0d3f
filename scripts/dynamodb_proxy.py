#!/usr/bin/env python3
"""A proxy in front of a local DynamoDB that records which items every request touches.

The functions point AWS_ENDPOINT_URL_DYNAMODB here; each request is forwarded unchanged to
--upstream (moto) and, on the way, its JSON body is read for the partition key (`pk`) of every
item it writes or reads:

  writes  PutItem Item, UpdateItem / DeleteItem Key, TransactWriteItems Put/Update/Delete
  checks  TransactWriteItems ConditionCheck Key (billed as a write, changes nothing)
  reads   GetItem Key, BatchGetItem / TransactGetItems Keys

  GET  /_proxy/counts   {"calls": {op: n}, "keys": {pk: {"write": n, "check": n, "read": n}}}
  POST /_proxy/reset    forget everything counted so far

Used by tests/e2e/tests/scale.rs (no key outside the per-user, per-phone, per-IP and
per-challenge families takes more than its share) and benches/coldstart.py (--tls-cert/--tls-key
put TLS in front of moto, --latency-ms adds a delay to every answer, like a network hop).

usage: dynamodb_proxy.py --upstream http://127.0.0.1:8000 [--port 0] [--port-file F]
                         [--tls-cert cert.pem --tls-key key.pem] [--latency-ms 2]
Python 3 standard library only.
"""
import argparse
import http.client
import http.server
import json
import ssl
import sys
import threading
import time
import urllib.parse
from collections import defaultdict

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with getattr(self, "lock", threading.Lock()):
            self.calls = defaultdict(int)
            self.keys = defaultdict(lambda: {"write": 0, "check": 0, "read": 0})

    def record(self, op, body):
        touched = list(items_of(op, body))
        with self.lock:
            self.calls[op] += 1
            for kind, pk in touched:
                self.keys[pk][kind] += 1

    def snapshot(self):
        with self.lock:
            return {"calls": dict(self.calls), "keys": {k: dict(v) for k, v in self.keys.items()}}


def pk_of(key_or_item):
    value = (key_or_item or {}).get("pk", {})
    return value.get("S") if isinstance(value, dict) else None


def items_of(op, body):
    """(kind, pk) of every item the request touches."""
    if op == "PutItem":
        yield "write", pk_of(body.get("Item"))
    elif op in ("UpdateItem", "DeleteItem"):
        yield "write", pk_of(body.get("Key"))
    elif op == "GetItem":
        yield "read", pk_of(body.get("Key"))
    elif op == "TransactWriteItems":
        for item in body.get("TransactItems", []):
            if "Put" in item:
                yield "write", pk_of(item["Put"].get("Item"))
            for kind, name in (("write", "Update"), ("write", "Delete"), ("check", "ConditionCheck")):
                if name in item:
                    yield kind, pk_of(item[name].get("Key"))
    elif op == "TransactGetItems":
        for item in body.get("TransactItems", []):
            yield "read", pk_of(item.get("Get", {}).get("Key"))
    elif op == "BatchGetItem":
        for table in body.get("RequestItems", {}).values():
            for key in table.get("Keys", []):
                yield "read", pk_of(key)


def make_handler(upstream, counts, latency):
    target = urllib.parse.urlsplit(upstream)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def answer(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/_proxy/counts":
                self.answer(200, counts.snapshot())
            else:
                self.forward(b"")

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/_proxy/reset":
                counts.reset()
                self.answer(200, {"reset": True})
                return
            target_header = self.headers.get("X-Amz-Target", "")
            if target_header.startswith("DynamoDB_"):
                op = target_header.split(".", 1)[1]
                try:
                    parsed = json.loads(body or b"{}")
                except ValueError:
                    parsed = {}
                counts.record(op, parsed)
            self.forward(body)

        def forward(self, body):
            # A fresh upstream connection per request and no retry here: a write resent after
            # a lost answer would be applied twice (moto honours no idempotency token); the
            # SDK decides about retries, as it would against DynamoDB.
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                self.answer(502, {"message": "upstream unreachable"})
                return
            finally:
                conn.close()
            if latency:
                time.sleep(latency)
            self.send_response(response.status)
            for k, v in response.getheaders():
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", help="write the port here once listening")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    counts = Counts()
    server = Server((args.host, args.port), make_handler(args.upstream, counts, args.latency_ms / 1000))
    scheme = "http"
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(str(port))
    print(f"dynamodb proxy listening on {scheme}://{args.host}:{port} -> {args.upstream}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
