"""The scan benchmark's table and verdict differences.

  report.py --prowler-checks       the Prowler checks both tools have (for --checks)
  report.py --dir OUT              the table (wall, peak RSS, calls) of each run in
                                   OUT and every verdict that differs between
                                   rectify and Prowler on a resource both judged

Verdicts are compared per Security Hub control and resource: rectify's
`scan.results` (`control`, `resource_id`, `pass`), Prowler's ASFF findings
(GeneratorId `prowler-<check>` mapped to a control by
crates/rectify-model/data/prowler-checks.csv and the table below,
Resources[0].Id, Compliance.Status).
"""

import argparse
import csv
import glob
import json
import os
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Prowler checks the mapping file leaves out (it lists one control per
# check) that answer controls rectify's posture checks judge.
EXTRA = {
    "iam_no_root_access_key": "IAM.4",
    "iam_root_mfa_enabled": "IAM.9",
    "iam_user_mfa_enabled_console_access": "IAM.5",
    "ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22": "EC2.53",
    "ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_3389": "EC2.53",
    "accessanalyzer_enabled": "IAM.28",
}
# rectify's verdicts that answer a control under another id with the same
# definition: the pack's bucket action reports Block Public Access under
# its first control (S3.2); all four settings on is what S3.8 asks.
SAME_AS = {"S3.2": "S3.8"}
# Controls both tools judge whose definitions differ, so their verdicts are
# not paired: the reason is printed beside the count.
DEFINITIONS = {
    "IAM.8": "rectify's pack judges unused credentials at 90 days (IAM.8); Prowler's "
    "iam_user_accesskey_unused at 45 (IAM.22)",
    "IAM.22": "Prowler judges unused access keys at 45 days (IAM.22); the pack's "
    "action at 90 (IAM.8)",
    "IAM.5": "rectify judges MFA only for users with a console password; Prowler "
    "also passes users without one",
    "IAM.15": "the pack's action judges the whole password policy against its params "
    "and reports it under IAM.7 (the posture check of IAM.15 is left to it); Prowler "
    "judges the length alone",
    "IAM.16": "the pack's action judges the whole password policy against its params "
    "and reports it under IAM.7 (the posture check of IAM.16 is left to it); Prowler "
    "judges reuse alone",
    "IAM.4": "Prowler reads the root user's row of the credential report, which the "
    "emulator's report does not have, so it gives no verdict; rectify reads "
    "GetAccountSummary",
    "IAM.9": "Prowler reads the root user's row of the credential report, which the "
    "emulator's report does not have, so it gives no verdict; rectify reads "
    "GetAccountSummary",
}
# The controls rectify's posture checks answer.
CONTROLS = {
    "IAM.3", "IAM.4", "IAM.5", "IAM.9", "IAM.15", "IAM.16", "IAM.22", "IAM.28",
    "CloudTrail.1", "CloudTrail.4", "Config.1", "KMS.4", "EC2.6", "EC2.53",
    "EC2.54", "EC2.2", "S3.8", "S3.4", "EC2.7", "RDS.2",
}


def prowler_map():
    out = dict(EXTRA)
    path = os.path.join(ROOT, "crates/rectify-model/data/prowler-checks.csv")
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "," not in line:
                continue
            check, control = line.split(",", 1)
            if check != "prowler_check":
                out.setdefault(check, control)
    return {c: k for c, k in out.items() if k in CONTROLS}


def calls(path):
    with open(path) as f:
        names = [l.strip() for l in f if l.strip() and not l.startswith("sts ")]
    return len(names), Counter(names)


def row(out, name):
    if not os.path.exists(f"{out}/{name}.wall"):
        return None
    start, end = map(float, open(f"{out}/{name}.wall").read().split())
    rss_kb = int(open(f"{out}/{name}.rss").read().split()[-1] or 0)
    n, _ = calls(f"{out}/{name}.calls")
    return {"run": name, "wall_s": end - start, "rss_mb": rss_kb / 1024, "calls": n}


def norm(resource, account):
    # Account-level settings: each tool names the account its own way
    # (Prowler: an ARN of the account's setting, such as
    # arn:aws:iam:us-east-1:ACCOUNT:password-policy or
    # arn:aws:cloudtrail:us-east-1:ACCOUNT:trail, with no resource id).
    if resource.startswith("AWS::::Account:") or resource.endswith(":root") or resource == account:
        return "account"
    parts = resource.split(":", 5)
    if len(parts) == 6 and parts[4] == account and "/" not in parts[5] and ":" not in parts[5]:
        return "account"
    # IAM Access Analyzer is judged per account and region (Prowler names
    # "analyzer/unknown" when there is none).
    if len(parts) == 6 and parts[2] == "accessanalyzer":
        return "account"
    if resource.startswith("arn:aws:iam::") and ":user/" in resource:
        return "user/" + resource.split(":user/")[-1].split("/")[-1]
    return resource


def rectify_verdicts(out, account, name="rectify"):
    report = json.load(open(f"{out}/{name}.out"))
    verdicts = {}
    for r in report["scan"]["results"]:
        control = SAME_AS.get(r["control"], r["control"])
        if control in CONTROLS:
            verdicts[(control, norm(r["resource_id"], account))] = "PASS" if r["pass"] else "FAIL"
    return verdicts, report


def prowler_verdicts(out, account):
    mapping = prowler_map()
    verdicts = {}
    for path in glob.glob(f"{out}/prowler/*.asff.json"):
        for f in json.load(open(path)):
            check = f.get("GeneratorId", "").removeprefix("prowler-")
            control = mapping.get(check)
            if not control:
                continue
            key = (control, norm(f["Resources"][0]["Id"], account))
            status = "PASS" if f["Compliance"]["Status"] == "PASSED" else "FAIL"
            # Two Prowler checks on one control (ports 22 and 3389): one fail fails it.
            if verdicts.get(key) != "FAIL":
                verdicts[key] = status
    return verdicts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prowler-checks", action="store_true")
    ap.add_argument("--dir")
    args = ap.parse_args()
    if args.prowler_checks:
        print(" ".join(sorted(prowler_map())))
        return
    out = args.dir
    account = "210987654321"
    rows = [r for r in (row(out, n) for n in ("rectify", "rectify-live", "rectify-dry-run", "prowler")) if r]
    print("| run | wall | peak RSS | AWS calls (STS not counted) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['wall_s']:.1f} s | {r['rss_mb']:.0f} MB | {r['calls']:,} |")
    base = {r["run"]: r for r in rows}
    for name in ("rectify", "rectify-live"):
        if "prowler" in base and name in base:
            p, q = base["prowler"], base[name]
            print(
                f"\nProwler / {name}: {p['wall_s'] / q['wall_s']:.1f}x the wall time, "
                f"{p['rss_mb'] / q['rss_mb']:.1f}x the memory, {p['calls'] / max(q['calls'], 1):.1f}x the calls"
            )
    for name in ("rectify", "rectify-live", "prowler"):
        if os.path.exists(f"{out}/{name}.calls"):
            _, by = calls(f"{out}/{name}.calls")
            print(f"\n{name}: calls by operation: " + ", ".join(f"{k} {v}" for k, v in by.most_common(12)))
    mine, report = rectify_verdicts(out, account)
    print(f"\nrectify: {report['scan']['checked']} resources, {report['scan']['verdicts']} verdicts")
    if os.path.exists(f"{out}/rectify-live.out"):
        live, _ = rectify_verdicts(out, account, "rectify-live")
        differ = sorted(k for k in set(mine) | set(live) if mine.get(k) != live.get(k))
        print(
            f"rectify --live against rectify: {len(live)} verdicts, {len(differ)} differ"
            + (f", e.g. {differ[:5]}" if differ else "")
        )
    if not glob.glob(f"{out}/prowler/*.asff.json"):
        return
    theirs = prowler_verdicts(out, account)
    both = set(mine) & set(theirs)
    differ = sorted(k for k in both if mine[k] != theirs[k])
    print(f"verdicts on the same control and resource: {len(both)}; different: {len(differ)}")
    by_control = Counter(k[0] for k in differ)
    for control, n in sorted(by_control.items()):
        sample = [k[1] for k in differ if k[0] == control][:3]
        print(f"- {control}: {n} differ (rectify {mine[(control, sample[0])]}, Prowler {theirs[(control, sample[0])]}), e.g. {', '.join(sample)}")
    only_mine = Counter(k[0] for k in set(mine) - set(theirs))
    only_theirs = Counter(k[0] for k in set(theirs) - set(mine))
    print(f"judged by rectify only, per control: {dict(sorted(only_mine.items()))}")
    print(f"judged by Prowler only, per control: {dict(sorted(only_theirs.items()))}")
    for control in sorted(set(only_mine) | set(only_theirs)):
        why = DEFINITIONS.get(control)
        if why:
            print(f"- {control}: {why}")


if __name__ == "__main__":
    main()
