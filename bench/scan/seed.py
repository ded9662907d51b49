"""Seeds one emulated account for the scan benchmark: buckets (a third
with all four Block Public Access settings, a third with default
encryption), security groups (a quarter with tcp/22 open to 0.0.0.0/0,
an eighth with tcp/3389 open to ::/0), IAM users (half with a console
password, a quarter of those with MFA; a third with an access key) and
EBS volumes, and an AWS Config recorder of every supported type, recording
(what a report-only `rectify scan` reads bucket settings from), through an
assumed role in ACCOUNT (moto maps it to that
account), with boto3 from the pinned venv.

Usage: seed.py --account ACCOUNT --buckets N --groups N --users N --volumes N --out FILE
Writes the seeded truth (what each resource should get) as JSON.
"""

import argparse
import concurrent.futures
import json

import boto3
import botocore.parsers

ap = argparse.ArgumentParser()
ap.add_argument("--account", required=True)
ap.add_argument("--buckets", type=int, default=1000)
ap.add_argument("--groups", type=int, default=1000)
ap.add_argument("--users", type=int, default=500)
ap.add_argument("--volumes", type=int, default=500)
ap.add_argument("--out", required=True)
args = ap.parse_args()

creds = boto3.client("sts").assume_role(
    RoleArn=f"arn:aws:iam::{args.account}:role/rectify", RoleSessionName="seed"
)["Credentials"]
session = boto3.Session(
    aws_access_key_id=creds["AccessKeyId"],
    aws_secret_access_key=creds["SecretAccessKey"],
    aws_session_token=creds["SessionToken"],
    region_name="us-east-1",
)
s3 = session.client("s3")
ec2 = session.client("ec2")
iam = session.client("iam")
truth = {"buckets": {}, "groups": {}, "users": {}, "volumes": []}


def bucket(i):
    name = f"bench-{args.account}-{i:05d}"
    s3.create_bucket(Bucket=name)
    blocked = i % 3 == 0
    if blocked:
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
    encrypted = i % 3 == 1
    if encrypted:
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
    return name, {"block_public_access": blocked, "encrypted": encrypted}


def create_group(name):
    # moto's EC2 is not thread-safe: a creation racing another can fail
    # with a 500 before anything is made; it is tried again.
    for attempt in range(5):
        try:
            return ec2.create_security_group(GroupName=name, Description="bench")["GroupId"]
        except botocore.parsers.ResponseParserError:
            if attempt == 4:
                raise


def group(i):
    gid = create_group(f"bench-{i:05d}")
    ssh = i % 4 == 0
    rdp6 = i % 8 == 1
    if ssh:
        ec2.authorize_security_group_ingress(
            GroupId=gid,
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        )
    if rdp6:
        ec2.authorize_security_group_ingress(
            GroupId=gid,
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}],
        )
    return gid, {"ssh_open_ipv4": ssh, "rdp_open_ipv6": rdp6}


def user(i):
    name = f"bench-user-{i:05d}"
    iam.create_user(UserName=name)
    password = i % 2 == 0
    mfa = password and i % 4 == 0
    if password:
        iam.create_login_profile(UserName=name, Password="A-long-Passw0rd!")
    if mfa:
        serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]["SerialNumber"]
        iam.enable_mfa_device(UserName=name, SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321")
    if i % 3 == 0:
        iam.create_access_key(UserName=name)
    return name, {"console_password": password, "mfa": mfa}


def volume(i):
    return ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]


config = session.client("config")
config.put_configuration_recorder(
    ConfigurationRecorder={
        "name": "default",
        "roleARN": f"arn:aws:iam::{args.account}:role/config",
        "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True},
    }
)
s3.create_bucket(Bucket="bench-config-delivery")
config.put_delivery_channel(
    DeliveryChannel={"name": "default", "s3BucketName": "bench-config-delivery"}
)
config.start_configuration_recorder(ConfigurationRecorderName="default")

with concurrent.futures.ThreadPoolExecutor(8) as pool:
    for name, t in pool.map(bucket, range(args.buckets)):
        truth["buckets"][name] = t
    for gid, t in pool.map(group, range(args.groups)):
        truth["groups"][gid] = t
    for name, t in pool.map(user, range(args.users)):
        truth["users"][name] = t
    truth["volumes"] = list(pool.map(volume, range(args.volumes)))

with open(args.out, "w") as f:
    json.dump(truth, f)
print(
    f"seeded account {args.account}: {len(truth['buckets'])} buckets, {len(truth['groups'])} groups, "
    f"{len(truth['users'])} users, {len(truth['volumes'])} volumes"
)
