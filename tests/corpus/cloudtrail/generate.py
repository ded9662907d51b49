#!/usr/bin/env python3
"""Builds the labelled CloudTrail corpus rectify's detections are scored on.

Writes, next to this script:
  trail.json     a CloudTrail log file ({"Records": [...]}), records shaped
                 as CloudTrail writes them (field names, casing, nulls);
  labels.jsonl   one line per record: {"eventID", "detections", "incident"}
                 (benign records carry no detections).

The attacks cover every detection of the built-in pack; the background is
a day of admins, CI roles, applications and AWS services, with near-misses
(a user creating its own key, failed sign-ins below the threshold, a trust
policy naming an account of the organization, lifecycle rules that only
move objects, ...). Deterministic: the same script writes the same files.

    python3 tests/corpus/cloudtrail/generate.py
"""

import json
import os
import random
import uuid
from datetime import datetime, timedelta, timezone

rng = random.Random(15)
HERE = os.path.dirname(os.path.abspath(__file__))

# The organization (as configured in rectify.yaml next to this script).
PROD, DEV, LOGS = "111122223333", "444455556666", "777788889999"
OUTSIDE = "193672423079"  # an account outside the organization
START = datetime(2026, 11, 30, 0, 0, 0, tzinfo=timezone.utc)
TRAIL_BUCKET = "org-cloudtrail-111122223333"
CONFIG_LOG_BUCKET = "central-audit-logs"  # listed under detect.logging_buckets

records = []
labels = []


def uid():
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def key(prefix):
    return prefix + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def iam_user(account, name, key_prefix="AKIA"):
    return {
        "type": "IAMUser",
        "principalId": "AIDA" + name.upper().replace("-", "")[:8].ljust(8, "X") + "EXAMPLE",
        "arn": f"arn:aws:iam::{account}:user/{name}",
        "accountId": account,
        "accessKeyId": key(key_prefix),
        "userName": name,
    }


def assumed_role(account, role, session, mfa="false", invoked_by=None):
    ident = {
        "type": "AssumedRole",
        "principalId": f"AROA{role.upper()[:8].ljust(8, 'X')}EXAMPLE:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": key("ASIA"),
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": f"AROA{role.upper()[:8].ljust(8, 'X')}EXAMPLE",
                "arn": f"arn:aws:iam::{account}:role/{role}",
                "accountId": account,
                "userName": role,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": "2026-11-30T00:00:00Z", "mfaAuthenticated": mfa},
        },
    }
    if invoked_by:
        ident["invokedBy"] = invoked_by
    return ident


def root(account):
    return {
        "type": "Root",
        "principalId": account,
        "arn": f"arn:aws:iam::{account}:root",
        "accountId": account,
        "accessKeyId": "",
    }


def service(name):
    return {"type": "AWSService", "invokedBy": name}


def add(t, identity, source, name, request=None, response=None, *, account=None, region="us-east-1",
        ip="198.51.100.10", agent="aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64",
        error=None, read_only=False, event_type="AwsApiCall", extra=None, detections=(), incident=None):
    account = account or identity.get("accountId") or PROD
    rec = {
        "eventVersion": "1.09" if event_type == "AwsApiCall" else "1.08",
        "userIdentity": identity,
        "eventTime": ts(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": agent,
    }
    if error:
        rec["errorCode"], rec["errorMessage"] = error
    rec["requestParameters"] = request
    rec["responseElements"] = response
    if extra:
        rec.update(extra)
    rec["requestID"] = uid()
    rec["eventID"] = uid()
    rec["readOnly"] = read_only
    rec["eventType"] = event_type
    rec["managementEvent"] = True
    rec["recipientAccountId"] = account
    rec["eventCategory"] = "Management"
    if event_type == "AwsApiCall":
        rec["tlsDetails"] = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                             "clientProvidedHostHeader": source.replace(".amazonaws.com", "") + ".amazonaws.com"}
    records.append(rec)
    label = {"eventID": rec["eventID"], "detections": list(detections)}
    if incident:
        label["incident"] = incident
    labels.append(label)
    return rec


def console_login(t, identity, success, mfa, ip, account, detections=(), incident=None):
    extra = {"additionalEventData": {"LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs",
                                     "MobileVersion": "No", "MFAUsed": mfa}}
    return add(t, identity, "signin.amazonaws.com", "ConsoleLogin", None,
               {"ConsoleLogin": "Success" if success else "Failure"}, account=account, ip=ip,
               agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
               error=None if success else None, event_type="AwsConsoleSignIn",
               extra={**extra, **({} if success else {"errorMessage": "Failed authentication"})},
               detections=detections, incident=incident)


