#!/usr/bin/env python3
"""Local DynamoDB for development and tests: moto's server, one request at a time.

moto's own `moto_server` handles requests on parallel threads without a lock around its
in-memory tables, so two racing conditional writes or transactions can both pass their
condition, which real DynamoDB never allows. Every limit of this product rests on that
atomicity, so this wrapper serializes requests (connections are still accepted in parallel).

A table's stream (the lifecycle events' outbox is read from it) would make every transaction
slower as the stream grows: moto deep-copies the table, stream records included, before each
TransactWriteItems. Stream records never change once written, so the copy here takes the list
of records and shares the records themselves (`share_stream_records`).

usage: dynamodb_local.py [--host 127.0.0.1] [--port 8000]
"""
import argparse
import copy
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


def share_stream_records():
    """A deep copy of a stream shard copies its list of records, not each record: a rolled-back
    transaction still drops the records it added, and a copy costs a pointer per record."""
    from moto.dynamodb.models.table import StreamShard

    def deepcopy_shard(self, memo):
        clone = StreamShard.__new__(StreamShard)
        memo[id(self)] = clone
        clone.__dict__.update(self.__dict__)
        clone.table = copy.deepcopy(self.table, memo)
        clone.items = list(self.items)
        return clone

    StreamShard.__deepcopy__ = deepcopy_shard


def main():
    share_stream_records()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    app = Serialized(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
