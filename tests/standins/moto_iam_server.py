"""moto server (the pinned moto) with IAM enforcement that authorises the way
AWS does where moto 5.2.5 does not, so that a policy written for AWS can be
tested as it is:

- S3 Block Public Access of a bucket: moto checks `s3:ListBucket` (GET) and
  `s3:CreateBucket` (PUT), because its action table spells the query key
  `public_access_block`; AWS checks `s3:GetBucketPublicAccessBlock`, and
  `s3:PutBucketPublicAccessBlock` for both PutPublicAccessBlock and
  DeletePublicAccessBlock (there is no IAM action of its own for the delete).
- EC2 and SNS: moto checks every call against the resource `*`, so a
  statement scoped to ARNs never matches; AWS checks the security group
  (`RevokeSecurityGroupIngress`/`Egress`, `AuthorizeSecurityGroupIngress`/
  `Egress`), the snapshot
  (`ModifySnapshotAttribute`, `DescribeSnapshotAttribute`) and the topic
  (`Publish`) the call names.

Signatures are not verified (see below). Nothing else changes: conditions
other than `StringEquals` on
`sts:ExternalId` are still not evaluated by moto (so `aws:RequestedRegion`,
`s3:ResourceAccount` and the exemption tag's `Null` condition hold in AWS
only), and a trust policy is only checked when the role is in the caller's
account.

Usage: moto_iam_server.py [moto_server arguments]; set
INITIAL_NO_AUTH_ACTION_COUNT (requests served before enforcement starts).
"""

import sys

import moto_ec2_extras
from moto.s3 import responses as s3_responses

moto_ec2_extras.apply()

for method, action in (
    ("GET", "GetBucketPublicAccessBlock"),
    ("PUT", "PutBucketPublicAccessBlock"),
    ("DELETE", "PutBucketPublicAccessBlock"),
):
    # Added last, so it wins over the DEFAULT entry in moto's lookup.
    s3_responses.ACTION_MAP["BUCKET"][method]["publicAccessBlock"] = action

from moto.ec2.responses import EC2Response  # noqa: E402
from moto.sns.responses import SNSResponse  # noqa: E402
from moto.utilities.utils import get_partition  # noqa: E402


def _ec2_resource(self):
    action = self._get_action()
    partition = get_partition(self.region)
    if action in (
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
    ):
        group = self._get_param("GroupId")
        if group:
            return f"arn:{partition}:ec2:{self.region}:{self.current_account}:security-group/{group}"
    if action in ("ModifySnapshotAttribute", "DescribeSnapshotAttribute"):
        snapshot = self._get_param("SnapshotId")
        if snapshot:
            return f"arn:{partition}:ec2:{self.region}::snapshot/{snapshot}"
    return "*"


def _sns_resource(self):
    if self._get_action() == "Publish":
        return self._get_param("TopicArn") or "*"
    return "*"


EC2Response._determine_resource = _ec2_resource
SNSResponse._determine_resource = _sns_resource

# moto recomputes each request's signature from the form body as it parses
# it back, which differs from the AWS SDK for Rust's encoding whenever a
# value holds a space (an SNS message, an EC2 description): such requests
# were refused as unsigned. The key is still looked up (an unknown key is
# refused); what is tested here is authorisation, not SigV4.
from moto.iam.access_control import IAMRequestBase  # noqa: E402

IAMRequestBase.check_signature = lambda self: None

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