def failed_identity(account, name):
    # What CloudTrail writes for a failed sign-in: no ARN, no key.
    return {"type": "IAMUser", "principalId": "", "accountId": account, "accessKeyId": "", "userName": name}


def policy(statements):
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def trust(principal):
    return policy([{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}])


# ---------------------------------------------------------------- background

ci = lambda acct: assumed_role(acct, "github-actions-deploy", "GitHubActions")
app = lambda acct: assumed_role(acct, "orders-api", "i-0a1b2c3d4e5f60789")
alice = iam_user(PROD, "alice")
bob_sso = lambda acct: assumed_role(acct, "AWSReservedSSO_AdministratorAccess_0123456789abcdef", "bob@example.com", mfa="true")

READS = [("ec2.amazonaws.com", "DescribeInstances", {"instancesSet": {}, "filterSet": {}}),
         ("ec2.amazonaws.com", "DescribeSecurityGroups", {"securityGroupSet": {}, "filterSet": {}}),
         ("s3.amazonaws.com", "ListBuckets", {"Host": "s3.amazonaws.com"}),
         ("iam.amazonaws.com", "ListRoles", None),
         ("cloudformation.amazonaws.com", "DescribeStacks", {"stackName": "orders"}),
         ("lambda.amazonaws.com", "ListFunctions20150331", None),
         ("sts.amazonaws.com", "GetCallerIdentity", None)]

t = START
for i in range(1100):
    t += timedelta(seconds=rng.randint(10, 50))
    acct = rng.choice([PROD, PROD, DEV])
    who = rng.random()
    src, name, req = rng.choice(READS)
    if who < 0.45:
        add(t, ci(acct), src, name, req, None, ip="20.42.10.%d" % rng.randint(1, 200),
            agent="aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux", read_only=True)
    elif who < 0.7:
        secret = rng.choice(["orders/db", "orders/stripe", "orders/jwt"])
        add(t, app(acct), "secretsmanager.amazonaws.com", "GetSecretValue", {"secretId": secret}, None,
            ip="10.0.%d.%d" % (rng.randint(0, 3), rng.randint(2, 250)),
            agent="aws-sdk-java/2.21.0 Linux/5.10 OpenJDK_64-Bit_Server_VM/17", read_only=True)
    elif who < 0.85:
        add(t, bob_sso(acct), src, name, req, None, ip="203.0.113.25",
            agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.1 Safari/605.1.15",
            read_only=True)
    else:
        add(t, service("cloudtrail.amazonaws.com"), "kms.amazonaws.com", "GenerateDataKey",
            {"keyId": f"arn:aws:kms:us-east-1:{acct}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
             "encryptionContext": {"aws:cloudtrail:arn": f"arn:aws:cloudtrail:us-east-1:{acct}:trail/org"},
             "keySpec": "AES_256"}, None, account=acct, ip="cloudtrail.amazonaws.com",
            agent="cloudtrail.amazonaws.com", read_only=True)

# Near-misses, spread over the day.
B = START + timedelta(hours=1)


def at(minutes):
    return B + timedelta(minutes=minutes)


# The trail and its bucket, as set up long ago (teaches the bucket).
add(at(0), bob_sso(PROD), "cloudtrail.amazonaws.com", "CreateTrail",
    {"name": "org", "s3BucketName": TRAIL_BUCKET, "isMultiRegionTrail": True, "includeGlobalServiceEvents": True},
    {"name": "org", "s3BucketName": TRAIL_BUCKET, "trailARN": f"arn:aws:cloudtrail:us-east-1:{PROD}:trail/org",
     "isMultiRegionTrail": True, "includeGlobalServiceEvents": True, "logFileValidationEnabled": False})
add(at(2), bob_sso(PROD), "cloudtrail.amazonaws.com", "UpdateTrail",
    {"name": "org", "enableLogFileValidation": True},
    {"name": "org", "s3BucketName": TRAIL_BUCKET, "logFileValidationEnabled": True})
