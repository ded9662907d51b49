"""Tests of the Kubernetes stand-in API server (plain unittest).

Run from the repository root with the venv made by scripts/venv:
    .venv/bin/python -m unittest tests/standins/test_kube_standin.py -v
"""

import json
import os
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kube_standin  # noqa: E402

TOKEN = "test-token"


def pod(name, **spec):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27", **spec}]},
    }


class KubeStandinTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server, cls.url = kube_standin.serve(tokens=[TOKEN])

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def call(self, method, path, body=None, ctype="application/json", token=TOKEN):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def test_refuses_an_invalid_object(self):
        code, body = self.call("POST", "/api/v1/namespaces/t1/pods", pod("bad", bogus=1))
        self.assertEqual(code, 422, body)
        self.assertEqual(body["kind"], "Status")
        self.assertEqual(body["reason"], "Invalid")
        self.assertIn("bogus", body["message"])
        no_containers = pod("bad2")
        no_containers["spec"] = {}
        code, body = self.call("POST", "/api/v1/namespaces/t1/pods", no_containers)
        self.assertEqual(code, 422, body)
        self.assertIn("containers", body["message"])
        # Nothing was stored.
        code, _ = self.call("GET", "/api/v1/namespaces/t1/pods/bad")
        self.assertEqual(code, 404)

    def test_refuses_an_invalid_patch_result(self):
        self.assertEqual(self.call("POST", "/api/v1/namespaces/t2/pods", pod("web"))[0], 201)
        code, body = self.call(
            "PATCH", "/api/v1/namespaces/t2/pods/web",
            {"spec": {"containers": [{"name": "app", "imagePullPolicy": 7}]}},
            "application/strategic-merge-patch+json")
        self.assertEqual(code, 422, body)
        code, body = self.call("GET", "/api/v1/namespaces/t2/pods/web")
        self.assertEqual(body["spec"]["containers"][0]["image"], "nginx:1.27")

    def test_create_get_patch_delete_as_the_api_answers(self):
        code, created = self.call("POST", "/api/v1/namespaces/t3/pods", pod("web"))
        self.assertEqual(code, 201)
        self.assertTrue(created["metadata"]["uid"])
        code, body = self.call("POST", "/api/v1/namespaces/t3/pods", pod("web"))
        self.assertEqual((code, body["reason"]), (409, "AlreadyExists"))
        code, patched = self.call(
            "PATCH", "/api/v1/namespaces/t3/pods/web",
            {"metadata": {"labels": {"rectify.io/quarantine": "q-1"}}},
            "application/merge-patch+json")
        self.assertEqual(code, 200, patched)
        self.assertEqual(patched["metadata"]["labels"], {"app": "web", "rectify.io/quarantine": "q-1"})
        self.assertNotEqual(patched["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"])
        code, body = self.call(
            "PATCH", "/api/v1/namespaces/t3/pods/web",
            {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"], "labels": {"x": "y"}}},
            "application/merge-patch+json")
        self.assertEqual((code, body["reason"]), (409, "Conflict"))
        code, body = self.call("GET", "/api/v1/namespaces/t3/pods?labelSelector=rectify.io%2Fquarantine%3Dq-1")
        self.assertEqual([p["metadata"]["name"] for p in body["items"]], ["web"])
        code, body = self.call("GET", "/api/v1/namespaces/t3/pods?labelSelector=app%3Ddb")
        self.assertEqual(body["items"], [])
        code, body = self.call("PATCH", "/api/v1/namespaces/t3/pods/web", {}, "application/apply-patch+yaml")
        self.assertEqual(code, 415)
        self.assertEqual(self.call("DELETE", "/api/v1/namespaces/t3/pods/web")[0], 200)
        code, body = self.call("DELETE", "/api/v1/namespaces/t3/pods/web")
        self.assertEqual((code, body["reason"]), (404, "NotFound"))

    def test_status_changes_only_through_the_status_subresource(self):
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "fix"},
               "spec": {"template": {"spec": {"restartPolicy": "Never",
                                              "containers": [{"name": "c", "image": "busybox"}]}}}}
        self.assertEqual(self.call("POST", "/apis/batch/v1/namespaces/t4/jobs", job)[0], 201)
        done = {"status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}}
        code, body = self.call("PATCH", "/apis/batch/v1/namespaces/t4/jobs/fix", done, "application/merge-patch+json")
        self.assertEqual(body.get("status"), {})
        code, body = self.call("PATCH", "/apis/batch/v1/namespaces/t4/jobs/fix/status", done, "application/merge-patch+json")
        self.assertEqual(code, 200, body)
        self.assertEqual(body["status"]["succeeded"], 1)

    def test_needs_a_token(self):
        code, body = self.call("GET", "/api/v1/nodes", token=None)
        self.assertEqual((code, body["reason"]), (401, "Unauthorized"))
        code, _ = self.call("GET", "/api/v1/nodes", token="wrong")
        self.assertEqual(code, 401)

    def test_kind_must_match_the_url(self):
        code, body = self.call("POST", "/api/v1/nodes", pod("x"))
        self.assertEqual(code, 400, body)

    def test_tls(self):
        import ssl
        with tempfile.TemporaryDirectory() as d:
            server, url = kube_standin.serve(tokens=[TOKEN], tls_dir=d)
            try:
                ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
                req = urllib.request.Request(url + "/api/v1/nodes", headers={"Authorization": f"Bearer {TOKEN}"})
                with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
                    self.assertEqual(json.loads(resp.read())["kind"], "NodeList")
            finally:
                server.shutdown()
                server.server_close()


if __name__ == "__main__":
    unittest.main()
