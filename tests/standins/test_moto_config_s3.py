"""`moto_config_s3`: AWS Config's configuration items for S3 buckets
(ListDiscoveredResources, BatchGetResourceConfig, GetResourceConfigHistory)
driven with boto3 against moto's server with the patch applied; each raw
answer is also checked member by member against botocore's model of the
output, as a strict SDK reads it."""

import json
import os
import time
import unittest
import urllib.request

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
import botocore.session  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from moto.s3.models import OWNER  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

import moto_config_s3  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PROPERTIES = os.path.join(HERE, "data", "aws_config_s3_bucket_properties.json")
BUCKET = "AWS::S3::Bucket"
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "444455556666"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ALWAYS = {
    "AccessControlList",
    "BucketAccelerateConfiguration",
    "BucketLoggingConfiguration",
    "BucketNotificationConfiguration",
    "BucketPolicy",
    "BucketVersioningConfiguration",
    "IsRequesterPaysEnabled",
}
OWNER_FULL_CONTROL = {"grantee": {"id": OWNER, "displayName": None}, "permission": "FullControl"}
CANNED = {
    "private": [],
    "public-read": [{"grantee": "AllUsers", "permission": "Read"}],
    "public-read-write": [
        {"grantee": "AllUsers", "permission": "Read"},
        {"grantee": "AllUsers", "permission": "Write"},
    ],
    "authenticated-read": [{"grantee": "AuthenticatedUsers", "permission": "Read"}],
    "log-delivery-write": [
        {"grantee": "LogDelivery", "permission": "ReadAcp"},
        {"grantee": "LogDelivery", "permission": "Write"},
    ],
}

_model = botocore.session.get_session().get_service_model("config")


def shape_errors(value, shape, path="$"):
    """Where `value` (decoded JSON) differs from `shape` as the JSON protocol
    carries it: types, enum values, unknown members; timestamps as epoch
    seconds."""
    kind = shape.type_name
    if value is None:
        return []
    if kind == "structure":
        if not isinstance(value, dict):
            return ["%s: %r is not an object" % (path, value)]
        errors = ["%s.%s: not in the model" % (path, k) for k in value if k not in shape.members]
        for name, member in shape.members.items():
            if name in value:
                errors += shape_errors(value[name], member, path + "." + name)
        return errors
    if kind == "list":
        if not isinstance(value, list):
            return ["%s: %r is not a list" % (path, value)]
        return [e for i, v in enumerate(value) for e in shape_errors(v, shape.member, "%s[%d]" % (path, i))]
    if kind == "map":
        if not isinstance(value, dict):
            return ["%s: %r is not an object" % (path, value)]
        errors = []
        for k, v in value.items():
            errors += shape_errors(k, shape.key, "%s{key}" % path)
            errors += shape_errors(v, shape.value, "%s[%r]" % (path, k))
        return errors
    if kind == "string":
        if not isinstance(value, str):
            return ["%s: %r is not a string" % (path, value)]
        if shape.enum and value not in shape.enum:
            return ["%s: %r is not one of the enum" % (path, value)]
        return []
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return ["%s: %r is not epoch seconds" % (path, value)]
        return []
    if kind == "boolean":
        return [] if isinstance(value, bool) else ["%s: %r is not a boolean" % (path, value)]
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return ["%s: %r is not an integer" % (path, value)]
        return []
    return ["%s: no check for %s" % (path, kind)]


def property_paths(value, prefix):
    """The dotted paths of `value`'s leaves, lists flattened as AWS Config's
    schema writes them."""
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in property_paths(v, prefix + "." + k)]
    if isinstance(value, list) and value:
        return [p for v in value for p in property_paths(v, prefix)]
    return [prefix]


def supplementary(item):
    values = {k: json.loads(v) for k, v in item["supplementaryConfiguration"].items()}
    values["AccessControlList"] = json.loads(values["AccessControlList"])
    return values


