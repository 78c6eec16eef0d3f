#!/usr/bin/env python3
"""Creates an asymmetric signing key in a local KMS (moto) and prints its ARN.

moto's KMS signs for real (RSA PKCS#1 v1.5, ECDSA) with keys it generates, so a stack pointed
at it with AWS_ENDPOINT_URL_KMS issues tokens exactly as one signing in AWS KMS does.

usage: create_kms_key.py --endpoint URL [--spec RSA_2048|ECC_NIST_P256] [--alias alias/NAME]
                         [--public-pem FILE]
--public-pem writes the key's public half (GetPublicKey) as a PEM, for tests that check tokens
with a key they did not get from the service itself.
"""
import argparse
import base64
import os

import boto3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--spec", default="RSA_2048")
    parser.add_argument("--alias")
    parser.add_argument("--public-pem")
    args = parser.parse_args()
    kms = boto3.client(
        "kms",
        endpoint_url=args.endpoint,
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    key = kms.create_key(KeySpec=args.spec, KeyUsage="SIGN_VERIFY", Description="sms-mfa local token signing key")
    arn = key["KeyMetadata"]["Arn"]
    if args.alias:
        kms.create_alias(AliasName=args.alias, TargetKeyId=key["KeyMetadata"]["KeyId"])
    if args.public_pem:
        der = kms.get_public_key(KeyId=arn)["PublicKey"]
        body = base64.encodebytes(der).decode().replace("\n", "")
        lines = [body[i:i + 64] for i in range(0, len(body), 64)]
        with open(args.public_pem, "w") as out:
            out.write("-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n")
    print(arn)


if __name__ == "__main__":
    main()
