"""AWS Config configuration items for S3 buckets as AWS returns them, in
place of moto 5.2.5's (`apply()` replaces `FakeBucket.to_config_dict` and
wraps `ConfigBackend.batch_get_resource_config`), so that both moto servers
of the tests (`moto_server.py`, `moto_iam_server.py`) answer
`BatchGetResourceConfig` (and `GetResourceConfigHistory`) for
`AWS::S3::Bucket` in a form a strict SDK parses.

A stand-in for what moto gets wrong there: its item crashes on a bucket
granting a group anything (`public-read`: it looks for `/groups/s3/` in
`http://acs.amazonaws.com/groups/global/AllUsers`), leaves several
supplementary values as objects (its S3 Config query encodes them to the
strings the model's `SupplementaryConfiguration`, map<string,string>, wants
only afterwards), sends its timestamps as Python date strings where the JSON
protocol carries epoch seconds (a strict SDK refuses them), captures every
item at the bucket's creation, and has no default encryption, website nor
versioning.

The item is built from moto's live S3 state, in AWS Config's format for
AWS::S3::Bucket. Its property paths are those of AWS Config's resource
schema, `config/properties/resource-types/AWS::S3::Bucket.properties.json`
in awslabs/aws-config-resource-schema (commit 24997cfd87e0), kept unchanged
in `data/aws_config_s3_bucket_properties.json`.

- Top level: version `1.3`, accountId, configurationItemCaptureTime now (the
  item is built from the live state), configurationItemStatus `OK`,
  configurationStateId (epoch milliseconds), arn, resourceType, resourceId
  and resourceName the bucket's name, awsRegion the bucket's region,
  availabilityZone `Regional`, resourceCreationTime the bucket's creation,
  tags, and configuration `{name, owner: {id}, creationDate}` (a JSON
  string, as moto's S3 Config query makes it). Timestamps are epoch seconds.
- supplementaryConfiguration, every value a string holding JSON:
  `AccessControlList` (moto's double encoding: the JSON text of the JSON
  text of `{grantSet: null, grantList: [{grantee, permission}], owner,
  isRequesterCharged: false}`, a group grantee by its name, `AllUsers`,
  `AuthenticatedUsers`, `LogDelivery`, a canonical user as `{id,
  displayName: null}`, permissions `FullControl`, `Read`, `Write`,
  `ReadAcp`, `WriteAcp`); `PublicAccessBlockConfiguration`,
  `ServerSideEncryptionConfiguration` and `BucketWebsiteConfiguration` only
  when the bucket has one; `BucketLoggingConfiguration` and `BucketPolicy`
  always (nulls when unset); `BucketTaggingConfiguration` when the bucket
  has tags (a tag set with an empty value, which moto keeps as None, has
  `""`); `BucketVersioningConfiguration` (`Off` when never set);
  `IsRequesterPaysEnabled`; `BucketAccelerateConfiguration` (moto's status,
  null when never set); `BucketNotificationConfiguration` and
  `BucketLifecycleConfiguration` as moto makes them.
- BatchGetResourceConfig answers each S3 item with the members of
  botocore's `BaseConfigurationItem` only, and without
  `BucketTaggingConfiguration`: the API reference says it "does not return
  any tags ... filtered out of the supplementaryConfiguration section".
  GetResourceConfigHistory keeps both (its `ConfigurationItem` has tags).

Checked, unchanged from moto: ListDiscoveredResources for AWS::S3::Bucket
lists the calling account's buckets of the request's region only, sorted by
name, pages with `limit` (0 is 100, over 100 InvalidLimitException) and
`nextToken` (the next bucket's name). BatchGetResourceConfig answers the
calling account's buckets of the request's region (at most 100 keys); a
bucket of another region or account, or an unknown bucket, is left out of
`baseConfigurationItems` and `unprocessedResourceKeys` stays empty. AWS
also answers nothing for a resource its recorder has not recorded in that
region; `unprocessedResourceKeys` is for keys it did not get to in the
request, to be sent again.

Not modelled: whether a configuration recorder records AWS::S3::Bucket (moto
answers without one; AWS answers only for recorded resources); the SSE-S3
default encryption AWS gives every bucket since January 2023 (moto's buckets
have none until PutBucketEncryption, and so have their items); MFA delete
(`isMfaDeleteEnabled` is always null: moto keeps none); an email-address
grantee (moto keeps no canonical id for it: `id` is empty); CORS, object
lock, replication and ownership controls; `recordingFrequency`; history
(every item is the current state).
"""

