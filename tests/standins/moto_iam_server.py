"""moto server (the pinned moto) with IAM enforcement that authorises the way
AWS does where moto 5.2.5 does not, so that a policy written for AWS can be
tested as it is:

- S3 Block Public Access of a bucket: moto checks `s3:ListBucket` (GET) and
  `s3:CreateBucket` (PUT), because its action table spells the query key
  `public_access_block`; AWS checks `s3:GetBucketPublicAccessBlock`, and
  `s3:PutBucketPublicAccessBlock` for both PutPublicAccessBlock and
  DeletePublicAccessBlock (there is no IAM action of its own for the delete).
- HeadBucket: moto checks `s3:HeadBucket`, which is no IAM action; AWS
  checks `s3:ListBucket`.
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
- Writes scoped to ARNs: moto checks every call of EC2, SNS, RDS, KMS,
  ECR, Redshift, CloudTrail, SSM, CloudWatch, CloudWatch Logs, Lambda, GuardDuty and IAM against the
  resource `*` (SQS and IAM roles aside), so a statement scoped to ARNs
  never matches; AWS checks the resource the call names. Here the writes
  rectify's actions make are checked against that resource: EC2 security
  groups, snapshots, instances (and their tags), subnets, volumes, internet
  gateways, VPCs (flow logs, new security groups), network interfaces; SNS topics (`Publish`, `SetTopicAttributes`); RDS instances
  and snapshots; KMS keys; ECR repositories; Redshift clusters; CloudTrail
  trails; SSM documents and service settings
  (`arn:aws:ssm:REGION:ACCOUNT:servicesetting/ssm/...`); log groups;
  CloudWatch alarms (`PutMetricAlarm`, `DeleteAlarms`:
  `arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME`); IAM users (access keys, console
  passwords); Lambda functions (`AddPermission`, `RemovePermission`);
  GuardDuty detectors (`UpdateDetector`, `DeleteDetector`). Where AWS names several resources (`CreateFlowLogs` the VPC
  and the new flow log) the first is checked.

- CloudWatch: moto names the IAM action after the signing name
  (`monitoring:PutMetricAlarm`); AWS checks `cloudwatch:PutMetricAlarm`.

It answers what the main moto server (`moto_server.py`) answers beyond
moto: the EC2 operations of `moto_ec2_extras.py`, the SSM service-setting
operations of `moto_ssm_extras.py`, CloudWatch in the RPC v2 CBOR
protocol the AWS SDK for Rust speaks (`moto_cbor.py`) and AWS Config's items
for S3 buckets (`moto_config_s3.py`), each call authorised as above.

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
from urllib.parse import unquote

import moto_cbor
import moto_config_s3
import moto_ec2_extras
import moto_ssm_extras
from moto.s3 import responses as s3_responses

moto_ec2_extras.apply()
moto_ssm_extras.apply()
moto_cbor.apply()
moto_config_s3.apply()

for key, method, action in (
    ("DEFAULT", "HEAD", "ListBucket"),
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


def _arn(self, service, resource, region=True, account=True):
    """arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE of this request."""
    return "arn:%s:%s:%s:%s:%s" % (
        get_partition(self.region),
        service,
        self.region if region else "",
        self.current_account if account else "",
        resource,
    )


def _first(self, *names):
    """The first of the request parameters `names` that is set (of a list,
    its first item)."""
    for name in names:
        value = self._get_param(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value:
            return value
    return None


# EC2 writes: the parameter naming the resource, and the ARN's resource part.
EC2_WRITES = {
    "ModifyInstanceMetadataOptions": (("InstanceId",), "instance/%s"),
    "StopInstances": (("InstanceIds",), "instance/%s"),
    "StartInstances": (("InstanceIds",), "instance/%s"),
    "ModifySubnetAttribute": (("SubnetId",), "subnet/%s"),
    "CreateFlowLogs": (("ResourceIds",), "vpc/%s"),
    "DeleteFlowLogs": (("FlowLogIds",), "vpc-flow-log/%s"),
    "DetachInternetGateway": (("InternetGatewayId",), "internet-gateway/%s"),
    "AttachInternetGateway": (("InternetGatewayId",), "internet-gateway/%s"),
    "CreateSnapshot": (("VolumeId",), "volume/%s"),
    "DeleteVolume": (("VolumeId",), "volume/%s"),
    "AttachVolume": (("VolumeId",), "volume/%s"),
    "DetachVolume": (("VolumeId",), "volume/%s"),
    # AWS checks the new group and the VPC: the VPC here.
    "CreateSecurityGroup": (("VpcId",), "vpc/%s"),
    "ModifyNetworkInterfaceAttribute": (("NetworkInterfaceId",), "network-interface/%s"),
}

# CreateTags on an existing resource: its ARN by the id's prefix.
TAGGED = {"i-": "instance/%s"}


def _ec2_resource(self):
    action = self._get_action()
    partition = get_partition(self.region)
    if action in EC2_WRITES:
        names, resource = EC2_WRITES[action]
        value = _first(self, *names)
        if value:
            return _arn(self, "ec2", resource % value)
    if action in ("CopySnapshot", "DeleteSnapshot"):
        snapshot = _first(self, "SourceSnapshotId", "SnapshotId")
        if snapshot:
            return _arn(self, "ec2", "snapshot/%s" % snapshot, account=False)
    if action == "CreateVolume":
        return _arn(self, "ec2", "volume/*")
    if action == "CreateTags":
        tagged = _first(self, "Resources", "ResourceId") or ""
        for prefix, resource in TAGGED.items():
            if tagged.startswith(prefix):
                return _arn(self, "ec2", resource % tagged)
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
    if self._get_action() in ("Publish", "SetTopicAttributes"):
        return self._get_param("TopicArn") or "*"
    return "*"


EC2Response._determine_resource = _ec2_resource
SNSResponse._determine_resource = _sns_resource


def _named(service, writes, resource, *names, region=True):
    """A `_determine_resource` for the calls `writes` of a service whose
    resource is `resource % <the first parameter of names>` (an ARN given
    as the parameter is taken as it is)."""

    def determine(self):
        if self._get_action() not in writes:
            return "*"
        value = _first(self, *names)
        if not value:
            return "*"
        if value.startswith("arn:"):
            return value
        return _arn(self, service, resource % value, region=region)

    return determine


from moto.cloudtrail.responses import CloudTrailResponse  # noqa: E402
from moto.ecr.responses import ECRResponse  # noqa: E402
from moto.iam.responses import IamResponse  # noqa: E402
from moto.kms.responses import KmsResponse  # noqa: E402
from moto.logs.responses import LogsResponse  # noqa: E402
from moto.rds.responses import RDSResponse  # noqa: E402
from moto.redshift.responses import RedshiftResponse  # noqa: E402
from moto.ssm.responses import SimpleSystemManagerResponse  # noqa: E402

_rds_instance = _named("rds", ("ModifyDBInstance",), "db:%s", "DBInstanceIdentifier")
_rds_snapshot = _named("rds", ("ModifyDBSnapshotAttribute",), "snapshot:%s", "DBSnapshotIdentifier")
_rds_cluster_snapshot = _named(
    "rds", ("ModifyDBClusterSnapshotAttribute",), "cluster-snapshot:%s", "DBClusterSnapshotIdentifier"
)


def _rds_resource(self):
    for determine in (_rds_instance, _rds_snapshot, _rds_cluster_snapshot):
        resource = determine(self)
        if resource != "*":
            return resource
    return "*"


RDSResponse._determine_resource = _rds_resource
KmsResponse._determine_resource = _named("kms", ("EnableKeyRotation", "DisableKeyRotation"), "key/%s", "KeyId")
ECRResponse._determine_resource = _named(
    "ecr", ("PutImageScanningConfiguration",), "repository/%s", "repositoryName"
)
RedshiftResponse._determine_resource = _named("redshift", ("ModifyCluster",), "cluster:%s", "ClusterIdentifier")
CloudTrailResponse._determine_resource = _named(
    "cloudtrail",
    ("CreateTrail", "UpdateTrail", "StartLogging", "StopLogging", "PutEventSelectors", "DeleteTrail"),
    "trail/%s",
    "Name",
    "TrailName",
)
_ssm_document = _named("ssm", ("ModifyDocumentPermission",), "document/%s", "Name")
# A setting id is a path (`/ssm/...`): the ARN is `servicesetting` + path.
_ssm_setting = _named(
    "ssm",
    ("GetServiceSetting", "UpdateServiceSetting", "ResetServiceSetting"),
    "servicesetting%s",
    "SettingId",
)


def _ssm_resource(self):
    resource = _ssm_document(self)
    return resource if resource != "*" else _ssm_setting(self)


SimpleSystemManagerResponse._determine_resource = _ssm_resource
LogsResponse._determine_resource = _named(
    "logs", ("PutMetricFilter", "DeleteMetricFilter"), "log-group:%s", "logGroupName"
)
_iam_user = _named(
    "iam",
    ("UpdateAccessKey", "DeleteAccessKey", "DeleteLoginProfile", "CreateLoginProfile", "UpdateLoginProfile"),
    "user/%s",
    "UserName",
    region=False,
)
_iam_role = IamResponse._determine_resource


def _iam_resource(self):
    resource = _iam_user(self)
    return resource if resource != "*" else _iam_role(self)


IamResponse._determine_resource = _iam_resource

from moto.cloudwatch.responses import CloudWatchResponse  # noqa: E402

CloudWatchResponse._determine_resource = _named(
    "cloudwatch", ("PutMetricAlarm", "DeleteAlarms"), "alarm:%s", "AlarmName", "AlarmNames"
)

from moto.awslambda.responses import LambdaResponse  # noqa: E402


def _lambda_resource(self):
    """The function a permission call names (`.../functions/NAME/policy`)."""
    if self._get_action() not in ("AddPermission", "RemovePermission"):
        return "*"
    parts = self.path.split("?")[0].split("/")
    if "functions" not in parts[:-1]:
        return "*"
    name = unquote(parts[parts.index("functions") + 1])
    if name.startswith("arn:"):
        return name
    return _arn(self, "lambda", "function:%s" % name)


LambdaResponse._determine_resource = _lambda_resource

from moto.guardduty.responses import GuardDutyResponse  # noqa: E402


def _guardduty_resource(self):
    """The detector an update or a delete names (`/detector/ID`)."""
    if self._get_action() not in ("UpdateDetector", "DeleteDetector"):
        return "*"
    parts = self.path.split("?")[0].split("/")
    if "detector" not in parts[:-1]:
        return "*"
    return _arn(self, "guardduty", "detector/%s" % parts[parts.index("detector") + 1])


GuardDutyResponse._determine_resource = _guardduty_resource

# moto recomputes each request's signature from the form body as it parses
# it back, which differs from the AWS SDK for Rust's encoding whenever a
# value holds a space (an SNS message, an EC2 description): such requests
# were refused as unsigned. The key is still looked up (an unknown key is
# refused); what is tested here is authorisation, not SigV4.
from moto.iam.access_control import IAMRequestBase  # noqa: E402

IAMRequestBase.check_signature = lambda self: None

# moto names the IAM action by the signing name of the request's credential
# scope; CloudWatch signs as `monitoring`, its IAM actions are
# `cloudwatch:...`.
SIGNING_NAME_TO_IAM_PREFIX = {"monitoring": "cloudwatch"}
_iam_request_init = IAMRequestBase.__init__


def _iam_request_init_as_aws(self, *args, **kwargs):
    _iam_request_init(self, *args, **kwargs)
    prefix, _, action = self._action.partition(":")
    if prefix in SIGNING_NAME_TO_IAM_PREFIX:
        self._action = "%s:%s" % (SIGNING_NAME_TO_IAM_PREFIX[prefix], action)


IAMRequestBase.__init__ = _iam_request_init_as_aws

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
