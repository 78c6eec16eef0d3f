#!/usr/bin/env python3
"""Creates the DynamoDB table described in template.yaml (the single source of truth).

    scripts/create_table.py TABLE_NAME [--endpoint http://127.0.0.1:8000] [--template template.yaml]

Reads the AWS::DynamoDB::Table resource's AttributeDefinitions, KeySchema, GlobalSecondaryIndexes
(if any), BillingMode, StreamSpecification and TimeToLiveSpecification; creates the table with boto3 unless it exists,
waits until it is ACTIVE, then enables TTL. Safe to run again. With --endpoint (a local DynamoDB
such as moto's server) it uses region us-east-1 and dummy credentials unless some are set.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import boto3
import yaml
from botocore.exceptions import ClientError

REPO_ROOT = Path(__file__).resolve().parent.parent


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short-form tags (!Ref, !Sub, !If ...) as plain values."""


def _any_tag(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_TemplateLoader.add_multi_constructor("!", _any_tag)


def table_definition(template_path):
    with open(template_path, encoding="utf-8") as f:
        template = yaml.load(f, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    tables = [(name, res) for name, res in (template.get("Resources") or {}).items()
              if res.get("Type") == "AWS::DynamoDB::Table"]
    if len(tables) != 1:
        sys.exit(f"{template_path}: expected exactly one AWS::DynamoDB::Table, found {len(tables)}")
    name, resource = tables[0]
    props = resource.get("Properties") or {}
    for required in ("AttributeDefinitions", "KeySchema"):
        if required not in props:
            sys.exit(f"{template_path}: {name} has no {required}")
    return props


def create_args(table_name, props, stream=True):
    args = {
        "TableName": table_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    gsis = props.get("GlobalSecondaryIndexes")
    if gsis:
        args["GlobalSecondaryIndexes"] = [
            {k: v for k, v in gsi.items() if k in ("IndexName", "KeySchema", "Projection",
                                                    "ProvisionedThroughput")}
            for gsi in gsis
        ]
    spec = props.get("StreamSpecification")
    if spec and stream:
        # The lifecycle events' outbox is read from here (scripts/stream_pump.py locally).
        args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": spec["StreamViewType"]}
    if args["BillingMode"] == "PROVISIONED":
        throughput = props.get("ProvisionedThroughput") or {}
        args["ProvisionedThroughput"] = {
            "ReadCapacityUnits": int(throughput.get("ReadCapacityUnits", 5)),
            "WriteCapacityUnits": int(throughput.get("WriteCapacityUnits", 5)),
        }
    return args


def wait_active(client, table_name, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        status = client.describe_table(TableName=table_name)["Table"]["TableStatus"]
        if status == "ACTIVE":
            return
        if time.monotonic() > deadline:
            sys.exit(f"{table_name}: still {status} after {timeout}s")
        time.sleep(0.5)


def enable_ttl(client, table_name, ttl_spec):
    if not ttl_spec or str(ttl_spec.get("Enabled")).lower() != "true":
        return
    attribute = ttl_spec["AttributeName"]
    current = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if (current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
            and current.get("AttributeName") == attribute):
        return
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"AttributeName": attribute, "Enabled": True},
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table_name")
    parser.add_argument("--endpoint", help="DynamoDB endpoint URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--template", default=str(REPO_ROOT / "template.yaml"))
    parser.add_argument("--no-stream", action="store_true",
                        help="leave out the stream (a table whose events nobody delivers)")
    args = parser.parse_args()

    props = table_definition(args.template)
    session_args = {}
    if args.endpoint:
        session_args = {
            "region_name": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1",
            "aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        }
    client = boto3.session.Session(**session_args).client("dynamodb", endpoint_url=args.endpoint)

    try:
        client.create_table(**create_args(args.table_name, props, stream=not args.no_stream))
        action = "created"
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceInUseException":
            raise
        action = "exists"
    wait_active(client, args.table_name)
    enable_ttl(client, args.table_name, props.get("TimeToLiveSpecification"))
    where = f" at {args.endpoint}" if args.endpoint else ""
    print(f"table {args.table_name}: {action}, ACTIVE, TTL on "
          f"{(props.get('TimeToLiveSpecification') or {}).get('AttributeName', '-')}{where}")


if __name__ == "__main__":
    main()
