#!/usr/bin/env python3
"""STAND-IN Kubernetes API server for rectify's tests. Not a Kubernetes.

No real API server can run on the machines rectify is tested on, so this
stand-in answers the part of the Kubernetes REST API that rectify's `kube.*`
actions call, as the real API server answers it:

- resources: pods, nodes, serviceaccounts, deployments, replicasets, jobs, networkpolicies
  (core v1, apps/v1, batch/v1, networking.k8s.io/v1), kept in memory;
- verbs: list (with `labelSelector`: `k=v`, `k==v`, `k!=v`, `k`, `!k`),
  get, create, replace (PUT), patch (`application/merge-patch+json`,
  `application/strategic-merge-patch+json` with lists merged on `name`,
  `application/json-patch+json`), delete, and the `status` subresource;
- errors as `Status` objects: 401 without an accepted bearer token, 404
  NotFound, 409 AlreadyExists and Conflict (a stale
  `metadata.resourceVersion`), 422 Invalid, 415 for server-side apply;
- every object written (create, replace, and the result of every patch) is
  validated against the Kubernetes OpenAPI schema of the served version
  with the `kubernetes-validate` package (strict: unknown fields refused),
  and its `kind`, `apiVersion`, name and namespace are checked against the
  URL, as the API server does.

Bearer tokens: the ones given with --token, and, with --eks-cluster and
--sts-url, EKS tokens (`k8s-aws-v1.` + a presigned STS GetCallerIdentity
URL): the stand-in checks that the URL points at the STS endpoint it was
given, presigns `GetCallerIdentity` with `x-k8s-aws-id: <cluster>` among its
signed headers, is not expired, then calls it as EKS's authenticator does
and takes the caller's ARN from the answer. The AWS emulator behind
--sts-url does not check signatures: what is signed is checked by the
Rust side's test against botocore's presigner.

What it does not do: no controllers (deleting a pod does not recreate it, a
Job runs nothing: its status is what a test writes through the `status`
subresource), no admission (a NetworkPolicy is stored, not enforced),
namespaces need not exist, no watch, no server-side apply, objects are
deleted at once (no graceful termination, no finalizers, no garbage
collection).

Usage: kube_standin.py [--host H] [--port P] [--token T ...]
       [--tls-dir DIR] [--eks-cluster NAME --sts-url URL] [--version 1.33]
GET /_standin/eks-identities (no token; test-only) lists the ARNs STS
answered for the EKS tokens taken, in order.

Prints "READY <url>" when listening (--port 0 picks a free port). With
--tls-dir it makes a CA and a server certificate for 127.0.0.1 and
localhost, writes DIR/ca.pem and serves HTTPS.
"""
import argparse
import base64
import copy
import datetime
import json
import re
import ssl
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import kubernetes_validate

# (group, version, plural) -> (kind, namespaced)
RESOURCES = {
    ("", "v1", "pods"): ("Pod", True),
    ("", "v1", "nodes"): ("Node", False),
    ("", "v1", "serviceaccounts"): ("ServiceAccount", True),
    ("apps", "v1", "deployments"): ("Deployment", True),
    ("apps", "v1", "replicasets"): ("ReplicaSet", True),
    ("batch", "v1", "jobs"): ("Job", True),
    ("networking.k8s.io", "v1", "networkpolicies"): ("NetworkPolicy", True),
}

