"""EC2 operations rectify calls that moto 5.2.5 lacks, added to moto's own
EC2 response class and backend (`apply()`), so that both moto servers of
the tests (`moto_server.py`, `moto_iam_server.py`) answer them:

- `GetEbsDefaultKmsKeyId`: the key `ModifyEbsDefaultKmsKeyId` set (moto
  stores it already), else `alias/aws/ebs`, as AWS answers for an account
  that never chose a key.
- `ResetEbsDefaultKmsKeyId`: back to the AWS managed key; AWS then answers
  that key, which this stand-in names `alias/aws/ebs` as well.
"""

from moto.core.responses import ActionResult
from moto.ec2.responses import EC2Response

AWS_MANAGED_EBS_KEY = "alias/aws/ebs"


def _get_ebs_default_kms_key_id(self):
    self.error_on_dryrun()
    key = self.ec2_backend.default_kms_key_id or AWS_MANAGED_EBS_KEY
    return ActionResult({"KmsKeyId": key})


def _reset_ebs_default_kms_key_id(self):
    self.error_on_dryrun()
    # Empty: moto's CreateVolume then uses (and makes) the aws/ebs key.
    self.ec2_backend.default_kms_key_id = ""
    return ActionResult({"KmsKeyId": AWS_MANAGED_EBS_KEY})


def apply():
    EC2Response.get_ebs_default_kms_key_id = _get_ebs_default_kms_key_id
    EC2Response.reset_ebs_default_kms_key_id = _reset_ebs_default_kms_key_id
