"""Tests of the IAM Access Analyzer stand-in server (plain unittest), with
boto3 as the client and moto as the STS that names an access key's account.

Run from the repository root with the venv made by scripts/venv:
    .venv/bin/python -m unittest discover -s tests/standins -v
"""

import json
import os
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

import boto3
import botocore.config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(HERE, "accessanalyzer_standin.py")
MOTO = os.path.join(os.path.dirname(sys.executable), "moto_server")
CONFIG = botocore.config.Config(retries={"max_attempts": 1})


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def post(url, path, body):
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


class AccessAnalyzerStandinTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        port = free_port()
        cls.moto_url = "http://127.0.0.1:%d" % port
        cls.moto = subprocess.Popen(
            [MOTO, "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(cls.moto_url + "/moto-api/", timeout=2)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.time() > deadline:
                    stop(cls.moto)
                    raise RuntimeError("moto did not start")
                time.sleep(0.2)
        cls.proc = subprocess.Popen(
            [sys.executable, "-u", STANDIN, "--port", "0", "--moto-url", cls.moto_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = cls.proc.stdout.readline().strip()
        if not line.startswith("READY http://"):
            stop(cls.proc)
            stop(cls.moto)
            raise RuntimeError("stand-in did not start: %r" % line)
        cls.url = line.split()[1]

    @classmethod
    def tearDownClass(cls):
        stop(cls.proc)
        cls.proc.stdout.close()
        stop(cls.moto)

    def setUp(self):
        post(self.url, "/_standin/reset", {})

    def client(self, region="us-east-1", **creds):
        creds = creds or {"aws_access_key_id": "AKIASTANDINTEST00001", "aws_secret_access_key": "x"}
        return boto3.client("accessanalyzer", endpoint_url=self.url, region_name=region, config=CONFIG, **creds)

    def role_credentials(self, account):
        sts = boto3.client(
            "sts",
            endpoint_url=self.moto_url,
            region_name="us-east-1",
            aws_access_key_id="AKIASTANDINTEST00001",
            aws_secret_access_key="x",
        )
        c = sts.assume_role(RoleArn="arn:aws:iam::%s:role/rectify" % account, RoleSessionName="test")["Credentials"]
        return {
            "aws_access_key_id": c["AccessKeyId"],
            "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"],
        }

    def test_analyzers_are_kept_per_account_and_region(self):
        status, body = post(
            self.url,
            "/_standin/analyzers",
            {"account": "111122223333", "region": "eu-west-1", "name": "external", "type": "ACCOUNT"},
        )
        self.assertEqual(status, 200, body)
        self.assertEqual(body["arn"], "arn:aws:access-analyzer:eu-west-1:111122223333:analyzer/external")
        role = self.role_credentials("111122223333")
        found = self.client("eu-west-1", **role).list_analyzers()["analyzers"]
        self.assertEqual([(a["name"], a["type"], a["status"]) for a in found], [("external", "ACCOUNT", "ACTIVE")])
        # Another region of the account, and another account, have none.
        self.assertEqual(self.client("eu-west-2", **role).list_analyzers()["analyzers"], [])
        self.assertEqual(self.client("eu-west-1").list_analyzers()["analyzers"], [])
        other = self.role_credentials("444455556666")
        self.assertEqual(self.client("eu-west-1", **other).list_analyzers()["analyzers"], [])

    def test_type_filter_and_paging(self):
        for i, kind in enumerate(["ACCOUNT", "ACCOUNT_UNUSED_ACCESS", "ACCOUNT", "ORGANIZATION"]):
            post(self.url, "/_standin/analyzers", {"name": "a%d" % i, "type": kind, "status": "DISABLED"})
        aa = self.client()
        self.assertEqual([a["name"] for a in aa.list_analyzers(type="ACCOUNT")["analyzers"]], ["a0", "a2"])
        first = aa.list_analyzers(maxResults=3)
        self.assertEqual(len(first["analyzers"]), 3)
        rest = aa.list_analyzers(maxResults=3, nextToken=first["nextToken"])
        self.assertEqual([a["name"] for a in rest["analyzers"]], ["a3"])
        self.assertNotIn("nextToken", rest)
        pages = aa.get_paginator("list_analyzers").paginate(PaginationConfig={"PageSize": 1})
        self.assertEqual(sum(len(p["analyzers"]) for p in pages), 4)

    def test_requests_off_the_model_are_refused(self):
        # A type the model does not list (sent without the client's own validation).
        raw = boto3.client(
            "accessanalyzer",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="AKIASTANDINTEST00001",
            aws_secret_access_key="x",
            config=botocore.config.Config(parameter_validation=False, retries={"max_attempts": 1}),
        )
        with self.assertRaises(ClientError) as err:
            raw.list_analyzers(type="EVERYTHING")
        self.assertEqual(err.exception.response["Error"]["Code"], "ValidationException")
        # Unsigned: refused before anything else.
        try:
            urllib.request.urlopen(self.url + "/analyzer", timeout=10)
            self.fail("an unsigned request was answered")
        except urllib.error.HTTPError as e:
            self.assertEqual(e.code, 403)
        # Signed for another service.
        request = urllib.request.Request(
            self.url + "/analyzer",
            headers={
                "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAX/20260101/us-east-1/securityhub/aws4_request, "
                "SignedHeaders=host, Signature=" + "0" * 64
            },
        )
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(request, timeout=10)
        self.assertEqual(e.exception.code, 403)
        # An operation not emulated is said so.
        with self.assertRaises(ClientError) as err:
            self.client().get_analyzer(analyzerName="a0")
        self.assertEqual(err.exception.response["Error"]["Code"], "StandinNotImplemented")
        # The seeding endpoint checks what it is given.
        status, _ = post(self.url, "/_standin/analyzers", {"name": "x", "type": "ACCOUNT", "status": "ON"})
        self.assertEqual(status, 400)
        status, _ = post(self.url, "/_standin/analyzers", {"name": "bad name"})
        self.assertEqual(status, 400)
        status, _ = post(self.url, "/_standin/analyzers", {"name": "dup"})
        status, _ = post(self.url, "/_standin/analyzers", {"name": "dup"})
        self.assertEqual(status, 409)

    def test_requests_are_recorded(self):
        self.client("ap-south-1").list_analyzers(type="ORGANIZATION")
        with urllib.request.urlopen(self.url + "/_standin/requests", timeout=10) as answer:
            requests = json.load(answer)["requests"]
        self.assertEqual(len(requests), 1)
        self.assertEqual(requests[0]["operation"], "ListAnalyzers")
        self.assertEqual(requests[0]["region"], "ap-south-1")
        self.assertEqual(requests[0]["account"], "123456789012")
        self.assertEqual(requests[0]["query"], "type=ORGANIZATION")
        self.assertEqual(requests[0]["status"], 200)


if __name__ == "__main__":
    unittest.main()