add(at(3), bob_sso(PROD), "cloudtrail.amazonaws.com", "PutEventSelectors",
    {"trailName": "org", "eventSelectors": [{"readWriteType": "All", "includeManagementEvents": True,
                                             "dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3"]}],
                                             "excludeManagementEventSources": []}]}, None)
add(at(4), bob_sso(PROD), "cloudtrail.amazonaws.com", "StartLogging", {"name": "org"}, None)
add(at(5), bob_sso(PROD), "guardduty.amazonaws.com", "UpdateDetector",
    {"detectorId": "12abc34d567e8fa901bc2d34e56789f0", "findingPublishingFrequency": "FIFTEEN_MINUTES"}, None)
add(at(6), bob_sso(PROD), "config.amazonaws.com", "StartConfigurationRecorder",
    {"configurationRecorderName": "default"}, None)
# A user creating its own key (no userName, and naming itself).
add(at(7), alice, "iam.amazonaws.com", "CreateAccessKey", None,
    {"accessKey": {"userName": "alice", "accessKeyId": key("AKIA"), "status": "Active", "createDate": "Nov 30, 2026 1:07:00 AM"}})
add(at(8), alice, "iam.amazonaws.com", "CreateAccessKey", {"userName": "alice"},
    {"accessKey": {"userName": "alice", "accessKeyId": key("AKIA"), "status": "Active", "createDate": "Nov 30, 2026 1:08:00 AM"}})
# A console sign-in with MFA; a federated one (MFA is the IdP's business).
console_login(at(9), {**iam_user(PROD, "alice"), "accessKeyId": ""}, True, "Yes", "203.0.113.40", PROD)
console_login(at(10), {k: v for k, v in bob_sso(PROD).items() if k != "accessKeyId"}, True, "No", "203.0.113.25", PROD)
# Three failed sign-ins, then success: below the threshold.
for m in (11, 12, 13):
    console_login(at(m), failed_identity(PROD, "carol"), False, "No", "203.0.113.77", PROD)
console_login(at(14), {**iam_user(PROD, "carol"), "accessKeyId": ""}, True, "Yes", "203.0.113.77", PROD)
# Four access denied in a minute: below the threshold.
for s in range(4):
    add(at(20) + timedelta(seconds=10 * s), ci(DEV), "iam.amazonaws.com", "GetRole", {"roleName": "orders-api"}, None,
        error=("AccessDenied", f"User: arn:aws:sts::{DEV}:assumed-role/github-actions-deploy/GitHubActions is not authorized to perform: iam:GetRole"))
add(at(22), bob_sso(PROD), "ec2.amazonaws.com", "DescribeInstanceAttribute",
    {"instanceId": "i-0123456789abcdef0", "attribute": "instanceType"}, None, read_only=True)
# Sharing inside the organization; removing a share.
add(at(25), bob_sso(PROD), "ec2.amazonaws.com", "ModifySnapshotAttribute",
    {"snapshotId": "snap-0a1b2c3d4e5f60718", "attributeType": "CREATE_VOLUME_PERMISSION",
     "createVolumePermission": {"add": {"items": [{"userId": LOGS}]}}}, {"_return": True})
add(at(26), bob_sso(PROD), "ec2.amazonaws.com", "ModifyImageAttribute",
    {"imageId": "ami-0a1b2c3d4e5f60718", "attributeType": "launchPermission",
     "launchPermission": {"remove": {"items": [{"userId": OUTSIDE}]}}}, {"_return": True})
add(at(27), bob_sso(PROD), "rds.amazonaws.com", "ModifyDBSnapshotAttribute",
    {"dBSnapshotIdentifier": "orders-nightly", "attributeName": "restore", "valuesToAdd": [DEV]},
    {"dBSnapshotIdentifier": "orders-nightly", "dBSnapshotAttributes": [{"attributeName": "restore", "attributeValues": [DEV]}]})
# Trust naming an account of the organization; a service trust.
add(at(30), bob_sso(PROD), "iam.amazonaws.com", "UpdateAssumeRolePolicy",
    {"roleName": "audit-read", "policyDocument": trust({"AWS": f"arn:aws:iam::{LOGS}:root"})}, None)
add(at(31), ci(PROD), "iam.amazonaws.com", "CreateRole",
    {"roleName": "orders-worker", "assumeRolePolicyDocument": trust({"Service": "lambda.amazonaws.com"})},
    {"role": {"roleName": "orders-worker", "arn": f"arn:aws:iam::{PROD}:role/orders-worker", "path": "/"}})
