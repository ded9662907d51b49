"""What the ServiceNow and Jira stand-ins share: an HTTP server on
loopback with basic auth, a record of every request and whether it was
accepted, injected faults (429 with Retry-After, 5xx) for retry tests, and
the test-only ``/_standin/...`` endpoints. Standard library only.

A stand-in is not the vendor's service: it checks each request against
the vendor's published API description (the checks live in each
stand-in) and answers as that description says.
"""

import base64
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Reject(Exception):
    """A request the vendor's API would refuse: status, body."""

    def __init__(self, status, body):
        super().__init__(str(body))
        self.status = status
        self.body = body


class Faults:
    """The next ``count`` API requests are answered ``status``."""

    def __init__(self):
        self.lock = threading.Lock()
        self.queue = []

    def set(self, spec):
        with self.lock:
            self.queue = [
                (int(spec["status"]), spec.get("retry_after"))
                for _ in range(int(spec.get("count", 1)))
            ]

    def take(self):
        with self.lock:
            return self.queue.pop(0) if self.queue else None


def make_handler(api, user, secret, server_name):
    """A handler class answering ``api`` (an object with ``route(method,
    path, query, headers, body) -> (status, obj)``, ``reject_auth()`` and
    ``test_endpoint(method, path, body) -> (status, obj)``)."""
    expected = "Basic " + base64.b64encode(("%s:%s" % (user, secret)).encode()).decode()
    faults = Faults()
    log = []
    log_lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = server_name

        def log_message(self, fmt, *args):
            # The request line only: never headers, so no credentials.
            sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))

        def send_json(self, status, obj, headers=()):
            data = b"" if obj is None else json.dumps(obj).encode()
            self.send_response(status)
            if obj is not None:
                self.send_header("Content-Type", "application/json")
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def handle_any(self):
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if url.path.startswith("/_standin/"):
                body = json.loads(raw or b"{}")
                if url.path == "/_standin/requests":
                    with log_lock:
                        return self.send_json(200, {"requests": list(log)})
                if url.path == "/_standin/faults":
                    faults.set(body)
                    return self.send_json(200, {"ok": True})
                if url.path == "/_standin/reset":
                    with log_lock:
                        log.clear()
                    api.reset()
                    return self.send_json(200, {"ok": True})
                if url.path == "/_standin/health":
                    return self.send_json(200, {"ok": True})
                status, obj = api.test_endpoint(self.command, url.path, body)
                return self.send_json(status, obj)
            entry = {"method": self.command, "path": url.path, "query": url.query}
            try:
                if self.headers.get("Authorization") != expected:
                    raise api.reject_auth()
                fault = faults.take()
                if fault:
                    status, retry_after = fault
                    entry["status"] = status
                    entry["fault"] = True
                    headers = [("Retry-After", str(retry_after))] if retry_after is not None else []
                    self.record(entry)
                    return self.send_json(status, api.fault_body(status), headers)
                body = None
                if self.command in ("POST", "PUT", "PATCH"):
                    ctype = self.headers.get("Content-Type", "")
                    if not ctype.startswith("application/json"):
                        raise api.bad_request("Content-Type must be application/json, not %r" % ctype)
                    try:
                        body = json.loads(raw)
                    except ValueError as e:
                        raise api.bad_request("the body is not JSON: %s" % e)
                    entry["body"] = body
                query = parse_qs(url.query, keep_blank_values=True)
                status, obj = api.route(self.command, url.path, query, self.headers, body)
            except Reject as r:
                entry["status"] = r.status
                entry["rejected"] = r.body
                self.record(entry)
                return self.send_json(r.status, r.body)
            entry["status"] = status
            self.record(entry)
            return self.send_json(status, obj)

        def record(self, entry):
            with log_lock:
                log.append(entry)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    return Handler


def serve(api, user, secret, host, port, name):
    """Starts the server; returns it (``server_address`` has the port)."""
    server = ThreadingHTTPServer((host, port), make_handler(api, user, secret, name))
    server.daemon_threads = True
    return server


def main_loop(build, description):
    """Command line: ``--host H --port P --user U --secret S``; prints
    ``READY http://H:P`` once listening."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user", required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    api, name = build()
    server = serve(api, args.user, args.secret, args.host, args.port, name)
    host, port = server.server_address[:2]
    print("READY http://%s:%d" % (host, port), flush=True)
    server.serve_forever()


def check_keys(obj, allowed, where, reject):
    if not isinstance(obj, dict):
        raise reject("%s must be a JSON object" % where)
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise reject("%s: unknown field(s) %s" % (where, ", ".join(unknown)))


SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
