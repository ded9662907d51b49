"""moto_iam_server.py authorises S3 default encryption and the account's
Block Public Access by the IAM actions AWS checks (Service Authorization
Reference for Amazon S3), not by the names moto 5.2.5 uses: a user allowed
exactly AWS's actions can make the calls, a user allowed only moto's names
cannot. SSM's service settings (moto_ssm_extras.py) and CloudWatch in RPC
v2 CBOR (moto_cbor.py) are authorised as AWS does: by `ssm:` and
`cloudwatch:` actions, the writes on the setting's and the alarm's ARN."""

import json
import os
import socket
import subprocess
import sys
import time
import unittest
import urllib.request

import boto3
import cbor2
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
        return self.user_with(name, [{"Effect": "Allow", "Action": actions, "Resource": "*"}])

    def user_with(self, name, statements):
        iam = self.admin("iam")
        iam.create_user(UserName=name)
        iam.put_user_policy(
            UserName=name,
            PolicyName="only",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )
        key = iam.create_access_key(UserName=name)["AccessKey"]
        client = self.session(key["AccessKeyId"], key["SecretAccessKey"])
        client.key_id = key["AccessKeyId"]
        return client

    def cbor(self, key_id, operation, body):
        """A CloudWatch call in RPC v2 CBOR, as the AWS SDK for Rust sends
        it (boto3 speaks JSON to CloudWatch): status and decoded answer."""
        request = urllib.request.Request(
            self.url + "/service/GraniteServiceVersion20100801/operation/" + operation,
            data=cbor2.dumps(body),
            method="POST",
            headers={
                "Content-Type": "application/cbor",
                "Accept": "application/cbor",
                "smithy-protocol": "rpc-v2-cbor",
                "Authorization": "AWS4-HMAC-SHA256 Credential=%s/20261206/us-east-1/monitoring/aws4_request, "
                "SignedHeaders=host, Signature=0" % key_id,
            },
        )
        try:
            with urllib.request.urlopen(request) as answer:
                return answer.status, answer.headers["Content-Type"], cbor2.loads(answer.read())
        except urllib.error.HTTPError as e:
            return e.code, e.headers["Content-Type"], cbor2.loads(e.read())

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

    def assert_denied(self, call):
        with self.assertRaises(ClientError) as denied:
            call()
        # moto answers AccessDenied in XML whatever the protocol: botocore
        # reads SSM's (JSON) as a bare 403 with the XML as its message.
        response = denied.exception.response
        self.assertEqual(response["ResponseMetadata"]["HTTPStatusCode"], 403, response)
        self.assertIn("<Code>AccessDenied</Code>", response["Error"]["Message"], response)

    def test_ssm_service_settings_are_authorised_on_the_setting_arn(self):
        """The setting operations of moto_ssm_extras.py go through moto's
        authorisation, the writes on the setting's ARN (as AWS checks)."""
        setting = "/ssm/documents/console/public-sharing-permission"
        read = {"Effect": "Allow", "Action": "ssm:GetServiceSetting", "Resource": "*"}
        writes = ["ssm:UpdateServiceSetting", "ssm:ResetServiceSetting"]
        on_settings = self.user_with(
            "ssm-settings",
            [read, {"Effect": "Allow", "Action": writes, "Resource": "arn:aws:ssm:*:%s:servicesetting/*" % ACCOUNT}],
        )
        ssm = on_settings("ssm")
        ssm.update_service_setting(SettingId=setting, SettingValue="Disable")
        got = ssm.get_service_setting(SettingId=setting)["ServiceSetting"]
        self.assertEqual((got["SettingValue"], got["Status"]), ("Disable", "Customized"))
        self.assertEqual(got["LastModifiedUser"], "arn:aws:iam::%s:user/ssm-settings" % ACCOUNT)
        ssm.reset_service_setting(SettingId=setting)
        self.assertEqual(ssm.get_service_setting(SettingId=setting)["ServiceSetting"]["Status"], "Default")

        on_documents = self.user_with(
            "ssm-documents",
            [read, {"Effect": "Allow", "Action": writes, "Resource": "arn:aws:ssm:*:%s:document/*" % ACCOUNT}],
        )
        ssm = on_documents("ssm")
        self.assert_denied(lambda: ssm.update_service_setting(SettingId=setting, SettingValue="Disable"))
        self.assert_denied(lambda: ssm.reset_service_setting(SettingId=setting))
        got = ssm.get_service_setting(SettingId=setting)["ServiceSetting"]
        self.assertEqual((got["SettingValue"], got["Status"]), ("Enable", "Default"))
        nothing = self.user_allowed("ssm-nothing", ["ssm:DescribeDocument"])
        self.assert_denied(lambda: nothing("ssm").get_service_setting(SettingId=setting))

    def test_cloudwatch_over_cbor_is_authorised_as_cloudwatch_on_the_alarm_arn(self):
        """CloudWatch calls in RPC v2 CBOR (moto_cbor.py) are authorised as
        `cloudwatch:...`, PutMetricAlarm and DeleteAlarms on the alarm's
        ARN; a denial comes back in CBOR as AccessDenied (403)."""
        alarm = {
            "MetricName": "RootUsage",
            "Namespace": "CISBenchmark",
            "Statistic": "Sum",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        }
        alarms = "arn:aws:cloudwatch:*:%s:alarm:rectify-*" % ACCOUNT
        key = self.user_with(
            "cw-aws-names",
            [
                {"Effect": "Allow", "Action": "cloudwatch:DescribeAlarms", "Resource": "*"},
                {"Effect": "Allow", "Action": ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"], "Resource": alarms},
            ],
        ).key_id

        def denied(operation, body):
            status, kind, answer = self.cbor(key, operation, body)
            self.assertEqual((status, kind), (403, "application/cbor"), answer)
            self.assertEqual(answer["__type"], "AccessDenied", answer)
            self.assertIn("cloudwatch:%s" % operation, answer["message"])

        def names(key):
            status, _, answer = self.cbor(key, "DescribeAlarms", {"AlarmNamePrefix": "rectify-"})
            self.assertEqual(status, 200, answer)
            return [a["AlarmName"] for a in answer.get("MetricAlarms", [])]

        status, _, answer = self.cbor(key, "PutMetricAlarm", dict(alarm, AlarmName="rectify-root"))
        self.assertEqual(status, 200, answer)
        self.assertEqual(names(key), ["rectify-root"])
        # Another alarm's ARN is not covered.
        denied("PutMetricAlarm", dict(alarm, AlarmName="team-root"))
        denied("DeleteAlarms", {"AlarmNames": ["team-root"]})
        status, _, answer = self.cbor(key, "DeleteAlarms", {"AlarmNames": ["rectify-root"]})
        self.assertEqual(status, 200, answer)
        self.assertEqual(names(key), [])

        # moto's own name for the action (the signing name) is not AWS's.
        key = self.user_allowed("cw-moto-names", ["monitoring:*"]).key_id
        denied("PutMetricAlarm", dict(alarm, AlarmName="rectify-root"))
        denied("DescribeAlarms", {})
        self.assertEqual(
            self.admin("cloudwatch").describe_alarms(AlarmNamePrefix="rectify-")["MetricAlarms"], []
        )

if __name__ == "__main__":
    unittest.main()
