#!/usr/bin/env python3
"""IAM Access Analyzer STAND-IN server for rectify's tests. It is not AWS.

moto (the AWS emulator the test suite runs against) does not implement IAM
Access Analyzer, which the posture check ``iam.access-analyzer`` (CIS AWS
Foundations v3.0 1.20, Security Hub IAM.28) reads with ``ListAnalyzers``.
This small server stands in for that REST-JSON API.

Every request is checked against botocore's official service model for
``accessanalyzer``, with the routing and validation code of the Security Hub
stand-in (``securityhub_standin.py``):

* the operation is found from the HTTP method and request URI of the model
  (no match: 404 ``UnknownOperationException``);
* the request must carry a SigV4 ``Authorization`` header scoped to the
  ``access-analyzer`` signing name (the signature itself is not verified:
  there is no secret to verify it with);
* the query string, URI members and JSON body are validated against the
  operation's input shape (types, required members, enums, lengths,
  patterns, ``maxResults`` and such); an invalid request is answered 400
  ``ValidationException`` as Access Analyzer does;
* the answer is validated against the operation's output shape before it is
  sent, so the stand-in never answers what AWS could not.

State: analyzers per account and region. The region is the one of the
request's SigV4 credential scope. The account is, like moto decides it:
the ``x-moto-account-id`` header when present; otherwise the account of the
credentials' access key as the emulator's STS names it
(``GetCallerIdentity``, when ``--moto-url`` is given; an assumed role's
keys belong to the role's account); otherwise moto's default account
123456789012.

Implemented: ``ListAnalyzers`` (the ``type`` filter, ``maxResults`` /
``nextToken`` paging). Any other operation of the model is validated and
then answered 501 ``StandinNotImplemented``, so a test never silently relies
on something not emulated.

Test-only endpoints:
  POST /_standin/analyzers  {"account", "region", "name", "type", "status"}:
                            an analyzer (status ACTIVE, CREATING, DISABLED or
                            FAILED, as AWS reports them); answers its ARN
  GET  /_standin/requests   every request received (operation, account,
                            region, query, result)
  POST /_standin/reset      forget every analyzer and recorded request
  GET  /_standin/health

Usage:
  python tests/standins/accessanalyzer_standin.py --host 127.0.0.1 --port 0 [--moto-url URL]

``--port 0`` picks a free port. Once listening, ``READY http://HOST:PORT`` is
printed on stdout.
"""

import argparse
import datetime
import json
import os
import re
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.session
from botocore.validate import ParamValidator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from securityhub_standin import SIGV4_RE, ApiError, Route, extra_checks, parse_request  # noqa: E402

SERVICE = "accessanalyzer"
MODEL = botocore.session.get_session().get_service_model(SERVICE)
SIGNING_NAME = MODEL.metadata.get("signingName", SERVICE)
DEFAULT_ACCOUNT = "123456789012"
ANALYZER_TYPES = MODEL.shape_for("Type").enum
ANALYZER_STATUSES = MODEL.shape_for("AnalyzerStatus").enum
# Answers larger than this are refused by the stand-in's own test endpoint.
MAX_ANALYZERS_PER_PLACE = 1000

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


def validation(message):
    return ApiError(400, "ValidationException", message)


def not_emulated(message):
    return ApiError(501, "StandinNotImplemented", "accessanalyzer stand-in: " + message)


def validate_input(op, params):
    errors = []
    shape = op.input_shape
    if shape is None:
        return errors
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        errors.extend(line.strip() for line in report.generate_report().splitlines() if line.strip())
    extra_checks(params, shape, "", errors)
    return errors


