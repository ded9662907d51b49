#!/usr/bin/env python3
"""ServiceNow STAND-IN for rectify's tests: the Table API on the
``incident`` table. It is not ServiceNow.

Each request is checked against ServiceNow's Table API reference (REST API
reference, "Table API": the methods, paths and ``sysparm_*`` query
parameters each method takes) and the incident table's fields as the base
system defines them (field names, string lengths, the ``state`` choices
1 New, 2 In Progress, 3 On Hold, 6 Resolved, 7 Closed, 8 Canceled, and the
``close_code`` choices). As on an instance, resolving or closing an
incident needs ``close_code`` and ``close_notes`` (the base system's data
policy), ``work_notes`` is a journal (each write adds an entry), answers are
``{"result": ...}`` and errors ``{"error": {"message", "detail"},
"status": "failure"}``. Basic auth only.

Served:
  GET   /api/now/table/incident            sysparm_query (``field=value``
        terms joined by ``^``, ``ORDERBY``/``ORDERBYDESC``), sysparm_fields,
        sysparm_limit, sysparm_offset
  GET   /api/now/table/incident/{sys_id}
  POST  /api/now/table/incident            201
  PATCH|PUT /api/now/table/incident/{sys_id}

Test-only:
  GET  /_standin/requests      every API request, with status and body
  POST /_standin/faults        {"status": 429|5xx, "count": N, "retry_after": S}
  POST /_standin/reset
  GET  /_standin/incidents     every incident with its journal
  POST /_standin/incidents/{sys_id}/close {"state": "6"|"7"|"8",
       "close_code": ..., "close_notes": ..., "by": user}: a person closing
       the incident in the UI

Usage: servicenow_standin.py --port 0 --user U --secret PASSWORD
"""

import datetime
import itertools
import threading
import uuid

from ticket_standin_base import Reject, check_keys, main_loop

TABLE = "/api/now/table/incident"

# Table API reference: the query parameters each method takes.
LIST_PARAMS = {
    "sysparm_display_value", "sysparm_exclude_reference_link", "sysparm_fields",
    "sysparm_limit", "sysparm_no_count", "sysparm_offset", "sysparm_query",
    "sysparm_query_category", "sysparm_query_no_domain",
    "sysparm_suppress_pagination_header", "sysparm_view",
}
GET_PARAMS = {
    "sysparm_display_value", "sysparm_exclude_reference_link", "sysparm_fields",
    "sysparm_query_no_domain", "sysparm_view",
}
POST_PARAMS = {
    "sysparm_display_value", "sysparm_exclude_reference_link", "sysparm_fields",
    "sysparm_input_display_value", "sysparm_suppress_auto_sys_field", "sysparm_view",
}
PATCH_PARAMS = POST_PARAMS | {"sysparm_query_no_domain"}

# Writable incident (and task) fields with their maximum lengths; journal
# fields have none.
WRITABLE = {
    "short_description": 160, "description": 4000, "state": 40,
    "close_code": 40, "close_notes": 4000, "correlation_id": 100,
    "correlation_display": 100, "assignment_group": 32, "caller_id": 32,
    "category": 40, "subcategory": 40, "impact": 40, "urgency": 40,
    "contact_type": 40, "cmdb_ci": 32, "assigned_to": 32,
    "work_notes": None, "comments": None,
}
READ_ONLY = {"sys_id", "number", "sys_created_on", "sys_updated_on", "sys_created_by",
             "sys_updated_by", "resolved_at", "resolved_by", "closed_at", "closed_by",
             "active", "opened_at"}
STATES = {"1", "2", "3", "6", "7", "8"}
CLOSING = {"6", "7"}
CLOSE_CODES = {
    "Duplicate", "Known error", "No resolution provided", "Resolved by caller",
    "Resolved by change", "Resolved by problem", "Resolved by request",
    "Solution provided", "Workaround provided", "User error",
    "Solved (Work Around)", "Solved (Permanently)", "Solved Remotely (Work Around)",
    "Solved Remotely (Permanently)", "Not Solved (Not Reproducible)",
    "Not Solved (Too Costly)", "Closed/Resolved by Caller",
    # An instance's own choice, as customers add for risk acceptance.
    "Risk Accepted",
}


def error(status, message, detail=""):
    return Reject(status, {"error": {"message": message, "detail": detail}, "status": "failure"})


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


