"""Tests of the Security Hub stand-in server (plain unittest).

Run from the repository root with the venv made by scripts/venv:
    .venv/bin/python -m unittest discover -s tests/standins -v
"""

import json
import os
import subprocess
import sys
import unittest
import urllib.error
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(HERE, "securityhub_standin.py")
PRODUCT_ARN = "arn:aws:securityhub:us-east-1::product/aws/securityhub"
CREDS = botocore.credentials.Credentials("x", "y")


def start_standin(*extra):
    proc = subprocess.Popen(
        [sys.executable, "-u", STANDIN, "--host", "127.0.0.1", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline().strip()
    if not line.startswith("READY http://"):
        proc.kill()
        raise RuntimeError("stand-in did not start: %r" % line)
    return proc, line.split()[1]


def stop_standin(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()


def client(url, validate=True):
    return boto3.client(
        "securityhub",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=botocore.config.Config(parameter_validation=validate, retries={"max_attempts": 1}),
    )


def finding(fid, **extra):
    f = {
        "SchemaVersion": "2018-10-08",
        "Id": fid,
        "ProductArn": PRODUCT_ARN,
        "GeneratorId": "aws-foundational-security-best-practices/v/1.0.0/S3.8",
        "AwsAccountId": "123456789012",
        "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
        "CreatedAt": "2024-01-01T00:00:00.000Z",
        "UpdatedAt": "2024-01-01T00:00:00.000Z",
        "Severity": {"Label": "HIGH"},
        "Title": "S3 general purpose buckets should block public access",
        "Description": "Bucket allows public access",
        "Resources": [{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::rectify-test-bucket"}],
    }
    f.update(extra)
    return f


def raw_request(url, method, path, body, signed=True):
    """Sends body as-is (no client-side validation). Returns (status, headers, json)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if signed:
        req = botocore.awsrequest.AWSRequest(method=method, url=url + path, data=data, headers=headers)
        botocore.auth.SigV4Auth(CREDS, "securityhub", "us-east-1").add_auth(req)
        headers = dict(req.headers.items())
    req = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read() or b"{}")


class StandinTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.url = start_standin()

    @classmethod
    def tearDownClass(cls):
        stop_standin(cls.proc)

    def setUp(self):
        status, _, _ = raw_request(self.url, "POST", "/_standin/reset", {}, signed=False)
        self.assertEqual(status, 200)
        self.sh = client(self.url)
        self.loose = client(self.url, validate=False)

    def assertInvalidInput(self, call, needle):
        with self.assertRaises(ClientError) as ctx:
            call()
        err = ctx.exception.response
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertEqual(err["Error"]["Code"], "InvalidInputException")
        self.assertEqual(err["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-errortype"), "InvalidInputException")
        self.assertIn(needle, err["Error"]["Message"])

    def recorded(self):
        with urllib.request.urlopen(self.url + "/_standin/requests", timeout=10) as resp:
            return json.load(resp)["requests"]

    # -- valid traffic ------------------------------------------------------

    def test_update_then_read_back(self):
        out = self.sh.batch_import_findings(Findings=[finding("f-1"), finding("f-2")])
        self.assertEqual((out["SuccessCount"], out["FailedCount"]), (2, 0))

        out = self.sh.batch_update_findings(
            FindingIdentifiers=[{"Id": "f-1", "ProductArn": PRODUCT_ARN}],
            Workflow={"Status": "RESOLVED"},
            Note={"Text": "Remediated by rectify", "UpdatedBy": "rectify"},
            UserDefinedFields={"rectify": "fixed"},
        )
        self.assertEqual(out["ProcessedFindings"], [{"Id": "f-1", "ProductArn": PRODUCT_ARN}])
        self.assertEqual(out["UnprocessedFindings"], [])

        got = self.sh.get_findings(Filters={"Id": [{"Value": "f-1", "Comparison": "EQUALS"}]})["Findings"]
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["Workflow"]["Status"], "RESOLVED")
        self.assertEqual(got[0]["Note"]["Text"], "Remediated by rectify")
        self.assertEqual(got[0]["Note"]["UpdatedBy"], "rectify")
        self.assertEqual(got[0]["UserDefinedFields"], {"rectify": "fixed"})
        self.assertEqual(got[0]["Title"], finding("f-1")["Title"])

        resolved = self.sh.get_findings(Filters={"WorkflowStatus": [{"Value": "RESOLVED", "Comparison": "EQUALS"}]})
        self.assertEqual([f["Id"] for f in resolved["Findings"]], ["f-1"])
        new = self.sh.get_findings(Filters={"WorkflowStatus": [{"Value": "NEW", "Comparison": "EQUALS"}]})
        self.assertEqual([f["Id"] for f in new["Findings"]], ["f-2"])
        self.assertEqual(len(self.sh.get_findings()["Findings"]), 2)

    def test_severity_and_scores(self):
        self.sh.batch_import_findings(Findings=[finding("f-3")])
        self.sh.batch_update_findings(
            FindingIdentifiers=[{"Id": "f-3", "ProductArn": PRODUCT_ARN}],
            Severity={"Label": "LOW"},
            VerificationState="TRUE_POSITIVE",
            Confidence=80,
            Criticality=10,
            Types=["Effects/Data Exposure"],
        )
        f = self.sh.get_findings(Filters={"Id": [{"Value": "f-3", "Comparison": "EQUALS"}]})["Findings"][0]
        self.assertEqual(f["Severity"]["Label"], "LOW")
        self.assertEqual(f["VerificationState"], "TRUE_POSITIVE")
        self.assertEqual((f["Confidence"], f["Criticality"]), (80, 10))
        self.assertEqual(f["Types"], ["Effects/Data Exposure"])

    def test_unknown_finding_is_stored_when_not_strict(self):
        out = self.sh.batch_update_findings(
            FindingIdentifiers=[{"Id": "never-imported", "ProductArn": PRODUCT_ARN}],
            Workflow={"Status": "SUPPRESSED"},
        )
        self.assertEqual(out["ProcessedFindings"], [{"Id": "never-imported", "ProductArn": PRODUCT_ARN}])
        got = self.sh.get_findings(Filters={"Id": [{"Value": "never-imported", "Comparison": "EQUALS"}]})
        self.assertEqual(got["Findings"][0]["Workflow"]["Status"], "SUPPRESSED")

    def test_requests_are_recorded_without_secrets(self):
        self.sh.batch_update_findings(
            FindingIdentifiers=[{"Id": "r-1", "ProductArn": PRODUCT_ARN}], Workflow={"Status": "NOTIFIED"}
        )
        reqs = self.recorded()
        self.assertEqual(len(reqs), 1)
        self.assertEqual(reqs[0]["operation"], "BatchUpdateFindings")
        self.assertTrue(reqs[0]["valid"])
        self.assertEqual(reqs[0]["body"]["Workflow"], {"Status": "NOTIFIED"})
        self.assertNotIn("AWS4-HMAC-SHA256", json.dumps(reqs))

    # -- invalid traffic ----------------------------------------------------

    def test_missing_finding_identifiers(self):
        self.assertInvalidInput(
            lambda: self.loose.batch_update_findings(Workflow={"Status": "RESOLVED"}), "FindingIdentifiers"
        )

    def test_bad_workflow_status(self):
        self.assertInvalidInput(
            lambda: self.loose.batch_update_findings(
                FindingIdentifiers=[{"Id": "f-1", "ProductArn": PRODUCT_ARN}], Workflow={"Status": "DONE"}
            ),
            "Workflow.Status",
        )

    def test_note_without_updated_by(self):
        self.assertInvalidInput(
            lambda: self.loose.batch_update_findings(
                FindingIdentifiers=[{"Id": "f-1", "ProductArn": PRODUCT_ARN}], Note={"Text": "x"}
            ),
            "UpdatedBy",
        )

    def test_out_of_range_and_blank_values(self):
        ident = [{"Id": "f-1", "ProductArn": PRODUCT_ARN}]
        self.assertInvalidInput(lambda: self.loose.batch_update_findings(FindingIdentifiers=ident, Confidence=101), "Confidence")
        self.assertInvalidInput(
            lambda: self.loose.batch_update_findings(FindingIdentifiers=[{"Id": " ", "ProductArn": PRODUCT_ARN}]),
            "FindingIdentifiers[0].Id",
        )
        self.assertInvalidInput(
            lambda: self.loose.get_findings(Filters={"Id": [{"Value": "f-1", "Comparison": "LIKE"}]}), "Comparison"
        )

    def test_raw_invalid_bodies(self):
        for body, needle in (
            ({"Workflow": {"Status": "RESOLVED"}}, "FindingIdentifiers"),
            ({"FindingIdentifiers": [{"Id": "a", "ProductArn": PRODUCT_ARN}], "Bogus": 1}, "Bogus"),
            ({"FindingIdentifiers": [{"Id": "a", "ProductArn": PRODUCT_ARN}], "Confidence": "5"}, "Confidence"),
            (b"{not json", "JSON"),
        ):
            status, headers, out = raw_request(self.url, "PATCH", "/findings/batchupdate", body)
            self.assertEqual(status, 400, out)
            self.assertEqual(out["__type"], "InvalidInputException")
            self.assertEqual(headers["x-amzn-ErrorType"], "InvalidInputException")
            self.assertIn(needle, out["Message"])
        self.assertFalse(any(r["valid"] for r in self.recorded()))

    def test_missing_authorization_is_403(self):
        status, headers, out = raw_request(
            self.url,
            "PATCH",
            "/findings/batchupdate",
            {"FindingIdentifiers": [{"Id": "a", "ProductArn": PRODUCT_ARN}]},
            signed=False,
        )
        self.assertEqual(status, 403)
        self.assertEqual(out["__type"], "UnrecognizedClientException")
        self.assertEqual(headers["x-amzn-ErrorType"], "UnrecognizedClientException")

    def test_date_filters_and_sorting_by_update_time(self):
        findings = []
        for i, updated in enumerate(["2026-12-02T10:00:02.000Z", "2026-12-02T10:00:00.000Z", "2026-12-02T10:00:01.000Z"]):
            f = finding("dated-%d" % i)
            f["UpdatedAt"] = updated
            findings.append(f)
        self.sh.batch_import_findings(Findings=findings)
        got = self.sh.get_findings(
            Filters={
                "UpdatedAt": [{"Start": "2026-12-02T10:00:00.500Z", "End": "2026-12-02T10:00:05Z"}],
                "Id": [{"Value": "dated-", "Comparison": "PREFIX"}],
            },
            SortCriteria=[{"Field": "UpdatedAt", "SortOrder": "asc"}],
        )["Findings"]
        self.assertEqual([f["Id"] for f in got], ["dated-2", "dated-0"])

    def test_unemulated_filter_is_loud(self):
        with self.assertRaises(ClientError) as ctx:
            self.sh.get_findings(Filters={"CreatedAt": [{"DateRange": {"Value": 1, "Unit": "DAYS"}}]})
        self.assertEqual(ctx.exception.response["Error"]["Code"], "StandinNotImplemented")

    # -- security controls ----------------------------------------------------

    def test_controls_hold_aws_defaults(self):
        out = self.sh.batch_get_security_controls(SecurityControlIds=["EC2.18", "IAM.7", "EC2.19", "EC2.99"])
        by_id = {c["SecurityControlId"]: c for c in out["SecurityControls"]}
        self.assertEqual(
            by_id["EC2.18"]["Parameters"]["authorizedTcpPorts"],
            {"ValueType": "DEFAULT", "Value": {"IntegerList": [80, 443]}},
        )
        self.assertEqual(by_id["EC2.18"]["Parameters"]["authorizedUdpPorts"], {"ValueType": "DEFAULT"})
        iam = by_id["IAM.7"]["Parameters"]
        self.assertEqual(iam["MinimumPasswordLength"]["Value"], {"Integer": 8})
        self.assertEqual(iam["RequireSymbols"]["Value"], {"Boolean": True})
        self.assertNotIn("Value", iam["MaxPasswordAge"])
        self.assertNotIn("Parameters", by_id["EC2.19"])
        self.assertTrue(by_id["EC2.19"]["SecurityControlArn"].endswith(":security-control/EC2.19"))
        self.assertEqual([u["SecurityControlId"] for u in out["UnprocessedIds"]], ["EC2.99"])

    def test_customise_then_read_back_then_default_again(self):
        self.sh.update_security_control(
            SecurityControlId="EC2.18",
            Parameters={"authorizedTcpPorts": {"ValueType": "CUSTOM", "Value": {"IntegerList": [443, 8443]}}},
            LastUpdateReason="web tier",
        )
        got = self.sh.batch_get_security_controls(SecurityControlIds=["EC2.18"])["SecurityControls"][0]
        self.assertEqual(
            got["Parameters"]["authorizedTcpPorts"], {"ValueType": "CUSTOM", "Value": {"IntegerList": [443, 8443]}}
        )
        self.assertEqual(got["LastUpdateReason"], "web tier")
        # By ARN, back to AWS's default.
        self.sh.update_security_control(
            SecurityControlId=got["SecurityControlArn"],
            Parameters={"authorizedTcpPorts": {"ValueType": "DEFAULT"}},
        )
        got = self.sh.batch_get_security_controls(SecurityControlIds=["EC2.18"])["SecurityControls"][0]
        self.assertEqual(got["Parameters"]["authorizedTcpPorts"]["Value"], {"IntegerList": [80, 443]})

    def test_reset_restores_defaults(self):
        self.sh.update_security_control(
            SecurityControlId="IAM.7",
            Parameters={"MaxPasswordAge": {"ValueType": "CUSTOM", "Value": {"Integer": 60}}},
        )
        status, _, _ = raw_request(self.url, "POST", "/_standin/reset", {}, signed=False)
        self.assertEqual(status, 200)
        got = self.sh.batch_get_security_controls(SecurityControlIds=["IAM.7"])["SecurityControls"][0]
        self.assertEqual(got["Parameters"]["MaxPasswordAge"], {"ValueType": "DEFAULT"})

    def test_bad_control_updates(self):
        self.assertInvalidInput(
            lambda: self.sh.update_security_control(
                SecurityControlId="EC2.18",
                Parameters={"allowedPorts": {"ValueType": "CUSTOM", "Value": {"IntegerList": [1]}}},
            ),
            "has no parameter allowedPorts",
        )
        self.assertInvalidInput(
            lambda: self.sh.update_security_control(
                SecurityControlId="IAM.7",
                Parameters={"MinimumPasswordLength": {"ValueType": "CUSTOM", "Value": {"Boolean": True}}},
            ),
            "takes a Value of type Integer",
        )
        self.assertInvalidInput(
            lambda: self.loose.update_security_control(
                SecurityControlId="IAM.7",
                Parameters={"MinimumPasswordLength": {"ValueType": "SOMETIMES"}},
            ),
            "ValueType",
        )
        with self.assertRaises(ClientError) as ctx:
            self.sh.update_security_control(
                SecurityControlId="EC2.99", Parameters={"x": {"ValueType": "DEFAULT"}}
            )
        self.assertEqual(ctx.exception.response["Error"]["Code"], "ResourceNotFoundException")


def ocsf_finding(uid, account="123456789012", control="S3.8", resource="arn:aws:s3:::rectify-test-bucket"):
    return {
        "class_uid": 2003,
        "metadata": {"uid": uid, "product": {"uid": "arn:aws:securityhub:us-east-1::productv2/aws/securityhub"}},
        "finding_info": {"uid": "fi-" + uid, "title": "S3 general purpose buckets should block public access"},
        "cloud": {"account": {"uid": account}, "region": "us-east-1", "provider": "AWS"},
        "compliance": {"control": control, "status": "Fail"},
        "resources": [{"uid": resource, "type": "AWS::S3::Bucket"}],
        "status_id": 1,
        "status": "New",
        "severity_id": 4,
        "severity": "High",
    }


class OcsfStandinTest(unittest.TestCase):
    """GetFindingsV2 and BatchUpdateFindingsV2 on OCSF findings."""

    @classmethod
    def setUpClass(cls):
        cls.proc, cls.url = start_standin()

    @classmethod
    def tearDownClass(cls):
        stop_standin(cls.proc)

    def setUp(self):
        status, _, _ = raw_request(self.url, "POST", "/_standin/reset", {}, signed=False)
        self.assertEqual(status, 200)
        self.sh = client(self.url)
        self.loose = client(self.url, validate=False)
        status, _, out = raw_request(
            self.url,
            "POST",
            "/_standin/findings-v2",
            {"Findings": [ocsf_finding("u-1"), ocsf_finding("u-2", account="210987654321", control="EC2.2")]},
            signed=False,
        )
        self.assertEqual((status, out), (200, {"stored": 2}))

    def by_uid(self, uid):
        return {
            "CompositeFilters": [
                {"StringFilters": [{"FieldName": "metadata.uid", "Filter": {"Value": uid, "Comparison": "EQUALS"}}]}
            ]
        }

    def assertValidation(self, call, needle):
        with self.assertRaises(ClientError) as ctx:
            call()
        err = ctx.exception.response
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertEqual(err["Error"]["Code"], "ValidationException")
        self.assertIn(needle, err["Error"]["Message"])

    def test_read_by_metadata_uid_and_other_fields(self):
        out = self.sh.get_findings_v2(Filters=self.by_uid("u-1"), MaxResults=2)
        self.assertEqual([f["metadata"]["uid"] for f in out["Findings"]], ["u-1"])
        out = self.sh.get_findings_v2(
            Filters={
                "CompositeFilters": [
                    {
                        "StringFilters": [
                            {"FieldName": "cloud.account.uid", "Filter": {"Value": "210987654321", "Comparison": "EQUALS"}},
                            {"FieldName": "compliance.control", "Filter": {"Value": "EC2.", "Comparison": "PREFIX"}},
                        ],
                        "Operator": "AND",
                    }
                ]
            }
        )
        self.assertEqual([f["metadata"]["uid"] for f in out["Findings"]], ["u-2"])
        out = self.sh.get_findings_v2(
            Filters={
                "CompositeFilters": [
                    {"StringFilters": [{"FieldName": "resources.uid", "Filter": {"Value": "arn:aws:s3:::rectify-test-bucket", "Comparison": "NOT_EQUALS"}}]}
                ]
            }
        )
        self.assertEqual(out["Findings"], [])
        # Paging.
        first = self.sh.get_findings_v2(MaxResults=1)
        self.assertEqual(len(first["Findings"]), 1)
        second = self.sh.get_findings_v2(MaxResults=1, NextToken=first["NextToken"])
        self.assertEqual(len(second["Findings"]), 1)
        self.assertNotIn("NextToken", second)
        self.assertNotEqual(first["Findings"][0]["metadata"]["uid"], second["Findings"][0]["metadata"]["uid"])

    def test_update_by_metadata_uid_then_read_back(self):
        out = self.sh.batch_update_findings_v2(MetadataUids=["u-1"], StatusId=4, Comment="rectify rule r (a): changed")
        self.assertEqual(out["UnprocessedFindings"], [])
        self.assertEqual([p["MetadataUid"] for p in out["ProcessedFindings"]], ["u-1"])
        f = self.sh.get_findings_v2(Filters=self.by_uid("u-1"))["Findings"][0]
        self.assertEqual((f["status_id"], f["status"]), (4, "Resolved"))
        self.assertEqual(f["comment"], "rectify rule r (a): changed")
        # The other finding is untouched.
        g = self.sh.get_findings_v2(Filters=self.by_uid("u-2"))["Findings"][0]
        self.assertEqual((g["status_id"], g.get("comment")), (1, None))
        # A comment alone leaves the status.
        self.sh.batch_update_findings_v2(MetadataUids=["u-2"], Comment="left in place")
        g = self.sh.get_findings_v2(Filters=self.by_uid("u-2"))["Findings"][0]
        self.assertEqual((g["status_id"], g["comment"]), (1, "left in place"))
        ops = [r for r in recorded_requests(self.url) if r["operation"] == "BatchUpdateFindingsV2"]
        self.assertTrue(ops and all(r["valid"] for r in ops), ops)

    def test_update_by_finding_identifier(self):
        out = self.sh.batch_update_findings_v2(
            FindingIdentifiers=[
                {
                    "CloudAccountUid": "123456789012",
                    "FindingInfoUid": "fi-u-1",
                    "MetadataProductUid": "arn:aws:securityhub:us-east-1::productv2/aws/securityhub",
                }
            ],
            StatusId=3,
        )
        self.assertEqual(len(out["ProcessedFindings"]), 1)
        f = self.sh.get_findings_v2(Filters=self.by_uid("u-1"))["Findings"][0]
        self.assertEqual(f["status"], "Suppressed")

    def test_unknown_findings_are_unprocessed(self):
        out = self.sh.batch_update_findings_v2(MetadataUids=["u-1", "nope"], StatusId=4)
        self.assertEqual([p["MetadataUid"] for p in out["ProcessedFindings"]], ["u-1"])
        self.assertEqual(out["UnprocessedFindings"][0]["MetadataUid"], "nope")
        self.assertEqual(out["UnprocessedFindings"][0]["ErrorCode"], "ResourceNotFoundException")

    def test_requests_the_api_refuses(self):
        self.assertValidation(lambda: self.sh.batch_update_findings_v2(StatusId=4), "MetadataUids or FindingIdentifiers")
        self.assertValidation(
            lambda: self.sh.batch_update_findings_v2(
                MetadataUids=["u-1"],
                FindingIdentifiers=[{"CloudAccountUid": "1", "FindingInfoUid": "2", "MetadataProductUid": "3"}],
                StatusId=4,
            ),
            "together",
        )
        self.assertValidation(lambda: self.sh.batch_update_findings_v2(MetadataUids=["u-1"], StatusId=7), "StatusId")
        self.assertValidation(lambda: self.sh.batch_update_findings_v2(MetadataUids=["u-1"], Comment="x" * 513), "512")
        self.assertValidation(lambda: self.sh.batch_update_findings_v2(MetadataUids=["u-1"]), "Nothing to update")
        # Against the model: a blank comment breaks the pattern, a string
        # status the type.
        self.assertValidation(lambda: self.loose.batch_update_findings_v2(MetadataUids=["u-1"], Comment="  "), "Comment")
        status, _, body = raw_request(
            self.url, "PATCH", "/findingsv2/batchupdatev2", {"MetadataUids": ["u-1"], "StatusId": "RESOLVED"}
        )
        self.assertEqual((status, body["__type"]), (400, "ValidationException"))
        # An unknown filter field is refused by the model; one the stand-in
        # does not emulate is answered loudly.
        status, _, body = raw_request(
            self.url,
            "POST",
            "/findingsv2",
            {"Filters": {"CompositeFilters": [{"StringFilters": [{"FieldName": "no.such", "Filter": {"Value": "x", "Comparison": "EQUALS"}}]}]}},
        )
        self.assertEqual((status, body["__type"]), (400, "ValidationException"))
        with self.assertRaises(ClientError) as ctx:
            self.sh.get_findings_v2(
                Filters={"CompositeFilters": [{"StringFilters": [{"FieldName": "finding_info.title", "Filter": {"Value": "x", "Comparison": "EQUALS"}}]}]}
            )
        self.assertEqual(ctx.exception.response["Error"]["Code"], "StandinNotImplemented")
        # Nothing was changed by the refused requests.
        f = self.sh.get_findings_v2(Filters=self.by_uid("u-1"))["Findings"][0]
        self.assertEqual((f["status_id"], f.get("comment")), (1, None))

    def test_seeding_needs_a_metadata_uid(self):
        status, _, body = raw_request(self.url, "POST", "/_standin/findings-v2", {"Findings": [{"class_uid": 2003}]}, signed=False)
        self.assertEqual(status, 400)
        self.assertIn("metadata.uid", body["Message"])


def recorded_requests(url):
    with urllib.request.urlopen(url + "/_standin/requests", timeout=10) as resp:
        return json.load(resp)["requests"]


class StrictStandinTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.url = start_standin("--strict")

    @classmethod
    def tearDownClass(cls):
        stop_standin(cls.proc)

    def test_unknown_ids_are_unprocessed(self):
        sh = client(self.url)
        sh.batch_import_findings(Findings=[finding("known")])
        out = sh.batch_update_findings(
            FindingIdentifiers=[
                {"Id": "known", "ProductArn": PRODUCT_ARN},
                {"Id": "unknown", "ProductArn": PRODUCT_ARN},
            ],
            Workflow={"Status": "RESOLVED"},
        )
        self.assertEqual(out["ProcessedFindings"], [{"Id": "known", "ProductArn": PRODUCT_ARN}])
        self.assertEqual(len(out["UnprocessedFindings"]), 1)
        un = out["UnprocessedFindings"][0]
        self.assertEqual(un["FindingIdentifier"], {"Id": "unknown", "ProductArn": PRODUCT_ARN})
        self.assertEqual(un["ErrorCode"], "FindingNotFound")
        self.assertEqual(len(sh.get_findings(Filters={"Id": [{"Value": "unknown", "Comparison": "EQUALS"}]})["Findings"]), 0)


if __name__ == "__main__":
    unittest.main()