def to_params(value, shape):
    """An answer in botocore parameter form (timestamps as datetimes), to
    validate it against the output shape."""
    t = shape.type_name
    if t == "structure" and isinstance(value, dict):
        return {k: to_params(v, shape.members[k]) if k in shape.members else v for k, v in value.items()}
    if t == "list" and isinstance(value, list):
        return [to_params(v, shape.member) for v in value]
    if t == "map" and isinstance(value, dict):
        return {k: to_params(v, shape.value) for k, v in value.items()}
    if t == "timestamp" and isinstance(value, str):
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def check_output(op, answer):
    """Raises when the stand-in's own answer does not fit the model."""
    shape = op.output_shape
    report = ParamValidator().validate(to_params(answer, shape), shape)
    errors = [line.strip() for line in report.generate_report().splitlines() if line.strip()]
    extra_checks(answer, shape, "", errors)
    if errors:
        raise ApiError(500, "InternalServerException", "stand-in answer off the model: " + "; ".join(errors))


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    def __init__(self, moto_url=None):
        self.lock = threading.Lock()
        self.moto_url = moto_url
        self.key_accounts = {}
        self.reset()

    def reset(self):
        with self.lock:
            self.analyzers = {}  # (account, region) -> [analyzer summary]
            self.requests = []

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)

    def recorded(self):
        with self.lock:
            return list(self.requests)

    def add(self, body):
        if not isinstance(body, dict):
            raise validation("body must be a JSON object")
        account = body.get("account") or DEFAULT_ACCOUNT
        region = body.get("region") or "us-east-1"
        name = body.get("name")
        kind = body.get("type", "ACCOUNT")
        status = body.get("status", "ACTIVE")
        if not (isinstance(account, str) and re.fullmatch(r"\d{12}", account)):
            raise validation("account must be 12 digits")
        if not (isinstance(region, str) and re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region)):
            raise validation("region %r is not a region name" % (region,))
        if not (isinstance(name, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,254}", name)):
            raise validation("name %r is not an analyzer name" % (name,))
        if kind not in ANALYZER_TYPES:
            raise validation("type must be one of %s" % ", ".join(ANALYZER_TYPES))
        if status not in ANALYZER_STATUSES:
            raise validation("status must be one of %s" % ", ".join(ANALYZER_STATUSES))
        arn = "arn:aws:access-analyzer:%s:%s:analyzer/%s" % (region, account, name)
        summary = {"arn": arn, "name": name, "type": kind, "createdAt": now_iso(), "status": status, "tags": {}}
        if status == "FAILED":
            summary["statusReason"] = {"code": "SERVICE_LINKED_ROLE_CREATION_FAILED"}
        with self.lock:
            place = self.analyzers.setdefault((account, region), [])
            if any(a["name"] == name for a in place):
                raise ApiError(409, "ConflictException", "analyzer %s already exists" % name)
            if len(place) >= MAX_ANALYZERS_PER_PLACE:
                raise validation("too many analyzers in %s %s" % (account, region))
            place.append(summary)
        return {"arn": arn}

    def list_analyzers(self, account, region, params):
        kind = params.get("type")
        with self.lock:
            found = [dict(a) for a in self.analyzers.get((account, region), []) if kind is None or a["type"] == kind]
        start = 0
        token = params.get("nextToken")
        if token is not None:
            if not re.fullmatch(r"\d{1,6}", token) or int(token) > len(found):
                raise validation("Invalid nextToken")
            start = int(token)
        size = params.get("maxResults") or 100
        if size < 1:
            raise validation("maxResults must be at least 1")
        page = found[start : start + size]
        answer = {"analyzers": page}
        if start + size < len(found):
            answer["nextToken"] = str(start + size)
        return answer

    def account_of(self, access_key):
        """The account the emulator's STS gives the access key."""
        if not self.moto_url:
            return DEFAULT_ACCOUNT
        with self.lock:
            known = self.key_accounts.get(access_key)
        if known:
            return known
        # moto reads the access key of the Authorization header and does not
        # check the signature (the stand-in holds no secret to sign with).
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
        request = urllib.request.Request(
            self.moto_url.rstrip("/") + "/",
            data=b"Action=GetCallerIdentity&Version=2011-06-15",
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s/us-east-1/sts/aws4_request, "
                "SignedHeaders=host, Signature=%s" % (access_key, date, "0" * 64),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                text = answer.read(1 << 16).decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(500, "InternalServerException", "stand-in: the emulator's STS did not answer: %s" % exc)
        m = re.search(r"<Account>(\d{12})</Account>", text)
        if not m:
            raise ApiError(403, "UnrecognizedClientException", "the access key is not known")
        with self.lock:
            self.key_accounts[access_key] = m.group(1)
        return m.group(1)


IMPLEMENTED = {"ListAnalyzers": Store.list_analyzers}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "accessanalyzer-standin"
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
        length = int(self.headers.get("Content-Length") or 0)
        if length > 1 << 20:
            raise validation("request body over 1 MiB")
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
        self.send_json(err.status, {"__type": err.code, "message": err.message}, err.code)

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        method = self.command.upper()
        try:
            raw = self.read_body()
        except ApiError as err:
            self.close_connection = True
            return self.send_error_json(err)
        if path.startswith("/_standin/"):
            return self.handle_standin(method, path, raw)

        entry = {"method": method, "path": path, "query": url.query, "operation": None, "account": None, "region": None}
        try:
            op, labels = find_route(method, path, query)
            if op is None:
                raise ApiError(404, "UnknownOperationException", "No Access Analyzer operation for %s %s" % (method, path))
            entry["operation"] = op.name
            access_key, region = self.check_auth()
            entry["region"] = region
            account = self.headers.get("x-moto-account-id") or self.store.account_of(access_key)
            if not re.fullmatch(r"\d{12}", account):
                raise validation("x-moto-account-id must be 12 digits")
            entry["account"] = account
            try:
                text = raw.decode("utf-8")
                params, _ = parse_request(op, labels, query, {}, text)
            except UnicodeDecodeError:
                raise validation("Request body is not UTF-8")
            except ApiError as e:
                raise validation(e.message)
            errors = validate_input(op, params)
            if errors:
                raise validation("; ".join(errors))
            impl = IMPLEMENTED.get(op.name)
            if impl is None:
                raise not_emulated("operation %s is not emulated" % op.name)
            result = impl(self.store, account, region, params)
            check_output(op, result)
        except ApiError as err:
            entry["status"] = err.status
            entry["error"] = {"code": err.code, "message": err.message}
            self.store.record(entry)
            return self.send_error_json(err)
        except Exception as exc:  # a stand-in bug: answer 500 instead of dropping the connection
            sys.stderr.write("internal error handling %s %s: %r\n" % (method, path, exc))
            entry["status"] = 500
            self.store.record(entry)
            return self.send_error_json(ApiError(500, "InternalServerException", "stand-in internal error: %r" % exc))
        entry["status"] = 200
        self.store.record(entry)
        self.send_json(200, result)

    def check_auth(self):
        """The access key id and region of the SigV4 credential scope."""
        auth = self.headers.get("Authorization")
        if not auth:
            raise ApiError(403, "UnrecognizedClientException", "Missing Authentication Token: no Authorization header")
        m = SIGV4_RE.match(auth.strip())
        if not m:
            raise ApiError(403, "IncompleteSignatureException", "Authorization header is not a well-formed SigV4 signature")
        if m.group(4) != SIGNING_NAME:
            raise ApiError(
                403,
                "InvalidSignatureException",
                "Credential should be scoped to correct service: '%s', not '%s'" % (SIGNING_NAME, m.group(4)),
            )
        if "host" not in m.group(5).split(";"):
            raise ApiError(403, "InvalidSignatureException", "SignedHeaders must include host")
        return m.group(1), m.group(3)

    def handle_standin(self, method, path, raw):
        if method == "GET" and path == "/_standin/requests":
            return self.send_json(200, {"requests": self.store.recorded()})
        if method == "POST" and path == "/_standin/reset":
            self.store.reset()
            return self.send_json(200, {})
        if method == "POST" and path == "/_standin/analyzers":
            try:
                body = json.loads(raw.decode("utf-8") or "{}")
                return self.send_json(200, self.store.add(body))
            except (ValueError, UnicodeDecodeError) as exc:
                return self.send_error_json(validation("not JSON: %s" % exc))
            except ApiError as err:
                return self.send_error_json(err)
        if method == "GET" and path == "/_standin/health":
            return self.send_json(200, {"status": "ok"})
        return self.send_error_json(ApiError(404, "NotFound", "unknown stand-in endpoint %s %s" % (method, path)))


def main(argv=None):
    parser = argparse.ArgumentParser(description="IAM Access Analyzer stand-in server for rectify's tests (not AWS).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--moto-url", help="the emulator whose STS names the account of an access key")
    args = parser.parse_args(argv)

    Handler.store = Store(moto_url=args.moto_url)
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
