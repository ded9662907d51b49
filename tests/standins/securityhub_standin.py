#!/usr/bin/env python3
"""Security Hub STAND-IN server for rectify's tests. It is not AWS.

moto (the AWS emulator the test suite runs against) does not implement
Security Hub ``BatchUpdateFindings`` nor ``GetFindings`` filters, so this
small server stands in for the Security Hub REST-JSON API.

Every request is checked against botocore's official service model for
``securityhub``:

* the operation is found from the HTTP method and request URI of the model;
* the request must carry a SigV4 ``Authorization`` header whose credential
  scope names the ``securityhub`` service (the signature itself is not
  verified: there is no secret to verify it with);
* the JSON body (plus URI / query-string / header members) is validated with
  ``botocore.validate.ParamValidator`` against the operation's input shape,
  and additionally against what ParamValidator leaves out: enum values,
  maximum lengths / values, and string patterns;
* an invalid request is answered 400 ``InvalidInputException`` like AWS.

State is an in-memory store of findings keyed by ``(Id, ProductArn)``, and
of the security controls rectify's actions use, with the parameters AWS
documents for them (EC2.18 ``authorizedTcpPorts`` 80, 443; IAM.7's password
values) as their defaults. The stand-in holds one hub: the controls are the
same whatever the credentials.
Implemented operations: BatchImportFindings, BatchUpdateFindings,
GetFindings, BatchGetSecurityControls, UpdateSecurityControl (a person's
customisation of a control's parameters; ``ValueType: DEFAULT`` puts a
parameter back to AWS's default), and for the new Security Hub's OCSF
findings GetFindingsV2 (string filters EQUALS / NOT_EQUALS / PREFIX on the
fields in ``OCSF_STRING_PATHS``) and BatchUpdateFindingsV2 (``StatusId``,
``SeverityId``, ``Comment`` by ``MetadataUids`` or ``FindingIdentifiers``;
besides the model, what the API reference states: not both kinds of
identifier, ``StatusId`` / ``SeverityId`` in 0-6 or 99, a comment of at most
512 characters; the V2 operations answer ``ValidationException``). OCSF
findings are produced by AWS services, not imported through an API: tests
put them in the store with ``POST /_standin/findings-v2``. Any other operation of the model is validated and then answered
501 ``StandinNotImplemented``; an unsupported GetFindings filter is answered
the same way, so a test never silently relies on something not emulated.

Test-only endpoints:
  GET  /_standin/requests  every request received (operation, body, result)
  POST /_standin/findings-v2  {"Findings": [OCSF finding, ...]}: stored (or
                           replaced) by ``metadata.uid``
  POST /_standin/reset     forget all findings and recorded requests, and put
                           every control's parameters back to their defaults

Usage:
  python tests/standins/securityhub_standin.py --host 127.0.0.1 --port PORT [--strict]

``--port 0`` picks a free port. Once listening, ``READY http://HOST:PORT`` is
printed on stdout. ``--strict`` answers BatchUpdateFindings for findings not
in the store as UnprocessedFindings / ``FindingNotFound``, as Security Hub
does; without it such findings are created with the updates applied.
"""

import argparse
import base64
import copy
import datetime
import json
import re
import signal
import sys
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.session
from botocore.validate import ParamValidator

SERVICE = "securityhub"
MODEL = botocore.session.get_session().get_service_model(SERVICE)

SIGV4_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)/(\d{8})/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request\s*,"
    r"\s*SignedHeaders=([a-z0-9;._-]+)\s*,\s*Signature=([0-9a-f]{64})\s*$"
)


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def invalid(message):
    return ApiError(400, "InvalidInputException", message)


def invalid_for(op, message):
    """The operation's own validation error: ``ValidationException`` for the
    V2 operations, ``InvalidInputException`` for the others."""
    names = [e.name for e in op.error_shapes]
    if "ValidationException" in names and "InvalidInputException" not in names:
        return ApiError(400, "ValidationException", message)
    return invalid(message)


def not_emulated(message):
    return ApiError(501, "StandinNotImplemented", "securityhub stand-in: " + message)


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --------------------------------------------------------------------------
# Routing: (method, requestUri) from the service model.
# --------------------------------------------------------------------------


class Route:
    def __init__(self, op):
        self.op = op
        uri = op.http["requestUri"]
        path, _, query = uri.partition("?")
        self.static_query = urllib.parse.parse_qs(query, keep_blank_values=True) if query else {}
        self.method = op.http["method"].upper()
        self.labels = []
        pattern = ""
        literal = 0
        for part in re.split(r"(\{[^}]+\})", path):
            if part.startswith("{") and part.endswith("}"):
                name = part[1:-1]
                greedy = name.endswith("+")
                name = name.rstrip("+")
                self.labels.append(name)
                pattern += "(?P<%s>%s)" % (re.sub(r"\W", "_", name), ".+" if greedy else "[^/]+")
            else:
                literal += len(part)
                pattern += re.escape(part)
        self.regex = re.compile("^" + pattern + "/?$" if pattern != "/" else "^/$")
        # Prefer routes with more literal text, then fewer labels.
        self.rank = (literal, -len(self.labels))

    def match(self, method, path, query):
        if method != self.method:
            return None
        m = self.regex.match(path)
        if not m:
            return None
        for key, values in self.static_query.items():
            if key not in query:
                return None
            if values != [""] and query[key] != values:
                return None
        return {name: urllib.parse.unquote(m.group(re.sub(r"\W", "_", name))) for name in self.labels}


