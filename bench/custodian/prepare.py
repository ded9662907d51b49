"""Prepares the benchmark's resources, the same way for both tools: in
each account, COUNT buckets without Block Public Access and COUNT security
groups with tcp/22 and tcp/443 open to 0.0.0.0/0. Custodian's account is
moto's default one (its own credentials); rectify's is reached through the
role rectify assumes there. Writes the ids as JSON:
{"custodian": {"account", "buckets", "groups"}, "rectify": {...}}.

Usage: prepare.py --count N --rectify-account ID --out FILE
(AWS_ENDPOINT_URL points at moto.)
"""

import argparse
import json
import uuid

import boto3


def prepare(session, count, tag):
    s3 = session.client("s3")
    ec2 = session.client("ec2")
    run = uuid.uuid4().hex[:8]
    buckets, groups = [], []
    for i in range(count):
        name = f"bench-{tag}-{run}-{i}"
        s3.create_bucket(Bucket=name)
        buckets.append(name)
        group = ec2.create_security_group(
            GroupName=f"bench-{tag}-{run}-{i}", Description="calls per fix"
        )["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": p, "ToPort": p,
                 "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
                for p in (22, 443)
            ],
        )
        groups.append(group)
    return buckets, groups


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--rectify-account", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    own = boto3.Session(region_name="us-east-1")
    custodian_account = own.client("sts").get_caller_identity()["Account"]
    creds = own.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{args.rectify_account}:role/rectify",
        RoleSessionName="bench-prepare",
    )["Credentials"]
    assumed = boto3.Session(
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    out = {}
    for tool, session, account in (
        ("custodian", own, custodian_account),
        ("rectify", assumed, args.rectify_account),
    ):
        buckets, groups = prepare(session, args.count, tool)
        out[tool] = {"account": account, "buckets": buckets, "groups": groups}
    with open(args.out, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
