#!/usr/bin/env python3
"""Jira Cloud STAND-IN for rectify's tests: the REST API v3 operations
rectify uses. It is not Jira.

Every request is checked against ``jira_openapi_subset.json``, the part of
Atlassian's published OpenAPI document for the Jira Cloud platform REST API
(swagger-v3.v3.json) that covers these operations, carried over as the
document states it (its header names the copies and versions it comes
from): the operation (method and path), its path and query parameters, and
the request body against the operation's schema (IssueUpdateDetails,
Comment, SearchAndReconcileRequestBean and what they reference), read-only
members included (``openapi_check.py``). Rich-text fields are checked
against the Atlassian Document Format structure reference
(``jira_adf_facts.py``). Error answers are Jira's
``{"errorMessages": [...], "errors": {...}}``. Basic auth (email and API
token) only.

One project workflow: To Do (new) -> In Progress (indeterminate) -> Done
(done), transitions 11, 21, 31; taking "Done" sets the resolution "Done".
JQL: ``project = "KEY" AND labels = "LABEL"`` with an optional ``ORDER BY
created ASC|DESC``; anything else is refused, so a test never relies on
JQL the stand-in does not evaluate.

Test-only:
  GET  /_standin/requests, POST /_standin/faults, POST /_standin/reset
  GET  /_standin/issues        every issue with its comments
  POST /_standin/issues/{key}/close {"status": "Done", "resolution":
       "Won't Do", "by": "a.person"}: a person closing the issue

Usage: jira_standin.py --port 0 --user EMAIL --secret API_TOKEN
"""

import datetime
import itertools
import os
import re
import threading

import jira_adf_facts as facts
from openapi_check import Document, Invalid
from ticket_standin_base import Reject, check_keys, main_loop

API = Document(os.path.join(os.path.dirname(os.path.abspath(__file__)), "jira_openapi_subset.json"))

STATUSES = {
    "To Do": "new",
    "In Progress": "indeterminate",
    "Done": "done",
    "Won't Do": "done",
}
TRANSITIONS = [("11", "To Do"), ("21", "In Progress"), ("31", "Done")]
RESOLUTIONS = {"Done", "Won't Do", "Duplicate", "Cannot Reproduce"}
JQL = re.compile(
    r'^project = "(?P<project>[A-Z][A-Z0-9_]*)" AND labels = "(?P<label>[^"\s]+)"'
    r'(?: ORDER BY created (?P<order>ASC|DESC))?$'
)


def bad(message, status=400):
    return Reject(status, {"errorMessages": [message], "errors": {}})