ROUTES = sorted(
    (Route(MODEL.operation_model(name)) for name in MODEL.operation_names),
    key=lambda r: r.rank,
    reverse=True,
)


def find_route(method, path, query):
    for route in ROUTES:
        labels = route.match(method, path, query)
        if labels is not None:
            return route.op, labels
    return None, None


# --------------------------------------------------------------------------
# Request parsing and validation.
# --------------------------------------------------------------------------


def from_wire(value, shape):
    """Converts a JSON value to botocore parameter form (member names, timestamps)."""
    if shape is None:
        return value
    t = shape.type_name
    if t == "structure" and isinstance(value, dict):
        wire_to_member = {m.serialization.get("name", k): k for k, m in shape.members.items()}
        out = {}
        for key, item in value.items():
            member = wire_to_member.get(key, key)
            out[member] = from_wire(item, shape.members.get(member))
        return out
    if t == "list" and isinstance(value, list):
        return [from_wire(item, shape.member) for item in value]
    if t == "map" and isinstance(value, dict):
        return {k: from_wire(v, shape.value) for k, v in value.items()}
    if t == "timestamp" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    return value


def scalar_from_text(text, shape):
    t = shape.type_name
    try:
        if t in ("integer", "long"):
            return int(text)
        if t in ("float", "double"):
            return float(text)
        if t == "boolean":
            if text.lower() in ("true", "false"):
                return text.lower() == "true"
            return text
    except ValueError:
        return text
    return text


_PATTERN_CACHE = {}


def compiled_pattern(pattern):
    if pattern not in _PATTERN_CACHE:
        try:
            _PATTERN_CACHE[pattern] = re.compile(pattern)
        except re.error:
            _PATTERN_CACHE[pattern] = None  # a syntax Python lacks: not checked
    return _PATTERN_CACHE[pattern]


def extra_checks(value, shape, name, errors):
    """What ParamValidator does not check: enums, max, patterns, bools as numbers."""
    if shape is None or value is None:
        return
    t = shape.type_name
    meta = shape.metadata
    if t == "string" and isinstance(value, str):
        enum = meta.get("enum")
        if enum and value not in enum:
            errors.append(
                "Invalid value for parameter %s, value: %r, valid values: %s" % (name, value, ", ".join(enum))
            )
        if "max" in meta and len(value) > meta["max"]:
            errors.append(
                "Invalid length for parameter %s, value: %d, valid max length: %s" % (name, len(value), meta["max"])
            )
        if "pattern" in meta:
            rx = compiled_pattern(meta["pattern"])
            if rx is not None and not rx.search(value):
                errors.append(
                    "Invalid value for parameter %s, value: %r, must match pattern: %s" % (name, value, meta["pattern"])
                )
    elif t in ("integer", "long", "float", "double"):
        if isinstance(value, bool):
            errors.append("Invalid type for parameter %s, value: %r, type: bool, valid types: number" % (name, value))
        elif isinstance(value, (int, float)) and "max" in meta and value > meta["max"]:
            errors.append(
                "Invalid value for parameter %s, value: %s, valid max value: %s" % (name, value, meta["max"])
            )
    elif t == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            errors.append(
                "Invalid length for parameter %s, value: %d, valid max length: %s" % (name, len(value), meta["max"])
            )
        for i, item in enumerate(value):
            extra_checks(item, shape.member, "%s[%d]" % (name, i), errors)
    elif t == "map" and isinstance(value, dict):
        if "max" in meta and len(value) > meta["max"]:
            errors.append(
                "Invalid length for parameter %s, value: %d, valid max length: %s" % (name, len(value), meta["max"])
            )
        for k, v in value.items():
            extra_checks(k, shape.key, "%s (key: %s)" % (name, k), errors)
            extra_checks(v, shape.value, "%s.%s" % (name, k), errors)
    elif t == "structure" and isinstance(value, dict):
        for k, v in value.items():
            if k in shape.members:
                extra_checks(v, shape.members[k], "%s.%s" % (name, k) if name else k, errors)


