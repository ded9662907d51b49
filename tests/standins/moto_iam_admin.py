"""Makes the admin user of an IAM-enforcing moto (started with
INITIAL_NO_AUTH_ACTION_COUNT=3: these three requests are the unauthenticated
ones) and prints its access key as `ID:SECRET`.

Usage: moto_iam_admin.py ENDPOINT_URL
"""

import json
import sys

import boto3

iam = boto3.client(
    "iam",
    endpoint_url=sys.argv[1],
    region_name="us-east-1",
    aws_access_key_id="AKIABOOTSTRAP0000000",
    aws_secret_access_key="bootstrap",
)
iam.create_user(UserName="test-admin")
iam.put_user_policy(
    UserName="test-admin",
    PolicyName="everything",
    PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    ),
)
key = iam.create_access_key(UserName="test-admin")["AccessKey"]
print(f"{key['AccessKeyId']}:{key['SecretAccessKey']}")
