"""`moto_ssm_extras`: the SSM service-setting operations moto 5.2.5 lacks
(GetServiceSetting, UpdateServiceSetting, ResetServiceSetting), driven with
boto3 (which serialises them from botocore's model of SSM) against moto's
server with the patch applied."""

import os
import unittest
from datetime import datetime

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

import moto_ssm_extras  # noqa: E402

SETTING = "/ssm/documents/console/public-sharing-permission"


class SsmServiceSettingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        moto_ssm_extras.apply()
        cls.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
        cls.server.start()
        host, port = cls.server.get_host_and_port()
        cls.url = f"http://{host}:{port}"

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        boto3.client("s3", endpoint_url=self.url)  # warm botocore's loader
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(self.url + "/moto-api/reset", method="POST"))

    def ssm(self, region="us-east-1", account=None, validate=True):
        client = boto3.client(
            "ssm",
            endpoint_url=self.url,
            region_name=region,
            config=Config(parameter_validation=validate, retries={"max_attempts": 1}),
        )
        if account:
            client.meta.events.register(
                "before-sign.ssm.*",
                lambda request, **_: request.headers.__setitem__("x-moto-account-id", account),
            )
        return client

    def setting(self, client, setting_id=SETTING):
        return client.get_service_setting(SettingId=setting_id)["ServiceSetting"]

    def test_the_default_is_enable_with_status_default(self):
        got = self.setting(self.ssm())
        self.assertEqual(got["SettingId"], SETTING)
        self.assertEqual(got["SettingValue"], "Enable")
        self.assertEqual(got["Status"], "Default")
        self.assertEqual(got["ARN"], "arn:aws:ssm:us-east-1:123456789012:servicesetting" + SETTING)
        self.assertNotIn("LastModifiedUser", got)
        self.assertNotIn("LastModifiedDate", got)

    def test_an_update_is_customized_with_who_and_when_then_reset_restores_the_default(self):
        ssm = self.ssm()
        ssm.update_service_setting(SettingId=SETTING, SettingValue="Disable")
        got = self.setting(ssm)
        self.assertEqual(got["SettingValue"], "Disable")
        self.assertEqual(got["Status"], "Customized")
        self.assertIsInstance(got["LastModifiedDate"], datetime)
        self.assertTrue(got["LastModifiedUser"].startswith("arn:aws:"), got["LastModifiedUser"])
        # Enable set on purpose is customised too, not the default.
        ssm.update_service_setting(SettingId=SETTING, SettingValue="Enable")
        self.assertEqual(self.setting(ssm)["Status"], "Customized")
        reset = ssm.reset_service_setting(SettingId=SETTING)["ServiceSetting"]
        self.assertEqual((reset["SettingValue"], reset["Status"]), ("Enable", "Default"))
        got = self.setting(ssm)
        self.assertEqual((got["SettingValue"], got["Status"]), ("Enable", "Default"))
        self.assertNotIn("LastModifiedUser", got)

    def test_the_setting_is_named_by_its_arn_too(self):
        ssm = self.ssm()
        arn = "arn:aws:ssm:us-east-1:123456789012:servicesetting" + SETTING
        ssm.update_service_setting(SettingId=arn, SettingValue="Disable")
        self.assertEqual(self.setting(ssm, arn)["SettingValue"], "Disable")
        self.assertEqual(self.setting(ssm)["SettingId"], SETTING)

    def test_kept_per_account_and_region(self):
        self.ssm().update_service_setting(SettingId=SETTING, SettingValue="Disable")
        self.assertEqual(self.setting(self.ssm())["SettingValue"], "Disable")
        self.assertEqual(self.setting(self.ssm(region="eu-west-1"))["SettingValue"], "Enable")
        other = self.setting(self.ssm(account="444455556666"))
        self.assertEqual(other["SettingValue"], "Enable")
        self.assertIn(":444455556666:", other["ARN"])

    def test_an_unknown_setting_is_not_found(self):
        ssm = self.ssm()
        for call in (
            lambda: ssm.get_service_setting(SettingId="/ssm/no/such-setting"),
            lambda: ssm.update_service_setting(SettingId="/ssm/no/such-setting", SettingValue="x"),
            lambda: ssm.reset_service_setting(SettingId="/ssm/no/such-setting"),
        ):
            with self.assertRaises(ClientError) as e:
                call()
            self.assertEqual(e.exception.response["Error"]["Code"], "ServiceSettingNotFound")

    def test_a_value_other_than_enable_or_disable_is_refused(self):
        ssm = self.ssm()
        for value in ("Maybe", "disable", "true"):
            with self.assertRaises(ClientError) as e:
                ssm.update_service_setting(SettingId=SETTING, SettingValue=value)
            self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")
        got = self.setting(ssm)
        self.assertEqual((got["SettingValue"], got["Status"]), ("Enable", "Default"))

    def test_requests_are_checked_against_the_model(self):
        # Without the client's own checks: an empty id (min length 1) and
        # a missing value (required) reach the server, which refuses them.
        ssm = self.ssm(validate=False)
        with self.assertRaises(ClientError) as e:
            ssm.get_service_setting(SettingId="")
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")
        with self.assertRaises(ClientError) as e:
            ssm.update_service_setting(SettingId=SETTING)
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")
        self.assertIn("SettingValue", e.exception.response["Error"]["Message"])


if __name__ == "__main__":
    unittest.main()