def parse_request(op, labels, query, headers, raw_body):
    """Returns (params, body_json) of the request, raising ApiError if malformed."""
    shape = op.input_shape
    body = None
    if raw_body.strip():
        try:
            body = json.loads(raw_body)
        except (ValueError, UnicodeDecodeError) as e:
            raise invalid("Request body is not valid JSON: %s" % e)
    params = {}
    if shape is None:
        return params, body
    payload = shape.serialization.get("payload")
    body_members = {}
    for key, member in shape.members.items():
        loc = member.serialization.get("location")
        wire = member.serialization.get("name", key)
        if loc == "uri":
            if wire in labels:
                params[key] = scalar_from_text(labels[wire], member)
        elif loc == "querystring":
            if member.type_name == "map":
                params[key] = {k: (v if member.value.type_name == "list" else v[0]) for k, v in query.items()}
            elif wire in query:
                if member.type_name == "list":
                    params[key] = [scalar_from_text(v, member.member) for v in query[wire]]
                else:
                    params[key] = scalar_from_text(query[wire][0], member)
        elif loc == "header":
            if wire in headers:
                params[key] = scalar_from_text(headers[wire], member)
        elif loc == "headers":
            pass
        else:
            body_members[key] = member
    if payload:
        member = shape.members[payload]
        if body is not None:
            if member.type_name == "structure":
                params[payload] = from_wire(body, member)
            else:
                params[payload] = raw_body
        return params, body
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object")
    wire_to_member = {m.serialization.get("name", k): k for k, m in body_members.items()}
    for key, value in body.items():
        member_name = wire_to_member.get(key, key)
        params[member_name] = from_wire(value, body_members.get(member_name))
    return params, body


# Batch sizes Security Hub documents but the service model does not carry.
BATCH_LIMITS = {
    "BatchImportFindings": ("Findings", 1, 100),
    "BatchUpdateFindings": ("FindingIdentifiers", 1, 100),
}


def validate(op, params):
    errors = []
    shape = op.input_shape
    if shape is None:
        return errors
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        errors.extend(line.strip() for line in report.generate_report().splitlines() if line.strip())
    extra_checks(params, shape, "", errors)
    if op.name in BATCH_LIMITS:
        member, low, high = BATCH_LIMITS[op.name]
        value = params.get(member)
        if isinstance(value, list) and not low <= len(value) <= high:
            errors.append("%s must contain between %d and %d entries, got %d" % (member, low, high, len(value)))
    return errors


# --------------------------------------------------------------------------
# In-memory Security Hub.
# --------------------------------------------------------------------------

LABEL_TO_NORMALIZED = {"INFORMATIONAL": 0, "LOW": 1, "MEDIUM": 40, "HIGH": 70, "CRITICAL": 90}


def normalized_to_label(n):
    if n == 0:
        return "INFORMATIONAL"
    if n < 40:
        return "LOW"
    if n < 70:
        return "MEDIUM"
    if n < 90:
        return "HIGH"
    return "CRITICAL"


def get_path(finding, path):
    """Values at a dotted path; a list on the way yields each element's value."""
    values = [finding]
    for part in path.split("."):
        nxt = []
        for v in values:
            if isinstance(v, dict) and part in v:
                item = v[part]
                nxt.extend(item if isinstance(item, list) else [item])
        values = nxt
    return [v for v in values if isinstance(v, str)]


# GetFindings string filters this stand-in emulates: filter name -> finding path.
STRING_FILTER_PATHS = {
    "Id": "Id",
    "ProductArn": "ProductArn",
    "AwsAccountId": "AwsAccountId",
    "GeneratorId": "GeneratorId",
    "Region": "Region",
    "Type": "Types",
    "Title": "Title",
    "ProductName": "ProductName",
    "CompanyName": "CompanyName",
    "SeverityLabel": "Severity.Label",
    "WorkflowStatus": "Workflow.Status",
    "WorkflowState": "WorkflowState",
    "RecordState": "RecordState",
    "VerificationState": "VerificationState",
    "ComplianceStatus": "Compliance.Status",
    "ComplianceSecurityControlId": "Compliance.SecurityControlId",
    "ResourceType": "Resources.Type",
    "ResourceId": "Resources.Id",
    "ResourceRegion": "Resources.Region",
    "NoteText": "Note.Text",
    "NoteUpdatedBy": "Note.UpdatedBy",
}

NEGATIVE = {"NOT_EQUALS", "PREFIX_NOT_EQUALS", "NOT_CONTAINS"}


def string_cmp(comparison, actual, wanted):
    if comparison in ("EQUALS", "NOT_EQUALS"):
        return actual == wanted
    if comparison in ("PREFIX", "PREFIX_NOT_EQUALS"):
        return actual.startswith(wanted)
    if comparison in ("CONTAINS", "NOT_CONTAINS"):
        return wanted in actual
    if comparison == "CONTAINS_WORD":
        return wanted in re.split(r"\W+", actual)
    raise not_emulated("string filter comparison %s is not emulated" % comparison)


