"""Tests of the ServiceNow and Jira stand-ins (plain unittest, standard
library only): what each accepts is what the vendor's API description
allows, what it refuses it refuses, and the test-only endpoints work.

Run from the repository root:
    python3 -m unittest discover -s tests/standins -p 'test_ticket*' -v
"""

import base64
import json
import os
import subprocess
import sys
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def start(script, user, secret):
    proc = subprocess.Popen(
        [sys.executable, "-u", os.path.join(HERE, script), "--port", "0",
         "--user", user, "--secret", secret],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=HERE,
    )
    line = proc.stdout.readline().strip()
    if not line.startswith("READY http://"):
        proc.kill()
        raise RuntimeError("stand-in did not start: %r" % line)
    return proc, line.split()[1]


class Client:
    def __init__(self, base, user, secret):
        self.base = base
        self.auth = "Basic " + base64.b64encode(("%s:%s" % (user, secret)).encode()).decode()

    def call(self, method, path, body=None, auth=True):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", self.auth)
        try:
            with urllib.request.urlopen(request) as r:
                text = r.read()
                return r.status, json.loads(text) if text else None, dict(r.headers)
        except urllib.error.HTTPError as e:
            text = e.read()
            return e.code, json.loads(text) if text else None, dict(e.headers)


class ServiceNowStandinTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, base = start("servicenow_standin.py", "rectify", "pw-1")
        cls.c = Client(base, "rectify", "pw-1")

    @classmethod
    def tearDownClass(cls):
        cls.proc.kill()
        cls.proc.wait()

    def setUp(self):
        self.c.call("POST", "/_standin/reset", {})

    def create(self, **fields):
        body = {"short_description": "S3.8 on bucket b", "correlation_id": "rectify-abc"}
        body.update(fields)
        return self.c.call("POST", "/api/now/table/incident?sysparm_fields=sys_id,number", body)

    def test_create_read_note_resolve(self):
        status, answer, _ = self.create()
        self.assertEqual(status, 201)
        sys_id, number = answer["result"]["sys_id"], answer["result"]["number"]
        self.assertRegex(number, r"^INC\d{7}$")
        status, answer, _ = self.c.call(
            "GET", "/api/now/table/incident?sysparm_query=correlation_id%3Drectify-abc&sysparm_limit=1&sysparm_fields=sys_id")
        self.assertEqual((status, answer["result"]), (200, [{"sys_id": sys_id}]))
        status, _, _ = self.c.call("PATCH", "/api/now/table/incident/" + sys_id, {"work_notes": "step 1"})
        self.assertEqual(status, 200)
        status, _, _ = self.c.call("PATCH", "/api/now/table/incident/" + sys_id,
                                   {"state": "6", "close_code": "Solved (Permanently)", "close_notes": "fixed"})
        self.assertEqual(status, 200)
        _, all_, _ = self.c.call("GET", "/_standin/incidents")
        record = all_["incidents"][0]
        self.assertEqual(record["state"], "6")
        self.assertEqual([j["value"] for j in record["journal"]], ["step 1"])

    def test_refusals(self):
        self.assertEqual(self.c.call("GET", "/api/now/table/incident", auth=False)[0], 401)
        self.assertEqual(self.create(sys_id="x")[0], 403)
        self.assertEqual(self.create(bogus="x")[0], 400)
        self.assertEqual(self.create(correlation_id="c" * 101)[0], 400)
        self.assertEqual(self.create(state=6)[0], 400)
        self.assertEqual(self.create(state="5")[0], 400)
        self.assertEqual(self.c.call("GET", "/api/now/table/incident?sysparm_bogus=1")[0], 400)
        _, answer, _ = self.create()
        sys_id = answer["result"]["sys_id"]
        status, answer, _ = self.c.call("PATCH", "/api/now/table/incident/" + sys_id, {"state": "6"})
        self.assertEqual(status, 403)
        self.assertIn("Data Policy", answer["error"]["detail"])
        self.assertEqual(self.c.call("PATCH", "/api/now/table/incident/" + sys_id,
                                     {"state": "6", "close_code": "Nope", "close_notes": "x"})[0], 400)

    def test_faults_and_person_close(self):
        self.c.call("POST", "/_standin/faults", {"status": 429, "count": 1, "retry_after": 2})
        status, _, headers = self.create()
        self.assertEqual((status, headers.get("Retry-After")), (429, "2"))
        status, answer, _ = self.create()
        self.assertEqual(status, 201)
        sys_id = answer["result"]["sys_id"]
        status, _, _ = self.c.call("POST", "/_standin/incidents/%s/close" % sys_id,
                                   {"state": "6", "close_code": "Risk Accepted", "close_notes": "ok", "by": "jane"})
        self.assertEqual(status, 200)
        _, answer, _ = self.c.call("GET", "/api/now/table/incident/%s?sysparm_fields=state,close_code" % sys_id)
        self.assertEqual(answer["result"], {"state": "6", "close_code": "Risk Accepted"})


class JiraStandinTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, base = start("jira_standin.py", "bot@example.com", "tok-1")
        cls.c = Client(base, "bot@example.com", "tok-1")

    @classmethod
    def tearDownClass(cls):
        cls.proc.kill()
        cls.proc.wait()

    def setUp(self):
        self.c.call("POST", "/_standin/reset", {})

    @staticmethod
    def adf(text):
        return {"type": "doc", "version": 1,
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}

    def create(self, **fields):
        body = {"project": {"key": "SEC"}, "issuetype": {"name": "Task"}, "summary": "S3.8",
                "description": self.adf("details"), "labels": ["rectify", "rectify-abc"]}
        body.update(fields)
        return self.c.call("POST", "/rest/api/3/issue", {"fields": body})

    def test_create_search_comment_transition(self):
        status, created, _ = self.create()
        self.assertEqual(status, 201)
        self.assertEqual(created["key"], "SEC-1")
        status, found, _ = self.c.call("POST", "/rest/api/3/search/jql", {
            "jql": 'project = "SEC" AND labels = "rectify-abc" ORDER BY created ASC',
            "fields": ["key"], "maxResults": 1})
        self.assertEqual((status, [i["key"] for i in found["issues"]]), (200, ["SEC-1"]))
        status, _, _ = self.c.call("POST", "/rest/api/3/issue/%s/comment" % created["id"], {"body": self.adf("step")})
        self.assertEqual(status, 201)
        _, transitions, _ = self.c.call("GET", "/rest/api/3/issue/%s/transitions" % created["id"])
        done = next(t["id"] for t in transitions["transitions"] if t["name"] == "Done")
        status, _, _ = self.c.call("POST", "/rest/api/3/issue/%s/transitions" % created["id"], {"transition": {"id": done}})
        self.assertEqual(status, 204)
        _, issue, _ = self.c.call("GET", "/rest/api/3/issue/SEC-1?fields=status,resolution")
        self.assertEqual(issue["fields"]["status"]["statusCategory"]["key"], "done")
        self.assertEqual(issue["fields"]["resolution"]["name"], "Done")

    def test_refusals(self):
        self.assertEqual(self.c.call("GET", "/rest/api/3/issue/SEC-1", auth=False)[0], 401)
        self.assertEqual(self.create(description="plain text")[0], 400)
        self.assertEqual(self.create(labels=["has space"])[0], 400)
        self.assertEqual(self.create(summary="x" * 256)[0], 400)
        self.assertEqual(self.create(assignee={"id": "1"})[0], 400)
        self.assertEqual(self.c.call("POST", "/rest/api/3/issue", {"fields": {}, "bogus": 1})[0], 400)
        _, created, _ = self.create()
        path = "/rest/api/3/issue/%s/comment" % created["id"]
        self.assertEqual(self.c.call("POST", path, {"body": "text"})[0], 400)
        self.assertEqual(self.c.call("POST", path, {"body": self.adf("x"), "id": "9"})[0], 400)
        self.assertEqual(self.c.call("POST", "/rest/api/3/search/jql", {"jql": "labels = x"})[0], 400)
        self.assertEqual(self.c.call("POST", "/rest/api/3/search/jql", {"maxResults": 1})[0], 400)
        self.assertEqual(self.c.call("GET", "/rest/api/3/issue/SEC-1?bogus=1")[0], 400)
        self.assertEqual(self.c.call("POST", "/rest/api/3/issue/%s/transitions" % created["id"], {"transition": {"id": "99"}})[0], 400)

    def test_requests_against_the_document_are_refused_with_its_reason(self):
        _, created, _ = self.create()
        status, answer, _ = self.c.call("POST", "/rest/api/3/search/jql", {
            "jql": 'project = "SEC" AND labels = "rectify"', "bogus": 1})
        self.assertEqual(status, 400)
        self.assertIn("searchAndReconsileIssuesUsingJqlPost", answer["errorMessages"][0])
        self.assertIn("bogus", answer["errorMessages"][0])
        status, answer, _ = self.c.call("POST", "/rest/api/3/issue/%s/transitions" % created["id"],
                                        {"transition": {"id": 31}})
        self.assertEqual(status, 400)
        self.assertIn("transition", answer["errorMessages"][0])
        # editIssue is in Jira's API but not among the operations carried.
        self.assertEqual(self.c.call("PUT", "/rest/api/3/issue/SEC-1", {"fields": {}})[0], 404)
        self.assertEqual(self.c.call("GET", "/rest/api/3/issue/SEC-1?fieldsByKeys=maybe")[0], 400)
        # Nothing was changed by a refused request.
        _, issue, _ = self.c.call("GET", "/rest/api/3/issue/SEC-1?fields=status")
        self.assertEqual(issue["fields"]["status"]["name"], "To Do")

    def test_person_close_as_wont_do(self):
        _, created, _ = self.create()
        self.c.call("POST", "/_standin/faults", {"status": 503, "count": 1})
        self.assertEqual(self.c.call("GET", "/rest/api/3/issue/SEC-1")[0], 503)
        status, _, _ = self.c.call("POST", "/_standin/issues/SEC-1/close", {"resolution": "Won't Do"})
        self.assertEqual(status, 200)
        _, issue, _ = self.c.call("GET", "/rest/api/3/issue/%s" % created["id"])
        self.assertEqual(issue["fields"]["resolution"]["name"], "Won't Do")


