"""A stand-in for the AWS Lambda Runtime API (version 2018-06-01).

No implementation of the Runtime API can be installed here (the Runtime
Interface Emulator ships only as a container image), so this server plays
the Lambda side of the API a custom runtime talks to, and checks every
request the runtime makes against the API's published contract (the
OpenAPI document runtime-api.yaml of version 2018-06-01 and the Lambda
developer guide, "Using the Lambda runtime API for custom runtimes"),
encoded in MODEL below. A request outside the contract is answered as
Lambda answers it and recorded as a violation, so a test fails loudly.

Usage:
  python lambda_runtime_standin.py --port 0
Prints `READY 127.0.0.1:PORT` (the value of AWS_LAMBDA_RUNTIME_API).

Control endpoints for tests (not part of the Runtime API):
  POST /_standin/invoke          body {"event": <any JSON>, "timeout_ms": N}
                                 -> {"request_id": "..."}; queues an invocation
  GET  /_standin/result/<id>     -> {"state": "queued"|"running"|"response"|"error",
                                     "body": ..., "error_type_header": ...}
  GET  /_standin/state           -> {"init_error": ..., "violations": [...]}
"""

import argparse
import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "2018-06-01"

# The contract, from runtime-api.yaml (2018-06-01) and the developer guide.
MODEL = {
    "next": {
        "method": "GET",
        "path": re.compile(r"^/2018-06-01/runtime/invocation/next$"),
        # Headers Lambda sends with each invocation.
        "response_headers": [
            "Lambda-Runtime-Aws-Request-Id",
            "Lambda-Runtime-Deadline-Ms",
            "Lambda-Runtime-Invoked-Function-Arn",
            "Lambda-Runtime-Trace-Id",
        ],
    },
    "response": {
        "method": "POST",
        "path": re.compile(r"^/2018-06-01/runtime/invocation/(?P<id>[^/]+)/response$"),
        # Largest synchronous response payload (6 MB).
        "max_body": 6 * 1024 * 1024,
    },
    "error": {
        "method": "POST",
        "path": re.compile(r"^/2018-06-01/runtime/invocation/(?P<id>[^/]+)/error$"),
    },
    "init_error": {
        "method": "POST",
        "path": re.compile(r"^/2018-06-01/runtime/init/error$"),
    },
}
# ErrorRequest: {errorMessage: string, errorType: string, stackTrace: [string]}.
ERROR_FIELDS = {"errorMessage": str, "errorType": str, "stackTrace": list}
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:rectify"


class State:
    def __init__(self):
        self.lock = threading.Condition()
        self.queue = []          # request ids waiting for /next
        self.invocations = {}    # id -> dict
        self.current = None      # id handed out by /next, not yet answered
        self.init_error = None
        self.violations = []

    def violation(self, text):
        with self.lock:
            self.violations.append(text)
        print(f"VIOLATION {text}", file=sys.stderr, flush=True)


STATE = State()


