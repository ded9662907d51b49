"""Deploys a CloudFormation template into the emulator (moto server) and
prints what it created, read back through each service's own API, as one
JSON object. Run by crates/rectify/tests/deploy.rs.

    cloudformation.py ENDPOINT ACCOUNT REGION STACK TEMPLATE [KEY=VALUE ...]

`not_created` lists the template's resources the stack does not hold
(moto skips the types it does not know; a false Condition skips others).
The account is chosen with moto's `x-moto-account-id` header. With
CodeS3Bucket and CodeS3Key among the parameters, that bucket is made and a
zip holding a `bootstrap` file put at that key first (the function's code,
which moto never runs). Output:
    {"status", "reason", "resources": [{"id", "type", "physical"}],
     "roles": {id: {...}}, "rules": {id: {...}}, "queues": {id: {...}},
     "buses": {id: {...}}, "topics": {id: {...}}, "functions": {id: {...}},
     "mappings": {id: {...}}, "log_groups": {id: ...}, "clusters": {...},
     "services": {...}, "task_definitions": {...}, "databases": {...},
     "security_groups": {...}}
"""

import ast
import io
import json
import sys
import zipfile

import boto3


def client(service, endpoint, account, region):
    c = boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )

    def in_account(request, **_):
        request.headers["x-moto-account-id"] = account

    c.meta.events.register("before-sign.*.*", in_account)
    return c


def document(policy):
    """A policy document as a dict: moto keeps one made by CloudFormation
    as the text of a Python dict."""
    if isinstance(policy, str):
        try:
            return json.loads(policy)
        except ValueError:
            return ast.literal_eval(policy)
    return policy


