#!/usr/bin/env python3
"""Creates in moto what template.yaml deploys for the lifecycle events, and what a team adds:

    scripts/create_event_bus.py BUS_NAME --endpoint http://127.0.0.1:8000

the bus, the events function's dead-letter queue, and a rule (`source: sms-mfa`) with an SQS
queue as its target (README, "Lifecycle events": the subscription a team copies). Prints
`EVENTS_QUEUE_URL=...` and `EVENTS_DLQ_URL=...` lines for the shell. Safe to run again.
"""
import argparse
import json
import os

import boto3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bus")
    parser.add_argument("--endpoint", required=True)
    args = parser.parse_args()
    session = boto3.session.Session(region_name=os.environ.get("AWS_REGION", "us-east-1"),
                                    aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
                                    aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"))
    events = session.client("events", endpoint_url=args.endpoint)
    sqs = session.client("sqs", endpoint_url=args.endpoint)
    if args.bus not in [b["Name"] for b in events.list_event_buses()["EventBuses"]]:
        events.create_event_bus(Name=args.bus)
    queue = sqs.create_queue(QueueName=f"{args.bus}-received")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = f"{args.bus}-all"
    events.put_rule(Name=rule, EventBusName=args.bus, EventPattern=json.dumps({"source": ["sms-mfa"]}))
    events.put_targets(Rule=rule, EventBusName=args.bus, Targets=[{"Id": "received", "Arn": queue_arn}])
    dlq = sqs.create_queue(QueueName=f"{args.bus}-dlq")["QueueUrl"]
    print(f"EVENTS_QUEUE_URL={queue}")
    print(f"EVENTS_DLQ_URL={dlq}")


if __name__ == "__main__":
    main()
