#!/usr/bin/env python3
"""The local stand-in for Lambda's DynamoDB event source: reads the table's stream in moto and
invokes the events function under `cargo lambda watch` with the event Lambda would send, so the
same code path runs locally (API.md, "Lifecycle events").

    stream_pump.py --endpoint http://127.0.0.1:8000 --table sms-mfa-e2e \
        --invoke-url http://127.0.0.1:9000/2015-03-31/functions/events/invocations \
        --dead-letter-queue-url http://127.0.0.1:8000/123456789012/events-dlq \
        [--pause-file .local/pump.paused] [--max-attempts 5]

As the event source mapping in template.yaml: only outbox INSERTs reach the function (its filter
criteria), batches of up to 100 records in stream order, `batchItemFailures` honoured: the batch
is retried from the first failed record (what Lambda does with ReportBatchItemFailures on a
stream); an invocation error retries the whole batch. A record still failing after
--max-attempts goes to the dead-letter queue (the OnFailure destination's message: where in the
stream it is) and the records behind it go on. While --pause-file exists nothing is read: the
tests stop delivery that way and start it again.

moto quirk (TOOLCHAIN.md): a cancelled TransactWriteItems replaces moto's table object, so a
shard iterator taken before it stops seeing records; a fresh iterator is taken on every poll,
after the last sequence number handled.
"""
import argparse
import datetime
import json
import os
import sys
import time
import urllib.error
import urllib.request

import boto3

BATCH = 100


def lambda_record(record, stream_arn, region):
    """A stream record as Lambda hands it to a function (DynamoDB JSON images, epoch seconds)."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime.datetime):
        change["ApproximateCreationDateTime"] = created.timestamp()
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }


def is_outbox_insert(record):
    """template.yaml's FilterCriteria: INSERTs of OUTBOX# items."""
    pk = record["dynamodb"].get("Keys", {}).get("pk", {}).get("S", "")
    return record["eventName"] == "INSERT" and pk.startswith("OUTBOX#")


def invoke(url, event):
    """The sequence numbers the function asks to retry; None when the invocation failed."""
    request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            body = response.read()
            if response.headers.get("X-Amz-Function-Error"):
                print(f"stream_pump: function error {body[:300]!r}", file=sys.stderr, flush=True)
                return None
    except (urllib.error.URLError, OSError) as e:
        print(f"stream_pump: invoke failed: {e}", file=sys.stderr, flush=True)
        return None
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        print(f"stream_pump: not a JSON answer {body[:300]!r}", file=sys.stderr, flush=True)
        return None
    if not isinstance(answer, dict) or "errorType" in answer or "errorMessage" in answer:
        print(f"stream_pump: function error {answer!r}", file=sys.stderr, flush=True)
        return None
    return [f.get("itemIdentifier") for f in answer.get("batchItemFailures") or []]


class Shard:
    def __init__(self, shard_id):
        self.shard_id = shard_id
        self.after = None  # the last sequence number handled (delivered, skipped or dead-lettered)
        self.attempts = {}  # sequence number -> failed deliveries

    def records(self, streams, stream_arn):
        if self.after:
            it = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=self.shard_id,
                                            ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                                            SequenceNumber=self.after)
        else:
            it = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=self.shard_id,
                                            ShardIteratorType="TRIM_HORIZON")
        return streams.get_records(ShardIterator=it["ShardIterator"], Limit=BATCH)["Records"]


def pump_once(args, streams, sqs, stream_arn, shards):
    """One poll of every shard; whether anything was read."""
    busy = False
    for shard_id in [s["ShardId"] for s in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]]:
        shard = shards.setdefault(shard_id, Shard(shard_id))
        records = shard.records(streams, stream_arn)
        if not records:
            continue
        busy = True
        wanted = [r for r in records if is_outbox_insert(r)]
        if not wanted:
            shard.after = records[-1]["dynamodb"]["SequenceNumber"]
            continue
        event = {"Records": [lambda_record(r, stream_arn, args.region) for r in wanted]}
        failed = invoke(args.invoke_url, event)
        order = [r["dynamodb"]["SequenceNumber"] for r in wanted]
        if failed is None:
            failed = order[:1]  # the whole batch again, from its first record
        known = [seq for seq in order if seq in set(failed)]
        if failed and not known:
            known = order[:1]  # an identifier Lambda cannot match: the whole batch again
        if not known:
            shard.after = records[-1]["dynamodb"]["SequenceNumber"]
            continue
        first = known[0]
        shard.attempts[first] = shard.attempts.get(first, 0) + 1
        position = order.index(first)
        if shard.attempts[first] >= args.max_attempts:
            dead_letter(sqs, args, stream_arn, shard_id, wanted[position])
            shard.after = first
        else:
            # Retried from the first failed record: everything before it is done.
            at = [r["dynamodb"]["SequenceNumber"] for r in records].index(first)
            if at > 0:
                shard.after = records[at - 1]["dynamodb"]["SequenceNumber"]
            time.sleep(min(0.2 * shard.attempts[first], 2))
    return busy


def dead_letter(sqs, args, stream_arn, shard_id, record):
    """What Lambda's OnFailure destination gets for a stream: where the record is, not the record."""
    seq = record["dynamodb"]["SequenceNumber"]
    body = {
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": args.max_attempts},
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": seq,
            "endSequenceNumber": seq,
            "batchSize": 1,
            "streamArn": stream_arn,
        },
    }
    sqs.send_message(QueueUrl=args.dead_letter_queue_url, MessageBody=json.dumps(body))
    print(f"stream_pump: record {seq} dead-lettered after {args.max_attempts} attempts", file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--invoke-url", required=True)
    parser.add_argument("--dead-letter-queue-url", required=True)
    parser.add_argument("--pause-file")
    parser.add_argument("--max-attempts", type=int, default=5)
    parser.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    args = parser.parse_args()

    session = boto3.session.Session(region_name=args.region,
                                    aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
                                    aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"))
    dynamodb = session.client("dynamodb", endpoint_url=args.endpoint)
    streams = session.client("dynamodbstreams", endpoint_url=args.endpoint)
    sqs = session.client("sqs", endpoint_url=args.endpoint)
    stream_arn = dynamodb.describe_table(TableName=args.table)["Table"]["LatestStreamArn"]
    print(f"stream_pump: reading {stream_arn}", file=sys.stderr, flush=True)
    shards = {}
    while True:
        if args.pause_file and os.path.exists(args.pause_file):
            time.sleep(0.2)
            continue
        try:
            busy = pump_once(args, streams, sqs, stream_arn, shards)
        except Exception as e:  # noqa: BLE001 - a local poller keeps polling
            print(f"stream_pump: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            busy = False
        if not busy:
            time.sleep(0.2)


if __name__ == "__main__":
    main()