class ConfigS3ItemTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        moto_config_s3.apply()
        cls.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
        cls.server.start()
        host, port = cls.server.get_host_and_port()
        cls.url = f"http://{host}:{port}"
        with open(PROPERTIES) as f:
            cls.properties = set(json.load(f))

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        boto3.client("s3", endpoint_url=self.url)  # warm botocore's loader
        urllib.request.urlopen(urllib.request.Request(self.url + "/moto-api/reset", method="POST"))
        self.raw = []

    def client(self, service, region="us-east-1", account=None):
        client = boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            config=Config(retries={"max_attempts": 1}),
        )
        if account:
            client.meta.events.register(
                "before-sign.%s.*" % service,
                lambda request, **_: request.headers.__setitem__("x-moto-account-id", account),
            )
        if service == "config":
            client.meta.events.register(
                "before-parse.config.*",
                lambda response_dict, **_: self.raw.append(json.loads(response_dict["body"])),
            )
        return client

    def bucket(self, name, region="us-east-1", account=None, **extra):
        s3 = self.client("s3", region, account)
        if region != "us-east-1":
            extra["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(Bucket=name, **extra)
        return s3

    def batch_get(self, names, region="us-east-1", account=None):
        answer = self.client("config", region, account).batch_get_resource_config(
            resourceKeys=[{"resourceType": BUCKET, "resourceId": n} for n in names]
        )
        raw = self.raw[-1]
        self.assertEqual(shape_errors(raw, _model.operation_model("BatchGetResourceConfig").output_shape), [])
        return answer, raw

    def item(self, name, region="us-east-1"):
        answer, raw = self.batch_get([name], region)
        self.assertEqual(len(raw["baseConfigurationItems"]), 1, raw)
        return raw["baseConfigurationItems"][0]

    def history_item(self, name, region="us-east-1"):
        self.client("config", region).get_resource_config_history(resourceType=BUCKET, resourceId=name)
        raw = self.raw[-1]
        self.assertEqual(
            shape_errors(raw, _model.operation_model("GetResourceConfigHistory").output_shape), []
        )
        self.assertEqual(len(raw["configurationItems"]), 1)
        return raw["configurationItems"][0]

    def full_bucket(self, name="full-bucket"):
        s3 = self.bucket("logs-target", ACL="log-delivery-write")
        self.bucket(name, ACL="public-read")
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": False,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": False,
            },
        )
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": KMS_KEY,
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
        s3.put_bucket_website(
            Bucket=name,
            WebsiteConfiguration={
                "IndexDocument": {"Suffix": "index.html"},
                "ErrorDocument": {"Key": "error.html"},
                "RoutingRules": [
                    {
                        "Condition": {"KeyPrefixEquals": "docs/"},
                        "Redirect": {"ReplaceKeyPrefixWith": "documents/"},
                    },
                    {
                        "Condition": {"HttpErrorCodeReturnedEquals": "404"},
                        "Redirect": {
                            "HostName": "example.com",
                            "Protocol": "https",
                            "ReplaceKeyWith": "missing.html",
                            "HttpRedirectCode": "302",
                        },
                    },
                ],
            },
        )
        s3.put_bucket_logging(
            Bucket=name,
            BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": "logs-target", "TargetPrefix": "full/"}},
        )
        policy = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": ["arn:aws:s3:::%s" % name, "arn:aws:s3:::%s/*" % name],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            }
        )
        s3.put_bucket_policy(Bucket=name, Policy=policy)
        s3.put_bucket_tagging(
            Bucket=name,
            Tagging={"TagSet": [{"Key": "team", "Value": "storage"}, {"Key": "rectify:exempt", "Value": ""}]},
        )
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_accelerate_configuration(
            Bucket=name, AccelerateConfiguration={"Status": "Enabled"}
        )
        return policy

    def test_a_bucket_with_nothing_set(self):
        before = time.time()
        self.bucket("plain-bucket")
        created = self.client("s3").list_buckets()["Buckets"][0]["CreationDate"].timestamp()
        item = self.item("plain-bucket")
        after = time.time()
        self.assertEqual(item["version"], "1.3")
        self.assertEqual(item["accountId"], ACCOUNT)
        self.assertEqual(item["configurationItemStatus"], "OK")
        self.assertEqual(item["arn"], "arn:aws:s3:::plain-bucket")
        self.assertEqual(item["resourceType"], BUCKET)
        self.assertEqual((item["resourceId"], item["resourceName"]), ("plain-bucket", "plain-bucket"))
        self.assertEqual((item["awsRegion"], item["availabilityZone"]), ("us-east-1", "Regional"))
        self.assertLessEqual(before - 0.001, item["configurationItemCaptureTime"])
        self.assertLessEqual(item["configurationItemCaptureTime"], after + 0.001)
        self.assertAlmostEqual(item["resourceCreationTime"], created, delta=1.0)
        configuration = json.loads(item["configuration"])
        self.assertEqual(configuration["name"], "plain-bucket")
        self.assertEqual(configuration["owner"], {"id": OWNER})
        self.assertRegex(configuration["creationDate"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        values = supplementary(item)
        self.assertEqual(set(values), ALWAYS)
        self.assertEqual(
            values["BucketLoggingConfiguration"], {"destinationBucketName": None, "logFilePrefix": None}
        )
        self.assertEqual(values["BucketPolicy"], {"policyText": None})
        self.assertEqual(values["BucketVersioningConfiguration"], {"status": "Off", "isMfaDeleteEnabled": None})
        self.assertEqual(values["IsRequesterPaysEnabled"], False)
        self.assertEqual(values["BucketAccelerateConfiguration"], {"status": None})
        self.assertEqual(values["BucketNotificationConfiguration"], {"configurations": {}})
        self.assertEqual(
            values["AccessControlList"],
            {
                "grantSet": None,
                "grantList": [OWNER_FULL_CONTROL],
                "owner": {"displayName": None, "id": OWNER},
                "isRequesterCharged": False,
            },
        )

    def test_a_bucket_with_everything_set_reads_back_as_set(self):
        policy = self.full_bucket()
        values = supplementary(self.item("full-bucket"))
        self.assertEqual(
            values["PublicAccessBlockConfiguration"],
            {
                "blockPublicAcls": True,
                "ignorePublicAcls": False,
                "blockPublicPolicy": True,
                "restrictPublicBuckets": False,
            },
        )
        self.assertEqual(
            values["ServerSideEncryptionConfiguration"],
            {
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {
                            "sseAlgorithm": "aws:kms",
                            "kmsMasterKeyID": KMS_KEY,
                        },
                        "bucketKeyEnabled": True,
                    }
                ]
            },
        )
        self.assertEqual(
            values["BucketWebsiteConfiguration"],
            {
                "indexDocumentSuffix": "index.html",
                "errorDocument": "error.html",
                "redirectAllRequestsTo": None,
                "routingRules": [
                    {
                        "condition": {"keyPrefixEquals": "docs/", "httpErrorCodeReturnedEquals": None},
                        "redirect": {
                            "protocol": None,
                            "hostName": None,
                            "replaceKeyPrefixWith": "documents/",
                            "replaceKeyWith": None,
                            "httpRedirectCode": None,
                        },
                    },
                    {
                        "condition": {"keyPrefixEquals": None, "httpErrorCodeReturnedEquals": "404"},
                        "redirect": {
                            "protocol": "https",
                            "hostName": "example.com",
                            "replaceKeyPrefixWith": None,
                            "replaceKeyWith": "missing.html",
                            "httpRedirectCode": "302",
                        },
                    },
                ],
            },
        )
        self.assertEqual(
            values["BucketLoggingConfiguration"],
            {"destinationBucketName": "logs-target", "logFilePrefix": "full/"},
        )
        self.assertEqual(json.loads(values["BucketPolicy"]["policyText"]), json.loads(policy))
        self.assertEqual(values["BucketVersioningConfiguration"], {"status": "Enabled", "isMfaDeleteEnabled": None})
        self.assertEqual(values["BucketAccelerateConfiguration"], {"status": "Enabled"})
        self.assertEqual(
            values["AccessControlList"]["grantList"],
            [OWNER_FULL_CONTROL, {"grantee": "AllUsers", "permission": "Read"}],
        )

    def test_tags_are_in_the_history_item_and_filtered_out_of_batch_get(self):
        self.full_bucket()
        tags = {"team": "storage", "rectify:exempt": ""}
        batch = self.item("full-bucket")
        self.assertNotIn("BucketTaggingConfiguration", batch["supplementaryConfiguration"])
        self.assertNotIn("tags", batch)
        history = self.history_item("full-bucket")
        self.assertEqual(history["tags"], tags)
        self.assertEqual(supplementary(history)["BucketTaggingConfiguration"], {"tagSets": [{"tags": tags}]})
        self.assertEqual(
            supplementary(history)["PublicAccessBlockConfiguration"],
            supplementary(batch)["PublicAccessBlockConfiguration"],
        )

    def test_a_website_redirecting_all_requests(self):
        s3 = self.bucket("redirect-bucket")
        s3.put_bucket_website(
            Bucket="redirect-bucket",
            WebsiteConfiguration={"RedirectAllRequestsTo": {"HostName": "example.org", "Protocol": "https"}},
        )
        self.assertEqual(
            supplementary(self.item("redirect-bucket"))["BucketWebsiteConfiguration"],
            {
                "indexDocumentSuffix": None,
                "errorDocument": None,
                "redirectAllRequestsTo": {"hostName": "example.org", "protocol": "https"},
                "routingRules": [],
            },
        )

    def test_sse_s3_and_dsse_without_a_key_or_bucket_key(self):
        s3 = self.bucket("sse-s3")
        self.bucket("sse-dsse")
        for name, algorithm in (("sse-s3", "AES256"), ("sse-dsse", "aws:kms:dsse")):
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": algorithm}}]
                },
            )
            self.assertEqual(
                supplementary(self.item(name))["ServerSideEncryptionConfiguration"],
                {
                    "rules": [
                        {
                            "applyServerSideEncryptionByDefault": {
                                "sseAlgorithm": algorithm,
                                "kmsMasterKeyID": None,
                            },
                            "bucketKeyEnabled": False,
                        }
                    ]
                },
            )
        s3.delete_bucket_encryption(Bucket="sse-s3")
        self.assertNotIn("ServerSideEncryptionConfiguration", supplementary(self.item("sse-s3")))

    def test_every_canned_acl(self):
        for acl, grants in CANNED.items():
            with self.subTest(acl=acl):
                self.bucket("acl-" + acl, ACL=acl)
                got = supplementary(self.item("acl-" + acl))["AccessControlList"]
                self.assertEqual(got["grantList"], [OWNER_FULL_CONTROL] + grants)
                self.assertEqual(got["owner"], {"displayName": None, "id": OWNER})

    def test_grants_set_with_an_access_control_policy(self):
        s3 = self.bucket("acl-policy")
        other = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
        groups = "http://acs.amazonaws.com/groups/"

        def grant(grantee, permission):
            return {"Grantee": grantee, "Permission": permission}

        s3.put_bucket_acl(
            Bucket="acl-policy",
            AccessControlPolicy={
                "Owner": {"ID": OWNER},
                "Grants": [
                    grant({"Type": "CanonicalUser", "ID": OWNER}, "FULL_CONTROL"),
                    grant({"Type": "CanonicalUser", "ID": other, "DisplayName": "partner"}, "READ_ACP"),
                    grant({"Type": "Group", "URI": groups + "global/AllUsers"}, "WRITE_ACP"),
                    grant({"Type": "Group", "URI": groups + "global/AuthenticatedUsers"}, "WRITE"),
                    grant({"Type": "Group", "URI": groups + "s3/LogDelivery"}, "READ"),
                ],
            },
        )
        self.assertEqual(
            supplementary(self.item("acl-policy"))["AccessControlList"]["grantList"],
            [
                OWNER_FULL_CONTROL,
                {"grantee": {"id": other, "displayName": None}, "permission": "ReadAcp"},
                {"grantee": "AllUsers", "permission": "WriteAcp"},
                {"grantee": "AuthenticatedUsers", "permission": "Write"},
                {"grantee": "LogDelivery", "permission": "Read"},
            ],
        )

    def test_every_supplementary_value_is_a_string_holding_json(self):
        self.bucket("plain-bucket")
        self.full_bucket()
        for name in ("plain-bucket", "full-bucket", "logs-target"):
            with self.subTest(bucket=name):
                for item in (self.item(name), self.history_item(name)):
                    for key, value in item["supplementaryConfiguration"].items():
                        self.assertIsInstance(value, str, key)
                        json.loads(value)
                    self.assertIsInstance(json.loads(item["supplementaryConfiguration"]["AccessControlList"]), str)

    def test_boto3_parses_the_items_with_the_models_types(self):
        self.full_bucket()
        answer, _ = self.batch_get(["full-bucket", "logs-target"])
        self.assertEqual(answer["unprocessedResourceKeys"], [])
        items = {i["resourceName"]: i for i in answer["baseConfigurationItems"]}
        self.assertEqual(set(items), {"full-bucket", "logs-target"})
        for item in items.values():
            self.assertGreater(item["configurationItemCaptureTime"].year, 2000)
            self.assertGreater(item["resourceCreationTime"].year, 2000)
            self.assertIsInstance(item["configuration"], str)
            self.assertTrue(all(isinstance(v, str) for v in item["supplementaryConfiguration"].values()))

    def test_the_shape_check_refuses_what_moto_sent(self):
        shape = _model.shape_for("BaseConfigurationItem")
        moto_item = {
            "configurationItemCaptureTime": "2024-01-01 00:00:00+00:00",
            "supplementaryConfiguration": {"BucketPolicy": {"policyText": None}},
            "configurationItemStatus": "ResourceDiscovered",
            "tags": {},
        }
        errors = shape_errors(moto_item, shape)
        self.assertEqual(len(errors), 3, errors)

    def test_property_paths_are_in_aws_configs_schema(self):
        self.full_bucket()
        self.bucket("redirect-bucket").put_bucket_website(
            Bucket="redirect-bucket",
            WebsiteConfiguration={"RedirectAllRequestsTo": {"HostName": "example.org", "Protocol": "https"}},
        )
        names = (
            "PublicAccessBlockConfiguration",
            "ServerSideEncryptionConfiguration",
            "BucketWebsiteConfiguration",
            "BucketLoggingConfiguration",
            "BucketVersioningConfiguration",
        )
        self.assertLessEqual(set(names), set(supplementary(self.item("full-bucket"))))
        for bucket in ("full-bucket", "redirect-bucket"):
            values = supplementary(self.item(bucket))
            for name in set(names) & set(values):
                for path in property_paths(values[name], "supplementaryConfiguration." + name):
                    with self.subTest(bucket=bucket, path=path):
                        self.assertTrue(
                            path in self.properties
                            or any(p.startswith(path + ".") for p in self.properties),
                            path,
                        )

    def test_listing_pages_by_100_and_yields_only_the_regions_buckets(self):
        east = ["east-%03d" % i for i in range(250)]
        west = ["west-%d" % i for i in range(4)]
        for name in east:
            self.bucket(name)
        for name in west:
            self.bucket(name, region="eu-west-1")
        self.bucket("other-account-east", account=OTHER_ACCOUNT)
        config = self.client("config")
        pages, token = [], None
        while True:
            args = {"resourceType": BUCKET, "limit": 100}
            if token:
                args["nextToken"] = token
            page = config.list_discovered_resources(**args)
            pages.append([r["resourceId"] for r in page["resourceIdentifiers"]])
            token = page.get("nextToken")
            if not token:
                break
            self.assertLessEqual(len(pages), 3)
        self.assertEqual([len(p) for p in pages], [100, 100, 50])
        self.assertEqual([n for p in pages for n in p], sorted(east))
        listed = self.client("config", "eu-west-1").list_discovered_resources(resourceType=BUCKET)
        self.assertEqual([r["resourceId"] for r in listed["resourceIdentifiers"]], west)
        self.assertNotIn("nextToken", listed)
        other = self.client("config", account=OTHER_ACCOUNT).list_discovered_resources(resourceType=BUCKET)
        self.assertEqual([r["resourceName"] for r in other["resourceIdentifiers"]], ["other-account-east"])
        with self.assertRaises(ClientError) as e:
            config.list_discovered_resources(resourceType=BUCKET, limit=101)
        self.assertEqual(e.exception.response["Error"]["Code"], "InvalidLimitException")

    def test_batch_get_answers_the_accounts_buckets_of_the_region_only(self):
        east = ["batch-%03d" % i for i in range(99)]
        for name in east:
            self.bucket(name)
        self.bucket("batch-west", region="eu-west-1")
        self.bucket("batch-other-account", account=OTHER_ACCOUNT)
        answer, raw = self.batch_get(east + ["batch-west"])
        self.assertEqual(sorted(i["resourceId"] for i in raw["baseConfigurationItems"]), east)
        self.assertEqual(raw["unprocessedResourceKeys"], [])
        self.assertEqual({i["awsRegion"] for i in raw["baseConfigurationItems"]}, {"us-east-1"})
        answer, raw = self.batch_get(["no-such-bucket", "batch-other-account", "batch-000"])
        self.assertEqual([i["resourceId"] for i in raw["baseConfigurationItems"]], ["batch-000"])
        self.assertEqual(raw["unprocessedResourceKeys"], [])
        west = self.item("batch-west", region="eu-west-1")
        self.assertEqual(west["awsRegion"], "eu-west-1")
        answer, raw = self.batch_get(["batch-other-account"], account=OTHER_ACCOUNT)
        self.assertEqual([i["accountId"] for i in raw["baseConfigurationItems"]], [OTHER_ACCOUNT])


if __name__ == "__main__":
    unittest.main()