def main():
    endpoint, account, region, stack, template = sys.argv[1:6]
    params = [
        {"ParameterKey": k, "ParameterValue": v}
        for k, v in (a.split("=", 1) for a in sys.argv[6:])
    ]
    c = lambda s: client(s, endpoint, account, region)  # noqa: E731
    given = {p["ParameterKey"]: p["ParameterValue"] for p in params}
    if given.get("CodeS3Bucket") and given.get("CodeS3Key"):
        s3 = c("s3")
        s3.create_bucket(Bucket=given["CodeS3Bucket"])
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as z:
            z.writestr("bootstrap", "#!/bin/sh\n")
        s3.put_object(Bucket=given["CodeS3Bucket"], Key=given["CodeS3Key"], Body=code.getvalue())
    cfn = c("cloudformation")
    with open(template) as f:
        body = f.read()
    cfn.create_stack(
        StackName=stack,
        TemplateBody=body,
        Parameters=params,
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    out = {
        "status": described["StackStatus"],
        "reason": described.get("StackStatusReason"),
        "outputs": {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])},
        "resources": [],
    }
    for kind in ["roles", "rules", "queues", "buses", "topics", "functions", "mappings",
                 "log_groups", "clusters", "services", "task_definitions", "databases",
                 "security_groups"]:
        out[kind] = {}
    resources = cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]
    # moto lists a resource of a type it does not create as an empty entry.
    resources = [r for r in resources if r["ResourceType"]]
    listed = {r["LogicalResourceId"] for r in resources}
    out["not_created"] = [
        {"id": rid, "type": r["Type"], "condition": r.get("Condition")}
        for rid, r in sorted(json.loads(body)["Resources"].items())
        if rid not in listed
    ]
    for r in resources:
        rid, kind, physical = r["LogicalResourceId"], r["ResourceType"], r.get("PhysicalResourceId")
        out["resources"].append({"id": rid, "type": kind, "physical": physical})
        if kind == "AWS::IAM::Role":
            iam = c("iam")
            role = iam.get_role(RoleName=physical)["Role"]
            inline = {
                name: document(iam.get_role_policy(RoleName=physical, PolicyName=name)["PolicyDocument"])
                for name in iam.list_role_policies(RoleName=physical)["PolicyNames"]
            }
            attached = [
                p["PolicyArn"]
                for p in iam.list_attached_role_policies(RoleName=physical)["AttachedPolicies"]
            ]
            managed = []
            for arn in attached:
                try:
                    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
                    doc = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
                except iam.exceptions.NoSuchEntityException:
                    continue
                managed.append({"name": arn.split("/")[-1], "document": document(doc)})
            managed.sort(key=lambda m: m["name"])
            out["roles"][rid] = {
                "name": role["RoleName"],
                "managed": managed,
                "arn": role["Arn"],
                "trust": role["AssumeRolePolicyDocument"],
                "inline": inline,
                "attached": attached,
            }
        elif kind == "AWS::Events::Rule":
            events = c("events")
            # The physical id is the rule's name (on the default bus) or
            # its ARN; look it up on every bus.
            name = physical.split("/")[-1]
            for bus in events.list_event_buses()["EventBuses"]:
                found = events.list_rules(EventBusName=bus["Name"], NamePrefix=name)["Rules"]
                found = [f for f in found if f["Name"] == name]
                if found:
                    rule = found[0]
                    targets = events.list_targets_by_rule(Rule=name, EventBusName=bus["Name"])["Targets"]
                    out["rules"][rid] = {
                        "name": rule["Name"],
                        "bus": bus["Name"],
                        "state": rule.get("State"),
                        "pattern": json.loads(rule["EventPattern"]),
                        "targets": targets,
                    }
        elif kind == "AWS::SQS::Queue":
            attrs = c("sqs").get_queue_attributes(QueueUrl=physical, AttributeNames=["All"])["Attributes"]
            out["queues"][rid] = {"url": physical, "attributes": attrs}
        elif kind == "AWS::Events::EventBus":
            # moto gives the bus no physical id: report every bus but the
            # default one.
            events = c("events")
            out["buses"][rid] = [
                {"name": b["Name"], "arn": b["Arn"], "policy": events.describe_event_bus(Name=b["Name"]).get("Policy")}
                for b in events.list_event_buses()["EventBuses"]
                if b["Name"] != "default"
            ]
        elif kind == "AWS::SNS::Topic":
            out["topics"][rid] = c("sns").get_topic_attributes(TopicArn=physical)["Attributes"]
        elif kind == "AWS::Lambda::Function":
            f = c("lambda").get_function_configuration(FunctionName=physical)
            f.pop("ResponseMetadata", None)
            out["functions"][rid] = f
        elif kind == "AWS::Lambda::EventSourceMapping":
            m = c("lambda").get_event_source_mapping(UUID=physical)
            m.pop("ResponseMetadata", None)
            out["mappings"][rid] = {k: (v if isinstance(v, (str, int, list, dict)) else str(v)) for k, v in m.items()}
        elif kind == "AWS::Logs::LogGroup":
            groups = c("logs").describe_log_groups(logGroupNamePrefix=physical)["logGroups"]
            out["log_groups"][rid] = [g for g in groups if g["logGroupName"] == physical]
        elif kind == "AWS::ECS::Cluster":
            out["clusters"][rid] = c("ecs").describe_clusters(clusters=[physical])["clusters"]
        elif kind == "AWS::ECS::TaskDefinition":
            td = c("ecs").describe_task_definition(taskDefinition=physical)["taskDefinition"]
            out["task_definitions"][rid] = {k: (v if isinstance(v, (str, int, list, dict)) else str(v)) for k, v in td.items()}
        elif kind == "AWS::RDS::DBInstance":
            dbs = c("rds").describe_db_instances(DBInstanceIdentifier=physical)["DBInstances"]
            out["databases"][rid] = [{k: v for k, v in d.items() if isinstance(v, (str, int, bool, list, dict))} for d in dbs]
        elif kind == "AWS::EC2::SecurityGroup":
            out["security_groups"][rid] = c("ec2").describe_security_groups(GroupIds=[physical])["SecurityGroups"]
    services = [r for r in resources if r["ResourceType"] == "AWS::ECS::Service"]
    for r in services:
        arn = r["PhysicalResourceId"]
        cluster = arn.split("/")[-2] if arn.count("/") >= 2 else "rectify"
        found = c("ecs").describe_services(cluster=cluster, services=[arn])["services"]
        out["services"][r["LogicalResourceId"]] = [
            {k: v for k, v in s.items() if isinstance(v, (str, int, bool, list, dict))} for s in found
        ]
    print(json.dumps(out, default=str, sort_keys=True))


if __name__ == "__main__":
    main()