def check_adf(doc, where):
    check_keys(doc, facts.ADF_DOC, where, bad)
    if doc.get("type") != "doc" or doc.get("version") != 1:
        raise bad("%s: an ADF document has type doc and version 1" % where)
    content = doc.get("content")
    if not isinstance(content, list):
        raise bad("%s: an ADF document's content is an array" % where)
    for i, block in enumerate(content):
        here = "%s.content[%d]" % (where, i)
        if not isinstance(block, dict) or block.get("type") not in facts.ADF_BLOCK_TYPES:
            raise bad("%s: not a top-level block node" % here)
        if block["type"] != "paragraph":
            raise bad("%s: the stand-in checks paragraphs only" % here)
        check_keys(block, facts.ADF_PARAGRAPH, here, bad)
        for j, inline in enumerate(block.get("content", [])):
            there = "%s.content[%d]" % (here, j)
            check_keys(inline, facts.ADF_TEXT, there, bad)
            if inline.get("type") != "text":
                raise bad("%s: the stand-in checks text nodes only" % there)
            if not isinstance(inline.get("text"), str) or not inline["text"]:
                raise bad("%s: a text node's text is a non-empty string" % there)


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class Jira:
    def __init__(self, email):
        self.email = email
        self.lock = threading.Lock()
        self.projects = {"SEC"}
        self.issue_types = {"Task", "Bug"}
        self.reset()

    def reset(self):
        self.issues = {}
        self.ids = itertools.count(10001)
        self.keys = itertools.count(1)

    def reject_auth(self):
        return Reject(401, {"errorMessages": ["You are not authenticated. Authentication required to perform this operation."], "errors": {}})

    def bad_request(self, message):
        return bad(message)

    def fault_body(self, status):
        return {"errorMessages": ["stand-in fault %d" % status], "errors": {}}

    def issue(self, ref):
        issue = self.issues.get(ref) or next(
            (i for i in self.issues.values() if i["key"] == ref), None)
        if issue is None:
            raise bad("Issue does not exist or you do not have permission to see it.", 404)
        return issue

    def route(self, method, path, query, headers, body):
        try:
            op = API.check(method, path, query, body)
        except Invalid as e:
            raise bad(str(e), e.status)
        ref = next(iter(API.operation(method, path)[1].values()), None)
        with self.lock:
            handler = getattr(self, op.id)
            return op.success, handler(ref, query, body)

    def createIssue(self, _ref, _query, body):
        fields = body.get("fields")
        if not isinstance(fields, dict):
            raise bad("fields is required")
        errors = {}
        project = fields.get("project") or {}
        if project.get("key") not in self.projects and project.get("id") is None:
            errors["project"] = "Specify a valid project ID or key"
        issuetype = fields.get("issuetype") or {}
        if issuetype.get("name") not in self.issue_types and issuetype.get("id") is None:
            errors["issuetype"] = "Specify an issue type"
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary) > 255 or "\n" in summary:
            errors["summary"] = "Summary must be less than 255 characters and one line."
        if "description" in fields:
            check_adf(fields["description"], "fields.description")
        labels = fields.get("labels", [])
        if not isinstance(labels, list) or any(
                not isinstance(l, str) or not l or " " in l or len(l) > 255 for l in labels):
            errors["labels"] = "Labels are strings of at most 255 characters without spaces."
        allowed = {"project", "issuetype", "summary", "description", "labels", "priority"}
        for k in fields:
            if k not in allowed:
                errors[k] = "Field '%s' cannot be set. It is not on the appropriate screen, or unknown." % k
        if errors:
            raise Reject(400, {"errorMessages": [], "errors": errors})
        issue_id = str(next(self.ids))
        key = "%s-%d" % (project["key"], next(self.keys))
        self.issues[issue_id] = {
            "id": issue_id, "key": key, "summary": summary, "description": fields.get("description"),
            "labels": labels, "status": "To Do", "resolution": None, "comments": [],
            "created": now(), "history": [],
        }
        return {"id": issue_id, "key": key, "self": "/rest/api/3/issue/%s" % issue_id}

    def view(self, issue):
        return {
            "id": issue["id"], "key": issue["key"], "self": "/rest/api/3/issue/%s" % issue["id"],
            "fields": {
                "summary": issue["summary"], "labels": issue["labels"],
                "status": {"name": issue["status"],
                           "statusCategory": {"key": STATUSES[issue["status"]]}},
                "resolution": {"name": issue["resolution"]} if issue["resolution"] else None,
                "created": issue["created"],
            },
        }

    def getIssue(self, ref, _query, _body):
        return self.view(self.issue(ref))

    def addComment(self, ref, _query, body):
        if "body" not in body:
            raise Reject(400, {"errorMessages": [], "errors": {"comment": "Comment body can not be empty!"}})
        check_adf(body["body"], "body")
        issue = self.issue(ref)
        comment = {"id": str(len(issue["comments"]) + 1), "body": body["body"],
                   "author": {"emailAddress": self.email}, "created": now()}
        issue["comments"].append(comment)
        return comment

    def getTransitions(self, ref, _query, _body):
        issue = self.issue(ref)
        return {"transitions": [
            {"id": tid, "name": name, "hasScreen": False, "isGlobal": True,
             "isInitial": False, "isAvailable": True, "isConditional": False, "isLooped": False,
             "to": {"name": name, "id": tid, "statusCategory": {"key": STATUSES[name]}}}
            for tid, name in TRANSITIONS if name != issue["status"]
        ]}

    def doTransition(self, ref, _query, body):
        transition = body.get("transition")
        if not isinstance(transition, dict):
            raise bad("transition is required to perform a transition")
        issue = self.issue(ref)
        target = next((name for tid, name in TRANSITIONS
                       if tid == transition.get("id") and name != issue["status"]), None)
        if target is None:
            raise bad("Transition id '%s' is not valid for this issue." % transition.get("id"))
        self.move(issue, target, "Done" if target == "Done" else None, self.email)
        return None

    @staticmethod
    def move(issue, status, resolution, by):
        issue["status"] = status
        issue["resolution"] = resolution if STATUSES[status] == "done" else None
        issue["history"].append({"status": status, "resolution": issue["resolution"], "by": by})

    def searchAndReconsileIssuesUsingJqlPost(self, _ref, _query, body):
        jql = body.get("jql")
        if not jql:
            raise bad("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")
        max_results = body.get("maxResults", 50)
        if max_results < 0:
            raise bad("maxResults must not be negative")
        match = JQL.match(jql)
        if not match:
            raise bad("the stand-in does not evaluate this JQL: %r" % jql)
        found = [i for i in self.issues.values()
                 if i["key"].startswith(match["project"] + "-") and match["label"] in i["labels"]]
        found.sort(key=lambda i: int(i["id"]), reverse=match["order"] == "DESC")
        return {"issues": [self.view(i) for i in found[:max_results]], "isLast": True}

    def test_endpoint(self, method, path, body):
        with self.lock:
            if path == "/_standin/issues":
                return 200, {"issues": list(self.issues.values())}
            prefix = "/_standin/issues/"
            if path.startswith(prefix) and path.endswith("/close"):
                ref = path[len(prefix):-len("/close")]
                try:
                    issue = self.issue(ref)
                except Reject as r:
                    return r.status, r.body
                status = body.get("status", "Done")
                resolution = body.get("resolution", "Done")
                if status not in STATUSES or resolution not in RESOLUTIONS:
                    return 400, {"error": "unknown status or resolution"}
                self.move(issue, status, resolution, body.get("by", "a.person"))
                return 200, self.view(issue)
        return 404, {"error": "unknown stand-in endpoint %s" % path}


def build():
    import sys
    email = sys.argv[sys.argv.index("--user") + 1]
    return Jira(email), "jira-standin"


if __name__ == "__main__":
    main_loop(build, __doc__)
