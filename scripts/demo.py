"""The demo scenario: builds a vulnerable account in the emulator, sends
Security Hub findings about it through `rectify process`, and shows each
resource before and after. Run through `make demo`."""

import json
import os
import subprocess
import sys

import boto3

MOTO = os.environ["RECTIFY_TEST_MOTO_URL"]
SECURITYHUB = os.environ["RECTIFY_TEST_SECURITYHUB_URL"]
# IAM Access Analyzer, which moto lacks: the stand-in of scripts/test-env.
ACCESSANALYZER = os.environ["RECTIFY_TEST_ACCESSANALYZER_URL"]
RECTIFY = os.environ["RECTIFY"]
REGION = "us-east-1"
MEMBER = "111122223333"
BUCKET = "demo-payments-exports"
ROLE = f"arn:aws:iam::{MEMBER}:role/rectify-remediation"
ENV = {
    **os.environ,
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_REGION": REGION,
    "AWS_ENDPOINT_URL": MOTO,
    "AWS_ENDPOINT_URL_SECURITYHUB": SECURITYHUB,
    "AWS_ENDPOINT_URL_ACCESSANALYZER": ACCESSANALYZER,
    "RECTIFY_CONFIG": "rectify.yaml",
}


def session(account):
    """Credentials inside `account`: the emulator maps assumed-role
    credentials to the role's account."""
    sts = boto3.client("sts", endpoint_url=MOTO, region_name=REGION,
                       aws_access_key_id="demo", aws_secret_access_key="demo")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/demo-admin",
                            RoleSessionName="demo")["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                         aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name=REGION)


def heading(text):
    print(f"\n\033[1m== {text}\033[0m")


def build_vulnerable_account(member):
    s3 = member.client("s3", endpoint_url=MOTO)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False,
        "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
    ec2 = member.client("ec2", endpoint_url=MOTO)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    sg = ec2.create_security_group(GroupName="bastion", Description="bastion hosts", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
    ])
    # Holes no finding reports in this demo: `rectify scan` finds them.
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume, Description="payments-db nightly")["SnapshotId"]
    ec2.modify_snapshot_attribute(SnapshotId=snapshot, Attribute="createVolumePermission",
                                  OperationType="add", GroupNames=["all"])
    return sg


def show(member, sg):
    s3 = member.client("s3", endpoint_url=MOTO)
    try:
        bpa = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    except s3.exceptions.ClientError:
        bpa = "none"
    print(f"  s3://{BUCKET} Block Public Access: {bpa}")
    ec2 = member.client("ec2", endpoint_url=MOTO)
    perms = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]["IpPermissions"]
    for p in perms:
        ranges = [r["CidrIp"] for r in p.get("IpRanges", [])] + [r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])]
        print(f"  {sg} ingress {p['IpProtocol']} {p.get('FromPort')}-{p.get('ToPort')} from {', '.join(ranges)}")
    iam = member.client("iam", endpoint_url=MOTO)
    try:
        policy = iam.get_account_password_policy()["PasswordPolicy"]
        print(f"  IAM password policy: length {policy['MinimumPasswordLength']}, max age "
              f"{policy.get('MaxPasswordAge')}, reuse {policy.get('PasswordReusePrevention')}, "
              f"symbols {policy['RequireSymbols']}")
    except iam.exceptions.NoSuchEntityException:
        print("  IAM password policy: none")
    print(f"  EBS encryption by default: {ec2.get_ebs_encryption_by_default()['EbsEncryptionByDefault']}")
    for snap in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]:
        perms = ec2.describe_snapshot_attribute(SnapshotId=snap["SnapshotId"],
                                                Attribute="createVolumePermission")["CreateVolumePermissions"]
        who = "everyone" if any(p.get("Group") == "all" for p in perms) else "this account only"
        print(f"  snapshot {snap['SnapshotId']} ({snap.get('Description', '')}) restorable by {who}")
    hub = boto3.client("securityhub", endpoint_url=SECURITYHUB, region_name=REGION,
                       aws_access_key_id="demo", aws_secret_access_key="demo")
    for f in hub.get_findings()["Findings"]:
        note = f.get("Note", {}).get("Text", "")
        print(f"  finding {f['Compliance']['SecurityControlId']:<7} workflow {f['Workflow']['Status']:<9} {note[:90]}")


def finding(control, title, resource_type, resource_id, details=None):
    resource = {"Type": resource_type, "Id": resource_id, "Partition": "aws", "Region": REGION}
    if details:
        resource["Details"] = details
    return {
        "SchemaVersion": "2018-10-08",
        "Id": f"arn:aws:securityhub:{REGION}:{MEMBER}:security-control/{control}/finding/demo-{control}",
        "ProductArn": f"arn:aws:securityhub:{REGION}::product/aws/securityhub",
        "GeneratorId": f"security-control/{control}",
        "AwsAccountId": MEMBER,
        "Region": REGION,
        "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
        "CreatedAt": "2026-11-29T09:00:00.000Z",
        "UpdatedAt": "2026-11-29T09:00:00.000Z",
        "Severity": {"Label": "HIGH", "Original": "HIGH"},
        "Title": title,
        "Description": title,
        "Compliance": {"Status": "FAILED", "SecurityControlId": control},
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
        "Resources": [resource],
    }