MAX_BODY = 3 * 1024 * 1024  # the API server's default request size limit
DISCOVERY_RE = re.compile(r"^/api/[^/]+$|^/apis/[^/]+/[^/]+$")
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def api_version(group, version):
    return f"{group}/{version}" if group else version


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(code, reason, message, details=None):
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure" if code >= 400 else "Success",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return code, body


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.answer = status(code, reason, message, details)


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def strategic_merge_patch(target, patch):
    """Strategic merge patch as the API server applies it to the fields
    rectify writes: maps merge, null deletes, lists of objects that have a
    `name` merge on it (containers, volumes, env), other lists replace.
    `$patch` directives are refused."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if any(k.startswith("$") for k in patch):
        raise ApiError(400, "BadRequest", "the stand-in does not take $patch/$retainKeys directives")
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list) and isinstance(out.get(key), list) and value and all(
            isinstance(v, dict) and "name" in v for v in value
        ) and all(isinstance(v, dict) and "name" in v for v in out[key]):
            merged = [copy.deepcopy(v) for v in out[key]]
            for item in value:
                for i, old in enumerate(merged):
                    if old["name"] == item["name"]:
                        merged[i] = strategic_merge_patch(old, item)
                        break
                else:
                    merged.append(copy.deepcopy(item))
            out[key] = merged
        else:
            out[key] = strategic_merge_patch(out.get(key), value)
    return out


def json_pointer_parts(path):
    if not path.startswith("/"):
        raise ApiError(422, "Invalid", f"json patch path {path!r} does not start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(target, ops):
    """RFC 6902: add, remove, replace, test."""
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "a JSON patch is a list of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ApiError(400, "BadRequest", f"bad JSON patch operation {op!r}")
        parts = json_pointer_parts(op["path"])
        parent = doc
        for p in parts[:-1]:
            try:
                parent = parent[int(p)] if isinstance(parent, list) else parent[p]
            except (KeyError, IndexError, ValueError):
                raise ApiError(422, "Invalid", f"json patch path {op['path']} does not exist")
        last = parts[-1]
        kind = op["op"]
        try:
            if kind == "test":
                cur = parent[int(last)] if isinstance(parent, list) else parent[last]
                if cur != op.get("value"):
                    raise ApiError(422, "Invalid", f"test of {op['path']} failed")
            elif kind == "remove":
                if isinstance(parent, list):
                    parent.pop(int(last))
                else:
                    del parent[last]
            elif kind in ("add", "replace"):
                if isinstance(parent, list):
                    if last == "-":
                        parent.append(op.get("value"))
                    elif kind == "add":
                        parent.insert(int(last), op.get("value"))
                    else:
                        parent[int(last)] = op.get("value")
                else:
                    if kind == "replace" and last not in parent:
                        raise ApiError(422, "Invalid", f"replace of missing {op['path']}")
                    parent[last] = op.get("value")
            else:
                raise ApiError(400, "BadRequest", f"JSON patch op {kind!r} not supported by the stand-in")
        except (KeyError, IndexError, ValueError):
            raise ApiError(422, "Invalid", f"json patch path {op['path']} does not exist")
    return doc


def label_selector_matches(selector, labels):
    if not selector:
        return True
    for term in selector.split(","):
        term = term.strip()
        if not term:
            continue
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "==" in term or "=" in term:
            k, v = re.split("==?", term, 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class Store:
    def __init__(self, version):
        self.version = version
        self.lock = threading.Lock()
        self.objects = {}  # (resource key, namespace, name) -> object
        self.revision = 1

    def validate(self, obj, kind, group, version):
        want_api = api_version(group, version)
        if obj.get("kind") != kind or obj.get("apiVersion") != want_api:
            raise ApiError(
                400,
                "BadRequest",
                f"the object is a {obj.get('apiVersion')}/{obj.get('kind')}, the URL is for {want_api}/{kind}",
            )
        try:
            kubernetes_validate.validate(obj, self.version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            raise ApiError(
                422,
                "Invalid",
                f"{kind} {obj.get('metadata', {}).get('name')!r} is invalid: {path}: {e.message}",
                {"kind": kind, "causes": [{"field": path, "message": e.message}]},
            )

    def bump(self, obj):
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-standin"

    def log_message(self, fmt, *args):
        sys.stderr.write("kube-standin: " + (fmt % args) + "\n")

    # --- plumbing -------------------------------------------------------
    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ApiError(413, "RequestEntityTooLarge", "request body too large")
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as e:
            raise ApiError(400, "BadRequest", f"body is not JSON: {e}")

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return False
        token = auth[len("Bearer "):].strip()
        if token in self.server.tokens:
            return True
        if token.startswith("k8s-aws-v1.") and self.server.eks_cluster:
            return self.server.check_eks_token(token)
        return False

    def route(self):
        """(resource key, namespace, name, subresource, query) of the URL."""
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        parts = [p for p in url.path.split("/") if p]
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({url.path})")
        namespace = None
        if len(rest) >= 2 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({url.path})")
        key = (group, version, rest[0])
        if key not in RESOURCES:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({url.path})")
        kind, namespaced = RESOURCES[key]
        if namespaced != (namespace is not None) and not (namespaced and len(rest) == 1 and namespace is None):
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({url.path})")
        name = rest[1] if len(rest) >= 2 else None
        sub = rest[2] if len(rest) >= 3 else None
        if sub not in (None, "status") or len(rest) > 3:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({url.path})")
        for n in (namespace, name):
            if n is not None and not NAME_RE.match(n):
                raise ApiError(404, "NotFound", f"the server could not find the requested resource ({url.path})")
        return key, kind, namespace, name, sub, query

    def handle_any(self, method):
        try:
            if self.path in ("/healthz", "/readyz", "/livez"):
                return self._plain_ok()
            if self.path == "/_standin/eks-identities":
                # Test-only: the ARNs STS answered for the EKS tokens taken.
                return self.answer(200, list(self.server.eks_identities))
            if not self.authorized():
                code, body = status(401, "Unauthorized", "Unauthorized")
                return self.answer(code, body)
            path = self.path.split("?")[0].rstrip("/")
            if method == "GET" and (path in ("/api", "/apis", "/version") or DISCOVERY_RE.match(path)):
                return self.discovery()
            code, body = self.dispatch(method)
            return self.answer(code, body)
        except ApiError as e:
            code, body = e.answer
            return self.answer(code, body)

    def _plain_ok(self):
        data = b"ok"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def discovery(self):
        path = self.path.split("?")[0].rstrip("/")
        if path == "/version":
            major, minor = self.server.store.version.split(".")[:2]
            return self.answer(200, {"major": major, "minor": minor, "gitVersion": f"v{major}.{minor}.0-standin"})
        if path == "/api":
            return self.answer(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        if path == "/apis":
            groups = sorted({g for (g, _, _) in RESOURCES if g})
            return self.answer(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": f"{g}/v1", "version": "v1"}} for g in groups]})
        parts = [p for p in path.split("/") if p]
        if parts[0] == "api":
            group, version = "", parts[1]
        else:
            group, version = parts[1], parts[2] if len(parts) > 2 else ""
        resources = []
        for (g, v, plural), (kind, namespaced) in RESOURCES.items():
            if g == group and v == version:
                resources.append({"name": plural, "singularName": kind.lower(), "namespaced": namespaced,
                                  "kind": kind, "verbs": ["create", "delete", "get", "list", "patch", "update"]})
                resources.append({"name": f"{plural}/status", "singularName": "", "namespaced": namespaced,
                                  "kind": kind, "verbs": ["get", "patch", "update"]})
        if not resources:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
        return self.answer(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                 "groupVersion": api_version(group, version), "resources": resources})

    # --- verbs ----------------------------------------------------------
    def dispatch(self, method):
        key, kind, namespace, name, sub, query = self.route()
        group, version, plural = key
        store = self.server.store
        with store.lock:
            if method == "GET" and name is None:
                selector = (query.get("labelSelector") or [""])[0]
                items = [
                    copy.deepcopy(o)
                    for (k, ns, _), o in sorted(store.objects.items())
                    if k == key and (namespace is None or ns == namespace)
                    and label_selector_matches(selector, o["metadata"].get("labels", {}))
                ]
                return 200, {"kind": f"{kind}List", "apiVersion": api_version(group, version),
                             "metadata": {"resourceVersion": str(store.revision)}, "items": items}
            if method == "POST":
                if name is not None:
                    raise ApiError(405, "MethodNotAllowed", "POST goes to the collection")
                obj = self.body()
                if not isinstance(obj, dict):
                    raise ApiError(400, "BadRequest", "the body is not an object")
                meta = obj.setdefault("metadata", {})
                if not isinstance(meta, dict):
                    raise ApiError(400, "BadRequest", "metadata is not an object")
                if not meta.get("name") and meta.get("generateName"):
                    meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
                oname = meta.get("name")
                if not oname or not isinstance(oname, str) or not NAME_RE.match(oname):
                    raise ApiError(422, "Invalid", f"{kind} {oname!r} is invalid: metadata.name: Invalid value",
                                   {"kind": kind, "causes": [{"field": "metadata.name"}]})
                if namespace is not None:
                    if meta.get("namespace", namespace) != namespace:
                        raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
                    meta["namespace"] = namespace
                store.validate(obj, kind, group, version)
                k = (key, namespace, oname)
                if k in store.objects:
                    raise ApiError(409, "AlreadyExists", f'{plural}.{group or "core"} "{oname}" already exists',
                                   {"name": oname, "group": group, "kind": plural})
                for f in ("uid", "resourceVersion", "creationTimestamp"):
                    meta.pop(f, None)
                meta["uid"] = str(uuid.uuid4())
                meta["creationTimestamp"] = now()
                self.defaults(kind, obj)
                if query.get("dryRun"):
                    return 201, obj
                store.bump(obj)
                store.objects[k] = obj
                return 201, copy.deepcopy(obj)
            if name is None:
                raise ApiError(405, "MethodNotAllowed", f"{method} needs an object name")
            k = (key, namespace, name)
            current = store.objects.get(k)
            if current is None:
                raise ApiError(404, "NotFound", f'{plural}.{group or "core"} "{name}" not found',
                               {"name": name, "group": group, "kind": plural})
            if method == "GET":
                return 200, copy.deepcopy(current)
            if method == "DELETE":
                self.body()  # DeleteOptions: propagationPolicy etc. accepted
                del store.objects[k]
                store.revision += 1
                if kind == "Pod":
                    gone = copy.deepcopy(current)
                    gone["metadata"]["deletionTimestamp"] = now()
                    return 200, gone
                return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                             "details": {"name": name, "group": group, "kind": plural,
                                         "uid": current["metadata"]["uid"]}}
            if method == "PUT":
                new = self.body()
                if not isinstance(new, dict):
                    raise ApiError(400, "BadRequest", "the body is not an object")
            elif method == "PATCH":
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                patch = self.body()
                if ctype == "application/merge-patch+json":
                    new = merge_patch(current, patch)
                elif ctype == "application/strategic-merge-patch+json":
                    new = strategic_merge_patch(current, patch)
                elif ctype == "application/json-patch+json":
                    new = json_patch(current, patch)
                elif ctype == "application/apply-patch+yaml":
                    raise ApiError(415, "UnsupportedMediaType", "the stand-in does not do server-side apply")
                else:
                    raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {ctype!r})")
                if isinstance(patch, dict) and "resourceVersion" not in (patch.get("metadata") or {}):
                    new.setdefault("metadata", {})["resourceVersion"] = current["metadata"]["resourceVersion"]
            else:
                raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed")
            meta = new.get("metadata") if isinstance(new.get("metadata"), dict) else {}
            rv = meta.get("resourceVersion")
            if rv is not None and rv != current["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict",
                               f'Operation cannot be fulfilled on {plural}.{group or "core"} "{name}": the object has been modified; please apply your changes to the latest version and try again',
                               {"name": name, "group": group, "kind": plural})
            if meta.get("name", name) != name or meta.get("namespace", namespace) != namespace:
                raise ApiError(400, "BadRequest", "the name or namespace of the object does not match the request")
            if meta.get("uid", current["metadata"]["uid"]) != current["metadata"]["uid"]:
                raise ApiError(409, "Conflict", "Precondition failed: UID in precondition does not match the object")
            for f in ("uid", "creationTimestamp"):
                meta[f] = current["metadata"][f]
            meta["name"] = name
            if namespace is not None:
                meta["namespace"] = namespace
            new["metadata"] = meta
            if sub == "status":
                # Only status changes through the status subresource...
                merged = copy.deepcopy(current)
                if "status" in new:
                    merged["status"] = new["status"]
                else:
                    merged.pop("status", None)
                new = merged
            elif "status" in current:
                # ...and never through the main resource.
                new["status"] = copy.deepcopy(current["status"])
            else:
                new.pop("status", None)
            store.validate(new, kind, group, version)
            if query.get("dryRun"):
                return 200, new
            store.bump(new)
            store.objects[k] = new
            return 200, copy.deepcopy(new)

    def defaults(self, kind, obj):
        """What the API server and its controllers set on a new object,
        where rectify reads it."""
        spec = obj.setdefault("spec", {}) if kind != "Node" else obj.get("spec", {})
        if kind == "Pod":
            obj.setdefault("status", {"phase": "Pending"})
        elif kind == "Node":
            obj.setdefault("status", {})
        elif kind == "Deployment":
            spec.setdefault("replicas", 1)
            obj.setdefault("status", {})
        elif kind == "ReplicaSet":
            spec.setdefault("replicas", 1)
            obj.setdefault("status", {"replicas": 0})
        elif kind == "Job":
            obj.setdefault("status", {})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, tokens, store, eks_cluster=None, sts_url=None):
        super().__init__(addr, Handler)
        self.tokens = set(tokens)
        self.store = store
        self.eks_cluster = eks_cluster
        self.sts_url = sts_url.rstrip("/") if sts_url else None
        self.eks_identities = []  # ARNs of accepted EKS tokens, in order

    def check_eks_token(self, token):
        """Accepts an EKS token as EKS's authenticator does: decode, check
        the presigned URL's target, signed headers and age, call it."""
        why = self._eks_token_refusal(token)
        if why:
            sys.stderr.write(f"kube-standin: EKS token refused: {why}\n")
            return False
        return True

    def _eks_token_refusal(self, token):
        try:
            body = token[len("k8s-aws-v1."):]
            url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        except Exception:
            return "not base64url"
        parts = urllib.parse.urlsplit(url)
        want = urllib.parse.urlsplit(self.sts_url)
        if (parts.scheme, parts.netloc) != (want.scheme, want.netloc) or parts.path not in ("", "/"):
            return f"presigned for {parts.scheme}://{parts.netloc}{parts.path}, not {self.sts_url}"
        q = dict(urllib.parse.parse_qsl(parts.query))
        if q.get("Action") != "GetCallerIdentity" or q.get("Version") != "2011-06-15":
            return "not a GetCallerIdentity URL"
        signed = q.get("X-Amz-SignedHeaders", "").split(";")
        if "x-k8s-aws-id" not in signed or "host" not in signed:
            return f"signed headers {signed} lack host or x-k8s-aws-id"
        try:
            signed_at = datetime.datetime.strptime(q["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.timezone.utc)
            expires = int(q["X-Amz-Expires"])
        except (KeyError, ValueError):
            return "no X-Amz-Date or X-Amz-Expires"
        age = (datetime.datetime.now(datetime.timezone.utc) - signed_at).total_seconds()
        if expires > 60 or age > 15 * 60 or age < -60:
            return f"expired or too long (X-Amz-Expires {expires}, age {age:.0f} s)"
        request = urllib.request.Request(url, headers={"x-k8s-aws-id": self.eks_cluster})
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                text = resp.read().decode()
        except (urllib.error.URLError, OSError) as e:
            return f"STS answered {e}"
        match = re.search(r"<Arn>([^<]+)</Arn>", text)
        if not match:
            return "STS answered no Arn"
        self.eks_identities.append(match.group(1))
        return None


def make_tls(directory):
    """A CA and a server certificate for 127.0.0.1 and localhost; writes
    ca.pem, server.pem, server.key into `directory`."""
    import ipaddress
    import os

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    os.makedirs(directory, exist_ok=True)
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    end = start + datetime.timedelta(days=2)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-standin CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-standin")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {name: os.path.join(directory, name) for name in ("ca.pem", "server.pem", "server.key")}
    with open(paths["ca.pem"], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths["server.pem"], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["server.key"], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths


def serve(host="127.0.0.1", port=0, tokens=(), tls_dir=None, eks_cluster=None, sts_url=None,
          version="1.33"):
    """Starts the server in a thread; returns (server, url)."""
    server = Server((host, port), tokens, Store(version), eks_cluster, sts_url)
    scheme = "http"
    if tls_dir:
        paths = make_tls(tls_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(paths["server.pem"], paths["server.key"])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"{scheme}://{host}:{server.server_address[1]}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--token", action="append", default=[], help="an accepted bearer token")
    p.add_argument("--tls-dir", help="make a CA and certificate here and serve HTTPS")
    p.add_argument("--eks-cluster", help="accept EKS tokens for this cluster name")
    p.add_argument("--sts-url", help="the STS endpoint EKS tokens must be presigned for")
    p.add_argument("--version", default="1.33", help="Kubernetes schema version to validate against")
    args = p.parse_args()
    if bool(args.eks_cluster) != bool(args.sts_url):
        p.error("--eks-cluster and --sts-url go together")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        p.error("the stand-in listens on loopback only")
    server, url = serve(args.host, args.port, args.token, args.tls_dir, args.eks_cluster,
                        args.sts_url, args.version)
    print(f"READY {url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