import json
import time

import botocore.session
import xmltodict
from moto.config.models import ConfigBackend
from moto.s3.models import CAMEL_CASED_PERMISSIONS, OWNER, FakeBucket, s3_backends
from moto.utilities.utils import get_partition

BUCKET = "AWS::S3::Bucket"
TAGGING = "BucketTaggingConfiguration"
GROUPS = {
    "http://acs.amazonaws.com/groups/global/AllUsers": "AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers": "AuthenticatedUsers",
    "http://acs.amazonaws.com/groups/s3/LogDelivery": "LogDelivery",
}

_moto_batch_get_resource_config = ConfigBackend.batch_get_resource_config
_base_item_members = None


def _epoch(moment):
    return round(moment, 3)


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (moment.microsecond // 1000)


def _listed(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _boolean(value):
    return str(value).lower() == "true" if value is not None else False


def _grantee(grantee):
    if grantee.uri:
        return GROUPS.get(grantee.uri, grantee.uri.rsplit("/", 1)[-1])
    return {"id": grantee.id, "displayName": None}


def access_control_list(acl):
    """The bucket's ACL as AWS Config gives it (before its JSON encodings)."""
    grants = []
    for grant in acl.grants if acl else []:
        for permission in _listed(grant.permissions):
            for grantee in grant.grantees:
                grants.append(
                    {"grantee": _grantee(grantee), "permission": CAMEL_CASED_PERMISSIONS[permission]}
                )
    return {
        "grantSet": None,
        "grantList": grants,
        "owner": {"displayName": None, "id": OWNER},
        "isRequesterCharged": False,
    }


def encryption_configuration(encryption):
    rules = []
    for rule in _listed(encryption.get("Rule")):
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        rules.append(
            {
                "applyServerSideEncryptionByDefault": {
                    "sseAlgorithm": default.get("SSEAlgorithm"),
                    "kmsMasterKeyID": default.get("KMSMasterKeyID"),
                },
                "bucketKeyEnabled": _boolean(rule.get("BucketKeyEnabled")),
            }
        )
    return {"rules": rules}


def _camel_members(element, names):
    element = element or {}
    return {name[0].lower() + name[1:]: element.get(name) for name in names}


def website_configuration(document):
    """The website configuration moto keeps as the request's XML."""
    website = xmltodict.parse(document).get("WebsiteConfiguration") or {}
    redirect_all = website.get("RedirectAllRequestsTo")
    return {
        "indexDocumentSuffix": (website.get("IndexDocument") or {}).get("Suffix"),
        "errorDocument": (website.get("ErrorDocument") or {}).get("Key"),
        "redirectAllRequestsTo": _camel_members(redirect_all, ("HostName", "Protocol"))
        if redirect_all
        else None,
        "routingRules": [
            {
                "condition": _camel_members(
                    rule.get("Condition"), ("KeyPrefixEquals", "HttpErrorCodeReturnedEquals")
                ),
                "redirect": _camel_members(
                    rule.get("Redirect"),
                    (
                        "Protocol",
                        "HostName",
                        "ReplaceKeyPrefixWith",
                        "ReplaceKeyWith",
                        "HttpRedirectCode",
                    ),
                ),
            }
            for rule in _listed((website.get("RoutingRules") or {}).get("RoutingRule"))
        ],
    }


def supplementary_configuration(bucket, tags):
    """Each supplementary value of the bucket's item, before JSON encoding."""
    values = {"AccessControlList": json.dumps(access_control_list(bucket.acl))}
    if bucket.public_access_block:
        values["PublicAccessBlockConfiguration"] = bucket.public_access_block.to_config_dict()
    if bucket.encryption:
        values["ServerSideEncryptionConfiguration"] = encryption_configuration(bucket.encryption)
    if bucket.website_configuration:
        values["BucketWebsiteConfiguration"] = website_configuration(bucket.website_configuration)
    values["BucketLoggingConfiguration"] = {
        "destinationBucketName": bucket.logging.get("TargetBucket"),
        "logFilePrefix": bucket.logging.get("TargetPrefix"),
    }
    values["BucketPolicy"] = {"policyText": bucket.policy.decode("utf-8") if bucket.policy else None}
    if tags:
        values[TAGGING] = {"tagSets": [{"tags": tags}]}
    values["BucketVersioningConfiguration"] = {
        "status": bucket.versioning_status or "Off",
        "isMfaDeleteEnabled": None,
    }
    values["IsRequesterPaysEnabled"] = bucket.payer != "BucketOwner"
    values["BucketAccelerateConfiguration"] = {"status": bucket.accelerate_configuration}
    values["BucketNotificationConfiguration"] = (
        bucket.notification_configuration.to_config_dict()
        if bucket.notification_configuration
        else {"configurations": {}}
    )
    if bucket.rules:
        values["BucketLifecycleConfiguration"] = {
            "rules": [rule.to_config_dict() for rule in bucket.rules]
        }
    return {name: json.dumps(value) for name, value in values.items()}


def _to_config_dict(self):
    backend = s3_backends[self.account_id][get_partition(self.region_name)]
    tags = {
        key: value if value is not None else ""
        for key, value in backend.tagger.get_tag_dict_for_resource(self.arn).items()
    }
    now = time.time()
    return {
        "version": "1.3",
        "accountId": self.account_id,
        "configurationItemCaptureTime": _epoch(now),
        "configurationItemStatus": "OK",
        "configurationStateId": str(int(now * 1000)),
        "configurationItemMD5Hash": "",
        "arn": self.arn,
        "resourceType": BUCKET,
        "resourceId": self.name,
        "resourceName": self.name,
        "awsRegion": self.region_name,
        "availabilityZone": "Regional",
        "resourceCreationTime": _epoch(self.creation_date.timestamp()),
        "relatedEvents": [],
        "relationships": [],
        "tags": tags,
        "configuration": {
            "name": self.name,
            "owner": {"id": OWNER},
            "creationDate": _iso(self.creation_date),
        },
        "supplementaryConfiguration": supplementary_configuration(self, tags),
    }


def _base_members():
    global _base_item_members
    if _base_item_members is None:
        model = botocore.session.get_session().get_service_model("config")
        _base_item_members = set(model.shape_for("BaseConfigurationItem").members)
    return _base_item_members


def base_configuration_item(item):
    """A bucket's item as BatchGetResourceConfig answers it: the members of
    BaseConfigurationItem, no tags in supplementaryConfiguration."""
    base = {name: value for name, value in item.items() if name in _base_members()}
    supplementary = dict(base.get("supplementaryConfiguration") or {})
    supplementary.pop(TAGGING, None)
    base["supplementaryConfiguration"] = supplementary
    return base


def _batch_get_resource_config(self, resource_keys, backend_region):
    answer = _moto_batch_get_resource_config(self, resource_keys, backend_region)
    answer["baseConfigurationItems"] = [
        base_configuration_item(item) if item.get("resourceType") == BUCKET else item
        for item in answer["baseConfigurationItems"]
    ]
    return answer


def apply():
    FakeBucket.to_config_dict = _to_config_dict
    ConfigBackend.batch_get_resource_config = _batch_get_resource_config