def field_matches(values, filters):
    positive = [f for f in filters if f.get("Comparison", "EQUALS") not in NEGATIVE]
    negative = [f for f in filters if f.get("Comparison", "EQUALS") in NEGATIVE]
    if positive and not any(
        string_cmp(f.get("Comparison", "EQUALS"), v, f.get("Value", "")) for f in positive for v in values
    ):
        return False
    for f in negative:
        if any(string_cmp(f["Comparison"], v, f.get("Value", "")) for v in values):
            return False
    return True


# GetFindings date filters this stand-in emulates (Start / End; DateRange is not).
DATE_FILTER_FIELDS = ("UpdatedAt", "CreatedAt", "FirstObservedAt", "LastObservedAt")
# SortCriteria fields this stand-in emulates.
SORT_FIELDS = ("UpdatedAt", "CreatedAt")


def parse_time(text):
    """An ISO 8601 timestamp as an aware datetime (`Z` or an offset)."""
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        raise invalid("Invalid timestamp %r" % (text,))


def date_matches(finding, field, filters):
    """True when the finding's `field` lies within one of the DateFilters."""
    value = finding.get(field)
    if not isinstance(value, str):
        return False
    at = parse_time(value)
    for f in filters:
        if "Start" in f and at < parse_time(f["Start"]):
            continue
        if "End" in f and at > parse_time(f["End"]):
            continue
        return True
    return False


# The controls rectify's actions use, with their parameters as AWS's
# Security Hub control reference documents them: name -> (ParameterValue
# member, default value or None when the parameter has no default).
CONTROL_HUB_ACCOUNT = "123456789012"
CONTROL_HUB_REGION = "us-east-1"
CONTROLS = {
    "EC2.1": ("Amazon EBS snapshots should not be publicly restorable", "CRITICAL", {}),
    "EC2.2": ("VPC default security groups should not allow inbound or outbound traffic", "HIGH", {}),
    "EC2.7": ("EBS default encryption should be enabled", "MEDIUM", {}),
    "EC2.13": ("Security groups should not allow ingress from 0.0.0.0/0 or ::/0 to port 22", "HIGH", {}),
    "EC2.14": ("Security groups should not allow ingress from 0.0.0.0/0 or ::/0 to port 3389", "HIGH", {}),
    "EC2.18": (
        "Security groups should only allow unrestricted incoming traffic for authorized ports",
        "HIGH",
        {"authorizedTcpPorts": ("IntegerList", [80, 443]), "authorizedUdpPorts": ("IntegerList", None)},
    ),
    "EC2.19": ("Security groups should not allow unrestricted access to ports with high risk", "CRITICAL", {}),
    "EC2.53": ("EC2 security groups should not allow ingress from 0.0.0.0/0 to remote server administration ports", "HIGH", {}),
    "EC2.54": ("EC2 security groups should not allow ingress from ::/0 to remote server administration ports", "HIGH", {}),
    "IAM.7": (
        "Password policies for IAM users should have strong configurations",
        "MEDIUM",
        {
            "RequireUppercaseCharacters": ("Boolean", True),
            "RequireLowercaseCharacters": ("Boolean", True),
            "RequireSymbols": ("Boolean", True),
            "RequireNumbers": ("Boolean", True),
            "MinimumPasswordLength": ("Integer", 8),
            "PasswordReusePrevention": ("Integer", None),
            "MaxPasswordAge": ("Integer", None),
        },
    ),
    "IAM.11": ("Ensure IAM password policy requires at least one uppercase letter", "MEDIUM", {}),
    "IAM.12": ("Ensure IAM password policy requires at least one lowercase letter", "MEDIUM", {}),
    "IAM.13": ("Ensure IAM password policy requires at least one symbol", "MEDIUM", {}),
    "IAM.14": ("Ensure IAM password policy requires at least one number", "MEDIUM", {}),
    "IAM.15": ("Ensure IAM password policy requires minimum password length of 14 or greater", "MEDIUM", {}),
    "IAM.16": ("Ensure IAM password policy prevents password reuse", "LOW", {}),
    "IAM.17": ("Ensure IAM password policy expires passwords within 90 days or less", "LOW", {}),
    "S3.2": ("S3 general purpose buckets should block public read access", "CRITICAL", {}),
    "S3.3": ("S3 general purpose buckets should block public write access", "CRITICAL", {}),
    "S3.8": ("S3 general purpose buckets should block public access", "HIGH", {}),
}


def default_parameters(control_id):
    params = {}
    for name, (kind, default) in CONTROLS[control_id][2].items():
        params[name] = {"ValueType": "DEFAULT"}
        if default is not None:
            params[name]["Value"] = {kind: copy.deepcopy(default)}
    return params


def control_arn(control_id):
    return "arn:aws:securityhub:%s:%s:security-control/%s" % (CONTROL_HUB_REGION, CONTROL_HUB_ACCOUNT, control_id)


def control_id_of(id_or_arn):
    if id_or_arn.startswith("arn:"):
        return id_or_arn.rsplit("/", 1)[-1]
    return id_or_arn


