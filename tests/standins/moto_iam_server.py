"""moto server (the pinned moto) with IAM enforcement that authorises the way
AWS does where moto 5.2.5 does not, so that a policy written for AWS can be
tested as it is:

- S3 Block Public Access of a bucket: moto checks `s3:ListBucket` (GET) and
  `s3:CreateBucket` (PUT), because its action table spells the query key
  `public_access_block`; AWS checks `s3:GetBucketPublicAccessBlock`, and
  `s3:PutBucketPublicAccessBlock` for both PutPublicAccessBlock and
  DeletePublicAccessBlock (there is no IAM action of its own for the delete).
- S3 default encryption of a bucket (`?encryption`): moto has no entry for
  it and checks `s3:ListBucket` (GET), `s3:CreateBucket` (PUT) and
  `s3:DeleteBucket` (DELETE); AWS checks `s3:GetEncryptionConfiguration`
  (GetBucketEncryption) and `s3:PutEncryptionConfiguration`
  (PutBucketEncryption and DeleteBucketEncryption). `?ownershipControls`
  likewise: `s3:GetBucketOwnershipControls`,
  `s3:PutBucketOwnershipControls`.
- The account's Block Public Access (S3 Control): moto checks the
  operation's name (`s3:GetPublicAccessBlock`, `s3:PutPublicAccessBlock`,
  `s3:DeletePublicAccessBlock`); AWS checks
  `s3:GetAccountPublicAccessBlock`, and `s3:PutAccountPublicAccessBlock`
  for both PutPublicAccessBlock and DeletePublicAccessBlock (AWS's Service
  Authorization Reference for Amazon S3).
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

for key, method, action in (
    ("publicAccessBlock", "GET", "GetBucketPublicAccessBlock"),
    ("publicAccessBlock", "PUT", "PutBucketPublicAccessBlock"),
    ("publicAccessBlock", "DELETE", "PutBucketPublicAccessBlock"),
    ("encryption", "GET", "GetEncryptionConfiguration"),
    ("encryption", "PUT", "PutEncryptionConfiguration"),
    ("encryption", "DELETE", "PutEncryptionConfiguration"),
    ("ownershipControls", "GET", "GetBucketOwnershipControls"),
    ("ownershipControls", "PUT", "PutBucketOwnershipControls"),
    ("ownershipControls", "DELETE", "PutBucketOwnershipControls"),
):
    # Added last, so it wins over the DEFAULT entry in moto's lookup.
    s3_responses.ACTION_MAP["BUCKET"][method][key] = action

from moto.s3control.responses import S3ControlResponse  # noqa: E402

# The IAM action of each S3 Control operation whose name is not its IAM
# action; moto dispatches by the operation's name, so only the check sees
# these.
S3CONTROL_IAM_ACTIONS = {
    "GetPublicAccessBlock": "GetAccountPublicAccessBlock",
    "PutPublicAccessBlock": "PutAccountPublicAccessBlock",
    "DeletePublicAccessBlock": "PutAccountPublicAccessBlock",
}
_s3control_authorize = S3ControlResponse._authenticate_and_authorize_normal_action


def _s3control_authorize_as_aws(self, resource="*"):
    operation = self._get_action()
    self._get_action = lambda: S3CONTROL_IAM_ACTIONS.get(operation, operation)
    try:
        return _s3control_authorize(self, resource)
    finally:
        del self._get_action


S3ControlResponse._authenticate_and_authorize_normal_action = _s3control_authorize_as_aws

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
