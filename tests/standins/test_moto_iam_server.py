"""moto_iam_server.py authorises S3 default encryption and the account's
Block Public Access by the IAM actions AWS checks (Service Authorization
Reference for Amazon S3), not by the names moto 5.2.5 uses: a user allowed
exactly AWS's actions can make the calls, a user allowed only moto's names
cannot."""

import json
import os
import socket
import subprocess
import sys
import time
import unittest
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
ACCOUNT = "123456789012"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unprefix_host(request, **_):
    request.url = request.url.replace("//%s.127.0.0.1" % ACCOUNT, "//127.0.0.1")


class MotoIamServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        port = free_port()
        cls.url = "http://127.0.0.1:%d" % port
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3", MOTO_EC2_LOAD_DEFAULT_AMIS="false")
        cls.server = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "moto_iam_server.py"), "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(cls.url + "/moto-api/", timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    cls.server.kill()
                    raise
                time.sleep(0.2)
        admin = subprocess.run(
            [sys.executable, os.path.join(HERE, "moto_iam_admin.py"), cls.url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        key, secret = admin.split(":")
        cls.admin = staticmethod(cls.session(key, secret))

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait(timeout=10)

    @classmethod
    def session(cls, key, secret):
        def client(service):
            made = boto3.client(
                service,
                endpoint_url=cls.url,
                region_name="us-east-1",
                aws_access_key_id=key,
                aws_secret_access_key=secret,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
            )
            # S3 Control puts the account id in the host name; moto takes
            # it from the x-amz-account-id header as well.
            made.meta.events.register("before-sign.s3-control", unprefix_host)
            return made

        return client

    def user_allowed(self, name, actions):
        iam = self.admin("iam")
        iam.create_user(UserName=name)
        iam.put_user_policy(
            UserName=name,
            PolicyName="only",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
            ),
        )
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return self.session(key["AccessKeyId"], key["SecretAccessKey"])

    def calls(self, client, bucket):
        """Each call of the two features, by name."""
        s3 = client("s3")
        control = client("s3control")
        rule = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
        flags = {k: True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")}
        return [
            ("PutBucketEncryption", lambda: s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=rule)),
            ("GetBucketEncryption", lambda: s3.get_bucket_encryption(Bucket=bucket)),
            ("DeleteBucketEncryption", lambda: s3.delete_bucket_encryption(Bucket=bucket)),
            (
                "PutPublicAccessBlock (account)",
                lambda: control.put_public_access_block(AccountId=ACCOUNT, PublicAccessBlockConfiguration=flags),
            ),
            ("GetPublicAccessBlock (account)", lambda: control.get_public_access_block(AccountId=ACCOUNT)),
            ("DeletePublicAccessBlock (account)", lambda: control.delete_public_access_block(AccountId=ACCOUNT)),
        ]

    def test_aws_action_names_are_what_is_authorised(self):
        bucket = "iam-names-%d" % int(time.time() * 1000)
        self.admin("s3").create_bucket(Bucket=bucket)
        aws_names = self.user_allowed(
            "aws-names",
            [
                "s3:GetEncryptionConfiguration",
                "s3:PutEncryptionConfiguration",
                "s3:GetAccountPublicAccessBlock",
                "s3:PutAccountPublicAccessBlock",
            ],
        )
        for name, call in self.calls(aws_names, bucket):
            with self.subTest(call=name):
                call()
        moto_names = self.user_allowed(
            "moto-names",
            [
                "s3:ListBucket",
                "s3:CreateBucket",
                "s3:DeleteBucket",
                "s3:GetPublicAccessBlock",
                "s3:PutPublicAccessBlock",
                "s3:DeletePublicAccessBlock",
            ],
        )
        for name, call in self.calls(moto_names, bucket):
            with self.subTest(call=name):
                with self.assertRaises(ClientError) as denied:
                    call()
                # S3 Control's denial comes back as 403 with a body botocore
                # does not read as an error code.
                response = denied.exception.response
                self.assertEqual(response["ResponseMetadata"]["HTTPStatusCode"], 403, response)


if __name__ == "__main__":
    unittest.main()
