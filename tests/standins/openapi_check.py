"""Checks an HTTP request against an OpenAPI 3.0 document (or a faithful
subset of one, kept as a JSON file next to the stand-in): the operation
(method and path template), its path and query parameters, and the JSON
request body against the operation's schema. Used by the stand-ins so that
what they refuse is what the vendor's published description refuses.

Body schemas are checked with ``jsonschema`` (types, required and unknown
members, enums, items), plus what JSON Schema leaves to the reader of an
OpenAPI document: a member marked ``readOnly`` may not be sent, and an
integer of format ``int32``/``int64`` must fit.
"""

import json
import re

from jsonschema import Draft4Validator

INT_RANGES = {"int32": 2**31, "int64": 2**63}


class Invalid(Exception):
    """The request does not follow the document: ``status`` is 404 for an
    operation the document does not have, else 400."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


class Operation:
    def __init__(self, doc, method, template, spec):
        self.doc = doc
        self.method = method
        self.template = template
        self.id = spec["operationId"]
        self.parameters = spec.get("parameters", [])
        self.success = int(next(iter(spec["responses"])))
        body = spec.get("requestBody")
        self.body_required = bool(body and body.get("required"))
        self.body_schema = body["content"]["application/json"]["schema"] if body else None
        names = re.findall(r"\{([^}]+)\}", template)
        self.pattern = re.compile(
            "^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "$")
        self.path_names = names


class Document:
    def __init__(self, path):
        with open(path) as f:
            self.doc = json.load(f)
        self.source = self.doc.get("x-source", {})
        self.operations = [
            Operation(self.doc, method.upper(), template, spec)
            for template, item in self.doc["paths"].items()
            for method, spec in item.items()
        ]

    def operation(self, method, path):
        """The operation and its path parameters; ``Invalid`` (404) when
        the document has none for this method and path."""
        for op in self.operations:
            match = op.pattern.match(path)
            if op.method == method and match:
                return op, dict(zip(op.path_names, match.groups()))
        raise Invalid("the API has no operation %s %s" % (method, path), 404)

    def resolve(self, schema):
        while "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/"):
                raise ValueError("only local references are carried: %s" % ref)
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part]
            schema = node
        return schema

    def check(self, method, path, query, body):
        """Checks one request; returns its operation. ``query`` maps each
        name to its list of values (``urllib.parse.parse_qs``); ``body`` is
        the parsed JSON, or None when there is none."""
        op, path_params = self.operation(method, path)
        declared = {p["name"]: p for p in op.parameters}
        for name, value in path_params.items():
            self.check_value(declared[name]["schema"], value, "path parameter %s" % name)
        query_params = {n: p for n, p in declared.items() if p["in"] == "query"}
        unknown = sorted(set(query) - set(query_params))
        if unknown:
            raise Invalid("%s declares no query parameter %s" % (op.id, ", ".join(unknown)))
        for name, param in query_params.items():
            values = query.get(name)
            if values is None:
                if param.get("required"):
                    raise Invalid("%s requires the query parameter %s" % (op.id, name))
                continue
            schema = param["schema"]
            if schema.get("type") == "array":
                parts = [v for value in values for v in value.split(",")]
                for part in parts:
                    self.check_value(schema.get("items", {}), part, "query parameter %s" % name)
            else:
                if len(values) > 1:
                    raise Invalid("query parameter %s is given %d times" % (name, len(values)))
                self.check_value(schema, values[0], "query parameter %s" % name)
        if op.body_schema is None:
            if body is not None:
                raise Invalid("%s takes no request body" % op.id)
            return op
        if body is None:
            if op.body_required:
                raise Invalid("%s requires a request body" % op.id)
            return op
        self.check_body(op, body)
        return op

    def check_value(self, schema, text, where):
        kind = schema.get("type", "string")
        if kind == "boolean" and text not in ("true", "false"):
            raise Invalid("%s is a boolean, not %r" % (where, text))
        if kind == "integer":
            if not re.fullmatch(r"-?[0-9]+", text):
                raise Invalid("%s is an integer, not %r" % (where, text))
            self.check_int(schema, int(text), where)
        if kind == "string" and "enum" in schema and text not in schema["enum"]:
            raise Invalid("%s is one of %s, not %r" % (where, ", ".join(schema["enum"]), text))
        if not text and where.startswith("path"):
            raise Invalid("%s is empty" % where)

    @staticmethod
    def check_int(schema, value, where):
        bound = INT_RANGES.get(schema.get("format"))
        if bound is not None and not -bound <= value < bound:
            raise Invalid("%s does not fit %s" % (where, schema["format"]))

    def check_body(self, op, body):
        # The reference resolves against the document itself.
        schema = dict(op.body_schema, components=self.doc["components"])
        errors = sorted(Draft4Validator(schema).iter_errors(body), key=lambda e: list(e.path))
        if errors:
            e = errors[0]
            where = "/".join(str(p) for p in e.path) or "(body)"
            raise Invalid("%s: %s: %s" % (op.id, where, e.message))
        self.walk(op.body_schema, body, op.id)

    def walk(self, schema, value, where):
        """readOnly members and integer formats, which JSON Schema does
        not check."""
        schema = self.resolve(schema)
        for part in schema.get("allOf", []):
            self.walk(part, value, where)
        if isinstance(value, bool):
            return
        if isinstance(value, int):
            self.check_int(schema, value, where)
        if isinstance(value, dict):
            props = schema.get("properties", {})
            for name, member in value.items():
                sub = props.get(name)
                if sub is None:
                    extra = schema.get("additionalProperties")
                    if isinstance(extra, dict):
                        self.walk(extra, member, "%s.%s" % (where, name))
                    continue
                if self.resolve(sub).get("readOnly") or sub.get("readOnly"):
                    raise Invalid("%s.%s is read-only: a request may not set it" % (where, name))
                self.walk(sub, member, "%s.%s" % (where, name))
        if isinstance(value, list) and "items" in schema:
            for i, item in enumerate(value):
                self.walk(schema["items"], item, "%s[%d]" % (where, i))