class JiraDocumentTest(unittest.TestCase):
    """The checks the Jira stand-in makes, straight against the subset of
    Atlassian's OpenAPI document it carries."""

    @classmethod
    def setUpClass(cls):
        import os
        from openapi_check import Document
        cls.api = Document(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                        "jira_openapi_subset.json"))

    def refused(self, method, path, query=None, body=None):
        from openapi_check import Invalid
        with self.assertRaises(Invalid) as caught:
            self.api.check(method, path, query or {}, body)
        return caught.exception

    def test_the_subset_names_where_it_comes_from(self):
        source = self.api.source
        self.assertIn("swagger-v3.v3.json", source["document"])
        for copy in source["copies"]:
            self.assertRegex(copy["commit"], r"^[0-9a-f]{40}$")
            self.assertEqual(copy["path"], "swagger-v3.v3.json")
        self.assertEqual(source["copies"][0]["info.version"], "1001.0.0-SNAPSHOT")
        ids = sorted(op.id for op in self.api.operations)
        self.assertEqual(ids, ["addComment", "createIssue", "doTransition", "getIssue",
                               "getTransitions", "searchAndReconsileIssuesUsingJqlPost"])

    def test_what_rectify_sends_follows_the_document(self):
        adf = {"type": "doc", "version": 1,
               "content": [{"type": "paragraph", "content": [{"type": "text", "text": "x"}]}]}
        sent = [
            ("POST", "/rest/api/3/issue", {}, {"fields": {
                "project": {"key": "SEC"}, "issuetype": {"name": "Task"}, "summary": "s",
                "description": adf, "labels": ["rectify", "rectify-abc"]}}),
            ("POST", "/rest/api/3/search/jql", {}, {
                "jql": 'project = "SEC" AND labels = "rectify-abc" ORDER BY created ASC',
                "fields": ["key"], "maxResults": 1}),
            ("POST", "/rest/api/3/issue/10001/comment", {}, {"body": adf}),
            ("GET", "/rest/api/3/issue/10001/transitions", {}, None),
            ("POST", "/rest/api/3/issue/10001/transitions", {}, {"transition": {"id": "31"}}),
            ("GET", "/rest/api/3/issue/10001", {"fields": ["status,resolution"]}, None),
        ]
        for method, path, query, body in sent:
            self.api.check(method, path, query, body)

    def test_requests_violating_the_document_are_refused(self):
        self.assertEqual(self.refused("DELETE", "/rest/api/3/issue/1").status, 404)
        self.assertIn("no query parameter bogus",
                      str(self.refused("GET", "/rest/api/3/issue/1", {"bogus": ["1"]})))
        self.assertIn("boolean", str(self.refused(
            "GET", "/rest/api/3/issue/1/transitions", {"skipRemoteOnlyCondition": ["yes"]})))
        self.assertIn("requires a request body", str(self.refused("POST", "/rest/api/3/issue")))
        self.assertIn("takes no request body",
                      str(self.refused("GET", "/rest/api/3/issue/1", body={"x": 1})))
        # Schemas: unknown members where the document closes the object,
        # types, enums, read-only members, integer formats.
        self.assertIn("bogus", str(self.refused(
            "POST", "/rest/api/3/search/jql", body={"jql": "x", "bogus": True})))
        self.assertIn("int32", str(self.refused(
            "POST", "/rest/api/3/search/jql", body={"jql": "x", "maxResults": 2**31})))
        self.assertIn("is not of type", str(self.refused(
            "POST", "/rest/api/3/search/jql", body={"jql": "x", "fields": "key"})))
        self.assertIn("is not of type", str(self.refused(
            "POST", "/rest/api/3/issue/1/transitions", body={"transition": {"id": 31}})))
        self.assertIn("read-only", str(self.refused(
            "POST", "/rest/api/3/issue/1/transitions", body={"transition": {"id": "31", "name": "Done"}})))
        self.assertIn("read-only", str(self.refused(
            "POST", "/rest/api/3/issue/1/comment", body={"body": {}, "author": {"accountId": "a"}})))
        self.assertIn("is not one of", str(self.refused(
            "POST", "/rest/api/3/issue/1/comment", body={"body": {}, "visibility": {"type": "team"}})))
        self.assertIn("Additional properties", str(self.refused(
            "POST", "/rest/api/3/issue", body={"update": {"labels": [{"append": "x"}]}})))
        self.assertIn("is not of type", str(self.refused(
            "POST", "/rest/api/3/issue", body={"properties": {"key": "k"}})))


if __name__ == "__main__":
    unittest.main()
