#!/usr/bin/env python3
"""Checks `rectify scan` output against the published descriptions of its
formats: ASFF findings against botocore's Security Hub service model
(shape AwsSecurityFinding: required members, no unknown member, member
types, enum values, string length limits), OCSF findings against the OCSF
1.3.0 JSON schema of class compliance_finding with the cloud profile (from
the `ocsf-json-schema` package, validated with `jsonschema`).

Usage: check_scan_output.py asff|ocsf FILE
Exit 0 when every finding is valid; otherwise each problem on stderr, 1.
"""
import json
import sys


def check_shape(shapes, name, value, path, problems):
    shape = shapes[name]
    kind = shape["type"]
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object ({name})")
            return
        for member in shape.get("required", []):
            if member not in value:
                problems.append(f"{path}: required member {member} missing ({name})")
        for key, item in value.items():
            member = shape["members"].get(key)
            if member is None:
                problems.append(f"{path}.{key}: not a member of {name}")
                continue
            check_shape(shapes, member["shape"], item, f"{path}.{key}", problems)
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list ({name})")
            return
        if "max" in shape and len(value) > shape["max"]:
            problems.append(f"{path}: {len(value)} items, at most {shape['max']}")
        for i, item in enumerate(value):
            check_shape(shapes, shape["member"]["shape"], item, f"{path}[{i}]", problems)
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a map ({name})")
            return
        for key, item in value.items():
            check_shape(shapes, shape["key"]["shape"], key, f"{path}<key>", problems)
            check_shape(shapes, shape["value"]["shape"], item, f"{path}.{key}", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string ({name})")
            return
        if "enum" in shape and value not in shape["enum"]:
            problems.append(f"{path}: {value!r} not one of {shape['enum']}")
        if "max" in shape and len(value) > shape["max"]:
            problems.append(f"{path}: {len(value)} characters, at most {shape['max']}")
        if "min" in shape and len(value) < shape["min"]:
            problems.append(f"{path}: {len(value)} characters, at least {shape['min']}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: expected an integer ({name})")
    elif kind in ("double", "float"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"{path}: expected a number ({name})")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: expected a boolean ({name})")
    elif kind == "timestamp":
        if not isinstance(value, str):
            problems.append(f"{path}: expected a timestamp string ({name})")
    else:
        problems.append(f"{path}: shape kind {kind} not checked")


def check_asff(findings):
    import botocore.loaders

    model = botocore.loaders.Loader().load_service_model("securityhub", "service-2")
    shapes = model["shapes"]
    problems = []
    # What BatchImportFindings takes: at most 100 per call, each a finding.
    for i, finding in enumerate(findings):
        check_shape(shapes, "AwsSecurityFinding", finding, f"[{i}]", problems)
    return problems


def check_ocsf(findings):
    import jsonschema
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version="1.3.0"))
    class_schema = schema.get_class_schema(class_name="compliance_finding", profiles=["cloud"])
    validator = jsonschema.Draft202012Validator(class_schema)
    problems = []
    for i, finding in enumerate(findings):
        for error in validator.iter_errors(finding):
            where = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"[{i}] {where}: {error.message}")
    return problems


def main():
    kind, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        findings = json.load(f)
    if not isinstance(findings, list) or not findings:
        print(f"{path}: expected a non-empty JSON array of findings", file=sys.stderr)
        return 1
    problems = check_asff(findings) if kind == "asff" else check_ocsf(findings)
    for p in problems[:200]:
        print(p, file=sys.stderr)
    print(f"{len(findings)} {kind} finding(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