class Store:
    def __init__(self, strict):
        self.strict = strict
        self.lock = threading.Lock()
        self.findings = {}  # (Id, ProductArn) -> finding (JSON form), insertion-ordered
        self.requests = []
        self.controls = {}  # control id -> {"Parameters": ..., "LastUpdateReason": ...}
        self.findings_v2 = {}  # metadata.uid -> OCSF finding, insertion-ordered
        self._default_controls()

    def _default_controls(self):
        self.controls = {cid: {"Parameters": default_parameters(cid)} for cid in CONTROLS}

    def reset(self):
        with self.lock:
            self.findings.clear()
            self.findings_v2.clear()
            self.requests.clear()
            self._default_controls()

    def batch_get_security_controls(self, body):
        found, unprocessed = [], []
        with self.lock:
            for wanted in body["SecurityControlIds"]:
                cid = control_id_of(wanted)
                if cid not in CONTROLS:
                    unprocessed.append(
                        {"SecurityControlId": wanted, "ErrorCode": "NOT_FOUND", "ErrorReason": "no such security control"}
                    )
                    continue
                title, severity, kinds = CONTROLS[cid]
                control = {
                    "SecurityControlId": cid,
                    "SecurityControlArn": control_arn(cid),
                    "Title": title,
                    "Description": title + ".",
                    "RemediationUrl": "https://docs.aws.amazon.com/console/securityhub/%s/remediation" % cid,
                    "SeverityRating": severity,
                    "SecurityControlStatus": "ENABLED",
                    "UpdateStatus": "READY",
                }
                if kinds:
                    control["Parameters"] = copy.deepcopy(self.controls[cid]["Parameters"])
                if "LastUpdateReason" in self.controls[cid]:
                    control["LastUpdateReason"] = self.controls[cid]["LastUpdateReason"]
                found.append(control)
        return {"SecurityControls": found, "UnprocessedIds": unprocessed}

    def update_security_control(self, body):
        cid = control_id_of(body["SecurityControlId"])
        if cid not in CONTROLS:
            raise ApiError(404, "ResourceNotFoundException", "Security control %s not found" % body["SecurityControlId"])
        kinds = CONTROLS[cid][2]
        updated = {}
        for name, config in body["Parameters"].items():
            if name not in kinds:
                raise invalid("Control %s has no parameter %s" % (cid, name))
            kind, default = kinds[name]
            if config["ValueType"] == "DEFAULT":
                if "Value" in config:
                    raise invalid("Parameter %s: a Value cannot be given with ValueType DEFAULT" % name)
                updated[name] = {"ValueType": "DEFAULT"}
                if default is not None:
                    updated[name]["Value"] = {kind: copy.deepcopy(default)}
                continue
            value = config.get("Value") or {}
            if list(value) != [kind]:
                raise invalid("Parameter %s of %s takes a Value of type %s" % (name, cid, kind))
            updated[name] = {"ValueType": "CUSTOM", "Value": copy.deepcopy(value)}
        with self.lock:
            self.controls[cid]["Parameters"].update(updated)
            if "LastUpdateReason" in body:
                self.controls[cid]["LastUpdateReason"] = body["LastUpdateReason"]
        return {}

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)

    def recorded(self):
        with self.lock:
            return copy.deepcopy(self.requests)

    # -- operations ------------------------------------------------------

    def batch_import_findings(self, body):
        with self.lock:
            for finding in body["Findings"]:
                key = (finding["Id"], finding["ProductArn"])
                stored = copy.deepcopy(finding)
                previous = self.findings.get(key)
                if previous is not None:
                    # Fields owned by BatchUpdateFindings survive a re-import.
                    for field in ("Note", "Workflow", "UserDefinedFields", "VerificationState"):
                        if field in previous and field not in stored:
                            stored[field] = previous[field]
                stored.setdefault("Workflow", {"Status": "NEW"})
                stored.setdefault("RecordState", "ACTIVE")
                self.findings[key] = stored
        return {"FailedCount": 0, "SuccessCount": len(body["Findings"]), "FailedFindings": []}

    def batch_update_findings(self, body):
        processed, unprocessed = [], []
        with self.lock:
            for ident in body["FindingIdentifiers"]:
                key = (ident["Id"], ident["ProductArn"])
                finding = self.findings.get(key)
                if finding is None:
                    if self.strict:
                        unprocessed.append(
                            {
                                "FindingIdentifier": {"Id": ident["Id"], "ProductArn": ident["ProductArn"]},
                                "ErrorCode": "FindingNotFound",
                                "ErrorMessage": "Finding Not Found",
                            }
                        )
                        continue
                    finding = {"Id": ident["Id"], "ProductArn": ident["ProductArn"], "RecordState": "ACTIVE"}
                    self.findings[key] = finding
                self._apply_update(finding, body)
                processed.append({"Id": ident["Id"], "ProductArn": ident["ProductArn"]})
        return {"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}

    @staticmethod
    def _apply_update(finding, body):
        now = now_iso()
        if "Workflow" in body and "Status" in body["Workflow"]:
            finding["Workflow"] = {"Status": body["Workflow"]["Status"]}
        if "Note" in body:
            finding["Note"] = {
                "Text": body["Note"]["Text"],
                "UpdatedBy": body["Note"]["UpdatedBy"],
                "UpdatedAt": now,
            }
        if "Severity" in body:
            sev = dict(finding.get("Severity") or {})
            upd = body["Severity"]
            if "Product" in upd:
                sev["Product"] = upd["Product"]
            if "Label" in upd:
                sev["Label"] = upd["Label"]
                sev["Normalized"] = upd.get("Normalized", LABEL_TO_NORMALIZED[upd["Label"]])
            elif "Normalized" in upd:
                sev["Normalized"] = upd["Normalized"]
                sev["Label"] = normalized_to_label(upd["Normalized"])
            finding["Severity"] = sev
        for field in ("VerificationState", "Confidence", "Criticality", "Types", "RelatedFindings"):
            if field in body:
                finding[field] = copy.deepcopy(body[field])
        if "UserDefinedFields" in body:
            fields = dict(finding.get("UserDefinedFields") or {})
            fields.update(body["UserDefinedFields"])
            finding["UserDefinedFields"] = fields
        finding["UpdatedAt"] = now

    def get_findings(self, body):
        filters = body.get("Filters") or {}
        for name, value in filters.items():
            if name not in STRING_FILTER_PATHS and name not in DATE_FILTER_FIELDS:
                raise not_emulated("GetFindings filter %s is not emulated" % name)
            if name in DATE_FILTER_FIELDS and any("DateRange" in f for f in value):
                raise not_emulated("GetFindings DateFilter DateRange is not emulated")
        sort = body.get("SortCriteria") or []
        for criterion in sort:
            if criterion.get("Field") not in SORT_FIELDS:
                raise not_emulated("GetFindings SortCriteria on %s is not emulated" % criterion.get("Field"))

        def matches(f):
            for n, fl in filters.items():
                if n in DATE_FILTER_FIELDS:
                    if not date_matches(f, n, fl):
                        return False
                elif not field_matches(get_path(f, STRING_FILTER_PATHS[n]), fl):
                    return False
            return True

        with self.lock:
            matched = [copy.deepcopy(f) for f in self.findings.values() if matches(f)]
        # Stable sorts, last criterion first, so the first one leads.
        for criterion in reversed(sort):
            field = criterion["Field"]
            matched.sort(
                key=lambda f: parse_time(f.get(field, "1970-01-01T00:00:00Z")),
                reverse=criterion.get("SortOrder", "asc") == "desc",
            )
        start = 0
        if body.get("NextToken"):
            try:
                start = int(base64.urlsafe_b64decode(body["NextToken"].encode()).decode())
            except (ValueError, UnicodeDecodeError):
                raise invalid("Invalid NextToken")
        size = body.get("MaxResults", 100)
        page = matched[start : start + size]
        out = {"Findings": page}
        if start + size < len(matched):
            out["NextToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return out


    # -- OCSF (V2) findings --------------------------------------------------

    def put_findings_v2(self, body):
        findings = body.get("Findings") if isinstance(body, dict) else None
        if not isinstance(findings, list):
            raise invalid("body must be {\"Findings\": [...]}")
        with self.lock:
            for finding in findings:
                uid = get_ocsf(finding, "metadata.uid")
                if not uid or not isinstance(uid[0], str):
                    raise invalid("an OCSF finding needs metadata.uid")
                self.findings_v2[uid[0]] = copy.deepcopy(finding)
        return {"stored": len(findings)}

    def get_findings_v2(self, body):
        filters = body.get("Filters") or {}
        for name in filters:
            if name not in ("CompositeFilters", "CompositeOperator"):
                raise not_emulated("GetFindingsV2 filter %s is not emulated" % name)
        composites = filters.get("CompositeFilters") or []
        for composite in composites:
            for kind in composite:
                if kind not in ("StringFilters", "Operator"):
                    raise not_emulated("GetFindingsV2 %s are not emulated" % kind)
            for f in composite.get("StringFilters") or []:
                if f["FieldName"] not in OCSF_STRING_PATHS:
                    raise not_emulated("GetFindingsV2 filter on %s is not emulated" % f["FieldName"])
                if f["Filter"].get("Comparison") not in ("EQUALS", "NOT_EQUALS", "PREFIX"):
                    raise not_emulated("GetFindingsV2 comparison %s is not emulated" % f["Filter"].get("Comparison"))
        for key in ("SortCriteria", "Scopes"):
            if body.get(key):
                raise not_emulated("GetFindingsV2 %s is not emulated" % key)

        def one(finding, f):
            values = get_ocsf(finding, f["FieldName"])
            wanted = f["Filter"]["Value"]
            comparison = f["Filter"]["Comparison"]
            if comparison == "EQUALS":
                return wanted in values
            if comparison == "NOT_EQUALS":
                return wanted not in values
            return any(isinstance(v, str) and v.startswith(wanted) for v in values)

        def combine(results, operator):
            return any(results) if operator == "OR" else all(results)

        def matches(finding):
            if not composites:
                return True
            results = [
                combine([one(finding, f) for f in c.get("StringFilters") or []], c.get("Operator", "AND"))
                for c in composites
            ]
            return combine(results, filters.get("CompositeOperator", "AND"))

        with self.lock:
            matched = [copy.deepcopy(f) for f in self.findings_v2.values() if matches(f)]
        start = 0
        if body.get("NextToken"):
            try:
                start = int(base64.urlsafe_b64decode(body["NextToken"].encode()).decode())
            except (ValueError, UnicodeDecodeError):
                raise ApiError(400, "ValidationException", "Invalid NextToken")
        size = body.get("MaxResults", 100)
        out = {"Findings": matched[start : start + size]}
        if start + size < len(matched):
            out["NextToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return out

    def batch_update_findings_v2(self, body):
        def reject(message):
            raise ApiError(400, "ValidationException", message)

        uids = body.get("MetadataUids") or []
        idents = body.get("FindingIdentifiers") or []
        if uids and idents:
            reject("MetadataUids cannot be used together with FindingIdentifiers")
        if not uids and not idents:
            reject("Either MetadataUids or FindingIdentifiers is required")
        for field in ("StatusId", "SeverityId"):
            if field in body and body[field] not in OCSF_IDS:
                reject("%s must be one of %s" % (field, sorted(OCSF_IDS)))
        if "Comment" in body and not 1 <= len(body["Comment"]) <= 512:
            reject("Comment must be 1 to 512 characters")
        if not any(k in body for k in ("StatusId", "SeverityId", "Comment")):
            reject("Nothing to update: give StatusId, SeverityId or Comment")
        processed, unprocessed = [], []
        with self.lock:
            targets = []
            for uid in uids:
                targets.append(({"MetadataUid": uid}, self.findings_v2.get(uid)))
            for ident in idents:
                found = None
                for f in self.findings_v2.values():
                    if (
                        ident["CloudAccountUid"] in get_ocsf(f, "cloud.account.uid")
                        and ident["FindingInfoUid"] in get_ocsf(f, "finding_info.uid")
                        and ident["MetadataProductUid"] in get_ocsf(f, "metadata.product.uid")
                    ):
                        found = f
                        break
                targets.append(({"FindingIdentifier": dict(ident)}, found))
            for key, finding in targets:
                if finding is None:
                    entry = dict(key)
                    entry["ErrorCode"] = "ResourceNotFoundException"
                    entry["ErrorMessage"] = "Finding not found"
                    unprocessed.append(entry)
                    continue
                if "StatusId" in body:
                    finding["status_id"] = body["StatusId"]
                    finding["status"] = OCSF_STATUS[body["StatusId"]]
                if "SeverityId" in body:
                    finding["severity_id"] = body["SeverityId"]
                    finding["severity"] = OCSF_SEVERITY[body["SeverityId"]]
                if "Comment" in body:
                    finding["comment"] = body["Comment"]
                done = dict(key)
                done.setdefault("MetadataUid", get_ocsf(finding, "metadata.uid")[0])
                processed.append(done)
        return {"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}


IMPLEMENTED = {
    "BatchImportFindings": Store.batch_import_findings,
    "BatchUpdateFindings": Store.batch_update_findings,
    "GetFindings": Store.get_findings,
    "BatchGetSecurityControls": Store.batch_get_security_controls,
    "UpdateSecurityControl": Store.update_security_control,
    "GetFindingsV2": Store.get_findings_v2,
    "BatchUpdateFindingsV2": Store.batch_update_findings_v2,
}

# OCSF fields a GetFindingsV2 string filter may name here (dotted paths
# through objects and lists, as the API's field names are).
OCSF_STRING_PATHS = {
    "metadata.uid",
    "metadata.product.uid",
    "finding_info.uid",
    "cloud.account.uid",
    "cloud.region",
    "compliance.control",
    "compliance.status",
    "resources.uid",
    "resources.type",
    "status",
    "comment",
}

# OCSF Finding status_id / severity_id and their captions.
OCSF_STATUS = {0: "Unknown", 1: "New", 2: "In Progress", 3: "Suppressed", 4: "Resolved", 5: "Archived", 6: "Deleted", 99: "Other"}
OCSF_SEVERITY = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal", 99: "Other"}
OCSF_IDS = set(OCSF_STATUS)


def get_ocsf(obj, dotted):
    """Every value at a dotted OCSF path, through lists."""
    values = [obj]
    for part in dotted.split("."):
        nxt = []
        for v in values:
            if isinstance(v, list):
                v_items = v
            else:
                v_items = [v]
            for item in v_items:
                if isinstance(item, dict) and part in item:
                    child = item[part]
                    nxt.extend(child if isinstance(child, list) else [child])
        values = nxt
    return values


# --------------------------------------------------------------------------
# HTTP.
# --------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "securityhub-standin"
    store = None  # set in main()

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def do_PATCH(self):
        self.handle_any()

    def do_DELETE(self):
        self.handle_any()

    def log_message(self, fmt, *args):
        # The request line only (never headers, so no Authorization).
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))
        sys.stderr.flush()

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, status, obj, error_code=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if error_code:
            self.send_header("x-amzn-ErrorType", error_code)
        self.end_headers()
        self.wfile.write(data)

    def send_error_json(self, err):
        self.send_json(err.status, {"__type": err.code, "Message": err.message}, err.code)

    def handle_any(self):
        raw = self.read_body()
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        method = self.command.upper()

        if path.startswith("/_standin/"):
            return self.handle_standin(method, path, raw)

        entry = {"method": method, "path": path, "operation": None, "body": None, "valid": False, "errors": []}
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        try:
            op, labels = find_route(method, path, query)
            if op is None:
                raise ApiError(404, "UnknownOperationException", "No Security Hub operation for %s %s" % (method, path))
            entry["operation"] = op.name
            self.check_auth()
            if text is None:
                raise invalid("Request body is not UTF-8")
            headers = {k.lower(): v for k, v in self.headers.items() if k.lower() != "authorization"}
            lower_headers = {}
            for member in (op.input_shape.members.values() if op.input_shape else []):
                wire = member.serialization.get("name")
                if member.serialization.get("location") == "header" and wire and wire.lower() in headers:
                    lower_headers[wire] = headers[wire.lower()]
            params, body = parse_request(op, labels, query, lower_headers, text)
            entry["body"] = body
            errors = validate(op, params)
            entry["errors"] = errors
            if errors:
                raise invalid_for(op, "; ".join(errors))
            entry["valid"] = True
            impl = IMPLEMENTED.get(op.name)
            if impl is None:
                raise not_emulated("operation %s is not emulated" % op.name)
            result = impl(self.store, body or {})
        except ApiError as api_err:
            err = api_err
        except Exception as exc:  # a stand-in bug: answer 500 instead of dropping the connection
            err = ApiError(500, "InternalException", "securityhub stand-in internal error: %r" % exc)
            sys.stderr.write("internal error handling %s %s: %r\n" % (method, path, exc))
        else:
            err = None
        if err is not None:
            entry["status"] = err.status
            entry["error"] = {"code": err.code, "message": err.message}
            if entry["body"] is None and text:
                entry["body"] = text
            self.store.record(entry)
            return self.send_error_json(err)
        entry["status"] = 200
        self.store.record(entry)
        self.send_json(200, result)

    def check_auth(self):
        auth = self.headers.get("Authorization")
        if not auth:
            raise ApiError(403, "UnrecognizedClientException", "Missing Authentication Token: no Authorization header")
        m = SIGV4_RE.match(auth.strip())
        if not m:
            raise ApiError(403, "IncompleteSignatureException", "Authorization header is not a well-formed SigV4 signature")
        if m.group(4) != SERVICE:
            raise ApiError(
                403,
                "InvalidSignatureException",
                "Credential should be scoped to correct service: '%s', not '%s'" % (SERVICE, m.group(4)),
            )
        if "host" not in m.group(5).split(";"):
            raise ApiError(403, "InvalidSignatureException", "SignedHeaders must include host")

    def handle_standin(self, method, path, raw=b""):
        if method == "GET" and path == "/_standin/requests":
            return self.send_json(200, {"requests": self.store.recorded()})
        if method == "POST" and path == "/_standin/reset":
            self.store.reset()
            return self.send_json(200, {})
        if method == "POST" and path == "/_standin/findings-v2":
            try:
                body = json.loads(raw.decode("utf-8") or "{}")
                return self.send_json(200, self.store.put_findings_v2(body))
            except (ValueError, UnicodeDecodeError) as exc:
                return self.send_error_json(invalid("not JSON: %s" % exc))
            except ApiError as err:
                return self.send_error_json(err)
        if method == "GET" and path == "/_standin/health":
            return self.send_json(200, {"status": "ok", "strict": self.store.strict})
        return self.send_error_json(ApiError(404, "NotFound", "unknown stand-in endpoint %s %s" % (method, path)))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Security Hub stand-in server for rectify's tests (not AWS).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="answer BatchUpdateFindings for unknown findings as UnprocessedFindings/FindingNotFound",
    )
    args = parser.parse_args(argv)

    Handler.store = Store(strict=args.strict)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    host, port = server.server_address[:2]
    print("READY http://%s:%d" % (host, port), flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