class ServiceNow:
    def __init__(self, user):
        self.user = user
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.incidents = {}
        self.numbers = itertools.count(10001)

    def reject_auth(self):
        return error(401, "User Not Authenticated", "Required to provide Auth information")

    def bad_request(self, message):
        return error(400, "Exception while reading request", message)

    def fault_body(self, status):
        return {"error": {"message": "stand-in fault", "detail": "injected %d" % status}, "status": "failure"}

    @staticmethod
    def check_params(query, allowed):
        unknown = sorted(set(query) - allowed)
        if unknown:
            raise error(400, "Invalid query parameter", ", ".join(unknown))
        for k, v in query.items():
            if len(v) != 1:
                raise error(400, "Invalid query parameter", "%s given %d times" % (k, len(v)))
        return {k: v[0] for k, v in query.items()}

    def check_fields(self, body):
        check_keys(body, set(WRITABLE) | READ_ONLY, "the incident record",
                   lambda m: error(400, "Invalid field", m))
        for k in body:
            if k in READ_ONLY:
                raise error(403, "Operation Failed", "%s is read-only" % k)
            value = body[k]
            if not isinstance(value, str):
                raise error(400, "Invalid field", "%s must be a string, not %s" % (k, type(value).__name__))
            limit = WRITABLE[k]
            if limit is not None and len(value) > limit:
                raise error(400, "Invalid field", "%s is longer than %d" % (k, limit))
        if "state" in body and body["state"] not in STATES:
            raise error(400, "Invalid field", "state %r is not a choice of incident.state" % body["state"])
        if "close_code" in body and body["close_code"] and body["close_code"] not in CLOSE_CODES:
            raise error(400, "Invalid field", "close_code %r is not a choice" % body["close_code"])

    def view(self, record, fields):
        shown = {k: v for k, v in record.items() if k != "journal"}
        shown["work_notes"] = ""
        if fields:
            wanted = [f.strip() for f in fields.split(",") if f.strip()]
            shown = {k: shown.get(k, "") for k in wanted}
        return shown

    def apply(self, record, body, by):
        for k, v in body.items():
            if k in ("work_notes", "comments"):
                if v:
                    record["journal"].append({"field": k, "value": v, "by": by, "at": now()})
            else:
                record[k] = v
        if record["state"] in CLOSING or record["state"] == "8":
            if record["state"] in CLOSING and (not record.get("close_code") or not record.get("close_notes")):
                raise error(403, "Operation Failed",
                            "Data Policy Exception: the following fields are mandatory: Resolution code, Resolution notes")
            if record["state"] in CLOSING:
                record["resolved_by"] = by
                record["resolved_at"] = now()
        record["sys_updated_on"] = now()
        record["sys_updated_by"] = by

    def route(self, method, path, query, headers, body):
        if path == TABLE:
            if method == "GET":
                return self.list(self.check_params(query, LIST_PARAMS))
            if method == "POST":
                return self.create(self.check_params(query, POST_PARAMS), body)
            raise error(405, "Method not Supported", method)
        if path.startswith(TABLE + "/"):
            sys_id = path[len(TABLE) + 1:]
            with self.lock:
                record = self.incidents.get(sys_id)
                if record is None:
                    raise error(404, "No Record found",
                                "Record doesn't exist or ACL restricts the record retrieval")
                if method == "GET":
                    params = self.check_params(query, GET_PARAMS)
                    return 200, {"result": self.view(record, params.get("sysparm_fields"))}
                if method in ("PATCH", "PUT"):
                    params = self.check_params(query, PATCH_PARAMS)
                    self.check_fields(body)
                    trial = dict(record, journal=list(record["journal"]))
                    self.apply(trial, body, self.user)
                    record.clear()
                    record.update(trial)
                    return 200, {"result": self.view(record, params.get("sysparm_fields"))}
            raise error(405, "Method not Supported", method)
        raise error(400, "Invalid table", path)

    def create(self, params, body):
        self.check_fields(body)
        if not body.get("short_description"):
            raise error(400, "Invalid field", "short_description is empty")
        with self.lock:
            sys_id = uuid.uuid4().hex
            record = {
                "sys_id": sys_id, "number": "INC%07d" % next(self.numbers), "state": "1",
                "active": "true", "sys_created_on": now(), "sys_created_by": self.user,
                "opened_at": now(), "close_code": "", "close_notes": "", "resolved_by": "",
                "journal": [],
            }
            self.apply(record, body, self.user)
            self.incidents[sys_id] = record
            return 201, {"result": self.view(record, params.get("sysparm_fields"))}

    def list(self, params):
        terms = [t for t in params.get("sysparm_query", "").split("^") if t]
        conditions, order = [], None
        for t in terms:
            if t.startswith("ORDERBYDESC"):
                order = (t[len("ORDERBYDESC"):], True)
            elif t.startswith("ORDERBY"):
                order = (t[len("ORDERBY"):], False)
            elif "=" in t and not t.startswith("="):
                field, value = t.split("=", 1)
                conditions.append((field, value))
            else:
                raise error(400, "Invalid query", "the stand-in takes field=value terms only: %r" % t)
        try:
            limit = int(params.get("sysparm_limit", "10000"))
            offset = int(params.get("sysparm_offset", "0"))
        except ValueError:
            raise error(400, "Invalid query parameter", "sysparm_limit/offset must be numbers")
        with self.lock:
            found = [r for r in self.incidents.values()
                     if all(r.get(f, "") == v for f, v in conditions)]
            if order:
                found.sort(key=lambda r: r.get(order[0], ""), reverse=order[1])
            page = found[offset:offset + limit]
            return 200, {"result": [self.view(r, params.get("sysparm_fields")) for r in page]}

    def test_endpoint(self, method, path, body):
        if path == "/_standin/incidents":
            with self.lock:
                return 200, {"incidents": list(self.incidents.values())}
        prefix = "/_standin/incidents/"
        if path.startswith(prefix) and path.endswith("/close"):
            sys_id = path[len(prefix):-len("/close")]
            with self.lock:
                record = self.incidents.get(sys_id)
                if record is None:
                    return 404, {"error": "no incident %s" % sys_id}
                by = body.pop("by", "a.person")
                try:
                    self.apply(record, body, by)
                except Reject as r:
                    return r.status, r.body
                return 200, {"result": record}
        return 404, {"error": "unknown stand-in endpoint %s" % path}


def build():
    import sys
    user = sys.argv[sys.argv.index("--user") + 1]
    return ServiceNow(user), "servicenow-standin"


if __name__ == "__main__":
    main_loop(build, __doc__)
