"""A fault-injecting HTTP proxy for rectify's resilience tests.

It sits between rectify and the AWS emulator and answers a configured share
of requests with a fault instead of forwarding them:

  throttle  the service's own throttling error, in the service's protocol
            (S3: 503 SlowDown; EC2: 503 RequestLimitExceeded; IAM, STS,
            SNS: 400 Throttling; JSON services: 400 ThrottlingException)
  500, 503  an internal error / service unavailable
  slow      forwards the request after a delay (`--slow-seconds`)
  drop      closes the connection without answering

Usage:
  python fault_proxy.py --upstream http://127.0.0.1:5000 --port 0 \
      --share 0.3 --faults throttle,500,503,slow,drop [--seed 7] \
      [--only-service ec2] [--permanent throttle]

`--permanent KIND` answers every matching request with that fault (for the
"dead letter" tests). Prints `READY http://127.0.0.1:PORT` once listening.
`GET /_faults/stats` returns counts per fault and per service;
`POST /_faults/config` with a JSON body changes share/faults/permanent live.
"""

import argparse
import http.client
import json
import random
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")

QUERY_XML = ("iam", "sts", "sns", "cloudformation", "rds", "elasticloadbalancing")


def service_of(headers):
    m = SCOPE.search(headers.get("Authorization", ""))
    return m.group(2) if m else "unknown"


def throttle(service):
    """(status, content-type, body, extra headers) of the service's throttling error."""
    if service == "s3":
        return 503, "application/xml", (
            "<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code>"
            "<Message>Please reduce your request rate.</Message></Error>"), {}
    if service == "ec2":
        return 503, "text/xml", (
            "<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error>"
            "<Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
            "</Error></Errors><RequestID>fault-proxy</RequestID></Response>"), {}
    if service in QUERY_XML:
        return 400, "text/xml", (
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
            "<Message>Rate exceeded</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"), {}
    return 400, "application/x-amz-json-1.1", json.dumps(
        {"__type": "ThrottlingException", "message": "Rate exceeded"}), {
        "x-amzn-ErrorType": "ThrottlingException"}


def server_error(service, status):
    code = "InternalError" if status == 500 else "ServiceUnavailable"
    if service in ("s3",):
        return status, "application/xml", f"<Error><Code>{code}</Code><Message>fault</Message></Error>", {}
    if service == "ec2":
        return status, "text/xml", (f"<Response><Errors><Error><Code>{code}</Code><Message>fault</Message>"
                                    "</Error></Errors></Response>"), {}
    if service in QUERY_XML:
        return status, "text/xml", (f"<ErrorResponse><Error><Type>Receiver</Type><Code>{code}</Code>"
                                    "<Message>fault</Message></Error></ErrorResponse>"), {}
    return status, "application/x-amz-json-1.1", json.dumps({"__type": code, "message": "fault"}), {
        "x-amzn-ErrorType": code}


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.rng = random.Random(args.seed)
        self.share = args.share
        self.faults = [f for f in args.faults.split(",") if f]
        self.permanent = args.permanent
        self.only = args.only_service
        self.slow = args.slow_seconds
        self.stats = {"forwarded": 0, "by_fault": {}, "by_service": {}}

    def pick(self, service):
        with self.lock:
            if self.only and service != self.only:
                return None
            if self.permanent:
                return self.permanent
            if self.faults and self.rng.random() < self.share:
                return self.rng.choice(self.faults)
            return None

    def count(self, fault, service):
        with self.lock:
            if fault is None:
                self.stats["forwarded"] += 1
            else:
                self.stats["by_fault"][fault] = self.stats["by_fault"].get(fault, 0) + 1
                per = self.stats["by_service"].setdefault(service, {})
                per[fault] = per.get(fault, 0) + 1


def make_handler(state, upstream):
    target = urllib.parse.urlparse(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _reply(self, status, ctype, body, headers=None):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _control(self):
            if self.path == "/_faults/stats" and self.command == "GET":
                with state.lock:
                    self._reply(200, "application/json", json.dumps(state.stats))
                return True
            if self.path == "/_faults/config" and self.command == "POST":
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                cfg = json.loads(body or b"{}")
                with state.lock:
                    state.share = cfg.get("share", state.share)
                    state.faults = cfg.get("faults", state.faults)
                    state.permanent = cfg.get("permanent", state.permanent)
                    state.only = cfg.get("only_service", state.only)
                self._reply(200, "application/json", "{}")
                return True
            return False

        def _handle(self):
            if self.path.startswith("/_faults/") and self._control():
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            service = service_of(self.headers)
            fault = state.pick(service)
            state.count(fault, service)
            if fault == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault == "throttle":
                self._reply(*throttle(service)[:3], throttle(service)[3])
                return
            if fault in ("500", "503"):
                status, ctype, text, headers = server_error(service, int(fault))
                self._reply(status, ctype, text, headers)
                return
            if fault == "slow":
                time.sleep(state.slow)
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--share", type=float, default=0.3)
    p.add_argument("--faults", default="throttle,500,503,slow,drop")
    p.add_argument("--permanent", default=None)
    p.add_argument("--only-service", default=None)
    p.add_argument("--slow-seconds", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args()
    state = State(args)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(state, args.upstream))
    server.daemon_threads = True
    print(f"READY http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
