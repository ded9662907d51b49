"""Writes the EKS token vectors of rectify-kube's eks.rs tests with botocore's
presigner, the code `aws eks get-token` runs: an STS client presigns
GetCallerIdentity for 60 s with the header x-k8s-aws-id signed in.

Run with a Python that has botocore: python make-vectors.py
"""
import base64
import datetime
from unittest import mock

import botocore.session
from botocore.credentials import Credentials

AT = datetime.datetime(2026, 1, 1, 0, 0, 0)


def presign(access, secret, session_token, region, cluster):
    session = botocore.session.get_session()
    client = session.create_client(
        "sts",
        region_name=region,
        endpoint_url=f"https://sts.{region}.amazonaws.com",
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        aws_session_token=session_token,
    )

    def add_header(request, **kwargs):
        request.headers["x-k8s-aws-id"] = cluster

    client.meta.events.register("before-sign.sts.GetCallerIdentity", add_header)
    with mock.patch("botocore.auth.get_current_datetime", return_value=AT):
        return client.generate_presigned_url(
            "get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET"
        )


url = presign("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, "us-east-1", "prod")
open("eks-token-url.txt", "w").write(url)
token = "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
open("eks-token.txt", "w").write(token)
url = presign("ASIAEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session/token+x=", "eu-west-1", "c1")
open("eks-token-session-url.txt", "w").write(url)
