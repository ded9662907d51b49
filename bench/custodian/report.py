"""The table of scripts/bench-custodian: median and p95 per fix, calls per
fix (from the counting pass; STS not counted) and the ratios.

Usage: report.py --dir DIR --count COUNT
"""

import argparse
import json
import statistics
from collections import Counter


def p95(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def calls(log, count):
    """Calls per fix by kind from the proxy's log of one tool's counting
    pass (COUNT fixes of each kind), and the calls by name."""
    lines = [l.strip() for l in open(log) if l.strip()]
    aws = [l for l in lines if not l.startswith("sts ")]
    s3 = [l for l in aws if l.startswith("s3 ")]
    ec2 = [l for l in aws if l.startswith("ec2 ")]
    other = [l for l in aws if not (l.startswith("s3 ") or l.startswith("ec2 "))]
    return (len(s3) / count, len(ec2) / count, other, Counter(
        " ".join(l.split(" ")[:2]) if l.startswith("ec2 ") else l.split("/")[0] + "/" + (l.split("?")[1] if "?" in l else "")
        for l in aws
    ))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--count", type=int, required=True)
    args = ap.parse_args()
    d = args.dir
    r = json.load(open(f"{d}/rectify.json"))
    c = json.load(open(f"{d}/custodian.json"))
    rc = calls(f"{d}/calls-rectify.log", args.count)
    cc = calls(f"{d}/calls-custodian.log", args.count)
    print(f"fixes per kind: {len(r['s3'])} (timing), {args.count} (calls counted)\n")
    print("| fix | tool | median ms | p95 ms | calls per fix |")
    print("|---|---|---:|---:|---:|")
    for kind, name, i in (("s3", "S3.8 bucket Block Public Access", 0),
                          ("ec2", "EC2.13 revoke SSH from 0.0.0.0/0", 1)):
        for tool, times, counted in (("rectify", r[kind], rc), ("Custodian 0.9.53", c[kind], cc)):
            print(f"| {name} | {tool} | {statistics.median(times):.1f} | {p95(times):.1f} | {counted[i]:g} |")
    print()
    for kind, name in (("s3", "S3.8"), ("ec2", "EC2.13")):
        ratio = statistics.median(c[kind]) / statistics.median(r[kind])
        ratio95 = p95(c[kind]) / p95(r[kind])
        print(f"- {name}: rectify is {ratio:.1f}x faster at the median, {ratio95:.1f}x at p95")
    for tool, counted in (("rectify", rc), ("Custodian", cc)):
        if counted[2]:
            print(f"- {tool} also called: {sorted(set(counted[2]))}")
    print()
    for tool, counted in (("rectify", rc), ("Custodian", cc)):
        print(f"{tool} calls in the counting pass ({args.count} fixes of each kind):")
        for name, n in sorted(counted[3].items()):
            print(f"    {n:5d}  {name}")


if __name__ == "__main__":
    main()
