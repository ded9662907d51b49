"""`moto_model_data.apply()`: `/moto-api/data.json` answers while an RDS
DB instance exists (the pinned moto's own endpoint answers 500), and
`?service=` narrows it."""

import json
import os
import unittest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.moto_api._internal.responses import MotoAPIResponse  # noqa: E402

import moto_model_data  # noqa: E402


class ModelDataTest(unittest.TestCase):
    @mock_aws
    def test_a_database_does_not_break_the_model_data(self):
        moto_model_data.apply()
        boto3.client("rds").create_db_instance(
            DBInstanceIdentifier="db1",
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="admin1",
            MasterUserPassword="password-1",
            AllocatedStorage=20,
        )
        boto3.client("sqs").create_queue(QueueName="q1")
        url = "http://localhost/moto-api/data.json"
        status, _, body = MotoAPIResponse().model_data(None, url, {})
        self.assertEqual(status, 200)
        data = json.loads(body)
        self.assertIn("rds", data)
        self.assertTrue(any(q.get("name") == "q1" for q in data["sqs"]["Queue"]))
        status, _, body = MotoAPIResponse().model_data(None, url + "?service=sqs", {})
        self.assertEqual(list(json.loads(body)), ["sqs"])


if __name__ == "__main__":
    unittest.main()