def check_error_request(raw):
    """Problems with an ErrorRequest body, as a list of strings."""
    try:
        body = json.loads(raw or b"null")
    except ValueError as e:
        return [f"error body is not JSON: {e}"], None
    if not isinstance(body, dict):
        return ["error body is not a JSON object"], None
    problems = []
    for key in body:
        if key not in ERROR_FIELDS:
            problems.append(f"unknown ErrorRequest member {key!r}")
    for key in ("errorMessage", "errorType"):
        if not isinstance(body.get(key), str) or not body.get(key):
            problems.append(f"ErrorRequest.{key} must be a non-empty string")
    trace = body.get("stackTrace", [])
    if not isinstance(trace, list) or not all(isinstance(t, str) for t in trace):
        problems.append("ErrorRequest.stackTrace must be a list of strings")
    return problems, body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            out = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status, body, headers=None, chunked=False):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if chunked:
            # As Lambda's Go server does for larger payloads.
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data), 4096):
                piece = data[i:i + 4096]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def route(self, method):
        for name, spec in MODEL.items():
            m = spec["path"].match(self.path)
            if m:
                if spec["method"] != method:
                    STATE.violation(f"{method} {self.path}: the API takes {spec['method']} there")
                    self.answer(405, {"errorMessage": "Method not allowed", "errorType": "MethodNotAllowed"})
                    return None, None
                return name, m
        STATE.violation(f"{method} {self.path}: no such Runtime API path")
        self.answer(404, {"errorMessage": "Not found", "errorType": "NotFound"})
        return None, None

    # --- control -----------------------------------------------------------

    def control(self, method):
        if method == "POST" and self.path == "/_standin/invoke":
            req = json.loads(self.body())
            rid = str(uuid.uuid4())
            with STATE.lock:
                STATE.invocations[rid] = {
                    "event": json.dumps(req["event"]).encode()
                    if "raw" not in req else req["raw"].encode(),
                    "timeout_ms": int(req.get("timeout_ms", 30000)),
                    "state": "queued",
                }
                STATE.queue.append(rid)
                STATE.lock.notify_all()
            return self.answer(200, {"request_id": rid})
        if method == "GET" and self.path.startswith("/_standin/result/"):
            rid = self.path.rsplit("/", 1)[1]
            with STATE.lock:
                inv = STATE.invocations.get(rid)
                if inv is None:
                    return self.answer(404, {"error": "unknown request id"})
                out = {k: inv.get(k) for k in ("state", "body", "error_type_header")}
            return self.answer(200, out)
        if method == "GET" and self.path == "/_standin/state":
            with STATE.lock:
                return self.answer(200, {"init_error": STATE.init_error,
                                         "violations": STATE.violations})
        return self.answer(404, {"error": "unknown control path"})

    # --- the Runtime API ------------------------------------------------------

    def do_GET(self):
        if self.path.startswith("/_standin/"):
            return self.control("GET")
        name, _ = self.route("GET")
        if name != "next":
            return
        if self.headers.get("Content-Length") not in (None, "0"):
            STATE.violation("GET /next with a body")
        with STATE.lock:
            if STATE.current is not None:
                STATE.violation(f"/next while invocation {STATE.current} is unanswered")
            while not STATE.queue:
                STATE.lock.wait()
            rid = STATE.queue.pop(0)
            inv = STATE.invocations[rid]
            inv["state"] = "running"
            STATE.current = rid
            deadline = int(time.time() * 1000) + inv["timeout_ms"]
        headers = {
            "Lambda-Runtime-Aws-Request-Id": rid,
            "Lambda-Runtime-Deadline-Ms": str(deadline),
            "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
            "Lambda-Runtime-Trace-Id": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
        }
        assert sorted(headers) == sorted(MODEL["next"]["response_headers"])
        event = inv["event"]
        self.answer(200, event, headers, chunked=len(event) > 4096)

    def do_POST(self):
        if self.path.startswith("/_standin/"):
            return self.control("POST")
        name, m = self.route("POST")
        if name is None:
            return
        raw = self.body()
        if name == "init_error":
            problems, body = check_error_request(raw)
            for p in problems:
                STATE.violation(f"init/error: {p}")
            with STATE.lock:
                STATE.init_error = {"body": body,
                                    "error_type_header": self.headers.get("Lambda-Runtime-Function-Error-Type")}
            return self.answer(202, {"status": "OK"})
        rid = m.group("id")
        with STATE.lock:
            inv = STATE.invocations.get(rid)
            valid = inv is not None and inv["state"] == "running" and STATE.current == rid
        if not valid:
            STATE.violation(f"{name} for request id {rid!r}, which is not the invocation in progress")
            return self.answer(400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"})
        if name == "response":
            if len(raw) > MODEL["response"]["max_body"]:
                STATE.violation(f"response of {len(raw)} bytes")
                return self.answer(413, {"errorMessage": "Exceeded maximum allowed payload size",
                                         "errorType": "RequestEntityTooLarge"})
            try:
                body = json.loads(raw)
            except ValueError as e:
                STATE.violation(f"response body is not JSON: {e}")
                body = raw.decode("utf-8", "replace")
            with STATE.lock:
                inv.update(state="response", body=body)
                STATE.current = None
            return self.answer(202, {"status": "OK"})
        problems, body = check_error_request(raw)
        for p in problems:
            STATE.violation(f"error: {p}")
        with STATE.lock:
            inv.update(state="error", body=body,
                       error_type_header=self.headers.get("Lambda-Runtime-Function-Error-Type"))
            STATE.current = None
        return self.answer(202, {"status": "OK"})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"READY 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
