"""`moto_cbor`: CloudWatch in the Smithy RPC v2 CBOR protocol (what the AWS
SDK for Rust sends) answered by moto, with requests checked against
botocore's model of CloudWatch."""

import os
import unittest
import urllib.request

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
import cbor2  # noqa: E402
from datetime import datetime  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

import moto_cbor  # noqa: E402

PATH = "/service/GraniteServiceVersion20100801/operation/"


class CborTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        moto_cbor.apply()
        cls.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
        cls.server.start()
        host, port = cls.server.get_host_and_port()
        cls.url = f"http://{host}:{port}"

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def client(self):
        # CloudWatch's model lists RPC v2 CBOR first, but boto3 sends its
        # JSON protocol: this checks the answers, the CBOR tests below the
        # layer.
        return boto3.client("cloudwatch", endpoint_url=self.url)

    def test_an_alarm_is_made_read_back_and_deleted_with_boto3(self):
        cw = self.client()
        cw.put_metric_alarm(
            AlarmName="root-usage",
            MetricName="RootUsage",
            Namespace="CISBenchmark",
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            AlarmActions=["arn:aws:sns:us-east-1:123456789012:alerts"],
        )
        alarm = cw.describe_alarms(AlarmNames=["root-usage"])["MetricAlarms"][0]
        self.assertEqual(alarm["MetricName"], "RootUsage")
        self.assertEqual(alarm["AlarmActions"], ["arn:aws:sns:us-east-1:123456789012:alerts"])
        self.assertIsInstance(alarm["StateUpdatedTimestamp"], datetime)
        cw.delete_alarms(AlarmNames=["root-usage"])
        self.assertEqual(cw.describe_alarms(AlarmNames=["root-usage"])["MetricAlarms"], [])

    def test_an_alarm_round_trip_in_cbor_itself(self):
        # boto3 prefers CloudWatch's JSON protocol when the model lists
        # several: these requests are CBOR, as the AWS SDK for Rust sends.
        alarm = {
            "AlarmName": "cbor-root-usage",
            "MetricName": "RootUsage",
            "Namespace": "CISBenchmark",
            "Statistic": "Sum",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:alerts"],
        }
        self.assertEqual(self.post("PutMetricAlarm", alarm)[0], 200)
        status, body = self.post("DescribeAlarms", {"AlarmNames": ["cbor-root-usage"]})
        self.assertEqual(status, 200, body)
        got = body["MetricAlarms"][0]
        self.assertEqual(got["AlarmActions"], alarm["AlarmActions"])
        # Tag 1 (epoch seconds) decodes as a time.
        self.assertIsInstance(got["StateUpdatedTimestamp"], datetime)
        self.assertEqual(self.post("DeleteAlarms", {"AlarmNames": ["cbor-root-usage"]})[0], 200)
        status, body = self.post("DescribeAlarms", {"AlarmNames": ["cbor-root-usage"]})
        self.assertEqual(body.get("MetricAlarms", []), [])

    def post(self, operation, body, protocol="rpc-v2-cbor"):
        request = urllib.request.Request(
            self.url + PATH + operation,
            data=cbor2.dumps(body),
            method="POST",
            headers={
                "Content-Type": "application/cbor",
                "smithy-protocol": protocol,
                "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261206/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=0",
            },
        )
        try:
            with urllib.request.urlopen(request) as answer:
                return answer.status, cbor2.loads(answer.read())
        except urllib.error.HTTPError as e:
            return e.code, cbor2.loads(e.read())

    def test_a_member_the_model_lacks_is_refused(self):
        status, body = self.post("DescribeAlarms", {"AlarmNames": ["a"], "Bogus": 1})
        self.assertEqual(status, 400)
        self.assertEqual(body["__type"], "SerializationException")
        self.assertIn("Bogus", body["message"])

    def test_an_operation_the_model_lacks_is_refused(self):
        status, body = self.post("DescribeEverything", {})
        self.assertEqual(status, 400)
        self.assertEqual(body["__type"], "UnknownOperationException")

    def test_the_protocol_header_is_required(self):
        status, _ = self.post("DescribeAlarms", {}, protocol="json")
        self.assertEqual(status, 400)


if __name__ == "__main__":
    unittest.main()
