"""A counting proxy in front of moto: forwards every HTTP request and
appends `service operation` to a log, one line per AWS call (STS calls are
logged as `sts ...` and left out of the counts by report.py).

Usage: count_proxy.py PORT UPSTREAM_HOST:PORT LOGFILE
"""

import http.client
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

PORT = int(sys.argv[1])
UPSTREAM = sys.argv[2]
LOG = sys.argv[3]
LOCK = threading.Lock()
SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")


def call_name(method, path, headers, body):
    m = SCOPE.search(headers.get("Authorization", ""))
    service = m.group(1) if m else "?"
    target = headers.get("X-Amz-Target")
    if target:
        return f"{service} {target}"
    if body and b"Action=" in body:
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", ["?"])[0]
        return f"{service} {action}"
    return f"{service} {method} {path}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with LOCK, open(LOG, "a") as f:
            f.write(call_name(self.command, self.path, self.headers, body) + "\n")
        upstream = http.client.HTTPConnection(UPSTREAM, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        self.send_response_only(response.status, response.reason)
        for k, v in response.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.close_connection = True
        upstream.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = forward


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
