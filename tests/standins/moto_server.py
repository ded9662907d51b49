"""moto server (the pinned moto) with the EC2 operations of
`moto_ec2_extras.py` and the SSM service-setting operations of
`moto_ssm_extras.py` added and `/moto-api/data.json` made to survive models
it cannot read (`moto_model_data.py`). Usage: moto_server.py [moto_server
arguments].

It also answers CloudWatch in the Smithy RPC v2 CBOR protocol the AWS SDK
for Rust speaks (`moto_cbor.py`), which moto routes nowhere, and takes
presigned (query-signed) requests as AWS does (`moto_presigned.py`: the EKS
tokens of the Kubernetes tests carry one), and refuses a caller's own
account id in the alternate contact operations as AWS does
(`moto_account_rules.py`). AWS Config's items for S3 buckets are built as
AWS gives them (`moto_config_s3.py`)."""

import sys

import moto_account_rules
import moto_cbor
import moto_config_s3
import moto_ec2_extras
import moto_model_data
import moto_presigned
import moto_ssm_extras

moto_ec2_extras.apply()
moto_ssm_extras.apply()
moto_model_data.apply()
moto_cbor.apply()
moto_presigned.apply()
moto_account_rules.apply()
moto_config_s3.apply()

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