# Bucket policies: own account, and `*` pinned to a VPC endpoint.
add(at(32), ci(PROD), "s3.amazonaws.com", "PutBucketPolicy",
    {"bucketName": "orders-artifacts", "Host": "orders-artifacts.s3.amazonaws.com", "policy": [""],
     "bucketPolicy": {"Version": "2012-10-17", "Statement": [
         {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{PROD}:role/orders-api"},
          "Action": "s3:GetObject", "Resource": "arn:aws:s3:::orders-artifacts/*"}]}}, None)
add(at(33), ci(PROD), "s3.amazonaws.com", "PutBucketPolicy",
    {"bucketName": "orders-private", "Host": "orders-private.s3.amazonaws.com", "policy": [""],
     "bucketPolicy": {"Version": "2012-10-17", "Statement": [
         {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::orders-private/*",
          "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-0a1b2c3d"}}}]}}, None)
# Lifecycle: moving logs to Glacier; a month's retention on a scratch bucket.
add(at(34), bob_sso(PROD), "s3.amazonaws.com", "PutBucketLifecycle",
    {"bucketName": TRAIL_BUCKET, "Host": f"{TRAIL_BUCKET}.s3.amazonaws.com", "lifecycle": [""],
     "LifecycleConfiguration": {"Rule": {"ID": "archive", "Status": "Enabled", "Filter": {"Prefix": ""},
                                         "Transition": {"Days": 90, "StorageClass": "GLACIER"}}}}, None)
add(at(35), ci(DEV), "s3.amazonaws.com", "PutBucketLifecycle",
    {"bucketName": "ci-scratch", "Host": "ci-scratch.s3.amazonaws.com", "lifecycle": [""],
     "LifecycleConfiguration": {"Rule": {"ID": "expire", "Status": "Enabled", "Filter": {"Prefix": ""},
                                         "Expiration": {"Days": 30}}}}, None)
add(at(36), ci(DEV), "s3.amazonaws.com", "DeleteObjects",
    {"bucketName": "ci-scratch", "Host": "ci-scratch.s3.amazonaws.com", "delete": ""}, None)
# A user created without admin; admin given to a user created long ago.
add(at(40), bob_sso(PROD), "iam.amazonaws.com", "CreateUser", {"userName": "svc-reports"},
    {"user": {"userName": "svc-reports", "arn": f"arn:aws:iam::{PROD}:user/svc-reports", "path": "/"}})
add(at(41), bob_sso(PROD), "iam.amazonaws.com", "AttachUserPolicy",
    {"userName": "svc-reports", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}, None)
add(at(300), bob_sso(PROD), "iam.amazonaws.com", "AttachUserPolicy",
    {"userName": "alice", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, None)
# An app reading its few secrets many times.
for s in range(30):
    add(at(50) + timedelta(seconds=5 * s), app(PROD), "secretsmanager.amazonaws.com", "GetSecretValue",
        {"secretId": ["orders/db", "orders/stripe", "orders/jwt", "orders/smtp"][s % 4]}, None, read_only=True)
# KMS keys used, not deleted.
add(at(60), app(PROD), "kms.amazonaws.com", "Decrypt", {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}, None, read_only=True)

# ------------------------------------------------------------------ attacks

A = START + timedelta(hours=8)
ATTACKER_IP = "185.220.101.47"
ATTACKER_AGENT = "aws-cli/1.29.0 Python/3.8.10 Linux/5.4.0-167-generic botocore/1.31.0"
mallory = iam_user(PROD, "mallory-ci")  # a leaked key
stolen_role = assumed_role(PROD, "orders-api", "i-0a1b2c3d4e5f60789")


def attack(minutes, identity, source, name, request, response, detection, incident, **kw):
    kw.setdefault("ip", ATTACKER_IP)
    kw.setdefault("agent", ATTACKER_AGENT)
    return add(A + timedelta(minutes=minutes), identity, source, name, request, response,
               detections=[detection] if detection else [], incident=incident, **kw)


attack(0, mallory, "cloudtrail.amazonaws.com", "StopLogging", {"name": f"arn:aws:cloudtrail:us-east-1:{PROD}:trail/org"}, None,
       "cloudtrail-logging-stopped", "stop-logging")
attack(2, mallory, "cloudtrail.amazonaws.com", "DeleteTrail", {"name": "org-secondary"}, None,
       "cloudtrail-logging-stopped", "delete-trail")
attack(3, mallory, "cloudtrail.amazonaws.com", "UpdateTrail", {"name": "org", "s3BucketName": "exfil-logs-9f2a"},
       {"name": "org", "s3BucketName": "exfil-logs-9f2a", "trailARN": f"arn:aws:cloudtrail:us-east-1:{PROD}:trail/org"},
       "cloudtrail-trail-redirected", "update-trail")
attack(4, mallory, "cloudtrail.amazonaws.com", "PutEventSelectors",
       {"trailName": "org", "eventSelectors": [{"dataResources": [{"type": "AWS::S3::Object", "values": []}],
                                                "excludeManagementEventSources": [], "includeManagementEvents": False,
                                                "readWriteType": "ReadOnly"}]},
       {"trailARN": f"arn:aws:cloudtrail:us-east-1:{PROD}:trail/org"}, "cloudtrail-management-events-dropped", "event-selectors")
attack(5, mallory, "guardduty.amazonaws.com", "DeleteDetector", {"detectorId": "12abc34d567e8fa901bc2d34e56789f0"}, None,
       "guardduty-disabled", "gd-delete")
attack(6, mallory, "guardduty.amazonaws.com", "UpdateDetector", {"detectorId": "98abc34d567e8fa901bc2d34e56789f0", "enable": False}, None,
       "guardduty-disabled", "gd-suspend", account=DEV, region="eu-west-1")
attack(7, mallory, "config.amazonaws.com", "StopConfigurationRecorder", {"configurationRecorderName": "default"}, None,
       "config-recording-stopped", "config-stop")
attack(8, mallory, "config.amazonaws.com", "DeleteDeliveryChannel", {"deliveryChannelName": "default"}, None,
       "config-recording-stopped", "config-channel")
attack(9, mallory, "iam.amazonaws.com", "CreateAccessKey", {"userName": "bob-admin"},
       {"accessKey": {"userName": "bob-admin", "accessKeyId": key("AKIA"), "status": "Active", "createDate": "Nov 30, 2026 8:09:00 AM"}},
       "access-key-for-other-user", "other-key")
attack(10, mallory, "iam.amazonaws.com", "CreateLoginProfile", {"userName": "bob-admin", "passwordResetRequired": False},
       {"loginProfile": {"userName": "bob-admin", "createDate": "Nov 30, 2026 8:10:00 AM", "passwordResetRequired": False}},
       "login-profile-for-other-user", "login-profile")
# CreateUser and AttachUserPolicy, logged in the order Stratus' capture shows (attach first, same second).
attack(11, mallory, "iam.amazonaws.com", "AttachUserPolicy",
       {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess", "userName": "malicious-iam-user"}, None,
       "iam-user-created-then-admin", "admin-user")
attack(11, mallory, "iam.amazonaws.com", "CreateUser", {"userName": "malicious-iam-user", "tags": [{"key": "team", "value": "ops"}]},
       {"user": {"arn": f"arn:aws:iam::{PROD}:user/malicious-iam-user", "userName": "malicious-iam-user", "path": "/",
                 "userId": "AIDAL1XMLVWIUOK8KAF0", "createDate": "Nov 30, 2026 8:11:00 AM"}},
       "iam-user-created-then-admin", "admin-user")
attack(12, mallory, "iam.amazonaws.com", "UpdateAssumeRolePolicy",
       {"roleName": "orders-api", "policyDocument": json.dumps({"Version": "2012-10-17", "Statement": [
           {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
           {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OUTSIDE}:root"}, "Action": "sts:AssumeRole"}]}, indent=2)},
       None, "role-trust-opened", "trust-opened")
attack(13, mallory, "iam.amazonaws.com", "CreateRole",
       {"roleName": "support-access", "assumeRolePolicyDocument": trust({"AWS": "*"})},
       {"role": {"roleName": "support-access", "arn": f"arn:aws:iam::{PROD}:role/support-access", "path": "/"}},
       "role-created-trusting-outside", "role-created")
attack(14, mallory, "ec2.amazonaws.com", "ModifySnapshotAttribute",
       {"snapshotId": "snap-041993b54a9b3af6f", "attributeType": "CREATE_VOLUME_PERMISSION",
        "createVolumePermission": {"add": {"items": [{"userId": OUTSIDE}]}}},
       {"_return": True, "requestId": uid()}, "snapshot-shared-outside", "ebs-share")
attack(15, mallory, "ec2.amazonaws.com", "ModifyImageAttribute",
       {"imageId": "ami-0b1c2d3e4f5a60718", "attributeType": "launchPermission",
        "launchPermission": {"add": {"items": [{"group": "all"}]}}},
       {"_return": True, "requestId": uid()}, "snapshot-shared-outside", "ami-public")
attack(16, mallory, "rds.amazonaws.com", "ModifyDBSnapshotAttribute",
       {"attributeName": "restore", "dBSnapshotIdentifier": "orders-nightly", "valuesToAdd": [OUTSIDE]},
       {"dBSnapshotIdentifier": "orders-nightly", "dBSnapshotAttributes": [{"attributeName": "restore", "attributeValues": [OUTSIDE]}]},
       "snapshot-shared-outside", "rds-share")
attack(17, mallory, "s3.amazonaws.com", "PutBucketPolicy",
       {"bucketName": "orders-exports", "Host": "orders-exports.s3.amazonaws.com", "policy": [""],
        "bucketPolicy": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OUTSIDE}:root"},
             "Action": ["s3:GetObject", "s3:GetBucketLocation", "s3:ListBucket"],
             "Resource": ["arn:aws:s3:::orders-exports/*", "arn:aws:s3:::orders-exports"]}]}},
       None, "s3-bucket-policy-opened", "bucket-backdoor")
attack(18, mallory, "s3.amazonaws.com", "PutBucketPolicy",
       {"bucketName": "orders-invoices", "Host": "orders-invoices.s3.amazonaws.com", "policy": [""],
        "bucketPolicy": {"Version": "2012-10-17", "Statement": [
            {"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::orders-invoices/*"}]}},
       None, "s3-bucket-policy-opened", "bucket-public")
add(A + timedelta(minutes=19), mallory, "s3.amazonaws.com", "PutBucketLifecycle",
    {"bucketName": TRAIL_BUCKET, "Host": f"{TRAIL_BUCKET}.s3.amazonaws.com", "lifecycle": [""],
     "LifecycleConfiguration": {"Rule": {"ID": "nuke", "Status": "Enabled", "Filter": {"Prefix": ""},
                                         "Expiration": {"Days": 1}}}}, None, ip=ATTACKER_IP, agent=ATTACKER_AGENT,
    detections=["log-bucket-expiring", "bucket-objects-expire-in-a-day"], incident="lifecycle")
# A bucket whose name says nothing of logs (the trail was set up earlier,
# out of the corpus): a one-day expiry is still caught.
attack(19.5, mallory, "s3.amazonaws.com", "PutBucketLifecycle",
       {"bucketName": "ops-bucket-dbrzcxpjvn", "Host": "ops-bucket-dbrzcxpjvn.s3.amazonaws.com", "lifecycle": [""],
        "LifecycleConfiguration": {"Rule": {"ID": "expire", "Status": "Enabled", "Filter": {"Prefix": "*"},
                                            "Expiration": {"Days": 1}}, "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"}},
       None, "bucket-objects-expire-in-a-day", "lifecycle-any")
for s in range(3):
    attack(20, mallory, "s3.amazonaws.com", "DeleteObjects",
           {"bucketName": CONFIG_LOG_BUCKET, "Host": f"{CONFIG_LOG_BUCKET}.s3.amazonaws.com", "delete": ""}, None,
           "log-bucket-emptied", "log-delete", account=LOGS)
attack(21, mallory, "s3.amazonaws.com", "DeleteBucket",
       {"bucketName": "audit-cloudtrail-archive", "Host": "audit-cloudtrail-archive.s3.amazonaws.com"}, None,
       "log-bucket-emptied", "log-bucket-delete")
attack(22, mallory, "kms.amazonaws.com", "ScheduleKeyDeletion",
       {"keyId": "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321", "pendingWindowInDays": 7},
       {"keyId": "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321",
        "deletionDate": "Dec 7, 2026 12:00:00 AM", "keyState": "PendingDeletion", "pendingWindowInDays": 7},
       "kms-key-deletion-scheduled", "kms")

# The stolen instance role enumerates, hitting walls, reads user data and secrets.
for s in range(15):
    src, name = rng.choice([("iam.amazonaws.com", "ListUsers"), ("iam.amazonaws.com", "ListRoles"),
                            ("s3.amazonaws.com", "ListBuckets"), ("ec2.amazonaws.com", "DescribeSnapshots")])
    code = "Client.UnauthorizedOperation" if src.startswith("ec2") else "AccessDenied"
    add(A + timedelta(minutes=30, seconds=3 * s), stolen_role, src, name, None, None, ip=ATTACKER_IP, agent=ATTACKER_AGENT,
        error=(code, f"User: {stolen_role['arn']} is not authorized to perform: {src.split('.')[0]}:{name}"),
        read_only=True, detections=["access-denied-burst"], incident="enum")
for s in range(5):
    attack(31 + s / 10, stolen_role, "ec2.amazonaws.com", "DescribeInstanceAttribute",
           {"instanceId": "i-0%016x" % rng.getrandbits(64), "attribute": "userData"}, None,
           "instance-user-data-read", "user-data", read_only=True)
for s in range(3):
    attack(33, stolen_role, "ec2.amazonaws.com", "GetPasswordData", {"instanceId": "i-0%016x" % rng.getrandbits(64)}, None,
           "ec2-password-data-read", "password-data", read_only=True,
           error=None if s == 0 else ("Client.UnauthorizedOperation", "You are not authorized to perform this operation."))
for s in range(12):
    attack(34 + s / 6, stolen_role, "secretsmanager.amazonaws.com", "GetSecretValue",
           {"secretId": f"arn:aws:secretsmanager:us-east-1:{PROD}:secret:prod/service-{s}-AbCdEf"}, None,
           "secrets-read-in-bulk", "secrets-bulk", read_only=True)
for s in range(5):
    attack(37, mallory, "secretsmanager.amazonaws.com", "BatchGetSecretValue",
           {"filters": [{"key": "tag-key", "values": ["!tagKeyThatWillNeverExist"]}]}, None,
           "secrets-batch-read-by-filter", "secrets-batch", read_only=True)

# Console: brute force against one user from one address, then spraying
# names from another, then one user from many addresses.
for s in range(8):
    console_login(A + timedelta(minutes=40, seconds=20 * s), failed_identity(PROD, "admin"), False, "No", "45.155.205.10", PROD,
                  detections=["console-brute-force-by-ip", "console-brute-force-by-user"], incident="brute")
for s in range(6):
    console_login(A + timedelta(minutes=50, seconds=15 * s), failed_identity(DEV, "HIDDEN_DUE_TO_SECURITY_REASONS"), False, "No",
                  "45.155.205.11", DEV, detections=["console-brute-force-by-ip", "console-brute-force-by-user"], incident="spray")
for s in range(6):
    console_login(A + timedelta(minutes=60, seconds=30 * s), failed_identity(PROD, "dave"), False, "No",
                  "91.240.118.%d" % (10 + s), PROD, detections=["console-brute-force-by-user"], incident="distributed")
# Sign-in without MFA by a user, from the attacker.
console_login(A + timedelta(minutes=70), {**iam_user(PROD, "dave"), "accessKeyId": ""}, True, "No", ATTACKER_IP, PROD,
              detections=["console-login-without-mfa"], incident="no-mfa")
# Root: a sign-in without MFA, then API calls.
console_login(A + timedelta(minutes=80), root(DEV), True, "No", ATTACKER_IP, DEV,
              detections=["root-console-login", "console-login-without-mfa"], incident="root-login")
for s, (src, name) in enumerate([("iam.amazonaws.com", "ListUsers"), ("iam.amazonaws.com", "CreateAccessKey"),
                                 ("organizations.amazonaws.com", "DescribeOrganization")]):
    add(A + timedelta(minutes=81 + s), root(DEV), src, name, None, None, ip=ATTACKER_IP,
        agent="AWS Internal", detections=["root-activity"], incident="root-api")

# ------------------------------------------------------------------- write

order = sorted(range(len(records)), key=lambda i: records[i]["eventTime"])
with open(os.path.join(HERE, "trail.json"), "w") as f:
    json.dump({"Records": [records[i] for i in order]}, f, separators=(",", ":"))
with open(os.path.join(HERE, "labels.jsonl"), "w") as f:
    for i in order:
        f.write(json.dumps(labels[i], separators=(",", ":")) + "\n")
print(f"{len(records)} records, {sum(1 for l in labels if l['detections'])} labelled as attacks")
