"""Stand-in for the Smithy RPC v2 CBOR protocol in front of moto.

The AWS SDK for Rust speaks only RPC v2 CBOR to CloudWatch
(`POST /service/GraniteServiceVersion20100801/operation/<Operation>`,
`smithy-protocol: rpc-v2-cbor`), which the pinned moto does not route (it
answers CloudWatch in its Query and JSON protocols). This layer turns such a
request into the same operation in the JSON protocol, lets moto answer it,
and turns the answer back into CBOR, with timestamps tagged as the service's
botocore model says (CBOR tag 1, epoch seconds). Operations and members are
checked against that model: an operation the model does not have, or a
request member its input shape does not have, is refused the way AWS
refuses it, so a request the real service would reject is not accepted
here.

An error moto answers in XML whatever the protocol (IAM enforcement's
AccessDenied, in `moto_iam_server.py`) is passed on as its code and
message.

What it does not check: CBOR details AWS may be stricter on (indefinite
lengths, float widths); the answers are moto's.
"""

import io
import json
from xml.etree import ElementTree
from datetime import datetime, timezone

import botocore.session
import cbor2

PREFIX = "/service/"
# The services this layer answers: RPC v2 service name -> botocore name.
SERVICES = {"GraniteServiceVersion20100801": "cloudwatch"}

_models = {}


def _model(name):
    if name not in _models:
        _models[name] = botocore.session.get_session().get_service_model(name)
    return _models[name]


def _unknown_members(shape, value, path):
    """Request members the input shape does not declare, as paths."""
    if shape is None or value is None:
        return []
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [path or "(input)"]
        bad = []
        for key, item in value.items():
            member = shape.members.get(key)
            if member is None:
                bad.append(f"{path}.{key}" if path else key)
            else:
                bad += _unknown_members(member, item, f"{path}.{key}" if path else key)
        return bad
    if kind == "list" and isinstance(value, list):
        bad = []
        for i, item in enumerate(value):
            bad += _unknown_members(shape.member, item, f"{path}[{i}]")
        return bad
    return []


def _to_json(value):
    """CBOR-decoded request values as the JSON protocol carries them."""
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(value).decode()
    return value


def _to_cbor(shape, value):
    """A JSON-protocol answer as RPC v2 CBOR values: timestamps tagged."""
    if shape is None or value is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {
            k: _to_cbor(shape.members.get(k), v)
            for k, v in value.items()
        }
    if kind == "list" and isinstance(value, list):
        return [_to_cbor(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _to_cbor(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        if isinstance(value, str):
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            seconds = when.timestamp()
        else:
            seconds = float(value)
        return cbor2.CBORTag(1, seconds)
    return value


def _decode(text, status):
    """moto's answer: JSON, or for an error moto raises in XML whatever the
    protocol (IAM enforcement's AccessDenied), its code and message."""
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError:
        if status.startswith("2"):
            raise
    root = ElementTree.fromstring(text)
    code = root.find(".//Code")
    message = root.find(".//Message")
    return {
        "__type": code.text if code is not None else "InternalFailure",
        "message": message.text if message is not None else "",
    }


def _answer(start_response, status, body):
    data = cbor2.dumps(body)
    start_response(
        status,
        [
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("Content-Length", str(len(data))),
        ],
    )
    return [data]


def _refuse(start_response, kind, message):
    return _answer(start_response, "400 Bad Request", {"__type": kind, "message": message})


def wrap(app):
    """A WSGI app that answers RPC v2 CBOR requests through `app` in JSON."""

    def call(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX) or "/operation/" not in path:
            return app(environ, start_response)
        service, _, operation = path[len(PREFIX):].partition("/operation/")
        name = SERVICES.get(service)
        if name is None:
            return app(environ, start_response)
        if environ.get("HTTP_SMITHY_PROTOCOL") != "rpc-v2-cbor":
            return _refuse(start_response, "InvalidAction", "smithy-protocol header must be rpc-v2-cbor")
        model = _model(name)
        if operation not in model.operation_names:
            return _refuse(start_response, "UnknownOperationException", f"no operation {operation}")
        op = model.operation_model(operation)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            request = cbor2.loads(raw) if raw else {}
        except Exception as e:  # malformed CBOR is the client's fault
            return _refuse(start_response, "SerializationException", f"malformed CBOR: {e}")
        unknown = _unknown_members(op.input_shape, request, "")
        if unknown:
            return _refuse(
                start_response,
                "SerializationException",
                f"members not in {operation}'s input: {', '.join(unknown)}",
            )
        body = json.dumps(_to_json(request)).encode()
        inner = dict(environ)
        inner["PATH_INFO"] = "/"
        inner["CONTENT_TYPE"] = "application/x-amz-json-1.0"
        inner["HTTP_X_AMZ_TARGET"] = f"{service}.{operation}"
        inner["CONTENT_LENGTH"] = str(len(body))
        inner["wsgi.input"] = io.BytesIO(body)
        got = {}

        def capture(status, headers, exc_info=None):
            got["status"] = status
            return lambda _chunk: None

        chunks = app(inner, capture)
        try:
            text = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status = got.get("status", "500 Internal Server Error")
        answer = _decode(text, status)
        if status.startswith("2"):
            answer = _to_cbor(op.output_shape, answer)
        elif isinstance(answer, dict) and "__type" in answer:
            answer["__type"] = answer["__type"].split("#")[-1]
        return _answer(start_response, status, answer)

    return call


def apply():
    """Puts the layer in front of moto's server application."""
    from moto.moto_server import werkzeug_app

    dispatcher = werkzeug_app.DomainDispatcherApplication
    original = dispatcher.__call__

    def __call__(self, environ, start_response):
        return wrap(lambda e, s: original(self, e, s))(environ, start_response)

    dispatcher.__call__ = __call__
