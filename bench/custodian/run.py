"""Cloud Custodian's side of the benchmark: for each resource, the policy
runs on that one resource the way Custodian's event modes run it (the
resource fetched by id with its augmentation, the policy's filters, then
its actions), timed alone. The policies are the equivalents of rectify's
fixes:
  S3.8   resource s3, filter check-public-block, action set-public-block
         (all four settings on);
  EC2.13 resource security-group, filter ingress on port 22 from
         0.0.0.0/0, action remove-permissions of the matched ingress.
Writes {"s3": [ms, ...], "ec2": [ms, ...]}.

Usage: run.py --resources FILE --from I --to J --out FILE --work DIR
(AWS_ENDPOINT_URL points at moto, or at the counting proxy.)
"""

import argparse
import json
import logging
import os
import time

from c7n.config import Config
from c7n.loader import PolicyLoader

POLICIES = [
    {
        "name": "s3-block-public-access",
        "resource": "aws.s3",
        "filters": [{"type": "check-public-block"}],
        "actions": [{"type": "set-public-block"}],
    },
    {
        "name": "sg-revoke-ssh-from-anywhere",
        "resource": "aws.security-group",
        "filters": [
            {"type": "ingress", "Ports": [22], "Cidr": {"value": "0.0.0.0/0"}}
        ],
        "actions": [{"type": "remove-permissions", "ingress": "matched"}],
    },
]


def fix(policy, resource_id):
    """One resource through the policy; the number of resources acted on."""
    manager = policy.resource_manager
    resources = manager.get_resources([resource_id], cache=False)
    resources = manager.filter_resources(resources)
    for action in manager.actions:
        action.process(resources)
    return len(resources)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--resources", required=True)
    ap.add_argument("--from", dest="start", type=int, required=True)
    ap.add_argument("--to", dest="end", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.makedirs(args.work, exist_ok=True)

    ids = json.load(open(args.resources))["custodian"]
    config = Config.empty(
        region="us-east-1",
        regions=["us-east-1"],
        output_dir=args.work,
        account_id=ids["account"],
        cache="",
    )
    collection = PolicyLoader(config).load_data(
        {"policies": POLICIES}, file_uri="bench-custodian"
    )
    s3_policy, sg_policy = collection.policies
    for p in (s3_policy, sg_policy):
        p.validate()

    times = {"s3": [], "ec2": []}
    for key, policy, resources in (
        ("s3", s3_policy, ids["buckets"]),
        ("ec2", sg_policy, ids["groups"]),
    ):
        for resource_id in resources[args.start:args.end]:
            started = time.perf_counter()
            acted = fix(policy, resource_id)
            times[key].append((time.perf_counter() - started) * 1000)
            assert acted == 1, f"{policy.name}: {resource_id} was not acted on"
    with open(args.out, "w") as f:
        json.dump(times, f)


if __name__ == "__main__":
    main()