def main():
    member = session(MEMBER)
    # rectify's own account (the emulator's default for plain credentials)
    # holds the notification topic; a queue subscribed to it shows what
    # the owner receives.
    home = dict(endpoint_url=MOTO, region_name=REGION, aws_access_key_id="demo", aws_secret_access_key="demo")
    sns = boto3.client("sns", **home)
    sqs = boto3.client("sqs", **home)
    topic = sns.create_topic(Name="rectify-demo-notifications")["TopicArn"]
    queue = sqs.create_queue(QueueName="rectify-demo-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    sg = build_vulnerable_account(member)
    findings = [
        finding("S3.8", "S3 general purpose buckets should block public access",
                "AwsS3Bucket", f"arn:aws:s3:::{BUCKET}"),
        finding("EC2.13", "Security groups should not allow ingress from 0.0.0.0/0 to port 22",
                "AwsEc2SecurityGroup", f"arn:aws:ec2:{REGION}:{MEMBER}:security-group/{sg}",
                {"AwsEc2SecurityGroup": {"GroupId": sg, "GroupName": "bastion"}}),
        finding("IAM.7", "Password policies for IAM users should have strong configurations",
                "AwsAccount", f"AWS::::Account:{MEMBER}"),
    ]
    hub = boto3.client("securityhub", endpoint_url=SECURITYHUB, region_name=REGION,
                       aws_access_key_id="demo", aws_secret_access_key="demo")
    hub.batch_import_findings(Findings=findings)
    event = {
        "version": "0", "id": "5c3b6d1e-demo-4a0e-9d1c-000000000001",
        "detail-type": "Security Hub Findings - Imported", "source": "aws.securityhub",
        "account": MEMBER, "time": "2026-11-29T09:00:05Z", "region": REGION,
        "resources": [f["Id"] for f in findings], "detail": {"findings": findings},
    }
    with open("findings.json", "w") as f:
        json.dump(event, f)

    heading(f"before: account {MEMBER} (emulated)")
    show(member, sg)
    heading("rectify validate")
    subprocess.run([RECTIFY, "validate"], env=ENV, check=True)
    heading("rectify process --dry-run findings.json   (plans only, nothing written)")
    subprocess.run([RECTIFY, "process", "--dry-run", "findings.json"], env=ENV, check=True)
    heading("rectify process findings.json")
    subprocess.run([RECTIFY, "process", "findings.json"], env=ENV, check=True)
    heading("after")
    show(member, sg)
    heading("what the security team was told (SNS -> SQS)")
    while True:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            break
        for m in got:
            n = json.loads(json.loads(m["Body"])["Message"])
            print(f"  {n['outcome']:<10} {n['control']:<7} {n['resource']}  (owner {n['owner']})")
    heading("the same findings again: nothing left to do")
    subprocess.run([RECTIFY, "process", "findings.json"], env=ENV, check=True)
    heading("rectify scan --feed   (what no finding reported: the account's own posture, fixed by the rules)")
    scan_feed()
    heading("after the scan")
    show(member, sg)
    heading("rectify audit verify")
    subprocess.run([RECTIFY, "audit", "verify"], env=ENV, check=True)


OUTCOMES = {"changed", "already-compliant", "awaiting-approval", "skipped", "planned",
            "failed", "dead", "retrying", "unmatched"}


def scan_feed():
    """`rectify scan --feed`, its lines folded for the screen: one line per
    failed check (with how many resources) and per rule and outcome of the
    jobs (with how many, and the first one's reason, shortened)."""
    out = subprocess.run([RECTIFY, "scan", "--feed"], env=ENV, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    print("  (folded here: `rectify scan --feed` prints a line per resource and per job)")
    groups = {}
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 3 and cols[0] in ("FAIL", "PASS"):
            key = (cols[0], cols[2])
            reason = ""
        elif len(cols) >= 3 and cols[0] in OUTCOMES:
            key = (cols[0], cols[2])
            reason = " ".join(cols[5:])
        else:
            if line.strip():
                print(line if len(line) <= 150 else line[:147] + "...")
            continue
        count, first = groups.get(key, (0, reason))
        groups[key] = (count + 1, first)
    for (kind, name), (count, reason) in groups.items():
        text = f"  {kind:<18} {count:>3} x {name}"
        if reason:
            text += f": {reason}"
        print(text if len(text) <= 150 else text[:147] + "...")


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as e:
        sys.exit(e.returncode)
