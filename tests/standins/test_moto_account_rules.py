"""`moto_account_rules`: naming the caller's own account in AccountId is
refused, as AWS refuses it; standalone calls and member ids still work."""

import os
import unittest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

import moto_account_rules  # noqa: E402

CONTACT = dict(
    AlternateContactType="SECURITY",
    EmailAddress="secops@example.com",
    Name="Security operations",
    PhoneNumber="+1-555-0100",
    Title="SecOps",
)


class OwnAccountIdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        moto_account_rules.apply()
        cls.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
        cls.server.start()
        host, port = cls.server.get_host_and_port()
        cls.url = f"http://{host}:{port}"

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_own_id_is_refused_and_standalone_works(self):
        account = boto3.client("account", endpoint_url=self.url)
        own = boto3.client("sts", endpoint_url=self.url).get_caller_identity()["Account"]
        account.put_alternate_contact(**CONTACT)
        got = account.get_alternate_contact(AlternateContactType="SECURITY")
        self.assertEqual(got["AlternateContact"]["EmailAddress"], "secops@example.com")
        with self.assertRaises(ClientError) as refused:
            account.get_alternate_contact(AccountId=own, AlternateContactType="SECURITY")
        self.assertEqual(refused.exception.response["Error"]["Code"], "ValidationException")
        with self.assertRaises(ClientError):
            account.put_alternate_contact(AccountId=own, **CONTACT)

    def test_another_account_id_is_still_taken(self):
        account = boto3.client("account", endpoint_url=self.url)
        account.put_alternate_contact(AccountId="111122223333", **CONTACT)
        got = account.get_alternate_contact(
            AccountId="111122223333", AlternateContactType="SECURITY"
        )
        self.assertEqual(got["AlternateContact"]["Name"], "Security operations")


if __name__ == "__main__":
    unittest.main()
