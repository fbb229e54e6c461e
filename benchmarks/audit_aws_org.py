"""AWS audit of a generated organisation from exported JSON, against a plain json.load of the same files.

A tree of AWS CLI JSON (ACCOUNT/REGION/*.json) is generated once: by default 200 accounts x 3
regions, 5 VPCs, 50 security groups of 10 rules and ~17 NACLs per account-region (3,000 VPCs, 30,000
groups, 300,000 rules, 10,000 NACLs). Each measured step runs in its own child process, so its peak
RSS is its own: the baseline reads and json.loads every file, the audit runs
``aws_report_from_directory`` (read, scope, every check, report and hash). Best of --runs; the ratio
is printed last. A second baseline loads with the cyclic garbage collector off (the audit turns it off
while it holds the parsed documents): the floor of any Python reader, printed for honesty.

    .venv/bin/python benchmarks/audit_aws_org.py [--accounts 200] [--regions 3] [--runs 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2", "eu-central-1"]
PORTS = [22, 80, 443, 3389, 5432, 3306, 6379, 8080, 8443, 9000]


def _perm(rng: random.Random, vpc6: str) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.08:
        return {"IpProtocol": "icmpv6", "FromPort": -1, "ToPort": -1, "IpRanges": [], "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
                "PrefixListIds": [], "UserIdGroupPairs": []}
    port = rng.choice(PORTS)
    lo, hi = (port, port) if rng.random() < 0.85 else (port, port + rng.randint(1, 100))
    v4 = [{"CidrIp": rng.choice(["0.0.0.0/0", "10.0.0.0/8", f"192.0.2.{rng.randrange(0, 256, 16)}/28", "198.51.100.0/24"])}
          for _ in range(rng.randint(0, 2))]
    v6 = [{"CidrIpv6": rng.choice(["::/0", vpc6, "2001:db8::/32", "2001:db8:100::/48"])} for _ in range(rng.randint(0, 2))]
    return {"IpProtocol": rng.choice(["tcp", "tcp", "tcp", "udp", "6"]), "FromPort": lo, "ToPort": hi, "IpRanges": v4,
            "Ipv6Ranges": v6, "PrefixListIds": [], "UserIdGroupPairs": []}


def _scope(rng: random.Random, account: str, region: str, nacls: int) -> dict[str, dict[str, Any]]:
    arn = f"arn:aws:ec2:{region}:{account}"
    vpcs, subnets, sgs, rts, acls, flows = [], [], [], [], [], []
    for v in range(5):
        vpc_id = f"vpc-{account[-4:]}{region[:2]}{v:04x}"
        has6 = rng.random() < 0.7
        vpc6 = f"2600:1f{rng.randrange(16, 32):02x}:{rng.randrange(65536):x}:{rng.randrange(256):02x}00::/56"
        vpcs.append({"VpcId": vpc_id, "OwnerId": account, "CidrBlock": f"10.{v}.0.0/16", "State": "available", "IsDefault": v == 0,
                     "Ipv6CidrBlockAssociationSet": [{"AssociationId": f"vpc-cidr-assoc-{v}", "Ipv6CidrBlock": vpc6,
                                                      "Ipv6CidrBlockState": {"State": "associated"}}] if has6 else [],
                     "Tags": [{"Key": "Name", "Value": f"vpc-{v}"}]})
        if rng.random() < 0.6:
            flows.append({"FlowLogId": f"fl-{vpc_id}", "ResourceId": vpc_id, "TrafficType": "ALL", "FlowLogStatus": "ACTIVE"})
        for s, tier in enumerate(("public", "private", "private", "isolated")):
            sid = f"subnet-{vpc_id[4:]}{s}"
            subnets.append({"SubnetId": sid, "VpcId": vpc_id, "OwnerId": account, "SubnetArn": f"{arn}:subnet/{sid}",
                            "CidrBlock": f"10.{v}.{s}.0/24", "AvailabilityZone": f"{region}a",
                            "AssignIpv6AddressOnCreation": rng.random() < 0.7, "EnableDns64": rng.random() < 0.2,
                            "Ipv6Native": False, "MapPublicIpOnLaunch": tier == "public",
                            "Ipv6CidrBlockAssociationSet": [{"Ipv6CidrBlock": vpc6.replace("00::/56", f"{s:02x}::/64"),
                                                             "Ipv6CidrBlockState": {"State": "associated"}}] if has6 else [],
                            "Tags": [{"Key": "Tier", "Value": tier}]})
        for t, tier in enumerate(("public", "private", "isolated")):
            routes = [{"DestinationCidrBlock": f"10.{v}.0.0/16", "GatewayId": "local", "State": "active"}]
            if tier != "isolated" and has6:
                target = {"GatewayId": f"igw-{v}"} if tier == "public" or rng.random() < 0.2 else {"EgressOnlyInternetGatewayId": f"eigw-{v}"}
                routes.append({"DestinationIpv6CidrBlock": "::/0", "State": "active", **target})
                if tier == "private" and rng.random() < 0.5:
                    routes.append({"DestinationIpv6CidrBlock": "64:ff9b::/96", "NatGatewayId": f"nat-{v}", "State": "active"})
            assoc = [{"Main": False, "SubnetId": f"subnet-{vpc_id[4:]}{s}"} for s in ((0,) if t == 0 else (1, 2) if t == 1 else (3,))]
            rts.append({"RouteTableId": f"rtb-{vpc_id[4:]}{t}", "VpcId": vpc_id, "OwnerId": account,
                        "Associations": assoc + ([{"Main": True}] if t == 0 else []), "Routes": routes,
                        "Tags": [{"Key": "Tier", "Value": tier}]})
        for g in range(10):
            sgs.append({"GroupId": f"sg-{vpc_id[4:]}{g:02x}", "GroupName": f"g{g}", "VpcId": vpc_id, "OwnerId": account,
                        "Description": "generated", "IpPermissions": [_perm(rng, vpc6) for _ in range(10)],
                        "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                                                 "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}]})
    for n in range(nacls):
        vpc = vpcs[n % 5]
        entries = []
        for egress in (False, True):
            for k in range(rng.randint(2, 4)):
                fam6 = rng.random() < 0.5
                e: dict[str, Any] = {"RuleNumber": 100 + 10 * k, "Protocol": rng.choice(["6", "17", "-1", "58"]),
                                     "RuleAction": rng.choice(["allow", "allow", "deny"]), "Egress": egress,
                                     ("Ipv6CidrBlock" if fam6 else "CidrBlock"): rng.choice(["::/0", "2001:db8::/32"]) if fam6 else
                                     rng.choice(["0.0.0.0/0", "203.0.113.0/24"])}
                if e["Protocol"] in ("6", "17"):
                    p = rng.choice(PORTS)
                    e["PortRange"] = {"From": p, "To": p}
                entries.append(e)
            entries += [{"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": egress, "CidrBlock": "0.0.0.0/0"},
                        {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": egress, "Ipv6CidrBlock": "::/0"}]
        acls.append({"NetworkAclId": f"acl-{vpc['VpcId'][4:]}{n:02x}", "VpcId": vpc["VpcId"], "OwnerId": account,
                     "IsDefault": n < 5, "Entries": entries, "Associations": []})
    elb = f"arn:aws:elasticloadbalancing:{region}:{account}"
    lbs = [{"LoadBalancerArn": f"{elb}:loadbalancer/app/web{i}/{i:016x}", "LoadBalancerName": f"web{i}", "Type": "application",
            "Scheme": "internet-facing", "VpcId": vpcs[i]["VpcId"], "IpAddressType": rng.choice(["ipv4", "dualstack"])}
           for i in range(2)]
    tgs = [{"TargetGroupArn": f"{elb}:targetgroup/tg{i}/{i:016x}", "TargetGroupName": f"tg{i}", "TargetType": "ip",
            "IpAddressType": rng.choice(["ipv4", "ipv6"]), "VpcId": vpcs[i]["VpcId"]} for i in range(2)]
    listeners = [{"ListenerArn": f"{elb}:listener/app/web{i}/{i:016x}/{i:016x}", "LoadBalancerArn": lbs[i]["LoadBalancerArn"],
                  "Port": 443, "Protocol": "HTTPS", "DefaultActions": [{"Type": "forward", "TargetGroupArn": tgs[i]["TargetGroupArn"]}]}
                 for i in range(2)]
    return {"1.json": {"Vpcs": vpcs}, "2.json": {"Subnets": subnets}, "3.json": {"SecurityGroups": sgs},
            "4.json": {"RouteTables": rts}, "5.json": {"NetworkAcls": acls}, "6.json": {"FlowLogs": flows},
            "7.json": {"LoadBalancers": lbs}, "8.json": {"TargetGroups": tgs}, "9.json": {"Listeners": listeners}}


def generate(root: Path, accounts: int, regions: int) -> dict[str, int]:
    rng = random.Random(12)
    counts = {"scopes": 0, "vpcs": 0, "security_groups": 0, "rules": 0, "nacls": 0, "files": 0, "bytes": 0}
    total_scopes = accounts * regions
    for a in range(accounts):
        account = f"{100000000000 + a:012d}"
        for r in range(regions):
            scope_no = a * regions + r
            nacls = (10000 * (scope_no + 1)) // 600 - (10000 * scope_no) // 600 if total_scopes == 600 else 17
            base = root / account / REGIONS[r]
            base.mkdir(parents=True)
            for name, doc in _scope(rng, account, REGIONS[r], nacls).items():
                text = json.dumps(doc, indent=4)  # the AWS CLI prints with indent 4
                (base / name).write_text(text)
                counts["files"] += 1
                counts["bytes"] += len(text)
                key = next(iter(doc))
                counts["vpcs"] += len(doc[key]) if key == "Vpcs" else 0
                counts["nacls"] += len(doc[key]) if key == "NetworkAcls" else 0
                if key == "SecurityGroups":
                    counts["security_groups"] += len(doc[key])
                    counts["rules"] += sum(len(g["IpPermissions"]) for g in doc[key])
            counts["scopes"] += 1
    return counts


def _child(phase: str, root: str) -> None:
    if phase == "audit":  # imports are not timed (the baseline's interpreter start is not either)
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        from v6ops.audit import aws_report_from_directory
    start = time.perf_counter()
    cpu = time.process_time()
    if phase.startswith("baseline"):  # every document kept, as an audit needs them
        if phase == "baseline-nogc":  # the floor: what json.load costs without the cyclic collector's passes
            import gc

            gc.disable()
        docs = []
        for dirpath, _, files in os.walk(root):
            for name in sorted(files):
                if name.endswith(".json"):
                    with open(os.path.join(dirpath, name), "rb") as fh:
                        docs.append(json.load(fh))
        extra = {"documents": len(docs)}
    else:
        report = aws_report_from_directory(root)
        extra = {"findings": report["summary"]["findings"], "by_severity": report["summary"]["by_severity"]}
    print(json.dumps({"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **extra}))


def _measure(phase: str, root: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", phase, str(root)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--regions", type=int, default=3, choices=range(1, len(REGIONS) + 1))
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="Generate into (and keep) this directory")
    ap.add_argument("--child", nargs=2, metavar=("PHASE", "ROOT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(*args.child)
        return
    root = args.keep or Path(tempfile.mkdtemp(prefix="v6ops-audit-bench-"))
    try:
        if args.keep and root.exists():
            shutil.rmtree(root)
        t = time.perf_counter()
        counts = generate(root, args.accounts, args.regions)
        print(f"generated in {time.perf_counter() - t:.1f} s: {counts['scopes']} account-regions, {counts['vpcs']:,} VPCs, "
              f"{counts['security_groups']:,} security groups, {counts['rules']:,} rules, {counts['nacls']:,} NACLs, "
              f"{counts['files']:,} files, {counts['bytes'] / 1e6:.1f} MB")
        best: dict[str, dict[str, Any]] = {}
        for _ in range(args.runs):
            for phase in ("baseline", "baseline-nogc", "audit"):
                got = _measure(phase, root)
                if phase not in best or got["wall"] < best[phase]["wall"]:
                    best[phase] = got
        b, n, a = best["baseline"], best["baseline-nogc"], best["audit"]
        print(f"json.load, GC off (floor): wall {n['wall']:.3f} s  cpu {n['cpu']:.3f} s  peak RSS {n['peak_rss_mb']:.0f} MB")
        print(f"ratio audit / json.load with GC off (cpu): {a['cpu'] / n['cpu']:.2f}x")
        print(f"json.load of every file:  wall {b['wall']:.3f} s  cpu {b['cpu']:.3f} s  peak RSS {b['peak_rss_mb']:.0f} MB")
        print(f"v6ops audit aws --from:   wall {a['wall']:.3f} s  cpu {a['cpu']:.3f} s  peak RSS {a['peak_rss_mb']:.0f} MB  "
              f"findings {a['findings']:,} {a['by_severity']}")
        print(f"ratio audit / json.load (wall): {a['wall'] / b['wall']:.2f}x  (cpu {a['cpu'] / b['cpu']:.2f}x; target <= 3x)")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
